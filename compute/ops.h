/* ops.h: the op library
 *
 * Every op appends its dispatches to a graph and returns its result as a
 * new activation of that graph (NHWC, the dtype of its inputs unless said
 * otherwise).  Inputs may be activations of the same graph or tensors with
 * memory of their own (weights, inputs).  A wrong shape or dtype records an
 * error on the graph (see graph.h) and returns a placeholder.  Storage is
 * f32 or f16; sums are taken in f32 either way.  Every op splits its work
 * so that no binding exceeds the device's binding limit, or records an
 * error saying which operand is too large.
 *
 * Weight layouts (converted from PyTorch's on load):
 *   conv2d weight   [cout, kh, kw, cin / groups]  as n = cout, h = kh, w = kw, c
 *   linear weight   [out, in]                     as n = out, h = w = 1, c = in
 *   bias, norm gamma/beta                         as [1, 1, 1, c]
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "graph.h"

G_BEGIN_DECLS

typedef enum {
  DRAPE_ACT_NONE,
  DRAPE_ACT_SILU,
  DRAPE_ACT_GELU, /* exact, erf-based */
  DRAPE_ACT_RELU,
} DrapeActivation;

/* ---- elementwise ------------------------------------------------------- */

typedef enum {
  DRAPE_BINARY_ADD, /* alpha * a + beta * b */
  DRAPE_BINARY_MUL, /* alpha * a * b */
} DrapeBinaryOp;

/* b has a's shape, or is broadcast over positions as [a.n or 1, 1, 1, a.c]. */
DrapeTensor *drape_op_binary      (DrapeGraph        *graph,
                                   DrapeBinaryOp      op,
                                   const DrapeTensor *a,
                                   const DrapeTensor *b,
                                   float              alpha,
                                   float              beta);
DrapeTensor *drape_op_add         (DrapeGraph        *graph,
                                   const DrapeTensor *a,
                                   const DrapeTensor *b);
DrapeTensor *drape_op_mul         (DrapeGraph        *graph,
                                   const DrapeTensor *a,
                                   const DrapeTensor *b);
/* act (scale * x + shift) */
DrapeTensor *drape_op_unary       (DrapeGraph        *graph,
                                   const DrapeTensor *x,
                                   DrapeActivation    act,
                                   float              scale,
                                   float              shift);
DrapeTensor *drape_op_silu        (DrapeGraph        *graph,
                                   const DrapeTensor *x);
DrapeTensor *drape_op_gelu        (DrapeGraph        *graph,
                                   const DrapeTensor *x);
DrapeTensor *drape_op_scale       (DrapeGraph        *graph,
                                   const DrapeTensor *x,
                                   float              scale,
                                   float              shift);

/* ---- copies ------------------------------------------------------------ */

typedef enum {
  DRAPE_AXIS_N,
  DRAPE_AXIS_H,
  DRAPE_AXIS_W,
  DRAPE_AXIS_C,
} DrapeAxis;

/* x converted to dtype. */
DrapeTensor *drape_op_cast        (DrapeGraph        *graph,
                                   const DrapeTensor *x,
                                   DrapeDType         dtype);
/* Writes src into dst (same shape, any dtypes): how a graph fills a tensor
 * the caller owns, such as its output. */
void         drape_op_copy        (DrapeGraph        *graph,
                                   const DrapeTensor *src,
                                   DrapeTensor       *dst);
/* [a; b] along axis; the other dimensions must match. */
DrapeTensor *drape_op_concat      (DrapeGraph        *graph,
                                   DrapeAxis          axis,
                                   const DrapeTensor *a,
                                   const DrapeTensor *b);
/* x[start : start + count] along axis. */
DrapeTensor *drape_op_slice       (DrapeGraph        *graph,
                                   DrapeAxis          axis,
                                   const DrapeTensor *x,
                                   guint32            start,
                                   guint32            count);

/* Channels [c0, c0 + count) of x with positions and channels swapped:
 * out [x.n, count, 1, x.h * x.w], out[i, ch, 0, y * x.w + x] =
 * x[i, y, x, c0 + ch].  Each image must fit a binding. */
DrapeTensor *drape_op_transpose   (DrapeGraph        *graph,
                                   const DrapeTensor *x,
                                   guint32            c0,
                                   guint32            count);

