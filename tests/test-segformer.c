/* test-segformer.c: SegFormer and the parser against transformers
 *
 * tests/golden/segformer holds a tiny SegformerForSemanticSegmentation
 * (the B2 structure, narrower and shallower) and what transformers
 * computed with it: logits for two inputs, case0's encoder stages, and
 * the whole clothes-parsing path for image.png (PIL resize, normalisation,
 * logits, labels at the photo's size).  Logits must agree within 1e-3 of
 * their standard deviation in f32 and 2e-2 in f16.  A label may differ
 * only where the reference's top-two margin is within twice that bound
 * (each of the two logits may move by the bound).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <math.h>
#include <string.h>
#include <glib/gstdio.h>

#include "ops.h"
#include "parser-private.h"
#include "safetensors.h"
#include "segformer.h"
#include "test-common.h"

typedef struct {
  DrapeSafetensors *cases;
  char *model_dir;
} Golden;

static Golden golden;

static double
tolerance (DrapeDType dtype)
{
  return dtype == DRAPE_DTYPE_F32 ? 1e-3 : 2e-2;
}

static float *
read_case (const char *name,
           guint64    *shape)
{
  g_autoptr(GError) error = NULL;
  const DrapeStTensor *t = drape_safetensors_lookup (golden.cases, name);
  float *values;

  g_assert_nonnull (t);
  values = drape_safetensors_read_f32 (golden.cases, name, t->n_dims, NULL, &error);
  g_assert_no_error (error);
  if (shape != NULL)
    memcpy (shape, t->shape, t->n_dims * sizeof (guint64));
  return values;
}

static double
std_dev (const float *x,
         gsize        n)
{
  double sum = 0, sq = 0;

  for (gsize i = 0; i < n; i++)
    sum += x[i];
  for (gsize i = 0; i < n; i++)
    sq += (x[i] - sum / n) * (x[i] - sum / n);
  return sqrt (sq / n);
}

/* Compares an NHWC tensor with an NCHW reference; returns the bound. */
static double
assert_close_nchw (const char        *what,
                   const DrapeTensor *tensor,
                   const float       *ref,
                   DrapeDType         dtype)
{
  guint64 n = drape_tensor_numel (tensor);
  g_autofree float *got = test_download (tensor);
  g_autofree float *nchw = g_new (float, n);
  double bound = tolerance (dtype) * std_dev (ref, n);
  double err = 0;

  drape_nhwc_to_nchw (got, nchw, tensor->n, tensor->c, tensor->h, tensor->w);
  for (guint64 i = 0; i < n; i++)
    err = MAX (err, fabs ((double) nchw[i] - ref[i]));
  g_test_message ("%s (%s): max abs error %.3g, bound %.3g", what, drape_dtype_name (dtype), err, bound);
  if (!(err <= bound))
    g_error ("%s (%s): max abs error %g exceeds %g (%g x the reference's std)",
             what, drape_dtype_name (dtype), err, bound, tolerance (dtype));
  return bound;
}

/* Labels [h, w] as floats against the reference where its margin is
 * clear of twice the logits' bound. */
