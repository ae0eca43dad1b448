/* drape-app-error.h: the error domain of the app's own code
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define DRAPE_APP_ERROR (drape_app_error_quark ())

typedef enum {
  /* Input the app cannot use (sizes that do not match, bad settings). */
  DRAPE_APP_ERROR_INVALID,
  /* A file that is not a PNG, JPEG or WebP image, or a broken one. */
  DRAPE_APP_ERROR_NOT_AN_IMAGE,
  /* A session file that is truncated or malformed. */
  DRAPE_APP_ERROR_CORRUPT_SESSION,
  /* A session file written by a newer version of Drape. */
  DRAPE_APP_ERROR_NEWER_SESSION,
} DrapeAppError;

GQuark drape_app_error_quark (void);

G_END_DECLS
