/* drape-garment-gallery.c: garments to choose from: the user's garments
 * folder and the garments added to Drape
 *
 * Garments the user adds are copied into $XDG_DATA_HOME/drape/garments,
 * so they stay in the gallery even when the original moves (and, in a
 * Flatpak, without keeping a portal grant alive).  The garments folder of
 * the preferences is only read: removing one of its garments hides it.
 * Folders are listed and thumbnails decoded on worker threads.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>

#include <string.h>

#include "drape-file-chooser.h"
#include "drape-garment-gallery.h"
#include "drape-picture.h"
#include "drape-util.h"

/* Thumbnails are decoded at this size, enough for a 2x display. */
#define THUMBNAIL_SIZE 224

struct _DrapeGarmentGallery
{
  GtkWidget parent_instance;

  GtkStack *stack;
  GtkGridView *grid;
  GtkSingleSelection *selection;
  GListStore *garments;

  GSettings *settings;
  GCancellable *cancellable;
  GFileMonitor *monitors[2];
  guint reload_source;
  /* The file to select once a reload or an add has finished. */
  GFile *pending_selection;
};

enum {
  PROP_0,
  PROP_SELECTED,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (DrapeGarmentGallery, drape_garment_gallery, GTK_TYPE_WIDGET)

static GFile *
owned_folder (void)
{
  return drape_data_file ("garments");
}

static GFile *
user_folder (DrapeGarmentGallery *self)
{
  g_autofree char *path = g_settings_get_string (self->settings, "garments-dir");

  return path[0] != '\0' ? g_file_new_for_path (path) : NULL;
}

static void
update_state (DrapeGarmentGallery *self)
{
  gboolean empty = g_list_model_get_n_items (G_LIST_MODEL (self->garments)) == 0;

  gtk_stack_set_visible_child_name (self->stack, empty ? "empty" : "grid");
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "gallery.remove",
                                 drape_garment_gallery_get_selected (self) != NULL);
}

static void
select_file (DrapeGarmentGallery *self,
             GFile               *file)
{
  GListModel *model = gtk_single_selection_get_model (self->selection);

  for (guint i = 0; i < g_list_model_get_n_items (model); i++)
    {
      g_autoptr(DrapeGarment) garment = g_list_model_get_item (model, i);

      if (g_file_equal (drape_garment_get_file (garment), file))
        {
          gtk_single_selection_set_selected (self->selection, i);
          gtk_widget_activate_action (GTK_WIDGET (self->grid), "list.scroll-to-item", "u", i);
          return;
        }
    }
}

/* ---- listing the folders --------------------------------------------- */

typedef struct {
  GFile *folders[2];
  char **hidden;
} ListData;

static void
list_data_free (gpointer data)
{
  ListData *list = data;

  g_clear_object (&list->folders[0]);
  g_clear_object (&list->folders[1]);
  g_strfreev (list->hidden);
  g_free (list);
}

static void
list_thread (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  ListData *list = task_data;
  GPtrArray *garments = g_ptr_array_new_with_free_func (g_object_unref);

  for (guint f = 0; f < G_N_ELEMENTS (list->folders); f++)
    {
      g_autoptr(GFileEnumerator) enumerator = NULL;
      GFileInfo *info;
      GFile *child;

      if (list->folders[f] == NULL)
        continue;
      enumerator = g_file_enumerate_children (list->folders[f],
                                              G_FILE_ATTRIBUTE_STANDARD_NAME ","
                                              G_FILE_ATTRIBUTE_STANDARD_CONTENT_TYPE ","
                                              G_FILE_ATTRIBUTE_STANDARD_IS_HIDDEN,
                                              G_FILE_QUERY_INFO_NONE, cancellable, NULL);
      if (enumerator == NULL)
        continue;
      while (g_file_enumerator_iterate (enumerator, &info, &child, cancellable, NULL) && info != NULL)
        {
          g_autofree char *uri = NULL;

          if (g_file_info_get_is_hidden (info) || !drape_is_image_type (g_file_info_get_content_type (info)))
            continue;
          uri = g_file_get_uri (child);
          /* The owned folder (index 0) is never filtered. */
          if (f == 1 && g_strv_contains ((const char *const *) list->hidden, uri))
            continue;
          g_ptr_array_add (garments, drape_garment_new (child, f == 0));
        }
    }
  g_task_return_pointer (task, garments, (GDestroyNotify) g_ptr_array_unref);
}

