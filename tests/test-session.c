/* test-session.c: pictures and .drape session files
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <math.h>
#include <string.h>

#include "app-test-common.h"
#include "drape-app-error.h"
#include "drape-session.h"
#include "drape-util.h"

static DrapePicture *
make_picture (int         width,
              int         height,
              guint32     seed,
              const char *format,
              const char *name)
{
  g_autoptr(GdkPixbuf) pixbuf = app_test_make_pixbuf (width, height, seed);
  g_autoptr(GBytes) bytes = app_test_encode (pixbuf, format);
  g_autoptr(GError) error = NULL;
  DrapePicture *picture = drape_picture_new_from_bytes (bytes, name, &error);

  g_assert_no_error (error);
  return picture;
}

static DrapeSession *
make_session (void)
{
  DrapeSession *session = drape_session_new ();
  g_autoptr(DrapePicture) photo = make_picture (320, 480, 1, "jpeg", "person.jpg");
  g_autoptr(DrapePicture) garment = make_picture (200, 260, 2, "png", "shirt.png");
  g_autoptr(GdkPixbuf) result_pixbuf = app_test_make_pixbuf (96, 128, 3);
  g_autoptr(DrapeResult) result = NULL;
  g_autoptr(GError) error = NULL;
  DrapeTryOnSettings *settings;
  DrapeMask *mask;

  drape_session_set_photo (session, photo);
  mask = drape_session_get_mask (session);
  g_assert_nonnull (mask);
  g_assert_cmpuint (drape_mask_get_width (mask), ==, 320);
  g_assert_cmpuint (drape_mask_get_height (mask), ==, 480);
  drape_mask_begin_stroke (mask, DRAPE_BRUSH_MODE_PAINT, 30, 0.3);
  drape_mask_stroke_to (mask, 100, 200, 1.0);
  drape_mask_stroke_to (mask, 220, 320, 0.6);
  drape_mask_end_stroke (mask);

  drape_session_set_garment (session, garment);
  drape_session_set_garment_type (session, DRAPE_GARMENT_OVERALL);
  settings = drape_session_get_settings (session);
  drape_try_on_settings_set_steps (settings, 23);
  drape_try_on_settings_set_guidance (settings, 3.25);
  drape_try_on_settings_set_seed (settings, 123456789);
  drape_try_on_settings_set_scheduler (settings, DRAPE_SCHEDULER_EULER);
  drape_try_on_settings_set_size (settings, DRAPE_TRY_ON_SIZE_384X512);
  drape_try_on_settings_set_repaint (settings, TRUE);

  result = drape_result_new (result_pixbuf, settings, "steps 23, guidance 3.25", &error);
  g_assert_no_error (error);
  drape_session_add_result (session, result);
  return session;
}

static void
test_picture_formats (void)
{
  g_autoptr(GdkPixbuf) pixbuf = app_test_make_pixbuf (64, 48, 5);
  const char *formats[] = { "png", "jpeg" };

  for (guint i = 0; i < G_N_ELEMENTS (formats); i++)
    {
      g_autoptr(GBytes) bytes = app_test_encode (pixbuf, formats[i]);
      g_autoptr(GError) error = NULL;
      g_autoptr(DrapePicture) picture = drape_picture_new_from_bytes (bytes, "x", &error);

      g_assert_no_error (error);
      g_assert_cmpstr (drape_picture_get_format (picture), ==, formats[i]);
      g_assert_cmpint (drape_picture_get_width (picture), ==, 64);
      g_assert_cmpint (drape_picture_get_height (picture), ==, 48);
      g_assert_cmpint (gdk_texture_get_width (drape_picture_get_texture (picture)), ==, 64);
      g_assert_true (g_bytes_equal (drape_picture_get_bytes (picture), bytes));
      g_assert_null (drape_picture_get_note (picture));
    }
}

static void
test_picture_bad_input (void)
{
  g_autoptr(GBytes) text = g_bytes_new_static ("hello, this is not a photo", 26);
  g_autoptr(GBytes) empty = g_bytes_new_static ("", 0);
  g_autoptr(GdkPixbuf) pixbuf = app_test_make_pixbuf (64, 48, 5);
  g_autoptr(GBytes) png = app_test_encode (pixbuf, "png");
  g_autoptr(GBytes) truncated = g_bytes_new_from_bytes (png, 0, g_bytes_get_size (png) / 2);
  g_autoptr(GBytes) bmp = app_test_encode (pixbuf, "bmp");
  GBytes *inputs[] = { text, empty, truncated, bmp };

  for (guint i = 0; i < G_N_ELEMENTS (inputs); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(DrapePicture) picture = drape_picture_new_from_bytes (inputs[i], "broken.png", &error);

      g_test_message ("input %u: %s", i, error != NULL ? error->message : "accepted");
      g_assert_null (picture);
      g_assert_error (error, DRAPE_APP_ERROR, DRAPE_APP_ERROR_NOT_AN_IMAGE);
      g_assert_nonnull (strstr (error->message, "broken.png"));
    }
}

/* EXIF orientation 6 (rotate 90° clockwise): a 40 x 20 JPEG shows as 20 x 40. */
static void
test_picture_orientation (void)
{
  /* An APP1 segment holding a TIFF header and one IFD entry:
   * Orientation (0x0112), SHORT, 1 value, 6. */
  static const guint8 exif[] = {
    0xff, 0xe1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0,
    'M', 'M', 0x00, 0x2a, 0x00, 0x00, 0x00, 0x08,
    0x00, 0x01, 0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
  };
  g_autoptr(GdkPixbuf) pixbuf = app_test_make_pixbuf (40, 20, 9);
  g_autoptr(GBytes) plain = app_test_encode (pixbuf, "jpeg");
  g_autoptr(GByteArray) tagged = g_byte_array_new ();
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapePicture) picture = NULL;
  gsize size;
  const guint8 *data = g_bytes_get_data (plain, &size);

  g_assert_cmpuint (data[0], ==, 0xff);
  g_assert_cmpuint (data[1], ==, 0xd8);
  g_byte_array_append (tagged, data, 2);
  g_byte_array_append (tagged, exif, sizeof exif);
  g_byte_array_append (tagged, data + 2, size - 2);
  bytes = g_byte_array_free_to_bytes (g_steal_pointer (&tagged));

  picture = drape_picture_new_from_bytes (bytes, "rotated.jpg", &error);
  g_assert_no_error (error);
  g_assert_cmpint (drape_picture_get_width (picture), ==, 20);
  g_assert_cmpint (drape_picture_get_height (picture), ==, 40);
  /* The file itself is kept as given, tag and all. */
  g_assert_true (g_bytes_equal (drape_picture_get_bytes (picture), bytes));
}

