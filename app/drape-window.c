/* drape-window.c: the main window
 *
 * The window shows one DrapeSession: the photo and mask in the canvas,
 * the garment and settings in the side pane, results in the compare view
 * and the history strip.  Everything that changes the session goes
 * through the session object, and the session's "changed" signal drives
 * the autosave: a few seconds after the last change, and on close.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>

#include "drape-compare-view.h"
#include "drape-enums.h"
#include "drape-file-chooser.h"
#include "drape-garment-gallery.h"
#include "drape-mask-canvas.h"
#include "drape-models-page.h"
#include "drape-panes.h"
#include "drape-settings-panel.h"
#include "drape-util.h"
#include "drape-window.h"
#include "error.h"

/* Seconds without changes before the session is autosaved. */
#define AUTOSAVE_DELAY 3
#define MAX_RECENT 8
#define BRUSH_STEP 1.25

struct _DrapeWindow
{
  AdwApplicationWindow parent_instance;

  AdwToastOverlay *toast_overlay;
  AdwWindowTitle *window_title;
  GtkWidget *try_on_button;
  AdwButtonContent *open_button_content;
  GtkStack *main_stack;
  DrapeModelsPage *models_page;
  AdwPreferencesGroup *recent_group;
  GtkListBox *recent_list;
  DrapePanes *panes;
  GtkStack *tools_stack;
  GtkStack *view_stack;
  AdwButtonContent *mask_view_content;
  AdwButtonContent *result_view_content;
  DrapeMaskCanvas *canvas;
  GtkStack *result_stack;
  DrapeCompareView *compare_view;
  GtkRevealer *progress_revealer;
  GtkLabel *progress_label;
  GtkProgressBar *progress_bar;
  GtkRevealer *history_revealer;
  GtkListView *history_list;
  AdwActionRow *garment_row;
  GtkPicture *garment_picture;
  AdwComboRow *garment_type_row;
  DrapeGarmentGallery *gallery;
  DrapeSettingsPanel *settings_panel;
  GtkAdjustment *brush_size_adjustment;
  GtkAdjustment *brush_hardness_adjustment;
  GtkAdjustment *overlay_opacity_adjustment;

  GSettings *settings;
  DrapeSession *session;
  DrapeMask *mask;
  GtkSingleSelection *history_selection;
  GBinding *garment_type_binding;
  GCancellable *cancellable;
  /* Set while a try-on or an auto-mask runs. */
  GCancellable *try_on_cancellable;
  gboolean auto_masking;

  /* The models page stays up until the models are there or the user
   * chooses to go on without them. */
  gboolean show_models;

  guint select_source;
  guint autosave_source;
  gboolean autosave_dirty;
  gboolean autosaving;
  gboolean autosave_again;
};

enum {
  PROP_0,
  PROP_SESSION,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (DrapeWindow, drape_window, ADW_TYPE_APPLICATION_WINDOW)

static void set_view (DrapeWindow *self, const char *view);

void
drape_window_add_toast (DrapeWindow *self,
                        const char  *message)
{
  g_return_if_fail (DRAPE_IS_WINDOW (self));
  adw_toast_overlay_add_toast (self->toast_overlay, adw_toast_new (message));
}

static void
toast_error (DrapeWindow  *self,
             const GError *error)
{
  g_autofree char *message = drape_error_describe (error);
  AdwToast *toast = adw_toast_new (message);

  /* An error is news: it goes before toasts already waiting. */
  adw_toast_set_priority (toast, ADW_TOAST_PRIORITY_HIGH);
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

static void
action_set_enabled (DrapeWindow *self,
                    const char  *name,
                    gboolean     enabled)
{
  GAction *action = g_action_map_lookup_action (G_ACTION_MAP (self), name);

  g_simple_action_set_enabled (G_SIMPLE_ACTION (action), enabled);
}

/* ---- state of the controls ------------------------------------------- */

static void
update_try_on (DrapeWindow *self)
{
  DrapePicture *photo = drape_session_get_photo (self->session);
  DrapeMask *mask = drape_session_get_mask (self->session);
  const char *reason = NULL;

  if (self->try_on_cancellable != NULL)
    reason = _("A try-on is running");
  else if (!drape_models_page_get_ready (self->models_page))
    reason = _("Download the models first (Main Menu → Models)");
  else if (photo == NULL)
    reason = _("Open a photo of a person first");
  else if (mask == NULL || drape_mask_get_empty (mask))
    reason = _("Paint the region to dress first");
  else if (drape_session_get_garment (self->session) == NULL)
    reason = _("Choose a garment first");

  action_set_enabled (self, "try-on", reason == NULL);
  gtk_widget_set_tooltip_text (self->try_on_button,
                               reason != NULL ? reason : _("Dress the person in the garment (Ctrl+Enter)"));
}

static void
update_mask_actions (DrapeWindow *self)
{
  gboolean has_mask = self->mask != NULL;

  action_set_enabled (self, "undo", has_mask && drape_mask_get_can_undo (self->mask));
  action_set_enabled (self, "redo", has_mask && drape_mask_get_can_redo (self->mask));
  action_set_enabled (self, "mask-clear", has_mask);
  action_set_enabled (self, "mask-fill", has_mask);
  action_set_enabled (self, "mask-invert", has_mask);
  action_set_enabled (self, "auto-mask", has_mask && !self->auto_masking &&
                      drape_models_page_get_ready (self->models_page));
  update_try_on (self);
}

static DrapeResult *
selected_result (DrapeWindow *self)
{
  return self->history_selection != NULL
         ? gtk_single_selection_get_selected_item (self->history_selection) : NULL;
}

static void
update_result (DrapeWindow *self)
{
  DrapeResult *result = selected_result (self);
  guint n_results = g_list_model_get_n_items (drape_session_get_results (self->session));

  drape_compare_view_set_after (self->compare_view, result != NULL ? drape_result_get_texture (result) : NULL);
  gtk_stack_set_visible_child_name (self->result_stack, result != NULL ? "compare" : "empty");
  gtk_revealer_set_reveal_child (self->history_revealer, n_results > 0);
  action_set_enabled (self, "save-result", result != NULL);
  action_set_enabled (self, "copy-result", result != NULL);
  action_set_enabled (self, "reuse-settings", result != NULL);
}

static void
update_title (DrapeWindow *self)
{
  GFile *file = drape_session_get_file (self->session);
  g_autofree char *basename = file != NULL ? g_file_get_basename (file) : NULL;
  g_autofree char *name = basename != NULL ? g_filename_display_name (basename) : NULL;

  adw_window_title_set_subtitle (self->window_title, name);
}

static void
update_main_page (DrapeWindow *self)
{
  const char *page = "start";

  if (self->show_models && !drape_models_page_get_ready (self->models_page))
    page = "models";
  else if (drape_session_get_photo (self->session) != NULL)
    page = "edit";
  gtk_stack_set_visible_child_name (self->main_stack, page);
}

static void
update_photo (DrapeWindow *self)
{
  DrapePicture *photo = drape_session_get_photo (self->session);
  GdkTexture *texture = photo != NULL ? drape_picture_get_texture (photo) : NULL;

  drape_mask_canvas_set_photo (self->canvas, texture);
  drape_mask_canvas_set_photo_preview (self->canvas, photo != NULL ? drape_picture_get_preview (photo) : NULL);
  drape_compare_view_set_before (self->compare_view, texture);
  update_main_page (self);
  update_try_on (self);
}

static void
on_models_ready (DrapeWindow *self)
{
  if (drape_models_page_get_ready (self->models_page))
    self->show_models = FALSE;
  update_main_page (self);
  update_mask_actions (self);
}

static void
on_models_skipped (DrapeWindow *self)
{
  self->show_models = FALSE;
  update_main_page (self);
}

static void
show_models_action (GSimpleAction *action,
                    GVariant      *parameter,
                    gpointer       user_data)
{
  DrapeWindow *self = user_data;

  drape_models_page_refresh (self->models_page);
  self->show_models = TRUE;
  if (drape_models_page_get_ready (self->models_page))
    drape_window_add_toast (self, _("Every model is downloaded"));
  update_main_page (self);
}

static void
on_mask_notify (DrapeWindow *self)
{
  update_mask_actions (self);
}

static void
update_mask (DrapeWindow *self)
{
  DrapeMask *mask = drape_session_get_mask (self->session);

  if (self->mask != NULL)
    g_signal_handlers_disconnect_by_data (self->mask, self);
  g_set_object (&self->mask, mask);
  if (mask != NULL)
    {
      g_signal_connect_swapped (mask, "notify::can-undo", G_CALLBACK (on_mask_notify), self);
      g_signal_connect_swapped (mask, "notify::can-redo", G_CALLBACK (on_mask_notify), self);
      g_signal_connect_swapped (mask, "notify::empty", G_CALLBACK (on_mask_notify), self);
    }
  drape_mask_canvas_set_mask (self->canvas, mask);
  update_mask_actions (self);
}

static void
update_garment (DrapeWindow *self)
{
  DrapePicture *garment = drape_session_get_garment (self->session);

  if (garment != NULL)
    {
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->garment_row), drape_picture_get_name (garment));
      adw_action_row_set_subtitle (self->garment_row, _("Chosen garment"));
      gtk_picture_set_paintable (self->garment_picture, GDK_PAINTABLE (drape_picture_get_texture (garment)));
    }
  else
    {
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->garment_row), _("No garment chosen"));
      adw_action_row_set_subtitle (self->garment_row, _("Choose one below"));
      gtk_picture_set_paintable (self->garment_picture, NULL);
    }
  update_try_on (self);
}

