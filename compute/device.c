/* device.c: instance, device choice, features, limits, queue, pipeline cache
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <gio/gio.h>

#include "device-private.h"
#include "kernel-private.h"
#include "memory-private.h"
#include "tuning.h"

#define VALIDATION_LAYER "VK_LAYER_KHRONOS_validation"

/* Vulkan 1.2 gives us 16-bit storage, shaderFloat16 and timeline-free
 * submission that the engine needs on every vendor. */
#define REQUIRED_API_VERSION VK_API_VERSION_1_2

const char *
drape_device_type_to_string (DrapeDeviceType type)
{
  switch (type)
    {
    case DRAPE_DEVICE_TYPE_INTEGRATED: return "integrated GPU";
    case DRAPE_DEVICE_TYPE_DISCRETE: return "discrete GPU";
    case DRAPE_DEVICE_TYPE_VIRTUAL: return "virtual GPU";
    case DRAPE_DEVICE_TYPE_CPU: return "CPU";
    case DRAPE_DEVICE_TYPE_OTHER:
    default: return "other";
    }
}

static const char *
vk_result_to_string (VkResult result)
{
  switch (result)
    {
#define CASE(r) case r: return #r
    CASE (VK_SUCCESS);
    CASE (VK_NOT_READY);
    CASE (VK_TIMEOUT);
    CASE (VK_INCOMPLETE);
    CASE (VK_ERROR_OUT_OF_HOST_MEMORY);
    CASE (VK_ERROR_OUT_OF_DEVICE_MEMORY);
    CASE (VK_ERROR_INITIALIZATION_FAILED);
    CASE (VK_ERROR_DEVICE_LOST);
    CASE (VK_ERROR_MEMORY_MAP_FAILED);
    CASE (VK_ERROR_LAYER_NOT_PRESENT);
    CASE (VK_ERROR_EXTENSION_NOT_PRESENT);
    CASE (VK_ERROR_FEATURE_NOT_PRESENT);
    CASE (VK_ERROR_INCOMPATIBLE_DRIVER);
    CASE (VK_ERROR_TOO_MANY_OBJECTS);
    CASE (VK_ERROR_FORMAT_NOT_SUPPORTED);
    CASE (VK_ERROR_FRAGMENTED_POOL);
    CASE (VK_ERROR_OUT_OF_POOL_MEMORY);
    CASE (VK_ERROR_INVALID_SHADER_NV);
#undef CASE
    default: return "VK_ERROR_UNKNOWN";
    }
}

gboolean
drape_vk_check (DrapeDevice *device,
                VkResult     result,
                const char  *what,
                GError     **error)
{
  if (device != NULL && device->injected_fault != VK_SUCCESS && result == VK_SUCCESS)
    {
      result = device->injected_fault;
      device->injected_fault = VK_SUCCESS;
    }

  if (result == VK_SUCCESS)
    return TRUE;

  switch (result)
    {
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
    case VK_ERROR_OUT_OF_HOST_MEMORY:
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_OUT_OF_MEMORY,
                   "%s: out of %s memory", what,
                   result == VK_ERROR_OUT_OF_DEVICE_MEMORY ? "device" : "host");
      break;
    case VK_ERROR_DEVICE_LOST:
      if (device != NULL)
        device->lost = TRUE;
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_DEVICE_LOST,
                   "%s: the GPU device was lost (driver reset or GPU removed); "
                   "the engine must be restarted", what);
      break;
    default:
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_VULKAN,
                   "%s failed: %s (%d)", what, vk_result_to_string (result), result);
      break;
    }
  return FALSE;
}

void
drape_device_inject_fault (DrapeDevice *device,
                           VkResult     result)
{
  device->injected_fault = result;
}

void
drape_device_refuse_families (DrapeDevice       *device,
                              const char *const *families)
{
  g_mutex_lock (&device->lock);
  g_strfreev (device->refused_families);
  device->refused_families = g_strdupv ((char **) families);
  /* As a new driver would: what the last refused (background builds
   * remember a test's refusals as a driver's) is tried again. */
  g_hash_table_remove_all (device->refused_kernels);
  g_mutex_unlock (&device->lock);
}

static VKAPI_ATTR VkBool32 VKAPI_CALL
on_debug_message (VkDebugUtilsMessageSeverityFlagBitsEXT      severity,
                  VkDebugUtilsMessageTypeFlagsEXT             types,
                  const VkDebugUtilsMessengerCallbackDataEXT *data,
                  void                                       *user_data)
{
  DrapeDevice *device = user_data;

  if (severity & (VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                  VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT))
    {
      g_atomic_int_inc (&device->validation_messages);
      g_printerr ("drape: Vulkan validation: %s\n", data->pMessage);
    }
  return VK_FALSE;
}

static gboolean
validation_requested (void)
{
  const char *v = g_getenv ("DRAPE_VALIDATION");
  return v != NULL && *v != '\0' && g_strcmp0 (v, "0") != 0;
}

static gboolean
instance_has_layer (const char *name)
{
  guint32 n = 0;
  g_autofree VkLayerProperties *layers = NULL;

  if (vkEnumerateInstanceLayerProperties (&n, NULL) != VK_SUCCESS)
    return FALSE;
  layers = g_new0 (VkLayerProperties, MAX (n, 1));
  if (vkEnumerateInstanceLayerProperties (&n, layers) != VK_SUCCESS)
    return FALSE;
  for (guint i = 0; i < n; i++)
    if (strcmp (layers[i].layerName, name) == 0)
      return TRUE;
  return FALSE;
}

static VkInstance
create_instance (gboolean   validation,
                 GError   **error)
{
  VkApplicationInfo app = {
    .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
    .pApplicationName = "Drape",
    .applicationVersion = VK_MAKE_VERSION (0, 1, 0),
    .pEngineName = "libdrape-compute",
    .engineVersion = VK_MAKE_VERSION (0, 1, 0),
    .apiVersion = VK_API_VERSION_1_3,
  };
  const char *layers[] = { VALIDATION_LAYER };
  const char *extensions[] = { VK_EXT_DEBUG_UTILS_EXTENSION_NAME,
                               VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME };
  /* Synchronisation validation too: graphs leave out barriers between
   * dispatches that do not race (graph.c), and a barrier missed there
   * would race only on a GPU, never on lavapipe, which runs dispatches
   * one after another.  The layer sees the hazard on any device. */
  VkValidationFeatureEnableEXT enables[] = {
    VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT,
  };
  VkValidationFeaturesEXT features = {
    .sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
    .enabledValidationFeatureCount = G_N_ELEMENTS (enables),
    .pEnabledValidationFeatures = enables,
  };
  VkInstanceCreateInfo info = {
    .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
    .pApplicationInfo = &app,
  };
  VkInstance instance = VK_NULL_HANDLE;
  VkResult result;

  if (validation)
    {
      if (!instance_has_layer (VALIDATION_LAYER))
        {
          g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_NO_DEVICE,
                       "DRAPE_VALIDATION is set but the Vulkan validation layer "
                       "is not installed (Debian: vulkan-validationlayers)");
          return VK_NULL_HANDLE;
        }
      info.pNext = &features;
      info.enabledLayerCount = 1;
      info.ppEnabledLayerNames = layers;
      info.enabledExtensionCount = G_N_ELEMENTS (extensions);
      info.ppEnabledExtensionNames = extensions;
    }

  result = vkCreateInstance (&info, NULL, &instance);
  if (result == VK_ERROR_INCOMPATIBLE_DRIVER || result == VK_ERROR_INITIALIZATION_FAILED)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_NO_DEVICE,
                   "No Vulkan driver found (install your GPU's Vulkan driver, "
                   "or Mesa's lavapipe to run on the CPU: mesa-vulkan-drivers)");
      return VK_NULL_HANDLE;
    }
  if (!drape_vk_check (NULL, result, "vkCreateInstance", error))
    return VK_NULL_HANDLE;
  return instance;
}

static gboolean
enumerate_physical (VkInstance         instance,
                    VkPhysicalDevice **out,
                    guint32           *n_out,
                    GError           **error)
{
  guint32 n = 0;

  if (!drape_vk_check (NULL, vkEnumeratePhysicalDevices (instance, &n, NULL),
                       "vkEnumeratePhysicalDevices", error))
    return FALSE;
  *out = g_new0 (VkPhysicalDevice, MAX (n, 1));
  if (!drape_vk_check (NULL, vkEnumeratePhysicalDevices (instance, &n, *out),
                       "vkEnumeratePhysicalDevices", error))
    {
      g_clear_pointer (out, g_free);
      return FALSE;
    }
  *n_out = n;
  return TRUE;
}

