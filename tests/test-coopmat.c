/* test-coopmat.c: the tensor-core (cooperative matrix) kernels against
 * the naive references
 *
 * f16 convolutions (3x3 and 1x1, strides 1 and 2, every epilogue, groups,
 * input channels that are not multiples of the 32-wide K stage, M and N
 * that are not multiples of any tile, batch 2), linear layers and GEGLU,
 * each with the tile the host picks and with every other tile forced
 * (DRAPE_CONV_KERNEL=coopmat:BMxBN); attention with head dims 40, 80 and
 * 160 (and 8 and 33), 1 and 8 heads, 77, 1000 and 4096 tokens, fused QKV,
 * fewer or more keys than queries, unaligned channel offsets, with the
 * default tiles and forced ones (DRAPE_ATTENTION_TILE).  Every
 * graph is profiled and must have run the ".coopmat" kernel and not the
 * scalar one.  The kernels run through the extension the device picked
 * (NV where it has both; DRAPE_COOPMAT=khr tests the KHR build of the same
 * shaders).  A device without cooperative matrices skips all of it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "test-common.h"

#include <math.h>
#include <string.h>

#include "ops.h"
#include "reference.h"

static const char *const conv_tiles[] = {
  NULL, "coopmat:128x128", "coopmat:128x64", "coopmat:64x128", "coopmat:64x64",
};

static const char *const geglu_tiles[] = {
  NULL, "coopmat:128x64", "coopmat:64x64", "coopmat:64x32",
};

static gboolean
have_coopmat (void)
{
  const DrapeDeviceCaps *caps = drape_device_get_caps (test_device ());

  if (caps->coopmat == DRAPE_COOPMAT_NONE)
    {
      g_test_skip (g_getenv ("DRAPE_COOPMAT") != NULL
                   ? "device has no cooperative matrix of the extension DRAPE_COOPMAT names"
                   : "device has no cooperative matrix");
      return FALSE;
    }
  g_test_message ("tensor cores through VK_%s_cooperative_matrix",
                  caps->coopmat == DRAPE_COOPMAT_KHR ? "KHR" : "NV");
  /* The profile is how the tests see which kernel ran. */
  g_assert_true (caps->has_timestamps);
  return TRUE;
}

/* Runs a profiled graph once; asserts that its dispatches were labelled
 * `op`.coopmat, none plain `op`. */
static void
run_expecting (DrapeGraph *graph,
               const char *op)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) profile = NULL;
  g_autofree char *coop = g_strconcat (op, ".coopmat", NULL);
  guint coop_runs = 0;

  drape_graph_compile (graph, &error);
  g_assert_no_error (error);
  drape_graph_run (graph, &error);
  g_assert_no_error (error);
  profile = drape_graph_get_profile (graph);
  for (guint i = 0; i < profile->len; i++)
    {
      const DrapeOpTime *t = &g_array_index (profile, DrapeOpTime, i);

      if (strcmp (t->label, coop) == 0)
        coop_runs += t->count;
      if (strcmp (t->label, op) == 0)
        g_error ("%s ran the scalar kernel", op);
    }
  if (coop_runs == 0)
    g_error ("%s did not run", coop);
}

static float *
random_data (guint64 n,
             guint32 seed,
             float   scale)
{
  float *data = g_new (float, MAX (n, 1));

  test_fill_random (data, n, seed, scale);
  test_quantize (data, n, DRAPE_DTYPE_F16);
  return data;
}

/* ---- convolutions ------------------------------------------------------ */

typedef struct {
  const char *name;
  guint32 n, h, w, cin, cout, kh, kw, stride;
  guint32 pad_top, pad_left, pad_bottom, pad_right, groups;
  gboolean bias, channel_bias, residual;
  DrapeActivation act;
  float out_scale;
} ConvCase;

