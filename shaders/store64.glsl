// Four values as 64-bit words, for the DRAPE_TEXEL (CPU driver) variants:
// CPU drivers store a buffer's values a lane and a component at a time,
// so storing four f32 values as two 64-bit components halves the stores,
// four f16 values as one quarters them.  Those variants need shaderInt64
// and declare their output as DRAPE_WORDS4 (a u64vec2 for f32, a
// uint64_t for f16).  Included after common.glsl.
#ifndef DRAPE_STORE64_GLSL
#define DRAPE_STORE64_GLSL

#extension GL_ARB_gpu_shader_int64 : require

#if DRAPE_F16
#define DRAPE_WORDS4 uint64_t

uint64_t drape_words4(vec4 v)
{
  return packUint2x32(uvec2(packHalf2x16(v.xy), packHalf2x16(v.zw)));
}
#else
#define DRAPE_WORDS4 u64vec2

u64vec2 drape_words4(vec4 v)
{
  return u64vec2(packUint2x32(floatBitsToUint(v.xy)), packUint2x32(floatBitsToUint(v.zw)));
}
#endif

#endif
