#version 450
#extension GL_GOOGLE_include_directive : require
// Multi-head attention with an online softmax (flash attention): a
// workgroup owns BQ queries of one head of one image and streams the keys
// through shared memory BK at a time, so no tokens x tokens buffer exists.
//
// Per key tile:
//   S phase:  S = Q K^T, each thread an SQ x SK block of it in registers;
//             per-thread row maxima go to shared memory.
//   softmax:  every thread derives the new row maxima from those, the
//             S threads write P = exp2 (S - max) to shared memory, V
//             replaces K in shared memory, and the output threads rescale
//             their accumulators by exp2 (old max - new max).
//   PV phase: O += P V, each thread RQ rows x RD4 groups of 4 dims of O in
//             registers, summing the rows of P on the way.
// Both phases derive the running maxima from the same numbers, so the
// threads agree without exchanging them.
//
// Shared memory holds vec4s (4 dims of a row, or P for 4 keys), so that
// every load feeds 4 to 16 multiply-adds: on a CPU device (lavapipe) each
// memory access is a loop over the SIMD lanes, and register blocking is
// what makes the arithmetic pay.  Q, K and V keep their storage type
// there (f16 halves the space, losing nothing); P is f32.  The host picks
// the tiles from the head dim, the device's shared memory and whether it
// is a CPU.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const uint D = 64;   // head dim
layout(constant_id = 4) const uint BQ = 64;  // queries per workgroup
layout(constant_id = 5) const uint BK = 32;  // keys per tile, a multiple of 4
layout(constant_id = 6) const uint TPQ = 2;  // PV phase: threads per row block
layout(constant_id = 7) const uint RQ = 4;   // PV phase: rows per thread
layout(constant_id = 8) const uint SQ = 8;   // S phase: rows per thread
layout(constant_id = 9) const uint SK = 8;   // S phase: keys per thread, a multiple of 4
layout(constant_id = 10) const uint QS = 17; // padded row strides in vec4s
layout(constant_id = 11) const uint KS = 17;
layout(constant_id = 12) const uint PS = 9;
// Every row of Q, K and V starts at a multiple of 4 elements and D is one:
// read them through the vec4 views.
layout(constant_id = 13) const bool VEC_IO = false;

const uint WG = gl_WorkGroupSize.x;
const uint D4 = (D + 3) / 4;           // vec4s per row
const uint RD4 = (D4 + TPQ - 1) / TPQ; // PV phase: vec4s of O per row and thread
const uint PRG = WG / TPQ;             // PV phase: row blocks (PRG * RQ == BQ)
const uint CT = BK / SK;               // S phase: threads per row block
const uint SR = BQ / SQ;               // S phase: row blocks (SR * CT <= WG)
const uint SK4 = SK / 4;
// Masked keys score this: exp2 of it minus any real maximum is 0, and
// unlike -inf it cannot make inf - inf.
const float MASKED = -1.0e30;

layout(binding = 0) readonly buffer Q { T q[]; };
layout(binding = 1) readonly buffer K { T k[]; };
layout(binding = 2) readonly buffer V { T v[]; };
layout(binding = 3) writeonly buffer O { T o[]; };
// The same bindings seen as vec4s, for VEC_IO.
#if DRAPE_F16
#define T4 f16vec4
#else
#define T4 vec4
#endif
layout(binding = 0) readonly buffer Q4 { T4 q4[]; };
layout(binding = 1) readonly buffer K4 { T4 k4[]; };
layout(binding = 2) readonly buffer V4 { T4 v4[]; };

layout(push_constant) uniform Params {
  uint q_off, k_off, v_off, o_off;             // element offset of row 0, head 0
  uint q_stride, k_stride, v_stride, o_stride; // elements per token
  uint tq;                                     // query rows in this dispatch
  uint tk;                                     // keys per image
  uint q_img, k_img, v_img, o_img;             // elements per image (z)
  float scale;                                 // softmax scale * log2 (e)
} p;

