#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_vote : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_NV_cooperative_matrix2 : require
#include "coopmat.glsl"
// Flash attention with the scores in registers: attention_coopmat.comp's
// tiles and staging (attention_coopmat.glsl), on KHR cooperative
// matrices with GL_NV_cooperative_matrix2's row reductions, per-element
// functions and accumulator-to-operand conversions.  Per block of BC
// keys each subgroup, for each of its query tiles,
//   - computes S = Q K^T as BC / TN accumulators;
//   - runs the online softmax on them (coopmat2_softmax.glsl): P, the
//     running max m and sum l, and, where m moved, the factor that
//     rescales O;
//   - O += P V, P converted to f16 operands in registers.
// K and V are double-buffered: each invocation loads its share of a
// later block into registers before the current block's products and
// stores the next block into the other buffer after them, so the loads
// are in flight while the tensor cores work, and one barrier per block
// suffices.  AHEAD blocks' loads are in flight at once (1 or 2), in as
// many sets of registers: a block's products may not outlast global
// memory's latency.  At the end O / l leaves through shared memory.
// Needs TN = TK, so that an S accumulator converts to a P operand (the
// host checks).
#include "common.glsl"
// The output's way out: one TM x TN matrix per subgroup.
#define S_SH_FLOATS (NW * TM * TN)
#define KV_BUFFERS 2
#include "attention_coopmat.glsl"

// Blocks whose loads are in flight at once: 1 or 2 (KEY_BLOCK has 2
// copies; sets past AHEAD only in code the specialisation leaves out).
layout(constant_id = 11) const uint AHEAD = 1;
// The running max moves only past coopmat2_softmax.glsl's slack, which
// skips most blocks' rescales for a branch every block: a way to
// measure (op-attention-coopmat.c).
layout(constant_id = 12) const bool LAZY = false;
#define SOFTMAX_LAZY LAZY

const uint JT = BC / TN;                       // S accumulators per query tile and block
const uint KV_CHUNKS = 2 * BC * D8;            // 16-byte chunks of K and V per block
const uint LC = (KV_CHUNKS + WG - 1) / WG;     // of them, per invocation

#include "coopmat2_softmax.glsl"

// Chunk i of the K and V block from key k0 (K rows, then V rows).
uvec4 kv_chunk(uint kb, uint vb, uint k0, uint i)
{
  const uint r = i / D8, c8 = i - r * D8;

  return r < BC ? chunk(1u, kb, p.k_stride, k0 + r, p.tk, c8)
                : chunk(2u, vb, p.v_stride, k0 + r - BC, p.tk, c8);
}

// This invocation's share of the blocks in flight: block j in set
// j % AHEAD.  The key loop takes AHEAD blocks a turn (KEY_BLOCK).
uvec4 held[AHEAD * LC];

void load_kv(uint kb, uint vb, uint k0, uint set)
{
  [[unroll]] for (uint c = 0; c < LC; c++)
    {
      const uint i = gl_LocalInvocationID.x + c * WG;

      held[min(set, AHEAD - 1u) * LC + c] = i < KV_CHUNKS ? kv_chunk(kb, vb, k0, i) : uvec4(0);
    }
}

void store_kv(uint buf, uint set)
{
  [[unroll]] for (uint c = 0; c < LC; c++)
    {
      const uint i = gl_LocalInvocationID.x + c * WG;
      const uint r = i / D8, c8 = i - r * D8;

      if (i < KV_CHUNKS)
        kv_sh[(buf * 2u * BC + r) * RS + c8] = held[min(set, AHEAD - 1u) * LC + c];
    }
}

