/* mask.c: the region to repaint, built from a human-parsing label map
 *
 * The rules are those try-on projects apply to these labels (OOTDiffusion,
 * IDM-VTON, CatVTON): the old garment's labels are repainted, what makes
 * the person who they are (face, hair, hat, sunglasses, shoes, bag, hands)
 * never is, and the garment type says what else to keep.  All of it is in
 * the table mask_rules below.  The steps:
 *
 *  1. the type's repaint labels, less the hands;
 *  2. islands smaller than 1% of the largest part dropped (parser noise,
 *     removed before dilation would grow it);
 *  3. dilated by a disc of radius 5 px per 1000 px of the photo's longer
 *     side (at least 1), so the new garment may be a little larger than the
 *     old one and the parser's ragged edges are covered;
 *  4. holes filled: background the region encloses (a logo the parser
 *     took for background, a gap the dilation closed) joins it;
 *  5. protected pixels cleared again: whatever dilation or hole filling
 *     took from a protected label is given back.
 *
 * Hands.  The parser has no hand label: a hand is part of its arm's label.
 * It is defined geometrically as the far end of each arm region: for every
 * 8-connected region of the left-arm or right-arm label, the root is its
 * pixel nearest the neck (the bottom centre of the face; without a face the
 * top centre of the upper clothes or dress, else of the whole person), the
 * geodesic distance from the root is measured inside the region (chamfer
 * 5-7, so bent arms are followed round the elbow), and the hand is every
 * pixel within one hand length of the farthest distance.  A hand is about
 * as long as a face is high (chin to hairline), so the hand length is the
 * face's height, or an eighth of the person's height without a face.  A
 * long sleeve leaves only the hand as arm label: the whole region is then
 * within a hand length of its far end and is kept.  The rule errs where an
 * arm region ends at something other than a hand (a forearm hidden behind
 * the body): that end is kept too, and the user can paint it in.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "error.h"
#include "parser.h"

#define LABEL(name) (1u << DRAPE_LABEL_##name)
#define ARMS (LABEL (LEFT_ARM) | LABEL (RIGHT_ARM))
#define LEGS (LABEL (LEFT_LEG) | LABEL (RIGHT_LEG))

/* Kept whatever the garment; hands are added to these (see above). */
#define ALWAYS_PROTECTED (LABEL (FACE) | LABEL (HAIR) | LABEL (HAT) | LABEL (SUNGLASSES) | \
                          LABEL (LEFT_SHOE) | LABEL (RIGHT_SHOE) | LABEL (BAG))

typedef struct {
  const char *name;
  /* Labels the new garment replaces.  Arms go with upper garments since
   * sleeves may change length; legs with lower ones for the same reason. */
  guint32 repaint;
  /* Labels kept for this type besides ALWAYS_PROTECTED and the hands. */
  guint32 protect;
} MaskRule;

static const MaskRule mask_rules[] = {
  [DRAPE_GARMENT_UPPER] = {
    "upper",
    LABEL (UPPER_CLOTHES) | LABEL (DRESS) | ARMS,
    LABEL (PANTS) | LABEL (SKIRT) | LEGS,
  },
  [DRAPE_GARMENT_LOWER] = {
    "lower",
    LABEL (PANTS) | LABEL (SKIRT) | LEGS,
    LABEL (UPPER_CLOTHES) | ARMS,
  },
  [DRAPE_GARMENT_OVERALL] = {
    "overall",
    LABEL (UPPER_CLOTHES) | LABEL (DRESS) | LABEL (PANTS) | LABEL (SKIRT) | ARMS | LEGS,
    0,
  },
};

/* Components smaller than this fraction of the largest are noise. */
#define ISLAND_FRACTION 0.01
/* Dilation radius per pixel of the longer side. */
#define DILATION_PER_PIXEL (5.0 / 1000.0)
/* Chamfer distance steps (in fifths of a pixel): 7/5 is close to sqrt 2. */
#define STEP_AXIAL 5
#define STEP_DIAGONAL 7

static const char *const label_names[DRAPE_N_LABELS] = {
  "Background", "Hat", "Hair", "Sunglasses", "Upper-clothes", "Skirt", "Pants",
  "Dress", "Belt", "Left-shoe", "Right-shoe", "Face", "Left-leg", "Right-leg",
  "Left-arm", "Right-arm", "Bag", "Scarf",
};

