/* unet.c: UNet2DConditionModel (SD1.5 topology) as a graph of ops
 *
 * Layout NHWC throughout.  Fusions: GroupNorm + SiLU in one op; the
 * resnet's time-embedding projection is the first conv's per-image
 * channel bias; shortcut and residual adds are conv/linear epilogues;
 * to_q/to_k/to_v are one fused projection; GEGLU is one op.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "json-config.h"
#include "layers.h"
#include "unet.h"

/* CatVTON's attention checkpoint: 8 ModuleList entries per attn1 module
 * (attn1, to_q, to_k, to_v, to_out, to_out.0, to_out.1, processor) in
 * unet.named_modules() order: down blocks, up blocks, then the mid block. */
#define ATTN_ENTRIES_PER_MODULE 8

struct _DrapeUNet
{
  DrapeDevice *device;
  DrapeUNetConfig config;
  DrapeDType dtype;
  DrapeWeights *weights;
};

void
drape_unet_config_sd15_inpainting (DrapeUNetConfig *config)
{
  static const guint32 channels[] = { 320, 640, 1280, 1280 };

  memset (config, 0, sizeof *config);
  config->in_channels = 9;
  config->out_channels = 4;
  config->n_blocks = 4;
  for (guint i = 0; i < 4; i++)
    {
      config->block_out_channels[i] = channels[i];
      config->block_has_attention[i] = i < 3;
      config->heads[i] = 8;
    }
  config->layers_per_block = 2;
  config->norm_num_groups = 32;
  config->norm_eps = 1e-5f;
  config->flip_sin_to_cos = TRUE;
  config->freq_shift = 0;
  config->downsample_padding = 1;
}

gboolean
drape_unet_config_load (DrapeUNetConfig *config,
                        const char      *path,
                        GError         **error)
{
  g_autoptr(DrapeJson) json = drape_json_open (path, error);
  g_auto(GStrv) down_types = NULL;
  g_auto(GStrv) up_types = NULL;
  guint32 heads[DRAPE_UNET_MAX_BLOCKS];
  guint n_heads;
  const char *cls, *mid, *heads_key;

  if (json == NULL)
    return FALSE;
  memset (config, 0, sizeof *config);

  cls = drape_json_string (json, "_class_name", NULL);
  if (g_strcmp0 (cls, "UNet2DConditionModel") != 0)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED,
                   "%s: a %s, not a UNet2DConditionModel", path, cls ? cls : "model of unknown class");
      return FALSE;
    }
  config->in_channels = drape_json_uint (json, "in_channels", 4);
  config->out_channels = drape_json_uint (json, "out_channels", 4);
  config->n_blocks = drape_json_uint_array (json, "block_out_channels",
                                            config->block_out_channels, DRAPE_UNET_MAX_BLOCKS);
  config->layers_per_block = drape_json_uint (json, "layers_per_block", 2);
  config->norm_num_groups = drape_json_uint (json, "norm_num_groups", 32);
  config->norm_eps = drape_json_double (json, "norm_eps", 1e-5);
  config->flip_sin_to_cos = drape_json_bool (json, "flip_sin_to_cos", TRUE);
  config->freq_shift = drape_json_double (json, "freq_shift", 0);
  config->downsample_padding = drape_json_uint (json, "downsample_padding", 1);

  /* diffusers reads attention_head_dim as the number of heads when
   * num_attention_heads is absent (a naming slip kept for SD1.x); either
   * is one number or one per block. */
  heads_key = drape_json_is_null (json, "num_attention_heads") ? "attention_head_dim"
                                                               : "num_attention_heads";
  n_heads = 0;
  if (drape_json_is_array (json, heads_key))
    n_heads = drape_json_uint_array (json, heads_key, heads, DRAPE_UNET_MAX_BLOCKS);
  else
    heads[n_heads++] = drape_json_uint (json, heads_key, 8);
  for (guint i = 0; i < DRAPE_UNET_MAX_BLOCKS; i++)
    config->heads[i] = n_heads ? heads[MIN (i, n_heads - 1)] : 8;

  down_types = drape_json_string_array (json, "down_block_types");
  up_types = drape_json_string_array (json, "up_block_types");
  mid = drape_json_string (json, "mid_block_type", "UNetMidBlock2DCrossAttn");
  if (!drape_json_check (json, error))
    return FALSE;

  if (config->n_blocks == 0 || down_types == NULL || up_types == NULL ||
      g_strv_length (down_types) != config->n_blocks || g_strv_length (up_types) != config->n_blocks)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED,
                   "%s: block_out_channels, down_block_types and up_block_types must have "
                   "the same number of entries", path);
      return FALSE;
    }
  for (guint i = 0; i < config->n_blocks; i++)
    {
      const char *down = down_types[i];
      const char *up = up_types[config->n_blocks - 1 - i];
      gboolean attn = g_strcmp0 (down, "CrossAttnDownBlock2D") == 0;

      if (!attn && g_strcmp0 (down, "DownBlock2D") != 0)
        {
          g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED,
                       "%s: down block type %s is not supported", path, down);
          return FALSE;
        }
      if (g_strcmp0 (up, attn ? "CrossAttnUpBlock2D" : "UpBlock2D") != 0)
        {
          g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED,
                       "%s: up block %u (%s) does not mirror down block %u (%s)",
                       path, config->n_blocks - 1 - i, up, i, down);
          return FALSE;
        }
      config->block_has_attention[i] = attn;
      if (config->block_out_channels[i] % config->norm_num_groups != 0 ||
          config->block_out_channels[i] % config->heads[i] != 0)
        {
          g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED,
                       "%s: %u channels do not divide into %u groups and %u heads",
                       path, config->block_out_channels[i], config->norm_num_groups, config->heads[i]);
          return FALSE;
        }
    }
  if (g_strcmp0 (mid, "UNetMidBlock2DCrossAttn") != 0)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED,
                   "%s: mid block type %s is not supported", path, mid);
      return FALSE;
    }
  if (!drape_json_is_null (json, "class_embed_type") || !drape_json_is_null (json, "addition_embed_type") ||
      drape_json_bool (json, "use_linear_projection", FALSE) ||
      g_strcmp0 (drape_json_string (json, "time_embedding_type", "positional"), "positional") != 0 ||
      g_strcmp0 (drape_json_string (json, "resnet_time_scale_shift", "default"), "default") != 0 ||
      drape_json_uint (json, "transformer_layers_per_block", 1) != 1)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED,
                   "%s: this UNet uses options beyond the SD1.5 topology Drape runs", path);
      return FALSE;
    }
  return TRUE;
}

