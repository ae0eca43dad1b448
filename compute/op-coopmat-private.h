/* op-coopmat-private.h: tensor-core (cooperative matrix) variants of ops
 *
 * op-conv.c and op-attention.c ask here first; where the device, dtype
 * and problem suit a tensor-core kernel they get it, otherwise they run
 * their own: f16 tiles with f32 sums on f16 tensors, in the device's
 * matrix shape and subgroup width, through
 * VK_NV_cooperative_matrix or VK_KHR_cooperative_matrix, one shader
 * source for both (DrapeDeviceCaps.coopmat says which; DRAPE_NO_COOPMAT=1
 * turns them off).  Profiles show these kernels as "<op>.coopmat".
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "graph-private.h"

G_BEGIN_DECLS

/* The shader variant of a tensor-core family for this device's
 * extension (shaders/meson.build builds both from one source). */
static inline const char *
drape_coopmat_variant (const DrapeDeviceCaps *caps)
{
  return caps->coopmat == DRAPE_COOPMAT_KHR ? "f16_khr" : "f16";
}

/* Whether the device takes workgroup-scope matrices (cooperative matrix
 * 2's flexible sizes, DrapeDeviceCaps.coopmat2_workgroup) for an m x k
 * by k x n product in workgroups of `invocations`: it lists that size
 * with a granularity that divides all three, none over its largest
 * side. */
static inline gboolean
drape_coopmat2_workgroup_takes (const DrapeDeviceCaps *caps,
                                guint32                invocations,
                                guint32                m,
                                guint32                n,
                                guint32                k)
{
  if (!caps->coopmat2 || MAX (m, MAX (n, k)) > caps->coopmat2_max_dimension ||
      invocations > caps->max_workgroup_invocations)
    return FALSE;
  for (guint i = 0; i < caps->n_coopmat2_workgroup; i++)
    {
      const DrapeCoopmatWorkgroup *w = &caps->coopmat2_workgroup[i];

      if (w->invocations == invocations && m % w->m == 0 && n % w->n == 0 && k % w->k == 0)
        return TRUE;
    }
  return FALSE;
}

/* The GEMM of one convolution's dispatches (shaders/conv2d.comp's
 * geometry: M = output pixels, N = output channels of a group). */
typedef struct {
  const char *op;   /* "conv2d", "linear" or "linear_geglu" */
  DrapeDType dtype;
  guint32 cin_g;    /* input channels per group */
  gboolean geglu;
  guint32 m;        /* the most output pixels of one dispatch */
  guint32 n;        /* output channels per group of one dispatch */
  gboolean vec_out; /* output channels per group and per dispatch: multiples of 4 */
  guint32 k;        /* kh kw cin_g */
  gboolean split_ok; /* one group, no GEGLU: K may be split */
  gboolean out_f32; /* f32 output (never split) */
  gboolean subpixel; /* phases of a 2x upsampled output (conv_common.glsl) */
  guint32 phases;   /* subpixel: phases one dispatch computes, each m x n (1 or 4) */
  guint n_bindings; /* the scalar kernel's */
  /* The convolution's geometry: groups, kernel, stride and padding; the
   * output's rows and columns per image. */
  guint32 groups, kh, kw, stride, pad_t, pad_l, oh, ow;
  /* One dispatch computes every image and output channel, and the
   * element offsets of x, the weights and the output, and the pixel
   * strides of x and the output, are multiples of 8: what
   * conv2d_coopmat2.comp's tensor loads and stores need. */
  gboolean one_dispatch;
} DrapeConvGemm;

/* What replaces conv2d.comp: a kernel that takes its bindings and push
 * constants, tile_m x tile_n outputs per workgroup, one tile per
 * workgroup on the same grid, and the label for its dispatches.  Where
 * K is split into `slices` (> 1) of `slice_stages` stages, the kernel
 * writes f32 sums, one slice per workgroup along z, into
 * slices x (tiles_m tile_m) x (tiles_n tile_n) floats bound as the
 * output, and `sum_kernel` (conv2d_split_sum.comp: the scalar kernel's
 * bindings with the sums as x, one invocation per 4 output channels of
 * a pixel) finishes the convolution. */
