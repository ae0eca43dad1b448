/* test-unet.c: the UNet against diffusers (tests/golden/unet)
 *
 * Every case's noise prediction, and for case 0 the activations after
 * every block, so a mismatch names its block.  f32: max |error| <= 1e-3 x
 * the reference's std; f16: <= 2e-2 x std.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "test-common.h"

#include <string.h>
#include <glib/gstdio.h>

#include "unet.h"

static const char *const blocks[] = {
  "time_proj", "time_embedding", "conv_in",
  "down_blocks.0.resnets.0", "down_blocks.0.attentions.0",
  "down_blocks.0", "down_blocks.1", "down_blocks.2", "down_blocks.3",
  "mid_block", "up_blocks.0", "up_blocks.1", "up_blocks.2", "up_blocks.3",
  "conv_norm_out", NULL,
};

/* Records case `index` on graph and runs it: the noise prediction. */
static DrapeTensor *
predict (DrapeUNet        *unet,
         DrapeGraph       *graph,
         DrapeSafetensors *cases,
         guint             index,
         DrapeCapture     *capture)
{
  g_autofree char *sample_name = g_strdup_printf ("case%u.sample", index);
  g_autofree char *t_name = g_strdup_printf ("case%u.timestep", index);
  g_autoptr(DrapeTensor) sample = test_golden_tensor (cases, sample_name, DRAPE_DTYPE_F32);
  g_autoptr(DrapeTensor) timestep = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree float *t_value = NULL;
  g_autofree float *ts = g_new (float, sample->n);
  DrapeTensor *out;

  t_value = drape_safetensors_read_f32 (cases, t_name, 0, NULL, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < sample->n; i++)
    ts[i] = t_value[0];
  timestep = test_tensor_from (DRAPE_DTYPE_F32, sample->n, 1, 1, 1, ts);

  out = drape_unet_forward (unet, graph, sample, timestep, capture);
  drape_graph_compile (graph, &error);
  g_assert_no_error (error);
  drape_graph_run (graph, &error);
  g_assert_no_error (error);
  return out;
}

static void
run_case (DrapeUNet        *unet,
          DrapeSafetensors *cases,
          guint             index,
          double            tolerance)
{
  g_autofree char *out_name = g_strdup_printf ("case%u.noise_pred", index);
  g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "unet");
  g_autoptr(DrapeCapture) capture = drape_capture_new (index == 0 ? blocks : NULL);
  g_autofree float *ref = NULL;
  g_autofree float *got = NULL;
  guint32 n, h, w, c;
  DrapeTensor *out = predict (unet, graph, cases, index, capture);

  for (guint b = 0; index == 0 && blocks[b] != NULL; b++)
    {
      g_autofree char *name = g_strdup_printf ("case0.%s", blocks[b]);
      g_autofree float *block_ref = test_golden_nhwc (cases, name, &n, &h, &w, &c);
      g_autofree float *block_got = test_download (drape_capture_get (capture, blocks[b]));
      test_assert_close_std (name, block_got, block_ref, (gsize) n * h * w * c, tolerance);
    }

  ref = test_golden_nhwc (cases, out_name, &n, &h, &w, &c);
  g_assert_cmpuint (out->n * out->h * out->w * out->c, ==, n * h * w * c);
  got = test_download (out);
  test_assert_close_std (out_name, got, ref, (gsize) n * h * w * c, tolerance);
}

static void
test_golden (gconstpointer data)
{
  DrapeDType dtype = GPOINTER_TO_UINT (data);
  g_autofree char *dir = g_build_filename (test_golden_dir (), "unet", NULL);
  g_autoptr(DrapeSafetensors) cases = test_golden_open ("unet/unet_cases.safetensors");
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeUNet) unet = drape_unet_new (test_device (), dir, NULL, dtype, &error);

  g_assert_no_error (error);
  for (guint i = 0; i < 3; i++)
    run_case (unet, cases, i, dtype == DRAPE_DTYPE_F16 ? 2e-2 : 1e-3);
  test_assert_no_validation_messages ();
}

/* CatVTON's attention checkpoint names the attn1 layers by their index in
 * a ModuleList of unet.named_modules() entries containing "attn1": 8
 * entries per module (attn1, to_q, to_k, to_v, to_out, to_out.0,
 * to_out.1, processor), down blocks first, then up blocks, then mid. */