static void
list_done (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  DrapeGarmentGallery *self = DRAPE_GARMENT_GALLERY (object);
  g_autoptr(GPtrArray) garments = g_task_propagate_pointer (G_TASK (result), NULL);
  DrapeGarment *selected;
  g_autoptr(GFile) keep = NULL;

  if (garments == NULL)
    return;
  selected = drape_garment_gallery_get_selected (self);
  keep = self->pending_selection != NULL ? g_steal_pointer (&self->pending_selection)
         : selected != NULL ? g_object_ref (drape_garment_get_file (selected)) : NULL;

  g_list_store_splice (self->garments, 0, g_list_model_get_n_items (G_LIST_MODEL (self->garments)),
                       garments->pdata, garments->len);
  for (guint i = 0; i < garments->len; i++)
    drape_garment_load_thumbnail (g_ptr_array_index (garments, i), THUMBNAIL_SIZE, self->cancellable);
  if (keep != NULL)
    select_file (self, keep);
  update_state (self);
}

void
drape_garment_gallery_reload (DrapeGarmentGallery *self)
{
  g_autoptr(GTask) task = NULL;
  ListData *list;

  g_return_if_fail (DRAPE_IS_GARMENT_GALLERY (self));

  list = g_new0 (ListData, 1);
  list->folders[0] = owned_folder ();
  list->folders[1] = user_folder (self);
  list->hidden = g_settings_get_strv (self->settings, "hidden-garments");
  task = g_task_new (self, self->cancellable, list_done, NULL);
  g_task_set_source_tag (task, drape_garment_gallery_reload);
  g_task_set_task_data (task, list, list_data_free);
  g_task_run_in_thread (task, list_thread);
}

static gboolean
reload_timeout (gpointer data)
{
  DrapeGarmentGallery *self = data;

  self->reload_source = 0;
  drape_garment_gallery_reload (self);
  return G_SOURCE_REMOVE;
}

/* Folder changes come in bursts (a copy is several events): wait a moment. */
static void
queue_reload (DrapeGarmentGallery *self)
{
  g_clear_handle_id (&self->reload_source, g_source_remove);
  self->reload_source = g_timeout_add (300, reload_timeout, self);
}

static void
watch_folders (DrapeGarmentGallery *self)
{
  GFile *folders[2] = { owned_folder (), user_folder (self) };

  for (guint i = 0; i < G_N_ELEMENTS (folders); i++)
    {
      if (self->monitors[i] != NULL)
        {
          g_signal_handlers_disconnect_by_data (self->monitors[i], self);
          g_file_monitor_cancel (self->monitors[i]);
          g_clear_object (&self->monitors[i]);
        }
      if (folders[i] != NULL)
        {
          self->monitors[i] = g_file_monitor_directory (folders[i], G_FILE_MONITOR_NONE, NULL, NULL);
          if (self->monitors[i] != NULL)
            g_signal_connect_swapped (self->monitors[i], "changed", G_CALLBACK (queue_reload), self);
          g_object_unref (folders[i]);
        }
    }
}

static void
on_folder_setting_changed (DrapeGarmentGallery *self)
{
  watch_folders (self);
  drape_garment_gallery_reload (self);
}

/* ---- adding ---------------------------------------------------------- */

typedef struct {
  GPtrArray *sources; /* GFile, or NULL where `texture_png` is used */
  GBytes *texture_png;
  GFile *added;       /* the last file copied */
  char *error;        /* the first refusal, for a toast */
} AddData;

static void
add_data_free (gpointer data)
{
  AddData *add = data;

  g_clear_pointer (&add->sources, g_ptr_array_unref);
  g_clear_pointer (&add->texture_png, g_bytes_unref);
  g_clear_object (&add->added);
  g_free (add->error);
  g_free (add);
}

/* "name.png", then "name (2).png", ... in the owned folder */
static GFile *
unique_target (GFile      *folder,
               const char *basename)
{
  g_autofree char *stem = g_strdup (basename);
  const char *dot = strrchr (basename, '.');
  const char *ext = dot != NULL ? dot : "";

  if (dot != NULL)
    stem[dot - basename] = '\0';
  for (guint n = 1;; n++)
    {
      g_autofree char *name = n == 1 ? g_strdup (basename) : g_strdup_printf ("%s (%u)%s", stem, n, ext);
      g_autoptr(GFile) target = g_file_get_child (folder, name);

      if (!g_file_query_exists (target, NULL))
        return g_steal_pointer (&target);
    }
}

