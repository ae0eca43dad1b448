/* op-conv.c: convolutions, linear layers and GEGLU as implicit GEMMs
 *
 * One GEMM per convolution (shaders/conv2d.comp): M = output pixels,
 * N = output channels of a group, K = kh * kw * input channels of a group;
 * depthwise convolutions have a direct kernel (conv_depthwise.comp).
 * A 3x3 convolution of a 2x nearest-upsampled input
 * (drape_op_conv2d_upsample2x) is four: one 2x2 convolution of the small
 * input per output phase, whose epilogue writes every other pixel of
 * every other row (SUBPIXEL in conv_common.glsl), all four in one
 * dispatch (a phase per workgroup z) where the four phases' weights and
 * outputs fit its bindings, else a dispatch each.
 *
 * Splitting.  No binding may exceed the device's binding limit, so a
 * convolution is recorded as dispatches over (column chunk) x (row band):
 *   - a column chunk is a run of output channels whose weight rows fit one
 *     binding: all of them, whole groups, or part of one group;
 *   - when the input or output is too large for one binding, the output
 *     is cut into bands of rows of one image, each binding just the input
 *     rows its taps reach (rows in the padding are never read).
 *
 * Bands also serve memory: drape_op_conv2d_rows computes a range of
 * output rows into any rows of another tensor, and
 * drape_op_conv2d_over_input records its bands from the top with the
 * output placed (a guest of x in the arena) as far ahead of x as the
 * bands need for none to overwrite rows it or a later band still reads.
 *
 * On CPU drivers 3x3 convolutions of stride 1 may go as Winograd's
 * F(4x4, 3x3) instead, around this file's GEMMs (op-conv-winograd.c).
 *
 * Kernel choice.  The GEMM's algorithm and tile sizes are picked per
 * device and problem (gemm_kind, gemm_config): a shared-memory tiled
 * kernel for GPUs, and for CPU drivers such as lavapipe, where each load
 * from a storage buffer is a loop over the lanes, a subgroup kernel
 * (whose lanes pass values round: subgroup_lane.glsl) that reads its
 * operands through texel buffers (vector gathers) and stores 64-bit
 * values when their channels come in fours and the device's texel reads
 * work (DrapeDeviceCaps.texel_reads), else from storage buffers; a
 * device's tuning (tuning.h) may name another of the kernels it can run
 * for a convolution, or another of the tiled kernel's shapes
 * ("tiled:BMxBN"), where timing them found it faster.
 * DRAPE_CONV_KERNEL overrides the choice, for tests and measurements:
 * "tiled", "subgroup" (storage buffers) or "subgroup-texel".
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include "graph-private.h"
#include "op-conv-private.h"
#include "op-coopmat-private.h"
#include "ops.h"

#define MAX_KERNEL 8



/* conv2d's epilogue constant: read the flags from the push constants. */
#define FLAGS_DYNAMIC 0xffffffffu


typedef enum {
  GEMM_TILED,
  GEMM_SUBGROUP,
  GEMM_SUBGROUP_TEXEL,
} GemmKind;


/* The GEMM kernel's specialisation: the shader's constants 3 to 13. */
typedef struct {
  GemmKind kind;
  guint32 tm, tn, bm, bn, bk, sg;
  gboolean vec4, pointwise, vec_out;
  /* x and the weights are read as texel buffers (the *_texel shaders). */
  gboolean texel;
  guint32 local;     /* invocations per workgroup */
  guint32 tile_m;    /* outputs per tile: a workgroup's (tiled) or a subgroup's */
  guint32 tile_n;
  guint32 tiles_per_group;
} GemmConfig;


/* As DRAPE_CONV_KERNEL and tunings name them. */
static const char *const kind_names[] = {
  [GEMM_TILED] = "tiled",
  [GEMM_SUBGROUP] = "subgroup",
  [GEMM_SUBGROUP_TEXEL] = "subgroup-texel",
};

/* The scalar kernels the device can run a convolution with, the one
 * for CPU drivers first. */
static guint
scalar_kinds (DrapeDevice *device,
              const Conv  *c,
              GemmKind     kinds[G_N_ELEMENTS (kind_names)])
{
  const DrapeDeviceCaps *caps = drape_device_get_caps (device);
  gboolean subgroup_ok = caps->subgroup_size >= 4 && caps->subgroup_size <= 16;
  guint n = 0;

  /* Texel buffers hold whole 4-channel texels. */
  if (subgroup_ok && c->cin_g % 4 == 0 && caps->texel_reads)
    kinds[n++] = GEMM_SUBGROUP_TEXEL;
  if (subgroup_ok)
    kinds[n++] = GEMM_SUBGROUP;
  kinds[n++] = GEMM_TILED;
  return n;
}

static GemmKind
gemm_kind (DrapeGraph *graph,
           const Conv *c)
{
  DrapeDevice *device = drape_graph_get_device (graph);
  const char *forced = drape_graph_get_choice (graph, "DRAPE_CONV_KERNEL");
  GemmKind kinds[G_N_ELEMENTS (kind_names)];
  guint n = scalar_kinds (device, c, kinds);

  for (guint i = 0; i < n; i++)
    if (g_strcmp0 (forced, kind_names[kinds[i]]) == 0)
      return kinds[i];
  /* CPU drivers: loads are scalarised per lane, passing values between
   * lanes is cheap. */
  return drape_device_get_info (device)->is_software ? kinds[0] : GEMM_TILED;
}

/* The tiled kernel's workgroup tiles (bm, bn, and per invocation tm, tn),
 * largest first. */
static const guint32 tiled_shapes[][4] = {
  { 128, 128, 8, 8 }, { 128, 64, 8, 4 }, { 64, 128, 4, 8 }, { 64, 64, 4, 4 },
  { 64, 32, 4, 2 }, { 32, 64, 2, 4 }, { 32, 32, 4, 4 },
};

/* Values of K the tiled kernel stages at a time. */
static guint32
tiled_bk (const Conv *c)
{
  return c->cin_g >= 16 ? 16 : c->cin_g >= 8 ? 8 : 4;
}

/* Whether the device holds tiled shape i for this convolution. */
static gboolean
tiled_shape_fits (const DrapeDeviceCaps *caps,
                  const Conv            *c,
                  guint                  i)
{
  guint32 bm = tiled_shapes[i][0], bn = tiled_shapes[i][1], tm = tiled_shapes[i][2], tn = tiled_shapes[i][3];
  guint64 shared = (guint64) tiled_bk (c) * (bm + 2 * bn) * sizeof (float);

  return shared <= caps->max_shared_memory && (bm / tm) * (bn / tn) <= caps->max_workgroup_invocations &&
         !(c->geglu && tm * tn > 32);
}

/* A scalar kernel and, for the tiled one, its shape (-1: its usual,
 * gemm_config's). */
typedef struct {
  GemmKind kind;
  gint shape;
} ScalarWay;

#define MAX_SCALAR_WAYS (G_N_ELEMENTS (kind_names) + G_N_ELEMENTS (tiled_shapes))

/* Whether f32 activations meet f16 weights. */
static gboolean
weights_f16 (const Conv *c)
{
  return c->weight->dtype != c->x->dtype;
}

char *
drape_conv_variant (const Conv *c,
                    gboolean    texel)
{
  /* A texel buffer's view has the weights' format: one variant reads
   * either. */
  return g_strconcat (drape_dtype_name (c->x->dtype), texel ? "_texel" : weights_f16 (c) ? "_w16" : "",
                      NULL);
}

/* The scalar kernel, and tiled shape, the device's tuning names for
 * this convolution, else `usual` (DRAPE_CONV_KERNEL: always). */
