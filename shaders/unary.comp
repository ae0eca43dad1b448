#version 450
#extension GL_GOOGLE_include_directive : require
// Elementwise act (scale * x + shift).
#include "common.glsl"
#include "activation.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const uint ACT = 0; // DrapeActivation

layout(binding = 0) readonly buffer X { T x[]; };
layout(binding = 1) writeonly buffer O { T o[]; };

layout(push_constant) uniform Params {
  uint count; // elements in this dispatch
  uint x_off; // element offsets of the bound ranges
  uint o_off;
  float scale;
  float shift;
} p;

// Four consecutive elements per invocation: the activations are vector
// code.
void main()
{
  uint i = (drape_group_index() * gl_WorkGroupSize.x + gl_LocalInvocationID.x) * 4;
  if (i >= p.count)
    return;
  uint n = min(p.count - i, 4u);
  vec4 v = vec4(0.0);
  for (uint k = 0; k < n; k++)
    v[k] = float(x[p.x_off + i + k]);
  v = drape_activate(ACT, p.scale * v + p.shift);
  for (uint k = 0; k < n; k++)
    o[p.o_off + i + k] = STORE(v[k]);
}
