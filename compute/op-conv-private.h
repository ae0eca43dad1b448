/* op-conv-private.h: the convolution kernels' GEMM for ops built of GEMMs
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "graph-private.h"

G_BEGIN_DECLS

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
