/* json-config.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <json-glib/json-glib.h>

#include "error.h"
#include "json-config.h"

struct _DrapeJson
{
  char *path;
  JsonParser *parser;
  JsonObject *root;
  GError *error;
};

DrapeJson *
drape_json_open (const char *path,
                 GError    **error)
{
  g_autoptr(DrapeJson) json = g_new0 (DrapeJson, 1);
  g_autoptr(GError) local_error = NULL;
  JsonNode *root;

  json->path = g_strdup (path);
  json->parser = json_parser_new_immutable ();
  if (!json_parser_load_from_mapped_file (json->parser, path, &local_error))
    {
      gboolean missing = g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
      g_set_error (error, DRAPE_ERROR, missing ? DRAPE_ERROR_IO : DRAPE_ERROR_FORMAT,
                   "%s: %s", path, missing ? "file not found" : local_error->message);
      return NULL;
    }
  root = json_parser_get_root (json->parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT, "%s: not a JSON object", path);
      return NULL;
    }
  json->root = json_node_get_object (root);
  return g_steal_pointer (&json);
}

void
drape_json_free (DrapeJson *json)
{
  if (json == NULL)
    return;
  g_clear_object (&json->parser);
  g_clear_error (&json->error);
  g_free (json->path);
  g_free (json);
}

void
drape_json_fail (DrapeJson  *json,
                 const char *format,
                 ...)
{
  g_autofree char *message = NULL;
  va_list args;

  if (json->error != NULL)
    return;
  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  json->error = g_error_new (DRAPE_ERROR, DRAPE_ERROR_FORMAT, "%s: %s", json->path, message);
}

gboolean
drape_json_check (DrapeJson *json,
                  GError   **error)
{
  if (json->error == NULL)
    return TRUE;
  g_propagate_error (error, g_error_copy (json->error));
  return FALSE;
}

gboolean
drape_json_has (DrapeJson  *json,
                const char *key)
{
  return json_object_has_member (json->root, key);
}

gboolean
drape_json_is_null (DrapeJson  *json,
                    const char *key)
{
  JsonNode *node = json_object_get_member (json->root, key);

  return node == NULL || JSON_NODE_HOLDS_NULL (node);
}

gboolean
drape_json_is_array (DrapeJson  *json,
                     const char *key)
{
  JsonNode *node = json_object_get_member (json->root, key);

  return node != NULL && JSON_NODE_HOLDS_ARRAY (node);
}

static JsonNode *
value_node (DrapeJson  *json,
            const char *key,
            GType       type,
            const char *what)
{
  JsonNode *node = json_object_get_member (json->root, key);

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return NULL;
  if (!JSON_NODE_HOLDS_VALUE (node) ||
      (json_node_get_value_type (node) != type &&
       !(type == G_TYPE_DOUBLE && json_node_get_value_type (node) == G_TYPE_INT64)))
    {
      drape_json_fail (json, "'%s' is not %s", key, what);
      return NULL;
    }
  return node;
}

guint32
drape_json_uint (DrapeJson  *json,
                 const char *key,
                 guint32     fallback)
{
  JsonNode *node = value_node (json, key, G_TYPE_INT64, "an integer");
  gint64 v;

  if (node == NULL)
    return fallback;
  v = json_node_get_int (node);
  if (v < 0 || v > G_MAXUINT32)
    {
      drape_json_fail (json, "'%s' is out of range (%" G_GINT64_FORMAT ")", key, v);
      return fallback;
    }
  return (guint32) v;
}

double
drape_json_double (DrapeJson  *json,
                   const char *key,
                   double      fallback)
{
  JsonNode *node = value_node (json, key, G_TYPE_DOUBLE, "a number");

  return node ? json_node_get_double (node) : fallback;
}

gboolean
drape_json_bool (DrapeJson  *json,
                 const char *key,
                 gboolean    fallback)
{
  JsonNode *node = value_node (json, key, G_TYPE_BOOLEAN, "true or false");

  return node ? json_node_get_boolean (node) : fallback;
}

const char *
drape_json_string (DrapeJson  *json,
                   const char *key,
                   const char *fallback)
{
  JsonNode *node = value_node (json, key, G_TYPE_STRING, "a string");

  return node ? json_node_get_string (node) : fallback;
}

static JsonArray *
array_node (DrapeJson  *json,
            const char *key)
{
  JsonNode *node = json_object_get_member (json->root, key);

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return NULL;
  if (!JSON_NODE_HOLDS_ARRAY (node))
    {
      drape_json_fail (json, "'%s' is not an array", key);
      return NULL;
    }
  return json_node_get_array (node);
}

guint
drape_json_uint_array (DrapeJson  *json,
                       const char *key,
                       guint32    *values,
                       guint       max)
{
  JsonArray *array = array_node (json, key);
  guint n;

  if (array == NULL)
    return 0;
  n = json_array_get_length (array);
  if (n > max)
    {
      drape_json_fail (json, "'%s' has %u entries; at most %u are supported", key, n, max);
      return 0;
    }
  for (guint i = 0; i < n; i++)
    {
      JsonNode *e = json_array_get_element (array, i);
      if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_INT64 ||
          json_node_get_int (e) < 0 || json_node_get_int (e) > G_MAXUINT32)
        {
          drape_json_fail (json, "'%s' holds something other than non-negative integers", key);
          return 0;
        }
      values[i] = (guint32) json_node_get_int (e);
    }
  return n;
}

char **
drape_json_string_array (DrapeJson  *json,
                         const char *key)
{
  JsonArray *array = array_node (json, key);
  g_autoptr(GStrvBuilder) builder = NULL;

  if (array == NULL)
    return NULL;
  builder = g_strv_builder_new ();
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *e = json_array_get_element (array, i);
      if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_STRING)
        {
          drape_json_fail (json, "'%s' holds something other than strings", key);
          return NULL;
        }
      g_strv_builder_add (builder, json_node_get_string (e));
    }
  return g_strv_builder_end (builder);
}