static gboolean
select_newest_result (gpointer data)
{
  DrapeWindow *self = data;
  guint n = g_list_model_get_n_items (drape_session_get_results (self->session));

  self->select_source = 0;
  if (n > 0)
    gtk_single_selection_set_selected (self->history_selection, n - 1);
  update_result (self);
  return G_SOURCE_REMOVE;
}

static void
on_results_changed (GListModel  *model,
                    guint        position,
                    guint        removed,
                    guint        added,
                    DrapeWindow *self)
{
  /* A new result is the one to look at; selected once the selection
   * model and the history strip have seen the new item. */
  if (added > 0 && self->select_source == 0)
    self->select_source = g_idle_add_full (G_PRIORITY_DEFAULT, select_newest_result, self, NULL);
  update_result (self);
}

/* ---- autosave ---------------------------------------------------------- */

GFile *
drape_window_get_autosave_file (void)
{
  return g_file_new_build_filename (g_get_user_state_dir (), "drape", "autosave.drape", NULL);
}

static void autosave_async (DrapeWindow *self);

static gboolean
autosave_timeout (gpointer data)
{
  DrapeWindow *self = data;

  self->autosave_source = 0;
  autosave_async (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_autosave (DrapeWindow *self)
{
  self->autosave_dirty = TRUE;
  g_clear_handle_id (&self->autosave_source, g_source_remove);
  self->autosave_source = g_timeout_add_seconds (AUTOSAVE_DELAY, autosave_timeout, self);
}

static gboolean
delete_autosave (GError **error)
{
  g_autoptr(GFile) file = drape_window_get_autosave_file ();
  g_autoptr(GError) local_error = NULL;

  if (!g_file_delete (file, NULL, &local_error) &&
      !g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  return TRUE;
}

static void
autosave_done (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(DrapeWindow) self = user_data;
  g_autoptr(GError) error = NULL;

  self->autosaving = FALSE;
  if (!drape_session_save_finish (DRAPE_SESSION (object), result, &error))
    {
      g_autofree char *message = g_strdup_printf (_("The session could not be autosaved: %s"), error->message);

      self->autosave_dirty = TRUE;
      drape_window_add_toast (self, message);
      return;
    }
  if (self->autosave_again)
    {
      self->autosave_again = FALSE;
      schedule_autosave (self);
    }
}

static void
autosave_async (DrapeWindow *self)
{
  g_autoptr(GFile) file = NULL;
  g_autoptr(GError) error = NULL;

  if (self->autosaving)
    {
      self->autosave_again = TRUE;
      return;
    }
  self->autosave_dirty = FALSE;
  if (drape_session_is_blank (self->session))
    {
      if (!delete_autosave (&error))
        g_warning ("Could not delete the autosave: %s", error->message);
      return;
    }
  file = drape_window_get_autosave_file ();
  self->autosaving = TRUE;
  drape_session_save_async (self->session, file, NULL, autosave_done, g_object_ref (self));
}

gboolean
drape_window_autosave (DrapeWindow  *self,
                       GError      **error)
{
  g_autoptr(GFile) file = NULL;

  g_return_val_if_fail (DRAPE_IS_WINDOW (self), FALSE);

  g_clear_handle_id (&self->autosave_source, g_source_remove);
  self->autosave_dirty = FALSE;
  if (drape_session_is_blank (self->session))
    return delete_autosave (error);
  file = drape_window_get_autosave_file ();
  return drape_session_save (self->session, file, error);
}

static void
on_session_changed (DrapeWindow *self)
{
  schedule_autosave (self);
}

static void
restore_done (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(DrapeWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeSession) session = drape_session_load_finish (result, &error);

  if (session == NULL)
    {
      g_autofree char *message = NULL;

      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
        return;
      /* Keep the unreadable file for whoever wants to look at it, but
       * out of the way, so the next start does not stumble on it. */
      {
        g_autoptr(GFile) file = drape_window_get_autosave_file ();
        g_autoptr(GFile) aside = g_file_new_build_filename (g_get_user_state_dir (), "drape",
                                                           "autosave-unreadable.drape", NULL);

        g_file_move (file, aside, G_FILE_COPY_OVERWRITE, NULL, NULL, NULL, NULL);
      }
      message = g_strdup_printf (_("The last session could not be restored: %s"), error->message);
      drape_window_add_toast (self, message);
      return;
    }
  /* The autosave is not a file the user chose: Save asks where. */
  drape_session_set_file (session, NULL);
  if (!drape_session_is_blank (session))
    self->show_models = FALSE;
  drape_window_set_session (self, session);
  if (!drape_session_is_blank (session))
    {
      AdwToast *toast = adw_toast_new (_("Your last session was restored"));

      adw_toast_set_button_label (toast, _("_Start Over"));
      adw_toast_set_action_name (toast, "win.new-session");
      adw_toast_overlay_add_toast (self->toast_overlay, toast);
    }
}

void
drape_window_restore_autosave (DrapeWindow *self)
{
  g_autoptr(GFile) file = drape_window_get_autosave_file ();

  g_return_if_fail (DRAPE_IS_WINDOW (self));

  drape_session_load_async (file, self->cancellable, restore_done, g_object_ref (self));
}

/* ---- recent sessions --------------------------------------------------- */

static void
add_recent (DrapeWindow *self,
            GFile       *file)
{
  g_auto(GStrv) recent = g_settings_get_strv (self->settings, "recent-sessions");
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autofree char *uri = g_file_get_uri (file);
  g_auto(GStrv) updated = NULL;
  guint n = 1;

  g_strv_builder_add (builder, uri);
  for (guint i = 0; recent[i] != NULL && n < MAX_RECENT; i++)
    if (g_strcmp0 (recent[i], uri) != 0)
      {
        g_strv_builder_add (builder, recent[i]);
        n++;
      }
  updated = g_strv_builder_end (builder);
  g_settings_set_strv (self->settings, "recent-sessions", (const char *const *) updated);
}

static void
on_recent_activated (AdwActionRow *row,
                     DrapeWindow  *self)
{
  GFile *file = g_object_get_data (G_OBJECT (row), "file");

  drape_window_open_session_async (self, file, NULL, NULL, NULL);
}

static void
update_recent (DrapeWindow *self)
{
  g_auto(GStrv) recent = g_settings_get_strv (self->settings, "recent-sessions");
  GtkWidget *child;
  gboolean any = FALSE;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->recent_list))) != NULL)
    gtk_list_box_remove (self->recent_list, child);

  for (guint i = 0; recent[i] != NULL; i++)
    {
      g_autoptr(GFile) file = g_file_new_for_uri (recent[i]);
      g_autoptr(GFile) parent = g_file_get_parent (file);
      g_autofree char *basename = g_file_get_basename (file);
      g_autofree char *name = g_filename_display_name (basename != NULL ? basename : "");
      g_autofree char *where = parent != NULL ? g_file_get_parse_name (parent) : NULL;
      GtkWidget *row;

      if (!g_file_query_exists (file, NULL))
        continue;
      row = adw_action_row_new ();
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), name);
      adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row), where);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), gtk_image_new_from_icon_name ("go-next-symbolic"));
      gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (row), TRUE);
      g_object_set_data_full (G_OBJECT (row), "file", g_object_ref (file), g_object_unref);
      g_signal_connect (row, "activated", G_CALLBACK (on_recent_activated), self);
      gtk_list_box_append (self->recent_list, row);
      any = TRUE;
    }
  gtk_widget_set_visible (GTK_WIDGET (self->recent_group), any);
}

