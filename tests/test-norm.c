/* test-norm.c: group norm, layer norm and softmax against the reference
 *
 * Awkward shapes, f32 and f16, values with a large mean (100 + noise) so
 * that a naive E[x^2] - E[x]^2 variance would fail, and each case once more
 * with the binding limit lowered to 4096 bytes so the splitting runs;
 * the chained layer norm against two reference norms and an add.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "test-common.h"

#include <math.h>
#include <string.h>

#include "ops.h"
#include "reference.h"

typedef struct {
  guint32 n, h, w, c, groups;
  /* Also run at a 4096-byte binding limit: the case's statistics must
   * fit such a binding. */
  gboolean split;
} NormCase;

static const NormCase group_cases[] = {
  { 1, 1, 1, 32, 32, TRUE },
  { 2, 5, 7, 64, 32, TRUE },
  { 1, 17, 13, 40, 8, TRUE },
  { 2, 9, 1, 30, 1, TRUE },
  { 1, 1, 11, 96, 32, TRUE },
  { 2, 3, 4, 20, 4, TRUE },
  { 1, 60, 50, 6, 3, TRUE },
  { 2, 3, 5, 21, 3, TRUE },
  /* Many chunks per (image, group): the partial statistics path. */
  { 2, 40, 48, 64, 32, FALSE },
  { 1, 130, 70, 12, 3, FALSE },
  /* Rows of more vectors than a statistics workgroup has threads: each
   * thread takes several (a UNet's 1280 channels), the last one part of
   * a thread's share (644 pairs of channels in 3s). */
  { 2, 12, 16, 1280, 32, FALSE },
  { 1, 9, 7, 1288, 4, FALSE },
};

static const NormCase row_cases[] = {
  { 1, 1, 1, 1, 0, TRUE },
  { 2, 3, 5, 7, 0, TRUE },
  { 1, 17, 13, 33, 0, TRUE },
  { 2, 9, 1, 320, 0, TRUE },
  { 1, 2, 3, 1280, 0, TRUE },
  { 1, 3, 1, 3000, 0, FALSE },
  { 2, 31, 17, 64, 0, TRUE },
};

/* Whether a row op's case can run at a 4096-byte binding limit: one
 * position must fit. */
static gboolean
row_fits_small_limit (const NormCase *s,
                      DrapeDType      dtype)
{
  return s->split && (guint64) s->c * (dtype == DRAPE_DTYPE_F16 ? 2 : 4) <= 4096 - 256;
}

static void
run_graph (DrapeGraph *graph)
{
  g_autoptr(GError) error = NULL;

  drape_graph_compile (graph, &error);
  g_assert_no_error (error);
  drape_graph_run (graph, &error);
  g_assert_no_error (error);
}

/* 100 + noise, per-channel offsets on top, rounded to what the GPU sees. */
static float *
offset_data (const NormCase *s,
             DrapeDType      dtype,
             guint32         seed)
{
  guint64 n = (guint64) s->n * s->h * s->w * s->c;
  float *x = g_new (float, n);

  test_fill_random (x, n, seed, 1.0f);
  for (guint64 i = 0; i < n; i++)
    x[i] += 100.0f + 0.25f * (float) (i % s->c % 5);
  test_quantize (x, n, dtype);
  return x;
}

