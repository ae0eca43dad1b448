/* unet.h: diffusers' UNet2DConditionModel with CatVTON's adapters
 *
 * The graph is built from config.json, so the SD1.5-inpainting UNet and
 * the tiny test models go through the same code.  CatVTON removes the
 * cross-attention: its SkipAttnProcessor returns attn2's input, so each
 * transformer block computes h += attn1 (LN1 h); h += LN2 h; h += FF (LN3 h).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "capture.h"
#include "graph.h"
#include "weights.h"

G_BEGIN_DECLS

#define DRAPE_UNET_MAX_BLOCKS 6

typedef struct {
  guint32 in_channels;
  guint32 out_channels;
  guint32 n_blocks;
  guint32 block_out_channels[DRAPE_UNET_MAX_BLOCKS];
  /* Whether down block i (and the mirrored up block) has transformers. */
  gboolean block_has_attention[DRAPE_UNET_MAX_BLOCKS];
  guint32 layers_per_block;
  guint32 norm_num_groups;
  float norm_eps;
  /* Heads per transformer block, per down block index. */
  guint32 heads[DRAPE_UNET_MAX_BLOCKS];
  gboolean flip_sin_to_cos;
  float freq_shift;
  guint32 downsample_padding;
} DrapeUNetConfig;

typedef struct _DrapeUNet DrapeUNet;

/* The SD1.5-inpainting configuration, for benchmarks with random weights. */
void         drape_unet_config_sd15_inpainting (DrapeUNetConfig *config);
gboolean     drape_unet_config_load   (DrapeUNetConfig       *config,
                                       const char            *path,
                                       GError               **error);

/* Loads model_dir/config.json and the safetensors weights beside it, and
 * merges CatVTON's attention checkpoint when attention_path is not NULL. */
DrapeUNet   *drape_unet_new           (DrapeDevice           *device,
                                       const char            *model_dir,
                                       const char            *attention_path,
                                       DrapeDType             dtype,
                                       GError               **error);
/* Random weights of the right shapes (benchmarks); without `values`,
 * their contents undefined (drape_weights_new_unfilled). */
DrapeUNet   *drape_unet_new_random    (DrapeDevice           *device,
                                       const DrapeUNetConfig *config,
                                       DrapeDType             dtype,
                                       gboolean               values,
                                       guint64                seed,
                                       GError               **error);
void         drape_unet_free          (DrapeUNet             *unet);
const DrapeUNetConfig *drape_unet_get_config (DrapeUNet      *unet);
DrapeDType   drape_unet_get_dtype     (DrapeUNet             *unet);
guint64      drape_unet_get_weight_bytes (DrapeUNet          *unet);

/* Appends one forward pass: sample [n, h, w, in_channels] (any dtype),
 * timestep [n, 1, 1, 1] f32 (rewritten by the host between runs).  Returns
 * the noise prediction [n, h, w, out_channels] in the model's dtype. */
DrapeTensor *drape_unet_forward       (DrapeUNet             *unet,
                                       DrapeGraph            *graph,
                                       const DrapeTensor     *sample,
                                       const DrapeTensor     *timestep,
                                       DrapeCapture          *capture);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DrapeUNet, drape_unet_free)

G_END_DECLS
