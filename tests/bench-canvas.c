/* bench-canvas.c: how long a frame takes while painting a stroke on a
 * 4000 x 3000 photo, and what undo costs after 100 strokes
 *
 *   dbus-run-session -- xvfb-run -a -s "-screen 0 1600x1000x24" \
 *     env GSETTINGS_SCHEMA_DIR=build/data GSETTINGS_BACKEND=memory \
 *     build/tests/bench-canvas
 *
 * A frame is timed from the frame clock's flush-events phase (where GDK
 * hands the queued pointer events to the canvas, which paints the mask)
 * to the end of after-paint (layout, snapshot with the rebuilt overlay
 * tiles, and rendering), so it covers all the work a stroke causes.  The
 * pointer moves through the X server (XTest) at 125 events a second.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <gdk/x11/gdkx.h>
#include <X11/extensions/XTest.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "app-test-common.h"
#include "drape-mask-canvas.h"
#include "drape-models-page.h"
#include "drape-window.h"

#define PHOTO_WIDTH 4000
#define PHOTO_HEIGHT 3000

typedef struct {
  gint64 start;
  GArray *durations; /* double, ms */
  gboolean recording;
} Frames;

static void
on_flush_events (GdkFrameClock *clock,
                 Frames        *frames)
{
  frames->start = g_get_monotonic_time ();
}

static void
on_after_paint (GdkFrameClock *clock,
                Frames        *frames)
{
  double ms;

  if (!frames->recording || frames->start == 0)
    return;
  ms = (g_get_monotonic_time () - frames->start) / 1000.0;
  g_array_append_val (frames->durations, ms);
  frames->start = 0;
}

static int
compare_double (gconstpointer a,
                gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return x < y ? -1 : x > y;
}

static void
to_root (GtkWidget *widget,
         double     x,
         double     y,
         int       *rx,
         int       *ry)
{
  GtkNative *native = gtk_widget_get_native (widget);
  Display *display = gdk_x11_display_get_xdisplay (gtk_widget_get_display (widget));
  graphene_point_t point;
  double sx, sy;
  Window child;
  int wx, wy;

  if (!gtk_widget_compute_point (widget, GTK_WIDGET (native), &GRAPHENE_POINT_INIT (x, y), &point))
    g_error ("canvas not in the window");
  gtk_native_get_surface_transform (native, &sx, &sy);
  XTranslateCoordinates (display, gdk_x11_surface_get_xid (gtk_native_get_surface (native)),
                         DefaultRootWindow (display), 0, 0, &wx, &wy, &child);
  *rx = wx + (int) (point.x + sx);
  *ry = wy + (int) (point.y + sy);
}

static void
photo_done (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!drape_window_open_photo_finish (DRAPE_WINDOW (object), result, &error))
    g_error ("%s", error->message);
  *(gboolean *) user_data = TRUE;
}

static void
report (const char *what,
        GArray     *values,
        const char *unit)
{
  double sum = 0;

  g_array_sort (values, compare_double);
  for (guint i = 0; i < values->len; i++)
    sum += g_array_index (values, double, i);
  printf ("%s: n %u, mean %.2f %s, median %.2f, p95 %.2f, max %.2f\n", what, values->len,
          sum / MAX (values->len, 1), unit,
          g_array_index (values, double, values->len / 2),
          g_array_index (values, double, (guint) (values->len * 0.95)),
          g_array_index (values, double, values->len - 1));
}

