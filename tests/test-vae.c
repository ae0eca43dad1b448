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

#include "ops.h"
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
  g_test_add_func ("/vae/bad-folders", test_bad_folders);
  return test_finish (g_test_run ());
}
