/* weights.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "error.h"
#include "half.h"
#include "ops.h"
#include "weights.h"

struct _DrapeWeights
{
  DrapeDevice *device;
  DrapeDType dtype;
  GPtrArray *files;      /* DrapeSafetensors, last added first in lookups */
  GHashTable *aliases;   /* name -> (file index + 1, file name) */
  GHashTable *tensors;   /* key -> DrapeTensor */
  GError *error;
  guint64 bytes;
  gboolean random;
  guint64 seed;
  /* Random weights without values (drape_weights_new_unfilled). */
  gboolean unfilled;
  /* drape_weights_set_random_file_dtype's rules: name part -> dtype. */
  GHashTable *random_files;
};

typedef struct {
  guint file;
  char *name;
} Alias;

static void
alias_free (gpointer data)
{
  Alias *a = data;

  g_free (a->name);
  g_free (a);
}

DrapeWeights *
drape_weights_new (DrapeDevice *device,
                   DrapeDType   dtype)
{
  DrapeWeights *weights = g_new0 (DrapeWeights, 1);

  weights->device = device;
  weights->dtype = dtype;
  weights->files = g_ptr_array_new_with_free_func ((GDestroyNotify) drape_safetensors_free);
  weights->aliases = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, alias_free);
  weights->tensors = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                            (GDestroyNotify) drape_tensor_free);
  weights->random_files = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  return weights;
}

DrapeWeights *
drape_weights_new_random (DrapeDevice *device,
                          DrapeDType   dtype,
                          guint64      seed)
{
  DrapeWeights *weights = drape_weights_new (device, dtype);

  weights->random = TRUE;
  weights->seed = seed;
  return weights;
}

DrapeWeights *
drape_weights_new_unfilled (DrapeDevice *device,
                            DrapeDType   dtype)
{
  DrapeWeights *weights = drape_weights_new_random (device, dtype, 0);

  weights->unfilled = TRUE;
  return weights;
}

void
drape_weights_set_random_file_dtype (DrapeWeights *weights,
                                     const char   *name_part,
                                     DrapeStDType  dtype)
{
  g_return_if_fail (weights->random);
  g_hash_table_replace (weights->random_files, g_strdup (name_part), GINT_TO_POINTER (dtype));
}

void
drape_weights_free (DrapeWeights *weights)
{
  if (weights == NULL)
    return;
  g_hash_table_unref (weights->tensors);
  g_hash_table_unref (weights->aliases);
  g_ptr_array_unref (weights->files);
  g_hash_table_unref (weights->random_files);
  g_clear_error (&weights->error);
  g_free (weights);
}

gboolean
drape_weights_add_file (DrapeWeights *weights,
                        const char   *path,
                        GError      **error)
{
  DrapeSafetensors *st = drape_safetensors_open (path, error);

  if (st == NULL)
    return FALSE;
  g_ptr_array_add (weights->files, st);
  return TRUE;
}

void
drape_weights_alias (DrapeWeights *weights,
                     const char   *name,
                     const char   *file_name)
{
  Alias *a = g_new0 (Alias, 1);

  g_return_if_fail (weights->files->len > 0);
  a->file = weights->files->len - 1;
  a->name = g_strdup (file_name);
  g_hash_table_replace (weights->aliases, g_strdup (name), a);
}

static const DrapeStTensor *
lookup (DrapeWeights      *weights,
        const char        *name,
        DrapeSafetensors **file)
{
  Alias *a = g_hash_table_lookup (weights->aliases, name);

  if (a != NULL)
    {
      *file = g_ptr_array_index (weights->files, a->file);
      return drape_safetensors_lookup (*file, a->name);
    }
  for (guint i = weights->files->len; i > 0; i--)
    {
      const DrapeStTensor *t;
      *file = g_ptr_array_index (weights->files, i - 1);
      t = drape_safetensors_lookup (*file, name);
      if (t != NULL)
        return t;
    }
  *file = NULL;
  return NULL;
}

