/* test-rng.c: Philox4x32-10 and its normals, on the CPU and the GPU
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "test-common.h"

#include <math.h>
#include <string.h>

#include "error.h"
#include "ops.h"
#include "rng.h"

#define N_STATS (1u << 20)

/* Vulkan lets sin and cos be off by 2^-11 in [-pi, pi] and |r| < 5.9, so
 * a conformant GPU may differ from the C library by up to about 3e-3. */
#define GPU_TOLERANCE 3e-3

/* Random123's known-answer vectors for philox4x32_10. */
static void
test_philox_kat (void)
{
  static const struct {
    guint32 counter[4], key[2], out[4];
  } kat[] = {
    { { 0, 0, 0, 0 }, { 0, 0 },
      { 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8 } },
    { { 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff }, { 0xffffffff, 0xffffffff },
      { 0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd } },
    { { 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344 }, { 0xa4093822, 0x299f31d0 },
      { 0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1 } },
  };

  for (guint i = 0; i < G_N_ELEMENTS (kat); i++)
    {
      guint32 out[4];
      drape_rng_philox4x32 (kat[i].counter, kat[i].key, out);
      g_assert_cmpmem (out, sizeof out, kat[i].out, sizeof kat[i].out);
    }
}

/* Mean, variance and the mass within one sigma of 2^20 draws, each to
 * about five standard errors. */
static void
assert_standard_normal (const float *z,
                        gsize        n)
{
  double sum = 0, sum2 = 0, max = 0;
  gsize within = 0;
  double mean, var, frac;

  for (gsize i = 0; i < n; i++)
    {
      sum += z[i];
      sum2 += (double) z[i] * z[i];
      within += fabs (z[i]) < 1;
      max = MAX (max, fabs (z[i]));
    }
  mean = sum / n;
  var = sum2 / n - mean * mean;
  frac = (double) within / n;
  if (g_test_verbose ())
    g_printerr ("mean %.5f, std %.5f, P(|z| < 1) %.5f, max |z| %.3f\n",
                mean, sqrt (var), frac, max);
  g_assert_cmpfloat (fabs (mean), <, 5 / sqrt (n));
  g_assert_cmpfloat (fabs (var - 1), <, 5 * sqrt (2.0 / n));
  g_assert_cmpfloat (fabs (frac - 0.682689), <, 5 * sqrt (0.6827 * 0.3173 / n));
  g_assert_cmpfloat (max, <, 5.9);
  g_assert_cmpfloat (max, >, 4.0);
}

static void
test_normal_stats (void)
{
  g_autofree float *z = g_new (float, N_STATS);

  drape_rng_normal (42, DRAPE_RNG_STREAM_INIT_NOISE, 0, z, N_STATS);
  assert_standard_normal (z, N_STATS);
}

static gsize
count_equal (const float *a,
             const float *b,
             gsize        n)
{
  gsize equal = 0;

  for (gsize i = 0; i < n; i++)
    equal += a[i] == b[i];
  return equal;
}

static void
test_streams (void)
{
  const gsize n = 4096;
  g_autofree float *a = g_new (float, n);
  g_autofree float *again = g_new (float, n);
  g_autofree float *other_stream = g_new (float, n);
  g_autofree float *other_seed = g_new (float, n);
  g_autofree float *high_seed = g_new (float, n);
  g_autofree float *slice = g_new (float, 11);

  drape_rng_normal (7, drape_rng_step_stream (3), 0, a, n);
  drape_rng_normal (7, drape_rng_step_stream (3), 0, again, n);
  drape_rng_normal (7, drape_rng_step_stream (4), 0, other_stream, n);
  drape_rng_normal (8, drape_rng_step_stream (3), 0, other_seed, n);
  drape_rng_normal (7 | G_GUINT64_CONSTANT (1) << 32, drape_rng_step_stream (3), 0, high_seed, n);
  g_assert_cmpmem (a, n * sizeof (float), again, n * sizeof (float));
  g_assert_cmpuint (count_equal (a, other_stream, n), <, 4);
  g_assert_cmpuint (count_equal (a, other_seed, n), <, 4);
  g_assert_cmpuint (count_equal (a, high_seed, n), <, 4);

  /* A run of normals from any offset is that part of the stream. */
  drape_rng_normal (7, drape_rng_step_stream (3), 1001, slice, 11);
  g_assert_cmpmem (slice, 11 * sizeof (float), a + 1001, 11 * sizeof (float));

  /* The streams CatVTON's draws use are all distinct. */
  g_assert_cmpuint (DRAPE_RNG_STREAM_POSTERIOR_PERSON, !=, DRAPE_RNG_STREAM_POSTERIOR_GARMENT);
  g_assert_cmpuint (drape_rng_step_stream (0), >, DRAPE_RNG_STREAM_INIT_NOISE);
}

static void
test_key_tensor (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeTensor) key = drape_rng_key_new (test_device (), G_GUINT64_CONSTANT (0x1122334455667788),
                                                  G_GUINT64_CONSTANT (0x99aabbccddeeff00), &error);
  g_autoptr(DrapeTensor) wrong = test_tensor_from (DRAPE_DTYPE_F32, 1, 1, 1, 3, NULL);
  const guint32 want[4] = { 0x55667788, 0x11223344, 0xddeeff00, 0x99aabbcc };
  const guint32 *words;

  g_assert_no_error (error);
  words = drape_tensor_get_mapped (key);
  g_assert_nonnull (words);
  g_assert_cmpmem (words, sizeof want, want, sizeof want);
  g_assert_false (drape_rng_key_set (wrong, 1, 2, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT);
}

