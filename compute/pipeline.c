/* pipeline.c: CatVTON's try-on on the engine
 *
 * What CatVTON's CatVTONPipeline.__call__ does, in its order:
 *   person and mask resize-and-crop, garment resize-and-pad, to W x H;
 *   x / 127.5 - 1; mask binarised at 0.5; masked person = person * (mask < 0.5);
 *   VAE posterior samples of masked person and garment, * 0.18215;
 *   mask latent = the mask's pixel (8i, 8j);
 *   concatenation along height, person on top: [person; garment] and
 *   [mask; 0]; guidance batch [uncond, cond], uncond's garment zeroed;
 *   UNet input channels [noisy latent, mask, masked latent];
 *   the scheduler loop; the top (person) half decoded; (x / 2 + 0.5)
 *   clamped, x 255, rounded.
 *
 * Per output size four graphs are recorded once and cached: encode (one
 * image, run for the person and then the garment), two step graphs (the
 * UNet, guidance, the scheduler update and the preview, replayed for even
 * and odd steps with their scalars rewritten in host-visible tensors of
 * their own), and decode.  Step i + 1 is prepared and submitted before
 * step i is waited for, and step i's preview is made while step i + 1
 * runs: the GPU does not idle on the host between steps.  Random draws
 * come from rng.h's streams (reproducible from the seed), or every one
 * from a noise file.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "error.h"
#include "ops.h"
#include "pipeline.h"
#include "reference.h"
#include "rng.h"
#include "safetensors.h"
#include "scheduler.h"
#include "tiles.h"
#include "unet.h"
#include "vae.h"

/* DESIGN.md §3: the predicted clean latent times this gives RGB in about
 * [-1, 1]; a cheap preview of where the image is going. */
static const float preview_matrix[3][4] = {
  { 0.3512f, 0.3250f, -0.2829f, -0.2120f },
  { 0.2297f, 0.4974f, 0.1762f, -0.2616f },
  { 0.3227f, 0.2350f, 0.2721f, -0.7177f },
};

#define LATENT_FACTOR 8

/* One of the two step graphs, with what the host writes before it runs
 * and reads after: step i + 1's inputs are written while step i runs on
 * the other graph.  The injected noise is read per step from a file, so
 * it is per graph too. */
typedef struct {
  DrapeGraph *graph;
  DrapeTensor *timestep;  /* host [B, 1, 1, 1] */
  DrapeTensor *input_scale; /* host [1, 1, 1, 4] */
  DrapeTensor *coeffs;    /* host [1, 1, 1, N] */
  DrapeTensor *key;       /* host RNG key of the step noise */
  DrapeTensor *noise;     /* [1, 2lh, lw, 4] f32, injected noise */
  DrapeTensor *preview;   /* host [1, lh, lw, 3] f32 */
} StepGraph;

/* Everything recorded for one (size, guidance on/off, noise source, VAE
 * tile).  The VAE always works on tiles, blended on the host with linear
 * ramps across their overlap; an untiled run is one tile of the whole
 * image, so the two share one path. */
typedef struct {
  guint32 width, height;  /* pixels */
  gboolean guided;
  gboolean injected;
  guint32 tile;           /* VAE tile side in pixels; 0: whole image */
  guint32 lh, lw;         /* one image's latent */
  guint32 th, tw;         /* a VAE tile's latent */
  guint32 overlap;        /* latent positions two tiles share */

  DrapeTensor *images;    /* [1, 8th, 8tw, 3] f32: a masked person or garment tile */
  DrapeTensor *moments;   /* [1, th, tw, 8] f32: its posterior */
  DrapeTensor *conditions;/* [B, 2lh, lw, 5] f32: mask, masked latents */
  DrapeTensor *sample;    /* [1, 2lh, lw, 4] f32 */
  DrapeTensor *x0;        /* [1, 2lh, lw, 4] f32 */
  DrapeTensor *latent;    /* [1, th, tw, 4] f32: a tile to decode */
  DrapeTensor *decoded;   /* [1, 8th, 8tw, 3] f32 in [0, 1] */

  DrapeGraph *encode;
  StepGraph steps[2];     /* even and odd steps */
  DrapeGraph *decode;
  DrapeBuffer *arena;     /* shared by the four graphs */
} Shapes;

/* Tiles overlap by this many pixels, or a quarter of a smaller tile. */
#define TILE_OVERLAP 64

struct _DrapePipeline
{
  DrapeDevice *device;
  DrapeUNet *unet;
  DrapeVae *vae;
  DrapeTensor *preview_weight; /* [3, 1, 1, 4] f32 */
  Shapes *shapes;              /* the last size used */
};

const char *
drape_scheduler_kind_to_string (DrapeSchedulerKind kind)
{
  switch (kind)
    {
    case DRAPE_SCHEDULER_DPMPP_2M: return "dpmpp-2m";
    case DRAPE_SCHEDULER_EULER: return "euler";
    case DRAPE_SCHEDULER_DDIM:
    default: return "ddim";
    }
}

