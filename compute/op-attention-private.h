/* op-attention-private.h: what the attention kernels share
 *
 * The scalar kernels (op-attention.c: shared-memory tiles, or subgroup
 * shuffles on CPU devices) and the tensor-core one
 * (op-attention-coopmat.c) take the same bindings and push constants and
 * split their queries the same way; only tiles and shaders differ.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "graph-private.h"

G_BEGIN_DECLS

/* Heads of more dims than this are wide: too much of Q and the output
 * for one subgroup's registers, so the tensor-core kernels split them
 * across subgroups (attention_wide_coopmat), and a single one runs as
 * GEMMs (op-attention-gemm.c). */
#define DRAPE_ATTENTION_WIDE_HEAD_DIM 160

typedef struct {
  guint64 band;       /* query rows per dispatch */
  gboolean whole;     /* every image in one dispatch */
  const char *reason; /* why no split fits, after a FALSE return */
} DrapeAttentionSplit;

/* How the queries split into dispatches whose bindings fit the graph's
 * limit, with bands a multiple of rows_per_group (the queries one
 * workgroup takes).  FALSE, with split->reason, when the keys or values
 * of one image, or one query row, exceed a binding. */
gboolean drape_attention_split  (DrapeGraph                *graph,
                                 const DrapeTensor         *q,
                                 const DrapeTensor         *k,
                                 const DrapeTensor         *v,
                                 guint32                    channels,
                                 guint32                    rows_per_group,
                                 DrapeAttentionSplit       *split);
/* Appends the dispatches: per dispatch, ceil (rows / rows_per_group) x
 * heads x images workgroups, labelled `label` for the profiler.  K and V
 * are bound as texel buffers where `texel_kv`. */
void     drape_attention_record (DrapeGraph                *graph,
                                 DrapeKernel               *kernel,
                                 const DrapeAttentionSplit *split,
                                 const DrapeTensor         *q,
                                 guint32                    q_offset,
                                 const DrapeTensor         *k,
                                 guint32                    k_offset,
                                 const DrapeTensor         *v,
                                 guint32                    v_offset,
                                 const DrapeTensor         *out,
                                 guint32                    channels,
                                 guint32                    heads,
                                 float                      scale,
                                 guint32                    rows_per_group,
                                 gboolean                   texel_kv,
                                 const char                *label);

/* drape_op_attention() of one wide head as GEMMs (op-attention-gemm.c),
 * for operands it has already checked; NULL (and nothing recorded) where
 * the fused kernels should run. */
DrapeTensor *drape_attention_gemm (DrapeGraph        *graph,
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
