#version 450
#extension GL_GOOGLE_include_directive : require
// Group norm, pass 1 of 3: the mean and sum of squared deviations (M2) of
// one group over one chunk of an image's positions.  Many chunks per
// (image, group) keep a large GPU busy; each thread runs Welford's update
// and the workgroup merges threads with Chan's formula, so values with a
// large mean (100 + noise) lose nothing to cancellation.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

layout(binding = 0) readonly buffer X { T x[]; };
layout(binding = 1) writeonly buffer Partial { vec2 partial[]; }; // (mean, M2)

layout(push_constant) uniform Params {
  uint x_off;     // element offset of the band's first position in binding 0
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
  uint count = positions * p.cpg;

  float cnt = 0.0, mean = 0.0, m2 = 0.0;
  for (uint j = t; j < count; j += gl_WorkGroupSize.x)
    {
      uint pos = j / p.cpg;
      float v = float(x[base + pos * p.c + (j - pos * p.cpg)]);
      cnt += 1.0;
      float delta = v - mean;
      mean += delta / cnt;
      m2 += delta * (v - mean);
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
