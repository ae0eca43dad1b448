/* json-config.h: reading a model's config.json
 *
 * Getters take a default for keys a config may omit; a key of the wrong
 * type records an error (the first one is kept) that drape_json_check()
 * reports, naming the file and the key.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _DrapeJson DrapeJson;

DrapeJson  *drape_json_open          (const char *path,
                                      GError    **error);
void        drape_json_free          (DrapeJson  *json);
gboolean    drape_json_has           (DrapeJson  *json,
                                      const char *key);
/* Whether the key is absent or JSON null. */
gboolean    drape_json_is_null       (DrapeJson  *json,
                                      const char *key);
gboolean    drape_json_is_array      (DrapeJson  *json,
                                      const char *key);
guint32     drape_json_uint          (DrapeJson  *json,
                                      const char *key,
                                      guint32     fallback);
double      drape_json_double        (DrapeJson  *json,
                                      const char *key,
                                      double      fallback);
gboolean    drape_json_bool          (DrapeJson  *json,
                                      const char *key,
                                      gboolean    fallback);
const char *drape_json_string        (DrapeJson  *json,
                                      const char *key,
                                      const char *fallback);
/* Fills up to max values; returns how many the array has (an error if
 * more than max), or 0 when absent. */
guint       drape_json_uint_array    (DrapeJson  *json,
                                      const char *key,
                                      guint32    *values,
                                      guint       max);
/* A NULL-terminated copy, or NULL when absent. */
char      **drape_json_string_array  (DrapeJson  *json,
                                      const char *key);
void        drape_json_fail          (DrapeJson  *json,
                                      const char *format,
                                      ...) G_GNUC_PRINTF (2, 3);
gboolean    drape_json_check         (DrapeJson  *json,
                                      GError    **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DrapeJson, drape_json_free)

G_END_DECLS
