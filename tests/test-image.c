/* test-image.c: loading, saving, and CatVTON's preprocessing against
 * Pillow's results
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <png.h>

#include "error.h"
#include "image.h"
#include "test-common.h"

/* --- Helpers ------------------------------------------------------------ */

static char *
make_tmp_dir (void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp ("drape-test-image-XXXXXX", &error);

  g_assert_no_error (error);
  return dir;
}

/* Removes the test's files, one level of folders deep. */
static void
remove_tmp_dir (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);

      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        {
          g_chmod (path, 0755);
          remove_tmp_dir (path);
        }
      else
        g_unlink (path);
    }
  g_rmdir (dir);
}

static DrapeImage *
load_ok (const char *path,
         guint32     channels)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *note = NULL;
  DrapeImage *image = drape_image_load (path, channels, &note, &error);

  g_assert_no_error (error);
  g_assert_nonnull (image);
  g_assert_null (note);
  g_assert_cmpuint (image->channels, ==, channels);
  g_assert_cmpuint (image->stride, ==, image->width * channels);
  return image;
}

static DrapeImage *
load_fixture (const char *name,
              guint32     channels)
{
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "data", name, NULL);

  return load_ok (path, channels);
}

static DrapeImage *
load_golden (const char *name)
{
  g_autofree char *path = g_build_filename (test_golden_dir (), "pipeline", name, NULL);

  return load_ok (path, 3);
}

static guint
max_diff (const DrapeImage *a,
          const DrapeImage *b)
{
  gsize n = (gsize) a->stride * a->height;
  guint worst = 0;

  g_assert_cmpuint (a->width, ==, b->width);
  g_assert_cmpuint (a->height, ==, b->height);
  g_assert_cmpuint (a->channels, ==, b->channels);
  for (gsize i = 0; i < n; i++)
    worst = MAX (worst, (guint) ABS ((int) a->pixels[i] - (int) b->pixels[i]));
  return worst;
}

static const guint8 *
pixel (const DrapeImage *image,
       guint32           x,
       guint32           y)
{
  g_assert_cmpuint (x, <, image->width);
  g_assert_cmpuint (y, <, image->height);
  return image->pixels + (gsize) y * image->stride + (gsize) x * image->channels;
}

static void
assert_error_names (const GError *error,
                    DrapeError    code,
                    const char   *needle)
{
  g_assert_nonnull (error);
  g_assert_error (error, DRAPE_ERROR, (int) code);
  if (strstr (error->message, needle) == NULL)
    g_error ("error '%s' does not mention '%s'", error->message, needle);
}

static DrapeImage *
random_image (guint32 width,
              guint32 height,
              guint32 channels,
              guint32 seed)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  DrapeImage *image = drape_image_new (width, height, channels);

  for (gsize i = 0; i < (gsize) image->stride * height; i++)
    image->pixels[i] = g_rand_int_range (rand, 0, 256);
  return image;
}

static GdkPixbuf *
random_pixbuf (guint32  width,
               guint32  height,
               gboolean alpha,
               guint32  seed)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  GdkPixbuf *pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, alpha, 8, width, height);
  guint8 *px = gdk_pixbuf_get_pixels (pixbuf);
  int rowstride = gdk_pixbuf_get_rowstride (pixbuf);
  int n = gdk_pixbuf_get_n_channels (pixbuf);

  for (guint32 y = 0; y < height; y++)
    for (guint32 x = 0; x < width * n; x++)
      px[(gsize) y * rowstride + x] = g_rand_int_range (rand, 0, 256);
  return pixbuf;
}

static void
save_pixbuf (GdkPixbuf  *pixbuf,
             const char *path,
             const char *type)
{
  g_autoptr(GError) error = NULL;

  gdk_pixbuf_save (pixbuf, path, type, &error, NULL);
  g_assert_no_error (error);
}

static void
png_fatal (png_structp     png,
           png_const_charp message)
{
  g_error ("libpng: %s", message);
}

/* gdk-pixbuf writes 8-bit RGB(A) only: grey and 16-bit files come from
 * here.  `data` holds the rows back to back, samples big-endian. */
static void
write_raw_png (const char   *path,
               guint32       width,
               guint32       height,
               int           bit_depth,
               int           color_type,
               const guint8 *data)
{
  FILE *file = fopen (path, "wb");
  png_structp png = png_create_write_struct (PNG_LIBPNG_VER_STRING, NULL, png_fatal, NULL);
  png_infop info = png_create_info_struct (png);
  gsize row_bytes;

  g_assert_nonnull (file);
  png_init_io (png, file);
  png_set_IHDR (png, info, width, height, bit_depth, color_type, PNG_INTERLACE_NONE,
                PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info (png, info);
  row_bytes = png_get_rowbytes (png, info);
  for (guint32 y = 0; y < height; y++)
    png_write_row (png, data + y * row_bytes);
  png_write_end (png, NULL);
  png_destroy_write_struct (&png, &info);
  fclose (file);
}

static GBytes *
file_bytes (const char *path)
{
  g_autoptr(GError) error = NULL;
  char *contents;
  gsize size;

  g_file_get_contents (path, &contents, &size, &error);
  g_assert_no_error (error);
  return g_bytes_new_take (contents, size);
}

static void
write_bytes (const char   *path,
             const guint8 *data,
             gsize         size)
{
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, (const char *) data, size, &error);
  g_assert_no_error (error);
}

static gboolean
have_format (const char *name)
{
  g_autoptr(GSList) formats = gdk_pixbuf_get_formats ();

  for (GSList *l = formats; l != NULL; l = l->next)
    {
      g_autofree char *format = gdk_pixbuf_format_get_name (l->data);

      if (g_strcmp0 (format, name) == 0)
        return TRUE;
    }
  return FALSE;
}

