/* scheduler.c: noise schedules, timesteps and step coefficients
 *
 * The schedule (betas, alphas_cumprod, sigmas) is computed in float32 the
 * way PyTorch and NumPy compute it for diffusers, so that timesteps match
 * exactly and every coefficient starts from the same float32 values; the
 * coefficients themselves are then derived in double.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "error.h"
#include "scheduler.h"

struct _DrapeScheduler
{
  DrapeSchedulerConfig config;
  guint n_steps;
  double eta;
  float *alphas_cumprod;      /* num_train_timesteps */
  float *sigmas;              /* n_steps + 1, DPM and Euler */
  DrapeSchedulerStep *steps;  /* n_steps */
  gboolean *second_order;     /* n_steps, DPM */
  double init_noise_sigma;
  gboolean needs_noise;
};

static const char *
class_name (DrapeSchedulerKind kind)
{
  switch (kind)
    {
    case DRAPE_SCHEDULER_DDIM:
      return "DDIMScheduler";
    case DRAPE_SCHEDULER_DPMPP_2M:
      return "DPMSolverMultistepScheduler";
    case DRAPE_SCHEDULER_EULER:
      return "EulerDiscreteScheduler";
    default:
      return "?";
    }
}

void
drape_scheduler_config_init (DrapeSchedulerConfig *config,
                             DrapeSchedulerKind    kind)
{
  *config = (DrapeSchedulerConfig) {
    .kind = kind,
    .num_train_timesteps = 1000,
    .beta_start = 0.00085,
    .beta_end = 0.012,
    .beta_schedule = DRAPE_BETA_SCALED_LINEAR,
    .steps_offset = 1,
    .spacing = kind == DRAPE_SCHEDULER_DDIM ? DRAPE_SPACING_LEADING : DRAPE_SPACING_LINSPACE,
    .set_alpha_to_one = FALSE,
    .final_sigma_zero = TRUE,
    .solver_order = 2,
    .lower_order_final = TRUE,
    .euler_at_final = FALSE,
  };
}

/* ---- config files -------------------------------------------------------- */

/* Python's json module writes -Infinity, Infinity and NaN as bare tokens,
 * which JSON (and json-glib) does not allow; turn them into strings that
 * read_number() understands. */
static char *
quote_python_constants (const char *json,
                        gsize       length)
{
  static const char *const tokens[] = { "-Infinity", "Infinity", "NaN" };
  GString *out = g_string_sized_new (length + 16);
  gboolean in_string = FALSE;

  for (gsize i = 0; i < length; i++)
    {
      char ch = json[i];
      gboolean replaced = FALSE;

      if (in_string)
        {
          g_string_append_c (out, ch);
          if (ch == '\\' && i + 1 < length)
            g_string_append_c (out, json[++i]);
          else if (ch == '"')
            in_string = FALSE;
          continue;
        }
      if (ch == '"')
        in_string = TRUE;
      for (guint t = 0; t < G_N_ELEMENTS (tokens) && !replaced; t++)
        {
          gsize len = strlen (tokens[t]);
          if (length - i >= len && memcmp (json + i, tokens[t], len) == 0)
            {
              g_string_append_printf (out, "\"%s\"", tokens[t]);
              i += len - 1;
              replaced = TRUE;
            }
        }
      if (!replaced)
        g_string_append_c (out, ch);
    }
  return g_string_free (out, FALSE);
}

typedef struct {
  JsonObject *object;
  const char *name;
  GError **error;
} Reader;

static gboolean
fail (Reader     *r,
      DrapeError  code,
      const char *key,
      const char *format,
      ...) G_GNUC_PRINTF (4, 5);

static gboolean
fail (Reader     *r,
      DrapeError  code,
      const char *key,
      const char *format,
      ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (r->error, DRAPE_ERROR, code, "%s: \"%s\" %s", r->name, key, message);
  return FALSE;
}

