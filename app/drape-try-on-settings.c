/* drape-try-on-settings.c: what a try-on run is asked to do
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>

#include "drape-app-error.h"
#include "drape-enums.h"
#include "drape-try-on-settings.h"

#define MAX_STEPS 200
#define MAX_GUIDANCE 20.0
/* Seeds stay within 32 bits so a spin button and JSON hold them exactly. */
#define MAX_SEED G_MAXUINT32

struct _DrapeTryOnSettings
{
  GObject parent_instance;

  guint steps;
  double guidance;
  guint64 seed;
  DrapeSchedulerKind scheduler;
  DrapeTryOnSize size;
  gboolean repaint;
};

enum {
  PROP_0,
  PROP_STEPS,
  PROP_GUIDANCE,
  PROP_SEED,
  PROP_SCHEDULER,
  PROP_SIZE,
  PROP_REPAINT,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (DrapeTryOnSettings, drape_try_on_settings, G_TYPE_OBJECT)

static void
drape_try_on_settings_get_property (GObject    *object,
                                    guint       prop_id,
                                    GValue     *value,
                                    GParamSpec *pspec)
{
  DrapeTryOnSettings *self = DRAPE_TRY_ON_SETTINGS (object);

  switch (prop_id)
    {
    case PROP_STEPS:
      g_value_set_uint (value, self->steps);
      break;
    case PROP_GUIDANCE:
      g_value_set_double (value, self->guidance);
      break;
    case PROP_SEED:
      g_value_set_uint64 (value, self->seed);
      break;
    case PROP_SCHEDULER:
      g_value_set_enum (value, self->scheduler);
      break;
    case PROP_SIZE:
      g_value_set_enum (value, self->size);
      break;
    case PROP_REPAINT:
      g_value_set_boolean (value, self->repaint);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
drape_try_on_settings_set_property (GObject      *object,
                                    guint         prop_id,
                                    const GValue *value,
                                    GParamSpec   *pspec)
{
  DrapeTryOnSettings *self = DRAPE_TRY_ON_SETTINGS (object);

  switch (prop_id)
    {
    case PROP_STEPS:
      drape_try_on_settings_set_steps (self, g_value_get_uint (value));
      break;
    case PROP_GUIDANCE:
      drape_try_on_settings_set_guidance (self, g_value_get_double (value));
      break;
    case PROP_SEED:
      drape_try_on_settings_set_seed (self, g_value_get_uint64 (value));
      break;
    case PROP_SCHEDULER:
      drape_try_on_settings_set_scheduler (self, g_value_get_enum (value));
      break;
    case PROP_SIZE:
      drape_try_on_settings_set_size (self, g_value_get_enum (value));
      break;
    case PROP_REPAINT:
      drape_try_on_settings_set_repaint (self, g_value_get_boolean (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
drape_try_on_settings_class_init (DrapeTryOnSettingsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags flags = G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->get_property = drape_try_on_settings_get_property;
  object_class->set_property = drape_try_on_settings_set_property;

  properties[PROP_STEPS] =
    g_param_spec_uint ("steps", NULL, NULL, 1, MAX_STEPS, 50, flags);
  properties[PROP_GUIDANCE] =
    g_param_spec_double ("guidance", NULL, NULL, 0.0, MAX_GUIDANCE, 2.5, flags);
  properties[PROP_SEED] =
    g_param_spec_uint64 ("seed", NULL, NULL, 0, MAX_SEED, 42, flags);
  properties[PROP_SCHEDULER] =
    g_param_spec_enum ("scheduler", NULL, NULL, DRAPE_TYPE_SCHEDULER_KIND,
                       DRAPE_SCHEDULER_DDIM, flags);
  properties[PROP_SIZE] =
    g_param_spec_enum ("size", NULL, NULL, DRAPE_TYPE_TRY_ON_SIZE,
                       DRAPE_TRY_ON_SIZE_768X1024, flags);
  properties[PROP_REPAINT] =
    g_param_spec_boolean ("repaint", NULL, NULL, FALSE, flags);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
drape_try_on_settings_init (DrapeTryOnSettings *self)
{
  self->steps = 50;
  self->guidance = 2.5;
  self->seed = 42;
  self->scheduler = DRAPE_SCHEDULER_DDIM;
  self->size = DRAPE_TRY_ON_SIZE_768X1024;
}

DrapeTryOnSettings *
drape_try_on_settings_new (void)
{
  return g_object_new (DRAPE_TYPE_TRY_ON_SETTINGS, NULL);
}

void
drape_try_on_settings_assign (DrapeTryOnSettings *self,
                              DrapeTryOnSettings *other)
{
  g_return_if_fail (DRAPE_IS_TRY_ON_SETTINGS (self));
  g_return_if_fail (DRAPE_IS_TRY_ON_SETTINGS (other));

  g_object_freeze_notify (G_OBJECT (self));
  drape_try_on_settings_set_steps (self, other->steps);
  drape_try_on_settings_set_guidance (self, other->guidance);
  drape_try_on_settings_set_seed (self, other->seed);
  drape_try_on_settings_set_scheduler (self, other->scheduler);
  drape_try_on_settings_set_size (self, other->size);
  drape_try_on_settings_set_repaint (self, other->repaint);
  g_object_thaw_notify (G_OBJECT (self));
}

DrapeTryOnSettings *
drape_try_on_settings_copy (DrapeTryOnSettings *self)
{
  DrapeTryOnSettings *copy;

  g_return_val_if_fail (DRAPE_IS_TRY_ON_SETTINGS (self), NULL);

  copy = drape_try_on_settings_new ();
  drape_try_on_settings_assign (copy, self);
  return copy;
}

gboolean
drape_try_on_settings_equal (DrapeTryOnSettings *self,
                             DrapeTryOnSettings *other)
{
  g_return_val_if_fail (DRAPE_IS_TRY_ON_SETTINGS (self), FALSE);
  g_return_val_if_fail (DRAPE_IS_TRY_ON_SETTINGS (other), FALSE);

  return self->steps == other->steps &&
         G_APPROX_VALUE (self->guidance, other->guidance, 1e-9) &&
         self->seed == other->seed &&
         self->scheduler == other->scheduler &&
         self->size == other->size &&
         self->repaint == other->repaint;
}

guint
drape_try_on_settings_get_steps (DrapeTryOnSettings *self)
{
  g_return_val_if_fail (DRAPE_IS_TRY_ON_SETTINGS (self), 0);
  return self->steps;
}

void
drape_try_on_settings_set_steps (DrapeTryOnSettings *self,
                                 guint               steps)
{
  g_return_if_fail (DRAPE_IS_TRY_ON_SETTINGS (self));

  steps = CLAMP (steps, 1, MAX_STEPS);
  if (self->steps == steps)
    return;
  self->steps = steps;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STEPS]);
}

double
drape_try_on_settings_get_guidance (DrapeTryOnSettings *self)
{
  g_return_val_if_fail (DRAPE_IS_TRY_ON_SETTINGS (self), 0);
  return self->guidance;
}

void
drape_try_on_settings_set_guidance (DrapeTryOnSettings *self,
                                    double              guidance)
{
  g_return_if_fail (DRAPE_IS_TRY_ON_SETTINGS (self));

  guidance = CLAMP (guidance, 0.0, MAX_GUIDANCE);
  if (self->guidance == guidance)
    return;
  self->guidance = guidance;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_GUIDANCE]);
}

guint64
drape_try_on_settings_get_seed (DrapeTryOnSettings *self)
{
  g_return_val_if_fail (DRAPE_IS_TRY_ON_SETTINGS (self), 0);
  return self->seed;
}

void
drape_try_on_settings_set_seed (DrapeTryOnSettings *self,
                                guint64             seed)
{
  g_return_if_fail (DRAPE_IS_TRY_ON_SETTINGS (self));

  seed = MIN (seed, MAX_SEED);
  if (self->seed == seed)
    return;
  self->seed = seed;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SEED]);
}

DrapeSchedulerKind
drape_try_on_settings_get_scheduler (DrapeTryOnSettings *self)
{
  g_return_val_if_fail (DRAPE_IS_TRY_ON_SETTINGS (self), DRAPE_SCHEDULER_DDIM);
  return self->scheduler;
}

void
drape_try_on_settings_set_scheduler (DrapeTryOnSettings *self,
                                     DrapeSchedulerKind  scheduler)
{
  g_return_if_fail (DRAPE_IS_TRY_ON_SETTINGS (self));

  if (self->scheduler == scheduler)
    return;
  self->scheduler = scheduler;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SCHEDULER]);
}