/* --- Against CatVTON's golden preprocessing and Pillow ------------------ */

static void
test_golden_resize_and_crop (void)
{
  g_autoptr(DrapeImage) src = load_golden ("preproc_person_src.png");
  g_autoptr(DrapeImage) want = load_golden ("preproc_person_resize_and_crop.png");
  g_autoptr(DrapeImage) got = drape_image_resize_and_crop (src, 48, 64);
  guint diff = max_diff (got, want);

  g_test_message ("resize_and_crop %ux%u -> 48x64: max difference from PIL %u levels",
                  src->width, src->height, diff);
  g_assert_cmpuint (diff, <=, 2);
}

static void
test_golden_resize_and_pad (void)
{
  g_autoptr(DrapeImage) src = load_golden ("preproc_garment_src.png");
  g_autoptr(DrapeImage) want = load_golden ("preproc_garment_resize_and_padding.png");
  g_autoptr(DrapeImage) got = drape_image_resize_and_pad (src, 48, 64, 255);
  guint diff = max_diff (got, want);

  g_test_message ("resize_and_padding %ux%u -> 48x64: max difference from PIL %u levels",
                  src->width, src->height, diff);
  g_assert_cmpuint (diff, <=, 2);
}

typedef enum {
  OP_LANCZOS,
  OP_BILINEAR,
  OP_BLUR,
  OP_CONVERT_L,
  OP_CROP,
  OP_PAD,
  OP_MASK,
} Op;

typedef struct {
  const char *source;
  guint32 channels;
  Op op;
  guint32 width;
  guint32 height;
  float radius;
  const char *expected;
} PilCase;

/* Everything here is integer arithmetic after taps computed in double,
 * as in Pillow, so the results must be equal, not close. */
static void
test_pil (gconstpointer data)
{
  const PilCase *c = data;
  g_autoptr(DrapeImage) src = load_fixture (c->source, c->channels);
  g_autoptr(DrapeImage) got = NULL;
  g_autoptr(DrapeImage) want = NULL;
  guint out_channels = c->channels;
  guint diff;

  switch (c->op)
    {
    case OP_LANCZOS:
      got = drape_image_resize_lanczos (src, c->width, c->height);
      break;
    case OP_BILINEAR:
      got = drape_image_resize_bilinear (src, c->width, c->height);
      break;
    case OP_BLUR:
      got = drape_image_gaussian_blur (src, c->radius);
      break;
    case OP_CONVERT_L:
      got = drape_image_convert (src, 1);
      out_channels = 1;
      break;
    case OP_CROP:
      got = drape_image_resize_and_crop (src, c->width, c->height);
      break;
    case OP_PAD:
      got = drape_image_resize_and_pad (src, c->width, c->height, 255);
      break;
    case OP_MASK:
      got = drape_image_prepare_mask (src, c->width, c->height, c->radius);
      out_channels = 1;
      break;
    }
  want = load_fixture (c->expected, out_channels);
  diff = max_diff (got, want);
  g_test_message ("%s: max difference from Pillow %u levels", c->expected, diff);
  g_assert_cmpuint (diff, ==, 0);
}

static const PilCase pil_cases[] = {
  { "pil-src-rgb.png", 3, OP_LANCZOS, 16, 11, 0, "pil-lanczos-rgb-16x11.png" },
  { "pil-src-rgb.png", 3, OP_LANCZOS, 37, 61, 0, "pil-lanczos-rgb-37x61.png" },
  { "pil-src-rgb.png", 3, OP_LANCZOS, 80, 29, 0, "pil-lanczos-rgb-80x29.png" },
  { "pil-src-rgb.png", 3, OP_LANCZOS, 20, 50, 0, "pil-lanczos-rgb-20x50.png" },
  { "pil-src-l.png", 1, OP_LANCZOS, 7, 40, 0, "pil-lanczos-l-7x40.png" },
  { "pil-src-l.png", 1, OP_LANCZOS, 64, 5, 0, "pil-lanczos-l-64x5.png" },
  { "pil-src-rgb.png", 3, OP_BILINEAR, 16, 11, 0, "pil-bilinear-rgb-16x11.png" },
  { "pil-src-rgb.png", 3, OP_BILINEAR, 80, 50, 0, "pil-bilinear-rgb-80x50.png" },
  { "pil-src-l.png", 1, OP_BILINEAR, 9, 9, 0, "pil-bilinear-l-9x9.png" },
  { "pil-src-rgb.png", 3, OP_BLUR, 0, 0, 2.5f, "pil-blur-rgb-r2.5.png" },
  { "pil-src-l.png", 1, OP_BLUR, 0, 0, 0.4f, "pil-blur-l-r0.4.png" },
  { "pil-src-l.png", 1, OP_BLUR, 0, 0, 40.0f, "pil-blur-l-r40.png" },
  { "pil-src-mask.png", 1, OP_BLUR, 0, 0, 9.0f, "pil-blur-mask-r9.png" },
  { "pil-src-rgb.png", 3, OP_CONVERT_L, 0, 0, 0, "pil-convert-l.png" },
  { "pil-src-rgb.png", 3, OP_CROP, 50, 20, 0, "pil-crop-rgb-50x20.png" },
  { "pil-src-rgb.png", 3, OP_PAD, 20, 50, 0, "pil-pad-rgb-20x50.png" },
  { "pil-src-mask.png", 1, OP_MASK, 48, 64, 9.0f, "pil-mask-48x64.png" },
};

/* --- Blur properties ---------------------------------------------------- */

