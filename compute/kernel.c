/* kernel.c: shader modules, descriptor layouts and pipelines, cached
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <string.h>

#include <gio/gio.h>

#include "drape-shaders.h"
#include "kernel-private.h"
#include "spirv-private.h"

static char *
resource_path (const char *family,
               const char *variant)
{
  return g_strdup_printf ("/app/drape/shaders/%s.%s.spv", family, variant);
}

gboolean
drape_kernel_variant_exists (const char *family,
                             const char *variant)
{
  g_autofree char *path = resource_path (family, variant);

  return g_resource_get_info (drape_shaders_get_resource (), path,
                              G_RESOURCE_LOOKUP_FLAGS_NONE, NULL, NULL, NULL);
}

void
drape_kernel_free (DrapeKernel *kernel)
{
  VkDevice vk;

  if (kernel == NULL)
    return;
  vk = kernel->device->device;
  if (kernel->pipeline != VK_NULL_HANDLE)
    vkDestroyPipeline (vk, kernel->pipeline, NULL);
  if (kernel->layout != VK_NULL_HANDLE)
    vkDestroyPipelineLayout (vk, kernel->layout, NULL);
  if (kernel->set_layout != VK_NULL_HANDLE)
    vkDestroyDescriptorSetLayout (vk, kernel->set_layout, NULL);
  if (kernel->module != VK_NULL_HANDLE)
    vkDestroyShaderModule (vk, kernel->module, NULL);
  g_clear_pointer (&kernel->statistics, g_array_unref);
  g_clear_error (&kernel->failure);
  g_free (kernel->key);
  g_free (kernel);
}

static double
statistic_value (const VkPipelineExecutableStatisticKHR *s)
{
  switch (s->format)
    {
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR:
      return s->value.b32 ? 1 : 0;
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR:
      return (double) s->value.i64;
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR:
      return (double) s->value.u64;
    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_FLOAT64_KHR:
    default:
      return s->value.f64;
    }
}

/* What the driver says of a pipeline built to capture it: every
 * statistic of its executables (a compute pipeline has one; more are
 * summed under the same name).  NULL where the driver says nothing. */
static GArray *
read_statistics (DrapeDevice *device,
                 VkPipeline   pipeline)
{
  VkPipelineInfoKHR info = {
    .sType = VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR,
    .pipeline = pipeline,
  };
  guint32 n_exec = 0;
  GArray *result;

  if (device->get_executables (device->device, &info, &n_exec, NULL) != VK_SUCCESS || n_exec == 0)
    return NULL;
  result = g_array_new (FALSE, FALSE, sizeof (DrapePipelineStatistic));
  for (guint32 e = 0; e < n_exec; e++)
    {
      VkPipelineExecutableInfoKHR exec = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR,
        .pipeline = pipeline,
        .executableIndex = e,
      };
      g_autofree VkPipelineExecutableStatisticKHR *stats = NULL;
      guint32 n = 0;

      if (device->get_executable_statistics (device->device, &exec, &n, NULL) != VK_SUCCESS)
        continue;
      stats = g_new0 (VkPipelineExecutableStatisticKHR, MAX (n, 1));
      for (guint32 i = 0; i < n; i++)
        stats[i].sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR;
      if (device->get_executable_statistics (device->device, &exec, &n, stats) != VK_SUCCESS)
        continue;
      for (guint32 i = 0; i < n; i++)
        {
          const char *name = g_intern_string (stats[i].name);
          guint j;

          for (j = 0; j < result->len; j++)
            if (g_array_index (result, DrapePipelineStatistic, j).name == name)
              break;
          if (j == result->len)
            {
              DrapePipelineStatistic s = { name, 0 };
              g_array_append_val (result, s);
            }
          g_array_index (result, DrapePipelineStatistic, j).value += statistic_value (&stats[i]);
        }
    }
  if (result->len == 0)
    g_clear_pointer (&result, g_array_unref);
  return result;
}

/* What is quick to make of a kernel: its shader module, its layouts and
 * which bindings it writes. */