static gint
find_compute_queue_family (VkPhysicalDevice physical)
{
  guint32 n = 0;
  g_autofree VkQueueFamilyProperties *families = NULL;
  gint best = -1;

  vkGetPhysicalDeviceQueueFamilyProperties (physical, &n, NULL);
  families = g_new0 (VkQueueFamilyProperties, MAX (n, 1));
  vkGetPhysicalDeviceQueueFamilyProperties (physical, &n, families);
  /* The universal (graphics + compute) queue is the fast path on every
   * desktop driver; a compute-only family is the fallback. */
  for (guint i = 0; i < n; i++)
    {
      if (!(families[i].queueFlags & VK_QUEUE_COMPUTE_BIT))
        continue;
      if (best < 0 || (families[i].queueFlags & VK_QUEUE_GRAPHICS_BIT))
        best = i;
      if (families[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)
        break;
    }
  return best;
}

static void
fill_info (VkPhysicalDevice  physical,
           guint             index,
           DrapeDeviceInfo  *info)
{
  VkPhysicalDeviceDriverProperties driver = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES,
  };
  VkPhysicalDeviceProperties2 props = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
    .pNext = &driver,
  };
  VkPhysicalDeviceMemoryProperties mem;

  vkGetPhysicalDeviceProperties2 (physical, &props);
  vkGetPhysicalDeviceMemoryProperties (physical, &mem);

  info->index = index;
  info->name = g_strdup (props.properties.deviceName);
  info->driver = g_strdup (driver.driverName[0] ? driver.driverName : "unknown");
  info->driver_info = g_strdup (driver.driverInfo);
  info->vendor_id = props.properties.vendorID;
  info->device_id = props.properties.deviceID;
  info->api_version = props.properties.apiVersion;
  switch (props.properties.deviceType)
    {
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: info->type = DRAPE_DEVICE_TYPE_INTEGRATED; break;
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: info->type = DRAPE_DEVICE_TYPE_DISCRETE; break;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: info->type = DRAPE_DEVICE_TYPE_VIRTUAL; break;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: info->type = DRAPE_DEVICE_TYPE_CPU; break;
    default: info->type = DRAPE_DEVICE_TYPE_OTHER; break;
    }
  info->is_software = info->type == DRAPE_DEVICE_TYPE_CPU ||
                      driver.driverID == VK_DRIVER_ID_MESA_LLVMPIPE ||
                      g_str_has_prefix (info->name, "llvmpipe") ||
                      g_str_has_prefix (info->name, "SwiftShader");
  info->device_local_bytes = 0;
  for (guint i = 0; i < mem.memoryHeapCount; i++)
    if (mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
      info->device_local_bytes = MAX (info->device_local_bytes, mem.memoryHeaps[i].size);
  info->usable = props.properties.apiVersion >= REQUIRED_API_VERSION &&
                 find_compute_queue_family (physical) >= 0;
}

void
drape_device_info_free (DrapeDeviceInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->name);
  g_free (info->driver);
  g_free (info->driver_info);
  g_free (info);
}

GPtrArray *
drape_device_list (GError **error)
{
  VkInstance instance;
  g_autofree VkPhysicalDevice *physical = NULL;
  guint32 n = 0;
  GPtrArray *list;

  instance = create_instance (FALSE, error);
  if (instance == VK_NULL_HANDLE)
    return NULL;
  if (!enumerate_physical (instance, &physical, &n, error))
    {
      vkDestroyInstance (instance, NULL);
      return NULL;
    }
  list = g_ptr_array_new_with_free_func ((GDestroyNotify) drape_device_info_free);
  for (guint i = 0; i < n; i++)
    {
      DrapeDeviceInfo *info = g_new0 (DrapeDeviceInfo, 1);
      fill_info (physical[i], i, info);
      g_ptr_array_add (list, info);
    }
  vkDestroyInstance (instance, NULL);
  return list;
}

static int
type_rank (DrapeDeviceType type)
{
  switch (type)
    {
    case DRAPE_DEVICE_TYPE_DISCRETE: return 4;
    case DRAPE_DEVICE_TYPE_INTEGRATED: return 3;
    case DRAPE_DEVICE_TYPE_VIRTUAL: return 2;
    case DRAPE_DEVICE_TYPE_OTHER: return 1;
    case DRAPE_DEVICE_TYPE_CPU:
    default: return 0;
    }
}

/* selector: an index, or a case-insensitive part of the device name. */
static gint
choose_device (DrapeDeviceInfo *infos,
               guint            n,
               const char      *selector,
               GError         **error)
{
  gint best = -1;

  if (selector != NULL && *selector != '\0')
    {
      guint64 index;
      g_autofree char *needle = g_utf8_casefold (selector, -1);

      if (g_ascii_string_to_unsigned (selector, 10, 0, G_MAXUINT, &index, NULL))
        {
          if (index >= n)
            {
              g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_NO_DEVICE,
                           "DRAPE_DEVICE=%s: there are only %u Vulkan devices",
                           selector, n);
              return -1;
            }
          best = index;
        }
      else
        {
          for (guint i = 0; i < n && best < 0; i++)
            {
              g_autofree char *name = g_utf8_casefold (infos[i].name, -1);
              if (strstr (name, needle) != NULL)
                best = i;
            }
          if (best < 0)
            {
              g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_NO_DEVICE,
                           "DRAPE_DEVICE=%s: no Vulkan device has that in its name",
                           selector);
              return -1;
            }
        }
      if (!infos[best].usable)
        {
          g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_NO_DEVICE,
                       "%s cannot run Drape: it needs Vulkan 1.2 and a compute queue",
                       infos[best].name);
          return -1;
        }
      return best;
    }

  for (guint i = 0; i < n; i++)
    {
      if (!infos[i].usable)
        continue;
      if (best < 0 || type_rank (infos[i].type) > type_rank (infos[best].type))
        best = i;
    }
  if (best < 0)
    g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_NO_DEVICE,
                 n == 0 ? "No Vulkan device found"
                        : "No Vulkan device can run Drape (Vulkan 1.2 and a compute queue are needed)");
  return best;
}

static gboolean
has_extension (const VkExtensionProperties *exts,
               guint32                      n,
               const char                  *name)
{
  for (guint i = 0; i < n; i++)
    if (strcmp (exts[i].extensionName, name) == 0)
      return TRUE;
  return FALSE;
}

/* Takes a cooperative-matrix shape into caps->coopmat_m, _n and _k if it
 * suits the tensor-core kernels (f16 operands, f32 sums, subgroup scope,
 * each side 8 or 16: they stage operands in 16-byte pieces of 8 halves)
 * and beats the one there (more work per multiply-add, then wider). */
static void
coopmat_consider_shape (DrapeDeviceCaps *caps,
                        guint32          m,
                        guint32          n,
                        guint32          k,
                        gboolean         f16_f32,
                        gboolean         subgroup_scope)
{
  guint32 size = m * n * k, best_size = caps->coopmat_m * caps->coopmat_n * caps->coopmat_k;

  if (!f16_f32 || !subgroup_scope || (m != 8 && m != 16) || (n != 8 && n != 16) ||
      (k != 8 && k != 16))
    return;
  if (size > best_size || (size == best_size && n > caps->coopmat_n))
    {
      caps->coopmat_m = m;
      caps->coopmat_n = n;
      caps->coopmat_k = k;
    }
}

/* Whether the device has the cooperativeMatrix feature of the extension
 * whose feature structure is `type`: the NV and KHR structures have the
 * same members, so one query serves both. */
static gboolean
coopmat_feature_on (DrapeDevice    *device,
                    VkStructureType type)
{
  VkPhysicalDeviceCooperativeMatrixFeaturesKHR feature = { .sType = type };
  VkPhysicalDeviceFeatures2 features = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
    .pNext = &feature,
  };

  vkGetPhysicalDeviceFeatures2 (device->physical, &features);
  return feature.cooperativeMatrix;
}

/* The best shape the tensor-core kernels can take from the device's list
 * into caps->coopmat_m, _n and _k; FALSE when none suits, or when the
 * device lists the extension but has its feature off (lavapipe below
 * 256-bit vectors).  One query per extension: their structures
 * differ. */
