/* memory.c: block allocator over VkDeviceMemory, staging, transfers
 *
 * Drivers limit the number of live allocations and make each one slow, so
 * the engine takes memory in large blocks (one VkBuffer spanning each) and
 * hands out aligned ranges of them.  A request larger than half a block
 * gets a block of its own.  Empty blocks are returned at once so that the
 * reported usage is what the process really holds.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include "memory-private.h"
#include "ranges.h"

/* Blocks small enough that the free tail of the last one wastes little
 * (32 MiB blocks hold SD1.5's f16 weights in 63 MiB less than 256 MiB
 * blocks did), large enough that a model takes tens of allocations, not
 * thousands.  Host blocks serve small read-backs and per-step scalars. */
#define DEVICE_BLOCK_SIZE (32ull << 20)
#define HOST_BLOCK_SIZE (4ull << 20)
#define STAGING_SIZE (32ull << 20)
/* Every range starts on this boundary: more than any device's
 * minStorageBufferOffsetAlignment, and a cache line for host copies. */
#define RANGE_ALIGNMENT 256

struct _DrapeBlock
{
  VkDeviceMemory memory;
  VkBuffer buffer;
  guint64 size;
  guint64 vk_size;  /* the VkBuffer's: size, or more (drape_memory_vk_buffer_size) */
  guint8 *mapped;
  gboolean coherent;
  DrapeMemoryKind kind;
  gboolean dedicated;
  /* In a device-local heap: video memory on a discrete GPU. */
  gboolean device_local;
  DrapeRanges ranges;
};

struct _DrapeMemory
{
  DrapeDevice *device;
  GPtrArray *blocks;
  gint32 type_index[2];
  guint64 current;
  guint64 peak;
  guint64 local_current;  /* of which in device-local heaps */
  guint64 local_peak;
  DrapeBuffer *staging;
  GMutex lock;
};

static gint32
find_memory_type (DrapeDevice          *device,
                  VkMemoryPropertyFlags required,
                  VkMemoryPropertyFlags preferred)
{
  const VkPhysicalDeviceMemoryProperties *props = &device->memory_properties;
  gint32 best = -1;

  for (guint i = 0; i < props->memoryTypeCount; i++)
    {
      VkMemoryPropertyFlags f = props->memoryTypes[i].propertyFlags;
      if ((f & required) != required)
        continue;
      if (best < 0 || ((f & preferred) == preferred &&
                       (props->memoryTypes[best].propertyFlags & preferred) != preferred))
        best = i;
    }
  return best;
}

