/* tuning.c: measured ways by problem; their file; measuring them
 *
 * The file:
 *   { "drape": VERSION, "device": NAME,
 *     "problems": { PROBLEM: { "way": W, "ms": T, "usual": U, "usual_ms": T } } }
 * Only "way" is needed to use an entry; the times say what it gained.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <float.h>
#include <json-glib/json-glib.h>
#include <math.h>

#include "error.h"
#include "tuning.h"

/* A way other than the usual one is taken only where it was this much
 * faster: closer than that is noise, on CPU drivers most of all. */
#define MIN_GAIN 0.03

/* A GPU lowers its clocks when idle: the usual ways' graph runs this
 * long before it is timed, and each trial after it (after recording its
 * graph and building its pipelines) the second, so that every graph is
 * timed at the clocks of sustained work. */
#define WARM_UP_US (1000 * 1000)
#define TRIAL_WARM_UP_US (200 * 1000)

/* How far a way's results may lie from the usual ways', as the RMS of
 * their difference over the RMS of the usual results: ways that sum in
 * another order differ by about 1e-3 through a UNet in f16, a wrong
 * tile by far more than this. */
#define MAX_DIFFERENCE 0.02

typedef struct {
  char *problem;
  char *way;
  double ms;
  char *usual;
  double usual_ms;
} Entry;

struct _DrapeTuning
{
  GHashTable *entries; /* problem -> Entry */
};

static void
entry_free (Entry *e)
{
  g_free (e->problem);
  g_free (e->way);
  g_free (e->usual);
  g_free (e);
}

DrapeTuning *
drape_tuning_new (void)
{
  DrapeTuning *tuning = g_new0 (DrapeTuning, 1);

  tuning->entries = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) entry_free);
  return tuning;
}

void
drape_tuning_free (DrapeTuning *tuning)
{
  if (tuning == NULL)
    return;
  g_hash_table_unref (tuning->entries);
  g_free (tuning);
}

const char *
drape_tuning_lookup (DrapeTuning *tuning,
                     const char  *problem)
{
  Entry *e = g_hash_table_lookup (tuning->entries, problem);

  return e != NULL ? e->way : NULL;
}

void
drape_tuning_set (DrapeTuning            *tuning,
                  const DrapeTuningEntry *entry)
{
  Entry *e = g_new0 (Entry, 1);

  g_return_if_fail (entry->problem != NULL && entry->way != NULL);
  e->problem = g_strdup (entry->problem);
  e->way = g_strdup (entry->way);
  e->ms = entry->ms;
  e->usual = g_strdup (entry->usual);
  e->usual_ms = entry->usual_ms;
  g_hash_table_replace (tuning->entries, e->problem, e);
}

guint
drape_tuning_get_size (DrapeTuning *tuning)
{
  return g_hash_table_size (tuning->entries);
}

void
drape_tuning_get_gain (DrapeTuning     *tuning,
                       DrapeTuningGain *gain)
{
  g_autoptr(GArray) entries = drape_tuning_get_entries (tuning);

  *gain = (DrapeTuningGain) { entries->len };
  for (guint i = 0; i < entries->len; i++)
    {
      const DrapeTuningEntry *e = &g_array_index (entries, DrapeTuningEntry, i);

      gain->faster += g_strcmp0 (e->way, e->usual) != 0;
      gain->usual_ms += e->usual_ms;
      gain->ms += e->ms;
    }
}

static gint
compare_problems (gconstpointer a,
                  gconstpointer b)
{
  return g_strcmp0 (((const DrapeTuningEntry *) a)->problem, ((const DrapeTuningEntry *) b)->problem);
}

