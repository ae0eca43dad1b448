/* test-conv.c: convolutions, linear layers and GEGLU against the naive
 * references
 *
 * Awkward shapes (channel counts that are no multiple of any tile, 1x1
 * spatial, batch 2), every kernel size, stride and padding the models
 * use, groups and depthwise, every epilogue option, and 3x3 convolutions
 * of 2x upsampled inputs by their phases; f32, f16, and f32 with the f16
 * weights of f16 files; each at the device's binding limit and at 4096
 * bytes (so that column chunks and row bands are taken); each with the GEMM algorithm the device gets by
 * default and with the others (DRAPE_CONV_KERNEL), and with the tiled
 * one standing in for kernels a driver will not build.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "test-common.h"

#include <math.h>
#include <string.h>

#include "device-private.h"
#include "op-coopmat-private.h"
#include "ops.h"
#include "reference.h"
#include "tuning.h"

static const TestConv conv_cases[] = {
  { "1x1", 2, 5, 7, 13, 19, 1, 1, 1, 0, 0, 0, 0, 1, TRUE, FALSE, FALSE, DRAPE_ACT_NONE, 0 },
  { "1x1 vec4", 2, 4, 3, 24, 36, 1, 1, 1, 0, 0, 0, 0, 1, FALSE, FALSE, TRUE, DRAPE_ACT_NONE, 0 },
  { "3x3", 2, 9, 11, 20, 35, 3, 3, 1, 1, 1, 1, 1, 1, TRUE, FALSE, FALSE, DRAPE_ACT_SILU, 0 },
  { "3x3 odd channels", 1, 6, 5, 7, 9, 3, 3, 1, 1, 1, 1, 1, 1, FALSE, FALSE, FALSE, DRAPE_ACT_NONE, 0 },
  { "3x3 rgb", 1, 8, 6, 3, 10, 3, 3, 1, 1, 1, 1, 1, 1, TRUE, FALSE, FALSE, DRAPE_ACT_RELU, 0 },
  { "3x3 on 1x1", 2, 1, 1, 48, 40, 3, 3, 1, 1, 1, 1, 1, 1, TRUE, TRUE, FALSE, DRAPE_ACT_NONE, 0 },
  { "7x7 stride 2", 1, 13, 12, 5, 17, 7, 7, 2, 3, 3, 3, 3, 1, TRUE, FALSE, FALSE, DRAPE_ACT_NONE, 0 },
  { "2x2 stride 2", 2, 8, 10, 12, 24, 2, 2, 2, 0, 0, 0, 0, 1, FALSE, FALSE, FALSE, DRAPE_ACT_NONE, 0 },
  { "3x3 stride 2 pad 0011", 2, 9, 10, 16, 24, 3, 3, 2, 0, 0, 1, 1, 1, TRUE, FALSE, FALSE,
    DRAPE_ACT_NONE, 0 },
  { "depthwise 3x3", 2, 9, 7, 24, 24, 3, 3, 1, 1, 1, 1, 1, 24, TRUE, FALSE, FALSE, DRAPE_ACT_GELU, 0 },
  { "depthwise 3x3 stride 2", 1, 5, 6, 7, 7, 3, 3, 2, 1, 1, 1, 1, 7, FALSE, TRUE, TRUE,
    DRAPE_ACT_NONE, 0.5f },
  { "depthwise 3x3 120 channels", 1, 5, 2, 120, 120, 3, 3, 1, 1, 1, 1, 1, 120, TRUE, FALSE, TRUE,
    DRAPE_ACT_NONE, 0 },
  { "1x1 stride 2", 1, 7, 6, 8, 12, 1, 1, 2, 0, 0, 0, 0, 1, TRUE, FALSE, FALSE, DRAPE_ACT_NONE, 0 },
  { "groups 2", 2, 6, 7, 16, 12, 3, 3, 1, 1, 1, 1, 1, 2, TRUE, FALSE, FALSE, DRAPE_ACT_NONE, 0 },
  { "groups 4", 1, 5, 6, 32, 16, 3, 3, 1, 1, 1, 1, 1, 4, TRUE, TRUE, FALSE, DRAPE_ACT_NONE, 0 },
  { "groups 3 1x1", 1, 5, 5, 9, 6, 1, 1, 1, 0, 0, 0, 0, 3, FALSE, FALSE, TRUE, DRAPE_ACT_RELU, 0 },
  { "epilogue", 2, 7, 6, 32, 33, 3, 3, 1, 1, 1, 1, 1, 1, TRUE, TRUE, TRUE, DRAPE_ACT_SILU, 0.7f },
  { "epilogue gelu", 2, 4, 5, 8, 48, 3, 3, 1, 1, 1, 1, 1, 1, TRUE, TRUE, TRUE, DRAPE_ACT_GELU, 1.5f },
};

/* 3x3 convolutions of stride 1 with channels in fours, which Winograd's
 * F(4x4, 3x3) takes (op-conv-winograd.c): odd sizes leave tiles half
 * outside the output, and the paddings are every kind the op allows. */
static const TestConv winograd_cases[] = {
  { "winograd", 2, 9, 11, 20, 36, 3, 3, 1, 1, 1, 1, 1, 1, TRUE, TRUE, TRUE, DRAPE_ACT_SILU, 0.7f },
  { "winograd one image", 1, 8, 13, 32, 8, 3, 3, 1, 1, 1, 1, 1, 1, TRUE, FALSE, FALSE,
    DRAPE_ACT_NONE, 0 },
  { "winograd no padding", 1, 10, 9, 12, 16, 3, 3, 1, 0, 0, 0, 0, 1, FALSE, FALSE, TRUE,
    DRAPE_ACT_GELU, 0 },
  { "winograd pad 0011", 2, 7, 8, 4, 12, 3, 3, 1, 0, 0, 1, 1, 1, TRUE, TRUE, FALSE, DRAPE_ACT_RELU,
    1.5f },
  { "winograd pad 2", 1, 5, 6, 8, 4, 3, 3, 1, 2, 2, 2, 2, 1, TRUE, FALSE, TRUE, DRAPE_ACT_NONE, 0 },
};

/* 3x3 convolutions (stride 1, padding 1) of x upsampled 2x, as
 * drape_op_conv2d_upsample2x computes them. */
static const TestConv upsample_cases[] = {
  { "upsample 2x", 2, 5, 7, 16, 20, 3, 3, 1, 1, 1, 1, 1, 1, TRUE, FALSE, FALSE, DRAPE_ACT_SILU, 0 },
  { "upsample 2x odd channels", 1, 4, 3, 7, 9, 3, 3, 1, 1, 1, 1, 1, 1, TRUE, TRUE, TRUE,
    DRAPE_ACT_NONE, 0.5f },
  { "upsample 2x epilogue", 2, 3, 6, 32, 24, 3, 3, 1, 1, 1, 1, 1, 1, TRUE, TRUE, TRUE,
    DRAPE_ACT_GELU, 1.5f },
  { "upsample 2x from 1x1", 1, 1, 1, 8, 12, 3, 3, 1, 1, 1, 1, 1, 1, FALSE, FALSE, FALSE,
    DRAPE_ACT_NONE, 0 },
};

static void
run_graph (DrapeGraph *graph)
{
  g_autoptr(GError) error = NULL;

  drape_graph_compile (graph, &error);
  g_assert_no_error (error);
  drape_graph_run (graph, &error);
  g_assert_no_error (error);
}

