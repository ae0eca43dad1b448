/* layers.h: the building blocks the models share (resnets, attention,
 * normalisation, convolution), each looking up its weights by diffusers'
 * module names and appending its ops
 *
 * A model's forward function serves two purposes: with graph == NULL it
 * only looks up (checks, uploads) every weight it would use; with a graph
 * it also appends the ops.  Loading and running can thus never disagree
 * about which tensors a model needs.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "capture.h"
#include "ops.h"
#include "weights.h"

G_BEGIN_DECLS

typedef struct {
  DrapeWeights *weights;
  DrapeGraph *graph;       /* NULL while loading */
  DrapeCapture *capture;   /* or NULL */
  guint32 norm_groups;
  /* Resnets write conv1's output over its input, in bands of rows: the
   * memory of an activation saved where a model's memory peaks, for a
   * few more dispatches (the VAE's full-size blocks). */
  gboolean conv_over_input;
} DrapeLayers;

/* Conv2d named prefix.weight / prefix.bias, padding k / 2; `extra` (may be
 * NULL) supplies the epilogue: channel_bias, act, residual, out_scale. */
DrapeTensor *drape_layer_conv       (DrapeLayers           *l,
                                     const DrapeTensor     *x,
                                     const char            *prefix,
                                     guint32                cin,
                                     guint32                cout,
                                     guint32                k,
                                     guint32                stride,
                                     const DrapeConvParams *extra);
/* diffusers' Upsample2D: nearest to oh x ow, then the 3x3 convolution
 * prefix.weight / prefix.bias of c channels.  At twice x's size (always
 * while loading) as drape_op_conv2d_upsample2x on the weights' phases;
 * other sizes (a UNet's odd sizes on the way down) load the 3x3 kernel
 * itself when first recorded. */
DrapeTensor *drape_layer_upsample_conv (DrapeLayers       *l,
                                        const DrapeTensor *x,
                                        const char        *prefix,
                                        guint32            c,
                                        guint32            oh,
                                        guint32            ow);
/* Linear named prefix.weight (and prefix.bias when bias). */
DrapeTensor *drape_layer_linear     (DrapeLayers           *l,
                                     const DrapeTensor     *x,
                                     const char            *prefix,
                                     guint32                cin,
                                     guint32                cout,
                                     gboolean               bias,
                                     const DrapeConvParams *extra);
DrapeTensor *drape_layer_group_norm (DrapeLayers           *l,
                                     const DrapeTensor     *x,
                                     const char            *prefix,
                                     guint32                c,
                                     float                  eps,
                                     gboolean               silu);
/* drape_layer_group_norm() written over x (drape_op_group_norm_in_place). */
DrapeTensor *drape_layer_group_norm_in_place (DrapeLayers *l,
                                              DrapeTensor *x,
                                              const char  *prefix,
                                              guint32      c,
                                              float        eps,
                                              gboolean     silu);
DrapeTensor *drape_layer_layer_norm (DrapeLayers           *l,
                                     const DrapeTensor     *x,
                                     const char            *prefix,
                                     guint32                c,
                                     float                  eps);
/* *sum = x + prefix1 (x), then prefix2 (*sum): two LayerNorms in one pass. */
DrapeTensor *drape_layer_layer_norm_add_norm (DrapeLayers       *l,
                                              const DrapeTensor *x,
                                              const char        *prefix1,
                                              const char        *prefix2,
                                              guint32            c,
                                              float              eps,
                                              DrapeTensor      **sum);
/* diffusers' ResnetBlock2D (default time scale shift): norm1, SiLU, conv1
 * (+ time_emb_proj (temb_act) when temb_act is not NULL), norm2, SiLU,
 * conv2, + x or conv_shortcut (x). */
DrapeTensor *drape_layer_resnet     (DrapeLayers           *l,
                                     const DrapeTensor     *x,
                                     const char            *prefix,
                                     guint32                cin,
                                     guint32                cout,
                                     float                  eps,
                                     const DrapeTensor     *temb_act,
                                     guint32                temb_dim);
/* drape_layer_resnet() on *h, which it releases (as early as it can:
 * see layers.c) and replaces with the block's output. */
void         drape_layer_advance_resnet (DrapeLayers       *l,
                                         DrapeTensor      **h,
                                         const char        *prefix,
                                         guint32            cin,
                                         guint32            cout,
                                         float              eps,
                                         const DrapeTensor *temb_act,
                                         guint32            temb_dim);
/* drape_layer_upsample_conv (x, upsample, c, 2 x.h, 2 x.w) and then
 * drape_layer_resnet (prefix, c -> cout, no time embedding), without
 * ever holding the upsampled activation (a VAE decoder's largest, at
 * four times x's size): it is made afresh in bands of rows, for norm1's
 * statistics (4 `band` rows at a time) and for conv1 (2 `band`, with a
 * row either side); the shortcut, a 1x1 convolution folded into the
 * upsampler's phases (drape_weights_conv_upsample2x_then), is made from
 * x `band` rows (even) at a time, which conv2 adds as it writes over
 * conv1's output, running `band` + 1 rows ahead.  Two and a half times
 * the upsampler's work (at cout = c / 2), for x, conv1's output and some
 * bands in memory instead of the upsampled activation, conv1's output
 * and the shortcut's.  x (one image) is released; with a capture
 * that wants `capture_name`, the upsampled activation is also made whole
 * for it. */
DrapeTensor *drape_layer_upsample_resnet (DrapeLayers *l,
                                          DrapeTensor *x,
                                          const char  *upsample,
                                          const char  *capture_name,
                                          const char  *prefix,
                                          guint32      c,
                                          guint32      cout,
                                          float        eps,
                                          guint32      band);
/* diffusers' Attention as self-attention on already normalised n:
 * to_q, to_k, to_v (fused into one projection; with biases when
 * qkv_bias), heads, to_out.0, + residual. */
DrapeTensor *drape_layer_attention  (DrapeLayers           *l,
                                     const DrapeTensor     *n,
                                     const char            *prefix,
                                     guint32                c,
                                     guint32                heads,
                                     gboolean               qkv_bias,
                                     const DrapeTensor     *residual);
void         drape_layer_capture    (DrapeLayers           *l,
                                     const char            *name,
                                     const DrapeTensor     *t);
/* Replaces *h with next, releasing the old activation. */
void         drape_layer_advance    (DrapeTensor          **h,
                                     DrapeTensor           *next);

G_END_DECLS
