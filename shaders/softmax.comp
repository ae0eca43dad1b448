#version 450
#extension GL_GOOGLE_include_directive : require
// Softmax over the channels of every position: the row's maximum, then the
// sum of exp (x - max), then the output; TPR threads per row.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const uint TPR = 64; // threads per row, a power of two

layout(binding = 0) readonly buffer X { T x[]; };
layout(binding = 1) writeonly buffer O { T o[]; };

layout(push_constant) uniform Params {
  uint rows;   // rows in this dispatch
  uint x_off;
  uint o_off;
  uint c;
} p;

shared float red[gl_WorkGroupSize.x];

void main()
{
  uint t = gl_LocalInvocationID.x;
  uint lane = t % TPR;
  uint row = drape_group_index() * (gl_WorkGroupSize.x / TPR) + t / TPR;
  bool live = row < p.rows;
  uint xb = p.x_off + row * p.c;

  float m = -3.0e38;
  if (live)
    for (uint i = lane; i < p.c; i += TPR)
      m = max(m, float(x[xb + i]));
  red[t] = m;
  barrier();
  for (uint off = TPR / 2; off > 0; off >>= 1)
    {
      if (lane < off)
        red[t] = max(red[t], red[t + off]);
      barrier();
    }
  m = red[t - lane];
  barrier();

  float s = 0.0;
  if (live)
    for (uint i = lane; i < p.c; i += TPR)
      s += exp(float(x[xb + i]) - m);
  red[t] = s;
  barrier();
  for (uint off = TPR / 2; off > 0; off >>= 1)
    {
      if (lane < off)
        red[t] += red[t + off];
      barrier();
    }
  float inv = 1.0 / red[t - lane];

  if (live)
    for (uint i = lane; i < p.c; i += TPR)
      o[p.o_off + row * p.c + i] = STORE(exp(float(x[xb + i]) - m) * inv);
}
