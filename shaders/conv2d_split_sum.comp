#version 450
#extension GL_GOOGLE_include_directive : require
// The second half of a convolution whose K conv2d_coopmat.comp split
// into slices: adds the slices' f32 sums of each output (binding 0, its
// layout) and runs the epilogue (conv_common.glsl) on them, 4
// channels per invocation, as conv2d_coopmat.comp would have.
#include "common.glsl"
// One phase of a 2x upsampled output, as the GEMM computed (conv_common.glsl).
layout(constant_id = 6) const bool SUBPIXEL = false;
#define CONV_SUBPIXEL SUBPIXEL
#include "conv_common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const uint BM = 128; // the GEMM's tile, which padded the sums
layout(constant_id = 4) const uint BN = 64;
layout(constant_id = 5) const bool VEC_OUT = false;

layout(binding = 0) readonly buffer Partial { vec4 partial4[]; };

void main()
{
  const uint quads = (p.ncols + 3u) / 4u;
  const uint i = drape_group_index() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
  const uint m = i / quads;
  const uint ch = (i - m * quads) * 4u;
  const uint ld = p.tiles_n * BN;
  const uint slice_size = conv_split_slice(BM, BN);

  if (m >= p.m)
    return;
  // z: a subpixel dispatch's phase, whose slices' sums follow the phase
  // before's.  Rows of ld floats are whole vectors (ld, ch and x_off are
  // multiples of 4).
  conv_phase = SUBPIXEL ? gl_WorkGroupID.z : 0u;
  uint at = (p.x_off + conv_phase * p.k_slices * slice_size + m * ld + ch) >> 2;
  vec4 v = vec4(0.0);
  for (uint s = 0; s < p.k_slices; s++, at += slice_size >> 2)
    v += partial4[at];

  const uint n = min(4u, p.ncols - ch);
  const bool aligned = VEC_OUT && n == 4u;
  conv_store(m, ch, v + conv_bias(ch, n, aligned), n, aligned);
}
