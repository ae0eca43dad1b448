/* model-store.c: models on disk: layout, records, states, fetch, remove
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "model-store.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "error.h"

#define STATE_DIR ".drape"
#define PROGRESS_INTERVAL_US (100 * 1000)
#define RATE_WINDOW_US (5 * G_USEC_PER_SEC)

struct _DrapeModelStore {
  DrapeCatalog *catalog;
  char *dir;
};

/* What the record remembers of one verified file. */
typedef struct {
  guint64 size;
  char *sha256;
  char *source;      /* "catalog", "hub" or "download" */
  guint64 inode;
  gint64 mtime_ns;
  gint64 ctime_ns;
} RecordEntry;

typedef struct {
  char *revision;
  GHashTable *files;  /* path -> RecordEntry */
} Record;

static const char *const state_names[] = {
  [DRAPE_MODEL_MISSING] = "missing",
  [DRAPE_MODEL_PARTIAL] = "partial",
  [DRAPE_MODEL_UNVERIFIED] = "unverified",
  [DRAPE_MODEL_VERIFIED] = "verified",
  [DRAPE_MODEL_CORRUPT] = "corrupt",
};

const char *
drape_model_state_to_string (DrapeModelState state)
{
  g_return_val_if_fail ((guint) state < G_N_ELEMENTS (state_names), "unknown");
  return state_names[state];
}

void
drape_model_status_clear (DrapeModelStatus *status)
{
  g_clear_pointer (&status->message, g_free);
}

char *
drape_model_store_resolve_dir (const char *setting)
{
  const char *env = g_getenv ("DRAPE_MODELS_DIR");

  if (env != NULL && env[0] != '\0')
    return g_strdup (env);
  if (setting != NULL && setting[0] != '\0')
    return g_strdup (setting);
  return g_build_filename (g_get_user_data_dir (), "drape", "models", NULL);
}

static void
store_clear (gpointer data)
{
  DrapeModelStore *store = data;

  drape_catalog_unref (store->catalog);
  g_free (store->dir);
}

DrapeModelStore *
drape_model_store_new (DrapeCatalog *catalog,
                       const char   *dir)
{
  DrapeModelStore *store = g_atomic_rc_box_new0 (DrapeModelStore);

  store->catalog = drape_catalog_ref (catalog);
  store->dir = dir != NULL ? g_strdup (dir) : drape_model_store_resolve_dir (NULL);
  return store;
}

DrapeModelStore *
drape_model_store_ref (DrapeModelStore *store)
{
  return g_atomic_rc_box_acquire (store);
}

void
drape_model_store_unref (DrapeModelStore *store)
{
  g_atomic_rc_box_release_full (store, store_clear);
}

const char *
drape_model_store_get_dir (DrapeModelStore *store)
{
  return store->dir;
}

DrapeCatalog *
drape_model_store_get_catalog (DrapeModelStore *store)
{
  return store->catalog;
}

char *
drape_model_store_dup_file_path (DrapeModelStore      *store,
                                 const DrapeModelInfo *info,
                                 guint                 index)
{
  g_return_val_if_fail (index < info->n_files, NULL);
  return g_build_filename (store->dir, info->repository, info->files[index].path, NULL);
}

char *
drape_model_store_dup_model_dir (DrapeModelStore      *store,
                                 const DrapeModelInfo *info)
{
  g_autofree char *first = drape_model_store_dup_file_path (store, info, 0);

  return g_path_get_dirname (first);
}

/* Records */

static void
record_entry_free (gpointer data)
{
  RecordEntry *entry = data;

  g_free (entry->sha256);
  g_free (entry->source);
  g_free (entry);
}

static void
record_free (Record *record)
{
  g_free (record->revision);
  g_hash_table_unref (record->files);
  g_free (record);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Record, record_free)

static char *
record_path (DrapeModelStore      *store,
             const DrapeModelInfo *info)
{
  g_autofree char *name = g_strconcat (info->id, ".json", NULL);

  return g_build_filename (store->dir, STATE_DIR, name, NULL);
}

static Record *
record_new (const char *revision)
{
  Record *record = g_new0 (Record, 1);

  record->revision = g_strdup (revision);
  record->files = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, record_entry_free);
  return record;
}

/* A missing or unreadable record is an empty one: the worst that follows
 * is hashing the files again. */
