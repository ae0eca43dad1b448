/* op-attention-coopmat.c: flash attention on tensor cores
 *
 * shaders/attention_coopmat.comp replaces attention.comp where the
 * device has cooperative matrices (DrapeDeviceCaps.coopmat: f16 tiles
 * with f32 sums, in its shape and subgroup width), the tensors are f16
 * and the head dim is at most 160 (every head of SD1.5's UNet: 40, 80,
 * 160; and SegFormer's 64).  Larger heads would hold more Q and O
 * matrices in registers than a lane has.
 *
 * DRAPE_ATTENTION_TILE=BCxRTxNW[+2][/lazy] forces a tile: keys per
 * block, query tiles per subgroup, subgroups per workgroup, and where
 * the scores are in registers, +2 for two blocks' loads in flight and
 * /lazy for a running max that moves only past a slack (tests and
 * measurements); one the device cannot hold leaves attention to the
 * scalar kernel.  Otherwise, for heads of up to 160 dims, each kernel
 * the device has with each tile that fits is a way (drape_graph_choose,
 * named "coopmat2:BCxRTxNW[+2][/lazy]" or "coopmat:BCxRTxNW"), the
 * choice below the usual one, which a device's tuning (tuning.h) may
 * overrule.
 *
 * Tiles.  Four subgroups per workgroup.  Heads of up to 64 dims give
 * each subgroup two query tiles (of the matrix shape's m rows), so with
 * 16x16 matrices K and V are staged for 128 queries at once and every K
 * or V matrix loaded from shared memory serves two products; larger heads
 * take one tile (their Q and O matrices fill the registers).  Then the
 * largest key block (64, 32 or 16) whose K and V tiles and per-tile S and
 * P fit the device's shared memory: with 16x16 matrices, for heads of 40,
 * 80 and 160, 32, 64 and 32 keys, in 31, 46 and 33 KiB of the 48 KiB
 * NVIDIA GPUs have.  The softmax puts subgroup / m lanes on each row,
 * and each takes n / that many of its rescale factors, so a subgroup may
 * be at most m n lanes wide.
 *
 * Wide heads.  Heads of 161 to 512 dims take
 * shaders/attention_wide_coopmat.comp instead, where they are not a
 * single head (the VAE's one head of 512 runs as GEMMs by default:
 * op-attention-gemm.c): 8 subgroups (4 with
 * cooperative matrix 2) split the head dim (64 or 128 dims each for
 * 512), share two query tiles, and read
 * their slices of Q, K and V straight from the tensors, so these need
 * every row and offset in 16-byte units, at least m queries per
 * dispatch and at least one key block of keys.  Per-subgroup S and P
 * and a rescale matrix each bound the key block: 16 keys in 32 KiB with
 * 16x16 matrices.
 *
 * Scores in registers.  Where the device has cooperative matrix 2
 * (DrapeDeviceCaps.coopmat2), heads of up to 160 dims take
 * shaders/attention_coopmat2.comp: S, P and the softmax's row
 * statistics in registers, so shared memory holds only K and V,
 * double-buffered (and the output on its way out).  Its tiles differ:
 * one query tile per subgroup, the largest key block that keeps a
 * subgroup's scores to 512 (32 keys with 16x16 matrices), then 8
 * subgroups where two blocks of K and V fit shared memory, else 4: with
 * 48 KiB, 8 for heads of 40 and 80, 4 for 160.  On an H200 (session 9,
 * each tile forced) that took 127 registers a lane for heads of 40
 * (two 256-lane workgroups per SM) and ran 12% faster than two query
 * tiles in 4 subgroups (233 registers), 13% for heads of 80 (167
 * registers, against 244 with blocks of 64 keys); blocks of 64 keys or
 * 4 subgroups of one tile ran 25-50% slower.  Two blocks' loads in
 * flight (8 registers a lane more for heads of 40 in blocks of 32 keys)
 * are a way to measure: a block's products may be shorter than global
 * memory's latency, which one block ahead must hide.  So is the lazy
 * running max (coopmat2_softmax.glsl), which skips most blocks' rescales
 * of the output for a branch in every block: on the H200 (session 33,
 * with it always on and the key loop rewritten for +2, neither timed
 * before) the 24,576-token layers took 11.7 ms against session 9's 9.5,
 * so the usual way rescales every block again until the two are timed
 * apart.  Wide heads take
 * attention_wide_coopmat's "f16_cm2" variant: the partial scores still
 * meet in shared memory, but the softmax and P stay in registers;
 * blocks of 16 keys measured fastest.
 * DRAPE_ATTENTION_KERNEL=coopmat keeps the kernels that stage scores
 * in shared memory (comparisons); profiles label the two kinds
 * "attention.coopmat2" and "attention.coopmat".
 *
 * Workgroup scope.  Where the device lists workgroup-scope matrices
 * (DrapeDeviceCaps.coopmat2_workgroup), heads of up to 160 dims may
 * also take shaders/attention_workgroup.comp: the workgroup's queries,
 * scores and output as single matrices, K and V loaded through tensor
 * layouts that the driver stages, which leaves it free to use
 * warpgroup-wide tensor-core instructions and asynchronous copies on
 * Hopper, out of reach of subgroup-scope matrices.  No GPU has timed it
 * yet, so its tiles are ways for tuning ("workgroup:BRxBC") and for
 * DRAPE_ATTENTION_KERNEL=workgroup:BRxBC to force, never the usual
 * pick; profiles label it "attention.workgroup".
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
#include <string.h>

#include "op-attention-private.h"
#include "op-coopmat-private.h"

#define SUBGROUPS 4
/* attention_wide_coopmat.comp: up to 8 subgroups split heads of up to
 * 512 dims, each holding two query tiles of its slice. */
