#version 450
#extension GL_GOOGLE_include_directive : require
// Layer norm over the channels of every position.  A workgroup holds
// several rows, TPR threads each; the statistics take two passes over the
// row (the mean, then squared deviations from it), the second and the
// output pass reading from cache.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const uint TPR = 64; // threads per row, a power of two

layout(binding = 0) readonly buffer X { T x[]; };
layout(binding = 1) readonly buffer Gamma { T gamma[]; };
layout(binding = 2) readonly buffer Beta { T beta[]; };
layout(binding = 3) writeonly buffer O { T o[]; };

layout(push_constant) uniform Params {
  uint rows;   // rows in this dispatch
  uint x_off;
  uint o_off;
  uint c;
  float eps;
} p;

shared float red[gl_WorkGroupSize.x];

// Sum of v over the TPR threads of this thread's row; every thread of the
// workgroup must call it.
float row_sum(float v, uint t, uint lane)
{
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

void main()
{
  uint t = gl_LocalInvocationID.x;
  uint lane = t % TPR;
  uint row = drape_group_index() * (gl_WorkGroupSize.x / TPR) + t / TPR;
  bool live = row < p.rows;
  uint xb = p.x_off + row * p.c;

  float s = 0.0;
  if (live)
    for (uint i = lane; i < p.c; i += TPR)
      s += float(x[xb + i]);
  float mean = row_sum(s, t, lane) / float(p.c);

  float d = 0.0;
  if (live)
    for (uint i = lane; i < p.c; i += TPR)
      {
        float v = float(x[xb + i]) - mean;
        d += v * v;
      }
  float rstd = inversesqrt(row_sum(d, t, lane) / float(p.c) + p.eps);

  if (live)
    for (uint i = lane; i < p.c; i += TPR)
      o[p.o_off + row * p.c + i] =
        STORE((float(x[xb + i]) - mean) * rstd * float(gamma[i]) + float(beta[i]));
}
