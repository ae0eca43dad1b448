/* test-safetensors.c: the reader on good files and on every kind of bad one
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <string.h>
#include <glib.h>
#include <glib/gstdio.h>

#include "error.h"
#include "safetensors.h"

static GBytes *
make_file (const char *header,
           gsize       data_len)
{
  gsize len = strlen (header);
  guint8 *buf = g_malloc0 (8 + len + data_len);

  for (guint i = 0; i < 8; i++)
    buf[i] = ((guint64) len >> (8 * i)) & 0xff;
  memcpy (buf + 8, header, len);
  for (gsize i = 0; i < data_len; i++)
    buf[8 + len + i] = (guint8) i;
  return g_bytes_new_take (buf, 8 + len + data_len);
}

static void
expect_format_error (GBytes     *bytes,
                     const char *needle)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeSafetensors) st = drape_safetensors_new_from_bytes (bytes, "bad.safetensors", &error);

  g_assert_null (st);
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT);
  if (strstr (error->message, needle) == NULL)
    g_error ("error '%s' does not mention '%s'", error->message, needle);
  g_assert_true (g_str_has_prefix (error->message, "bad.safetensors: "));
}

static void
test_good (void)
{
  g_autoptr(GBytes) bytes = make_file ("{\"__metadata__\":{\"format\":\"pt\"},"
                                       "\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[8,12]},"
                                       "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                       "\"c\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[12,14]},"
                                       "\"n\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[16,24]}}", 24);
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeSafetensors) st = drape_safetensors_new_from_bytes (bytes, "good", &error);
  const DrapeStTensor *a, *c;
  float v[2];

  g_assert_no_error (error);
  g_assert_cmpuint (drape_safetensors_get_n_tensors (st), ==, 4);
  g_assert_cmpstr (drape_safetensors_get_nth (st, 0)->name, ==, "a");
  g_assert_cmpstr (drape_safetensors_get_metadata (st, "format"), ==, "pt");
  a = drape_safetensors_lookup (st, "a");
  g_assert_nonnull (a);
  g_assert_cmpuint (a->numel, ==, 2);
  c = drape_safetensors_lookup (st, "c");
  g_assert_cmpuint (c->n_dims, ==, 0);
  g_assert_cmpuint (c->numel, ==, 1);
  drape_st_tensor_read_f32 (drape_safetensors_lookup (st, "b"), 0, 2, v);
  /* bytes 8..11 are 08 09 0a 0b: halves 0x0908 and 0x0b0a */
  g_assert_cmpfloat (v[0], >, 0.0f);
  g_assert_null (drape_safetensors_lookup (st, "missing"));
}

static void
test_read_f32_errors (void)
{
  g_autoptr(GBytes) bytes = make_file ("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                       "\"i\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12);
  g_autoptr(DrapeSafetensors) st = drape_safetensors_new_from_bytes (bytes, "f", NULL);
  g_autoptr(GError) error = NULL;
  guint64 want[] = { 3 };
  float *v;

  v = drape_safetensors_read_f32 (st, "a", 1, want, &error);
  g_assert_null (v);
  g_assert_nonnull (strstr (error->message, "has shape [2]; expected [3]"));
  g_clear_error (&error);
  v = drape_safetensors_read_f32 (st, "i", 0, NULL, &error);
  g_assert_null (v);
  g_assert_nonnull (strstr (error->message, "I32"));
  g_clear_error (&error);
  v = drape_safetensors_read_f32 (st, "nope", 0, NULL, &error);
  g_assert_null (v);
  g_assert_nonnull (strstr (error->message, "'nope' is missing"));
}

static void
test_bad (void)
{
  const struct {
    const char *header;
    gsize data;
    const char *needle;
  } cases[] = {
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, "not valid JSON" },
    { "[1,2]", 0, "not a JSON object" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "past the end" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlap" },
    { "{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "spans 8 bytes" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "non-negative" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "malformed" },
    { "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,8]}}", 8, "too large" },
    { "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "no dtype" },
    { "{\"a\":5}", 0, "not a JSON object" },
    { "{\"__metadata__\":{\"k\":1}}", 0, "not a string" },
    { "{\"a\xff\":{}}", 0, "UTF-8" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GBytes) bytes = make_file (cases[i].header, cases[i].data);
      expect_format_error (bytes, cases[i].needle);
    }
}

static void
test_bad_framing (void)
{
  guint8 header_past_end[16] = { 200, 0, 0, 0, 0, 0, 0, 0, '{', '}' };
  guint8 huge_header[16] = { 0, 0, 0, 0x10, 0, 0, 0, 0 }; /* 256 MiB */
  guint8 truncated[5] = { 2, 0, 0, 0, 0 };
  g_autoptr(GBytes) empty = g_bytes_new_static ("", 0);
  g_autoptr(GBytes) past = g_bytes_new_static (header_past_end, sizeof header_past_end);
  g_autoptr(GBytes) huge = g_bytes_new_static (huge_header, sizeof huge_header);
  g_autoptr(GBytes) trunc = g_bytes_new_static (truncated, sizeof truncated);

  expect_format_error (empty, "too short");
  expect_format_error (trunc, "too short");
  expect_format_error (past, "past the end");
  expect_format_error (huge, "100 MB");
}

/* A real 100 MB+ header in a file: refused before it is parsed. */
static void
test_100mb_header (void)
{
  g_autofree char *dir = g_dir_make_tmp ("drape-st-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "big.safetensors", NULL);
  gsize len = DRAPE_SAFETENSORS_MAX_HEADER + 16;
  g_autofree char *buf = g_malloc (len);
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeSafetensors) st = NULL;
  guint64 header = len - 8;

  for (guint i = 0; i < 8; i++)
    buf[i] = (header >> (8 * i)) & 0xff;
  memset (buf + 8, ' ', len - 8);
  buf[8] = '{';
  buf[len - 1] = '}';
  g_assert_true (g_file_set_contents (path, buf, len, NULL));
  st = drape_safetensors_open (path, &error);
  g_assert_null (st);
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "100 MB"));
  g_unlink (path);
  g_rmdir (dir);
}

static void
test_missing_file (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeSafetensors) st = drape_safetensors_open ("/nonexistent/x.safetensors", &error);

  g_assert_null (st);
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_IO);
}

