/* segformer.h: transformers' SegformerForSemanticSegmentation on the engine
 *
 * Built from a model folder as transformers saves it: config.json and
 * model.safetensors (transformers' tensor names), e.g.
 * mattmdjaga/segformer_b2_clothes.  The network is recorded on a graph
 * the caller owns, once per input size, and replayed.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "device.h"
#include "graph.h"
#include "tensor.h"

G_BEGIN_DECLS

#define DRAPE_SEGFORMER_MAX_STAGES 4

typedef struct {
  guint   n_stages;
  guint32 depths[DRAPE_SEGFORMER_MAX_STAGES];
  guint32 hidden[DRAPE_SEGFORMER_MAX_STAGES];
  guint32 heads[DRAPE_SEGFORMER_MAX_STAGES];
  guint32 sr_ratios[DRAPE_SEGFORMER_MAX_STAGES];
  guint32 patch_sizes[DRAPE_SEGFORMER_MAX_STAGES];
  guint32 strides[DRAPE_SEGFORMER_MAX_STAGES];
  guint32 mlp_ratios[DRAPE_SEGFORMER_MAX_STAGES];
  guint32 in_channels;
  guint32 decoder_hidden;
  guint32 n_labels;
} DrapeSegformerConfig;

typedef struct _DrapeSegformer DrapeSegformer;

/* Loads model_dir/config.json and model_dir/model.safetensors onto the
 * device as dtype (f32 or f16). */
DrapeSegformer *drape_segformer_new         (DrapeDevice           *device,
                                             const char            *model_dir,
                                             DrapeDType             dtype,
                                             GError               **error);
/* The real architecture with random weights (drape_weights_new_random),
 * for benchmarks: config as drape_segformer_config_b2_clothes() gives,
 * n_labels included. */
DrapeSegformer *drape_segformer_new_random  (DrapeDevice                *device,
                                             const DrapeSegformerConfig *config,
                                             DrapeDType                  dtype,
                                             guint64                     seed,
                                             GError                    **error);
/* The parser the model catalog downloads: mattmdjaga/segformer_b2_clothes
 * (SegFormer-B2, 18 labels). */
void            drape_segformer_config_b2_clothes (DrapeSegformerConfig *config);
void            drape_segformer_free        (DrapeSegformer        *model);
const DrapeSegformerConfig *
                drape_segformer_get_config  (DrapeSegformer        *model);
DrapeDType      drape_segformer_get_dtype   (DrapeSegformer        *model);
guint64         drape_segformer_get_weight_bytes (DrapeSegformer   *model);

/* Records the network on graph: pixels [n, h, w, in_channels], normalised,
 * f32 or f16 -> logits [n, h1, w1, n_labels] in the model's dtype, where
 * h1 x w1 is the first stage's size (h / 4 x w / 4 for the usual patch
 * embedding).
 * If hidden_states is not NULL it receives the encoder's stage outputs
 * (transformers' encoder_hidden_states, NHWC), which are then kept alive:
 * the caller reads them after the run. */
DrapeTensor    *drape_segformer_forward     (DrapeSegformer        *model,
                                             DrapeGraph            *graph,
                                             const DrapeTensor     *pixels,
                                             DrapeTensor          **hidden_states);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DrapeSegformer, drape_segformer_free)

G_END_DECLS
