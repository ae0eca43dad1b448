/* graph.c: node list, arena planning, descriptor sets, command recording
 *
 * The arena is planned once the graph is recorded, from every
 * activation's lifetime (the allocation and release events that model
 * code makes as it records ops): each at the lowest offset clear of the
 * activations already placed whose lifetimes overlap its own, largest
 * first (greedy by size, as TFLite's arena planner does) or by size times
 * lifetime, each order also with its largest blocks in their best order,
 * whichever needs least.  Placing as ops come (first fit) leaves holes
 * between mismatched sizes; planning the whole graph gets within a few
 * percent of its largest set of live activations, and the permutations
 * undo the greedy orders' worst picks (a large block placed low that a
 * long-lived one then has to go above: the VAE decoder's plan was 494 MiB
 * for 403 live).
 * An op that writes its output over memory it is done with makes the
 * output a guest of that activation (drape_graph_tensor_within): the two
 * are planned as one block, grown to reach every guest and to live as
 * long as any of them.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <stdarg.h>
#include <string.h>

#include "graph-private.h"
#include "memory-private.h"
#include "tuning.h"

/* The largest blocks, whose every order plan_arena tries (8! = 40,320
 * placements of 8 blocks: milliseconds). */
#define PERMUTED_BLOCKS 8
/* A submission is cut after this much arithmetic so that no single job
 * runs long enough for a desktop driver's watchdog (about 2 s) even on a
 * slow integrated GPU. */
#define SUBMIT_FLOPS (200e9)
#define SUBMIT_NODES 1024

typedef struct {
  DrapeKernel *kernel;
  DrapeBinding bindings[DRAPE_MAX_BINDINGS];
  guint8 push[DRAPE_PUSH_SIZE];
  guint32 push_size;
  guint32 groups[3];
  const char *label; /* interned */
  const char *detail; /* interned, or NULL: drape_graph_describe_last() */
  double flops;
  /* Interned, or NULL: the problem whose chosen way this dispatch runs
   * (drape_graph_choose), and whether that way is its usual one. */
  const char *problem;
  const char *way;
  gboolean usual;
} DrapeNode;

struct _DrapeGraph
{
  DrapeDevice *device;
  char *name;
  GArray *nodes;        /* DrapeNode */
  GPtrArray *tensors;   /* arena tensors and placeholders, owned */
  guint32 events;       /* activations allocated and released so far */
  guint32 planned_at;   /* `events` when the arena was last planned */
  guint64 arena_size;   /* what that plan needs */
  GError *error;        /* the first error, sticky */
  gboolean compiled;
  gboolean profiling;
  /* drape_graph_set_background_builds, and the kernels with stand-ins
   * recorded so (a set), whose refusal calls for recording again. */
  gboolean background_builds;
  GHashTable *optional_kernels;
  /* drape_graph_set_choice: variable name -> value, both owned. */
  GHashTable *choices;
  guint n_barriers;     /* recorded between and after dispatches */
  /* Tuning: the trial (-1: none) and the one problem that takes its way
   * (NULL: all), the most ways a problem had, and the choice the next
   * dispatches belong to (drape_graph_choose). */
  gint trial;
  const char *trial_problem;
  guint n_trials;
  guint n_tuned;        /* choices the device's tuning made */
  const char *problem;
  const char *way;
  gboolean usual;

  DrapeBuffer *arena;
  gboolean arena_borrowed;
  VkDescriptorPool pool;
  VkDescriptorSet *sets; /* one per node, from the pool */
  GArray *views;        /* VkBufferView of texel bindings */
  GArray *command_buffers; /* VkCommandBuffer */
  VkFence fence;        /* signalled when a submission is done */
  gboolean pending;     /* submitted, not yet waited for */
  VkQueryPool queries;
  GArray *times_ms;     /* double per node, summed over runs */
  guint runs;           /* profiled since the last reset */
};

DrapeGraph *
drape_graph_new (DrapeDevice *device,
                 const char  *name)
{
  DrapeGraph *graph = g_new0 (DrapeGraph, 1);

  graph->device = device;
  graph->name = g_strdup (name);
  graph->nodes = g_array_new (FALSE, TRUE, sizeof (DrapeNode));
  graph->tensors = g_ptr_array_new_with_free_func (g_free);
  graph->command_buffers = g_array_new (FALSE, FALSE, sizeof (VkCommandBuffer));
  graph->views = g_array_new (FALSE, FALSE, sizeof (VkBufferView));
  graph->planned_at = G_MAXUINT32;
  graph->trial = -1;
  graph->optional_kernels = g_hash_table_new (NULL, NULL);
  graph->choices = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return graph;
}

void
drape_graph_set_choice (DrapeGraph *graph,
                        const char *name,
                        const char *value)
{
  g_return_if_fail (graph->nodes->len == 0);
  if (value != NULL)
    g_hash_table_replace (graph->choices, g_strdup (name), g_strdup (value));
  else
    g_hash_table_remove (graph->choices, name);
}

const char *
drape_graph_get_choice (DrapeGraph *graph,
                        const char *name)
{
  const char *value = g_hash_table_lookup (graph->choices, name);

  return value != NULL ? value : g_getenv (name);
}

void
drape_graph_set_background_builds (DrapeGraph *graph,
                                   gboolean    background)
{
  g_return_if_fail (graph->nodes->len == 0);
  graph->background_builds = background;
}

static void
free_command_buffers (DrapeGraph *graph)
{
  if (graph->command_buffers->len == 0)
    return;
  g_mutex_lock (&graph->device->lock);
  vkFreeCommandBuffers (graph->device->device, graph->device->command_pool, graph->command_buffers->len,
                        (VkCommandBuffer *) (void *) graph->command_buffers->data);
  g_mutex_unlock (&graph->device->lock);
  g_array_set_size (graph->command_buffers, 0);
}

void
drape_graph_free (DrapeGraph *graph)
{
  VkDevice vk;

  if (graph == NULL)
    return;
  vk = graph->device->device;
  /* Its buffers and descriptors may still be in use: wait.  An error
   * (the device lost) leaves nothing running either. */
  drape_graph_wait (graph, NULL);
  if (graph->fence != VK_NULL_HANDLE)
    vkDestroyFence (vk, graph->fence, NULL);
  free_command_buffers (graph);
  g_array_unref (graph->command_buffers);
  for (guint i = 0; i < graph->views->len; i++)
    vkDestroyBufferView (vk, g_array_index (graph->views, VkBufferView, i), NULL);
  g_array_unref (graph->views);
  if (graph->pool != VK_NULL_HANDLE)
    vkDestroyDescriptorPool (vk, graph->pool, NULL);
  g_free (graph->sets);
  if (graph->queries != VK_NULL_HANDLE)
    vkDestroyQueryPool (vk, graph->queries, NULL);
  g_clear_pointer (&graph->times_ms, g_array_unref);
  if (!graph->arena_borrowed)
    drape_buffer_free (graph->arena);
  g_ptr_array_unref (graph->tensors);
  g_array_unref (graph->nodes);
  g_hash_table_unref (graph->optional_kernels);
  g_hash_table_unref (graph->choices);
  g_clear_error (&graph->error);
  g_free (graph->name);
  g_free (graph);
}

