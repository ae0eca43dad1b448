/* model-store.h: the models on this machine, their state, and fetching them
 *
 * This is the API the app (first-run page, Preferences), drape-cli and the
 * pipeline use.  No GTK, no GObject types of its own.
 *
 * Where models live
 *   drape_model_store_resolve_dir(): $DRAPE_MODELS_DIR if set, else the
 *   caller's setting (the app's Preferences), else
 *   $XDG_DATA_HOME/drape/models.  Inside, each repository keeps the hub's
 *   layout: <dir>/<owner>/<name>/<path in the repository>, e.g.
 *   <dir>/stabilityai/sd-vae-ft-mse/diffusion_pytorch_model.safetensors.
 *   <dir>/.drape/ holds a record per model (the sha256 each file had when it
 *   was verified, with its size, inode and times, so later checks need not
 *   hash 2 GB again) and the lock that keeps two fetches apart.
 *
 * States (drape_model_store_check)
 *   MISSING     no file of the model, no partial download
 *   PARTIAL     a download was interrupted or some files are missing:
 *               fetch resumes it
 *   UNVERIFIED  every file is there with the right size, but its sha256 has
 *               not been checked since it last changed (a QUICK check never
 *               hashes), or there is nothing to check it against: the
 *               catalog marks the hash "unverified" and Drape did not
 *               download the file itself
 *   VERIFIED    every file matches the catalog's sha256, or, where the
 *               catalog has none, the sha256 recorded when Drape downloaded
 *               it (or that the hub announced then)
 *   CORRUPT     a file has the wrong size or the wrong sha256 (fetch
 *               replaces it), or is not a regular file
 *   An unreadable path (permissions, a symlink loop) is an error, not a
 *   state.
 *
 * Using a model
 *   drape_model_store_require() returns the model's folder only when the
 *   model is VERIFIED (hashing files once after they change), so a
 *   half-downloaded or wrong file is never loaded.
 *
 * Fetching
 *   drape_model_store_fetch() downloads what is missing, partial, corrupt or
 *   unverifiable, resuming partial files, verifying each one and moving it
 *   into place only then (downloader.h says how), after checking that
 *   everything left to download fits on the disk.  It blocks: call it on a
 *   worker thread, or use drape_model_store_fetch_async(), which runs it on
 *   one and reports progress on the caller's main context.
 *
 * A DrapeModelStore is immutable and reference counted; every function may
 * be called from any thread.
 *
 * A first-run page, in outline:
 *
 *     catalog = drape_catalog_load_default (&error);
 *     dir = drape_model_store_resolve_dir (setting);   (env wins over it)
 *     store = drape_model_store_new (catalog, dir);
 *     ids = drape_catalog_dup_default_ids (catalog);
 *     for each id: drape_model_store_check (store, info, DRAPE_CHECK_QUICK,
 *                                           NULL, NULL, NULL, &status, &error)
 *       -> show info->name, info->licence_name/url/note, status.state and
 *          status.bytes_present / bytes_total (QUICK never hashes: fine on
 *          the main thread)
 *     on "Download": drape_model_store_fetch_async (store, NULL, NULL,
 *                       on_progress, self, NULL, cancellable, on_done, self);
 *       on_progress: p->done / p->total, p->rate, p->eta_s, p->file
 *       "Cancel": g_cancellable_cancel (cancellable); partial files stay,
 *                 the next fetch resumes them
 *       on_done: drape_model_store_fetch_finish (store, result, &error);
 *                error->message is ready to show (it names model and file)
 *     before loading: dir = drape_model_store_require (store, id, ...) on
 *       the worker thread that loads the weights.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "downloader.h"
#include "model-catalog.h"

G_BEGIN_DECLS

typedef enum {
  DRAPE_MODEL_MISSING,
  DRAPE_MODEL_PARTIAL,
  DRAPE_MODEL_UNVERIFIED,
  DRAPE_MODEL_VERIFIED,
  DRAPE_MODEL_CORRUPT,
} DrapeModelState;

typedef struct {
  DrapeModelState state;
  /* Bytes on disk: complete files plus partial downloads. */
  guint64         bytes_present;
  /* The model's size; a lower bound when !total_exact (unverified sizes). */
  guint64         bytes_total;
  gboolean        total_exact;
  /* Why the state is not VERIFIED, naming the file; NULL when it is. */
  char           *message;
} DrapeModelStatus;

typedef enum {
  /* Sizes and records only: instant, never hashes. */
  DRAPE_CHECK_QUICK,
  /* Hashes the files that changed since they were last verified. */
  DRAPE_CHECK_FULL,
  /* Hashes every file, trusting no record. */
  DRAPE_CHECK_REHASH,
} DrapeCheckLevel;

typedef enum {
  /* Hashing files already on disk. */
  DRAPE_FETCH_CHECKING,
  DRAPE_FETCH_DOWNLOADING,
  /* A file was verified and moved into place (or found good). */
  DRAPE_FETCH_FILE_DONE,
} DrapeFetchPhase;