/* ---- the session ------------------------------------------------------- */

static gboolean
garment_type_to_selected (GBinding     *binding,
                          const GValue *from,
                          GValue       *to,
                          gpointer      user_data)
{
  g_value_set_uint (to, (guint) g_value_get_enum (from));
  return TRUE;
}

static gboolean
selected_to_garment_type (GBinding     *binding,
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

DrapeSession *
drape_window_get_session (DrapeWindow *self)
{
  g_return_val_if_fail (DRAPE_IS_WINDOW (self), NULL);
  return self->session;
}

void
drape_window_set_session (DrapeWindow  *self,
                          DrapeSession *session)
{
  g_return_if_fail (DRAPE_IS_WINDOW (self));
  g_return_if_fail (DRAPE_IS_SESSION (session));

  if (self->session == session)
    return;
  if (self->session != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->session, self);
      g_signal_handlers_disconnect_by_data (drape_session_get_results (self->session), self);
    }
  g_clear_pointer (&self->garment_type_binding, g_binding_unbind);
  g_set_object (&self->session, session);

  g_signal_connect_swapped (session, "notify::photo", G_CALLBACK (update_photo), self);
  g_signal_connect_swapped (session, "notify::mask", G_CALLBACK (update_mask), self);
  g_signal_connect_swapped (session, "notify::garment", G_CALLBACK (update_garment), self);
  g_signal_connect_swapped (session, "notify::file", G_CALLBACK (update_title), self);
  g_signal_connect_swapped (session, "changed", G_CALLBACK (on_session_changed), self);
  g_signal_connect (drape_session_get_results (session), "items-changed",
                    G_CALLBACK (on_results_changed), self);
  self->garment_type_binding =
    g_object_bind_property_full (session, "garment-type", self->garment_type_row, "selected",
                                 G_BINDING_BIDIRECTIONAL | G_BINDING_SYNC_CREATE,
                                 garment_type_to_selected, selected_to_garment_type, NULL, NULL);

  g_clear_object (&self->history_selection);
  self->history_selection = gtk_single_selection_new (g_object_ref (drape_session_get_results (session)));
  gtk_single_selection_set_autoselect (self->history_selection, FALSE);
  gtk_single_selection_set_can_unselect (self->history_selection, TRUE);
  g_signal_connect_swapped (self->history_selection, "notify::selected-item", G_CALLBACK (update_result), self);
  gtk_list_view_set_model (self->history_list, GTK_SELECTION_MODEL (self->history_selection));
  if (g_list_model_get_n_items (drape_session_get_results (session)) > 0)
    gtk_single_selection_set_selected (self->history_selection,
                                       g_list_model_get_n_items (drape_session_get_results (session)) - 1);

  drape_settings_panel_set_settings (self->settings_panel, drape_session_get_settings (session));
  drape_garment_gallery_select (self->gallery, NULL);
  update_mask (self);
  update_photo (self);
  update_garment (self);
  update_title (self);
  update_result (self);
  set_view (self, "mask");
  schedule_autosave (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SESSION]);
}

/* A new session starts from the defaults of the preferences. */
static DrapeSession *
new_session (DrapeWindow *self)
{
  DrapeSession *session = drape_session_new ();
  DrapeTryOnSettings *settings = drape_session_get_settings (session);

  drape_try_on_settings_set_steps (settings, g_settings_get_uint (self->settings, "default-steps"));
  drape_try_on_settings_set_guidance (settings, g_settings_get_double (self->settings, "default-guidance"));
  drape_try_on_settings_set_size (settings, g_settings_get_enum (self->settings, "default-size"));
  drape_try_on_settings_set_scheduler (settings, g_settings_get_enum (self->settings, "default-scheduler"));
  drape_try_on_settings_set_seed (settings, g_random_int ());
  return session;
}

/* ---- opening photos ----------------------------------------------------- */

