/* test-misc-ops.c: unary, cast/copy/concat/slice, resampling, the
 * timestep embedding and argmax against the naive references
 *
 * Random data, awkward shapes (not multiples of any tile, dimensions of 1,
 * batch 2), f32 and f16; every case runs again with the binding limit
 * lowered to 4096 bytes so that each op's splitting path is taken.  Each
 * graph holds several ops so that lavapipe compiles fewer of them.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "test-common.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "device-private.h"
#include "ops.h"
#include "reference.h"
#include "safetensors.h"

#define SMALL_LIMIT 4096

static const DrapeShape awkward[] = {
  { 1, 1, 1, 1 },
  { 2, 3, 5, 7 },
  { 1, 17, 13, 33 },
  { 2, 9, 1, 130 },
};

static const guint64 limits[] = { G_MAXUINT64, SMALL_LIMIT };

typedef struct {
  char *what;
  const DrapeTensor *out;
  const float *ref;
  gsize n;
  double tol;
} Check;

/* One graph under test, what it was given and what it must produce. */
typedef struct {
  DrapeGraph *graph;
  GPtrArray *tensors; /* tensors with memory of their own */
  GPtrArray *arrays;  /* host data */
  GArray *checks;
  char *name;
} Case;

static Case *
case_new (const char *name,
          DrapeDType  dtype,
          DrapeShape  s,
          guint64     limit)
{
  Case *c = g_new0 (Case, 1);

  c->name = g_strdup_printf ("%s %s [%u %u %u %u]%s", name, drape_dtype_name (dtype),
                             s.n, s.h, s.w, s.c, limit == SMALL_LIMIT ? " split" : "");
  c->graph = drape_graph_new (test_device (), name);
  c->tensors = g_ptr_array_new_with_free_func ((GDestroyNotify) drape_tensor_free);
  c->arrays = g_ptr_array_new_with_free_func (g_free);
  c->checks = g_array_new (FALSE, FALSE, sizeof (Check));
  drape_device_set_binding_limit (test_device (), limit);
  return c;
}

static float *
case_alloc (Case   *c,
            guint64 n)
{
  float *data = g_new0 (float, MAX (n, 1));

  g_ptr_array_add (c->arrays, data);
  return data;
}

static DrapeTensor *
case_tensor (Case        *c,
             DrapeDType   dtype,
             DrapeShape   s,
             const float *data)
{
  DrapeTensor *t = test_tensor_from (dtype, s.n, s.h, s.w, s.c, data);

  g_ptr_array_add (c->tensors, t);
  return t;
}

/* Random values in [-scale, scale], as the GPU will see them in dtype. */
static DrapeTensor *
case_input (Case         *c,
            DrapeDType    dtype,
            DrapeShape    s,
            guint32       seed,
            float         scale,
            const float **host)
{
  guint64 n = drape_shape_numel (s);
  float *data = case_alloc (c, n);

  test_fill_random (data, n, seed, scale);
  test_quantize (data, n, dtype);
  *host = data;
  return case_tensor (c, dtype, s, data);
}

static void
case_expect (Case              *c,
             const DrapeTensor *out,
             DrapeShape         s,
             const float       *ref,
             double             tol,
             const char        *format,
             ...)
{
  Check check = { .out = out, .ref = ref, .n = drape_shape_numel (s), .tol = tol };
  g_autofree char *what = NULL;
  va_list args;

  va_start (args, format);
  what = g_strdup_vprintf (format, args);
  va_end (args);
  g_assert_nonnull (out);
  if (out->n != s.n || out->h != s.h || out->w != s.w || out->c != s.c)
    g_error ("%s %s: output is [%u %u %u %u], expected [%u %u %u %u]", c->name, what,
             out->n, out->h, out->w, out->c, s.n, s.h, s.w, s.c);
  check.what = g_strdup_printf ("%s %s", c->name, what);
  g_array_append_val (c->checks, check);
}

static void
case_run (Case *c)
{
  g_autoptr(GError) error = NULL;

  drape_graph_compile (c->graph, &error);
  g_assert_no_error (error);
  drape_graph_run (c->graph, &error);
  g_assert_no_error (error);
  drape_device_set_binding_limit (test_device (), G_MAXUINT64);
  for (guint i = 0; i < c->checks->len; i++)
    {
      Check *check = &g_array_index (c->checks, Check, i);
      g_autofree float *got = test_download (check->out);

      test_assert_close (check->what, got, check->ref, check->n, check->tol);
      g_free (check->what);
    }
  test_assert_no_validation_messages ();
  g_array_unref (c->checks);
  drape_graph_free (c->graph);
  g_ptr_array_unref (c->tensors);
  g_ptr_array_unref (c->arrays);
  g_free (c->name);
  g_free (c);
}

