/* image.c: 8-bit host images: gdk-pixbuf loading, libpng saving, and
 * CatVTON's preprocessing computed exactly as Pillow computes it
 *
 * The resampler and the blur follow Pillow's libImaging (Resample.c,
 * BoxBlur.c) operation for operation, including where it rounds, so the
 * preprocessed tensors equal those of the Python reference.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "image.h"

#include <math.h>
#include <string.h>
#include <png.h>

#include "error.h"

DrapeImage *
drape_image_new (guint32 width,
                 guint32 height,
                 guint32 channels)
{
  DrapeImage *image;

  g_return_val_if_fail (width > 0 && height > 0, NULL);
  g_return_val_if_fail (channels == 1 || channels == 3, NULL);

  image = g_new0 (DrapeImage, 1);
  image->width = width;
  image->height = height;
  image->channels = channels;
  image->stride = width * channels;
  image->pixels = g_malloc0 ((gsize) image->stride * height);
  return image;
}

void
drape_image_free (DrapeImage *image)
{
  if (image == NULL)
    return;
  g_free (image->pixels);
  g_free (image);
}

DrapeImage *
drape_image_copy (const DrapeImage *image)
{
  DrapeImage *copy;

  g_return_val_if_fail (image != NULL, NULL);

  copy = drape_image_new (image->width, image->height, image->channels);
  memcpy (copy->pixels, image->pixels, (gsize) image->stride * image->height);
  return copy;
}

/* Pillow's rgb2l: ITU-R 601 weights in 16-bit fixed point that sum to
 * 65536, so grey stays grey, rounded to nearest. */
static inline guint8
luma (const guint8 *rgb)
{
  return (rgb[0] * 19595u + rgb[1] * 38470u + rgb[2] * 7471u + 0x8000u) >> 16;
}

DrapeImage *
drape_image_convert (const DrapeImage *image,
                     guint32           channels)
{
  DrapeImage *out;
  gsize n;

  g_return_val_if_fail (image != NULL, NULL);
  g_return_val_if_fail (channels == 1 || channels == 3, NULL);

  if (image->channels == channels)
    return drape_image_copy (image);

  out = drape_image_new (image->width, image->height, channels);
  n = (gsize) image->width * image->height;
  if (channels == 1)
    {
      for (gsize i = 0; i < n; i++)
        out->pixels[i] = luma (image->pixels + 3 * i);
    }
  else
    {
      for (gsize i = 0; i < n; i++)
        memset (out->pixels + 3 * i, image->pixels[i], 3);
    }
  return out;
}

/* --- Loading ------------------------------------------------------------ */

DrapeImage *
drape_image_new_from_pixbuf (GdkPixbuf *pixbuf,
                             guint32    channels)
{
  DrapeImage *image;
  const guint8 *src;
  guint32 width, height, n_channels, rowstride;

  g_return_val_if_fail (GDK_IS_PIXBUF (pixbuf), NULL);
  g_return_val_if_fail (channels == 1 || channels == 3, NULL);
  g_return_val_if_fail (gdk_pixbuf_get_colorspace (pixbuf) == GDK_COLORSPACE_RGB, NULL);
  g_return_val_if_fail (gdk_pixbuf_get_bits_per_sample (pixbuf) == 8, NULL);

  width = gdk_pixbuf_get_width (pixbuf);
  height = gdk_pixbuf_get_height (pixbuf);
  n_channels = gdk_pixbuf_get_n_channels (pixbuf);
  rowstride = gdk_pixbuf_get_rowstride (pixbuf);
  g_return_val_if_fail (n_channels == 3 || n_channels == 4, NULL);

  src = gdk_pixbuf_read_pixels (pixbuf);
  image = drape_image_new (width, height, channels);
  for (guint32 y = 0; y < height; y++)
    {
      const guint8 *row = src + (gsize) y * rowstride;
      guint8 *dst = image->pixels + (gsize) y * image->stride;

      for (guint32 x = 0; x < width; x++)
        {
          const guint8 *p = row + (gsize) x * n_channels;
          guint8 rgb[3];

          if (n_channels == 4)
            {
              /* Straight (not premultiplied) alpha over white, rounded. */
              guint a = p[3];
              for (guint c = 0; c < 3; c++)
                rgb[c] = (p[c] * a + 255 * (255 - a) + 127) / 255;
            }
          else
            memcpy (rgb, p, 3);

          if (channels == 1)
            dst[x] = luma (rgb);
          else
            memcpy (dst + 3 * x, rgb, 3);
        }
    }
  return image;
}

