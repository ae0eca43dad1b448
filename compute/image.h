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

/* CatVTON binarises a mask at mask / 255 >= 0.5, that is at 8-bit values
 * >= 128: those pixels are the region to repaint. */
#define DRAPE_MASK_THRESHOLD 128

typedef struct {
  guint32 width;
  guint32 height;
  guint32 channels; /* 1: gray or mask, 3: RGB */
  guint32 stride;   /* bytes per row: width * channels */
  guint8 *pixels;
} DrapeImage;

/* Zero-filled.  width and height >= 1, channels 1 or 3. */
DrapeImage *drape_image_new              (guint32            width,
                                          guint32            height,
                                          guint32            channels);
void        drape_image_free             (DrapeImage        *image);
DrapeImage *drape_image_copy             (const DrapeImage  *image);
/* 1 -> 3 repeats the grey level; 3 -> 1 is PIL's convert("L"): ITU-R 601
 * luma in PIL's 16-bit fixed point, (R*19595 + G*38470 + B*7471 + 32768)
 * >> 16, i.e. R*0.299 + G*0.587 + B*0.114 rounded to nearest. */
DrapeImage *drape_image_convert          (const DrapeImage  *image,
                                          guint32            channels);

/* PNG, JPEG, WebP (whatever gdk-pixbuf loads): EXIF orientation applied,
 * alpha composited over white (PIL's convert("RGB") would drop it, which
 * turns a transparent garment background black), 16-bit samples reduced
 * to 8, grey expanded or RGB reduced to the requested channels (1 or 3).
 * If `note` is not NULL it receives a sentence about anything the caller
 * should tell the user (a downscale), or NULL.  Errors name the file. */
DrapeImage *drape_image_load             (const char        *path,
                                          guint32            channels,
                                          char             **note,
                                          GError           **error);
/* drape_image_load with another pixel limit (thumbnails, tests).  An image
 * over the limit is decoded at 1/2, 1/4, 1/8 ... of its size (each side
 * rounded up), the largest that fits.  JPEG decodes straight to that size
 * (libjpeg's DCT scaling), so memory follows the reduced size (a 10000 x
 * 10000 JPEG peaks at about 150 MB); gdk-pixbuf's other loaders decode at
 * full size first (the same image as PNG: about 440 MB). */
DrapeImage *drape_image_load_at_most     (const char        *path,
                                          guint32            channels,
                                          guint64            max_pixels,
                                          char             **note,
                                          GError           **error);
DrapeImage *drape_image_load_bytes       (GBytes            *bytes,
                                          guint32            channels,
                                          char             **note,
                                          GError           **error);
/* 8-bit RGB or RGBA pixbufs (what gdk-pixbuf's loaders make). */
DrapeImage *drape_image_new_from_pixbuf  (GdkPixbuf         *pixbuf,
                                          guint32            channels);
/* Always RGB; NULL only if memory runs out. */
GdkPixbuf  *drape_image_to_pixbuf        (const DrapeImage  *image);
/* Writes an 8-bit PNG atomically (a temporary file in the same folder,
 * renamed over `path`).  `text` is NULL or key, value, key, value, ...,
 * NULL, e.g. "parameters": each pair becomes a tEXt chunk, or an iTXt
 * chunk when the value is not plain ASCII (it must then be UTF-8).  Keys
 * are 1 to 79 printable ASCII characters without leading, trailing or
 * double spaces. */
gboolean    drape_image_save_png         (const DrapeImage  *image,
                                          const char        *path,
                                          const char *const *text,
                                          GError           **error);

/* PIL's Image.resize (LANCZOS): the same kernel, support, bounds, 8-bit
 * fixed-point coefficients and rounding, horizontal pass first, so results
 * equal PIL's. */
DrapeImage *drape_image_resize_lanczos   (const DrapeImage  *image,
                                          guint32            width,
                                          guint32            height);
/* PIL's Image.resize (BILINEAR), computed the same way: a triangle filter
 * widened when shrinking, so previews do not alias.  This is also what
 * transformers' SegformerImageProcessor does to the parser's input. */
DrapeImage *drape_image_resize_bilinear  (const DrapeImage  *image,
                                          guint32            width,
                                          guint32            height);
/* CatVTON's resize_and_crop: centre crop to the target aspect (integer
 * arithmetic as CatVTON's), then LANCZOS resize.  Where CatVTON's crop would
 * be 0 pixels wide or high (an extreme aspect), 1 is used. */
DrapeImage *drape_image_resize_and_crop  (const DrapeImage  *image,
                                          guint32            width,
                                          guint32            height);
/* CatVTON's resize_and_padding: LANCZOS resize to fit inside, pasted
 * centred (offsets rounded down) on `fill` (CatVTON: 255, white). */
DrapeImage *drape_image_resize_and_pad   (const DrapeImage  *image,
                                          guint32            width,
                                          guint32            height,
                                          guint8             fill);
/* PIL's ImageFilter.GaussianBlur (radius): three extended box blurs per
 * direction, edges extended, bit-exact.  radius in [0, 10000]; 0 copies. */
DrapeImage *drape_image_gaussian_blur    (const DrapeImage  *image,
                                          float              radius);
/* 1 channel out: 255 where the grey level is >= DRAPE_MASK_THRESHOLD,
 * else 0.  A 3-channel image is converted to grey first. */
DrapeImage *drape_image_binarize         (const DrapeImage  *image);
/* A mask prepared as CatVTON's app and pipeline do it: grey, then
 * resize_and_crop to width x height, then GaussianBlur(blur_radius) (the
 * app uses 9; 0 skips it), then binarised at DRAPE_MASK_THRESHOLD. */
DrapeImage *drape_image_prepare_mask     (const DrapeImage  *mask,
                                          guint32            width,
                                          guint32            height,
                                          float              blur_radius);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DrapeImage, drape_image_free)

G_END_DECLS
