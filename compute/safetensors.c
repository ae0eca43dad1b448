/* safetensors.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>
#include <json-glib/json-glib.h>

#include "error.h"
#include "half.h"
#include "safetensors.h"

struct _DrapeSafetensors
{
  char *path;
  GMappedFile *mapped;
  GBytes *bytes;
  GArray *tensors;        /* DrapeStTensor, by offset */
  GHashTable *by_name;    /* name -> index + 1 */
  GHashTable *metadata;   /* key -> value */
};

static const struct {
  const char *name;
  DrapeStDType dtype;
  gsize size;
} dtypes[] = {
  { "F64", DRAPE_ST_F64, 8 },
  { "F32", DRAPE_ST_F32, 4 },
  { "F16", DRAPE_ST_F16, 2 },
  { "BF16", DRAPE_ST_BF16, 2 },
  { "I64", DRAPE_ST_I64, 8 },
  { "I32", DRAPE_ST_I32, 4 },
  { "I16", DRAPE_ST_I16, 2 },
  { "I8", DRAPE_ST_I8, 1 },
  { "U64", DRAPE_ST_U64, 8 },
  { "U32", DRAPE_ST_U32, 4 },
  { "U16", DRAPE_ST_U16, 2 },
  { "U8", DRAPE_ST_U8, 1 },
  { "BOOL", DRAPE_ST_BOOL, 1 },
};

const char *
drape_st_dtype_name (DrapeStDType dtype)
{
  for (guint i = 0; i < G_N_ELEMENTS (dtypes); i++)
    if (dtypes[i].dtype == dtype)
      return dtypes[i].name;
  return "?";
}

gsize
drape_st_dtype_size (DrapeStDType dtype)
{
  for (guint i = 0; i < G_N_ELEMENTS (dtypes); i++)
    if (dtypes[i].dtype == dtype)
      return dtypes[i].size;
  return 0;
}

gboolean
drape_st_dtype_is_float (DrapeStDType dtype)
{
  return dtype == DRAPE_ST_F32 || dtype == DRAPE_ST_F16 || dtype == DRAPE_ST_BF16;
}