static double
mean_abs_diff (const float *a,
               const float *b,
               gsize        n)
{
  double sum = 0;

  for (gsize i = 0; i < n; i++)
    sum += fabs ((double) a[i] - b[i]);
  return sum / n;
}

/* GPU normals against CPU normals of the same (seed, stream). */
static void
check_gpu (DrapeTensor *key,
           DrapeTensor *out,
           DrapeGraph  *graph,
           guint64      seed,
           guint64      stream,
           double      *max_diff)
{
  g_autoptr(GError) error = NULL;
  guint64 n = drape_tensor_numel (out);
  g_autofree float *want = g_new (float, n);
  g_autofree float *got = NULL;
  double diff;

  drape_graph_run (graph, &error);
  g_assert_no_error (error);
  got = test_download (out);
  drape_rng_normal (seed, stream, 0, want, n);
  test_quantize (want, n, out->dtype);
  diff = test_max_abs_diff (got, want, n);
  /* f16 storage rounds to 2^-11 relative, |z| < 5.9 */
  g_assert_cmpfloat (diff, <=, out->dtype == DRAPE_DTYPE_F16 ? GPU_TOLERANCE + 5.9 / 2048
                                                            : GPU_TOLERANCE);
  *max_diff = MAX (*max_diff, diff);
}

static void
test_gpu_matches_cpu (void)
{
  DrapeDevice *device = test_device ();
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeTensor) key = drape_rng_key_new (device, 1234, DRAPE_RNG_STREAM_INIT_NOISE,
                                                  &error);
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "randn");
  DrapeTensor *big, *odd, *half;
  g_autofree float *first = NULL;
  g_autofree float *cpu = g_new (float, N_STATS);
  double max_diff = 0;
  guint32 *words;

  g_assert_no_error (error);
  big = drape_op_randn (graph, key, 1, 1024, 256, 4, DRAPE_DTYPE_F32);
  /* lengths that end inside a block, and a split into small bindings */
  drape_device_set_binding_limit (device, 4096);
  odd = drape_op_randn (graph, key, 2, 7, 13, 5, DRAPE_DTYPE_F32);
  half = drape_op_randn (graph, key, 1, 33, 17, 3, DRAPE_DTYPE_F16);
  drape_device_set_binding_limit (device, G_MAXUINT64);
  drape_graph_compile (graph, &error);
  g_assert_no_error (error);

  check_gpu (key, big, graph, 1234, DRAPE_RNG_STREAM_INIT_NOISE, &max_diff);
  check_gpu (key, odd, graph, 1234, DRAPE_RNG_STREAM_INIT_NOISE, &max_diff);
  check_gpu (key, half, graph, 1234, DRAPE_RNG_STREAM_INIT_NOISE, &max_diff);
  first = test_download (big);
  assert_standard_normal (first, N_STATS);

  /* The recorded graph serves any key: rewrite the words in place. */
  words = drape_tensor_get_mapped (key);
  words[2] = (guint32) drape_rng_step_stream (9);
  check_gpu (key, big, graph, 1234, drape_rng_step_stream (9), &max_diff);
  drape_rng_key_set (key, G_GUINT64_CONSTANT (0xfedcba9876543210), 5, &error);
  g_assert_no_error (error);
  check_gpu (key, odd, graph, G_GUINT64_CONSTANT (0xfedcba9876543210), 5, &max_diff);

  /* Back to the first key: the same normals again. */
  drape_rng_key_set (key, 1234, DRAPE_RNG_STREAM_INIT_NOISE, &error);
  g_assert_no_error (error);
  drape_graph_run (graph, &error);
  g_assert_no_error (error);
  {
    g_autofree float *again = test_download (big);
    g_assert_cmpmem (again, N_STATS * sizeof (float), first, N_STATS * sizeof (float));
  }
  drape_rng_normal (1234, DRAPE_RNG_STREAM_INIT_NOISE, 0, cpu, N_STATS);
  if (g_test_verbose ())
    g_printerr ("GPU vs CPU normals: max |diff| %.3g; mean |diff| over 2^20 %.3g\n",
                max_diff, mean_abs_diff (first, cpu, N_STATS));
  test_assert_no_validation_messages ();
}

static void
test_randn_bad_key (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeTensor) key = test_tensor_from (DRAPE_DTYPE_F16, 1, 1, 1, 4, NULL);
  g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "bad");

  drape_op_randn (graph, key, 1, 2, 2, 2, DRAPE_DTYPE_F32);
  g_assert_false (drape_graph_compile (graph, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "randn"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/rng/philox-kat", test_philox_kat);
  g_test_add_func ("/rng/normal-stats", test_normal_stats);
  g_test_add_func ("/rng/streams", test_streams);
  g_test_add_func ("/rng/key-tensor", test_key_tensor);
  g_test_add_func ("/rng/gpu", test_gpu_matches_cpu);
  g_test_add_func ("/rng/bad-key", test_randn_bad_key);
  return test_finish (g_test_run ());
}
