/* device.h: a Vulkan compute device: choice, features, limits, queue
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _DrapeDevice DrapeDevice;
typedef struct _DrapeTuning DrapeTuning;

typedef enum {
  DRAPE_DEVICE_TYPE_OTHER,
  DRAPE_DEVICE_TYPE_INTEGRATED,
  DRAPE_DEVICE_TYPE_DISCRETE,
  DRAPE_DEVICE_TYPE_VIRTUAL,
  DRAPE_DEVICE_TYPE_CPU,
} DrapeDeviceType;

/* What drape_device_list() says of each Vulkan device. */
typedef struct {
  guint index;
  char *name;
  char *driver;
  /* The driver's description of itself, e.g. "Mesa 22.3.6 (LLVM
   * 15.0.6)"; empty where it gives none. */
  char *driver_info;
  DrapeDeviceType type;
  /* A CPU rasteriser such as llvmpipe: works, but slowly. */
  gboolean is_software;
  guint32 vendor_id;
  guint32 device_id;
  guint32 api_version;
  guint64 device_local_bytes;
  /* Whether Drape can run on it (Vulkan 1.2, a compute queue). */
  gboolean usable;
} DrapeDeviceInfo;

typedef enum {
  DRAPE_COOPMAT_NONE,
  DRAPE_COOPMAT_NV,   /* VK_NV_cooperative_matrix */
  DRAPE_COOPMAT_KHR,  /* VK_KHR_cooperative_matrix */
} DrapeCoopmat;

/* Workgroup-scope cooperative matrices a device takes (DrapeDeviceCaps.
 * coopmat2_workgroup): in workgroups of `invocations`, sizes that are
 * multiples of m x k, k x n and m x n. */
typedef struct {
  guint32 invocations, m, n, k;
} DrapeCoopmatWorkgroup;

/* Features and limits, read once when the device is created. */
typedef struct {
  guint64 max_storage_buffer_range;
  guint64 max_allocation_size;
  guint64 storage_offset_alignment;
  /* Uniform texel buffers: a view's offset alignment, its most texels. */
  guint64 texel_offset_alignment;
  guint64 max_texel_elements;
  guint64 device_local_bytes;
  guint32 max_shared_memory;
  guint32 max_workgroup_count[3];
  guint32 max_workgroup_size[3];
  guint32 max_workgroup_invocations;
  guint32 subgroup_size;
  guint32 max_push_constants;
  /* shaderFloat16 and storageBuffer16BitAccess: f16 tensors allowed. */
  gboolean has_f16;
  /* shaderInt64, which the CPU-tuned kernels' variants need. */
  gboolean has_int64;
  /* Whether kernels may read their inputs through texel buffers: with
   * shaderInt64, where the driver's texel fetches work
   * (drape_device_texel_reads_work).  CPU drivers fetch a texel with a
   * vector gather, so their convolutions and resizes read that way. */
  gboolean texel_reads;
  /* Whether those kernels store their results 64 bits at a time (two
   * f32 or four f16 values a store), where the driver does that right
   * (drape_device_int64_stores_work); else 32. */
  gboolean stores_int64;
  /* Whether the subgroup kernels for CPUs pass values between lanes as
   * broadcasts rather than shuffles, where the driver compiles those to
   * register permutes (drape_device_lane_broadcasts_pay). */
  gboolean lane_broadcasts;
  /* Tensor cores: the cooperative-matrix extension the tensor-core
   * kernels use, where the device has f16 tiles with f32 sums and sides
   * of 8 or 16, the Vulkan memory model their shaders need, and the build
   * has the shaders for it.  KHR where a device has both (measured
   * faster on NVIDIA); DRAPE_COOPMAT=nv
   * or khr allows only that one, DRAPE_NO_COOPMAT=1 neither.  Software
   * devices use them only when DRAPE_COOPMAT asks. */
  DrapeCoopmat coopmat;
  /* The matrix shape they use, the largest such the device lists:
   * (m x k) (k x n) + (m x n). */
  guint32 coopmat_m, coopmat_n, coopmat_k;
  /* The subgroup width their pipelines run at. */
  guint32 coopmat_subgroup_size;
  /* The device's subgroups are not 32 wide by default, so tensor-core
   * pipelines ask for 32 (subgroup size control). */
  gboolean coopmat_pins_subgroup;
  /* VK_NV_cooperative_matrix2's row reductions, per-element functions
   * and accumulator-to-operand conversions, on KHR matrices of the shape
   * above (whichever extension the other kernels use), with n = k: the
   * kernels that keep attention scores in registers.  Needs Vulkan 1.3
   * and a build whose glslang has the extension; not with
   * DRAPE_COOPMAT=nv. */
  gboolean coopmat2;
  /* Beside coopmat2, its workgroup-scope matrices of flexible sizes,
   * loaded and stored through tensor layouts (zeros past a tensor's
   * edges; the driver stages them through shared memory): the GEMMs of
   * conv2d_coopmat2.comp.  Each entry the sizes it takes with f16
   * operands and f32 sums in workgroups of `invocations`: multiples of
   * m, n and k, none over coopmat2_max_dimension. */
  DrapeCoopmatWorkgroup coopmat2_workgroup[4];
  guint n_coopmat2_workgroup;
  guint32 coopmat2_max_dimension;
  gboolean has_timestamps;
  double timestamp_period_ns;
  /* Device-local memory the host can map: uploads skip staging copies. */
  gboolean unified_memory;
  /* The driver describes the pipelines it builds
   * (VK_KHR_pipeline_executable_properties):
   * drape_device_capture_pipeline_statistics(). */
  gboolean pipeline_statistics;
  /* Streaming multiprocessors (VK_NV_shader_sm_builtins) or compute
   * units (VK_AMD_shader_core_properties) where the driver says; 0
   * where it does not.  How many workgroups fill the device. */
  guint32 compute_units;
} DrapeDeviceCaps;

