/* drape-result.c: one try-on result of this session, with how it was made
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>

#include "drape-app-error.h"
#include "drape-picture.h"
#include "drape-result.h"

struct _DrapeResult
{
  GObject parent_instance;

  GdkPixbuf *pixbuf;
  GdkTexture *texture;
  GBytes *png;
  DrapeTryOnSettings *settings;
  char *parameters;
};

enum {
  PROP_0,
  PROP_TEXTURE,
  PROP_SETTINGS,
  PROP_PARAMETERS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (DrapeResult, drape_result, G_TYPE_OBJECT)

static void
drape_result_finalize (GObject *object)
{
  DrapeResult *self = DRAPE_RESULT (object);

  g_clear_object (&self->pixbuf);
  g_clear_object (&self->texture);
  g_clear_pointer (&self->png, g_bytes_unref);
  g_clear_object (&self->settings);
  g_clear_pointer (&self->parameters, g_free);

  G_OBJECT_CLASS (drape_result_parent_class)->finalize (object);
}

static void
drape_result_get_property (GObject    *object,
                           guint       prop_id,
                           GValue     *value,
                           GParamSpec *pspec)
{
  DrapeResult *self = DRAPE_RESULT (object);

  switch (prop_id)
    {
    case PROP_TEXTURE:
      g_value_set_object (value, self->texture);
      break;
    case PROP_SETTINGS:
      g_value_set_object (value, self->settings);
      break;
    case PROP_PARAMETERS:
      g_value_set_string (value, self->parameters);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
drape_result_class_init (DrapeResultClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = drape_result_finalize;
  object_class->get_property = drape_result_get_property;

  properties[PROP_TEXTURE] =
    g_param_spec_object ("texture", NULL, NULL, GDK_TYPE_TEXTURE,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SETTINGS] =
    g_param_spec_object ("settings", NULL, NULL, DRAPE_TYPE_TRY_ON_SETTINGS,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_PARAMETERS] =
    g_param_spec_string ("parameters", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
drape_result_init (DrapeResult *self)
{
}

DrapeResult *
drape_result_new (GdkPixbuf           *pixbuf,
                  DrapeTryOnSettings  *settings,
                  const char          *parameters,
                  GError             **error)
{
  g_autoptr(DrapeResult) self = NULL;
  char *keys[2] = { NULL, NULL };
  char *values[2] = { NULL, NULL };
  char *buffer = NULL;
  gsize size = 0;

  g_return_val_if_fail (GDK_IS_PIXBUF (pixbuf), NULL);
  g_return_val_if_fail (DRAPE_IS_TRY_ON_SETTINGS (settings), NULL);

  if (parameters != NULL)
    {
      keys[0] = (char *) "tEXt::parameters";
      values[0] = (char *) parameters;
    }
  if (!gdk_pixbuf_save_to_bufferv (pixbuf, &buffer, &size, "png", keys, values, error))
    return NULL;

  self = g_object_new (DRAPE_TYPE_RESULT, NULL);
  self->pixbuf = g_object_ref (pixbuf);
  self->texture = drape_texture_new_for_pixbuf (pixbuf);
  self->png = g_bytes_new_take (buffer, size);
  self->settings = drape_try_on_settings_copy (settings);
  self->parameters = g_strdup (parameters);
  return g_steal_pointer (&self);
}

DrapeResult *
drape_result_new_from_png (GBytes              *png,
                           DrapeTryOnSettings  *settings,
                           GError             **error)
{
  g_autoptr(DrapePicture) picture = NULL;
  g_autoptr(DrapeResult) self = NULL;
  const char *parameters;

  g_return_val_if_fail (png != NULL, NULL);
  g_return_val_if_fail (DRAPE_IS_TRY_ON_SETTINGS (settings), NULL);

  picture = drape_picture_new_from_bytes (png, _("result"), error);
  if (picture == NULL)
    return NULL;

  self = g_object_new (DRAPE_TYPE_RESULT, NULL);
  self->pixbuf = g_object_ref (drape_picture_get_pixbuf (picture));
  self->texture = g_object_ref (drape_picture_get_texture (picture));
  self->png = g_bytes_ref (png);
  self->settings = drape_try_on_settings_copy (settings);
  parameters = gdk_pixbuf_get_option (self->pixbuf, "tEXt::parameters");
  self->parameters = g_strdup (parameters);
  return g_steal_pointer (&self);
}

GdkPixbuf *
drape_result_get_pixbuf (DrapeResult *self)
{
  g_return_val_if_fail (DRAPE_IS_RESULT (self), NULL);
  return self->pixbuf;
}

GdkTexture *
drape_result_get_texture (DrapeResult *self)
{
  g_return_val_if_fail (DRAPE_IS_RESULT (self), NULL);
  return self->texture;
}

GBytes *
drape_result_get_png (DrapeResult *self)
{
  g_return_val_if_fail (DRAPE_IS_RESULT (self), NULL);
  return self->png;
}

DrapeTryOnSettings *
drape_result_get_settings (DrapeResult *self)
{
  g_return_val_if_fail (DRAPE_IS_RESULT (self), NULL);
  return self->settings;
}

const char *
drape_result_get_parameters (DrapeResult *self)
{
  g_return_val_if_fail (DRAPE_IS_RESULT (self), NULL);
  return self->parameters;
}
