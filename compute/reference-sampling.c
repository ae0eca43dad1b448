/* reference-sampling.c: naive posterior sampling and sampler step
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <math.h>

#include "reference.h"

void
drape_ref_gaussian_sample (const float *moments,
                           DrapeShape   ms,
                           const float *eps,
                           float        scale,
                           float       *out)
{
  guint32 c = ms.c / 2;
  guint64 positions = (guint64) ms.n * ms.h * ms.w;

  for (guint64 p = 0; p < positions; p++)
    for (guint32 ch = 0; ch < c; ch++)
      {
        double mean = moments[p * ms.c + ch];
        double logvar = CLAMP (moments[p * ms.c + c + ch], -30.0f, 20.0f);
        double e = eps != NULL ? eps[p * c + ch] : 0.0;
        out[p * c + ch] = (float) (scale * (mean + exp (0.5 * logvar) * e));
      }
}

void
drape_ref_denoise_step (const float              *noise_pred,
                        gboolean                  guided,
                        float                    *sample,
                        float                    *x0,
                        const float              *noise,
                        const DrapeDenoiseCoeffs *k,
                        guint64                   n_sample)
{
  for (guint64 i = 0; i < n_sample; i++)
    {
      double u = noise_pred[i];
      double eps = guided ? u + k->guidance * (noise_pred[n_sample + i] - u) : u;
      double s = sample[i];
      double x = k->x0_sample * s + k->x0_eps * eps;
      double next = k->c_sample * s + k->c_eps * eps + k->c_x0 * x;

      if (k->c_prev_x0 != 0)
        next += k->c_prev_x0 * (double) x0[i];
      if (noise != NULL && k->c_noise != 0)
        next += k->c_noise * (double) noise[i];
      sample[i] = (float) next;
      x0[i] = (float) x;
    }
}
