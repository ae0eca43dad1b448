/* drape-mask-canvas.c: the photo with the mask over it, painted with a
 * brush, zoomed and panned
 *
 * The overlay is one texture per DRAPE_MASK_TILE_SIZE tile of the mask.
 * A brush stroke marks the tiles its segments touch, and only those are
 * rebuilt at the next frame, so painting costs the same on a 40-megapixel
 * photo as on a small one.  The tint is premultiplied into the tiles and
 * the opacity is applied when drawing, so changing it rebuilds nothing.
 * Zoomed out, both the photo (its preview copy) and the tiles (built at a
 * lower level) are drawn from smaller textures.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include <glib/gi18n.h>

#include "drape-enums.h"
#include "drape-mask-canvas.h"
#include "drape-viewport.h"

#define ZOOM_STEP 1.25
/* Pixels a wheel notch pans by. */
#define WHEEL_PAN 48.0

/* GNOME's red 3: the colour image editors use for a quick mask. */
static const guint8 tint[3] = { 0xe0, 0x1b, 0x24 };

struct _DrapeMaskCanvas
{
  GtkWidget parent_instance;

  GdkTexture *photo;
  GdkTexture *photo_preview;
  DrapeMask *mask;
  DrapeBrushMode tool;
  double brush_size;
  double brush_hardness;
  double overlay_opacity;

  DrapeViewport view;

  /* One texture per mask tile, NULL where the tile is empty. */
  GPtrArray *tiles;
  guint8 *tile_dirty;
  guint tiles_x;
  guint tiles_y;
  /* Zoomed out, tiles are built at 1/2^level of the mask's resolution:
   * the renderer then samples a few megabytes instead of 48. */
  guint tile_level;
  guint32 tint_lut[256];

  gboolean space_held;
  gboolean panning;
  gboolean painting;
  gboolean stylus_painting;
  double drag_x;
  double drag_y;
  double pan_last_x;
  double pan_last_y;
  double zoom_gesture_scale;
  gboolean pointer_inside;
  double pointer_x;
  double pointer_y;
};

enum {
  PROP_0,
  PROP_PHOTO,
  PROP_PHOTO_PREVIEW,
  PROP_MASK,
  PROP_TOOL,
  PROP_BRUSH_SIZE,
  PROP_BRUSH_HARDNESS,
  PROP_OVERLAY_OPACITY,
  PROP_ZOOM,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (DrapeMaskCanvas, drape_mask_canvas, GTK_TYPE_WIDGET)

static void
update_view (DrapeMaskCanvas *self)
{
  double old_scale = self->view.scale;

  drape_viewport_set_sizes (&self->view,
                            gtk_widget_get_width (GTK_WIDGET (self)),
                            gtk_widget_get_height (GTK_WIDGET (self)),
                            self->photo != NULL ? gdk_texture_get_width (self->photo) : 0,
                            self->photo != NULL ? gdk_texture_get_height (self->photo) : 0);
  if (old_scale != self->view.scale)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ZOOM]);
}

static void
view_changed (DrapeMaskCanvas *self,
              double           old_scale)
{
  if (old_scale != self->view.scale)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ZOOM]);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

/* ---- overlay tiles ---------------------------------------------------- */

