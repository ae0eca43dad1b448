/* op-conv-coopmat.c: which convolutions run on tensor cores, and how
 *
 * shaders/conv2d_coopmat.comp replaces conv2d.comp where
 *   - the device has cooperative matrices (DrapeDeviceCaps.coopmat: f16
 *     tiles with f32 sums, in its shape and subgroup width) and the
 *     tensors are f16;
 *   - the kernel stages A and B in 16-byte chunks of 8 channels where
 *     cin_g is a multiple of 8: chunks then never span two kernel taps,
 *     and every offset op-conv.c binds (rows of cin and K = kh kw cin_g
 *     values, tensors 256-byte aligned) stays a multiple of 16 bytes.
 *     The first layers of the UNet and the VAE (9, 3 and 4 input
 *     channels) take its variant that gathers them a value at a time:
 *     their K is small, their outputs many.
 * Depthwise convolutions keep their own kernel.  Any N and M work (edges
 * are masked), so output channels need not be multiples of 16.
 *
 * Tiles.  A workgroup computes BM x BN outputs, its subgroups WM x WN
 * each, with K staged BK at a time in shared memory: two stages where
 * they fit the 48 KiB every NVIDIA GPU has, else one.  128 x 128 stages
 * 64 values of K in one stage for 3x3 convolutions where that fits;
 * for the other layers 16 in two, or 32 where K is split (as measured,
 * below); the other tiles 32 in two.  Larger tiles read each input
 * fewer times but leave workgroups idle on small problems and compute
 * more padding, so each candidate costs (its tiles, at least enough to
 * fill the GPU: min_tiles) x (its area over its measured efficiency),
 * and the cheapest wins (ties: the first listed): at 1024x768 with
 * guidance every UNet layer but GEGLU's gets 128 x 128 (the smallest
 * latent with K split), and layers of up to 16 output channels
 * 128 x 16.  Subgroups own 32 x
 * 64 blocks of 128 x 128 tiles and 64 x 32 of the others: with 16x16
 * matrices in subgroups of 32, 8 accumulators.  GEGLU doubles the B tile
 * and the accumulators, so its tiles are half as wide.  A tile must also
 * split into whole 16-byte pieces per invocation when staged, which
 * rules out the smallest tiles for subgroups of 64 and up.
 *
 * Split K.  The smallest latents leave too few tiles to fill a large
 * GPU (at 512x384, 1280 channels of 12 x 16 pixels with guidance: 60
 * tiles of 128 x 128 for 132 SMs), so the cost above also weighs
 * cutting K into 2 to 16 slices of at least 8 stages: the slices' f32
 * sums go through memory to conv2d_split_sum.comp, which adds them and
 * runs the epilogue; that round trip is priced at SPLIT_COST, and the
 * sums may take at most SPLIT_SCRATCH bytes.  GEGLU and grouped
 * convolutions are never split.
 *
 * Tuning.  Every tile that fits, in every split the cost model weighs,
 * is a way to run the GEMM (drape_graph_choose), named as
 * DRAPE_CONV_KERNEL spells it (coopmat:BMxBNxBK[+A]/S), and so is every
 * tile of conv2d_coopmat2.comp (workgroup-scope matrices: below) that
 * suits it (coopmat2:BMxBNxBK); the cost model's pick is the usual one,
 * and a device's tuning (tuning.h), what timing them all on it found
 * fastest, takes precedence.
 *
 * DRAPE_CONV_KERNEL=coopmat:BMxBN forces a tile, coopmat:BMxBNxBK also
 * its stage of K, +A (2 to 4) that many stages' loads in flight, and a
 * trailing /S also S slices (for tests and measurements; without /S, a
 * tile listed only for comparisons runs unsplit), on the GEMMs whose
 * kind lists it (GEGLU's tiles differ from the others'), and
 * coopmat2:BMxBNxBK a tile of conv2d_coopmat2.comp on the GEMMs it suits
 * (the cost model's tile on the others); any other value but "coopmat"
 * forces a scalar kernel.  DRAPE_CONV_SPLIT=S caps the
 * slices (1: never split).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "op-coopmat-private.h"

/* Workgroups below which a GPU has SMs idle: about 2 per SM (or AMD
 * compute unit) where the driver counts them (DrapeDeviceCaps.
 * compute_units), else as on a large NVIDIA GPU (132 SMs on an H100 or
 * H200), so that a smaller GPU does not split K for SMs it lacks. */
