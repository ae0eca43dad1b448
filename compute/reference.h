/* reference.h: naive C versions of every op, the yardstick for the op
 * tests and for `drape-cli selftest`
 *
 * Plain loops over NHWC f32 arrays, written for clarity, not speed; the
 * same layouts and semantics as ops.h.  Sums are taken in double.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "ops.h"

G_BEGIN_DECLS

typedef struct {
  guint32 n, h, w, c;
} DrapeShape;

static inline guint64
drape_shape_numel (DrapeShape s)
{
  return (guint64) s.n * s.h * s.w * s.c;
}

float drape_ref_activate (DrapeActivation act,
                          float           x);

void drape_ref_binary     (DrapeBinaryOp op, const float *a, DrapeShape as,
                           const float *b, DrapeShape bs, float alpha, float beta,
                           float *out);
void drape_ref_unary      (const float *x, guint64 n, DrapeActivation act,
                           float scale, float shift, float *out);
void drape_ref_concat     (DrapeAxis axis, const float *a, DrapeShape as,
                           const float *b, DrapeShape bs, float *out);
void drape_ref_slice      (DrapeAxis axis, const float *x, DrapeShape xs,
                           guint32 start, guint32 count, float *out);
/* weight [cout, kh, kw, cin / groups]; bias [cout] or NULL; channel_bias
 * [n, cout] or NULL; residual of the output's shape or NULL.  Returns the
 * output shape through out_shape. */
void drape_ref_conv2d     (const float *x, DrapeShape xs, const float *weight,
                           guint32 cout, guint32 kh, guint32 kw,
                           const DrapeConvParams *params, const float *bias,
                           const float *channel_bias, const float *residual,
                           float *out, DrapeShape *out_shape);
void drape_ref_linear_geglu (const float *x, DrapeShape xs, const float *weight,
                           guint32 out2, const float *bias, float *out);
void drape_ref_group_norm (const float *x, DrapeShape xs, const float *gamma,
                           const float *beta, guint32 groups, float eps,
                           gboolean silu, float *out);
void drape_ref_layer_norm (const float *x, DrapeShape xs, const float *gamma,
                           const float *beta, float eps, float *out);
void drape_ref_softmax    (const float *x, DrapeShape xs, float *out);
/* q, k, v with their full channel counts and offsets, as drape_op_attention. */
void drape_ref_attention  (const float *q, DrapeShape qs, guint32 q_offset,
                           const float *k, DrapeShape ks, guint32 k_offset,
                           const float *v, DrapeShape vs, guint32 v_offset,
                           guint32 channels, guint32 heads, float scale,
                           float *out);
void drape_ref_upsample_nearest (const float *x, DrapeShape xs, guint32 out_h,
                           guint32 out_w, float *out);
void drape_ref_resize_bilinear (const float *x, DrapeShape xs, guint32 out_h,
                           guint32 out_w, float *out);
void drape_ref_timestep_embedding (const float *t, guint32 n, guint32 dim,
                           gboolean flip_sin_to_cos, float freq_shift,
                           float *out);
void drape_ref_argmax     (const float *x, DrapeShape xs, float *out);
void drape_ref_gaussian_sample (const float *moments, DrapeShape ms, const float *eps,
                           float scale, float *out);
/* noise_pred holds 2 n_sample values when guided (coeffs->guidance is
 * applied), else n_sample; noise may be NULL. */
void drape_ref_denoise_step (const float *noise_pred, gboolean guided, float *sample,
                           float *x0, const float *noise,
                           const DrapeDenoiseCoeffs *coeffs, guint64 n_sample);

/* One pass of drape_op_resample with the filter's host taps. */
void drape_ref_resample   (const float *x, DrapeShape xs, DrapeAxis axis,
                           const DrapeResampleFilter *filter, float *out);

G_END_DECLS
