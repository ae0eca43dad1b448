/* op-attention.c: multi-head attention with an online softmax
 *
 * The tiles of shaders/attention.comp are chosen here from the head dim,
 * the storage type, the device's shared memory and its kind: the larger
 * the query block, the fewer times K and V are read; the larger the key
 * tile, the fewer barriers; the larger each thread's register blocks, the
 * fewer loads per multiply-add, which matters most on a CPU device.
 * Queries are split into dispatches whose Q and output ranges fit a
 * binding; the keys and values of one image must fit one.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "graph-private.h"
#include "op-attention-private.h"
#include "op-coopmat-private.h"
#include "ops.h"

/* Queries per workgroup and keys per tile, at most. */
#define MAX_BLOCK 64

typedef struct {
  guint32 wg, bq, bk, tpq, rq, sq, sk, qs, ks, ps;
} Tiles;

/* How a device likes its work: threads per workgroup, the registers a
 * thread may spend on its block of scores and on its outputs, and what a
 * vec4 load from shared memory costs in multiply-adds. */
typedef struct {
  guint32 wg;
  guint32 max_scores;
  guint32 max_acc;
  double load_cost;
} Profile;

/* A GPU keeps many threads resident only if each uses few registers; a
 * warp's broadcast vec4 load takes about the time of 4 multiply-adds. */
static const Profile gpu_profile = { 128, 32, 40, 4 };
/* On a CPU (lavapipe) every load from memory is a loop over the SIMD
 * lanes while registers spill cheaply to the stack, so large register
 * blocks pay: measured on lavapipe, 8 heads x 40 at 3,072 tokens, 3.1 s
 * of CPU with 32 threads and 8 x 8 blocks, 2.3 s with 8 threads and
 * 16 x 16.  But LLVM takes about 6 s to compile the latter (1.5 s the
 * former), which only large problems repay. */
static const Profile cpu_light_profile = { 32, 64, 96, 16 };
static const Profile cpu_heavy_profile = { 8, 256, 320, 16 };
#define CPU_HEAVY_PAIRS (1u << 22) /* query-key pairs, over all heads */

/* The push constants of both attention kernels (attention.comp and
 * attention_coopmat.comp). */
typedef struct {
  guint32 q_off, k_off, v_off, o_off;
  guint32 q_stride, k_stride, v_stride, o_stride;
  guint32 tq, tk;
  guint32 q_img, k_img, v_img, o_img;
  float scale;
} AttentionParams;

/* Shared memory of the shader's four arrays: Q and K or V in vec4s of
 * their storage type, P in vec4s of f32, the per-thread row maxima. */
static guint64
shared_bytes (const Tiles *t,
              gsize        es)
{
  return 4 * es * ((guint64) t->bq * t->qs + (guint64) t->bk * t->ks) +
         16 * (guint64) t->bq * t->ps + 4 * (guint64) t->bq * (t->bk / t->sk);
}

/* The S phase: an sq x sk block of scores per thread (sk a multiple of
 * 4, as P is stored in vec4s), as square as it can be, with no more
 * blocks than threads. */
static gboolean
choose_score_blocks (Tiles         *t,
                     const Profile *profile)
{
  t->sq = 1;
  t->sk = 4;
  while ((t->bq / t->sq) * (t->bk / t->sk) > profile->wg)
    {
      if (t->sk < t->bk && (t->sk <= t->sq || t->sq == t->bq))
        t->sk *= 2;
      else if (t->sq < t->bq)
        t->sq *= 2;
      else
        return FALSE;
    }
  return t->sq * t->sk <= profile->max_scores;
}

/* The PV phase: tpq threads share a block of rq rows, each owning
 * ceil (d4 / tpq) vec4s of every row's output.  Per 4 keys a thread
 * loads rq vec4s of P and 4 per owned vec4 of V and does 16 rq rd4
 * multiply-adds, some on padding when tpq does not divide d4; pick the
 * split that costs least per useful multiply-add. */
static gboolean
choose_output_blocks (Tiles         *t,
                      guint32        d4,
                      const Profile *profile)
{
  double best = G_MAXDOUBLE;

  for (guint32 tpq = 1; tpq <= profile->wg; tpq *= 2)
    {
      guint32 row_blocks = profile->wg / tpq;
      guint32 rq = t->bq / MAX (row_blocks, 1);
      guint32 rd4 = drape_div_up (d4, tpq);
      double cost;

      if (row_blocks > t->bq || rq * row_blocks != t->bq || rq * rd4 * 4 > profile->max_acc)
        continue;
      cost = (profile->load_cost * (rq + 4.0 * rd4) + 16.0 * rq * rd4) / (16.0 * rq * d4 / tpq);
      if (cost < best)
        {
          best = cost;
          t->tpq = tpq;
          t->rq = rq;
        }
    }
  return best < G_MAXDOUBLE;
}

