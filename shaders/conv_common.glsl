// Shared by conv2d.comp, conv2d_coopmat.comp, conv2d_coopmat2.comp and
// conv_depthwise.comp: the operands, the geometry of one dispatch, and
// the epilogue (with GEGLU's gate bias where the shader defines
// CONV_GATE).
//
// A dispatch computes output pixels [0, m) of the bound output range:
// either every image at once (rows = oh, in_rows = ih, iy_lo = 0) or a
// band of `rows` rows of one image, starting at row oy0, for which only
// input rows [iy_lo, iy_lo + in_rows) are bound.  Channels are relative to
// the dispatch's first output channel, which is where the weight, bias,
// channel-bias, residual and output bindings start.
#ifndef DRAPE_CONV_COMMON_GLSL
#define DRAPE_CONV_COMMON_GLSL

#include "activation.glsl"

#ifndef DRAPE_TEXEL
#define DRAPE_TEXEL 0
#endif

#if DRAPE_F16
#define T4 f16vec4
#else
#define T4 vec4
#endif

// The weights' type: the storage type, or f16 beside f32 activations in
// a DRAPE_W16 variant (kernels from f16 files kept at their own size).
#if DRAPE_F16 || DRAPE_W16
#define WT float16_t
#define WT4 f16vec4
#else
#define WT T
#define WT4 T4
#endif

// Aliased vector views serve aligned accesses to 4 channels.  A
// DRAPE_TEXEL variant reads x and the weights through texel buffers
// instead (conv2d.comp).
#if !DRAPE_TEXEL
layout(binding = 0) readonly buffer X { T x[]; };
layout(binding = 0) readonly buffer X4 { T4 x4[]; };
layout(binding = 1) readonly buffer W { WT w[]; };
layout(binding = 1) readonly buffer W4 { WT4 w4[]; };
#endif
layout(binding = 2) readonly buffer Bias { T bias[]; };
layout(binding = 2) readonly buffer Bias4 { T4 bias4[]; };
layout(binding = 3) readonly buffer ChannelBias { T cbias[]; };
layout(binding = 3) readonly buffer ChannelBias4 { T4 cbias4[]; };
layout(binding = 4) readonly buffer Residual { T res[]; };
layout(binding = 4) readonly buffer Residual4 { T4 res4[]; };
layout(binding = 5) writeonly buffer Out { T o[]; };
layout(binding = 5) writeonly buffer Out4 { T4 o4[]; };

// Four channels at element 4 q of the output: the DRAPE_TEXEL (CPU)
// variants store them as 64-bit components (store64.glsl), and define
// CONV_STORE64 as a condition (a specialisation constant), false where
// the driver's 64-bit stores are broken (DrapeDeviceCaps.stores_int64).
#if DRAPE_TEXEL
#include "store64.glsl"
layout(binding = 5) writeonly buffer Out64 { DRAPE_WORDS4 o64[]; };
#endif

void conv_store4(uint q, vec4 v)
{
#if DRAPE_TEXEL
  if (CONV_STORE64)
    {
      o64[q] = drape_words4(v);
      return;
    }
#endif
  o4[q] = T4(v);
}
// A shader may store f32 from f16 operands where it defines CONV_OUT_F32
// as a condition (a specialisation constant): sums that a later op
// needs unrounded, such as attention scores.
#ifdef CONV_OUT_F32
layout(binding = 5) writeonly buffer Out32 { float o32[]; };
layout(binding = 5) writeonly buffer Out32v { vec4 o32v[]; };
#endif

layout(push_constant) uniform Params {
  uint m;        // output pixels in this dispatch
  uint ow;       // output width
  uint rows;     // output rows per image in this dispatch
  uint oy0;      // first output row
  uint in_h;     // input height and width
  uint in_w;
  uint in_rows;  // input rows bound per image
  uint iy_lo;    // first bound input row
  uint cin;      // channels of x
  uint cin_g;    // input channels per group
  uint cout;     // channels of the output: its pixel stride
  uint cout_g;   // output channels per group
  uint ncols;    // output channels per group in this dispatch
  uint g0;       // first group of this dispatch
  uint stride;
  uint pad_t;
  uint pad_l;
  uint kh;
  uint kw;
  uint x_off;    // element offsets of the bound ranges
  uint w_off;
  uint b_off;
  uint cb_off;
  uint r_off;
  uint o_off;
  uint wg_off;   // GEGLU: the gate half's weights and bias
  uint bg_off;
  uint tiles_n;  // column tiles of the grid
  uint flags;    // activation | FLAG_*
  float out_scale;
  uint k_slices;      // split K: slices whose f32 sums conv2d_split_sum.comp adds (1: none)
  uint slice_stages;  // and the 32-value stages of K each slice takes
} p;

