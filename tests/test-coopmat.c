/* test-coopmat.c: the tensor-core (cooperative matrix) kernels against
 * the naive references
 *
 * f16 convolutions (3x3 and 1x1, strides 1 and 2, every epilogue, groups,
 * 3x3 of 2x upsampled inputs by their phases,
 * input channels that are not multiples of any K stage (16, 32, 64), nor of
 * 8 (first layers: 3, 4 and 9 channels, 7x7 stride 4), M and N
 * that are not multiples of any tile, batch 2), linear layers and GEGLU,
 * each with the tile the host picks and with every other tile and stage
 * of K forced (DRAPE_CONV_KERNEL=coopmat:BMxBN[xBK][+A]), and with K split into slices
 * (coopmat:BMxBN/S: conv2d_split_sum.comp must have run); attention with head dims 40, 80 and
 * 160 (and 8 and 33), and wide ones split across subgroups (512, 256,
 * 192; single wide heads also as GEMMs with f32 scores, their default),
 * 1 and 8 heads, 77, 1000 and 4096 tokens, fused QKV,
 * fewer or more keys than queries, unaligned channel offsets, with the
 * default tiles and forced ones (DRAPE_ATTENTION_TILE); where the device
 * has cooperative matrix 2, both kinds of attention kernel (scores in
 * registers, and in shared memory), the latter also standing in for the
 * former where the driver will not build it.  Every
 * graph is profiled and must have run the ".coopmat" kernel and not the
 * scalar one.  The kernels run through the extension the device picked
 * (KHR where it has both; DRAPE_COOPMAT=nv and khr test each build of
 * the same shaders), in its matrix shape and subgroup width; forced tiles the
 * device cannot hold are skipped, with a message.  A device without
 * cooperative matrices skips all of it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "test-common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op-attention-private.h"
#include "op-coopmat-private.h"
#include "device-private.h"
#include "ops.h"
#include "reference.h"

static const char *const conv_tiles[] = {
  NULL, "coopmat:128x128", "coopmat:128x64", "coopmat:64x128", "coopmat:64x64", "coopmat:128x16",
  /* K split into slices (fewer where K has fewer stages or the binding
   * limit holds fewer slices' sums): even ones, and an uneven last. */
  "coopmat:128x64/2", "coopmat:64x64/3", "coopmat:128x16/4",
  /* Each stage of K 128 x 128 has, whatever the layer: 16 and 32
   * values in two stages, 64 in one (also split); and 64 x 64 staging
   * 64, in one stage where the device has 32 KiB of shared memory. */
  "coopmat:128x128x16", "coopmat:128x128x32", "coopmat:128x128x64", "coopmat:128x128x64/2",
  "coopmat:64x64x64", "coopmat:64x64x64/2",
  /* Two to four stages' loads in flight, also with K split (slices of
   * fewer stages than that, in the tests' small layers). */
  "coopmat:128x128x16+2", "coopmat:128x128x16+2/3", "coopmat:128x128x16+3",
  "coopmat:128x128x16+4", "coopmat:128x128x16+4/3", "coopmat:128x128x32+2",
  /* Subgroups of 32 x 80 (five accumulator columns). */
  "coopmat:128x160x64", "coopmat:128x160x16",
  /* Workgroup-scope matrices (conv2d_coopmat2.comp), on the layers they
   * suit; the others take the cost model's tile. */
  "coopmat2:128x128x32", "coopmat2:128x128x64", "coopmat2:128x256x32", "coopmat2:128x256x64",
  "coopmat2:256x128x32", "coopmat2:64x64x64",
};

static const char *const geglu_tiles[] = {
  NULL, "coopmat:128x64", "coopmat:64x64", "coopmat:64x32", "coopmat:128x64x16", "coopmat:128x64x16+2",
  "coopmat:128x64x32+2", "coopmat:128x64x64",
  "coopmat2:128x64x32", "coopmat2:128x64x64", "coopmat2:128x128x32", "coopmat2:64x64x64",
};