static ScalarWay
choose_scalar_way (DrapeGraph *graph,
                   const Conv *c,
                   GemmKind    usual)
{
  const DrapeDeviceCaps *caps = drape_device_get_caps (drape_graph_get_device (graph));
  GemmKind kinds[G_N_ELEMENTS (kind_names)];
  ScalarWay ways[MAX_SCALAR_WAYS];
  char shape_names[MAX_SCALAR_WAYS][24];
  const char *names[MAX_SCALAR_WAYS];
  guint n_kinds = scalar_kinds (drape_graph_get_device (graph), c, kinds), n = 0, at = 0;
  g_autofree char *problem = NULL;

  if (drape_graph_get_choice (graph, "DRAPE_CONV_KERNEL") != NULL)
    return (ScalarWay) { usual, -1 };
  for (guint i = 0; i < n_kinds; i++)
    {
      if (kinds[i] == usual)
        at = n;
      ways[n] = (ScalarWay) { kinds[i], -1 };
      names[n++] = kind_names[kinds[i]];
      for (guint s = 0; kinds[i] == GEMM_TILED && s < G_N_ELEMENTS (tiled_shapes); s++)
        if (tiled_shape_fits (caps, c, s))
          {
            g_snprintf (shape_names[n], sizeof shape_names[n], "tiled:%ux%u", tiled_shapes[s][0],
                        tiled_shapes[s][1]);
            ways[n] = (ScalarWay) { GEMM_TILED, (gint) s };
            names[n] = shape_names[n];
            n++;
          }
    }
  problem = g_strdup_printf ("%s %s M%u N%u K%u C%u G%u%s%s", c->op, drape_dtype_name (c->x->dtype),
                             c->n * c->oh * c->ow, c->cout_g, c->k, c->cin_g, c->groups,
                             c->subpixel ? " x4" : "", weights_f16 (c) ? " w16" : "");
  return ways[drape_graph_choose (graph, problem, names, n, at)];
}

/* m: the most output pixels of one dispatch; n: its output channels per
 * group; shape: the tiled kernel's (tiled_shapes), or -1 for its
 * usual. */
static GemmConfig
gemm_config (DrapeDevice *device,
             const Conv  *c,
             GemmKind     kind,
             guint32      m,
             guint32      n,
             gboolean     vec_out,
             gint         shape)
{
  const DrapeDeviceCaps *caps = drape_device_get_caps (device);
  GemmConfig cfg = {
    .kind = kind == GEMM_SUBGROUP_TEXEL ? GEMM_SUBGROUP : kind,
    .texel = kind == GEMM_SUBGROUP_TEXEL,
    .vec4 = c->cin_g % 4 == 0,
    .vec_out = vec_out,
    .pointwise = c->kh == 1 && c->kw == 1 && c->stride == 1 && c->pad_t == 0 && c->pad_l == 0 &&
                 c->ih == c->oh && c->iw == c->ow,
  };

  if (cfg.kind == GEMM_SUBGROUP)
    {
      guint32 sg = caps->subgroup_size;

      /* 2 x 4 per lane (64 sums, twice that for GEGLU): measured on
       * lavapipe, larger blocks gain little and take LLVM many seconds to
       * compile.  Narrow problems get narrower blocks (short ones waste a
       * few rows rather than compile another pipeline). */
      cfg.sg = sg;
      cfg.tn = n <= sg ? 1 : n <= 2 * sg ? 2 : 4;
      cfg.tm = 2;
      cfg.tiles_per_group = 4;
      cfg.tile_m = cfg.tm * sg;
      cfg.tile_n = cfg.tn * sg;
      cfg.local = sg * cfg.tiles_per_group;
      /* The shared tiles of the other algorithm stay minimal. */
      cfg.bm = cfg.tm;
      cfg.bn = cfg.tn;
      cfg.bk = 4;
    }
  else
    {
      /* The shape a tuning chose, else the first, largest first, that
       * still gives the GPU enough workgroups and fits its shared
       * memory. */
      guint i = shape >= 0 ? (guint) shape : 0;

      for (; shape < 0 && i < G_N_ELEMENTS (tiled_shapes); i++)
        {
          guint32 bm = tiled_shapes[i][0], bn = tiled_shapes[i][1];
          guint64 tiles = (guint64) drape_div_up (m, bm) * drape_div_up (n, bn) * c->groups;

          if (tiled_shape_fits (caps, c, i) && tiles >= 128 && bn <= 2 * n + 32)
            break;
        }
      if (i == G_N_ELEMENTS (tiled_shapes))
        i--;
      cfg.bm = tiled_shapes[i][0];
      cfg.bn = tiled_shapes[i][1];
      cfg.tm = tiled_shapes[i][2];
      cfg.tn = tiled_shapes[i][3];
      cfg.bk = tiled_bk (c);
      cfg.sg = caps->subgroup_size;
      cfg.tile_m = cfg.bm;
      cfg.tile_n = cfg.bn;
      cfg.tiles_per_group = 1;
      cfg.local = (cfg.bm / cfg.tm) * (cfg.bn / cfg.tn);
    }
  return cfg;
}

static gboolean
check_vector (DrapeGraph        *graph,
              const Conv        *c,
              const char        *what,
              const DrapeTensor *t,
              guint32            n,
              guint32            channels)
{
  if (t == NULL)
    return TRUE;
  if (!drape_graph_check_tensor (graph, c->op, what, t))
    return FALSE;
  if (t->dtype != c->x->dtype)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT, "%s: %s is %s but x is %s",
                        c->op, what, drape_dtype_name (t->dtype), drape_dtype_name (c->x->dtype));
      return FALSE;
    }
  if (t->n != n || t->h != 1 || t->w != 1 || t->c != channels)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "%s: %s is [%u %u %u %u], expected [%u 1 1 %u]",
                        c->op, what, t->n, t->h, t->w, t->c, n, channels);
      return FALSE;
    }
  return TRUE;
}

