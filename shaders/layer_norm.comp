#version 450
#extension GL_GOOGLE_include_directive : require
// Layer norm over the channels of every position.  TPR threads share a
// row (one on a CPU device, where a cross-thread sum costs more than the
// row); each holds its share of the row, VW channels per load, in
// registers, so the two-pass statistics (the mean, then squared
// deviations from it) and the output read x once.  A thread walks RPT
// rows with its gamma and beta loaded once.
//
// DRAPE_LN_CHAIN: s = x + norm1 (x), then o = norm2 (s), with s stored
// too, from the same registers: a norm added to its own input and normed
// again reads x once instead of three times.  Both sums round to the
// storage type where two separate ops would have stored them.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const uint TPR = 1; // threads per row, a power of two
layout(constant_id = 4) const uint VW = 4;  // channels per load: 1, 2 or 4, dividing c
layout(constant_id = 5) const uint NV = 8;  // loads per thread and row: ceil (c / (VW * TPR))
layout(constant_id = 6) const uint RPT = 4; // rows per thread

const uint SLOTS = gl_WorkGroupSize.x / TPR; // rows a workgroup works on at once

#if DRAPE_F16
#define T2 f16vec2
#define T4 f16vec4
#else
#define T2 vec2
#define T4 vec4
#endif

layout(binding = 0) readonly buffer X { T x[]; };
layout(binding = 0) readonly buffer X2 { T2 x2[]; };
layout(binding = 0) readonly buffer X4 { T4 x4[]; };
layout(binding = 1) readonly buffer Gamma { T gamma[]; };
layout(binding = 2) readonly buffer Beta { T beta[]; };
layout(binding = 3) writeonly buffer O { T o[]; };
layout(binding = 3) writeonly buffer O2 { T2 o2[]; };
layout(binding = 3) writeonly buffer O4 { T4 o4[]; };
#if DRAPE_LN_CHAIN
layout(binding = 4) readonly buffer Gamma2 { T gamma2[]; };
layout(binding = 5) readonly buffer Beta2 { T beta2[]; };
layout(binding = 6) writeonly buffer S { T s[]; };
layout(binding = 6) writeonly buffer S2 { T2 s2[]; };
layout(binding = 6) writeonly buffer S4 { T4 s4[]; };
#endif

layout(push_constant) uniform Params {
  uint rows;   // rows in this dispatch
  uint x_off;  // element offsets, multiples of VW
  uint o_off;
  uint c;
  float eps;
  uint s_off;  // DRAPE_LN_CHAIN
} p;

shared float red[gl_WorkGroupSize.x];

// Sum of v over the TPR threads of this thread's row; every thread of the
// workgroup must call it.
float row_sum(float v, uint t, uint lane)
{
  if (TPR == 1)
    return v;
  red[t] = v;
  barrier();
  for (uint off = TPR / 2; off > 0; off >>= 1)
    {
      if (lane < off)
        red[t] += red[t + off];
      barrier();
    }
  float s = red[t - lane];
  barrier();
  return s;
}

vec4 load_vec(uint at)
{
  if (VW == 4)
    return vec4(x4[at / 4]);
  if (VW == 2)
    return vec4(vec2(x2[at / 2]), 0.0, 0.0);
  return vec4(float(x[at]), 0.0, 0.0, 0.0);
}

// The channels ch .. ch + VW - 1 of one of the affine parameters.
#define LOAD_PARAM(buf, ch, r)                  \
  [[unroll]] for (uint i_ = 0; i_ < VW; i_++)   \
    r[i_] = float(buf[(ch) + i_])

// Stores VW channels of val at element `at` of a row-major output.
#define STORE_VEC(buf, buf2, buf4, at, val)                                       \
  if (VW == 4)                                                                    \
    buf4[(at) / 4] = T4(STORE(val.x), STORE(val.y), STORE(val.z), STORE(val.w));  \
  else if (VW == 2)                                                               \
    buf2[(at) / 2] = T2(STORE(val.x), STORE(val.y));                              \
  else                                                                            \
    buf[at] = STORE(val.x)