/* ---- the attention checkpoint ------------------------------------------ */

typedef struct {
  char *name;   /* e.g. down_blocks.0.attentions.1.transformer_blocks.0.attn1 */
  guint32 channels;
} Attn1Module;

/* attn1 modules in unet.named_modules() order. */
static GPtrArray *
attn1_modules (const DrapeUNetConfig *config)
{
  GPtrArray *modules = g_ptr_array_new ();

  for (guint i = 0; i < config->n_blocks; i++)
    if (config->block_has_attention[i])
      for (guint j = 0; j < config->layers_per_block; j++)
        g_ptr_array_add (modules, g_strdup_printf ("down_blocks.%u.attentions.%u.transformer_blocks.0.attn1|%u",
                                                   i, j, config->block_out_channels[i]));
  for (guint i = 0; i < config->n_blocks; i++)
    {
      guint down = config->n_blocks - 1 - i;
      if (config->block_has_attention[down])
        for (guint j = 0; j <= config->layers_per_block; j++)
          g_ptr_array_add (modules, g_strdup_printf ("up_blocks.%u.attentions.%u.transformer_blocks.0.attn1|%u",
                                                     i, j, config->block_out_channels[down]));
    }
  g_ptr_array_add (modules, g_strdup_printf ("mid_block.attentions.0.transformer_blocks.0.attn1|%u",
                                             config->block_out_channels[config->n_blocks - 1]));
  g_ptr_array_set_free_func (modules, g_free);
  return modules;
}

/* CatVTON saves the attn1 layers as a torch ModuleList built from
 * named_modules(), so a tensor is named by its entry's index: the linear
 * layers to_q, to_k, to_v and to_out.0 are entries 1, 2, 3 and 5 of each
 * module's eight, saved as "<index>.weight" (and "<index>.bias"), or with
 * the submodule path after the index ("<index>.to_q.weight") depending on
 * how the list was saved.  Each name is checked by shape, and a file that
 * does not supply every tensor is refused. */