/* Dispatches of conv2d_coopmat2.comp the forced tiles above ran: the
 * tests that force them check that some layer took them. */
static guint workgroup_runs;

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
  g_test_message ("tensor cores through VK_%s_cooperative_matrix, %ux%ux%u matrices, "
                  "subgroups of %u%s", caps->coopmat == DRAPE_COOPMAT_KHR ? "KHR" : "NV",
                  caps->coopmat_m, caps->coopmat_n, caps->coopmat_k, caps->coopmat_subgroup_size,
                  caps->coopmat2 ? ", and VK_NV_cooperative_matrix2" : "");
  /* The profile is how the tests see which kernel ran. */
  g_assert_true (caps->has_timestamps);
  return TRUE;
}

/* Each check of many forced tiles takes two passes.  A GPU's driver
 * takes a third of a second or more to build one of these kernels, and
 * a graph that records one at a time builds them one at a time: on an
 * H200 the first test had not ended after 120 s.  So the first pass
 * records each graph with its pipelines building in the background
 * (drape_graph_set_background_builds), side by side on the device's
 * builder threads, and drops it; the second records each again as
 * before, a refusal reaching the op as it records (from the build done
 * or under way), and runs and checks it. */
typedef enum {
  PASS_BUILD,
  PASS_CHECK,
} Pass;

/* A graph for `pass`: building its pipelines, or profiled to check. */
static DrapeGraph *
pass_graph (const char *name,
            Pass        pass)
{
  DrapeGraph *graph = drape_graph_new (test_device (), name);

  if (pass == PASS_BUILD)
    drape_graph_set_background_builds (graph, TRUE);
  else
    drape_graph_set_profiling (graph, TRUE);
  return graph;
}

/* Whether the device holds a forced convolution tile ("coopmat:BMxBN...";
 * NULL, the default, always); the check pass says when it does not. */
static gboolean
conv_tile_fits (const char *tile,
                gboolean    geglu,
                Pass        pass)
{
  if (tile == NULL)
    return TRUE;
  if (drape_conv_coopmat_tile_fits (drape_device_get_caps (test_device ()), tile, geglu))
    return TRUE;
  if (pass == PASS_CHECK)
    g_test_message ("%s%s: more than the device holds, skipped", tile, geglu ? " (GEGLU)" : "");
  return FALSE;
}

/* A graph for `pass` with DRAPE_CONV_KERNEL `tile`; NULL where the
 * device does not hold that tile. */
static DrapeGraph *
tile_graph (const char *name,
            const char *tile,
            gboolean    geglu,
            Pass        pass)
{
  DrapeGraph *graph;

  if (!conv_tile_fits (tile, geglu, pass))
    return NULL;
  graph = pass_graph (name, pass);
  drape_graph_set_choice (graph, "DRAPE_CONV_KERNEL", tile);
  return graph;
}

/* Runs a profiled graph once; asserts that its dispatches were labelled
 * `label` (unless NULL; else `op`.coopmat or `op`.coopmat2, counted in
 * workgroup_runs), none plain `op`. */
static void
run_expecting (DrapeGraph *graph,
               const char *op,
               const char *label)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *coop = label ? g_strdup (label) : g_strconcat (op, ".coopmat", NULL);
  g_autofree char *workgroup = g_strconcat (op, ".coopmat2", NULL);
  guint workgroup_now = label ? 0 : test_graph_runs_of (graph, workgroup);

  drape_graph_compile (graph, &error);
  g_assert_no_error (error);
  drape_graph_run (graph, &error);
  g_assert_no_error (error);
  if (test_graph_runs_of (graph, op) > 0)
    g_error ("%s ran the scalar kernel", op);
  if (label == NULL)
    workgroup_now = test_graph_runs_of (graph, workgroup);
  workgroup_runs += workgroup_now;
  if (test_graph_runs_of (graph, coop) == 0 && workgroup_now == 0)
    g_error ("%s did not run", coop);
}