GArray *
drape_tuning_get_entries (DrapeTuning *tuning)
{
  GArray *entries = g_array_new (FALSE, TRUE, sizeof (DrapeTuningEntry));
  GHashTableIter iter;
  Entry *e;

  g_hash_table_iter_init (&iter, tuning->entries);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &e))
    {
      DrapeTuningEntry out = { e->problem, e->way, e->ms, e->usual, e->usual_ms };
      g_array_append_val (entries, out);
    }
  g_array_sort (entries, compare_problems);
  return entries;
}

/* A number member of `o`, or 0 where it is absent; FALSE where it is
 * something else. */
static gboolean
optional_double (JsonObject *o,
                 const char *name,
                 double     *value)
{
  JsonNode *node = json_object_get_member (o, name);

  *value = 0;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) == G_TYPE_STRING ||
      json_node_get_value_type (node) == G_TYPE_BOOLEAN)
    return FALSE;
  *value = json_node_get_double (node);
  return TRUE;
}

/* A string member of `o`, or NULL where absent or not a string. */
static const char *
string_member (JsonObject *o,
               const char *name)
{
  JsonNode *node = json_object_get_member (o, name);

  return node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
         json_node_get_value_type (node) == G_TYPE_STRING ? json_node_get_string (node) : NULL;
}

DrapeTuning *
drape_tuning_load (const char *path,
                   GError    **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(DrapeTuning) tuning = drape_tuning_new ();
  g_autoptr(GError) local = NULL;
  JsonNode *root;
  JsonObject *problems;
  GList *names;

  if (!json_parser_load_from_file (parser, path, &local))
    {
      if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_IO, "%s: no such file", path);
      else
        g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT, "%s: %s", path, local->message);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root) ||
      json_object_get_member (json_node_get_object (root), "problems") == NULL ||
      !JSON_NODE_HOLDS_OBJECT (json_object_get_member (json_node_get_object (root), "problems")))
    {
      drape_set_format_error (error, path, "not a tuning: no object \"problems\"");
      return NULL;
    }
  problems = json_object_get_object_member (json_node_get_object (root), "problems");
  names = json_object_get_members (problems);
  for (GList *l = names; l != NULL; l = l->next)
    {
      JsonNode *node = json_object_get_member (problems, l->data);
      JsonObject *o = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
      DrapeTuningEntry e = { .problem = l->data };

      if (o != NULL)
        {
          e.way = string_member (o, "way");
          e.usual = string_member (o, "usual");
        }
      if (o == NULL || e.way == NULL || !optional_double (o, "ms", &e.ms) ||
          !optional_double (o, "usual_ms", &e.usual_ms))
        {
          drape_set_format_error (error, path, "problem \"%s\": expected { \"way\": string, "
                                  "\"ms\": number, ... }", (const char *) l->data);
          g_list_free (names);
          return NULL;
        }
      drape_tuning_set (tuning, &e);
    }
  g_list_free (names);
  return g_steal_pointer (&tuning);
}

gboolean
drape_tuning_save (DrapeTuning *tuning,
                   const char  *path,
                   const char  *device,
                   GError     **error)
{
  g_autoptr(JsonBuilder) b = json_builder_new ();
  g_autoptr(JsonGenerator) gen = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GArray) entries = drape_tuning_get_entries (tuning);
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *json = NULL;
  g_autofree char *text = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "drape");
  json_builder_add_string_value (b, PACKAGE_VERSION);
  json_builder_set_member_name (b, "device");
  json_builder_add_string_value (b, device);
  json_builder_set_member_name (b, "problems");
  json_builder_begin_object (b);
  for (guint i = 0; i < entries->len; i++)
    {
      const DrapeTuningEntry *e = &g_array_index (entries, DrapeTuningEntry, i);

      json_builder_set_member_name (b, e->problem);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "way");
      json_builder_add_string_value (b, e->way);
      json_builder_set_member_name (b, "ms");
      json_builder_add_double_value (b, e->ms);
      if (e->usual != NULL)
        {
          json_builder_set_member_name (b, "usual");
          json_builder_add_string_value (b, e->usual);
          json_builder_set_member_name (b, "usual_ms");
          json_builder_add_double_value (b, e->usual_ms);
        }
      json_builder_end_object (b);
    }
  json_builder_end_object (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  json = json_generator_to_data (gen, NULL);
  /* A text file ends in a newline. */
  text = g_strconcat (json, "\n", NULL);

  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      int saved = errno;
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_IO, "%s: %s", dir, g_strerror (saved));
      return FALSE;
    }
  if (!g_file_set_contents (path, text, -1, error))
    {
      g_prefix_error (error, "Tuning not saved: ");
      return FALSE;
    }
  return TRUE;
}

