/* segformer.c: SegformerForSemanticSegmentation
 *
 * What transformers' modeling_segformer.py computes, in NHWC:
 *
 *   per stage i:  x = LN (conv k_i / stride s_i / pad k_i / 2 (x))    patch embedding
 *                 per block:  x += Attn (LN1 x);  x += MixFFN (LN2 x)
 *                 x = LN (x)                                           stage output
 *   Attn:   Q from x; K, V from x, or when sr > 1 from LN (conv sr x sr,
 *           stride sr (x)); multi-head softmax (Q K^T / sqrt d) V; dense.
 *   MixFFN: dense1 (C -> 4C), depthwise 3x3, exact GELU, dense2.
 *   head:   per stage Linear (C_i -> D), bilinear to stage 1's size,
 *           concatenated as [c4, c3, c2, c1], 1x1 conv (no bias),
 *           BatchNorm, ReLU, 1x1 classifier.
 *
 * Every LayerNorm has eps 1e-5: the modules are built with nn.LayerNorm's
 * default, whatever config.json's layer_norm_eps says.
 *
 * The head is folded on the host.  Linear layers, the bilinear resize and
 * the inference BatchNorm are all affine per position, and a bilinear
 * resize keeps constants, so
 *   BN (W [up (L_4 c_4 + b_4); ...; L_1 c_1 + b_1])
 *     = sum_i up ((s W_i L_i) c_i) + (s sum_i W_i b_i + beta - s mean)
 * with W_i the columns of the fuse conv that meet stage i and s the
 * BatchNorm scale.  Each stage then needs one C_i -> D linear layer at its
 * own resolution instead of a D-channel linear, a 4D-channel concatenation
 * and a 4D -> D conv at stage 1's: at 512 x 512, B2's head drops from
 * 81 GFLOP to 4 (the whole network from 122 to 45) and never holds the
 * 3072-channel map (200 MB in f32).
 * The constant goes to the stage-1 term, which is not resized.
 *
 * Fusions: GELU runs in the depthwise conv's epilogue, the residual adds in
 * the epilogues of the attention output and dense2, Q/K/V (sr = 1) and
 * K/V (sr > 1) are one linear layer each, and the head's terms are resized
 * and summed (and the ReLU applied) in one pass each
 * (drape_op_resize_bilinear_add).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "error.h"
#include "json-config.h"
#include "ops.h"
#include "segformer.h"
#include "weights.h"

#define LN_EPS 1e-5f
#define BN_EPS 1e-5
/* drape_op_conv2d takes kernels up to this size. */
#define MAX_KERNEL 8

typedef struct {
  const DrapeTensor *ln1_g, *ln1_b;
  /* sr = 1: Q, K, V stacked; sr > 1: Q alone, and K, V stacked in kv. */
  const DrapeTensor *q_w, *q_b;
  const DrapeTensor *kv_w, *kv_b;
  const DrapeTensor *sr_w, *sr_b, *sr_ln_g, *sr_ln_b;
  const DrapeTensor *out_w, *out_b;
  const DrapeTensor *ln2_g, *ln2_b;
  const DrapeTensor *fc1_w, *fc1_b, *dw_w, *dw_b, *fc2_w, *fc2_b;
} Block;

typedef struct {
  const DrapeTensor *patch_w, *patch_b, *patch_ln_g, *patch_ln_b;
  Block *blocks;
  const DrapeTensor *ln_g, *ln_b;
  /* The folded head's linear layer for this stage (see above). */
  const DrapeTensor *head_w, *head_b;
} Stage;

struct _DrapeSegformer
{
  DrapeDevice *device;
  DrapeDType dtype;
  DrapeSegformerConfig config;
  DrapeWeights *weights;
  Stage stages[DRAPE_SEGFORMER_MAX_STAGES];
  const DrapeTensor *cls_w, *cls_b;
};

/* ---- config.json ------------------------------------------------------- */

/* Reads and checks a transformers SegformerConfig.  The number of labels
 * is the classifier's size, read with the weights. */
