/* cli-eval.c: drape-cli eval unet|vae|segformer: reference runners
 *
 * They read cases in the golden files' format (NCHW f32 safetensors) and
 * write our outputs in the same format, so anyone can compare Drape with
 * diffusers on their own cases.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include "cli.h"
#include "safetensors.h"
#include "segformer.h"
#include "unet.h"
#include "vae.h"

/* What every eval command starts from: its options, the device, the
 * cases file and the writer of its outputs. */
typedef struct {
  char *model;
  char *cases_path;
  char *out;
  char *precision;
  char *device_name;
  DrapeDevice *device;
  DrapeDType dtype;
  DrapeSafetensors *cases;
  DrapeSafetensorsWriter *writer;
} Eval;

static void
eval_clear (Eval *o)
{
  g_free (o->model);
  g_free (o->cases_path);
  g_free (o->out);
  g_free (o->precision);
  g_free (o->device_name);
  g_clear_pointer (&o->cases, drape_safetensors_free);
  g_clear_pointer (&o->writer, drape_safetensors_writer_free);
  g_clear_pointer (&o->device, drape_device_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Eval, eval_clear)

/* Parses the options, makes the device and opens the cases. */
static gboolean
eval_begin (int          *argc,
            char       ***argv,
            const char   *what,
            Eval         *o,
            GError      **error)
{
  GOptionEntry entries[] = {
    { "model", 0, 0, G_OPTION_ARG_FILENAME, &o->model, "Model folder (diffusers or transformers layout)", "DIR" },
    { "cases", 0, 0, G_OPTION_ARG_FILENAME, &o->cases_path, "Input cases (safetensors)", "FILE" },
    { "out", 0, 0, G_OPTION_ARG_FILENAME, &o->out, "Where to write the outputs (safetensors)", "FILE" },
    { "precision", 0, 0, G_OPTION_ARG_STRING, &o->precision, "f16 or f32 (f32)", "P" },
    { "device", 0, 0, G_OPTION_ARG_STRING, &o->device_name, "Vulkan device (index or name)", "DEV" },
    { NULL }
  };
  g_autofree char *summary = g_strdup_printf ("- run the %s on reference cases", what);
  g_autoptr(GOptionContext) context = g_option_context_new (summary);

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, argc, argv, error))
    return FALSE;
  if (o->model == NULL || o->cases_path == NULL || o->out == NULL)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "eval needs --model, --cases and --out");
      return FALSE;
    }
  o->device = drape_device_new (o->device_name, error);
  if (o->device == NULL)
    return FALSE;
  if (!drape_cli_parse_precision (o->precision ? o->precision : "f32", o->device, &o->dtype))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--precision %s: expected f16 or f32", o->precision);
      return FALSE;
    }
  o->cases = drape_safetensors_open (o->cases_path, error);
  o->writer = drape_safetensors_writer_new ();
  return o->cases != NULL;
}

/* A case tensor as an NHWC f32 device tensor; `name` must be NCHW. */
static DrapeTensor *
load_nchw (DrapeDevice      *device,
           DrapeSafetensors *st,
           const char       *name,
           GError          **error)
{
  const DrapeStTensor *t = drape_safetensors_lookup (st, name);
  g_autofree float *nchw = NULL;
  g_autofree float *nhwc = NULL;
  DrapeTensor *tensor;

  if (t == NULL || t->n_dims != 4 || !drape_st_dtype_is_float (t->dtype))
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT,
                   "%s: '%s' must be a 4-D float tensor (N, C, H, W)",
                   drape_safetensors_get_path (st), name);
      return NULL;
    }
  nchw = g_new (float, t->numel);
  nhwc = g_new (float, t->numel);
  drape_st_tensor_read_f32 (t, 0, t->numel, nchw);
  drape_nchw_to_nhwc (nchw, nhwc, t->shape[0], t->shape[1], t->shape[2], t->shape[3]);
  tensor = drape_tensor_new (device, DRAPE_DTYPE_F32, t->shape[0], t->shape[2], t->shape[3],
                             t->shape[1], error);
  if (tensor != NULL && !drape_tensor_upload (tensor, nhwc, t->numel, error))
    g_clear_pointer (&tensor, drape_tensor_free);
  return tensor;
}

/* Adds an NHWC tensor's values to the output as NCHW, optionally a
 * channel range [c0, c0 + nc) with values clamped to [lo, hi]. */
