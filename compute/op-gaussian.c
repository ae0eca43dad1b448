/* op-gaussian.c: sampling a VAE posterior from its moments
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "graph-private.h"
#include "ops.h"

#define LOCAL_SIZE 256

typedef struct {
  guint32 count, m_off, e_off, o_off, c;
  float scale;
} GaussianParams;

DrapeTensor *
drape_op_gaussian_sample (DrapeGraph        *graph,
                          const DrapeTensor *moments,
                          const DrapeTensor *eps,
                          float              scale)
{
  const char *label = "gaussian_sample";
  guint32 spec[] = { LOCAL_SIZE, 1, 1, eps != NULL };
  DrapeTensor *out;
  DrapeKernel *kernel;
  guint64 positions, chunk, limit;
  guint32 c;
  gsize es;

  if (!drape_graph_check_tensor (graph, label, "moments", moments) ||
      (eps != NULL && !drape_graph_check_tensor (graph, label, "eps", eps)))
    return drape_graph_placeholder (graph, DRAPE_DTYPE_F32, moments ? moments->n : 1,
                                    moments ? moments->h : 1, moments ? moments->w : 1,
                                    moments ? moments->c / 2 : 1);
  c = moments->c / 2;
  if (moments->c % 2 != 0)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "%s: moments have %u channels; expected an even number (mean | logvar)",
                        label, moments->c);
      return drape_graph_placeholder (graph, DRAPE_DTYPE_F32, moments->n, moments->h,
                                      moments->w, 1);
    }
  if (eps != NULL && (eps->dtype != DRAPE_DTYPE_F32 || eps->n != moments->n ||
                      eps->h != moments->h || eps->w != moments->w || eps->c != c))
    {
      g_autofree char *desc = drape_tensor_describe (eps);
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "%s: eps is %s; expected f32 [%u %u %u %u] for moments of %u channels",
                        label, desc, moments->n, moments->h, moments->w, c, moments->c);
      return drape_graph_placeholder (graph, DRAPE_DTYPE_F32, moments->n, moments->h,
                                      moments->w, c);
    }

  out = drape_graph_tensor (graph, DRAPE_DTYPE_F32, moments->n, moments->h, moments->w, c);
  if (!drape_graph_ok (graph))
    return out;
  kernel = drape_graph_kernel (graph, "gaussian", moments->dtype, 3, spec, G_N_ELEMENTS (spec));
  es = drape_dtype_size (moments->dtype);
  positions = (guint64) moments->n * moments->h * moments->w;
  /* Whole positions per dispatch, as many as the largest binding (the
   * moments' 2c values or the output's c f32 values) allows. */
  limit = drape_graph_binding_limit (graph) - 256;
  chunk = limit / MAX (2 * c * es, (guint64) c * 4);
  if (chunk == 0)
    {
      drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED,
                        "%s: %u channels at one position exceed a binding", label, moments->c);
      return out;
    }

  for (guint64 start = 0; start < positions; start += chunk)
    {
      guint64 count = MIN (chunk, positions - start);
      DrapeBinding bind[3];
      GaussianParams p = {
        .count = count * c,
        .c = c,
        .scale = scale,
      };

      p.m_off = drape_bind (&bind[0], moments, start * 2 * c * es, count * 2 * c * es);
      p.o_off = drape_bind (&bind[2], out, start * c * 4, count * c * 4);
      /* Without eps the shader never reads binding 1; any f32 range does. */
      p.e_off = drape_bind (&bind[1], eps != NULL ? eps : out, start * c * 4, count * c * 4);
      drape_graph_dispatch_flat (graph, kernel, bind, &p, sizeof p,
                                 drape_div_up (count * c, LOCAL_SIZE), 1, label,
                                 5.0 * count * c);
    }
  return out;
}
