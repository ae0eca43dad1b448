/* cli-models.c: drape-cli models: list, fetch, verify, path, remove, ready
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <glib-unix.h>

#include "cli.h"
#include "error.h"
#include "model-store.h"

/* Exit status of fetch --probe-timeout when the hub does not answer. */
#define EXIT_UNREACHABLE 3
/* Exit status after Ctrl-C, as a shell reports a SIGINT death. */
#define EXIT_INTERRUPTED 130

typedef struct {
  char *models_dir;
  char *catalog_dir;
} Common;

static void
common_clear (Common *common)
{
  g_free (common->models_dir);
  g_free (common->catalog_dir);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Common, common_clear)

static void
add_common (GOptionContext *context,
            Common         *common)
{
  const GOptionEntry entries[] = {
    { "models-dir", 0, 0, G_OPTION_ARG_FILENAME, &common->models_dir,
      "Where models live (default: $DRAPE_MODELS_DIR, else $XDG_DATA_HOME/drape/models)", "DIR" },
    { "catalog", 0, 0, G_OPTION_ARG_FILENAME, &common->catalog_dir,
      "The folder of model manifests (default: $DRAPE_CATALOG_DIR, else the installed one)", "DIR" },
    { NULL }
  };

  g_option_context_add_main_entries (context, entries, NULL);
}

static DrapeModelStore *
open_store (Common  *common,
            GError **error)
{
  g_autoptr(DrapeCatalog) catalog = NULL;
  g_autofree char *dir = NULL;

  catalog = common->catalog_dir != NULL ? drape_catalog_load (common->catalog_dir, error)
                                        : drape_catalog_load_default (error);
  if (catalog == NULL)
    return NULL;
  dir = common->models_dir != NULL ? g_strdup (common->models_dir) : drape_model_store_resolve_dir (NULL);
  return drape_model_store_new (catalog, dir);
}

static GOptionContext *
new_context (const char *parameters,
             const char *summary,
             Common     *common)
{
  GOptionContext *context = g_option_context_new (parameters);

  g_option_context_set_summary (context, summary);
  add_common (context, common);
  return context;
}

static char *
format_size (const DrapeModelInfo *info)
{
  gboolean exact;
  guint64 size = drape_model_info_get_size (info, &exact);
  g_autofree char *text = g_format_size_full (size, G_FORMAT_SIZE_IEC_UNITS);

  if (exact)
    return g_steal_pointer (&text);
  return size > 0 ? g_strdup_printf ("> %s", text) : g_strdup ("unknown");
}

static char *
format_duration (double seconds)
{
  guint64 s = (guint64) (seconds + 0.5);

  if (s >= 3600)
    return g_strdup_printf ("%" G_GUINT64_FORMAT "h%02" G_GUINT64_FORMAT "m", s / 3600, s / 60 % 60);
  if (s >= 60)
    return g_strdup_printf ("%" G_GUINT64_FORMAT "m%02" G_GUINT64_FORMAT "s", s / 60, s % 60);
  return g_strdup_printf ("%" G_GUINT64_FORMAT "s", s);
}

/* list */

static int
models_list (int    argc,
             char **argv)
{
  g_auto(Common) common = { 0 };
  g_autoptr(GOptionContext) context = new_context ("- list the models Drape can use and their state",
                                                   "* marks what `fetch` gets without arguments.", &common);
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeModelStore) store = NULL;
  DrapeCatalog *catalog;

  if (!g_option_context_parse (context, &argc, &argv, &error))
    return drape_cli_fail_error (error);
  if (argc > 1)
    return drape_cli_fail ("models list takes no arguments");
  store = open_store (&common, &error);
  if (store == NULL)
    return drape_cli_fail_error (error);
  catalog = drape_model_store_get_catalog (store);

  printf ("Models in %s\n\n", drape_model_store_get_dir (store));
  printf ("  %-28s %-10s %-11s %-10s %s\n", "ID", "ROLE", "SIZE", "STATE", "LICENCE");
  for (guint i = 0; i < drape_catalog_get_n_models (catalog); i++)
    {
      const DrapeModelInfo *info = drape_catalog_get_nth (catalog, i);
      g_auto(DrapeModelStatus) status = { 0 };
      g_autoptr(GError) local_error = NULL;
      g_autofree char *size = format_size (info);
      const char *state;

      if (drape_model_store_check (store, info, DRAPE_CHECK_QUICK, NULL, NULL, NULL, &status, &local_error))
        state = drape_model_state_to_string (status.state);
      else
        state = "unreadable";
      printf ("%c %-28s %-10s %-11s %-10s %s\n", info->is_default ? '*' : ' ', info->id,
              drape_model_role_to_string (info->role), size, state, info->licence_name);
      if (local_error != NULL)
        printf ("    %s\n", local_error->message);
      else if (status.state == DRAPE_MODEL_CORRUPT || status.state == DRAPE_MODEL_PARTIAL)
        printf ("    %s\n", status.message);
    }
  return 0;
}