DrapeMemory *
drape_memory_new (DrapeDevice *device)
{
  DrapeMemory *memory = g_new0 (DrapeMemory, 1);

  memory->device = device;
  memory->blocks = g_ptr_array_new ();
  g_mutex_init (&memory->lock);
  memory->type_index[DRAPE_MEMORY_DEVICE] =
    find_memory_type (device, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0);
  if (memory->type_index[DRAPE_MEMORY_DEVICE] < 0)
    memory->type_index[DRAPE_MEMORY_DEVICE] = find_memory_type (device, 0, 0);
  memory->type_index[DRAPE_MEMORY_HOST] =
    find_memory_type (device,
                      VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                      VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
  return memory;
}

static void
block_free (DrapeMemory *memory,
            DrapeBlock  *block)
{
  VkDevice vk = memory->device->device;

  if (block->mapped != NULL)
    vkUnmapMemory (vk, block->memory);
  vkDestroyBuffer (vk, block->buffer, NULL);
  vkFreeMemory (vk, block->memory, NULL);
  memory->current -= block->size;
  if (block->device_local)
    memory->local_current -= block->size;
  drape_ranges_clear (&block->ranges);
  g_free (block);
}

void
drape_memory_free (DrapeMemory *memory)
{
  g_clear_pointer (&memory->staging, drape_buffer_free);
  for (guint i = 0; i < memory->blocks->len; i++)
    if (((DrapeBlock *) g_ptr_array_index (memory->blocks, i))->ranges.used > 0)
      {
        g_warning ("Device memory still in use at device destruction");
        break;
      }
  for (guint i = 0; i < memory->blocks->len; i++)
    block_free (memory, g_ptr_array_index (memory->blocks, i));
  g_ptr_array_unref (memory->blocks);
  g_mutex_clear (&memory->lock);
  g_free (memory);
}

/* Lavapipe compiles a kernel anew, to the same code, for each pattern
 * of its texel views' static state (lp_sampler_static_texture_state),
 * which includes whether the buffer behind each view has a size that is
 * a power of two.  Where kernels read texels no buffer's size is one,
 * and each has DRAPE_TEXEL_SLACK bytes past `size`. */
guint64
drape_memory_vk_buffer_size (guint64  size,
                             gboolean texel_reads)
{
  guint64 vk_size;

  if (!texel_reads)
    return size;
  vk_size = size + DRAPE_TEXEL_SLACK;
  return (vk_size & (vk_size - 1)) == 0 ? vk_size + DRAPE_TEXEL_SLACK : vk_size;
}

static DrapeBlock *
block_new (DrapeMemory     *memory,
           DrapeMemoryKind  kind,
           guint64          size,
           GError         **error)
{
  DrapeDevice *device = memory->device;
  g_autofree DrapeBlock *block = g_new0 (DrapeBlock, 1);
  gint32 type = memory->type_index[kind];
  VkMemoryPropertyFlags flags;
  guint32 heap;
  VkBufferCreateInfo buffer_info = {
    .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
    .size = drape_memory_vk_buffer_size (size, drape_device_cpu_texels (device)),
    .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
             VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT |
             VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
             VK_BUFFER_USAGE_TRANSFER_DST_BIT,
    .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
  };
  VkMemoryRequirements req;
  VkMemoryAllocateInfo alloc = { .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO };

  if (type < 0)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_NO_DEVICE,
                   "%s has no %s memory type", device->info.name,
                   kind == DRAPE_MEMORY_HOST ? "host-visible" : "device");
      return NULL;
    }
  if (size > device->caps.max_allocation_size)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_OUT_OF_MEMORY,
                   "A buffer of %" G_GUINT64_FORMAT " MiB exceeds %s's largest "
                   "allocation (%" G_GUINT64_FORMAT " MiB)",
                   size >> 20, device->info.name, device->caps.max_allocation_size >> 20);
      return NULL;
    }
  flags = device->memory_properties.memoryTypes[type].propertyFlags;
  /* A buffer at the largest allocation goes without its slack (its views
   * are then left as they are). */
  if (buffer_info.size > device->caps.max_allocation_size)
    buffer_info.size = size;

  if (!drape_vk_check (device, vkCreateBuffer (device->device, &buffer_info, NULL, &block->buffer),
                       "vkCreateBuffer", error))
    return NULL;
  vkGetBufferMemoryRequirements (device->device, block->buffer, &req);
  if (!(req.memoryTypeBits & (1u << type)))
    {
      vkDestroyBuffer (device->device, block->buffer, NULL);
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED,
                   "%s cannot place storage buffers in its chosen memory type",
                   device->info.name);
      return NULL;
    }
  alloc.allocationSize = req.size;
  alloc.memoryTypeIndex = type;
  if (!drape_vk_check (device, vkAllocateMemory (device->device, &alloc, NULL, &block->memory),
                       "vkAllocateMemory", error))
    {
      vkDestroyBuffer (device->device, block->buffer, NULL);
      if (error && *error && (*error)->code == DRAPE_ERROR_OUT_OF_MEMORY)
        g_prefix_error (error, "Allocating %" G_GUINT64_FORMAT " MiB: ", size >> 20);
      return NULL;
    }
  if (!drape_vk_check (device, vkBindBufferMemory (device->device, block->buffer, block->memory, 0),
                       "vkBindBufferMemory", error))
    goto fail;
  if (flags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT)
    {
      void *ptr = NULL;
      if (!drape_vk_check (device, vkMapMemory (device->device, block->memory, 0, VK_WHOLE_SIZE, 0, &ptr),
                           "vkMapMemory", error))
        goto fail;
      block->mapped = ptr;
      block->coherent = (flags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) != 0;
    }

  block->size = size;
  block->vk_size = buffer_info.size;
  block->kind = kind;
  heap = device->memory_properties.memoryTypes[type].heapIndex;
  block->device_local = (device->memory_properties.memoryHeaps[heap].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) != 0;
  drape_ranges_init (&block->ranges, size);
  memory->current += size;
  memory->peak = MAX (memory->peak, memory->current);
  if (block->device_local)
    {
      memory->local_current += size;
      memory->local_peak = MAX (memory->local_peak, memory->local_current);
    }
  return g_steal_pointer (&block);

fail:
  vkDestroyBuffer (device->device, block->buffer, NULL);
  vkFreeMemory (device->device, block->memory, NULL);
  return NULL;
}

/* One empty shared block of each kind is kept: a run that frees its
 * graphs and makes new ones would otherwise return a block to the driver
 * and ask for it again (on lavapipe: free, then malloc and touch it). */
static gboolean
keep_as_spare (DrapeMemory *memory,
               DrapeBlock  *block)
{
  if (block->dedicated)
    return FALSE;
  for (guint i = 0; i < memory->blocks->len; i++)
    {
      DrapeBlock *other = g_ptr_array_index (memory->blocks, i);
      if (other != block && other->kind == block->kind && !other->dedicated && other->ranges.used == 0)
        return FALSE;
    }
  return TRUE;
}