DrapeTryOnSize
drape_try_on_settings_get_size (DrapeTryOnSettings *self)
{
  g_return_val_if_fail (DRAPE_IS_TRY_ON_SETTINGS (self), DRAPE_TRY_ON_SIZE_768X1024);
  return self->size;
}

void
drape_try_on_settings_set_size (DrapeTryOnSettings *self,
                                DrapeTryOnSize      size)
{
  g_return_if_fail (DRAPE_IS_TRY_ON_SETTINGS (self));

  if (self->size == size)
    return;
  self->size = size;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SIZE]);
}

gboolean
drape_try_on_settings_get_repaint (DrapeTryOnSettings *self)
{
  g_return_val_if_fail (DRAPE_IS_TRY_ON_SETTINGS (self), FALSE);
  return self->repaint;
}

void
drape_try_on_settings_set_repaint (DrapeTryOnSettings *self,
                                   gboolean            repaint)
{
  g_return_if_fail (DRAPE_IS_TRY_ON_SETTINGS (self));

  repaint = !!repaint;
  if (self->repaint == repaint)
    return;
  self->repaint = repaint;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_REPAINT]);
}

void
drape_try_on_settings_get_dimensions (DrapeTryOnSettings *self,
                                      guint              *width,
                                      guint              *height)
{
  g_return_if_fail (DRAPE_IS_TRY_ON_SETTINGS (self));

  switch (self->size)
    {
    case DRAPE_TRY_ON_SIZE_384X512:
      *width = 384;
      *height = 512;
      break;
    case DRAPE_TRY_ON_SIZE_768X1024:
    default:
      *width = 768;
      *height = 1024;
      break;
    }
}