const DrapeStTensor *
drape_weights_lookup (DrapeWeights *weights,
                      const char   *name)
{
  DrapeSafetensors *file;

  return lookup (weights, name, &file);
}

void
drape_weights_fail (DrapeWeights *weights,
                    const char   *format,
                    ...)
{
  va_list args;

  if (weights->error != NULL)
    return;
  va_start (args, format);
  weights->error = g_error_new_valist (DRAPE_ERROR, DRAPE_ERROR_FORMAT, format, args);
  va_end (args);
}

gboolean
drape_weights_check (DrapeWeights *weights,
                     GError      **error)
{
  if (weights->error == NULL)
    return TRUE;
  g_propagate_error (error, g_error_copy (weights->error));
  return FALSE;
}

guint64
drape_weights_get_bytes (DrapeWeights *weights)
{
  return weights->bytes;
}

/* Source of a streamed upload: either a safetensors tensor or host f32,
 * in PyTorch order [cout, cin, kh, kw], written out as [cout, kh, kw, cin]. */
#define MAX_CONCAT 4

typedef struct {
  /* Sources stacked along cout, each of cout_each filters. */
  const DrapeStTensor *st[MAX_CONCAT];
  guint n_st;
  guint32 cout_each;
  const float *data;
  /* Neither: random values; state of a SplitMix64 generator, and the
   * range and centre to draw in. */
  guint64 state;
  float spread, centre;
  guint32 cout, cin, kh, kw;
  DrapeDType dtype;
  /* The sources' f16 values go into an f16 tensor as they are, with no
   * conversion either way (which would cost more than the rest of the
   * load): row and src then hold halves. */
  gboolean halves;
  float *row;     /* one output filter, f32, engine order */
  float *src;     /* one input filter, f32, PyTorch order */
} Upload;

/* Whether every source holds f16 values for an f16 tensor. */
static gboolean
copies_halves (const Upload *u)
{
  for (guint i = 0; i < u->n_st; i++)
    if (u->st[i]->dtype != DRAPE_ST_F16)
      return FALSE;
  return u->n_st > 0 && u->dtype == DRAPE_DTYPE_F16;
}

/* Filter co's values from PyTorch's order [cin, kh, kw] in u->src into
 * the engine's [kh, kw, cin] in u->row. */
static void
to_engine_order (Upload *u)
{
  guint32 taps = u->kh * u->kw;

  if (taps == 1)
    memcpy (u->row, u->src, (gsize) u->cin * (u->halves ? 2 : 4));
  else if (u->halves)
    {
      guint16 *row = (guint16 *) u->row;
      const guint16 *src = (const guint16 *) u->src;

      for (guint32 ci = 0; ci < u->cin; ci++)
        for (guint32 t = 0; t < taps; t++)
          row[(guint64) t * u->cin + ci] = src[(guint64) ci * taps + t];
    }
  else
    for (guint32 ci = 0; ci < u->cin; ci++)
      for (guint32 t = 0; t < taps; t++)
        u->row[(guint64) t * u->cin + ci] = u->src[(guint64) ci * taps + t];
}

/* Element i (in PyTorch order) of a random tensor: SplitMix64's output
 * after the element's own count of steps, so that any filter can be
 * drawn on any thread. */
static float
random_value (const Upload *u,
              guint64       i)
{
  guint64 z = u->state + (i + 1) * 0x9e3779b97f4a7c15ull;

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return u->centre + u->spread * (float) ((double) (z >> 11) / (double) (1ull << 53) * 2.0 - 1.0);
}

static void
read_filter (Upload  *u,
             guint64  co)
{
  guint64 per = (guint64) u->cin * u->kh * u->kw;

  if (u->halves)
    drape_st_tensor_read_f16 (u->st[co / u->cout_each], (co % u->cout_each) * per, per,
                              (guint16 *) u->src);
  else if (u->n_st > 0)
    drape_st_tensor_read_f32 (u->st[co / u->cout_each], (co % u->cout_each) * per, per, u->src);
  else if (u->data != NULL)
    memcpy (u->src, u->data + co * per, per * sizeof (float));
  else
    for (guint64 i = 0; i < per; i++)
      u->src[i] = random_value (u, co * per + i);
  to_engine_order (u);
}

