/* hub-server.c: a fake Hugging Face hub on SoupServer
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "hub-server.h"

#include <string.h>
#include <libsoup/soup.h>

typedef struct {
  char *url_path;      /* /<repository>/resolve/<revision>/<path> */
  char *path;
  GBytes *content;
  HubFault fault;
  guint fault_times;
  guint fault_arg;
  guint redirects;
  char *linked_sha256;
} HubFile;

struct _HubServer {
  GThread *thread;
  GMainContext *context;
  GMainLoop *loop;
  SoupServer *server;
  guint port;
  char *url;
  GMutex lock;
  GCond ready;
  gboolean started;
  GPtrArray *files;      /* HubFile */
  GPtrArray *requests;   /* HubRequest */
  GPtrArray *trickles;   /* Trickle, slow answers in progress */
};

typedef struct {
  GIOStream *stream;
  GBytes *content;
  gsize sent;
  GSource *source;
} Trickle;

static void
hub_file_free (gpointer data)
{
  HubFile *file = data;

  g_free (file->url_path);
  g_free (file->path);
  g_bytes_unref (file->content);
  g_free (file->linked_sha256);
  g_free (file);
}

static void
hub_request_free (gpointer data)
{
  HubRequest *request = data;

  g_free (request->path);
  g_free (request->host);
  g_free (request->range);
  g_free (request->authorization);
  g_free (request);
}

static void
trickle_free (gpointer data)
{
  Trickle *trickle = data;

  g_source_destroy (trickle->source);
  g_source_unref (trickle->source);
  g_io_stream_close (trickle->stream, NULL, NULL);
  g_object_unref (trickle->stream);
  g_bytes_unref (trickle->content);
  g_free (trickle);
}

/* Called with the lock held. */
static HubFile *
find_file (HubServer  *hub,
           const char *url_path)
{
  for (guint i = 0; i < hub->files->len; i++)
    {
      HubFile *file = g_ptr_array_index (hub->files, i);
      if (strcmp (file->url_path, url_path) == 0 || strcmp (file->path, url_path) == 0)
        return file;
    }
  return NULL;
}

static void
log_request (HubServer         *hub,
             SoupServerMessage *msg,
             const char        *path,
             guint              status)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  HubRequest *request = g_new0 (HubRequest, 1);

  request->path = g_strdup (path);
  request->host = g_strdup (soup_message_headers_get_one (headers, "Host"));
  request->range = g_strdup (soup_message_headers_get_one (headers, "Range"));
  request->authorization = g_strdup (soup_message_headers_get_one (headers, "Authorization"));
  request->status = status;
  g_ptr_array_add (hub->requests, request);
}

static void
write_raw (GIOStream  *stream,
           const char *head,
           const void *body,
           gsize       length)
{
  GOutputStream *out = g_io_stream_get_output_stream (stream);

  g_output_stream_write_all (out, head, strlen (head), NULL, NULL, NULL);
  if (length > 0)
    g_output_stream_write_all (out, body, length, NULL, NULL, NULL);
  g_output_stream_flush (out, NULL, NULL);
}

static gboolean
trickle_step (gpointer data)
{
  Trickle *trickle = data;
  gsize length;
  const guint8 *bytes = g_bytes_get_data (trickle->content, &length);
  gsize n = MIN (1024, length - trickle->sent);
  GOutputStream *out = g_io_stream_get_output_stream (trickle->stream);

  if (n == 0 || !g_output_stream_write_all (out, bytes + trickle->sent, n, NULL, NULL, NULL))
    return G_SOURCE_REMOVE;
  g_output_stream_flush (out, NULL, NULL);
  trickle->sent += n;
  return G_SOURCE_CONTINUE;
}