static Record *
record_load (DrapeModelStore      *store,
             const DrapeModelInfo *info)
{
  g_autofree char *path = record_path (store, info);
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *root, *files;
  JsonNode *node;
  Record *record;
  GList *members;

  if (!json_parser_load_from_file (parser, path, NULL) ||
      (node = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return record_new (info->revision);
  root = json_node_get_object (node);
  record = record_new (json_object_get_string_member_with_default (root, "revision", ""));
  node = json_object_get_member (root, "files");
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return record;
  files = json_node_get_object (node);
  members = json_object_get_members (files);
  for (GList *l = members; l != NULL; l = l->next)
    {
      JsonNode *value = json_object_get_member (files, l->data);
      JsonObject *o;
      RecordEntry *entry;
      const char *sha;

      if (!JSON_NODE_HOLDS_OBJECT (value))
        continue;
      o = json_node_get_object (value);
      sha = json_object_get_string_member_with_default (o, "sha256", "");
      if (strlen (sha) != 64)
        continue;
      entry = g_new0 (RecordEntry, 1);
      entry->size = (guint64) json_object_get_int_member_with_default (o, "size", -1);
      entry->sha256 = g_strdup (sha);
      entry->source = g_strdup (json_object_get_string_member_with_default (o, "source", "download"));
      entry->inode = (guint64) json_object_get_int_member_with_default (o, "inode", 0);
      entry->mtime_ns = json_object_get_int_member_with_default (o, "mtime_ns", 0);
      entry->ctime_ns = json_object_get_int_member_with_default (o, "ctime_ns", 0);
      g_hash_table_replace (record->files, g_strdup (l->data), entry);
    }
  g_list_free (members);
  return record;
}

static gboolean
ensure_state_dir (DrapeModelStore *store,
                  GError         **error)
{
  g_autofree char *dir = g_build_filename (store->dir, STATE_DIR, NULL);

  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      int saved = errno;
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_IO, "models folder %s is not writable: cannot create %s: %s",
                   store->dir, dir, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

static gboolean
record_save (DrapeModelStore      *store,
             const DrapeModelInfo *info,
             Record               *record,
             GError              **error)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *path = record_path (store, info);
  g_autofree char *data = NULL;
  g_autoptr(GError) local_error = NULL;
  GHashTableIter iter;
  gpointer key, value;

  if (!ensure_state_dir (store, error))
    return FALSE;
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "id");
  json_builder_add_string_value (builder, info->id);
  json_builder_set_member_name (builder, "repository");
  json_builder_add_string_value (builder, info->repository);
  json_builder_set_member_name (builder, "revision");
  json_builder_add_string_value (builder, record->revision);
  json_builder_set_member_name (builder, "files");
  json_builder_begin_object (builder);
  g_hash_table_iter_init (&iter, record->files);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      RecordEntry *entry = value;

      json_builder_set_member_name (builder, key);
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "size");
      json_builder_add_int_value (builder, (gint64) entry->size);
      json_builder_set_member_name (builder, "sha256");
      json_builder_add_string_value (builder, entry->sha256);
      json_builder_set_member_name (builder, "source");
      json_builder_add_string_value (builder, entry->source);
      json_builder_set_member_name (builder, "inode");
      json_builder_add_int_value (builder, (gint64) entry->inode);
      json_builder_set_member_name (builder, "mtime_ns");
      json_builder_add_int_value (builder, entry->mtime_ns);
      json_builder_set_member_name (builder, "ctime_ns");
      json_builder_add_int_value (builder, entry->ctime_ns);
      json_builder_end_object (builder);
    }
  json_builder_end_object (builder);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  json_generator_set_pretty (generator, TRUE);
  data = json_generator_to_data (generator, NULL);
  if (!g_file_set_contents (path, data, -1, &local_error))
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_IO, "%s", local_error->message);
      return FALSE;
    }
  return TRUE;
}

static void
record_set (Record     *record,
            const char *path,
            GStatBuf   *st,
            const char *sha256,
            const char *source)
{
  RecordEntry *entry = g_new0 (RecordEntry, 1);

  entry->size = (guint64) st->st_size;
  entry->sha256 = g_strdup (sha256);
  entry->source = g_strdup (source);
  entry->inode = (guint64) st->st_ino;
  entry->mtime_ns = (gint64) st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
  entry->ctime_ns = (gint64) st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
  g_hash_table_replace (record->files, g_strdup (path), entry);
}

/* Points the record at the catalog's revision; what it learnt of another
 * revision's files, other than the catalog's own hashes, no longer holds. */
static void
record_adopt_revision (Record     *record,
                       const char *revision)
{
  GHashTableIter iter;
  gpointer value;

  if (strcmp (record->revision, revision) == 0)
    return;
  g_hash_table_iter_init (&iter, record->files);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (strcmp (((RecordEntry *) value)->source, "catalog") != 0)
      g_hash_table_iter_remove (&iter);
  g_free (record->revision);
  record->revision = g_strdup (revision);
}

/* Whether the file is, byte for byte, the one the entry was made for as
 * far as the file system can tell (the test git uses). */
