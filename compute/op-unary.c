/* op-unary.c: elementwise act (scale * x + shift)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "graph-private.h"
#include "ops.h"

#define LOCAL_SIZE 256

typedef struct {
  guint32 count, x_off, o_off;
  float scale, shift;
} UnaryParams;

static const char *
unary_label (DrapeActivation act)
{
  switch (act)
    {
    case DRAPE_ACT_SILU:
      return "silu";
    case DRAPE_ACT_GELU:
      return "gelu";
    case DRAPE_ACT_RELU:
      return "relu";
    case DRAPE_ACT_NONE:
      return "scale";
    default:
      return "unary";
    }
}

DrapeTensor *
drape_op_unary (DrapeGraph        *graph,
                const DrapeTensor *x,
                DrapeActivation    act,
                float              scale,
                float              shift)
{
  const char *label = unary_label (act);
  guint32 spec[] = { LOCAL_SIZE, 1, 1, act };
  DrapeTensor *out;
  DrapeKernel *kernel;
  guint64 total, chunk;
  gsize es;

  if (!drape_graph_check_tensor (graph, label, "x", x))
    return drape_graph_placeholder (graph, x ? x->dtype : DRAPE_DTYPE_F32,
                                    x ? x->n : 1, x ? x->h : 1, x ? x->w : 1, x ? x->c : 1);
  if ((guint) act > DRAPE_ACT_RELU)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT, "%s: unknown activation %u",
                        label, (guint) act);
      return drape_graph_placeholder (graph, x->dtype, x->n, x->h, x->w, x->c);
    }

  out = drape_graph_tensor (graph, x->dtype, x->n, x->h, x->w, x->c);
  kernel = drape_graph_kernel (graph, "unary", x->dtype, 2, spec, G_N_ELEMENTS (spec));
  es = drape_dtype_size (x->dtype);
  total = drape_tensor_numel (x);
  /* Elementwise, so any split works; keep back room for the binding's
   * alignment slack. */
  chunk = (drape_graph_binding_limit (graph) - 256) / es;

  for (guint64 start = 0; start < total; start += chunk)
    {
      guint64 count = MIN (chunk, total - start);
      DrapeBinding bind[2];
      UnaryParams p = {
        .count = count,
        .scale = scale,
        .shift = shift,
      };

      p.x_off = drape_bind (&bind[0], x, start * es, count * es);
      p.o_off = drape_bind (&bind[1], out, start * es, count * es);
      drape_graph_dispatch_flat (graph, kernel, bind, &p, sizeof p,
                                 drape_div_up (count, 4 * LOCAL_SIZE), 1, label, (double) count);
    }
  return out;
}

DrapeTensor *
drape_op_silu (DrapeGraph        *graph,
               const DrapeTensor *x)
{
  return drape_op_unary (graph, x, DRAPE_ACT_SILU, 1.0f, 0.0f);
}

DrapeTensor *
drape_op_gelu (DrapeGraph        *graph,
               const DrapeTensor *x)
{
  return drape_op_unary (graph, x, DRAPE_ACT_GELU, 1.0f, 0.0f);
}

DrapeTensor *
drape_op_scale (DrapeGraph        *graph,
                const DrapeTensor *x,
                float              scale,
                float              shift)
{
  return drape_op_unary (graph, x, DRAPE_ACT_NONE, scale, shift);
}
