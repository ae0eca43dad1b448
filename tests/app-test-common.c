/* app-test-common.c: what the app tests share
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app-test-common.h"
#include "model-store.h"

static char *test_dir;

void
app_test_isolate (void)
{
  static const char *const vars[] = {
    "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME",
  };
  g_autoptr(GError) error = NULL;

  test_dir = g_dir_make_tmp ("drape-test-XXXXXX", &error);
  g_assert_no_error (error);
  for (guint i = 0; i < G_N_ELEMENTS (vars); i++)
    {
      g_autofree char *path = g_build_filename (test_dir, vars[i], NULL);

      g_mkdir_with_parents (path, 0700);
      g_setenv (vars[i], path, TRUE);
    }
}

const char *
app_test_dir (void)
{
  g_assert_nonnull (test_dir);
  return test_dir;
}

GdkPixbuf *
app_test_make_pixbuf (int     width,
                      int     height,
                      guint32 seed)
{
  GdkPixbuf *pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, width, height);
  guint8 *pixels = gdk_pixbuf_get_pixels (pixbuf);
  int stride = gdk_pixbuf_get_rowstride (pixbuf);
  double cx = width * 0.5, cy = height * 0.4, r = MIN (width, height) * 0.25;

  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      {
        guint8 *p = pixels + (gsize) y * stride + (gsize) x * 3;
        double d = hypot (x - cx, y - cy);

        p[0] = (guint8) ((x * 255 / MAX (width - 1, 1) + seed * 37) & 0xff);
        p[1] = (guint8) ((y * 255 / MAX (height - 1, 1) + seed * 11) & 0xff);
        p[2] = d < r ? 230 : 60;
      }
  return pixbuf;
}

GBytes *
app_test_encode (GdkPixbuf  *pixbuf,
                 const char *format)
{
  g_autoptr(GError) error = NULL;
  char *buffer = NULL;
  gsize size = 0;

  gdk_pixbuf_save_to_buffer (pixbuf, &buffer, &size, format, &error, NULL);
  g_assert_no_error (error);
  return g_bytes_new_take (buffer, size);
}

GFile *
app_test_write_file (const char *name,
                     GBytes     *bytes)
{
  g_autofree char *path = g_build_filename (app_test_dir (), name, NULL);
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), &error);
  g_assert_no_error (error);
  return g_file_new_for_path (path);
}

static gboolean
set_flag (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

gboolean
app_test_wait_for (gboolean *flag,
                   guint     timeout_ms)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add (timeout_ms, set_flag, &timed_out);

  while (!*flag && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  return *flag;
}

void
app_test_run_for (guint ms)
{
  gboolean done = FALSE;

  g_timeout_add (ms, set_flag, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

void
app_test_fake_store_models (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeCatalog) catalog = drape_catalog_load_default (&error);
  g_autoptr(DrapeModelStore) store = NULL;
  g_auto(GStrv) ids = NULL;

  g_assert_no_error (error);
  store = drape_model_store_new (catalog, NULL);
  ids = drape_catalog_dup_default_ids (catalog);
  for (guint i = 0; ids[i] != NULL; i++)
    {
      const DrapeModelInfo *info = drape_catalog_lookup (catalog, ids[i]);

      for (guint f = 0; f < info->n_files; f++)
        {
          g_autofree char *path = drape_model_store_dup_file_path (store, info, f);
          g_autofree char *dir = g_path_get_dirname (path);
          FILE *file;

          g_assert_true (info->files[f].size_known);
          g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
          file = fopen (path, "w");
          g_assert_nonnull (file);
          g_assert_cmpint (ftruncate (fileno (file), (off_t) info->files[f].size), ==, 0);
          fclose (file);
        }
    }
}

gpointer
app_test_find_child (GtkWidget *widget,
                     GType      type)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE (widget, type))
    return widget;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      gpointer found = app_test_find_child (child, type);

      if (found != NULL)
        return found;
    }
  return NULL;
}

gboolean
app_test_find_label (GtkWidget  *widget,
                     const char *text)
{
  if (GTK_IS_LABEL (widget) && strstr (gtk_label_get_label (GTK_LABEL (widget)), text) != NULL)
    return TRUE;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    if (app_test_find_label (child, text))
      return TRUE;
  return FALSE;
}

static void
count_frame (GdkFrameClock *clock,
             guint         *frames)
{
  (*frames)++;
}

void
app_test_wait_for_frames (GtkWidget *window)
{
  GdkFrameClock *clock = gtk_widget_get_frame_clock (window);
  guint frames = 0;
  gulong id = g_signal_connect (clock, "after-paint", G_CALLBACK (count_frame), &frames);

  for (guint i = 0; i < 100 && frames < 2; i++)
    {
      gtk_widget_queue_draw (window);
      app_test_run_for (30);
    }
  g_signal_handler_disconnect (clock, id);
  g_assert_cmpuint (frames, >=, 2);
}

GdkTexture *
app_test_render (GtkWidget *window)
{
  g_autoptr(GdkPaintable) paintable = gtk_widget_paintable_new (window);
  g_autoptr(GskRenderNode) node = NULL;
  GskRenderer *renderer = gtk_native_get_renderer (GTK_NATIVE (window));
  int width = 0, height = 0;

  /* A window whose layout an update has just invalidated (a try-on's
   * progress arrives between frames) snapshots to nothing until its next
   * frame: take the first frame that has a picture. */
  for (guint attempt = 0; attempt < 20 && node == NULL; attempt++)
    {
      GtkSnapshot *snapshot = gtk_snapshot_new ();

      if (attempt > 0)
        app_test_wait_for_frames (window);
      width = gtk_widget_get_width (window);
      height = gtk_widget_get_height (window);
      gdk_paintable_snapshot (paintable, snapshot, width, height);
      node = gtk_snapshot_free_to_node (snapshot);
    }
  g_assert_nonnull (node);
  return gsk_renderer_render_texture (renderer, node, &GRAPHENE_RECT_INIT (0, 0, width, height));
}

void
app_test_save_screenshot (GtkWidget  *window,
                          const char *name)
{
  const char *dir = g_getenv ("DRAPE_TEST_OUTPUT_DIR");
  g_autofree char *path = g_build_filename (dir != NULL ? dir : app_test_dir (), name, NULL);
  g_autoptr(GdkTexture) texture = NULL;

  app_test_wait_for_frames (window);
  texture = app_test_render (window);
  g_assert_cmpint (gdk_texture_get_width (texture), ==, gtk_widget_get_width (window));
  g_assert_true (gdk_texture_save_to_png (texture, path));
  g_test_message ("screenshot: %s", path);
}