DrapeDevice *
drape_graph_get_device (DrapeGraph *graph)
{
  return graph->device;
}

void
drape_graph_fail (DrapeGraph *graph,
                  DrapeError  code,
                  const char *format,
                  ...)
{
  va_list args;

  if (graph->error != NULL)
    return;
  va_start (args, format);
  graph->error = g_error_new_valist (DRAPE_ERROR, code, format, args);
  va_end (args);
}

gboolean
drape_graph_ok (DrapeGraph *graph)
{
  return graph->error == NULL;
}

gboolean
drape_graph_check (DrapeGraph *graph,
                   GError    **error)
{
  if (graph->error == NULL)
    return TRUE;
  g_propagate_error (error, g_error_copy (graph->error));
  g_prefix_error (error, "%s: ", graph->name);
  return FALSE;
}

static DrapeTensor *
tensor_alloc (DrapeGraph *graph,
              DrapeDType  dtype,
              guint32     n,
              guint32     h,
              guint32     w,
              guint32     c)
{
  DrapeTensor *tensor = g_new0 (DrapeTensor, 1);

  tensor->device = graph->device;
  tensor->graph = graph;
  tensor->dtype = dtype;
  tensor->n = n;
  tensor->h = h;
  tensor->w = w;
  tensor->c = c;
  g_ptr_array_add (graph->tensors, tensor);
  return tensor;
}

DrapeTensor *
drape_graph_placeholder (DrapeGraph *graph,
                         DrapeDType  dtype,
                         guint32     n,
                         guint32     h,
                         guint32     w,
                         guint32     c)
{
  DrapeTensor *tensor = tensor_alloc (graph, dtype, MAX (n, 1), MAX (h, 1), MAX (w, 1), MAX (c, 1));

  tensor->released = TRUE;
  return tensor;
}

DrapeTensor *
drape_graph_tensor (DrapeGraph *graph,
                    DrapeDType  dtype,
                    guint32     n,
                    guint32     h,
                    guint32     w,
                    guint32     c)
{
  DrapeTensor *tensor;

  if (graph->compiled)
    drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                      "Ops cannot be added to a compiled graph");
  if (n == 0 || h == 0 || w == 0 || c == 0)
    drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                      "Tensor shape [%u %u %u %u] has a zero dimension", n, h, w, c);
  if (dtype == DRAPE_DTYPE_F16 && !graph->device->caps.has_f16)
    drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED,
                      "%s has no 16-bit float storage; use f32", graph->device->info.name);
  if (graph->error != NULL)
    return drape_graph_placeholder (graph, dtype, n, h, w, c);

  tensor = tensor_alloc (graph, dtype, n, h, w, c);
  tensor->born = graph->events++;
  tensor->died = G_MAXUINT32;
  return tensor;
}

DrapeTensor *
drape_graph_tensor_within (DrapeGraph  *graph,
                           DrapeTensor *home,
                           gint64       offset,
                           DrapeDType   dtype,
                           guint32      n,
                           guint32      h,
                           guint32      w,
                           guint32      c)
{
  DrapeTensor *tensor = drape_graph_tensor (graph, dtype, n, h, w, c);

  g_return_val_if_fail (offset % DRAPE_GRAPH_ALIGNMENT == 0, tensor);
  if (tensor->released || home->graph != graph || home->born >= home->died)
    return tensor;
  /* One home per block of the arena: a guest's guest lives in the first. */
  tensor->home = home->home ? home->home : home;
  tensor->home_offset = home->home_offset + offset;
  return tensor;
}

void
drape_tensor_release (DrapeTensor *tensor)
{
  if (tensor == NULL || tensor->graph == NULL || tensor->released)
    return;
  tensor->released = TRUE;
  tensor->died = tensor->graph->events++;
}

gboolean
drape_graph_check_tensor (DrapeGraph        *graph,
                          const char        *op,
                          const char        *what,
                          const DrapeTensor *tensor)
{
  if (graph->error != NULL)
    return FALSE;
  if (tensor == NULL)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT, "%s: %s is missing", op, what);
      return FALSE;
    }
  if (tensor->device != graph->device)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "%s: %s belongs to another device", op, what);
      return FALSE;
    }
  if (tensor->graph != NULL && tensor->graph != graph)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "%s: %s is an activation of another graph", op, what);
      return FALSE;
    }
  if (tensor->released)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "%s: %s was already released", op, what);
      return FALSE;
    }
  return TRUE;
}

gboolean
drape_tensor_storage (const DrapeTensor *tensor,
                      DrapeBuffer      **buffer,
                      guint64           *offset)
{
  if (tensor->buffer != NULL)
    {
      *buffer = tensor->buffer;
      *offset = 0;
      return TRUE;
    }
  if (tensor->graph == NULL || tensor->graph->arena == NULL || tensor->released)
    return FALSE;
  *buffer = tensor->graph->arena;
  *offset = tensor->arena_offset;
  return TRUE;
}

guint64
drape_graph_binding_limit (DrapeGraph *graph)
{
  return graph->device->binding_limit;
}

guint32
drape_bind (DrapeBinding      *binding,
            const DrapeTensor *tensor,
            guint64            offset,
            guint64            bytes)
{
  guint64 align = tensor->device->caps.storage_offset_alignment;
  guint64 aligned = offset - offset % align;

  binding->tensor = tensor;
  binding->offset = aligned;
  binding->range = bytes + (offset - aligned);
  binding->texel = FALSE;
  return (guint32) ((offset - aligned) / drape_dtype_size (tensor->dtype));
}

static guint64
texel_bytes (DrapeDType dtype)
{
  return 4 * drape_dtype_size (dtype);
}

static guint64
texel_alignment (DrapeDevice *device)
{
  const DrapeDeviceCaps *caps = &device->caps;

  /* All three are powers of two. */
  return MAX (MAX (caps->storage_offset_alignment, caps->texel_offset_alignment), 16);
}

guint64
drape_graph_texel_limit (DrapeGraph *graph,
                         DrapeDType  dtype)
{
  return MIN (graph->device->binding_limit,
              graph->device->caps.max_texel_elements * texel_bytes (dtype));
}

guint64
drape_graph_texel_room (DrapeGraph *graph,
                        DrapeDType  dtype)
{
  guint64 limit = drape_graph_texel_limit (graph, dtype);
  guint64 align = texel_alignment (graph->device);

  return limit > align ? limit - align : 0;
}

gboolean
drape_graph_cpu_texels (DrapeGraph *graph)
{
  return drape_device_cpu_texels (graph->device);
}

guint64
drape_texel_view_range (guint64  range,
                        guint64  room,
                        guint64  limit,
                        gboolean cpu_texels)
{
  /* Lavapipe's level bits are bits 8 to 15 of the size. */
  const guint64 step = 256;

  G_STATIC_ASSERT (DRAPE_TEXEL_SLACK >= 256);
  if (!cpu_texels || ((range / step) & 0xff) != 0 || room < step || range + step > limit)
    return range;
  return range + step;
}

