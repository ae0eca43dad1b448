/* test-resample.c: the parser's own ops, PIL resampling and resize-argmax,
 * against the naive C versions, whole and split into bands
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <math.h>
#include <string.h>

#include "image.h"
#include "ops.h"
#include "reference.h"
#include "test-common.h"

static void
fill_levels (float   *x,
             gsize    n,
             guint32  seed)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);

  for (gsize i = 0; i < n; i++)
    x[i] = g_rand_int_range (rand, 0, 256);
}

static void
check_resample (DrapeDType dtype,
                DrapeShape xs,
                DrapeAxis  axis,
                guint32    out_size)
{
  DrapeDevice *device = test_device ();
  guint32 in_size = axis == DRAPE_AXIS_H ? xs.h : xs.w;
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeResampleFilter) filter = drape_resample_filter_new_pil_bilinear (device, in_size, out_size, &error);
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "resample");
  g_autofree float *x = g_new (float, drape_shape_numel (xs));
  g_autoptr(DrapeTensor) xt = NULL;
  g_autofree float *got = NULL, *want = NULL;
  DrapeShape os = xs;
  DrapeTensor *out;
  guint64 n;

  g_assert_no_error (error);
  if (axis == DRAPE_AXIS_H)
    os.h = out_size;
  else
    os.w = out_size;
  n = drape_shape_numel (os);
  fill_levels (x, drape_shape_numel (xs), in_size * 31 + out_size);
  xt = test_tensor_from (dtype, xs.n, xs.h, xs.w, xs.c, x);
  out = drape_op_resample (graph, xt, axis, filter);
  g_assert_true (drape_graph_compile (graph, &error));
  g_assert_no_error (error);
  g_assert_true (drape_graph_run (graph, &error));
  g_assert_cmpuint (out->h, ==, os.h);
  g_assert_cmpuint (out->w, ==, os.w);

  got = test_download (out);
  want = g_new (float, n);
  drape_ref_resample (x, xs, axis, filter, want);
  /* Integer arithmetic on 8-bit levels: exact in f16 too. */
  for (guint64 i = 0; i < n; i++)
    if (got[i] != want[i])
      g_error ("resample %s %u -> %u along %s: value %" G_GUINT64_FORMAT " is %g, expected %g",
               drape_dtype_name (dtype), in_size, out_size, axis == DRAPE_AXIS_H ? "H" : "W",
               i, got[i], want[i]);
}

/* Down by a non-integer factor, up, by a large factor, to 1; split runs
 * (binding limit 4 KiB) keep to windows that fit in a binding. */
static void
run_resample_cases (gboolean split)
{
  static const DrapeShape shapes[] = { { 2, 13, 37, 3 }, { 1, 1, 1, 3 }, { 1, 70, 52, 3 } };

  for (DrapeDType dtype = DRAPE_DTYPE_F32; dtype <= DRAPE_DTYPE_F16; dtype++)
    for (guint i = 0; i < G_N_ELEMENTS (shapes); i++)
      {
        DrapeShape s = shapes[i];
        guint32 sizes_w[] = { MAX (s.w * 3 / 7, 1), s.w * 2 + 3, MAX (s.w / 9, 1), 1 };
        guint32 sizes_h[] = { MAX (s.h * 3 / 7, 1), s.h * 2 + 3, MAX (s.h / 9, 1), 1 };
        for (guint k = 0; k < (split ? 2 : G_N_ELEMENTS (sizes_w)); k++)
          {
            check_resample (dtype, s, DRAPE_AXIS_W, sizes_w[k]);
            check_resample (dtype, s, DRAPE_AXIS_H, sizes_h[k]);
          }
      }
}

static void
test_resample (void)
{
  run_resample_cases (FALSE);
  test_assert_no_validation_messages ();
}

static void
test_resample_split (void)
{
  DrapeDevice *device = test_device ();
  guint64 limit = drape_device_get_binding_limit (device);

  drape_device_set_binding_limit (device, 4096);
  run_resample_cases (TRUE);
  drape_device_set_binding_limit (device, limit);
  test_assert_no_validation_messages ();
}

/* The taps of Pillow 10's BILINEAR for 5 -> 2 (downscale: support 2.5,
 * centres 1.25 and 3.75) and 2 -> 4 (upscale: support 1), worked by hand. */
