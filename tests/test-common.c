/* test-common.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "test-common.h"

#include <math.h>
#include <glib/gstdio.h>

#include "half.h"
#include "ops.h"
#include "reference.h"

typedef struct {
  DrapeDevice *device;
} TestState;

/* One device per test binary: creating one costs lavapipe a second. */
static TestState state;

DrapeDevice *
test_device (void)
{
  if (state.device == NULL)
    {
      g_autoptr(GError) error = NULL;
      state.device = drape_device_new (NULL, &error);
      g_assert_no_error (error);
    }
  return state.device;
}

gboolean
test_cpu_texels_or_skip (void)
{
  DrapeDevice *device = test_device ();

  if (drape_device_get_info (device)->is_software && drape_device_get_caps (device)->texel_reads)
    return TRUE;
  g_test_skip ("the texel variants run only on CPU drivers whose texel reads work");
  return FALSE;
}

void
test_assert_no_validation_messages (void)
{
  if (state.device != NULL)
    g_assert_cmpuint (drape_device_get_validation_messages (state.device), ==, 0);
}

int
test_finish (int status)
{
  if (state.device != NULL)
    {
      guint messages = drape_device_get_validation_messages (state.device);
      g_clear_pointer (&state.device, drape_device_free);
      if (messages > 0)
        {
          g_printerr ("%u Vulkan validation messages\n", messages);
          return 1;
        }
    }
  return status;
}

void
test_fill_random (float  *data,
                  gsize   n,
                  guint32 seed,
                  float   scale)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);

  for (gsize i = 0; i < n; i++)
    data[i] = (float) (g_rand_double_range (rand, -1.0, 1.0) * scale);
}

double
test_max_abs (const float *x,
              gsize        n)
{
  double m = 0;

  for (gsize i = 0; i < n; i++)
    m = MAX (m, fabs (x[i]));
  return m;
}

double
test_max_abs_diff (const float *x,
                   const float *y,
                   gsize        n)
{
  double m = 0;

  for (gsize i = 0; i < n; i++)
    {
      double d = fabs ((double) x[i] - y[i]);
      if (isnan (d))
        return INFINITY;
      m = MAX (m, d);
    }
  return m;
}

void
test_assert_close (const char  *what,
                   const float *got,
                   const float *ref,
                   gsize        n,
                   double       rel)
{
  double scale = test_max_abs (ref, n);
  double diff = test_max_abs_diff (got, ref, n);

  if (g_test_verbose ())
    g_printerr ("%s: max |diff| %.3g, max |ref| %.3g, ratio %.3g (limit %.3g)\n",
                what, diff, scale, scale > 0 ? diff / scale : diff, rel);
  if (!(diff <= rel * MAX (scale, 1e-30)))
    {
      gsize worst = 0;
      for (gsize i = 0; i < n; i++)
        if (fabs ((double) got[i] - ref[i]) >= fabs ((double) got[worst] - ref[worst]) ||
            isnan (got[i]))
          worst = i;
      g_error ("%s: max |diff| %.6g exceeds %.3g x max |ref| %.6g (at %" G_GSIZE_FORMAT
               ": got %.6g, want %.6g)", what, diff, rel, scale, worst, got[worst], ref[worst]);
    }
}

double
test_tolerance (DrapeDType dtype)
{
  return dtype == DRAPE_DTYPE_F16 ? 2e-2 : 1e-4;
}

void
test_quantize (float     *data,
               gsize      n,
               DrapeDType dtype)
{
  if (dtype != DRAPE_DTYPE_F16)
    return;
  for (gsize i = 0; i < n; i++)
    data[i] = drape_half_to_float (drape_float_to_half (data[i]));
}

DrapeTensor *
test_tensor_from (DrapeDType   dtype,
                  guint32      n,
                  guint32      h,
                  guint32      w,
                  guint32      c,
                  const float *data)
{
  g_autoptr(GError) error = NULL;
  DrapeTensor *t = drape_tensor_new (test_device (), dtype, n, h, w, c, &error);

  g_assert_no_error (error);
  if (data != NULL)
    {
      drape_tensor_upload (t, data, drape_tensor_numel (t), &error);
      g_assert_no_error (error);
    }
  return t;
}

float *
test_download (const DrapeTensor *tensor)
{
  g_autoptr(GError) error = NULL;
  float *data = g_new (float, drape_tensor_numel (tensor));

  drape_tensor_download (tensor, data, drape_tensor_numel (tensor), &error);
  g_assert_no_error (error);
  return data;
}

const char *
test_golden_dir (void)
{
  const char *dir = g_getenv ("DRAPE_GOLDEN_DIR");

  g_assert_nonnull (dir);
  return dir;
}

