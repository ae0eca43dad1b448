/* drape-preferences-page.c: the preferences, as one page
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>

#include "device.h"
#include "drape-enums.h"
#include "drape-file-chooser.h"
#include "drape-preferences-page.h"
#include "drape-try-on-settings.h"
#include "drape-util.h"

struct _DrapePreferencesPage
{
  AdwPreferencesPage parent_instance;

  AdwActionRow *models_row;
  GtkWidget *models_reset;
  AdwComboRow *device_row;
  GtkStringList *devices;
  AdwComboRow *precision_row;
  GtkAdjustment *steps_adjustment;
  GtkAdjustment *guidance_adjustment;
  AdwComboRow *size_row;
  AdwComboRow *scheduler_row;
  AdwActionRow *garments_row;
  GtkWidget *garments_reset;
  AdwActionRow *tune_row;
  GtkSpinner *tune_spinner;
  GtkButton *tune_button;

  GSettings *settings;
  GCancellable *cancellable;
  DrapeEngine *engine;
  /* The speed measurement under way, or NULL. */
  GCancellable *tune_cancellable;
  /* Device names in the order of the GPU row, after "Automatic". */
  GPtrArray *device_names;
  gboolean updating_devices;
};

G_DEFINE_FINAL_TYPE (DrapePreferencesPage, drape_preferences_page, ADW_TYPE_PREFERENCES_PAGE)

static const char *const precisions[] = { "f16", "f32" };

/* ---- enum keys as combo rows ------------------------------------------ */

static gboolean
nick_to_selected (GValue   *value,
                  GVariant *variant,
                  gpointer  user_data)
{
  g_autoptr(GEnumClass) klass = g_type_class_ref ((GType) GPOINTER_TO_SIZE (user_data));
  GEnumValue *v = g_enum_get_value_by_nick (klass, g_variant_get_string (variant, NULL));

  if (v == NULL)
    return FALSE;
  g_value_set_uint (value, (guint) v->value);
  return TRUE;
}

static GVariant *
selected_to_nick (const GValue       *value,
                  const GVariantType *type,
                  gpointer            user_data)
{
  g_autoptr(GEnumClass) klass = g_type_class_ref ((GType) GPOINTER_TO_SIZE (user_data));
  GEnumValue *v = g_enum_get_value (klass, (int) g_value_get_uint (value));

  return v != NULL ? g_variant_new_string (v->value_nick) : NULL;
}

static gboolean
precision_to_selected (GValue   *value,
                       GVariant *variant,
                       gpointer  user_data)
{
  const char *nick = g_variant_get_string (variant, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (precisions); i++)
    if (g_str_equal (nick, precisions[i]))
      {
        g_value_set_uint (value, i);
        return TRUE;
      }
  return FALSE;
}

static GVariant *
selected_to_precision (const GValue       *value,
                       const GVariantType *type,
                       gpointer            user_data)
{
  guint i = g_value_get_uint (value);

  return i < G_N_ELEMENTS (precisions) ? g_variant_new_string (precisions[i]) : NULL;
}

static void
bind_enum (DrapePreferencesPage *self,
           const char           *key,
           AdwComboRow          *row,
           GType                 type)
{
  g_settings_bind_with_mapping (self->settings, key, row, "selected", G_SETTINGS_BIND_DEFAULT,
                                nick_to_selected, selected_to_nick,
                                GSIZE_TO_POINTER ((gsize) type), NULL);
}

/* ---- folders ---------------------------------------------------------- */

static void
update_folders (DrapePreferencesPage *self)
{
  g_autofree char *models = g_settings_get_string (self->settings, "models-dir");
  g_autofree char *garments = g_settings_get_string (self->settings, "garments-dir");

  if (models[0] != '\0')
    adw_action_row_set_subtitle (self->models_row, models);
  else
    {
      g_autofree char *fallback = g_build_filename (g_get_user_data_dir (), "drape", "models", NULL);
      g_autofree char *subtitle = g_strdup_printf (_("%s (Drape’s own folder)"), fallback);

      adw_action_row_set_subtitle (self->models_row, subtitle);
    }
  gtk_widget_set_sensitive (self->models_reset, models[0] != '\0');

  adw_action_row_set_subtitle (self->garments_row,
                               garments[0] != '\0' ? garments : _("None: only garments you add"));
  gtk_widget_set_sensitive (self->garments_reset, garments[0] != '\0');
}

typedef struct {
  DrapePreferencesPage *self;
  const char *key;
} FolderChoice;

