/* test-mask.c: the try-on mask rules on label maps drawn here
 *
 * The figure: a hat, hair, a face with sunglasses, an upper garment with
 * short sleeves, bare arms hanging from the sleeves clear of the body, a
 * bag against one arm, pants, legs and shoes.
 * The expected mask is computed here from the documented rules with
 * independent, brute-force means (closed-form chamfer distances in the
 * rectangular arms, dilation by trying every offset of the disc).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <string.h>
#include <glib.h>

#include "error.h"
#include "parser.h"

#define W 200
#define H 300

typedef struct {
  guint32 x0, y0, x1, y1; /* inclusive */
} Rect;

static const Rect hat = { 82, 2, 117, 12 };
static const Rect hair = { 80, 10, 119, 29 };
static const Rect face = { 85, 30, 114, 59 };
static const Rect sunglasses = { 88, 38, 111, 44 };
static const Rect torso = { 70, 62, 129, 159 };
static const Rect sleeve_l = { 36, 62, 69, 89 };
static const Rect sleeve_r = { 130, 62, 163, 89 };
static const Rect arm_l = { 38, 90, 53, 179 };
static const Rect arm_r = { 146, 90, 161, 179 };
static const Rect pants = { 72, 160, 127, 259 };
static const Rect leg_l = { 75, 260, 95, 279 };
static const Rect leg_r = { 104, 260, 124, 279 };
static const Rect shoe_l = { 75, 280, 95, 289 };
static const Rect shoe_r = { 104, 280, 124, 289 };
/* Carried against the right arm, so the arm's dilation reaches it. */
static const Rect bag = { 162, 100, 180, 140 };

static void
draw (DrapeImage *im,
      Rect        r,
      DrapeLabel  label)
{
  for (guint32 y = r.y0; y <= r.y1; y++)
    memset (im->pixels + (gsize) y * im->stride + r.x0, label, r.x1 - r.x0 + 1);
}

static DrapeImage *
figure (gboolean with_face)
{
  DrapeImage *im = drape_image_new (W, H, 1);

  if (with_face)
    {
      draw (im, hair, DRAPE_LABEL_HAIR);
      draw (im, hat, DRAPE_LABEL_HAT);
      draw (im, face, DRAPE_LABEL_FACE);
      draw (im, sunglasses, DRAPE_LABEL_SUNGLASSES);
    }
  draw (im, torso, DRAPE_LABEL_UPPER_CLOTHES);
  draw (im, sleeve_l, DRAPE_LABEL_UPPER_CLOTHES);
  draw (im, sleeve_r, DRAPE_LABEL_UPPER_CLOTHES);
  draw (im, arm_l, DRAPE_LABEL_LEFT_ARM);
  draw (im, arm_r, DRAPE_LABEL_RIGHT_ARM);
  draw (im, pants, DRAPE_LABEL_PANTS);
  draw (im, leg_l, DRAPE_LABEL_LEFT_LEG);
  draw (im, leg_r, DRAPE_LABEL_RIGHT_LEG);
  draw (im, shoe_l, DRAPE_LABEL_LEFT_SHOE);
  draw (im, shoe_r, DRAPE_LABEL_RIGHT_SHOE);
  draw (im, bag, DRAPE_LABEL_BAG);
  return im;
}

static guint8
at (const DrapeImage *im,
    guint32           x,
    guint32           y)
{
  return im->pixels[(gsize) y * im->stride + x];
}

/* Chamfer 5-7 distance from the arm's corner nearest the neck; inside a
 * rectangle the geodesic distance is the free one. */
static gboolean
in_hand (Rect     arm,
         guint32  x,
         guint32  y,
         double   neck_x,
         double   neck_y,
         double   hand_px)
{
  guint32 rx = 0, ry = 0, dmax = 0;
  double best = G_MAXDOUBLE;
  guint32 hand_len = (guint32) (hand_px * 5 + 0.5);

  if (x < arm.x0 || x > arm.x1 || y < arm.y0 || y > arm.y1)
    return FALSE;
  for (guint32 cy = arm.y0; cy <= arm.y1; cy++)
    for (guint32 cx = arm.x0; cx <= arm.x1; cx++)
      {
        double d = (cx - neck_x) * (cx - neck_x) + (cy - neck_y) * (cy - neck_y);
        if (d < best)
          {
            best = d;
            rx = cx;
            ry = cy;
          }
      }
#define CHAMFER(ax, ay) (5 * MAX ((ax), (ay)) + 2 * MIN ((ax), (ay)))
  for (guint32 cy = arm.y0; cy <= arm.y1; cy++)
    for (guint32 cx = arm.x0; cx <= arm.x1; cx++)
      dmax = MAX (dmax, (guint32) CHAMFER (ABS ((int) cx - (int) rx), ABS ((int) cy - (int) ry)));
  return CHAMFER (ABS ((int) x - (int) rx), ABS ((int) y - (int) ry)) + hand_len >= dmax;
#undef CHAMFER
}

