/* drape-mask.c: the region to dress, painted by hand, with undo
 *
 * The pixels are one contiguous 8-bit plane (what the engine and the
 * session file want).  Undo works in tiles: the first time an edit touches
 * a tile, the tile's old pixels are copied aside; when the edit ends those
 * copies are compressed (masks are long runs of 0 and 255) and become one
 * undo step.  Undoing swaps a step's tiles with the current ones, which
 * turns it into the redo step, so history costs only what edits touched.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include <glib/gi18n.h>

#include "drape-app-error.h"
#include "drape-mask.h"

#define DEFAULT_HISTORY_LIMIT (64u << 20)

typedef struct {
  guint tile;
  /* Compressed pixels, or NULL when every pixel of the tile is `uniform`. */
  guint8 *data;
  gsize len;
  guint8 uniform;
} TileSnapshot;

typedef struct {
  GArray *tiles; /* TileSnapshot */
  gsize size;
} Step;

struct _DrapeMask
{
  GObject parent_instance;

  guint width;
  guint height;
  guint tiles_x;
  guint tiles_y;
  guint8 *pixels;
  /* Pixels >= 128 in each tile, so "is it empty" costs nothing. */
  guint *tile_counts;
  guint64 count;

  GQueue undo; /* Step *, newest first */
  GQueue redo;
  gsize history_size;
  gsize history_limit;

  /* The edit in progress: raw copies of the tiles it touched. */
  guint8 *touched;
  GArray *pending; /* TileSnapshot, data raw */
  gboolean in_stroke;
  DrapeBrushMode mode;
  double radius;
  double hardness;
  gboolean has_last;
  double last_x;
  double last_y;
  double last_radius;
};

enum {
  PROP_0,
  PROP_WIDTH,
  PROP_HEIGHT,
  PROP_CAN_UNDO,
  PROP_CAN_REDO,
  PROP_EMPTY,
  N_PROPS
};

