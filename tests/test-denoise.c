/* test-denoise.c: the sampler step and posterior sampling on the GPU
 *
 * The golden scheduler rollouts run through one recorded denoise node
 * replayed with rewritten coefficients; guidance, DPM's history and
 * noise against the C reference; posterior samples against the golden
 * VAE cases.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "test-common.h"

#include <math.h>
#include <string.h>

#include "error.h"
#include "ops.h"
#include "reference.h"
#include "safetensors.h"
#include "scheduler.h"

#define SAMPLE_ATOL 1e-5

static DrapeSafetensors *
open_golden (const char *family,
             const char *file)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (test_golden_dir (), family, file, NULL);
  DrapeSafetensors *st = drape_safetensors_open (path, &error);

  g_assert_no_error (error);
  return st;
}

/* A golden NCHW tensor as NHWC; its shape through dims (n, c, h, w). */
static float *
golden_nhwc (DrapeSafetensors *st,
             const char       *name,
             guint32           dims[4])
{
  g_autoptr(GError) error = NULL;
  const DrapeStTensor *t = drape_safetensors_lookup (st, name);
  g_autofree float *nchw = NULL;
  float *nhwc;

  g_assert_nonnull (t);
  g_assert_cmpuint (t->n_dims, ==, 4);
  for (guint i = 0; i < 4; i++)
    dims[i] = t->shape[i];
  nchw = drape_safetensors_read_f32 (st, name, 0, NULL, &error);
  g_assert_no_error (error);
  nhwc = g_new (float, t->numel);
  drape_nchw_to_nhwc (nchw, nhwc, dims[0], dims[1], dims[2], dims[3]);
  return nhwc;
}

/* |got - ref| <= atol x max (1, |ref|) for every element. */
static void
assert_close_atol (const char  *what,
                   const float *got,
                   const float *ref,
                   gsize        n,
                   double       atol)
{
  double worst = 0;

  for (gsize i = 0; i < n; i++)
    {
      double excess = fabs ((double) got[i] - ref[i]) / MAX (1.0, fabs (ref[i]));
      if (!(excess <= atol))
        g_error ("%s: element %" G_GSIZE_FORMAT " is %.9g, want %.9g", what, i, got[i], ref[i]);
      worst = MAX (worst, excess);
    }
  if (g_test_verbose ())
    g_printerr ("%s: max |diff| / max (1, |ref|) = %.3g (limit %.3g)\n", what, worst, atol);
}

static void
upload (DrapeTensor *t,
        const float *data)
{
  g_autoptr(GError) error = NULL;

  drape_tensor_upload (t, data, drape_tensor_numel (t), &error);
  g_assert_no_error (error);
}

static void
write_coeffs (DrapeTensor              *coeffs,
              const DrapeDenoiseCoeffs *k)
{
  gpointer mapped = drape_tensor_get_mapped (coeffs);

  g_assert_nonnull (mapped);
  memcpy (mapped, k, sizeof *k);
}

static void
run (DrapeGraph *graph)
{
  g_autoptr(GError) error = NULL;

  drape_graph_run (graph, &error);
  g_assert_no_error (error);
}

/* The 5-step rollouts of the scheduler golden: model_output = 0.1
 * model_input + c computed on the host from the GPU's sample each step,
 * the step itself by the GPU, in place. */
