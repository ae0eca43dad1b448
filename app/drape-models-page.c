/* drape-models-page.c: the first-run page: which models Drape needs,
 * their sizes and licences, and downloading them
 *
 * The state shown is the model store's quick check (sizes and records,
 * no hashing), which is cheap enough for the main thread; the try-on
 * verifies the files fully when it loads them.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>

#include "drape-file-chooser.h"
#include "drape-models-page.h"
#include "drape-util.h"
#include "error.h"
#include "model-store.h"

struct _DrapeModelsPage
{
  AdwBin parent_instance;

  AdwPreferencesGroup *models_group;
  GtkLabel *error_label;
  GtkWidget *progress_box;
  GtkProgressBar *progress_bar;
  GtkLabel *progress_label;
  GtkStack *download_stack;
  GtkWidget *download_button;
  GtkWidget *folder_button;

  GSettings *settings;
  DrapeModelStore *store;
  GPtrArray *rows;
  GCancellable *fetch_cancellable;
  gboolean ready;
};

enum {
  PROP_0,
  PROP_READY,
  N_PROPS
};

enum {
  SKIPPED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (DrapeModelsPage, drape_models_page, ADW_TYPE_BIN)

static void
show_error (DrapeModelsPage *self,
            const char      *message)
{
  gtk_label_set_label (self->error_label, message != NULL ? message : "");
  gtk_widget_set_visible (GTK_WIDGET (self->error_label), message != NULL);
}

static void
set_ready (DrapeModelsPage *self,
           gboolean         ready)
{
  if (self->ready == ready)
    return;
  self->ready = ready;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_READY]);
}

static const char *
state_label (DrapeModelState state)
{
  switch (state)
    {
    case DRAPE_MODEL_MISSING:
      return _("Not downloaded");
    case DRAPE_MODEL_PARTIAL:
      return _("Partly downloaded");
    case DRAPE_MODEL_UNVERIFIED:
    case DRAPE_MODEL_VERIFIED:
      return _("Ready");
    case DRAPE_MODEL_CORRUPT:
      return _("Damaged");
    default:
      return "";
    }
}

static void
clear_rows (DrapeModelsPage *self)
{
  for (guint i = 0; i < self->rows->len; i++)
    adw_preferences_group_remove (self->models_group, g_ptr_array_index (self->rows, i));
  g_ptr_array_set_size (self->rows, 0);
}

void
drape_models_page_refresh (DrapeModelsPage *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeCatalog) catalog = NULL;
  g_autofree char *setting = NULL;
  g_autofree char *dir = NULL;
  g_auto(GStrv) ids = NULL;
  gboolean ready = TRUE;
  guint64 total = 0;
  g_autofree char *total_text = NULL;
  g_autofree char *description = NULL;

  g_return_if_fail (DRAPE_IS_MODELS_PAGE (self));

  clear_rows (self);
  show_error (self, NULL);
  g_clear_pointer (&self->store, drape_model_store_unref);

  catalog = drape_catalog_load_default (&error);
  if (catalog == NULL)
    {
      show_error (self, error->message);
      set_ready (self, FALSE);
      return;
    }
  setting = g_settings_get_string (self->settings, "models-dir");
  dir = drape_model_store_resolve_dir (setting);
  self->store = drape_model_store_new (catalog, dir);

  ids = drape_catalog_dup_default_ids (catalog);
  for (guint i = 0; ids[i] != NULL; i++)
    {
      const DrapeModelInfo *info = drape_catalog_lookup (catalog, ids[i]);
      g_auto(DrapeModelStatus) status = { 0 };
      g_autofree char *size = NULL;
      g_autofree char *subtitle = NULL;
      GtkWidget *row, *label;
      gboolean exact;

      if (info == NULL)
        continue;
      total += drape_model_info_get_size (info, &exact);
      size = g_format_size (drape_model_info_get_size (info, &exact));
      subtitle = g_strdup_printf ("%s%s · %s%s%s", exact ? "" : "≥ ", size, info->licence_name,
                                  info->licence_note != NULL ? "\n" : "",
                                  info->licence_note != NULL ? info->licence_note : "");
      row = adw_action_row_new ();
      adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), info->name);
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
      gtk_widget_set_tooltip_text (row, info->description);

      if (!drape_model_store_check (self->store, info, DRAPE_CHECK_QUICK, NULL, NULL, NULL, &status, &error))
        {
          label = gtk_label_new (error->message);
          g_clear_error (&error);
          ready = FALSE;
        }
      else
        {
          label = gtk_label_new (state_label (status.state));
          if (status.state != DRAPE_MODEL_VERIFIED && status.state != DRAPE_MODEL_UNVERIFIED)
            ready = FALSE;
          if (status.message != NULL)
            gtk_widget_set_tooltip_text (label, status.message);
        }
      gtk_widget_add_css_class (label, "dim-label");
      gtk_label_set_wrap (GTK_LABEL (label), TRUE);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), label);
      adw_preferences_group_add (self->models_group, row);
      g_ptr_array_add (self->rows, row);
    }
  total_text = g_format_size (total);
  /* Translators: the first is a size such as "2.4 GB", the second a folder. */
  description = g_strdup_printf (_("%s in all, kept in %s"), total_text, dir);
  adw_preferences_group_set_description (self->models_group, description);
  gtk_widget_set_sensitive (self->download_button, !ready);
  set_ready (self, ready);
}

