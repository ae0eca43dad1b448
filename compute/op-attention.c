/* op-attention.c: multi-head attention with an online softmax
 *
 * The tiles of shaders/attention.comp are chosen here from the head dim
 * and the device's shared memory: the larger the query block, the fewer
 * times K and V are read; the larger the key tile, the fewer barriers.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "graph-private.h"
#include "ops.h"

#define LOCAL_SIZE 128
#define MAX_BLOCK 64
/* Output dims and query rows one thread accumulates at most: 8 x 8
 * registers. */
#define MAX_PER_THREAD 8

typedef struct {
  guint32 bq, bk, tpq, rq, sq, sk, qs, ks, ps;
} Tiles;

typedef struct {
  guint32 q_off, k_off, v_off, o_off;
  guint32 q_stride, k_stride, v_stride, o_stride;
  guint32 tq, tk;
  guint32 q_img, k_img, v_img, o_img;
  float scale;
} AttentionParams;

static guint32
pow2_ceil (guint32 x)
{
  guint32 p = 1;

  while (p < x)
    p <<= 1;
  return p;
}

/* A row stride of an odd number of 32-bit words, so that threads reading
 * the same column of different rows hit different banks. */
static guint32
padded_stride (guint32 n,
               gsize   es)
{
  if (es == 4)
    return n | 1;
  return (((n + 1) / 2) | 1) * 2;
}

static guint64
shared_bytes (const Tiles *t,
              gsize        es)
{
  return es * ((guint64) t->bq * t->qs + (guint64) t->bk * t->ks) +
         4 * ((guint64) t->bq * t->ps + (guint64) t->bq * (t->bk / t->sk));
}

static gboolean
choose_tiles (guint32  d,
              gsize    es,
              guint32  shared_limit,
              Tiles   *best)
{
  /* PV phase: TPQ threads share a block of rows, each owning at most
   * MAX_PER_THREAD of the d output dims. */
  guint32 tpq = MIN (MAX (pow2_ceil (drape_div_up (d, MAX_PER_THREAD)), LOCAL_SIZE / MAX_BLOCK),
                     LOCAL_SIZE);
  guint32 row_blocks = LOCAL_SIZE / tpq;
  guint32 best_score = 0;

  for (guint32 bq = MAX_BLOCK; bq >= row_blocks; bq /= 2)
    {
      if (bq / row_blocks > MAX_PER_THREAD)
        continue;
      for (guint32 bk = MAX_BLOCK; bk >= 1; bk /= 2)
        {
          Tiles t = {
            .bq = bq,
            .bk = bk,
            .tpq = tpq,
            .rq = bq / row_blocks,
            .sq = MIN (bq, 4),
            .qs = padded_stride (d, es),
            .ks = padded_stride (d, es),
            .ps = bk | 1,
          };

          /* S phase: an sq x sk block of scores per thread, with as
           * many threads busy as there are blocks. */
          t.sk = CLAMP (bq * bk / (LOCAL_SIZE * t.sq), 1, bk);
          while ((bq / t.sq) * (bk / t.sk) > LOCAL_SIZE)
            {
              if (t.sk < bk)
                t.sk *= 2;
              else
                t.sq *= 2;
            }
          if (shared_bytes (&t, es) <= shared_limit)
            {
              if (bq * bk > best_score)
                {
                  best_score = bq * bk;
                  *best = t;
                }
              break;
            }
        }
    }
  return best_score > 0;
}

/* The rows of a tensor whose span, from a first row's channel offset to
 * the end of `channels` channels in the last row, fits `limit` bytes. */
static guint64
rows_fitting (guint64 limit,
              guint32 stride,
              guint32 channels,
              gsize   es)
{
  if ((guint64) channels * es > limit)
    return 0;
  return (limit / es - channels) / stride + 1;
}

/* Binds `rows` rows of a tensor from row `first`, channels [offset,
 * offset + channels) of each; returns the element offset of the first. */
static guint32
bind_rows (DrapeBinding      *binding,
           const DrapeTensor *tensor,
           guint64            first,
           guint64            rows,
           guint32            offset,
           guint32            channels)
{
  gsize es = drape_dtype_size (tensor->dtype);

  return drape_bind (binding, tensor, (first * tensor->c + offset) * es,
                     ((rows - 1) * tensor->c + channels) * es);
}

static gboolean
check_operand (DrapeGraph        *graph,
               const char        *what,
               const DrapeTensor *t,
               guint32            offset,
               guint32            channels)
{
  if (!drape_graph_check_tensor (graph, "attention", what, t))
    return FALSE;
  if ((guint64) offset + channels > t->c)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "attention: %s channels [%u, %u) lie outside its %u channels",
                        what, offset, offset + channels, t->c);
      return FALSE;
    }
  if (drape_tensor_numel (t) > G_MAXUINT32)
    {
      drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED, "attention: %s has more than 2^32 values",
                        what);
      return FALSE;
    }
  return TRUE;
}

