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
float drape_erf(float x)
{
  float a = abs(x);
  float t = 1.0 / (1.0 + 0.3275911 * a);
  float poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741
               + t * (-1.453152027 + t * 1.061405429))));
  return sign(x) * (1.0 - poly * exp(-a * a));
}

float drape_gelu(float x)
{
  return 0.5 * x * (1.0 + drape_erf(x * 0.70710678118654752));
}

float drape_activate(float x, uint act)
{
  if (act == DRAPE_ACT_SILU)
    return x / (1.0 + exp(-x));
  if (act == DRAPE_ACT_GELU)
    return drape_gelu(x);
  if (act == DRAPE_ACT_RELU)
    return max(x, 0.0);
  return x;
}

#endif
