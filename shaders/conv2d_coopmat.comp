#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_memory_scope_semantics : require
#include "coopmat.glsl"
// Convolution and linear layers as an implicit GEMM on tensor cores
// (cooperative matrices, f16 in, f32 sums): M = output pixels, N =
// output channels of one group, K = kh * kw * input channels of one
// group, walked as one flat range (tap by tap, channels within a tap),
// so that any cin_g that is a multiple of 8 fills whole stages (and any
// other is read a value at a time).
//
// A workgroup owns a BM x BN tile of the output; each of its subgroups a
// WM x WN block of it, as (WM / TM) x (WN / TN) TM x TN f32 accumulators
// (the device's matrix shape, coopmat.glsl).
// Per stage of BK values of K (16, 32 or 64), every invocation reads its
// share of the A tile (im2col: each 16-byte chunk is 8 channels of one
// tap of one pixel, zero in the padding) and of the B tile (weight rows,
// contiguous in K) into registers.  With two stages in shared memory it
// stores them into the other one while the subgroups multiply the one
// the previous stage filled: one barrier per stage.  With one (where two
// do not fit), it stores them once every subgroup is done with the last:
// two barriers per stage.  AHEAD of 2 to 4 keeps that many stages' loads
// in flight, in as many sets of registers, so that each has that many
// stages' time to arrive: global memory's latency outlasts a short
// stage's products, and no load can go to shared memory before it lands.
//
// The epilogue is the scalar kernel's (conv_common.glsl): each
// accumulator goes through a per-subgroup f32 staging tile in shared
// memory, whose rows the lanes then finish (bias, GEGLU's product,
// channel bias, activation, residual, scale, clamp to f16) and store, 8
// channels at a time, as two aligned vectors of 4 where VEC_OUT.  GEGLU:
// the gate half of the weights gets B tiles and accumulators of its own.
//
// Split K: where a layer has too few output tiles to fill the GPU, each
// of p.k_slices workgroups along z takes p.slice_stages stages of K and
// stores its raw f32 sums, whole tiles, straight from the accumulators
// into binding 5 (slice after slice of a (tiles_m BM) x (tiles_n BN)
// matrix; a subpixel dispatch's phases each have k_slices of them, in
// turn); conv2d_split_sum.comp then adds the slices and runs the
// epilogue.  Groups then come one per dispatch.
//
// The host (op-conv-coopmat.c) guarantees: f16 storage, SG the
// pipeline's subgroup size, TM and TN multiples of 8 dividing WM and WN,
// TK a multiple of 8 dividing BK, BM and BN multiples of NT / CPR, and
// where CIN8, cin_g % 8 == 0 and every element offset and row stride of
// x and the weights a multiple of 8 (16 bytes).  Bindings and push
// constants are the scalar kernel's.
#include "common.glsl"
// f16 operands, f32 output (conv_common.glsl); never with SPLIT.
layout(constant_id = 18) const bool OUT_F32 = false;
#define CONV_OUT_F32 OUT_F32
// One phase of a 2x upsampled output (conv_common.glsl).
layout(constant_id = 19) const bool SUBPIXEL = false;
#define CONV_SUBPIXEL SUBPIXEL
#define CONV_GATE
#include "conv_common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const uint BM = 128;          // output pixels per workgroup
layout(constant_id = 4) const uint BN = 64;           // output channels per workgroup
layout(constant_id = 5) const uint WM = 64;           // of them, per subgroup
layout(constant_id = 6) const uint WN = 32;
layout(constant_id = 7) const bool GEGLU = false;
layout(constant_id = 8) const uint SG = 32;           // subgroup size
layout(constant_id = 9) const uint TM = 16;           // matrix shape
layout(constant_id = 10) const uint TN = 16;
layout(constant_id = 11) const uint TK = 16;
// Output channels per group and per dispatch are multiples of 4: the
// epilogue's accesses to 4 channels are aligned vectors.
layout(constant_id = 12) const bool VEC_OUT = false;
layout(constant_id = 13) const bool SPLIT = false;
// Input channels per group come in eights: A and B are staged in 16-byte
// loads.  Else (a first layer's 3, 4 or 9 channels) element by element.
layout(constant_id = 14) const bool CIN8 = true;
layout(constant_id = 15) const uint BK = 32;          // values of K per stage
layout(constant_id = 16) const uint STAGES = 2;       // in shared memory: 1 or 2
// Stages in flight in registers: 1, or 2 to 4 (with 2 in shared memory;
// CONV_STAGE has 4 copies).
layout(constant_id = 17) const uint AHEAD = 1;