/* With `upsample`, cc is one of upsample_cases. */
static void
check_conv (const TestConv *cc,
            gboolean        upsample,
            DrapeDType      dtype,
            DrapeDType      weight_dtype,
            guint64         binding_limit)
{
  DrapeDevice *device = test_device ();
  guint64 nx = (guint64) cc->n * cc->h * cc->w * cc->cin;
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "conv");
  g_autofree char *what = g_strdup_printf ("conv2d %s %s weights %s limit %" G_GUINT64_FORMAT " %s",
                                           cc->name, drape_dtype_name (dtype),
                                           drape_dtype_name (weight_dtype), binding_limit,
                                           g_getenv ("DRAPE_CONV_KERNEL"));
  g_autofree float *got = NULL;
  TestConvRun run;
  DrapeTensor *out;

  if (upsample)
    test_conv_prepare_upsample2x (cc, dtype, &run);
  else
    test_conv_prepare_weights (cc, dtype, weight_dtype, &run);
  drape_device_set_binding_limit (device, binding_limit);
  if (upsample)
    out = drape_op_conv2d_upsample2x (graph, run.x, run.weight, &run.params);
  else
    out = drape_op_conv2d (graph, run.x, run.weight, &run.params);
  run_graph (graph);
  /* Upsampled: one dispatch for the four phases, or one per phase and
   * more where bindings are cut into bands. */
  if (upsample && binding_limit == G_MAXUINT64)
    g_assert_cmpuint (drape_graph_get_n_nodes (graph), ==, 1);
  else if (upsample && binding_limit < G_MAXUINT64 && run.n_out * drape_dtype_size (dtype) > binding_limit)
    g_assert_cmpuint (drape_graph_get_n_nodes (graph), >, 4);
  else if (!upsample && binding_limit < G_MAXUINT64 && nx * drape_dtype_size (dtype) > binding_limit)
    g_assert_cmpuint (drape_graph_get_n_nodes (graph), >, 1);
  drape_device_set_binding_limit (device, G_MAXUINT64);
  g_assert_cmpuint (out->n, ==, cc->n);
  g_assert_cmpuint (out->h, ==, run.oh);
  g_assert_cmpuint (out->w, ==, run.ow);
  g_assert_cmpuint (out->c, ==, cc->cout);
  got = test_download (out);
  test_assert_close (what, got, run.ref, run.n_out, test_tolerance (dtype));
  test_conv_clear (&run);
}

/* An activation holding t's values (a cast to its own type copies), for
 * ops that write over theirs. */
static DrapeTensor *
activation_copy (DrapeGraph        *graph,
                 const DrapeTensor *t)
{
  return drape_op_cast (graph, t, t->dtype);
}

/* What a tensor takes in a graph's arena, whose blocks are 256-byte
 * aligned. */
static guint64
arena_bytes (const DrapeTensor *t)
{
  return (drape_tensor_bytes (t) + 255) / 256 * 256;
}

/* drape_op_conv2d_over_input with `band_rows` rows to a band (NULL: the
 * op's choice) and, where the case has a residual,
 * drape_op_conv2d_accumulate into a copy of it. */
static void
check_conv_in_place (const TestConv *cc,
                     DrapeDType      dtype,
                     guint64         binding_limit,
                     const char     *band_rows)
{
  DrapeDevice *device = test_device ();
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "conv-over");
  g_autofree char *what = g_strdup_printf ("conv2d in place %s %s limit %" G_GUINT64_FORMAT
                                           " bands of %s", cc->name, drape_dtype_name (dtype),
                                           binding_limit, band_rows ? band_rows : "default");
  g_autofree float *got = NULL;
  g_autofree float *got_acc = NULL;
  DrapeTensor *x, *acc = NULL, *out;
  guint64 held;
  TestConvRun run;

  test_conv_prepare (cc, dtype, &run);
  x = activation_copy (graph, run.x);
  held = arena_bytes (x);
  if (band_rows != NULL)
    g_setenv ("DRAPE_CONV_BAND_ROWS", band_rows, TRUE);
  drape_device_set_binding_limit (device, binding_limit);
  out = drape_op_conv2d_over_input (graph, x, run.weight, &run.params);
  g_assert_true (x->released);
  held += arena_bytes (out);
  if (run.params.residual != NULL)
    {
      DrapeConvParams params = run.params;

      params.residual = NULL;
      acc = activation_copy (graph, run.residual);
      held += arena_bytes (acc);
      g_assert_true (drape_op_conv2d_accumulate (graph, run.x, run.weight, &params, acc) == acc);
    }
  run_graph (graph);
  drape_device_set_binding_limit (device, G_MAXUINT64);
  g_unsetenv ("DRAPE_CONV_BAND_ROWS");
  /* The arena holds no more than x and the output apart, and an output no
   * larger than x, in bands of a quarter of the image or less, overlaps
   * it (unless 256-byte alignment rounds the rows it runs ahead up to all
   * of it). */
  g_assert_cmpuint (drape_graph_get_arena_size (graph), <=, held);
  if (band_rows != NULL && 4 * g_ascii_strtoull (band_rows, NULL, 10) <= run.oh &&
      binding_limit == G_MAXUINT64 && drape_tensor_bytes (out) > 512 &&
      drape_tensor_bytes (out) <= drape_tensor_bytes (x))
    {
      g_assert_cmpuint (out->arena_offset, <, x->arena_offset + drape_tensor_bytes (x));
      g_assert_cmpuint (out->arena_offset + drape_tensor_bytes (out), >, x->arena_offset);
    }
  got = test_download (out);
  test_assert_close (what, got, run.ref, run.n_out, test_tolerance (dtype));
  if (acc != NULL)
    {
      got_acc = test_download (acc);
      test_assert_close (what, got_acc, run.ref, run.n_out, test_tolerance (dtype));
    }
  test_conv_clear (&run);
}

/* Rows [row0, row0 + rows) of every image of an NHWC output of oh rows. */
static float *
rows_of (const float *all,
         guint32      n,
         guint32      oh,
         guint32      row_values,
         guint32      row0,
         guint32      rows)
{
  float *band = g_new (float, (gsize) n * rows * row_values);

  for (guint32 i = 0; i < n; i++)
    memcpy (band + (gsize) i * rows * row_values,
            all + ((gsize) i * oh + row0) * row_values, sizeof (float) * rows * row_values);
  return band;
}

/* drape_op_conv2d_rows (or its upsampled form) in bands of `band` rows:
 * into the rows of one whole output, and each band into a tensor of its
 * own, with the residual's rows as the bands' residuals. */
static void
check_conv_rows (const TestConv *cc,
                 gboolean        upsample,
                 DrapeDType      dtype,
                 guint64         binding_limit,
                 guint32         band)
{
  DrapeDevice *device = test_device ();
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "conv-rows");
  g_autofree char *what = g_strdup_printf ("conv2d rows %s %s limit %" G_GUINT64_FORMAT
                                           " bands of %u", cc->name, drape_dtype_name (dtype),
                                           binding_limit, band);
  g_autoptr(GPtrArray) bands = g_ptr_array_new ();
  g_autofree float *got = NULL;
  DrapeTensor *whole;
  TestConvRun run;
  guint32 row_values;

  if (upsample)
    test_conv_prepare_upsample2x (cc, dtype, &run);
  else
    test_conv_prepare (cc, dtype, &run);
  row_values = run.ow * cc->cout;
  whole = drape_graph_tensor (graph, dtype, cc->n, run.oh, run.ow, cc->cout);
  drape_device_set_binding_limit (device, binding_limit);
  for (guint32 row0 = 0; row0 < run.oh; row0 += band)
    {
      guint32 rows = MIN (band, run.oh - row0);
      DrapeTensor *own = drape_graph_tensor (graph, dtype, cc->n, rows, run.ow, cc->cout);
      DrapeConvParams params = run.params;

      if (run.params.residual != NULL)
        params.residual = drape_op_slice (graph, DRAPE_AXIS_H, run.residual, row0, rows);
      if (upsample)
        {
          drape_op_conv2d_upsample2x_rows (graph, run.x, run.weight, &params, row0, rows, whole,
                                           row0);
          drape_op_conv2d_upsample2x_rows (graph, run.x, run.weight, &params, row0, rows, own, 0);
        }
      else
        {
          drape_op_conv2d_rows (graph, run.x, run.weight, &params, row0, rows, whole, row0);
          drape_op_conv2d_rows (graph, run.x, run.weight, &params, row0, rows, own, 0);
        }
      g_ptr_array_add (bands, own);
    }
  run_graph (graph);
  drape_device_set_binding_limit (device, G_MAXUINT64);
  got = test_download (whole);
  test_assert_close (what, got, run.ref, run.n_out, test_tolerance (dtype));
  for (guint i = 0; i < bands->len; i++)
    {
      DrapeTensor *own = g_ptr_array_index (bands, i);
      g_autofree float *got_band = test_download (own);
      g_autofree float *ref_band = rows_of (run.ref, cc->n, run.oh, row_values, i * band, own->h);

      test_assert_close (what, got_band, ref_band, (gsize) cc->n * own->h * row_values,
                         test_tolerance (dtype));
    }
  test_conv_clear (&run);
}