static gboolean
nv_coopmat_choose_shape (DrapeDevice *device)
{
  PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV get =
    (PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV)
      vkGetInstanceProcAddr (device->instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV");
  guint32 n = 0;
  g_autofree VkCooperativeMatrixPropertiesNV *props = NULL;
  DrapeDeviceCaps *caps = &device->caps;

  if (!coopmat_feature_on (device, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV) ||
      get == NULL || get (device->physical, &n, NULL) != VK_SUCCESS || n == 0)
    return FALSE;
  props = g_new0 (VkCooperativeMatrixPropertiesNV, n);
  for (guint i = 0; i < n; i++)
    props[i].sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV;
  if (get (device->physical, &n, props) != VK_SUCCESS)
    return FALSE;
  caps->coopmat_m = caps->coopmat_n = caps->coopmat_k = 0;
  for (guint i = 0; i < n; i++)
    coopmat_consider_shape (caps, props[i].MSize, props[i].NSize, props[i].KSize,
                            props[i].AType == VK_COMPONENT_TYPE_FLOAT16_NV &&
                              props[i].BType == VK_COMPONENT_TYPE_FLOAT16_NV &&
                              props[i].CType == VK_COMPONENT_TYPE_FLOAT32_NV &&
                              props[i].DType == VK_COMPONENT_TYPE_FLOAT32_NV,
                            props[i].scope == VK_SCOPE_SUBGROUP_NV);
  return caps->coopmat_m != 0;
}

/* The device's KHR matrix shapes (NULL when it has none, or the feature
 * is off). */
static VkCooperativeMatrixPropertiesKHR *
khr_coopmat_shapes (DrapeDevice *device,
                    guint32     *n)
{
  PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR get =
    (PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR)
      vkGetInstanceProcAddr (device->instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR");
  g_autofree VkCooperativeMatrixPropertiesKHR *props = NULL;

  *n = 0;
  if (!coopmat_feature_on (device, VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR) ||
      get == NULL || get (device->physical, n, NULL) != VK_SUCCESS || *n == 0)
    return NULL;
  props = g_new0 (VkCooperativeMatrixPropertiesKHR, *n);
  for (guint i = 0; i < *n; i++)
    props[i].sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_KHR;
  if (get (device->physical, n, props) != VK_SUCCESS)
    return NULL;
  return g_steal_pointer (&props);
}

static gboolean
khr_shape_is_f16_f32 (const VkCooperativeMatrixPropertiesKHR *props)
{
  return props->AType == VK_COMPONENT_TYPE_FLOAT16_KHR && props->BType == VK_COMPONENT_TYPE_FLOAT16_KHR &&
         props->CType == VK_COMPONENT_TYPE_FLOAT32_KHR &&
         props->ResultType == VK_COMPONENT_TYPE_FLOAT32_KHR;
}

static gboolean
khr_coopmat_choose_shape (DrapeDevice *device)
{
  guint32 n = 0;
  g_autofree VkCooperativeMatrixPropertiesKHR *props = khr_coopmat_shapes (device, &n);
  DrapeDeviceCaps *caps = &device->caps;

  if (props == NULL)
    return FALSE;
  caps->coopmat_m = caps->coopmat_n = caps->coopmat_k = 0;
  for (guint i = 0; i < n; i++)
    coopmat_consider_shape (caps, props[i].MSize, props[i].NSize, props[i].KSize,
                            khr_shape_is_f16_f32 (&props[i]), props[i].scope == VK_SCOPE_SUBGROUP_KHR);
  return caps->coopmat_m != 0;
}

/* The workgroup-scope sizes of f16 operands with f32 sums that the
 * device lists (DrapeDeviceCaps.coopmat2_workgroup). */
static void
read_coopmat2_workgroup (DrapeDevice *device)
{
  PFN_vkGetPhysicalDeviceCooperativeMatrixFlexibleDimensionsPropertiesNV get =
    (PFN_vkGetPhysicalDeviceCooperativeMatrixFlexibleDimensionsPropertiesNV)
      vkGetInstanceProcAddr (device->instance, "vkGetPhysicalDeviceCooperativeMatrixFlexibleDimensionsPropertiesNV");
  VkPhysicalDeviceCooperativeMatrix2PropertiesNV limits = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_2_PROPERTIES_NV,
  };
  VkPhysicalDeviceProperties2 props2 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
    .pNext = &limits,
  };
  g_autofree VkCooperativeMatrixFlexibleDimensionsPropertiesNV *props = NULL;
  DrapeDeviceCaps *caps = &device->caps;
  guint32 n = 0;

  if (get == NULL || get (device->physical, &n, NULL) != VK_SUCCESS || n == 0)
    return;
  props = g_new0 (VkCooperativeMatrixFlexibleDimensionsPropertiesNV, n);
  for (guint i = 0; i < n; i++)
    props[i].sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_FLEXIBLE_DIMENSIONS_PROPERTIES_NV;
  if (get (device->physical, &n, props) != VK_SUCCESS)
    return;
  vkGetPhysicalDeviceProperties2 (device->physical, &props2);
  caps->coopmat2_max_dimension = limits.cooperativeMatrixFlexibleDimensionsMaxDimension;
  for (guint i = 0; i < n && caps->n_coopmat2_workgroup < G_N_ELEMENTS (caps->coopmat2_workgroup); i++)
    {
      const VkCooperativeMatrixFlexibleDimensionsPropertiesNV *f = &props[i];

      if (f->scope == VK_SCOPE_WORKGROUP_KHR && f->AType == VK_COMPONENT_TYPE_FLOAT16_KHR &&
          f->BType == VK_COMPONENT_TYPE_FLOAT16_KHR && f->CType == VK_COMPONENT_TYPE_FLOAT32_KHR &&
          f->ResultType == VK_COMPONENT_TYPE_FLOAT32_KHR && !f->saturatingAccumulation &&
          f->workgroupInvocations <= limits.cooperativeMatrixWorkgroupScopeMaxWorkgroupSize &&
          f->MGranularity > 0 && f->NGranularity > 0 && f->KGranularity > 0)
        caps->coopmat2_workgroup[caps->n_coopmat2_workgroup++] =
          (DrapeCoopmatWorkgroup) { f->workgroupInvocations, f->MGranularity, f->NGranularity,
                                    f->KGranularity };
    }
}

/* Whether the cooperative-matrix-2 kernels run here (DrapeDeviceCaps.
 * coopmat2 says what they need). */
static gboolean
choose_coopmat2 (DrapeDevice                 *device,
                 const VkExtensionProperties *exts,
                 guint32                      n_ext,
                 gboolean                     maintenance4)
{
  const DrapeDeviceCaps *caps = &device->caps;
  VkPhysicalDeviceCooperativeMatrix2FeaturesNV have2 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_2_FEATURES_NV,
  };
  VkPhysicalDeviceFeatures2 features = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
    .pNext = &have2,
  };
  g_autofree VkCooperativeMatrixPropertiesKHR *props = NULL;
  guint32 n = 0;

  /* DRAPE_COOPMAT=nv asks for VK_NV_cooperative_matrix alone,
   * DRAPE_NO_COOPMAT2 for no cooperative matrix 2 (comparisons). */
  if (!DRAPE_HAVE_NV_COOPMAT2 || caps->coopmat == DRAPE_COOPMAT_NONE || caps->coopmat_n != caps->coopmat_k ||
      g_strcmp0 (g_getenv ("DRAPE_COOPMAT"), "nv") == 0 || g_getenv ("DRAPE_NO_COOPMAT2") != NULL ||
      device->info.api_version < VK_API_VERSION_1_3 || !maintenance4 ||
      !has_extension (exts, n_ext, VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME) ||
      !has_extension (exts, n_ext, VK_NV_COOPERATIVE_MATRIX_2_EXTENSION_NAME))
    return FALSE;
  vkGetPhysicalDeviceFeatures2 (device->physical, &features);
  if (!have2.cooperativeMatrixReductions || !have2.cooperativeMatrixConversions ||
      !have2.cooperativeMatrixPerElementOperations)
    return FALSE;
  /* The shape the other kernels chose, among the KHR ones. */
  props = khr_coopmat_shapes (device, &n);
  for (guint i = 0; i < n; i++)
    if (props[i].MSize == caps->coopmat_m && props[i].NSize == caps->coopmat_n &&
        props[i].KSize == caps->coopmat_k && khr_shape_is_f16_f32 (&props[i]) &&
        props[i].scope == VK_SCOPE_SUBGROUP_KHR)
      {
        if (have2.cooperativeMatrixWorkgroupScope && have2.cooperativeMatrixFlexibleDimensions &&
            have2.cooperativeMatrixTensorAddressing)
          read_coopmat2_workgroup (device);
        return TRUE;
      }
  return FALSE;
}

/* Whether compute pipelines can ask for full subgroups of 32 (Vulkan
 * 1.3's subgroup size control), for devices whose default width differs. */