/* The value of `key` when present and not null, else NULL. */
static JsonNode *
member (Reader     *r,
        const char *key)
{
  JsonNode *node = json_object_get_member (r->object, key);

  return node != NULL && !JSON_NODE_HOLDS_NULL (node) ? node : NULL;
}

static gboolean
read_number (Reader     *r,
             const char *key,
             double     *value)
{
  JsonNode *node = member (r, key);

  if (node == NULL)
    return TRUE;
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    {
      const char *s = json_node_get_string (node);
      if (g_str_equal (s, "-Infinity"))
        *value = -INFINITY;
      else if (g_str_equal (s, "Infinity"))
        *value = INFINITY;
      else if (g_str_equal (s, "NaN"))
        *value = NAN;
      else
        return fail (r, DRAPE_ERROR_FORMAT, key, "is the string \"%s\"; expected a number", s);
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_VALUE (node) || (json_node_get_value_type (node) != G_TYPE_INT64 &&
                                        json_node_get_value_type (node) != G_TYPE_DOUBLE))
    return fail (r, DRAPE_ERROR_FORMAT, key, "is not a number");
  *value = json_node_get_double (node);
  return TRUE;
}

static gboolean
read_uint (Reader     *r,
           const char *key,
           guint32     max,
           guint32    *value)
{
  JsonNode *node = member (r, key);
  gint64 v;

  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return fail (r, DRAPE_ERROR_FORMAT, key, "is not an integer");
  v = json_node_get_int (node);
  if (v < 0 || v > max)
    return fail (r, DRAPE_ERROR_UNSUPPORTED, key, "is %" G_GINT64_FORMAT "; expected 0 to %u",
                 v, max);
  *value = (guint32) v;
  return TRUE;
}

static gboolean
read_bool (Reader     *r,
           const char *key,
           gboolean   *value)
{
  JsonNode *node = member (r, key);

  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return fail (r, DRAPE_ERROR_FORMAT, key, "is not true or false");
  *value = json_node_get_boolean (node);
  return TRUE;
}

/* Reads a string key and maps it through `choices` (NULL-terminated);
 * *value is left alone when the key is absent or null. */
static gboolean
read_choice (Reader            *r,
             const char        *key,
             const char *const *choices,
             guint             *value)
{
  JsonNode *node = member (r, key);
  const char *s;
  g_autofree char *list = NULL;

  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return fail (r, DRAPE_ERROR_FORMAT, key, "is not a string");
  s = json_node_get_string (node);
  for (guint i = 0; choices[i] != NULL; i++)
    if (g_str_equal (s, choices[i]))
      {
        *value = i;
        return TRUE;
      }
  list = g_strjoinv (", ", (char **) choices);
  return fail (r, DRAPE_ERROR_UNSUPPORTED, key, "is \"%s\"; Drape supports %s", s, list);
}

/* A key that, when present, must have one value: Drape implements only
 * that setting of it. */
static gboolean
require_bool (Reader     *r,
              const char *key,
              gboolean    supported)
{
  gboolean value = supported;

  if (!read_bool (r, key, &value))
    return FALSE;
  if (value != supported)
    return fail (r, DRAPE_ERROR_UNSUPPORTED, key, "is %s; Drape supports only %s",
                 value ? "true" : "false", supported ? "true" : "false");
  return TRUE;
}

static gboolean
require_null (Reader     *r,
              const char *key)
{
  if (member (r, key) != NULL)
    return fail (r, DRAPE_ERROR_UNSUPPORTED, key, "is set; Drape supports only null");
  return TRUE;
}

static gboolean
require_string (Reader     *r,
                const char *key,
                const char *supported)
{
  const char *const choices[] = { supported, NULL };
  guint index = 0;

  return read_choice (r, key, choices, &index);
}

