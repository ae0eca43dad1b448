/* test-pipeline.c: a whole CatVTON try-on against CatVTON's own pipeline
 *
 * `drape-cli tryon --noise` end to end on the golden PNGs with the tiny
 * models and every random draw injected: the 8-bit result must be within
 * 2 levels of tests/golden/pipeline/output.png (eta 1, CatVTON's default)
 * and output_eta0.png (deterministic DDIM).  Then what a user can get
 * wrong: an empty mask, a mask of another size, odd sizes, a cancelled
 * run, a second run on the same loaded models.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "test-common.h"

#include <string.h>
#include <gio/gio.h>
#include <glib/gstdio.h>

#include "image.h"
#include "pipeline.h"

static char *
golden (const char *name)
{
  return g_build_filename (test_golden_dir (), name, NULL);
}

/* Runs drape-cli with the given arguments, with `models_dir` as
 * DRAPE_MODELS_DIR if not NULL; returns its exit status and its stderr
 * through err. */
static int
run_cli_in (const char *models_dir,
            char      **err,
            va_list     args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  const char *arg;

  g_ptr_array_add (argv, (gpointer) g_getenv ("DRAPE_CLI"));
  while ((arg = va_arg (args, const char *)) != NULL)
    g_ptr_array_add (argv, (gpointer) arg);
  g_ptr_array_add (argv, NULL);
  if (models_dir != NULL)
    g_subprocess_launcher_setenv (launcher, "DRAPE_MODELS_DIR", models_dir, TRUE);

  proc = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, err, &error);
  g_assert_no_error (error);
  if (g_test_verbose ())
    g_printerr ("%s", *err);
  return g_subprocess_get_exit_status (proc);
}

static int
run_cli (char **err,
         ...)
{
  va_list args;
  int status;

  va_start (args, err);
  status = run_cli_in (NULL, err, args);
  va_end (args);
  return status;
}

static int
run_cli_with_models (const char *models_dir,
                     char      **err,
                     ...)
{
  va_list args;
  int status;

  va_start (args, err);
  status = run_cli_in (models_dir, err, args);
  va_end (args);
  return status;
}

static guint
max_difference (const DrapeImage *a,
                const DrapeImage *b)
{
  guint worst = 0;

  g_assert_cmpuint (a->width, ==, b->width);
  g_assert_cmpuint (a->height, ==, b->height);
  g_assert_cmpuint (a->channels, ==, b->channels);
  for (gsize i = 0; i < (gsize) a->stride * a->height; i++)
    worst = MAX (worst, (guint) ABS ((int) a->pixels[i] - (int) b->pixels[i]));
  return worst;
}

static void
check_golden_run (const char *eta,
                  const char *reference)
{
  g_autofree char *dir = g_dir_make_tmp ("drape-pipeline-XXXXXX", NULL);
  g_autofree char *out = g_build_filename (dir, "out.png", NULL);
  g_autofree char *person = golden ("pipeline/person.png");
  g_autofree char *garment = golden ("pipeline/garment.png");
  g_autofree char *mask = golden ("pipeline/mask.png");
  g_autofree char *noise = golden ("pipeline/pipeline_cases.safetensors");
  g_autofree char *unet = golden ("unet");
  g_autofree char *vae = golden ("vae");
  g_autofree char *ref_path = golden (reference);
  g_autofree char *err = NULL;
  g_autoptr(DrapeImage) got = NULL;
  g_autoptr(DrapeImage) ref = NULL;
  g_autoptr(GError) error = NULL;
  guint diff;
  int status;

  status = run_cli (&err, "tryon", "--person", person, "--garment", garment, "--mask", mask,
                    "--out", out, "--unet", unet, "--vae", vae, "--size", "48x64",
                    "--steps", "4", "--guidance", "2.5", "--eta", eta, "--noise", noise,
                    "--precision", "f32", NULL);
  if (status != 0)
    g_error ("drape-cli tryon failed: %s", err);
  got = drape_image_load (out, 3, NULL, &error);
  g_assert_no_error (error);
  ref = drape_image_load (ref_path, 3, NULL, &error);
  g_assert_no_error (error);
  diff = max_difference (got, ref);
  if (g_test_verbose ())
    g_printerr ("eta %s: max difference %u levels\n", eta, diff);
  g_assert_cmpuint (diff, <=, 2);
  g_unlink (out);
  g_rmdir (dir);
}

