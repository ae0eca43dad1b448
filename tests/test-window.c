/* test-window.c: the main window under Xvfb: opening photos (by API, by
 * drop), painting with real pointer events (XTest), undo/redo, sessions,
 * errors that keep the state, autosave, and screenshots
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <gdk/x11/gdkx.h>
#include <X11/extensions/XTest.h>
#include <X11/keysym.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "app-test-common.h"
#include "drape-app-error.h"
#include "drape-garment-gallery.h"
#include "drape-mask-canvas.h"
#include "drape-panes.h"
#include "drape-window.h"
#include "model-store.h"

static DrapeApplication *app;

typedef struct {
  gboolean done;
  gboolean ok;
  GError *error;
} Wait;

static void
photo_done (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  Wait *wait = user_data;

  wait->ok = drape_window_open_photo_finish (DRAPE_WINDOW (object), result, &wait->error);
  wait->done = TRUE;
}

static void
session_done (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  Wait *wait = user_data;

  wait->ok = drape_window_open_session_finish (DRAPE_WINDOW (object), result, &wait->error);
  wait->done = TRUE;
}

static DrapeWindow *
get_window (void)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (app));

  g_assert_nonnull (window);
  return DRAPE_WINDOW (window);
}

/* The stack that has a page of this name. */
static GtkStack *
find_stack (GtkWidget  *widget,
            const char *page)
{
  if (GTK_IS_STACK (widget) && gtk_stack_get_child_by_name (GTK_STACK (widget), page) != NULL)
    return GTK_STACK (widget);
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkStack *found = find_stack (child, page);

      if (found != NULL)
        return found;
    }
  return NULL;
}

/* Lets layout and drawing settle. */
static void
settle (void)
{
  app_test_run_for (300);
}

static GFile *
write_photo (const char *name,
             int         width,
             int         height,
             guint32     seed,
             const char *format)
{
  g_autoptr(GdkPixbuf) pixbuf = app_test_make_pixbuf (width, height, seed);
  g_autoptr(GBytes) bytes = app_test_encode (pixbuf, format);

  return app_test_write_file (name, bytes);
}

static void
open_photo (DrapeWindow *window,
            GFile       *file)
{
  Wait wait = { 0 };

  drape_window_open_photo_async (window, file, NULL, photo_done, &wait);
  g_assert_true (app_test_wait_for (&wait.done, 10000));
  g_assert_no_error (wait.error);
  g_assert_true (wait.ok);
  settle ();
}

static void
test_window_opens (void)
{
  DrapeWindow *window = get_window ();
  GtkStack *stack;

  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (window)));
  g_assert_true (gtk_widget_get_mapped (GTK_WIDGET (window)));
  g_assert_null (drape_session_get_photo (drape_window_get_session (window)));
  /* A first run: no models yet, so the models page greets the user. */
  stack = find_stack (GTK_WIDGET (window), "start");
  g_assert_cmpstr (gtk_stack_get_visible_child_name (stack), ==, "models");
  g_assert_true (app_test_find_label (GTK_WIDGET (window), "CC BY-NC-SA 4.0"));
  /* Nothing to try on yet, and the reason is on the button. */
  g_assert_false (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "try-on"));
}

/* The catalog's models on disk (app_test_fake_store_models) take the
 * window past its first-run page. */
static void
test_models_present (void)
{
  DrapeWindow *window = get_window ();
  GtkStack *stack = find_stack (GTK_WIDGET (window), "start");

  app_test_fake_store_models ();
  g_action_group_activate_action (G_ACTION_GROUP (window), "show-models", NULL);
  settle ();
  g_assert_cmpstr (gtk_stack_get_visible_child_name (stack), ==, "start");
}

static void
test_open_photo_api (void)
{
  DrapeWindow *window = get_window ();
  g_autoptr(GFile) file = write_photo ("person.jpg", 600, 800, 1, "jpeg");
  DrapeMaskCanvas *canvas;
  DrapePicture *photo;
  GtkStack *stack;

  open_photo (window, file);
  photo = drape_session_get_photo (drape_window_get_session (window));
  g_assert_nonnull (photo);
  g_assert_cmpint (drape_picture_get_width (photo), ==, 600);
  g_assert_cmpint (drape_picture_get_height (photo), ==, 800);
  stack = find_stack (GTK_WIDGET (window), "start");
  g_assert_cmpstr (gtk_stack_get_visible_child_name (stack), ==, "edit");
  canvas = app_test_find_child (GTK_WIDGET (window), DRAPE_TYPE_MASK_CANVAS);
  g_assert_true (drape_mask_canvas_get_photo (canvas) == drape_picture_get_texture (photo));
  g_assert_true (drape_mask_canvas_get_mask (canvas) == drape_session_get_mask (drape_window_get_session (window)));
}

