/* op-resize-argmax.c: label map at any size from low-resolution scores
 *
 * Resizing 18 channels of logits to a 12-megapixel photo would hold
 * 0.9 GB in f32 just to take their argmax; this op interpolates each
 * output pixel's channels in registers (the arithmetic of
 * drape_op_resize_bilinear, i.e. PyTorch's bilinear with align_corners
 * false) and keeps only the index of the largest.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "graph-private.h"
#include "ops.h"

#define LOCAL_SIZE 256

typedef struct {
  guint32 count, o_off, row0;
  guint32 in_h, in_w, c, out_h, out_w;
  float scale_h, scale_w;
} ResizeArgmaxParams;

DrapeTensor *
drape_op_resize_argmax (DrapeGraph        *graph,
                        const DrapeTensor *x,
                        guint32            out_h,
                        guint32            out_w)
{
  const char *label = "resize_argmax";
  guint32 spec[] = { LOCAL_SIZE, 1, 1 };
  guint64 limit, rows_per_band, total_rows;
  DrapeTensor *out;
  DrapeKernel *kernel;

  if (!drape_graph_check_tensor (graph, label, "x", x))
    return drape_graph_placeholder (graph, DRAPE_DTYPE_F32, 1, MAX (out_h, 1), MAX (out_w, 1), 1);
  out = drape_graph_tensor (graph, DRAPE_DTYPE_F32, x->n, out_h, out_w, 1);
  kernel = drape_graph_kernel (graph, "resize_argmax", x->dtype, 2, spec, G_N_ELEMENTS (spec));
  limit = drape_graph_binding_limit (graph) - 256;
  if (drape_tensor_bytes (x) > limit)
    {
      drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED,
                        "%s: x (%" G_GUINT64_FORMAT " bytes) exceeds the device's binding limit",
                        label, drape_tensor_bytes (x));
      return out;
    }
  if (!drape_graph_ok (graph))
    return out;

  total_rows = (guint64) x->n * out_h;
  rows_per_band = MAX (limit / ((guint64) out_w * 4), 1);
  for (guint64 r0 = 0; r0 < total_rows; r0 += rows_per_band)
    {
      guint64 rows = MIN (rows_per_band, total_rows - r0);
      DrapeBinding bind[2];
      ResizeArgmaxParams p = {
        .count = rows * out_w, .row0 = r0,
        .in_h = x->h, .in_w = x->w, .c = x->c, .out_h = out_h, .out_w = out_w,
        /* As PyTorch: the ratio of the sizes, in f32. */
        .scale_h = (float) x->h / (float) out_h,
        .scale_w = (float) x->w / (float) out_w,
      };
      drape_bind_all (&bind[0], x);
      p.o_off = drape_bind (&bind[1], out, r0 * out_w * 4, rows * out_w * 4);
      drape_graph_dispatch_flat (graph, kernel, bind, &p, sizeof p, drape_div_up (p.count, LOCAL_SIZE),
                                 1, label, 8.0 * p.count * x->c);
    }
  return out;
}
