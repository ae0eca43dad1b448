// Cooperative matrices through either extension, so that one source
// builds both: GL_NV_cooperative_matrix (what glslang 12 has) or, with
// -DDRAPE_KHR_COOPMAT=1, GL_KHR_cooperative_matrix (glslang >= 13; the
// one AMD and Intel drivers expose).  f16 operands with f32 sums,
// subgroup scope, in the tile shape the device lists: A is TM x TK, B is
// TK x TN, the accumulator TM x TN, where the shader declares TM, TN and
// TK as specialisation constants.  KHR types name their role in a
// multiply-add (A, B, accumulator); NV has one type for both operands.
//
// Include this right after the shader's other #extension lines: it adds
// one of its own.
#ifndef DRAPE_COOPMAT_GLSL
#define DRAPE_COOPMAT_GLSL

#ifndef DRAPE_KHR_COOPMAT
#define DRAPE_KHR_COOPMAT 0
#endif

#if DRAPE_KHR_COOPMAT
#extension GL_KHR_cooperative_matrix : require
#define CM_ACC coopmat<float, gl_ScopeSubgroup, TM, TN, gl_MatrixUseAccumulator>
#define CM_A coopmat<float16_t, gl_ScopeSubgroup, TM, TK, gl_MatrixUseA>
#define CM_B coopmat<float16_t, gl_ScopeSubgroup, TK, TN, gl_MatrixUseB>
#define CM_LAYOUT(column_major) \
  ((column_major) ? gl_CooperativeMatrixLayoutColumnMajor : gl_CooperativeMatrixLayoutRowMajor)
#define cm_load(m, array, offset, stride, column_major) \
  coopMatLoad(m, array, offset, stride, CM_LAYOUT(column_major))
#define cm_store(m, array, offset, stride, column_major) \
  coopMatStore(m, array, offset, stride, CM_LAYOUT(column_major))
#define cm_mul_add(a, b, c) coopMatMulAdd(a, b, c)
#else
#extension GL_NV_cooperative_matrix : require
#define CM_ACC fcoopmatNV<32, gl_ScopeSubgroup, TM, TN>
#define CM_A fcoopmatNV<16, gl_ScopeSubgroup, TM, TK>
#define CM_B fcoopmatNV<16, gl_ScopeSubgroup, TK, TN>
#define cm_load(m, array, offset, stride, column_major) \
  coopMatLoadNV(m, array, offset, stride, column_major)
#define cm_store(m, array, offset, stride, column_major) \
  coopMatStoreNV(m, array, offset, stride, column_major)
#define cm_mul_add(a, b, c) coopMatMulAddNV(a, b, c)
#endif

#endif
