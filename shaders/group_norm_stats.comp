#version 450
#extension GL_GOOGLE_include_directive : require
// Group norm, pass 1 of 3: the mean and sum of squared deviations (M2) of
// one group over one chunk of an image's positions.  Many chunks per
// (image, group) keep a large GPU busy; each thread runs Welford's update
// and the workgroup merges threads with Chan's formula, so values with a
// large mean (100 + noise) lose nothing to cancellation.  Values are read
// VW at a time where the group's channels allow it.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const uint VW = 1; // values per load: 1, 2 or 4, dividing cpg

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
layout(binding = 1) writeonly buffer Partial { vec2 partial[]; }; // (mean, M2)

layout(push_constant) uniform Params {
  uint x_off;     // element offset of the band's first position in binding 0, a multiple of VW
  uint c;
  uint cpg;       // channels per group
  uint groups;
  uint hw;        // positions per image
  uint chunk;     // positions per chunk
  uint chunks;    // chunks per image
  uint first;     // n * chunks + k of the band's first chunk
  uint band_pos;  // n * hw + position of the band's first position
} p;

shared float s_count[gl_WorkGroupSize.x];
shared float s_mean[gl_WorkGroupSize.x];
shared float s_m2[gl_WorkGroupSize.x];

void main()
{
  uint t = gl_LocalInvocationID.x;
  uint id = p.first + drape_group_index();
  uint g = gl_WorkGroupID.z;
  uint n = id / p.chunks;
  uint k = id - n * p.chunks;
  uint pos0 = k * p.chunk;
  uint positions = min(p.chunk, p.hw - pos0);
  uint base = p.x_off + (n * p.hw + pos0 - p.band_pos) * p.c + g * p.cpg;
  uint vpg = p.cpg / VW; // loads per group and position
  uint count = positions * vpg;

  // Chan's update with each load's VW values as a batch (Welford's for
  // VW = 1).
  float cnt = 0.0, mean = 0.0, m2 = 0.0;
  for (uint j = t; j < count; j += gl_WorkGroupSize.x)
    {
      uint pos = j / vpg;
      uint at = base + pos * p.c + (j - pos * vpg) * VW;
      vec4 v;
      if (VW == 4)
        v = vec4(x4[at / 4]);
      else if (VW == 2)
        v = vec4(vec2(x2[at / 2]), 0.0, 0.0);
      else
        v = vec4(float(x[at]), 0.0, 0.0, 0.0);
      float mb = 0.0, m2b = 0.0;
      [[unroll]] for (uint i = 0; i < VW; i++)
        mb += v[i];
      mb /= float(VW);
      [[unroll]] for (uint i = 0; i < VW; i++)
        m2b += (v[i] - mb) * (v[i] - mb);
      float nn = cnt + float(VW);
      float delta = mb - mean;
      mean += delta * (float(VW) / nn);
      m2 += m2b + delta * delta * (cnt * float(VW) / nn);
      cnt = nn;
    }
  s_count[t] = cnt;
  s_mean[t] = mean;
  s_m2[t] = m2;
  barrier();

  for (uint off = gl_WorkGroupSize.x / 2; off > 0; off >>= 1)
    {
      if (t < off)
        {
          float na = s_count[t], nb = s_count[t + off];
          float nn = na + nb;
          if (nn > 0.0)
            {
              float delta = s_mean[t + off] - s_mean[t];
              s_mean[t] += delta * (nb / nn);
              s_m2[t] += s_m2[t + off] + delta * delta * (na * nb / nn);
              s_count[t] = nn;
            }
        }
      barrier();
    }
  if (t == 0)
    partial[(n * p.groups + g) * p.chunks + k] = vec2(s_mean[0], s_m2[0]);
}
