/* cli-tryon.c: drape-cli tryon
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "image.h"
#include "pipeline.h"

typedef struct {
  gboolean tty;
  const char *preview_dir;
  guint preview_errors;
} Progress;

static void
on_progress (const DrapeProgress *p,
             gpointer             user_data)
{
  Progress *state = user_data;
  double left = drape_progress_seconds_left (p);

  if (state->tty && left >= 0)
    fprintf (stderr, "\rstep %u/%u  %.1f s, %.0f s left   ", p->step, p->n_steps, p->elapsed_s, left);
  else if (state->tty)
    fprintf (stderr, "\rstep %u/%u  %.1f s   ", p->step, p->n_steps, p->elapsed_s);
  else
    fprintf (stderr, "step %u/%u %.2f s\n", p->step, p->n_steps, p->elapsed_s);
  if (p->step == p->n_steps && state->tty)
    fputc ('\n', stderr);

  if (state->preview_dir != NULL)
    {
      g_autofree char *name = g_strdup_printf ("step-%03u.png", p->step);
      g_autofree char *path = g_build_filename (state->preview_dir, name, NULL);
      g_autoptr(GError) error = NULL;
      if (!drape_image_save_png (p->preview, path, NULL, &error) && state->preview_errors++ == 0)
        g_printerr ("drape-cli: previews not saved: %s\n", error->message);
    }
}

/* OUT.png, OUT-2.png, OUT-3.png ... for several garments. */
static char *
output_path (const char *out,
             guint       index,
             guint       count)
{
  const char *dot = strrchr (out, '.');
  const char *slash = strrchr (out, '/');

  if (count == 1 || index == 0)
    return g_strdup (out);
  if (dot == NULL || (slash != NULL && dot < slash))
    return g_strdup_printf ("%s-%u", out, index + 1);
  return g_strdup_printf ("%.*s-%u%s", (int) (dot - out), out, index + 1, dot);
}

static DrapeImage *
load (const char *path,
      guint32     channels,
      const char *what,
      GError    **error)
{
  g_autofree char *note = NULL;
  DrapeImage *image = drape_image_load (path, channels, &note, error);

  if (image == NULL)
    g_prefix_error (error, "%s: ", what);
  else if (note != NULL)
    g_printerr ("drape-cli: %s\n", note);
  return image;
}

