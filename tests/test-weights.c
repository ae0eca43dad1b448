/* test-weights.c: the dtype each weight is kept in, from files and random
 *
 * At f32, kernels (convolutions, linear layers, stacked projections) of
 * F16 files stay f16, with their values exact; vectors, other files'
 * dtypes, mixed stacks and weights computed on the host (an upsampled
 * convolution's phases) are f32; at f16 everything is f16.  Random
 * weights follow the file dtypes they are told they stand in for, and
 * unfilled ones hold what random ones would, and read to the host what
 * they upload.  And
 * f16 kernels beside f32 activations compute what f32 kernels of the
 * same values do.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "test-common.h"

#include <math.h>

#include <glib/gstdio.h>

#include "weights.h"

/* A tensor of the test's file: name, dtype, PyTorch shape. */
typedef struct {
  const char *name;
  DrapeStDType dtype;
  guint n_dims;
  guint64 shape[4];
} FileTensor;

static const FileTensor file_tensors[] = {
  { "conv16.weight", DRAPE_ST_F16, 4, { 4, 8, 3, 3 } },
  { "conv32.weight", DRAPE_ST_F32, 4, { 4, 8, 3, 3 } },
  { "convbf.weight", DRAPE_ST_BF16, 4, { 4, 8, 3, 3 } },
  { "square16.weight", DRAPE_ST_F16, 4, { 8, 8, 3, 3 } },
  { "lin16.weight", DRAPE_ST_F16, 2, { 6, 8 } },
  { "lin32.weight", DRAPE_ST_F32, 2, { 6, 8 } },
  { "bias16", DRAPE_ST_F16, 1, { 4 } },
  { "q16.weight", DRAPE_ST_F16, 2, { 4, 8 } },
  { "k16.weight", DRAPE_ST_F16, 2, { 4, 8 } },
  { "v32.weight", DRAPE_ST_F32, 2, { 4, 8 } },
};

/* Element i of every tensor: a multiple of 1/64 under 1, which each of
 * the file's dtypes holds exactly. */
static float
value_at (guint64 i)
{
  return (float) ((gint64) (i * 37 % 101) - 50) / 64.0f;
}

/* Writes file_tensors, each element value_at (i), into dir. */
static char *
write_file (const char *dir)
{
  char *path = g_build_filename (dir, "weights.safetensors", NULL);
  g_autoptr(DrapeSafetensorsWriter) writer = drape_safetensors_writer_new ();
  g_autoptr(GError) error = NULL;
  g_autofree float *values = g_new (float, 8 * 8 * 3 * 3);

  for (guint64 i = 0; i < 8 * 8 * 3 * 3; i++)
    values[i] = value_at (i);
  for (guint t = 0; t < G_N_ELEMENTS (file_tensors); t++)
    drape_safetensors_writer_add_as (writer, file_tensors[t].name, file_tensors[t].n_dims,
                                     file_tensors[t].shape, values, file_tensors[t].dtype);
  drape_safetensors_writer_save (writer, path, &error);
  g_assert_no_error (error);
  return path;
}

static void
assert_dtype (const DrapeTensor *t,
              DrapeDType         dtype,
              const char        *what)
{
  g_assert_nonnull (t);
  if (t->dtype != dtype)
    g_error ("%s is %s, expected %s", what, drape_dtype_name (t->dtype), drape_dtype_name (dtype));
}

