#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_samplerless_texture_functions : enable
#extension GL_KHR_shader_subgroup_basic : require
// Convolution and linear layers as an implicit GEMM over NHWC tensors:
// M = output pixels, N = output channels of one group, K = kh * kw * input
// channels of one group.  Weights are [cout, kh, kw, cin / groups] and
// activations channels-last, so K is contiguous in both operands.  The
// K loop walks the kernel positions and, within each, the channels.
//
// Two algorithms, chosen per device by the host (op-conv.c):
//  - TILED (GPUs): a workgroup stages BM x BK tiles of A and BN x BK tiles
//    of B in shared memory; each invocation accumulates a TM x TN block.
//  - SUBGROUP (CPU drivers such as lavapipe, where each load from memory
//    is a loop over the lanes but reading a constant lane's value is one
//    register broadcast): no shared memory; each lane loads TM rows of A
//    and TN columns of B, and every lane reads the A values of all
//    others (subgroup_lane.glsl), so a subgroup computes (SG * TM) x
//    (SG * TN) outputs with one load per TM + TN values of each lane.
// GEGLU: weights and bias come in two halves (h, and the gate g, bound
// separately); every output channel accumulates both and stores h * gelu(g).
//
// Built twice per storage type: reading x and the weights from storage
// buffers, and (DRAPE_TEXEL) from uniform texel buffers of 4 channels,
// which CPU drivers fetch with vector gathers instead of a loop over the
// lanes, storing 64-bit values (conv_store4); the host picks the texel
// build for the subgroup algorithm with 4-channel loads.
#include "common.glsl"

// The epilogue (conv_common.glsl), or FLAGS_DYNAMIC to read it from the
// push constants.  The subgroup algorithm fixes it per pipeline: its
// epilogue, repeated for each of the TM * SG rows a lane holds, would
// otherwise dominate the compile time on CPU drivers.
const uint FLAGS_DYNAMIC = 0xffffffffu;
layout(constant_id = 14) const uint FLAGS = FLAGS_DYNAMIC;
#define CONV_FLAGS (FLAGS == FLAGS_DYNAMIC ? p.flags : FLAGS)
// f16 operands, f32 output (conv_common.glsl).
layout(constant_id = 15) const bool OUT_F32 = false;
#define CONV_OUT_F32 OUT_F32
// One phase of a 2x upsampled output (conv_common.glsl).
layout(constant_id = 16) const bool SUBPIXEL = false;
#define CONV_SUBPIXEL SUBPIXEL
// The texel variants' 64-bit stores (conv_common.glsl).
layout(constant_id = 17) const bool STORE64 = true;
#define CONV_STORE64 STORE64
#define CONV_GATE
#include "conv_common.glsl"
// The subgroup algorithm's way to pass A round (subgroup_lane.glsl).
layout(constant_id = 18) const bool LANE_BROADCAST = false;
#include "subgroup_lane.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const uint VARIANT = 0;        // 0: tiled, 1: subgroup
layout(constant_id = 4) const uint TM = 4;             // rows per invocation (subgroup: per lane, as loaded)
layout(constant_id = 5) const uint TN = 4;             // output channels per invocation
layout(constant_id = 6) const uint BM = 64;            // tiled: rows of the workgroup's tile
layout(constant_id = 7) const uint BN = 64;            // tiled: columns of the tile
layout(constant_id = 8) const uint BK = 16;            // tiled: channels staged per step
layout(constant_id = 9) const uint SG = 8;             // subgroup: the subgroup size
layout(constant_id = 10) const bool VEC4 = false;      // cin_g % 4 == 0: load 4 channels at once
layout(constant_id = 11) const bool POINTWISE = false; // 1x1, stride 1, no padding: A is x
layout(constant_id = 12) const bool GEGLU = false;
// Output channels per group and per dispatch are multiples of 4: the
// epilogue's accesses to 4 channels are aligned vectors.
layout(constant_id = 13) const bool VEC_OUT = false;

#if DRAPE_TEXEL
layout(binding = 0) uniform textureBuffer x_tex;
layout(binding = 1) uniform textureBuffer w_tex;
layout(binding = 6) uniform textureBuffer wg_tex;
// Element i, and elements 4 q .. 4 q + 3.
#define LOAD_X(i) texelFetch(x_tex, int((i) >> 2))[(i) & 3u]
#define LOAD_X4(q) texelFetch(x_tex, int(q))
#define LOAD_W(i) texelFetch(w_tex, int((i) >> 2))[(i) & 3u]
#define LOAD_W4(q) texelFetch(w_tex, int(q))
#define LOAD_WG(i) texelFetch(wg_tex, int((i) >> 2))[(i) & 3u]
#define LOAD_WG4(q) texelFetch(wg_tex, int(q))
#else
layout(binding = 6) readonly buffer WG { WT wg[]; };
layout(binding = 6) readonly buffer WG4 { WT4 wg4[]; };
#define LOAD_X(i) float(x[i])
#define LOAD_X4(q) vec4(x4[q])
#define LOAD_W(i) float(w[i])
#define LOAD_W4(q) vec4(w4[q])
#define LOAD_WG(i) float(wg[i])
#define LOAD_WG4(q) vec4(wg4[q])
#endif