static void
set_photo (DrapeWindow  *self,
           DrapePicture *photo)
{
  /* A photo the user opened is what they want to see now. */
  self->show_models = FALSE;
  drape_session_set_photo (self->session, photo);
  if (drape_picture_get_note (photo) != NULL)
    drape_window_add_toast (self, drape_picture_get_note (photo));
  set_view (self, "mask");
  gtk_widget_grab_focus (GTK_WIDGET (self->canvas));
}

static void
photo_loaded (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  DrapeWindow *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapePicture) photo = drape_picture_load_finish (result, &error);

  if (photo == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        toast_error (self, error);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  set_photo (self, photo);
  g_task_return_boolean (task, TRUE);
}

void
drape_window_open_photo_async (DrapeWindow         *self,
                               GFile               *file,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (DRAPE_IS_WINDOW (self));
  g_return_if_fail (G_IS_FILE (file));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, drape_window_open_photo_async);
  drape_picture_load_async (file, cancellable, photo_loaded, task);
}

gboolean
drape_window_open_photo_finish (DrapeWindow   *self,
                                GAsyncResult  *result,
                                GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
open_texture (DrapeWindow *self,
              GdkTexture  *texture)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapePicture) photo = drape_picture_new_from_texture (texture, _("Pasted photo"), &error);

  if (photo == NULL)
    toast_error (self, error);
  else
    set_photo (self, photo);
}

static void
on_photo_chosen (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(DrapeWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GListModel) files = drape_file_chooser_open_finish (result, &error);
  g_autoptr(GFile) file = NULL;

  if (files == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        toast_error (self, error);
      return;
    }
  file = g_list_model_get_item (files, 0);
  drape_window_open_photo_async (self, file, self->cancellable, NULL, NULL);
}

static void
open_photo_action (GSimpleAction *action,
                   GVariant      *parameter,
                   gpointer       user_data)
{
  GtkWidget *widget = user_data;
  drape_file_chooser_open_async (GTK_WINDOW (widget), _("Open a Photo of a Person"),
                                 DRAPE_FILE_KIND_IMAGE, FALSE, NULL,
                                 on_photo_chosen, g_object_ref (widget));
}

static gboolean
is_session_file (GFile *file)
{
  g_autofree char *name = g_file_get_basename (file);

  return name != NULL && g_str_has_suffix (name, ".drape");
}

static void
open_files (DrapeWindow *self,
            GSList      *files)
{
  GFile *file;

  if (files == NULL)
    return;
  file = files->data;
  if (is_session_file (file))
    drape_window_open_session_async (self, file, NULL, NULL, NULL);
  else
    drape_window_open_photo_async (self, file, self->cancellable, NULL, NULL);
}

static void
on_paste_files (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(DrapeWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  const GValue *value = gdk_clipboard_read_value_finish (GDK_CLIPBOARD (object), result, &error);

  if (value == NULL)
    toast_error (self, error);
  else
    open_files (self, g_value_get_boxed (value));
}

static void
on_paste_texture (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(DrapeWindow) self = user_data;
  g_autoptr(GdkTexture) texture = gdk_clipboard_read_texture_finish (GDK_CLIPBOARD (object), result, NULL);

  if (texture == NULL)
    drape_window_add_toast (self, _("The clipboard holds no image"));
  else
    open_texture (self, texture);
}

static void
paste_action (GSimpleAction *action,
              GVariant      *parameter,
              gpointer       user_data)
{
  GtkWidget *widget = user_data;
  GdkClipboard *clipboard = gtk_widget_get_clipboard (widget);
  GdkContentFormats *formats = gdk_clipboard_get_formats (clipboard);

  if (gdk_content_formats_contain_gtype (formats, GDK_TYPE_FILE_LIST))
    gdk_clipboard_read_value_async (clipboard, GDK_TYPE_FILE_LIST, G_PRIORITY_DEFAULT, NULL,
                                    on_paste_files, g_object_ref (widget));
  else
    gdk_clipboard_read_texture_async (clipboard, NULL, on_paste_texture, g_object_ref (widget));
}

static gboolean
on_drop (GtkDropTarget *target,
         const GValue  *value,
         double         x,
         double         y,
         DrapeWindow   *self)
{
  if (G_VALUE_HOLDS (value, GDK_TYPE_FILE_LIST))
    {
      GSList *files = g_value_get_boxed (value);

      if (files == NULL)
        return FALSE;
      open_files (self, files);
      return TRUE;
    }
  if (G_VALUE_HOLDS (value, GDK_TYPE_TEXTURE))
    {
      open_texture (self, g_value_get_object (value));
      return TRUE;
    }
  return FALSE;
}

/* ---- garments ----------------------------------------------------------- */

static void
garment_loaded (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(DrapeWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapePicture) garment = drape_picture_load_finish (result, &error);

  if (garment == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        toast_error (self, error);
      return;
    }
  drape_session_set_garment (self->session, garment);
}

static void
on_gallery_selected (DrapeWindow *self)
{
  DrapeGarment *garment = drape_garment_gallery_get_selected (self->gallery);

  if (garment != NULL)
    drape_picture_load_async (drape_garment_get_file (garment), self->cancellable,
                              garment_loaded, g_object_ref (self));
}

/* ---- sessions ------------------------------------------------------------ */

static void
session_loaded (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  DrapeWindow *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeSession) session = drape_session_load_finish (result, &error);

  if (session == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        toast_error (self, error);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  self->show_models = FALSE;
  drape_window_set_session (self, session);
  add_recent (self, drape_session_get_file (session));
  g_task_return_boolean (task, TRUE);
}

void
drape_window_open_session_async (DrapeWindow         *self,
                                 GFile               *file,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (DRAPE_IS_WINDOW (self));
  g_return_if_fail (G_IS_FILE (file));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, drape_window_open_session_async);
  drape_session_load_async (file, cancellable, session_loaded, task);
}

