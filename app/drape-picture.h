/* drape-picture.h: an image the user gave Drape (a photo or a garment)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define DRAPE_TYPE_PICTURE (drape_picture_get_type ())

G_DECLARE_FINAL_TYPE (DrapePicture, drape_picture, DRAPE, PICTURE, GObject)

/* Decodes PNG, JPEG or WebP, applies the EXIF orientation and scales
 * photos over DRAPE_IMAGE_MAX_PIXELS down (see drape_picture_get_note). */
DrapePicture *drape_picture_new_from_bytes   (GBytes               *bytes,
                                              const char           *name,
                                              GError              **error);
DrapePicture *drape_picture_new_from_texture (GdkTexture           *texture,
                                              const char           *name,
                                              GError              **error);
/* Reads and decodes on a worker thread. */
void          drape_picture_load_async       (GFile                *file,
                                              GCancellable         *cancellable,
                                              GAsyncReadyCallback   callback,
                                              gpointer              user_data);
DrapePicture *drape_picture_load_finish      (GAsyncResult         *result,
                                              GError              **error);
/* A texture at most size x size; blocks, so call it from a worker thread. */
GdkTexture   *drape_picture_load_thumbnail   (GFile                *file,
                                              int                   size,
                                              GCancellable         *cancellable,
                                              GError              **error);

const char   *drape_picture_get_name         (DrapePicture         *self);
/* The file's bytes as they were given, what a session stores. */
GBytes       *drape_picture_get_bytes        (DrapePicture         *self);
/* "png", "jpeg" or "webp" */
const char   *drape_picture_get_format       (DrapePicture         *self);
GdkPixbuf    *drape_picture_get_pixbuf       (DrapePicture         *self);
GdkTexture   *drape_picture_get_texture      (DrapePicture         *self);
/* A copy at most 1600 pixels on its long side, for drawing small, or
 * NULL when the picture is no larger. */
GdkTexture   *drape_picture_get_preview      (DrapePicture         *self);
int           drape_picture_get_width        (DrapePicture         *self);
int           drape_picture_get_height       (DrapePicture         *self);
/* A sentence for the user about the decoding (a downscale), or NULL. */
const char   *drape_picture_get_note         (DrapePicture         *self);

GdkTexture   *drape_texture_new_for_pixbuf   (GdkPixbuf            *pixbuf);

G_END_DECLS
