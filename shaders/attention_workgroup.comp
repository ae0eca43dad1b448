#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_vote : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_cooperative_matrix : require
#extension GL_NV_cooperative_matrix2 : require
// Flash attention on workgroup-scope cooperative matrices
// (GL_NV_cooperative_matrix2), for heads of up to 160 dims: the
// workgroup owns BR queries of one head of one image as single
// matrices (Q, the output, the running max and sum), and per block of
// BC keys loads K (transposed) and V through tensor layouts straight
// from the tensors, which the driver stages through shared memory and
// its compiler schedules, where attention_coopmat2.comp stages them by
// hand in subgroup-sized matrices.  Per block:
//   - S = Q K^T, one BR x BC accumulator;
//   - the online softmax of coopmat2_softmax.glsl (P, the running max m
//     and sums l, and where m moved the factor that rescales the output);
//   - O += P V, P converted to an f16 operand.
// The layouts read zeros past the tensors' edges: the head dim padded
// to DP, keys past the last (the softmax masks them) and queries past
// the dispatch's rows (their outputs are not stored).  At the end O / l
// leaves through a layout that drops those rows and the padding.
//
// Bindings and push constants are attention.comp's.  The host
// (op-attention-coopmat.c) guarantees: f16 tensors; DP the head dim
// rounded up to the device's workgroup-scope n and k; BR a multiple of
// its m, BC of its n and k, the workgroup size one it lists them for;
// every row and element offset a multiple of 8 (16 bytes).
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const uint D = 40;   // head dim
layout(constant_id = 4) const uint DP = 48;  // head dim padded
layout(constant_id = 5) const uint BR = 64;  // queries per workgroup
layout(constant_id = 6) const uint BC = 32;  // keys per block

const float MASKED = -1.0e30;

#define CM_ACC coopmat<float, gl_ScopeWorkgroup, BR, BC, gl_MatrixUseAccumulator>
#define MAT_Q coopmat<float16_t, gl_ScopeWorkgroup, BR, DP, gl_MatrixUseA>
#define MAT_KT coopmat<float16_t, gl_ScopeWorkgroup, DP, BC, gl_MatrixUseB>
#define MAT_P coopmat<float16_t, gl_ScopeWorkgroup, BR, BC, gl_MatrixUseA>
#define MAT_V coopmat<float16_t, gl_ScopeWorkgroup, BC, DP, gl_MatrixUseB>
#define MAT_O coopmat<float, gl_ScopeWorkgroup, BR, DP, gl_MatrixUseAccumulator>
#define MAT_O16 coopmat<float16_t, gl_ScopeWorkgroup, BR, DP, gl_MatrixUseAccumulator>

layout(binding = 0) readonly buffer Q { float16_t q[]; };
layout(binding = 1) readonly buffer K { float16_t k[]; };
layout(binding = 2) readonly buffer V { float16_t v[]; };
layout(binding = 3) writeonly buffer O { float16_t o[]; };

layout(push_constant) uniform Params {
  uint q_off, k_off, v_off, o_off;             // element offset of row 0, head 0
  uint q_stride, k_stride, v_stride, o_stride; // elements per token
  uint tq;                                     // query rows in this dispatch
  uint tk;                                     // keys per image
  uint q_img, k_img, v_img, o_img;             // elements per image (z)
  float scale;                                 // softmax scale * log2 (e)
} p;

// The softmax's vote on whether the running max moved must hold for the
// whole workgroup, which runs every matrix operation together: each
// subgroup ORs its answer into one of three flags, one per block in
// turn.  After block b's barrier nobody reads flag b - 1 any more, and
// nobody writes flag b + 2 before the next barrier, so invocation 0
// clears that one then.
shared uint votes[3];
uint vote_turn = 0u;

bool workgroup_any(bool b)
{
  const uint t = vote_turn;

  if (subgroupAny(b) && subgroupElect())
    atomicOr(votes[t], 1u);
  barrier();
  const bool any = votes[t] != 0u;
  if (gl_LocalInvocationIndex == 0u)
    votes[(t + 2u) % 3u] = 0u;
  vote_turn = (t + 1u) % 3u;
  return any;
}

const uint JT = 1;  // one score matrix per block
#define SOFTMAX_TN BC
#define SOFTMAX_ANY(b) workgroup_any(b)
#include "coopmat2_softmax.glsl"

// A row's value, from a matrix whose rows each hold one.
float first_of(const in float a, const in float b)
{
  return a;
}

// A layout of rows tokens x D dims, stride elements apart.
tensorLayoutNV<2, gl_CooperativeMatrixClampModeConstantNV> rows_layout(uint rows, uint stride)
{
  tensorLayoutNV<2, gl_CooperativeMatrixClampModeConstantNV> l =
    createTensorLayoutNV(2, gl_CooperativeMatrixClampModeConstantNV);

  l = setTensorLayoutDimensionNV(l, rows, D);
  return setTensorLayoutStrideNV(l, stride, 1);
}

void main()
{
  const uint head = gl_WorkGroupID.y;
  const uint img = gl_WorkGroupID.z;
  const uint q0 = gl_WorkGroupID.x * BR;
  const uint kb = p.k_off + img * p.k_img + head * D;
  const uint vb = p.v_off + img * p.v_img + head * D;
  const tensorLayoutNV<2, gl_CooperativeMatrixClampModeConstantNV> lk = rows_layout(p.tk, p.k_stride);
  const tensorLayoutNV<2, gl_CooperativeMatrixClampModeConstantNV> lv = rows_layout(p.tk, p.v_stride);
  tensorViewNV<2, false, 1, 0> transposed = createTensorViewNV(2, false, 1, 0);
  MAT_Q qa;
  MAT_O oacc = MAT_O(0.0);
  // Running max, broadcast along rows, and partial sums
  // (coopmat2_softmax.glsl).
  CM_ACC m = CM_ACC(MASKED), l = CM_ACC(0.0);

  if (gl_LocalInvocationIndex == 0u)
    votes[0] = votes[1] = votes[2] = 0u;
  barrier();

  coopMatLoadTensorNV(qa, q, p.q_off + img * p.q_img + head * D,
                      sliceTensorLayoutNV(rows_layout(p.tq, p.q_stride), q0, BR, 0, DP));
  for (uint k0 = 0u; k0 < p.tk; k0 += BC)
    {
      MAT_KT kt;
      MAT_V vm;
      CM_ACC s[JT], rescale;

      coopMatLoadTensorNV(kt, k, kb, sliceTensorLayoutNV(lk, k0, BC, 0, DP), transposed);
      coopMatLoadTensorNV(vm, v, vb, sliceTensorLayoutNV(lv, k0, BC, 0, DP));
      s[0] = coopMatMulAdd(qa, kt, CM_ACC(0.0));
      if (softmax_block(s, k0, 0u, p.tk, m, l, rescale))
        {
          MAT_O r;

          coopMatReduceNV(r, rescale, gl_CooperativeMatrixReduceRowNV, first_of);
          oacc = oacc * r;
        }
      oacc = coopMatMulAdd(MAT_P(s[0]), vm, oacc);
    }

  MAT_O lsum;

  coopMatReduceNV(lsum, l, gl_CooperativeMatrixReduceRowNV, sum_of);
  MAT_O16 result = MAT_O16(oacc / lsum);
  coopMatStoreTensorNV(result, o, p.o_off + img * p.o_img + head * D,
                       sliceTensorLayoutNV(rows_layout(p.tq, p.o_stride), q0, BR, 0, DP));
}
