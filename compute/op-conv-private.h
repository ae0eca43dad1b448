/* op-conv-private.h: a convolution as op-conv.c records it, for the
 * other ways of computing one (op-conv-winograd.c), and the convolution
 * kernels' GEMM for ops built of GEMMs
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "graph-private.h"
#include "ops.h"

G_BEGIN_DECLS

/* The shaders' push constants (conv_common.glsl). */
typedef struct {
  guint32 m, ow, rows, oy0, in_h, in_w, in_rows, iy_lo;
  guint32 cin, cin_g, cout, cout_g, ncols, g0;
  guint32 stride, pad_t, pad_l, kh, kw;
  guint32 x_off, w_off, b_off, cb_off, r_off, o_off, wg_off, bg_off;
  guint32 tiles_n, flags;
  float out_scale;
  guint32 k_slices, slice_stages;
} ConvPush;

G_STATIC_ASSERT (sizeof (ConvPush) <= DRAPE_PUSH_SIZE);

enum {
  FLAG_BIAS = 4,
  FLAG_CHANNEL_BIAS = 8,
  FLAG_RESIDUAL = 16,
};

enum {
  BIND_X,
  BIND_W,
  BIND_BIAS,
  BIND_CHANNEL_BIAS,
  BIND_RESIDUAL,
  BIND_OUT,
  BIND_GATE_W,
  BIND_GATE_BIAS,
  N_BINDINGS,
};

/* The bindings drape_conv_part_bind() makes texel buffers when asked:
 * x, the weights, and the gate's weights (the weights where there is no
 * gate). */
#define CONV_TEXEL_BINDINGS (1u << BIND_X | 1u << BIND_W | 1u << BIND_GATE_W)

/* A convolution after validation: shapes, operands, epilogue. */
typedef struct {
  const char *op;
  guint32 n, ih, iw, cin, oh, ow, cout;
  guint32 kh, kw, stride, pad_t, pad_l;
  guint32 groups, cin_g, cout_g, k;
  gboolean depthwise;
  /* Weight rows [cout, 2 cout) are the gate half; the output has cout
   * channels h * gelu (g). */
  gboolean geglu;
  const DrapeTensor *x, *weight, *bias, *channel_bias, *residual;
  DrapeTensor *out;
  DrapeActivation act;
  float out_scale;
  /* Where x, the weights and the output start in their tensors, in
   * elements: 0 but for GEMMs between activations (drape_conv_matmul). */
  guint64 x_base, w_base, o_base;
  /* One phase (row parity py, column parity px) of a 2x upsampled output
   * (drape_op_conv2d_upsample2x): oh x ow is the phase's grid, whose
   * pixel (y, x) is the output's (2 y + py, 2 x + px). */
  gboolean subpixel;
  guint32 py, px;
  /* Phases each dispatch computes, one per workgroup z: 4 where their
   * bindings fit (pads and offsets then phase (0, 0)'s), else 1 (phase
   * py, px).  0 for a convolution of one phase. */
  guint32 phases;
  /* The output is written over x, which the caller gave up
   * (drape_op_conv2d_over_input): in bands of at most band_rows rows from
   * the top, placed ahead of x by what the bands need. */
  DrapeTensor *over;
  guint32 band_rows;
  /* Where oy_count is not 0, only rows [oy_first, oy_first + oy_count) of
   * the grid are computed (drape_op_conv2d_rows), into the output's grid
   * rows from out_row0 on, with a residual of just those rows. */
  guint32 oy_first, oy_count, out_row0;
} Conv;

/* The part of a convolution one dispatch computes. */
typedef struct {
  guint32 g0, ng;      /* groups */
  guint32 c0, nc;      /* output channels within each group */
  guint32 img, nimg;   /* images */
  guint32 oy0, rows;   /* output rows of each image */
} ConvPart;

/* Binds the operands of the part of a convolution one dispatch computes
 * and fills in its push constants (texel: x and the weights as texel
 * buffers). */
void drape_conv_part_bind (const Conv     *c,
                           const ConvPart *part,
                           gboolean        texel,
                           DrapeBinding   *bind,
                           ConvPush       *p);

/* Whether the convolutions' `*_texel` variants may run
 * (drape_graph_cpu_texels), unless DRAPE_CONV_KERNEL asks for a kernel of
 * storage buffers. */
gboolean drape_conv_cpu_texels      (DrapeGraph *graph);

/* The variant of a convolution family's shader for c: its storage type,
 * "_w16" for f16 weights beside f32 activations, "_texel" for one
 * reading x and the weights through texel buffers. */
char    *drape_conv_variant         (const Conv *c,
                                     gboolean    texel);

/* Whether c goes as Winograd's F(4x4, 3x3) (op-conv-winograd.c): a 3x3
 * convolution of stride 1 on a device where that pays, or as
 * DRAPE_CONV_WINOGRAD says. */
gboolean drape_conv_winograd_suits (DrapeGraph *graph,
                                    const Conv *c);
/* Records c, whose output is allocated, that way. */
void     drape_conv_winograd_record (DrapeGraph *graph,
                                     const Conv *c);


/* A GEMM between activations, on the kernels (and tensor cores) of
 * convolutions.  Rows [o_row, o_row + rows) of image o_img of out
 * (viewed as [n, h w, c]) = rows [a_row, a_row + rows) of image
 * a_img of a times the transpose of image b_img of b: out channel j is
 * the dot product with b's position j.  So a->c == b->c, and out->c is
 * b's positions per image; out is a's dtype, or f32 for unrounded sums
 * of f16 operands.  The caller has checked the operands. */
void drape_conv_matmul (DrapeGraph        *graph,
                        const DrapeTensor *a,
                        guint32            a_img,
                        guint32            a_row,
                        guint32            rows,
                        const DrapeTensor *b,
                        guint32            b_img,
                        DrapeTensor       *out,
                        guint32            o_img,
                        guint32            o_row);

G_END_DECLS
