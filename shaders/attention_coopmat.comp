#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_KHR_shader_subgroup_vote : require
#extension GL_KHR_memory_scope_semantics : require
#include "coopmat.glsl"
// Flash attention on tensor cores (cooperative matrices, f16 in, f32
// sums), with attention.comp's bindings, push constants and semantics.
//
// Matrices have the device's shape (coopmat.glsl): TM x TK for Q and P,
// TK x TN for K^T and V, TM x TN for S and O.  A workgroup owns BR
// queries of one head of one image; each subgroup RT tiles of TM of
// them, whose Q stays in registers as f16 matrices (the head dim
// zero-padded to DP, a multiple of TK and TN), and whose output
// accumulates in f32 matrices.  Per block of BC keys, the workgroup
// stages K and V in shared memory, then each subgroup
//   - computes S = Q K^T into shared memory (column-major TM x BC);
//   - runs the online softmax in f32, each of a tile's rows on LPR
//     lanes, each lane on RPL rows and every LPR-th column: row max
//     (across lanes l, l ^ RL, ...), the running max m, P = exp2 (S
//     scale - m) as f16 to shared memory, the running sum l of the
//     rounded P;
//   - rescales O by exp2 (m_old - m_new) where m moved, as O / R with R a
//     TM x TN matrix of the inverse factors per row (component-wise ops
//     are all the extension gives: an element's lane and slot are the
//     implementation's), skipped when no row of the tile moved; m moves
//     only when a block's max passes it by TAU, so P stays below 2^TAU
//     and most blocks skip;
//   - O += P V.
// At the end each output tile goes through shared memory, divided by l,
// to the output.
//
// The host (op-attention-coopmat.c) guarantees: f16 storage, SG the
// pipeline's subgroup size, a power of two; TM, TN and TK 8 or 16; SG /
// TM at most TN; BC a multiple of 16; VEC8 only when every row and
// offset of Q, K, V and the output is a multiple of 8 elements (16
// bytes).
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const uint D = 64;       // head dim
layout(constant_id = 4) const uint BC = 32;      // keys per block
layout(constant_id = 5) const uint RT = 1;       // 16-query tiles per subgroup
layout(constant_id = 6) const bool VEC8 = false; // 16-byte global loads and stores
layout(constant_id = 7) const uint SG = 32;      // subgroup size
layout(constant_id = 8) const uint TM = 16;      // matrix shape
layout(constant_id = 9) const uint TN = 16;
layout(constant_id = 10) const uint TK = 16;

const uint WG = gl_WorkGroupSize.x;
const uint NW = WG / SG;                 // subgroups
const uint DQ = TN > TK ? TN : TK;
const uint DP = (D + DQ - 1) / DQ * DQ;
const uint DTK = DP / TK;                // Q matrices per query tile
const uint DTN = DP / TN;                // O matrices per query tile
const uint D8 = DP / 8;                  // 16-byte chunks of a padded row
// Rows of Q, K and V tiles are 16 (2 D8 + 1) bytes apart: the 8 rows of
// 16 bytes that one 8x8 piece of a matrix load reads hit 8 different
// bank groups.
const uint RS = D8 + 1;
const uint SR = RT * TM;                 // queries per subgroup
const uint BR = NW * SR;                 // queries per workgroup
const uint SBLK = TM * BC;               // S or P of one query tile
// Softmax and output rows: the subgroup covers RL rows of a tile at a
// time, RPL times over; LPR lanes share each row.
const uint RL = SG < TM ? SG : TM;
const uint RPL = TM / RL;
const uint LPR = SG / RL;
// Masked keys score this: exp2 of it minus any real maximum is 0, and
// unlike -inf it cannot make inf - inf.
const float MASKED = -1.0e30;
const float TAU = 8.0;

layout(binding = 0) readonly buffer Q { T q[]; };
layout(binding = 0) readonly buffer Q16 { uvec4 q16[]; };
layout(binding = 1) readonly buffer K { T k[]; };
layout(binding = 1) readonly buffer K16 { uvec4 k16[]; };
layout(binding = 2) readonly buffer V { T v[]; };
layout(binding = 2) readonly buffer V16 { uvec4 v16[]; };
layout(binding = 3) writeonly buffer O { T o[]; };
layout(binding = 3) writeonly buffer O16 { uvec4 o16[]; };

layout(push_constant) uniform Params {
  uint q_off, k_off, v_off, o_off;             // element offset of row 0, head 0
  uint q_stride, k_stride, v_stride, o_stride; // elements per token
  uint tq;                                     // query rows in this dispatch
  uint tk;                                     // keys per image
  uint q_img, k_img, v_img, o_img;             // elements per image (z)
  float scale;                                 // softmax scale * log2 (e)
} p;

// K rows [0, BC) then V rows [BC, 2 BC); Q before the first block.
shared uvec4 kv_sh[2 * BC * RS];
// Per query tile: S (column-major, 16 rows), then the rescale matrix.
shared float s_sh[NW * RT * SBLK];
// Per query tile: P (column-major, 16 rows).
shared float16_t p_sh[NW * RT * SBLK];

