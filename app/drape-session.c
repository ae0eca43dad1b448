/* drape-session.c: what the user is working on, and the .drape file
 *
 * A .drape file is a zip archive (readable with any unzip tool):
 *
 *   session.json      {"format": "drape-session", "version": 1, ...}:
 *                     entry names, the garment type, the try-on settings
 *                     and each result's settings and parameters
 *   photo.<ext>       the photo file exactly as it was given
 *   mask.png          8-bit grey, the photo's size, >= 128 is the region
 *   garment.<ext>     the chosen garment file as it was given
 *   results/N.png     results, oldest first, with a "parameters" chunk
 *
 * Saving builds the whole archive in memory and replaces the file in one
 * step, so a failed save never leaves a half-written session behind; the
 * archive is read through its central directory, so a truncated file is
 * refused before anything is decoded.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <png.h>
#include <string.h>

#include <glib/gi18n.h>

#include "drape-app-error.h"
#include "drape-enums.h"
#include "drape-session.h"

#define FORMAT_NAME "drape-session"
/* Refuse entries larger than this: a real session never has one, and a
 * crafted archive must not make us allocate without bound. */
#define MAX_ENTRY_SIZE (1u << 30)

struct _DrapeSession
{
  GObject parent_instance;

  DrapePicture *photo;
  DrapeMask *mask;
  DrapePicture *garment;
  DrapeGarmentType garment_type;
  DrapeTryOnSettings *settings;
  GListStore *results;
  GFile *file;
};

enum {
  PROP_0,
  PROP_PHOTO,
  PROP_MASK,
  PROP_GARMENT,
  PROP_GARMENT_TYPE,
  PROP_SETTINGS,
  PROP_FILE,
  N_PROPS
};

enum {
  CHANGED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (DrapeSession, drape_session, G_TYPE_OBJECT)

static void
emit_changed (DrapeSession *self)
{
  g_signal_emit (self, signals[CHANGED], 0);
}

static void
on_mask_changed (DrapeSession *self)
{
  emit_changed (self);
}

static void
set_mask (DrapeSession *self,
          DrapeMask    *mask)
{
  if (self->mask == mask)
    return;
  if (self->mask != NULL)
    g_signal_handlers_disconnect_by_data (self->mask, self);
  g_set_object (&self->mask, mask);
  if (mask != NULL)
    g_signal_connect_swapped (mask, "changed", G_CALLBACK (on_mask_changed), self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MASK]);
}

static void
drape_session_dispose (GObject *object)
{
  DrapeSession *self = DRAPE_SESSION (object);

  if (self->mask != NULL)
    g_signal_handlers_disconnect_by_data (self->mask, self);
  g_clear_object (&self->mask);
  g_clear_object (&self->photo);
  g_clear_object (&self->garment);
  g_clear_object (&self->settings);
  g_clear_object (&self->results);
  g_clear_object (&self->file);

  G_OBJECT_CLASS (drape_session_parent_class)->dispose (object);
}