// Key block k0 = k00 + SET BC of the main loop, loaded into register set
// SET and already stored in kv_sh's buffer buf: block k0 + AHEAD BC's
// loads go into set SET, in flight while this block multiplies; then the
// next block, from the next set, goes into the other buffer.  A macro that main() repeats
// for each set, SET a literal, so that sets are only ever indexed by
// constants and stay in registers whatever the compiler unrolls; sets
// past AHEAD are left out by the specialisation.
#define KEY_BLOCK(SET)                                                                           \
  if ((SET) < AHEAD && k00 + (SET) * BC < p.tk)                                                  \
    {                                                                                            \
      const uint k0 = k00 + (SET) * BC;                                                          \
      const uint kv0 = buf * 2u * BC;                                                            \
      CM_ACC s[RT][JT];                                                                          \
      CM_A pa[RT * JT];                                                                          \
                                                                                                 \
      if (k0 + AHEAD * BC < p.tk)                                                                \
        load_kv(kb, vb, k0 + AHEAD * BC, (SET));                                                 \
      /* S = Q K^T: K as a column-major B (dims x keys). */                                      \
      [[unroll]] for (uint j = 0; j < JT; j++)                                                   \
        {                                                                                        \
          [[unroll]] for (uint t = 0; t < RT; t++)                                               \
            s[t][j] = CM_ACC(0.0);                                                               \
          [[unroll]] for (uint dt = 0; dt < DTK; dt++)                                           \
            {                                                                                    \
              CM_B kmat;                                                                         \
                                                                                                 \
              cm_load(kmat, kv_sh, (kv0 + j * TN) * RS + dt * (TK / 8u), RS, true);              \
              [[unroll]] for (uint t = 0; t < RT; t++)                                           \
                s[t][j] = cm_mul_add(qa[t * DTK + dt], kmat, s[t][j]);                           \
            }                                                                                    \
        }                                                                                        \
      [[unroll]] for (uint t = 0; t < RT; t++)                                                   \
        {                                                                                        \
          CM_ACC rescale;                                                                        \
                                                                                                 \
          if (softmax_block(s[t], k0, 0u, p.tk, m[t], l[t], rescale))                            \
            [[unroll]] for (uint dt = 0; dt < DTN; dt++)                                         \
              oacc[t * DTN + dt] = oacc[t * DTN + dt] * rescale;                                 \
          [[unroll]] for (uint j = 0; j < JT; j++)                                               \
            pa[t * JT + j] = CM_A(s[t][j]);                                                      \
        }                                                                                        \
      /* O += P V: V as a row-major B (keys x dims). */                                          \
      [[unroll]] for (uint kt = 0; kt < JT; kt++)                                                \
        [[unroll]] for (uint dt = 0; dt < DTN; dt++)                                             \
          {                                                                                      \
            CM_B vmat;                                                                           \
                                                                                                 \
            cm_load(vmat, kv_sh, (kv0 + BC + kt * TK) * RS + dt * (TN / 8u), RS, false);         \
            [[unroll]] for (uint t = 0; t < RT; t++)                                             \
              oacc[t * DTN + dt] = cm_mul_add(pa[t * JT + kt], vmat, oacc[t * DTN + dt]);        \
          }                                                                                      \
      /* The next block into the buffer every subgroup finished with                             \
       * before the last barrier. */                                                             \
      if (k0 + BC < p.tk)                                                                        \
        store_kv(buf ^ 1u, ((SET) + 1u) % AHEAD);                                                \
      barrier();                                                                                 \
      buf ^= 1u;                                                                                 \
    }

void main()
{
  const uint w = gl_SubgroupID;
  const uint head = gl_WorkGroupID.y;
  const uint img = gl_WorkGroupID.z;
  const uint q0 = gl_WorkGroupID.x * BR;
  const uint qb = p.q_off + img * p.q_img + head * D;
  const uint kb = p.k_off + img * p.k_img + head * D;
  const uint vb = p.v_off + img * p.v_img + head * D;
  CM_A qa[RT * DTK];
  CM_ACC oacc[RT * DTN];
  // Running max of each query tile, broadcast along its rows, and partial
  // sums (coopmat2_softmax.glsl).
  CM_ACC m[RT], l[RT];
  uint buf = 0; // kv_sh's buffer of the current block

  [[unroll]] for (uint i = 0; i < RT * DTN; i++)
    oacc[i] = CM_ACC(0.0);
  [[unroll]] for (uint t = 0; t < RT; t++)
    {
      m[t] = CM_ACC(MASKED);
      l[t] = CM_ACC(0.0);
    }

  LOAD_Q(qa, qb, q0, w);

  load_kv(kb, vb, 0u, 0u);
  barrier(); // every subgroup has its Q out of kv_sh
  store_kv(0u, 0u);
  [[unroll]] for (uint a = 1; a < AHEAD; a++)
    if (a * BC < p.tk)
      load_kv(kb, vb, a * BC, a);
  barrier();

  for (uint k00 = 0; k00 < p.tk; k00 += AHEAD * BC)
    {
      KEY_BLOCK(0u)
      KEY_BLOCK(1u)
    }

  // Each output tile, divided by l, through this subgroup's scratch.
  [[unroll]] for (uint t = 0; t < RT; t++)
    {
      const CM_ACC lsum = softmax_sum(l[t]);
      float one[RPL];

      [[unroll]] for (uint i = 0; i < RPL; i++)
        one[i] = 1.0;
      [[unroll]] for (uint dt = 0; dt < DTN; dt++)
        {
          cm_store(oacc[t * DTN + dt] / lsum, s_sh, w * TM * TN, TM, true);
          subgroupBarrier();
          write_out(img, head, q0 + w * SR + t * TM, dt, w * TM * TN, one);
          subgroupBarrier();
        }
    }
}