static void
on_folder_chosen (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  FolderChoice *choice = user_data;
  g_autoptr(DrapePreferencesPage) self = choice->self;
  g_autoptr(GError) error = NULL;
  g_autoptr(GListModel) files = drape_file_chooser_open_finish (result, &error);
  const char *key = choice->key;

  g_free (choice);
  if (files != NULL)
    {
      g_autoptr(GFile) folder = g_list_model_get_item (files, 0);
      g_autofree char *path = g_file_get_path (folder);

      if (path != NULL)
        g_settings_set_string (self->settings, key, path);
      else
        drape_widget_show_toast (GTK_WIDGET (self), _("Choose a local folder"));
    }
  else if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    drape_widget_show_toast (GTK_WIDGET (self), error->message);
}

static void
choose_folder (DrapePreferencesPage *self,
               const char           *title,
               const char           *key)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  FolderChoice *choice = g_new0 (FolderChoice, 1);

  choice->self = g_object_ref (self);
  choice->key = key;
  drape_file_chooser_open_async (GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL, title,
                                 DRAPE_FILE_KIND_FOLDER, FALSE, NULL, on_folder_chosen, choice);
}

static void
on_models_choose (DrapePreferencesPage *self)
{
  choose_folder (self, _("Models Folder"), "models-dir");
}

static void
on_models_reset (DrapePreferencesPage *self)
{
  g_settings_reset (self->settings, "models-dir");
}

static void
on_garments_choose (DrapePreferencesPage *self)
{
  choose_folder (self, _("Garments Folder"), "garments-dir");
}

static void
on_garments_reset (DrapePreferencesPage *self)
{
  g_settings_reset (self->settings, "garments-dir");
}

/* ---- devices ------------------------------------------------------------ */

static void
list_devices_thread (GTask        *task,
                     gpointer      source_object,
                     gpointer      task_data,
                     GCancellable *cancellable)
{
  GError *error = NULL;
  GPtrArray *list = drape_device_list (&error);

  if (list == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, list, (GDestroyNotify) g_ptr_array_unref);
}

static void
select_device (DrapePreferencesPage *self)
{
  g_autofree char *name = g_settings_get_string (self->settings, "device");
  guint selected = 0;

  for (guint i = 0; i < self->device_names->len; i++)
    if (g_str_equal (name, g_ptr_array_index (self->device_names, i)))
      selected = i + 1;
  self->updating_devices = TRUE;
  adw_combo_row_set_selected (self->device_row, selected);
  self->updating_devices = FALSE;
}

static void
devices_listed (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  DrapePreferencesPage *self = DRAPE_PREFERENCES_PAGE (object);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) list = g_task_propagate_pointer (G_TASK (result), &error);

  if (list == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        adw_action_row_set_subtitle (ADW_ACTION_ROW (self->device_row), error->message);
      return;
    }
  for (guint i = 0; i < list->len; i++)
    {
      const DrapeDeviceInfo *info = g_ptr_array_index (list, i);
      g_autofree char *label = NULL;

      if (!info->usable)
        continue;
      if (info->is_software)
        label = g_strdup_printf (_("%s (software: runs on the processor, slowly)"), info->name);
      else
        label = g_strdup_printf ("%s (%s)", info->name, drape_device_type_to_string (info->type));
      gtk_string_list_append (self->devices, label);
      g_ptr_array_add (self->device_names, g_strdup (info->name));
    }
  select_device (self);
}

static void
on_device_selected (DrapePreferencesPage *self)
{
  guint selected = adw_combo_row_get_selected (self->device_row);

  if (self->updating_devices || selected == GTK_INVALID_LIST_POSITION)
    return;
  g_settings_set_string (self->settings, "device",
                         selected == 0 ? "" : g_ptr_array_index (self->device_names, selected - 1));
}

/* ---- speed on this GPU ---------------------------------------------------- */

static void
show_tune_idle (DrapePreferencesPage *self,
                const char           *subtitle)
{
  gtk_spinner_stop (self->tune_spinner);
  gtk_widget_set_visible (GTK_WIDGET (self->tune_spinner), FALSE);
  gtk_button_set_label (self->tune_button, _("Measure"));
  adw_action_row_set_subtitle (self->tune_row, subtitle);
}

static void
show_tune_default (DrapePreferencesPage *self)
{
  show_tune_idle (self, _("Times each layer’s ways to run at the default size and keeps the fastest; "
                          "takes minutes"));
}

