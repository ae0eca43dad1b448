#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_cooperative_matrix : require
#extension GL_NV_cooperative_matrix2 : require
// Convolution and linear layers as a GEMM on workgroup-scope cooperative
// matrices (GL_NV_cooperative_matrix2): the workgroup owns a BM x BN
// tile of the output as one f32 accumulator, and loads its operands
// through tensor layouts straight from the tensors, BK values of K a
// step; the driver stages them through shared memory, and its compiler
// schedules the loads, where conv2d_coopmat.comp does both by hand.
//
// A tile's BM output pixels are either
//   - (PW 0) BM consecutive pixels of all the images as one: 1x1
//     convolutions of stride 1 without padding, whose input pixels are
//     the output's, so that A is rows of a (pixels x cin) matrix; or
//   - a patch of BM / PW rows of PW pixels of one image (3x3 and other
//     convolutions of stride 1): kernel tap (ky, kx) reads the input
//     patch moved by (ky - pad_t, kx - pad_l), a slice of the image's
//     (rows x columns x channels) layout that reads zeros past its
//     edges, which is the padding.
// K runs tap by tap, BK channels a step (the host keeps cin a multiple
// of BK, so no step spans two taps).  B is the weights, rows of K per
// output channel, read transposed.  GEGLU: the gate half's weights
// multiply the same A into an accumulator of their own.
//
// The epilogue runs per element (coopMatPerElementNV) on the
// accumulator, by the scalar kernel's rules (conv_common.glsl's
// conv_epilogue: bias, channel bias, activation, residual, scale), then
// the tile is converted to f16 and stored through a layout that drops
// what lies past the output's edges.
//
// The host (op-conv-coopmat.c) guarantees: f16 tensors, one group, one
// dispatch for every image and output channel (no bands, no chunks),
// stride 1, cin and cout multiples of 8 and cin of BK, element offsets
// of x, the weights and the output multiples of 8 (16 bytes, which
// tensor loads need), and BM, BN, BK and the workgroup size among the
// device's workgroup-scope sizes.  Bindings and push constants are the
// scalar kernel's.
#include "common.glsl"
#define CONV_GATE
#include "conv_common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const uint BM = 128;  // output pixels per workgroup
layout(constant_id = 4) const uint BN = 128;  // output channels per workgroup
layout(constant_id = 5) const uint BK = 32;   // values of K per step
layout(constant_id = 6) const bool GEGLU = false;
// Pixels per patch row; 0: consecutive pixels (above).
layout(constant_id = 7) const uint PW = 0;

const uint PH = PW == 0u ? 1u : BM / PW;
// Steps of K each turn of the flat kernel's main loop issues, so that
// the compiler can overlap one step's loads with another's products.
const uint UNROLL = 4;

#define ACC coopmat<float, gl_ScopeWorkgroup, BM, BN, gl_MatrixUseAccumulator>
#define OUT16 coopmat<float16_t, gl_ScopeWorkgroup, BM, BN, gl_MatrixUseAccumulator>
#define MAT_A coopmat<float16_t, gl_ScopeWorkgroup, BM, BK, gl_MatrixUseA>
#define MAT_B coopmat<float16_t, gl_ScopeWorkgroup, BK, BN, gl_MatrixUseB>

// GEGLU's gate half of the weights.
layout(binding = 6) readonly buffer WG { float16_t wg[]; };

// Output pixel (of this dispatch) of row r of the tile whose first
// pixel is m0 (flat), or whose patch starts at row y0, column x0 of
// image img; ~0u past the output's edges.
uint tile_pixel(uint r, uint m0, uint img, uint y0, uint x0)
{
  if (PW == 0u)
    return m0 + r < p.m ? m0 + r : ~0u;
  const uint y = y0 + r / PW, x = x0 + r % PW;

  return y < p.rows && x < p.ow ? (img * p.rows + y) * p.ow + x : ~0u;
}

// The epilogue of element (r, c) of the tile from channel n0 on.
float finish(const in uint r, const in uint c, const in float v, const in uint m0, const in uint img,
             const in uint y0, const in uint x0, const in uint n0)
{
  const uint m = tile_pixel(r, m0, img, y0, x0);

  if (m == ~0u || n0 + c >= p.ncols)
    return 0.0;
  return clamp(conv_epilogue(v, m, n0 + c), -65504.0, 65504.0);
}

float finish_gated(const in uint r, const in uint c, const in float v, const in float g,
                   const in uint m0, const in uint img, const in uint y0, const in uint x0,
                   const in uint n0)
{
  const uint m = tile_pixel(r, m0, img, y0, x0);

  if (m == ~0u || n0 + c >= p.ncols)
    return 0.0;
  return clamp(conv_epilogue_gated(v, g, m, n0 + c), -65504.0, 65504.0);
}

// One step of K: A from x through layout LA at element offset XO, B
// (and the gate's) through LB, transposed.
#define K_STEP(LA, XO, LB)                                   \
  {                                                          \
    MAT_A a;                                                 \
    MAT_B b;                                                 \
    coopMatLoadTensorNV(a, x, XO, LA);                       \
    coopMatLoadTensorNV(b, w, p.w_off, LB, transposed);      \
    acc = coopMatMulAdd(a, b, acc);                          \
    if (GEGLU)                                               \
      {                                                      \
        coopMatLoadTensorNV(b, wg, p.wg_off, LB, transposed); \
        gacc = coopMatMulAdd(a, b, gacc);                    \
      }                                                      \
  }

