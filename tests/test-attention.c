/* test-attention.c: flash attention against the naive reference
 *
 * Head dims from 4 to 512, 1 to 8 heads, fewer keys than queries, fused
 * QKV channel ranges, batch 2, f32 and f16, one case above 8,192 tokens,
 * and a case at a 4096-byte binding limit so the queries split into bands;
 * the shared-memory kernel and the subgroup one of CPU devices each, and
 * the former standing in for kernels a driver will not build; single
 * heads as GEMMs.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "test-common.h"

#include <string.h>

#include "device-private.h"
#include "ops.h"
#include "tuning.h"

typedef struct {
  TestAttention a;
  /* Also in f16.  Every head dim is another pipeline, which lavapipe takes
   * a second or more to compile; f16 storage changes only the loads and
   * stores, so a few head dims cover it. */
  gboolean f16;
} AttnCase;

static const AttnCase cases[] = {
  { { 2, 5, 7, 3, 4, 1, 8, FALSE, 3, 1.0f, G_MAXUINT64 }, TRUE },
  { { 1, 9, 7, 0, 0, 8, 40, TRUE, 0, 1.0f, G_MAXUINT64 }, TRUE },
  { { 2, 10, 7, 1, 17, 2, 64, FALSE, 5, 2.0f, G_MAXUINT64 }, FALSE },
  { { 1, 33, 1, 10, 10, 3, 80, FALSE, 0, 1.0f, G_MAXUINT64 }, FALSE },
  { { 1, 8, 5, 13, 5, 2, 160, TRUE, 7, 1.0f, G_MAXUINT64 }, TRUE },
  { { 1, 6, 5, 0, 0, 1, 512, TRUE, 0, 0.5f, G_MAXUINT64 }, TRUE },
  { { 2, 1, 9, 4, 3, 5, 12, FALSE, 1, 3.0f, G_MAXUINT64 }, FALSE },
  { { 1, 3, 11, 2, 2, 4, 4, FALSE, 2, 1.0f, G_MAXUINT64 }, FALSE },
  { { 2, 7, 9, 0, 0, 6, 33, TRUE, 2, 1.0f, G_MAXUINT64 }, TRUE },
  /* Queries in bands of a 4096-byte binding, each image on its own. */
  { { 2, 6, 10, 3, 4, 2, 8, FALSE, 2, 1.0f, 4096 }, TRUE },
};

static void
run_graph (DrapeGraph *graph)
{
  g_autoptr(GError) error = NULL;

  drape_graph_compile (graph, &error);
  g_assert_no_error (error);
  drape_graph_run (graph, &error);
  g_assert_no_error (error);
}

/* kernel: NULL for the engine's choice, or DRAPE_ATTENTION_KERNEL's
 * "tiled", "subgroup" or "gemm", which the profile must then show
 * (tensor cores, where a device has them, still take f16 but for
 * "gemm"). */
static void
check_attention (DrapeDType      dtype,
                 const AttnCase *s,
                 const char     *kernel)
{
  g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "attention");
  TestAttentionRun run = { 0 };

  drape_graph_set_profiling (graph, TRUE);
  test_attention_record (graph, &s->a, dtype, 31, "DRAPE_ATTENTION_KERNEL", kernel, &run);
  run_graph (graph);
  if (g_strcmp0 (kernel, "subgroup") == 0)
    g_assert_true (test_graph_ran (graph, "attention.subgroup"));
  else if (kernel != NULL)
    g_assert_false (test_graph_ran (graph, "attention.subgroup"));
  if (g_strcmp0 (kernel, "gemm") == 0)
    {
      g_assert_true (test_graph_ran (graph, "softmax"));
      g_assert_true (test_graph_ran (graph, "transpose"));
      g_assert_true (test_graph_ran (graph, "matmul") || test_graph_ran (graph, "matmul.coopmat"));
    }
  test_attention_check (&run, dtype);
}

