/* test-scheduler.c: DDIM, DPM-Solver++ 2M and Euler against diffusers 0.29.2
 *
 * Every case of tests/golden/scheduler: alphas_cumprod, timesteps (exact),
 * sigmas, single DDIM steps, and 5-step rollouts, each through the float32
 * reference step and through the per-step linear coefficients the GPU
 * uses.  Samples must match to 1e-5 x max (1, |ref|) per element.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "test-common.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "reference.h"
#include "safetensors.h"
#include "scheduler.h"

#define SAMPLE_ATOL 1e-5

typedef struct {
  DrapeSafetensors *st;
} Golden;

static void
golden_open (Golden *g)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (test_golden_dir (), "scheduler",
                                            "scheduler_cases.safetensors", NULL);

  g->st = drape_safetensors_open (path, &error);
  g_assert_no_error (error);
}

static void
golden_close (Golden *g)
{
  g_clear_pointer (&g->st, drape_safetensors_free);
}

/* A golden tensor as f32; its element count through n when not NULL. */
static float *
golden (Golden     *g,
        const char *name,
        gsize      *n)
{
  g_autoptr(GError) error = NULL;
  float *values = drape_safetensors_read_f32 (g->st, name, 0, NULL, &error);

  g_assert_no_error (error);
  if (n != NULL)
    *n = drape_safetensors_lookup (g->st, name)->numel;
  return values;
}

static gboolean
golden_has (Golden     *g,
            const char *name)
{
  return drape_safetensors_lookup (g->st, name) != NULL;
}

static char *
config_path (const char *file)
{
  return g_build_filename (test_golden_dir (), "scheduler", file, NULL);
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
  gsize at = 0;

  for (gsize i = 0; i < n; i++)
    {
      double excess = fabs ((double) got[i] - ref[i]) / MAX (1.0, fabs (ref[i]));
      if (isnan (excess) || excess > worst)
        {
          worst = isnan (excess) ? INFINITY : excess;
          at = i;
        }
    }
  if (g_test_verbose ())
    g_printerr ("%s: max |diff| / max (1, |ref|) = %.3g (limit %.3g)\n", what, worst, atol);
  if (!(worst <= atol))
    g_error ("%s: element %" G_GSIZE_FORMAT " is %.9g, want %.9g (%.3g > %.3g)",
             what, at, got[at], ref[at], worst, atol);
}

static DrapeScheduler *
scheduler_for (DrapeSchedulerKind kind,
               guint              n_steps,
               double             eta)
{
  g_autoptr(GError) error = NULL;
  DrapeSchedulerConfig config;
  DrapeScheduler *s;

  drape_scheduler_config_init (&config, kind);
  s = drape_scheduler_new (&config, n_steps, eta, &error);
  g_assert_no_error (error);
  return s;
}

static void
assert_timesteps (Golden         *g,
                  const char     *name,
                  DrapeScheduler *s)
{
  gsize n;
  g_autofree float *ref = golden (g, name, &n);

  g_assert_cmpuint (n, ==, drape_scheduler_get_n_steps (s));
  for (gsize i = 0; i < n; i++)
    if (drape_scheduler_get_step (s, i)->timestep != (double) ref[i])
      g_error ("%s[%" G_GSIZE_FORMAT "] is %.9g, want %.9g exactly", name, i,
               drape_scheduler_get_step (s, i)->timestep, ref[i]);
}

static void
assert_sigmas (Golden         *g,
               const char     *name,
               DrapeScheduler *s)
{
  gsize n;
  g_autofree float *ref = golden (g, name, &n);

  g_assert_cmpuint (n, ==, drape_scheduler_get_n_steps (s) + 1);
  assert_close_atol (name, drape_scheduler_get_sigmas (s), ref, n, SAMPLE_ATOL);
}

/* The linear form: what drape_op_denoise_step computes, unguided. */
static void
linear_step (DrapeScheduler *s,
             guint           index,
             const float    *eps,
             float          *sample,
             float          *x0,
             const float    *noise,
             gsize           n)
{
  DrapeDenoiseCoeffs k;

  drape_scheduler_get_coeffs (s, index, 1.0f, &k);
  drape_ref_denoise_step (eps, FALSE, sample, x0, noise, &k, n);
}