static void
test_blur_constant (void)
{
  const float radii[] = { 0.3f, 2.0f, 9.0f, 60.0f };

  for (guint c = 1; c <= 3; c += 2)
    for (guint r = 0; r < G_N_ELEMENTS (radii); r++)
      {
        g_autoptr(DrapeImage) image = drape_image_new (23, 17, c);
        g_autoptr(DrapeImage) blurred = NULL;

        memset (image->pixels, 173, (gsize) image->stride * image->height);
        blurred = drape_image_gaussian_blur (image, radii[r]);
        g_assert_cmpuint (max_diff (image, blurred), ==, 0);
      }
}

static void
test_blur_impulse (void)
{
  /* A 3 x 3 block of 255 in a 41 x 41 black square. */
  g_autoptr(DrapeImage) image = drape_image_new (41, 41, 1);
  g_autoptr(DrapeImage) blurred = NULL;
  guint64 sum = 0;
  guint peak = 0;

  for (guint y = 19; y <= 21; y++)
    memset (image->pixels + y * 41 + 19, 255, 3);
  blurred = drape_image_gaussian_blur (image, 3.0f);
  for (guint y = 0; y < 41; y++)
    for (guint x = 0; x < 41; x++)
      {
        guint v = *pixel (blurred, x, y);

        sum += v;
        peak = MAX (peak, v);
        /* Mirror images are computed alike, so exactly equal; rows are
         * blurred before columns, each rounded, so the transpose may
         * differ by a rounding. */
        g_assert_cmpuint (v, ==, *pixel (blurred, 40 - x, y));
        g_assert_cmpuint (v, ==, *pixel (blurred, x, 40 - y));
        g_assert_cmpint (ABS ((int) v - (int) *pixel (blurred, y, x)), <=, 1);
      }
  g_test_message ("impulse 9 x 255 = 2295, blurred sum %" G_GUINT64_FORMAT ", peak %u", sum, peak);
  g_assert_cmpuint (*pixel (blurred, 20, 20), ==, peak);
  /* Mass is kept but for rounding: 6 passes over ~600 pixels. */
  g_assert_cmpfloat (fabs ((double) sum - 2295.0), <=, 0.02 * 2295.0);
  g_assert_cmpuint (peak, <, 255);
}

static void
test_blur_zero_is_identity (void)
{
  g_autoptr(DrapeImage) image = random_image (19, 7, 3, 5);
  g_autoptr(DrapeImage) blurred = drape_image_gaussian_blur (image, 0.0f);

  g_assert_cmpuint (max_diff (image, blurred), ==, 0);
}

static void
test_binarize (void)
{
  g_autoptr(DrapeImage) ramp = drape_image_new (256, 1, 1);
  g_autoptr(DrapeImage) mask = NULL;

  for (guint i = 0; i < 256; i++)
    ramp->pixels[i] = i;
  mask = drape_image_binarize (ramp);
  for (guint i = 0; i < 256; i++)
    g_assert_cmpuint (mask->pixels[i], ==, i >= 128 ? 255 : 0);
}

/* --- Loading ------------------------------------------------------------ */

static void
test_alpha_over_white (void)
{
  g_autofree char *dir = make_tmp_dir ();
  g_autofree char *path = g_build_filename (dir, "alpha.png", NULL);
  g_autoptr(GdkPixbuf) pixbuf = random_pixbuf (13, 9, TRUE, 11);
  const guint8 *px = gdk_pixbuf_read_pixels (pixbuf);
  int rowstride = gdk_pixbuf_get_rowstride (pixbuf);
  g_autoptr(DrapeImage) rgb = NULL;
  g_autoptr(DrapeImage) grey = NULL;

  /* Fully transparent black and fully opaque pixels among random ones. */
  memcpy (gdk_pixbuf_get_pixels (pixbuf), (guint8[]) { 0, 0, 0, 0, 10, 20, 30, 255 }, 8);
  save_pixbuf (pixbuf, path, "png");
  rgb = load_ok (path, 3);
  grey = load_ok (path, 1);
  g_assert_cmpmem (pixel (rgb, 0, 0), 3, ((guint8[]) { 255, 255, 255 }), 3);
  g_assert_cmpmem (pixel (rgb, 1, 0), 3, ((guint8[]) { 10, 20, 30 }), 3);
  for (guint y = 0; y < 9; y++)
    for (guint x = 0; x < 13; x++)
      {
        const guint8 *p = px + y * rowstride + 4 * x;
        guint8 want[3];

        for (guint c = 0; c < 3; c++)
          want[c] = (guint8) floor (p[c] * p[3] / 255.0 + (255 - p[3]) + 0.5);
        g_assert_cmpmem (pixel (rgb, x, y), 3, want, 3);
        g_assert_cmpuint (*pixel (grey, x, y), ==,
                          (want[0] * 19595 + want[1] * 38470 + want[2] * 7471 + 32768) >> 16);
      }
  remove_tmp_dir (dir);
}

static void
test_grey (void)
{
  g_autofree char *dir = make_tmp_dir ();
  g_autofree char *path = g_build_filename (dir, "grey.png", NULL);
  guint8 data[7 * 3];
  g_autoptr(DrapeImage) rgb = NULL;
  g_autoptr(DrapeImage) grey = NULL;
  g_autoptr(DrapeImage) back = NULL;

  for (guint i = 0; i < sizeof data; i++)
    data[i] = (i * 37) % 256;
  write_raw_png (path, 7, 3, 8, PNG_COLOR_TYPE_GRAY, data);
  rgb = load_ok (path, 3);
  grey = load_ok (path, 1);
  for (guint i = 0; i < sizeof data; i++)
    {
      g_assert_cmpuint (grey->pixels[i], ==, data[i]);
      g_assert_cmpmem (rgb->pixels + 3 * i, 3, ((guint8[]) { data[i], data[i], data[i] }), 3);
    }
  back = drape_image_convert (rgb, 1);
  g_assert_cmpuint (max_diff (back, grey), ==, 0);
  remove_tmp_dir (dir);
}

