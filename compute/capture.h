/* capture.h: named intermediate activations copied out of a graph
 *
 * For tests that compare a model with its reference block by block
 * (diffusers' module names), so that a mismatch names its block.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "graph.h"

G_BEGIN_DECLS

typedef struct _DrapeCapture DrapeCapture;

DrapeCapture *drape_capture_new  (const char *const *names);
void          drape_capture_free (DrapeCapture      *capture);
/* Inside a model's forward: copies `tensor` out (as f32) if `name` is one
 * of the capture's names.  capture may be NULL. */
void          drape_capture_take (DrapeCapture      *capture,
                                  DrapeGraph        *graph,
                                  const char        *name,
                                  const DrapeTensor *tensor);
/* Whether `name` is one of the capture's names (capture may be NULL):
 * for a model that must make an activation it never holds whole to
 * capture it. */
gboolean      drape_capture_wants (const DrapeCapture *capture,
                                   const char         *name);
/* After the graph ran: the copy of `name` (f32, NHWC), or NULL. */
DrapeTensor  *drape_capture_get  (DrapeCapture      *capture,
                                  const char        *name);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DrapeCapture, drape_capture_free)

G_END_DECLS
