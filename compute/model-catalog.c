/* model-catalog.c: the JSON manifests in models/
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "model-catalog.h"

#include <string.h>
#include <json-glib/json-glib.h>

#include "error.h"

#define UNVERIFIED "unverified"

struct _DrapeCatalog {
  char      *dir;
  GPtrArray *models;   /* DrapeModelInfo, sorted by id */
};

static const char *const role_names[] = {
  [DRAPE_MODEL_ROLE_UNET] = "unet",
  [DRAPE_MODEL_ROLE_VAE] = "vae",
  [DRAPE_MODEL_ROLE_ATTENTION] = "attention",
  [DRAPE_MODEL_ROLE_PARSER] = "parser",
};

const char *
drape_model_role_to_string (DrapeModelRole role)
{
  g_return_val_if_fail ((guint) role < G_N_ELEMENTS (role_names), "unknown");
  return role_names[role];
}

gboolean
drape_model_path_is_safe (const char *path)
{
  g_auto(GStrv) parts = NULL;

  if (path == NULL || path[0] == '\0' || path[0] == '/' || strlen (path) > 1024 ||
      strchr (path, '\\') != NULL || !g_utf8_validate (path, -1, NULL))
    return FALSE;
  parts = g_strsplit (path, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    if (parts[i][0] == '\0' || strcmp (parts[i], ".") == 0 || strcmp (parts[i], "..") == 0)
      return FALSE;
  return TRUE;
}

/* Identifier characters: ids, repository names and revisions go into file
 * names and URLs, so they stay within a conservative set. */
static gboolean
is_name (const char *s,
         gboolean    allow_upper)
{
  if (s == NULL || s[0] == '\0' || strlen (s) > 96 || strcmp (s, ".") == 0 || strcmp (s, "..") == 0)
    return FALSE;
  for (const char *p = s; *p != '\0'; p++)
    if (!(g_ascii_islower (*p) || g_ascii_isdigit (*p) || *p == '-' || *p == '_' || *p == '.' ||
          (allow_upper && g_ascii_isupper (*p))))
      return FALSE;
  return TRUE;
}

static gboolean
is_repository (const char *s)
{
  g_auto(GStrv) parts = g_strsplit (s, "/", -1);

  return g_strv_length (parts) == 2 && is_name (parts[0], TRUE) && is_name (parts[1], TRUE);
}

static gboolean
is_sha256 (const char *s)
{
  if (strlen (s) != 64)
    return FALSE;
  for (const char *p = s; *p != '\0'; p++)
    if (!g_ascii_isxdigit (*p) || g_ascii_isupper (*p))
      return FALSE;
  return TRUE;
}

static JsonNode *
member (JsonObject *object,
        const char *field,
        const char *where,
        const char *name,
        GError    **error)
{
  JsonNode *node = json_object_get_member (object, field);

  if (node == NULL)
    drape_set_format_error (error, name, "missing field '%s%s'", where, field);
  return node;
}

static char *
get_string (JsonObject *object,
            const char *field,
            const char *where,
            const char *name,
            GError    **error)
{
  JsonNode *node = member (object, field, where, name, error);

  if (node == NULL)
    return NULL;
  if (JSON_NODE_TYPE (node) != JSON_NODE_VALUE || json_node_get_value_type (node) != G_TYPE_STRING ||
      json_node_get_string (node)[0] == '\0')
    {
      drape_set_format_error (error, name, "field '%s%s' must be a non-empty string", where, field);
      return NULL;
    }
  return g_strdup (json_node_get_string (node));
}

static JsonObject *
get_object (JsonObject *object,
            const char *field,
            const char *name,
            GError    **error)
{
  JsonNode *node = member (object, field, "", name, error);

  if (node == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      drape_set_format_error (error, name, "field '%s' must be an object", field);
      return NULL;
    }
  return json_node_get_object (node);
}

void
drape_model_info_free (DrapeModelInfo *info)
{
  if (info == NULL)
    return;
  for (guint i = 0; i < info->n_files; i++)
    {
      g_free (info->files[i].path);
      g_free (info->files[i].sha256);
    }
  g_free (info->files);
  g_free (info->id);
  g_free (info->name);
  g_free (info->description);
  g_free (info->repository);
  g_free (info->revision);
  g_free (info->licence_name);
  g_free (info->licence_url);
  g_free (info->licence_note);
  g_free (info->manifest_path);
  g_free (info);
}

static gboolean
parse_file (JsonNode       *node,
            guint           index,
            DrapeModelFile *file,
            const char     *name,
            GError        **error)
{
  g_autofree char *where = g_strdup_printf ("files[%u].", index);
  g_autofree char *sha = NULL;
  JsonObject *object;
  JsonNode *size;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    return drape_set_format_error (error, name, "files[%u] must be an object", index);
  object = json_node_get_object (node);

  file->path = get_string (object, "path", where, name, error);
  if (file->path == NULL)
    return FALSE;
  if (!drape_model_path_is_safe (file->path))
    return drape_set_format_error (error, name, "files[%u].path '%s' is not a safe relative path "
                 "(absolute, empty, '.' or '..' components, or backslashes)", index, file->path);

  size = member (object, "size", where, name, error);
  if (size == NULL)
    return FALSE;
  if (JSON_NODE_TYPE (size) == JSON_NODE_VALUE && json_node_get_value_type (size) == G_TYPE_INT64 &&
      json_node_get_int (size) >= 0)
    {
      file->size = (guint64) json_node_get_int (size);
      file->size_known = TRUE;
    }
  else if (JSON_NODE_TYPE (size) == JSON_NODE_VALUE && json_node_get_value_type (size) == G_TYPE_STRING &&
           strcmp (json_node_get_string (size), UNVERIFIED) == 0)
    file->size_known = FALSE;
  else
    return drape_set_format_error (error, name, "files[%u].size must be a byte count or \"" UNVERIFIED "\"", index);

  sha = get_string (object, "sha256", where, name, error);
  if (sha == NULL)
    return FALSE;
  if (strcmp (sha, UNVERIFIED) != 0)
    {
      if (!is_sha256 (sha))
        return drape_set_format_error (error, name, "files[%u].sha256 must be 64 lowercase hex digits or \"" UNVERIFIED "\"", index);
      file->sha256 = g_steal_pointer (&sha);
    }
  return TRUE;
}

static gboolean
parse_manifest (JsonObject     *root,
                DrapeModelInfo *info,
                const char     *name,
                GError        **error)
{
  g_autofree char *role = NULL;
  JsonObject *source, *licence;
  JsonNode *node;
  JsonArray *files;
  guint r;

  node = member (root, "format", "", name, error);
  if (node == NULL)
    return FALSE;
  if (JSON_NODE_TYPE (node) != JSON_NODE_VALUE || json_node_get_value_type (node) != G_TYPE_INT64 ||
      json_node_get_int (node) != 1)
    return drape_set_format_error (error, name, "field 'format' must be 1 (a newer Drape may read this manifest)");

  if ((info->id = get_string (root, "id", "", name, error)) == NULL ||
      (info->name = get_string (root, "name", "", name, error)) == NULL ||
      (info->description = get_string (root, "description", "", name, error)) == NULL ||
      (role = get_string (root, "role", "", name, error)) == NULL)
    return FALSE;
  if (!is_name (info->id, FALSE))
    return drape_set_format_error (error, name, "id '%s' may only hold lowercase letters, digits, '-', '_' and '.'", info->id);
  for (r = 0; r < G_N_ELEMENTS (role_names); r++)
    if (strcmp (role, role_names[r]) == 0)
      break;
  if (r == G_N_ELEMENTS (role_names))
    return drape_set_format_error (error, name, "unknown role '%s' (expected unet, vae, attention or parser)", role);
  info->role = (DrapeModelRole) r;

  node = member (root, "default", "", name, error);
  if (node == NULL)
    return FALSE;
  if (JSON_NODE_TYPE (node) != JSON_NODE_VALUE || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return drape_set_format_error (error, name, "field 'default' must be true or false");
  info->is_default = json_node_get_boolean (node);

  if ((source = get_object (root, "source", name, error)) == NULL ||
      (info->repository = get_string (source, "repository", "source.", name, error)) == NULL ||
      (info->revision = get_string (source, "revision", "source.", name, error)) == NULL)
    return FALSE;
  if (!is_repository (info->repository))
    return drape_set_format_error (error, name, "source.repository '%s' is not of the form owner/name", info->repository);
  if (!is_name (info->revision, TRUE))
    return drape_set_format_error (error, name, "source.revision '%s' is not a commit or branch name", info->revision);

  if ((licence = get_object (root, "licence", name, error)) == NULL ||
      (info->licence_name = get_string (licence, "name", "licence.", name, error)) == NULL ||
      (info->licence_url = get_string (licence, "url", "licence.", name, error)) == NULL)
    return FALSE;
  if (json_object_has_member (licence, "note") &&
      (info->licence_note = get_string (licence, "note", "licence.", name, error)) == NULL)
    return FALSE;

  node = member (root, "files", "", name, error);
  if (node == NULL)
    return FALSE;
  if (!JSON_NODE_HOLDS_ARRAY (node) || json_array_get_length (json_node_get_array (node)) == 0)
    return drape_set_format_error (error, name, "field 'files' must be a non-empty array");
  files = json_node_get_array (node);
  info->n_files = json_array_get_length (files);
  info->files = g_new0 (DrapeModelFile, info->n_files);
  for (guint i = 0; i < info->n_files; i++)
    {
      if (!parse_file (json_array_get_element (files, i), i, &info->files[i], name, error))
        return FALSE;
      for (guint j = 0; j < i; j++)
        if (strcmp (info->files[i].path, info->files[j].path) == 0)
          return drape_set_format_error (error, name, "files[%u].path '%s' is listed twice", i, info->files[i].path);
    }
  return TRUE;
}

DrapeModelInfo *
drape_model_info_new_from_data (const char *data,
                                gsize       length,
                                const char *name,
                                GError    **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(DrapeModelInfo) info = g_new0 (DrapeModelInfo, 1);
  g_autoptr(GError) local_error = NULL;
  JsonNode *root;

  if (!json_parser_load_from_data (parser, data, length, &local_error))
    {
      drape_set_format_error (error, name, "not valid JSON: %s", local_error->message);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      drape_set_format_error (error, name, "a manifest must be a JSON object");
      return NULL;
    }
  if (!parse_manifest (json_node_get_object (root), info, name, error))
    return NULL;
  info->manifest_path = g_strdup (name);
  return g_steal_pointer (&info);
}

guint64
drape_model_info_get_size (const DrapeModelInfo *info,
                           gboolean             *exact)
{
  guint64 total = 0;
  gboolean all = TRUE;

  for (guint i = 0; i < info->n_files; i++)
    {
      total += info->files[i].size;
      all = all && info->files[i].size_known;
    }
  if (exact != NULL)
    *exact = all;
  return total;
}

static gint
compare_ids (gconstpointer a,
             gconstpointer b)
{
  const DrapeModelInfo *x = *(DrapeModelInfo *const *) a;
  const DrapeModelInfo *y = *(DrapeModelInfo *const *) b;

  return strcmp (x->id, y->id);
}

static void
catalog_clear (gpointer data)
{
  DrapeCatalog *catalog = data;

  g_free (catalog->dir);
  g_ptr_array_unref (catalog->models);
}

DrapeCatalog *
drape_catalog_load (const char *dir,
                    GError    **error)
{
  g_autoptr(GPtrArray) models = g_ptr_array_new_with_free_func ((GDestroyNotify) drape_model_info_free);
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GDir) listing = NULL;
  DrapeCatalog *catalog;
  const char *entry;

  listing = g_dir_open (dir, 0, &local_error);
  if (listing == NULL)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_IO, "model catalog %s: %s", dir, local_error->message);
      return NULL;
    }
  while ((entry = g_dir_read_name (listing)) != NULL)
    {
      g_autofree char *path = NULL;
      g_autofree char *data = NULL;
      DrapeModelInfo *info;
      gsize length;

      if (!g_str_has_suffix (entry, ".json"))
        continue;
      path = g_build_filename (dir, entry, NULL);
      if (!g_file_get_contents (path, &data, &length, &local_error))
        {
          g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_IO, "%s", local_error->message);
          return NULL;
        }
      info = drape_model_info_new_from_data (data, length, path, error);
      if (info == NULL)
        return NULL;
      g_ptr_array_add (models, info);
    }
  if (models->len == 0)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_IO, "model catalog %s holds no manifests (*.json)", dir);
      return NULL;
    }
  g_ptr_array_sort (models, compare_ids);
  for (guint i = 1; i < models->len; i++)
    {
      const DrapeModelInfo *a = g_ptr_array_index (models, i - 1);
      const DrapeModelInfo *b = g_ptr_array_index (models, i);

      if (strcmp (a->id, b->id) == 0)
        {
          g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT, "%s and %s both define the model '%s'",
                       a->manifest_path, b->manifest_path, a->id);
          return NULL;
        }
    }

  catalog = g_atomic_rc_box_new0 (DrapeCatalog);
  catalog->dir = g_strdup (dir);
  catalog->models = g_steal_pointer (&models);
  return catalog;
}

