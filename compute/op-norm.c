/* op-norm.c: group norm, layer norm and softmax over channels
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "graph-private.h"
#include "ops.h"

/* Threads a group-norm statistics workgroup aims for, and the vector
 * loads each makes: enough chunks for hundreds of workgroups at a UNet's
 * smallest latent, few enough merges at the end. */
#define STATS_LOCAL 256
#define STATS_LOADS 32
/* The most vectors of a row one statistics thread owns. */
#define STATS_MAX_CPT 16
#define FINISH_LOCAL 128
#define APPLY_LOCAL 64
/* Positions one apply thread walks: its channels' statistics are loaded
 * once for all of them. */
#define APPLY_POSITIONS 16
#define ROW_LOCAL 64
#define ROW_GPU_LOADS 8
#define ROW_CPU_LOADS 16
/* Rows each layer norm or softmax thread walks. */
#define ROW_ITERATIONS 4

typedef struct {
  guint32 x_off, c, cpg, groups, hw, chunk, chunks, first, band_pos, end;
} StatsParams;

typedef struct {
  guint32 c, cpg, groups, hw, chunk, chunks;
  float eps;
} FinishParams;

typedef struct {
  guint32 x_off, o_off, positions, c, hw, band_pos;
} ApplyParams;

typedef struct {
  guint32 rows, x_off, o_off, c;
  float eps;
  guint32 s_off;
} RowParams;

/* The bytes a binding may span once drape_bind() has aligned its start
 * down. */
static guint64
usable_limit (DrapeGraph *graph)
{
  const DrapeDeviceCaps *caps = drape_device_get_caps (drape_graph_get_device (graph));

  return drape_graph_binding_limit (graph) - caps->storage_offset_alignment;
}

/* gamma and beta: x's dtype, c values, as [1, 1, 1, c]. */
static gboolean
check_affine (DrapeGraph        *graph,
              const char        *op,
              const DrapeTensor *x,
              const DrapeTensor *gamma,
              const DrapeTensor *beta)
{
  const DrapeTensor *params[] = { gamma, beta };
  const char *names[] = { "gamma", "beta" };

  for (guint i = 0; i < 2; i++)
    {
      const DrapeTensor *t = params[i];

      if (!drape_graph_check_tensor (graph, op, names[i], t))
        return FALSE;
      if (t->dtype != x->dtype)
        {
          drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT, "%s: %s is %s but x is %s", op,
                            names[i], drape_dtype_name (t->dtype), drape_dtype_name (x->dtype));
          return FALSE;
        }
      if (t->n != 1 || t->h != 1 || t->w != 1 || t->c != x->c)
        {
          drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                            "%s: %s is [%u %u %u %u], expected [1 1 1 %u]", op, names[i],
                            t->n, t->h, t->w, t->c, x->c);
          return FALSE;
        }
      if (drape_tensor_bytes (t) > usable_limit (graph))
        {
          drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED,
                            "%s: %s is larger than the device's binding limit", op, names[i]);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
check_x (DrapeGraph        *graph,
         const char        *op,
         const DrapeTensor *x)
{
  if (!drape_graph_check_tensor (graph, op, "x", x))
    return FALSE;
  if (drape_tensor_numel (x) > G_MAXUINT32)
    {
      drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED, "%s: x has more than 2^32 values", op);
      return FALSE;
    }
  if ((guint64) x->c * drape_dtype_size (x->dtype) > usable_limit (graph))
    {
      drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED,
                        "%s: one position's %u channels exceed the device's binding limit",
                        op, x->c);
      return FALSE;
    }
  return TRUE;
}

static DrapeTensor *
placeholder_like (DrapeGraph        *graph,
                  const DrapeTensor *x)
{
  return drape_graph_placeholder (graph, x ? x->dtype : DRAPE_DTYPE_F32, x ? x->n : 1,
                                  x ? x->h : 1, x ? x->w : 1, x ? x->c : 1);
}

/* The widest vector (4, 2 or 1 values) that divides n. */
static guint32
vector_width (guint32 n)
{
  return n % 4 == 0 ? 4 : n % 2 == 0 ? 2 : 1;
}