static void
assert_labels (const char  *what,
               const float *got,
               const float *ref,
               const float *margin,
               gsize        n,
               double       bound)
{
  gsize checked = 0, wrong = 0;

  for (gsize i = 0; i < n; i++)
    {
      if (margin[i] <= 2 * bound)
        continue;
      checked++;
      if (got[i] != ref[i] && wrong++ < 5)
        g_printerr ("%s: pixel %" G_GSIZE_FORMAT " is %g, expected %g (margin %g)\n",
                    what, i, got[i], ref[i], margin[i]);
    }
  g_test_message ("%s: %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " labels checked", what, checked, n);
  g_assert_cmpuint (wrong, ==, 0);
  g_assert_cmpuint (checked, >, n / 2);
}

static DrapeSegformer *
load_model (DrapeDType dtype)
{
  g_autoptr(GError) error = NULL;
  DrapeSegformer *model = drape_segformer_new (test_device (), golden.model_dir, dtype, &error);

  g_assert_no_error (error);
  return model;
}

static void
check_case (DrapeSegformer *model,
            const char     *name,
            gboolean        stages)
{
  DrapeDType dtype = drape_segformer_get_dtype (model);
  const DrapeSegformerConfig *cfg = drape_segformer_get_config (model);
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "segformer test");
  g_autofree char *px_name = g_strconcat (name, ".pixel_values", NULL);
  g_autofree char *logits_name = g_strconcat (name, ".logits", NULL);
  g_autofree char *labels_name = g_strconcat (name, ".labels", NULL);
  g_autofree char *margin_name = g_strconcat (name, ".label_margin", NULL);
  guint64 shape[4];
  g_autofree float *px = read_case (px_name, shape);
  g_autofree float *px_nhwc = g_new (float, shape[0] * shape[1] * shape[2] * shape[3]);
  g_autofree float *ref_logits = read_case (logits_name, NULL);
  g_autofree float *ref_labels = read_case (labels_name, NULL);
  g_autofree float *margin = read_case (margin_name, NULL);
  g_autofree float *labels = NULL;
  g_autoptr(DrapeTensor) input = NULL;
  DrapeTensor *hidden[DRAPE_SEGFORMER_MAX_STAGES];
  DrapeTensor *logits, *argmax;
  double bound;

  drape_nchw_to_nhwc (px, px_nhwc, shape[0], shape[1], shape[2], shape[3]);
  input = test_tensor_from (dtype, shape[0], shape[2], shape[3], shape[1], px_nhwc);
  logits = drape_segformer_forward (model, graph, input, stages ? hidden : NULL);
  argmax = drape_op_resize_argmax (graph, logits, shape[2], shape[3]);
  g_assert_true (drape_graph_run (graph, &error));
  g_assert_no_error (error);

  if (stages)
    for (guint i = 0; i < cfg->n_stages; i++)
      {
        g_autofree char *hs_name = g_strdup_printf ("%s.encoder_hidden_states.%u", name, i);
        g_autofree char *what = g_strdup_printf ("%s encoder stage %u", name, i + 1);
        g_autofree float *ref = read_case (hs_name, NULL);
        assert_close_nchw (what, hidden[i], ref, dtype);
      }
  g_assert_cmpuint (logits->c, ==, cfg->n_labels);
  bound = assert_close_nchw (logits_name, logits, ref_logits, dtype);
  labels = test_download (argmax);
  assert_labels (labels_name, labels, ref_labels, margin, shape[2] * shape[3], bound);
  test_assert_no_validation_messages ();
}

static void
test_cases (gconstpointer data)
{
  DrapeDType dtype = GPOINTER_TO_INT (data);
  g_autoptr(DrapeSegformer) model = load_model (dtype);

  check_case (model, "case0", TRUE);
  check_case (model, "case1", FALSE);
}

static DrapeImage *
load_golden_image (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_build_filename (golden.model_dir, "image.png", NULL);
  DrapeImage *image = drape_image_load (path, 3, NULL, &error);

  g_assert_no_error (error);
  return image;
}

/* The processor's steps one by one: PIL's resize level for level, the
 * normalised pixels, the logits. */
