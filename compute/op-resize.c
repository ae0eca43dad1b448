/* op-resize.c: nearest and bilinear resampling
 *
 * The output is cut into tiles of (images, rows, columns, channels) whose
 * output range and input window each fit one binding; a tile's input
 * window is the span of source rows and columns its pixels read.  A
 * bilinear resize may add a residual of the output's shape and apply an
 * activation as it stores (resize_bilinear_add).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <math.h>

#include "graph-private.h"
#include "ops.h"

#define LOCAL_SIZE 256
/* The bindings the texel variants read as texel buffers: x and the
 * residual (x again where there is none). */
#define TEXEL_BINDINGS (1u << 0 | 1u << 2)

typedef struct {
  guint32 count, th, tw, tc;
  guint32 in_h, in_w, out_h, out_w;
  guint32 y0, x0, iy0, iy1, ix0, ix1;
  guint32 x_off, o_off, r_off, c, x_img, o_img;
  float scale_h, scale_w;
} ResizeParams;

typedef struct {
  gboolean bilinear;
  const DrapeTensor *x, *out;
  float scale_h, scale_w;
} Resize;

/* The lowest and highest source index that outputs first..last read
 * along an axis; both rules are monotonic in the output index. */
static void
source_window (gboolean  bilinear,
               float     scale,
               guint32   in,
               guint32   out,
               guint32   first,
               guint32   last,
               guint32  *lo,
               guint32  *hi)
{
  /* As the shader and PyTorch: float maths. */
  if (!bilinear)
    {
      *lo = MIN ((guint32) floorf ((float) first * scale), in - 1);
      *hi = MIN ((guint32) floorf ((float) last * scale), in - 1);
    }
  else
    {
      /* Clamped at 0, truncated. */
      float real_first = MAX (scale * ((float) first + 0.5f) - 0.5f, 0.0f);
      float real_last = MAX (scale * ((float) last + 0.5f) - 0.5f, 0.0f);
      guint32 i_last = MIN ((guint32) real_last, in - 1);

      *lo = MIN ((guint32) real_first, in - 1);
      *hi = i_last < in - 1 ? i_last + 1 : i_last;
    }
}

/* The most source indices any tile of `tile` outputs reads along an axis. */
static guint32
max_window (gboolean bilinear,
            float    scale,
            guint32  in,
            guint32  out,
            guint32  tile)
{
  guint32 most = 0;

  for (guint32 first = 0; first < out; first += tile)
    {
      guint32 lo, hi;
      source_window (bilinear, scale, in, out, first, MIN (first + tile, out) - 1, &lo, &hi);
      most = MAX (most, hi - lo + 1);
    }
  return most;
}

static guint64
box_span (const DrapeTensor *t,
             const guint32      tile[4])
{
  return (((guint64) (tile[0] - 1) * t->h + (tile[1] - 1)) * t->w + (tile[2] - 1)) * t->c + tile[3];
}

static guint64
input_span (const Resize  *r,
            const guint32  tile[4])
{
  const DrapeTensor *x = r->x;
  guint32 rows = max_window (r->bilinear, r->scale_h, x->h, r->out->h, tile[1]);
  guint32 cols = max_window (r->bilinear, r->scale_w, x->w, r->out->w, tile[2]);

  return (((guint64) (tile[0] - 1) * x->h + (rows - 1)) * x->w + (cols - 1)) * x->c + tile[3];
}