gboolean
drape_scheduler_kind_from_string (const char         *name,
                                  DrapeSchedulerKind *kind)
{
  static const DrapeSchedulerKind kinds[] = {
    DRAPE_SCHEDULER_DDIM, DRAPE_SCHEDULER_DPMPP_2M, DRAPE_SCHEDULER_EULER,
  };

  for (guint i = 0; i < G_N_ELEMENTS (kinds); i++)
    if (g_strcmp0 (name, drape_scheduler_kind_to_string (kinds[i])) == 0)
      {
        *kind = kinds[i];
        return TRUE;
      }
  return FALSE;
}

double
drape_progress_seconds_left (const DrapeProgress *p)
{
  g_return_val_if_fail (p != NULL && p->step <= p->n_steps, -1);

  if (p->step == p->n_steps)
    return 0;
  if (p->step < 2)
    return -1;
  return (p->elapsed_s - p->first_step_s) / (p->step - 1) * (p->n_steps - p->step);
}

void
drape_try_on_params_init (DrapeTryOnParams *params)
{
  memset (params, 0, sizeof *params);
  params->width = 384;
  params->height = 512;
  params->steps = 50;
  params->guidance = 2.5f;
  params->seed = 42;
  params->eta = 1.0f;
  params->scheduler = DRAPE_SCHEDULER_DDIM;
}

char *
drape_try_on_params_to_string (const DrapeTryOnParams *params)
{
  char guidance[G_ASCII_DTOSTR_BUF_SIZE], eta[G_ASCII_DTOSTR_BUF_SIZE];

  g_ascii_formatd (guidance, sizeof guidance, "%g", params->guidance);
  g_ascii_formatd (eta, sizeof eta, "%g", params->eta);
  return g_strdup_printf ("Drape %s (CatVTON): size %ux%u, steps %u, guidance %s, seed %" G_GUINT64_FORMAT
                          ", scheduler %s, eta %s, repaint %s, mask blur %u%s",
                          PACKAGE_VERSION, params->width, params->height, params->steps, guidance,
                          params->seed, drape_scheduler_kind_to_string (params->scheduler), eta,
                          params->repaint ? "on" : "off", params->mask_blur,
                          params->noise_path ? ", injected noise" : "");
}

gboolean
drape_try_on_params_check (DrapeTryOnParams *params,
                           char            **note,
                           GError          **error)
{
  guint32 w = params->width - params->width % LATENT_FACTOR;
  guint32 h = params->height - params->height % LATENT_FACTOR;

  if (note != NULL)
    *note = NULL;
  if (w < LATENT_FACTOR * 2 || h < LATENT_FACTOR * 2 || w > 4096 || h > 4096)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                   "Size %ux%u is outside 16x16 .. 4096x4096", params->width, params->height);
      return FALSE;
    }
  if (params->steps == 0 || params->steps > 1000)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                   "%u steps: give 1 to 1000", params->steps);
      return FALSE;
    }
  if (!(params->guidance >= 0 && params->guidance <= 100) || !(params->eta >= 0 && params->eta <= 1))
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                   "Guidance must be in 0..100 and eta in 0..1");
      return FALSE;
    }
  if (params->scheduler != DRAPE_SCHEDULER_DDIM && params->eta != 0 && params->eta != 1)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                   "eta applies to DDIM only");
      return FALSE;
    }
  if (params->vae_tile != 0 && (params->vae_tile % LATENT_FACTOR != 0 || params->vae_tile < 32 ||
                                params->vae_tile > 4096))
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                   "VAE tile %u: give a multiple of 8 from 32 to 4096", params->vae_tile);
      return FALSE;
    }
  if (params->mask_blur > 1000)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                   "Mask blur radius %u is larger than 1000", params->mask_blur);
      return FALSE;
    }
  if (w != params->width || h != params->height)
    {
      if (note != NULL)
        *note = g_strdup_printf ("Size %ux%u rounded down to %ux%u (a multiple of 8)",
                                 params->width, params->height, w, h);
      params->width = w;
      params->height = h;
    }
  return TRUE;
}

static void
shapes_free (Shapes *s)
{
  if (s == NULL)
    return;
  g_clear_pointer (&s->encode, drape_graph_free);
  for (guint k = 0; k < G_N_ELEMENTS (s->steps); k++)
    {
      StepGraph *g = &s->steps[k];

      g_clear_pointer (&g->graph, drape_graph_free);
      g_clear_pointer (&g->timestep, drape_tensor_free);
      g_clear_pointer (&g->input_scale, drape_tensor_free);
      g_clear_pointer (&g->coeffs, drape_tensor_free);
      g_clear_pointer (&g->key, drape_tensor_free);
      g_clear_pointer (&g->noise, drape_tensor_free);
      g_clear_pointer (&g->preview, drape_tensor_free);
    }
  g_clear_pointer (&s->decode, drape_graph_free);
  g_clear_pointer (&s->arena, drape_buffer_free);
  g_clear_pointer (&s->images, drape_tensor_free);
  g_clear_pointer (&s->moments, drape_tensor_free);
  g_clear_pointer (&s->latent, drape_tensor_free);
  g_clear_pointer (&s->conditions, drape_tensor_free);
  g_clear_pointer (&s->sample, drape_tensor_free);
  g_clear_pointer (&s->x0, drape_tensor_free);
  g_clear_pointer (&s->decoded, drape_tensor_free);
  g_free (s);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Shapes, shapes_free)