float16_t load_elem(uint which, uint i)
{
  return which == 0u ? q[i] : which == 1u ? k[i] : v[i];
}

// Dims [8 c8, 8 c8 + 8) of row r of Q (which 0), K (1) or V (2) from
// element `base`: zero past the head dim and for rows past `rows`.
uvec4 chunk(uint which, uint base, uint stride, uint r, uint rows, uint c8)
{
  uvec4 val = uvec4(0);
  uint e0 = base + r * stride + c8 * 8u;

  if (r >= rows || c8 * 8u >= D)
    return val;
  if (VEC8)
    return which == 0u ? q16[e0 >> 3] : which == 1u ? k16[e0 >> 3] : v16[e0 >> 3];
  [[unroll]] for (uint e = 0; e < 8; e += 2)
    {
      f16vec2 pair = f16vec2(0.0);
      if (c8 * 8u + e < D)
        pair.x = load_elem(which, e0 + e);
      if (c8 * 8u + e + 1u < D)
        pair.y = load_elem(which, e0 + e + 1u);
      val[e / 2] = packFloat2x16(pair);
    }
  return val;
}

// Rows [r0, r0 + n) of a tile into kv_sh rows [dst, dst + n).
void stage(uint which, uint base, uint stride, uint r0, uint rows, uint dst, uint n)
{
  for (uint i = gl_LocalInvocationID.x; i < n * D8; i += WG)
    {
      uint r = i / D8, c8 = i - r * D8;
      kv_sh[(dst + r) * RS + c8] = chunk(which, base, stride, r0 + r, rows, c8);
    }
}