gboolean
drape_graph_fits_texels (DrapeGraph        *graph,
                         const DrapeTensor *tensor)
{
  return drape_tensor_bytes (tensor) <= drape_graph_texel_room (graph, tensor->dtype);
}

guint32
drape_bind_texel (DrapeBinding      *binding,
                  const DrapeTensor *tensor,
                  guint64            offset,
                  guint64            bytes)
{
  guint64 align = texel_alignment (tensor->device);
  guint64 aligned;

  g_return_val_if_fail (offset % texel_bytes (tensor->dtype) == 0, 0);
  g_return_val_if_fail (bytes % texel_bytes (tensor->dtype) == 0, 0);
  aligned = offset - offset % align;
  binding->tensor = tensor;
  binding->offset = aligned;
  binding->range = bytes + (offset - aligned);
  binding->texel = TRUE;
  return (guint32) ((offset - aligned) / drape_dtype_size (tensor->dtype));
}

void
drape_bind_all (DrapeBinding      *binding,
                const DrapeTensor *tensor)
{
  drape_bind (binding, tensor, 0, drape_tensor_bytes (tensor));
}

/* The kernel, or NULL; a kernel that is `optional` (a slower one can
 * stand in) fails the graph only when the device or its memory did,
 * not when the driver refused it. */
static DrapeKernel *
graph_kernel (DrapeGraph    *graph,
              const char    *family,
              const char    *variant,
              guint          n_bindings,
              guint32        texel_mask,
              const guint32 *spec,
              guint          n_spec,
              gboolean       optional)
{
  g_autoptr(GError) error = NULL;
  DrapeKernel *kernel;

  if (graph->error != NULL)
    return NULL;
  kernel = drape_kernel_get (graph->device, family, variant, n_bindings, texel_mask,
                             spec, n_spec, graph->background_builds, &error);
  if (kernel != NULL && optional && graph->background_builds)
    g_hash_table_add (graph->optional_kernels, kernel);
  if (kernel == NULL &&
      !(optional && (g_error_matches (error, DRAPE_ERROR, DRAPE_ERROR_VULKAN) ||
                     g_error_matches (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED))))
    drape_graph_fail (graph, error->code, "%s", error->message);
  return kernel;
}

DrapeKernel *
drape_graph_kernel_texel (DrapeGraph    *graph,
                          const char    *family,
                          const char    *variant,
                          guint          n_bindings,
                          guint32        texel_mask,
                          const guint32 *spec,
                          guint          n_spec)
{
  return graph_kernel (graph, family, variant, n_bindings, texel_mask, spec, n_spec, FALSE);
}

DrapeKernel *
drape_graph_kernel_optional (DrapeGraph    *graph,
                             const char    *family,
                             const char    *variant,
                             guint          n_bindings,
                             guint32        texel_mask,
                             const guint32 *spec,
                             guint          n_spec)
{
  return graph_kernel (graph, family, variant, n_bindings, texel_mask, spec, n_spec, TRUE);
}

DrapeKernel *
drape_graph_kernel_variant (DrapeGraph    *graph,
                            const char    *family,
                            const char    *variant,
                            guint          n_bindings,
                            const guint32 *spec,
                            guint          n_spec)
{
  return drape_graph_kernel_texel (graph, family, variant, n_bindings, 0, spec, n_spec);
}

DrapeKernel *
drape_graph_kernel (DrapeGraph    *graph,
                    const char    *family,
                    DrapeDType     dtype,
                    guint          n_bindings,
                    const guint32 *spec,
                    guint          n_spec)
{
  return drape_graph_kernel_variant (graph, family, drape_dtype_name (dtype),
                                     n_bindings, spec, n_spec);
}

void
drape_graph_dispatch (DrapeGraph         *graph,
                      DrapeKernel        *kernel,
                      const DrapeBinding *bindings,
                      const void         *push,
                      gsize               push_size,
                      guint32             groups_x,
                      guint32             groups_y,
                      guint32             groups_z,
                      const char         *label,
                      double              flops)
{
  const DrapeDeviceCaps *caps = &graph->device->caps;
  DrapeNode node = { 0 };

  if (graph->error != NULL || kernel == NULL)
    return;
  if (graph->compiled)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "Ops cannot be added to a compiled graph");
      return;
    }
  g_return_if_fail (push_size <= DRAPE_PUSH_SIZE);

  if (groups_x == 0 || groups_y == 0 || groups_z == 0)
    return;
  if (groups_x > caps->max_workgroup_count[0] || groups_y > caps->max_workgroup_count[1] ||
      groups_z > caps->max_workgroup_count[2])
    {
      drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED,
                        "%s: a grid of %u x %u x %u workgroups exceeds the device's %u x %u x %u",
                        label, groups_x, groups_y, groups_z, caps->max_workgroup_count[0],
                        caps->max_workgroup_count[1], caps->max_workgroup_count[2]);
      return;
    }
  for (guint i = 0; i < kernel->n_bindings; i++)
    {
      const DrapeBinding *b = &bindings[i];
      guint64 size = b->tensor->buffer ? drape_buffer_get_size (b->tensor->buffer)
                                       : drape_tensor_bytes (b->tensor);
      if (!drape_graph_check_tensor (graph, label, "an operand", b->tensor))
        return;
      if (!b->texel != !((kernel->texel_mask >> i) & 1))
        {
          drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                            "%s: binding %u is %sa texel buffer but the kernel reads it as %s",
                            label, i, b->texel ? "" : "not ",
                            b->texel ? "a storage buffer" : "a texel buffer");
          return;
        }
      if (b->texel && b->range > drape_graph_texel_limit (graph, b->tensor->dtype))
        {
          drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED,
                            "%s: texel binding %u spans %" G_GUINT64_FORMAT " bytes, more than the "
                            "device's %" G_GUINT64_FORMAT, label, i, b->range,
                            drape_graph_texel_limit (graph, b->tensor->dtype));
          return;
        }
      if (b->range > graph->device->binding_limit)
        {
          drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED,
                            "%s: binding %u spans %" G_GUINT64_FORMAT " bytes, more than the "
                            "device's %" G_GUINT64_FORMAT, label, i, b->range,
                            graph->device->binding_limit);
          return;
        }
      if (b->offset > size || b->range > size - b->offset || b->range == 0)
        {
          drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                            "%s: binding %u [%" G_GUINT64_FORMAT ", +%" G_GUINT64_FORMAT
                            ") lies outside its tensor of %" G_GUINT64_FORMAT " bytes",
                            label, i, b->offset, b->range, size);
          return;
        }
      node.bindings[i] = *b;
    }
  node.kernel = kernel;
  memcpy (node.push, push, push_size);
  node.push_size = (push_size + 3) & ~3u;
  node.groups[0] = groups_x;
  node.groups[1] = groups_y;
  node.groups[2] = groups_z;
  node.label = g_intern_string (label);
  node.flops = flops;
  node.problem = graph->problem;
  node.way = graph->way;
  node.usual = graph->usual;
  g_array_append_val (graph->nodes, node);
}

