/* test-common.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "test-common.h"

#include <math.h>

#include "half.h"

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
