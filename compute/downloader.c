/* downloader.c: resumable, verified downloads from the Hugging Face hub
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "downloader.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>

#include "error.h"

#define DEFAULT_ENDPOINT "https://huggingface.co"
#define MAX_REDIRECTS 10
#define BUFFER_SIZE (256 * 1024)
#define MAX_BACKOFF_MS 60000

struct _DrapeDownloader {
  DrapeFetchOptions options;
  SoupSession *session;
  GUri *endpoint;
  char *endpoint_string;
  char *token;
  gboolean offline;
};

/* What one GET returned once redirects were followed. */
typedef struct {
  SoupMessage *message;
  GInputStream *body;
  /* What the hub (the endpoint's origin) announced for an LFS file. */
  gint64 hub_size;        /* -1: none */
  char *hub_sha256;       /* or NULL */
} Response;

static void
response_clear (Response *response)
{
  if (response->body != NULL)
    g_input_stream_close (response->body, NULL, NULL);
  g_clear_object (&response->body);
  g_clear_object (&response->message);
  g_clear_pointer (&response->hub_sha256, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Response, response_clear)

void
drape_fetch_options_init (DrapeFetchOptions *options)
{
  *options = (DrapeFetchOptions) {
    .max_retries = 4,
    .retry_delay_ms = 1000,
    .timeout_s = 30,
  };
}

void
drape_download_result_clear (DrapeDownloadResult *result)
{
  g_clear_pointer (&result->sha256, g_free);
  result->size = 0;
  result->checked_against = NULL;
}

/* huggingface_hub's reading of boolean variables. */
static gboolean
env_is_true (const char *name)
{
  const char *value = g_getenv (name);

  return value != NULL && (g_ascii_strcasecmp (value, "1") == 0 || g_ascii_strcasecmp (value, "on") == 0 ||
                           g_ascii_strcasecmp (value, "yes") == 0 || g_ascii_strcasecmp (value, "true") == 0);
}

DrapeDownloader *
drape_downloader_new (const DrapeFetchOptions *options,
                      GError                 **error)
{
  g_autoptr(DrapeDownloader) downloader = g_new0 (DrapeDownloader, 1);
  const char *endpoint = g_getenv ("HF_ENDPOINT");
  const char *token = g_getenv ("HF_TOKEN");
  g_autofree char *trimmed = NULL;
  const char *scheme;

  if (options != NULL)
    downloader->options = *options;
  else
    drape_fetch_options_init (&downloader->options);
  if (endpoint == NULL || endpoint[0] == '\0')
    endpoint = DEFAULT_ENDPOINT;
  trimmed = g_strdup (endpoint);
  while (g_str_has_suffix (trimmed, "/"))
    trimmed[strlen (trimmed) - 1] = '\0';
  downloader->endpoint = g_uri_parse (trimmed, G_URI_FLAGS_ENCODED, NULL);
  scheme = downloader->endpoint != NULL ? g_uri_get_scheme (downloader->endpoint) : NULL;
  if (scheme == NULL || (strcmp (scheme, "http") != 0 && strcmp (scheme, "https") != 0) ||
      g_uri_get_host (downloader->endpoint) == NULL)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                   "HF_ENDPOINT '%s' is not an http:// or https:// URL", endpoint);
      return NULL;
    }
  downloader->endpoint_string = g_steal_pointer (&trimmed);
  downloader->token = token != NULL && token[0] != '\0' ? g_strdup (token) : NULL;
  downloader->offline = env_is_true ("HF_HUB_OFFLINE");
  downloader->session = soup_session_new_with_options ("user-agent", "drape/" PACKAGE_VERSION " ",
                                                       "timeout", downloader->options.timeout_s,
                                                       NULL);
  /* Bytes as stored: sizes, ranges and hashes all refer to them. */
  soup_session_remove_feature_by_type (downloader->session, SOUP_TYPE_CONTENT_DECODER);
  return g_steal_pointer (&downloader);
}

