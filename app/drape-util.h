/* drape-util.h: small helpers the widgets share
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* Shows an error as a toast in the AdwToastOverlay above widget, if there
 * is one, before the toasts already waiting. */
void      drape_widget_show_toast  (GtkWidget  *widget,
                                    const char *message);
/* The error's message, or a sentence saying what to do for the errors a
 * user can act on. */
char     *drape_error_describe     (const GError *error);
/* $XDG_DATA_HOME/drape/<name> */
GFile    *drape_data_file          (const char *name);
gboolean  drape_is_image_type      (const char *content_type);
/* "about 3 minutes left", in the unit that suits: seconds, minutes, then
 * hours, for the hours a try-on at full size takes on a CPU. */
char     *drape_format_time_left   (double      seconds);

G_END_DECLS
