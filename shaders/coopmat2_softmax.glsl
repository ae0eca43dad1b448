// The online softmax of flash attention in registers, on
// GL_NV_cooperative_matrix2's row reductions and per-element functions
// (attention_coopmat2.comp, and attention_wide_coopmat.comp's "f16_cm2"
// variant).  A query tile's running max m is a TM x TN accumulator
// whose rows each hold one value (as does the rescale factor), so that
// it combines with the scores and the output element by element; its
// running sum l one too, of partial sums that only the end adds along
// rows, which saves a row reduction per block.
//
// The softmax scale multiplies the scores inside the exponent's fused
// multiply-add, and the max is taken of the raw scores (the scale is
// positive).
//
// Include after the kernel's push constants (p.scale: the softmax scale
// times log2 (e)), with JT, the score matrices per query tile and key
// block, declared; MASKED is the score of a masked key.
#ifndef DRAPE_COOPMAT2_SOFTMAX_GLSL
#define DRAPE_COOPMAT2_SOFTMAX_GLSL

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

// One key block of a query tile: s holds its raw scores, keys first to
// first + JT TN - 1, of which those outside [lo, hi) are masked.  s
// becomes P = exp2 (s scale - m_new) in f32; m and l move on.  l keeps
// each element's own partial sum of its row's P: rescaled by the row's
// factor like the output, they add up to the row's sum, which only the
// end needs (softmax_sum).  Returns the factor the tile's output must be
// multiplied by, exp2 (m_old - m_new): 0 on the first block, where the
// output and l are 0.
CM_ACC softmax_block(inout CM_ACC s[JT], uint first, uint lo, uint hi, inout CM_ACC m, inout CM_ACC l)
{
  const bool edge = first < lo || first + JT * TN > hi;
  CM_ACC mx, m_new, rescale, sum;

  if (edge)
    [[unroll]] for (uint j = 0; j < JT; j++)
      coopMatPerElementNV(s[j], s[j], elem_keep, first + j * TN, lo, hi);
  mx = s[0];
  [[unroll]] for (uint j = 1; j < JT; j++)
    coopMatPerElementNV(mx, mx, elem_max, s[j]);
  coopMatReduceNV(mx, mx, gl_CooperativeMatrixReduceRowNV, max_of);
  coopMatPerElementNV(m_new, mx, elem_next_max, m, p.scale);
  coopMatPerElementNV(rescale, m, elem_exp2_diff, m_new);
  m = m_new;

  [[unroll]] for (uint j = 0; j < JT; j++)
    coopMatPerElementNV(s[j], s[j], elem_p, m_new, p.scale);
  sum = s[0];
  [[unroll]] for (uint j = 1; j < JT; j++)
    sum = sum + s[j];
  l = l * rescale + sum;
  return rescale;
}

// The row sums of P from softmax_block's l, broadcast along each row.
CM_ACC softmax_sum(const in CM_ACC l)
{
  CM_ACC sum;

  coopMatReduceNV(sum, l, gl_CooperativeMatrixReduceRowNV, sum_of);
  return sum;
}

#endif
