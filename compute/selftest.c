/* selftest.c: the selftest harness, and the cases of the elementwise,
 * copy, resampling, small and sampling ops
 *
 * Shapes are moderate (about a million values) so that every case runs
 * in well under a second on lavapipe, references included, yet splits
 * into many workgroups on a GPU.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "half.h"
#include "ops.h"
#include "rng.h"
#include "selftest-private.h"

struct _DrapeSelftest
{
  DrapeDevice *device;
  DrapeGraph *graph;
  DrapeDType dtype;
  GRand *rand;
  GPtrArray *tensors;
  GPtrArray *arrays;
  float *ref;
  guint64 n_ref;
  double tolerance; /* negative: the default */
};

DrapeGraph *
drape_selftest_graph (DrapeSelftest *st)
{
  return st->graph;
}

DrapeDType
drape_selftest_dtype (DrapeSelftest *st)
{
  return st->dtype;
}

DrapeDType
drape_selftest_other_dtype (DrapeSelftest *st)
{
  if (!drape_device_get_caps (st->device)->has_f16)
    return st->dtype;
  return st->dtype == DRAPE_DTYPE_F16 ? DRAPE_DTYPE_F32 : DRAPE_DTYPE_F16;
}

float *
drape_selftest_alloc (DrapeSelftest *st,
                      guint64        n)
{
  float *data = g_new0 (float, MAX (n, 1));

  g_ptr_array_add (st->arrays, data);
  return data;
}

/* A failure is recorded on the graph, where the harness finds it. */
DrapeTensor *
drape_selftest_adopt (DrapeSelftest *st,
                      DrapeTensor   *tensor,
                      const GError  *error)
{
  if (tensor == NULL)
    {
      drape_graph_fail (st->graph, error->code, "%s", error->message);
      return NULL;
    }
  g_ptr_array_add (st->tensors, tensor);
  return tensor;
}

DrapeTensor *
drape_selftest_tensor (DrapeSelftest *st,
                       DrapeDType     dtype,
                       DrapeShape     shape,
                       const float   *data)
{
  g_autoptr(GError) error = NULL;
  DrapeTensor *t;

  t = drape_tensor_new (st->device, dtype, shape.n, shape.h, shape.w, shape.c, &error);
  if (t != NULL && data != NULL &&
      !drape_tensor_upload (t, data, drape_shape_numel (shape), &error))
    g_clear_pointer (&t, drape_tensor_free);
  return drape_selftest_adopt (st, t, error);
}

float *
drape_selftest_random (DrapeSelftest *st,
                       guint64        n,
                       float          scale)
{
  float *data = drape_selftest_alloc (st, n);

  for (guint64 i = 0; i < n; i++)
    data[i] = (float) g_rand_double_range (st->rand, -scale, scale);
  return data;
}

DrapeTensor *
drape_selftest_input (DrapeSelftest *st,
                      DrapeDType     dtype,
                      DrapeShape     shape,
                      float          scale,
                      const float  **host)
{
  guint64 n = drape_shape_numel (shape);
  float *data = drape_selftest_random (st, n, scale);

  if (dtype == DRAPE_DTYPE_F16)
    for (guint64 i = 0; i < n; i++)
      data[i] = drape_half_to_float (drape_float_to_half (data[i]));
  *host = data;
  return drape_selftest_tensor (st, dtype, shape, data);
}

float *
drape_selftest_reference (DrapeSelftest *st,
                          guint64        n)
{
  st->ref = drape_selftest_alloc (st, n);
  st->n_ref = n;
  return st->ref;
}

void
drape_selftest_set_tolerance (DrapeSelftest *st,
                              double         tolerance)
{
  st->tolerance = tolerance;
}

static void
selftest_free (DrapeSelftest *st)
{
  /* The graph goes first: it may hold the input tensors' descriptors. */
  drape_graph_free (st->graph);
  g_ptr_array_unref (st->tensors);
  g_ptr_array_unref (st->arrays);
  g_rand_free (st->rand);
  g_free (st);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DrapeSelftest, selftest_free)