/* Elements [begin, end) of the tensor into dst, which holds them from
 * element `first` on. */
static void
fill_range (Upload  *u,
            guint8  *dst,
            guint64  first,
            guint64  begin,
            guint64  end)
{
  guint64 per = (guint64) u->cin * u->kh * u->kw;

  /* Filter by filter: the first and last may be cut by the range. */
  for (guint64 e = begin; e < end;)
    {
      guint64 from = e % per, n = MIN (per - from, end - e);
      const float *row = u->row + from;

      read_filter (u, e / per);
      if (u->halves)
        memcpy ((guint16 *) dst + (e - first), (const guint16 *) u->row + from, n * 2);
      else if (u->dtype == DRAPE_DTYPE_F16)
        {
          guint16 *out = (guint16 *) dst + (e - first);
          for (guint64 i = 0; i < n; i++)
            out[i] = drape_float_to_half (row[i]);
        }
      else
        memcpy ((float *) dst + (e - first), row, n * sizeof (float));
      e += n;
    }
}

typedef struct {
  Upload u;  /* with scratch filters of its own */
  guint8 *dst;
  guint64 first, begin, end;
} FillPart;

static gpointer
fill_part (gpointer data)
{
  FillPart *part = data;
  guint64 per = (guint64) part->u.cin * part->u.kh * part->u.kw;

  part->u.row = g_new (float, per);
  part->u.src = g_new (float, per);
  fill_range (&part->u, part->dst, part->first, part->begin, part->end);
  g_free (part->u.row);
  g_free (part->u.src);
  return NULL;
}

/* Values below which a staging chunk is filled on the calling thread. */
#define FILL_PART_MIN (1u << 20)
#define FILL_THREADS 16

/* Converting (and drawing) a model's values dominates its load, so large
 * chunks are split across threads: every source is read-only (mapped
 * files, caller's data, counter-based random values). */
static void
fill_upload (guint8  *dst,
             guint64  offset,
             guint64  n_bytes,
             gpointer user_data)
{
  Upload *u = user_data;
  gsize es = drape_dtype_size (u->dtype);
  guint64 first = offset / es, count = n_bytes / es;
  guint n_parts = (guint) MIN (MIN (count / FILL_PART_MIN, g_get_num_processors ()), FILL_THREADS);
  FillPart parts[FILL_THREADS];
  GThread *threads[FILL_THREADS];

  if (n_parts <= 1)
    {
      fill_range (u, dst, first, first, first + count);
      return;
    }
  for (guint i = 0; i < n_parts; i++)
    {
      parts[i] = (FillPart) {
        .u = *u, .dst = dst, .first = first,
        .begin = first + count * i / n_parts, .end = first + count * (i + 1) / n_parts,
      };
      threads[i] = i + 1 < n_parts ? g_thread_new ("drape-weights", fill_part, &parts[i]) : NULL;
    }
  fill_part (&parts[n_parts - 1]);
  for (guint i = 0; i + 1 < n_parts; i++)
    g_thread_join (threads[i]);
}

/* The dtype a tensor is kept in, from values of `file_dtype`: the
 * compute dtype, but for kernels (never vectors, which the epilogues
 * read as activations) from f16 values beside f32 activations, which
 * stay f16: f32 would hold the same values in twice the memory, and the
 * convolutions widen f16 weights as they read them. */
static DrapeDType
kept_dtype (DrapeWeights *weights,
            DrapeStDType  file_dtype,
            gboolean      as_vector)
{
  if (!as_vector && weights->dtype == DRAPE_DTYPE_F32 && file_dtype == DRAPE_ST_F16 &&
      drape_device_get_caps (weights->device)->has_f16)
    return DRAPE_DTYPE_F16;
  return weights->dtype;
}