static const ConvCase conv_cases[] = {
  { "3x3", 2, 9, 11, 32, 48, 3, 3, 1, 1, 1, 1, 1, 1, TRUE, FALSE, FALSE, DRAPE_ACT_SILU, 0 },
  { "3x3 stride 2 pad 0011, every epilogue", 2, 9, 10, 24, 40, 3, 3, 2, 0, 0, 1, 1, 1,
    TRUE, TRUE, TRUE, DRAPE_ACT_GELU, 0.7f },
  { "1x1", 2, 5, 7, 64, 80, 1, 1, 1, 0, 0, 0, 0, 1, FALSE, FALSE, TRUE, DRAPE_ACT_NONE, 1.5f },
  { "1x1 stride 2", 2, 8, 6, 16, 32, 1, 1, 2, 0, 0, 0, 0, 1, TRUE, FALSE, FALSE, DRAPE_ACT_RELU, 0 },
  { "3x3 8 channels", 1, 6, 5, 8, 16, 3, 3, 1, 1, 1, 1, 1, 1, FALSE, FALSE, FALSE, DRAPE_ACT_RELU, 0 },
  { "3x3 wide", 2, 12, 20, 64, 136, 3, 3, 1, 1, 1, 1, 1, 1, TRUE, TRUE, TRUE, DRAPE_ACT_SILU, 0 },
  { "3x3 groups 2", 2, 6, 7, 32, 48, 3, 3, 1, 1, 1, 1, 1, 2, TRUE, FALSE, FALSE, DRAPE_ACT_NONE, 0 },
  { "3x3 320 channels", 2, 16, 12, 320, 320, 3, 3, 1, 1, 1, 1, 1, 1, TRUE, TRUE, TRUE,
    DRAPE_ACT_SILU, 0 },
};

static void
check_conv (const ConvCase *cc,
            guint64         binding_limit)
{
  DrapeDevice *device = test_device ();
  const DrapeDType dt = DRAPE_DTYPE_F16;
  guint32 cin_g = cc->cin / cc->groups;
  guint32 oh = (cc->h + cc->pad_top + cc->pad_bottom - cc->kh) / cc->stride + 1;
  guint32 ow = (cc->w + cc->pad_left + cc->pad_right - cc->kw) / cc->stride + 1;
  guint64 nx = (guint64) cc->n * cc->h * cc->w * cc->cin;
  guint64 nw = (guint64) cc->cout * cc->kh * cc->kw * cin_g;
  guint64 no = (guint64) cc->n * oh * ow * cc->cout;
  g_autofree float *x = random_data (nx, 11, 1.0f);
  g_autofree float *wt = random_data (nw, 12, 1.0f / sqrtf (cc->kh * cc->kw * cin_g));
  g_autofree float *b = random_data (cc->cout, 13, 0.5f);
  g_autofree float *cb = random_data ((guint64) cc->n * cc->cout, 14, 0.5f);
  g_autofree float *r = random_data (no, 15, 1.0f);
  g_autofree float *ref = g_new (float, no);
  g_autoptr(DrapeTensor) tx = test_tensor_from (dt, cc->n, cc->h, cc->w, cc->cin, x);
  g_autoptr(DrapeTensor) tw = test_tensor_from (dt, cc->cout, cc->kh, cc->kw, cin_g, wt);
  g_autoptr(DrapeTensor) tb = test_tensor_from (dt, 1, 1, 1, cc->cout, b);
  g_autoptr(DrapeTensor) tcb = test_tensor_from (dt, cc->n, 1, 1, cc->cout, cb);
  g_autoptr(DrapeTensor) tr = test_tensor_from (dt, cc->n, oh, ow, cc->cout, r);
  DrapeConvParams params = {
    .stride = cc->stride,
    .pad_top = cc->pad_top,
    .pad_left = cc->pad_left,
    .pad_bottom = cc->pad_bottom,
    .pad_right = cc->pad_right,
    .groups = cc->groups,
    .bias = cc->bias ? tb : NULL,
    .channel_bias = cc->channel_bias ? tcb : NULL,
    .act = cc->act,
    .residual = cc->residual ? tr : NULL,
    .out_scale = cc->out_scale,
  };
  DrapeShape out_shape;

  drape_ref_conv2d (x, (DrapeShape) { cc->n, cc->h, cc->w, cc->cin }, wt, cc->cout, cc->kh, cc->kw,
                    &params, cc->bias ? b : NULL, cc->channel_bias ? cb : NULL,
                    cc->residual ? r : NULL, ref, &out_shape);

  for (guint i = 0; i < G_N_ELEMENTS (conv_tiles); i++)
    {
      g_autoptr(DrapeGraph) graph = drape_graph_new (device, "conv");
      g_autofree char *what = g_strdup_printf ("conv2d %s limit %" G_GUINT64_FORMAT " %s",
                                               cc->name, binding_limit,
                                               conv_tiles[i] ? conv_tiles[i] : "default tile");
      g_autofree float *got = NULL;
      DrapeTensor *out;

      if (conv_tiles[i] != NULL)
        g_setenv ("DRAPE_CONV_KERNEL", conv_tiles[i], TRUE);
      drape_graph_set_profiling (graph, TRUE);
      drape_device_set_binding_limit (device, binding_limit);
      out = drape_op_conv2d (graph, tx, tw, &params);
      drape_device_set_binding_limit (device, G_MAXUINT64);
      g_unsetenv ("DRAPE_CONV_KERNEL");
      if (binding_limit < G_MAXUINT64)
        g_assert_cmpuint (drape_graph_get_n_nodes (graph), >, 1);
      run_expecting (graph, "conv2d");
      g_assert_cmpuint (out->h, ==, oh);
      g_assert_cmpuint (out->w, ==, ow);
      got = test_download (out);
      test_assert_close (what, got, ref, no, test_tolerance (dt));
    }
}