void
drape_downloader_free (DrapeDownloader *downloader)
{
  if (downloader == NULL)
    return;
  g_clear_object (&downloader->session);
  g_clear_pointer (&downloader->endpoint, g_uri_unref);
  g_free (downloader->endpoint_string);
  if (downloader->token != NULL)
    memset (downloader->token, 0, strlen (downloader->token));
  g_free (downloader->token);
  g_free (downloader);
}

const char *
drape_downloader_get_endpoint (DrapeDownloader *downloader)
{
  return downloader->endpoint_string;
}

char *
drape_downloader_dup_url (DrapeDownloader *downloader,
                          const char      *repository,
                          const char      *revision,
                          const char      *path)
{
  g_autofree char *repo = g_uri_escape_string (repository, "/", FALSE);
  g_autofree char *rev = g_uri_escape_string (revision, NULL, FALSE);
  g_autofree char *file = g_uri_escape_string (path, "/", FALSE);

  return g_strdup_printf ("%s/%s/resolve/%s/%s", downloader->endpoint_string, repo, rev, file);
}

static int
effective_port (GUri *uri)
{
  int port = g_uri_get_port (uri);

  if (port > 0)
    return port;
  return g_ascii_strcasecmp (g_uri_get_scheme (uri), "https") == 0 ? 443 : 80;
}

static gboolean
same_origin (GUri *a,
             GUri *b)
{
  return g_ascii_strcasecmp (g_uri_get_scheme (a), g_uri_get_scheme (b)) == 0 &&
         g_ascii_strcasecmp (g_uri_get_host (a), g_uri_get_host (b)) == 0 &&
         effective_port (a) == effective_port (b);
}

static gboolean
check_offline (DrapeDownloader *downloader,
               GError         **error)
{
  if (!downloader->offline)
    return TRUE;
  g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_NETWORK,
               "offline: HF_HUB_OFFLINE is set, so nothing is downloaded");
  return FALSE;
}

gboolean
drape_downloader_probe (DrapeDownloader *downloader,
                        guint            timeout_s,
                        GCancellable    *cancellable,
                        GError         **error)
{
  g_autoptr(SoupSession) session = NULL;
  g_autoptr(SoupMessage) message = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) local_error = NULL;

  if (!check_offline (downloader, error))
    return FALSE;
  session = soup_session_new_with_options ("timeout", timeout_s, "user-agent", "drape/" PACKAGE_VERSION " ", NULL);
  message = soup_message_new_from_uri ("HEAD", downloader->endpoint);
  soup_message_add_flags (message, SOUP_MESSAGE_NO_REDIRECT);
  body = soup_session_send_and_read (session, message, cancellable, &local_error);
  if (body == NULL)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_NETWORK, "%s is not reachable: %s",
                   downloader->endpoint_string, local_error->message);
      return FALSE;
    }
  return TRUE;
}

static char *
uri_for_display (GUri *uri)
{
  /* Signed CDN URLs carry credentials in their query: show only the path. */
  return g_uri_to_string_partial (uri, G_URI_HIDE_QUERY | G_URI_HIDE_FRAGMENT | G_URI_HIDE_USERINFO);
}