/* The colours of `drape-cli mask --parse-out` (legend in README.md). */
static const guint8 label_colors[DRAPE_N_LABELS][3] = {
  { 0, 0, 0 },       /* background */
  { 128, 0, 0 },     /* hat */
  { 255, 0, 0 },     /* hair */
  { 0, 85, 0 },      /* sunglasses */
  { 255, 85, 0 },    /* upper-clothes */
  { 0, 0, 85 },      /* skirt */
  { 0, 119, 221 },   /* pants */
  { 85, 51, 0 },     /* dress */
  { 52, 86, 128 },   /* belt */
  { 0, 128, 0 },     /* left-shoe */
  { 0, 0, 255 },     /* right-shoe */
  { 51, 170, 221 },  /* face */
  { 0, 255, 255 },   /* left-leg */
  { 85, 255, 170 },  /* right-leg */
  { 170, 255, 85 },  /* left-arm */
  { 255, 255, 0 },   /* right-arm */
  { 255, 170, 0 },   /* bag */
  { 170, 0, 255 },   /* scarf */
};

const char *
drape_garment_type_to_string (DrapeGarmentType type)
{
  g_return_val_if_fail (type <= DRAPE_GARMENT_OVERALL, NULL);
  return mask_rules[type].name;
}

gboolean
drape_garment_type_from_string (const char       *name,
                                DrapeGarmentType *type)
{
  for (guint i = 0; i < G_N_ELEMENTS (mask_rules); i++)
    if (g_strcmp0 (name, mask_rules[i].name) == 0)
      {
        *type = i;
        return TRUE;
      }
  return FALSE;
}

const char *
drape_label_name (DrapeLabel label)
{
  g_return_val_if_fail (label < DRAPE_N_LABELS, NULL);
  return label_names[label];
}

DrapeImage *
drape_label_map_to_rgb (const DrapeImage *labels)
{
  DrapeImage *rgb;

  g_return_val_if_fail (labels != NULL && labels->channels == 1, NULL);
  rgb = drape_image_new (labels->width, labels->height, 3);
  for (guint32 y = 0; y < labels->height; y++)
    for (guint32 x = 0; x < labels->width; x++)
      {
        guint8 l = labels->pixels[(gsize) y * labels->stride + x];
        const guint8 *c = label_colors[l < DRAPE_N_LABELS ? l : 0];
        memcpy (rgb->pixels + (gsize) y * rgb->stride + (gsize) x * 3, c, 3);
      }
  return rgb;
}

typedef struct {
  guint32 x0, y0, x1, y1; /* inclusive */
  gboolean found;
} Box;

typedef struct {
  guint32 width, height;
  gsize n;
  guint8 *labels;  /* packed, one byte per pixel */
  GArray *stack;   /* gsize pixel indices */
} Map;

static void
box_add (Box     *box,
         guint32  x,
         guint32  y)
{
  if (!box->found)
    {
      *box = (Box) { x, y, x, y, TRUE };
      return;
    }
  box->x0 = MIN (box->x0, x);
  box->y0 = MIN (box->y0, y);
  box->x1 = MAX (box->x1, x);
  box->y1 = MAX (box->y1, y);
}

static Box
extent (const Map *map,
        guint32    set)
{
  Box box = { 0 };

  for (gsize i = 0; i < map->n; i++)
    if (set & (1u << map->labels[i]))
      box_add (&box, i % map->width, i / map->width);
  return box;
}

/* Floods the component of `seed` (whose value is `from`) to `to`, 8- or
 * 4-connected; appends its pixels to `members` if not NULL.  Returns its
 * area. */