static gboolean
choose_tiles (guint32        d,
              gsize          es,
              guint32        shared_limit,
              const Profile *profile,
              Tiles         *best)
{
  guint32 d4 = drape_div_up (d, 4);
  guint32 best_area = 0;

  for (guint32 bq = MAX_BLOCK; bq >= 1; bq /= 2)
    for (guint32 bk = MAX_BLOCK; bk >= 4; bk /= 2)
      {
        /* Odd strides in vec4s: threads reading the same column of
         * different rows hit different banks. */
        Tiles t = {
          .wg = profile->wg,
          .bq = bq,
          .bk = bk,
          .qs = d4 | 1,
          .ks = d4 | 1,
          .ps = (bk / 4) | 1,
        };

        if (bq * bk <= best_area || !choose_score_blocks (&t, profile) ||
            !choose_output_blocks (&t, d4, profile) || shared_bytes (&t, es) > shared_limit)
          continue;
        best_area = bq * bk;
        *best = t;
      }
  return best_area > 0;
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
 * offset + channels) of each, as a texel buffer where `texel`; returns
 * the element offset of the first. */
static guint32
bind_rows (DrapeBinding      *binding,
           const DrapeTensor *tensor,
           guint64            first,
           guint64            rows,
           guint32            offset,
           guint32            channels,
           gboolean           texel)
{
  gsize es = drape_dtype_size (tensor->dtype);

  return (texel ? drape_bind_texel : drape_bind) (binding, tensor, (first * tensor->c + offset) * es,
                                                  ((rows - 1) * tensor->c + channels) * es);
}

gboolean
drape_attention_split (DrapeGraph         *graph,
                       const DrapeTensor  *q,
                       const DrapeTensor  *k,
                       const DrapeTensor  *v,
                       guint32             channels,
                       guint32             rows_per_group,
                       DrapeAttentionSplit *split)
{
  const DrapeDeviceCaps *caps = drape_device_get_caps (drape_graph_get_device (graph));
  gsize es = drape_dtype_size (q->dtype);
  guint32 tq = q->h * q->w, tk = k->h * k->w;
  guint64 limit = drape_graph_binding_limit (graph);

  split->reason = NULL;
  if (limit <= caps->storage_offset_alignment)
    split->reason = "the device's binding limit is too small";
  else
    {
      limit -= caps->storage_offset_alignment;
      if (rows_fitting (limit, k->c, channels, es) < tk || rows_fitting (limit, v->c, channels, es) < tk)
        split->reason = "the keys or values of one image exceed the device's binding limit";
    }
  if (split->reason != NULL)
    return FALSE;

  /* Query rows per dispatch, as many as both Q and the output allow. */
  split->band = MIN (rows_fitting (limit, q->c, channels, es), rows_fitting (limit, channels, channels, es));
  split->band = MIN (split->band, (guint64) caps->max_workgroup_count[0] * rows_per_group);
  if (split->band == 0)
    {
      split->reason = "one token of q exceeds the device's binding limit";
      return FALSE;
    }
  if (split->band > rows_per_group)
    split->band -= split->band % rows_per_group;
  /* All images in one dispatch when every operand fits a binding whole;
   * otherwise one image at a time, its queries in bands. */
  split->whole = split->band >= tq &&
                 rows_fitting (limit, q->c, channels, es) >= (guint64) q->n * tq &&
                 rows_fitting (limit, channels, channels, es) >= (guint64) q->n * tq &&
                 rows_fitting (limit, k->c, channels, es) >= (guint64) q->n * tk &&
                 rows_fitting (limit, v->c, channels, es) >= (guint64) q->n * tk &&
                 q->n <= caps->max_workgroup_count[2];
  return TRUE;
}

void
drape_attention_record (DrapeGraph                *graph,
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
                        const char                *label)
{
  guint32 tq = q->h * q->w, tk = k->h * k->w;
  guint32 images = split->whole ? 1 : q->n;
  guint32 per_dispatch = split->whole ? q->n : 1;

  for (guint32 img = 0; img < images; img++)
    for (guint64 t0 = 0; t0 < tq; t0 += split->band)
      {
        guint32 rows = MIN (split->band, tq - t0);
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
          /* The shaders work in base 2: exp (x) = exp2 (x log2 (e)). */
          .scale = (float) (scale / G_LN2),
        };

        p.q_off = bind_rows (&bind[0], q, q_first, q_rows, q_offset, channels, FALSE);
        p.k_off = bind_rows (&bind[1], k, k_first, k_rows, k_offset, channels, texel_kv);
        p.v_off = bind_rows (&bind[2], v, k_first, k_rows, v_offset, channels, texel_kv);
        p.o_off = bind_rows (&bind[3], out, q_first, q_rows, 0, channels, FALSE);
        drape_graph_dispatch (graph, kernel, bind, &p, sizeof p, drape_div_up (rows, rows_per_group),
                              heads, per_dispatch, label, 4.0 * rows * tk * channels * per_dispatch);
        drape_graph_describe_last (graph, "q%u k%u d%u x%u %u/wg", rows, tk, channels / heads,
                                   heads * per_dispatch, rows_per_group);
      }
}

