#version 450
#extension GL_KHR_cooperative_matrix : require
#extension GL_NV_cooperative_matrix2 : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
layout(local_size_x = 32) in;
layout(binding = 0) buffer Buf { float16_t data[]; };
float max_of(const in float a, const in float b) { return max(a, b); }
void main() {
  coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator> s, m;
  coopMatLoad(s, data, 0, 16, gl_CooperativeMatrixLayoutRowMajor);
  coopMatReduceNV(m, s, gl_CooperativeMatrixReduceRowNV, max_of);
  coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseA> a =
    coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseA>(m);
  coopMatStore(a, data, 0, 16, gl_CooperativeMatrixLayoutRowMajor);
}
