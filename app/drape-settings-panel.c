/* drape-settings-panel.c: the try-on settings of a session, as rows
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "drape-settings-panel.h"

struct _DrapeSettingsPanel
{
  AdwBin parent_instance;

  GtkAdjustment *steps_adjustment;
  GtkAdjustment *guidance_adjustment;
  GtkAdjustment *seed_adjustment;
  AdwComboRow *scheduler;
  AdwComboRow *size;
  GtkSwitch *repaint;

  DrapeTryOnSettings *settings;
  GPtrArray *bindings;
};

enum {
  PROP_0,
  PROP_SETTINGS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (DrapeSettingsPanel, drape_settings_panel, ADW_TYPE_BIN)

static gboolean
enum_to_selected (GBinding     *binding,
                  const GValue *from,
                  GValue       *to,
                  gpointer      user_data)
{
  g_value_set_uint (to, (guint) g_value_get_enum (from));
  return TRUE;
}

static gboolean
selected_to_enum (GBinding     *binding,
                  const GValue *from,
                  GValue       *to,
                  gpointer      user_data)
{
  guint selected = g_value_get_uint (from);

  if (selected == GTK_INVALID_LIST_POSITION)
    return FALSE;
  g_value_set_enum (to, (int) selected);
  return TRUE;
}

static void
unbind (DrapeSettingsPanel *self)
{
  for (guint i = 0; i < self->bindings->len; i++)
    g_binding_unbind (g_ptr_array_index (self->bindings, i));
  g_ptr_array_set_size (self->bindings, 0);
}

static void
bind (DrapeSettingsPanel *self,
      const char         *property,
      gpointer            target,
      const char         *target_property,
      gboolean            is_enum)
{
  GBindingFlags flags = G_BINDING_BIDIRECTIONAL | G_BINDING_SYNC_CREATE;
  GBinding *binding;

  if (is_enum)
    binding = g_object_bind_property_full (self->settings, property, target, target_property, flags,
                                           enum_to_selected, selected_to_enum, NULL, NULL);
  else
    binding = g_object_bind_property (self->settings, property, target, target_property, flags);
  g_ptr_array_add (self->bindings, binding);
}

static void
random_seed_action (GtkWidget  *widget,
                    const char *action_name,
                    GVariant   *parameter)
{
  DrapeSettingsPanel *self = DRAPE_SETTINGS_PANEL (widget);

  if (self->settings != NULL)
    drape_try_on_settings_set_seed (self->settings, g_random_int ());
}

static void
drape_settings_panel_dispose (GObject *object)
{
  DrapeSettingsPanel *self = DRAPE_SETTINGS_PANEL (object);

  unbind (self);
  g_clear_object (&self->settings);
  gtk_widget_dispose_template (GTK_WIDGET (self), DRAPE_TYPE_SETTINGS_PANEL);

  G_OBJECT_CLASS (drape_settings_panel_parent_class)->dispose (object);
}

static void
drape_settings_panel_finalize (GObject *object)
{
  DrapeSettingsPanel *self = DRAPE_SETTINGS_PANEL (object);

  g_clear_pointer (&self->bindings, g_ptr_array_unref);

  G_OBJECT_CLASS (drape_settings_panel_parent_class)->finalize (object);
}

static void
drape_settings_panel_get_property (GObject    *object,
                                   guint       prop_id,
                                   GValue     *value,
                                   GParamSpec *pspec)
{
  DrapeSettingsPanel *self = DRAPE_SETTINGS_PANEL (object);

  switch (prop_id)
    {
    case PROP_SETTINGS:
      g_value_set_object (value, self->settings);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
drape_settings_panel_set_property (GObject      *object,
                                   guint         prop_id,
                                   const GValue *value,
                                   GParamSpec   *pspec)
{
  DrapeSettingsPanel *self = DRAPE_SETTINGS_PANEL (object);

  switch (prop_id)
    {
    case PROP_SETTINGS:
      drape_settings_panel_set_settings (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
drape_settings_panel_class_init (DrapeSettingsPanelClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = drape_settings_panel_dispose;
  object_class->finalize = drape_settings_panel_finalize;
  object_class->get_property = drape_settings_panel_get_property;
  object_class->set_property = drape_settings_panel_set_property;

  properties[PROP_SETTINGS] =
    g_param_spec_object ("settings", NULL, NULL, DRAPE_TYPE_TRY_ON_SETTINGS,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class, "/app/drape/Drape/drape-settings-panel.ui");
  gtk_widget_class_bind_template_child (widget_class, DrapeSettingsPanel, steps_adjustment);
  gtk_widget_class_bind_template_child (widget_class, DrapeSettingsPanel, guidance_adjustment);
  gtk_widget_class_bind_template_child (widget_class, DrapeSettingsPanel, seed_adjustment);
  gtk_widget_class_bind_template_child (widget_class, DrapeSettingsPanel, scheduler);
  gtk_widget_class_bind_template_child (widget_class, DrapeSettingsPanel, size);
  gtk_widget_class_bind_template_child (widget_class, DrapeSettingsPanel, repaint);

  gtk_widget_class_install_action (widget_class, "settings.random-seed", NULL, random_seed_action);
}

static void
drape_settings_panel_init (DrapeSettingsPanel *self)
{
  self->bindings = g_ptr_array_new ();
  gtk_widget_init_template (GTK_WIDGET (self));
  gtk_widget_set_sensitive (GTK_WIDGET (self), FALSE);
}

GtkWidget *
drape_settings_panel_new (void)
{
  return g_object_new (DRAPE_TYPE_SETTINGS_PANEL, NULL);
}

DrapeTryOnSettings *
drape_settings_panel_get_settings (DrapeSettingsPanel *self)
{
  g_return_val_if_fail (DRAPE_IS_SETTINGS_PANEL (self), NULL);
  return self->settings;
}

void
drape_settings_panel_set_settings (DrapeSettingsPanel *self,
                                   DrapeTryOnSettings *settings)
{
  g_return_if_fail (DRAPE_IS_SETTINGS_PANEL (self));
  g_return_if_fail (settings == NULL || DRAPE_IS_TRY_ON_SETTINGS (settings));

  if (self->settings == settings)
    return;
  unbind (self);
  g_set_object (&self->settings, settings);
  if (settings != NULL)
    {
      bind (self, "steps", self->steps_adjustment, "value", FALSE);
      bind (self, "guidance", self->guidance_adjustment, "value", FALSE);
      bind (self, "seed", self->seed_adjustment, "value", FALSE);
      bind (self, "scheduler", self->scheduler, "selected", TRUE);
      bind (self, "size", self->size, "selected", TRUE);
      bind (self, "repaint", self->repaint, "active", FALSE);
    }
  gtk_widget_set_sensitive (GTK_WIDGET (self), settings != NULL);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SETTINGS]);
}