static DrapeTensor *
resize (DrapeGraph        *graph,
        gboolean           bilinear,
        const DrapeTensor *x,
        guint32            out_h,
        guint32            out_w,
        const DrapeTensor *residual,
        DrapeActivation    act)
{
  const char *label = residual ? "resize_bilinear_add" : bilinear ? "resize_bilinear" : "upsample_nearest";
  DrapeKernel *kernel;
  DrapeTensor *out;
  Resize r = { .bilinear = bilinear, .x = x };
  guint32 tile[4], o[4];
  DrapeDevice *device = drape_graph_get_device (graph);
  guint32 (*bind_in) (DrapeBinding *, const DrapeTensor *, guint64, guint64);
  guint64 usable;
  gsize es;
  gboolean vec4, texel;

  if (!drape_graph_check_tensor (graph, label, "x", x))
    return drape_graph_placeholder (graph, x ? x->dtype : DRAPE_DTYPE_F32, x ? x->n : 1,
                                    out_h, out_w, x ? x->c : 1);
  if (out_h == 0 || out_w == 0)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT, "%s: output size %u x %u is empty",
                        label, out_h, out_w);
      return drape_graph_placeholder (graph, x->dtype, x->n, out_h, out_w, x->c);
    }
  /* Indices are computed in float, exact below 2^24. */
  if (MAX (MAX (out_h, out_w), MAX (x->h, x->w)) > (1u << 24))
    {
      drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED,
                        "%s: resizing %u x %u to %u x %u is beyond float index maths",
                        label, x->h, x->w, out_h, out_w);
      return drape_graph_placeholder (graph, x->dtype, x->n, out_h, out_w, x->c);
    }

  if (residual != NULL && (residual->dtype != x->dtype || residual->n != x->n || residual->h != out_h ||
                           residual->w != out_w || residual->c != x->c))
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "%s: residual %s [%u %u %u %u] is not the output's %s [%u %u %u %u]", label,
                        drape_dtype_name (residual->dtype), residual->n, residual->h, residual->w,
                        residual->c, drape_dtype_name (x->dtype), x->n, out_h, out_w, x->c);
      return drape_graph_placeholder (graph, x->dtype, x->n, out_h, out_w, x->c);
    }

  out = drape_graph_tensor (graph, x->dtype, x->n, out_h, out_w, x->c);
  if (!drape_graph_ok (graph))
    return out;
  r.out = out;
  r.scale_h = (float) x->h / (float) out_h;
  r.scale_w = (float) x->w / (float) out_w;
  es = drape_dtype_size (x->dtype);
  usable = drape_graph_binding_limit (graph) - 256;

  /* Halve the outermost dimension that is not yet 1 until a tile fits. */
  tile[0] = x->n, tile[1] = out_h, tile[2] = out_w, tile[3] = x->c;
  while (box_span (out, tile) * es > usable || input_span (&r, tile) * es > usable)
    {
      guint d = 0;

      while (d < 4 && tile[d] == 1)
        d++;
      if (d == 4)
        {
          drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED,
                            "%s: x [%u %u %u %u] has rows too long for the device's binding "
                            "limit", label, x->n, x->h, x->w, x->c);
          return out;
        }
      tile[d] = (tile[d] + 1) / 2;
    }

  /* Four channels an invocation where every tile's channels and offsets
   * stay whole vec4s (drape_bind keeps offsets' alignment to 4
   * elements); on CPU drivers with shaderInt64, read through texel
   * buffers where x and the residual each fit one whole. */
  vec4 = x->c % 4 == 0 && tile[3] % 4 == 0;
  texel = vec4 && drape_graph_cpu_texels (graph) && drape_graph_fits_texels (graph, x) &&
          (residual == NULL || drape_graph_fits_texels (graph, residual));
  {
    guint32 spec[] = {
      LOCAL_SIZE, 1, 1, bilinear, vec4, residual != NULL, act, drape_device_get_caps (device)->stores_int64,
    };
    g_autofree char *variant = g_strconcat (drape_dtype_name (x->dtype), texel ? "_texel" : "", NULL);

    kernel = drape_graph_kernel_texel (graph, "resize", variant, 3, texel ? TEXEL_BINDINGS : 0, spec,
                                       G_N_ELEMENTS (spec));
  }
  bind_in = texel ? drape_bind_texel : drape_bind;
  for (o[0] = 0; o[0] < x->n; o[0] += tile[0])
    for (o[1] = 0; o[1] < out_h; o[1] += tile[1])
      for (o[2] = 0; o[2] < out_w; o[2] += tile[2])
        for (o[3] = 0; o[3] < x->c; o[3] += tile[3])
          {
            guint32 piece[4] = {
              MIN (tile[0], x->n - o[0]),
              MIN (tile[1], out_h - o[1]),
              MIN (tile[2], out_w - o[2]),
              MIN (tile[3], x->c - o[3]),
            };
            guint32 window[4];
            guint64 x_at, o_at;
            DrapeBinding bind[3];
            ResizeParams p;

            p = (ResizeParams) {
              .count = piece[0] * piece[1] * piece[2] * (vec4 ? piece[3] / 4 : piece[3]),
              .th = piece[1],
              .tw = piece[2],
              .tc = piece[3],
              .in_h = x->h,
              .in_w = x->w,
              .out_h = out_h,
              .out_w = out_w,
              .y0 = o[1],
              .x0 = o[2],
              .c = x->c,
              .x_img = (guint32) MIN ((guint64) x->h * x->w * x->c, (guint64) G_MAXUINT32),
              .o_img = (guint32) MIN ((guint64) out_h * out_w * x->c, (guint64) G_MAXUINT32),
              .scale_h = r.scale_h,
              .scale_w = r.scale_w,
            };
            source_window (bilinear, r.scale_h, x->h, out_h, o[1], o[1] + piece[1] - 1,
                           &p.iy0, &p.iy1);
            source_window (bilinear, r.scale_w, x->w, out_w, o[2], o[2] + piece[2] - 1,
                           &p.ix0, &p.ix1);
            window[0] = piece[0];
            window[1] = p.iy1 - p.iy0 + 1;
            window[2] = p.ix1 - p.ix0 + 1;
            window[3] = piece[3];
            x_at = (((guint64) o[0] * x->h + p.iy0) * x->w + p.ix0) * x->c + o[3];
            o_at = (((guint64) o[0] * out_h + o[1]) * out_w + o[2]) * x->c + o[3];
            p.x_off = bind_in (&bind[0], x, x_at * es, box_span (x, window) * es);
            p.o_off = drape_bind (&bind[1], out, o_at * es, box_span (out, piece) * es);
            /* Without a residual the binding is x's, never read. */
            if (residual != NULL)
              p.r_off = bind_in (&bind[2], residual, o_at * es, box_span (out, piece) * es);
            else
              bind[2] = bind[0];
            drape_graph_dispatch_flat (graph, kernel, bind, &p, sizeof p,
                                       drape_div_up (p.count, LOCAL_SIZE), 1, label,
                                       (bilinear ? 11.0 : 0.0) * p.count * (vec4 ? 4 : 1));
          }
  return out;
}

DrapeTensor *
drape_op_upsample_nearest (DrapeGraph        *graph,
                           const DrapeTensor *x,
                           guint32            out_h,
                           guint32            out_w)
{
  return resize (graph, FALSE, x, out_h, out_w, NULL, DRAPE_ACT_NONE);
}

DrapeTensor *
drape_op_resize_bilinear (DrapeGraph        *graph,
                          const DrapeTensor *x,
                          guint32            out_h,
                          guint32            out_w)
{
  return resize (graph, TRUE, x, out_h, out_w, NULL, DRAPE_ACT_NONE);
}

DrapeTensor *
drape_op_resize_bilinear_add (DrapeGraph        *graph,
                              const DrapeTensor *x,
                              const DrapeTensor *residual,
                              DrapeActivation    act)
{
  if (!drape_graph_check_tensor (graph, "resize_bilinear_add", "residual", residual))
    return drape_graph_placeholder (graph, x ? x->dtype : DRAPE_DTYPE_F32, x ? x->n : 1, 1, 1, x ? x->c : 1);
  return resize (graph, TRUE, x, residual->h, residual->w, residual, act);
}
