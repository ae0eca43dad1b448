/* drape-file-chooser.c: file dialogs through the portal, on GTK 4.8
 * (GtkFileChooserNative) and on GTK 4.10 and later (GtkFileDialog)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>

#include "drape-file-chooser.h"

static GListModel *
make_filters (DrapeFileKind kind)
{
  GListStore *filters = g_list_store_new (GTK_TYPE_FILE_FILTER);
  g_autoptr(GtkFileFilter) filter = gtk_file_filter_new ();

  switch (kind)
    {
    case DRAPE_FILE_KIND_IMAGE:
      gtk_file_filter_set_name (filter, _("Images"));
      gtk_file_filter_add_mime_type (filter, "image/png");
      gtk_file_filter_add_mime_type (filter, "image/jpeg");
      gtk_file_filter_add_mime_type (filter, "image/webp");
      break;
    case DRAPE_FILE_KIND_SESSION:
      gtk_file_filter_set_name (filter, _("Drape Sessions"));
      gtk_file_filter_add_pattern (filter, "*.drape");
      break;
    case DRAPE_FILE_KIND_PNG:
      gtk_file_filter_set_name (filter, _("PNG Images"));
      gtk_file_filter_add_mime_type (filter, "image/png");
      break;
    case DRAPE_FILE_KIND_FOLDER:
    default:
      return G_LIST_MODEL (filters);
    }
  g_list_store_append (filters, filter);
  return G_LIST_MODEL (filters);
}

#if GTK_CHECK_VERSION (4, 10, 0)

static void
return_cancelled_or_error (GTask  *task,
                           GError *error)
{
  if (g_error_matches (error, GTK_DIALOG_ERROR, GTK_DIALOG_ERROR_DISMISSED) ||
      g_error_matches (error, GTK_DIALOG_ERROR, GTK_DIALOG_ERROR_CANCELLED))
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "%s", error->message);
      g_error_free (error);
    }
  else
    g_task_return_error (task, error);
}

static void
open_done (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GtkFileDialog *dialog = GTK_FILE_DIALOG (object);
  GError *error = NULL;
  GListModel *files = NULL;
  gboolean multiple = GPOINTER_TO_INT (g_task_get_task_data (task)) == 1;
  gboolean folder = GPOINTER_TO_INT (g_task_get_task_data (task)) == 2;

  if (multiple)
    files = gtk_file_dialog_open_multiple_finish (dialog, result, &error);
  else
    {
      g_autoptr(GFile) file = folder ? gtk_file_dialog_select_folder_finish (dialog, result, &error)
                                     : gtk_file_dialog_open_finish (dialog, result, &error);

      if (file != NULL)
        {
          GListStore *store = g_list_store_new (G_TYPE_FILE);

          g_list_store_append (store, file);
          files = G_LIST_MODEL (store);
        }
    }
  if (files == NULL)
    return_cancelled_or_error (task, error);
  else
    g_task_return_pointer (task, files, g_object_unref);
}

void
drape_file_chooser_open_async (GtkWindow           *parent,
                               const char          *title,
                               DrapeFileKind        kind,
                               gboolean             multiple,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_autoptr(GtkFileDialog) dialog = gtk_file_dialog_new ();
  g_autoptr(GListModel) filters = make_filters (kind);
  GTask *task = g_task_new (parent, cancellable, callback, user_data);

  g_task_set_source_tag (task, drape_file_chooser_open_async);
  gtk_file_dialog_set_title (dialog, title);
  gtk_file_dialog_set_modal (dialog, TRUE);
  if (g_list_model_get_n_items (filters) > 0)
    gtk_file_dialog_set_filters (dialog, filters);
  if (kind == DRAPE_FILE_KIND_FOLDER)
    {
      g_task_set_task_data (task, GINT_TO_POINTER (2), NULL);
      gtk_file_dialog_select_folder (dialog, parent, cancellable, open_done, task);
    }
  else if (multiple)
    {
      g_task_set_task_data (task, GINT_TO_POINTER (1), NULL);
      gtk_file_dialog_open_multiple (dialog, parent, cancellable, open_done, task);
    }
  else
    gtk_file_dialog_open (dialog, parent, cancellable, open_done, task);
}

static void
save_done (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;
  GFile *file = gtk_file_dialog_save_finish (GTK_FILE_DIALOG (object), result, &error);

  if (file == NULL)
    return_cancelled_or_error (task, error);
  else
    g_task_return_pointer (task, file, g_object_unref);
}

void
drape_file_chooser_save_async (GtkWindow           *parent,
                               const char          *title,
                               DrapeFileKind        kind,
                               const char          *initial_name,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_autoptr(GtkFileDialog) dialog = gtk_file_dialog_new ();
  g_autoptr(GListModel) filters = make_filters (kind);
  GTask *task = g_task_new (parent, cancellable, callback, user_data);

  g_task_set_source_tag (task, drape_file_chooser_save_async);
  gtk_file_dialog_set_title (dialog, title);
  gtk_file_dialog_set_modal (dialog, TRUE);
  gtk_file_dialog_set_initial_name (dialog, initial_name);
  if (g_list_model_get_n_items (filters) > 0)
    gtk_file_dialog_set_filters (dialog, filters);
  gtk_file_dialog_save (dialog, parent, cancellable, save_done, task);
}

#else /* GTK < 4.10 */

