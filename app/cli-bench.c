/* cli-bench.c: drape-cli bench: the real architecture, random weights
 *
 * Times what a try-on spends its time on: the UNet step with guidance
 * (batch 2), the VAE encode of both images and the decode of the result,
 * and optionally a whole try-on and the auto-mask; prints the most
 * expensive ops (GPU timestamps) and peak device memory.  Nothing to
 * download.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <json-glib/json-glib.h>

#include "cli.h"
#include "parser.h"
#include "tuning.h"
#include "workload.h"

typedef struct {
  const char *name;
  double ms;        /* per run */
  double flops;     /* per run */
  double first_ms;  /* compile (waiting for its pipelines) + first run */
  guint dispatches;
  guint barriers;   /* between and after them (graph.c) */
  guint tuned;      /* ops whose way the device's tuning chose */
  guint pipelines;  /* built for it (those earlier graphs built are shared) */
  double pipelines_ms;  /* waited for them */
} Timing;

/* GPUs lower their clocks when idle: a graph runs for this long before it
 * is timed, so that timings and profiles are of the clocks a try-on
 * runs at (CPU drivers need no warming). */
#define WARM_UP_US (1000 * 1000)

/* Compiles and runs a graph once (timed as first_ms), warms up, then
 * runs it `runs` times; with `profile`, then `runs` times more with
 * timestamps, for its profile alone: they are not in the timing. */
static gboolean
time_graph (DrapeGraph *graph,
            guint       runs,
            gboolean    profile,
            Timing     *timing,
            GError    **error)
{
  gint64 start = g_get_monotonic_time ();

  if (!drape_graph_compile (graph, error) || !drape_graph_run (graph, error))
    return FALSE;
  timing->first_ms = (g_get_monotonic_time () - start) / 1000.0;
  if (!drape_graph_warm_up (graph, WARM_UP_US, error))
    return FALSE;
  start = g_get_monotonic_time ();
  for (guint i = 0; i < runs; i++)
    if (!drape_graph_run (graph, error))
      return FALSE;
  timing->ms = (g_get_monotonic_time () - start) / 1000.0 / runs;
  if (profile)
    {
      drape_graph_set_profiling (graph, TRUE);
      for (guint i = 0; i < runs; i++)
        if (!drape_graph_run (graph, error))
          return FALSE;
    }
  timing->flops = drape_graph_get_flops (graph);
  timing->dispatches = drape_graph_get_n_nodes (graph);
  timing->barriers = drape_graph_get_n_barriers (graph);
  timing->tuned = drape_graph_get_n_tuned (graph);
  return TRUE;
}

/* Adds a graph's profile to `ops`, its entries keyed by `prefix` and
 * their label (and, for a dispatch profile, workgroups and FLOPs). */
static void
merge_profile (GHashTable *ops,
               GArray     *profile,
               const char *prefix)
{
  for (guint i = 0; i < profile->len; i++)
    {
      DrapeOpTime *t = &g_array_index (profile, DrapeOpTime, i);
      char *key = t->workgroups ? g_strdup_printf ("%s %s %s %" G_GUINT64_FORMAT " %.17g", prefix,
                                                   t->label, t->detail ? t->detail : "",
                                                   t->workgroups, t->flops / t->count)
                                : g_strdup_printf ("%s %s", prefix, t->label);
      DrapeOpTime *entry = g_hash_table_lookup (ops, key);
      if (entry == NULL)
        {
          entry = g_new0 (DrapeOpTime, 1);
          entry->label = t->label;
          entry->detail = t->detail;
          entry->workgroups = t->workgroups;
          /* Keys leave the pipeline out, so that builds whose kernels
           * differ still compare shape by shape: the first one's. */
          entry->kernel = t->kernel;
          g_hash_table_insert (ops, key, entry);
        }
      else
        g_free (key);
      entry->count += t->count;
      entry->total_ms += t->total_ms;
      entry->flops += t->flops;
    }
}

/* Both profiles of a timed graph. */
static void
merge_profiles (GHashTable *ops,
                GHashTable *dispatches,
                DrapeGraph *graph,
                const char *prefix)
{
  g_autoptr(GArray) by_op = drape_graph_get_profile (graph);
  g_autoptr(GArray) by_dispatch = drape_graph_get_dispatch_profile (graph);

  merge_profile (ops, by_op, prefix);
  merge_profile (dispatches, by_dispatch, prefix);
}