static void
check_group_norm (DrapeDType      dtype,
                  const NormCase *s,
                  gboolean        silu,
                  guint64         limit,
                  gboolean        in_place)
{
  DrapeDevice *device = test_device ();
  guint64 n = (guint64) s->n * s->h * s->w * s->c;
  g_autofree float *x = offset_data (s, dtype, 11);
  g_autofree float *gamma = g_new (float, s->c);
  g_autofree float *beta = g_new (float, s->c);
  g_autofree float *ref = g_new (float, n);
  g_autofree float *got = NULL;
  g_autoptr(DrapeTensor) tx = NULL;
  g_autoptr(DrapeTensor) tg = NULL;
  g_autoptr(DrapeTensor) tb = NULL;
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "group_norm");
  g_autofree char *what = g_strdup_printf ("group_norm %s [%u %u %u %u] / %u%s%s limit %" G_GUINT64_FORMAT,
                                           drape_dtype_name (dtype), s->n, s->h, s->w, s->c,
                                           s->groups, silu ? " silu" : "",
                                           in_place ? " in place" : "", limit);
  DrapeTensor *out;

  test_fill_random (gamma, s->c, 12, 1.5f);
  test_fill_random (beta, s->c, 13, 0.5f);
  test_quantize (gamma, s->c, dtype);
  test_quantize (beta, s->c, dtype);
  drape_ref_group_norm (x, (DrapeShape) { s->n, s->h, s->w, s->c }, gamma, beta, s->groups,
                        1e-5f, silu, ref);

  tx = test_tensor_from (dtype, s->n, s->h, s->w, s->c, x);
  tg = test_tensor_from (dtype, 1, 1, 1, s->c, gamma);
  tb = test_tensor_from (dtype, 1, 1, 1, s->c, beta);
  drape_device_set_binding_limit (device, limit);
  if (in_place)
    {
      out = drape_op_group_norm_in_place (graph, tx, tg, tb, s->groups, 1e-5f, silu);
      g_assert_true (out == tx);
    }
  else
    out = drape_op_group_norm (graph, tx, tg, tb, s->groups, 1e-5f, silu);
  drape_device_set_binding_limit (device, G_MAXUINT64);
  run_graph (graph);
  got = test_download (out);
  test_assert_close (what, got, ref, n, test_tolerance (dtype));
}

static void
test_group_norm (void)
{
  for (guint d = 0; d < 2; d++)
    for (guint i = 0; i < G_N_ELEMENTS (group_cases); i++)
      for (guint silu = 0; silu < 2; silu++)
        {
          check_group_norm (d, &group_cases[i], silu, G_MAXUINT64, FALSE);
          if (group_cases[i].split)
            check_group_norm (d, &group_cases[i], silu, 4096, FALSE);
        }
  /* Written over the input: every element is read before it is written,
   * also in bands. */
  for (guint d = 0; d < 2; d++)
    for (guint i = 0; i < G_N_ELEMENTS (group_cases); i += 3)
      {
        check_group_norm (d, &group_cases[i], TRUE, G_MAXUINT64, TRUE);
        if (group_cases[i].split)
          check_group_norm (d, &group_cases[i], FALSE, 4096, TRUE);
      }
  test_assert_no_validation_messages ();
}

/* drape_op_group_norm_stats and its kin on bands of `band` rows of one
 * image, their statistics gathered from the last band to the first. */
