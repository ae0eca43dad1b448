/* op-denoise.c: one sampler step in place, as a linear map
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "graph-private.h"
#include "ops.h"

#define LOCAL_SIZE 256

typedef struct {
  guint32 count, u_off, c_off, s_off, x_off, n_off;
} DenoiseParams;

static gboolean
check_latent (DrapeGraph        *graph,
              const char        *what,
              const DrapeTensor *t,
              const DrapeTensor *sample)
{
  if (t->dtype == DRAPE_DTYPE_F32 && drape_tensor_same_shape (t, sample))
    return TRUE;
  {
    g_autofree char *desc = drape_tensor_describe (t);
    drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                      "denoise_step: %s is %s; expected f32 [%u %u %u %u] like sample",
                      what, desc, sample->n, sample->h, sample->w, sample->c);
  }
  return FALSE;
}

void
drape_op_denoise_step (DrapeGraph        *graph,
                       const DrapeTensor *noise_pred,
                       DrapeTensor       *sample,
                       DrapeTensor       *x0,
                       const DrapeTensor *noise,
                       const DrapeTensor *coeffs)
{
  const char *label = "denoise_step";
  DrapeKernel *kernel;
  gboolean guided;
  guint64 total, chunk;
  gsize es;

  if (!drape_graph_check_tensor (graph, label, "noise_pred", noise_pred) ||
      !drape_graph_check_tensor (graph, label, "sample", sample) ||
      !drape_graph_check_tensor (graph, label, "x0", x0) ||
      !drape_graph_check_tensor (graph, label, "coeffs", coeffs) ||
      (noise != NULL && !drape_graph_check_tensor (graph, label, "noise", noise)))
    return;
  if (sample->graph != NULL || x0->graph != NULL)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "%s: sample and x0 carry state from run to run: they must be tensors "
                        "of their own, not activations", label);
      return;
    }
  if (sample->dtype != DRAPE_DTYPE_F32)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT, "%s: sample is %s; expected f32",
                        label, drape_dtype_name (sample->dtype));
      return;
    }
  if (!check_latent (graph, "x0", x0, sample) ||
      (noise != NULL && !check_latent (graph, "noise", noise, sample)))
    return;
  if (coeffs->dtype != DRAPE_DTYPE_F32 || drape_tensor_numel (coeffs) != DRAPE_DENOISE_N_COEFFS)
    {
      g_autofree char *desc = drape_tensor_describe (coeffs);
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "%s: coeffs is %s; expected f32 [1 1 1 %u]", label, desc,
                        DRAPE_DENOISE_N_COEFFS);
      return;
    }
  if (noise_pred->h != sample->h || noise_pred->w != sample->w || noise_pred->c != sample->c ||
      (noise_pred->n != sample->n && noise_pred->n != 2 * sample->n))
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "%s: noise_pred [%u %u %u %u] is neither sample's shape [%u %u %u %u] "
                        "nor [uncond; cond] of it", label, noise_pred->n, noise_pred->h,
                        noise_pred->w, noise_pred->c, sample->n, sample->h, sample->w, sample->c);
      return;
    }

  guided = noise_pred->n == 2 * sample->n;
  {
    guint32 spec[] = { LOCAL_SIZE, 1, 1, guided, noise != NULL };
    kernel = drape_graph_kernel (graph, "denoise", noise_pred->dtype, 6, spec,
                                 G_N_ELEMENTS (spec));
  }
  es = drape_dtype_size (noise_pred->dtype);
  total = drape_tensor_numel (sample);
  chunk = (drape_graph_binding_limit (graph) - 256) / 4;

  for (guint64 start = 0; start < total; start += chunk)
    {
      guint64 count = MIN (chunk, total - start);
      DrapeBinding bind[6];
      DenoiseParams p = { .count = count };

      drape_bind_all (&bind[0], coeffs);
      p.u_off = drape_bind (&bind[1], noise_pred, start * es, count * es);
      /* Unguided, the shader never reads cond, nor noise without one:
       * those bindings repeat a range already bound. */
      if (guided)
        p.c_off = drape_bind (&bind[2], noise_pred, (total + start) * es, count * es);
      else
        p.c_off = drape_bind (&bind[2], noise_pred, start * es, count * es);
      p.s_off = drape_bind (&bind[3], sample, start * 4, count * 4);
      p.x_off = drape_bind (&bind[4], x0, start * 4, count * 4);
      p.n_off = drape_bind (&bind[5], noise != NULL ? noise : sample, start * 4, count * 4);
      drape_graph_dispatch_flat (graph, kernel, bind, &p, sizeof p,
                                 drape_div_up (count, LOCAL_SIZE), 1, label, 14.0 * count);
    }
}
