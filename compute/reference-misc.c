/* reference-misc.c: naive concat, slice, resampling, timestep embedding
 * and argmax
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <math.h>

#include "reference.h"

static guint32
shape_dim (DrapeShape s,
           DrapeAxis  axis)
{
  guint32 dims[4] = { s.n, s.h, s.w, s.c };

  return dims[axis];
}

static guint64
shape_index (DrapeShape     s,
             const guint32  at[4])
{
  return (((guint64) at[0] * s.h + at[1]) * s.w + at[2]) * s.c + at[3];
}

void
drape_ref_concat (DrapeAxis    axis,
                  const float *a,
                  DrapeShape   as,
                  const float *b,
                  DrapeShape   bs,
                  float       *out)
{
  guint32 split = shape_dim (as, axis);
  DrapeShape os = as;
  guint32 at[4];

  switch (axis)
    {
    case DRAPE_AXIS_N: os.n += bs.n; break;
    case DRAPE_AXIS_H: os.h += bs.h; break;
    case DRAPE_AXIS_W: os.w += bs.w; break;
    case DRAPE_AXIS_C: default: os.c += bs.c; break;
    }
  for (at[0] = 0; at[0] < os.n; at[0]++)
    for (at[1] = 0; at[1] < os.h; at[1]++)
      for (at[2] = 0; at[2] < os.w; at[2]++)
        for (at[3] = 0; at[3] < os.c; at[3]++)
          {
            guint32 from[4] = { at[0], at[1], at[2], at[3] };

            if (at[axis] < split)
              out[shape_index (os, at)] = a[shape_index (as, from)];
            else
              {
                from[axis] -= split;
                out[shape_index (os, at)] = b[shape_index (bs, from)];
              }
          }
}

void
drape_ref_slice (DrapeAxis    axis,
                 const float *x,
                 DrapeShape   xs,
                 guint32      start,
                 guint32      count,
                 float       *out)
{
  DrapeShape os = xs;
  guint32 at[4];

  switch (axis)
    {
    case DRAPE_AXIS_N: os.n = count; break;
    case DRAPE_AXIS_H: os.h = count; break;
    case DRAPE_AXIS_W: os.w = count; break;
    case DRAPE_AXIS_C: default: os.c = count; break;
    }
  for (at[0] = 0; at[0] < os.n; at[0]++)
    for (at[1] = 0; at[1] < os.h; at[1]++)
      for (at[2] = 0; at[2] < os.w; at[2]++)
        for (at[3] = 0; at[3] < os.c; at[3]++)
          {
            guint32 from[4] = { at[0], at[1], at[2], at[3] };

            from[axis] += start;
            out[shape_index (os, at)] = x[shape_index (xs, from)];
          }
}

void
drape_ref_upsample_nearest (const float *x,
                            DrapeShape   xs,
                            guint32      out_h,
                            guint32      out_w,
                            float       *out)
{
  /* PyTorch takes the scale, and the product, in float. */
  float scale_h = (float) xs.h / (float) out_h, scale_w = (float) xs.w / (float) out_w;

  for (guint32 n = 0; n < xs.n; n++)
    for (guint32 y = 0; y < out_h; y++)
      for (guint32 xo = 0; xo < out_w; xo++)
        {
          guint64 sy = MIN ((guint32) floorf ((float) y * scale_h), xs.h - 1);
          guint64 sx = MIN ((guint32) floorf ((float) xo * scale_w), xs.w - 1);
          const float *src = x + (((guint64) n * xs.h + sy) * xs.w + sx) * xs.c;
          float *dst = out + (((guint64) n * out_h + y) * out_w + xo) * xs.c;

          for (guint32 c = 0; c < xs.c; c++)
            dst[c] = src[c];
        }
}

/* PyTorch's source coordinate for align_corners false: computed in
 * float, clamped at 0, truncated, the second tap clamped to the edge. */
static void
bilinear_source (guint32  in,
                 guint32  out,
                 guint32  dst,
                 guint32 *i0,
                 guint32 *i1,
                 float   *lambda)
{
  float scale = (float) in / (float) out;
  float real = scale * ((float) dst + 0.5f) - 0.5f;

  if (real < 0)
    real = 0;
  *i0 = MIN ((guint32) real, in - 1);
  *i1 = *i0 + 1 < in ? *i0 + 1 : *i0;
  *lambda = CLAMP (real - (float) *i0, 0.0f, 1.0f);
}

void
drape_ref_resize_bilinear (const float *x,
                           DrapeShape   xs,
                           guint32      out_h,
                           guint32      out_w,
                           float       *out)
{
  for (guint32 n = 0; n < xs.n; n++)
    for (guint32 y = 0; y < out_h; y++)
      for (guint32 xo = 0; xo < out_w; xo++)
        {
          guint32 y0, y1, x0, x1;
          float ly, lx;
          const float *img = x + (guint64) n * xs.h * xs.w * xs.c;
          float *dst = out + (((guint64) n * out_h + y) * out_w + xo) * xs.c;

          bilinear_source (xs.h, out_h, y, &y0, &y1, &ly);
          bilinear_source (xs.w, out_w, xo, &x0, &x1, &lx);
          for (guint32 c = 0; c < xs.c; c++)
            {
              double v00 = img[((guint64) y0 * xs.w + x0) * xs.c + c];
              double v01 = img[((guint64) y0 * xs.w + x1) * xs.c + c];
              double v10 = img[((guint64) y1 * xs.w + x0) * xs.c + c];
              double v11 = img[((guint64) y1 * xs.w + x1) * xs.c + c];

              dst[c] = (float) ((1.0 - ly) * ((1.0 - lx) * v00 + lx * v01) +
                                ly * ((1.0 - lx) * v10 + lx * v11));
            }
        }
}

/* Every step rounds to float as diffusers' float32 tensors do; only
 * exp, sin and cos are taken in double and rounded once. */
void
drape_ref_timestep_embedding (const float *t,
                              guint32      n,
                              guint32      dim,
                              gboolean     flip_sin_to_cos,
                              float        freq_shift,
                              float       *out)
{
  guint32 half = dim / 2;
  float neg_log = (float) -log (10000.0);
  float denom = (float) ((double) half - freq_shift);

  for (guint32 b = 0; b < n; b++)
    {
      float *row = out + (guint64) b * dim;

      for (guint32 i = 0; i < half; i++)
        {
          float exponent = neg_log * (float) i;
          float freq = (float) exp ((double) (exponent / denom));
          float arg = t[b] * freq;
          float s = (float) sin ((double) arg);
          float c = (float) cos ((double) arg);

          row[i] = flip_sin_to_cos ? c : s;
          row[half + i] = flip_sin_to_cos ? s : c;
        }
      if (dim % 2 == 1)
        row[dim - 1] = 0;
    }
}

/* torch.argmax: the first of equal maxima, NaN above everything. */
void
drape_ref_argmax (const float *x,
                  DrapeShape   xs,
                  float       *out)
{
  guint64 positions = (guint64) xs.n * xs.h * xs.w;

  for (guint64 i = 0; i < positions; i++)
    {
      const float *v = x + i * xs.c;
      guint32 best = 0;

      for (guint32 c = 1; c < xs.c && !isnan (v[best]); c++)
        if (v[c] > v[best] || isnan (v[c]))
          best = c;
      out[i] = (float) best;
    }
}
