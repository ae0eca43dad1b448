/* cli-mask.c: drape-cli mask: the try-on mask predicted for a photo
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <stdio.h>

#include "cli.h"
#include "device.h"
#include "image.h"
#include "parser.h"

int
drape_cli_mask (int    argc,
                char **argv)
{
  g_autofree char *person = NULL, *type_name = NULL, *out = NULL, *model = NULL;
  g_autofree char *parse_out = NULL, *precision = NULL, *device_name = NULL, *note = NULL;
  GOptionEntry entries[] = {
    { "person", 0, 0, G_OPTION_ARG_FILENAME, &person, "Photo of the person", "PHOTO" },
    { "type", 0, 0, G_OPTION_ARG_STRING, &type_name, "Garment type: upper, lower or overall", "TYPE" },
    { "out", 0, 0, G_OPTION_ARG_FILENAME, &out, "Where to write the mask (PNG, white = repaint)", "MASK.png" },
    { "model", 0, 0, G_OPTION_ARG_FILENAME, &model, "SegFormer model folder (default: segformer-b2-clothes from drape-cli models fetch)", "DIR" },
    { "parse-out", 0, 0, G_OPTION_ARG_FILENAME, &parse_out, "Also write the parse in colour (legend in README.md)", "PARSE.png" },
    { "precision", 0, 0, G_OPTION_ARG_STRING, &precision, "f16 or f32 (f16 on GPUs, f32 on the CPU)", "P" },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device_name, "Vulkan device (index or name)", "DEV" },
    { NULL },
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- predict the try-on mask of a photo");
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeDevice) device = NULL;
  g_autoptr(DrapeParser) parser = NULL;
  g_autoptr(DrapeImage) photo = NULL;
  g_autoptr(DrapeImage) labels = NULL;
  g_autoptr(DrapeImage) mask = NULL;
  DrapeGarmentType type;
  DrapeDType dtype;
  gint64 t0, t1, t2, t3;
  guint64 covered = 0;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (context,
    "Runs the SegFormer human parser on the photo and keeps the garment's region:\n"
    "upper: upper clothes, dress and arms; lower: pants, skirt and legs;\n"
    "overall: both.  Face, hair, hat, sunglasses, shoes, bag and hands are kept.");
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return drape_cli_fail_error (error);
  if (person == NULL || type_name == NULL || out == NULL)
    return drape_cli_fail ("mask needs --person, --type and --out");
  if (!drape_garment_type_from_string (type_name, &type))
    return drape_cli_fail ("unknown garment type '%s'; use upper, lower or overall", type_name);
  if (model == NULL && (model = drape_cli_model_dir ("segformer-b2-clothes", &error)) == NULL)
    return drape_cli_fail_error (error);

  photo = drape_image_load (person, 3, &note, &error);
  if (photo == NULL)
    return drape_cli_fail_error (error);
  if (note != NULL)
    g_printerr ("drape-cli: %s\n", note);
  device = drape_device_new (device_name, &error);
  if (device == NULL)
    return drape_cli_fail_error (error);
  if (!drape_cli_parse_precision (precision, device, &dtype))
    return drape_cli_fail ("--precision %s: expected f16 or f32 (f16 needs 16-bit storage)", precision);

  t0 = g_get_monotonic_time ();
  parser = drape_parser_new (device, model, dtype, &error);
  if (parser == NULL)
    return drape_cli_fail_error (error);
  t1 = g_get_monotonic_time ();
  labels = drape_parser_parse (parser, photo, &error);
  if (labels == NULL)
    return drape_cli_fail_error (error);
  t2 = g_get_monotonic_time ();
  mask = drape_mask_build (labels, type, &error);
  if (mask == NULL)
    return drape_cli_fail_error (error);
  t3 = g_get_monotonic_time ();

  if (!drape_image_save_png (mask, out, NULL, &error))
    return drape_cli_fail_error (error);
  if (parse_out != NULL)
    {
      g_autoptr(DrapeImage) colours = drape_label_map_to_rgb (labels);
      if (!drape_image_save_png (colours, parse_out, NULL, &error))
        return drape_cli_fail_error (error);
    }

  for (gsize i = 0; i < (gsize) mask->stride * mask->height; i++)
    covered += mask->pixels[i] != 0;
  printf ("%ux%u photo: model loaded in %.2f s, parsed in %.2f s on %s (%s), mask built "
          "in %.2f s; the %s mask covers %.1f%% of it\n",
          photo->width, photo->height, (t1 - t0) / 1e6, (t2 - t1) / 1e6,
          drape_device_get_info (device)->name, drape_dtype_name (dtype), (t3 - t2) / 1e6, type_name,
          100.0 * covered / ((double) photo->width * photo->height));
  if (covered == 0)
    g_printerr ("drape-cli: the mask is empty: no %s garment was found; paint it by hand\n", type_name);
  return 0;
}