#define MAX_WIDE_HEAD_DIM 512
#define WIDE_SUBGROUPS 8
#define WIDE_QUERY_TILES 2
/* Its cooperative-matrix-2 variant with 4 subgroups (128 dims each for
 * 512) and blocks of 16 keys: measured on an H200 (tests/bench/
 * device-run.sh PLAN=sweep), the VAE encoder's attention took 15.1
 * ms instead of 22.6 with 8 subgroups and 32 keys, its decoder's 10.1
 * instead of 11.2. */
#define WIDE2_SUBGROUPS 4
#define WIDE2_KEYS 16
/* The most dims x query tiles one subgroup holds of Q and the output. */
#define WIDE_SLICE 256
/* The cooperative-matrix-2 kernels hold a block's scores and P in
 * registers: at most this many scores per subgroup by default (its
 * queries times the block's keys: 16 x 32), beside Q and the output;
 * and attention_coopmat2 gives each subgroup one query tile, in up to
 * this many subgroups (measured: see the top). */
#define COOPMAT2_SCORES 512
#define COOPMAT2_SUBGROUPS 8

typedef enum {
  KERNEL_COOPMAT,  /* attention_coopmat.comp */
  KERNEL_COOPMAT2, /* attention_coopmat2.comp */
  KERNEL_WIDE,     /* attention_wide_coopmat.comp */
  KERNEL_WIDE2,    /* its cooperative-matrix-2 variant */
  KERNEL_WORKGROUP, /* attention_workgroup.comp */
} Kernel;

/* The shader's specialisation (and the grid's rows per workgroup). */
typedef struct {
  guint32 bc;  /* keys per block */
  guint32 rt;  /* query tiles per subgroup (wide: per workgroup) */
  guint32 nw;  /* subgroups per workgroup */
  guint32 br;  /* queries per workgroup */
  guint32 ahead; /* blocks whose loads are in flight: 2, or (0) 1; attention_coopmat2 alone */
  gboolean lazy; /* the running max moves only past a slack; attention_coopmat2 alone */
  /* attention_workgroup alone: its invocations and the head dim padded. */
  guint32 invocations, dp;
} Tiles;

/* attention_workgroup.comp's tiles: queries per workgroup (br), keys
 * per block (bc) and invocations.  Each lane holds its share of three
 * br x bc f32 matrices (scores, running max, sums) and of the output:
 * with 128 invocations and 64 queries, about 92 registers' worth for
 * blocks of 32 keys and heads of 40, 148 for blocks of 64.  64 x 64 in
 * 128 is what llama.cpp's Vulkan backend gives its own flash attention
 * on these matrices on NVIDIA, whose granularity in workgroups of 256
 * is 32 (it notes), which pads heads of 40 to 64 there. */
