/* selftest-cases-layers.c: selftest cases of the convolution, linear,
 * normalisation and attention ops (the table is in selftest.c)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <math.h>

#include "half.h"
#include "ops.h"
#include "selftest-private.h"

/* The dtype of kernels from f16 files (weights.h): f16 where the device
 * has it, whatever the activations'. */
static DrapeDType
file_f16_dtype (DrapeSelftest *st)
{
  DrapeDevice *device = drape_graph_get_device (drape_selftest_graph (st));

  return drape_device_get_caps (device)->has_f16 ? DRAPE_DTYPE_F16 : drape_selftest_dtype (st);
}

/* A 3 x 3 convolution of a resnet, with its bias and residual, and
 * weights of `wdtype`. */
static const DrapeTensor *
conv2d_case (DrapeSelftest *st,
             DrapeDType     wdtype)
{
  DrapeDType dtype = drape_selftest_dtype (st);
  DrapeShape xs = { 2, 32, 24, 64 }, ws = { 64, 3, 3, 64 }, bs = { 1, 1, 1, 64 };
  DrapeShape os = { xs.n, xs.h, xs.w, ws.n }, ref_shape;
  const float *x, *w, *b, *res;
  DrapeTensor *tx = drape_selftest_input (st, dtype, xs, 2.0f, &x);
  DrapeTensor *tw = drape_selftest_input (st, wdtype, ws, 1.0f / sqrtf (9 * 64), &w);
  DrapeTensor *tb = drape_selftest_input (st, dtype, bs, 0.5f, &b);
  DrapeTensor *tr = drape_selftest_input (st, dtype, os, 1.0f, &res);
  DrapeConvParams params = {
    .pad_top = 1, .pad_left = 1, .pad_bottom = 1, .pad_right = 1,
    .bias = tb,
    .residual = tr,
  };

  drape_ref_conv2d (x, xs, w, ws.n, ws.h, ws.w, &params, b, NULL, res,
                    drape_selftest_reference (st, drape_shape_numel (os)), &ref_shape);
  return drape_op_conv2d (drape_selftest_graph (st), tx, tw, &params);
}

static const DrapeTensor *
build_conv2d (DrapeSelftest *st)
{
  return conv2d_case (st, drape_selftest_dtype (st));
}

/* The same with the weights of an f16 file, as a UNet's are at f32. */
static const DrapeTensor *
build_conv2d_f16_weights (DrapeSelftest *st)
{
  return conv2d_case (st, file_f16_dtype (st));
}

/* A VAE decoder's upsampler: 2x nearest, then a 3 x 3 convolution with
 * its bias, as the four phases' 2 x 2 convolutions of the small input. */
static const DrapeTensor *
build_conv2d_upsample2x (DrapeSelftest *st)
{
  DrapeDType dtype = drape_selftest_dtype (st);
  DrapeShape xs = { 1, 16, 12, 64 }, ws = { 64, 3, 3, 64 }, bs = { 1, 1, 1, 64 };
  DrapeShape ups = { xs.n, 2 * xs.h, 2 * xs.w, xs.c }, ps = { 4 * ws.n, 2, 2, ws.c }, ref_shape;
  const float *x, *w, *b;
  DrapeTensor *tx = drape_selftest_input (st, dtype, xs, 2.0f, &x);
  DrapeTensor *tb = drape_selftest_input (st, dtype, bs, 0.5f, &b);
  float *oihw = drape_selftest_alloc (st, drape_shape_numel (ws));
  float *phases = drape_selftest_alloc (st, drape_shape_numel (ps));
  float *phases_nhwc = drape_selftest_alloc (st, drape_shape_numel (ps));
  float *up = drape_selftest_alloc (st, drape_shape_numel (ups));
  DrapeConvParams params = {
    .pad_top = 1, .pad_left = 1, .pad_bottom = 1, .pad_right = 1,
    .bias = tb,
  };

  drape_selftest_input (st, dtype, ws, 1.0f / sqrtf (9 * 64), &w);
  drape_nhwc_to_nchw (w, oihw, ws.n, ws.c, ws.h, ws.w);
  drape_conv_upsample2x_weights (oihw, ws.n, ws.c, phases);
  drape_nchw_to_nhwc (phases, phases_nhwc, ps.n, ps.c, ps.h, ps.w);
  drape_ref_upsample_nearest (x, xs, ups.h, ups.w, up);
  drape_ref_conv2d (up, ups, w, ws.n, ws.h, ws.w, &params, b, NULL, NULL,
                    drape_selftest_reference (st, (guint64) ups.n * ups.h * ups.w * ws.n), &ref_shape);
  return drape_op_conv2d_upsample2x (drape_selftest_graph (st), tx,
                                     drape_selftest_tensor (st, dtype, ps, phases_nhwc),
                                     &(DrapeConvParams) { .bias = tb });
}