/* fetch */

typedef struct {
  GMainLoop *loop;
  GCancellable *cancellable;
  gboolean terminal;
  guint columns;
  gboolean line_open;       /* a progress bar is on the terminal's last line */
  gint64 last_plain;        /* when the last plain progress line was printed */
  guint last_file;
  gboolean ok;
  GError *error;
} FetchView;

static guint
terminal_columns (void)
{
  struct winsize size;

  if (ioctl (STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col >= 40)
    return size.ws_col;
  return 80;
}

static void
draw_bar (FetchView                *view,
          const DrapeFetchProgress *p)
{
  g_autofree char *done = g_format_size_full (p->done, G_FORMAT_SIZE_IEC_UNITS);
  g_autofree char *total = g_format_size_full (p->total, G_FORMAT_SIZE_IEC_UNITS);
  g_autofree char *rate = p->rate > 0 ? g_format_size_full ((guint64) p->rate, G_FORMAT_SIZE_IEC_UNITS) : NULL;
  g_autofree char *eta = p->eta_s >= 0 ? format_duration (p->eta_s) : NULL;
  g_autofree char *eta_text = eta != NULL ? g_strdup_printf ("  %s left", eta) : g_strdup ("");
  g_autofree char *numbers = NULL;
  g_autoptr(GString) line = g_string_new (NULL);
  double fraction = p->total > 0 ? MIN (1.0, (double) p->done / (double) p->total) : 0.0;
  const guint width = 24;
  guint filled = (guint) (fraction * width);
  int room;

  g_string_append_c (line, '[');
  for (guint i = 0; i < width; i++)
    g_string_append_c (line, i < filled ? '#' : '-');
  numbers = g_strdup_printf ("] %3d%%  %s / %s%s  %s%s%s  ", (int) (fraction * 100), done, total,
                             p->total_exact ? "" : "+", rate != NULL ? rate : "", rate != NULL ? "/s" : "",
                             eta_text);
  g_string_append (line, numbers);
  /* The file name takes what is left of the line, cut from the left. */
  room = (int) view->columns - 1 - (int) g_utf8_strlen (line->str, -1);
  if (room > 3)
    {
      const char *file = p->phase == DRAPE_FETCH_CHECKING ? "checking" : p->file;
      glong length = g_utf8_strlen (file, -1);

      if (length > room)
        g_string_append_printf (line, "...%s", g_utf8_offset_to_pointer (file, length - room + 3));
      else
        g_string_append (line, file);
    }
  printf ("\r%-*s", (int) view->columns - 1, line->str);
  fflush (stdout);
  view->line_open = TRUE;
}

static void
end_bar_line (FetchView *view)
{
  if (view->line_open)
    {
      printf ("\r%-*s\r", (int) view->columns - 1, "");
      view->line_open = FALSE;
    }
}

static void
on_progress (const DrapeFetchProgress *p,
             gpointer                  user_data)
{
  FetchView *view = user_data;
  gint64 now = g_get_monotonic_time ();

  if (p->phase == DRAPE_FETCH_DOWNLOADING && p->file_index != view->last_file)
    {
      g_autofree char *size = p->file_total > 0 ? g_format_size_full (p->file_total, G_FORMAT_SIZE_IEC_UNITS)
                                                : g_strdup ("size unknown");
      end_bar_line (view);
      printf ("Downloading %s/%s (%s)%s\n", p->model_id, p->file, size,
              p->file_done > 0 ? ", resuming" : "");
      view->last_file = p->file_index;
      view->last_plain = now;
    }
  else if (p->phase == DRAPE_FETCH_FILE_DONE)
    {
      end_bar_line (view);
      printf ("  %s/%s verified\n", p->model_id, p->file);
      return;
    }
  if (view->terminal)
    draw_bar (view, p);
  else if (now - view->last_plain >= 5 * G_USEC_PER_SEC)
    {
      g_autofree char *done = g_format_size_full (p->done, G_FORMAT_SIZE_IEC_UNITS);
      g_autofree char *total = g_format_size_full (p->total, G_FORMAT_SIZE_IEC_UNITS);
      g_autofree char *eta = p->eta_s >= 0 ? format_duration (p->eta_s) : g_strdup ("unknown");

      printf ("  %s of %s, %.1f MiB/s, %s left\n", done, total, p->rate / (1 << 20), eta);
      view->last_plain = now;
    }
  fflush (stdout);
}

static gboolean
on_interrupt (gpointer user_data)
{
  FetchView *view = user_data;

  g_cancellable_cancel (view->cancellable);
  return G_SOURCE_CONTINUE;
}

static void
on_fetched (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  FetchView *view = user_data;

  view->ok = drape_model_store_fetch_finish (NULL, result, &view->error);
  g_main_loop_quit (view->loop);
}

static int
models_fetch (int    argc,
              char **argv)
{
  g_auto(Common) common = { 0 };
  g_autoptr(GOptionContext) context = new_context ("[ID...] - download models, verified, resuming partial files",
                                                   "Without IDs: what the default try-on and auto-mask need.\n"
                                                   "HF_ENDPOINT picks a mirror, HF_TOKEN is sent for gated repositories.",
                                                   &common);
  gboolean force = FALSE, all = FALSE;
  int probe_timeout = 0;
  const GOptionEntry entries[] = {
    { "force", 0, 0, G_OPTION_ARG_NONE, &force, "Download again even what is present and verified", NULL },
    { "all", 0, 0, G_OPTION_ARG_NONE, &all, "Every model of the catalog", NULL },
    { "probe-timeout", 0, 0, G_OPTION_ARG_INT, &probe_timeout,
      "First check that the hub answers within SECONDS; exit with status 3 if not", "SECONDS" },
    { NULL }
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeModelStore) store = NULL;
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  FetchView view = { .loop = loop, .cancellable = cancellable };
  DrapeFetchOptions options;
  DrapeCatalog *catalog;
  guint sigint, sigterm;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return drape_cli_fail_error (error);
  store = open_store (&common, &error);
  if (store == NULL)
    return drape_cli_fail_error (error);
  catalog = drape_model_store_get_catalog (store);

  for (int i = 1; i < argc; i++)
    {
      if (drape_catalog_require (catalog, argv[i], &error) == NULL)
        return drape_cli_fail_error (error);
      g_ptr_array_add (ids, g_strdup (argv[i]));
    }
  if (ids->len == 0)
    for (guint i = 0; i < drape_catalog_get_n_models (catalog); i++)
      {
        const DrapeModelInfo *info = drape_catalog_get_nth (catalog, i);
        if (all || info->is_default)
          g_ptr_array_add (ids, g_strdup (info->id));
      }
  g_ptr_array_add (ids, NULL);

  drape_fetch_options_init (&options);
  options.force = force;
  if (probe_timeout > 0)
    {
      g_autoptr(DrapeDownloader) downloader = drape_downloader_new (&options, &error);

      if (downloader == NULL)
        return drape_cli_fail_error (error);
      if (!drape_downloader_probe (downloader, (guint) probe_timeout, NULL, &error))
        {
          drape_cli_fail_error (error);
          return EXIT_UNREACHABLE;
        }
    }

  printf ("Fetching into %s\n", drape_model_store_get_dir (store));
  for (guint i = 0; i + 1 < ids->len; i++)
    {
      const DrapeModelInfo *info = drape_catalog_lookup (catalog, g_ptr_array_index (ids, i));
      g_autofree char *size = format_size (info);

      printf ("  %s (%s): %s, %s%s%s\n", info->id, size, info->licence_name, info->licence_url,
              info->licence_note != NULL ? "\n    " : "", info->licence_note != NULL ? info->licence_note : "");
    }
  fflush (stdout);

  view.terminal = isatty (STDOUT_FILENO);
  view.columns = view.terminal ? terminal_columns () : 80;
  view.last_plain = g_get_monotonic_time ();
  sigint = g_unix_signal_add (SIGINT, on_interrupt, &view);
  sigterm = g_unix_signal_add (SIGTERM, on_interrupt, &view);
  drape_model_store_fetch_async (store, (const char *const *) ids->pdata, &options, on_progress, &view, NULL,
                                 cancellable, on_fetched, &view);
  g_main_loop_run (loop);
  g_source_remove (sigint);
  g_source_remove (sigterm);
  end_bar_line (&view);

  if (!view.ok)
    {
      g_autoptr(GError) fetch_error = view.error;

      if (g_error_matches (fetch_error, DRAPE_ERROR, DRAPE_ERROR_CANCELLED))
        {
          drape_cli_fail ("interrupted; run the same command again to resume");
          return EXIT_INTERRUPTED;
        }
      return drape_cli_fail_error (fetch_error);
    }
  printf ("Done: every model asked for is verified.\n");
  return 0;
}

/* verify */

static void
on_hash_progress (guint64  done,
                  guint64  total,
                  gpointer user_data)
{
  FetchView *view = user_data;
  g_autofree char *d = g_format_size_full (done, G_FORMAT_SIZE_IEC_UNITS);
  g_autofree char *t = g_format_size_full (total, G_FORMAT_SIZE_IEC_UNITS);
  gint64 now = g_get_monotonic_time ();

  if (now - view->last_plain < G_USEC_PER_SEC / 10)
    return;
  view->last_plain = now;
  printf ("\r  hashing %s / %s", d, t);
  fflush (stdout);
  view->line_open = TRUE;
}

static int
models_verify (int    argc,
               char **argv)
{
  g_auto(Common) common = { 0 };
  g_autoptr(GOptionContext) context = new_context ("[ID...] - hash every file of the models and compare",
                                                   "Without IDs: every model with files on disk.\n"
                                                   "Exit status 1 when one is not verified.", &common);
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeModelStore) store = NULL;
  FetchView view = { 0 };
  DrapeCatalog *catalog;
  guint checked = 0;
  int status = 0;

  if (!g_option_context_parse (context, &argc, &argv, &error))
    return drape_cli_fail_error (error);
  store = open_store (&common, &error);
  if (store == NULL)
    return drape_cli_fail_error (error);
  catalog = drape_model_store_get_catalog (store);
  for (int i = 1; i < argc; i++)
    if (drape_catalog_require (catalog, argv[i], &error) == NULL)
      return drape_cli_fail_error (error);

  view.terminal = isatty (STDOUT_FILENO);
  view.columns = view.terminal ? terminal_columns () : 80;
  for (guint i = 0; i < drape_catalog_get_n_models (catalog); i++)
    {
      const DrapeModelInfo *info = drape_catalog_get_nth (catalog, i);
      g_auto(DrapeModelStatus) quick = { 0 };
      g_auto(DrapeModelStatus) result = { 0 };
      gboolean named = argc <= 1;

      for (int a = 1; a < argc; a++)
        named = named || strcmp (argv[a], info->id) == 0;
      if (!named)
        continue;
      /* Without IDs, models with nothing on disk are not a failure. */
      if (argc <= 1 && drape_model_store_check (store, info, DRAPE_CHECK_QUICK, NULL, NULL, NULL, &quick, NULL) &&
          quick.state == DRAPE_MODEL_MISSING)
        continue;
      checked++;
      if (!drape_model_store_check (store, info, DRAPE_CHECK_REHASH, view.terminal ? on_hash_progress : NULL,
                                    &view, NULL, &result, &error))
        {
          end_bar_line (&view);
          printf ("%-28s unreadable: %s\n", info->id, error->message);
          g_clear_error (&error);
          status = 1;
          continue;
        }
      end_bar_line (&view);
      printf ("%-28s %s%s%s\n", info->id, drape_model_state_to_string (result.state),
              result.message != NULL ? ": " : "", result.message != NULL ? result.message : "");
      if (result.state != DRAPE_MODEL_VERIFIED)
        status = 1;
    }
  if (checked == 0)
    printf ("No model is downloaded in %s\n", drape_model_store_get_dir (store));
  return status;
}

