/* drape-result.h: one try-on result of this session, with how it was made
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "drape-try-on-settings.h"

G_BEGIN_DECLS

#define DRAPE_TYPE_RESULT (drape_result_get_type ())

G_DECLARE_FINAL_TYPE (DrapeResult, drape_result, DRAPE, RESULT, GObject)

/* Encodes the PNG (with a "parameters" text chunk): may be called on a
 * worker thread. */
DrapeResult        *drape_result_new            (GdkPixbuf           *pixbuf,
                                                 DrapeTryOnSettings  *settings,
                                                 const char          *parameters,
                                                 GError             **error);
/* From a saved PNG and the settings stored beside it. */
DrapeResult        *drape_result_new_from_png   (GBytes              *png,
                                                 DrapeTryOnSettings  *settings,
                                                 GError             **error);

GdkPixbuf          *drape_result_get_pixbuf     (DrapeResult         *self);
GdkTexture         *drape_result_get_texture    (DrapeResult         *self);
/* The PNG file, as Save As writes it. */
GBytes             *drape_result_get_png        (DrapeResult         *self);
DrapeTryOnSettings *drape_result_get_settings   (DrapeResult         *self);
/* The engine's one-line description, or NULL. */
const char         *drape_result_get_parameters (DrapeResult         *self);

G_END_DECLS
