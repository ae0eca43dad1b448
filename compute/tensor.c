/* tensor.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "error.h"
#include "graph-private.h"
#include "half.h"
#include "tensor.h"

gsize
drape_dtype_size (DrapeDType dtype)
{
  return dtype == DRAPE_DTYPE_F16 ? 2 : 4;
}

const char *
drape_dtype_name (DrapeDType dtype)
{
  return dtype == DRAPE_DTYPE_F16 ? "f16" : "f32";
}

guint64
drape_tensor_numel (const DrapeTensor *tensor)
{
  return (guint64) tensor->n * tensor->h * tensor->w * tensor->c;
}

guint64
drape_tensor_bytes (const DrapeTensor *tensor)
{
  return drape_tensor_numel (tensor) * drape_dtype_size (tensor->dtype);
}

gboolean
drape_tensor_same_shape (const DrapeTensor *a,
                         const DrapeTensor *b)
{
  return a->n == b->n && a->h == b->h && a->w == b->w && a->c == b->c;
}

char *
drape_tensor_describe (const DrapeTensor *tensor)
{
  return g_strdup_printf ("%s [n=%u h=%u w=%u c=%u]", drape_dtype_name (tensor->dtype),
                          tensor->n, tensor->h, tensor->w, tensor->c);
}

static DrapeTensor *
tensor_new (DrapeDevice     *device,
            DrapeMemoryKind  kind,
            DrapeDType       dtype,
            guint32          n,
            guint32          h,
            guint32          w,
            guint32          c,
            GError         **error)
{
  DrapeTensor *tensor;
  guint64 bytes;

  if (n == 0 || h == 0 || w == 0 || c == 0)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                   "Tensor shape [%u %u %u %u] has a zero dimension", n, h, w, c);
      return NULL;
    }
  if (dtype == DRAPE_DTYPE_F16 && !drape_device_get_caps (device)->has_f16)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED,
                   "%s has no 16-bit float storage; use f32",
                   drape_device_get_info (device)->name);
      return NULL;
    }
  bytes = (guint64) n * h * w * c * drape_dtype_size (dtype);
  tensor = g_new0 (DrapeTensor, 1);
  tensor->device = device;
  tensor->dtype = dtype;
  tensor->n = n;
  tensor->h = h;
  tensor->w = w;
  tensor->c = c;
  tensor->buffer = drape_buffer_new (device, kind, bytes, error);
  if (tensor->buffer == NULL)
    {
      g_free (tensor);
      return NULL;
    }
  return tensor;
}

DrapeTensor *
drape_tensor_new (DrapeDevice *device,
                  DrapeDType   dtype,
                  guint32      n,
                  guint32      h,
                  guint32      w,
                  guint32      c,
                  GError     **error)
{
  return tensor_new (device, DRAPE_MEMORY_DEVICE, dtype, n, h, w, c, error);
}

DrapeTensor *
drape_tensor_new_host (DrapeDevice *device,
                       DrapeDType   dtype,
                       guint32      n,
                       guint32      h,
                       guint32      w,
                       guint32      c,
                       GError     **error)
{
  return tensor_new (device, DRAPE_MEMORY_HOST, dtype, n, h, w, c, error);
}

void
drape_tensor_free (DrapeTensor *tensor)
{
  if (tensor == NULL)
    return;
  /* Arena tensors belong to their graph. */
  g_return_if_fail (tensor->graph == NULL);
  drape_buffer_free (tensor->buffer);
  g_free (tensor);
}

gpointer
drape_tensor_get_mapped (const DrapeTensor *tensor)
{
  DrapeBuffer *buffer;
  guint64 offset;
  guint8 *mapped;

  if (!drape_tensor_storage (tensor, &buffer, &offset))
    return NULL;
  mapped = drape_buffer_get_mapped (buffer);
  return mapped != NULL ? mapped + offset : NULL;
}

static gboolean
check_transfer (const DrapeTensor *tensor,
                guint64            n_values,
                DrapeBuffer      **buffer,
                guint64           *offset,
                GError           **error)
{
  if (!drape_tensor_storage (tensor, buffer, offset))
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                   "This activation has no memory: its graph is not compiled, "
                   "or the tensor was released");
      return FALSE;
    }
  if (n_values != drape_tensor_numel (tensor))
    {
      g_autofree char *desc = drape_tensor_describe (tensor);
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                   "Transfer of %" G_GUINT64_FORMAT " values to or from a tensor %s "
                   "of %" G_GUINT64_FORMAT, n_values, desc, drape_tensor_numel (tensor));
      return FALSE;
    }
  return TRUE;
}

static void
fill_half (guint8  *dst,
           guint64  offset,
           guint64  n_bytes,
           gpointer user_data)
{
  const float *src = (const float *) user_data + offset / 2;
  guint16 *out = (guint16 *) dst;

  for (guint64 i = 0; i < n_bytes / 2; i++)
    out[i] = drape_float_to_half (src[i]);
}

gboolean
drape_tensor_upload (DrapeTensor *tensor,
                     const float *data,
                     guint64      n_values,
                     GError     **error)
{
  DrapeBuffer *buffer;
  guint64 offset;

  if (!check_transfer (tensor, n_values, &buffer, &offset, error))
    return FALSE;
  if (tensor->dtype == DRAPE_DTYPE_F32)
    return drape_buffer_upload (buffer, offset, data, n_values * 4, error);
  return drape_buffer_fill (buffer, offset, n_values * 2, fill_half, (gpointer) data, error);
}

gboolean
drape_tensor_download (const DrapeTensor *tensor,
                       float             *data,
                       guint64            n_values,
                       GError           **error)
{
  g_autofree guint16 *half = NULL;
  DrapeBuffer *buffer;
  guint64 offset;

  if (!check_transfer (tensor, n_values, &buffer, &offset, error))
    return FALSE;
  if (tensor->dtype == DRAPE_DTYPE_F32)
    return drape_buffer_download (buffer, offset, data, n_values * 4, error);
  half = g_new (guint16, n_values);
  if (!drape_buffer_download (buffer, offset, half, n_values * 2, error))
    return FALSE;
  for (guint64 i = 0; i < n_values; i++)
    data[i] = drape_half_to_float (half[i]);
  return TRUE;
}

void
drape_nchw_to_nhwc (const float *src,
                    float       *dst,
                    guint32      n,
                    guint32      c,
                    guint32      h,
                    guint32      w)
{
  for (guint32 b = 0; b < n; b++)
    for (guint32 ch = 0; ch < c; ch++)
      for (guint32 y = 0; y < h; y++)
        for (guint32 x = 0; x < w; x++)
          dst[(((guint64) b * h + y) * w + x) * c + ch] = src[(((guint64) b * c + ch) * h + y) * w + x];
}

void
drape_nhwc_to_nchw (const float *src,
                    float       *dst,
                    guint32      n,
                    guint32      c,
                    guint32      h,
                    guint32      w)
{
  for (guint32 b = 0; b < n; b++)
    for (guint32 ch = 0; ch < c; ch++)
      for (guint32 y = 0; y < h; y++)
        for (guint32 x = 0; x < w; x++)
          dst[(((guint64) b * c + ch) * h + y) * w + x] = src[(((guint64) b * h + y) * w + x) * c + ch];
}