// The flat kernel's K loop, with layouts of x (pixels x cin) and the
// weights (channels x K) named by LX and LW: UNROLL steps a turn, then
// the rest.
#define FLAT_K_LOOP(LX, LW)                                                     \
  {                                                                             \
    uint k0 = 0u;                                                               \
    for (; k0 + UNROLL * BK <= K; k0 += UNROLL * BK)                            \
      [[unroll]] for (uint u = 0u; u < UNROLL; u++)                             \
        K_STEP(sliceTensorLayoutNV(LX, m0, BM, k0 + u * BK, BK), p.x_off,       \
               sliceTensorLayoutNV(LW, n0, BN, k0 + u * BK, BK))                \
    for (; k0 < K; k0 += BK)                                                    \
      K_STEP(sliceTensorLayoutNV(LX, m0, BM, k0, BK), p.x_off,                  \
             sliceTensorLayoutNV(LW, n0, BN, k0, BK))                           \
  }

void main()
{
  const uint tile = drape_group_index();
  const uint tm = tile / p.tiles_n;
  const uint n0 = (tile - tm * p.tiles_n) * BN;
  const uint K = p.kh * p.kw * p.cin;
  const uint images = p.m / (p.rows * p.ow);
  const uint tiles_y = (p.rows + PH - 1u) / PH;
  const uint tiles_x = PW == 0u ? 1u : (p.ow + PW - 1u) / PW;
  const uint per_image = tiles_y * tiles_x;
  // Flat: the first pixel.  Patch: the image and the patch's corner.
  const uint m0 = tm * BM;
  const uint img = PW == 0u ? 0u : tm / per_image;
  const uint ty = PW == 0u ? 0u : (tm - img * per_image) / tiles_x;
  const uint y0 = ty * PH;
  const uint x0 = PW == 0u ? 0u : (tm - img * per_image - ty * tiles_x) * PW;
  tensorViewNV<2, false, 1, 0> transposed = createTensorViewNV(2, false, 1, 0);
  ACC acc = ACC(0.0);
  ACC gacc = ACC(0.0);

  // Folding the grid into (x, y) may add workgroups past the last tile.
  if (PW == 0u ? m0 >= p.m : img >= images)
    return;

  if (PW == 0u)
    {
      // Tiles wholly inside both operands read them unclamped.
      if (m0 + BM <= p.m && n0 + BN <= p.ncols)
        {
          tensorLayoutNV<2> lx = createTensorLayoutNV(2);
          tensorLayoutNV<2> lw = createTensorLayoutNV(2);

          lx = setTensorLayoutDimensionNV(lx, p.m, K);
          lw = setTensorLayoutDimensionNV(lw, p.ncols, K);
          FLAT_K_LOOP(lx, lw)
        }
      else
        {
          tensorLayoutNV<2, gl_CooperativeMatrixClampModeConstantNV> lx =
            createTensorLayoutNV(2, gl_CooperativeMatrixClampModeConstantNV);
          tensorLayoutNV<2, gl_CooperativeMatrixClampModeConstantNV> lw =
            createTensorLayoutNV(2, gl_CooperativeMatrixClampModeConstantNV);

          lx = setTensorLayoutDimensionNV(lx, p.m, K);
          lw = setTensorLayoutDimensionNV(lw, p.ncols, K);
          FLAT_K_LOOP(lx, lw)
        }
    }
  else
    {
      tensorLayoutNV<3, gl_CooperativeMatrixClampModeConstantNV> lx =
        createTensorLayoutNV(3, gl_CooperativeMatrixClampModeConstantNV);
      tensorLayoutNV<2, gl_CooperativeMatrixClampModeConstantNV> lw =
        createTensorLayoutNV(2, gl_CooperativeMatrixClampModeConstantNV);
      const uint xo = p.x_off + img * p.in_h * p.in_w * p.cin;

      lx = setTensorLayoutDimensionNV(lx, p.in_h, p.in_w, p.cin);
      lw = setTensorLayoutDimensionNV(lw, p.ncols, K);
      for (uint tap = 0u; tap < p.kh * p.kw; tap++)
        {
          const uint ky = tap / p.kw, kx = tap - ky * p.kw;
          const int iy = int(y0 + ky) - int(p.pad_t), ix = int(x0 + kx) - int(p.pad_l);

          for (uint c0 = 0u; c0 < p.cin; c0 += BK)
            K_STEP(sliceTensorLayoutNV(lx, iy, PH, ix, PW, c0, BK), xo,
                   sliceTensorLayoutNV(lw, n0, BN, tap * p.cin + c0, BK))
        }
    }

  if (GEGLU)
    coopMatPerElementNV(acc, acc, finish_gated, gacc, m0, img, y0, x0, n0);
  else
    coopMatPerElementNV(acc, acc, finish, m0, img, y0, x0, n0);
  OUT16 result = OUT16(acc);

  if (PW == 0u)
    {
      tensorLayoutNV<2, gl_CooperativeMatrixClampModeConstantNV> lo =
        createTensorLayoutNV(2, gl_CooperativeMatrixClampModeConstantNV);

      lo = setTensorLayoutDimensionNV(lo, p.m, p.ncols);
      lo = setTensorLayoutStrideNV(lo, p.cout, 1);
      coopMatStoreTensorNV(result, o, p.o_off, sliceTensorLayoutNV(lo, m0, BM, n0, BN));
    }
  else
    {
      tensorLayoutNV<3, gl_CooperativeMatrixClampModeConstantNV> lo =
        createTensorLayoutNV(3, gl_CooperativeMatrixClampModeConstantNV);

      lo = setTensorLayoutDimensionNV(lo, p.rows, p.ow, p.ncols);
      lo = setTensorLayoutStrideNV(lo, p.ow * p.cout, p.cout, 1);
      coopMatStoreTensorNV(result, o, p.o_off + img * p.rows * p.ow * p.cout,
                           sliceTensorLayoutNV(lo, y0, PH, x0, PW, n0, BN));
    }
}
