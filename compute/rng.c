/* rng.c: Philox4x32-10 and Box-Muller on the CPU
 *
 * shaders/randn.comp computes the same sequence; keep the two in step.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "error.h"
#include "rng.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void
drape_rng_philox4x32 (const guint32 counter[4],
                      const guint32 key[2],
                      guint32       out[4])
{
  guint32 c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
  guint32 k0 = key[0], k1 = key[1];

  for (guint round = 0; round < 10; round++)
    {
      guint64 p0 = (guint64) PHILOX_M0 * c0;
      guint64 p1 = (guint64) PHILOX_M1 * c2;
      guint32 n0 = (guint32) (p1 >> 32) ^ c1 ^ k0;
      guint32 n2 = (guint32) (p0 >> 32) ^ c3 ^ k1;

      c1 = (guint32) p1;
      c3 = (guint32) p0;
      c0 = n0;
      c2 = n2;
      k0 += PHILOX_W0;
      k1 += PHILOX_W1;
    }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

/* Four normals from one block; see rng.h for the formulas. */
static void
block_normals (guint64 seed,
               guint64 stream,
               guint64 block,
               float   z[4])
{
  const guint32 key[2] = { (guint32) seed, (guint32) (seed >> 32) };
  const guint32 counter[4] = {
    (guint32) block, (guint32) (block >> 32), (guint32) stream, (guint32) (stream >> 32),
  };
  guint32 x[4];

  drape_rng_philox4x32 (counter, key, x);
  for (guint k = 0; k < 2; k++)
    {
      float u = ((float) (x[2 * k] >> 8) + 0.5f) * (1.0f / 16777216.0f);
      float t = ((float) (x[2 * k + 1] >> 8) - 8388607.5f) * (1.0f / 8388608.0f);
      float theta = (float) G_PI * t;
      float r = sqrtf (-2.0f * logf (u));

      z[2 * k] = r * cosf (theta);
      z[2 * k + 1] = r * sinf (theta);
    }
}

void
drape_rng_normal (guint64 seed,
                  guint64 stream,
                  guint64 first,
                  float  *out,
                  gsize   n)
{
  guint64 i = first, end = first + n;

  while (i < end)
    {
      float z[4];
      guint64 block = i / 4;

      block_normals (seed, stream, block, z);
      for (guint lane = i % 4; lane < 4 && i < end; lane++, i++)
        out[i - first] = z[lane];
    }
}

gboolean
drape_rng_key_set (DrapeTensor *key,
                   guint64      seed,
                   guint64      stream,
                   GError     **error)
{
  const guint32 words[4] = {
    (guint32) seed, (guint32) (seed >> 32), (guint32) stream, (guint32) (stream >> 32),
  };
  float values[4];

  if (key->dtype != DRAPE_DTYPE_F32 || drape_tensor_numel (key) != 4)
    {
      g_autofree char *desc = drape_tensor_describe (key);
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                   "An RNG key is f32 [1 1 1 4], not %s", desc);
      return FALSE;
    }
  /* The words travel as the bits of four floats: uploads copy bytes. */
  memcpy (values, words, sizeof values);
  return drape_tensor_upload (key, values, 4, error);
}

DrapeTensor *
drape_rng_key_new (DrapeDevice *device,
                   guint64      seed,
                   guint64      stream,
                   GError     **error)
{
  g_autoptr(DrapeTensor) key = drape_tensor_new_host (device, DRAPE_DTYPE_F32, 1, 1, 1, 4, error);

  if (key == NULL || !drape_rng_key_set (key, seed, stream, error))
    return NULL;
  return g_steal_pointer (&key);
}