shared T4 q_sh[BQ * QS];
shared T4 kv_sh[BK * KS];
shared vec4 p_sh[BQ * PS];
shared float pmax_sh[BQ * CT];

// 4 dims of a row, zero past the head dim.
vec4 load4_q(uint at, uint e)
{
  if (VEC_IO)
    return vec4(q4[at / 4]);
  return vec4(float(q[at]), e + 1 < D ? float(q[at + 1]) : 0.0,
              e + 2 < D ? float(q[at + 2]) : 0.0, e + 3 < D ? float(q[at + 3]) : 0.0);
}

vec4 load4_k(uint at, uint e)
{
  if (VEC_IO)
    return vec4(k4[at / 4]);
  return vec4(float(k[at]), e + 1 < D ? float(k[at + 1]) : 0.0,
              e + 2 < D ? float(k[at + 2]) : 0.0, e + 3 < D ? float(k[at + 3]) : 0.0);
}

vec4 load4_v(uint at, uint e)
{
  if (VEC_IO)
    return vec4(v4[at / 4]);
  return vec4(float(v[at]), e + 1 < D ? float(v[at + 1]) : 0.0,
              e + 2 < D ? float(v[at + 2]) : 0.0, e + 3 < D ? float(v[at + 3]) : 0.0);
}