static void
test_16_bit (void)
{
  g_autofree char *dir = make_tmp_dir ();
  g_autofree char *rgb_path = g_build_filename (dir, "rgb16.png", NULL);
  g_autofree char *ga_path = g_build_filename (dir, "ga16.png", NULL);
  guint16 rgb[5 * 2 * 3], ga[5 * 2 * 2];
  guint8 be[sizeof rgb];
  g_autoptr(DrapeImage) image = NULL;
  g_autoptr(DrapeImage) grey = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (rgb); i++)
    rgb[i] = (i * 4099 + 17) % 65536;
  for (guint i = 0; i < G_N_ELEMENTS (rgb); i++)
    {
      be[2 * i] = rgb[i] >> 8;
      be[2 * i + 1] = rgb[i] & 0xff;
    }
  write_raw_png (rgb_path, 5, 2, 16, PNG_COLOR_TYPE_RGB, be);
  image = load_ok (rgb_path, 3);
  g_assert_cmpuint (image->width, ==, 5);
  g_assert_cmpuint (image->height, ==, 2);
  for (guint i = 0; i < G_N_ELEMENTS (rgb); i++)
    g_assert_cmpfloat (fabs (image->pixels[i] - rgb[i] / 257.0), <, 1.0);

  /* Grey + alpha at 16 bits: grey 0x8000, alpha from transparent to opaque. */
  for (guint i = 0; i < 10; i++)
    {
      ga[2 * i] = 0x8000;
      ga[2 * i + 1] = i * 65535 / 9;
    }
  for (guint i = 0; i < G_N_ELEMENTS (ga); i++)
    {
      be[2 * i] = ga[i] >> 8;
      be[2 * i + 1] = ga[i] & 0xff;
    }
  write_raw_png (ga_path, 5, 2, 16, PNG_COLOR_TYPE_GRAY_ALPHA, be);
  grey = load_ok (ga_path, 1);
  for (guint i = 0; i < 10; i++)
    {
      double a = ga[2 * i + 1] / 65535.0;
      double want = 128.5 * a + 255.0 * (1.0 - a);

      g_assert_cmpfloat (fabs (grey->pixels[i] - want), <=, 1.5);
    }
  g_assert_cmpuint (grey->pixels[0], ==, 255);
  remove_tmp_dir (dir);
}

static void
test_cmyk_jpeg (void)
{
  g_autoptr(DrapeImage) image = load_fixture ("cmyk.jpg", 3);
  static const guint8 blocks[3][3] = { { 255, 0, 0 }, { 0, 0, 255 }, { 200, 150, 100 } };

  g_assert_cmpuint (image->width, ==, 48);
  g_assert_cmpuint (image->height, ==, 16);
  for (guint b = 0; b < 3; b++)
    for (guint c = 0; c < 3; c++)
      g_assert_cmpint (ABS ((int) pixel (image, 16 * b + 8, 8)[c] - blocks[b][c]), <=, 4);
}

/* Splices an EXIF APP1 segment holding only an Orientation tag after the
 * JFIF header of a JPEG gdk-pixbuf wrote. */
static GBytes *
jpeg_with_orientation (GdkPixbuf *pixbuf,
                       guint8     orientation)
{
  const guint8 exif[] = {
    0xff, 0xe1, 0x00, 0x22,                 /* APP1, 34 bytes */
    'E', 'x', 'i', 'f', 0, 0,
    'M', 'M', 0x00, 0x2a, 0, 0, 0, 8,       /* big-endian TIFF, IFD0 at 8 */
    0x00, 0x01,                             /* one entry */
    0x01, 0x12, 0x00, 0x03, 0, 0, 0, 1,     /* Orientation, SHORT, 1 */
    0x00, orientation, 0, 0,
    0, 0, 0, 0,                             /* no next IFD */
  };
  g_autoptr(GError) error = NULL;
  g_autofree char *jpeg = NULL;
  GByteArray *out = g_byte_array_new ();
  gsize size, at = 2;

  gdk_pixbuf_save_to_buffer (pixbuf, &jpeg, &size, "jpeg", &error, "quality", "100", NULL);
  g_assert_no_error (error);
  if ((guint8) jpeg[2] == 0xff && (guint8) jpeg[3] == 0xe0)
    at = 4 + (((guint8) jpeg[4] << 8) | (guint8) jpeg[5]);
  g_byte_array_append (out, (guint8 *) jpeg, at);
  g_byte_array_append (out, exif, sizeof exif);
  g_byte_array_append (out, (guint8 *) jpeg + at, size - at);
  return g_byte_array_free_to_bytes (out);
}

