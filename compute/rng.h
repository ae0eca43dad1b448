/* rng.h: Drape's counter-based random numbers, the same on CPU and GPU
 *
 * Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
 * 3", SC 2011), keyed by a 64-bit seed; every draw has its own 64-bit
 * stream id, so a try-on is reproducible from its seed alone whatever
 * order draws are made in, on whichever device.
 *
 * Normal i of a stream comes from block b = i / 4, lane i % 4:
 *   (x0, x1, x2, x3) = Philox4x32-10 (counter = (b low, b high, stream low,
 *                                     stream high), key = (seed low, seed high))
 *   for each pair (x, y) = (x0, x1), (x2, x3):
 *     u     = ((x >> 8) + 0.5) / 2^24            in (0, 1), exact in float
 *     theta = pi ((y >> 8) - (2^23 - 0.5)) / 2^23 in (-pi, pi)
 *     r     = sqrt (-2 log u)
 *     normals 2k, 2k + 1 = r cos theta, r sin theta    (Box-Muller)
 * all in float32.  The integers are bit-identical everywhere; the GPU's
 * log, sin and cos may differ from the C library's in the last bits
 * (Vulkan allows sin and cos an absolute error of 2^-11 in [-pi, pi]), so
 * GPU normals equal CPU normals only to within |r| 2^-11 < 3e-3 on a
 * conformant device; lavapipe measured 3.4e-5 at most, 3e-8 on average,
 * over 2^20 draws.  A run is reproducible on one device, and close but
 * not bit-equal across devices.  |normal| < 5.9: the 24-bit uniform cuts
 * the tail at 5.9 sigma, probability 4e-9.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "tensor.h"

G_BEGIN_DECLS

/* The stream of each draw CatVTON makes, in the order it makes them:
 * the VAE posterior sample of the masked person, that of the garment,
 * the initial latent noise, then DDIM's variance noise at each step. */
#define DRAPE_RNG_STREAM_POSTERIOR_PERSON  G_GUINT64_CONSTANT (1)
#define DRAPE_RNG_STREAM_POSTERIOR_GARMENT G_GUINT64_CONSTANT (2)
#define DRAPE_RNG_STREAM_INIT_NOISE        G_GUINT64_CONSTANT (3)
#define DRAPE_RNG_STREAM_STEP_NOISE        G_GUINT64_CONSTANT (0x100)

/* The stream of the variance noise of denoising step `step` (0-based). */
static inline guint64
drape_rng_step_stream (guint step)
{
  return DRAPE_RNG_STREAM_STEP_NOISE + step;
}

/* One Philox4x32-10 block. */
void         drape_rng_philox4x32 (const guint32 counter[4],
                                   const guint32 key[2],
                                   guint32       out[4]);
/* Normals first .. first + n - 1 of (seed, stream). */
void         drape_rng_normal     (guint64       seed,
                                   guint64       stream,
                                   guint64       first,
                                   float        *out,
                                   gsize         n);

/* A key tensor for drape_op_randn: [1, 1, 1, 4] f32 in host-visible
 * memory, set to (seed, stream). */
DrapeTensor *drape_rng_key_new    (DrapeDevice  *device,
                                   guint64       seed,
                                   guint64       stream,
                                   GError      **error);
/* Writes (seed, stream) into a key tensor as its four raw 32-bit words:
 * seed low, seed high, stream low, stream high.  The key must have memory
 * of its own (not be an activation); the next graph run sees it. */
gboolean     drape_rng_key_set    (DrapeTensor  *key,
                                   guint64       seed,
                                   guint64       stream,
                                   GError      **error);

G_END_DECLS
