/* drape-window.h: the main window
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "drape-application.h"
#include "drape-session.h"

G_BEGIN_DECLS

#define DRAPE_TYPE_WINDOW (drape_window_get_type ())

G_DECLARE_FINAL_TYPE (DrapeWindow, drape_window, DRAPE, WINDOW, AdwApplicationWindow)

DrapeWindow  *drape_window_new                 (DrapeApplication    *application);
DrapeSession *drape_window_get_session         (DrapeWindow         *self);
/* Replaces what the window shows; the autosave follows the new session. */
void          drape_window_set_session         (DrapeWindow         *self,
                                                DrapeSession        *session);
void          drape_window_add_toast           (DrapeWindow         *self,
                                                const char          *message);

/* Loads a photo into the session; on failure a toast says why and the
 * session is left as it was.  The callback may be NULL. */
void          drape_window_open_photo_async    (DrapeWindow         *self,
                                                GFile               *file,
                                                GCancellable        *cancellable,
                                                GAsyncReadyCallback  callback,
                                                gpointer             user_data);
gboolean      drape_window_open_photo_finish   (DrapeWindow         *self,
                                                GAsyncResult        *result,
                                                GError             **error);
void          drape_window_open_session_async  (DrapeWindow         *self,
                                                GFile               *file,
                                                GCancellable        *cancellable,
                                                GAsyncReadyCallback  callback,
                                                gpointer             user_data);
gboolean      drape_window_open_session_finish (DrapeWindow         *self,
                                                GAsyncResult        *result,
                                                GError             **error);
/* Loads the autosaved session, if there is one, without asking. */
void          drape_window_restore_autosave    (DrapeWindow         *self);
/* Writes the autosave now (on quit); deletes it for a blank session. */
gboolean      drape_window_autosave            (DrapeWindow         *self,
                                                GError             **error);
GFile        *drape_window_get_autosave_file   (void);

G_END_DECLS
