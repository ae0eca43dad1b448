#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_KHR_shader_subgroup_vote : require
#extension GL_KHR_memory_scope_semantics : require
#ifndef DRAPE_COOPMAT2
#define DRAPE_COOPMAT2 0
#endif
#if DRAPE_COOPMAT2
#extension GL_NV_cooperative_matrix2 : require
#endif
#include "coopmat.glsl"
// Flash attention on tensor cores for heads too wide for one subgroup's
// registers (the VAE's single head of 512), with attention.comp's
// bindings, push constants and semantics.
//
// A workgroup owns BR = RT TM queries of one head of one image; its NW
// subgroups split the head dim, subgroup w taking dims [w DS, (w + 1)
// DS): it holds that slice of Q (RT TM x DS, f16) and of the output (f32)
// as matrices of the device's shape (coopmat.glsl), and reads its slices
// of K and V straight from memory.  Per block of BC keys:
//   - each subgroup computes its partial S = Q K^T over its dims into
//     shared memory (column-major TM x BC per query tile);
//   - after a barrier every subgroup sums the NW partials and runs the
//     same online softmax as attention_coopmat.comp on all the rows
//     (each subgroup keeps its own, identical, m and l), writing its own
//     P;
//   - rescales its O slice where m moved, as O / R;
//   - O += P V over its dims.
// With DRAPE_COOPMAT2 (KHR matrices and GL_NV_cooperative_matrix2; the
// host needs TN = TK), each subgroup loads the NW partials of each tile
// from shared memory as matrices, sums them and runs the softmax in
// registers (coopmat2_softmax.glsl), P becoming operands there: no P,
// rescale matrix or scalar softmax in shared memory.
// Tiles never read past the tensors: the last query tile of a dispatch
// and the last key block start early enough to end at the last row
// (the host guarantees at least TM queries and BC keys); such a tile
// writes only its own rows, such a block masks the keys already seen.
//
// The host (op-attention-coopmat.c) guarantees: f16 storage, SG the
// pipeline's subgroup size, a power of two; TM, TN and TK 8 or 16; SG /
// TM at most TN; DS a multiple of TN and TK; BC a multiple of 16; every
// row and offset of Q, K, V and the output a multiple of 8 elements (16
// bytes).
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const uint D = 512;     // head dim
layout(constant_id = 4) const uint BC = 16;     // keys per block
layout(constant_id = 5) const uint RT = 2;      // query tiles per workgroup
layout(constant_id = 6) const uint SG = 32;     // subgroup size
layout(constant_id = 7) const uint TM = 16;     // matrix shape
layout(constant_id = 8) const uint TN = 16;
layout(constant_id = 9) const uint TK = 16;

const uint NW = gl_WorkGroupSize.x / SG; // subgroups
const uint DS = D / NW;                  // dims per subgroup
const uint QT = DS / TK;                 // Q matrices per query tile
const uint OT = DS / TN;                 // O matrices per query tile
const uint BR = RT * TM;                 // queries per workgroup
const uint SBLK = TM * BC;               // S or P of one query tile
// Softmax and output rows: the subgroup covers RL rows of a tile at a
// time, RPL times over; LPR lanes share each row.
const uint RL = SG < TM ? SG : TM;
const uint RPL = TM / RL;
const uint LPR = SG / RL;
const uint JT = BC / TN;                 // S matrices per query tile and block
const float MASKED = -1.0e30;
const float TAU = 8.0;

layout(binding = 0) readonly buffer Q16 { uvec4 q16[]; };
layout(binding = 1) readonly buffer K16 { uvec4 k16[]; };
layout(binding = 2) readonly buffer V16 { uvec4 v16[]; };
layout(binding = 3) writeonly buffer O16 { uvec4 o16[]; };

layout(push_constant) uniform Params {
  uint q_off, k_off, v_off, o_off;             // element offset of row 0, head 0
  uint q_stride, k_stride, v_stride, o_stride; // elements per token
  uint tq;                                     // query rows in this dispatch
  uint tk;                                     // keys per image
  uint q_img, k_img, v_img, o_img;             // elements per image (z)
  float scale;                                 // softmax scale * log2 (e)
} p;

// Per subgroup and query tile: its partial S (column-major, TM rows),
// then its output on the way out.
shared float s_sh[NW * RT * SBLK];
#if DRAPE_COOPMAT2
#include "coopmat2_softmax.glsl"
#else
// Per subgroup and query tile: P (column-major, TM rows).
shared float16_t p_sh[NW * RT * SBLK];
// Per subgroup: the rescale matrix (row-major TM x TN).
shared float r_sh[NW * TM * TN];
#endif