static void
check_rollout (const char        *name,
               DrapeSchedulerKind kind,
               double             eta)
{
  DrapeDevice *device = test_device ();
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeSafetensors) st = open_golden ("scheduler", "scheduler_cases.safetensors");
  g_autoptr(DrapeScheduler) s = NULL;
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "rollout");
  g_autoptr(DrapeTensor) pred = NULL, sample = NULL, x0 = NULL, noise = NULL, coeffs = NULL;
  g_autofree float *c = NULL, *init = NULL, *model_output = NULL;
  DrapeSchedulerConfig config;
  guint32 d[4];
  gsize n;

  drape_scheduler_config_init (&config, kind);
  s = drape_scheduler_new (&config, 5, eta, &error);
  g_assert_no_error (error);

  c = golden_nhwc (st, "rollout.c", d);
  init = golden_nhwc (st, "rollout.noise", d);
  n = (gsize) d[0] * d[1] * d[2] * d[3];
  for (gsize i = 0; i < n; i++)
    init[i] *= (float) drape_scheduler_get_init_noise_sigma (s);

  pred = test_tensor_from (DRAPE_DTYPE_F32, d[0], d[2], d[3], d[1], NULL);
  sample = test_tensor_from (DRAPE_DTYPE_F32, d[0], d[2], d[3], d[1], init);
  x0 = test_tensor_from (DRAPE_DTYPE_F32, d[0], d[2], d[3], d[1], NULL);
  if (drape_scheduler_needs_noise (s))
    noise = test_tensor_from (DRAPE_DTYPE_F32, d[0], d[2], d[3], d[1], NULL);
  coeffs = drape_tensor_new_host (device, DRAPE_DTYPE_F32, 1, 1, 1, DRAPE_DENOISE_N_COEFFS, &error);
  g_assert_no_error (error);
  drape_op_denoise_step (graph, pred, sample, x0, noise, coeffs);
  drape_graph_compile (graph, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (drape_graph_get_n_nodes (graph), ==, 1);

  model_output = g_new (float, n);
  for (guint step = 0; step < 5; step++)
    {
      const DrapeSchedulerStep *sst = drape_scheduler_get_step (s, step);
      g_autofree float *cur = test_download (sample);
      g_autofree float *want = NULL, *got = NULL;
      DrapeDenoiseCoeffs k;
      char key[96];

      for (gsize i = 0; i < n; i++)
        model_output[i] = 0.1f * (float) (cur[i] * sst->input_scale) + c[i];
      upload (pred, model_output);
      if (noise != NULL)
        {
          g_autofree float *var = NULL;
          g_snprintf (key, sizeof key, "rollout.%s.step%u.variance_noise", name, step);
          var = golden_nhwc (st, key, d);
          upload (noise, var);
        }
      drape_scheduler_get_coeffs (s, step, 1.0f, &k);
      write_coeffs (coeffs, &k);
      run (graph);

      g_snprintf (key, sizeof key, "rollout.%s.step%u.prev_sample", name, step);
      want = golden_nhwc (st, key, d);
      got = test_download (sample);
      assert_close_atol (key, got, want, n, SAMPLE_ATOL);
      g_snprintf (key, sizeof key, "rollout.%s.step%u.pred_original_sample", name, step);
      if (drape_safetensors_lookup (st, key) != NULL)
        {
          g_autofree float *want_x0 = golden_nhwc (st, key, d);
          g_autofree float *got_x0 = test_download (x0);
          assert_close_atol (key, got_x0, want_x0, n, SAMPLE_ATOL);
        }
    }
  test_assert_no_validation_messages ();
}

static void
test_rollout_ddim_eta0 (void)
{
  check_rollout ("ddim_eta0", DRAPE_SCHEDULER_DDIM, 0.0);
}

static void
test_rollout_ddim_eta1 (void)
{
  check_rollout ("ddim_eta1", DRAPE_SCHEDULER_DDIM, 1.0);
}

static void
test_rollout_dpmpp2m (void)
{
  check_rollout ("dpmpp2m", DRAPE_SCHEDULER_DPMPP_2M, 0.0);
}

static void
test_rollout_euler (void)
{
  check_rollout ("euler", DRAPE_SCHEDULER_EULER, 0.0);
}

/* CatVTON's own loop (tests/golden/pipeline, 4 DDIM steps, guidance 2.5,
 * eta 1 with its variance noise and eta 0): the UNet's raw [uncond; cond]
 * outputs go through the guided step, the latents must follow. */
