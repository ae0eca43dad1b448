/* op-resample.c: PIL's 8-bit resampling, one axis per pass
 *
 * Pillow's Image.resize (ImagingResample) on 8-bit images runs a
 * horizontal pass then a vertical one; each output is a weighted sum of a
 * window of inputs, the weights being the filter sampled at the input
 * pixel centres, normalised, and rounded to fixed point with 22 fraction
 * bits; the sum starts at one half, is shifted back and clamped to 0..255,
 * so the image between the passes is 8-bit too.  When downscaling, the
 * filter is stretched by the scale (an antialiasing support of
 * scale x 1 pixels for BILINEAR).  The taps are computed here on the host
 * in double, the way Pillow does, because f32 on the GPU would round some
 * of them differently; the GPU applies them in integer arithmetic, so the
 * result is Pillow's, level for level.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <math.h>

#include "graph-private.h"
#include "ops.h"

#define LOCAL_SIZE 256
#define PRECISION_BITS (32 - 8 - 2)

typedef struct {
  guint32 count;     /* outputs in this dispatch */
  guint32 x_off, o_off;
  guint32 inner;     /* values per position along the axis (c, or w * c) */
  guint32 band_out;  /* axis positions of the output in this dispatch */
  guint32 a0;        /* the first of them */
  guint32 in_axis;   /* input positions per outer index in the bound range */
  guint32 in_base;   /* the first input position bound */
  guint32 stride;    /* floats per output in the filter tensor */
} ResampleParams;

