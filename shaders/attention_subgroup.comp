#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_samplerless_texture_functions : enable
#extension GL_KHR_shader_subgroup_basic : require
// Flash attention for CPU devices (lavapipe), with no shared memory.
//
// Each lane owns RQ queries whole: their rows of Q (scaled) and of the
// output stay in its registers, and it runs the online softmax of its
// own rows.  A subgroup takes SG keys at a time, one row of K (then of
// V) per lane, and passes them round from lanes that are constants after
// unrolling (a register permute: subgroup_lane.glsl), so each vec4 of K
// or V feeds SG x RQ dot products or multiply-adds.  The kernel needs no
// barrier.
//
// Every loop inside a block of keys is unrolled, so that each array
// index is a constant: lavapipe keeps an array indexed by a loop counter
// in memory and reaches it lane by lane, which halved the speed of a
// UNet's heads of 40 (Mesa 22.3 and 26.1 at 512 bits on 2 cores: 52-55
// GFLOP/s with such loops, 103-113 without).  The host keeps RQ x D
// within what LLVM compiles in seconds (op-attention.c).
//
// On Mesa 22's lavapipe every storage-buffer or shared-memory access is
// a loop over the SIMD lanes, so where a CPU driver's texel reads work
// (DrapeDeviceCaps.texel_reads) the DRAPE_TEXEL variants fetch K and V
// through texel buffers of 4-channel texels, one vector gather each, and
// make no such loop inside their loops; the host takes them for short
// heads, whose code LLVM compiles quickly that way (op-attention.c).
//
// Bindings and push constants are attention.comp's.  The host (op-attention.c)
// guarantees subgroups of SG lanes, whole subgroups per workgroup, and
// the head dim, every row stride and every offset a multiple of 4
// elements.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const uint D = 40;  // head dim
layout(constant_id = 4) const uint SG = 8;  // subgroup size
layout(constant_id = 5) const uint RQ = 4;  // queries per lane
layout(constant_id = 6) const bool LANE_BROADCAST = false;  // subgroup_lane.glsl
#include "subgroup_lane.glsl"

const uint D4 = D / 4;
// Masked keys score this: exp2 of it minus any real maximum is 0, and
// unlike -inf it cannot make inf - inf.
const float MASKED = -1.0e30;

#if DRAPE_F16
#define T4 f16vec4
#else
#define T4 vec4
#endif
layout(binding = 0) readonly buffer Q4 { T4 q4[]; };
#if DRAPE_TEXEL
layout(binding = 1) uniform textureBuffer k_tex;
layout(binding = 2) uniform textureBuffer v_tex;
#define LOAD_K4(q) texelFetch(k_tex, int(q))
#define LOAD_V4(q) texelFetch(v_tex, int(q))
#else
layout(binding = 1) readonly buffer K4 { T4 k4[]; };
layout(binding = 2) readonly buffer V4 { T4 v4[]; };
#define LOAD_K4(q) vec4(k4[q])
#define LOAD_V4(q) vec4(v4[q])
#endif
layout(binding = 3) writeonly buffer O4 { T4 o4[]; };

layout(push_constant) uniform Params {
  uint q_off, k_off, v_off, o_off;             // element offset of row 0, head 0
  uint q_stride, k_stride, v_stride, o_stride; // elements per token
  uint tq;                                     // query rows in this dispatch
  uint tk;                                     // keys per image
  uint q_img, k_img, v_img, o_img;             // elements per image (z)
  float scale;                                 // softmax scale * log2 (e)
} p;