static gboolean
can_pin_subgroup_32 (DrapeDevice                            *device,
                     const VkPhysicalDeviceVulkan13Features *have13)
{
  VkPhysicalDeviceVulkan13Properties props13 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_PROPERTIES,
  };
  VkPhysicalDeviceProperties2 props = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
    .pNext = &props13,
  };

  if (device->info.api_version < VK_API_VERSION_1_3 || !have13->subgroupSizeControl ||
      !have13->computeFullSubgroups)
    return FALSE;
  vkGetPhysicalDeviceProperties2 (device->physical, &props);
  return props13.minSubgroupSize <= 32 && props13.maxSubgroupSize >= 32 &&
         (props13.requiredSubgroupSizeStages & VK_SHADER_STAGE_COMPUTE_BIT);
}

/* Which cooperative-matrix extension the tensor-core kernels use here
 * (DrapeDeviceCaps.coopmat says when). */
static DrapeCoopmat
choose_coopmat (DrapeDevice                 *device,
                const VkExtensionProperties *exts,
                guint32                      n_ext,
                gboolean                     memory_model,
                gboolean                     can_pin)
{
  const char *only = g_getenv ("DRAPE_COOPMAT");
  guint32 width = device->caps.subgroup_size;
  gboolean width_32 = width == 32;
  /* The kernels take any power-of-two width their tiles divide into;
   * tensor cores are known to run well at 32, so that is asked for
   * where the device can (AMD's default is 64). */
  gboolean width_ok = width_32 || can_pin || (width >= 4 && width <= 64 && (width & (width - 1)) == 0);

  if (only != NULL && g_strcmp0 (only, "nv") != 0 && g_strcmp0 (only, "khr") != 0)
    g_warning ("DRAPE_COOPMAT=%s: expected nv or khr; ignored", only);
  if (!device->caps.has_f16 || !memory_model || g_getenv ("DRAPE_NO_COOPMAT") != NULL)
    return DRAPE_COOPMAT_NONE;
  /* A CPU driver's cooperative matrices (lavapipe's) are emulated, slower
   * than the kernels written for CPUs: only for testing, when asked. */
  if (device->info.is_software && only == NULL)
    return DRAPE_COOPMAT_NONE;
  /* KHR first where the build has both: on an H200 (driver 580) the
   * same kernels ran 4 to 6% faster through it than through the NV
   * extension (tests/bench/device-run.sh, DRAPE_COOPMAT=khr). */
  if (DRAPE_HAVE_KHR_COOPMAT && g_strcmp0 (only, "nv") != 0 && width_ok &&
      has_extension (exts, n_ext, VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME) &&
      khr_coopmat_choose_shape (device))
    return DRAPE_COOPMAT_KHR;
  if (DRAPE_HAVE_NV_COOPMAT && g_strcmp0 (only, "khr") != 0 && width_32 &&
      has_extension (exts, n_ext, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME) &&
      nv_coopmat_choose_shape (device))
    return DRAPE_COOPMAT_NV;
  return DRAPE_COOPMAT_NONE;
}

static void
read_caps (DrapeDevice *device)
{
  VkPhysicalDeviceSubgroupProperties subgroup = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES,
  };
  VkPhysicalDeviceMaintenance3Properties maint3 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES,
    .pNext = &subgroup,
  };
  VkPhysicalDeviceProperties2 props = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
    .pNext = &maint3,
  };
  const VkPhysicalDeviceLimits *limits = &props.properties.limits;
  DrapeDeviceCaps *caps = &device->caps;

  vkGetPhysicalDeviceProperties2 (device->physical, &props);
  vkGetPhysicalDeviceMemoryProperties (device->physical, &device->memory_properties);
  memcpy (device->pipeline_cache_uuid, props.properties.pipelineCacheUUID, VK_UUID_SIZE);
  device->driver_version = props.properties.driverVersion;

  caps->max_storage_buffer_range = limits->maxStorageBufferRange;
  caps->max_allocation_size = maint3.maxMemoryAllocationSize;
  caps->storage_offset_alignment = MAX (limits->minStorageBufferOffsetAlignment, 4);
  caps->texel_offset_alignment = MAX (limits->minTexelBufferOffsetAlignment, 4);
  caps->max_texel_elements = limits->maxTexelBufferElements;
  caps->max_shared_memory = limits->maxComputeSharedMemorySize;
  for (guint i = 0; i < 3; i++)
    {
      caps->max_workgroup_count[i] = limits->maxComputeWorkGroupCount[i];
      caps->max_workgroup_size[i] = limits->maxComputeWorkGroupSize[i];
    }
  caps->max_workgroup_invocations = limits->maxComputeWorkGroupInvocations;
  caps->max_push_constants = limits->maxPushConstantsSize;
  caps->subgroup_size = MAX (subgroup.subgroupSize, 1);
  caps->timestamp_period_ns = limits->timestampPeriod;
  caps->device_local_bytes = device->info.device_local_bytes;

  caps->unified_memory = TRUE;
  for (guint i = 0; i < device->memory_properties.memoryTypeCount; i++)
    {
      VkMemoryPropertyFlags f = device->memory_properties.memoryTypes[i].propertyFlags;
      if ((f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) && !(f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT))
        caps->unified_memory = FALSE;
    }
}

/* DrapeDeviceCaps.compute_units, from whichever extension the driver
 * lists that counts them. */
static guint32
read_compute_units (DrapeDevice                 *device,
                    const VkExtensionProperties *exts,
                    guint32                      n_ext)
{
  VkPhysicalDeviceShaderSMBuiltinsPropertiesNV sm = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_SM_BUILTINS_PROPERTIES_NV,
  };
  VkPhysicalDeviceShaderCorePropertiesAMD cores = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_CORE_PROPERTIES_AMD,
  };
  VkPhysicalDeviceProperties2 props = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2 };

  if (has_extension (exts, n_ext, VK_NV_SHADER_SM_BUILTINS_EXTENSION_NAME))
    {
      props.pNext = &sm;
      vkGetPhysicalDeviceProperties2 (device->physical, &props);
      return sm.shaderSMCount;
    }
  if (has_extension (exts, n_ext, VK_AMD_SHADER_CORE_PROPERTIES_EXTENSION_NAME))
    {
      props.pNext = &cores;
      vkGetPhysicalDeviceProperties2 (device->physical, &props);
      return cores.shaderEngineCount * cores.shaderArraysPerEngineCount *
             cores.computeUnitsPerShaderArray;
    }
  return 0;
}

/* A file in Drape's cache folder that belongs to this device, driver
 * (the pipeline cache UUID changes with it) and version of Drape. */
static char *
device_cache_path (DrapeDevice *device,
                   const char  *kind,
                   const char  *suffix)
{
  g_autoptr(GString) uuid = g_string_new (NULL);
  g_autofree char *name = NULL;

  for (guint i = 0; i < VK_UUID_SIZE; i++)
    g_string_append_printf (uuid, "%02x", device->pipeline_cache_uuid[i]);
  name = g_strdup_printf ("%s-%04x-%04x-%s-%s%s", kind, device->info.vendor_id, device->info.device_id,
                          uuid->str, PACKAGE_VERSION, suffix);
  return g_build_filename (g_get_user_cache_dir (), "drape", name, NULL);
}

/* The tuning Drape ships for this model of GPU (PCI vendor and device
 * IDs, whatever the driver): tunings/VVVV-DDDD.json in DRAPE_TUNINGS_DIR,
 * else where Drape is installed, else in the source tree (uninstalled
 * runs). */
static char *
shipped_tuning_path (DrapeDevice *device)
{
  const char *env = g_getenv ("DRAPE_TUNINGS_DIR");
  g_autofree char *installed = g_build_filename (PKGDATADIR, "tunings", NULL);
  g_autofree char *name =
    g_strdup_printf ("%04x-%04x.json", device->info.vendor_id, device->info.device_id);
  const char *dir = env != NULL && env[0] != '\0' ? env
                    : g_file_test (installed, G_FILE_TEST_IS_DIR) ? installed
                                                                   : SOURCE_TUNINGS_DIR;

  return g_build_filename (dir, name, NULL);
}

/* A tuning from `path`, or NULL where there is none; a file that cannot
 * be read is left out, saying why: its ways only ever speed things up. */
static DrapeTuning *
try_tuning (const char *path)
{
  g_autoptr(GError) error = NULL;
  DrapeTuning *tuning = drape_tuning_load (path, &error);

  if (tuning == NULL && !g_error_matches (error, DRAPE_ERROR, DRAPE_ERROR_IO))
    g_message ("Tuning not used: %s", error->message);
  return tuning;
}

/* The tuning the device starts with: DRAPE_TUNING's file ("none": none);
 * else its own, measured here, where there is one; else the one Drape
 * ships for its model, where there is one. */
