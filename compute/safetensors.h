/* safetensors.h: reading (mmap) and writing the safetensors format
 *
 * A file is an 8-byte little-endian header length, a JSON header naming
 * every tensor's dtype, shape and byte range, then the data.  The reader
 * trusts nothing: the header must lie within the file and be valid UTF-8
 * JSON under 100 MB, every range must lie inside the data, ranges must
 * not overlap, and dtype x shape must equal each range's size.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define DRAPE_SAFETENSORS_MAX_DIMS 8
#define DRAPE_SAFETENSORS_MAX_HEADER (100u * 1000 * 1000)

typedef enum {
  DRAPE_ST_F64,
  DRAPE_ST_F32,
  DRAPE_ST_F16,
  DRAPE_ST_BF16,
  DRAPE_ST_I64,
  DRAPE_ST_I32,
  DRAPE_ST_I16,
  DRAPE_ST_I8,
  DRAPE_ST_U64,
  DRAPE_ST_U32,
  DRAPE_ST_U16,
  DRAPE_ST_U8,
  DRAPE_ST_BOOL,
} DrapeStDType;

typedef struct {
  char *name;
  DrapeStDType dtype;
  guint n_dims;
  guint64 shape[DRAPE_SAFETENSORS_MAX_DIMS];
  guint64 numel;
  const guint8 *data;
  guint64 n_bytes;
} DrapeStTensor;

typedef struct _DrapeSafetensors DrapeSafetensors;

DrapeSafetensors    *drape_safetensors_open          (const char             *path,
                                                      GError                **error);
DrapeSafetensors    *drape_safetensors_new_from_bytes (GBytes                *bytes,
                                                      const char             *name,
                                                      GError                **error);
void                 drape_safetensors_free          (DrapeSafetensors       *st);
const char          *drape_safetensors_get_path      (DrapeSafetensors       *st);
guint                drape_safetensors_get_n_tensors (DrapeSafetensors       *st);
/* Tensors in the order of their data offsets. */
const DrapeStTensor *drape_safetensors_get_nth       (DrapeSafetensors       *st,
                                                      guint                   index);
const DrapeStTensor *drape_safetensors_lookup        (DrapeSafetensors       *st,
                                                      const char             *name);
const char          *drape_safetensors_get_metadata  (DrapeSafetensors       *st,
                                                      const char             *key);

const char          *drape_st_dtype_name             (DrapeStDType            dtype);
gsize                drape_st_dtype_size             (DrapeStDType            dtype);
gboolean             drape_st_dtype_is_float         (DrapeStDType            dtype);
/* Converts values [start, start + count) of an F32, F16 or BF16 tensor. */
void                 drape_st_tensor_read_f32        (const DrapeStTensor    *tensor,
                                                      guint64                 start,
                                                      guint64                 count,
                                                      float                  *dst);
/* Values [start, start + count) of an F16 tensor as they are (halves in
 * the host's byte order). */
void                 drape_st_tensor_read_f16        (const DrapeStTensor    *tensor,
                                                      guint64                 start,
                                                      guint64                 count,
                                                      guint16                *dst);
/* Looks a tensor up, checks that it is a float tensor of the given shape
 * (n_dims dims; NULL shape accepts any), and returns its values as f32.
 * Errors name the file, the tensor, and what was expected and found. */
float               *drape_safetensors_read_f32      (DrapeSafetensors       *st,
                                                      const char             *name,
                                                      guint                   n_dims,
                                                      const guint64          *shape,
                                                      GError                **error);
char                *drape_st_shape_to_string        (guint                   n_dims,
                                                      const guint64          *shape);

/* Writing: tensors are added from f32 values, stored as F32 unless
 * added as F16 or BF16 (rounded to nearest even), and written in one go. */
typedef struct _DrapeSafetensorsWriter DrapeSafetensorsWriter;

DrapeSafetensorsWriter *drape_safetensors_writer_new  (void);
void                    drape_safetensors_writer_free (DrapeSafetensorsWriter *writer);
void                    drape_safetensors_writer_add  (DrapeSafetensorsWriter *writer,
                                                       const char             *name,
                                                       guint                   n_dims,
                                                       const guint64          *shape,
                                                       const float            *data);
void                    drape_safetensors_writer_add_as (DrapeSafetensorsWriter *writer,
                                                       const char             *name,
                                                       guint                   n_dims,
                                                       const guint64          *shape,
                                                       const float            *data,
                                                       DrapeStDType            dtype);
gboolean                drape_safetensors_writer_save (DrapeSafetensorsWriter *writer,
                                                       const char             *path,
                                                       GError                **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DrapeSafetensors, drape_safetensors_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DrapeSafetensorsWriter, drape_safetensors_writer_free)

G_END_DECLS