#define TILES_PER_UNIT 2
#define MIN_TILES 256
#define MAX_SLICES 16
#define MIN_SLICE_STAGES 8
#define SPLIT_COST 1.15
#define SPLIT_SCRATCH (32u << 20)

/* Which GEMMs a tile is for (flags; none: any): only those whose K
 * walks kernel taps of at least 64 channels each (3x3 convolutions past
 * the first layer: a stage of 64 reads one tap); only those whose K is
 * not split; only those whose K is. */
typedef enum {
  TILE_TAPS_ONLY = 1 << 0,
  TILE_WHOLE_K = 1 << 1,
  TILE_SPLIT_K = 1 << 2,
} TileUse;

typedef struct {
  guint32 bm, bn, wm, wn;
  /* Values of K per stage. */
  guint32 bk;
  TileUse use;  /* 0: any GEMM */
  /* Throughput relative to the largest tile, from its operand reuse; 0:
   * only when forced (measurements). */
  double efficiency;
  /* Stages whose loads are in flight at once, 2 to 4 (two stages in
   * shared memory needed); 0: one. */
  guint32 ahead;
} Tile;

/* What DRAPE_CONV_KERNEL=coopmat:BMxBN[xBK][+A][/S] names (bm 0:
 * nothing): 0 for what it leaves out. */
typedef struct {
  guint32 bm, bn, bk, ahead, slices;
} Forced;

/* Efficiencies measured on an H200 (NV cooperative matrix, every layer
 * of the UNet and the VAE at 768x1024 with each tile forced:
 * tests/bench/device-run.sh PLAN=sweep): 128 x 128 led on every shape,
 * even where N = 320 pads it by a fifth; the half-width tiles, whose
 * subgroups own 64 x 32 blocks but stage a tile for half the work, ran
 * at about 0.65, and 64 x 64 (32 x 32 per subgroup) at 0.72.  Within
 * 128 x 128, subgroups of 32 x 64 ran 3-5% faster than of 64 x 32 on
 * every layer with enough tiles to fill the GPU, and as fast on the
 * others (KHR, PLAN=ab); 64 x 64 each (half the subgroups, twice the
 * registers a lane) ran 1.2 to 1.7 times slower.
 *
 * The stage of K, on the same H200 (KHR, PLAN=ab, every layer shape at
 * 768x1024 and 384x512 with each forced; session 9): 128 x 128 staging
 * 32 values in two stages took 157 registers a lane, so one 256-lane
 * workgroup per SM.  Staging 16 in two (120 registers, two workgroups
 * per SM) was faster on every layer whose K is not split: by 13% over
 * the UNet's and VAE's; but 25-50% slower on the linear layers whose K
 * is (a few stages a slice).  One stage of 64 (184 registers, half the
 * barriers) was faster than both on every 3x3 convolution of 64 or
 * more channels, split or not (3-30%), and slower than 16 on every
 * other layer.  Staging 16 in 128 x 256 and 256 x 128 tiles of 64 x 64
 * per subgroup, as NVIDIA's own benchmark does, took 190 registers and
 * ran 1.5-2 times slower. */
static const Tile conv_tiles[] = {
  /* Listed first, so that it wins ties with the next two where it fits. */
  { 128, 128, 32, 64, 64, TILE_TAPS_ONLY, 1.0 },
  { 128, 128, 32, 64, 16, TILE_WHOLE_K, 1.0 },
  { 128, 128, 32, 64, 32, TILE_SPLIT_K, 1.0 },
  { 128, 64, 64, 32, 32, 0, 0.65 },
  { 64, 128, 64, 32, 32, 0, 0.64 },
  { 64, 64, 32, 32, 32, 0, 0.72 },
  /* For a few output channels (the VAEs' and the UNet's last
   * convolutions: 3, 8, 4): a quarter of 64x64's padding, for much less
   * reuse of each staged input. */
  { 128, 16, 64, 16, 32, 0, 0.3 },
  /* To measure (DRAPE_CONV_KERNEL=coopmat:128x128x16+2, +3, +4, and
   * coopmat:128x128x32+2): short stages with two to four stages' loads in
   * flight, a set of registers each (8 a lane for 128 x 128 staging 16),
   * since the next stage's loads alone have only one short stage's
   * products to arrive in.  To compare (coopmat:64x64x64):
   * 64 x 64 staging 64, in one stage where shared memory holds 32 KiB
   * (lavapipe: the tests' way to that path).  To measure
   * (coopmat:128x160x64): 128 x 160 in subgroups of 32 x 80, which
   * covers the UNet's 320 output channels in two tiles where 128 x 128
   * pads them to 384; with 256 lanes only a stage of 64 stages it in
   * whole pieces, which lavapipe's 32 KiB cannot hold, so its 64 lanes
   * test the shape staging 16 (coopmat:128x160x16). */
  { 128, 128, 32, 64, 16, 0, 0, 2 },
  { 128, 128, 32, 64, 16, 0, 0, 3 },
  { 128, 128, 32, 64, 16, 0, 0, 4 },
  { 128, 128, 32, 64, 32, 0, 0, 2 },
  { 64, 64, 32, 32, 64, 0, 0 },
  { 128, 160, 32, 80, 64, 0, 0 },
  { 128, 160, 32, 80, 16, 0, 0 },
};