static guint32
bit (DrapeLabel l)
{
  return 1u << l;
}

/* The rules of mask.c, written out: repaint set, protected set. */
static void
rules (DrapeGarmentType type,
       guint32         *repaint,
       guint32         *protect)
{
  guint32 arms = bit (DRAPE_LABEL_LEFT_ARM) | bit (DRAPE_LABEL_RIGHT_ARM);
  guint32 legs = bit (DRAPE_LABEL_LEFT_LEG) | bit (DRAPE_LABEL_RIGHT_LEG);
  guint32 upper = bit (DRAPE_LABEL_UPPER_CLOTHES) | bit (DRAPE_LABEL_DRESS) | arms;
  guint32 lower = bit (DRAPE_LABEL_PANTS) | bit (DRAPE_LABEL_SKIRT) | legs;

  *protect = bit (DRAPE_LABEL_FACE) | bit (DRAPE_LABEL_HAIR) | bit (DRAPE_LABEL_HAT) |
             bit (DRAPE_LABEL_SUNGLASSES) | bit (DRAPE_LABEL_LEFT_SHOE) |
             bit (DRAPE_LABEL_RIGHT_SHOE) | bit (DRAPE_LABEL_BAG);
  switch (type)
    {
    case DRAPE_GARMENT_UPPER:
      *repaint = upper;
      *protect |= bit (DRAPE_LABEL_PANTS) | bit (DRAPE_LABEL_SKIRT) | legs;
      break;
    case DRAPE_GARMENT_LOWER:
      *repaint = lower;
      *protect |= bit (DRAPE_LABEL_UPPER_CLOTHES) | arms;
      break;
    case DRAPE_GARMENT_OVERALL:
    default:
      *repaint = upper | lower;
      break;
    }
}

static DrapeImage *
expected_mask (const DrapeImage *labels,
               DrapeGarmentType  type,
               double            neck_x,
               double            neck_y,
               double            hand_px)
{
  DrapeImage *mask = drape_image_new (W, H, 1);
  g_autofree guint8 *hand = g_new0 (guint8, W * H);
  g_autofree guint8 *region = g_new0 (guint8, W * H);
  guint32 repaint, protect;
  int r = 2; /* 5 px per 1000 of the longer side (300), rounded */

  rules (type, &repaint, &protect);
  for (guint32 y = 0; y < H; y++)
    for (guint32 x = 0; x < W; x++)
      {
        hand[y * W + x] = in_hand (arm_l, x, y, neck_x, neck_y, hand_px) ||
                          in_hand (arm_r, x, y, neck_x, neck_y, hand_px);
        region[y * W + x] = (repaint & bit (at (labels, x, y))) && !hand[y * W + x];
      }
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      {
        gboolean in = FALSE;
        for (int dy = -r; dy <= r && !in; dy++)
          for (int dx = -r; dx <= r && !in; dx++)
            in = dx * dx + dy * dy <= r * r && x + dx >= 0 && x + dx < W &&
                 y + dy >= 0 && y + dy < H && region[(y + dy) * W + x + dx];
        if (in && !(protect & bit (at (labels, x, y))) && !hand[y * W + x])
          mask->pixels[y * mask->stride + x] = 255;
      }
  return mask;
}

static void
assert_masks_equal (const DrapeImage *got,
                    const DrapeImage *want,
                    const char       *what)
{
  guint wrong = 0;

  g_assert_cmpuint (got->width, ==, want->width);
  g_assert_cmpuint (got->height, ==, want->height);
  g_assert_cmpuint (got->channels, ==, 1);
  for (guint32 y = 0; y < want->height; y++)
    for (guint32 x = 0; x < want->width; x++)
      if (at (got, x, y) != at (want, x, y))
        {
          if (wrong++ < 5)
            g_printerr ("%s: (%u, %u) is %u, expected %u\n", what, x, y, at (got, x, y), at (want, x, y));
        }
  g_assert_cmpuint (wrong, ==, 0);
}

static guint
count_set (const DrapeImage *mask,
           Rect              r)
{
  guint n = 0;

  for (guint32 y = r.y0; y <= r.y1; y++)
    for (guint32 x = r.x0; x <= r.x1; x++)
      n += at (mask, x, y) == 255;
  return n;
}

