/* device-private.h: what the engine's own modules see of a device
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <vulkan/vulkan.h>

#include "device.h"
#include "error.h"

G_BEGIN_DECLS

/* VK_KHR_cooperative_matrix is newer than the Vulkan headers of some
 * systems Drape builds on (Debian 12's 1.3.239): what device.c uses of
 * it, as the registry defines it. */
#ifndef VK_KHR_cooperative_matrix
#define VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME "VK_KHR_cooperative_matrix"
#define VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR ((VkStructureType) 1000506000)
#define VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_KHR ((VkStructureType) 1000506001)
#define VK_COMPONENT_TYPE_FLOAT16_KHR VK_COMPONENT_TYPE_FLOAT16_NV
#define VK_COMPONENT_TYPE_FLOAT32_KHR VK_COMPONENT_TYPE_FLOAT32_NV
#define VK_SCOPE_SUBGROUP_KHR VK_SCOPE_SUBGROUP_NV
#define VK_SCOPE_WORKGROUP_KHR VK_SCOPE_WORKGROUP_NV
typedef VkComponentTypeNV VkComponentTypeKHR;
typedef VkScopeNV VkScopeKHR;
typedef struct {
  VkStructureType sType;
  void *pNext;
  uint32_t MSize;
  uint32_t NSize;
  uint32_t KSize;
  VkComponentTypeKHR AType;
  VkComponentTypeKHR BType;
  VkComponentTypeKHR CType;
  VkComponentTypeKHR ResultType;
  VkBool32 saturatingAccumulation;
  VkScopeKHR scope;
} VkCooperativeMatrixPropertiesKHR;
typedef struct {
  VkStructureType sType;
  void *pNext;
  VkBool32 cooperativeMatrix;
  VkBool32 cooperativeMatrixRobustBufferAccess;
} VkPhysicalDeviceCooperativeMatrixFeaturesKHR;
typedef VkResult (VKAPI_PTR *PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR) (
  VkPhysicalDevice physicalDevice, uint32_t *pPropertyCount, VkCooperativeMatrixPropertiesKHR *pProperties);
#endif

/* VK_NV_cooperative_matrix2 likewise (headers 1.3.29x on). */
#ifndef VK_NV_cooperative_matrix2
#define VK_NV_COOPERATIVE_MATRIX_2_EXTENSION_NAME "VK_NV_cooperative_matrix2"
#define VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_2_FEATURES_NV ((VkStructureType) 1000593000)
typedef struct {
  VkStructureType sType;
  void *pNext;
  VkBool32 cooperativeMatrixWorkgroupScope;
  VkBool32 cooperativeMatrixFlexibleDimensions;
  VkBool32 cooperativeMatrixReductions;
  VkBool32 cooperativeMatrixConversions;
  VkBool32 cooperativeMatrixPerElementOperations;
  VkBool32 cooperativeMatrixTensorAddressing;
  VkBool32 cooperativeMatrixBlockLoads;
} VkPhysicalDeviceCooperativeMatrix2FeaturesNV;
#define VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_FLEXIBLE_DIMENSIONS_PROPERTIES_NV ((VkStructureType) 1000593001)
#define VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_2_PROPERTIES_NV ((VkStructureType) 1000593002)
typedef struct {
  VkStructureType sType;
  void *pNext;
  uint32_t MGranularity;
  uint32_t NGranularity;
  uint32_t KGranularity;
  VkComponentTypeKHR AType;
  VkComponentTypeKHR BType;
  VkComponentTypeKHR CType;
  VkComponentTypeKHR ResultType;
  VkBool32 saturatingAccumulation;
  VkScopeKHR scope;
  uint32_t workgroupInvocations;
} VkCooperativeMatrixFlexibleDimensionsPropertiesNV;
typedef struct {
  VkStructureType sType;
  void *pNext;
  uint32_t cooperativeMatrixWorkgroupScopeMaxWorkgroupSize;
  uint32_t cooperativeMatrixFlexibleDimensionsMaxDimension;
  uint32_t cooperativeMatrixWorkgroupScopeReservedSharedMemory;
} VkPhysicalDeviceCooperativeMatrix2PropertiesNV;
typedef VkResult (VKAPI_PTR *PFN_vkGetPhysicalDeviceCooperativeMatrixFlexibleDimensionsPropertiesNV) (
  VkPhysicalDevice physicalDevice, uint32_t *pPropertyCount,
  VkCooperativeMatrixFlexibleDimensionsPropertiesNV *pProperties);
#endif

typedef struct _DrapeMemory DrapeMemory;

struct _DrapeDevice
{
  VkInstance instance;
  VkDebugUtilsMessengerEXT messenger;
  VkPhysicalDevice physical;
  VkDevice device;
  VkQueue queue;
  guint32 queue_family;
  VkCommandPool command_pool;
  /* For one-off transfers (drape_device_end_commands_and_submit); each
   * graph has a fence of its own. */
  VkFence fence;
  VkPipelineCache pipeline_cache;
  char *pipeline_cache_path;
  /* Never NULL once made; see drape_device_get_tuning. */
  DrapeTuning *tuning;
  char *tuning_path;
  char *tuning_source;
  VkPhysicalDeviceMemoryProperties memory_properties;
  guint8 pipeline_cache_uuid[VK_UUID_SIZE];
  guint32 driver_version;

  DrapeDeviceInfo info;
  DrapeDeviceCaps caps;
  /* Largest range bound to one descriptor: maxStorageBufferRange, or
   * lower for tests that exercise splitting on small tensors. */
  guint64 binding_limit;