static gboolean
config_load (const char            *path,
             DrapeSegformerConfig  *config,
             GError               **error)
{
  g_autoptr(DrapeJson) json = drape_json_open (path, error);
  static const char *const arrays[] = {
    "depths", "hidden_sizes", "num_attention_heads", "sr_ratios", "patch_sizes", "strides",
    "mlp_ratios",
  };
  guint32 *values[G_N_ELEMENTS (arrays)] = {
    config->depths, config->hidden, config->heads, config->sr_ratios, config->patch_sizes,
    config->strides, config->mlp_ratios,
  };
  const char *model_type;

  memset (config, 0, sizeof *config);
  if (json == NULL)
    return FALSE;
  model_type = drape_json_string (json, "model_type", NULL);
  if (g_strcmp0 (model_type, "segformer") != 0)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT,
                   "%s describes %s, not a SegFormer (model_type 'segformer')", path,
                   model_type ? model_type : drape_json_string (json, "_class_name", "an unknown model"));
      return FALSE;
    }
  if (g_strcmp0 (drape_json_string (json, "hidden_act", "gelu"), "gelu") != 0 ||
      !drape_json_bool (json, "reshape_last_stage", TRUE))
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED,
                   "%s: only hidden_act 'gelu' with reshape_last_stage true is supported", path);
      return FALSE;
    }
  config->n_stages = drape_json_uint (json, "num_encoder_blocks", 4);
  config->in_channels = drape_json_uint (json, "num_channels", 3);
  config->decoder_hidden = drape_json_uint (json, "decoder_hidden_size", 256);
  if (config->n_stages == 0 || config->n_stages > DRAPE_SEGFORMER_MAX_STAGES)
    drape_json_fail (json, "num_encoder_blocks is %u; from 1 to %u are supported",
                     config->n_stages, DRAPE_SEGFORMER_MAX_STAGES);
  for (guint k = 0; k < G_N_ELEMENTS (arrays) && drape_json_check (json, NULL); k++)
    {
      guint n = drape_json_uint_array (json, arrays[k], values[k], DRAPE_SEGFORMER_MAX_STAGES);
      if (n != config->n_stages)
        drape_json_fail (json, "'%s' has %u entries; num_encoder_blocks is %u",
                         arrays[k], n, config->n_stages);
      for (guint i = 0; i < n; i++)
        if (values[k][i] == 0)
          drape_json_fail (json, "'%s' holds a 0", arrays[k]);
    }
  if (config->in_channels == 0 || config->decoder_hidden == 0)
    drape_json_fail (json, "num_channels and decoder_hidden_size must be positive");
  if (!drape_json_check (json, error))
    return FALSE;

  for (guint i = 0; i < config->n_stages; i++)
    {
      if (config->hidden[i] % config->heads[i] != 0)
        {
          g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT,
                       "%s: stage %u: hidden size %u is not a multiple of its %u heads",
                       path, i, config->hidden[i], config->heads[i]);
          return FALSE;
        }
      if (config->patch_sizes[i] > MAX_KERNEL || config->sr_ratios[i] > MAX_KERNEL)
        {
          g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED,
                       "%s: stage %u: patch size %u or sr ratio %u exceeds the largest "
                       "convolution kernel the engine has (%u)", path, i,
                       config->patch_sizes[i], config->sr_ratios[i], MAX_KERNEL);
          return FALSE;
        }
    }
  return TRUE;
}

/* ---- weights ----------------------------------------------------------- */