/* The graph `record` records, its pipelines built side by side as a
 * try-on's are (drape_graph_set_background_builds), timed by time_graph
 * with the pipelines built for it; recorded again where a kernel turns
 * out to be one the driver refuses. */
static DrapeGraph *
record_and_time (DrapeDevice          *device,
                 const char           *name,
                 DrapeTuningRecordFunc record,
                 gpointer              user_data,
                 guint                 runs,
                 gboolean              profile,
                 Timing               *timing,
                 GError              **error)
{
  guint built;
  double build_ms;

  drape_device_get_pipeline_builds (device, &built, &build_ms);
  for (;;)
    {
      g_autoptr(DrapeGraph) graph = drape_graph_new (device, name);
      g_autoptr(GError) local_error = NULL;

      drape_graph_set_background_builds (graph, TRUE);
      if (record (graph, user_data, NULL, &local_error) &&
          time_graph (graph, runs, profile, timing, &local_error))
        {
          drape_device_get_pipeline_builds (device, &timing->pipelines, &timing->pipelines_ms);
          timing->pipelines -= built;
          timing->pipelines_ms -= build_ms;
          return g_steal_pointer (&graph);
        }
      if (!g_error_matches (local_error, DRAPE_ERROR, DRAPE_ERROR_RECORD_AGAIN))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return NULL;
        }
    }
}

/* What the auto-mask records: the parser on a photo, with the resize
 * filters the graph reads (kept until the next recording). */
typedef struct {
  DrapeParser *parser;
  DrapeTensor *photo;
  GPtrArray *filters;
} ParserRun;

static gboolean
record_parser (DrapeGraph *graph,
               gpointer    user_data,
               GPtrArray  *tensors,
               GError    **error)
{
  ParserRun *run = user_data;

  g_clear_pointer (&run->filters, g_ptr_array_unref);
  return drape_parser_record (run->parser, graph, run->photo, &run->filters, error) != NULL;
}

/* The auto-mask as drape_parser_parse() runs it, on the catalog's parser
 * with random weights: a width x height photo stretched to SegFormer's
 * input, the network, its logits to a label map of the photo's size.  Its
 * weights' size in *weights_mib (the try-on's peak is measured before,
 * without them). */
static gboolean
time_parser (DrapeDevice *device,
             DrapeDType   dtype,
             guint32      width,
             guint32      height,
             gboolean     profile,
             Timing      *timing,
             double      *weights_mib,
             GHashTable  *ops,
             GHashTable  *dispatches,
             GError     **error)
{
  g_autoptr(DrapeParser) parser = NULL;
  g_autoptr(DrapeGraph) graph = NULL;
  g_autoptr(DrapeTensor) photo = NULL;
  g_autoptr(GPtrArray) filters = NULL;
  g_autofree float *levels = NULL;
  gsize n = (gsize) width * height * 3;
  ParserRun run = { 0 };

  parser = drape_parser_new_random (device, dtype, 3, error);
  if (parser == NULL)
    return FALSE;
  *weights_mib = drape_parser_get_weight_bytes (parser) / 1048576.0;

  photo = drape_tensor_new (device, dtype, 1, height, width, 3, error);
  levels = drape_random_values (n, 5);
  for (gsize i = 0; i < n; i++)
    levels[i] = roundf (127.5f + 127.5f * levels[i]);
  if (photo == NULL || !drape_tensor_upload (photo, levels, n, error))
    return FALSE;
  run.parser = parser;
  run.photo = photo;
  graph = record_and_time (device, "auto-mask", record_parser, &run, 2, profile, timing, error);
  /* The filters go after the graph that reads them. */
  filters = g_steal_pointer (&run.filters);
  if (graph == NULL)
    return FALSE;
  merge_profiles (ops, dispatches, graph, "mask");
  return TRUE;
}

/* The device memory a guided try-on of this size holds with each VAE
 * tiling, from its recorded graphs: nothing runs, so this is quick on any
 * device.  A tiling whose memory the device cannot give is reported as
 * such (-1). */