/* A graph's choice of kernel (drape_graph_set_choice) counts over the
 * environment's, in that graph alone, and NULL gives the environment's
 * back. */
static void
test_attention_graph_choice (void)
{
  /* One head (for "gemm"), offsets in vec4s (for "subgroup"). */
  const TestAttention a = { 2, 5, 7, 3, 4, 1, 8, FALSE, 4, 1.0f, G_MAXUINT64 };

  g_setenv ("DRAPE_ATTENTION_KERNEL", "gemm", TRUE);
  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "attention");
      TestAttentionRun run = { 0 };

      drape_graph_set_profiling (graph, TRUE);
      if (i > 0)
        drape_graph_set_choice (graph, "DRAPE_ATTENTION_KERNEL", "subgroup");
      if (i > 1)
        drape_graph_set_choice (graph, "DRAPE_ATTENTION_KERNEL", NULL);
      test_attention_record (graph, &a, DRAPE_DTYPE_F32, 31, NULL, NULL, &run);
      run_graph (graph);
      g_assert_cmpint (test_graph_ran (graph, "attention.subgroup"), ==, i == 1);
      g_assert_cmpint (test_graph_ran (graph, "softmax"), ==, i != 1);
      test_attention_check (&run, DRAPE_DTYPE_F32);
    }
  g_unsetenv ("DRAPE_ATTENTION_KERNEL");
  test_assert_no_validation_messages ();
}

/* Every case in f32, those marked so in f16 as well. */
static void
check_cases (const AttnCase *list,
             guint           n,
             const char     *kernel,
             gboolean        f16)
{
  for (guint i = 0; i < n; i++)
    {
      check_attention (DRAPE_DTYPE_F32, &list[i], kernel);
      if (f16 && list[i].f16)
        check_attention (DRAPE_DTYPE_F16, &list[i], kernel);
    }
  test_assert_no_validation_messages ();
}

/* The shared-memory kernel (every device's fallback). */
static void
test_attention (void)
{
  check_cases (cases, G_N_ELEMENTS (cases), "tiled", TRUE);
}

/* For the subgroup kernel of CPU devices: head dims from 8 to 160 (4,
 * 2 and 1 queries a lane), key counts that end inside a block, queries
 * over several workgroups, fused QKV, batch 2, bands of a 4096-byte
 * binding (where its K and V are texel buffers, bands of those too). */
static const AttnCase subgroup_cases[] = {
  { { 2, 5, 7, 3, 4, 1, 8, FALSE, 4, 1.0f, G_MAXUINT64 }, TRUE },
  { { 1, 9, 7, 0, 0, 8, 40, TRUE, 0, 1.0f, G_MAXUINT64 }, TRUE },
  { { 2, 10, 7, 1, 37, 2, 64, FALSE, 4, 2.0f, G_MAXUINT64 }, FALSE },
  { { 1, 33, 5, 10, 10, 3, 80, FALSE, 0, 1.0f, G_MAXUINT64 }, FALSE },
  { { 1, 8, 5, 0, 0, 2, 160, TRUE, 4, 1.0f, G_MAXUINT64 }, FALSE },
  { { 2, 20, 20, 0, 0, 2, 12, TRUE, 0, 3.0f, G_MAXUINT64 }, FALSE },
  { { 2, 6, 10, 3, 4, 2, 8, FALSE, 4, 1.0f, 4096 }, FALSE },
};
/* The first two of them, heads of 8 and 40 dims: each head dim is a
 * kernel of its own, which lavapipe takes 1 to 20 s to compile (the
 * longer the head, the longer), and passing values round the lanes is
 * the same code for every head dim. */
#define SUBGROUP_SHORT_CASES 2

/* Whether f16 attention forced to the subgroup kernel runs there: tensor
 * cores, where a device has them, take f16 first. */
