/* graph-private.h: what op implementations use to append dispatches
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "graph.h"
#include "kernel-private.h"

G_BEGIN_DECLS

typedef struct {
  const DrapeTensor *tensor;
  guint64 offset; /* bytes from the tensor's start, aligned */
  guint64 range;  /* bytes */
  /* Read as a uniform texel buffer (drape_bind_texel). */
  gboolean texel;
} DrapeBinding;

/* Binds `bytes` bytes of a tensor from byte `offset`.  Descriptor offsets
 * must be aligned, so the bound range starts at the aligned-down offset;
 * the return value is the number of elements the shader must skip to
 * reach `offset`. */
guint32      drape_bind               (DrapeBinding      *binding,
                                       const DrapeTensor *tensor,
                                       guint64            offset,
                                       guint64            bytes);
/* Binds the whole tensor. */
void         drape_bind_all           (DrapeBinding      *binding,
                                       const DrapeTensor *tensor);
/* Like drape_bind, for a binding the kernel reads as a uniform texel
 * buffer of 4-channel texels in the tensor's dtype (RGBA32F or RGBA16F:
 * texelFetch gives 4 values at once; on CPU drivers this is a vector
 * gather where a storage-buffer load is a loop over the lanes).  offset
 * and bytes must be whole texels; the range is at most
 * drape_graph_texel_limit() bytes. */
guint32      drape_bind_texel         (DrapeBinding      *binding,
                                       const DrapeTensor *tensor,
                                       guint64            offset,
                                       guint64            bytes);
/* The most bytes a texel binding of this dtype may span (also within the
 * binding limit). */
guint64      drape_graph_texel_limit  (DrapeGraph        *graph,
                                       DrapeDType         dtype);
/* The most bytes of dtype any texel binding holds wherever it starts:
 * the limit less the alignment drape_bind_texel() rounds its offset down
 * to. */
guint64      drape_graph_texel_room   (DrapeGraph        *graph,
                                       DrapeDType         dtype);
/* drape_device_cpu_texels() of the graph's device: its kernels read
 * through texel buffers and store 64-bit values where that works (the
 * `*_texel` variants). */
gboolean     drape_graph_cpu_texels   (DrapeGraph        *graph);
/* The range to give a texel view of `range` bytes with `room` bytes of
 * its buffer after it and at most `limit` bytes: on CPU drivers
 * (`cpu_texels`), 256 more where none of the range's bits 8 to 15 is set
 * and that fits.  Lavapipe reads those bits of a buffer view's size as
 * its last mip level and compiles a kernel anew, to the same code, for
 * each pattern of its views' (lp_sampler_static_texture_state's
 * level_zero_only); the kernels never read past what they bound. */
guint64      drape_texel_view_range   (guint64            range,
                                       guint64            room,
                                       guint64            limit,
                                       gboolean           cpu_texels);
/* Whether the whole tensor fits one texel binding (so every part of it
 * does). */
gboolean     drape_graph_fits_texels  (DrapeGraph        *graph,
                                       const DrapeTensor *tensor);
DrapeKernel *drape_graph_kernel       (DrapeGraph        *graph,
                                       const char        *family,
                                       DrapeDType         dtype,
                                       guint              n_bindings,
                                       const guint32     *spec,
                                       guint              n_spec);
/* The same for a variant named by the shader family itself, e.g. the
 * copy family's "f32_f16" (see shaders/meson.build). */
DrapeKernel *drape_graph_kernel_variant (DrapeGraph      *graph,
                                       const char        *family,
                                       const char        *variant,
                                       guint              n_bindings,
                                       const guint32     *spec,
                                       guint              n_spec);
/* The same again, with the bindings in texel_mask (bit i: binding i)
 * read as uniform texel buffers (drape_bind_texel). */
DrapeKernel *drape_graph_kernel_texel (DrapeGraph        *graph,
                                       const char        *family,
                                       const char        *variant,
                                       guint              n_bindings,
                                       guint32            texel_mask,
                                       const guint32     *spec,
                                       guint              n_spec);
/* drape_graph_kernel_texel() for a kernel a slower one can stand in for
 * (tensor-core and CPU-tuned kernels): where the device will not build
 * it, NULL, with the graph left unharmed for the op to record the
 * slower kernel. */
DrapeKernel *drape_graph_kernel_optional (DrapeGraph     *graph,
                                       const char        *family,
                                       const char        *variant,
                                       guint              n_bindings,
                                       guint32            texel_mask,
                                       const guint32     *spec,
                                       guint              n_spec);
/* Which of `n_ways` ways to run `problem` an op takes (its index): in a
 * trial the trial's (graph.h), else the one the device's tuning names
 * (tuning.h) where it is among `ways`, else `usual`, the op's own
 * choice.  `problem` describes everything the ways' speed depends on
 * (the kind of op, its shapes) and `ways` are names the op will know
 * again; the dispatches recorded until drape_graph_end_choice() are
 * timed as that way's. */
guint        drape_graph_choose       (DrapeGraph        *graph,
                                       const char        *problem,
                                       const char *const *ways,
                                       guint              n_ways,
                                       guint              usual);
void         drape_graph_end_choice   (DrapeGraph        *graph);
/* Appends a dispatch of groups_x * groups_y * groups_z workgroups. */
void         drape_graph_dispatch     (DrapeGraph        *graph,
                                       DrapeKernel       *kernel,
                                       const DrapeBinding *bindings,
                                       const void        *push,
                                       gsize              push_size,
                                       guint32            groups_x,
                                       guint32            groups_y,
                                       guint32            groups_z,
                                       const char        *label,
                                       double             flops);
/* Appends a dispatch of `n_groups` workgroups along one logical axis,
 * folded into x and y (shaders use drape_group_index()), and groups_z
 * along z. */
void         drape_graph_dispatch_flat (DrapeGraph       *graph,
                                       DrapeKernel       *kernel,
                                       const DrapeBinding *bindings,
                                       const void        *push,
                                       gsize              push_size,
                                       guint64            n_groups,
                                       guint32            groups_z,
                                       const char        *label,
                                       double             flops);
/* Describes the dispatch recorded last, for dispatch profiles (e.g. a
 * GEMM's shape and tile). */
void         drape_graph_describe_last (DrapeGraph       *graph,
                                        const char       *format,
                                        ...) G_GNUC_PRINTF (2, 3);
/* The most bytes one binding may span on this graph's device. */
guint64      drape_graph_binding_limit (DrapeGraph       *graph);
/* Where a tensor's bytes are: its own buffer, or its graph's arena once
 * compiled.  FALSE when an activation has no memory yet or was released. */
gboolean     drape_tensor_storage     (const DrapeTensor *tensor,
                                       DrapeBuffer      **buffer,
                                       guint64           *offset);

static inline guint32
drape_div_up (guint64 a,
              guint64 b)
{
  return (guint32) ((a + b - 1) / b);
}

G_END_DECLS