/* ---- convolution and linear layers ------------------------------------- */

typedef struct {
  guint32 stride;          /* 0 means 1 */
  guint32 pad_top, pad_left, pad_bottom, pad_right;
  guint32 groups;          /* 0 means 1; x.c for depthwise */
  const DrapeTensor *bias;         /* [1, 1, 1, cout], or NULL */
  /* Added per image and channel after the bias, e.g. a resnet's time
   * embedding projection: [x.n, 1, 1, cout], or NULL. */
  const DrapeTensor *channel_bias;
  DrapeActivation act;     /* applied after the biases */
  /* Same shape as the output, added after the activation, or NULL. */
  const DrapeTensor *residual;
  float out_scale;         /* the result is multiplied by this; 0 means 1 */
} DrapeConvParams;

/* out[n, oy, ox, co] = epilogue (sum over ky, kx, ci of
 *   x[n, oy * stride - pad_top + ky, ox * stride - pad_left + kx, ci] * w[co, ky, kx, ci])
 * with zero padding; kernels up to 8 x 8. */
DrapeTensor *drape_op_conv2d      (DrapeGraph            *graph,
                                   const DrapeTensor     *x,
                                   const DrapeTensor     *weight,
                                   const DrapeConvParams *params);
/* drape_op_conv2d() written over x, which the caller gives up (it is
 * released): the output takes x's memory and, ahead of it, about a band's
 * worth of rows, and is computed in bands of rows from the top so that
 * no band overwrites rows it or a later one reads.  Saves an activation
 * where memory peaks, for a few more dispatches. */
DrapeTensor *drape_op_conv2d_over_input (DrapeGraph            *graph,
                                         DrapeTensor           *x,
                                         const DrapeTensor     *weight,
                                         const DrapeConvParams *params);
/* drape_op_conv2d() with acc as its residual, written over acc, which it
 * returns: acc = (act (conv (x) + biases) + acc) * out_scale.
 * params->residual must be NULL. */
DrapeTensor *drape_op_conv2d_accumulate (DrapeGraph            *graph,
                                         const DrapeTensor     *x,
                                         const DrapeTensor     *weight,
                                         const DrapeConvParams *params,
                                         DrapeTensor           *acc);
/* Rows [row0, row0 + rows) of drape_op_conv2d (x, weight, params),
 * written into rows [out_row0, out_row0 + rows) of out ([x.n, any, ow,
 * cout], x's type), with a residual of just those rows ([x.n, rows, ow,
 * cout]): how an output that is never held whole is computed a band at a
 * time. */
void         drape_op_conv2d_rows (DrapeGraph            *graph,
                                   const DrapeTensor     *x,
                                   const DrapeTensor     *weight,
                                   const DrapeConvParams *params,
                                   guint32                row0,
                                   guint32                rows,
                                   DrapeTensor           *out,
                                   guint32                out_row0);
/* drape_op_conv2d (upsample_nearest (x, 2 x.h, 2 x.w), w) for a 3x3
 * kernel w with padding 1, without the upsampled copy and with 4 taps per
 * output instead of 9: each of the output's four phases (its row and
 * column parities py, px) is a 2x2 convolution of x whose taps are sums
 * of w's.  phases: [4 cout, 2, 2, cin], phase 2 py + px first (from
 * drape_conv_upsample2x_weights).  Takes bias, channel_bias, act,
 * residual ([x.n, 2 x.h, 2 x.w, cout]) and out_scale from params, which
 * must leave stride, padding and groups unset.  Returns [x.n, 2 x.h,
 * 2 x.w, cout]. */
DrapeTensor *drape_op_conv2d_upsample2x (DrapeGraph            *graph,
                                         const DrapeTensor     *x,
                                         const DrapeTensor     *phases,
                                         const DrapeConvParams *params);
/* The same for rows of it, as drape_op_conv2d_rows (row0, rows and
 * out_row0 even). */
void         drape_op_conv2d_upsample2x_rows (DrapeGraph            *graph,
                                              const DrapeTensor     *x,
                                              const DrapeTensor     *phases,
                                              const DrapeConvParams *params,
                                              guint32                row0,
                                              guint32                rows,
                                              DrapeTensor           *out,
                                              guint32                out_row0);