const uint NT = gl_WorkGroupSize.x;  // SG * (BM / WM) * (BN / WN)
const uint CPR = BK / 8;             // 16-byte chunks per tile row and stage
// Tile rows are an odd number of 16-byte units apart (48, 80 or 144
// bytes): the 8 rows of 16 bytes that one 8x8 piece of a matrix load
// reads start in 8 different bank groups.
const uint RS = CPR + 1;             // row stride, in 16-byte units
const uint A_SIZE = BM * RS;
const uint B_SIZE = BN * RS;
const uint STAGE = A_SIZE + (GEGLU ? 2u : 1u) * B_SIZE;
const uint LA = BM * CPR / NT;       // A chunks each invocation stages
const uint LB = BN * CPR / NT;       // B (and gate) chunks
const uint ROW_STEP = NT / CPR;      // tile rows between one invocation's chunks
const uint MI = WM / TM;             // accumulator tiles of a subgroup
const uint NJ = WN / TN;
// Epilogue staging: a TM x TN f32 tile (and its gate tile), rows padded
// by 4 floats; TM (TN / 8) pieces of 8 channels to finish, EP_ROUNDS
// per lane.
const uint EP_RS = TN / 4 + 1;
const uint EP_TILE = TM * EP_RS;
const uint EP_SIZE = (NT / SG) * EP_TILE * (GEGLU ? 2u : 1u);
const uint EP_PIECES = TM * TN / 8;
const uint EP_ROUNDS = (EP_PIECES + SG - 1) / SG;
const uint SMEM = STAGES * STAGE > EP_SIZE ? STAGES * STAGE : EP_SIZE;

layout(binding = 0) readonly buffer X16 { uvec4 x16[]; };
layout(binding = 1) readonly buffer W16 { uvec4 w16[]; };
layout(binding = 6) readonly buffer WG16 { uvec4 wg16[]; };
layout(binding = 6) readonly buffer WG { float16_t wg[]; };
// SPLIT: the slices' sums.
layout(binding = 5) writeonly buffer Partial { float partial[]; };

shared uvec4 smem[SMEM];

// Per invocation: the rows of A and B it stages, the chunks in flight
// (AHEAD sets: stage s0 + i in set i % AHEAD, each set's chunks one
// after another), and where its chunk of the last stage loaded lies in
// K: flat index kpos, channel kc of tap (ky, kx).  A chunk never spans
// two taps (cin_g % 8 == 0), and lies wholly before or after K's end.
// The main loop takes AHEAD stages a turn (CONV_STAGE).
int abase[LA], aiy[LA], aix[LA];
uint brow[LB], grow[LB];
uvec4 ra[AHEAD * LA], rb[AHEAD * LB], rg[AHEAD * LB];
uint kpos, kc, ky, kx;

// Up to 4 neighbouring output channels of row m from their sums (and
// the gate's), biases not yet added.
void store_out(uint m, uint ch, vec4 v, vec4 g, uint n)
{
  const bool aligned = VEC_OUT && n == 4u;

  v += conv_bias(ch, n, aligned);
  if (GEGLU)
    v *= drape_gelu(g + gate_bias(ch, n, aligned));
  conv_store(m, ch, v, n, aligned);
}

// The input element offset of row m's pixel, channel 0 of its group, and
// the input position of kernel tap (0, 0).
void a_row(uint m, uint gch, out int base, out int iy0, out int ix0)
{
  conv_pixel(m, base, iy0, ix0);
  base += int(gch);
}

// 8 values as one staged chunk.
uvec4 pack_chunk(const float16_t v[8])
{
  return uvec4(packFloat2x16(f16vec2(v[0], v[1])), packFloat2x16(f16vec2(v[2], v[3])),
               packFloat2x16(f16vec2(v[4], v[5])), packFloat2x16(f16vec2(v[6], v[7])));
}