GdkPixbuf *
drape_image_to_pixbuf (const DrapeImage *image)
{
  GdkPixbuf *pixbuf;
  guint8 *dst;
  int rowstride;

  g_return_val_if_fail (image != NULL, NULL);

  pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, image->width, image->height);
  if (pixbuf == NULL)
    return NULL;
  dst = gdk_pixbuf_get_pixels (pixbuf);
  rowstride = gdk_pixbuf_get_rowstride (pixbuf);
  for (guint32 y = 0; y < image->height; y++)
    {
      const guint8 *src = image->pixels + (gsize) y * image->stride;
      guint8 *row = dst + (gsize) y * rowstride;

      if (image->channels == 3)
        memcpy (row, src, image->stride);
      else
        for (guint32 x = 0; x < image->width; x++)
          memset (row + 3 * x, src[x], 3);
    }
  return pixbuf;
}

typedef struct {
  guint64 max_pixels;
  int width;           /* as the file says */
  int height;
  guint shift;         /* decoded at 1 / 2^shift */
} LoadScale;

static int
shrink (int size,
        guint shift)
{
  return (int) (((guint64) size + (G_GUINT64_CONSTANT (1) << shift) - 1) >> shift);
}

static void
on_size_prepared (GdkPixbufLoader *loader,
                  int              width,
                  int              height,
                  gpointer         user_data)
{
  LoadScale *scale = user_data;

  scale->width = width;
  scale->height = height;
  if (width <= 0 || height <= 0)
    return;
  /* Powers of two, rounded up as libjpeg rounds its scaled output, let
   * the JPEG loader decode straight to the reduced size. */
  while (scale->shift < 31
         && (guint64) shrink (width, scale->shift) * shrink (height, scale->shift) > scale->max_pixels)
    scale->shift++;
  if (scale->shift > 0)
    gdk_pixbuf_loader_set_size (loader, shrink (width, scale->shift), shrink (height, scale->shift));
}

static guint32
read_be32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

/* Chunks up to IEND. */
static gboolean
png_complete (const guint8 *data,
              gsize         size)
{
  gsize pos = 8;

  while (pos + 12 <= size)
    {
      if (memcmp (data + pos + 4, "IEND", 4) == 0)
        return TRUE;
      pos += 12 + (gsize) read_be32 (data + pos);
    }
  return FALSE;
}

static gboolean
jpeg_is_rst (guint8 marker)
{
  return marker >= 0xd0 && marker <= 0xd7;
}

/* Segments, and the entropy-coded data after each SOS, up to EOI.
 * Segment lengths carry the walk over APP segments, whose embedded
 * thumbnails have an EOI of their own. */
static gboolean
jpeg_complete (const guint8 *data,
               gsize         size)
{
  gsize pos = 2;

  while (pos < size)
    {
      guint8 marker;
      gsize length;

      /* libjpeg skips stray bytes before a marker; so does this. */
      while (pos < size && data[pos] != 0xff)
        pos++;
      while (pos < size && data[pos] == 0xff)
        pos++;
      if (pos >= size)
        return FALSE;
      marker = data[pos++];
      if (marker == 0xd9)
        return TRUE;
      if (marker == 0x01 || jpeg_is_rst (marker))
        continue;
      if (pos + 2 > size)
        return FALSE;
      length = ((gsize) data[pos] << 8) | data[pos + 1];
      if (length < 2)
        return FALSE;
      pos += length;
      if (marker == 0xda)
        {
          /* FF 00 is a stuffed FF and FF D0..D7 a restart: data goes on. */
          while (pos + 1 < size
                 && !(data[pos] == 0xff && data[pos + 1] != 0 && !jpeg_is_rst (data[pos + 1])))
            pos++;
          if (pos + 1 >= size)
            return FALSE;
        }
    }
  return FALSE;
}

