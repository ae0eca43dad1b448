/* drape-mask.h: the region to dress, painted by hand, with undo
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Undo snapshots and the canvas's overlay textures work in square tiles of
 * this many pixels: a stroke costs only the tiles it touches. */
#define DRAPE_MASK_TILE_SIZE 256

typedef enum {
  DRAPE_BRUSH_MODE_PAINT,
  DRAPE_BRUSH_MODE_ERASE,
} DrapeBrushMode;

#define DRAPE_TYPE_MASK (drape_mask_get_type ())

G_DECLARE_FINAL_TYPE (DrapeMask, drape_mask, DRAPE, MASK, GObject)

DrapeMask    *drape_mask_new                (guint           width,
                                             guint           height);
/* pixels: width * height bytes, row-major, >= 128 is the region to dress. */
DrapeMask    *drape_mask_new_from_bytes     (guint           width,
                                             guint           height,
                                             GBytes         *pixels,
                                             GError        **error);
guint         drape_mask_get_width          (DrapeMask      *self);
guint         drape_mask_get_height         (DrapeMask      *self);
/* Row-major, stride = width; valid until the next edit. */
const guint8 *drape_mask_get_data           (DrapeMask      *self);
GBytes       *drape_mask_to_bytes           (DrapeMask      *self);
gboolean      drape_mask_get_empty          (DrapeMask      *self);
gboolean      drape_mask_equal_bytes        (DrapeMask      *self,
                                             GBytes         *pixels);

/* A stroke is one undo step.  radius is in mask pixels, hardness in
 * [0, 1] (1: hard edge), pressure scales the radius (1 for a mouse). */
void          drape_mask_begin_stroke       (DrapeMask      *self,
                                             DrapeBrushMode  mode,
                                             double          radius,
                                             double          hardness);
void          drape_mask_stroke_to          (DrapeMask      *self,
                                             double          x,
                                             double          y,
                                             double          pressure);
void          drape_mask_end_stroke         (DrapeMask      *self);
gboolean      drape_mask_in_stroke          (DrapeMask      *self);

void          drape_mask_fill               (DrapeMask      *self,
                                             guint8          value);
void          drape_mask_invert             (DrapeMask      *self);
/* Replaces every pixel (an auto-mask result) as one undo step. */
gboolean      drape_mask_replace            (DrapeMask      *self,
                                             GBytes         *pixels,
                                             GError        **error);

gboolean      drape_mask_get_can_undo       (DrapeMask      *self);
gboolean      drape_mask_get_can_redo       (DrapeMask      *self);
gboolean      drape_mask_undo               (DrapeMask      *self);
gboolean      drape_mask_redo               (DrapeMask      *self);
/* Bytes the undo and redo snapshots hold; the oldest steps are dropped
 * when they would pass the limit. */
gsize         drape_mask_get_history_size   (DrapeMask      *self);
void          drape_mask_set_history_limit  (DrapeMask      *self,
                                             gsize           limit);

G_END_DECLS