static gboolean
prepare (DrapeKernel  *kernel,
         GError      **error)
{
  DrapeDevice *device = kernel->device;
  const char *family = kernel->family, *variant = kernel->variant;
  g_autofree char *path = resource_path (family, variant);
  g_autoptr(GBytes) code = NULL;
  g_autoptr(GError) local_error = NULL;
  VkDescriptorSetLayoutBinding bindings[DRAPE_MAX_BINDINGS];
  const guint32 *words;
  gsize code_size;
  VkPushConstantRange push = {
    .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
    .offset = 0,
    .size = DRAPE_PUSH_SIZE,
  };

  code = g_resource_lookup_data (drape_shaders_get_resource (), path,
                                 G_RESOURCE_LOOKUP_FLAGS_NONE, &local_error);
  if (code == NULL)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED,
                   "Shader %s (%s) is not part of this build", family, variant);
      return FALSE;
    }

  words = g_bytes_get_data (code, &code_size);
  if (!drape_spirv_written_bindings (words, code_size / 4, &kernel->written_mask, error))
    {
      g_prefix_error (error, "Shader %s (%s): ", family, variant);
      return FALSE;
    }
  {
    VkShaderModuleCreateInfo info = {
      .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
      .codeSize = code_size,
      .pCode = words,
    };
    if (!drape_vk_check (device, vkCreateShaderModule (device->device, &info, NULL, &kernel->module),
                         "vkCreateShaderModule", error))
      return FALSE;
  }

  for (guint i = 0; i < kernel->n_bindings; i++)
    bindings[i] = (VkDescriptorSetLayoutBinding) {
      .binding = i,
      .descriptorType = (kernel->texel_mask >> i) & 1 ? VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER
                                                      : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
      .descriptorCount = 1,
      .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
    };
  {
    VkDescriptorSetLayoutCreateInfo info = {
      .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
      .bindingCount = kernel->n_bindings,
      .pBindings = bindings,
    };
    if (!drape_vk_check (device, vkCreateDescriptorSetLayout (device->device, &info, NULL, &kernel->set_layout),
                         "vkCreateDescriptorSetLayout", error))
      return FALSE;
  }
  {
    VkPipelineLayoutCreateInfo info = {
      .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
      .setLayoutCount = 1,
      .pSetLayouts = &kernel->set_layout,
      .pushConstantRangeCount = 1,
      .pPushConstantRanges = &push,
    };
    if (!drape_vk_check (device, vkCreatePipelineLayout (device->device, &info, NULL, &kernel->layout),
                         "vkCreatePipelineLayout", error))
      return FALSE;
  }
  return TRUE;
}

/* What a test's refusal (drape_device_refuse_families) says, as a
 * driver's would. */
static void
set_refused_by_test (GError     **error,
                     const char  *family,
                     const char  *variant)
{
  g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_VULKAN,
               "Shader %s (%s): refused (drape_device_refuse_families)", family, variant);
}

/* The pipeline: the driver's compile, the slow part. */
static gboolean
create_pipeline (DrapeKernel  *kernel,
                 GError      **error)
{
  DrapeDevice *device = kernel->device;
  const char *family = kernel->family, *variant = kernel->variant;
  VkSpecializationMapEntry entries[DRAPE_MAX_SPEC];
  const guint n_spec = kernel->n_spec;

  if (kernel->refused_by_test)
    {
      set_refused_by_test (error, family, variant);
      return FALSE;
    }
  for (guint i = 0; i < n_spec; i++)
    entries[i] = (VkSpecializationMapEntry) {
      .constantID = i,
      .offset = i * sizeof (guint32),
      .size = sizeof (guint32),
    };
  {
    VkSpecializationInfo spec_info = {
      .mapEntryCount = n_spec,
      .pMapEntries = entries,
      .dataSize = n_spec * sizeof (guint32),
      .pData = kernel->spec,
    };
    VkPipelineShaderStageRequiredSubgroupSizeCreateInfo width_32 = {
      .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_REQUIRED_SUBGROUP_SIZE_CREATE_INFO,
      .requiredSubgroupSize = 32,
    };
    gboolean pin = device->caps.coopmat_pins_subgroup && strstr (family, "_coopmat") != NULL;
    VkComputePipelineCreateInfo info = {
      .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
      .stage = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
        .pNext = pin ? &width_32 : NULL,
        .flags = pin ? VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS_BIT : 0,
        .stage = VK_SHADER_STAGE_COMPUTE_BIT,
        .module = kernel->module,
        .pName = "main",
        .pSpecializationInfo = &spec_info,
      },
      .flags = kernel->capture_statistics ? VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR : 0,
      .layout = kernel->layout,
    };
    if (!drape_vk_check (device, vkCreateComputePipelines (device->device, device->pipeline_cache, 1, &info,
                                                           NULL, &kernel->pipeline),
                         "vkCreateComputePipelines", error))
      {
        g_prefix_error (error, "Shader %s (%s): ", family, variant);
        return FALSE;
      }
  }
  if (kernel->capture_statistics)
    kernel->statistics = read_statistics (device, kernel->pipeline);
  return TRUE;
}

