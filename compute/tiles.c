/* tiles.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include "tiles.h"

GArray *
drape_tiles_starts (guint32 size,
                    guint32 tile,
                    guint32 overlap)
{
  GArray *starts = g_array_new (FALSE, FALSE, sizeof (guint32));
  guint32 step = tile > overlap ? tile - overlap : 1;

  g_return_val_if_fail (tile > 0 && tile <= size, starts);
  for (guint32 s = 0;; s += step)
    {
      guint32 start = MIN (s, size - tile);
      g_array_append_val (starts, start);
      if (start + tile >= size)
        break;
    }
  return starts;
}

/* A tile's weight at offset i: ramps up across the overlap from an inner
 * edge; 1 elsewhere, and at the image's own edges. */
static float
ramp (guint32 i,
      guint32 len,
      guint32 start,
      guint32 size,
      guint32 overlap)
{
  float w = 1.0f;

  if (overlap == 0)
    return w;
  if (start > 0)
    w = MIN (w, (i + 0.5f) / overlap);
  if (start + len < size)
    w = MIN (w, (len - i - 0.5f) / overlap);
  return w;
}

gboolean
drape_tiles_run (const DrapeTileGrid *grid,
                 guint32              batch,
                 guint32              scale,
                 guint32              channels,
                 DrapeTileFunc        func,
                 gpointer             user_data,
                 float               *out,
                 GError             **error)
{
  guint32 overlap = grid->overlap * scale;
  guint32 oh = grid->height * scale, ow = grid->width * scale;
  guint32 th = grid->tile_height * scale, tw = grid->tile_width * scale;
  g_autoptr(GArray) ys = drape_tiles_starts (grid->height, grid->tile_height, grid->overlap);
  g_autoptr(GArray) xs = drape_tiles_starts (grid->width, grid->tile_width, grid->overlap);
  g_autofree float *tile = g_new (float, (gsize) batch * th * tw * channels);
  g_autofree float *weight = g_new0 (float, (gsize) oh * ow);

  memset (out, 0, sizeof (float) * batch * oh * ow * channels);
  for (guint a = 0; a < ys->len; a++)
    for (guint b = 0; b < xs->len; b++)
      {
        guint32 y0 = g_array_index (ys, guint32, a), x0 = g_array_index (xs, guint32, b);

        if (!func (y0, x0, tile, user_data, error))
          return FALSE;
        for (guint32 y = 0; y < th; y++)
          for (guint32 x = 0; x < tw; x++)
            {
              gsize pos = (gsize) (y0 * scale + y) * ow + x0 * scale + x;
              float w = ramp (y, th, y0 * scale, oh, overlap) * ramp (x, tw, x0 * scale, ow, overlap);

              weight[pos] += w;
              for (guint32 n = 0; n < batch; n++)
                for (guint32 c = 0; c < channels; c++)
                  out[((gsize) n * oh * ow + pos) * channels + c] +=
                    w * tile[(((gsize) n * th + y) * tw + x) * channels + c];
            }
      }
  for (gsize pos = 0; pos < (gsize) oh * ow; pos++)
    for (guint32 n = 0; n < batch; n++)
      for (guint32 c = 0; c < channels; c++)
        out[((gsize) n * oh * ow + pos) * channels + c] /= weight[pos];
  return TRUE;
}