static gboolean
is_redirect (guint status)
{
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

static gboolean
is_transient_status (guint status)
{
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

/* Reads the hub's LFS headers: X-Linked-Size and X-Linked-Etag (quoted
 * sha256 of the content). */
static void
read_hub_headers (SoupMessage *message,
                  Response    *response)
{
  SoupMessageHeaders *headers = soup_message_get_response_headers (message);
  const char *size = soup_message_headers_get_one (headers, "X-Linked-Size");
  const char *etag = soup_message_headers_get_one (headers, "X-Linked-Etag");
  guint64 value;

  if (size != NULL && g_ascii_string_to_unsigned (size, 10, 0, G_MAXINT64, &value, NULL))
    response->hub_size = (gint64) value;
  if (etag != NULL)
    {
      g_autofree char *hash = NULL;
      gsize length;

      if (g_str_has_prefix (etag, "W/"))
        etag += 2;
      length = strlen (etag);
      if (length >= 2 && etag[0] == '"' && etag[length - 1] == '"')
        hash = g_ascii_strdown (etag + 1, (gssize) length - 2);
      else
        hash = g_ascii_strdown (etag, -1);
      if (strlen (hash) == 64 && strspn (hash, "0123456789abcdef") == 64)
        response->hub_sha256 = g_steal_pointer (&hash);
    }
}

/* GET with Range from `offset`, following redirects by hand so that the
 * token goes to the endpoint only and https never drops to http.  Returns
 * FALSE with *retry set for errors worth another try. */
static gboolean
send_request (DrapeDownloader *downloader,
              const char      *url,
              guint64          offset,
              Response        *response,
              gboolean        *retry,
              GCancellable    *cancellable,
              GError         **error)
{
  g_autoptr(GUri) uri = g_uri_parse (url, G_URI_FLAGS_ENCODED, NULL);
  g_autoptr(GError) local_error = NULL;

  *retry = FALSE;
  response->hub_size = -1;
  for (guint hop = 0; ; hop++)
    {
      g_autoptr(SoupMessage) message = soup_message_new_from_uri ("GET", uri);
      g_autoptr(GInputStream) body = NULL;
      g_autofree char *shown = uri_for_display (uri);
      SoupMessageHeaders *request = soup_message_get_request_headers (message);
      const char *location;
      g_autoptr(GUri) next = NULL;
      guint status;

      soup_message_add_flags (message, SOUP_MESSAGE_NO_REDIRECT);
      if (downloader->token != NULL && same_origin (uri, downloader->endpoint))
        {
          g_autofree char *bearer = g_strconcat ("Bearer ", downloader->token, NULL);
          soup_message_headers_replace (request, "Authorization", bearer);
          memset (bearer, 0, strlen (bearer));
        }
      if (offset > 0)
        soup_message_headers_set_range (request, (goffset) offset, -1);

      body = soup_session_send (downloader->session, message, cancellable, &local_error);
      if (body == NULL)
        {
          if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            {
              g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_CANCELLED, "download cancelled");
              return FALSE;
            }
          *retry = local_error->domain == G_IO_ERROR ||
                   g_error_matches (local_error, G_RESOLVER_ERROR, G_RESOLVER_ERROR_TEMPORARY_FAILURE);
          g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_NETWORK, "%s: %s", shown, local_error->message);
          return FALSE;
        }
      status = soup_message_get_status (message);
      if (hop == 0)
        read_hub_headers (message, response);
      if (!is_redirect (status))
        {
          if (status != 200 && status != 206 && status != 416)
            {
              const char *hint = "";

              if (status == 401 || status == 403)
                hint = " (a gated or private repository: accept its terms on the hub and set HF_TOKEN)";
              else if (status == 404)
                hint = " (no such repository, revision or file)";
              *retry = is_transient_status (status);
              g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_NETWORK, "HTTP %u %s from %s%s", status,
                           soup_message_get_reason_phrase (message), shown, hint);
              g_input_stream_close (body, NULL, NULL);
              return FALSE;
            }
          response->message = g_steal_pointer (&message);
          response->body = g_steal_pointer (&body);
          return TRUE;
        }

      g_input_stream_close (body, NULL, NULL);
      location = soup_message_headers_get_one (soup_message_get_response_headers (message), "Location");
      if (location == NULL)
        {
          g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_NETWORK, "HTTP %u from %s without a Location", status, shown);
          return FALSE;
        }
      next = g_uri_parse_relative (uri, location, G_URI_FLAGS_ENCODED, NULL);
      if (next == NULL || (g_strcmp0 (g_uri_get_scheme (next), "https") != 0 &&
                           g_strcmp0 (g_uri_get_scheme (next), "http") != 0) || g_uri_get_host (next) == NULL)
        {
          g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_NETWORK, "%s redirects to an unusable location", shown);
          return FALSE;
        }
      if (strcmp (g_uri_get_scheme (uri), "https") == 0 && strcmp (g_uri_get_scheme (next), "http") == 0)
        {
          g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_NETWORK, "%s redirects from https to plain http; refused", shown);
          return FALSE;
        }
      if (hop + 1 >= MAX_REDIRECTS)
        {
          g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_NETWORK, "too many redirects (%u) from %s", MAX_REDIRECTS, url);
          return FALSE;
        }
      g_clear_pointer (&uri, g_uri_unref);
      uri = g_steal_pointer (&next);
    }
}