gboolean
drape_window_open_session_finish (DrapeWindow   *self,
                                  GAsyncResult  *result,
                                  GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
on_session_chosen (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(DrapeWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GListModel) files = drape_file_chooser_open_finish (result, &error);
  g_autoptr(GFile) file = NULL;

  if (files == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        toast_error (self, error);
      return;
    }
  file = g_list_model_get_item (files, 0);
  drape_window_open_session_async (self, file, self->cancellable, NULL, NULL);
}

static void
open_session_action (GSimpleAction *action,
                     GVariant      *parameter,
                     gpointer       user_data)
{
  GtkWidget *widget = user_data;
  drape_file_chooser_open_async (GTK_WINDOW (widget), _("Open Session"), DRAPE_FILE_KIND_SESSION,
                                 FALSE, NULL, on_session_chosen, g_object_ref (widget));
}

static void
new_session_action (GSimpleAction *action,
                    GVariant      *parameter,
                    gpointer       user_data)
{
  GtkWidget *widget = user_data;
  DrapeWindow *self = DRAPE_WINDOW (widget);
  g_autoptr(DrapeSession) session = new_session (self);

  drape_window_set_session (self, session);
}

static void
session_saved (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(DrapeWindow) self = user_data;
  DrapeSession *session = DRAPE_SESSION (object);
  GFile *file = g_object_get_data (G_OBJECT (result), "file");
  g_autoptr(GError) error = NULL;

  if (!drape_session_save_finish (session, result, &error))
    {
      g_autofree char *message = g_strdup_printf (_("The session could not be saved: %s"), error->message);

      drape_window_add_toast (self, message);
      return;
    }
  drape_session_set_file (session, file);
  add_recent (self, file);
  drape_window_add_toast (self, _("Session saved"));
}

static void
save_session_to (DrapeWindow *self,
                 GFile       *file)
{
  drape_session_save_async (self->session, file, NULL, session_saved, g_object_ref (self));
}

static void
on_save_session_chosen (GObject      *object,
                        GAsyncResult *result,
                        gpointer      user_data)
{
  g_autoptr(DrapeWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GFile) file = drape_file_chooser_save_finish (result, &error);

  if (file == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        toast_error (self, error);
      return;
    }
  save_session_to (self, file);
}

static void
save_session_as_action (GSimpleAction *action,
                        GVariant      *parameter,
                        gpointer       user_data)
{
  GtkWidget *widget = user_data;
  drape_file_chooser_save_async (GTK_WINDOW (widget), _("Save Session"), DRAPE_FILE_KIND_SESSION,
                                 _("Untitled.drape"), NULL, on_save_session_chosen, g_object_ref (widget));
}

static void
save_session_action (GSimpleAction *action,
                     GVariant      *parameter,
                     gpointer       user_data)
{
  GtkWidget *widget = user_data;
  DrapeWindow *self = DRAPE_WINDOW (widget);
  GFile *file = drape_session_get_file (self->session);

  if (file != NULL)
    save_session_to (self, file);
  else
    save_session_as_action (action, parameter, user_data);
}

/* ---- the mask ------------------------------------------------------------- */

static void
undo_action (GSimpleAction *action,
             GVariant      *parameter,
             gpointer       user_data)
{
  GtkWidget *widget = user_data;
  DrapeWindow *self = DRAPE_WINDOW (widget);

  if (self->mask != NULL)
    drape_mask_undo (self->mask);
}

static void
redo_action (GSimpleAction *action,
             GVariant      *parameter,
             gpointer       user_data)
{
  GtkWidget *widget = user_data;
  DrapeWindow *self = DRAPE_WINDOW (widget);

  if (self->mask != NULL)
    drape_mask_redo (self->mask);
}

static void
mask_clear_action (GSimpleAction *action,
                   GVariant      *parameter,
                   gpointer       user_data)
{
  GtkWidget *widget = user_data;
  DrapeWindow *self = DRAPE_WINDOW (widget);

  drape_mask_fill (self->mask, 0);
}

static void
mask_fill_action (GSimpleAction *action,
                  GVariant      *parameter,
                  gpointer       user_data)
{
  GtkWidget *widget = user_data;
  DrapeWindow *self = DRAPE_WINDOW (widget);

  drape_mask_fill (self->mask, 255);
}

static void
mask_invert_action (GSimpleAction *action,
                    GVariant      *parameter,
                    gpointer       user_data)
{
  GtkWidget *widget = user_data;
  DrapeWindow *self = DRAPE_WINDOW (widget);

  drape_mask_invert (self->mask);
}

static void
brush_bigger_action (GSimpleAction *action,
                     GVariant      *parameter,
                     gpointer       user_data)
{
  GtkWidget *widget = user_data;
  DrapeWindow *self = DRAPE_WINDOW (widget);

  gtk_adjustment_set_value (self->brush_size_adjustment,
                            gtk_adjustment_get_value (self->brush_size_adjustment) * BRUSH_STEP);
}

static void
brush_smaller_action (GSimpleAction *action,
                      GVariant      *parameter,
                      gpointer       user_data)
{
  GtkWidget *widget = user_data;
  DrapeWindow *self = DRAPE_WINDOW (widget);

  gtk_adjustment_set_value (self->brush_size_adjustment,
                            gtk_adjustment_get_value (self->brush_size_adjustment) / BRUSH_STEP);
}

static gboolean
showing_result (DrapeWindow *self)
{
  return g_strcmp0 (gtk_stack_get_visible_child_name (self->view_stack), "result") == 0;
}

static void
zoom_in_action (GSimpleAction *action,
                GVariant      *parameter,
                gpointer       user_data)
{
  GtkWidget *widget = user_data;
  DrapeWindow *self = DRAPE_WINDOW (widget);

  if (showing_result (self))
    drape_compare_view_zoom_in (self->compare_view);
  else
    drape_mask_canvas_zoom_in (self->canvas);
}

static void
zoom_out_action (GSimpleAction *action,
                 GVariant      *parameter,
                 gpointer       user_data)
{
  GtkWidget *widget = user_data;
  DrapeWindow *self = DRAPE_WINDOW (widget);

  if (showing_result (self))
    drape_compare_view_zoom_out (self->compare_view);
  else
    drape_mask_canvas_zoom_out (self->canvas);
}

static void
zoom_fit_action (GSimpleAction *action,
                 GVariant      *parameter,
                 gpointer       user_data)
{
  GtkWidget *widget = user_data;
  DrapeWindow *self = DRAPE_WINDOW (widget);

  if (showing_result (self))
    drape_compare_view_zoom_to_fit (self->compare_view);
  else
    drape_mask_canvas_zoom_to_fit (self->canvas);
}

static void
on_tool_changed (DrapeWindow *self)
{
  const char *tool = drape_mask_canvas_get_tool (self->canvas) == DRAPE_BRUSH_MODE_ERASE ? "erase" : "paint";

  GAction *action = g_action_map_lookup_action (G_ACTION_MAP (self), "tool");

  g_simple_action_set_state (G_SIMPLE_ACTION (action), g_variant_new_string (tool));
}

static void
tool_action (GSimpleAction *action,
             GVariant      *parameter,
             gpointer       user_data)
{
  DrapeWindow *self = user_data;
  const char *tool = g_variant_get_string (parameter, NULL);

  drape_mask_canvas_set_tool (self->canvas, g_str_equal (tool, "erase") ? DRAPE_BRUSH_MODE_ERASE
                                                                         : DRAPE_BRUSH_MODE_PAINT);
  g_simple_action_set_state (action, parameter);
}

/* ---- views ------------------------------------------------------------------ */

static void
set_view (DrapeWindow *self,
          const char  *view)
{
  GAction *action = g_action_map_lookup_action (G_ACTION_MAP (self), "view");

  g_action_change_state (action, g_variant_new_string (view));
}

static void
view_action (GSimpleAction *action,
             GVariant      *value,
             gpointer       user_data)
{
  DrapeWindow *self = user_data;
  const char *view = g_variant_get_string (value, NULL);

  if (!g_str_equal (view, "mask") && !g_str_equal (view, "result"))
    return;
  gtk_stack_set_visible_child_name (self->view_stack, view);
  gtk_stack_set_visible_child_name (self->tools_stack, view);
  g_simple_action_set_state (action, value);
}

static void
on_narrow_changed (DrapeWindow *self)
{
  /* On a phone the toolbar has room for icons only. */
  gboolean narrow = drape_panes_get_narrow (self->panes);

  adw_button_content_set_label (self->mask_view_content, narrow ? "" : _("_Mask"));
  adw_button_content_set_label (self->result_view_content, narrow ? "" : _("_Result"));
  adw_button_content_set_label (self->open_button_content, narrow ? "" : _("_Open Photo"));
}

/* ---- results ---------------------------------------------------------------- */

static void
result_written (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(DrapeWindow) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_file_replace_contents_finish (G_FILE (object), result, NULL, &error))
    {
      g_autofree char *message = g_strdup_printf (_("The result could not be saved: %s"), error->message);

      drape_window_add_toast (self, message);
      return;
    }
  drape_window_add_toast (self, _("Result saved"));
}

