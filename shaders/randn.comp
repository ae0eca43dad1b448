#version 450
#extension GL_GOOGLE_include_directive : require
// Standard normals: Philox4x32-10 blocks through Box-Muller, four normals
// per invocation.  compute/rng.c computes the same sequence (see rng.h).
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

// Raw words, whatever dtype the host tensor claims: seed lo, seed hi,
// stream lo, stream hi.
layout(binding = 0) readonly buffer Key { uint key[]; };
layout(binding = 1) writeonly buffer O { T o[]; };

layout(push_constant) uniform Params {
  uint count;  // elements in this dispatch, from a block boundary
  uint o_off;  // element offset of the bound range
  uint block0; // stream block of this dispatch's first element
} p;

uvec4 philox(uvec4 c, uvec2 k)
{
  [[unroll]] for (int round = 0; round < 10; round++)
    {
      uint hi0, lo0, hi1, lo1;
      umulExtended(0xD2511F53u, c.x, hi0, lo0);
      umulExtended(0xCD9E8D57u, c.z, hi1, lo1);
      c = uvec4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
      k += uvec2(0x9E3779B9u, 0xBB67AE85u);
    }
  return c;
}

vec2 box_muller(uint x, uint y)
{
  float u = (float(x >> 8) + 0.5) * (1.0 / 16777216.0);
  float t = (float(y >> 8) - 8388607.5) * (1.0 / 8388608.0);
  float theta = 3.14159265358979 * t;
  float r = sqrt(-2.0 * log(u));
  return r * vec2(cos(theta), sin(theta));
}

void main()
{
  uint b = drape_group_index() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
  uint first = 4 * b;
  if (first >= p.count)
    return;
  uvec4 x = philox(uvec4(p.block0 + b, 0u, key[2], key[3]), uvec2(key[0], key[1]));
  vec2 z01 = box_muller(x.x, x.y);
  vec2 z23 = box_muller(x.z, x.w);
  float z[4] = float[4](z01.x, z01.y, z23.x, z23.y);
  [[unroll]] for (uint j = 0; j < 4; j++)
    if (first + j < p.count)
      o[p.o_off + first + j] = STORE(z[j]);
}