static void
mark_tiles (DrapeMaskCanvas *self,
            guint            x,
            guint            y,
            guint            width,
            guint            height)
{
  guint tx1, ty1;

  if (self->tiles == NULL || width == 0 || height == 0)
    return;
  tx1 = MIN ((x + width - 1) / DRAPE_MASK_TILE_SIZE, self->tiles_x - 1);
  ty1 = MIN ((y + height - 1) / DRAPE_MASK_TILE_SIZE, self->tiles_y - 1);
  for (guint ty = y / DRAPE_MASK_TILE_SIZE; ty <= ty1; ty++)
    for (guint tx = x / DRAPE_MASK_TILE_SIZE; tx <= tx1; tx++)
      self->tile_dirty[ty * self->tiles_x + tx] = TRUE;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
on_mask_changed (DrapeMaskCanvas *self,
                 guint            x,
                 guint            y,
                 guint            width,
                 guint            height,
                 DrapeMask       *mask)
{
  mark_tiles (self, x, y, width, height);
}

static void
tile_free (gpointer texture)
{
  /* Empty tiles have no texture. */
  if (texture != NULL)
    g_object_unref (texture);
}

static void
reset_tiles (DrapeMaskCanvas *self)
{
  g_clear_pointer (&self->tiles, g_ptr_array_unref);
  g_clear_pointer (&self->tile_dirty, g_free);
  self->tiles_x = self->tiles_y = 0;
  if (self->mask == NULL)
    return;

  self->tiles_x = (drape_mask_get_width (self->mask) + DRAPE_MASK_TILE_SIZE - 1) / DRAPE_MASK_TILE_SIZE;
  self->tiles_y = (drape_mask_get_height (self->mask) + DRAPE_MASK_TILE_SIZE - 1) / DRAPE_MASK_TILE_SIZE;
  self->tiles = g_ptr_array_new_full (self->tiles_x * self->tiles_y, tile_free);
  g_ptr_array_set_size (self->tiles, self->tiles_x * self->tiles_y);
  self->tile_dirty = g_malloc (self->tiles_x * self->tiles_y);
  memset (self->tile_dirty, TRUE, self->tiles_x * self->tiles_y);
}

static GdkTexture *
build_tile (DrapeMaskCanvas *self,
            guint            tx,
            guint            ty)
{
  guint width = drape_mask_get_width (self->mask);
  guint x = tx * DRAPE_MASK_TILE_SIZE, y = ty * DRAPE_MASK_TILE_SIZE;
  guint w = MIN (DRAPE_MASK_TILE_SIZE, width - x);
  guint h = MIN (DRAPE_MASK_TILE_SIZE, drape_mask_get_height (self->mask) - y);
  guint f = 1u << self->tile_level;
  guint ow = (w + f - 1) / f, oh = (h + f - 1) / f;
  const guint8 *src = drape_mask_get_data (self->mask) + (gsize) y * width + x;
  g_autoptr(GBytes) bytes = NULL;
  gboolean any = FALSE;
  guint32 *rgba;

  for (guint row = 0; row < h && !any; row++)
    for (guint col = 0; col < w; col++)
      if (src[(gsize) row * width + col] != 0)
        {
          any = TRUE;
          break;
        }
  if (!any)
    return NULL;

  rgba = g_malloc ((gsize) ow * oh * 4);
  for (guint oy = 0; oy < oh; oy++)
    {
      guint32 *d = rgba + (gsize) oy * ow;

      for (guint ox = 0; ox < ow; ox++)
        {
          guint y1 = MIN ((oy + 1) * f, h), x1 = MIN ((ox + 1) * f, w);
          guint sum = 0, count = 0;

          /* The average of the f x f block (clipped at the tile's edge). */
          for (guint sy = oy * f; sy < y1; sy++)
            for (guint sx = ox * f; sx < x1; sx++)
              {
                sum += src[(gsize) sy * width + sx];
                count++;
              }
          d[ox] = self->tint_lut[(sum + count / 2) / count];
        }
    }
  bytes = g_bytes_new_take (rgba, (gsize) ow * oh * 4);
  return gdk_memory_texture_new (ow, oh, GDK_MEMORY_R8G8B8A8_PREMULTIPLIED, bytes, ow * 4);
}

/* 0 at 1:1 and closer, 1 when a screen pixel spans 2 mask pixels or
 * more, and so on up to 3. */
static guint
wanted_tile_level (DrapeMaskCanvas *self)
{
  double device_scale = self->view.scale * gtk_widget_get_scale_factor (GTK_WIDGET (self));
  guint level = 0;

  while (level < 3 && device_scale * (2u << level) <= 1.0)
    level++;
  return level;
}

static void
init_tint (DrapeMaskCanvas *self)
{
  for (guint m = 0; m < 256; m++)
    {
      guint8 px[4] = {
        (guint8) ((tint[0] * m + 127) / 255),
        (guint8) ((tint[1] * m + 127) / 255),
        (guint8) ((tint[2] * m + 127) / 255),
        (guint8) m,
      };

      memcpy (&self->tint_lut[m], px, 4);
    }
}

/* ---- painting and panning ------------------------------------------- */

static void
stroke_begin (DrapeMaskCanvas *self,
              DrapeBrushMode   mode,
              double           x,
              double           y,
              double           pressure)
{
  double ix, iy;

  if (self->mask == NULL)
    return;
  drape_viewport_to_image (&self->view, x, y, &ix, &iy);
  drape_mask_begin_stroke (self->mask, mode, self->brush_size / 2, self->brush_hardness);
  drape_mask_stroke_to (self->mask, ix, iy, pressure);
}

static void
stroke_continue (DrapeMaskCanvas *self,
                 double           x,
                 double           y,
                 double           pressure)
{
  double ix, iy;

  if (self->mask == NULL || !drape_mask_in_stroke (self->mask))
    return;
  drape_viewport_to_image (&self->view, x, y, &ix, &iy);
  drape_mask_stroke_to (self->mask, ix, iy, pressure);
}

static void
stroke_end (DrapeMaskCanvas *self)
{
  if (self->mask != NULL)
    drape_mask_end_stroke (self->mask);
}

static void
set_cursor_for_state (DrapeMaskCanvas *self)
{
  const char *name = "crosshair";

  if (self->panning)
    name = "grabbing";
  else if (self->space_held)
    name = "grab";
  gtk_widget_set_cursor_from_name (GTK_WIDGET (self), name);
}

static void
pan_begin (DrapeMaskCanvas *self,
           double           x,
           double           y)
{
  self->panning = TRUE;
  self->pan_last_x = x;
  self->pan_last_y = y;
  set_cursor_for_state (self);
}

static void
pan_to (DrapeMaskCanvas *self,
        double           x,
        double           y)
{
  drape_viewport_pan (&self->view, x - self->pan_last_x, y - self->pan_last_y);
  self->pan_last_x = x;
  self->pan_last_y = y;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
pan_end (DrapeMaskCanvas *self)
{
  self->panning = FALSE;
  set_cursor_for_state (self);
}

static gboolean
event_is_from_pen (GtkGesture *gesture)
{
  GdkEvent *event = gtk_event_controller_get_current_event (GTK_EVENT_CONTROLLER (gesture));
  GdkDeviceTool *tool = event != NULL ? gdk_event_get_device_tool (event) : NULL;

  if (tool == NULL)
    return FALSE;
  switch (gdk_device_tool_get_tool_type (tool))
    {
    case GDK_DEVICE_TOOL_TYPE_PEN:
    case GDK_DEVICE_TOOL_TYPE_ERASER:
    case GDK_DEVICE_TOOL_TYPE_BRUSH:
    case GDK_DEVICE_TOOL_TYPE_PENCIL:
    case GDK_DEVICE_TOOL_TYPE_AIRBRUSH:
      return TRUE;
    case GDK_DEVICE_TOOL_TYPE_UNKNOWN:
    case GDK_DEVICE_TOOL_TYPE_MOUSE:
    case GDK_DEVICE_TOOL_TYPE_LENS:
    default:
      return FALSE;
    }
}

static void
on_paint_drag_begin (GtkGestureDrag  *gesture,
                     double           x,
                     double           y,
                     DrapeMaskCanvas *self)
{
  /* The stylus gesture paints with pressure; this one handles the rest. */
  if (event_is_from_pen (GTK_GESTURE (gesture)) || self->photo == NULL)
    {
      gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_DENIED);
      return;
    }
  gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
  gtk_widget_grab_focus (GTK_WIDGET (self));
  self->drag_x = x;
  self->drag_y = y;
  if (self->space_held)
    pan_begin (self, x, y);
  else
    {
      self->painting = TRUE;
      stroke_begin (self, self->tool, x, y, 1.0);
    }
}

static void
on_paint_drag_update (GtkGestureDrag  *gesture,
                      double           dx,
                      double           dy,
                      DrapeMaskCanvas *self)
{
  double x = self->drag_x + dx, y = self->drag_y + dy;

  self->pointer_x = x;
  self->pointer_y = y;
  if (self->panning)
    pan_to (self, x, y);
  else if (self->painting)
    stroke_continue (self, x, y, 1.0);
}

static void
on_paint_drag_end (GtkGestureDrag  *gesture,
                   double           dx,
                   double           dy,
                   DrapeMaskCanvas *self)
{
  if (self->panning)
    pan_end (self);
  if (self->painting)
    {
      self->painting = FALSE;
      stroke_end (self);
    }
}

static void
on_pan_drag_begin (GtkGestureDrag  *gesture,
                   double           x,
                   double           y,
                   DrapeMaskCanvas *self)
{
  gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
  pan_begin (self, x, y);
}

static void
on_pan_drag_update (GtkGestureDrag  *gesture,
                    double           dx,
                    double           dy,
                    DrapeMaskCanvas *self)
{
  double x0, y0;

  gtk_gesture_drag_get_start_point (gesture, &x0, &y0);
  pan_to (self, x0 + dx, y0 + dy);
}

static void
on_pan_drag_end (GtkGestureDrag  *gesture,
                 double           dx,
                 double           dy,
                 DrapeMaskCanvas *self)
{
  pan_end (self);
}

static double
stylus_pressure (GtkGestureStylus *gesture)
{
  double pressure;

  if (!gtk_gesture_stylus_get_axis (gesture, GDK_AXIS_PRESSURE, &pressure))
    return 1.0;
  return pressure;
}

static void
on_stylus_down (GtkGestureStylus *gesture,
                double            x,
                double            y,
                DrapeMaskCanvas  *self)
{
  GdkDeviceTool *tool = gtk_gesture_stylus_get_device_tool (gesture);
  DrapeBrushMode mode = self->tool;

  if (self->photo == NULL)
    return;
  gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
  gtk_widget_grab_focus (GTK_WIDGET (self));
  /* The pen's other end erases, whatever the tool. */
  if (tool != NULL && gdk_device_tool_get_tool_type (tool) == GDK_DEVICE_TOOL_TYPE_ERASER)
    mode = DRAPE_BRUSH_MODE_ERASE;
  self->stylus_painting = TRUE;
  stroke_begin (self, mode, x, y, stylus_pressure (gesture));
}

static void
on_stylus_motion (GtkGestureStylus *gesture,
                  double            x,
                  double            y,
                  DrapeMaskCanvas  *self)
{
  self->pointer_x = x;
  self->pointer_y = y;
  self->pointer_inside = TRUE;
  if (!self->stylus_painting)
    {
      gtk_widget_queue_draw (GTK_WIDGET (self));
      return;
    }
  stroke_continue (self, x, y, stylus_pressure (gesture));
}

static void
on_stylus_up (GtkGestureStylus *gesture,
              double            x,
              double            y,
              DrapeMaskCanvas  *self)
{
  if (!self->stylus_painting)
    return;
  self->stylus_painting = FALSE;
  stroke_end (self);
}

static void
on_zoom_begin (GtkGesture       *gesture,
               GdkEventSequence *sequence,
               DrapeMaskCanvas  *self)
{
  self->zoom_gesture_scale = self->view.scale;
  /* A pinch is not a stroke: drop what the first finger painted. */
  if (self->painting)
    {
      self->painting = FALSE;
      stroke_end (self);
      if (self->mask != NULL)
        drape_mask_undo (self->mask);
    }
}

static void
on_zoom_scale_changed (GtkGestureZoom  *gesture,
                       double           scale,
                       DrapeMaskCanvas *self)
{
  double old_scale = self->view.scale;
  double cx, cy;

  if (!gtk_gesture_get_bounding_box_center (GTK_GESTURE (gesture), &cx, &cy))
    return;
  drape_viewport_zoom_at (&self->view, self->zoom_gesture_scale * scale / old_scale, cx, cy);
  view_changed (self, old_scale);
}

static gboolean
on_scroll (GtkEventControllerScroll *controller,
           double                    dx,
           double                    dy,
           DrapeMaskCanvas          *self)
{
  GdkModifierType state = gtk_event_controller_get_current_event_state (GTK_EVENT_CONTROLLER (controller));
  gboolean wheel = gtk_event_controller_scroll_get_unit (controller) == GDK_SCROLL_UNIT_WHEEL;
  double old_scale = self->view.scale;

  if (self->photo == NULL)
    return FALSE;
  if (state & GDK_CONTROL_MASK)
    {
      double factor = wheel ? pow (ZOOM_STEP, -dy) : exp (-dy / 100.0);

      drape_viewport_zoom_at (&self->view, factor, self->pointer_x, self->pointer_y);
    }
  else if (wheel)
    {
      /* Shift turns a vertical wheel into a horizontal pan. */
      if (state & GDK_SHIFT_MASK)
        drape_viewport_pan (&self->view, -dy * WHEEL_PAN, -dx * WHEEL_PAN);
      else
        drape_viewport_pan (&self->view, -dx * WHEEL_PAN, -dy * WHEEL_PAN);
    }
  else
    drape_viewport_pan (&self->view, -dx, -dy);
  view_changed (self, old_scale);
  return TRUE;
}

static void
on_motion (GtkEventControllerMotion *controller,
           double                    x,
           double                    y,
           DrapeMaskCanvas          *self)
{
  self->pointer_inside = TRUE;
  self->pointer_x = x;
  self->pointer_y = y;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
on_leave (GtkEventControllerMotion *controller,
          DrapeMaskCanvas          *self)
{
  self->pointer_inside = FALSE;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static gboolean
on_key_pressed (GtkEventControllerKey *controller,
                guint                  keyval,
                guint                  keycode,
                GdkModifierType        state,
                DrapeMaskCanvas       *self)
{
  if (keyval != GDK_KEY_space)
    return FALSE;
  self->space_held = TRUE;
  set_cursor_for_state (self);
  return TRUE;
}

static void
on_key_released (GtkEventControllerKey *controller,
                 guint                  keyval,
                 guint                  keycode,
                 GdkModifierType        state,
                 DrapeMaskCanvas       *self)
{
  if (keyval != GDK_KEY_space)
    return;
  self->space_held = FALSE;
  set_cursor_for_state (self);
}

/* ---- GtkWidget -------------------------------------------------------- */

static void
drape_mask_canvas_size_allocate (GtkWidget *widget,
                                 int        width,
                                 int        height,
                                 int        baseline)
{
  update_view (DRAPE_MASK_CANVAS (widget));
}

static void
append_photo (DrapeMaskCanvas *self,
              GtkSnapshot     *snapshot,
              GdkTexture      *texture,
              const graphene_rect_t *rect)
{
#if GTK_CHECK_VERSION (4, 10, 0)
  /* Past 2x, show pixels as pixels: the user is inspecting edges. */
  gtk_snapshot_append_scaled_texture (snapshot, texture,
                                      self->view.scale >= 2.0 ? GSK_SCALING_FILTER_NEAREST
                                                              : GSK_SCALING_FILTER_LINEAR,
                                      rect);
#else
  gtk_snapshot_append_texture (snapshot, texture, rect);
#endif
}

static void
snapshot_overlay (DrapeMaskCanvas *self,
                  GtkSnapshot     *snapshot)
{
  double vx0, vy0, vx1, vy1;

  if (self->tiles == NULL || self->overlay_opacity <= 0.0)
    return;
  if (wanted_tile_level (self) != self->tile_level)
    {
      self->tile_level = wanted_tile_level (self);
      memset (self->tile_dirty, TRUE, self->tiles_x * self->tiles_y);
    }

  /* Only the tiles in sight are rebuilt and drawn. */
  drape_viewport_to_image (&self->view, 0, 0, &vx0, &vy0);
  drape_viewport_to_image (&self->view, self->view.view_width, self->view.view_height, &vx1, &vy1);

  gtk_snapshot_push_opacity (snapshot, self->overlay_opacity);
  for (guint ty = 0; ty < self->tiles_y; ty++)
    for (guint tx = 0; tx < self->tiles_x; tx++)
      {
        guint tile = ty * self->tiles_x + tx;
        double x = tx * DRAPE_MASK_TILE_SIZE, y = ty * DRAPE_MASK_TILE_SIZE;
        GdkTexture *texture;

        if (x > vx1 || y > vy1 || x + DRAPE_MASK_TILE_SIZE < vx0 || y + DRAPE_MASK_TILE_SIZE < vy0)
          continue;
        if (self->tile_dirty[tile])
          {
            g_clear_object ((GdkTexture **) &g_ptr_array_index (self->tiles, tile));
            g_ptr_array_index (self->tiles, tile) = build_tile (self, tx, ty);
            self->tile_dirty[tile] = FALSE;
          }
        texture = g_ptr_array_index (self->tiles, tile);
        if (texture != NULL)
          append_photo (self, snapshot, texture,
                        &GRAPHENE_RECT_INIT (x, y,
                                             MIN (DRAPE_MASK_TILE_SIZE, drape_mask_get_width (self->mask) - x),
                                             MIN (DRAPE_MASK_TILE_SIZE, drape_mask_get_height (self->mask) - y)));
      }
  gtk_snapshot_pop (snapshot);
}

static void
snapshot_brush (DrapeMaskCanvas *self,
                GtkSnapshot     *snapshot)
{
  double r = self->brush_size / 2 * self->view.scale;
  GskRoundedRect outer, inner;
  const float widths[4] = { 1, 1, 1, 1 };
  const GdkRGBA dark[4] = {
    { 0, 0, 0, 0.7f }, { 0, 0, 0, 0.7f }, { 0, 0, 0, 0.7f }, { 0, 0, 0, 0.7f },
  };
  const GdkRGBA light[4] = {
    { 1, 1, 1, 0.9f }, { 1, 1, 1, 0.9f }, { 1, 1, 1, 0.9f }, { 1, 1, 1, 0.9f },
  };

  if (!self->pointer_inside || self->panning || self->space_held || r < 2)
    return;
  /* Two rings, dark and light, so the outline shows on any photo. */
  gsk_rounded_rect_init_from_rect (&outer,
                                   &GRAPHENE_RECT_INIT (self->pointer_x - r - 1, self->pointer_y - r - 1,
                                                        2 * r + 2, 2 * r + 2), r + 1);
  gsk_rounded_rect_init_from_rect (&inner,
                                   &GRAPHENE_RECT_INIT (self->pointer_x - r, self->pointer_y - r,
                                                        2 * r, 2 * r), r);
  gtk_snapshot_append_border (snapshot, &outer, widths, dark);
  gtk_snapshot_append_border (snapshot, &inner, widths, light);
}

/* The smaller copy while it has at least a texel per device pixel. */
static GdkTexture *
choose_photo_texture (DrapeMaskCanvas *self)
{
  double on_screen = gdk_texture_get_width (self->photo) * self->view.scale *
                     gtk_widget_get_scale_factor (GTK_WIDGET (self));

  if (self->photo_preview != NULL && on_screen <= gdk_texture_get_width (self->photo_preview))
    return self->photo_preview;
  return self->photo;
}

static void
drape_mask_canvas_snapshot (GtkWidget   *widget,
                            GtkSnapshot *snapshot)
{
  DrapeMaskCanvas *self = DRAPE_MASK_CANVAS (widget);
  int width = gtk_widget_get_width (widget), height = gtk_widget_get_height (widget);
  graphene_rect_t bounds;

  if (self->photo == NULL)
    return;

  gtk_snapshot_push_clip (snapshot, &GRAPHENE_RECT_INIT (0, 0, width, height));
  gtk_snapshot_save (snapshot);
  gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (self->view.x, self->view.y));
  gtk_snapshot_scale (snapshot, self->view.scale, self->view.scale);
  bounds = GRAPHENE_RECT_INIT (0, 0, gdk_texture_get_width (self->photo), gdk_texture_get_height (self->photo));
  append_photo (self, snapshot, choose_photo_texture (self), &bounds);
  snapshot_overlay (self, snapshot);
  gtk_snapshot_restore (snapshot);
  snapshot_brush (self, snapshot);
  gtk_snapshot_pop (snapshot);
}

static void
drape_mask_canvas_measure (GtkWidget      *widget,
                           GtkOrientation  orientation,
                           int             for_size,
                           int            *minimum,
                           int            *natural,
                           int            *minimum_baseline,
                           int            *natural_baseline)
{
  *minimum = 64;
  *natural = 480;
}

static void
drape_mask_canvas_dispose (GObject *object)
{
  DrapeMaskCanvas *self = DRAPE_MASK_CANVAS (object);

  if (self->mask != NULL)
    g_signal_handlers_disconnect_by_data (self->mask, self);
  g_clear_object (&self->mask);
  g_clear_object (&self->photo);
  g_clear_object (&self->photo_preview);
  g_clear_pointer (&self->tiles, g_ptr_array_unref);
  g_clear_pointer (&self->tile_dirty, g_free);

  G_OBJECT_CLASS (drape_mask_canvas_parent_class)->dispose (object);
}

static void
drape_mask_canvas_get_property (GObject    *object,
                                guint       prop_id,
                                GValue     *value,
                                GParamSpec *pspec)
{
  DrapeMaskCanvas *self = DRAPE_MASK_CANVAS (object);

  switch (prop_id)
    {
    case PROP_PHOTO:
      g_value_set_object (value, self->photo);
      break;
    case PROP_PHOTO_PREVIEW:
      g_value_set_object (value, self->photo_preview);
      break;
    case PROP_MASK:
      g_value_set_object (value, self->mask);
      break;
    case PROP_TOOL:
      g_value_set_enum (value, self->tool);
      break;
    case PROP_BRUSH_SIZE:
      g_value_set_double (value, self->brush_size);
      break;
    case PROP_BRUSH_HARDNESS:
      g_value_set_double (value, self->brush_hardness);
      break;
    case PROP_OVERLAY_OPACITY:
      g_value_set_double (value, self->overlay_opacity);
      break;
    case PROP_ZOOM:
      g_value_set_double (value, self->view.scale);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
drape_mask_canvas_set_property (GObject      *object,
                                guint         prop_id,
                                const GValue *value,
                                GParamSpec   *pspec)
{
  DrapeMaskCanvas *self = DRAPE_MASK_CANVAS (object);

  switch (prop_id)
    {
    case PROP_PHOTO:
      drape_mask_canvas_set_photo (self, g_value_get_object (value));
      break;
    case PROP_PHOTO_PREVIEW:
      drape_mask_canvas_set_photo_preview (self, g_value_get_object (value));
      break;
    case PROP_MASK:
      drape_mask_canvas_set_mask (self, g_value_get_object (value));
      break;
    case PROP_TOOL:
      drape_mask_canvas_set_tool (self, g_value_get_enum (value));
      break;
    case PROP_BRUSH_SIZE:
      drape_mask_canvas_set_brush_size (self, g_value_get_double (value));
      break;
    case PROP_BRUSH_HARDNESS:
      drape_mask_canvas_set_brush_hardness (self, g_value_get_double (value));
      break;
    case PROP_OVERLAY_OPACITY:
      drape_mask_canvas_set_overlay_opacity (self, g_value_get_double (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
drape_mask_canvas_class_init (DrapeMaskCanvasClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GParamFlags flags = G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->dispose = drape_mask_canvas_dispose;
  object_class->get_property = drape_mask_canvas_get_property;
  object_class->set_property = drape_mask_canvas_set_property;

  widget_class->snapshot = drape_mask_canvas_snapshot;
  widget_class->size_allocate = drape_mask_canvas_size_allocate;
  widget_class->measure = drape_mask_canvas_measure;

  properties[PROP_PHOTO] =
    g_param_spec_object ("photo", NULL, NULL, GDK_TYPE_TEXTURE, flags);
  properties[PROP_PHOTO_PREVIEW] =
    g_param_spec_object ("photo-preview", NULL, NULL, GDK_TYPE_TEXTURE, flags);
  properties[PROP_MASK] =
    g_param_spec_object ("mask", NULL, NULL, DRAPE_TYPE_MASK, flags);
  properties[PROP_TOOL] =
    g_param_spec_enum ("tool", NULL, NULL, DRAPE_TYPE_BRUSH_MODE, DRAPE_BRUSH_MODE_PAINT, flags);
  properties[PROP_BRUSH_SIZE] =
    g_param_spec_double ("brush-size", NULL, NULL, 1.0, 1000.0, 60.0, flags);
  properties[PROP_BRUSH_HARDNESS] =
    g_param_spec_double ("brush-hardness", NULL, NULL, 0.0, 1.0, 0.8, flags);
  properties[PROP_OVERLAY_OPACITY] =
    g_param_spec_double ("overlay-opacity", NULL, NULL, 0.0, 1.0, 0.5, flags);
  properties[PROP_ZOOM] =
    g_param_spec_double ("zoom", NULL, NULL, 0.0, G_MAXDOUBLE, 1.0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_css_name (widget_class, "drape-mask-canvas");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
drape_mask_canvas_init (DrapeMaskCanvas *self)
{
  GtkGesture *gesture;
  GtkEventController *controller;

  self->tool = DRAPE_BRUSH_MODE_PAINT;
  self->brush_size = 60.0;
  self->brush_hardness = 0.8;
  self->overlay_opacity = 0.5;
  drape_viewport_init (&self->view);
  init_tint (self);

  gtk_widget_set_focusable (GTK_WIDGET (self), TRUE);
  gtk_widget_set_overflow (GTK_WIDGET (self), GTK_OVERFLOW_HIDDEN);
  gtk_widget_set_cursor_from_name (GTK_WIDGET (self), "crosshair");
  gtk_accessible_update_property (GTK_ACCESSIBLE (self),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, _("Photo and mask"),
                                  GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                  _("Paint the region to dress; the mask shows in red"),
                                  -1);

  gesture = gtk_gesture_stylus_new ();
  g_signal_connect (gesture, "down", G_CALLBACK (on_stylus_down), self);
  g_signal_connect (gesture, "motion", G_CALLBACK (on_stylus_motion), self);
  g_signal_connect (gesture, "up", G_CALLBACK (on_stylus_up), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (gesture));

  gesture = gtk_gesture_drag_new ();
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (gesture), GDK_BUTTON_PRIMARY);
  g_signal_connect (gesture, "drag-begin", G_CALLBACK (on_paint_drag_begin), self);
  g_signal_connect (gesture, "drag-update", G_CALLBACK (on_paint_drag_update), self);
  g_signal_connect (gesture, "drag-end", G_CALLBACK (on_paint_drag_end), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (gesture));

  gesture = gtk_gesture_drag_new ();
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (gesture), GDK_BUTTON_MIDDLE);
  g_signal_connect (gesture, "drag-begin", G_CALLBACK (on_pan_drag_begin), self);
  g_signal_connect (gesture, "drag-update", G_CALLBACK (on_pan_drag_update), self);
  g_signal_connect (gesture, "drag-end", G_CALLBACK (on_pan_drag_end), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (gesture));

  gesture = gtk_gesture_zoom_new ();
  g_signal_connect (gesture, "begin", G_CALLBACK (on_zoom_begin), self);
  g_signal_connect (gesture, "scale-changed", G_CALLBACK (on_zoom_scale_changed), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (gesture));

  controller = gtk_event_controller_scroll_new (GTK_EVENT_CONTROLLER_SCROLL_BOTH_AXES);
  g_signal_connect (controller, "scroll", G_CALLBACK (on_scroll), self);
  gtk_widget_add_controller (GTK_WIDGET (self), controller);

  controller = gtk_event_controller_motion_new ();
  g_signal_connect (controller, "motion", G_CALLBACK (on_motion), self);
  g_signal_connect (controller, "leave", G_CALLBACK (on_leave), self);
  gtk_widget_add_controller (GTK_WIDGET (self), controller);

  controller = gtk_event_controller_key_new ();
  g_signal_connect (controller, "key-pressed", G_CALLBACK (on_key_pressed), self);
  g_signal_connect (controller, "key-released", G_CALLBACK (on_key_released), self);
  gtk_widget_add_controller (GTK_WIDGET (self), controller);
}

GtkWidget *
drape_mask_canvas_new (void)
{
  return g_object_new (DRAPE_TYPE_MASK_CANVAS, NULL);
}

GdkTexture *
drape_mask_canvas_get_photo (DrapeMaskCanvas *self)
{
  g_return_val_if_fail (DRAPE_IS_MASK_CANVAS (self), NULL);
  return self->photo;
}

void
drape_mask_canvas_set_photo (DrapeMaskCanvas *self,
                             GdkTexture      *photo)
{
  g_return_if_fail (DRAPE_IS_MASK_CANVAS (self));
  g_return_if_fail (photo == NULL || GDK_IS_TEXTURE (photo));

  if (!g_set_object (&self->photo, photo))
    return;
  self->view.fit = TRUE;
  update_view (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PHOTO]);
}

GdkTexture *
drape_mask_canvas_get_photo_preview (DrapeMaskCanvas *self)
{
  g_return_val_if_fail (DRAPE_IS_MASK_CANVAS (self), NULL);
  return self->photo_preview;
}

void
drape_mask_canvas_set_photo_preview (DrapeMaskCanvas *self,
                                     GdkTexture      *preview)
{
  g_return_if_fail (DRAPE_IS_MASK_CANVAS (self));
  g_return_if_fail (preview == NULL || GDK_IS_TEXTURE (preview));

  if (!g_set_object (&self->photo_preview, preview))
    return;
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PHOTO_PREVIEW]);
}

DrapeMask *
drape_mask_canvas_get_mask (DrapeMaskCanvas *self)
{
  g_return_val_if_fail (DRAPE_IS_MASK_CANVAS (self), NULL);
  return self->mask;
}

void
drape_mask_canvas_set_mask (DrapeMaskCanvas *self,
                            DrapeMask       *mask)
{
  g_return_if_fail (DRAPE_IS_MASK_CANVAS (self));
  g_return_if_fail (mask == NULL || DRAPE_IS_MASK (mask));

  if (self->mask == mask)
    return;
  if (self->mask != NULL)
    {
      drape_mask_end_stroke (self->mask);
      g_signal_handlers_disconnect_by_data (self->mask, self);
    }
  g_set_object (&self->mask, mask);
  self->painting = self->stylus_painting = FALSE;
  if (mask != NULL)
    g_signal_connect_object (mask, "changed", G_CALLBACK (on_mask_changed), self, G_CONNECT_SWAPPED);
  reset_tiles (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MASK]);
}

DrapeBrushMode
drape_mask_canvas_get_tool (DrapeMaskCanvas *self)
{
  g_return_val_if_fail (DRAPE_IS_MASK_CANVAS (self), DRAPE_BRUSH_MODE_PAINT);
  return self->tool;
}

void
drape_mask_canvas_set_tool (DrapeMaskCanvas *self,
                            DrapeBrushMode   tool)
{
  g_return_if_fail (DRAPE_IS_MASK_CANVAS (self));

  if (self->tool == tool)
    return;
  self->tool = tool;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TOOL]);
}

double
drape_mask_canvas_get_brush_size (DrapeMaskCanvas *self)
{
  g_return_val_if_fail (DRAPE_IS_MASK_CANVAS (self), 0);
  return self->brush_size;
}

void
drape_mask_canvas_set_brush_size (DrapeMaskCanvas *self,
                                  double           size)
{
  g_return_if_fail (DRAPE_IS_MASK_CANVAS (self));

  size = CLAMP (size, 1.0, 1000.0);
  if (self->brush_size == size)
    return;
  self->brush_size = size;
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BRUSH_SIZE]);
}