void
drape_pipeline_free (DrapePipeline *pipeline)
{
  if (pipeline == NULL)
    return;
  shapes_free (pipeline->shapes);
  drape_tensor_free (pipeline->preview_weight);
  drape_unet_free (pipeline->unet);
  drape_vae_free (pipeline->vae);
  g_free (pipeline);
}

static DrapePipeline *
pipeline_new (DrapeDevice *device,
              DrapeUNet   *unet,
              DrapeVae    *vae,
              GError     **error)
{
  g_autoptr(DrapePipeline) pipeline = g_new0 (DrapePipeline, 1);
  float w[12];

  pipeline->device = device;
  pipeline->unet = unet;
  pipeline->vae = vae;
  if (drape_unet_get_config (unet)->in_channels != 2 * drape_vae_get_config (vae)->latent_channels + 1 ||
      drape_unet_get_config (unet)->out_channels != drape_vae_get_config (vae)->latent_channels ||
      drape_vae_get_config (vae)->latent_channels != 4)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED,
                   "This UNet (%u in, %u out channels) is not an inpainting UNet for this VAE "
                   "(%u latent channels)", drape_unet_get_config (unet)->in_channels,
                   drape_unet_get_config (unet)->out_channels,
                   drape_vae_get_config (vae)->latent_channels);
      return NULL;
    }
  for (guint o = 0; o < 3; o++)
    for (guint i = 0; i < 4; i++)
      w[o * 4 + i] = preview_matrix[o][i];
  pipeline->preview_weight = drape_tensor_new (device, DRAPE_DTYPE_F32, 3, 1, 1, 4, error);
  if (pipeline->preview_weight == NULL ||
      !drape_tensor_upload (pipeline->preview_weight, w, 12, error))
    return NULL;
  return g_steal_pointer (&pipeline);
}

