/* drape-garment.h: a garment photo in the gallery
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define DRAPE_TYPE_GARMENT (drape_garment_get_type ())

G_DECLARE_FINAL_TYPE (DrapeGarment, drape_garment, DRAPE, GARMENT, GObject)

/* owned: a copy Drape made when the user added it, deleted on removal;
 * otherwise a file of the user's garments folder, only hidden. */
DrapeGarment *drape_garment_new             (GFile        *file,
                                             gboolean      owned);
GFile        *drape_garment_get_file        (DrapeGarment *self);
const char   *drape_garment_get_name        (DrapeGarment *self);
gboolean      drape_garment_get_owned       (DrapeGarment *self);
/* NULL until drape_garment_load_thumbnail() has finished. */
GdkTexture   *drape_garment_get_thumbnail   (DrapeGarment *self);
/* Decodes a small copy on a worker thread, once. */
void          drape_garment_load_thumbnail  (DrapeGarment *self,
                                             int           size,
                                             GCancellable *cancellable);

G_END_DECLS
