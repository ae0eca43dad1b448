/* drape-garment-gallery.h: garments to choose from: the user's garments
 * folder and the garments added to Drape
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "drape-garment.h"

G_BEGIN_DECLS

#define DRAPE_TYPE_GARMENT_GALLERY (drape_garment_gallery_get_type ())

G_DECLARE_FINAL_TYPE (DrapeGarmentGallery, drape_garment_gallery, DRAPE, GARMENT_GALLERY, GtkWidget)

GtkWidget    *drape_garment_gallery_new          (void);
/* The garments shown, DrapeGarment. */
GListModel   *drape_garment_gallery_get_garments (DrapeGarmentGallery *self);
DrapeGarment *drape_garment_gallery_get_selected (DrapeGarmentGallery *self);
void          drape_garment_gallery_select       (DrapeGarmentGallery *self,
                                                  DrapeGarment        *garment);
/* Copies the images into Drape's own garments folder and shows them;
 * files that are not images are refused with a toast. */
void          drape_garment_gallery_add_files    (DrapeGarmentGallery *self,
                                                  GListModel          *files);
void          drape_garment_gallery_add_texture  (DrapeGarmentGallery *self,
                                                  GdkTexture          *texture);
/* Deletes Drape's copy, or hides a file of the garments folder. */
void          drape_garment_gallery_remove       (DrapeGarmentGallery *self,
                                                  DrapeGarment        *garment);
/* Reads the folders again. */
void          drape_garment_gallery_reload       (DrapeGarmentGallery *self);

G_END_DECLS