static void
check_group_norm_bands (DrapeDType      dtype,
                        const NormCase *s,
                        gboolean        silu,
                        guint32         band,
                        guint64         limit)
{
  DrapeDevice *device = test_device ();
  guint64 n = (guint64) s->h * s->w * s->c;
  g_autofree float *x = offset_data (s, dtype, 31);
  g_autofree float *gamma = g_new (float, s->c);
  g_autofree float *beta = g_new (float, s->c);
  g_autofree float *ref = g_new (float, n);
  g_autoptr(DrapeTensor) tx = NULL;
  g_autoptr(DrapeTensor) tg = NULL;
  g_autoptr(DrapeTensor) tb = NULL;
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "group_norm_bands");
  g_autoptr(GPtrArray) outs = g_ptr_array_new ();
  g_autofree char *what = g_strdup_printf ("group_norm in bands of %u %s [%u %u %u] / %u%s limit %"
                                           G_GUINT64_FORMAT, band, drape_dtype_name (dtype), s->h,
                                           s->w, s->c, s->groups, silu ? " silu" : "", limit);
  DrapeTensor *stats, *affine;
  guint32 n_bands = (s->h + band - 1) / band;

  test_fill_random (gamma, s->c, 32, 1.5f);
  test_fill_random (beta, s->c, 33, 0.5f);
  test_quantize (gamma, s->c, dtype);
  test_quantize (beta, s->c, dtype);
  drape_ref_group_norm (x, (DrapeShape) { 1, s->h, s->w, s->c }, gamma, beta, s->groups, 1e-5f,
                        silu, ref);

  tx = test_tensor_from (dtype, 1, s->h, s->w, s->c, x);
  tg = test_tensor_from (dtype, 1, 1, 1, s->c, gamma);
  tb = test_tensor_from (dtype, 1, 1, 1, s->c, beta);
  drape_device_set_binding_limit (device, limit);
  stats = drape_op_group_norm_stats (graph, s->h, s->groups);
  for (guint32 b = n_bands; b-- > 0;)
    {
      guint32 row0 = b * band;
      DrapeTensor *rows = drape_op_slice (graph, DRAPE_AXIS_H, tx, row0, MIN (band, s->h - row0));

      drape_op_group_norm_stats_add (graph, stats, rows, row0);
      drape_tensor_release (rows);
    }
  affine = drape_op_group_norm_stats_finish (graph, stats, s->w, tg, 1e-5f);
  drape_tensor_release (stats);
  for (guint32 row0 = 0; row0 < s->h; row0 += band)
    {
      DrapeTensor *rows = drape_op_slice (graph, DRAPE_AXIS_H, tx, row0, MIN (band, s->h - row0));

      g_assert_true (drape_op_group_norm_apply (graph, rows, affine, tb, silu) == rows);
      g_ptr_array_add (outs, rows);
    }
  drape_device_set_binding_limit (device, G_MAXUINT64);
  run_graph (graph);
  for (guint i = 0; i < outs->len; i++)
    {
      DrapeTensor *rows = g_ptr_array_index (outs, i);
      g_autofree float *got = test_download (rows);
      gsize at = (gsize) i * band * s->w * s->c;

      test_assert_close (what, got, ref + at, (gsize) rows->h * s->w * s->c,
                         test_tolerance (dtype));
    }
}

static void
test_group_norm_bands (void)
{
  for (guint d = 0; d < 2; d++)
    for (guint i = 0; i < G_N_ELEMENTS (group_cases); i++)
      {
        const NormCase *s = &group_cases[i];

        if (s->n != 1)
          continue;
        for (guint32 band = 1; band <= s->h; band += MAX (1, s->h / 3))
          check_group_norm_bands (d, s, band % 2, band, G_MAXUINT64);
        /* A row's statistics are one chunk, read through one binding. */
        if (s->split && (guint64) s->w * s->c * (d == DRAPE_DTYPE_F16 ? 2 : 4) <= 4096 - 256)
          check_group_norm_bands (d, s, TRUE, 2, 4096);
      }
  test_assert_no_validation_messages ();
}