static void
add_thread (GTask        *task,
            gpointer      source_object,
            gpointer      task_data,
            GCancellable *cancellable)
{
  AddData *add = task_data;
  g_autoptr(GFile) folder = owned_folder ();
  g_autoptr(GError) error = NULL;

  if (!g_file_make_directory_with_parents (folder, cancellable, &error) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_EXISTS))
    {
      add->error = g_strdup (error->message);
      g_task_return_boolean (task, TRUE);
      return;
    }
  g_clear_error (&error);

  if (add->texture_png != NULL)
    {
      g_autoptr(GFile) target = unique_target (folder, _("Pasted garment.png"));

      if (g_file_replace_contents (target, g_bytes_get_data (add->texture_png, NULL),
                                   g_bytes_get_size (add->texture_png), NULL, FALSE,
                                   G_FILE_CREATE_NONE, NULL, cancellable, &error))
        g_set_object (&add->added, target);
      else
        add->error = g_strdup (error->message);
    }

  for (guint i = 0; add->sources != NULL && i < add->sources->len; i++)
    {
      GFile *source = g_ptr_array_index (add->sources, i);
      g_autofree char *basename = g_file_get_basename (source);
      g_autoptr(GdkTexture) check = NULL;
      g_autoptr(GFile) target = NULL;

      /* Refuse what is not an image before copying it. */
      check = drape_picture_load_thumbnail (source, 16, cancellable, &error);
      if (check == NULL)
        {
          if (add->error == NULL)
            add->error = g_strdup (error->message);
          g_clear_error (&error);
          continue;
        }
      target = unique_target (folder, basename != NULL ? basename : "garment");
      if (!g_file_copy (source, target, G_FILE_COPY_NONE, cancellable, NULL, NULL, &error))
        {
          if (add->error == NULL)
            add->error = g_strdup (error->message);
          g_clear_error (&error);
          continue;
        }
      g_set_object (&add->added, target);
    }
  g_task_return_boolean (task, TRUE);
}

static void
add_done (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  DrapeGarmentGallery *self = DRAPE_GARMENT_GALLERY (object);
  AddData *add = g_task_get_task_data (G_TASK (result));

  if (!g_task_propagate_boolean (G_TASK (result), NULL))
    return;
  if (add->error != NULL)
    drape_widget_show_toast (GTK_WIDGET (self), add->error);
  if (add->added != NULL)
    {
      g_set_object (&self->pending_selection, add->added);
      drape_garment_gallery_reload (self);
    }
}

static void
run_add (DrapeGarmentGallery *self,
         AddData             *add)
{
  g_autoptr(GTask) task = g_task_new (self, self->cancellable, add_done, NULL);

  g_task_set_source_tag (task, run_add);
  g_task_set_task_data (task, add, add_data_free);
  g_task_run_in_thread (task, add_thread);
}

void
drape_garment_gallery_add_files (DrapeGarmentGallery *self,
                                 GListModel          *files)
{
  AddData *add;

  g_return_if_fail (DRAPE_IS_GARMENT_GALLERY (self));
  g_return_if_fail (G_IS_LIST_MODEL (files));

  add = g_new0 (AddData, 1);
  add->sources = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < g_list_model_get_n_items (files); i++)
    g_ptr_array_add (add->sources, g_list_model_get_item (files, i));
  run_add (self, add);
}

void
drape_garment_gallery_add_texture (DrapeGarmentGallery *self,
                                   GdkTexture          *texture)
{
  AddData *add;

  g_return_if_fail (DRAPE_IS_GARMENT_GALLERY (self));
  g_return_if_fail (GDK_IS_TEXTURE (texture));

  add = g_new0 (AddData, 1);
  add->texture_png = gdk_texture_save_to_png_bytes (texture);
  run_add (self, add);
}

static void
on_files_chosen (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(DrapeGarmentGallery) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GListModel) files = drape_file_chooser_open_finish (result, &error);

  if (files == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        drape_widget_show_toast (GTK_WIDGET (self), error->message);
      return;
    }
  drape_garment_gallery_add_files (self, files);
}

static void
add_files_action (GtkWidget  *widget,
                  const char *action_name,
                  GVariant   *parameter)
{
  GtkRoot *root = gtk_widget_get_root (widget);

  drape_file_chooser_open_async (GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                 _("Add Garments"), DRAPE_FILE_KIND_IMAGE, TRUE, NULL,
                                 on_files_chosen, g_object_ref (widget));
}

