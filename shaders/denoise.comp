#version 450
#extension GL_GOOGLE_include_directive : require
// One sampler step in place (see drape_op_denoise_step): guidance, the
// predicted clean sample x0, then the next sample as a linear map whose
// coefficients the host rewrites before each replay.  Each element is read
// and written by one invocation, so sample and x0 need no second buffer.
#include "common.glsl"

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;
layout(constant_id = 3) const uint GUIDED = 0;    // noise_pred is [uncond; cond]
layout(constant_id = 4) const uint HAS_NOISE = 0;

// guidance, x0_sample, x0_eps, c_sample, c_eps, c_x0, c_prev_x0, c_noise
layout(binding = 0) readonly buffer K { float k[]; };
layout(binding = 1) readonly buffer U { T uncond[]; };
layout(binding = 2) readonly buffer C { T cond[]; };
layout(binding = 3) buffer S { float s[]; };
layout(binding = 4) buffer X { float x0[]; };
layout(binding = 5) readonly buffer N { float noise[]; };

layout(push_constant) uniform Params {
  uint count; // elements in this dispatch
  uint u_off; // element offsets of the bound ranges
  uint c_off;
  uint s_off;
  uint x_off;
  uint n_off;
} p;

void main()
{
  uint i = drape_group_index() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
  if (i >= p.count)
    return;
  float u = float(uncond[p.u_off + i]);
  float eps = GUIDED != 0 ? u + k[0] * (float(cond[p.c_off + i]) - u) : u;
  float x = s[p.s_off + i];
  float x0_new = k[1] * x + k[2] * eps;
  float next = k[3] * x + k[4] * eps + k[5] * x0_new;
  // Unwritten memory may hold NaNs: read history and noise only when used.
  if (k[6] != 0.0)
    next += k[6] * x0[p.x_off + i];
  if (HAS_NOISE != 0 && k[7] != 0.0)
    next += k[7] * noise[p.n_off + i];
  s[p.s_off + i] = next;
  x0[p.x_off + i] = x0_new;
}