static void
check_row_op (DrapeDType      dtype,
              const NormCase *s,
              gboolean        norm,
              guint64         limit)
{
  DrapeDevice *device = test_device ();
  guint64 n = (guint64) s->n * s->h * s->w * s->c;
  g_autofree float *x = offset_data (s, dtype, 21);
  g_autofree float *gamma = g_new (float, s->c);
  g_autofree float *beta = g_new (float, s->c);
  g_autofree float *ref = g_new (float, n);
  g_autofree float *got = NULL;
  g_autoptr(DrapeTensor) tx = NULL;
  g_autoptr(DrapeTensor) tg = NULL;
  g_autoptr(DrapeTensor) tb = NULL;
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "rows");
  g_autofree char *what = g_strdup_printf ("%s %s [%u %u %u %u] limit %" G_GUINT64_FORMAT,
                                           norm ? "layer_norm" : "softmax", drape_dtype_name (dtype),
                                           s->n, s->h, s->w, s->c, limit);
  DrapeShape shape = { s->n, s->h, s->w, s->c };
  DrapeTensor *out;

  test_fill_random (gamma, s->c, 22, 1.5f);
  test_fill_random (beta, s->c, 23, 0.5f);
  test_quantize (gamma, s->c, dtype);
  test_quantize (beta, s->c, dtype);
  if (!norm)
    {
      /* Logits spread over a range where exp overflows without the max. */
      for (guint64 i = 0; i < n; i++)
        x[i] = (x[i] - 100.0f) * 8.0f + 100.0f;
      test_quantize (x, n, dtype);
    }
  if (norm)
    drape_ref_layer_norm (x, shape, gamma, beta, 1e-5f, ref);
  else
    drape_ref_softmax (x, shape, ref);

  tx = test_tensor_from (dtype, s->n, s->h, s->w, s->c, x);
  tg = test_tensor_from (dtype, 1, 1, 1, s->c, gamma);
  tb = test_tensor_from (dtype, 1, 1, 1, s->c, beta);
  drape_device_set_binding_limit (device, limit);
  out = norm ? drape_op_layer_norm (graph, tx, tg, tb, 1e-5f) : drape_op_softmax (graph, tx);
  drape_device_set_binding_limit (device, G_MAXUINT64);
  run_graph (graph);
  got = test_download (out);
  test_assert_close (what, got, ref, n, test_tolerance (dtype));
}

static void
test_layer_norm (void)
{
  for (guint d = 0; d < 2; d++)
    for (guint i = 0; i < G_N_ELEMENTS (row_cases); i++)
      {
        check_row_op (d, &row_cases[i], TRUE, G_MAXUINT64);
        if (row_fits_small_limit (&row_cases[i], d))
          check_row_op (d, &row_cases[i], TRUE, 4096);
      }
  test_assert_no_validation_messages ();
}

static void
test_softmax (void)
{
  for (guint d = 0; d < 2; d++)
    for (guint i = 0; i < G_N_ELEMENTS (row_cases); i++)
      {
        check_row_op (d, &row_cases[i], FALSE, G_MAXUINT64);
        if (row_fits_small_limit (&row_cases[i], d))
          check_row_op (d, &row_cases[i], FALSE, 4096);
      }
  test_assert_no_validation_messages ();
}

/* softmax (x * scale) of f32 logits, stored as f32 and as f16 (attention
 * probabilities from f32 scores), whole and in bands of a 4096-byte
 * binding. */
static void
test_softmax_scaled (void)
{
  static const float scales[] = { 0.125f, 0.3f };
  DrapeDevice *device = test_device ();

  for (guint i = 0; i < G_N_ELEMENTS (row_cases); i++)
    for (guint d = 0; d < 2; d++)
      for (guint lim = 0; lim < 2; lim++)
        {
          const NormCase *s = &row_cases[i];
          DrapeDType dtype = d == 0 ? DRAPE_DTYPE_F32 : DRAPE_DTYPE_F16;
          float scale = scales[(i + d) % G_N_ELEMENTS (scales)];
          guint64 n = (guint64) s->n * s->h * s->w * s->c;
          guint64 limit = lim == 0 ? G_MAXUINT64 : 4096;
          g_autofree float *x = offset_data (s, DRAPE_DTYPE_F32, 40 + i);
          g_autofree float *scaled = g_new (float, n);
          g_autofree float *ref = g_new (float, n);
          g_autofree float *got = NULL;
          g_autofree char *what = g_strdup_printf ("softmax x %g [%u %u %u %u] f32 to %s limit %"
                                                   G_GUINT64_FORMAT, scale, s->n, s->h, s->w, s->c,
                                                   drape_dtype_name (dtype), limit);
          g_autoptr(DrapeTensor) tx = NULL;
          g_autoptr(DrapeGraph) graph = drape_graph_new (device, "softmax");
          DrapeTensor *out;

          if (lim == 1 && !row_fits_small_limit (s, DRAPE_DTYPE_F32))
            continue;
          for (guint64 j = 0; j < n; j++)
            {
              x[j] = (x[j] - 100.0f) * 8.0f + 100.0f;
              scaled[j] = x[j] * scale;
            }
          drape_ref_softmax (scaled, (DrapeShape) { s->n, s->h, s->w, s->c }, ref);
          tx = test_tensor_from (DRAPE_DTYPE_F32, s->n, s->h, s->w, s->c, x);
          drape_device_set_binding_limit (device, limit);
          out = drape_op_softmax_scaled (graph, tx, scale, dtype);
          drape_device_set_binding_limit (device, G_MAXUINT64);
          g_assert_cmpint (out->dtype, ==, dtype);
          run_graph (graph);
          got = test_download (out);
          test_assert_close (what, got, ref, n, test_tolerance (dtype));
        }
  test_assert_no_validation_messages ();
}