/* A transformer block's projection: 768 tokens, 320 -> 320, with bias. */
static const DrapeTensor *
build_linear (DrapeSelftest *st)
{
  DrapeDType dtype = drape_selftest_dtype (st);
  DrapeShape xs = { 2, 16, 24, 320 }, ws = { 320, 1, 1, 320 }, bs = { 1, 1, 1, 320 };
  DrapeShape os = { xs.n, xs.h, xs.w, ws.n }, ref_shape;
  const float *x, *w, *b;
  DrapeTensor *tx = drape_selftest_input (st, dtype, xs, 2.0f, &x);
  DrapeTensor *tw = drape_selftest_input (st, dtype, ws, 1.0f / sqrtf (320), &w);
  DrapeTensor *tb = drape_selftest_input (st, dtype, bs, 0.5f, &b);
  DrapeConvParams params = { .bias = tb };

  /* A linear layer is a 1 x 1 convolution. */
  drape_ref_conv2d (x, xs, w, ws.n, 1, 1, &params, b, NULL, NULL,
                    drape_selftest_reference (st, drape_shape_numel (os)), &ref_shape);
  return drape_op_linear (drape_selftest_graph (st), tx, tw, &params);
}

/* A feed-forward's GEGLU: 384 tokens, 320 -> 2 x 640, with weights of
 * `wdtype`. */
static const DrapeTensor *
linear_geglu_case (DrapeSelftest *st,
                   DrapeDType     wdtype)
{
  DrapeDType dtype = drape_selftest_dtype (st);
  DrapeShape xs = { 1, 16, 24, 320 }, ws = { 1280, 1, 1, 320 }, bs = { 1, 1, 1, 1280 };
  const float *x, *w, *b;
  DrapeTensor *tx = drape_selftest_input (st, dtype, xs, 2.0f, &x);
  DrapeTensor *tw = drape_selftest_input (st, wdtype, ws, 1.0f / sqrtf (320), &w);
  DrapeTensor *tb = drape_selftest_input (st, dtype, bs, 0.5f, &b);

  drape_ref_linear_geglu (x, xs, w, ws.n, b,
                          drape_selftest_reference (st, (guint64) xs.n * xs.h * xs.w * ws.n / 2));
  return drape_op_linear_geglu (drape_selftest_graph (st), tx, tw, tb);
}

static const DrapeTensor *
build_linear_geglu (DrapeSelftest *st)
{
  return linear_geglu_case (st, drape_selftest_dtype (st));
}

static const DrapeTensor *
build_linear_geglu_f16_weights (DrapeSelftest *st)
{
  return linear_geglu_case (st, file_f16_dtype (st));
}

/* SD's GroupNorm: 32 groups, eps 1e-5, then SiLU, on values off centre
 * (a mean far from 0 is where a one-pass variance goes wrong). */
