/* drape-compare-view.h: a result over the photo it came from, with a
 * before/after divider
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define DRAPE_TYPE_COMPARE_VIEW (drape_compare_view_get_type ())

G_DECLARE_FINAL_TYPE (DrapeCompareView, drape_compare_view, DRAPE, COMPARE_VIEW, GtkWidget)

GtkWidget  *drape_compare_view_new          (void);
/* The photo; it is shown centre-cropped to the result's aspect, as the
 * try-on crops it. */
GdkTexture *drape_compare_view_get_before   (DrapeCompareView *self);
void        drape_compare_view_set_before   (DrapeCompareView *self,
                                             GdkTexture       *before);
GdkTexture *drape_compare_view_get_after    (DrapeCompareView *self);
void        drape_compare_view_set_after    (DrapeCompareView *self,
                                             GdkTexture       *after);
/* Where the divider is, 0 (all after) to 1 (all before). */
double      drape_compare_view_get_position (DrapeCompareView *self);
void        drape_compare_view_set_position (DrapeCompareView *self,
                                             double            position);
void        drape_compare_view_zoom_in      (DrapeCompareView *self);
void        drape_compare_view_zoom_out     (DrapeCompareView *self);
void        drape_compare_view_zoom_to_fit  (DrapeCompareView *self);

G_END_DECLS