static void
on_result_file_chosen (GObject      *object,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  g_autoptr(DrapeWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GFile) file = drape_file_chooser_save_finish (result, &error);
  DrapeResult *chosen = selected_result (self);
  GBytes *png;

  if (file == NULL || chosen == NULL)
    {
      if (error != NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        toast_error (self, error);
      return;
    }
  png = drape_result_get_png (chosen);
  g_file_replace_contents_bytes_async (file, png, NULL, FALSE, G_FILE_CREATE_REPLACE_DESTINATION,
                                       NULL, result_written, g_object_ref (self));
}

static void
save_result_action (GSimpleAction *action,
                    GVariant      *parameter,
                    gpointer       user_data)
{
  GtkWidget *widget = user_data;
  drape_file_chooser_save_async (GTK_WINDOW (widget), _("Save Result"), DRAPE_FILE_KIND_PNG,
                                 _("Try-on.png"), NULL, on_result_file_chosen, g_object_ref (widget));
}

static void
copy_result_action (GSimpleAction *action,
                    GVariant      *parameter,
                    gpointer       user_data)
{
  GtkWidget *widget = user_data;
  DrapeWindow *self = DRAPE_WINDOW (widget);
  DrapeResult *result = selected_result (self);

  if (result == NULL)
    return;
  gdk_clipboard_set_texture (gtk_widget_get_clipboard (widget), drape_result_get_texture (result));
  drape_window_add_toast (self, _("Result copied"));
}

static void
reuse_settings_action (GSimpleAction *action,
                       GVariant      *parameter,
                       gpointer       user_data)
{
  GtkWidget *widget = user_data;
  DrapeWindow *self = DRAPE_WINDOW (widget);
  DrapeResult *result = selected_result (self);

  if (result == NULL)
    return;
  drape_try_on_settings_assign (drape_session_get_settings (self->session), drape_result_get_settings (result));
  drape_window_add_toast (self, _("Settings of this result restored"));
}

/* ---- try-on --------------------------------------------------------------- */

static DrapeEngine *
get_engine (DrapeWindow *self)
{
  GtkApplication *application = gtk_window_get_application (GTK_WINDOW (self));

  return drape_application_get_engine (DRAPE_APPLICATION (application));
}

static void
on_try_on_progress (const DrapeEngineProgress *progress,
                    gpointer                   user_data)
{
  DrapeWindow *self = user_data;

  if (progress->status != NULL)
    {
      gtk_label_set_label (self->progress_label, progress->status);
      gtk_progress_bar_pulse (self->progress_bar);
      return;
    }
  if (progress->n_steps > 0)
    {
      g_autofree char *time_left = progress->seconds_left >= 0 ? drape_format_time_left (progress->seconds_left)
                                                                : NULL;
      g_autofree char *text = NULL;

      /* Translators: "Step 3 of 50 · about 2 minutes left" */
      text = time_left != NULL ? g_strdup_printf (_("Step %u of %u · %s"), progress->step, progress->n_steps, time_left)
                               : g_strdup_printf (_("Step %u of %u"), progress->step, progress->n_steps);
      gtk_label_set_label (self->progress_label, text);
      gtk_progress_bar_set_fraction (self->progress_bar, (double) progress->step / progress->n_steps);
    }
  /* Each step's prediction replaces the last, so the image forms. */
  if (progress->preview != NULL)
    {
      drape_compare_view_set_after (self->compare_view, progress->preview);
      gtk_stack_set_visible_child_name (self->result_stack, "compare");
    }
}

static void
end_try_on (DrapeWindow *self)
{
  g_clear_object (&self->try_on_cancellable);
  gtk_revealer_set_reveal_child (self->progress_revealer, FALSE);
  action_set_enabled (self, "cancel-try-on", FALSE);
  update_try_on (self);
}

/* A model the engine could not use (missing, damaged) sends the user to
 * the models page, which says which and offers to fetch it again. */
static void
engine_failed (DrapeWindow  *self,
               const GError *error)
{
  toast_error (self, error);
  if (g_error_matches (error, DRAPE_ERROR, DRAPE_ERROR_IO) ||
      g_error_matches (error, DRAPE_ERROR, DRAPE_ERROR_CORRUPT))
    {
      drape_models_page_refresh (self->models_page);
      if (!drape_models_page_get_ready (self->models_page))
        {
          self->show_models = TRUE;
          update_main_page (self);
        }
    }
}

typedef struct {
  DrapeWindow *window;
  DrapeSession *session;
} TryOn;

static void
try_on_done (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  TryOn *data = user_data;
  g_autoptr(DrapeWindow) self = data->window;
  g_autoptr(DrapeSession) session = data->session;
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeResult) outcome = drape_engine_try_on_finish (DRAPE_ENGINE (object), result, &error);

  g_free (data);
  end_try_on (self);
  if (outcome == NULL)
    {
      update_result (self);
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
          g_error_matches (error, DRAPE_ERROR, DRAPE_ERROR_CANCELLED))
        drape_window_add_toast (self, _("Try-on cancelled"));
      else
        engine_failed (self, error);
      return;
    }
  /* The result belongs to the session it was made for, even if the
   * window shows another one by now. */
  drape_session_add_result (session, outcome);
}

static void
try_on_action (GSimpleAction *action,
               GVariant      *parameter,
               gpointer       user_data)
{
  DrapeWindow *self = user_data;
  DrapePicture *photo = drape_session_get_photo (self->session);
  DrapePicture *garment = drape_session_get_garment (self->session);
  DrapeMask *mask = drape_session_get_mask (self->session);
  TryOn *data;

  if (self->try_on_cancellable != NULL || photo == NULL || garment == NULL || mask == NULL)
    return;
  self->try_on_cancellable = g_cancellable_new ();
  action_set_enabled (self, "cancel-try-on", TRUE);
  update_try_on (self);

  gtk_progress_bar_set_fraction (self->progress_bar, 0);
  gtk_label_set_label (self->progress_label, _("Starting…"));
  gtk_revealer_set_reveal_child (self->progress_revealer, TRUE);
  set_view (self, "result");

  data = g_new0 (TryOn, 1);
  data->window = g_object_ref (self);
  data->session = g_object_ref (self->session);
  drape_engine_try_on_async (get_engine (self), photo, mask, garment, drape_session_get_settings (self->session),
                             on_try_on_progress, g_object_ref (self), g_object_unref,
                             self->try_on_cancellable, try_on_done, data);
}