static double
tolerance2 (DrapeDType a,
            DrapeDType b)
{
  return MAX (test_tolerance (a), test_tolerance (b));
}

/* ---- unary -------------------------------------------------------------- */

static void
test_unary (void)
{
  static const char *const names[] = { "none", "silu", "gelu", "relu" };

  for (DrapeDType dtype = 0; dtype < 2; dtype++)
    for (guint i = 0; i < G_N_ELEMENTS (awkward); i++)
      for (guint l = 0; l < G_N_ELEMENTS (limits); l++)
        {
          DrapeShape s = awkward[i];
          guint64 n = drape_shape_numel (s);
          Case *c = case_new ("unary", dtype, s, limits[l]);
          const float *x;
          DrapeTensor *tx = case_input (c, dtype, s, 10 + i, 5.0f, &x);
          float *ref;

          for (DrapeActivation act = DRAPE_ACT_NONE; act <= DRAPE_ACT_RELU; act++)
            {
              ref = case_alloc (c, n);
              drape_ref_unary (x, n, act, 1.5f, -0.25f, ref);
              case_expect (c, drape_op_unary (c->graph, tx, act, 1.5f, -0.25f), s, ref,
                           test_tolerance (dtype), "%s", names[act]);
            }
          ref = case_alloc (c, n);
          drape_ref_unary (x, n, DRAPE_ACT_SILU, 1, 0, ref);
          case_expect (c, drape_op_silu (c->graph, tx), s, ref, test_tolerance (dtype), "silu()");
          ref = case_alloc (c, n);
          drape_ref_unary (x, n, DRAPE_ACT_GELU, 1, 0, ref);
          case_expect (c, drape_op_gelu (c->graph, tx), s, ref, test_tolerance (dtype), "gelu()");
          ref = case_alloc (c, n);
          drape_ref_unary (x, n, DRAPE_ACT_NONE, -0.5f, 2.0f, ref);
          case_expect (c, drape_op_scale (c->graph, tx, -0.5f, 2.0f), s, ref,
                       test_tolerance (dtype), "scale()");
          case_run (c);
        }
}

/* GLSL has no erf: GELU must stay within about 1e-7 |x| of the exact one
 * (erf within 1e-7 absolute), and on the negative side, where it is tiny,
 * within 2e-5 of its value (Vulkan lets exp (-z^2) err by 3 + 2 z^2 ulp). */
static void
test_gelu_accuracy (void)
{
  DrapeShape s = { 1, 1, 1, 40001 };
  guint64 n = drape_shape_numel (s);
  g_autofree float *x = g_new (float, n);
  g_autofree float *ref = g_new (float, n);
  g_autofree float *got = NULL;
  g_autoptr(DrapeTensor) tx = NULL;
  g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "gelu");
  g_autoptr(GError) error = NULL;
  DrapeTensor *out;
  double worst = 0;

  for (guint64 i = 0; i < n; i++)
    x[i] = -10.0f + 20.0f * (float) i / (float) (n - 1);
  drape_ref_unary (x, n, DRAPE_ACT_GELU, 1, 0, ref);
  tx = test_tensor_from (DRAPE_DTYPE_F32, s.n, s.h, s.w, s.c, x);
  out = drape_op_gelu (graph, tx);
  drape_graph_run (graph, &error);
  g_assert_no_error (error);
  got = test_download (out);
  for (guint64 i = 0; i < n; i++)
    {
      double bound = x[i] < -1 ? 2e-5 * fabs (ref[i])
                                : 1e-7 * fabs (x[i]) + 2 * FLT_EPSILON * fabs (ref[i]);
      double err = fabs ((double) got[i] - ref[i]);

      if (!(err <= bound))
        g_error ("gelu (%.7g) = %.9g, want %.9g (error %.3g > %.3g)", x[i], got[i], ref[i],
                 err, bound);
      worst = MAX (worst, err);
    }
  if (g_test_verbose ())
    g_printerr ("gelu on [-10, 10]: max abs error %.3g\n", worst);
  test_assert_no_validation_messages ();
}

