/* app-test-common.h: what the app tests share
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* Points XDG_{CONFIG,DATA,STATE,CACHE}_HOME at a fresh folder so tests
 * never see the user's files or each other's; call first in main(). */
void        app_test_isolate          (void);
const char *app_test_dir              (void);
/* A photo-like RGB image: smooth gradients with a bright disc. */
GdkPixbuf  *app_test_make_pixbuf      (int          width,
                                       int          height,
                                       guint32      seed);
/* The pixbuf encoded as "png" or "jpeg". */
GBytes     *app_test_encode           (GdkPixbuf   *pixbuf,
                                       const char  *format);
/* Writes bytes to a file in app_test_dir () and returns it. */
GFile      *app_test_write_file       (const char  *name,
                                       GBytes      *bytes);
/* Files of the catalog's default models in the model store, of the
 * right sizes (sparse: no disk used): what the app's quick check accepts
 * (loading them would verify their hashes, and fail). */
void        app_test_fake_store_models (void);
/* Iterates the default main context until *flag is TRUE or timeout_ms
 * pass; returns *flag. */
gboolean    app_test_wait_for         (gboolean    *flag,
                                       guint        timeout_ms);
/* Iterates the default main context for ms milliseconds. */
void        app_test_run_for          (guint        ms);

/* The first widget of `type` in the tree under widget (itself first), or
 * NULL. */
gpointer    app_test_find_child       (GtkWidget   *widget,
                                       GType        type);
/* Whether a label in the tree under widget shows text. */
gboolean    app_test_find_label       (GtkWidget   *widget,
                                       const char  *text);

/* Waits until the window has been laid out and painted at least twice. */
void        app_test_wait_for_frames  (GtkWidget   *window);
/* The window as its renderer draws it. */
GdkTexture *app_test_render           (GtkWidget   *window);
/* Renders the window into $DRAPE_TEST_OUTPUT_DIR/name (a PNG). */
void        app_test_save_screenshot  (GtkWidget   *window,
                                       const char  *name);

G_END_DECLS