static void
test_kept_dtype (void)
{
  g_autofree char *dir = g_dir_make_tmp ("drape-weights-XXXXXX", NULL);
  g_autofree char *path = write_file (dir);

  for (guint d = 0; d <= DRAPE_DTYPE_F16; d++)
    {
      g_autoptr(DrapeWeights) w = drape_weights_new (test_device (), d);
      g_autoptr(GError) error = NULL;
      gboolean f32 = d == DRAPE_DTYPE_F32;
      const char *qk[] = { "q16.weight", "k16.weight" }, *qv[] = { "q16.weight", "v32.weight" };
      const DrapeTensor *conv16, *conv32, *convbf, *phases, *lin16, *lin32, *bias16, *qk16, *qv_mixed;
      g_autofree float *got = NULL;
      guint64 bytes;

      g_assert_true (drape_weights_add_file (w, path, &error));
      conv16 = drape_weights_conv (w, "conv16.weight", 4, 8, 3, 3);
      conv32 = drape_weights_conv (w, "conv32.weight", 4, 8, 3, 3);
      convbf = drape_weights_conv (w, "convbf.weight", 4, 8, 3, 3);
      phases = drape_weights_conv_upsample2x (w, "square16.weight", 8, 8);
      lin16 = drape_weights_linear (w, "lin16.weight", 6, 8);
      lin32 = drape_weights_linear (w, "lin32.weight", 6, 8);
      bias16 = drape_weights_vector (w, "bias16", 4);
      qk16 = drape_weights_linear_concat (w, "qk", qk, 2, 4, 8);
      qv_mixed = drape_weights_linear_concat (w, "qv", qv, 2, 4, 8);
      g_assert_true (drape_weights_check (w, &error));

      assert_dtype (conv16, f32 ? DRAPE_DTYPE_F16 : d, "an F16 file's convolution");
      assert_dtype (conv32, d, "an F32 file's convolution");
      assert_dtype (convbf, d, "a BF16 file's convolution");
      assert_dtype (phases, d, "the phases of an F16 file's convolution");
      assert_dtype (lin16, f32 ? DRAPE_DTYPE_F16 : d, "an F16 file's linear layer");
      assert_dtype (lin32, d, "an F32 file's linear layer");
      assert_dtype (bias16, d, "an F16 file's vector");
      assert_dtype (qk16, f32 ? DRAPE_DTYPE_F16 : d, "F16 projections stacked");
      assert_dtype (qv_mixed, d, "F16 and F32 projections stacked");

      /* What the weights hold is what they count. */
      bytes = drape_tensor_bytes (conv16) + drape_tensor_bytes (conv32) + drape_tensor_bytes (convbf) +
              drape_tensor_bytes (phases) + drape_tensor_bytes (lin16) + drape_tensor_bytes (lin32) +
              drape_tensor_bytes (bias16) + drape_tensor_bytes (qk16) + drape_tensor_bytes (qv_mixed);
      g_assert_cmpuint (drape_weights_get_bytes (w), ==, bytes);

      /* Every value exact, in the engine's layout [cout, kh, kw, cin]. */
      got = test_download (conv16);
      for (guint co = 0; co < 4; co++)
        for (guint ky = 0; ky < 3; ky++)
          for (guint kx = 0; kx < 3; kx++)
            for (guint ci = 0; ci < 8; ci++)
              g_assert_cmpfloat (got[((co * 3 + ky) * 3 + kx) * 8 + ci], ==,
                                 value_at (((co * 8 + ci) * 3 + ky) * 3 + kx));
      g_clear_pointer (&got, g_free);
      got = test_download (qk16);
      for (guint i = 0; i < 32; i++)
        {
          g_assert_cmpfloat (got[i], ==, value_at (i));
          g_assert_cmpfloat (got[32 + i], ==, value_at (i));
        }
      /* A linear layer's and a vector's order is the file's. */
      g_clear_pointer (&got, g_free);
      got = test_download (lin16);
      for (guint i = 0; i < 48; i++)
        g_assert_cmpfloat (got[i], ==, value_at (i));
      g_clear_pointer (&got, g_free);
      got = test_download (bias16);
      for (guint i = 0; i < 4; i++)
        g_assert_cmpfloat (got[i], ==, value_at (i));
    }
  g_remove (path);
  g_rmdir (dir);
}

/* Random weights as the UNet's: an F16 file, but for CatVTON's attention
 * in F32; and the same without values, which hold what they would. */