static void
cancel_try_on_action (GSimpleAction *action,
                      GVariant      *parameter,
                      gpointer       user_data)
{
  DrapeWindow *self = user_data;

  g_cancellable_cancel (self->try_on_cancellable);
  gtk_label_set_label (self->progress_label, _("Cancelling…"));
}

typedef struct {
  DrapeWindow *window;
  DrapeMask *mask;
} AutoMask;

static void
auto_mask_done (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  AutoMask *data = user_data;
  g_autoptr(DrapeWindow) self = data->window;
  g_autoptr(DrapeMask) mask = data->mask;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) pixels = drape_engine_auto_mask_finish (DRAPE_ENGINE (object), result, &error);

  g_free (data);
  self->auto_masking = FALSE;
  update_mask_actions (self);
  if (pixels == NULL)
    {
      engine_failed (self, error);
      return;
    }
  /* One undo step, on the mask it was made for. */
  if (!drape_mask_replace (mask, pixels, &error))
    toast_error (self, error);
  else if (mask == self->mask)
    drape_window_add_toast (self, _("Mask made: paint over it to correct it"));
}

static void
auto_mask_action (GSimpleAction *action,
                  GVariant      *parameter,
                  gpointer       user_data)
{
  DrapeWindow *self = user_data;
  DrapePicture *photo = drape_session_get_photo (self->session);
  AutoMask *data;

  if (photo == NULL || self->mask == NULL || self->auto_masking)
    return;
  self->auto_masking = TRUE;
  update_mask_actions (self);
  drape_window_add_toast (self, _("Finding the clothes…"));
  data = g_new0 (AutoMask, 1);
  data->window = g_object_ref (self);
  data->mask = g_object_ref (self->mask);
  drape_engine_auto_mask_async (get_engine (self), photo, drape_session_get_garment_type (self->session),
                                self->cancellable, auto_mask_done, data);
}

/* ---- GtkWindow ------------------------------------------------------------- */

static gboolean
drape_window_close_request (GtkWindow *window)
{
  DrapeWindow *self = DRAPE_WINDOW (window);
  g_autoptr(GError) error = NULL;
  int width, height;

  gtk_window_get_default_size (window, &width, &height);
  g_settings_set_int (self->settings, "window-width", width);
  g_settings_set_int (self->settings, "window-height", height);
  g_settings_set_boolean (self->settings, "window-maximized", gtk_window_is_maximized (window));

  if ((self->autosave_dirty || self->autosave_source != 0) && !drape_window_autosave (self, &error))
    g_warning ("The session could not be saved on quit: %s", error->message);

  return GTK_WINDOW_CLASS (drape_window_parent_class)->close_request (window);
}

static void
drape_window_dispose (GObject *object)
{
  DrapeWindow *self = DRAPE_WINDOW (object);

  g_cancellable_cancel (self->cancellable);
  g_cancellable_cancel (self->try_on_cancellable);
  g_clear_object (&self->try_on_cancellable);
  g_clear_handle_id (&self->autosave_source, g_source_remove);
  g_clear_handle_id (&self->select_source, g_source_remove);
  if (self->session != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->session, self);
      g_signal_handlers_disconnect_by_data (drape_session_get_results (self->session), self);
    }
  if (self->mask != NULL)
    g_signal_handlers_disconnect_by_data (self->mask, self);
  g_clear_pointer (&self->garment_type_binding, g_binding_unbind);
  gtk_widget_dispose_template (GTK_WIDGET (self), DRAPE_TYPE_WINDOW);
  g_clear_object (&self->history_selection);
  g_clear_object (&self->mask);
  g_clear_object (&self->session);
  g_clear_object (&self->settings);
  g_clear_object (&self->cancellable);

  G_OBJECT_CLASS (drape_window_parent_class)->dispose (object);
}

