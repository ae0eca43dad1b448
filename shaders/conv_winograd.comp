#version 450
#extension GL_GOOGLE_include_directive : require
// A 3x3 convolution of stride 1 as Winograd's F(2x2, 3x3): each 2x2 tile
// of the output is A^T [(G g G^T) * (B^T d B)] A for its 4x4 input patch
// d and each 3x3 kernel g, so that the sums over input channels are 16
// GEMMs (of the tiles' transformed patches against the transformed
// kernels: 16 multiplies per tile where a direct convolution takes 36).
// The GEMMs are conv2d's (a 1x1 convolution in 16 groups); this file has
// the three stages around them, STAGE picks one:
//   0  the kernels: w [cout, 3, 3, cin] -> U [16, cout, cin];
//   1  the input's patches: x -> V [tiles, 16, cin];
//   2  the GEMMs' products M [tiles, 16, cout] (bound as x) back to the
//      output's 2x2 tiles, through the convolution's epilogue.
// Element g = 4 i + j of a transform is its row i, column j.  Channels
// go four to an invocation (the host asks for multiples of 4).
//
// Stages 1 and 2 cover the output pixels conv_common.glsl's geometry
// gives a dispatch (rows of images, or a band of rows of one image), in
// tiles from its first row: ceil (rows / 2) x ceil (ow / 2) to an image.
// A tile's output past the band or the image is computed from whatever
// its patch holds (input rows outside the bound band read as 0) and never
// stored.
#include "common.glsl"
#include "conv_common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

// CPU drivers gather a vector from a texel buffer, where a storage
// buffer's load is a loop over the lanes: x (or M) and the weights are
// read that way in the DRAPE_TEXEL variants.
#if DRAPE_TEXEL
layout(binding = 0) uniform samplerBuffer x_tex;
layout(binding = 1) uniform samplerBuffer w_tex;
#define LOAD_X4(i) texelFetch(x_tex, int((i) >> 2))
#define LOAD_W4(i) texelFetch(w_tex, int((i) >> 2))
#else
#define LOAD_X4(i) vec4(x4[(i) >> 2])
#define LOAD_W4(i) vec4(w4[(i) >> 2])
#endif
layout(constant_id = 3) const uint STAGE = 0;

// A tile's column and row in its image, and its image in the dispatch.
void tile_place(uint t, out uint img, out uint ty, out uint tx)
{
  const uint tw = (p.ow + 1u) / 2u;
  const uint per_img = (p.rows + 1u) / 2u * tw;

  img = t / per_img;
  t -= img * per_img;
  ty = t / tw;
  tx = t - ty * tw;
}

uint tiles()
{
  return p.m / (p.rows * p.ow) * ((p.rows + 1u) / 2u) * ((p.ow + 1u) / 2u);
}

void transform_weights(uint i)
{
  const uint quads = p.cin / 4u;
  const uint co = i / quads;
  const uint ci = (i - co * quads) * 4u;
  vec4 g[9], h[12];

  if (co >= p.cout)
    return;
  [[unroll]] for (uint k = 0; k < 9u; k++)
    g[k] = LOAD_W4(p.w_off + (co * 9u + k) * p.cin + ci);
  // G g: rows g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2 of each column.
  [[unroll]] for (uint c = 0; c < 3u; c++)
    {
      h[c] = g[c];
      h[3u + c] = 0.5 * (g[c] + g[3u + c] + g[6u + c]);
      h[6u + c] = 0.5 * (g[c] - g[3u + c] + g[6u + c]);
      h[9u + c] = g[6u + c];
    }
  // (G g) G^T: the same along each row.
  [[unroll]] for (uint r = 0; r < 4u; r++)
    {
      vec4 u[4] = {
        h[3u * r],
        0.5 * (h[3u * r] + h[3u * r + 1u] + h[3u * r + 2u]),
        0.5 * (h[3u * r] - h[3u * r + 1u] + h[3u * r + 2u]),
        h[3u * r + 2u],
      };
      [[unroll]] for (uint c = 0; c < 4u; c++)
        o4[(p.o_off + ((4u * r + c) * p.cout + co) * p.cin + ci) >> 2] = T4(u[c]);
    }
}