static void
drape_session_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  DrapeSession *self = DRAPE_SESSION (object);

  switch (prop_id)
    {
    case PROP_PHOTO:
      g_value_set_object (value, self->photo);
      break;
    case PROP_MASK:
      g_value_set_object (value, self->mask);
      break;
    case PROP_GARMENT:
      g_value_set_object (value, self->garment);
      break;
    case PROP_GARMENT_TYPE:
      g_value_set_enum (value, self->garment_type);
      break;
    case PROP_SETTINGS:
      g_value_set_object (value, self->settings);
      break;
    case PROP_FILE:
      g_value_set_object (value, self->file);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
drape_session_set_property (GObject      *object,
                            guint         prop_id,
                            const GValue *value,
                            GParamSpec   *pspec)
{
  DrapeSession *self = DRAPE_SESSION (object);

  switch (prop_id)
    {
    case PROP_PHOTO:
      drape_session_set_photo (self, g_value_get_object (value));
      break;
    case PROP_GARMENT:
      drape_session_set_garment (self, g_value_get_object (value));
      break;
    case PROP_GARMENT_TYPE:
      drape_session_set_garment_type (self, g_value_get_enum (value));
      break;
    case PROP_FILE:
      drape_session_set_file (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
drape_session_class_init (DrapeSessionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = drape_session_dispose;
  object_class->get_property = drape_session_get_property;
  object_class->set_property = drape_session_set_property;

  properties[PROP_PHOTO] =
    g_param_spec_object ("photo", NULL, NULL, DRAPE_TYPE_PICTURE,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_MASK] =
    g_param_spec_object ("mask", NULL, NULL, DRAPE_TYPE_MASK,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_GARMENT] =
    g_param_spec_object ("garment", NULL, NULL, DRAPE_TYPE_PICTURE,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_GARMENT_TYPE] =
    g_param_spec_enum ("garment-type", NULL, NULL, DRAPE_TYPE_GARMENT_TYPE, DRAPE_GARMENT_UPPER,
                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SETTINGS] =
    g_param_spec_object ("settings", NULL, NULL, DRAPE_TYPE_TRY_ON_SETTINGS,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_FILE] =
    g_param_spec_object ("file", NULL, NULL, G_TYPE_FILE,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /* Something a saved session holds has changed (autosave listens). */
  signals[CHANGED] =
    g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
drape_session_init (DrapeSession *self)
{
  self->settings = drape_try_on_settings_new ();
  self->results = g_list_store_new (DRAPE_TYPE_RESULT);
  g_signal_connect_object (self->settings, "notify", G_CALLBACK (emit_changed), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->results, "items-changed", G_CALLBACK (emit_changed), self, G_CONNECT_SWAPPED);
}

DrapeSession *
drape_session_new (void)
{
  return g_object_new (DRAPE_TYPE_SESSION, NULL);
}

DrapePicture *
drape_session_get_photo (DrapeSession *self)
{
  g_return_val_if_fail (DRAPE_IS_SESSION (self), NULL);
  return self->photo;
}

static void
set_photo_and_mask (DrapeSession *self,
                    DrapePicture *photo,
                    DrapeMask    *mask)
{
  g_set_object (&self->photo, photo);
  set_mask (self, mask);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PHOTO]);
  emit_changed (self);
}

void
drape_session_set_photo (DrapeSession *self,
                         DrapePicture *photo)
{
  g_autoptr(DrapeMask) mask = NULL;

  g_return_if_fail (DRAPE_IS_SESSION (self));
  g_return_if_fail (photo == NULL || DRAPE_IS_PICTURE (photo));

  if (self->photo == photo)
    return;
  if (photo != NULL)
    mask = drape_mask_new (drape_picture_get_width (photo), drape_picture_get_height (photo));
  set_photo_and_mask (self, photo, mask);
}

DrapeMask *
drape_session_get_mask (DrapeSession *self)
{
  g_return_val_if_fail (DRAPE_IS_SESSION (self), NULL);
  return self->mask;
}

DrapePicture *
drape_session_get_garment (DrapeSession *self)
{
  g_return_val_if_fail (DRAPE_IS_SESSION (self), NULL);
  return self->garment;
}

void
drape_session_set_garment (DrapeSession *self,
                           DrapePicture *garment)
{
  g_return_if_fail (DRAPE_IS_SESSION (self));
  g_return_if_fail (garment == NULL || DRAPE_IS_PICTURE (garment));

  if (g_set_object (&self->garment, garment))
    {
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_GARMENT]);
      emit_changed (self);
    }
}

DrapeGarmentType
drape_session_get_garment_type (DrapeSession *self)
{
  g_return_val_if_fail (DRAPE_IS_SESSION (self), DRAPE_GARMENT_UPPER);
  return self->garment_type;
}

void
drape_session_set_garment_type (DrapeSession     *self,
                                DrapeGarmentType  type)
{
  g_return_if_fail (DRAPE_IS_SESSION (self));

  if (self->garment_type == type)
    return;
  self->garment_type = type;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_GARMENT_TYPE]);
  emit_changed (self);
}