static int
report_memory (DrapeDevice   *device,
               DrapePipeline *pipeline,
               guint32        width,
               guint32        height,
               double         weights_mib,
               gboolean       json)
{
  static const struct { const char *name; DrapeVaeTiling tiling; guint32 tile; } kinds[] = {
    { "whole", DRAPE_VAE_TILING_OFF, 0 },
    { "tiles512", DRAPE_VAE_TILING_ON, 512 },
    { "tiles256", DRAPE_VAE_TILING_ON, 256 },
  };
  double peak_mib[G_N_ELEMENTS (kinds)], local_mib[G_N_ELEMENTS (kinds)];

  for (guint i = 0; i < G_N_ELEMENTS (kinds); i++)
    {
      g_autoptr(GError) error = NULL;
      DrapeTryOnParams params;
      guint64 peak, local_peak;

      drape_try_on_params_init (&params);
      params.width = width;
      params.height = height;
      params.vae_tiling = kinds[i].tiling;
      params.vae_tile = kinds[i].tile;
      drape_pipeline_release_graphs (pipeline);
      drape_device_reset_peak_memory (device);
      if (drape_pipeline_prepare (pipeline, &params, &error))
        {
          drape_device_get_memory_usage (device, NULL, &peak);
          drape_device_get_device_local_memory_usage (device, NULL, &local_peak);
          peak_mib[i] = peak / 1048576.0;
          local_mib[i] = local_peak / 1048576.0;
        }
      else if (g_error_matches (error, DRAPE_ERROR, DRAPE_ERROR_OUT_OF_MEMORY))
        peak_mib[i] = local_mib[i] = -1;
      else
        return drape_cli_fail_error (error);
    }
  drape_pipeline_release_graphs (pipeline);

  if (json)
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "device");
      json_builder_add_string_value (b, drape_device_get_info (device)->name);
      json_builder_set_member_name (b, "width");
      json_builder_add_int_value (b, width);
      json_builder_set_member_name (b, "height");
      json_builder_add_int_value (b, height);
      json_builder_set_member_name (b, "weights_mib");
      json_builder_add_double_value (b, weights_mib);
      for (guint i = 0; i < G_N_ELEMENTS (kinds); i++)
        {
          g_autofree char *key = g_strdup_printf ("tryon_peak_mib_%s", kinds[i].name);
          g_autofree char *local_key = g_strdup_printf ("tryon_peak_device_local_mib_%s", kinds[i].name);
          json_builder_set_member_name (b, key);
          json_builder_add_double_value (b, peak_mib[i]);
          json_builder_set_member_name (b, local_key);
          json_builder_add_double_value (b, local_mib[i]);
        }
      return drape_cli_print_json (b);
    }

  printf ("device      %s\n", drape_device_get_info (device)->name);
  printf ("size        %ux%u, guidance on\n", width, height);
  printf ("weights     %.0f MiB\n", weights_mib);
  for (guint i = 0; i < G_N_ELEMENTS (kinds); i++)
    {
      g_autofree char *label = kinds[i].tile ? g_strdup_printf ("VAE on %u-px tiles", kinds[i].tile)
                                             : g_strdup ("VAE on whole images");
      if (peak_mib[i] < 0)
        printf ("try-on peak %-20s  does not fit in this device's memory\n", label);
      else
        printf ("try-on peak %-20s  %.0f MiB (%.0f MiB device-local)\n", label, peak_mib[i],
                local_mib[i]);
    }
  return 0;
}

static gint
compare_ops (gconstpointer a,
             gconstpointer b,
             gpointer      user_data)
{
  GHashTable *ops = user_data;
  const DrapeOpTime *x = g_hash_table_lookup (ops, *(char **) a);
  const DrapeOpTime *y = g_hash_table_lookup (ops, *(char **) b);

  return x->total_ms < y->total_ms ? 1 : x->total_ms > y->total_ms ? -1 : 0;
}

/* A profile's keys, most expensive entry first. */
static gpointer *
keys_by_time (GHashTable *table,
              guint      *n_keys)
{
  gpointer *keys = g_hash_table_get_keys_as_array (table, n_keys);

  g_qsort_with_data (keys, *n_keys, sizeof (gpointer), compare_ops, table);
  return keys;
}

