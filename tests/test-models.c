/* test-models.c: the catalog, the model store and the downloader against a
 * real HTTP server on 127.0.0.1 (hub-server.c) with injected faults
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <signal.h>
#include <unistd.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <gio/gio.h>

#include "error.h"
#include "test-common.h"
#include "hub-server.h"
#include "model-catalog.h"
#include "model-store.h"

#define REPO "test/tiny"
#define REVISION "0123456789abcdef0123456789abcdef01234567"
#define WEIGHTS "weights/model.safetensors"
#define CONFIG "config.json"
#define WEIGHTS_SIZE 300000

typedef struct {
  char *tmp;
  char *catalog_dir;
  char *models_dir;
  HubServer *hub;
  GBytes *weights;
  GBytes *config;
  char *weights_sha;
  char *config_sha;
} Fixture;

static char *
sha256_of (GBytes *bytes)
{
  return g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, bytes);
}

static void
write_file (const char *path,
            const void *data,
            gsize       length)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_path_get_dirname (path);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_file_set_contents (path, data, (gssize) length, &error);
  g_assert_no_error (error);
}

static void
write_manifest (Fixture    *fx,
                const char *id,
                const char *files_json)
{
  g_autofree char *text = g_strdup_printf (
    "{\"format\": 1, \"id\": \"%s\", \"name\": \"Tiny %s\", \"description\": \"for tests\","
    " \"role\": \"vae\", \"default\": true,"
    " \"source\": {\"repository\": \"" REPO "\", \"revision\": \"" REVISION "\"},"
    " \"licence\": {\"name\": \"MIT\", \"url\": \"https://opensource.org/license/mit\"},"
    " \"files\": [%s]}", id, id, files_json);
  g_autofree char *name = g_strconcat (id, ".json", NULL);
  g_autofree char *path = g_build_filename (fx->catalog_dir, name, NULL);

  write_file (path, text, strlen (text));
}

static char *
published_files (Fixture *fx)
{
  return g_strdup_printf ("{\"path\": \"" WEIGHTS "\", \"size\": %d, \"sha256\": \"%s\"},"
                          "{\"path\": \"" CONFIG "\", \"size\": %" G_GSIZE_FORMAT ", \"sha256\": \"%s\"}",
                          WEIGHTS_SIZE, fx->weights_sha, g_bytes_get_size (fx->config), fx->config_sha);
}

static void
fixture_setup (Fixture       *fx,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GRand) rand = g_rand_new_with_seed (42);
  g_autofree guint8 *weights = g_malloc (WEIGHTS_SIZE);
  g_autofree char *files = NULL;
  const char *config = "{\"latent_channels\": 4, \"scaling_factor\": 0.18215}\n";

  for (gsize i = 0; i < WEIGHTS_SIZE; i++)
    weights[i] = (guint8) g_rand_int (rand);
  fx->tmp = g_dir_make_tmp ("drape-models-XXXXXX", &error);
  g_assert_no_error (error);
  fx->catalog_dir = g_build_filename (fx->tmp, "catalog", NULL);
  fx->models_dir = g_build_filename (fx->tmp, "models", NULL);
  g_assert_cmpint (g_mkdir (fx->catalog_dir, 0755), ==, 0);
  fx->weights = g_bytes_new (weights, WEIGHTS_SIZE);
  fx->config = g_bytes_new_static (config, strlen (config));
  fx->weights_sha = sha256_of (fx->weights);
  fx->config_sha = sha256_of (fx->config);

  fx->hub = hub_server_new ();
  hub_server_add_file (fx->hub, REPO, REVISION, WEIGHTS, fx->weights);
  hub_server_add_file (fx->hub, REPO, REVISION, CONFIG, fx->config);
  g_setenv ("HF_ENDPOINT", hub_server_get_url (fx->hub), TRUE);
  g_unsetenv ("HF_TOKEN");
  g_unsetenv ("HF_HUB_OFFLINE");
  g_unsetenv ("DRAPE_MODELS_DIR");

  files = published_files (fx);
  write_manifest (fx, "tiny", files);
}

static void
fixture_teardown (Fixture       *fx,
                  gconstpointer  data)
{
  g_clear_pointer (&fx->hub, hub_server_free);
  test_remove_tree (fx->tmp);
  g_free (fx->tmp);
  g_free (fx->catalog_dir);
  g_free (fx->models_dir);
  g_bytes_unref (fx->weights);
  g_bytes_unref (fx->config);
  g_free (fx->weights_sha);
  g_free (fx->config_sha);
  g_unsetenv ("HF_TOKEN");
  g_unsetenv ("HF_HUB_OFFLINE");
}

static DrapeModelStore *
make_store (Fixture *fx)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeCatalog) catalog = drape_catalog_load (fx->catalog_dir, &error);

  g_assert_no_error (error);
  return drape_model_store_new (catalog, fx->models_dir);
}

static void
test_options (DrapeFetchOptions *options)
{
  drape_fetch_options_init (options);
  options->retry_delay_ms = 5;
  options->timeout_s = 10;
  options->max_retries = 2;
}

static gboolean
fetch_one (DrapeModelStore         *store,
           const char              *id,
           const DrapeFetchOptions *options,
           GError                 **error)
{
  const char *ids[] = { id, NULL };

  return drape_model_store_fetch (store, ids, options, NULL, NULL, NULL, error);
}

static char *
model_path (Fixture    *fx,
            const char *path)
{
  return g_build_filename (fx->models_dir, REPO, path, NULL);
}

static void
assert_file_equals (const char *path,
                    GBytes     *expected)
{
  g_autofree char *data = NULL;
  g_autoptr(GError) error = NULL;
  gsize length;

  g_file_get_contents (path, &data, &length, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (data, length, g_bytes_get_data (expected, NULL), g_bytes_get_size (expected));
}

static DrapeModelState
state_of (DrapeModelStore *store,
          const char      *id,
          DrapeCheckLevel  level)
{
  g_autoptr(GError) error = NULL;
  g_auto(DrapeModelStatus) status = { 0 };
  const DrapeModelInfo *info = drape_catalog_lookup (drape_model_store_get_catalog (store), id);

  g_assert_nonnull (info);
  drape_model_store_check (store, info, level, NULL, NULL, NULL, &status, &error);
  g_assert_no_error (error);
  if (status.state == DRAPE_MODEL_VERIFIED)
    g_assert_null (status.message);
  else
    g_assert_nonnull (status.message);
  return status.state;
}

static guint
count_requests (Fixture    *fx,
                const char *path_suffix)
{
  g_autoptr(GPtrArray) requests = hub_server_dup_requests (fx->hub);
  guint n = 0;

  for (guint i = 0; i < requests->len; i++)
    {
      const HubRequest *r = g_ptr_array_index (requests, i);
      if (path_suffix == NULL || g_str_has_suffix (r->path, path_suffix))
        n++;
    }
  return n;
}

static void
assert_message_has (const GError *error,
                    const char   *needle)
{
  g_assert_nonnull (error);
  if (strstr (error->message, needle) == NULL)
    g_error ("error '%s' does not mention '%s'", error->message, needle);
}

/* The catalog */

