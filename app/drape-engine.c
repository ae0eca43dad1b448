/* drape-engine.c: the app's door to libdrape-compute
 *
 * Jobs (a try-on, an auto-mask, tuning) run one at a time on one worker thread,
 * which owns the Vulkan device, the loaded try-on pipeline and the human
 * parser and keeps them between jobs: loading 2 GB of weights is the
 * slow part, and the second try-on should not pay for it again.  They are
 * made again when the GPU, precision or models change, and dropped after
 * a lost device or running out of memory so the next job starts clean.
 *
 * Everything a job reports reaches the main loop through one channel
 * (an idle source per message, see post()), progress and the end alike,
 * so no progress is delivered after the job's callback.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include <glib/gi18n.h>

#include "device.h"
#include "drape-engine.h"
#include "error.h"
#include "image.h"
#include "model-store.h"
#include "pipeline.h"
#include "workload.h"

/* CatVTON's app blurs the painted mask before binarising it. */
#define MASK_BLUR 9
/* Timed runs of each way when tuning (drape-cli tune's default). */
#define TUNE_RUNS 3

struct _DrapeEngine
{
  GObject parent_instance;

  GSettings *settings;
  /* Fixed folders, or NULL for the model store's. */
  char *unet_dir;
  char *vae_dir;
  char *attention_path;
  char *parser_dir;
  guint width;
  guint height;
  GThreadPool *pool;

  /* Owned by the worker thread while a job runs. */
  DrapeDevice *device;
  char *device_key;
  DrapePipeline *pipeline;
  char *pipeline_key;
  DrapeParser *parser;
  char *parser_key;
};

G_DEFINE_FINAL_TYPE (DrapeEngine, drape_engine, G_TYPE_OBJECT)

typedef enum {
  JOB_TRY_ON,
  JOB_AUTO_MASK,
  JOB_TUNE,
  JOB_DESCRIBE_TUNING,
} JobKind;

typedef struct {
  JobKind kind;
  GTask *task;
  GMainContext *context;
  gboolean finished;

  char *device_name;
  char *precision;
  char *models_dir;

  DrapeImage *person;
  DrapeImage *garment;
  DrapeImage *mask;
  DrapeTryOnParams params;
  DrapeTryOnSettings *settings;
  DrapeGarmentType type;

  DrapeEngineProgressFunc progress;
  gpointer progress_data;
  GDestroyNotify progress_notify;
} Job;

static void
job_free (gpointer data)
{
  Job *job = data;

  if (job->progress_notify != NULL)
    job->progress_notify (job->progress_data);
  g_clear_pointer (&job->context, g_main_context_unref);
  g_free (job->device_name);
  g_free (job->precision);
  g_free (job->models_dir);
  g_clear_pointer (&job->person, drape_image_free);
  g_clear_pointer (&job->garment, drape_image_free);
  g_clear_pointer (&job->mask, drape_image_free);
  g_clear_object (&job->settings);
  g_free (job);
}

/* ---- messages to the main loop ----------------------------------------- */

typedef struct {
  GTask *task;
  char *status;
  guint step;
  guint n_steps;
  double seconds_left;
  GdkTexture *preview;
  /* The end: a result (DrapeResult or GBytes) or an error. */
  gboolean end;
  gpointer result;
  GDestroyNotify result_free;
  GError *error;
} Message;

static void
message_free (gpointer data)
{
  Message *message = data;

  g_clear_object (&message->task);
  g_free (message->status);
  g_clear_object (&message->preview);
  if (message->result != NULL)
    message->result_free (message->result);
  g_clear_error (&message->error);
  g_free (message);
}

static gboolean
deliver (gpointer data)
{
  Message *message = data;
  Job *job = g_task_get_task_data (message->task);

  if (job->finished)
    return G_SOURCE_REMOVE;
  if (message->end)
    {
      job->finished = TRUE;
      if (message->error != NULL)
        g_task_return_error (message->task, g_steal_pointer (&message->error));
      else
        g_task_return_pointer (message->task, g_steal_pointer (&message->result), message->result_free);
    }
  else if (job->progress != NULL)
    {
      DrapeEngineProgress progress = {
        message->status, message->step, message->n_steps, message->seconds_left, message->preview,
      };

      job->progress (&progress, job->progress_data);
    }
  return G_SOURCE_REMOVE;
}