static void
test_session_round_trip (void)
{
  g_autoptr(DrapeSession) session = make_session ();
  g_autoptr(DrapeSession) reopened = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GBytes) again = NULL;
  g_autoptr(GBytes) mask_bytes = NULL;
  g_autoptr(DrapeResult) a = NULL;
  g_autoptr(DrapeResult) b = NULL;
  g_autoptr(GFile) file = NULL;

  bytes = drape_session_to_bytes (session, &error);
  g_assert_no_error (error);
  reopened = drape_session_new_from_bytes (bytes, "test.drape", &error);
  g_assert_no_error (error);

  g_assert_true (g_bytes_equal (drape_picture_get_bytes (drape_session_get_photo (reopened)),
                                drape_picture_get_bytes (drape_session_get_photo (session))));
  g_assert_cmpstr (drape_picture_get_name (drape_session_get_photo (reopened)), ==, "person.jpg");
  mask_bytes = drape_mask_to_bytes (drape_session_get_mask (session));
  g_assert_false (drape_mask_get_empty (drape_session_get_mask (reopened)));
  g_assert_true (drape_mask_equal_bytes (drape_session_get_mask (reopened), mask_bytes));
  g_assert_true (g_bytes_equal (drape_picture_get_bytes (drape_session_get_garment (reopened)),
                                drape_picture_get_bytes (drape_session_get_garment (session))));
  g_assert_cmpstr (drape_picture_get_name (drape_session_get_garment (reopened)), ==, "shirt.png");
  g_assert_cmpint (drape_session_get_garment_type (reopened), ==, DRAPE_GARMENT_OVERALL);
  g_assert_true (drape_try_on_settings_equal (drape_session_get_settings (reopened),
                                              drape_session_get_settings (session)));

  g_assert_cmpuint (g_list_model_get_n_items (drape_session_get_results (reopened)), ==, 1);
  a = g_list_model_get_item (drape_session_get_results (session), 0);
  b = g_list_model_get_item (drape_session_get_results (reopened), 0);
  g_assert_true (g_bytes_equal (drape_result_get_png (a), drape_result_get_png (b)));
  g_assert_cmpstr (drape_result_get_parameters (b), ==, "steps 23, guidance 3.25");
  g_assert_true (drape_try_on_settings_equal (drape_result_get_settings (a), drape_result_get_settings (b)));

  /* Saving what was opened gives the same session again. */
  again = drape_session_to_bytes (reopened, &error);
  g_assert_no_error (error);
  g_clear_object (&reopened);
  reopened = drape_session_new_from_bytes (again, "again.drape", &error);
  g_assert_no_error (error);
  g_assert_true (drape_mask_equal_bytes (drape_session_get_mask (reopened), mask_bytes));

  /* Saving creates missing folders. */
  file = g_file_new_build_filename (app_test_dir (), "sub", "dir", "file.drape", NULL);
  g_assert_true (drape_session_save (session, file, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_query_exists (file, NULL));
}