static void
test_exif_orientation (void)
{
  /* 64 x 32 stored, quadrants red, green / blue, yellow; 32 x 16 blocks
   * keep JPEG's 16 x 16 chroma blocks inside one colour. */
  static const guint8 colours[4][3] = { { 255, 0, 0 }, { 0, 255, 0 }, { 0, 0, 255 }, { 255, 255, 0 } };
  const guint32 w = 64, h = 32;
  g_autoptr(GdkPixbuf) pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, w, h);
  guint8 *px = gdk_pixbuf_get_pixels (pixbuf);
  int rowstride = gdk_pixbuf_get_rowstride (pixbuf);

  for (guint32 y = 0; y < h; y++)
    for (guint32 x = 0; x < w; x++)
      memcpy (px + y * rowstride + 3 * x, colours[(y >= h / 2) * 2 + (x >= w / 2)], 3);

  for (guint8 orientation = 1; orientation <= 8; orientation++)
    {
      g_autoptr(GBytes) bytes = jpeg_with_orientation (pixbuf, orientation);
      g_autoptr(GError) error = NULL;
      g_autoptr(DrapeImage) image = drape_image_load_bytes (bytes, 3, NULL, &error);
      gboolean turned = orientation >= 5;

      g_assert_no_error (error);
      g_assert_cmpuint (image->width, ==, turned ? h : w);
      g_assert_cmpuint (image->height, ==, turned ? w : h);
      /* The centre of each displayed quadrant, traced back to the stored
       * image through the EXIF definition of each orientation. */
      for (guint q = 0; q < 4; q++)
        {
          guint32 dx = (q % 2) * image->width / 2 + image->width / 4;
          guint32 dy = (q / 2) * image->height / 2 + image->height / 4;
          guint32 sx = 0, sy = 0;
          const guint8 *want, *got;

          switch (orientation)
            {
            case 1: sx = dx; sy = dy; break;
            case 2: sx = w - 1 - dx; sy = dy; break;
            case 3: sx = w - 1 - dx; sy = h - 1 - dy; break;
            case 4: sx = dx; sy = h - 1 - dy; break;
            case 5: sx = dy; sy = dx; break;
            case 6: sx = dy; sy = h - 1 - dx; break;
            case 7: sx = w - 1 - dy; sy = h - 1 - dx; break;
            case 8: sx = w - 1 - dy; sy = dx; break;
            }
          want = colours[(sy >= h / 2) * 2 + (sx >= w / 2)];
          got = pixel (image, dx, dy);
          for (guint c = 0; c < 3; c++)
            if (ABS ((int) got[c] - want[c]) > 8)
              g_error ("orientation %u, displayed (%u, %u): got %u,%u,%u, want %u,%u,%u",
                       orientation, dx, dy, got[0], got[1], got[2], want[0], want[1], want[2]);
        }
    }
}

static void
test_webp (void)
{
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;
  g_autoptr(GdkPixbuf) pixbuf = NULL;
  g_autoptr(DrapeImage) image = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;

  if (!have_format ("webp"))
    {
      g_test_skip ("no WebP loader for gdk-pixbuf (Debian: webp-pixbuf-loader)");
      return;
    }
  dir = make_tmp_dir ();
  path = g_build_filename (dir, "flat.webp", NULL);
  pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, 24, 16);
  gdk_pixbuf_fill (pixbuf, 0xc0804000);
  save_pixbuf (pixbuf, path, "webp");
  image = load_ok (path, 3);
  g_assert_cmpuint (image->width, ==, 24);
  g_assert_cmpuint (image->height, ==, 16);
  for (guint c = 0; c < 3; c++)
    g_assert_cmpint (ABS ((int) pixel (image, 12, 8)[c] - (0xc0 - 0x40 * (int) c)), <=, 4);

  /* Cut short, the loader alone would still return a picture. */
  bytes = file_bytes (path);
  write_bytes (path, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes) - 10);
  g_clear_pointer (&image, drape_image_free);
  image = drape_image_load (path, 3, NULL, &error);
  g_assert_null (image);
  assert_error_names (error, DRAPE_ERROR_FORMAT, "flat.webp");
  remove_tmp_dir (dir);
}

static void
test_corrupt (void)
{
  g_autofree char *dir = make_tmp_dir ();
  g_autofree char *garbage = g_build_filename (dir, "garbage.png", NULL);
  g_autofree char *junk = g_build_filename (dir, "junk-after-signature.png", NULL);
  g_autofree char *empty = g_build_filename (dir, "empty.jpg", NULL);
  g_autofree char *missing = g_build_filename (dir, "missing.png", NULL);
  g_autoptr(GRand) rand = g_rand_new_with_seed (3);
  guint8 data[1000];
  struct {
    const char *path;
    DrapeError code;
    const char *name;
  } cases[] = {
    { garbage, DRAPE_ERROR_FORMAT, "garbage.png" },
    { junk, DRAPE_ERROR_FORMAT, "junk-after-signature.png" },
    { empty, DRAPE_ERROR_FORMAT, "empty.jpg" },
    { missing, DRAPE_ERROR_IO, "missing.png" },
  };

  for (guint i = 0; i < sizeof data; i++)
    data[i] = g_rand_int_range (rand, 0, 256);
  write_bytes (garbage, data, sizeof data);
  memcpy (data, "\x89PNG\r\n\x1a\n", 8);
  write_bytes (junk, data, sizeof data);
  write_bytes (empty, data, 0);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      /* An out argument: overwritten, never freed. */
      char *note = (char *) "stale";
      g_autoptr(DrapeImage) image = drape_image_load (cases[i].path, 3, &note, &error);

      g_assert_null (image);
      g_assert_null (note);
      assert_error_names (error, cases[i].code, cases[i].name);
      g_test_message ("%s", error->message);
    }
  remove_tmp_dir (dir);
}