static void
post (Job     *job,
      Message *message)
{
  g_autoptr(GSource) source = g_idle_source_new ();

  if (message->task == NULL)
    message->task = g_object_ref (job->task);
  /* An idle source, not g_main_context_invoke(): that runs the callback
   * on this thread whenever it can acquire the context, as it can the
   * global default one between two iterations of a loop that does not
   * hold it (the tests'), and GTK would then be called from this thread.
   * Sources of one priority run in the order they were attached, so the
   * end still comes after every progress report. */
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, deliver, message, message_free);
  g_source_set_static_name (source, "drape-engine-message");
  g_source_attach (source, job->context);
}

static void
post_status (Job        *job,
             const char *status)
{
  Message *message = g_new0 (Message, 1);

  message->status = g_strdup (status);
  message->n_steps = job->params.steps;
  message->seconds_left = -1;
  post (job, message);
}

/* Takes the worker's reference to the task, so that the last one is
 * dropped on the main thread (the job's progress_notify runs there). */
static void
post_end (Job            *job,
          gpointer        result,
          GDestroyNotify  result_free,
          GError         *error)
{
  Message *message = g_new0 (Message, 1);

  message->task = job->task;
  message->end = TRUE;
  message->result = result;
  message->result_free = result_free;
  message->error = error;
  post (job, message);
}

static void
on_pipeline_progress (const DrapeProgress *progress,
                      gpointer             user_data)
{
  Job *job = user_data;
  Message *message = g_new0 (Message, 1);

  message->step = progress->step;
  message->n_steps = progress->n_steps;
  message->seconds_left = drape_progress_seconds_left (progress);
  if (progress->preview != NULL)
    {
      g_autoptr(GdkPixbuf) pixbuf = drape_image_to_pixbuf (progress->preview);

      if (pixbuf != NULL)
        message->preview = drape_texture_new_for_pixbuf (pixbuf);
    }
  post (job, message);
}

/* ---- the worker ---------------------------------------------------------- */

static void
drop_models (DrapeEngine *self)
{
  g_clear_pointer (&self->pipeline, drape_pipeline_free);
  g_clear_pointer (&self->pipeline_key, g_free);
  g_clear_pointer (&self->parser, drape_parser_free);
  g_clear_pointer (&self->parser_key, g_free);
}

static void
drop_device (DrapeEngine *self)
{
  drop_models (self);
  g_clear_pointer (&self->device, drape_device_free);
  g_clear_pointer (&self->device_key, g_free);
}

static gboolean
ensure_device (DrapeEngine  *self,
               Job          *job,
               GError      **error)
{
  if (self->device != NULL && g_strcmp0 (self->device_key, job->device_name) == 0 &&
      !drape_device_is_lost (self->device))
    return TRUE;
  drop_device (self);
  post_status (job, _("Starting the GPU…"));
  self->device = drape_device_new (job->device_name[0] != '\0' ? job->device_name : NULL, error);
  if (self->device == NULL)
    return FALSE;
  self->device_key = g_strdup (job->device_name);
  return TRUE;
}

static DrapeDType
job_dtype (DrapeEngine *self,
           Job         *job)
{
  /* Half precision needs 16-bit storage; without it, full precision. */
  if (g_strcmp0 (job->precision, "f32") == 0 || !drape_device_get_caps (self->device)->has_f16)
    return DRAPE_DTYPE_F32;
  return DRAPE_DTYPE_F16;
}

static char *
model_dir (DrapeModelStore  *store,
           const char       *fixed,
           const char       *id,
           GError          **error)
{
  if (fixed != NULL)
    return g_strdup (fixed);
  return drape_model_store_require (store, id, NULL, error);
}

static DrapeModelStore *
open_store (Job     *job,
            GError **error)
{
  g_autoptr(DrapeCatalog) catalog = drape_catalog_load_default (error);
  g_autofree char *dir = NULL;

  if (catalog == NULL)
    return NULL;
  dir = drape_model_store_resolve_dir (job->models_dir);
  return drape_model_store_new (catalog, dir);
}