/* After the cases with every tile in `tiles`: where the device holds a
 * workgroup-scope one, some layer ran it. */
static void
assert_workgroup_ran (const char *const *tiles,
                      guint              n_tiles,
                      gboolean           geglu)
{
  const DrapeDeviceCaps *caps = drape_device_get_caps (test_device ());

  for (guint i = 0; i < n_tiles; i++)
    if (tiles[i] != NULL && g_str_has_prefix (tiles[i], "coopmat2:") &&
        drape_conv_coopmat_tile_fits (caps, tiles[i], geglu))
      {
        g_assert_cmpuint (workgroup_runs, >, 0);
        return;
      }
}

/* Whether a forced tile splits K (coopmat:BMxBN[xBK]/S, S > 1) of a GEMM
 * of k values into more than one stage of BK (32 where not named: the
 * split tiles above that name none stage 32): then the slices' sum must
 * have run. */
static void
assert_split (DrapeGraph *graph,
              const char *tile,
              const char *op,
              guint32     k)
{
  const char *slash = tile ? strchr (tile, '/') : NULL;
  g_autofree char *label = g_strconcat (op, ".split_sum", NULL);
  guint bm, bn, bk = 32;

  if (slash != NULL)
    sscanf (tile, "coopmat:%ux%ux%u", &bm, &bn, &bk);
  if (slash != NULL && atoi (slash + 1) > 1 && k > bk)
    g_assert_cmpuint (test_graph_runs_of (graph, label), >, 0);
}

/* ---- convolutions ------------------------------------------------------ */

static const TestConv conv_cases[] = {
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
  /* First layers, whose channels do not come in eights: the UNet's 9,
   * the VAE encoder's 3, the decoder's 4 (1x1 and 3x3), SegFormer's 7x7
   * stride-4 patches; and groups of 6. */
  { "3x3 9 channels", 2, 10, 9, 9, 40, 3, 3, 1, 1, 1, 1, 1, 1, TRUE, FALSE, FALSE, DRAPE_ACT_NONE, 0 },
  { "3x3 3 channels", 1, 17, 12, 3, 32, 3, 3, 1, 1, 1, 1, 1, 1, TRUE, FALSE, TRUE, DRAPE_ACT_SILU, 0 },
  { "1x1 4 channels", 1, 6, 9, 4, 24, 1, 1, 1, 0, 0, 0, 0, 1, TRUE, FALSE, FALSE, DRAPE_ACT_NONE, 0 },
  { "3x3 4 channels", 2, 5, 6, 4, 64, 3, 3, 1, 1, 1, 1, 1, 1, TRUE, TRUE, FALSE, DRAPE_ACT_NONE, 0 },
  { "7x7 stride 4 3 channels", 1, 19, 23, 3, 32, 7, 7, 4, 3, 3, 3, 3, 1, TRUE, FALSE, FALSE,
    DRAPE_ACT_NONE, 0 },
  { "3x3 groups 2 of 6", 1, 7, 6, 12, 32, 3, 3, 1, 1, 1, 1, 1, 2, TRUE, FALSE, TRUE, DRAPE_ACT_NONE, 0 },
  /* A VAE decoder's last convolution: 3 output channels. */
  { "3x3 to 3 channels", 1, 20, 13, 128, 3, 3, 3, 1, 1, 1, 1, 1, 1, TRUE, FALSE, FALSE,
    DRAPE_ACT_NONE, 0 },
};

/* 3x3 convolutions of 2x upsampled inputs, by their phases
 * (drape_op_conv2d_upsample2x): a UNet's upsampler, and every epilogue. */
static const TestConv upsample_cases[] = {
  { "upsample 2x 320 channels", 2, 6, 5, 320, 320, 3, 3, 1, 1, 1, 1, 1, 1, TRUE, FALSE, FALSE,
    DRAPE_ACT_NONE, 0 },
  { "upsample 2x every epilogue", 1, 7, 9, 64, 48, 3, 3, 1, 1, 1, 1, 1, 1, TRUE, TRUE, TRUE,
    DRAPE_ACT_SILU, 0.5f },
};