DrapePipeline *
drape_pipeline_new (DrapeDevice               *device,
                    const DrapePipelineConfig *config,
                    GCancellable              *cancellable,
                    GError                   **error)
{
  g_autoptr(DrapeUNet) unet = NULL;
  g_autoptr(DrapeVae) vae = NULL;
  DrapePipeline *pipeline;

  unet = drape_unet_new (device, config->unet_dir, config->attention_path, config->dtype, error);
  if (unet == NULL || g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;
  vae = drape_vae_new (device, config->vae_dir, config->dtype, error);
  if (vae == NULL)
    return NULL;
  pipeline = pipeline_new (device, unet, vae, error);
  if (pipeline != NULL)
    {
      g_steal_pointer (&unet);
      g_steal_pointer (&vae);
    }
  return pipeline;
}

DrapePipeline *
drape_pipeline_new_random (DrapeDevice           *device,
                           const DrapeUNetConfig *unet_config,
                           const DrapeVaeConfig  *vae_config,
                           DrapeDType             dtype,
                           gboolean               values,
                           GError               **error)
{
  g_autoptr(DrapeUNet) unet = drape_unet_new_random (device, unet_config, dtype, values, 1, error);
  g_autoptr(DrapeVae) vae = NULL;
  DrapePipeline *pipeline;

  if (unet == NULL)
    return NULL;
  vae = drape_vae_new_random (device, vae_config, dtype, values, 2, error);
  if (vae == NULL)
    return NULL;
  pipeline = pipeline_new (device, unet, vae, error);
  if (pipeline != NULL)
    {
      g_steal_pointer (&unet);
      g_steal_pointer (&vae);
    }
  return pipeline;
}

DrapeUNet *
drape_pipeline_get_unet (DrapePipeline *pipeline)
{
  return pipeline->unet;
}

DrapeVae *
drape_pipeline_get_vae (DrapePipeline *pipeline)
{
  return pipeline->vae;
}

/* ---- graphs ------------------------------------------------------------ */

static DrapeTensor *
new_tensor (DrapePipeline *pipeline,
            gboolean       host,
            guint32        n,
            guint32        h,
            guint32        w,
            guint32        c,
            GError       **error)
{
  return host ? drape_tensor_new_host (pipeline->device, DRAPE_DTYPE_F32, n, h, w, c, error)
              : drape_tensor_new (pipeline->device, DRAPE_DTYPE_F32, n, h, w, c, error);
}

/* A step graph's own tensors, then its ops: model input, UNet, guidance,
 * scheduler update, preview. */
static gboolean
build_step_graph (DrapePipeline *pipeline,
                  Shapes        *s,
                  StepGraph     *g,
                  const char    *name,
                  GError       **error)
{
  DrapeGraph *graph;
  DrapeTensor *t, *u, *eps;

  if (!(g->timestep = new_tensor (pipeline, TRUE, s->guided ? 2 : 1, 1, 1, 1, error)) ||
      !(g->input_scale = new_tensor (pipeline, TRUE, 1, 1, 1, 4, error)) ||
      !(g->coeffs = new_tensor (pipeline, TRUE, 1, 1, 1, DRAPE_DENOISE_N_COEFFS, error)) ||
      !(g->preview = new_tensor (pipeline, TRUE, 1, s->lh, s->lw, 3, error)))
    return FALSE;
  if (s->injected)
    g->noise = new_tensor (pipeline, FALSE, 1, 2 * s->lh, s->lw, 4, error);
  else
    g->key = drape_rng_key_new (pipeline->device, 0, 0, error);
  if ((s->injected ? g->noise : g->key) == NULL)
    return FALSE;

  graph = g->graph = drape_graph_new (pipeline->device, name);
  drape_graph_set_background_builds (graph, TRUE);
  t = drape_op_mul (graph, s->sample, g->input_scale);
  if (s->guided)
    {
      u = drape_op_concat (graph, DRAPE_AXIS_N, t, t);
      drape_tensor_release (t);
      t = u;
    }
  u = drape_op_concat (graph, DRAPE_AXIS_C, t, s->conditions);
  drape_tensor_release (t);
  t = drape_unet_forward (pipeline->unet, graph, u, g->timestep, NULL);
  drape_tensor_release (u);
  eps = s->injected ? NULL : drape_op_randn (graph, g->key, 1, 2 * s->lh, s->lw, 4, DRAPE_DTYPE_F32);
  drape_op_denoise_step (graph, t, s->sample, s->x0, s->injected ? g->noise : eps, g->coeffs);
  drape_tensor_release (t);
  drape_tensor_release (eps);
  t = drape_op_slice (graph, DRAPE_AXIS_H, s->x0, 0, s->lh);
  u = drape_op_linear (graph, t, pipeline->preview_weight, NULL);
  drape_tensor_release (t);
  drape_op_copy (graph, u, g->preview);
  return drape_graph_check (graph, error);
}

static gboolean
build_graphs (DrapePipeline *pipeline,
              Shapes        *s,
              GError       **error)
{
  DrapeDevice *device = pipeline->device;
  float scaling = drape_vae_get_config (pipeline->vae)->scaling_factor;
  DrapeTensor *t, *u;

  /* encode: a tile of one image to its posterior; the person and the
   * garment one after the other, which halves the encoder's activations
   * (the largest of a whole-image run) for a few more dispatches */
  s->encode = drape_graph_new (device, "VAE encode");
  drape_graph_set_background_builds (s->encode, TRUE);
  t = drape_vae_encode (pipeline->vae, s->encode, s->images, NULL);
  drape_op_copy (s->encode, t, s->moments);

  if (!build_step_graph (pipeline, s, &s->steps[0], "UNet step (even)", error) ||
      !build_step_graph (pipeline, s, &s->steps[1], "UNet step (odd)", error))
    return FALSE;

  /* decode: a tile of the person half, unscaled, to [0, 1] */
  s->decode = drape_graph_new (device, "VAE decode");
  drape_graph_set_background_builds (s->decode, TRUE);
  u = drape_op_scale (s->decode, s->latent, 1.0f / scaling, 0.0f);
  t = drape_vae_decode (pipeline->vae, s->decode, u, NULL);
  drape_tensor_release (u);
  u = drape_op_scale (s->decode, t, 0.5f, 0.5f);
  drape_tensor_release (t);
  drape_op_copy (s->decode, u, s->decoded);

  /* The graphs run one after another, even the two step graphs in flight
   * together: one arena serves all four. */
  if (!drape_graph_check (s->encode, error) || !drape_graph_check (s->decode, error))
    return FALSE;
  s->arena = drape_buffer_new (device, DRAPE_MEMORY_DEVICE,
                               MAX (drape_graph_get_arena_size (s->encode),
                                    MAX (drape_graph_get_arena_size (s->steps[0].graph),
                                         drape_graph_get_arena_size (s->decode))),
                               error);
  return s->arena != NULL &&
         drape_graph_compile_in (s->encode, s->arena, error) &&
         drape_graph_compile_in (s->steps[0].graph, s->arena, error) &&
         drape_graph_compile_in (s->steps[1].graph, s->arena, error) &&
         drape_graph_compile_in (s->decode, s->arena, error);
}

static Shapes *
shapes_new (DrapePipeline *pipeline,
            guint32        width,
            guint32        height,
            gboolean       guided,
            gboolean       injected,
            guint32        tile,
            GError       **error)
{
  g_autoptr(Shapes) s = g_new0 (Shapes, 1);
  guint32 batch = guided ? 2 : 1;
  guint32 lh = height / LATENT_FACTOR, lw = width / LATENT_FACTOR;

  s->width = width;
  s->height = height;
  s->guided = guided;
  s->injected = injected;
  s->tile = tile;
  s->lh = lh;
  s->lw = lw;
  s->th = tile ? MIN (lh, tile / LATENT_FACTOR) : lh;
  s->tw = tile ? MIN (lw, tile / LATENT_FACTOR) : lw;
  s->overlap = MAX (MIN (TILE_OVERLAP, tile / 4) / LATENT_FACTOR, 1);
  if (!(s->images = new_tensor (pipeline, FALSE, 1, 8 * s->th, 8 * s->tw, 3, error)) ||
      !(s->moments = new_tensor (pipeline, FALSE, 1, s->th, s->tw, 8, error)) ||
      !(s->conditions = new_tensor (pipeline, FALSE, batch, 2 * lh, lw, 5, error)) ||
      !(s->sample = new_tensor (pipeline, FALSE, 1, 2 * lh, lw, 4, error)) ||
      !(s->x0 = new_tensor (pipeline, FALSE, 1, 2 * lh, lw, 4, error)) ||
      !(s->latent = new_tensor (pipeline, FALSE, 1, s->th, s->tw, 4, error)) ||
      !(s->decoded = new_tensor (pipeline, FALSE, 1, 8 * s->th, 8 * s->tw, 3, error)))
    return NULL;
  if (!build_graphs (pipeline, s, error))
    return NULL;
  return g_steal_pointer (&s);
}

/* shapes_new, whose graphs build their pipelines side by side; recorded
 * again while a kernel turns out to be one the driver refuses (each time
 * one more, which the next recording does without). */
static Shapes *
shapes_recorded (DrapePipeline *pipeline,
                 guint32        width,
                 guint32        height,
                 gboolean       guided,
                 gboolean       injected,
                 guint32        tile,
                 GError       **error)
{
  for (;;)
    {
      g_autoptr(GError) local_error = NULL;
      Shapes *s = shapes_new (pipeline, width, height, guided, injected, tile, &local_error);

      if (s != NULL)
        return s;
      if (!g_error_matches (local_error, DRAPE_ERROR, DRAPE_ERROR_RECORD_AGAIN))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return NULL;
        }
    }
}