/* The statistics pass's workgroup for rows of `vectors` vectors:
 * spec = { threads, 1, 1, VW, CPT, ROWS } (shaders/group_norm_stats.comp).
 * Narrow rows are read several at once, wide ones CPT vectors a thread.
 * FALSE where the device cannot hold the workgroup. */
static gboolean
stats_layout (const DrapeDeviceCaps *caps,
              guint32                vectors,
              guint32                spec[6])
{
  guint32 cpt = drape_div_up (vectors, STATS_LOCAL);
  guint32 lc, rows;

  if (cpt > STATS_MAX_CPT)
    cpt = STATS_MAX_CPT;
  lc = drape_div_up (vectors, cpt);
  rows = MAX (1, STATS_LOCAL / lc);
  spec[0] = lc * rows;
  spec[1] = spec[2] = 1;
  spec[4] = cpt;
  spec[5] = rows;
  return spec[0] <= caps->max_workgroup_invocations && spec[0] <= caps->max_workgroup_size[0] &&
         (guint64) rows * (lc * cpt * 2 + 1) * 4 <= caps->max_shared_memory;
}

/* Group norm runs in three passes: partial statistics per (image, group,
 * chunk of positions), one workgroup per (image, chunk) for all groups;
 * their merge into a mean and scale per (image, channel); and the
 * elementwise apply.  The partials let many workgroups share the reading
 * of one group, and both passes over x split it into bands that fit a
 * binding (a VAE decoder's 128 x 1024 x 768 f32 activation is 400 MB).
 * The apply pass reads each element before writing the same element, so
 * its output may be x itself. */
typedef struct {
  guint32 n, c, groups, cpg;
  guint32 hw;      /* positions per image */
  guint32 chunk;   /* positions per chunk */
  guint32 chunks;  /* chunks per image */
  guint32 spec[6]; /* the statistics kernel's (stats_layout) */
} NormPlan;

/* The statistics kernel's layout and the tensors' limits for n images of
 * hw positions and c channels in `groups`; chunk 0 picks the chunk size,
 * any other is kept (a band's statistics are a row's).  FALSE, with the
 * graph failed, where the device cannot run it. */
static gboolean
norm_plan (DrapeGraph *graph,
           DrapeDType  dtype,
           guint32     n,
           guint32     hw,
           guint32     c,
           guint32     groups,
           guint32     chunk,
           NormPlan   *plan)
{
  const char *op = "group_norm";
  guint64 limit = usable_limit (graph);
  guint64 pos_max = limit / drape_dtype_size (dtype) / c;

  if (groups == 0 || c % groups != 0)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "%s: %u channels do not split into %u groups", op, c, groups);
      return FALSE;
    }
  *plan = (NormPlan) { .n = n, .c = c, .groups = groups, .cpg = c / groups, .hw = hw };
  /* Vector loads where every row of a group starts at a multiple of the
   * width, which drape_bind() keeps for bands of whole positions. */
  plan->spec[3] = vector_width (plan->cpg);
  if (!stats_layout (drape_device_get_caps (drape_graph_get_device (graph)),
                     c / plan->spec[3], plan->spec))
    {
      drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED,
                        "%s: %u channels in groups of %u are too many for the device's "
                        "workgroups", op, c, plan->cpg);
      return FALSE;
    }
  plan->chunk = chunk ? chunk : MIN (MIN (hw, plan->spec[5] * MAX (1, STATS_LOADS / plan->spec[4])),
                                     pos_max);
  plan->chunks = drape_div_up (hw, plan->chunk);
  if ((guint64) n * groups * plan->chunks * 8 > limit)
    {
      /* Fewer, larger chunks so that the partials fit one binding. */
      guint64 max_chunks = limit / 8 / ((guint64) n * groups);
      if (max_chunks > 0)
        plan->chunk = drape_div_up (hw, max_chunks);
      if (max_chunks == 0 || plan->chunk > pos_max || chunk != 0)
        {
          drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED,
                            "%s: the statistics of %u images x %u groups exceed the device's "
                            "binding limit", op, n, groups);
          return FALSE;
        }
      plan->chunks = drape_div_up (hw, plan->chunk);
    }
  if (plan->chunk > pos_max)
    {
      drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED,
                        "%s: a chunk of %u positions exceeds the device's binding limit",
                        op, plan->chunk);
      return FALSE;
    }
  if ((guint64) n * c * 8 > limit)
    {
      drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED,
                        "%s: the scales of %u images x %u channels exceed the device's binding "
                        "limit", op, n, c);
      return FALSE;
    }
  return TRUE;
}