static gboolean
subgroup_takes_f16 (void)
{
  const DrapeDeviceCaps *caps = drape_device_get_caps (test_device ());

  return caps->has_f16 && caps->coopmat == DRAPE_COOPMAT_NONE;
}

static void
test_attention_subgroup (void)
{
  guint32 sg = drape_device_get_caps (test_device ())->subgroup_size;

  if (sg < 4 || sg > 16)
    {
      g_test_skip ("the subgroup kernel takes subgroups of 4 to 16 lanes");
      return;
    }
  check_cases (subgroup_cases, G_N_ELEMENTS (subgroup_cases), "subgroup", subgroup_takes_f16 ());
}

/* Heads over 160 dims would unroll into more code than LLVM compiles in
 * reasonable time: forced to the subgroup kernel, two such heads take
 * the shared-memory one. */
static void
test_attention_subgroup_wide_heads (void)
{
  const TestAttention a = { 1, 6, 5, 0, 0, 2, 164, TRUE, 0, 0.5f, G_MAXUINT64 };
  g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "attention");
  TestAttentionRun run = { 0 };

  drape_graph_set_profiling (graph, TRUE);
  test_attention_record (graph, &a, DRAPE_DTYPE_F32, 31, "DRAPE_ATTENTION_KERNEL", "subgroup", &run);
  run_graph (graph);
  g_assert_false (test_graph_ran (graph, "attention.subgroup"));
  g_assert_true (test_graph_ran (graph, "attention"));
  test_attention_check (&run, DRAPE_DTYPE_F32);
  test_assert_no_validation_messages ();
}

/* The subgroup kernel passes K and V round the lanes as shuffles or as
 * broadcasts, whichever the driver compiles to register permutes
 * (DrapeDeviceCaps.lane_broadcasts): the other way gives the same
 * results. */
static void
test_attention_subgroup_lanes (void)
{
  DrapeDevice *device = test_device ();
  DrapeDeviceCaps *caps = drape_device_edit_caps (device);
  const DrapeDeviceCaps had = *caps;
  guint32 sg = caps->subgroup_size;

  if (!drape_device_get_info (device)->is_software || sg < 4 || sg > 16)
    {
      g_test_skip ("the subgroup kernel is for CPU devices with subgroups of 4 to 16 lanes");
      return;
    }
  caps->lane_broadcasts = !had.lane_broadcasts;
  check_cases (subgroup_cases, SUBGROUP_SHORT_CASES, "subgroup", subgroup_takes_f16 ());
  *caps = had;
}

/* The subgroup kernel reads K and V of heads of up to 40 dims through
 * texel buffers where the driver's texel reads work, else (and longer
 * heads always) from storage buffers: each way runs
 * with the other's variant refused and gets the same results, in f32 and
 * f16. */
static void
test_attention_subgroup_reads (void)
{
  DrapeDevice *device = test_device ();
  const AttnCase *c = &cases[1];
  DrapeDeviceCaps *caps = drape_device_edit_caps (device);
  const DrapeDeviceCaps had = *caps;
  guint32 sg = caps->subgroup_size;

  if (!drape_device_get_info (device)->is_software || sg < 4 || sg > 16)
    {
      g_test_skip ("the subgroup kernel is for CPU devices with subgroups of 4 to 16 lanes");
      return;
    }
  g_assert_true (c->f16);
  for (int texel = had.texel_reads; texel >= 0; texel--)
    {
      const char *const other[] = {
        texel ? "attention_subgroup.f32" : "attention_subgroup.f32_texel",
        texel ? "attention_subgroup.f16" : "attention_subgroup.f16_texel",
        NULL,
      };

      caps->texel_reads = texel;
      drape_device_refuse_families (device, other);
      check_attention (DRAPE_DTYPE_F32, c, "subgroup");
      if (subgroup_takes_f16 ())
        check_attention (DRAPE_DTYPE_F16, c, "subgroup");
    }
  /* Heads of 80 read storage buffers even where texels work: with the
   * texel variants refused, they still run there. */
  if (had.texel_reads)
    {
      const char *const texels[] = { "attention_subgroup.f32_texel", NULL };

      caps->texel_reads = TRUE;
      drape_device_refuse_families (device, texels);
      check_attention (DRAPE_DTYPE_F32, &subgroup_cases[3], "subgroup");
    }
  drape_device_refuse_families (device, NULL);
  *caps = had;
  test_assert_no_validation_messages ();
}

