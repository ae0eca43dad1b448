/* weights.h: model weights from safetensors files onto the device
 *
 * A DrapeWeights owns the tensors of one model.  Tensors are converted from
 * PyTorch's layout and the file's dtype (F32, F16, BF16) to the engine's
 * layout (ops.h) and dtype while they stream through the staging buffer, so
 * host memory stays small whatever the model's size.  The dtype is the
 * compute dtype the weights were made for, except that kernels (of
 * convolutions and linear layers) of F16 files stay f16 at f32: their
 * values are exact in f16, and the convolutions read f16 weights beside
 * f32 activations.  Lookups check the
 * PyTorch shape; the first failure is kept, named by file and tensor, and
 * reported by drape_weights_check(), so model code can load everything in
 * straight-line code and check once.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "device.h"
#include "safetensors.h"
#include "tensor.h"

G_BEGIN_DECLS

typedef struct _DrapeWeights DrapeWeights;

DrapeWeights      *drape_weights_new        (DrapeDevice       *device,
                                             DrapeDType         dtype);
/* Weights that read no file: every lookup succeeds with random values of
 * the asked shape (scaled by fan-in; norm scales near 1), so benchmarks
 * run the real architecture with nothing downloaded. */
DrapeWeights      *drape_weights_new_random (DrapeDevice       *device,
                                             DrapeDType         dtype,
                                             guint64            seed);
/* Random weights without their values: every lookup succeeds with a
 * tensor of the asked shape, in the dtype the random weights' would
 * have, its contents undefined.  What a model holds, for measuring
 * memory without drawing gigabytes of numbers (bench --memory). */
DrapeWeights      *drape_weights_new_unfilled (DrapeDevice     *device,
                                             DrapeDType         dtype);
/* Random weights stand in for the files a model is given: tensors whose
 * names contain `name_part` for values of a file of `dtype` (the longest
 * such part decides; F32 where none is set), and that decides the dtype
 * they are kept in, as for a real file's: kernels of F16 files stay f16
 * beside f32 activations. */
void               drape_weights_set_random_file_dtype (DrapeWeights *weights,
                                             const char        *name_part,
                                             DrapeStDType       dtype);
void               drape_weights_free       (DrapeWeights      *weights);
/* Adds a file to look names up in; later files take precedence. */
gboolean           drape_weights_add_file   (DrapeWeights      *weights,
                                             const char        *path,
                                             GError           **error);
/* Makes `name` resolve to tensor `file_name` of the last added file. */
void               drape_weights_alias      (DrapeWeights      *weights,
                                             const char        *name,
                                             const char        *file_name);
/* The raw tensor behind a name (after aliases), or NULL. */
const DrapeStTensor *drape_weights_lookup   (DrapeWeights      *weights,
                                             const char        *name);

/* PyTorch [cout, cin, kh, kw] -> engine [cout, kh, kw, cin]. */
const DrapeTensor *drape_weights_conv       (DrapeWeights      *weights,
                                             const char        *name,
                                             guint32            cout,
                                             guint32            cin,
                                             guint32            kh,
                                             guint32            kw);
/* A 3x3 convolution's weights [cout, cin, 3, 3] as the four phases that
 * drape_op_conv2d_upsample2x takes: engine [4 cout, 2, 2, cin]. */
const DrapeTensor *drape_weights_conv_upsample2x (DrapeWeights  *weights,
                                             const char        *name,
                                             guint32            cout,
                                             guint32            cin);
/* A 1x1 convolution `then` (then.weight [cout, c, 1, 1], then.bias) after
 * the upsampled 3x3 convolution `up` (up.weight [c, c, 3, 3], up.bias) as
 * one: the phases of drape_op_conv2d_upsample2x from c to cout channels,
 * [4 cout, 2, 2, c], and its bias in *bias, [cout].  Both are linear, so
 * the product of their weights (in f64) gives their output with the
 * first's work times cout / c and without its output. */
const DrapeTensor *drape_weights_conv_upsample2x_then (DrapeWeights       *weights,
                                                  const char         *up,
                                                  const char         *then,
                                                  guint32             c,
                                                  guint32             cout,
                                                  const DrapeTensor **bias);
/* PyTorch [out, in] (or [out, in, 1, 1]) -> engine [out, 1, 1, in]. */
const DrapeTensor *drape_weights_linear     (DrapeWeights      *weights,
                                             const char        *name,
                                             guint32            out,
                                             guint32            in);
/* PyTorch [c] -> engine [1, 1, 1, c]. */
const DrapeTensor *drape_weights_vector     (DrapeWeights      *weights,
                                             const char        *name,
                                             guint32            c);
/* Several tensors of one shape stacked along the output dimension, kept
 * under `key`: e.g. to_q, to_k, to_v as one fused QKV projection.  At most
 * four. */
const DrapeTensor *drape_weights_linear_concat (DrapeWeights   *weights,
                                             const char        *key,
                                             const char *const *names,
                                             guint              n_names,
                                             guint32            out_each,
                                             guint32            in);
const DrapeTensor *drape_weights_vector_concat (DrapeWeights   *weights,
                                             const char        *key,
                                             const char *const *names,
                                             guint              n_names,
                                             guint32            c_each);
/* Host values in PyTorch layout, e.g. after folding a BatchNorm: uploaded
 * and kept under `key`.  shape is [cout, cin, kh, kw]; for a vector pass
 * cout = c and cin = kh = kw = 1 with as_vector. */
const DrapeTensor *drape_weights_conv_from_data (DrapeWeights  *weights,
                                             const char        *key,
                                             const float       *data,
                                             guint32            cout,
                                             guint32            cin,
                                             guint32            kh,
                                             guint32            kw,
                                             gboolean           as_vector);
/* Reads a float tensor to the host as f32 (e.g. for folding); checks shape.
 * Random weights read the values a lookup of that shape would upload. */
float             *drape_weights_read       (DrapeWeights      *weights,
                                             const char        *name,
                                             guint              n_dims,
                                             const guint64     *shape);
void               drape_weights_fail       (DrapeWeights      *weights,
                                             const char        *format,
                                             ...) G_GNUC_PRINTF (2, 3);
gboolean           drape_weights_check      (DrapeWeights      *weights,
                                             GError           **error);
guint64            drape_weights_get_bytes  (DrapeWeights      *weights);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DrapeWeights, drape_weights_free)

G_END_DECLS