/* The phases of drape_op_conv2d_upsample2x from 3x3 weights, both in
 * PyTorch's layout: w [cout, cin, 3, 3] -> out [4 cout, cin, 2, 2]. */
void         drape_conv_upsample2x_weights (const float *w,
                                            guint32      cout,
                                            guint32      cin,
                                            float       *out);
/* A linear layer over the channel dimension: x [n, h, w, in] -> [n, h, w, out].
 * Takes bias, act, residual and out_scale from params (which may be NULL). */
DrapeTensor *drape_op_linear      (DrapeGraph            *graph,
                                   const DrapeTensor     *x,
                                   const DrapeTensor     *weight,
                                   const DrapeConvParams *params);
/* diffusers' GEGLU: weight [2F, in], bias [2F]; with y = x W^T + b split
 * into halves (h, g) along channels, out = h * gelu (g): [n, h, w, F]. */
DrapeTensor *drape_op_linear_geglu (DrapeGraph           *graph,
                                   const DrapeTensor     *x,
                                   const DrapeTensor     *weight,
                                   const DrapeTensor     *bias);

/* ---- normalisation and attention --------------------------------------- */

/* Over each image's (h, w, c / groups) values per group; then gamma, beta
 * per channel; then SiLU if asked. */
DrapeTensor *drape_op_group_norm  (DrapeGraph        *graph,
                                   const DrapeTensor *x,
                                   const DrapeTensor *gamma,
                                   const DrapeTensor *beta,
                                   guint32            groups,
                                   float              eps,
                                   gboolean           silu);
/* drape_op_group_norm() written over x, which the caller no longer needs
 * as it was: returns x.  Saves an activation's memory where it peaks. */
DrapeTensor *drape_op_group_norm_in_place (DrapeGraph        *graph,
                                           DrapeTensor       *x,
                                           const DrapeTensor *gamma,
                                           const DrapeTensor *beta,
                                           guint32            groups,
                                           float              eps,
                                           gboolean           silu);
/* Group norm of an activation computed a band of rows at a time and
 * never held whole (one image of h rows): drape_op_group_norm_stats()
 * makes room for the statistics of each row, f32 [1, groups, h, 2];
 * drape_op_group_norm_stats_add() gathers those of rows [row0, row0 +
 * band.h) from a band of them; once every row's are in,
 * drape_op_group_norm_stats_finish() (w: the activation's width) gives
 * each channel's mean and scale (gamma / std), [1, 1, c, 2], with which
 * drape_op_group_norm_apply() normalises a band in place (then beta, and
 * SiLU if asked) and returns it: drape_op_group_norm() on the whole, but
 * for the order in which the rows' statistics are merged. */
DrapeTensor *drape_op_group_norm_stats (DrapeGraph        *graph,
                                        guint32            h,
                                        guint32            groups);
void         drape_op_group_norm_stats_add (DrapeGraph        *graph,
                                            DrapeTensor       *stats,
                                            const DrapeTensor *band,
                                            guint32            row0);
DrapeTensor *drape_op_group_norm_stats_finish (DrapeGraph        *graph,
                                               const DrapeTensor *stats,
                                               guint32            w,
                                               const DrapeTensor *gamma,
                                               float              eps);
DrapeTensor *drape_op_group_norm_apply (DrapeGraph        *graph,
                                        DrapeTensor       *band,
                                        const DrapeTensor *affine,
                                        const DrapeTensor *beta,
                                        gboolean           silu);
/* Over the channel dimension of every position. */
DrapeTensor *drape_op_layer_norm  (DrapeGraph        *graph,
                                   const DrapeTensor *x,
                                   const DrapeTensor *gamma,
                                   const DrapeTensor *beta,
                                   float              eps);
/* A layer norm added to its own input, then normed again, in one pass:
 * *sum = x + layer_norm (x; gamma1, beta1); returns layer_norm (*sum;
 * gamma2, beta2).  Each sum rounds to x's type, as two ops would. */
DrapeTensor *drape_op_layer_norm_add_norm (DrapeGraph        *graph,
                                           const DrapeTensor *x,
                                           const DrapeTensor *gamma1,
                                           const DrapeTensor *beta1,
                                           const DrapeTensor *gamma2,
                                           const DrapeTensor *beta2,
                                           float              eps,
                                           DrapeTensor      **sum);
