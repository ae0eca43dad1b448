// What the two flash-attention kernels for heads of up to 160 dims share
// (attention_coopmat.comp, attention_coopmat2.comp): their
// specialisation, attention.comp's bindings and push constants, the
// shared memory that stages Q, K and V rows, and the output's way out.
//
// Include after coopmat.glsl and common.glsl, with S_SH_FLOATS defined
// as the size of the kernel's f32 scratch s_sh: the output leaves
// through it, one TM x TN matrix per subgroup at a time.  KV_BUFFERS
// (default 1) is how many blocks of K and V kv_sh holds.
//
// Matrices have the device's shape (coopmat.glsl): TM x TK for Q and P,
// TK x TN for K^T and V, TM x TN for S and O.  A workgroup owns BR
// queries of one head of one image; each subgroup RT tiles of TM of
// them, whose Q stays in registers as f16 matrices (the head dim
// zero-padded to DP, a multiple of TK and TN).  Per block of BC keys,
// the workgroup stages K and V in shared memory.
//
// The host (op-attention-coopmat.c) guarantees: f16 storage, SG the
// pipeline's subgroup size, a power of two; TM, TN and TK 8 or 16; SG /
// TM at most TN; BC a multiple of 16; VEC8 only when every row and
// offset of Q, K, V and the output is a multiple of 8 elements (16
// bytes).
#ifndef DRAPE_ATTENTION_COOPMAT_GLSL
#define DRAPE_ATTENTION_COOPMAT_GLSL

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const uint D = 64;       // head dim
layout(constant_id = 4) const uint BC = 32;      // keys per block
layout(constant_id = 5) const uint RT = 1;       // query tiles per subgroup
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
// Rows of a TM-row tile as lanes see them: the subgroup covers RL rows
// at a time, RPL times over; LPR lanes share each row.
const uint RL = SG < TM ? SG : TM;
const uint RPL = TM / RL;
const uint LPR = SG / RL;
// Masked keys score this: exp2 of it minus any real maximum is 0, and
// unlike -inf it cannot make inf - inf.
const float MASKED = -1.0e30;

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

#ifndef KV_BUFFERS
#define KV_BUFFERS 1
#endif
// Per block: K rows [0, BC) then V rows [BC, 2 BC); Q before the first
// block.
shared uvec4 kv_sh[KV_BUFFERS * 2 * BC * RS];
shared float s_sh[S_SH_FLOATS];

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

// The workgroup's queries from element qb: subgroup w's RT tiles into
// the array qa[RT * DTK], through kv_sh 2 BC rows at a time (query tiles
// never straddle).  A macro: glslang 12 passes no array of NV matrices
// to a function.
#define LOAD_Q(qa, qb, q0, w)                                                        \
  for (uint c0 = 0; c0 < BR; c0 += 2u * BC)                                          \
    {                                                                                \
      barrier();                                                                     \
      stage(0u, qb, p.q_stride, q0 + c0, p.tq, 0u, min(2u * BC, BR - c0));            \
      barrier();                                                                     \
      [[unroll]] for (uint t = 0; t < RT; t++)                                       \
        {                                                                            \
          const uint row = w * SR + t * TM;                                          \
          if (row >= c0 && row < c0 + 2u * BC)                                       \
            [[unroll]] for (uint dt = 0; dt < DTK; dt++)                             \
              cm_load(qa[t * DTK + dt], kv_sh, (row - c0) * RS + dt * (TK / 8u), RS, \
                      false);                                                        \
        }                                                                            \
    }

// Writes dims [dt TN, dt TN + TN) of the TM queries from `row0` of head
// `head` of image `img`, which the subgroup has stored column-major at
// s_sh[sb]: lane (r, h) writes its rows' pieces of 8 dims h, h + LPR,
// ..., row r + i RL multiplied by scale[i].
void write_out(uint img, uint head, uint row0, uint dt, uint sb, float scale[RPL])
{
  const uint lane = gl_SubgroupInvocationID;
  const uint r = lane % RL;
  const uint h = lane / RL;

  [[unroll]] for (uint i = 0; i < RPL; i++)
    [[unroll]] for (uint c8 = h; c8 < TN / 8u; c8 += LPR)
      {
        const uint tr = r + i * RL;
        const uint row = row0 + tr;
        const uint col = dt * TN + c8 * 8u;
        float val[8];

        [[unroll]] for (uint e = 0; e < 8; e++)
          val[e] = s_sh[sb + (c8 * 8u + e) * TM + tr] * scale[i];
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
}

#endif