typedef struct {
  guint32 n, h, w, in, out;
  gboolean bias, residual;
  DrapeActivation act;
  float out_scale;
} LinearCase;

static const LinearCase linear_cases[] = {
  { 2, 3, 5, 33, 19, TRUE, FALSE, DRAPE_ACT_NONE, 0 },
  { 1, 1, 1, 64, 40, TRUE, TRUE, DRAPE_ACT_GELU, 0.5f },
  { 2, 7, 9, 48, 72, FALSE, TRUE, DRAPE_ACT_SILU, 0 },
  { 1, 4, 4, 3, 5, TRUE, FALSE, DRAPE_ACT_RELU, 2.0f },
};

static void
check_linear (const LinearCase *lc,
              DrapeDType        dtype,
              DrapeDType        weight_dtype,
              guint64           binding_limit)
{
  DrapeDevice *device = test_device ();
  guint64 pos = (guint64) lc->n * lc->h * lc->w;
  g_autofree float *x = test_random_data (pos * lc->in, 21, 1.0f, dtype);
  g_autofree float *wt = test_random_data ((guint64) lc->out * lc->in, 22, 1.0f / sqrtf (lc->in),
                                          weight_dtype);
  g_autofree float *b = test_random_data (lc->out, 23, 0.5f, dtype);
  g_autofree float *r = test_random_data (pos * lc->out, 24, 1.0f, dtype);
  g_autofree float *ref = g_new (float, pos * lc->out);
  g_autofree float *got = NULL;
  g_autoptr(DrapeTensor) tx = test_tensor_from (dtype, lc->n, lc->h, lc->w, lc->in, x);
  g_autoptr(DrapeTensor) tw = test_tensor_from (weight_dtype, lc->out, 1, 1, lc->in, wt);
  g_autoptr(DrapeTensor) tb = test_tensor_from (dtype, 1, 1, 1, lc->out, b);
  g_autoptr(DrapeTensor) tr = test_tensor_from (dtype, lc->n, lc->h, lc->w, lc->out, r);
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "linear");
  g_autofree char *what = g_strdup_printf ("linear %ux%u %s weights %s limit %" G_GUINT64_FORMAT,
                                           lc->in, lc->out, drape_dtype_name (dtype),
                                           drape_dtype_name (weight_dtype), binding_limit);
  DrapeConvParams params = {
    .bias = lc->bias ? tb : NULL,
    .act = lc->act,
    .residual = lc->residual ? tr : NULL,
    .out_scale = lc->out_scale,
  };
  DrapeShape out_shape;
  DrapeTensor *out;

  drape_ref_conv2d (x, (DrapeShape) { lc->n, lc->h, lc->w, lc->in }, wt, lc->out, 1, 1, &params,
                    lc->bias ? b : NULL, NULL, lc->residual ? r : NULL, ref, &out_shape);
  drape_device_set_binding_limit (device, binding_limit);
  out = drape_op_linear (graph, tx, tw, &params);
  run_graph (graph);
  drape_device_set_binding_limit (device, G_MAXUINT64);
  got = test_download (out);
  test_assert_close (what, got, ref, pos * lc->out, test_tolerance (dtype));
}

typedef struct {
  guint32 n, h, w, in, f;
  gboolean bias;
} GegluCase;

static const GegluCase geglu_cases[] = {
  { 2, 3, 5, 24, 20, TRUE },
  { 1, 1, 1, 33, 13, TRUE },
  { 1, 7, 9, 64, 72, FALSE },
  { 2, 2, 3, 7, 3, TRUE },
};

static void
check_geglu (const GegluCase *gc,
             DrapeDType       dtype,
             DrapeDType       weight_dtype,
             guint64          binding_limit)
{
  DrapeDevice *device = test_device ();
  guint64 pos = (guint64) gc->n * gc->h * gc->w;
  g_autofree float *x = test_random_data (pos * gc->in, 31, 1.0f, dtype);
  g_autofree float *wt = test_random_data (2ull * gc->f * gc->in, 32, 2.0f / sqrtf (gc->in),
                                          weight_dtype);
  g_autofree float *b = test_random_data (2ull * gc->f, 33, 0.5f, dtype);
  g_autofree float *ref = g_new (float, pos * gc->f);
  g_autofree float *got = NULL;
  g_autoptr(DrapeTensor) tx = test_tensor_from (dtype, gc->n, gc->h, gc->w, gc->in, x);
  g_autoptr(DrapeTensor) tw = test_tensor_from (weight_dtype, 2 * gc->f, 1, 1, gc->in, wt);
  g_autoptr(DrapeTensor) tb = test_tensor_from (dtype, 1, 1, 1, 2 * gc->f, b);
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "geglu");
  g_autofree char *what = g_strdup_printf ("linear_geglu %ux%u %s weights %s limit %" G_GUINT64_FORMAT,
                                           gc->in, gc->f, drape_dtype_name (dtype),
                                           drape_dtype_name (weight_dtype), binding_limit);
  DrapeTensor *out;

  drape_ref_linear_geglu (x, (DrapeShape) { gc->n, gc->h, gc->w, gc->in }, wt, 2 * gc->f,
                          gc->bias ? b : NULL, ref);
  drape_device_set_binding_limit (device, binding_limit);
  out = drape_op_linear_geglu (graph, tx, tw, gc->bias ? tb : NULL);
  run_graph (graph);
  drape_device_set_binding_limit (device, G_MAXUINT64);
  g_assert_cmpuint (out->c, ==, gc->f);
  got = test_download (out);
  test_assert_close (what, got, ref, pos * gc->f, test_tolerance (dtype));
}

/* Every case in the dtypes up to last_dtype and at both binding limits. */
static void
run_all (DrapeDType last_dtype)
{
  for (guint d = 0; d <= last_dtype; d++)
    for (guint l = 0; l < 2; l++)
      {
        guint64 limit = l ? 4096 : G_MAXUINT64;
        for (guint i = 0; i < G_N_ELEMENTS (conv_cases); i++)
          check_conv (&conv_cases[i], FALSE, d, d, limit);
        for (guint i = 0; i < G_N_ELEMENTS (upsample_cases); i++)
          check_conv (&upsample_cases[i], TRUE, d, d, limit);
        for (guint i = 0; i < G_N_ELEMENTS (conv_cases); i++)
          {
            check_conv_in_place (&conv_cases[i], d, limit, NULL);
            check_conv_rows (&conv_cases[i], FALSE, d, limit, 2);
          }
        for (guint i = 0; i < G_N_ELEMENTS (upsample_cases); i++)
          check_conv_rows (&upsample_cases[i], TRUE, d, limit, 4);
        for (guint i = 0; i < G_N_ELEMENTS (linear_cases); i++)
          check_linear (&linear_cases[i], d, d, limit);
        for (guint i = 0; i < G_N_ELEMENTS (geglu_cases); i++)
          check_geglu (&geglu_cases[i], d, d, limit);
      }
  test_assert_no_validation_messages ();
}

static void
test_default_kernel (void)
{
  g_unsetenv ("DRAPE_CONV_KERNEL");
  run_all (DRAPE_DTYPE_F16);
}

static void
test_tiled_kernel (void)
{
  g_setenv ("DRAPE_CONV_KERNEL", "tiled", TRUE);
  run_all (DRAPE_DTYPE_F16);
  g_unsetenv ("DRAPE_CONV_KERNEL");
}

/* The subgroup kernel reading storage buffers: on lavapipe the default
 * reads texel buffers where the channels allow, and storage buffers
 * (also in f16) where they do not. */
static void
test_subgroup_kernel (void)
{
  g_setenv ("DRAPE_CONV_KERNEL", "subgroup", TRUE);
  run_all (DRAPE_DTYPE_F32);
  g_unsetenv ("DRAPE_CONV_KERNEL");
}

/* The subgroup kernels pass A round the lanes as shuffles or as
 * broadcasts, whichever the driver compiles to register permutes
 * (DrapeDeviceCaps.lane_broadcasts): the other way gives the same
 * results, with 4-channel loads and without. */
static void
test_lane_broadcasts (void)
{
  DrapeDevice *device = test_device ();
  DrapeDeviceCaps *caps = drape_device_edit_caps (device);
  const DrapeDeviceCaps had = *caps;

  if (!drape_device_get_info (device)->is_software)
    {
      g_test_skip ("the subgroup kernels are for CPU devices");
      return;
    }
  caps->lane_broadcasts = !had.lane_broadcasts;
  run_all (DRAPE_DTYPE_F32);
  *caps = had;
}

