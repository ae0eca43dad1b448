/* cli-tune.c: drape-cli tune: time every way to run each layer, keep the fastest
 *
 * Runs what bench runs (the real architecture, random weights) once per
 * trial of drape_tuning_measure(), so that each layer's ways (tiles,
 * splits of K, kernels) are timed on this device, and saves the fastest
 * into the device's tuning, which every later run on it takes up
 * (tuning.h), after each trial.  Sizes tune apart: run it at each size
 * that matters.  --seconds fits it into a time it may have (a GPU
 * session's lease, say): no trial starts after it, and a tuning cut
 * short keeps the fastest ways it timed.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <math.h>
#include <stdio.h>

#include "cli.h"
#include "tuning.h"
#include "workload.h"

static gint
compare_gain (gconstpointer a,
              gconstpointer b)
{
  const DrapeTuningEntry *x = a, *y = b;
  double gx = x->usual_ms - x->ms, gy = y->usual_ms - y->ms;

  return gx < gy ? 1 : gx > gy ? -1 : g_strcmp0 (x->problem, y->problem);
}

static void
print_report (DrapeDevice *device,
              DrapeTuning *measured,
              const char  *path,
              gboolean     complete,
              gboolean     json)
{
  g_autoptr(GArray) entries = drape_tuning_get_entries (measured);
  DrapeTuningGain gain;

  drape_tuning_get_gain (measured, &gain);
  g_array_sort (entries, compare_gain);
  if (json)
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();

      json_builder_begin_object (b);
      json_builder_set_member_name (b, "device");
      json_builder_add_string_value (b, drape_device_get_info (device)->name);
      json_builder_set_member_name (b, "tuning");
      json_builder_add_string_value (b, path);
      json_builder_set_member_name (b, "usual_ms");
      json_builder_add_double_value (b, gain.usual_ms);
      json_builder_set_member_name (b, "tuned_ms");
      json_builder_add_double_value (b, gain.ms);
      json_builder_set_member_name (b, "complete");
      json_builder_add_boolean_value (b, complete);
      json_builder_set_member_name (b, "problems");
      json_builder_begin_array (b);
      for (guint i = 0; i < entries->len; i++)
        {
          const DrapeTuningEntry *e = &g_array_index (entries, DrapeTuningEntry, i);

          json_builder_begin_object (b);
          json_builder_set_member_name (b, "problem");
          json_builder_add_string_value (b, e->problem);
          json_builder_set_member_name (b, "way");
          json_builder_add_string_value (b, e->way);
          json_builder_set_member_name (b, "ms");
          json_builder_add_double_value (b, e->ms);
          json_builder_set_member_name (b, "usual");
          json_builder_add_string_value (b, e->usual);
          json_builder_set_member_name (b, "usual_ms");
          json_builder_add_double_value (b, e->usual_ms);
          json_builder_end_object (b);
        }
      json_builder_end_array (b);
      drape_cli_print_json (b);
      return;
    }
  printf ("device    %s\n", drape_device_get_info (device)->name);
  printf ("problems  %u timed, %u faster another way%s\n", gain.problems, gain.faster,
          complete ? "" : " (of the ways timed before --seconds ran out)");
  for (guint i = 0; i < entries->len; i++)
    {
      const DrapeTuningEntry *e = &g_array_index (entries, DrapeTuningEntry, i);

      if (g_strcmp0 (e->way, e->usual) != 0)
        printf ("  %-48s %s %.3f ms (usual %s %.3f ms)\n", e->problem, e->way, e->ms, e->usual,
                e->usual_ms);
    }
  printf ("time      %.2f ms of these layers per run, %.2f usually\n", gain.ms, gain.usual_ms);
  printf ("saved     %s\n", path);
}

/* Where tune is, on stderr: a line per graph, ended by its time, the
 * part of it spent building pipelines (each trial's new tiles: what a
 * short GPU lease may run out on) and, where the deadline cut it short,
 * the trials it ran. */
typedef struct {
  DrapeDevice *device;
  guint32 width, height;
  gint64 start;        /* of the graph being measured */
  guint pipelines;     /* built before it */
  double pipelines_ms;
  guint done, total;   /* its trials */
  gboolean complete;   /* no graph cut short so far */
} TuneReport;

static void
end_graph (TuneReport *report)
{
  guint pipelines;
  double pipelines_ms;

  drape_device_get_pipeline_builds (report->device, &pipelines, &pipelines_ms);
  pipelines -= report->pipelines;
  g_printerr (" %.1f s (%u new pipeline%s, %.1f s of it waiting for them",
              (g_get_monotonic_time () - report->start) / 1e6, pipelines, pipelines == 1 ? "" : "s",
              (pipelines_ms - report->pipelines_ms) / 1e3);
  if (report->done < report->total)
    {
      g_printerr ("; cut short: %u of %u trials", report->done, report->total);
      report->complete = FALSE;
    }
  g_printerr (")\n");
}

