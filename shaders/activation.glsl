// Activation functions for ops with an epilogue; the ids are those of
// DrapeActivation (ops.h).
#ifndef DRAPE_ACTIVATION_GLSL
#define DRAPE_ACTIVATION_GLSL

const uint DRAPE_ACT_NONE = 0u;
const uint DRAPE_ACT_SILU = 1u;
const uint DRAPE_ACT_GELU = 2u;
const uint DRAPE_ACT_RELU = 3u;

// GLSL has no erf.  Abramowitz and Stegun 7.1.26: |error| < 1.5e-7, well
// inside f32 tolerances for the exact (erf-based) GELU.
vec4 drape_erf(vec4 x)
{
  vec4 a = abs(x);
  vec4 t = 1.0 / (1.0 + 0.3275911 * a);
  vec4 poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
              + t * (-1.453152027 + t * 1.061405429))));
  return sign(x) * (1.0 - poly * exp(-a * a));
}

vec4 drape_gelu(vec4 x)
{
  return 0.5 * x * (1.0 + drape_erf(x * 0.70710678118654752));
}

// Four values at once: vector arithmetic is as cheap as scalar on the
// GPUs and CPUs we know, and the scalar form below only keeps one lane.
vec4 drape_activate(vec4 x, uint act)
{
  if (act == DRAPE_ACT_SILU)
    return x / (1.0 + exp(-x));
  if (act == DRAPE_ACT_GELU)
    return drape_gelu(x);
  if (act == DRAPE_ACT_RELU)
    return max(x, vec4(0.0));
  return x;
}

float drape_gelu(float x)
{
  return drape_gelu(vec4(x)).x;
}

float drape_activate(float x, uint act)
{
  return drape_activate(vec4(x), act).x;
}

#endif