static void
on_paste_texture (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(DrapeGarmentGallery) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GdkTexture) texture = gdk_clipboard_read_texture_finish (GDK_CLIPBOARD (object), result, &error);

  if (texture == NULL)
    {
      drape_widget_show_toast (GTK_WIDGET (self), _("The clipboard holds no image"));
      return;
    }
  drape_garment_gallery_add_texture (self, texture);
}

static void
on_paste_files (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(DrapeGarmentGallery) self = user_data;
  g_autoptr(GListStore) files = g_list_store_new (G_TYPE_FILE);
  const GValue *value = gdk_clipboard_read_value_finish (GDK_CLIPBOARD (object), result, NULL);

  if (value == NULL)
    {
      drape_widget_show_toast (GTK_WIDGET (self), _("The clipboard holds no image"));
      return;
    }
  for (GSList *l = g_value_get_boxed (value); l != NULL; l = l->next)
    g_list_store_append (files, l->data);
  drape_garment_gallery_add_files (self, G_LIST_MODEL (files));
}

static void
paste_action (GtkWidget  *widget,
              const char *action_name,
              GVariant   *parameter)
{
  GdkClipboard *clipboard = gtk_widget_get_clipboard (widget);
  GdkContentFormats *formats = gdk_clipboard_get_formats (clipboard);

  /* Files copied in a file manager are added as files. */
  if (gdk_content_formats_contain_gtype (formats, GDK_TYPE_FILE_LIST))
    gdk_clipboard_read_value_async (clipboard, GDK_TYPE_FILE_LIST, G_PRIORITY_DEFAULT, NULL,
                                    on_paste_files, g_object_ref (widget));
  else
    gdk_clipboard_read_texture_async (clipboard, NULL, on_paste_texture, g_object_ref (widget));
}

/* ---- removing -------------------------------------------------------- */

void
drape_garment_gallery_remove (DrapeGarmentGallery *self,
                              DrapeGarment        *garment)
{
  guint position;

  g_return_if_fail (DRAPE_IS_GARMENT_GALLERY (self));
  g_return_if_fail (DRAPE_IS_GARMENT (garment));

  if (!g_list_store_find (self->garments, garment, &position))
    return;
  if (drape_garment_get_owned (garment))
    {
      g_autoptr(GError) error = NULL;

      if (!g_file_delete (drape_garment_get_file (garment), NULL, &error) &&
          !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
        {
          drape_widget_show_toast (GTK_WIDGET (self), error->message);
          return;
        }
    }
  else
    {
      g_auto(GStrv) hidden = g_settings_get_strv (self->settings, "hidden-garments");
      g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
      g_autofree char *uri = g_file_get_uri (drape_garment_get_file (garment));
      g_auto(GStrv) updated = NULL;

      g_strv_builder_addv (builder, (const char **) hidden);
      g_strv_builder_add (builder, uri);
      updated = g_strv_builder_end (builder);
      g_settings_set_strv (self->settings, "hidden-garments", (const char *const *) updated);
    }
  g_list_store_remove (self->garments, position);
  update_state (self);
}

static void
remove_action (GtkWidget  *widget,
               const char *action_name,
               GVariant   *parameter)
{
  DrapeGarmentGallery *self = DRAPE_GARMENT_GALLERY (widget);
  DrapeGarment *garment = drape_garment_gallery_get_selected (self);

  if (garment != NULL)
    drape_garment_gallery_remove (self, garment);
}

/* ---- drag and drop --------------------------------------------------- */

static gboolean
on_drop (GtkDropTarget       *target,
         const GValue        *value,
         double               x,
         double               y,
         DrapeGarmentGallery *self)
{
  if (G_VALUE_HOLDS (value, GDK_TYPE_FILE_LIST))
    {
      g_autoptr(GListStore) files = g_list_store_new (G_TYPE_FILE);

      for (GSList *l = g_value_get_boxed (value); l != NULL; l = l->next)
        g_list_store_append (files, l->data);
      drape_garment_gallery_add_files (self, G_LIST_MODEL (files));
      return TRUE;
    }
  if (G_VALUE_HOLDS (value, GDK_TYPE_TEXTURE))
    {
      drape_garment_gallery_add_texture (self, g_value_get_object (value));
      return TRUE;
    }
  return FALSE;
}

/* ---- GObject ---------------------------------------------------------- */

static void
on_selection_changed (DrapeGarmentGallery *self)
{
  update_state (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SELECTED]);
}