/* A device that will not build the kernels tuned for it (texel-buffer
 * subgroup kernels on CPUs, tensor cores) runs every case on the tiled
 * kernel instead. */
static void
test_refused_kernel (void)
{
  const char *const refused[] = { "conv2d.f32_texel", "conv2d.f16_texel", "conv2d_coopmat", NULL };

  drape_device_refuse_families (test_device (), refused);
  run_all (DRAPE_DTYPE_F32);
  drape_device_refuse_families (test_device (), NULL);
}

/* Whether a convolution of cc's shape records, on a driver that refuses
 * the storage-buffer kernels of conv2d, Winograd's stages and depthwise
 * convolutions. */
static gboolean
records_without_storage_kernels (const TestConv *cc)
{
  static const char *const storage[] = { "conv2d.f32", "conv_winograd.f32", "conv_depthwise.f32", NULL };
  g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "conv-texel");
  g_autoptr(GError) error = NULL;
  TestConvRun run;
  gboolean ok;

  test_conv_prepare (cc, DRAPE_DTYPE_F32, &run);
  drape_device_refuse_families (test_device (), storage);
  drape_op_conv2d (graph, run.x, run.weight, &run.params);
  ok = drape_graph_compile (graph, &error);
  drape_device_refuse_families (test_device (), NULL);
  test_conv_clear (&run);
  return ok;
}

/* The CPU kernels read through texel buffers where the driver's texel
 * reads work (with shaderInt64; not lavapipe's from Mesa 23.3 at a
 * forced vector width in a Mesa cache other widths may share): a CPU
 * driver without them runs the storage-buffer kernels, directly, as
 * Winograd's stages and for a depthwise convolution, and gets the same
 * results; with them, refusing the storage-buffer kernels costs nothing. */
static void
test_without_texel_reads (void)
{
  DrapeDevice *device = test_device ();
  const TestConv *depthwise = &conv_cases[9];
  DrapeDeviceCaps *caps = drape_device_edit_caps (device);
  const DrapeDeviceCaps had = *caps;

  if (!test_cpu_texels_or_skip ())
    return;
  g_assert_cmpstr (depthwise->name, ==, "depthwise 3x3");
  for (guint w = 0; w < 3; w++)
    {
      const TestConv *cc = w < 2 ? &winograd_cases[0] : depthwise;

      g_setenv ("DRAPE_CONV_WINOGRAD", w == 1 ? "1" : "0", TRUE);
      g_assert_true (records_without_storage_kernels (cc));
      caps->texel_reads = FALSE;
      g_assert_false (records_without_storage_kernels (cc));
      check_conv (cc, FALSE, DRAPE_DTYPE_F32, DRAPE_DTYPE_F32, G_MAXUINT64);
      *caps = had;
    }
  g_unsetenv ("DRAPE_CONV_WINOGRAD");
  test_assert_no_validation_messages ();
}

/* Where a driver's 64-bit stores are broken (LLVM 19's lavapipe at
 * 512-bit vectors), the CPU kernels store 32-bit values and still read
 * through texels: the same results, directly (depthwise too) and as
 * Winograd's stages, in f32 and (direct) f16. */
static void
test_texel_32_bit_stores (void)
{
  DrapeDeviceCaps *caps = drape_device_edit_caps (test_device ());
  const DrapeDeviceCaps had = *caps;

  if (!test_cpu_texels_or_skip ())
    return;
  caps->stores_int64 = FALSE;
  for (guint w = 0; w < 2; w++)
    {
      g_setenv ("DRAPE_CONV_WINOGRAD", w ? "1" : "0", TRUE);
      g_assert_true (records_without_storage_kernels (&winograd_cases[0]));
      check_conv (&winograd_cases[0], FALSE, DRAPE_DTYPE_F32, DRAPE_DTYPE_F32, G_MAXUINT64);
    }
  g_unsetenv ("DRAPE_CONV_WINOGRAD");
  for (guint i = 0; i < G_N_ELEMENTS (conv_cases); i++)
    if (conv_cases[i].cin % (4 * conv_cases[i].groups) == 0 ||
        (conv_cases[i].groups == conv_cases[i].cin && conv_cases[i].cin % 4 == 0))
      for (guint d = 0; d < 2; d++)
        check_conv (&conv_cases[i], FALSE, d ? DRAPE_DTYPE_F16 : DRAPE_DTYPE_F32,
                    d ? DRAPE_DTYPE_F16 : DRAPE_DTYPE_F32, G_MAXUINT64);
  *caps = had;
  test_assert_no_validation_messages ();
}

/* A Winograd case as op-conv-winograd.c records it: the kernels'
 * transform, then per part the input's, the GEMMs and the output's, so
 * 1 + 3 parts dispatches; `tiles` a part (NULL: the op's choice, one
 * part).  Where the case has a residual, also accumulated into a copy of
 * it (drape_op_conv2d_accumulate), which the output stage reads and
 * writes. */
static void
check_winograd (const TestConv *cc,
                DrapeDType      dtype,
                DrapeDType      weight_dtype,
                const char     *tiles)
{
  g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "winograd");
  g_autofree char *what = g_strdup_printf ("winograd %s %s weights %s tiles %s", cc->name,
                                           drape_dtype_name (dtype), drape_dtype_name (weight_dtype),
                                           tiles ? tiles : "default");
  g_autofree float *got = NULL;
  guint64 parts = 1;
  TestConvRun run;
  DrapeTensor *out;

  test_conv_prepare_weights (cc, dtype, weight_dtype, &run);
  if (tiles != NULL)
    {
      guint64 per_part = g_ascii_strtoull (tiles, NULL, 10);
      guint64 band = 4 * (per_part / ((run.ow + 3) / 4));

      g_setenv ("DRAPE_CONV_WINOGRAD_TILES", tiles, TRUE);
      parts = cc->n * ((run.oh + band - 1) / band);
    }
  out = drape_op_conv2d (graph, run.x, run.weight, &run.params);
  run_graph (graph);
  g_assert_cmpuint (drape_graph_get_n_nodes (graph), ==, 1 + 3 * parts);
  got = test_download (out);
  test_assert_close (what, got, run.ref, run.n_out, test_tolerance (dtype));
  if (run.params.residual != NULL)
    {
      g_autoptr(DrapeGraph) acc_graph = drape_graph_new (test_device (), "winograd-acc");
      DrapeConvParams params = run.params;
      DrapeTensor *acc = activation_copy (acc_graph, run.residual);
      g_autofree float *got_acc = NULL;

      params.residual = NULL;
      drape_op_conv2d_accumulate (acc_graph, run.x, run.weight, &params, acc);
      run_graph (acc_graph);
      g_assert_cmpuint (drape_graph_get_n_nodes (acc_graph), ==, 2 + 3 * parts);
      got_acc = test_download (acc);
      test_assert_close (what, got_acc, run.ref, run.n_out, test_tolerance (dtype));
    }
  g_unsetenv ("DRAPE_CONV_WINOGRAD_TILES");
  test_conv_clear (&run);
}

/* The dispatches a 3x3 convolution of x [1, shape[0], shape[1],
 * shape[2]] into shape[3] channels records, not run. */
static guint
winograd_choice_nodes (const guint32 *shape,
                       DrapeDType     dtype)
{
  g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "winograd-choice");
  DrapeTensor *x = drape_graph_tensor (graph, dtype, 1, shape[0], shape[1], shape[2]);
  DrapeTensor *w = drape_graph_tensor (graph, dtype, shape[3], 3, 3, shape[2]);
  DrapeConvParams params = { .pad_top = 1, .pad_left = 1, .pad_bottom = 1, .pad_right = 1 };

  drape_op_conv2d (graph, x, w, &params);
  return drape_graph_get_n_nodes (graph);
}

/* Every Winograd case (f32) whole, in parts of one and of two tile rows,
 * into rows of an output (in odd bands: tiles half past a band's end);
 * and a device's own choice: Winograd on a CPU driver where the
 * transforms cost less than the GEMMs save, the direct GEMM on a GPU and
 * for f16. */