static const DrapeTensor *
upload_with (DrapeWeights *weights,
             const char   *key,
             Upload       *source,
             DrapeDType    dtype,
             guint32       cout,
             guint32       cin,
             guint32       kh,
             guint32       kw,
             gboolean      as_vector)
{
  g_autoptr(GError) error = NULL;
  guint64 per = (guint64) cin * kh * kw;
  Upload u = *source;
  DrapeTensor *tensor;
  gboolean ok = TRUE;

  u.cout = cout;
  u.cin = cin;
  u.kh = kh;
  u.kw = kw;
  u.dtype = dtype;
  u.halves = copies_halves (&u);

  tensor = as_vector
    ? drape_tensor_new (weights->device, dtype, 1, 1, 1, cout, &error)
    : drape_tensor_new (weights->device, dtype, cout, kh, kw, cin, &error);
  if (tensor == NULL)
    {
      drape_weights_fail (weights, "%s: %s", key, error->message);
      if (error->code != DRAPE_ERROR_FORMAT)
        weights->error->code = error->code;
      return NULL;
    }
  /* Staging chunks need not end on a filter: fill_upload reloads the
   * filter a chunk starts in. */
  if (!weights->unfilled)
    {
      u.row = g_new (float, per);
      u.src = g_new (float, per);
      ok = drape_buffer_fill (tensor->buffer, 0, drape_tensor_bytes (tensor), fill_upload, &u, &error);
      g_free (u.row);
      g_free (u.src);
    }
  if (!ok)
    {
      drape_tensor_free (tensor);
      drape_weights_fail (weights, "%s: %s", key, error->message);
      weights->error->code = error->code;
      return NULL;
    }
  weights->bytes += drape_tensor_bytes (tensor);
  g_hash_table_replace (weights->tensors, g_strdup (key), tensor);
  return tensor;
}

/* Values computed on the host (in f32, such as products of weights),
 * kept in the compute dtype. */
static const DrapeTensor *
upload_host (DrapeWeights *weights,
             const char   *key,
             const float  *data,
             guint32       cout,
             guint32       cin,
             guint32       kh,
             guint32       kw,
             gboolean      as_vector)
{
  Upload u = { .cout_each = cout, .data = data };

  return upload_with (weights, key, &u, weights->dtype, cout, cin, kh, kw, as_vector);
}

/* The dtype of the file random tensor `name` stands in for: the longest
 * name part drape_weights_set_random_file_dtype() gave that it contains
 * says, else F32. */
static DrapeStDType
random_file_dtype (DrapeWeights *weights,
                   const char   *name)
{
  DrapeStDType file_dtype = DRAPE_ST_F32;
  gsize matched = 0;
  GHashTableIter iter;
  gpointer part, dtype;

  g_hash_table_iter_init (&iter, weights->random_files);
  while (g_hash_table_iter_next (&iter, &part, &dtype))
    if (strstr (name, part) != NULL && strlen (part) >= matched)
      {
        matched = strlen (part);
        file_dtype = GPOINTER_TO_INT (dtype);
      }
  return file_dtype;
}

/* Random tensor `name`: uniform values with the variance of N(0,
 * 1/fan_in) for matrices (fan_in > 0), like PyTorch's default init, so
 * activations keep their scale through a deep network; for vectors (0),
 * norm scales and other statistics near 1, biases near 0. */
static void
random_source (DrapeWeights *weights,
               const char   *name,
               guint64       fan_in,
               Upload       *u)
{
  u->state = weights->seed ^ g_str_hash (name) * 0x2545f4914f6cdd1dull;
  if (fan_in > 0)
    u->spread = sqrtf (3.0f / fan_in);
  else if (g_str_has_suffix (name, "bias"))
    u->spread = 0.05f;
  else
    {
      u->centre = 1.0f;
      u->spread = 0.1f;
    }
}