/* One figure a driver gives of a pipeline it built, under the driver's
 * own name (NVIDIA's include the registers each invocation holds, which
 * decide how many workgroups share a multiprocessor). */
typedef struct {
  const char *name;  /* interned */
  double value;
} DrapePipelineStatistic;

/* Process setup, for main() before any thread or OpenGL context exists
 * (it sets environment variables, which is not thread-safe): on CPUs
 * with AVX-512, where lavapipe gains from it (it makes a Vulkan instance
 * to ask which Mesa release that is: before 23.3, or from 25.0 with
 * Mesa's shader cache to itself), asks Mesa's CPU drivers (lavapipe,
 * llvmpipe) for 512-bit vectors instead of their default 256, unless
 * LP_NATIVE_VECTOR_WIDTH already says otherwise.  Wherever a width is
 * forced, it gives Mesa a cache of Drape's for that width, unless
 * MESA_SHADER_CACHE_DIR names one: newer lavapipe caches code that
 * breaks at other widths (drape_device_texel_reads_work).  On 2 AVX-512
 * cores that ran a UNet step 1.1 to 1.4 times as fast with Mesa 22.3,
 * 1.5 to 1.8 times with Mesa 25.0 and 26.1.  No effect on other drivers. */
void                   drape_device_prefer_wide_cpu_vectors (void);

GPtrArray             *drape_device_list                (GError         **error);
void                   drape_device_info_free           (DrapeDeviceInfo *info);
const char            *drape_device_type_to_string      (DrapeDeviceType  type);

DrapeDevice           *drape_device_new                 (const char      *selector,
                                                         GError         **error);
void                   drape_device_free                (DrapeDevice     *device);
const DrapeDeviceInfo *drape_device_get_info            (DrapeDevice     *device);
const DrapeDeviceCaps *drape_device_get_caps            (DrapeDevice     *device);
guint64                drape_device_get_binding_limit   (DrapeDevice     *device);
void                   drape_device_set_binding_limit   (DrapeDevice     *device,
                                                         guint64          limit);
guint                  drape_device_get_validation_messages (DrapeDevice *device);
gboolean               drape_device_is_lost             (DrapeDevice     *device);
/* Bytes the device's buffers hold, now and at most since the last reset,
 * in every heap; then of those, in its device-local heaps alone.  On a
 * discrete GPU the rest (the staging buffer, host-visible tensors) is
 * system memory: the device-local peak is what GPU memory peaks compare
 * with.  On lavapipe every heap is device-local. */
void                   drape_device_get_memory_usage    (DrapeDevice     *device,
                                                         guint64         *current,
                                                         guint64         *peak);
void                   drape_device_get_device_local_memory_usage (DrapeDevice *device,
                                                         guint64         *current,
                                                         guint64         *peak);
void                   drape_device_reset_peak_memory   (DrapeDevice     *device);
gboolean               drape_device_save_pipeline_cache (DrapeDevice     *device,
                                                         GError         **error);
gboolean               drape_device_capture_pipeline_statistics (DrapeDevice *device,
                                                         gboolean         capture);
GArray                *drape_device_get_pipeline_statistics (DrapeDevice *device,
                                                         const char      *kernel);
/* How many pipelines the device has built (or tried to) since it was
 * made, and the milliseconds that took: the part of a first result's wait
 * that is pipeline creation, fast once the on-disk caches hold them. */
void                   drape_device_get_pipeline_builds (DrapeDevice     *device,
                                                         guint           *count,
                                                         double          *ms);
/* The ways measured fastest on this device (tuning.h), which ops take:
 * loaded when the device is made from DRAPE_TUNING's file ("none": no
 * file), else from the device's own (drape_device_get_tuning_path: in
 * the cache folder, one per device, driver and version of Drape), else
 * from the one Drape ships for its model of GPU (tunings/VVVV-DDDD.json
 * by PCI IDs, installed with Drape; DRAPE_TUNINGS_DIR names another
 * folder); empty where there is none, or it cannot be read (a message
 * says why). */
DrapeTuning           *drape_device_get_tuning          (DrapeDevice     *device);
/* Takes `tuning`, for the graphs recorded from then on. */
void                   drape_device_set_tuning          (DrapeDevice     *device,
                                                         DrapeTuning     *tuning);
/* Where this device's tuning is saved: DRAPE_TUNING's file, or its own. */
const char            *drape_device_get_tuning_path     (DrapeDevice     *device);
/* The file its tuning was loaded from, or last saved to where that is
 * its own; NULL where it started with none. */
const char            *drape_device_get_tuning_source   (DrapeDevice     *device);
/* Saves its tuning to `path`; where that is drape_device_get_tuning_path,
 * its tuning now comes from there. */
gboolean               drape_device_save_tuning         (DrapeDevice     *device,
                                                         const char      *path,
                                                         GError         **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DrapeDevice, drape_device_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DrapeDeviceInfo, drape_device_info_free)

G_END_DECLS