static void
test_winograd (void)
{
  /* Recorded, not run: x [1, h, w, cin] and cout, and whether the
   * transforms cost less than the GEMMs save on a CPU driver. */
  static const struct {
    guint32 shape[4];
    DrapeDType dtype;
    gboolean pays;
  } choices[] = {
    { { 48, 48, 512, 512 }, DRAPE_DTYPE_F32, TRUE },
    { { 48, 48, 64, 64 }, DRAPE_DTYPE_F32, FALSE },   /* too few channels */
    { { 4, 4, 512, 512 }, DRAPE_DTYPE_F32, FALSE },   /* too few pixels */
    { { 48, 48, 512, 512 }, DRAPE_DTYPE_F16, FALSE }, /* f16: never */
  };
  DrapeDevice *device = test_device ();
  gboolean software = drape_device_get_info (device)->is_software;

  /* The stages read texel buffers on CPU drivers; k = 1 has them read
   * storage buffers, as on GPUs. */
  g_setenv ("DRAPE_CONV_WINOGRAD", "1", TRUE);
  for (guint k = 0; k < 2; k++)
    {
      if (k == 0)
        g_unsetenv ("DRAPE_CONV_KERNEL");
      else
        g_setenv ("DRAPE_CONV_KERNEL", "subgroup", TRUE);
      for (guint i = 0; i < G_N_ELEMENTS (winograd_cases); i++)
        {
          const TestConv *cc = &winograd_cases[i];
          guint32 ow = cc->w + cc->pad_left + cc->pad_right - 2;
          g_autofree char *one_row = g_strdup_printf ("%u", (ow + 3) / 4);
          g_autofree char *two_rows = g_strdup_printf ("%u", (ow + 3) / 4 * 2 + 1);

          check_winograd (cc, DRAPE_DTYPE_F32, DRAPE_DTYPE_F32, NULL);
          check_winograd (cc, DRAPE_DTYPE_F32, DRAPE_DTYPE_F32, one_row);
          check_winograd (cc, DRAPE_DTYPE_F32, DRAPE_DTYPE_F32, two_rows);
          check_conv_rows (cc, FALSE, DRAPE_DTYPE_F32, G_MAXUINT64, 3);
        }
    }
  g_unsetenv ("DRAPE_CONV_KERNEL");
  /* Forced, f16 convolutions still go direct (and run); left to the
   * device, as it chooses.  Winograd records its four stages; going
   * direct, the convolution records what it does with Winograd turned
   * off (one GEMM, or on a GPU that splits K, two dispatches). */
  for (guint forced = 0; forced < 2; forced++)
    for (guint i = 0; i < G_N_ELEMENTS (choices); i++)
      {
        gboolean winograd = forced ? choices[i].dtype == DRAPE_DTYPE_F32 : choices[i].pays && software;
        guint direct;

        g_setenv ("DRAPE_CONV_WINOGRAD", "0", TRUE);
        direct = winograd_choice_nodes (choices[i].shape, choices[i].dtype);
        g_assert_cmpuint (direct, <, 4);
        if (forced)
          g_setenv ("DRAPE_CONV_WINOGRAD", "1", TRUE);
        else
          g_unsetenv ("DRAPE_CONV_WINOGRAD");
        g_assert_cmpuint (winograd_choice_nodes (choices[i].shape, choices[i].dtype), ==,
                          winograd ? 4 : direct);
      }
  check_conv (&winograd_cases[0], FALSE, DRAPE_DTYPE_F16, DRAPE_DTYPE_F16, G_MAXUINT64);
  g_unsetenv ("DRAPE_CONV_WINOGRAD");
  test_assert_no_validation_messages ();
}

/* Kernels of f16 files beside f32 activations (weights.h): every
 * convolution, linear layer and GEGLU with f16 weights, on each GEMM
 * kernel (texel buffers, whose views take the weights' format, by
 * default on CPU drivers; storage buffers with subgroups or tiles) at
 * both binding limits, and Winograd's stages reading either way.  The
 * weights hold f16 values and the sums are f32's, so f32's tolerance
 * holds. */
static void
test_f16_weights (void)
{
  const char *const kernels[] = { NULL, "subgroup", "tiled" };

  for (guint k = 0; k < G_N_ELEMENTS (kernels); k++)
    {
      if (kernels[k] != NULL)
        g_setenv ("DRAPE_CONV_KERNEL", kernels[k], TRUE);
      else
        g_unsetenv ("DRAPE_CONV_KERNEL");
      for (guint l = 0; l < 2; l++)
        {
          guint64 limit = l ? 4096 : G_MAXUINT64;

          for (guint i = 0; i < G_N_ELEMENTS (conv_cases); i++)
            check_conv (&conv_cases[i], FALSE, DRAPE_DTYPE_F32, DRAPE_DTYPE_F16, limit);
          for (guint i = 0; i < G_N_ELEMENTS (linear_cases); i++)
            check_linear (&linear_cases[i], DRAPE_DTYPE_F32, DRAPE_DTYPE_F16, limit);
          for (guint i = 0; i < G_N_ELEMENTS (geglu_cases); i++)
            check_geglu (&geglu_cases[i], DRAPE_DTYPE_F32, DRAPE_DTYPE_F16, limit);
        }
      g_setenv ("DRAPE_CONV_WINOGRAD", "1", TRUE);
      for (guint i = 0; i < G_N_ELEMENTS (winograd_cases); i++)
        check_winograd (&winograd_cases[i], DRAPE_DTYPE_F32, DRAPE_DTYPE_F16, NULL);
      g_unsetenv ("DRAPE_CONV_WINOGRAD");
    }
  g_unsetenv ("DRAPE_CONV_KERNEL");
  test_assert_no_validation_messages ();
}

/* An output written over its input in bands of every height from one
 * row to the whole image, so that the rows written ahead of the input
 * meet the rows still to be read at every offset. */
static void
test_in_place_bands (void)
{
  g_unsetenv ("DRAPE_CONV_KERNEL");
  for (guint d = 0; d <= DRAPE_DTYPE_F16; d++)
    for (guint i = 0; i < G_N_ELEMENTS (conv_cases); i++)
      for (guint32 rows = 1; rows <= conv_cases[i].h; rows++)
        {
          g_autofree char *band_rows = g_strdup_printf ("%u", rows);
          check_conv_in_place (&conv_cases[i], d, G_MAXUINT64, band_rows);
        }
  test_assert_no_validation_messages ();
}

/* A graph error that names the op and the problem. */
static void
expect_error (DrapeGraph *graph,
              const char *op,
              const char *needle)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (drape_graph_compile (graph, &error));
  g_assert_nonnull (error);
  if (strstr (error->message, op) == NULL || strstr (error->message, needle) == NULL)
    g_error ("expected an error naming %s and %s, got: %s", op, needle, error->message);
}