static void
drape_window_get_property (GObject    *object,
                           guint       prop_id,
                           GValue     *value,
                           GParamSpec *pspec)
{
  DrapeWindow *self = DRAPE_WINDOW (object);

  switch (prop_id)
    {
    case PROP_SESSION:
      g_value_set_object (value, self->session);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
drape_window_set_property (GObject      *object,
                           guint         prop_id,
                           const GValue *value,
                           GParamSpec   *pspec)
{
  DrapeWindow *self = DRAPE_WINDOW (object);

  switch (prop_id)
    {
    case PROP_SESSION:
      drape_window_set_session (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
drape_window_class_init (DrapeWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->dispose = drape_window_dispose;
  object_class->get_property = drape_window_get_property;
  object_class->set_property = drape_window_set_property;
  window_class->close_request = drape_window_close_request;

  properties[PROP_SESSION] =
    g_param_spec_object ("session", NULL, NULL, DRAPE_TYPE_SESSION,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  g_type_ensure (DRAPE_TYPE_PANES);
  g_type_ensure (DRAPE_TYPE_MODELS_PAGE);
  g_type_ensure (DRAPE_TYPE_MASK_CANVAS);
  g_type_ensure (DRAPE_TYPE_COMPARE_VIEW);
  g_type_ensure (DRAPE_TYPE_GARMENT_GALLERY);
  g_type_ensure (DRAPE_TYPE_SETTINGS_PANEL);
  g_type_ensure (DRAPE_TYPE_RESULT);

  gtk_widget_class_set_template_from_resource (widget_class, "/app/drape/Drape/drape-window.ui");
  gtk_widget_class_bind_template_child (widget_class, DrapeWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, DrapeWindow, window_title);
  gtk_widget_class_bind_template_child (widget_class, DrapeWindow, try_on_button);
  gtk_widget_class_bind_template_child (widget_class, DrapeWindow, open_button_content);
  gtk_widget_class_bind_template_child (widget_class, DrapeWindow, main_stack);
  gtk_widget_class_bind_template_child (widget_class, DrapeWindow, models_page);
  gtk_widget_class_bind_template_child (widget_class, DrapeWindow, recent_group);
  gtk_widget_class_bind_template_child (widget_class, DrapeWindow, recent_list);
  gtk_widget_class_bind_template_child (widget_class, DrapeWindow, panes);
  gtk_widget_class_bind_template_child (widget_class, DrapeWindow, tools_stack);
  gtk_widget_class_bind_template_child (widget_class, DrapeWindow, view_stack);
  gtk_widget_class_bind_template_child (widget_class, DrapeWindow, mask_view_content);
  gtk_widget_class_bind_template_child (widget_class, DrapeWindow, result_view_content);
  gtk_widget_class_bind_template_child (widget_class, DrapeWindow, canvas);
  gtk_widget_class_bind_template_child (widget_class, DrapeWindow, result_stack);
  gtk_widget_class_bind_template_child (widget_class, DrapeWindow, compare_view);
  gtk_widget_class_bind_template_child (widget_class, DrapeWindow, progress_revealer);
  gtk_widget_class_bind_template_child (widget_class, DrapeWindow, progress_label);
  gtk_widget_class_bind_template_child (widget_class, DrapeWindow, progress_bar);
  gtk_widget_class_bind_template_child (widget_class, DrapeWindow, history_revealer);
  gtk_widget_class_bind_template_child (widget_class, DrapeWindow, history_list);
  gtk_widget_class_bind_template_child (widget_class, DrapeWindow, garment_row);
  gtk_widget_class_bind_template_child (widget_class, DrapeWindow, garment_picture);
  gtk_widget_class_bind_template_child (widget_class, DrapeWindow, garment_type_row);
  gtk_widget_class_bind_template_child (widget_class, DrapeWindow, gallery);
  gtk_widget_class_bind_template_child (widget_class, DrapeWindow, settings_panel);
  gtk_widget_class_bind_template_child (widget_class, DrapeWindow, brush_size_adjustment);
  gtk_widget_class_bind_template_child (widget_class, DrapeWindow, brush_hardness_adjustment);
  gtk_widget_class_bind_template_child (widget_class, DrapeWindow, overlay_opacity_adjustment);

}

static const GActionEntry win_actions[] = {
  { "open-photo", open_photo_action },
  { "show-models", show_models_action },
  { "paste", paste_action },
  { "new-session", new_session_action },
  { "open-session", open_session_action },
  { "save-session", save_session_action },
  { "save-session-as", save_session_as_action },
  { "try-on", try_on_action },
  { "cancel-try-on", cancel_try_on_action },
  { "auto-mask", auto_mask_action },
  { "undo", undo_action },
  { "redo", redo_action },
  { "mask-clear", mask_clear_action },
  { "mask-fill", mask_fill_action },
  { "mask-invert", mask_invert_action },
  { "brush-bigger", brush_bigger_action },
  { "brush-smaller", brush_smaller_action },
  { "zoom-in", zoom_in_action },
  { "zoom-out", zoom_out_action },
  { "zoom-fit", zoom_fit_action },
  { "tool", tool_action, "s", "'paint'" },
  { "view", NULL, "s", "'mask'", view_action },
  { "save-result", save_result_action },
  { "copy-result", copy_result_action },
  { "reuse-settings", reuse_settings_action },
};

/* Single keys go through a bubble-phase controller, so a focused text
 * field gets them first. */
static void
add_single_key_shortcuts (DrapeWindow *self)
{
  static const struct {
    guint keyval;
    const char *action;
    const char *target;
  } keys[] = {
    { GDK_KEY_bracketleft, "win.brush-smaller", NULL },
    { GDK_KEY_bracketright, "win.brush-bigger", NULL },
    { GDK_KEY_plus, "win.zoom-in", NULL },
    { GDK_KEY_equal, "win.zoom-in", NULL },
    { GDK_KEY_KP_Add, "win.zoom-in", NULL },
    { GDK_KEY_minus, "win.zoom-out", NULL },
    { GDK_KEY_KP_Subtract, "win.zoom-out", NULL },
    { GDK_KEY_0, "win.zoom-fit", NULL },
    { GDK_KEY_KP_0, "win.zoom-fit", NULL },
    { GDK_KEY_b, "win.tool", "paint" },
    { GDK_KEY_e, "win.tool", "erase" },
  };
  GtkEventController *controller = gtk_shortcut_controller_new ();

  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      GtkShortcut *shortcut = gtk_shortcut_new (gtk_keyval_trigger_new (keys[i].keyval, 0),
                                                gtk_named_action_new (keys[i].action));

      if (keys[i].target != NULL)
        gtk_shortcut_set_arguments (shortcut, g_variant_new_string (keys[i].target));
      gtk_shortcut_controller_add_shortcut (GTK_SHORTCUT_CONTROLLER (controller), shortcut);
    }
  gtk_widget_add_controller (GTK_WIDGET (self), controller);
}

static void
drape_window_init (DrapeWindow *self)
{
  g_autoptr(DrapeSession) session = NULL;
  GtkDropTarget *target;
  GType types[] = { GDK_TYPE_FILE_LIST, GDK_TYPE_TEXTURE };

  gtk_widget_init_template (GTK_WIDGET (self));

  self->cancellable = g_cancellable_new ();
  self->settings = g_settings_new ("app.drape.Drape");

  g_action_map_add_action_entries (G_ACTION_MAP (self), win_actions, G_N_ELEMENTS (win_actions), self);
  add_single_key_shortcuts (self);
  action_set_enabled (self, "cancel-try-on", FALSE);

  if (DEVELOPMENT)
    gtk_widget_add_css_class (GTK_WIDGET (self), "devel");

  gtk_window_set_default_size (GTK_WINDOW (self),
                               g_settings_get_int (self->settings, "window-width"),
                               g_settings_get_int (self->settings, "window-height"));
  if (g_settings_get_boolean (self->settings, "window-maximized"))
    gtk_window_maximize (GTK_WINDOW (self));

  g_settings_bind (self->settings, "brush-size", self->brush_size_adjustment, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "brush-hardness", self->brush_hardness_adjustment, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "overlay-opacity", self->overlay_opacity_adjustment, "value", G_SETTINGS_BIND_DEFAULT);
  g_object_bind_property (self->brush_size_adjustment, "value", self->canvas, "brush-size", G_BINDING_BIDIRECTIONAL | G_BINDING_SYNC_CREATE);
  g_object_bind_property (self->brush_hardness_adjustment, "value", self->canvas, "brush-hardness", G_BINDING_BIDIRECTIONAL | G_BINDING_SYNC_CREATE);
  g_object_bind_property (self->overlay_opacity_adjustment, "value", self->canvas, "overlay-opacity", G_BINDING_BIDIRECTIONAL | G_BINDING_SYNC_CREATE);
  g_signal_connect_object (self->canvas, "notify::tool", G_CALLBACK (on_tool_changed), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->panes, "notify::narrow", G_CALLBACK (on_narrow_changed), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->gallery, "notify::selected", G_CALLBACK (on_gallery_selected), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->settings, "changed::recent-sessions", G_CALLBACK (update_recent), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->models_page, "notify::ready", G_CALLBACK (on_models_ready), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->models_page, "skipped", G_CALLBACK (on_models_skipped), self, G_CONNECT_SWAPPED);
  self->show_models = !drape_models_page_get_ready (self->models_page);

  target = gtk_drop_target_new (G_TYPE_INVALID, GDK_ACTION_COPY);
  gtk_drop_target_set_gtypes (target, types, G_N_ELEMENTS (types));
  g_signal_connect (target, "drop", G_CALLBACK (on_drop), self);
  gtk_widget_add_controller (GTK_WIDGET (self->main_stack), GTK_EVENT_CONTROLLER (target));

  session = new_session (self);
  drape_window_set_session (self, session);
  /* An untouched new session is nothing to save. */
  g_clear_handle_id (&self->autosave_source, g_source_remove);
  self->autosave_dirty = FALSE;
  update_recent (self);
}

DrapeWindow *
drape_window_new (DrapeApplication *application)
{
  return g_object_new (DRAPE_TYPE_WINDOW, "application", application, NULL);
}