static void
load_block (DrapeWeights *w,
            Block        *b,
            const char   *p,
            guint32       c,
            guint32       sr,
            guint32       hidden)
{
#define N(suffix) g_strconcat (p, suffix, NULL)
  g_autofree char *ln1_w = N ("layer_norm_1.weight"), *ln1_b = N ("layer_norm_1.bias");
  g_autofree char *q_w = N ("attention.self.query.weight"), *q_b = N ("attention.self.query.bias");
  g_autofree char *k_w = N ("attention.self.key.weight"), *k_b = N ("attention.self.key.bias");
  g_autofree char *v_w = N ("attention.self.value.weight"), *v_b = N ("attention.self.value.bias");
  g_autofree char *sr_w = N ("attention.self.sr.weight"), *sr_b = N ("attention.self.sr.bias");
  g_autofree char *srn_w = N ("attention.self.layer_norm.weight"), *srn_b = N ("attention.self.layer_norm.bias");
  g_autofree char *o_w = N ("attention.output.dense.weight"), *o_b = N ("attention.output.dense.bias");
  g_autofree char *ln2_w = N ("layer_norm_2.weight"), *ln2_b = N ("layer_norm_2.bias");
  g_autofree char *fc1_w = N ("mlp.dense1.weight"), *fc1_b = N ("mlp.dense1.bias");
  g_autofree char *dw_w = N ("mlp.dwconv.dwconv.weight"), *dw_b = N ("mlp.dwconv.dwconv.bias");
  g_autofree char *fc2_w = N ("mlp.dense2.weight"), *fc2_b = N ("mlp.dense2.bias");
  g_autofree char *qkv_key = N ("attention.self.qkv.weight"), *qkv_bkey = N ("attention.self.qkv.bias");
  g_autofree char *kv_key = N ("attention.self.kv.weight"), *kv_bkey = N ("attention.self.kv.bias");
#undef N

  b->ln1_g = drape_weights_vector (w, ln1_w, c);
  b->ln1_b = drape_weights_vector (w, ln1_b, c);
  if (sr > 1)
    {
      const char *kv_names[] = { k_w, v_w }, *kv_bnames[] = { k_b, v_b };
      b->q_w = drape_weights_linear (w, q_w, c, c);
      b->q_b = drape_weights_vector (w, q_b, c);
      b->kv_w = drape_weights_linear_concat (w, kv_key, kv_names, 2, c, c);
      b->kv_b = drape_weights_vector_concat (w, kv_bkey, kv_bnames, 2, c);
      b->sr_w = drape_weights_conv (w, sr_w, c, c, sr, sr);
      b->sr_b = drape_weights_vector (w, sr_b, c);
      b->sr_ln_g = drape_weights_vector (w, srn_w, c);
      b->sr_ln_b = drape_weights_vector (w, srn_b, c);
    }
  else
    {
      const char *names[] = { q_w, k_w, v_w }, *bnames[] = { q_b, k_b, v_b };
      b->q_w = drape_weights_linear_concat (w, qkv_key, names, 3, c, c);
      b->q_b = drape_weights_vector_concat (w, qkv_bkey, bnames, 3, c);
    }
  b->out_w = drape_weights_linear (w, o_w, c, c);
  b->out_b = drape_weights_vector (w, o_b, c);
  b->ln2_g = drape_weights_vector (w, ln2_w, c);
  b->ln2_b = drape_weights_vector (w, ln2_b, c);
  b->fc1_w = drape_weights_linear (w, fc1_w, hidden, c);
  b->fc1_b = drape_weights_vector (w, fc1_b, hidden);
  b->dw_w = drape_weights_conv (w, dw_w, hidden, 1, 3, 3);
  b->dw_b = drape_weights_vector (w, dw_b, hidden);
  b->fc2_w = drape_weights_linear (w, fc2_w, c, hidden);
  b->fc2_b = drape_weights_vector (w, fc2_b, c);
}