/* Fills in the geometry from x, weight and params, and checks them. */
static gboolean
conv_setup (DrapeGraph            *graph,
            Conv                  *c,
            const DrapeConvParams *params)
{
  const DrapeTensor *x = c->x, *weight = c->weight;
  guint32 wrows;

  if (!drape_graph_check_tensor (graph, c->op, "x", x) ||
      !drape_graph_check_tensor (graph, c->op, "weight", weight))
    return FALSE;
  /* f32 activations may have f16 weights: the kernels widen them as they
   * read them (drape_conv_variant). */
  if (weight->dtype != x->dtype && !(weight->dtype == DRAPE_DTYPE_F16 && x->dtype == DRAPE_DTYPE_F32))
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT, "%s: weight is %s but x is %s",
                        c->op, drape_dtype_name (weight->dtype), drape_dtype_name (x->dtype));
      return FALSE;
    }

  c->n = x->n;
  c->ih = x->h;
  c->iw = x->w;
  c->cin = x->c;
  c->kh = weight->h;
  c->kw = weight->w;
  c->stride = params->stride ? params->stride : 1;
  c->pad_t = params->pad_top;
  c->pad_l = params->pad_left;
  c->groups = params->groups ? params->groups : 1;
  c->act = params->act;
  c->out_scale = params->out_scale != 0.0f ? params->out_scale : 1.0f;
  wrows = weight->n;

  if (c->kh > MAX_KERNEL || c->kw > MAX_KERNEL)
    {
      drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED, "%s: a %ux%u kernel is larger than %ux%u",
                        c->op, c->kh, c->kw, MAX_KERNEL, MAX_KERNEL);
      return FALSE;
    }
  if ((guint) c->act > DRAPE_ACT_RELU)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT, "%s: unknown activation %d",
                        c->op, (int) c->act);
      return FALSE;
    }
  if (c->cin % c->groups != 0 || wrows % c->groups != 0)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "%s: %u groups do not divide x's %u channels and the weight's %u outputs",
                        c->op, c->groups, c->cin, wrows);
      return FALSE;
    }
  c->cin_g = c->cin / c->groups;
  if (weight->c != c->cin_g)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "%s: weight [%u %u %u %u] has %u input channels per group, x has %u "
                        "(%u channels, %u groups)", c->op, weight->n, weight->h, weight->w,
                        weight->c, weight->c, c->cin_g, c->cin, c->groups);
      return FALSE;
    }
  if (c->geglu && wrows % 2 != 0)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "%s: weight has %u rows, not two equal halves", c->op, wrows);
      return FALSE;
    }
  if (c->subpixel && (wrows % 4 != 0 || c->kh != 2 || c->kw != 2))
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "%s: weight is [%u %u %u %u], expected four phases' 2x2 kernels "
                        "[4 cout 2 2 cin]", c->op, weight->n, weight->h, weight->w, weight->c);
      return FALSE;
    }
  c->cout = c->geglu ? wrows / 2 : c->subpixel ? wrows / 4 : wrows;
  c->cout_g = c->cout / c->groups;
  c->k = c->kh * c->kw * c->cin_g;
  c->depthwise = c->groups > 1 && c->cin_g == 1 && c->cout_g == 1;

  if ((guint64) c->ih + c->pad_t + params->pad_bottom < c->kh ||
      (guint64) c->iw + c->pad_l + params->pad_right < c->kw)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "%s: the padded input %ux%u is smaller than the %ux%u kernel", c->op,
                        c->ih + c->pad_t + params->pad_bottom, c->iw + c->pad_l + params->pad_right,
                        c->kh, c->kw);
      return FALSE;
    }
  c->oh = (c->ih + c->pad_t + params->pad_bottom - c->kh) / c->stride + 1;
  c->ow = (c->iw + c->pad_l + params->pad_right - c->kw) / c->stride + 1;

  if (!check_vector (graph, c, "bias", c->bias, 1, c->subpixel ? c->cout : wrows) ||
      !check_vector (graph, c, "channel_bias", c->channel_bias, c->n, c->cout))
    return FALSE;
  if (c->residual != NULL)
    {
      const DrapeTensor *r = c->residual;
      guint32 scale = c->subpixel ? 2 : 1;

      if (!drape_graph_check_tensor (graph, c->op, "residual", r))
        return FALSE;
      if (r->dtype != x->dtype)
        {
          drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT, "%s: residual is %s but x is %s",
                            c->op, drape_dtype_name (r->dtype), drape_dtype_name (x->dtype));
          return FALSE;
        }
      guint32 rows = c->oy_count ? c->oy_count : c->oh;

      if (r->n != c->n || r->h != scale * rows || r->w != scale * c->ow || r->c != c->cout)
        {
          drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                            "%s: residual is [%u %u %u %u] but the output is [%u %u %u %u]",
                            c->op, r->n, r->h, r->w, r->c, c->n, scale * rows, scale * c->ow,
                            c->cout);
          return FALSE;
        }
    }
  return TRUE;
}

static guint32
n_phases (const Conv *c)
{
  return MAX (c->phases, 1);
}

/* Where pixel `pix` of the convolution's grid starts in the output (and
 * the residual), in elements from the output's own start: a multiple of
 * ow for a subpixel phase, whose offset this includes. */
static guint64
out_offset (const Conv *c,
            guint64     pix)
{
  if (c->subpixel)
    return (4 * pix + 2 * c->py * c->ow + c->px) * c->cout;
  return pix * c->cout;
}

/* The output values a dispatch of `pixels` pixels from a row's start
 * spans, to the end of its last pixel's `cols` channels (the layout of
 * conv_out_index in conv_common.glsl). */
static guint64
out_span (const Conv *c,
          guint64     pixels,
          guint32     cols)
{
  guint64 last = pixels - 1;
  guint64 span = (c->subpixel ? 2 * (last + last / c->ow * c->ow) : last) * c->cout + cols;

  /* The last phase's pixels lie a row and a column past the first's. */
  return n_phases (c) > 1 ? span + (2 * (guint64) c->ow + 1) * c->cout : span;
}

/* The input rows [*lo, *hi) a band of `rows` output rows from oy0 reads
 * (every row where it spans images or the whole image). */
static void
band_input_rows (const Conv *c,
                 guint32     oy0,
                 guint32     rows,
                 guint32     nimg,
                 guint32    *lo,
                 guint32    *hi)
{
  gint64 first, last;

  if (nimg > 1 || rows == c->oh)
    {
      *lo = 0;
      *hi = c->ih;
      return;
    }
  first = (gint64) oy0 * c->stride - c->pad_t;
  /* Phase (1, x) reads a row further on than (0, x). */
  last = (gint64) (oy0 + rows - 1) * c->stride - c->pad_t + c->kh + (n_phases (c) > 1);
  first = CLAMP (first, 0, (gint64) c->ih - 1);
  *lo = (guint32) first;
  *hi = (guint32) CLAMP (last, first + 1, (gint64) c->ih);
}

/* How a convolution is cut into dispatches (see the top of this file). */
typedef struct {
  guint32 ng, nc;      /* groups per column chunk, channels of each group */
  guint32 chunk_cols;  /* output channels per column chunk */
  guint32 rows;        /* output rows per band */
  gboolean whole;      /* every image in one dispatch */
} ConvPlan;

/* Plans dispatches whose bindings each span at most `room` elements.
 * `align`: a chunk of whole groups is a multiple of this many groups.
 * Returns NULL, or why no plan fits. */
static char *
conv_plan (const Conv *c,
           guint64     room,
           guint32     align,
           ConvPlan   *plan)
{
  /* One binding holds every phase's weights: all of the others', then a
   * chunk's rows of the last. */
  guint64 other_phases = (guint64) (n_phases (c) - 1) * c->cout;
  guint64 wrows = room / c->k > other_phases ? room / c->k - other_phases : 0;
  guint32 kh_read = c->kh + (n_phases (c) > 1);
  guint64 in_row = (guint64) c->iw * c->cin;
  guint64 in_fit = room / in_row;
  guint64 rows_in, rows_out, first_row, row_step;

  /* Columns: as many weight rows as one binding holds. */
  if (wrows == 0)
    return g_strdup_printf ("%s: one output channel's weights (%u values) exceed the device's "
                            "binding limit", c->op, c->k);
  if (wrows >= (guint64) c->groups * c->cout_g)
    {
      plan->ng = c->groups;
      plan->nc = c->cout_g;
    }
  else if (wrows >= c->cout_g)
    {
      plan->ng = wrows / c->cout_g;
      if (plan->ng >= align)
        plan->ng -= plan->ng % align;
      plan->nc = c->cout_g;
    }
  else
    {
      /* Whole vectors of 4 channels keep the epilogue's accesses aligned. */
      plan->ng = 1;
      plan->nc = wrows >= 4 ? wrows - wrows % 4 : wrows;
    }
  plan->chunk_cols = plan->ng > 1 ? plan->ng * c->cout_g : plan->nc;

  /* Rows: a band of R output rows reads at most (R - 1) stride + kh input
   * rows and spans out_span (R ow) output values. */
  plan->whole = (guint64) c->n * c->ih * in_row <= room &&
                out_span (c, (guint64) c->n * c->oh * c->ow, plan->chunk_cols) <= room;
  if (plan->whole)
    {
      plan->rows = c->oh;
      return NULL;
    }
  if (in_fit >= c->ih)
    rows_in = c->oh;
  else if (in_fit >= kh_read)
    rows_in = (in_fit - kh_read) / c->stride + 1;
  else
    rows_in = 0;
  /* The most rows whose out_span fits: the first row's span, then each
   * further row's. */
  first_row = out_span (c, c->ow, plan->chunk_cols);
  row_step = out_span (c, 2 * (guint64) c->ow, 0) - out_span (c, c->ow, 0);
  rows_out = room >= first_row ? 1 + (room - first_row) / row_step : 0;
  plan->rows = (guint32) MIN (MIN (rows_in, rows_out), c->oh);
  if (plan->rows == 0)
    return g_strdup_printf ("%s: one output row of [%u %u %u %u] needs more than the device's "
                            "binding limit of input or output", c->op, c->n, c->oh, c->ow, c->cout);
  return NULL;
}