/* ---- cast, copy, concat, slice ------------------------------------------ */

static void
test_cast (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (awkward); i++)
    for (guint l = 0; l < G_N_ELEMENTS (limits); l++)
      {
        DrapeShape s = awkward[i];
        guint64 n = drape_shape_numel (s);
        Case *c = case_new ("cast", DRAPE_DTYPE_F32, s, limits[l]);

        for (DrapeDType from = 0; from < 2; from++)
          {
            const float *x;
            DrapeTensor *tx = case_input (c, from, s, 20 + i, 3.0f, &x);

            for (DrapeDType to = 0; to < 2; to++)
              {
                float *ref = case_alloc (c, n);

                memcpy (ref, x, n * sizeof (float));
                test_quantize (ref, n, to);
                case_expect (c, drape_op_cast (c->graph, tx, to), s, ref, tolerance2 (from, to),
                             "%s -> %s", drape_dtype_name (from), drape_dtype_name (to));
              }
          }
        case_run (c);
      }
}

static void
test_copy (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (awkward); i++)
    for (guint l = 0; l < G_N_ELEMENTS (limits); l++)
      {
        DrapeShape s = awkward[i];
        guint64 n = drape_shape_numel (s);
        Case *c = case_new ("copy", DRAPE_DTYPE_F32, s, limits[l]);

        for (DrapeDType from = 0; from < 2; from++)
          {
            const float *x;
            DrapeTensor *tx = case_input (c, from, s, 30 + i, 3.0f, &x);
            /* From an activation too, the way a graph writes its output. */
            DrapeTensor *act = drape_op_scale (c->graph, tx, 2.0f, 0.0f);

            for (DrapeDType to = 0; to < 2; to++)
              {
                DrapeTensor *dst = case_tensor (c, to, s, NULL);
                DrapeTensor *dst2 = case_tensor (c, to, s, NULL);
                float *ref = case_alloc (c, n);
                float *ref2 = case_alloc (c, n);

                for (guint64 k = 0; k < n; k++)
                  {
                    ref[k] = x[k];
                    ref2[k] = 2.0f * x[k];
                  }
                test_quantize (ref, n, to);
                test_quantize (ref2, n, to);
                drape_op_copy (c->graph, tx, dst);
                drape_op_copy (c->graph, act, dst2);
                case_expect (c, dst, s, ref, tolerance2 (from, to), "%s -> %s",
                             drape_dtype_name (from), drape_dtype_name (to));
                case_expect (c, dst2, s, ref2, tolerance2 (from, to), "activation %s -> %s",
                             drape_dtype_name (from), drape_dtype_name (to));
              }
          }
        case_run (c);
      }
}

static guint32 *
shape_dim (DrapeShape *s,
           DrapeAxis   axis)
{
  guint32 *dims[4] = { &s->n, &s->h, &s->w, &s->c };

  return dims[axis];
}

static void
test_concat (void)
{
  for (DrapeDType dtype = 0; dtype < 2; dtype++)
    for (guint i = 0; i < G_N_ELEMENTS (awkward); i++)
      for (guint l = 0; l < G_N_ELEMENTS (limits); l++)
        {
          DrapeShape s = awkward[i];
          Case *c = case_new ("concat", dtype, s, limits[l]);
          const float *a;
          DrapeTensor *ta = case_input (c, dtype, s, 40 + i, 2.0f, &a);

          for (DrapeAxis axis = DRAPE_AXIS_N; axis <= DRAPE_AXIS_C; axis++)
            {
              DrapeShape bs = s, os = s;
              const float *b;
              DrapeTensor *tb;
              float *ref;

              *shape_dim (&bs, axis) = *shape_dim (&s, axis) % 3 + 1;
              *shape_dim (&os, axis) += *shape_dim (&bs, axis);
              tb = case_input (c, dtype, bs, 50 + axis, 2.0f, &b);
              ref = case_alloc (c, drape_shape_numel (os));
              drape_ref_concat (axis, a, s, b, bs, ref);
              case_expect (c, drape_op_concat (c->graph, axis, ta, tb), os, ref,
                           test_tolerance (dtype), "axis %u", axis);
            }
          case_run (c);
        }
}

