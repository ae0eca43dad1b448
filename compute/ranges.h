/* ranges.h: first-fit allocation of ranges in an address space
 *
 * Serves both the device memory blocks and a graph's activation arena.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  GArray *free;       /* DrapeRange, sorted by offset, coalesced */
  guint64 capacity;
  guint64 used;
  guint64 high_water; /* highest end of any range ever taken */
} DrapeRanges;

void     drape_ranges_init    (DrapeRanges *ranges,
                               guint64      capacity);
void     drape_ranges_clear   (DrapeRanges *ranges);
gboolean drape_ranges_take    (DrapeRanges *ranges,
                               guint64      size,
                               guint64     *offset);
void     drape_ranges_give    (DrapeRanges *ranges,
                               guint64      offset,
                               guint64      size);

G_END_DECLS