const char *
drape_selftest_case_get_name (const DrapeSelftestCase *self_case)
{
  return self_case->name;
}

gboolean
drape_selftest_run (DrapeDevice             *device,
                    const DrapeSelftestCase *self_case,
                    DrapeDType               dtype,
                    DrapeSelftestResult     *result,
                    GError                 **error)
{
  g_autoptr(DrapeSelftest) st = g_new0 (DrapeSelftest, 1);
  g_autoptr(GArray) profile = NULL;
  g_autofree float *got = NULL;
  const DrapeTensor *out;
  double scale = 0, diff = 0;
  guint64 n;

  if (dtype == DRAPE_DTYPE_F16 && !drape_device_get_caps (device)->has_f16)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED,
                   "%s has no 16-bit float storage", drape_device_get_info (device)->name);
      return FALSE;
    }
  st->device = device;
  st->dtype = dtype;
  st->graph = drape_graph_new (device, self_case->name);
  /* Fixed per case, so a failure can be reproduced. */
  st->rand = g_rand_new_with_seed (g_str_hash (self_case->name) + dtype);
  st->tensors = g_ptr_array_new_with_free_func ((GDestroyNotify) drape_tensor_free);
  st->arrays = g_ptr_array_new_with_free_func (g_free);
  st->tolerance = -1;
  drape_graph_set_profiling (st->graph, TRUE);

  out = self_case->build (st);
  if (!drape_graph_compile (st->graph, error) || !drape_graph_run (st->graph, error))
    return FALSE;
  n = drape_tensor_numel (out);
  if (st->ref == NULL || st->n_ref != n)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                   "selftest %s: the reference has %" G_GUINT64_FORMAT " values, the output %"
                   G_GUINT64_FORMAT, self_case->name, st->n_ref, n);
      return FALSE;
    }
  got = g_new (float, n);
  if (!drape_tensor_download (out, got, n, error))
    return FALSE;

  for (guint64 i = 0; i < n; i++)
    {
      scale = MAX (scale, fabs (st->ref[i]));
      /* NaN fails, whatever the tolerance. */
      diff = MAX (diff, isnan (got[i]) ? INFINITY : fabs ((double) got[i] - st->ref[i]));
    }
  result->dtype = dtype;
  result->max_error = scale > 0 ? diff / scale : diff;
  result->tolerance = st->tolerance >= 0 ? st->tolerance
                    : dtype == DRAPE_DTYPE_F16 || out->dtype == DRAPE_DTYPE_F16 ? 2e-2 : 1e-4;
  result->passed = result->max_error <= result->tolerance;
  result->gpu_ms = drape_device_get_caps (device)->has_timestamps ? 0 : -1;
  profile = drape_graph_get_profile (st->graph);
  for (guint i = 0; i < profile->len; i++)
    result->gpu_ms += g_array_index (profile, DrapeOpTime, i).total_ms;
  return TRUE;
}

/* ---- the cases ----------------------------------------------------------- */

/* Activations of a UNet block at a small size: 2 x 32 x 48 x 320. */
static const DrapeShape activation_shape = { 2, 32, 48, 320 };

static const DrapeTensor *
build_binary (DrapeSelftest *st)
{
  DrapeDType dtype = drape_selftest_dtype (st);
  DrapeShape s = activation_shape, bs = { s.n, 1, 1, s.c };
  const float *a, *b;
  DrapeTensor *ta = drape_selftest_input (st, dtype, s, 2.0f, &a);
  DrapeTensor *tb = drape_selftest_input (st, dtype, bs, 2.0f, &b);

  /* A per-image, per-channel addend, as a time embedding is added. */
  drape_ref_binary (DRAPE_BINARY_ADD, a, s, b, bs, 0.5f, 1.5f,
                    drape_selftest_reference (st, drape_shape_numel (s)));
  return drape_op_binary (drape_selftest_graph (st), DRAPE_BINARY_ADD, ta, tb, 0.5f, 1.5f);
}

