#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_samplerless_texture_functions : enable
// A 3x3 convolution of stride 1 as Winograd's F(4x4, 3x3): each 4x4 tile
// of the output is A^T [(G g G^T) * (B^T d B)] A for its 6x6 input patch
// d and each 3x3 kernel g, so that the sums over input channels are 36
// GEMMs (of the tiles' transformed patches against the transformed
// kernels: 36 multiplies per tile where a direct convolution takes 144).
// The matrices are Lavin and Gray's, on the points 0, 1, -1, 2, -2 and
// infinity.  The GEMMs are conv2d's (a 1x1 convolution in 36 groups);
// this file has the three stages around them, STAGE picks one:
//   0  the kernels: w [cout, 3, 3, cin] -> U [36, cout, cin];
//   1  the input's patches: x -> V [tiles, 36, cin];
//   2  the GEMMs' products M [tiles, 36, cout] (bound as x) back to the
//      output's 4x4 tiles, through the convolution's epilogue.
// Element g = 6 i + j of a transform is its row i, column j.  Channels
// go four to an invocation (the host asks for multiples of 4).
//
// Stages 1 and 2 cover the output pixels conv_common.glsl's geometry
// gives a dispatch (rows of images, or a band of rows of one image), in
// tiles from its first row: ceil (rows / 4) x ceil (ow / 4) to an image.
// A tile's output past the band or the image is computed from whatever
// its patch holds (input rows outside the bound band read as 0) and never
// stored.
#include "common.glsl"
// The texel variant's 64-bit stores (conv_common.glsl).
layout(constant_id = 4) const bool STORE64 = true;
#define CONV_STORE64 STORE64
#include "conv_common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

// CPU drivers gather a vector from a texel buffer, where a storage
// buffer's load is a loop over the lanes: x (or M) and the weights are
// read that way in the DRAPE_TEXEL variants.
#if DRAPE_TEXEL
layout(binding = 0) uniform textureBuffer x_tex;
layout(binding = 1) uniform textureBuffer w_tex;
#define LOAD_X4(i) texelFetch(x_tex, int((i) >> 2))
#define LOAD_W4(i) texelFetch(w_tex, int((i) >> 2))
#else
#define LOAD_X4(i) vec4(x4[(i) >> 2])
#define LOAD_W4(i) vec4(w4[(i) >> 2])
#endif
layout(constant_id = 3) const uint STAGE = 0;

#define TILE 4u
#define PATCH 6u
#define TRANSFORMS (PATCH * PATCH)

// A tile's column and row in its image, and its image in the dispatch.
void tile_place(uint t, out uint img, out uint ty, out uint tx)
{
  const uint tw = (p.ow + TILE - 1u) / TILE;
  const uint per_img = (p.rows + TILE - 1u) / TILE * tw;

  img = t / per_img;
  t -= img * per_img;
  ty = t / tw;
  tx = t - ty * tw;
}

uint tiles()
{
  return p.m / (p.rows * p.ow) * ((p.rows + TILE - 1u) / TILE) * ((p.ow + TILE - 1u) / TILE);
}

// The three one-dimensional transforms, applied along columns, then rows:
// G g (3 values to 6), B^T d (6 to 6) and A^T m (6 to 4).
void kernel_1d(vec4 g0, vec4 g1, vec4 g2, out vec4 u[6])
{
  const vec4 even = g0 + g2, odd = g1;

  u[0] = 0.25 * g0;
  u[1] = (-1.0 / 6.0) * (even + odd);
  u[2] = (-1.0 / 6.0) * (even - odd);
  const vec4 e2 = (1.0 / 24.0) * g0 + (1.0 / 6.0) * g2;
  u[3] = e2 + (1.0 / 12.0) * odd;
  u[4] = e2 - (1.0 / 12.0) * odd;
  u[5] = g2;
}

void input_1d(vec4 d0, vec4 d1, vec4 d2, vec4 d3, vec4 d4, vec4 d5, out vec4 v[6])
{
  const vec4 a = d4 - 4.0 * d2, b = d3 - 4.0 * d1;
  const vec4 c = d4 - d2, e = 2.0 * (d3 - d1);

  v[0] = 4.0 * d0 - 5.0 * d2 + d4;
  v[1] = a + b;
  v[2] = a - b;
  v[3] = c + e;
  v[4] = c - e;
  v[5] = 4.0 * d1 - 5.0 * d3 + d5;
}

void output_1d(vec4 m0, vec4 m1, vec4 m2, vec4 m3, vec4 m4, vec4 m5, out vec4 y[4])
{
  const vec4 s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;

  y[0] = m0 + s12 + s34;
  y[1] = d12 + 2.0 * d34;
  y[2] = s12 + 4.0 * s34;
  y[3] = d12 + 8.0 * d34 + m5;
}

