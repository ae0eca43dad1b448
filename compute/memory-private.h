/* memory-private.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "device-private.h"
#include "memory.h"

G_BEGIN_DECLS

typedef struct _DrapeBlock DrapeBlock;

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

G_END_DECLS
