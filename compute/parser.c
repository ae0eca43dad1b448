/* parser.c: a photo in, a label map of the photo's size out
 *
 * What transformers' SegformerImageProcessor and the usual clothes-parsing
 * post-processing compute, on the GPU:
 *
 *   photo (8-bit RGB, any size) -> stretched to the model's input size
 *   (512 x 512) with PIL's BILINEAR on 8-bit levels -> x rescale_factor
 *   (1/255), minus the ImageNet mean, over its std -> SegFormer -> logits
 *   at a quarter of the input size -> bilinear (align_corners false) to
 *   the photo's size -> argmax.
 *
 * The resize is Pillow's, level for level (op-resample.c): its filter is
 * widened by the scale when downscaling (an antialiasing triangle, not
 * the two-tap bilinear of drape_op_resize_bilinear), and it rounds to 8
 * bits between its horizontal and vertical passes.  The rescale and
 * normalisation are one per-channel affine map in f32 (transformers
 * rescales in f64, then normalises in f32: they differ by about 1e-7).
 * The upsampled logits are never stored: drape_op_resize_argmax keeps only
 * each pixel's label.
 *
 * One graph is recorded per photo size and replayed for photos of that
 * size.  A DrapeParser is used by one thread at a time.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include <json-glib/json-glib.h>

#include "error.h"
#include "half.h"
#include "memory.h"
#include "ops.h"
#include "parser-private.h"

/* SegformerImageProcessor's defaults, which segformer_b2_clothes uses; the
 * model catalog downloads no preprocessor_config.json. */
#define DEFAULT_SIZE 512
static const double imagenet_mean[3] = { 0.485, 0.456, 0.406 };
static const double imagenet_std[3] = { 0.229, 0.224, 0.225 };
/* PIL's Image.BILINEAR. */
#define PIL_BILINEAR 2

struct _DrapeParser
{
  DrapeDevice *device;
  DrapeSegformer *model;
  DrapeDType dtype;
  guint32 in_w, in_h;
  DrapeTensor *norm_w, *norm_b;

  /* The graph for the last photo size. */
  guint32 photo_w, photo_h;
  DrapeGraph *graph;
  DrapeTensor *photo;
  GPtrArray *filters;
  DrapeTensor *labels;
};

static gboolean
is_number (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node) &&
         (json_node_get_value_type (node) == G_TYPE_INT64 ||
          json_node_get_value_type (node) == G_TYPE_DOUBLE);
}

/* A number for all three channels, or one per channel. */
static gboolean
read_numbers (JsonObject  *root,
              const char  *path,
              const char  *key,
              const double fallback[3],
              double       values[3],
              GError     **error)
{
  JsonNode *node = json_object_get_member (root, key);
  JsonArray *array = node != NULL && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;

  memcpy (values, fallback, 3 * sizeof (double));
  if (node == NULL)
    return TRUE;
  if (is_number (node))
    {
      values[0] = values[1] = values[2] = json_node_get_double (node);
      return TRUE;
    }
  if (array != NULL && json_array_get_length (array) == 3 &&
      is_number (json_array_get_element (array, 0)) &&
      is_number (json_array_get_element (array, 1)) &&
      is_number (json_array_get_element (array, 2)))
    {
      for (guint i = 0; i < 3; i++)
        values[i] = json_node_get_double (json_array_get_element (array, i));
      return TRUE;
    }
  g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT,
               "%s: '%s' must be a number or an array of 3 numbers", path, key);
  return FALSE;
}

static gboolean
read_size (JsonObject  *root,
           const char  *path,
           guint32     *width,
           guint32     *height,
           GError     **error)
{
  JsonNode *node = json_object_get_member (root, "size");
  gint64 w = DEFAULT_SIZE, h = DEFAULT_SIZE;

  if (node != NULL && JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64)
    w = h = json_node_get_int (node);
  else if (node != NULL && JSON_NODE_HOLDS_OBJECT (node))
    {
      JsonObject *size = json_node_get_object (node);
      w = json_object_get_int_member_with_default (size, "width", 0);
      h = json_object_get_int_member_with_default (size, "height", 0);
    }
  else if (node != NULL)
    w = 0;
  if (w < 1 || h < 1 || w > 8192 || h > 8192)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT,
                   "%s: 'size' must be a positive integer or {\"height\": h, \"width\": w}", path);
      return FALSE;
    }
  *width = w;
  *height = h;
  return TRUE;
}