DrapeTryOnSettings *
drape_session_get_settings (DrapeSession *self)
{
  g_return_val_if_fail (DRAPE_IS_SESSION (self), NULL);
  return self->settings;
}

GListModel *
drape_session_get_results (DrapeSession *self)
{
  g_return_val_if_fail (DRAPE_IS_SESSION (self), NULL);
  return G_LIST_MODEL (self->results);
}

void
drape_session_add_result (DrapeSession *self,
                          DrapeResult  *result)
{
  g_return_if_fail (DRAPE_IS_SESSION (self));
  g_return_if_fail (DRAPE_IS_RESULT (result));

  g_list_store_append (self->results, result);
}

GFile *
drape_session_get_file (DrapeSession *self)
{
  g_return_val_if_fail (DRAPE_IS_SESSION (self), NULL);
  return self->file;
}

void
drape_session_set_file (DrapeSession *self,
                        GFile        *file)
{
  g_return_if_fail (DRAPE_IS_SESSION (self));

  if (g_set_object (&self->file, file))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FILE]);
}

gboolean
drape_session_is_blank (DrapeSession *self)
{
  g_return_val_if_fail (DRAPE_IS_SESSION (self), TRUE);
  return self->photo == NULL && self->garment == NULL &&
         g_list_model_get_n_items (G_LIST_MODEL (self->results)) == 0;
}

/* ---- writing ---------------------------------------------------------- */

typedef struct {
  char *name;
  GBytes *bytes;
  gboolean compress;
} Entry;

/* What a save needs, taken on the main thread so that encoding and
 * writing can run on a worker while the user goes on editing. */
typedef struct {
  GArray *entries; /* Entry */
  GBytes *mask;
  guint mask_width;
  guint mask_height;
} Snapshot;

static void
entry_clear (gpointer data)
{
  Entry *entry = data;

  g_free (entry->name);
  g_clear_pointer (&entry->bytes, g_bytes_unref);
}

static void
snapshot_free (gpointer data)
{
  Snapshot *snapshot = data;

  g_array_unref (snapshot->entries);
  g_clear_pointer (&snapshot->mask, g_bytes_unref);
  g_free (snapshot);
}

static void
snapshot_add (Snapshot   *snapshot,
              const char *name,
              GBytes     *bytes,
              gboolean    compress)
{
  Entry entry = { g_strdup (name), g_bytes_ref (bytes), compress };

  g_array_append_val (snapshot->entries, entry);
}

static const char *
enum_nick (GType type,
           int   value)
{
  g_autoptr(GEnumClass) klass = g_type_class_ref (type);
  GEnumValue *v = g_enum_get_value (klass, value);

  return v != NULL ? v->value_nick : NULL;
}

