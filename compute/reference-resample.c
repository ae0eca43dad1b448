/* reference-resample.c: naive PIL-style 8-bit resampling
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "reference.h"

void
drape_ref_resample (const float               *x,
                    DrapeShape                 xs,
                    DrapeAxis                  axis,
                    const DrapeResampleFilter *filter,
                    float                     *out)
{
  guint32 oh = axis == DRAPE_AXIS_H ? filter->out_size : xs.h;
  guint32 ow = axis == DRAPE_AXIS_W ? filter->out_size : xs.w;

  for (guint32 n = 0; n < xs.n; n++)
    for (guint32 y = 0; y < oh; y++)
      for (guint32 xx = 0; xx < ow; xx++)
        for (guint32 c = 0; c < xs.c; c++)
          {
            guint32 a = axis == DRAPE_AXIS_H ? y : xx;
            gint64 sum = 1 << 21;
            for (guint32 t = 0; t < filter->count[a]; t++)
              {
                guint32 sy = axis == DRAPE_AXIS_H ? filter->first[a] + t : y;
                guint32 sx = axis == DRAPE_AXIS_W ? filter->first[a] + t : xx;
                gint64 v = (gint64) x[(((guint64) n * xs.h + sy) * xs.w + sx) * xs.c + c];
                sum += v * filter->taps[(guint64) a * filter->ksize + t];
              }
            out[(((guint64) n * oh + y) * ow + xx) * xs.c + c] = CLAMP (sum >> 22, 0, 255);
          }
}