void
drape_graph_describe_last (DrapeGraph *graph,
                           const char *format,
                           ...)
{
  g_autofree char *detail = NULL;
  va_list args;

  if (graph->nodes->len == 0)
    return;
  va_start (args, format);
  detail = g_strdup_vprintf (format, args);
  va_end (args);
  g_array_index (graph->nodes, DrapeNode, graph->nodes->len - 1).detail = g_intern_string (detail);
}

void
drape_graph_dispatch_flat (DrapeGraph         *graph,
                           DrapeKernel        *kernel,
                           const DrapeBinding *bindings,
                           const void         *push,
                           gsize               push_size,
                           guint64             n_groups,
                           guint32             groups_z,
                           const char         *label,
                           double              flops)
{
  guint32 max_x = graph->device->caps.max_workgroup_count[0];
  guint64 x = MIN (n_groups, (guint64) max_x);
  guint64 y = x ? (n_groups + x - 1) / x : 0;

  if (y > graph->device->caps.max_workgroup_count[1])
    {
      drape_graph_fail (graph, DRAPE_ERROR_UNSUPPORTED,
                        "%s: %" G_GUINT64_FORMAT " workgroups are more than the device can launch",
                        label, n_groups);
      return;
    }
  drape_graph_dispatch (graph, kernel, bindings, push, push_size, x, y, groups_z, label, flops);
}

void
drape_graph_set_trial (DrapeGraph *graph,
                       gint        trial)
{
  graph->trial = trial;
}

void
drape_graph_set_trial_problem (DrapeGraph *graph,
                               const char *problem)
{
  graph->trial_problem = g_intern_string (problem);
}

guint
drape_graph_get_n_trials (DrapeGraph *graph)
{
  return graph->n_trials;
}

guint
drape_graph_get_n_tuned (DrapeGraph *graph)
{
  return graph->n_tuned;
}

guint
drape_graph_choose (DrapeGraph        *graph,
                    const char        *problem,
                    const char *const *ways,
                    guint              n_ways,
                    guint              usual)
{
  const char *tuned = drape_tuning_lookup (drape_device_get_tuning (graph->device), problem);
  guint chosen = usual;

  g_return_val_if_fail (usual < n_ways, 0);
  if (graph->trial >= 0)
    chosen = (guint) graph->trial < n_ways &&
                 (graph->trial_problem == NULL || strcmp (graph->trial_problem, problem) == 0)
               ? (guint) graph->trial
               : usual;
  else if (tuned != NULL)
    for (guint i = 0; i < n_ways; i++)
      if (strcmp (ways[i], tuned) == 0)
        {
          chosen = i;
          graph->n_tuned++;
        }
  graph->n_trials = MAX (graph->n_trials, n_ways);
  graph->problem = g_intern_string (problem);
  graph->way = g_intern_string (ways[chosen]);
  graph->usual = chosen == usual;
  return chosen;
}

void
drape_graph_end_choice (DrapeGraph *graph)
{
  graph->problem = NULL;
  graph->way = NULL;
}

guint
drape_graph_get_n_nodes (DrapeGraph *graph)
{
  return graph->nodes->len;
}

guint
drape_graph_get_n_barriers (DrapeGraph *graph)
{
  return graph->n_barriers;
}

static guint64
aligned (guint64 bytes)
{
  return (bytes + DRAPE_GRAPH_ALIGNMENT - 1) & ~(guint64) (DRAPE_GRAPH_ALIGNMENT - 1);
}

/* What the arena plans: an activation and the ones that live in its
 * storage, as one range of bytes with one lifetime. */
typedef struct {
  DrapeTensor *home;
  guint64 below;   /* bytes the guests reach before the home's start */
  guint64 bytes;   /* the whole range, from the lowest guest's start */
  guint32 born, died;
  guint64 offset;
} Block;

static gint
larger_first (gconstpointer a,
              gconstpointer b)
{
  const Block *x = a, *y = b;

  if (x->bytes != y->bytes)
    return x->bytes > y->bytes ? -1 : 1;
  return x->born < y->born ? -1 : x->born > y->born;
}

/* Size times lifetime: the blocks that crowd the most of the plan. */
static gint
larger_area_first (gconstpointer a,
                   gconstpointer b)
{
  const Block *x = a, *y = b;
  double ax = (double) x->bytes * (MIN (x->died, x->born + (1u << 20)) - x->born);
  double ay = (double) y->bytes * (MIN (y->died, y->born + (1u << 20)) - y->born);

  if (ax != ay)
    return ax > ay ? -1 : 1;
  return x->born < y->born ? -1 : x->born > y->born;
}