static void
test_open_photo_drop (void)
{
  DrapeWindow *window = get_window ();
  g_autoptr(GFile) file = write_photo ("dropped.png", 500, 700, 2, "png");
  DrapeSession *session = drape_window_get_session (window);
  DrapePicture *before = drape_session_get_photo (session);
  GtkDropTarget *target = NULL;
  GtkStack *stack = find_stack (GTK_WIDGET (window), "start");
  g_autoptr(GListModel) controllers = gtk_widget_observe_controllers (GTK_WIDGET (stack));
  GValue value = G_VALUE_INIT;
  GSList *files = g_slist_append (NULL, file);
  gboolean accepted = FALSE;
  DrapePicture *photo;

  for (guint i = 0; i < g_list_model_get_n_items (controllers) && target == NULL; i++)
    {
      g_autoptr(GObject) controller = g_list_model_get_item (controllers, i);

      if (GTK_IS_DROP_TARGET (controller))
        target = GTK_DROP_TARGET (controller);
    }
  g_assert_nonnull (target);

  /* What GTK does when a file manager drops a file on the window. */
  g_value_init (&value, GDK_TYPE_FILE_LIST);
  g_value_set_boxed (&value, files);
  g_signal_emit_by_name (target, "drop", &value, 100.0, 100.0, &accepted);
  g_value_unset (&value);
  g_slist_free (files);
  g_assert_true (accepted);

  for (guint i = 0; i < 100 && drape_session_get_photo (session) == before; i++)
    app_test_run_for (50);
  photo = drape_session_get_photo (session);
  g_assert_true (photo != before);
  g_assert_cmpint (drape_picture_get_width (photo), ==, 500);
  g_assert_cmpstr (drape_picture_get_name (photo), ==, "dropped.png");
  settle ();
}

/* ---- real pointer events through the X server ------------------------- */

static Display *
xdisplay (void)
{
  GdkDisplay *display = gdk_display_get_default ();

  g_assert_true (GDK_IS_X11_DISPLAY (display));
  return gdk_x11_display_get_xdisplay (display);
}

/* Root-window coordinates of a point given in the canvas's coordinates. */
static void
canvas_to_root (DrapeMaskCanvas *canvas,
                double           x,
                double           y,
                int             *root_x,
                int             *root_y)
{
  GtkNative *native = gtk_widget_get_native (GTK_WIDGET (canvas));
  graphene_point_t point;
  double sx, sy;
  Window child;
  int wx, wy;

  g_assert_true (gtk_widget_compute_point (GTK_WIDGET (canvas), GTK_WIDGET (native),
                                           &GRAPHENE_POINT_INIT (x, y), &point));
  gtk_native_get_surface_transform (native, &sx, &sy);
  XTranslateCoordinates (xdisplay (), gdk_x11_surface_get_xid (gtk_native_get_surface (native)),
                         DefaultRootWindow (xdisplay ()), 0, 0, &wx, &wy, &child);
  *root_x = wx + (int) (point.x + sx);
  *root_y = wy + (int) (point.y + sy);
}

static void
pointer_stroke (DrapeMaskCanvas *canvas,
                const double    *photo_points,
                guint            n_points)
{
  Display *display = xdisplay ();

  for (guint i = 0; i < n_points; i++)
    {
      double wx, wy;
      int rx, ry;

      drape_mask_canvas_photo_to_widget (canvas, photo_points[2 * i], photo_points[2 * i + 1], &wx, &wy);
      canvas_to_root (canvas, wx, wy, &rx, &ry);
      XTestFakeMotionEvent (display, -1, rx, ry, CurrentTime);
      if (i == 0)
        XTestFakeButtonEvent (display, 1, True, CurrentTime);
      XFlush (display);
      app_test_run_for (40);
    }
  XTestFakeButtonEvent (display, 1, False, CurrentTime);
  XFlush (display);
  app_test_run_for (150);
}

static guint8
mask_at (DrapeMask *mask,
         guint      x,
         guint      y)
{
  return drape_mask_get_data (mask)[(gsize) y * drape_mask_get_width (mask) + x];
}

