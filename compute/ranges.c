/* ranges.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "ranges.h"

typedef struct {
  guint64 offset;
  guint64 size;
} DrapeRange;

void
drape_ranges_init (DrapeRanges *ranges,
                   guint64      capacity)
{
  DrapeRange all = { 0, capacity };

  ranges->free = g_array_new (FALSE, FALSE, sizeof (DrapeRange));
  g_array_append_val (ranges->free, all);
  ranges->capacity = capacity;
  ranges->used = 0;
  ranges->high_water = 0;
}

void
drape_ranges_clear (DrapeRanges *ranges)
{
  g_clear_pointer (&ranges->free, g_array_unref);
}

gboolean
drape_ranges_take (DrapeRanges *ranges,
                   guint64      size,
                   guint64     *offset)
{
  for (guint i = 0; i < ranges->free->len; i++)
    {
      DrapeRange *r = &g_array_index (ranges->free, DrapeRange, i);
      if (r->size < size)
        continue;
      *offset = r->offset;
      r->offset += size;
      r->size -= size;
      if (r->size == 0)
        g_array_remove_index (ranges->free, i);
      ranges->used += size;
      ranges->high_water = MAX (ranges->high_water, *offset + size);
      return TRUE;
    }
  return FALSE;
}

void
drape_ranges_give (DrapeRanges *ranges,
                   guint64      offset,
                   guint64      size)
{
  GArray *free = ranges->free;
  DrapeRange r = { offset, size };
  guint i = 0;

  while (i < free->len && g_array_index (free, DrapeRange, i).offset < offset)
    i++;
  g_array_insert_val (free, i, r);
  /* Coalesce with the next neighbour, then with the previous one. */
  if (i + 1 < free->len)
    {
      DrapeRange *a = &g_array_index (free, DrapeRange, i);
      DrapeRange *b = &g_array_index (free, DrapeRange, i + 1);
      if (a->offset + a->size == b->offset)
        {
          a->size += b->size;
          g_array_remove_index (free, i + 1);
        }
    }
  if (i > 0)
    {
      DrapeRange *a = &g_array_index (free, DrapeRange, i - 1);
      DrapeRange *b = &g_array_index (free, DrapeRange, i);
      if (a->offset + a->size == b->offset)
        {
          a->size += b->size;
          g_array_remove_index (free, i);
        }
    }
  ranges->used -= size;
}