// y as the storage type rounds it.
vec4 stored(vec4 y)
{
  return vec4(float(STORE(y.x)), float(STORE(y.y)), float(STORE(y.z)), float(STORE(y.w)));
}

// The mean and 1 / standard deviation of the row whose channels
// (lane + i * TPR) * VW + [0, VW) this thread holds in v, zero past c.
vec2 row_stats(vec4 v[NV], uint t, uint lane)
{
  float sum = 0.0;
  [[unroll]] for (uint i = 0; i < NV; i++)
    sum += v[i].x + v[i].y + v[i].z + v[i].w;
  float mean = row_sum(sum, t, lane) / float(p.c);

  float d = 0.0;
  [[unroll]] for (uint i = 0; i < NV; i++)
    {
      uint ch = (lane + i * TPR) * VW;
      if (ch < p.c)
        {
          vec4 e = v[i] - mean;
          if (VW < 4)
            e.w = 0.0;
          if (VW < 2)
            e.yz = vec2(0.0);
          d += dot(e, e);
        }
    }
  return vec2(mean, inversesqrt(row_sum(d, t, lane) / float(p.c) + p.eps));
}

void main()
{
  uint t = gl_LocalInvocationID.x;
  uint lane = t % TPR, slot = t / TPR;
  // This thread's channels: (lane + i * TPR) * VW + [0, VW).  g and b
  // are the output's norm; chained, g1 and b1 the first.
  vec4 g[NV], b[NV];
#if DRAPE_LN_CHAIN
  vec4 g1[NV], b1[NV];
#endif
  [[unroll]] for (uint i = 0; i < NV; i++)
    {
      uint ch = (lane + i * TPR) * VW;
      g[i] = b[i] = vec4(0.0);
#if DRAPE_LN_CHAIN
      g1[i] = b1[i] = vec4(0.0);
      if (ch < p.c)
        {
          LOAD_PARAM(gamma, ch, g1[i]);
          LOAD_PARAM(beta, ch, b1[i]);
          LOAD_PARAM(gamma2, ch, g[i]);
          LOAD_PARAM(beta2, ch, b[i]);
        }
#else
      if (ch < p.c)
        {
          LOAD_PARAM(gamma, ch, g[i]);
          LOAD_PARAM(beta, ch, b[i]);
        }
#endif
    }

  for (uint rr = 0; rr < RPT; rr++)
    {
      uint row = (drape_group_index() * RPT + rr) * SLOTS + slot;
      bool live = row < p.rows;
      vec4 v[NV];
      [[unroll]] for (uint i = 0; i < NV; i++)
        {
          uint ch = (lane + i * TPR) * VW;
          v[i] = live && ch < p.c ? load_vec(p.x_off + row * p.c + ch) : vec4(0.0);
        }
      vec2 st = row_stats(v, t, lane);

#if DRAPE_LN_CHAIN
      [[unroll]] for (uint i = 0; i < NV; i++)
        {
          uint ch = (lane + i * TPR) * VW;
          if (ch < p.c)
            v[i] = stored(v[i] + stored((v[i] - st.x) * st.y * g1[i] + b1[i]));
          if (live && ch < p.c)
            {
              STORE_VEC(s, s2, s4, p.s_off + row * p.c + ch, v[i]);
            }
        }
      st = row_stats(v, t, lane);
#endif

      if (live)
        [[unroll]] for (uint i = 0; i < NV; i++)
          {
            uint ch = (lane + i * TPR) * VW;
            if (ch >= p.c)
              continue;
            vec4 y = (v[i] - st.x) * st.y * g[i] + b[i];
            STORE_VEC(o, o2, o4, p.o_off + row * p.c + ch, y);
          }
    }
}