/* The folded decode head (see the top of this file). */
static void
load_head (DrapeSegformer *model)
{
  const DrapeSegformerConfig *cfg = &model->config;
  DrapeWeights *w = model->weights;
  guint32 d = cfg->decoder_hidden, s = cfg->n_stages;
  guint64 fuse_shape[] = { d, (guint64) s * d, 1, 1 }, vec_shape[] = { d };
  g_autofree float *fuse = drape_weights_read (w, "decode_head.linear_fuse.weight", 4, fuse_shape);
  g_autofree float *gamma = drape_weights_read (w, "decode_head.batch_norm.weight", 1, vec_shape);
  g_autofree float *beta = drape_weights_read (w, "decode_head.batch_norm.bias", 1, vec_shape);
  g_autofree float *mean = drape_weights_read (w, "decode_head.batch_norm.running_mean", 1, vec_shape);
  g_autofree float *var = drape_weights_read (w, "decode_head.batch_norm.running_var", 1, vec_shape);
  g_autofree double *scale = g_new (double, d);
  g_autofree double *bias = g_new0 (double, d);
  g_autofree float *bias_f = g_new (float, d);

  if (fuse == NULL || gamma == NULL || beta == NULL || mean == NULL || var == NULL)
    return;
  for (guint32 o = 0; o < d; o++)
    {
      scale[o] = gamma[o] / sqrt ((double) var[o] + BN_EPS);
      bias[o] = beta[o] - scale[o] * mean[o];
    }

  for (guint i = 0; i < s; i++)
    {
      guint32 c = cfg->hidden[i];
      /* The concatenation is in reversed stage order. */
      guint64 col0 = (guint64) (s - 1 - i) * d;
      guint64 lin_shape[] = { d, c };
      g_autofree char *lw_name = g_strdup_printf ("decode_head.linear_c.%u.proj.weight", i);
      g_autofree char *lb_name = g_strdup_printf ("decode_head.linear_c.%u.proj.bias", i);
      g_autofree char *key = g_strdup_printf ("decode_head.folded.%u.weight", i);
      g_autofree float *lw = drape_weights_read (w, lw_name, 2, lin_shape);
      g_autofree float *lb = drape_weights_read (w, lb_name, 1, vec_shape);
      g_autofree float *m = NULL;
      g_autofree double *row = NULL;

      if (lw == NULL || lb == NULL)
        return;
      m = g_new (float, (gsize) d * c);
      row = g_new (double, c);
      for (guint32 o = 0; o < d; o++)
        {
          const float *wf = fuse + (guint64) o * s * d + col0;
          double b = 0;

          memset (row, 0, c * sizeof (double));
          for (guint32 j = 0; j < d; j++)
            {
              const float *l = lw + (guint64) j * c;
              double f = wf[j];
              for (guint32 k = 0; k < c; k++)
                row[k] += f * l[k];
              b += f * lb[j];
            }
          for (guint32 k = 0; k < c; k++)
            m[(guint64) o * c + k] = (float) (scale[o] * row[k]);
          bias[o] += scale[o] * b;
        }
      model->stages[i].head_w = drape_weights_conv_from_data (w, key, m, d, c, 1, 1, FALSE);
    }
  for (guint32 o = 0; o < d; o++)
    bias_f[o] = (float) bias[o];
  model->stages[0].head_b = drape_weights_conv_from_data (w, "decode_head.folded.bias", bias_f,
                                                          d, 1, 1, 1, TRUE);
}

static void
load_weights (DrapeSegformer *model,
              const char     *path)
{
  DrapeSegformerConfig *cfg = &model->config;
  DrapeWeights *w = model->weights;
  guint32 c_in = cfg->in_channels;

  /* As many labels as the classifier has outputs (id2label names them),
   * unless the configuration says (random weights). */
  if (cfg->n_labels == 0)
    {
      const DrapeStTensor *cls = drape_weights_lookup (w, "decode_head.classifier.bias");

      if (cls == NULL || cls->n_dims != 1 || cls->shape[0] == 0 || cls->shape[0] > G_MAXUINT16)
        {
          drape_weights_fail (w, "%s: tensor 'decode_head.classifier.bias' is missing or not a "
                              "vector of labels", path);
          return;
        }
      cfg->n_labels = cls->shape[0];
    }

  for (guint i = 0; i < cfg->n_stages; i++)
    {
      Stage *st = &model->stages[i];
      guint32 c = cfg->hidden[i], k = cfg->patch_sizes[i];
      g_autofree char *pe = g_strdup_printf ("segformer.encoder.patch_embeddings.%u.", i);
      g_autofree char *pw = g_strconcat (pe, "proj.weight", NULL), *pb = g_strconcat (pe, "proj.bias", NULL);
      g_autofree char *lw = g_strconcat (pe, "layer_norm.weight", NULL);
      g_autofree char *lb = g_strconcat (pe, "layer_norm.bias", NULL);
      g_autofree char *nw = g_strdup_printf ("segformer.encoder.layer_norm.%u.weight", i);
      g_autofree char *nb = g_strdup_printf ("segformer.encoder.layer_norm.%u.bias", i);

      st->patch_w = drape_weights_conv (w, pw, c, c_in, k, k);
      st->patch_b = drape_weights_vector (w, pb, c);
      st->patch_ln_g = drape_weights_vector (w, lw, c);
      st->patch_ln_b = drape_weights_vector (w, lb, c);
      st->blocks = g_new0 (Block, cfg->depths[i]);
      for (guint j = 0; j < cfg->depths[i]; j++)
        {
          g_autofree char *prefix = g_strdup_printf ("segformer.encoder.block.%u.%u.", i, j);
          load_block (w, &st->blocks[j], prefix, c, cfg->sr_ratios[i], c * cfg->mlp_ratios[i]);
        }
      st->ln_g = drape_weights_vector (w, nw, c);
      st->ln_b = drape_weights_vector (w, nb, c);
      c_in = c;
    }
  load_head (model);
  model->cls_w = drape_weights_linear (w, "decode_head.classifier.weight", cfg->n_labels, cfg->decoder_hidden);
  model->cls_b = drape_weights_vector (w, "decode_head.classifier.bias", cfg->n_labels);
}