static const DrapeTensor *
build_unary (DrapeSelftest *st)
{
  DrapeShape s = activation_shape;
  const float *x;
  DrapeTensor *tx = drape_selftest_input (st, drape_selftest_dtype (st), s, 4.0f, &x);

  drape_ref_unary (x, drape_shape_numel (s), DRAPE_ACT_GELU, 1.25f, 0.5f,
                   drape_selftest_reference (st, drape_shape_numel (s)));
  return drape_op_unary (drape_selftest_graph (st), tx, DRAPE_ACT_GELU, 1.25f, 0.5f);
}

static const DrapeTensor *
build_cast (DrapeSelftest *st)
{
  DrapeDType dtype = drape_selftest_dtype (st);
  DrapeDType to = drape_selftest_other_dtype (st);
  DrapeShape s = activation_shape;
  guint64 n = drape_shape_numel (s);
  const float *x;
  DrapeTensor *tx = drape_selftest_input (st, dtype, s, 100.0f, &x);
  float *ref = drape_selftest_reference (st, n);

  for (guint64 i = 0; i < n; i++)
    ref[i] = to == DRAPE_DTYPE_F16 ? drape_half_to_float (drape_float_to_half (x[i])) : x[i];
  return drape_op_cast (drape_selftest_graph (st), tx, to);
}

/* Into an f32 tensor the caller owns, as a graph writes its output. */
static const DrapeTensor *
build_copy (DrapeSelftest *st)
{
  DrapeShape s = activation_shape;
  const float *x;
  DrapeTensor *tx = drape_selftest_input (st, drape_selftest_dtype (st), s, 2.0f, &x);
  DrapeTensor *dst = drape_selftest_tensor (st, DRAPE_DTYPE_F32, s, NULL);

  memcpy (drape_selftest_reference (st, drape_shape_numel (s)), x,
          drape_shape_numel (s) * sizeof (float));
  drape_op_copy (drape_selftest_graph (st), tx, dst);
  return dst;
}

/* A UNet skip connection: channels joined. */
static const DrapeTensor *
build_concat (DrapeSelftest *st)
{
  DrapeDType dtype = drape_selftest_dtype (st);
  DrapeShape as = activation_shape, bs = { as.n, as.h, as.w, 160 };
  const float *a, *b;
  DrapeTensor *ta = drape_selftest_input (st, dtype, as, 2.0f, &a);
  DrapeTensor *tb = drape_selftest_input (st, dtype, bs, 2.0f, &b);

  drape_ref_concat (DRAPE_AXIS_C, a, as, b, bs,
                    drape_selftest_reference (st, (guint64) as.n * as.h * as.w * (as.c + bs.c)));
  return drape_op_concat (drape_selftest_graph (st), DRAPE_AXIS_C, ta, tb);
}

/* CatVTON's person half of a latent stacked along H, here the lower half
 * so that the slice starts inside the tensor. */
static const DrapeTensor *
build_slice (DrapeSelftest *st)
{
  DrapeShape s = { 2, 128, 96, 40 };
  const float *x;
  DrapeTensor *tx = drape_selftest_input (st, drape_selftest_dtype (st), s, 2.0f, &x);

  drape_ref_slice (DRAPE_AXIS_H, x, s, s.h / 2, s.h / 2,
                   drape_selftest_reference (st, drape_shape_numel (s) / 2));
  return drape_op_slice (drape_selftest_graph (st), DRAPE_AXIS_H, tx, s.h / 2, s.h / 2);
}

/* A UNet up block's 2x upsampling. */
static const DrapeTensor *
build_upsample_nearest (DrapeSelftest *st)
{
  DrapeShape s = { 2, 16, 24, 320 };
  const float *x;
  DrapeTensor *tx = drape_selftest_input (st, drape_selftest_dtype (st), s, 2.0f, &x);

  drape_ref_upsample_nearest (x, s, 2 * s.h, 2 * s.w,
                              drape_selftest_reference (st, 4 * drape_shape_numel (s)));
  return drape_op_upsample_nearest (drape_selftest_graph (st), tx, 2 * s.h, 2 * s.w);
}