/* Whether a test has this device refuse the family's pipelines, or
 * those of this variant of it ("family.variant"). */
static gboolean
refused_by_test (DrapeDevice *device,
                 const char  *family,
                 const char  *variant)
{
  g_autofree char *name = NULL;
  gboolean refused = FALSE;

  g_mutex_lock (&device->lock);
  if (device->refused_families != NULL)
    {
      name = g_strdup_printf ("%s.%s", family, variant);
      refused = g_strv_contains ((const char *const *) device->refused_families, family) ||
                g_strv_contains ((const char *const *) device->refused_families, name);
    }
  g_mutex_unlock (&device->lock);
  return refused;
}

/* Remembers why the driver would not build a kernel: one that cannot
 * will not on a second try; running out of memory may pass, and a lost
 * device fails everything anyway. */
static void
remember_refusal (DrapeDevice  *device,
                  const char   *key,
                  const GError *error)
{
  if (!g_error_matches (error, DRAPE_ERROR, DRAPE_ERROR_VULKAN) &&
      !g_error_matches (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED))
    return;
  g_message ("%s: %s", device->info.name, error->message);
  g_mutex_lock (&device->lock);
  g_hash_table_insert (device->refused_kernels, g_strdup (key), g_error_copy (error));
  g_mutex_unlock (&device->lock);
}

/* Under the device's lock: until the kernel's background build ends,
 * which counts as waiting for pipelines. */
static void
wait_for (DrapeKernel *kernel)
{
  DrapeDevice *device = kernel->device;
  gint64 start;

  if (!kernel->pending)
    return;
  start = g_get_monotonic_time ();
  while (kernel->pending)
    g_cond_wait (&device->kernel_built, &device->lock);
  device->pipeline_build_us += g_get_monotonic_time () - start;
}

/* A builder thread's work: one kernel's pipeline. */
static void
build_in_background (gpointer data,
                     gpointer user_data)
{
  DrapeKernel *kernel = data;
  DrapeDevice *device = user_data;
  g_autoptr(GError) error = NULL;
  gint64 start = g_get_monotonic_time ();
  gboolean built = create_pipeline (kernel, &error);

  g_debug ("%s: %s in %.1f ms", device->info.name, kernel->key,
           (g_get_monotonic_time () - start) / 1e3);
  if (!built)
    remember_refusal (device, kernel->key, error);
  g_mutex_lock (&device->lock);
  device->pipelines_built++;
  if (!built)
    {
      gpointer key;

      /* Out of the kernels, so that the next graph asks again (or takes
       * the refusal), but alive for the graphs that hold it. */
      if (g_hash_table_steal_extended (device->kernels, kernel->key, &key, NULL))
        g_free (key);
      g_ptr_array_add (device->failed_kernels, kernel);
      kernel->failure = g_steal_pointer (&error);
    }
  kernel->pending = FALSE;
  g_cond_broadcast (&device->kernel_built);
  g_mutex_unlock (&device->lock);
}

gboolean
drape_kernel_wait (DrapeKernel  *kernel,
                   GError      **error)
{
  DrapeDevice *device = kernel->device;
  gboolean built;

  g_mutex_lock (&device->lock);
  wait_for (kernel);
  built = kernel->failure == NULL;
  if (!built)
    g_propagate_error (error, g_error_copy (kernel->failure));
  g_mutex_unlock (&device->lock);
  return built;
}

