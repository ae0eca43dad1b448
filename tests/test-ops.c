/* test-ops.c: every op against a naive C reference
 *
 * Random data, awkward shapes (not multiples of any tile, dimensions of 1,
 * batch 2), f32 and f16; each case also runs with the binding limit
 * lowered so that the op's splitting path is taken.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "test-common.h"

#include <string.h>

#include "ops.h"
#include "reference.h"

typedef struct {
  guint32 n, h, w, c;
} Shape;

static const Shape awkward[] = {
  { 1, 1, 1, 1 },
  { 2, 3, 5, 7 },
  { 1, 17, 13, 33 },
  { 2, 9, 1, 130 },
};

static DrapeGraph *
run_graph (DrapeGraph *graph)
{
  g_autoptr(GError) error = NULL;

  drape_graph_compile (graph, &error);
  g_assert_no_error (error);
  drape_graph_run (graph, &error);
  g_assert_no_error (error);
  return graph;
}

static void
check_binary (DrapeDType    dtype,
              DrapeBinaryOp op,
              const Shape  *s,
              guint32       b_n,
              gboolean      broadcast,
              guint64       binding_limit)
{
  DrapeDevice *device = test_device ();
  guint64 na = (guint64) s->n * s->h * s->w * s->c;
  guint32 bh = broadcast ? 1 : s->h, bw = broadcast ? 1 : s->w;
  guint64 nb = (guint64) b_n * bh * bw * s->c;
  g_autofree float *a = g_new (float, na);
  g_autofree float *b = g_new (float, nb);
  g_autofree float *ref = g_new (float, na);
  g_autofree float *got = NULL;
  g_autoptr(DrapeTensor) ta = NULL;
  g_autoptr(DrapeTensor) tb = NULL;
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "binary");
  DrapeTensor *out;
  float alpha = 0.75f, beta = -1.25f;

  test_fill_random (a, na, 1, 2.0f);
  test_fill_random (b, nb, 2, 2.0f);
  test_quantize (a, na, dtype);
  test_quantize (b, nb, dtype);
  drape_ref_binary (op, a, (DrapeShape) { s->n, s->h, s->w, s->c }, b,
                    (DrapeShape) { b_n, bh, bw, s->c }, alpha, beta, ref);

  ta = test_tensor_from (dtype, s->n, s->h, s->w, s->c, a);
  tb = test_tensor_from (dtype, b_n, bh, bw, s->c, b);
  drape_device_set_binding_limit (device, binding_limit);
  out = drape_op_binary (graph, op, ta, tb, alpha, beta);
  run_graph (graph);
  drape_device_set_binding_limit (device, G_MAXUINT64);
  got = test_download (out);
  test_assert_close ("binary", got, ref, na, test_tolerance (dtype));
}

static void
test_binary (void)
{
  for (guint d = 0; d < 2; d++)
    for (guint op = 0; op < 2; op++)
      for (guint i = 0; i < G_N_ELEMENTS (awkward); i++)
        for (guint limit = 0; limit < 2; limit++)
          {
            const Shape *s = &awkward[i];
            guint64 lim = limit ? 4096 : G_MAXUINT64;
            check_binary (d, op, s, s->n, FALSE, lim);
            check_binary (d, op, s, 1, TRUE, lim);
            check_binary (d, op, s, s->n, TRUE, lim);
          }
  test_assert_no_validation_messages ();
}

static void
test_binary_bad_shapes (void)
{
  DrapeDevice *device = test_device ();
  g_autoptr(DrapeTensor) a = test_tensor_from (DRAPE_DTYPE_F32, 1, 4, 4, 3, NULL);
  g_autoptr(DrapeTensor) b = test_tensor_from (DRAPE_DTYPE_F32, 1, 4, 3, 3, NULL);
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "bad");
  g_autoptr(GError) error = NULL;

  drape_op_add (graph, a, b);
  g_assert_false (drape_graph_compile (graph, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "add"));
}

/* A tensor above 128 MiB, split across bindings at the device's real
 * limit, on a grid above 65,535 workgroups. */
static void
test_binary_large (void)
{
  DrapeDevice *device = test_device ();
  const guint32 h = 1024, w = 1024, c = 36; /* 144 MiB in f32 */
  guint64 n = (guint64) h * w * c;
  g_autofree float *a = g_new (float, n);
  g_autofree float *got = NULL;
  g_autoptr(DrapeTensor) ta = NULL;
  g_autoptr(DrapeTensor) tb = NULL;
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "large");
  float bias[36];
  DrapeTensor *out;

  /* 128 MiB, as on lavapipe, whatever this device allows. */
  drape_device_set_binding_limit (device, 128u << 20);
  g_assert_cmpuint (n * 4, >, drape_device_get_binding_limit (device));
  for (guint64 i = 0; i < n; i++)
    a[i] = (float) (i % 1000);
  for (guint i = 0; i < c; i++)
    bias[i] = (float) i;
  ta = test_tensor_from (DRAPE_DTYPE_F32, 1, h, w, c, a);
  tb = test_tensor_from (DRAPE_DTYPE_F32, 1, 1, 1, c, bias);
  out = drape_op_add (graph, ta, tb);
  run_graph (graph);
  drape_device_set_binding_limit (device, G_MAXUINT64);
  got = test_download (out);
  for (guint64 i = 0; i < n; i++)
    if (got[i] != (float) (i % 1000) + (float) (i % c))
      g_error ("large add: element %" G_GUINT64_FORMAT " is %g", i, got[i]);
  test_assert_no_validation_messages ();
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ops/binary", test_binary);
  g_test_add_func ("/ops/binary/bad-shapes", test_binary_bad_shapes);
  g_test_add_func ("/ops/binary/large", test_binary_large);
  return test_finish (g_test_run ());
}
