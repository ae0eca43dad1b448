// Activations for any shader that applies one; the ids are those of
// DrapeActivation (ops.h).  Included after common.glsl.  Each function
// comes for one float and for four (vector arithmetic costs what scalar
// does on the GPUs and CPUs we know).
#ifndef DRAPE_ACTIVATION_GLSL
#define DRAPE_ACTIVATION_GLSL

const uint DRAPE_ACT_NONE = 0u;
const uint DRAPE_ACT_SILU = 1u;
const uint DRAPE_ACT_GELU = 2u;
const uint DRAPE_ACT_RELU = 3u;

// GLSL has no erf.  Below 0.75 its Taylor series (10 terms: remainder
// under 1e-9); above, erfc (z) = t h (t) exp (-z^2) with t = 1 / (1 + z)
// and h a degree-8 polynomial fitted to relative error 4e-8 on [0.75, 10].
// In float, erf stays within about 1e-7 absolute and erfc within about
// 1e-6 relative (from rounding z^2), so GELU stays accurate where it is
// tiny: its negative side uses erfc, not the difference of two numbers
// near 1.
#define DRAPE_ERF_POLYNOMIALS(T)                                                          \
  T drape_erf_small(T z)                                                                  \
  {                                                                                       \
    T z2 = z * z;                                                                         \
    return z * (1.128379167 + z2 * (-3.761263890e-01 + z2 * (1.128379167e-01 +           \
           z2 * (-2.686617065e-02 + z2 * (5.223977625e-03 + z2 * (-8.548327023e-04 +     \
           z2 * (1.205533298e-04 + z2 * (-1.492565036e-05 + z2 * (1.646211437e-06 +      \
           z2 * -1.636584469e-07)))))))));                                                \
  }                                                                                       \
                                                                                          \
  /* z >= 0.75 */                                                                         \
  T drape_erfc_large(T z)                                                                 \
  {                                                                                       \
    T t = 1.0 / (1.0 + z);                                                                \
    T h = 5.6416606359e-01 + t * (5.6509085743e-01 + t * (2.6796370355e-01 +             \
          t * (-1.6549384209e-01 + t * (-1.2368018900 + t * (1.0403361871 +              \
          t * (1.5050138533 + t * (-2.7347317533 + t * 1.2263304330)))))));              \
    return t * h * exp(-z * z);                                                           \
  }                                                                                       \
                                                                                          \
  T drape_silu(T x)                                                                       \
  {                                                                                       \
    return x / (1.0 + exp(-x));                                                           \
  }

DRAPE_ERF_POLYNOMIALS(float)
DRAPE_ERF_POLYNOMIALS(vec4)

float drape_erf(float x)
{
  float a = abs(x);
  return a < 0.75 ? drape_erf_small(x) : sign(x) * (1.0 - drape_erfc_large(a));
}

// Exact (erf-based) GELU: 0.5 x (1 + erf (x / sqrt 2)).
float drape_gelu(float x)
{
  float z = abs(x) * 0.70710678118654752;
  if (z < 0.75)
    return 0.5 * x * (1.0 + drape_erf_small(x * 0.70710678118654752));
  float erfc_z = drape_erfc_large(z);
  return x >= 0.0 ? 0.5 * x * (2.0 - erfc_z) : 0.5 * x * erfc_z;
}

// Four at once: both branches are evaluated and one selected, so lanes
// never diverge.
vec4 drape_erf(vec4 x)
{
  vec4 a = abs(x);
  vec4 large = sign(x) * (1.0 - drape_erfc_large(max(a, vec4(0.75))));
  return mix(large, drape_erf_small(x), lessThan(a, vec4(0.75)));
}

vec4 drape_gelu(vec4 x)
{
  vec4 z = abs(x) * 0.70710678118654752;
  vec4 small = 0.5 * x * (1.0 + drape_erf_small(x * 0.70710678118654752));
  vec4 erfc_z = drape_erfc_large(max(z, vec4(0.75)));
  vec4 large = mix(0.5 * x * erfc_z, 0.5 * x * (2.0 - erfc_z), greaterThanEqual(x, vec4(0.0)));
  return mix(large, small, lessThan(z, vec4(0.75)));
}

float drape_activate(uint act, float x)
{
  if (act == DRAPE_ACT_SILU)
    return drape_silu(x);
  if (act == DRAPE_ACT_GELU)
    return drape_gelu(x);
  if (act == DRAPE_ACT_RELU)
    return max(x, 0.0);
  return x;
}

vec4 drape_activate(uint act, vec4 x)
{
  if (act == DRAPE_ACT_SILU)
    return drape_silu(x);
  if (act == DRAPE_ACT_GELU)
    return drape_gelu(x);
  if (act == DRAPE_ACT_RELU)
    return max(x, vec4(0.0));
  return x;
}

#endif
