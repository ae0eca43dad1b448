// Another lane's value, for the CPU kernels that pass values round a
// subgroup (conv2d's subgroup GEMM, attention_subgroup), where the lane
// is a constant once their loops are unrolled.  Lavapipe compiles the
// two ways to say so differently: Mesa 22.3 makes a shuffle a register
// permute and a broadcast a loop that looks for the first active lane;
// Mesa 25.0 and 26.1 make a shuffle a loop over the lanes (which LLVM
// unrolls at 8 lanes but not at 16) and a broadcast a permute.  So the
// host picks (DrapeDeviceCaps.lane_broadcasts) and the including shader
// declares the choice as the bool specialization constant
// LANE_BROADCAST.  Subgroups of at most 16 lanes.  Included after
// common.glsl.
#ifndef DRAPE_SUBGROUP_LANE_GLSL
#define DRAPE_SUBGROUP_LANE_GLSL

#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_KHR_shader_subgroup_ballot : require

// subgroupBroadcast takes its lane as a compile-time constant, hence the
// switch, which folds away once `lane` is one.
#define DRAPE_LANE_VALUE(T, name)                                                 \
  T name(T v, uint lane)                                                          \
  {                                                                               \
    if (!LANE_BROADCAST)                                                          \
      return subgroupShuffle(v, lane);                                            \
    switch (lane)                                                                 \
      {                                                                           \
      case 0u: return subgroupBroadcast(v, 0u);                                   \
      case 1u: return subgroupBroadcast(v, 1u);                                   \
      case 2u: return subgroupBroadcast(v, 2u);                                   \
      case 3u: return subgroupBroadcast(v, 3u);                                   \
      case 4u: return subgroupBroadcast(v, 4u);                                   \
      case 5u: return subgroupBroadcast(v, 5u);                                   \
      case 6u: return subgroupBroadcast(v, 6u);                                   \
      case 7u: return subgroupBroadcast(v, 7u);                                   \
      case 8u: return subgroupBroadcast(v, 8u);                                   \
      case 9u: return subgroupBroadcast(v, 9u);                                   \
      case 10u: return subgroupBroadcast(v, 10u);                                 \
      case 11u: return subgroupBroadcast(v, 11u);                                 \
      case 12u: return subgroupBroadcast(v, 12u);                                 \
      case 13u: return subgroupBroadcast(v, 13u);                                 \
      case 14u: return subgroupBroadcast(v, 14u);                                 \
      case 15u: return subgroupBroadcast(v, 15u);                                 \
      }                                                                           \
    return v; /* no lane past 16 */                                               \
  }

DRAPE_LANE_VALUE(float, drape_lane_value)
DRAPE_LANE_VALUE(vec4, drape_lane_value4)

#endif
