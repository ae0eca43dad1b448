#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_samplerless_texture_functions : enable
// Depthwise convolution (groups == cin == cout): a direct kernel.  Each
// invocation computes PX neighbouring output pixels of a row for CV
// channels (4 when the channels allow aligned vector loads), so each
// weight it loads serves PX pixels.  Weights are [c, kh, kw, 1].
//
// The DRAPE_TEXEL variants (CPU drivers, VEC4 only) read x and the
// weights through texel buffers of 4 channels, which CPU drivers fetch
// with vector gathers instead of a loop over the SIMD lanes, and store
// 64-bit values (conv_store4).
#include "common.glsl"

// The texel variants' 64-bit stores (conv_common.glsl).
layout(constant_id = 5) const bool STORE64 = true;
#define CONV_STORE64 STORE64
#include "conv_common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const uint PX = 4;
layout(constant_id = 4) const bool VEC4 = false;

#if DRAPE_TEXEL
layout(binding = 0) uniform textureBuffer x_tex;
layout(binding = 1) uniform textureBuffer w_tex;
#define LOAD_X(i) texelFetch(x_tex, int((i) >> 2))[(i) & 3u]
#define LOAD_X4(q) texelFetch(x_tex, int(q))
#define LOAD_W(i) texelFetch(w_tex, int((i) >> 2))[(i) & 3u]
#else
#define LOAD_X(i) float(x[i])
#define LOAD_X4(q) vec4(x4[q])
#define LOAD_W(i) float(w[i])
#endif

void main()
{
  const uint CV = VEC4 ? 4u : 1u;
  const uint nq = (p.ncols + CV - 1) / CV;  // channel vectors in this dispatch
  const uint owb = (p.ow + PX - 1) / PX;
  const uint i = drape_group_index() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
  const uint q = i % nq;
  const uint pb = i / nq;
  const uint t = pb / owb;                 // output row within the dispatch
  const uint ox0 = (pb - t * owb) * PX;
  const uint ch = q * CV;                  // first channel, relative to the dispatch
  const uint kk = p.kh * p.kw;
  int base, iy0, ix0;
  vec4 acc[PX];

  if (t * p.ow >= p.m)
    return;
  conv_pixel(t * p.ow + ox0, base, iy0, ix0);
  base += int(p.g0 + ch);
  {
    vec4 b = conv_bias(ch, min(CV, p.ncols - ch), VEC4);
    [[unroll]] for (uint px = 0; px < PX; px++)
      acc[px] = b;
  }

  for (uint ky = 0; ky < p.kh; ky++)
    {
      int iy = iy0 + int(ky);
      if (uint(iy) >= p.in_h)
        continue;
      for (uint kx = 0; kx < p.kw; kx++)
        {
          uint widx = p.w_off + ch * kk + ky * p.kw + kx;
          vec4 wv;

          if (VEC4)
            wv = vec4(LOAD_W(widx), LOAD_W(widx + kk), LOAD_W(widx + 2 * kk), LOAD_W(widx + 3 * kk));
          else
            wv = vec4(LOAD_W(widx), 0.0, 0.0, 0.0);
          [[unroll]] for (uint px = 0; px < PX; px++)
            {
              int ix = ix0 + int(px * p.stride + kx);
              bool ok = conv_inside(iy, ix);
              uint idx = ok ? uint(base + (int(ky) * int(p.in_w) + int(px * p.stride + kx)) * int(p.cin))
                            : p.x_off;
              if (VEC4)
                {
                  vec4 v = LOAD_X4(idx >> 2);
                  acc[px] = fma(ok ? v : vec4(0.0), wv, acc[px]);
                }
              else
                {
                  float v = LOAD_X(idx);
                  acc[px].x = fma(ok ? v : 0.0, wv.x, acc[px].x);
                }
            }
        }
    }

  [[unroll]] for (uint px = 0; px < PX; px++)
    {
      uint ox = ox0 + px;
      if (ox >= p.ow)
        break;
      conv_store(t * p.ow + ox, ch, acc[px], min(CV, p.ncols - ch), VEC4);
    }
}
