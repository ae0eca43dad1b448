/* op-randn.c: standard normals from Drape's counter-based generator
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "graph-private.h"
#include "ops.h"

#define LOCAL_SIZE 64

typedef struct {
  guint32 count, o_off, block0;
} RandnParams;

DrapeTensor *
drape_op_randn (DrapeGraph        *graph,
                const DrapeTensor *key,
                guint32            n,
                guint32            h,
                guint32            w,
                guint32            c,
                DrapeDType         dtype)
{
  guint32 spec[] = { LOCAL_SIZE, 1, 1 };
  DrapeTensor *out;
  DrapeKernel *kernel;
  guint64 total, chunk;
  gsize es = drape_dtype_size (dtype);

  if (!drape_graph_check_tensor (graph, "randn", "key", key))
    return drape_graph_placeholder (graph, dtype, n, h, w, c);
  if (key->dtype != DRAPE_DTYPE_F32 || drape_tensor_numel (key) != 4)
    {
      g_autofree char *desc = drape_tensor_describe (key);
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "randn: key must be f32 [1 1 1 4] (four raw words), not %s", desc);
      return drape_graph_placeholder (graph, dtype, n, h, w, c);
    }

  out = drape_graph_tensor (graph, dtype, n, h, w, c);
  if (!drape_graph_ok (graph))
    return out;
  total = drape_tensor_numel (out);
  /* The shader's block index is 32 bits: 2^34 normals per draw. */
  if (total / 4 >= G_MAXUINT32)
    {
      drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED,
                        "randn: %" G_GUINT64_FORMAT " values are more than one draw can make",
                        total);
      return out;
    }
  kernel = drape_graph_kernel (graph, "randn", dtype, 2, spec, G_N_ELEMENTS (spec));
  /* Chunks start on block boundaries so each invocation owns one block;
   * a little is kept back for the binding's alignment slack. */
  chunk = (drape_graph_binding_limit (graph) - 256) / es;
  chunk -= chunk % 4;

  for (guint64 start = 0; start < total; start += chunk)
    {
      guint64 count = MIN (chunk, total - start);
      DrapeBinding bind[2];
      RandnParams p = {
        .count = count,
        .block0 = start / 4,
      };

      drape_bind_all (&bind[0], key);
      p.o_off = drape_bind (&bind[1], out, start * es, count * es);
      drape_graph_dispatch_flat (graph, kernel, bind, &p, sizeof p,
                                 drape_div_up (drape_div_up (count, 4), LOCAL_SIZE), 1,
                                 "randn", 40.0 * count);
    }
  return out;
}