/* The epilogue: activation | FLAG_*. */
static guint32
conv_flags (const Conv *c)
{
  return c->act | (c->bias ? FLAG_BIAS : 0) | (c->channel_bias ? FLAG_CHANNEL_BIAS : 0) |
         (c->residual ? FLAG_RESIDUAL : 0);
}

/* Binds an optional operand, or a stand-in the shader does not read. */
static guint32
bind_optional (DrapeBinding       *binding,
               const DrapeTensor  *tensor,
               guint64             offset,
               guint64             count,
               const DrapeBinding *stand_in)
{
  if (tensor == NULL)
    {
      *binding = *stand_in;
      return 0;
    }
  return drape_bind (binding, tensor, offset * drape_dtype_size (tensor->dtype),
                     count * drape_dtype_size (tensor->dtype));
}

void
drape_conv_part_bind (const Conv     *c,
                      const ConvPart *part,
                      gboolean        texel,
                      DrapeBinding   *bind,
                      ConvPush       *p)
{
  guint32 (*bind_in) (DrapeBinding *, const DrapeTensor *, guint64, guint64) =
    texel ? drape_bind_texel : drape_bind;
  gsize es = drape_dtype_size (c->x->dtype), out_es = drape_dtype_size (c->out->dtype);
  gsize w_es = drape_dtype_size (c->weight->dtype);
  guint32 oc0 = part->g0 * c->cout_g + part->c0;
  guint32 chunk_cols = part->ng > 1 ? part->ng * c->cout_g : part->nc;
  guint32 scale = c->subpixel ? 2 : 1;
  guint64 pix0 = ((guint64) part->img * (c->out->h / scale) + c->out_row0 + part->oy0 -
                  c->oy_first) * c->ow;
  guint64 res0 = ((guint64) part->img * (c->oy_count ? c->oy_count : c->oh) + part->oy0 -
                  c->oy_first) * c->ow;
  guint64 m = (guint64) part->nimg * part->rows * c->ow;
  guint64 out_count = out_span (c, m, chunk_cols);
  guint32 iy_lo, iy_hi;

  band_input_rows (c, part->oy0, part->rows, part->nimg, &iy_lo, &iy_hi);

  *p = (ConvPush) {
    .m = (guint32) m,
    .ow = c->ow,
    .rows = part->rows,
    .oy0 = part->oy0,
    .in_h = c->ih,
    .in_w = c->iw,
    .in_rows = iy_hi - iy_lo,
    .iy_lo = iy_lo,
    .cin = c->cin,
    .cin_g = c->cin_g,
    .cout = c->cout,
    .cout_g = c->cout_g,
    .ncols = c->depthwise ? chunk_cols : part->nc,
    .g0 = part->g0,
    .stride = c->stride,
    .pad_t = c->pad_t,
    .pad_l = c->pad_l,
    .kh = c->kh,
    .kw = c->kw,
    .flags = conv_flags (c),
    .out_scale = c->out_scale,
    .k_slices = 1,
  };

  p->o_off = drape_bind (&bind[BIND_OUT], c->out, (c->o_base + out_offset (c, pix0) + oc0) * out_es,
                        out_count * out_es);
  p->x_off = bind_in (&bind[BIND_X], c->x,
                      (c->x_base + ((guint64) part->img * c->ih + iy_lo) * c->iw * c->cin) * es,
                      ((guint64) (part->nimg - 1) * c->ih + iy_hi - iy_lo) * c->iw * c->cin * es);
  p->w_off = bind_in (&bind[BIND_W], c->weight, (c->w_base + (guint64) oc0 * c->k) * w_es,
                      ((guint64) (n_phases (c) - 1) * c->cout + chunk_cols) * c->k * w_es);
  /* Absent operands are bound to the output, which the shader does not
   * read through them. */
  p->b_off = bind_optional (&bind[BIND_BIAS], c->bias, oc0, chunk_cols, &bind[BIND_OUT]);
  p->cb_off = bind_optional (&bind[BIND_CHANNEL_BIAS], c->channel_bias,
                             (guint64) part->img * c->cout + oc0,
                             (guint64) (part->nimg - 1) * c->cout + chunk_cols, &bind[BIND_OUT]);
  p->r_off = bind_optional (&bind[BIND_RESIDUAL], c->residual, out_offset (c, res0) + oc0, out_count,
                            &bind[BIND_OUT]);
  if (c->geglu)
    {
      p->wg_off = bind_in (&bind[BIND_GATE_W], c->weight, ((guint64) c->cout + oc0) * c->k * w_es,
                           (guint64) chunk_cols * c->k * w_es);
      p->bg_off = bind_optional (&bind[BIND_GATE_BIAS], c->bias, (guint64) c->cout + oc0,
                                 chunk_cols, &bind[BIND_OUT]);
    }
  else
    {
      bind[BIND_GATE_W] = bind[BIND_W];
      bind[BIND_GATE_BIAS] = bind[BIND_OUT];
    }
}

/* An output written over the input, placed once the dispatches are
 * planned, is of x's type. */
static DrapeDType
out_dtype (const Conv *c)
{
  return c->out != NULL ? c->out->dtype : c->x->dtype;
}

/* Elements of the wider type one storage binding may span (0: none):
 * drape_bind widens a range by up to one alignment unit, and f32 sums
 * of f16 operands take twice an operand's bytes. */
static guint64
storage_room (DrapeGraph *graph,
              const Conv *c)
{
  gsize es = MAX (drape_dtype_size (c->x->dtype), drape_dtype_size (out_dtype (c)));
  guint64 limit = drape_graph_binding_limit (graph);
  guint64 align = drape_device_get_caps (drape_graph_get_device (graph))->storage_offset_alignment;

  return limit > align ? (limit - align) / es : 0;
}

/* How the convolution splits into dispatches for kernels of `kind`,
 * which falls back from texel buffers to storage buffers where their
 * limit is too small; FALSE, with the graph failed, where it cannot. */
static gboolean
plan_for_kind (DrapeGraph *graph,
               const Conv *c,
               GemmKind   *kind,
               ConvPlan   *plan)
{
  gsize es = MAX (drape_dtype_size (c->x->dtype), drape_dtype_size (out_dtype (c)));
  guint64 room = storage_room (graph, c);
  g_autofree char *why = NULL;

  /* Texel bindings have a limit and an alignment of their own, for
   * each format. */
  if (*kind == GEMM_SUBGROUP_TEXEL)
    {
      guint64 x_room = drape_graph_texel_room (graph, c->x->dtype);
      guint64 w_room = drape_graph_texel_room (graph, c->weight->dtype);
      gboolean fits = x_room > 0 && w_room > 0;

      if (fits)
        why = conv_plan (c, MIN (x_room / es, w_room / drape_dtype_size (c->weight->dtype)), 1, plan);
      if (fits && why == NULL)
        return TRUE;
      g_clear_pointer (&why, g_free);
      *kind = GEMM_SUBGROUP;
    }
  if (room == 0)
    why = g_strdup_printf ("%s: the device's binding limit is too small", c->op);
  else
    why = conv_plan (c, room, c->depthwise && c->cin % 4 == 0 ? 4 : 1, plan);
  if (why != NULL)
    drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED, "%s", why);
  return why == NULL;
}