static void
test_slice (void)
{
  for (DrapeDType dtype = 0; dtype < 2; dtype++)
    for (guint i = 0; i < G_N_ELEMENTS (awkward); i++)
      for (guint l = 0; l < G_N_ELEMENTS (limits); l++)
        {
          DrapeShape s = awkward[i];
          Case *c = case_new ("slice", dtype, s, limits[l]);
          const float *x;
          DrapeTensor *tx = case_input (c, dtype, s, 60 + i, 2.0f, &x);

          for (DrapeAxis axis = DRAPE_AXIS_N; axis <= DRAPE_AXIS_C; axis++)
            {
              guint32 dim = *shape_dim (&s, axis);
              /* A middle part, and the whole. */
              guint32 starts[2] = { dim / 3, 0 };
              guint32 counts[2] = { MAX (dim - dim / 3 - (dim > 2 ? 1 : 0), 1), dim };

              for (guint k = 0; k < 2; k++)
                {
                  DrapeShape os = s;
                  float *ref;

                  *shape_dim (&os, axis) = counts[k];
                  ref = case_alloc (c, drape_shape_numel (os));
                  drape_ref_slice (axis, x, s, starts[k], counts[k], ref);
                  case_expect (c, drape_op_slice (c->graph, axis, tx, starts[k], counts[k]), os,
                               ref, test_tolerance (dtype), "axis %u [%u, +%u)", axis,
                               starts[k], counts[k]);
                }
            }
          case_run (c);
        }
}

/* Positions and a channel range swapped: a middle range and all. */
static void
test_transpose (void)
{
  for (DrapeDType dtype = 0; dtype < 2; dtype++)
    for (guint i = 0; i < G_N_ELEMENTS (awkward); i++)
      {
        DrapeShape s = awkward[i];
        Case *c = case_new ("transpose", dtype, s, G_MAXUINT64);
        const float *x;
        DrapeTensor *tx = case_input (c, dtype, s, 70 + i, 2.0f, &x);
        guint32 hw = s.h * s.w;
        guint32 starts[2] = { s.c / 3, 0 };
        guint32 counts[2] = { MAX (s.c - s.c / 3 - (s.c > 2 ? 1 : 0), 1), s.c };

        for (guint k = 0; k < 2; k++)
          {
            DrapeShape os = { s.n, counts[k], 1, hw };
            float *ref = case_alloc (c, drape_shape_numel (os));

            for (guint32 n = 0; n < s.n; n++)
              for (guint32 ch = 0; ch < counts[k]; ch++)
                for (guint32 t = 0; t < hw; t++)
                  ref[((gsize) n * counts[k] + ch) * hw + t] =
                    x[((gsize) n * hw + t) * s.c + starts[k] + ch];
            case_expect (c, drape_op_transpose (c->graph, tx, starts[k], counts[k]), os, ref,
                         test_tolerance (dtype), "channels [%u, +%u)", starts[k], counts[k]);
          }
        case_run (c);
      }
}

/* ---- resampling ---------------------------------------------------------- */

/* Beside the awkward shapes, channels in whole vec4s, which the kernel
 * takes four at a time (unless the small binding limit cuts them finer). */
static const DrapeShape whole_vec4s[] = {
  { 2, 5, 6, 12 },
  { 1, 4, 9, 64 },
};

/* Each shape to several sizes; bilinear also as resize_bilinear_add, onto
 * a residual of the output's shape with and without a ReLU after. */