/* The graphs for a run, recorded on first use and kept for the next run
 * of the same kind.  With tiling left to Drape (tiling < 0), a whole-image
 * VAE is tried first and 512, then 256 pixel tiles when device memory runs
 * short; tiling > 0 asks for that tile size. */
static Shapes *
get_shapes (DrapePipeline *pipeline,
            guint32        width,
            guint32        height,
            gboolean       guided,
            gboolean       injected,
            gint           tiling,
            GError       **error)
{
  Shapes *old = pipeline->shapes;
  const guint32 automatic[] = { 0, 512, 256 };

  if (old != NULL && old->width == width && old->height == height && old->guided == guided &&
      old->injected == injected && (tiling < 0 ? TRUE : old->tile == (guint32) tiling))
    return old;
  /* One size at a time: free the old graphs before allocating new ones. */
  g_clear_pointer (&pipeline->shapes, shapes_free);

  if (tiling >= 0)
    pipeline->shapes = shapes_recorded (pipeline, width, height, guided, injected, tiling, error);
  else
    for (guint i = 0; i < G_N_ELEMENTS (automatic) && pipeline->shapes == NULL; i++)
      {
        g_autoptr(GError) local_error = NULL;
        pipeline->shapes = shapes_recorded (pipeline, width, height, guided, injected,
                                            automatic[i], &local_error);
        if (pipeline->shapes == NULL &&
            (!g_error_matches (local_error, DRAPE_ERROR, DRAPE_ERROR_OUT_OF_MEMORY) ||
             i + 1 == G_N_ELEMENTS (automatic)))
          {
            g_propagate_error (error, g_steal_pointer (&local_error));
            return NULL;
          }
      }
  return pipeline->shapes;
}

/* get_shapes' tiling for these parameters. */
static gint
requested_tile (const DrapeTryOnParams *params)
{
  switch (params->vae_tiling)
    {
    case DRAPE_VAE_TILING_OFF:
      return 0;
    case DRAPE_VAE_TILING_ON:
      return (gint) (params->vae_tile ? params->vae_tile : 512);
    case DRAPE_VAE_TILING_AUTO:
    default:
      return -1;
    }
}

gboolean
drape_pipeline_prepare (DrapePipeline          *pipeline,
                        const DrapeTryOnParams *params_in,
                        GError                **error)
{
  DrapeTryOnParams params = *params_in;

  if (!drape_try_on_params_check (&params, NULL, error))
    return FALSE;
  return get_shapes (pipeline, params.width, params.height, params.guidance > 1.0f,
                     params.noise_path != NULL, requested_tile (&params), error) != NULL;
}

void
drape_pipeline_release_graphs (DrapePipeline *pipeline)
{
  g_clear_pointer (&pipeline->shapes, shapes_free);
}

guint32
drape_pipeline_get_vae_tile (DrapePipeline *pipeline)
{
  return pipeline->shapes != NULL ? pipeline->shapes->tile : 0;
}

/* ---- VAE tiles ---------------------------------------------------------- */

/* drape_tiles_run's callback for the pipeline's graphs. */
typedef struct {
  DrapePipeline *pipeline;
  Shapes *s;
  const float *source;
} TileJob;

/* One encode tile: the images' window at latent (y, x), to moments. */
static gboolean
encode_tile (guint32   y,
             guint32   x,
             float    *out,
             gpointer  user_data,
             GError  **error)
{
  TileJob *job = user_data;
  Shapes *s = job->s;
  const float *images = job->source;
  guint32 H = s->height, W = s->width, th = 8 * s->th, tw = 8 * s->tw;
  g_autofree float *window = g_new (float, (gsize) th * tw * 3);

  for (guint32 n = 0; n < 2; n++)
    {
      for (guint32 r = 0; r < th; r++)
        memcpy (window + (gsize) r * tw * 3,
                images + (((gsize) n * H + 8 * y + r) * W + 8 * x) * 3, sizeof (float) * tw * 3);
      if (!drape_tensor_upload (s->images, window, (gsize) th * tw * 3, error) ||
          !drape_graph_run (s->encode, error) ||
          !drape_tensor_download (s->moments, out + (gsize) n * s->th * s->tw * 8,
                                  (gsize) s->th * s->tw * 8, error))
        return FALSE;
    }
  return TRUE;
}