/* 64 x 64 measured at 0.6 of 128 x 64 (as above); 64 x 32 is rated
 * below it.  To measure (coopmat:128x64x16, x16+2, x64): 128 x 64
 * staging 16 in two stages (also with two stages' loads in flight; in
 * subgroups of 32 its B tile is too small to stage in whole pieces), and
 * 64 in one, as the other GEMMs' 128 x 128 do (128 x 64 staging 32
 * takes 158 registers, one workgroup per SM; coopmat:128x64x32+2, two
 * stages' loads in flight, 16 more). */
static const Tile geglu_tiles[] = {
  { 128, 64, 64, 16, 32, 0, 1.0 },
  { 64, 64, 32, 32, 32, 0, 0.6 },
  { 64, 32, 32, 16, 32, 0, 0.45 },
  { 128, 64, 64, 16, 16, 0, 0 },
  { 128, 64, 64, 16, 16, 0, 0, 2 },
  { 128, 64, 64, 16, 32, 0, 0, 2 },
  { 128, 64, 64, 16, 64, 0, 0 },
};

/* Tiles of conv2d_coopmat2.comp: workgroup-scope matrices of flexible
 * sizes (DrapeDeviceCaps.coopmat2_workgroup), the driver staging the
 * operands.  The cost model has no measurements of them yet, so they are
 * ways for tuning to time (coopmat2:BMxBNxBK) and for DRAPE_CONV_KERNEL
 * to force, never its pick.  The sizes are those llama.cpp's Vulkan
 * backend gives its GEMMs on NVIDIA's cooperative matrix 2 (128 x 256
 * and 128 x 128 staging 64 of K in 256 invocations, 64 x 64 in 128),
 * with stages of 32 beside them; GEGLU's two accumulators take tiles
 * half as wide. */
typedef struct {
  guint32 bm, bn, bk, invocations;
} WorkgroupTile;

static const WorkgroupTile workgroup_tiles[] = {
  { 128, 128, 32, 256 },
  { 128, 128, 64, 256 },
  { 128, 256, 32, 256 },
  { 128, 256, 64, 256 },
  { 256, 128, 32, 256 },
  { 64, 64, 64, 128 },
};

static const WorkgroupTile workgroup_geglu_tiles[] = {
  { 128, 64, 32, 256 },
  { 128, 64, 64, 256 },
  { 128, 128, 32, 256 },
  { 64, 64, 64, 128 },
};

/* The tiles of the GEGLU kind of GEMM, or of the others. */
static const Tile *
kind_tiles (gboolean geglu,
            guint   *n)
{
  *n = geglu ? G_N_ELEMENTS (geglu_tiles) : G_N_ELEMENTS (conv_tiles);
  return geglu ? geglu_tiles : conv_tiles;
}

static const WorkgroupTile *
kind_workgroup_tiles (gboolean geglu,
                      guint   *n)
{
  *n = geglu ? G_N_ELEMENTS (workgroup_geglu_tiles) : G_N_ELEMENTS (workgroup_tiles);
  return geglu ? workgroup_geglu_tiles : workgroup_tiles;
}

/* Whether the device takes workgroup-scope matrices of tile t's sizes. */
static gboolean
workgroup_tile_fits (const DrapeDeviceCaps *caps,
                     const WorkgroupTile   *t)
{
  return drape_coopmat2_workgroup_takes (caps, t->invocations, t->bm, t->bn, t->bk);
}

/* Whether conv2d_coopmat2.comp computes `gemm` in tile t (what its top
 * says the host guarantees). */