int
drape_cli_tryon (int    argc,
                 char **argv)
{
  g_autofree char *person_path = NULL;
  g_auto(GStrv) garment_paths = NULL;
  g_autofree char *mask_path = NULL;
  g_autofree char *out = NULL;
  g_autofree char *unet_dir = NULL;
  g_autofree char *vae_dir = NULL;
  g_autofree char *attention = NULL;
  g_autofree char *size = NULL;
  g_autofree char *scheduler = NULL;
  g_autofree char *precision = NULL;
  g_autofree char *noise = NULL;
  g_autofree char *preview_dir = NULL;
  g_autofree char *device_name = NULL;
  g_autofree char *vae_tiling = NULL;
  gint steps = 50, mask_blur = 0, vae_tile = 0;
  double guidance = 2.5, eta = 1.0;
  gint64 seed = 42;
  gboolean repaint = FALSE;
  GOptionEntry entries[] = {
    { "person", 0, 0, G_OPTION_ARG_FILENAME, &person_path, "Photo of the person", "FILE" },
    { "garment", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &garment_paths, "Garment photo (repeat for several)", "FILE" },
    { "mask", 0, 0, G_OPTION_ARG_FILENAME, &mask_path, "Mask: white where the garment goes", "FILE" },
    { "out", 0, 0, G_OPTION_ARG_FILENAME, &out, "Output PNG", "FILE" },
    { "unet", 0, 0, G_OPTION_ARG_FILENAME, &unet_dir, "SD1.5-inpainting UNet folder (default: from drape-cli models fetch)", "DIR" },
    { "vae", 0, 0, G_OPTION_ARG_FILENAME, &vae_dir, "VAE folder (default: sd-vae-ft-mse from the model store)", "DIR" },
    { "attention", 0, 0, G_OPTION_ARG_FILENAME, &attention, "CatVTON attention checkpoint (default: mix-48k-1024 with the store's UNet)", "FILE" },
    { "size", 0, 0, G_OPTION_ARG_STRING, &size, "Output size, width x height (384x512)", "WxH" },
    { "steps", 0, 0, G_OPTION_ARG_INT, &steps, "Denoising steps (50)", "N" },
    { "guidance", 0, 0, G_OPTION_ARG_DOUBLE, &guidance, "Classifier-free guidance (2.5)", "G" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "Random seed (42)", "S" },
    { "eta", 0, 0, G_OPTION_ARG_DOUBLE, &eta, "DDIM eta (1.0)", "E" },
    { "scheduler", 0, 0, G_OPTION_ARG_STRING, &scheduler, "ddim, dpmpp-2m or euler (ddim)", "NAME" },
    { "precision", 0, 0, G_OPTION_ARG_STRING, &precision, "f16 or f32 (f16 on GPUs, f32 on the CPU)", "P" },
    { "repaint", 0, 0, G_OPTION_ARG_NONE, &repaint, "Keep the photo outside the mask", NULL },
    { "mask-blur", 0, 0, G_OPTION_ARG_INT, &mask_blur, "Blur the mask before binarising (CatVTON's app: 9)", "R" },
    { "noise", 0, 0, G_OPTION_ARG_FILENAME, &noise, "Take every random draw from this safetensors file", "FILE" },
    { "vae-tiling", 0, 0, G_OPTION_ARG_STRING, &vae_tiling, "VAE on tiles: auto (when memory is short), on, off", "MODE" },
    { "vae-tile", 0, 0, G_OPTION_ARG_INT, &vae_tile, "VAE tile side in pixels (512)", "PX" },
    { "preview-dir", 0, 0, G_OPTION_ARG_FILENAME, &preview_dir, "Save each step's preview here", "DIR" },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device_name, "Vulkan device (index or name)", "DEV" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- dress a person in a garment");
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeDevice) device = NULL;
  g_autoptr(DrapePipeline) pipeline = NULL;
  g_autoptr(DrapeImage) person = NULL;
  g_autoptr(DrapeImage) mask = NULL;
  g_autofree char *note = NULL;
  g_autofree char *params_text = NULL;
  DrapeTryOnParams params;
  DrapePipelineConfig config = { 0 };
  Progress progress = { .tty = isatty (STDERR_FILENO) };
  guint n_garments;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return drape_cli_fail_error (error);
  if (person_path == NULL || garment_paths == NULL || mask_path == NULL || out == NULL)
    return drape_cli_fail ("tryon needs --person, --garment, --mask and --out");
  /* Without folders, the catalog's models: CatVTON's attention only goes
   * with the catalog's UNet (a UNet folder given alone runs as it is). */
  if (unet_dir == NULL)
    {
      g_autofree char *attention_dir = NULL;
      if ((unet_dir = drape_cli_model_dir ("sd15-inpainting-unet", &error)) == NULL)
        return drape_cli_fail_error (error);
      if (attention == NULL)
        {
          if ((attention_dir = drape_cli_model_dir ("catvton-mix-48k-1024", &error)) == NULL)
            return drape_cli_fail_error (error);
          attention = g_build_filename (attention_dir, "model.safetensors", NULL);
        }
    }
  else if (attention == NULL)
    g_printerr ("drape-cli: no --attention: the UNet runs with its own self-attention, not CatVTON's\n");
  if (vae_dir == NULL && (vae_dir = drape_cli_model_dir ("sd-vae-ft-mse", &error)) == NULL)
    return drape_cli_fail_error (error);

  drape_try_on_params_init (&params);
  if (size != NULL && !drape_cli_parse_size (size, &params.width, &params.height))
    return drape_cli_fail ("--size %s: expected WIDTHxHEIGHT, e.g. 768x1024", size);
  if (scheduler != NULL && !drape_scheduler_kind_from_string (scheduler, &params.scheduler))
    return drape_cli_fail ("--scheduler %s: expected ddim, dpmpp-2m or euler", scheduler);
  if (steps <= 0 || mask_blur < 0 || seed < 0)
    return drape_cli_fail ("--steps must be positive; --mask-blur and --seed not negative");
  params.steps = steps;
  params.guidance = guidance;
  params.seed = seed;
  params.eta = eta;
  params.repaint = repaint;
  params.mask_blur = mask_blur;
  params.noise_path = noise;
  params.vae_tile = MAX (vae_tile, 0);
  if (vae_tiling == NULL || g_strcmp0 (vae_tiling, "auto") == 0)
    params.vae_tiling = vae_tile > 0 ? DRAPE_VAE_TILING_ON : DRAPE_VAE_TILING_AUTO;
  else if (g_strcmp0 (vae_tiling, "on") == 0)
    params.vae_tiling = DRAPE_VAE_TILING_ON;
  else if (g_strcmp0 (vae_tiling, "off") == 0)
    params.vae_tiling = DRAPE_VAE_TILING_OFF;
  else
    return drape_cli_fail ("--vae-tiling %s: expected auto, on or off", vae_tiling);
  if (!drape_try_on_params_check (&params, &note, &error))
    return drape_cli_fail_error (error);
  if (note != NULL)
    g_printerr ("drape-cli: %s\n", note);
  if (preview_dir != NULL && g_mkdir_with_parents (preview_dir, 0755) != 0)
    return drape_cli_fail ("cannot create %s", preview_dir);
  progress.preview_dir = preview_dir;

  person = load (person_path, 3, "person", &error);
  if (person == NULL)
    return drape_cli_fail_error (error);
  mask = load (mask_path, 1, "mask", &error);
  if (mask == NULL)
    return drape_cli_fail_error (error);
  if (mask->width != person->width || mask->height != person->height)
    {
      DrapeImage *resized = drape_image_resize_bilinear (mask, person->width, person->height);
      g_printerr ("drape-cli: the mask is %ux%u, the photo %ux%u: mask resized to the photo\n",
                  mask->width, mask->height, person->width, person->height);
      drape_image_free (mask);
      mask = resized;
    }

  device = drape_device_new (device_name, &error);
  if (device == NULL)
    return drape_cli_fail_error (error);
  if (!drape_cli_parse_precision (precision, device, &config.dtype))
    return drape_cli_fail ("--precision %s: expected f16 or f32 (f16 needs 16-bit storage)", precision);
  config.unet_dir = unet_dir;
  config.vae_dir = vae_dir;
  config.attention_path = attention;
  pipeline = drape_pipeline_new (device, &config, NULL, &error);
  if (pipeline == NULL)
    return drape_cli_fail_error (error);

  params_text = drape_try_on_params_to_string (&params);
  n_garments = g_strv_length (garment_paths);
  for (guint i = 0; i < n_garments; i++)
    {
      g_autoptr(DrapeImage) garment = load (garment_paths[i], 3, "garment", &error);
      g_autoptr(DrapeImage) result = NULL;
      g_autofree char *path = output_path (out, i, n_garments);
      const char *text[] = { "parameters", params_text, "Software", "Drape " PACKAGE_VERSION, NULL };

      if (garment == NULL)
        return drape_cli_fail_error (error);
      result = drape_pipeline_try_on (pipeline, person, garment, mask, &params,
                                      on_progress, &progress, NULL, &error);
      if (result == NULL || !drape_image_save_png (result, path, text, &error))
        return drape_cli_fail_error (error);
      printf ("%s\n", path);
    }
  return 0;
}