static const char *const attn1_modules[] = {
  "down_blocks.0.attentions.0", "down_blocks.0.attentions.1",
  "down_blocks.1.attentions.0", "down_blocks.1.attentions.1",
  "down_blocks.2.attentions.0", "down_blocks.2.attentions.1",
  "up_blocks.1.attentions.0", "up_blocks.1.attentions.1", "up_blocks.1.attentions.2",
  "up_blocks.2.attentions.0", "up_blocks.2.attentions.1", "up_blocks.2.attentions.2",
  "up_blocks.3.attentions.0", "up_blocks.3.attentions.1", "up_blocks.3.attentions.2",
  "mid_block.attentions.0",
};

typedef enum {
  CHECKPOINT_SAME,       /* the UNet's own attn1 weights */
  CHECKPOINT_CHANGED,    /* one bias moved */
  CHECKPOINT_INCOMPLETE, /* one tensor left out */
  CHECKPOINT_OTHER,      /* shapes of another model */
} Checkpoint;

/* Writes a checkpoint in CatVTON's layout from the UNet's own weights,
 * half the modules named "<entry>.weight", half "<module>.<sub>.weight". */
static char *
write_checkpoint (const char *dir,
                  Checkpoint  kind)
{
  static const struct { const char *sub; guint entry; } parts[] = {
    { "to_q", 1 }, { "to_k", 2 }, { "to_v", 3 }, { "to_out.0", 5 },
  };
  g_autofree char *unet_path = g_build_filename (test_golden_dir (), "unet",
                                                 "diffusion_pytorch_model.safetensors", NULL);
  g_autoptr(DrapeSafetensors) unet = drape_safetensors_open (unet_path, NULL);
  g_autoptr(DrapeSafetensorsWriter) writer = drape_safetensors_writer_new ();
  g_autoptr(GError) error = NULL;
  char *path = g_build_filename (dir, "attention.safetensors", NULL);

  for (guint m = 0; m < G_N_ELEMENTS (attn1_modules); m++)
    for (guint p = 0; p < G_N_ELEMENTS (parts); p++)
      for (guint bias = 0; bias < (p == 3 ? 2u : 1u); bias++)
        {
          const char *leaf = bias ? "bias" : "weight";
          g_autofree char *src = g_strdup_printf ("%s.transformer_blocks.0.attn1.%s.%s",
                                                  attn1_modules[m], parts[p].sub, leaf);
          g_autofree char *dst = m % 2 ? g_strdup_printf ("%u.%s", m * 8 + parts[p].entry, leaf)
                                       : g_strdup_printf ("%u.%s.%s", m * 8, parts[p].sub, leaf);
          const DrapeStTensor *t = drape_safetensors_lookup (unet, src);
          g_autofree float *values = g_new (float, t->numel);
          guint64 shape[2] = { t->shape[0], t->n_dims > 1 ? t->shape[1] : 0 };

          if (kind == CHECKPOINT_INCOMPLETE && m == 5 && p == 2)
            continue;
          drape_st_tensor_read_f32 (t, 0, t->numel, values);
          if (kind == CHECKPOINT_CHANGED && m == 0 && bias)
            for (guint64 i = 0; i < t->numel; i++)
              values[i] += 1.0f;
          if (kind == CHECKPOINT_OTHER && m == 15 && p == 0)
            shape[0] = shape[1] = 8; /* the first 64 values, as an 8x8 layer */
          drape_safetensors_writer_add (writer, dst, t->n_dims, shape, values);
        }
  drape_safetensors_writer_save (writer, path, &error);
  g_assert_no_error (error);
  return path;
}