/* x + layer_norm (x), then layer_norm of that, against the reference run
 * as two norms and an add, rounding where separate ops would store. */
static void
check_layer_norm_add_norm (DrapeDType      dtype,
                           const NormCase *s,
                           guint64         limit)
{
  DrapeDevice *device = test_device ();
  guint64 n = (guint64) s->n * s->h * s->w * s->c;
  g_autofree float *x = g_new (float, n);
  g_autofree float *params = g_new (float, 4 * s->c);
  g_autofree float *ref_sum = g_new (float, n);
  g_autofree float *ref = g_new (float, n);
  g_autofree float *got = NULL;
  g_autofree float *got_sum = NULL;
  g_autoptr(DrapeTensor) tx = NULL;
  g_autoptr(DrapeTensor) tg1 = NULL;
  g_autoptr(DrapeTensor) tb1 = NULL;
  g_autoptr(DrapeTensor) tg2 = NULL;
  g_autoptr(DrapeTensor) tb2 = NULL;
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "layer_norm_add_norm");
  g_autofree char *what = g_strdup_printf ("layer_norm_add_norm %s [%u %u %u %u] limit %" G_GUINT64_FORMAT,
                                           drape_dtype_name (dtype), s->n, s->h, s->w, s->c, limit);
  DrapeShape shape = { s->n, s->h, s->w, s->c };
  DrapeTensor *out, *sum = NULL;

  /* A mean well away from zero, as a residual stream has. */
  test_fill_random (x, n, 31, 1.0f);
  for (guint64 i = 0; i < n; i++)
    x[i] += 4.0f + 0.25f * (float) (i % s->c % 5);
  test_quantize (x, n, dtype);
  /* gamma1, beta1, gamma2, beta2. */
  for (guint i = 0; i < 4; i++)
    test_fill_random (params + i * s->c, s->c, 32 + i, i % 2 ? 0.5f : 1.5f);
  test_quantize (params, 4 * s->c, dtype);
  tg1 = test_tensor_from (dtype, 1, 1, 1, s->c, params);
  tb1 = test_tensor_from (dtype, 1, 1, 1, s->c, params + s->c);
  tg2 = test_tensor_from (dtype, 1, 1, 1, s->c, params + 2 * s->c);
  tb2 = test_tensor_from (dtype, 1, 1, 1, s->c, params + 3 * s->c);
  drape_ref_layer_norm (x, shape, params, params + s->c, 1e-5f, ref_sum);
  test_quantize (ref_sum, n, dtype);
  for (guint64 i = 0; i < n; i++)
    ref_sum[i] += x[i];
  test_quantize (ref_sum, n, dtype);
  drape_ref_layer_norm (ref_sum, shape, params + 2 * s->c, params + 3 * s->c, 1e-5f, ref);

  tx = test_tensor_from (dtype, s->n, s->h, s->w, s->c, x);
  drape_device_set_binding_limit (device, limit);
  out = drape_op_layer_norm_add_norm (graph, tx, tg1, tb1, tg2, tb2, 1e-5f, &sum);
  drape_device_set_binding_limit (device, G_MAXUINT64);
  g_assert_nonnull (sum);
  g_assert_true (sum != out);
  run_graph (graph);
  got = test_download (out);
  got_sum = test_download (sum);
  test_assert_close (what, got_sum, ref_sum, n, test_tolerance (dtype));
  test_assert_close (what, got, ref, n, test_tolerance (dtype));
}