shared float As[BK * BM];
shared float Bs[BK * BN];
shared float Gs[BK * BN];

// Up to 4 neighbouring output channels of row m, biases included.
void store_out(uint m, uint ch, vec4 v, vec4 g, uint n, bool aligned)
{
  if (GEGLU)
    v *= drape_gelu(g);
  conv_store(m, ch, v, n, aligned);
}

// The input element offset of row m's pixel, channel 0 of its group, and
// the input position of kernel tap (0, 0).
void a_row(uint m, uint gch, out int base, out int iy0, out int ix0)
{
  if (POINTWISE)
    {
      base = int(p.x_off + m * p.cin + gch);
      iy0 = 0;
      ix0 = 0;
    }
  else
    {
      conv_pixel(m, base, iy0, ix0);
      base += int(gch);
    }
}

void main_subgroup()
{
  const uint NACC = TM * SG * TN;
  const uint lane = gl_SubgroupInvocationID;
  const uint tile = drape_group_index() * (gl_WorkGroupSize.x / SG) + gl_SubgroupID;
  const uint tm = tile / p.tiles_n;
  const uint row0 = tm * (TM * SG);
  const uint col0 = (tile - tm * p.tiles_n) * (TN * SG) + lane * TN;
  // z: the group, or a subpixel dispatch's phase.
  const uint group = SUBPIXEL ? 0u : gl_WorkGroupID.z;
  const uint ch0 = group * p.cout_g;
  const uint gch = (p.g0 + group) * p.cin_g;
  const uint K = p.kh * p.kw * p.cin_g;
  // This lane's columns col0 .. col0 + TN - 1; ncol of them are real.
  const uint ncol = col0 < p.ncols ? min(TN, p.ncols - col0) : 0u;
  const bool aligned = VEC_OUT && TN == 4;
  int abase[TM], iy0[TM], ix0[TM];
  uint wrow[TN], grow[TN];
  float acc[NACC], gacc[NACC];

  if (row0 >= p.m)
    return;
  // Rows and columns past the edge load the last real one; their results
  // are not stored.
  [[unroll]] for (uint i = 0; i < TM; i++)
    a_row(min(row0 + lane + i * SG, p.m - 1), gch, abase[i], iy0[i], ix0[i]);
  [[unroll]] for (uint j = 0; j < TN; j++)
    {
      uint col = ch0 + min(col0 + j, p.ncols - 1);
      wrow[j] = p.w_off + conv_weight_row(col) * K;
      grow[j] = p.wg_off + col * K;
    }
  {
    // The sums start from the bias.
    vec4 b = conv_bias(ch0 + col0, ncol, aligned);
    vec4 g = GEGLU ? gate_bias(ch0 + col0, ncol, aligned) : vec4(0.0);
    [[unroll]] for (uint i = 0; i < NACC; i++)
      {
        acc[i] = b[i % TN];
        gacc[i] = g[i % TN];
      }
  }

  for (uint ky = 0; ky < p.kh; ky++)
    for (uint kx = 0; kx < p.kw; kx++)
      {
        const int shift = int((ky * p.in_w + kx) * p.cin);
        const uint koff = (ky * p.kw + kx) * p.cin_g;
        uint aidx[TM];
        bool ok[TM];

        // Taps in the padding read a harmless element and use zero.
        [[unroll]] for (uint i = 0; i < TM; i++)
          {
            ok[i] = POINTWISE || conv_inside(iy0[i] + int(ky), ix0[i] + int(kx));
            aidx[i] = ok[i] ? uint(abase[i] + shift) : p.x_off;
          }
        if (VEC4)
          {
            for (uint c = 0; c < p.cin_g; c += 4)
              {
                vec4 a[TM], b[TN], g[TN];
                [[unroll]] for (uint i = 0; i < TM; i++)
                  {
                    vec4 v = LOAD_X4((aidx[i] + c) >> 2);
                    a[i] = ok[i] ? v : vec4(0.0);
                  }
                [[unroll]] for (uint j = 0; j < TN; j++)
                  {
                    b[j] = LOAD_W4((wrow[j] + koff + c) >> 2);
                    if (GEGLU)
                      g[j] = LOAD_WG4((grow[j] + koff + c) >> 2);
                  }
                [[unroll]] for (uint i = 0; i < TM; i++)
                  [[unroll]] for (uint r = 0; r < SG; r++)
                    {
                      vec4 s = drape_lane_value4(a[i], r);
                      [[unroll]] for (uint j = 0; j < TN; j++)
                        {
                          uint n = (i * SG + r) * TN + j;
                          acc[n] += dot(s, b[j]);
                          if (GEGLU)
                            gacc[n] += dot(s, g[j]);
                        }
                    }
              }
          }
        else
          {
            for (uint c = 0; c < p.cin_g; c++)
              {
                float a[TM], b[TN], g[TN];
                [[unroll]] for (uint i = 0; i < TM; i++)
                  {
                    float v = LOAD_X(aidx[i] + c);
                    a[i] = ok[i] ? v : 0.0;
                  }
                [[unroll]] for (uint j = 0; j < TN; j++)
                  {
                    b[j] = LOAD_W(wrow[j] + koff + c);
                    if (GEGLU)
                      g[j] = LOAD_WG(grow[j] + koff + c);
                  }
                [[unroll]] for (uint i = 0; i < TM; i++)
                  [[unroll]] for (uint r = 0; r < SG; r++)
                    {
                      float s = drape_lane_value(a[i], r);
                      [[unroll]] for (uint j = 0; j < TN; j++)
                        {
                          uint n = (i * SG + r) * TN + j;
                          acc[n] = fma(s, b[j], acc[n]);
                          if (GEGLU)
                            gacc[n] = fma(s, g[j], gacc[n]);
                        }
                    }
              }
          }
      }

  if (ncol == 0u)
    return;
  [[unroll]] for (uint i = 0; i < TM; i++)
    [[unroll]] for (uint r = 0; r < SG; r++)
      {
        uint row = row0 + i * SG + r;
        uint n = (i * SG + r) * TN;
        vec4 v = vec4(0.0), g = vec4(0.0);

        [[unroll]] for (uint j = 0; j < TN; j++)
          {
            v[j] = acc[n + j];
            g[j] = gacc[n + j];
          }
        if (row < p.m)
          store_out(row, ch0 + col0, v, g, ncol, aligned);
      }
}