/* ---- downloading -------------------------------------------------------- */

static void
on_fetch_progress (const DrapeFetchProgress *progress,
                   gpointer                  user_data)
{
  DrapeModelsPage *self = user_data;
  g_autofree char *done = g_format_size (progress->done);
  g_autofree char *total = g_format_size (progress->total);
  g_autofree char *text = NULL;

  if (progress->total > 0)
    gtk_progress_bar_set_fraction (self->progress_bar, (double) progress->done / progress->total);
  else
    gtk_progress_bar_pulse (self->progress_bar);

  if (progress->phase == DRAPE_FETCH_CHECKING)
    text = g_strdup_printf (_("Checking %s"), progress->file);
  else if (progress->eta_s >= 60)
    text = g_strdup_printf (_("%s: %s of %s, about %.0f min left"), progress->file, done, total,
                            progress->eta_s / 60);
  else if (progress->eta_s >= 0)
    text = g_strdup_printf (_("%s: %s of %s, less than a minute left"), progress->file, done, total);
  else
    text = g_strdup_printf (_("%s: %s of %s"), progress->file, done, total);
  gtk_label_set_label (self->progress_label, text);
}

static void
set_fetching (DrapeModelsPage *self,
              gboolean         fetching)
{
  gtk_widget_set_visible (self->progress_box, fetching);
  gtk_stack_set_visible_child_name (self->download_stack, fetching ? "cancel" : "download");
  gtk_widget_set_sensitive (self->folder_button, !fetching);
}

static void
on_fetch_done (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(DrapeModelsPage) self = user_data;
  g_autoptr(GError) error = NULL;

  g_clear_object (&self->fetch_cancellable);
  if (gtk_widget_get_root (GTK_WIDGET (self)) == NULL)
    return;
  set_fetching (self, FALSE);
  drape_models_page_refresh (self);
  if (!drape_model_store_fetch_finish ((DrapeModelStore *) object, result, &error))
    {
      if (g_error_matches (error, DRAPE_ERROR, DRAPE_ERROR_CANCELLED) ||
          g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        show_error (self, _("Download stopped. Downloading again resumes where it stopped."));
      else
        show_error (self, error->message);
    }
}

static void
on_download (DrapeModelsPage *self)
{
  if (self->store == NULL || self->fetch_cancellable != NULL)
    return;
  show_error (self, NULL);
  self->fetch_cancellable = g_cancellable_new ();
  set_fetching (self, TRUE);
  gtk_progress_bar_set_fraction (self->progress_bar, 0);
  gtk_label_set_label (self->progress_label, _("Connecting…"));
  drape_model_store_fetch_async (self->store, NULL, NULL,
                                 on_fetch_progress, g_object_ref (self), g_object_unref,
                                 self->fetch_cancellable, on_fetch_done, g_object_ref (self));
}

static void
on_cancel (DrapeModelsPage *self)
{
  g_cancellable_cancel (self->fetch_cancellable);
}

static void
on_folder_chosen (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(DrapeModelsPage) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GListModel) files = drape_file_chooser_open_finish (result, &error);
  g_autoptr(GFile) folder = NULL;
  g_autofree char *path = NULL;

  if (files == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        show_error (self, error->message);
      return;
    }
  folder = g_list_model_get_item (files, 0);
  path = g_file_get_path (folder);
  if (path == NULL)
    show_error (self, _("Choose a local folder"));
  else
    g_settings_set_string (self->settings, "models-dir", path);
}