static void
test_paint_undo_redo (void)
{
  DrapeWindow *window = get_window ();
  DrapeMaskCanvas *canvas = app_test_find_child (GTK_WIDGET (window), DRAPE_TYPE_MASK_CANVAS);
  DrapeMask *mask = drape_session_get_mask (drape_window_get_session (window));
  const double first[] = { 100, 200, 250, 220, 400, 240 };
  const double second[] = { 250, 100, 250, 300, 250, 600 };
  const double erase[] = { 250, 450, 250, 520 };
  g_autoptr(GBytes) empty = drape_mask_to_bytes (mask);
  g_autoptr(GBytes) after_first = NULL;
  g_autoptr(GBytes) after_second = NULL;
  g_autoptr(GBytes) after_erase = NULL;
  int event_base, error_base, major, minor;

  g_assert_true (XTestQueryExtension (xdisplay (), &event_base, &error_base, &major, &minor));
  g_assert_true (drape_mask_get_empty (mask));
  drape_mask_canvas_set_brush_size (canvas, 40);
  drape_mask_canvas_set_brush_hardness (canvas, 1.0);

  pointer_stroke (canvas, first, 3);
  g_assert_false (drape_mask_get_empty (mask));
  g_assert_cmpuint (mask_at (mask, 250, 220), ==, 255);
  g_assert_cmpuint (mask_at (mask, 250, 400), ==, 0);
  after_first = drape_mask_to_bytes (mask);

  pointer_stroke (canvas, second, 3);
  g_assert_cmpuint (mask_at (mask, 250, 400), ==, 255);
  after_second = drape_mask_to_bytes (mask);

  /* The eraser, through the window's tool action. */
  g_action_group_activate_action (G_ACTION_GROUP (window), "tool", g_variant_new_string ("erase"));
  g_assert_cmpint (drape_mask_canvas_get_tool (canvas), ==, DRAPE_BRUSH_MODE_ERASE);
  pointer_stroke (canvas, erase, 2);
  g_assert_cmpuint (mask_at (mask, 250, 480), ==, 0);
  g_assert_cmpuint (mask_at (mask, 250, 300), ==, 255);
  after_erase = drape_mask_to_bytes (mask);
  g_action_group_activate_action (G_ACTION_GROUP (window), "tool", g_variant_new_string ("paint"));

  /* Whole strokes come back exactly. */
  g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "undo"));
  g_action_group_activate_action (G_ACTION_GROUP (window), "undo", NULL);
  g_assert_true (drape_mask_equal_bytes (mask, after_second));
  g_action_group_activate_action (G_ACTION_GROUP (window), "undo", NULL);
  g_assert_true (drape_mask_equal_bytes (mask, after_first));
  g_action_group_activate_action (G_ACTION_GROUP (window), "undo", NULL);
  g_assert_true (drape_mask_equal_bytes (mask, empty));
  g_assert_false (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "undo"));

  g_action_group_activate_action (G_ACTION_GROUP (window), "redo", NULL);
  g_assert_true (drape_mask_equal_bytes (mask, after_first));
  g_action_group_activate_action (G_ACTION_GROUP (window), "redo", NULL);
  g_action_group_activate_action (G_ACTION_GROUP (window), "redo", NULL);
  g_assert_true (drape_mask_equal_bytes (mask, after_erase));
  g_assert_false (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "redo"));
  settle ();
}

static void
pointer_to (int root_x,
            int root_y)
{
  XTestFakeMotionEvent (xdisplay (), -1, root_x, root_y, CurrentTime);
  XFlush (xdisplay ());
  app_test_run_for (60);
}

static void
photo_to_root (DrapeMaskCanvas *canvas,
               double           x,
               double           y,
               int             *root_x,
               int             *root_y)
{
  double wx, wy;

  drape_mask_canvas_photo_to_widget (canvas, x, y, &wx, &wy);
  canvas_to_root (canvas, wx, wy, root_x, root_y);
}

/* Space + drag and the middle button pan, Ctrl + wheel zooms: the view
 * moves, the mask does not. */