static void
test_conv (void)
{
  if (!have_coopmat ())
    return;
  for (guint i = 0; i < G_N_ELEMENTS (conv_cases); i++)
    check_conv (&conv_cases[i], G_MAXUINT64);
  /* Column chunks and row bands of 4096-byte bindings. */
  check_conv (&conv_cases[0], 4096);
  check_conv (&conv_cases[1], 4096);
  test_assert_no_validation_messages ();
}

/* ---- linear layers and GEGLU ------------------------------------------- */

typedef struct {
  guint32 n, h, w, in, out;
  gboolean bias, residual;
  DrapeActivation act;
  float out_scale;
} LinearCase;

static const LinearCase linear_cases[] = {
  { 2, 7, 9, 320, 320, TRUE, TRUE, DRAPE_ACT_NONE, 0 },
  { 1, 40, 50, 48, 200, TRUE, FALSE, DRAPE_ACT_GELU, 0 },
  { 2, 1, 1, 64, 40, FALSE, TRUE, DRAPE_ACT_SILU, 0.5f },
};

static void
check_linear (const LinearCase *lc)
{
  DrapeDevice *device = test_device ();
  const DrapeDType dt = DRAPE_DTYPE_F16;
  guint64 pos = (guint64) lc->n * lc->h * lc->w;
  g_autofree float *x = random_data (pos * lc->in, 21, 1.0f);
  g_autofree float *wt = random_data ((guint64) lc->out * lc->in, 22, 1.0f / sqrtf (lc->in));
  g_autofree float *b = random_data (lc->out, 23, 0.5f);
  g_autofree float *r = random_data (pos * lc->out, 24, 1.0f);
  g_autofree float *ref = g_new (float, pos * lc->out);
  g_autoptr(DrapeTensor) tx = test_tensor_from (dt, lc->n, lc->h, lc->w, lc->in, x);
  g_autoptr(DrapeTensor) tw = test_tensor_from (dt, lc->out, 1, 1, lc->in, wt);
  g_autoptr(DrapeTensor) tb = test_tensor_from (dt, 1, 1, 1, lc->out, b);
  g_autoptr(DrapeTensor) tr = test_tensor_from (dt, lc->n, lc->h, lc->w, lc->out, r);
  DrapeConvParams params = {
    .bias = lc->bias ? tb : NULL,
    .act = lc->act,
    .residual = lc->residual ? tr : NULL,
    .out_scale = lc->out_scale,
  };
  DrapeShape out_shape;

  drape_ref_conv2d (x, (DrapeShape) { lc->n, lc->h, lc->w, lc->in }, wt, lc->out, 1, 1, &params,
                    lc->bias ? b : NULL, NULL, lc->residual ? r : NULL, ref, &out_shape);
  for (guint i = 0; i < G_N_ELEMENTS (conv_tiles); i++)
    {
      g_autoptr(DrapeGraph) graph = drape_graph_new (device, "linear");
      g_autofree char *what = g_strdup_printf ("linear %u positions %ux%u %s", (guint) pos,
                                               lc->in, lc->out,
                                               conv_tiles[i] ? conv_tiles[i] : "default tile");
      g_autofree float *got = NULL;
      DrapeTensor *out;

      if (conv_tiles[i] != NULL)
        g_setenv ("DRAPE_CONV_KERNEL", conv_tiles[i], TRUE);
      drape_graph_set_profiling (graph, TRUE);
      out = drape_op_linear (graph, tx, tw, &params);
      g_unsetenv ("DRAPE_CONV_KERNEL");
      run_expecting (graph, "linear");
      got = test_download (out);
      test_assert_close (what, got, ref, pos * lc->out, test_tolerance (dt));
    }
}