static gint
lower_offset_first (gconstpointer a,
                    gconstpointer b)
{
  const Block *x = *(Block * const *) a;
  const Block *y = *(Block * const *) b;

  return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* The graph's blocks: every activation without a home, grown to hold its
 * guests and to live as long as they do. */
static GArray *
arena_blocks (DrapeGraph *graph)
{
  g_autoptr(GHashTable) index = g_hash_table_new (NULL, NULL);
  GArray *blocks = g_array_new (FALSE, FALSE, sizeof (Block));
  g_autofree gint64 *lo = NULL;
  g_autofree gint64 *hi = NULL;

  for (guint i = 0; i < graph->tensors->len; i++)
    {
      DrapeTensor *t = g_ptr_array_index (graph->tensors, i);
      Block b = { .home = t, .bytes = drape_tensor_bytes (t), .born = t->born, .died = t->died };

      /* Placeholders stand in after an error and hold nothing. */
      if (t->home != NULL || t->born >= t->died)
        continue;
      g_hash_table_insert (index, t, GUINT_TO_POINTER (blocks->len + 1));
      g_array_append_val (blocks, b);
    }
  lo = g_new0 (gint64, blocks->len);
  hi = g_new0 (gint64, blocks->len);
  for (guint i = 0; i < blocks->len; i++)
    hi[i] = g_array_index (blocks, Block, i).bytes;
  for (guint i = 0; i < graph->tensors->len; i++)
    {
      DrapeTensor *t = g_ptr_array_index (graph->tensors, i);
      guint at = GPOINTER_TO_UINT (g_hash_table_lookup (index, t->home));
      Block *b;

      if (t->home == NULL || t->born >= t->died || at == 0)
        continue;
      b = &g_array_index (blocks, Block, at - 1);
      lo[at - 1] = MIN (lo[at - 1], t->home_offset);
      hi[at - 1] = MAX (hi[at - 1], t->home_offset + (gint64) drape_tensor_bytes (t));
      b->born = MIN (b->born, t->born);
      b->died = MAX (b->died, t->died);
    }
  for (guint i = 0; i < blocks->len; i++)
    {
      Block *b = &g_array_index (blocks, Block, i);

      b->below = (guint64) -lo[i];
      b->bytes = aligned ((guint64) (hi[i] - lo[i]));
    }
  return blocks;
}

/* With G_MESSAGES_DEBUG: the moment the graph's live activations peak
 * and the larger of them alive then, which is where memory work should
 * look. */
static void
log_arena_peak (DrapeGraph   *graph,
                const GArray *blocks)
{
  g_autoptr(GString) alive = NULL;
  guint64 peak = 0;
  guint at = 0;

  if (g_log_writer_default_would_drop (G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN))
    return;
  for (guint e = 0; e < graph->events; e++)
    {
      guint64 live = 0;

      for (guint i = 0; i < blocks->len; i++)
        {
          const Block *b = &g_array_index (blocks, Block, i);
          if (b->born <= e && e < b->died)
            live += b->bytes;
        }
      if (live > peak)
        {
          peak = live;
          at = e;
        }
    }
  alive = g_string_new (NULL);
  for (guint i = 0; i < blocks->len; i++)
    {
      const Block *b = &g_array_index (blocks, Block, i);
      const DrapeTensor *t = b->home;

      if (b->born <= at && at < b->died && b->bytes >= 1 << 20)
        g_string_append_printf (alive, " [%u %u %u %u]%s %.0f MiB (events %u-%u)", t->n, t->h,
                                t->w, t->c, b->bytes > aligned (drape_tensor_bytes (t)) ?
                                " and what is written over it" : "",
                                b->bytes / 1048576.0, b->born, b->died);
    }
  g_debug ("%s: arena %.0f MiB; live activations peak at %.0f MiB at event %u of %u:%s",
           graph->name, graph->arena_size / 1048576.0, peak / 1048576.0, at, graph->events,
           alive->str);
}

/* Places blocks[0..n) in that order, each at the lowest offset clear of
 * those placed before it whose lifetimes overlap its own; returns the
 * arena size this needs. */
static guint64
place_blocks (Block **blocks,
              guint   n)
{
  g_autoptr(GPtrArray) overlapping = g_ptr_array_new ();
  guint64 size = 0;

  for (guint i = 0; i < n; i++)
    {
      Block *t = blocks[i];
      guint64 offset = 0;

      g_ptr_array_set_size (overlapping, 0);
      for (guint j = 0; j < i; j++)
        {
          Block *o = blocks[j];
          if (o->born < t->died && t->born < o->died)
            g_ptr_array_add (overlapping, o);
        }
      g_ptr_array_sort (overlapping, lower_offset_first);
      for (guint j = 0; j < overlapping->len; j++)
        {
          Block *o = g_ptr_array_index (overlapping, j);
          if (offset + t->bytes <= o->offset)
            break;
          offset = MAX (offset, o->offset + o->bytes);
        }
      t->offset = offset;
      size = MAX (size, offset + t->bytes);
    }
  return size;
}

/* The order of the first k blocks (a permutation of them) whose
 * placement needs the least arena, tried one by one (Heap's algorithm):
 * a few large activations decide the plan, and greedy orders can box
 * them in (one placed low that another's whole lifetime then has to go
 * above). */
static void
best_first_blocks (Block **blocks,
                   guint   k)
{
  g_autofree Block **best = g_memdup2 (blocks, k * sizeof *blocks);
  guint c[PERMUTED_BLOCKS] = { 0 };
  guint64 best_size = place_blocks (blocks, k);

  for (guint i = 1; i < k;)
    {
      if (c[i] < i)
        {
          Block *swap = blocks[i % 2 ? c[i] : 0];
          guint64 size;

          blocks[i % 2 ? c[i] : 0] = blocks[i];
          blocks[i] = swap;
          size = place_blocks (blocks, k);
          if (size < best_size)
            {
              best_size = size;
              memcpy (best, blocks, k * sizeof *blocks);
            }
          c[i]++;
          i = 1;
        }
      else
        c[i++] = 0;
    }
  memcpy (blocks, best, k * sizeof *blocks);
}

/* The ways of ordering blocks plan_arena tries: each comparison as it
 * is, and with its PERMUTED_BLOCKS first blocks in their best order. */
static const GCompareFunc block_orders[] = { larger_first, larger_area_first };
#define N_STRATEGIES (2 * G_N_ELEMENTS (block_orders))

/* Places the blocks as strategy `s` orders them (`order` has room for a
 * pointer to each); returns the arena size this needs. */
static guint64
plan_strategy (GArray *blocks,
               Block **order,
               guint   s)
{
  g_array_sort (blocks, block_orders[s / 2]);
  for (guint i = 0; i < blocks->len; i++)
    order[i] = &g_array_index (blocks, Block, i);
  /* One block or none has one order. */
  if (s % 2 && blocks->len > 1)
    best_first_blocks (order, MIN (blocks->len, PERMUTED_BLOCKS));
  return place_blocks (order, blocks->len);
}

/* Gives every activation its arena offset (see the top of this file):
 * that of the strategy needing the least arena. */
static void
plan_arena (DrapeGraph *graph)
{
  g_autoptr(GArray) blocks = NULL;
  g_autofree Block **order = NULL;

  if (graph->planned_at == graph->events)
    return;
  blocks = arena_blocks (graph);
  order = g_new (Block *, blocks->len + 1);
  graph->arena_size = G_MAXUINT64;
  for (guint s = 0; s < N_STRATEGIES; s++)
    {
      guint64 size = plan_strategy (blocks, order, s);

      if (size >= graph->arena_size)
        continue;
      graph->arena_size = size;
      for (guint i = 0; i < blocks->len; i++)
        {
          Block *b = &g_array_index (blocks, Block, i);
          b->home->arena_offset = b->offset + b->below;
        }
    }
  for (guint i = 0; i < graph->tensors->len; i++)
    {
      DrapeTensor *t = g_ptr_array_index (graph->tensors, i);

      if (t->home != NULL && t->born < t->died)
        t->arena_offset = (guint64) ((gint64) t->home->arena_offset + t->home_offset);
    }
  graph->planned_at = graph->events;
  log_arena_peak (graph, blocks);
}

guint64
drape_graph_get_arena_size (DrapeGraph *graph)
{
  plan_arena (graph);
  return graph->arena_size;
}

double
drape_graph_get_flops (DrapeGraph *graph)
{
  double total = 0;

  for (guint i = 0; i < graph->nodes->len; i++)
    total += g_array_index (graph->nodes, DrapeNode, i).flops;
  return total;
}

void
drape_graph_reset_profile (DrapeGraph *graph)
{
  if (graph->times_ms != NULL)
    memset (graph->times_ms->data, 0, graph->times_ms->len * sizeof (double));
  graph->runs = 0;
}

static void
resolve (DrapeGraph         *graph,
         const DrapeBinding *binding,
         VkDescriptorBufferInfo *info)
{
  const DrapeTensor *t = binding->tensor;
  DrapeBuffer *buffer = t->buffer != NULL ? t->buffer : graph->arena;

  info->buffer = drape_buffer_get_vk_buffer (buffer);
  info->offset = buffer->offset + (t->buffer != NULL ? 0 : t->arena_offset) + binding->offset;
  info->range = binding->range;
  /* Texel views as drape_texel_view_range widens them: the barriers
   * (record) go by the same range. */
  if (binding->texel)
    info->range = drape_texel_view_range (binding->range,
                                          drape_buffer_get_vk_size (buffer) - (info->offset + binding->range),
                                          drape_graph_texel_limit (graph, t->dtype),
                                          drape_graph_cpu_texels (graph));
}

static gboolean
write_descriptors (DrapeGraph       *graph,
                   VkDescriptorSet  *sets,
                   GError          **error)
{
  VkDevice vk = graph->device->device;
  guint n_nodes = graph->nodes->len;
  guint n_descriptors = 0, n_texels = 0;

  for (guint i = 0; i < n_nodes; i++)
    {
      const DrapeKernel *kernel = g_array_index (graph->nodes, DrapeNode, i).kernel;

      for (guint b = 0; b < kernel->n_bindings; b++)
        {
          if ((kernel->texel_mask >> b) & 1)
            n_texels++;
          else
            n_descriptors++;
        }
    }

  {
    VkDescriptorPoolSize sizes[] = {
      {
        .type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
        .descriptorCount = MAX (n_descriptors, 1),
      },
      {
        .type = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER,
        .descriptorCount = MAX (n_texels, 1),
      },
    };
    VkDescriptorPoolCreateInfo info = {
      .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
      .maxSets = MAX (n_nodes, 1),
      .poolSizeCount = G_N_ELEMENTS (sizes),
      .pPoolSizes = sizes,
    };
    if (!drape_vk_check (graph->device, vkCreateDescriptorPool (vk, &info, NULL, &graph->pool),
                         "vkCreateDescriptorPool", error))
      return FALSE;
  }

  for (guint i = 0; i < n_nodes; i++)
    {
      DrapeNode *node = &g_array_index (graph->nodes, DrapeNode, i);
      VkDescriptorBufferInfo infos[DRAPE_MAX_BINDINGS];
      VkBufferView views[DRAPE_MAX_BINDINGS];
      VkWriteDescriptorSet writes[DRAPE_MAX_BINDINGS];
      VkDescriptorSetAllocateInfo alloc = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
        .descriptorPool = graph->pool,
        .descriptorSetCount = 1,
        .pSetLayouts = &node->kernel->set_layout,
      };

      if (!drape_vk_check (graph->device, vkAllocateDescriptorSets (vk, &alloc, &sets[i]),
                           "vkAllocateDescriptorSets", error))
        return FALSE;
      for (guint b = 0; b < node->kernel->n_bindings; b++)
        {
          resolve (graph, &node->bindings[b], &infos[b]);
          writes[b] = (VkWriteDescriptorSet) {
            .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
            .dstSet = sets[i],
            .dstBinding = b,
            .descriptorCount = 1,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .pBufferInfo = &infos[b],
          };
          if (node->bindings[b].texel)
            {
              VkBufferViewCreateInfo info = {
                .sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO,
                .buffer = infos[b].buffer,
                .format = node->bindings[b].tensor->dtype == DRAPE_DTYPE_F16 ?
                          VK_FORMAT_R16G16B16A16_SFLOAT : VK_FORMAT_R32G32B32A32_SFLOAT,
                .offset = infos[b].offset,
                .range = infos[b].range,
              };
              if (!drape_vk_check (graph->device, vkCreateBufferView (vk, &info, NULL, &views[b]),
                                   "vkCreateBufferView", error))
                return FALSE;
              g_array_append_val (graph->views, views[b]);
              writes[b].descriptorType = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER;
              writes[b].pBufferInfo = NULL;
              writes[b].pTexelBufferView = &views[b];
            }
        }
      vkUpdateDescriptorSets (vk, node->kernel->n_bindings, writes, 0, NULL);
    }
  return TRUE;
}