static gboolean
add_output (DrapeSafetensorsWriter *writer,
            const char             *name,
            const DrapeTensor      *tensor,
            guint32                 c0,
            guint32                 nc,
            float                   lo,
            float                   hi,
            GError                **error)
{
  guint64 n = drape_tensor_numel (tensor);
  guint64 positions = n / tensor->c;
  g_autofree float *nhwc = g_new (float, n);
  g_autofree float *part = g_new (float, positions * nc);
  g_autofree float *nchw = g_new (float, positions * nc);
  guint64 shape[] = { tensor->n, nc, tensor->h, tensor->w };

  if (!drape_tensor_download (tensor, nhwc, n, error))
    return FALSE;
  for (guint64 p = 0; p < positions; p++)
    for (guint32 c = 0; c < nc; c++)
      part[p * nc + c] = CLAMP (nhwc[p * tensor->c + c0 + c], lo, hi);
  drape_nhwc_to_nchw (part, nchw, tensor->n, nc, tensor->h, tensor->w);
  drape_safetensors_writer_add (writer, name, 4, shape, nchw);
  return TRUE;
}

/* Runs `run` for every case named "case<N>.<input>" in the file. */
static GPtrArray *
case_prefixes (DrapeSafetensors *st,
               const char       *input)
{
  GPtrArray *prefixes = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *suffix = g_strdup_printf (".%s", input);

  for (guint i = 0; i < drape_safetensors_get_n_tensors (st); i++)
    {
      const char *name = drape_safetensors_get_nth (st, i)->name;
      if (g_str_has_suffix (name, suffix))
        g_ptr_array_add (prefixes, g_strndup (name, strlen (name) - strlen (suffix)));
    }
  return prefixes;
}

static int
eval_unet (int    argc,
           char **argv)
{
  g_auto(Eval) o = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeUNet) unet = NULL;
  g_autoptr(GPtrArray) prefixes = NULL;

  if (!eval_begin (&argc, &argv, "UNet", &o, &error))
    return drape_cli_fail_error (error);
  unet = drape_unet_new (o.device, o.model, NULL, o.dtype, &error);
  if (unet == NULL)
    return drape_cli_fail_error (error);

  prefixes = case_prefixes (o.cases, "sample");
  if (prefixes->len == 0)
    return drape_cli_fail ("%s: no caseN.sample tensors", o.cases_path);
  for (guint i = 0; i < prefixes->len; i++)
    {
      const char *prefix = g_ptr_array_index (prefixes, i);
      g_autofree char *sample_name = g_strdup_printf ("%s.sample", prefix);
      g_autofree char *t_name = g_strdup_printf ("%s.timestep", prefix);
      g_autofree char *out_name = g_strdup_printf ("%s.noise_pred", prefix);
      g_autoptr(DrapeTensor) sample = load_nchw (o.device, o.cases, sample_name, &error);
      g_autoptr(DrapeTensor) timestep = NULL;
      g_autoptr(DrapeGraph) graph = NULL;
      g_autofree float *t = NULL;
      g_autofree float *ts = NULL;
      DrapeTensor *out;

      if (sample == NULL)
        return drape_cli_fail_error (error);
      t = drape_safetensors_read_f32 (o.cases, t_name, 0, NULL, &error);
      if (t == NULL)
        return drape_cli_fail_error (error);
      ts = g_new (float, sample->n);
      for (guint b = 0; b < sample->n; b++)
        ts[b] = t[0];
      timestep = drape_tensor_new (o.device, DRAPE_DTYPE_F32, sample->n, 1, 1, 1, &error);
      if (timestep == NULL || !drape_tensor_upload (timestep, ts, sample->n, &error))
        return drape_cli_fail_error (error);
      graph = drape_graph_new (o.device, prefix);
      out = drape_unet_forward (unet, graph, sample, timestep, NULL);
      if (!drape_graph_run (graph, &error) ||
          !add_output (o.writer, out_name, out, 0, out->c, -G_MAXFLOAT, G_MAXFLOAT, &error))
        return drape_cli_fail_error (error);
    }
  if (!drape_safetensors_writer_save (o.writer, o.out, &error))
    return drape_cli_fail_error (error);
  return 0;
}