/* model_dir's preprocessor_config.json, or SegformerImageProcessor's
 * defaults (where it has none, or model_dir is NULL). */
static gboolean
load_preprocessor (DrapeParser  *parser,
                   const char   *model_dir,
                   GError      **error)
{
  g_autofree char *path = model_dir ? g_build_filename (model_dir, "preprocessor_config.json", NULL) : NULL;
  g_autoptr(JsonParser) json = NULL;
  g_autoptr(GError) local = NULL;
  JsonObject *root;
  double mean[3], std[3], zero[3] = { 0, 0, 0 }, one[3] = { 1, 1, 1 };
  double rescale = 1.0 / 255.0;
  float scale[3], shift[3];

  memcpy (mean, imagenet_mean, sizeof mean);
  memcpy (std, imagenet_std, sizeof std);
  parser->in_w = parser->in_h = DEFAULT_SIZE;
  if (path != NULL && g_file_test (path, G_FILE_TEST_EXISTS))
    {
      json = json_parser_new ();
      if (!json_parser_load_from_file (json, path, &local))
        {
          g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT, "%s: %s", path, local->message);
          return FALSE;
        }
      if (!JSON_NODE_HOLDS_OBJECT (json_parser_get_root (json)))
        {
          g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT, "%s: not a JSON object", path);
          return FALSE;
        }
      root = json_node_get_object (json_parser_get_root (json));
      if (!json_object_get_boolean_member_with_default (root, "do_resize", TRUE) ||
          json_object_get_int_member_with_default (root, "resample", PIL_BILINEAR) != PIL_BILINEAR)
        {
          g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED,
                       "%s: only a bilinear resize (do_resize, resample 2) is supported", path);
          return FALSE;
        }
      if (!read_size (root, path, &parser->in_w, &parser->in_h, error))
        return FALSE;
      if (!json_object_get_boolean_member_with_default (root, "do_rescale", TRUE))
        rescale = 1.0;
      else
        rescale = json_object_get_double_member_with_default (root, "rescale_factor", rescale);
      if (!json_object_get_boolean_member_with_default (root, "do_normalize", TRUE))
        {
          memcpy (mean, zero, sizeof mean);
          memcpy (std, one, sizeof std);
        }
      else if (!read_numbers (root, path, "image_mean", imagenet_mean, mean, error) ||
               !read_numbers (root, path, "image_std", imagenet_std, std, error))
        return FALSE;
    }

  for (guint c = 0; c < 3; c++)
    {
      if (std[c] == 0)
        {
          g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT, "%s: image_std is 0", path);
          return FALSE;
        }
      scale[c] = (float) (rescale / std[c]);
      shift[c] = (float) (-mean[c] / std[c]);
    }
  /* A depthwise 1x1 convolution: per channel scale and shift. */
  parser->norm_w = drape_tensor_new (parser->device, parser->dtype, 3, 1, 1, 1, error);
  parser->norm_b = parser->norm_w ? drape_tensor_new (parser->device, parser->dtype, 1, 1, 1, 3, error) : NULL;
  return parser->norm_b != NULL &&
         drape_tensor_upload (parser->norm_w, scale, 3, error) &&
         drape_tensor_upload (parser->norm_b, shift, 3, error);
}

static void
clear_graph (DrapeParser *parser)
{
  g_clear_pointer (&parser->graph, drape_graph_free);
  g_clear_pointer (&parser->photo, drape_tensor_free);
  g_clear_pointer (&parser->filters, g_ptr_array_unref);
  parser->labels = NULL;
  parser->photo_w = parser->photo_h = 0;
}

/* A parser of `model` (taken; NULL where making it failed, as error
 * says) with model_dir's preprocessing (NULL: the defaults). */