static const Tiles workgroup_tiles[] = {
  { .br = 64, .bc = 32, .invocations = 128 },
  { .br = 64, .bc = 64, .invocations = 128 },
  { .br = 128, .bc = 32, .invocations = 256 },
  { .br = 128, .bc = 64, .invocations = 256 },
};

/* The head dim attention_workgroup.comp pads heads of d dims to in tile
 * t: the least multiple of 8 that both its products (Q K^T and P V) take
 * in workgroup-scope matrices; 0 where the device takes none. */
static guint32
workgroup_head_dim (const DrapeDeviceCaps *caps,
                    guint32                d,
                    const Tiles           *t)
{
  if (d > DRAPE_ATTENTION_WIDE_HEAD_DIM)
    return 0;
  for (guint32 dp = (d + 7) / 8 * 8; dp < d + 64; dp += 8)
    if (drape_coopmat2_workgroup_takes (caps, t->invocations, t->br, t->bc, dp) &&
        drape_coopmat2_workgroup_takes (caps, t->invocations, t->br, dp, t->bc))
      return dp;
  return 0;
}

/* attention_workgroup.comp's tile of br queries and bc keys, or NULL. */
static const Tiles *
find_workgroup_tiles (guint32 br,
                      guint32 bc)
{
  for (guint i = 0; i < G_N_ELEMENTS (workgroup_tiles); i++)
    if (workgroup_tiles[i].br == br && workgroup_tiles[i].bc == bc)
      return &workgroup_tiles[i];
  return NULL;
}

guint32
drape_attention_workgroup_head_dim (const DrapeDeviceCaps *caps,
                                    guint32                d,
                                    guint32                br,
                                    guint32                bc)
{
  const Tiles *t = find_workgroup_tiles (br, bc);

  return t != NULL ? workgroup_head_dim (caps, d, t) : 0;
}

static gboolean
is_wide (guint32 d)
{
  return d > DRAPE_ATTENTION_WIDE_HEAD_DIM;
}

/* `forced`: DRAPE_ATTENTION_KERNEL's value. */
static Kernel
choose_kernel (const DrapeDeviceCaps *caps,
               guint32                d,
               const char            *forced)
{
  gboolean coopmat2 = caps->coopmat2 && g_strcmp0 (forced, "coopmat") != 0;

  if (is_wide (d))
    return coopmat2 ? KERNEL_WIDE2 : KERNEL_WIDE;
  return coopmat2 ? KERNEL_COOPMAT2 : KERNEL_COOPMAT;
}

static gboolean
scores_in_registers (Kernel kernel)
{
  return kernel == KERNEL_COOPMAT2 || kernel == KERNEL_WIDE2;
}

static guint64
shared_bytes (const DrapeDeviceCaps *caps,
              guint32                d,
              Kernel                 kernel,
              const Tiles           *t)
{
  guint32 dq = MAX (caps->coopmat_n, caps->coopmat_k);
  guint32 dp = (d + dq - 1) / dq * dq;
  guint64 mn = (guint64) caps->coopmat_m * caps->coopmat_n;
  /* K and V rows of dp + 8 halves. */
  guint64 kv = 2ull * t->bc * (dp + 8) * 2;
  /* S (f32) per subgroup and query tile, and P (f16). */
  guint64 s = (guint64) t->nw * t->rt * caps->coopmat_m * t->bc * 4;
  guint64 sp = s / 4 * (4 + 2);

  switch (kernel)
    {
    case KERNEL_COOPMAT:
      return kv + sp;
    case KERNEL_COOPMAT2:
      /* Two blocks of K and V, an f32 output matrix per subgroup. */
      return 2 * kv + t->nw * mn * 4;
    case KERNEL_WIDE2:
      /* The partial S alone. */
      return s;
    case KERNEL_WIDE:
    default:
      /* A rescale matrix per subgroup. */
      return sp + t->nw * mn * 4;
    }
}