typedef struct {
  guint32 n, h, w, in, f;
  gboolean bias;
} GegluCase;

static const GegluCase geglu_cases[] = {
  { 2, 8, 10, 64, 72, TRUE },
  { 1, 20, 30, 320, 1280, TRUE },
  { 1, 3, 5, 40, 24, FALSE },
};

static void
check_geglu (const GegluCase *gc)
{
  DrapeDevice *device = test_device ();
  const DrapeDType dt = DRAPE_DTYPE_F16;
  guint64 pos = (guint64) gc->n * gc->h * gc->w;
  g_autofree float *x = random_data (pos * gc->in, 31, 1.0f);
  g_autofree float *wt = random_data (2ull * gc->f * gc->in, 32, 2.0f / sqrtf (gc->in));
  g_autofree float *b = random_data (2ull * gc->f, 33, 0.5f);
  g_autofree float *ref = g_new (float, pos * gc->f);
  g_autoptr(DrapeTensor) tx = test_tensor_from (dt, gc->n, gc->h, gc->w, gc->in, x);
  g_autoptr(DrapeTensor) tw = test_tensor_from (dt, 2 * gc->f, 1, 1, gc->in, wt);
  g_autoptr(DrapeTensor) tb = test_tensor_from (dt, 1, 1, 1, 2 * gc->f, b);

  drape_ref_linear_geglu (x, (DrapeShape) { gc->n, gc->h, gc->w, gc->in }, wt, 2 * gc->f,
                          gc->bias ? b : NULL, ref);
  for (guint i = 0; i < G_N_ELEMENTS (geglu_tiles); i++)
    {
      g_autoptr(DrapeGraph) graph = drape_graph_new (device, "geglu");
      g_autofree char *what = g_strdup_printf ("linear_geglu %u positions %ux%u %s", (guint) pos,
                                               gc->in, gc->f,
                                               geglu_tiles[i] ? geglu_tiles[i] : "default tile");
      g_autofree float *got = NULL;
      DrapeTensor *out;

      if (geglu_tiles[i] != NULL)
        g_setenv ("DRAPE_CONV_KERNEL", geglu_tiles[i], TRUE);
      drape_graph_set_profiling (graph, TRUE);
      out = drape_op_linear_geglu (graph, tx, tw, gc->bias ? tb : NULL);
      g_unsetenv ("DRAPE_CONV_KERNEL");
      run_expecting (graph, "linear_geglu");
      g_assert_cmpuint (out->c, ==, gc->f);
      got = test_download (out);
      test_assert_close (what, got, ref, pos * gc->f, test_tolerance (dt));
    }
}

