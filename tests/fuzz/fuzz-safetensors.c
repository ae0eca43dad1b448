/* fuzz-safetensors.c: libFuzzer target for the safetensors header parser
 *
 * Any input must give a reader or an error, never a crash, a leak or an
 * out-of-bounds read (built with ASan and UBSan); tensors that parse are
 * read back in full to prove their ranges are inside the data.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <stdint.h>

#include "safetensors.h"

int LLVMFuzzerTestOneInput (const uint8_t *data,
                            size_t         size);

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(GBytes) bytes = g_bytes_new (data, size);
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeSafetensors) st = drape_safetensors_new_from_bytes (bytes, "fuzz", &error);

  if (st == NULL)
    {
      g_assert (error != NULL && error->message != NULL);
      return 0;
    }
  for (guint i = 0; i < drape_safetensors_get_n_tensors (st); i++)
    {
      const DrapeStTensor *t = drape_safetensors_get_nth (st, i);
      volatile guint8 sum = 0;

      g_assert (drape_safetensors_lookup (st, t->name) != NULL);
      for (guint64 b = 0; b < t->n_bytes; b++)
        sum += t->data[b];
      if (drape_st_dtype_is_float (t->dtype) && t->numel <= 4096)
        {
          g_autofree float *values = g_new (float, MAX (t->numel, 1));
          drape_st_tensor_read_f32 (t, 0, t->numel, values);
        }
    }
  return 0;
}
