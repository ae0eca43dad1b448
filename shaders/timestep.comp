#version 450
#extension GL_GOOGLE_include_directive : require
// diffusers' get_timestep_embedding, rounding as its float32 arithmetic
// does: e_i = fl(fl(-ln 10000) i) / fl(half - shift), f_i = exp (e_i),
// arg = fl(t f_i), then [sin, cos] (or flipped) of arg.
//
// A 1-ulp error in f_i moves an argument near 1000 by 6e-5 rad, and
// GPUs promise neither correctly rounded division nor an exp within a
// few ulps, nor sin beyond [-pi, pi]: the division is corrected with an
// exact residual, exp is evaluated in float-float, and sin/cos reduce
// their argument by Cody-Waite with pi/2 split in three (exact for
// |arg| < 6400) before short Taylor polynomials on [-pi/4, pi/4].
// `precise` keeps the compiler from fusing or reordering the error-free
// transformations.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

layout(binding = 0) readonly buffer Times { float t[]; };
layout(binding = 1) writeonly buffer O { T o[]; };

layout(push_constant) uniform Params {
  uint count;        // elements in this dispatch: images x dim
  uint dim;
  uint half_dim;
  uint flip;         // cos first
  uint t_off, o_off; // alignment slack of the bound ranges
  float neg_log;     // fl(-ln 10000)
  float denom;       // fl(half - freq_shift)
} p;

// a * b = hi + lo exactly (Dekker, with Veltkamp's split; no fma needed).
vec2 two_prod(float a, float b)
{
  precise float ca = 4097.0 * a;
  precise float ah = ca - (ca - a);
  precise float al = a - ah;
  precise float cb = 4097.0 * b;
  precise float bh = cb - (cb - b);
  precise float bl = b - bh;
  precise float hi = a * b;
  precise float lo = ((ah * bh - hi) + ah * bl + al * bh) + al * bl;
  return vec2(hi, lo);
}

// a + b = hi + lo exactly (Knuth).
vec2 two_sum(float a, float b)
{
  precise float s = a + b;
  precise float bb = s - a;
  precise float err = (a - (s - bb)) + (b - bb);
  return vec2(s, err);
}

// (a.hi + a.lo) * b + c in float-float, c a float.
vec2 ff_mul_add(vec2 a, float b, float c)
{
  vec2 prod = two_prod(a.x, b);
  precise float lo = prod.y + a.y * b;
  vec2 s = two_sum(c, prod.x);
  precise float tail = s.y + lo;
  return two_sum(s.x, tail);
}

float div_rn(float a, float b)
{
  precise float q = a / b;
  vec2 qb = two_prod(q, b);
  precise float r = (a - qb.x) - qb.y;
  precise float res = q + r / b;
  return res;
}

float exp_rn(float x)
{
  const float L1 = 0.693115234375;      // ln 2 in three parts, 12 bits each
  const float L2 = 3.19331884e-05;      // for the first two, so k L1 and
  const float L3 = 1.2996507e-08;       // k L2 are exact
  float k = round(x * 1.44269504);
  precise float rh0 = x - k * L1;
  vec2 r = two_sum(rh0, -k * L2);
  precise float rl = r.y - k * L3;
  vec2 rr = two_sum(r.x, rl);
  // exp(r) = 1 + r (1 + r (1/2 + r q)), q in float (its error is scaled
  // by r^3), the last three Horner steps in float-float.
  float q = 1.0 / 6.0 + rr.x * (1.0 / 24.0 + rr.x * (1.0 / 120.0 + rr.x * (1.0 / 720.0 +
            rr.x * (1.0 / 5040.0 + rr.x * (1.0 / 40320.0)))));
  vec2 e = two_sum(0.5, rr.x * q);
  e = ff_mul_add(e, rr.x, 1.0);
  e = ff_mul_add(e, rr.x, 1.0);
  // The low part of r, to first order.
  precise float hi = e.x;
  precise float lo = e.y + rr.y * e.x;
  precise float res = hi + lo;
  return ldexp(res, int(k));
}

// sin and cos of r, |r| <= pi/4 (Taylor remainders below 2e-9).
float sin_poly(float r)
{
  float r2 = r * r;
  return r + r * r2 * (-1.0 / 6.0 + r2 * (1.0 / 120.0 + r2 * (-1.0 / 5040.0 + r2 * (1.0 / 362880.0))));
}

float cos_poly(float r)
{
  float r2 = r * r;
  return 1.0 + r2 * (-0.5 + r2 * (1.0 / 24.0 + r2 * (-1.0 / 720.0 + r2 * (1.0 / 40320.0 +
         r2 * (-1.0 / 3628800.0)))));
}

// sin (x) or, with cosine, cos (x).
float sin_cos(float x, bool cosine)
{
  const float P1 = 1.5703125;           // pi/2 in three parts, 12 bits
  const float P2 = 4.83751297e-04;      // for the first two
  const float P3 = 7.54979013e-08;
  float k = round(x * 0.636619772);
  precise float r = ((x - k * P1) - k * P2) - k * P3;
  uint quadrant = (uint(int(k)) + (cosine ? 1u : 0u)) & 3u;
  float s = (quadrant & 1u) == 0u ? sin_poly(r) : cos_poly(r);
  return quadrant >= 2u ? -s : s;
}

void main()
{
  uint i = drape_group_index() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
  if (i >= p.count)
    return;
  uint image = i / p.dim;
  uint j = i % p.dim;
  if (j >= 2 * p.half_dim)
    {
      o[p.o_off + i] = T(0.0); // an odd dim is padded with a zero
      return;
    }
  bool first = j < p.half_dim;
  uint k = first ? j : j - p.half_dim;
  precise float e = p.neg_log * float(k);
  float f = exp_rn(div_rn(e, p.denom));
  precise float arg = t[p.t_off + image] * f;
  o[p.o_off + i] = STORE(sin_cos(arg, first == (p.flip != 0u)));
}