static gboolean
read_shared (Reader               *r,
             DrapeSchedulerConfig *config)
{
  static const char *const schedules[] = { "linear", "scaled_linear", NULL };
  guint schedule = config->beta_schedule;

  if (!read_uint (r, "num_train_timesteps", 100000, &config->num_train_timesteps) ||
      !read_number (r, "beta_start", &config->beta_start) ||
      !read_number (r, "beta_end", &config->beta_end) ||
      !read_choice (r, "beta_schedule", schedules, &schedule) ||
      !read_uint (r, "steps_offset", 100000, &config->steps_offset) ||
      !read_bool (r, "set_alpha_to_one", &config->set_alpha_to_one) ||
      !require_null (r, "trained_betas") ||
      !require_string (r, "prediction_type", "epsilon") ||
      !require_bool (r, "thresholding", FALSE) ||
      !require_bool (r, "rescale_betas_zero_snr", FALSE))
    return FALSE;
  /* DDIM clips x0 when asked; the other two ignore the key. */
  if (config->kind == DRAPE_SCHEDULER_DDIM && !require_bool (r, "clip_sample", FALSE))
    return FALSE;
  config->beta_schedule = schedule;
  return TRUE;
}

static gboolean
read_own (Reader               *r,
          DrapeSchedulerConfig *config)
{
  static const char *const spacings[] = { "leading", "linspace", "trailing", NULL };
  static const char *const final_sigmas[] = { "zero", "sigma_min", NULL };
  guint spacing = config->spacing;
  guint final_sigma = config->final_sigma_zero ? 0 : 1;

  if (!read_choice (r, "timestep_spacing", spacings, &spacing))
    return FALSE;
  config->spacing = spacing;
  if (config->kind == DRAPE_SCHEDULER_DDIM)
    return TRUE;

  if (!read_choice (r, "final_sigmas_type", final_sigmas, &final_sigma) ||
      !require_bool (r, "use_karras_sigmas", FALSE))
    return FALSE;
  config->final_sigma_zero = final_sigma == 0;

  if (config->kind == DRAPE_SCHEDULER_DPMPP_2M)
    {
      double lambda_min = -INFINITY;

      if (!require_string (r, "algorithm_type", "dpmsolver++") ||
          !require_string (r, "solver_type", "midpoint") ||
          !read_uint (r, "solver_order", 2, &config->solver_order) ||
          !read_bool (r, "lower_order_final", &config->lower_order_final) ||
          !read_bool (r, "euler_at_final", &config->euler_at_final) ||
          !require_bool (r, "use_lu_lambdas", FALSE) ||
          !require_null (r, "variance_type") ||
          !read_number (r, "lambda_min_clipped", &lambda_min))
        return FALSE;
      if (config->solver_order < 1)
        return fail (r, DRAPE_ERROR_UNSUPPORTED, "solver_order", "is 0; expected 1 or 2");
      if (lambda_min != -INFINITY)
        return fail (r, DRAPE_ERROR_UNSUPPORTED, "lambda_min_clipped",
                     "is %g; Drape supports only -Infinity", lambda_min);
      return TRUE;
    }

  return require_string (r, "interpolation_type", "linear") &&
         require_string (r, "timestep_type", "discrete") &&
         require_null (r, "sigma_min") &&
         require_null (r, "sigma_max");
}

gboolean
drape_scheduler_config_load_data (DrapeSchedulerConfig *config,
                                  const char           *json,
                                  gssize                length,
                                  const char           *name,
                                  GError              **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) local_error = NULL;
  g_autofree char *text = NULL;
  DrapeSchedulerConfig loaded = *config;
  JsonNode *root;
  Reader r = { .name = name, .error = error };
  const char *file_class;

  text = quote_python_constants (json, length < 0 ? strlen (json) : (gsize) length);
  if (!json_parser_load_from_data (parser, text, -1, &local_error))
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT, "%s: not valid JSON: %s",
                   name, local_error->message);
      return FALSE;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT, "%s: not a JSON object", name);
      return FALSE;
    }
  r.object = json_node_get_object (root);
  file_class = json_object_get_string_member_with_default (r.object, "_class_name", NULL);

  if (!read_shared (&r, &loaded))
    return FALSE;
  if ((file_class == NULL || g_str_equal (file_class, class_name (config->kind))) &&
      !read_own (&r, &loaded))
    return FALSE;
  *config = loaded;
  return TRUE;
}