/* Serves the file's bytes, honouring Range unless told not to. */
static guint
serve_content (SoupServerMessage *msg,
               GBytes            *content,
               gboolean           honour_range)
{
  SoupMessageHeaders *request = soup_server_message_get_request_headers (msg);
  SoupMessageHeaders *response = soup_server_message_get_response_headers (msg);
  gsize length = g_bytes_get_size (content);
  SoupRange *ranges = NULL;
  int n_ranges = 0;

  if (honour_range && soup_message_headers_get_ranges (request, (goffset) length, &ranges, &n_ranges))
    {
      goffset start = ranges[0].start;
      goffset end = ranges[0].end;
      g_autoptr(GBytes) slice = g_bytes_new_from_bytes (content, (gsize) start, (gsize) (end - start + 1));

      soup_message_headers_free_ranges (request, ranges);
      soup_message_headers_set_content_range (response, start, end, (goffset) length);
      soup_server_message_set_status (msg, 206, NULL);
      soup_server_message_set_response (msg, "application/octet-stream", SOUP_MEMORY_COPY,
                                        g_bytes_get_data (slice, NULL), g_bytes_get_size (slice));
      return 206;
    }
  soup_server_message_set_status (msg, 200, NULL);
  soup_server_message_set_response (msg, "application/octet-stream", SOUP_MEMORY_COPY,
                                    g_bytes_get_data (content, NULL), length);
  return 200;
}

static void
handle (SoupServer        *server,
        SoupServerMessage *msg,
        const char        *path,
        GHashTable        *query,
        gpointer           user_data)
{
  HubServer *hub = user_data;
  g_autoptr(GBytes) content = NULL;
  const char *url_path = path;
  guint remaining = G_MAXUINT;
  HubFault fault = HUB_FAULT_NONE;
  guint fault_arg = 0;
  guint status;
  HubFile *file;

  g_mutex_lock (&hub->lock);
  if (g_str_has_prefix (path, "/cdn/"))
    {
      const char *rest = path + strlen ("/cdn/");
      char *end;

      remaining = (guint) g_ascii_strtoull (rest, &end, 10);
      url_path = end;
    }
  file = find_file (hub, url_path);
  if (file == NULL || strcmp (soup_server_message_get_method (msg), "GET") != 0)
    {
      soup_server_message_set_status (msg, file == NULL ? 404 : 405, NULL);
      log_request (hub, msg, path, file == NULL ? 404 : 405);
      g_mutex_unlock (&hub->lock);
      return;
    }
  content = g_bytes_ref (file->content);
  if (file->fault != HUB_FAULT_NONE && file->fault_times > 0)
    {
      fault = file->fault;
      fault_arg = file->fault_arg;
      if (file->fault_times != G_MAXUINT)
        file->fault_times--;
    }

  if (fault == HUB_FAULT_REDIRECT_LOOP)
    {
      soup_server_message_set_redirect (msg, 302, path);
      log_request (hub, msg, path, 302);
      g_mutex_unlock (&hub->lock);
      return;
    }
  if (remaining == G_MAXUINT && file->linked_sha256 != NULL)
    {
      SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
      g_autofree char *size = g_strdup_printf ("%" G_GSIZE_FORMAT, g_bytes_get_size (content));
      g_autofree char *etag = g_strdup_printf ("\"%s\"", file->linked_sha256);

      soup_message_headers_replace (headers, "X-Linked-Size", size);
      soup_message_headers_replace (headers, "X-Linked-Etag", etag);
    }
  if ((remaining == G_MAXUINT && file->redirects > 0) || (remaining != G_MAXUINT && remaining > 0))
    {
      g_autofree char *location = remaining == G_MAXUINT
        ? g_strdup_printf ("http://localhost:%u/cdn/%u%s", hub->port, file->redirects - 1, url_path)
        : g_strdup_printf ("/cdn/%u%s", remaining - 1, url_path);

      soup_server_message_set_redirect (msg, 302, location);
      log_request (hub, msg, path, 302);
      g_mutex_unlock (&hub->lock);
      return;
    }

  switch (fault)
    {
    case HUB_FAULT_NONE:
    case HUB_FAULT_REDIRECT_LOOP:
      status = serve_content (msg, content, TRUE);
      break;
    case HUB_FAULT_IGNORE_RANGE:
      status = serve_content (msg, content, FALSE);
      break;
    case HUB_FAULT_WRONG_BYTES:
      {
        gsize length;
        guint8 *bad = g_bytes_unref_to_data (g_steal_pointer (&content), &length);
        g_autoptr(GBytes) wrong = NULL;

        bad[length / 2] ^= 0x5a;
        wrong = g_bytes_new_take (bad, length);
        status = serve_content (msg, wrong, TRUE);
      }
      break;
    case HUB_FAULT_STATUS:
      soup_server_message_set_status (msg, fault_arg, NULL);
      status = fault_arg;
      break;
    case HUB_FAULT_CUT:
    case HUB_FAULT_SLOW:
      {
        SoupMessageHeaders *request = soup_server_message_get_request_headers (msg);
        GIOStream *stream = soup_server_message_steal_connection (msg);
        gsize length = g_bytes_get_size (content);
        const guint8 *bytes = g_bytes_get_data (content, NULL);
        g_autofree char *head = NULL;
        SoupRange *ranges = NULL;
        int n_ranges = 0;
        gsize start = 0;
        gsize first;

        if (soup_message_headers_get_ranges (request, (goffset) length, &ranges, &n_ranges))
          {
            start = (gsize) ranges[0].start;
            soup_message_headers_free_ranges (request, ranges);
            head = g_strdup_printf ("HTTP/1.1 206 Partial Content\r\nContent-Length: %" G_GSIZE_FORMAT "\r\n"
                                    "Content-Range: bytes %" G_GSIZE_FORMAT "-%" G_GSIZE_FORMAT "/%" G_GSIZE_FORMAT
                                    "\r\nConnection: close\r\n\r\n", length - start, start, length - 1, length);
          }
        else
          head = g_strdup_printf ("HTTP/1.1 200 OK\r\nContent-Length: %" G_GSIZE_FORMAT "\r\n"
                                  "Connection: close\r\n\r\n", length);
        first = MIN (fault == HUB_FAULT_CUT ? fault_arg : 4096, length - start);
        write_raw (stream, head, bytes + start, first);
        if (fault == HUB_FAULT_CUT)
          {
            g_io_stream_close (stream, NULL, NULL);
            g_object_unref (stream);
          }
        else
          {
            Trickle *trickle = g_new0 (Trickle, 1);

            trickle->stream = stream;
            trickle->content = g_bytes_new_from_bytes (content, start, length - start);
            trickle->sent = first;
            trickle->source = g_timeout_source_new (50);
            g_source_set_callback (trickle->source, trickle_step, trickle, NULL);
            g_source_attach (trickle->source, g_main_context_get_thread_default ());
            g_ptr_array_add (hub->trickles, trickle);
          }
        status = 0;
      }
      break;
    default:
      g_assert_not_reached ();
    }
  log_request (hub, msg, path, status);
  g_mutex_unlock (&hub->lock);
}