static void
test_resize (gboolean bilinear)
{
  for (DrapeDType dtype = 0; dtype < 2; dtype++)
    for (guint i = 0; i < G_N_ELEMENTS (awkward) + G_N_ELEMENTS (whole_vec4s); i++)
      for (guint l = 0; l < G_N_ELEMENTS (limits); l++)
        {
          DrapeShape s = i < G_N_ELEMENTS (awkward) ? awkward[i] : whole_vec4s[i - G_N_ELEMENTS (awkward)];
          Case *c = case_new (bilinear ? "resize_bilinear" : "upsample_nearest", dtype, s,
                              limits[l]);
          const float *x;
          DrapeTensor *tx = case_input (c, dtype, s, 70 + i, 2.0f, &x);
          /* 2x, an uneven enlargement, a reduction, and to one pixel. */
          guint32 sizes[][2] = {
            { 2 * s.h, 2 * s.w },
            { 3 * s.h + 1, s.w + 5 },
            { (s.h + 2) / 3, (s.w + 1) / 2 },
            { 1, 1 },
          };

          for (guint k = 0; k < G_N_ELEMENTS (sizes); k++)
            {
              DrapeShape os = { s.n, sizes[k][0], sizes[k][1], s.c };
              gsize n = drape_shape_numel (os);
              float *ref = case_alloc (c, n);
              DrapeTensor *out;

              if (bilinear)
                {
                  drape_ref_resize_bilinear (x, s, os.h, os.w, ref);
                  out = drape_op_resize_bilinear (c->graph, tx, os.h, os.w);
                }
              else
                {
                  drape_ref_upsample_nearest (x, s, os.h, os.w, ref);
                  out = drape_op_upsample_nearest (c->graph, tx, os.h, os.w);
                }
              case_expect (c, out, os, ref, test_tolerance (dtype), "to %u x %u", os.h, os.w);
              for (DrapeActivation act = DRAPE_ACT_NONE; bilinear && act <= DRAPE_ACT_RELU;
                   act += DRAPE_ACT_RELU)
                {
                  const float *r;
                  DrapeTensor *tr = case_input (c, dtype, os, 90 + k, 2.0f, &r);
                  float *sum = case_alloc (c, n);

                  for (gsize e = 0; e < n; e++)
                    sum[e] = act == DRAPE_ACT_RELU ? MAX (ref[e] + r[e], 0.0f) : ref[e] + r[e];
                  case_expect (c, drape_op_resize_bilinear_add (c->graph, tx, tr, act), os, sum,
                               test_tolerance (dtype), "to %u x %u, added%s", os.h, os.w,
                               act == DRAPE_ACT_RELU ? ", ReLU" : "");
                }
            }
          case_run (c);
        }
}

/* PyTorch takes the scale in float: in 2, out 82 gives 2/82 rounded down,
 * so output row 41 reads row 0 where exact division gives row 1. */
static void
test_upsample_nearest_rounding (void)
{
  DrapeShape s = { 1, 2, 1, 1 }, os = { 1, 82, 1, 1 };
  const float x[] = { 0, 1 };
  Case *c = case_new ("upsample_nearest", DRAPE_DTYPE_F32, s, G_MAXUINT64);
  float *ref = case_alloc (c, drape_shape_numel (os));

  drape_ref_upsample_nearest (x, s, os.h, os.w, ref);
  g_assert_cmpfloat (ref[41], ==, 0);
  g_assert_cmpfloat (ref[42], ==, 1);
  case_expect (c, drape_op_upsample_nearest (c->graph, case_tensor (c, DRAPE_DTYPE_F32, s, x),
                                             os.h, os.w),
               os, ref, 0, "float rounding");
  case_run (c);
}

static void
test_upsample_nearest (void)
{
  test_resize (FALSE);
}

static void
test_resize_bilinear (void)
{
  test_resize (TRUE);
}

/* On CPU drivers the vec4 cases read through texel buffers and store
 * 64-bit values: the same results from storage buffers (where the
 * driver's texel reads do not work) and with 32-bit stores (where its
 * 64-bit ones are broken). */
static void
test_resize_cpu_ways (void)
{
  DrapeDeviceCaps *caps = drape_device_edit_caps (test_device ());
  const DrapeDeviceCaps had = *caps;

  if (!test_cpu_texels_or_skip ())
    return;
  caps->texel_reads = FALSE;
  test_resize (TRUE);
  *caps = had;
  caps->stores_int64 = FALSE;
  test_resize (TRUE);
  test_resize (FALSE);
  *caps = had;
}

/* ---- timestep embedding -------------------------------------------------- */

/* In f32 the frequencies must match the reference to the ulp (one ulp
 * moves sin (999 f) by up to 6e-5) and sin and cos must reduce arguments
 * near 1000 rad exactly: the limit is 1e-6, not the usual 1e-4. */
static void
test_timestep_embedding (void)
{
  static const float times[] = { 0, 1, 500, 999 };
  static const guint32 dims[] = { 32, 320, 33 };
  DrapeShape ts = { G_N_ELEMENTS (times), 1, 1, 1 };

  for (DrapeDType dtype = 0; dtype < 2; dtype++)
    for (guint l = 0; l < G_N_ELEMENTS (limits); l++)
      {
        Case *c = case_new ("timestep_embedding", dtype, ts, limits[l]);
        DrapeTensor *tt = case_tensor (c, DRAPE_DTYPE_F32, ts, times);

        for (guint d = 0; d < G_N_ELEMENTS (dims); d++)
          for (guint flip = 0; flip < 2; flip++)
            for (guint shift = 0; shift < 2; shift++)
              {
                DrapeShape os = { ts.n, 1, 1, dims[d] };
                float *ref = case_alloc (c, drape_shape_numel (os));

                drape_ref_timestep_embedding (times, ts.n, dims[d], flip, shift, ref);
                case_expect (c, drape_op_timestep_embedding (c->graph, tt, dims[d], flip, shift,
                                                             dtype),
                             os, ref, dtype == DRAPE_DTYPE_F32 ? 1e-6 : test_tolerance (dtype),
                             "dim %u flip %u shift %u", dims[d], flip, shift);
              }
        case_run (c);
      }
}