gboolean
drape_scheduler_config_load (DrapeSchedulerConfig *config,
                             const char           *path,
                             GError              **error)
{
  g_autofree char *contents = NULL;
  gsize length;
  g_autoptr(GError) local_error = NULL;

  if (!g_file_get_contents (path, &contents, &length, &local_error))
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_IO, "Cannot read scheduler config: %s",
                   local_error->message);
      return FALSE;
    }
  return drape_scheduler_config_load_data (config, contents, length, path, error);
}

/* ---- the schedule -------------------------------------------------------- */

/* The betas as the PyTorch (1.13, CPU) that made diffusers' reference
 * values computes torch.linspace (...,  dtype=float32) [** 2]: float32
 * endpoints, the values and their squares in double, filled from both
 * ends towards the middle, rounded to float32 once.  This reproduces its
 * alphas_cumprod bit for bit; rounding the linspace to float32 before
 * squaring does not. */
static void
compute_betas (double   start,
               double   end,
               guint    n,
               gboolean squared,
               float   *betas)
{
  double s = (float) start, e = (float) end;
  double step = (e - s) / (n - 1);

  for (guint i = 0; i < n; i++)
    {
      double v = i < n / 2 ? s + step * i : e - step * (n - 1 - i);
      betas[i] = (float) (squared ? v * v : v);
    }
}

static void
compute_alphas_cumprod (const DrapeSchedulerConfig *config,
                        float                      *alphas_cumprod)
{
  guint n = config->num_train_timesteps;
  g_autofree float *betas = g_new (float, n);
  double acc = 1.0;

  if (config->beta_schedule == DRAPE_BETA_SCALED_LINEAR)
    compute_betas (sqrt (config->beta_start), sqrt (config->beta_end), n, TRUE, betas);
  else
    compute_betas (config->beta_start, config->beta_end, n, FALSE, betas);

  /* torch.cumprod on the CPU accumulates float32 in double and rounds
   * each partial product to float32. */
  for (guint i = 0; i < n; i++)
    {
      acc *= (double) (1.0f - betas[i]);
      alphas_cumprod[i] = (float) acc;
    }
}

/* np.interp (x, arange (n), fp) in double, as NumPy computes it. */
static double
numpy_interp (double       x,
              const float *fp,
              guint        n)
{
  guint j;

  if (x <= 0)
    return fp[0];
  if (x >= n - 1)
    return fp[n - 1];
  j = (guint) floor (x);
  if ((double) j == x)
    return fp[j];
  return ((double) fp[j + 1] - fp[j]) * (x - j) + fp[j];
}

/* The timesteps of set_timesteps (n) for each kind and spacing, in
 * descending order, as diffusers 0.29.2 builds them with NumPy. */
static void
compute_timesteps (const DrapeSchedulerConfig *config,
                   guint                       n,
                   double                     *t)
{
  double train = config->num_train_timesteps;
  gboolean integer = config->kind != DRAPE_SCHEDULER_EULER;

  switch (config->spacing)
    {
    case DRAPE_SPACING_LEADING:
      if (config->kind == DRAPE_SCHEDULER_DPMPP_2M)
        {
          /* DPM divides by n + 1 and drops the final 0. */
          guint64 ratio = config->num_train_timesteps / (n + 1);
          for (guint i = 0; i < n; i++)
            t[i] = (double) ((n - i) * ratio) + config->steps_offset;
        }
      else
        {
          guint64 ratio = config->num_train_timesteps / n;
          for (guint i = 0; i < n; i++)
            t[i] = (double) ((n - 1 - i) * ratio) + config->steps_offset;
        }
      break;

    case DRAPE_SPACING_LINSPACE:
      if (config->kind == DRAPE_SCHEDULER_DPMPP_2M)
        {
          /* np.linspace (0, train - 1, n + 1).round ()[::-1][:-1] */
          double step = (train - 1) / n;
          for (guint i = 0; i < n; i++)
            t[i] = i == 0 ? train - 1 : nearbyint ((double) (n - i) * step);
        }
      else
        {
          /* np.linspace (0, train - 1, n)[::-1]: DDIM rounds to integers,
           * Euler keeps float32. */
          double step = n > 1 ? (train - 1) / (n - 1) : 0;
          for (guint i = 0; i < n; i++)
            {
              double v = i == 0 && n > 1 ? train - 1 : (double) (n - 1 - i) * step;
              t[i] = integer ? nearbyint (v) : (double) (float) v;
            }
        }
      break;

    case DRAPE_SPACING_TRAILING:
    default:
      {
        /* np.arange (train, 0, -train / n).round () - 1 */
        double ratio = train / n;
        for (guint i = 0; i < n; i++)
          t[i] = nearbyint (train + (double) i * -ratio) - 1;
      }
      break;
    }
}

