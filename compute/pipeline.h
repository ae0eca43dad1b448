/* pipeline.h: CatVTON try-on: person + garment + mask in, person wearing
 * the garment out
 *
 * A DrapePipeline holds the loaded UNet and VAE on a device and serves any
 * number of runs; graphs are recorded once per output size and replayed
 * every step.  Runs may be made from any one thread at a time (the app
 * uses a worker thread); the progress callback is called on that thread,
 * while the next step already runs on the device, so up to a step's time
 * spent in it costs nothing.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "device.h"
#include "image.h"
#include "tensor.h"
#include "unet.h"
#include "vae.h"

G_BEGIN_DECLS

typedef struct _DrapePipeline DrapePipeline;

typedef enum {
  DRAPE_SCHEDULER_DDIM,
  DRAPE_SCHEDULER_DPMPP_2M,
  DRAPE_SCHEDULER_EULER,
} DrapeSchedulerKind;

typedef struct {
  const char *unet_dir;       /* diffusers folder: config.json + safetensors */
  const char *vae_dir;        /* likewise */
  const char *attention_path; /* CatVTON's attention/model.safetensors, or NULL */
  DrapeDType dtype;           /* what weights and activations are on the GPU */
} DrapePipelineConfig;

typedef enum {
  /* Whole images when device memory allows, else tiles. */
  DRAPE_VAE_TILING_AUTO,
  DRAPE_VAE_TILING_ON,
  DRAPE_VAE_TILING_OFF,
} DrapeVaeTiling;

typedef struct {
  guint32 width;        /* output size; rounded down to a multiple of 8 */
  guint32 height;
  guint32 steps;        /* 50 */
  float guidance;       /* 2.5 */
  guint64 seed;
  float eta;            /* 1.0: CatVTON's stochastic DDIM */
  DrapeSchedulerKind scheduler;
  gboolean repaint;     /* blend the result into the person outside the mask */
  guint32 mask_blur;    /* PIL Gaussian blur radius before binarising; 0 */
  const char *noise_path; /* every random draw from this safetensors file, or NULL */
  /* The VAE on overlapping tiles (blended), to bound its memory.  Tiles
   * see less context than the whole image, so results differ slightly. */
  DrapeVaeTiling vae_tiling;
  guint32 vae_tile;     /* tile side in pixels, a multiple of 8; 0: 512 */
} DrapeTryOnParams;

typedef struct {
  guint step;           /* steps done, 1..n_steps */
  guint n_steps;
  double elapsed_s;     /* since the try-on began */
  /* elapsed_s when the first step was done: the photos' encoding, and
   * building what the other steps replay (on a CPU with a cold shader
   * cache, several steps' time), are in it. */
  double first_step_s;
  /* RGB preview of the predicted clean image at the output size. */
  const DrapeImage *preview;
} DrapeProgress;

typedef void (*DrapeProgressFunc) (const DrapeProgress *progress,
                                   gpointer             user_data);

const char    *drape_scheduler_kind_to_string (DrapeSchedulerKind kind);
gboolean       drape_scheduler_kind_from_string (const char        *name,
                                                 DrapeSchedulerKind *kind);

/* How long the steps after p's should take, at the pace of those since
 * the first; negative while only the first has run, which says little. */
double         drape_progress_seconds_left (const DrapeProgress      *p);

void           drape_try_on_params_init   (DrapeTryOnParams          *params);
/* Checks ranges, and rounds the size down to a multiple of 8, saying so
 * in *note (NULL when nothing changed). */
gboolean       drape_try_on_params_check  (DrapeTryOnParams          *params,
                                           char                     **note,
                                           GError                   **error);
/* One line, as written to a result PNG's "parameters" chunk. */
char          *drape_try_on_params_to_string (const DrapeTryOnParams *params);

DrapePipeline *drape_pipeline_new         (DrapeDevice               *device,
                                           const DrapePipelineConfig *config,
                                           GCancellable              *cancellable,
                                           GError                   **error);
/* Random weights in the given configurations (benchmarks); without
 * `values`, only their memory (drape_weights_new_unfilled): for
 * planning what a try-on holds, running nothing. */
DrapePipeline *drape_pipeline_new_random  (DrapeDevice               *device,
                                           const DrapeUNetConfig     *unet_config,
                                           const DrapeVaeConfig      *vae_config,
                                           DrapeDType                 dtype,
                                           gboolean                   values,
                                           GError                   **error);
void           drape_pipeline_free        (DrapePipeline             *pipeline);
/* Records the graphs of a try-on with these parameters and allocates their
 * device memory, as the first such drape_pipeline_try_on() would (it then
 * finds them ready): what a run will hold can be read from the device
 * without running anything. */
gboolean       drape_pipeline_prepare     (DrapePipeline             *pipeline,
                                           const DrapeTryOnParams    *params,
                                           GError                   **error);
/* Frees the recorded graphs and the memory they hold (the weights stay);
 * the next run records them again. */
void           drape_pipeline_release_graphs (DrapePipeline          *pipeline);
/* The VAE tile side in pixels that the last prepared size uses; 0: whole
 * images. */
guint32        drape_pipeline_get_vae_tile (DrapePipeline            *pipeline);
DrapeUNet     *drape_pipeline_get_unet    (DrapePipeline             *pipeline);
DrapeVae      *drape_pipeline_get_vae     (DrapePipeline             *pipeline);
/* person and garment RGB, mask 1-channel (>= 128 is the region to dress),
 * any sizes: they are prepared as CatVTON prepares them. */
DrapeImage    *drape_pipeline_try_on      (DrapePipeline             *pipeline,
                                           const DrapeImage          *person,
                                           const DrapeImage          *garment,
                                           const DrapeImage          *mask,
                                           const DrapeTryOnParams    *params,
                                           DrapeProgressFunc          progress,
                                           gpointer                   user_data,
                                           GCancellable              *cancellable,
                                           GError                   **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DrapePipeline, drape_pipeline_free)

G_END_DECLS
