/* drape-panes.c: the editor's two panes, side by side on a wide window
 * and stacked on a narrow one
 *
 * A small widget rather than AdwLeaflet (deprecated since libadwaita 1.4)
 * or AdwBreakpoint (only since 1.4): it builds the same on Debian 12 and
 * on GNOME 49, and both panes stay visible at every width.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "drape-panes.h"

/* The side pane's width when the panes are side by side. */
#define SIDE_WIDTH 340
/* The main pane's share of the height when stacked. */
#define MAIN_SHARE 0.55

struct _DrapePanes
{
  GtkWidget parent_instance;

  GtkWidget *main_child;
  GtkWidget *side_child;
  gboolean narrow;
  guint tick_id;
};

enum {
  PROP_0,
  PROP_MAIN_CHILD,
  PROP_SIDE_CHILD,
  PROP_NARROW,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void drape_panes_buildable_init (GtkBuildableIface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (DrapePanes, drape_panes, GTK_TYPE_WIDGET,
                               G_IMPLEMENT_INTERFACE (GTK_TYPE_BUILDABLE, drape_panes_buildable_init))

static GtkBuildableIface *parent_buildable_iface;

static void
measure_child (GtkWidget      *child,
               GtkOrientation  orientation,
               int             for_size,
               int            *minimum,
               int            *natural)
{
  *minimum = *natural = 0;
  if (child != NULL && gtk_widget_should_layout (child))
    gtk_widget_measure (child, orientation, for_size, minimum, natural, NULL, NULL);
}

static void
drape_panes_measure (GtkWidget      *widget,
                     GtkOrientation  orientation,
                     int             for_size,
                     int            *minimum,
                     int            *natural,
                     int            *minimum_baseline,
                     int            *natural_baseline)
{
  DrapePanes *self = DRAPE_PANES (widget);
  int main_min, main_nat, side_min, side_nat;

  measure_child (self->main_child, orientation, -1, &main_min, &main_nat);
  measure_child (self->side_child, orientation, -1, &side_min, &side_nat);

  if (orientation == GTK_ORIENTATION_HORIZONTAL)
    {
      /* Narrow enough to stack: the minimum is the wider pane's. */
      *minimum = MAX (main_min, side_min);
      *natural = main_nat + MAX (side_nat, SIDE_WIDTH);
    }
  else if (for_size >= 0 && for_size < DRAPE_PANES_NARROW_WIDTH)
    {
      *minimum = main_min + side_min;
      *natural = main_nat + side_nat;
    }
  else
    {
      *minimum = MAX (main_min, side_min);
      *natural = MAX (main_nat, side_nat);
    }
}

static gboolean
apply_narrow (GtkWidget     *widget,
              GdkFrameClock *clock,
              gpointer       user_data)
{
  DrapePanes *self = DRAPE_PANES (widget);
  gboolean narrow = gtk_widget_get_width (widget) < DRAPE_PANES_NARROW_WIDTH;

  self->tick_id = 0;
  if (narrow == self->narrow)
    return G_SOURCE_REMOVE;
  self->narrow = narrow;
  /* The separator between the panes turns with them (style.css). */
  gtk_widget_remove_css_class (widget, narrow ? "wide" : "narrow");
  gtk_widget_add_css_class (widget, narrow ? "narrow" : "wide");
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_NARROW]);
  return G_SOURCE_REMOVE;
}

static void
drape_panes_size_allocate (GtkWidget *widget,
                           int        width,
                           int        height,
                           int        baseline)
{
  DrapePanes *self = DRAPE_PANES (widget);
  gboolean narrow = width < DRAPE_PANES_NARROW_WIDTH;
  GtkAllocation main_alloc, side_alloc;

  if (narrow)
    {
      int side_min, side_nat, main_min, main_nat, main_height;

      measure_child (self->side_child, GTK_ORIENTATION_VERTICAL, width, &side_min, &side_nat);
      measure_child (self->main_child, GTK_ORIENTATION_VERTICAL, width, &main_min, &main_nat);
      main_height = MIN ((int) (height * MAIN_SHARE), height - side_min);
      main_height = MAX (main_height, main_min);
      main_alloc = (GtkAllocation) { 0, 0, width, main_height };
      side_alloc = (GtkAllocation) { 0, main_height, width, height - main_height };
    }
  else
    {
      int side_min, side_nat, side_width;

      measure_child (self->side_child, GTK_ORIENTATION_HORIZONTAL, height, &side_min, &side_nat);
      side_width = MAX (side_min, MIN (SIDE_WIDTH, width / 2));
      main_alloc = (GtkAllocation) { 0, 0, width - side_width, height };
      side_alloc = (GtkAllocation) { width - side_width, 0, side_width, height };
    }

  if (self->main_child != NULL && gtk_widget_should_layout (self->main_child))
    gtk_widget_size_allocate (self->main_child, &main_alloc, -1);
  if (self->side_child != NULL && gtk_widget_should_layout (self->side_child))
    gtk_widget_size_allocate (self->side_child, &side_alloc, -1);

  /* Restyling (and whoever listens to "narrow") may resize widgets that
   * are already allocated: do it before the next layout, not in this one. */
  if (narrow != self->narrow && self->tick_id == 0)
    self->tick_id = gtk_widget_add_tick_callback (widget, apply_narrow, NULL, NULL);
}

