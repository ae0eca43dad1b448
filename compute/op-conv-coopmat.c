/* op-conv-coopmat.c: which convolutions run on tensor cores, and how
 *
 * shaders/conv2d_coopmat.comp replaces conv2d.comp where
 *   - the device has cooperative matrices (DrapeDeviceCaps.coopmat: f16
 *     tiles with f32 sums, in its shape and subgroup width) and the
 *     tensors are f16;
 *   - cin_g is a multiple of 8: the kernel stages A and B in 16-byte
 *     chunks of 8 channels, which then never span two kernel taps, and
 *     every offset op-conv.c binds (rows of cin and K = kh kw cin_g
 *     values, tensors 256-byte aligned) stays a multiple of 16 bytes.
 * That is every convolution and linear layer of the UNet and the VAE
 * but the first (4 or 9 input channels); depthwise convolutions keep
 * their own kernel.  Any N and M work (edges are masked), so output
 * channels need not be multiples of 16.
 *
 * Tiles.  A workgroup computes BM x BN outputs, its subgroups WM x WN
 * each, with K staged 32 at a time in double-buffered shared memory
 * (80-byte rows: 40 KiB for 128 x 128, within the 48 KiB every NVIDIA
 * GPU has).  Larger tiles read each input fewer times but leave
 * workgroups idle on small problems and compute more padding, so each
 * candidate costs (its tiles, at least MIN_TILES of them) x (its area
 * over a measure of its efficiency), and the cheapest wins: at 1024x768
 * with guidance the UNet's 320-channel layers get 128 x 64, the 640 and
 * 1280 ones 128 x 128, the smallest latent 64 x 64, and layers of up to
 * 16 output channels 128 x 16.  Subgroups own
 * 64 x 32 blocks where they can: with 16x16 matrices in subgroups of 32,
 * 8 accumulators, which with the loads in flight should stay near 128
 * registers a lane, so that two 256-lane workgroups fit an SM.  GEGLU
 * doubles the B tile and the accumulators, so its tiles are half as
 * wide.  A tile must also split into whole 16-byte pieces per
 * invocation when staged, which rules out the smallest tiles for
 * subgroups of 64 and up.
 *
 * DRAPE_CONV_KERNEL=coopmat:BMxBN forces a tile (for tests and
 * measurements); any other value but "coopmat" forces a scalar kernel.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <stdio.h>

#include "op-coopmat-private.h"

/* Workgroups below which a GPU has SMs idle: about 2 per SM on large
 * NVIDIA GPUs (132 SMs on an H100 or H200). */
#define MIN_TILES 256
#define BK 32
/* 16-byte pieces per staged row of BK halves, and with the padding. */
#define CHUNKS_PER_ROW (BK / 8)
#define ROW_UNITS (CHUNKS_PER_ROW + 1)

typedef struct {
  guint32 bm, bn, wm, wn;
  /* Throughput relative to the largest tile, from its operand reuse. */
  double efficiency;
} Tile;

static const Tile conv_tiles[] = {
  { 128, 128, 64, 32, 1.0 },
  { 128, 64, 64, 32, 0.9 },
  { 64, 128, 64, 32, 0.9 },
  { 64, 64, 32, 32, 0.75 },
  /* For a few output channels (the VAEs' and the UNet's last
   * convolutions: 3, 8, 4): a quarter of 64x64's padding, for much less
   * reuse of each staged input. */
  { 128, 16, 64, 16, 0.3 },
};

static const Tile geglu_tiles[] = {
  { 128, 64, 64, 16, 1.0 },
  { 64, 64, 32, 32, 0.9 },
  { 64, 32, 32, 16, 0.75 },
};

static guint32
tile_invocations (const DrapeDeviceCaps *caps,
                  const Tile            *t)
{
  return caps->coopmat_subgroup_size * (t->bm / t->wm) * (t->bn / t->wn);
}

static guint64
tile_shared_bytes (const DrapeDeviceCaps *caps,
                   const Tile            *t,
                   gboolean               geglu)
{
  guint64 stage = (guint64) (t->bm + (geglu ? 2 : 1) * t->bn) * ROW_UNITS;
  /* Per subgroup, an m x n f32 tile with rows padded by 16 bytes. */
  guint64 staging = (guint64) caps->coopmat_m * (caps->coopmat_n / 4 + 1);
  guint64 epilogue = (guint64) (t->bm / t->wm) * (t->bn / t->wn) * staging * (geglu ? 2 : 1);

  return 16 * MAX (2 * stage, epilogue);
}

