/* test-try-on.c: a whole try-on and an auto-mask through the window with the tiny golden
 * models (tests/golden/unet, tests/golden/vae) at 96 x 128: previews replace each
 * other, the result joins the session's history, the UI stays live, and
 * Cancel stops within one step; what the engine says before the first
 * step; and measuring the speed of the GPU from Preferences
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include "app-test-common.h"
#include "device.h"
#include "drape-compare-view.h"
#include "drape-preferences-page.h"
#include "drape-window.h"
#include "model-store.h"

static DrapeApplication *app;
static DrapeEngine *engine;

static char *
golden (const char *name)
{
  const char *dir = g_getenv ("DRAPE_GOLDEN_DIR");

  g_assert_nonnull (dir);
  return g_build_filename (dir, name, NULL);
}

static DrapePicture *
load_golden (const char *name)
{
  g_autofree char *path = golden (name);
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  gsize length;
  g_autoptr(GBytes) bytes = NULL;
  DrapePicture *picture;

  g_file_get_contents (path, &contents, &length, &error);
  g_assert_no_error (error);
  bytes = g_bytes_new_take (g_steal_pointer (&contents), length);
  picture = drape_picture_new_from_bytes (bytes, name, &error);
  g_assert_no_error (error);
  return picture;
}

static DrapeWindow *
prepared_window (void)
{
  DrapeWindow *window = DRAPE_WINDOW (gtk_application_get_active_window (GTK_APPLICATION (app)));
  DrapeSession *session = drape_window_get_session (window);
  g_autoptr(DrapePicture) person = load_golden ("pipeline/person.png");
  g_autoptr(DrapePicture) garment = load_golden ("pipeline/garment.png");
  DrapeTryOnSettings *settings = drape_session_get_settings (session);

  if (drape_session_get_photo (session) == NULL)
    {
      drape_session_set_photo (session, person);
      drape_session_set_garment (session, garment);
      /* The lower half of the photo is the region to dress. */
      drape_mask_begin_stroke (drape_session_get_mask (session), DRAPE_BRUSH_MODE_PAINT, 14, 1.0);
      drape_mask_stroke_to (drape_session_get_mask (session), 24, 44, 1.0);
      drape_mask_end_stroke (drape_session_get_mask (session));
      drape_try_on_settings_set_size (settings, DRAPE_TRY_ON_SIZE_384X512);
      drape_try_on_settings_set_seed (settings, 7);
    }
  app_test_run_for (200);
  return window;
}

typedef struct {
  guint previews;
  DrapeWindow *window;
  gint64 last_frame;
  gint64 longest_gap;
} Watch;

static void
on_after (DrapeCompareView *view,
          GParamSpec       *pspec,
          Watch            *watch)
{
  /* Only what arrives while the run is on: after it, the view shows the
   * chosen result again. */
  if (drape_compare_view_get_after (view) == NULL ||
      !g_action_group_get_action_enabled (G_ACTION_GROUP (watch->window), "cancel-try-on"))
    return;
  watch->previews++;
}

/* The main loop keeps turning while the worker computes. */
static gboolean
tick (gpointer data)
{
  Watch *watch = data;
  gint64 now = g_get_monotonic_time ();

  if (watch->last_frame != 0)
    watch->longest_gap = MAX (watch->longest_gap, now - watch->last_frame);
  watch->last_frame = now;
  return G_SOURCE_CONTINUE;
}

static void
wait_until_idle (DrapeWindow *window,
                 guint        timeout_s)
{
  gint64 end = g_get_monotonic_time () + (gint64) timeout_s * G_USEC_PER_SEC;

  /* Try On is enabled again once the run has ended. */
  app_test_run_for (100);
  while (!g_action_group_get_action_enabled (G_ACTION_GROUP (window), "try-on") &&
         g_get_monotonic_time () < end)
    app_test_run_for (50);
  g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "try-on"));
  app_test_run_for (200);
}

