/* test-vae.c: the VAE against diffusers (tests/golden/vae)
 *
 * Encoder moments (posterior mean and log-variance) and decoder output
 * of every case; for case 0 the activations after every block.
 * f32: max |error| <= 1e-3 x the reference's std; f16: <= 2e-2 x std.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "test-common.h"

#include <string.h>

#include <glib/gstdio.h>

#include "ops.h"
#include "layers.h"
#include "safetensors.h"
#include "vae.h"

static const char *const encoder_blocks[] = {
  "encoder.conv_in", "encoder.down_blocks.0", "encoder.down_blocks.1",
  "encoder.down_blocks.2", "encoder.down_blocks.3", "encoder.mid_block",
  "encoder.conv_out", "moments", NULL,
};

static const char *const decoder_blocks[] = {
  "decoder.post_quant_conv", "decoder.conv_in", "decoder.mid_block",
  "decoder.up_blocks.0", "decoder.up_blocks.1", "decoder.up_blocks.2",
  "decoder.up_blocks.3", NULL,
};

static void
compare_blocks (DrapeSafetensors  *cases,
                DrapeCapture      *capture,
                const char *const *blocks,
                double             tolerance)
{
  for (guint b = 0; blocks[b] != NULL; b++)
    {
      g_autofree char *name = g_strdup_printf ("case0.%s", blocks[b]);
      guint32 n, h, w, c;
      g_autofree float *ref = test_golden_nhwc (cases, name, &n, &h, &w, &c);
      g_autofree float *got = test_download (drape_capture_get (capture, blocks[b]));
      test_assert_close_std (name, got, ref, (gsize) n * h * w * c, tolerance);
    }
}

static void
run_case (DrapeVae         *vae,
          DrapeSafetensors *cases,
          guint             index,
          double            tolerance)
{
  DrapeDevice *device = test_device ();
  g_autofree char *image_name = g_strdup_printf ("case%u.image", index);
  g_autofree char *latent_name = g_strdup_printf ("case%u.decoder_input_latent", index);
  g_autoptr(DrapeTensor) image = test_golden_tensor (cases, image_name, DRAPE_DTYPE_F32);
  g_autoptr(DrapeTensor) latent = test_golden_tensor (cases, latent_name, DRAPE_DTYPE_F32);
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "vae");
  g_autoptr(DrapeCapture) enc_capture = drape_capture_new (index == 0 ? encoder_blocks : NULL);
  g_autoptr(DrapeCapture) dec_capture = drape_capture_new (index == 0 ? decoder_blocks : NULL);
  g_autoptr(GError) error = NULL;
  const char *outputs[] = { "posterior_mean", "posterior_logvar", "decoded" };
  DrapeTensor *moments, *decoded;
  g_autofree float *m = NULL;
  g_autofree float *d = NULL;
  guint32 lc;

  moments = drape_vae_encode (vae, graph, image, enc_capture);
  decoded = drape_vae_decode (vae, graph, latent, dec_capture);
  drape_graph_compile (graph, &error);
  g_assert_no_error (error);
  drape_graph_run (graph, &error);
  g_assert_no_error (error);

  if (index == 0)
    {
      compare_blocks (cases, enc_capture, encoder_blocks, tolerance);
      compare_blocks (cases, dec_capture, decoder_blocks, tolerance);
    }

  m = test_download (moments);
  d = test_download (decoded);
  lc = moments->c / 2;
  for (guint o = 0; o < G_N_ELEMENTS (outputs); o++)
    {
      g_autofree char *name = g_strdup_printf ("case%u.%s", index, outputs[o]);
      guint32 n, h, w, c;
      g_autofree float *ref = test_golden_nhwc (cases, name, &n, &h, &w, &c);
      gsize count = (gsize) n * h * w * c;
      g_autofree float *got = g_new (float, count);

      if (o == 2)
        memcpy (got, d, count * sizeof (float));
      else
        /* moments are [mean | logvar] along channels; diffusers clamps
         * the log-variance to [-30, 20]. */
        for (gsize i = 0; i < count; i++)
          {
            float v = m[(i / lc) * 2 * lc + (o == 1 ? lc : 0) + i % lc];
            got[i] = o == 1 ? CLAMP (v, -30.0f, 20.0f) : v;
          }
      test_assert_close_std (name, got, ref, count, tolerance);
    }
}