static void
test_pan_and_zoom (void)
{
  DrapeWindow *window = get_window ();
  DrapeMaskCanvas *canvas = app_test_find_child (GTK_WIDGET (window), DRAPE_TYPE_MASK_CANVAS);
  DrapeMask *mask = drape_session_get_mask (drape_window_get_session (window));
  g_autoptr(GBytes) before = drape_mask_to_bytes (mask);
  Display *display = xdisplay ();
  KeyCode space = XKeysymToKeycode (display, XK_space);
  KeyCode control = XKeysymToKeycode (display, XK_Control_L);
  double x0, y0, x1, y1, zoom;
  int rx, ry;

  g_action_group_activate_action (G_ACTION_GROUP (window), "zoom-in", NULL);
  g_action_group_activate_action (G_ACTION_GROUP (window), "zoom-in", NULL);
  settle ();
  gtk_widget_grab_focus (GTK_WIDGET (canvas));
  drape_mask_canvas_photo_to_widget (canvas, 250, 300, &x0, &y0);

  photo_to_root (canvas, 250, 300, &rx, &ry);
  pointer_to (rx, ry);
  XTestFakeKeyEvent (display, space, True, CurrentTime);
  XFlush (display);
  app_test_run_for (60);
  XTestFakeButtonEvent (display, 1, True, CurrentTime);
  pointer_to (rx + 30, ry + 20);
  pointer_to (rx + 60, ry + 40);
  XTestFakeButtonEvent (display, 1, False, CurrentTime);
  XTestFakeKeyEvent (display, space, False, CurrentTime);
  XFlush (display);
  app_test_run_for (100);
  drape_mask_canvas_photo_to_widget (canvas, 250, 300, &x1, &y1);
  g_test_message ("space-drag moved the photo by %.1f, %.1f", x1 - x0, y1 - y0);
  g_assert_cmpfloat (fabs (x1 - x0 - 60), <, 3);
  g_assert_cmpfloat (fabs (y1 - y0 - 40), <, 3);
  g_assert_true (drape_mask_equal_bytes (mask, before));

  photo_to_root (canvas, 250, 300, &rx, &ry);
  pointer_to (rx, ry);
  XTestFakeButtonEvent (display, 2, True, CurrentTime);
  pointer_to (rx - 25, ry - 10);
  pointer_to (rx - 50, ry - 20);
  XTestFakeButtonEvent (display, 2, False, CurrentTime);
  XFlush (display);
  app_test_run_for (100);
  drape_mask_canvas_photo_to_widget (canvas, 250, 300, &x0, &y0);
  g_assert_cmpfloat (fabs (x0 - x1 + 50), <, 3);
  g_assert_cmpfloat (fabs (y0 - y1 + 20), <, 3);
  g_assert_true (drape_mask_equal_bytes (mask, before));

  /* Ctrl + wheel up zooms in about the pointer. */
  zoom = drape_mask_canvas_get_zoom (canvas);
  photo_to_root (canvas, 250, 300, &rx, &ry);
  pointer_to (rx, ry);
  XTestFakeKeyEvent (display, control, True, CurrentTime);
  XTestFakeButtonEvent (display, 4, True, CurrentTime);
  XTestFakeButtonEvent (display, 4, False, CurrentTime);
  XTestFakeKeyEvent (display, control, False, CurrentTime);
  XFlush (display);
  app_test_run_for (150);
  g_assert_cmpfloat (drape_mask_canvas_get_zoom (canvas), >, zoom * 1.1);
  drape_mask_canvas_photo_to_widget (canvas, 250, 300, &x1, &y1);
  g_assert_cmpfloat (fabs (x1 - x0), <, 3);
  g_assert_cmpfloat (fabs (y1 - y0), <, 3);
  g_assert_true (drape_mask_equal_bytes (mask, before));

  g_action_group_activate_action (G_ACTION_GROUP (window), "zoom-fit", NULL);
  settle ();
}

static void
test_brush_keys (void)
{
  DrapeWindow *window = get_window ();
  DrapeMaskCanvas *canvas = app_test_find_child (GTK_WIDGET (window), DRAPE_TYPE_MASK_CANVAS);
  double size = drape_mask_canvas_get_brush_size (canvas);
  double zoom = drape_mask_canvas_get_zoom (canvas);

  g_action_group_activate_action (G_ACTION_GROUP (window), "brush-bigger", NULL);
  g_assert_cmpfloat (drape_mask_canvas_get_brush_size (canvas), >, size);
  g_action_group_activate_action (G_ACTION_GROUP (window), "brush-smaller", NULL);
  g_assert_cmpfloat_with_epsilon (drape_mask_canvas_get_brush_size (canvas), size, 1e-6);
  g_action_group_activate_action (G_ACTION_GROUP (window), "zoom-in", NULL);
  g_assert_cmpfloat (drape_mask_canvas_get_zoom (canvas), >, zoom);
  g_action_group_activate_action (G_ACTION_GROUP (window), "zoom-fit", NULL);
  g_assert_cmpfloat_with_epsilon (drape_mask_canvas_get_zoom (canvas), zoom, 1e-9);
}