static void
test_alphas_cumprod (void)
{
  Golden g;
  g_autoptr(DrapeScheduler) s = scheduler_for (DRAPE_SCHEDULER_DDIM, 50, 0.0);
  g_autofree float *ref = NULL;
  g_autofree float *final = NULL;
  g_autofree float *init = NULL;
  const float *ac = drape_scheduler_get_alphas_cumprod (s);
  double worst = 0;
  gsize n;

  golden_open (&g);
  ref = golden (&g, "ddim.alphas_cumprod", &n);
  final = golden (&g, "ddim.final_alpha_cumprod", NULL);
  init = golden (&g, "ddim.init_noise_sigma", NULL);
  g_assert_cmpuint (n, ==, 1000);
  for (gsize i = 0; i < n; i++)
    worst = MAX (worst, fabs ((double) ac[i] - ref[i]));
  if (g_test_verbose ())
    g_printerr ("alphas_cumprod: max |diff| %.3g\n", worst);
  /* The manifest allows 1e-7; the schedule reproduces it exactly. */
  g_assert_cmpfloat (worst, ==, 0);
  /* set_alpha_to_one false: the last step's "previous" alpha is ac[0]. */
  g_assert_cmpfloat (final[0], ==, ac[0]);
  g_assert_cmpfloat (drape_scheduler_get_init_noise_sigma (s), ==, init[0]);
  golden_close (&g);
}

static void
test_ddim_timesteps (void)
{
  const guint counts[] = { 50, 30, 20, 4, 5 };
  Golden g;

  golden_open (&g);
  for (guint i = 0; i < G_N_ELEMENTS (counts); i++)
    {
      g_autoptr(DrapeScheduler) s = scheduler_for (DRAPE_SCHEDULER_DDIM, counts[i], 0.0);
      g_autofree char *name = counts[i] == 5 ? g_strdup ("rollout.ddim_eta0.timesteps")
                                             : g_strdup_printf ("ddim.N%u.timesteps", counts[i]);
      assert_timesteps (&g, name, s);
    }
  golden_close (&g);
}

/* One golden single-step case: eta 0 (prev_sample, x0) and eta 1 with
 * the given variance noise, through both forms. */
static void
check_ddim_step (Golden *g,
                 guint   n_steps,
                 guint   index)
{
  g_autoptr(DrapeScheduler) s0 = scheduler_for (DRAPE_SCHEDULER_DDIM, n_steps, 0.0);
  g_autoptr(DrapeScheduler) s1 = scheduler_for (DRAPE_SCHEDULER_DDIM, n_steps, 1.0);
  g_autofree char *prefix = g_strdup_printf ("ddim.N%u.step%u", n_steps, index);
  g_autofree char *name = NULL;
  g_autofree float *t = NULL, *mo = NULL, *sample = NULL, *prev0 = NULL, *x0_ref = NULL;
  g_autofree float *noise = NULL, *prev1 = NULL, *got = NULL, *x0 = NULL;
  gsize n;

#define LOAD(var, suffix) \
  g_free (name); name = g_strconcat (prefix, suffix, NULL); var = golden (g, name, &n)
  LOAD (t, ".timestep");
  LOAD (mo, ".model_output");
  LOAD (prev0, ".eta0.prev_sample");
  LOAD (x0_ref, ".eta0.pred_original_sample");
  LOAD (noise, ".eta1.variance_noise");
  LOAD (prev1, ".eta1.prev_sample");
  LOAD (sample, ".sample");
#undef LOAD
  got = g_new (float, n);
  x0 = g_new (float, n);
  g_assert_cmpfloat (drape_scheduler_get_step (s0, index)->timestep, ==, t[0]);
  g_assert_false (drape_scheduler_needs_noise (s0));
  g_assert_true (drape_scheduler_needs_noise (s1));

  drape_scheduler_step_reference (s0, index, mo, sample, NULL, x0, got, n);
  assert_close_atol (prefix, got, prev0, n, SAMPLE_ATOL);
  assert_close_atol (prefix, x0, x0_ref, n, SAMPLE_ATOL);
  drape_scheduler_step_reference (s1, index, mo, sample, noise, x0, got, n);
  assert_close_atol (prefix, got, prev1, n, SAMPLE_ATOL);

  memcpy (got, sample, n * sizeof (float));
  linear_step (s0, index, mo, got, x0, NULL, n);
  assert_close_atol (prefix, got, prev0, n, SAMPLE_ATOL);
  assert_close_atol (prefix, x0, x0_ref, n, SAMPLE_ATOL);
  memcpy (got, sample, n * sizeof (float));
  linear_step (s1, index, mo, got, x0, noise, n);
  assert_close_atol (prefix, got, prev1, n, SAMPLE_ATOL);
}