/* With `upsample`, cc is one of upsample_cases. */
static void
check_conv (const TestConv *cc,
            gboolean        upsample,
            guint64         binding_limit)
{
  DrapeDevice *device = test_device ();
  const DrapeDType dt = DRAPE_DTYPE_F16;
  const char *op = upsample ? "conv2d_upsample2x" : "conv2d";
  TestConvRun run;

  if (upsample)
    test_conv_prepare_upsample2x (cc, dt, &run);
  else
    test_conv_prepare (cc, dt, &run);
  for (Pass pass = PASS_BUILD; pass <= PASS_CHECK; pass++)
    for (guint i = 0; i < G_N_ELEMENTS (conv_tiles); i++)
      {
        g_autoptr(DrapeGraph) graph = tile_graph ("conv", conv_tiles[i], FALSE, pass);
        g_autofree char *what = NULL;
        g_autofree float *got = NULL;
        DrapeTensor *out;

        if (graph == NULL)
          continue;
        drape_device_set_binding_limit (device, binding_limit);
        if (upsample)
          out = drape_op_conv2d_upsample2x (graph, run.x, run.weight, &run.params);
        else
          out = drape_op_conv2d (graph, run.x, run.weight, &run.params);
        drape_device_set_binding_limit (device, G_MAXUINT64);
        if (pass == PASS_BUILD)
          continue;
        /* Upsampled: a dispatch per phase at a small limit, more in bands. */
        if (binding_limit < G_MAXUINT64)
          g_assert_cmpuint (drape_graph_get_n_nodes (graph), >, upsample ? 4 : 1);
        run_expecting (graph, op, NULL);
        if (binding_limit == G_MAXUINT64 && cc->groups == 1)
          assert_split (graph, conv_tiles[i], op,
                        upsample ? 4 * cc->cin : cc->kh * cc->kw * (cc->cin / cc->groups));
        g_assert_cmpuint (out->h, ==, run.oh);
        g_assert_cmpuint (out->w, ==, run.ow);
        got = test_download (out);
        what = g_strdup_printf ("conv2d %s limit %" G_GUINT64_FORMAT " %s", cc->name, binding_limit,
                                conv_tiles[i] ? conv_tiles[i] : "default tile");
        test_assert_close (what, got, run.ref, run.n_out, test_tolerance (dt));
      }
  test_conv_clear (&run);
}

static void
test_conv (void)
{
  if (!have_coopmat ())
    return;
  workgroup_runs = 0;
  for (guint i = 0; i < G_N_ELEMENTS (conv_cases); i++)
    check_conv (&conv_cases[i], FALSE, G_MAXUINT64);
  assert_workgroup_ran (conv_tiles, G_N_ELEMENTS (conv_tiles), FALSE);
  /* Column chunks and row bands of 4096-byte bindings. */
  check_conv (&conv_cases[0], FALSE, 4096);
  check_conv (&conv_cases[1], FALSE, 4096);
  test_assert_no_validation_messages ();
}