static gboolean
ensure_pipeline (DrapeEngine  *self,
                 Job          *job,
                 GError      **error)
{
  g_autoptr(DrapeModelStore) store = NULL;
  g_autofree char *unet = NULL;
  g_autofree char *vae = NULL;
  g_autofree char *attention = NULL;
  g_autofree char *key = NULL;
  DrapePipelineConfig config = { 0 };

  if (self->unet_dir == NULL || self->vae_dir == NULL)
    {
      store = open_store (job, error);
      if (store == NULL)
        return FALSE;
      post_status (job, _("Checking the model files…"));
    }
  unet = model_dir (store, self->unet_dir, "sd15-inpainting-unet", error);
  if (unet == NULL)
    return FALSE;
  vae = model_dir (store, self->vae_dir, "sd-vae-ft-mse", error);
  if (vae == NULL)
    return FALSE;
  /* CatVTON's attention goes with the catalog's UNet; fixed folders bring
   * their own (or none). */
  if (self->attention_path != NULL)
    attention = g_strdup (self->attention_path);
  else if (self->unet_dir == NULL)
    {
      g_autofree char *dir = drape_model_store_require (store, "catvton-mix-48k-1024", NULL, error);

      if (dir == NULL)
        return FALSE;
      attention = g_build_filename (dir, "model.safetensors", NULL);
    }

  config.unet_dir = unet;
  config.vae_dir = vae;
  config.attention_path = attention;
  config.dtype = job_dtype (self, job);
  key = g_strdup_printf ("%s|%s|%s|%d", unet, vae, attention != NULL ? attention : "", config.dtype);
  if (self->pipeline != NULL && g_strcmp0 (key, self->pipeline_key) == 0)
    return TRUE;

  g_clear_pointer (&self->pipeline, drape_pipeline_free);
  g_clear_pointer (&self->pipeline_key, g_free);
  post_status (job, _("Loading the models…"));
  self->pipeline = drape_pipeline_new (self->device, &config, g_task_get_cancellable (job->task), error);
  if (self->pipeline == NULL)
    return FALSE;
  self->pipeline_key = g_steal_pointer (&key);
  return TRUE;
}

static gboolean
ensure_parser (DrapeEngine  *self,
               Job          *job,
               GError      **error)
{
  g_autoptr(DrapeModelStore) store = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *key = NULL;
  DrapeDType dtype = job_dtype (self, job);

  if (self->parser_dir == NULL)
    {
      store = open_store (job, error);
      if (store == NULL)
        return FALSE;
      post_status (job, _("Checking the model files…"));
    }
  dir = model_dir (store, self->parser_dir, "segformer-b2-clothes", error);
  if (dir == NULL)
    return FALSE;
  key = g_strdup_printf ("%s|%d", dir, dtype);
  if (self->parser != NULL && g_strcmp0 (key, self->parser_key) == 0)
    return TRUE;

  g_clear_pointer (&self->parser, drape_parser_free);
  g_clear_pointer (&self->parser_key, g_free);
  post_status (job, _("Loading the human parser…"));
  self->parser = drape_parser_new (self->device, dir, dtype, error);
  if (self->parser == NULL)
    return FALSE;
  self->parser_key = g_steal_pointer (&key);
  return TRUE;
}

static DrapeResult *
run_try_on (DrapeEngine  *self,
            Job          *job,
            GError      **error)
{
  GCancellable *cancellable = g_task_get_cancellable (job->task);
  g_autoptr(DrapeImage) image = NULL;
  g_autoptr(GdkPixbuf) pixbuf = NULL;
  g_autofree char *parameters = NULL;

  if (!ensure_device (self, job, error) || !ensure_pipeline (self, job, error))
    return NULL;
  /* Recording the graphs of a new size (and, the first time, compiling
   * the shaders) can take a while: say so apart from the photos. */
  post_status (job, _("Getting the GPU ready…"));
  if (!drape_pipeline_prepare (self->pipeline, &job->params, error))
    return NULL;
  post_status (job, _("Preparing the photos…"));
  image = drape_pipeline_try_on (self->pipeline, job->person, job->garment, job->mask, &job->params,
                                 on_pipeline_progress, job, cancellable, error);
  if (image == NULL)
    return NULL;
  pixbuf = drape_image_to_pixbuf (image);
  if (pixbuf == NULL)
    {
      g_set_error_literal (error, DRAPE_ERROR, DRAPE_ERROR_OUT_OF_MEMORY, _("Out of memory"));
      return NULL;
    }
  parameters = drape_try_on_params_to_string (&job->params);
  return drape_result_new (pixbuf, job->settings, parameters, error);
}