static gboolean
tile_fits (const DrapeDeviceCaps *caps,
           guint32                d,
           guint32                keys,
           Kernel                 kernel,
           const Tiles           *t)
{
  guint32 sg = caps->coopmat_subgroup_size;

  /* Wide heads split into whole matrices per subgroup, few enough to
   * stay in registers, and need a whole key block. */
  if (is_wide (d) &&
      (d % t->nw != 0 || (d / t->nw) % MAX (caps->coopmat_n, caps->coopmat_k) != 0 ||
       d / t->nw * t->rt > WIDE_SLICE || t->bc > keys))
    return FALSE;
  return t->nw * sg <= caps->max_workgroup_invocations && sg <= caps->coopmat_m * caps->coopmat_n &&
         shared_bytes (caps, d, kernel, t) <= caps->max_shared_memory;
}

gboolean
drape_attention_coopmat_tile_fits (const DrapeDeviceCaps *caps,
                                   guint32                d,
                                   guint32                keys,
                                   guint32                bc,
                                   guint32                rt,
                                   guint32                nw,
                                   const char            *kernel)
{
  Tiles t = { .bc = bc, .rt = rt, .nw = nw };

  return tile_fits (caps, d, keys, choose_kernel (caps, d, kernel), &t);
}

/* The tile `forced` names (DRAPE_ATTENTION_TILE's value), else the
 * largest key block up to `keys` that fits the default shape, for
 * `kernel`; FALSE when none fits. */
static gboolean
choose_tiles (const DrapeDeviceCaps *caps,
              guint32                d,
              guint32                keys,
              Kernel                 kernel,
              const char            *forced,
              Tiles                 *t)
{
  t->ahead = 0;
  t->lazy = FALSE;
  if (forced != NULL)
    {
      const char *suffix = strchr (forced, '/');
      int n = sscanf (forced, "%ux%ux%u+%u", &t->bc, &t->rt, &t->nw, &t->ahead);

      t->lazy = suffix != NULL && strcmp (suffix, "/lazy") == 0;
      if (n < 3 || t->bc % 16 != 0 || t->bc < 16 || t->bc > 128 || t->rt < 1 || t->rt > 4 ||
          t->nw < 1 || t->nw > 16 || (n == 4 && t->ahead != 2) || (suffix != NULL && !t->lazy))
        {
          g_warning ("DRAPE_ATTENTION_TILE=%s: expected BCxRTxNW[+2][/lazy], BC a multiple of 16 up to "
                     "128, RT 1 to 4, NW 1 to 16", forced);
          return FALSE;
        }
    }
  else if (is_wide (d))
    {
      t->rt = WIDE_QUERY_TILES;
      for (t->nw = kernel == KERNEL_WIDE2 ? WIDE2_SUBGROUPS : WIDE_SUBGROUPS; t->nw > 1; t->nw /= 2)
        if (d % t->nw == 0 && (d / t->nw) % MAX (caps->coopmat_n, caps->coopmat_k) == 0)
          break;
    }
  else if (kernel == KERNEL_COOPMAT2)
    t->rt = 1;
  else
    {
      t->rt = d <= 64 ? 2 : 1;
      t->nw = SUBGROUPS;
    }
  if (forced != NULL)
    {
      /* Wide: the workgroup's subgroups share its query tiles. */
      t->br = (is_wide (d) ? 1 : t->nw) * t->rt * caps->coopmat_m;
      return tile_fits (caps, d, keys, kernel, t);
    }
  /* The largest key block, then the most subgroups. */
  for (t->bc = kernel == KERNEL_WIDE2 ? WIDE2_KEYS : 64; t->bc >= 16; t->bc /= 2)
    {
      if (t->bc > 16 && scores_in_registers (kernel) &&
          t->rt * caps->coopmat_m * t->bc > COOPMAT2_SCORES)
        continue;
      if (kernel == KERNEL_COOPMAT2)
        t->nw = COOPMAT2_SUBGROUPS;
      for (;;)
        {
          t->br = (is_wide (d) ? 1 : t->nw) * t->rt * caps->coopmat_m;
          if (tile_fits (caps, d, keys, kernel, t))
            return TRUE;
          if (kernel != KERNEL_COOPMAT2 || t->nw <= SUBGROUPS)
            break;
          t->nw /= 2;
        }
    }
  return FALSE;
}