static int
eval_vae (int    argc,
          char **argv)
{
  g_auto(Eval) o = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeVae) vae = NULL;
  g_autoptr(GPtrArray) images = NULL;
  g_autoptr(GPtrArray) latents = NULL;

  if (!eval_begin (&argc, &argv, "VAE", &o, &error))
    return drape_cli_fail_error (error);
  vae = drape_vae_new (o.device, o.model, o.dtype, &error);
  if (vae == NULL)
    return drape_cli_fail_error (error);

  images = case_prefixes (o.cases, "image");
  latents = case_prefixes (o.cases, "decoder_input_latent");
  if (images->len + latents->len == 0)
    return drape_cli_fail ("%s: no caseN.image or caseN.decoder_input_latent tensors", o.cases_path);
  for (guint i = 0; i < images->len; i++)
    {
      const char *prefix = g_ptr_array_index (images, i);
      g_autofree char *in_name = g_strdup_printf ("%s.image", prefix);
      g_autofree char *mean_name = g_strdup_printf ("%s.posterior_mean", prefix);
      g_autofree char *logvar_name = g_strdup_printf ("%s.posterior_logvar", prefix);
      g_autoptr(DrapeTensor) image = load_nchw (o.device, o.cases, in_name, &error);
      g_autoptr(DrapeGraph) graph = NULL;
      DrapeTensor *moments;
      guint32 lc;

      if (image == NULL)
        return drape_cli_fail_error (error);
      graph = drape_graph_new (o.device, prefix);
      moments = drape_vae_encode (vae, graph, image, NULL);
      lc = drape_vae_get_config (vae)->latent_channels;
      /* diffusers clamps the log-variance to [-30, 20]. */
      if (!drape_graph_run (graph, &error) ||
          !add_output (o.writer, mean_name, moments, 0, lc, -G_MAXFLOAT, G_MAXFLOAT, &error) ||
          !add_output (o.writer, logvar_name, moments, lc, lc, -30.0f, 20.0f, &error))
        return drape_cli_fail_error (error);
    }
  for (guint i = 0; i < latents->len; i++)
    {
      const char *prefix = g_ptr_array_index (latents, i);
      g_autofree char *in_name = g_strdup_printf ("%s.decoder_input_latent", prefix);
      g_autofree char *out_name = g_strdup_printf ("%s.decoded", prefix);
      g_autoptr(DrapeTensor) latent = load_nchw (o.device, o.cases, in_name, &error);
      g_autoptr(DrapeGraph) graph = NULL;
      DrapeTensor *decoded;

      if (latent == NULL)
        return drape_cli_fail_error (error);
      graph = drape_graph_new (o.device, prefix);
      decoded = drape_vae_decode (vae, graph, latent, NULL);
      if (!drape_graph_run (graph, &error) ||
          !add_output (o.writer, out_name, decoded, 0, decoded->c, -G_MAXFLOAT, G_MAXFLOAT, &error))
        return drape_cli_fail_error (error);
    }
  if (!drape_safetensors_writer_save (o.writer, o.out, &error))
    return drape_cli_fail_error (error);
  return 0;
}

/* For every caseN.pixel_values (normalised, NCHW): caseN.logits and the
 * encoder's stages caseN.encoder_hidden_states.<i>, transformers' names,
 * so a mismatch can be traced to its stage. */
static int
eval_segformer (int    argc,
                char **argv)
{
  g_auto(Eval) o = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeSegformer) model = NULL;
  g_autoptr(GPtrArray) prefixes = NULL;

  if (!eval_begin (&argc, &argv, "SegFormer", &o, &error))
    return drape_cli_fail_error (error);
  model = drape_segformer_new (o.device, o.model, o.dtype, &error);
  if (model == NULL)
    return drape_cli_fail_error (error);

  prefixes = case_prefixes (o.cases, "pixel_values");
  if (prefixes->len == 0)
    return drape_cli_fail ("%s: no caseN.pixel_values tensors", o.cases_path);
  for (guint i = 0; i < prefixes->len; i++)
    {
      const char *prefix = g_ptr_array_index (prefixes, i);
      g_autofree char *in_name = g_strdup_printf ("%s.pixel_values", prefix);
      g_autofree char *out_name = g_strdup_printf ("%s.logits", prefix);
      g_autoptr(DrapeTensor) pixels = load_nchw (o.device, o.cases, in_name, &error);
      g_autoptr(DrapeGraph) graph = NULL;
      DrapeTensor *hidden[DRAPE_SEGFORMER_MAX_STAGES];
      DrapeTensor *logits;

      if (pixels == NULL)
        return drape_cli_fail_error (error);
      graph = drape_graph_new (o.device, prefix);
      logits = drape_segformer_forward (model, graph, pixels, hidden);
      if (!drape_graph_run (graph, &error) ||
          !add_output (o.writer, out_name, logits, 0, logits->c, -G_MAXFLOAT, G_MAXFLOAT, &error))
        return drape_cli_fail_error (error);
      for (guint s = 0; s < drape_segformer_get_config (model)->n_stages; s++)
        {
          g_autofree char *name = g_strdup_printf ("%s.encoder_hidden_states.%u", prefix, s);
          if (!add_output (o.writer, name, hidden[s], 0, hidden[s]->c, -G_MAXFLOAT, G_MAXFLOAT, &error))
            return drape_cli_fail_error (error);
        }
    }
  if (!drape_safetensors_writer_save (o.writer, o.out, &error))
    return drape_cli_fail_error (error);
  return 0;
}

int
drape_cli_eval (int    argc,
                char **argv)
{
  if (argc < 2)
    return drape_cli_fail ("usage: drape-cli eval unet|vae|segformer --model DIR --cases FILE --out FILE");
  if (strcmp (argv[1], "unet") == 0)
    return eval_unet (argc - 1, argv + 1);
  if (strcmp (argv[1], "vae") == 0)
    return eval_vae (argc - 1, argv + 1);
  if (strcmp (argv[1], "segformer") == 0)
    return eval_segformer (argc - 1, argv + 1);
  return drape_cli_fail ("eval %s: expected unet, vae or segformer", argv[1]);
}