static void
check_pipeline_loop (const char *run_name,
                     double      eta)
{
  DrapeDevice *device = test_device ();
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeSafetensors) st = open_golden ("pipeline", "pipeline_cases.safetensors");
  g_autoptr(DrapeScheduler) s = NULL;
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "catvton-loop");
  g_autoptr(DrapeTensor) pred = NULL, sample = NULL, x0 = NULL, noise = NULL, coeffs = NULL;
  g_autofree float *latents = NULL, *timesteps = NULL;
  DrapeSchedulerConfig config;
  guint32 d[4];
  char key[64];

  drape_scheduler_config_init (&config, DRAPE_SCHEDULER_DDIM);
  s = drape_scheduler_new (&config, 4, eta, &error);
  g_assert_no_error (error);
  timesteps = drape_safetensors_read_f32 (st, "timesteps", 0, NULL, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 4; i++)
    g_assert_cmpfloat (drape_scheduler_get_step (s, i)->timestep, ==, timesteps[i]);

  g_snprintf (key, sizeof key, "%s.latents0", run_name);
  latents = golden_nhwc (st, key, d);
  sample = test_tensor_from (DRAPE_DTYPE_F32, d[0], d[2], d[3], d[1], latents);
  x0 = test_tensor_from (DRAPE_DTYPE_F32, d[0], d[2], d[3], d[1], NULL);
  pred = test_tensor_from (DRAPE_DTYPE_F32, 2 * d[0], d[2], d[3], d[1], NULL);
  if (eta > 0)
    noise = test_tensor_from (DRAPE_DTYPE_F32, d[0], d[2], d[3], d[1], NULL);
  coeffs = drape_tensor_new_host (device, DRAPE_DTYPE_F32, 1, 1, 1, DRAPE_DENOISE_N_COEFFS, &error);
  g_assert_no_error (error);
  drape_op_denoise_step (graph, pred, sample, x0, noise, coeffs);

  for (guint step = 0; step < 4; step++)
    {
      g_autofree float *raw = NULL, *want = NULL, *got = NULL;
      DrapeDenoiseCoeffs k;
      guint32 pd[4];

      g_snprintf (key, sizeof key, "%s.step%u.noise_pred_raw", run_name, step);
      raw = golden_nhwc (st, key, pd);
      upload (pred, raw);
      if (noise != NULL)
        {
          g_autofree float *var = NULL;
          g_snprintf (key, sizeof key, "noise.ddim_variance_noise_step%u", step);
          var = golden_nhwc (st, key, pd);
          upload (noise, var);
        }
      drape_scheduler_get_coeffs (s, step, 2.5f, &k);
      write_coeffs (coeffs, &k);
      run (graph);
      g_snprintf (key, sizeof key, "%s.step%u.latents", run_name, step);
      want = golden_nhwc (st, key, pd);
      got = test_download (sample);
      assert_close_atol (key, got, want, drape_tensor_numel (sample), SAMPLE_ATOL);
    }
  test_assert_no_validation_messages ();
}

static void
test_pipeline_loop (void)
{
  check_pipeline_loop ("eta1", 1.0);
  check_pipeline_loop ("eta0", 0.0);
}

/* Guided batch-2 noise_pred against the C reference, over steps whose
 * coefficients use every term: a DPM-Solver++ second-order step (x0
 * history) and a DDIM eta 1 step (noise). */