static Snapshot *
snapshot_new (DrapeSession *self)
{
  Snapshot *snapshot = g_new0 (Snapshot, 1);
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *json = NULL;
  gsize json_length;
  Entry entry;
  guint n_results = g_list_model_get_n_items (G_LIST_MODEL (self->results));

  snapshot->entries = g_array_new (FALSE, FALSE, sizeof (Entry));
  g_array_set_clear_func (snapshot->entries, entry_clear);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "format");
  json_builder_add_string_value (builder, FORMAT_NAME);
  json_builder_set_member_name (builder, "version");
  json_builder_add_int_value (builder, DRAPE_SESSION_FORMAT_VERSION);
  json_builder_set_member_name (builder, "generator");
  json_builder_add_string_value (builder, "Drape " PACKAGE_VERSION);

  if (self->photo != NULL)
    {
      g_autofree char *name = g_strdup_printf ("photo.%s", drape_picture_get_format (self->photo));

      json_builder_set_member_name (builder, "photo");
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "file");
      json_builder_add_string_value (builder, name);
      json_builder_set_member_name (builder, "name");
      json_builder_add_string_value (builder, drape_picture_get_name (self->photo));
      json_builder_end_object (builder);
      snapshot_add (snapshot, name, drape_picture_get_bytes (self->photo), FALSE);

      json_builder_set_member_name (builder, "mask");
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "file");
      json_builder_add_string_value (builder, "mask.png");
      json_builder_end_object (builder);
      snapshot->mask = drape_mask_to_bytes (self->mask);
      snapshot->mask_width = drape_mask_get_width (self->mask);
      snapshot->mask_height = drape_mask_get_height (self->mask);
    }

  if (self->garment != NULL)
    {
      g_autofree char *name = g_strdup_printf ("garment.%s", drape_picture_get_format (self->garment));

      json_builder_set_member_name (builder, "garment");
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "file");
      json_builder_add_string_value (builder, name);
      json_builder_set_member_name (builder, "name");
      json_builder_add_string_value (builder, drape_picture_get_name (self->garment));
      json_builder_end_object (builder);
      snapshot_add (snapshot, name, drape_picture_get_bytes (self->garment), FALSE);
    }

  json_builder_set_member_name (builder, "garment-type");
  json_builder_add_string_value (builder, enum_nick (DRAPE_TYPE_GARMENT_TYPE, self->garment_type));
  json_builder_set_member_name (builder, "settings");
  json_builder_add_value (builder, drape_try_on_settings_to_json (self->settings));

  json_builder_set_member_name (builder, "results");
  json_builder_begin_array (builder);
  for (guint i = 0; i < n_results; i++)
    {
      g_autoptr(DrapeResult) result = g_list_model_get_item (G_LIST_MODEL (self->results), i);
      g_autofree char *name = g_strdup_printf ("results/%u.png", i + 1);

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "file");
      json_builder_add_string_value (builder, name);
      json_builder_set_member_name (builder, "settings");
      json_builder_add_value (builder, drape_try_on_settings_to_json (drape_result_get_settings (result)));
      if (drape_result_get_parameters (result) != NULL)
        {
          json_builder_set_member_name (builder, "parameters");
          json_builder_add_string_value (builder, drape_result_get_parameters (result));
        }
      json_builder_end_object (builder);
      snapshot_add (snapshot, name, drape_result_get_png (result), FALSE);
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  json_generator_set_pretty (generator, TRUE);
  json = json_generator_to_data (generator, &json_length);
  entry.name = g_strdup ("session.json");
  entry.bytes = g_bytes_new_take (g_steal_pointer (&json), json_length);
  entry.compress = TRUE;
  g_array_prepend_val (snapshot->entries, entry);
  return snapshot;
}

static void
png_write_to_array (png_structp png,
                    png_bytep   data,
                    size_t      length)
{
  g_byte_array_append (png_get_io_ptr (png), data, length);
}

static void
png_flush_nothing (png_structp png)
{
}

static void
png_error_to_gerror (png_structp     png,
                     png_const_charp message)
{
  GError **error = png_get_error_ptr (png);

  g_set_error (error, DRAPE_APP_ERROR, DRAPE_APP_ERROR_INVALID,
               _("The mask could not be encoded: %s"), message);
  png_longjmp (png, 1);
}

static void
png_warning_ignore (png_structp     png,
                    png_const_charp message)
{
}

/* An 8-bit grey PNG: a third of the size and time of an RGB one. */
static GBytes *
encode_mask_png (GBytes  *pixels,
                 guint    width,
                 guint    height,
                 GError **error)
{
  g_autoptr(GByteArray) out = g_byte_array_new ();
  const guint8 *data = g_bytes_get_data (pixels, NULL);
  png_structp png;
  png_infop info;

  png = png_create_write_struct (PNG_LIBPNG_VER_STRING, error, png_error_to_gerror, png_warning_ignore);
  info = png_create_info_struct (png);
  if (setjmp (png_jmpbuf (png)))
    {
      png_destroy_write_struct (&png, &info);
      return NULL;
    }
  png_set_write_fn (png, out, png_write_to_array, png_flush_nothing);
  png_set_compression_level (png, 3);
  png_set_IHDR (png, info, width, height, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info (png, info);
  for (guint y = 0; y < height; y++)
    png_write_row (png, data + (gsize) y * width);
  png_write_end (png, info);
  png_destroy_write_struct (&png, &info);
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

static la_ssize_t
archive_write_to_array (struct archive *archive,
                        void           *user_data,
                        const void     *buffer,
                        size_t          length)
{
  g_byte_array_append (user_data, buffer, length);
  return length;
}

static gboolean
archive_failed (struct archive  *archive,
                const char      *what,
                GError         **error)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
               _("The session could not be written (%s): %s"), what,
               archive_error_string (archive) ? archive_error_string (archive) : _("unknown error"));
  return FALSE;
}

