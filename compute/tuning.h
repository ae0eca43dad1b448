/* tuning.h: the ways to run each problem that measuring found fastest
 *
 * Where an op can run a problem in several ways (a tensor-core GEMM's
 * tile and split of K, a convolution's kernel on devices without tensor
 * cores), a cost model picks one.  Cost models are fitted on the GPUs
 * someone measured; a tuning is what timing every way on this device
 * found instead, by problem (a description such as "conv2d f16 M12288
 * N320 K2880 C320"), in a JSON file per device, driver and Drape
 * version beside the pipeline cache.  drape_tuning_measure() makes one
 * (`drape-cli tune`); every device loads its own when created
 * (drape_device_get_tuning), and ops take its way where it names one
 * they have (drape_graph_choose, graph-private.h), else their usual.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "device.h"
#include "graph.h"

G_BEGIN_DECLS

/* DrapeTuning is declared in device.h, which owns one. */

/* What was measured of a problem: the fastest way and the usual one
 * (the cost model's), each in ms per graph run. */
typedef struct {
  const char *problem;
  const char *way;
  double ms;
  const char *usual;
  double usual_ms;
} DrapeTuningEntry;

/* Records one graph's ops (a UNet step, a VAE decode...) for
 * drape_tuning_measure and, where `results` is not NULL, appends the
 * tensors it computes (which the graph keeps until freed): what every
 * way must compute as the usual ways do.  FALSE with `error` set where
 * it cannot. */
typedef gboolean (*DrapeTuningRecordFunc) (DrapeGraph *graph,
                                           gpointer    user_data,
                                           GPtrArray  *results,
                                           GError    **error);

/* `done` of `total` trials measured (the total may grow as trials
 * record problems of more ways). */
typedef void (*DrapeTuningProgressFunc) (guint    done,
                                         guint    total,
                                         gpointer user_data);

/* What a tuning gains: of its problems, how many run another way than
 * their usual one, and their time per run the usual ways and its ways. */
typedef struct {
  guint problems;
  guint faster;
  double usual_ms;
  double ms;
} DrapeTuningGain;

DrapeTuning            *drape_tuning_new         (void);
void                    drape_tuning_free        (DrapeTuning            *tuning);
/* A file drape_tuning_save() wrote; errors name the file and what in it
 * is wrong. */
DrapeTuning            *drape_tuning_load        (const char             *path,
                                                  GError                **error);
/* Writes atomically, creating the folder; `device` names the device it
 * was measured on, for people reading the file. */
gboolean                drape_tuning_save        (DrapeTuning            *tuning,
                                                  const char             *path,
                                                  const char             *device,
                                                  GError                **error);
/* The way measured fastest for `problem`, or NULL. */
const char             *drape_tuning_lookup      (DrapeTuning            *tuning,
                                                  const char             *problem);
void                    drape_tuning_set         (DrapeTuning            *tuning,
                                                  const DrapeTuningEntry *entry);
/* Every entry, by problem; the array's strings belong to the tuning. */
GArray                 *drape_tuning_get_entries (DrapeTuning            *tuning);
guint                   drape_tuning_get_size    (DrapeTuning            *tuning);
void                    drape_tuning_get_gain    (DrapeTuning            *tuning,
                                                  DrapeTuningGain        *gain);
/* Times every way of every problem the graph that `record` records
 * chooses for (drape_graph_set_trial: one graph per trial, `runs`
 * profiled runs each after one to compile and warm), and sets each
 * problem's fastest in `tuning`.  Only ways that compute what the
 * usual ones do count: where a trial's results differ from a graph of
 * usual ways' (by more than summing in another order could), each of
 * its ways runs alone, and those whose results differ are left out
 * (with a message naming them).  Needs timestamps.  The usual ways are
 * timed first; `tuning` holds the fastest of the ways timed so far
 * whenever `progress` (may be NULL) hears, after them and after each
 * trial, so that a caller can keep them should the run end early.
 * `cancellable` is looked at between trials; where `deadline`
 * (monotonic time, 0 for none) has passed, no further trial starts
 * (progress then ends with `done` short of `total`). */
gboolean                drape_tuning_measure     (DrapeTuning            *tuning,
                                                  DrapeDevice            *device,
                                                  DrapeTuningRecordFunc   record,
                                                  gpointer                user_data,
                                                  guint                   runs,
                                                  gint64                  deadline,
                                                  DrapeTuningProgressFunc progress,
                                                  gpointer                progress_data,
                                                  GCancellable           *cancellable,
                                                  GError                **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DrapeTuning, drape_tuning_free)

G_END_DECLS