/* A model without weights yet, where the device can compute in dtype. */
static DrapeSegformer *
segformer_new (DrapeDevice *device,
               DrapeDType   dtype,
               GError     **error)
{
  DrapeSegformer *model;

  if (dtype == DRAPE_DTYPE_F16 && !drape_device_get_caps (device)->has_f16)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED,
                   "%s has no 16-bit float storage; use f32", drape_device_get_info (device)->name);
      return NULL;
    }
  model = g_new0 (DrapeSegformer, 1);
  model->device = device;
  model->dtype = dtype;
  return model;
}

DrapeSegformer *
drape_segformer_new (DrapeDevice *device,
                     const char  *model_dir,
                     DrapeDType   dtype,
                     GError     **error)
{
  g_autoptr(DrapeSegformer) model = NULL;
  g_autofree char *config_path = g_build_filename (model_dir, "config.json", NULL);
  g_autofree char *weights_path = g_build_filename (model_dir, "model.safetensors", NULL);

  if (!g_file_test (model_dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_IO,
                   "SegFormer model folder %s does not exist", model_dir);
      return NULL;
    }
  if (!g_file_test (config_path, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_IO,
                   "%s has no config.json: a SegFormer model folder holds config.json and "
                   "model.safetensors", model_dir);
      return NULL;
    }
  model = segformer_new (device, dtype, error);
  if (model == NULL || !config_load (config_path, &model->config, error))
    return NULL;

  model->weights = drape_weights_new (device, dtype);
  if (!drape_weights_add_file (model->weights, weights_path, error))
    return NULL;
  load_weights (model, weights_path);
  if (!drape_weights_check (model->weights, error))
    return NULL;
  return g_steal_pointer (&model);
}

DrapeSegformer *
drape_segformer_new_random (DrapeDevice                *device,
                            const DrapeSegformerConfig *config,
                            DrapeDType                  dtype,
                            guint64                     seed,
                            GError                    **error)
{
  g_autoptr(DrapeSegformer) model = NULL;

  g_return_val_if_fail (config->n_stages > 0 && config->n_stages <= DRAPE_SEGFORMER_MAX_STAGES, NULL);
  g_return_val_if_fail (config->n_labels > 0, NULL);

  model = segformer_new (device, dtype, error);
  if (model == NULL)
    return NULL;
  model->config = *config;
  model->weights = drape_weights_new_random (device, dtype, seed);
  load_weights (model, "random weights");
  if (!drape_weights_check (model->weights, error))
    return NULL;
  return g_steal_pointer (&model);
}