static void
test_random_file_dtype (void)
{
  for (guint d = 0; d <= DRAPE_DTYPE_F16; d++)
    {
      g_autoptr(DrapeWeights) told = drape_weights_new_random (test_device (), d, 1);
      g_autoptr(DrapeWeights) unfilled = drape_weights_new_unfilled (test_device (), d);
      g_autoptr(DrapeWeights) untold = drape_weights_new_random (test_device (), d, 1);
      DrapeWeights *as_unet[] = { told, unfilled };
      const char *qkv[] = { "b.attn1.to_q.weight", "b.attn1.to_k.weight", "b.attn1.to_v.weight" };
      DrapeDType kept16 = d == DRAPE_DTYPE_F32 ? DRAPE_DTYPE_F16 : d;
      g_autofree float *a = NULL, *b = NULL;

      for (guint k = 0; k < G_N_ELEMENTS (as_unet); k++)
        {
          DrapeWeights *w = as_unet[k];

          drape_weights_set_random_file_dtype (w, "", DRAPE_ST_F16);
          drape_weights_set_random_file_dtype (w, ".attn1.", DRAPE_ST_F32);
          assert_dtype (drape_weights_conv (w, "b.conv.weight", 8, 4, 3, 3), kept16, "an F16 kernel");
          assert_dtype (drape_weights_linear (w, "b.attn2.to_q.weight", 8, 4), kept16, "an F16 layer");
          assert_dtype (drape_weights_vector (w, "b.conv.bias", 8), d, "an F16 vector");
          assert_dtype (drape_weights_linear (w, "b.attn1.to_out.0.weight", 8, 8), d, "an F32 layer");
          assert_dtype (drape_weights_linear_concat (w, "b.attn1.to_qkv.weight", qkv, 3, 8, 8), d,
                        "F32 projections stacked");
          assert_dtype (drape_weights_conv_upsample2x (w, "b.up.weight", 8, 8), d,
                        "the phases of an F16 kernel");
          g_assert_true (drape_weights_check (w, NULL));
        }
      g_assert_cmpuint (drape_weights_get_bytes (unfilled), ==, drape_weights_get_bytes (told));
      assert_dtype (drape_weights_conv (untold, "b.conv.weight", 8, 4, 3, 3), d, "a kernel");
      g_assert_true (drape_weights_check (untold, NULL));

      /* The same draws, whatever dtype keeps them. */
      a = test_download (drape_weights_conv (told, "b.conv.weight", 8, 4, 3, 3));
      b = test_download (drape_weights_conv (untold, "b.conv.weight", 8, 4, 3, 3));
      test_quantize (b, 8 * 9 * 4, DRAPE_DTYPE_F16);
      for (guint i = 0; i < 8 * 9 * 4; i++)
        g_assert_cmpfloat (a[i], ==, b[i]);
    }
}

/* Random weights read to the host (for folding, as SegFormer's head) are
 * the values a lookup of the same shape uploads: a kernel, whose host
 * order is PyTorch's [cout, cin, kh, kw] and the device's [cout, kh, kw,
 * cin], a linear layer and vectors (a norm's scale near 1, a bias near
 * 0); and the same for the same seed only. */
static void
test_random_read (void)
{
  g_autoptr(DrapeWeights) w = drape_weights_new_random (test_device (), DRAPE_DTYPE_F32, 7);
  g_autoptr(DrapeWeights) other = drape_weights_new_random (test_device (), DRAPE_DTYPE_F32, 8);
  guint64 conv_shape[] = { 4, 8, 3, 3 }, lin_shape[] = { 6, 8 }, vec_shape[] = { 8 };
  g_autofree float *conv = drape_weights_read (w, "c.weight", 4, conv_shape);
  g_autofree float *lin = drape_weights_read (w, "l.weight", 2, lin_shape);
  g_autofree float *scale = drape_weights_read (w, "n.weight", 1, vec_shape);
  g_autofree float *bias = drape_weights_read (w, "n.bias", 1, vec_shape);
  g_autofree float *lin_other = drape_weights_read (other, "l.weight", 2, lin_shape);
  g_autofree float *conv_dev = test_download (drape_weights_conv (w, "c.weight", 4, 8, 3, 3));
  g_autofree float *lin_dev = test_download (drape_weights_linear (w, "l.weight", 6, 8));
  g_autofree float *scale_dev = test_download (drape_weights_vector (w, "n.weight", 8));
  g_autofree float *bias_dev = test_download (drape_weights_vector (w, "n.bias", 8));
  gboolean differ = FALSE;

  g_assert_true (drape_weights_check (w, NULL));
  for (guint co = 0; co < 4; co++)
    for (guint ci = 0; ci < 8; ci++)
      for (guint t = 0; t < 9; t++)
        g_assert_cmpfloat (conv[(co * 8 + ci) * 9 + t], ==, conv_dev[(co * 9 + t) * 8 + ci]);
  for (guint i = 0; i < 6 * 8; i++)
    {
      g_assert_cmpfloat (lin[i], ==, lin_dev[i]);
      g_assert_cmpfloat (fabsf (lin[i]), <=, sqrtf (3.0f / 8));
      differ = differ || lin[i] != lin_other[i];
    }
  g_assert_true (differ);
  for (guint i = 0; i < 8; i++)
    {
      g_assert_cmpfloat (scale[i], ==, scale_dev[i]);
      g_assert_cmpfloat (bias[i], ==, bias_dev[i]);
      g_assert_cmpfloat (fabsf (scale[i] - 1.0f), <=, 0.1f);
      g_assert_cmpfloat (fabsf (bias[i]), <=, 0.05f);
    }
}

