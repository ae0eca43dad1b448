#version 450
#extension GL_GOOGLE_include_directive : require
// Elementwise a (+|*) b, with b broadcast over positions when it is a
// per-channel or per-(batch, channel) vector.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const uint OP = 0; // 0: alpha a + beta b, 1: alpha a b

layout(binding = 0) readonly buffer A { T a[]; };
layout(binding = 1) readonly buffer B { T b[]; };
layout(binding = 2) writeonly buffer O { T o[]; };

layout(push_constant) uniform Params {
  uint count;  // elements in this dispatch
  uint a_off;  // element offsets of the bound ranges
  uint b_off;
  uint o_off;
  uint base;   // index of this dispatch's first element in the tensor
  uint b_mode; // 0: same shape, 1: b is [c], 2: b is [n, c]
  uint c;
  uint hwc;
  float alpha;
  float beta;
} p;

void main()
{
  uint i = drape_group_index() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
  if (i >= p.count)
    return;
  uint g = p.base + i;
  uint bi = p.b_mode == 0 ? i : p.b_mode == 1 ? g % p.c : (g / p.hwc) * p.c + g % p.c;
  float x = float(a[p.a_off + i]);
  float y = float(b[p.b_off + bi]);
  float r = OP == 0 ? p.alpha * x + p.beta * y : p.alpha * x * y;
  o[p.o_off + i] = STORE(r);
}