static void
load_tuning (DrapeDevice *device)
{
  const char *forced = g_getenv ("DRAPE_TUNING");
  gboolean none = g_strcmp0 (forced, "none") == 0;
  gboolean named = forced != NULL && *forced != '\0' && !none;

  device->tuning_path = named ? g_strdup (forced) : device_cache_path (device, "tuning", ".json");
  if (!none)
    device->tuning = try_tuning (device->tuning_path);
  if (device->tuning != NULL)
    device->tuning_source = g_strdup (device->tuning_path);
  else if (!named && !none)
    {
      g_autofree char *shipped = shipped_tuning_path (device);

      device->tuning = try_tuning (shipped);
      if (device->tuning != NULL)
        device->tuning_source = g_steal_pointer (&shipped);
    }
  if (device->tuning == NULL)
    device->tuning = drape_tuning_new ();
}

DrapeTuning *
drape_device_get_tuning (DrapeDevice *device)
{
  return device->tuning;
}

void
drape_device_set_tuning (DrapeDevice *device,
                         DrapeTuning *tuning)
{
  g_return_if_fail (tuning != NULL);
  drape_tuning_free (device->tuning);
  device->tuning = tuning;
}

const char *
drape_device_get_tuning_path (DrapeDevice *device)
{
  return device->tuning_path;
}

const char *
drape_device_get_tuning_source (DrapeDevice *device)
{
  return device->tuning_source;
}

gboolean
drape_device_save_tuning (DrapeDevice *device,
                          const char  *path,
                          GError     **error)
{
  if (!drape_tuning_save (device->tuning, path, device->info.name, error))
    return FALSE;
  if (g_strcmp0 (path, device->tuning_path) == 0)
    {
      g_free (device->tuning_source);
      device->tuning_source = g_strdup (path);
    }
  return TRUE;
}

/* A driver is not obliged to survive a cache blob from another device or
 * driver version, so the header is checked before the driver sees it. */
static gboolean
pipeline_cache_header_matches (DrapeDevice  *device,
                               const guint8 *data,
                               gsize         size)
{
  guint32 header_size, version, vendor, dev;

  if (size < 16 + VK_UUID_SIZE)
    return FALSE;
  memcpy (&header_size, data, 4);
  memcpy (&version, data + 4, 4);
  memcpy (&vendor, data + 8, 4);
  memcpy (&dev, data + 12, 4);
  return header_size >= 16 + VK_UUID_SIZE && header_size <= size &&
         version == VK_PIPELINE_CACHE_HEADER_VERSION_ONE &&
         vendor == device->info.vendor_id && dev == device->info.device_id &&
         memcmp (data + 16, device->pipeline_cache_uuid, VK_UUID_SIZE) == 0;
}

static gboolean
create_pipeline_cache (DrapeDevice *device,
                       GError     **error)
{
  g_autofree char *contents = NULL;
  gsize length = 0;
  VkPipelineCacheCreateInfo info = {
    .sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
  };

  device->pipeline_cache_path = device_cache_path (device, "pipelines", ".bin");
  if (g_file_get_contents (device->pipeline_cache_path, &contents, &length, NULL) &&
      pipeline_cache_header_matches (device, (const guint8 *) contents, length))
    {
      info.initialDataSize = length;
      info.pInitialData = contents;
    }
  if (vkCreatePipelineCache (device->device, &info, NULL, &device->pipeline_cache) == VK_SUCCESS)
    return TRUE;
  /* A cache the driver rejects is worth nothing: start empty. */
  info.initialDataSize = 0;
  info.pInitialData = NULL;
  return drape_vk_check (device, vkCreatePipelineCache (device->device, &info, NULL,
                                                        &device->pipeline_cache),
                         "vkCreatePipelineCache", error);
}

gboolean
drape_device_save_pipeline_cache (DrapeDevice *device,
                                  GError     **error)
{
  gsize size = 0;
  g_autofree guint8 *data = NULL;
  g_autofree char *dir = NULL;

  if (device->pipeline_cache == VK_NULL_HANDLE || device->lost)
    return TRUE;
  if (!drape_vk_check (device, vkGetPipelineCacheData (device->device, device->pipeline_cache, &size, NULL),
                       "vkGetPipelineCacheData", error))
    return FALSE;
  data = g_malloc (MAX (size, 1));
  if (!drape_vk_check (device, vkGetPipelineCacheData (device->device, device->pipeline_cache, &size, data),
                       "vkGetPipelineCacheData", error))
    return FALSE;
  dir = g_path_get_dirname (device->pipeline_cache_path);
  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_IO, "Cannot create %s", dir);
      return FALSE;
    }
  if (!g_file_set_contents (device->pipeline_cache_path, (const char *) data, size, error))
    return FALSE;
  return TRUE;
}

/* From now on, pipelines keep what the driver says of them, where it can
 * (caps.pipeline_statistics); FALSE where it cannot.  For profiles:
 * drivers may build such pipelines more slowly. */
gboolean
drape_device_capture_pipeline_statistics (DrapeDevice *device,
                                          gboolean     capture)
{
  device->capture_statistics = capture && device->caps.pipeline_statistics;
  return device->capture_statistics;
}

/* The statistics of the pipeline a dispatch profile names (DrapeOpTime's
 * `kernel`), or NULL where none were captured. */
GArray *
drape_device_get_pipeline_statistics (DrapeDevice *device,
                                      const char  *kernel)
{
  DrapeKernel *k;
  GArray *statistics = NULL;

  g_mutex_lock (&device->lock);
  k = g_hash_table_lookup (device->kernels, kernel);
  if (k != NULL && k->statistics != NULL)
    statistics = g_array_ref (k->statistics);
  g_mutex_unlock (&device->lock);
  return statistics;
}

void
drape_device_get_pipeline_builds (DrapeDevice *device,
                                  guint       *count,
                                  double      *ms)
{
  g_mutex_lock (&device->lock);
  if (count != NULL)
    *count = device->pipelines_built;
  if (ms != NULL)
    *ms = device->pipeline_build_us / 1000.0;
  g_mutex_unlock (&device->lock);
}

/* Whether the driver can describe the pipelines it builds. */
static gboolean
has_pipeline_statistics (DrapeDevice                 *device,
                         const VkExtensionProperties *exts,
                         guint32                      n_ext)
{
  VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR feature = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR,
  };
  VkPhysicalDeviceFeatures2 features = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
    .pNext = &feature,
  };

  if (!has_extension (exts, n_ext, VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME))
    return FALSE;
  vkGetPhysicalDeviceFeatures2 (device->physical, &features);
  return feature.pipelineExecutableInfo;
}

/* allow_coopmat2: whether cooperative matrix 2 may be turned on where the
 * device has it (DrapeDeviceCaps.coopmat2 says whether it was). */
