/* vae.h: diffusers' AutoencoderKL (the SD VAE) as graphs of ops
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "capture.h"
#include "graph.h"
#include "weights.h"

G_BEGIN_DECLS

#define DRAPE_VAE_MAX_BLOCKS 6

typedef struct {
  guint32 in_channels;
  guint32 out_channels;
  guint32 latent_channels;
  guint32 n_blocks;
  guint32 block_out_channels[DRAPE_VAE_MAX_BLOCKS];
  guint32 layers_per_block;
  guint32 norm_num_groups;
  float scaling_factor;
  gboolean use_quant_conv;
  gboolean use_post_quant_conv;
} DrapeVaeConfig;

typedef struct _DrapeVae DrapeVae;

/* sd-vae-ft-mse's configuration, for benchmarks with random weights. */
void         drape_vae_config_sd (DrapeVaeConfig       *config);
gboolean     drape_vae_config_load (DrapeVaeConfig     *config,
                                    const char         *path,
                                    GError            **error);

DrapeVae    *drape_vae_new          (DrapeDevice          *device,
                                     const char           *model_dir,
                                     DrapeDType            dtype,
                                     GError              **error);
DrapeVae    *drape_vae_new_random   (DrapeDevice          *device,
                                     const DrapeVaeConfig *config,
                                     DrapeDType            dtype,
                                     gboolean              values,
                                     guint64               seed,
                                     GError              **error);
void         drape_vae_free         (DrapeVae             *vae);
const DrapeVaeConfig *drape_vae_get_config (DrapeVae      *vae);
DrapeDType   drape_vae_get_dtype    (DrapeVae             *vae);
guint64      drape_vae_get_weight_bytes (DrapeVae         *vae);

/* image [n, H, W, 3] in [-1, 1], H and W multiples of 8, any dtype ->
 * the posterior's moments [n, H/8, W/8, 2 * latent] = [mean | logvar]
 * (quant_conv applied), in the model's dtype. */
DrapeTensor *drape_vae_encode       (DrapeVae             *vae,
                                     DrapeGraph           *graph,
                                     const DrapeTensor    *image,
                                     DrapeCapture         *capture);
/* latent [n, h, w, latent] (not scaled: divide by scaling_factor first),
 * any dtype -> image [n, 8h, 8w, 3] in the model's dtype. */
DrapeTensor *drape_vae_decode       (DrapeVae             *vae,
                                     DrapeGraph           *graph,
                                     const DrapeTensor    *latent,
                                     DrapeCapture         *capture);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DrapeVae, drape_vae_free)

G_END_DECLS