/* attention_subgroup.comp, for CPU devices (see there), where it applies:
 * subgroups of 4 to 16 lanes, the head dim from 8 to SUBGROUP_MAX_HEAD_DIM
 * and every row and offset in whole vec4s.  NULL (nothing recorded)
 * otherwise, or when the keys or values do not fit a texel binding where
 * the kernel reads them as texels (drape_graph_cpu_texels, for heads of
 * up to SUBGROUP_TEXEL_MAX_HEAD_DIM).
 * DRAPE_ATTENTION_KERNEL=tiled or subgroup forces one kernel (tests and
 * measurements).
 *
 * The kernel unrolls everything inside a block of keys, so each lane's
 * rows of Q and of the output, RQ x D floats each, are as much code as
 * registers: the queries per lane are as many as keep that within
 * SUBGROUP_ROW_FLOATS, up to 4.  Measured with tests/bench-conv on 2
 * AVX-512 cores, lavapipe of Mesa 22.3 at 512 bits, a 192x256 UNet
 * step's attention (batch 2, 8 heads), against the kernel before it
 * unrolled every loop (4 keys a lane and block then): heads of 40 at
 * 1,536 tokens, 4 queries a lane, 107-113 GFLOP/s against 41-55 (2
 * queries: 97), 6-7 s to compile from cold; heads of 80 at 384 tokens,
 * 2 queries, 87-103 against 37 (1 query: 68), 9 s; heads of 160 at 96
 * tokens, 1 query, 37 against 18, but 21 s to compile against 1 (8 keys a
 * block: 10 s, 30 GFLOP/s).  At 256 bits, 68, 49 and 30 GFLOP/s against
 * 32, 35 and 29; Mesa 26.1 at 512 bits, 103 and 67 against 52 and 53 for
 * heads of 40 and 80.  Longer heads, more code still (LLVM's time grows
 * faster than the code: 4 keys a lane took it 2 minutes for heads of
 * 40), go to attention.comp; a CPU's single head of 512, the VAE's, runs
 * as GEMMs (op-attention-gemm.c). */
#define SUBGROUP_ROW_FLOATS 160
/* The longest head one query a lane keeps within that. */
#define SUBGROUP_MAX_HEAD_DIM SUBGROUP_ROW_FLOATS
#define SUBGROUP_MAX_QUERIES 4
/* Reading K and V through texels, each row's fetches are inline gathers
 * in one straight run of code per key block, which LLVM 15 takes time
 * quadratic in to compile (mem2reg, in `perf record`); storage-buffer
 * reads are loops over the lanes, which cut it up.  Heads of 80 and 160
 * took 24-25 s each to compile that way against 10 and 21, and a cold
 * 192x256 step's first run, which builds each kernel for a few
 * patterns of texel views (HACKING.md), 121 s against 26 with texels for
 * heads of 40 alone (27 before the kernel unrolled).  Heads of 40, most
 * of a step's attention, keep them: 5 s to compile, and a 384x512 step's
 * attention 5.8 s against 6.5 with none (5.0 with all). */
#define SUBGROUP_TEXEL_MAX_HEAD_DIM 40
#define SUBGROUP_SUBGROUPS 4