static void
drape_garment_gallery_dispose (GObject *object)
{
  DrapeGarmentGallery *self = DRAPE_GARMENT_GALLERY (object);
  GtkWidget *child;

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->reload_source, g_source_remove);
  for (guint i = 0; i < G_N_ELEMENTS (self->monitors); i++)
    if (self->monitors[i] != NULL)
      {
        g_signal_handlers_disconnect_by_data (self->monitors[i], self);
        g_file_monitor_cancel (self->monitors[i]);
        g_clear_object (&self->monitors[i]);
      }
  gtk_widget_dispose_template (GTK_WIDGET (self), DRAPE_TYPE_GARMENT_GALLERY);
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);
  g_clear_object (&self->settings);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->pending_selection);

  G_OBJECT_CLASS (drape_garment_gallery_parent_class)->dispose (object);
}

static void
drape_garment_gallery_get_property (GObject    *object,
                                    guint       prop_id,
                                    GValue     *value,
                                    GParamSpec *pspec)
{
  DrapeGarmentGallery *self = DRAPE_GARMENT_GALLERY (object);

  switch (prop_id)
    {
    case PROP_SELECTED:
      g_value_set_object (value, drape_garment_gallery_get_selected (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
drape_garment_gallery_class_init (DrapeGarmentGalleryClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = drape_garment_gallery_dispose;
  object_class->get_property = drape_garment_gallery_get_property;

  properties[PROP_SELECTED] =
    g_param_spec_object ("selected", NULL, NULL, DRAPE_TYPE_GARMENT,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  g_type_ensure (DRAPE_TYPE_GARMENT);
  gtk_widget_class_set_template_from_resource (widget_class, "/app/drape/Drape/drape-garment-gallery.ui");
  gtk_widget_class_bind_template_child (widget_class, DrapeGarmentGallery, stack);
  gtk_widget_class_bind_template_child (widget_class, DrapeGarmentGallery, grid);
  gtk_widget_class_bind_template_child (widget_class, DrapeGarmentGallery, selection);
  gtk_widget_class_bind_template_child (widget_class, DrapeGarmentGallery, garments);

  gtk_widget_class_install_action (widget_class, "gallery.add-files", NULL, add_files_action);
  gtk_widget_class_install_action (widget_class, "gallery.paste", NULL, paste_action);
  gtk_widget_class_install_action (widget_class, "gallery.remove", NULL, remove_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Delete, 0, "gallery.remove", NULL);

  gtk_widget_class_set_css_name (widget_class, "drape-garment-gallery");
}

static void
drape_garment_gallery_init (DrapeGarmentGallery *self)
{
  GtkDropTarget *target;
  GType types[] = { GDK_TYPE_FILE_LIST, GDK_TYPE_TEXTURE };

  gtk_widget_init_template (GTK_WIDGET (self));

  self->cancellable = g_cancellable_new ();
  self->settings = g_settings_new ("app.drape.Drape");
  g_signal_connect_object (self->settings, "changed::garments-dir",
                           G_CALLBACK (on_folder_setting_changed), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->selection, "notify::selected-item",
                           G_CALLBACK (on_selection_changed), self, G_CONNECT_SWAPPED);

  target = gtk_drop_target_new (G_TYPE_INVALID, GDK_ACTION_COPY);
  gtk_drop_target_set_gtypes (target, types, G_N_ELEMENTS (types));
  g_signal_connect (target, "drop", G_CALLBACK (on_drop), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (target));

  update_state (self);
  watch_folders (self);
  drape_garment_gallery_reload (self);
}

GtkWidget *
drape_garment_gallery_new (void)
{
  return g_object_new (DRAPE_TYPE_GARMENT_GALLERY, NULL);
}

GListModel *
drape_garment_gallery_get_garments (DrapeGarmentGallery *self)
{
  g_return_val_if_fail (DRAPE_IS_GARMENT_GALLERY (self), NULL);
  return G_LIST_MODEL (self->garments);
}

DrapeGarment *
drape_garment_gallery_get_selected (DrapeGarmentGallery *self)
{
  g_return_val_if_fail (DRAPE_IS_GARMENT_GALLERY (self), NULL);
  return gtk_single_selection_get_selected_item (self->selection);
}

void
drape_garment_gallery_select (DrapeGarmentGallery *self,
                              DrapeGarment        *garment)
{
  g_return_if_fail (DRAPE_IS_GARMENT_GALLERY (self));

  if (garment == NULL)
    gtk_single_selection_set_selected (self->selection, GTK_INVALID_LIST_POSITION);
  else
    select_file (self, drape_garment_get_file (garment));
}
