#version 450
#extension GL_GOOGLE_include_directive : require
// Index of the largest channel of each position, as torch.argmax: the
// first of equal maxima wins, and NaN counts as the largest value.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

layout(binding = 0) readonly buffer X { T x[]; };
layout(binding = 1) writeonly buffer O { float o[]; };

layout(push_constant) uniform Params {
  uint count; // positions in this dispatch
  uint c;
  uint x_off, o_off;
} p;

void main()
{
  uint i = drape_group_index() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
  if (i >= p.count)
    return;
  uint base = p.x_off + i * p.c;
  float best = float(x[base]);
  uint index = 0;
  for (uint ch = 1; ch < p.c && !isnan(best); ch++)
    {
      float v = float(x[base + ch]);
      if (v > best || isnan(v))
        {
          best = v;
          index = ch;
        }
    }
  o[p.o_off + i] = float(index);
}