/* A profile as the member `name`: its entries, most expensive first,
 * with the time per call (per graph run where each runs once) and, for
 * dispatch profiles, what each dispatch was. */
static void
add_profile (JsonBuilder *b,
             const char  *name,
             GHashTable  *table)
{
  g_autofree gpointer *keys = NULL;
  guint n_keys;

  json_builder_set_member_name (b, name);
  json_builder_begin_array (b);
  keys = keys_by_time (table, &n_keys);
  for (guint i = 0; i < n_keys; i++)
    {
      const DrapeOpTime *t = g_hash_table_lookup (table, keys[i]);

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "op");
      json_builder_add_string_value (b, keys[i]);
      if (t->workgroups > 0)
        {
          json_builder_set_member_name (b, "detail");
          json_builder_add_string_value (b, t->detail ? t->detail : "");
          json_builder_set_member_name (b, "workgroups");
          json_builder_add_int_value (b, (gint64) t->workgroups);
          json_builder_set_member_name (b, "kernel");
          json_builder_add_string_value (b, t->kernel);
        }
      json_builder_set_member_name (b, "calls");
      json_builder_add_int_value (b, t->count);
      json_builder_set_member_name (b, "gflop");
      json_builder_add_double_value (b, t->flops / MAX (t->count, 1) / 1e9);
      json_builder_set_member_name (b, "ms_per_call");
      json_builder_add_double_value (b, t->total_ms / MAX (t->count, 1));
      json_builder_set_member_name (b, "total_ms");
      json_builder_add_double_value (b, t->total_ms);
      json_builder_set_member_name (b, "tflops");
      json_builder_add_double_value (b, t->total_ms > 0 ? t->flops / t->total_ms / 1e9 : 0);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
}

/* The statistics the driver gave of the pipelines behind `dispatches`,
 * as the member "pipelines": { kernel key: { statistic: value } }. */
static void
add_pipelines (JsonBuilder *b,
               DrapeDevice *device,
               GHashTable  *dispatches)
{
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  GHashTableIter iter;
  const DrapeOpTime *t;

  json_builder_set_member_name (b, "pipelines");
  json_builder_begin_object (b);
  g_hash_table_iter_init (&iter, dispatches);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &t))
    {
      g_autoptr(GArray) statistics = NULL;

      if (!g_hash_table_add (seen, (gpointer) t->kernel))
        continue;
      statistics = drape_device_get_pipeline_statistics (device, t->kernel);
      if (statistics == NULL)
        continue;
      json_builder_set_member_name (b, t->kernel);
      json_builder_begin_object (b);
      for (guint i = 0; i < statistics->len; i++)
        {
          const DrapePipelineStatistic *s = &g_array_index (statistics, DrapePipelineStatistic, i);
          json_builder_set_member_name (b, s->name);
          json_builder_add_double_value (b, s->value);
        }
      json_builder_end_object (b);
    }
  json_builder_end_object (b);
}

/* The most expensive dispatches, each with what the driver said of its
 * pipeline. */
static void
print_pipelines (DrapeDevice *device,
                 GHashTable  *dispatches,
                 guint        most)
{
  g_autofree gpointer *keys = NULL;
  guint n_keys;

  keys = keys_by_time (dispatches, &n_keys);
  printf ("\nmost expensive dispatches, and what the driver says of their pipelines:\n");
  for (guint i = 0; i < MIN (n_keys, most); i++)
    {
      const DrapeOpTime *t = g_hash_table_lookup (dispatches, keys[i]);
      g_autoptr(GArray) statistics = drape_device_get_pipeline_statistics (device, t->kernel);
      g_autoptr(GString) line = g_string_new (NULL);

      for (guint j = 0; statistics != NULL && j < statistics->len; j++)
        {
          const DrapePipelineStatistic *s = &g_array_index (statistics, DrapePipelineStatistic, j);
          g_string_append_printf (line, "%s%s %g", j ? ", " : "", s->name, s->value);
        }
      printf ("  %s: %.2f ms\n    %s\n    %s\n", (char *) keys[i], t->total_ms / MAX (t->count, 1),
              t->kernel, statistics != NULL ? line->str : "(no statistics)");
    }
}