static void
check_guided (DrapeDType dtype,
              guint32    n,
              guint32    h,
              guint32    w,
              guint32    c,
              guint64    binding_limit)
{
  DrapeDevice *device = test_device ();
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "guided");
  g_autoptr(DrapeTensor) pred = NULL, sample = NULL, x0 = NULL, noise = NULL, coeffs = NULL;
  g_autoptr(DrapeScheduler) dpm = NULL, ddim = NULL;
  DrapeSchedulerConfig config;
  guint64 count = (guint64) n * h * w * c;
  g_autofree float *p = g_new (float, 2 * count);
  g_autofree float *s0 = g_new (float, count);
  g_autofree float *x00 = g_new (float, count);
  g_autofree float *nz = g_new (float, count);
  g_autofree float *ref_s = NULL, *ref_x0 = NULL;
  struct { DrapeScheduler **s; guint step; } plan[3];

  drape_scheduler_config_init (&config, DRAPE_SCHEDULER_DPMPP_2M);
  dpm = drape_scheduler_new (&config, 20, 0.0, &error);
  g_assert_no_error (error);
  drape_scheduler_config_init (&config, DRAPE_SCHEDULER_DDIM);
  ddim = drape_scheduler_new (&config, 50, 1.0, &error);
  g_assert_no_error (error);
  plan[0].s = &dpm, plan[0].step = 7;
  plan[1].s = &ddim, plan[1].step = 30;
  plan[2].s = &dpm, plan[2].step = 0;
  g_assert_cmpfloat (drape_scheduler_get_step (dpm, 7)->c_prev_x0, !=, 0);

  test_fill_random (p, 2 * count, 11, 1.5f);
  test_fill_random (s0, count, 12, 3.0f);
  test_fill_random (x00, count, 13, 1.0f);
  test_fill_random (nz, count, 14, 2.0f);
  test_quantize (p, 2 * count, dtype);
  ref_s = g_memdup2 (s0, count * sizeof (float));
  ref_x0 = g_memdup2 (x00, count * sizeof (float));

  pred = test_tensor_from (dtype, 2 * n, h, w, c, p);
  sample = test_tensor_from (DRAPE_DTYPE_F32, n, h, w, c, s0);
  x0 = test_tensor_from (DRAPE_DTYPE_F32, n, h, w, c, x00);
  noise = test_tensor_from (DRAPE_DTYPE_F32, n, h, w, c, nz);
  coeffs = drape_tensor_new_host (device, DRAPE_DTYPE_F32, 1, 1, 1, DRAPE_DENOISE_N_COEFFS, &error);
  g_assert_no_error (error);
  drape_device_set_binding_limit (device, binding_limit);
  drape_op_denoise_step (graph, pred, sample, x0, noise, coeffs);
  drape_device_set_binding_limit (device, G_MAXUINT64);
  drape_graph_compile (graph, &error);
  g_assert_no_error (error);

  /* Replays carry sample and x0 from one to the next, as a run would. */
  for (guint i = 0; i < G_N_ELEMENTS (plan); i++)
    {
      g_autofree float *got_s = NULL, *got_x0 = NULL;
      DrapeDenoiseCoeffs k;

      drape_scheduler_get_coeffs (*plan[i].s, plan[i].step, 2.5f, &k);
      write_coeffs (coeffs, &k);
      run (graph);
      drape_ref_denoise_step (p, TRUE, ref_s, ref_x0, nz, &k, count);
      got_s = test_download (sample);
      got_x0 = test_download (x0);
      test_assert_close ("guided sample", got_s, ref_s, count, 1e-5);
      test_assert_close ("guided x0", got_x0, ref_x0, count, 1e-5);
    }
  test_assert_no_validation_messages ();
}

static void
test_guided (void)
{
  for (DrapeDType dtype = DRAPE_DTYPE_F32; dtype <= DRAPE_DTYPE_F16; dtype++)
    {
      check_guided (dtype, 1, 16, 6, 4, G_MAXUINT64);
      check_guided (dtype, 2, 37, 29, 4, 4096);
      check_guided (dtype, 1, 1, 1, 1, G_MAXUINT64);
    }
}

/* No guidance and no noise: the [1, ...] form, with NaNs in the unused x0
 * (it must not be read when c_prev_x0 is 0). */
