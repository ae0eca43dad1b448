/* selftest.h: every op once on a device, against its naive reference
 *
 * What `drape-cli selftest` runs: each case builds one op at a moderate
 * shape on random data, in f32 or f16 storage, runs it once with
 * profiling on, and compares the result with the reference (reference.h).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "device.h"
#include "tensor.h"

G_BEGIN_DECLS

typedef struct _DrapeSelftestCase DrapeSelftestCase;

typedef struct {
  DrapeDType dtype;
  gboolean passed;
  /* max |got - ref| / max |ref|, and the most it may be. */
  double max_error;
  double tolerance;
  /* GPU time of the op's dispatches; negative when the device has no
   * timestamps. */
  double gpu_ms;
} DrapeSelftestResult;

/* The cases, one per op, in the order of ops.h. */
const DrapeSelftestCase *const *drape_selftest_get_cases (guint *n_cases);
const char *drape_selftest_case_get_name (const DrapeSelftestCase *self_case);
/* Runs a case in one dtype.  A wrong result is a result with passed
 * FALSE; FALSE and an error mean the case could not run (no f16 on the
 * device, the op refused its input, out of memory, device lost). */
gboolean    drape_selftest_run           (DrapeDevice             *device,
                                          const DrapeSelftestCase *self_case,
                                          DrapeDType               dtype,
                                          DrapeSelftestResult     *result,
                                          GError                 **error);

G_END_DECLS
