/* vae.c: AutoencoderKL's encoder and decoder as graphs of ops
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include "error.h"
#include "json-config.h"
#include "layers.h"
#include "vae.h"

/* Every norm in the SD VAE is built with eps 1e-6. */
#define VAE_EPS 1e-6f

struct _DrapeVae
{
  DrapeDevice *device;
  DrapeVaeConfig config;
  DrapeDType dtype;
  DrapeWeights *weights;
};

void
drape_vae_config_sd (DrapeVaeConfig *config)
{
  static const guint32 channels[] = { 128, 256, 512, 512 };

  memset (config, 0, sizeof *config);
  config->in_channels = 3;
  config->out_channels = 3;
  config->latent_channels = 4;
  config->n_blocks = 4;
  memcpy (config->block_out_channels, channels, sizeof channels);
  config->layers_per_block = 2;
  config->norm_num_groups = 32;
  config->scaling_factor = 0.18215f;
  config->use_quant_conv = TRUE;
  config->use_post_quant_conv = TRUE;
}

gboolean
drape_vae_config_load (DrapeVaeConfig *config,
                       const char     *path,
                       GError        **error)
{
  g_autoptr(DrapeJson) json = drape_json_open (path, error);
  g_auto(GStrv) down = NULL;
  g_auto(GStrv) up = NULL;
  const char *cls;

  if (json == NULL)
    return FALSE;
  memset (config, 0, sizeof *config);
  cls = drape_json_string (json, "_class_name", NULL);
  if (g_strcmp0 (cls, "AutoencoderKL") != 0)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED,
                   "%s: a %s, not an AutoencoderKL", path, cls ? cls : "model of unknown class");
      return FALSE;
    }
  config->in_channels = drape_json_uint (json, "in_channels", 3);
  config->out_channels = drape_json_uint (json, "out_channels", 3);
  config->latent_channels = drape_json_uint (json, "latent_channels", 4);
  config->n_blocks = drape_json_uint_array (json, "block_out_channels", config->block_out_channels,
                                            DRAPE_VAE_MAX_BLOCKS);
  config->layers_per_block = drape_json_uint (json, "layers_per_block", 1);
  config->norm_num_groups = drape_json_uint (json, "norm_num_groups", 32);
  config->scaling_factor = drape_json_double (json, "scaling_factor", 0.18215);
  config->use_quant_conv = drape_json_bool (json, "use_quant_conv", TRUE);
  config->use_post_quant_conv = drape_json_bool (json, "use_post_quant_conv", TRUE);
  down = drape_json_string_array (json, "down_block_types");
  up = drape_json_string_array (json, "up_block_types");
  if (!drape_json_check (json, error))
    return FALSE;

  if (config->n_blocks == 0 || down == NULL || up == NULL ||
      g_strv_length (down) != config->n_blocks || g_strv_length (up) != config->n_blocks)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED,
                   "%s: block_out_channels, down_block_types and up_block_types must have "
                   "the same number of entries", path);
      return FALSE;
    }
  for (guint i = 0; i < config->n_blocks; i++)
    {
      if (g_strcmp0 (down[i], "DownEncoderBlock2D") != 0 || g_strcmp0 (up[i], "UpDecoderBlock2D") != 0)
        {
          g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED,
                       "%s: block types %s / %s are not supported", path, down[i], up[i]);
          return FALSE;
        }
      if (config->block_out_channels[i] % config->norm_num_groups != 0)
        {
          g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED,
                       "%s: %u channels do not divide into %u groups", path,
                       config->block_out_channels[i], config->norm_num_groups);
          return FALSE;
        }
    }
  if (!drape_json_is_null (json, "latents_mean") || !drape_json_is_null (json, "shift_factor"))
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED,
                   "%s: latent shifts are not supported (not an SD1.x VAE)", path);
      return FALSE;
    }
  return TRUE;
}

