/* test-common.h: what every engine test shares
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "device.h"
#include "graph.h"
#include "ops.h"
#include "safetensors.h"
#include "tensor.h"

G_BEGIN_DECLS

/* The device all tests of this binary use, made once, with validation on
 * (DRAPE_VALIDATION=1 from meson). */
DrapeDevice *test_device              (void);
/* Whether the test device's CPU kernels read through texel buffers (a CPU
 * driver whose texel reads work), as their `*_texel` variants need; else
 * skips the test and returns FALSE. */
gboolean     test_cpu_texels_or_skip  (void);
/* Deletes a tree without following symbolic links, whatever the modes. */
void         test_remove_tree         (const char  *path);
/* Fails the test if the validation layers said anything. */
void         test_assert_no_validation_messages (void);
/* Frees the shared device; call at the end of main(). */
int          test_finish              (int          status);

void         test_fill_random         (float       *data,
                                       gsize        n,
                                       guint32      seed,
                                       float        scale);
double       test_max_abs             (const float *x,
                                       gsize        n);
double       test_max_abs_diff        (const float *x,
                                       const float *y,
                                       gsize        n);
/* Asserts max |got - ref| <= rel * max |ref|, and prints both on failure. */
void         test_assert_close        (const char  *what,
                                       const float *got,
                                       const float *ref,
                                       gsize        n,
                                       double       rel);
/* The tolerance the op tests use for a dtype: 1e-4 for f32, 2e-2 for f16. */
double       test_tolerance           (DrapeDType   dtype);
/* Round-trips host data through f16 so a reference sees what the GPU sees. */
void         test_quantize            (float       *data,
                                       gsize        n,
                                       DrapeDType   dtype);
/* n random values (test_fill_random), rounded to what `dtype` holds. */
float       *test_random_data         (gsize        n,
                                       guint32      seed,
                                       float        scale,
                                       DrapeDType   dtype);
DrapeTensor *test_tensor_from         (DrapeDType   dtype,
                                       guint32      n,
                                       guint32      h,
                                       guint32      w,
                                       guint32      c,
                                       const float *data);
float       *test_download            (const DrapeTensor *tensor);
const char  *test_golden_dir          (void);

/* An attention problem: n images of qh x qw query tokens and kh x kw key
 * tokens (the queries' own when fused), heads of d dims.  Fused: Q, K
 * and V are channels [pad, pad + c), [pad + c, pad + 2c) and [pad + 2c,
 * pad + 3c) of one tensor; otherwise three tensors with `pad` extra
 * channels before and after their range. */
typedef struct {
  guint32 n;
  guint32 qh, qw;
  guint32 kh, kw;
  guint32 heads, d;
  gboolean fused;
  guint32 pad;
  float magnitude;  /* of q and k: larger makes a peakier softmax */
  guint64 limit;    /* the device's binding limit while it is recorded */
} TestAttention;

/* What test_attention_record() made: the inputs (k and v NULL when
 * fused), the op's output (the graph's) and the reference output, which
 * it leaves NULL where the caller set `no_reference` (a graph recorded
 * only for its pipelines). */
typedef struct {
  DrapeTensor *q, *k, *v;
  DrapeTensor *out;
  float *ref;
  gsize n_out;
  char *what;       /* the case, for failure messages */
  gboolean no_reference;
} TestAttentionRun;

/* Random inputs for `a` in `dtype` (seeded from `seed`), their reference
 * output, and drape_op_attention() on them recorded into `graph`, with
 * the graph's choice of the kernel-forcing variable `env` set to `value`
 * (drape_graph_set_choice; none when value is NULL; failure messages
 * name it). */
void         test_attention_record    (DrapeGraph          *graph,
                                       const TestAttention *a,
                                       DrapeDType           dtype,
                                       guint32              seed,
                                       const char          *env,
                                       const char          *value,
                                       TestAttentionRun    *run);
/* Downloads the output, asserts it is close to the reference, and frees
 * the run's inputs and buffers (test_attention_clear). */
void         test_attention_check     (TestAttentionRun    *run,
                                       DrapeDType           dtype);
void         test_attention_clear     (TestAttentionRun    *run);

/* A convolution problem: n images of h x w x cin, cout filters of kh x kw
 * over cin / groups channels, and which epilogue operands it has. */
typedef struct {
  const char *name;
  guint32 n, h, w, cin, cout, kh, kw, stride;
  guint32 pad_top, pad_left, pad_bottom, pad_right, groups;
  gboolean bias, channel_bias, residual;
  DrapeActivation act;
  float out_scale;
} TestConv;

/* What test_conv_prepare() made: every operand as a tensor, the op's
 * parameters (naming those the case has), the output's size and the
 * reference output. */
typedef struct {
  DrapeTensor *x, *weight, *bias, *channel_bias, *residual;
  DrapeConvParams params;
  guint32 oh, ow;
  float *ref;
  gsize n_out;
} TestConvRun;

/* Random operands for `c` in `dtype` and drape_ref_conv2d() on them. */
void         test_conv_prepare        (const TestConv      *c,
                                       DrapeDType           dtype,
                                       TestConvRun         *run);
/* The same with weights of another dtype (f16 beside f32). */
void         test_conv_prepare_weights (const TestConv     *c,
                                       DrapeDType           dtype,
                                       DrapeDType           weight_dtype,
                                       TestConvRun         *run);
/* The same for drape_op_conv2d_upsample2x: c is the 3x3 convolution
 * (stride 1, padding 1) of x upsampled 2x, and the run's weight and
 * parameters are the op's (its phases; no padding). */
void         test_conv_prepare_upsample2x (const TestConv  *c,
                                       DrapeDType           dtype,
                                       TestConvRun         *run);
/* Frees what test_conv_prepare() made. */
void         test_conv_clear          (TestConvRun         *run);

G_END_DECLS

G_BEGIN_DECLS

/* Standard deviation (population) of a reference, the scale golden
 * tolerances are relative to. */
double       test_std                 (const float *x,
                                       gsize        n);
/* Asserts max |got - ref| <= rel * std (ref); names `what` on failure. */
void         test_assert_close_std    (const char  *what,
                                       const float *got,
                                       const float *ref,
                                       gsize        n,
                                       double       rel);
/* A golden tensor in NCHW (or any rank <= 4, padded in front with 1s)
 * uploaded as an NHWC tensor of the given dtype. */
DrapeTensor *test_golden_tensor       (DrapeSafetensors *st,
                                       const char       *name,
                                       DrapeDType        dtype);
/* A golden tensor's values converted to NHWC order, and its shape. */
float       *test_golden_nhwc         (DrapeSafetensors *st,
                                       const char       *name,
                                       guint32          *n,
                                       guint32          *h,
                                       guint32          *w,
                                       guint32          *c);
DrapeSafetensors *test_golden_open    (const char       *relative);

/* Whether a profiled graph's runs had dispatches labelled `label`, and
 * how many (summed over its runs). */
gboolean     test_graph_ran           (DrapeGraph          *graph,
                                       const char          *label);
guint        test_graph_runs_of       (DrapeGraph          *graph,
                                       const char          *label);

G_END_DECLS
