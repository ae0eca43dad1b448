#version 450
#extension GL_GOOGLE_include_directive : require
// Group norm, pass 2 of 3: one workgroup per (image, group) merges the
// chunks' (mean, M2) with Chan's formula and writes the mean and
// rstd * gamma per (image, channel).  The mean is not folded into a shift
// (x * scale + beta - mean * scale): with a large mean and a small
// variance that would cancel catastrophically.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

layout(binding = 0) readonly buffer Partial { vec2 partial[]; };
layout(binding = 1) readonly buffer Gamma { T gamma[]; };
layout(binding = 2) writeonly buffer Affine { vec2 affine[]; }; // (mean, scale) per [n, c]

layout(push_constant) uniform Params {
  uint c;
  uint cpg;
  uint groups;
  uint hw;
  uint chunk;
  uint chunks;
  float eps;
} p;

shared float s_count[gl_WorkGroupSize.x];
shared float s_mean[gl_WorkGroupSize.x];
shared float s_m2[gl_WorkGroupSize.x];

void main()
{
  uint t = gl_LocalInvocationID.x;
  uint g = gl_WorkGroupID.x;
  uint n = gl_WorkGroupID.y;
  uint row = (n * p.groups + g) * p.chunks;

  float cnt = 0.0, mean = 0.0, m2 = 0.0;
  for (uint k = t; k < p.chunks; k += gl_WorkGroupSize.x)
    {
      float nb = float(min(p.chunk, p.hw - k * p.chunk) * p.cpg);
      vec2 b = partial[row + k];
      float nn = cnt + nb;
      float delta = b.x - mean;
      mean += delta * (nb / nn);
      m2 += b.y + delta * delta * (cnt * nb / nn);
      cnt = nn;
    }
  s_count[t] = cnt;
  s_mean[t] = mean;
  s_m2[t] = m2;
  barrier();

  for (uint off = gl_WorkGroupSize.x / 2; off > 0; off >>= 1)
    {
      if (t < off)
        {
          float na = s_count[t], nb = s_count[t + off];
          float nn = na + nb;
          if (nn > 0.0)
            {
              float delta = s_mean[t + off] - s_mean[t];
              s_mean[t] += delta * (nb / nn);
              s_m2[t] += s_m2[t + off] + delta * delta * (na * nb / nn);
              s_count[t] = nn;
            }
        }
      barrier();
    }

  float rstd = inversesqrt(s_m2[0] / s_count[0] + p.eps);
  for (uint i = t; i < p.cpg; i += gl_WorkGroupSize.x)
    {
      uint ch = g * p.cpg + i;
      affine[n * p.c + ch] = vec2(s_mean[0], rstd * float(gamma[ch]));
    }
}