  /* Submission and the command pool are used from one thread at a time,
   * but that thread need not be the one that made the device. */
  GMutex lock;
  /* Kernels (pipelines) by key, and the errors of those the driver
   * would not build, so that none is tried twice; see kernel.c. */
  GHashTable *kernels;
  GHashTable *refused_kernels;
  /* Kernels whose background build failed, kept until the device goes
   * (graphs recorded with them may still hold them). */
  GPtrArray *failed_kernels;
  /* Builds pipelines in the background, as many at once as the machine
   * has processors (made at the first such build); kernel_built is
   * signalled, under the lock, as each ends. */
  GThreadPool *builders;
  GCond kernel_built;
  /* Pipelines this device has built (or tried to), and how long its
   * users waited for them: the wait before a first result
   * (drape_device_get_pipeline_builds). */
  guint pipelines_built;
  gint64 pipeline_build_us;
  DrapeMemory *memory;

  /* DRAPE_FORCE_STAGING: transfers to device memory go through the
   * staging buffer even where it is mapped, as on a discrete GPU; lets
   * tests on lavapipe cover that path. */
  gboolean force_staging;
  /* DRAPE_BARRIERS=every: graphs put a barrier between every two
   * dispatches, not just where they race (graph.c), to measure what that
   * costs. */
  gboolean barrier_every_dispatch;
  gint validation_messages; /* atomic */
  gboolean lost;
  /* Test hook: the next checked Vulkan call fails with this result. */
  VkResult injected_fault;
  /* Test hook: shader families (or "family.variant"s) whose pipelines
   * fail to build, as with a driver that refuses them. */
  char **refused_families;

  PFN_vkCmdBeginDebugUtilsLabelEXT cmd_begin_label;
  PFN_vkCmdEndDebugUtilsLabelEXT cmd_end_label;

  /* Pipelines built while this is set keep the driver's statistics of
   * them (caps.pipeline_statistics); see kernel.c. */
  gboolean capture_statistics;
  PFN_vkGetPipelineExecutablePropertiesKHR get_executables;
  PFN_vkGetPipelineExecutableStatisticsKHR get_executable_statistics;
};

gboolean drape_vk_check          (DrapeDevice      *device,
                                  VkResult          result,
                                  const char       *what,
                                  GError          **error);
void     drape_device_inject_fault (DrapeDevice    *device,
                                  VkResult          result);
/* Test hook: from now on the driver "refuses" pipelines of these shader
 * families, or "family.variant"s (NULL: none), as one that cannot build
 * them would. */
void     drape_device_refuse_families (DrapeDevice        *device,
                                       const char *const  *families);
/* Test hook: the device's capabilities, to change as if its driver
 * had reported them otherwise (texel reads, 64-bit stores, lane
 * broadcasts, compute units); ops recorded from then on choose their
 * kernels by them.  Tests put back what they changed. */
DrapeDeviceCaps *drape_device_edit_caps (DrapeDevice *device);
/* Whether this driver (a lavapipe one, which names its Mesa release in
 * its driverInfo) runs the kernels faster at 512-bit vectors than at
 * 256 (drape_device_prefer_wide_cpu_vectors), with Mesa's shader cache
 * to that width alone or not. */
gboolean drape_device_wide_vectors_pay (const char *driver,
                                        const char *driver_info,
                                        gboolean    cache_per_width);
/* Whether this driver's subgroup kernels pass values between lanes
 * faster as broadcasts than as shuffles (DrapeDeviceCaps.lane_broadcasts). */
gboolean drape_device_lane_broadcasts_pay (const char *driver,
                                           const char *driver_info);
/* Whether this process's Mesa shader cache may hold lavapipe code of
 * another vector width than its own: LP_NATIVE_VECTOR_WIDTH forces one
 * and MESA_SHADER_CACHE_DIR is not Drape's cache for it. */
gboolean drape_device_mesa_cache_mixes_widths (void);
/* Whether a device of this name stores 64-bit values right where the
 * CPU kernels store them (DrapeDeviceCaps.stores_int64). */
gboolean drape_device_int64_stores_work (const char *name);
/* Whether the kernels may read through texel buffers on this driver
 * (DrapeDeviceInfo.driver and .driver_info; DrapeDeviceCaps.texel_reads),
 * in a process whose Mesa cache may hold code of other vector widths
 * (drape_device_mesa_cache_mixes_widths) or not. */
gboolean drape_device_texel_reads_work (const char *driver,
                                        const char *driver_info,
                                        gboolean    cache_mixes_widths);
/* Whether the device is a CPU driver whose kernels read through texel
 * buffers (vector gathers there; DrapeDeviceCaps.texel_reads): the
 * `*_texel` variants, and buffers and views shaped for lavapipe's
 * kernel keys (drape_memory_vk_buffer_size, drape_texel_view_range). */
gboolean drape_device_cpu_texels (DrapeDevice *device);
/* Submits without waiting; `fence` is signalled when the buffers (and
 * everything submitted before them) are done.  On failure nothing is
 * pending and the fence stays unsignalled. */
gboolean drape_device_submit     (DrapeDevice      *device,
                                  const VkCommandBuffer *buffers,
                                  guint             n_buffers,
                                  VkFence           fence,
                                  GError          **error);
/* Waits for a fence given to drape_device_submit, then resets it. */
gboolean drape_device_wait       (DrapeDevice      *device,
                                  VkFence           fence,
                                  GError          **error);
VkCommandBuffer drape_device_begin_commands (DrapeDevice *device,
                                  GError          **error);
gboolean drape_device_end_commands_and_submit (DrapeDevice *device,
                                  VkCommandBuffer   buffer,
                                  GError          **error);

G_END_DECLS
