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

#include "unet.h"

static const char *const blocks[] = {
  "time_proj", "time_embedding", "conv_in",
  "down_blocks.0.resnets.0", "down_blocks.0.attentions.0",
  "down_blocks.0", "down_blocks.1", "down_blocks.2", "down_blocks.3",
  "mid_block", "up_blocks.0", "up_blocks.1", "up_blocks.2", "up_blocks.3",
  "conv_norm_out", NULL,
};

static void
run_case (DrapeUNet        *unet,
          DrapeSafetensors *cases,
          guint             index,
          double            tolerance)
{
  DrapeDevice *device = test_device ();
  g_autofree char *sample_name = g_strdup_printf ("case%u.sample", index);
  g_autofree char *t_name = g_strdup_printf ("case%u.timestep", index);
  g_autofree char *out_name = g_strdup_printf ("case%u.noise_pred", index);
  g_autoptr(DrapeTensor) sample = test_golden_tensor (cases, sample_name, DRAPE_DTYPE_F32);
  g_autoptr(DrapeTensor) timestep = NULL;
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "unet");
  g_autoptr(DrapeCapture) capture = drape_capture_new (index == 0 ? blocks : NULL);
  g_autoptr(GError) error = NULL;
  g_autofree float *t_value = NULL;
  g_autofree float *ts = g_new (float, sample->n);
  g_autofree float *ref = NULL;
  g_autofree float *got = NULL;
  guint32 n, h, w, c;
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
  return test_finish (g_test_run ());
}