static void
test_types (void)
{
  g_autoptr(DrapeImage) labels = figure (TRUE);
  double neck_x = (face.x0 + face.x1) / 2.0, neck_y = face.y1;
  double hand_px = face.y1 - face.y0 + 1;

  for (DrapeGarmentType type = DRAPE_GARMENT_UPPER; type <= DRAPE_GARMENT_OVERALL; type++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(DrapeImage) mask = drape_mask_build (labels, type, &error);
      g_autoptr(DrapeImage) want = expected_mask (labels, type, neck_x, neck_y, hand_px);
      guint32 repaint, protect;

      g_assert_no_error (error);
      assert_masks_equal (mask, want, drape_garment_type_to_string (type));
      /* What the rules promise, said plainly. */
      rules (type, &repaint, &protect);
      for (guint32 y = 0; y < H; y++)
        for (guint32 x = 0; x < W; x++)
          if (protect & bit (at (labels, x, y)))
            g_assert_cmpuint (at (mask, x, y), ==, 0);
      g_assert_cmpuint (count_set (mask, face), ==, 0);
      g_assert_cmpuint (count_set (mask, hair), ==, 0);
      g_assert_cmpuint (count_set (mask, hat), ==, 0);
      g_assert_cmpuint (count_set (mask, bag), ==, 0);
      if (type != DRAPE_GARMENT_LOWER)
        {
          /* The whole torso, the upper arms, not the hands. */
          g_assert_cmpuint (count_set (mask, torso), ==, (torso.x1 - torso.x0 + 1) * (torso.y1 - torso.y0 + 1));
          g_assert_cmpuint (count_set (mask, (Rect) { arm_l.x0, 90, arm_l.x1, 120 }), ==, 16 * 31);
          g_assert_cmpuint (count_set (mask, (Rect) { arm_l.x0, 170, arm_l.x1, 179 }), ==, 0);
          g_assert_cmpuint (count_set (mask, (Rect) { arm_r.x0, 170, arm_r.x1, 179 }), ==, 0);
        }
      else
        g_assert_cmpuint (count_set (mask, pants), ==, (pants.x1 - pants.x0 + 1) * (pants.y1 - pants.y0 + 1));
    }
}

/* Without a face the neck is the top centre of the upper clothes and a
 * hand an eighth of the person's height. */
static void
test_no_face (void)
{
  g_autoptr(DrapeImage) labels = figure (FALSE);
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeImage) mask = drape_mask_build (labels, DRAPE_GARMENT_UPPER, &error);
  g_autoptr(DrapeImage) want = NULL;
  double person_h = shoe_l.y1 - torso.y0 + 1;

  g_assert_no_error (error);
  want = expected_mask (labels, DRAPE_GARMENT_UPPER, (sleeve_l.x0 + sleeve_r.x1) / 2.0, torso.y0,
                        person_h / 8);
  assert_masks_equal (mask, want, "no face");
}

/* A speck of upper clothes far from the figure is noise. */
static void
test_islands (void)
{
  g_autoptr(DrapeImage) labels = figure (TRUE);
  g_autoptr(DrapeImage) plain = drape_mask_build (labels, DRAPE_GARMENT_UPPER, NULL);
  g_autoptr(DrapeImage) mask = NULL;

  draw (labels, (Rect) { 185, 280, 189, 284 }, DRAPE_LABEL_UPPER_CLOTHES);
  mask = drape_mask_build (labels, DRAPE_GARMENT_UPPER, NULL);
  assert_masks_equal (mask, plain, "islands");
}

/* Background inside the shirt is filled; a bag held there stays out. */
static void
test_holes (void)
{
  g_autoptr(DrapeImage) labels = figure (TRUE);
  g_autoptr(DrapeImage) plain = drape_mask_build (labels, DRAPE_GARMENT_UPPER, NULL);
  g_autoptr(DrapeImage) mask = NULL;
  Rect hole = { 80, 100, 94, 114 }, held = { 100, 120, 114, 134 };

  draw (labels, hole, DRAPE_LABEL_BACKGROUND);
  draw (labels, held, DRAPE_LABEL_BAG);
  mask = drape_mask_build (labels, DRAPE_GARMENT_UPPER, NULL);
  g_assert_cmpuint (count_set (mask, hole), ==, 15 * 15);
  g_assert_cmpuint (count_set (mask, held), ==, 0);
  draw (plain, held, 0);
  assert_masks_equal (mask, plain, "holes");
}