static const char *
enum_nick (GType type,
           int   value)
{
  g_autoptr(GEnumClass) klass = g_type_class_ref (type);
  GEnumValue *v = g_enum_get_value (klass, value);

  return v != NULL ? v->value_nick : NULL;
}

JsonNode *
drape_try_on_settings_to_json (DrapeTryOnSettings *self)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  g_return_val_if_fail (DRAPE_IS_TRY_ON_SETTINGS (self), NULL);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "steps");
  json_builder_add_int_value (builder, self->steps);
  json_builder_set_member_name (builder, "guidance");
  json_builder_add_double_value (builder, self->guidance);
  json_builder_set_member_name (builder, "seed");
  json_builder_add_int_value (builder, (gint64) self->seed);
  json_builder_set_member_name (builder, "scheduler");
  json_builder_add_string_value (builder, enum_nick (DRAPE_TYPE_SCHEDULER_KIND, self->scheduler));
  json_builder_set_member_name (builder, "size");
  json_builder_add_string_value (builder, enum_nick (DRAPE_TYPE_TRY_ON_SIZE, self->size));
  json_builder_set_member_name (builder, "repaint");
  json_builder_add_boolean_value (builder, self->repaint);
  json_builder_end_object (builder);
  return json_builder_get_root (builder);
}

static gboolean
read_number (JsonObject  *object,
             const char  *member,
             double       min,
             double       max,
             double      *out,
             GError     **error)
{
  JsonNode *node = json_object_get_member (object, member);

  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) ||
      (json_node_get_value_type (node) != G_TYPE_INT64 &&
       json_node_get_value_type (node) != G_TYPE_DOUBLE))
    {
      g_set_error (error, DRAPE_APP_ERROR, DRAPE_APP_ERROR_INVALID,
                   _("The setting “%s” is not a number"), member);
      return FALSE;
    }
  *out = json_node_get_double (node);
  if (*out < min || *out > max)
    {
      g_set_error (error, DRAPE_APP_ERROR, DRAPE_APP_ERROR_INVALID,
                   _("The setting “%s” is %g, outside %g to %g"), member, *out, min, max);
      return FALSE;
    }
  return TRUE;
}

static gboolean
read_enum (JsonObject  *object,
           const char  *member,
           GType        type,
           int         *out,
           GError     **error)
{
  JsonNode *node = json_object_get_member (object, member);
  g_autoptr(GEnumClass) klass = NULL;
  GEnumValue *value;
  const char *nick;

  if (node == NULL)
    return TRUE;
  nick = JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING
         ? json_node_get_string (node) : NULL;
  klass = g_type_class_ref (type);
  value = nick != NULL ? g_enum_get_value_by_nick (klass, nick) : NULL;
  if (value == NULL)
    {
      g_set_error (error, DRAPE_APP_ERROR, DRAPE_APP_ERROR_INVALID,
                   _("The setting “%s” has a value this version of Drape does not know"), member);
      return FALSE;
    }
  *out = value->value;
  return TRUE;
}

gboolean
drape_try_on_settings_load_json (DrapeTryOnSettings  *self,
                                 JsonObject          *object,
                                 GError             **error)
{
  double steps = self->steps, guidance = self->guidance, seed = (double) self->seed;
  int scheduler = self->scheduler, size = self->size;
  gboolean repaint = self->repaint;
  JsonNode *node;

  g_return_val_if_fail (DRAPE_IS_TRY_ON_SETTINGS (self), FALSE);

  if (!read_number (object, "steps", 1, MAX_STEPS, &steps, error) ||
      !read_number (object, "guidance", 0.0, MAX_GUIDANCE, &guidance, error) ||
      !read_number (object, "seed", 0, MAX_SEED, &seed, error) ||
      !read_enum (object, "scheduler", DRAPE_TYPE_SCHEDULER_KIND, &scheduler, error) ||
      !read_enum (object, "size", DRAPE_TYPE_TRY_ON_SIZE, &size, error))
    return FALSE;
  node = json_object_get_member (object, "repaint");
  if (node != NULL)
    {
      if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
        {
          g_set_error (error, DRAPE_APP_ERROR, DRAPE_APP_ERROR_INVALID,
                       _("The setting “%s” is not true or false"), "repaint");
          return FALSE;
        }
      repaint = json_node_get_boolean (node);
    }

  g_object_freeze_notify (G_OBJECT (self));
  drape_try_on_settings_set_steps (self, (guint) steps);
  drape_try_on_settings_set_guidance (self, guidance);
  drape_try_on_settings_set_seed (self, (guint64) seed);
  drape_try_on_settings_set_scheduler (self, scheduler);
  drape_try_on_settings_set_size (self, size);
  drape_try_on_settings_set_repaint (self, repaint);
  g_object_thaw_notify (G_OBJECT (self));
  return TRUE;
}
