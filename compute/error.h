/* error.h: the error domain of libdrape-compute
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define DRAPE_ERROR (drape_error_quark ())

typedef enum {
  DRAPE_ERROR_FAILED,
  /* No Vulkan driver, or no device with what Drape needs. */
  DRAPE_ERROR_NO_DEVICE,
  /* A Vulkan call failed for a reason not listed below. */
  DRAPE_ERROR_VULKAN,
  /* Device (or host) memory ran out; the caller may retry smaller. */
  DRAPE_ERROR_OUT_OF_MEMORY,
  /* The device was lost: the context is dead, create a new one. */
  DRAPE_ERROR_DEVICE_LOST,
  /* A shape, dtype, size or parameter the callee cannot accept. */
  DRAPE_ERROR_INVALID_ARGUMENT,
  /* A file whose contents are malformed. */
  DRAPE_ERROR_FORMAT,
  /* Valid input the engine has no implementation for. */
  DRAPE_ERROR_UNSUPPORTED,
  DRAPE_ERROR_CANCELLED,
  /* A file or folder could not be read or written. */
  DRAPE_ERROR_IO,
  /* A download failed: no connection, an HTTP error, too many redirects. */
  DRAPE_ERROR_NETWORK,
  /* Contents do not match their published size or sha256. */
  DRAPE_ERROR_CORRUPT,
  /* Not enough free disk space. */
  DRAPE_ERROR_NO_SPACE,
  /* Another process holds a lock the operation needs. */
  DRAPE_ERROR_BUSY,
  /* A kernel that a graph recorded with builds in the background
   * (drape_graph_set_background_builds) turned out to be one the driver
   * will not build, and a slower one can stand in: record the graph
   * again, which takes that one. */
  DRAPE_ERROR_RECORD_AGAIN,
} DrapeError;

GQuark   drape_error_quark      (void);
/* Sets a DRAPE_ERROR_FORMAT error "<file>: <message>" and returns FALSE:
 * what every reader of a malformed file says. */
gboolean drape_set_format_error (GError    **error,
                                 const char *file,
                                 const char *format,
                                 ...) G_GNUC_PRINTF (3, 4);

G_END_DECLS