static const DrapeTensor *
build_group_norm (DrapeSelftest *st)
{
  DrapeDType dtype = drape_selftest_dtype (st);
  DrapeShape xs = { 2, 32, 24, 320 }, cs = { 1, 1, 1, 320 };
  guint64 n = drape_shape_numel (xs);
  float *x = drape_selftest_random (st, n, 2.0f);
  const float *gamma, *beta;
  DrapeTensor *tx, *tg, *tb;

  for (guint64 i = 0; i < n; i++)
    {
      x[i] += 3.0f;
      if (dtype == DRAPE_DTYPE_F16)
        x[i] = drape_half_to_float (drape_float_to_half (x[i]));
    }
  tx = drape_selftest_tensor (st, dtype, xs, x);
  tg = drape_selftest_input (st, dtype, cs, 1.0f, &gamma);
  tb = drape_selftest_input (st, dtype, cs, 0.5f, &beta);
  drape_ref_group_norm (x, xs, gamma, beta, 32, 1e-5f, TRUE, drape_selftest_reference (st, n));
  return drape_op_group_norm (drape_selftest_graph (st), tx, tg, tb, 32, 1e-5f, TRUE);
}

static const DrapeTensor *
build_layer_norm (DrapeSelftest *st)
{
  DrapeDType dtype = drape_selftest_dtype (st);
  DrapeShape xs = { 2, 32, 24, 320 }, cs = { 1, 1, 1, 320 };
  const float *x, *gamma, *beta;
  DrapeTensor *tx = drape_selftest_input (st, dtype, xs, 2.0f, &x);
  DrapeTensor *tg = drape_selftest_input (st, dtype, cs, 1.0f, &gamma);
  DrapeTensor *tb = drape_selftest_input (st, dtype, cs, 0.5f, &beta);

  drape_ref_layer_norm (x, xs, gamma, beta, 1e-5f,
                        drape_selftest_reference (st, drape_shape_numel (xs)));
  return drape_op_layer_norm (drape_selftest_graph (st), tx, tg, tb, 1e-5f);
}

static const DrapeTensor *
build_softmax (DrapeSelftest *st)
{
  DrapeShape xs = { 2, 32, 24, 320 };
  const float *x;
  DrapeTensor *tx = drape_selftest_input (st, drape_selftest_dtype (st), xs, 6.0f, &x);

  drape_ref_softmax (x, xs, drape_selftest_reference (st, drape_shape_numel (xs)));
  return drape_op_softmax (drape_selftest_graph (st), tx);
}

/* SD's self-attention at its top level, smaller: 384 tokens, 8 heads of
 * 40, from one fused QKV tensor. */
static const DrapeTensor *
build_attention (DrapeSelftest *st)
{
  const guint32 channels = 320, heads = 8;
  DrapeShape qkv = { 2, 16, 24, 3 * channels };
  DrapeShape os = { qkv.n, qkv.h, qkv.w, channels };
  float scale = 1.0f / sqrtf (channels / heads);
  const float *x;
  DrapeTensor *tx = drape_selftest_input (st, drape_selftest_dtype (st), qkv, 2.0f, &x);

  drape_ref_attention (x, qkv, 0, x, qkv, channels, x, qkv, 2 * channels, channels, heads, scale,
                       drape_selftest_reference (st, drape_shape_numel (os)));
  return drape_op_attention (drape_selftest_graph (st), tx, 0, tx, channels, tx, 2 * channels,
                             channels, heads, scale);
}

const DrapeSelftestCase drape_selftest_case_conv2d = { "conv2d", build_conv2d };
const DrapeSelftestCase drape_selftest_case_conv2d_f16_weights = { "conv2d_f16_weights",
                                                                    build_conv2d_f16_weights };
const DrapeSelftestCase drape_selftest_case_conv2d_upsample2x = { "conv2d_upsample2x",
                                                                   build_conv2d_upsample2x };
const DrapeSelftestCase drape_selftest_case_linear = { "linear", build_linear };
const DrapeSelftestCase drape_selftest_case_linear_geglu = { "linear_geglu", build_linear_geglu };
const DrapeSelftestCase drape_selftest_case_linear_geglu_f16_weights = {
  "linear_geglu_f16_weights", build_linear_geglu_f16_weights
};
const DrapeSelftestCase drape_selftest_case_group_norm = { "group_norm", build_group_norm };
const DrapeSelftestCase drape_selftest_case_layer_norm = { "layer_norm", build_layer_norm };
const DrapeSelftestCase drape_selftest_case_softmax = { "softmax", build_softmax };
const DrapeSelftestCase drape_selftest_case_attention = { "attention", build_attention };