static GtkSizeRequestMode
drape_panes_get_request_mode (GtkWidget *widget)
{
  return GTK_SIZE_REQUEST_HEIGHT_FOR_WIDTH;
}

static void
set_child (DrapePanes  *self,
           GtkWidget  **slot,
           GtkWidget   *child,
           const char  *css_class,
           GParamSpec  *pspec)
{
  if (*slot == child)
    return;
  if (*slot != NULL)
    gtk_widget_unparent (*slot);
  *slot = child;
  if (child != NULL)
    {
      gtk_widget_set_parent (child, GTK_WIDGET (self));
      gtk_widget_add_css_class (child, css_class);
    }
  g_object_notify_by_pspec (G_OBJECT (self), pspec);
}

static void
drape_panes_dispose (GObject *object)
{
  DrapePanes *self = DRAPE_PANES (object);

  if (self->tick_id != 0)
    {
      gtk_widget_remove_tick_callback (GTK_WIDGET (self), self->tick_id);
      self->tick_id = 0;
    }
  g_clear_pointer (&self->main_child, gtk_widget_unparent);
  g_clear_pointer (&self->side_child, gtk_widget_unparent);

  G_OBJECT_CLASS (drape_panes_parent_class)->dispose (object);
}

static void
drape_panes_get_property (GObject    *object,
                          guint       prop_id,
                          GValue     *value,
                          GParamSpec *pspec)
{
  DrapePanes *self = DRAPE_PANES (object);

  switch (prop_id)
    {
    case PROP_MAIN_CHILD:
      g_value_set_object (value, self->main_child);
      break;
    case PROP_SIDE_CHILD:
      g_value_set_object (value, self->side_child);
      break;
    case PROP_NARROW:
      g_value_set_boolean (value, self->narrow);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
drape_panes_set_property (GObject      *object,
                          guint         prop_id,
                          const GValue *value,
                          GParamSpec   *pspec)
{
  DrapePanes *self = DRAPE_PANES (object);

  switch (prop_id)
    {
    case PROP_MAIN_CHILD:
      drape_panes_set_main_child (self, g_value_get_object (value));
      break;
    case PROP_SIDE_CHILD:
      drape_panes_set_side_child (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
drape_panes_class_init (DrapePanesClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = drape_panes_dispose;
  object_class->get_property = drape_panes_get_property;
  object_class->set_property = drape_panes_set_property;

  widget_class->measure = drape_panes_measure;
  widget_class->size_allocate = drape_panes_size_allocate;
  widget_class->get_request_mode = drape_panes_get_request_mode;

  properties[PROP_MAIN_CHILD] =
    g_param_spec_object ("main-child", NULL, NULL, GTK_TYPE_WIDGET,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SIDE_CHILD] =
    g_param_spec_object ("side-child", NULL, NULL, GTK_TYPE_WIDGET,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_NARROW] =
    g_param_spec_boolean ("narrow", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_css_name (widget_class, "drape-panes");
}

static void
drape_panes_init (DrapePanes *self)
{
  gtk_widget_add_css_class (GTK_WIDGET (self), "wide");
}

/* <child type="main"> and <child type="side"> in .ui files */
static void
drape_panes_add_child (GtkBuildable *buildable,
                       GtkBuilder   *builder,
                       GObject      *child,
                       const char   *type)
{
  DrapePanes *self = DRAPE_PANES (buildable);

  if (g_strcmp0 (type, "main") == 0)
    drape_panes_set_main_child (self, GTK_WIDGET (child));
  else if (g_strcmp0 (type, "side") == 0)
    drape_panes_set_side_child (self, GTK_WIDGET (child));
  else
    parent_buildable_iface->add_child (buildable, builder, child, type);
}

static void
drape_panes_buildable_init (GtkBuildableIface *iface)
{
  parent_buildable_iface = g_type_interface_peek_parent (iface);
  iface->add_child = drape_panes_add_child;
}

GtkWidget *
drape_panes_new (void)
{
  return g_object_new (DRAPE_TYPE_PANES, NULL);
}

GtkWidget *
drape_panes_get_main_child (DrapePanes *self)
{
  g_return_val_if_fail (DRAPE_IS_PANES (self), NULL);
  return self->main_child;
}

void
drape_panes_set_main_child (DrapePanes *self,
                            GtkWidget  *child)
{
  g_return_if_fail (DRAPE_IS_PANES (self));
  g_return_if_fail (child == NULL || GTK_IS_WIDGET (child));

  set_child (self, &self->main_child, child, "main-pane", properties[PROP_MAIN_CHILD]);
}

GtkWidget *
drape_panes_get_side_child (DrapePanes *self)
{
  g_return_val_if_fail (DRAPE_IS_PANES (self), NULL);
  return self->side_child;
}

void
drape_panes_set_side_child (DrapePanes *self,
                            GtkWidget  *child)
{
  g_return_if_fail (DRAPE_IS_PANES (self));
  g_return_if_fail (child == NULL || GTK_IS_WIDGET (child));

  set_child (self, &self->side_child, child, "side-pane", properties[PROP_SIDE_CHILD]);
}

gboolean
drape_panes_get_narrow (DrapePanes *self)
{
  g_return_val_if_fail (DRAPE_IS_PANES (self), FALSE);
  return self->narrow;
}