void main()
{
  const uint w = gl_SubgroupID;
  const uint lane = gl_SubgroupInvocationID;
  const uint head = gl_WorkGroupID.y;
  const uint img = gl_WorkGroupID.z;
  const uint q0 = gl_WorkGroupID.x * BR;
  const uint qb = p.q_off + img * p.q_img + head * D;
  const uint kb = p.k_off + img * p.k_img + head * D;
  const uint vb = p.v_off + img * p.v_img + head * D;
  // This lane's first row of each query tile (the others follow RL
  // apart), and which of a row's LPR lanes it is.
  const uint r = lane % RL;
  const uint h = lane / RL;
  CM_A qa[RT * DTK];
  CM_ACC oacc[RT * DTN];
  // Running max and sum of row r + i RL of tile t, at t RPL + i.
  float m[RT * RPL], l[RT * RPL];

  [[unroll]] for (uint i = 0; i < RT * DTN; i++)
    oacc[i] = CM_ACC(0.0);
  [[unroll]] for (uint i = 0; i < RT * RPL; i++)
    {
      m[i] = MASKED;
      l[i] = 0.0;
    }

  // Q, through kv_sh 2 BC rows at a time (query tiles never straddle).
  for (uint c0 = 0; c0 < BR; c0 += 2u * BC)
    {
      barrier();
      stage(0u, qb, p.q_stride, q0 + c0, p.tq, 0u, min(2u * BC, BR - c0));
      barrier();
      [[unroll]] for (uint t = 0; t < RT; t++)
        {
          const uint row = w * SR + t * TM;
          if (row >= c0 && row < c0 + 2u * BC)
            [[unroll]] for (uint dt = 0; dt < DTK; dt++)
              cm_load(qa[t * DTK + dt], kv_sh, (row - c0) * RS + dt * (TK / 8u), RS, false);
        }
    }

  for (uint k0 = 0; k0 < p.tk; k0 += BC)
    {
      bool moved[RT];

      barrier(); // every subgroup is done with kv_sh
      stage(1u, kb, p.k_stride, k0, p.tk, 0u, BC);
      stage(2u, vb, p.v_stride, k0, p.tk, BC, BC);
      barrier();

      // S = Q K^T: K as a column-major B (dims x keys).
      [[unroll]] for (uint j = 0; j < BC / TN; j++)
        {
          CM_ACC s[RT];

          [[unroll]] for (uint t = 0; t < RT; t++)
            s[t] = CM_ACC(0.0);
          [[unroll]] for (uint dt = 0; dt < DTK; dt++)
            {
              CM_B kmat;

              cm_load(kmat, kv_sh, j * TN * RS + dt * (TK / 8u), RS, true);
              [[unroll]] for (uint t = 0; t < RT; t++)
                s[t] = cm_mul_add(qa[t * DTK + dt], kmat, s[t]);
            }
          [[unroll]] for (uint t = 0; t < RT; t++)
            cm_store(s[t], s_sh, (w * RT + t) * SBLK + j * TM * TN, TM, true);
        }
      // subgroupBarrier() also makes the subgroup's shared-memory writes
      // visible to all of its lanes.
      subgroupBarrier();

      [[unroll]] for (uint t = 0; t < RT; t++)
        {
          const uint sb = (w * RT + t) * SBLK;
          float inv[RPL];
          bool any_moved = false;

          [[unroll]] for (uint i = 0; i < RPL; i++)
            {
              const uint row = r + i * RL;
              const uint mi = t * RPL + i;
              float sv[BC / LPR];
              float mx = MASKED, sum = 0.0;

              [[unroll]] for (uint jj = 0; jj < BC / LPR; jj++)
                {
                  uint c = LPR * jj + h;
                  float x = s_sh[sb + c * TM + row] * p.scale;
                  sv[jj] = k0 + c < p.tk ? x : MASKED;
                  mx = max(mx, sv[jj]);
                }
              [[unroll]] for (uint o = RL; o < SG; o *= 2u)
                mx = max(mx, subgroupShuffleXor(mx, o));
              const float m_new = mx > m[mi] + TAU ? mx : m[mi];
              [[unroll]] for (uint jj = 0; jj < BC / LPR; jj++)
                {
                  float16_t ph = float16_t(exp2(sv[jj] - m_new));
                  sum += float(ph);
                  p_sh[sb + (LPR * jj + h) * TM + row] = ph;
                }
              [[unroll]] for (uint o = RL; o < SG; o *= 2u)
                sum += subgroupShuffleXor(sum, o);
              l[mi] = l[mi] * exp2(m[mi] - m_new) + sum;
              // exp2 (m_new - m_old): inf on the first block, where O is
              // 0 and 0 / inf is 0.
              inv[i] = exp2(m_new - m[mi]);
              any_moved = any_moved || m_new != m[mi];
              m[mi] = m_new;
            }
          moved[t] = subgroupAny(any_moved);
          if (moved[t])
            {
              // Row-major R: row r + i RL holds inv[i].  Every lane has
              // read its S before R overwrites it.
              subgroupBarrier();
              [[unroll]] for (uint i = 0; i < RPL; i++)
                [[unroll]] for (uint e = 0; e < TN / LPR; e++)
                  s_sh[sb + (r + i * RL) * TN + h * (TN / LPR) + e] = inv[i];
            }
        }
      subgroupBarrier();

      [[unroll]] for (uint t = 0; t < RT; t++)
        if (moved[t])
          {
            CM_ACC rm;

            cm_load(rm, s_sh, (w * RT + t) * SBLK, TN, false);
            [[unroll]] for (uint dt = 0; dt < DTN; dt++)
              oacc[t * DTN + dt] = oacc[t * DTN + dt] / rm;
          }

      // O += P V: P as a column-major A, V as a row-major B (keys x dims).
      [[unroll]] for (uint kt = 0; kt < BC / TK; kt++)
        {
          CM_A pa[RT];

          [[unroll]] for (uint t = 0; t < RT; t++)
            cm_load(pa[t], p_sh, (w * RT + t) * SBLK + kt * TK * TM, TM, true);
          [[unroll]] for (uint dt = 0; dt < DTN; dt++)
            {
              CM_B vmat;

              cm_load(vmat, kv_sh, (BC + kt * TK) * RS + dt * (TN / 8u), RS, false);
              [[unroll]] for (uint t = 0; t < RT; t++)
                oacc[t * DTN + dt] = cm_mul_add(pa[t], vmat, oacc[t * DTN + dt]);
            }
        }
    }

  // Each output tile through this subgroup's S space (column-major):
  // lane (r, h) writes its rows' pieces of 8 dims h, h + LPR, ...,
  // divided by l.
  [[unroll]] for (uint t = 0; t < RT; t++)
    {
      const uint sb = (w * RT + t) * SBLK;

      [[unroll]] for (uint dt = 0; dt < DTN; dt++)
        {
          cm_store(oacc[t * DTN + dt], s_sh, sb, TM, true);
          subgroupBarrier();
          [[unroll]] for (uint i = 0; i < RPL; i++)
            [[unroll]] for (uint c8 = h; c8 < TN / 8u; c8 += LPR)
              {
                const uint tr = r + i * RL;
                const uint row = q0 + w * SR + t * TM + tr;
                const uint col = dt * TN + c8 * 8u;
                const float inv_l = 1.0 / l[t * RPL + i];
                float val[8];

                [[unroll]] for (uint e = 0; e < 8; e++)
                  val[e] = s_sh[sb + (c8 * 8u + e) * TM + tr] * inv_l;
                if (row < p.tq && col < D)
                  {
                    uint ob = p.o_off + img * p.o_img + head * D + row * p.o_stride + col;
                    if (VEC8)
                      {
                        uvec4 packed;
                        [[unroll]] for (uint e = 0; e < 8; e += 2)
                          packed[e / 2] = packFloat2x16(f16vec2(STORE(val[e]), STORE(val[e + 1u])));
                        o16[ob >> 3] = packed;
                      }
                    else
                      [[unroll]] for (uint e = 0; e < 8; e++)
                        if (col + e < D)
                          o[ob + e] = STORE(val[e]);
                  }
              }
          subgroupBarrier();
        }
    }
}