static GBytes *
run_auto_mask (DrapeEngine  *self,
               Job          *job,
               GError      **error)
{
  g_autoptr(DrapeImage) labels = NULL;
  g_autoptr(DrapeImage) mask = NULL;

  if (!ensure_device (self, job, error) || !ensure_parser (self, job, error))
    return NULL;
  post_status (job, _("Finding the clothes…"));
  labels = drape_parser_parse (self->parser, job->person, error);
  if (labels == NULL)
    return NULL;
  mask = drape_mask_build (labels, job->type, error);
  if (mask == NULL)
    return NULL;
  return g_bytes_new (mask->pixels, (gsize) mask->width * mask->height);
}

static void
on_tune_progress (DrapeWorkloadGraph graph,
                  guint              done,
                  guint              total,
                  gpointer           user_data)
{
  Job *job = user_data;
  Message *message = g_new0 (Message, 1);
  const char *status[DRAPE_WORKLOAD_N_GRAPHS] = {
    [DRAPE_WORKLOAD_UNET_STEP] = _("Timing the denoising step’s layers…"),
    [DRAPE_WORKLOAD_VAE_ENCODE] = _("Timing the photo encoder’s layers…"),
    [DRAPE_WORKLOAD_VAE_DECODE] = _("Timing the photo decoder’s layers…"),
  };

  message->status = g_strdup (status[graph]);
  message->step = done;
  message->n_steps = total;
  message->seconds_left = -1;
  post (job, message);
}

static DrapeTuningGain *
run_tune (DrapeEngine  *self,
          Job          *job,
          GError      **error)
{
  g_autoptr(DrapeWorkload) workload = NULL;
  g_autoptr(DrapeTuning) measured = drape_tuning_new ();
  DrapeTuningGain *gain;

  if (!ensure_device (self, job, error) || !ensure_pipeline (self, job, error))
    return NULL;
  /* The try-on's graphs give their memory to the tuning's, and are
   * recorded again, with the ways it finds, by the next try-on. */
  drape_pipeline_release_graphs (self->pipeline);
  post_status (job, _("Getting the GPU ready…"));
  workload = drape_workload_new (self->device, self->pipeline, job->params.width, job->params.height, error);
  if (workload == NULL ||
      !drape_workload_tune (workload, self->device, TUNE_RUNS, 0,
                            drape_device_get_tuning_path (self->device), measured, on_tune_progress, job,
                            g_task_get_cancellable (job->task), error))
    return NULL;
  gain = g_new (DrapeTuningGain, 1);
  drape_tuning_get_gain (measured, gain);
  return gain;
}

/* What run_describe_tuning finds. */
typedef struct {
  DrapeEngineTuningSource source;
  guint problems;
} TuningDescription;

static TuningDescription *
run_describe_tuning (DrapeEngine  *self,
                     Job          *job,
                     GError      **error)
{
  TuningDescription *description;
  const char *source;

  if (!ensure_device (self, job, error))
    return NULL;
  source = drape_device_get_tuning_source (self->device);
  description = g_new0 (TuningDescription, 1);
  description->source = source == NULL ? DRAPE_ENGINE_TUNING_NONE
                        : g_strcmp0 (source, drape_device_get_tuning_path (self->device)) == 0
                          ? DRAPE_ENGINE_TUNING_OWN
                          : DRAPE_ENGINE_TUNING_SHIPPED;
  description->problems = drape_tuning_get_size (drape_device_get_tuning (self->device));
  return description;
}

static void
run_job (gpointer data,
         gpointer user_data)
{
  GTask *task = data;
  Job *job = g_task_get_task_data (task);
  DrapeEngine *self = g_task_get_source_object (task);
  GError *error = NULL;
  gpointer result = NULL;
  GDestroyNotify result_free = NULL;

  if (!g_cancellable_set_error_if_cancelled (g_task_get_cancellable (task), &error))
    {
      if (job->kind == JOB_TRY_ON)
        {
          result = run_try_on (self, job, &error);
          result_free = g_object_unref;
        }
      else if (job->kind == JOB_TUNE)
        {
          result = run_tune (self, job, &error);
          result_free = g_free;
        }
      else if (job->kind == JOB_DESCRIBE_TUNING)
        {
          result = run_describe_tuning (self, job, &error);
          result_free = g_free;
        }
      else
        {
          result = run_auto_mask (self, job, &error);
          result_free = (GDestroyNotify) g_bytes_unref;
        }
    }

  /* Start clean after the GPU went away or memory ran out: the next job
   * makes the device and loads the models again. */
  if (self->device != NULL && drape_device_is_lost (self->device))
    drop_device (self);
  else if (g_error_matches (error, DRAPE_ERROR, DRAPE_ERROR_OUT_OF_MEMORY))
    drop_models (self);

  post_end (job, result, result_free, error);
}

