/* reference-elementwise.c: naive elementwise ops
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <math.h>

#include "reference.h"

float
drape_ref_activate (DrapeActivation act,
                    float           x)
{
  switch (act)
    {
    case DRAPE_ACT_SILU:
      return (float) (x / (1.0 + exp (-(double) x)));
    case DRAPE_ACT_GELU:
      /* 1 + erf (x / sqrt 2) written as erfc, which keeps its precision
       * where GELU is tiny (x < -8 leaves 1 + erf at 0 in double). */
      return (float) (0.5 * x * erfc (-x / G_SQRT2));
    case DRAPE_ACT_RELU:
      return x > 0 ? x : 0;
    case DRAPE_ACT_NONE:
    default:
      return x;
    }
}

void
drape_ref_binary (DrapeBinaryOp op,
                  const float  *a,
                  DrapeShape    as,
                  const float  *b,
                  DrapeShape    bs,
                  float         alpha,
                  float         beta,
                  float        *out)
{
  guint64 n = drape_shape_numel (as);
  guint64 positions = (guint64) as.h * as.w;

  for (guint64 i = 0; i < n; i++)
    {
      guint64 ch = i % as.c;
      guint64 batch = i / as.c / positions;
      float y;

      if (bs.h == as.h && bs.w == as.w && bs.n == as.n)
        y = b[i];
      else
        y = b[(bs.n == 1 ? 0 : batch) * as.c + ch];
      out[i] = op == DRAPE_BINARY_ADD ? alpha * a[i] + beta * y : alpha * a[i] * y;
    }
}

void
drape_ref_unary (const float    *x,
                 guint64         n,
                 DrapeActivation act,
                 float           scale,
                 float           shift,
                 float          *out)
{
  for (guint64 i = 0; i < n; i++)
    out[i] = drape_ref_activate (act, scale * x[i] + shift);
}
