/* memory.h: device memory: few large allocations, sub-allocated
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "device.h"

G_BEGIN_DECLS

typedef enum {
  /* Where tensors live: fastest for the GPU. */
  DRAPE_MEMORY_DEVICE,
  /* Mapped, coherent, cached where possible: staging and read-back. */
  DRAPE_MEMORY_HOST,
} DrapeMemoryKind;

typedef struct _DrapeBuffer DrapeBuffer;

/* Writes n_bytes of a buffer's contents, starting at byte `offset` of the
 * upload, into dst.  Called once per staging chunk. */
typedef void (*DrapeFillFunc) (guint8   *dst,
                               guint64   offset,
                               guint64   n_bytes,
                               gpointer  user_data);

DrapeBuffer *drape_buffer_new        (DrapeDevice     *device,
                                      DrapeMemoryKind  kind,
                                      guint64          size,
                                      GError         **error);
void         drape_buffer_free       (DrapeBuffer     *buffer);
guint64      drape_buffer_get_size   (DrapeBuffer     *buffer);
DrapeDevice *drape_buffer_get_device (DrapeBuffer     *buffer);
/* The host address of a DRAPE_MEMORY_HOST buffer (or of a device buffer
 * on a unified-memory device), else NULL. */
gpointer     drape_buffer_get_mapped (DrapeBuffer     *buffer);
gboolean     drape_buffer_upload     (DrapeBuffer     *buffer,
                                      guint64          offset,
                                      const void      *data,
                                      guint64          size,
                                      GError         **error);
gboolean     drape_buffer_fill       (DrapeBuffer     *buffer,
                                      guint64          offset,
                                      guint64          size,
                                      DrapeFillFunc    fill,
                                      gpointer         user_data,
                                      GError         **error);
gboolean     drape_buffer_download   (DrapeBuffer     *buffer,
                                      guint64          offset,
                                      void            *data,
                                      guint64          size,
                                      GError         **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DrapeBuffer, drape_buffer_free)

G_END_DECLS
