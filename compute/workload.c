/* workload.c: a try-on's graphs on random inputs, and tuning them
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "unet.h"
#include "vae.h"
#include "workload.h"

struct _DrapeWorkload
{
  DrapePipeline *pipeline;  /* not owned */
  DrapeTensor *sample;      /* the UNet's: guidance batch 2, 9 channels */
  DrapeTensor *timestep;
  DrapeTensor *images;      /* the encoder's: person and garment */
  DrapeTensor *latent;      /* the decoder's */
};

float *
drape_random_values (gsize   n,
                     guint32 seed)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  float *v = g_new (float, n);

  for (gsize i = 0; i < n; i++)
    v[i] = (float) g_rand_double_range (rand, -1.0, 1.0);
  return v;
}

static DrapeTensor *
random_tensor (DrapeDevice *device,
               guint32      n,
               guint32      h,
               guint32      w,
               guint32      c,
               GError     **error)
{
  g_autofree float *v = drape_random_values ((gsize) n * h * w * c, n * h + w * c);
  DrapeTensor *t = drape_tensor_new (device, DRAPE_DTYPE_F32, n, h, w, c, error);

  if (t != NULL && !drape_tensor_upload (t, v, drape_tensor_numel (t), error))
    g_clear_pointer (&t, drape_tensor_free);
  return t;
}

DrapeWorkload *
drape_workload_new (DrapeDevice   *device,
                    DrapePipeline *pipeline,
                    guint32        width,
                    guint32        height,
                    GError       **error)
{
  g_autoptr(DrapeWorkload) w = g_new0 (DrapeWorkload, 1);
  guint32 lh = height / 8, lw = width / 8;
  float ts[2] = { 981, 981 };

  w->pipeline = pipeline;
  /* Person and garment stacked along height, as a try-on runs them. */
  if ((w->sample = random_tensor (device, 2, 2 * lh, lw, 9, error)) == NULL ||
      (w->timestep = drape_tensor_new (device, DRAPE_DTYPE_F32, 2, 1, 1, 1, error)) == NULL ||
      !drape_tensor_upload (w->timestep, ts, 2, error) ||
      (w->images = random_tensor (device, 2, height, width, 3, error)) == NULL ||
      (w->latent = random_tensor (device, 1, lh, lw, 4, error)) == NULL)
    return NULL;
  return g_steal_pointer (&w);
}

void
drape_workload_free (DrapeWorkload *w)
{
  if (w == NULL)
    return;
  drape_tensor_free (w->sample);
  drape_tensor_free (w->timestep);
  drape_tensor_free (w->images);
  drape_tensor_free (w->latent);
  g_free (w);
}

/* A graph's output among the results a tuning holds its ways to, where
 * asked for. */
static void
add_result (GPtrArray   *results,
            DrapeTensor *out)
{
  if (results != NULL && out != NULL)
    g_ptr_array_add (results, out);
}

gboolean
drape_workload_unet_step (DrapeGraph *graph,
                          gpointer    workload,
                          GPtrArray  *results,
                          GError    **error)
{
  DrapeWorkload *w = workload;

  add_result (results, drape_unet_forward (drape_pipeline_get_unet (w->pipeline), graph, w->sample,
                                           w->timestep, NULL));
  return drape_graph_check (graph, error);
}

gboolean
drape_workload_vae_encode (DrapeGraph *graph,
                           gpointer    workload,
                           GPtrArray  *results,
                           GError    **error)
{
  DrapeWorkload *w = workload;

  add_result (results, drape_vae_encode (drape_pipeline_get_vae (w->pipeline), graph, w->images, NULL));
  return drape_graph_check (graph, error);
}

gboolean
drape_workload_vae_decode (DrapeGraph *graph,
                           gpointer    workload,
                           GPtrArray  *results,
                           GError    **error)
{
  DrapeWorkload *w = workload;

  add_result (results, drape_vae_decode (drape_pipeline_get_vae (w->pipeline), graph, w->latent, NULL));
  return drape_graph_check (graph, error);
}

const char *
drape_workload_graph_name (DrapeWorkloadGraph graph)
{
  static const char *const names[DRAPE_WORKLOAD_N_GRAPHS] = {
    [DRAPE_WORKLOAD_UNET_STEP] = "UNet step",
    [DRAPE_WORKLOAD_VAE_ENCODE] = "VAE encode",
    [DRAPE_WORKLOAD_VAE_DECODE] = "VAE decode",
  };

  g_return_val_if_fail (graph < DRAPE_WORKLOAD_N_GRAPHS, NULL);
  return names[graph];
}

/* drape_tuning_measure's progress, told of its graph, and what it has
 * measured, kept as it goes. */
typedef struct {
  DrapeWorkloadProgress func;
  gpointer data;
  DrapeWorkloadGraph graph;
  DrapeDevice *device;
  const char *path;
  DrapeTuning *measured;
  GError *error;  /* the first save that failed */
} TrialProgress;

/* What has been measured, into what the device already had (other
 * sizes, other models), saved. */
static gboolean
keep_measured (TrialProgress *trial,
               GError       **error)
{
  DrapeTuning *tuning = drape_device_get_tuning (trial->device);
  g_autoptr(GArray) found = drape_tuning_get_entries (trial->measured);

  for (guint j = 0; j < found->len; j++)
    drape_tuning_set (tuning, &g_array_index (found, DrapeTuningEntry, j));
  return drape_device_save_tuning (trial->device, trial->path, error);
}

static void
on_trial (guint    done,
          guint    total,
          gpointer user_data)
{
  TrialProgress *trial = user_data;

  /* After each trial, so that a run killed in the next keeps this one. */
  if (total > 0 && trial->error == NULL)
    keep_measured (trial, &trial->error);
  if (trial->func != NULL)
    trial->func (trial->graph, done, total, trial->data);
}

gboolean
drape_workload_tune (DrapeWorkload          *w,
                     DrapeDevice            *device,
                     guint                   runs,
                     gint64                  deadline,
                     const char             *path,
                     DrapeTuning            *measured,
                     DrapeWorkloadProgress   progress,
                     gpointer                progress_data,
                     GCancellable           *cancellable,
                     GError                **error)
{
  static const DrapeTuningRecordFunc records[DRAPE_WORKLOAD_N_GRAPHS] = {
    [DRAPE_WORKLOAD_UNET_STEP] = drape_workload_unet_step,
    [DRAPE_WORKLOAD_VAE_ENCODE] = drape_workload_vae_encode,
    [DRAPE_WORKLOAD_VAE_DECODE] = drape_workload_vae_decode,
  };

  for (guint i = 0; i < DRAPE_WORKLOAD_N_GRAPHS; i++)
    {
      TrialProgress trial = { progress, progress_data, i, device, path, measured, NULL };

      on_trial (0, 0, &trial);
      if (!drape_tuning_measure (measured, device, records[i], w, runs, deadline, on_trial, &trial,
                                 cancellable, error))
        {
          g_clear_error (&trial.error);
          return FALSE;
        }
      if (trial.error != NULL)
        {
          g_propagate_error (error, trial.error);
          return FALSE;
        }
      /* Saved even where the graph had no ways to time. */
      if (!keep_measured (&trial, error))
        return FALSE;
    }
  return TRUE;
}
