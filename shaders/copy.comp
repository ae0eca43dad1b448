#version 450
#extension GL_GOOGLE_include_directive : require
// Copies a 4-D box of one tensor into a box of the same size in another,
// converting the storage type: variants f32, f16, f32_f16 and f16_f32
// (source_destination).  Cast, copy, concat and slice are all this.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

#if SRC_F16
#define S float16_t
#else
#define S float
#endif
#if DST_F16
#define D float16_t
#else
#define D float
#endif

layout(binding = 0) readonly buffer Src { S s[]; };
layout(binding = 1) writeonly buffer Dst { D d[]; };

// Strides are in elements; each bound range starts at its box's first
// element, plus the alignment slack *_off.
layout(push_constant) uniform Params {
  uint count; // elements in the box
  uint bh, bw, bc;
  uint s_off, s_sn, s_sh, s_sw;
  uint d_off, d_sn, d_sh, d_sw;
} p;

void main()
{
  uint i = drape_group_index() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
  if (i >= p.count)
    return;
  uint c = i % p.bc;
  uint r = i / p.bc;
  uint w = r % p.bw;
  r /= p.bw;
  uint h = r % p.bh;
  uint n = r / p.bh;
  uint si = p.s_off + n * p.s_sn + h * p.s_sh + w * p.s_sw + c;
  uint di = p.d_off + n * p.d_sn + h * p.d_sh + w * p.d_sw + c;
#if SRC_F16 == DST_F16
  // Same type: the bits are copied, infinities and NaNs included.
  d[di] = s[si];
#elif DST_F16
  d[di] = STORE(s[si]);
#else
  d[di] = float(s[si]);
#endif
}
