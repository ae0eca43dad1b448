/* op-attention-coopmat.c: flash attention on tensor cores
 *
 * shaders/attention_coopmat.comp replaces attention.comp where the
 * device has cooperative matrices (DrapeDeviceCaps.coopmat: f16 16x16x16
 * tiles, f32 sums, subgroups of 32), the tensors are f16 and the head dim is at most
 * 160 (every head of SD1.5's UNet: 40, 80, 160; and SegFormer's 64).
 * Larger heads would hold more Q and O matrices in registers than a lane
 * has.
 *
 * DRAPE_ATTENTION_TILE=BCxRTxNW forces a tile: keys per block, 16-query
 * tiles per subgroup, subgroups per workgroup (tests and measurements);
 * one the device cannot hold leaves attention to the scalar kernel.
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

#include <stdio.h>

#include "op-attention-private.h"
#include "op-coopmat-private.h"

#define MAX_HEAD_DIM 160
#define SUBGROUPS 4

/* The shader's specialisation (and the grid's rows per workgroup). */
typedef struct {
  guint32 bc;  /* keys per block */
  guint32 rt;  /* 16-query tiles per subgroup */
  guint32 nw;  /* subgroups per workgroup */
  guint32 br;  /* queries per workgroup */
} Tiles;

static guint64
shared_bytes (guint32      dp,
              const Tiles *t)
{
  /* K and V rows of dp + 8 halves; S (f32) and P (f16) per query tile. */
  return 2ull * t->bc * (dp + 8) * 2 + (guint64) t->nw * t->rt * 16 * t->bc * (4 + 2);
}

static gboolean
tiles_fit (const DrapeDeviceCaps *caps,
           guint32                dp,
           const Tiles           *t)
{
  return t->nw * 32 <= caps->max_workgroup_invocations &&
         shared_bytes (dp, t) <= caps->max_shared_memory;
}

/* The tile DRAPE_ATTENTION_TILE names, else the largest key block that
 * fits the default shape; FALSE when none fits. */
static gboolean
choose_tiles (const DrapeDeviceCaps *caps,
              guint32                d,
              Tiles                 *t)
{
  const char *forced = g_getenv ("DRAPE_ATTENTION_TILE");
  guint32 dp = (d + 15) / 16 * 16;

  if (forced != NULL)
    {
      if (sscanf (forced, "%ux%ux%u", &t->bc, &t->rt, &t->nw) != 3 || t->bc % 16 != 0 ||
          t->bc < 16 || t->bc > 128 || t->rt < 1 || t->rt > 4 || t->nw < 1 || t->nw > 8)
        {
          g_warning ("DRAPE_ATTENTION_TILE=%s: expected BCxRTxNW, BC a multiple of 16 up to 128, "
                     "RT 1 to 4, NW 1 to 8", forced);
          return FALSE;
        }
      t->br = t->nw * t->rt * 16;
      return tiles_fit (caps, dp, t);
    }
  t->rt = dp <= 64 ? 2 : 1;
  t->nw = SUBGROUPS;
  t->br = t->nw * t->rt * 16;
  for (t->bc = 64; t->bc >= 16; t->bc /= 2)
    if (tiles_fit (caps, dp, t))
      return TRUE;
  return FALSE;
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
  DrapeAttentionSplit split;
  gboolean vec8;
  DrapeTensor *out;
  DrapeKernel *kernel;
  Tiles tiles;

  if (caps->coopmat == DRAPE_COOPMAT_NONE || q->dtype != DRAPE_DTYPE_F16 ||
      d > MAX_HEAD_DIM || !drape_graph_ok (graph) || !choose_tiles (caps, d, &tiles))
    return NULL;

  /* Operands the scalar kernel must split differently, or refuse with
   * its own message, go to it. */
  if (!drape_attention_split (graph, q, k, v, channels, tiles.br, &split))
    return NULL;

  /* 16-byte loads and stores: every row and channel offset a multiple
   * of 8 halves, which the bound ranges keep (tensors start 256-byte
   * aligned; drape_bind() aligns down to a power of two). */
  vec8 = d % 8 == 0 && q->c % 8 == 0 && k->c % 8 == 0 && v->c % 8 == 0 &&
         q_offset % 8 == 0 && k_offset % 8 == 0 && v_offset % 8 == 0;
  {
    guint32 spec[] = { tiles.nw * 32, 1, 1, d, tiles.bc, tiles.rt, vec8 };
    kernel = drape_graph_kernel_variant (graph, "attention_coopmat", drape_coopmat_variant (caps), 4,
                                         spec, G_N_ELEMENTS (spec));
  }
  if (kernel == NULL)
    return NULL;

  out = drape_graph_tensor (graph, DRAPE_DTYPE_F16, q->n, q->h, q->w, channels);
  drape_attention_record (graph, kernel, &split, q, q_offset, k, k_offset, v, v_offset, out,
                          channels, heads, scale, tiles.br, FALSE, "attention.coopmat");
  return out;
}