static gboolean
entry_matches_stat (const RecordEntry *entry,
                    GStatBuf          *st)
{
  return entry->size == (guint64) st->st_size && entry->inode == (guint64) st->st_ino &&
         entry->mtime_ns == (gint64) st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec &&
         entry->ctime_ns == (gint64) st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

/* The sha256 a file must have: the catalog's, else the one recorded when
 * Drape downloaded it from this same revision. */
static const char *
reference_sha256 (const DrapeModelInfo *info,
                  const DrapeModelFile *file,
                  Record               *record,
                  const char          **source)
{
  RecordEntry *entry;

  if (file->sha256 != NULL)
    {
      *source = "catalog";
      return file->sha256;
    }
  entry = g_hash_table_lookup (record->files, file->path);
  if (entry != NULL && strcmp (record->revision, info->revision) == 0 && strcmp (entry->source, "catalog") != 0)
    {
      *source = entry->source;
      return entry->sha256;
    }
  *source = NULL;
  return NULL;
}

/* Hashing */

typedef struct {
  DrapeDownloadFunc func;
  gpointer data;
  guint64 base;
  guint64 total;
} HashProgress;

static void
on_hash_chunk (guint64  done,
               guint64  total,
               gpointer user_data)
{
  HashProgress *progress = user_data;

  progress->func (progress->base + done, progress->total, progress->data);
}

static char *
hash_file (const char   *path,
           HashProgress *progress,
           GCancellable *cancellable,
           GError      **error)
{
  g_autoptr(GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  gboolean report = progress != NULL && progress->func != NULL;
  GStatBuf st;

  if (!drape_checksum_file (path, G_MAXUINT64, checksum, report ? on_hash_chunk : NULL, progress,
                            cancellable, error))
    return NULL;
  if (progress != NULL && g_stat (path, &st) == 0)
    progress->base += (guint64) st.st_size;
  return g_strdup (g_checksum_get_string (checksum));
}

/* Checking */

typedef enum {
  FILE_MISSING,
  FILE_PARTIAL,
  FILE_UNVERIFIED,
  FILE_VERIFIED,
  FILE_CORRUPT,
} FileState;

/* One file's state; *message says why it is not verified.  Hashes when the
 * level asks for it and there is something to compare with; a match is
 * written into the record. */
static gboolean
check_file (DrapeModelStore      *store,
            const DrapeModelInfo *info,
            guint                 index,
            Record               *record,
            DrapeCheckLevel       level,
            HashProgress         *progress,
            GCancellable         *cancellable,
            FileState            *state,
            guint64              *bytes,
            char                **message,
            gboolean             *record_changed,
            GError              **error)
{
  const DrapeModelFile *file = &info->files[index];
  g_autofree char *path = drape_model_store_dup_file_path (store, info, index);
  g_autofree char *part = drape_download_dup_part_path (path);
  g_autofree char *hash = NULL;
  const char *reference, *source;
  RecordEntry *entry;
  GStatBuf st;

  *bytes = 0;
  if (g_stat (path, &st) != 0)
    {
      int saved = errno;

      if (saved != ENOENT)
        {
          g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_IO, "%s: %s", path, g_strerror (saved));
          return FALSE;
        }
      if (g_stat (part, &st) == 0 && S_ISREG (st.st_mode))
        {
          *state = FILE_PARTIAL;
          *bytes = (guint64) st.st_size;
          *message = g_strdup_printf ("%s: partly downloaded", file->path);
        }
      else
        {
          *state = FILE_MISSING;
          *message = g_strdup_printf ("%s: missing", file->path);
        }
      return TRUE;
    }
  if (!S_ISREG (st.st_mode))
    {
      *state = FILE_CORRUPT;
      *message = g_strdup_printf ("%s is not a regular file", path);
      return TRUE;
    }
  *bytes = (guint64) st.st_size;
  entry = g_hash_table_lookup (record->files, file->path);
  reference = reference_sha256 (info, file, record, &source);
  if (file->size_known && (guint64) st.st_size != file->size)
    {
      *state = FILE_CORRUPT;
      *message = g_strdup_printf ("%s is %" G_GUINT64_FORMAT " bytes, the catalog says %" G_GUINT64_FORMAT,
                                  path, (guint64) st.st_size, file->size);
      return TRUE;
    }
  if (!file->size_known && reference != NULL && entry != NULL && entry->size != (guint64) st.st_size)
    {
      *state = FILE_CORRUPT;
      *message = g_strdup_printf ("%s is %" G_GUINT64_FORMAT " bytes, it was %" G_GUINT64_FORMAT " when downloaded",
                                  path, (guint64) st.st_size, entry->size);
      return TRUE;
    }
  if (reference == NULL)
    {
      *state = FILE_UNVERIFIED;
      *message = g_strdup_printf ("%s: no published sha256, and Drape did not download it, so it cannot be "
                                  "verified", file->path);
      return TRUE;
    }
  if (level != DRAPE_CHECK_REHASH && entry != NULL && strcmp (entry->sha256, reference) == 0 &&
      entry_matches_stat (entry, &st))
    {
      *state = FILE_VERIFIED;
      if (progress != NULL)
        progress->base += (guint64) st.st_size;
      return TRUE;
    }
  if (level == DRAPE_CHECK_QUICK)
    {
      *state = FILE_UNVERIFIED;
      *message = g_strdup_printf ("%s: not verified since it last changed", file->path);
      return TRUE;
    }

  hash = hash_file (path, progress, cancellable, error);
  if (hash == NULL)
    return FALSE;
  if (strcmp (hash, reference) != 0)
    {
      *state = FILE_CORRUPT;
      /* The record keeps the reference: it may be all there is. */
      *message = g_strdup_printf ("%s: sha256 %s, expected %s", path, hash, reference);
      return TRUE;
    }
  *state = FILE_VERIFIED;
  record_set (record, file->path, &st, hash, source);
  *record_changed = TRUE;
  return TRUE;
}

static guint64
bytes_to_hash (DrapeModelStore      *store,
               const DrapeModelInfo *info)
{
  guint64 total = 0;

  for (guint i = 0; i < info->n_files; i++)
    {
      g_autofree char *path = drape_model_store_dup_file_path (store, info, i);
      GStatBuf st;

      if (g_stat (path, &st) == 0 && S_ISREG (st.st_mode))
        total += (guint64) st.st_size;
    }
  return total;
}

gboolean
drape_model_store_check (DrapeModelStore      *store,
                         const DrapeModelInfo *info,
                         DrapeCheckLevel       level,
                         DrapeDownloadFunc     progress,
                         gpointer              user_data,
                         GCancellable         *cancellable,
                         DrapeModelStatus     *status,
                         GError              **error)
{
  g_autoptr(Record) record = record_load (store, info);
  HashProgress hashing = { progress, user_data, 0, 0 };
  g_autofree char *first_problem = NULL;
  g_autofree char *corrupt = NULL;
  gboolean record_changed = FALSE;
  guint counts[FILE_CORRUPT + 1] = { 0 };

  memset (status, 0, sizeof *status);
  status->bytes_total = drape_model_info_get_size (info, &status->total_exact);
  if (progress != NULL && level != DRAPE_CHECK_QUICK)
    hashing.total = bytes_to_hash (store, info);

  for (guint i = 0; i < info->n_files; i++)
    {
      g_autofree char *message = NULL;
      FileState state;
      guint64 bytes;

      if (!check_file (store, info, i, record, level, &hashing, cancellable, &state, &bytes, &message,
                       &record_changed, error))
        return FALSE;
      counts[state]++;
      status->bytes_present += bytes;
      if (state == FILE_CORRUPT && corrupt == NULL)
        corrupt = g_strdup (message);
      if (message != NULL && first_problem == NULL)
        first_problem = g_steal_pointer (&message);
    }
  /* Remembering is an optimisation: a read-only folder only costs hashing
   * again next time. */
  if (record_changed)
    record_save (store, info, record, NULL);

  if (counts[FILE_CORRUPT] > 0)
    {
      status->state = DRAPE_MODEL_CORRUPT;
      status->message = g_steal_pointer (&corrupt);
    }
  else if (counts[FILE_MISSING] == info->n_files)
    status->state = DRAPE_MODEL_MISSING;
  else if (counts[FILE_MISSING] > 0 || counts[FILE_PARTIAL] > 0)
    status->state = DRAPE_MODEL_PARTIAL;
  else if (counts[FILE_UNVERIFIED] > 0)
    status->state = DRAPE_MODEL_UNVERIFIED;
  else
    status->state = DRAPE_MODEL_VERIFIED;
  if (status->state != DRAPE_MODEL_VERIFIED && status->message == NULL)
    status->message = g_steal_pointer (&first_problem);
  return TRUE;
}

char *
drape_model_store_require (DrapeModelStore *store,
                           const char      *id,
                           GCancellable    *cancellable,
                           GError         **error)
{
  const DrapeModelInfo *info = drape_catalog_require (store->catalog, id, error);
  g_auto(DrapeModelStatus) status = { 0 };

  if (info == NULL ||
      !drape_model_store_check (store, info, DRAPE_CHECK_FULL, NULL, NULL, cancellable, &status, error))
    return NULL;
  switch (status.state)
    {
    case DRAPE_MODEL_VERIFIED:
      return drape_model_store_dup_model_dir (store, info);
    case DRAPE_MODEL_MISSING:
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_IO, "model %s is not downloaded (in %s); "
                   "get it with: drape-cli models fetch %s", id, store->dir, id);
      break;
    case DRAPE_MODEL_PARTIAL:
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_IO, "model %s is only partly downloaded (%s); "
                   "finish it with: drape-cli models fetch %s", id, status.message, id);
      break;
    case DRAPE_MODEL_CORRUPT:
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_CORRUPT, "model %s is damaged: %s; "
                   "repair it with: drape-cli models fetch %s", id, status.message, id);
      break;
    case DRAPE_MODEL_UNVERIFIED:
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_CORRUPT, "model %s cannot be verified: %s; "
                   "download it again with: drape-cli models fetch --force %s", id, status.message, id);
      break;
    }
  return NULL;
}