static void
test_unguided_first_step (void)
{
  DrapeDevice *device = test_device ();
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "unguided");
  g_autoptr(DrapeScheduler) s = NULL;
  g_autoptr(DrapeTensor) pred = NULL, sample = NULL, x0 = NULL, coeffs = NULL;
  DrapeSchedulerConfig config;
  const guint64 count = 5 * 3 * 4;
  g_autofree float *p = g_new (float, count);
  g_autofree float *s0 = g_new (float, count);
  g_autofree float *nan = g_new (float, count);
  g_autofree float *zero = g_new0 (float, count);
  g_autofree float *got = NULL;
  DrapeDenoiseCoeffs k;

  drape_scheduler_config_init (&config, DRAPE_SCHEDULER_DPMPP_2M);
  s = drape_scheduler_new (&config, 10, 0.0, &error);
  g_assert_no_error (error);
  test_fill_random (p, count, 21, 1.0f);
  test_fill_random (s0, count, 22, 1.0f);
  for (guint64 i = 0; i < count; i++)
    nan[i] = NAN;
  pred = test_tensor_from (DRAPE_DTYPE_F32, 1, 5, 3, 4, p);
  sample = test_tensor_from (DRAPE_DTYPE_F32, 1, 5, 3, 4, s0);
  x0 = test_tensor_from (DRAPE_DTYPE_F32, 1, 5, 3, 4, nan);
  coeffs = drape_tensor_new_host (device, DRAPE_DTYPE_F32, 1, 1, 1, DRAPE_DENOISE_N_COEFFS, &error);
  g_assert_no_error (error);
  drape_op_denoise_step (graph, pred, sample, x0, NULL, coeffs);
  drape_scheduler_get_coeffs (s, 0, 7.0f, &k);
  write_coeffs (coeffs, &k);
  run (graph);
  /* guidance is ignored without an [uncond; cond] batch */
  drape_ref_denoise_step (p, FALSE, s0, zero, NULL, &k, count);
  got = test_download (sample);
  test_assert_close ("unguided sample", got, s0, count, 1e-5);
  test_assert_no_validation_messages ();
}

static void
assert_denoise_error (const DrapeTensor *pred,
                      DrapeTensor       *sample,
                      DrapeTensor       *x0,
                      const DrapeTensor *noise,
                      const DrapeTensor *coeffs,
                      const char        *mentions)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "bad");

  drape_op_denoise_step (graph, pred, sample, x0, noise, coeffs);
  g_assert_false (drape_graph_compile (graph, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT);
  if (strstr (error->message, "denoise_step") == NULL || strstr (error->message, mentions) == NULL)
    g_error ("error \"%s\" does not name the op and %s", error->message, mentions);
}

static void
test_denoise_bad_shapes (void)
{
  g_autoptr(DrapeTensor) pred3 = test_tensor_from (DRAPE_DTYPE_F32, 3, 4, 4, 4, NULL);
  g_autoptr(DrapeTensor) pred = test_tensor_from (DRAPE_DTYPE_F32, 2, 4, 4, 4, NULL);
  g_autoptr(DrapeTensor) sample = test_tensor_from (DRAPE_DTYPE_F32, 1, 4, 4, 4, NULL);
  g_autoptr(DrapeTensor) sample16 = test_tensor_from (DRAPE_DTYPE_F16, 1, 4, 4, 4, NULL);
  g_autoptr(DrapeTensor) x0 = test_tensor_from (DRAPE_DTYPE_F32, 1, 4, 4, 4, NULL);
  g_autoptr(DrapeTensor) small = test_tensor_from (DRAPE_DTYPE_F32, 1, 4, 4, 3, NULL);
  g_autoptr(DrapeTensor) coeffs = test_tensor_from (DRAPE_DTYPE_F32, 1, 1, 1, 8, NULL);
  g_autoptr(DrapeTensor) coeffs7 = test_tensor_from (DRAPE_DTYPE_F32, 1, 1, 1, 7, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "activation");

  assert_denoise_error (pred3, sample, x0, NULL, coeffs, "noise_pred");
  assert_denoise_error (pred, sample16, x0, NULL, coeffs, "sample");
  assert_denoise_error (pred, sample, small, NULL, coeffs, "x0");
  assert_denoise_error (pred, sample, x0, small, coeffs, "noise");
  assert_denoise_error (pred, sample, x0, NULL, coeffs7, "coeffs");
  assert_denoise_error (pred, sample, x0, NULL, NULL, "coeffs");

  /* sample must persist between runs: an activation is refused */
  {
    g_autoptr(DrapeTensor) key = test_tensor_from (DRAPE_DTYPE_F32, 1, 1, 1, 4, NULL);
    DrapeTensor *activation = drape_op_randn (graph, key, 1, 4, 4, 4, DRAPE_DTYPE_F32);

    drape_op_denoise_step (graph, pred, activation, x0, NULL, coeffs);
    g_assert_false (drape_graph_compile (graph, &error));
    g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull (strstr (error->message, "activations"));
  }
}