DrapeTensor *
drape_op_attention (DrapeGraph        *graph,
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
  const DrapeDeviceCaps *caps = drape_device_get_caps (drape_graph_get_device (graph));
  DrapeDType dtype = q ? q->dtype : DRAPE_DTYPE_F32;
  guint32 spec[13], d, tq, tk;
  guint64 limit, band;
  DrapeTensor *out;
  DrapeKernel *kernel;
  Tiles tiles;
  gsize es;

  if (heads == 0 || channels == 0 || channels % heads != 0)
    {
      if (drape_graph_ok (graph))
        drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                          "attention: %u channels do not split into %u heads", channels, heads);
      return drape_graph_placeholder (graph, dtype, q ? q->n : 1, q ? q->h : 1, q ? q->w : 1,
                                      MAX (channels, 1));
    }
  if (!check_operand (graph, "q", q, q_offset, channels) ||
      !check_operand (graph, "k", k, k_offset, channels) ||
      !check_operand (graph, "v", v, v_offset, channels))
    return drape_graph_placeholder (graph, dtype, q ? q->n : 1, q ? q->h : 1, q ? q->w : 1,
                                    channels);
  if (k->dtype != dtype || v->dtype != dtype)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT, "attention: q is %s but k is %s and v %s",
                        drape_dtype_name (dtype), drape_dtype_name (k->dtype),
                        drape_dtype_name (v->dtype));
      return drape_graph_placeholder (graph, dtype, q->n, q->h, q->w, channels);
    }
  if (k->n != q->n || v->n != q->n || v->h * v->w != k->h * k->w)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "attention: q [%u %u %u %u], k [%u %u %u %u] and v [%u %u %u %u] need "
                        "the same batch, and k and v the same tokens",
                        q->n, q->h, q->w, q->c, k->n, k->h, k->w, k->c, v->n, v->h, v->w, v->c);
      return drape_graph_placeholder (graph, dtype, q->n, q->h, q->w, channels);
    }

  es = drape_dtype_size (dtype);
  d = channels / heads;
  if (!choose_tiles (d, es, caps->max_shared_memory, &tiles))
    {
      drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED,
                        "attention: head dim %u does not fit the device's %u bytes of shared "
                        "memory", d, caps->max_shared_memory);
      return drape_graph_placeholder (graph, dtype, q->n, q->h, q->w, channels);
    }

  tq = q->h * q->w;
  tk = k->h * k->w;
  limit = drape_graph_binding_limit (graph) - caps->storage_offset_alignment;
  if (rows_fitting (limit, k->c, channels, es) < tk || rows_fitting (limit, v->c, channels, es) < tk)
    {
      drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED,
                        "attention: the keys or values of one image (%u tokens of %u channels) "
                        "exceed the device's binding limit", tk, MAX (k->c, v->c));
      return drape_graph_placeholder (graph, dtype, q->n, q->h, q->w, channels);
    }
  /* Query rows per dispatch, as many as both Q and the output allow. */
  band = MIN (rows_fitting (limit, q->c, channels, es), rows_fitting (limit, channels, channels, es));
  band = MIN (band, (guint64) caps->max_workgroup_count[0] * tiles.bq);
  if (band == 0)
    {
      drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED,
                        "attention: one token of q exceeds the device's binding limit");
      return drape_graph_placeholder (graph, dtype, q->n, q->h, q->w, channels);
    }
  if (band > tiles.bq)
    band -= band % tiles.bq;

  out = drape_graph_tensor (graph, dtype, q->n, q->h, q->w, channels);
  spec[0] = LOCAL_SIZE;
  spec[1] = spec[2] = 1;
  spec[3] = d;
  spec[4] = tiles.bq;
  spec[5] = tiles.bk;
  spec[6] = tiles.tpq;
  spec[7] = tiles.rq;
  spec[8] = tiles.sq;
  spec[9] = tiles.sk;
  spec[10] = tiles.qs;
  spec[11] = tiles.ks;
  spec[12] = tiles.ps;
  kernel = drape_graph_kernel (graph, "attention", dtype, 4, spec, G_N_ELEMENTS (spec));

  {
    /* All images in one dispatch when every operand fits a binding whole;
     * otherwise one image at a time, its queries in bands. */
    gboolean whole = band >= tq &&
                     rows_fitting (limit, q->c, channels, es) >= (guint64) q->n * tq &&
                     rows_fitting (limit, channels, channels, es) >= (guint64) q->n * tq &&
                     rows_fitting (limit, k->c, channels, es) >= (guint64) q->n * tk &&
                     rows_fitting (limit, v->c, channels, es) >= (guint64) q->n * tk &&
                     q->n <= caps->max_workgroup_count[2];
    guint32 images = whole ? 1 : q->n;
    guint32 per_dispatch = whole ? q->n : 1;

    for (guint32 img = 0; img < images; img++)
      for (guint64 t0 = 0; t0 < tq; t0 += band)
        {
          guint32 rows = MIN (band, tq - t0);
          guint64 q_first = (guint64) img * tq + t0;
          guint64 k_first = (guint64) img * tk;
          guint64 q_rows = (guint64) (per_dispatch - 1) * tq + rows;
          guint64 k_rows = (guint64) per_dispatch * tk;
          DrapeBinding bind[4];
          AttentionParams p = {
            .q_stride = q->c,
            .k_stride = k->c,
            .v_stride = v->c,
            .o_stride = channels,
            .tq = rows,
            .tk = tk,
            .q_img = tq * q->c,
            .k_img = tk * k->c,
            .v_img = tk * v->c,
            .o_img = tq * channels,
            /* The shader works in base 2: exp (x) = exp2 (x log2 (e)). */
            .scale = (float) (scale / G_LN2),
          };

          p.q_off = bind_rows (&bind[0], q, q_first, q_rows, q_offset, channels);
          p.k_off = bind_rows (&bind[1], k, k_first, k_rows, k_offset, channels);
          p.v_off = bind_rows (&bind[2], v, k_first, k_rows, v_offset, channels);
          p.o_off = bind_rows (&bind[3], out, q_first, q_rows, 0, channels);
          drape_graph_dispatch (graph, kernel, bind, &p, sizeof p,
                                drape_div_up (rows, tiles.bq), heads, per_dispatch, "attention",
                                4.0 * rows * tk * channels * per_dispatch);
        }
  }
  return out;
}