static VkCommandBuffer
begin_buffer (DrapeGraph *graph,
              GError    **error)
{
  VkCommandBufferAllocateInfo alloc = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
    .commandPool = graph->device->command_pool,
    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
    .commandBufferCount = 1,
  };
  VkCommandBufferBeginInfo begin = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO };
  VkCommandBuffer buffer = VK_NULL_HANDLE;
  gboolean ok;

  g_mutex_lock (&graph->device->lock);
  ok = drape_vk_check (graph->device, vkAllocateCommandBuffers (graph->device->device, &alloc, &buffer),
                       "vkAllocateCommandBuffers", error);
  g_mutex_unlock (&graph->device->lock);
  if (!ok)
    return VK_NULL_HANDLE;
  g_array_append_val (graph->command_buffers, buffer);
  if (!drape_vk_check (graph->device, vkBeginCommandBuffer (buffer, &begin), "vkBeginCommandBuffer", error))
    return VK_NULL_HANDLE;
  return buffer;
}

/* A range of a buffer that the dispatches since the last barrier
 * bound, and whether one of them may write it. */
typedef struct {
  VkBuffer buffer;
  guint64 start;
  guint64 end;
  gboolean written;
} Access;

/* Whether a dispatch's binding races with what the dispatches since the
 * last barrier did: either side writes bytes the other binds.  Bound
 * ranges stand for what a shader touches (a band op binds a whole
 * tensor), so this errs towards a barrier.  Each block of memory has one
 * VkBuffer (memory.c), so the same bytes always come with the same
 * handle. */
static gboolean
races (const GArray *pending,
       const Access *access)
{
  for (guint i = 0; i < pending->len; i++)
    {
      const Access *p = &g_array_index (pending, Access, i);

      if (p->buffer == access->buffer && (p->written || access->written) &&
          p->start < access->end && access->start < p->end)
        return TRUE;
    }
  return FALSE;
}

static void
barrier_between_dispatches (VkCommandBuffer cmd)
{
  VkMemoryBarrier barrier = {
    .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
    .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_SHADER_READ_BIT,
    .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT,
  };

  vkCmdPipelineBarrier (cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                        0, 1, &barrier, 0, NULL, 0, NULL);
}

/* A dispatch waits behind a barrier only where it races with a dispatch
 * since the last one (by the bindings its kernel's SPIR-V may write):
 * independent dispatches (a resnet's time-embedding projection or
 * shortcut beside its norm, the decoder's banded upsampler beside the
 * statistics of the band before) may overlap on the GPU instead of each
 * draining it.  DRAPE_BARRIERS=every puts one between
 * every two, to measure what that buys.
 * Every command buffer ends with a barrier.  A barrier's scopes reach
 * every command before and after it in submission order on the queue,
 * across submissions, so graphs submitted one after another (even before
 * the first is done) each see what the one before wrote and never
 * overwrite a shared arena under it: no semaphores needed; and each
 * command buffer starts with nothing in flight to race with.  Host writes
 * made before vkQueueSubmit are visible to what it submits.  A last
 * barrier makes the graph's writes visible to host reads of mapped
 * tensors after drape_graph_wait(). */