DrapeBuffer *
drape_buffer_new (DrapeDevice     *device,
                  DrapeMemoryKind  kind,
                  guint64          size,
                  GError         **error)
{
  DrapeMemory *memory = device->memory;
  guint64 block_size = kind == DRAPE_MEMORY_HOST ? HOST_BLOCK_SIZE : DEVICE_BLOCK_SIZE;
  guint64 aligned;
  DrapeBuffer *buffer;
  DrapeBlock *block = NULL;
  guint64 offset = 0;

  if (size == 0)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                   "A buffer cannot be empty");
      return NULL;
    }
  if (device->lost)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_DEVICE_LOST,
                   "The GPU device was lost; the engine must be restarted");
      return NULL;
    }
  aligned = (size + RANGE_ALIGNMENT - 1) & ~(guint64) (RANGE_ALIGNMENT - 1);
  block_size = MIN (block_size, device->caps.max_allocation_size);

  g_mutex_lock (&memory->lock);
  if (aligned <= block_size / 2)
    {
      for (guint i = 0; i < memory->blocks->len && block == NULL; i++)
        {
          DrapeBlock *b = g_ptr_array_index (memory->blocks, i);
          if (b->kind == kind && !b->dedicated && drape_ranges_take (&b->ranges, aligned, &offset))
            block = b;
        }
      if (block == NULL)
        {
          block = block_new (memory, kind, block_size, error);
          if (block == NULL)
            {
              g_mutex_unlock (&memory->lock);
              return NULL;
            }
          g_ptr_array_add (memory->blocks, block);
          drape_ranges_take (&block->ranges, aligned, &offset);
        }
    }
  else
    {
      block = block_new (memory, kind, aligned, error);
      if (block == NULL)
        {
          g_mutex_unlock (&memory->lock);
          return NULL;
        }
      block->dedicated = TRUE;
      g_ptr_array_add (memory->blocks, block);
      drape_ranges_take (&block->ranges, aligned, &offset);
    }
  g_mutex_unlock (&memory->lock);

  buffer = g_new0 (DrapeBuffer, 1);
  buffer->device = device;
  buffer->block = block;
  buffer->offset = offset;
  buffer->size = size;
  buffer->kind = kind;
  return buffer;
}

void
drape_buffer_free (DrapeBuffer *buffer)
{
  DrapeMemory *memory;
  guint64 aligned;

  if (buffer == NULL)
    return;
  memory = buffer->device->memory;
  aligned = (buffer->size + RANGE_ALIGNMENT - 1) & ~(guint64) (RANGE_ALIGNMENT - 1);
  g_mutex_lock (&memory->lock);
  drape_ranges_give (&buffer->block->ranges, buffer->offset, aligned);
  if (buffer->block->ranges.used == 0 && !keep_as_spare (memory, buffer->block))
    {
      g_ptr_array_remove (memory->blocks, buffer->block);
      block_free (memory, buffer->block);
    }
  g_mutex_unlock (&memory->lock);
  g_free (buffer);
}

guint64
drape_buffer_get_size (DrapeBuffer *buffer)
{
  return buffer->size;
}

DrapeDevice *
drape_buffer_get_device (DrapeBuffer *buffer)
{
  return buffer->device;
}

VkBuffer
drape_buffer_get_vk_buffer (DrapeBuffer *buffer)
{
  return buffer->block->buffer;
}

guint64
drape_buffer_get_vk_size (DrapeBuffer *buffer)
{
  return buffer->block->vk_size;
}

gpointer
drape_buffer_get_mapped (DrapeBuffer *buffer)
{
  if (buffer->block->mapped == NULL || !buffer->block->coherent)
    return NULL;
  return buffer->block->mapped + buffer->offset;
}

/* Reads one pair of counters under the lock. */
static void
read_usage (DrapeMemory   *memory,
            const guint64 *now,
            const guint64 *most,
            guint64       *current,
            guint64       *peak)
{
  g_mutex_lock (&memory->lock);
  if (current)
    *current = *now;
  if (peak)
    *peak = *most;
  g_mutex_unlock (&memory->lock);
}

void
drape_device_get_memory_usage (DrapeDevice *device,
                               guint64     *current,
                               guint64     *peak)
{
  DrapeMemory *memory = device->memory;

  read_usage (memory, &memory->current, &memory->peak, current, peak);
}

void
drape_device_get_device_local_memory_usage (DrapeDevice *device,
                                            guint64     *current,
                                            guint64     *peak)
{
  DrapeMemory *memory = device->memory;

  read_usage (memory, &memory->local_current, &memory->local_peak, current, peak);
}

void
drape_device_reset_peak_memory (DrapeDevice *device)
{
  DrapeMemory *memory = device->memory;

  g_mutex_lock (&memory->lock);
  memory->peak = memory->current;
  memory->local_peak = memory->local_current;
  g_mutex_unlock (&memory->lock);
}

