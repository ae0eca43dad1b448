/* drape-picture.c: an image the user gave Drape (a photo or a garment)
 *
 * The encoded bytes are kept as they came so that a saved session holds
 * the very file the user chose; the decoded pixels are upright (EXIF
 * orientation applied) and are what the canvas shows and the engine gets.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <math.h>

#include <glib/gi18n.h>

#include "drape-app-error.h"
#include "drape-picture.h"
#include "image.h"

/* Photos larger than this on their long side also get a smaller copy for
 * drawing when zoomed out: sampling a 12-megapixel texture for a window
 * a tenth its size costs the renderer much and shimmers (no mipmaps). */
#define PREVIEW_SIZE 1600

struct _DrapePicture
{
  GObject parent_instance;

  char *name;
  GBytes *bytes;
  char *format;
  GdkPixbuf *pixbuf;
  GdkTexture *texture;
  GdkTexture *preview;
  char *note;
};

enum {
  PROP_0,
  PROP_NAME,
  PROP_TEXTURE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (DrapePicture, drape_picture, G_TYPE_OBJECT)

static const char *const accepted_formats[] = { "png", "jpeg", "webp", NULL };

static void
drape_picture_finalize (GObject *object)
{
  DrapePicture *self = DRAPE_PICTURE (object);

  g_clear_pointer (&self->name, g_free);
  g_clear_pointer (&self->bytes, g_bytes_unref);
  g_clear_pointer (&self->format, g_free);
  g_clear_object (&self->pixbuf);
  g_clear_object (&self->texture);
  g_clear_object (&self->preview);
  g_clear_pointer (&self->note, g_free);

  G_OBJECT_CLASS (drape_picture_parent_class)->finalize (object);
}

static void
drape_picture_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  DrapePicture *self = DRAPE_PICTURE (object);