/* Over the channel dimension of every position. */
DrapeTensor *drape_op_softmax     (DrapeGraph        *graph,
                                   const DrapeTensor *x);
/* softmax (x * scale), scale > 0, stored as dtype: x's, or f16 from f32
 * (attention probabilities from unrounded scores). */
DrapeTensor *drape_op_softmax_scaled (DrapeGraph        *graph,
                                      const DrapeTensor *x,
                                      float              scale,
                                      DrapeDType         dtype);

/* Multi-head scaled dot-product attention, tiled with an online softmax
 * (no tokens x tokens buffer).  Tokens are the h * w positions of each
 * image.  Q is channels [q_offset, q_offset + channels) of q, K and V
 * likewise of k and v (which may all be the same fused QKV tensor); head
 * i owns channels [i * d, (i + 1) * d), d = channels / heads.
 * out [q.n, q.h, q.w, channels] = softmax (Q K^T * scale) V per head. */
DrapeTensor *drape_op_attention   (DrapeGraph        *graph,
                                   const DrapeTensor *q,
                                   guint32            q_offset,
                                   const DrapeTensor *k,
                                   guint32            k_offset,
                                   const DrapeTensor *v,
                                   guint32            v_offset,
                                   guint32            channels,
                                   guint32            heads,
                                   float              scale);

/* ---- resampling -------------------------------------------------------- */

/* PyTorch's legacy 'nearest': source index floor (dst * in / out), with
 * PyTorch's float rounding: floor (dst * (float) in / out) (a few indices
 * in 10^4 differ from exact division, e.g. in 2, out 82, dst 41 -> 0). */
DrapeTensor *drape_op_upsample_nearest (DrapeGraph        *graph,
                                   const DrapeTensor *x,
                                   guint32            out_h,
                                   guint32            out_w);
/* Bilinear with align_corners false (half-pixel centres, no antialias). */
DrapeTensor *drape_op_resize_bilinear (DrapeGraph         *graph,
                                   const DrapeTensor *x,
                                   guint32            out_h,
                                   guint32            out_w);
/* act (resize_bilinear (x) + residual) in one pass, for sums of feature
 * maps of several resolutions: x resized to the residual's height and
 * width; the residual has x's images, channels and dtype. */
DrapeTensor *drape_op_resize_bilinear_add (DrapeGraph        *graph,
                                           const DrapeTensor *x,
                                           const DrapeTensor *residual,
                                           DrapeActivation    act);

/* ---- small ops --------------------------------------------------------- */

/* diffusers' get_timestep_embedding: t [n, 1, 1, 1] f32 (a tensor the host
 * rewrites before each run), out [n, 1, 1, dim] in out_dtype:
 * half = dim / 2, f_i = exp (-ln (10000) i / (half - freq_shift)),
 * [sin (t f), cos (t f)], or [cos, sin] when flip_sin_to_cos. */
DrapeTensor *drape_op_timestep_embedding (DrapeGraph        *graph,
                                   const DrapeTensor *t,
                                   guint32            dim,
                                   gboolean           flip_sin_to_cos,
                                   float              freq_shift,
                                   DrapeDType         out_dtype);
/* Index of the largest channel of every position, as f32: [n, h, w, 1]. */
DrapeTensor *drape_op_argmax      (DrapeGraph        *graph,
                                   const DrapeTensor *x);

/* ---- photos in, label maps out ------------------------------------------ */

/* The taps of one axis of PIL's Image.resize (BILINEAR) on 8-bit images:
 * the triangle filter, widened by the scale when downscaling, normalised
 * and rounded to 22-bit fixed point in double as Pillow does them.  Kept
 * for as long as the graphs that use it. */
typedef struct {
  guint32 in_size, out_size;
  guint32 ksize;       /* taps per output, some unused */
  guint32 *first;      /* the first input of every output */
  guint32 *count;      /* the taps it uses */
  gint32 *taps;        /* out_size x ksize */
  DrapeTensor *tensor; /* the same on the device */
} DrapeResampleFilter;

DrapeResampleFilter *drape_resample_filter_new_pil_bilinear (DrapeDevice *device,
                                   guint32            in_size,
                                   guint32            out_size,
                                   GError           **error);