static void
test_catalog_real (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = drape_catalog_dup_default_dir ();
  g_autoptr(DrapeCatalog) catalog = drape_catalog_load (dir, &error);
  g_auto(GStrv) defaults = NULL;
  const char *roles[] = { "unet", "vae", "attention", "parser" };
  guint64 default_bytes = 0;

  g_assert_no_error (error);
  g_assert_cmpuint (drape_catalog_get_n_models (catalog), ==, 6);
  defaults = drape_catalog_dup_default_ids (catalog);
  g_assert_cmpuint (g_strv_length (defaults), ==, 4);
  g_assert_true (g_strv_contains ((const char *const *) defaults, "catvton-mix-48k-1024"));
  g_assert_false (g_strv_contains ((const char *const *) defaults, "catvton-vitonhd-16k-512"));
  for (guint r = 0; r < G_N_ELEMENTS (roles); r++)
    {
      gboolean found = FALSE;

      for (guint i = 0; defaults[i] != NULL; i++)
        {
          const DrapeModelInfo *info = drape_catalog_lookup (catalog, defaults[i]);
          found = found || strcmp (drape_model_role_to_string (info->role), roles[r]) == 0;
        }
      g_assert_true (found);
    }
  for (guint i = 0; i < drape_catalog_get_n_models (catalog); i++)
    {
      const DrapeModelInfo *info = drape_catalog_get_nth (catalog, i);

      g_assert_cmpuint (strlen (info->revision), ==, 40);
      g_assert_true (g_str_has_prefix (info->licence_url, "https://"));
      g_assert_true (g_str_has_suffix (info->files[0].path, ".safetensors"));
      /* Every default model's weights have a published size and hash. */
      if (info->is_default)
        {
          g_assert_true (info->files[0].size_known);
          g_assert_nonnull (info->files[0].sha256);
          default_bytes += drape_model_info_get_size (info, NULL);
        }
    }
  /* "about 2.4 GB of weights" */
  g_assert_cmpuint (default_bytes, >, 2200000000u);
  g_assert_cmpuint (default_bytes, <, 2500000000u);
  g_assert_nonnull (drape_catalog_lookup (catalog, "sd15-inpainting-unet"));
  g_assert_null (drape_catalog_lookup (catalog, "nope"));
  g_assert_null (drape_catalog_require (catalog, "nope", &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT);
  assert_message_has (error, "sd-vae-ft-mse");
}

static void
test_catalog_default_dir (void)
{
  g_autofree char *saved = g_strdup (g_getenv ("DRAPE_CATALOG_DIR"));
  g_autofree char *dir = NULL;

  g_setenv ("DRAPE_CATALOG_DIR", "/somewhere/else", TRUE);
  dir = drape_catalog_dup_default_dir ();
  g_assert_cmpstr (dir, ==, "/somewhere/else");
  g_clear_pointer (&dir, g_free);
  g_unsetenv ("DRAPE_CATALOG_DIR");
  dir = drape_catalog_dup_default_dir ();
  g_assert_true (g_str_has_suffix (dir, "models"));
  g_assert_true (g_file_test (dir, G_FILE_TEST_IS_DIR));
  if (saved != NULL)
    g_setenv ("DRAPE_CATALOG_DIR", saved, TRUE);
}

#define GOOD_HEAD "\"format\": 1, \"id\": \"m\", \"name\": \"M\", \"description\": \"d\", \"role\": \"vae\", \"default\": false"
#define GOOD_SOURCE "\"source\": {\"repository\": \"a/b\", \"revision\": \"main\"}"
#define GOOD_LICENCE "\"licence\": {\"name\": \"MIT\", \"url\": \"https://x\"}"
#define GOOD_SHA "\"sha256\": \"" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" "\""
#define FILES(f) "\"files\": [{" f "}]"
#define MANIFEST(head, source, licence, files) "{" head ", " source ", " licence ", " files "}"

static void
test_catalog_bad (void)
{
  static const struct {
    const char *json;
    const char *needle;
  } cases[] = {
    { "not json", "not valid JSON" },
    { "[1, 2]", "must be a JSON object" },
    { MANIFEST (GOOD_HEAD, GOOD_SOURCE, GOOD_LICENCE, FILES ("\"path\": \"x\", \"size\": 1, " GOOD_SHA)), NULL },
    { MANIFEST ("\"format\": 1, \"name\": \"M\", \"description\": \"d\", \"role\": \"vae\", \"default\": false",
                GOOD_SOURCE, GOOD_LICENCE, FILES ("\"path\": \"x\", \"size\": 1, " GOOD_SHA)), "missing field 'id'" },
    { MANIFEST (GOOD_HEAD, "\"source\": {\"repository\": \"a/b\"}", GOOD_LICENCE,
                FILES ("\"path\": \"x\", \"size\": 1, " GOOD_SHA)), "missing field 'source.revision'" },
    { MANIFEST (GOOD_HEAD, GOOD_SOURCE, "\"licence\": {\"name\": \"MIT\"}",
                FILES ("\"path\": \"x\", \"size\": 1, " GOOD_SHA)), "missing field 'licence.url'" },
    { MANIFEST (GOOD_HEAD, GOOD_SOURCE, GOOD_LICENCE, FILES ("\"path\": \"x\", " GOOD_SHA)),
      "missing field 'files[0].size'" },
    { MANIFEST (GOOD_HEAD, GOOD_SOURCE, GOOD_LICENCE, FILES ("\"path\": \"x\", \"size\": 1")),
      "missing field 'files[0].sha256'" },
    { MANIFEST (GOOD_HEAD, GOOD_SOURCE, GOOD_LICENCE, FILES ("\"path\": \"../../etc/passwd\", \"size\": 1, " GOOD_SHA)),
      "not a safe relative path" },
    { MANIFEST (GOOD_HEAD, GOOD_SOURCE, GOOD_LICENCE, FILES ("\"path\": \"unet/../../x\", \"size\": 1, " GOOD_SHA)),
      "not a safe relative path" },
    { MANIFEST (GOOD_HEAD, GOOD_SOURCE, GOOD_LICENCE, FILES ("\"path\": \"/etc/passwd\", \"size\": 1, " GOOD_SHA)),
      "not a safe relative path" },
    { MANIFEST (GOOD_HEAD, GOOD_SOURCE, GOOD_LICENCE, FILES ("\"path\": \"a//b\", \"size\": 1, " GOOD_SHA)),
      "not a safe relative path" },
    { MANIFEST (GOOD_HEAD, GOOD_SOURCE, GOOD_LICENCE, FILES ("\"path\": \"a\\\\..\\\\b\", \"size\": 1, " GOOD_SHA)),
      "not a safe relative path" },
    { MANIFEST (GOOD_HEAD, "\"source\": {\"repository\": \"../b\", \"revision\": \"main\"}", GOOD_LICENCE,
                FILES ("\"path\": \"x\", \"size\": 1, " GOOD_SHA)), "owner/name" },
    { MANIFEST (GOOD_HEAD, "\"source\": {\"repository\": \"a/b\", \"revision\": \"x/../y\"}", GOOD_LICENCE,
                FILES ("\"path\": \"x\", \"size\": 1, " GOOD_SHA)), "source.revision" },
    { MANIFEST (GOOD_HEAD, GOOD_SOURCE, GOOD_LICENCE, FILES ("\"path\": \"x\", \"size\": -5, " GOOD_SHA)),
      "files[0].size" },
    { MANIFEST (GOOD_HEAD, GOOD_SOURCE, GOOD_LICENCE, FILES ("\"path\": \"x\", \"size\": 1, \"sha256\": \"abc\"")),
      "files[0].sha256" },
    { MANIFEST (GOOD_HEAD, GOOD_SOURCE, GOOD_LICENCE, "\"files\": []"), "non-empty array" },
    { MANIFEST ("\"format\": 1, \"id\": \"m\", \"name\": \"M\", \"description\": \"d\", \"role\": \"vea\", \"default\": false",
                GOOD_SOURCE, GOOD_LICENCE, FILES ("\"path\": \"x\", \"size\": 1, " GOOD_SHA)), "unknown role 'vea'" },
    { MANIFEST ("\"format\": 2, \"id\": \"m\", \"name\": \"M\", \"description\": \"d\", \"role\": \"vae\", \"default\": false",
                GOOD_SOURCE, GOOD_LICENCE, FILES ("\"path\": \"x\", \"size\": 1, " GOOD_SHA)), "'format'" },
    { MANIFEST ("\"format\": 1, \"id\": \"M/x\", \"name\": \"M\", \"description\": \"d\", \"role\": \"vae\", \"default\": false",
                GOOD_SOURCE, GOOD_LICENCE, FILES ("\"path\": \"x\", \"size\": 1, " GOOD_SHA)), "id 'M/x'" },
    { MANIFEST (GOOD_HEAD, GOOD_SOURCE, GOOD_LICENCE,
                "\"files\": [{\"path\": \"x\", \"size\": 1, " GOOD_SHA "}, {\"path\": \"x\", \"size\": 1, " GOOD_SHA "}]"),
      "listed twice" },
    { MANIFEST (GOOD_HEAD, GOOD_SOURCE, "\"licence\": \"MIT\"", FILES ("\"path\": \"x\", \"size\": 1, " GOOD_SHA)),
      "'licence' must be an object" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(DrapeModelInfo) info = drape_model_info_new_from_data (cases[i].json, strlen (cases[i].json),
                                                                     "m.json", &error);
      if (cases[i].needle == NULL)
        {
          g_assert_no_error (error);
          g_assert_nonnull (info);
          continue;
        }
      g_assert_null (info);
      g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT);
      g_assert_true (g_str_has_prefix (error->message, "m.json: "));
      assert_message_has (error, cases[i].needle);
    }
}

static void
test_catalog_duplicate (Fixture       *fx,
                        gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeCatalog) catalog = NULL;
  g_autofree char *files = published_files (fx);
  g_autofree char *copy = g_build_filename (fx->catalog_dir, "tiny-copy.json", NULL);
  g_autofree char *original = g_build_filename (fx->catalog_dir, "tiny.json", NULL);
  g_autofree char *text = NULL;
  gsize length;

  g_assert_true (g_file_get_contents (original, &text, &length, NULL));
  write_file (copy, text, length);
  catalog = drape_catalog_load (fx->catalog_dir, &error);
  g_assert_null (catalog);
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT);
  assert_message_has (error, "both define the model 'tiny'");
  g_clear_error (&error);

  catalog = drape_catalog_load (fx->models_dir, &error);
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_IO);
  assert_message_has (error, fx->models_dir);
}