static void
on_loaded (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  GAsyncResult **out = user_data;

  *out = g_object_ref (result);
}

static void
test_session_async_file (void)
{
  g_autoptr(DrapeSession) session = make_session ();
  g_autoptr(GFile) file = g_file_new_build_filename (app_test_dir (), "async.drape", NULL);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(DrapeSession) reopened = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) mask = drape_mask_to_bytes (drape_session_get_mask (session));

  drape_session_save_async (session, file, NULL, on_loaded, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (drape_session_save_finish (session, result, &error));
  g_assert_no_error (error);
  g_clear_object (&result);

  drape_session_load_async (file, NULL, on_loaded, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  reopened = drape_session_load_finish (result, &error);
  g_assert_no_error (error);
  g_assert_true (g_file_equal (drape_session_get_file (reopened), file));
  g_assert_true (drape_mask_equal_bytes (drape_session_get_mask (reopened), mask));
}

static GBytes *
make_zip (const char *json)
{
  g_autoptr(GByteArray) out = g_byte_array_new ();
  struct archive *archive = archive_write_new ();
  struct archive_entry *entry = archive_entry_new ();
  size_t used = 0;

  g_byte_array_set_size (out, 4096);
  archive_write_set_format_zip (archive);
  g_assert_cmpint (archive_write_open_memory (archive, out->data, out->len, &used), ==, ARCHIVE_OK);
  archive_entry_set_pathname (entry, "session.json");
  archive_entry_set_size (entry, strlen (json));
  archive_entry_set_filetype (entry, AE_IFREG);
  archive_entry_set_perm (entry, 0644);
  g_assert_cmpint (archive_write_header (archive, entry), ==, ARCHIVE_OK);
  g_assert_cmpint (archive_write_data (archive, json, strlen (json)), ==, (la_ssize_t) strlen (json));
  archive_entry_free (entry);
  g_assert_cmpint (archive_write_close (archive), ==, ARCHIVE_OK);
  archive_write_free (archive);
  g_byte_array_set_size (out, used);
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

static void
test_session_bad_files (void)
{
  g_autoptr(DrapeSession) session = make_session ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = drape_session_to_bytes (session, &error);
  g_autoptr(GBytes) newer = make_zip ("{\"format\": \"drape-session\", \"version\": 99}");
  g_autoptr(GBytes) other = make_zip ("{\"format\": \"something-else\", \"version\": 1}");
  g_autoptr(GBytes) missing = make_zip ("{\"format\": \"drape-session\", \"version\": 1,"
                                        " \"garment\": {\"file\": \"garment.png\"}}");
  g_autoptr(GBytes) bad_setting = make_zip ("{\"format\": \"drape-session\", \"version\": 1,"
                                            " \"settings\": {\"steps\": 5000}}");
  g_autoptr(GBytes) not_zip = g_bytes_new_static ("PK\3\4 nonsense", 14);
  g_autoptr(DrapeSession) fine = NULL;
  struct {
    GBytes *bytes;
    int code;
  } cases[] = {
    { newer, DRAPE_APP_ERROR_NEWER_SESSION },
    { other, DRAPE_APP_ERROR_CORRUPT_SESSION },
    { missing, DRAPE_APP_ERROR_CORRUPT_SESSION },
    { bad_setting, DRAPE_APP_ERROR_CORRUPT_SESSION },
    { not_zip, DRAPE_APP_ERROR_CORRUPT_SESSION },
  };

  g_assert_no_error (error);

  /* Every truncation of a good file is refused with an error. */
  for (gsize cut = 0; cut < g_bytes_get_size (bytes); cut += g_bytes_get_size (bytes) / 37 + 1)
    {
      g_autoptr(GBytes) part = g_bytes_new_from_bytes (bytes, 0, cut);
      g_autoptr(DrapeSession) broken = drape_session_new_from_bytes (part, "cut.drape", &error);

      g_assert_null (broken);
      g_assert_error (error, DRAPE_APP_ERROR, DRAPE_APP_ERROR_CORRUPT_SESSION);
      g_assert_nonnull (strstr (error->message, "cut.drape"));
      g_clear_error (&error);
    }

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(DrapeSession) broken = drape_session_new_from_bytes (cases[i].bytes, "bad.drape", &error);

      g_assert_null (broken);
      g_assert_error (error, DRAPE_APP_ERROR, cases[i].code);
      g_test_message ("%s", error->message);
      g_clear_error (&error);
    }

  /* A minimal session of this version opens. */
  {
    g_autoptr(GBytes) minimal = make_zip ("{\"format\": \"drape-session\", \"version\": 1}");

    fine = drape_session_new_from_bytes (minimal, "minimal.drape", &error);
    g_assert_no_error (error);
    g_assert_true (drape_session_is_blank (fine));
  }
}

static void
count_changed (DrapeSession *session,
               guint        *count)
{
  (*count)++;
}

static void
test_session_changed (void)
{
  g_autoptr(DrapeSession) session = drape_session_new ();
  g_autoptr(DrapePicture) photo = make_picture (64, 64, 1, "png", "p.png");
  guint count = 0, before;

  g_signal_connect (session, "changed", G_CALLBACK (count_changed), &count);
  drape_session_set_photo (session, photo);
  g_assert_cmpuint (count, >, 0);
  before = count;
  drape_mask_fill (drape_session_get_mask (session), 255);
  g_assert_cmpuint (count, >, before);
  before = count;
  drape_try_on_settings_set_steps (drape_session_get_settings (session), 10);
  g_assert_cmpuint (count, >, before);
}

/* The progress line's estimate: each unit chosen after rounding, hours
 * past an hour and a half (a full-size try-on on a CPU), and nonsense
 * (a negative or NaN estimate) read as nothing left. */
static void
test_time_left (void)
{
  static const struct {
    double seconds;
    const char *text;
  } cases[] = {
    { NAN, "almost done" },
    { -3, "almost done" },
    { 0.2, "almost done" },
    { 0.7, "about 1 second left" },
    { 42.4, "about 42 seconds left" },
    { 59.4, "about 59 seconds left" },
    { 59.7, "about 1 minute left" },
    { 150, "about 3 minutes left" },
    { 89 * 60, "about 89 minutes left" },
    { 90 * 60, "about 2 hours left" },
    { 4.4 * 3600, "about 4 hours left" },
    { 4.6 * 3600, "about 5 hours left" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *text = drape_format_time_left (cases[i].seconds);

      g_assert_cmpstr (text, ==, cases[i].text);
    }
}

int
main (int    argc,
      char **argv)
{
  app_test_isolate ();
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/picture/formats", test_picture_formats);
  g_test_add_func ("/picture/bad-input", test_picture_bad_input);
  g_test_add_func ("/picture/orientation", test_picture_orientation);
  g_test_add_func ("/session/round-trip", test_session_round_trip);
  g_test_add_func ("/session/async-file", test_session_async_file);
  g_test_add_func ("/session/bad-files", test_session_bad_files);
  g_test_add_func ("/session/changed", test_session_changed);
  g_test_add_func ("/util/time-left", test_time_left);

  return g_test_run ();
}