char *
drape_st_shape_to_string (guint          n_dims,
                          const guint64 *shape)
{
  GString *s = g_string_new ("[");

  for (guint i = 0; i < n_dims; i++)
    g_string_append_printf (s, "%s%" G_GUINT64_FORMAT, i ? ", " : "", shape[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

static void
tensor_clear (gpointer data)
{
  DrapeStTensor *t = data;

  g_free (t->name);
}

void
drape_safetensors_free (DrapeSafetensors *st)
{
  if (st == NULL)
    return;
  g_clear_pointer (&st->tensors, g_array_unref);
  g_clear_pointer (&st->by_name, g_hash_table_unref);
  g_clear_pointer (&st->metadata, g_hash_table_unref);
  g_clear_pointer (&st->mapped, g_mapped_file_unref);
  g_clear_pointer (&st->bytes, g_bytes_unref);
  g_free (st->path);
  g_free (st);
}

static gboolean
read_uint (JsonNode   *node,
           guint64    *value)
{
  gint64 v;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  v = json_node_get_int (node);
  if (v < 0)
    return FALSE;
  *value = (guint64) v;
  return TRUE;
}

static gint
compare_begin (gconstpointer a,
               gconstpointer b)
{
  const DrapeStTensor *x = a, *y = b;

  return x->data < y->data ? -1 : x->data > y->data ? 1 : 0;
}

static gboolean
parse_entry (DrapeSafetensors *st,
             const char       *name,
             JsonNode         *node,
             const guint8     *data,
             guint64           data_len,
             GError          **error)
{
  JsonObject *obj;
  JsonNode *dtype_node, *shape_node, *offsets_node;
  JsonArray *shape, *offsets;
  const char *dtype_name;
  DrapeStTensor t = { 0 };
  guint64 begin, end, bytes;
  gboolean known = FALSE;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    return drape_set_format_error (error, st->path, "tensor '%s' is not a JSON object", name);
  obj = json_node_get_object (node);
  dtype_node = json_object_get_member (obj, "dtype");
  shape_node = json_object_get_member (obj, "shape");
  offsets_node = json_object_get_member (obj, "data_offsets");
  if (dtype_node == NULL || !JSON_NODE_HOLDS_VALUE (dtype_node) ||
      json_node_get_value_type (dtype_node) != G_TYPE_STRING)
    return drape_set_format_error (error, st->path, "tensor '%s' has no dtype string", name);
  if (shape_node == NULL || !JSON_NODE_HOLDS_ARRAY (shape_node))
    return drape_set_format_error (error, st->path, "tensor '%s' has no shape array", name);
  if (offsets_node == NULL || !JSON_NODE_HOLDS_ARRAY (offsets_node))
    return drape_set_format_error (error, st->path, "tensor '%s' has no data_offsets array", name);

  dtype_name = json_node_get_string (dtype_node);
  for (guint i = 0; i < G_N_ELEMENTS (dtypes); i++)
    if (strcmp (dtypes[i].name, dtype_name) == 0)
      {
        t.dtype = dtypes[i].dtype;
        known = TRUE;
      }
  if (!known)
    return drape_set_format_error (error, st->path, "tensor '%s' has unknown dtype '%s'", name, dtype_name);

  shape = json_node_get_array (shape_node);
  t.n_dims = json_array_get_length (shape);
  if (t.n_dims > DRAPE_SAFETENSORS_MAX_DIMS)
    return drape_set_format_error (error, st->path, "tensor '%s' has %u dimensions (at most %u supported)",
                 name, t.n_dims, DRAPE_SAFETENSORS_MAX_DIMS);
  t.numel = 1;
  for (guint i = 0; i < t.n_dims; i++)
    {
      if (!read_uint (json_array_get_element (shape, i), &t.shape[i]))
        return drape_set_format_error (error, st->path, "tensor '%s' has a shape entry that is not a "
                     "non-negative integer", name);
      if (!g_uint64_checked_mul (&t.numel, t.numel, t.shape[i]))
        return drape_set_format_error (error, st->path, "tensor '%s' has a shape too large to address", name);
    }

  offsets = json_node_get_array (offsets_node);
  if (json_array_get_length (offsets) != 2 ||
      !read_uint (json_array_get_element (offsets, 0), &begin) ||
      !read_uint (json_array_get_element (offsets, 1), &end) || begin > end)
    return drape_set_format_error (error, st->path, "tensor '%s' has malformed data_offsets", name);
  if (end > data_len)
    return drape_set_format_error (error, st->path, "tensor '%s' data [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
                 ") lies past the end of the file's %" G_GUINT64_FORMAT " data bytes",
                 name, begin, end, data_len);
  if (!g_uint64_checked_mul (&bytes, t.numel, drape_st_dtype_size (t.dtype)) || bytes != end - begin)
    {
      g_autofree char *shape_str = drape_st_shape_to_string (t.n_dims, t.shape);
      return drape_set_format_error (error, st->path, "tensor '%s' is %s %s (%" G_GUINT64_FORMAT " values) but "
                   "spans %" G_GUINT64_FORMAT " bytes", name, dtype_name, shape_str,
                   t.numel, end - begin);
    }

  t.name = g_strdup (name);
  t.data = data + begin;
  t.n_bytes = bytes;
  g_array_append_val (st->tensors, t);
  return TRUE;
}

static gboolean
parse (DrapeSafetensors *st,
       const guint8     *file,
       gsize             size,
       GError          **error)
{
  guint64 header_len = 0;
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(GError) json_error = NULL;
  JsonNode *root;
  JsonObject *obj;
  g_autoptr(GList) members = NULL;
  const guint8 *data;
  guint64 data_len;

  st->tensors = g_array_new (FALSE, TRUE, sizeof (DrapeStTensor));
  g_array_set_clear_func (st->tensors, tensor_clear);
  st->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  st->metadata = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  if (size < 8)
    return drape_set_format_error (error, st->path, "file of %" G_GSIZE_FORMAT " bytes is too short for a "
                 "safetensors header", size);
  for (guint i = 0; i < 8; i++)
    header_len |= (guint64) file[i] << (8 * i);
  if (header_len > DRAPE_SAFETENSORS_MAX_HEADER)
    return drape_set_format_error (error, st->path, "header of %" G_GUINT64_FORMAT " bytes exceeds the "
                 "100 MB limit", header_len);
  if (header_len > size - 8)
    return drape_set_format_error (error, st->path, "header length %" G_GUINT64_FORMAT " runs past the end "
                 "of the file (%" G_GSIZE_FORMAT " bytes)", header_len, size);
  if (header_len < 2)
    return drape_set_format_error (error, st->path, "header is empty");
  if (!g_utf8_validate ((const char *) file + 8, header_len, NULL))
    return drape_set_format_error (error, st->path, "header is not valid UTF-8");
  if (!json_parser_load_from_data (parser, (const char *) file + 8, header_len, &json_error))
    return drape_set_format_error (error, st->path, "header is not valid JSON: %s", json_error->message);
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return drape_set_format_error (error, st->path, "header is not a JSON object");

  data = file + 8 + header_len;
  data_len = size - 8 - header_len;
  obj = json_node_get_object (root);
  members = json_object_get_members (obj);
  for (GList *l = members; l != NULL; l = l->next)
    {
      const char *name = l->data;
      JsonNode *node = json_object_get_member (obj, name);

      if (strcmp (name, "__metadata__") == 0)
        {
          JsonObject *meta;
          g_autoptr(GList) keys = NULL;
          if (!JSON_NODE_HOLDS_OBJECT (node))
            return drape_set_format_error (error, st->path, "__metadata__ is not an object");
          meta = json_node_get_object (node);
          keys = json_object_get_members (meta);
          for (GList *k = keys; k != NULL; k = k->next)
            {
              JsonNode *v = json_object_get_member (meta, k->data);
              if (!JSON_NODE_HOLDS_VALUE (v) || json_node_get_value_type (v) != G_TYPE_STRING)
                return drape_set_format_error (error, st->path, "__metadata__ value '%s' is not a string",
                             (const char *) k->data);
              g_hash_table_insert (st->metadata, g_strdup (k->data),
                                   g_strdup (json_node_get_string (v)));
            }
          continue;
        }
      if (!parse_entry (st, name, node, data, data_len, error))
        return FALSE;
    }

  g_array_sort (st->tensors, compare_begin);
  for (guint i = 0; i < st->tensors->len; i++)
    {
      DrapeStTensor *t = &g_array_index (st->tensors, DrapeStTensor, i);
      if (i > 0)
        {
          DrapeStTensor *prev = &g_array_index (st->tensors, DrapeStTensor, i - 1);
          if (t->data < prev->data + prev->n_bytes)
            return drape_set_format_error (error, st->path, "tensors '%s' and '%s' overlap", prev->name, t->name);
        }
      g_hash_table_insert (st->by_name, t->name, GUINT_TO_POINTER (i + 1));
    }
  return TRUE;
}

DrapeSafetensors *
drape_safetensors_new_from_bytes (GBytes     *bytes,
                                  const char *name,
                                  GError    **error)
{
  g_autoptr(DrapeSafetensors) st = g_new0 (DrapeSafetensors, 1);
  gsize size;
  const guint8 *data = g_bytes_get_data (bytes, &size);

  st->path = g_strdup (name ? name : "(memory)");
  st->bytes = g_bytes_ref (bytes);
  if (!parse (st, data, size, error))
    return NULL;
  return g_steal_pointer (&st);
}

DrapeSafetensors *
drape_safetensors_open (const char *path,
                        GError    **error)
{
  g_autoptr(DrapeSafetensors) st = g_new0 (DrapeSafetensors, 1);
  g_autoptr(GError) local_error = NULL;

  st->path = g_strdup (path);
  st->mapped = g_mapped_file_new (path, FALSE, &local_error);
  if (st->mapped == NULL)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_IO, "%s", local_error->message);
      return NULL;
    }
  if (!parse (st, (const guint8 *) g_mapped_file_get_contents (st->mapped),
              g_mapped_file_get_length (st->mapped), error))
    return NULL;
  return g_steal_pointer (&st);
}

const char *
drape_safetensors_get_path (DrapeSafetensors *st)
{
  return st->path;
}

guint
drape_safetensors_get_n_tensors (DrapeSafetensors *st)
{
  return st->tensors->len;
}

const DrapeStTensor *
drape_safetensors_get_nth (DrapeSafetensors *st,
                           guint             index)
{
  g_return_val_if_fail (index < st->tensors->len, NULL);
  return &g_array_index (st->tensors, DrapeStTensor, index);
}

const DrapeStTensor *
drape_safetensors_lookup (DrapeSafetensors *st,
                          const char       *name)
{
  guint index = GPOINTER_TO_UINT (g_hash_table_lookup (st->by_name, name));

  return index ? &g_array_index (st->tensors, DrapeStTensor, index - 1) : NULL;
}

const char *
drape_safetensors_get_metadata (DrapeSafetensors *st,
                                const char       *key)
{
  return g_hash_table_lookup (st->metadata, key);
}

void
drape_st_tensor_read_f32 (const DrapeStTensor *tensor,
                          guint64              start,
                          guint64              count,
                          float               *dst)
{
  const guint8 *src = tensor->data + start * drape_st_dtype_size (tensor->dtype);

  g_return_if_fail (drape_st_dtype_is_float (tensor->dtype));
  g_return_if_fail (start + count <= tensor->numel);

  switch (tensor->dtype)
    {
    case DRAPE_ST_F32:
      memcpy (dst, src, count * 4);
      break;
    case DRAPE_ST_F16:
      for (guint64 i = 0; i < count; i++)
        {
          guint16 h;
          memcpy (&h, src + 2 * i, 2);
          dst[i] = drape_half_to_float (GUINT16_FROM_LE (h));
        }
      break;
    case DRAPE_ST_BF16:
      for (guint64 i = 0; i < count; i++)
        {
          guint16 h;
          memcpy (&h, src + 2 * i, 2);
          dst[i] = drape_bf16_to_float (GUINT16_FROM_LE (h));
        }
      break;
    default:
      g_assert_not_reached ();
    }
}

float *
drape_safetensors_read_f32 (DrapeSafetensors *st,
                            const char       *name,
                            guint             n_dims,
                            const guint64    *shape,
                            GError          **error)
{
  const DrapeStTensor *t = drape_safetensors_lookup (st, name);
  float *values;

  if (t == NULL)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT, "%s: tensor '%s' is missing",
                   st->path, name);
      return NULL;
    }
  if (!drape_st_dtype_is_float (t->dtype))
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT,
                   "%s: tensor '%s' is %s; expected F32, F16 or BF16",
                   st->path, name, drape_st_dtype_name (t->dtype));
      return NULL;
    }
  if (shape != NULL && (t->n_dims != n_dims || memcmp (t->shape, shape, n_dims * sizeof (guint64)) != 0))
    {
      g_autofree char *want = drape_st_shape_to_string (n_dims, shape);
      g_autofree char *have = drape_st_shape_to_string (t->n_dims, t->shape);
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT,
                   "%s: tensor '%s' has shape %s; expected %s", st->path, name, have, want);
      return NULL;
    }
  values = g_try_new (float, MAX (t->numel, 1));
  if (values == NULL)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_OUT_OF_MEMORY,
                   "%s: no memory for tensor '%s'", st->path, name);
      return NULL;
    }
  drape_st_tensor_read_f32 (t, 0, t->numel, values);
  return values;
}