/* What the trials found for a problem: its fastest way and the usual
 * one, each at its best time per run (ways and the key interned). */
typedef struct {
  const char *way;
  double ms;
  const char *usual;
  double usual_ms;
} Best;

/* A trial's times, but for the problems in `wrong`. */
static void
add_trial (GHashTable *best,
           DrapeGraph *graph,
           GHashTable *wrong)
{
  g_autoptr(GArray) times = drape_graph_get_way_profile (graph);

  for (guint i = 0; i < times->len; i++)
    {
      const DrapeWayTime *t = &g_array_index (times, DrapeWayTime, i);
      double ms = t->total_ms / MAX (t->runs, 1);
      Best *b = g_hash_table_lookup (best, t->problem);

      if (g_hash_table_contains (wrong, t->problem))
        continue;

      if (b == NULL)
        {
          b = g_new0 (Best, 1);
          b->ms = b->usual_ms = G_MAXDOUBLE;
          g_hash_table_insert (best, (gpointer) t->problem, b);
        }
      if (ms < b->ms)
        {
          b->way = t->way;
          b->ms = ms;
        }
      if (t->usual && ms < b->usual_ms)
        {
          b->usual = t->way;
          b->usual_ms = ms;
        }
    }
}

/* Each problem's fastest way into `tuning`, where it beats the usual
 * one by MIN_GAIN; else the usual. */
static void
choose_ways (GHashTable  *best,
             DrapeTuning *tuning)
{
  GHashTableIter iter;
  const char *problem;
  const Best *b;

  g_hash_table_iter_init (&iter, best);
  while (g_hash_table_iter_next (&iter, (gpointer *) &problem, (gpointer *) &b))
    {
      DrapeTuningEntry e = { problem, b->way, b->ms, b->usual, b->usual != NULL ? b->usual_ms : 0 };

      if (b->usual != NULL && b->ms > b->usual_ms * (1 - MIN_GAIN))
        {
          e.way = b->usual;
          e.ms = b->usual_ms;
        }
      drape_tuning_set (tuning, &e);
    }
}

/* Each result tensor's values, as a GArray of floats. */
static GPtrArray *
download_results (GPtrArray *tensors,
                  GError   **error)
{
  g_autoptr(GPtrArray) values = g_ptr_array_new_with_free_func ((GDestroyNotify) g_array_unref);

  for (guint i = 0; i < tensors->len; i++)
    {
      const DrapeTensor *tensor = g_ptr_array_index (tensors, i);
      GArray *v = g_array_sized_new (FALSE, FALSE, sizeof (float), drape_tensor_numel (tensor));

      g_array_set_size (v, drape_tensor_numel (tensor));
      g_ptr_array_add (values, v);
      if (!drape_tensor_download (tensor, (float *) v->data, v->len, error))
        return NULL;
    }
  return g_steal_pointer (&values);
}

/* How far `got` lies from `ref` (MAX_DIFFERENCE's measure; the largest
 * over the results): G_MAXDOUBLE where a value is not finite that is in
 * `ref`. */