static gboolean
check_range (DrapeBuffer *buffer,
             guint64      offset,
             guint64      size,
             GError     **error)
{
  if (offset > buffer->size || size > buffer->size - offset)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                   "Transfer of %" G_GUINT64_FORMAT " bytes at %" G_GUINT64_FORMAT
                   " is outside a buffer of %" G_GUINT64_FORMAT " bytes",
                   size, offset, buffer->size);
      return FALSE;
    }
  if (buffer->device->lost)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_DEVICE_LOST,
                   "The GPU device was lost; the engine must be restarted");
      return FALSE;
    }
  return TRUE;
}

/* Where the host may write a buffer directly, or NULL to go through
 * staging. */
static guint8 *
direct_address (DrapeBuffer *buffer)
{
  if (buffer->kind == DRAPE_MEMORY_DEVICE && buffer->device->force_staging)
    return NULL;
  return drape_buffer_get_mapped (buffer);
}

static DrapeBuffer *
get_staging (DrapeDevice *device,
             GError     **error)
{
  DrapeMemory *memory = device->memory;

  if (memory->staging == NULL)
    memory->staging = drape_buffer_new (device, DRAPE_MEMORY_HOST, STAGING_SIZE, error);
  return memory->staging;
}

static gboolean
copy_buffer (DrapeBuffer *src,
             guint64      src_offset,
             DrapeBuffer *dst,
             guint64      dst_offset,
             guint64      size,
             GError     **error)
{
  DrapeDevice *device = src->device;
  VkCommandBuffer cmd = drape_device_begin_commands (device, error);
  VkBufferCopy region = {
    .srcOffset = src->offset + src_offset,
    .dstOffset = dst->offset + dst_offset,
    .size = size,
  };
  VkMemoryBarrier barrier = {
    .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
    .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
    .dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_SHADER_READ_BIT,
  };

  if (cmd == VK_NULL_HANDLE)
    return FALSE;
  vkCmdCopyBuffer (cmd, src->block->buffer, dst->block->buffer, 1, &region);
  vkCmdPipelineBarrier (cmd, VK_PIPELINE_STAGE_TRANSFER_BIT,
                        VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                        0, 1, &barrier, 0, NULL, 0, NULL);
  return drape_device_end_commands_and_submit (device, cmd, error);
}

gboolean
drape_buffer_fill (DrapeBuffer  *buffer,
                   guint64       offset,
                   guint64       size,
                   DrapeFillFunc fill,
                   gpointer      user_data,
                   GError      **error)
{
  DrapeDevice *device = buffer->device;
  guint8 *direct;
  DrapeBuffer *staging;

  if (!check_range (buffer, offset, size, error))
    return FALSE;

  direct = direct_address (buffer);
  if (direct != NULL)
    {
      fill (direct + offset, 0, size, user_data);
      return TRUE;
    }

  staging = get_staging (device, error);
  if (staging == NULL)
    return FALSE;
  for (guint64 done = 0; done < size;)
    {
      guint64 n = MIN (size - done, staging->size);
      fill (drape_buffer_get_mapped (staging), done, n, user_data);
      if (!copy_buffer (staging, 0, buffer, offset + done, n, error))
        return FALSE;
      done += n;
    }
  return TRUE;
}

static void
fill_from_memory (guint8  *dst,
                  guint64  offset,
                  guint64  n_bytes,
                  gpointer user_data)
{
  memcpy (dst, (const guint8 *) user_data + offset, n_bytes);
}

gboolean
drape_buffer_upload (DrapeBuffer *buffer,
                     guint64      offset,
                     const void  *data,
                     guint64      size,
                     GError     **error)
{
  return drape_buffer_fill (buffer, offset, size, fill_from_memory, (gpointer) data, error);
}

gboolean
drape_buffer_download (DrapeBuffer *buffer,
                       guint64      offset,
                       void        *data,
                       guint64      size,
                       GError     **error)
{
  DrapeDevice *device = buffer->device;
  const guint8 *direct;
  DrapeBuffer *staging;

  if (!check_range (buffer, offset, size, error))
    return FALSE;

  direct = direct_address (buffer);
  if (direct != NULL)
    {
      memcpy (data, direct + offset, size);
      return TRUE;
    }

  staging = get_staging (device, error);
  if (staging == NULL)
    return FALSE;
  for (guint64 done = 0; done < size;)
    {
      guint64 n = MIN (size - done, staging->size);
      if (!copy_buffer (buffer, offset + done, staging, 0, n, error))
        return FALSE;
      memcpy ((guint8 *) data + done, drape_buffer_get_mapped (staging), n);
      done += n;
    }
  return TRUE;
}