static void
test_golden (gconstpointer data)
{
  DrapeDType dtype = GPOINTER_TO_UINT (data);
  g_autofree char *dir = g_build_filename (test_golden_dir (), "vae", NULL);
  g_autoptr(DrapeSafetensors) cases = test_golden_open ("vae/vae_cases.safetensors");
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeVae) vae = drape_vae_new (test_device (), dir, dtype, &error);

  g_assert_no_error (error);
  for (guint i = 0; i < 2; i++)
    run_case (vae, cases, i, dtype == DRAPE_DTYPE_F16 ? 2e-2 : 1e-3);
  test_assert_no_validation_messages ();
}

/* The golden models' activations are small enough for one band, so
 * here the resnets' conv1 writes over its input a row at a time (the
 * rows ahead meeting the rows still to read at every offset) and in
 * bands of 3 rows (the last band shorter); in f16 too, for the kernels
 * only f16 has (tensor cores). */
static void
test_golden_bands (void)
{
  const char *const rows[] = { "1", "3" };

  for (guint i = 0; i < G_N_ELEMENTS (rows); i++)
    {
      g_setenv ("DRAPE_CONV_BAND_ROWS", rows[i], TRUE);
      test_golden (GUINT_TO_POINTER (DRAPE_DTYPE_F32));
      test_golden (GUINT_TO_POINTER (DRAPE_DTYPE_F16));
    }
  g_unsetenv ("DRAPE_CONV_BAND_ROWS");
}

/* Two latents at once (the decoder's last upsampler then goes whole, not
 * in bands of one image): each image as diffusers decodes it alone. */
static void
test_golden_batch (void)
{
  g_autofree char *dir = g_build_filename (test_golden_dir (), "vae", NULL);
  g_autoptr(DrapeSafetensors) cases = test_golden_open ("vae/vae_cases.safetensors");
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeVae) vae = drape_vae_new (test_device (), dir, DRAPE_DTYPE_F32, &error);
  g_autoptr(DrapeTensor) latent = test_golden_tensor (cases, "case0.decoder_input_latent",
                                                      DRAPE_DTYPE_F32);
  g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "vae");
  g_autofree float *ref = NULL;
  g_autofree float *got = NULL;
  DrapeTensor *pair, *decoded;
  guint32 n, h, w, c;

  g_assert_no_error (error);
  pair = drape_op_concat (graph, DRAPE_AXIS_N, latent, latent);
  decoded = drape_vae_decode (vae, graph, pair, NULL);
  drape_graph_compile (graph, &error);
  g_assert_no_error (error);
  drape_graph_run (graph, &error);
  g_assert_no_error (error);
  ref = test_golden_nhwc (cases, "case0.decoded", &n, &h, &w, &c);
  got = test_download (decoded);
  g_assert_cmpuint (decoded->n, ==, 2);
  for (guint i = 0; i < 2; i++)
    test_assert_close_std ("case0.decoded, batch of 2", got + (gsize) i * h * w * c, ref,
                           (gsize) h * w * c, 1e-3);
  test_assert_no_validation_messages ();
}

/* Random weights of the given PyTorch shape under `name`, norm scales
 * near 1. */
static void
add_random (DrapeSafetensorsWriter *writer,
            const char             *name,
            guint                   n_dims,
            const guint64          *shape,
            guint32                 seed)
{
  guint64 n = 1;
  g_autofree float *values = NULL;

  for (guint d = 0; d < n_dims; d++)
    n *= shape[d];
  values = test_random_data (n, seed, 0.3f, DRAPE_DTYPE_F32);
  if (strstr (name, "norm") != NULL && g_str_has_suffix (name, "weight"))
    for (guint64 i = 0; i < n; i++)
      values[i] += 1.0f;
  drape_safetensors_writer_add (writer, name, n_dims, shape, values);
}

/* drape_layer_upsample_resnet (in bands) against drape_layer_upsample_conv
 * and drape_layer_resnet (whole), from a weights file: with a shortcut
 * (c to c / 2, the SD VAE's last one, which it folds into the upsampler)
 * and without (the upsampled rows themselves the residual). */
