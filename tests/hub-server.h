/* hub-server.h: a tiny Hugging Face hub on 127.0.0.1 for the downloader
 * tests, with faults on demand
 *
 * It serves /<owner>/<name>/resolve/<revision>/<path> (the hub's URL
 * layout) from files the test adds, and runs on its own thread so that
 * synchronous downloads in the test's thread can talk to it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  HUB_FAULT_NONE,
  /* Announce the whole length, send cut_at bytes, close the connection. */
  HUB_FAULT_CUT,
  /* Answer 200 with the whole file whatever the Range header says. */
  HUB_FAULT_IGNORE_RANGE,
  /* Same length, different bytes. */
  HUB_FAULT_WRONG_BYTES,
  /* Answer with `status` instead of the file. */
  HUB_FAULT_STATUS,
  /* Headers and a first chunk at once, then 1 KiB every 50 ms. */
  HUB_FAULT_SLOW,
  /* Redirect to itself for ever. */
  HUB_FAULT_REDIRECT_LOOP,
} HubFault;

typedef struct {
  char *path;           /* request path */
  char *host;           /* Host header */
  char *range;          /* Range header or NULL */
  char *authorization;  /* Authorization header or NULL */
  guint status;         /* what was answered (0: raw, stolen connection) */
} HubRequest;

typedef struct _HubServer HubServer;

HubServer  *hub_server_new            (void);
void        hub_server_free           (HubServer  *hub);
/* http://127.0.0.1:PORT */
const char *hub_server_get_url        (HubServer  *hub);
guint       hub_server_get_port       (HubServer  *hub);
/* Serves `content` at /<repository>/resolve/<revision>/<path>. */
void        hub_server_add_file       (HubServer  *hub,
                                       const char *repository,
                                       const char *revision,
                                       const char *path,
                                       GBytes     *content);
/* The next `times` requests for the file get `fault` (G_MAXUINT: all). */
void        hub_server_set_fault      (HubServer  *hub,
                                       const char *path,
                                       HubFault    fault,
                                       guint       times,
                                       guint       arg);
/* Answers for the file redirect through `hops` URLs on http://localhost
 * (another host name for the same server) before the content. */
void        hub_server_set_redirects  (HubServer  *hub,
                                       const char *path,
                                       guint       hops);
/* Adds the hub's LFS headers (X-Linked-Size, X-Linked-Etag) to the answer
 * for the file, announcing `sha256`. */
void        hub_server_set_linked     (HubServer  *hub,
                                       const char *path,
                                       const char *sha256);
/* A copy of the requests so far (HubRequest, freed with the array). */
GPtrArray  *hub_server_dup_requests   (HubServer  *hub);
void        hub_server_clear_requests (HubServer  *hub);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubServer, hub_server_free)

G_END_DECLS