// !CIN8: A's chunk q at kpos, one value at a time, each from its own tap.
uvec4 a_chunk_by_element(uint q, uint K)
{
  float16_t v[8];

  [[unroll]] for (uint e = 0; e < 8; e++)
    {
      const uint k = kpos + e;
      const uint tap = k / p.cin_g;
      const uint ty = tap / p.kw;
      const uint tx = tap - ty * p.kw;
      const bool ok = k < K && conv_inside(aiy[q] + int(ty), aix[q] + int(tx));
      const int at = abase[q] + int((ty * p.in_w + tx) * p.cin + k - tap * p.cin_g);

      v[e] = ok ? x[uint(at)] : float16_t(0.0);
    }
  return pack_chunk(v);
}

// !CIN8: the 8 values of K from kpos of weight row `row`, of the gate
// half's weights where `gate`.
uvec4 b_chunk_by_element(uint row, uint K, bool gate)
{
  float16_t v[8];

  [[unroll]] for (uint e = 0; e < 8; e++)
    {
      const uint at = row + kpos + e;

      v[e] = kpos + e >= K ? float16_t(0.0) : gate ? wg[at] : w[at];
    }
  return pack_chunk(v);
}

// Global memory to register set `set`: this invocation's chunks at kpos.
void load_stage(uint K, uint set)
{
  const bool kok = kpos < K;
  // Sets past AHEAD only in code the specialisation leaves out.
  const uint a0 = min(set, AHEAD - 1u) * LA, b0 = min(set, AHEAD - 1u) * LB;

  if (!CIN8)
    {
      [[unroll]] for (uint q = 0; q < LA; q++)
        ra[a0 + q] = a_chunk_by_element(q, K);
      [[unroll]] for (uint q = 0; q < LB; q++)
        {
          rb[b0 + q] = b_chunk_by_element(brow[q], K, false);
          if (GEGLU)
            rg[b0 + q] = b_chunk_by_element(grow[q], K, true);
        }
      return;
    }
  const int shift = int((ky * p.in_w + kx) * p.cin + kc);

  // Chunks in the padding or past K read a harmless element and use zero.
  [[unroll]] for (uint q = 0; q < LA; q++)
    {
      bool ok = kok && conv_inside(aiy[q] + int(ky), aix[q] + int(kx));
      uvec4 v = x16[(ok ? uint(abase[q] + shift) : p.x_off) >> 3];
      ra[a0 + q] = ok ? v : uvec4(0);
    }
  [[unroll]] for (uint q = 0; q < LB; q++)
    {
      uint k = kok ? kpos : 0u;
      uvec4 v = w16[(brow[q] + k) >> 3];
      rb[b0 + q] = kok ? v : uvec4(0);
      if (GEGLU)
        {
          uvec4 g = wg16[(grow[q] + k) >> 3];
          rg[b0 + q] = kok ? g : uvec4(0);
        }
    }
}

// Register set `set` to the shared tiles at `base` (16-byte units).
void store_stage(uint base, uint rl0, uint cc, uint set)
{
  const uint a0 = min(set, AHEAD - 1u) * LA, b0 = min(set, AHEAD - 1u) * LB;

  [[unroll]] for (uint q = 0; q < LA; q++)
    smem[base + (rl0 + q * ROW_STEP) * RS + cc] = ra[a0 + q];
  [[unroll]] for (uint q = 0; q < LB; q++)
    {
      smem[base + A_SIZE + (rl0 + q * ROW_STEP) * RS + cc] = rb[b0 + q];
      if (GEGLU)
        smem[base + A_SIZE + B_SIZE + (rl0 + q * ROW_STEP) * RS + cc] = rg[b0 + q];
    }
}

void next_stage()
{
  kpos += BK;
  kc += BK;
  while (kc >= p.cin_g)
    {
      kc -= p.cin_g;
      kx++;
      if (kx == p.kw)
        {
          kx = 0;
          ky++;
        }
    }
}