/* One decode tile: the latent's window at (y, x), to pixels. */
static gboolean
decode_tile (guint32   y,
             guint32   x,
             float    *out,
             gpointer  user_data,
             GError  **error)
{
  TileJob *job = user_data;
  Shapes *s = job->s;
  const float *latent = job->source;
  g_autofree float *window = g_new (float, (gsize) s->th * s->tw * 4);

  for (guint32 r = 0; r < s->th; r++)
    memcpy (window + (gsize) r * s->tw * 4, latent + ((gsize) (y + r) * s->lw + x) * 4,
            sizeof (float) * s->tw * 4);
  return drape_tensor_upload (s->latent, window, (gsize) s->th * s->tw * 4, error) &&
         drape_graph_run (s->decode, error) &&
         drape_tensor_download (s->decoded, out, (gsize) 64 * s->th * s->tw * 3, error);
}

/* ---- a run ------------------------------------------------------------- */

/* A noise file: NCHW tensors named as ../shared/golden/pipeline's. */
static float *
read_noise (DrapeSafetensors *st,
            const char       *name,
            guint32           h,
            guint32           w,
            gboolean          required,
            GError          **error)
{
  guint64 shape[] = { 1, 4, h, w };
  g_autofree float *nchw = NULL;
  float *nhwc;

  if (!required && drape_safetensors_lookup (st, name) == NULL)
    return NULL;
  nchw = drape_safetensors_read_f32 (st, name, 4, shape, error);
  if (nchw == NULL)
    return NULL;
  nhwc = g_new (float, (gsize) 4 * h * w);
  drape_nchw_to_nhwc (nchw, nhwc, 1, 4, h, w);
  return nhwc;
}

static gboolean
check_image (const DrapeImage *image,
             const char       *what,
             guint32           channels,
             GError          **error)
{
  if (image == NULL || image->width == 0 || image->height == 0 || image->channels != channels)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                   "The %s must be a %s image", what, channels == 1 ? "one-channel" : "RGB");
      return FALSE;
    }
  return TRUE;
}

/* Masked person and garment as x / 127.5 - 1, NHWC, one after the other. */
static float *
prepare_images (const DrapeImage *person,
                const DrapeImage *garment,
                const DrapeImage *mask)
{
  gsize pixels = (gsize) person->width * person->height;
  float *data = g_new (float, 2 * pixels * 3);

  for (gsize i = 0; i < pixels; i++)
    {
      gboolean masked = mask->pixels[i] >= DRAPE_MASK_THRESHOLD;
      for (guint c = 0; c < 3; c++)
        {
          data[i * 3 + c] = masked ? 0.0f : person->pixels[i * 3 + c] / 127.5f - 1.0f;
          data[(pixels + i) * 3 + c] = garment->pixels[i * 3 + c] / 127.5f - 1.0f;
        }
    }
  return data;
}

/* The UNet's conditioning channels for every guidance batch entry: the
 * mask latent (the mask's pixel (8i, 8j), zeros below), then the masked
 * latents [person; garment], the garment zeroed for the unconditional
 * entry. */
static float *
prepare_conditions (const Shapes     *s,
                    const float      *latents,
                    const DrapeImage *mask)
{
  guint32 batch = s->guided ? 2 : 1;
  gsize plane = (gsize) s->lh * s->lw;
  float *data = g_new0 (float, batch * 2 * plane * 5);

  for (guint b = 0; b < batch; b++)
    for (guint32 y = 0; y < 2 * s->lh; y++)
      for (guint32 x = 0; x < s->lw; x++)
        {
          float *out = data + (((gsize) b * 2 * s->lh + y) * s->lw + x) * 5;
          gboolean top = y < s->lh;
          gboolean uncond = s->guided && b == 0;
          const float *src;

          if (top)
            out[0] = mask->pixels[(gsize) y * LATENT_FACTOR * mask->width + x * LATENT_FACTOR]
                     >= DRAPE_MASK_THRESHOLD ? 1.0f : 0.0f;
          if (!top && uncond)
            continue;
          src = latents + ((top ? 0 : plane) + (gsize) (top ? y : y - s->lh) * s->lw + x) * 4;
          memcpy (out + 1, src, 4 * sizeof (float));
        }
  return data;
}

static DrapeImage *
rgb_from_f32 (const float *data,
              guint32      width,
              guint32      height,
              float        scale,
              float        shift)
{
  DrapeImage *image = drape_image_new (width, height, 3);

  for (gsize i = 0; i < (gsize) width * height * 3; i++)
    image->pixels[i] = (guint8) rintf (CLAMP (data[i] * scale + shift, 0.0f, 1.0f) * 255.0f);
  return image;
}

/* CatVTON's repaint: the result inside the mask, blended over the person
 * through the mask blurred by a radius of height / 50 (odd). */
static void
repaint (DrapeImage       *result,
         const DrapeImage *person,
         const DrapeImage *mask)
{
  guint32 radius = result->height / 50;
  g_autoptr(DrapeImage) soft = NULL;

  if (radius % 2 == 0)
    radius++;
  soft = drape_image_gaussian_blur (mask, radius);
  for (gsize i = 0; i < (gsize) result->width * result->height; i++)
    {
      float m = soft->pixels[i] / 255.0f;
      for (guint c = 0; c < 3; c++)
        result->pixels[i * 3 + c] =
          (guint8) (person->pixels[i * 3 + c] * (1.0f - m) + result->pixels[i * 3 + c] * m);
    }
}