static gboolean
create_logical_device (DrapeDevice *device,
                       gboolean     allow_coopmat2,
                       GError     **error)
{
  guint32 n_ext = 0;
  g_autofree VkExtensionProperties *exts = NULL;
  const char *enabled[4];
  guint n_enabled = 0;
  float priority = 1.0f;
  gboolean can_pin;
  VkPhysicalDeviceVulkan13Features have13 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES };
  VkPhysicalDeviceVulkan11Features have11 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES };
  VkPhysicalDeviceVulkan12Features have12 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES, .pNext = &have11 };
  VkPhysicalDeviceFeatures2 have = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &have12 };
  VkPhysicalDeviceVulkan13Features want13 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES };
  VkPhysicalDeviceVulkan11Features want11 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES };
  VkPhysicalDeviceVulkan12Features want12 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES, .pNext = &want11 };
  VkPhysicalDeviceCooperativeMatrixFeaturesNV want_nv_coopmat = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV,
    .cooperativeMatrix = VK_TRUE,
  };
  VkPhysicalDeviceCooperativeMatrixFeaturesKHR want_khr_coopmat = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR,
    .cooperativeMatrix = VK_TRUE,
  };
  VkPhysicalDeviceCooperativeMatrix2FeaturesNV want_coopmat2 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_2_FEATURES_NV,
    .cooperativeMatrixReductions = VK_TRUE,
    .cooperativeMatrixConversions = VK_TRUE,
    .cooperativeMatrixPerElementOperations = VK_TRUE,
  };
  VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR want_statistics = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR,
    .pipelineExecutableInfo = VK_TRUE,
  };
  VkPhysicalDeviceFeatures2 want = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &want12 };
  VkDeviceQueueCreateInfo queue = {
    .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
    .queueFamilyIndex = device->queue_family,
    .queueCount = 1,
    .pQueuePriorities = &priority,
  };
  VkDeviceCreateInfo info = {
    .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
    .pNext = &want,
    .queueCreateInfoCount = 1,
    .pQueueCreateInfos = &queue,
  };

  /* Vulkan 1.3's features may only be asked of a 1.3 device. */
  if (device->info.api_version >= VK_API_VERSION_1_3)
    have11.pNext = &have13;
  vkGetPhysicalDeviceFeatures2 (device->physical, &have);
  if (!drape_vk_check (device, vkEnumerateDeviceExtensionProperties (device->physical, NULL, &n_ext, NULL),
                       "vkEnumerateDeviceExtensionProperties", error))
    return FALSE;
  exts = g_new0 (VkExtensionProperties, MAX (n_ext, 1));
  if (!drape_vk_check (device, vkEnumerateDeviceExtensionProperties (device->physical, NULL, &n_ext, exts),
                       "vkEnumerateDeviceExtensionProperties", error))
    return FALSE;

  device->caps.compute_units = read_compute_units (device, exts, n_ext);
  device->caps.has_f16 = have11.storageBuffer16BitAccess && have12.shaderFloat16;
  want11.storageBuffer16BitAccess = have11.storageBuffer16BitAccess;
  want12.shaderFloat16 = have12.shaderFloat16;
  want12.storageBuffer8BitAccess = have12.storageBuffer8BitAccess;
  want12.shaderInt8 = have12.shaderInt8;
  device->caps.has_int64 = have.features.shaderInt64;
  device->caps.texel_reads = device->caps.has_int64 &&
                             drape_device_texel_reads_work (device->info.driver, device->info.driver_info,
                                                            drape_device_mesa_cache_mixes_widths ());
  device->caps.stores_int64 = device->caps.has_int64 && drape_device_int64_stores_work (device->info.name);
  device->caps.lane_broadcasts = drape_device_lane_broadcasts_pay (device->info.driver, device->info.driver_info);
  want.features.shaderInt64 = have.features.shaderInt64;

  /* glslang compiles cooperative-matrix shaders to the Vulkan memory
   * model, a feature of its own. */
  can_pin = can_pin_subgroup_32 (device, &have13);
  device->caps.coopmat = choose_coopmat (device, exts, n_ext, have12.vulkanMemoryModel, can_pin);
  device->caps.coopmat_subgroup_size = device->caps.subgroup_size;
  if (device->caps.coopmat != DRAPE_COOPMAT_NONE)
    want12.vulkanMemoryModel = VK_TRUE;
  device->caps.n_coopmat2_workgroup = 0;
  device->caps.coopmat2 = allow_coopmat2 && choose_coopmat2 (device, exts, n_ext, have13.maintenance4);
  if (device->caps.coopmat == DRAPE_COOPMAT_NV)
    {
      enabled[n_enabled++] = VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME;
      want_nv_coopmat.pNext = want.pNext;
      want.pNext = &want_nv_coopmat;
    }
  if (device->caps.coopmat == DRAPE_COOPMAT_KHR || device->caps.coopmat2)
    {
      enabled[n_enabled++] = VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME;
      want_khr_coopmat.pNext = want.pNext;
      want.pNext = &want_khr_coopmat;
    }
  if (device->caps.coopmat == DRAPE_COOPMAT_KHR && device->caps.subgroup_size != 32 && can_pin)
    {
      want13.subgroupSizeControl = VK_TRUE;
      want13.computeFullSubgroups = VK_TRUE;
      device->caps.coopmat_pins_subgroup = TRUE;
      device->caps.coopmat_subgroup_size = 32;
    }
  if (device->caps.coopmat2)
    {
      enabled[n_enabled++] = VK_NV_COOPERATIVE_MATRIX_2_EXTENSION_NAME;
      if (device->caps.n_coopmat2_workgroup > 0)
        {
          want_coopmat2.cooperativeMatrixWorkgroupScope = VK_TRUE;
          want_coopmat2.cooperativeMatrixFlexibleDimensions = VK_TRUE;
          want_coopmat2.cooperativeMatrixTensorAddressing = VK_TRUE;
        }
      want_coopmat2.pNext = want.pNext;
      want.pNext = &want_coopmat2;
      /* SPIR-V 1.6 sizes workgroups by specialisation-constant ids. */
      want13.maintenance4 = VK_TRUE;
    }
  device->caps.pipeline_statistics = has_pipeline_statistics (device, exts, n_ext);
  if (device->caps.pipeline_statistics)
    {
      enabled[n_enabled++] = VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME;
      want_statistics.pNext = want.pNext;
      want.pNext = &want_statistics;
    }
  if (want13.subgroupSizeControl || want13.maintenance4)
    {
      want13.pNext = want.pNext;
      want.pNext = &want13;
    }

  info.enabledExtensionCount = n_enabled;
  info.ppEnabledExtensionNames = n_enabled ? enabled : NULL;
  if (!drape_vk_check (device, vkCreateDevice (device->physical, &info, NULL, &device->device),
                       "vkCreateDevice", error))
    return FALSE;
  vkGetDeviceQueue (device->device, device->queue_family, 0, &device->queue);
  if (device->caps.pipeline_statistics)
    {
      device->get_executables = (PFN_vkGetPipelineExecutablePropertiesKHR)
        vkGetDeviceProcAddr (device->device, "vkGetPipelineExecutablePropertiesKHR");
      device->get_executable_statistics = (PFN_vkGetPipelineExecutableStatisticsKHR)
        vkGetDeviceProcAddr (device->device, "vkGetPipelineExecutableStatisticsKHR");
      device->caps.pipeline_statistics = device->get_executables != NULL &&
                                         device->get_executable_statistics != NULL;
    }
  return TRUE;
}

/* The number after `key` in a llvmpipe device's name ("llvmpipe (LLVM
 * 15.0.6, 256 bits)": after "(LLVM " the LLVM's major version, after ", "
 * the vector width); 0 for any other device. */
static guint64
llvmpipe_name_number (const char *name,
                      const char *key)
{
  const char *at = name != NULL && g_str_has_prefix (name, "llvmpipe") ? strstr (name, key) : NULL;

  return at != NULL ? g_ascii_strtoull (at + strlen (key), NULL, 10) : 0;
}

/* The Mesa release a lavapipe driver names in its driverInfo ("Mesa
 * 26.1.6-1~bpo13+1 (LLVM 19.1.7)") as major * 100 + minor (2601); 0 for
 * other drivers and where it names none. */
static guint64
lavapipe_mesa_release (const char *driver,
                       const char *driver_info)
{
  const char *number = driver_info != NULL && g_str_has_prefix (driver_info, "Mesa ")
                       ? driver_info + strlen ("Mesa ") : NULL;
  guint64 major;
  char *end;

  if (g_strcmp0 (driver, "llvmpipe") != 0 || number == NULL)
    return 0;
  major = g_ascii_strtoull (number, &end, 10);
  if (end == number)
    return 0;
  return major * 100 + (*end == '.' ? MIN (g_ascii_strtoull (end + 1, NULL, 10), 99) : 0);
}

/* Mesa 23.3: lavapipe's texel fetches leave the kernels for functions of
 * their own. */
#define LAVAPIPE_FETCH_FUNCTIONS 2303
/* Mesa 25.0: the first release measured to compile a broadcast from a
 * constant lane to a register permute (drape_device_lane_broadcasts_pay). */
#define LAVAPIPE_LANE_BROADCASTS 2500

gboolean
drape_device_lane_broadcasts_pay (const char *driver,
                                  const char *driver_info)
{
  /* Measured with the 640-channel 3x3 convolution of bench-conv on 2
   * AVX-512 cores: Mesa 22.3's lavapipe runs it 3.3 times as long with
   * broadcasts (each looks for the first active lane in a loop); Mesa
   * 25.0's 7.4 times as fast at 512 bits and 1.3 at 256, Mesa 26.1's 5
   * times as fast at 512 bits and as fast at 256 (its shuffles are loops
   * over the lanes, unrolled at 8 lanes only).  The releases between were
   * not tried, so broadcasts from Mesa 25.0 on. */
  return lavapipe_mesa_release (driver, driver_info) >= LAVAPIPE_LANE_BROADCASTS;
}

gboolean
drape_device_wide_vectors_pay (const char *driver,
                               const char *driver_info,
                               gboolean    cache_per_width)
{
  /* On 2 AVX-512 cores: Mesa 22.3's lavapipe runs a 3x3 convolution 1.5
   * times as fast at 512 bits as at 256 (a UNet step at 192x256 1.1 to
   * 1.4 times).  Mesa 25.0 and 26.1 gain only with broadcasts (above)
   * and texel reads, which a forced width keeps only in a Mesa cache of
   * its own (drape_device_texel_reads_work): then a step takes 4.9 to
   * 5.1 s at 512 bits against 7.2 to 9.1 at 256; with shuffles, 22.8 s
   * (Mesa 25.0), and reading storage buffers too, 33.7.  Releases 23.3
   * to 24.x were not tried: they keep 256. */
  guint64 release = lavapipe_mesa_release (driver, driver_info);

  return release != 0 &&
         (release < LAVAPIPE_FETCH_FUNCTIONS || (release >= LAVAPIPE_LANE_BROADCASTS && cache_per_width));
}