static DrapeParser *
parser_new (DrapeDevice     *device,
            DrapeDType       dtype,
            DrapeSegformer  *model,
            const char      *model_dir,
            GError         **error)
{
  g_autoptr(DrapeParser) parser = NULL;
  const DrapeSegformerConfig *cfg;

  if (model == NULL)
    return NULL;
  parser = g_new0 (DrapeParser, 1);
  parser->device = device;
  parser->dtype = dtype;
  parser->model = model;
  cfg = drape_segformer_get_config (model);
  if (cfg->n_labels != DRAPE_N_LABELS || cfg->in_channels != 3)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED,
                   "%s: the parser needs segformer_b2_clothes' %u labels of RGB photos; this "
                   "model has %u labels of %u channels", model_dir ? model_dir : "random weights",
                   DRAPE_N_LABELS, cfg->n_labels, cfg->in_channels);
      return NULL;
    }
  if (!load_preprocessor (parser, model_dir, error))
    return NULL;
  return g_steal_pointer (&parser);
}

DrapeParser *
drape_parser_new (DrapeDevice  *device,
                  const char   *model_dir,
                  DrapeDType    dtype,
                  GError      **error)
{
  return parser_new (device, dtype, drape_segformer_new (device, model_dir, dtype, error), model_dir, error);
}

DrapeParser *
drape_parser_new_random (DrapeDevice  *device,
                         DrapeDType    dtype,
                         guint64       seed,
                         GError      **error)
{
  DrapeSegformerConfig config;

  drape_segformer_config_b2_clothes (&config);
  return parser_new (device, dtype, drape_segformer_new_random (device, &config, dtype, seed, error), NULL,
                     error);
}

void
drape_parser_free (DrapeParser *parser)
{
  if (parser == NULL)
    return;
  clear_graph (parser);
  drape_tensor_free (parser->norm_w);
  drape_tensor_free (parser->norm_b);
  drape_segformer_free (parser->model);
  g_free (parser);
}

guint64
drape_parser_get_weight_bytes (DrapeParser *parser)
{
  return drape_segformer_get_weight_bytes (parser->model);
}

DrapeSegformer *
drape_parser_get_model (DrapeParser *parser)
{
  return parser->model;
}

typedef struct {
  const DrapeImage *photo;
  DrapeDType dtype;
} PhotoFill;

static void
fill_photo (guint8   *dst,
            guint64   offset,
            guint64   n_bytes,
            gpointer  user_data)
{
  const PhotoFill *fill = user_data;
  const DrapeImage *photo = fill->photo;
  gsize es = drape_dtype_size (fill->dtype);
  guint64 row = (guint64) photo->width * 3;
  guint64 first = offset / es, count = n_bytes / es;

  for (guint64 i = 0; i < count; i++)
    {
      guint64 e = first + i;
      guint8 level = photo->pixels[(e / row) * photo->stride + e % row];
      if (fill->dtype == DRAPE_DTYPE_F16)
        ((guint16 *) dst)[i] = drape_float_to_half (level);
      else
        ((float *) dst)[i] = level;
    }
}

gboolean
drape_parser_upload_photo (const DrapeImage  *photo,
                           DrapeTensor       *tensor,
                           GError           **error)
{
  PhotoFill fill = { photo, tensor->dtype };

  g_return_val_if_fail (tensor->buffer != NULL, FALSE);
  if (photo->channels != 3 || tensor->n != 1 || tensor->c != 3 ||
      tensor->w != photo->width || tensor->h != photo->height)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                   "A %ux%u photo of %u channels does not fit a [%u %u %u %u] tensor",
                   photo->width, photo->height, photo->channels,
                   tensor->n, tensor->h, tensor->w, tensor->c);
      return FALSE;
    }
  return drape_buffer_fill (tensor->buffer, 0, drape_tensor_bytes (tensor), fill_photo, &fill, error);
}

DrapeTensor *
drape_parser_record_input (DrapeParser        *parser,
                           DrapeGraph         *graph,
                           const DrapeTensor  *photo,
                           GPtrArray          *filters,
                           DrapeTensor       **resized,
                           GError            **error)
{
  DrapeConvParams norm = { .groups = 3, .bias = parser->norm_b };
  const DrapeTensor *x = photo;
  DrapeTensor *out = NULL;

  /* Pillow: the horizontal pass, then the vertical one; a pass whose size
   * does not change is skipped, as Pillow does. */
  for (guint pass = 0; pass < 2; pass++)
    {
      DrapeAxis axis = pass == 0 ? DRAPE_AXIS_W : DRAPE_AXIS_H;
      guint32 in = pass == 0 ? photo->w : photo->h, want = pass == 0 ? parser->in_w : parser->in_h;
      DrapeResampleFilter *filter;
      DrapeTensor *next;

      if (in == want)
        continue;
      filter = drape_resample_filter_new_pil_bilinear (parser->device, in, want, error);
      if (filter == NULL)
        return NULL;
      g_ptr_array_add (filters, filter);
      next = drape_op_resample (graph, x, axis, filter);
      drape_tensor_release (out);
      x = out = next;
    }
  *resized = (DrapeTensor *) x;
  return drape_op_conv2d (graph, x, parser->norm_w, &norm);
}