static void
test_preprocess (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeParser) parser = drape_parser_new (test_device (), golden.model_dir, DRAPE_DTYPE_F32, &error);
  g_autoptr(DrapeImage) image = load_golden_image ();
  g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "preprocess test");
  g_autoptr(GPtrArray) filters = g_ptr_array_new_with_free_func ((GDestroyNotify) drape_resample_filter_free);
  g_autoptr(DrapeTensor) photo = NULL;
  guint64 shape[4];
  g_autofree float *ref_u8 = read_case ("proc.resized_u8", shape);
  g_autofree float *ref_px = read_case ("proc.pixel_values", NULL);
  g_autofree float *ref_logits = read_case ("proc.logits", NULL);
  g_autofree float *got_u8 = NULL, *u8_nchw = NULL;
  DrapeTensor *resized, *pixels, *logits;
  guint64 n = shape[1] * shape[2] * shape[3];
  guint mismatched = 0;

  g_assert_no_error (error);
  photo = drape_tensor_new (test_device (), DRAPE_DTYPE_F32, 1, image->height, image->width, 3, &error);
  g_assert_no_error (error);
  g_assert_true (drape_parser_upload_photo (image, photo, &error));
  pixels = drape_parser_record_input (parser, graph, photo, filters, &resized, &error);
  g_assert_no_error (error);
  logits = drape_segformer_forward (drape_parser_get_model (parser), graph, pixels, NULL);
  g_assert_true (drape_graph_run (graph, &error));
  g_assert_no_error (error);

  g_assert_cmpuint (resized->h, ==, shape[2]);
  g_assert_cmpuint (resized->w, ==, shape[3]);
  got_u8 = test_download (resized);
  u8_nchw = g_new (float, n);
  drape_nhwc_to_nchw (got_u8, u8_nchw, 1, 3, shape[2], shape[3]);
  for (guint64 i = 0; i < n; i++)
    if (u8_nchw[i] != ref_u8[i] && mismatched++ < 5)
      g_printerr ("resized level %" G_GUINT64_FORMAT " is %g; PIL has %g\n", i, u8_nchw[i], ref_u8[i]);
  g_assert_cmpuint (mismatched, ==, 0);

  /* transformers rescales in f64 and normalises in f32: within 1e-6. */
  {
    g_autofree float *px = test_download (pixels);
    g_autofree float *px_nchw = g_new (float, n);
    drape_nhwc_to_nchw (px, px_nchw, 1, 3, shape[2], shape[3]);
    g_assert_cmpfloat (test_max_abs_diff (px_nchw, ref_px, n), <=, 1e-6);
  }
  assert_close_nchw ("proc.logits", logits, ref_logits, DRAPE_DTYPE_F32);
  test_assert_no_validation_messages ();
}

/* The public path: photo in, labels of the photo's size out. */
static void
test_parse (gconstpointer data)
{
  DrapeDType dtype = GPOINTER_TO_INT (data);
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeParser) parser = drape_parser_new (test_device (), golden.model_dir, dtype, &error);
  g_autoptr(DrapeImage) image = load_golden_image ();
  g_autoptr(DrapeImage) labels = NULL;
  g_autoptr(DrapeImage) again = NULL;
  guint64 shape[4];
  g_autofree float *ref_logits = read_case ("proc.logits", shape);
  g_autofree float *ref_labels = read_case ("proc.labels", NULL);
  g_autofree float *margin = read_case ("proc.label_margin", NULL);
  g_autofree float *got = NULL;
  gsize n;

  g_assert_no_error (error);
  labels = drape_parser_parse (parser, image, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (labels->width, ==, image->width);
  g_assert_cmpuint (labels->height, ==, image->height);
  g_assert_cmpuint (labels->channels, ==, 1);
  n = (gsize) image->width * image->height;
  got = g_new (float, n);
  for (gsize i = 0; i < n; i++)
    got[i] = labels->pixels[(i / image->width) * labels->stride + i % image->width];
  assert_labels ("proc.labels", got, ref_labels, margin, n,
                 tolerance (dtype) * std_dev (ref_logits, shape[1] * shape[2] * shape[3]));

  /* The recorded graph is replayed for a photo of the same size. */
  again = drape_parser_parse (parser, image, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (again->pixels, n, labels->pixels, n);
  test_assert_no_validation_messages ();
}

/* Photos of any shape give label maps of their own size. */
static void
test_parse_shapes (void)
{
  static const guint32 sizes[][2] = { { 1, 1 }, { 300, 17 }, { 17, 300 }, { 64, 64 }, { 129, 65 } };
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeParser) parser = drape_parser_new (test_device (), golden.model_dir, DRAPE_DTYPE_F32, &error);
  g_autoptr(DrapeImage) rgb = drape_image_new (8, 8, 1);

  g_assert_no_error (error);
  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      g_autoptr(DrapeImage) photo = drape_image_new (sizes[i][0], sizes[i][1], 3);
      g_autoptr(DrapeImage) labels = NULL;

      for (gsize p = 0; p < (gsize) photo->stride * photo->height; p++)
        photo->pixels[p] = (guint8) (p * 37 + i);
      labels = drape_parser_parse (parser, photo, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (labels->width, ==, sizes[i][0]);
      g_assert_cmpuint (labels->height, ==, sizes[i][1]);
      for (gsize p = 0; p < (gsize) labels->stride * labels->height; p++)
        g_assert_cmpuint (labels->pixels[p], <, DRAPE_N_LABELS);
    }
  g_assert_null (drape_parser_parse (parser, rgb, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT);
  test_assert_no_validation_messages ();
}

static void
expect_load_error (const char *dir,
                   gint        code,
                   const char *needle)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeSegformer) model = drape_segformer_new (test_device (), dir, DRAPE_DTYPE_F32, &error);

  g_assert_null (model);
  g_assert_error (error, DRAPE_ERROR, code);
  if (strstr (error->message, needle) == NULL)
    g_error ("error '%s' does not mention '%s'", error->message, needle);
}