/* A convolution and a linear layer on f32 activations give the same
 * outputs, to the bit, from the F16 file's kernels (kept f16) as from
 * the F32 file's (kept f32) of the same values. */
static void
test_f16_kernels_compute (void)
{
  g_autofree char *dir = g_dir_make_tmp ("drape-weights-XXXXXX", NULL);
  g_autofree char *path = write_file (dir);
  g_autoptr(DrapeWeights) w = drape_weights_new (test_device (), DRAPE_DTYPE_F32);
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "f16-kernels");
  g_autofree float *xv = test_random_data (2 * 5 * 7 * 8, 3, 1.0f, DRAPE_DTYPE_F32);
  g_autoptr(DrapeTensor) x = test_tensor_from (DRAPE_DTYPE_F32, 2, 5, 7, 8, xv);
  DrapeConvParams pad = { .pad_top = 1, .pad_left = 1, .pad_bottom = 1, .pad_right = 1 };
  DrapeTensor *out[4];
  const DrapeTensor *conv16, *conv32, *lin16, *lin32;

  g_assert_true (drape_weights_add_file (w, path, &error));
  conv16 = drape_weights_conv (w, "conv16.weight", 4, 8, 3, 3);
  conv32 = drape_weights_conv (w, "conv32.weight", 4, 8, 3, 3);
  lin16 = drape_weights_linear (w, "lin16.weight", 6, 8);
  lin32 = drape_weights_linear (w, "lin32.weight", 6, 8);
  g_assert_true (drape_weights_check (w, &error));
  g_assert_cmpint (conv16->dtype, ==, DRAPE_DTYPE_F16);
  g_assert_cmpint (conv32->dtype, ==, DRAPE_DTYPE_F32);

  out[0] = drape_op_conv2d (graph, x, conv16, &pad);
  out[1] = drape_op_conv2d (graph, x, conv32, &pad);
  out[2] = drape_op_linear (graph, x, lin16, NULL);
  out[3] = drape_op_linear (graph, x, lin32, NULL);
  g_assert_true (drape_graph_compile (graph, &error));
  g_assert_true (drape_graph_run (graph, &error));
  for (guint i = 0; i < 4; i += 2)
    {
      g_autofree float *from16 = test_download (out[i]);
      g_autofree float *from32 = test_download (out[i + 1]);
      gsize n = drape_tensor_numel (out[i]);

      g_assert_cmpint (out[i]->dtype, ==, DRAPE_DTYPE_F32);
      g_assert_cmpfloat (test_max_abs (from32, n), >, 0.0);
      g_assert_cmpfloat (test_max_abs_diff (from16, from32, n), ==, 0.0);
    }
  test_assert_no_validation_messages ();
  g_remove (path);
  g_rmdir (dir);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/weights/kept-dtype", test_kept_dtype);
  g_test_add_func ("/weights/random-file-dtype", test_random_file_dtype);
  g_test_add_func ("/weights/f16-kernels-compute", test_f16_kernels_compute);
  g_test_add_func ("/weights/random-read", test_random_read);
  return test_finish (g_test_run ());
}
