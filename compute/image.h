/* image.h: 8-bit images on the host: loading, saving, CatVTON's
 * preprocessing (PIL-exact resampling and blur)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <gdk-pixbuf/gdk-pixbuf.h>

G_BEGIN_DECLS

/* Photos larger than this many pixels are downscaled on load (and the
 * caller told so through drape_image_load's `note`). */
#define DRAPE_IMAGE_MAX_PIXELS (40u * 1000 * 1000)

typedef struct {
  guint32 width;
  guint32 height;
  guint32 channels; /* 1: gray or mask, 3: RGB */
  guint32 stride;   /* bytes per row: width * channels */
  guint8 *pixels;
} DrapeImage;

DrapeImage *drape_image_new              (guint32            width,
                                          guint32            height,
                                          guint32            channels);
void        drape_image_free             (DrapeImage        *image);
DrapeImage *drape_image_copy             (const DrapeImage  *image);

/* PNG, JPEG, WebP (whatever gdk-pixbuf loads): EXIF orientation applied,
 * alpha composited over white, grey expanded or RGB reduced to the
 * requested channels (1 or 3).  If `note` is not NULL it receives a
 * sentence about anything the caller should tell the user (a downscale),
 * or NULL. */
DrapeImage *drape_image_load             (const char        *path,
                                          guint32            channels,
                                          char             **note,
                                          GError           **error);
DrapeImage *drape_image_load_bytes       (GBytes            *bytes,
                                          guint32            channels,
                                          char             **note,
                                          GError           **error);
DrapeImage *drape_image_new_from_pixbuf  (GdkPixbuf         *pixbuf,
                                          guint32            channels);
GdkPixbuf  *drape_image_to_pixbuf        (const DrapeImage  *image);
/* Writes a PNG with tEXt chunks from `text` (key, value, key, value, ...,
 * NULL), e.g. "parameters". */
gboolean    drape_image_save_png         (const DrapeImage  *image,
                                          const char        *path,
                                          const char *const *text,
                                          GError           **error);

/* PIL's Image.resize (LANCZOS): the same kernel, support and 8-bit
 * rounding, so results match PIL to within a level. */
DrapeImage *drape_image_resize_lanczos   (const DrapeImage  *image,
                                          guint32            width,
                                          guint32            height);
DrapeImage *drape_image_resize_bilinear  (const DrapeImage  *image,
                                          guint32            width,
                                          guint32            height);
/* CatVTON's resize_and_crop: centre crop to the target aspect, then resize. */
DrapeImage *drape_image_resize_and_crop  (const DrapeImage  *image,
                                          guint32            width,
                                          guint32            height);
/* CatVTON's resize_and_padding: fit inside, centre on `fill`. */
DrapeImage *drape_image_resize_and_pad   (const DrapeImage  *image,
                                          guint32            width,
                                          guint32            height,
                                          guint8             fill);
/* PIL's ImageFilter.GaussianBlur (radius): three extended box blurs. */
DrapeImage *drape_image_gaussian_blur    (const DrapeImage  *image,
                                          float              radius);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DrapeImage, drape_image_free)

G_END_DECLS
