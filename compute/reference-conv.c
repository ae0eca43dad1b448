/* reference-conv.c: naive convolution, linear layers and GEGLU
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <math.h>

#include "reference.h"

void
drape_ref_conv2d (const float           *x,
                  DrapeShape             xs,
                  const float           *weight,
                  guint32                cout,
                  guint32                kh,
                  guint32                kw,
                  const DrapeConvParams *params,
                  const float           *bias,
                  const float           *channel_bias,
                  const float           *residual,
                  float                 *out,
                  DrapeShape            *out_shape)
{
  guint32 stride = params->stride ? params->stride : 1;
  guint32 groups = params->groups ? params->groups : 1;
  float scale = params->out_scale != 0.0f ? params->out_scale : 1.0f;
  guint32 cin_g = xs.c / groups, cout_g = cout / groups;
  guint32 oh = (xs.h + params->pad_top + params->pad_bottom - kh) / stride + 1;
  guint32 ow = (xs.w + params->pad_left + params->pad_right - kw) / stride + 1;

  *out_shape = (DrapeShape) { xs.n, oh, ow, cout };
  for (guint32 n = 0; n < xs.n; n++)
    for (guint32 oy = 0; oy < oh; oy++)
      for (guint32 ox = 0; ox < ow; ox++)
        for (guint32 co = 0; co < cout; co++)
          {
            guint32 g = co / cout_g;
            guint64 o = (((guint64) n * oh + oy) * ow + ox) * cout + co;
            double sum = 0;
            float v;

            for (guint32 ky = 0; ky < kh; ky++)
              for (guint32 kx = 0; kx < kw; kx++)
                {
                  gint64 iy = (gint64) oy * stride - params->pad_top + ky;
                  gint64 ix = (gint64) ox * stride - params->pad_left + kx;
                  const float *xp, *wp;

                  if (iy < 0 || iy >= xs.h || ix < 0 || ix >= xs.w)
                    continue;
                  xp = x + (((guint64) n * xs.h + iy) * xs.w + ix) * xs.c + (guint64) g * cin_g;
                  wp = weight + (((guint64) co * kh + ky) * kw + kx) * cin_g;
                  for (guint32 ci = 0; ci < cin_g; ci++)
                    sum += (double) xp[ci] * wp[ci];
                }
            if (bias != NULL)
              sum += bias[co];
            if (channel_bias != NULL)
              sum += channel_bias[(guint64) n * cout + co];
            v = drape_ref_activate (params->act, (float) sum);
            if (residual != NULL)
              v += residual[o];
            out[o] = v * scale;
          }
}

void
drape_ref_linear_geglu (const float *x,
                        DrapeShape   xs,
                        const float *weight,
                        guint32      out2,
                        const float *bias,
                        float       *out)
{
  guint32 f = out2 / 2;
  guint64 positions = (guint64) xs.n * xs.h * xs.w;

  for (guint64 m = 0; m < positions; m++)
    for (guint32 j = 0; j < f; j++)
      {
        const float *xp = x + m * xs.c;
        const float *wh = weight + (guint64) j * xs.c;
        const float *wg = weight + (guint64) (f + j) * xs.c;
        double h = bias != NULL ? bias[j] : 0;
        double g = bias != NULL ? bias[f + j] : 0;

        for (guint32 k = 0; k < xs.c; k++)
          {
            h += (double) xp[k] * wh[k];
            g += (double) xp[k] * wg[k];
          }
        out[m * f + j] = (float) (h * 0.5 * g * (1.0 + erf (g / G_SQRT2)));
      }
}