void
drape_segformer_config_b2_clothes (DrapeSegformerConfig *config)
{
  static const DrapeSegformerConfig b2_clothes = {
    .n_stages = 4,
    .depths = { 3, 4, 6, 3 },
    .hidden = { 64, 128, 320, 512 },
    .heads = { 1, 2, 5, 8 },
    .sr_ratios = { 8, 4, 2, 1 },
    .patch_sizes = { 7, 3, 3, 3 },
    .strides = { 4, 2, 2, 2 },
    .mlp_ratios = { 4, 4, 4, 4 },
    .in_channels = 3,
    .decoder_hidden = 768,
    .n_labels = 18,
  };

  *config = b2_clothes;
}

void
drape_segformer_free (DrapeSegformer *model)
{
  if (model == NULL)
    return;
  for (guint i = 0; i < DRAPE_SEGFORMER_MAX_STAGES; i++)
    g_free (model->stages[i].blocks);
  drape_weights_free (model->weights);
  g_free (model);
}

const DrapeSegformerConfig *
drape_segformer_get_config (DrapeSegformer *model)
{
  return &model->config;
}

DrapeDType
drape_segformer_get_dtype (DrapeSegformer *model)
{
  return model->dtype;
}

guint64
drape_segformer_get_weight_bytes (DrapeSegformer *model)
{
  return drape_weights_get_bytes (model->weights);
}

/* ---- forward ----------------------------------------------------------- */

static DrapeTensor *
linear (DrapeGraph        *graph,
        const DrapeTensor *x,
        const DrapeTensor *w,
        const DrapeTensor *b,
        const DrapeTensor *residual)
{
  DrapeConvParams p = { .bias = b, .residual = residual };

  return drape_op_linear (graph, x, w, &p);
}

static DrapeTensor *
attention (DrapeSegformer *model,
           DrapeGraph     *graph,
           const Block    *b,
           guint           stage,
           DrapeTensor    *x)
{
  const DrapeSegformerConfig *cfg = &model->config;
  guint32 c = cfg->hidden[stage], heads = cfg->heads[stage], sr = cfg->sr_ratios[stage];
  float scale = 1.0f / sqrtf ((float) (c / heads));
  DrapeTensor *t, *out;

  t = drape_op_layer_norm (graph, x, b->ln1_g, b->ln1_b, LN_EPS);
  if (sr > 1)
    {
      DrapeConvParams sp = { .stride = sr, .bias = b->sr_b };
      DrapeTensor *q = linear (graph, t, b->q_w, b->q_b, NULL);
      DrapeTensor *r = drape_op_conv2d (graph, t, b->sr_w, &sp);
      DrapeTensor *rn, *kv, *a;

      drape_tensor_release (t);
      rn = drape_op_layer_norm (graph, r, b->sr_ln_g, b->sr_ln_b, LN_EPS);
      drape_tensor_release (r);
      kv = linear (graph, rn, b->kv_w, b->kv_b, NULL);
      drape_tensor_release (rn);
      a = drape_op_attention (graph, q, 0, kv, 0, kv, c, c, heads, scale);
      drape_tensor_release (q);
      drape_tensor_release (kv);
      out = linear (graph, a, b->out_w, b->out_b, x);
      drape_tensor_release (a);
    }
  else
    {
      DrapeTensor *qkv = linear (graph, t, b->q_w, b->q_b, NULL);
      DrapeTensor *a;

      drape_tensor_release (t);
      a = drape_op_attention (graph, qkv, 0, qkv, c, qkv, 2 * c, c, heads, scale);
      drape_tensor_release (qkv);
      out = linear (graph, a, b->out_w, b->out_b, x);
      drape_tensor_release (a);
    }
  return out;
}

static DrapeTensor *
mix_ffn (DrapeGraph  *graph,
         const Block *b,
         DrapeTensor *x)
{
  DrapeConvParams dp = {
    .pad_top = 1, .pad_left = 1, .pad_bottom = 1, .pad_right = 1,
    .groups = b->dw_w->n, .bias = b->dw_b, .act = DRAPE_ACT_GELU,
  };
  DrapeTensor *t, *h1, *h2, *out;

  t = drape_op_layer_norm (graph, x, b->ln2_g, b->ln2_b, LN_EPS);
  h1 = linear (graph, t, b->fc1_w, b->fc1_b, NULL);
  drape_tensor_release (t);
  h2 = drape_op_conv2d (graph, h1, b->dw_w, &dp);
  drape_tensor_release (h1);
  out = linear (graph, h2, b->fc2_w, b->fc2_b, x);
  drape_tensor_release (h2);
  return out;
}