static void
test_layer_norm_add_norm (void)
{
  for (guint d = 0; d < 2; d++)
    for (guint i = 0; i < G_N_ELEMENTS (row_cases); i++)
      {
        check_layer_norm_add_norm (d, &row_cases[i], G_MAXUINT64);
        if (row_fits_small_limit (&row_cases[i], d))
          check_layer_norm_add_norm (d, &row_cases[i], 4096);
      }
  test_assert_no_validation_messages ();
}

/* A tensor above 128 MiB, so that at the device's own binding limit the
 * statistics and the apply pass both split it, the latter over more than
 * 65,535 workgroups. */
static void
test_group_norm_large (void)
{
  DrapeDevice *device = test_device ();
  const NormCase s = { 1, 1024, 1024, 36, 4, FALSE };
  guint64 n = (guint64) s.h * s.w * s.c;
  g_autofree float *x = g_new (float, n);
  g_autofree float *ref = g_new (float, n);
  g_autofree float *got = NULL;
  g_autoptr(DrapeTensor) tx = NULL;
  g_autoptr(DrapeTensor) tg = NULL;
  g_autoptr(DrapeTensor) tb = NULL;
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "group_norm_large");
  float gamma[36], beta[36];
  DrapeTensor *out;

  /* 128 MiB, as on lavapipe, whatever this device allows. */
  drape_device_set_binding_limit (device, 128u << 20);
  g_assert_cmpuint (n * 4, >, drape_device_get_binding_limit (device));
  for (guint64 i = 0; i < n; i++)
    x[i] = 100.0f + (float) ((i * 7919) % 1000) / 500.0f + (float) (i % s.c) * 0.1f;
  for (guint i = 0; i < s.c; i++)
    {
      gamma[i] = 1.0f + 0.05f * i;
      beta[i] = 0.25f - 0.01f * i;
    }
  drape_ref_group_norm (x, (DrapeShape) { s.n, s.h, s.w, s.c }, gamma, beta, s.groups, 1e-5f,
                        TRUE, ref);
  tx = test_tensor_from (DRAPE_DTYPE_F32, s.n, s.h, s.w, s.c, x);
  tg = test_tensor_from (DRAPE_DTYPE_F32, 1, 1, 1, s.c, gamma);
  tb = test_tensor_from (DRAPE_DTYPE_F32, 1, 1, 1, s.c, beta);
  out = drape_op_group_norm (graph, tx, tg, tb, s.groups, 1e-5f, TRUE);
  drape_device_set_binding_limit (device, G_MAXUINT64);
  run_graph (graph);
  got = test_download (out);
  test_assert_close ("group_norm large", got, ref, n, test_tolerance (DRAPE_DTYPE_F32));
  test_assert_no_validation_messages ();
}

/* Builds one op on bad input and checks the graph's error names it. */
static void
expect_error (const char *op,
              DrapeError  code,
              guint32     c,
              guint32     gamma_c,
              guint32     groups,
              guint64     limit)
{
  DrapeDevice *device = test_device ();
  g_autoptr(DrapeTensor) x = test_tensor_from (DRAPE_DTYPE_F32, 1, 4, 4, c, NULL);
  g_autoptr(DrapeTensor) gamma = test_tensor_from (DRAPE_DTYPE_F32, 1, 1, 1, gamma_c, NULL);
  g_autoptr(DrapeTensor) beta = test_tensor_from (DRAPE_DTYPE_F32, 1, 1, 1, gamma_c, NULL);
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
  g_autoptr(GError) error = NULL;

  drape_device_set_binding_limit (device, limit);
  if (strcmp (op, "group_norm") == 0)
    drape_op_group_norm (graph, x, gamma, beta, groups, 1e-5f, FALSE);
  else if (strcmp (op, "layer_norm") == 0)
    drape_op_layer_norm (graph, x, gamma, beta, 1e-5f);
  else if (strcmp (op, "layer_norm_add_norm") == 0)
    {
      g_autoptr(DrapeTensor) gamma1 = test_tensor_from (DRAPE_DTYPE_F32, 1, 1, 1, c, NULL);
      DrapeTensor *sum = NULL;

      drape_op_layer_norm_add_norm (graph, x, gamma1, gamma1, gamma, beta, 1e-5f, &sum);
      g_assert_nonnull (sum);
    }
  else
    drape_op_softmax (graph, x);
  drape_device_set_binding_limit (device, G_MAXUINT64);
  g_assert_false (drape_graph_compile (graph, &error));
  g_assert_error (error, DRAPE_ERROR, (gint) code);
  if (strstr (error->message, op) == NULL)
    g_error ("error \"%s\" does not name %s", error->message, op);
}