char *
drape_catalog_dup_default_dir (void)
{
  const char *env = g_getenv ("DRAPE_CATALOG_DIR");
  g_autofree char *installed = g_build_filename (PKGDATADIR, "models", NULL);

  if (env != NULL && env[0] != '\0')
    return g_strdup (env);
  if (g_file_test (installed, G_FILE_TEST_IS_DIR))
    return g_steal_pointer (&installed);
  return g_strdup (SOURCE_MODELS_DIR);
}

DrapeCatalog *
drape_catalog_load_default (GError **error)
{
  g_autofree char *dir = drape_catalog_dup_default_dir ();

  return drape_catalog_load (dir, error);
}

DrapeCatalog *
drape_catalog_ref (DrapeCatalog *catalog)
{
  return g_atomic_rc_box_acquire (catalog);
}

void
drape_catalog_unref (DrapeCatalog *catalog)
{
  g_atomic_rc_box_release_full (catalog, catalog_clear);
}

const char *
drape_catalog_get_dir (DrapeCatalog *catalog)
{
  return catalog->dir;
}

guint
drape_catalog_get_n_models (DrapeCatalog *catalog)
{
  return catalog->models->len;
}

const DrapeModelInfo *
drape_catalog_get_nth (DrapeCatalog *catalog,
                       guint         index)
{
  g_return_val_if_fail (index < catalog->models->len, NULL);
  return g_ptr_array_index (catalog->models, index);
}