void
drape_st_tensor_read_f16 (const DrapeStTensor *tensor,
                          guint64              start,
                          guint64              count,
                          guint16             *dst)
{
  g_return_if_fail (tensor->dtype == DRAPE_ST_F16);
  g_return_if_fail (start + count <= tensor->numel);

  memcpy (dst, tensor->data + 2 * start, count * 2);
#if G_BYTE_ORDER == G_BIG_ENDIAN
  for (guint64 i = 0; i < count; i++)
    dst[i] = GUINT16_FROM_LE (dst[i]);
#endif
}

typedef struct {
  char *name;
  DrapeStDType dtype;
  guint n_dims;
  guint64 shape[DRAPE_SAFETENSORS_MAX_DIMS];
  guint8 *data;   /* little-endian, in dtype */
  guint64 bytes;
} WriterEntry;

struct _DrapeSafetensorsWriter
{
  GArray *entries;
};

static void
writer_entry_clear (gpointer data)
{
  WriterEntry *e = data;

  g_free (e->name);
  g_free (e->data);
}

DrapeSafetensorsWriter *
drape_safetensors_writer_new (void)
{
  DrapeSafetensorsWriter *writer = g_new0 (DrapeSafetensorsWriter, 1);

  writer->entries = g_array_new (FALSE, TRUE, sizeof (WriterEntry));
  g_array_set_clear_func (writer->entries, writer_entry_clear);
  return writer;
}