static double
results_difference (GPtrArray *ref,
                    GPtrArray *got)
{
  double worst = 0;

  for (guint i = 0; i < ref->len; i++)
    {
      const GArray *r = g_ptr_array_index (ref, i), *g = g_ptr_array_index (got, i);
      double diff = 0, norm = 0;

      for (guint j = 0; j < r->len; j++)
        {
          double a = g_array_index (r, float, j), b = g_array_index (g, float, j);

          if (!isfinite (a))
            continue;
          if (!isfinite (b))
            return G_MAXDOUBLE;
          diff += (b - a) * (b - a);
          norm += a * a;
        }
      worst = MAX (worst, diff == 0 ? 0 : sqrt (diff / MAX (norm, DBL_MIN)));
    }
  return worst;
}

/* An empty graph for trial `trial` (where `problem` is not NULL, only
 * its way the trial's), its pipelines built side by side. */
static DrapeGraph *
trial_graph (DrapeDevice *device,
             gint         trial,
             const char  *problem)
{
  DrapeGraph *graph = drape_graph_new (device, "tuning trial");

  drape_graph_set_background_builds (graph, TRUE);
  drape_graph_set_trial (graph, trial);
  drape_graph_set_trial_problem (graph, problem);
  return graph;
}

/* Whether `deadline` (0: none) is still ahead. */
static gboolean
before_deadline (gint64 deadline)
{
  return deadline <= 0 || g_get_monotonic_time () < deadline;
}

/* Records trial `trial`'s graph (where `problem` is not NULL, only its
 * way the trial's: drape_graph_set_trial_problem), its new pipelines
 * built side by side, runs it once and downloads its results into
 * *results; recorded again where a kernel turns out to be one the
 * driver refuses. */
static DrapeGraph *
run_trial (DrapeDevice          *device,
           DrapeTuningRecordFunc record,
           gpointer              user_data,
           gint                  trial,
           const char           *problem,
           GPtrArray           **results,
           GError              **error)
{
  for (;;)
    {
      g_autoptr(DrapeGraph) graph = trial_graph (device, trial, problem);
      g_autoptr(GPtrArray) tensors = g_ptr_array_new ();
      g_autoptr(GError) local_error = NULL;

      if (record (graph, user_data, tensors, &local_error) && drape_graph_run (graph, &local_error))
        {
          *results = download_results (tensors, error);
          return *results != NULL ? g_steal_pointer (&graph) : NULL;
        }
      if (!g_error_matches (local_error, DRAPE_ERROR, DRAPE_ERROR_RECORD_AGAIN))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return NULL;
        }
    }
}

/* Records trial `trial`'s graph and drops it: its new pipelines build
 * in the background while the caller times the trial before, and the
 * trial's own recording finds them built or under way.  Errors are the
 * trial's own recording's to report. */
static void
record_ahead (DrapeDevice          *device,
              DrapeTuningRecordFunc record,
              gpointer              user_data,
              gint                  trial)
{
  g_autoptr(DrapeGraph) graph = trial_graph (device, trial, NULL);
  g_autoptr(GPtrArray) tensors = g_ptr_array_new ();

  record (graph, user_data, tensors, NULL);
}

/* The problems (interned) whose way in trial `trial` computes something
 * else than their usual one: none where the trial's results lie within
 * MAX_DIFFERENCE of the usual ways' `reference`, else those whose way
 * alone takes them past it.  NULL with `error` set where a graph fails. */
