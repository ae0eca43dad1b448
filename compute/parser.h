/* parser.h: SegFormer human parsing and the try-on masks built from it
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "device.h"
#include "graph.h"
#include "image.h"
#include "tensor.h"

G_BEGIN_DECLS

/* segformer_b2_clothes labels */
typedef enum {
  DRAPE_LABEL_BACKGROUND,
  DRAPE_LABEL_HAT,
  DRAPE_LABEL_HAIR,
  DRAPE_LABEL_SUNGLASSES,
  DRAPE_LABEL_UPPER_CLOTHES,
  DRAPE_LABEL_SKIRT,
  DRAPE_LABEL_PANTS,
  DRAPE_LABEL_DRESS,
  DRAPE_LABEL_BELT,
  DRAPE_LABEL_LEFT_SHOE,
  DRAPE_LABEL_RIGHT_SHOE,
  DRAPE_LABEL_FACE,
  DRAPE_LABEL_LEFT_LEG,
  DRAPE_LABEL_RIGHT_LEG,
  DRAPE_LABEL_LEFT_ARM,
  DRAPE_LABEL_RIGHT_ARM,
  DRAPE_LABEL_BAG,
  DRAPE_LABEL_SCARF,
  DRAPE_N_LABELS,
} DrapeLabel;

typedef enum {
  DRAPE_GARMENT_UPPER,
  DRAPE_GARMENT_LOWER,
  DRAPE_GARMENT_OVERALL,
} DrapeGarmentType;

typedef struct _DrapeParser DrapeParser;

const char  *drape_garment_type_to_string   (DrapeGarmentType  type);
gboolean     drape_garment_type_from_string (const char       *name,
                                             DrapeGarmentType *type);
const char  *drape_label_name               (DrapeLabel        label);

DrapeParser *drape_parser_new    (DrapeDevice       *device,
                                  const char        *model_dir,
                                  DrapeDType         dtype,
                                  GError           **error);
/* The catalog's parser (drape_segformer_config_b2_clothes) with random
 * weights and SegformerImageProcessor's defaults: what benchmarks time,
 * with nothing downloaded. */
DrapeParser *drape_parser_new_random (DrapeDevice   *device,
                                      DrapeDType     dtype,
                                      guint64        seed,
                                      GError       **error);
void         drape_parser_free   (DrapeParser       *parser);
/* The device memory its model's weights take. */
guint64      drape_parser_get_weight_bytes (DrapeParser *parser);
/* Records on graph what drape_parser_parse() runs for the photo in
 * `photo` ([1, h, w, 3], its levels 0..255 in the parser's dtype), and
 * returns the label map ([1, h, w, 1] f32, a label per pixel).  *filters
 * receives the resampling filters the graph reads: unref it after the
 * graph. */
DrapeTensor *drape_parser_record (DrapeParser       *parser,
                                  DrapeGraph        *graph,
                                  const DrapeTensor *photo,
                                  GPtrArray        **filters,
                                  GError           **error);
/* A 1-channel image of the photo's size holding a DrapeLabel per pixel. */
DrapeImage  *drape_parser_parse  (DrapeParser       *parser,
                                  const DrapeImage  *photo,
                                  GError           **error);
/* The region to repaint for a garment type, 255 inside, 0 outside, of the
 * label map's size.  Fails with "no person found" on an empty parse. */
DrapeImage  *drape_mask_build    (const DrapeImage  *labels,
                                  DrapeGarmentType   type,
                                  GError           **error);
/* The label map drawn in the colours of the legend in README.md, as RGB. */
DrapeImage  *drape_label_map_to_rgb (const DrapeImage *labels);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DrapeParser, drape_parser_free)

G_END_DECLS