  switch (prop_id)
    {
    case PROP_NAME:
      g_value_set_string (value, self->name);
      break;
    case PROP_TEXTURE:
      g_value_set_object (value, self->texture);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
drape_picture_class_init (DrapePictureClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = drape_picture_finalize;
  object_class->get_property = drape_picture_get_property;

  properties[PROP_NAME] =
    g_param_spec_string ("name", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_TEXTURE] =
    g_param_spec_object ("texture", NULL, NULL, GDK_TYPE_TEXTURE,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
drape_picture_init (DrapePicture *self)
{
}

GdkTexture *
drape_texture_new_for_pixbuf (GdkPixbuf *pixbuf)
{
  g_autoptr(GBytes) pixels = NULL;
  gboolean alpha;

  g_return_val_if_fail (GDK_IS_PIXBUF (pixbuf), NULL);
  g_return_val_if_fail (gdk_pixbuf_get_bits_per_sample (pixbuf) == 8, NULL);

  alpha = gdk_pixbuf_get_has_alpha (pixbuf);
  pixels = gdk_pixbuf_read_pixel_bytes (pixbuf);
  return gdk_memory_texture_new (gdk_pixbuf_get_width (pixbuf), gdk_pixbuf_get_height (pixbuf),
                                 alpha ? GDK_MEMORY_R8G8B8A8 : GDK_MEMORY_R8G8B8,
                                 pixels, gdk_pixbuf_get_rowstride (pixbuf));
}

typedef struct {
  int original_width;
  int original_height;
  int width;
  int height;
  /* Rows the decoder delivered: gdk-pixbuf accepts a truncated PNG or
   * JPEG without an error, leaving the missing rows blank. */
  int rows_done;
} SizeLimit;

static void
on_size_prepared (GdkPixbufLoader *loader,
                  int              width,
                  int              height,
                  SizeLimit       *limit)
{
  double pixels = (double) width * height;

  limit->original_width = limit->width = width;
  limit->original_height = limit->height = height;
  if (pixels > DRAPE_IMAGE_MAX_PIXELS)
    {
      double scale = sqrt (DRAPE_IMAGE_MAX_PIXELS / pixels);

      limit->width = MAX (1, (int) floor (width * scale));
      limit->height = MAX (1, (int) floor (height * scale));
      gdk_pixbuf_loader_set_size (loader, limit->width, limit->height);
    }
}

static void
on_area_updated (GdkPixbufLoader *loader,
                 int              x,
                 int              y,
                 int              width,
                 int              height,
                 SizeLimit       *limit)
{
  limit->rows_done = MAX (limit->rows_done, y + height);
}

static gboolean
is_accepted (GdkPixbufFormat *format)
{
  g_autofree char *name = format != NULL ? gdk_pixbuf_format_get_name (format) : NULL;

  return name != NULL && g_strv_contains (accepted_formats, name);
}

static GdkTexture *
make_preview (GdkPixbuf *pixbuf)
{
  int width = gdk_pixbuf_get_width (pixbuf), height = gdk_pixbuf_get_height (pixbuf);
  double shrink = (double) PREVIEW_SIZE / MAX (width, height);
  g_autoptr(GdkPixbuf) small = NULL;

  if (shrink >= 1.0)
    return NULL;
  /* gdk-pixbuf's bilinear averages the source pixels each target pixel
   * covers when shrinking. */
  small = gdk_pixbuf_scale_simple (pixbuf, MAX (1, (int) (width * shrink)), MAX (1, (int) (height * shrink)),
                                   GDK_INTERP_BILINEAR);
  return small != NULL ? drape_texture_new_for_pixbuf (small) : NULL;
}

DrapePicture *
drape_picture_new_from_bytes (GBytes      *bytes,
                              const char  *name,
                              GError     **error)
{
  g_autoptr(GdkPixbufLoader) loader = NULL;
  g_autoptr(DrapePicture) self = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *format = NULL;
  SizeLimit limit = { 0 };
  GdkPixbuf *decoded;

  g_return_val_if_fail (bytes != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);

  if (g_bytes_get_size (bytes) == 0)
    {
      g_set_error (error, DRAPE_APP_ERROR, DRAPE_APP_ERROR_NOT_AN_IMAGE,
                   _("“%s” is empty"), name);
      return NULL;
    }
  loader = gdk_pixbuf_loader_new ();
  g_signal_connect (loader, "size-prepared", G_CALLBACK (on_size_prepared), &limit);
  g_signal_connect (loader, "area-updated", G_CALLBACK (on_area_updated), &limit);
  if (!gdk_pixbuf_loader_write_bytes (loader, bytes, &local_error))
    /* Close it anyway, quietly: a loader left open warns when freed. */
    gdk_pixbuf_loader_close (loader, NULL);
  else
    gdk_pixbuf_loader_close (loader, &local_error);
  if (local_error != NULL)
    {
      g_set_error (error, DRAPE_APP_ERROR, DRAPE_APP_ERROR_NOT_AN_IMAGE,
                   _("“%s” could not be read as an image: %s"), name, local_error->message);
      return NULL;
    }
  if (!is_accepted (gdk_pixbuf_loader_get_format (loader)))
    {
      g_set_error (error, DRAPE_APP_ERROR, DRAPE_APP_ERROR_NOT_AN_IMAGE,
                   _("“%s” is not a PNG, JPEG or WebP image"), name);
      return NULL;
    }
  decoded = gdk_pixbuf_loader_get_pixbuf (loader);
  if (decoded == NULL)
    {
      g_set_error (error, DRAPE_APP_ERROR, DRAPE_APP_ERROR_NOT_AN_IMAGE,
                   _("“%s” holds no image"), name);
      return NULL;
    }
  if (limit.rows_done < gdk_pixbuf_get_height (decoded))
    {
      g_set_error (error, DRAPE_APP_ERROR, DRAPE_APP_ERROR_NOT_AN_IMAGE,
                   _("“%s” is truncated or damaged"), name);
      return NULL;
    }
  format = gdk_pixbuf_format_get_name (gdk_pixbuf_loader_get_format (loader));

  self = g_object_new (DRAPE_TYPE_PICTURE, NULL);
  self->name = g_strdup (name);
  self->bytes = g_bytes_ref (bytes);
  self->format = g_steal_pointer (&format);
  self->pixbuf = gdk_pixbuf_apply_embedded_orientation (decoded);
  self->texture = drape_texture_new_for_pixbuf (self->pixbuf);
  self->preview = make_preview (self->pixbuf);
  if (limit.width != limit.original_width)
    self->note = g_strdup_printf (_("“%s” was scaled down from %d × %d to %d × %d pixels"),
                                  name, limit.original_width, limit.original_height,
                                  limit.width, limit.height);
  return g_steal_pointer (&self);
}

DrapePicture *
drape_picture_new_from_texture (GdkTexture  *texture,
                                const char  *name,
                                GError     **error)
{
  g_autoptr(GBytes) png = NULL;

  g_return_val_if_fail (GDK_IS_TEXTURE (texture), NULL);

  png = gdk_texture_save_to_png_bytes (texture);
  return drape_picture_new_from_bytes (png, name, error);
}

static char *
file_display_name (GFile *file)
{
  g_autofree char *basename = g_file_get_basename (file);

  return g_filename_display_name (basename != NULL ? basename : "");
}

static void
load_thread (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  GFile *file = task_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autofree char *name = file_display_name (file);
  DrapePicture *picture;

  bytes = g_file_load_bytes (file, cancellable, NULL, &error);
  if (bytes == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  picture = drape_picture_new_from_bytes (bytes, name, &error);
  if (picture == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, picture, g_object_unref);
}

void
drape_picture_load_async (GFile               *file,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (G_IS_FILE (file));

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, drape_picture_load_async);
  g_task_set_task_data (task, g_object_ref (file), g_object_unref);
  g_task_run_in_thread (task, load_thread);
}

DrapePicture *
drape_picture_load_finish (GAsyncResult  *result,
                           GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

GdkTexture *
drape_picture_load_thumbnail (GFile         *file,
                              int            size,
                              GCancellable  *cancellable,
                              GError       **error)
{
  g_autoptr(GFileInputStream) stream = NULL;
  g_autoptr(GdkPixbuf) scaled = NULL;
  g_autoptr(GdkPixbuf) upright = NULL;
  g_autoptr(GError) local_error = NULL;

  stream = g_file_read (file, cancellable, error);
  if (stream == NULL)
    return NULL;
  scaled = gdk_pixbuf_new_from_stream_at_scale (G_INPUT_STREAM (stream), size, size, TRUE,
                                                cancellable, &local_error);
  if (scaled == NULL)
    {
      g_autofree char *name = file_display_name (file);

      g_set_error (error, DRAPE_APP_ERROR, DRAPE_APP_ERROR_NOT_AN_IMAGE,
                   _("“%s” could not be read as an image: %s"), name, local_error->message);
      return NULL;
    }
  upright = gdk_pixbuf_apply_embedded_orientation (scaled);
  return drape_texture_new_for_pixbuf (upright);
}

const char *
drape_picture_get_name (DrapePicture *self)
{
  g_return_val_if_fail (DRAPE_IS_PICTURE (self), NULL);
  return self->name;
}

GBytes *
drape_picture_get_bytes (DrapePicture *self)
{
  g_return_val_if_fail (DRAPE_IS_PICTURE (self), NULL);
  return self->bytes;
}

const char *
drape_picture_get_format (DrapePicture *self)
{
  g_return_val_if_fail (DRAPE_IS_PICTURE (self), NULL);
  return self->format;
}

GdkPixbuf *
drape_picture_get_pixbuf (DrapePicture *self)
{
  g_return_val_if_fail (DRAPE_IS_PICTURE (self), NULL);
  return self->pixbuf;
}

GdkTexture *
drape_picture_get_texture (DrapePicture *self)
{
  g_return_val_if_fail (DRAPE_IS_PICTURE (self), NULL);
  return self->texture;
}

GdkTexture *
drape_picture_get_preview (DrapePicture *self)
{
  g_return_val_if_fail (DRAPE_IS_PICTURE (self), NULL);
  return self->preview;
}

int
drape_picture_get_width (DrapePicture *self)
{
  g_return_val_if_fail (DRAPE_IS_PICTURE (self), 0);
  return gdk_pixbuf_get_width (self->pixbuf);
}

int
drape_picture_get_height (DrapePicture *self)
{
  g_return_val_if_fail (DRAPE_IS_PICTURE (self), 0);
  return gdk_pixbuf_get_height (self->pixbuf);
}

const char *
drape_picture_get_note (DrapePicture *self)
{
  g_return_val_if_fail (DRAPE_IS_PICTURE (self), NULL);
  return self->note;
}