static void
on_native_response (GtkNativeDialog *native,
                    int              response,
                    GTask           *task)
{
  g_autoptr(GTask) owned = task;
  GtkFileChooser *chooser = GTK_FILE_CHOOSER (native);

  if (response != GTK_RESPONSE_ACCEPT)
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "%s", _("Dismissed"));
  else if (g_task_get_source_tag (task) == drape_file_chooser_save_async)
    g_task_return_pointer (task, gtk_file_chooser_get_file (chooser), g_object_unref);
  else
    g_task_return_pointer (task, gtk_file_chooser_get_files (chooser), g_object_unref);
  gtk_native_dialog_destroy (native);
  g_object_unref (native);
}

static void
run_native (GtkFileChooserNative *native,
            DrapeFileKind         kind,
            GTask                *task)
{
  g_autoptr(GListModel) filters = make_filters (kind);

  for (guint i = 0; i < g_list_model_get_n_items (filters); i++)
    {
      g_autoptr(GtkFileFilter) filter = g_list_model_get_item (filters, i);

      gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (native), filter);
    }
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (native), TRUE);
  g_signal_connect (native, "response", G_CALLBACK (on_native_response), task);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (native));
}

void
drape_file_chooser_open_async (GtkWindow           *parent,
                               const char          *title,
                               DrapeFileKind        kind,
                               gboolean             multiple,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  GTask *task = g_task_new (parent, cancellable, callback, user_data);
  GtkFileChooserNative *native;

  g_task_set_source_tag (task, drape_file_chooser_open_async);
  native = gtk_file_chooser_native_new (title, parent,
                                        kind == DRAPE_FILE_KIND_FOLDER ? GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER
                                                                       : GTK_FILE_CHOOSER_ACTION_OPEN,
                                        NULL, NULL);
  gtk_file_chooser_set_select_multiple (GTK_FILE_CHOOSER (native), multiple);
  run_native (native, kind, task);
}

void
drape_file_chooser_save_async (GtkWindow           *parent,
                               const char          *title,
                               DrapeFileKind        kind,
                               const char          *initial_name,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  GTask *task = g_task_new (parent, cancellable, callback, user_data);
  GtkFileChooserNative *native;

  g_task_set_source_tag (task, drape_file_chooser_save_async);
  native = gtk_file_chooser_native_new (title, parent, GTK_FILE_CHOOSER_ACTION_SAVE, NULL, NULL);
  gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (native), initial_name);
  run_native (native, kind, task);
}

#endif

GListModel *
drape_file_chooser_open_finish (GAsyncResult  *result,
                                GError       **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

GFile *
drape_file_chooser_save_finish (GAsyncResult  *result,
                                GError       **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}
