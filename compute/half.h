/* half.h: IEEE 754 binary16 <-> binary32 on the host
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <string.h>

/* Round to nearest even, like the GPU's conversion; overflow goes to inf
 * and NaN stays NaN. */
static inline guint16
drape_float_to_half (float value)
{
  guint32 x, sign, exp, mant;

  memcpy (&x, &value, 4);
  sign = (x >> 16) & 0x8000;
  exp = (x >> 23) & 0xff;
  mant = x & 0x7fffff;

  if (exp == 0xff)
    return sign | 0x7c00 | (mant ? 0x200 | (mant >> 13) : 0);
  if (exp > 142)
    return sign | 0x7c00;
  if (exp < 113)
    {
      /* Subnormal half (or zero): shift the implicit bit in, then round. */
      guint32 shift, m, half, rem;
      if (exp < 102)
        return sign;
      m = mant | 0x800000;
      shift = 126 - exp;
      half = m >> shift;
      rem = m & ((1u << shift) - 1);
      if (rem > (1u << (shift - 1)) || (rem == (1u << (shift - 1)) && (half & 1)))
        half++;
      return sign | half;
    }
  {
    guint32 h = ((exp - 112) << 10) | (mant >> 13);
    guint32 rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
      h++;
    return sign | h;
  }
}

static inline float
drape_half_to_float (guint16 h)
{
  guint32 sign = (guint32) (h & 0x8000) << 16;
  guint32 exp = (h >> 10) & 0x1f;
  guint32 mant = h & 0x3ff;
  guint32 x;
  float f;

  if (exp == 0)
    {
      if (mant == 0)
        x = sign;
      else
        {
          /* Normalise the subnormal. */
          exp = 113;
          while (!(mant & 0x400))
            {
              mant <<= 1;
              exp--;
            }
          mant &= 0x3ff;
          x = sign | (exp << 23) | (mant << 13);
        }
    }
  else if (exp == 31)
    x = sign | 0x7f800000 | (mant << 13);
  else
    x = sign | ((exp + 112) << 23) | (mant << 13);
  memcpy (&f, &x, 4);
  return f;
}

/* bfloat16 is the top half of a binary32. */
static inline float
drape_bf16_to_float (guint16 b)
{
  guint32 x = (guint32) b << 16;
  float f;
  memcpy (&f, &x, 4);
  return f;
}

/* Round to nearest even, as PyTorch does; NaN stays NaN. */
static inline guint16
drape_float_to_bf16 (float value)
{
  guint32 x;

  memcpy (&x, &value, 4);
  if ((x & 0x7fffffff) > 0x7f800000)
    return (guint16) ((x >> 16) | 0x40);
  return (guint16) ((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}
