/* tensor.h: 4-D tensors in NHWC order on a device
 *
 * Every activation is laid out channels-last: a row of the image holds
 * w * c contiguous values, so a band of rows is one contiguous range (ops
 * can split a tensor too large for one binding into bands), a linear layer
 * over channels is a plain GEMM, and convolutions read their reduction
 * dimension contiguously.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "device.h"
#include "memory.h"

G_BEGIN_DECLS

typedef enum {
  DRAPE_DTYPE_F32,
  DRAPE_DTYPE_F16,
} DrapeDType;

typedef struct _DrapeGraph DrapeGraph;
typedef struct _DrapeTensor DrapeTensor;

struct _DrapeTensor
{
  DrapeDevice *device;
  DrapeDType dtype;
  guint32 n, h, w, c;
  /* Storage: a buffer of its own, or a range of a graph's arena. */
  DrapeBuffer *buffer;
  DrapeGraph *graph;
  guint64 arena_offset;
  gboolean released;
  /* An activation's lifetime in the graph's allocation events, from which
   * the graph plans its arena: [born, died), died G_MAXUINT32 while it
   * is not released. */
  guint32 born, died;
  /* An activation an op writes over memory it may reuse: it lies
   * home_offset bytes from the start of `home`'s storage (before it where
   * negative), which stays allocated while either lives.  NULL for an
   * activation of its own. */
  DrapeTensor *home;
  gint64 home_offset;
};

gsize        drape_dtype_size            (DrapeDType         dtype);
const char  *drape_dtype_name            (DrapeDType         dtype);

DrapeTensor *drape_tensor_new            (DrapeDevice       *device,
                                          DrapeDType         dtype,
                                          guint32            n,
                                          guint32            h,
                                          guint32            w,
                                          guint32            c,
                                          GError           **error);
/* A tensor in host-visible memory that shaders read directly: small
 * per-run parameters (scheduler coefficients, RNG keys) that the host
 * rewrites between graph runs without a transfer or a submission. */
DrapeTensor *drape_tensor_new_host       (DrapeDevice       *device,
                                          DrapeDType         dtype,
                                          guint32            n,
                                          guint32            h,
                                          guint32            w,
                                          guint32            c,
                                          GError           **error);
void         drape_tensor_free           (DrapeTensor       *tensor);
/* The host address of a tensor's data (dtype, NHWC) when its memory is
 * host-visible and coherent: always for drape_tensor_new_host(), for any
 * tensor on a unified-memory device; else NULL.  Writes are seen by the
 * next drape_graph_submit() (or run); while a graph is in flight the host
 * must not write what it reads, nor read what it writes until
 * drape_graph_wait(). */
gpointer     drape_tensor_get_mapped     (const DrapeTensor *tensor);
guint64      drape_tensor_numel          (const DrapeTensor *tensor);
guint64      drape_tensor_bytes          (const DrapeTensor *tensor);
gboolean     drape_tensor_same_shape     (const DrapeTensor *a,
                                          const DrapeTensor *b);
char        *drape_tensor_describe       (const DrapeTensor *tensor);

/* Host data is f32 in NHWC order; it is converted to the tensor's dtype. */
gboolean     drape_tensor_upload         (DrapeTensor       *tensor,
                                          const float       *data,
                                          guint64            n_values,
                                          GError           **error);
gboolean     drape_tensor_download       (const DrapeTensor *tensor,
                                          float             *data,
                                          guint64            n_values,
                                          GError           **error);

/* Layout conversions for data that comes in PyTorch's NCHW order. */
void         drape_nchw_to_nhwc          (const float       *src,
                                          float             *dst,
                                          guint32            n,
                                          guint32            c,
                                          guint32            h,
                                          guint32            w);
void         drape_nhwc_to_nchw          (const float       *src,
                                          float             *dst,
                                          guint32            n,
                                          guint32            c,
                                          guint32            h,
                                          guint32            w);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DrapeTensor, drape_tensor_free)

G_END_DECLS
