/* op-small.c: the timestep embedding and argmax over channels
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <math.h>

#include "graph-private.h"
#include "ops.h"

#define LOCAL_SIZE 256

typedef struct {
  guint32 count, dim, half_dim, flip, t_off, o_off;
  float neg_log, denom;
} TimestepParams;

typedef struct {
  guint32 count, c, x_off, o_off;
} ArgmaxParams;

DrapeTensor *
drape_op_timestep_embedding (DrapeGraph        *graph,
                             const DrapeTensor *t,
                             guint32            dim,
                             gboolean           flip_sin_to_cos,
                             float              freq_shift,
                             DrapeDType         out_dtype)
{
  const char *label = "timestep_embedding";
  guint32 spec[] = { LOCAL_SIZE, 1, 1 };
  guint32 half = dim / 2;
  gsize es = drape_dtype_size (out_dtype);
  DrapeKernel *kernel;
  DrapeTensor *out;
  guint64 per_dispatch;
  /* diffusers divides by the Python float half - freq_shift, which torch
   * rounds to float32. */
  float denom = (float) ((double) half - freq_shift);

  if (!drape_graph_check_tensor (graph, label, "t", t))
    return drape_graph_placeholder (graph, out_dtype, t ? t->n : 1, 1, 1, dim);
  if (t->dtype != DRAPE_DTYPE_F32 || t->h != 1 || t->w != 1 || t->c != 1)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "%s: t must be f32 [n 1 1 1], not %s [%u %u %u %u]", label,
                        drape_dtype_name (t->dtype), t->n, t->h, t->w, t->c);
      return drape_graph_placeholder (graph, out_dtype, t->n, 1, 1, dim);
    }
  if (dim < 2 || !(denom > 0))
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "%s: dim %u with freq_shift %g leaves no frequencies (dim / 2 - "
                        "freq_shift must be positive)", label, dim, freq_shift);
      return drape_graph_placeholder (graph, out_dtype, t->n, 1, 1, dim);
    }

  out = drape_graph_tensor (graph, out_dtype, t->n, 1, 1, dim);
  kernel = drape_graph_kernel (graph, "timestep", out_dtype, 2, spec, G_N_ELEMENTS (spec));
  if ((guint64) dim * es > drape_graph_binding_limit (graph) - 256)
    {
      drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED,
                        "%s: one embedding of dim %u exceeds the device's binding limit", label, dim);
      return out;
    }
  /* Whole images per dispatch; an image's embedding (dim >= 2) is never
   * smaller than its f32 t. */
  per_dispatch = (drape_graph_binding_limit (graph) - 256) / (dim * es);

  for (guint64 first = 0; first < t->n; first += per_dispatch)
    {
      guint64 images = MIN (per_dispatch, t->n - first);
      DrapeBinding bind[2];
      TimestepParams p = {
        .count = images * dim,
        .dim = dim,
        .half_dim = half,
        .flip = flip_sin_to_cos != FALSE,
        .neg_log = (float) -log (10000.0),
        .denom = denom,
      };

      p.t_off = drape_bind (&bind[0], t, first * sizeof (float), images * sizeof (float));
      p.o_off = drape_bind (&bind[1], out, first * dim * es, images * dim * es);
      drape_graph_dispatch_flat (graph, kernel, bind, &p, sizeof p,
                                 drape_div_up (p.count, LOCAL_SIZE), 1, label, 0);
    }
  return out;
}

DrapeTensor *
drape_op_argmax (DrapeGraph        *graph,
                 const DrapeTensor *x)
{
  const char *label = "argmax";
  guint32 spec[] = { LOCAL_SIZE, 1, 1 };
  DrapeKernel *kernel;
  DrapeTensor *out;
  guint64 positions, chunk;
  gsize es;

  if (!drape_graph_check_tensor (graph, label, "x", x))
    return drape_graph_placeholder (graph, DRAPE_DTYPE_F32, x ? x->n : 1, x ? x->h : 1,
                                    x ? x->w : 1, 1);
  es = drape_dtype_size (x->dtype);
  if ((guint64) x->c * es > drape_graph_binding_limit (graph) - 256)
    {
      drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED,
                        "%s: x's %u channels exceed the device's binding limit", label, x->c);
      return drape_graph_placeholder (graph, DRAPE_DTYPE_F32, x->n, x->h, x->w, 1);
    }

  out = drape_graph_tensor (graph, DRAPE_DTYPE_F32, x->n, x->h, x->w, 1);
  kernel = drape_graph_kernel (graph, "argmax", x->dtype, 2, spec, G_N_ELEMENTS (spec));
  positions = (guint64) x->n * x->h * x->w;
  /* Whole channel vectors per dispatch, each also an f32 of output. */
  chunk = (drape_graph_binding_limit (graph) - 256) / MAX (x->c * es, sizeof (float));

  for (guint64 start = 0; start < positions; start += chunk)
    {
      guint64 count = MIN (chunk, positions - start);
      DrapeBinding bind[2];
      ArgmaxParams p = {
        .count = count,
        .c = x->c,
      };

      p.x_off = drape_bind (&bind[0], x, start * x->c * es, count * x->c * es);
      p.o_off = drape_bind (&bind[1], out, start * sizeof (float), count * sizeof (float));
      drape_graph_dispatch_flat (graph, kernel, bind, &p, sizeof p,
                                 drape_div_up (count, LOCAL_SIZE), 1, label, (double) count * x->c);
    }
  return out;
}