static GHashTable *
wrong_ways (DrapeDevice          *device,
            DrapeTuningRecordFunc record,
            gpointer              user_data,
            gint                  trial,
            DrapeGraph           *graph,
            GPtrArray            *reference,
            GPtrArray            *results,
            GError              **error)
{
  g_autoptr(GHashTable) wrong = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GArray) times = NULL;
  double difference = results_difference (reference, results);

  g_debug ("tuning trial %d: %.3g relative difference from the usual ways", trial, difference);
  if (difference <= MAX_DIFFERENCE)
    return g_steal_pointer (&wrong);
  times = drape_graph_get_way_profile (graph);
  for (guint i = 0; i < times->len; i++)
    {
      const DrapeWayTime *t = &g_array_index (times, DrapeWayTime, i);
      g_autoptr(GPtrArray) alone = NULL;
      g_autoptr(DrapeGraph) probe = NULL;

      if (t->usual)
        continue;
      probe = run_trial (device, record, user_data, trial, t->problem, &alone, error);
      if (probe == NULL)
        return NULL;
      difference = results_difference (reference, alone);
      if (difference > MAX_DIFFERENCE)
        {
          g_message ("%s: way %s computes something else than the usual way (%.3g relative "
                     "difference): left out", t->problem, t->way, difference);
          g_hash_table_add (wrong, (gpointer) t->problem);
        }
    }
  return g_steal_pointer (&wrong);
}

/* Warms a trial's graph up and runs it `runs` times, profiled. */
static gboolean
time_trial (DrapeGraph *graph,
            gint64      warm_up_us,
            guint       runs,
            GError    **error)
{
  if (!drape_graph_warm_up (graph, warm_up_us, error))
    return FALSE;
  drape_graph_set_profiling (graph, TRUE);
  for (guint i = 0; i < MAX (runs, 1); i++)
    if (!drape_graph_run (graph, error))
      return FALSE;
  return TRUE;
}

gboolean
drape_tuning_measure (DrapeTuning            *tuning,
                      DrapeDevice            *device,
                      DrapeTuningRecordFunc   record,
                      gpointer                user_data,
                      guint                   runs,
                      gint64                  deadline,
                      DrapeTuningProgressFunc progress,
                      gpointer                progress_data,
                      GCancellable           *cancellable,
                      GError                **error)
{
  /* Problem (interned) -> Best. */
  g_autoptr(GHashTable) best = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  g_autoptr(GHashTable) none_wrong = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GPtrArray) reference = NULL;
  guint n_trials;

  if (!drape_device_get_caps (device)->has_timestamps)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED,
                   "%s has no timestamps to time the ways with", drape_device_get_info (device)->name);
      return FALSE;
    }
  /* Past every problem's last way: the usual ones, whose results every
   * trial's must match; timed first, so that a tuning cut short by its
   * deadline holds what it timed against them. */
  {
    g_autoptr(DrapeGraph) usual = run_trial (device, record, user_data, G_MAXINT, NULL, &reference, error);

    if (usual == NULL)
      return FALSE;
    n_trials = drape_graph_get_n_trials (usual);
    if (n_trials > 0 && before_deadline (deadline))
      record_ahead (device, record, user_data, 0);
    if (!time_trial (usual, WARM_UP_US, runs, error))
      return FALSE;
    add_trial (best, usual, none_wrong);
  }
  choose_ways (best, tuning);
  if (progress != NULL && n_trials > 0)
    progress (0, n_trials, progress_data);
  for (guint trial = 0; trial < n_trials; trial++)
    {
      g_autoptr(GPtrArray) results = NULL;
      g_autoptr(GHashTable) wrong = NULL;
      g_autoptr(DrapeGraph) graph = NULL;

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      if (!before_deadline (deadline))
        break;
      graph = run_trial (device, record, user_data, (gint) trial, NULL, &results, error);
      if (graph == NULL)
        return FALSE;
      n_trials = MAX (n_trials, drape_graph_get_n_trials (graph));
      if (trial + 1 < n_trials && before_deadline (deadline))
        record_ahead (device, record, user_data, (gint) trial + 1);
      if (!time_trial (graph, TRIAL_WARM_UP_US, runs, error))
        return FALSE;
      wrong = wrong_ways (device, record, user_data, (gint) trial, graph, reference, results, error);
      if (wrong == NULL)
        return FALSE;
      add_trial (best, graph, wrong);
      choose_ways (best, tuning);
      if (progress != NULL)
        progress (trial + 1, n_trials, progress_data);
    }
  return TRUE;
}