static void
test_golden_eta1 (void)
{
  check_golden_run ("1", "pipeline/output.png");
}

static void
test_golden_eta0 (void)
{
  check_golden_run ("0", "pipeline/output_eta0.png");
}

static void
test_cli_bad_input (void)
{
  g_autofree char *dir = g_dir_make_tmp ("drape-pipeline-XXXXXX", NULL);
  g_autofree char *out = g_build_filename (dir, "out.png", NULL);
  g_autofree char *black = g_build_filename (dir, "black.png", NULL);
  g_autofree char *corrupt = g_build_filename (dir, "corrupt.png", NULL);
  g_autofree char *person = golden ("pipeline/person.png");
  g_autofree char *garment = golden ("pipeline/garment.png");
  g_autofree char *unet = golden ("unet");
  g_autofree char *vae = golden ("vae");
  g_autoptr(DrapeImage) empty = drape_image_new (48, 64, 1);
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL;

  drape_image_save_png (empty, black, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_file_set_contents (corrupt, "\x89PNG\r\n\x1a\nnot really", -1, NULL));

  g_assert_cmpint (run_cli (&err, "tryon", "--person", person, "--garment", garment, "--mask", black,
                            "--out", out, "--unet", unet, "--vae", vae, "--size", "48x64",
                            "--steps", "2", NULL), !=, 0);
  g_assert_nonnull (strstr (err, "mask is empty"));
  g_clear_pointer (&err, g_free);

  g_assert_cmpint (run_cli (&err, "tryon", "--person", corrupt, "--garment", garment, "--mask", black,
                            "--out", out, "--unet", unet, "--vae", vae, NULL), !=, 0);
  g_assert_nonnull (strstr (err, "corrupt.png"));
  g_clear_pointer (&err, g_free);

  g_assert_cmpint (run_cli (&err, "tryon", "--person", person, "--garment", garment, "--mask", person,
                            "--out", out, "--unet", vae, "--vae", vae, NULL), !=, 0);
  g_assert_nonnull (strstr (err, "not a UNet2DConditionModel"));
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  g_clear_pointer (&err, g_free);

  /* No model folders given and none downloaded: say how to get them. */
  g_assert_cmpint (run_cli_with_models (dir, &err, "tryon", "--person", person, "--garment", garment,
                                        "--mask", person, "--out", out, NULL), !=, 0);
  g_assert_nonnull (strstr (err, "drape-cli models fetch sd15-inpainting-unet"));
  g_clear_pointer (&err, g_free);

  g_unlink (black);
  g_unlink (corrupt);
  g_rmdir (dir);
}

/* The reference runners write what the golden files hold, in their layout
 * (NCHW), for every case. */
static void
check_eval (const char        *model,
            const char        *cases_name,
            const char *const *outputs)
{
  g_autofree char *dir = g_dir_make_tmp ("drape-eval-XXXXXX", NULL);
  g_autofree char *out = g_build_filename (dir, "ours.safetensors", NULL);
  g_autofree char *model_dir = golden (model);
  g_autofree char *cases_path = g_build_filename (model_dir, cases_name, NULL);
  g_autofree char *err = NULL;
  g_autoptr(DrapeSafetensors) ours = NULL;
  g_autoptr(DrapeSafetensors) ref = NULL;
  g_autoptr(GError) error = NULL;

  if (run_cli (&err, "eval", model, "--model", model_dir, "--cases", cases_path, "--out", out,
               "--precision", "f32", NULL) != 0)
    g_error ("drape-cli eval %s failed: %s", model, err);
  ours = drape_safetensors_open (out, &error);
  g_assert_no_error (error);
  ref = drape_safetensors_open (cases_path, &error);
  g_assert_no_error (error);
  for (guint i = 0; outputs[i] != NULL; i++)
    {
      const DrapeStTensor *want = drape_safetensors_lookup (ref, outputs[i]);
      g_autofree float *got = drape_safetensors_read_f32 (ours, outputs[i], want->n_dims, want->shape, &error);
      g_autofree float *values = g_new (float, want->numel);

      g_assert_no_error (error);
      drape_st_tensor_read_f32 (want, 0, want->numel, values);
      test_assert_close_std (outputs[i], got, values, want->numel, 1e-3);
    }
  g_unlink (out);
  g_rmdir (dir);
}

