/* workload.h: a try-on's graphs on random inputs, and tuning them
 *
 * What `drape-cli bench` times and what tuning (tuning.h) measures: the
 * graphs a try-on of width x height spends its time in, recorded from a
 * pipeline (its weights real or random) on random inputs.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "pipeline.h"
#include "tuning.h"

G_BEGIN_DECLS

typedef struct _DrapeWorkload DrapeWorkload;

typedef enum {
  DRAPE_WORKLOAD_UNET_STEP,   /* with guidance (batch 2), person and garment stacked */
  DRAPE_WORKLOAD_VAE_ENCODE,  /* both images */
  DRAPE_WORKLOAD_VAE_DECODE,
  DRAPE_WORKLOAD_N_GRAPHS,
} DrapeWorkloadGraph;

/* How drape_workload_tune gets on: `done` of `total` trials of `graph`
 * (0 of 0 as it starts). */
typedef void (*DrapeWorkloadProgress) (DrapeWorkloadGraph graph,
                                       guint              done,
                                       guint              total,
                                       gpointer           user_data);

DrapeWorkload *drape_workload_new         (DrapeDevice            *device,
                                           DrapePipeline          *pipeline,
                                           guint32                 width,
                                           guint32                 height,
                                           GError                **error);
void           drape_workload_free        (DrapeWorkload          *workload);
/* In English, for reports. */
const char    *drape_workload_graph_name  (DrapeWorkloadGraph      graph);
/* DrapeTuningRecordFunc, each with a DrapeWorkload as user_data. */
gboolean       drape_workload_unet_step   (DrapeGraph             *graph,
                                           gpointer                workload,
                                           GPtrArray              *results,
                                           GError                **error);
gboolean       drape_workload_vae_encode  (DrapeGraph             *graph,
                                           gpointer                workload,
                                           GPtrArray              *results,
                                           GError                **error);
gboolean       drape_workload_vae_decode  (DrapeGraph             *graph,
                                           gpointer                workload,
                                           GPtrArray              *results,
                                           GError                **error);
/* Measures the ways of each graph on `device` (drape_tuning_measure,
 * `runs` timed runs a trial) into `measured`, and after each trial adds
 * what it found to the device's tuning and saves that to `path`, so that
 * a run cut short (cancelled, or killed) keeps what it measured.  `deadline`
 * (monotonic time, 0 for none) holds for all the graphs, the UNet step
 * (which a try-on runs most) first: past it, each graph still times its
 * usual ways, and no other. */
gboolean       drape_workload_tune        (DrapeWorkload          *workload,
                                           DrapeDevice            *device,
                                           guint                   runs,
                                           gint64                  deadline,
                                           const char             *path,
                                           DrapeTuning            *measured,
                                           DrapeWorkloadProgress   progress,
                                           gpointer                progress_data,
                                           GCancellable           *cancellable,
                                           GError                **error);
/* n values uniform in [-1, 1], the same for the same seed. */
float         *drape_random_values        (gsize                   n,
                                           guint32                 seed);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DrapeWorkload, drape_workload_free)

G_END_DECLS