/* Posterior samples of the golden VAE cases: moments and eps are NCHW
 * there. */
static void
test_gaussian_golden (void)
{
  DrapeDevice *device = test_device ();
  g_autoptr(DrapeSafetensors) st = open_golden ("vae", "vae_cases.safetensors");

  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(DrapeGraph) graph = drape_graph_new (device, "posterior");
      g_autoptr(DrapeTensor) tm = NULL, te = NULL;
      g_autofree float *moments = NULL, *eps = NULL, *want = NULL, *want_mean = NULL;
      g_autofree float *got = NULL, *got_mean = NULL;
      DrapeTensor *sample, *mean;
      guint32 md[4], d[4];
      char name[64];

      g_snprintf (name, sizeof name, "case%u.moments", i);
      moments = golden_nhwc (st, name, md);
      g_snprintf (name, sizeof name, "case%u.sample_eps", i);
      eps = golden_nhwc (st, name, d);
      g_snprintf (name, sizeof name, "case%u.posterior_sample", i);
      want = golden_nhwc (st, name, d);
      g_snprintf (name, sizeof name, "case%u.posterior_mean", i);
      want_mean = golden_nhwc (st, name, d);
      g_assert_cmpuint (md[1], ==, 2 * d[1]);

      tm = test_tensor_from (DRAPE_DTYPE_F32, md[0], md[2], md[3], md[1], moments);
      te = test_tensor_from (DRAPE_DTYPE_F32, d[0], d[2], d[3], d[1], eps);
      sample = drape_op_gaussian_sample (graph, tm, te, 1.0f);
      mean = drape_op_gaussian_sample (graph, tm, NULL, 1.0f);
      drape_graph_compile (graph, &error);
      g_assert_no_error (error);
      run (graph);
      g_assert_cmpuint (sample->c, ==, d[1]);
      got = test_download (sample);
      got_mean = test_download (mean);
      g_snprintf (name, sizeof name, "case%u.posterior_sample", i);
      test_assert_close (name, got, want, drape_tensor_numel (sample), 1e-5);
      g_snprintf (name, sizeof name, "case%u.posterior_mean", i);
      test_assert_close (name, got_mean, want_mean, drape_tensor_numel (mean), 1e-6);
    }
  test_assert_no_validation_messages ();
}

/* Random moments (logvar past both clamps), f32 and f16, a latent scale,
 * and the binding split, against the C reference. */