/* diffusers' own numbers (torch, CPU, float32): UNet case 0's time_proj,
 * t = 999, dim 32, flip_sin_to_cos, freq_shift 0.  torch's exp may be an
 * ulp off the correctly rounded one, which moves t f by up to 6e-5. */
static void
test_timestep_golden (void)
{
  g_autofree char *path = g_build_filename (test_golden_dir (), "unet", "unet_cases.safetensors", NULL);
  g_autoptr(DrapeSafetensors) st = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeTensor) tt = NULL;
  g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "time_proj");
  g_autofree float *t = NULL;
  g_autofree float *want = NULL;
  g_autofree float *got = NULL;
  float ref[32];
  DrapeTensor *out;

  st = drape_safetensors_open (path, &error);
  g_assert_no_error (error);
  t = drape_safetensors_read_f32 (st, "case0.timestep", 1, (guint64[]) { 1 }, &error);
  g_assert_no_error (error);
  want = drape_safetensors_read_f32 (st, "case0.time_proj", 2, (guint64[]) { 1, 32 }, &error);
  g_assert_no_error (error);

  drape_ref_timestep_embedding (t, 1, 32, TRUE, 0, ref);
  test_assert_close ("reference vs diffusers", ref, want, 32, test_tolerance (DRAPE_DTYPE_F32));
  tt = test_tensor_from (DRAPE_DTYPE_F32, 1, 1, 1, 1, t);
  out = drape_op_timestep_embedding (graph, tt, 32, TRUE, 0, DRAPE_DTYPE_F32);
  drape_graph_run (graph, &error);
  g_assert_no_error (error);
  got = test_download (out);
  test_assert_close ("op vs diffusers", got, want, 32, test_tolerance (DRAPE_DTYPE_F32));
  test_assert_no_validation_messages ();
}

/* ---- argmax ---------------------------------------------------------------- */

static void
test_argmax (void)
{
  for (DrapeDType dtype = 0; dtype < 2; dtype++)
    for (guint i = 0; i < G_N_ELEMENTS (awkward); i++)
      for (guint l = 0; l < G_N_ELEMENTS (limits); l++)
        {
          DrapeShape s = awkward[i], os = { s.n, s.h, s.w, 1 };
          guint64 n = drape_shape_numel (s);
          Case *c = case_new ("argmax", dtype, s, limits[l]);
          const float *x;
          DrapeTensor *tx = case_input (c, dtype, s, 80 + i, 2.0f, &x);
          float *ties = case_alloc (c, n);
          float *ref = case_alloc (c, drape_shape_numel (os));
          float *ref_ties = case_alloc (c, drape_shape_numel (os));

          /* Few distinct values: many positions have equal maxima. */
          for (guint64 k = 0; k < n; k++)
            ties[k] = floorf (x[k] + 2.0f);
          drape_ref_argmax (x, s, ref);
          drape_ref_argmax (ties, s, ref_ties);
          /* Indices must be exact. */
          case_expect (c, drape_op_argmax (c->graph, tx), os, ref, 0, "random");
          case_expect (c, drape_op_argmax (c->graph, case_tensor (c, dtype, s, ties)), os,
                       ref_ties, 0, "ties");
          case_run (c);
        }
}

static void
test_argmax_nan (void)
{
  DrapeShape s = { 1, 1, 3, 5 }, os = { 1, 1, 3, 1 };
  const float x[] = {
    1, NAN, 3, NAN, 2,  /* the first NaN wins */
    NAN, 1, 2, 3, 4,
    1, 5, 5, 2, 0,      /* the first of equal maxima */
  };
  Case *c = case_new ("argmax", DRAPE_DTYPE_F32, s, G_MAXUINT64);
  float *ref = case_alloc (c, 3);

  drape_ref_argmax (x, s, ref);
  g_assert_cmpfloat (ref[0], ==, 1);
  g_assert_cmpfloat (ref[1], ==, 0);
  g_assert_cmpfloat (ref[2], ==, 1);
  case_expect (c, drape_op_argmax (c->graph, case_tensor (c, DRAPE_DTYPE_F32, s, x)), os, ref,
               0, "nan");
  case_run (c);
}