/* ---- GObject and the API -------------------------------------------------- */

static void
drape_engine_finalize (GObject *object)
{
  DrapeEngine *self = DRAPE_ENGINE (object);

  /* Jobs hold a reference: none runs now. */
  g_thread_pool_free (self->pool, TRUE, TRUE);
  drop_device (self);
  g_clear_object (&self->settings);
  g_free (self->unet_dir);
  g_free (self->vae_dir);
  g_free (self->attention_path);
  g_free (self->parser_dir);

  G_OBJECT_CLASS (drape_engine_parent_class)->finalize (object);
}

static void
drape_engine_class_init (DrapeEngineClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = drape_engine_finalize;
}

static void
drape_engine_init (DrapeEngine *self)
{
  self->settings = g_settings_new ("app.drape.Drape");
  /* One thread: the device and models are used by one job at a time. */
  self->pool = g_thread_pool_new (run_job, self, 1, FALSE, NULL);
}

DrapeEngine *
drape_engine_new (void)
{
  return g_object_new (DRAPE_TYPE_ENGINE, NULL);
}

DrapeEngine *
drape_engine_new_for_models (const char *unet_dir,
                             const char *vae_dir,
                             const char *attention_path,
                             const char *parser_dir)
{
  DrapeEngine *self = drape_engine_new ();

  self->unet_dir = g_strdup (unet_dir);
  self->vae_dir = g_strdup (vae_dir);
  self->attention_path = g_strdup (attention_path);
  self->parser_dir = g_strdup (parser_dir);
  return self;
}

void
drape_engine_set_output_size (DrapeEngine *self,
                              guint        width,
                              guint        height)
{
  g_return_if_fail (DRAPE_IS_ENGINE (self));

  self->width = width;
  self->height = height;
}

static Job *
job_new (DrapeEngine *self,
         JobKind      kind)
{
  Job *job = g_new0 (Job, 1);

  job->kind = kind;
  job->context = g_main_context_ref_thread_default ();
  job->device_name = g_settings_get_string (self->settings, "device");
  job->precision = g_settings_get_string (self->settings, "precision");
  job->models_dir = g_settings_get_string (self->settings, "models-dir");
  return job;
}

/* A task for a job of `kind` (its task data), which reports progress
 * to `progress` where not NULL. */
static GTask *
task_new (DrapeEngine             *self,
          JobKind                  kind,
          gpointer                 source_tag,
          DrapeEngineProgressFunc  progress,
          gpointer                 progress_data,
          GDestroyNotify           progress_notify,
          GCancellable            *cancellable,
          GAsyncReadyCallback      callback,
          gpointer                 user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);
  Job *job = job_new (self, kind);

  g_task_set_source_tag (task, source_tag);
  job->task = task;
  job->progress = progress;
  job->progress_data = progress_data;
  job->progress_notify = progress_notify;
  g_task_set_task_data (task, job, job_free);
  return task;
}

/* The settings' output size, or the one drape_engine_set_output_size
 * fixed. */
static void
job_set_size (DrapeEngine        *self,
              Job                *job,
              DrapeTryOnSettings *settings)
{
  guint width, height;

  drape_try_on_settings_get_dimensions (settings, &width, &height);
  job->params.width = self->width > 0 ? self->width : width;
  job->params.height = self->height > 0 ? self->height : height;
}

static void
submit (DrapeEngine *self,
        GTask       *task)
{
  g_thread_pool_push (self->pool, g_object_ref (task), NULL);
}

static DrapeImage *
image_from_mask (DrapeMask *mask)
{
  DrapeImage *image = drape_image_new (drape_mask_get_width (mask), drape_mask_get_height (mask), 1);

  memcpy (image->pixels, drape_mask_get_data (mask), (gsize) image->width * image->height);
  return image;
}