/* path, remove, ready */

static int
models_path (int    argc,
             char **argv)
{
  g_auto(Common) common = { 0 };
  g_autoptr(GOptionContext) context = new_context ("ID - print the folder that holds a model's weights",
                                                   "The folder exists once the model is fetched.", &common);
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeModelStore) store = NULL;
  g_autofree char *dir = NULL;
  const DrapeModelInfo *info;

  if (!g_option_context_parse (context, &argc, &argv, &error))
    return drape_cli_fail_error (error);
  if (argc != 2)
    return drape_cli_fail ("models path takes one model ID");
  store = open_store (&common, &error);
  if (store == NULL)
    return drape_cli_fail_error (error);
  info = drape_catalog_require (drape_model_store_get_catalog (store), argv[1], &error);
  if (info == NULL)
    return drape_cli_fail_error (error);
  dir = drape_model_store_dup_model_dir (store, info);
  printf ("%s\n", dir);
  return 0;
}

static int
models_remove (int    argc,
               char **argv)
{
  g_auto(Common) common = { 0 };
  g_autoptr(GOptionContext) context = new_context ("ID... - delete models' files and partial downloads",
                                                   NULL, &common);
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeModelStore) store = NULL;

  if (!g_option_context_parse (context, &argc, &argv, &error))
    return drape_cli_fail_error (error);
  if (argc < 2)
    return drape_cli_fail ("models remove takes one or more model IDs");
  store = open_store (&common, &error);
  if (store == NULL)
    return drape_cli_fail_error (error);
  for (int i = 1; i < argc; i++)
    if (drape_catalog_require (drape_model_store_get_catalog (store), argv[i], &error) == NULL)
      return drape_cli_fail_error (error);
  for (int i = 1; i < argc; i++)
    {
      if (!drape_model_store_remove (store, argv[i], &error))
        return drape_cli_fail_error (error);
      printf ("Removed %s\n", argv[i]);
    }
  return 0;
}