/* Strokes across the photo through the window, timing every frame. */
static void
bench_frames (DrapeWindow *window)
{
  DrapeMaskCanvas *canvas = app_test_find_child (GTK_WIDGET (window), DRAPE_TYPE_MASK_CANVAS);
  Display *display = gdk_x11_display_get_xdisplay (gtk_widget_get_display (GTK_WIDGET (window)));
  GdkFrameClock *clock = gtk_widget_get_frame_clock (GTK_WIDGET (window));
  Frames frames = { 0, g_array_new (FALSE, FALSE, sizeof (double)), FALSE };
  GskRenderer *renderer = gtk_native_get_renderer (GTK_NATIVE (window));

  printf ("renderer: %s, window %d x %d, canvas %d x %d, zoom %.3f\n", G_OBJECT_TYPE_NAME (renderer),
          gtk_widget_get_width (GTK_WIDGET (window)), gtk_widget_get_height (GTK_WIDGET (window)),
          gtk_widget_get_width (GTK_WIDGET (canvas)), gtk_widget_get_height (GTK_WIDGET (canvas)),
          drape_mask_canvas_get_zoom (canvas));

  g_signal_connect (clock, "flush-events", G_CALLBACK (on_flush_events), &frames);
  g_signal_connect_after (clock, "after-paint", G_CALLBACK (on_after_paint), &frames);

  for (int pass = 0; pass < 3; pass++)
    {
      /* Pass 0 moves the pointer without painting (the brush outline
       * alone: what any frame costs here); pass 1 paints at fit zoom,
       * pass 2 zoomed in. */
      gboolean paint = pass > 0;

      if (pass == 2)
        for (int i = 0; i < 6; i++)
          drape_mask_canvas_zoom_in (canvas);
      app_test_run_for (300);
      frames.recording = TRUE;
      for (int stroke = 0; stroke < (g_getenv ("BENCH_STROKES") ? atoi (g_getenv ("BENCH_STROKES")) : 4); stroke++)
        {
          for (int i = 0; i <= 150; i++)
            {
              double t = i / 150.0;
              double px = PHOTO_WIDTH * (0.15 + 0.7 * t);
              double py = PHOTO_HEIGHT * (0.2 + 0.15 * stroke + 0.1 * sin (t * 6.28 * 2));
              double wx, wy;
              int rx, ry;

              drape_mask_canvas_photo_to_widget (canvas, px, py, &wx, &wy);
              wx = CLAMP (wx, 2, gtk_widget_get_width (GTK_WIDGET (canvas)) - 2);
              wy = CLAMP (wy, 2, gtk_widget_get_height (GTK_WIDGET (canvas)) - 2);
              to_root (GTK_WIDGET (canvas), wx, wy, &rx, &ry);
              XTestFakeMotionEvent (display, -1, rx, ry, CurrentTime);
              if (i == 0 && paint)
                XTestFakeButtonEvent (display, 1, True, CurrentTime);
              XFlush (display);
              app_test_run_for (8);
            }
          if (paint)
            XTestFakeButtonEvent (display, 1, False, CurrentTime);
          XFlush (display);
          app_test_run_for (100);
        }
      frames.recording = FALSE;
      report (pass == 0 ? "frames while hovering (no painting), zoom to fit"
              : pass == 1 ? "frames while painting, zoom to fit" : "frames while painting, zoomed in",
              frames.durations, "ms");
      g_array_set_size (frames.durations, 0);
    }
  g_signal_handlers_disconnect_by_data (clock, &frames);
  g_array_unref (frames.durations);
}

/* The app's own work per frame, without the renderer: painting a segment
 * into the mask (what the drag handler does) and snapshotting the canvas
 * (which rebuilds the overlay tiles the segment dirtied).  On a GPU the
 * renderer's part is small; here it is Mesa's software rasteriser. */
static void
bench_app_work (DrapeWindow *window)
{
  DrapeMaskCanvas *canvas = app_test_find_child (GTK_WIDGET (window), DRAPE_TYPE_MASK_CANVAS);
  DrapeMask *mask = drape_mask_canvas_get_mask (canvas);
  GtkWidgetClass *canvas_class = GTK_WIDGET_GET_CLASS (canvas);
  g_autoptr(GArray) paint = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) snap = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) total = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) ends = g_array_new (FALSE, FALSE, sizeof (double));

  for (int zoom = 0; zoom < 2; zoom++)
    {
      if (zoom == 1)
        for (int i = 0; i < 6; i++)
          drape_mask_canvas_zoom_in (canvas);
      for (int stroke = 0; stroke < 4; stroke++)
        {
          gint64 t0;
          double ms;

          drape_mask_begin_stroke (mask, DRAPE_BRUSH_MODE_PAINT, drape_mask_canvas_get_brush_size (canvas) / 2,
                                   drape_mask_canvas_get_brush_hardness (canvas));
          for (int i = 0; i <= 150; i++)
            {
              double t = i / 150.0;
              double px = PHOTO_WIDTH * (0.15 + 0.7 * t);
              double py = PHOTO_HEIGHT * (0.22 + 0.15 * stroke + 0.1 * sin (t * 6.28 * 2));
              GtkSnapshot *snapshot = gtk_snapshot_new ();
              GskRenderNode *node;
              gint64 t1;
              double a, b, c;

              t0 = g_get_monotonic_time ();
              drape_mask_stroke_to (mask, px, py, 1.0);
              t1 = g_get_monotonic_time ();
              /* The canvas's own snapshot, as GTK calls it for a frame
               * (a GtkWidgetPaintable would reuse its cached node). */
              canvas_class->snapshot (GTK_WIDGET (canvas), snapshot);
              node = gtk_snapshot_free_to_node (snapshot);
              a = (t1 - t0) / 1000.0;
              b = (g_get_monotonic_time () - t1) / 1000.0;
              c = a + b;
              g_array_append_val (paint, a);
              g_array_append_val (snap, b);
              g_array_append_val (total, c);
              g_clear_pointer (&node, gsk_render_node_unref);
            }
          t0 = g_get_monotonic_time ();
          drape_mask_end_stroke (mask);
          ms = (g_get_monotonic_time () - t0) / 1000.0;
          g_array_append_val (ends, ms);
        }
      printf ("app work per frame, %s (brush %.0f px, 150 segments x 4 strokes):\n",
              zoom == 0 ? "zoom to fit" : "zoomed in", drape_mask_canvas_get_brush_size (canvas));
      report ("  paint segment into mask", paint, "ms");
      report ("  snapshot (dirty tiles rebuilt)", snap, "ms");
      report ("  both", total, "ms");
      report ("  end of stroke (undo snapshot)", ends, "ms");
      g_array_set_size (paint, 0);
      g_array_set_size (snap, 0);
      g_array_set_size (total, 0);
      g_array_set_size (ends, 0);
    }
  drape_mask_canvas_zoom_to_fit (canvas);
}