static void
test_full_try_on (void)
{
  DrapeWindow *window = prepared_window ();
  DrapeSession *session = drape_window_get_session (window);
  DrapeCompareView *view = app_test_find_child (GTK_WIDGET (window), DRAPE_TYPE_COMPARE_VIEW);
  GListModel *results = drape_session_get_results (session);
  Watch watch = { .window = window };
  g_autoptr(DrapeResult) result = NULL;
  g_autoptr(GBytes) mask = drape_mask_to_bytes (drape_session_get_mask (session));
  g_autoptr(GdkPixbuf) saved = NULL;
  g_autoptr(GInputStream) stream = NULL;
  guint source;

  drape_try_on_settings_set_steps (drape_session_get_settings (session), 3);
  g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "try-on"));
  g_signal_connect (view, "notify::after", G_CALLBACK (on_after), &watch);
  source = g_timeout_add (20, tick, &watch);

  g_action_group_activate_action (G_ACTION_GROUP (window), "try-on", NULL);
  /* While it runs: no second run, a way to cancel. */
  g_assert_false (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "try-on"));
  g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "cancel-try-on"));
  wait_until_idle (window, 300);
  g_source_remove (source);
  g_signal_handlers_disconnect_by_data (view, &watch);

  g_test_message ("previews %u, longest main-loop gap %.1f ms", watch.previews, watch.longest_gap / 1000.0);
  /* One preview per step, then the result. */
  g_assert_cmpuint (watch.previews, >=, 3);
  g_assert_cmpuint (g_list_model_get_n_items (results), ==, 1);
  result = g_list_model_get_item (results, 0);
  g_assert_cmpint (gdk_texture_get_width (drape_result_get_texture (result)), ==, 96);
  g_assert_cmpint (gdk_texture_get_height (drape_result_get_texture (result)), ==, 128);
  g_assert_true (drape_compare_view_get_after (view) == drape_result_get_texture (result));
  g_assert_nonnull (drape_result_get_parameters (result));
  g_assert_nonnull (strstr (drape_result_get_parameters (result), "96"));
  g_assert_cmpuint (drape_try_on_settings_get_steps (drape_result_get_settings (result)), ==, 3);
  /* The saved PNG carries the parameters. */
  stream = g_memory_input_stream_new_from_bytes (drape_result_get_png (result));
  saved = gdk_pixbuf_new_from_stream (stream, NULL, NULL);
  g_assert_nonnull (saved);
  g_assert_cmpstr (gdk_pixbuf_get_option (saved, "tEXt::parameters"), ==, drape_result_get_parameters (result));
  /* The photo's mask is as it was. */
  g_assert_true (drape_mask_equal_bytes (drape_session_get_mask (session), mask));
  /* The UI was never blocked for long (the worker did the work). */
  g_assert_cmpint (watch.longest_gap, <, 2 * G_USEC_PER_SEC);

  g_action_group_activate_action (G_ACTION_GROUP (window), "zoom-fit", NULL);
  app_test_save_screenshot (GTK_WIDGET (window), "screenshot-result.png");
}

static void
test_cancel (void)
{
  DrapeWindow *window = prepared_window ();
  DrapeSession *session = drape_window_get_session (window);
  DrapeCompareView *view = app_test_find_child (GTK_WIDGET (window), DRAPE_TYPE_COMPARE_VIEW);
  guint before = g_list_model_get_n_items (drape_session_get_results (session));
  Watch watch = { .window = window };
  gint64 end = g_get_monotonic_time () + 120 * G_USEC_PER_SEC;
  guint at_cancel;

  /* More steps than a loaded machine runs while the screenshot below
   * is taken (30 did not always hold), which Cancel must cut short. */
  drape_try_on_settings_set_steps (drape_session_get_settings (session), 200);
  g_signal_connect (view, "notify::after", G_CALLBACK (on_after), &watch);
  g_action_group_activate_action (G_ACTION_GROUP (window), "try-on", NULL);
  while (watch.previews < 2 && g_get_monotonic_time () < end)
    app_test_run_for (20);
  g_assert_cmpuint (watch.previews, >=, 2);
  /* The window mid-run: the preview, "Step n of N", time left, Cancel. */
  app_test_save_screenshot (GTK_WIDGET (window), "screenshot-progress.png");

  /* The worker ran on while the screenshot was taken, and the previews
   * of those steps wait in the main context: show them first, so that
   * at_cancel counts every step that ended before Cancel. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  at_cancel = watch.previews;
  g_action_group_activate_action (G_ACTION_GROUP (window), "cancel-try-on", NULL);
  wait_until_idle (window, 300);
  g_signal_handlers_disconnect_by_data (view, &watch);

  g_test_message ("previews before the end: %u (cancelled after %u)", watch.previews, at_cancel);
  /* At most the step under way when Cancel came finishes; no result.
   * Previews reach the main loop after their step ends, so one finished
   * step may not have been shown yet when Cancel was pressed. */
  g_assert_cmpuint (watch.previews, <=, at_cancel + 2);
  g_assert_cmpuint (watch.previews, <, 200);
  g_assert_cmpuint (g_list_model_get_n_items (drape_session_get_results (session)), ==, before);
  g_assert_true (app_test_find_label (GTK_WIDGET (window), "cancelled"));
}