static gboolean
tile_fits (const DrapeDeviceCaps *caps,
           const Tile            *t,
           gboolean               geglu)
{
  guint32 nt = tile_invocations (caps, t);

  /* Each invocation stages whole rows' worth of 16-byte pieces. */
  return nt <= caps->max_workgroup_invocations && nt >= CHUNKS_PER_ROW &&
         (t->bm * CHUNKS_PER_ROW) % nt == 0 && (t->bn * CHUNKS_PER_ROW) % nt == 0 &&
         t->wm % caps->coopmat_m == 0 && t->wn % caps->coopmat_n == 0 &&
         tile_shared_bytes (caps, t, geglu) <= caps->max_shared_memory;
}

gboolean
drape_conv_coopmat_tile_fits (const DrapeDeviceCaps *caps,
                              guint32                bm,
                              guint32                bn,
                              gboolean               geglu)
{
  const Tile *tiles = geglu ? geglu_tiles : conv_tiles;
  guint n_tiles = geglu ? G_N_ELEMENTS (geglu_tiles) : G_N_ELEMENTS (conv_tiles);

  for (guint i = 0; i < n_tiles; i++)
    if (tiles[i].bm == bm && tiles[i].bn == bn)
      return tile_fits (caps, &tiles[i], geglu);
  return FALSE;
}

/* The tile DRAPE_CONV_KERNEL names, the cheapest one, or NULL. */
static const Tile *
choose_tile (const DrapeDeviceCaps *caps,
             const DrapeConvGemm   *gemm,
             const char            *forced)
{
  const Tile *tiles = gemm->geglu ? geglu_tiles : conv_tiles;
  guint n_tiles = gemm->geglu ? G_N_ELEMENTS (geglu_tiles) : G_N_ELEMENTS (conv_tiles);
  const Tile *best = NULL;
  double best_cost = G_MAXDOUBLE;
  guint32 bm = 0, bn = 0;

  if (forced != NULL && sscanf (forced, "coopmat:%ux%u", &bm, &bn) != 2)
    bm = bn = 0;
  for (guint i = 0; i < n_tiles; i++)
    {
      const Tile *t = &tiles[i];
      guint64 count = (guint64) drape_div_up (gemm->m, t->bm) * drape_div_up (gemm->n, t->bn);
      double cost = (double) MAX (count, MIN_TILES) * t->bm * t->bn / t->efficiency;

      if (!tile_fits (caps, t, gemm->geglu))
        continue;
      if (bm != 0)
        {
          if (t->bm == bm && t->bn == bn)
            return t;
          continue;
        }
      if (cost < best_cost)
        {
          best_cost = cost;
          best = t;
        }
    }
  return best;
}

gboolean
drape_conv_coopmat_select (DrapeGraph          *graph,
                           const DrapeConvGemm *gemm,
                           DrapeConvCoopmat    *out)
{
  const DrapeDeviceCaps *caps = drape_device_get_caps (drape_graph_get_device (graph));
  const char *forced = g_getenv ("DRAPE_CONV_KERNEL");
  g_autofree char *label = NULL;
  const Tile *tile;

  if (caps->coopmat == DRAPE_COOPMAT_NONE || gemm->dtype != DRAPE_DTYPE_F16 ||
      gemm->cin_g == 0 || gemm->cin_g % 8 != 0 || !drape_graph_ok (graph))
    return FALSE;
  if (forced != NULL && !g_str_has_prefix (forced, "coopmat"))
    return FALSE;
  tile = choose_tile (caps, gemm, forced);
  if (tile == NULL)
    return FALSE;

  {
    guint32 spec[] = {
      tile_invocations (caps, tile), 1, 1, tile->bm, tile->bn, tile->wm, tile->wn, gemm->geglu,
      caps->coopmat_subgroup_size, caps->coopmat_m, caps->coopmat_n, caps->coopmat_k, gemm->vec_out,
    };
    /* A device that will not build it leaves the work to conv2d.comp. */
    out->kernel = drape_graph_kernel_optional (graph, "conv2d_coopmat", drape_coopmat_variant (caps),
                                               gemm->n_bindings, 0, spec, G_N_ELEMENTS (spec));
  }
  if (out->kernel == NULL)
    return FALSE;
  out->tile_m = tile->bm;
  out->tile_n = tile->bn;
  label = g_strconcat (gemm->op, ".coopmat", NULL);
  out->label = g_intern_string (label);
  return TRUE;
}