/* Whether every dispatch of `split` has at least `rows` queries: the
 * wide kernel's last query tile starts early enough to end inside. */
static gboolean
split_rows_at_least (const DrapeAttentionSplit *split,
                     guint32                    tq,
                     guint32                    rows)
{
  return MIN (split->band, tq) >= rows && (tq % split->band == 0 || tq % split->band >= rows);
}

/* The kernel of `kind` for these tiles, or NULL where the device will
 * not build it. */
static DrapeKernel *
build_kernel (DrapeGraph  *graph,
              Kernel       kind,
              guint32      d,
              const Tiles *tiles,
              gboolean     vec8)
{
  const DrapeDeviceCaps *caps = drape_device_get_caps (drape_graph_get_device (graph));
  guint32 sg = caps->coopmat_subgroup_size;

  if (kind == KERNEL_WORKGROUP)
    {
      guint32 spec[] = { tiles->invocations, 1, 1, d, tiles->dp, tiles->br, tiles->bc };

      return drape_graph_kernel_optional (graph, "attention_workgroup", "f16_khr", 4, 0, spec,
                                          G_N_ELEMENTS (spec));
    }
  else if (is_wide (d))
    {
      guint32 spec[] = {
        tiles->nw * sg, 1, 1, d, tiles->bc, tiles->rt, sg, caps->coopmat_m, caps->coopmat_n,
        caps->coopmat_k,
      };

      return drape_graph_kernel_optional (graph, "attention_wide_coopmat",
                                          kind == KERNEL_WIDE2 ? "f16_cm2" : drape_coopmat_variant (caps),
                                          4, 0, spec, G_N_ELEMENTS (spec));
    }
  else
    {
      guint32 spec[] = {
        tiles->nw * sg, 1, 1, d, tiles->bc, tiles->rt, vec8, sg, caps->coopmat_m, caps->coopmat_n,
        caps->coopmat_k, MAX (tiles->ahead, 1), tiles->lazy,
      };

      /* Cooperative matrix 2 builds on the KHR matrices alone; AHEAD
       * and LAZY, the last two constants, are its kernel's alone. */
      return kind == KERNEL_COOPMAT2
               ? drape_graph_kernel_optional (graph, "attention_coopmat2", "f16_khr", 4, 0, spec,
                                              G_N_ELEMENTS (spec))
               : drape_graph_kernel_optional (graph, "attention_coopmat", drape_coopmat_variant (caps),
                                              4, 0, spec, G_N_ELEMENTS (spec) - 2);
    }
}

/* drape_attention_coopmat()'s operands. */
typedef struct {
  const DrapeTensor *q, *k, *v;
  guint32 q_offset, k_offset, v_offset;
  guint32 channels, heads;
  float scale;
  /* 16-byte loads and stores (see drape_attention_coopmat). */
  gboolean vec8;
} Operands;

/* A way to run attention on tensor cores: a kernel and its tiles. */
typedef struct {
  Kernel kernel;
  Tiles tiles;
  char name[32];
} Way;

/* Records attention with `kernel` and `tiles`; NULL (nothing recorded)
 * where the kernel will not build, or where the operands need the
 * scalar path (then `scalar` is set). */