static gpointer
server_thread (gpointer data)
{
  HubServer *hub = data;
  g_autoptr(GError) error = NULL;
  GSList *uris;

  g_main_context_push_thread_default (hub->context);
  hub->server = soup_server_new ("server-header", "drape-test-hub ", NULL);
  soup_server_add_handler (hub->server, NULL, handle, hub, NULL);
  if (!soup_server_listen_local (hub->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error))
    g_error ("test hub: %s", error->message);
  uris = soup_server_get_uris (hub->server);
  hub->port = (guint) g_uri_get_port (uris->data);
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);

  g_mutex_lock (&hub->lock);
  hub->url = g_strdup_printf ("http://127.0.0.1:%u", hub->port);
  hub->started = TRUE;
  g_cond_signal (&hub->ready);
  g_mutex_unlock (&hub->lock);

  g_main_loop_run (hub->loop);

  g_ptr_array_set_size (hub->trickles, 0);
  soup_server_disconnect (hub->server);
  g_clear_object (&hub->server);
  g_main_context_pop_thread_default (hub->context);
  return NULL;
}

HubServer *
hub_server_new (void)
{
  HubServer *hub = g_new0 (HubServer, 1);

  g_mutex_init (&hub->lock);
  g_cond_init (&hub->ready);
  hub->context = g_main_context_new ();
  hub->loop = g_main_loop_new (hub->context, FALSE);
  hub->files = g_ptr_array_new_with_free_func (hub_file_free);
  hub->requests = g_ptr_array_new_with_free_func (hub_request_free);
  hub->trickles = g_ptr_array_new_with_free_func (trickle_free);
  hub->thread = g_thread_new ("test-hub", server_thread, hub);
  g_mutex_lock (&hub->lock);
  while (!hub->started)
    g_cond_wait (&hub->ready, &hub->lock);
  g_mutex_unlock (&hub->lock);
  return hub;
}