char *
drape_download_dup_part_path (const char *dest)
{
  return g_strconcat (dest, ".part", NULL);
}

gboolean
drape_check_free_space (const char              *dir,
                        guint64                  need,
                        const DrapeFetchOptions *options,
                        GError                 **error)
{
  g_autoptr(GFile) file = g_file_new_for_path (dir);
  g_autoptr(GFileInfo) info = NULL;
  guint64 available = G_MAXUINT64;

  info = g_file_query_filesystem_info (file, G_FILE_ATTRIBUTE_FILESYSTEM_FREE, NULL, NULL);
  /* Some file systems report nothing; the write then tells. */
  if (info != NULL && g_file_info_has_attribute (info, G_FILE_ATTRIBUTE_FILESYSTEM_FREE))
    available = g_file_info_get_attribute_uint64 (info, G_FILE_ATTRIBUTE_FILESYSTEM_FREE);
  if (options != NULL && options->free_space_limit > 0)
    available = MIN (available, options->free_space_limit);
  if (need > available)
    {
      g_autofree char *need_s = g_format_size_full (need, G_FORMAT_SIZE_IEC_UNITS);
      g_autofree char *free_s = g_format_size_full (available, G_FORMAT_SIZE_IEC_UNITS);
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_NO_SPACE,
                   "not enough disk space in %s: %s needed, %s free", dir, need_s, free_s);
      return FALSE;
    }
  return TRUE;
}

static gboolean
set_io_error (GError    **error,
              int         saved_errno,
              const char *what,
              const char *path)
{
  int code = saved_errno == ENOSPC || saved_errno == EFBIG || saved_errno == EDQUOT
             ? DRAPE_ERROR_NO_SPACE : DRAPE_ERROR_IO;

  g_set_error (error, DRAPE_ERROR, code, "%s %s: %s", what, path, g_strerror (saved_errno));
  return FALSE;
}

static gboolean
write_all (int           fd,
           const guint8 *data,
           gsize         length,
           const char   *path,
           GError      **error)
{
  while (length > 0)
    {
      gssize n = write (fd, data, length);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return set_io_error (error, errno, "writing", path);
      data += n;
      length -= (gsize) n;
    }
  return TRUE;
}

gboolean
drape_checksum_file (const char        *path,
                     guint64            length,
                     GChecksum         *checksum,
                     DrapeDownloadFunc  progress,
                     gpointer           user_data,
                     GCancellable      *cancellable,
                     GError           **error)
{
  g_autofree guint8 *buffer = g_malloc (BUFFER_SIZE);
  gboolean to_end = length == G_MAXUINT64;
  guint64 done = 0;
  int fd = g_open (path, O_RDONLY | O_CLOEXEC, 0);

  if (fd < 0)
    return set_io_error (error, errno, "reading", path);
  while (to_end || done < length)
    {
      gssize n = read (fd, buffer, to_end ? BUFFER_SIZE : MIN (length - done, BUFFER_SIZE));

      if (n < 0 && errno == EINTR)
        continue;
      if (n == 0 && to_end)
        break;
      if (n <= 0)
        {
          /* A partial file shorter than it was a moment ago: EIO. */
          int saved = n < 0 ? errno : EIO;
          close (fd);
          return set_io_error (error, saved, "reading", path);
        }
      if (g_cancellable_is_cancelled (cancellable))
        {
          close (fd);
          g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_CANCELLED, "cancelled");
          return FALSE;
        }
      g_checksum_update (checksum, buffer, n);
      done += (guint64) n;
      if (progress != NULL)
        progress (done, to_end ? 0 : length, user_data);
    }
  close (fd);
  return TRUE;
}