void transform_weights(uint i)
{
  const uint quads = p.cin / 4u;
  const uint co = i / quads;
  const uint ci = (i - co * quads) * 4u;
  vec4 g[9], h[18], u[6];

  if (co >= p.cout)
    return;
  [[unroll]] for (uint k = 0; k < 9u; k++)
    g[k] = LOAD_W4(p.w_off + (co * 9u + k) * p.cin + ci);
  // G g, column by column: h is 6 rows of 3.
  [[unroll]] for (uint c = 0; c < 3u; c++)
    {
      kernel_1d(g[c], g[3u + c], g[6u + c], u);
      [[unroll]] for (uint r = 0; r < PATCH; r++)
        h[3u * r + c] = u[r];
    }
  // (G g) G^T, row by row.
  [[unroll]] for (uint r = 0; r < PATCH; r++)
    {
      kernel_1d(h[3u * r], h[3u * r + 1u], h[3u * r + 2u], u);
      [[unroll]] for (uint c = 0; c < PATCH; c++)
        conv_store4((p.o_off + ((PATCH * r + c) * p.cout + co) * p.cin + ci) >> 2, u[c]);
    }
}

void transform_input(uint i)
{
  const uint quads = p.cin / 4u;
  const uint t = i / quads;
  const uint ci = (i - t * quads) * 4u;
  uint img, ty, tx;
  vec4 d[36], e[36], v[6];

  if (t >= tiles())
    return;
  tile_place(t, img, ty, tx);
  const int iy0 = int(p.oy0 + TILE * ty) - int(p.pad_t);
  const int ix0 = int(TILE * tx) - int(p.pad_l);
  [[unroll]] for (uint r = 0; r < PATCH; r++)
    {
      const int iy = iy0 + int(r);
      const bool row_ok = uint(iy) < p.in_h && uint(iy - int(p.iy_lo)) < p.in_rows;
      const int row = (int(img * p.in_rows) + iy - int(p.iy_lo)) * int(p.in_w);
      [[unroll]] for (uint c = 0; c < PATCH; c++)
        {
          const int ix = ix0 + int(c);
          const bool ok = row_ok && uint(ix) < p.in_w;
          const uint idx = ok ? uint((row + ix) * int(p.cin)) + p.x_off + ci : p.x_off;
          d[PATCH * r + c] = ok ? LOAD_X4(idx) : vec4(0.0);
        }
    }
  // B^T d, column by column.
  [[unroll]] for (uint c = 0; c < PATCH; c++)
    {
      input_1d(d[c], d[6u + c], d[12u + c], d[18u + c], d[24u + c], d[30u + c], v);
      [[unroll]] for (uint r = 0; r < PATCH; r++)
        e[PATCH * r + c] = v[r];
    }
  // (B^T d) B, row by row.
  const uint base = p.o_off + t * TRANSFORMS * p.cin + ci;
  [[unroll]] for (uint r = 0; r < PATCH; r++)
    {
      const uint k = PATCH * r;
      input_1d(e[k], e[k + 1u], e[k + 2u], e[k + 3u], e[k + 4u], e[k + 5u], v);
      [[unroll]] for (uint c = 0; c < PATCH; c++)
        conv_store4((base + (k + c) * p.cin) >> 2, v[c]);
    }
}

void transform_output(uint i)
{
  const uint quads = p.ncols / 4u;
  const uint t = i / quads;
  const uint ch = (i - t * quads) * 4u;
  uint img, ty, tx;
  vec4 m[36], a[24], y[4];

  if (t >= tiles())
    return;
  tile_place(t, img, ty, tx);
  const uint base = p.x_off + t * TRANSFORMS * p.cout + ch;
  [[unroll]] for (uint g = 0; g < TRANSFORMS; g++)
    m[g] = LOAD_X4(base + g * p.cout);
  // A^T m, column by column: a is 4 rows of 6.
  [[unroll]] for (uint c = 0; c < PATCH; c++)
    {
      output_1d(m[c], m[6u + c], m[12u + c], m[18u + c], m[24u + c], m[30u + c], y);
      [[unroll]] for (uint r = 0; r < TILE; r++)
        a[PATCH * r + c] = y[r];
    }
  const vec4 b = conv_bias(ch, 4u, true);
  [[unroll]] for (uint r = 0; r < TILE; r++)
    {
      const uint oy = TILE * ty + r;
      const uint k = PATCH * r;

      if (oy >= p.rows)
        break;
      output_1d(a[k], a[k + 1u], a[k + 2u], a[k + 3u], a[k + 4u], a[k + 5u], y);
      [[unroll]] for (uint c = 0; c < TILE; c++)
        {
          const uint ox = TILE * tx + c;
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