static void
test_resample_taps (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeResampleFilter) down = drape_resample_filter_new_pil_bilinear (test_device (), 5, 2, &error);
  g_autoptr(DrapeResampleFilter) up = NULL;

  g_assert_no_error (error);
  g_assert_cmpuint (down->ksize, ==, 7);
  /* Output 0: inputs 0..3 (xmin = int (1.25 - 2.5 + 0.5) = 0, xmax =
   * int (4.25) = 4); weights 1 - |x + 0.5 - 1.25| / 2.5 = 0.7, 0.9, 0.5,
   * 0.1 over 2.2. */
  g_assert_cmpuint (down->first[0], ==, 0);
  g_assert_cmpuint (down->count[0], ==, 4);
  g_assert_cmpint (down->taps[0], ==, (gint32) (0.5 + 0.7 / 2.2 * (1 << 22)));
  g_assert_cmpint (down->taps[1], ==, (gint32) (0.5 + 0.9 / 2.2 * (1 << 22)));
  g_assert_cmpint (down->taps[2], ==, (gint32) (0.5 + 0.5 / 2.2 * (1 << 22)));
  g_assert_cmpint (down->taps[3], ==, (gint32) (0.5 + 0.1 / 2.2 * (1 << 22)));
  /* Output 1: xmin = int (1.75) = 1, xmax = min (int (6.75), 5) = 5. */
  g_assert_cmpuint (down->first[1], ==, 1);
  g_assert_cmpuint (down->count[1], ==, 4);

  up = drape_resample_filter_new_pil_bilinear (test_device (), 2, 4, &error);
  g_assert_no_error (error);
  /* Output 1: centre 0.75, inputs 0 and 1 weighted 0.75 and 0.25. */
  g_assert_cmpuint (up->first[1], ==, 0);
  g_assert_cmpuint (up->count[1], ==, 2);
  g_assert_cmpint (up->taps[up->ksize + 0], ==, 3 << 20);
  g_assert_cmpint (up->taps[up->ksize + 1], ==, 1 << 20);
}

/* Both passes against image.c's host version of Pillow's BILINEAR (tested
 * there against Pillow itself): every level equal. */
static void
test_resample_vs_host (void)
{
  static const guint32 sizes[][4] = {
    { 52, 70, 64, 64 }, { 700, 37, 512, 512 }, { 33, 1, 512, 512 }, { 512, 600, 512, 512 },
    { 1031, 1543, 512, 512 },
  };
  DrapeDevice *device = test_device ();
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);

  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      guint32 w = sizes[i][0], h = sizes[i][1], ow = sizes[i][2], oh = sizes[i][3];
      g_autoptr(DrapeImage) image = drape_image_new (w, h, 3);
      g_autoptr(DrapeImage) want = NULL;
      g_autoptr(GError) error = NULL;
      g_autoptr(DrapeResampleFilter) fw = drape_resample_filter_new_pil_bilinear (device, w, ow, &error);
      g_autoptr(DrapeResampleFilter) fh = drape_resample_filter_new_pil_bilinear (device, h, oh, &error);
      g_autoptr(DrapeGraph) graph = drape_graph_new (device, "resample");
      g_autofree float *levels = g_new (float, (gsize) w * h * 3);
      g_autoptr(DrapeTensor) x = NULL;
      g_autofree float *got = NULL;
      DrapeTensor *out;

      g_assert_no_error (error);
      /* Smooth gradients with noise: the rounding matters everywhere. */
      for (gsize p = 0; p < (gsize) w * h * 3; p++)
        {
          gsize px = p / 3 % w, py = p / 3 / w;
          image->pixels[p] = (guint8) CLAMP ((gint) ((px * 255) / MAX (w - 1, 1) + py % 17 * 3 +
                                                     g_rand_int_range (rand, -20, 21)), 0, 255);
          levels[p] = image->pixels[p];
        }
      want = drape_image_resize_bilinear (image, ow, oh);
      x = test_tensor_from (DRAPE_DTYPE_F32, 1, h, w, 3, levels);
      out = drape_op_resample (graph, drape_op_resample (graph, x, DRAPE_AXIS_W, fw), DRAPE_AXIS_H, fh);
      g_assert_true (drape_graph_run (graph, &error));
      g_assert_no_error (error);
      got = test_download (out);
      for (gsize p = 0; p < (gsize) ow * oh * 3; p++)
        if (got[p] != want->pixels[p])
          g_error ("%ux%u -> %ux%u: level %" G_GSIZE_FORMAT " is %g, Pillow's is %u",
                   w, h, ow, oh, p, got[p], want->pixels[p]);
    }
  test_assert_no_validation_messages ();
}