static void
test_ddim_steps (void)
{
  Golden g;
  guint cases = 0;

  golden_open (&g);
  /* Every ddim.N<n>.step<i> case in the file. */
  for (guint i = 0; i < drape_safetensors_get_n_tensors (g.st); i++)
    {
      const char *name = drape_safetensors_get_nth (g.st, i)->name;
      guint n_steps, index;
      char tail[32];

      if (sscanf (name, "ddim.N%u.step%u.%31s", &n_steps, &index, tail) == 3 &&
          g_str_equal (tail, "timestep"))
        {
          check_ddim_step (&g, n_steps, index);
          cases++;
        }
    }
  g_assert_cmpuint (cases, ==, 9);
  golden_close (&g);
}

/* A 5-step rollout: model_output = 0.1 model_input + c, from sample0 =
 * noise * init_noise_sigma, each form feeding itself. */
static void
check_rollout (const char        *name,
               DrapeSchedulerKind kind,
               double             eta)
{
  Golden g;
  g_autoptr(DrapeScheduler) s = scheduler_for (kind, 5, eta);
  g_autofree float *c = NULL, *noise = NULL, *init = NULL, *sample0 = NULL;
  g_autofree float *ref_sample = NULL, *lin_sample = NULL, *ref_x0 = NULL, *lin_x0 = NULL;
  g_autofree float *input = NULL, *output = NULL;
  char key[96];
  gsize n;

  golden_open (&g);
  c = golden (&g, "rollout.c", &n);
  noise = golden (&g, "rollout.noise", NULL);
  g_snprintf (key, sizeof key, "rollout.%s.timesteps", name);
  assert_timesteps (&g, key, s);
  g_snprintf (key, sizeof key, "rollout.%s.sigmas", name);
  if (golden_has (&g, key))
    assert_sigmas (&g, key, s);
  g_snprintf (key, sizeof key, "rollout.%s.init_noise_sigma", name);
  init = golden (&g, key, NULL);
  g_assert_cmpfloat (fabs (drape_scheduler_get_init_noise_sigma (s) - init[0]), <=,
                     1e-6 * MAX (1.0, fabs (init[0])));

  ref_sample = g_new (float, n);
  lin_sample = g_new (float, n);
  ref_x0 = g_new0 (float, n);
  lin_x0 = g_new0 (float, n);
  input = g_new (float, n);
  output = g_new (float, n);
  for (gsize i = 0; i < n; i++)
    ref_sample[i] = noise[i] * (float) drape_scheduler_get_init_noise_sigma (s);
  memcpy (lin_sample, ref_sample, n * sizeof (float));
  g_snprintf (key, sizeof key, "rollout.%s.sample0", name);
  sample0 = golden (&g, key, NULL);
  assert_close_atol (key, ref_sample, sample0, n, SAMPLE_ATOL);

  for (guint step = 0; step < 5; step++)
    {
      g_autofree float *want_input = NULL, *want = NULL, *want_x0 = NULL, *var = NULL;
      const DrapeSchedulerStep *st = drape_scheduler_get_step (s, step);
      char prefix[64];

      g_snprintf (prefix, sizeof prefix, "rollout.%s.step%u", name, step);
      g_snprintf (key, sizeof key, "%s.model_input", prefix);
      want_input = golden (&g, key, NULL);
      g_snprintf (key, sizeof key, "%s.prev_sample", prefix);
      want = golden (&g, key, NULL);
      g_snprintf (key, sizeof key, "%s.pred_original_sample", prefix);
      if (golden_has (&g, key))
        want_x0 = golden (&g, key, NULL);
      g_snprintf (key, sizeof key, "%s.variance_noise", prefix);
      if (golden_has (&g, key))
        var = golden (&g, key, NULL);
      g_assert_true ((var != NULL) == (st->c_noise != 0));

      /* diffusers' arithmetic */
      drape_scheduler_scale_model_input_reference (s, step, ref_sample, input, n);
      g_snprintf (key, sizeof key, "%s.model_input (reference)", prefix);
      assert_close_atol (key, input, want_input, n, SAMPLE_ATOL);
      for (gsize i = 0; i < n; i++)
        output[i] = 0.1f * input[i] + c[i];
      drape_scheduler_step_reference (s, step, output, ref_sample, var, ref_x0, ref_sample, n);
      g_snprintf (key, sizeof key, "%s.prev_sample (reference)", prefix);
      assert_close_atol (key, ref_sample, want, n, SAMPLE_ATOL);
      if (want_x0 != NULL)
        assert_close_atol (key, ref_x0, want_x0, n, SAMPLE_ATOL);

      /* the linear coefficients */
      for (gsize i = 0; i < n; i++)
        input[i] = (float) (lin_sample[i] * st->input_scale);
      g_snprintf (key, sizeof key, "%s.model_input (linear)", prefix);
      assert_close_atol (key, input, want_input, n, SAMPLE_ATOL);
      for (gsize i = 0; i < n; i++)
        output[i] = 0.1f * input[i] + c[i];
      linear_step (s, step, output, lin_sample, lin_x0, var, n);
      g_snprintf (key, sizeof key, "%s.prev_sample (linear)", prefix);
      assert_close_atol (key, lin_sample, want, n, SAMPLE_ATOL);
      if (want_x0 != NULL)
        assert_close_atol (key, lin_x0, want_x0, n, SAMPLE_ATOL);
    }
  golden_close (&g);
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

static void
test_sigmas (void)
{
  const char *names[] = { "dpmpp2m", "euler" };
  const guint counts[] = { 20, 25 };
  Golden g;

  golden_open (&g);
  for (guint k = 0; k < 2; k++)
    for (guint i = 0; i < G_N_ELEMENTS (counts); i++)
      {
        g_autoptr(DrapeScheduler) s = scheduler_for (k == 0 ? DRAPE_SCHEDULER_DPMPP_2M
                                                            : DRAPE_SCHEDULER_EULER,
                                                     counts[i], 0.0);
        char key[64];

        g_snprintf (key, sizeof key, "%s.N%u.timesteps", names[k], counts[i]);
        assert_timesteps (&g, key, s);
        g_snprintf (key, sizeof key, "%s.N%u.sigmas", names[k], counts[i]);
        assert_sigmas (&g, key, s);
      }
  golden_close (&g);
}

/* Which steps are first order, and the last step returning x0. */
static void
test_dpm_orders (void)
{
  g_autoptr(DrapeScheduler) s5 = scheduler_for (DRAPE_SCHEDULER_DPMPP_2M, 5, 0.0);
  g_autoptr(DrapeScheduler) s20 = scheduler_for (DRAPE_SCHEDULER_DPMPP_2M, 20, 0.0);

  for (guint i = 0; i < 5; i++)
    {
      const DrapeSchedulerStep *st = drape_scheduler_get_step (s5, i);
      g_assert_true ((st->c_prev_x0 != 0) == (i > 0 && i < 4));
      g_assert_cmpfloat (st->c_eps, ==, 0);
      g_assert_cmpfloat (st->c_noise, ==, 0);
    }
  g_assert_cmpfloat (drape_scheduler_get_step (s5, 4)->c_sample, ==, 0);
  g_assert_cmpfloat (fabs (drape_scheduler_get_step (s5, 4)->c_x0 - 1), <, 1e-15);
  /* Over 15 steps lower_order_final no longer matters, but a final sigma
   * of 0 still makes the last step first order. */
  g_assert_cmpfloat (drape_scheduler_get_step (s20, 18)->c_prev_x0, !=, 0);
  g_assert_cmpfloat (drape_scheduler_get_step (s20, 19)->c_prev_x0, ==, 0);
}

static void
assert_spacing (DrapeSchedulerKind   kind,
                DrapeTimestepSpacing spacing,
                const double        *want)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeScheduler) s = NULL;
  DrapeSchedulerConfig config;

  drape_scheduler_config_init (&config, kind);
  config.spacing = spacing;
  s = drape_scheduler_new (&config, 10, 0.0, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 10; i++)
    if (drape_scheduler_get_step (s, i)->timestep != want[i])
      g_error ("kind %d, spacing %d: timestep %u is %g, want %g", kind, spacing, i,
               drape_scheduler_get_step (s, i)->timestep, want[i]);
}