static void
test_bad_shapes (void)
{
  DrapeDevice *device = test_device ();
  g_autoptr(DrapeTensor) x = test_tensor_from (DRAPE_DTYPE_F32, 1, 6, 6, 8, NULL);
  g_autoptr(DrapeTensor) x16 = test_tensor_from (DRAPE_DTYPE_F16, 1, 6, 6, 8, NULL);
  g_autoptr(DrapeTensor) w = test_tensor_from (DRAPE_DTYPE_F32, 4, 3, 3, 8, NULL);
  g_autoptr(DrapeTensor) w_cin = test_tensor_from (DRAPE_DTYPE_F32, 4, 3, 3, 7, NULL);
  g_autoptr(DrapeTensor) w_big = test_tensor_from (DRAPE_DTYPE_F32, 4, 9, 9, 8, NULL);
  g_autoptr(DrapeTensor) bias5 = test_tensor_from (DRAPE_DTYPE_F32, 1, 1, 1, 5, NULL);
  g_autoptr(DrapeTensor) res = test_tensor_from (DRAPE_DTYPE_F32, 1, 6, 5, 4, NULL);
  g_autoptr(DrapeTensor) cb = test_tensor_from (DRAPE_DTYPE_F32, 2, 1, 1, 4, NULL);
  g_autoptr(DrapeTensor) lw = test_tensor_from (DRAPE_DTYPE_F32, 5, 1, 1, 8, NULL);
  g_autoptr(DrapeTensor) phases = test_tensor_from (DRAPE_DTYPE_F32, 16, 2, 2, 8, NULL);
  g_autoptr(DrapeTensor) res_small = test_tensor_from (DRAPE_DTYPE_F32, 1, 6, 6, 4, NULL);
  g_autoptr(DrapeTensor) lw_in = test_tensor_from (DRAPE_DTYPE_F32, 6, 1, 1, 9, NULL);

  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
    drape_op_conv2d (graph, x, w_cin, &(DrapeConvParams) { .pad_top = 1, .pad_left = 1,
                                                           .pad_bottom = 1, .pad_right = 1 });
    expect_error (graph, "conv2d", "input channels");
  }
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
    drape_op_conv2d (graph, x, w, &(DrapeConvParams) { .bias = bias5 });
    expect_error (graph, "conv2d", "bias");
  }
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
    drape_op_conv2d (graph, x, w, &(DrapeConvParams) { .pad_top = 1, .pad_left = 1,
                                                       .pad_bottom = 1, .pad_right = 1,
                                                       .residual = res });
    expect_error (graph, "conv2d", "residual");
  }
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
    drape_op_conv2d (graph, x, w, &(DrapeConvParams) { .channel_bias = cb });
    expect_error (graph, "conv2d", "channel_bias");
  }
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
    drape_op_conv2d (graph, x16, w, NULL);
    expect_error (graph, "conv2d", "f32");
  }
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
    drape_op_conv2d (graph, x, w_big, NULL);
    expect_error (graph, "conv2d", "kernel");
  }
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
    drape_op_conv2d (graph, x, w, &(DrapeConvParams) { .groups = 3 });
    expect_error (graph, "conv2d", "groups");
  }
  /* An upsampled convolution takes its phases' 2x2 kernels, sets its
   * own geometry, and adds a residual of the upsampled size. */
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
    drape_op_conv2d_upsample2x (graph, x, w, NULL);
    expect_error (graph, "conv2d_upsample2x", "phases");
  }
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
    drape_op_conv2d_upsample2x (graph, x, phases, &(DrapeConvParams) { .pad_top = 1 });
    expect_error (graph, "conv2d_upsample2x", "padding");
  }
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
    drape_op_conv2d_upsample2x (graph, x, phases, &(DrapeConvParams) { .residual = res_small });
    expect_error (graph, "conv2d_upsample2x", "[1 12 12 4]");
  }
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
    drape_op_conv2d_upsample2x (graph, NULL, phases, NULL);
    expect_error (graph, "conv2d_upsample2x", "x");
  }
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
    drape_op_linear (graph, x, lw_in, NULL);
    expect_error (graph, "linear", "input channels");
  }
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
    drape_op_linear (graph, x, w, NULL);
    expect_error (graph, "linear", "weight");
  }
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
    drape_op_linear_geglu (graph, x, lw, NULL);
    expect_error (graph, "linear_geglu", "halves");
  }
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
    drape_op_linear_geglu (graph, x16, lw_in, NULL);
    expect_error (graph, "linear_geglu", "f16");
  }
  /* Rows of an output: within it, into an out with room for them and
   * of its shape, in pairs where upsampled. */
  static const DrapeConvParams same = { .pad_top = 1, .pad_left = 1, .pad_bottom = 1,
                                        .pad_right = 1 };
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
    DrapeTensor *out = drape_graph_tensor (graph, DRAPE_DTYPE_F32, 1, 6, 6, 4);

    drape_op_conv2d_rows (graph, x, w, &same, 4, 3, out, 0);
    expect_error (graph, "conv2d", "rows 4 to 7");
  }
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
    DrapeTensor *out = drape_graph_tensor (graph, DRAPE_DTYPE_F32, 1, 2, 6, 4);

    drape_op_conv2d_rows (graph, x, w, &same, 0, 2, out, 1);
    expect_error (graph, "conv2d", "from its row 1");
  }
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
    DrapeTensor *out = drape_graph_tensor (graph, DRAPE_DTYPE_F32, 1, 4, 5, 4);

    drape_op_conv2d_rows (graph, x, w, &same, 0, 2, out, 0);
    expect_error (graph, "conv2d", "[1 4 5 4]");
  }
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
    DrapeTensor *out = drape_graph_tensor (graph, DRAPE_DTYPE_F32, 1, 12, 12, 4);

    drape_op_conv2d_upsample2x_rows (graph, x, phases, NULL, 3, 2, out, 3);
    expect_error (graph, "conv2d_upsample2x", "pairs");
  }
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
    DrapeTensor *out = drape_graph_tensor (graph, DRAPE_DTYPE_F16, 1, 6, 6, 4);

    drape_op_conv2d_rows (graph, x, w, NULL, 0, 2, out, 0);
    expect_error (graph, "conv2d", "x's type");
  }
  /* Only an activation of the graph can be written over, and not by
   * the convolution whose residual it is; a sum to accumulate into
   * replaces the residual. */
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
    drape_op_conv2d_over_input (graph, x, w, NULL);
    expect_error (graph, "conv2d", "activation");
  }
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
    DrapeTensor *a = activation_copy (graph, res_small);

    drape_op_conv2d_over_input (graph, a, lw_in, &(DrapeConvParams) { .residual = a });
    expect_error (graph, "conv2d", "residual");
  }
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
    DrapeTensor *a = activation_copy (graph, res_small);

    drape_op_conv2d_accumulate (graph, x, w, &(DrapeConvParams) { .residual = res_small }, a);
    expect_error (graph, "conv2d", "residual");
  }
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
    DrapeTensor *a = activation_copy (graph, res);

    drape_op_conv2d_accumulate (graph, x, w, &(DrapeConvParams) { .pad_top = 1, .pad_left = 1,
                                                                  .pad_bottom = 1,
                                                                  .pad_right = 1 }, a);
    expect_error (graph, "conv2d", "residual is [1 6 5 4]");
  }
  test_assert_no_validation_messages ();
}

/* More than 65,535 workgroups along a dimension, at the real binding
 * limit: a 1x1 convolution over 4.3 M pixels. */
static void
test_large_grid (void)
{
  const guint32 h = 2048, w = 2100, c = 4;
  guint64 n = (guint64) h * w * c;
  g_autofree float *x = test_random_data (n, 41, 1.0f, DRAPE_DTYPE_F32);
  g_autofree float *wt = test_random_data (c * c, 42, 0.5f, DRAPE_DTYPE_F32);
  g_autofree float *got = NULL;
  g_autoptr(DrapeTensor) tx = test_tensor_from (DRAPE_DTYPE_F32, 1, h, w, c, x);
  g_autoptr(DrapeTensor) tw = test_tensor_from (DRAPE_DTYPE_F32, c, 1, 1, c, wt);
  g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "large");
  DrapeTensor *out = drape_op_conv2d (graph, tx, tw, NULL);
  double worst = 0;

  run_graph (graph);
  got = test_download (out);
  for (guint64 i = 0; i < (guint64) h * w; i++)
    for (guint32 co = 0; co < c; co++)
      {
        double sum = 0;
        for (guint32 ci = 0; ci < c; ci++)
          sum += (double) x[i * c + ci] * wt[co * c + ci];
        worst = MAX (worst, fabs (sum - got[i * c + co]));
      }
  g_assert_cmpfloat (worst, <=, 1e-5);
  test_assert_no_validation_messages ();
}

/* The cases a tuning is measured on (of conv_cases): each kernel's
 * path (texel, storage-buffer and by-element loads), groups and every
 * epilogue option.  Every way of every case is a pipeline of its own,
 * so not all of them: the rest take the same paths. */
static const guint tuned_cases[] = { 1, 2, 3, 4, 13, 16 };

typedef struct {
  TestConvRun runs[G_N_ELEMENTS (tuned_cases)];
  DrapeTensor *out[G_N_ELEMENTS (tuned_cases)];  /* the last graph's */
} ConvCases;

/* The cases in one graph: what a tuning is measured on. */
static gboolean
record_conv_cases (DrapeGraph *graph,
                   gpointer    user_data,
                   GPtrArray  *results,
                   GError    **error)
{
  ConvCases *cases = user_data;

  for (guint i = 0; i < G_N_ELEMENTS (tuned_cases); i++)
    {
      cases->out[i] = drape_op_conv2d (graph, cases->runs[i].x, cases->runs[i].weight,
                                       &cases->runs[i].params);
      if (results != NULL)
        g_ptr_array_add (results, cases->out[i]);
    }
  return drape_graph_check (graph, error);
}