static void
check_gaussian (DrapeDType dtype,
                guint32    n,
                guint32    h,
                guint32    w,
                guint32    c,
                gboolean   with_eps,
                guint64    binding_limit)
{
  DrapeDevice *device = test_device ();
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "gaussian");
  g_autoptr(DrapeTensor) tm = NULL, te = NULL;
  guint64 count = (guint64) n * h * w * c;
  g_autofree float *moments = g_new (float, 2 * count);
  g_autofree float *eps = g_new (float, count);
  g_autofree float *want = g_new (float, count);
  g_autofree float *got = NULL;
  DrapeTensor *out;

  test_fill_random (moments, 2 * count, 31, 3.0f);
  /* logvar from -45 to 45: both clamps bite */
  for (guint64 p = 0; p < count / c; p++)
    for (guint32 ch = 0; ch < c; ch++)
      moments[p * 2 * c + c + ch] *= 15.0f;
  test_fill_random (eps, count, 32, 2.0f);
  test_quantize (moments, 2 * count, dtype);
  drape_ref_gaussian_sample (moments, (DrapeShape) { n, h, w, 2 * c }, with_eps ? eps : NULL,
                             0.18215f, want);

  tm = test_tensor_from (dtype, n, h, w, 2 * c, moments);
  te = test_tensor_from (DRAPE_DTYPE_F32, n, h, w, c, eps);
  drape_device_set_binding_limit (device, binding_limit);
  out = drape_op_gaussian_sample (graph, tm, with_eps ? te : NULL, 0.18215f);
  drape_device_set_binding_limit (device, G_MAXUINT64);
  drape_graph_compile (graph, &error);
  g_assert_no_error (error);
  run (graph);
  g_assert_true (out->dtype == DRAPE_DTYPE_F32);
  got = test_download (out);
  test_assert_close ("gaussian_sample", got, want, count, 1e-5);
  test_assert_no_validation_messages ();
}

static void
test_gaussian_random (void)
{
  for (DrapeDType dtype = DRAPE_DTYPE_F32; dtype <= DRAPE_DTYPE_F16; dtype++)
    for (guint e = 0; e < 2; e++)
      {
        check_gaussian (dtype, 1, 1, 1, 1, e, G_MAXUINT64);
        check_gaussian (dtype, 2, 17, 13, 4, e, G_MAXUINT64);
        check_gaussian (dtype, 2, 17, 13, 4, e, 4096);
      }
}

static void
test_gaussian_bad_shapes (void)
{
  g_autoptr(DrapeTensor) odd = test_tensor_from (DRAPE_DTYPE_F32, 1, 4, 4, 7, NULL);
  g_autoptr(DrapeTensor) moments = test_tensor_from (DRAPE_DTYPE_F32, 1, 4, 4, 8, NULL);
  g_autoptr(DrapeTensor) eps = test_tensor_from (DRAPE_DTYPE_F32, 1, 4, 3, 4, NULL);
  const DrapeTensor *cases[][2] = { { odd, NULL }, { moments, eps } };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "bad");

      drape_op_gaussian_sample (graph, cases[i][0], cases[i][1], 1.0f);
      g_assert_false (drape_graph_compile (graph, &error));
      g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT);
      g_assert_nonnull (strstr (error->message, "gaussian_sample"));
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/denoise/rollout/ddim-eta0", test_rollout_ddim_eta0);
  g_test_add_func ("/denoise/rollout/ddim-eta1", test_rollout_ddim_eta1);
  g_test_add_func ("/denoise/rollout/dpmpp2m", test_rollout_dpmpp2m);
  g_test_add_func ("/denoise/rollout/euler", test_rollout_euler);
  g_test_add_func ("/denoise/catvton-loop", test_pipeline_loop);
  g_test_add_func ("/denoise/guided", test_guided);
  g_test_add_func ("/denoise/unguided-first-step", test_unguided_first_step);
  g_test_add_func ("/denoise/bad-shapes", test_denoise_bad_shapes);
  g_test_add_func ("/gaussian/golden", test_gaussian_golden);
  g_test_add_func ("/gaussian/random", test_gaussian_random);
  g_test_add_func ("/gaussian/bad-shapes", test_gaussian_bad_shapes);
  return test_finish (g_test_run ());
}