DrapeTensor *
drape_segformer_forward (DrapeSegformer     *model,
                         DrapeGraph         *graph,
                         const DrapeTensor  *pixels,
                         DrapeTensor       **hidden_states)
{
  const DrapeSegformerConfig *cfg = &model->config;
  DrapeTensor *stage_out[DRAPE_SEGFORMER_MAX_STAGES] = { NULL };
  const DrapeTensor *in = pixels;
  DrapeTensor *cast = NULL, *acc = NULL, *y, *logits;

  if (pixels == NULL || pixels->c != cfg->in_channels)
    {
      g_autofree char *got = pixels ? drape_tensor_describe (pixels) : g_strdup ("nothing");
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "SegFormer: pixels must be [n, h, w, %u]; got %s", cfg->in_channels, got);
      return drape_graph_tensor (graph, model->dtype, 1, 1, 1, cfg->n_labels);
    }
  if (pixels->dtype != model->dtype)
    in = cast = drape_op_cast (graph, pixels, model->dtype);

  for (guint i = 0; i < cfg->n_stages; i++)
    {
      const Stage *st = &model->stages[i];
      guint32 k = cfg->patch_sizes[i];
      DrapeConvParams pp = {
        .stride = cfg->strides[i],
        .pad_top = k / 2, .pad_left = k / 2, .pad_bottom = k / 2, .pad_right = k / 2,
        .bias = st->patch_b,
      };
      DrapeTensor *e, *x;

      e = drape_op_conv2d (graph, in, st->patch_w, &pp);
      drape_tensor_release (cast);
      cast = NULL;
      x = drape_op_layer_norm (graph, e, st->patch_ln_g, st->patch_ln_b, LN_EPS);
      drape_tensor_release (e);
      if (cfg->sr_ratios[i] > 1 && (x->h < cfg->sr_ratios[i] || x->w < cfg->sr_ratios[i]))
        drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                          "SegFormer: the input is too small: stage %u is %ux%u, smaller than "
                          "its sequence reduction ratio %u", i + 1, x->w, x->h, cfg->sr_ratios[i]);
      for (guint j = 0; j < cfg->depths[i]; j++)
        {
          DrapeTensor *a = attention (model, graph, &st->blocks[j], i, x);
          drape_tensor_release (x);
          x = mix_ffn (graph, &st->blocks[j], a);
          drape_tensor_release (a);
        }
      stage_out[i] = drape_op_layer_norm (graph, x, st->ln_g, st->ln_b, LN_EPS);
      drape_tensor_release (x);
      in = stage_out[i];
    }

  /* The folded head: stage 1's term with the constant, then each coarser
   * stage's term resized and added, the ReLU with the last. */
  acc = linear (graph, stage_out[0], model->stages[0].head_w, model->stages[0].head_b, NULL);
  if (hidden_states == NULL)
    drape_tensor_release (stage_out[0]);
  if (cfg->n_stages == 1)
    {
      y = drape_op_unary (graph, acc, DRAPE_ACT_RELU, 1.0f, 0.0f);
      drape_tensor_release (acc);
      acc = y;
    }
  for (guint i = cfg->n_stages; i-- > 1;)
    {
      DrapeTensor *sum;

      y = linear (graph, stage_out[i], model->stages[i].head_w, NULL, NULL);
      if (hidden_states == NULL)
        drape_tensor_release (stage_out[i]);
      sum = drape_op_resize_bilinear_add (graph, y, acc, i == 1 ? DRAPE_ACT_RELU : DRAPE_ACT_NONE);
      drape_tensor_release (y);
      drape_tensor_release (acc);
      acc = sum;
    }
  logits = linear (graph, acc, model->cls_w, model->cls_b, NULL);
  drape_tensor_release (acc);

  if (hidden_states != NULL)
    for (guint i = 0; i < cfg->n_stages; i++)
      hidden_states[i] = stage_out[i];
  return logits;
}