double
test_std (const float *x,
          gsize        n)
{
  double mean = 0, var = 0;

  for (gsize i = 0; i < n; i++)
    mean += x[i];
  mean /= MAX (n, 1);
  for (gsize i = 0; i < n; i++)
    var += (x[i] - mean) * (x[i] - mean);
  return sqrt (var / MAX (n, 1));
}

void
test_assert_close_std (const char  *what,
                       const float *got,
                       const float *ref,
                       gsize        n,
                       double       rel)
{
  double std = test_std (ref, n);
  double diff = test_max_abs_diff (got, ref, n);

  if (g_test_verbose ())
    g_printerr ("%s: max |diff| %.3g = %.3g x std %.3g (limit %.3g)\n",
                what, diff, std > 0 ? diff / std : diff, std, rel);
  if (!(diff <= rel * std))
    g_error ("%s: max |diff| %.6g exceeds %.3g x std %.6g", what, diff, rel, std);
}

DrapeSafetensors *
test_golden_open (const char *relative)
{
  g_autofree char *path = g_build_filename (test_golden_dir (), relative, NULL);
  g_autoptr(GError) error = NULL;
  DrapeSafetensors *st = drape_safetensors_open (path, &error);

  g_assert_no_error (error);
  return st;
}

float *
test_golden_nhwc (DrapeSafetensors *st,
                  const char       *name,
                  guint32          *n,
                  guint32          *h,
                  guint32          *w,
                  guint32          *c)
{
  const DrapeStTensor *t = drape_safetensors_lookup (st, name);
  guint64 dims[4] = { 1, 1, 1, 1 };
  g_autofree float *nchw = NULL;
  float *nhwc;

  if (t == NULL)
    g_error ("golden tensor %s is missing", name);
  g_assert_cmpuint (t->n_dims, <=, 4);
  for (guint i = 0; i < t->n_dims; i++)
    dims[4 - t->n_dims + i] = t->shape[i];
  /* A 2-D [n, c] tensor (an embedding) is [n, c, 1, 1]. */
  if (t->n_dims == 2)
    {
      dims[0] = t->shape[0];
      dims[1] = t->shape[1];
      dims[2] = dims[3] = 1;
    }
  nchw = g_new (float, t->numel);
  drape_st_tensor_read_f32 (t, 0, t->numel, nchw);
  nhwc = g_new (float, t->numel);
  drape_nchw_to_nhwc (nchw, nhwc, dims[0], dims[1], dims[2], dims[3]);
  *n = dims[0];
  *c = dims[1];
  *h = dims[2];
  *w = dims[3];
  return nhwc;
}

DrapeTensor *
test_golden_tensor (DrapeSafetensors *st,
                    const char       *name,
                    DrapeDType        dtype)
{
  guint32 n, h, w, c;
  g_autofree float *data = test_golden_nhwc (st, name, &n, &h, &w, &c);

  return test_tensor_from (dtype, n, h, w, c, data);
}

float *
test_random_data (gsize      n,
                  guint32    seed,
                  float      scale,
                  DrapeDType dtype)
{
  float *x = g_new (float, MAX (n, 1));

  test_fill_random (x, n, seed, scale);
  test_quantize (x, n, dtype);
  return x;
}