static void
test_upsample_resnet (void)
{
  static const guint32 widths[][2] = { { 16, 8 }, { 16, 16 } };

  for (guint i = 0; i < G_N_ELEMENTS (widths); i++)
    {
      guint32 c = widths[i][0], cout = widths[i][1];
      guint64 up[] = { c, c, 3, 3 }, conv1[] = { cout, c, 3, 3 }, conv2[] = { cout, cout, 3, 3 };
      guint64 shortcut[] = { cout, c, 1, 1 }, vc[] = { c }, vcout[] = { cout };
      g_autoptr(DrapeSafetensorsWriter) writer = drape_safetensors_writer_new ();
      g_autofree char *dir = g_dir_make_tmp ("drape-vae-XXXXXX", NULL);
      g_autofree char *path = g_build_filename (dir, "weights.safetensors", NULL);
      g_autofree float *xs = test_random_data (6 * 5 * c, 40 + i, 1.0f, DRAPE_DTYPE_F32);
      g_autoptr(DrapeTensor) x = test_tensor_from (DRAPE_DTYPE_F32, 1, 6, 5, c, xs);
      g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "upsample-resnet");
      g_autoptr(GError) error = NULL;
      g_autofree float *got = NULL;
      g_autofree float *want = NULL;
      DrapeWeights *weights = drape_weights_new (test_device (), DRAPE_DTYPE_F32);
      DrapeLayers l = { .weights = weights, .graph = graph, .norm_groups = 4 };
      DrapeTensor *upsampled, *whole, *banded;

      add_random (writer, "up.weight", 4, up, 1);
      add_random (writer, "up.bias", 1, vc, 2);
      add_random (writer, "res.norm1.weight", 1, vc, 3);
      add_random (writer, "res.norm1.bias", 1, vc, 4);
      add_random (writer, "res.conv1.weight", 4, conv1, 5);
      add_random (writer, "res.conv1.bias", 1, vcout, 6);
      add_random (writer, "res.norm2.weight", 1, vcout, 7);
      add_random (writer, "res.norm2.bias", 1, vcout, 8);
      add_random (writer, "res.conv2.weight", 4, conv2, 9);
      add_random (writer, "res.conv2.bias", 1, vcout, 10);
      if (c != cout)
        {
          add_random (writer, "res.conv_shortcut.weight", 4, shortcut, 11);
          add_random (writer, "res.conv_shortcut.bias", 1, vcout, 12);
        }
      g_assert_true (drape_safetensors_writer_save (writer, path, &error));
      g_assert_true (drape_weights_add_file (weights, path, &error));

      upsampled = drape_layer_upsample_conv (&l, x, "up", c, 12, 10);
      whole = drape_layer_resnet (&l, upsampled, "res", c, cout, 1e-6f, NULL, 0);
      banded = drape_layer_upsample_resnet (&l, x, "up", "up", "res", c, cout, 1e-6f, 2);
      g_assert_true (drape_weights_check (weights, &error));
      drape_graph_run (graph, &error);
      g_assert_no_error (error);
      want = test_download (whole);
      got = test_download (banded);
      test_assert_close_std ("upsample and resnet in bands", got, want,
                             drape_tensor_numel (whole), 1e-4);
      drape_graph_free (g_steal_pointer (&graph));
      drape_weights_free (weights);
      g_unlink (path);
      g_rmdir (dir);
    }
  test_assert_no_validation_messages ();
}

static void
test_bad_folders (void)
{
  g_autofree char *unet = g_build_filename (test_golden_dir (), "unet", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeVae) vae = drape_vae_new (test_device (), unet, DRAPE_DTYPE_F32, &error);

  g_assert_null (vae);
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "not an AutoencoderKL"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func ("/vae/golden/f32", GUINT_TO_POINTER (DRAPE_DTYPE_F32), test_golden);
  g_test_add_data_func ("/vae/golden/f16", GUINT_TO_POINTER (DRAPE_DTYPE_F16), test_golden);
  g_test_add_func ("/vae/golden/bands", test_golden_bands);
  g_test_add_func ("/vae/golden/batch", test_golden_batch);
  g_test_add_func ("/vae/upsample-resnet", test_upsample_resnet);
  g_test_add_func ("/vae/bad-folders", test_bad_folders);
  return test_finish (g_test_run ());
}