/* Runs the cases every way (a graph per trial: drape_graph_set_trial)
 * and checks each against its reference; returns, per problem with
 * more than one way, the first way other than its usual one. */
static DrapeTuning *
check_every_way (ConvCases *cases,
                 DrapeDType dtype)
{
  DrapeTuning *others = drape_tuning_new ();
  guint n_trials = 1;

  for (guint trial = 0; trial < n_trials; trial++)
    {
      g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "trial");
      g_autoptr(GArray) ways = NULL;
      g_autoptr(GError) error = NULL;

      drape_graph_set_trial (graph, (gint) trial);
      record_conv_cases (graph, cases, NULL, &error);
      g_assert_no_error (error);
      drape_graph_set_profiling (graph, TRUE);
      run_graph (graph);
      n_trials = drape_graph_get_n_trials (graph);
      ways = drape_graph_get_way_profile (graph);
      for (guint i = 0; i < ways->len; i++)
        {
          const DrapeWayTime *t = &g_array_index (ways, DrapeWayTime, i);
          DrapeTuningEntry e = { t->problem, t->way, 1, NULL, 1 };

          if (!t->usual && drape_tuning_lookup (others, t->problem) == NULL)
            drape_tuning_set (others, &e);
        }
      for (guint i = 0; i < G_N_ELEMENTS (tuned_cases); i++)
        {
          g_autofree float *got = test_download (cases->out[i]);
          g_autofree char *what = g_strdup_printf ("%s %s, trial %u", conv_cases[tuned_cases[i]].name,
                                                   drape_dtype_name (dtype), trial);

          test_assert_close (what, got, cases->runs[i].ref, cases->runs[i].n_out, test_tolerance (dtype));
        }
    }
  return others;
}

/* drape-cli tune's measurement on convolution cases: each one with
 * a choice of ways (kernels and the tiled kernel's shapes; tiles and
 * splits on tensor cores) is timed every way, and keeps another than
 * its usual only where that was faster.  Every way computes the same,
 * and a tuning naming another way for each is then what they run. */