static gboolean
write_entry (struct archive  *archive,
             const Entry     *entry,
             GError         **error)
{
  struct archive_entry *header = archive_entry_new ();
  gsize size;
  const guint8 *data = g_bytes_get_data (entry->bytes, &size);
  gboolean ok = TRUE;

  archive_entry_set_pathname (header, entry->name);
  archive_entry_set_size (header, size);
  archive_entry_set_filetype (header, AE_IFREG);
  archive_entry_set_perm (header, 0644);
  archive_entry_set_mtime (header, g_get_real_time () / G_USEC_PER_SEC, 0);
  /* Photos and PNGs are compressed already: store them. */
  if ((entry->compress ? archive_write_zip_set_compression_deflate (archive)
                       : archive_write_zip_set_compression_store (archive)) < ARCHIVE_WARN ||
      archive_write_header (archive, header) < ARCHIVE_WARN)
    ok = archive_failed (archive, entry->name, error);
  while (ok && size > 0)
    {
      la_ssize_t n = archive_write_data (archive, data, size);

      if (n <= 0)
        ok = archive_failed (archive, entry->name, error);
      else
        {
          data += n;
          size -= n;
        }
    }
  archive_entry_free (header);
  return ok;
}

static GBytes *
snapshot_encode (Snapshot  *snapshot,
                 GError   **error)
{
  g_autoptr(GByteArray) out = g_byte_array_new ();
  struct archive *archive;
  gboolean ok = TRUE;

  if (snapshot->mask != NULL)
    {
      Entry entry = { NULL, NULL, FALSE };

      entry.bytes = encode_mask_png (snapshot->mask, snapshot->mask_width,
                                     snapshot->mask_height, error);
      if (entry.bytes == NULL)
        return NULL;
      entry.name = g_strdup ("mask.png");
      /* Right after session.json, before the larger entries. */
      g_array_insert_val (snapshot->entries, 1, entry);
    }

  archive = archive_write_new ();
  /* No padding to a tape block after the end record. */
  archive_write_set_bytes_in_last_block (archive, 1);
  if (archive_write_set_format_zip (archive) != ARCHIVE_OK ||
      archive_write_open (archive, out, NULL, archive_write_to_array, NULL) != ARCHIVE_OK)
    ok = archive_failed (archive, "zip", error);
  for (guint i = 0; ok && i < snapshot->entries->len; i++)
    ok = write_entry (archive, &g_array_index (snapshot->entries, Entry, i), error);
  if (ok && archive_write_close (archive) != ARCHIVE_OK)
    ok = archive_failed (archive, "zip", error);
  archive_write_free (archive);
  if (!ok)
    return NULL;
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

GBytes *
drape_session_to_bytes (DrapeSession  *self,
                        GError       **error)
{
  Snapshot *snapshot;
  GBytes *bytes;

  g_return_val_if_fail (DRAPE_IS_SESSION (self), NULL);

  snapshot = snapshot_new (self);
  bytes = snapshot_encode (snapshot, error);
  snapshot_free (snapshot);
  return bytes;
}

static gboolean
write_file (GFile         *file,
            GBytes        *bytes,
            GCancellable  *cancellable,
            GError       **error)
{
  g_autoptr(GFile) parent = g_file_get_parent (file);
  g_autoptr(GError) local_error = NULL;

  if (parent != NULL && !g_file_make_directory_with_parents (parent, cancellable, &local_error) &&
      !g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_EXISTS))
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  return g_file_replace_contents (file, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                                  NULL, FALSE, G_FILE_CREATE_REPLACE_DESTINATION, NULL,
                                  cancellable, error);
}

