/* graph.h: a model's ops, recorded once per input shape, replayed
 *
 * Model code calls op functions (ops.h) on a graph; each appends one or
 * more dispatches (nodes) and returns its output as a tensor in the
 * graph's activation arena.  drape_tensor_release() marks a tensor's range
 * free for the nodes that follow, so the arena ends up as large as the
 * most memory live at once, not the sum of all activations.
 * drape_graph_compile() then allocates the arena, writes every descriptor
 * and records the command buffers; drape_graph_run() replays them, with
 * no host work beyond the submission.  drape_graph_submit() and
 * drape_graph_wait() are its two halves, so the host can work (or submit
 * another graph) while one runs.
 *
 * Errors are sticky: an op given a wrong shape or dtype records the first
 * error on the graph and returns a placeholder tensor, so model code reads
 * as straight-line maths; compile (or drape_graph_check) reports it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "device.h"
#include "error.h"
#include "memory.h"
#include "tensor.h"

G_BEGIN_DECLS

typedef struct {
  const char *label;
  guint count;
  double total_ms;
  double flops;       /* summed, like total_ms */
  /* Only in drape_graph_get_dispatch_profile(): per call, what the op
   * said of the dispatch (or NULL), and the pipeline that ran it (its
   * key: drape_device_get_pipeline_statistics()). */
  guint64 workgroups;
  const char *detail;
  const char *kernel;
} DrapeOpTime;

/* The time of the dispatches that ran one way of a problem (tuning.h),
 * summed over `runs` profiled runs. */
typedef struct {
  const char *problem;
  const char *way;
  gboolean usual;  /* the way the op takes untuned */
  double total_ms;
  guint runs;
} DrapeWayTime;

DrapeGraph  *drape_graph_new            (DrapeDevice  *device,
                                         const char   *name);
void         drape_graph_free           (DrapeGraph   *graph);
DrapeDevice *drape_graph_get_device     (DrapeGraph   *graph);
DrapeTensor *drape_graph_tensor         (DrapeGraph   *graph,
                                         DrapeDType    dtype,
                                         guint32       n,
                                         guint32       h,
                                         guint32       w,
                                         guint32       c);
void         drape_tensor_release       (DrapeTensor  *tensor);
/* Where activations start in the arena, in bytes. */
#define DRAPE_GRAPH_ALIGNMENT 256
/* A new activation in `home`'s storage, `offset` bytes from its start
 * (a multiple of DRAPE_GRAPH_ALIGNMENT; negative: before it), for ops
 * that write their output over memory they are done with: the arena
 * gives home the bytes its guests reach, for as long as any of them
 * lives.  Whoever records the ops must order them so that none writes
 * what another still has to read. */
DrapeTensor *drape_graph_tensor_within (DrapeGraph  *graph,
                                        DrapeTensor *home,
                                        gint64       offset,
                                        DrapeDType   dtype,
                                        guint32      n,
                                        guint32      h,
                                        guint32      w,
                                        guint32      c);
void         drape_graph_fail           (DrapeGraph   *graph,
                                         DrapeError    code,
                                         const char   *format,
                                         ...) G_GNUC_PRINTF (3, 4);
gboolean     drape_graph_ok             (DrapeGraph   *graph);
gboolean     drape_graph_check          (DrapeGraph   *graph,
                                         GError      **error);
/* Checks that a tensor can be used by this graph (same device, not yet
 * released); records an error naming `op` and `what` if not. */
gboolean     drape_graph_check_tensor   (DrapeGraph        *graph,
                                         const char        *op,
                                         const char        *what,
                                         const DrapeTensor *tensor);
/* A tensor to return after an error: right shape where known, never
 * bound to memory. */
DrapeTensor *drape_graph_placeholder    (DrapeGraph        *graph,
                                         DrapeDType         dtype,
                                         guint32            n,
                                         guint32            h,
                                         guint32            w,
                                         guint32            c);
/* Timestamps after every dispatch, read at each wait (where the device
 * has them).  They cost a little and keep dispatches from overlapping,
 * so time a graph without them and profile it after: a compiled graph's
 * command buffers are recorded again.  Changing it while the graph is
 * in flight fails the graph. */
void         drape_graph_set_profiling  (DrapeGraph   *graph,
                                         gboolean      profiling);
/* Set before any op: the pipelines this graph's ops need build on the
 * device's builder threads, side by side, while recording goes on, and
 * compiling waits for them; where the driver refuses one that a slower
 * kernel could have stood in for, compiling fails with
 * DRAPE_ERROR_RECORD_AGAIN (a new graph recorded then takes the slower
 * one).  Without, each op's pipeline builds as the op records. */
void         drape_graph_set_background_builds (DrapeGraph *graph,
                                         gboolean      background);
