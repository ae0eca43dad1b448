#version 450
#extension GL_GOOGLE_include_directive : require
// One pass of PIL's 8-bit resampling (see compute/op-resample.c): every
// output is a window of inputs weighted by fixed-point taps, summed in
// integers from one half, shifted back by 22 bits and clamped to 0..255.
// Tensors are [outer, axis, inner]; x and o hold 8-bit levels as T.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

layout(binding = 0) readonly buffer X { T x[]; };
// Per output position: first input, number of taps, then the taps.
layout(binding = 1) readonly buffer F { float f[]; };
layout(binding = 2) writeonly buffer O { T o[]; };

layout(push_constant) uniform Params {
  uint count;
  uint x_off;
  uint o_off;
  uint inner;
  uint band_out;
  uint a0;
  uint in_axis;
  uint in_base;
  uint stride;
} p;

const int PRECISION_BITS = 22;

void main()
{
  uint i = drape_group_index() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
  if (i >= p.count)
    return;
  uint ii = i % p.inner;
  uint rest = i / p.inner;
  uint a = p.a0 + rest % p.band_out;
  uint outer = rest / p.band_out;
  uint row = a * p.stride;
  uint first = uint(f[row]);
  int n = int(f[row + 1]);
  int ss = 1 << (PRECISION_BITS - 1);
  for (int t = 0; t < n; t++)
    {
      uint xi = (outer * p.in_axis + first + uint(t) - p.in_base) * p.inner + ii;
      ss += int(x[p.x_off + xi]) * int(f[row + 2 + uint(t)]);
    }
  int v = ss >= (1 << (PRECISION_BITS + 8)) ? 255 : ss <= 0 ? 0 : ss >> PRECISION_BITS;
  o[p.o_off + i] = STORE(float(v));
}