static void
test_upsample (void)
{
  if (!have_coopmat ())
    return;
  for (guint i = 0; i < G_N_ELEMENTS (upsample_cases); i++)
    check_conv (&upsample_cases[i], TRUE, G_MAXUINT64);
  check_conv (&upsample_cases[1], TRUE, 4096);
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
  const DrapeDType dt = DRAPE_DTYPE_F16;
  guint64 pos = (guint64) lc->n * lc->h * lc->w;
  g_autofree float *x = test_random_data (pos * lc->in, 21, 1.0f, dt);
  g_autofree float *wt = test_random_data ((guint64) lc->out * lc->in, 22, 1.0f / sqrtf (lc->in), dt);
  g_autofree float *b = test_random_data (lc->out, 23, 0.5f, dt);
  g_autofree float *r = test_random_data (pos * lc->out, 24, 1.0f, dt);
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
  for (Pass pass = PASS_BUILD; pass <= PASS_CHECK; pass++)
    for (guint i = 0; i < G_N_ELEMENTS (conv_tiles); i++)
      {
        g_autoptr(DrapeGraph) graph = tile_graph ("linear", conv_tiles[i], FALSE, pass);
        g_autofree char *what = NULL;
        g_autofree float *got = NULL;
        DrapeTensor *out;

        if (graph == NULL)
          continue;
        out = drape_op_linear (graph, tx, tw, &params);
        if (pass == PASS_BUILD)
          continue;
        run_expecting (graph, "linear", NULL);
        assert_split (graph, conv_tiles[i], "linear", lc->in);
        got = test_download (out);
        what = g_strdup_printf ("linear %u positions %ux%u %s", (guint) pos, lc->in, lc->out,
                                conv_tiles[i] ? conv_tiles[i] : "default tile");
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
  /* Inputs that are no multiple of 8 wide: the gate's weights, too, are
   * read a value at a time. */
  { 1, 3, 11, 13, 33, TRUE },
};

static void
check_geglu (const GegluCase *gc)
{
  const DrapeDType dt = DRAPE_DTYPE_F16;
  guint64 pos = (guint64) gc->n * gc->h * gc->w;
  g_autofree float *x = test_random_data (pos * gc->in, 31, 1.0f, dt);
  g_autofree float *wt = test_random_data (2ull * gc->f * gc->in, 32, 2.0f / sqrtf (gc->in), dt);
  g_autofree float *b = test_random_data (2ull * gc->f, 33, 0.5f, dt);
  g_autofree float *ref = g_new (float, pos * gc->f);
  g_autoptr(DrapeTensor) tx = test_tensor_from (dt, gc->n, gc->h, gc->w, gc->in, x);
  g_autoptr(DrapeTensor) tw = test_tensor_from (dt, 2 * gc->f, 1, 1, gc->in, wt);
  g_autoptr(DrapeTensor) tb = test_tensor_from (dt, 1, 1, 1, 2 * gc->f, b);

  drape_ref_linear_geglu (x, (DrapeShape) { gc->n, gc->h, gc->w, gc->in }, wt, 2 * gc->f,
                          gc->bias ? b : NULL, ref);
  for (Pass pass = PASS_BUILD; pass <= PASS_CHECK; pass++)
    for (guint i = 0; i < G_N_ELEMENTS (geglu_tiles); i++)
      {
        g_autoptr(DrapeGraph) graph = tile_graph ("geglu", geglu_tiles[i], TRUE, pass);
        g_autofree char *what = NULL;
        g_autofree float *got = NULL;
        DrapeTensor *out;

        if (graph == NULL)
          continue;
        out = drape_op_linear_geglu (graph, tx, tw, gc->bias ? tb : NULL);
        if (pass == PASS_BUILD)
          continue;
        run_expecting (graph, "linear_geglu", NULL);
        g_assert_cmpuint (out->c, ==, gc->f);
        got = test_download (out);
        what = g_strdup_printf ("linear_geglu %u positions %ux%u %s", (guint) pos, gc->in, gc->f,
                                geglu_tiles[i] ? geglu_tiles[i] : "default tile");
        test_assert_close (what, got, ref, pos * gc->f, test_tolerance (dt));
      }
}

/* Whether K is split follows how many workgroups fill the device: a
 * linear layer of 8 tiles of 128 x 128 and K of 2048 runs whole where 4
 * compute units (8 workgroups) fill it, split where 512 do. */
static void
test_fill (void)
{
  DrapeDevice *device = test_device ();
  const DrapeDType dt = DRAPE_DTYPE_F16;
  const guint32 rows = 512, in = 2048, out = 256;
  const guint32 units[] = { 4, 512 };
  g_autofree float *x = test_random_data ((guint64) rows * in, 31, 1.0f, dt);
  g_autofree float *wt = test_random_data ((guint64) out * in, 32, 1.0f / sqrtf (in), dt);
  g_autofree float *ref = g_new (float, (gsize) rows * out);
  g_autoptr(DrapeTensor) tx = test_tensor_from (dt, 1, rows, 1, in, x);
  g_autoptr(DrapeTensor) tw = test_tensor_from (dt, out, 1, 1, in, wt);
  DrapeConvParams params = { 0 };
  DrapeShape out_shape;
  DrapeDeviceCaps *caps = drape_device_edit_caps (device);
  const DrapeDeviceCaps had = *caps;

  if (!have_coopmat ())
    return;
  drape_ref_conv2d (x, (DrapeShape) { 1, rows, 1, in }, wt, out, 1, 1, &params, NULL, NULL, NULL,
                    ref, &out_shape);
  for (guint i = 0; i < G_N_ELEMENTS (units); i++)
    {
      g_autoptr(DrapeGraph) graph = drape_graph_new (device, "linear");
      g_autofree char *what = g_strdup_printf ("linear on %u compute units", units[i]);
      g_autofree float *got = NULL;
      DrapeTensor *o;

      caps->compute_units = units[i];
      drape_graph_set_profiling (graph, TRUE);
      o = drape_op_linear (graph, tx, tw, &params);
      run_expecting (graph, "linear", NULL);
      if (test_graph_ran (graph, "linear.split_sum") != (units[i] == 512))
        g_error ("%s: K %s split", what, units[i] == 512 ? "was not" : "was");
      got = test_download (o);
      test_assert_close (what, got, ref, (gsize) rows * out, test_tolerance (dt));
    }
  *caps = had;
  test_assert_no_validation_messages ();
}

static void
test_linear (void)
{
  if (!have_coopmat ())
    return;
  workgroup_runs = 0;
  for (guint i = 0; i < G_N_ELEMENTS (linear_cases); i++)
    check_linear (&linear_cases[i]);
  assert_workgroup_ran (conv_tiles, G_N_ELEMENTS (conv_tiles), FALSE);
  workgroup_runs = 0;
  for (guint i = 0; i < G_N_ELEMENTS (geglu_cases); i++)
    check_geglu (&geglu_cases[i]);
  assert_workgroup_ran (geglu_tiles, G_N_ELEMENTS (geglu_tiles), TRUE);
  test_assert_no_validation_messages ();
}

/* ---- attention --------------------------------------------------------- */

static const TestAttention attn_cases[] = {
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
  /* Wide heads (the VAE's 512), split across subgroups: token counts
   * no multiple of any tile, bands of a 16 KiB binding. */
  { 1, 12, 16, 0, 0, 1, 512, TRUE, 0, 1.0f, G_MAXUINT64 },
  { 2, 7, 11, 9, 9, 1, 512, FALSE, 8, 2.0f, G_MAXUINT64 },
  { 1, 10, 10, 0, 0, 2, 256, TRUE, 0, 2.0f, G_MAXUINT64 },
  { 2, 6, 8, 6, 6, 1, 192, FALSE, 0, 1.0f, 16384 },
};

/* Forced attention tiles (DRAPE_ATTENTION_TILE=BCxRTxNW) other than the
 * default shapes (two query tiles per subgroup: the default of the
 * kernel that stages scores in shared memory, here for the one that
 * keeps them in registers), each within 48 KiB of shared memory for the
 * heads of up to 160 dims; wide heads take those that split them into
 * slices few enough for registers (16x2x4, 32x1x8, 16x1x16), and skip
 * the others. */
static const char *const attn_tiles[] = {
  "16x2x4", "32x1x8", "32x2x2", "16x1x1", "32x2x4", "16x1x16",
  /* Two blocks' loads in flight, a running max that moves only past a
   * slack (scores in registers; else as without). */
  "32x1x8+2", "16x2x4+2", "32x1x8/lazy", "16x2x4+2/lazy",
};

/* `kernel`: DRAPE_ATTENTION_KERNEL's value for the graph. */
static void
check_attention (const TestAttention *s,
                 const char          *kernel,
                 const char          *tile,
                 Pass                 pass)
{
  g_autoptr(DrapeGraph) graph = NULL;
  TestAttentionRun run = { .no_reference = pass == PASS_BUILD };
  guint bc = 0, rt = 0, nw = 0;

  if (tile != NULL)
    {
      guint32 keys = s->fused ? s->qh * s->qw : s->kh * s->kw;

      g_assert_cmpint (sscanf (tile, "%ux%ux%u", &bc, &rt, &nw), ==, 3);
      if (!drape_attention_coopmat_tile_fits (drape_device_get_caps (test_device ()), s->d, keys, bc,
                                              rt, nw, kernel))
        {
          if (pass == PASS_CHECK)
            g_test_message ("tile %s, heads of %u, %u keys: not one the device takes, skipped", tile,
                            s->d, keys);
          return;
        }
    }
  graph = pass_graph ("attention", pass);
  drape_graph_set_choice (graph, "DRAPE_ATTENTION_KERNEL", kernel);
  test_attention_record (graph, s, DRAPE_DTYPE_F16, 41, "DRAPE_ATTENTION_TILE", tile, &run);
  if (pass == PASS_BUILD)
    {
      test_attention_clear (&run);
      return;
    }
  if (s->limit < G_MAXUINT64)
    g_assert_cmpuint (drape_graph_get_n_nodes (graph), >, 1);
  /* Scores stay in registers where the device has cooperative matrix
   * 2, unless the kernel named says otherwise. */
  run_expecting (graph, "attention",
                 drape_device_get_caps (test_device ())->coopmat2 && g_strcmp0 (kernel, "coopmat") != 0
                   ? "attention.coopmat2"
                   : "attention.coopmat");
  test_attention_check (&run, DRAPE_DTYPE_F16);
}

static void
run_attention_cases (const char *kernel)
{
  for (Pass pass = PASS_BUILD; pass <= PASS_CHECK; pass++)
    {
      for (guint i = 0; i < G_N_ELEMENTS (attn_cases); i++)
        check_attention (&attn_cases[i], kernel, NULL, pass);
      /* Every forced tile on head dims 40, 80, 160 and 33, and on bands. */
      for (guint t = 0; t < G_N_ELEMENTS (attn_tiles); t++)
        for (guint i = 0; i < G_N_ELEMENTS (attn_cases); i += 2)
          check_attention (&attn_cases[i], kernel, attn_tiles[t], pass);
    }
}

/* Single wide heads by default: as GEMMs on tensor cores, with f32
 * scores (op-attention-gemm.c). */
static void
check_attention_gemm (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (attn_cases); i++)
    {
      const TestAttention *s = &attn_cases[i];
      g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "attention");
      TestAttentionRun run = { 0 };

      if (s->heads != 1 || s->d <= DRAPE_ATTENTION_WIDE_HEAD_DIM)
        continue;
      drape_graph_set_profiling (graph, TRUE);
      test_attention_record (graph, s, DRAPE_DTYPE_F16, 47, NULL, NULL, &run);
      run_expecting (graph, "matmul", NULL);
      g_assert_false (test_graph_ran (graph, "attention.coopmat2"));
      g_assert_false (test_graph_ran (graph, "attention.coopmat"));
      test_attention_check (&run, DRAPE_DTYPE_F16);
    }
}