/* The three spacings of "Common Diffusion Noise Schedules and Sample
 * Steps are Flawed" (Lin et al. 2024, table 2), 0-based as diffusers;
 * DPM-Solver++ divides 'leading' by n + 1 and drops the last. */
static void
test_spacings (void)
{
  const double leading[] = { 901, 801, 701, 601, 501, 401, 301, 201, 101, 1 };
  const double linspace[] = { 999, 888, 777, 666, 555, 444, 333, 222, 111, 0 };
  const double trailing[] = { 999, 899, 799, 699, 599, 499, 399, 299, 199, 99 };
  const double dpm_leading[] = { 901, 811, 721, 631, 541, 451, 361, 271, 181, 91 };
  const double dpm_linspace[] = { 999, 899, 799, 699, 599, 500, 400, 300, 200, 100 };

  assert_spacing (DRAPE_SCHEDULER_DDIM, DRAPE_SPACING_LEADING, leading);
  assert_spacing (DRAPE_SCHEDULER_DDIM, DRAPE_SPACING_LINSPACE, linspace);
  assert_spacing (DRAPE_SCHEDULER_DDIM, DRAPE_SPACING_TRAILING, trailing);
  assert_spacing (DRAPE_SCHEDULER_DPMPP_2M, DRAPE_SPACING_LEADING, dpm_leading);
  assert_spacing (DRAPE_SCHEDULER_DPMPP_2M, DRAPE_SPACING_LINSPACE, dpm_linspace);
  assert_spacing (DRAPE_SCHEDULER_DPMPP_2M, DRAPE_SPACING_TRAILING, trailing);
  assert_spacing (DRAPE_SCHEDULER_EULER, DRAPE_SPACING_LEADING, leading);
  assert_spacing (DRAPE_SCHEDULER_EULER, DRAPE_SPACING_LINSPACE, linspace);
  assert_spacing (DRAPE_SCHEDULER_EULER, DRAPE_SPACING_TRAILING, trailing);
}