static void
copy_file (const char *from_dir,
           const char *name,
           const char *to_dir,
           gsize       truncate_to)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *from = g_build_filename (from_dir, name, NULL);
  g_autofree char *to = g_build_filename (to_dir, name, NULL);
  g_autofree char *data = NULL;
  gsize len;

  g_assert_true (g_file_get_contents (from, &data, &len, &error));
  g_assert_true (g_file_set_contents (to, data, MIN (len, truncate_to), &error));
  g_assert_no_error (error);
}

/* Without preprocessor_config.json (the model catalog fetches none) the
 * processor's defaults hold: 512 x 512; a resample other than bilinear is
 * refused. */
static void
test_preprocessor_config (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *tmp = g_dir_make_tmp ("drape-segformer-XXXXXX", &error);
  g_autofree char *pre = g_build_filename (tmp, "preprocessor_config.json", NULL);
  g_autoptr(DrapeParser) parser = NULL;
  g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "defaults");
  g_autoptr(GPtrArray) filters = g_ptr_array_new_with_free_func ((GDestroyNotify) drape_resample_filter_free);
  g_autoptr(DrapeTensor) photo = NULL;
  DrapeTensor *resized, *pixels;
  const char *const files[] = { "config.json", "model.safetensors", "preprocessor_config.json" };

  g_assert_no_error (error);
  copy_file (golden.model_dir, "config.json", tmp, G_MAXSIZE);
  copy_file (golden.model_dir, "model.safetensors", tmp, G_MAXSIZE);
  parser = drape_parser_new (test_device (), tmp, DRAPE_DTYPE_F32, &error);
  g_assert_no_error (error);
  photo = drape_tensor_new (test_device (), DRAPE_DTYPE_F32, 1, 70, 52, 3, &error);
  pixels = drape_parser_record_input (parser, graph, photo, filters, &resized, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (resized->w, ==, 512);
  g_assert_cmpuint (resized->h, ==, 512);
  g_assert_cmpuint (pixels->c, ==, 3);
  g_clear_pointer (&parser, drape_parser_free);

  g_assert_true (g_file_set_contents (pre, "{\"resample\": 3, \"size\": 512}", -1, &error));
  parser = drape_parser_new (test_device (), tmp, DRAPE_DTYPE_F32, &error);
  g_assert_null (parser);
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED);
  g_clear_error (&error);
  g_assert_true (g_file_set_contents (pre, "{\"image_mean\": \"grey\"}", -1, &error));
  parser = drape_parser_new (test_device (), tmp, DRAPE_DTYPE_F32, &error);
  g_assert_null (parser);
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "image_mean"));

  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autofree char *path = g_build_filename (tmp, files[i], NULL);
      g_unlink (path);
    }
  g_rmdir (tmp);
  test_assert_no_validation_messages ();
}