/* ---- errors and large tensors ------------------------------------------- */

typedef struct {
  DrapeTensor *a, *b, *t;
} Operands;

typedef void (*BadOp) (DrapeGraph *graph, const Operands *o);

static void bad_concat (DrapeGraph *g, const Operands *o) { drape_op_concat (g, DRAPE_AXIS_C, o->a, o->b); }
static void bad_concat_dtype (DrapeGraph *g, const Operands *o) { drape_op_concat (g, DRAPE_AXIS_C, o->a, drape_op_cast (g, o->a, DRAPE_DTYPE_F16)); }
static void bad_slice (DrapeGraph *g, const Operands *o) { drape_op_slice (g, DRAPE_AXIS_W, o->a, 3, 2); }
static void bad_slice_empty (DrapeGraph *g, const Operands *o) { drape_op_slice (g, DRAPE_AXIS_N, o->a, 0, 0); }
static void bad_transpose (DrapeGraph *g, const Operands *o) { drape_op_transpose (g, o->a, 2, 2); }
static void bad_transpose_empty (DrapeGraph *g, const Operands *o) { drape_op_transpose (g, o->a, 0, 0); }
static void bad_copy (DrapeGraph *g, const Operands *o) { drape_op_copy (g, o->a, o->b); }
static void bad_copy_activation (DrapeGraph *g, const Operands *o) { drape_op_copy (g, o->a, drape_op_silu (g, o->a)); }
static void bad_nearest (DrapeGraph *g, const Operands *o) { drape_op_upsample_nearest (g, o->a, 0, 4); }
static void bad_bilinear (DrapeGraph *g, const Operands *o) { drape_op_resize_bilinear (g, o->a, 4, 0); }
static void bad_bilinear_add (DrapeGraph *g, const Operands *o) { drape_op_resize_bilinear_add (g, o->a, o->b, DRAPE_ACT_NONE); }
static void bad_bilinear_add_none (DrapeGraph *g, const Operands *o) { drape_op_resize_bilinear_add (g, o->a, NULL, DRAPE_ACT_NONE); }
static void bad_timestep (DrapeGraph *g, const Operands *o) { drape_op_timestep_embedding (g, o->a, 32, TRUE, 0, DRAPE_DTYPE_F32); }
static void bad_timestep_dim (DrapeGraph *g, const Operands *o) { drape_op_timestep_embedding (g, o->t, 2, TRUE, 1, DRAPE_DTYPE_F32); }
static void bad_unary (DrapeGraph *g, const Operands *o) { drape_op_unary (g, o->a, 7, 1, 0); }
static void bad_argmax (DrapeGraph *g, const Operands *o) { drape_op_argmax (g, NULL); }

static void
test_bad_shapes (void)
{
  static const struct {
    BadOp op;
    const char *name;
  } cases[] = {
    { bad_concat, "concat" },
    { bad_concat_dtype, "concat" },
    { bad_slice, "slice" },
    { bad_slice_empty, "slice" },
    { bad_transpose, "transpose" },
    { bad_transpose_empty, "transpose" },
    { bad_copy, "copy" },
    { bad_copy_activation, "copy" },
    { bad_nearest, "upsample_nearest" },
    { bad_bilinear, "resize_bilinear" },
    { bad_bilinear_add, "residual" },
    { bad_bilinear_add_none, "resize_bilinear_add" },
    { bad_timestep, "timestep_embedding" },
    { bad_timestep_dim, "timestep_embedding" },
    { bad_unary, "unary" },
    { bad_argmax, "argmax" },
  };
  g_autoptr(DrapeTensor) a = test_tensor_from (DRAPE_DTYPE_F32, 1, 4, 4, 3, NULL);
  g_autoptr(DrapeTensor) b = test_tensor_from (DRAPE_DTYPE_F32, 1, 4, 3, 1, NULL);
  g_autoptr(DrapeTensor) t = test_tensor_from (DRAPE_DTYPE_F32, 2, 1, 1, 1, NULL);
  Operands operands = { a, b, t };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "bad");
      g_autoptr(GError) error = NULL;

      cases[i].op (graph, &operands);
      g_assert_false (drape_graph_compile (graph, &error));
      g_assert_nonnull (error);
      if (g_test_verbose ())
        g_printerr ("%s\n", error->message);
      g_assert_nonnull (strstr (error->message, cases[i].name));
    }
}

