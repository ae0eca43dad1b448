/* layers.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <math.h>

#include "layers.h"

static const DrapeTensor *
weight (DrapeLayers *l,
        const char  *prefix,
        const char  *leaf,
        guint32      cout,
        guint32      cin,
        guint32      k)
{
  g_autofree char *name = g_strdup_printf ("%s.%s", prefix, leaf);

  return k == 0 ? drape_weights_linear (l->weights, name, cout, cin)
                : drape_weights_conv (l->weights, name, cout, cin, k, k);
}

static const DrapeTensor *
vector (DrapeLayers *l,
        const char  *prefix,
        const char  *leaf,
        guint32      c)
{
  g_autofree char *name = g_strdup_printf ("%s.%s", prefix, leaf);

  return drape_weights_vector (l->weights, name, c);
}

/* A Conv2d's weight and its parameters: prefix.bias, padding k / 2, and
 * `extra`'s epilogue (may be NULL). */
static const DrapeTensor *
conv_weights (DrapeLayers           *l,
              const char            *prefix,
              guint32                cin,
              guint32                cout,
              guint32                k,
              guint32                stride,
              const DrapeConvParams *extra,
              DrapeConvParams       *p)
{
  *p = extra != NULL ? *extra : (DrapeConvParams) { 0 };
  p->bias = vector (l, prefix, "bias", cout);
  p->stride = stride;
  p->pad_top = p->pad_left = p->pad_bottom = p->pad_right = k / 2;
  return weight (l, prefix, "weight", cout, cin, k);
}

DrapeTensor *
drape_layer_conv (DrapeLayers           *l,
                  const DrapeTensor     *x,
                  const char            *prefix,
                  guint32                cin,
                  guint32                cout,
                  guint32                k,
                  guint32                stride,
                  const DrapeConvParams *extra)
{
  DrapeConvParams p;
  const DrapeTensor *w = conv_weights (l, prefix, cin, cout, k, stride, extra, &p);

  return l->graph ? drape_op_conv2d (l->graph, x, w, &p) : NULL;
}

DrapeTensor *
drape_layer_upsample_conv (DrapeLayers       *l,
                           const DrapeTensor *x,
                           const char        *prefix,
                           guint32            c,
                           guint32            oh,
                           guint32            ow)
{
  DrapeTensor *up, *out;

  if (l->graph == NULL || (oh == 2 * x->h && ow == 2 * x->w))
    {
      g_autofree char *name = g_strdup_printf ("%s.weight", prefix);
      const DrapeTensor *phases = drape_weights_conv_upsample2x (l->weights, name, c, c);
      DrapeConvParams p = { .bias = vector (l, prefix, "bias", c) };

      return l->graph ? drape_op_conv2d_upsample2x (l->graph, x, phases, &p) : NULL;
    }
  up = drape_op_upsample_nearest (l->graph, x, oh, ow);
  out = drape_layer_conv (l, up, prefix, c, c, 3, 1, NULL);
  drape_tensor_release (up);
  return out;
}

DrapeTensor *
drape_layer_linear (DrapeLayers           *l,
                    const DrapeTensor     *x,
                    const char            *prefix,
                    guint32                cin,
                    guint32                cout,
                    gboolean               bias,
                    const DrapeConvParams *extra)
{
  const DrapeTensor *w = weight (l, prefix, "weight", cout, cin, 0);
  DrapeConvParams p = { 0 };

  if (extra != NULL)
    p = *extra;
  p.bias = bias ? vector (l, prefix, "bias", cout) : NULL;
  if (l->graph == NULL)
    return NULL;
  return drape_op_linear (l->graph, x, w, &p);
}