static void
on_tuning_described (GObject      *object,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(DrapePreferencesPage) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *subtitle = NULL;
  guint problems;
  DrapeEngineTuningSource source = drape_engine_describe_tuning_finish (DRAPE_ENGINE (object), result,
                                                                        &problems, &error);

  /* Cancelled: the page is gone; any other error is the next try-on's to
   * report; and a measurement under way says what it does. */
  if (error != NULL || self->tune_cancellable != NULL)
    return;
  if (source == DRAPE_ENGINE_TUNING_OWN && problems == 0)
    subtitle = g_strdup (_("Measured on this GPU: no layer had a choice of ways"));
  else if (source == DRAPE_ENGINE_TUNING_OWN)
    subtitle = g_strdup_printf (ngettext ("Measured on this GPU: %u layer", "Measured on this GPU: %u layers",
                                          problems), problems);
  else if (source == DRAPE_ENGINE_TUNING_SHIPPED)
    subtitle = g_strdup_printf (ngettext ("Drape’s measurements of this model of GPU: %u layer",
                                          "Drape’s measurements of this model of GPU: %u layers", problems),
                                problems);
  if (subtitle != NULL)
    show_tune_idle (self, subtitle);
}

static void
on_tune_progress (const DrapeEngineProgress *progress,
                  gpointer                   user_data)
{
  DrapePreferencesPage *self = user_data;
  g_autofree char *subtitle = NULL;

  /* Progress may still come once the page is disposed (engine NULL). */
  if (self->engine == NULL || progress->status == NULL)
    return;
  /* The first trial says how many there are. */
  if (progress->n_steps > 0)
    subtitle = g_strdup_printf (_("%s %u of %u"), progress->status, progress->step, progress->n_steps);
  adw_action_row_set_subtitle (self->tune_row, subtitle != NULL ? subtitle : progress->status);
}

static void
on_tuned (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(DrapePreferencesPage) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree DrapeTuningGain *gain = drape_engine_tune_finish (DRAPE_ENGINE (object), result, &error);
  g_autofree char *summary = NULL;

  g_clear_object (&self->tune_cancellable);
  /* Closing Preferences stops the measurement (what it measured is
   * kept): no one is left to tell. */
  if (self->engine == NULL)
    return;
  if (gain == NULL)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          show_tune_idle (self, _("Stopped: what was measured so far is kept"));
          return;
        }
      show_tune_default (self);
      drape_widget_show_toast (GTK_WIDGET (self), error->message);
      return;
    }
  if (gain->faster == 0 || gain->usual_ms <= 0)
    summary = g_strdup (_("Measured: the usual ways were the fastest"));
  else
    /* Translators: the first number counts layers, the second is a percentage. */
    summary = g_strdup_printf (ngettext ("Measured: %u layer runs faster another way, %.0f%% less time",
                                         "Measured: %u layers run faster another way, %.0f%% less time",
                                         gain->faster),
                               gain->faster, 100 * (1 - gain->ms / gain->usual_ms));
  show_tune_idle (self, summary);
  drape_widget_show_toast (GTK_WIDGET (self), summary);
}

static void
on_tune_clicked (DrapePreferencesPage *self)
{
  g_autoptr(DrapeTryOnSettings) settings = NULL;

  if (self->tune_cancellable != NULL)
    {
      g_cancellable_cancel (self->tune_cancellable);
      return;
    }
  settings = drape_try_on_settings_new ();
  drape_try_on_settings_set_size (settings, g_settings_get_enum (self->settings, "default-size"));
  self->tune_cancellable = g_cancellable_new ();
  gtk_button_set_label (self->tune_button, _("Stop"));
  gtk_widget_set_visible (GTK_WIDGET (self->tune_spinner), TRUE);
  gtk_spinner_start (self->tune_spinner);
  adw_action_row_set_subtitle (self->tune_row, _("Waiting for the GPU…"));
  drape_engine_tune_async (self->engine, settings, on_tune_progress, self, NULL, self->tune_cancellable,
                           on_tuned, g_object_ref (self));
}

/* ---- GObject ------------------------------------------------------------- */

static void
drape_preferences_page_dispose (GObject *object)
{
  DrapePreferencesPage *self = DRAPE_PREFERENCES_PAGE (object);

  g_cancellable_cancel (self->cancellable);
  g_cancellable_cancel (self->tune_cancellable);
  gtk_widget_dispose_template (GTK_WIDGET (self), DRAPE_TYPE_PREFERENCES_PAGE);
  g_clear_object (&self->settings);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->tune_cancellable);
  g_clear_object (&self->engine);
  g_clear_pointer (&self->device_names, g_ptr_array_unref);

  G_OBJECT_CLASS (drape_preferences_page_parent_class)->dispose (object);
}