static void
on_use_folder (DrapeModelsPage *self)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));

  drape_file_chooser_open_async (GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL, _("Models Folder"),
                                 DRAPE_FILE_KIND_FOLDER, FALSE, NULL, on_folder_chosen, g_object_ref (self));
}

static void
skip_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *parameter)
{
  g_signal_emit (widget, signals[SKIPPED], 0);
}

/* ---- GObject -------------------------------------------------------------- */

static void
drape_models_page_dispose (GObject *object)
{
  DrapeModelsPage *self = DRAPE_MODELS_PAGE (object);

  /* A running download stops; its partial files are kept for a resume. */
  g_cancellable_cancel (self->fetch_cancellable);
  g_clear_object (&self->fetch_cancellable);
  gtk_widget_dispose_template (GTK_WIDGET (self), DRAPE_TYPE_MODELS_PAGE);
  g_clear_pointer (&self->store, drape_model_store_unref);
  g_clear_pointer (&self->rows, g_ptr_array_unref);
  g_clear_object (&self->settings);

  G_OBJECT_CLASS (drape_models_page_parent_class)->dispose (object);
}

static void
drape_models_page_get_property (GObject    *object,
                                guint       prop_id,
                                GValue     *value,
                                GParamSpec *pspec)
{
  DrapeModelsPage *self = DRAPE_MODELS_PAGE (object);

  switch (prop_id)
    {
    case PROP_READY:
      g_value_set_boolean (value, self->ready);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
drape_models_page_class_init (DrapeModelsPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = drape_models_page_dispose;
  object_class->get_property = drape_models_page_get_property;

  properties[PROP_READY] =
    g_param_spec_boolean ("ready", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /* The user chose to go on without the models for now. */
  signals[SKIPPED] =
    g_signal_new ("skipped", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);

  gtk_widget_class_set_template_from_resource (widget_class, "/app/drape/Drape/drape-models-page.ui");
  gtk_widget_class_bind_template_child (widget_class, DrapeModelsPage, models_group);
  gtk_widget_class_bind_template_child (widget_class, DrapeModelsPage, error_label);
  gtk_widget_class_bind_template_child (widget_class, DrapeModelsPage, progress_box);
  gtk_widget_class_bind_template_child (widget_class, DrapeModelsPage, progress_bar);
  gtk_widget_class_bind_template_child (widget_class, DrapeModelsPage, progress_label);
  gtk_widget_class_bind_template_child (widget_class, DrapeModelsPage, download_stack);
  gtk_widget_class_bind_template_child (widget_class, DrapeModelsPage, download_button);
  gtk_widget_class_bind_template_child (widget_class, DrapeModelsPage, folder_button);
  gtk_widget_class_bind_template_callback (widget_class, on_download);
  gtk_widget_class_bind_template_callback (widget_class, on_cancel);
  gtk_widget_class_bind_template_callback (widget_class, on_use_folder);

  gtk_widget_class_install_action (widget_class, "models.skip", NULL, skip_action);
}

static void
drape_models_page_init (DrapeModelsPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  self->rows = g_ptr_array_new ();
  self->settings = g_settings_new ("app.drape.Drape");
  g_signal_connect_object (self->settings, "changed::models-dir",
                           G_CALLBACK (drape_models_page_refresh), self, G_CONNECT_SWAPPED);
  drape_models_page_refresh (self);
}

GtkWidget *
drape_models_page_new (void)
{
  return g_object_new (DRAPE_TYPE_MODELS_PAGE, NULL);
}

gboolean
drape_models_page_get_ready (DrapeModelsPage *self)
{
  g_return_val_if_fail (DRAPE_IS_MODELS_PAGE (self), FALSE);
  return self->ready;
}
