/* drape-compare-view.c: a result over the photo it came from, with a
 * before/after divider
 *
 * Everything is drawn in the result's pixel space: the photo is scaled
 * and centre-cropped onto it the way CatVTON prepares the person, so the
 * two line up under the divider.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <math.h>

#include <glib/gi18n.h>

#include "drape-compare-view.h"
#include "drape-viewport.h"

#define ZOOM_STEP 1.25
#define WHEEL_PAN 48.0
#define HANDLE_RADIUS 14.0

struct _DrapeCompareView
{
  GtkWidget parent_instance;

  GdkTexture *before;
  GdkTexture *after;
  double position;
  DrapeViewport view;

  gboolean panning;
  double pan_last_x;
  double pan_last_y;
  double zoom_gesture_scale;
  double pointer_x;
  double pointer_y;
};

enum {
  PROP_0,
  PROP_BEFORE,
  PROP_AFTER,
  PROP_POSITION,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (DrapeCompareView, drape_compare_view, GTK_TYPE_WIDGET)

/* The space both images are drawn in: the result's, or the photo's while
 * there is no result. */
static GdkTexture *
frame_texture (DrapeCompareView *self)
{
  return self->after != NULL ? self->after : self->before;
}

static void
update_view (DrapeCompareView *self)
{
  GdkTexture *frame = frame_texture (self);

  drape_viewport_set_sizes (&self->view,
                            gtk_widget_get_width (GTK_WIDGET (self)),
                            gtk_widget_get_height (GTK_WIDGET (self)),
                            frame != NULL ? gdk_texture_get_width (frame) : 0,
                            frame != NULL ? gdk_texture_get_height (frame) : 0);
}

static void
set_position_from_view (DrapeCompareView *self,
                        double            x)
{
  GdkTexture *frame = frame_texture (self);
  double ix, iy;

  if (frame == NULL)
    return;
  drape_viewport_to_image (&self->view, x, 0, &ix, &iy);
  drape_compare_view_set_position (self, ix / gdk_texture_get_width (frame));
}

static void
on_divider_drag_begin (GtkGestureDrag   *gesture,
                       double            x,
                       double            y,
                       DrapeCompareView *self)
{
  if (self->before == NULL || self->after == NULL)
    {
      gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_DENIED);
      return;
    }
  gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
  gtk_widget_grab_focus (GTK_WIDGET (self));
  set_position_from_view (self, x);
}

static void
on_divider_drag_update (GtkGestureDrag   *gesture,
                        double            dx,
                        double            dy,
                        DrapeCompareView *self)
{
  double x0, y0;

  gtk_gesture_drag_get_start_point (gesture, &x0, &y0);
  set_position_from_view (self, x0 + dx);
}

static void
on_pan_drag_begin (GtkGestureDrag   *gesture,
                   double            x,
                   double            y,
                   DrapeCompareView *self)
{
  gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
  self->panning = TRUE;
  self->pan_last_x = x;
  self->pan_last_y = y;
  gtk_widget_set_cursor_from_name (GTK_WIDGET (self), "grabbing");
}