/* gdk-pixbuf's incremental loaders take a file that stops early and return
 * the part decoded so far, so a cut-off download would pass for a photo.
 * For the formats photos come in, walk the container to its end: false
 * if the data stops before it. */
static gboolean
container_complete (const guint8 *data,
                    gsize         size)
{
  static const guint8 png_signature[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };

  if (size >= 8 && memcmp (data, png_signature, 8) == 0)
    return png_complete (data, size);
  if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff)
    return jpeg_complete (data, size);
  if (size >= 12 && memcmp (data, "RIFF", 4) == 0 && memcmp (data + 8, "WEBP", 4) == 0)
    return size - 8 >= (gsize) (data[4] | (data[5] << 8) | (data[6] << 16) | ((guint32) data[7] << 24));
  return TRUE;
}

static DrapeImage *
load_data (GBytes      *bytes,
           const char  *name,
           guint32      channels,
           guint64      max_pixels,
           char       **note,
           GError     **error)
{
  g_autoptr(GdkPixbufLoader) loader = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GdkPixbuf) oriented = NULL;
  LoadScale scale = { .max_pixels = MAX (max_pixels, 1) };
  GdkPixbuf *pixbuf;
  DrapeImage *image;
  const guint8 *data;
  gsize size;

  if (note != NULL)
    *note = NULL;
  if (channels != 1 && channels != 3)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                   "%s: cannot load with %u channels (1 or 3)", name, channels);
      return NULL;
    }
  data = g_bytes_get_data (bytes, &size);
  if (size == 0)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT, "%s: the file is empty", name);
      return NULL;
    }

  loader = gdk_pixbuf_loader_new ();
  g_signal_connect (loader, "size-prepared", G_CALLBACK (on_size_prepared), &scale);
  /* A failed write closes the loader; close is a no-op then. */
  if (!gdk_pixbuf_loader_write_bytes (loader, bytes, &local_error)
      || !gdk_pixbuf_loader_close (loader, &local_error))
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT,
                   "%s: not an image Drape can read: %s", name, local_error->message);
      return NULL;
    }
  pixbuf = gdk_pixbuf_loader_get_pixbuf (loader);
  if (pixbuf == NULL || !container_complete (data, size))
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT,
                   "%s: the file is truncated or damaged: it ends before the image does", name);
      return NULL;
    }
  if (gdk_pixbuf_get_bits_per_sample (pixbuf) != 8
      || gdk_pixbuf_get_colorspace (pixbuf) != GDK_COLORSPACE_RGB
      || gdk_pixbuf_get_n_channels (pixbuf) < 3)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED,
                   "%s: unsupported pixel layout (%d bits, %d channels)", name,
                   gdk_pixbuf_get_bits_per_sample (pixbuf), gdk_pixbuf_get_n_channels (pixbuf));
      return NULL;
    }

  oriented = gdk_pixbuf_apply_embedded_orientation (pixbuf);
  if (oriented == NULL)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_OUT_OF_MEMORY,
                   "%s: out of memory turning the image upright", name);
      return NULL;
    }
  image = drape_image_new_from_pixbuf (oriented, channels);

  if (note != NULL && scale.shift > 0)
    {
      gboolean turned = image->width != (guint32) gdk_pixbuf_get_width (pixbuf);
      g_autofree char *limit = scale.max_pixels % 1000000 == 0
        ? g_strdup_printf ("%" G_GUINT64_FORMAT " megapixels", scale.max_pixels / 1000000)
        : g_strdup_printf ("%" G_GUINT64_FORMAT " pixels", scale.max_pixels);

      *note = g_strdup_printf ("%s is %d × %d pixels, more than %s: "
                               "it was loaded at 1/%u of its size, %u × %u.",
                               name,
                               turned ? scale.height : scale.width,
                               turned ? scale.width : scale.height,
                               limit, 1u << scale.shift, image->width, image->height);
    }
  return image;
}

DrapeImage *
drape_image_load_at_most (const char  *path,
                          guint32      channels,
                          guint64      max_pixels,
                          char       **note,
                          GError     **error)
{
  g_autofree char *name = NULL;
  g_autofree char *contents = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) local_error = NULL;
  gsize size;

  g_return_val_if_fail (path != NULL, NULL);

  if (note != NULL)
    *note = NULL;
  name = g_filename_display_name (path);
  /* Whole, so the container can be checked; photos are a few MB. */
  if (!g_file_get_contents (path, &contents, &size, &local_error))
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_IO, "%s", local_error->message);
      return NULL;
    }
  bytes = g_bytes_new_take (g_steal_pointer (&contents), size);
  return load_data (bytes, name, channels, max_pixels, note, error);
}