static gboolean
workgroup_suits (const DrapeDeviceCaps *caps,
                 const DrapeConvGemm   *gemm,
                 const WorkgroupTile   *t)
{
  return gemm->one_dispatch && gemm->groups == 1 && gemm->stride == 1 && !gemm->subpixel &&
         !gemm->out_f32 && gemm->cin_g % t->bk == 0 && workgroup_tile_fits (caps, t);
}

/* The pixels per patch row of conv2d_coopmat2.comp's tiles of bm
 * pixels: 0 (consecutive pixels) for 1x1 convolutions without padding,
 * else the width whose patches pad the output least (the widest such). */
static guint32
workgroup_patch_w (const DrapeConvGemm *gemm,
                   guint32              bm)
{
  guint64 least = G_MAXUINT64;
  guint32 best = bm;

  if (gemm->kh == 1 && gemm->kw == 1 && gemm->pad_t == 0 && gemm->pad_l == 0)
    return 0;
  for (guint32 pw = bm; pw >= 1; pw /= 2)
    {
      guint32 ph = bm / pw;
      guint64 area = (guint64) drape_div_up (gemm->oh, ph) * ph * drape_div_up (gemm->ow, pw) * pw;

      if (area < least)
        {
          least = area;
          best = pw;
        }
    }
  return best;
}

/* The tile of this kind of GEMM that `spec` (coopmat2:BMxBNxBK) names,
 * or NULL. */
static const WorkgroupTile *
workgroup_forced (const char *spec,
                  gboolean    geglu)
{
  guint n_tiles;
  const WorkgroupTile *tiles = kind_workgroup_tiles (geglu, &n_tiles);
  guint32 bm, bn, bk;

  if (spec == NULL || sscanf (spec, "coopmat2:%ux%ux%u", &bm, &bn, &bk) != 3)
    return NULL;
  for (guint i = 0; i < n_tiles; i++)
    if (tiles[i].bm == bm && tiles[i].bn == bn && tiles[i].bk == bk)
      return &tiles[i];
  return NULL;
}

/* Whether the cost model may give `gemm` to tile t in `slices` slices. */
static gboolean
tile_suits (const Tile          *t,
            const DrapeConvGemm *gemm,
            guint32              slices)
{
  gboolean taps = gemm->k > gemm->cin_g && gemm->cin_g >= 64;

  return !((t->use & TILE_TAPS_ONLY) && !taps) && !((t->use & TILE_WHOLE_K) && slices > 1) &&
         !((t->use & TILE_SPLIT_K) && slices == 1);
}

static guint32
tile_invocations (const DrapeDeviceCaps *caps,
                  const Tile            *t)
{
  return caps->coopmat_subgroup_size * (t->bm / t->wm) * (t->bn / t->wn);
}

static guint32
tile_ahead (const Tile *t)
{
  return MAX (t->ahead, 1);
}

/* Shared memory (16-byte units) of one stage of a tile: its rows of bk
 * halves, padded by 16 bytes. */
static guint64
tile_stage_units (const Tile *t,
                  gboolean    geglu)
{
  return (guint64) (t->bm + (geglu ? 2 : 1) * t->bn) * (t->bk / 8 + 1);
}

/* Two stages where they fit beside each other, else one. */
static guint32
tile_stages (const DrapeDeviceCaps *caps,
             const Tile            *t,
             gboolean               geglu)
{
  return 2 * 16 * tile_stage_units (t, geglu) <= caps->max_shared_memory ? 2 : 1;
}

static guint64
tile_shared_bytes (const DrapeDeviceCaps *caps,
                   const Tile            *t,
                   gboolean               geglu)
{
  /* Per subgroup, an m x n f32 tile with rows padded by 16 bytes. */
  guint64 staging = (guint64) caps->coopmat_m * (caps->coopmat_n / 4 + 1);
  guint64 epilogue = (guint64) (t->bm / t->wm) * (t->bn / t->wn) * staging * (geglu ? 2 : 1);

  return 16 * MAX (tile_stages (caps, t, geglu) * tile_stage_units (t, geglu), epilogue);
}