static void
test_bad_folders (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *unet = g_build_filename (test_golden_dir (), "unet", NULL);
  g_autofree char *tmp = g_dir_make_tmp ("drape-segformer-XXXXXX", &error);
  g_autofree char *weights = g_build_filename (tmp, "model.safetensors", NULL);
  g_autofree char *config = g_build_filename (tmp, "config.json", NULL);

  g_assert_no_error (error);
  expect_load_error (unet, DRAPE_ERROR_FORMAT, "not a SegFormer");
  expect_load_error ("/nonexistent/segformer", DRAPE_ERROR_IO, "does not exist");
  expect_load_error (tmp, DRAPE_ERROR_IO, "no config.json");

  copy_file (golden.model_dir, "config.json", tmp, G_MAXSIZE);
  expect_load_error (tmp, DRAPE_ERROR_IO, "model.safetensors");
  /* Cut in the middle of the tensor data. */
  copy_file (golden.model_dir, "model.safetensors", tmp, 500000);
  expect_load_error (tmp, DRAPE_ERROR_FORMAT, "model.safetensors");

  g_unlink (weights);
  g_unlink (config);
  g_rmdir (tmp);
  test_assert_no_validation_messages ();
}

/* Random weights in a model's configuration (what bench times, in
 * B2's): the configuration kept, every logit finite, the same logits
 * for the same seed and others for another. */
static void
test_random (void)
{
  g_autoptr(DrapeSegformer) golden_model = load_model (DRAPE_DTYPE_F32);
  const DrapeSegformerConfig *cfg = drape_segformer_get_config (golden_model);
  g_autofree float *logits[3] = { NULL };
  guint64 seeds[] = { 1, 1, 2 }, n = 0;
  gboolean differ = FALSE;

  for (guint k = 0; k < G_N_ELEMENTS (seeds); k++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(DrapeSegformer) model = drape_segformer_new_random (test_device (), cfg, DRAPE_DTYPE_F32,
                                                                    seeds[k], &error);
      g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "random segformer");
      g_autofree float *px = test_random_data (2 * 64 * 48 * 3, 11, 1.0f, DRAPE_DTYPE_F32);
      g_autoptr(DrapeTensor) input = test_tensor_from (DRAPE_DTYPE_F32, 2, 64, 48, 3, px);
      DrapeTensor *out;

      g_assert_no_error (error);
      g_assert_cmpmem (drape_segformer_get_config (model), sizeof *cfg, cfg, sizeof *cfg);
      out = drape_segformer_forward (model, graph, input, NULL);
      g_assert_true (drape_graph_run (graph, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (out->c, ==, cfg->n_labels);
      n = drape_tensor_numel (out);
      logits[k] = test_download (out);
    }
  for (guint64 i = 0; i < n; i++)
    {
      g_assert_true (isfinite (logits[0][i]));
      g_assert_cmpfloat (logits[0][i], ==, logits[1][i]);
      differ = differ || logits[0][i] != logits[2][i];
    }
  g_assert_true (differ);
  test_assert_no_validation_messages ();
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *cases = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);
  golden.model_dir = g_build_filename (test_golden_dir (), "segformer", NULL);
  cases = g_build_filename (golden.model_dir, "segformer_cases.safetensors", NULL);
  golden.cases = drape_safetensors_open (cases, &error);
  g_assert_no_error (error);

  g_test_add_data_func ("/segformer/cases/f32", GINT_TO_POINTER (DRAPE_DTYPE_F32), test_cases);
  g_test_add_data_func ("/segformer/cases/f16", GINT_TO_POINTER (DRAPE_DTYPE_F16), test_cases);
  g_test_add_func ("/segformer/preprocess", test_preprocess);
  g_test_add_data_func ("/segformer/parse/f32", GINT_TO_POINTER (DRAPE_DTYPE_F32), test_parse);
  g_test_add_data_func ("/segformer/parse/f16", GINT_TO_POINTER (DRAPE_DTYPE_F16), test_parse);
  g_test_add_func ("/segformer/parse-shapes", test_parse_shapes);
  g_test_add_func ("/segformer/preprocessor-config", test_preprocessor_config);
  g_test_add_func ("/segformer/bad-folders", test_bad_folders);
  g_test_add_func ("/segformer/random", test_random);
  status = g_test_run ();
  drape_safetensors_free (golden.cases);
  g_free (golden.model_dir);
  return test_finish (status);
}