typedef struct {
  DrapeKernel *kernel;
  guint32 tile_m, tile_n;
  /* conv2d_coopmat2.comp's patches: a tile is tile_m / patch_w rows of
   * patch_w output pixels of one image, tiles image after image, row of
   * patches after row, each patch's tiles_n column tiles in turn; 0: a
   * tile is tile_m consecutive output pixels. */
  guint32 patch_w;
  const char *label;
  guint32 slices, slice_stages;
  DrapeKernel *sum_kernel;
  const char *sum_label;
} DrapeConvCoopmat;

/* Workgroups of a dispatch of `coop` (not split) over m output pixels,
 * images of rows x ow of them, in tiles_n column tiles. */
guint64      drape_conv_coopmat_tiles     (const DrapeConvCoopmat *coop,
                                           guint32                 m,
                                           guint32                 rows,
                                           guint32                 ow,
                                           guint32                 tiles_n);

/* Invocations per workgroup of conv2d_split_sum.comp. */
#define DRAPE_CONV_SUM_LOCAL 256

/* Whether the device holds the conv2d_coopmat tiles that `spec`
 * (DRAPE_CONV_KERNEL's coopmat:BMxBN[xBK][+A][/S]) names, of the GEGLU
 * kind or not: their workgroup size, shared memory and the kernel's
 * staging constraints.  FALSE where it names none. */
gboolean     drape_conv_coopmat_tile_fits (const DrapeDeviceCaps *caps,
                                           const char            *spec,
                                           gboolean               geglu);

/* FALSE when the scalar kernel should run: no tensor cores, not f16,
 * DRAPE_CONV_KERNEL naming another kernel, or the graph already failed.  DRAPE_CONV_KERNEL=coopmat:BMxBN/S also
 * forces S slices of K; DRAPE_CONV_SPLIT=S caps them (1: never split). */
gboolean     drape_conv_coopmat_select (DrapeGraph          *graph,
                                        const DrapeConvGemm *gemm,
                                        DrapeConvCoopmat    *out);

/* Whether the device holds a tile of the tensor-core attention kernel
 * that heads of d dims take (attention_coopmat, attention_coopmat2 or
 * attention_wide_coopmat; `kernel`, DRAPE_ATTENTION_KERNEL's value, may
 * say which) for `keys` keys: bc keys per block, rt query tiles per
 * subgroup, nw subgroups (DRAPE_ATTENTION_TILE=BCxRTxNW).  Heads of
 * over 160 dims also need at least bc keys. */
gboolean     drape_attention_coopmat_tile_fits (const DrapeDeviceCaps *caps,
                                                guint32                d,
                                                guint32                keys,
                                                guint32                bc,
                                                guint32                rt,
                                                guint32                nw,
                                                const char            *kernel);

/* The head dim attention_workgroup.comp pads heads of d dims to in its
 * tile of br queries per workgroup and bc keys per block
 * (DRAPE_ATTENTION_KERNEL=workgroup:BRxBC); 0 where the device takes no
 * such tile. */
guint32      drape_attention_workgroup_head_dim (const DrapeDeviceCaps *caps,
                                                 guint32                d,
                                                 guint32                br,
                                                 guint32                bc);

/* drape_op_attention() on tensor cores, for operands it has already
 * checked; NULL (and nothing recorded) when the scalar kernel should
 * run: no tensor cores, not f16, a head dim over 512, or operands that
 * need the scalar kernel's splitting or its error messages. */
DrapeTensor *drape_attention_coopmat   (DrapeGraph        *graph,
                                        const DrapeTensor *q,
                                        guint32            q_offset,
                                        const DrapeTensor *k,
                                        guint32            k_offset,
                                        const DrapeTensor *v,
                                        guint32            v_offset,
                                        guint32            channels,
                                        guint32            heads,
                                        float              scale);

G_END_DECLS