static const DrapeTensor *
upload_random (DrapeWeights *weights,
               const char   *name,
               guint32       cout,
               guint32       cin,
               guint32       kh,
               guint32       kw,
               gboolean      as_vector,
               gboolean      on_host)
{
  g_autofree char *key = g_strdup (name);
  /* Values the weights compute on the host stay in the compute dtype
   * (upload_host); a file's are kept as its dtype says. */
  DrapeStDType file_dtype = on_host ? DRAPE_ST_F32 : random_file_dtype (weights, name);
  Upload u = { 0 };

  random_source (weights, name, as_vector ? 0 : (guint64) cin * kh * kw, &u);
  return upload_with (weights, key, &u, kept_dtype (weights, file_dtype, as_vector), cout, cin, kh, kw,
                      as_vector);
}

static const DrapeStTensor *
find_checked (DrapeWeights  *weights,
              const char    *name,
              guint          n_dims,
              const guint64 *shape)
{
  DrapeSafetensors *file;
  const DrapeStTensor *st = lookup (weights, name, &file);

  if (st == NULL)
    {
      drape_weights_fail (weights, "%s: tensor '%s' is missing",
                          weights->files->len ? drape_safetensors_get_path (g_ptr_array_index (weights->files, 0))
                                              : "(no weights file)", name);
      return NULL;
    }
  if (!drape_st_dtype_is_float (st->dtype))
    {
      drape_weights_fail (weights, "%s: tensor '%s' is %s; expected F32, F16 or BF16",
                          drape_safetensors_get_path (file), name, drape_st_dtype_name (st->dtype));
      return NULL;
    }
  if (st->n_dims != n_dims || memcmp (st->shape, shape, n_dims * sizeof (guint64)) != 0)
    {
      g_autofree char *want = drape_st_shape_to_string (n_dims, shape);
      g_autofree char *have = drape_st_shape_to_string (st->n_dims, st->shape);
      drape_weights_fail (weights, "%s: tensor '%s' has shape %s; expected %s",
                          drape_safetensors_get_path (file), st->name, have, want);
      return NULL;
    }
  return st;
}

/* Whether the tensor under `key` needs no file: *out is then what the
 * caller returns (NULL after an earlier failure), the tensor already
 * uploaded, or random values of the given shape, uploaded now (as values
 * the weights compute on the host where `on_host`). */
static gboolean
cached_or_random (DrapeWeights       *weights,
                  const char         *key,
                  guint32             cout,
                  guint32             cin,
                  guint32             kh,
                  guint32             kw,
                  gboolean            as_vector,
                  gboolean            on_host,
                  const DrapeTensor **out)
{
  *out = NULL;
  if (weights->error != NULL)
    return TRUE;
  *out = g_hash_table_lookup (weights->tensors, key);
  if (*out == NULL && weights->random)
    {
      *out = upload_random (weights, key, cout, cin, kh, kw, as_vector, on_host);
      return TRUE;
    }
  return *out != NULL;
}

/* Loads names[0..n) stacked along the output dimension under `key`. */
static const DrapeTensor *
load (DrapeWeights      *weights,
      const char        *key,
      const char *const *names,
      guint              n_names,
      guint              n_dims,
      const guint64     *shape,
      guint32            cout_each,
      guint32            cin,
      guint32            kh,
      guint32            kw,
      gboolean           as_vector)
{
  const DrapeTensor *ready;
  Upload u = { .n_st = n_names, .cout_each = cout_each };
  DrapeStDType file_dtype = DRAPE_ST_F16;

  g_return_val_if_fail (n_names >= 1 && n_names <= MAX_CONCAT, NULL);
  if (cached_or_random (weights, key, cout_each * n_names, cin, kh, kw, as_vector, FALSE, &ready))
    return ready;

  for (guint i = 0; i < n_names; i++)
    {
      u.st[i] = find_checked (weights, names[i], n_dims, shape);
      if (u.st[i] == NULL)
        return NULL;
      /* Stacked tensors are f16 values where each is. */
      if (u.st[i]->dtype != DRAPE_ST_F16)
        file_dtype = u.st[i]->dtype;
    }
  return upload_with (weights, key, &u, kept_dtype (weights, file_dtype, as_vector),
                      cout_each * n_names, cin, kh, kw, as_vector);
}