static void
drape_preferences_page_class_init (DrapePreferencesPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = drape_preferences_page_dispose;

  gtk_widget_class_set_template_from_resource (widget_class, "/app/drape/Drape/drape-preferences-page.ui");
  gtk_widget_class_bind_template_child (widget_class, DrapePreferencesPage, models_row);
  gtk_widget_class_bind_template_child (widget_class, DrapePreferencesPage, models_reset);
  gtk_widget_class_bind_template_child (widget_class, DrapePreferencesPage, device_row);
  gtk_widget_class_bind_template_child (widget_class, DrapePreferencesPage, devices);
  gtk_widget_class_bind_template_child (widget_class, DrapePreferencesPage, precision_row);
  gtk_widget_class_bind_template_child (widget_class, DrapePreferencesPage, steps_adjustment);
  gtk_widget_class_bind_template_child (widget_class, DrapePreferencesPage, guidance_adjustment);
  gtk_widget_class_bind_template_child (widget_class, DrapePreferencesPage, size_row);
  gtk_widget_class_bind_template_child (widget_class, DrapePreferencesPage, scheduler_row);
  gtk_widget_class_bind_template_child (widget_class, DrapePreferencesPage, garments_row);
  gtk_widget_class_bind_template_child (widget_class, DrapePreferencesPage, garments_reset);
  gtk_widget_class_bind_template_child (widget_class, DrapePreferencesPage, tune_row);
  gtk_widget_class_bind_template_child (widget_class, DrapePreferencesPage, tune_spinner);
  gtk_widget_class_bind_template_child (widget_class, DrapePreferencesPage, tune_button);
  gtk_widget_class_bind_template_callback (widget_class, on_models_choose);
  gtk_widget_class_bind_template_callback (widget_class, on_models_reset);
  gtk_widget_class_bind_template_callback (widget_class, on_garments_choose);
  gtk_widget_class_bind_template_callback (widget_class, on_garments_reset);
  gtk_widget_class_bind_template_callback (widget_class, on_tune_clicked);
}

static void
drape_preferences_page_init (DrapePreferencesPage *self)
{
  g_autoptr(GTask) task = NULL;

  gtk_widget_init_template (GTK_WIDGET (self));

  self->settings = g_settings_new ("app.drape.Drape");
  self->cancellable = g_cancellable_new ();
  self->device_names = g_ptr_array_new_with_free_func (g_free);

  g_settings_bind (self->settings, "default-steps", self->steps_adjustment, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "default-guidance", self->guidance_adjustment, "value", G_SETTINGS_BIND_DEFAULT);
  bind_enum (self, "default-size", self->size_row, DRAPE_TYPE_TRY_ON_SIZE);
  bind_enum (self, "default-scheduler", self->scheduler_row, DRAPE_TYPE_SCHEDULER_KIND);
  g_settings_bind_with_mapping (self->settings, "precision", self->precision_row, "selected",
                                G_SETTINGS_BIND_DEFAULT, precision_to_selected, selected_to_precision,
                                NULL, NULL);

  g_signal_connect_object (self->settings, "changed::models-dir", G_CALLBACK (update_folders),
                           self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->settings, "changed::garments-dir", G_CALLBACK (update_folders),
                           self, G_CONNECT_SWAPPED);
  update_folders (self);
  show_tune_default (self);

  gtk_string_list_append (self->devices, _("Automatic (a discrete GPU first)"));
  select_device (self);
  g_signal_connect_object (self->device_row, "notify::selected", G_CALLBACK (on_device_selected),
                           self, G_CONNECT_SWAPPED);
  task = g_task_new (self, self->cancellable, devices_listed, NULL);
  g_task_set_source_tag (task, drape_preferences_page_init);
  g_task_run_in_thread (task, list_devices_thread);
}

GtkWidget *
drape_preferences_page_new (DrapeEngine *engine)
{
  DrapePreferencesPage *self;

  g_return_val_if_fail (DRAPE_IS_ENGINE (engine), NULL);

  self = g_object_new (DRAPE_TYPE_PREFERENCES_PAGE, NULL);
  self->engine = g_object_ref (engine);
  drape_engine_describe_tuning_async (engine, self->cancellable, on_tuning_described, g_object_ref (self));
  return GTK_WIDGET (self);
}