/* diffusers' sigma of training timestep i in float32:
 * ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5. */
static float
train_sigma (const float *alphas_cumprod,
             guint        i)
{
  return sqrtf ((1.0f - alphas_cumprod[i]) / alphas_cumprod[i]);
}

static void
ddim_steps (DrapeScheduler *s,
            const double   *t)
{
  guint ratio = s->config.num_train_timesteps / s->n_steps;
  double final_alpha = s->config.set_alpha_to_one ? 1.0 : s->alphas_cumprod[0];

  for (guint i = 0; i < s->n_steps; i++)
    {
      DrapeSchedulerStep *st = &s->steps[i];
      gint64 prev = (gint64) t[i] - ratio;
      double a = s->alphas_cumprod[(guint) t[i]];
      double a_prev = prev >= 0 ? s->alphas_cumprod[prev] : final_alpha;
      double variance = (1 - a_prev) / (1 - a) * (1 - a / a_prev);
      double std = s->eta * sqrt (variance);

      st->timestep = t[i];
      st->input_scale = 1;
      st->x0_sample = 1 / sqrt (a);
      st->x0_eps = -sqrt (1 - a) / sqrt (a);
      st->c_eps = sqrt (MAX (1 - a_prev - std * std, 0));
      st->c_x0 = sqrt (a_prev);
      st->c_noise = std;
      s->needs_noise |= std != 0;
    }
}

/* DPM-Solver++ in terms of sigma = sqrt ((1 - a) / a): alpha_t =
 * 1 / sqrt (sigma^2 + 1), sigma_t = sigma alpha_t, lambda = -log sigma, so
 * exp (-h) = sigma_next / sigma and r0 = log (sigma_prev / sigma) /
 * log (sigma / sigma_next).  A final sigma of 0 makes the step return x0. */
static void
dpm_steps (DrapeScheduler *s,
           const double   *t)
{
  guint n = s->n_steps;

  for (guint i = 0; i < n; i++)
    {
      DrapeSchedulerStep *st = &s->steps[i];
      double sigma = s->sigmas[i], sigma_next = s->sigmas[i + 1];
      double alpha_s = 1 / sqrt (sigma * sigma + 1);
      double alpha_t = 1 / sqrt (sigma_next * sigma_next + 1);
      double b = alpha_t * (sigma_next / sigma - 1); /* alpha_t (exp (-h) - 1) */
      gboolean last = i == n - 1;
      gboolean lower_final = last && (s->config.euler_at_final ||
                                      (s->config.lower_order_final && n < 15) ||
                                      s->config.final_sigma_zero);

      st->timestep = t[i];
      st->input_scale = 1;
      st->x0_sample = 1 / alpha_s;
      st->x0_eps = -sigma;
      st->c_sample = sigma_next * alpha_t / (sigma * alpha_s);
      s->second_order[i] = s->config.solver_order == 2 && i > 0 && !lower_final;
      if (!s->second_order[i])
        st->c_x0 = -b;
      else
        {
          double sigma_prev = s->sigmas[i - 1];
          double r0 = log (sigma_prev / sigma) / log (sigma / sigma_next);
          /* x_t = c sample - b D0 - b / 2 D1, D1 = (x0 - x0_prev) / r0 */
          st->c_x0 = -b - 0.5 * b / r0;
          st->c_prev_x0 = 0.5 * b / r0;
        }
    }
}