static void
test_cli_eval (void)
{
  const char *const unet[] = { "case0.noise_pred", "case1.noise_pred", "case2.noise_pred", NULL };
  const char *const vae[] = {
    "case0.posterior_mean", "case0.posterior_logvar", "case0.decoded",
    "case1.posterior_mean", "case1.posterior_logvar", "case1.decoded", NULL,
  };

  check_eval ("unet", "unet_cases.safetensors", unet);
  check_eval ("vae", "vae_cases.safetensors", vae);
}

typedef struct {
  GCancellable *cancellable;
  guint calls;
  guint cancel_at;
  guint n_steps;
  guint32 width, height;
  GPtrArray *previews; /* DrapeImage, one per call */
  double first_step_s;
} Watch;

/* Every step 1..n, in order, each with a preview at the output size and
 * the time the first took (elapsed then) since. */
static void
on_progress (const DrapeProgress *p,
             gpointer             user_data)
{
  Watch *watch = user_data;

  watch->calls++;
  g_assert_cmpuint (p->step, ==, watch->calls);
  g_assert_cmpuint (p->n_steps, ==, watch->n_steps);
  if (p->step == 1)
    watch->first_step_s = p->elapsed_s;
  g_assert_cmpfloat (p->first_step_s, >, 0);
  g_assert_cmpfloat (p->first_step_s, ==, watch->first_step_s);
  g_assert_cmpfloat (p->elapsed_s, >=, p->first_step_s);
  g_assert_nonnull (p->preview);
  g_assert_cmpuint (p->preview->width, ==, watch->width);
  g_assert_cmpuint (p->preview->height, ==, watch->height);
  g_ptr_array_add (watch->previews, drape_image_copy (p->preview));
  if (watch->calls == watch->cancel_at)
    g_cancellable_cancel (watch->cancellable);
}

static void
watch_reset (Watch *watch,
             guint  n_steps)
{
  watch->calls = 0;
  watch->n_steps = n_steps;
  g_ptr_array_set_size (watch->previews, 0);
}

/* The time left is the steps since the first's pace (the first also
 * builds what they replay: on a CPU with a cold shader cache, 91 s
 * against 17 for each after), none after the first alone, and none
 * after the last. */
