#version 450
#extension GL_GOOGLE_include_directive : require
// Group norm, pass 3 of 3: (x - mean) * scale + beta per (image,
// channel), then SiLU if asked.  A thread owns VW adjacent channels,
// loads their beta once and their statistics once per image, and walks
// PB positions, one vector load and store per position.  A band may span
// images: one dispatch normalises a whole guidance batch.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const bool SILU = false;
layout(constant_id = 4) const uint VW = 1;  // channels per thread: 1, 2 or 4, dividing c
layout(constant_id = 5) const uint PB = 16; // positions per thread

#if DRAPE_F16
#define T2 f16vec2
#define T4 f16vec4
#else
#define T2 vec2
#define T4 vec4
#endif

layout(binding = 0) readonly buffer X { T x[]; };
layout(binding = 0) readonly buffer X2 { T2 x2[]; };
layout(binding = 0) readonly buffer X4 { T4 x4[]; };
layout(binding = 1) readonly buffer Affine { vec2 affine[]; }; // (mean, scale) per [n, c]
layout(binding = 2) readonly buffer Beta { T beta[]; };
layout(binding = 3) writeonly buffer O { T o[]; };
layout(binding = 3) writeonly buffer O2 { T2 o2[]; };
layout(binding = 3) writeonly buffer O4 { T4 o4[]; };

layout(push_constant) uniform Params {
  uint x_off;     // element offsets of the band's first position, multiples of VW
  uint o_off;
  uint positions; // in this band
  uint c;
  uint hw;        // positions per image
  uint band_pos;  // the band's first position, counted over all images
} p;

// Image n's statistics for channels c0 .. c0 + VW - 1.
void load_stats(uint n, uint c0, out vec4 mean, out vec4 scale)
{
  mean = scale = vec4(0.0);
  [[unroll]] for (uint i = 0; i < VW; i++)
    {
      vec2 a = affine[n * p.c + c0 + i];
      mean[i] = a.x;
      scale[i] = a.y;
    }
}

void main()
{
  uint cv = gl_WorkGroupID.z * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
  if (cv * VW >= p.c)
    return;
  uint c0 = cv * VW;
  vec4 mean, scale, shift = vec4(0.0);
  [[unroll]] for (uint i = 0; i < VW; i++)
    shift[i] = float(beta[c0 + i]);

  uint first = drape_group_index() * PB;
  uint last = min(first + PB, p.positions);
  // The image of position `first`, and where in the band the next begins.
  uint n = (p.band_pos + first) / p.hw;
  uint next_image = (n + 1u) * p.hw - p.band_pos;
  load_stats(n, c0, mean, scale);
  for (uint pos = first; pos < last; pos++)
    {
      if (pos == next_image)
        {
          n++;
          next_image += p.hw;
          load_stats(n, c0, mean, scale);
        }
      uint xi = p.x_off + pos * p.c + c0, oi = p.o_off + pos * p.c + c0;
      vec4 v;
      if (VW == 4)
        v = vec4(x4[xi / 4]);
      else if (VW == 2)
        v = vec4(vec2(x2[xi / 2]), 0.0, 0.0);
      else
        v = vec4(float(x[xi]), 0.0, 0.0, 0.0);
      vec4 y = (v - mean) * scale + shift;
      if (SILU)
        y = y / (1.0 + exp(-y));
      if (VW == 4)
        o4[oi / 4] = T4(STORE(y.x), STORE(y.y), STORE(y.z), STORE(y.w));
      else if (VW == 2)
        o2[oi / 2] = T2(STORE(y.x), STORE(y.y));
      else
        o[oi] = STORE(y.x);
    }
}
