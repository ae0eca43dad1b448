/* drape-mask-canvas.h: the photo with the mask over it, painted with a
 * brush, zoomed and panned
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "drape-mask.h"

G_BEGIN_DECLS

#define DRAPE_TYPE_MASK_CANVAS (drape_mask_canvas_get_type ())

G_DECLARE_FINAL_TYPE (DrapeMaskCanvas, drape_mask_canvas, DRAPE, MASK_CANVAS, GtkWidget)

GtkWidget      *drape_mask_canvas_new                 (void);
GdkTexture     *drape_mask_canvas_get_photo           (DrapeMaskCanvas *self);
void            drape_mask_canvas_set_photo           (DrapeMaskCanvas *self,
                                                       GdkTexture      *photo);
/* A smaller copy of the photo drawn while zoomed out (optional). */
GdkTexture     *drape_mask_canvas_get_photo_preview   (DrapeMaskCanvas *self);
void            drape_mask_canvas_set_photo_preview   (DrapeMaskCanvas *self,
                                                       GdkTexture      *preview);
DrapeMask      *drape_mask_canvas_get_mask            (DrapeMaskCanvas *self);
void            drape_mask_canvas_set_mask            (DrapeMaskCanvas *self,
                                                       DrapeMask       *mask);
DrapeBrushMode  drape_mask_canvas_get_tool            (DrapeMaskCanvas *self);
void            drape_mask_canvas_set_tool            (DrapeMaskCanvas *self,
                                                       DrapeBrushMode   tool);
/* Diameter in photo pixels. */
double          drape_mask_canvas_get_brush_size      (DrapeMaskCanvas *self);
void            drape_mask_canvas_set_brush_size      (DrapeMaskCanvas *self,
                                                       double           size);
double          drape_mask_canvas_get_brush_hardness  (DrapeMaskCanvas *self);
void            drape_mask_canvas_set_brush_hardness  (DrapeMaskCanvas *self,
                                                       double           hardness);
double          drape_mask_canvas_get_overlay_opacity (DrapeMaskCanvas *self);
void            drape_mask_canvas_set_overlay_opacity (DrapeMaskCanvas *self,
                                                       double           opacity);
/* Logical pixels per photo pixel. */
double          drape_mask_canvas_get_zoom            (DrapeMaskCanvas *self);
void            drape_mask_canvas_zoom_in             (DrapeMaskCanvas *self);
void            drape_mask_canvas_zoom_out            (DrapeMaskCanvas *self);
void            drape_mask_canvas_zoom_to_fit         (DrapeMaskCanvas *self);
/* Widget coordinates of a photo pixel, for tests and tooltips. */
void            drape_mask_canvas_photo_to_widget     (DrapeMaskCanvas *self,
                                                       double           photo_x,
                                                       double           photo_y,
                                                       double          *widget_x,
                                                       double          *widget_y);

G_END_DECLS