static DrapeTensor *
attention_subgroup (DrapeGraph        *graph,
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
  const char *forced = drape_graph_get_choice (graph, "DRAPE_ATTENTION_KERNEL");
  guint32 d = channels / heads, sg = caps->subgroup_size, tk = k->h * k->w;
  guint32 rq = CLAMP (SUBGROUP_ROW_FLOATS / d, 1, SUBGROUP_MAX_QUERIES);
  guint32 rows_per_group = SUBGROUP_SUBGROUPS * sg * rq;
  gsize es = drape_dtype_size (q->dtype);
  gboolean texel = d <= SUBGROUP_TEXEL_MAX_HEAD_DIM && drape_graph_cpu_texels (graph);
  DrapeAttentionSplit split;
  DrapeKernel *kernel;
  DrapeTensor *out;

  if (g_strcmp0 (forced, "tiled") == 0 ||
      (!drape_device_get_info (device)->is_software && g_strcmp0 (forced, "subgroup") != 0))
    return NULL;
  /* Heads of 4 (one vec4, loops of one turn) came out wrong for every
   * lane's first query on lavapipe (Mesa 22.3): they take the tiled
   * kernel. */
  if (sg < 4 || sg > 16 || d % 4 != 0 || d < 8 || d > SUBGROUP_MAX_HEAD_DIM ||
      q->c % 4 != 0 || k->c % 4 != 0 || v->c % 4 != 0 ||
      q_offset % 4 != 0 || k_offset % 4 != 0 || v_offset % 4 != 0 ||
      !drape_attention_split (graph, q, k, v, channels, rows_per_group, &split))
    return NULL;
  /* The keys and values a dispatch binds, within a texel binding. */
  if (texel)
    {
      guint64 room = drape_graph_texel_room (graph, q->dtype);
      guint64 rows = (guint64) (split.whole ? q->n : 1) * tk;

      if (rows_fitting (room, k->c, channels, es) < rows || rows_fitting (room, v->c, channels, es) < rows)
        return NULL;
    }

  {
    guint32 spec[] = { SUBGROUP_SUBGROUPS * sg, 1, 1, d, sg, rq, caps->lane_broadcasts };
    g_autofree char *variant = g_strconcat (drape_dtype_name (q->dtype), texel ? "_texel" : "", NULL);

    /* A device that will not build it leaves the work to attention.comp. */
    kernel = drape_graph_kernel_optional (graph, "attention_subgroup", variant, 4,
                                          texel ? 1u << 1 | 1u << 2 : 0, spec, G_N_ELEMENTS (spec));
  }
  if (kernel == NULL)
    return NULL;
  out = drape_graph_tensor (graph, q->dtype, q->n, q->h, q->w, channels);
  drape_attention_record (graph, kernel, &split, q, q_offset, k, k_offset, v, v_offset, out,
                          channels, heads, scale, rows_per_group, texel, "attention.subgroup");
  return out;
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
  DrapeDevice *device = drape_graph_get_device (graph);
  const DrapeDeviceCaps *caps = drape_device_get_caps (device);
  const Profile *profile = &gpu_profile;
  DrapeDType dtype = q ? q->dtype : DRAPE_DTYPE_F32;
  guint32 spec[14], d, tq, tk;
  DrapeAttentionSplit split;
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

  /* A wide head as GEMMs, or tensor cores, where the device and the
   * problem suit them; on a CPU, the subgroup kernel. */
  out = drape_attention_gemm (graph, q, q_offset, k, k_offset, v, v_offset, channels, heads, scale);
  if (out == NULL)
    out = drape_attention_coopmat (graph, q, q_offset, k, k_offset, v, v_offset, channels, heads,
                                   scale);
  if (out == NULL)
    out = attention_subgroup (graph, q, q_offset, k, k_offset, v, v_offset, channels, heads, scale);
  if (out != NULL)
    return out;

  es = drape_dtype_size (dtype);
  d = channels / heads;
  tq = q->h * q->w;
  tk = k->h * k->w;
  if (drape_device_get_info (device)->is_software)
    profile = (guint64) q->n * heads * tq * tk >= CPU_HEAVY_PAIRS ? &cpu_heavy_profile
                                                                   : &cpu_light_profile;
  if (!choose_tiles (d, es, caps->max_shared_memory, profile, &tiles))
    {
      drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED,
                        "attention: head dim %u does not fit the device's %u bytes of shared "
                        "memory", d, caps->max_shared_memory);
      return drape_graph_placeholder (graph, dtype, q->n, q->h, q->w, channels);
    }

  if (!drape_attention_split (graph, q, k, v, channels, tiles.bq, &split))
    {
      drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED, "attention: %s (%u tokens of %u channels)",
                        split.reason, MAX (tq, tk), MAX (q->c, MAX (k->c, v->c)));
      return drape_graph_placeholder (graph, dtype, q->n, q->h, q->w, channels);
    }

  out = drape_graph_tensor (graph, dtype, q->n, q->h, q->w, channels);
  spec[0] = tiles.wg;
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
  /* Rows of whole vec4s: every row of every operand starts at a multiple
   * of 4 elements, which drape_bind() keeps (its alignment is a power of
   * two, in bytes). */
  spec[13] = d % 4 == 0 && q->c % 4 == 0 && k->c % 4 == 0 && v->c % 4 == 0 &&
             q_offset % 4 == 0 && k_offset % 4 == 0 && v_offset % 4 == 0;
  kernel = drape_graph_kernel (graph, "attention", dtype, 4, spec, G_N_ELEMENTS (spec));

  drape_attention_record (graph, kernel, &split, q, q_offset, k, k_offset, v, v_offset, out,
                          channels, heads, scale, tiles.bq, FALSE, "attention");
  return out;
}