void main_tiled()
{
  const uint NT = (BM / TM) * (BN / TN);
  const uint LW = VEC4 ? 4u : 1u;  // channels per staging load
  const uint KV = BK / LW;         // staging loads per tile row
  const uint LA = (BM * KV + NT - 1) / NT;
  const uint LB = (BN * KV + NT - 1) / NT;
  const uint t = gl_LocalInvocationID.x;
  const uint tile = drape_group_index();
  const uint tm = tile / p.tiles_n;
  const uint row0 = tm * BM;
  const uint col0 = (tile - tm * p.tiles_n) * BN;
  // z: the group, or a subpixel dispatch's phase.
  const uint group = SUBPIXEL ? 0u : gl_WorkGroupID.z;
  const uint ch0 = group * p.cout_g;
  const uint gch = (p.g0 + group) * p.cin_g;
  const uint K = p.kh * p.kw * p.cin_g;
  const uint tx = t % (BN / TN);
  const uint ty = t / (BN / TN);
  // Staging slot q of this invocation: tile row (or column) v / KV,
  // channels (v % KV) * LW of each step.
  int abase[LA], aiy[LA], aix[LA];
  uint wrow[LB], grow[LB];
  float acc[TM * TN], gacc[TM * TN];

  [[unroll]] for (uint q = 0; q < LA; q++)
    a_row(min(row0 + (t + q * NT) / KV, p.m - 1), gch, abase[q], aiy[q], aix[q]);
  [[unroll]] for (uint q = 0; q < LB; q++)
    {
      uint col = ch0 + min(col0 + (t + q * NT) / KV, p.ncols - 1);
      wrow[q] = p.w_off + conv_weight_row(col) * K;
      grow[q] = p.wg_off + col * K;
    }
  // The sums start from the bias.
  [[unroll]] for (uint j4 = 0; j4 < TN; j4 += 4)
    {
      uint col = col0 + tx * TN + j4;
      uint n = col < p.ncols ? min(min(TN - j4, 4u), p.ncols - col) : 0u;
      vec4 b = conv_bias(ch0 + col, n, VEC_OUT && TN >= 4);
      vec4 g = GEGLU ? gate_bias(ch0 + col, n, VEC_OUT && TN >= 4) : vec4(0.0);
      [[unroll]] for (uint i = 0; i < TM; i++)
        [[unroll]] for (uint j = j4; j < min(TN, j4 + 4); j++)
          {
            acc[i * TN + j] = b[j - j4];
            gacc[i * TN + j] = g[j - j4];
          }
    }

  for (uint ky = 0; ky < p.kh; ky++)
    for (uint kx = 0; kx < p.kw; kx++)
      {
        const int shift = int((ky * p.in_w + kx) * p.cin);
        const uint koff = (ky * p.kw + kx) * p.cin_g;
        uint aidx[LA];
        bool ok[LA];

        [[unroll]] for (uint q = 0; q < LA; q++)
          {
            ok[q] = POINTWISE || conv_inside(aiy[q] + int(ky), aix[q] + int(kx));
            aidx[q] = ok[q] ? uint(abase[q] + shift) : p.x_off;
          }
        for (uint c0 = 0; c0 < p.cin_g; c0 += BK)
          {
            [[unroll]] for (uint q = 0; q < LA; q++)
              {
                uint v = t + q * NT;
                uint kk = (v % KV) * LW;
                uint rl = v / KV;
                bool live = ok[q] && c0 + kk < p.cin_g;
                if (LA * NT != BM * KV && v >= BM * KV)
                  break;
                if (VEC4)
                  {
                    vec4 a = LOAD_X4(live ? (aidx[q] + c0 + kk) >> 2 : p.x_off >> 2);
                    a = live ? a : vec4(0.0);
                    As[(kk + 0) * BM + rl] = a.x;
                    As[(kk + 1) * BM + rl] = a.y;
                    As[(kk + 2) * BM + rl] = a.z;
                    As[(kk + 3) * BM + rl] = a.w;
                  }
                else
                  {
                    float a = LOAD_X(live ? aidx[q] + c0 + kk : p.x_off);
                    As[kk * BM + rl] = live ? a : 0.0;
                  }
              }
            [[unroll]] for (uint q = 0; q < LB; q++)
              {
                uint v = t + q * NT;
                uint kk = (v % KV) * LW;
                uint cl = v / KV;
                bool live = c0 + kk < p.cin_g;
                uint k = live ? koff + c0 + kk : 0u;
                if (LB * NT != BN * KV && v >= BN * KV)
                  break;
                if (VEC4)
                  {
                    vec4 b = live ? LOAD_W4((wrow[q] + k) >> 2) : vec4(0.0);
                    Bs[(kk + 0) * BN + cl] = b.x;
                    Bs[(kk + 1) * BN + cl] = b.y;
                    Bs[(kk + 2) * BN + cl] = b.z;
                    Bs[(kk + 3) * BN + cl] = b.w;
                    if (GEGLU)
                      {
                        vec4 g = live ? LOAD_WG4((grow[q] + k) >> 2) : vec4(0.0);
                        Gs[(kk + 0) * BN + cl] = g.x;
                        Gs[(kk + 1) * BN + cl] = g.y;
                        Gs[(kk + 2) * BN + cl] = g.z;
                        Gs[(kk + 3) * BN + cl] = g.w;
                      }
                  }
                else
                  {
                    float b = LOAD_W(wrow[q] + k);
                    Bs[kk * BN + cl] = live ? b : 0.0;
                    if (GEGLU)
                      {
                        float g = LOAD_WG(grow[q] + k);
                        Gs[kk * BN + cl] = live ? g : 0.0;
                      }
                  }
              }
            barrier();
            for (uint kk = 0; kk < BK; kk++)
              {
                float a[TM], b[TN], g[TN];
                [[unroll]] for (uint i = 0; i < TM; i++)
                  a[i] = As[kk * BM + ty * TM + i];
                [[unroll]] for (uint j = 0; j < TN; j++)
                  {
                    b[j] = Bs[kk * BN + tx * TN + j];
                    if (GEGLU)
                      g[j] = Gs[kk * BN + tx * TN + j];
                  }
                [[unroll]] for (uint i = 0; i < TM; i++)
                  [[unroll]] for (uint j = 0; j < TN; j++)
                    {
                      acc[i * TN + j] = fma(a[i], b[j], acc[i * TN + j]);
                      if (GEGLU)
                        gacc[i * TN + j] = fma(a[i], g[j], gacc[i * TN + j]);
                    }
              }
            barrier();
          }
      }

  [[unroll]] for (uint i = 0; i < TM; i++)
    {
      uint row = row0 + ty * TM + i;
      if (row < p.m)
        [[unroll]] for (uint j4 = 0; j4 < TN; j4 += 4)
          {
            uint col = col0 + tx * TN + j4;
            uint n = col < p.ncols ? min(min(TN - j4, 4u), p.ncols - col) : 0u;
            vec4 v = vec4(0.0), g = vec4(0.0);

            [[unroll]] for (uint j = j4; j < min(TN, j4 + 4); j++)
              {
                v[j - j4] = acc[i * TN + j];
                g[j - j4] = gacc[i * TN + j];
              }
            if (n > 0u)
              store_out(row, ch0 + col, v, g, n, VEC_OUT && TN >= 4);
          }
    }
}

void main()
{
  conv_phase = SUBPIXEL ? gl_WorkGroupID.z : 0u;
  if (VARIANT == 1u)
    main_subgroup();
  else
    main_tiled();
}
