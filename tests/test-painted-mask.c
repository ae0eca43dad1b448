/* test-painted-mask.c: painting, whole-mask edits and undo/redo of DrapeMask
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include "drape-mask.h"

static guint8
pixel (DrapeMask *mask,
       guint      x,
       guint      y)
{
  return drape_mask_get_data (mask)[(gsize) y * drape_mask_get_width (mask) + x];
}

static void
stroke (DrapeMask      *mask,
        DrapeBrushMode  mode,
        double          radius,
        double          hardness,
        const double   *points,
        guint           n_points)
{
  drape_mask_begin_stroke (mask, mode, radius, hardness);
  for (guint i = 0; i < n_points; i++)
    drape_mask_stroke_to (mask, points[2 * i], points[2 * i + 1], 1.0);
  drape_mask_end_stroke (mask);
}

static void
test_paint_and_erase (void)
{
  g_autoptr(DrapeMask) mask = drape_mask_new (600, 300);
  const double line[] = { 50, 150, 550, 150 };
  const double dot[] = { 300, 150 };

  g_assert_true (drape_mask_get_empty (mask));
  g_assert_false (drape_mask_get_can_undo (mask));

  stroke (mask, DRAPE_BRUSH_MODE_PAINT, 20, 1.0, line, 2);
  g_assert_false (drape_mask_get_empty (mask));
  g_assert_true (drape_mask_get_can_undo (mask));
  /* Along the line and its end caps, painted; beyond the radius, not. */
  g_assert_cmpuint (pixel (mask, 50, 150), ==, 255);
  g_assert_cmpuint (pixel (mask, 300, 160), ==, 255);
  g_assert_cmpuint (pixel (mask, 549, 150), ==, 255);
  g_assert_cmpuint (pixel (mask, 300, 175), ==, 0);
  g_assert_cmpuint (pixel (mask, 20, 150), ==, 0);
  g_assert_cmpuint (pixel (mask, 580, 150), ==, 0);

  stroke (mask, DRAPE_BRUSH_MODE_ERASE, 10, 1.0, dot, 1);
  g_assert_cmpuint (pixel (mask, 300, 150), ==, 0);
  g_assert_cmpuint (pixel (mask, 300, 166), ==, 255);
  g_assert_cmpuint (pixel (mask, 100, 150), ==, 255);
}

static void
test_soft_edge_and_pressure (void)
{
  g_autoptr(DrapeMask) mask = drape_mask_new (200, 200);
  guint8 mid;

  drape_mask_begin_stroke (mask, DRAPE_BRUSH_MODE_PAINT, 40, 0.0);
  drape_mask_stroke_to (mask, 100, 100, 1.0);
  drape_mask_end_stroke (mask);
  mid = pixel (mask, 120, 100);
  /* A soft brush falls off from the centre to the rim. */
  g_assert_cmpuint (pixel (mask, 100, 100), >, 240);
  g_assert_cmpuint (mid, >, 10);
  g_assert_cmpuint (mid, <, 245);
  g_assert_cmpuint (pixel (mask, 138, 100), <, mid);
  g_assert_cmpuint (pixel (mask, 141, 100), ==, 0);

  /* Half the pressure, half the radius. */
  drape_mask_fill (mask, 0);
  drape_mask_begin_stroke (mask, DRAPE_BRUSH_MODE_PAINT, 40, 1.0);
  drape_mask_stroke_to (mask, 100, 100, 0.5);
  drape_mask_end_stroke (mask);
  g_assert_cmpuint (pixel (mask, 115, 100), ==, 255);
  g_assert_cmpuint (pixel (mask, 125, 100), ==, 0);
}

static void
test_undo_redo_exact (void)
{
  g_autoptr(DrapeMask) mask = drape_mask_new (1000, 700);
  g_autoptr(GPtrArray) states = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  GRand *rand = g_rand_new_with_seed (7);

  g_ptr_array_add (states, drape_mask_to_bytes (mask));
  for (guint i = 0; i < 30; i++)
    {
      double points[8];

      for (guint j = 0; j < G_N_ELEMENTS (points); j += 2)
        {
          points[j] = g_rand_double_range (rand, -50, 1050);
          points[j + 1] = g_rand_double_range (rand, -50, 750);
        }
      stroke (mask, i % 4 == 3 ? DRAPE_BRUSH_MODE_ERASE : DRAPE_BRUSH_MODE_PAINT,
              g_rand_double_range (rand, 3, 80), g_rand_double (rand), points, 4);
      g_ptr_array_add (states, drape_mask_to_bytes (mask));
    }
  g_rand_free (rand);

  for (guint i = states->len - 1; i > 0; i--)
    {
      g_assert_true (drape_mask_undo (mask));
      g_assert_true (drape_mask_equal_bytes (mask, g_ptr_array_index (states, i - 1)));
    }
  g_assert_false (drape_mask_get_can_undo (mask));
  g_assert_false (drape_mask_undo (mask));
  g_assert_true (drape_mask_get_empty (mask));

  for (guint i = 1; i < states->len; i++)
    {
      g_assert_true (drape_mask_redo (mask));
      g_assert_true (drape_mask_equal_bytes (mask, g_ptr_array_index (states, i)));
    }
  g_assert_false (drape_mask_get_can_redo (mask));

  /* A new edit after an undo forgets the redo steps. */
  g_assert_true (drape_mask_undo (mask));
  g_assert_true (drape_mask_get_can_redo (mask));
  drape_mask_invert (mask);
  g_assert_false (drape_mask_get_can_redo (mask));
}