/* UNetMidBlock2D: resnet, attention (one head over all channels, its own
 * GroupNorm, biases on q/k/v, residual), resnet. */
static DrapeTensor *
mid_block (DrapeLayers       *l,
           const DrapeTensor *x,
           const char        *prefix,
           guint32            c)
{
  g_autofree char *r0 = g_strdup_printf ("%s.resnets.0", prefix);
  g_autofree char *r1 = g_strdup_printf ("%s.resnets.1", prefix);
  g_autofree char *attn = g_strdup_printf ("%s.attentions.0", prefix);
  g_autofree char *norm = g_strdup_printf ("%s.attentions.0.group_norm", prefix);
  DrapeTensor *h, *n;

  h = drape_layer_resnet (l, x, r0, c, c, VAE_EPS, NULL, 0);
  n = drape_layer_group_norm (l, h, norm, c, VAE_EPS, FALSE);
  drape_layer_advance (&h, drape_layer_attention (l, n, attn, c, 1, TRUE, h));
  drape_tensor_release (n);
  drape_layer_advance_resnet (l, &h, r1, c, c, VAE_EPS, NULL, 0);
  return h;
}

static DrapeTensor *
encode (DrapeVae          *vae,
        DrapeLayers       *l,
        const DrapeTensor *image)
{
  const DrapeVaeConfig *config = &vae->config;
  guint32 nb = config->n_blocks, ch = config->block_out_channels[0];
  DrapeTensor *h, *x = NULL;

  if (l->graph != NULL && image->dtype != vae->dtype)
    x = drape_op_cast (l->graph, image, vae->dtype);
  h = drape_layer_conv (l, x ? x : image, "encoder.conv_in", config->in_channels, ch, 3, 1, NULL);
  drape_tensor_release (x);
  drape_layer_capture (l, "encoder.conv_in", h);

  for (guint i = 0; i < nb; i++)
    {
      guint32 cout = config->block_out_channels[i];
      g_autofree char *bn = g_strdup_printf ("encoder.down_blocks.%u", i);

      for (guint j = 0; j < config->layers_per_block; j++)
        {
          g_autofree char *rn = g_strdup_printf ("%s.resnets.%u", bn, j);
          drape_layer_advance_resnet (l, &h, rn, ch, cout, VAE_EPS, NULL, 0);
          ch = cout;
        }
      if (i + 1 < nb)
        {
          /* Downsample2D with padding 0 pads right and bottom by one. */
          g_autofree char *weight = g_strdup_printf ("%s.downsamplers.0.conv.weight", bn);
          g_autofree char *bias = g_strdup_printf ("%s.downsamplers.0.conv.bias", bn);
          const DrapeTensor *w = drape_weights_conv (l->weights, weight, ch, ch, 3, 3);
          DrapeConvParams p = { .stride = 2, .pad_bottom = 1, .pad_right = 1 };

          p.bias = drape_weights_vector (l->weights, bias, ch);
          if (l->graph != NULL)
            drape_layer_advance (&h, drape_op_conv2d (l->graph, h, w, &p));
        }
      drape_layer_capture (l, bn, h);
    }

  drape_layer_advance (&h, mid_block (l, h, "encoder.mid_block", ch));
  drape_layer_capture (l, "encoder.mid_block", h);
  drape_layer_advance (&h, drape_layer_group_norm (l, h, "encoder.conv_norm_out", ch, VAE_EPS, TRUE));
  drape_layer_advance (&h, drape_layer_conv (l, h, "encoder.conv_out", ch, 2 * config->latent_channels,
                                             3, 1, NULL));
  drape_layer_capture (l, "encoder.conv_out", h);
  if (config->use_quant_conv)
    drape_layer_advance (&h, drape_layer_conv (l, h, "quant_conv", 2 * config->latent_channels,
                                               2 * config->latent_channels, 1, 1, NULL));
  drape_layer_capture (l, "moments", h);
  return h;
}