static gsize
flood (const Map *map,
       guint8    *values,
       gsize      seed,
       guint8     from,
       guint8     to,
       gboolean   diagonal,
       GArray    *members)
{
  GArray *stack = map->stack;
  gsize area = 0;

  g_array_set_size (stack, 0);
  values[seed] = to;
  g_array_append_val (stack, seed);
  while (stack->len > 0)
    {
      gsize p = g_array_index (stack, gsize, stack->len - 1);
      guint32 x = p % map->width, y = p / map->width;

      g_array_set_size (stack, stack->len - 1);
      area++;
      if (members != NULL)
        g_array_append_val (members, p);
      for (int dy = -1; dy <= 1; dy++)
        for (int dx = -1; dx <= 1; dx++)
          {
            gsize q;
            if ((dx == 0 && dy == 0) || (!diagonal && dx != 0 && dy != 0) ||
                (dx < 0 && x == 0) || (dy < 0 && y == 0) ||
                (dx > 0 && x + 1 == map->width) || (dy > 0 && y + 1 == map->height))
              continue;
            q = (gsize) (y + dy) * map->width + (x + dx);
            if (values[q] == from)
              {
                values[q] = to;
                g_array_append_val (stack, q);
              }
          }
    }
  return area;
}

/* Geodesic chamfer distances inside one arm region from its root, with a
 * bucket queue (steps are 5 and 7, so 8 buckets suffice); marks the pixels
 * within `hand_len` (in chamfer units) of the farthest as hand. */
static void
mark_hand (const Map    *map,
           const guint8 *arm,
           const GArray *members,
           gsize         root,
           guint32       hand_len,
           guint8       *hands)
{
  Box box = { 0 };
  guint32 bw, bh, dmax = 0;
  g_autofree guint32 *dist = NULL;
  GArray *buckets[STEP_DIAGONAL + 1];
  guint pending = 1;

  for (guint i = 0; i < members->len; i++)
    {
      gsize p = g_array_index (members, gsize, i);
      box_add (&box, p % map->width, p / map->width);
    }
  bw = box.x1 - box.x0 + 1;
  bh = box.y1 - box.y0 + 1;
  dist = g_new (guint32, (gsize) bw * bh);
  memset (dist, 0xff, (gsize) bw * bh * sizeof (guint32));
  for (guint i = 0; i < G_N_ELEMENTS (buckets); i++)
    buckets[i] = g_array_new (FALSE, FALSE, sizeof (gsize));

#define LOCAL(p) ((gsize) ((p) / map->width - box.y0) * bw + ((p) % map->width - box.x0))
  dist[LOCAL (root)] = 0;
  g_array_append_val (buckets[0], root);
  for (guint32 d = 0; pending > 0; d++)
    {
      GArray *bucket = buckets[d % G_N_ELEMENTS (buckets)];

      while (bucket->len > 0)
        {
          gsize p = g_array_index (bucket, gsize, bucket->len - 1);
          guint32 x = p % map->width, y = p / map->width;

          g_array_set_size (bucket, bucket->len - 1);
          pending--;
          if (dist[LOCAL (p)] != d)
            continue;
          dmax = d;
          for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++)
              {
                guint32 nd = d + (dx != 0 && dy != 0 ? STEP_DIAGONAL : STEP_AXIAL);
                gsize q;
                if ((dx == 0 && dy == 0) ||
                    (dx < 0 && x == 0) || (dy < 0 && y == 0) ||
                    (dx > 0 && x + 1 == map->width) || (dy > 0 && y + 1 == map->height))
                  continue;
                q = (gsize) (y + dy) * map->width + (x + dx);
                if (arm[q] == 0 || dist[LOCAL (q)] <= nd)
                  continue;
                dist[LOCAL (q)] = nd;
                g_array_append_val (buckets[nd % G_N_ELEMENTS (buckets)], q);
                pending++;
              }
        }
    }
  for (guint i = 0; i < members->len; i++)
    {
      gsize p = g_array_index (members, gsize, i);
      if (dist[LOCAL (p)] + hand_len >= dmax)
        hands[p] = 1;
    }
#undef LOCAL
  for (guint i = 0; i < G_N_ELEMENTS (buckets); i++)
    g_array_unref (buckets[i]);
}