/* Euler's first sigma is its init noise sigma, except under 'leading'
 * spacing, where it is sqrt (sigma_max^2 + 1). */
static void
test_euler_init_sigma (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeScheduler) linspace = scheduler_for (DRAPE_SCHEDULER_EULER, 10, 0.0);
  g_autoptr(DrapeScheduler) leading = NULL;
  DrapeSchedulerConfig config;
  float sigma;

  g_assert_cmpfloat (drape_scheduler_get_init_noise_sigma (linspace), ==,
                     drape_scheduler_get_sigmas (linspace)[0]);
  drape_scheduler_config_init (&config, DRAPE_SCHEDULER_EULER);
  config.spacing = DRAPE_SPACING_LEADING;
  leading = drape_scheduler_new (&config, 10, 0.0, &error);
  g_assert_no_error (error);
  sigma = drape_scheduler_get_sigmas (leading)[0];
  g_assert_cmpfloat (fabs (drape_scheduler_get_init_noise_sigma (leading) -
                           sqrt ((double) sigma * sigma + 1)), <, 1e-6 * sigma);
}

static void
assert_config_equal (const DrapeSchedulerConfig *a,
                     const DrapeSchedulerConfig *b)
{
  g_assert_cmpint (a->kind, ==, b->kind);
  g_assert_cmpuint (a->num_train_timesteps, ==, b->num_train_timesteps);
  g_assert_cmpfloat (a->beta_start, ==, b->beta_start);
  g_assert_cmpfloat (a->beta_end, ==, b->beta_end);
  g_assert_cmpint (a->beta_schedule, ==, b->beta_schedule);
  g_assert_cmpuint (a->steps_offset, ==, b->steps_offset);
  g_assert_cmpint (a->spacing, ==, b->spacing);
  g_assert_cmpint (a->set_alpha_to_one, ==, b->set_alpha_to_one);
  g_assert_cmpint (a->final_sigma_zero, ==, b->final_sigma_zero);
  g_assert_cmpuint (a->solver_order, ==, b->solver_order);
  g_assert_cmpint (a->lower_order_final, ==, b->lower_order_final);
  g_assert_cmpint (a->euler_at_final, ==, b->euler_at_final);
}

