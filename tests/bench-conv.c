/* bench-conv.c: throughput of the convolution, linear and attention
 * kernels on the shapes that dominate the UNet (not run as a test)
 *
 *   bench-conv [--f16] [--runs N] [--only NAME]
 *
 * Prints, for each shape, the best wall-clock time of a run and the CPU
 * time per run (all threads; on a CPU driver, GFLOP/s per busy core),
 * each with its GFLOP/s.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops.h"

typedef enum {
  SHAPE_CONV,
  SHAPE_LINEAR,
  SHAPE_GEGLU,
  /* An upsampler: drape_op_conv2d_upsample2x, and the upsample and 3x3
   * convolution it replaces. */
  SHAPE_UPSAMPLE,
  SHAPE_UPSAMPLE_COPY,
  /* Self-attention of h x w tokens on a fused QKV tensor (cin = 3 x
   * channels, k heads). */
  SHAPE_ATTENTION,
} ShapeKind;

typedef struct {
  const char *name;
  ShapeKind kind;
  guint32 n, h, w, cin, cout, k;
} Shape;

static const Shape shapes[] = {
  { "conv3x3 320->320 2x64x24", SHAPE_CONV, 2, 64, 24, 320, 320, 3 },
  { "conv3x3 640->640 2x32x12", SHAPE_CONV, 2, 32, 12, 640, 640, 3 },
  { "conv3x3 128->128 1x256x192", SHAPE_CONV, 1, 256, 192, 128, 128, 3 },
  { "conv3x3 512->512 1x64x48", SHAPE_CONV, 1, 64, 48, 512, 512, 3 },
  { "linear 3072x320->1280", SHAPE_LINEAR, 1, 1, 3072, 320, 1280, 1 },
  { "geglu 3072x320->2x1280", SHAPE_GEGLU, 1, 1, 3072, 320, 1280, 1 },
  { "upsample2x 256 1x96x64", SHAPE_UPSAMPLE, 1, 96, 64, 256, 256, 2 },
  { "upsample+conv3x3 256 1x96x64", SHAPE_UPSAMPLE_COPY, 1, 96, 64, 256, 256, 3 },
  { "attention 8x40 2x24x64", SHAPE_ATTENTION, 2, 24, 64, 960, 320, 8 },
  { "attention 8x80 2x12x32", SHAPE_ATTENTION, 2, 12, 32, 1920, 640, 8 },
  { "attention 8x160 2x6x16", SHAPE_ATTENTION, 2, 6, 16, 3840, 1280, 8 },
};

static double
cpu_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static DrapeTensor *
random_tensor (DrapeDevice *device,
               DrapeDType   dtype,
               guint32      n,
               guint32      h,
               guint32      w,
               guint32      c,
               float        scale)
{
  g_autoptr(GError) error = NULL;
  guint64 count = (guint64) n * h * w * c;
  g_autofree float *data = g_new (float, count);
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);
  DrapeTensor *t;

  for (guint64 i = 0; i < count; i++)
    data[i] = (float) g_rand_double_range (rand, -scale, scale);
  t = drape_tensor_new (device, dtype, n, h, w, c, &error);
  if (t == NULL || !drape_tensor_upload (t, data, count, &error))
    g_error ("bench-conv: %s", error->message);
  return t;
}

/* Records shape s on random inputs into graph; the tensors it keeps
 * alive go into `keep`. */
static void
record (DrapeGraph  *graph,
        const Shape *s,
        DrapeDType   dtype,
        GPtrArray   *keep)
{
  DrapeDevice *device = drape_graph_get_device (graph);
  guint32 wrows = s->kind == SHAPE_GEGLU ? 2 * s->cout : s->kind == SHAPE_UPSAMPLE ? 4 * s->cout : s->cout;
  DrapeTensor *x = random_tensor (device, dtype, s->n, s->h, s->w, s->cin, 1.0f);
  DrapeTensor *w, *b;
  DrapeConvParams params = { .pad_top = s->k / 2, .pad_left = s->k / 2,
                             .pad_bottom = s->k / 2, .pad_right = s->k / 2 };

  g_ptr_array_add (keep, x);
  if (s->kind == SHAPE_ATTENTION)
    {
      drape_op_attention (graph, x, 0, x, s->cout, x, 2 * s->cout, s->cout, s->k,
                          1.0f / sqrtf ((float) (s->cout / s->k)));
      return;
    }
  w = random_tensor (device, dtype, wrows, s->k, s->k, s->cin, 1.0f / sqrtf (s->k * s->k * s->cin));
  b = random_tensor (device, dtype, 1, 1, 1, s->kind == SHAPE_GEGLU ? wrows : s->cout, 0.1f);
  g_ptr_array_add (keep, w);
  g_ptr_array_add (keep, b);
  params.bias = b;
  if (s->kind == SHAPE_CONV)
    drape_op_conv2d (graph, x, w, &params);
  else if (s->kind == SHAPE_UPSAMPLE)
    drape_op_conv2d_upsample2x (graph, x, w, &(DrapeConvParams) { .bias = b });
  else if (s->kind == SHAPE_UPSAMPLE_COPY)
    drape_op_conv2d (graph, drape_op_upsample_nearest (graph, x, 2 * s->h, 2 * s->w), w, &params);
  else if (s->kind == SHAPE_LINEAR)
    drape_op_linear (graph, x, w, &params);
  else
    drape_op_linear_geglu (graph, x, w, b);
}