/* Whether the kernels store f32 sums of f16 operands. */
static gboolean
out_f32 (const Conv *c)
{
  return out_dtype (c) == DRAPE_DTYPE_F32 && c->x->dtype == DRAPE_DTYPE_F16;
}

/* Whether the epilogue's accesses to 4 channels are aligned vectors. */
static gboolean
vector_epilogue (const Conv     *c,
                 const ConvPlan *plan)
{
  return c->cout_g % 4 == 0 && plan->nc % 4 == 0;
}

/* conv2d.comp for `kind`, or NULL where the device will not build a
 * kernel tuned for CPUs (the caller falls back to the tiled one). */
static DrapeKernel *
scalar_kernel (DrapeGraph     *graph,
               const Conv     *c,
               GemmKind        kind,
               gint            shape,
               const ConvPlan *plan,
               GemmConfig     *cfg)
{
  DrapeDevice *device = drape_graph_get_device (graph);
  guint64 m_max = plan->whole ? (guint64) c->n * c->oh * c->ow : (guint64) plan->rows * c->ow;
  g_autofree char *variant = NULL;

  *cfg = gemm_config (device, c, kind, (guint32) m_max, plan->nc, vector_epilogue (c, plan), shape);
  guint32 spec[] = {
    cfg->local, 1, 1, cfg->kind == GEMM_SUBGROUP, cfg->tm, cfg->tn, cfg->bm, cfg->bn, cfg->bk,
    cfg->sg, cfg->vec4, cfg->pointwise, c->geglu, cfg->vec_out,
    cfg->kind == GEMM_SUBGROUP ? conv_flags (c) : FLAGS_DYNAMIC, out_f32 (c), c->subpixel,
    drape_device_get_caps (device)->stores_int64, drape_device_get_caps (device)->lane_broadcasts,
  };
  guint32 texel_mask = cfg->texel ? CONV_TEXEL_BINDINGS : 0;

  variant = drape_conv_variant (c, cfg->texel);
  if (kind == GEMM_TILED)
    return drape_graph_kernel_texel (graph, "conv2d", variant, N_BINDINGS, texel_mask, spec,
                                     G_N_ELEMENTS (spec));
  return drape_graph_kernel_optional (graph, "conv2d", variant, N_BINDINGS, texel_mask, spec,
                                      G_N_ELEMENTS (spec));
}

/* One dispatch's part of a convolution whose K is split: the slices'
 * sums into `partial` (bound as the output), then their sum and the
 * epilogue into the output `bind` has. */
static void
split_record (DrapeGraph             *graph,
              const DrapeConvCoopmat *coop,
              guint32                 phases,
              DrapeTensor            *partial,
              const DrapeBinding     *bind,
              const ConvPush         *p,
              double                  flops)
{
  DrapeBinding gemm_bind[N_BINDINGS], sum_bind[N_BINDINGS];
  ConvPush gemm_push = *p, sum_push = *p;
  guint64 tiles = (guint64) drape_div_up (p->m, coop->tile_m) * p->tiles_n;
  guint64 quads = (guint64) p->m * drape_div_up (p->ncols, 4);

  memcpy (gemm_bind, bind, sizeof gemm_bind);
  gemm_push.k_slices = coop->slices;
  gemm_push.slice_stages = coop->slice_stages;
  gemm_push.o_off = drape_bind (&gemm_bind[BIND_OUT], partial, 0, drape_tensor_bytes (partial));
  drape_graph_dispatch_flat (graph, coop->kernel, gemm_bind, &gemm_push, sizeof gemm_push,
                             tiles, coop->slices * phases, coop->label, flops);
  drape_graph_describe_last (graph, "M%u N%u K%u %ux%u/%u%s", p->m, p->ncols,
                             p->kh * p->kw * p->cin_g, coop->tile_m, coop->tile_n, coop->slices,
                             phases > 1 ? " x4" : "");

  memcpy (sum_bind, bind, sizeof sum_bind);
  sum_push.k_slices = coop->slices;
  sum_push.x_off = drape_bind (&sum_bind[BIND_X], partial, 0, drape_tensor_bytes (partial));
  drape_graph_dispatch_flat (graph, coop->sum_kernel, sum_bind, &sum_push, sizeof sum_push,
                             drape_div_up (quads, DRAPE_CONV_SUM_LOCAL), phases, coop->sum_label, 0);
}

/* An output written over its input goes in bands of rows from the top:
 * every column of a band at once, or a later chunk of columns would read
 * rows the first had overwritten. */
static gboolean
plan_over_input (const Conv *c,
                 ConvPlan   *plan)
{
  if (c->oy_count != 0)
    plan->whole = FALSE;
  if (c->over == NULL)
    return TRUE;
  if (plan->ng < c->groups || plan->nc < c->cout_g)
    return FALSE;
  plan->whole = FALSE;
  plan->rows = MIN (plan->rows, c->band_rows);
  return TRUE;
}

/* The output of a convolution over its input: as far ahead of x as the
 * bands need for none to write an input row that it or a later band still
 * reads (the first band's rows, for an output no larger than x), or a
 * tensor of its own where the plan cannot go in bands. */
static void
place_over_input (DrapeGraph     *graph,
                  Conv           *c,
                  const ConvPlan *plan,
                  gboolean        banded)
{
  gsize es = drape_dtype_size (c->x->dtype);
  guint64 in_row = (guint64) c->iw * c->cin * es, out_row = (guint64) c->ow * c->cout * es;
  gint64 ahead = 0;

  if (!banded)
    {
      c->out = drape_graph_tensor (graph, c->x->dtype, c->n, c->oh, c->ow, c->cout);
      return;
    }
  for (guint32 img = 0; img < c->n; img++)
    for (guint32 oy0 = 0; oy0 < c->oh; oy0 += plan->rows)
      {
        guint32 rows = MIN (plan->rows, c->oh - oy0), lo, hi;
        gint64 read_from, written_to;

        band_input_rows (c, oy0, rows, 1, &lo, &hi);
        read_from = (gint64) (((guint64) img * c->ih + lo) * in_row);
        written_to = (gint64) (((guint64) img * c->oh + oy0 + rows) * out_row);
        ahead = MAX (ahead, written_to - read_from);
      }
  ahead = (ahead + DRAPE_GRAPH_ALIGNMENT - 1) / DRAPE_GRAPH_ALIGNMENT * DRAPE_GRAPH_ALIGNMENT;
  c->out = drape_graph_tensor_within (graph, c->over, -ahead, c->x->dtype, c->n, c->oh, c->ow,
                                      c->cout);
}

/* Whether one dispatch computes every image and output channel, from
 * operands whose element offsets and pixel strides are multiples of 8
 * (DrapeConvGemm.one_dispatch). */
static gboolean
one_dispatch (const Conv     *c,
              const ConvPlan *plan)
{
  return plan->whole && plan->rows >= c->oh && plan->ng == c->groups && plan->nc == c->cout_g &&
         c->over == NULL && c->oy_count == 0 && !c->subpixel && c->out->h == c->oh &&
         c->x_base % 8 == 0 && c->w_base % 8 == 0 && c->o_base % 8 == 0 && c->cin % 8 == 0 &&
         c->cout % 8 == 0 && c->k % 8 == 0;
}

/* conv_depthwise.comp's bindings: x, the weights, the biases, the
 * residual and the output; its texel variants read the first two as
 * texel buffers. */