static gboolean
tile_fits (const DrapeDeviceCaps *caps,
           const Tile            *t,
           gboolean               geglu)
{
  guint32 nt = tile_invocations (caps, t);
  guint32 chunks_per_row = t->bk / 8;

  /* Each invocation stages whole rows' worth of 16-byte pieces. */
  return nt <= caps->max_workgroup_invocations && nt >= chunks_per_row &&
         (t->bm * chunks_per_row) % nt == 0 && (t->bn * chunks_per_row) % nt == 0 &&
         t->wm % caps->coopmat_m == 0 && t->wn % caps->coopmat_n == 0 &&
         t->bk % caps->coopmat_k == 0 && (tile_ahead (t) == 1 || tile_stages (caps, t, geglu) == 2) &&
         tile_shared_bytes (caps, t, geglu) <= caps->max_shared_memory;
}

/* FALSE where `spec` is no coopmat:BMxBN[xBK][+A][/S]. */
static gboolean
parse_forced (const char *spec,
              Forced     *f)
{
  const char *rest;

  *f = (Forced) { 0 };
  if (spec == NULL || sscanf (spec, "coopmat:%ux%u", &f->bm, &f->bn) != 2)
    return FALSE;
  if (sscanf (spec, "coopmat:%ux%ux%u", &f->bm, &f->bn, &f->bk) < 3)
    f->bk = 0;
  rest = spec + strlen ("coopmat:") + strspn (spec + strlen ("coopmat:"), "0123456789x");
  if (*rest == '+')
    f->ahead = (guint32) g_ascii_strtoull (rest + 1, (char **) &rest, 10);
  if (*rest == '/')
    f->slices = (guint32) g_ascii_strtoull (rest + 1, NULL, 10);
  return TRUE;
}

/* Whether tile t has the size, stage (where xBK names one) and loads in
 * flight (+A) that `f` names. */
static gboolean
forced_names (const Forced *f,
              const Tile   *t)
{
  return t->bm == f->bm && t->bn == f->bn && (f->bk == 0 || t->bk == f->bk) &&
         tile_ahead (t) == MAX (f->ahead, 1);
}

/* Whether `f` forces tile t: one it names, and without xBK one the cost
 * model may pick. */
static gboolean
forced_matches (const Forced *f,
                const Tile   *t)
{
  return forced_names (f, t) && (f->bk != 0 || t->efficiency > 0);
}

/* Whether every tile `spec` may name for a layer whose K is whole fits
 * (those of 3x3 convolutions alone aside). */
gboolean
drape_conv_coopmat_tile_fits (const DrapeDeviceCaps *caps,
                              const char            *spec,
                              gboolean               geglu)
{
  guint n_tiles;
  const Tile *tiles = kind_tiles (geglu, &n_tiles);
  gboolean any = FALSE;
  const WorkgroupTile *wg = workgroup_forced (spec, geglu);
  Forced f;

  if (wg != NULL)
    return workgroup_tile_fits (caps, wg);
  if (!parse_forced (spec, &f))
    return FALSE;
  for (guint i = 0; i < n_tiles; i++)
    {
      const Tile *t = &tiles[i];

      if (!forced_matches (&f, t) || (f.bk == 0 && (t->use & (TILE_TAPS_ONLY | TILE_SPLIT_K))))
        continue;
      if (!tile_fits (caps, t, geglu))
        return FALSE;
      any = TRUE;
    }
  return any;
}

/* The most slices of K, up to `cap`, whose sums a tile's dispatch can
 * keep in `bytes`. */
static guint32
max_slices (const DrapeConvGemm *gemm,
            const Tile          *t,
            guint32              cap,
            guint64              bytes)
{
  guint64 sums = (guint64) drape_div_up (gemm->m, t->bm) * t->bm * drape_div_up (gemm->n, t->bn) *
                 t->bn * sizeof (float) * MAX (gemm->phases, 1);
  guint32 most = gemm->split_ok ? MIN (cap, drape_div_up (gemm->k, t->bk)) : 1;

  while (most > 1 && most * sums > bytes)
    most--;
  return MAX (most, 1);
}

/* How many workgroups fill the device: TILES_PER_UNIT per compute
 * unit, or MIN_TILES where the driver does not count them. */
static guint64
min_tiles (const DrapeDeviceCaps *caps)
{
  return caps->compute_units > 0 ? (guint64) TILES_PER_UNIT * caps->compute_units : MIN_TILES;
}

/* The most slices the cost model (and tuning) weighs for tile t, in
 * powers of two up to it: at most `cap`, each of at least
 * MIN_SLICE_STAGES stages, their sums within SPLIT_SCRATCH bytes. */
