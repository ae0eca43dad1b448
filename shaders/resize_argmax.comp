#version 450
#extension GL_GOOGLE_include_directive : require
// The index of the largest channel of x resized bilinearly (align_corners
// false, PyTorch's arithmetic) to the output's size, as f32.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

layout(binding = 0) readonly buffer X { T x[]; };
layout(binding = 1) writeonly buffer O { float o[]; };

layout(push_constant) uniform Params {
  uint count;
  uint o_off;
  uint row0;   // first output row (over n * out_h) of this dispatch
  uint in_h;
  uint in_w;
  uint c;
  uint out_h;
  uint out_w;
  float scale_h;
  float scale_w;
} p;

// Source index and weight of the second tap; no FMA contraction, so the
// coordinates round as PyTorch's do.
void taps(uint dst, float scale, uint size, out uint i0, out uint i1, out float l1)
{
  precise float src = scale * (float(dst) + 0.5) - 0.5;
  src = max(src, 0.0);
  i0 = uint(src);
  i1 = i0 + (i0 < size - 1 ? 1 : 0);
  l1 = src - float(i0);
}

void main()
{
  uint i = drape_group_index() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
  if (i >= p.count)
    return;
  uint r = p.row0 + i / p.out_w;
  uint ox = i % p.out_w;
  uint b = r / p.out_h;
  uint oy = r % p.out_h;
  uint y0, y1, x0, x1;
  float ly, lx;
  taps(oy, p.scale_h, p.in_h, y0, y1, ly);
  taps(ox, p.scale_w, p.in_w, x0, x1, lx);
  uint base = b * p.in_h * p.in_w;
  uint p00 = (base + y0 * p.in_w + x0) * p.c;
  uint p01 = (base + y0 * p.in_w + x1) * p.c;
  uint p10 = (base + y1 * p.in_w + x0) * p.c;
  uint p11 = (base + y1 * p.in_w + x1) * p.c;
  float best = 0.0;
  uint arg = 0;
  for (uint ch = 0; ch < p.c; ch++)
    {
      float top = (1.0 - lx) * float(x[p00 + ch]) + lx * float(x[p01 + ch]);
      float bottom = (1.0 - lx) * float(x[p10 + ch]) + lx * float(x[p11 + ch]);
      float v = (1.0 - ly) * top + ly * bottom;
      if (ch == 0 || v > best)
        {
          best = v;
          arg = ch;
        }
    }
  o[p.o_off + i] = float(arg);
}
