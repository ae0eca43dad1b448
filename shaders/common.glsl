// Shared by every Drape compute shader: storage type, f16 clamping and
// grid folding.  Included after #version and the op's own extensions.
#ifndef DRAPE_COMMON_GLSL
#define DRAPE_COMMON_GLSL

#extension GL_EXT_control_flow_attributes : enable

#ifndef DRAPE_W16
#define DRAPE_W16 0
#endif

// DRAPE_W16: f32 storage with f16 weights (conv_common.glsl).
#if DRAPE_F16 || DRAPE_W16
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#endif

#if DRAPE_F16
// Storage is f16; arithmetic that sums stays f32.  A value past the f16
// range would become inf and poison everything after it, so stores clamp.
#define T float16_t
#define STORE(x) float16_t(clamp(float(x), -65504.0, 65504.0))
#else
#define T float
#define STORE(x) float(x)
#endif

// Grids larger than maxComputeWorkGroupCount[0] (65,535 on many devices)
// are folded by the host into (x, y); this undoes the fold.
uint drape_group_index()
{
  return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
}

#endif