static guint32
split_most (const DrapeConvGemm *gemm,
            const Tile          *t,
            guint32              cap,
            guint64              binding_limit)
{
  return max_slices (gemm, t, MIN (cap, drape_div_up (gemm->k, t->bk) / MIN_SLICE_STAGES),
                     MIN (SPLIT_SCRATCH, binding_limit));
}

/* The tile and slices DRAPE_CONV_KERNEL names, else the cheapest, in
 * at most `cap` slices; FALSE where no tile fits. */
static gboolean
choose_tile (const DrapeDeviceCaps *caps,
             const DrapeConvGemm   *gemm,
             const char            *forced,
             guint64                binding_limit,
             guint32                cap,
             const Tile           **tile,
             guint32               *slices)
{
  guint n_tiles;
  const Tile *tiles = kind_tiles (gemm->geglu, &n_tiles);
  double best_cost = G_MAXDOUBLE;
  gboolean listed = FALSE;
  Forced f;

  *tile = NULL;
  /* A tile this kind of GEMM does not list (GEGLU's differ) leaves it
   * to the cost model: comparisons then time the rest unchanged. */
  if (parse_forced (forced, &f))
    for (guint i = 0; i < n_tiles && !listed; i++)
      listed = forced_names (&f, &tiles[i]);
  if (!listed)
    f = (Forced) { 0 };
  for (guint i = 0; i < n_tiles; i++)
    {
      const Tile *t = &tiles[i];
      guint64 count = (guint64) drape_div_up (gemm->m, t->bm) * drape_div_up (gemm->n, t->bn) *
                      MAX (gemm->phases, 1);

      /* coopmat:BMxBN takes the stage the layer would, xBK that stage. */
      if (!tile_fits (caps, t, gemm->geglu) || (f.bm != 0 ? !forced_matches (&f, t) : t->efficiency == 0))
        continue;
      if (f.bm != 0 && (f.slices != 0 || t->efficiency == 0))
        {
          guint32 s = max_slices (gemm, t, MAX (f.slices, 1), binding_limit);

          if (f.bk != 0 || tile_suits (t, gemm, s))
            {
              *tile = t;
              *slices = s;
              return TRUE;
            }
          continue;
        }
      guint32 most = split_most (gemm, t, cap, binding_limit);

      for (guint32 s = 1; s <= most; s *= 2)
        {
          if (f.bk == 0 && !tile_suits (t, gemm, s))
            continue;
          double cost = (double) MAX (count * s, min_tiles (caps)) * t->bm * t->bn /
                        (t->efficiency * s) * (s > 1 ? SPLIT_COST : 1.0);

          if (cost < best_cost)
            {
              best_cost = cost;
              *tile = t;
              *slices = s;
            }
        }
    }
  return *tile != NULL;
}

/* A way to run a GEMM on tensor cores: a tile, and slices of K; or a
 * tile of conv2d_coopmat2.comp. */
typedef struct {
  const Tile *tile;
  guint32 slices;
  const WorkgroupTile *wg;
  char *name;  /* as DRAPE_CONV_KERNEL would force it */
} Way;

static void
way_clear (Way *w)
{
  g_free (w->name);
}

/* What a tuning tells apart: everything the ways' speed depends on.
 * Where `ways` offer conv2d_coopmat2.comp, whose patches follow the
 * images' shape, that too. */
static char *
gemm_problem (const DrapeConvGemm *gemm,
              GArray              *ways)
{
  g_autofree char *images = NULL;

  for (guint i = 0; i < ways->len && images == NULL; i++)
    if (g_array_index (ways, Way, i).wg != NULL)
      images = g_strdup_printf (" images of %ux%u", gemm->oh, gemm->ow);
  return g_strdup_printf ("%s f16 M%u N%u K%u C%u%s%s%s%s", gemm->op, gemm->m, gemm->n, gemm->k,
                          gemm->cin_g, gemm->phases > 1 ? " x4" : "", gemm->split_ok ? "" : " whole-K",
                          gemm->out_f32 ? " f32-out" : "", images != NULL ? images : "");
}

/* Every tile of conv2d_coopmat2.comp that suits the GEMM, then every
 * tile that fits, in each split the cost model weighs (any stage, for
 * tuning measures what the rules would rule out).  The workgroup-scope
 * tiles come first: a tuning cut short by its deadline has timed each
 * problem's first ways alone (its trial t takes every problem's way t),
 * and those are the ones no GPU has timed yet. */