#define DEPTHWISE_BINDINGS 6
#define DEPTHWISE_TEXEL_BINDINGS (1u << BIND_X | 1u << BIND_W)

gboolean
drape_conv_cpu_texels (DrapeGraph *graph)
{
  const char *forced = drape_graph_get_choice (graph, "DRAPE_CONV_KERNEL");

  return drape_graph_cpu_texels (graph) && (forced == NULL || g_strcmp0 (forced, "subgroup-texel") == 0);
}

/* Whether a depthwise convolution runs the texel variant: where x and
 * the weights each fit one texel binding whole, so that every part of
 * them does. */
static gboolean
depthwise_reads_texels (DrapeGraph *graph,
                        const Conv *c)
{
  return drape_conv_cpu_texels (graph) && drape_graph_fits_texels (graph, c->x) &&
         drape_graph_fits_texels (graph, c->weight);
}

static void
conv_record_way (DrapeGraph *graph,
                 Conv       *c)
{
  DrapeDevice *device = drape_graph_get_device (graph);
  DrapeDType dtype = c->x->dtype;
  GemmKind kind = c->depthwise ? GEMM_TILED : gemm_kind (graph, c);
  gboolean dw_vec4, banded;
  guint32 oy_end;
  DrapeKernel *kernel;
  GemmConfig cfg = { 0 };
  ConvPlan plan;
  DrapeConvCoopmat coop = { 0 };
  DrapeTensor *partial = NULL;  /* split K's sums */
  const guint32 dw_px = 4, dw_local = 64;

  if (!plan_for_kind (graph, c, &kind, &plan))
    return;
  banded = plan_over_input (c, &plan);
  /* A chunk that is not whole vectors of channels loses the vector path. */
  dw_vec4 = c->depthwise && c->cin % 4 == 0 && plan.chunk_cols % 4 == 0;

  if (c->depthwise)
    {
      guint32 spec[] = { dw_local, 1, 1, dw_px, dw_vec4, drape_device_get_caps (device)->stores_int64 };
      g_autofree char *variant = NULL;

      cfg.texel = dw_vec4 && depthwise_reads_texels (graph, c);
      variant = drape_conv_variant (c, cfg.texel);
      kernel = drape_graph_kernel_texel (graph, "conv_depthwise", variant, DEPTHWISE_BINDINGS,
                                         cfg.texel ? DEPTHWISE_TEXEL_BINDINGS : 0, spec, G_N_ELEMENTS (spec));
    }
  /* Tensor cores, where the device and the problem suit them. */
  else if (drape_conv_coopmat_select (graph, &(DrapeConvGemm) {
                                        .op = c->op, .dtype = dtype, .cin_g = c->cin_g,
                                        .geglu = c->geglu, .n = plan.nc, .n_bindings = N_BINDINGS,
                                        .vec_out = vector_epilogue (c, &plan),
                                        .m = plan.whole ? c->n * c->oh * c->ow : plan.rows * c->ow,
                                        .k = c->k, .out_f32 = out_f32 (c),
                                        .split_ok = c->groups == 1 && !c->geglu && !out_f32 (c),
                                        .subpixel = c->subpixel, .phases = n_phases (c),
                                        .groups = c->groups, .kh = c->kh, .kw = c->kw,
                                        .stride = c->stride, .pad_t = c->pad_t, .pad_l = c->pad_l,
                                        .oh = c->oh, .ow = c->ow,
                                        .one_dispatch = one_dispatch (c, &plan),
                                      }, &coop))
    {
      kernel = coop.kernel;
      cfg.tile_m = coop.tile_m;
      cfg.tile_n = coop.tile_n;
      cfg.tiles_per_group = 1;
      c->op = coop.label;
      if (coop.slices > 1)
        {
          guint32 m = plan.whole ? c->n * c->oh * c->ow : plan.rows * c->ow;
          partial = drape_graph_tensor (graph, DRAPE_DTYPE_F32, coop.slices * n_phases (c),
                                        drape_div_up (m, coop.tile_m) * coop.tile_m, 1,
                                        drape_div_up (plan.nc, coop.tile_n) * coop.tile_n);
        }
    }
  else
    {
      ScalarWay way = choose_scalar_way (graph, c, kind);

      if (way.kind != kind)
        {
          kind = way.kind;
          if (!plan_for_kind (graph, c, &kind, &plan))
            return;
          banded = plan_over_input (c, &plan);
        }
      kernel = scalar_kernel (graph, c, kind, way.shape, &plan, &cfg);
      if (kernel == NULL && kind != GEMM_TILED && drape_graph_ok (graph))
        {
          kind = GEMM_TILED;
          if (!plan_for_kind (graph, c, &kind, &plan))
            return;
          banded = plan_over_input (c, &plan);
          kernel = scalar_kernel (graph, c, kind, -1, &plan, &cfg);
        }
    }
  if (kernel == NULL)
    return;
  if (c->over != NULL)
    place_over_input (graph, c, &plan, banded);
  oy_end = c->oy_count ? c->oy_first + c->oy_count : c->oh;

  for (guint32 g0 = 0; g0 < c->groups; g0 += plan.ng)
    for (guint32 c0 = 0; c0 < c->cout_g; c0 += plan.nc)
      for (guint32 img = 0; img < c->n; img += plan.whole ? c->n : 1)
        for (guint32 oy0 = c->oy_first; oy0 < oy_end; oy0 += plan.rows)
          {
            ConvPart part = {
              .g0 = g0,
              .ng = MIN (plan.ng, c->groups - g0),
              .c0 = c0,
              .nc = MIN (plan.nc, c->cout_g - c0),
              .img = img,
              .nimg = plan.whole ? c->n : 1,
              .oy0 = oy0,
              .rows = MIN (plan.rows, oy_end - oy0),
            };
            DrapeBinding bind[N_BINDINGS];
            ConvPush p;
            guint32 cols = part.ng > 1 ? part.ng * c->cout_g : part.nc;
            double flops;

            drape_conv_part_bind (c, &part, cfg.texel, bind, &p);
            flops = 2.0 * p.m * cols * c->k * (c->geglu ? 2 : 1) * n_phases (c);
            if (c->depthwise)
              {
                guint32 cv = dw_vec4 ? 4 : 1;
                guint64 groups = (guint64) drape_div_up (cols, cv) *
                                 drape_div_up (c->ow, dw_px) * (p.m / c->ow);
                drape_graph_dispatch_flat (graph, kernel, bind, &p, sizeof p,
                                           drape_div_up (groups, dw_local), 1, c->op, flops);
              }
            else if (partial != NULL)
              {
                p.tiles_n = drape_div_up (part.nc, cfg.tile_n);
                split_record (graph, &coop, n_phases (c), partial, bind, &p, flops);
              }
            else
              {
                guint64 tiles;

                p.tiles_n = drape_div_up (part.nc, cfg.tile_n);
                tiles = kernel == coop.kernel
                          ? drape_conv_coopmat_tiles (&coop, p.m, p.rows, p.ow, p.tiles_n)
                          : (guint64) drape_div_up (p.m, cfg.tile_m) * p.tiles_n;
                drape_graph_dispatch_flat (graph, kernel, bind, &p, sizeof p,
                                           drape_div_up (tiles, cfg.tiles_per_group),
                                           part.ng * n_phases (c), c->op, flops);
                drape_graph_describe_last (graph, "M%u N%u K%u %ux%u%s", p.m, p.ncols, c->k,
                                           cfg.tile_m, cfg.tile_n, n_phases (c) > 1 ? " x4" : "");
              }
            if (plan.whole)
              break;
          }
  if (partial != NULL)
    drape_tensor_release (partial);
}