void main()
{
  uint t = gl_LocalInvocationID.x;
  uint q0 = gl_WorkGroupID.x * BQ;
  uint head = gl_WorkGroupID.y;
  uint img = gl_WorkGroupID.z;
  uint qb = p.q_off + img * p.q_img + head * D;
  uint kb = p.k_off + img * p.k_img + head * D;
  uint vb = p.v_off + img * p.v_img + head * D;

  // S phase: rows sr + i * SR; keys in groups of 4, group sc + j * CT.
  bool s_live = t < SR * CT;
  uint sr = t / CT, sc = t % CT;
  // PV phase: rows pr + i * PRG; dims in groups of 4, group pc + j * TPQ.
  uint pr = t / TPQ, pc = t % TPQ;

  float m_s[SQ], m_p[RQ], l_p[RQ];
  vec4 acc[RQ * RD4];
  [[unroll]] for (uint i = 0; i < SQ; i++)
    m_s[i] = MASKED;
  [[unroll]] for (uint i = 0; i < RQ; i++)
    {
      m_p[i] = MASKED;
      l_p[i] = 0.0;
      [[unroll]] for (uint j = 0; j < RD4; j++)
        acc[i * RD4 + j] = vec4(0.0);
    }

  for (uint i = t; i < BQ * D4; i += WG)
    {
      uint r = i / D4, e4 = i - r * D4;
      q_sh[r * QS + e4] = T4(q0 + r < p.tq ? load4_q(qb + (q0 + r) * p.q_stride + e4 * 4, e4 * 4)
                                           : vec4(0.0));
    }

  for (uint k0 = 0; k0 < p.tk; k0 += BK)
    {
      barrier(); // the previous tile's PV phase is done with kv_sh and p_sh
      for (uint i = t; i < BK * D4; i += WG)
        {
          uint r = i / D4, e4 = i - r * D4;
          kv_sh[r * KS + e4] = T4(k0 + r < p.tk ? load4_k(kb + (k0 + r) * p.k_stride + e4 * 4, e4 * 4)
                                                : vec4(0.0));
        }
      barrier();

      float s[SQ * SK];
      if (s_live)
        {
          [[unroll]] for (uint i = 0; i < SQ * SK; i++)
            s[i] = 0.0;
          for (uint e4 = 0; e4 < D4; e4++)
            {
              vec4 qv[SQ], kv[SK];
              [[unroll]] for (uint i = 0; i < SQ; i++)
                qv[i] = vec4(q_sh[(sr + i * SR) * QS + e4]);
              [[unroll]] for (uint j = 0; j < SK; j++)
                kv[j] = vec4(kv_sh[((sc + (j / 4) * CT) * 4 + j % 4) * KS + e4]);
              [[unroll]] for (uint i = 0; i < SQ; i++)
                [[unroll]] for (uint j = 0; j < SK; j++)
                  s[i * SK + j] += dot(qv[i], kv[j]);
            }
          [[unroll]] for (uint i = 0; i < SQ; i++)
            {
              float mx = MASKED;
              [[unroll]] for (uint j = 0; j < SK; j++)
                {
                  uint key = k0 + (sc + (j / 4) * CT) * 4 + j % 4;
                  float x = key < p.tk ? s[i * SK + j] * p.scale : MASKED;
                  s[i * SK + j] = x;
                  mx = max(mx, x);
                }
              pmax_sh[(sr + i * SR) * CT + sc] = mx;
            }
        }
      barrier();

      if (s_live)
        [[unroll]] for (uint i = 0; i < SQ; i++)
          {
            uint r = sr + i * SR;
            float mx = m_s[i];
            for (uint c = 0; c < CT; c++)
              mx = max(mx, pmax_sh[r * CT + c]);
            m_s[i] = mx;
            [[unroll]] for (uint j = 0; j < SK4; j++)
              p_sh[r * PS + sc + j * CT] =
                exp2(vec4(s[i * SK + j * 4], s[i * SK + j * 4 + 1], s[i * SK + j * 4 + 2],
                          s[i * SK + j * 4 + 3]) - mx);
          }
      [[unroll]] for (uint i = 0; i < RQ; i++)
        {
          uint r = pr + i * PRG;
          float mx = m_p[i];
          for (uint c = 0; c < CT; c++)
            mx = max(mx, pmax_sh[r * CT + c]);
          float alpha = exp2(m_p[i] - mx);
          m_p[i] = mx;
          l_p[i] *= alpha;
          [[unroll]] for (uint j = 0; j < RD4; j++)
            acc[i * RD4 + j] *= alpha;
        }
      // Every S thread has read kv_sh (the barrier above), so V may
      // replace K.
      for (uint i = t; i < BK * D4; i += WG)
        {
          uint r = i / D4, e4 = i - r * D4;
          kv_sh[r * KS + e4] = T4(k0 + r < p.tk ? load4_v(vb + (k0 + r) * p.v_stride + e4 * 4, e4 * 4)
                                                : vec4(0.0));
        }
      barrier();

      for (uint kg = 0; kg < BK / 4; kg++)
        {
          vec4 pv[RQ];
          [[unroll]] for (uint i = 0; i < RQ; i++)
            {
              pv[i] = p_sh[(pr + i * PRG) * PS + kg];
              l_p[i] += pv[i].x + pv[i].y + pv[i].z + pv[i].w;
            }
          [[unroll]] for (uint c = 0; c < 4; c++)
            {
              vec4 vv[RD4];
              [[unroll]] for (uint j = 0; j < RD4; j++)
                vv[j] = vec4(kv_sh[(kg * 4 + c) * KS + min(pc + j * TPQ, D4 - 1)]);
              [[unroll]] for (uint i = 0; i < RQ; i++)
                [[unroll]] for (uint j = 0; j < RD4; j++)
                  acc[i * RD4 + j] += pv[i][c] * vv[j];
            }
        }
    }

  uint ob = p.o_off + img * p.o_img + head * D;
  [[unroll]] for (uint i = 0; i < RQ; i++)
    {
      uint row = q0 + pr + i * PRG;
      if (row >= p.tq)
        continue;
      float inv = 1.0 / l_p[i];
      [[unroll]] for (uint j = 0; j < RD4; j++)
        [[unroll]] for (uint c = 0; c < 4; c++)
          {
            uint e = (pc + j * TPQ) * 4 + c;
            if (e < D)
              o[ob + row * p.o_stride + e] = STORE(acc[i * RD4 + j][c] * inv);
          }
    }
}