static void
on_progress (DrapeWorkloadGraph graph,
             guint              done,
             guint              total,
             gpointer           user_data)
{
  TuneReport *report = user_data;

  if (total > 0)
    {
      report->done = done;
      report->total = total;
      return;
    }
  /* 0 of 0: the graph starts. */
  if (graph > 0)
    end_graph (report);
  report->start = g_get_monotonic_time ();
  drape_device_get_pipeline_builds (report->device, &report->pipelines, &report->pipelines_ms);
  report->done = report->total = 0;
  g_printerr ("timing the ways of the %s at %ux%u...", drape_workload_graph_name (graph), report->width,
              report->height);
}

int
drape_cli_tune (int    argc,
                char **argv)
{
  g_autofree char *size = NULL;
  g_autofree char *precision = NULL;
  g_autofree char *device_name = NULL;
  g_autofree char *output = NULL;
  gint runs = 3;
  g_autofree char *seconds = NULL;
  gboolean json = FALSE;
  GOptionEntry entries[] = {
    { "size", 0, 0, G_OPTION_ARG_STRING, &size, "Image size, width x height (384x512)", "WxH" },
    { "precision", 0, 0, G_OPTION_ARG_STRING, &precision, "f16 or f32 (f16 on GPUs)", "P" },
    { "runs", 0, 0, G_OPTION_ARG_INT, &runs, "Timed runs of each way (3)", "N" },
    { "seconds", 0, 0, G_OPTION_ARG_STRING, &seconds,
      "Start no trial of other ways after this long; keep the fastest found (no limit)", "S" },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output,
      "Where to save the tuning (the device's own, which later runs take up)", "FILE" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Machine-readable output", NULL },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device_name, "Vulkan device (index or name)", "DEV" },
    { NULL }
  };
  g_autoptr(GOptionContext) context =
    g_option_context_new ("- time each layer's ways to run on this device and keep the fastest");
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeDevice) device = NULL;
  g_autoptr(DrapePipeline) pipeline = NULL;
  g_autoptr(DrapeWorkload) workload = NULL;
  g_autoptr(DrapeTuning) measured = drape_tuning_new ();
  DrapeUNetConfig unet_config;
  DrapeVaeConfig vae_config;
  DrapeDType dtype;
  guint32 width = 384, height = 512;
  const char *path;
  TuneReport report = { .complete = TRUE };
  gint64 deadline = 0;
  double limit_s = 0;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return drape_cli_fail_error (error);
  if (size != NULL && !drape_cli_parse_size (size, &width, &height))
    return drape_cli_fail ("--size %s: expected WIDTHxHEIGHT, e.g. 768x1024", size);
  if (width % 64 != 0 || height % 64 != 0 || runs <= 0)
    return drape_cli_fail ("--size must be multiples of 64, --runs positive");
  /* Parsed here rather than by GOption, whose doubles take "nan" and
   * "inf" (and could not tell a value given from none). */
  if (seconds != NULL)
    {
      char *end;

      limit_s = g_ascii_strtod (seconds, &end);
      if (end == seconds || *end != '\0' || !isfinite (limit_s) || limit_s < 0)
        return drape_cli_fail ("--seconds %s: expected a number of seconds, 0 or more", seconds);
    }

  device = drape_device_new (device_name, &error);
  if (device == NULL)
    return drape_cli_fail_error (error);
  if (!drape_cli_parse_precision (precision, device, &dtype))
    return drape_cli_fail ("--precision %s: expected f16 or f32", precision);
  drape_unet_config_sd15_inpainting (&unet_config);
  drape_vae_config_sd (&vae_config);
  pipeline = drape_pipeline_new_random (device, &unet_config, &vae_config, dtype, TRUE, &error);
  if (pipeline == NULL)
    return drape_cli_fail_error (error);
  workload = drape_workload_new (device, pipeline, width, height, &error);
  if (workload == NULL)
    return drape_cli_fail_error (error);

  /* Minutes on a GPU, far longer on a CPU: say what it is at (tune saves
   * after each trial, so that a run cut short keeps what it measured). */
  path = output != NULL ? output : drape_device_get_tuning_path (device);
  report.device = device;
  report.width = width;
  report.height = height;
  report.start = g_get_monotonic_time ();
  /* Capped so that a huge finite limit (1e300) still converts to a
   * deadline: half of gint64's range is 146,000 years. */
  if (seconds != NULL)
    deadline = report.start + (gint64) MIN (limit_s * G_USEC_PER_SEC, (double) (G_MAXINT64 / 2));
  if (!drape_workload_tune (workload, device, (guint) runs, deadline, path, measured, on_progress, &report, NULL,
                            &error))
    {
      g_printerr ("\n");
      return drape_cli_fail_error (error);
    }
  end_graph (&report);
  print_report (device, measured, path, report.complete, json);
  return 0;
}