/* Records the convolution the way it chooses (a tile, a kernel: see
 * drape_graph_choose); whatever way it took, what follows is no part of
 * it. */
static void
conv_record (DrapeGraph *graph,
             Conv       *c)
{
  conv_record_way (graph, c);
  drape_graph_end_choice (graph);
}

/* Bands of an output written over its input: OVER_BANDS to an image,
 * so that the rows written ahead of the input cost a fraction of it,
 * unless a band would then leave some compute units without OVER_TILES
 * tiles of 128 x 128 outputs.  DRAPE_CONV_BAND_ROWS sets the rows, for
 * tests. */
#define OVER_BANDS 16
#define OVER_TILES 2
#define OVER_UNITS 128

static guint32
over_band_rows (DrapeGraph *graph,
                const Conv *c)
{
  const DrapeDeviceCaps *caps = drape_device_get_caps (drape_graph_get_device (graph));
  const char *forced = g_getenv ("DRAPE_CONV_BAND_ROWS");
  guint64 units = caps->compute_units ? caps->compute_units : OVER_UNITS;
  guint64 fill = drape_div_up (OVER_TILES * units * 128 * 128, (guint64) c->ow * c->cout);

  if (forced != NULL)
    return (guint32) CLAMP (g_ascii_strtoull (forced, NULL, 10), 1, c->oh);
  return (guint32) CLAMP (MAX (drape_div_up (c->oh, OVER_BANDS), fill), 1, c->oh);
}

static DrapeTensor *
conv_op (DrapeGraph            *graph,
         Conv                  *c,
         const DrapeConvParams *params)
{
  DrapeDType dtype = c->x ? c->x->dtype : DRAPE_DTYPE_F32;
  guint32 scale = c->subpixel ? 2 : 1;

  if (!conv_setup (graph, c, params))
    return drape_graph_placeholder (graph, dtype, c->x ? c->x->n : 1, scale * c->oh, scale * c->ow,
                                    c->cout);
  if (c->oy_count != 0 &&
      ((guint64) c->oy_first + c->oy_count > c->oh || c->out->n != c->n ||
       c->out->w != scale * c->ow || c->out->c != c->cout ||
       (guint64) scale * (c->out_row0 + c->oy_count) > c->out->h))
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "%s: rows %u to %u of an output [%u %u %u %u] do not fit out [%u %u %u %u] "
                        "from its row %u", c->op, scale * c->oy_first,
                        scale * (c->oy_first + c->oy_count), c->n, scale * c->oh, scale * c->ow,
                        c->cout, c->out->n, c->out->h, c->out->w, c->out->c, scale * c->out_row0);
      return c->out;
    }
  if (c->over != NULL)
    {
      c->band_rows = over_band_rows (graph, c);
      conv_record (graph, c);
      if (c->out == NULL)
        return drape_graph_placeholder (graph, dtype, c->n, c->oh, c->ow, c->cout);
      return c->out;
    }
  if (c->out == NULL)
    c->out = drape_graph_tensor (graph, dtype, c->n, scale * c->oh, scale * c->ow, c->cout);
  if (!c->subpixel)
    {
      if (drape_conv_winograd_suits (graph, c))
        drape_conv_winograd_record (graph, c);
      else
        conv_record (graph, c);
      return c->out;
    }
  /* All four phases in one dispatch where their bindings fit: a quarter
   * of the dispatches and barriers, and four times the workgroups in
   * each (a band of an upsampler alone may leave most of a GPU idle).
   * The dispatch's pads and offsets are phase (0, 0)'s. */
  {
    Conv all = *c;
    ConvPlan plan;
    guint64 room = storage_room (graph, c);
    g_autofree char *why = NULL;

    all.phases = 4;
    all.pad_t = all.pad_l = 1;
    if (room > 0)
      why = conv_plan (&all, room, 1, &plan);
    if (room > 0 && why == NULL)
      {
        conv_record (graph, &all);
        return c->out;
      }
  }
  for (guint32 phase = 0; phase < 4; phase++)
    {
      Conv pc = *c;

      pc.py = phase / 2;
      pc.px = phase % 2;
      /* Output row 2 y + py reads x rows y - 1 + py and y + py. */
      pc.pad_t = 1 - pc.py;
      pc.pad_l = 1 - pc.px;
      pc.w_base = (guint64) phase * c->cout * c->k;
      conv_record (graph, &pc);
    }
  return c->out;
}

/* conv_op with the epilogue's operands from params (NULL: none). */
static DrapeTensor *
conv_params_op (DrapeGraph            *graph,
                Conv                  *c,
                const DrapeConvParams *params)
{
  static const DrapeConvParams defaults = { 0 };

  if (params == NULL)
    params = &defaults;
  c->bias = params->bias;
  c->channel_bias = params->channel_bias;
  c->residual = params->residual;
  return conv_op (graph, c, params);
}

DrapeTensor *
drape_op_conv2d (DrapeGraph            *graph,
                 const DrapeTensor     *x,
                 const DrapeTensor     *weight,
                 const DrapeConvParams *params)
{
  Conv c = { .op = "conv2d", .x = x, .weight = weight };

  return conv_params_op (graph, &c, params);
}

DrapeTensor *
drape_op_conv2d_over_input (DrapeGraph            *graph,
                            DrapeTensor           *x,
                            const DrapeTensor     *weight,
                            const DrapeConvParams *params)
{
  Conv c = { .op = "conv2d", .x = x, .weight = weight, .over = x };
  DrapeTensor *out;

  if (!drape_graph_check_tensor (graph, c.op, "x", x))
    return drape_graph_placeholder (graph, x ? x->dtype : DRAPE_DTYPE_F32, 1, 1, 1,
                                    weight ? weight->n : 1);
  if (x->graph != graph || (params != NULL && params->residual == x))
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "conv2d: only an activation of the graph that is not also the residual "
                        "can be written over");
      return drape_graph_placeholder (graph, x->dtype, x->n, x->h, x->w, weight ? weight->n : 1);
    }
  out = conv_params_op (graph, &c, params);
  drape_tensor_release (x);
  return out;
}

DrapeTensor *
drape_op_conv2d_accumulate (DrapeGraph            *graph,
                            const DrapeTensor     *x,
                            const DrapeTensor     *weight,
                            const DrapeConvParams *params,
                            DrapeTensor           *acc)
{
  Conv c = { .op = "conv2d", .x = x, .weight = weight, .out = acc };
  DrapeConvParams pp = { 0 };

  if (params != NULL)
    pp = *params;
  if (pp.residual != NULL || acc == NULL || acc == x)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "conv2d: the sum to accumulate into must be given, in place of a residual, "
                        "and must not be x");
      return drape_graph_placeholder (graph, x ? x->dtype : DRAPE_DTYPE_F32, 1, 1, 1, 1);
    }
  /* Each output value is read as the residual and written by the same
   * invocation, so the two bindings may share memory. */
  pp.residual = acc;
  return conv_params_op (graph, &c, &pp);
}

/* An upsampled convolution's parameters: params' epilogue, and phase
 * (0, 0)'s geometry, which conv_setup checks (every phase has x's size).
 * FALSE, with the graph failed, where params set any geometry. */
static gboolean
upsample_params (DrapeGraph            *graph,
                 const DrapeConvParams *params,
                 DrapeConvParams       *pp)
{
  *pp = params != NULL ? *params : (DrapeConvParams) { 0 };
  if (pp->stride > 1 || pp->groups > 1 || pp->pad_top || pp->pad_left || pp->pad_bottom ||
      pp->pad_right)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "conv2d_upsample2x: stride, groups and padding are the operation's own");
      return FALSE;
    }
  pp->pad_top = pp->pad_left = 1;
  return TRUE;
}

