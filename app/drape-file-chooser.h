/* drape-file-chooser.h: file dialogs through the portal, on GTK 4.8
 * (GtkFileChooserNative) and on GTK 4.10 and later (GtkFileDialog)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

typedef enum {
  DRAPE_FILE_KIND_IMAGE,   /* PNG, JPEG, WebP */
  DRAPE_FILE_KIND_SESSION, /* .drape */
  DRAPE_FILE_KIND_PNG,     /* a result to save */
  DRAPE_FILE_KIND_FOLDER,
} DrapeFileKind;

/* A dismissed dialog finishes with G_IO_ERROR_CANCELLED. */
void        drape_file_chooser_open_async   (GtkWindow           *parent,
                                             const char          *title,
                                             DrapeFileKind        kind,
                                             gboolean             multiple,
                                             GCancellable        *cancellable,
                                             GAsyncReadyCallback  callback,
                                             gpointer             user_data);
/* A list of GFile. */
GListModel *drape_file_chooser_open_finish  (GAsyncResult        *result,
                                             GError             **error);
void        drape_file_chooser_save_async   (GtkWindow           *parent,
                                             const char          *title,
                                             DrapeFileKind        kind,
                                             const char          *initial_name,
                                             GCancellable        *cancellable,
                                             GAsyncReadyCallback  callback,
                                             gpointer             user_data);
GFile      *drape_file_chooser_save_finish  (GAsyncResult        *result,
                                             GError             **error);

G_END_DECLS