/* A concatenation above 128 MiB, split across bindings at the device's
 * real limit, on a grid above 65,535 workgroups; then a slice across the
 * seam. */
static void
test_large (void)
{
  DrapeDevice *device = test_device ();
  const guint32 h = 512, w = 1024, c = 36; /* 72 MiB each, 144 MiB joined */
  guint64 n = (guint64) h * w * c;
  g_autofree float *a = g_new (float, n);
  g_autofree float *b = g_new (float, n);
  g_autofree float *got = NULL;
  g_autofree float *got_slice = NULL;
  g_autoptr(DrapeTensor) ta = NULL;
  g_autoptr(DrapeTensor) tb = NULL;
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "large");
  g_autoptr(GError) error = NULL;
  DrapeTensor *out, *mid;

  for (guint64 i = 0; i < n; i++)
    {
      a[i] = (float) (i % 1000);
      b[i] = (float) (i % 997) + 2000;
    }
  ta = test_tensor_from (DRAPE_DTYPE_F32, 1, h, w, c, a);
  tb = test_tensor_from (DRAPE_DTYPE_F32, 1, h, w, c, b);
  /* 128 MiB, as on lavapipe, whatever this device allows. */
  drape_device_set_binding_limit (device, 128u << 20);
  out = drape_op_concat (graph, DRAPE_AXIS_H, ta, tb);
  mid = drape_op_slice (graph, DRAPE_AXIS_H, out, h / 2, h);
  g_assert_cmpuint (drape_tensor_bytes (out), >, drape_device_get_binding_limit (device));
  drape_device_set_binding_limit (device, G_MAXUINT64);
  drape_graph_run (graph, &error);
  g_assert_no_error (error);
  got = test_download (out);
  for (guint64 i = 0; i < 2 * n; i++)
    if (got[i] != (i < n ? a[i] : b[i - n]))
      g_error ("large concat: element %" G_GUINT64_FORMAT " is %g", i, got[i]);
  got_slice = test_download (mid);
  for (guint64 i = 0; i < n; i++)
    if (got_slice[i] != got[i + n / 2])
      g_error ("large slice: element %" G_GUINT64_FORMAT " is %g", i, got_slice[i]);
  test_assert_no_validation_messages ();
}

int
main (int argc, char **argv)
{
  g_autoptr(DrapeTensor) keep_block = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);
  /* The engine returns a device memory block as soon as it is empty, and
   * lavapipe's blocks are malloc'd: under meson's MALLOC_PERTURB_ every
   * case would memset a fresh block twice.  One small tensor
   * alive throughout keeps the block. */
  keep_block = test_tensor_from (DRAPE_DTYPE_F32, 1, 1, 1, 1, NULL);
  g_test_add_func ("/misc/unary", test_unary);
  g_test_add_func ("/misc/unary/gelu-accuracy", test_gelu_accuracy);
  g_test_add_func ("/misc/cast", test_cast);
  g_test_add_func ("/misc/copy", test_copy);
  g_test_add_func ("/misc/concat", test_concat);
  g_test_add_func ("/misc/slice", test_slice);
  g_test_add_func ("/misc/transpose", test_transpose);
  g_test_add_func ("/misc/upsample-nearest", test_upsample_nearest);
  g_test_add_func ("/misc/upsample-nearest/rounding", test_upsample_nearest_rounding);
  g_test_add_func ("/misc/resize-bilinear", test_resize_bilinear);
  g_test_add_func ("/misc/resize/cpu-ways", test_resize_cpu_ways);
  g_test_add_func ("/misc/timestep-embedding", test_timestep_embedding);
  g_test_add_func ("/misc/timestep-embedding/golden", test_timestep_golden);
  g_test_add_func ("/misc/argmax", test_argmax);
  g_test_add_func ("/misc/argmax/nan", test_argmax_nan);
  g_test_add_func ("/misc/bad-shapes", test_bad_shapes);
  g_test_add_func ("/misc/large", test_large);
  status = g_test_run ();
  g_clear_pointer (&keep_block, drape_tensor_free);
  return test_finish (status);
}