static gboolean
merge_attention (DrapeWeights          *weights,
                 const DrapeUNetConfig *config,
                 const char            *path,
                 GError               **error)
{
  static const struct {
    const char *sub;
    guint entry;
    gboolean bias;
  } parts[] = {
    { "to_q", 1, FALSE }, { "to_k", 2, FALSE }, { "to_v", 3, FALSE },
    { "to_out.0", 5, FALSE }, { "to_out.0", 5, TRUE },
  };
  g_autoptr(GPtrArray) modules = attn1_modules (config);
  guint found = 0;

  if (!drape_weights_add_file (weights, path, error))
    return FALSE;

  for (guint m = 0; m < modules->len; m++)
    {
      g_auto(GStrv) split = g_strsplit (g_ptr_array_index (modules, m), "|", 2);
      guint32 c = atoi (split[1]);

      for (guint p = 0; p < G_N_ELEMENTS (parts); p++)
        {
          guint index = m * ATTN_ENTRIES_PER_MODULE + parts[p].entry;
          const char *leaf = parts[p].bias ? "bias" : "weight";
          g_autofree char *unet_name = g_strdup_printf ("%s.%s.%s", split[0], parts[p].sub, leaf);
          g_autofree char *by_index = g_strdup_printf ("%u.%s", index, leaf);
          g_autofree char *by_path = g_strdup_printf ("%u.%s.%s", m * ATTN_ENTRIES_PER_MODULE,
                                                      parts[p].sub, leaf);
          const char *candidates[] = { by_index, by_path };
          gboolean ok = FALSE;

          for (guint k = 0; k < G_N_ELEMENTS (candidates) && !ok; k++)
            {
              const DrapeStTensor *t;
              drape_weights_alias (weights, unet_name, candidates[k]);
              t = drape_weights_lookup (weights, unet_name);
              if (t == NULL)
                continue;
              ok = parts[p].bias ? t->n_dims == 1 && t->shape[0] == c
                                 : t->n_dims == 2 && t->shape[0] == c && t->shape[1] == c;
              if (!ok)
                {
                  g_autofree char *have = drape_st_shape_to_string (t->n_dims, t->shape);
                  g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT,
                               "%s: tensor '%s' has shape %s, but %s.%s needs %u channels: "
                               "this attention checkpoint is for another model",
                               path, candidates[k], have, split[0], parts[p].sub, c);
                  return FALSE;
                }
            }
          if (!ok)
            {
              g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT,
                           "%s: no tensor '%s' (or '%s') for %s.%s: not a CatVTON attention "
                           "checkpoint for this UNet", path, by_index, by_path, split[0], parts[p].sub);
              return FALSE;
            }
          found++;
        }
    }
  g_assert (found == modules->len * G_N_ELEMENTS (parts));
  return TRUE;
}

/* ---- construction ------------------------------------------------------ */

static char *
find_weights_file (const char *dir,
                   DrapeDType  dtype,
                   GError    **error)
{
  /* Prefer the file matching the compute dtype; either works. */
  const char *names[] = {
    dtype == DRAPE_DTYPE_F16 ? "diffusion_pytorch_model.fp16.safetensors" : "diffusion_pytorch_model.safetensors",
    dtype == DRAPE_DTYPE_F16 ? "diffusion_pytorch_model.safetensors" : "diffusion_pytorch_model.fp16.safetensors",
  };

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *path = g_build_filename (dir, names[i], NULL);
      if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
        return g_steal_pointer (&path);
    }
  g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_IO,
               "%s: no diffusion_pytorch_model[.fp16].safetensors in this folder", dir);
  return NULL;
}

static gboolean
load_all (DrapeUNet *unet,
          GError   **error);

static DrapeUNet *
unet_new (DrapeDevice           *device,
          const DrapeUNetConfig *config,
          DrapeDType             dtype,
          DrapeWeights          *weights)
{
  DrapeUNet *unet = g_new0 (DrapeUNet, 1);

  unet->device = device;
  unet->config = *config;
  unet->dtype = dtype;
  unet->weights = weights;
  return unet;
}

DrapeUNet *
drape_unet_new (DrapeDevice *device,
                const char  *model_dir,
                const char  *attention_path,
                DrapeDType   dtype,
                GError     **error)
{
  g_autofree char *config_path = g_build_filename (model_dir, "config.json", NULL);
  g_autofree char *weights_path = NULL;
  g_autoptr(DrapeWeights) weights = NULL;
  g_autoptr(DrapeUNet) unet = NULL;
  DrapeUNetConfig config;

  if (!drape_unet_config_load (&config, config_path, error))
    return NULL;
  weights_path = find_weights_file (model_dir, dtype, error);
  if (weights_path == NULL)
    return NULL;
  weights = drape_weights_new (device, dtype);
  if (!drape_weights_add_file (weights, weights_path, error))
    return NULL;
  if (attention_path != NULL && !merge_attention (weights, &config, attention_path, error))
    return NULL;

  unet = unet_new (device, &config, dtype, g_steal_pointer (&weights));
  if (!load_all (unet, error))
    return NULL;
  return g_steal_pointer (&unet);
}