static guint64
file_size_or_zero (const char *path)
{
  GStatBuf st;

  return g_stat (path, &st) == 0 && S_ISREG (st.st_mode) ? (guint64) st.st_size : 0;
}

static void
sync_parent_dir (const char *path)
{
  g_autofree char *dir = g_path_get_dirname (path);
  int fd = g_open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);

  /* Makes the rename durable; a failure only weakens that, so it is not an
   * error. */
  if (fd >= 0)
    {
      fsync (fd);
      close (fd);
    }
}

/* Sleeps before a retry, returning early (FALSE) when cancelled. */
static gboolean
backoff (guint         attempt,
         guint         base_ms,
         GCancellable *cancellable)
{
  guint64 delay = MIN ((guint64) base_ms << MIN (attempt, 16u), MAX_BACKOFF_MS);
  gint64 until = g_get_monotonic_time () + (gint64) delay * 1000;

  while (g_get_monotonic_time () < until)
    {
      if (g_cancellable_is_cancelled (cancellable))
        return FALSE;
      g_usleep ((gulong) CLAMP (until - g_get_monotonic_time (), 1, 20000));
    }
  return !g_cancellable_is_cancelled (cancellable);
}

typedef enum {
  ATTEMPT_DONE,
  ATTEMPT_RETRY,     /* transient: try again after a pause */
  ATTEMPT_RESTART,   /* the partial file is unusable: start over at once */
  ATTEMPT_FAILED,
} AttemptResult;

typedef struct {
  DrapeDownloader *downloader;
  const char *url;
  const char *dest;
  const char *part;
  const DrapeModelFile *expect;
  DrapeDownloadFunc progress;
  gpointer user_data;
  GCancellable *cancellable;
  /* Learnt along the way, kept across attempts. */
  gint64 size;             /* -1 unknown */
  char *sha256;            /* expected, or NULL */
  const char *sha_source;  /* "catalog", "hub" or NULL */
} Job;

/* Settles the size and hash the download must have from the catalog and
 * what the hub announced; a disagreement means the catalog and the hub
 * describe different files. */
static gboolean
reconcile (Job      *job,
           Response *response,
           GError  **error)
{
  if (response->hub_size >= 0)
    {
      if (job->size >= 0 && response->hub_size != job->size)
        {
          g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_CORRUPT,
                       "%s: the hub announces %" G_GINT64_FORMAT " bytes, the catalog says %" G_GINT64_FORMAT,
                       job->expect->path, response->hub_size, job->size);
          return FALSE;
        }
      job->size = response->hub_size;
    }
  if (response->hub_sha256 != NULL)
    {
      if (job->sha256 != NULL && strcmp (job->sha256, response->hub_sha256) != 0)
        {
          g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_CORRUPT,
                       "%s: the hub announces sha256 %s, the catalog says %s",
                       job->expect->path, response->hub_sha256, job->sha256);
          return FALSE;
        }
      if (job->sha256 == NULL)
        {
          job->sha256 = g_strdup (response->hub_sha256);
          job->sha_source = "hub";
        }
    }
  return TRUE;
}