static void
write_floats (DrapeTensor *tensor,
              const float *values,
              guint        n)
{
  memcpy (drape_tensor_get_mapped (tensor), values, n * sizeof (float));
}

/* Writes step i's inputs into its graph's tensors and submits it.  The
 * graph's previous step (i - 2) was waited for, and the step in flight
 * (i - 1) reads nothing of this graph's own. */
static gboolean
submit_step (Shapes                 *s,
             DrapeScheduler         *scheduler,
             const DrapeTryOnParams *params,
             DrapeSafetensors       *noise,
             guint                   i,
             GError                **error)
{
  StepGraph *g = &s->steps[i % 2];
  const DrapeSchedulerStep *step = drape_scheduler_get_step (scheduler, i);
  DrapeDenoiseCoeffs coeffs;
  float t[2] = { step->timestep, step->timestep };
  float scale[4] = { step->input_scale, step->input_scale, step->input_scale, step->input_scale };

  drape_scheduler_get_coeffs (scheduler, i, params->guidance, &coeffs);
  write_floats (g->timestep, t, s->guided ? 2 : 1);
  write_floats (g->input_scale, scale, 4);
  write_floats (g->coeffs, (const float *) &coeffs, DRAPE_DENOISE_N_COEFFS);
  if (noise == NULL)
    drape_rng_key_set (g->key, params->seed, drape_rng_step_stream (i), NULL);
  else if (step->c_noise != 0)
    {
      /* Where uploads go through a staging copy on the queue, waiting for
       * it waits for step i - 1 too: the noise file (tests, comparisons)
       * costs the overlap there, not correctness. */
      g_autofree char *name = g_strdup_printf ("noise.ddim_variance_noise_step%u", i);
      g_autofree float *z = read_noise (noise, name, 2 * s->lh, s->lw, TRUE, error);
      if (z == NULL || !drape_tensor_upload (g->noise, z, (gsize) 2 * s->lh * s->lw * 4, error))
        return FALSE;
    }
  return drape_graph_submit (g->graph, error);
}

/* After an error or a cancellation: nothing may stay in flight. */
static void
wait_steps (Shapes *s)
{
  for (guint k = 0; k < G_N_ELEMENTS (s->steps); k++)
    drape_graph_wait (s->steps[k].graph, NULL);
}

