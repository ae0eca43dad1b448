/* drape-viewport.c: zoom and pan of an image in a widget
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "drape-viewport.h"

#define MARGIN 12.0
#define MAX_SCALE 32.0

void
drape_viewport_init (DrapeViewport *self)
{
  *self = (DrapeViewport) { .scale = 1.0, .fit = TRUE };
}

double
drape_viewport_fit_scale (const DrapeViewport *self)
{
  double w = MAX (self->view_width - 2 * MARGIN, 1.0);
  double h = MAX (self->view_height - 2 * MARGIN, 1.0);

  if (self->image_width <= 0 || self->image_height <= 0)
    return 1.0;
  return MIN (w / self->image_width, h / self->image_height);
}

/* Keeps at least a quarter of the view covered by the image, so it can
 * never be panned out of sight. */
static void
clamp_position (DrapeViewport *self)
{
  double w = self->image_width * self->scale;
  double h = self->image_height * self->scale;
  double keep_x = MIN (w, self->view_width) / 4;
  double keep_y = MIN (h, self->view_height) / 4;

  self->x = CLAMP (self->x, keep_x - w, self->view_width - keep_x);
  self->y = CLAMP (self->y, keep_y - h, self->view_height - keep_y);
}

void
drape_viewport_fit (DrapeViewport *self)
{
  self->fit = TRUE;
  self->scale = drape_viewport_fit_scale (self);
  self->x = (self->view_width - self->image_width * self->scale) / 2;
  self->y = (self->view_height - self->image_height * self->scale) / 2;
}

void
drape_viewport_set_sizes (DrapeViewport *self,
                          double         view_width,
                          double         view_height,
                          double         image_width,
                          double         image_height)
{
  gboolean image_changed = image_width != self->image_width || image_height != self->image_height;
  double cx = self->view_width / 2, cy = self->view_height / 2;

  self->image_width = image_width;
  self->image_height = image_height;
  if (self->fit || image_changed)
    {
      self->view_width = view_width;
      self->view_height = view_height;
      drape_viewport_fit (self);
      return;
    }
  /* Keep what was at the centre at the centre. */
  self->x += view_width / 2 - cx;
  self->y += view_height / 2 - cy;
  self->view_width = view_width;
  self->view_height = view_height;
  clamp_position (self);
}

void
drape_viewport_zoom_at (DrapeViewport *self,
                        double         factor,
                        double         view_x,
                        double         view_y)
{
  double min_scale = MIN (drape_viewport_fit_scale (self), 1.0) / 2;
  double scale = CLAMP (self->scale * factor, min_scale, MAX_SCALE);
  double ix, iy;

  drape_viewport_to_image (self, view_x, view_y, &ix, &iy);
  self->scale = scale;
  self->x = view_x - ix * scale;
  self->y = view_y - iy * scale;
  self->fit = FALSE;
  clamp_position (self);
}

void
drape_viewport_pan (DrapeViewport *self,
                    double         dx,
                    double         dy)
{
  self->x += dx;
  self->y += dy;
  self->fit = FALSE;
  clamp_position (self);
}

void
drape_viewport_to_image (const DrapeViewport *self,
                         double               view_x,
                         double               view_y,
                         double              *image_x,
                         double              *image_y)
{
  *image_x = (view_x - self->x) / self->scale;
  *image_y = (view_y - self->y) / self->scale;
}
