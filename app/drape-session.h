/* drape-session.h: what the user is working on: photo, mask, garment,
 * settings and results, and the .drape file that holds them
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "drape-mask.h"
#include "drape-picture.h"
#include "drape-result.h"
#include "drape-try-on-settings.h"
#include "parser.h"

G_BEGIN_DECLS

/* The version of the session format this build writes; it reads this and
 * older ones and refuses newer ones. */
#define DRAPE_SESSION_FORMAT_VERSION 1

#define DRAPE_TYPE_SESSION (drape_session_get_type ())

G_DECLARE_FINAL_TYPE (DrapeSession, drape_session, DRAPE, SESSION, GObject)

DrapeSession       *drape_session_new               (void);

DrapePicture       *drape_session_get_photo         (DrapeSession        *self);
/* Starts a new, empty mask of the photo's size. */
void                drape_session_set_photo         (DrapeSession        *self,
                                                     DrapePicture        *photo);
DrapeMask          *drape_session_get_mask          (DrapeSession        *self);
DrapePicture       *drape_session_get_garment       (DrapeSession        *self);
void                drape_session_set_garment       (DrapeSession        *self,
                                                     DrapePicture        *garment);
DrapeGarmentType    drape_session_get_garment_type  (DrapeSession        *self);
void                drape_session_set_garment_type  (DrapeSession        *self,
                                                     DrapeGarmentType     type);
DrapeTryOnSettings *drape_session_get_settings      (DrapeSession        *self);
/* DrapeResult, oldest first. */
GListModel         *drape_session_get_results       (DrapeSession        *self);
void                drape_session_add_result        (DrapeSession        *self,
                                                     DrapeResult         *result);
/* Where the session was last saved or opened from, or NULL. */
GFile              *drape_session_get_file          (DrapeSession        *self);
void                drape_session_set_file          (DrapeSession        *self,
                                                     GFile               *file);
/* Nothing worth keeping: no photo, no garment, no results. */
gboolean            drape_session_is_blank          (DrapeSession        *self);

/* The .drape file: a zip holding session.json, the photo and garment
 * files as they were given, mask.png and results/N.png. */
GBytes             *drape_session_to_bytes          (DrapeSession        *self,
                                                     GError             **error);
DrapeSession       *drape_session_new_from_bytes    (GBytes              *bytes,
                                                     const char          *name,
                                                     GError             **error);
/* Writes atomically: on failure the old file is untouched. */
gboolean            drape_session_save              (DrapeSession        *self,
                                                     GFile               *file,
                                                     GError             **error);
/* Encodes and writes on a worker thread. */
void                drape_session_save_async        (DrapeSession        *self,
                                                     GFile               *file,
                                                     GCancellable        *cancellable,
                                                     GAsyncReadyCallback  callback,
                                                     gpointer             user_data);
gboolean            drape_session_save_finish       (DrapeSession        *self,
                                                     GAsyncResult        *result,
                                                     GError             **error);
void                drape_session_load_async        (GFile               *file,
                                                     GCancellable        *cancellable,
                                                     GAsyncReadyCallback  callback,
                                                     gpointer             user_data);
DrapeSession       *drape_session_load_finish       (GAsyncResult        *result,
                                                     GError             **error);

G_END_DECLS