static gboolean
quit_loop (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

void
hub_server_free (HubServer *hub)
{
  g_main_context_invoke (hub->context, quit_loop, hub->loop);
  g_thread_join (hub->thread);
  g_main_loop_unref (hub->loop);
  g_main_context_unref (hub->context);
  g_ptr_array_unref (hub->files);
  g_ptr_array_unref (hub->requests);
  g_ptr_array_unref (hub->trickles);
  g_mutex_clear (&hub->lock);
  g_cond_clear (&hub->ready);
  g_free (hub->url);
  g_free (hub);
}

const char *
hub_server_get_url (HubServer *hub)
{
  return hub->url;
}

guint
hub_server_get_port (HubServer *hub)
{
  return hub->port;
}

void
hub_server_add_file (HubServer  *hub,
                     const char *repository,
                     const char *revision,
                     const char *path,
                     GBytes     *content)
{
  HubFile *file = g_new0 (HubFile, 1);

  file->url_path = g_strdup_printf ("/%s/resolve/%s/%s", repository, revision, path);
  file->path = g_strdup (path);
  file->content = g_bytes_ref (content);
  g_mutex_lock (&hub->lock);
  g_ptr_array_add (hub->files, file);
  g_mutex_unlock (&hub->lock);
}

static HubFile *
require_file (HubServer  *hub,
              const char *path)
{
  HubFile *file = find_file (hub, path);

  if (file == NULL)
    g_error ("test hub: no file %s", path);
  return file;
}

void
hub_server_set_fault (HubServer  *hub,
                      const char *path,
                      HubFault    fault,
                      guint       times,
                      guint       arg)
{
  HubFile *file;

  g_mutex_lock (&hub->lock);
  file = require_file (hub, path);
  file->fault = fault;
  file->fault_times = times;
  file->fault_arg = arg;
  g_mutex_unlock (&hub->lock);
}

void
hub_server_set_redirects (HubServer  *hub,
                          const char *path,
                          guint       hops)
{
  g_mutex_lock (&hub->lock);
  require_file (hub, path)->redirects = hops;
  g_mutex_unlock (&hub->lock);
}

void
hub_server_set_linked (HubServer  *hub,
                       const char *path,
                       const char *sha256)
{
  HubFile *file;

  g_mutex_lock (&hub->lock);
  file = require_file (hub, path);
  g_free (file->linked_sha256);
  file->linked_sha256 = g_strdup (sha256);
  g_mutex_unlock (&hub->lock);
}

GPtrArray *
hub_server_dup_requests (HubServer *hub)
{
  GPtrArray *copy = g_ptr_array_new_with_free_func (hub_request_free);

  g_mutex_lock (&hub->lock);
  for (guint i = 0; i < hub->requests->len; i++)
    {
      const HubRequest *r = g_ptr_array_index (hub->requests, i);
      HubRequest *c = g_new0 (HubRequest, 1);

      c->path = g_strdup (r->path);
      c->host = g_strdup (r->host);
      c->range = g_strdup (r->range);
      c->authorization = g_strdup (r->authorization);
      c->status = r->status;
      g_ptr_array_add (copy, c);
    }
  g_mutex_unlock (&hub->lock);
  return copy;
}

void
hub_server_clear_requests (HubServer *hub)
{
  g_mutex_lock (&hub->lock);
  g_ptr_array_set_size (hub->requests, 0);
  g_mutex_unlock (&hub->lock);
}