static double
triangle (double x)
{
  x = fabs (x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

DrapeResampleFilter *
drape_resample_filter_new_pil_bilinear (DrapeDevice *device,
                                        guint32      in_size,
                                        guint32      out_size,
                                        GError     **error)
{
  g_autoptr(DrapeResampleFilter) f = g_new0 (DrapeResampleFilter, 1);
  g_autofree double *k = NULL;
  g_autofree float *packed = NULL;
  double scale, filterscale, support;

  if (in_size == 0 || out_size == 0)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                   "Resampling from %u to %u pixels: sizes must be positive", in_size, out_size);
      return NULL;
    }
  filterscale = scale = (double) in_size / out_size;
  if (filterscale < 1.0)
    filterscale = 1.0;
  support = 1.0 * filterscale;

  f->in_size = in_size;
  f->out_size = out_size;
  f->ksize = (guint32) ceil (support) * 2 + 1;
  f->first = g_new (guint32, out_size);
  f->count = g_new (guint32, out_size);
  f->taps = g_new0 (gint32, (gsize) out_size * f->ksize);
  k = g_new (double, f->ksize);

  for (guint32 xx = 0; xx < out_size; xx++)
    {
      double center = (xx + 0.5) * scale;
      double ss = 1.0 / filterscale, ww = 0.0;
      /* Pillow truncates toward zero after adding one half. */
      int xmin = (int) (center - support + 0.5);
      int xmax = (int) (center + support + 0.5);

      xmin = MAX (xmin, 0);
      xmax = MIN (xmax, (int) in_size) - xmin;
      for (int x = 0; x < xmax; x++)
        {
          k[x] = triangle ((x + xmin - center + 0.5) * ss);
          ww += k[x];
        }
      for (int x = 0; x < xmax; x++)
        {
          double v = ww != 0.0 ? k[x] / ww : k[x];
          f->taps[(gsize) xx * f->ksize + x] =
            (gint32) (v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
        }
      f->first[xx] = xmin;
      f->count[xx] = MAX (xmax, 0);
    }

  packed = g_new (float, (gsize) out_size * (f->ksize + 2));
  for (guint32 xx = 0; xx < out_size; xx++)
    {
      float *row = packed + (gsize) xx * (f->ksize + 2);
      row[0] = f->first[xx];
      row[1] = f->count[xx];
      for (guint32 t = 0; t < f->ksize; t++)
        row[2 + t] = f->taps[(gsize) xx * f->ksize + t];
    }
  f->tensor = drape_tensor_new (device, DRAPE_DTYPE_F32, 1, 1, out_size, f->ksize + 2, error);
  if (f->tensor == NULL ||
      !drape_tensor_upload (f->tensor, packed, (guint64) out_size * (f->ksize + 2), error))
    return NULL;
  return g_steal_pointer (&f);
}

void
drape_resample_filter_free (DrapeResampleFilter *filter)
{
  if (filter == NULL)
    return;
  drape_tensor_free (filter->tensor);
  g_free (filter->first);
  g_free (filter->count);
  g_free (filter->taps);
  g_free (filter);
}

/* The input positions that outputs [a0, a1) read: [lo, hi). */
static void
window (const DrapeResampleFilter *f,
        guint32                    a0,
        guint32                    a1,
        guint32                   *lo,
        guint32                   *hi)
{
  *lo = G_MAXUINT32;
  *hi = 0;
  for (guint32 a = a0; a < a1; a++)
    {
      *lo = MIN (*lo, f->first[a]);
      *hi = MAX (*hi, f->first[a] + f->count[a]);
    }
  if (*lo > *hi)
    *lo = *hi;
}

DrapeTensor *
drape_op_resample (DrapeGraph                *graph,
                   const DrapeTensor         *x,
                   DrapeAxis                  axis,
                   const DrapeResampleFilter *filter)
{
  const char *label = "resample";
  guint32 spec[] = { LOCAL_SIZE, 1, 1 };
  guint32 in_axis, outer, inner, oh, ow;
  guint64 limit, es;
  DrapeTensor *out;
  DrapeKernel *kernel;

  if (!drape_graph_check_tensor (graph, label, "x", x) ||
      !drape_graph_check_tensor (graph, label, "filter", filter ? filter->tensor : NULL))
    return drape_graph_placeholder (graph, x ? x->dtype : DRAPE_DTYPE_F32, 1, 1, 1, 1);
  if (axis != DRAPE_AXIS_H && axis != DRAPE_AXIS_W)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT, "%s: axis must be H or W", label);
      return drape_graph_placeholder (graph, x->dtype, x->n, x->h, x->w, x->c);
    }
  in_axis = axis == DRAPE_AXIS_H ? x->h : x->w;
  if (in_axis != filter->in_size)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "%s: x has %u positions along %s; the filter was made for %u",
                        label, in_axis, axis == DRAPE_AXIS_H ? "H" : "W", filter->in_size);
      return drape_graph_placeholder (graph, x->dtype, x->n, x->h, x->w, x->c);
    }
  oh = axis == DRAPE_AXIS_H ? filter->out_size : x->h;
  ow = axis == DRAPE_AXIS_W ? filter->out_size : x->w;
  out = drape_graph_tensor (graph, x->dtype, x->n, oh, ow, x->c);
  kernel = drape_graph_kernel (graph, "resample", x->dtype, 3, spec, G_N_ELEMENTS (spec));
  es = drape_dtype_size (x->dtype);
  /* Room for the binding's alignment slack. */
  limit = drape_graph_binding_limit (graph) - 256;
  if (drape_tensor_bytes (filter->tensor) > limit)
    {
      drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED, "%s: the filter is too large to bind", label);
      return out;
    }

  if (axis == DRAPE_AXIS_W)
    {
      /* Bands of whole rows. */
      guint64 row = (guint64) MAX (x->w, ow) * x->c * es;
      guint32 rows = (guint32) MIN (limit / row, (guint64) x->n * x->h);

      outer = x->n * x->h;
      inner = x->c;
      if (rows == 0)
        {
          drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED,
                            "%s: one row of %u x %u values exceeds the device's binding limit",
                            label, MAX (x->w, ow), x->c);
          return out;
        }
      for (guint32 r0 = 0; r0 < outer; r0 += rows)
        {
          guint32 n = MIN (rows, outer - r0);
          DrapeBinding bind[3];
          ResampleParams p = {
            .count = n * ow * inner, .inner = inner, .band_out = ow, .a0 = 0,
            .in_axis = x->w, .in_base = 0, .stride = filter->ksize + 2,
          };
          p.x_off = drape_bind (&bind[0], x, (guint64) r0 * x->w * inner * es, (guint64) n * x->w * inner * es);
          drape_bind_all (&bind[1], filter->tensor);
          p.o_off = drape_bind (&bind[2], out, (guint64) r0 * ow * inner * es, (guint64) n * ow * inner * es);
          drape_graph_dispatch_flat (graph, kernel, bind, &p, sizeof p, drape_div_up (p.count, LOCAL_SIZE),
                                     1, label, 2.0 * p.count * filter->ksize);
        }
      return out;
    }

  /* H: per image, bands of output rows whose input window fits. */
  inner = x->w * x->c;
  for (guint32 b = 0; b < x->n; b++)
    {
      guint32 a0 = 0;
      while (a0 < oh)
        {
          guint32 a1 = a0 + 1, lo, hi;
          DrapeBinding bind[3];
          ResampleParams p;

          window (filter, a0, a1, &lo, &hi);
          if ((guint64) inner * es > limit || (guint64) (hi - lo) * inner * es > limit)
            {
              drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED,
                                "%s: the %u input rows of one output row exceed the device's "
                                "binding limit", label, hi - lo);
              return out;
            }
          /* Grow the band while both ranges fit. */
          while (a1 < oh)
            {
              guint32 nlo = MIN (lo, filter->first[a1]);
              guint32 nhi = MAX (hi, filter->first[a1] + filter->count[a1]);
              if ((guint64) (a1 + 1 - a0) * inner * es > limit || (guint64) (nhi - nlo) * inner * es > limit)
                break;
              lo = nlo;
              hi = nhi;
              a1++;
            }
          p = (ResampleParams) {
            .count = (a1 - a0) * inner, .inner = inner, .band_out = a1 - a0, .a0 = a0,
            .in_axis = x->h, .in_base = lo, .stride = filter->ksize + 2,
          };
          p.x_off = drape_bind (&bind[0], x, ((guint64) b * x->h + lo) * inner * es,
                                (guint64) MAX (hi - lo, 1) * inner * es);
          drape_bind_all (&bind[1], filter->tensor);
          p.o_off = drape_bind (&bind[2], out, ((guint64) b * oh + a0) * inner * es,
                                (guint64) (a1 - a0) * inner * es);
          drape_graph_dispatch_flat (graph, kernel, bind, &p, sizeof p, drape_div_up (p.count, LOCAL_SIZE),
                                     1, label, 2.0 * p.count * filter->ksize);
          a0 = a1;
        }
    }
  return out;
}