static void
test_whole_edits (void)
{
  g_autoptr(DrapeMask) mask = drape_mask_new (300, 520);
  g_autoptr(GBytes) before = NULL;
  g_autoptr(GBytes) noise = NULL;
  g_autoptr(GError) error = NULL;
  guint8 *data = g_malloc (300 * 520);
  const double dot[] = { 150, 150 };

  stroke (mask, DRAPE_BRUSH_MODE_PAINT, 30, 0.5, dot, 1);
  before = drape_mask_to_bytes (mask);

  drape_mask_invert (mask);
  g_assert_cmpuint (pixel (mask, 150, 150), ==, 0);
  g_assert_cmpuint (pixel (mask, 10, 10), ==, 255);
  drape_mask_fill (mask, 255);
  g_assert_cmpuint (pixel (mask, 150, 150), ==, 255);
  drape_mask_fill (mask, 0);
  g_assert_true (drape_mask_get_empty (mask));

  for (gsize i = 0; i < 300 * 520; i++)
    data[i] = (guint8) g_random_int ();
  noise = g_bytes_new_take (data, 300 * 520);
  g_assert_true (drape_mask_replace (mask, noise, &error));
  g_assert_no_error (error);
  g_assert_true (drape_mask_equal_bytes (mask, noise));

  /* A mask of the wrong size is refused and changes nothing. */
  {
    g_autoptr(GBytes) small = g_bytes_new_static ("abc", 3);

    g_assert_false (drape_mask_replace (mask, small, &error));
    g_assert_nonnull (error);
    g_clear_error (&error);
    g_assert_true (drape_mask_equal_bytes (mask, noise));
  }

  /* Random pixels do not compress: undo still restores them exactly. */
  drape_mask_fill (mask, 0);
  g_assert_true (drape_mask_undo (mask));
  g_assert_true (drape_mask_equal_bytes (mask, noise));
  g_assert_true (drape_mask_undo (mask)); /* replace */
  g_assert_true (drape_mask_undo (mask)); /* fill 0 */
  g_assert_true (drape_mask_undo (mask)); /* fill 255 */
  g_assert_true (drape_mask_undo (mask)); /* invert */
  g_assert_true (drape_mask_equal_bytes (mask, before));
}

static void
test_history_bounded (void)
{
  g_autoptr(DrapeMask) mask = drape_mask_new (4000, 3000);
  gsize one_stroke = 0, after;
  guint undone = 0;

  /* 100 strokes across the photo: history holds the touched tiles only,
   * compressed, far less than 100 copies of the 12 MB mask. */
  for (guint i = 0; i < 100; i++)
    {
      double points[] = { 100 + i * 38.0, 200, 200 + i * 30.0, 2800 };

      stroke (mask, DRAPE_BRUSH_MODE_PAINT, 40, 0.7, points, 2);
      if (i == 0)
        one_stroke = drape_mask_get_history_size (mask);
    }
  after = drape_mask_get_history_size (mask);
  g_test_message ("history after 100 strokes: %zu bytes (first stroke %zu)", after, one_stroke);
  g_assert_cmpuint (one_stroke, >, 0);
  g_assert_cmpuint (after, >, one_stroke);
  g_assert_cmpuint (after, <, 4000u * 3000u);

  /* A limit drops the oldest steps but keeps the newest. */
  drape_mask_set_history_limit (mask, after / 4);
  g_assert_cmpuint (drape_mask_get_history_size (mask), <=, after / 4);
  while (drape_mask_undo (mask))
    undone++;
  g_assert_cmpuint (undone, >=, 1);
  g_assert_cmpuint (undone, <, 100);
  g_assert_false (drape_mask_get_empty (mask));
}

static void
count_change (DrapeMask *mask,
              guint      x,
              guint      y,
              guint      w,
              guint      h,
              guint     *area)
{
  *area += w * h;
}

static void
test_changed_rect (void)
{
  g_autoptr(DrapeMask) mask = drape_mask_new (2000, 2000);
  guint area = 0;

  g_signal_connect (mask, "changed", G_CALLBACK (count_change), &area);
  drape_mask_begin_stroke (mask, DRAPE_BRUSH_MODE_PAINT, 10, 1.0);
  drape_mask_stroke_to (mask, 500, 500, 1.0);
  drape_mask_stroke_to (mask, 520, 500, 1.0);
  drape_mask_end_stroke (mask);
  /* Only the neighbourhood of the stroke is reported, not the mask. */
  g_assert_cmpuint (area, >, 0);
  g_assert_cmpuint (area, <, 2000);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/mask/paint-and-erase", test_paint_and_erase);
  g_test_add_func ("/mask/soft-edge-and-pressure", test_soft_edge_and_pressure);
  g_test_add_func ("/mask/undo-redo-exact", test_undo_redo_exact);
  g_test_add_func ("/mask/whole-edits", test_whole_edits);
  g_test_add_func ("/mask/history-bounded", test_history_bounded);
  g_test_add_func ("/mask/changed-rect", test_changed_rect);

  return g_test_run ();
}