DrapeImage *
drape_image_load (const char  *path,
                  guint32      channels,
                  char       **note,
                  GError     **error)
{
  return drape_image_load_at_most (path, channels, DRAPE_IMAGE_MAX_PIXELS, note, error);
}

DrapeImage *
drape_image_load_bytes (GBytes   *bytes,
                        guint32   channels,
                        char    **note,
                        GError  **error)
{
  g_return_val_if_fail (bytes != NULL, NULL);

  return load_data (bytes, "image data", channels, DRAPE_IMAGE_MAX_PIXELS, note, error);
}

/* --- Saving ------------------------------------------------------------- */

static gboolean
text_key_valid (const char *key)
{
  gsize len = strlen (key);

  if (len < 1 || len > 79 || key[0] == ' ' || key[len - 1] == ' ' || strstr (key, "  "))
    return FALSE;
  /* Keys are Latin-1; accept their printable ASCII part. */
  for (gsize i = 0; i < len; i++)
    if ((guchar) key[i] < 32 || (guchar) key[i] > 126)
      return FALSE;
  return TRUE;
}

static gboolean
is_ascii (const char *s)
{
  for (; *s; s++)
    if ((guchar) *s > 127)
      return FALSE;
  return TRUE;
}

static void
png_write_to_array (png_structp png,
                    png_bytep   data,
                    png_size_t  length)
{
  g_byte_array_append (png_get_io_ptr (png), data, length);
}

static void
png_flush_nothing (png_structp png)
{
}

static void
png_error_jump (png_structp     png,
                png_const_charp message)
{
  char *slot = png_get_error_ptr (png);

  g_strlcpy (slot, message, 256);
  png_longjmp (png, 1);
}

static void
png_warning_ignore (png_structp     png,
                    png_const_charp message)
{
}

/* Encodes into memory: libpng's errors longjmp, and nothing here may
 * leak across that jump, so all allocation happens before it. */
static GBytes *
encode_png (const DrapeImage  *image,
            png_text          *texts,
            int                n_texts,
            GError           **error)
{
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autofree png_bytep *rows = g_new (png_bytep, image->height);
  char message[256] = "";
  png_structp png;
  png_infop info;

  for (guint32 y = 0; y < image->height; y++)
    rows[y] = image->pixels + (gsize) y * image->stride;

  png = png_create_write_struct (PNG_LIBPNG_VER_STRING, message, png_error_jump, png_warning_ignore);
  if (png == NULL)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_OUT_OF_MEMORY, "out of memory encoding a PNG");
      return NULL;
    }
  info = png_create_info_struct (png);
  if (info == NULL || setjmp (png_jmpbuf (png)))
    {
      png_destroy_write_struct (&png, &info);
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_FAILED, "encoding a PNG failed: %s", message);
      return NULL;
    }
  png_set_write_fn (png, out, png_write_to_array, png_flush_nothing);
  png_set_IHDR (png, info, image->width, image->height, 8,
                image->channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
                PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (n_texts > 0)
    png_set_text (png, info, texts, n_texts);
  png_set_rows (png, info, rows);
  png_write_png (png, info, PNG_TRANSFORM_IDENTITY, NULL);
  png_destroy_write_struct (&png, &info);

  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

gboolean
drape_image_save_png (const DrapeImage  *image,
                      const char        *path,
                      const char *const *text,
                      GError           **error)
{
  g_autofree char *name = NULL;
  g_autofree png_text *texts = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) local_error = NULL;
  int n_texts = 0;
  gsize size;
  const char *data;

  g_return_val_if_fail (image != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  name = g_filename_display_name (path);
  if (text != NULL)
    {
      while (text[2 * n_texts] != NULL)
        {
          const char *key = text[2 * n_texts];
          const char *value = text[2 * n_texts + 1];

          if (value == NULL)
            {
              g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                           "%s: text key “%s” has no value", name, key);
              return FALSE;
            }
          if (!text_key_valid (key))
            {
              g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                           "%s: “%s” is not a valid PNG text key "
                           "(1 to 79 printable characters, no leading, trailing or double spaces)",
                           name, key);
              return FALSE;
            }
          if (!is_ascii (value) && !g_utf8_validate (value, -1, NULL))
            {
              g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                           "%s: the value of text key “%s” is not UTF-8", name, key);
              return FALSE;
            }
          n_texts++;
        }
      texts = g_new0 (png_text, MAX (n_texts, 1));
      for (int i = 0; i < n_texts; i++)
        {
          const char *value = text[2 * i + 1];

          texts[i].key = (char *) text[2 * i];
          texts[i].text = (char *) value;
          if (is_ascii (value))
            {
              texts[i].compression = PNG_TEXT_COMPRESSION_NONE;
              texts[i].text_length = strlen (value);
            }
          else
            {
              /* tEXt is Latin-1; UTF-8 text goes in iTXt. */
              texts[i].compression = PNG_ITXT_COMPRESSION_NONE;
              texts[i].itxt_length = strlen (value);
              texts[i].lang = (char *) "";
              texts[i].lang_key = (char *) "";
            }
        }
    }

  bytes = encode_png (image, texts, n_texts, &local_error);
  if (bytes == NULL)
    {
      g_set_error (error, local_error->domain, local_error->code, "%s: %s", name, local_error->message);
      return FALSE;
    }
  data = g_bytes_get_data (bytes, &size);
  /* CONSISTENT: a temporary file in the same folder, synced, renamed. */
  if (!g_file_set_contents_full (path, data, size, G_FILE_SET_CONTENTS_CONSISTENT, 0666, &local_error))
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_IO, "Cannot save %s: %s", name, local_error->message);
      return FALSE;
    }
  return TRUE;
}