/* One head as GEMMs (op-attention-gemm.c), forced on any device: head
 * dims of 8 to 512, fewer keys than queries, fused QKV with channels
 * around it, batch 2, and a 4096-byte binding limit, which cuts the
 * queries into chunks and the GEMMs into bands. */
static void
test_attention_gemm (void)
{
  static const AttnCase gemm_cases[] = {
    { { 2, 5, 7, 3, 4, 1, 8, FALSE, 3, 1.0f, G_MAXUINT64 }, TRUE },
    { { 1, 9, 7, 0, 0, 1, 40, TRUE, 4, 1.0f, G_MAXUINT64 }, TRUE },
    { { 2, 6, 5, 0, 0, 1, 512, TRUE, 0, 0.5f, G_MAXUINT64 }, TRUE },
    { { 1, 11, 13, 6, 7, 1, 200, FALSE, 8, 2.0f, G_MAXUINT64 }, TRUE },
    { { 2, 12, 10, 3, 4, 1, 8, FALSE, 4, 1.0f, 4096 }, TRUE },
  };

  check_cases (gemm_cases, G_N_ELEMENTS (gemm_cases), "gemm", TRUE);
}

/* The engine's own way for one head: over 160 dims, the GEMMs on CPU
 * devices in either dtype and on devices with tensor cores in f16; a
 * fused kernel for a head of 160 and elsewhere. */
static void
test_attention_wide_head (void)
{
  static const AttnCase wide_cases[] = {
    { { 1, 6, 5, 0, 0, 1, 512, TRUE, 0, 0.5f, G_MAXUINT64 }, TRUE },
    { { 1, 8, 5, 0, 0, 1, 160, TRUE, 4, 1.0f, G_MAXUINT64 }, TRUE },
  };
  DrapeDevice *device = test_device ();
  const DrapeDeviceCaps *caps = drape_device_get_caps (device);
  gboolean cpu = drape_device_get_info (device)->is_software;

  for (guint i = 0; i < G_N_ELEMENTS (wide_cases); i++)
    for (guint f16 = 0; f16 <= (guint) caps->has_f16; f16++)
      {
        DrapeDType dtype = f16 ? DRAPE_DTYPE_F16 : DRAPE_DTYPE_F32;
        g_autoptr(DrapeGraph) graph = drape_graph_new (device, "attention");
        TestAttentionRun run = { 0 };
        gboolean gemm = wide_cases[i].a.d > 160 &&
                        (cpu || (caps->coopmat != DRAPE_COOPMAT_NONE && f16));

        drape_graph_set_profiling (graph, TRUE);
        test_attention_record (graph, &wide_cases[i].a, dtype, 43, NULL, NULL, &run);
        run_graph (graph);
        if (test_graph_ran (graph, "softmax") != gemm || test_graph_ran (graph, "transpose") != gemm)
          g_error ("%s: the GEMMs %s", run.what, gemm ? "did not run" : "ran");
        test_attention_check (&run, dtype);
      }
  test_assert_no_validation_messages ();
}

/* 8,192 queries and keys (a 128 x 64 latent) with few channels: many
 * key tiles through the online softmax. */
static void
test_attention_long (void)
{
  static const AttnCase long_cases[] = {
    { { 1, 128, 64, 0, 0, 1, 8, TRUE, 0, 2.0f, G_MAXUINT64 }, TRUE },
    { { 1, 96, 96, 16, 16, 2, 4, FALSE, 0, 2.0f, G_MAXUINT64 }, FALSE },
  };

  check_cases (long_cases, G_N_ELEMENTS (long_cases), NULL, TRUE);
}

