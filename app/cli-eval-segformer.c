/* cli-eval-segformer.c: drape-cli eval segformer
 *
 * For every <case>.pixel_values (NCHW f32, normalised) in the cases file,
 * writes <case>.logits and <case>.encoder_hidden_states.<i> (NCHW f32),
 * the names of transformers' outputs, so a reference can be compared
 * stage by stage.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "device.h"
#include "safetensors.h"
#include "segformer.h"

static gboolean
download_into (DrapeSafetensorsWriter *writer,
               const char             *name,
               const DrapeTensor      *t,
               GError                **error)
{
  guint64 shape[] = { t->n, t->c, t->h, t->w };
  g_autofree float *nhwc = g_new (float, drape_tensor_numel (t));
  g_autofree float *nchw = g_new (float, drape_tensor_numel (t));

  if (!drape_tensor_download (t, nhwc, drape_tensor_numel (t), error))
    return FALSE;
  drape_nhwc_to_nchw (nhwc, nchw, t->n, t->c, t->h, t->w);
  drape_safetensors_writer_add (writer, name, 4, shape, nchw);
  return TRUE;
}

static gboolean
run_case (DrapeDevice            *device,
          DrapeSegformer         *model,
          DrapeSafetensors       *cases,
          const DrapeStTensor    *input,
          const char             *prefix,
          DrapeSafetensorsWriter *writer,
          GError                **error)
{
  const DrapeSegformerConfig *cfg = drape_segformer_get_config (model);
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, prefix);
  g_autoptr(DrapeTensor) pixels = NULL;
  g_autofree float *nchw = NULL, *nhwc = NULL;
  g_autofree char *logits_name = g_strconcat (prefix, ".logits", NULL);
  DrapeTensor *hidden[DRAPE_SEGFORMER_MAX_STAGES], *logits;
  guint32 n, c, h, w;
  gint64 start;

  if (input->n_dims != 4 || input->shape[1] != cfg->in_channels)
    {
      g_autofree char *shape = drape_st_shape_to_string (input->n_dims, input->shape);
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                   "%s is %s; expected [n, %u, h, w]", input->name, shape, cfg->in_channels);
      return FALSE;
    }
  n = input->shape[0];
  c = input->shape[1];
  h = input->shape[2];
  w = input->shape[3];
  nchw = drape_safetensors_read_f32 (cases, input->name, 4, NULL, error);
  if (nchw == NULL)
    return FALSE;
  nhwc = g_new (float, input->numel);
  drape_nchw_to_nhwc (nchw, nhwc, n, c, h, w);
  pixels = drape_tensor_new (device, drape_segformer_get_dtype (model), n, h, w, c, error);
  if (pixels == NULL || !drape_tensor_upload (pixels, nhwc, input->numel, error))
    return FALSE;

  logits = drape_segformer_forward (model, graph, pixels, hidden);
  if (!drape_graph_compile (graph, error))
    return FALSE;
  start = g_get_monotonic_time ();
  if (!drape_graph_run (graph, error))
    return FALSE;
  printf ("%s: [%u, %u, %u, %u] -> [%u, %u, %u, %u] in %.3f s\n", prefix, n, c, h, w,
          logits->n, logits->c, logits->h, logits->w, (g_get_monotonic_time () - start) / 1e6);

  if (!download_into (writer, logits_name, logits, error))
    return FALSE;
  for (guint i = 0; i < cfg->n_stages; i++)
    {
      g_autofree char *name = g_strdup_printf ("%s.encoder_hidden_states.%u", prefix, i);
      if (!download_into (writer, name, hidden[i], error))
        return FALSE;
    }
  return TRUE;
}

int
drape_cli_eval_segformer (int    argc,
                          char **argv)
{
  g_autofree char *model_dir = NULL, *cases_path = NULL, *out = NULL, *dtype_name = NULL;
  GOptionEntry entries[] = {
    { "model", 0, 0, G_OPTION_ARG_FILENAME, &model_dir, "SegFormer model folder (config.json, model.safetensors)", "DIR" },
    { "cases", 0, 0, G_OPTION_ARG_FILENAME, &cases_path, "safetensors file with <case>.pixel_values (NCHW f32)", "FILE" },
    { "out", 0, 0, G_OPTION_ARG_FILENAME, &out, "Where to write <case>.logits and the encoder stages", "FILE" },
    { "dtype", 0, 0, G_OPTION_ARG_STRING, &dtype_name, "f32 (default) or f16", "DTYPE" },
    { NULL },
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- run SegFormer on given inputs");
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeDevice) device = NULL;
  g_autoptr(DrapeSegformer) model = NULL;
  g_autoptr(DrapeSafetensors) cases = NULL;
  g_autoptr(DrapeSafetensorsWriter) writer = drape_safetensors_writer_new ();
  DrapeDType dtype = DRAPE_DTYPE_F32;
  guint n_cases = 0;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return drape_cli_fail_error (error);
  if (model_dir == NULL || cases_path == NULL || out == NULL)
    return drape_cli_fail ("eval segformer needs --model, --cases and --out");
  if (dtype_name != NULL && !drape_cli_parse_dtype (dtype_name, &dtype))
    return drape_cli_fail ("unknown dtype '%s'; use f32 or f16", dtype_name);

  cases = drape_safetensors_open (cases_path, &error);
  if (cases == NULL)
    return drape_cli_fail_error (error);
  device = drape_device_new (NULL, &error);
  if (device == NULL)
    return drape_cli_fail_error (error);
  model = drape_segformer_new (device, model_dir, dtype, &error);
  if (model == NULL)
    return drape_cli_fail_error (error);

  for (guint i = 0; i < drape_safetensors_get_n_tensors (cases); i++)
    {
      const DrapeStTensor *t = drape_safetensors_get_nth (cases, i);
      g_autofree char *prefix = NULL;

      if (!g_str_has_suffix (t->name, ".pixel_values"))
        continue;
      prefix = g_strndup (t->name, strlen (t->name) - strlen (".pixel_values"));
      if (!run_case (device, model, cases, t, prefix, writer, &error))
        return drape_cli_fail_error (error);
      n_cases++;
    }
  if (n_cases == 0)
    return drape_cli_fail ("%s has no <case>.pixel_values tensor", cases_path);
  if (!drape_safetensors_writer_save (writer, out, &error))
    return drape_cli_fail_error (error);
  return 0;
}
