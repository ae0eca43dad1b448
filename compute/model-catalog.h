/* model-catalog.h: what models Drape can use and where they come from
 *
 * The catalog is a folder of JSON manifests, one per model (models/ in the
 * source tree, installed to $datadir/drape/models).  A manifest names the
 * model, its pipeline role, the Hugging Face repository and the pinned
 * revision it comes from, its licence, and every file with its path in the
 * repository, its size and its sha256:
 *
 *     {
 *       "format": 1,
 *       "id": "sd-vae-ft-mse",
 *       "name": "Stable Diffusion VAE, ft-MSE",
 *       "description": "what it is for",
 *       "role": "unet" | "vae" | "attention" | "parser",
 *       "default": true,
 *       "source": { "repository": "owner/name", "revision": "<commit>" },
 *       "licence": { "name": "MIT", "url": "https://...", "note": "optional" },
 *       "files": [
 *         { "path": "config.json", "size": 547, "sha256": "<64 hex>" },
 *         { "path": "x.safetensors", "size": "unverified", "sha256": "unverified" }
 *       ]
 *     }
 *
 * "unverified" marks a size or hash that could not be confirmed when the
 * catalog was written: the downloader then records what it computed on the
 * first download and checks against that ever after (model-store.h).
 *
 * Loading is strict: a missing or mistyped field, an unknown role, a path
 * that is absolute or has "." or ".." components (it could escape the
 * models folder), a malformed hash or two manifests with one id fail with
 * DRAPE_ERROR_FORMAT naming the manifest file and the field.
 *
 * A loaded catalog is immutable and reference counted; it may be shared
 * between threads.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  DRAPE_MODEL_ROLE_UNET,
  DRAPE_MODEL_ROLE_VAE,
  DRAPE_MODEL_ROLE_ATTENTION,
  DRAPE_MODEL_ROLE_PARSER,
} DrapeModelRole;

typedef struct {
  /* Relative path inside the repository, '/'-separated, checked safe. */
  char     *path;
  /* Bytes; meaningful only when size_known. */
  guint64   size;
  gboolean  size_known;
  /* Lowercase hex, or NULL when the published hash is not known. */
  char     *sha256;
} DrapeModelFile;

typedef struct {
  char           *id;
  char           *name;
  char           *description;
  DrapeModelRole  role;
  /* Part of what `drape-cli models fetch` gets without arguments. */
  gboolean        is_default;
  /* Hugging Face repository ("owner/name") and pinned revision. */
  char           *repository;
  char           *revision;
  char           *licence_name;
  char           *licence_url;
  char           *licence_note;   /* or NULL */
  /* The first file holds the weights; model-store.h names its folder. */
  DrapeModelFile *files;
  guint           n_files;
  char           *manifest_path;
} DrapeModelInfo;

typedef struct _DrapeCatalog DrapeCatalog;

const char     *drape_model_role_to_string   (DrapeModelRole        role);

/* Parses one manifest; `name` (usually the file's path) prefixes errors. */
DrapeModelInfo *drape_model_info_new_from_data (const char          *data,
                                              gsize                length,
                                              const char          *name,
                                              GError             **error);
void            drape_model_info_free        (DrapeModelInfo       *info);
/* Sum of the file sizes; *exact is FALSE when some size is unverified. */
guint64         drape_model_info_get_size    (const DrapeModelInfo *info,
                                              gboolean             *exact);

/* Every *.json in `dir`, sorted by id. */
DrapeCatalog   *drape_catalog_load           (const char           *dir,
                                              GError              **error);
/* The catalog from drape_catalog_dup_default_dir(). */
DrapeCatalog   *drape_catalog_load_default   (GError              **error);
/* $DRAPE_CATALOG_DIR if set; else the installed $datadir/drape/models if
 * it exists; else the source tree's models/ (uninstalled runs, tests). */
char           *drape_catalog_dup_default_dir (void);

DrapeCatalog   *drape_catalog_ref            (DrapeCatalog         *catalog);
void            drape_catalog_unref          (DrapeCatalog         *catalog);
const char     *drape_catalog_get_dir        (DrapeCatalog         *catalog);
guint           drape_catalog_get_n_models   (DrapeCatalog         *catalog);
const DrapeModelInfo *drape_catalog_get_nth  (DrapeCatalog         *catalog,
                                              guint                 index);
/* NULL when no model has that id. */
const DrapeModelInfo *drape_catalog_lookup   (DrapeCatalog         *catalog,
                                              const char           *id);
/* Same, failing with DRAPE_ERROR_INVALID_ARGUMENT listing the known ids. */
const DrapeModelInfo *drape_catalog_require  (DrapeCatalog         *catalog,
                                              const char           *id,
                                              GError              **error);
/* The ids marked default, NULL-terminated (free with g_strfreev). */
char          **drape_catalog_dup_default_ids (DrapeCatalog        *catalog);

/* Whether a manifest path is relative, '/'-separated, without empty, "."
 * or ".." components or backslashes: it cannot leave the folder it is
 * joined to. */
gboolean        drape_model_path_is_safe     (const char           *path);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DrapeModelInfo, drape_model_info_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DrapeCatalog, drape_catalog_unref)

G_END_DECLS