DrapeKernel *
drape_kernel_get (DrapeDevice   *device,
                  const char    *family,
                  const char    *variant,
                  guint          n_bindings,
                  guint32        texel_mask,
                  const guint32 *spec,
                  guint          n_spec,
                  gboolean       background,
                  GError       **error)
{
  g_autoptr(GString) key = g_string_new (NULL);
  g_autoptr(GError) local_error = NULL;
  DrapeKernel *kernel;
  const GError *refusal;
  gboolean refused;
  gint64 start, us;
  gboolean built;

  g_return_val_if_fail (n_bindings <= DRAPE_MAX_BINDINGS, NULL);
  g_return_val_if_fail (n_spec >= 3 && n_spec <= DRAPE_MAX_SPEC, NULL);

  g_string_printf (key, "%s.%s/%u/%x", family, variant, n_bindings, texel_mask);
  for (guint i = 0; i < n_spec; i++)
    g_string_append_printf (key, "%c%u", i ? ',' : ':', spec[i]);

  /* A test's refusal comes now where no build would ask the driver (it
   * is built, or the caller waits for it), else from the build. */
  refused = refused_by_test (device, family, variant);
  g_mutex_lock (&device->lock);
  for (;;)
    {
      refusal = g_hash_table_lookup (device->refused_kernels, key->str);
      kernel = g_hash_table_lookup (device->kernels, key->str);
      if (refusal != NULL || kernel == NULL || background || refused || !kernel->pending)
        break;
      /* Built in the background for another graph: done, or failed and
       * gone (refused, or to build again). */
      wait_for (kernel);
    }
  if (refusal != NULL)
    g_propagate_error (error, g_error_copy (refusal));
  g_mutex_unlock (&device->lock);
  if (refusal != NULL)
    return NULL;
  if (refused && (kernel != NULL || !background))
    {
      set_refused_by_test (error, family, variant);
      return NULL;
    }
  if (kernel != NULL)
    return kernel;

  if (spec[0] * spec[1] * spec[2] > device->caps.max_workgroup_invocations)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_UNSUPPORTED,
                   "Shader %s needs %u invocations per workgroup; %s allows %u",
                   family, spec[0] * spec[1] * spec[2], device->info.name,
                   device->caps.max_workgroup_invocations);
      return NULL;
    }

  kernel = g_new0 (DrapeKernel, 1);
  kernel->device = device;
  kernel->key = g_strdup (key->str);
  kernel->family = g_intern_string (family);
  kernel->variant = g_intern_string (variant);
  kernel->n_bindings = n_bindings;
  kernel->texel_mask = texel_mask;
  memcpy (kernel->spec, spec, n_spec * sizeof (guint32));
  kernel->n_spec = n_spec;
  kernel->local_size[0] = spec[0];
  kernel->local_size[1] = spec[1];
  kernel->local_size[2] = spec[2];
  kernel->capture_statistics = device->capture_statistics;
  kernel->refused_by_test = refused;
  start = g_get_monotonic_time ();
  built = prepare (kernel, &local_error) && (background || create_pipeline (kernel, &local_error));
  /* Pipeline creation is part of the wait before a first result. */
  us = g_get_monotonic_time () - start;
  if (!background || !built)
    {
      g_debug ("%s: %s in %.1f ms", device->info.name, key->str, us / 1e3);
      g_mutex_lock (&device->lock);
      device->pipelines_built++;
      device->pipeline_build_us += us;
      g_mutex_unlock (&device->lock);
    }
  if (!built)
    {
      drape_kernel_free (kernel);
      remember_refusal (device, key->str, local_error);
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  kernel->pending = background;
  g_mutex_lock (&device->lock);
  g_hash_table_insert (device->kernels, g_strdup (key->str), kernel);
  if (background)
    {
      if (device->builders == NULL)
        device->builders = g_thread_pool_new (build_in_background, device,
                                              (gint) g_get_num_processors (), FALSE, NULL);
      g_thread_pool_push (device->builders, kernel, NULL);
    }
  g_mutex_unlock (&device->lock);
  return kernel;
}