typedef struct {
  GPtrArray *statuses;
  guint steps;
  guint estimates;  /* progress reports with the time left */
  gboolean done;
  DrapeResult *result;
  GError *error;
} EngineRun;

static void
on_engine_progress (const DrapeEngineProgress *progress,
                    gpointer                   user_data)
{
  EngineRun *run = user_data;

  if (progress->status != NULL)
    g_ptr_array_add (run->statuses, g_strdup (progress->status));
  run->steps = MAX (run->steps, progress->step);
  /* The time left from the second step on (the first also builds what
   * the others replay), none before or while tuning. */
  if (progress->status == NULL && (progress->step >= 2 || progress->step == progress->n_steps))
    {
      g_assert_cmpfloat (progress->seconds_left, >=, 0);
      run->estimates++;
    }
  else
    g_assert_cmpfloat (progress->seconds_left, <, 0);
}

static void
on_engine_done (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  EngineRun *run = user_data;

  run->result = drape_engine_try_on_finish (DRAPE_ENGINE (source), result, &run->error);
  run->done = TRUE;
}

static guint
status_index (GPtrArray  *statuses,
              const char *status)
{
  for (guint i = 0; i < statuses->len; i++)
    if (g_strcmp0 (g_ptr_array_index (statuses, i), status) == 0)
      return i;
  g_error ("the engine never said \"%s\"", status);
}

/* Before its first step a try-on says what it waits for, in order: the
 * GPU (the graphs of its size, recorded once) and then the photos; the
 * time left comes with the steps after the first. */
static void
test_engine_statuses (void)
{
  g_autoptr(DrapePicture) person = load_golden ("pipeline/person.png");
  g_autoptr(DrapePicture) garment = load_golden ("pipeline/garment.png");
  g_autoptr(DrapeMask) mask = drape_mask_new (drape_picture_get_width (person),
                                              drape_picture_get_height (person));
  g_autoptr(DrapeTryOnSettings) settings = drape_try_on_settings_new ();
  g_autoptr(GPtrArray) statuses = g_ptr_array_new_with_free_func (g_free);
  gint64 end = g_get_monotonic_time () + 120 * G_USEC_PER_SEC;
  EngineRun run = { .statuses = statuses };

  drape_mask_begin_stroke (mask, DRAPE_BRUSH_MODE_PAINT, 14, 1.0);
  drape_mask_stroke_to (mask, 24, 44, 1.0);
  drape_mask_end_stroke (mask);
  drape_try_on_settings_set_steps (settings, 2);
  drape_engine_try_on_async (engine, person, mask, garment, settings, on_engine_progress, &run, NULL,
                             NULL, on_engine_done, &run);
  while (!run.done && g_get_monotonic_time () < end)
    app_test_run_for (50);
  g_assert_true (run.done);
  g_assert_no_error (run.error);
  g_assert_nonnull (run.result);
  g_clear_object (&run.result);
  g_assert_cmpuint (run.steps, ==, 2);
  g_assert_cmpuint (run.estimates, ==, 1);
  g_assert_cmpuint (status_index (statuses, "Getting the GPU ready…"), <,
                    status_index (statuses, "Preparing the photos…"));
}

/* Auto Mask with the tiny golden SegFormer: the mask lands as one undo
 * step on the photo's mask. */