int
drape_cli_bench (int    argc,
                 char **argv)
{
  g_autofree char *size = NULL;
  g_autofree char *precision = NULL;
  g_autofree char *device_name = NULL;
  gint steps = 5, e2e_steps = 0, vae_tile = 0;
  gboolean json = FALSE, profile = FALSE, memory_only = FALSE, auto_mask = FALSE;
  GOptionEntry entries[] = {
    { "size", 0, 0, G_OPTION_ARG_STRING, &size, "Image size, width x height (384x512)", "WxH" },
    { "steps", 0, 0, G_OPTION_ARG_INT, &steps, "UNet steps to time (5)", "N" },
    { "precision", 0, 0, G_OPTION_ARG_STRING, &precision, "f16 or f32 (f16 on GPUs)", "P" },
    { "e2e", 0, 0, G_OPTION_ARG_INT, &e2e_steps, "Also time a whole try-on of this many steps", "N" },
    { "vae-tile", 0, 0, G_OPTION_ARG_INT, &vae_tile,
      "With --e2e: the VAE on tiles of this side (as a try-on chooses)", "PX" },
    { "auto-mask", 0, 0, G_OPTION_ARG_NONE, &auto_mask,
      "Also time the auto-mask (SegFormer-B2) on a photo of --size", NULL },
    { "profile", 0, 0, G_OPTION_ARG_NONE, &profile, "Per-op GPU times (timestamps, from runs apart from the timed ones)", NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Machine-readable output", NULL },
    { "memory", 0, 0, G_OPTION_ARG_NONE, &memory_only,
      "Only the device memory of a try-on, whole-image and tiled VAE (runs nothing)", NULL },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device_name, "Vulkan device (index or name)", "DEV" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- time the models with random weights");
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeDevice) device = NULL;
  g_autoptr(DrapePipeline) pipeline = NULL;
  g_autoptr(DrapeWorkload) workload = NULL;
  g_autoptr(GHashTable) ops = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(GHashTable) dispatches = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autofree char *tensor_cores = NULL;
  DrapeUNetConfig unet_config;
  DrapeVaeConfig vae_config;
  DrapeDType dtype;
  guint32 width = 384, height = 512, lh, lw;
  Timing unet = { "unet_step" }, encode = { "vae_encode" }, decode = { "vae_decode" };
  Timing parse = { "auto_mask" };
  double load_ms, e2e_s = 0, mask_weights_mib = 0;
  guint64 weights_peak, peak, local_peak, e2e_peak = 0, e2e_local_peak = 0;
  guint32 e2e_tile = 0;  /* the VAE tile the try-on ran; 0: whole images */
  gint64 start;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return drape_cli_fail_error (error);
  if (size != NULL && !drape_cli_parse_size (size, &width, &height))
    return drape_cli_fail ("--size %s: expected WIDTHxHEIGHT, e.g. 768x1024", size);
  if (width % 64 != 0 || height % 64 != 0 || steps <= 0 || e2e_steps < 0)
    return drape_cli_fail ("--size must be multiples of 64, --steps positive");
  if (vae_tile < 0 || (vae_tile > 0 && e2e_steps == 0))
    return drape_cli_fail ("--vae-tile: a tile side in pixels, for --e2e's try-on");
  lh = height / 8;
  lw = width / 8;

  device = drape_device_new (device_name, &error);
  if (device == NULL)
    return drape_cli_fail_error (error);
  if (!drape_cli_parse_precision (precision, device, &dtype))
    return drape_cli_fail ("--precision %s: expected f16 or f32", precision);
  /* Before any pipeline is built: profiles say what the driver made of
   * each kernel, where it can. */
  if (profile)
    drape_device_capture_pipeline_statistics (device, TRUE);

  drape_unet_config_sd15_inpainting (&unet_config);
  drape_vae_config_sd (&vae_config);
  start = g_get_monotonic_time ();
  pipeline = drape_pipeline_new_random (device, &unet_config, &vae_config, dtype, !memory_only, &error);
  if (pipeline == NULL)
    return drape_cli_fail_error (error);
  load_ms = (g_get_monotonic_time () - start) / 1000.0;
  drape_device_get_memory_usage (device, &weights_peak, NULL);
  if (memory_only)
    return report_memory (device, pipeline, width, height, weights_peak / 1048576.0, json);

  workload = drape_workload_new (device, pipeline, width, height, &error);
  if (workload == NULL)
    return drape_cli_fail_error (error);
  {
    static const struct {
      const char *name;
      const char *prefix;  /* of its profile's entries */
      DrapeTuningRecordFunc record;
      guint runs;  /* 0: --steps */
    } graphs[] = {
      { "UNet step", "unet", drape_workload_unet_step, 0 },
      { "VAE encode", "vae-enc", drape_workload_vae_encode, 2 },
      { "VAE decode", "vae-dec", drape_workload_vae_decode, 2 },
    };
    Timing *timings[] = { &unet, &encode, &decode };

    for (guint i = 0; i < G_N_ELEMENTS (graphs); i++)
      {
        g_autoptr(DrapeGraph) graph = record_and_time (device, graphs[i].name, graphs[i].record, workload,
                                                       graphs[i].runs ? graphs[i].runs : (guint) steps,
                                                       profile, timings[i], &error);

        if (graph == NULL)
          return drape_cli_fail_error (error);
        merge_profiles (ops, dispatches, graph, graphs[i].prefix);
      }
  }
  drape_device_get_memory_usage (device, NULL, &peak);
  drape_device_get_device_local_memory_usage (device, NULL, &local_peak);

  if (e2e_steps > 0)
    {
      g_autoptr(DrapeImage) person = drape_image_new (width, height, 3);
      g_autoptr(DrapeImage) garment = drape_image_new (width, height, 3);
      g_autoptr(DrapeImage) mask = drape_image_new (width, height, 1);
      g_autoptr(DrapeImage) result = NULL;
      g_autofree float *noise = drape_random_values ((gsize) width * height * 3, 7);
      DrapeTryOnParams params;

      for (gsize i = 0; i < (gsize) width * height * 3; i++)
        {
          person->pixels[i] = (guint8) (127 + 120 * noise[i]);
          garment->pixels[i] = (guint8) (127 - 120 * noise[i]);
        }
      for (guint32 y = height / 4; y < height * 3 / 4; y++)
        memset (mask->pixels + (gsize) y * width + width / 4, 255, width / 2);
      drape_try_on_params_init (&params);
      params.width = width;
      params.height = height;
      if (vae_tile > 0)
        {
          params.vae_tiling = DRAPE_VAE_TILING_ON;
          params.vae_tile = (guint32) vae_tile;
        }
      /* A first run records the graphs; the second is what a user waits
       * for.  The peak is the try-on's alone: the graphs timed above are
       * gone. */
      drape_device_reset_peak_memory (device);
      params.steps = 1;
      result = drape_pipeline_try_on (pipeline, person, garment, mask, &params, NULL, NULL, NULL, &error);
      if (result == NULL)
        return drape_cli_fail_error (error);
      g_clear_pointer (&result, drape_image_free);
      params.steps = e2e_steps;
      start = g_get_monotonic_time ();
      result = drape_pipeline_try_on (pipeline, person, garment, mask, &params, NULL, NULL, NULL, &error);
      if (result == NULL)
        return drape_cli_fail_error (error);
      e2e_s = (g_get_monotonic_time () - start) / 1e6;
      drape_device_get_memory_usage (device, NULL, &e2e_peak);
      drape_device_get_device_local_memory_usage (device, NULL, &e2e_local_peak);
      e2e_tile = drape_pipeline_get_vae_tile (pipeline);
    }
  if (auto_mask &&
      !time_parser (device, dtype, width, height, profile, &parse, &mask_weights_mib, ops, dispatches, &error))
    return drape_cli_fail_error (error);

  {
    const DrapeDeviceCaps *caps = drape_device_get_caps (device);

    /* Which tensor-core path the numbers come from. */
    tensor_cores = dtype == DRAPE_DTYPE_F16 ? drape_cli_describe_tensor_cores (caps) : NULL;
    if (tensor_cores == NULL)
      tensor_cores = g_strdup ("none");
  }
  if (json)
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();
      Timing *timings[] = { &unet, &encode, &decode, &parse };
      /* The auto-mask's only where it was timed. */
      guint n_timings = G_N_ELEMENTS (timings) - (auto_mask ? 0 : 1);

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "device");
      json_builder_add_string_value (b, drape_device_get_info (device)->name);
      json_builder_set_member_name (b, "precision");
      json_builder_add_string_value (b, drape_dtype_name (dtype));
      json_builder_set_member_name (b, "tensor_cores");
      json_builder_add_string_value (b, tensor_cores);
      json_builder_set_member_name (b, "width");
      json_builder_add_int_value (b, width);
      json_builder_set_member_name (b, "height");
      json_builder_add_int_value (b, height);
      json_builder_set_member_name (b, "load_ms");
      json_builder_add_double_value (b, load_ms);
      for (guint i = 0; i < n_timings; i++)
        {
          g_autofree char *ms = g_strdup_printf ("%s_ms", timings[i]->name);
          g_autofree char *first = g_strdup_printf ("%s_first_ms", timings[i]->name);
          g_autofree char *tflops = g_strdup_printf ("%s_tflops", timings[i]->name);
          g_autofree char *dispatches_key = g_strdup_printf ("%s_dispatches", timings[i]->name);
          g_autofree char *barriers = g_strdup_printf ("%s_barriers", timings[i]->name);
          g_autofree char *tuned = g_strdup_printf ("%s_tuned", timings[i]->name);
          g_autofree char *pipelines = g_strdup_printf ("%s_pipelines", timings[i]->name);
          g_autofree char *pipelines_ms = g_strdup_printf ("%s_pipelines_ms", timings[i]->name);
          json_builder_set_member_name (b, ms);
          json_builder_add_double_value (b, timings[i]->ms);
          json_builder_set_member_name (b, first);
          json_builder_add_double_value (b, timings[i]->first_ms);
          json_builder_set_member_name (b, tflops);
          json_builder_add_double_value (b, timings[i]->flops / timings[i]->ms / 1e9);
          json_builder_set_member_name (b, dispatches_key);
          json_builder_add_int_value (b, timings[i]->dispatches);
          json_builder_set_member_name (b, barriers);
          json_builder_add_int_value (b, timings[i]->barriers);
          json_builder_set_member_name (b, tuned);
          json_builder_add_int_value (b, timings[i]->tuned);
          json_builder_set_member_name (b, pipelines);
          json_builder_add_int_value (b, timings[i]->pipelines);
          json_builder_set_member_name (b, pipelines_ms);
          json_builder_add_double_value (b, timings[i]->pipelines_ms);
        }
      json_builder_set_member_name (b, "tuning");
      if (drape_device_get_tuning_source (device) != NULL)
        json_builder_add_string_value (b, drape_device_get_tuning_source (device));
      else
        json_builder_add_null_value (b);
      json_builder_set_member_name (b, "tuning_problems");
      json_builder_add_int_value (b, drape_tuning_get_size (drape_device_get_tuning (device)));
      json_builder_set_member_name (b, "weights_mib");
      json_builder_add_double_value (b, weights_peak / 1048576.0);
      json_builder_set_member_name (b, "peak_mib");
      json_builder_add_double_value (b, peak / 1048576.0);
      json_builder_set_member_name (b, "peak_device_local_mib");
      json_builder_add_double_value (b, local_peak / 1048576.0);
      if (e2e_steps > 0)
        {
          json_builder_set_member_name (b, "tryon_steps");
          json_builder_add_int_value (b, e2e_steps);
          json_builder_set_member_name (b, "tryon_s");
          json_builder_add_double_value (b, e2e_s);
          json_builder_set_member_name (b, "tryon_peak_mib");
          json_builder_add_double_value (b, e2e_peak / 1048576.0);
          json_builder_set_member_name (b, "tryon_peak_device_local_mib");
          json_builder_add_double_value (b, e2e_local_peak / 1048576.0);
          json_builder_set_member_name (b, "tryon_vae_tile");
          json_builder_add_int_value (b, e2e_tile);
        }
      if (auto_mask)
        {
          json_builder_set_member_name (b, "auto_mask_weights_mib");
          json_builder_add_double_value (b, mask_weights_mib);
        }
      add_profile (b, "ops", ops);
      /* Each layer shape on its own: what a kernel change is measured by. */
      add_profile (b, "dispatches", dispatches);
      if (drape_device_get_caps (device)->pipeline_statistics && profile)
        add_pipelines (b, device, dispatches);
      return drape_cli_print_json (b);
    }

  printf ("device      %s (%s; tensor cores: %s)\n", drape_device_get_info (device)->name,
          drape_dtype_name (dtype), tensor_cores);
  printf ("size        %ux%u (latent %ux%u, guidance batch 2)\n", width, height, lw, 2 * lh);
  printf ("load        %.0f ms (random weights, %.0f MiB)\n", load_ms, weights_peak / 1048576.0);
  if (drape_device_get_tuning_source (device) == NULL)
    printf ("tuning      none (drape-cli tune measures one for this device)\n");
  else
    printf ("tuning      %u problems (%s); ways it chose: %u in a step, %u in an encode, %u in a decode\n",
            drape_tuning_get_size (drape_device_get_tuning (device)), drape_device_get_tuning_source (device),
            unet.tuned, encode.tuned, decode.tuned);
  printf ("unet step   %.2f ms  (%.1f TFLOP/s; first run with recording %.0f ms; "
          "%u dispatches, %u barriers)\n",
          unet.ms, unet.flops / unet.ms / 1e9, unet.first_ms, unet.dispatches, unet.barriers);
  printf ("vae encode  %.2f ms  (both images; %.1f TFLOP/s)\n", encode.ms, encode.flops / encode.ms / 1e9);
  printf ("vae decode  %.2f ms  (%.1f TFLOP/s)\n", decode.ms, decode.flops / decode.ms / 1e9);
  printf ("pipelines   %u built in %.0f ms (step %u in %.0f ms, encode %u in %.0f, decode %u in %.0f)\n",
          unet.pipelines + encode.pipelines + decode.pipelines,
          unet.pipelines_ms + encode.pipelines_ms + decode.pipelines_ms, unet.pipelines, unet.pipelines_ms,
          encode.pipelines, encode.pipelines_ms, decode.pipelines, decode.pipelines_ms);
  if (e2e_steps > 0)
    {
      g_autofree char *vae = e2e_tile ? g_strdup_printf ("VAE on %u-pixel tiles", e2e_tile)
                                      : g_strdup ("VAE on whole images");

      printf ("try-on      %.2f s for %d steps (peak %.0f MiB, %.0f MiB device-local, %s)\n", e2e_s,
              e2e_steps, e2e_peak / 1048576.0, e2e_local_peak / 1048576.0, vae);
    }
  if (auto_mask)
    printf ("auto-mask   %.2f ms  (SegFormer-B2; %.1f TFLOP/s; first run with recording %.0f ms; "
            "%u pipelines built in %.0f ms; weights %.0f MiB)\n",
            parse.ms, parse.flops / parse.ms / 1e9, parse.first_ms, parse.pipelines, parse.pipelines_ms,
            mask_weights_mib);
  if (profile)
    {
      g_autofree gpointer *keys = NULL;
      guint n_keys;
      double total = 0;

      keys = keys_by_time (ops, &n_keys);
      for (guint i = 0; i < n_keys; i++)
        total += ((DrapeOpTime *) g_hash_table_lookup (ops, keys[i]))->total_ms;
      printf ("\nmost expensive ops (GPU time over all timed runs):\n");
      for (guint i = 0; i < MIN (n_keys, 10); i++)
        {
          const DrapeOpTime *t = g_hash_table_lookup (ops, keys[i]);
          printf ("  %-28s %9.2f ms %5.1f%%  %7.2f TFLOP/s  (%u calls)\n", (char *) keys[i],
                  t->total_ms, 100 * t->total_ms / MAX (total, 1e-9),
                  t->total_ms > 0 ? t->flops / t->total_ms / 1e9 : 0, t->count);
        }
      if (drape_device_get_caps (device)->pipeline_statistics)
        print_pipelines (device, dispatches, 5);
    }
  printf ("\nstep_ms=%.2f encode_ms=%.2f decode_ms=%.2f peak_mib=%.0f device_local_mib=%.0f",
          unet.ms, encode.ms, decode.ms, MAX (peak, e2e_peak) / 1048576.0,
          MAX (local_peak, e2e_local_peak) / 1048576.0);
  if (auto_mask)
    printf (" mask_ms=%.2f", parse.ms);
  printf ("\n");
  return 0;
}