static void
check_tuned_ways (DrapeDType dtype)
{
  DrapeDevice *device = test_device ();
  ConvCases cases;
  g_autoptr(DrapeTuning) measured = drape_tuning_new ();
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "tuned convolutions");
  g_autoptr(GArray) entries = NULL;
  g_autoptr(GArray) ways = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *prefix = g_strdup_printf (" %s M", drape_dtype_name (dtype));
  DrapeTuning *others;

  if (!drape_device_get_caps (device)->has_timestamps)
    {
      g_test_skip ("device has no timestamps");
      return;
    }
  for (guint i = 0; i < G_N_ELEMENTS (tuned_cases); i++)
    test_conv_prepare (&conv_cases[tuned_cases[i]], dtype, &cases.runs[i]);
  g_assert_true (drape_tuning_measure (measured, device, record_conv_cases, &cases, 1, 0, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  entries = drape_tuning_get_entries (measured);
  /* Depthwise convolutions have one kernel, so no choice. */
  g_assert_cmpuint (entries->len, >, 0);
  for (guint i = 0; i < entries->len; i++)
    {
      const DrapeTuningEntry *e = &g_array_index (entries, DrapeTuningEntry, i);

      g_test_message ("%s: %s %.3f ms, usual %s %.3f ms", e->problem, e->way, e->ms, e->usual,
                      e->usual_ms);
      g_assert_true (g_str_has_prefix (e->problem, "conv2d "));
      g_assert_nonnull (strstr (e->problem, prefix));
      g_assert_nonnull (e->usual);
      g_assert_cmpfloat (e->usual_ms, >, 0);
      if (g_strcmp0 (e->way, e->usual) != 0)
        g_assert_cmpfloat (e->ms, <, e->usual_ms);
    }

  others = check_every_way (&cases, dtype);
  g_assert_cmpuint (drape_tuning_get_size (others), >, 0);
  drape_device_set_tuning (device, others);
  record_conv_cases (graph, &cases, NULL, &error);
  g_assert_no_error (error);
  drape_graph_set_profiling (graph, TRUE);
  run_graph (graph);
  g_assert_cmpuint (drape_graph_get_n_tuned (graph), >=, drape_tuning_get_size (others));
  ways = drape_graph_get_way_profile (graph);
  g_assert_cmpuint (ways->len, >=, drape_tuning_get_size (others));
  for (guint i = 0; i < ways->len; i++)
    {
      const DrapeWayTime *t = &g_array_index (ways, DrapeWayTime, i);
      const char *other = drape_tuning_lookup (others, t->problem);

      g_assert_cmpstr (t->way, ==, other != NULL ? other : t->way);
      g_assert_true (other != NULL ? !t->usual : t->usual);
    }
  for (guint i = 0; i < G_N_ELEMENTS (tuned_cases); i++)
    {
      g_autofree float *got = test_download (cases.out[i]);
      g_autofree char *what = g_strdup_printf ("%s tuned, %s", conv_cases[tuned_cases[i]].name,
                                               drape_dtype_name (dtype));

      test_assert_close (what, got, cases.runs[i].ref, cases.runs[i].n_out, test_tolerance (dtype));
      test_conv_clear (&cases.runs[i]);
    }
  drape_device_set_tuning (device, drape_tuning_new ());
  test_assert_no_validation_messages ();
}

static void
test_tuned_ways (void)
{
  check_tuned_ways (DRAPE_DTYPE_F32);
}

/* On tensor cores, their tiles and splits of K. */
static void
test_tuned_ways_f16 (void)
{
  check_tuned_ways (DRAPE_DTYPE_F16);
}

/* The tensor-core tiles listed to be measured on an H200 are ones it
 * can run (48 KiB of shared memory, subgroups of 32, 16x16x16
 * matrices): a tile that cannot would never be timed there, and tuning
 * there is the only way such a tile is ever measured.  Those that
 * cannot stage whole pieces in subgroups of 32, or that pass 48 KiB, do
 * not fit. */
static void
test_coopmat_tiles_h200 (void)
{
  const DrapeDeviceCaps h200 = {
    .max_shared_memory = 48 << 10, .max_workgroup_invocations = 1024, .subgroup_size = 32,
    .has_f16 = TRUE, .coopmat = DRAPE_COOPMAT_KHR, .coopmat_m = 16, .coopmat_n = 16, .coopmat_k = 16,
    .coopmat_subgroup_size = 32, .coopmat2 = TRUE, .compute_units = 132,
  };
  static const char *const conv_fit[] = {
    "coopmat:128x128x16", "coopmat:128x128x16+2", "coopmat:128x128x16+3", "coopmat:128x128x16+4",
    "coopmat:128x128x32", "coopmat:128x128x32+2", "coopmat:128x160x64", "coopmat:64x64x64",
  };
  static const char *const geglu_fit[] = {
    "coopmat:128x64", "coopmat:128x64x32+2", "coopmat:128x64x64",
  };

  for (guint i = 0; i < G_N_ELEMENTS (conv_fit); i++)
    g_assert_true (drape_conv_coopmat_tile_fits (&h200, conv_fit[i], FALSE));
  for (guint i = 0; i < G_N_ELEMENTS (geglu_fit); i++)
    g_assert_true (drape_conv_coopmat_tile_fits (&h200, geglu_fit[i], TRUE));
  /* 160 rows staging 16 in 256 lanes, and GEGLU's 64 rows of B staging
   * 16: no whole pieces per lane.  Nor is any tile a +5. */
  g_assert_false (drape_conv_coopmat_tile_fits (&h200, "coopmat:128x160x16", FALSE));
  g_assert_false (drape_conv_coopmat_tile_fits (&h200, "coopmat:128x64x16", TRUE));
  g_assert_false (drape_conv_coopmat_tile_fits (&h200, "coopmat:128x128x16+5", FALSE));
  /* The UNet's 40-dim heads at 768x1024, scores in registers: the usual
   * tile fits; 64 keys and two query tiles in 16 subgroups do not. */
  g_assert_true (drape_attention_coopmat_tile_fits (&h200, 40, 24576, 32, 1, 8, NULL));
  g_assert_false (drape_attention_coopmat_tile_fits (&h200, 160, 24576, 64, 2, 16, NULL));
}

/* Workgroup-scope tiles (conv2d_coopmat2.comp) fit where the device
 * lists their workgroup size and their sizes are multiples of its
 * granularity, within its largest dimension: the H200 above, given 16 x
 * 16 x 16 granularity in workgroups of 256 and of 128 and sides of up to
 * 256 (what NVIDIA's driver lists is for a GPU session to see: `drape-cli
 * devices`). */
static void
test_workgroup_tiles (void)
{
  DrapeDeviceCaps caps = {
    .max_shared_memory = 48 << 10, .max_workgroup_invocations = 1024, .subgroup_size = 32,
    .has_f16 = TRUE, .coopmat = DRAPE_COOPMAT_KHR, .coopmat_m = 16, .coopmat_n = 16, .coopmat_k = 16,
    .coopmat_subgroup_size = 32, .coopmat2 = TRUE, .compute_units = 132,
    .coopmat2_workgroup = { { 256, 16, 16, 16 }, { 128, 16, 16, 16 } },
    .n_coopmat2_workgroup = 2, .coopmat2_max_dimension = 256,
  };

  g_assert_true (drape_conv_coopmat_tile_fits (&caps, "coopmat2:128x128x32", FALSE));
  g_assert_true (drape_conv_coopmat_tile_fits (&caps, "coopmat2:128x256x64", FALSE));
  g_assert_true (drape_conv_coopmat_tile_fits (&caps, "coopmat2:64x64x64", FALSE));
  g_assert_true (drape_conv_coopmat_tile_fits (&caps, "coopmat2:128x64x32", TRUE));
  /* Not a tile of its kind: GEGLU's are half as wide. */
  g_assert_false (drape_conv_coopmat_tile_fits (&caps, "coopmat2:128x256x32", TRUE));
  g_assert_false (drape_conv_coopmat_tile_fits (&caps, "coopmat2:96x96x32", FALSE));
  /* Sides over the largest the device takes. */
  caps.coopmat2_max_dimension = 128;
  g_assert_false (drape_conv_coopmat_tile_fits (&caps, "coopmat2:128x256x64", FALSE));
  g_assert_true (drape_conv_coopmat_tile_fits (&caps, "coopmat2:128x128x64", FALSE));
  /* Workgroups of 128 whose columns come in 128s: not 64 x 64. */
  caps.coopmat2_workgroup[1] = (DrapeCoopmatWorkgroup) { 128, 16, 128, 16 };
  g_assert_false (drape_conv_coopmat_tile_fits (&caps, "coopmat2:64x64x64", FALSE));
  /* Without the 128-invocation entry. */
  caps.n_coopmat2_workgroup = 1;
  caps.coopmat2_workgroup[0].n = 16;
  g_assert_false (drape_conv_coopmat_tile_fits (&caps, "coopmat2:64x64x64", FALSE));
  g_assert_true (drape_conv_coopmat_tile_fits (&caps, "coopmat2:128x64x32", TRUE));
  /* A device without workgroup-scope matrices. */
  caps.n_coopmat2_workgroup = 0;
  g_assert_false (drape_conv_coopmat_tile_fits (&caps, "coopmat2:128x128x32", FALSE));
}

/* Flash attention on workgroup-scope matrices (attention_workgroup.comp)
 * pads the head dim to what both its products take: 40 to 48 with 16 x
 * 16 x 16 granularity, to 64 where columns come in 32s; 80 and 160 stay.
 * Its tiles need the workgroup sizes they name, and no wide heads. */
static void
test_workgroup_attention_tiles (void)
{
  DrapeDeviceCaps caps = {
    .max_workgroup_invocations = 1024, .coopmat = DRAPE_COOPMAT_KHR, .coopmat2 = TRUE,
    .coopmat2_workgroup = { { 256, 16, 16, 16 }, { 128, 16, 16, 16 } },
    .n_coopmat2_workgroup = 2, .coopmat2_max_dimension = 256,
  };

  g_assert_cmpuint (drape_attention_workgroup_head_dim (&caps, 40, 64, 32), ==, 48);
  g_assert_cmpuint (drape_attention_workgroup_head_dim (&caps, 40, 128, 64), ==, 48);
  g_assert_cmpuint (drape_attention_workgroup_head_dim (&caps, 80, 64, 64), ==, 80);
  g_assert_cmpuint (drape_attention_workgroup_head_dim (&caps, 160, 128, 32), ==, 160);
  g_assert_cmpuint (drape_attention_workgroup_head_dim (&caps, 512, 64, 32), ==, 0);
  /* Not a tile of the kernel's. */
  g_assert_cmpuint (drape_attention_workgroup_head_dim (&caps, 40, 32, 32), ==, 0);
  caps.coopmat2_workgroup[1].n = 32;
  g_assert_cmpuint (drape_attention_workgroup_head_dim (&caps, 40, 64, 32), ==, 64);
  g_assert_cmpuint (drape_attention_workgroup_head_dim (&caps, 80, 64, 32), ==, 96);
  /* Workgroups of 256 alone, then sides of at most 64. */
  caps.n_coopmat2_workgroup = 1;
  g_assert_cmpuint (drape_attention_workgroup_head_dim (&caps, 40, 64, 32), ==, 0);
  g_assert_cmpuint (drape_attention_workgroup_head_dim (&caps, 40, 128, 32), ==, 48);
  caps.coopmat2_max_dimension = 64;
  g_assert_cmpuint (drape_attention_workgroup_head_dim (&caps, 40, 128, 32), ==, 0);
}

/* How many workgroups a workgroup-scope GEMM launches: tiles of
 * consecutive pixels, or patches image by image, each in every column
 * tile. */
static void
test_workgroup_grid (void)
{
  DrapeConvCoopmat flat = { .tile_m = 128, .tile_n = 128 };
  DrapeConvCoopmat patch = { .tile_m = 128, .tile_n = 128, .patch_w = 32 };

  /* 2 x 256 x 96 pixels: 384 tiles of 128, 3 column tiles each. */
  g_assert_cmpuint (drape_conv_coopmat_tiles (&flat, 2 * 256 * 96, 256, 96, 3), ==, 384 * 3);
  /* Patches of 4 x 32: 64 rows and 3 columns of them an image. */
  g_assert_cmpuint (drape_conv_coopmat_tiles (&patch, 2 * 256 * 96, 256, 96, 3), ==, 2 * 64 * 3 * 3);
  /* 2 x 17 x 33: patch rows and columns round up, 5 x 2 an image. */
  g_assert_cmpuint (drape_conv_coopmat_tiles (&patch, 2 * 17 * 33, 17, 33, 1), ==, 2 * 5 * 2);
  /* Flat tiles round up over all the pixels at once: 1122 of them. */
  g_assert_cmpuint (drape_conv_coopmat_tiles (&flat, 2 * 17 * 33, 17, 33, 2), ==, 9 * 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/conv/default-kernel", test_default_kernel);
  g_test_add_func ("/conv/tiled-kernel", test_tiled_kernel);
  g_test_add_func ("/conv/subgroup-kernel", test_subgroup_kernel);
  g_test_add_func ("/conv/lane-broadcasts", test_lane_broadcasts);
  g_test_add_func ("/conv/refused-kernel", test_refused_kernel);
  g_test_add_func ("/conv/in-place-bands", test_in_place_bands);
  g_test_add_func ("/conv/winograd", test_winograd);
  g_test_add_func ("/conv/without-texel-reads", test_without_texel_reads);
  g_test_add_func ("/conv/texel-32-bit-stores", test_texel_32_bit_stores);
  g_test_add_func ("/conv/f16-weights", test_f16_weights);
  g_test_add_func ("/conv/bad-shapes", test_bad_shapes);
  g_test_add_func ("/conv/large-grid", test_large_grid);
  g_test_add_func ("/conv/tuned-ways", test_tuned_ways);
  g_test_add_func ("/conv/tuned-ways/f16", test_tuned_ways_f16);
  g_test_add_func ("/conv/coopmat-tiles/h200", test_coopmat_tiles_h200);
  g_test_add_func ("/conv/coopmat-tiles/workgroup", test_workgroup_tiles);
  g_test_add_func ("/conv/coopmat-tiles/workgroup-grid", test_workgroup_grid);
  g_test_add_func ("/conv/coopmat-tiles/workgroup-attention", test_workgroup_attention_tiles);
  return test_finish (g_test_run ());
}
