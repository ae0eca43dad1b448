/* tiles.h: running a computation on overlapping tiles and blending them
 *
 * For the VAE on images too large for device memory: the image is covered
 * by tiles of one size (the last in a row or column ends at the edge, so a
 * graph recorded for one tile size serves every tile), each tile's output
 * is weighted by linear ramps across the overlaps with its neighbours and
 * the weighted outputs are averaged.  Outputs may be larger than the grid
 * by an integer scale (a decoder's 8x).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  guint32 height, width;           /* the grid, in input units */
  guint32 tile_height, tile_width; /* at most height, width */
  guint32 overlap;                 /* how much neighbouring tiles share, at least */
} DrapeTileGrid;

/* Computes the tile at (y, x) (input units) into out: batch images of
 * (scale x tile_height) x (scale x tile_width) positions of `channels`
 * values, NHWC. */
typedef gboolean (*DrapeTileFunc) (guint32   y,
                                   guint32   x,
                                   float    *out,
                                   gpointer  user_data,
                                   GError  **error);

/* Where tiles start along one side of `size`. */
GArray   *drape_tiles_starts (guint32              size,
                              guint32              tile,
                              guint32              overlap);
/* Runs func on every tile and blends the results into out: batch images
 * of (scale x height) x (scale x width) x channels. */
gboolean  drape_tiles_run    (const DrapeTileGrid *grid,
                              guint32              batch,
                              guint32              scale,
                              guint32              channels,
                              DrapeTileFunc        func,
                              gpointer             user_data,
                              float               *out,
                              GError             **error);

G_END_DECLS