static DrapeTensor *
record_tiles (DrapeGraph     *graph,
              const Operands *o,
              Kernel          kind,
              const Tiles    *tiles,
              gboolean       *scalar)
{
  const DrapeDeviceCaps *caps = drape_device_get_caps (drape_graph_get_device (graph));
  guint32 d = o->channels / o->heads;
  DrapeAttentionSplit split;
  DrapeKernel *kernel;
  DrapeTensor *out;

  /* Operands the scalar kernel must split differently, or refuse with
   * its own message, go to it.  The wide kernel reads its matrices
   * straight from the tensors, 16 bytes at a time, and never past their
   * last rows. */
  *scalar = !drape_attention_split (graph, o->q, o->k, o->v, o->channels, tiles->br, &split) ||
            (is_wide (d) && (!o->vec8 || !split_rows_at_least (&split, o->q->h * o->q->w, caps->coopmat_m)));
  if (*scalar)
    return NULL;
  kernel = build_kernel (graph, kind, d, tiles, o->vec8);
  if (kernel == NULL)
    return NULL;
  out = drape_graph_tensor (graph, DRAPE_DTYPE_F16, o->q->n, o->q->h, o->q->w, o->channels);
  drape_attention_record (graph, kernel, &split, o->q, o->q_offset, o->k, o->k_offset, o->v, o->v_offset,
                          out, o->channels, o->heads, o->scale, tiles->br, FALSE,
                          kind == KERNEL_WORKGROUP ? "attention.workgroup"
                          : scores_in_registers (kind) ? "attention.coopmat2"
                                                       : "attention.coopmat");
  return out;
}

/* Heads of up to 160 dims: the workgroup-scope tiles the device takes,
 * then every kernel of `kinds` with every tile that fits (blocks of 16
 * to 64 keys, 1 or 2 query tiles per subgroup, 4 to 16 subgroups; in
 * registers, at most twice the usual scores), chosen
 * through the graph (drape_graph_choose: the caller ends the choice),
 * the usual way being the first kind's that has tiles, as
 * choose_tiles picks them; NULL where nothing was recorded. */
