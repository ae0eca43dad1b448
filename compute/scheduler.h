/* scheduler.h: DDIM, DPM-Solver++ (2M) and Euler, as diffusers 0.29.2
 * computes them
 *
 * Every step of the three samplers is linear in the tensors it touches, so
 * a scheduler is a table of per-step coefficients, computed once on the
 * host in double from diffusers' float32 noise schedule:
 *
 *   UNet input  = sample * input_scale           (given `timestep`)
 *   x0          = x0_sample * sample + x0_eps * eps
 *   next sample = c_sample * sample + c_eps * eps + c_x0 * x0
 *               + c_prev_x0 * x0 of the step before + c_noise * noise
 *
 * where eps is the (guided) UNet output and noise a fresh standard normal
 * draw.  The pipeline records one denoise node (drape_op_denoise_step)
 * and rewrites its coefficients before each replay; DPM-Solver++'s history
 * is the x0 tensor itself, so no host state survives between steps.
 *
 * drape_scheduler_step_reference() is the other form: diffusers' step()
 * operation by operation in float32, for tests and to validate the
 * coefficients.
 *
 * Only epsilon prediction without thresholding or sample clipping is
 * supported (CatVTON's setting); configs asking for anything else are
 * refused with an error naming the key.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

#include "ops.h"
#include "pipeline.h"

G_BEGIN_DECLS

typedef enum {
  DRAPE_BETA_LINEAR,        /* linspace (beta_start, beta_end) */
  DRAPE_BETA_SCALED_LINEAR, /* linspace (sqrt beta_start, sqrt beta_end)^2 */
} DrapeBetaSchedule;

typedef enum {
  DRAPE_SPACING_LEADING,
  DRAPE_SPACING_LINSPACE,
  DRAPE_SPACING_TRAILING,
} DrapeTimestepSpacing;

typedef struct {
  DrapeSchedulerKind kind;
  guint32 num_train_timesteps;     /* 1000 */
  double beta_start;               /* 0.00085 */
  double beta_end;                 /* 0.012 */
  DrapeBetaSchedule beta_schedule; /* scaled_linear */
  guint32 steps_offset;            /* 1 */
  DrapeTimestepSpacing spacing;    /* DDIM: leading; DPM, Euler: linspace */
  /* DDIM: the "previous" alpha of the last step is 1, not alphas_cumprod[0]. */
  gboolean set_alpha_to_one;       /* FALSE */
  /* DPM-Solver++ and Euler: the last sigma is 0 ("zero"), else sigma_min. */
  gboolean final_sigma_zero;       /* TRUE */
  /* DPM-Solver++ only. */
  guint32 solver_order;            /* 2 */
  gboolean lower_order_final;      /* TRUE */
  gboolean euler_at_final;         /* FALSE */
} DrapeSchedulerConfig;

/* One denoising step, in double.  See the top of this file. */
typedef struct {
  double timestep;      /* what the UNet is given (Euler's are fractional) */
  double input_scale;
  double x0_sample;
  double x0_eps;
  double c_sample;
  double c_eps;
  double c_x0;
  double c_prev_x0;
  double c_noise;       /* 0: the step draws no noise */
} DrapeSchedulerStep;

typedef struct _DrapeScheduler DrapeScheduler;

/* CatVTON's settings (the SD1.5 scheduler config) for `kind`, with the
 * timestep spacing diffusers gives that class by default. */
void            drape_scheduler_config_init      (DrapeSchedulerConfig       *config,
                                                  DrapeSchedulerKind          kind);
/* Applies the keys of a diffusers scheduler_config.json over `config`.
 * Keys every scheduler shares (betas, steps, offset, prediction type...)
 * always apply; keys of one class (timestep_spacing, solver settings)
 * apply only when the file's _class_name is config->kind's class, as when
 * diffusers swaps schedulers: a saved DDIM config spells out DDIM's
 * default spacing, which a DPM-Solver++ built from it does not take.
 * Accepts Python's -Infinity / Infinity / NaN tokens.  Unsupported values
 * are errors that name the key. */
gboolean        drape_scheduler_config_load      (DrapeSchedulerConfig       *config,
                                                  const char                 *path,
                                                  GError                    **error);
gboolean        drape_scheduler_config_load_data (DrapeSchedulerConfig       *config,
                                                  const char                 *json,
                                                  gssize                      length,
                                                  const char                 *name,
                                                  GError                    **error);

/* eta (0 to 1) is DDIM's: 0 deterministic, 1 CatVTON's; the other kinds
 * ignore it, as diffusers pipelines do. */
DrapeScheduler *drape_scheduler_new              (const DrapeSchedulerConfig *config,
                                                  guint                       n_steps,
                                                  double                      eta,
                                                  GError                    **error);
void            drape_scheduler_free             (DrapeScheduler             *scheduler);
const DrapeSchedulerConfig *drape_scheduler_get_config (DrapeScheduler       *scheduler);
guint           drape_scheduler_get_n_steps      (DrapeScheduler             *scheduler);
const DrapeSchedulerStep *drape_scheduler_get_step (DrapeScheduler           *scheduler,
                                                  guint                       index);
/* The initial latent is a standard normal draw times this. */
double          drape_scheduler_get_init_noise_sigma (DrapeScheduler         *scheduler);
/* diffusers' float32 alphas_cumprod, num_train_timesteps values. */
const float    *drape_scheduler_get_alphas_cumprod (DrapeScheduler           *scheduler);
/* DPM-Solver++ and Euler: the n_steps + 1 float32 sigmas of set_timesteps
 * (last one final); NULL for DDIM. */
const float    *drape_scheduler_get_sigmas       (DrapeScheduler             *scheduler);
/* Whether any step draws noise (DDIM with eta > 0). */
gboolean        drape_scheduler_needs_noise      (DrapeScheduler             *scheduler);

/* What drape_op_denoise_step reads for step `index` under this guidance
 * scale. */
void            drape_scheduler_get_coeffs       (DrapeScheduler             *scheduler,
                                                  guint                       index,
                                                  float                       guidance,
                                                  DrapeDenoiseCoeffs         *coeffs);

/* diffusers' scale_model_input() in float32 (identity for DDIM and DPM). */
void            drape_scheduler_scale_model_input_reference (DrapeScheduler *scheduler,
                                                  guint                       index,
                                                  const float                *sample,
                                                  float                      *out,
                                                  gsize                       n);
/* diffusers' step() for step `index`, in float32 operation by operation.
 * x0 is in/out as in drape_op_denoise_step: on entry the x0 of step
 * index - 1 (read by DPM-Solver++'s second-order steps only), on exit this
 * step's x0.  noise may be NULL when the step draws none.  prev_sample may
 * be sample. */
void            drape_scheduler_step_reference   (DrapeScheduler             *scheduler,
                                                  guint                       index,
                                                  const float                *model_output,
                                                  const float                *sample,
                                                  const float                *noise,
                                                  float                      *x0,
                                                  float                      *prev_sample,
                                                  gsize                       n);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DrapeScheduler, drape_scheduler_free)

G_END_DECLS