static void
test_truncated (void)
{
  g_autofree char *dir = make_tmp_dir ();
  g_autoptr(GdkPixbuf) pixbuf = random_pixbuf (64, 48, FALSE, 8);
  const char *types[] = { "png", "jpeg" };

  for (guint t = 0; t < G_N_ELEMENTS (types); t++)
    {
      g_autofree char *whole = g_strdup_printf ("%s/whole.%s", dir, types[t]);
      g_autoptr(GBytes) bytes = NULL;
      g_autoptr(DrapeImage) image = NULL;
      gsize size;
      /* Half the data, and a file short of only its end marker. */
      const gsize cut[] = { 2, 0 };

      save_pixbuf (pixbuf, whole, types[t]);
      image = load_ok (whole, 3);
      bytes = file_bytes (whole);
      size = g_bytes_get_size (bytes);
      for (guint k = 0; k < G_N_ELEMENTS (cut); k++)
        {
          g_autofree char *path = g_strdup_printf ("%s/cut%u.%s", dir, k, types[t]);
          g_autofree char *name = g_path_get_basename (path);
          g_autoptr(GError) error = NULL;
          g_autoptr(DrapeImage) partial = NULL;
          gsize keep = cut[k] ? size / cut[k] : size - (t == 0 ? 12 : 2);

          write_bytes (path, g_bytes_get_data (bytes, NULL), keep);
          partial = drape_image_load (path, 3, NULL, &error);
          g_assert_null (partial);
          assert_error_names (error, DRAPE_ERROR_FORMAT, name);
          g_test_message ("%s", error->message);
        }
    }
  remove_tmp_dir (dir);
}

static void
test_bad_channels (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (test_golden_dir (), "pipeline", "mask.png", NULL);
  g_autoptr(DrapeImage) image = drape_image_load (path, 4, NULL, &error);

  g_assert_null (image);
  assert_error_names (error, DRAPE_ERROR_INVALID_ARGUMENT, "mask.png");
}

static void
test_tiny (void)
{
  g_autofree char *dir = make_tmp_dir ();
  g_autofree char *path = g_build_filename (dir, "one.png", NULL);
  const guint8 one[3] = { 12, 200, 77 };
  g_autoptr(DrapeImage) image = NULL;
  g_autoptr(DrapeImage) big = NULL;
  g_autoptr(DrapeImage) cropped = NULL;
  g_autoptr(DrapeImage) padded = NULL;
  g_autoptr(DrapeImage) blurred = NULL;
  g_autoptr(DrapeImage) bilinear = NULL;
  g_autoptr(DrapeImage) mask = NULL;

  write_raw_png (path, 1, 1, 8, PNG_COLOR_TYPE_RGB, one);
  image = load_ok (path, 3);
  g_assert_cmpuint (image->width, ==, 1);
  g_assert_cmpuint (image->height, ==, 1);
  g_assert_cmpmem (image->pixels, 3, one, 3);

  big = drape_image_resize_lanczos (image, 48, 64);
  bilinear = drape_image_resize_bilinear (image, 5, 3);
  cropped = drape_image_resize_and_crop (image, 48, 64);
  blurred = drape_image_gaussian_blur (image, 9.0f);
  g_assert_cmpmem (blurred->pixels, 3, one, 3);
  for (guint y = 0; y < 64; y++)
    for (guint x = 0; x < 48; x++)
      {
        g_assert_cmpmem (pixel (big, x, y), 3, one, 3);
        g_assert_cmpmem (pixel (cropped, x, y), 3, one, 3);
      }
  for (guint y = 0; y < 3; y++)
    for (guint x = 0; x < 5; x++)
      g_assert_cmpmem (pixel (bilinear, x, y), 3, one, 3);

  /* A 1 x 1 image fits 48 x 64 as 48 x 48, centred on white. */
  padded = drape_image_resize_and_pad (image, 48, 64, 255);
  g_assert_cmpmem (pixel (padded, 0, 7), 3, ((guint8[]) { 255, 255, 255 }), 3);
  g_assert_cmpmem (pixel (padded, 0, 8), 3, one, 3);
  g_assert_cmpmem (pixel (padded, 47, 55), 3, one, 3);
  g_assert_cmpmem (pixel (padded, 47, 56), 3, ((guint8[]) { 255, 255, 255 }), 3);

  mask = drape_image_prepare_mask (image, 4, 4, 9.0f);
  g_assert_cmpuint (mask->channels, ==, 1);
  g_assert_cmpuint (mask->pixels[0], ==, 255);
  remove_tmp_dir (dir);
}

/* --- Large images ------------------------------------------------------- */

