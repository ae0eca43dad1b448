/* downloader.h: one file from the Hugging Face hub onto the disk, safely
 *
 * A DrapeDownloader fetches a repository file from
 *     $HF_ENDPOINT/<owner/name>/resolve/<revision>/<path>
 * (HF_ENDPOINT defaults to https://huggingface.co, as in huggingface_hub, so
 * a mirror is one variable away), sending $HF_TOKEN as a bearer token to the
 * endpoint's host only (gated repositories), never to the hosts it is
 * redirected to.  HF_HUB_OFFLINE=1 refuses to touch the network.
 *
 * What lands on disk is safe by construction:
 * - bytes go to "<dest>.part" next to the destination; an interrupted
 *   download is resumed from there with a Range request (a server that
 *   ignores Range is detected and the file restarts cleanly);
 * - sha256 is computed while the bytes stream (the partial file's bytes
 *   are hashed first when resuming);
 * - sizes are checked against the catalog, the hub's X-Linked-Size and
 *   Content-Length before anything is written; a hash the hub announces
 *   (X-Linked-Etag, LFS files) is checked against the catalog's, and used
 *   when the catalog has none;
 * - only a complete file whose size and sha256 match is renamed over the
 *   destination (atomic on POSIX), so a good file in place stays untouched
 *   until its replacement verifies, and a bad download is deleted;
 * - network errors and HTTP 429/5xx are retried with exponential backoff,
 *   resuming each time; redirects are followed (at most 10, never from
 *   https to http);
 * - free disk space is checked once the size is known; a full disk while
 *   writing keeps the partial file for a later resume.
 *
 * A downloader uses libsoup's synchronous API: create it, and call it, on
 * one thread (a worker thread; model-store.h runs fetches on one).
 * Cancelling the GCancellable stops it within one read; the partial file
 * stays for a resume.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "model-catalog.h"

G_BEGIN_DECLS

typedef struct {
  /* Further tries after a network error or HTTP 429/5xx. */
  guint    max_retries;
  /* Wait before the first retry, doubled for each further one. */
  guint    retry_delay_ms;
  /* Connect and read timeout. */
  guint    timeout_s;
  /* 0: what the file system reports; otherwise assume at most this many
   * bytes are free (a cap on what a fetch may use). */
  guint64  free_space_limit;
  /* Download files again even when present and verified. */
  gboolean force;
} DrapeFetchOptions;

/* 4 retries from 1 s, 30 s timeout, the file system's free space. */
void              drape_fetch_options_init        (DrapeFetchOptions       *options);

typedef struct _DrapeDownloader DrapeDownloader;

/* Reads HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE now.  Fails on an
 * HF_ENDPOINT that is not an http(s) URL. */
DrapeDownloader  *drape_downloader_new            (const DrapeFetchOptions *options,
                                                   GError                 **error);
void              drape_downloader_free           (DrapeDownloader         *downloader);
const char       *drape_downloader_get_endpoint   (DrapeDownloader         *downloader);
char             *drape_downloader_dup_url        (DrapeDownloader         *downloader,
                                                   const char              *repository,
                                                   const char              *revision,
                                                   const char              *path);
/* Whether the endpoint answers at all (any HTTP status) within timeout_s. */
gboolean          drape_downloader_probe          (DrapeDownloader         *downloader,
                                                   guint                    timeout_s,
                                                   GCancellable            *cancellable,
                                                   GError                 **error);

/* done counts the file's bytes on disk, partial bytes included; total is 0
 * while unknown.  Called on the downloader's thread. */
typedef void (*DrapeDownloadFunc) (guint64  done,
                                   guint64  total,
                                   gpointer user_data);

typedef struct {
  char     *sha256;          /* of the file now at dest */
  guint64   size;
  /* Where the hash the file was checked against came from: "catalog",
   * "hub" (X-Linked-Etag) or NULL (none known: sha256 is what arrived). */
  const char *checked_against;
} DrapeDownloadResult;

void              drape_download_result_clear     (DrapeDownloadResult     *result);

/* Downloads `path` of the repository at `revision` to `dest` (whose folder
 * must exist), checked against `expect`'s size and sha256 when known.
 * Errors: DRAPE_ERROR_NETWORK, _CORRUPT (size or hash mismatch: nothing
 * is left in place), _NO_SPACE, _IO, _CANCELLED. */
gboolean          drape_downloader_fetch_file     (DrapeDownloader         *downloader,
                                                   const char              *repository,
                                                   const char              *revision,
                                                   const DrapeModelFile    *expect,
                                                   const char              *dest,
                                                   DrapeDownloadFunc        progress,
                                                   gpointer                 user_data,
                                                   DrapeDownloadResult     *result,
                                                   GCancellable            *cancellable,
                                                   GError                 **error);

/* Feeds the first `length` bytes of the file (G_MAXUINT64: all of it) into
 * `checksum`; progress, if not NULL, gets the bytes read so far.
 * DRAPE_ERROR_IO when the file is shorter, DRAPE_ERROR_CANCELLED. */
gboolean          drape_checksum_file             (const char              *path,
                                                   guint64                  length,
                                                   GChecksum               *checksum,
                                                   DrapeDownloadFunc        progress,
                                                   gpointer                 user_data,
                                                   GCancellable            *cancellable,
                                                   GError                 **error);
/* Where the partial download of `dest` lives. */
char             *drape_download_dup_part_path    (const char              *dest);
/* Fails with DRAPE_ERROR_NO_SPACE when `need` bytes do not fit in the file
 * system holding `dir` (or in options->free_space_limit). */
gboolean          drape_check_free_space          (const char              *dir,
                                                   guint64                  need,
                                                   const DrapeFetchOptions *options,
                                                   GError                 **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DrapeDownloader, drape_downloader_free)
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (DrapeDownloadResult, drape_download_result_clear)

G_END_DECLS
