#version 450
#extension GL_GOOGLE_include_directive : require
// Nearest (PyTorch's legacy rule, src = floor (dst * scale) in float) or
// bilinear (align_corners false: half-pixel centres, source index clamped
// at 0) resampling of a tile of the output.  The bound input window holds
// the source rows iy0..iy1 and columns ix0..ix1 the host computed for the
// tile with the same float maths; indices are clamped into it, which
// could only matter where a GPU's rounding put a bilinear source index a
// hair across an integer (the blend is continuous there).
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const uint MODE = 0; // 0: nearest, 1: bilinear

layout(binding = 0) readonly buffer X { T x[]; };
layout(binding = 1) writeonly buffer O { T o[]; };

layout(push_constant) uniform Params {
  uint count;             // elements in the tile
  uint th, tw, tc;        // tile size (images follow from count)
  uint in_h, in_w, out_h, out_w;
  uint y0, x0;            // tile origin in the output
  uint iy0, iy1, ix0, ix1; // input window
  uint x_off, o_off;      // alignment slack of the bound ranges
  uint c;                 // channels of both tensors
  uint x_img, o_img;      // elements per image
  float scale_h, scale_w; // in / out, in float as PyTorch
} p;

// PyTorch computes the source coordinate in float and truncates it.
void source(float scale, uint dst, uint size, out uint i0, out uint i1, out float l1)
{
  float real = max(scale * (float(dst) + 0.5) - 0.5, 0.0);
  i0 = min(uint(real), size - 1);
  i1 = i0 < size - 1 ? i0 + 1 : i0;
  l1 = clamp(real - float(i0), 0.0, 1.0);
}

void main()
{
  uint i = drape_group_index() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
  if (i >= p.count)
    return;
  uint cc = i % p.tc;
  uint r = i / p.tc;
  uint tx = r % p.tw;
  r /= p.tw;
  uint ty = r % p.th;
  uint n = r / p.th;
  uint gy = p.y0 + ty;
  uint gx = p.x0 + tx;
  uint base = p.x_off + n * p.x_img + cc;
  uint row = p.in_w * p.c;
  float v;

  if (MODE == 0)
    {
      uint sy = clamp(uint(floor(float(gy) * p.scale_h)), p.iy0, p.iy1);
      uint sx = clamp(uint(floor(float(gx) * p.scale_w)), p.ix0, p.ix1);
      v = float(x[base + (sy - p.iy0) * row + (sx - p.ix0) * p.c]);
    }
  else
    {
      uint ya, yb, xa, xb;
      float ly, lx;
      source(p.scale_h, gy, p.in_h, ya, yb, ly);
      source(p.scale_w, gx, p.in_w, xa, xb, lx);
      ya = clamp(ya, p.iy0, p.iy1) - p.iy0;
      yb = clamp(yb, p.iy0, p.iy1) - p.iy0;
      xa = clamp(xa, p.ix0, p.ix1) - p.ix0;
      xb = clamp(xb, p.ix0, p.ix1) - p.ix0;
      float v00 = float(x[base + ya * row + xa * p.c]);
      float v01 = float(x[base + ya * row + xb * p.c]);
      float v10 = float(x[base + yb * row + xa * p.c]);
      float v11 = float(x[base + yb * row + xb * p.c]);
      v = (1.0 - ly) * ((1.0 - lx) * v00 + lx * v01) + ly * ((1.0 - lx) * v10 + lx * v11);
    }
  o[p.o_off + n * p.o_img + (ty * p.out_w + tx) * p.c + cc] = STORE(v);
}