/* conv_params_op for output rows [row0, row0 + rows) into out's rows
 * from out_row0 on (scale output rows to a grid row). */
static void
conv_rows_op (DrapeGraph            *graph,
              Conv                  *c,
              const DrapeConvParams *params,
              guint32                scale,
              guint32                row0,
              guint32                rows,
              DrapeTensor           *out,
              guint32                out_row0)
{
  if (!drape_graph_check_tensor (graph, c->op, "out", out) ||
      !drape_graph_check_tensor (graph, c->op, "x", c->x))
    return;
  if (rows == 0 || row0 % scale != 0 || rows % scale != 0 || out_row0 % scale != 0 ||
      out->dtype != c->x->dtype)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "%s: %u rows from %u into %s rows from %u: there must be some, an "
                        "upsampled output's come in pairs, and out must be x's type", c->op, rows,
                        row0, drape_dtype_name (out->dtype), out_row0);
      return;
    }
  c->out = out;
  c->oy_first = row0 / scale;
  c->oy_count = rows / scale;
  c->out_row0 = out_row0 / scale;
  conv_params_op (graph, c, params);
}

void
drape_op_conv2d_rows (DrapeGraph            *graph,
                      const DrapeTensor     *x,
                      const DrapeTensor     *weight,
                      const DrapeConvParams *params,
                      guint32                row0,
                      guint32                rows,
                      DrapeTensor           *out,
                      guint32                out_row0)
{
  Conv c = { .op = "conv2d", .x = x, .weight = weight };

  conv_rows_op (graph, &c, params, 1, row0, rows, out, out_row0);
}

void
drape_op_conv2d_upsample2x_rows (DrapeGraph            *graph,
                                 const DrapeTensor     *x,
                                 const DrapeTensor     *phases,
                                 const DrapeConvParams *params,
                                 guint32                row0,
                                 guint32                rows,
                                 DrapeTensor           *out,
                                 guint32                out_row0)
{
  Conv c = { .op = "conv2d_upsample2x", .x = x, .weight = phases, .subpixel = TRUE };
  DrapeConvParams pp;

  if (upsample_params (graph, params, &pp))
    conv_rows_op (graph, &c, &pp, 2, row0, rows, out, out_row0);
}

DrapeTensor *
drape_op_conv2d_upsample2x (DrapeGraph            *graph,
                            const DrapeTensor     *x,
                            const DrapeTensor     *phases,
                            const DrapeConvParams *params)
{
  Conv c = { .op = "conv2d_upsample2x", .x = x, .weight = phases, .subpixel = TRUE };
  DrapeConvParams pp;

  if (!upsample_params (graph, params, &pp))
    return drape_graph_placeholder (graph, x ? x->dtype : DRAPE_DTYPE_F32, x ? x->n : 1,
                                    x ? 2 * x->h : 1, x ? 2 * x->w : 1,
                                    phases ? MAX (phases->n / 4, 1) : 1);
  return conv_params_op (graph, &c, &pp);
}

void
drape_conv_upsample2x_weights (const float *w,
                               guint32      cout,
                               guint32      cin,
                               float       *out)
{
  /* Along each axis, phase 0 reads x at offsets -1 and 0, phase 1 at 0
   * and +1: the upsampled taps 0, 1, 2 fall on phase 0's taps 0, 1, 1
   * and on phase 1's taps 0, 0, 1. */
  static const guint32 tap[2][3] = { { 0, 1, 1 }, { 0, 0, 1 } };

  memset (out, 0, sizeof (float) * 16 * cout * cin);
  for (guint32 phase = 0; phase < 4; phase++)
    for (guint64 oc = 0; oc < cout; oc++)
      for (guint64 ic = 0; ic < cin; ic++)
        {
          const float *src = w + (oc * cin + ic) * 9;
          float *dst = out + (((phase * cout + oc) * cin) + ic) * 4;

          for (guint32 ky = 0; ky < 3; ky++)
            for (guint32 kx = 0; kx < 3; kx++)
              dst[tap[phase / 2][ky] * 2 + tap[phase % 2][kx]] += src[ky * 3 + kx];
        }
}

DrapeTensor *
drape_op_linear (DrapeGraph            *graph,
                 const DrapeTensor     *x,
                 const DrapeTensor     *weight,
                 const DrapeConvParams *params)
{
  DrapeConvParams lp = { 0 };
  Conv c = { .op = "linear", .x = x, .weight = weight };

  if (params != NULL)
    {
      lp.bias = params->bias;
      lp.act = params->act;
      lp.residual = params->residual;
      lp.out_scale = params->out_scale;
    }
  c.bias = lp.bias;
  c.residual = lp.residual;
  if (weight != NULL && (weight->h != 1 || weight->w != 1))
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "linear: weight is [%u %u %u %u], expected [out 1 1 in]",
                        weight->n, weight->h, weight->w, weight->c);
      return drape_graph_placeholder (graph, x ? x->dtype : DRAPE_DTYPE_F32, x ? x->n : 1,
                                      x ? x->h : 1, x ? x->w : 1, weight->n);
    }
  return conv_op (graph, &c, &lp);
}

DrapeTensor *
drape_op_linear_geglu (DrapeGraph        *graph,
                       const DrapeTensor *x,
                       const DrapeTensor *weight,
                       const DrapeTensor *bias)
{
  DrapeConvParams lp = { .bias = bias };
  Conv c = { .op = "linear_geglu", .x = x, .weight = weight, .bias = bias, .geglu = TRUE };

  if (weight != NULL && (weight->h != 1 || weight->w != 1))
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "linear_geglu: weight is [%u %u %u %u], expected [2F 1 1 in]",
                        weight->n, weight->h, weight->w, weight->c);
      return drape_graph_placeholder (graph, x ? x->dtype : DRAPE_DTYPE_F32, x ? x->n : 1,
                                      x ? x->h : 1, x ? x->w : 1, MAX (weight->n / 2, 1));
    }
  return conv_op (graph, &c, &lp);
}

void
drape_conv_matmul (DrapeGraph        *graph,
                   const DrapeTensor *a,
                   guint32            a_img,
                   guint32            a_row,
                   guint32            rows,
                   const DrapeTensor *b,
                   guint32            b_img,
                   DrapeTensor       *out,
                   guint32            o_img,
                   guint32            o_row)
{
  guint64 a_rows = (guint64) a->h * a->w, b_rows = (guint64) b->h * b->w;
  guint64 o_rows = (guint64) out->h * out->w;
  Conv c = {
    .op = "matmul",
    .n = 1,
    .ih = rows,
    .iw = 1,
    .cin = a->c,
    .oh = rows,
    .ow = 1,
    .cout = (guint32) b_rows,
    .kh = 1,
    .kw = 1,
    .stride = 1,
    .groups = 1,
    .cin_g = a->c,
    .cout_g = (guint32) b_rows,
    .k = a->c,
    .x = a,
    .weight = b,
    .out = out,
    .out_scale = 1.0f,
    .x_base = ((guint64) a_img * a_rows + a_row) * a->c,
    .w_base = (guint64) b_img * b_rows * b->c,
    .o_base = ((guint64) o_img * o_rows + o_row) * out->c,
  };

  if (!drape_graph_ok (graph))
    return;
  g_return_if_fail (a->dtype == b->dtype && b->c == a->c && out->c == b_rows &&
                    (out->dtype == a->dtype || out->dtype == DRAPE_DTYPE_F32) &&
                    a_img < a->n && b_img < b->n && o_img < out->n &&
                    (guint64) a_row + rows <= a_rows && (guint64) o_row + rows <= o_rows);
  conv_record (graph, &c);
}