static void
test_corrupt_photo_keeps_state (void)
{
  DrapeWindow *window = get_window ();
  DrapeSession *session = drape_window_get_session (window);
  DrapePicture *photo = drape_session_get_photo (session);
  g_autoptr(GBytes) mask = drape_mask_to_bytes (drape_session_get_mask (session));
  g_autoptr(GBytes) garbage = g_bytes_new_static ("\x89PNG\r\n\x1a\n broken beyond repair", 29);
  g_autoptr(GFile) file = app_test_write_file ("broken-photo.png", garbage);
  Wait wait = { 0 };

  drape_window_open_photo_async (window, file, NULL, photo_done, &wait);
  g_assert_true (app_test_wait_for (&wait.done, 10000));
  g_assert_false (wait.ok);
  g_assert_error (wait.error, DRAPE_APP_ERROR, DRAPE_APP_ERROR_NOT_AN_IMAGE);
  g_clear_error (&wait.error);
  settle ();

  /* A toast names the file, and nothing else changed. */
  g_assert_true (app_test_find_label (GTK_WIDGET (window), "broken-photo.png"));
  g_assert_true (drape_session_get_photo (session) == photo);
  g_assert_true (drape_mask_equal_bytes (drape_session_get_mask (session), mask));
}

static void
test_session_round_trip (void)
{
  DrapeWindow *window = get_window ();
  DrapeSession *session = drape_window_get_session (window);
  g_autoptr(GFile) garment_file = write_photo ("garment.png", 200, 260, 7, "png");
  g_autoptr(GFile) file = g_file_new_build_filename (app_test_dir (), "round-trip.drape", NULL);
  g_autoptr(GBytes) mask = drape_mask_to_bytes (drape_session_get_mask (session));
  g_autoptr(GBytes) photo_bytes = g_bytes_ref (drape_picture_get_bytes (drape_session_get_photo (session)));
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapePicture) garment = NULL;
  g_autoptr(GBytes) garment_bytes = NULL;
  g_autoptr(DrapeSession) blank = drape_session_new ();
  DrapeSession *reopened;
  Wait wait = { 0 };

  garment_bytes = g_file_load_bytes (garment_file, NULL, NULL, &error);
  g_assert_no_error (error);
  garment = drape_picture_new_from_bytes (garment_bytes, "garment.png", &error);
  g_assert_no_error (error);
  drape_session_set_garment (session, garment);
  drape_session_set_garment_type (session, DRAPE_GARMENT_LOWER);
  drape_try_on_settings_set_steps (drape_session_get_settings (session), 31);
  settle ();
  /* Photo, mask and garment set: Try On is ready. */
  g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "try-on"));

  g_assert_true (drape_session_save (session, file, &error));
  g_assert_no_error (error);

  drape_window_set_session (window, blank);
  g_assert_null (drape_session_get_photo (drape_window_get_session (window)));

  drape_window_open_session_async (window, file, NULL, session_done, &wait);
  g_assert_true (app_test_wait_for (&wait.done, 10000));
  g_assert_no_error (wait.error);
  settle ();

  reopened = drape_window_get_session (window);
  g_assert_true (reopened != blank);
  g_assert_true (g_bytes_equal (drape_picture_get_bytes (drape_session_get_photo (reopened)), photo_bytes));
  g_assert_true (drape_mask_equal_bytes (drape_session_get_mask (reopened), mask));
  g_assert_true (g_bytes_equal (drape_picture_get_bytes (drape_session_get_garment (reopened)), garment_bytes));
  g_assert_cmpint (drape_session_get_garment_type (reopened), ==, DRAPE_GARMENT_LOWER);
  g_assert_cmpuint (drape_try_on_settings_get_steps (drape_session_get_settings (reopened)), ==, 31);
  g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "try-on"));

  /* The canvas edits the reopened mask, and undo works on it. */
  {
    DrapeMaskCanvas *canvas = app_test_find_child (GTK_WIDGET (window), DRAPE_TYPE_MASK_CANVAS);

    g_assert_true (drape_mask_canvas_get_mask (canvas) == drape_session_get_mask (reopened));
  }
}

