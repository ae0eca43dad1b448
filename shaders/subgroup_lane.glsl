// Another lane's value, for the CPU kernels that pass values round a
// subgroup (conv2d's subgroup GEMM, attention_subgroup), where the lane
// is a constant once their loops are unrolled.  Lavapipe compiles the
// two ways to say so differently: Mesa 22.3 makes a shuffle a register
// permute and a broadcast a loop that looks for the first active lane;
// Mesa 25.0 and 26.1 make a shuffle a loop over the lanes (which LLVM
// unrolls at 8 lanes but not at 16) and a broadcast a permute.  So the
// host picks (DrapeDeviceCaps.lane_broadcasts) and the including shader
// declares the choice as the bool specialization constant
// LANE_BROADCAST.  Included after common.glsl.
#ifndef DRAPE_SUBGROUP_LANE_GLSL
#define DRAPE_SUBGROUP_LANE_GLSL

#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_KHR_shader_subgroup_ballot : require

// SPIR-V 1.5 (Vulkan 1.2) takes a broadcast's lane as any dynamically
// uniform value, not only a literal.  A switch over literal lanes said
// the same, but lavapipe 26.1 then took 4 to 5 s longer to create a
// UNet step's attention pipelines, and 11 to 14 s longer for a head of
// 512, on every launch (Mesa's cache does not keep that work).
float drape_lane_value(float v, uint lane)
{
  return LANE_BROADCAST ? subgroupBroadcast(v, lane) : subgroupShuffle(v, lane);
}

vec4 drape_lane_value4(vec4 v, uint lane)
{
  return LANE_BROADCAST ? subgroupBroadcast(v, lane) : subgroupShuffle(v, lane);
}

#endif
