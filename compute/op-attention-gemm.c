/* op-attention-gemm.c: one wide head's attention as two GEMMs
 *
 * A head of hundreds of dims (the VAE's one head of 512) holds too much
 * of Q and the output in registers for a fused kernel to keep many
 * queries in flight: attention_wide_coopmat.comp splits the head across
 * subgroups, which must then meet in shared memory for every block of
 * keys (on an H200, 41 TFLOP/s for the VAE encoder's attention and 30
 * for its decoder's, session 9).  Here, for each image and chunk of
 * queries, the convolutions' GEMM (op-conv-private.h: on tensor cores
 * where the device has them, 100 to 160 TFLOP/s there) computes the
 * scores Q K^T as f32, a softmax turns them into f16 probabilities P, and
 * the GEMM again computes P V, with V transposed so that both of its
 * operands run along the keys.  The scores of a chunk take memory the
 * fused kernel never needs, so chunks are sized to keep them within
 * SCORES_BYTES, which the VAE's largest activations dwarf, and within
 * one binding.
 *
 * This is the default for single heads of over 160 dims in f16 on
 * devices with tensor cores, and in either dtype on CPU devices, whose
 * subgroup GEMM does the same better than attention_subgroup.comp
 * (lavapipe on 2 cores, the VAE encoder's head of 512 at 768 tokens for
 * two images: 31 to 43 ms against 56 to 69 on Mesa 22.3 and 26.1, whose
 * lavapipe takes 1.7 to 2.3 s on every launch to create the fused
 * kernel's pipeline, tens of ms for the GEMM's);
 * DRAPE_ATTENTION_KERNEL=gemm forces it on any device and dtype
 * (tests), and =flash keeps the fused kernels (comparisons).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "op-attention-private.h"
#include "op-conv-private.h"
#include "ops.h"

/* Scores (f32) and probabilities of one chunk of queries, at most. */
#define SCORES_BYTES (128u << 20)
/* Queries per chunk come in multiples of this: whole GEMM tiles. */
#define CHUNK_ALIGN 128

/* operand's channels [offset, offset + channels) as a tensor of their own
 * (a copy, unless they are all of it). */
static const DrapeTensor *
own_channels (DrapeGraph        *graph,
              const DrapeTensor *t,
              guint32            offset,
              guint32            channels,
              DrapeTensor      **copy)
{
  *copy = NULL;
  if (offset == 0 && t->c == channels)
    return t;
  *copy = drape_op_slice (graph, DRAPE_AXIS_C, t, offset, channels);
  return *copy;
}

DrapeTensor *
drape_attention_gemm (DrapeGraph        *graph,
                      const DrapeTensor *q,
                      guint32            q_offset,
                      const DrapeTensor *k,
                      guint32            k_offset,
                      const DrapeTensor *v,
                      guint32            v_offset,
                      guint32            channels,
                      guint32            heads,
                      float              scale)
{
  DrapeDevice *device = drape_graph_get_device (graph);
  const DrapeDeviceCaps *caps = drape_device_get_caps (device);
  gboolean is_cpu = drape_device_get_info (device)->is_software;
  const char *forced = drape_graph_get_choice (graph, "DRAPE_ATTENTION_KERNEL");
  gboolean force = g_strcmp0 (forced, "gemm") == 0;
  guint32 tq = q->h * q->w, tk = k->h * k->w, rows;
  gsize es = drape_dtype_size (q->dtype);
  DrapeTensor *q_copy, *k_copy, *vt, *out;
  const DrapeTensor *qc, *kc;

  if (heads != 1 || (forced != NULL && !force))
    return NULL;
  if (!force && (channels <= DRAPE_ATTENTION_WIDE_HEAD_DIM ||
                 !(is_cpu || (caps->coopmat != DRAPE_COOPMAT_NONE && q->dtype == DRAPE_DTYPE_F16))))
    return NULL;

  /* A chunk's scores must also fit one binding; where not one row's do,
   * the fused kernels take the work (or say why they cannot). */
  rows = (guint32) MIN (MIN ((guint64) tq, SCORES_BYTES / ((guint64) tk * (sizeof (float) + es))),
                        (drape_graph_binding_limit (graph) - caps->storage_offset_alignment) /
                        ((guint64) tk * sizeof (float)));
  if (rows == 0)
    return NULL;
  if (rows < tq && rows > CHUNK_ALIGN)
    rows -= rows % CHUNK_ALIGN;

  qc = own_channels (graph, q, q_offset, channels, &q_copy);
  kc = own_channels (graph, k, k_offset, channels, &k_copy);
  vt = drape_op_transpose (graph, v, v_offset, channels);
  out = drape_graph_tensor (graph, q->dtype, q->n, q->h, q->w, channels);
  for (guint32 img = 0; img < q->n; img++)
    for (guint32 r0 = 0; r0 < tq; r0 += rows)
      {
        guint32 count = MIN (rows, tq - r0);
        DrapeTensor *scores = drape_graph_tensor (graph, DRAPE_DTYPE_F32, 1, count, 1, tk);
        DrapeTensor *p;

        drape_conv_matmul (graph, qc, img, r0, count, kc, img, scores, 0, 0);
        p = drape_op_softmax_scaled (graph, scores, scale, q->dtype);
        drape_tensor_release (scores);
        drape_conv_matmul (graph, p, 0, 0, count, vt, img, out, img, r0);
        drape_tensor_release (p);
      }
  if (q_copy != NULL)
    drape_tensor_release (q_copy);
  if (k_copy != NULL)
    drape_tensor_release (k_copy);
  drape_tensor_release (vt);
  return out;
}