static void
test_corrupt_session_keeps_state (void)
{
  DrapeWindow *window = get_window ();
  DrapeSession *session = drape_window_get_session (window);
  g_autoptr(GFile) good = g_file_new_build_filename (app_test_dir (), "round-trip.drape", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = g_file_load_bytes (good, NULL, NULL, &error);
  g_autoptr(GBytes) half = g_bytes_new_from_bytes (bytes, 0, g_bytes_get_size (bytes) / 2);
  g_autoptr(GFile) truncated = app_test_write_file ("truncated.drape", half);
  g_autoptr(GBytes) after = NULL;
  Wait wait = { 0 };

  g_assert_no_error (error);
  drape_window_open_session_async (window, truncated, NULL, session_done, &wait);
  g_assert_true (app_test_wait_for (&wait.done, 10000));
  g_assert_false (wait.ok);
  g_assert_error (wait.error, DRAPE_APP_ERROR, DRAPE_APP_ERROR_CORRUPT_SESSION);
  g_clear_error (&wait.error);
  settle ();

  g_assert_true (app_test_find_label (GTK_WIDGET (window), "truncated.drape"));
  g_assert_true (drape_window_get_session (window) == session);
  /* The broken file is left as it was. */
  after = g_file_load_bytes (truncated, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (after, half));
}

static void
test_autosave_and_restore (void)
{
  DrapeWindow *window = get_window ();
  DrapeSession *session = drape_window_get_session (window);
  g_autoptr(GFile) autosave = drape_window_get_autosave_file ();
  g_autoptr(GBytes) mask = drape_mask_to_bytes (drape_session_get_mask (session));
  g_autoptr(GError) error = NULL;
  DrapeWindow *second;
  gboolean restored = FALSE;

  g_assert_true (drape_window_autosave (window, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_query_exists (autosave, NULL));

  /* A second window (as after a crash) restores it without asking. */
  second = drape_window_new (app);
  drape_window_restore_autosave (second);
  for (guint i = 0; i < 200 && !restored; i++)
    {
      app_test_run_for (50);
      restored = drape_session_get_photo (drape_window_get_session (second)) != NULL;
    }
  g_assert_true (restored);
  g_assert_true (drape_mask_equal_bytes (drape_session_get_mask (drape_window_get_session (second)), mask));
  gtk_window_destroy (GTK_WINDOW (second));
  settle ();
}

/* Garments added to the gallery are copied into Drape's folder, get a
 * thumbnail made off the main thread, become the session's garment when
 * chosen, and go away when removed; a file that is not an image is
 * refused with a toast. */
static void
test_garment_gallery (void)
{
  DrapeWindow *window = get_window ();
  DrapeGarmentGallery *gallery = app_test_find_child (GTK_WIDGET (window), DRAPE_TYPE_GARMENT_GALLERY);
  GListModel *garments = drape_garment_gallery_get_garments (gallery);
  g_autoptr(GFile) shirt = write_photo ("red shirt.jpg", 300, 400, 11, "jpeg");
  g_autoptr(GBytes) text = g_bytes_new_static ("not an image", 12);
  g_autoptr(GFile) notes = app_test_write_file ("notes.png", text);
  g_autoptr(GListStore) files = g_list_store_new (G_TYPE_FILE);
  g_autoptr(DrapeGarment) garment = NULL;
  g_autoptr(GFile) copy = NULL;
  DrapeSession *session = drape_window_get_session (window);
  guint before = g_list_model_get_n_items (garments);

  g_list_store_append (files, shirt);
  g_list_store_append (files, notes);
  drape_garment_gallery_add_files (gallery, G_LIST_MODEL (files));
  for (guint i = 0; i < 200 && drape_garment_gallery_get_selected (gallery) == NULL; i++)
    app_test_run_for (50);
  g_assert_cmpuint (g_list_model_get_n_items (garments), ==, before + 1);
  g_assert_true (app_test_find_label (GTK_WIDGET (window), "notes.png"));

  /* The new garment is selected, its thumbnail made, and it is the
   * session's garment once loaded. */
  garment = g_object_ref (drape_garment_gallery_get_selected (gallery));
  g_assert_cmpstr (drape_garment_get_name (garment), ==, "red shirt.jpg");
  g_assert_true (drape_garment_get_owned (garment));
  copy = g_object_ref (drape_garment_get_file (garment));
  g_assert_false (g_file_equal (copy, shirt));
  for (guint i = 0; i < 200 && (drape_garment_get_thumbnail (garment) == NULL ||
                                drape_session_get_garment (session) == NULL ||
                                g_strcmp0 (drape_picture_get_name (drape_session_get_garment (session)),
                                           "red shirt.jpg") != 0); i++)
    app_test_run_for (50);
  g_assert_nonnull (drape_garment_get_thumbnail (garment));
  g_assert_cmpint (MAX (gdk_texture_get_width (drape_garment_get_thumbnail (garment)),
                        gdk_texture_get_height (drape_garment_get_thumbnail (garment))), <=, 224);
  g_assert_cmpstr (drape_picture_get_name (drape_session_get_garment (session)), ==, "red shirt.jpg");

  /* Removing deletes Drape's copy, never the user's file. */
  drape_garment_gallery_remove (gallery, garment);
  g_assert_cmpuint (g_list_model_get_n_items (garments), ==, before);
  g_assert_false (g_file_query_exists (copy, NULL));
  g_assert_true (g_file_query_exists (shirt, NULL));
  settle ();
}

/* ---- screenshots -------------------------------------------------------- */

/* Samples the rendered window where the canvas shows photo pixel (x, y). */
static void
pixel_of_render (GdkTexture      *texture,
                 DrapeMaskCanvas *canvas,
                 GtkWidget       *window,
                 double           x,
                 double           y,
                 guint8           rgba[4])
{
  int width = gdk_texture_get_width (texture), height = gdk_texture_get_height (texture);
  g_autofree guint8 *data = g_malloc ((gsize) width * height * 4);
  graphene_point_t point;
  double wx, wy;
  guint32 px;
  int ix, iy;

  gdk_texture_download (texture, data, width * 4);
  drape_mask_canvas_photo_to_widget (canvas, x, y, &wx, &wy);
  g_assert_true (gtk_widget_compute_point (GTK_WIDGET (canvas), window, &GRAPHENE_POINT_INIT (wx, wy), &point));
  ix = CLAMP ((int) point.x, 0, width - 1);
  iy = CLAMP ((int) point.y, 0, height - 1);
  /* gdk_texture_download gives native-endian ARGB (cairo's format). */
  memcpy (&px, data + (gsize) iy * width * 4 + (gsize) ix * 4, 4);
  rgba[0] = (px >> 16) & 0xff;
  rgba[1] = (px >> 8) & 0xff;
  rgba[2] = px & 0xff;
  rgba[3] = px >> 24;
}

static void
test_screenshots (void)
{
  DrapeWindow *window = get_window ();
  DrapeMaskCanvas *canvas = app_test_find_child (GTK_WIDGET (window), DRAPE_TYPE_MASK_CANVAS);
  DrapePanes *panes = app_test_find_child (GTK_WIDGET (window), DRAPE_TYPE_PANES);
  DrapeMask *mask = drape_session_get_mask (drape_window_get_session (window));
  g_autoptr(GdkTexture) texture = NULL;
  AdwStyleManager *style = adw_style_manager_get_default ();
  guint8 masked[4], clear[4];

  g_assert_nonnull (mask);
  drape_mask_canvas_set_overlay_opacity (canvas, 0.6);
  gtk_window_set_default_size (GTK_WINDOW (window), 1200, 800);
  settle ();
  g_assert_false (drape_panes_get_narrow (panes));
  app_test_save_screenshot (GTK_WIDGET (window), "screenshot-window.png");

  /* The mask tints the photo red where it is painted, and only there. */
  app_test_wait_for_frames (GTK_WIDGET (window));
  texture = app_test_render (GTK_WIDGET (window));
  g_assert_cmpuint (drape_mask_get_data (mask)[(gsize) 300 * drape_mask_get_width (mask) + 250], ==, 255);
  pixel_of_render (texture, canvas, GTK_WIDGET (window), 250, 300, masked);
  pixel_of_render (texture, canvas, GTK_WIDGET (window), 450, 60, clear);
  g_test_message ("masked %u %u %u, clear %u %u %u", masked[0], masked[1], masked[2], clear[0], clear[1], clear[2]);
  g_assert_cmpint ((int) masked[0] - masked[2], >, (int) clear[0] - clear[2]);

  adw_style_manager_set_color_scheme (style, ADW_COLOR_SCHEME_FORCE_DARK);
  settle ();
  app_test_save_screenshot (GTK_WIDGET (window), "screenshot-window-dark.png");
  adw_style_manager_set_color_scheme (style, ADW_COLOR_SCHEME_DEFAULT);

  /* A phone-sized window (phones show only a close button) stacks the
   * panes; the labels of the header bar and toolbar go once it is narrow,
   * which lets it shrink further. */
  g_object_set (gtk_settings_get_default (), "gtk-decoration-layout", ":close", NULL);
  gtk_window_set_default_size (GTK_WINDOW (window), 360, 720);
  settle ();
  app_test_wait_for_frames (GTK_WIDGET (window));
  gtk_window_set_default_size (GTK_WINDOW (window), 360, 720);
  settle ();
  app_test_wait_for_frames (GTK_WIDGET (window));
  g_test_message ("narrow window: %d x %d", gtk_widget_get_width (GTK_WIDGET (window)),
                  gtk_widget_get_height (GTK_WIDGET (window)));
  g_assert_cmpint (gtk_widget_get_width (GTK_WIDGET (window)), <=, 370);
  g_assert_true (drape_panes_get_narrow (panes));
  app_test_save_screenshot (GTK_WIDGET (window), "screenshot-window-narrow.png");
  gtk_window_set_default_size (GTK_WINDOW (window), 1200, 800);
  settle ();
}

/* Zoomed out on a large photo the canvas draws the photo's preview copy
 * and the mask from tiles built at a lower level: the tint must still
 * land where the mask is. */
static void
test_large_photo (void)
{
  DrapeWindow *window = get_window ();
  DrapeMaskCanvas *canvas = app_test_find_child (GTK_WIDGET (window), DRAPE_TYPE_MASK_CANVAS);
  g_autoptr(GFile) file = write_photo ("large.jpg", 3600, 2400, 5, "jpeg");
  g_autoptr(GdkTexture) texture = NULL;
  DrapeSession *session;
  DrapeMask *mask;
  guint8 masked[4], clear[4];

  open_photo (window, file);
  session = drape_window_get_session (window);
  g_assert_nonnull (drape_picture_get_preview (drape_session_get_photo (session)));
  g_assert_cmpint (gdk_texture_get_width (drape_picture_get_preview (drape_session_get_photo (session))), ==, 1600);
  g_assert_true (drape_mask_canvas_get_photo_preview (canvas) == drape_picture_get_preview (drape_session_get_photo (session)));
  g_assert_cmpfloat (drape_mask_canvas_get_zoom (canvas), <, 0.5);

  mask = drape_session_get_mask (session);
  drape_mask_begin_stroke (mask, DRAPE_BRUSH_MODE_PAINT, 200, 1.0);
  drape_mask_stroke_to (mask, 1000, 1200, 1.0);
  drape_mask_stroke_to (mask, 2600, 1200, 1.0);
  drape_mask_end_stroke (mask);
  drape_mask_canvas_set_overlay_opacity (canvas, 0.8);
  app_test_wait_for_frames (GTK_WIDGET (window));
  texture = app_test_render (GTK_WIDGET (window));
  pixel_of_render (texture, canvas, GTK_WIDGET (window), 1800, 1200, masked);
  pixel_of_render (texture, canvas, GTK_WIDGET (window), 1800, 300, clear);
  g_test_message ("large photo: masked %u %u %u, clear %u %u %u", masked[0], masked[1], masked[2],
                  clear[0], clear[1], clear[2]);
  g_assert_cmpint ((int) masked[0] - masked[2], >, (int) clear[0] - clear[2] + 40);
}

int
main (int    argc,
      char **argv)
{
  int status;

  app_test_isolate ();
  gtk_test_init (&argc, &argv, NULL);
  adw_init ();

  app = drape_application_new ("app.drape.Drape.Test", G_APPLICATION_NON_UNIQUE);
  g_assert_true (g_application_register (G_APPLICATION (app), NULL, NULL));
  g_application_activate (G_APPLICATION (app));
  settle ();

  g_test_add_func ("/window/opens", test_window_opens);
  g_test_add_func ("/window/models-present", test_models_present);
  g_test_add_func ("/window/open-photo-api", test_open_photo_api);
  g_test_add_func ("/window/open-photo-drop", test_open_photo_drop);
  g_test_add_func ("/window/paint-undo-redo", test_paint_undo_redo);
  g_test_add_func ("/window/pan-and-zoom", test_pan_and_zoom);
  g_test_add_func ("/window/brush-keys", test_brush_keys);
  g_test_add_func ("/window/corrupt-photo-keeps-state", test_corrupt_photo_keeps_state);
  g_test_add_func ("/window/session-round-trip", test_session_round_trip);
  g_test_add_func ("/window/corrupt-session-keeps-state", test_corrupt_session_keeps_state);
  g_test_add_func ("/window/autosave-and-restore", test_autosave_and_restore);
  g_test_add_func ("/window/garment-gallery", test_garment_gallery);
  g_test_add_func ("/window/screenshots", test_screenshots);
  g_test_add_func ("/window/large-photo", test_large_photo);

  status = g_test_run ();
  gtk_window_destroy (GTK_WINDOW (get_window ()));
  g_clear_object (&app);
  return status;
}