static void
mark_hands (const Map *map,
            guint8    *hands)
{
  Box face = extent (map, LABEL (FACE));
  Box torso = extent (map, LABEL (UPPER_CLOTHES) | LABEL (DRESS));
  Box person = extent (map, ~LABEL (BACKGROUND));
  double neck_x, neck_y, hand_px;
  g_autofree guint8 *arm = g_new (guint8, map->n);
  g_autoptr(GArray) members = g_array_new (FALSE, FALSE, sizeof (gsize));

  if (face.found)
    {
      neck_x = (face.x0 + face.x1) / 2.0;
      neck_y = face.y1;
      hand_px = face.y1 - face.y0 + 1;
    }
  else
    {
      const Box *top = torso.found ? &torso : &person;
      neck_x = (top->x0 + top->x1) / 2.0;
      neck_y = top->y0;
      hand_px = (person.y1 - person.y0 + 1) / 8.0;
    }

  for (DrapeLabel label = DRAPE_LABEL_LEFT_ARM; label <= DRAPE_LABEL_RIGHT_ARM; label++)
    {
      for (gsize i = 0; i < map->n; i++)
        arm[i] = map->labels[i] == label;
      for (gsize i = 0; i < map->n; i++)
        {
          gsize root = i;
          double best = G_MAXDOUBLE;

          if (arm[i] != 1)
            continue;
          g_array_set_size (members, 0);
          flood (map, arm, i, 1, 2, TRUE, members);
          for (guint m = 0; m < members->len; m++)
            {
              gsize p = g_array_index (members, gsize, m);
              double dx = (double) (p % map->width) - neck_x;
              double dy = (double) (p / map->width) - neck_y;
              if (dx * dx + dy * dy < best)
                {
                  best = dx * dx + dy * dy;
                  root = p;
                }
            }
          mark_hand (map, arm, members, root, (guint32) lround (hand_px * STEP_AXIAL), hands);
        }
    }
}

static void
drop_islands (const Map *map,
              guint8    *region)
{
  g_autoptr(GArray) seeds = g_array_new (FALSE, FALSE, sizeof (gsize));
  g_autoptr(GArray) areas = g_array_new (FALSE, FALSE, sizeof (gsize));
  gsize largest = 0;

  for (gsize i = 0; i < map->n; i++)
    if (region[i] == 1)
      {
        gsize area = flood (map, region, i, 1, 2, TRUE, NULL);
        g_array_append_val (seeds, i);
        g_array_append_val (areas, area);
        largest = MAX (largest, area);
      }
  for (guint c = 0; c < seeds->len; c++)
    if (g_array_index (areas, gsize, c) < ISLAND_FRACTION * largest)
      flood (map, region, g_array_index (seeds, gsize, c), 2, 0, TRUE, NULL);
  for (gsize i = 0; i < map->n; i++)
    region[i] = region[i] != 0;
}

/* Adds every pixel within Euclidean distance r of the region: the squared
 * distance transform (distance along rows, then the lower envelope of
 * parabolas down each column), exact and linear in the pixel count. */
static void
dilate (const Map *map,
        guint8    *region,
        guint32    r)
{
  guint32 w = map->width, h = map->height;
  guint32 cap = MIN (r + 1, G_MAXUINT16);
  g_autofree guint16 *row = g_new (guint16, map->n);
  g_autofree double *f = g_new (double, h);
  g_autofree double *z = g_new (double, h + 1);
  g_autofree guint32 *v = g_new (guint32, h);
  double r2 = (double) r * r;

  for (guint32 y = 0; y < h; y++)
    {
      guint16 *g = row + (gsize) y * w;
      const guint8 *in = region + (gsize) y * w;
      guint32 d = cap;

      for (guint32 x = 0; x < w; x++)
        {
          d = in[x] ? 0 : MIN (d + 1, cap);
          g[x] = d;
        }
      d = cap;
      for (guint32 x = w; x-- > 0;)
        {
          d = in[x] ? 0 : MIN (d + 1, cap);
          g[x] = MIN (g[x], d);
        }
    }

  for (guint32 x = 0; x < w; x++)
    {
      int k = -1;

      for (guint32 q = 0; q < h; q++)
        {
          guint16 g = row[(gsize) q * w + x];
          double s;

          if (g >= cap)
            continue;
          f[q] = (double) g * g;
          if (k < 0)
            {
              k = 0;
              v[0] = q;
              z[0] = -G_MAXDOUBLE;
              z[1] = G_MAXDOUBLE;
              continue;
            }
          for (;;)
            {
              s = ((f[q] + (double) q * q) - (f[v[k]] + (double) v[k] * v[k])) / (2.0 * q - 2.0 * v[k]);
              if (s > z[k])
                break;
              k--;
            }
          k++;
          v[k] = q;
          z[k] = s;
          z[k + 1] = G_MAXDOUBLE;
        }
      if (k < 0)
        continue;
      k = 0;
      for (guint32 q = 0; q < h; q++)
        {
          double dq;
          while (z[k + 1] < q)
            k++;
          dq = ((double) q - v[k]) * ((double) q - v[k]) + f[v[k]];
          if (dq <= r2)
            region[(gsize) q * w + x] = 1;
        }
    }
}

