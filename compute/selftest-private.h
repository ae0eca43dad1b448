/* selftest-private.h: what a selftest case uses
 *
 * A case builds its op on the selftest's graph from inputs made here,
 * fills the reference its output must match, and returns that output.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "reference.h"
#include "selftest.h"

G_BEGIN_DECLS

typedef struct _DrapeSelftest DrapeSelftest;

struct _DrapeSelftestCase
{
  const char *name;
  const DrapeTensor *(*build) (DrapeSelftest *st);
};

DrapeGraph  *drape_selftest_graph     (DrapeSelftest *st);
/* The storage type under test. */
DrapeDType   drape_selftest_dtype     (DrapeSelftest *st);
/* The other storage type where the device has f16, else the same one. */
DrapeDType   drape_selftest_other_dtype (DrapeSelftest *st);
/* n random values in [-scale, scale], living as long as the case. */
float       *drape_selftest_random    (DrapeSelftest *st,
                                       guint64        n,
                                       float          scale);
/* A tensor with memory of its own holding random values in [-scale,
 * scale], as dtype stores them; *host gets those values. */
DrapeTensor *drape_selftest_input     (DrapeSelftest *st,
                                       DrapeDType     dtype,
                                       DrapeShape     shape,
                                       float          scale,
                                       const float  **host);
/* A tensor with memory of its own, holding data unless it is NULL. */
DrapeTensor *drape_selftest_tensor    (DrapeSelftest *st,
                                       DrapeDType     dtype,
                                       DrapeShape     shape,
                                       const float   *data);
/* Takes a tensor made elsewhere (an RNG key, a host-visible tensor) for
 * the case's lifetime; NULL records `error` on the graph. */
DrapeTensor *drape_selftest_adopt     (DrapeSelftest *st,
                                       DrapeTensor   *tensor,
                                       const GError  *error);
/* Host memory that lives as long as the case. */
float       *drape_selftest_alloc     (DrapeSelftest *st,
                                       guint64        n);
/* Where the reference goes: n values, the output's size. */
float       *drape_selftest_reference (DrapeSelftest *st,
                                       guint64        n);
/* Replaces the tolerance: by default 1e-4, or 2e-2 when the dtype under
 * test or the output is f16. */
void         drape_selftest_set_tolerance (DrapeSelftest *st,
                                       double         tolerance);

/* In selftest-cases-layers.c. */
extern const DrapeSelftestCase drape_selftest_case_conv2d;
extern const DrapeSelftestCase drape_selftest_case_conv2d_f16_weights;
extern const DrapeSelftestCase drape_selftest_case_conv2d_upsample2x;
extern const DrapeSelftestCase drape_selftest_case_linear;
extern const DrapeSelftestCase drape_selftest_case_linear_geglu;
extern const DrapeSelftestCase drape_selftest_case_linear_geglu_f16_weights;
extern const DrapeSelftestCase drape_selftest_case_group_norm;
extern const DrapeSelftestCase drape_selftest_case_layer_norm;
extern const DrapeSelftestCase drape_selftest_case_softmax;
extern const DrapeSelftestCase drape_selftest_case_attention;

G_END_DECLS