/* Pass 1 over chunks [first, first + count) (counted over all images),
 * whose positions x holds from position x_pos (counted likewise) on, in
 * bands of whole chunks; a band may cross images. */
static void
record_stats (DrapeGraph        *graph,
              const NormPlan    *plan,
              const DrapeTensor *x,
              guint64            x_pos,
              DrapeTensor       *partial,
              guint32            first,
              guint32            count)
{
  gsize es = drape_dtype_size (x->dtype);
  guint32 chunks_per_band = usable_limit (graph) / es / x->c / plan->chunk;
  DrapeKernel *kernel = drape_graph_kernel (graph, "group_norm_stats", x->dtype, 2, plan->spec,
                                            G_N_ELEMENTS (plan->spec));

  for (guint32 f = first; f < first + count; f += chunks_per_band)
    {
      guint32 n_band = MIN (chunks_per_band, first + count - f);
      guint32 last = f + n_band - 1;
      guint64 pos0 = (guint64) (f / plan->chunks) * plan->hw + (guint64) (f % plan->chunks) * plan->chunk;
      guint64 pos1 = (guint64) (last / plan->chunks) * plan->hw +
                     MIN ((guint64) (last % plan->chunks + 1) * plan->chunk, plan->hw);
      DrapeBinding bind[2];
      StatsParams p = {
        .c = plan->c,
        .cpg = plan->cpg,
        .groups = plan->groups,
        .hw = plan->hw,
        .chunk = plan->chunk,
        .chunks = plan->chunks,
        .first = f,
        .band_pos = pos0,
        .end = f + n_band,
      };

      p.x_off = drape_bind (&bind[0], x, (pos0 - x_pos) * x->c * es, (pos1 - pos0) * x->c * es);
      drape_bind_all (&bind[1], partial);
      drape_graph_dispatch_flat (graph, kernel, bind, &p, sizeof p, n_band, 1,
                                 "group_norm_stats", (double) (pos1 - pos0) * x->c * 3);
    }
}

/* Pass 2: the partials into (mean, rstd * gamma) per (image, channel). */
static DrapeTensor *
record_finish (DrapeGraph        *graph,
               const NormPlan    *plan,
               const DrapeTensor *partial,
               const DrapeTensor *gamma,
               float              eps)
{
  guint32 spec[] = { FINISH_LOCAL, 1, 1 };
  DrapeTensor *affine = drape_graph_tensor (graph, DRAPE_DTYPE_F32, 1, 1, plan->n * plan->c, 2);
  DrapeKernel *kernel = drape_graph_kernel (graph, "group_norm_finish", gamma->dtype, 3, spec,
                                            G_N_ELEMENTS (spec));
  DrapeBinding bind[3];
  FinishParams p = {
    .c = plan->c,
    .cpg = plan->cpg,
    .groups = plan->groups,
    .hw = plan->hw,
    .chunk = plan->chunk,
    .chunks = plan->chunks,
    .eps = eps,
  };

  drape_bind_all (&bind[0], partial);
  drape_bind_all (&bind[1], gamma);
  drape_bind_all (&bind[2], affine);
  drape_graph_dispatch (graph, kernel, bind, &p, sizeof p, plan->groups, plan->n, 1,
                        "group_norm_finish", (double) plan->n * plan->groups * plan->chunks * 8);
  return affine;
}