void
drape_safetensors_writer_free (DrapeSafetensorsWriter *writer)
{
  if (writer == NULL)
    return;
  g_array_unref (writer->entries);
  g_free (writer);
}

void
drape_safetensors_writer_add (DrapeSafetensorsWriter *writer,
                              const char             *name,
                              guint                   n_dims,
                              const guint64          *shape,
                              const float            *data)
{
  drape_safetensors_writer_add_as (writer, name, n_dims, shape, data, DRAPE_ST_F32);
}

void
drape_safetensors_writer_add_as (DrapeSafetensorsWriter *writer,
                                 const char             *name,
                                 guint                   n_dims,
                                 const guint64          *shape,
                                 const float            *data,
                                 DrapeStDType            dtype)
{
  WriterEntry e = { 0 };
  guint64 numel = 1;

  g_return_if_fail (n_dims <= DRAPE_SAFETENSORS_MAX_DIMS);
  g_return_if_fail (drape_st_dtype_is_float (dtype));
  e.name = g_strdup (name);
  e.dtype = dtype;
  e.n_dims = n_dims;
  for (guint i = 0; i < n_dims; i++)
    {
      e.shape[i] = shape[i];
      numel *= shape[i];
    }
  e.bytes = numel * drape_st_dtype_size (dtype);
  e.data = g_malloc (MAX (e.bytes, 1));
  for (guint64 i = 0; i < numel; i++)
    if (dtype == DRAPE_ST_F32)
      {
        guint32 bits;

        memcpy (&bits, &data[i], 4);
        bits = GUINT32_TO_LE (bits);
        memcpy (e.data + 4 * i, &bits, 4);
      }
    else
      {
        guint16 half = GUINT16_TO_LE (dtype == DRAPE_ST_F16 ? drape_float_to_half (data[i])
                                                            : drape_float_to_bf16 (data[i]));

        memcpy (e.data + 2 * i, &half, 2);
      }
  g_array_append_val (writer->entries, e);
}