static DrapeTensor *
record_way (DrapeGraph     *graph,
            const Operands *o,
            const Kernel   *kinds,
            guint           n_kinds)
{
  const DrapeDeviceCaps *caps = drape_device_get_caps (drape_graph_get_device (graph));
  guint32 d = o->channels / o->heads, keys = o->k->h * o->k->w;
  g_autoptr(GArray) ways = g_array_new (FALSE, FALSE, sizeof (Way));
  g_autofree const char **names = NULL;
  g_autofree char *problem = NULL;
  guint usual = G_MAXUINT;
  gboolean usual_kind_seen = FALSE;
  const Way *w;
  gboolean scalar;

  /* Workgroup-scope matrices: ways for tuning alone, first, since no
   * GPU has timed them yet and a tuning cut short by its deadline has
   * timed each problem's first ways alone (gemm_ways in
   * op-conv-coopmat.c).  Their tensor loads take rows in 16-byte units. */
  for (guint i = 0; o->vec8 && i < G_N_ELEMENTS (workgroup_tiles); i++)
    {
      Way way = { KERNEL_WORKGROUP, workgroup_tiles[i] };

      way.tiles.dp = workgroup_head_dim (caps, d, &way.tiles);
      if (way.tiles.dp == 0)
        continue;
      g_snprintf (way.name, sizeof way.name, "workgroup:%ux%u", way.tiles.br, way.tiles.bc);
      g_array_append_val (ways, way);
    }
  for (guint i = 0; i < n_kinds; i++)
    {
      Tiles usual_tiles;
      gboolean usual_kind = !usual_kind_seen && choose_tiles (caps, d, keys, kinds[i], NULL, &usual_tiles);

      usual_kind_seen = usual_kind_seen || usual_kind;
      for (guint32 bc = 16; bc <= 64; bc *= 2)
        for (guint32 rt = 1; rt <= 2; rt++)
          for (guint32 nw = 4; nw <= 16; nw *= 2)
            for (guint32 ahead = 1; ahead <= (kinds[i] == KERNEL_COOPMAT2 ? 2 : 1); ahead++)
              for (gboolean lazy = FALSE; lazy <= (kinds[i] == KERNEL_COOPMAT2); lazy++)
                {
                  Way way = { kinds[i], { bc, rt, nw, nw * rt * caps->coopmat_m, ahead, lazy } };

                  if ((scores_in_registers (kinds[i]) && rt * caps->coopmat_m * bc > 2 * COOPMAT2_SCORES) ||
                      !tile_fits (caps, d, keys, kinds[i], &way.tiles))
                    continue;
                  if (usual_kind && bc == usual_tiles.bc && rt == usual_tiles.rt && nw == usual_tiles.nw &&
                      ahead == MAX (usual_tiles.ahead, 1) && lazy == usual_tiles.lazy)
                    usual = ways->len;
                  g_snprintf (way.name, sizeof way.name, "%s:%ux%ux%u%s%s",
                              scores_in_registers (kinds[i]) ? "coopmat2" : "coopmat", bc, rt, nw,
                              ahead > 1 ? "+2" : "", lazy ? "/lazy" : "");
                  g_array_append_val (ways, way);
                }
    }
  if (usual == G_MAXUINT)
    return NULL;
  names = g_new (const char *, ways->len);
  for (guint i = 0; i < ways->len; i++)
    names[i] = g_array_index (ways, Way, i).name;
  problem = g_strdup_printf ("attention f16 Q%u K%u D%u H%u N%u", o->q->h * o->q->w, keys, d, o->heads,
                             o->q->n);
  w = &g_array_index (ways, Way, drape_graph_choose (graph, problem, names, ways->len, usual));
  return record_tiles (graph, o, w->kernel, &w->tiles, &scalar);
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
  Operands o = { q, k, v, q_offset, k_offset, v_offset, channels, heads, scale, FALSE };
  const char *forced = drape_graph_get_choice (graph, "DRAPE_ATTENTION_KERNEL");
  const char *forced_tile = drape_graph_get_choice (graph, "DRAPE_ATTENTION_TILE");
  const Tiles *wt;
  guint32 br, bc;
  Kernel kinds[2];
  guint n_kinds = 0;

  if (caps->coopmat == DRAPE_COOPMAT_NONE || q->dtype != DRAPE_DTYPE_F16 ||
      d > MAX_WIDE_HEAD_DIM || !drape_graph_ok (graph))
    return NULL;

  /* 16-byte loads and stores: every row and channel offset a multiple
   * of 8 halves, which the bound ranges keep (tensors start 256-byte
   * aligned; drape_bind() aligns down to a power of two). */
  o.vec8 = d % 8 == 0 && q->c % 8 == 0 && k->c % 8 == 0 && v->c % 8 == 0 &&
           q_offset % 8 == 0 && k_offset % 8 == 0 && v_offset % 8 == 0;
  /* The scores in registers where the device can; the kernels that stage
   * them in shared memory where it cannot, or will not build those. */
  kinds[n_kinds++] = choose_kernel (caps, d, forced);
  if (scores_in_registers (kinds[0]))
    kinds[n_kinds++] = is_wide (d) ? KERNEL_WIDE : KERNEL_COOPMAT;

  /* DRAPE_ATTENTION_KERNEL=workgroup:BRxBC forces a tile of
   * attention_workgroup.comp where the device takes it; elsewhere the
   * usual tiles below run. */
  if (forced != NULL && sscanf (forced, "workgroup:%ux%u", &br, &bc) == 2 && o.vec8 &&
      (wt = find_workgroup_tiles (br, bc)) != NULL)
    {
      Tiles tiles = *wt;
      gboolean scalar;

      tiles.dp = workgroup_head_dim (caps, d, &tiles);
      if (tiles.dp > 0)
        {
          DrapeTensor *out = record_tiles (graph, &o, KERNEL_WORKGROUP, &tiles, &scalar);

          if (out != NULL || scalar || !drape_graph_ok (graph))
            return out;
        }
    }
  /* Heads of up to 160 dims choose among ways (the tuning's, else the
   * usual one); unless forced, which goes below, as does what that
   * leaves unrecorded. */
  if (!is_wide (d) && forced_tile == NULL && forced == NULL)
    {
      DrapeTensor *out = record_way (graph, &o, kinds, n_kinds);

      drape_graph_end_choice (graph);
      if (out != NULL || !drape_graph_ok (graph))
        return out;
    }
  for (guint i = 0; i < n_kinds; i++)
    {
      DrapeTensor *out;
      gboolean scalar;
      Tiles tiles;

      if (!choose_tiles (caps, d, k->h * k->w, kinds[i], forced_tile, &tiles))
        continue;
      out = record_tiles (graph, &o, kinds[i], &tiles, &scalar);
      if (out != NULL || scalar || !drape_graph_ok (graph))
        return out;
    }
  return NULL;
}