/* --- Resampling (Pillow's Resample.c) ----------------------------------- */

/* Pillow's 8-bit coefficients: 32 bits less 8 for the sample and 2 for
 * the negative lobes' overshoot. */
#define PRECISION_BITS 22

typedef struct {
  double (*func) (double x);
  double support;
} Filter;

static double
sinc (double x)
{
  if (x == 0.0)
    return 1.0;
  x *= G_PI;
  return sin (x) / x;
}

static double
lanczos3 (double x)
{
  return (x >= -3.0 && x < 3.0) ? sinc (x) * sinc (x / 3.0) : 0.0;
}

static double
triangle (double x)
{
  x = fabs (x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

static const Filter LANCZOS = { lanczos3, 3.0 };
static const Filter BILINEAR = { triangle, 1.0 };

typedef struct {
  guint32 ksize;   /* taps per output sample (the widest) */
  guint32 *first;  /* first input sample of each output sample */
  guint32 *count;  /* its number of taps */
  gint32 *k;       /* out_size x ksize fixed-point taps */
} Taps;

static void
taps_clear (Taps *taps)
{
  g_free (taps->first);
  g_free (taps->count);
  g_free (taps->k);
}

/* Output sample i covers input [i * scale, (i + 1) * scale); the filter is
 * stretched by the scale when shrinking, centred on the pixel centre, cut
 * to the input, normalised to sum 1, then rounded half away from zero. */
static void
taps_init (Taps         *taps,
           guint32       in_size,
           guint32       out_size,
           const Filter *filter)
{
  double scale = (double) (float) in_size / out_size;
  double filter_scale = MAX (scale, 1.0);
  double support = filter->support * filter_scale;
  double inv_scale = 1.0 / filter_scale;
  double *w;

  taps->ksize = (guint32) ceil (support) * 2 + 1;
  taps->first = g_new (guint32, out_size);
  taps->count = g_new (guint32, out_size);
  taps->k = g_new0 (gint32, (gsize) out_size * taps->ksize);
  w = g_new (double, taps->ksize);

  for (guint32 i = 0; i < out_size; i++)
    {
      double center = (i + 0.5) * scale;
      double total = 0.0;
      /* Truncation toward zero, as Pillow's (int) casts. */
      gint64 lo = (gint64) (center - support + 0.5);
      gint64 hi = (gint64) (center + support + 0.5);
      guint32 n;

      lo = MAX (lo, 0);
      hi = MIN (hi, (gint64) in_size);
      n = (guint32) (hi - lo);
      for (guint32 j = 0; j < n; j++)
        {
          w[j] = filter->func ((j + lo - center + 0.5) * inv_scale);
          total += w[j];
        }
      for (guint32 j = 0; j < n; j++)
        {
          double v = total != 0.0 ? w[j] / total : w[j];
          double fixed = v * (1 << PRECISION_BITS);

          taps->k[(gsize) i * taps->ksize + j] = (gint32) (v < 0 ? fixed - 0.5 : fixed + 0.5);
        }
      taps->first[i] = (guint32) lo;
      taps->count[i] = n;
    }
  g_free (w);
}

static inline guint8
clip8 (gint64 acc)
{
  if (acc < 0)
    return 0;
  acc >>= PRECISION_BITS;
  return acc > 255 ? 255 : (guint8) acc;
}

/* Rows [row0, row0 + out->height) of `in`, resampled along x into `out`. */
static void
resample_rows (const DrapeImage *in,
               guint32           row0,
               DrapeImage       *out,
               const Taps       *taps)
{
  guint32 ch = in->channels;

  for (guint32 y = 0; y < out->height; y++)
    {
      const guint8 *src = in->pixels + (gsize) (row0 + y) * in->stride;
      guint8 *dst = out->pixels + (gsize) y * out->stride;

      for (guint32 x = 0; x < out->width; x++)
        {
          const gint32 *k = taps->k + (gsize) x * taps->ksize;
          const guint8 *s = src + (gsize) taps->first[x] * ch;

          for (guint32 c = 0; c < ch; c++)
            {
              gint64 acc = 1 << (PRECISION_BITS - 1);
              for (guint32 j = 0; j < taps->count[x]; j++)
                acc += (gint64) s[j * ch + c] * k[j];
              dst[x * ch + c] = clip8 (acc);
            }
        }
    }
}

/* `in` rows start at input row row0; resampled along y into `out`. */
static void
resample_columns (const DrapeImage *in,
                  guint32           row0,
                  DrapeImage       *out,
                  const Taps       *taps)
{
  for (guint32 y = 0; y < out->height; y++)
    {
      const gint32 *k = taps->k + (gsize) y * taps->ksize;
      const guint8 *src = in->pixels + (gsize) (taps->first[y] - row0) * in->stride;
      guint8 *dst = out->pixels + (gsize) y * out->stride;

      for (guint32 i = 0; i < out->stride; i++)
        {
          gint64 acc = 1 << (PRECISION_BITS - 1);
          for (guint32 j = 0; j < taps->count[y]; j++)
            acc += (gint64) src[(gsize) j * in->stride + i] * k[j];
          dst[i] = clip8 (acc);
        }
    }
}

static DrapeImage *
resample (const DrapeImage *image,
          guint32           width,
          guint32           height,
          const Filter     *filter)
{
  g_autoptr(DrapeImage) temp = NULL;
  DrapeImage *out;
  Taps vertical = { 0 };
  const DrapeImage *src = image;
  guint32 row0 = 0;

  g_return_val_if_fail (image != NULL, NULL);
  g_return_val_if_fail (width > 0 && height > 0, NULL);

  if (width == image->width && height == image->height)
    return drape_image_copy (image);

  /* Horizontal first, over only the rows the vertical pass reads. */
  taps_init (&vertical, image->height, height, filter);
  if (width != image->width)
    {
      Taps horizontal = { 0 };
      guint32 last = vertical.first[height - 1] + vertical.count[height - 1];

      row0 = vertical.first[0];
      taps_init (&horizontal, image->width, width, filter);
      temp = drape_image_new (width, last - row0, image->channels);
      resample_rows (image, row0, temp, &horizontal);
      taps_clear (&horizontal);
      src = temp;
    }
  if (height != image->height)
    {
      out = drape_image_new (width, height, image->channels);
      resample_columns (src, row0, out, &vertical);
    }
  else
    out = g_steal_pointer (&temp);
  taps_clear (&vertical);
  return out;
}

DrapeImage *
drape_image_resize_lanczos (const DrapeImage *image,
                            guint32           width,
                            guint32           height)
{
  return resample (image, width, height, &LANCZOS);
}

DrapeImage *
drape_image_resize_bilinear (const DrapeImage *image,
                             guint32           width,
                             guint32           height)
{
  return resample (image, width, height, &BILINEAR);
}

static DrapeImage *
crop (const DrapeImage *image,
      guint32           x0,
      guint32           y0,
      guint32           width,
      guint32           height)
{
  DrapeImage *out = drape_image_new (width, height, image->channels);

  for (guint32 y = 0; y < height; y++)
    memcpy (out->pixels + (gsize) y * out->stride,
            image->pixels + (gsize) (y0 + y) * image->stride + (gsize) x0 * image->channels,
            out->stride);
  return out;
}

DrapeImage *
drape_image_resize_and_crop (const DrapeImage *image,
                             guint32           width,
                             guint32           height)
{
  g_autoptr(DrapeImage) cropped = NULL;
  guint64 w, h, crop_w, crop_h;

  g_return_val_if_fail (image != NULL, NULL);
  g_return_val_if_fail (width > 0 && height > 0, NULL);

  w = image->width;
  h = image->height;
  /* CatVTON compares w / h < width / height; exact in integers. */
  if (w * height < width * h)
    {
      crop_w = w;
      crop_h = w * height / width;
    }
  else
    {
      crop_h = h;
      crop_w = h * width / height;
    }
  crop_w = MAX (crop_w, 1);
  crop_h = MAX (crop_h, 1);
  cropped = crop (image, (w - crop_w) / 2, (h - crop_h) / 2, crop_w, crop_h);
  return drape_image_resize_lanczos (cropped, width, height);
}

DrapeImage *
drape_image_resize_and_pad (const DrapeImage *image,
                            guint32           width,
                            guint32           height,
                            guint8            fill)
{
  g_autoptr(DrapeImage) resized = NULL;
  DrapeImage *out;
  guint64 w, h, fit_w, fit_h;
  guint32 x0, y0;

  g_return_val_if_fail (image != NULL, NULL);
  g_return_val_if_fail (width > 0 && height > 0, NULL);

  w = image->width;
  h = image->height;
  if (w * height < width * h)
    {
      fit_h = height;
      fit_w = w * height / h;
    }
  else
    {
      fit_w = width;
      fit_h = h * width / w;
    }
  fit_w = MAX (fit_w, 1);
  fit_h = MAX (fit_h, 1);
  resized = drape_image_resize_lanczos (image, fit_w, fit_h);

  out = drape_image_new (width, height, image->channels);
  memset (out->pixels, fill, (gsize) out->stride * height);
  x0 = (width - fit_w) / 2;
  y0 = (height - fit_h) / 2;
  for (guint32 y = 0; y < fit_h; y++)
    memcpy (out->pixels + (gsize) (y0 + y) * out->stride + (gsize) x0 * out->channels,
            resized->pixels + (gsize) y * resized->stride, resized->stride);
  return out;
}

/* --- Gaussian blur (Pillow's BoxBlur.c) --------------------------------- */

/* The box radius whose three-fold repetition has the Gaussian's variance
 * (Gwosdek et al., "Theoretical foundations of Gaussian convolution by
 * extended box filtering"): an integer part plus a fractional weight for
 * the two samples just outside.  Float and double exactly where Pillow
 * has them, so the result is bit-identical. */
static float
box_radius (float radius,
            int   passes)
{
  float sigma2 = radius * radius / passes;
  float length = sqrt (12.0 * sigma2 + 1.0);
  float whole = floor ((length - 1.0) / 2.0);
  float frac = (2 * whole + 1) * (whole * (whole + 1) - 3 * sigma2);

  frac /= 6 * (sigma2 - (whole + 1) * (whole + 1));
  return whole + frac;
}

static inline guint32
at (const guint8 *line,
    gint64        i,
    gint64        n)
{
  return line[CLAMP (i, 0, n - 1)];
}

/* One extended box pass over n samples, edges repeated:
 * out[x] = (ww * sum(in[x-r .. x+r]) + fw * (in[x-r-1] + in[x+r+1])) / 2^24,
 * rounded, in Pillow's unsigned 32-bit arithmetic. */
static void
box_line (const guint8 *in,
          guint8       *out,
          gint64        n,
          float         radius)
{
  gint64 r = (gint64) radius;
  guint32 ww = (guint32) ((float) (1 << 24) / (radius * 2 + 1));
  guint32 fw = ((1u << 24) - (guint32) (r * 2 + 1) * ww) / 2;
  guint32 acc = 0;
  gint64 lo = -r - 1, hi = r - 1;
  gint64 below = MIN (hi, -1) - lo + 1;
  gint64 above = hi >= n ? hi - MAX (lo, n) + 1 : 0;

  /* The window centred on sample -1. */
  acc = in[0] * (guint32) below + in[n - 1] * (guint32) above;
  for (gint64 i = MAX (lo, 0); i <= MIN (hi, n - 1); i++)
    acc += in[i];

  for (gint64 x = 0; x < n; x++)
    {
      guint32 left = at (in, x - r - 1, n);
      guint32 right = at (in, x + r + 1, n);
      guint32 bulk;

      acc += at (in, x + r, n) - left;
      bulk = acc * ww + (left + right) * fw;
      out[x] = (guint8) ((bulk + (1u << 23)) >> 24);
    }
}

DrapeImage *
drape_image_gaussian_blur (const DrapeImage *image,
                           float             radius)
{
  DrapeImage *out;
  g_autofree guint8 *line = NULL;
  g_autofree guint8 *blurred = NULL;
  guint32 w, h, ch;
  float box;

  g_return_val_if_fail (image != NULL, NULL);
  g_return_val_if_fail (radius >= 0.0f && radius <= 10000.0f, NULL);

  out = drape_image_copy (image);
  box = box_radius (radius, 3);
  if (box == 0.0f)
    return out;

  w = image->width;
  h = image->height;
  ch = image->channels;
  line = g_malloc (MAX (w, h));
  blurred = g_malloc (MAX (w, h));
  /* Pillow blurs rows three times, then columns three times. */
  for (guint32 y = 0; y < h; y++)
    for (guint32 c = 0; c < ch; c++)
      {
        guint8 *row = out->pixels + (gsize) y * out->stride + c;

        for (guint32 x = 0; x < w; x++)
          line[x] = row[(gsize) x * ch];
        for (int pass = 0; pass < 3; pass++)
          {
            box_line (line, blurred, w, box);
            memcpy (line, blurred, w);
          }
        for (guint32 x = 0; x < w; x++)
          row[(gsize) x * ch] = line[x];
      }
  for (guint32 x = 0; x < w; x++)
    for (guint32 c = 0; c < ch; c++)
      {
        guint8 *col = out->pixels + (gsize) x * ch + c;

        for (guint32 y = 0; y < h; y++)
          line[y] = col[(gsize) y * out->stride];
        for (int pass = 0; pass < 3; pass++)
          {
            box_line (line, blurred, h, box);
            memcpy (line, blurred, h);
          }
        for (guint32 y = 0; y < h; y++)
          col[(gsize) y * out->stride] = line[y];
      }
  return out;
}

/* --- Masks -------------------------------------------------------------- */

DrapeImage *
drape_image_binarize (const DrapeImage *image)
{
  DrapeImage *out;
  gsize n;

  g_return_val_if_fail (image != NULL, NULL);

  out = drape_image_convert (image, 1);
  n = (gsize) out->width * out->height;
  for (gsize i = 0; i < n; i++)
    out->pixels[i] = out->pixels[i] >= DRAPE_MASK_THRESHOLD ? 255 : 0;
  return out;
}

DrapeImage *
drape_image_prepare_mask (const DrapeImage *mask,
                          guint32           width,
                          guint32           height,
                          float             blur_radius)
{
  g_autoptr(DrapeImage) grey = NULL;
  g_autoptr(DrapeImage) sized = NULL;
  g_autoptr(DrapeImage) blurred = NULL;

  g_return_val_if_fail (mask != NULL, NULL);
  g_return_val_if_fail (width > 0 && height > 0, NULL);

  grey = drape_image_convert (mask, 1);
  sized = drape_image_resize_and_crop (grey, width, height);
  blurred = drape_image_gaussian_blur (sized, blur_radius);
  return drape_image_binarize (blurred);
}