static GArray *
gemm_ways (const DrapeDeviceCaps *caps,
           const DrapeConvGemm   *gemm,
           guint64                binding_limit,
           guint32                cap)
{
  guint n_tiles, n_wg_tiles;
  const Tile *tiles = kind_tiles (gemm->geglu, &n_tiles);
  const WorkgroupTile *wg_tiles = kind_workgroup_tiles (gemm->geglu, &n_wg_tiles);
  GArray *ways = g_array_new (FALSE, FALSE, sizeof (Way));

  g_array_set_clear_func (ways, (GDestroyNotify) way_clear);
  for (guint i = 0; i < n_wg_tiles; i++)
    {
      const WorkgroupTile *t = &wg_tiles[i];
      Way w = { NULL, 1, t, NULL };

      if (!workgroup_suits (caps, gemm, t))
        continue;
      w.name = g_strdup_printf ("coopmat2:%ux%ux%u", t->bm, t->bn, t->bk);
      g_array_append_val (ways, w);
    }
  for (guint i = 0; i < n_tiles; i++)
    {
      const Tile *t = &tiles[i];
      guint32 most;

      if (!tile_fits (caps, t, gemm->geglu))
        continue;
      most = split_most (gemm, t, cap, binding_limit);
      for (guint32 s = 1; s <= most; s *= 2)
        {
          Way w = { t, s, NULL, NULL };

          w.name = tile_ahead (t) > 1
                     ? g_strdup_printf ("coopmat:%ux%ux%u+%u/%u", t->bm, t->bn, t->bk, tile_ahead (t), s)
                     : g_strdup_printf ("coopmat:%ux%ux%u/%u", t->bm, t->bn, t->bk, s);
          g_array_append_val (ways, w);
        }
    }
  return ways;
}

/* The cost model's tile and slices, or the tuning's way where it names
 * one, which may be a tile of conv2d_coopmat2.comp (*wg; else NULL)
 * (drape_graph_choose: the caller ends the choice). */
static gboolean
choose_way (DrapeGraph            *graph,
            const DrapeDeviceCaps *caps,
            const DrapeConvGemm   *gemm,
            guint32                cap,
            const Tile           **tile,
            guint32               *slices,
            const WorkgroupTile  **wg)
{
  guint64 limit = drape_graph_binding_limit (graph);
  g_autoptr(GArray) ways = NULL;
  g_autofree const char **names = NULL;
  g_autofree char *problem = NULL;
  guint usual = 0;

  if (!choose_tile (caps, gemm, NULL, limit, cap, tile, slices))
    return FALSE;
  ways = gemm_ways (caps, gemm, limit, cap);
  names = g_new (const char *, ways->len);
  for (guint i = 0; i < ways->len; i++)
    {
      const Way *w = &g_array_index (ways, Way, i);

      names[i] = w->name;
      if (w->wg == NULL && w->tile == *tile && w->slices == *slices)
        usual = i;
    }
  problem = gemm_problem (gemm, ways);
  {
    const Way *w = &g_array_index (ways, Way, drape_graph_choose (graph, problem, names, ways->len, usual));

    *tile = w->tile;
    *slices = w->slices;
    *wg = w->wg;
  }
  return TRUE;
}

/* conv2d_coopmat2.comp in tile t, for a GEMM it suits; FALSE where the
 * device will not build it. */
static gboolean
workgroup_select (DrapeGraph          *graph,
                  const DrapeConvGemm *gemm,
                  const WorkgroupTile *t,
                  DrapeConvCoopmat    *out)
{
  guint32 patch_w = workgroup_patch_w (gemm, t->bm);
  guint32 spec[] = { t->invocations, 1, 1, t->bm, t->bn, t->bk, gemm->geglu, patch_w };
  g_autofree char *label = g_strconcat (gemm->op, ".coopmat2", NULL);

  *out = (DrapeConvCoopmat) {
    .kernel = drape_graph_kernel_optional (graph, "conv2d_coopmat2", "f16_khr", gemm->n_bindings, 0, spec,
                                           G_N_ELEMENTS (spec)),
    .tile_m = t->bm,
    .tile_n = t->bn,
    .patch_w = patch_w,
    .label = g_intern_string (label),
    .slices = 1,
    .slice_stages = drape_div_up (gemm->k, t->bk),
  };
  return out->kernel != NULL;
}