void main()
{
  const uint w = gl_SubgroupID;
  const uint lane = gl_SubgroupInvocationID;
  const uint head = gl_WorkGroupID.y;
  const uint img = gl_WorkGroupID.z;
  const uint q0 = gl_WorkGroupID.x * BR;
  // This subgroup's slice of each tensor, in 16-byte units from here.
  const uint qb = p.q_off + img * p.q_img + head * D + w * DS;
  const uint kb = p.k_off + img * p.k_img + head * D + w * DS;
  const uint vb = p.v_off + img * p.v_img + head * D + w * DS;
  const uint r = lane % RL;
  const uint h = lane / RL;
  CM_A qa[RT * QT];
  CM_ACC oacc[RT * OT];
#if DRAPE_COOPMAT2
  // Running max of each query tile, broadcast along its rows, and partial
  // sums (coopmat2_softmax.glsl).
  CM_ACC m[RT], l[RT];
#else
  // Running max and sum of row r + i RL of tile t, at t RPL + i.
  float m[RT * RPL], l[RT * RPL];
#endif
  // First row of each query tile: shifted back to end inside the
  // dispatch when it would not.
  uint qs[RT];

  [[unroll]] for (uint t = 0; t < RT; t++)
    {
      qs[t] = min(q0 + t * TM, p.tq - TM);
      [[unroll]] for (uint dt = 0; dt < QT; dt++)
        cm_load(qa[t * QT + dt], q16, (qb + qs[t] * p.q_stride + dt * TK) >> 3, p.q_stride >> 3, false);
      [[unroll]] for (uint dt = 0; dt < OT; dt++)
        oacc[t * OT + dt] = CM_ACC(0.0);
#if DRAPE_COOPMAT2
      m[t] = CM_ACC(MASKED);
      l[t] = CM_ACC(0.0);
#else
      [[unroll]] for (uint i = 0; i < RPL; i++)
        {
          m[t * RPL + i] = MASKED;
          l[t * RPL + i] = 0.0;
        }
#endif
    }

  for (uint k0 = 0; k0 < p.tk; k0 += BC)
    {
      // The block's first key: BC keys that end inside the image.
      const uint ks = min(k0, p.tk - BC);

      barrier(); // every subgroup is done with the previous partials

      // Partial S = Q K^T over this subgroup's dims: K as a column-major
      // B (dims x keys).
      [[unroll]] for (uint j = 0; j < BC / TN; j++)
        {
          CM_ACC s[RT];

          [[unroll]] for (uint t = 0; t < RT; t++)
            s[t] = CM_ACC(0.0);
          [[unroll]] for (uint dt = 0; dt < QT; dt++)
            {
              CM_B kmat;

              cm_load(kmat, k16, (kb + (ks + j * TN) * p.k_stride + dt * TK) >> 3, p.k_stride >> 3, true);
              [[unroll]] for (uint t = 0; t < RT; t++)
                s[t] = cm_mul_add(qa[t * QT + dt], kmat, s[t]);
            }
          [[unroll]] for (uint t = 0; t < RT; t++)
            cm_store(s[t], s_sh, (w * RT + t) * SBLK + j * TM * TN, TM, true);
        }
      barrier();

#if DRAPE_COOPMAT2
      CM_A pa[RT * JT];

      [[unroll]] for (uint t = 0; t < RT; t++)
        {
          CM_ACC st[JT];

          [[unroll]] for (uint j = 0; j < JT; j++)
            {
              st[j] = CM_ACC(0.0);
              [[unroll]] for (uint u = 0; u < NW; u++)
                {
                  CM_ACC part;

                  cm_load(part, s_sh, (u * RT + t) * SBLK + j * TM * TN, TM, true);
                  st[j] = st[j] + part;
                }
            }
          // Keys before k0 were this image's last block's, seen already.
          CM_ACC rescale;

          if (softmax_block(st, ks, k0, p.tk, m[t], l[t], rescale))
            [[unroll]] for (uint dt = 0; dt < OT; dt++)
              oacc[t * OT + dt] = oacc[t * OT + dt] * rescale;
          [[unroll]] for (uint j = 0; j < JT; j++)
            pa[t * JT + j] = CM_A(st[j]);
        }
#else
      [[unroll]] for (uint t = 0; t < RT; t++)
        {
          const uint pb = (w * RT + t) * SBLK;
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
                  const uint c = LPR * jj + h;
                  float x = 0.0;

                  [[unroll]] for (uint u = 0; u < NW; u++)
                    x += s_sh[(u * RT + t) * SBLK + c * TM + row];
                  sv[jj] = ks + c >= k0 ? x * p.scale : MASKED;
                  mx = max(mx, sv[jj]);
                }
              [[unroll]] for (uint o = RL; o < SG; o *= 2u)
                mx = max(mx, subgroupShuffleXor(mx, o));
              const float m_new = mx > m[mi] + TAU ? mx : m[mi];
              [[unroll]] for (uint jj = 0; jj < BC / LPR; jj++)
                {
                  float16_t ph = float16_t(exp2(sv[jj] - m_new));
                  sum += float(ph);
                  p_sh[pb + (LPR * jj + h) * TM + row] = ph;
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
          if (subgroupAny(any_moved))
            {
              // Row-major R: row r + i RL holds inv[i]; the previous
              // tile's R has been read.
              subgroupBarrier();
              [[unroll]] for (uint i = 0; i < RPL; i++)
                [[unroll]] for (uint e = 0; e < TN / LPR; e++)
                  r_sh[w * TM * TN + (r + i * RL) * TN + h * (TN / LPR) + e] = inv[i];
              subgroupBarrier();

              CM_ACC rm;

              cm_load(rm, r_sh, w * TM * TN, TN, false);
              [[unroll]] for (uint dt = 0; dt < OT; dt++)
                oacc[t * OT + dt] = oacc[t * OT + dt] / rm;
            }
        }
      subgroupBarrier();
#endif

      // O += P V over this subgroup's dims: P as a column-major A, V as a
      // row-major B (keys x dims).
      [[unroll]] for (uint kt = 0; kt < BC / TK; kt++)
        {
#if !DRAPE_COOPMAT2
          CM_A pa[RT];

          [[unroll]] for (uint t = 0; t < RT; t++)
            cm_load(pa[t], p_sh, (w * RT + t) * SBLK + kt * TK * TM, TM, true);
#endif
          [[unroll]] for (uint dt = 0; dt < OT; dt++)
            {
              CM_B vmat;

              cm_load(vmat, v16, (vb + (ks + kt * TK) * p.v_stride + dt * TN) >> 3, p.v_stride >> 3, false);
              [[unroll]] for (uint t = 0; t < RT; t++)
#if DRAPE_COOPMAT2
                oacc[t * OT + dt] = cm_mul_add(pa[t * JT + kt], vmat, oacc[t * OT + dt]);
#else
                oacc[t * OT + dt] = cm_mul_add(pa[t], vmat, oacc[t * OT + dt]);
#endif
            }
        }
    }

  // Each output matrix through this subgroup's S space (column-major),
  // once every subgroup has read the last partials: lane (r, h) writes
  // its rows' pieces of 8 dims h, h + LPR, ..., divided by l, where the
  // row is the tile's own.
  barrier();
  [[unroll]] for (uint t = 0; t < RT; t++)
    {
      const uint sb = (w * RT + t) * SBLK;
#if DRAPE_COOPMAT2
      const CM_ACC lsum = softmax_sum(l[t]);
#endif

      [[unroll]] for (uint dt = 0; dt < OT; dt++)
        {
#if DRAPE_COOPMAT2
          cm_store(oacc[t * OT + dt] / lsum, s_sh, sb, TM, true);
#else
          cm_store(oacc[t * OT + dt], s_sh, sb, TM, true);
#endif
          subgroupBarrier();
          [[unroll]] for (uint i = 0; i < RPL; i++)
            [[unroll]] for (uint c8 = h; c8 < TN / 8u; c8 += LPR)
              {
                const uint tr = r + i * RL;
                const uint row = qs[t] + tr;
#if DRAPE_COOPMAT2
                const float inv_l = 1.0;
#else
                const float inv_l = 1.0 / l[t * RPL + i];
#endif
                uvec4 packed;

                [[unroll]] for (uint e = 0; e < 8; e += 2)
                  packed[e / 2] = packFloat2x16(f16vec2(STORE(s_sh[sb + (c8 * 8u + e) * TM + tr] * inv_l),
                                                        STORE(s_sh[sb + (c8 * 8u + e + 1u) * TM + tr] * inv_l)));
                if (row >= q0 + t * TM)
                  o16[(p.o_off + img * p.o_img + head * D + row * p.o_stride + w * DS + dt * TN + c8 * 8u) >> 3] = packed;
              }
          subgroupBarrier();
        }
    }
}
