/* test-tiles.c: tiling and blending, independent of any model
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <gio/gio.h>

#include "tiles.h"

static void
check_starts (guint32        size,
              guint32        tile,
              guint32        overlap,
              const guint32 *want,
              guint          n)
{
  g_autoptr(GArray) starts = drape_tiles_starts (size, tile, overlap);

  g_assert_cmpuint (starts->len, ==, n);
  for (guint i = 0; i < n; i++)
    g_assert_cmpuint (g_array_index (starts, guint32, i), ==, want[i]);
}

static void
test_starts (void)
{
  const guint32 a[] = { 0, 3, 6 };
  const guint32 b[] = { 0 };
  const guint32 c[] = { 0, 2, 4, 6, 7 };

  check_starts (10, 4, 1, a, G_N_ELEMENTS (a));
  check_starts (10, 10, 3, b, G_N_ELEMENTS (b));
  check_starts (11, 4, 2, c, G_N_ELEMENTS (c));
}

typedef struct {
  const DrapeTileGrid *grid;
  guint32 batch, scale, channels;
  guint calls;
} Job;

/* A smooth function of the global output position: what a tile computes
 * when it needs no context beyond itself. */
static float
field (guint32 n,
       guint32 y,
       guint32 x,
       guint32 c)
{
  return n * 1000.0f + y * 7.5f - x * 3.25f + c * 0.5f;
}

static gboolean
window (guint32   y0,
        guint32   x0,
        float    *out,
        gpointer  user_data,
        GError  **error)
{
  Job *job = user_data;
  guint32 th = job->grid->tile_height * job->scale, tw = job->grid->tile_width * job->scale;

  job->calls++;
  for (guint32 n = 0; n < job->batch; n++)
    for (guint32 y = 0; y < th; y++)
      for (guint32 x = 0; x < tw; x++)
        for (guint32 c = 0; c < job->channels; c++)
          out[(((gsize) n * th + y) * tw + x) * job->channels + c] =
            field (n, y0 * job->scale + y, x0 * job->scale + x, c);
  return TRUE;
}

/* Tiles that agree where they overlap blend back to the exact field. */
static void
test_reconstruction (void)
{
  const DrapeTileGrid grids[] = {
    { 13, 17, 5, 6, 2 },
    { 8, 8, 8, 8, 3 },
    { 31, 9, 4, 9, 1 },
  };

  for (guint g = 0; g < G_N_ELEMENTS (grids); g++)
    {
      Job job = { &grids[g], 2, 3, 2 };
      guint32 oh = grids[g].height * 3, ow = grids[g].width * 3;
      g_autofree float *out = g_new (float, (gsize) 2 * oh * ow * 2);
      g_autoptr(GError) error = NULL;

      g_assert_true (drape_tiles_run (&grids[g], 2, 3, 2, window, &job, out, &error));
      g_assert_no_error (error);
      for (guint32 n = 0; n < 2; n++)
        for (guint32 y = 0; y < oh; y++)
          for (guint32 x = 0; x < ow; x++)
            for (guint32 c = 0; c < 2; c++)
              g_assert_cmpfloat_with_epsilon (out[(((gsize) n * oh + y) * ow + x) * 2 + c],
                                              field (n, y, x, c), 1e-2);
    }
}

static gboolean
constant (guint32   y0,
          guint32   x0,
          float    *out,
          gpointer  user_data,
          GError  **error)
{
  Job *job = user_data;

  job->calls++;
  for (guint32 i = 0; i < job->grid->tile_height * job->grid->tile_width; i++)
    out[i] = job->calls;
  return TRUE;
}

/* Each tile a different constant: the blend stays between its tiles'
 * values, is exactly a tile's value where only that tile reaches, and
 * changes monotonically across an overlap. */
static void
test_blend (void)
{
  const DrapeTileGrid grid = { 1, 20, 1, 8, 4 };
  Job job = { &grid, 1, 1, 1 };
  float out[20];
  g_autoptr(GError) error = NULL;

  g_assert_true (drape_tiles_run (&grid, 1, 1, 1, constant, &job, out, &error));
  g_assert_cmpuint (job.calls, ==, 4); /* starts 0, 4, 8, 12 */
  g_assert_cmpfloat (out[0], ==, 1.0f);
  g_assert_cmpfloat (out[19], ==, 4.0f);
  for (guint i = 1; i < 20; i++)
    g_assert_cmpfloat (out[i], >=, out[i - 1]);
  for (guint i = 0; i < 20; i++)
    {
      g_assert_cmpfloat (out[i], >=, 1.0f);
      g_assert_cmpfloat (out[i], <=, 4.0f);
    }
}

static gboolean
failing (guint32   y0,
         guint32   x0,
         float    *out,
         gpointer  user_data,
         GError  **error)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "stop");
  return FALSE;
}

static void
test_error (void)
{
  const DrapeTileGrid grid = { 4, 4, 2, 2, 1 };
  float out[16];
  g_autoptr(GError) error = NULL;

  g_assert_false (drape_tiles_run (&grid, 1, 1, 1, failing, NULL, out, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/tiles/starts", test_starts);
  g_test_add_func ("/tiles/reconstruction", test_reconstruction);
  g_test_add_func ("/tiles/blend", test_blend);
  g_test_add_func ("/tiles/error", test_error);
  return g_test_run ();
}