static void
test_seconds_left (void)
{
  static const struct {
    DrapeProgress p;
    double left;
  } cases[] = {
    { { .step = 1, .n_steps = 30, .elapsed_s = 91, .first_step_s = 91 }, -1 },
    { { .step = 2, .n_steps = 30, .elapsed_s = 108, .first_step_s = 91 }, 17 * 28 },
    { { .step = 3, .n_steps = 30, .elapsed_s = 125, .first_step_s = 91 }, 17 * 27 },
    { { .step = 30, .n_steps = 30, .elapsed_s = 584, .first_step_s = 91 }, 0 },
    { { .step = 1, .n_steps = 1, .elapsed_s = 91, .first_step_s = 91 }, 0 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    g_assert_cmpfloat_with_epsilon (drape_progress_seconds_left (&cases[i].p), cases[i].left, 1e-9);
}

/* Models load once and serve runs of different sizes and settings; a
 * cancelled run stops after the step in flight when it was cancelled. */
static void
test_api_runs (void)
{
  g_autofree char *unet = golden ("unet");
  g_autofree char *vae = golden ("vae");
  g_autofree char *person_path = golden ("pipeline/person.png");
  g_autofree char *garment_path = golden ("pipeline/garment.png");
  g_autofree char *mask_path = golden ("pipeline/mask.png");
  DrapePipelineConfig config = { .unet_dir = unet, .vae_dir = vae, .dtype = DRAPE_DTYPE_F32 };
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapePipeline) pipeline = drape_pipeline_new (test_device (), &config, NULL, &error);
  g_autoptr(DrapeImage) person = drape_image_load (person_path, 3, NULL, NULL);
  g_autoptr(DrapeImage) garment = drape_image_load (garment_path, 3, NULL, NULL);
  g_autoptr(DrapeImage) mask = drape_image_load (mask_path, 1, NULL, NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(DrapeImage) a = NULL;
  g_autoptr(DrapeImage) b = NULL;
  g_autoptr(DrapeImage) c = NULL;
  g_autofree char *note = NULL;
  g_autoptr(GPtrArray) first_previews = g_ptr_array_new_with_free_func ((GDestroyNotify) drape_image_free);
  g_autoptr(GPtrArray) previews = g_ptr_array_new_with_free_func ((GDestroyNotify) drape_image_free);
  Watch watch = { .cancellable = cancellable, .width = 48, .height = 64, .previews = previews };
  DrapeTryOnParams params;

  g_assert_no_error (error);
  drape_try_on_params_init (&params);
  params.width = 48;
  params.height = 64;
  params.steps = 3;

  /* The same seed gives the same image; another seed another one.  Each
   * step's preview is its own (the sample moves every step), the same in
   * both runs: read after its step finished, not while the next one (in
   * flight meanwhile) writes. */
  watch_reset (&watch, 3);
  a = drape_pipeline_try_on (pipeline, person, garment, mask, &params, on_progress, &watch, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (watch.calls, ==, 3);
  for (guint i = 0; i < 3; i++)
    g_ptr_array_add (first_previews, drape_image_copy (g_ptr_array_index (previews, i)));
  for (guint i = 1; i < 3; i++)
    g_assert_cmpuint (max_difference (g_ptr_array_index (previews, i - 1),
                                      g_ptr_array_index (previews, i)), >, 0);
  watch_reset (&watch, 3);
  b = drape_pipeline_try_on (pipeline, person, garment, mask, &params, on_progress, &watch, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (max_difference (a, b), ==, 0);
  g_assert_cmpuint (watch.calls, ==, 3);
  for (guint i = 0; i < 3; i++)
    g_assert_cmpuint (max_difference (g_ptr_array_index (first_previews, i),
                                      g_ptr_array_index (previews, i)), ==, 0);
  params.seed++;
  g_clear_pointer (&b, drape_image_free);
  b = drape_pipeline_try_on (pipeline, person, garment, mask, &params, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (max_difference (a, b), >, 0);

  /* Another size and scheduler on the same models. */
  params.width = 60;
  params.height = 44;
  params.scheduler = DRAPE_SCHEDULER_EULER;
  params.eta = 0;
  g_assert_true (drape_try_on_params_check (&params, &note, &error));
  g_assert_nonnull (strstr (note, "56x40"));
  c = drape_pipeline_try_on (pipeline, person, garment, mask, &params, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (c->width, ==, 56);
  g_assert_cmpuint (c->height, ==, 40);

  /* The VAE on tiles: one tile as large as the image is the whole-image
   * path exactly; 32-pixel tiles (overlapping by 8) give the picture up to
   * the context each tile lacks, which a tiny random VAE feels strongly:
   * the bound only catches tiles put in the wrong place. */
  {
    g_autoptr(DrapeImage) whole = NULL;
    g_autoptr(DrapeImage) one_tile = NULL;
    g_autoptr(DrapeImage) tiled = NULL;
    double mean = 0;

    params.width = 48;
    params.height = 64;
    params.scheduler = DRAPE_SCHEDULER_DDIM;
    params.vae_tiling = DRAPE_VAE_TILING_OFF;
    whole = drape_pipeline_try_on (pipeline, person, garment, mask, &params, NULL, NULL, NULL, &error);
    g_assert_no_error (error);
    params.vae_tiling = DRAPE_VAE_TILING_ON;
    params.vae_tile = 64;
    one_tile = drape_pipeline_try_on (pipeline, person, garment, mask, &params, NULL, NULL, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (max_difference (whole, one_tile), ==, 0);
    params.vae_tile = 32;
    tiled = drape_pipeline_try_on (pipeline, person, garment, mask, &params, NULL, NULL, NULL, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (tiled->width, ==, 48);
    g_assert_cmpuint (tiled->height, ==, 64);
    for (gsize i = 0; i < (gsize) 48 * 64 * 3; i++)
      mean += ABS ((int) whole->pixels[i] - (int) tiled->pixels[i]);
    mean /= 48 * 64 * 3;
    if (g_test_verbose ())
      g_printerr ("tiled VAE: mean difference %.2f levels, max %u\n", mean, max_difference (whole, tiled));
    g_assert_cmpuint (max_difference (whole, tiled), >, 0);
    g_assert_cmpfloat (mean, <, 40.0);
    params.vae_tiling = DRAPE_VAE_TILING_AUTO;
    params.vae_tile = 0;
  }

  /* Preparing records and allocates all that a run of that kind holds:
   * the run then takes no more device memory.  Releasing the graphs
   * gives their memory back (a large size, whose activations take blocks
   * of their own, shows it). */
  {
    DrapeDevice *device = test_device ();
    guint64 base, prepared, peak, released;

    params.width = 1024;
    params.height = 1024;
    params.vae_tiling = DRAPE_VAE_TILING_OFF;
    drape_pipeline_release_graphs (pipeline);
    drape_device_get_memory_usage (device, &base, NULL);
    g_assert_true (drape_pipeline_prepare (pipeline, &params, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (drape_pipeline_get_vae_tile (pipeline), ==, 0);
    drape_device_get_memory_usage (device, &prepared, NULL);
    g_assert_cmpuint (prepared, >, base);
    drape_pipeline_release_graphs (pipeline);
    drape_device_get_memory_usage (device, &released, NULL);
    g_assert_cmpuint (released, <, prepared);

    params.width = 48;
    params.height = 64;
    params.vae_tiling = DRAPE_VAE_TILING_ON;
    params.vae_tile = 32;
    g_assert_true (drape_pipeline_prepare (pipeline, &params, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (drape_pipeline_get_vae_tile (pipeline), ==, 32);
    drape_device_reset_peak_memory (device);
    drape_device_get_memory_usage (device, &prepared, NULL);
    g_clear_pointer (&c, drape_image_free);
    c = drape_pipeline_try_on (pipeline, person, garment, mask, &params, NULL, NULL, NULL, &error);
    g_assert_no_error (error);
    drape_device_get_memory_usage (device, NULL, &peak);
    g_assert_cmpuint (peak, ==, prepared);

    params.width = 0;
    g_assert_false (drape_pipeline_prepare (pipeline, &params, &error));
    g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT);
    g_clear_error (&error);
    params.vae_tiling = DRAPE_VAE_TILING_AUTO;
    params.vae_tile = 0;
  }

  /* Cancel during step 2 of 5: step 3, in flight by then, is waited for
   * but not reported, and nothing is left running for the next run. */
  params.width = 48;
  params.height = 64;
  params.steps = 5;
  watch_reset (&watch, 5);
  watch.cancel_at = 2;
  g_clear_pointer (&c, drape_image_free);
  c = drape_pipeline_try_on (pipeline, person, garment, mask, &params, on_progress, &watch,
                             cancellable, &error);
  g_assert_null (c);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (watch.calls, ==, 2);
  g_clear_error (&error);
  params.steps = 2;
  c = drape_pipeline_try_on (pipeline, person, garment, mask, &params, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (c);
  test_assert_no_validation_messages ();
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/pipeline/golden/eta1", test_golden_eta1);
  g_test_add_func ("/pipeline/golden/eta0", test_golden_eta0);
  g_test_add_func ("/pipeline/cli-bad-input", test_cli_bad_input);
  g_test_add_func ("/pipeline/cli-eval", test_cli_eval);
  g_test_add_func ("/pipeline/api-runs", test_api_runs);
  g_test_add_func ("/pipeline/seconds-left", test_seconds_left);
  return test_finish (g_test_run ());
}