static void
test_linear (void)
{
  if (!have_coopmat ())
    return;
  for (guint i = 0; i < G_N_ELEMENTS (linear_cases); i++)
    check_linear (&linear_cases[i]);
  for (guint i = 0; i < G_N_ELEMENTS (geglu_cases); i++)
    check_geglu (&geglu_cases[i]);
  test_assert_no_validation_messages ();
}

/* ---- attention --------------------------------------------------------- */

typedef struct {
  guint32 n;
  guint32 qh, qw;   /* query tokens qh * qw */
  guint32 kh, kw;   /* key tokens; ignored when fused */
  guint32 heads, d;
  /* Fused: Q, K and V are channels [pad, pad + c), [pad + c, pad + 2c) and
   * [pad + 2c, pad + 3c) of one tensor.  Otherwise three tensors with
   * `pad` extra channels before and after their range. */
  gboolean fused;
  guint32 pad;
  float magnitude;  /* of q and k: larger makes a peakier softmax */
  guint64 limit;
} AttnCase;

static const AttnCase attn_cases[] = {
  { 2, 7, 11, 0, 0, 8, 40, TRUE, 0, 1.0f, G_MAXUINT64 },
  { 1, 25, 40, 0, 0, 8, 40, TRUE, 0, 2.0f, G_MAXUINT64 },
  { 1, 64, 64, 0, 0, 1, 40, TRUE, 0, 2.0f, G_MAXUINT64 },
  { 2, 25, 40, 7, 11, 8, 80, FALSE, 8, 1.0f, G_MAXUINT64 },
  { 1, 64, 64, 0, 0, 1, 80, TRUE, 0, 1.0f, G_MAXUINT64 },
  { 1, 7, 11, 25, 40, 1, 160, FALSE, 0, 1.0f, G_MAXUINT64 },
  { 2, 7, 11, 0, 0, 8, 160, TRUE, 0, 2.0f, G_MAXUINT64 },
  /* Channel offsets that are no multiple of 8: element loads. */
  { 2, 7, 11, 0, 0, 2, 40, TRUE, 3, 1.0f, G_MAXUINT64 },
  { 1, 10, 10, 5, 10, 3, 33, FALSE, 1, 1.0f, G_MAXUINT64 },
  { 2, 9, 7, 0, 0, 8, 8, TRUE, 0, 3.0f, G_MAXUINT64 },
  /* Queries in bands of a 4096-byte binding, each image on its own. */
  { 2, 10, 20, 3, 4, 2, 8, FALSE, 0, 1.0f, 4096 },
};

/* Forced attention tiles (DRAPE_ATTENTION_TILE=BCxRTxNW) other than the
 * default shapes, each within 48 KiB of shared memory for every head dim
 * of the cases. */
static const char *const attn_tiles[] = {
  "16x2x4", "32x1x8", "32x2x2", "16x1x1",
};