/* Mesa's disk cache for lavapipe code of `width` bits, Drape's own. */
static char *
mesa_cache_dir (const char *width)
{
  g_autofree char *name = g_strdup_printf ("mesa-%s-bits", width);

  return g_build_filename (g_get_user_cache_dir (), "drape", name, NULL);
}

/* Makes that cache's folder, as Mesa would not (it makes only the last
 * folder of its path, and caches nothing where it cannot); FALSE with
 * errno set where it cannot be made. */
static gboolean
make_mesa_cache_dir (const char *width)
{
  g_autofree char *dir = mesa_cache_dir (width);

  return g_mkdir_with_parents (dir, 0700) == 0;
}

gboolean
drape_device_mesa_cache_mixes_widths (void)
{
  const char *width = g_getenv ("LP_NATIVE_VECTOR_WIDTH");
  g_autofree char *own = width != NULL ? mesa_cache_dir (width) : NULL;

  return width != NULL && g_strcmp0 (g_getenv ("MESA_SHADER_CACHE_DIR"), own) != 0;
}

void
drape_device_prefer_wide_cpu_vectors (void)
{
  const char *width;

#if defined(__x86_64__) || defined(__i386__)
  if (__builtin_cpu_supports ("avx512f") && g_getenv ("LP_NATIVE_VECTOR_WIDTH") == NULL)
    {
      /* The drivers, made at their default width, name their release;
       * each new instance reads the width again. */
      g_autoptr(GPtrArray) devices = drape_device_list (NULL);
      gboolean cache_named = g_getenv ("MESA_SHADER_CACHE_DIR") != NULL;

      for (guint i = 0; devices != NULL && i < devices->len; i++)
        {
          const DrapeDeviceInfo *info = g_ptr_array_index (devices, i);

          /* Where the cache cannot be made (a read-only cache home), a
           * release that needs it keeps 256 bits rather than lose its
           * texel reads at 512. */
          if (drape_device_wide_vectors_pay (info->driver, info->driver_info, FALSE) ||
              (!cache_named && drape_device_wide_vectors_pay (info->driver, info->driver_info, TRUE) &&
               make_mesa_cache_dir ("512")))
            {
              g_setenv ("LP_NATIVE_VECTOR_WIDTH", "512", FALSE);
              break;
            }
        }
    }
#endif
  /* Whoever forced the width, Mesa's cache then holds this width's code
   * alone, unless the environment names a cache. */
  width = g_getenv ("LP_NATIVE_VECTOR_WIDTH");
  if (width != NULL && g_getenv ("MESA_SHADER_CACHE_DIR") == NULL)
    {
      g_autofree char *dir = mesa_cache_dir (width);

      if (make_mesa_cache_dir (width))
        g_setenv ("MESA_SHADER_CACHE_DIR", dir, FALSE);
      else
        g_warning ("Cannot make Mesa's shader cache %s: %s", dir, g_strerror (errno));
    }
}

gboolean
drape_device_int64_stores_work (const char *name)
{
  guint64 llvm = llvmpipe_name_number (name, "(LLVM ");
  guint64 bits = llvmpipe_name_number (name, ", ");

  /* Lavapipe's 64-bit stores work with LLVM 15 (Mesa 22.3 and 25.0 on
   * Debian 12) but corrupt the stack (glibc: "stack smashing detected")
   * in LLVM 19's code (Mesa 26.1, Debian 13) at 512-bit vectors; at 256
   * bits it stores them right with AVX-512, AVX2 or AVX alike, and saves
   * 8% of a step.  The versions between were not tried, so past LLVM 15
   * the CPU kernels store 64-bit values only at up to 256 bits. */
  return llvm == 0 || llvm <= 15 || (bits != 0 && bits <= 256);
}

gboolean
drape_device_texel_reads_work (const char *driver,
                               const char *driver_info,
                               gboolean    cache_mixes_widths)
{
  /* Lavapipe compiles each texel fetch as a function of its own since
   * Mesa 23.3 and keeps it in Mesa's disk cache under a key without the
   * vector width: one that a process at another width cached reads the
   * wrong memory (garbage, or a crash).  Processes at the driver's own
   * width share them safely, and so do those at a forced width in a
   * cache of their own (drape_device_prefer_wide_cpu_vectors); elsewhere
   * the kernels read storage buffers, which caches no fetches to
   * mislead others. */
  guint64 release = lavapipe_mesa_release (driver, driver_info);

  return release == 0 || release < LAVAPIPE_FETCH_FUNCTIONS || !cache_mixes_widths;
}

DrapeDevice *
drape_device_new (const char *selector,
                  GError    **error)
{
  g_autoptr(DrapeDevice) device = g_new0 (DrapeDevice, 1);
  g_autofree VkPhysicalDevice *physical = NULL;
  g_autofree DrapeDeviceInfo *infos = NULL;
  guint32 n = 0;
  gint chosen;
  gboolean validation = validation_requested ();
  guint32 n_families = 0;
  g_autofree VkQueueFamilyProperties *families = NULL;
  g_autoptr(GError) coopmat2_error = NULL;

  g_mutex_init (&device->lock);
  device->kernels = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                           (GDestroyNotify) drape_kernel_free);
  device->refused_kernels = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                   (GDestroyNotify) g_error_free);
  device->failed_kernels = g_ptr_array_new_with_free_func ((GDestroyNotify) drape_kernel_free);
  g_cond_init (&device->kernel_built);
  if (selector == NULL)
    selector = g_getenv ("DRAPE_DEVICE");

  device->instance = create_instance (validation, error);
  if (device->instance == VK_NULL_HANDLE)
    return NULL;

  if (validation)
    {
      PFN_vkCreateDebugUtilsMessengerEXT create_messenger = (PFN_vkCreateDebugUtilsMessengerEXT)
        vkGetInstanceProcAddr (device->instance, "vkCreateDebugUtilsMessengerEXT");
      VkDebugUtilsMessengerCreateInfoEXT info = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT,
        .pfnUserCallback = on_debug_message,
        .pUserData = device,
      };
      if (create_messenger == NULL ||
          !drape_vk_check (NULL, create_messenger (device->instance, &info, NULL, &device->messenger),
                           "vkCreateDebugUtilsMessengerEXT", error))
        return NULL;
      device->cmd_begin_label = (PFN_vkCmdBeginDebugUtilsLabelEXT)
        vkGetInstanceProcAddr (device->instance, "vkCmdBeginDebugUtilsLabelEXT");
      device->cmd_end_label = (PFN_vkCmdEndDebugUtilsLabelEXT)
        vkGetInstanceProcAddr (device->instance, "vkCmdEndDebugUtilsLabelEXT");
    }

  if (!enumerate_physical (device->instance, &physical, &n, error))
    return NULL;
  infos = g_new0 (DrapeDeviceInfo, MAX (n, 1));
  for (guint i = 0; i < n; i++)
    fill_info (physical[i], i, &infos[i]);
  chosen = choose_device (infos, n, selector, error);
  if (chosen >= 0)
    {
      device->info = infos[chosen];
      infos[chosen].name = NULL;
      infos[chosen].driver = NULL;
      infos[chosen].driver_info = NULL;
    }
  for (guint i = 0; i < n; i++)
    {
      g_free (infos[i].name);
      g_free (infos[i].driver);
      g_free (infos[i].driver_info);
    }
  if (chosen < 0)
    return NULL;

  device->physical = physical[chosen];
  device->queue_family = find_compute_queue_family (device->physical);
  read_caps (device);
  vkGetPhysicalDeviceQueueFamilyProperties (device->physical, &n_families, NULL);
  families = g_new0 (VkQueueFamilyProperties, MAX (n_families, 1));
  vkGetPhysicalDeviceQueueFamilyProperties (device->physical, &n_families, families);
  device->caps.has_timestamps = families[device->queue_family].timestampValidBits > 0 &&
                                device->caps.timestamp_period_ns > 0;
  device->binding_limit = device->caps.max_storage_buffer_range;
  device->force_staging = g_strcmp0 (g_getenv ("DRAPE_FORCE_STAGING"), "1") == 0;
  device->barrier_every_dispatch = g_strcmp0 (g_getenv ("DRAPE_BARRIERS"), "every") == 0;

  /* Cooperative matrix 2 is the newest thing asked of the driver: one
   * that lists it but refuses a device with it still gives a device. */
  if (!create_logical_device (device, TRUE, &coopmat2_error))
    {
      if (!device->caps.coopmat2)
        {
          g_propagate_error (error, g_steal_pointer (&coopmat2_error));
          return NULL;
        }
      g_message ("%s; trying again without VK_NV_cooperative_matrix2", coopmat2_error->message);
      if (!create_logical_device (device, FALSE, error))
        return NULL;
    }

  {
    VkCommandPoolCreateInfo pool = {
      .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
      .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
      .queueFamilyIndex = device->queue_family,
    };
    VkFenceCreateInfo fence = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };

    if (!drape_vk_check (device, vkCreateCommandPool (device->device, &pool, NULL, &device->command_pool),
                         "vkCreateCommandPool", error) ||
        !drape_vk_check (device, vkCreateFence (device->device, &fence, NULL, &device->fence),
                         "vkCreateFence", error))
      return NULL;
  }

  if (!create_pipeline_cache (device, error))
    return NULL;
  load_tuning (device);
  device->memory = drape_memory_new (device);
  return g_steal_pointer (&device);
}