static AttemptResult
attempt (Job       *job,
         gboolean  *resumed,
         GError   **error)
{
  g_auto(Response) response = { 0 };
  g_autoptr(GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autoptr(GError) local_error = NULL;
  g_autofree guint8 *buffer = NULL;
  g_autofree char *dir = NULL;
  guint64 offset = file_size_or_zero (job->part);
  guint64 done, total;
  gboolean total_known;
  SoupMessageHeaders *headers;
  gboolean retry;
  guint status;
  int fd;

  if (job->size >= 0 && offset > (guint64) job->size)
    offset = 0;
  if (!send_request (job->downloader, job->url, offset, &response, &retry, job->cancellable, error))
    return retry ? ATTEMPT_RETRY : ATTEMPT_FAILED;
  if (!reconcile (job, &response, error))
    return ATTEMPT_FAILED;

  status = soup_message_get_status (response.message);
  headers = soup_message_get_response_headers (response.message);
  if (status == 416)
    {
      /* The partial file is as long as the file or longer: it cannot be
       * trusted to be a prefix of it. */
      g_unlink (job->part);
      return ATTEMPT_RESTART;
    }
  if (status == 206)
    {
      goffset start, end, length;

      if (!soup_message_headers_get_content_range (headers, &start, &end, &length) || (guint64) start != offset ||
          (length >= 0 && (guint64) length < offset))
        {
          g_unlink (job->part);
          return ATTEMPT_RESTART;
        }
      total_known = length >= 0;
      total = total_known ? (guint64) length : 0;
    }
  else
    {
      /* 200: the whole file, whether or not we asked for a range. */
      offset = 0;
      total_known = soup_message_headers_get_encoding (headers) == SOUP_ENCODING_CONTENT_LENGTH;
      total = total_known ? (guint64) soup_message_headers_get_content_length (headers) : 0;
    }
  if (total_known && job->size >= 0 && total != (guint64) job->size)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_CORRUPT, "%s: the server offers %" G_GUINT64_FORMAT
                   " bytes, expected %" G_GINT64_FORMAT, job->expect->path, total, job->size);
      return ATTEMPT_FAILED;
    }
  /* A chunked answer: hold it to the expected size, if any. */
  if (!total_known && job->size >= 0)
    total = (guint64) job->size;
  if (total_known)
    job->size = (gint64) total;

  dir = g_path_get_dirname (job->dest);
  if (total > 0 && !drape_check_free_space (dir, total - offset, &job->downloader->options, error))
    return ATTEMPT_FAILED;

  fd = g_open (job->part, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    {
      set_io_error (error, errno, "creating", job->part);
      return ATTEMPT_FAILED;
    }
  if (ftruncate (fd, (off_t) offset) != 0 || lseek (fd, (off_t) offset, SEEK_SET) < 0)
    {
      set_io_error (error, errno, "preparing", job->part);
      close (fd);
      return ATTEMPT_FAILED;
    }
  if (offset > 0 && !drape_checksum_file (job->part, offset, checksum, NULL, NULL, job->cancellable, error))
    {
      close (fd);
      return ATTEMPT_FAILED;
    }
  *resumed = offset > 0;

  buffer = g_malloc (BUFFER_SIZE);
  done = offset;
  if (job->progress != NULL)
    job->progress (done, total, job->user_data);
  for (;;)
    {
      gssize n = g_input_stream_read (response.body, buffer, BUFFER_SIZE, job->cancellable, &local_error);

      if (n < 0)
        {
          close (fd);
          if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            {
              g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_CANCELLED, "download cancelled");
              return ATTEMPT_FAILED;
            }
          g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_NETWORK, "%s: connection lost after %" G_GUINT64_FORMAT
                       " bytes: %s", job->expect->path, done, local_error->message);
          return ATTEMPT_RETRY;
        }
      if (n == 0)
        break;
      if (total > 0 && done + (guint64) n > total)
        {
          close (fd);
          g_unlink (job->part);
          g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_NETWORK, "%s: the server sent more than the %"
                       G_GUINT64_FORMAT " bytes it announced", job->expect->path, total);
          return ATTEMPT_RETRY;
        }
      if (!write_all (fd, buffer, (gsize) n, job->part, error))
        {
          close (fd);
          return ATTEMPT_FAILED;
        }
      g_checksum_update (checksum, buffer, n);
      done += (guint64) n;
      if (job->progress != NULL)
        job->progress (done, total, job->user_data);
    }
  if (fsync (fd) != 0)
    {
      set_io_error (error, errno, "writing", job->part);
      close (fd);
      return ATTEMPT_FAILED;
    }
  close (fd);

  if (total > 0 && done < total)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_NETWORK, "%s: connection closed after %" G_GUINT64_FORMAT
                   " of %" G_GUINT64_FORMAT " bytes", job->expect->path, done, total);
      return ATTEMPT_RETRY;
    }
  if (job->size >= 0 && done != (guint64) job->size)
    {
      g_unlink (job->part);
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_CORRUPT, "%s: received %" G_GUINT64_FORMAT " bytes, expected %"
                   G_GINT64_FORMAT "; the download was rejected", job->expect->path, done, job->size);
      return ATTEMPT_FAILED;
    }
  if (job->sha256 != NULL && strcmp (g_checksum_get_string (checksum), job->sha256) != 0)
    {
      g_unlink (job->part);
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_CORRUPT, "%s: sha256 %s does not match the published %s; "
                   "the download was rejected", job->expect->path, g_checksum_get_string (checksum), job->sha256);
      return ATTEMPT_FAILED;
    }
  if (g_rename (job->part, job->dest) != 0)
    {
      set_io_error (error, errno, "moving into place", job->dest);
      return ATTEMPT_FAILED;
    }
  sync_parent_dir (job->dest);
  job->size = (gint64) done;
  g_free (job->sha256);
  job->sha256 = g_strdup (g_checksum_get_string (checksum));
  return ATTEMPT_DONE;
}