static int
models_ready (int    argc,
              char **argv)
{
  g_auto(Common) common = { 0 };
  g_autoptr(GOptionContext) context = new_context ("- whether the default models are downloaded and verified",
                                                   "Exit status 0 when they are, 1 otherwise. Never hashes.",
                                                   &common);
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeModelStore) store = NULL;
  g_auto(GStrv) ids = NULL;
  DrapeCatalog *catalog;
  int status = 0;

  if (!g_option_context_parse (context, &argc, &argv, &error))
    return drape_cli_fail_error (error);
  store = open_store (&common, &error);
  if (store == NULL)
    return drape_cli_fail_error (error);
  catalog = drape_model_store_get_catalog (store);
  ids = drape_catalog_dup_default_ids (catalog);
  for (guint i = 0; ids[i] != NULL; i++)
    {
      g_auto(DrapeModelStatus) result = { 0 };
      g_autoptr(GError) local_error = NULL;
      const DrapeModelInfo *info = drape_catalog_lookup (catalog, ids[i]);

      if (!drape_model_store_check (store, info, DRAPE_CHECK_QUICK, NULL, NULL, NULL, &result, &local_error))
        {
          printf ("%s: %s\n", ids[i], local_error->message);
          status = 1;
        }
      else if (result.state != DRAPE_MODEL_VERIFIED)
        {
          printf ("%s: %s\n", ids[i], drape_model_state_to_string (result.state));
          status = 1;
        }
    }
  return status;
}

