// Shared by conv2d.comp and conv_depthwise.comp: the operands, the
// geometry of one dispatch, and the epilogue.
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

#if DRAPE_F16
#define T4 f16vec4
#else
#define T4 vec4
#endif

// Aliased vector views serve aligned loads of 4 channels.
layout(binding = 0) readonly buffer X { T x[]; };
layout(binding = 0) readonly buffer X4 { T4 x4[]; };
layout(binding = 1) readonly buffer W { T w[]; };
layout(binding = 1) readonly buffer W4 { T4 w4[]; };
layout(binding = 2) readonly buffer Bias { T bias[]; };
layout(binding = 3) readonly buffer ChannelBias { T cbias[]; };
layout(binding = 4) readonly buffer Residual { T res[]; };
layout(binding = 5) writeonly buffer Out { T o[]; };

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
} p;

const uint FLAG_BIAS = 4u;
const uint FLAG_CHANNEL_BIAS = 8u;
const uint FLAG_RESIDUAL = 16u;

// out = (act (acc + bias + channel_bias) + residual) * out_scale, the
// order ops.h documents.  m: the output pixel in this dispatch; ch: the
// output channel relative to the dispatch's first.
float conv_epilogue(float acc, uint m, uint ch)
{
  if ((p.flags & FLAG_BIAS) != 0u)
    acc += float(bias[p.b_off + ch]);
  if ((p.flags & FLAG_CHANNEL_BIAS) != 0u)
    acc += float(cbias[p.cb_off + m / (p.rows * p.ow) * p.cout + ch]);
  acc = drape_activate(p.flags & 3u, acc);
  if ((p.flags & FLAG_RESIDUAL) != 0u)
    acc += float(res[p.r_off + m * p.cout + ch]);
  return acc * p.out_scale;
}

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
  base = ((int(img * p.in_rows) + iy0 - int(p.iy_lo)) * int(p.in_w) + ix0) * int(p.cin)
         + int(p.x_off);
}

bool conv_inside(int iy, int ix)
{
  return uint(iy) < p.in_h && uint(ix) < p.in_w;
}

#endif