/* SegFormer's 18 class logits at 128 x 128 brought to a photo's size. */
static const DrapeTensor *
build_resize_bilinear (DrapeSelftest *st)
{
  DrapeShape s = { 1, 128, 128, 18 };
  const guint32 out_h = 300, out_w = 225;
  const float *x;
  DrapeTensor *tx = drape_selftest_input (st, drape_selftest_dtype (st), s, 8.0f, &x);

  drape_ref_resize_bilinear (x, s, out_h, out_w,
                             drape_selftest_reference (st, (guint64) out_h * out_w * s.c));
  return drape_op_resize_bilinear (drape_selftest_graph (st), tx, out_h, out_w);
}

/* SD1.5's time projection for a batch of random timesteps. */
static const DrapeTensor *
build_timestep_embedding (DrapeSelftest *st)
{
  DrapeShape ts = { 16, 1, 1, 1 };
  const guint32 dim = 320;
  float *t = drape_selftest_random (st, ts.n, 1.0f);
  DrapeTensor *tt;

  /* Whole timesteps in [0, 999], as a scheduler gives. */
  for (guint i = 0; i < ts.n; i++)
    t[i] = floorf ((t[i] + 1.0f) * 499.99f);
  tt = drape_selftest_tensor (st, DRAPE_DTYPE_F32, ts, t);
  drape_ref_timestep_embedding (t, ts.n, dim, TRUE, 0,
                                drape_selftest_reference (st, (guint64) ts.n * dim));
  return drape_op_timestep_embedding (drape_selftest_graph (st), tt, dim, TRUE, 0,
                                      drape_selftest_dtype (st));
}

/* SegFormer's class map; an index is right or wrong. */
static const DrapeTensor *
build_argmax (DrapeSelftest *st)
{
  DrapeShape s = { 1, 256, 192, 18 };
  const float *x;
  DrapeTensor *tx = drape_selftest_input (st, drape_selftest_dtype (st), s, 8.0f, &x);

  drape_ref_argmax (x, s, drape_selftest_reference (st, (guint64) s.n * s.h * s.w));
  drape_selftest_set_tolerance (st, 0);
  return drape_op_argmax (drape_selftest_graph (st), tx);
}

/* The initial latent noise of a 1024 x 768 try-on, a quarter of it.  GPU
 * normals equal the CPU's to within |r| 2^-11 where sin and cos are only
 * as accurate as Vulkan demands (rng.h): about 5e-4 of the largest. */
static const DrapeTensor *
build_randn (DrapeSelftest *st)
{
  DrapeShape s = { 2, 64, 48, 4 };
  const guint64 seed = 1234;
  g_autoptr(GError) error = NULL;
  DrapeTensor *key;

  key = drape_selftest_adopt (st, drape_rng_key_new (st->device, seed,
                                                      DRAPE_RNG_STREAM_INIT_NOISE, &error),
                              error);
  drape_rng_normal (seed, DRAPE_RNG_STREAM_INIT_NOISE, 0,
                    drape_selftest_reference (st, drape_shape_numel (s)), drape_shape_numel (s));
  if (drape_selftest_dtype (st) == DRAPE_DTYPE_F32)
    drape_selftest_set_tolerance (st, 1e-3);
  return drape_op_randn (drape_selftest_graph (st), key, s.n, s.h, s.w, s.c,
                         drape_selftest_dtype (st));
}

/* The VAE posterior sample of two images' latents. */
static const DrapeTensor *
build_gaussian_sample (DrapeSelftest *st)
{
  DrapeShape ms = { 2, 128, 96, 8 }, es = { ms.n, ms.h, ms.w, ms.c / 2 };
  const float *moments, *eps;
  DrapeTensor *tm = drape_selftest_input (st, drape_selftest_dtype (st), ms, 3.0f, &moments);
  DrapeTensor *te = drape_selftest_input (st, DRAPE_DTYPE_F32, es, 2.0f, &eps);

  drape_ref_gaussian_sample (moments, ms, eps, 0.18215f,
                             drape_selftest_reference (st, drape_shape_numel (es)));
  return drape_op_gaussian_sample (drape_selftest_graph (st), tm, te, 0.18215f);
}