/* A device that will not build the kernels tuned for it (the subgroup
 * one of CPUs, the tensor-core ones) still runs attention, on the
 * shared-memory kernel every device has. */
static void
test_attention_refused (void)
{
  const char *const refused[] = {
    "attention_subgroup", "attention_coopmat", "attention_coopmat2", "attention_wide_coopmat", NULL,
  };
  DrapeDevice *device = test_device ();

  drape_device_refuse_families (device, refused);
  for (guint d = 0; d < 2; d++)
    {
      g_autoptr(DrapeGraph) graph = drape_graph_new (device, "attention");
      TestAttentionRun run = { 0 };

      drape_graph_set_profiling (graph, TRUE);
      test_attention_record (graph, &cases[1].a, d, 41, NULL, NULL, &run);
      run_graph (graph);
      g_assert_true (test_graph_ran (graph, "attention"));
      test_attention_check (&run, d);
    }
  drape_device_refuse_families (device, NULL);
  test_assert_no_validation_messages ();
}

static void
expect_error (DrapeGraph *graph,
              DrapeError  code)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (drape_graph_compile (graph, &error));
  g_assert_error (error, DRAPE_ERROR, (gint) code);
  if (strstr (error->message, "attention") == NULL)
    g_error ("error \"%s\" does not name attention", error->message);
}

static void
test_attention_bad_shapes (void)
{
  DrapeDevice *device = test_device ();
  g_autoptr(DrapeTensor) q = test_tensor_from (DRAPE_DTYPE_F32, 2, 4, 4, 24, NULL);
  g_autoptr(DrapeTensor) k = test_tensor_from (DRAPE_DTYPE_F32, 2, 3, 3, 24, NULL);
  g_autoptr(DrapeTensor) v = test_tensor_from (DRAPE_DTYPE_F32, 2, 3, 2, 24, NULL);
  g_autoptr(DrapeTensor) k1 = test_tensor_from (DRAPE_DTYPE_F32, 1, 3, 3, 24, NULL);
  g_autoptr(DrapeTensor) big = test_tensor_from (DRAPE_DTYPE_F32, 1, 40, 40, 24, NULL);

  {
    /* 24 channels in 5 heads. */
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
    drape_op_attention (graph, q, 0, q, 0, q, 0, 24, 5, 1.0f);
    expect_error (graph, DRAPE_ERROR_INVALID_ARGUMENT);
  }
  {
    /* K and V with different token counts. */
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
    drape_op_attention (graph, q, 0, k, 0, v, 0, 24, 2, 1.0f);
    expect_error (graph, DRAPE_ERROR_INVALID_ARGUMENT);
  }
  {
    /* V's range past its channels. */
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
    drape_op_attention (graph, q, 0, k, 0, k, 8, 24, 2, 1.0f);
    expect_error (graph, DRAPE_ERROR_INVALID_ARGUMENT);
  }
  {
    /* K with another batch. */
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
    drape_op_attention (graph, q, 0, k1, 0, k1, 0, 24, 2, 1.0f);
    expect_error (graph, DRAPE_ERROR_INVALID_ARGUMENT);
  }
  {
    /* Keys of one image larger than a binding. */
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
    drape_device_set_binding_limit (device, 4096);
    drape_op_attention (graph, big, 0, big, 0, big, 0, 24, 2, 1.0f);
    drape_device_set_binding_limit (device, G_MAXUINT64);
    expect_error (graph, DRAPE_ERROR_UNSUPPORTED);
  }
}

/* On tensor cores, every way a tuning may take for a head of 40 dims
 * (kernels, key blocks, query tiles, subgroups: one per trial of
 * drape_graph_set_trial) computes attention; a tuning naming one other
 * than the usual is what runs. */