/* `owned` is x when the result may overwrite it, else NULL. */
static DrapeTensor *
group_norm (DrapeLayers       *l,
            const DrapeTensor *x,
            DrapeTensor       *owned,
            const char        *prefix,
            guint32            c,
            float              eps,
            gboolean           silu)
{
  const DrapeTensor *g = vector (l, prefix, "weight", c);
  const DrapeTensor *b = vector (l, prefix, "bias", c);

  if (l->graph == NULL)
    return NULL;
  if (owned != NULL)
    return drape_op_group_norm_in_place (l->graph, owned, g, b, l->norm_groups, eps, silu);
  return drape_op_group_norm (l->graph, x, g, b, l->norm_groups, eps, silu);
}

DrapeTensor *
drape_layer_group_norm (DrapeLayers       *l,
                        const DrapeTensor *x,
                        const char        *prefix,
                        guint32            c,
                        float              eps,
                        gboolean           silu)
{
  return group_norm (l, x, NULL, prefix, c, eps, silu);
}

DrapeTensor *
drape_layer_group_norm_in_place (DrapeLayers *l,
                                 DrapeTensor *x,
                                 const char  *prefix,
                                 guint32      c,
                                 float        eps,
                                 gboolean     silu)
{
  return group_norm (l, x, x, prefix, c, eps, silu);
}

DrapeTensor *
drape_layer_layer_norm (DrapeLayers       *l,
                        const DrapeTensor *x,
                        const char        *prefix,
                        guint32            c,
                        float              eps)
{
  const DrapeTensor *g = vector (l, prefix, "weight", c);
  const DrapeTensor *b = vector (l, prefix, "bias", c);

  if (l->graph == NULL)
    return NULL;
  return drape_op_layer_norm (l->graph, x, g, b, eps);
}

DrapeTensor *
drape_layer_layer_norm_add_norm (DrapeLayers       *l,
                                 const DrapeTensor *x,
                                 const char        *prefix1,
                                 const char        *prefix2,
                                 guint32            c,
                                 float              eps,
                                 DrapeTensor      **sum)
{
  const DrapeTensor *g1 = vector (l, prefix1, "weight", c);
  const DrapeTensor *b1 = vector (l, prefix1, "bias", c);
  const DrapeTensor *g2 = vector (l, prefix2, "weight", c);
  const DrapeTensor *b2 = vector (l, prefix2, "bias", c);

  *sum = NULL;
  if (l->graph == NULL)
    return NULL;
  return drape_op_layer_norm_add_norm (l->graph, x, g1, b1, g2, b2, eps, sum);
}

void
drape_layer_advance (DrapeTensor **h,
                     DrapeTensor  *next)
{
  drape_tensor_release (*h);
  *h = next;
}

/* A ResnetBlock2D's module names. */
typedef struct {
  char *norm1, *conv1, *norm2, *conv2, *shortcut;
} ResnetNames;

static ResnetNames
resnet_names (const char *prefix)
{
  return (ResnetNames) {
    .norm1 = g_strdup_printf ("%s.norm1", prefix),
    .conv1 = g_strdup_printf ("%s.conv1", prefix),
    .norm2 = g_strdup_printf ("%s.norm2", prefix),
    .conv2 = g_strdup_printf ("%s.conv2", prefix),
    .shortcut = g_strdup_printf ("%s.conv_shortcut", prefix),
  };
}