guint64
drape_conv_coopmat_tiles (const DrapeConvCoopmat *coop,
                          guint32                 m,
                          guint32                 rows,
                          guint32                 ow,
                          guint32                 tiles_n)
{
  guint32 ph;

  if (coop->patch_w == 0)
    return (guint64) drape_div_up (m, coop->tile_m) * tiles_n;
  ph = coop->tile_m / coop->patch_w;
  return (guint64) (m / ((guint64) rows * ow)) * drape_div_up (rows, ph) * drape_div_up (ow, coop->patch_w) *
         tiles_n;
}

gboolean
drape_conv_coopmat_select (DrapeGraph          *graph,
                           const DrapeConvGemm *gemm,
                           DrapeConvCoopmat    *out)
{
  const DrapeDeviceCaps *caps = drape_device_get_caps (drape_graph_get_device (graph));
  const char *forced = drape_graph_get_choice (graph, "DRAPE_CONV_KERNEL");
  const char *cap_env = g_getenv ("DRAPE_CONV_SPLIT");
  guint32 cap = cap_env != NULL ? (guint32) CLAMP (g_ascii_strtoull (cap_env, NULL, 10), 1, MAX_SLICES)
                                : MAX_SLICES;
  g_autofree char *label = NULL;
  const WorkgroupTile *wg = workgroup_forced (forced, gemm->geglu);
  const Tile *tile;
  guint32 slices;

  if (caps->coopmat == DRAPE_COOPMAT_NONE || gemm->dtype != DRAPE_DTYPE_F16 ||
      gemm->cin_g == 0 || !drape_graph_ok (graph))
    return FALSE;
  if (forced != NULL && !g_str_has_prefix (forced, "coopmat"))
    return FALSE;
  /* A forced coopmat2 tile that does not suit the GEMM leaves it to the
   * cost model, as a coopmat tile its kind does not list does. */
  if (wg != NULL && workgroup_suits (caps, gemm, wg) && workgroup_select (graph, gemm, wg, out))
    return TRUE;
  wg = NULL;
  if (forced != NULL ? !choose_tile (caps, gemm, forced, drape_graph_binding_limit (graph), cap, &tile, &slices)
                     : !choose_way (graph, caps, gemm, cap, &tile, &slices, &wg))
    return FALSE;
  if (wg != NULL)
    return workgroup_select (graph, gemm, wg, out);

  {
    guint32 spec[] = {
      tile_invocations (caps, tile), 1, 1, tile->bm, tile->bn, tile->wm, tile->wn, gemm->geglu,
      caps->coopmat_subgroup_size, caps->coopmat_m, caps->coopmat_n, caps->coopmat_k, gemm->vec_out,
      slices > 1, gemm->cin_g % 8 == 0, tile->bk, tile_stages (caps, tile, gemm->geglu),
      tile_ahead (tile), gemm->out_f32, gemm->subpixel,
    };
    /* A device that will not build it leaves the work to conv2d.comp. */
    out->kernel = drape_graph_kernel_optional (graph, "conv2d_coopmat", drape_coopmat_variant (caps),
                                               gemm->n_bindings, 0, spec, G_N_ELEMENTS (spec));
  }
  if (out->kernel == NULL)
    return FALSE;
  out->tile_m = tile->bm;
  out->tile_n = tile->bn;
  out->patch_w = 0;
  label = g_strconcat (gemm->op, ".coopmat", NULL);
  out->label = g_intern_string (label);
  out->slices = 1;
  out->slice_stages = drape_div_up (gemm->k, tile->bk);
  out->sum_kernel = NULL;
  if (slices > 1)
    {
      guint32 spec[] = { DRAPE_CONV_SUM_LOCAL, 1, 1, tile->bm, tile->bn, gemm->vec_out, gemm->subpixel };
      g_autofree char *sum_label = g_strconcat (gemm->op, ".split_sum", NULL);

      out->sum_kernel = drape_graph_kernel (graph, "conv2d_split_sum", DRAPE_DTYPE_F16, gemm->n_bindings,
                                            spec, G_N_ELEMENTS (spec));
      if (out->sum_kernel == NULL)
        return FALSE;
      out->slice_stages = drape_div_up (out->slice_stages, slices);
      /* Slices that would have no stages are not dispatched. */
      out->slices = drape_div_up (drape_div_up (gemm->k, tile->bk), out->slice_stages);
      out->sum_label = g_intern_string (sum_label);
    }
  return TRUE;
}