// Stage st = s + SET of the main loop, loaded into register set SET and
// already stored in shared memory at cur: stage st + AHEAD's loads go
// into set SET, in flight while st multiplies; then stage st + 1, from
// the next set, goes into the other half of shared memory.  A macro that main() repeats
// for each set, SET a literal, so that sets are only ever indexed by
// constants and stay in registers whatever the compiler unrolls (and
// glslang 12 passes no array of NV matrices to a function).  Sets past
// AHEAD are left out by the specialisation.
#define CONV_STAGE(SET)                                                                              \
  if ((SET) < AHEAD && s + (SET) < s1)                                                               \
    {                                                                                                \
      const uint st = s + (SET);                                                                     \
      const uint cur = STAGES == 2u ? ((st - s0) & 1u) * STAGE : 0u;                                 \
      const bool more = st + 1 < s1;                                                                 \
                                                                                                     \
      if (st + AHEAD < s1)                                                                           \
        {                                                                                            \
          next_stage();                                                                              \
          load_stage(K, (SET));                                                                      \
        }                                                                                            \
      [[unroll]] for (uint kk = 0; kk < BK / TK; kk++)                                               \
        {                                                                                            \
          const uint kc8 = kk * (TK / 8);                                                            \
          CM_A fa[MI];                                                                               \
          CM_B fb[NJ];                                                                               \
                                                                                                     \
          [[unroll]] for (uint i = 0; i < MI; i++)                                                   \
            cm_load(fa[i], smem, cur + (wm0 + i * TM) * RS + kc8, RS, false);                        \
          [[unroll]] for (uint j = 0; j < NJ; j++)                                                   \
            cm_load(fb[j], smem, cur + A_SIZE + (wn0 + j * TN) * RS + kc8, RS, true);                \
          [[unroll]] for (uint i = 0; i < MI; i++)                                                   \
            [[unroll]] for (uint j = 0; j < NJ; j++)                                                 \
              acc[i * NJ + j] = cm_mul_add(fa[i], fb[j], acc[i * NJ + j]);                           \
          if (GEGLU)                                                                                 \
            {                                                                                        \
              [[unroll]] for (uint j = 0; j < NJ; j++)                                               \
                cm_load(fb[j], smem, cur + A_SIZE + B_SIZE + (wn0 + j * TN) * RS + kc8, RS, true);   \
              [[unroll]] for (uint i = 0; i < MI; i++)                                               \
                [[unroll]] for (uint j = 0; j < NJ; j++)                                             \
                  gacc[i * NJ + j] = cm_mul_add(fa[i], fb[j], gacc[i * NJ + j]);                     \
            }                                                                                        \
        }                                                                                            \
      /* Two stages: the other one was last read before the previous                                 \
       * barrier.  One: the barrier also comes before the epilogue's                                 \
       * staging overwrites the stage. */                                                            \
      if (STAGES == 2u)                                                                              \
        {                                                                                            \
          if (more)                                                                                  \
            store_stage(STAGE - cur, rl0, cc, ((SET) + 1u) % AHEAD);                                 \
          barrier();                                                                                 \
        }                                                                                            \
      else                                                                                           \
        {                                                                                            \
          barrier();                                                                                 \
          if (more)                                                                                  \
            {                                                                                        \
              store_stage(0, rl0, cc, ((SET) + 1u) % AHEAD);                                         \
              barrier();                                                                             \
            }                                                                                        \
        }                                                                                            \
    }