static void
test_attention_checkpoint (void)
{
  g_autofree char *dir = g_dir_make_tmp ("drape-attn-XXXXXX", NULL);
  g_autofree char *model = g_build_filename (test_golden_dir (), "unet", NULL);
  g_autoptr(DrapeSafetensors) cases = test_golden_open ("unet/unet_cases.safetensors");
  g_autoptr(GError) error = NULL;

  /* The UNet's own weights, supplied through the checkpoint: the golden
   * output is unchanged. */
  {
    g_autofree char *path = write_checkpoint (dir, CHECKPOINT_SAME);
    g_autoptr(DrapeUNet) unet = drape_unet_new (test_device (), model, path, DRAPE_DTYPE_F32, &error);
    g_assert_no_error (error);
    run_case (unet, cases, 2, 1e-3);
    g_unlink (path);
  }
  /* A changed weight in the checkpoint changes the output: it is used. */
  {
    g_autofree char *path = write_checkpoint (dir, CHECKPOINT_CHANGED);
    g_autoptr(DrapeUNet) unet = drape_unet_new (test_device (), model, path, DRAPE_DTYPE_F32, &error);
    g_autoptr(DrapeTensor) sample = test_golden_tensor (cases, "case2.sample", DRAPE_DTYPE_F32);
    g_autoptr(DrapeTensor) t = NULL;
    g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "changed");
    g_autofree float *ref = NULL;
    g_autofree float *got = NULL;
    float one = 1;
    guint32 n, h, w, c;
    DrapeTensor *out;

    g_assert_no_error (error);
    t = test_tensor_from (DRAPE_DTYPE_F32, 1, 1, 1, 1, &one);
    out = drape_unet_forward (unet, graph, sample, t, NULL);
    drape_graph_run (graph, &error);
    g_assert_no_error (error);
    got = test_download (out);
    ref = test_golden_nhwc (cases, "case2.noise_pred", &n, &h, &w, &c);
    g_assert_cmpfloat (test_max_abs_diff (got, ref, (gsize) n * h * w * c), >, 1e-2 * test_std (ref, (gsize) n * h * w * c));
    g_unlink (path);
  }
  /* Refused: a tensor missing, or shaped for another model. */
  {
    g_autofree char *path = write_checkpoint (dir, CHECKPOINT_INCOMPLETE);
    g_autoptr(DrapeUNet) unet = drape_unet_new (test_device (), model, path, DRAPE_DTYPE_F32, &error);
    g_assert_null (unet);
    g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT);
    g_assert_nonnull (strstr (error->message, "not a CatVTON attention checkpoint"));
    g_assert_nonnull (strstr (error->message, "down_blocks.2.attentions.1"));
    g_clear_error (&error);
    g_unlink (path);
  }
  {
    g_autofree char *path = write_checkpoint (dir, CHECKPOINT_OTHER);
    g_autoptr(DrapeUNet) unet = drape_unet_new (test_device (), model, path, DRAPE_DTYPE_F32, &error);
    g_assert_null (unet);
    g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT);
    g_assert_nonnull (strstr (error->message, "for another model"));
    g_clear_error (&error);
    g_unlink (path);
  }
  g_rmdir (dir);
  test_assert_no_validation_messages ();
}

/* A weights file cut short is refused by the safetensors reader. */
static void
test_truncated_weights (void)
{
  g_autofree char *dir = g_dir_make_tmp ("drape-unet-XXXXXX", NULL);
  g_autofree char *src_dir = g_build_filename (test_golden_dir (), "unet", NULL);
  g_autofree char *config_src = g_build_filename (src_dir, "config.json", NULL);
  g_autofree char *weights_src = g_build_filename (src_dir, "diffusion_pytorch_model.safetensors", NULL);
  g_autofree char *config = g_build_filename (dir, "config.json", NULL);
  g_autofree char *weights = g_build_filename (dir, "diffusion_pytorch_model.safetensors", NULL);
  g_autofree char *contents = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeUNet) unet = NULL;
  gsize length;

  g_assert_true (g_file_get_contents (config_src, &contents, &length, NULL));
  g_assert_true (g_file_set_contents (config, contents, length, NULL));
  g_clear_pointer (&contents, g_free);
  g_assert_true (g_file_get_contents (weights_src, &contents, &length, NULL));
  g_assert_true (g_file_set_contents (weights, contents, length / 2, NULL));
  unet = drape_unet_new (test_device (), dir, NULL, DRAPE_DTYPE_F32, &error);
  g_assert_null (unet);
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "past the end"));
  g_unlink (config);
  g_unlink (weights);
  g_rmdir (dir);
}

/* The golden UNet's weights rounded to f16, written as an F16 file (as
 * the catalog downloads the real one) and as an F32 file.  At f32 the
 * first keeps its kernels in f16, in less memory, and predicts the same
 * noise, to the bit; at f16 both hold the same halves (the F16 file's
 * copied as they are), and predict the same noise too. */