static gboolean
record (DrapeGraph *graph,
        GError    **error)
{
  VkMemoryBarrier to_host = {
    .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
    .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
    .dstAccessMask = VK_ACCESS_HOST_READ_BIT,
  };
  g_autoptr(GArray) pending = g_array_new (FALSE, FALSE, sizeof (Access));
  VkCommandBuffer cmd = VK_NULL_HANDLE;
  double flops_in_buffer = 0;
  guint nodes_in_buffer = 0;
  guint n_nodes = graph->nodes->len;

  graph->n_barriers = 0;
  for (guint i = 0; i < n_nodes; i++)
    {
      DrapeNode *node = &g_array_index (graph->nodes, DrapeNode, i);
      Access accesses[DRAPE_MAX_BINDINGS];
      gboolean wait = pending->len > 0 && graph->device->barrier_every_dispatch;

      if (cmd == VK_NULL_HANDLE)
        {
          cmd = begin_buffer (graph, error);
          if (cmd == VK_NULL_HANDLE)
            return FALSE;
          if (graph->profiling && graph->command_buffers->len == 1)
            {
              vkCmdResetQueryPool (cmd, graph->queries, 0, n_nodes + 1);
              vkCmdWriteTimestamp (cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, graph->queries, 0);
            }
          flops_in_buffer = 0;
          nodes_in_buffer = 0;
        }

      for (guint b = 0; b < node->kernel->n_bindings; b++)
        {
          VkDescriptorBufferInfo info;

          resolve (graph, &node->bindings[b], &info);
          accesses[b] = (Access) {
            .buffer = info.buffer,
            .start = info.offset,
            .end = info.offset + info.range,
            .written = (node->kernel->written_mask >> b) & 1,
          };
          wait = wait || races (pending, &accesses[b]);
        }
      if (wait)
        {
          barrier_between_dispatches (cmd);
          graph->n_barriers++;
          g_array_set_size (pending, 0);
        }
      g_array_append_vals (pending, accesses, node->kernel->n_bindings);

      if (graph->device->cmd_begin_label != NULL)
        {
          VkDebugUtilsLabelEXT label = {
            .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_LABEL_EXT,
            .pLabelName = node->label,
          };
          graph->device->cmd_begin_label (cmd, &label);
        }
      vkCmdBindPipeline (cmd, VK_PIPELINE_BIND_POINT_COMPUTE, node->kernel->pipeline);
      vkCmdBindDescriptorSets (cmd, VK_PIPELINE_BIND_POINT_COMPUTE, node->kernel->layout,
                               0, 1, &graph->sets[i], 0, NULL);
      if (node->push_size > 0)
        vkCmdPushConstants (cmd, node->kernel->layout, VK_SHADER_STAGE_COMPUTE_BIT,
                            0, node->push_size, node->push);
      vkCmdDispatch (cmd, node->groups[0], node->groups[1], node->groups[2]);
      if (graph->device->cmd_end_label != NULL)
        graph->device->cmd_end_label (cmd);
      if (graph->profiling)
        vkCmdWriteTimestamp (cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, graph->queries, i + 1);

      flops_in_buffer += node->flops;
      nodes_in_buffer++;
      if (i + 1 == n_nodes || flops_in_buffer >= SUBMIT_FLOPS || nodes_in_buffer >= SUBMIT_NODES)
        {
          barrier_between_dispatches (cmd);
          graph->n_barriers++;
          g_array_set_size (pending, 0);
          if (i + 1 == n_nodes)
            vkCmdPipelineBarrier (cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_HOST_BIT,
                                  0, 1, &to_host, 0, NULL, 0, NULL);
          if (!drape_vk_check (graph->device, vkEndCommandBuffer (cmd), "vkEndCommandBuffer", error))
            return FALSE;
          cmd = VK_NULL_HANDLE;
        }
    }
  g_debug ("%s: %u dispatches, %u barriers", graph->name, n_nodes, graph->n_barriers);
  return TRUE;
}

static gboolean
compile (DrapeGraph  *graph,
         DrapeBuffer *arena,
         GError     **error);

gboolean
drape_graph_compile (DrapeGraph *graph,
                     GError    **error)
{
  return compile (graph, NULL, error);
}

gboolean
drape_graph_compile_in (DrapeGraph  *graph,
                        DrapeBuffer *arena,
                        GError     **error)
{
  guint64 size = drape_graph_get_arena_size (graph);

  if (arena == NULL || drape_buffer_get_size (arena) < size ||
      drape_buffer_get_device (arena) != graph->device)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                   "%s: the shared arena must be a buffer of this device of at least "
                   "%" G_GUINT64_FORMAT " bytes", graph->name, size);
      return FALSE;
    }
  return compile (graph, arena, error);
}

/* The timestamp queries and the times they add up to. */
static gboolean
start_profiling (DrapeGraph *graph,
                 GError    **error)
{
  VkQueryPoolCreateInfo info = {
    .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
    .queryType = VK_QUERY_TYPE_TIMESTAMP,
    .queryCount = graph->nodes->len + 1,
  };

  if (!drape_vk_check (graph->device, vkCreateQueryPool (graph->device->device, &info, NULL, &graph->queries),
                       "vkCreateQueryPool", error))
    return FALSE;
  graph->times_ms = g_array_sized_new (FALSE, TRUE, sizeof (double), graph->nodes->len);
  g_array_set_size (graph->times_ms, graph->nodes->len);
  return TRUE;
}

void
drape_graph_set_profiling (DrapeGraph *graph,
                           gboolean    profiling)
{
  g_autoptr(GError) error = NULL;

  profiling = profiling && graph->device->caps.has_timestamps;
  if (profiling == graph->profiling)
    return;
  if (graph->pending)
    {
      drape_graph_fail (graph, DRAPE_ERROR_INVALID_ARGUMENT,
                        "Profiling cannot change while the graph is running: wait for it first");
      return;
    }
  graph->profiling = profiling;
  if (!graph->compiled)
    return;
  /* The command buffers are recorded again, with or without timestamps. */
  free_command_buffers (graph);
  if (((profiling && graph->queries == VK_NULL_HANDLE && !start_profiling (graph, &error)) ||
       !record (graph, &error)) && graph->error == NULL)
    graph->error = g_steal_pointer (&error);
}

/* Waits for the pipelines building in the background; where the driver
 * refused one, the graph fails (to be recorded again where a stand-in
 * exists). */
static gboolean
wait_for_kernels (DrapeGraph  *graph,
                  GError     **error)
{
  for (guint i = 0; i < graph->nodes->len && graph->error == NULL; i++)
    {
      DrapeKernel *kernel = g_array_index (graph->nodes, DrapeNode, i).kernel;
      g_autoptr(GError) refusal = NULL;

      if (drape_kernel_wait (kernel, &refusal))
        continue;
      if (g_hash_table_contains (graph->optional_kernels, kernel) &&
          (g_error_matches (refusal, DRAPE_ERROR, DRAPE_ERROR_VULKAN) ||
           g_error_matches (refusal, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED)))
        drape_graph_fail (graph, DRAPE_ERROR_RECORD_AGAIN, "%s (a slower kernel can stand in: record again)",
                          refusal->message);
      else
        drape_graph_fail (graph, refusal->code, "%s", refusal->message);
    }
  return drape_graph_check (graph, error);
}