gboolean
drape_session_save (DrapeSession  *self,
                    GFile         *file,
                    GError       **error)
{
  g_autoptr(GBytes) bytes = NULL;

  g_return_val_if_fail (DRAPE_IS_SESSION (self), FALSE);
  g_return_val_if_fail (G_IS_FILE (file), FALSE);

  bytes = drape_session_to_bytes (self, error);
  return bytes != NULL && write_file (file, bytes, NULL, error);
}

static void
save_thread (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  Snapshot *snapshot = task_data;
  GFile *file = g_object_get_data (G_OBJECT (task), "file");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = snapshot_encode (snapshot, &error);

  if (bytes == NULL || !write_file (file, bytes, cancellable, &error))
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

void
drape_session_save_async (DrapeSession        *self,
                          GFile               *file,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (DRAPE_IS_SESSION (self));
  g_return_if_fail (G_IS_FILE (file));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, drape_session_save_async);
  g_task_set_task_data (task, snapshot_new (self), snapshot_free);
  g_object_set_data_full (G_OBJECT (task), "file", g_object_ref (file), g_object_unref);
  g_task_run_in_thread (task, save_thread);
}

gboolean
drape_session_save_finish (DrapeSession  *self,
                           GAsyncResult  *result,
                           GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- reading ---------------------------------------------------------- */

static gboolean
corrupt (GError     **error,
         const char  *name,
         const char  *problem)
{
  g_set_error (error, DRAPE_APP_ERROR, DRAPE_APP_ERROR_CORRUPT_SESSION,
               _("“%s” is damaged or incomplete: %s"), name, problem);
  return FALSE;
}

static GHashTable *
read_entries (GBytes      *bytes,
              const char  *name,
              GError     **error)
{
  g_autoptr(GHashTable) entries = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                         (GDestroyNotify) g_bytes_unref);
  struct archive *archive = archive_read_new ();
  struct archive_entry *header;
  gsize size;
  const void *data = g_bytes_get_data (bytes, &size);
  int status;

  archive_read_support_format_zip_seekable (archive);
  status = archive_read_open_memory (archive, data, size);
  while (status == ARCHIVE_OK &&
         (status = archive_read_next_header (archive, &header)) == ARCHIVE_OK)
    {
      la_int64_t entry_size = archive_entry_size (header);
      g_autoptr(GByteArray) content = NULL;
      char buffer[65536];
      la_ssize_t n;

      if (archive_entry_filetype (header) != AE_IFREG)
        continue;
      if (entry_size > MAX_ENTRY_SIZE)
        {
          archive_read_free (archive);
          corrupt (error, name, _("an entry is impossibly large"));
          return NULL;
        }
      content = g_byte_array_sized_new (MAX (entry_size, 0));
      while ((n = archive_read_data (archive, buffer, sizeof buffer)) > 0 &&
             content->len + n <= MAX_ENTRY_SIZE)
        g_byte_array_append (content, (const guint8 *) buffer, n);
      if (n != 0)
        {
          status = ARCHIVE_FATAL;
          break;
        }
      g_hash_table_replace (entries, g_strdup (archive_entry_pathname (header)),
                            g_byte_array_free_to_bytes (g_steal_pointer (&content)));
    }
  if (status != ARCHIVE_EOF)
    {
      const char *why = archive_error_string (archive);

      corrupt (error, name, why != NULL ? why : _("it is not a zip archive"));
      archive_read_free (archive);
      return NULL;
    }
  archive_read_free (archive);
  return g_steal_pointer (&entries);
}

static GBytes *
lookup_entry (GHashTable  *entries,
              JsonObject  *object,
              const char  *name,
              GError     **error)
{
  const char *file = json_object_get_string_member_with_default (object, "file", NULL);
  GBytes *bytes = file != NULL ? g_hash_table_lookup (entries, file) : NULL;

  if (bytes == NULL)
    {
      g_autofree char *problem = g_strdup_printf (_("“%s” is missing"), file != NULL ? file : "file");

      corrupt (error, name, problem);
    }
  return bytes;
}