void main()
{
  const uint t = gl_LocalInvocationID.x;
  const uint sg = gl_SubgroupID;
  const uint lane = gl_SubgroupInvocationID;
  const uint tile = drape_group_index();
  const uint tm = tile / p.tiles_n;
  const uint row0 = tm * BM;
  const uint col0 = (tile - tm * p.tiles_n) * BN;
  // z: the group; or, split, the slice; or, subpixel, the phase (split:
  // slices of each phase in turn).
  const uint slice = SPLIT ? gl_WorkGroupID.z % p.k_slices : 0u;
  const uint group = SPLIT || SUBPIXEL ? 0u : gl_WorkGroupID.z;
  const uint ch0 = group * p.cout_g;
  const uint gch = (p.g0 + group) * p.cin_g;
  const uint K = p.kh * p.kw * p.cin_g;
  const uint stages = (K + BK - 1) / BK;
  const uint s0 = SPLIT ? slice * p.slice_stages : 0u;
  const uint s1 = SPLIT ? min(s0 + p.slice_stages, stages) : stages;
  const uint cc = t % CPR;   // this invocation's chunk of each staged row
  const uint rl0 = t / CPR;  // and its first staged row
  const uint wm0 = (sg / (BN / WN)) * WM;
  const uint wn0 = (sg % (BN / WN)) * WN;
  CM_ACC acc[MI * NJ], gacc[MI * NJ];

  conv_phase = SUBPIXEL ? gl_WorkGroupID.z / (SPLIT ? p.k_slices : 1u) : 0u;
  // Folding the grid into (x, y) may add workgroups past the last tile.
  if (row0 >= p.m)
    return;

  // Rows and columns past the edge stage the last real one; their
  // results are not stored.
  [[unroll]] for (uint q = 0; q < LA; q++)
    a_row(min(row0 + rl0 + q * ROW_STEP, p.m - 1), gch, abase[q], aiy[q], aix[q]);
  [[unroll]] for (uint q = 0; q < LB; q++)
    {
      uint col = ch0 + min(col0 + rl0 + q * ROW_STEP, p.ncols - 1);
      brow[q] = p.w_off + conv_weight_row(col) * K;
      grow[q] = p.wg_off + col * K;
    }
  [[unroll]] for (uint i = 0; i < MI * NJ; i++)
    {
      acc[i] = CM_ACC(0.0);
      gacc[i] = CM_ACC(0.0);
    }

  kpos = s0 * BK + cc * 8u;
  {
    uint tap = kpos / p.cin_g;
    kc = kpos - tap * p.cin_g;
    ky = tap / p.kw;
    kx = tap - ky * p.kw;
  }
  load_stage(K, 0u);
  store_stage(0, rl0, cc, 0u);
  [[unroll]] for (uint a = 1; a < AHEAD; a++)
    if (s0 + a < s1)
      {
        next_stage();
        load_stage(K, a);
      }
  barrier();

  for (uint s = s0; s < s1; s += AHEAD)
    {
      CONV_STAGE(0u)
      CONV_STAGE(1u)
      CONV_STAGE(2u)
      CONV_STAGE(3u)
    }

  if (SPLIT)
    {
      const uint ld = p.tiles_n * BN;
      const uint first = p.o_off + gl_WorkGroupID.z * conv_split_slice(BM, BN) + (row0 + wm0) * ld +
                         col0 + wn0;

      [[unroll]] for (uint i = 0; i < MI; i++)
        [[unroll]] for (uint j = 0; j < NJ; j++)
          cm_store(acc[i * NJ + j], partial, first + i * TM * ld + j * TN, ld, false);
      return;
    }

  // Epilogue, one TM x TN tile at a time through this subgroup's staging
  // tile: piece e of a tile is row e / (TN / 8), channels 8 (e % (TN /
  // 8)) to 8 (e % (TN / 8)) + 7.
  const uint ebase = sg * EP_TILE * (GEGLU ? 2u : 1u);

  [[unroll]] for (uint i = 0; i < MI; i++)
    [[unroll]] for (uint j = 0; j < NJ; j++)
      {
        cm_store(acc[i * NJ + j], smem, ebase, EP_RS, false);
        if (GEGLU)
          cm_store(gacc[i * NJ + j], smem, ebase + EP_TILE, EP_RS, false);
        // subgroupBarrier() also makes the subgroup's shared-memory
        // writes visible to all of its lanes.
        subgroupBarrier();
        [[unroll]] for (uint u = 0; u < EP_ROUNDS; u++)
          {
            const uint e = lane + u * SG;
            const uint er = e / (TN / 8u);
            const uint ec = (e - er * (TN / 8u)) * 8u;
            const uint row = row0 + wm0 + i * TM + er;
            const uint col = col0 + wn0 + j * TN + ec;

            if (e >= EP_PIECES || row >= p.m)
              continue;
            [[unroll]] for (uint h = 0; h < 2; h++)
              if (col + h * 4u < p.ncols)
                {
                  vec4 a = uintBitsToFloat(smem[ebase + er * EP_RS + ec / 4 + h]);
                  vec4 b = GEGLU ? uintBitsToFloat(smem[ebase + EP_TILE + er * EP_RS + ec / 4 + h])
                                 : vec4(0.0);
                  store_out(row, ch0 + col + h * 4u, a, b, min(4u, p.ncols - col - h * 4u));
                }
          }
        // Every lane has read the tile before the next one overwrites it.
        subgroupBarrier();
      }
}