static void
test_no_person (void)
{
  g_autoptr(DrapeImage) labels = drape_image_new (64, 48, 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeImage) mask = drape_mask_build (labels, DRAPE_GARMENT_OVERALL, &error);

  g_assert_null (mask);
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "No person found"));
}

static void
test_bad_input (void)
{
  g_autoptr(DrapeImage) labels = figure (TRUE);
  g_autoptr(DrapeImage) rgb = drape_image_new (8, 8, 3);
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeImage) mask = NULL;

  labels->pixels[5 * labels->stride + 7] = DRAPE_N_LABELS;
  mask = drape_mask_build (labels, DRAPE_GARMENT_UPPER, &error);
  g_assert_null (mask);
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "(7, 5)"));
  g_clear_error (&error);

  mask = drape_mask_build (rgb, DRAPE_GARMENT_UPPER, &error);
  g_assert_null (mask);
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT);
}

/* Masks have the label map's size whatever its shape; the dilation follows
 * the longer side. */
static void
test_aspect (void)
{
  static const guint32 sizes[][2] = { { 1000, 40 }, { 40, 1000 }, { 1, 1 }, { 3, 517 } };

  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      guint32 w = sizes[i][0], h = sizes[i][1];
      g_autoptr(DrapeImage) labels = drape_image_new (w, h, 1);
      g_autoptr(GError) error = NULL;
      g_autoptr(DrapeImage) mask = NULL;
      guint32 cx = w / 2, cy = h / 2;
      guint32 r = MAX (1, (guint32) (5.0 * MAX (w, h) / 1000 + 0.5));

      labels->pixels[(gsize) cy * labels->stride + cx] = DRAPE_LABEL_PANTS;
      mask = drape_mask_build (labels, DRAPE_GARMENT_LOWER, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (mask->width, ==, w);
      g_assert_cmpuint (mask->height, ==, h);
      for (guint32 y = 0; y < h; y++)
        for (guint32 x = 0; x < w; x++)
          {
            double dx = (double) x - cx, dy = (double) y - cy;
            g_assert_cmpuint (at (mask, x, y), ==, dx * dx + dy * dy <= (double) r * r ? 255 : 0);
          }
    }
}

static void
test_names (void)
{
  g_autoptr(DrapeImage) labels = figure (TRUE);
  g_autoptr(DrapeImage) rgb = drape_label_map_to_rgb (labels);
  DrapeGarmentType type;
  guint8 colors[DRAPE_N_LABELS][3];
  gboolean have[DRAPE_N_LABELS] = { FALSE };

  for (DrapeGarmentType t = DRAPE_GARMENT_UPPER; t <= DRAPE_GARMENT_OVERALL; t++)
    {
      g_assert_true (drape_garment_type_from_string (drape_garment_type_to_string (t), &type));
      g_assert_cmpint (type, ==, t);
    }
  g_assert_false (drape_garment_type_from_string ("dress", &type));
  g_assert_cmpstr (drape_label_name (DRAPE_LABEL_UPPER_CLOTHES), ==, "Upper-clothes");
  g_assert_cmpstr (drape_label_name (DRAPE_LABEL_SCARF), ==, "Scarf");

  g_assert_cmpuint (rgb->channels, ==, 3);
  g_assert_cmpuint (rgb->width, ==, W);
  g_assert_cmpuint (rgb->height, ==, H);
  /* Background is black; every label has a colour of its own. */
  g_assert_cmpuint (rgb->pixels[0] | rgb->pixels[1] | rgb->pixels[2], ==, 0);
  for (guint32 i = 0; i < W * H; i++)
    {
      guint8 l = labels->pixels[i];
      if (!have[l])
        memcpy (colors[l], rgb->pixels + 3 * i, 3);
      have[l] = TRUE;
      g_assert_cmpmem (rgb->pixels + 3 * i, 3, colors[l], 3);
    }
  for (guint a = 0; a < DRAPE_N_LABELS; a++)
    for (guint b = a + 1; b < DRAPE_N_LABELS; b++)
      if (have[a] && have[b])
        g_assert_true (memcmp (colors[a], colors[b], 3) != 0);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/mask/types", test_types);
  g_test_add_func ("/mask/no-face", test_no_face);
  g_test_add_func ("/mask/islands", test_islands);
  g_test_add_func ("/mask/holes", test_holes);
  g_test_add_func ("/mask/no-person", test_no_person);
  g_test_add_func ("/mask/bad-input", test_bad_input);
  g_test_add_func ("/mask/aspect", test_aspect);
  g_test_add_func ("/mask/names", test_names);
  return g_test_run ();
}