void
test_attention_record (DrapeGraph          *graph,
                       const TestAttention *a,
                       DrapeDType           dtype,
                       guint32              seed,
                       const char          *env,
                       const char          *value,
                       TestAttentionRun    *run)
{
  DrapeDevice *device = test_device ();
  guint32 c = a->heads * a->d;
  guint32 tq = a->qh * a->qw;
  guint32 kh = a->fused ? a->qh : a->kh, kw = a->fused ? a->qw : a->kw;
  guint32 tk = kh * kw;
  float scale = 1.0f / sqrtf ((float) a->d);
  guint32 qc, q_off, k_off, v_off;
  g_autofree float *q = NULL;
  g_autofree float *k = NULL;
  g_autofree float *v = NULL;

  run->n_out = (gsize) a->n * tq * c;
  run->ref = run->no_reference ? NULL : g_new (float, run->n_out);
  run->what = g_strdup_printf ("attention %s n %u tokens %u/%u heads %u x %u%s pad %u limit %"
                               G_GUINT64_FORMAT "%s%s%s%s", drape_dtype_name (dtype), a->n, tq, tk,
                               a->heads, a->d, a->fused ? " fused" : "", a->pad, a->limit,
                               value ? ", " : "", value ? env : "", value ? "=" : "",
                               value ? value : "");
  if (value != NULL)
    drape_graph_set_choice (graph, env, value);
  if (a->fused)
    {
      qc = 3 * c + 2 * a->pad;
      q_off = a->pad;
      k_off = a->pad + c;
      v_off = a->pad + 2 * c;
      q = test_random_data ((gsize) a->n * tq * qc, seed, a->magnitude, dtype);
      /* V sees the same values as Q and K: scale them like V. */
      for (gsize i = 0; i < (gsize) a->n * tq; i++)
        for (guint32 j = 0; j < c; j++)
          q[i * qc + v_off + j] /= a->magnitude;
      test_quantize (q, (gsize) a->n * tq * qc, dtype);
    }
  else
    {
      qc = c + 2 * a->pad;
      q_off = k_off = v_off = a->pad;
      q = test_random_data ((gsize) a->n * tq * qc, seed, a->magnitude, dtype);
      k = test_random_data ((gsize) a->n * tk * qc, seed + 1, a->magnitude, dtype);
      v = test_random_data ((gsize) a->n * tk * qc, seed + 2, 1.0f, dtype);
    }
  if (!run->no_reference)
    drape_ref_attention (q, (DrapeShape) { a->n, a->qh, a->qw, qc }, q_off,
                         a->fused ? q : k, (DrapeShape) { a->n, kh, kw, qc }, k_off,
                         a->fused ? q : v, (DrapeShape) { a->n, kh, kw, qc }, v_off, c, a->heads, scale,
                         run->ref);
  run->q = test_tensor_from (dtype, a->n, a->qh, a->qw, qc, q);
  if (!a->fused)
    {
      run->k = test_tensor_from (dtype, a->n, kh, kw, qc, k);
      run->v = test_tensor_from (dtype, a->n, kh, kw, qc, v);
    }
  drape_device_set_binding_limit (device, a->limit);
  run->out = drape_op_attention (graph, run->q, q_off, a->fused ? run->q : run->k, k_off,
                                 a->fused ? run->q : run->v, v_off, c, a->heads, scale);
  drape_device_set_binding_limit (device, G_MAXUINT64);
}

/* With `upsample`, c is the 3x3 convolution with padding 1 of x
 * upsampled 2x (nearest), and run->weight holds its phases
 * (drape_op_conv2d_upsample2x). */
static void
conv_prepare (const TestConv *c,
              DrapeDType      dtype,
              DrapeDType      weight_dtype,
              gboolean        upsample,
              TestConvRun    *run)
{
  guint32 cin_g = c->cin / MAX (c->groups, 1);
  guint32 scale = upsample ? 2 : 1;
  guint64 nx = (guint64) c->n * c->h * c->w * c->cin;
  guint64 nw = (guint64) c->cout * c->kh * c->kw * cin_g;
  g_autofree float *x = test_random_data (nx, 11, 1.0f, dtype);
  g_autofree float *wt = test_random_data (nw, 12, 1.0f / sqrtf (c->kh * c->kw * cin_g), weight_dtype);
  g_autofree float *b = test_random_data (c->cout, 13, 0.5f, dtype);
  g_autofree float *cb = test_random_data ((guint64) c->n * c->cout, 14, 0.5f, dtype);
  g_autofree float *r = NULL;
  g_autofree float *up = NULL;
  DrapeShape xs = { c->n, c->h, c->w, c->cin }, out_shape;
  DrapeConvParams ref_params;

  /* The phases' sums of f16 weights are no f16 values. */
  g_assert_true (!upsample || weight_dtype == dtype);
  g_assert_true (!upsample || (c->kh == 3 && c->kw == 3 && c->stride == 1 && c->groups <= 1 &&
                               c->pad_top == 1 && c->pad_left == 1 && c->pad_bottom == 1 &&
                               c->pad_right == 1));
  run->oh = (scale * c->h + c->pad_top + c->pad_bottom - c->kh) / c->stride + 1;
  run->ow = (scale * c->w + c->pad_left + c->pad_right - c->kw) / c->stride + 1;
  run->n_out = (gsize) c->n * run->oh * run->ow * c->cout;
  r = test_random_data (run->n_out, 15, 1.0f, dtype);
  run->x = test_tensor_from (dtype, c->n, c->h, c->w, c->cin, x);
  run->bias = test_tensor_from (dtype, 1, 1, 1, c->cout, b);
  run->channel_bias = test_tensor_from (dtype, c->n, 1, 1, c->cout, cb);
  run->residual = test_tensor_from (dtype, c->n, run->oh, run->ow, c->cout, r);
  run->params = (DrapeConvParams) {
    .stride = c->stride,
    .pad_top = c->pad_top,
    .pad_left = c->pad_left,
    .pad_bottom = c->pad_bottom,
    .pad_right = c->pad_right,
    .groups = c->groups,
    .bias = c->bias ? run->bias : NULL,
    .channel_bias = c->channel_bias ? run->channel_bias : NULL,
    .act = c->act,
    .residual = c->residual ? run->residual : NULL,
    .out_scale = c->out_scale,
  };
  ref_params = run->params;
  if (upsample)
    {
      /* The weights, engine [cout, 3, 3, cin] -> PyTorch, their phases,
       * and back to the engine's layout [4 cout, 2, 2, cin]. */
      g_autofree float *oihw = g_new (float, nw);
      g_autofree float *phases = g_new (float, 16 * (gsize) c->cout * c->cin);
      g_autofree float *phases_nhwc = g_new (float, 16 * (gsize) c->cout * c->cin);

      drape_nhwc_to_nchw (wt, oihw, c->cout, c->cin, 3, 3);
      drape_conv_upsample2x_weights (oihw, c->cout, c->cin, phases);
      drape_nchw_to_nhwc (phases, phases_nhwc, 4 * c->cout, c->cin, 2, 2);
      run->weight = test_tensor_from (dtype, 4 * c->cout, 2, 2, c->cin, phases_nhwc);
      run->params.stride = run->params.groups = 0;
      run->params.pad_top = run->params.pad_left = run->params.pad_bottom = run->params.pad_right = 0;
      up = g_new (float, nx * 4);
      drape_ref_upsample_nearest (x, xs, 2 * c->h, 2 * c->w, up);
      xs.h *= 2;
      xs.w *= 2;
    }
  else
    run->weight = test_tensor_from (weight_dtype, c->cout, c->kh, c->kw, cin_g, wt);
  run->ref = g_new (float, run->n_out);
  drape_ref_conv2d (up ? up : x, xs, wt, c->cout, c->kh, c->kw, &ref_params, c->bias ? b : NULL,
                    c->channel_bias ? cb : NULL, c->residual ? r : NULL, run->ref, &out_shape);
  g_assert_cmpuint (out_shape.h, ==, run->oh);
  g_assert_cmpuint (out_shape.w, ==, run->ow);
}