/* Pass 3, over bands of positions; a band may cross images. */
static void
record_apply (DrapeGraph        *graph,
              const DrapeTensor *x,
              const DrapeTensor *affine,
              const DrapeTensor *beta,
              gboolean           silu,
              DrapeTensor       *out)
{
  guint32 spec[] = { APPLY_LOCAL, 1, 1, silu ? 1 : 0, vector_width (x->c), APPLY_POSITIONS };
  DrapeKernel *kernel = drape_graph_kernel (graph, "group_norm_apply", x->dtype, 4, spec,
                                            G_N_ELEMENTS (spec));
  gsize es = drape_dtype_size (x->dtype);
  guint64 pos_max = usable_limit (graph) / es / x->c;
  guint32 hw = x->h * x->w;

  for (guint64 start = 0; start < (guint64) x->n * hw; start += pos_max)
    {
      guint32 count = MIN (pos_max, (guint64) x->n * hw - start);
      guint64 at = start * x->c * es;
      DrapeBinding bind[4];
      ApplyParams p = {
        .positions = count,
        .c = x->c,
        .hw = hw,
        .band_pos = start,
      };

      p.x_off = drape_bind (&bind[0], x, at, (guint64) count * x->c * es);
      drape_bind_all (&bind[1], affine);
      drape_bind_all (&bind[2], beta);
      p.o_off = drape_bind (&bind[3], out, at, (guint64) count * x->c * es);
      drape_graph_dispatch_flat (graph, kernel, bind, &p, sizeof p,
                                 drape_div_up (count, APPLY_POSITIONS),
                                 drape_div_up (x->c / spec[4], APPLY_LOCAL), "group_norm",
                                 (double) count * x->c * (silu ? 6 : 2));
    }
}

static DrapeTensor *
group_norm (DrapeGraph        *graph,
            const DrapeTensor *x,
            const DrapeTensor *gamma,
            const DrapeTensor *beta,
            guint32            groups,
            float              eps,
            gboolean           silu,
            DrapeTensor       *in_place)
{
  const char *op = "group_norm";
  DrapeTensor *out, *partial, *affine;
  NormPlan plan;

  if (!check_x (graph, op, x) || !check_affine (graph, op, x, gamma, beta))
    return placeholder_like (graph, x);
  if (!(eps >= 0))
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT, "%s: eps %g is negative", op, eps);
      return placeholder_like (graph, x);
    }
  if (!norm_plan (graph, x->dtype, x->n, x->h * x->w, x->c, groups, 0, &plan))
    return placeholder_like (graph, x);

  out = in_place != NULL ? in_place : drape_graph_tensor (graph, x->dtype, x->n, x->h, x->w, x->c);
  partial = drape_graph_tensor (graph, DRAPE_DTYPE_F32, 1, 1, x->n * groups * plan.chunks, 2);
  record_stats (graph, &plan, x, 0, partial, 0, x->n * plan.chunks);
  affine = record_finish (graph, &plan, partial, gamma, eps);
  drape_tensor_release (partial);
  record_apply (graph, x, affine, beta, silu, out);
  drape_tensor_release (affine);
  return out;
}

DrapeTensor *
drape_op_group_norm (DrapeGraph        *graph,
                     const DrapeTensor *x,
                     const DrapeTensor *gamma,
                     const DrapeTensor *beta,
                     guint32            groups,
                     float              eps,
                     gboolean           silu)
{
  return group_norm (graph, x, gamma, beta, groups, eps, silu, NULL);
}

DrapeTensor *
drape_op_group_norm_in_place (DrapeGraph        *graph,
                              DrapeTensor       *x,
                              const DrapeTensor *gamma,
                              const DrapeTensor *beta,
                              guint32            groups,
                              float              eps,
                              gboolean           silu)
{
  return group_norm (graph, x, gamma, beta, groups, eps, silu, x);
}

/* A band's statistics are those of its rows: one chunk per row of the
 * whole activation, stats being f32 [1, groups, h, 2] (Pass 1's partials
 * for one image). */
DrapeTensor *
drape_op_group_norm_stats (DrapeGraph *graph,
                           guint32     h,
                           guint32     groups)
{
  return drape_graph_tensor (graph, DRAPE_DTYPE_F32, 1, groups, h, 2);
}