gboolean
drape_safetensors_writer_save (DrapeSafetensorsWriter *writer,
                               const char             *path,
                               GError                **error)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *header = NULL;
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autoptr(GError) local_error = NULL;
  gsize header_len;
  guint64 offset = 0;
  guint8 len_bytes[8];

  json_builder_begin_object (builder);
  for (guint i = 0; i < writer->entries->len; i++)
    {
      WriterEntry *e = &g_array_index (writer->entries, WriterEntry, i);
      json_builder_set_member_name (builder, e->name);
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "dtype");
      json_builder_add_string_value (builder, drape_st_dtype_name (e->dtype));
      json_builder_set_member_name (builder, "shape");
      json_builder_begin_array (builder);
      for (guint d = 0; d < e->n_dims; d++)
        json_builder_add_int_value (builder, e->shape[d]);
      json_builder_end_array (builder);
      json_builder_set_member_name (builder, "data_offsets");
      json_builder_begin_array (builder);
      json_builder_add_int_value (builder, offset);
      json_builder_add_int_value (builder, offset + e->bytes);
      json_builder_end_array (builder);
      json_builder_end_object (builder);
      offset += e->bytes;
    }
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  header = json_generator_to_data (generator, &header_len);

  /* The data starts 8-aligned, as the reference writer pads it. */
  while ((8 + header_len) % 8 != 0)
    {
      header = g_realloc (header, header_len + 2);
      header[header_len++] = ' ';
      header[header_len] = '\0';
    }
  for (guint i = 0; i < 8; i++)
    len_bytes[i] = ((guint64) header_len >> (8 * i)) & 0xff;
  g_byte_array_append (out, len_bytes, 8);
  g_byte_array_append (out, (const guint8 *) header, header_len);
  for (guint i = 0; i < writer->entries->len; i++)
    {
      WriterEntry *e = &g_array_index (writer->entries, WriterEntry, i);
      g_byte_array_append (out, e->data, e->bytes);
    }
  if (!g_file_set_contents (path, (const char *) out->data, out->len, &local_error))
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_IO, "%s", local_error->message);
      return FALSE;
    }
  return TRUE;
}
