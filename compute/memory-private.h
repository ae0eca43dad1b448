/* memory-private.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "device-private.h"
#include "memory.h"

G_BEGIN_DECLS

typedef struct _DrapeBlock DrapeBlock;

/* Where kernels read texels (CPU drivers), every buffer has this much
 * room past its last range, for drape_texel_view_range to widen views
 * into (drape_memory_vk_buffer_size). */
#define DRAPE_TEXEL_SLACK 256

struct _DrapeBuffer
{
  DrapeDevice *device;
  DrapeBlock *block;
  guint64 offset;
  guint64 size;
  DrapeMemoryKind kind;
};

DrapeMemory *drape_memory_new            (DrapeDevice *device);
void         drape_memory_free           (DrapeMemory *memory);
VkBuffer     drape_buffer_get_vk_buffer  (DrapeBuffer *buffer);
guint64      drape_buffer_get_vk_size    (DrapeBuffer *buffer);
guint64      drape_memory_vk_buffer_size (guint64      size,
                                          gboolean     texel_reads);

G_END_DECLS