static gboolean
check_stats (DrapeGraph        *graph,
             const char        *op,
             const DrapeTensor *stats)
{
  if (!drape_graph_check_tensor (graph, op, "stats", stats))
    return FALSE;
  if (stats->dtype != DRAPE_DTYPE_F32 || stats->n != 1 || stats->c != 2)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "%s: stats [%u %u %u %u] did not come from drape_op_group_norm_stats",
                        op, stats->n, stats->h, stats->w, stats->c);
      return FALSE;
    }
  return TRUE;
}

void
drape_op_group_norm_stats_add (DrapeGraph        *graph,
                               DrapeTensor       *stats,
                               const DrapeTensor *band,
                               guint32            row0)
{
  const char *op = "group_norm_stats_add";
  NormPlan plan;

  if (!check_stats (graph, op, stats) || !check_x (graph, op, band))
    return;
  if (band->n != 1 || (guint64) row0 + band->h > stats->w)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "%s: a band [%u %u %u %u] from row %u is not one image's rows within the "
                        "%u the statistics hold", op, band->n, band->h, band->w, band->c, row0,
                        stats->w);
      return;
    }
  if (norm_plan (graph, band->dtype, 1, stats->w * band->w, band->c, stats->h, band->w, &plan))
    record_stats (graph, &plan, band, (guint64) row0 * band->w, stats, row0, band->h);
}

DrapeTensor *
drape_op_group_norm_stats_finish (DrapeGraph        *graph,
                                  const DrapeTensor *stats,
                                  guint32            w,
                                  const DrapeTensor *gamma,
                                  float              eps)
{
  const char *op = "group_norm_stats_finish";
  NormPlan plan;

  if (!check_stats (graph, op, stats) || !drape_graph_check_tensor (graph, op, "gamma", gamma) ||
      w == 0)
    return drape_graph_placeholder (graph, DRAPE_DTYPE_F32, 1, 1, 1, 2);
  if (gamma->n != 1 || gamma->h != 1 || gamma->w != 1 || !(eps >= 0))
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "%s: gamma is [%u %u %u %u], not [1 1 1 c], or eps %g is negative", op,
                        gamma->n, gamma->h, gamma->w, gamma->c, eps);
      return drape_graph_placeholder (graph, DRAPE_DTYPE_F32, 1, 1, 1, 2);
    }
  if (!norm_plan (graph, gamma->dtype, 1, stats->w * w, gamma->c, stats->h, w, &plan))
    return drape_graph_placeholder (graph, DRAPE_DTYPE_F32, 1, 1, gamma->c, 2);
  return record_finish (graph, &plan, stats, gamma, eps);
}

DrapeTensor *
drape_op_group_norm_apply (DrapeGraph        *graph,
                           DrapeTensor       *band,
                           const DrapeTensor *affine,
                           const DrapeTensor *beta,
                           gboolean           silu)
{
  const char *op = "group_norm_apply";

  if (!check_x (graph, op, band) || !drape_graph_check_tensor (graph, op, "affine", affine) ||
      !drape_graph_check_tensor (graph, op, "beta", beta))
    return placeholder_like (graph, band);
  if (band->n != 1 || affine->dtype != DRAPE_DTYPE_F32 || affine->w != band->c ||
      affine->c != 2 || beta->c != band->c || beta->dtype != band->dtype)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "%s: a band [%u %u %u %u] of one image takes the mean and scale of its "
                        "channels from drape_op_group_norm_stats_finish and a beta of its type",
                        op, band->n, band->h, band->w, band->c);
      return placeholder_like (graph, band);
    }
  record_apply (graph, band, affine, beta, silu, band);
  return band;
}

/* Layer norm and softmax: threads per row (a power of two) and loads per
 * thread and row, which it keeps in registers.  A GPU spreads a row over
 * threads, about 8 loads each; on a CPU device a sum across threads costs
 * shared memory and barriers while registers spill cheaply, so a thread
 * takes more, but not a whole row: on lavapipe 16 loads per thread ran
 * 2 x 3,072 x 320 in 13 ms against 10 ms for 96, whose pipelines took
 * LLVM seconds to compile. */