static guint
linear_dims (DrapeWeights *weights,
             const char   *name)
{
  const DrapeStTensor *st = weights->random ? NULL : drape_weights_lookup (weights, name);

  /* 1x1 convolutions stand in for linear layers in some checkpoints. */
  return st != NULL && st->n_dims == 4 ? 4 : 2;
}

const DrapeTensor *
drape_weights_conv (DrapeWeights *weights,
                    const char   *name,
                    guint32       cout,
                    guint32       cin,
                    guint32       kh,
                    guint32       kw)
{
  guint64 shape[] = { cout, cin, kh, kw };

  return load (weights, name, &name, 1, 4, shape, cout, cin, kh, kw, FALSE);
}

/* The 3x3 kernel `name` [cout, cin, 3, 3] as an upsampled convolution's
 * phases [4 cout, cin, 2, 2], on the host; NULL (the weights failed)
 * where it cannot be read. */
static float *
read_upsample2x_phases (DrapeWeights *weights,
                        const char   *name,
                        guint32       cout,
                        guint32       cin)
{
  guint64 shape[] = { cout, cin, 3, 3 };
  g_autofree float *w = drape_weights_read (weights, name, 4, shape);
  float *phases;

  if (w == NULL)
    return NULL;
  phases = g_new (float, 16 * (gsize) cout * cin);
  drape_conv_upsample2x_weights (w, cout, cin, phases);
  return phases;
}

const DrapeTensor *
drape_weights_conv_upsample2x (DrapeWeights *weights,
                               const char   *name,
                               guint32       cout,
                               guint32       cin)
{
  g_autofree char *key = g_strconcat (name, "#upsample2x", NULL);
  const DrapeTensor *ready;
  g_autofree float *phases = NULL;

  if (cached_or_random (weights, key, 4 * cout, cin, 2, 2, FALSE, TRUE, &ready))
    return ready;
  phases = read_upsample2x_phases (weights, name, cout, cin);
  if (phases == NULL)
    return NULL;
  return upload_host (weights, key, phases, 4 * cout, cin, 2, 2, FALSE);
}

const DrapeTensor *
drape_weights_conv_upsample2x_then (DrapeWeights       *weights,
                                    const char         *up,
                                    const char         *then,
                                    guint32             c,
                                    guint32             cout,
                                    const DrapeTensor **bias)
{
  g_autofree char *key = g_strdup_printf ("%s#upsample2x#%s", up, then);
  g_autofree char *bias_key = g_strconcat (key, "#bias", NULL);
  g_autofree char *up_w = g_strconcat (up, ".weight", NULL);
  g_autofree char *up_b = g_strconcat (up, ".bias", NULL);
  g_autofree char *then_w = g_strconcat (then, ".weight", NULL);
  g_autofree char *then_b = g_strconcat (then, ".bias", NULL);
  guint64 then_shape[] = { cout, c, 1, 1 }, c_shape[] = { c }, cout_shape[] = { cout };
  g_autofree float *phases = NULL, *bu = NULL, *wt = NULL, *bt = NULL;
  g_autofree float *out = NULL, *b = NULL;
  const DrapeTensor *ready;

  if (cached_or_random (weights, key, 4 * cout, c, 2, 2, FALSE, TRUE, &ready) &&
      cached_or_random (weights, bias_key, cout, 1, 1, 1, TRUE, TRUE, bias))
    return ready;
  phases = read_upsample2x_phases (weights, up_w, c, c);
  bu = drape_weights_read (weights, up_b, 1, c_shape);
  wt = drape_weights_read (weights, then_w, 4, then_shape);
  bt = drape_weights_read (weights, then_b, 1, cout_shape);
  if (phases == NULL || bu == NULL || wt == NULL || bt == NULL)
    return *bias = NULL;
  /* [4 cout, c, 2, 2]: each phase's kernel for output o is then's row o
   * times that phase's kernels for every intermediate channel m. */
  out = g_new (float, 16 * (gsize) cout * c);
  b = g_new (float, cout);
  for (guint64 o = 0; o < cout; o++)
    {
      double sum = bt[o];

      for (guint64 m = 0; m < c; m++)
        sum += (double) wt[o * c + m] * bu[m];
      b[o] = (float) sum;
      for (guint64 phase = 0; phase < 4; phase++)
        for (guint64 i = 0; i < 4 * (guint64) c; i++)
          {
            double acc = 0;

            for (guint64 m = 0; m < c; m++)
              acc += (double) wt[o * c + m] * phases[(phase * c + m) * 4 * c + i];
            out[(phase * cout + o) * 4 * c + i] = (float) acc;
          }
    }
  *bias = upload_host (weights, bias_key, b, cout, 1, 1, 1, TRUE);
  return upload_host (weights, key, out, 4 * cout, c, 2, 2, FALSE);
}