/* Each op's share of `runs` more runs, profiled (after the timed ones:
 * timestamps keep dispatches from overlapping). */
static void
print_profile (DrapeGraph *graph,
               guint       runs)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) profile = NULL;

  drape_graph_set_profiling (graph, TRUE);
  for (guint i = 0; i < runs; i++)
    if (!drape_graph_run (graph, &error))
      g_error ("bench-conv: %s", error->message);
  profile = drape_graph_get_profile (graph);
  for (guint i = 0; i < profile->len; i++)
    {
      const DrapeOpTime *t = &g_array_index (profile, DrapeOpTime, i);

      printf ("  %-32s %8.2f ms/run  (%u dispatches)\n", t->label, t->total_ms / runs,
              t->count / runs);
    }
}

static void
bench (DrapeDevice *device,
       const Shape *s,
       DrapeDType   dtype,
       guint        runs,
       gboolean     profile)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, s->name);
  g_autoptr(GPtrArray) keep = g_ptr_array_new_with_free_func ((GDestroyNotify) drape_tensor_free);
  gint64 start;
  double ms = 0, cpu_start, cpu, flops;

  record (graph, s, dtype, keep);
  if (!drape_graph_compile (graph, &error) || !drape_graph_run (graph, &error))
    g_error ("bench-conv: %s", error->message);

  /* The best run: the machine may be shared, and others' load only ever
   * slows a run down.  CPU time (of all the driver's threads) says what
   * the run would take with the cores to itself, on a CPU driver. */
  cpu_start = cpu_ms ();
  for (guint i = 0; i < runs; i++)
    {
      double t;

      start = g_get_monotonic_time ();
      if (!drape_graph_run (graph, &error))
        g_error ("bench-conv: %s", error->message);
      t = (g_get_monotonic_time () - start) / 1e3;
      ms = i == 0 ? t : MIN (ms, t);
    }
  cpu = (cpu_ms () - cpu_start) / runs;
  flops = drape_graph_get_flops (graph);
  printf ("%-26s %s  best %8.2f ms %6.1f GFLOP/s   cpu %8.2f ms/run %6.1f GFLOP/s per core\n",
          s->name, drape_dtype_name (dtype), ms, flops / (ms * 1e6), cpu, flops / (cpu * 1e6));
  if (profile)
    print_profile (graph, runs);
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeDevice) device = NULL;
  gboolean f16 = FALSE, profile = FALSE;
  gint runs = 3;
  g_autofree char *only = NULL;
  GOptionEntry entries[] = {
    { "f16", 0, 0, G_OPTION_ARG_NONE, &f16, "f16 storage", NULL },
    { "runs", 0, 0, G_OPTION_ARG_INT, &runs, "timed runs per shape", "N" },
    { "profile", 0, 0, G_OPTION_ARG_NONE, &profile, "each op's time, from more runs", NULL },
    { "only", 0, 0, G_OPTION_ARG_STRING, &only, "shapes whose name contains this", "TEXT" },
    { NULL },
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- convolution, linear and attention throughput");

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  device = drape_device_new (NULL, &error);
  if (device == NULL)
    {
      g_printerr ("bench-conv: %s\n", error->message);
      return 1;
    }
  printf ("device: %s\n", drape_device_get_info (device)->name);
  for (guint i = 0; i < G_N_ELEMENTS (shapes); i++)
    if (only == NULL || strstr (shapes[i].name, only) != NULL)
      bench (device, &shapes[i], f16 ? DRAPE_DTYPE_F16 : DRAPE_DTYPE_F32, MAX (runs, 1),
               profile);
  return 0;
}