typedef struct {
  DrapeFetchPhase phase;
  const char *model_id;
  const char *file;          /* path in the repository */
  guint       file_index;    /* 1-based, over every file of the fetch */
  guint       n_files;
  guint64     file_done;
  guint64     file_total;    /* 0 while unknown */
  /* Over the whole fetch, files already present included. */
  guint64     done;
  guint64     total;
  gboolean    total_exact;
  /* Bytes per second over the last few seconds; 0 until known. */
  double      rate;
  /* Seconds left at that rate; < 0 when unknown.  The current file's:
   * (file_total - file_done) / rate. */
  double      eta_s;
} DrapeFetchProgress;

/* Called on the fetching thread by drape_model_store_fetch(), on the main
 * context of the caller by drape_model_store_fetch_async(); at most about
 * ten times a second, and always when a file starts and ends.  The strings
 * live until the callback returns. */
typedef void (*DrapeFetchProgressFunc) (const DrapeFetchProgress *progress,
                                        gpointer                  user_data);

typedef struct _DrapeModelStore DrapeModelStore;

const char      *drape_model_state_to_string    (DrapeModelState      state);
void             drape_model_status_clear       (DrapeModelStatus    *status);

/* $DRAPE_MODELS_DIR, else `setting` if not NULL or empty, else
 * $XDG_DATA_HOME/drape/models. */
char            *drape_model_store_resolve_dir  (const char          *setting);

/* `dir` NULL: drape_model_store_resolve_dir (NULL).  Touches no file. */
DrapeModelStore *drape_model_store_new          (DrapeCatalog        *catalog,
                                                 const char          *dir);
DrapeModelStore *drape_model_store_ref          (DrapeModelStore     *store);
void             drape_model_store_unref        (DrapeModelStore     *store);
const char      *drape_model_store_get_dir      (DrapeModelStore     *store);
DrapeCatalog    *drape_model_store_get_catalog  (DrapeModelStore     *store);

/* <dir>/<repository>/<files[index].path> */
char            *drape_model_store_dup_file_path (DrapeModelStore    *store,
                                                 const DrapeModelInfo *info,
                                                 guint                index);
/* The folder holding the model's first (weights) file: for the UNet
 * <dir>/stable-diffusion-v1-5/stable-diffusion-inpainting/unet. */
char            *drape_model_store_dup_model_dir (DrapeModelStore    *store,
                                                 const DrapeModelInfo *info);

/* Fills *status (clear it with drape_model_status_clear).  progress, if
 * not NULL, follows the hashing (bytes hashed, bytes to hash).  FULL and
 * REHASH remember what they verified. */
gboolean         drape_model_store_check        (DrapeModelStore     *store,
                                                 const DrapeModelInfo *info,
                                                 DrapeCheckLevel      level,
                                                 DrapeDownloadFunc    progress,
                                                 gpointer             user_data,
                                                 GCancellable        *cancellable,
                                                 DrapeModelStatus    *status,
                                                 GError             **error);
/* The model's folder (as dup_model_dir) if it is VERIFIED after a FULL
 * check; otherwise an error saying what is wrong and how to fix it. */
char            *drape_model_store_require      (DrapeModelStore     *store,
                                                 const char          *id,
                                                 GCancellable        *cancellable,
                                                 GError             **error);
/* Deletes the model's files, partial downloads and record, and the folders
 * left empty.  Fails with DRAPE_ERROR_BUSY while a fetch runs. */
gboolean         drape_model_store_remove       (DrapeModelStore     *store,
                                                 const char          *id,
                                                 GError             **error);

/* Makes the models `ids` (NULL: the catalog's defaults) VERIFIED.  options
 * NULL: drape_fetch_options_init().  Errors name the model and the file;
 * DRAPE_ERROR_BUSY while another fetch holds the models folder,
 * DRAPE_ERROR_NO_SPACE before any download when the rest does not fit,
 * DRAPE_ERROR_CANCELLED (partial files are kept for a resume), and those
 * of drape_downloader_fetch_file(). */
gboolean         drape_model_store_fetch        (DrapeModelStore     *store,
                                                 const char *const   *ids,
                                                 const DrapeFetchOptions *options,
                                                 DrapeFetchProgressFunc progress,
                                                 gpointer             user_data,
                                                 GCancellable        *cancellable,
                                                 GError             **error);
/* The same on a worker thread.  progress runs on the thread-default main
 * context of this call, with only the latest state when the main loop
 * falls behind, and never after `callback`.  progress_notify frees
 * progress_data after the last call. */
void             drape_model_store_fetch_async  (DrapeModelStore     *store,
                                                 const char *const   *ids,
                                                 const DrapeFetchOptions *options,
                                                 DrapeFetchProgressFunc progress,
                                                 gpointer             progress_data,
                                                 GDestroyNotify       progress_notify,
                                                 GCancellable        *cancellable,
                                                 GAsyncReadyCallback  callback,
                                                 gpointer             user_data);
gboolean         drape_model_store_fetch_finish (DrapeModelStore     *store,
                                                 GAsyncResult        *result,
                                                 GError             **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DrapeModelStore, drape_model_store_unref)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (DrapeModelStatus, drape_model_status_clear)

G_END_DECLS