static DrapeTensor *
decode (DrapeVae          *vae,
        DrapeLayers       *l,
        const DrapeTensor *latent)
{
  const DrapeVaeConfig *config = &vae->config;
  guint32 nb = config->n_blocks, ch = config->block_out_channels[nb - 1];
  guint32 lc = config->latent_channels;
  /* Bands of about a thirty-second of the output's rows (an even number),
   * for one image (drape_layer_upsample_resnet); 0: no bands. */
  guint32 band = latent && latent->n == 1 ? 2 * (((latent->h << (nb - 1)) + 63) / 64) : 0;
  /* The block whose upsampler goes with the next block's first resnet. */
  g_autofree char *pending = NULL;
  DrapeTensor *h = NULL, *x = NULL;

  if (l->graph != NULL && latent->dtype != vae->dtype)
    x = drape_op_cast (l->graph, latent, vae->dtype);
  if (config->use_post_quant_conv)
    {
      h = drape_layer_conv (l, x ? x : latent, "post_quant_conv", lc, lc, 1, 1, NULL);
      drape_tensor_release (x);
      x = h;
      drape_layer_capture (l, "decoder.post_quant_conv", x);
    }
  h = drape_layer_conv (l, x ? x : latent, "decoder.conv_in", lc, ch, 3, 1, NULL);
  drape_tensor_release (x);
  drape_layer_capture (l, "decoder.conv_in", h);

  drape_layer_advance (&h, mid_block (l, h, "decoder.mid_block", ch));
  drape_layer_capture (l, "decoder.mid_block", h);

  for (guint i = 0; i < nb; i++)
    {
      guint32 cout = config->block_out_channels[nb - 1 - i];
      g_autofree char *bn = g_strdup_printf ("decoder.up_blocks.%u", i);

      for (guint j = 0; j <= config->layers_per_block; j++)
        {
          g_autofree char *rn = g_strdup_printf ("%s.resnets.%u", bn, j);

          if (j == 0 && pending != NULL)
            {
              g_autofree char *un = g_strdup_printf ("%s.upsamplers.0.conv", pending);

              h = drape_layer_upsample_resnet (l, h, un, pending, rn, ch, cout, VAE_EPS, band);
            }
          else
            drape_layer_advance_resnet (l, &h, rn, ch, cout, VAE_EPS, NULL, 0);
          ch = cout;
        }
      g_clear_pointer (&pending, g_free);
      /* The last upsampler makes the decoder's largest activation: it
       * goes with the next resnet, in bands (drape_layer_upsample_resnet),
       * which also captures it for this block. */
      if (i + 2 == nb && band > 0)
        {
          pending = g_steal_pointer (&bn);
          continue;
        }
      if (i + 1 < nb)
        {
          g_autofree char *un = g_strdup_printf ("%s.upsamplers.0.conv", bn);

          drape_layer_advance (&h, drape_layer_upsample_conv (l, h, un, ch, h ? 2 * h->h : 0,
                                                              h ? 2 * h->w : 0));
        }
      drape_layer_capture (l, bn, h);
    }

  drape_layer_advance (&h, drape_layer_group_norm (l, h, "decoder.conv_norm_out", ch, VAE_EPS, TRUE));
  drape_layer_advance (&h, drape_layer_conv (l, h, "decoder.conv_out", ch, config->out_channels, 3, 1, NULL));
  return h;
}

static DrapeVae *
vae_new (DrapeDevice          *device,
         const DrapeVaeConfig *config,
         DrapeDType            dtype,
         DrapeWeights         *weights,
         GError              **error)
{
  g_autoptr(DrapeVae) vae = g_new0 (DrapeVae, 1);
  DrapeLayers l = { .weights = weights, .norm_groups = config->norm_num_groups };

  vae->device = device;
  vae->config = *config;
  vae->dtype = dtype;
  vae->weights = weights;
  encode (vae, &l, NULL);
  decode (vae, &l, NULL);
  if (!drape_weights_check (weights, error))
    return NULL;
  return g_steal_pointer (&vae);
}