static void
test_auto_mask (void)
{
  DrapeWindow *window = DRAPE_WINDOW (gtk_application_get_active_window (GTK_APPLICATION (app)));
  g_autoptr(DrapeSession) session = drape_session_new ();
  g_autoptr(DrapePicture) photo = load_golden ("segformer/image.png");
  g_autoptr(GBytes) before = NULL;
  DrapeMask *mask;
  gint64 end = g_get_monotonic_time () + 120 * G_USEC_PER_SEC;
  guint64 covered = 0;
  gsize n;

  drape_session_set_photo (session, photo);
  drape_session_set_garment_type (session, DRAPE_GARMENT_UPPER);
  drape_window_set_session (window, session);
  app_test_run_for (200);
  mask = drape_session_get_mask (session);
  before = drape_mask_to_bytes (mask);
  g_assert_true (drape_mask_get_empty (mask));
  g_assert_true (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "auto-mask"));

  g_action_group_activate_action (G_ACTION_GROUP (window), "auto-mask", NULL);
  g_assert_false (g_action_group_get_action_enabled (G_ACTION_GROUP (window), "auto-mask"));
  while (!g_action_group_get_action_enabled (G_ACTION_GROUP (window), "auto-mask") &&
         g_get_monotonic_time () < end)
    app_test_run_for (50);

  g_assert_false (drape_mask_get_empty (mask));
  n = (gsize) drape_mask_get_width (mask) * drape_mask_get_height (mask);
  for (gsize i = 0; i < n; i++)
    covered += drape_mask_get_data (mask)[i] >= 128;
  g_test_message ("auto mask covers %.1f%% of the photo", 100.0 * covered / n);
  g_assert_cmpuint (covered, >, n / 20);
  g_assert_cmpuint (covered, <, n * 3 / 4);

  g_action_group_activate_action (G_ACTION_GROUP (window), "undo", NULL);
  g_assert_true (drape_mask_equal_bytes (mask, before));
}

/* The button under widget that shows `label`, or NULL. */
static GtkButton *
find_button (GtkWidget  *widget,
             const char *label)
{
  if (GTK_IS_BUTTON (widget) && g_strcmp0 (gtk_button_get_label (GTK_BUTTON (widget)), label) == 0)
    return GTK_BUTTON (widget);
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkButton *found = find_button (child, label);

      if (found != NULL)
        return found;
    }
  return NULL;
}

/* Opens Preferences over window; returns its window and page. */
static GtkWidget *
open_preferences (DrapeWindow           *window,
                  DrapePreferencesPage **page)
{
  GtkWidget *preferences = NULL;

  *page = NULL;
  g_action_group_activate_action (G_ACTION_GROUP (app), "preferences", NULL);
  app_test_run_for (300);
  for (GList *l = gtk_window_list_toplevels (); l != NULL; l = g_list_delete_link (l, l))
    if (GTK_WIDGET (l->data) != GTK_WIDGET (window) && *page == NULL &&
        (*page = app_test_find_child (l->data, DRAPE_TYPE_PREFERENCES_PAGE)) != NULL)
      preferences = l->data;
  g_assert_nonnull (*page);
  return preferences;
}

/* Preferences' "Speed on This GPU": Measure times the tiny models'
 * layers, says what it found and saves the GPU's tuning where the
 * engine's device reads it, which Preferences then names when opened;
 * meanwhile its button stops it.  Timing every
 * way of every layer under the validation layer takes minutes on a CPU,
 * so the convolutions' kernel is forced here (DRAPE_CONV_KERNEL: no
 * choice to time, the CPU's only kind), which leaves the usual ways
 * fastest; test-conv and test-device time real choices. */
