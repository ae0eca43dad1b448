/* op-binary.c: elementwise add and multiply with broadcasting
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "graph-private.h"
#include "ops.h"

#define LOCAL_SIZE 256

typedef struct {
  guint32 count, a_off, b_off, o_off, base, b_mode, c, hwc;
  float alpha, beta;
} BinaryParams;

DrapeTensor *
drape_op_binary (DrapeGraph        *graph,
                 DrapeBinaryOp      op,
                 const DrapeTensor *a,
                 const DrapeTensor *b,
                 float              alpha,
                 float              beta)
{
  const char *label = op == DRAPE_BINARY_ADD ? "add" : "mul";
  guint32 spec[] = { LOCAL_SIZE, 1, 1, op };
  DrapeTensor *out;
  DrapeKernel *kernel;
  guint32 b_mode;
  guint64 total, chunk;
  gsize es;

  if (!drape_graph_check_tensor (graph, label, "a", a) ||
      !drape_graph_check_tensor (graph, label, "b", b))
    return drape_graph_placeholder (graph, a ? a->dtype : DRAPE_DTYPE_F32,
                                    a ? a->n : 1, a ? a->h : 1, a ? a->w : 1, a ? a->c : 1);
  if (a->dtype != b->dtype)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT, "%s: a is %s but b is %s",
                        label, drape_dtype_name (a->dtype), drape_dtype_name (b->dtype));
      return drape_graph_placeholder (graph, a->dtype, a->n, a->h, a->w, a->c);
    }
  if (drape_tensor_same_shape (a, b))
    b_mode = 0;
  else if (b->h == 1 && b->w == 1 && b->c == a->c && b->n == 1)
    b_mode = 1;
  else if (b->h == 1 && b->w == 1 && b->c == a->c && b->n == a->n)
    b_mode = 2;
  else
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "%s: b [%u %u %u %u] neither matches a [%u %u %u %u] nor broadcasts "
                        "over its positions", label, b->n, b->h, b->w, b->c, a->n, a->h, a->w, a->c);
      return drape_graph_placeholder (graph, a->dtype, a->n, a->h, a->w, a->c);
    }

  out = drape_graph_tensor (graph, a->dtype, a->n, a->h, a->w, a->c);
  kernel = drape_graph_kernel (graph, "binary", a->dtype, 3, spec, G_N_ELEMENTS (spec));
  es = drape_dtype_size (a->dtype);
  total = drape_tensor_numel (a);
  /* Split into dispatches whose ranges each fit one binding; a chunk is a
   * whole number of channel vectors so broadcasting stays simple, and a
   * little is kept back for the binding's alignment slack. */
  chunk = (drape_graph_binding_limit (graph) - 256) / es;
  chunk -= chunk % a->c;
  if (b_mode != 0 && drape_tensor_bytes (b) > drape_graph_binding_limit (graph))
    {
      drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED, "%s: broadcast operand too large", label);
      return out;
    }

  for (guint64 start = 0; start < total; start += chunk)
    {
      guint64 count = MIN (chunk, total - start);
      DrapeBinding bind[3];
      BinaryParams p = {
        .count = count,
        .base = start,
        .b_mode = b_mode,
        .c = a->c,
        .hwc = a->h * a->w * a->c,
        .alpha = alpha,
        .beta = beta,
      };

      p.a_off = drape_bind (&bind[0], a, start * es, count * es);
      if (b_mode == 0)
        p.b_off = drape_bind (&bind[1], b, start * es, count * es);
      else
        drape_bind_all (&bind[1], b);
      p.o_off = drape_bind (&bind[2], out, start * es, count * es);
      drape_graph_dispatch_flat (graph, kernel, bind, &p, sizeof p,
                                 drape_div_up (count, LOCAL_SIZE), 1, label, (double) count);
    }
  return out;
}

DrapeTensor *
drape_op_add (DrapeGraph        *graph,
              const DrapeTensor *a,
              const DrapeTensor *b)
{
  return drape_op_binary (graph, DRAPE_BINARY_ADD, a, b, 1.0f, 1.0f);
}

DrapeTensor *
drape_op_mul (DrapeGraph        *graph,
              const DrapeTensor *a,
              const DrapeTensor *b)
{
  return drape_op_binary (graph, DRAPE_BINARY_MUL, a, b, 1.0f, 1.0f);
}