enum {
  CHANGED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (DrapeMask, drape_mask, G_TYPE_OBJECT)

static void
tile_rect (DrapeMask *self,
           guint      tile,
           guint     *x,
           guint     *y,
           guint     *w,
           guint     *h)
{
  *x = (tile % self->tiles_x) * DRAPE_MASK_TILE_SIZE;
  *y = (tile / self->tiles_x) * DRAPE_MASK_TILE_SIZE;
  *w = MIN (DRAPE_MASK_TILE_SIZE, self->width - *x);
  *h = MIN (DRAPE_MASK_TILE_SIZE, self->height - *y);
}

static guint8 *
tile_gather (DrapeMask *self,
             guint      tile,
             gsize     *len)
{
  guint x, y, w, h;
  guint8 *out;

  tile_rect (self, tile, &x, &y, &w, &h);
  out = g_malloc ((gsize) w * h);
  for (guint row = 0; row < h; row++)
    memcpy (out + (gsize) row * w, self->pixels + (gsize) (y + row) * self->width + x, w);
  *len = (gsize) w * h;
  return out;
}

static void
tile_scatter (DrapeMask    *self,
              guint         tile,
              const guint8 *src)
{
  guint x, y, w, h;

  tile_rect (self, tile, &x, &y, &w, &h);
  for (guint row = 0; row < h; row++)
    memcpy (self->pixels + (gsize) (y + row) * self->width + x, src + (gsize) row * w, w);
}

static void
tile_recount (DrapeMask *self,
              guint      tile)
{
  guint x, y, w, h;
  guint n = 0;

  tile_rect (self, tile, &x, &y, &w, &h);
  for (guint row = 0; row < h; row++)
    {
      const guint8 *p = self->pixels + (gsize) (y + row) * self->width + x;
      for (guint col = 0; col < w; col++)
        n += p[col] >= 128;
    }
  self->count = self->count - self->tile_counts[tile] + n;
  self->tile_counts[tile] = n;
}

/* A byte-oriented run-length code: control c < 128 is followed by c + 1
 * literal bytes, c >= 128 by one byte repeated c - 126 times. */
static guint8 *
rle_encode (const guint8 *src,
            gsize         n,
            gsize        *out_len)
{
  /* Runs shorter than 3 go into literals, so no input grows by more than
   * one control byte per 128. */
  guint8 *out = g_malloc (n + n / 128 + 2);
  gsize i = 0, o = 0;

  while (i < n)
    {
      gsize run = 1;

      while (i + run < n && run < 129 && src[i + run] == src[i])
        run++;
      if (run >= 3)
        {
          out[o++] = (guint8) (run + 126);
          out[o++] = src[i];
          i += run;
        }
      else
        {
          gsize start = i, len = 0;

          while (i < n && len < 128 &&
                 !(i + 2 < n && src[i] == src[i + 1] && src[i] == src[i + 2]))
            {
              i++;
              len++;
            }
          out[o++] = (guint8) (len - 1);
          memcpy (out + o, src + start, len);
          o += len;
        }
    }
  *out_len = o;
  return g_realloc (out, MAX (o, 1));
}

static void
rle_decode (const guint8 *src,
            gsize         len,
            guint8       *dst,
            gsize         n)
{
  gsize i = 0, o = 0;

  while (i < len && o < n)
    {
      guint8 c = src[i++];

      if (c < 128)
        {
          gsize count = MIN ((gsize) c + 1, MIN (n - o, len - i));
          memcpy (dst + o, src + i, count);
          i += count;
          o += count;
        }
      else if (i < len)
        {
          gsize count = MIN ((gsize) c - 126, n - o);
          memset (dst + o, src[i++], count);
          o += count;
        }
    }
  g_assert (o == n);
}

static TileSnapshot
snapshot_compress (guint         tile,
                   const guint8 *raw,
                   gsize         n)
{
  TileSnapshot snap = { .tile = tile, .uniform = raw[0] };
  gboolean uniform = TRUE;

  for (gsize i = 1; i < n && uniform; i++)
    uniform = raw[i] == raw[0];
  if (!uniform)
    snap.data = rle_encode (raw, n, &snap.len);
  return snap;
}

static gsize
snapshot_size (const TileSnapshot *snap)
{
  return sizeof *snap + snap->len;
}

static void
snapshot_clear (gpointer data)
{
  TileSnapshot *snap = data;

  g_clear_pointer (&snap->data, g_free);
}

static Step *
step_new (void)
{
  Step *step = g_new0 (Step, 1);

  step->tiles = g_array_new (FALSE, FALSE, sizeof (TileSnapshot));
  g_array_set_clear_func (step->tiles, snapshot_clear);
  step->size = sizeof *step;
  return step;
}

static void
step_free (gpointer data)
{
  Step *step = data;

  g_array_unref (step->tiles);
  g_free (step);
}

static void
step_add (Step         *step,
          TileSnapshot  snap)
{
  step->size += snapshot_size (&snap);
  g_array_append_val (step->tiles, snap);
}

static void
clear_queue (DrapeMask *self,
             GQueue    *queue)
{
  Step *step;

  while ((step = g_queue_pop_head (queue)) != NULL)
    {
      self->history_size -= step->size;
      step_free (step);
    }
}

static void
emit_changed (DrapeMask *self,
              guint      x0,
              guint      y0,
              guint      x1,
              guint      y1)
{
  if (x1 > x0 && y1 > y0)
    g_signal_emit (self, signals[CHANGED], 0, x0, y0, x1 - x0, y1 - y0);
}

static void
notify_state (DrapeMask *self,
              gboolean   could_undo,
              gboolean   could_redo,
              gboolean   was_empty)
{
  if (could_undo != drape_mask_get_can_undo (self))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CAN_UNDO]);
  if (could_redo != drape_mask_get_can_redo (self))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CAN_REDO]);
  if (was_empty != drape_mask_get_empty (self))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_EMPTY]);
}

static void
enforce_limit (DrapeMask *self)
{
  /* Keep at least the newest step, however large: undoing the last edit
   * must always work. */
  while (self->history_size > self->history_limit && self->undo.length > 1)
    {
      Step *oldest = g_queue_pop_tail (&self->undo);

      self->history_size -= oldest->size;
      step_free (oldest);
    }
}