DrapeTensor *
drape_parser_record (DrapeParser        *parser,
                     DrapeGraph         *graph,
                     const DrapeTensor  *photo,
                     GPtrArray         **filters,
                     GError            **error)
{
  DrapeTensor *resized, *pixels, *logits, *labels;

  *filters = g_ptr_array_new_with_free_func ((GDestroyNotify) drape_resample_filter_free);
  pixels = drape_parser_record_input (parser, graph, photo, *filters, &resized, error);
  if (pixels == NULL)
    return NULL;
  drape_tensor_release (resized);
  logits = drape_segformer_forward (parser->model, graph, pixels, NULL);
  drape_tensor_release (pixels);
  labels = drape_op_resize_argmax (graph, logits, photo->h, photo->w);
  drape_tensor_release (logits);
  return labels;
}

/* The graph for photos of this size, its pipelines built side by side;
 * recorded again while a kernel turns out to be one the driver refuses. */
static gboolean
prepare (DrapeParser  *parser,
         guint32       width,
         guint32       height,
         GError      **error)
{
  g_autoptr(GError) local_error = NULL;
  gboolean ready;

  do
    {
      g_clear_error (&local_error);
      clear_graph (parser);
      parser->graph = drape_graph_new (parser->device, "SegFormer parser");
      drape_graph_set_background_builds (parser->graph, TRUE);
      parser->photo = drape_tensor_new (parser->device, parser->dtype, 1, height, width, 3, error);
      if (parser->photo == NULL)
        {
          g_prefix_error (error, "A %ux%u photo: ", width, height);
          clear_graph (parser);
          return FALSE;
        }
      parser->labels = drape_parser_record (parser, parser->graph, parser->photo, &parser->filters,
                                            &local_error);
      ready = parser->labels != NULL && drape_graph_compile (parser->graph, &local_error);
    }
  while (!ready && g_error_matches (local_error, DRAPE_ERROR, DRAPE_ERROR_RECORD_AGAIN));
  if (!ready)
    {
      if (local_error != NULL)
        g_propagate_error (error, g_steal_pointer (&local_error));
      clear_graph (parser);
      return FALSE;
    }
  parser->photo_w = width;
  parser->photo_h = height;
  return TRUE;
}

DrapeImage *
drape_parser_parse (DrapeParser       *parser,
                    const DrapeImage  *photo,
                    GError           **error)
{
  g_autoptr(DrapeImage) labels = NULL;
  g_autofree float *values = NULL;
  guint64 n;

  g_return_val_if_fail (parser != NULL && photo != NULL, NULL);
  if (photo->channels != 3 || photo->width == 0 || photo->height == 0)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                   "The parser takes an RGB photo; got %ux%u with %u channels",
                   photo->width, photo->height, photo->channels);
      return NULL;
    }
  if ((parser->graph == NULL || parser->photo_w != photo->width || parser->photo_h != photo->height) &&
      !prepare (parser, photo->width, photo->height, error))
    return NULL;
  if (!drape_parser_upload_photo (photo, parser->photo, error) ||
      !drape_graph_run (parser->graph, error))
    return NULL;

  n = (guint64) photo->width * photo->height;
  values = g_try_new (float, n);
  if (values == NULL)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_OUT_OF_MEMORY,
                   "No memory for the label map of a %ux%u photo", photo->width, photo->height);
      return NULL;
    }
  if (!drape_tensor_download (parser->labels, values, n, error))
    return NULL;
  labels = drape_image_new (photo->width, photo->height, 1);
  for (guint32 y = 0; y < photo->height; y++)
    for (guint32 x = 0; x < photo->width; x++)
      labels->pixels[(gsize) y * labels->stride + x] = (guint8) values[(guint64) y * photo->width + x];
  return g_steal_pointer (&labels);
}
