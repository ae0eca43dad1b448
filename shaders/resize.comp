#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_samplerless_texture_functions : enable
// Nearest (PyTorch's legacy rule, src = floor (dst * scale) in float) or
// bilinear (align_corners false: half-pixel centres, source index clamped
// at 0) resampling of a tile of the output, optionally added to a
// residual of the output's shape and passed through an activation
// (act (resized + residual)).  The bound input window holds the source
// rows iy0..iy1 and columns ix0..ix1 the host computed for the tile with
// the same float maths; indices are clamped into it, which could only
// matter where a GPU's rounding put a bilinear source index a hair across
// an integer (the blend is continuous there).
//
// With VEC4 an invocation takes 4 neighbouring channels (every channel
// count, tile and offset then a multiple of 4): the same index maths and
// blend for 4 values, and on CPU drivers, where each access to a buffer
// is a loop over the SIMD lanes, a quarter of the loops.  The DRAPE_TEXEL
// variants (CPU drivers, VEC4 only) read x and the residual through
// texel buffers of 4 channels, which CPU drivers fetch with vector
// gathers, and store 64-bit values where STORE64 (store64.glsl).
#include "common.glsl"
#include "activation.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const uint MODE = 0;        // 0: nearest, 1: bilinear
layout(constant_id = 4) const bool VEC4 = false;
layout(constant_id = 5) const bool RESIDUAL = false;
layout(constant_id = 6) const uint ACT = DRAPE_ACT_NONE;
layout(constant_id = 7) const bool STORE64 = true;

#if DRAPE_F16
#define T4 f16vec4
#else
#define T4 vec4
#endif
#if DRAPE_TEXEL
#include "store64.glsl"
layout(binding = 0) uniform textureBuffer x_tex;
layout(binding = 2) uniform textureBuffer r_tex;
layout(binding = 1) writeonly buffer O64 { DRAPE_WORDS4 o64[]; };
#define LOAD_X(i) texelFetch(x_tex, int((i) >> 2))[(i) & 3u]
#define LOAD_X4(q) texelFetch(x_tex, int(q))
#define LOAD_R(i) texelFetch(r_tex, int((i) >> 2))[(i) & 3u]
#define LOAD_R4(q) texelFetch(r_tex, int(q))
#else
layout(binding = 0) readonly buffer X { T x[]; };
layout(binding = 0) readonly buffer X4 { T4 x4[]; };
layout(binding = 2) readonly buffer R { T r[]; };
layout(binding = 2) readonly buffer R4 { T4 r4[]; };
#define LOAD_X(i) float(x[i])
#define LOAD_X4(q) vec4(x4[q])
#define LOAD_R(i) float(r[i])
#define LOAD_R4(q) vec4(r4[q])
#endif
layout(binding = 1) writeonly buffer O { T o[]; };
layout(binding = 1) writeonly buffer O4 { T4 o4[]; };

layout(push_constant) uniform Params {
  uint count;             // invocations' work in the tile: elements, or vec4s with VEC4
  uint th, tw, tc;        // tile size in elements (images follow from count)
  uint in_h, in_w, out_h, out_w;
  uint y0, x0;            // tile origin in the output
  uint iy0, iy1, ix0, ix1; // input window
  uint x_off, o_off, r_off; // alignment slack of the bound ranges
  uint c;                 // channels of both tensors
  uint x_img, o_img;      // elements per image (the residual's are the output's)
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

// Channels cc.. of input element (row sy, column sx of the window) past base.
vec4 load(uint base, uint sy, uint sx)
{
  uint i = base + sy * p.in_w * p.c + sx * p.c;
  return VEC4 ? LOAD_X4(i / 4) : vec4(LOAD_X(i), 0.0, 0.0, 0.0);
}

void main()
{
  uint i = drape_group_index() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
  if (i >= p.count)
    return;
  uint lanes = VEC4 ? p.tc / 4 : p.tc;
  uint cc = (i % lanes) * (VEC4 ? 4 : 1);
  uint rest = i / lanes;
  uint tx = rest % p.tw;
  rest /= p.tw;
  uint ty = rest % p.th;
  uint n = rest / p.th;
  uint gy = p.y0 + ty;
  uint gx = p.x0 + tx;
  uint base = p.x_off + n * p.x_img + cc;
  uint at = n * p.o_img + (ty * p.out_w + tx) * p.c + cc;
  vec4 v;

  if (MODE == 0)
    {
      uint sy = clamp(uint(floor(float(gy) * p.scale_h)), p.iy0, p.iy1);
      uint sx = clamp(uint(floor(float(gx) * p.scale_w)), p.ix0, p.ix1);
      v = load(base, sy - p.iy0, sx - p.ix0);
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
      v = (1.0 - ly) * ((1.0 - lx) * load(base, ya, xa) + lx * load(base, ya, xb)) +
          ly * ((1.0 - lx) * load(base, yb, xa) + lx * load(base, yb, xb));
    }
  if (RESIDUAL)
    v += VEC4 ? LOAD_R4((p.r_off + at) / 4) : vec4(LOAD_R(p.r_off + at), 0.0, 0.0, 0.0);
  v = drape_activate(ACT, v);
#if DRAPE_F16
  v = clamp(v, -65504.0, 65504.0);
#endif
#if DRAPE_TEXEL
  if (VEC4 && STORE64)
    {
      o64[(p.o_off + at) / 4] = drape_words4(v);
      return;
    }
#endif
  if (VEC4)
    o4[(p.o_off + at) / 4] = T4(v);
  else
    o[p.o_off + at] = T(v.x);
}