/* Saves the tiles that [x0, x1) x [y0, y1) overlaps, once per edit. */
static void
touch_rect (DrapeMask *self,
            guint      x0,
            guint      y0,
            guint      x1,
            guint      y1)
{
  if (x1 <= x0 || y1 <= y0)
    return;
  for (guint ty = y0 / DRAPE_MASK_TILE_SIZE; ty <= (y1 - 1) / DRAPE_MASK_TILE_SIZE; ty++)
    for (guint tx = x0 / DRAPE_MASK_TILE_SIZE; tx <= (x1 - 1) / DRAPE_MASK_TILE_SIZE; tx++)
      {
        guint tile = ty * self->tiles_x + tx;
        TileSnapshot raw = { .tile = tile };

        if (self->touched[tile])
          continue;
        self->touched[tile] = TRUE;
        raw.data = tile_gather (self, tile, &raw.len);
        g_array_append_val (self->pending, raw);
      }
}

/* Ends an edit: tiles it did not change are dropped, the rest become one
 * undo step. */
static void
commit_pending (DrapeMask *self)
{
  gboolean could_undo = drape_mask_get_can_undo (self);
  gboolean could_redo = drape_mask_get_can_redo (self);
  gboolean was_empty = drape_mask_get_empty (self);
  g_autoptr(GArray) pending = g_steal_pointer (&self->pending);
  Step *step = step_new ();

  self->pending = g_array_new (FALSE, FALSE, sizeof (TileSnapshot));
  g_array_set_clear_func (self->pending, snapshot_clear);

  for (guint i = 0; i < pending->len; i++)
    {
      TileSnapshot *raw = &g_array_index (pending, TileSnapshot, i);
      gsize len;
      g_autofree guint8 *now = tile_gather (self, raw->tile, &len);

      self->touched[raw->tile] = FALSE;
      if (memcmp (now, raw->data, len) == 0)
        continue;
      step_add (step, snapshot_compress (raw->tile, raw->data, raw->len));
      tile_recount (self, raw->tile);
    }

  if (step->tiles->len == 0)
    {
      step_free (step);
      return;
    }
  clear_queue (self, &self->redo);
  g_queue_push_head (&self->undo, step);
  self->history_size += step->size;
  enforce_limit (self);
  notify_state (self, could_undo, could_redo, was_empty);
}

static void
drape_mask_finalize (GObject *object)
{
  DrapeMask *self = DRAPE_MASK (object);

  clear_queue (self, &self->undo);
  clear_queue (self, &self->redo);
  g_clear_pointer (&self->pending, g_array_unref);
  g_clear_pointer (&self->touched, g_free);
  g_clear_pointer (&self->tile_counts, g_free);
  g_clear_pointer (&self->pixels, g_free);

  G_OBJECT_CLASS (drape_mask_parent_class)->finalize (object);
}

static void
drape_mask_constructed (GObject *object)
{
  DrapeMask *self = DRAPE_MASK (object);
  guint n_tiles;

  G_OBJECT_CLASS (drape_mask_parent_class)->constructed (object);

  self->tiles_x = (self->width + DRAPE_MASK_TILE_SIZE - 1) / DRAPE_MASK_TILE_SIZE;
  self->tiles_y = (self->height + DRAPE_MASK_TILE_SIZE - 1) / DRAPE_MASK_TILE_SIZE;
  n_tiles = self->tiles_x * self->tiles_y;
  self->pixels = g_malloc0 ((gsize) self->width * self->height);
  self->tile_counts = g_new0 (guint, n_tiles);
  self->touched = g_new0 (guint8, n_tiles);
}