DrapeImage *
drape_pipeline_try_on (DrapePipeline          *pipeline,
                       const DrapeImage       *person,
                       const DrapeImage       *garment,
                       const DrapeImage       *mask,
                       const DrapeTryOnParams *params_in,
                       DrapeProgressFunc       progress,
                       gpointer                user_data,
                       GCancellable           *cancellable,
                       GError                **error)
{
  DrapeTryOnParams params = *params_in;
  g_autoptr(DrapeImage) person_p = NULL;
  g_autoptr(DrapeImage) garment_p = NULL;
  g_autoptr(DrapeImage) mask_p = NULL;
  g_autoptr(DrapeSafetensors) noise = NULL;
  g_autoptr(DrapeScheduler) scheduler = NULL;
  g_autofree float *images = NULL;
  g_autofree float *eps = NULL;
  g_autofree float *moments = NULL;
  g_autofree float *latents = NULL;
  g_autofree float *conditions = NULL;
  g_autofree float *init = NULL;
  g_autofree float *decoded = NULL;
  g_autoptr(GTimer) timer = g_timer_new ();
  DrapeSchedulerConfig sched_config;
  DrapeTileGrid grid;
  TileJob job;
  DrapeImage *result;
  gboolean guided, any_masked = FALSE;
  gsize plane, latent_size;
  double sigma, elapsed_s, first_step_s = 0;
  Shapes *s;

  if (!drape_try_on_params_check (&params, NULL, error) ||
      !check_image (person, "person photo", 3, error) ||
      !check_image (garment, "garment photo", 3, error) ||
      !check_image (mask, "mask", 1, error))
    return NULL;

  person_p = drape_image_resize_and_crop (person, params.width, params.height);
  garment_p = drape_image_resize_and_pad (garment, params.width, params.height, 255);
  mask_p = drape_image_prepare_mask (mask, params.width, params.height, params.mask_blur);
  for (gsize i = 0; i < (gsize) params.width * params.height && !any_masked; i++)
    any_masked = mask_p->pixels[i] >= DRAPE_MASK_THRESHOLD;
  if (!any_masked)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                   "The mask is empty: paint the region to dress first");
      return NULL;
    }

  if (params.noise_path != NULL)
    {
      noise = drape_safetensors_open (params.noise_path, error);
      if (noise == NULL)
        return NULL;
    }

  drape_scheduler_config_init (&sched_config, params.scheduler);
  scheduler = drape_scheduler_new (&sched_config, params.steps,
                                   params.scheduler == DRAPE_SCHEDULER_DDIM ? params.eta : 0.0, error);
  if (scheduler == NULL)
    return NULL;

  guided = params.guidance > 1.0f;
  s = get_shapes (pipeline, params.width, params.height, guided, noise != NULL,
                  requested_tile (&params), error);
  if (s == NULL)
    return NULL;
  plane = (gsize) s->lh * s->lw;
  latent_size = 2 * plane * 4;
  job.pipeline = pipeline;
  job.s = s;
  grid = (DrapeTileGrid) {
    .height = s->lh, .width = s->lw, .tile_height = s->th, .tile_width = s->tw, .overlap = s->overlap,
  };

  /* VAE posterior samples of the masked person and the garment. */
  images = prepare_images (person_p, garment_p, mask_p);
  eps = g_new0 (float, 2 * plane * 4);
  if (noise != NULL)
    {
      g_autofree float *a = read_noise (noise, "noise.eps_masked_person", s->lh, s->lw, FALSE, error);
      g_autofree float *b = NULL;
      if (a == NULL && error != NULL && *error != NULL)
        return NULL;
      b = read_noise (noise, "noise.eps_garment", s->lh, s->lw, a != NULL, error);
      if (a != NULL && b == NULL)
        return NULL;
      /* Without eps_* the posterior mean is used. */
      if (a != NULL)
        {
          memcpy (eps, a, plane * 4 * sizeof (float));
          memcpy (eps + plane * 4, b, plane * 4 * sizeof (float));
        }
    }
  else
    {
      drape_rng_normal (params.seed, DRAPE_RNG_STREAM_POSTERIOR_PERSON, 0, eps, plane * 4);
      drape_rng_normal (params.seed, DRAPE_RNG_STREAM_POSTERIOR_GARMENT, 0, eps + plane * 4, plane * 4);
    }
  moments = g_new (float, 2 * plane * 8);
  job.source = images;
  if (!drape_tiles_run (&grid, 2, 1, 8, encode_tile, &job, moments, error))
    return NULL;
  latents = g_new (float, 2 * plane * 4);
  drape_ref_gaussian_sample (moments, (DrapeShape) { 2, s->lh, s->lw, 8 }, eps,
                             drape_vae_get_config (pipeline->vae)->scaling_factor, latents);
  conditions = prepare_conditions (s, latents, mask_p);
  if (!drape_tensor_upload (s->conditions, conditions, (guided ? 2 : 1) * 2 * plane * 5, error))
    return NULL;

  /* The initial latent. */
  sigma = drape_scheduler_get_init_noise_sigma (scheduler);
  if (noise != NULL)
    init = read_noise (noise, "noise.init_noise", 2 * s->lh, s->lw, TRUE, error);
  else
    {
      init = g_new (float, latent_size);
      drape_rng_normal (params.seed, DRAPE_RNG_STREAM_INIT_NOISE, 0, init, latent_size);
    }
  if (init == NULL)
    return NULL;
  for (gsize i = 0; i < latent_size; i++)
    init[i] = (float) (init[i] * sigma);
  if (!drape_tensor_upload (s->sample, init, latent_size, error))
    return NULL;

  /* At most two steps in flight: step i + 1 is submitted before step i
   * is waited for, and step i's preview made while step i + 1 runs. */
  if (g_cancellable_set_error_if_cancelled (cancellable, error) ||
      !submit_step (s, scheduler, &params, noise, 0, error))
    return NULL;
  for (guint i = 0; i < params.steps; i++)
    {
      StepGraph *g = &s->steps[i % 2];

      if (i + 1 < params.steps &&
          (g_cancellable_set_error_if_cancelled (cancellable, error) ||
           !submit_step (s, scheduler, &params, noise, i + 1, error)))
        {
          wait_steps (s);
          return NULL;
        }
      if (!drape_graph_wait (g->graph, error))
        {
          wait_steps (s);
          return NULL;
        }

      elapsed_s = g_timer_elapsed (timer, NULL);
      if (i == 0)
        first_step_s = elapsed_s;
      if (progress != NULL)
        {
          g_autoptr(DrapeImage) small = rgb_from_f32 (drape_tensor_get_mapped (g->preview),
                                                      s->lw, s->lh, 0.5f, 0.5f);
          g_autoptr(DrapeImage) preview = drape_image_resize_bilinear (small, params.width, params.height);
          DrapeProgress p = {
            .step = i + 1,
            .n_steps = params.steps,
            .elapsed_s = elapsed_s,
            .first_step_s = first_step_s,
            .preview = preview,
          };
          progress (&p, user_data);
        }
    }

  /* The person half of the final latent, decoded tile by tile. */
  if (g_cancellable_set_error_if_cancelled (cancellable, error) ||
      !drape_tensor_download (s->sample, init, latent_size, error))
    return NULL;
  decoded = g_new (float, (gsize) params.width * params.height * 3);
  job.source = init;
  if (!drape_tiles_run (&grid, 1, LATENT_FACTOR, 3, decode_tile, &job, decoded, error))
    return NULL;
  result = rgb_from_f32 (decoded, params.width, params.height, 1.0f, 0.0f);
  if (params.repaint)
    {
      g_autoptr(DrapeImage) grey = drape_image_convert (mask, 1);
      g_autoptr(DrapeImage) cropped = drape_image_resize_and_crop (grey, params.width, params.height);
      repaint (result, person_p, cropped);
    }
  return result;
}
