/* reference-norm.c: naive normalisations, softmax and attention
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <math.h>

#include "reference.h"

void
drape_ref_group_norm (const float *x,
                      DrapeShape   xs,
                      const float *gamma,
                      const float *beta,
                      guint32      groups,
                      float        eps,
                      gboolean     silu,
                      float       *out)
{
  guint64 positions = (guint64) xs.h * xs.w;
  guint32 cpg = xs.c / groups;

  for (guint32 n = 0; n < xs.n; n++)
    for (guint32 g = 0; g < groups; g++)
      {
        const float *img = x + n * positions * xs.c;
        double count = (double) positions * cpg;
        double sum = 0, dev = 0, mean, rstd;

        /* Two passes: the mean first, then squared deviations from it. */
        for (guint64 p = 0; p < positions; p++)
          for (guint32 i = 0; i < cpg; i++)
            sum += img[p * xs.c + g * cpg + i];
        mean = sum / count;
        for (guint64 p = 0; p < positions; p++)
          for (guint32 i = 0; i < cpg; i++)
            {
              double d = img[p * xs.c + g * cpg + i] - mean;
              dev += d * d;
            }
        rstd = 1.0 / sqrt (dev / count + eps);
        for (guint64 p = 0; p < positions; p++)
          for (guint32 i = 0; i < cpg; i++)
            {
              guint32 c = g * cpg + i;
              guint64 at = (n * positions + p) * xs.c + c;
              float y = (float) ((x[at] - mean) * rstd * gamma[c] + beta[c]);
              out[at] = silu ? drape_ref_activate (DRAPE_ACT_SILU, y) : y;
            }
      }
}

void
drape_ref_layer_norm (const float *x,
                      DrapeShape   xs,
                      const float *gamma,
                      const float *beta,
                      float        eps,
                      float       *out)
{
  guint64 rows = (guint64) xs.n * xs.h * xs.w;

  for (guint64 r = 0; r < rows; r++)
    {
      const float *row = x + r * xs.c;
      double sum = 0, dev = 0, mean, rstd;

      for (guint32 c = 0; c < xs.c; c++)
        sum += row[c];
      mean = sum / xs.c;
      for (guint32 c = 0; c < xs.c; c++)
        dev += (row[c] - mean) * (row[c] - mean);
      rstd = 1.0 / sqrt (dev / xs.c + eps);
      for (guint32 c = 0; c < xs.c; c++)
        out[r * xs.c + c] = (float) ((row[c] - mean) * rstd * gamma[c] + beta[c]);
    }
}

void
drape_ref_softmax (const float *x,
                   DrapeShape   xs,
                   float       *out)
{
  guint64 rows = (guint64) xs.n * xs.h * xs.w;

  for (guint64 r = 0; r < rows; r++)
    {
      const float *row = x + r * xs.c;
      double max = -INFINITY, sum = 0;

      for (guint32 c = 0; c < xs.c; c++)
        max = MAX (max, row[c]);
      for (guint32 c = 0; c < xs.c; c++)
        sum += exp (row[c] - max);
      for (guint32 c = 0; c < xs.c; c++)
        out[r * xs.c + c] = (float) (exp (row[c] - max) / sum);
    }
}

void
drape_ref_attention (const float *q,
                     DrapeShape   qs,
                     guint32      q_offset,
                     const float *k,
                     DrapeShape   ks,
                     guint32      k_offset,
                     const float *v,
                     DrapeShape   vs,
                     guint32      v_offset,
                     guint32      channels,
                     guint32      heads,
                     float        scale,
                     float       *out)
{
  guint64 tq = (guint64) qs.h * qs.w, tk = (guint64) ks.h * ks.w;
  guint32 d = channels / heads;
  g_autofree double *scores = g_new (double, tk);

  for (guint32 n = 0; n < qs.n; n++)
    for (guint32 h = 0; h < heads; h++)
      for (guint64 i = 0; i < tq; i++)
        {
          const float *qi = q + (n * tq + i) * qs.c + q_offset + h * d;
          double max = -INFINITY, sum = 0;

          for (guint64 j = 0; j < tk; j++)
            {
              const float *kj = k + (n * tk + j) * ks.c + k_offset + h * d;
              double dot = 0;

              for (guint32 e = 0; e < d; e++)
                dot += (double) qi[e] * kj[e];
              scores[j] = dot * scale;
              max = MAX (max, scores[j]);
            }
          for (guint64 j = 0; j < tk; j++)
            {
              scores[j] = exp (scores[j] - max);
              sum += scores[j];
            }
          for (guint32 e = 0; e < d; e++)
            {
              double acc = 0;

              for (guint64 j = 0; j < tk; j++)
                acc += scores[j] * v[(n * tk + j) * vs.c + v_offset + h * d + e];
              out[(n * tq + i) * channels + h * d + e] = (float) (acc / sum);
            }
        }
}