static void
split_rows (DrapeGraph *graph,
            guint32     vectors,
            guint32    *tpr,
            guint32    *nv)
{
  gboolean software = drape_device_get_info (drape_graph_get_device (graph))->is_software;
  guint32 per_thread = software ? ROW_CPU_LOADS : ROW_GPU_LOADS;

  *tpr = 1;
  while (*tpr < ROW_LOCAL && *tpr * per_thread < vectors)
    *tpr <<= 1;
  *nv = drape_div_up (vectors, *tpr);
}

/* The affine parameters a row op takes: none (softmax), one layer norm's,
 * or a chain's two (drape_op_layer_norm_add_norm). */
typedef struct {
  const DrapeTensor *gamma, *beta, *gamma2, *beta2;
  float eps;
} RowNorms;

/* Softmax's: softmax (x * scale), stored as dtype. */
typedef struct {
  float scale;
  DrapeDType dtype;
} RowSoftmax;

/* Placeholders for a row op's outputs once the graph has failed. */
static DrapeTensor *
row_op_failed (DrapeGraph        *graph,
               const DrapeTensor *x,
               DrapeTensor      **sum)
{
  if (sum != NULL)
    *sum = placeholder_like (graph, x);
  return placeholder_like (graph, x);
}

/* Layer norm (norms) or softmax (softmax, which may store f16 from
 * f32): rows of channels in bands that fit a binding.  A chain also
 * writes x + norm1 (x) to *sum. */
static DrapeTensor *
row_op (DrapeGraph        *graph,
        const char        *op,
        const DrapeTensor *x,
        const RowNorms    *norms,
        const RowSoftmax  *softmax,
        DrapeTensor      **sum)
{
  gboolean norm = norms != NULL, chain = sum != NULL;
  guint32 tpr, nv, vw, rows_per_group, n_bindings, spec[7];
  guint64 rows, band;
  DrapeTensor *out, *s = NULL;
  DrapeKernel *kernel;
  DrapeDType out_dtype;
  gsize es, out_es;

  if (!check_x (graph, op, x) || (norm && !check_affine (graph, op, x, norms->gamma, norms->beta)) ||
      (chain && !check_affine (graph, op, x, norms->gamma2, norms->beta2)))
    return row_op_failed (graph, x, sum);
  if (norm && !(norms->eps >= 0))
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT, "%s: eps %g is negative", op,
                        norms->eps);
      return row_op_failed (graph, x, sum);
    }
  if (!norm && !(softmax->scale > 0 && softmax->scale < G_MAXFLOAT))
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "%s: scale %g is not a positive number", op, softmax->scale);
      return row_op_failed (graph, x, sum);
    }
  out_dtype = norm ? x->dtype : softmax->dtype;
  if (out_dtype != x->dtype && !(x->dtype == DRAPE_DTYPE_F32 && out_dtype == DRAPE_DTYPE_F16))
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT, "%s: %s to %s is not a storage "
                        "type it writes", op, drape_dtype_name (x->dtype),
                        drape_dtype_name (out_dtype));
      return row_op_failed (graph, x, sum);
    }

  es = drape_dtype_size (x->dtype);
  out_es = drape_dtype_size (out_dtype);
  /* Vector loads: bands of whole rows keep every row at a multiple of the
   * width. */
  vw = vector_width (x->c);
  split_rows (graph, x->c / vw, &tpr, &nv);
  rows_per_group = ROW_LOCAL / tpr * ROW_ITERATIONS;
  spec[0] = ROW_LOCAL;
  spec[1] = spec[2] = 1;
  spec[3] = tpr;
  spec[4] = vw;
  spec[5] = nv;
  spec[6] = ROW_ITERATIONS;
  out = drape_graph_tensor (graph, out_dtype, x->n, x->h, x->w, x->c);
  if (chain)
    {
      s = drape_graph_tensor (graph, x->dtype, x->n, x->h, x->w, x->c);
      n_bindings = 7;
      kernel = drape_graph_kernel_variant (graph, "layer_norm",
                                           x->dtype == DRAPE_DTYPE_F16 ? "f16_chain" : "f32_chain",
                                           n_bindings, spec, G_N_ELEMENTS (spec));
    }
  else
    {
      n_bindings = norm ? 4 : 2;
      if (norm)
        kernel = drape_graph_kernel (graph, "layer_norm", x->dtype, n_bindings, spec,
                                     G_N_ELEMENTS (spec));
      else
        kernel = drape_graph_kernel_variant (graph, "softmax",
                                             out_dtype != x->dtype ? "f32_f16"
                                                                   : drape_dtype_name (x->dtype),
                                             n_bindings, spec, G_N_ELEMENTS (spec));
    }
  rows = (guint64) x->n * x->h * x->w;
  band = usable_limit (graph) / MAX (es, out_es) / x->c;
  if (band > rows_per_group)
    band -= band % rows_per_group;

  for (guint64 start = 0; start < rows; start += band)
    {
      guint64 count = MIN (band, rows - start);
      guint64 at = start * x->c * es, bytes = count * x->c * es;
      DrapeBinding bind[7];
      RowParams p = { .rows = count, .c = x->c, .eps = norm ? norms->eps : softmax->scale };

      p.x_off = drape_bind (&bind[0], x, at, bytes);
      if (norm)
        {
          drape_bind_all (&bind[1], norms->gamma);
          drape_bind_all (&bind[2], norms->beta);
        }
      p.o_off = drape_bind (&bind[norm ? 3 : 1], out, start * x->c * out_es, count * x->c * out_es);
      if (chain)
        {
          drape_bind_all (&bind[4], norms->gamma2);
          drape_bind_all (&bind[5], norms->beta2);
          p.s_off = drape_bind (&bind[6], s, at, bytes);
        }
      drape_graph_dispatch_flat (graph, kernel, bind, &p, sizeof p,
                                 drape_div_up (count, rows_per_group), 1, op,
                                 (double) count * x->c * (!norm ? 5 : chain ? 18 : 8));
    }
  if (chain)
    *sum = s;
  return out;
}