static void
euler_steps (DrapeScheduler *s,
             const double   *t)
{
  for (guint i = 0; i < s->n_steps; i++)
    {
      DrapeSchedulerStep *st = &s->steps[i];
      double sigma = s->sigmas[i];

      st->timestep = t[i];
      st->input_scale = 1 / sqrt (sigma * sigma + 1);
      st->x0_sample = 1;
      st->x0_eps = -sigma;
      st->c_sample = 1;
      st->c_eps = (double) s->sigmas[i + 1] - sigma;
    }
}

DrapeScheduler *
drape_scheduler_new (const DrapeSchedulerConfig *config,
                     guint                       n_steps,
                     double                      eta,
                     GError                    **error)
{
  g_autoptr(DrapeScheduler) s = NULL;
  g_autofree double *t = NULL;
  guint train = config->num_train_timesteps;

  if (config->kind > DRAPE_SCHEDULER_EULER)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                   "Unknown scheduler kind %d", (int) config->kind);
      return NULL;
    }
  if (train < 2 || !(config->beta_start > 0) || !(config->beta_end < 1) ||
      !(config->beta_start <= config->beta_end))
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                   "Scheduler config: betas %g to %g over %u training steps do not make a "
                   "noise schedule", config->beta_start, config->beta_end, train);
      return NULL;
    }
  if (n_steps < 1 || n_steps > train)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                   "%u inference steps; expected 1 to %u", n_steps, train);
      return NULL;
    }
  if (!(eta >= 0 && eta <= 1))
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                   "DDIM eta %g: expected 0 to 1", eta);
      return NULL;
    }
  if (config->kind == DRAPE_SCHEDULER_DPMPP_2M &&
      (config->solver_order < 1 || config->solver_order > 2))
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED,
                   "DPM-Solver++ of order %u; Drape supports orders 1 and 2",
                   config->solver_order);
      return NULL;
    }

  s = g_new0 (DrapeScheduler, 1);
  s->config = *config;
  s->n_steps = n_steps;
  /* diffusers passes eta only to schedulers that take it. */
  s->eta = config->kind == DRAPE_SCHEDULER_DDIM ? eta : 0;
  s->alphas_cumprod = g_new (float, train);
  s->steps = g_new0 (DrapeSchedulerStep, n_steps);
  s->second_order = g_new0 (gboolean, n_steps);
  compute_alphas_cumprod (config, s->alphas_cumprod);

  t = g_new (double, n_steps);
  compute_timesteps (config, n_steps, t);
  for (guint i = 0; i < n_steps; i++)
    if (t[i] < 0 || t[i] > train - 1 || (i > 0 && t[i] >= t[i - 1]))
      {
        g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                     "%u steps with this timestep spacing give timestep %g at step %u, "
                     "out of order or range: use fewer steps", n_steps, t[i], i);
        return NULL;
      }

  if (config->kind == DRAPE_SCHEDULER_DDIM)
    {
      s->init_noise_sigma = 1;
      ddim_steps (s, t);
      return g_steal_pointer (&s);
    }

  {
    g_autofree float *train_sigmas = g_new (float, train);
    float sigma_max = 0;

    for (guint i = 0; i < train; i++)
      train_sigmas[i] = train_sigma (s->alphas_cumprod, i);
    s->sigmas = g_new (float, n_steps + 1);
    for (guint i = 0; i < n_steps; i++)
      {
        s->sigmas[i] = (float) numpy_interp (t[i], train_sigmas, train);
        sigma_max = MAX (sigma_max, s->sigmas[i]);
      }
    s->sigmas[n_steps] = config->final_sigma_zero ? 0.0f : train_sigmas[0];

    if (config->kind == DRAPE_SCHEDULER_DPMPP_2M)
      {
        s->init_noise_sigma = 1;
        dpm_steps (s, t);
      }
    else
      {
        /* Euler: sigma_max, except for 'leading' spacing. */
        s->init_noise_sigma = config->spacing == DRAPE_SPACING_LEADING
                              ? sqrtf (sigma_max * sigma_max + 1.0f) : sigma_max;
        euler_steps (s, t);
      }
  }
  return g_steal_pointer (&s);
}