void
drape_engine_try_on_async (DrapeEngine             *self,
                           DrapePicture            *photo,
                           DrapeMask               *mask,
                           DrapePicture            *garment,
                           DrapeTryOnSettings      *settings,
                           DrapeEngineProgressFunc  progress,
                           gpointer                 progress_data,
                           GDestroyNotify           progress_notify,
                           GCancellable            *cancellable,
                           GAsyncReadyCallback      callback,
                           gpointer                 user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autofree char *note = NULL;
  GError *error = NULL;
  Job *job;

  g_return_if_fail (DRAPE_IS_ENGINE (self));
  g_return_if_fail (DRAPE_IS_PICTURE (photo));
  g_return_if_fail (DRAPE_IS_MASK (mask));
  g_return_if_fail (DRAPE_IS_PICTURE (garment));
  g_return_if_fail (DRAPE_IS_TRY_ON_SETTINGS (settings));

  task = task_new (self, JOB_TRY_ON, drape_engine_try_on_async, progress, progress_data, progress_notify,
                   cancellable, callback, user_data);
  job = g_task_get_task_data (task);
  job->settings = drape_try_on_settings_copy (settings);
  drape_try_on_params_init (&job->params);
  job_set_size (self, job, settings);
  job->params.steps = drape_try_on_settings_get_steps (settings);
  job->params.guidance = drape_try_on_settings_get_guidance (settings);
  job->params.seed = drape_try_on_settings_get_seed (settings);
  job->params.scheduler = drape_try_on_settings_get_scheduler (settings);
  job->params.repaint = drape_try_on_settings_get_repaint (settings);
  job->params.mask_blur = MASK_BLUR;
  if (!drape_try_on_params_check (&job->params, &note, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  job->person = drape_image_new_from_pixbuf (drape_picture_get_pixbuf (photo), 3);
  job->garment = drape_image_new_from_pixbuf (drape_picture_get_pixbuf (garment), 3);
  job->mask = image_from_mask (mask);
  submit (self, task);
}

DrapeResult *
drape_engine_try_on_finish (DrapeEngine   *self,
                            GAsyncResult  *result,
                            GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
drape_engine_auto_mask_async (DrapeEngine         *self,
                              DrapePicture        *photo,
                              DrapeGarmentType     type,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  Job *job;

  g_return_if_fail (DRAPE_IS_ENGINE (self));
  g_return_if_fail (DRAPE_IS_PICTURE (photo));

  task = task_new (self, JOB_AUTO_MASK, drape_engine_auto_mask_async, NULL, NULL, NULL, cancellable, callback,
                   user_data);
  job = g_task_get_task_data (task);
  job->type = type;
  job->person = drape_image_new_from_pixbuf (drape_picture_get_pixbuf (photo), 3);
  submit (self, task);
}

GBytes *
drape_engine_auto_mask_finish (DrapeEngine   *self,
                               GAsyncResult  *result,
                               GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
drape_engine_tune_async (DrapeEngine             *self,
                         DrapeTryOnSettings      *settings,
                         DrapeEngineProgressFunc  progress,
                         gpointer                 progress_data,
                         GDestroyNotify           progress_notify,
                         GCancellable            *cancellable,
                         GAsyncReadyCallback      callback,
                         gpointer                 user_data)
{
  g_autoptr(GTask) task = NULL;
  Job *job;

  g_return_if_fail (DRAPE_IS_ENGINE (self));
  g_return_if_fail (DRAPE_IS_TRY_ON_SETTINGS (settings));

  task = task_new (self, JOB_TUNE, drape_engine_tune_async, progress, progress_data, progress_notify,
                   cancellable, callback, user_data);
  job = g_task_get_task_data (task);
  job_set_size (self, job, settings);
  submit (self, task);
}

DrapeTuningGain *
drape_engine_tune_finish (DrapeEngine   *self,
                          GAsyncResult  *result,
                          GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
drape_engine_describe_tuning_async (DrapeEngine         *self,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (DRAPE_IS_ENGINE (self));

  task = task_new (self, JOB_DESCRIBE_TUNING, drape_engine_describe_tuning_async, NULL, NULL, NULL, cancellable,
                   callback, user_data);
  submit (self, task);
}

DrapeEngineTuningSource
drape_engine_describe_tuning_finish (DrapeEngine   *self,
                                     GAsyncResult  *result,
                                     guint         *problems,
                                     GError       **error)
{
  g_autofree TuningDescription *description = NULL;

  g_return_val_if_fail (g_task_is_valid (result, self), DRAPE_ENGINE_TUNING_NONE);
  description = g_task_propagate_pointer (G_TASK (result), error);
  *problems = description != NULL ? description->problems : 0;
  return description != NULL ? description->source : DRAPE_ENGINE_TUNING_NONE;
}
