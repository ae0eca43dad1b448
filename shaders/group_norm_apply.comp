#version 450
#extension GL_GOOGLE_include_directive : require
// Group norm, pass 3 of 3: (x - mean) * scale + beta per (image,
// channel), then SiLU if asked.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const bool SILU = false;

layout(binding = 0) readonly buffer X { T x[]; };
layout(binding = 1) readonly buffer Affine { vec2 affine[]; }; // (mean, scale)
layout(binding = 2) readonly buffer Beta { T beta[]; };
layout(binding = 3) writeonly buffer O { T o[]; };

layout(push_constant) uniform Params {
  uint count;  // elements in this dispatch
  uint x_off;
  uint o_off;
  uint base;   // index of this dispatch's first element in the tensor
  uint c;
  uint hwc;
} p;

void main()
{
  uint i = drape_group_index() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
  if (i >= p.count)
    return;
  uint g = p.base + i;
  uint ch = g % p.c;
  vec2 a = affine[(g / p.hwc) * p.c + ch];
  float y = (float(x[p.x_off + i]) - a.x) * a.y + float(beta[ch]);
  if (SILU)
    y = y / (1.0 + exp(-y));
  o[p.o_off + i] = STORE(y);
}