static void
test_roundtrip (void)
{
  g_autofree char *dir = g_dir_make_tmp ("drape-st-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "out.safetensors", NULL);
  g_autoptr(DrapeSafetensorsWriter) writer = drape_safetensors_writer_new ();
  g_autoptr(DrapeSafetensors) st = NULL;
  g_autoptr(GError) error = NULL;
  guint64 shape[] = { 2, 3 };
  float data[6] = { 1, 2, 3, 4, 5, 6.5f };
  /* Ties to even: 1 + 2^-11 and 1 + 3 2^-11 in f16 (down, then up),
   * 1 + 2^-8 and 1 + 3 2^-8 in bf16, where the first two round down. */
  float ties[4] = { 1.0f + 0x1p-11f, 1.0f + 0x3p-11f, 1.0f + 0x1p-8f, 1.0f + 0x3p-8f };
  float f16_ties[4] = { 1.0f, 1.0f + 0x1p-9f, 1.0f + 0x1p-8f, 1.0f + 0x3p-8f };
  float bf16_ties[4] = { 1.0f, 1.0f, 1.0f, 1.0f + 0x1p-6f };
  guint64 n_ties = 4;
  g_autofree float *back = NULL, *back16 = NULL, *back_bf = NULL;

  drape_safetensors_writer_add (writer, "case0.x \"quoted\"", 2, shape, data);
  drape_safetensors_writer_add_as (writer, "f16", 1, &n_ties, ties, DRAPE_ST_F16);
  drape_safetensors_writer_add_as (writer, "bf16", 1, &n_ties, ties, DRAPE_ST_BF16);
  drape_safetensors_writer_save (writer, path, &error);
  g_assert_no_error (error);
  st = drape_safetensors_open (path, &error);
  g_assert_no_error (error);
  back = drape_safetensors_read_f32 (st, "case0.x \"quoted\"", 2, shape, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (back, sizeof data, data, sizeof data);
  g_assert_cmpint (drape_safetensors_lookup (st, "f16")->dtype, ==, DRAPE_ST_F16);
  g_assert_cmpint (drape_safetensors_lookup (st, "bf16")->dtype, ==, DRAPE_ST_BF16);
  back16 = drape_safetensors_read_f32 (st, "f16", 1, &n_ties, &error);
  back_bf = drape_safetensors_read_f32 (st, "bf16", 1, &n_ties, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (back16, sizeof f16_ties, f16_ties, sizeof f16_ties);
  g_assert_cmpmem (back_bf, sizeof bf16_ties, bf16_ties, sizeof bf16_ties);
  g_unlink (path);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/safetensors/good", test_good);
  g_test_add_func ("/safetensors/read-f32-errors", test_read_f32_errors);
  g_test_add_func ("/safetensors/bad", test_bad);
  g_test_add_func ("/safetensors/bad-framing", test_bad_framing);
  g_test_add_func ("/safetensors/100mb-header", test_100mb_header);
  g_test_add_func ("/safetensors/missing-file", test_missing_file);
  g_test_add_func ("/safetensors/roundtrip", test_roundtrip);
  return g_test_run ();
}