void
drape_scheduler_free (DrapeScheduler *scheduler)
{
  if (scheduler == NULL)
    return;
  g_free (scheduler->alphas_cumprod);
  g_free (scheduler->sigmas);
  g_free (scheduler->steps);
  g_free (scheduler->second_order);
  g_free (scheduler);
}

const DrapeSchedulerConfig *
drape_scheduler_get_config (DrapeScheduler *scheduler)
{
  return &scheduler->config;
}

guint
drape_scheduler_get_n_steps (DrapeScheduler *scheduler)
{
  return scheduler->n_steps;
}

const DrapeSchedulerStep *
drape_scheduler_get_step (DrapeScheduler *scheduler,
                          guint           index)
{
  g_return_val_if_fail (index < scheduler->n_steps, NULL);
  return &scheduler->steps[index];
}

double
drape_scheduler_get_init_noise_sigma (DrapeScheduler *scheduler)
{
  return scheduler->init_noise_sigma;
}

const float *
drape_scheduler_get_alphas_cumprod (DrapeScheduler *scheduler)
{
  return scheduler->alphas_cumprod;
}

const float *
drape_scheduler_get_sigmas (DrapeScheduler *scheduler)
{
  return scheduler->sigmas;
}

gboolean
drape_scheduler_needs_noise (DrapeScheduler *scheduler)
{
  return scheduler->needs_noise;
}

void
drape_scheduler_get_coeffs (DrapeScheduler     *scheduler,
                            guint               index,
                            float               guidance,
                            DrapeDenoiseCoeffs *coeffs)
{
  const DrapeSchedulerStep *st;

  g_return_if_fail (index < scheduler->n_steps);
  st = &scheduler->steps[index];
  *coeffs = (DrapeDenoiseCoeffs) {
    .guidance = guidance,
    .x0_sample = (float) st->x0_sample,
    .x0_eps = (float) st->x0_eps,
    .c_sample = (float) st->c_sample,
    .c_eps = (float) st->c_eps,
    .c_x0 = (float) st->c_x0,
    .c_prev_x0 = (float) st->c_prev_x0,
    .c_noise = (float) st->c_noise,
  };
}

/* ---- float32 references -------------------------------------------------- */

void
drape_scheduler_scale_model_input_reference (DrapeScheduler *scheduler,
                                             guint           index,
                                             const float    *sample,
                                             float          *out,
                                             gsize           n)
{
  float sigma, div;

  g_return_if_fail (index < scheduler->n_steps);
  if (scheduler->config.kind != DRAPE_SCHEDULER_EULER)
    {
      memmove (out, sample, n * sizeof (float));
      return;
    }
  sigma = scheduler->sigmas[index];
  div = sqrtf (sigma * sigma + 1.0f);
  for (gsize k = 0; k < n; k++)
    out[k] = sample[k] / div;
}

static void
ddim_reference (DrapeScheduler *s,
                guint           index,
                const float    *model_output,
                const float    *sample,
                const float    *noise,
                float          *x0,
                float          *prev_sample,
                gsize           n)
{
  gint64 t = (gint64) s->steps[index].timestep;
  gint64 prev = t - s->config.num_train_timesteps / s->n_steps;
  float a = s->alphas_cumprod[t];
  float a_prev = prev >= 0 ? s->alphas_cumprod[prev]
                           : s->config.set_alpha_to_one ? 1.0f : s->alphas_cumprod[0];
  float beta = 1.0f - a;
  float beta_prev = 1.0f - a_prev;
  float variance = (beta_prev / beta) * (1.0f - a / a_prev);
  float std = (float) s->eta * sqrtf (variance);
  float sqrt_beta = sqrtf (beta), sqrt_a = sqrtf (a), sqrt_a_prev = sqrtf (a_prev);
  float dir_scale = sqrtf (1.0f - a_prev - std * std);

  for (gsize k = 0; k < n; k++)
    {
      float eps = model_output[k];
      float x = (sample[k] - sqrt_beta * eps) / sqrt_a;
      float p = sqrt_a_prev * x + dir_scale * eps;
      if (s->eta > 0)
        p = p + std * noise[k];
      x0[k] = x;
      prev_sample[k] = p;
    }
}