double
drape_mask_canvas_get_brush_hardness (DrapeMaskCanvas *self)
{
  g_return_val_if_fail (DRAPE_IS_MASK_CANVAS (self), 0);
  return self->brush_hardness;
}

void
drape_mask_canvas_set_brush_hardness (DrapeMaskCanvas *self,
                                      double           hardness)
{
  g_return_if_fail (DRAPE_IS_MASK_CANVAS (self));

  hardness = CLAMP (hardness, 0.0, 1.0);
  if (self->brush_hardness == hardness)
    return;
  self->brush_hardness = hardness;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BRUSH_HARDNESS]);
}

double
drape_mask_canvas_get_overlay_opacity (DrapeMaskCanvas *self)
{
  g_return_val_if_fail (DRAPE_IS_MASK_CANVAS (self), 0);
  return self->overlay_opacity;
}

void
drape_mask_canvas_set_overlay_opacity (DrapeMaskCanvas *self,
                                       double           opacity)
{
  g_return_if_fail (DRAPE_IS_MASK_CANVAS (self));

  opacity = CLAMP (opacity, 0.0, 1.0);
  if (self->overlay_opacity == opacity)
    return;
  self->overlay_opacity = opacity;
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_OVERLAY_OPACITY]);
}

double
drape_mask_canvas_get_zoom (DrapeMaskCanvas *self)
{
  g_return_val_if_fail (DRAPE_IS_MASK_CANVAS (self), 1.0);
  return self->view.scale;
}