const DrapeModelInfo *
drape_catalog_lookup (DrapeCatalog *catalog,
                      const char   *id)
{
  for (guint i = 0; i < catalog->models->len; i++)
    {
      const DrapeModelInfo *info = g_ptr_array_index (catalog->models, i);
      if (strcmp (info->id, id) == 0)
        return info;
    }
  return NULL;
}

const DrapeModelInfo *
drape_catalog_require (DrapeCatalog *catalog,
                       const char   *id,
                       GError      **error)
{
  const DrapeModelInfo *info = drape_catalog_lookup (catalog, id);
  g_autoptr(GString) known = NULL;

  if (info != NULL)
    return info;
  known = g_string_new (NULL);
  for (guint i = 0; i < catalog->models->len; i++)
    {
      const DrapeModelInfo *m = g_ptr_array_index (catalog->models, i);
      g_string_append_printf (known, "%s%s", i > 0 ? ", " : "", m->id);
    }
  g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
               "no model '%s' in the catalog (known: %s)", id, known->str);
  return NULL;
}

char **
drape_catalog_dup_default_ids (DrapeCatalog *catalog)
{
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  for (guint i = 0; i < catalog->models->len; i++)
    {
      const DrapeModelInfo *info = g_ptr_array_index (catalog->models, i);
      if (info->is_default)
        g_strv_builder_add (builder, info->id);
    }
  return g_strv_builder_end (builder);
}