DrapeUNet *
drape_unet_new_random (DrapeDevice           *device,
                       const DrapeUNetConfig *config,
                       DrapeDType             dtype,
                       gboolean               values,
                       guint64                seed,
                       GError               **error)
{
  DrapeWeights *weights = values ? drape_weights_new_random (device, dtype, seed)
                                 : drape_weights_new_unfilled (device, dtype);
  g_autoptr(DrapeUNet) unet = unet_new (device, config, dtype, weights);

  /* As the files the pipeline downloads: the UNet's in f16, CatVTON's
   * attention in f32. */
  drape_weights_set_random_file_dtype (weights, "", DRAPE_ST_F16);
  drape_weights_set_random_file_dtype (weights, ".attn1.", DRAPE_ST_F32);
  if (!load_all (unet, error))
    return NULL;
  return g_steal_pointer (&unet);
}

void
drape_unet_free (DrapeUNet *unet)
{
  if (unet == NULL)
    return;
  g_clear_pointer (&unet->weights, drape_weights_free);
  g_free (unet);
}

const DrapeUNetConfig *
drape_unet_get_config (DrapeUNet *unet)
{
  return &unet->config;
}

DrapeDType
drape_unet_get_dtype (DrapeUNet *unet)
{
  return unet->dtype;
}

guint64
drape_unet_get_weight_bytes (DrapeUNet *unet)
{
  return drape_weights_get_bytes (unet->weights);
}

/* ---- the forward pass -------------------------------------------------- */

typedef struct {
  DrapeUNet *unet;
  DrapeLayers l;
  const DrapeTensor *temb_act; /* SiLU of the time embedding */
} Forward;

/* Transformer2DModel with one BasicTransformerBlock, cross-attention
 * skipped as CatVTON skips it. */
static DrapeTensor *
transformer (Forward           *f,
             const DrapeTensor *x,
             const char        *prefix,
             guint32            c,
             guint32            heads)
{
  DrapeLayers *l = &f->l;
  g_autofree char *norm = g_strdup_printf ("%s.norm", prefix);
  g_autofree char *proj_in = g_strdup_printf ("%s.proj_in", prefix);
  g_autofree char *proj_out = g_strdup_printf ("%s.proj_out", prefix);
  g_autofree char *block = g_strdup_printf ("%s.transformer_blocks.0", prefix);
  g_autofree char *norm1 = g_strdup_printf ("%s.norm1", block);
  g_autofree char *norm2 = g_strdup_printf ("%s.norm2", block);
  g_autofree char *norm3 = g_strdup_printf ("%s.norm3", block);
  g_autofree char *attn1 = g_strdup_printf ("%s.attn1", block);
  g_autofree char *ff_in_w = g_strdup_printf ("%s.ff.net.0.proj.weight", block);
  g_autofree char *ff_in_b = g_strdup_printf ("%s.ff.net.0.proj.bias", block);
  g_autofree char *ff_out = g_strdup_printf ("%s.ff.net.2", block);
  const DrapeTensor *ff_w = drape_weights_linear (f->unet->weights, ff_in_w, 8 * c, c);
  const DrapeTensor *ff_b = drape_weights_vector (f->unet->weights, ff_in_b, 8 * c);
  DrapeConvParams residual = { 0 };
  DrapeTensor *h, *n, *t;

  /* Transformer2DModel's GroupNorm is built with eps 1e-6. */
  n = drape_layer_group_norm (l, x, norm, c, 1e-6f, FALSE);
  h = drape_layer_linear (l, n, proj_in, c, c, TRUE, NULL);
  drape_tensor_release (n);

  n = drape_layer_layer_norm (l, h, norm1, c, 1e-5f);
  drape_layer_advance (&h, drape_layer_attention (l, n, attn1, c, heads, FALSE, h));
  drape_tensor_release (n);

  /* attn2 is CatVTON's SkipAttnProcessor: it returns its input, norm2 h,
   * which the block adds to h before norm3. */
  n = drape_layer_layer_norm_add_norm (l, h, norm2, norm3, c, 1e-5f, &t);
  drape_layer_advance (&h, t);
  t = l->graph ? drape_op_linear_geglu (l->graph, n, ff_w, ff_b) : NULL;
  drape_tensor_release (n);
  residual.residual = h;
  drape_layer_advance (&h, drape_layer_linear (l, t, ff_out, 4 * c, c, TRUE, &residual));
  drape_tensor_release (t);

  residual.residual = x;
  drape_layer_advance (&h, drape_layer_linear (l, h, proj_out, c, c, TRUE, &residual));
  return h;
}