static void
on_pan_drag_update (GtkGestureDrag   *gesture,
                    double            dx,
                    double            dy,
                    DrapeCompareView *self)
{
  double x0, y0;

  gtk_gesture_drag_get_start_point (gesture, &x0, &y0);
  drape_viewport_pan (&self->view, x0 + dx - self->pan_last_x, y0 + dy - self->pan_last_y);
  self->pan_last_x = x0 + dx;
  self->pan_last_y = y0 + dy;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
on_pan_drag_end (GtkGestureDrag   *gesture,
                 double            dx,
                 double            dy,
                 DrapeCompareView *self)
{
  self->panning = FALSE;
  gtk_widget_set_cursor_from_name (GTK_WIDGET (self), "col-resize");
}

static void
on_zoom_begin (GtkGesture       *gesture,
               GdkEventSequence *sequence,
               DrapeCompareView *self)
{
  self->zoom_gesture_scale = self->view.scale;
}

static void
on_zoom_scale_changed (GtkGestureZoom   *gesture,
                       double            scale,
                       DrapeCompareView *self)
{
  double cx, cy;

  if (!gtk_gesture_get_bounding_box_center (GTK_GESTURE (gesture), &cx, &cy))
    return;
  drape_viewport_zoom_at (&self->view, self->zoom_gesture_scale * scale / self->view.scale, cx, cy);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static gboolean
on_scroll (GtkEventControllerScroll *controller,
           double                    dx,
           double                    dy,
           DrapeCompareView         *self)
{
  GdkModifierType state = gtk_event_controller_get_current_event_state (GTK_EVENT_CONTROLLER (controller));
  gboolean wheel = gtk_event_controller_scroll_get_unit (controller) == GDK_SCROLL_UNIT_WHEEL;

  if (frame_texture (self) == NULL)
    return FALSE;
  if (state & GDK_CONTROL_MASK)
    drape_viewport_zoom_at (&self->view, wheel ? pow (ZOOM_STEP, -dy) : exp (-dy / 100.0),
                            self->pointer_x, self->pointer_y);
  else if (wheel)
    drape_viewport_pan (&self->view, -dx * WHEEL_PAN, -dy * WHEEL_PAN);
  else
    drape_viewport_pan (&self->view, -dx, -dy);
  gtk_widget_queue_draw (GTK_WIDGET (self));
  return TRUE;
}

static void
on_motion (GtkEventControllerMotion *controller,
           double                    x,
           double                    y,
           DrapeCompareView         *self)
{
  self->pointer_x = x;
  self->pointer_y = y;
}

static gboolean
on_key_pressed (GtkEventControllerKey *controller,
                guint                  keyval,
                guint                  keycode,
                GdkModifierType        state,
                DrapeCompareView      *self)
{
  switch (keyval)
    {
    case GDK_KEY_Left:
    case GDK_KEY_KP_Left:
      drape_compare_view_set_position (self, self->position - 0.05);
      return TRUE;
    case GDK_KEY_Right:
    case GDK_KEY_KP_Right:
      drape_compare_view_set_position (self, self->position + 0.05);
      return TRUE;
    default:
      return FALSE;
    }
}

static void
drape_compare_view_size_allocate (GtkWidget *widget,
                                  int        width,
                                  int        height,
                                  int        baseline)
{
  update_view (DRAPE_COMPARE_VIEW (widget));
}

static void
append_before (DrapeCompareView *self,
               GtkSnapshot      *snapshot,
               double            fw,
               double            fh)
{
  double pw = gdk_texture_get_width (self->before), ph = gdk_texture_get_height (self->before);
  double s = MAX (fw / pw, fh / ph);

  gtk_snapshot_push_clip (snapshot, &GRAPHENE_RECT_INIT (0, 0, fw, fh));
  gtk_snapshot_append_texture (snapshot, self->before,
                               &GRAPHENE_RECT_INIT ((fw - pw * s) / 2, (fh - ph * s) / 2, pw * s, ph * s));
  gtk_snapshot_pop (snapshot);
}

static void
append_divider (DrapeCompareView *self,
                GtkSnapshot      *snapshot,
                double            x,
                double            top,
                double            bottom)
{
  GdkRGBA white = { 1, 1, 1, 0.95f };
  GdkRGBA shadow = { 0, 0, 0, 0.35f };
  double cy = (MAX (top, 0) + MIN (bottom, gtk_widget_get_height (GTK_WIDGET (self)))) / 2;
  GskRoundedRect handle;
  const float widths[4] = { 2, 2, 2, 2 };
  const GdkRGBA border[4] = { white, white, white, white };

  gtk_snapshot_append_color (snapshot, &shadow, &GRAPHENE_RECT_INIT (x - 2, top, 4, bottom - top));
  gtk_snapshot_append_color (snapshot, &white, &GRAPHENE_RECT_INIT (x - 1, top, 2, bottom - top));
  gsk_rounded_rect_init_from_rect (&handle,
                                   &GRAPHENE_RECT_INIT (x - HANDLE_RADIUS, cy - HANDLE_RADIUS,
                                                        2 * HANDLE_RADIUS, 2 * HANDLE_RADIUS),
                                   HANDLE_RADIUS);
  gtk_snapshot_push_rounded_clip (snapshot, &handle);
  gtk_snapshot_append_color (snapshot, &shadow, &handle.bounds);
  gtk_snapshot_pop (snapshot);
  gtk_snapshot_append_border (snapshot, &handle, widths, border);
}

static void
drape_compare_view_snapshot (GtkWidget   *widget,
                             GtkSnapshot *snapshot)
{
  DrapeCompareView *self = DRAPE_COMPARE_VIEW (widget);
  GdkTexture *frame = frame_texture (self);
  double fw, fh, split;

  if (frame == NULL)
    return;
  fw = gdk_texture_get_width (frame);
  fh = gdk_texture_get_height (frame);
  split = self->after != NULL && self->before != NULL ? self->position * fw : 0;

  gtk_snapshot_push_clip (snapshot, &GRAPHENE_RECT_INIT (0, 0, gtk_widget_get_width (widget),
                                                         gtk_widget_get_height (widget)));
  gtk_snapshot_save (snapshot);
  gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (self->view.x, self->view.y));
  gtk_snapshot_scale (snapshot, self->view.scale, self->view.scale);
  if (self->after == NULL)
    append_before (self, snapshot, fw, fh);
  else
    {
      if (split > 0)
        {
          gtk_snapshot_push_clip (snapshot, &GRAPHENE_RECT_INIT (0, 0, split, fh));
          append_before (self, snapshot, fw, fh);
          gtk_snapshot_pop (snapshot);
        }
      gtk_snapshot_push_clip (snapshot, &GRAPHENE_RECT_INIT (split, 0, fw - split, fh));
      gtk_snapshot_append_texture (snapshot, self->after, &GRAPHENE_RECT_INIT (0, 0, fw, fh));
      gtk_snapshot_pop (snapshot);
    }
  gtk_snapshot_restore (snapshot);
  if (self->after != NULL && self->before != NULL)
    append_divider (self, snapshot, self->view.x + split * self->view.scale,
                    self->view.y, self->view.y + fh * self->view.scale);
  gtk_snapshot_pop (snapshot);
}

static void
drape_compare_view_measure (GtkWidget      *widget,
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
drape_compare_view_dispose (GObject *object)
{
  DrapeCompareView *self = DRAPE_COMPARE_VIEW (object);

  g_clear_object (&self->before);
  g_clear_object (&self->after);

  G_OBJECT_CLASS (drape_compare_view_parent_class)->dispose (object);
}

static void
drape_compare_view_get_property (GObject    *object,
                                 guint       prop_id,
                                 GValue     *value,
                                 GParamSpec *pspec)
{
  DrapeCompareView *self = DRAPE_COMPARE_VIEW (object);

  switch (prop_id)
    {
    case PROP_BEFORE:
      g_value_set_object (value, self->before);
      break;
    case PROP_AFTER:
      g_value_set_object (value, self->after);
      break;
    case PROP_POSITION:
      g_value_set_double (value, self->position);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
drape_compare_view_set_property (GObject      *object,
                                 guint         prop_id,
                                 const GValue *value,
                                 GParamSpec   *pspec)
{
  DrapeCompareView *self = DRAPE_COMPARE_VIEW (object);

  switch (prop_id)
    {
    case PROP_BEFORE:
      drape_compare_view_set_before (self, g_value_get_object (value));
      break;
    case PROP_AFTER:
      drape_compare_view_set_after (self, g_value_get_object (value));
      break;
    case PROP_POSITION:
      drape_compare_view_set_position (self, g_value_get_double (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
drape_compare_view_class_init (DrapeCompareViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GParamFlags flags = G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->dispose = drape_compare_view_dispose;
  object_class->get_property = drape_compare_view_get_property;
  object_class->set_property = drape_compare_view_set_property;

  widget_class->snapshot = drape_compare_view_snapshot;
  widget_class->size_allocate = drape_compare_view_size_allocate;
  widget_class->measure = drape_compare_view_measure;

  properties[PROP_BEFORE] =
    g_param_spec_object ("before", NULL, NULL, GDK_TYPE_TEXTURE, flags);
  properties[PROP_AFTER] =
    g_param_spec_object ("after", NULL, NULL, GDK_TYPE_TEXTURE, flags);
  properties[PROP_POSITION] =
    g_param_spec_double ("position", NULL, NULL, 0.0, 1.0, 0.5, flags);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_css_name (widget_class, "drape-compare-view");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
drape_compare_view_init (DrapeCompareView *self)
{
  GtkGesture *gesture;
  GtkEventController *controller;

  drape_viewport_init (&self->view);
  self->position = 0.5;

  gtk_widget_set_focusable (GTK_WIDGET (self), TRUE);
  gtk_widget_set_overflow (GTK_WIDGET (self), GTK_OVERFLOW_HIDDEN);
  gtk_widget_set_cursor_from_name (GTK_WIDGET (self), "col-resize");
  gtk_accessible_update_property (GTK_ACCESSIBLE (self),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, _("Result"),
                                  GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                  _("The photo before, left of the divider, and after, right of it; "
                                    "drag or use the arrow keys to move the divider"),
                                  -1);

  gesture = gtk_gesture_drag_new ();
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (gesture), GDK_BUTTON_PRIMARY);
  g_signal_connect (gesture, "drag-begin", G_CALLBACK (on_divider_drag_begin), self);
  g_signal_connect (gesture, "drag-update", G_CALLBACK (on_divider_drag_update), self);
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
  gtk_widget_add_controller (GTK_WIDGET (self), controller);

  controller = gtk_event_controller_key_new ();
  g_signal_connect (controller, "key-pressed", G_CALLBACK (on_key_pressed), self);
  gtk_widget_add_controller (GTK_WIDGET (self), controller);
}

GtkWidget *
drape_compare_view_new (void)
{
  return g_object_new (DRAPE_TYPE_COMPARE_VIEW, NULL);
}

GdkTexture *
drape_compare_view_get_before (DrapeCompareView *self)
{
  g_return_val_if_fail (DRAPE_IS_COMPARE_VIEW (self), NULL);
  return self->before;
}

void
drape_compare_view_set_before (DrapeCompareView *self,
                               GdkTexture       *before)
{
  g_return_if_fail (DRAPE_IS_COMPARE_VIEW (self));

  if (!g_set_object (&self->before, before))
    return;
  update_view (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BEFORE]);
}

GdkTexture *
drape_compare_view_get_after (DrapeCompareView *self)
{
  g_return_val_if_fail (DRAPE_IS_COMPARE_VIEW (self), NULL);
  return self->after;
}

void
drape_compare_view_set_after (DrapeCompareView *self,
                              GdkTexture       *after)
{
  g_return_if_fail (DRAPE_IS_COMPARE_VIEW (self));

  /* Previews replace each other every step: the view keeps its zoom as
   * long as the size stays the same. */
  if (!g_set_object (&self->after, after))
    return;
  update_view (self);
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_AFTER]);
}

double
drape_compare_view_get_position (DrapeCompareView *self)
{
  g_return_val_if_fail (DRAPE_IS_COMPARE_VIEW (self), 0);
  return self->position;
}

void
drape_compare_view_set_position (DrapeCompareView *self,
                                 double            position)
{
  g_return_if_fail (DRAPE_IS_COMPARE_VIEW (self));

  position = CLAMP (position, 0.0, 1.0);
  if (self->position == position)
    return;
  self->position = position;
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_POSITION]);
}

static void
zoom_centre (DrapeCompareView *self,
             double            factor)
{
  drape_viewport_zoom_at (&self->view, factor, self->view.view_width / 2, self->view.view_height / 2);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
drape_compare_view_zoom_in (DrapeCompareView *self)
{
  g_return_if_fail (DRAPE_IS_COMPARE_VIEW (self));
  zoom_centre (self, ZOOM_STEP);
}

void
drape_compare_view_zoom_out (DrapeCompareView *self)
{
  g_return_if_fail (DRAPE_IS_COMPARE_VIEW (self));
  zoom_centre (self, 1 / ZOOM_STEP);
}

void
drape_compare_view_zoom_to_fit (DrapeCompareView *self)
{
  g_return_if_fail (DRAPE_IS_COMPARE_VIEW (self));
  drape_viewport_fit (&self->view);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}
