// The online softmax of flash attention in registers, on
// GL_NV_cooperative_matrix2's row reductions and per-element functions
// (attention_coopmat2.comp, attention_wide_coopmat.comp's "f16_cm2"
// variant, and on workgroup-scope matrices attention_workgroup.comp).
// A query tile's running max m is a matrix of the scores' shape whose
// rows each hold one value (as does the rescale factor), so that it
// combines with the scores and the output element by element; its
// running sum l one too, of partial sums that only the end adds along
// rows, which saves a row reduction per block.
//
// The softmax scale multiplies the scores inside the exponent's fused
// multiply-add, and the max is taken of the raw scores (the scale is
// positive).
//
// Include after the kernel's push constants (p.scale: the softmax scale
// times log2 (e)), with JT, the score matrices per query tile and key
// block, declared; MASKED is the score of a masked key.  Score matrices
// are CM_ACC, SOFTMAX_TN keys wide (TN unless defined), and
// SOFTMAX_ANY (b) is whether b holds in any invocation that shares
// them (subgroupAny unless defined: matrices of subgroup scope).
// SOFTMAX_LAZY (true unless defined) has the running max move only past
// RESCALE_SLACK (below); false moves it every block.
#ifndef DRAPE_COOPMAT2_SOFTMAX_GLSL
#define DRAPE_COOPMAT2_SOFTMAX_GLSL

#ifndef SOFTMAX_TN
#define SOFTMAX_TN TN
#endif
#ifndef SOFTMAX_ANY
#define SOFTMAX_ANY(b) subgroupAny(b)
#endif
#ifndef SOFTMAX_LAZY
#define SOFTMAX_LAZY true
#endif

float max_of(const in float a, const in float b)
{
  return max(a, b);
}

float sum_of(const in float a, const in float b)
{
  return a + b;
}

float elem_max(const in uint row, const in uint col, const in float a, const in float b)
{
  return max(a, b);
}

// The running max after a block whose raw row max is `raw`.
float elem_next_max(const in uint row, const in uint col, const in float raw, const in float m,
                    const in float scale)
{
  return max(raw * scale, m);
}

// exp2 (a - b): the rescale factor from m_old and m.
float elem_exp2_diff(const in uint row, const in uint col, const in float a, const in float b)
{
  return exp2(a - b);
}

// P from a raw score and the running max.
float elem_p(const in uint row, const in uint col, const in float s, const in float m,
             const in float scale)
{
  return exp2(fma(s, scale, -m));
}

// Keys outside [lo, hi) masked, `first` being column 0's key.
float elem_keep(const in uint row, const in uint col, const in float s, const in uint first,
                const in uint lo, const in uint hi)
{
  const uint key = first + col;

  return key >= lo && key < hi ? s : MASKED;
}

// How far (in log2 units) a row's max may pass the running max before
// the running max moves: rescaling the output and l costs a block's
// worth of multiplies and exponentials, so until then P is taken against
// the stale max and may reach 2^RESCALE_SLACK, far inside f16, while O /
// l comes out the same.  Past the first blocks the max seldom moves that
// far, so most blocks skip the rescale.
const float RESCALE_SLACK = 8.0;

// One key block of a query tile: s holds its raw scores, keys first to
// first + JT SOFTMAX_TN - 1, of which those outside [lo, hi) are masked.  s
// becomes P = exp2 (s scale - m) in f32 against the running max m, and
// l moves on.  l keeps each element's own partial sum of its row's P:
// rescaled by the row's factor like the output, they add up to the
// row's sum, which only the end needs (softmax_sum).  Where a row's max
// passed m by more than RESCALE_SLACK (by anything without
// SOFTMAX_LAZY), m moves (every row of the tile at once) and the
// function returns TRUE with the factor the tile's
// output must be multiplied by, exp2 (m_old - m_new): 0 on the first
// block, where the output and l are 0.
bool softmax_block(inout CM_ACC s[JT], uint first, uint lo, uint hi, inout CM_ACC m, inout CM_ACC l,
                   out CM_ACC rescale)
{
  const bool edge = first < lo || first + JT * SOFTMAX_TN > hi;
  CM_ACC mx, m_new, sum;
  bool far = false;

  if (edge)
    [[unroll]] for (uint j = 0; j < JT; j++)
      coopMatPerElementNV(s[j], s[j], elem_keep, first + j * SOFTMAX_TN, lo, hi);
  mx = s[0];
  [[unroll]] for (uint j = 1; j < JT; j++)
    coopMatPerElementNV(mx, mx, elem_max, s[j]);
  coopMatReduceNV(mx, mx, gl_CooperativeMatrixReduceRowNV, max_of);
  coopMatPerElementNV(m_new, mx, elem_next_max, m, p.scale);
  if (SOFTMAX_LAZY)
    for (int i = 0; i < m_new.length(); i++)
      far = far || m_new[i] > m[i] + RESCALE_SLACK;
  // Without SOFTMAX_LAZY, a branch the specialisation removes.
  const bool moved = !SOFTMAX_LAZY || SOFTMAX_ANY(far);
  if (moved)
    {
      coopMatPerElementNV(rescale, m, elem_exp2_diff, m_new);
      m = m_new;
    }

  [[unroll]] for (uint j = 0; j < JT; j++)
    coopMatPerElementNV(s[j], s[j], elem_p, m, p.scale);
  sum = s[0];
  [[unroll]] for (uint j = 1; j < JT; j++)
    sum = sum + s[j];
  l = moved ? l * rescale + sum : l + sum;
  return moved;
}

// The row sums of P from softmax_block's l, broadcast along each row.
CM_ACC softmax_sum(const in CM_ACC l)
{
  CM_ACC sum;

  coopMatReduceNV(sum, l, gl_CooperativeMatrixReduceRowNV, sum_of);
  return sum;
}

#endif