/* The graph's error after a bad row op names the op. */
static void
expect_row_error (DrapeGraph *graph,
                  const char *op)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (drape_graph_compile (graph, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT);
  if (strstr (error->message, op) == NULL)
    g_error ("error \"%s\" does not name %s", error->message, op);
}

/* drape_op_softmax_scaled() with a bad scale or storage type. */
static void
expect_softmax_error (DrapeDType x_dtype,
                      float      scale,
                      DrapeDType dtype)
{
  g_autoptr(DrapeTensor) x = test_tensor_from (x_dtype, 1, 4, 4, 32, NULL);
  g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "bad");

  drape_op_softmax_scaled (graph, x, scale, dtype);
  expect_row_error (graph, "softmax");
}

/* Row ops given no x at all. */
static void
expect_missing_x_errors (void)
{
  g_autoptr(DrapeTensor) gamma = test_tensor_from (DRAPE_DTYPE_F32, 1, 1, 1, 32, NULL);
  g_autoptr(DrapeGraph) norm_graph = drape_graph_new (test_device (), "bad");
  g_autoptr(DrapeGraph) softmax_graph = drape_graph_new (test_device (), "bad");

  drape_op_layer_norm (norm_graph, NULL, gamma, gamma, 1e-5f);
  expect_row_error (norm_graph, "layer_norm");
  drape_op_softmax_scaled (softmax_graph, NULL, 0.5f, DRAPE_DTYPE_F16);
  expect_row_error (softmax_graph, "softmax");
}

/* Group norm in bands: a band beyond the rows the statistics hold or of
 * two images, statistics of another shape, gamma not a vector, an
 * affine of other channels. */
static void
expect_band_errors (void)
{
  g_autoptr(DrapeTensor) band = test_tensor_from (DRAPE_DTYPE_F32, 1, 3, 4, 32, NULL);
  g_autoptr(DrapeTensor) pair = test_tensor_from (DRAPE_DTYPE_F32, 2, 3, 4, 32, NULL);
  g_autoptr(DrapeTensor) gamma = test_tensor_from (DRAPE_DTYPE_F32, 1, 1, 1, 32, NULL);
  g_autoptr(DrapeTensor) matrix = test_tensor_from (DRAPE_DTYPE_F32, 1, 2, 1, 32, NULL);
  g_autoptr(DrapeTensor) not_stats = test_tensor_from (DRAPE_DTYPE_F32, 1, 8, 6, 3, NULL);
  g_autoptr(DrapeTensor) affine16 = test_tensor_from (DRAPE_DTYPE_F32, 1, 1, 16, 2, NULL);

  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "bad");
    DrapeTensor *stats = drape_op_group_norm_stats (graph, 6, 8);

    drape_op_group_norm_stats_add (graph, stats, band, 4);
    expect_row_error (graph, "group_norm_stats_add");
  }
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "bad");
    DrapeTensor *stats = drape_op_group_norm_stats (graph, 6, 8);

    drape_op_group_norm_stats_add (graph, stats, pair, 0);
    expect_row_error (graph, "one image");
  }
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "bad");

    drape_op_group_norm_stats_add (graph, not_stats, band, 0);
    expect_row_error (graph, "drape_op_group_norm_stats");
  }
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "bad");
    DrapeTensor *stats = drape_op_group_norm_stats (graph, 6, 8);

    drape_op_group_norm_stats_finish (graph, stats, 4, matrix, 1e-5f);
    expect_row_error (graph, "gamma");
  }
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "bad");
    DrapeTensor *rows = drape_op_cast (graph, band, DRAPE_DTYPE_F32);

    drape_op_group_norm_apply (graph, rows, affine16, gamma, TRUE);
    expect_row_error (graph, "group_norm_apply");
  }
  /* A row's statistics per group that outgrow a binding: a whole norm
   * would take fewer, larger chunks, but a band's chunks are its rows. */
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "bad");
    g_autoptr(GError) error = NULL;
    DrapeTensor *stats = drape_op_group_norm_stats (graph, 200, 8);

    drape_device_set_binding_limit (test_device (), 4096);
    drape_op_group_norm_stats_add (graph, stats, band, 0);
    drape_device_set_binding_limit (test_device (), G_MAXUINT64);
    g_assert_false (drape_graph_compile (graph, &error));
    g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED);
    g_assert_nonnull (strstr (error->message, "statistics of 1 images x 8 groups"));
  }
}