/* attention_workgroup.comp's tiles (DRAPE_ATTENTION_KERNEL=workgroup:
 * BRxBC), forced on every case of heads of up to 160 dims: where the
 * device takes the tile, those whose rows and offsets come in 16 bytes
 * (which its tensor loads need) run it; the others, and every case on
 * devices without the tile, the usual kernel. */
static const char *const attn_workgroup_tiles[] = {
  "workgroup:64x32", "workgroup:64x64", "workgroup:128x32", "workgroup:128x64",
};

static void
check_attention_workgroup (void)
{
  const DrapeDeviceCaps *caps = drape_device_get_caps (test_device ());

  for (Pass pass = PASS_BUILD; pass <= PASS_CHECK; pass++)
    for (guint t = 0; t < G_N_ELEMENTS (attn_workgroup_tiles); t++)
      for (guint i = 0; i < G_N_ELEMENTS (attn_cases); i++)
        {
          const TestAttention *s = &attn_cases[i];
          g_autoptr(DrapeGraph) graph = NULL;
          TestAttentionRun run = { .no_reference = pass == PASS_BUILD };
          guint br, bc;
          gboolean rows16 = s->d % 8 == 0 && s->pad % 8 == 0;

          g_assert_cmpint (sscanf (attn_workgroup_tiles[t], "workgroup:%ux%u", &br, &bc), ==, 2);
          if (s->d > DRAPE_ATTENTION_WIDE_HEAD_DIM)
            continue;
          graph = pass_graph ("attention", pass);
          test_attention_record (graph, s, DRAPE_DTYPE_F16, 53, "DRAPE_ATTENTION_KERNEL",
                                 attn_workgroup_tiles[t], &run);
          if (pass == PASS_BUILD)
            {
              test_attention_clear (&run);
              continue;
            }
          run_expecting (graph, "attention",
                         rows16 && drape_attention_workgroup_head_dim (caps, s->d, br, bc) > 0
                           ? "attention.workgroup"
                           : caps->coopmat2 ? "attention.coopmat2" : "attention.coopmat");
          test_attention_check (&run, DRAPE_DTYPE_F16);
        }
}

