/* error.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "error.h"

G_DEFINE_QUARK (drape-error-quark, drape_error)

gboolean
drape_set_format_error (GError    **error,
                        const char *file,
                        const char *format,
                        ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT, "%s: %s", file, message);
  return FALSE;
}