// What the epilogue does: activation | FLAG_*.  A shader may fix it at
// pipeline creation, so that only the code it needs is compiled, by
// defining CONV_FLAGS before including this file.
#ifndef CONV_FLAGS
#define CONV_FLAGS p.flags
#endif

const uint FLAG_BIAS = 4u;
const uint FLAG_CHANNEL_BIAS = 8u;
const uint FLAG_RESIDUAL = 16u;

// The epilogue works on up to 4 neighbouring channels at once: n of them
// are real; `aligned` says the element offsets are multiples of 4 and
// n == 4, so one vector access serves them all.

vec4 conv_bias(uint ch, uint n, bool aligned)
{
  vec4 v = vec4(0.0);

  if ((CONV_FLAGS & FLAG_BIAS) == 0u)
    return v;
  if (aligned)
    return vec4(bias4[(p.b_off + ch) >> 2]);
  [[unroll]] for (uint e = 0; e < 4; e++)
    if (e < n)
      v[e] = float(bias[p.b_off + ch + e]);
  return v;
}

#ifdef CONV_GATE
// GEGLU's gate half: its bias (its weights are each shader's own).
layout(binding = 7) readonly buffer BG { T bg[]; };
layout(binding = 7) readonly buffer BG4 { T4 bg4[]; };

vec4 gate_bias(uint ch, uint n, bool aligned)
{
  vec4 v = vec4(0.0);

  if ((CONV_FLAGS & FLAG_BIAS) == 0u)
    return v;
  if (aligned)
    return vec4(bg4[(p.bg_off + ch) >> 2]);
  [[unroll]] for (uint e = 0; e < 4; e++)
    if (e < n)
      v[e] = float(bg[p.bg_off + ch + e]);
  return v;
}
#endif

// A shader that defines CONV_SUBPIXEL as a condition (a specialisation
// constant) may compute phases of a 2x upsampled output instead
// (drape_op_conv2d_upsample2x): phase (py, px) is a 2x2 convolution of
// the input whose pixel (t, ox) lands at row 2 t + py, column 2 ox + px
// of the output.  A dispatch computes phase conv_phase, which its main()
// sets from its workgroup's z: all four phases in one dispatch, whose
// pads and offsets the host gives for phase (0, 0), or (z of 1) one
// phase whose own pads and offsets the host gave.
#ifdef CONV_SUBPIXEL
uint conv_phase = 0u;

uint conv_phase_row()
{
  return CONV_SUBPIXEL ? conv_phase >> 1 : 0u;
}

uint conv_phase_col()
{
  return CONV_SUBPIXEL ? conv_phase & 1u : 0u;
}
#endif

// The weight row of output channel col (of this dispatch's first):
// phases' weights follow each other, cout rows each.
uint conv_weight_row(uint col)
{
#ifdef CONV_SUBPIXEL
  if (CONV_SUBPIXEL)
    return conv_phase * p.cout + col;
#endif
  return col;
}

// Where output pixel m of this dispatch and channel ch lie in the output
// (and residual) bindings: for a phase, at row 2 t + py, column 2 ox + px
// of an output twice as wide.
uint conv_out_index(uint m, uint ch)
{
#ifdef CONV_SUBPIXEL
  if (CONV_SUBPIXEL)
    return (2u * (m + m / p.ow * p.ow) + 2u * conv_phase_row() * p.ow + conv_phase_col()) * p.cout + ch;
#endif
  return m * p.cout + ch;
}