static gboolean
compile (DrapeGraph  *graph,
         DrapeBuffer *arena,
         GError     **error)
{
  guint64 arena_size;

  if (!drape_graph_check (graph, error))
    return FALSE;
  if (graph->compiled)
    return TRUE;
  if (!wait_for_kernels (graph, error))
    return FALSE;

  arena_size = drape_graph_get_arena_size (graph);
  if (arena != NULL)
    {
      graph->arena = arena;
      graph->arena_borrowed = TRUE;
    }
  else if (arena_size > 0)
    {
      graph->arena = drape_buffer_new (graph->device, DRAPE_MEMORY_DEVICE, arena_size, error);
      if (graph->arena == NULL)
        {
          g_prefix_error (error, "%s activations: ", graph->name);
          return FALSE;
        }
    }

  if (graph->profiling && !start_profiling (graph, error))
    return FALSE;

  {
    VkFenceCreateInfo info = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
    if (!drape_vk_check (graph->device, vkCreateFence (graph->device->device, &info, NULL, &graph->fence),
                         "vkCreateFence", error))
      return FALSE;
  }

  graph->sets = g_new0 (VkDescriptorSet, MAX (graph->nodes->len, 1));
  if (!write_descriptors (graph, graph->sets, error) || !record (graph, error))
    return FALSE;
  graph->compiled = TRUE;
  return TRUE;
}

static gboolean
read_timestamps (DrapeGraph *graph,
                 GError    **error)
{
  guint n = graph->nodes->len + 1;
  g_autofree guint64 *stamps = g_new0 (guint64, n);
  double period = graph->device->caps.timestamp_period_ns;

  if (!drape_vk_check (graph->device,
                       vkGetQueryPoolResults (graph->device->device, graph->queries, 0, n,
                                              n * sizeof (guint64), stamps, sizeof (guint64),
                                              VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
                       "vkGetQueryPoolResults", error))
    return FALSE;
  for (guint i = 0; i + 1 < n; i++)
    {
      guint64 delta = stamps[i + 1] >= stamps[i] ? stamps[i + 1] - stamps[i] : 0;
      g_array_index (graph->times_ms, double, i) += delta * period * 1e-6;
    }
  return TRUE;
}

gboolean
drape_graph_submit (DrapeGraph *graph,
                    GError    **error)
{
  if (!drape_graph_check (graph, error) || (!graph->compiled && !drape_graph_compile (graph, error)))
    return FALSE;
  /* Its command buffers are not recorded for simultaneous use. */
  if (graph->pending)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
                   "%s: submitted again while still running; wait for it first", graph->name);
      return FALSE;
    }
  if (graph->command_buffers->len == 0)
    return TRUE;
  if (!drape_device_submit (graph->device, (VkCommandBuffer *) (void *) graph->command_buffers->data,
                            graph->command_buffers->len, graph->fence, error))
    {
      g_prefix_error (error, "%s: ", graph->name);
      return FALSE;
    }
  graph->pending = TRUE;
  return TRUE;
}

gboolean
drape_graph_wait (DrapeGraph *graph,
                  GError    **error)
{
  if (!graph->pending)
    return TRUE;
  graph->pending = FALSE;
  if (!drape_device_wait (graph->device, graph->fence, error))
    {
      g_prefix_error (error, "%s: ", graph->name);
      return FALSE;
    }
  if (!graph->profiling)
    return TRUE;
  graph->runs++;
  return read_timestamps (graph, error);
}

gboolean
drape_graph_run (DrapeGraph *graph,
                 GError    **error)
{
  return drape_graph_submit (graph, error) && drape_graph_wait (graph, error);
}

gboolean
drape_graph_warm_up (DrapeGraph *graph,
                     gint64      us,
                     GError    **error)
{
  gint64 start = g_get_monotonic_time ();

  while (!graph->device->info.is_software && g_get_monotonic_time () - start < us)
    if (!drape_graph_run (graph, error))
      return FALSE;
  return TRUE;
}

static gint
compare_time_desc (gconstpointer a,
                   gconstpointer b)
{
  const DrapeOpTime *x = a, *y = b;

  return x->total_ms < y->total_ms ? 1 : x->total_ms > y->total_ms ? -1 : 0;
}

/* The profile aggregated by label, or by label and dispatch shape. */
static GArray *
get_profile (DrapeGraph *graph,
             gboolean    by_dispatch)
{
  GArray *result = g_array_new (FALSE, TRUE, sizeof (DrapeOpTime));
  g_autoptr(GHashTable) index = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  if (graph->times_ms == NULL)
    return result;
  for (guint i = 0; i < graph->nodes->len; i++)
    {
      DrapeNode *node = &g_array_index (graph->nodes, DrapeNode, i);
      guint64 workgroups = (guint64) node->groups[0] * node->groups[1] * node->groups[2];
      char *key = by_dispatch ? g_strdup_printf ("%s %s %" G_GUINT64_FORMAT " %.17g %s", node->label,
                                                 node->detail ? node->detail : "", workgroups,
                                                 node->flops, node->kernel->key)
                              : g_strdup (node->label);
      gpointer index_plus_one = g_hash_table_lookup (index, key);
      DrapeOpTime *entry;

      if (index_plus_one == NULL)
        {
          DrapeOpTime t = {
            .label = node->label,
            .detail = by_dispatch ? node->detail : NULL,
            .workgroups = by_dispatch ? workgroups : 0,
            .kernel = by_dispatch ? node->kernel->key : NULL,
          };
          g_array_append_val (result, t);
          index_plus_one = GUINT_TO_POINTER (result->len);
          g_hash_table_insert (index, key, index_plus_one);
        }
      else
        g_free (key);
      entry = &g_array_index (result, DrapeOpTime, GPOINTER_TO_UINT (index_plus_one) - 1);
      entry->count += graph->runs;
      entry->total_ms += g_array_index (graph->times_ms, double, i);
      entry->flops += node->flops * graph->runs;
    }
  g_array_sort (result, compare_time_desc);
  return result;
}

GArray *
drape_graph_get_profile (DrapeGraph *graph)
{
  return get_profile (graph, FALSE);
}

GArray *
drape_graph_get_dispatch_profile (DrapeGraph *graph)
{
  return get_profile (graph, TRUE);
}

GArray *
drape_graph_get_way_profile (DrapeGraph *graph)
{
  GArray *result = g_array_new (FALSE, TRUE, sizeof (DrapeWayTime));
  g_autoptr(GHashTable) index = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; graph->times_ms != NULL && i < graph->nodes->len; i++)
    {
      DrapeNode *node = &g_array_index (graph->nodes, DrapeNode, i);
      char *key;
      gpointer index_plus_one;

      if (node->problem == NULL)
        continue;
      key = g_strconcat (node->problem, "\n", node->way, NULL);
      index_plus_one = g_hash_table_lookup (index, key);
      if (index_plus_one == NULL)
        {
          DrapeWayTime t = { node->problem, node->way, node->usual, 0, graph->runs };
          g_array_append_val (result, t);
          index_plus_one = GUINT_TO_POINTER (result->len);
          g_hash_table_insert (index, key, index_plus_one);
        }
      else
        g_free (key);
      g_array_index (result, DrapeWayTime, GPOINTER_TO_UINT (index_plus_one) - 1).total_ms +=
        g_array_index (graph->times_ms, double, i);
    }
  return result;
}