static void
test_bad_shapes (void)
{
  /* 30 channels in 8 groups. */
  expect_error ("group_norm", DRAPE_ERROR_INVALID_ARGUMENT, 30, 30, 8, G_MAXUINT64);
  expect_error ("group_norm", DRAPE_ERROR_INVALID_ARGUMENT, 32, 32, 0, G_MAXUINT64);
  /* gamma of the wrong size. */
  expect_error ("group_norm", DRAPE_ERROR_INVALID_ARGUMENT, 32, 16, 8, G_MAXUINT64);
  expect_error ("layer_norm", DRAPE_ERROR_INVALID_ARGUMENT, 32, 31, 0, G_MAXUINT64);
  /* One position wider than a binding. */
  expect_error ("softmax", DRAPE_ERROR_UNSUPPORTED, 2048, 2048, 0, 4096);
  expect_error ("layer_norm", DRAPE_ERROR_UNSUPPORTED, 2048, 2048, 0, 4096);
  /* The second norm's gamma of the wrong size; a row too wide. */
  expect_error ("layer_norm_add_norm", DRAPE_ERROR_INVALID_ARGUMENT, 32, 31, 0, G_MAXUINT64);
  expect_error ("layer_norm_add_norm", DRAPE_ERROR_UNSUPPORTED, 2048, 2048, 0, 4096);
  /* A scale of 0, below, or not a number; f16 scores to f32. */
  expect_softmax_error (DRAPE_DTYPE_F32, 0.0f, DRAPE_DTYPE_F32);
  expect_softmax_error (DRAPE_DTYPE_F32, -2.0f, DRAPE_DTYPE_F16);
  expect_softmax_error (DRAPE_DTYPE_F32, NAN, DRAPE_DTYPE_F32);
  expect_softmax_error (DRAPE_DTYPE_F16, 1.0f, DRAPE_DTYPE_F32);
  expect_missing_x_errors ();
  expect_band_errors ();
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/norm/group-norm", test_group_norm);
  g_test_add_func ("/norm/group-norm/large", test_group_norm_large);
  g_test_add_func ("/norm/group-norm/bands", test_group_norm_bands);
  g_test_add_func ("/norm/layer-norm", test_layer_norm);
  g_test_add_func ("/norm/layer-norm-add-norm", test_layer_norm_add_norm);
  g_test_add_func ("/norm/softmax", test_softmax);
  g_test_add_func ("/norm/softmax-scaled", test_softmax_scaled);
  g_test_add_func ("/norm/bad-shapes", test_bad_shapes);
  return test_finish (g_test_run ());
}