static void
test_tune (void)
{
  DrapeWindow *window = DRAPE_WINDOW (gtk_application_get_active_window (GTK_APPLICATION (app)));
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeDevice) device = drape_device_new (NULL, &error);
  g_autofree char *path = NULL;
  GtkWidget *preferences = NULL;
  DrapePreferencesPage *page = NULL;
  AdwActionRow *row;
  GtkButton *measure;
  gint64 end = g_get_monotonic_time () + 600 * G_TIME_SPAN_SECOND;

  g_assert_no_error (error);
  path = g_strdup (drape_device_get_tuning_path (device));
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  preferences = open_preferences (window, &page);
  measure = find_button (GTK_WIDGET (page), "Measure");
  g_assert_nonnull (measure);
  row = ADW_ACTION_ROW (gtk_widget_get_ancestor (GTK_WIDGET (measure), ADW_TYPE_ACTION_ROW));

  g_setenv ("DRAPE_CONV_KERNEL", "subgroup", TRUE);
  g_signal_emit_by_name (measure, "clicked");
  g_assert_cmpstr (gtk_button_get_label (measure), ==, "Stop");
  while (!g_str_has_prefix (adw_action_row_get_subtitle (row), "Measured") && g_get_monotonic_time () < end)
    app_test_run_for (50);
  g_test_message ("%s", adw_action_row_get_subtitle (row));
  g_assert_true (g_str_has_prefix (adw_action_row_get_subtitle (row), "Measured"));
  g_assert_cmpstr (gtk_button_get_label (measure), ==, "Measure");
  g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));
  app_test_save_screenshot (preferences, "screenshot-preferences.png");

  /* Opened again, Preferences says where the GPU's tuning comes from. */
  gtk_window_destroy (GTK_WINDOW (preferences));
  preferences = open_preferences (window, &page);
  measure = find_button (GTK_WIDGET (page), "Measure");
  row = ADW_ACTION_ROW (gtk_widget_get_ancestor (GTK_WIDGET (measure), ADW_TYPE_ACTION_ROW));
  while (!g_str_has_prefix (adw_action_row_get_subtitle (row), "Measured on this GPU") &&
         g_get_monotonic_time () < end)
    app_test_run_for (50);
  g_assert_cmpstr (adw_action_row_get_subtitle (row), ==, "Measured on this GPU: no layer had a choice of ways");

  /* Again, stopped: the saved tuning stays. */
  g_signal_emit_by_name (measure, "clicked");
  app_test_run_for (100);
  app_test_save_screenshot (preferences, "screenshot-preferences-measuring.png");
  g_signal_emit_by_name (measure, "clicked");
  while (g_strcmp0 (gtk_button_get_label (measure), "Measure") != 0 && g_get_monotonic_time () < end)
    app_test_run_for (50);
  g_assert_cmpstr (adw_action_row_get_subtitle (row), ==, "Stopped: what was measured so far is kept");
  g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));
  g_unsetenv ("DRAPE_CONV_KERNEL");
  gtk_window_destroy (GTK_WINDOW (preferences));
}

int
main (int    argc,
      char **argv)
{
  g_autofree char *unet = NULL;
  g_autofree char *vae = NULL;
  g_autofree char *parser = NULL;
  int status;

  app_test_isolate ();
  gtk_test_init (&argc, &argv, NULL);
  adw_init ();
  /* The window offers Try On once the catalog's models are on disk; the
   * engine itself runs the tiny golden models. */
  app_test_fake_store_models ();

  unet = golden ("unet");
  vae = golden ("vae");
  app = drape_application_new ("app.drape.Drape.TryOnTest", G_APPLICATION_NON_UNIQUE);
  g_assert_true (g_application_register (G_APPLICATION (app), NULL, NULL));
  parser = golden ("segformer");
  engine = drape_engine_new_for_models (unet, vae, NULL, parser);
  drape_engine_set_output_size (engine, 96, 128);
  drape_application_set_engine (app, engine);
  g_application_activate (G_APPLICATION (app));
  app_test_run_for (300);

  g_test_add_func ("/try-on/full", test_full_try_on);
  g_test_add_func ("/try-on/cancel", test_cancel);
  g_test_add_func ("/try-on/auto-mask", test_auto_mask);
  g_test_add_func ("/try-on/engine-statuses", test_engine_statuses);
  g_test_add_func ("/try-on/tune", test_tune);

  status = g_test_run ();
  gtk_window_destroy (GTK_WINDOW (gtk_application_get_active_window (GTK_APPLICATION (app))));
  g_clear_object (&app);
  g_clear_object (&engine);
  return status;
}