// (act (acc + channel_bias) + residual) * out_scale, the order ops.h
// documents; v already holds the bias.  m: the output pixel in this
// dispatch; ch: the first channel, relative to the dispatch's first.
vec4 conv_finish(uint m, uint ch, vec4 v, uint n, bool aligned)
{
  uint idx = conv_out_index(m, ch);

  if ((CONV_FLAGS & FLAG_CHANNEL_BIAS) != 0u)
    {
      uint cb = p.cb_off + m / (p.rows * p.ow) * p.cout + ch;
      if (aligned)
        v += vec4(cbias4[cb >> 2]);
      else
        [[unroll]] for (uint e = 0; e < 4; e++)
          if (e < n)
            v[e] += float(cbias[cb + e]);
    }
  v = drape_activate(CONV_FLAGS & 3u, v);
  if ((CONV_FLAGS & FLAG_RESIDUAL) != 0u)
    {
      if (aligned)
        v += vec4(res4[(p.r_off + idx) >> 2]);
      else
        [[unroll]] for (uint e = 0; e < 4; e++)
          if (e < n)
            v[e] += float(res[p.r_off + idx + e]);
    }
  return v * p.out_scale;
}

// conv_finish, and the store.
void conv_store(uint m, uint ch, vec4 v, uint n, bool aligned)
{
  uint idx = conv_out_index(m, ch);

  v = conv_finish(m, ch, v, n, aligned);
#ifdef CONV_OUT_F32
  if (CONV_OUT_F32)
    {
      if (aligned)
        o32v[(p.o_off + idx) >> 2] = v;
      else
        [[unroll]] for (uint e = 0; e < 4; e++)
          if (e < n)
            o32[p.o_off + idx + e] = v[e];
      return;
    }
#endif
#if DRAPE_F16
  v = clamp(v, -65504.0, 65504.0);
#endif
  if (aligned)
    conv_store4((p.o_off + idx) >> 2, v);
  else
    [[unroll]] for (uint e = 0; e < 4; e++)
      if (e < n)
        o[p.o_off + idx + e] = T(v[e]);
}

// One channel, from the sum without its bias.
float conv_epilogue(float acc, uint m, uint ch)
{
  return conv_finish(m, ch, vec4(acc + conv_bias(ch, 1u, false).x), 1u, false).x;
}

#ifdef CONV_GATE
// GEGLU's channel: h * gelu (g), each from its sum without its bias.
float conv_epilogue_gated(float acc, float gate, uint m, uint ch)
{
  float h = acc + conv_bias(ch, 1u, false).x;

  h *= drape_gelu(gate + gate_bias(ch, 1u, false).x);
  return conv_finish(m, ch, vec4(h), 1u, false).x;
}
#endif

// Where output pixel m of this dispatch reads its input: the element index
// of input pixel (iy0, ix0) = (oy * stride - pad_t, ox * stride - pad_l),
// channel 0 (which may lie outside the bound rows: only offsets from it
// that pass conv_inside are read).
void conv_pixel(uint m, out int base, out int iy0, out int ix0)
{
  uint ox = m % p.ow;
  uint t = m / p.ow;
  uint img = t / p.rows;
  iy0 = int((p.oy0 + t - img * p.rows) * p.stride) - int(p.pad_t);
  ix0 = int(ox * p.stride) - int(p.pad_l);
#ifdef CONV_SUBPIXEL
  // Phase (py, px) reads one row and column further on than (0, 0).
  iy0 += int(conv_phase_row());
  ix0 += int(conv_phase_col());
#endif
  base = ((int(img * p.in_rows) + iy0 - int(p.iy_lo)) * int(p.in_w) + ix0) * int(p.cin)
         + int(p.x_off);
}

bool conv_inside(int iy, int ix)
{
  return uint(iy) < p.in_h && uint(ix) < p.in_w;
}

// Split K (conv2d_coopmat.comp, conv2d_split_sum.comp): the floats of one
// slice's sums, a (tiles_m bm) x (tiles_n bn) matrix for the GEMM's bm x
// bn tiles, rows of tiles_n bn.
uint conv_split_slice(uint bm, uint bn)
{
  return (p.m + bm - 1u) / bm * bm * (p.tiles_n * bn);
}

#endif