static void
resnet_names_clear (ResnetNames *names)
{
  g_free (names->norm1);
  g_free (names->conv1);
  g_free (names->norm2);
  g_free (names->conv2);
  g_free (names->shortcut);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (ResnetNames, resnet_names_clear)

/* `owned` is x when the caller gives it up (else NULL): a shortcut
 * convolution reads it first, then norm1 overwrites it, so the block never
 * holds x, its normalised copy and conv1's output at once (a VAE
 * decoder's widest activations).  norm2 always overwrites conv1's output,
 * conv2 writes its sum over the shortcut's output or an owned x, and
 * where the layers say so conv1 writes over its normalised input. */
static DrapeTensor *
resnet (DrapeLayers       *l,
        const DrapeTensor *x,
        DrapeTensor       *owned,
        const char        *prefix,
        guint32            cin,
        guint32            cout,
        float              eps,
        const DrapeTensor *temb_act,
        guint32            temb_dim)
{
  g_auto(ResnetNames) names = resnet_names (prefix);
  g_autofree char *temb_proj = g_strdup_printf ("%s.time_emb_proj", prefix);
  gboolean in_place = owned != NULL && cin != cout;
  DrapeConvParams p1 = { 0 }, p2;
  const DrapeTensor *w1, *w2;
  DrapeTensor *h, *t = NULL, *shortcut = NULL, *out;

  if (in_place)
    {
      shortcut = drape_layer_conv (l, x, names.shortcut, cin, cout, 1, 1, NULL);
      h = drape_layer_group_norm_in_place (l, owned, names.norm1, cin, eps, TRUE);
    }
  else
    h = drape_layer_group_norm (l, x, names.norm1, cin, eps, TRUE);
  /* The time embedding's projection is conv1's per-image channel bias. */
  if (temb_dim > 0)
    t = drape_layer_linear (l, temb_act, temb_proj, temb_dim, cout, TRUE, NULL);
  p1.channel_bias = t;
  w1 = conv_weights (l, names.conv1, cin, cout, 3, 1, &p1, &p1);
  if (l->graph == NULL)
    out = NULL;
  else if (l->conv_over_input)
    out = drape_op_conv2d_over_input (l->graph, h, w1, &p1);
  else
    out = drape_op_conv2d (l->graph, h, w1, &p1);
  drape_tensor_release (h);
  drape_tensor_release (t);
  h = drape_layer_group_norm_in_place (l, out, names.norm2, cout, eps, TRUE);
  if (cin != cout && shortcut == NULL)
    shortcut = drape_layer_conv (l, x, names.shortcut, cin, cout, 1, 1, NULL);
  w2 = conv_weights (l, names.conv2, cout, cout, 3, 1, NULL, &p2);
  if (l->graph == NULL)
    out = NULL;
  else if (shortcut != NULL || owned != NULL)
    out = drape_op_conv2d_accumulate (l->graph, h, w2, &p2, shortcut ? shortcut : owned);
  else
    {
      p2.residual = x;
      out = drape_op_conv2d (l->graph, h, w2, &p2);
    }
  drape_tensor_release (h);
  return out;
}

/* Rows [row0, row0 + rows) (both even) of the upsampled convolution of x
 * whose phases and bias are given. */
static DrapeTensor *
upsampled_rows (DrapeLayers           *l,
                const DrapeTensor     *x,
                const DrapeTensor     *phases,
                const DrapeConvParams *p,
                guint32                row0,
                guint32                rows)
{
  DrapeTensor *band = drape_graph_tensor (l->graph, x->dtype, x->n, rows, 2 * x->w, phases->n / 4);

  drape_op_conv2d_upsample2x_rows (l->graph, x, phases, p, row0, rows, band, 0);
  return band;
}

DrapeTensor *
drape_layer_upsample_resnet (DrapeLayers *l,
                             DrapeTensor *x,
                             const char  *upsample,
                             const char  *capture_name,
                             const char  *prefix,
                             guint32      c,
                             guint32      cout,
                             float        eps,
                             guint32      band)
{
  g_auto(ResnetNames) names = resnet_names (prefix);
  g_autofree char *phases_name = g_strdup_printf ("%s.weight", upsample);
  const DrapeTensor *phases = drape_weights_conv_upsample2x (l->weights, phases_name, c, c);
  const DrapeTensor *gamma1 = vector (l, names.norm1, "weight", c);
  const DrapeTensor *beta1 = vector (l, names.norm1, "bias", c);
  const DrapeTensor *gamma2 = vector (l, names.norm2, "weight", cout);
  const DrapeTensor *beta2 = vector (l, names.norm2, "bias", cout);
  const DrapeTensor *w1, *w2, *shortcut = NULL;
  DrapeConvParams pu = { .bias = vector (l, upsample, "bias", c) }, p1, p2, ps = { 0 };
  DrapeTensor *stats, *affine, *h, *out;
  guint32 oh, ow;
  guint64 ahead;

  w1 = conv_weights (l, names.conv1, c, cout, 3, 1, NULL, &p1);
  w2 = conv_weights (l, names.conv2, cout, cout, 3, 1, NULL, &p2);
  /* The shortcut, a 1x1 convolution of the upsampled activation, is one
   * with the upsampler: from x in one pass of half the work. */
  if (c != cout)
    shortcut = drape_weights_conv_upsample2x_then (l->weights, upsample, names.shortcut, c, cout,
                                                   &ps.bias);
  if (l->graph == NULL)
    return NULL;
  if (x->n != 1 || band == 0 || band % 2 != 0)
    {
      drape_graph_fail (l->graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "%s: an upsampled resnet goes in bands of an even number of rows (not "
                        "%u) of one image (not %u)", prefix, band, x->n);
      return drape_graph_placeholder (l->graph, x->dtype, x->n, 2 * x->h, 2 * x->w, cout);
    }
  oh = 2 * x->h;
  ow = 2 * x->w;

  if (drape_capture_wants (l->capture, capture_name))
    {
      DrapeTensor *whole = upsampled_rows (l, x, phases, &pu, 0, oh);
      drape_layer_capture (l, capture_name, whole);
      drape_tensor_release (whole);
    }

  /* norm1's statistics, a band of the upsampled rows at a time.  Only
   * the last pass's bands set how far its output runs ahead of conv1's,
   * which the decoder holds to its end: the others take wider ones (fewer
   * and larger dispatches), while nothing else is held but x (here) or x
   * and conv1's output (next). */
  stats = drape_op_group_norm_stats (l->graph, oh, l->norm_groups);
  for (guint32 row0 = 0; row0 < oh; row0 += 4 * band)
    {
      DrapeTensor *u = upsampled_rows (l, x, phases, &pu, row0, MIN (4 * band, oh - row0));
      drape_op_group_norm_stats_add (l->graph, stats, u, row0);
      drape_tensor_release (u);
    }
  affine = drape_op_group_norm_stats_finish (l->graph, stats, ow, gamma1, eps);
  drape_tensor_release (stats);

  /* conv1 (norm1, SiLU) band by band, each from the upsampled rows it
   * reads: its own and a row either side (two, for the phases' pairs). */
  h = drape_graph_tensor (l->graph, x->dtype, 1, oh, ow, cout);
  for (guint32 row0 = 0; row0 < oh; row0 += 2 * band)
    {
      guint32 rows = MIN (2 * band, oh - row0);
      guint32 lo = row0 >= 2 ? row0 - 2 : 0, hi = MIN (row0 + rows + 2, oh);
      DrapeTensor *u = upsampled_rows (l, x, phases, &pu, lo, hi - lo);
      DrapeConvParams pb = p1;

      drape_op_group_norm_apply (l->graph, u, affine, beta1, TRUE);
      /* The band's padding is the image's only at the image's edges; its
       * output row j reads u's rows j - pad_top .. j - pad_top + 2. */
      pb.pad_top = lo == 0;
      pb.pad_bottom = hi == oh;
      drape_op_conv2d_rows (l->graph, u, w1, &pb, row0 - lo + pb.pad_top - 1, rows, h, row0);
      drape_tensor_release (u);
    }
  drape_tensor_release (affine);
  h = drape_op_group_norm_in_place (l->graph, h, gamma2, beta2, l->norm_groups, eps, TRUE);

  /* conv2 plus the shortcut's rows (or the upsampled rows themselves),
   * band by band, over h: the output runs a band and a row ahead of the
   * rows conv2 still reads. */
  ahead = (band + 1) * (guint64) ow * cout * drape_dtype_size (x->dtype);
  ahead = (ahead + DRAPE_GRAPH_ALIGNMENT - 1) / DRAPE_GRAPH_ALIGNMENT * DRAPE_GRAPH_ALIGNMENT;
  out = drape_graph_tensor_within (l->graph, h, -(gint64) ahead, x->dtype, 1, oh, ow, cout);
  for (guint32 row0 = 0; row0 < oh; row0 += band)
    {
      guint32 rows = MIN (band, oh - row0);
      DrapeTensor *u = shortcut ? upsampled_rows (l, x, shortcut, &ps, row0, rows)
                                : upsampled_rows (l, x, phases, &pu, row0, rows);
      DrapeConvParams pb = p2;

      pb.residual = u;
      drape_op_conv2d_rows (l->graph, h, w2, &pb, row0, rows, out, row0);
      drape_tensor_release (u);
    }
  drape_tensor_release (h);
  drape_tensor_release (x);
  return out;
}

DrapeTensor *
drape_layer_resnet (DrapeLayers       *l,
                    const DrapeTensor *x,
                    const char        *prefix,
                    guint32            cin,
                    guint32            cout,
                    float              eps,
                    const DrapeTensor *temb_act,
                    guint32            temb_dim)
{
  return resnet (l, x, NULL, prefix, cin, cout, eps, temb_act, temb_dim);
}

void
drape_layer_advance_resnet (DrapeLayers       *l,
                            DrapeTensor      **h,
                            const char        *prefix,
                            guint32            cin,
                            guint32            cout,
                            float              eps,
                            const DrapeTensor *temb_act,
                            guint32            temb_dim)
{
  *h = resnet (l, *h, *h, prefix, cin, cout, eps, temb_act, temb_dim);
}

DrapeTensor *
drape_layer_attention (DrapeLayers       *l,
                       const DrapeTensor *n,
                       const char        *prefix,
                       guint32            c,
                       guint32            heads,
                       gboolean           qkv_bias,
                       const DrapeTensor *residual)
{
  g_autofree char *to_q = g_strdup_printf ("%s.to_q.weight", prefix);
  g_autofree char *to_k = g_strdup_printf ("%s.to_k.weight", prefix);
  g_autofree char *to_v = g_strdup_printf ("%s.to_v.weight", prefix);
  g_autofree char *to_qkv = g_strdup_printf ("%s.to_qkv.weight", prefix);
  g_autofree char *bq = g_strdup_printf ("%s.to_q.bias", prefix);
  g_autofree char *bk = g_strdup_printf ("%s.to_k.bias", prefix);
  g_autofree char *bv = g_strdup_printf ("%s.to_v.bias", prefix);
  g_autofree char *bqkv = g_strdup_printf ("%s.to_qkv.bias", prefix);
  g_autofree char *to_out = g_strdup_printf ("%s.to_out.0", prefix);
  const char *w_names[] = { to_q, to_k, to_v };
  const char *b_names[] = { bq, bk, bv };
  DrapeConvParams pq = { 0 }, po = { .residual = residual };
  const DrapeTensor *w = drape_weights_linear_concat (l->weights, to_qkv, w_names, 3, c, c);
  DrapeTensor *qkv, *a, *out;

  pq.bias = qkv_bias ? drape_weights_vector_concat (l->weights, bqkv, b_names, 3, c) : NULL;
  qkv = l->graph ? drape_op_linear (l->graph, n, w, &pq) : NULL;
  a = l->graph ? drape_op_attention (l->graph, qkv, 0, qkv, c, qkv, 2 * c, c, heads,
                                     1.0f / sqrtf ((float) (c / heads)))
               : NULL;
  drape_tensor_release (qkv);
  out = drape_layer_linear (l, a, to_out, c, c, TRUE, &po);
  drape_tensor_release (a);
  return out;
}

void
drape_layer_capture (DrapeLayers       *l,
                     const char        *name,
                     const DrapeTensor *t)
{
  if (l->graph != NULL)
    drape_capture_take (l->capture, l->graph, name, t);
}