static void
test_resample_errors (void)
{
  DrapeDevice *device = test_device ();
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeResampleFilter) filter = drape_resample_filter_new_pil_bilinear (device, 10, 5, &error);
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "resample");
  g_autoptr(DrapeTensor) x = drape_tensor_new (device, DRAPE_DTYPE_F32, 1, 8, 12, 3, &error);

  g_assert_no_error (error);
  drape_op_resample (graph, x, DRAPE_AXIS_W, filter);
  g_assert_false (drape_graph_compile (graph, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "made for 10"));
  g_clear_error (&error);

  g_assert_null (drape_resample_filter_new_pil_bilinear (device, 0, 5, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT);
}

static void
check_resize_argmax (DrapeDType dtype,
                     DrapeShape xs,
                     guint32    out_h,
                     guint32    out_w)
{
  DrapeDevice *device = test_device ();
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "resize_argmax");
  g_autofree float *x = g_new (float, drape_shape_numel (xs));
  DrapeShape rs = { xs.n, out_h, out_w, xs.c }, ls = { xs.n, out_h, out_w, 1 };
  g_autofree float *resized = g_new (float, drape_shape_numel (rs));
  g_autofree float *want = g_new (float, drape_shape_numel (ls));
  g_autofree float *got = NULL;
  g_autoptr(DrapeTensor) xt = NULL;
  DrapeTensor *out;
  guint checked = 0;

  test_fill_random (x, drape_shape_numel (xs), out_h * 7 + out_w, 4.0f);
  test_quantize (x, drape_shape_numel (xs), dtype);
  xt = test_tensor_from (dtype, xs.n, xs.h, xs.w, xs.c, x);
  out = drape_op_resize_argmax (graph, xt, out_h, out_w);
  g_assert_true (drape_graph_run (graph, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (out->dtype, ==, DRAPE_DTYPE_F32);
  got = test_download (out);

  drape_ref_resize_bilinear (x, xs, out_h, out_w, resized);
  drape_ref_argmax (resized, rs, want);
  for (guint64 i = 0; i < drape_shape_numel (ls); i++)
    {
      /* Where two channels come within rounding of each other either
       * label is right. */
      const float *v = resized + i * xs.c;
      float best = v[(guint) want[i]], second = -INFINITY;
      for (guint32 c = 0; c < xs.c; c++)
        if (c != (guint) want[i])
          second = MAX (second, v[c]);
      if (best - second < 1e-4f * (1 + fabsf (best)))
        continue;
      checked++;
      if (got[i] != want[i])
        g_error ("resize_argmax %s [%u %u %u %u] -> %ux%u: pixel %" G_GUINT64_FORMAT
                 " is %g, expected %g", drape_dtype_name (dtype), xs.n, xs.h, xs.w, xs.c,
                 out_h, out_w, i, got[i], want[i]);
    }
  g_assert_cmpuint (checked, >, drape_shape_numel (ls) * 9 / 10);
}

static void
run_resize_argmax_cases (void)
{
  for (DrapeDType dtype = DRAPE_DTYPE_F32; dtype <= DRAPE_DTYPE_F16; dtype++)
    {
      check_resize_argmax (dtype, (DrapeShape) { 2, 5, 7, 18 }, 23, 11);
      check_resize_argmax (dtype, (DrapeShape) { 1, 16, 16, 18 }, 70, 52);
      check_resize_argmax (dtype, (DrapeShape) { 1, 3, 4, 5 }, 3, 4);
      check_resize_argmax (dtype, (DrapeShape) { 1, 9, 6, 3 }, 4, 2);
      check_resize_argmax (dtype, (DrapeShape) { 1, 1, 1, 18 }, 5, 3);
    }
}

static void
test_resize_argmax (void)
{
  run_resize_argmax_cases ();
  test_assert_no_validation_messages ();
}

static void
test_resize_argmax_split (void)
{
  DrapeDevice *device = test_device ();
  guint64 limit = drape_device_get_binding_limit (device);

  drape_device_set_binding_limit (device, 4096 + 256);
  check_resize_argmax (DRAPE_DTYPE_F32, (DrapeShape) { 1, 5, 7, 18 }, 70, 52);
  check_resize_argmax (DRAPE_DTYPE_F32, (DrapeShape) { 2, 4, 3, 9 }, 230, 11);
  drape_device_set_binding_limit (device, limit);
  test_assert_no_validation_messages ();
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/resample/pil", test_resample);
  g_test_add_func ("/resample/pil-split", test_resample_split);
  g_test_add_func ("/resample/pil-taps", test_resample_taps);
  g_test_add_func ("/resample/pil-vs-host", test_resample_vs_host);
  g_test_add_func ("/resample/errors", test_resample_errors);
  g_test_add_func ("/resize-argmax/basic", test_resize_argmax);
  g_test_add_func ("/resize-argmax/split", test_resize_argmax_split);
  return test_finish (g_test_run ());
}