static void
test_load_at_most (void)
{
  g_autofree char *dir = make_tmp_dir ();
  struct {
    const char *type;
    guint32 width, height;
    guint64 limit;
    guint32 want_width, want_height;
    const char *fraction;
  } cases[] = {
    { "png", 301, 201, 20000, 151, 101, "1/2" },
    { "jpeg", 300, 200, 15000, 150, 100, "1/2" },
    { "jpeg", 300, 200, 1000, 38, 25, "1/8" },
    { "png", 300, 200, 60000, 300, 200, NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GdkPixbuf) pixbuf = random_pixbuf (cases[i].width, cases[i].height, FALSE, i);
      g_autofree char *path = g_strdup_printf ("%s/at-most-%u.%s", dir, i, cases[i].type);
      g_autofree char *name = g_path_get_basename (path);
      g_autofree char *note = NULL;
      g_autoptr(GError) error = NULL;
      g_autoptr(DrapeImage) image = NULL;

      save_pixbuf (pixbuf, path, cases[i].type);
      image = drape_image_load_at_most (path, 3, cases[i].limit, &note, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (image->width, ==, cases[i].want_width);
      g_assert_cmpuint (image->height, ==, cases[i].want_height);
      g_assert_cmpuint ((guint64) image->width * image->height, <=, cases[i].limit);
      if (cases[i].fraction == NULL)
        {
          g_assert_null (note);
          continue;
        }
      g_assert_nonnull (note);
      g_test_message ("%s", note);
      g_assert_nonnull (strstr (note, name));
      g_assert_nonnull (strstr (note, cases[i].fraction));
    }
  remove_tmp_dir (dir);
}

/* A JPEG just over DRAPE_IMAGE_MAX_PIXELS decodes at half size; the
 * process that loads it never holds the full-size pixels (120 MB). */
static void
test_load_large (void)
{
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;
  g_autoptr(GdkPixbuf) pixbuf = NULL;
  guint8 *px;
  int rowstride;

  if (g_test_subprocess ())
    {
      g_autofree char *note = NULL;
      g_autoptr(GError) error = NULL;
      g_autoptr(DrapeImage) image = drape_image_load (g_getenv ("DRAPE_TEST_LARGE_JPEG"), 3, &note, &error);
      struct rusage usage;

      g_assert_no_error (error);
      g_assert_cmpuint (image->width, ==, 4000);
      g_assert_cmpuint (image->height, ==, 2501);
      g_assert_nonnull (note);
      g_assert_nonnull (strstr (note, "8000 × 5001"));
      g_assert_nonnull (strstr (note, "4000 × 2501"));
      /* The gradients survive the reduced decode: (100, 1000) shows what
       * was at (200, 2000). */
      g_assert_cmpint (ABS ((int) pixel (image, 100, 1000)[0] - 200 / 2), <=, 6);
      g_assert_cmpint (ABS ((int) pixel (image, 100, 1000)[1] - (2000 / 4) % 256), <=, 6);
      getrusage (RUSAGE_SELF, &usage);
      g_printerr ("%s\npeak resident memory while loading: %ld MB\n", note, usage.ru_maxrss / 1024);
#ifndef __SANITIZE_ADDRESS__
      /* AddressSanitizer keeps freed memory in quarantine. */
      g_assert_cmpint (usage.ru_maxrss / 1024, <, 100);
#endif
      return;
    }

  dir = make_tmp_dir ();
  path = g_build_filename (dir, "large.jpg", NULL);
  pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, 8000, 5001);
  g_assert_nonnull (pixbuf);
  px = gdk_pixbuf_get_pixels (pixbuf);
  rowstride = gdk_pixbuf_get_rowstride (pixbuf);
  for (guint32 y = 0; y < 5001; y++)
    for (guint32 x = 0; x < 8000; x++)
      {
        guint8 *p = px + (gsize) y * rowstride + 3 * x;

        p[0] = (x / 2) % 256;
        p[1] = (y / 4) % 256;
        p[2] = 128;
      }
  gdk_pixbuf_save (pixbuf, path, "jpeg", NULL, "quality", "80", NULL);
  g_clear_object (&pixbuf);
  g_setenv ("DRAPE_TEST_LARGE_JPEG", path, TRUE);
  g_test_trap_subprocess (NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
  remove_tmp_dir (dir);
}

/* --- Saving ------------------------------------------------------------- */

typedef struct {
  char *key;
  char *text;
  int compression;
} PngText;

static GPtrArray *
read_png_text (const char *path)
{
  FILE *file = fopen (path, "rb");
  png_structp png = png_create_read_struct (PNG_LIBPNG_VER_STRING, NULL, png_fatal, NULL);
  png_infop info = png_create_info_struct (png);
  GPtrArray *out = g_ptr_array_new ();
  png_textp texts;
  int n;

  g_assert_nonnull (file);
  png_init_io (png, file);
  png_read_png (png, info, PNG_TRANSFORM_IDENTITY, NULL);
  n = png_get_text (png, info, &texts, NULL);
  for (int i = 0; i < n; i++)
    {
      PngText *t = g_new (PngText, 1);

      t->key = g_strdup (texts[i].key);
      t->text = g_strdup (texts[i].text);
      t->compression = texts[i].compression;
      g_ptr_array_add (out, t);
    }
  png_destroy_read_struct (&png, &info, NULL);
  fclose (file);
  return out;
}

static void
test_save_png_text (void)
{
  g_autofree char *dir = make_tmp_dir ();
  g_autofree char *path = g_build_filename (dir, "result.png", NULL);
  g_autoptr(DrapeImage) image = random_image (13, 7, 3, 21);
  g_autoptr(DrapeImage) grey = random_image (5, 9, 1, 22);
  g_autoptr(DrapeImage) back = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) texts = NULL;
  const char *text[] = {
    "parameters", "steps=50 guidance=2.5 seed=42 scheduler=ddim",
    "Software", "Drape 0.1.0",
    "Title", "Léa’s coat — 试穿",
    NULL,
  };
  g_autoptr(GDir) d = NULL;
  guint n_files = 0;

  g_assert_true (drape_image_save_png (image, path, text, &error));
  g_assert_no_error (error);
  back = load_ok (path, 3);
  g_assert_cmpuint (max_diff (image, back), ==, 0);

  texts = read_png_text (path);
  g_assert_cmpuint (texts->len, ==, 3);
  for (guint i = 0; i < 3; i++)
    {
      PngText *t = texts->pdata[i];

      g_assert_cmpstr (t->key, ==, text[2 * i]);
      g_assert_cmpstr (t->text, ==, text[2 * i + 1]);
      /* ASCII in tEXt, the rest in iTXt. */
      g_assert_cmpint (t->compression, ==, i < 2 ? PNG_TEXT_COMPRESSION_NONE : PNG_ITXT_COMPRESSION_NONE);
      g_free (t->key);
      g_free (t->text);
      g_free (t);
    }

  /* Saving again replaces the file and leaves no temporary file behind. */
  g_assert_true (drape_image_save_png (grey, path, NULL, &error));
  g_assert_no_error (error);
  g_clear_pointer (&back, drape_image_free);
  back = load_ok (path, 1);
  g_assert_cmpuint (max_diff (grey, back), ==, 0);
  d = g_dir_open (dir, 0, NULL);
  while (g_dir_read_name (d) != NULL)
    n_files++;
  g_assert_cmpuint (n_files, ==, 1);
  remove_tmp_dir (dir);
}