/* Background 4-connected to the border stays; the rest joins the region. */
static void
fill_holes (const Map *map,
            guint8    *region)
{
  guint32 w = map->width, h = map->height;

  for (guint32 y = 0; y < h; y++)
    for (guint32 x = 0; x < w; x++)
      {
        gsize i = (gsize) y * w + x;
        if ((y == 0 || x == 0 || y + 1 == h || x + 1 == w) && region[i] == 0)
          flood (map, region, i, 0, 2, FALSE, NULL);
        if (y > 0 && y + 1 < h && x == 0 && w > 2)
          x = w - 2;
      }
  for (gsize i = 0; i < map->n; i++)
    region[i] = region[i] != 2;
}

DrapeImage *
drape_mask_build (const DrapeImage  *labels,
                  DrapeGarmentType   type,
                  GError           **error)
{
  const MaskRule *rule;
  g_autoptr(GArray) stack = NULL;
  g_autofree guint8 *packed = NULL;
  g_autofree guint8 *hands = NULL;
  g_autofree guint8 *region = NULL;
  guint32 protect, radius;
  gboolean person = FALSE;
  DrapeImage *mask;
  Map map;

  g_return_val_if_fail (labels != NULL, NULL);
  if (type > DRAPE_GARMENT_OVERALL)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                   "Unknown garment type %d", (int) type);
      return NULL;
    }
  if (labels->channels != 1 || labels->width == 0 || labels->height == 0)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                   "A label map must be a non-empty 1-channel image; got %ux%u with %u channels",
                   labels->width, labels->height, labels->channels);
      return NULL;
    }
  rule = &mask_rules[type];

  map.width = labels->width;
  map.height = labels->height;
  map.n = (gsize) map.width * map.height;
  packed = g_new (guint8, map.n);
  for (guint32 y = 0; y < map.height; y++)
    for (guint32 x = 0; x < map.width; x++)
      {
        guint8 l = labels->pixels[(gsize) y * labels->stride + x];
        if (l >= DRAPE_N_LABELS)
          {
            g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                         "The label map holds %u at (%u, %u); labels go from 0 to %u",
                         l, x, y, DRAPE_N_LABELS - 1);
            return NULL;
          }
        person |= l != DRAPE_LABEL_BACKGROUND;
        packed[(gsize) y * map.width + x] = l;
      }
  if (!person)
    {
      g_set_error_literal (error, DRAPE_ERROR, DRAPE_ERROR_FAILED,
                           "No person found in the photo");
      return NULL;
    }
  map.labels = packed;
  stack = g_array_new (FALSE, FALSE, sizeof (gsize));
  map.stack = stack;

  hands = g_new0 (guint8, map.n);
  mark_hands (&map, hands);

  region = g_new (guint8, map.n);
  for (gsize i = 0; i < map.n; i++)
    region[i] = (rule->repaint & (1u << packed[i])) && !hands[i];
  drop_islands (&map, region);
  radius = MAX (1, (guint32) lround (DILATION_PER_PIXEL * MAX (map.width, map.height)));
  dilate (&map, region, radius);
  fill_holes (&map, region);

  protect = ALWAYS_PROTECTED | rule->protect;
  mask = drape_image_new (map.width, map.height, 1);
  for (guint32 y = 0; y < map.height; y++)
    for (guint32 x = 0; x < map.width; x++)
      {
        gsize i = (gsize) y * map.width + x;
        gboolean kept = (protect & (1u << packed[i])) || hands[i];
        mask->pixels[(gsize) y * mask->stride + x] = region[i] && !kept ? 255 : 0;
      }
  return mask;
}