void main()
{
  const uint lane = gl_SubgroupInvocationID;
  const uint head = gl_WorkGroupID.y;
  const uint img = gl_WorkGroupID.z;
  // This lane's queries: q0 + i SG + lane, for i < RQ.
  const uint q0 = (gl_WorkGroupID.x * gl_NumSubgroups + gl_SubgroupID) * SG * RQ;
  const uint qb = (p.q_off + img * p.q_img + head * D) / 4;
  const uint ob = (p.o_off + img * p.o_img + head * D) / 4;
  // K and V in vec4s.
  const uint kb = (p.k_off + img * p.k_img + head * D) / 4;
  const uint vb = (p.v_off + img * p.v_img + head * D) / 4;
  const uint ks = p.k_stride / 4, vs = p.v_stride / 4;
  vec4 qv[RQ * D4];
  vec4 acc[RQ * D4];
  float m[RQ], l[RQ];

  [[unroll]] for (uint i = 0; i < RQ; i++)
    {
      uint row = q0 + i * SG + lane;

      [[unroll]] for (uint e4 = 0; e4 < D4; e4++)
        {
          qv[i * D4 + e4] = row < p.tq ? vec4(q4[qb + row * (p.q_stride / 4) + e4]) * p.scale : vec4(0.0);
          acc[i * D4 + e4] = vec4(0.0);
        }
      m[i] = MASKED;
      l[i] = 0.0;
    }

  for (uint k0 = 0; k0 < p.tk; k0 += SG)
    {
      // Key k0 + kk is lane kk's.
      const uint key = k0 + lane;
      float s[RQ * SG];

      [[unroll]] for (uint x = 0; x < RQ * SG; x++)
        s[x] = 0.0;
      [[unroll]] for (uint e4 = 0; e4 < D4; e4++)
        {
          vec4 kv = key < p.tk ? LOAD_K4(kb + key * ks + e4) : vec4(0.0);

          [[unroll]] for (uint kk = 0; kk < SG; kk++)
            {
              vec4 key4 = drape_lane_value4(kv, kk);
              [[unroll]] for (uint i = 0; i < RQ; i++)
                s[i * SG + kk] += dot(qv[i * D4 + e4], key4);
            }
        }

      // Online softmax of each row: P = exp2 (S - m), l rescaled (O
      // below, as it takes P V).
      float alpha[RQ];

      [[unroll]] for (uint i = 0; i < RQ; i++)
        {
          float mx = m[i], sum = 0.0;

          [[unroll]] for (uint kk = 0; kk < SG; kk++)
            {
              if (k0 + kk >= p.tk)
                s[i * SG + kk] = MASKED;
              mx = max(mx, s[i * SG + kk]);
            }
          [[unroll]] for (uint kk = 0; kk < SG; kk++)
            {
              s[i * SG + kk] = exp2(s[i * SG + kk] - mx);
              sum += s[i * SG + kk];
            }
          alpha[i] = exp2(m[i] - mx);
          m[i] = mx;
          l[i] = l[i] * alpha[i] + sum;
        }

      // O = O alpha + P V, each of O's values written once a block:
      // gallivm blends every write to a value the key loop carries with
      // the loop's execution mask (3-10% of the time, bench-conv).
      [[unroll]] for (uint e4 = 0; e4 < D4; e4++)
        {
          vec4 vv = key < p.tk ? LOAD_V4(vb + key * vs + e4) : vec4(0.0);
          vec4 pv[RQ];

          [[unroll]] for (uint i = 0; i < RQ; i++)
            pv[i] = vec4(0.0);
          [[unroll]] for (uint kk = 0; kk < SG; kk++)
            {
              vec4 value = drape_lane_value4(vv, kk);
              [[unroll]] for (uint i = 0; i < RQ; i++)
                pv[i] += s[i * SG + kk] * value;
            }
          [[unroll]] for (uint i = 0; i < RQ; i++)
            acc[i * D4 + e4] = acc[i * D4 + e4] * alpha[i] + pv[i];
        }
    }

  [[unroll]] for (uint i = 0; i < RQ; i++)
    {
      uint row = q0 + i * SG + lane;
      float inv = 1.0 / l[i];

      if (row < p.tq)
        [[unroll]] for (uint e4 = 0; e4 < D4; e4++)
          {
            vec4 x = acc[i * D4 + e4] * inv;
            o4[ob + row * (p.o_stride / 4) + e4] = T4(STORE(x.x), STORE(x.y), STORE(x.z), STORE(x.w));
          }
    }
}