static void
test_config_files (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *ddim_path = config_path ("scheduler_config.json");
  g_autofree char *dpm_path = config_path ("dpmsolver_multistep_scheduler_config.json");
  g_autofree char *euler_path = config_path ("euler_discrete_scheduler_config.json");
  DrapeSchedulerConfig config, defaults;

  /* Each golden config loads into its kind's defaults unchanged: the
   * defaults are CatVTON's settings. */
  for (DrapeSchedulerKind kind = DRAPE_SCHEDULER_DDIM; kind <= DRAPE_SCHEDULER_EULER; kind++)
    {
      const char *path = kind == DRAPE_SCHEDULER_DDIM ? ddim_path
                         : kind == DRAPE_SCHEDULER_DPMPP_2M ? dpm_path : euler_path;
      drape_scheduler_config_init (&defaults, kind);
      drape_scheduler_config_init (&config, kind);
      config.steps_offset = 7;
      config.spacing = DRAPE_SPACING_TRAILING;
      drape_scheduler_config_load (&config, path, &error);
      g_assert_no_error (error);
      assert_config_equal (&config, &defaults);
    }

  /* DDIM's saved config spells out its own default spacing; a DPM-Solver++
   * built from it keeps 'linspace', the shared keys still apply. */
  drape_scheduler_config_init (&config, DRAPE_SCHEDULER_DPMPP_2M);
  config.steps_offset = 7;
  drape_scheduler_config_load (&config, ddim_path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (config.spacing, ==, DRAPE_SPACING_LINSPACE);
  g_assert_cmpuint (config.steps_offset, ==, 1);

  drape_scheduler_config_load (&config, "/nonexistent/scheduler_config.json", &error);
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_IO);
}

static void
assert_config_error (DrapeSchedulerKind kind,
                     const char        *json,
                     gint               code,
                     const char        *mentions)
{
  g_autoptr(GError) error = NULL;
  DrapeSchedulerConfig config, before;

  drape_scheduler_config_init (&config, kind);
  before = config;
  g_assert_false (drape_scheduler_config_load_data (&config, json, -1, "test.json", &error));
  g_assert_error (error, DRAPE_ERROR, code);
  if (strstr (error->message, mentions) == NULL)
    g_error ("error \"%s\" does not mention \"%s\"", error->message, mentions);
  assert_config_equal (&config, &before);
}