/* The store */

static void
test_store_layout (Fixture       *fx,
                   gconstpointer  data)
{
  g_autoptr(DrapeModelStore) store = make_store (fx);
  const DrapeModelInfo *info = drape_catalog_lookup (drape_model_store_get_catalog (store), "tiny");
  g_autofree char *weights = drape_model_store_dup_file_path (store, info, 0);
  g_autofree char *dir = drape_model_store_dup_model_dir (store, info);
  g_autofree char *expected = model_path (fx, WEIGHTS);
  g_autofree char *expected_dir = g_build_filename (fx->models_dir, REPO, "weights", NULL);
  g_autofree char *resolved = NULL;

  g_assert_cmpstr (weights, ==, expected);
  g_assert_cmpstr (dir, ==, expected_dir);

  resolved = drape_model_store_resolve_dir ("/from/settings");
  g_assert_cmpstr (resolved, ==, "/from/settings");
  g_clear_pointer (&resolved, g_free);
  g_setenv ("DRAPE_MODELS_DIR", "/from/env", TRUE);
  resolved = drape_model_store_resolve_dir ("/from/settings");
  g_assert_cmpstr (resolved, ==, "/from/env");
  g_clear_pointer (&resolved, g_free);
  g_unsetenv ("DRAPE_MODELS_DIR");
  resolved = drape_model_store_resolve_dir (NULL);
  g_assert_true (g_str_has_suffix (resolved, "/drape/models"));
}