static void
test_save_bad_key (void)
{
  g_autofree char *dir = make_tmp_dir ();
  g_autofree char *path = g_build_filename (dir, "bad.png", NULL);
  g_autoptr(DrapeImage) image = drape_image_new (2, 2, 1);
  const char *bad_keys[] = { "", " lead", "two  spaces", "tab\there", "clé" };

  for (guint i = 0; i < G_N_ELEMENTS (bad_keys); i++)
    {
      const char *text[] = { bad_keys[i], "value", NULL };
      g_autoptr(GError) error = NULL;

      g_assert_false (drape_image_save_png (image, path, text, &error));
      assert_error_names (error, DRAPE_ERROR_INVALID_ARGUMENT, "bad.png");
      g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
    }
  remove_tmp_dir (dir);
}

/* Root writes anywhere: lower the effective capability that lets it, so
 * the folder's permissions apply.  FALSE if that cannot be done. */
static gboolean
set_dac_override (gboolean on)
{
  struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

  if (syscall (SYS_capget, &header, data) != 0)
    return FALSE;
  if (on)
    data[0].effective |= data[0].permitted & (1u << CAP_DAC_OVERRIDE);
  else
    data[0].effective &= ~(1u << CAP_DAC_OVERRIDE);
  return syscall (SYS_capset, &header, data) == 0;
}

static gboolean
can_create_in (const char *dir)
{
  g_autofree char *probe = g_build_filename (dir, "probe", NULL);
  int fd = open (probe, O_CREAT | O_WRONLY, 0644);

  if (fd < 0)
    return FALSE;
  close (fd);
  g_unlink (probe);
  return TRUE;
}

static void
test_save_errors (void)
{
  g_autofree char *dir = make_tmp_dir ();
  g_autofree char *read_only = g_build_filename (dir, "read-only", NULL);
  g_autofree char *in_read_only = g_build_filename (read_only, "out.png", NULL);
  g_autofree char *no_dir = g_build_filename (dir, "no-such-folder", "out.png", NULL);
  g_autofree char *a_file = g_build_filename (dir, "a-file", NULL);
  g_autofree char *under_file = g_build_filename (a_file, "out.png", NULL);
  g_autoptr(DrapeImage) image = drape_image_new (3, 2, 3);
  g_autoptr(GError) error = NULL;
  const char *cases[] = { no_dir, under_file };

  write_bytes (a_file, (const guint8 *) "x", 1);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_clear_error (&error);
      g_assert_false (drape_image_save_png (image, cases[i], NULL, &error));
      assert_error_names (error, DRAPE_ERROR_IO, cases[i]);
      g_test_message ("%s", error->message);
    }

  g_assert_cmpint (g_mkdir (read_only, 0555), ==, 0);
  g_assert_cmpint (g_chmod (read_only, 0555), ==, 0);
  set_dac_override (FALSE);
  if (can_create_in (read_only))
    g_test_message ("cannot make a folder read-only for this process: read-only case not run");
  else
    {
      g_clear_error (&error);
      g_assert_false (drape_image_save_png (image, in_read_only, NULL, &error));
      assert_error_names (error, DRAPE_ERROR_IO, in_read_only);
      g_test_message ("%s", error->message);
    }
  set_dac_override (TRUE);
  g_assert_false (g_file_test (in_read_only, G_FILE_TEST_EXISTS));
  remove_tmp_dir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/image/golden/resize-and-crop", test_golden_resize_and_crop);
  g_test_add_func ("/image/golden/resize-and-pad", test_golden_resize_and_pad);
  for (guint i = 0; i < G_N_ELEMENTS (pil_cases); i++)
    {
      g_autofree char *name = g_strdup_printf ("/image/pil/%s", pil_cases[i].expected);

      g_test_add_data_func (name, &pil_cases[i], test_pil);
    }
  g_test_add_func ("/image/blur/constant", test_blur_constant);
  g_test_add_func ("/image/blur/impulse", test_blur_impulse);
  g_test_add_func ("/image/blur/zero", test_blur_zero_is_identity);
  g_test_add_func ("/image/binarize", test_binarize);
  g_test_add_func ("/image/load/alpha-over-white", test_alpha_over_white);
  g_test_add_func ("/image/load/grey", test_grey);
  g_test_add_func ("/image/load/16-bit", test_16_bit);
  g_test_add_func ("/image/load/cmyk-jpeg", test_cmyk_jpeg);
  g_test_add_func ("/image/load/exif-orientation", test_exif_orientation);
  g_test_add_func ("/image/load/webp", test_webp);
  g_test_add_func ("/image/load/corrupt", test_corrupt);
  g_test_add_func ("/image/load/truncated", test_truncated);
  g_test_add_func ("/image/load/bad-channels", test_bad_channels);
  g_test_add_func ("/image/load/tiny", test_tiny);
  g_test_add_func ("/image/load/at-most", test_load_at_most);
  g_test_add_func ("/image/load/large", test_load_large);
  g_test_add_func ("/image/save/text", test_save_png_text);
  g_test_add_func ("/image/save/bad-key", test_save_bad_key);
  g_test_add_func ("/image/save/errors", test_save_errors);
  return test_finish (g_test_run ());
}