static void
check_attention (const AttnCase *s,
                 const char     *tile)
{
  DrapeDevice *device = test_device ();
  const DrapeDType dt = DRAPE_DTYPE_F16;
  guint32 c = s->heads * s->d;
  guint32 tq = s->qh * s->qw;
  guint32 kh = s->fused ? s->qh : s->kh, kw = s->fused ? s->qw : s->kw;
  guint32 tk = kh * kw;
  guint32 qc, kc;
  float scale = 1.0f / sqrtf ((float) s->d);
  guint64 n_out = (guint64) s->n * tq * c;
  g_autofree float *q = NULL;
  g_autofree float *k = NULL;
  g_autofree float *v = NULL;
  g_autofree float *ref = g_new (float, n_out);
  g_autofree float *got = NULL;
  g_autoptr(DrapeTensor) tq_ = NULL;
  g_autoptr(DrapeTensor) tk_ = NULL;
  g_autoptr(DrapeTensor) tv_ = NULL;
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "attention");
  g_autofree char *what = g_strdup_printf ("attention n %u tokens %u/%u heads %u x %u%s pad %u "
                                           "limit %" G_GUINT64_FORMAT " tile %s", s->n, tq, tk,
                                           s->heads, s->d, s->fused ? " fused" : "", s->pad, s->limit,
                                           tile ? tile : "default");
  DrapeTensor *out;

  drape_graph_set_profiling (graph, TRUE);
  if (tile != NULL)
    g_setenv ("DRAPE_ATTENTION_TILE", tile, TRUE);
  drape_device_set_binding_limit (device, s->limit);
  if (s->fused)
    {
      guint32 q_off = s->pad, k_off = s->pad + c, v_off = s->pad + 2 * c;

      qc = 3 * c + 2 * s->pad;
      q = random_data ((guint64) s->n * tq * qc, 41, s->magnitude);
      /* V sees the same values as Q and K: scale them like V. */
      for (guint64 i = 0; i < (guint64) s->n * tq; i++)
        for (guint32 j = 0; j < c; j++)
          q[i * qc + v_off + j] /= s->magnitude;
      test_quantize (q, (guint64) s->n * tq * qc, dt);
      drape_ref_attention (q, (DrapeShape) { s->n, s->qh, s->qw, qc }, q_off,
                           q, (DrapeShape) { s->n, kh, kw, qc }, k_off,
                           q, (DrapeShape) { s->n, kh, kw, qc }, v_off, c, s->heads, scale, ref);
      tq_ = test_tensor_from (dt, s->n, s->qh, s->qw, qc, q);
      out = drape_op_attention (graph, tq_, q_off, tq_, k_off, tq_, v_off, c, s->heads, scale);
    }
  else
    {
      qc = kc = c + 2 * s->pad;
      q = random_data ((guint64) s->n * tq * qc, 42, s->magnitude);
      k = random_data ((guint64) s->n * tk * kc, 43, s->magnitude);
      v = random_data ((guint64) s->n * tk * kc, 44, 1.0f);
      drape_ref_attention (q, (DrapeShape) { s->n, s->qh, s->qw, qc }, s->pad,
                           k, (DrapeShape) { s->n, kh, kw, kc }, s->pad,
                           v, (DrapeShape) { s->n, kh, kw, kc }, s->pad, c, s->heads, scale, ref);
      tq_ = test_tensor_from (dt, s->n, s->qh, s->qw, qc, q);
      tk_ = test_tensor_from (dt, s->n, kh, kw, kc, k);
      tv_ = test_tensor_from (dt, s->n, kh, kw, kc, v);
      out = drape_op_attention (graph, tq_, s->pad, tk_, s->pad, tv_, s->pad, c, s->heads, scale);
    }
  drape_device_set_binding_limit (device, G_MAXUINT64);
  g_unsetenv ("DRAPE_ATTENTION_TILE");
  if (s->limit < G_MAXUINT64)
    g_assert_cmpuint (drape_graph_get_n_nodes (graph), >, 1);
  run_expecting (graph, "attention");
  got = test_download (out);
  test_assert_close (what, got, ref, n_out, test_tolerance (dt));
}

static void
test_attention (void)
{
  if (!have_coopmat ())
    return;
  for (guint i = 0; i < G_N_ELEMENTS (attn_cases); i++)
    check_attention (&attn_cases[i], NULL);
  /* Every forced tile on head dims 40, 80, 160 and 33, and on bands. */
  for (guint t = 0; t < G_N_ELEMENTS (attn_tiles); t++)
    for (guint i = 0; i < G_N_ELEMENTS (attn_cases); i += 2)
      check_attention (&attn_cases[i], attn_tiles[t]);
  test_assert_no_validation_messages ();
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/coopmat/conv", test_conv);
  g_test_add_func ("/coopmat/linear", test_linear);
  g_test_add_func ("/coopmat/attention", test_attention);
  return test_finish (g_test_run ());
}
