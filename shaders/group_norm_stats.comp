#version 450
#extension GL_GOOGLE_include_directive : require
// Group norm, pass 1 of 3: the mean and sum of squared deviations (M2) of
// every group of one image over one chunk of its positions.  The
// workgroup reads whole rows (all channels of a position), so that
// neighbouring threads read neighbouring vectors and every byte of x is
// read once; reading one group's few channels at a time would use a
// fraction of each memory transaction and read every row once per
// group.  A thread owns up to CPT vectors of VW channels (each within
// one group) at fixed places in a row, one of ROWS interleaved rows, and
// runs Welford's update on each; the workgroup then merges, for each
// group, its vectors' states with Chan's formula, so values with a large
// mean (100 + noise) lose nothing to cancellation.  Many chunks per
// image keep a large GPU busy; pass 2 merges them.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const uint VW = 1;   // channels per vector: 1, 2 or 4, dividing cpg
layout(constant_id = 4) const uint CPT = 1;  // vectors per thread
layout(constant_id = 5) const uint ROWS = 1; // rows read at once

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
layout(binding = 1) writeonly buffer Partial { vec2 partial[]; }; // (mean, M2)

layout(push_constant) uniform Params {
  uint x_off;     // element offset of the band's first position in binding 0, a multiple of VW
  uint c;
  uint cpg;       // channels per group
  uint groups;
  uint hw;        // positions per image
  uint chunk;     // positions per chunk
  uint chunks;    // chunks per image
  uint first;     // n * chunks + k of the band's first chunk
  uint band_pos;  // n * hw + position of the band's first position
  uint end;       // n * chunks + k past the band's last chunk
} p;

const uint LC = gl_WorkGroupSize.x / ROWS; // threads per row
const uint BATCH = CPT >= 4u ? 1u : 4u / CPT; // positions loaded at once
const uint SLOTS = LC * CPT;               // vectors a row holds, at least c / VW

shared float s_mean[ROWS * SLOTS];
shared float s_m2[ROWS * SLOTS];
shared float s_count[ROWS];

vec4 load(uint at)
{
  if (VW == 4)
    return vec4(x4[at / 4]);
  if (VW == 2)
    return vec4(vec2(x2[at / 2]), 0.0, 0.0);
  return vec4(float(x[at]), 0.0, 0.0, 0.0);
}

void main()
{
  const uint t = gl_LocalInvocationID.x;
  const uint r = t / LC;
  const uint lc = t - r * LC;
  const uint id = p.first + drape_group_index();
  const uint n = id / p.chunks;
  const uint k = id - n * p.chunks;
  const uint pos0 = k * p.chunk;
  const uint positions = min(p.chunk, p.hw - pos0);
  const uint base = p.x_off + (n * p.hw + pos0 - p.band_pos) * p.c;
  const uint vectors = p.c / VW;
  float mean[CPT], m2[CPT];
  float cnt = 0.0;

  // Folding the grid into (x, y) may add workgroups past the band.
  if (id >= p.end)
    return;

  [[unroll]] for (uint i = 0; i < CPT; i++)
    {
      mean[i] = 0.0;
      m2[i] = 0.0;
    }
  // Chan's update with each load's VW values as a batch (Welford's for
  // VW = 1); all of a thread's vectors see the same positions.  BATCH
  // positions' loads are issued before their updates, so that several
  // are in flight at once.
  for (uint pos = r; pos < positions; pos += ROWS * BATCH)
    {
      vec4 v[BATCH * CPT];

      [[unroll]] for (uint b = 0; b < BATCH; b++)
        [[unroll]] for (uint i = 0; i < CPT; i++)
          {
            const uint j = lc + i * LC;
            const uint at = pos + b * ROWS;

            v[b * CPT + i] = at < positions && j < vectors ? load(base + at * p.c + j * VW)
                                                           : vec4(0.0);
          }
      [[unroll]] for (uint b = 0; b < BATCH; b++)
        {
          const float nn = cnt + float(VW);

          if (pos + b * ROWS >= positions)
            break;
          [[unroll]] for (uint i = 0; i < CPT; i++)
            {
              const vec4 u = v[b * CPT + i];
              float mb = 0.0, m2b = 0.0;

              [[unroll]] for (uint e = 0; e < VW; e++)
                mb += u[e];
              mb /= float(VW);
              [[unroll]] for (uint e = 0; e < VW; e++)
                m2b += (u[e] - mb) * (u[e] - mb);
              const float delta = mb - mean[i];
              mean[i] += delta * (float(VW) / nn);
              m2[i] += m2b + delta * delta * (cnt * float(VW) / nn);
            }
          cnt = nn;
        }
    }
  [[unroll]] for (uint i = 0; i < CPT; i++)
    {
      s_mean[r * SLOTS + lc + i * LC] = mean[i];
      s_m2[r * SLOTS + lc + i * LC] = m2[i];
    }
  if (lc == 0)
    s_count[r] = cnt;
  barrier();

  // One thread per group merges its vectors of every row.
  const uint vpg = p.cpg / VW;
  for (uint g = t; g < p.groups; g += gl_WorkGroupSize.x)
    {
      float na = 0.0, ma = 0.0, qa = 0.0;

      for (uint rr = 0; rr < ROWS; rr++)
        {
          const float nb = s_count[rr];

          if (nb == 0.0)
            continue;
          for (uint j = g * vpg; j < (g + 1) * vpg; j++)
            {
              const float nn = na + nb;
              const float delta = s_mean[rr * SLOTS + j] - ma;

              ma += delta * (nb / nn);
              qa += s_m2[rr * SLOTS + j] + delta * delta * (na * nb / nn);
              na = nn;
            }
        }
      partial[(n * p.groups + g) * p.chunks + k] = vec2(ma, qa);
    }
}