static void
test_f16_file (void)
{
  g_autofree char *src_dir = g_build_filename (test_golden_dir (), "unet", NULL);
  g_autofree char *config_src = g_build_filename (src_dir, "config.json", NULL);
  g_autofree char *weights_src = g_build_filename (src_dir, "diffusion_pytorch_model.safetensors", NULL);
  g_autoptr(DrapeSafetensors) golden = drape_safetensors_open (weights_src, NULL);
  g_autoptr(DrapeSafetensors) cases = test_golden_open ("unet/unet_cases.safetensors");
  g_autofree char *contents = NULL;
  char *dirs[2], *files[2], *configs[2];
  gsize length;

  g_assert_nonnull (golden);
  g_assert_true (g_file_get_contents (config_src, &contents, &length, NULL));
  for (guint f = 0; f < 2; f++)
    {
      g_autoptr(DrapeSafetensorsWriter) writer = drape_safetensors_writer_new ();
      g_autoptr(GError) error = NULL;

      dirs[f] = g_dir_make_tmp ("drape-unet-XXXXXX", NULL);
      configs[f] = g_build_filename (dirs[f], "config.json", NULL);
      files[f] = g_build_filename (dirs[f], f ? "diffusion_pytorch_model.fp16.safetensors"
                                              : "diffusion_pytorch_model.safetensors", NULL);
      for (guint i = 0; i < drape_safetensors_get_n_tensors (golden); i++)
        {
          const DrapeStTensor *t = drape_safetensors_get_nth (golden, i);
          g_autofree float *values = g_new (float, MAX (t->numel, 1));

          drape_st_tensor_read_f32 (t, 0, t->numel, values);
          test_quantize (values, t->numel, DRAPE_DTYPE_F16);
          drape_safetensors_writer_add_as (writer, t->name, t->n_dims, t->shape, values,
                                           f ? DRAPE_ST_F16 : DRAPE_ST_F32);
        }
      g_assert_true (drape_safetensors_writer_save (writer, files[f], &error));
      g_assert_true (g_file_set_contents (configs[f], contents, length, NULL));
    }
  for (DrapeDType dtype = DRAPE_DTYPE_F32; dtype <= DRAPE_DTYPE_F16; dtype++)
    {
      g_autofree float *noise[2] = { NULL, NULL };
      guint64 bytes[2];
      gsize n = 0;

      for (guint f = 0; f < 2; f++)
        {
          g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "unet-f16-file");
          g_autoptr(GError) error = NULL;
          g_autoptr(DrapeUNet) unet = drape_unet_new (test_device (), dirs[f], NULL, dtype, &error);
          DrapeTensor *out;

          g_assert_no_error (error);
          bytes[f] = drape_unet_get_weight_bytes (unet);
          out = predict (unet, graph, cases, 0, NULL);
          n = drape_tensor_numel (out);
          noise[f] = test_download (out);
        }
      if (dtype == DRAPE_DTYPE_F32)
        g_assert_cmpuint (bytes[1], <, bytes[0]);
      else
        g_assert_cmpuint (bytes[1], ==, bytes[0]);
      g_assert_cmpfloat (test_max_abs (noise[0], n), >, 0.0);
      g_assert_cmpfloat (test_max_abs_diff (noise[0], noise[1], n), ==, 0.0);
    }
  for (guint f = 0; f < 2; f++)
    {
      g_unlink (configs[f]);
      g_unlink (files[f]);
      g_rmdir (dirs[f]);
      g_free (configs[f]);
      g_free (files[f]);
      g_free (dirs[f]);
    }
  test_assert_no_validation_messages ();
}

static void
test_bad_folders (void)
{
  g_autofree char *vae = g_build_filename (test_golden_dir (), "vae", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeUNet) unet = NULL;

  unet = drape_unet_new (test_device (), vae, NULL, DRAPE_DTYPE_F32, &error);
  g_assert_null (unet);
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "not a UNet2DConditionModel"));
  g_clear_error (&error);

  unet = drape_unet_new (test_device (), "/nonexistent", NULL, DRAPE_DTYPE_F32, &error);
  g_assert_null (unet);
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_IO);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func ("/unet/golden/f32", GUINT_TO_POINTER (DRAPE_DTYPE_F32), test_golden);
  g_test_add_data_func ("/unet/golden/f16", GUINT_TO_POINTER (DRAPE_DTYPE_F16), test_golden);
  g_test_add_func ("/unet/bad-folders", test_bad_folders);
  g_test_add_func ("/unet/attention-checkpoint", test_attention_checkpoint);
  g_test_add_func ("/unet/truncated-weights", test_truncated_weights);
  g_test_add_func ("/unet/f16-file", test_f16_file);
  return test_finish (g_test_run ());
}