static gboolean
check_norm_params (DrapeGraph        *graph,
                   const char        *op,
                   const DrapeTensor *gamma,
                   const DrapeTensor *beta)
{
  if (gamma != NULL && beta != NULL)
    return TRUE;
  if (drape_graph_ok (graph))
    drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT, "%s: %s is missing", op,
                      gamma == NULL ? "gamma" : "beta");
  return FALSE;
}

DrapeTensor *
drape_op_layer_norm (DrapeGraph        *graph,
                     const DrapeTensor *x,
                     const DrapeTensor *gamma,
                     const DrapeTensor *beta,
                     float              eps)
{
  RowNorms norms = { .gamma = gamma, .beta = beta, .eps = eps };

  if (!check_norm_params (graph, "layer_norm", gamma, beta))
    return row_op_failed (graph, x, NULL);
  return row_op (graph, "layer_norm", x, &norms, NULL, NULL);
}

DrapeTensor *
drape_op_layer_norm_add_norm (DrapeGraph        *graph,
                              const DrapeTensor *x,
                              const DrapeTensor *gamma1,
                              const DrapeTensor *beta1,
                              const DrapeTensor *gamma2,
                              const DrapeTensor *beta2,
                              float              eps,
                              DrapeTensor      **sum)
{
  RowNorms norms = { gamma1, beta1, gamma2, beta2, eps };

  g_return_val_if_fail (sum != NULL, NULL);
  if (!check_norm_params (graph, "layer_norm_add_norm", gamma1, beta1) ||
      !check_norm_params (graph, "layer_norm_add_norm", gamma2, beta2))
    return row_op_failed (graph, x, sum);
  return row_op (graph, "layer_norm_add_norm", x, &norms, NULL, sum);
}

DrapeTensor *
drape_op_softmax (DrapeGraph        *graph,
                  const DrapeTensor *x)
{
  return drape_op_softmax_scaled (graph, x, 1.0f, x ? x->dtype : DRAPE_DTYPE_F32);
}

DrapeTensor *
drape_op_softmax_scaled (DrapeGraph        *graph,
                         const DrapeTensor *x,
                         float              scale,
                         DrapeDType         dtype)
{
  RowSoftmax softmax = { scale, dtype };

  return row_op (graph, "softmax", x, NULL, &softmax, NULL);
}