void
test_conv_prepare (const TestConv *c,
                   DrapeDType      dtype,
                   TestConvRun    *run)
{
  conv_prepare (c, dtype, dtype, FALSE, run);
}

void
test_conv_prepare_weights (const TestConv *c,
                           DrapeDType      dtype,
                           DrapeDType      weight_dtype,
                           TestConvRun    *run)
{
  conv_prepare (c, dtype, weight_dtype, FALSE, run);
}

void
test_conv_prepare_upsample2x (const TestConv *c,
                              DrapeDType      dtype,
                              TestConvRun    *run)
{
  conv_prepare (c, dtype, dtype, TRUE, run);
}

void
test_conv_clear (TestConvRun *run)
{
  g_clear_pointer (&run->x, drape_tensor_free);
  g_clear_pointer (&run->weight, drape_tensor_free);
  g_clear_pointer (&run->bias, drape_tensor_free);
  g_clear_pointer (&run->channel_bias, drape_tensor_free);
  g_clear_pointer (&run->residual, drape_tensor_free);
  g_clear_pointer (&run->ref, g_free);
}

void
test_attention_check (TestAttentionRun *run,
                      DrapeDType        dtype)
{
  g_autofree float *got = test_download (run->out);

  test_assert_close (run->what, got, run->ref, run->n_out, test_tolerance (dtype));
  test_attention_clear (run);
}

void
test_attention_clear (TestAttentionRun *run)
{
  g_clear_pointer (&run->q, drape_tensor_free);
  g_clear_pointer (&run->k, drape_tensor_free);
  g_clear_pointer (&run->v, drape_tensor_free);
  g_clear_pointer (&run->ref, g_free);
  g_clear_pointer (&run->what, g_free);
  run->out = NULL;
}

guint
test_graph_runs_of (DrapeGraph *graph,
                    const char *label)
{
  g_autoptr(GArray) profile = drape_graph_get_profile (graph);
  guint runs = 0;

  for (guint i = 0; i < profile->len; i++)
    if (g_strcmp0 (g_array_index (profile, DrapeOpTime, i).label, label) == 0)
      runs += g_array_index (profile, DrapeOpTime, i).count;
  return runs;
}

gboolean
test_graph_ran (DrapeGraph *graph,
                const char *label)
{
  return test_graph_runs_of (graph, label) > 0;
}

void
test_remove_tree (const char *path)
{
  GStatBuf st;

  if (g_lstat (path, &st) != 0)
    return;
  if (S_ISDIR (st.st_mode))
    {
      g_autoptr(GDir) dir = NULL;
      const char *name;

      g_chmod (path, 0755);
      dir = g_dir_open (path, 0, NULL);
      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          test_remove_tree (child);
        }
      g_rmdir (path);
    }
  else
    g_unlink (path);
}