void         drape_resample_filter_free (DrapeResampleFilter *filter);
/* One pass of PIL's 8-bit resampling along H or W: x holds levels 0..255
 * and so does the result, rounded and clamped as Pillow's fixed-point code
 * does, so both passes together (W, then H, as Pillow) give Pillow's image
 * level for level. */
DrapeTensor *drape_op_resample    (DrapeGraph        *graph,
                                   const DrapeTensor *x,
                                   DrapeAxis          axis,
                                   const DrapeResampleFilter *filter);
/* The index of the largest channel of x resized bilinearly to out_h x
 * out_w (as drape_op_resize_bilinear), without holding the resized
 * channels: [n, out_h, out_w, 1] f32.  Logits to a photo-sized label map. */
DrapeTensor *drape_op_resize_argmax (DrapeGraph      *graph,
                                   const DrapeTensor *x,
                                   guint32            out_h,
                                   guint32            out_w);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DrapeResampleFilter, drape_resample_filter_free)
/* ---- sampling ---------------------------------------------------------- */

/* Standard normals from Drape's counter-based generator (rng.h): element
 * i (NHWC order) of the result is normal i of the stream that `key`
 * names.  key is a [1, 1, 1, 4] f32 tensor holding four raw 32-bit words,
 * not float values: seed low, seed high, stream low, stream high
 * (drape_rng_key_set() writes them); the host rewrites it between
 * replays.  Equal to drape_rng_normal() on the CPU up to the GPU's
 * log/sin/cos precision. */
DrapeTensor *drape_op_randn       (DrapeGraph        *graph,
                                   const DrapeTensor *key,
                                   guint32            n,
                                   guint32            h,
                                   guint32            w,
                                   guint32            c,
                                   DrapeDType         dtype);
/* A sample of a VAE posterior: moments [n, h, w, 2c] = [mean | logvar]
 * along channels (quant_conv's output, f32 or f16), eps [n, h, w, c] f32
 * standard normals or NULL (then the mean).  out [n, h, w, c] f32 =
 * scale * (mean + exp (0.5 * clamp (logvar, -30, 20)) * eps). */
DrapeTensor *drape_op_gaussian_sample (DrapeGraph        *graph,
                                   const DrapeTensor *moments,
                                   const DrapeTensor *eps,
                                   float              scale);

/* The coefficients drape_op_denoise_step reads, laid out in this order in
 * its coeffs tensor: [1, 1, 1, DRAPE_DENOISE_N_COEFFS] f32, host-visible
 * (drape_tensor_new_host) so that the host rewrites them before each
 * replay.  scheduler.h fills one per step. */
typedef struct {
  float guidance;  /* classifier-free guidance scale */
  float x0_sample; /* x0 = x0_sample sample + x0_eps eps */
  float x0_eps;
  float c_sample;  /* next = c_sample sample + c_eps eps + c_x0 x0 */
  float c_eps;     /*      + c_prev_x0 x0_old + c_noise noise */
  float c_x0;
  float c_prev_x0;
  float c_noise;
} DrapeDenoiseCoeffs;

#define DRAPE_DENOISE_N_COEFFS ((guint32) (sizeof (DrapeDenoiseCoeffs) / sizeof (float)))

/* One sampler step, in place.  sample, x0 and noise are f32 [n, h, w, c];
 * noise_pred is f32 or f16, either [n, h, w, c] (no guidance) or
 * [2n, h, w, c] = [uncond; cond], guided as eps = u + g (c - u).  Then
 * x0_new = x0_sample sample + x0_eps eps, sample becomes
 * c_sample sample + c_eps eps + c_x0 x0_new + c_prev_x0 x0 + c_noise noise
 * and x0 becomes x0_new: each element is read and written by the same
 * invocation, so x0 carries DPM-Solver++'s history from step to step.  x0
 * and noise are read only where their coefficient is not 0 (x0 needs no
 * clearing before the first step).  noise may be NULL: no draw.  sample
 * and x0 must outlive the graph's runs: tensors of their own, not
 * activations. */
void         drape_op_denoise_step (DrapeGraph       *graph,
                                   const DrapeTensor *noise_pred,
                                   DrapeTensor       *sample,
                                   DrapeTensor       *x0,
                                   const DrapeTensor *noise,
                                   const DrapeTensor *coeffs);

G_END_DECLS