void transform_input(uint i)
{
  const uint quads = p.cin / 4u;
  const uint t = i / quads;
  const uint ci = (i - t * quads) * 4u;
  uint img, ty, tx;
  vec4 d[16], e[16];

  if (t >= tiles())
    return;
  tile_place(t, img, ty, tx);
  const int iy0 = int(p.oy0 + 2u * ty) - int(p.pad_t);
  const int ix0 = int(2u * tx) - int(p.pad_l);
  [[unroll]] for (uint r = 0; r < 4u; r++)
    {
      const int iy = iy0 + int(r);
      const bool row_ok = uint(iy) < p.in_h && uint(iy - int(p.iy_lo)) < p.in_rows;
      const int row = (int(img * p.in_rows) + iy - int(p.iy_lo)) * int(p.in_w);
      [[unroll]] for (uint c = 0; c < 4u; c++)
        {
          const int ix = ix0 + int(c);
          const bool ok = row_ok && uint(ix) < p.in_w;
          const uint idx = ok ? uint((row + ix) * int(p.cin)) + p.x_off + ci : p.x_off;
          d[4u * r + c] = ok ? LOAD_X4(idx) : vec4(0.0);
        }
    }
  // B^T d: rows d0 - d2, d1 + d2, d2 - d1, d1 - d3 of each column.
  [[unroll]] for (uint c = 0; c < 4u; c++)
    {
      e[c] = d[c] - d[8u + c];
      e[4u + c] = d[4u + c] + d[8u + c];
      e[8u + c] = d[8u + c] - d[4u + c];
      e[12u + c] = d[4u + c] - d[12u + c];
    }
  // (B^T d) B: the same along each row.
  const uint base = p.o_off + t * 16u * p.cin + ci;
  [[unroll]] for (uint r = 0; r < 4u; r++)
    {
      vec4 v[4] = {
        e[4u * r] - e[4u * r + 2u],
        e[4u * r + 1u] + e[4u * r + 2u],
        e[4u * r + 2u] - e[4u * r + 1u],
        e[4u * r + 1u] - e[4u * r + 3u],
      };
      [[unroll]] for (uint c = 0; c < 4u; c++)
        o4[(base + (4u * r + c) * p.cin) >> 2] = T4(v[c]);
    }
}

void transform_output(uint i)
{
  const uint quads = p.ncols / 4u;
  const uint t = i / quads;
  const uint ch = (i - t * quads) * 4u;
  uint img, ty, tx;
  vec4 m[16], a[8];

  if (t >= tiles())
    return;
  tile_place(t, img, ty, tx);
  const uint base = p.x_off + t * 16u * p.cout + ch;
  [[unroll]] for (uint g = 0; g < 16u; g++)
    m[g] = LOAD_X4(base + g * p.cout);
  // A^T m: rows m0 + m1 + m2, m1 - m2 - m3 of each column.
  [[unroll]] for (uint c = 0; c < 4u; c++)
    {
      a[c] = m[c] + m[4u + c] + m[8u + c];
      a[4u + c] = m[4u + c] - m[8u + c] - m[12u + c];
    }
  const vec4 b = conv_bias(ch, 4u, true);
  [[unroll]] for (uint r = 0; r < 2u; r++)
    {
      const uint oy = 2u * ty + r;
      vec4 y[2] = {
        a[4u * r] + a[4u * r + 1u] + a[4u * r + 2u],
        a[4u * r + 1u] - a[4u * r + 2u] - a[4u * r + 3u],
      };
      if (oy >= p.rows)
        break;
      [[unroll]] for (uint c = 0; c < 2u; c++)
        {
          const uint ox = 2u * tx + c;
          if (ox < p.ow)
            conv_store((img * p.rows + oy) * p.ow + ox, ch, y[c] + b, 4u, true);
        }
    }
}

void main()
{
  const uint i = drape_group_index() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;

  if (STAGE == 0u)
    transform_weights(i);
  else if (STAGE == 1u)
    transform_input(i);
  else
    transform_output(i);
}