void
drape_device_free (DrapeDevice *device)
{
  if (device == NULL)
    return;

  if (device->device != VK_NULL_HANDLE)
    {
      if (!device->lost)
        vkDeviceWaitIdle (device->device);
      /* Builds under way end; those not started are dropped, and their
       * kernels go with the rest. */
      if (device->builders != NULL)
        g_thread_pool_free (device->builders, TRUE, TRUE);
      g_hash_table_remove_all (device->kernels);
      g_ptr_array_set_size (device->failed_kernels, 0);
      if (device->pipeline_cache != VK_NULL_HANDLE)
        {
          g_autoptr(GError) error = NULL;
          if (!drape_device_save_pipeline_cache (device, &error))
            g_debug ("Pipeline cache not saved: %s", error->message);
          vkDestroyPipelineCache (device->device, device->pipeline_cache, NULL);
        }
      /* Not g_clear_pointer: freeing the staging buffer still goes
       * through device->memory. */
      drape_memory_free (device->memory);
      device->memory = NULL;
      if (device->fence != VK_NULL_HANDLE)
        vkDestroyFence (device->device, device->fence, NULL);
      if (device->command_pool != VK_NULL_HANDLE)
        vkDestroyCommandPool (device->device, device->command_pool, NULL);
      vkDestroyDevice (device->device, NULL);
    }
  g_clear_pointer (&device->kernels, g_hash_table_unref);
  g_clear_pointer (&device->refused_kernels, g_hash_table_unref);
  g_clear_pointer (&device->failed_kernels, g_ptr_array_unref);
  g_clear_pointer (&device->refused_families, g_strfreev);
  if (device->messenger != VK_NULL_HANDLE)
    {
      PFN_vkDestroyDebugUtilsMessengerEXT destroy = (PFN_vkDestroyDebugUtilsMessengerEXT)
        vkGetInstanceProcAddr (device->instance, "vkDestroyDebugUtilsMessengerEXT");
      if (destroy != NULL)
        destroy (device->instance, device->messenger, NULL);
    }
  if (device->instance != VK_NULL_HANDLE)
    vkDestroyInstance (device->instance, NULL);
  g_free (device->info.name);
  g_free (device->info.driver);
  g_free (device->info.driver_info);
  g_free (device->pipeline_cache_path);
  g_free (device->tuning_path);
  g_free (device->tuning_source);
  drape_tuning_free (device->tuning);
  g_cond_clear (&device->kernel_built);
  g_mutex_clear (&device->lock);
  g_free (device);
}

const DrapeDeviceInfo *
drape_device_get_info (DrapeDevice *device)
{
  return &device->info;
}

const DrapeDeviceCaps *
drape_device_get_caps (DrapeDevice *device)
{
  return &device->caps;
}

guint64
drape_device_get_binding_limit (DrapeDevice *device)
{
  return device->binding_limit;
}

/* Lowering the limit makes every op split its bindings as it would for a
 * tensor above maxStorageBufferRange: tests use it on small tensors. */
void
drape_device_set_binding_limit (DrapeDevice *device,
                                guint64      limit)
{
  limit = MIN (limit, device->caps.max_storage_buffer_range);
  device->binding_limit = MAX (limit, 4096);
}

gboolean
drape_device_cpu_texels (DrapeDevice *device)
{
  return device->info.is_software && device->caps.texel_reads;
}

DrapeDeviceCaps *
drape_device_edit_caps (DrapeDevice *device)
{
  return &device->caps;
}

guint
drape_device_get_validation_messages (DrapeDevice *device)
{
  return g_atomic_int_get (&device->validation_messages);
}

gboolean
drape_device_is_lost (DrapeDevice *device)
{
  return device->lost;
}

VkCommandBuffer
drape_device_begin_commands (DrapeDevice *device,
                             GError     **error)
{
  VkCommandBufferAllocateInfo alloc = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
    .commandPool = device->command_pool,
    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
    .commandBufferCount = 1,
  };
  VkCommandBufferBeginInfo begin = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
    .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
  };
  VkCommandBuffer buffer = VK_NULL_HANDLE;

  if (device->lost)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_DEVICE_LOST,
                   "The GPU device was lost; the engine must be restarted");
      return VK_NULL_HANDLE;
    }
  g_mutex_lock (&device->lock);
  if (!drape_vk_check (device, vkAllocateCommandBuffers (device->device, &alloc, &buffer),
                       "vkAllocateCommandBuffers", error))
    {
      g_mutex_unlock (&device->lock);
      return VK_NULL_HANDLE;
    }
  g_mutex_unlock (&device->lock);
  if (!drape_vk_check (device, vkBeginCommandBuffer (buffer, &begin), "vkBeginCommandBuffer", error))
    {
      g_mutex_lock (&device->lock);
      vkFreeCommandBuffers (device->device, device->command_pool, 1, &buffer);
      g_mutex_unlock (&device->lock);
      return VK_NULL_HANDLE;
    }
  return buffer;
}

gboolean
drape_device_end_commands_and_submit (DrapeDevice    *device,
                                      VkCommandBuffer buffer,
                                      GError        **error)
{
  gboolean ok;

  ok = drape_vk_check (device, vkEndCommandBuffer (buffer), "vkEndCommandBuffer", error) &&
       drape_device_submit (device, &buffer, 1, device->fence, error) &&
       drape_device_wait (device, device->fence, error);
  g_mutex_lock (&device->lock);
  vkFreeCommandBuffers (device->device, device->command_pool, 1, &buffer);
  g_mutex_unlock (&device->lock);
  return ok;
}

/* Each buffer is its own submission so that a long graph split across
 * buffers never runs as one job long enough to trip a desktop driver's
 * watchdog.  Only vkQueueSubmit holds the lock: the queue needs external
 * synchronisation, a fence wait does not. */
gboolean
drape_device_submit (DrapeDevice           *device,
                     const VkCommandBuffer *buffers,
                     guint                  n_buffers,
                     VkFence                fence,
                     GError               **error)
{
  g_autofree VkSubmitInfo *submits = g_new0 (VkSubmitInfo, MAX (n_buffers, 1));
  VkResult result;

  if (device->lost)
    {
      g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_DEVICE_LOST,
                   "The GPU device was lost; the engine must be restarted");
      return FALSE;
    }
  for (guint i = 0; i < n_buffers; i++)
    {
      submits[i].sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
      submits[i].commandBufferCount = 1;
      submits[i].pCommandBuffers = &buffers[i];
    }

  g_mutex_lock (&device->lock);
  /* An injected fault stands for the submission's failure, so nothing is
   * left pending (drape_vk_check would apply it after a real submit). */
  if (device->injected_fault != VK_SUCCESS)
    {
      result = device->injected_fault;
      device->injected_fault = VK_SUCCESS;
    }
  else
    result = vkQueueSubmit (device->queue, n_buffers, submits, fence);
  g_mutex_unlock (&device->lock);
  return drape_vk_check (device, result, "vkQueueSubmit", error);
}

gboolean
drape_device_wait (DrapeDevice *device,
                   VkFence      fence,
                   GError     **error)
{
  VkResult result;
  gboolean ok;

  do
    result = vkWaitForFences (device->device, 1, &fence, VK_TRUE, 10ull * 1000 * 1000 * 1000);
  while (result == VK_TIMEOUT);
  ok = drape_vk_check (device, result, "vkWaitForFences", error);
  vkResetFences (device->device, 1, &fence);
  return ok;
}
