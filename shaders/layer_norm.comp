#version 450
#extension GL_GOOGLE_include_directive : require
// Layer norm over the channels of every position.  TPR threads share a
// row (one on a CPU device, where a cross-thread sum costs more than the
// row); each holds its share of the row, VW channels per load, in
// registers, so the two-pass statistics (the mean, then squared
// deviations from it) and the output read x once.  A thread walks RPT
// rows with its gamma and beta loaded once.
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

layout(push_constant) uniform Params {
  uint rows;   // rows in this dispatch
  uint x_off;  // element offsets, multiples of VW
  uint o_off;
  uint c;
  float eps;
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

vec4 load_param(bool is_gamma, uint ch)
{
  vec4 r = vec4(0.0);
  [[unroll]] for (uint i = 0; i < VW; i++)
    r[i] = is_gamma ? float(gamma[ch + i]) : float(beta[ch + i]);
  return r;
}

void main()
{
  uint t = gl_LocalInvocationID.x;
  uint lane = t % TPR, slot = t / TPR;
  // This thread's channels: (lane + i * TPR) * VW + [0, VW).
  vec4 g[NV], b[NV];
  [[unroll]] for (uint i = 0; i < NV; i++)
    {
      uint ch = (lane + i * TPR) * VW;
      g[i] = ch < p.c ? load_param(true, ch) : vec4(0.0);
      b[i] = ch < p.c ? load_param(false, ch) : vec4(0.0);
    }

  for (uint rr = 0; rr < RPT; rr++)
    {
      uint row = (drape_group_index() * RPT + rr) * SLOTS + slot;
      bool live = row < p.rows;
      vec4 v[NV];
      float s = 0.0;
      [[unroll]] for (uint i = 0; i < NV; i++)
        {
          uint ch = (lane + i * TPR) * VW;
          v[i] = live && ch < p.c ? load_vec(p.x_off + row * p.c + ch) : vec4(0.0);
          s += v[i].x + v[i].y + v[i].z + v[i].w;
        }
      float mean = row_sum(s, t, lane) / float(p.c);

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
      float rstd = inversesqrt(row_sum(d, t, lane) / float(p.c) + p.eps);

      if (live)
        [[unroll]] for (uint i = 0; i < NV; i++)
          {
            uint ch = (lane + i * TPR) * VW;
            if (ch >= p.c)
              continue;
            vec4 y = (v[i] - mean) * rstd * g[i] + b[i];
            uint at = p.o_off + row * p.c + ch;
            if (VW == 4)
              o4[at / 4] = T4(STORE(y.x), STORE(y.y), STORE(y.z), STORE(y.w));
            else if (VW == 2)
              o2[at / 2] = T2(STORE(y.x), STORE(y.y));
            else
              o[at] = STORE(y.x);
          }
    }
}