static DrapeTensor *
resnet (Forward           *f,
        const DrapeTensor *x,
        const char        *prefix,
        guint32            cin,
        guint32            cout)
{
  const DrapeUNetConfig *config = &f->unet->config;

  return drape_layer_resnet (&f->l, x, prefix, cin, cout, config->norm_eps,
                             f->temb_act, config->block_out_channels[0] * 4);
}

/* A resnet on *h, which it consumes. */
static void
advance_resnet (Forward      *f,
                DrapeTensor **h,
                const char   *prefix,
                guint32       cin,
                guint32       cout)
{
  const DrapeUNetConfig *config = &f->unet->config;

  drape_layer_advance_resnet (&f->l, h, prefix, cin, cout, config->norm_eps,
                              f->temb_act, config->block_out_channels[0] * 4);
}

static DrapeTensor *
forward (Forward           *f,
         const DrapeTensor *sample,
         const DrapeTensor *timestep)
{
  const DrapeUNetConfig *config = &f->unet->config;
  DrapeLayers *l = &f->l;
  DrapeGraph *g = l->graph;
  guint32 c0 = config->block_out_channels[0];
  guint32 nb = config->n_blocks;
  g_autoptr(GPtrArray) skips = g_ptr_array_new ();
  DrapeConvParams silu = { .act = DRAPE_ACT_SILU };
  DrapeTensor *h = NULL, *x = NULL, *temb, *proj;
  guint32 ch;

  proj = g ? drape_op_timestep_embedding (g, timestep, c0, config->flip_sin_to_cos,
                                          config->freq_shift, f->unet->dtype)
           : NULL;
  drape_layer_capture (l, "time_proj", proj);
  temb = drape_layer_linear (l, proj, "time_embedding.linear_1", c0, 4 * c0, TRUE, &silu);
  drape_layer_advance (&temb, drape_layer_linear (l, temb, "time_embedding.linear_2",
                                                  4 * c0, 4 * c0, TRUE, NULL));
  drape_tensor_release (proj);
  drape_layer_capture (l, "time_embedding", temb);
  /* Every resnet projects SiLU (temb): take it once. */
  f->temb_act = g ? drape_op_silu (g, temb) : NULL;
  drape_tensor_release (temb);

  if (g != NULL && sample->dtype != f->unet->dtype)
    x = drape_op_cast (g, sample, f->unet->dtype);
  h = drape_layer_conv (l, x ? x : sample, "conv_in", config->in_channels, c0, 3, 1, NULL);
  drape_tensor_release (x);
  drape_layer_capture (l, "conv_in", h);
  g_ptr_array_add (skips, h);

  /* Down blocks: every output is kept for the skip connections. */
  ch = c0;
  for (guint i = 0; i < nb; i++)
    {
      guint32 cout = config->block_out_channels[i];
      g_autofree char *bn = g_strdup_printf ("down_blocks.%u", i);

      for (guint j = 0; j < config->layers_per_block; j++)
        {
          g_autofree char *rn = g_strdup_printf ("%s.resnets.%u", bn, j);
          g_autofree char *an = g_strdup_printf ("%s.attentions.%u", bn, j);
          h = resnet (f, h, rn, ch, cout);
          drape_layer_capture (l, rn, h);
          ch = cout;
          if (config->block_has_attention[i])
            {
              drape_layer_advance (&h, transformer (f, h, an, ch, config->heads[i]));
              drape_layer_capture (l, an, h);
            }
          g_ptr_array_add (skips, h);
        }
      if (i + 1 < nb)
        {
          g_autofree char *dn = g_strdup_printf ("%s.downsamplers.0.conv", bn);
          DrapeConvParams down = { 0 };
          h = drape_layer_conv (l, h, dn, ch, ch, 3, 2, &down);
          g_ptr_array_add (skips, h);
        }
      drape_layer_capture (l, bn, h);
    }

  /* The mid block reads the last skip without consuming it. */
  {
    guint32 c = config->block_out_channels[nb - 1];
    h = resnet (f, h, "mid_block.resnets.0", c, c);
    drape_layer_advance (&h, transformer (f, h, "mid_block.attentions.0", c, config->heads[nb - 1]));
    advance_resnet (f, &h, "mid_block.resnets.1", c, c);
    drape_layer_capture (l, "mid_block", h);
  }

  /* Up blocks: each resnet eats one skip, latest first. */
  ch = config->block_out_channels[nb - 1];
  for (guint i = 0; i < nb; i++)
    {
      guint down = nb - 1 - i;
      guint32 cout = config->block_out_channels[down];
      g_autofree char *bn = g_strdup_printf ("up_blocks.%u", i);

      for (guint j = 0; j <= config->layers_per_block; j++)
        {
          g_autofree char *rn = g_strdup_printf ("%s.resnets.%u", bn, j);
          g_autofree char *an = g_strdup_printf ("%s.attentions.%u", bn, j);
          DrapeTensor *skip = g_ptr_array_steal_index (skips, skips->len - 1);
          guint32 skip_c = j == config->layers_per_block
                           ? config->block_out_channels[down > 0 ? down - 1 : 0]
                           : cout;

          drape_layer_advance (&h, g ? drape_op_concat (g, DRAPE_AXIS_C, h, skip) : NULL);
          drape_tensor_release (skip);
          advance_resnet (f, &h, rn, ch + skip_c, cout);
          ch = cout;
          if (config->block_has_attention[down])
            drape_layer_advance (&h, transformer (f, h, an, ch, config->heads[down]));
        }
      if (i + 1 < nb)
        {
          g_autofree char *un = g_strdup_printf ("%s.upsamplers.0.conv", bn);
          const DrapeTensor *next = g_ptr_array_index (skips, skips->len - 1);
          /* diffusers upsamples to the next skip's size, which is not 2x
           * when a size was odd on the way down. */
          drape_layer_advance (&h, drape_layer_upsample_conv (l, h, un, ch, next ? next->h : 0,
                                                              next ? next->w : 0));
        }
      drape_layer_capture (l, bn, h);
    }

  drape_layer_advance (&h, drape_layer_group_norm (l, h, "conv_norm_out", ch, config->norm_eps, FALSE));
  drape_layer_capture (l, "conv_norm_out", h);
  if (g != NULL)
    drape_layer_advance (&h, drape_op_silu (g, h));
  drape_layer_advance (&h, drape_layer_conv (l, h, "conv_out", ch, config->out_channels, 3, 1, NULL));
  drape_tensor_release ((DrapeTensor *) f->temb_act);
  return h;
}

