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
//   PV phase: O += P V, each thread RQ rows x RD dims of O in registers
//             (dims strided by TPQ), summing the rows of P on the way.
// Both phases derive the running maxima from the same numbers, so the
// threads agree without exchanging them.  The tile sizes come from the
// host, fitted to the head dim and the device's shared memory.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const uint D = 64;   // head dim
layout(constant_id = 4) const uint BQ = 64;  // queries per workgroup
layout(constant_id = 5) const uint BK = 32;  // keys per tile
layout(constant_id = 6) const uint TPQ = 8;  // PV phase: threads per row block
layout(constant_id = 7) const uint RQ = 4;   // PV phase: rows per thread
layout(constant_id = 8) const uint SQ = 4;   // S phase: rows per thread
layout(constant_id = 9) const uint SK = 4;   // S phase: keys per thread
layout(constant_id = 10) const uint QS = 65; // padded row strides in shared memory
layout(constant_id = 11) const uint KS = 65;
layout(constant_id = 12) const uint PS = 33;

const uint WG = gl_WorkGroupSize.x;
const uint RD = (D + TPQ - 1) / TPQ; // PV phase: dims per thread
const uint PRG = WG / TPQ;           // PV phase: row blocks (PRG * RQ == BQ)
const uint CT = BK / SK;             // S phase: threads per row block
const uint SR = BQ / SQ;             // S phase: row blocks (SR * CT <= WG)
// Masked keys score this: exp2 of it minus any real maximum is 0, and
// unlike -inf it cannot make inf - inf.
const float MASKED = -1.0e30;

layout(binding = 0) readonly buffer Q { T q[]; };
layout(binding = 1) readonly buffer K { T k[]; };
layout(binding = 2) readonly buffer V { T v[]; };
layout(binding = 3) writeonly buffer O { T o[]; };

layout(push_constant) uniform Params {
  uint q_off, k_off, v_off, o_off;             // element offset of row 0, head 0
  uint q_stride, k_stride, v_stride, o_stride; // elements per token
  uint tq;                                     // query rows in this dispatch
  uint tk;                                     // keys per image
  uint q_img, k_img, v_img, o_img;             // elements per image (z)
  float scale;                                 // softmax scale * log2 (e)
} p;

shared T q_sh[BQ * QS];
shared T kv_sh[BK * KS];
shared float p_sh[BQ * PS];
shared float pmax_sh[BQ * CT];

void main()
{
  uint t = gl_LocalInvocationID.x;
  uint q0 = gl_WorkGroupID.x * BQ;
  uint head = gl_WorkGroupID.y;
  uint img = gl_WorkGroupID.z;
  uint qb = p.q_off + img * p.q_img + head * D;
  uint kb = p.k_off + img * p.k_img + head * D;
  uint vb = p.v_off + img * p.v_img + head * D;

  // S phase: rows sr + i * SR, keys sc + j * CT.
  bool s_live = t < SR * CT;
  uint sr = t / CT, sc = t % CT;
  // PV phase: rows pr + i * PRG, dims pc + j * TPQ.
  uint pr = t / TPQ, pc = t % TPQ;

  float m_s[SQ], m_p[RQ], l_p[RQ], acc[RQ * RD];
  [[unroll]] for (uint i = 0; i < SQ; i++)
    m_s[i] = MASKED;
  [[unroll]] for (uint i = 0; i < RQ; i++)
    {
      m_p[i] = MASKED;
      l_p[i] = 0.0;
      [[unroll]] for (uint j = 0; j < RD; j++)
        acc[i * RD + j] = 0.0;
    }

  for (uint i = t; i < BQ * D; i += WG)
    {
      uint r = i / D, e = i - r * D;
      q_sh[r * QS + e] = q0 + r < p.tq ? q[qb + (q0 + r) * p.q_stride + e] : T(0);
    }

  for (uint k0 = 0; k0 < p.tk; k0 += BK)
    {
      barrier(); // the previous tile's PV phase is done with kv_sh and p_sh
      for (uint i = t; i < BK * D; i += WG)
        {
          uint r = i / D, e = i - r * D;
          kv_sh[r * KS + e] = k0 + r < p.tk ? k[kb + (k0 + r) * p.k_stride + e] : T(0);
        }
      barrier();

      float s[SQ * SK];
      if (s_live)
        {
          [[unroll]] for (uint i = 0; i < SQ * SK; i++)
            s[i] = 0.0;
          for (uint e = 0; e < D; e++)
            {
              float qv[SQ], kv[SK];
              [[unroll]] for (uint i = 0; i < SQ; i++)
                qv[i] = float(q_sh[(sr + i * SR) * QS + e]);
              [[unroll]] for (uint j = 0; j < SK; j++)
                kv[j] = float(kv_sh[(sc + j * CT) * KS + e]);
              [[unroll]] for (uint i = 0; i < SQ; i++)
                [[unroll]] for (uint j = 0; j < SK; j++)
                  s[i * SK + j] += qv[i] * kv[j];
            }
          [[unroll]] for (uint i = 0; i < SQ; i++)
            {
              float mx = MASKED;
              [[unroll]] for (uint j = 0; j < SK; j++)
                {
                  float x = k0 + sc + j * CT < p.tk ? s[i * SK + j] * p.scale : MASKED;
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
            [[unroll]] for (uint j = 0; j < SK; j++)
              p_sh[r * PS + sc + j * CT] = exp2(s[i * SK + j] - mx);
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
          [[unroll]] for (uint j = 0; j < RD; j++)
            acc[i * RD + j] *= alpha;
        }
      // Every S thread has read kv_sh (the barrier above), so V may
      // replace K.
      for (uint i = t; i < BK * D; i += WG)
        {
          uint r = i / D, e = i - r * D;
          kv_sh[r * KS + e] = k0 + r < p.tk ? v[vb + (k0 + r) * p.v_stride + e] : T(0);
        }
      barrier();

      for (uint kk = 0; kk < BK; kk++)
        {
          float pv[RQ], vv[RD];
          [[unroll]] for (uint i = 0; i < RQ; i++)
            {
              pv[i] = p_sh[(pr + i * PRG) * PS + kk];
              l_p[i] += pv[i];
            }
          [[unroll]] for (uint j = 0; j < RD; j++)
            vv[j] = float(kv_sh[kk * KS + min(pc + j * TPQ, D - 1)]);
          [[unroll]] for (uint i = 0; i < RQ; i++)
            [[unroll]] for (uint j = 0; j < RD; j++)
              acc[i * RD + j] += pv[i] * vv[j];
        }
    }

  uint ob = p.o_off + img * p.o_img + head * D;
  [[unroll]] for (uint i = 0; i < RQ; i++)
    {
      uint row = q0 + pr + i * PRG;
      if (row >= p.tq)
        continue;
      float inv = 1.0 / l_p[i];
      [[unroll]] for (uint j = 0; j < RD; j++)
        {
          uint e = pc + j * TPQ;
          if (e < D)
            o[ob + row * p.o_stride + e] = STORE(acc[i * RD + j] * inv);
        }
    }
}