/* Set before any op: `value` for the kernel-forcing variable `name`
 * (DRAPE_CONV_KERNEL, DRAPE_ATTENTION_KERNEL, DRAPE_ATTENTION_TILE:
 * HACKING.md) in this graph's ops alone, where the environment's would
 * count otherwise (NULL: the environment's again).  Tests force kernels
 * this way while pipelines build on other threads, where changing the
 * environment is not safe. */
void         drape_graph_set_choice     (DrapeGraph   *graph,
                                         const char   *name,
                                         const char   *value);
/* The graph's value of `name`, else the environment's. */
const char  *drape_graph_get_choice     (DrapeGraph   *graph,
                                         const char   *name);
gboolean     drape_graph_compile        (DrapeGraph   *graph,
                                         GError      **error);
/* Compiles into `arena`, a device buffer of at least
 * drape_graph_get_arena_size() bytes owned by the caller.  Graphs can
 * share one arena, even while in flight together: the queue runs them one
 * after another in submission order.  A pipeline then needs its largest
 * graph's activations, not their sum; an activation's contents are valid
 * only until another graph sharing the arena runs. */
gboolean     drape_graph_compile_in     (DrapeGraph   *graph,
                                         DrapeBuffer  *arena,
                                         GError      **error);
/* drape_graph_submit() then drape_graph_wait(). */
gboolean     drape_graph_run            (DrapeGraph   *graph,
                                         GError      **error);
/* Runs the graph over and over for `us` microseconds on a GPU, which
 * lowers its clocks when idle, so that what is timed next runs at the
 * clocks of sustained work; nothing on CPU drivers. */
gboolean     drape_graph_warm_up        (DrapeGraph   *graph,
                                         gint64        us,
                                         GError      **error);
/* Compiles if needed and submits without waiting (a fence of the graph's
 * own); graphs submitted one after another run in that order, each seeing
 * what the ones before wrote.  Until drape_graph_wait(), the host must not
 * write a tensor the graph reads nor read one it writes.  A graph still in
 * flight is refused (DRAPE_ERROR_INVALID_ARGUMENT): wait for it first.
 * On failure nothing is in flight. */
gboolean     drape_graph_submit         (DrapeGraph   *graph,
                                         GError      **error);
/* Waits for the last submission to finish and, when profiling, adds its
 * timestamps; TRUE at once when nothing is in flight.  Either way the
 * graph is no longer in flight afterwards.  drape_graph_free() waits too. */
gboolean     drape_graph_wait           (DrapeGraph   *graph,
                                         GError      **error);
guint        drape_graph_get_n_nodes    (DrapeGraph   *graph);
/* Execution barriers the compiled graph records: one after each command
 * buffer's last dispatch, and wherever a dispatch touches memory that one since the
 * last barrier wrote, or writes memory one read.  0 before compiling. */
guint        drape_graph_get_n_barriers (DrapeGraph   *graph);
guint64      drape_graph_get_arena_size (DrapeGraph   *graph);
double       drape_graph_get_flops      (DrapeGraph   *graph);
/* Per-op GPU time summed over every run since profiling was enabled or
 * last reset, aggregated by op label, most expensive first. */
GArray      *drape_graph_get_profile    (DrapeGraph   *graph);
/* The same, aggregated by dispatch shape instead: label, detail,
 * workgroups and FLOPs, so that each layer shape of a model gets its own
 * entry. */
GArray      *drape_graph_get_dispatch_profile (DrapeGraph *graph);
/* Forgets the runs so far: profiles of the steady state leave out the
 * first run's cold caches. */
void         drape_graph_reset_profile  (DrapeGraph   *graph);
/* Tuning (tuning.h).  Before ops are recorded: in trial t = 0, 1, ...
 * every op that chooses among ways to run a problem takes its t-th way
 * (its usual one where it has no more), so that runs of trials up to
 * drape_graph_get_n_trials() time every way; -1 (the default): the way
 * the device's tuning names, else the usual one. */
void         drape_graph_set_trial      (DrapeGraph   *graph,
                                         gint          trial);
/* In a trial, only `problem` takes the trial's way, every other problem
 * its usual one (NULL, the default: every problem): which of a trial's
 * ways computed something else. */
void         drape_graph_set_trial_problem (DrapeGraph *graph,
                                            const char *problem);
/* The most ways any problem recorded so far had. */
guint        drape_graph_get_n_trials   (DrapeGraph   *graph);
/* How many of the ops' choices the device's tuning made. */
guint        drape_graph_get_n_tuned    (DrapeGraph   *graph);
/* The profile by problem and the way it ran (DrapeWayTime). */
GArray      *drape_graph_get_way_profile (DrapeGraph  *graph);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DrapeGraph, drape_graph_free)

G_END_DECLS
