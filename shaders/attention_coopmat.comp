#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_KHR_shader_subgroup_vote : require
#extension GL_KHR_memory_scope_semantics : require
#include "coopmat.glsl"
// Flash attention on tensor cores (cooperative matrices, f16 in, f32
// sums), with attention.comp's bindings, push constants and semantics;
// tiles, staging and guarantees in attention_coopmat.glsl.  Each query
// tile's output accumulates in f32 matrices.  Per block of BC keys each
// subgroup
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
#include "common.glsl"
// Per query tile: S (column-major, TM rows), then the rescale matrix.
#define S_SH_FLOATS (NW * RT * TM * BC)
#include "attention_coopmat.glsl"

const uint SBLK = TM * BC;               // S or P of one query tile
const float TAU = 8.0;

// Per query tile: P (column-major, TM rows).
shared float16_t p_sh[NW * RT * SBLK];

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

  LOAD_Q(qa, qb, q0, w);

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

  // Each output tile through this subgroup's S space, divided by l.
  [[unroll]] for (uint t = 0; t < RT; t++)
    {
      const uint sb = (w * RT + t) * SBLK;
      float inv_l[RPL];

      [[unroll]] for (uint i = 0; i < RPL; i++)
        inv_l[i] = 1.0 / l[t * RPL + i];
      [[unroll]] for (uint dt = 0; dt < DTN; dt++)
        {
          cm_store(oacc[t * DTN + dt], s_sh, sb, TM, true);
          subgroupBarrier();
          write_out(img, head, q0 + w * SR + t * TM, dt, sb, inv_l);
          subgroupBarrier();
        }
    }
}
