#version 450
#extension GL_GOOGLE_include_directive : require
// Softmax of x * scale over the channels of every position: the row's
// maximum, the sum of exp ((x - max) scale), then the output.  Variant
// f32_f16 reads f32 (attention scores) and stores f16.  TPR threads share a row (one on a
// CPU device), each holding its share, VW channels per load, in registers
// so that x is read once; a thread walks RPT rows.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const uint TPR = 1; // threads per row, a power of two
layout(constant_id = 4) const uint VW = 4;  // channels per load: 1, 2 or 4, dividing c
layout(constant_id = 5) const uint NV = 8;  // loads per thread and row: ceil (c / (VW * TPR))
layout(constant_id = 6) const uint RPT = 4; // rows per thread

const uint SLOTS = gl_WorkGroupSize.x / TPR; // rows a workgroup works on at once
const float LOWEST = -3.0e38;

#if DRAPE_F16
#define T2 f16vec2
#define T4 f16vec4
#else
#define T2 vec2
#define T4 vec4
#endif
#if SOFTMAX_SRC_F32
#define S float
#define S2 vec2
#define S4 vec4
#else
#define S T
#define S2 T2
#define S4 T4
#endif

layout(binding = 0) readonly buffer X { S x[]; };
layout(binding = 0) readonly buffer X2 { S2 x2[]; };
layout(binding = 0) readonly buffer X4 { S4 x4[]; };
layout(binding = 1) writeonly buffer O { T o[]; };
layout(binding = 1) writeonly buffer O2 { T2 o2[]; };
layout(binding = 1) writeonly buffer O4 { T4 o4[]; };

layout(push_constant) uniform Params {
  uint rows;   // rows in this dispatch
  uint x_off;  // element offsets, multiples of VW
  uint o_off;
  uint c;
  float scale;
} p;

shared float red[gl_WorkGroupSize.x];

// The maximum (or the sum) of v over the TPR threads of this thread's row;
// every thread of the workgroup must call it.
float row_reduce(float v, bool is_max, uint t, uint lane)
{
  if (TPR == 1)
    return v;
  red[t] = v;
  barrier();
  for (uint off = TPR / 2; off > 0; off >>= 1)
    {
      if (lane < off)
        red[t] = is_max ? max(red[t], red[t + off]) : red[t] + red[t + off];
      barrier();
    }
  float r = red[t - lane];
  barrier();
  return r;
}

vec4 load_vec(uint at)
{
  if (VW == 4)
    return vec4(x4[at / 4]);
  if (VW == 2)
    return vec4(vec2(x2[at / 2]), LOWEST, LOWEST);
  return vec4(float(x[at]), LOWEST, LOWEST, LOWEST);
}

void main()
{
  uint t = gl_LocalInvocationID.x;
  uint lane = t % TPR, slot = t / TPR;

  for (uint rr = 0; rr < RPT; rr++)
    {
      uint row = (drape_group_index() * RPT + rr) * SLOTS + slot;
      bool live = row < p.rows;
      // Channels (lane + i * TPR) * VW + [0, VW); padding reads as LOWEST,
      // whose exp is 0.
      vec4 v[NV];
      float m = LOWEST;
      [[unroll]] for (uint i = 0; i < NV; i++)
        {
          uint ch = (lane + i * TPR) * VW;
          v[i] = live && ch < p.c ? load_vec(p.x_off + row * p.c + ch) : vec4(LOWEST);
          m = max(m, max(max(v[i].x, v[i].y), max(v[i].z, v[i].w)));
        }
      m = row_reduce(m, true, t, lane);

      float s = 0.0;
      [[unroll]] for (uint i = 0; i < NV; i++)
        {
          v[i] = exp((v[i] - m) * p.scale);
          s += v[i].x + v[i].y + v[i].z + v[i].w;
        }
      float inv = 1.0 / row_reduce(s, false, t, lane);

      if (live)
        [[unroll]] for (uint i = 0; i < NV; i++)
          {
            uint ch = (lane + i * TPR) * VW;
            if (ch >= p.c)
              continue;
            vec4 y = v[i] * inv;
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