static void
zoom_centre (DrapeMaskCanvas *self,
             double           factor)
{
  double old_scale = self->view.scale;

  drape_viewport_zoom_at (&self->view, factor, self->view.view_width / 2, self->view.view_height / 2);
  view_changed (self, old_scale);
}

void
drape_mask_canvas_zoom_in (DrapeMaskCanvas *self)
{
  g_return_if_fail (DRAPE_IS_MASK_CANVAS (self));
  zoom_centre (self, ZOOM_STEP);
}

void
drape_mask_canvas_zoom_out (DrapeMaskCanvas *self)
{
  g_return_if_fail (DRAPE_IS_MASK_CANVAS (self));
  zoom_centre (self, 1 / ZOOM_STEP);
}

void
drape_mask_canvas_zoom_to_fit (DrapeMaskCanvas *self)
{
  double old_scale;

  g_return_if_fail (DRAPE_IS_MASK_CANVAS (self));

  old_scale = self->view.scale;
  drape_viewport_fit (&self->view);
  view_changed (self, old_scale);
}

void
drape_mask_canvas_photo_to_widget (DrapeMaskCanvas *self,
                                   double           photo_x,
                                   double           photo_y,
                                   double          *widget_x,
                                   double          *widget_y)
{
  g_return_if_fail (DRAPE_IS_MASK_CANVAS (self));

  *widget_x = self->view.x + photo_x * self->view.scale;
  *widget_y = self->view.y + photo_y * self->view.scale;
}