typedef struct {
  const char *name;
  int (*run) (int argc, char **argv);
  const char *summary;
} Subcommand;

static const Subcommand subcommands[] = {
  { "list", models_list, "the models, their size, licence and state" },
  { "fetch", models_fetch, "download models (default: those the default try-on needs)" },
  { "verify", models_verify, "hash the files of models and compare with the catalog" },
  { "path", models_path, "print the folder holding a model's weights" },
  { "remove", models_remove, "delete a model's files" },
  { "ready", models_ready, "exit status 0 when the default models are verified" },
};

static void
usage (FILE *out)
{
  fprintf (out, "Usage: drape-cli models COMMAND [OPTIONS]\n\nCommands:\n");
  for (guint i = 0; i < G_N_ELEMENTS (subcommands); i++)
    fprintf (out, "  %-8s %s\n", subcommands[i].name, subcommands[i].summary);
  fprintf (out, "\nRun 'drape-cli models COMMAND --help' for a command's options.\n");
}

int
drape_cli_models (int    argc,
                  char **argv)
{
  if (argc < 2 || strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0)
    {
      usage (argc < 2 ? stderr : stdout);
      return argc < 2 ? 2 : 0;
    }
  for (guint i = 0; i < G_N_ELEMENTS (subcommands); i++)
    if (strcmp (argv[1], subcommands[i].name) == 0)
      return subcommands[i].run (argc - 1, argv + 1);
  g_printerr ("drape-cli: unknown models command '%s'\n", argv[1]);
  usage (stderr);
  return 2;
}