DrapeVae *
drape_vae_new (DrapeDevice *device,
               const char  *model_dir,
               DrapeDType   dtype,
               GError     **error)
{
  g_autofree char *config_path = g_build_filename (model_dir, "config.json", NULL);
  g_autofree char *weights_path = g_build_filename (model_dir, "diffusion_pytorch_model.safetensors", NULL);
  DrapeWeights *weights;
  DrapeVaeConfig config;

  if (!drape_vae_config_load (&config, config_path, error))
    return NULL;
  weights = drape_weights_new (device, dtype);
  if (!drape_weights_add_file (weights, weights_path, error))
    {
      drape_weights_free (weights);
      return NULL;
    }
  return vae_new (device, &config, dtype, weights, error);
}

DrapeVae *
drape_vae_new_random (DrapeDevice          *device,
                      const DrapeVaeConfig *config,
                      DrapeDType            dtype,
                      gboolean              values,
                      guint64               seed,
                      GError              **error)
{
  return vae_new (device, config, dtype,
                  values ? drape_weights_new_random (device, dtype, seed)
                         : drape_weights_new_unfilled (device, dtype),
                  error);
}

void
drape_vae_free (DrapeVae *vae)
{
  if (vae == NULL)
    return;
  drape_weights_free (vae->weights);
  g_free (vae);
}

const DrapeVaeConfig *
drape_vae_get_config (DrapeVae *vae)
{
  return &vae->config;
}

DrapeDType
drape_vae_get_dtype (DrapeVae *vae)
{
  return vae->dtype;
}

guint64
drape_vae_get_weight_bytes (DrapeVae *vae)
{
  return drape_weights_get_bytes (vae->weights);
}

DrapeTensor *
drape_vae_encode (DrapeVae          *vae,
                  DrapeGraph        *graph,
                  const DrapeTensor *image,
                  DrapeCapture      *capture)
{
  DrapeLayers l = {
    .weights = vae->weights, .graph = graph, .capture = capture,
    .norm_groups = vae->config.norm_num_groups, .conv_over_input = TRUE,
  };
  guint32 factor = 1u << (vae->config.n_blocks - 1);

  if (!drape_graph_check_tensor (graph, "vae encode", "image", image))
    return drape_graph_placeholder (graph, vae->dtype, 1, 1, 1, 2 * vae->config.latent_channels);
  if (image->c != vae->config.in_channels || image->h % factor != 0 || image->w % factor != 0)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "vae encode: the image is %ux%u with %u channels; it needs %u channels "
                        "and sides that are multiples of %u", image->w, image->h, image->c,
                        vae->config.in_channels, factor);
      return drape_graph_placeholder (graph, vae->dtype, image->n, image->h / factor,
                                      image->w / factor, 2 * vae->config.latent_channels);
    }
  return encode (vae, &l, image);
}

DrapeTensor *
drape_vae_decode (DrapeVae          *vae,
                  DrapeGraph        *graph,
                  const DrapeTensor *latent,
                  DrapeCapture      *capture)
{
  DrapeLayers l = {
    .weights = vae->weights, .graph = graph, .capture = capture,
    .norm_groups = vae->config.norm_num_groups, .conv_over_input = TRUE,
  };

  if (!drape_graph_check_tensor (graph, "vae decode", "latent", latent))
    return drape_graph_placeholder (graph, vae->dtype, 1, 1, 1, vae->config.out_channels);
  if (latent->c != vae->config.latent_channels)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "vae decode: the latent has %u channels; this VAE takes %u",
                        latent->c, vae->config.latent_channels);
      return drape_graph_placeholder (graph, vae->dtype, latent->n, latent->h, latent->w,
                                      vae->config.out_channels);
    }
  return decode (vae, &l, latent);
}
