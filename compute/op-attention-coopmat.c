/* op-attention-coopmat.c: flash attention on tensor cores
 *
 * shaders/attention_coopmat.comp replaces attention.comp where the
 * device has NV cooperative matrices (f16 16x16x16, f32 sums) and a
 * subgroup size of 32, the tensors are f16 and the head dim is at most
 * 160 (every head of SD1.5's UNet: 40, 80, 160; and SegFormer's 64).
 * Larger heads would hold more Q and O matrices in registers than a lane
 * has.
 *
 * Tiles.  Four subgroups of 32 per workgroup.  Heads of up to 64 dims
 * give each subgroup two 16-query tiles, so K and V are staged for 128
 * queries at once and every K or V matrix loaded from shared memory
 * serves two products; larger heads take one tile (their Q and O
 * matrices fill the registers).  Then the largest key block (64, 32 or
 * 16) whose K and V tiles and per-tile S and P fit the device's shared
 * memory: for heads of 40, 80 and 160, 32, 64 and 32 keys, in 31, 46 and
 * 33 KiB of the 48 KiB NVIDIA GPUs have.
 *
 * Splitting follows drape_op_attention(): all images in one dispatch
 * when every operand fits one binding, else one image at a time with its
 * queries in bands; operands that do not fit at all are left to the
 * scalar path, which says so.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "op-coopmat-private.h"

#define MAX_HEAD_DIM 160
#define SUBGROUPS 4

/* The shader's push constants (as attention.comp's). */
typedef struct {
  guint32 q_off, k_off, v_off, o_off;
  guint32 q_stride, k_stride, v_stride, o_stride;
  guint32 tq, tk;
  guint32 q_img, k_img, v_img, o_img;
  float scale;
} Push;

typedef struct {
  guint32 bc;  /* keys per block */
  guint32 rt;  /* 16-query tiles per subgroup */
  guint32 br;  /* queries per workgroup */
} Tiles;

static guint64
shared_bytes (guint32 dp,
              guint32 bc,
              guint32 rt)
{
  /* K and V rows of dp + 8 halves; S (f32) and P (f16) per query tile. */
  return 2ull * bc * (dp + 8) * 2 + (guint64) SUBGROUPS * rt * 16 * bc * (4 + 2);
}

static gboolean
choose_tiles (guint32  d,
              guint32  shared_limit,
              Tiles   *t)
{
  guint32 dp = (d + 15) / 16 * 16;

  t->rt = dp <= 64 ? 2 : 1;
  t->br = SUBGROUPS * t->rt * 16;
  for (t->bc = 64; t->bc >= 16; t->bc /= 2)
    if (shared_bytes (dp, t->bc, t->rt) <= shared_limit)
      return TRUE;
  return FALSE;
}

/* The rows of a tensor whose span, from a first row's channel offset to
 * the end of `channels` channels in the last row, fits `limit` bytes. */
static guint64
rows_fitting (guint64 limit,
              guint32 stride,
              guint32 channels)
{
  gsize es = drape_dtype_size (DRAPE_DTYPE_F16);

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

DrapeTensor *
drape_attention_coopmat (DrapeGraph        *graph,
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
  guint32 d = channels / heads;
  guint32 tq = q->h * q->w, tk = k->h * k->w;
  guint64 limit, band;
  gboolean whole, vec8;
  DrapeTensor *out;
  DrapeKernel *kernel;
  Tiles tiles;

  if (!caps->has_nv_coopmat || caps->subgroup_size != 32 || q->dtype != DRAPE_DTYPE_F16 ||
      d > MAX_HEAD_DIM || !drape_graph_ok (graph) ||
      caps->max_workgroup_invocations < SUBGROUPS * 32 ||
      !choose_tiles (d, caps->max_shared_memory, &tiles))
    return NULL;

  limit = drape_graph_binding_limit (graph);
  if (limit <= caps->storage_offset_alignment)
    return NULL;
  limit -= caps->storage_offset_alignment;
  if (rows_fitting (limit, k->c, channels) < tk || rows_fitting (limit, v->c, channels) < tk)
    return NULL;
  /* Query rows per dispatch, as many as both Q and the output allow. */
  band = MIN (rows_fitting (limit, q->c, channels), rows_fitting (limit, channels, channels));
  band = MIN (band, (guint64) caps->max_workgroup_count[0] * tiles.br);
  if (band == 0)
    return NULL;
  if (band > tiles.br)
    band -= band % tiles.br;
  whole = band >= tq &&
          rows_fitting (limit, q->c, channels) >= (guint64) q->n * tq &&
          rows_fitting (limit, channels, channels) >= (guint64) q->n * tq &&
          rows_fitting (limit, k->c, channels) >= (guint64) q->n * tk &&
          rows_fitting (limit, v->c, channels) >= (guint64) q->n * tk &&
          q->n <= caps->max_workgroup_count[2];

  /* 16-byte loads and stores: every row and channel offset a multiple
   * of 8 halves, which the bound ranges keep (tensors start 256-byte
   * aligned; drape_bind() aligns down to a power of two). */
  vec8 = d % 8 == 0 && q->c % 8 == 0 && k->c % 8 == 0 && v->c % 8 == 0 &&
         q_offset % 8 == 0 && k_offset % 8 == 0 && v_offset % 8 == 0;
  {
    guint32 spec[] = { SUBGROUPS * 32, 1, 1, d, tiles.bc, tiles.rt, vec8 };
    kernel = drape_graph_kernel (graph, "attention_coopmat", DRAPE_DTYPE_F16, 4, spec,
                                 G_N_ELEMENTS (spec));
  }
  if (kernel == NULL)
    return NULL;

  out = drape_graph_tensor (graph, DRAPE_DTYPE_F16, q->n, q->h, q->w, channels);
  {
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
          Push p = {
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
          drape_graph_dispatch (graph, kernel, bind, &p, sizeof p, drape_div_up (rows, tiles.br),
                                heads, per_dispatch, "attention.coopmat",
                                4.0 * rows * tk * channels * per_dispatch);
        }
  }
  return out;
}
