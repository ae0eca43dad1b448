/* drape-panes.h: the editor's two panes, side by side on a wide window
 * and stacked on a narrow one
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* Below this width (logical pixels) the side pane goes under the main one. */
#define DRAPE_PANES_NARROW_WIDTH 720

#define DRAPE_TYPE_PANES (drape_panes_get_type ())

G_DECLARE_FINAL_TYPE (DrapePanes, drape_panes, DRAPE, PANES, GtkWidget)

GtkWidget *drape_panes_new            (void);
GtkWidget *drape_panes_get_main_child (DrapePanes *self);
void       drape_panes_set_main_child (DrapePanes *self,
                                       GtkWidget  *child);
GtkWidget *drape_panes_get_side_child (DrapePanes *self);
void       drape_panes_set_side_child (DrapePanes *self,
                                       GtkWidget  *child);
gboolean   drape_panes_get_narrow     (DrapePanes *self);

G_END_DECLS
