/* parser-private.h: the parser's steps, for the tests that check each
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "graph.h"
#include "parser.h"
#include "segformer.h"

G_BEGIN_DECLS

DrapeSegformer *drape_parser_get_model     (DrapeParser       *parser);
/* Fills a [1, h, w, 3] tensor with an RGB photo's levels 0..255. */
gboolean        drape_parser_upload_photo  (const DrapeImage  *photo,
                                            DrapeTensor       *tensor,
                                            GError           **error);
/* Records SegformerImageProcessor on graph: photo [1, h, w, 3] (levels, in
 * the model's dtype) stretched to the model's input size as PIL does
 * (*resized, levels; the caller releases it), then rescaled and
 * normalised: returns the pixel values.  *filters receives the resampling
 * filters the graph uses, which must outlive it. */
DrapeTensor    *drape_parser_record_input  (DrapeParser       *parser,
                                            DrapeGraph        *graph,
                                            const DrapeTensor *photo,
                                            GPtrArray         *filters,
                                            DrapeTensor      **resized,
                                            GError           **error);

G_END_DECLS