const DrapeTensor *
drape_weights_linear (DrapeWeights *weights,
                      const char   *name,
                      guint32       out,
                      guint32       in)
{
  guint64 shape[] = { out, in, 1, 1 };

  return load (weights, name, &name, 1, linear_dims (weights, name), shape, out, in, 1, 1, FALSE);
}

const DrapeTensor *
drape_weights_vector (DrapeWeights *weights,
                      const char   *name,
                      guint32       c)
{
  guint64 shape[] = { c };

  return load (weights, name, &name, 1, 1, shape, c, 1, 1, 1, TRUE);
}

const DrapeTensor *
drape_weights_linear_concat (DrapeWeights      *weights,
                             const char        *key,
                             const char *const *names,
                             guint              n_names,
                             guint32            out_each,
                             guint32            in)
{
  guint64 shape[] = { out_each, in, 1, 1 };

  return load (weights, key, names, n_names, linear_dims (weights, names[0]), shape,
               out_each, in, 1, 1, FALSE);
}

const DrapeTensor *
drape_weights_vector_concat (DrapeWeights      *weights,
                             const char        *key,
                             const char *const *names,
                             guint              n_names,
                             guint32            c_each)
{
  guint64 shape[] = { c_each };

  return load (weights, key, names, n_names, 1, shape, c_each, 1, 1, 1, TRUE);
}

const DrapeTensor *
drape_weights_conv_from_data (DrapeWeights *weights,
                              const char   *key,
                              const float  *data,
                              guint32       cout,
                              guint32       cin,
                              guint32       kh,
                              guint32       kw,
                              gboolean      as_vector)
{
  if (weights->error != NULL)
    return NULL;
  return upload_host (weights, key, data, cout, cin, kh, kw, as_vector);
}

/* drape_weights_read() of random weights: the values a lookup of that
 * shape would upload (random_source), in PyTorch's order. */
static float *
read_random (DrapeWeights  *weights,
             const char    *name,
             guint          n_dims,
             const guint64 *shape)
{
  guint64 n = 1, fan_in = 1;
  Upload u = { 0 };
  float *values;

  for (guint i = 0; i < n_dims; i++)
    {
      n *= shape[i];
      if (i > 0)
        fan_in *= shape[i];
    }
  random_source (weights, name, n_dims > 1 ? fan_in : 0, &u);
  values = g_new (float, n);
  for (guint64 i = 0; i < n; i++)
    values[i] = random_value (&u, i);
  return values;
}

float *
drape_weights_read (DrapeWeights  *weights,
                    const char    *name,
                    guint          n_dims,
                    const guint64 *shape)
{
  DrapeSafetensors *file;
  const DrapeStTensor *st;
  g_autoptr(GError) error = NULL;
  float *values;

  if (weights->error != NULL)
    return NULL;
  if (weights->random)
    return read_random (weights, name, n_dims, shape);
  st = lookup (weights, name, &file);
  if (st == NULL)
    {
      drape_weights_fail (weights, "tensor '%s' is missing", name);
      return NULL;
    }
  values = drape_safetensors_read_f32 (file, st->name, n_dims, shape, &error);
  if (values == NULL)
    drape_weights_fail (weights, "%s", error->message);
  return values;
}