typedef struct {
  float alpha, sigma, lambda;
} DpmPoint;

/* _sigma_to_alpha_sigma_t and lambda = log alpha_t - log sigma_t. */
static DpmPoint
dpm_point (float sigma)
{
  DpmPoint p;

  p.alpha = 1.0f / sqrtf (sigma * sigma + 1.0f);
  p.sigma = sigma * p.alpha;
  p.lambda = logf (p.alpha) - logf (p.sigma);
  return p;
}

static void
dpm_reference (DrapeScheduler *s,
               guint           index,
               const float    *model_output,
               const float    *sample,
               float          *x0,
               float          *prev_sample,
               gsize           n)
{
  DpmPoint cur = dpm_point (s->sigmas[index]);
  DpmPoint next = dpm_point (s->sigmas[index + 1]);
  float h = next.lambda - cur.lambda;
  float ratio = next.sigma / cur.sigma;
  float b = next.alpha * (expf (-h) - 1.0f);

  if (!s->second_order[index])
    {
      for (gsize k = 0; k < n; k++)
        {
          float x = (sample[k] - cur.sigma * model_output[k]) / cur.alpha;
          prev_sample[k] = ratio * sample[k] - b * x;
          x0[k] = x;
        }
      return;
    }

  {
    DpmPoint prev = dpm_point (s->sigmas[index - 1]);
    float h0 = cur.lambda - prev.lambda;
    float r0 = h0 / h;
    float inv_r0 = 1.0f / r0;
    float half_b = 0.5f * b;

    for (gsize k = 0; k < n; k++)
      {
        float x = (sample[k] - cur.sigma * model_output[k]) / cur.alpha;
        float d1 = inv_r0 * (x - x0[k]);
        prev_sample[k] = ratio * sample[k] - b * x - half_b * d1;
        x0[k] = x;
      }
  }
}

static void
euler_reference (DrapeScheduler *s,
                 guint           index,
                 const float    *model_output,
                 const float    *sample,
                 float          *x0,
                 float          *prev_sample,
                 gsize           n)
{
  float sigma = s->sigmas[index];
  float dt = s->sigmas[index + 1] - sigma;

  for (gsize k = 0; k < n; k++)
    {
      float x = sample[k] - sigma * model_output[k];
      float derivative = (sample[k] - x) / sigma;
      prev_sample[k] = sample[k] + derivative * dt;
      x0[k] = x;
    }
}

void
drape_scheduler_step_reference (DrapeScheduler *scheduler,
                                guint           index,
                                const float    *model_output,
                                const float    *sample,
                                const float    *noise,
                                float          *x0,
                                float          *prev_sample,
                                gsize           n)
{
  g_return_if_fail (index < scheduler->n_steps);
  g_return_if_fail (noise != NULL || scheduler->steps[index].c_noise == 0);

  switch (scheduler->config.kind)
    {
    case DRAPE_SCHEDULER_DDIM:
      ddim_reference (scheduler, index, model_output, sample, noise, x0, prev_sample, n);
      break;
    case DRAPE_SCHEDULER_DPMPP_2M:
      dpm_reference (scheduler, index, model_output, sample, x0, prev_sample, n);
      break;
    case DRAPE_SCHEDULER_EULER:
    default:
      euler_reference (scheduler, index, model_output, sample, x0, prev_sample, n);
      break;
    }
}
