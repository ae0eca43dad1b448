#version 450
#extension GL_GOOGLE_include_directive : require
// A sample of a diagonal Gaussian given as [mean | logvar] channels:
// scale * (mean + exp(0.5 * clamp(logvar, -30, 20)) * eps).
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const uint HAS_EPS = 1; // 0: the mean

layout(binding = 0) readonly buffer M { T m[]; };
layout(binding = 1) readonly buffer E { float e[]; };
layout(binding = 2) writeonly buffer O { float o[]; };

layout(push_constant) uniform Params {
  uint count; // output elements in this dispatch (whole positions)
  uint m_off; // element offsets of the bound ranges
  uint e_off;
  uint o_off;
  uint c;     // output channels; moments have 2c
  float scale;
} p;

void main()
{
  uint i = drape_group_index() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
  if (i >= p.count)
    return;
  uint pos = i / p.c;
  uint ch = i - pos * p.c;
  uint mi = p.m_off + pos * 2 * p.c + ch;
  float mean = float(m[mi]);
  float x = mean;
  if (HAS_EPS != 0)
    {
      float logvar = clamp(float(m[mi + p.c]), -30.0, 20.0);
      x = mean + exp(0.5 * logvar) * e[p.e_off + i];
    }
  o[p.o_off + i] = p.scale * x;
}