static void
test_attention (void)
{
  if (!have_coopmat ())
    return;
  check_attention_gemm ();
  check_attention_workgroup ();
  /* The fused kernels, wide single heads too. */
  run_attention_cases ("flash");
  /* With cooperative matrix 2 the cases above kept their scores in
   * registers; the kernels that stage them in shared memory, again. */
  if (drape_device_get_caps (test_device ())->coopmat2)
    {
      g_test_message ("again with DRAPE_ATTENTION_KERNEL=coopmat");
      run_attention_cases ("coopmat");
    }
  test_assert_no_validation_messages ();
}

/* A driver that lists cooperative matrix 2 but will not build the
 * kernels that keep the scores in registers: attention stages them in
 * shared memory instead, for heads of 40 and the VAE's 512. */
static void
test_refused_kernel (void)
{
  const char *const refused[] = { "attention_coopmat2", "attention_wide_coopmat.f16_cm2", NULL };
  const guint picked[] = { 0, 11 };

  if (!have_coopmat ())
    return;
  if (!drape_device_get_caps (test_device ())->coopmat2)
    {
      g_test_skip ("no cooperative matrix 2 kernels to refuse");
      return;
    }
  drape_device_refuse_families (test_device (), refused);
  /* The fused kernels, not GEMMs, for the wide head. */
  for (guint i = 0; i < G_N_ELEMENTS (picked); i++)
    {
      g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "attention");
      TestAttentionRun run = { 0 };

      g_assert_cmpuint (attn_cases[picked[i]].d, ==, i == 0 ? 40 : 512);
      drape_graph_set_profiling (graph, TRUE);
      test_attention_record (graph, &attn_cases[picked[i]], DRAPE_DTYPE_F16, 43, "DRAPE_ATTENTION_KERNEL",
                             "flash", &run);
      run_expecting (graph, "attention", "attention.coopmat");
      test_attention_check (&run, DRAPE_DTYPE_F16);
    }
  drape_device_refuse_families (test_device (), NULL);
  test_assert_no_validation_messages ();
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/coopmat/conv", test_conv);
  g_test_add_func ("/coopmat/upsample", test_upsample);
  g_test_add_func ("/coopmat/linear", test_linear);
  g_test_add_func ("/coopmat/fill", test_fill);
  g_test_add_func ("/coopmat/attention", test_attention);
  g_test_add_func ("/coopmat/refused-kernel", test_refused_kernel);
  return test_finish (g_test_run ());
}