static JsonObject *
get_object_member (JsonObject *object,
                   const char *member)
{
  JsonNode *node = json_object_get_member (object, member);

  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

static DrapePicture *
read_picture (GHashTable  *entries,
              JsonObject  *object,
              const char  *name,
              GError     **error)
{
  GBytes *bytes = lookup_entry (entries, object, name, error);
  const char *picture_name = json_object_get_string_member_with_default (object, "name", "");
  g_autoptr(GError) local_error = NULL;
  DrapePicture *picture;

  if (bytes == NULL)
    return NULL;
  picture = drape_picture_new_from_bytes (bytes, picture_name, &local_error);
  if (picture == NULL)
    corrupt (error, name, local_error->message);
  return picture;
}

static DrapeMask *
read_mask (GBytes        *png,
           DrapePicture  *photo,
           const char    *name,
           GError       **error)
{
  g_autoptr(DrapePicture) picture = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GBytes) plane = NULL;
  GdkPixbuf *pixbuf;
  guint width = drape_picture_get_width (photo), height = drape_picture_get_height (photo);
  guint8 *pixels;
  const guint8 *src;
  int stride, channels;

  picture = drape_picture_new_from_bytes (png, "mask.png", &local_error);
  if (picture == NULL)
    {
      corrupt (error, name, local_error->message);
      return NULL;
    }
  pixbuf = drape_picture_get_pixbuf (picture);
  if ((guint) gdk_pixbuf_get_width (pixbuf) != width || (guint) gdk_pixbuf_get_height (pixbuf) != height)
    {
      corrupt (error, name, _("the mask and the photo differ in size"));
      return NULL;
    }
  src = gdk_pixbuf_read_pixels (pixbuf);
  stride = gdk_pixbuf_get_rowstride (pixbuf);
  channels = gdk_pixbuf_get_n_channels (pixbuf);
  pixels = g_malloc ((gsize) width * height);
  for (guint y = 0; y < height; y++)
    for (guint x = 0; x < width; x++)
      pixels[(gsize) y * width + x] = src[(gsize) y * stride + (gsize) x * channels];
  plane = g_bytes_new_take (pixels, (gsize) width * height);
  return drape_mask_new_from_bytes (width, height, plane, error);
}