static void
test_attention_tuned_ways (void)
{
  DrapeDevice *device = test_device ();
  const AttnCase *s = &cases[1];
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  const char *problem = NULL, *other = NULL, *usual = NULL;
  guint n_trials = 1;

  if (drape_device_get_caps (device)->coopmat == DRAPE_COOPMAT_NONE ||
      !drape_device_get_caps (device)->has_timestamps)
    {
      g_test_skip ("no tensor cores or no timestamps");
      return;
    }
  for (guint trial = 0; trial < n_trials; trial++)
    {
      g_autoptr(DrapeGraph) graph = drape_graph_new (device, "attention trial");
      g_autoptr(GArray) ways = NULL;
      TestAttentionRun run = { 0 };

      drape_graph_set_trial (graph, (gint) trial);
      drape_graph_set_profiling (graph, TRUE);
      test_attention_record (graph, &s->a, DRAPE_DTYPE_F16, 31, NULL, NULL, &run);
      run_graph (graph);
      test_attention_check (&run, DRAPE_DTYPE_F16);
      n_trials = drape_graph_get_n_trials (graph);
      ways = drape_graph_get_way_profile (graph);
      g_assert_cmpuint (ways->len, ==, 1);
      {
        const DrapeWayTime *t = &g_array_index (ways, DrapeWayTime, 0);

        g_test_message ("%s: %s%s", t->problem, t->way, t->usual ? " (usual)" : "");
        g_assert_true (g_str_has_prefix (t->problem, "attention f16 "));
        problem = t->problem;
        g_hash_table_add (seen, (gpointer) t->way);
        if (t->usual)
          usual = t->way;
        else
          other = t->way;
      }
    }
  g_assert_cmpuint (g_hash_table_size (seen), ==, n_trials);
  g_assert_nonnull (usual);
  if (other == NULL)
    return;

  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "tuned attention");
    g_autoptr(GArray) ways = NULL;
    DrapeTuning *tuning = drape_tuning_new ();
    const DrapeTuningEntry entry = { problem, other, 1, usual, 2 };
    TestAttentionRun run = { 0 };

    drape_tuning_set (tuning, &entry);
    drape_device_set_tuning (device, tuning);
    drape_graph_set_profiling (graph, TRUE);
    test_attention_record (graph, &s->a, DRAPE_DTYPE_F16, 31, NULL, NULL, &run);
    run_graph (graph);
    test_attention_check (&run, DRAPE_DTYPE_F16);
    g_assert_cmpuint (drape_graph_get_n_tuned (graph), ==, 1);
    ways = drape_graph_get_way_profile (graph);
    g_assert_cmpstr (g_array_index (ways, DrapeWayTime, 0).way, ==, other);
    drape_device_set_tuning (device, drape_tuning_new ());
  }
  test_assert_no_validation_messages ();
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/attention/shapes", test_attention);
  g_test_add_func ("/attention/subgroup", test_attention_subgroup);
  g_test_add_func ("/attention/subgroup/wide-heads", test_attention_subgroup_wide_heads);
  g_test_add_func ("/attention/subgroup/reads", test_attention_subgroup_reads);
  g_test_add_func ("/attention/subgroup/lane-broadcasts", test_attention_subgroup_lanes);
  g_test_add_func ("/attention/long", test_attention_long);
  g_test_add_func ("/attention/gemm", test_attention_gemm);
  g_test_add_func ("/attention/wide-head", test_attention_wide_head);
  g_test_add_func ("/attention/refused-kernel", test_attention_refused);
  g_test_add_func ("/attention/bad-shapes", test_attention_bad_shapes);
  g_test_add_func ("/attention/graph-choice", test_attention_graph_choice);
  g_test_add_func ("/attention/tuned-ways", test_attention_tuned_ways);
  return test_finish (g_test_run ());
}