static void
test_config_errors (void)
{
  g_autoptr(GError) error = NULL;
  DrapeSchedulerConfig config;

  assert_config_error (DRAPE_SCHEDULER_DDIM, "{\"beta_start\": ", DRAPE_ERROR_FORMAT, "JSON");
  assert_config_error (DRAPE_SCHEDULER_DDIM, "[1, 2]", DRAPE_ERROR_FORMAT, "object");
  assert_config_error (DRAPE_SCHEDULER_DDIM, "{\"beta_start\": \"small\"}",
                       DRAPE_ERROR_FORMAT, "beta_start");
  assert_config_error (DRAPE_SCHEDULER_DDIM, "{\"num_train_timesteps\": -3}",
                       DRAPE_ERROR_UNSUPPORTED, "num_train_timesteps");
  assert_config_error (DRAPE_SCHEDULER_EULER, "{\"prediction_type\": \"v_prediction\"}",
                       DRAPE_ERROR_UNSUPPORTED, "v_prediction");
  assert_config_error (DRAPE_SCHEDULER_DDIM, "{\"clip_sample\": true}",
                       DRAPE_ERROR_UNSUPPORTED, "clip_sample");
  assert_config_error (DRAPE_SCHEDULER_DDIM, "{\"beta_schedule\": \"squaredcos_cap_v2\"}",
                       DRAPE_ERROR_UNSUPPORTED, "squaredcos_cap_v2");
  assert_config_error (DRAPE_SCHEDULER_DPMPP_2M,
                       "{\"_class_name\": \"DPMSolverMultistepScheduler\", "
                       "\"algorithm_type\": \"sde-dpmsolver++\"}",
                       DRAPE_ERROR_UNSUPPORTED, "algorithm_type");
  assert_config_error (DRAPE_SCHEDULER_DPMPP_2M,
                       "{\"_class_name\": \"DPMSolverMultistepScheduler\", "
                       "\"lambda_min_clipped\": -5.1}",
                       DRAPE_ERROR_UNSUPPORTED, "lambda_min_clipped");
  /* A token inside a string is not Python's NaN. */
  assert_config_error (DRAPE_SCHEDULER_DDIM,
                       "{\"timestep_spacing\": \"NaN\"}", DRAPE_ERROR_UNSUPPORTED, "\"NaN\"");

  /* Another class's solver keys do not apply (nor fail). */
  drape_scheduler_config_init (&config, DRAPE_SCHEDULER_DDIM);
  drape_scheduler_config_load_data (&config,
                                    "{\"_class_name\": \"DPMSolverMultistepScheduler\", "
                                    "\"algorithm_type\": \"dpmsolver\", \"timestep_spacing\": "
                                    "\"trailing\", \"lambda_min_clipped\": Infinity}",
                                    -1, "test.json", &error);
  g_assert_no_error (error);
  g_assert_cmpint (config.spacing, ==, DRAPE_SPACING_LEADING);
}

static void
test_bad_arguments (void)
{
  g_autoptr(GError) error = NULL;
  DrapeSchedulerConfig config;

  drape_scheduler_config_init (&config, DRAPE_SCHEDULER_DDIM);
  g_assert_null (drape_scheduler_new (&config, 0, 0.0, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_null (drape_scheduler_new (&config, 1001, 0.0, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_null (drape_scheduler_new (&config, 50, 1.5, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  config.beta_end = 2.0;
  g_assert_null (drape_scheduler_new (&config, 50, 0.0, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  /* 'linspace' DPM timesteps repeat past about 999 steps. */
  drape_scheduler_config_init (&config, DRAPE_SCHEDULER_DPMPP_2M);
  g_assert_null (drape_scheduler_new (&config, 1000, 0.0, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/scheduler/alphas-cumprod", test_alphas_cumprod);
  g_test_add_func ("/scheduler/ddim/timesteps", test_ddim_timesteps);
  g_test_add_func ("/scheduler/ddim/steps", test_ddim_steps);
  g_test_add_func ("/scheduler/rollout/ddim-eta0", test_rollout_ddim_eta0);
  g_test_add_func ("/scheduler/rollout/ddim-eta1", test_rollout_ddim_eta1);
  g_test_add_func ("/scheduler/rollout/dpmpp2m", test_rollout_dpmpp2m);
  g_test_add_func ("/scheduler/rollout/euler", test_rollout_euler);
  g_test_add_func ("/scheduler/sigmas", test_sigmas);
  g_test_add_func ("/scheduler/dpm-orders", test_dpm_orders);
  g_test_add_func ("/scheduler/spacings", test_spacings);
  g_test_add_func ("/scheduler/euler-init-sigma", test_euler_init_sigma);
  g_test_add_func ("/scheduler/config/files", test_config_files);
  g_test_add_func ("/scheduler/config/errors", test_config_errors);
  g_test_add_func ("/scheduler/bad-arguments", test_bad_arguments);
  return test_finish (g_test_run ());
}
