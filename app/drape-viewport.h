/* drape-viewport.h: zoom and pan of an image in a widget, shared by the
 * mask canvas and the result view
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  /* Widget size and image size, in logical pixels and image pixels. */
  double view_width;
  double view_height;
  double image_width;
  double image_height;
  /* Logical pixels per image pixel, and where the image's origin is. */
  double scale;
  double x;
  double y;
  /* While TRUE the image follows the widget's size, fitted and centred. */
  gboolean fit;
} DrapeViewport;

void     drape_viewport_init         (DrapeViewport *self);
/* Call when the widget or the image changes size. */
void     drape_viewport_set_sizes    (DrapeViewport *self,
                                      double         view_width,
                                      double         view_height,
                                      double         image_width,
                                      double         image_height);
void     drape_viewport_fit          (DrapeViewport *self);
double   drape_viewport_fit_scale    (const DrapeViewport *self);
/* Multiplies the scale by factor, keeping the image point under
 * (view_x, view_y) where it is. */
void     drape_viewport_zoom_at      (DrapeViewport *self,
                                      double         factor,
                                      double         view_x,
                                      double         view_y);
void     drape_viewport_pan          (DrapeViewport *self,
                                      double         dx,
                                      double         dy);
void     drape_viewport_to_image     (const DrapeViewport *self,
                                      double         view_x,
                                      double         view_y,
                                      double        *image_x,
                                      double        *image_y);

G_END_DECLS
