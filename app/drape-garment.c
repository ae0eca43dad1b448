/* drape-garment.c: a garment photo in the gallery
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "drape-garment.h"
#include "drape-picture.h"

struct _DrapeGarment
{
  GObject parent_instance;

  GFile *file;
  char *name;
  gboolean owned;
  GdkTexture *thumbnail;
  gboolean loading;
};

enum {
  PROP_0,
  PROP_FILE,
  PROP_NAME,
  PROP_OWNED,
  PROP_THUMBNAIL,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (DrapeGarment, drape_garment, G_TYPE_OBJECT)

static void
drape_garment_finalize (GObject *object)
{
  DrapeGarment *self = DRAPE_GARMENT (object);

  g_clear_object (&self->file);
  g_clear_pointer (&self->name, g_free);
  g_clear_object (&self->thumbnail);

  G_OBJECT_CLASS (drape_garment_parent_class)->finalize (object);
}

static void
drape_garment_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  DrapeGarment *self = DRAPE_GARMENT (object);

  switch (prop_id)
    {
    case PROP_FILE:
      g_value_set_object (value, self->file);
      break;
    case PROP_NAME:
      g_value_set_string (value, self->name);
      break;
    case PROP_OWNED:
      g_value_set_boolean (value, self->owned);
      break;
    case PROP_THUMBNAIL:
      g_value_set_object (value, self->thumbnail);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
drape_garment_class_init (DrapeGarmentClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = drape_garment_finalize;
  object_class->get_property = drape_garment_get_property;

  properties[PROP_FILE] =
    g_param_spec_object ("file", NULL, NULL, G_TYPE_FILE,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_NAME] =
    g_param_spec_string ("name", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_OWNED] =
    g_param_spec_boolean ("owned", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_THUMBNAIL] =
    g_param_spec_object ("thumbnail", NULL, NULL, GDK_TYPE_TEXTURE,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
drape_garment_init (DrapeGarment *self)
{
}

DrapeGarment *
drape_garment_new (GFile    *file,
                   gboolean  owned)
{
  DrapeGarment *self;
  g_autofree char *basename = NULL;

  g_return_val_if_fail (G_IS_FILE (file), NULL);

  self = g_object_new (DRAPE_TYPE_GARMENT, NULL);
  self->file = g_object_ref (file);
  self->owned = owned;
  basename = g_file_get_basename (file);
  self->name = g_filename_display_name (basename != NULL ? basename : "");
  return self;
}

GFile *
drape_garment_get_file (DrapeGarment *self)
{
  g_return_val_if_fail (DRAPE_IS_GARMENT (self), NULL);
  return self->file;
}

const char *
drape_garment_get_name (DrapeGarment *self)
{
  g_return_val_if_fail (DRAPE_IS_GARMENT (self), NULL);
  return self->name;
}

gboolean
drape_garment_get_owned (DrapeGarment *self)
{
  g_return_val_if_fail (DRAPE_IS_GARMENT (self), FALSE);
  return self->owned;
}

GdkTexture *
drape_garment_get_thumbnail (DrapeGarment *self)
{
  g_return_val_if_fail (DRAPE_IS_GARMENT (self), NULL);
  return self->thumbnail;
}

static void
thumbnail_thread (GTask        *task,
                  gpointer      source_object,
                  gpointer      task_data,
                  GCancellable *cancellable)
{
  DrapeGarment *self = source_object;
  g_autoptr(GError) error = NULL;
  GdkTexture *texture;

  texture = drape_picture_load_thumbnail (self->file, GPOINTER_TO_INT (task_data), cancellable, &error);
  if (texture == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, texture, g_object_unref);
}

static void
thumbnail_done (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  DrapeGarment *self = DRAPE_GARMENT (object);
  g_autoptr(GError) error = NULL;
  g_autoptr(GdkTexture) texture = g_task_propagate_pointer (G_TASK (result), &error);

  self->loading = FALSE;
  if (texture == NULL)
    {
      /* The gallery shows a placeholder; opening it later says why. */
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_debug ("No thumbnail for %s: %s", self->name, error->message);
      return;
    }
  g_set_object (&self->thumbnail, texture);
  g_object_notify_by_pspec (object, properties[PROP_THUMBNAIL]);
}

void
drape_garment_load_thumbnail (DrapeGarment *self,
                              int           size,
                              GCancellable *cancellable)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (DRAPE_IS_GARMENT (self));

  if (self->thumbnail != NULL || self->loading)
    return;
  self->loading = TRUE;
  task = g_task_new (self, cancellable, thumbnail_done, NULL);
  g_task_set_source_tag (task, drape_garment_load_thumbnail);
  g_task_set_task_data (task, GINT_TO_POINTER (size), NULL);
  g_task_run_in_thread (task, thumbnail_thread);
}