/* Locking */

/* An exclusive lock on <dir>/.drape/lock, or -1.  Creating it is also the
 * check that the folder is writable. */
static int
lock_store (DrapeModelStore *store,
            GError         **error)
{
  g_autofree char *path = g_build_filename (store->dir, STATE_DIR, "lock", NULL);
  int fd;

  if (!ensure_state_dir (store, error))
    return -1;
  fd = g_open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_IO, "models folder %s is not writable: %s",
                   store->dir, g_strerror (saved));
      return -1;
    }
  if (flock (fd, LOCK_EX | LOCK_NB) != 0)
    {
      int saved = errno;
      close (fd);
      if (saved == EWOULDBLOCK)
        g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_BUSY, "another Drape is downloading into %s", store->dir);
      else
        g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_IO, "locking %s: %s", path, g_strerror (saved));
      return -1;
    }
  return fd;
}

/* Removing */

static gboolean
unlink_if_present (const char *path,
                   GError    **error)
{
  if (g_unlink (path) != 0 && errno != ENOENT)
    {
      int saved = errno;
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_IO, "removing %s: %s", path, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

/* Removes the empty folders from `path`'s parent up to the store's root. */
static void
prune_empty_dirs (DrapeModelStore *store,
                  const char      *path)
{
  g_autofree char *dir = g_path_get_dirname (path);

  while (strlen (dir) > strlen (store->dir) && g_str_has_prefix (dir, store->dir) && g_rmdir (dir) == 0)
    {
      char *parent = g_path_get_dirname (dir);
      g_free (dir);
      dir = parent;
    }
}

gboolean
drape_model_store_remove (DrapeModelStore *store,
                          const char      *id,
                          GError         **error)
{
  const DrapeModelInfo *info = drape_catalog_require (store->catalog, id, error);
  g_autofree char *record = NULL;
  int lock;

  if (info == NULL)
    return FALSE;
  if (!g_file_test (store->dir, G_FILE_TEST_IS_DIR))
    return TRUE;
  lock = lock_store (store, error);
  if (lock < 0)
    return FALSE;
  for (guint i = 0; i < info->n_files; i++)
    {
      g_autofree char *path = drape_model_store_dup_file_path (store, info, i);
      g_autofree char *part = drape_download_dup_part_path (path);

      if (!unlink_if_present (path, error) || !unlink_if_present (part, error))
        {
          close (lock);
          return FALSE;
        }
      prune_empty_dirs (store, path);
    }
  record = record_path (store, info);
  close (lock);
  return unlink_if_present (record, error);
}

/* Fetching */

typedef struct {
  const DrapeModelInfo *info;
  guint index;
  char *path;
  gboolean needed;
  guint64 present;    /* bytes already there: a verified file or a partial one */
} Planned;

static void
planned_clear (gpointer data)
{
  Planned *planned = data;

  g_free (planned->path);
}

typedef struct {
  DrapeFetchProgressFunc func;
  gpointer data;
  DrapeFetchProgress progress;
  guint64 base_done;           /* bytes of the files before this one */
  gboolean file_started;
  guint64 file_start;          /* partial bytes this file resumed from */
  guint64 transferred_before;  /* bytes downloaded for earlier files */
  guint64 transferred;
  gboolean counted_total;      /* this file's size was added to total */
  gint64 last_emit;
  /* (time, transferred) samples over the rate window */
  GArray *samples;
} Reporter;

typedef struct {
  gint64 time;
  guint64 transferred;
} Sample;

static void
reporter_emit (Reporter *reporter,
               gboolean  force)
{
  DrapeFetchProgress *p = &reporter->progress;
  gint64 now = g_get_monotonic_time ();
  Sample sample = { now, reporter->transferred };
  const Sample *oldest;

  if (reporter->func == NULL || (!force && now - reporter->last_emit < PROGRESS_INTERVAL_US))
    return;
  reporter->last_emit = now;
  g_array_append_val (reporter->samples, sample);
  while (reporter->samples->len > 2 &&
         now - g_array_index (reporter->samples, Sample, 1).time > RATE_WINDOW_US)
    g_array_remove_index (reporter->samples, 0);
  oldest = &g_array_index (reporter->samples, Sample, 0);
  p->rate = now - oldest->time >= G_USEC_PER_SEC / 2
            ? (double) (reporter->transferred - oldest->transferred) * G_USEC_PER_SEC / (double) (now - oldest->time)
            : 0.0;
  p->eta_s = p->rate > 0 && p->total_exact && p->total >= p->done ? (double) (p->total - p->done) / p->rate : -1.0;
  reporter->func (p, reporter->data);
}

static void
on_file_progress (guint64  done,
                  guint64  total,
                  gpointer user_data)
{
  Reporter *reporter = user_data;
  DrapeFetchProgress *p = &reporter->progress;

  if (!reporter->file_started)
    {
      reporter->file_started = TRUE;
      reporter->file_start = done;
    }
  if (p->file_total == 0 && total > 0 && !reporter->counted_total)
    {
      /* A size the catalog did not know, learnt from the server. */
      p->total += total;
      reporter->counted_total = TRUE;
    }
  if (total > 0)
    p->file_total = total;
  p->file_done = done;
  p->done = reporter->base_done + done;
  reporter->transferred = reporter->transferred_before + (done >= reporter->file_start ? done - reporter->file_start : 0);
  reporter_emit (reporter, FALSE);
}

static void
on_hash_progress (guint64  done,
                  guint64  total,
                  gpointer user_data)
{
  Reporter *reporter = user_data;

  reporter->progress.file_done = done;
  reporter->progress.done = reporter->base_done + done;
  reporter_emit (reporter, FALSE);
}

/* Whether a file in place can be kept: verified now (hashing it when its
 * record does not vouch for it) against a known hash. */
static gboolean
plan_file (DrapeModelStore      *store,
           const DrapeModelInfo *info,
           guint                 index,
           Record               *record,
           const DrapeFetchOptions *options,
           Reporter             *reporter,
           Planned              *planned,
           gboolean             *record_changed,
           GCancellable         *cancellable,
           GError              **error)
{
  g_autofree char *message = NULL;
  HashProgress hashing = { reporter->func != NULL ? on_hash_progress : NULL, reporter, 0, 0 };
  FileState state;
  guint64 bytes;

  planned->info = info;
  planned->index = index;
  planned->path = drape_model_store_dup_file_path (store, info, index);
  if (options->force)
    {
      g_autofree char *part = drape_download_dup_part_path (planned->path);
      if (!unlink_if_present (part, error))
        return FALSE;
      planned->needed = TRUE;
      return TRUE;
    }
  reporter->progress.phase = DRAPE_FETCH_CHECKING;
  reporter->progress.model_id = info->id;
  reporter->progress.file = info->files[index].path;
  reporter->progress.file_done = 0;
  reporter->progress.file_total = info->files[index].size;
  hashing.total = info->files[index].size;
  if (!check_file (store, info, index, record, DRAPE_CHECK_FULL, &hashing, cancellable, &state, &bytes, &message,
                   record_changed, error))
    return FALSE;
  planned->needed = state != FILE_VERIFIED;
  planned->present = state == FILE_VERIFIED || state == FILE_PARTIAL ? bytes : 0;
  return TRUE;
}

static gboolean
ensure_parent_dir (const char *path,
                   GError    **error)
{
  g_autofree char *dir = g_path_get_dirname (path);

  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      int saved = errno;
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_IO, "cannot create %s: %s", dir, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

static gboolean
prefix_error (GError              **error,
              const DrapeModelInfo *info)
{
  g_prefix_error (error, "%s: ", info->id);
  return FALSE;
}

static gboolean
fetch_locked (DrapeModelStore         *store,
              GPtrArray               *infos,
              const DrapeFetchOptions *options,
              Reporter                *reporter,
              GCancellable            *cancellable,
              GError                 **error)
{
  g_autoptr(GArray) plan = g_array_new (FALSE, TRUE, sizeof (Planned));
  g_autoptr(GPtrArray) records = g_ptr_array_new_with_free_func ((GDestroyNotify) record_free);
  g_autoptr(DrapeDownloader) downloader = NULL;
  DrapeFetchProgress *p = &reporter->progress;
  guint64 need = 0;

  g_array_set_clear_func (plan, planned_clear);
  downloader = drape_downloader_new (options, error);
  if (downloader == NULL)
    return FALSE;

  p->total_exact = TRUE;
  for (guint m = 0; m < infos->len; m++)
    {
      const DrapeModelInfo *info = g_ptr_array_index (infos, m);
      gboolean exact;

      p->total += drape_model_info_get_size (info, &exact);
      p->total_exact = p->total_exact && exact;
      p->n_files += info->n_files;
    }

  /* What is already good is kept; the rest must fit on the disk before
   * anything is downloaded. */
  for (guint m = 0; m < infos->len; m++)
    {
      const DrapeModelInfo *info = g_ptr_array_index (infos, m);
      Record *record = record_load (store, info);
      gboolean record_changed = FALSE;

      g_ptr_array_add (records, record);
      for (guint i = 0; i < info->n_files; i++)
        {
          Planned planned = { 0 };

          p->file_index++;
          reporter->base_done = p->done;
          if (!plan_file (store, info, i, record, options, reporter, &planned, &record_changed, cancellable, error))
            {
              planned_clear (&planned);
              return prefix_error (error, info);
            }
          if (planned.needed && info->files[i].size_known)
            need += info->files[i].size - MIN (planned.present, info->files[i].size);
          /* A size the catalog does not know, known from the file kept. */
          if (!planned.needed && !info->files[i].size_known)
            p->total += planned.present;
          p->done = reporter->base_done + planned.present;
          g_array_append_val (plan, planned);
        }
      if (record_changed)
        record_save (store, info, record, NULL);
    }
  if (!drape_check_free_space (store->dir, need, options, error))
    return FALSE;

  p->file_index = 0;
  for (guint k = 0, m = 0; m < infos->len; m++)
    {
      const DrapeModelInfo *info = g_ptr_array_index (infos, m);
      Record *record = g_ptr_array_index (records, m);

      for (guint i = 0; i < info->n_files; i++, k++)
        {
          Planned *planned = &g_array_index (plan, Planned, k);
          const DrapeModelFile *file = &info->files[i];
          g_auto(DrapeDownloadResult) result = { 0 };
          GStatBuf st;

          p->file_index++;
          p->model_id = info->id;
          p->file = file->path;
          p->file_total = file->size;
          if (!planned->needed)
            {
              p->phase = DRAPE_FETCH_FILE_DONE;
              p->file_done = p->file_total;
              reporter_emit (reporter, TRUE);
              continue;
            }
          /* The bytes counted as present were partial ones: the download
           * reports them again. */
          p->done -= planned->present;
          reporter->base_done = p->done;
          reporter->file_started = FALSE;
          reporter->counted_total = file->size_known;
          p->phase = DRAPE_FETCH_DOWNLOADING;
          p->file_done = 0;
          reporter_emit (reporter, TRUE);
          if (!ensure_parent_dir (planned->path, error) ||
              !drape_downloader_fetch_file (downloader, info->repository, info->revision, file, planned->path,
                                            on_file_progress, reporter, &result, cancellable, error))
            {
              /* Folders made for a file that never came. */
              prune_empty_dirs (store, planned->path);
              return prefix_error (error, info);
            }
          if (g_stat (planned->path, &st) != 0)
            {
              int saved = errno;
              g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_IO, "%s: %s", planned->path, g_strerror (saved));
              return prefix_error (error, info);
            }
          record_adopt_revision (record, info->revision);
          record_set (record, file->path, &st, result.sha256,
                      result.checked_against != NULL ? result.checked_against : "download");
          if (!record_save (store, info, record, error))
            return prefix_error (error, info);
          reporter->transferred_before = reporter->transferred;
          p->done = reporter->base_done + result.size;
          p->file_done = result.size;
          p->phase = DRAPE_FETCH_FILE_DONE;
          reporter_emit (reporter, TRUE);
        }
    }
  return TRUE;
}

gboolean
drape_model_store_fetch (DrapeModelStore         *store,
                         const char *const       *ids,
                         const DrapeFetchOptions *options,
                         DrapeFetchProgressFunc   progress,
                         gpointer                 user_data,
                         GCancellable            *cancellable,
                         GError                 **error)
{
  g_autoptr(GPtrArray) infos = g_ptr_array_new ();
  g_auto(GStrv) defaults = NULL;
  g_autoptr(GArray) samples = g_array_new (FALSE, FALSE, sizeof (Sample));
  DrapeFetchOptions default_options;
  Reporter reporter = { .func = progress, .data = user_data, .samples = samples };
  gboolean ok;
  int lock;

  if (options == NULL)
    {
      drape_fetch_options_init (&default_options);
      options = &default_options;
    }
  if (ids == NULL)
    ids = (const char *const *) (defaults = drape_catalog_dup_default_ids (store->catalog));
  for (guint i = 0; ids[i] != NULL; i++)
    {
      const DrapeModelInfo *info = drape_catalog_require (store->catalog, ids[i], error);

      if (info == NULL)
        return FALSE;
      if (!g_ptr_array_find (infos, info, NULL))
        g_ptr_array_add (infos, (gpointer) info);
    }

  lock = lock_store (store, error);
  if (lock < 0)
    return FALSE;
  ok = fetch_locked (store, infos, options, &reporter, cancellable, error);
  close (lock);
  return ok;
}

/* Asynchronous fetch: the worker publishes its latest progress in a slot;
 * the caller's main context shows it. */

typedef struct {
  DrapeModelStore *store;
  char **ids;
  DrapeFetchOptions options;
  gboolean has_options;
  DrapeFetchProgressFunc progress;
  gpointer progress_data;
  GDestroyNotify progress_notify;
  GMainContext *context;
  GMutex lock;
  DrapeFetchProgress latest;   /* strings owned below */
  char *latest_model;
  char *latest_file;
  gboolean pending;            /* latest not shown yet */
  gboolean finished;           /* no more progress calls */
  gboolean idle_queued;
} AsyncFetch;

static void
async_fetch_clear (gpointer data)
{
  AsyncFetch *fetch = data;

  drape_model_store_unref (fetch->store);
  g_strfreev (fetch->ids);
  g_main_context_unref (fetch->context);
  g_mutex_clear (&fetch->lock);
  g_free (fetch->latest_model);
  g_free (fetch->latest_file);
}

static void
async_fetch_release (gpointer data)
{
  g_atomic_rc_box_release_full (data, async_fetch_clear);
}

/* Shows the latest progress, if any is pending; on the caller's context. */
static void
async_fetch_flush (AsyncFetch *fetch)
{
  DrapeFetchProgress shown;
  g_autofree char *model = NULL;
  g_autofree char *file = NULL;

  g_mutex_lock (&fetch->lock);
  fetch->idle_queued = FALSE;
  if (!fetch->pending || fetch->finished)
    {
      g_mutex_unlock (&fetch->lock);
      return;
    }
  shown = fetch->latest;
  model = g_strdup (fetch->latest_model);
  file = g_strdup (fetch->latest_file);
  fetch->pending = FALSE;
  g_mutex_unlock (&fetch->lock);

  shown.model_id = model;
  shown.file = file;
  fetch->progress (&shown, fetch->progress_data);
}

static gboolean
async_fetch_idle (gpointer data)
{
  async_fetch_flush (data);
  return G_SOURCE_REMOVE;
}

static void
async_fetch_progress (const DrapeFetchProgress *progress,
                      gpointer                  user_data)
{
  AsyncFetch *fetch = user_data;
  gboolean queue;

  g_mutex_lock (&fetch->lock);
  fetch->latest = *progress;
  if (g_strcmp0 (fetch->latest_model, progress->model_id) != 0)
    {
      g_free (fetch->latest_model);
      fetch->latest_model = g_strdup (progress->model_id);
    }
  if (g_strcmp0 (fetch->latest_file, progress->file) != 0)
    {
      g_free (fetch->latest_file);
      fetch->latest_file = g_strdup (progress->file);
    }
  fetch->pending = TRUE;
  queue = !fetch->idle_queued;
  fetch->idle_queued = TRUE;
  g_mutex_unlock (&fetch->lock);
  /* An idle source, not g_main_context_invoke(): that would run the
   * callback right here when this thread manages to acquire the context,
   * as it may with the global default one. */
  if (queue)
    {
      GSource *source = g_idle_source_new ();

      g_source_set_priority (source, G_PRIORITY_DEFAULT);
      g_source_set_callback (source, async_fetch_idle, g_atomic_rc_box_acquire (fetch), async_fetch_release);
      g_source_set_static_name (source, "drape-fetch-progress");
      g_source_attach (source, fetch->context);
      g_source_unref (source);
    }
}

static void
async_fetch_thread (GTask        *task,
                    gpointer      source_object,
                    gpointer      task_data,
                    GCancellable *cancellable)
{
  AsyncFetch *fetch = task_data;
  g_autoptr(GError) error = NULL;

  if (drape_model_store_fetch (fetch->store, (const char *const *) fetch->ids,
                               fetch->has_options ? &fetch->options : NULL,
                               fetch->progress != NULL ? async_fetch_progress : NULL, fetch,
                               cancellable, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, g_steal_pointer (&error));
}

typedef struct {
  AsyncFetch *fetch;
  GAsyncReadyCallback callback;
  gpointer user_data;
} AsyncDone;

/* Runs on the caller's context once the worker is done: the last progress
 * first, then the caller's callback, and no progress after that. */
static void
async_fetch_done (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  AsyncDone *done = user_data;

  if (done->fetch->progress != NULL)
    async_fetch_flush (done->fetch);
  g_mutex_lock (&done->fetch->lock);
  done->fetch->finished = TRUE;
  g_mutex_unlock (&done->fetch->lock);
  if (done->fetch->progress_notify != NULL)
    done->fetch->progress_notify (done->fetch->progress_data);
  if (done->callback != NULL)
    done->callback (source, result, done->user_data);
  async_fetch_release (done->fetch);
  g_free (done);
}

void
drape_model_store_fetch_async (DrapeModelStore         *store,
                               const char *const       *ids,
                               const DrapeFetchOptions *options,
                               DrapeFetchProgressFunc   progress,
                               gpointer                 progress_data,
                               GDestroyNotify           progress_notify,
                               GCancellable            *cancellable,
                               GAsyncReadyCallback      callback,
                               gpointer                 user_data)
{
  AsyncFetch *fetch = g_atomic_rc_box_new0 (AsyncFetch);
  AsyncDone *done = g_new0 (AsyncDone, 1);
  g_autoptr(GTask) task = NULL;

  fetch->store = drape_model_store_ref (store);
  fetch->ids = ids != NULL ? g_strdupv ((char **) ids) : NULL;
  fetch->has_options = options != NULL;
  if (options != NULL)
    fetch->options = *options;
  fetch->progress = progress;
  fetch->progress_data = progress_data;
  fetch->progress_notify = progress_notify;
  fetch->context = g_main_context_ref_thread_default ();
  g_mutex_init (&fetch->lock);

  done->fetch = g_atomic_rc_box_acquire (fetch);
  done->callback = callback;
  done->user_data = user_data;
  /* The GTask has no source object: finish checks the tag instead. */
  task = g_task_new (NULL, cancellable, async_fetch_done, done);
  g_task_set_source_tag (task, drape_model_store_fetch_async);
  g_task_set_task_data (task, fetch, async_fetch_release);
  g_task_run_in_thread (task, async_fetch_thread);
}

gboolean
drape_model_store_fetch_finish (DrapeModelStore *store,
                                GAsyncResult    *result,
                                GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == drape_model_store_fetch_async, FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