static void
test_store_states (Fixture       *fx,
                   gconstpointer  data)
{
  g_autoptr(DrapeModelStore) store = make_store (fx);
  g_autofree char *weights = model_path (fx, WEIGHTS);
  g_autofree char *config = model_path (fx, CONFIG);
  g_autofree char *part = g_strconcat (weights, ".part", NULL);
  g_autofree char *dir = NULL;
  g_autoptr(GError) error = NULL;
  const guint8 *bytes = g_bytes_get_data (fx->weights, NULL);
  g_autofree guint8 *altered = g_memdup2 (bytes, WEIGHTS_SIZE);

  g_assert_cmpint (state_of (store, "tiny", DRAPE_CHECK_FULL), ==, DRAPE_MODEL_MISSING);
  write_file (part, bytes, 1000);
  g_assert_cmpint (state_of (store, "tiny", DRAPE_CHECK_QUICK), ==, DRAPE_MODEL_PARTIAL);
  g_unlink (part);
  write_file (config, g_bytes_get_data (fx->config, NULL), g_bytes_get_size (fx->config));
  g_assert_cmpint (state_of (store, "tiny", DRAPE_CHECK_QUICK), ==, DRAPE_MODEL_PARTIAL);

  /* Placed by hand: right sizes, not hashed yet. */
  write_file (weights, bytes, WEIGHTS_SIZE);
  g_assert_cmpint (state_of (store, "tiny", DRAPE_CHECK_QUICK), ==, DRAPE_MODEL_UNVERIFIED);
  dir = drape_model_store_require (store, "tiny", NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (dir);
  /* Now the record vouches for the files: a quick check says verified. */
  g_assert_cmpint (state_of (store, "tiny", DRAPE_CHECK_QUICK), ==, DRAPE_MODEL_VERIFIED);

  /* Same size, one byte changed: the record no longer matches the file's
   * times, a full check hashes and finds it. */
  altered[WEIGHTS_SIZE / 3] ^= 1;
  write_file (weights, altered, WEIGHTS_SIZE);
  g_assert_cmpint (state_of (store, "tiny", DRAPE_CHECK_QUICK), ==, DRAPE_MODEL_UNVERIFIED);
  g_assert_cmpint (state_of (store, "tiny", DRAPE_CHECK_FULL), ==, DRAPE_MODEL_CORRUPT);
  g_assert_null (drape_model_store_require (store, "tiny", NULL, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_CORRUPT);
  assert_message_has (error, "sha256");
  g_clear_error (&error);

  g_assert_null (drape_model_store_require (store, "nope", NULL, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT);
}

static void
test_store_wrong_size (Fixture       *fx,
                       gconstpointer  data)
{
  g_autoptr(DrapeModelStore) store = make_store (fx);
  g_autofree char *weights = model_path (fx, WEIGHTS);
  g_autofree char *config = model_path (fx, CONFIG);
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = NULL;
  DrapeFetchOptions options;
  const DrapeModelInfo *info = drape_catalog_lookup (drape_model_store_get_catalog (store), "tiny");
  g_auto(DrapeModelStatus) status = { 0 };

  write_file (weights, "short", 5);
  write_file (config, g_bytes_get_data (fx->config, NULL), g_bytes_get_size (fx->config));
  drape_model_store_check (store, info, DRAPE_CHECK_QUICK, NULL, NULL, NULL, &status, &error);
  g_assert_no_error (error);
  g_assert_cmpint (status.state, ==, DRAPE_MODEL_CORRUPT);
  g_assert_nonnull (strstr (status.message, "is 5 bytes, the catalog says 300000"));
  g_assert_null (drape_model_store_require (store, "tiny", NULL, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_CORRUPT);
  assert_message_has (error, "5 bytes");
  g_clear_error (&error);

  /* fetch replaces it; the good config stays and is not downloaded. */
  test_options (&options);
  g_assert_true (fetch_one (store, "tiny", &options, &error));
  g_assert_no_error (error);
  assert_file_equals (weights, fx->weights);
  g_assert_cmpuint (count_requests (fx, WEIGHTS), ==, 1);
  g_assert_cmpuint (count_requests (fx, CONFIG), ==, 0);
  dir = drape_model_store_require (store, "tiny", NULL, &error);
  g_assert_no_error (error);
}

static void
test_store_symlink_loop (Fixture       *fx,
                         gconstpointer  data)
{
  g_autoptr(DrapeModelStore) store = make_store (fx);
  g_autofree char *config = model_path (fx, CONFIG);
  g_autofree char *config_dir = g_path_get_dirname (config);
  g_autofree char *loop = g_build_filename (fx->tmp, "loop", NULL);
  g_autofree char *inside = g_build_filename (loop, "models", NULL);
  g_autoptr(DrapeModelStore) looped = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(DrapeModelStatus) status = { 0 };
  const DrapeModelInfo *info = drape_catalog_lookup (drape_model_store_get_catalog (store), "tiny");
  DrapeFetchOptions options;

  /* A model file that is a symlink to itself. */
  g_assert_cmpint (g_mkdir_with_parents (config_dir, 0755), ==, 0);
  g_assert_cmpint (symlink (config, config), ==, 0);
  g_assert_false (drape_model_store_check (store, info, DRAPE_CHECK_QUICK, NULL, NULL, NULL, &status, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_IO);
  assert_message_has (error, config);
  assert_message_has (error, g_strerror (ELOOP));
  g_clear_error (&error);

  /* A models folder inside a symlink loop. */
  g_assert_cmpint (symlink (loop, loop), ==, 0);
  looped = drape_model_store_new (drape_model_store_get_catalog (store), inside);
  test_options (&options);
  g_assert_false (fetch_one (looped, "tiny", &options, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_IO);
  assert_message_has (error, "not writable");
  assert_message_has (error, g_strerror (ELOOP));
  g_assert_cmpuint (count_requests (fx, NULL), ==, 0);
}

static void
test_store_not_writable (Fixture       *fx,
                         gconstpointer  data)
{
  g_autoptr(DrapeModelStore) store = make_store (fx);
  g_autofree char *file = g_build_filename (fx->tmp, "a-file", NULL);
  g_autofree char *under_file = g_build_filename (file, "models", NULL);
  g_autoptr(DrapeModelStore) blocked = NULL;
  g_autoptr(GError) error = NULL;
  DrapeFetchOptions options;

  test_options (&options);
  write_file (file, "x", 1);
  blocked = drape_model_store_new (drape_model_store_get_catalog (store), under_file);
  g_assert_false (fetch_one (blocked, "tiny", &options, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_IO);
  assert_message_has (error, "not writable");
  assert_message_has (error, under_file);
  g_clear_error (&error);

  /* A read-only folder; root writes anyway, so this part needs a user. */
  if (geteuid () != 0)
    {
      g_autofree char *readonly = g_build_filename (fx->tmp, "readonly", NULL);
      g_autoptr(DrapeModelStore) ro = NULL;

      g_assert_cmpint (g_mkdir (readonly, 0555), ==, 0);
      ro = drape_model_store_new (drape_model_store_get_catalog (store), readonly);
      g_assert_false (fetch_one (ro, "tiny", &options, &error));
      g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_IO);
      assert_message_has (error, "not writable");
    }
  g_assert_cmpuint (count_requests (fx, NULL), ==, 0);
}

/* Fetching */

typedef struct {
  guint calls;
  guint64 last_done;
  guint64 last_total;
  gboolean monotonic;
  guint files_done;
  GThread *thread;
  gboolean other_thread;
  GCancellable *cancel_when_downloading;
  gboolean after_finish;
  gboolean finished;
} ProgressLog;

static void
on_progress (const DrapeFetchProgress *progress,
             gpointer                  user_data)
{
  ProgressLog *log = user_data;

  if (log->calls > 0 && progress->done < log->last_done)
    log->monotonic = FALSE;
  log->calls++;
  log->last_done = progress->done;
  log->last_total = progress->total;
  g_assert_nonnull (progress->model_id);
  g_assert_nonnull (progress->file);
  g_assert_cmpuint (progress->file_index, >=, 1);
  g_assert_cmpuint (progress->file_index, <=, progress->n_files);
  if (progress->phase == DRAPE_FETCH_FILE_DONE)
    log->files_done++;
  if (log->thread != NULL && g_thread_self () != log->thread)
    log->other_thread = TRUE;
  if (log->finished)
    log->after_finish = TRUE;
  if (log->cancel_when_downloading != NULL && progress->phase == DRAPE_FETCH_DOWNLOADING &&
      progress->file_done > 0)
    g_cancellable_cancel (log->cancel_when_downloading);
}

static void
test_fetch_basic (Fixture       *fx,
                  gconstpointer  data)
{
  g_autoptr(DrapeModelStore) store = make_store (fx);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) requests = NULL;
  g_autofree char *weights = model_path (fx, WEIGHTS);
  g_autofree char *config = model_path (fx, CONFIG);
  g_autofree char *record = g_build_filename (fx->models_dir, ".drape", "tiny.json", NULL);
  ProgressLog log = { .monotonic = TRUE };
  DrapeFetchOptions options;

  test_options (&options);
  /* NULL ids: the defaults, which here is "tiny". */
  g_assert_true (drape_model_store_fetch (store, NULL, &options, on_progress, &log, NULL, &error));
  g_assert_no_error (error);
  assert_file_equals (weights, fx->weights);
  assert_file_equals (config, fx->config);
  g_assert_true (g_file_test (record, G_FILE_TEST_IS_REGULAR));
  g_assert_cmpint (state_of (store, "tiny", DRAPE_CHECK_QUICK), ==, DRAPE_MODEL_VERIFIED);

  requests = hub_server_dup_requests (fx->hub);
  g_assert_cmpuint (requests->len, ==, 2);
  g_assert_cmpstr (((HubRequest *) requests->pdata[0])->path, ==, "/" REPO "/resolve/" REVISION "/" WEIGHTS);
  g_assert_cmpstr (((HubRequest *) requests->pdata[1])->path, ==, "/" REPO "/resolve/" REVISION "/" CONFIG);
  g_assert_null (((HubRequest *) requests->pdata[0])->range);
  g_assert_null (((HubRequest *) requests->pdata[0])->authorization);

  g_assert_true (log.monotonic);
  g_assert_cmpuint (log.files_done, ==, 2);
  g_assert_cmpuint (log.last_total, ==, WEIGHTS_SIZE + g_bytes_get_size (fx->config));
  g_assert_cmpuint (log.last_done, ==, log.last_total);

  /* Everything verified: a second fetch asks nothing of the server. */
  hub_server_clear_requests (fx->hub);
  g_assert_true (fetch_one (store, "tiny", &options, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (count_requests (fx, NULL), ==, 0);
  /* force downloads again. */
  options.force = TRUE;
  g_assert_true (fetch_one (store, "tiny", &options, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (count_requests (fx, NULL), ==, 2);
  assert_file_equals (weights, fx->weights);
}

static void
test_fetch_resume (Fixture       *fx,
                   gconstpointer  data)
{
  g_autoptr(DrapeModelStore) store = make_store (fx);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) requests = NULL;
  g_autofree char *weights = model_path (fx, WEIGHTS);
  g_autofree char *part = g_strconcat (weights, ".part", NULL);
  const HubRequest *request;
  DrapeFetchOptions options;
  GStatBuf st;

  test_options (&options);
  options.max_retries = 0;
  hub_server_set_fault (fx->hub, WEIGHTS, HUB_FAULT_CUT, 1, 100000);
  g_assert_false (fetch_one (store, "tiny", &options, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_NETWORK);
  assert_message_has (error, "tiny: ");
  assert_message_has (error, WEIGHTS);
  g_clear_error (&error);
  g_assert_false (g_file_test (weights, G_FILE_TEST_EXISTS));
  g_assert_cmpint (g_stat (part, &st), ==, 0);
  g_assert_cmpint (st.st_size, ==, 100000);
  g_assert_cmpint (state_of (store, "tiny", DRAPE_CHECK_QUICK), ==, DRAPE_MODEL_PARTIAL);

  hub_server_clear_requests (fx->hub);
  g_assert_true (fetch_one (store, "tiny", &options, &error));
  g_assert_no_error (error);
  assert_file_equals (weights, fx->weights);
  g_assert_false (g_file_test (part, G_FILE_TEST_EXISTS));
  requests = hub_server_dup_requests (fx->hub);
  g_assert_cmpuint (count_requests (fx, WEIGHTS), ==, 1);
  request = requests->pdata[0];
  g_assert_true (g_str_has_suffix (request->path, WEIGHTS));
  g_assert_cmpstr (request->range, ==, "bytes=100000-");
  g_assert_cmpuint (request->status, ==, 206);
  g_assert_cmpint (state_of (store, "tiny", DRAPE_CHECK_QUICK), ==, DRAPE_MODEL_VERIFIED);
}

static void
test_fetch_retry (Fixture       *fx,
                  gconstpointer  data)
{
  g_autoptr(DrapeModelStore) store = make_store (fx);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) requests = NULL;
  g_autofree char *weights = model_path (fx, WEIGHTS);
  DrapeFetchOptions options;

  /* Cut twice: the retries resume and finish in one fetch. */
  test_options (&options);
  options.max_retries = 3;
  hub_server_set_fault (fx->hub, WEIGHTS, HUB_FAULT_CUT, 2, 70000);
  g_assert_true (fetch_one (store, "tiny", &options, &error));
  g_assert_no_error (error);
  assert_file_equals (weights, fx->weights);
  requests = hub_server_dup_requests (fx->hub);
  g_assert_cmpuint (count_requests (fx, WEIGHTS), ==, 3);
  g_assert_null (((HubRequest *) requests->pdata[0])->range);
  g_assert_cmpstr (((HubRequest *) requests->pdata[1])->range, ==, "bytes=70000-");
  g_assert_cmpstr (((HubRequest *) requests->pdata[2])->range, ==, "bytes=140000-");

  /* Transient statuses are retried, the others are not. */
  hub_server_clear_requests (fx->hub);
  options.force = TRUE;
  hub_server_set_fault (fx->hub, CONFIG, HUB_FAULT_STATUS, 1, 503);
  g_assert_true (fetch_one (store, "tiny", &options, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (count_requests (fx, CONFIG), ==, 2);
}

static void
test_fetch_ignore_range (Fixture       *fx,
                         gconstpointer  data)
{
  g_autoptr(DrapeModelStore) store = make_store (fx);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) requests = NULL;
  g_autofree char *weights = model_path (fx, WEIGHTS);
  g_autofree char *part = g_strconcat (weights, ".part", NULL);
  const HubRequest *request;
  DrapeFetchOptions options;

  test_options (&options);
  write_file (part, g_bytes_get_data (fx->weights, NULL), 50000);
  hub_server_set_fault (fx->hub, WEIGHTS, HUB_FAULT_IGNORE_RANGE, G_MAXUINT, 0);
  g_assert_true (fetch_one (store, "tiny", &options, &error));
  g_assert_no_error (error);
  assert_file_equals (weights, fx->weights);
  requests = hub_server_dup_requests (fx->hub);
  g_assert_cmpuint (count_requests (fx, WEIGHTS), ==, 1);
  request = requests->pdata[0];
  g_assert_cmpstr (request->range, ==, "bytes=50000-");
  g_assert_cmpuint (request->status, ==, 200);
  g_assert_false (g_file_test (part, G_FILE_TEST_EXISTS));
}

static void
test_fetch_wrong_bytes (Fixture       *fx,
                        gconstpointer  data)
{
  g_autoptr(DrapeModelStore) store = make_store (fx);
  g_autoptr(GError) error = NULL;
  g_autofree char *weights = model_path (fx, WEIGHTS);
  g_autofree char *part = g_strconcat (weights, ".part", NULL);
  DrapeFetchOptions options;
  GStatBuf before, after;

  test_options (&options);
  hub_server_set_fault (fx->hub, WEIGHTS, HUB_FAULT_WRONG_BYTES, G_MAXUINT, 0);
  g_assert_false (fetch_one (store, "tiny", &options, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_CORRUPT);
  assert_message_has (error, "sha256");
  assert_message_has (error, fx->weights_sha);
  g_clear_error (&error);
  g_assert_false (g_file_test (weights, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (part, G_FILE_TEST_EXISTS));
  /* The config was never reached: nothing of the model is there. */
  g_assert_cmpint (state_of (store, "tiny", DRAPE_CHECK_FULL), ==, DRAPE_MODEL_MISSING);

  /* A good file in place survives a forced download of bad bytes. */
  hub_server_set_fault (fx->hub, WEIGHTS, HUB_FAULT_NONE, 0, 0);
  g_assert_true (fetch_one (store, "tiny", &options, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_stat (weights, &before), ==, 0);
  hub_server_set_fault (fx->hub, WEIGHTS, HUB_FAULT_WRONG_BYTES, G_MAXUINT, 0);
  options.force = TRUE;
  g_assert_false (fetch_one (store, "tiny", &options, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_CORRUPT);
  g_clear_error (&error);
  g_assert_cmpint (g_stat (weights, &after), ==, 0);
  g_assert_cmpuint (before.st_ino, ==, after.st_ino);
  assert_file_equals (weights, fx->weights);
  g_assert_false (g_file_test (part, G_FILE_TEST_EXISTS));
  g_assert_cmpint (state_of (store, "tiny", DRAPE_CHECK_QUICK), ==, DRAPE_MODEL_VERIFIED);
}

static void
test_fetch_http_errors (Fixture       *fx,
                        gconstpointer  data)
{
  g_autoptr(DrapeModelStore) store = make_store (fx);
  g_autoptr(GError) error = NULL;
  g_autofree char *weights = model_path (fx, WEIGHTS);
  DrapeFetchOptions options;

  test_options (&options);
  hub_server_set_fault (fx->hub, WEIGHTS, HUB_FAULT_STATUS, G_MAXUINT, 404);
  g_assert_false (fetch_one (store, "tiny", &options, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_NETWORK);
  assert_message_has (error, "HTTP 404");
  assert_message_has (error, "/" REPO "/resolve/" REVISION "/" WEIGHTS);
  g_clear_error (&error);
  g_assert_cmpuint (count_requests (fx, WEIGHTS), ==, 1);

  hub_server_clear_requests (fx->hub);
  hub_server_set_fault (fx->hub, WEIGHTS, HUB_FAULT_STATUS, G_MAXUINT, 500);
  g_assert_false (fetch_one (store, "tiny", &options, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_NETWORK);
  assert_message_has (error, "HTTP 500");
  g_clear_error (&error);
  g_assert_cmpuint (count_requests (fx, WEIGHTS), ==, 1 + options.max_retries);

  hub_server_clear_requests (fx->hub);
  hub_server_set_fault (fx->hub, WEIGHTS, HUB_FAULT_STATUS, G_MAXUINT, 401);
  g_assert_false (fetch_one (store, "tiny", &options, &error));
  assert_message_has (error, "HF_TOKEN");
  g_clear_error (&error);
  g_assert_false (g_file_test (weights, G_FILE_TEST_EXISTS));
  /* No empty folders left behind for the file that never came. */
  {
    g_autofree char *repo_dir = g_build_filename (fx->models_dir, "test", NULL);
    g_assert_false (g_file_test (repo_dir, G_FILE_TEST_EXISTS));
  }
}

static void
test_fetch_redirects (Fixture       *fx,
                      gconstpointer  data)
{
  g_autoptr(DrapeModelStore) store = make_store (fx);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) requests = NULL;
  g_autofree char *weights = model_path (fx, WEIGHTS);
  DrapeFetchOptions options;
  guint to_endpoint = 0, elsewhere = 0;

  test_options (&options);
  g_setenv ("HF_TOKEN", "hf_secret", TRUE);
  hub_server_set_redirects (fx->hub, WEIGHTS, 3);
  g_assert_true (fetch_one (store, "tiny", &options, &error));
  g_assert_no_error (error);
  assert_file_equals (weights, fx->weights);
  requests = hub_server_dup_requests (fx->hub);
  g_assert_cmpuint (count_requests (fx, WEIGHTS), ==, 4);
  for (guint i = 0; i < requests->len; i++)
    {
      const HubRequest *r = requests->pdata[i];

      if (g_str_has_prefix (r->host, "127.0.0.1"))
        {
          g_assert_cmpstr (r->authorization, ==, "Bearer hf_secret");
          to_endpoint++;
        }
      else
        {
          g_assert_true (g_str_has_prefix (r->host, "localhost"));
          g_assert_null (r->authorization);
          elsewhere++;
        }
    }
  /* weights: one to the hub, three along the chain; config: one. */
  g_assert_cmpuint (to_endpoint, ==, 2);
  g_assert_cmpuint (elsewhere, ==, 3);

  options.force = TRUE;
  hub_server_set_fault (fx->hub, WEIGHTS, HUB_FAULT_REDIRECT_LOOP, G_MAXUINT, 0);
  g_assert_false (fetch_one (store, "tiny", &options, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_NETWORK);
  assert_message_has (error, "too many redirects");
}

static void
test_fetch_cancel (Fixture       *fx,
                   gconstpointer  data)
{
  g_autoptr(DrapeModelStore) store = make_store (fx);
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autofree char *weights = model_path (fx, WEIGHTS);
  g_autofree char *part = g_strconcat (weights, ".part", NULL);
  ProgressLog log = { .monotonic = TRUE, .cancel_when_downloading = cancellable };
  const char *ids[] = { "tiny", NULL };
  DrapeFetchOptions options;
  gint64 start;

  /* 300 kB at 20 kB/s would take 15 s: cancel stops it at once. */
  test_options (&options);
  hub_server_set_fault (fx->hub, WEIGHTS, HUB_FAULT_SLOW, G_MAXUINT, 0);
  start = g_get_monotonic_time ();
  g_assert_false (drape_model_store_fetch (store, ids, &options, on_progress, &log, cancellable, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_CANCELLED);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);
  g_assert_false (g_file_test (weights, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (part, G_FILE_TEST_IS_REGULAR));
  g_assert_cmpint (state_of (store, "tiny", DRAPE_CHECK_QUICK), ==, DRAPE_MODEL_PARTIAL);
}

static void
test_fetch_no_space (Fixture       *fx,
                     gconstpointer  data)
{
  g_autoptr(DrapeModelStore) store = make_store (fx);
  g_autoptr(GError) error = NULL;
  DrapeFetchOptions options;

  test_options (&options);
  options.free_space_limit = 100000;
  g_assert_false (fetch_one (store, "tiny", &options, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_NO_SPACE);
  assert_message_has (error, "not enough disk space");
  g_assert_cmpuint (count_requests (fx, NULL), ==, 0);

  /* Enough for what is left once most of it is there. */
  g_clear_error (&error);
  {
    g_autofree char *weights = model_path (fx, WEIGHTS);
    g_autofree char *part = g_strconcat (weights, ".part", NULL);
    write_file (part, g_bytes_get_data (fx->weights, NULL), 250000);
  }
  g_assert_true (fetch_one (store, "tiny", &options, &error));
  g_assert_no_error (error);
}

static void
test_fetch_write_error_child (Fixture       *fx,
                              gconstpointer  data)
{
  g_autoptr(DrapeModelStore) own = make_store (fx);
  g_autoptr(DrapeModelStore) store = NULL;
  g_autoptr(GError) error = NULL;
  struct rlimit limit = { 100000, 100000 };
  DrapeFetchOptions options;

  /* Into the parent's models folder, so that it can look at the result. */
  if (!g_test_subprocess ())
    return;
  store = drape_model_store_new (drape_model_store_get_catalog (own), g_getenv ("TEST_PARENT_MODELS_DIR"));
  /* A file system that fills up mid-file: writes past 100 kB fail. */
  signal (SIGXFSZ, SIG_IGN);
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &limit), ==, 0);
  test_options (&options);
  g_assert_false (fetch_one (store, "tiny", &options, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_NO_SPACE);
  g_printerr ("child: %s\n", error->message);
}

static void
test_fetch_write_error (Fixture       *fx,
                        gconstpointer  data)
{
  g_autoptr(DrapeModelStore) store = NULL;
  g_autofree char *weights = model_path (fx, WEIGHTS);
  g_autofree char *part = g_strconcat (weights, ".part", NULL);
  DrapeFetchOptions options;
  GStatBuf st;

  g_setenv ("TEST_PARENT_MODELS_DIR", fx->models_dir, TRUE);
  g_test_trap_subprocess ("/models/fetch/write-error/subprocess", 0, G_TEST_SUBPROCESS_DEFAULT);
  g_unsetenv ("TEST_PARENT_MODELS_DIR");
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*writing*" WEIGHTS ".part*");
  /* Nothing in place; the partial file is kept for a resume, which then
   * completes. */
  g_assert_false (g_file_test (weights, G_FILE_TEST_EXISTS));
  g_assert_cmpint (g_stat (part, &st), ==, 0);
  g_assert_cmpint (st.st_size, <=, 100000);
  store = make_store (fx);
  test_options (&options);
  g_assert_true (fetch_one (store, "tiny", &options, NULL));
  assert_file_equals (weights, fx->weights);
}

static void
test_fetch_size_mismatch (Fixture       *fx,
                          gconstpointer  data)
{
  g_autoptr(DrapeModelStore) store = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *files = g_strdup_printf ("{\"path\": \"" WEIGHTS "\", \"size\": 299999, \"sha256\": \"%s\"}",
                                            fx->weights_sha);
  g_autofree char *weights = model_path (fx, WEIGHTS);
  g_autofree char *part = g_strconcat (weights, ".part", NULL);
  DrapeFetchOptions options;

  write_manifest (fx, "tiny", files);
  store = make_store (fx);
  test_options (&options);
  g_assert_false (fetch_one (store, "tiny", &options, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_CORRUPT);
  assert_message_has (error, "offers 300000 bytes, expected 299999");
  g_assert_false (g_file_test (weights, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (part, G_FILE_TEST_EXISTS));
}

static void
test_fetch_unverified (Fixture       *fx,
                       gconstpointer  data)
{
  g_autoptr(DrapeModelStore) store = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *weights = model_path (fx, WEIGHTS);
  g_autofree char *config = model_path (fx, CONFIG);
  g_autofree char *dir = NULL;
  g_autofree char *text = NULL;
  g_autofree char *record_file = g_build_filename (fx->models_dir, ".drape", "tiny.json", NULL);
  const guint8 *bytes = g_bytes_get_data (fx->weights, NULL);
  g_autofree guint8 *altered = g_memdup2 (bytes, WEIGHTS_SIZE);
  DrapeFetchOptions options;

  write_manifest (fx, "tiny",
                  "{\"path\": \"" WEIGHTS "\", \"size\": \"unverified\", \"sha256\": \"unverified\"},"
                  "{\"path\": \"" CONFIG "\", \"size\": \"unverified\", \"sha256\": \"unverified\"}");
  store = make_store (fx);
  test_options (&options);

  /* Files placed by hand cannot be verified against anything. */
  write_file (config, g_bytes_get_data (fx->config, NULL), g_bytes_get_size (fx->config));
  write_file (weights, bytes, WEIGHTS_SIZE);
  g_assert_cmpint (state_of (store, "tiny", DRAPE_CHECK_FULL), ==, DRAPE_MODEL_UNVERIFIED);
  g_assert_null (drape_model_store_require (store, "tiny", NULL, &error));
  assert_message_has (error, "cannot be verified");
  g_clear_error (&error);

  /* The hub announces the weights' hash (X-Linked-Etag): a download of
   * other bytes is rejected. */
  hub_server_set_linked (fx->hub, WEIGHTS, fx->weights_sha);
  hub_server_set_fault (fx->hub, WEIGHTS, HUB_FAULT_WRONG_BYTES, 1, 0);
  g_assert_false (fetch_one (store, "tiny", &options, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_CORRUPT);
  g_clear_error (&error);
  /* The hand-placed file was not replaced by the bad download. */
  assert_file_equals (weights, fx->weights);

  /* Then a good download: the hashes are recorded (hub's for the weights,
   * the computed one for the config). */
  g_assert_true (fetch_one (store, "tiny", &options, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (record_file, &text, NULL, NULL));
  g_assert_nonnull (strstr (text, fx->weights_sha));
  g_assert_nonnull (strstr (text, fx->config_sha));
  g_assert_nonnull (strstr (text, "\"hub\""));
  g_assert_nonnull (strstr (text, "\"download\""));
  g_assert_cmpint (state_of (store, "tiny", DRAPE_CHECK_REHASH), ==, DRAPE_MODEL_VERIFIED);
  dir = drape_model_store_require (store, "tiny", NULL, &error);
  g_assert_no_error (error);

  /* And are checked ever after. */
  altered[7] ^= 0xff;
  write_file (weights, altered, WEIGHTS_SIZE);
  g_assert_cmpint (state_of (store, "tiny", DRAPE_CHECK_FULL), ==, DRAPE_MODEL_CORRUPT);
  write_file (weights, altered, WEIGHTS_SIZE - 1);
  g_assert_cmpint (state_of (store, "tiny", DRAPE_CHECK_QUICK), ==, DRAPE_MODEL_CORRUPT);
}

static void
test_fetch_linked_mismatch (Fixture       *fx,
                            gconstpointer  data)
{
  g_autoptr(DrapeModelStore) store = make_store (fx);
  g_autoptr(GError) error = NULL;
  g_autofree char *weights = model_path (fx, WEIGHTS);
  g_autofree char *part = g_strconcat (weights, ".part", NULL);
  DrapeFetchOptions options;

  /* The catalog and the hub disagree: nothing is downloaded. */
  test_options (&options);
  hub_server_set_linked (fx->hub, WEIGHTS, fx->config_sha);
  g_assert_false (fetch_one (store, "tiny", &options, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_CORRUPT);
  assert_message_has (error, "the hub announces sha256");
  g_assert_false (g_file_test (part, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (count_requests (fx, WEIGHTS), ==, 1);
}

static void
test_fetch_endpoint (Fixture       *fx,
                     gconstpointer  data)
{
  g_autoptr(DrapeModelStore) store = make_store (fx);
  g_autoptr(GError) error = NULL;
  g_autofree char *slashed = g_strconcat (hub_server_get_url (fx->hub), "/", NULL);
  g_autoptr(DrapeDownloader) downloader = NULL;
  g_autofree char *url = NULL;
  DrapeFetchOptions options;

  test_options (&options);
  g_setenv ("HF_HUB_OFFLINE", "1", TRUE);
  g_assert_false (fetch_one (store, "tiny", &options, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_NETWORK);
  assert_message_has (error, "HF_HUB_OFFLINE");
  g_clear_error (&error);
  g_unsetenv ("HF_HUB_OFFLINE");
  g_assert_cmpuint (count_requests (fx, NULL), ==, 0);

  g_setenv ("HF_ENDPOINT", "ftp://example.org", TRUE);
  g_assert_false (fetch_one (store, "tiny", &options, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT);
  assert_message_has (error, "HF_ENDPOINT");
  g_clear_error (&error);

  g_setenv ("HF_ENDPOINT", slashed, TRUE);
  downloader = drape_downloader_new (&options, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (drape_downloader_get_endpoint (downloader), ==, hub_server_get_url (fx->hub));
  url = drape_downloader_dup_url (downloader, "a/b", "refs/pr/1", "dir/x y.json");
  g_assert_true (g_str_has_suffix (url, "/a/b/resolve/refs%2Fpr%2F1/dir/x%20y.json"));
  g_assert_true (drape_downloader_probe (downloader, 5, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (fetch_one (store, "tiny", &options, &error));
  g_assert_no_error (error);

  /* Nothing listens on port 1. */
  g_setenv ("HF_ENDPOINT", "http://127.0.0.1:1", TRUE);
  g_clear_pointer (&downloader, drape_downloader_free);
  downloader = drape_downloader_new (&options, &error);
  g_assert_false (drape_downloader_probe (downloader, 2, NULL, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_NETWORK);
  assert_message_has (error, "not reachable");
}

static void
test_fetch_busy (Fixture       *fx,
                 gconstpointer  data)
{
  g_autoptr(DrapeModelStore) store = make_store (fx);
  g_autoptr(GError) error = NULL;
  g_autofree char *state_dir = g_build_filename (fx->models_dir, ".drape", NULL);
  g_autofree char *lock = g_build_filename (state_dir, "lock", NULL);
  DrapeFetchOptions options;
  int fd;

  /* Another process's lock (flock locks are per open file). */
  g_assert_cmpint (g_mkdir_with_parents (state_dir, 0755), ==, 0);
  fd = g_open (lock, O_RDWR | O_CREAT, 0644);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (flock (fd, LOCK_EX), ==, 0);
  test_options (&options);
  g_assert_false (fetch_one (store, "tiny", &options, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_BUSY);
  g_clear_error (&error);
  g_assert_false (drape_model_store_remove (store, "tiny", &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_BUSY);
  g_clear_error (&error);
  close (fd);
  g_assert_true (fetch_one (store, "tiny", &options, &error));
  g_assert_no_error (error);
}

static void
test_remove (Fixture       *fx,
             gconstpointer  data)
{
  g_autoptr(DrapeModelStore) store = make_store (fx);
  g_autoptr(GError) error = NULL;
  g_autofree char *weights = model_path (fx, WEIGHTS);
  g_autofree char *repo_dir = g_build_filename (fx->models_dir, "test", NULL);
  g_autofree char *record = g_build_filename (fx->models_dir, ".drape", "tiny.json", NULL);
  DrapeFetchOptions options;

  test_options (&options);
  g_assert_true (fetch_one (store, "tiny", &options, &error));
  g_assert_no_error (error);
  g_assert_true (drape_model_store_remove (store, "tiny", &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (weights, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (record, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (repo_dir, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (fx->models_dir, G_FILE_TEST_IS_DIR));
  g_assert_cmpint (state_of (store, "tiny", DRAPE_CHECK_FULL), ==, DRAPE_MODEL_MISSING);
  /* Removing what is not there is not an error. */
  g_assert_true (drape_model_store_remove (store, "tiny", &error));
  g_assert_no_error (error);
}

typedef struct {
  GMainLoop *loop;
  gboolean ok;
  GError *error;
  ProgressLog *log;
  gboolean notified;
} AsyncState;

static void
on_fetched (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  AsyncState *state = user_data;

  state->ok = drape_model_store_fetch_finish (NULL, result, &state->error);
  state->log->finished = TRUE;
  g_main_loop_quit (state->loop);
}

static void
on_progress_notify (gpointer data)
{
  AsyncState *state = data;

  state->notified = TRUE;
}

static void
on_async_progress (const DrapeFetchProgress *progress,
                   gpointer                  user_data)
{
  AsyncState *state = user_data;

  on_progress (progress, state->log);
}

static gboolean
on_timeout (gpointer data)
{
  g_error ("asynchronous fetch did not finish");
  return G_SOURCE_REMOVE;
}

static void
test_fetch_async (Fixture       *fx,
                  gconstpointer  data)
{
  g_autoptr(DrapeModelStore) store = make_store (fx);
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autofree char *weights = model_path (fx, WEIGHTS);
  ProgressLog log = { .monotonic = TRUE, .thread = g_thread_self () };
  AsyncState state = { .loop = loop, .log = &log };
  const char *ids[] = { "tiny", NULL };
  DrapeFetchOptions options;
  guint timeout;

  test_options (&options);
  drape_model_store_fetch_async (store, ids, &options, on_async_progress, &state, on_progress_notify, NULL,
                                 on_fetched, &state);
  timeout = g_timeout_add_seconds (30, on_timeout, NULL);
  g_main_loop_run (loop);
  g_source_remove (timeout);
  g_assert_no_error (state.error);
  g_assert_true (state.ok);
  g_assert_true (state.notified);
  assert_file_equals (weights, fx->weights);
  g_assert_cmpuint (log.calls, >, 0);
  g_assert_false (log.other_thread);
  g_assert_true (log.monotonic);
  /* The last progress shown is the end. */
  g_assert_cmpuint (log.last_done, ==, log.last_total);
  /* Nothing after the callback. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_false (log.after_finish);
}

/* drape-cli models */

static int
run_cli (Fixture     *fx,
         char       **out,
         char       **err,
         const char  *first,
         ...)
{
  const char *cli = g_getenv ("DRAPE_CLI");
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_auto(GStrv) env = g_get_environ ();
  g_autoptr(GError) error = NULL;
  va_list args;
  int status;

  g_assert_nonnull (cli);
  env = g_environ_setenv (env, "DRAPE_CATALOG_DIR", fx->catalog_dir, TRUE);
  env = g_environ_setenv (env, "DRAPE_MODELS_DIR", fx->models_dir, TRUE);
  g_ptr_array_add (argv, (char *) cli);
  g_ptr_array_add (argv, (char *) "models");
  va_start (args, first);
  for (const char *a = first; a != NULL; a = va_arg (args, const char *))
    g_ptr_array_add (argv, (char *) a);
  va_end (args);
  g_ptr_array_add (argv, NULL);
  g_spawn_sync (NULL, (char **) argv->pdata, env, G_SPAWN_DEFAULT, NULL, NULL, out, err, &status, &error);
  g_assert_no_error (error);
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static void
test_cli (Fixture       *fx,
          gconstpointer  data)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *expected_dir = g_build_filename (fx->models_dir, REPO, "weights", NULL);
  g_autofree char *weights = model_path (fx, WEIGHTS);

  g_assert_cmpint (run_cli (fx, &out, &err, "list", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "tiny"));
  g_assert_nonnull (strstr (out, "missing"));
  g_assert_nonnull (strstr (out, "MIT"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_assert_cmpint (run_cli (fx, &out, &err, "ready", NULL), ==, 1);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* Not a terminal: plain lines, one per file at least. */
  g_assert_cmpint (run_cli (fx, &out, &err, "fetch", NULL), ==, 0);
  g_assert_nonnull (strstr (out, WEIGHTS));
  g_assert_null (strchr (out, '\r'));
  assert_file_equals (weights, fx->weights);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_assert_cmpint (run_cli (fx, &out, &err, "ready", NULL), ==, 0);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_assert_cmpint (run_cli (fx, &out, &err, "list", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "verified"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_assert_cmpint (run_cli (fx, &out, &err, "path", "tiny", NULL), ==, 0);
  g_strstrip (out);
  g_assert_cmpstr (out, ==, expected_dir);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_assert_cmpint (run_cli (fx, &out, &err, "verify", NULL), ==, 0);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* A damaged file: verify fails and says which. */
  write_file (weights, "bad", 3);
  g_assert_cmpint (run_cli (fx, &out, &err, "verify", "tiny", NULL), ==, 1);
  g_assert_nonnull (strstr (out, "corrupt"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_assert_cmpint (run_cli (fx, &out, &err, "path", "nope", NULL), !=, 0);
  g_assert_nonnull (strstr (err, "no model 'nope'"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_assert_cmpint (run_cli (fx, &out, &err, "remove", "tiny", NULL), ==, 0);
  g_assert_false (g_file_test (weights, G_FILE_TEST_EXISTS));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* The hub answers 404: a clear error, non-zero status. */
  hub_server_set_fault (fx->hub, WEIGHTS, HUB_FAULT_STATUS, G_MAXUINT, 404);
  g_assert_cmpint (run_cli (fx, &out, &err, "fetch", "tiny", NULL), !=, 0);
  g_assert_nonnull (strstr (err, "HTTP 404"));
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/models/catalog/real", test_catalog_real);
  g_test_add_func ("/models/catalog/default-dir", test_catalog_default_dir);
  g_test_add_func ("/models/catalog/bad", test_catalog_bad);
#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/models/catalog/duplicate", test_catalog_duplicate);
  ADD ("/models/store/layout", test_store_layout);
  ADD ("/models/store/states", test_store_states);
  ADD ("/models/store/wrong-size", test_store_wrong_size);
  ADD ("/models/store/symlink-loop", test_store_symlink_loop);
  ADD ("/models/store/not-writable", test_store_not_writable);
  ADD ("/models/fetch/basic", test_fetch_basic);
  ADD ("/models/fetch/resume", test_fetch_resume);
  ADD ("/models/fetch/retry", test_fetch_retry);
  ADD ("/models/fetch/ignore-range", test_fetch_ignore_range);
  ADD ("/models/fetch/wrong-bytes", test_fetch_wrong_bytes);
  ADD ("/models/fetch/http-errors", test_fetch_http_errors);
  ADD ("/models/fetch/redirects", test_fetch_redirects);
  ADD ("/models/fetch/cancel", test_fetch_cancel);
  ADD ("/models/fetch/no-space", test_fetch_no_space);
  ADD ("/models/fetch/write-error", test_fetch_write_error);
  ADD ("/models/fetch/write-error/subprocess", test_fetch_write_error_child);
  ADD ("/models/fetch/size-mismatch", test_fetch_size_mismatch);
  ADD ("/models/fetch/unverified", test_fetch_unverified);
  ADD ("/models/fetch/linked-mismatch", test_fetch_linked_mismatch);
  ADD ("/models/fetch/endpoint", test_fetch_endpoint);
  ADD ("/models/fetch/busy", test_fetch_busy);
  ADD ("/models/fetch/async", test_fetch_async);
  ADD ("/models/remove", test_remove);
  ADD ("/models/cli", test_cli);
#undef ADD
  return g_test_run ();
}
