/* ops.h: the op library
 *
 * Every op appends its dispatches to a graph and returns its result as a
 * new activation of that graph (NHWC, the dtype of its inputs).  Inputs
 * may be activations of the same graph or tensors of their own.  A wrong
 * shape or dtype records an error on the graph (see graph.h).  Storage is
 * f32 or f16; sums are taken in f32 either way.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "graph.h"

G_BEGIN_DECLS

typedef enum {
  DRAPE_BINARY_ADD, /* alpha * a + beta * b */
  DRAPE_BINARY_MUL, /* alpha * a * b */
} DrapeBinaryOp;

/* b has a's shape, or is broadcast over positions as [a.n or 1, 1, 1, a.c]. */
DrapeTensor *drape_op_binary (DrapeGraph        *graph,
                              DrapeBinaryOp      op,
                              const DrapeTensor *a,
                              const DrapeTensor *b,
                              float              alpha,
                              float              beta);
DrapeTensor *drape_op_add    (DrapeGraph        *graph,
                              const DrapeTensor *a,
                              const DrapeTensor *b);
DrapeTensor *drape_op_mul    (DrapeGraph        *graph,
                              const DrapeTensor *a,
                              const DrapeTensor *b);

G_END_DECLS