gboolean
drape_downloader_fetch_file (DrapeDownloader      *downloader,
                             const char           *repository,
                             const char           *revision,
                             const DrapeModelFile *expect,
                             const char           *dest,
                             DrapeDownloadFunc     progress,
                             gpointer              user_data,
                             DrapeDownloadResult  *result,
                             GCancellable         *cancellable,
                             GError              **error)
{
  g_autofree char *url = drape_downloader_dup_url (downloader, repository, revision, expect->path);
  g_autofree char *part = drape_download_dup_part_path (dest);
  gboolean restarted = FALSE;
  guint retries = 0;
  Job job = {
    .downloader = downloader,
    .url = url,
    .dest = dest,
    .part = part,
    .expect = expect,
    .progress = progress,
    .user_data = user_data,
    .cancellable = cancellable,
    .size = expect->size_known ? (gint64) expect->size : -1,
    .sha256 = g_strdup (expect->sha256),
    .sha_source = expect->sha256 != NULL ? "catalog" : NULL,
  };

  if (!check_offline (downloader, error))
    {
      g_free (job.sha256);
      return FALSE;
    }
  for (;;)
    {
      g_autoptr(GError) local_error = NULL;
      gboolean resumed = FALSE;
      AttemptResult outcome = attempt (&job, &resumed, &local_error);

      if (outcome == ATTEMPT_DONE)
        break;
      /* A hash mismatch on a resumed file may come from a stale partial
       * file: one fresh download settles it. */
      if (outcome == ATTEMPT_FAILED && resumed && !restarted &&
          g_error_matches (local_error, DRAPE_ERROR, DRAPE_ERROR_CORRUPT))
        outcome = ATTEMPT_RESTART;
      if (outcome == ATTEMPT_RESTART && !restarted)
        {
          g_unlink (part);
          restarted = TRUE;
          continue;
        }
      if (outcome == ATTEMPT_RETRY && retries < downloader->options.max_retries)
        {
          if (!backoff (retries++, downloader->options.retry_delay_ms, cancellable))
            {
              g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_CANCELLED, "download cancelled");
              g_free (job.sha256);
              return FALSE;
            }
          continue;
        }
      if (outcome == ATTEMPT_RESTART && local_error == NULL)
        g_set_error (&local_error, DRAPE_ERROR, DRAPE_ERROR_NETWORK,
                     "%s: the server does not serve consistent ranges", expect->path);
      g_propagate_error (error, g_steal_pointer (&local_error));
      g_free (job.sha256);
      return FALSE;
    }

  if (result != NULL)
    {
      result->sha256 = g_steal_pointer (&job.sha256);
      result->size = (guint64) job.size;
      result->checked_against = job.sha_source;
    }
  g_free (job.sha256);
  return TRUE;
}