static void
drape_mask_get_property (GObject    *object,
                         guint       prop_id,
                         GValue     *value,
                         GParamSpec *pspec)
{
  DrapeMask *self = DRAPE_MASK (object);

  switch (prop_id)
    {
    case PROP_WIDTH:
      g_value_set_uint (value, self->width);
      break;
    case PROP_HEIGHT:
      g_value_set_uint (value, self->height);
      break;
    case PROP_CAN_UNDO:
      g_value_set_boolean (value, drape_mask_get_can_undo (self));
      break;
    case PROP_CAN_REDO:
      g_value_set_boolean (value, drape_mask_get_can_redo (self));
      break;
    case PROP_EMPTY:
      g_value_set_boolean (value, drape_mask_get_empty (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
drape_mask_set_property (GObject      *object,
                         guint         prop_id,
                         const GValue *value,
                         GParamSpec   *pspec)
{
  DrapeMask *self = DRAPE_MASK (object);

  switch (prop_id)
    {
    case PROP_WIDTH:
      self->width = g_value_get_uint (value);
      break;
    case PROP_HEIGHT:
      self->height = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
drape_mask_class_init (DrapeMaskClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = drape_mask_finalize;
  object_class->constructed = drape_mask_constructed;
  object_class->get_property = drape_mask_get_property;
  object_class->set_property = drape_mask_set_property;

  properties[PROP_WIDTH] =
    g_param_spec_uint ("width", NULL, NULL, 1, G_MAXINT, 1,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_HEIGHT] =
    g_param_spec_uint ("height", NULL, NULL, 1, G_MAXINT, 1,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CAN_UNDO] =
    g_param_spec_boolean ("can-undo", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CAN_REDO] =
    g_param_spec_boolean ("can-redo", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_EMPTY] =
    g_param_spec_boolean ("empty", NULL, NULL, TRUE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /* Pixels in the rectangle x, y, width, height may have changed. */
  signals[CHANGED] =
    g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 4,
                  G_TYPE_UINT, G_TYPE_UINT, G_TYPE_UINT, G_TYPE_UINT);
}

static void
drape_mask_init (DrapeMask *self)
{
  g_queue_init (&self->undo);
  g_queue_init (&self->redo);
  self->history_limit = DEFAULT_HISTORY_LIMIT;
  self->pending = g_array_new (FALSE, FALSE, sizeof (TileSnapshot));
  g_array_set_clear_func (self->pending, snapshot_clear);
}

DrapeMask *
drape_mask_new (guint width,
                guint height)
{
  g_return_val_if_fail (width > 0 && height > 0, NULL);

  return g_object_new (DRAPE_TYPE_MASK, "width", width, "height", height, NULL);
}

static gboolean
check_size (DrapeMask  *self,
            GBytes     *pixels,
            GError    **error)
{
  if (g_bytes_get_size (pixels) != (gsize) self->width * self->height)
    {
      g_set_error (error, DRAPE_APP_ERROR, DRAPE_APP_ERROR_INVALID,
                   _("The mask has %zu pixels but the photo has %u × %u"),
                   g_bytes_get_size (pixels), self->width, self->height);
      return FALSE;
    }
  return TRUE;
}

DrapeMask *
drape_mask_new_from_bytes (guint    width,
                           guint    height,
                           GBytes  *pixels,
                           GError **error)
{
  g_autoptr(DrapeMask) self = drape_mask_new (width, height);

  if (!check_size (self, pixels, error))
    return NULL;
  memcpy (self->pixels, g_bytes_get_data (pixels, NULL), g_bytes_get_size (pixels));
  for (guint tile = 0; tile < self->tiles_x * self->tiles_y; tile++)
    tile_recount (self, tile);
  return g_steal_pointer (&self);
}

guint
drape_mask_get_width (DrapeMask *self)
{
  g_return_val_if_fail (DRAPE_IS_MASK (self), 0);
  return self->width;
}

guint
drape_mask_get_height (DrapeMask *self)
{
  g_return_val_if_fail (DRAPE_IS_MASK (self), 0);
  return self->height;
}

const guint8 *
drape_mask_get_data (DrapeMask *self)
{
  g_return_val_if_fail (DRAPE_IS_MASK (self), NULL);
  return self->pixels;
}

GBytes *
drape_mask_to_bytes (DrapeMask *self)
{
  g_return_val_if_fail (DRAPE_IS_MASK (self), NULL);
  return g_bytes_new (self->pixels, (gsize) self->width * self->height);
}

gboolean
drape_mask_get_empty (DrapeMask *self)
{
  g_return_val_if_fail (DRAPE_IS_MASK (self), TRUE);
  return self->count == 0;
}

gboolean
drape_mask_equal_bytes (DrapeMask *self,
                        GBytes    *pixels)
{
  g_return_val_if_fail (DRAPE_IS_MASK (self), FALSE);
  return g_bytes_get_size (pixels) == (gsize) self->width * self->height &&
         memcmp (g_bytes_get_data (pixels, NULL), self->pixels, g_bytes_get_size (pixels)) == 0;
}

void
drape_mask_begin_stroke (DrapeMask      *self,
                         DrapeBrushMode  mode,
                         double          radius,
                         double          hardness)
{
  g_return_if_fail (DRAPE_IS_MASK (self));

  if (self->in_stroke)
    drape_mask_end_stroke (self);
  self->in_stroke = TRUE;
  self->mode = mode;
  self->radius = MAX (radius, 0.5);
  self->hardness = CLAMP (hardness, 0.0, 1.0);
  self->has_last = FALSE;
}

gboolean
drape_mask_in_stroke (DrapeMask *self)
{
  g_return_val_if_fail (DRAPE_IS_MASK (self), FALSE);
  return self->in_stroke;
}

/* Paints the capsule swept by a disc moving from a (radius ra) to b
 * (radius rb): each pixel once per segment, so a stroke has no dab marks
 * whatever the pointer's speed.  Painting takes the maximum of old and new
 * coverage (erasing the minimum), so overlapping segments do not build up. */
static void
paint_segment (DrapeMask *self,
               double     ax,
               double     ay,
               double     ra,
               double     bx,
               double     by,
               double     rb)
{
  double reach = MAX (ra, rb) + 1.0;
  double x0f = MAX (floor (MIN (ax, bx) - reach), 0.0);
  double y0f = MAX (floor (MIN (ay, by) - reach), 0.0);
  double x1f = MIN (ceil (MAX (ax, bx) + reach), (double) self->width);
  double y1f = MIN (ceil (MAX (ay, by) + reach), (double) self->height);
  double dx = bx - ax, dy = by - ay;
  double len2 = dx * dx + dy * dy;
  guint x0, y0, x1, y1;

  if (x1f <= x0f || y1f <= y0f)
    return;
  x0 = (guint) x0f;
  y0 = (guint) y0f;
  x1 = (guint) x1f;
  y1 = (guint) y1f;

  touch_rect (self, x0, y0, x1, y1);

  for (guint y = y0; y < y1; y++)
    {
      guint8 *row = self->pixels + (gsize) y * self->width;
      double py = y + 0.5 - ay;

      for (guint x = x0; x < x1; x++)
        {
          double px = x + 0.5 - ax;
          double t = len2 > 0 ? CLAMP ((px * dx + py * dy) / len2, 0.0, 1.0) : 0.0;
          double ex = px - t * dx, ey = py - t * dy;
          double d = sqrt (ex * ex + ey * ey);
          double r = ra + t * (rb - ra);
          /* A hard brush still gets one pixel of antialiasing. */
          double edge = MAX (r * (1.0 - self->hardness), 1.0);
          double inner = r - edge;
          double a;
          guint8 v;

          if (d >= r)
            continue;
          if (d <= inner)
            a = 1.0;
          else
            {
              double s = (r - d) / edge;
              a = s * s * (3.0 - 2.0 * s);
            }
          v = (guint8) lround (a * 255.0);
          if (self->mode == DRAPE_BRUSH_MODE_PAINT)
            row[x] = MAX (row[x], v);
          else
            row[x] = MIN (row[x], 255 - v);
        }
    }
  emit_changed (self, x0, y0, x1, y1);
}

void
drape_mask_stroke_to (DrapeMask *self,
                      double     x,
                      double     y,
                      double     pressure)
{
  double r;

  g_return_if_fail (DRAPE_IS_MASK (self));
  g_return_if_fail (self->in_stroke);

  r = self->radius * CLAMP (pressure, 0.05, 1.0);
  if (self->has_last)
    paint_segment (self, self->last_x, self->last_y, self->last_radius, x, y, r);
  else
    paint_segment (self, x, y, r, x, y, r);
  self->has_last = TRUE;
  self->last_x = x;
  self->last_y = y;
  self->last_radius = r;
}

void
drape_mask_end_stroke (DrapeMask *self)
{
  g_return_if_fail (DRAPE_IS_MASK (self));

  if (!self->in_stroke)
    return;
  self->in_stroke = FALSE;
  commit_pending (self);
}

static void
whole_edit (DrapeMask *self,
            void     (*apply) (DrapeMask *self, gconstpointer data),
            gconstpointer data)
{
  if (self->in_stroke)
    drape_mask_end_stroke (self);
  touch_rect (self, 0, 0, self->width, self->height);
  apply (self, data);
  commit_pending (self);
  emit_changed (self, 0, 0, self->width, self->height);
}

static void
apply_fill (DrapeMask     *self,
            gconstpointer  data)
{
  memset (self->pixels, *(const guint8 *) data, (gsize) self->width * self->height);
}

static void
apply_invert (DrapeMask     *self,
              gconstpointer  data)
{
  gsize n = (gsize) self->width * self->height;

  for (gsize i = 0; i < n; i++)
    self->pixels[i] = 255 - self->pixels[i];
}

static void
apply_replace (DrapeMask     *self,
               gconstpointer  data)
{
  memcpy (self->pixels, data, (gsize) self->width * self->height);
}

void
drape_mask_fill (DrapeMask *self,
                 guint8     value)
{
  g_return_if_fail (DRAPE_IS_MASK (self));
  whole_edit (self, apply_fill, &value);
}

void
drape_mask_invert (DrapeMask *self)
{
  g_return_if_fail (DRAPE_IS_MASK (self));
  whole_edit (self, apply_invert, NULL);
}

gboolean
drape_mask_replace (DrapeMask  *self,
                    GBytes     *pixels,
                    GError    **error)
{
  g_return_val_if_fail (DRAPE_IS_MASK (self), FALSE);

  if (!check_size (self, pixels, error))
    return FALSE;
  whole_edit (self, apply_replace, g_bytes_get_data (pixels, NULL));
  return TRUE;
}

gboolean
drape_mask_get_can_undo (DrapeMask *self)
{
  g_return_val_if_fail (DRAPE_IS_MASK (self), FALSE);
  return self->undo.length > 0;
}

gboolean
drape_mask_get_can_redo (DrapeMask *self)
{
  g_return_val_if_fail (DRAPE_IS_MASK (self), FALSE);
  return self->redo.length > 0;
}

/* Swaps a step's tiles with the mask's, pushing the inverse step. */
static gboolean
swap_step (DrapeMask *self,
           GQueue    *from,
           GQueue    *to)
{
  gboolean could_undo = drape_mask_get_can_undo (self);
  gboolean could_redo = drape_mask_get_can_redo (self);
  gboolean was_empty = drape_mask_get_empty (self);
  Step *step, *inverse;
  guint x0 = G_MAXUINT, y0 = G_MAXUINT, x1 = 0, y1 = 0;

  if (self->in_stroke)
    drape_mask_end_stroke (self);
  step = g_queue_pop_head (from);
  if (step == NULL)
    return FALSE;
  self->history_size -= step->size;

  inverse = step_new ();
  for (guint i = 0; i < step->tiles->len; i++)
    {
      const TileSnapshot *snap = &g_array_index (step->tiles, TileSnapshot, i);
      gsize len;
      g_autofree guint8 *now = tile_gather (self, snap->tile, &len);
      g_autofree guint8 *old = g_malloc (len);
      guint x, y, w, h;

      step_add (inverse, snapshot_compress (snap->tile, now, len));
      if (snap->data != NULL)
        rle_decode (snap->data, snap->len, old, len);
      else
        memset (old, snap->uniform, len);
      tile_scatter (self, snap->tile, old);
      tile_recount (self, snap->tile);

      tile_rect (self, snap->tile, &x, &y, &w, &h);
      x0 = MIN (x0, x);
      y0 = MIN (y0, y);
      x1 = MAX (x1, x + w);
      y1 = MAX (y1, y + h);
    }
  step_free (step);
  g_queue_push_head (to, inverse);
  self->history_size += inverse->size;

  emit_changed (self, x0, y0, x1, y1);
  notify_state (self, could_undo, could_redo, was_empty);
  return TRUE;
}

gboolean
drape_mask_undo (DrapeMask *self)
{
  g_return_val_if_fail (DRAPE_IS_MASK (self), FALSE);
  return swap_step (self, &self->undo, &self->redo);
}

gboolean
drape_mask_redo (DrapeMask *self)
{
  g_return_val_if_fail (DRAPE_IS_MASK (self), FALSE);
  return swap_step (self, &self->redo, &self->undo);
}

gsize
drape_mask_get_history_size (DrapeMask *self)
{
  g_return_val_if_fail (DRAPE_IS_MASK (self), 0);
  return self->history_size;
}

void
drape_mask_set_history_limit (DrapeMask *self,
                              gsize      limit)
{
  gboolean could_undo;

  g_return_if_fail (DRAPE_IS_MASK (self));

  could_undo = drape_mask_get_can_undo (self);
  self->history_limit = limit;
  enforce_limit (self);
  notify_state (self, could_undo, drape_mask_get_can_redo (self), drape_mask_get_empty (self));
}