DrapeSession *
drape_session_new_from_bytes (GBytes      *bytes,
                              const char  *name,
                              GError     **error)
{
  g_autoptr(GHashTable) entries = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(DrapeSession) session = NULL;
  g_autoptr(DrapePicture) photo = NULL;
  g_autoptr(DrapeMask) mask = NULL;
  g_autoptr(GError) local_error = NULL;
  JsonObject *root, *member;
  JsonNode *node;
  GBytes *json;
  const char *format;
  gint64 version;

  g_return_val_if_fail (bytes != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);

  entries = read_entries (bytes, name, error);
  if (entries == NULL)
    return NULL;
  json = g_hash_table_lookup (entries, "session.json");
  if (json == NULL)
    {
      g_set_error (error, DRAPE_APP_ERROR, DRAPE_APP_ERROR_CORRUPT_SESSION,
                   _("“%s” is not a Drape session: it has no session.json"), name);
      return NULL;
    }
  if (!json_parser_load_from_data (parser, g_bytes_get_data (json, NULL), g_bytes_get_size (json), &local_error))
    {
      corrupt (error, name, local_error->message);
      return NULL;
    }
  node = json_parser_get_root (parser);
  root = node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  format = root != NULL ? json_object_get_string_member_with_default (root, "format", NULL) : NULL;
  if (g_strcmp0 (format, FORMAT_NAME) != 0)
    {
      g_set_error (error, DRAPE_APP_ERROR, DRAPE_APP_ERROR_CORRUPT_SESSION,
                   _("“%s” is not a Drape session"), name);
      return NULL;
    }
  version = json_object_get_int_member_with_default (root, "version", 0);
  if (version > DRAPE_SESSION_FORMAT_VERSION)
    {
      g_set_error (error, DRAPE_APP_ERROR, DRAPE_APP_ERROR_NEWER_SESSION,
                   _("“%s” was saved by a newer version of Drape (session format %lld; "
                     "this version reads up to %d). Update Drape to open it."),
                   name, (long long) version, DRAPE_SESSION_FORMAT_VERSION);
      return NULL;
    }
  if (version < 1)
    {
      corrupt (error, name, _("its format version is missing"));
      return NULL;
    }

  session = drape_session_new ();

  if ((member = get_object_member (root, "photo")) != NULL)
    {
      JsonObject *mask_object = get_object_member (root, "mask");
      GBytes *mask_png;

      photo = read_picture (entries, member, name, error);
      if (photo == NULL)
        return NULL;
      if (mask_object == NULL)
        {
          corrupt (error, name, _("the photo has no mask"));
          return NULL;
        }
      mask_png = lookup_entry (entries, mask_object, name, error);
      if (mask_png == NULL)
        return NULL;
      mask = read_mask (mask_png, photo, name, error);
      if (mask == NULL)
        return NULL;
      set_photo_and_mask (session, photo, mask);
    }

  if ((member = get_object_member (root, "garment")) != NULL)
    {
      g_autoptr(DrapePicture) garment = read_picture (entries, member, name, error);

      if (garment == NULL)
        return NULL;
      drape_session_set_garment (session, garment);
    }

  if (json_object_has_member (root, "garment-type"))
    {
      g_autoptr(GEnumClass) klass = g_type_class_ref (DRAPE_TYPE_GARMENT_TYPE);
      const char *nick = json_object_get_string_member_with_default (root, "garment-type", "");
      GEnumValue *value = g_enum_get_value_by_nick (klass, nick);

      if (value == NULL)
        {
          corrupt (error, name, _("the garment type is unknown"));
          return NULL;
        }
      drape_session_set_garment_type (session, value->value);
    }

  if ((member = get_object_member (root, "settings")) != NULL &&
      !drape_try_on_settings_load_json (session->settings, member, &local_error))
    {
      corrupt (error, name, local_error->message);
      return NULL;
    }

  node = json_object_get_member (root, "results");
  if (node != NULL && JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);

      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          JsonNode *item = json_array_get_element (array, i);
          JsonObject *object = JSON_NODE_HOLDS_OBJECT (item) ? json_node_get_object (item) : NULL;
          g_autoptr(DrapeTryOnSettings) settings = drape_try_on_settings_new ();
          g_autoptr(DrapeResult) result = NULL;
          JsonObject *settings_object;
          GBytes *png;

          if (object == NULL)
            {
              corrupt (error, name, _("a result is malformed"));
              return NULL;
            }
          png = lookup_entry (entries, object, name, error);
          if (png == NULL)
            return NULL;
          settings_object = get_object_member (object, "settings");
          if (settings_object != NULL &&
              !drape_try_on_settings_load_json (settings, settings_object, &local_error))
            {
              corrupt (error, name, local_error->message);
              return NULL;
            }
          result = drape_result_new_from_png (png, settings, &local_error);
          if (result == NULL)
            {
              corrupt (error, name, local_error->message);
              return NULL;
            }
          drape_session_add_result (session, result);
        }
    }

  return g_steal_pointer (&session);
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
  g_autofree char *basename = g_file_get_basename (file);
  g_autofree char *name = g_filename_display_name (basename != NULL ? basename : "");
  DrapeSession *session;

  bytes = g_file_load_bytes (file, cancellable, NULL, &error);
  if (bytes == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  session = drape_session_new_from_bytes (bytes, name, &error);
  if (session == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  drape_session_set_file (session, file);
  g_task_return_pointer (task, session, g_object_unref);
}

void
drape_session_load_async (GFile               *file,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (G_IS_FILE (file));

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, drape_session_load_async);
  g_task_set_task_data (task, g_object_ref (file), g_object_unref);
  g_task_run_in_thread (task, load_thread);
}

DrapeSession *
drape_session_load_finish (GAsyncResult  *result,
                           GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
