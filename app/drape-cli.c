/* drape-cli.c: the headless front end
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "device.h"
#include "model-store.h"

typedef struct {
  const char *name;
  int (*run) (int argc, char **argv);
  const char *summary;
} Command;

static const Command commands[] = {
  { "devices", drape_cli_devices, "list Vulkan devices, their limits and the shader variants in use" },
  { "tryon", drape_cli_tryon, "dress a person in a garment" },
  { "eval", drape_cli_eval, "run a model on reference cases (unet, vae, segformer)" },
  { "bench", drape_cli_bench, "time the UNet, the VAE and a try-on with random weights" },
  { "tune", drape_cli_tune, "time each layer's ways to run on this device and keep the fastest" },
  { "selftest", drape_cli_selftest, "run every op once on the device against its reference" },
  { "models", drape_cli_models, "list, fetch, verify and remove the model weights" },
  { "mask", drape_cli_mask, "predict the try-on mask of a photo with the SegFormer parser" },
};

int
drape_cli_fail (const char *format,
                ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("drape-cli: %s\n", message);
  return 1;
}

int
drape_cli_fail_error (const GError *error)
{
  return drape_cli_fail ("%s", error->message);
}

int
drape_cli_print_json (JsonBuilder *b)
{
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *text = NULL;

  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  text = json_generator_to_data (gen, NULL);
  printf ("%s\n", text);
  return 0;
}

gboolean
drape_cli_parse_size (const char *text,
                      guint32    *width,
                      guint32    *height)
{
  g_auto(GStrv) parts = g_strsplit (text, "x", 2);
  guint64 w, h;

  if (g_strv_length (parts) != 2 ||
      !g_ascii_string_to_unsigned (parts[0], 10, 1, 65536, &w, NULL) ||
      !g_ascii_string_to_unsigned (parts[1], 10, 1, 65536, &h, NULL))
    return FALSE;
  *width = w;
  *height = h;
  return TRUE;
}

gboolean
drape_cli_parse_precision (const char  *text,
                           DrapeDevice *device,
                           DrapeDType  *dtype)
{
  gboolean has_f16 = drape_device_get_caps (device)->has_f16;

  if (text == NULL)
    {
      *dtype = has_f16 && !drape_device_get_info (device)->is_software ? DRAPE_DTYPE_F16 : DRAPE_DTYPE_F32;
      return TRUE;
    }
  if (g_strcmp0 (text, "f32") == 0)
    *dtype = DRAPE_DTYPE_F32;
  else if (g_strcmp0 (text, "f16") == 0 && has_f16)
    *dtype = DRAPE_DTYPE_F16;
  else
    return FALSE;
  return TRUE;
}

char *
drape_cli_describe_tensor_cores (const DrapeDeviceCaps *caps)
{
  if (caps->coopmat == DRAPE_COOPMAT_NONE)
    return NULL;
  return g_strdup_printf ("%s cooperative matrix, %ux%ux%u in subgroups of %u%s",
                          caps->coopmat == DRAPE_COOPMAT_NV ? "NV" : "KHR", caps->coopmat_m,
                          caps->coopmat_n, caps->coopmat_k, caps->coopmat_subgroup_size,
                          caps->coopmat2 ? ", scores in registers (cooperative matrix 2)" : "");
}

char *
drape_cli_model_dir (const char *id,
                     GError    **error)
{
  g_autoptr(DrapeCatalog) catalog = drape_catalog_load_default (error);
  g_autoptr(DrapeModelStore) store = NULL;

  if (catalog == NULL)
    return NULL;
  store = drape_model_store_new (catalog, NULL);
  return drape_model_store_require (store, id, NULL, error);
}

static void
usage (FILE *out)
{
  fprintf (out, "Usage: drape-cli COMMAND [OPTIONS]\n\nCommands:\n");
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf (out, "\nRun 'drape-cli COMMAND --help' for a command's options.\n");
}

int
main (int    argc,
      char **argv)
{
  /* Before any command starts a device. */
  drape_device_prefer_wide_cpu_vectors ();
  setlocale (LC_ALL, "");
  g_set_prgname ("drape-cli");

  if (argc < 2 || strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0)
    {
      usage (argc < 2 ? stderr : stdout);
      return argc < 2 ? 2 : 0;
    }
  if (strcmp (argv[1], "--version") == 0)
    {
      printf ("drape-cli %s\n", PACKAGE_VERSION);
      return 0;
    }
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (argv[1], commands[i].name) == 0)
      return commands[i].run (argc - 1, argv + 1);
  g_printerr ("drape-cli: unknown command '%s'\n", argv[1]);
  usage (stderr);
  return 2;
}
