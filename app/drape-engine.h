/* drape-engine.h: the app's door to libdrape-compute: try-on and
 * auto-mask on one worker thread, results and progress on the main loop
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "drape-mask.h"
#include "drape-picture.h"
#include "drape-result.h"
#include "drape-try-on-settings.h"
#include "parser.h"
#include "tuning.h"

G_BEGIN_DECLS

typedef struct {
  /* A sentence about what the worker does before the first step
   * ("Loading the models…"), or NULL once steps run; while tuning, what
   * it times, the steps being trials. */
  const char *status;
  guint step;           /* steps done, 0 before the first */
  guint n_steps;
  /* What the remaining steps should take (drape_progress_seconds_left),
   * negative before there is an estimate. */
  double seconds_left;
  /* The predicted result after this step, or NULL. */
  GdkTexture *preview;
} DrapeEngineProgress;

/* Called on the main context of the caller, never after the callback. */
typedef void (*DrapeEngineProgressFunc) (const DrapeEngineProgress *progress,
                                         gpointer                   user_data);

#define DRAPE_TYPE_ENGINE (drape_engine_get_type ())

G_DECLARE_FINAL_TYPE (DrapeEngine, drape_engine, DRAPE, ENGINE, GObject)

/* Models from the model store (the "models-dir" setting), GPU and
 * precision from the "device" and "precision" settings, read when a job
 * starts. */
DrapeEngine *drape_engine_new              (void);
/* Fixed model folders, for tests and tools; NULLs fall back to the store. */
DrapeEngine *drape_engine_new_for_models   (const char               *unet_dir,
                                            const char               *vae_dir,
                                            const char               *attention_path,
                                            const char               *parser_dir);

/* Runs at this size whatever the settings say (0, 0: as they say): for
 * tools and tests with small models, where 384 x 512 would be slow. */
void         drape_engine_set_output_size  (DrapeEngine              *self,
                                            guint                     width,
                                            guint                     height);

/* photo, mask and garment are copied: the user may go on editing. */
void         drape_engine_try_on_async     (DrapeEngine              *self,
                                            DrapePicture             *photo,
                                            DrapeMask                *mask,
                                            DrapePicture             *garment,
                                            DrapeTryOnSettings       *settings,
                                            DrapeEngineProgressFunc   progress,
                                            gpointer                  progress_data,
                                            GDestroyNotify            progress_notify,
                                            GCancellable             *cancellable,
                                            GAsyncReadyCallback       callback,
                                            gpointer                  user_data);
DrapeResult *drape_engine_try_on_finish    (DrapeEngine              *self,
                                            GAsyncResult             *result,
                                            GError                  **error);
/* The mask for a garment type, photo-sized, 255 inside. */
void         drape_engine_auto_mask_async  (DrapeEngine              *self,
                                            DrapePicture             *photo,
                                            DrapeGarmentType          type,
                                            GCancellable             *cancellable,
                                            GAsyncReadyCallback       callback,
                                            gpointer                  user_data);
GBytes      *drape_engine_auto_mask_finish (DrapeEngine              *self,
                                            GAsyncResult             *result,
                                            GError                  **error);

/* Times every way to run each layer of a try-on at `settings`' size on
 * the GPU the settings name, and keeps each layer's fastest as that
 * GPU's tuning, which try-ons take from then on (drape_workload_tune;
 * cancelling keeps what was measured).  Minutes on a GPU. */
void               drape_engine_tune_async  (DrapeEngine             *self,
                                             DrapeTryOnSettings      *settings,
                                             DrapeEngineProgressFunc  progress,
                                             gpointer                 progress_data,
                                             GDestroyNotify           progress_notify,
                                             GCancellable            *cancellable,
                                             GAsyncReadyCallback      callback,
                                             gpointer                 user_data);
/* What it measured (free with g_free()). */
DrapeTuningGain   *drape_engine_tune_finish (DrapeEngine             *self,
                                             GAsyncResult            *result,
                                             GError                 **error);

/* Where the tuning of the GPU the settings name comes from. */
typedef enum {
  DRAPE_ENGINE_TUNING_NONE,     /* nowhere: the usual ways */
  DRAPE_ENGINE_TUNING_OWN,      /* measured on this GPU, driver and version */
  DRAPE_ENGINE_TUNING_SHIPPED,  /* what Drape ships for its model of GPU */
} DrapeEngineTuningSource;

/* Which tuning the GPU's try-ons take and of how many problems
 * (opening the GPU where no job has yet). */
void               drape_engine_describe_tuning_async  (DrapeEngine         *self,
                                                        GCancellable        *cancellable,
                                                        GAsyncReadyCallback  callback,
                                                        gpointer             user_data);
DrapeEngineTuningSource drape_engine_describe_tuning_finish (DrapeEngine   *self,
                                                             GAsyncResult  *result,
                                                             guint         *problems,
                                                             GError       **error);

G_END_DECLS