/* A guided DDIM-like step with noise, in place on sample and x0. */
static const DrapeTensor *
build_denoise_step (DrapeSelftest *st)
{
  DrapeShape s = { 1, 128, 96, 4 }, ps = { 2 * s.n, s.h, s.w, s.c };
  DrapeShape ks = { 1, 1, 1, DRAPE_DENOISE_N_COEFFS };
  const DrapeDenoiseCoeffs k = { 2.5f, 1.3f, -0.6f, 0.8f, 0.3f, 0.2f, -0.1f, 0.05f };
  guint64 n = drape_shape_numel (s);
  const float *pred, *sample, *x0, *noise;
  g_autoptr(GError) error = NULL;
  DrapeTensor *tp = drape_selftest_input (st, drape_selftest_dtype (st), ps, 2.0f, &pred);
  DrapeTensor *ts = drape_selftest_input (st, DRAPE_DTYPE_F32, s, 2.0f, &sample);
  DrapeTensor *tx = drape_selftest_input (st, DRAPE_DTYPE_F32, s, 2.0f, &x0);
  DrapeTensor *tn = drape_selftest_input (st, DRAPE_DTYPE_F32, s, 2.0f, &noise);
  DrapeTensor *tk = drape_selftest_adopt (st, drape_tensor_new_host (st->device, DRAPE_DTYPE_F32,
                                                                     1, 1, 1, ks.c, &error),
                                          error);
  float *ref = drape_selftest_reference (st, n);
  float *x0_ref = drape_selftest_alloc (st, n);

  if (tk != NULL && !drape_tensor_upload (tk, (const float *) &k, ks.c, &error))
    drape_graph_fail (drape_selftest_graph (st), error->code, "%s", error->message);
  memcpy (ref, sample, n * sizeof (float));
  memcpy (x0_ref, x0, n * sizeof (float));
  drape_ref_denoise_step (pred, TRUE, ref, x0_ref, noise, &k, n);
  drape_op_denoise_step (drape_selftest_graph (st), tp, ts, tx, tn, tk);
  return ts;
}

static const DrapeSelftestCase case_binary = { "binary", build_binary };
static const DrapeSelftestCase case_unary = { "unary", build_unary };
static const DrapeSelftestCase case_cast = { "cast", build_cast };
static const DrapeSelftestCase case_copy = { "copy", build_copy };
static const DrapeSelftestCase case_concat = { "concat", build_concat };
static const DrapeSelftestCase case_slice = { "slice", build_slice };
static const DrapeSelftestCase case_upsample_nearest = { "upsample_nearest", build_upsample_nearest };
static const DrapeSelftestCase case_resize_bilinear = { "resize_bilinear", build_resize_bilinear };
static const DrapeSelftestCase case_timestep_embedding = { "timestep_embedding", build_timestep_embedding };
static const DrapeSelftestCase case_argmax = { "argmax", build_argmax };
static const DrapeSelftestCase case_randn = { "randn", build_randn };
static const DrapeSelftestCase case_gaussian_sample = { "gaussian_sample", build_gaussian_sample };
static const DrapeSelftestCase case_denoise_step = { "denoise_step", build_denoise_step };

static const DrapeSelftestCase *const cases[] = {
  &case_binary,
  &case_unary,
  &case_cast,
  &case_copy,
  &case_concat,
  &case_slice,
  &drape_selftest_case_conv2d,
  &drape_selftest_case_conv2d_f16_weights,
  &drape_selftest_case_conv2d_upsample2x,
  &drape_selftest_case_linear,
  &drape_selftest_case_linear_geglu,
  &drape_selftest_case_linear_geglu_f16_weights,
  &drape_selftest_case_group_norm,
  &drape_selftest_case_layer_norm,
  &drape_selftest_case_softmax,
  &drape_selftest_case_attention,
  &case_upsample_nearest,
  &case_resize_bilinear,
  &case_timestep_embedding,
  &case_argmax,
  &case_randn,
  &case_gaussian_sample,
  &case_denoise_step,
};

const DrapeSelftestCase *const *
drape_selftest_get_cases (guint *n_cases)
{
  *n_cases = G_N_ELEMENTS (cases);
  return cases;
}