/* 100 strokes of the mask alone: the cost of painting, of ending a
 * stroke (the undo snapshot), and the undo memory they leave. */
static void
bench_undo (void)
{
  g_autoptr(DrapeMask) mask = drape_mask_new (PHOTO_WIDTH, PHOTO_HEIGHT);
  g_autoptr(GArray) segments = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) ends = g_array_new (FALSE, FALSE, sizeof (double));
  GRand *rand = g_rand_new_with_seed (1);

  for (int stroke = 0; stroke < 100; stroke++)
    {
      double x = g_rand_double_range (rand, 0, PHOTO_WIDTH);
      double y = g_rand_double_range (rand, 0, PHOTO_HEIGHT);
      gint64 t0;
      double ms;

      drape_mask_begin_stroke (mask, stroke % 5 == 4 ? DRAPE_BRUSH_MODE_ERASE : DRAPE_BRUSH_MODE_PAINT,
                               g_rand_double_range (rand, 20, 80), 0.8);
      for (int i = 0; i < 60; i++)
        {
          x = CLAMP (x + g_rand_double_range (rand, -60, 60), 0, PHOTO_WIDTH);
          y = CLAMP (y + g_rand_double_range (rand, -60, 60), 0, PHOTO_HEIGHT);
          t0 = g_get_monotonic_time ();
          drape_mask_stroke_to (mask, x, y, 1.0);
          ms = (g_get_monotonic_time () - t0) / 1000.0;
          g_array_append_val (segments, ms);
        }
      t0 = g_get_monotonic_time ();
      drape_mask_end_stroke (mask);
      ms = (g_get_monotonic_time () - t0) / 1000.0;
      g_array_append_val (ends, ms);
    }
  g_rand_free (rand);
  report ("mask segment (radius 20-80 px)", segments, "ms");
  report ("end of stroke (undo snapshot)", ends, "ms");
  printf ("undo history after 100 strokes: %.2f MiB (one full copy of the mask: %.2f MiB)\n",
          drape_mask_get_history_size (mask) / 1048576.0, PHOTO_WIDTH * PHOTO_HEIGHT / 1048576.0);
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(DrapeApplication) app = NULL;
  g_autoptr(GdkPixbuf) pixbuf = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GFile) file = NULL;
  DrapeWindow *window;
  gboolean loaded = FALSE;

  app_test_isolate ();
  gtk_init ();
  adw_init ();

  bench_undo ();

  app = drape_application_new ("app.drape.Drape.Bench", G_APPLICATION_NON_UNIQUE);
  g_application_register (G_APPLICATION (app), NULL, NULL);
  g_application_activate (G_APPLICATION (app));
  window = DRAPE_WINDOW (gtk_application_get_active_window (GTK_APPLICATION (app)));
  gtk_window_set_default_size (GTK_WINDOW (window), 1400, 900);
  /* No models here: go past the first-run page. */
  gtk_widget_activate_action (app_test_find_child (GTK_WIDGET (window), DRAPE_TYPE_MODELS_PAGE), "models.skip", NULL);

  pixbuf = app_test_make_pixbuf (PHOTO_WIDTH, PHOTO_HEIGHT, 3);
  bytes = app_test_encode (pixbuf, "jpeg");
  file = app_test_write_file ("big.jpg", bytes);
  drape_window_open_photo_async (window, file, NULL, photo_done, &loaded);
  app_test_wait_for (&loaded, 60000);
  app_test_run_for (500);

  bench_app_work (window);
  if (g_getenv ("BENCH_SKIP_FRAMES") == NULL)
    bench_frames (window);

  gtk_window_destroy (GTK_WINDOW (window));
  return 0;
}