static gboolean
load_all (DrapeUNet *unet,
          GError   **error)
{
  Forward f = {
    .unet = unet,
    .l = { .weights = unet->weights, .norm_groups = unet->config.norm_num_groups },
  };

  forward (&f, NULL, NULL);
  if (!drape_weights_check (unet->weights, error))
    return FALSE;
  return TRUE;
}

DrapeTensor *
drape_unet_forward (DrapeUNet         *unet,
                    DrapeGraph        *graph,
                    const DrapeTensor *sample,
                    const DrapeTensor *timestep,
                    DrapeCapture      *capture)
{
  const DrapeUNetConfig *config = &unet->config;
  Forward f = {
    .unet = unet,
    .l = { .weights = unet->weights, .graph = graph, .capture = capture,
           .norm_groups = config->norm_num_groups },
  };

  if (!drape_graph_check_tensor (graph, "unet", "sample", sample) ||
      !drape_graph_check_tensor (graph, "unet", "timestep", timestep))
    return drape_graph_placeholder (graph, unet->dtype, 1, 1, 1, config->out_channels);
  if (sample->c != config->in_channels)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "unet: the sample has %u channels; this UNet takes %u",
                        sample->c, config->in_channels);
      return drape_graph_placeholder (graph, unet->dtype, sample->n, sample->h, sample->w,
                                      config->out_channels);
    }
  if (timestep->n != sample->n || timestep->h != 1 || timestep->w != 1 || timestep->c != 1 ||
      timestep->dtype != DRAPE_DTYPE_F32)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "unet: the timestep must be f32 [%u, 1, 1, 1]", sample->n);
      return drape_graph_placeholder (graph, unet->dtype, sample->n, sample->h, sample->w,
                                      config->out_channels);
    }
  return forward (&f, sample, timestep);
}
