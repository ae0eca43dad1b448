/* test-device.c: device choice, limits, failures that must not abort,
 * and a graph's arena plan
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "test-common.h"

#include <string.h>
#include <glib/gstdio.h>

#include "device-private.h"
#include "drape-shaders.h"
#include "error.h"
#include "graph-private.h"
#include "kernel-private.h"
#include "memory-private.h"
#include "ops.h"
#include "spirv-private.h"
#include "tuning.h"

static void
test_list (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) list = drape_device_list (&error);
  const DrapeDeviceInfo *chosen = drape_device_get_info (test_device ());
  gboolean found = FALSE;

  g_assert_no_error (error);
  g_assert_cmpuint (list->len, >, 0);
  for (guint i = 0; i < list->len; i++)
    {
      const DrapeDeviceInfo *info = g_ptr_array_index (list, i);
      if (info->index == chosen->index)
        {
          found = TRUE;
          g_assert_cmpstr (info->name, ==, chosen->name);
          g_assert_true (info->usable);
        }
    }
  g_assert_true (found);
}

/* A log writer that counts warnings (in a guint) and prints them, but
 * lets them pass where G_DEBUG makes warnings fatal. */
static GLogWriterOutput
count_warnings (GLogLevelFlags   level,
                const GLogField *fields,
                gsize            n_fields,
                gpointer         warnings)
{
  if (level & G_LOG_LEVEL_WARNING)
    (*(guint *) warnings)++;
  return g_log_writer_standard_streams (level, fields, n_fields, NULL);
}

/* Mesa's CPU drivers get 512-bit vectors where the CPU has AVX-512 and
 * their release gains from them, and a width already set stands; a
 * forced width gets a Mesa cache of its own unless one is named.  In a
 * subprocess: it changes the environment, and the driver reads it when
 * an instance is made. */
static void
test_wide_cpu_vectors (void)
{
  gboolean avx512 = FALSE;

#if defined(__x86_64__) || defined(__i386__)
  avx512 = __builtin_cpu_supports ("avx512f");
#endif
  if (g_test_subprocess ())
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(DrapeDevice) device = NULL;
      g_autoptr(DrapeDevice) narrow = NULL;
      g_autofree char *drape_cache = g_build_filename (g_get_user_cache_dir (), "drape", NULL);
      g_autofree char *wide_cache = g_build_filename (drape_cache, "mesa-512-bits", NULL);
      g_autofree char *narrow_cache = g_build_filename (drape_cache, "mesa-256-bits", NULL);
      gboolean wide, wide_anyway;
      guint *warnings;

      g_unsetenv ("LP_NATIVE_VECTOR_WIDTH");
      g_unsetenv ("MESA_SHADER_CACHE_DIR");
      /* As on a first run: Mesa makes only the last folder of its path. */
      test_remove_tree (drape_cache);
      /* The driver's own width first: 256 bits, subgroups of 8. */
      narrow = drape_device_new (NULL, &error);
      g_assert_no_error (error);
      g_assert_false (drape_device_mesa_cache_mixes_widths ());
      wide = avx512 && drape_device_wide_vectors_pay (drape_device_get_info (narrow)->driver,
                                                      drape_device_get_info (narrow)->driver_info, TRUE);
      wide_anyway = avx512 && drape_device_wide_vectors_pay (drape_device_get_info (narrow)->driver,
                                                             drape_device_get_info (narrow)->driver_info,
                                                             FALSE);
      if (drape_device_get_info (narrow)->is_software)
        g_assert_cmpuint (drape_device_get_caps (narrow)->subgroup_size, ==, 8);
      /* The driver reads the width again once no instance holds it. */
      g_clear_pointer (&narrow, drape_device_free);
      drape_device_prefer_wide_cpu_vectors ();
      g_assert_cmpstr (g_getenv ("LP_NATIVE_VECTOR_WIDTH"), ==, wide ? "512" : NULL);
      g_assert_cmpstr (g_getenv ("MESA_SHADER_CACHE_DIR"), ==, wide ? wide_cache : NULL);
      g_assert_true (!wide || g_file_test (wide_cache, G_FILE_TEST_IS_DIR));
      g_assert_false (drape_device_mesa_cache_mixes_widths ());
      /* lavapipe's subgroups are its vectors' 32-bit lanes; a cache of
       * the width's own keeps the texel reads. */
      device = drape_device_new (NULL, &error);
      g_assert_no_error (error);
      if (drape_device_get_info (device)->is_software)
        {
          g_assert_cmpuint (drape_device_get_caps (device)->subgroup_size, ==, (wide ? 16 : 8));
          g_assert_cmpint (drape_device_get_caps (device)->texel_reads, ==,
                           drape_device_get_caps (device)->has_int64);
        }

      /* A width the environment sets stands, with a cache of its own... */
      g_setenv ("LP_NATIVE_VECTOR_WIDTH", "256", TRUE);
      g_unsetenv ("MESA_SHADER_CACHE_DIR");
      drape_device_prefer_wide_cpu_vectors ();
      g_assert_cmpstr (g_getenv ("LP_NATIVE_VECTOR_WIDTH"), ==, "256");
      g_assert_cmpstr (g_getenv ("MESA_SHADER_CACHE_DIR"), ==, narrow_cache);
      g_assert_true (g_file_test (narrow_cache, G_FILE_TEST_IS_DIR));
      g_assert_false (drape_device_mesa_cache_mixes_widths ());
      /* ...unless it names a cache, which other widths may share. */
      g_setenv ("MESA_SHADER_CACHE_DIR", "/elsewhere", TRUE);
      drape_device_prefer_wide_cpu_vectors ();
      g_assert_cmpstr (g_getenv ("MESA_SHADER_CACHE_DIR"), ==, "/elsewhere");
      g_assert_true (drape_device_mesa_cache_mixes_widths ());

      /* Where the cache cannot be made, only a release that gains from
       * 512 bits in any cache gets them (and a warning), and the cache
       * is left to Mesa. */
      g_clear_pointer (&device, drape_device_free);
      test_remove_tree (drape_cache);
      g_assert_true (g_file_set_contents (drape_cache, "not a folder", -1, NULL));
      g_unsetenv ("LP_NATIVE_VECTOR_WIDTH");
      g_unsetenv ("MESA_SHADER_CACHE_DIR");
      warnings = g_new0 (guint, 1);
      g_log_set_writer_func (count_warnings, warnings, g_free);
      drape_device_prefer_wide_cpu_vectors ();
      g_assert_cmpuint (*warnings, ==, wide_anyway ? 1 : 0);
      g_assert_cmpstr (g_getenv ("LP_NATIVE_VECTOR_WIDTH"), ==, wide_anyway ? "512" : NULL);
      g_assert_null (g_getenv ("MESA_SHADER_CACHE_DIR"));
      g_assert_true (g_file_test (drape_cache, G_FILE_TEST_IS_REGULAR));
      g_assert_cmpint (g_unlink (drape_cache), ==, 0);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* Lavapipe's 512-bit vectors pay in Mesa 22.3 whatever its cache, and
 * in Mesa 25.0 and 26.1 with broadcasts and texel reads, so only with
 * Mesa's cache to that width alone; the releases between keep 256. */
static void
test_wide_vectors_pay (void)
{
  static const struct {
    const char *driver, *driver_info;
    gboolean cache_per_width, pays;
  } cases[] = {
    { "llvmpipe", "Mesa 22.3.6 (LLVM 15.0.6)", FALSE, TRUE },
    { "llvmpipe", "Mesa 22.3.6 (LLVM 15.0.6)", TRUE, TRUE },
    { "llvmpipe", "Mesa 21.2.6 (LLVM 12.0.1)", FALSE, TRUE },
    { "llvmpipe", "Mesa 23.2.1 (LLVM 15.0.7)", FALSE, TRUE },
    { "llvmpipe", "Mesa 23.3.0 (LLVM 16.0.6)", TRUE, FALSE },
    { "llvmpipe", "Mesa 24.3.4 (LLVM 19.1.7)", TRUE, FALSE },
    { "llvmpipe", "Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)", TRUE, TRUE },
    { "llvmpipe", "Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)", FALSE, FALSE },
    { "llvmpipe", "Mesa 26.1.6-1~bpo13+1 (LLVM 19.1.7)", TRUE, TRUE },
    { "llvmpipe", "Mesa 26.1.6-1~bpo13+1 (LLVM 19.1.7)", FALSE, FALSE },
    { "llvmpipe", "Mesa ", TRUE, FALSE },
    { "llvmpipe", "", TRUE, FALSE },
    { "llvmpipe", NULL, TRUE, FALSE },
    { "NVIDIA", "580.95.05", TRUE, FALSE },
    { "Intel open-source Mesa driver", "Mesa 22.3.6", TRUE, FALSE },
    { NULL, NULL, TRUE, FALSE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    g_assert_cmpint (drape_device_wide_vectors_pay (cases[i].driver, cases[i].driver_info,
                                                    cases[i].cache_per_width), ==,
                     cases[i].pays);
}

/* Lavapipe compiles a broadcast from a constant lane to a loop before
 * Mesa 25.0 (22.3 measured) and to a register permute from 25.0 on,
 * where shuffles became the loops; other drivers keep shuffles. */
static void
test_lane_broadcasts (void)
{
  static const struct {
    const char *driver, *driver_info;
    gboolean pays;
  } cases[] = {
    { "llvmpipe", "Mesa 22.3.6 (LLVM 15.0.6)", FALSE },
    { "llvmpipe", "Mesa 24.3.4 (LLVM 19.1.7)", FALSE },
    { "llvmpipe", "Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)", TRUE },
    { "llvmpipe", "Mesa 26.1.6-1~bpo13+1 (LLVM 19.1.7)", TRUE },
    { "llvmpipe", "Mesa 100.0", TRUE },
    { "llvmpipe", "", FALSE },
    { "NVIDIA", "580.95.05", FALSE },
    { "radv", "Mesa 26.0.1", FALSE },
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeDevice) device = drape_device_new (NULL, &error);
  const DrapeDeviceInfo *info;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    g_assert_cmpint (drape_device_lane_broadcasts_pay (cases[i].driver, cases[i].driver_info), ==,
                     cases[i].pays);
  /* This machine's device follows the rule. */
  g_assert_no_error (error);
  info = drape_device_get_info (device);
  g_assert_cmpint (drape_device_get_caps (device)->lane_broadcasts, ==,
                   drape_device_lane_broadcasts_pay (info->driver, info->driver_info));
}

/* Lavapipe's 64-bit stores break LLVM 19's code at 512-bit vectors:
 * past LLVM 15 the CPU kernels store 32-bit values there (test-conv's
 * /conv/texel-32-bit-stores) and 64-bit ones at up to 256 bits. */
static void
test_int64_stores (void)
{
  static const struct {
    const char *name;
    gboolean works;
  } cases[] = {
    { "llvmpipe (LLVM 15.0.6, 512 bits)", TRUE },
    { "llvmpipe (LLVM 15.0.6, 256 bits)", TRUE },
    { "llvmpipe (LLVM 12.0.1, 256 bits)", TRUE },
    { "llvmpipe (LLVM 16.0.0, 512 bits)", FALSE },
    { "llvmpipe (LLVM 19.1.7, 512 bits)", FALSE },
    { "llvmpipe (LLVM 19.1.7, 256 bits)", TRUE },
    { "llvmpipe (LLVM 19.1.7, 128 bits)", TRUE },
    { "llvmpipe (LLVM 21.1.0)", FALSE },
    { "NVIDIA H200", TRUE },
    { "SwiftShader Device (Subzero)", TRUE },
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeDevice) device = drape_device_new (NULL, &error);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    g_assert_cmpint (drape_device_int64_stores_work (cases[i].name), ==, cases[i].works);
  /* This machine's device follows the rule. */
  g_assert_no_error (error);
  g_assert_cmpint (drape_device_get_caps (device)->stores_int64, ==,
                   drape_device_get_caps (device)->has_int64 &&
                   drape_device_int64_stores_work (drape_device_get_info (device)->name));
}

/* Lavapipe's texel fetches, compiled and cached apart since Mesa 23.3
 * under a key without the vector width, break where a process at another
 * width cached them: from 23.3 on the kernels read texels unless a
 * forced width shares Mesa's cache with others, then storage buffers;
 * other drivers, Mesa's GPU drivers among them, read texels. */
static void
test_texel_reads (void)
{
  static const struct {
    const char *driver, *driver_info;
    gboolean cache_mixes_widths, works;
  } cases[] = {
    { "llvmpipe", "Mesa 22.3.6 (LLVM 15.0.6)", FALSE, TRUE },
    { "llvmpipe", "Mesa 22.3.6 (LLVM 15.0.6)", TRUE, TRUE },
    { "llvmpipe", "Mesa 23.2.1 (LLVM 15.0.7)", TRUE, TRUE },
    { "llvmpipe", "Mesa 23.3.0 (LLVM 16.0.6)", FALSE, TRUE },
    { "llvmpipe", "Mesa 23.3.0 (LLVM 16.0.6)", TRUE, FALSE },
    { "llvmpipe", "Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)", TRUE, FALSE },
    { "llvmpipe", "Mesa 26.1.6-1~bpo13+1 (LLVM 19.1.7)", FALSE, TRUE },
    { "llvmpipe", "Mesa 26.1.6-1~bpo13+1 (LLVM 19.1.7)", TRUE, FALSE },
    { "llvmpipe", "Mesa 100.0", TRUE, FALSE },
    { "llvmpipe", "", TRUE, TRUE },
    { "llvmpipe", NULL, TRUE, TRUE },
    { "Intel open-source Mesa driver", "Mesa 26.0.1", TRUE, TRUE },
    { "NVIDIA", "580.95.05", TRUE, TRUE },
    { "SwiftShader driver", "", TRUE, TRUE },
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeDevice) device = drape_device_new (NULL, &error);
  const DrapeDeviceInfo *info;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    g_assert_cmpint (drape_device_texel_reads_work (cases[i].driver, cases[i].driver_info,
                                                    cases[i].cache_mixes_widths), ==,
                     cases[i].works);
  /* This machine's device follows the rule, and says what it is. */
  g_assert_no_error (error);
  info = drape_device_get_info (device);
  g_assert_nonnull (info->driver_info);
  g_assert_cmpint (drape_device_get_caps (device)->texel_reads, ==,
                   drape_device_get_caps (device)->has_int64 &&
                   drape_device_texel_reads_work (info->driver, info->driver_info,
                                                  drape_device_mesa_cache_mixes_widths ()));
}

static void
test_selector (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeDevice) by_index = drape_device_new ("0", &error);
  g_autoptr(DrapeDevice) missing = NULL;

  g_assert_no_error (error);
  g_assert_cmpuint (drape_device_get_info (by_index)->index, ==, 0);
  missing = drape_device_new ("no such gpu", &error);
  g_assert_null (missing);
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_NO_DEVICE);
  g_assert_nonnull (strstr (error->message, "no such gpu"));
  g_clear_error (&error);
  missing = drape_device_new ("99", &error);
  g_assert_null (missing);
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_NO_DEVICE);
}

static void
test_caps (void)
{
  DrapeDevice *device = test_device ();
  const DrapeDeviceCaps *caps = drape_device_get_caps (device);

  g_assert_cmpuint (caps->max_storage_buffer_range, >=, 1u << 27);
  g_assert_cmpuint (caps->max_workgroup_count[0], >=, 65535);
  g_assert_cmpuint (caps->subgroup_size, >=, 1);
  g_assert_cmpuint (drape_device_get_binding_limit (device), ==, caps->max_storage_buffer_range);
  if (drape_device_get_info (device)->type == DRAPE_DEVICE_TYPE_CPU)
    g_assert_true (drape_device_get_info (device)->is_software);
}

/* More memory than the device has: an error, not an abort. */
static void
test_out_of_memory (void)
{
  DrapeDevice *device = test_device ();
  const DrapeDeviceCaps *caps = drape_device_get_caps (device);
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeTensor) huge = NULL;
  guint64 current, after;

  drape_device_get_memory_usage (device, &current, NULL);
  /* A single buffer past the largest allocation. */
  huge = drape_tensor_new (device, DRAPE_DTYPE_F32, 1, 1, 1,
                           (guint32) MIN (caps->max_allocation_size / 4 + 1024, G_MAXUINT32), &error);
  g_assert_null (huge);
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_OUT_OF_MEMORY);
  g_clear_error (&error);
  drape_device_get_memory_usage (device, &after, NULL);
  g_assert_cmpuint (after, ==, current);
}

/* Texel views on CPU drivers take one pattern of what lavapipe keys its
 * compiled kernels by (drape_texel_view_range, drape_memory_vk_buffer_size):
 * views sized with bits 8 to 15 clear widen by 256 bytes where their
 * buffer and the limit leave room, and no buffer is a power of two. */
static void
test_texel_views (void)
{
  DrapeDevice *device = test_device ();
  const guint64 sizes[] = { 256, 4096, 32ull << 20, (32ull << 20) - 256, 40ull << 20 };

  /* 65536 and 131072 have bits 8-15 clear; 65792 and 4096 do not. */
  g_assert_cmpuint (drape_texel_view_range (65536, 256, 1 << 20, TRUE), ==, 65792);
  g_assert_cmpuint (drape_texel_view_range (131072, 1 << 20, 1 << 20, TRUE), ==, 131072 + 256);
  g_assert_cmpuint (drape_texel_view_range (65792, 256, 1 << 20, TRUE), ==, 65792);
  g_assert_cmpuint (drape_texel_view_range (4096, 256, 1 << 20, TRUE), ==, 4096);
  /* Not past the buffer, the limit, or on GPUs. */
  g_assert_cmpuint (drape_texel_view_range (65536, 255, 1 << 20, TRUE), ==, 65536);
  g_assert_cmpuint (drape_texel_view_range (65536, 256, 65536 + 255, TRUE), ==, 65536);
  g_assert_cmpuint (drape_texel_view_range (65536, 256, 65536 + 256, TRUE), ==, 65792);
  g_assert_cmpuint (drape_texel_view_range (65536, 256, 1 << 20, FALSE), ==, 65536);

  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      guint64 vk_size = drape_memory_vk_buffer_size (sizes[i], TRUE);

      g_assert_cmpuint (vk_size, >=, sizes[i] + 256);
      g_assert_false ((vk_size & (vk_size - 1)) == 0);
      g_assert_cmpuint (drape_memory_vk_buffer_size (sizes[i], FALSE), ==, sizes[i]);
    }

  /* This device's buffers, shared blocks and dedicated ones alike. */
  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(DrapeBuffer) buffer = drape_buffer_new (device, DRAPE_MEMORY_DEVICE,
                                                        i == 0 ? 4096 : 40ull << 20, &error);
      guint64 vk_size;

      g_assert_no_error (error);
      vk_size = drape_buffer_get_vk_size (buffer);
      if (drape_device_cpu_texels (device))
        {
          g_assert_cmpuint (vk_size, >=, buffer->offset + buffer->size + 256);
          g_assert_false ((vk_size & (vk_size - 1)) == 0);
        }
      else
        g_assert_cmpuint (vk_size, >=, buffer->offset + buffer->size);
    }
}

/* Memory usage counts every block, and those in device-local heaps
 * apart: a device buffer larger than any block gets one of its own in
 * device-local memory; a host buffer's counts there as its heap says. */
static void
test_memory_usage (void)
{
  DrapeDevice *device = test_device ();
  const guint64 size = 40ull << 20;
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeBuffer) on_device = NULL;
  g_autoptr(DrapeBuffer) on_host = NULL;
  guint64 total0, local0, total1, local1, total2, local2, peak, local_peak;

  drape_device_get_memory_usage (device, &total0, NULL);
  drape_device_get_device_local_memory_usage (device, &local0, NULL);
  g_assert_cmpuint (local0, <=, total0);

  on_device = drape_buffer_new (device, DRAPE_MEMORY_DEVICE, size, &error);
  g_assert_no_error (error);
  drape_device_get_memory_usage (device, &total1, &peak);
  drape_device_get_device_local_memory_usage (device, &local1, &local_peak);
  g_assert_cmpuint (total1 - total0, >=, size);
  g_assert_cmpuint (local1 - local0, ==, total1 - total0);
  g_assert_cmpuint (peak, >=, total1);
  g_assert_cmpuint (local_peak, >=, local1);
  g_assert_cmpuint (local_peak, <=, peak);

  on_host = drape_buffer_new (device, DRAPE_MEMORY_HOST, size, &error);
  g_assert_no_error (error);
  drape_device_get_memory_usage (device, &total2, NULL);
  drape_device_get_device_local_memory_usage (device, &local2, NULL);
  g_assert_cmpuint (total2 - total1, >=, size);
  g_assert_cmpuint (local2 - local1, <=, total2 - total1);

  g_clear_pointer (&on_device, drape_buffer_free);
  g_clear_pointer (&on_host, drape_buffer_free);
  drape_device_get_memory_usage (device, &total2, NULL);
  drape_device_get_device_local_memory_usage (device, &local2, NULL);
  g_assert_cmpuint (total2, ==, total0);
  g_assert_cmpuint (local2, ==, local0);
  drape_device_reset_peak_memory (device);
  drape_device_get_memory_usage (device, NULL, &peak);
  drape_device_get_device_local_memory_usage (device, NULL, &local_peak);
  g_assert_cmpuint (peak, ==, total0);
  g_assert_cmpuint (local_peak, ==, local0);
}

/* A lost device: every later call fails with DEVICE_LOST, nothing aborts,
 * and a new device can be made. */
static void
test_device_lost (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeDevice) device = drape_device_new (NULL, &error);
  g_autoptr(DrapeTensor) a = NULL;
  g_autoptr(DrapeTensor) again = NULL;
  g_autoptr(DrapeGraph) graph = NULL;
  g_autoptr(DrapeDevice) fresh = NULL;
  float data[4] = { 1, 2, 3, 4 };

  g_assert_no_error (error);
  a = drape_tensor_new (device, DRAPE_DTYPE_F32, 1, 1, 1, 4, &error);
  g_assert_no_error (error);
  drape_tensor_upload (a, data, 4, &error);
  g_assert_no_error (error);
  graph = drape_graph_new (device, "lost");
  drape_op_add (graph, a, a);
  drape_graph_compile (graph, &error);
  g_assert_no_error (error);

  drape_device_inject_fault (device, VK_ERROR_DEVICE_LOST);
  g_assert_false (drape_graph_run (graph, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_DEVICE_LOST);
  g_assert_true (drape_device_is_lost (device));
  g_clear_error (&error);

  g_assert_false (drape_graph_run (graph, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_DEVICE_LOST);
  g_clear_error (&error);
  again = drape_tensor_new (device, DRAPE_DTYPE_F32, 1, 1, 1, 4, &error);
  g_assert_null (again);
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_DEVICE_LOST);
  g_clear_error (&error);
  g_assert_false (drape_tensor_upload (a, data, 4, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_DEVICE_LOST);
  g_clear_error (&error);

  g_clear_pointer (&graph, drape_graph_free);
  g_clear_pointer (&a, drape_tensor_free);
  g_clear_pointer (&device, drape_device_free);
  fresh = drape_device_new (NULL, &error);
  g_assert_no_error (error);
  g_assert_false (drape_device_is_lost (fresh));
}

/* Two graphs sharing an arena, the second reading what the first writes,
 * submitted back to back before either is waited for: the queue runs
 * them in order.  A graph in flight is refused a second submission, and
 * freeing one in flight waits (the validation layer would object to
 * freeing buffers in use). */
static void
test_submit_wait (void)
{
  DrapeDevice *device = test_device ();
  const guint32 n = 64 * 64 * 4;
  g_autofree float *data = g_new (float, n);
  g_autofree float *want = g_new (float, n);
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeTensor) a = test_tensor_from (DRAPE_DTYPE_F32, 1, 64, 64, 4, NULL);
  g_autoptr(DrapeTensor) mid = test_tensor_from (DRAPE_DTYPE_F32, 1, 64, 64, 4, NULL);
  g_autoptr(DrapeTensor) out = drape_tensor_new_host (device, DRAPE_DTYPE_F32, 1, 64, 64, 4, &error);
  g_autoptr(DrapeBuffer) arena = NULL;
  g_autoptr(DrapeGraph) first = drape_graph_new (device, "first");
  g_autoptr(DrapeGraph) second = drape_graph_new (device, "second");
  g_autoptr(GArray) profile = NULL;
  DrapeTensor *t, *u;

  g_assert_no_error (error);
  /* first: mid = a + 16 x 0.25, through arena activations */
  t = drape_op_scale (first, a, 1.0f, 0.25f);
  for (guint k = 1; k < 16; k++)
    {
      u = drape_op_scale (first, t, 1.0f, 0.25f);
      drape_tensor_release (t);
      t = u;
    }
  drape_op_copy (first, t, mid);
  /* second: out = mid * mid, its activation where first's were */
  t = drape_op_mul (second, mid, mid);
  drape_op_copy (second, t, out);
  drape_graph_set_profiling (second, TRUE);
  arena = drape_buffer_new (device, DRAPE_MEMORY_DEVICE,
                            MAX (drape_graph_get_arena_size (first), drape_graph_get_arena_size (second)),
                            &error);
  g_assert_no_error (error);
  g_assert_true (drape_graph_compile_in (first, arena, &error));
  g_assert_true (drape_graph_compile_in (second, arena, &error));
  g_assert_no_error (error);

  /* New input every run, so that out from stale values would show. */
  for (guint run = 1; run <= 2; run++)
    {
      test_fill_random (data, n, run, 1.0f);
      g_assert_true (drape_tensor_upload (a, data, n, &error));
      for (guint i = 0; i < n; i++)
        {
          float x = data[i];
          for (guint k = 0; k < 16; k++)
            x = x + 0.25f;
          want[i] = x * x;
        }
      memset (drape_tensor_get_mapped (out), 0, n * sizeof (float));
      g_assert_true (drape_graph_submit (first, &error));
      g_assert_true (drape_graph_submit (second, &error));
      g_assert_no_error (error);

      g_assert_false (drape_graph_submit (first, &error));
      g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT);
      g_assert_nonnull (strstr (error->message, "first"));
      g_assert_nonnull (strstr (error->message, "still running"));
      g_clear_error (&error);

      g_assert_true (drape_graph_wait (second, &error));
      g_assert_true (drape_graph_wait (first, &error));
      g_assert_no_error (error);
      test_assert_close ("second after first", drape_tensor_get_mapped (out), want, n, 1e-6);
      /* Nothing in flight: nothing to wait for. */
      g_assert_true (drape_graph_wait (first, &error));
      g_assert_no_error (error);
    }

  /* Timestamps are read at the wait, once per run. */
  profile = drape_graph_get_profile (second);
  if (drape_device_get_caps (device)->has_timestamps)
    {
      g_assert_cmpuint (profile->len, >, 0);
      for (guint i = 0; i < profile->len; i++)
        g_assert_cmpuint (g_array_index (profile, DrapeOpTime, i).count, ==, 2);
    }

  g_assert_true (drape_graph_submit (first, &error));
  g_assert_no_error (error);
  g_clear_pointer (&first, drape_graph_free);
  test_assert_no_validation_messages ();
}

/* The dispatch profile: an entry per layer shape, the op's description
 * of it, calls counted per run; a reset forgets the runs so far. */
static void
test_dispatch_profile (void)
{
  DrapeDevice *device = test_device ();
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeTensor) x = test_tensor_from (DRAPE_DTYPE_F32, 1, 4, 4, 8, NULL);
  g_autoptr(DrapeTensor) small = test_tensor_from (DRAPE_DTYPE_F32, 1, 2, 2, 8, NULL);
  g_autoptr(DrapeTensor) wide = test_tensor_from (DRAPE_DTYPE_F32, 16, 1, 1, 8, NULL);
  g_autoptr(DrapeTensor) narrow = test_tensor_from (DRAPE_DTYPE_F32, 8, 1, 1, 8, NULL);
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "dispatch profile");
  g_autoptr(GArray) profile = NULL;
  guint seen = 0;

  if (!drape_device_get_caps (device)->has_timestamps)
    {
      g_test_skip ("device has no timestamps");
      return;
    }
  drape_graph_set_profiling (graph, TRUE);
  /* Twice the same shape, once another. */
  drape_op_linear (graph, x, wide, NULL);
  drape_op_linear (graph, x, wide, NULL);
  drape_op_linear (graph, small, narrow, NULL);
  for (guint run = 0; run < 2; run++)
    g_assert_true (drape_graph_run (graph, &error));
  g_assert_no_error (error);

  profile = drape_graph_get_dispatch_profile (graph);
  for (guint i = 0; i < profile->len; i++)
    {
      const DrapeOpTime *t = &g_array_index (profile, DrapeOpTime, i);

      g_assert_cmpuint (t->workgroups, >, 0);
      if (g_str_has_prefix (t->label, "linear") && g_str_has_prefix (t->detail, "M16 N16 K8 "))
        {
          g_assert_cmpuint (t->count, ==, 4);
          g_assert_cmpfloat (t->flops, ==, 4 * 2.0 * 16 * 16 * 8);
          seen |= 1;
        }
      else if (g_str_has_prefix (t->label, "linear") && g_str_has_prefix (t->detail, "M4 N8 K8 "))
        {
          g_assert_cmpuint (t->count, ==, 2);
          seen |= 2;
        }
    }
  g_assert_cmpuint (seen, ==, 3);
  g_clear_pointer (&profile, g_array_unref);

  drape_graph_reset_profile (graph);
  g_assert_true (drape_graph_run (graph, &error));
  g_assert_no_error (error);
  profile = drape_graph_get_profile (graph);
  g_assert_cmpuint (profile->len, ==, 1);
  g_assert_cmpuint (g_array_index (profile, DrapeOpTime, 0).count, ==, 3);
  test_assert_no_validation_messages ();
}

/* Profiling switched on and off on a compiled graph: its command
 * buffers are recorded again, it computes the same, and only profiled
 * runs count; switched while the graph is in flight, the graph fails. */
static void
test_profiling_after_compile (void)
{
  DrapeDevice *device = test_device ();
  const guint32 n = 4 * 4 * 8;
  g_autofree float *data = test_random_data (n, 3, 1.0f, DRAPE_DTYPE_F32);
  g_autofree float *want = g_new (float, n);
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeTensor) x = test_tensor_from (DRAPE_DTYPE_F32, 1, 4, 4, 8, data);
  g_autoptr(DrapeTensor) out = drape_tensor_new_host (device, DRAPE_DTYPE_F32, 1, 4, 4, 8, &error);
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "profiled later");
  g_autoptr(GArray) profile = NULL;
  DrapeTensor *t;

  if (!drape_device_get_caps (device)->has_timestamps)
    {
      g_test_skip ("device has no timestamps");
      return;
    }
  g_assert_no_error (error);
  for (guint i = 0; i < n; i++)
    want[i] = 2 * data[i] + 1;
  t = drape_op_scale (graph, x, 2.0f, 1.0f);
  drape_op_copy (graph, t, out);
  drape_tensor_release (t);

  g_assert_true (drape_graph_run (graph, &error));
  profile = drape_graph_get_profile (graph);
  g_assert_cmpuint (profile->len, ==, 0);
  g_clear_pointer (&profile, g_array_unref);

  drape_graph_set_profiling (graph, TRUE);
  for (guint run = 0; run < 2; run++)
    {
      memset (drape_tensor_get_mapped (out), 0, n * sizeof (float));
      g_assert_true (drape_graph_run (graph, &error));
      g_assert_no_error (error);
      test_assert_close ("profiled", drape_tensor_get_mapped (out), want, n, 1e-6);
    }
  drape_graph_set_profiling (graph, FALSE);
  memset (drape_tensor_get_mapped (out), 0, n * sizeof (float));
  g_assert_true (drape_graph_run (graph, &error));
  g_assert_no_error (error);
  test_assert_close ("no longer profiled", drape_tensor_get_mapped (out), want, n, 1e-6);
  profile = drape_graph_get_profile (graph);
  g_assert_cmpuint (profile->len, ==, 2);
  for (guint i = 0; i < profile->len; i++)
    g_assert_cmpuint (g_array_index (profile, DrapeOpTime, i).count, ==, 2);

  g_assert_true (drape_graph_submit (graph, &error));
  drape_graph_set_profiling (graph, TRUE);
  g_assert_true (drape_graph_wait (graph, &error));
  g_assert_false (drape_graph_run (graph, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "running"));
  test_assert_no_validation_messages ();
}

/* A submission that fails leaves nothing in flight: the graph is not
 * refused as still running, and runs right the next time. */
static void
test_failed_submit (void)
{
  DrapeDevice *device = test_device ();
  const float data[4] = { 1, 2, 3, 4 };
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeTensor) a = test_tensor_from (DRAPE_DTYPE_F32, 1, 1, 1, 4, data);
  g_autoptr(DrapeTensor) out = drape_tensor_new_host (device, DRAPE_DTYPE_F32, 1, 1, 1, 4, &error);
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "failing submit");
  const float *got;

  g_assert_no_error (error);
  drape_op_copy (graph, drape_op_add (graph, a, a), out);
  g_assert_true (drape_graph_compile (graph, &error));
  g_assert_no_error (error);

  drape_device_inject_fault (device, VK_ERROR_OUT_OF_DEVICE_MEMORY);
  g_assert_false (drape_graph_submit (graph, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_OUT_OF_MEMORY);
  g_assert_nonnull (strstr (error->message, "vkQueueSubmit"));
  g_clear_error (&error);
  g_assert_false (drape_device_is_lost (device));

  g_assert_true (drape_graph_wait (graph, &error));
  g_assert_true (drape_graph_run (graph, &error));
  g_assert_no_error (error);
  got = drape_tensor_get_mapped (out);
  for (guint i = 0; i < 4; i++)
    g_assert_cmpfloat (got[i], ==, 2 * data[i]);
  test_assert_no_validation_messages ();
}

/* A failing Vulkan call during recording: an error naming the call. */
static void
test_vulkan_failure (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeDevice) device = drape_device_new (NULL, &error);
  g_autoptr(DrapeTensor) a = NULL;
  g_autoptr(DrapeGraph) graph = NULL;

  g_assert_no_error (error);
  a = drape_tensor_new (device, DRAPE_DTYPE_F32, 1, 1, 1, 4, &error);
  graph = drape_graph_new (device, "failing");
  drape_op_add (graph, a, a);
  drape_device_inject_fault (device, VK_ERROR_INITIALIZATION_FAILED);
  g_assert_false (drape_graph_compile (graph, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_VULKAN);
  g_assert_nonnull (strstr (error->message, "VK_ERROR_INITIALIZATION_FAILED"));
  g_assert_false (drape_device_is_lost (device));
}

/* Attention with profiling on, its pipelines built in the background or
 * not: whether its graph ran the kernel labelled `label`; FALSE with
 * `error` set where compiling it failed. */
static gboolean
attention_runs (DrapeDevice *device,
                DrapeTensor *x,
                gboolean     background,
                const char  *label,
                GError     **error)
{
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "attention");
  g_autoptr(GError) run_error = NULL;

  drape_graph_set_background_builds (graph, background);
  drape_graph_set_profiling (graph, TRUE);
  drape_op_attention (graph, x, 0, x, 0, x, 0, 16, 2, 1.0f);
  if (!drape_graph_compile (graph, error))
    return FALSE;
  drape_graph_run (graph, &run_error);
  g_assert_no_error (run_error);
  return test_graph_ran (graph, label);
}

/* attention_runs() without background builds, which must compile. */
static gboolean
attention_ran (DrapeDevice *device,
               DrapeTensor *x,
               const char  *label)
{
  g_autoptr(GError) error = NULL;
  gboolean ran = attention_runs (device, x, FALSE, label, &error);

  g_assert_no_error (error);
  return ran;
}

/* A device of its own, whose kernels a test may clear, and attention's
 * input there; NULL (the test skipped) where the device is no CPU
 * driver, which alone has the subgroup kernel with a stand-in. */
static DrapeDevice *
attention_device (DrapeTensor **x)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeDevice) device = drape_device_new (NULL, &error);

  g_assert_no_error (error);
  if (!drape_device_get_info (device)->is_software)
    {
      g_test_skip ("the subgroup attention kernel is for CPU devices");
      return NULL;
    }
  *x = drape_tensor_new (device, DRAPE_DTYPE_F32, 1, 4, 4, 16, &error);
  g_assert_no_error (error);
  return g_steal_pointer (&device);
}

/* A kernel with a slower stand-in that the driver fails to build: the
 * graph takes the stand-in, and the device remembers the refusal rather
 * than building it again. */
static void
test_refused_kernel (void)
{
  g_autoptr(DrapeDevice) device = NULL;
  g_autoptr(DrapeTensor) x = NULL; /* freed before its device */

  device = attention_device (&x);
  if (device == NULL)
    return;
  g_assert_true (attention_ran (device, x, "attention.subgroup"));
  g_hash_table_remove_all (device->kernels);

  /* Building the subgroup kernel is the next Vulkan call. */
  drape_device_inject_fault (device, VK_ERROR_INITIALIZATION_FAILED);
  g_assert_true (attention_ran (device, x, "attention"));
  g_assert_cmpuint (g_hash_table_size (device->refused_kernels), ==, 1);
  g_assert_false (drape_device_is_lost (device));
  /* Remembered: the next graph takes the stand-in without trying the
   * subgroup kernel again (which would now build). */
  g_assert_true (attention_ran (device, x, "attention"));
  g_assert_cmpuint (g_hash_table_size (device->refused_kernels), ==, 1);
}

/* Whether any of the device's kernels is still building. */
static gboolean
any_kernel_pending (DrapeDevice *device)
{
  GHashTableIter iter;
  DrapeKernel *kernel;
  gboolean pending = FALSE;

  g_mutex_lock (&device->lock);
  g_hash_table_iter_init (&iter, device->kernels);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &kernel))
    pending = pending || kernel->pending;
  g_mutex_unlock (&device->lock);
  return pending;
}

/* Pipelines built in the background (drape_graph_set_background_builds):
 * each one built once, a graph recorded without waiting for one that
 * is building, and a refusal that comes only from the build: a kernel
 * with a stand-in has the graph recorded again, which takes the stand-in
 * (and the device remembers it); one without fails the graph. */
static void
test_background_builds (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeDevice) device = NULL;
  g_autoptr(DrapeTensor) x = NULL; /* freed before its device */
  const char *const subgroup[] = { "attention_subgroup", NULL };
  const char *const binary[] = { "binary", NULL };
  guint before, after;

  device = attention_device (&x);
  if (device == NULL)
    return;

  /* Recorded in the background, then without: the second graph waits
   * for the first's builds rather than building again. */
  drape_device_get_pipeline_builds (device, &before, NULL);
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "attention");

    drape_graph_set_background_builds (graph, TRUE);
    drape_op_attention (graph, x, 0, x, 0, x, 0, 16, 2, 1.0f);
    g_assert_true (attention_ran (device, x, "attention.subgroup"));
    g_assert_false (any_kernel_pending (device));
    g_assert_true (drape_graph_compile (graph, &error));
    g_assert_no_error (error);
  }
  drape_device_get_pipeline_builds (device, &after, NULL);
  g_assert_cmpuint (after - before, ==, g_hash_table_size (device->kernels));
  g_assert_true (attention_runs (device, x, TRUE, "attention.subgroup", &error));
  g_assert_no_error (error);
  drape_device_get_pipeline_builds (device, &before, NULL);
  g_assert_cmpuint (before, ==, after);

  /* A refusal from the build: recorded again, the graph takes the
   * stand-in. */
  g_hash_table_remove_all (device->kernels);
  drape_device_refuse_families (device, subgroup);
  g_assert_false (attention_runs (device, x, TRUE, "attention", &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_RECORD_AGAIN);
  g_assert_nonnull (strstr (error->message, "attention_subgroup"));
  g_clear_error (&error);
  g_assert_cmpuint (g_hash_table_size (device->refused_kernels), ==, 1);
  g_assert_true (attention_runs (device, x, TRUE, "attention", &error));
  g_assert_no_error (error);
  drape_device_refuse_families (device, NULL);
  g_assert_cmpuint (g_hash_table_size (device->refused_kernels), ==, 0);
  g_assert_true (attention_runs (device, x, TRUE, "attention.subgroup", &error));
  g_assert_no_error (error);

  /* A graph recorded without background builds, while a kernel the
   * driver refuses builds for another graph, takes the stand-in as it
   * records; the other graph records again. */
  g_hash_table_remove_all (device->kernels);
  drape_device_refuse_families (device, subgroup);
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "attention");

    drape_graph_set_background_builds (graph, TRUE);
    drape_op_attention (graph, x, 0, x, 0, x, 0, 16, 2, 1.0f);
    g_assert_true (attention_ran (device, x, "attention"));
    g_assert_false (drape_graph_compile (graph, &error));
    g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_RECORD_AGAIN);
    g_clear_error (&error);
  }
  drape_device_refuse_families (device, NULL);

  /* A kernel nothing stands in for fails the graph as it would have
   * failed recording. */
  drape_device_refuse_families (device, binary);
  {
    g_autoptr(DrapeGraph) graph = drape_graph_new (device, "add");

    drape_graph_set_background_builds (graph, TRUE);
    g_assert_nonnull (drape_op_add (graph, x, x));
    g_assert_false (drape_graph_compile (graph, &error));
    g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_VULKAN);
    g_assert_nonnull (strstr (error->message, "binary"));
    g_clear_error (&error);
  }
  drape_device_refuse_families (device, NULL);
  g_assert_cmpuint (drape_device_get_validation_messages (device), ==, 0);
}

/* An f32 activation of `units` x 256 bytes (the arena's alignment). */
static DrapeTensor *
activation (DrapeGraph *graph,
            guint32     units)
{
  return drape_graph_tensor (graph, DRAPE_DTYPE_F32, 1, 1, units, 64);
}

static gboolean
lifetimes_overlap (const DrapeTensor *a,
                   const DrapeTensor *b)
{
  return a->born < b->died && b->born < a->died;
}

/* The arena is planned from lifetimes once the graph is recorded: where
 * placing activations as they come would leave a hole (A, B, A released,
 * then C larger than A: first fit ends at A + B + C), the plan needs only
 * the largest set of activations alive at once (B + C). */
static void
test_arena_plan (void)
{
  g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "arena");
  DrapeTensor *a = activation (graph, 100);
  DrapeTensor *b = activation (graph, 50);
  DrapeTensor *c;

  drape_tensor_release (a);
  c = activation (graph, 150);
  g_assert_cmpuint (drape_graph_get_arena_size (graph), ==, 200 * 256);
  g_assert_true (b->arena_offset >= c->arena_offset + 150 * 256 ||
                 c->arena_offset >= b->arena_offset + 50 * 256);
  /* More activations: the plan is made again. */
  drape_tensor_release (b);
  activation (graph, 300);
  g_assert_cmpuint (drape_graph_get_arena_size (graph), ==, 450 * 256);
}

/* A plan that greedy orders box in (the VAE decoder's, in miniature):
 * by size, C and C2 (204) and A (200) go at 0, X (198, alive with them)
 * above, and P (96, alive with A and X) fits neither below X nor
 * between: 498; by size times lifetime, 494.  With the largest blocks
 * tried in every order the plan is the most alive at once, X + C. */
static void
test_arena_plan_boxed_in (void)
{
  g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "arena");
  DrapeTensor *a = activation (graph, 200);
  DrapeTensor *p = activation (graph, 96);
  DrapeTensor *d, *x, *c, *c2;

  drape_tensor_release (a);
  d = activation (graph, 104);
  drape_tensor_release (d);
  x = activation (graph, 198);
  drape_tensor_release (p);
  c = activation (graph, 204);
  drape_tensor_release (c);
  c2 = activation (graph, 204);
  drape_tensor_release (c2);
  drape_tensor_release (x);
  g_assert_cmpuint (drape_graph_get_arena_size (graph), ==, (198 + 204) * 256);
  g_assert_true (p->arena_offset >= x->arena_offset + 198 * 256 ||
                 x->arena_offset >= p->arena_offset + 96 * 256);
  g_assert_true (p->arena_offset >= a->arena_offset + 200 * 256 ||
                 a->arena_offset >= p->arena_offset + 96 * 256);
  g_assert_true (c->arena_offset >= x->arena_offset + 198 * 256 ||
                 x->arena_offset >= c->arena_offset + 204 * 256);
}

/* A guest lies at its offset from its home, which is given the bytes the
 * guest reaches ahead of it for as long as either lives: what is
 * allocated after the home is released, while the guest lives, keeps
 * clear of both; once the guest is released too, the memory is free. */
static void
test_arena_plan_guests (void)
{
  g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "arena");
  DrapeTensor *home = activation (graph, 100);
  DrapeTensor *guest = drape_graph_tensor_within (graph, home, -10 * 256, DRAPE_DTYPE_F32, 1, 1,
                                                  100, 64);
  DrapeTensor *during, *after;

  drape_tensor_release (home);
  during = activation (graph, 50);
  drape_tensor_release (during);
  drape_tensor_release (guest);
  after = activation (graph, 300);
  g_assert_cmpuint (drape_graph_get_arena_size (graph), ==, 300 * 256);
  g_assert_cmpuint (guest->arena_offset + 10 * 256, ==, home->arena_offset);
  g_assert_true (during->arena_offset >= home->arena_offset + 100 * 256 ||
                 during->arena_offset + 50 * 256 <= guest->arena_offset);
  g_assert_cmpuint (after->arena_offset, ==, 0);
}

/* Random lifetimes: activations alive at the same time never share
 * bytes, and the arena is at least, and close to, the most bytes alive
 * at once. */
static void
test_arena_plan_random (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (5);
  g_autoptr(DrapeGraph) graph = drape_graph_new (test_device (), "arena");
  g_autoptr(GPtrArray) all = g_ptr_array_new ();
  g_autoptr(GPtrArray) live = g_ptr_array_new ();
  guint64 live_bytes = 0, most_live = 0, size;

  for (guint step = 0; step < 600; step++)
    {
      if (live->len > 0 && g_rand_int_range (rand, 0, 3) == 0)
        {
          DrapeTensor *t = g_ptr_array_steal_index_fast (live, g_rand_int_range (rand, 0, live->len));
          live_bytes -= drape_tensor_bytes (t);
          drape_tensor_release (t);
        }
      else
        {
          DrapeTensor *t = activation (graph, g_rand_int_range (rand, 1, 400));
          g_ptr_array_add (live, t);
          g_ptr_array_add (all, t);
          live_bytes += drape_tensor_bytes (t);
          most_live = MAX (most_live, live_bytes);
        }
    }
  size = drape_graph_get_arena_size (graph);
  for (guint i = 0; i < all->len; i++)
    {
      const DrapeTensor *x = g_ptr_array_index (all, i);
      g_assert_cmpuint (x->arena_offset + drape_tensor_bytes (x), <=, size);
      for (guint j = i + 1; j < all->len; j++)
        {
          const DrapeTensor *y = g_ptr_array_index (all, j);
          if (lifetimes_overlap (x, y))
            g_assert_true (x->arena_offset >= y->arena_offset + drape_tensor_bytes (y) ||
                           y->arena_offset >= x->arena_offset + drape_tensor_bytes (x));
        }
    }
  g_test_message ("arena %" G_GUINT64_FORMAT " bytes, most alive at once %" G_GUINT64_FORMAT,
                  size, most_live);
  g_assert_cmpuint (size, >=, most_live);
  g_assert_cmpuint (size, <=, most_live + most_live / 20);
}

/* Which bindings a module may write, from a hand-made module that
 * declares one binding of each kind: a readonly block (0), a writable one
 * (1), one with only some members readonly (2), an old-style storage
 * buffer (Uniform + BufferBlock, 3), a uniform block (4), a writable
 * block in another set (binding 5 there), a variable itself NonWritable
 * (6), a uniform texel buffer (7) and a storage image (8). */
static void
test_spirv_written_bindings (void)
{
  enum { FLOAT = 9, S_RO = 10, S_RW = 11, S_HALF = 12, S_OLD = 13, S_UBO = 14, TEXEL = 15, IMAGE = 16,
         P_RO = 17, P_RW = 18, P_HALF = 19, P_OLD = 20, P_UBO = 21, P_TEXEL = 22, P_IMAGE = 23,
         STORAGE_IMAGE = 24, BOUND = 25 };
#define OP(count, opcode) (((count) << 16) | (opcode))
  const guint32 module[] = {
    0x07230203, 0x00010500, 0, BOUND, 0,
    OP (4, 71), 1, 33, 0, OP (4, 71), 1, 34, 0, OP (4, 72), S_RO, 0, 24,
    OP (4, 71), 2, 33, 1,
    OP (4, 71), 3, 33, 2, OP (4, 72), S_HALF, 1, 24,
    OP (4, 71), 4, 33, 3, OP (3, 71), S_OLD, 3,
    OP (4, 71), 5, 33, 4, OP (3, 71), S_UBO, 2,
    OP (4, 71), 6, 33, 5, OP (4, 71), 6, 34, 1,
    OP (4, 71), 7, 33, 6, OP (3, 71), 7, 24,
    OP (4, 71), 8, 33, 7,
    OP (4, 71), STORAGE_IMAGE, 33, 8,
    OP (3, 22), FLOAT, 32,
    OP (3, 30), S_RO, FLOAT, OP (3, 30), S_RW, FLOAT, OP (4, 30), S_HALF, FLOAT, FLOAT,
    OP (3, 30), S_OLD, FLOAT, OP (3, 30), S_UBO, FLOAT,
    OP (9, 25), TEXEL, FLOAT, 5, 0, 0, 0, 1, 0, OP (9, 25), IMAGE, FLOAT, 5, 0, 0, 0, 2, 1,
    OP (4, 32), P_RO, 12, S_RO, OP (4, 32), P_RW, 12, S_RW, OP (4, 32), P_HALF, 12, S_HALF,
    OP (4, 32), P_OLD, 2, S_OLD, OP (4, 32), P_UBO, 2, S_UBO, OP (4, 32), P_TEXEL, 0, TEXEL,
    OP (4, 32), P_IMAGE, 0, IMAGE,
    OP (4, 59), P_RO, 1, 12, OP (4, 59), P_RW, 2, 12, OP (4, 59), P_HALF, 3, 12, OP (4, 59), P_OLD, 4, 2,
    OP (4, 59), P_UBO, 5, 2, OP (4, 59), P_RW, 6, 12, OP (4, 59), P_RW, 7, 12, OP (4, 59), P_TEXEL, 8, 0,
    OP (4, 59), P_IMAGE, STORAGE_IMAGE, 0,
  };
#undef OP
  g_autofree guint32 *broken = g_memdup2 (module, sizeof module);
  g_autoptr(GBytes) conv = NULL;
  g_autoptr(GError) error = NULL;
  const guint32 *words;
  guint32 mask = 0;
  gsize size;

  g_assert_true (drape_spirv_written_bindings (module, G_N_ELEMENTS (module), &mask, &error));
  g_assert_no_error (error);
  g_assert_cmphex (mask, ==, (1u << 1) | (1u << 2) | (1u << 3) | (1u << 8));

  /* A shader of ours: a convolution writes only its output, binding 5. */
  conv = g_resource_lookup_data (drape_shaders_get_resource (), "/app/drape/shaders/conv2d.f32.spv",
                                 G_RESOURCE_LOOKUP_FLAGS_NONE, &error);
  g_assert_no_error (error);
  words = g_bytes_get_data (conv, &size);
  g_assert_true (drape_spirv_written_bindings (words, size / 4, &mask, &error));
  g_assert_cmphex (mask, ==, 1u << 5);

  /* Words that are no module: an error, never a read past the end. */
  g_assert_false (drape_spirv_written_bindings (module, 4, &mask, &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  memcpy (broken, module, sizeof module);
  broken[0] = 0x03022307;
  g_assert_false (drape_spirv_written_bindings (broken, G_N_ELEMENTS (module), &mask, &error));
  g_assert_nonnull (strstr (error->message, "header"));
  g_clear_error (&error);
  memcpy (broken, module, sizeof module);
  broken[3] = 0xffffffffu;
  g_assert_false (drape_spirv_written_bindings (broken, G_N_ELEMENTS (module), &mask, &error));
  g_assert_nonnull (strstr (error->message, "bound"));
  g_clear_error (&error);
  g_assert_false (drape_spirv_written_bindings (module, G_N_ELEMENTS (module) - 2, &mask, &error));
  g_assert_nonnull (strstr (error->message, "past the end"));
  g_clear_error (&error);
  memcpy (broken, module, sizeof module);
  broken[5] = 0;
  g_assert_false (drape_spirv_written_bindings (broken, G_N_ELEMENTS (module), &mask, &error));
  g_clear_error (&error);
  memcpy (broken, module, sizeof module);
  broken[8] = 40; /* variable 1's binding */
  g_assert_false (drape_spirv_written_bindings (broken, G_N_ELEMENTS (module), &mask, &error));
  g_assert_nonnull (strstr (error->message, "binding"));
}

/* The barrier graph: a = 2x and b = x + 1 side by side (no barrier
 * between), y copied over x (after a barrier: a and b read x), s = a +
 * b (no barrier: the last one already ordered a and b before it), t = s
 * x (a barrier: s was just written), t copied to out (another).  Returns
 * the graph, run; out holds 3x + 1 times y. */
static DrapeGraph *
run_barrier_graph (DrapeDevice *device,
                   const float *x_data,
                   const float *y_data,
                   DrapeTensor *out)
{
  g_autoptr(GError) error = NULL;
  guint32 n = drape_tensor_numel (out);
  g_autoptr(DrapeTensor) x = drape_tensor_new (device, DRAPE_DTYPE_F32, 1, 8, 8, 4, &error);
  g_autoptr(DrapeTensor) y = drape_tensor_new (device, DRAPE_DTYPE_F32, 1, 8, 8, 4, &error);
  DrapeGraph *graph = drape_graph_new (device, "barriers");
  DrapeTensor *a, *b, *s, *t;

  g_assert_no_error (error);
  g_assert_true (drape_tensor_upload (x, x_data, n, &error));
  g_assert_true (drape_tensor_upload (y, y_data, n, &error));
  a = drape_op_scale (graph, x, 2.0f, 0.0f);
  b = drape_op_scale (graph, x, 1.0f, 1.0f);
  drape_op_copy (graph, y, x);
  s = drape_op_add (graph, a, b);
  drape_tensor_release (a);
  drape_tensor_release (b);
  t = drape_op_mul (graph, s, x);
  drape_tensor_release (s);
  drape_op_copy (graph, t, out);
  drape_tensor_release (t);
  drape_graph_run (graph, &error);
  g_assert_no_error (error);
  return graph;
}

/* Barriers go only where dispatches race, by the bindings each kernel
 * writes: read after write, write after read.  The tests run with the
 * layer's synchronisation validation, which reports any barrier missed;
 * DRAPE_BARRIERS=every puts one after every dispatch. */
static void
test_barriers (void)
{
  const guint32 n = 8 * 8 * 4;
  g_autofree float *x = test_random_data (n, 1, 1.0f, DRAPE_DTYPE_F32);
  g_autofree float *y = test_random_data (n, 2, 1.0f, DRAPE_DTYPE_F32);
  g_autofree float *want = g_new (float, n);
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeDevice) every = NULL;
  g_autoptr(DrapeTensor) out = test_tensor_from (DRAPE_DTYPE_F32, 1, 8, 8, 4, NULL);
  g_autoptr(DrapeTensor) every_out = NULL;
  g_autoptr(DrapeGraph) graph = NULL;
  g_autoptr(DrapeGraph) every_graph = NULL;
  g_autofree float *got = NULL;

  for (guint i = 0; i < n; i++)
    want[i] = (3 * x[i] + 1) * y[i];
  graph = run_barrier_graph (test_device (), x, y, out);
  g_assert_cmpuint (drape_graph_get_n_nodes (graph), ==, 6);
  g_assert_cmpuint (drape_graph_get_n_barriers (graph), ==, 4);
  got = test_download (out);
  test_assert_close ("barriers where they race", got, want, n, 1e-5);
  g_clear_pointer (&got, g_free);
  test_assert_no_validation_messages ();

  g_setenv ("DRAPE_BARRIERS", "every", TRUE);
  every = drape_device_new (NULL, &error);
  g_unsetenv ("DRAPE_BARRIERS");
  g_assert_no_error (error);
  every_out = drape_tensor_new (every, DRAPE_DTYPE_F32, 1, 8, 8, 4, &error);
  g_assert_no_error (error);
  every_graph = run_barrier_graph (every, x, y, every_out);
  g_assert_cmpuint (drape_graph_get_n_barriers (every_graph), ==, 6);
  got = test_download (every_out);
  test_assert_close ("a barrier after every dispatch", got, want, n, 1e-5);
  g_assert_cmpuint (drape_device_get_validation_messages (every), ==, 0);
}

/* A tuning survives its file; files that are not one are refused with
 * the file's name and what is wrong, never half read. */
static void
test_tuning_file (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("drape-tuning-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "new folder", "tuning.json", NULL);
  g_autofree char *bad = g_build_filename (dir, "bad.json", NULL);
  g_autofree char *under_file = g_build_filename (bad, "tuning.json", NULL);
  g_autofree char *missing = g_build_filename (dir, "missing.json", NULL);
  g_autofree char *folder = g_path_get_dirname (path);
  g_autoptr(DrapeTuning) tuning = drape_tuning_new ();
  g_autoptr(DrapeTuning) loaded = NULL;
  g_autoptr(GArray) entries = NULL;
  const DrapeTuningEntry conv = { "conv2d f16 M64 N8 K72 C8", "coopmat:64x64x32/1", 0.5,
                                  "coopmat:128x128x64/1", 0.75 };
  const DrapeTuningEntry linear = { "linear f32 M4 N8 K8 C8 G1", "tiled", 1.25, "tiled", 1.25 };
  static const char *const not_tunings[] = {
    "{", "[]", "{\"problems\": []}", "{\"problems\": {\"p\": 7}}",
    "{\"problems\": {\"p\": {\"ms\": 1}}}", "{\"problems\": {\"p\": {\"way\": 3}}}",
    "{\"problems\": {\"p\": {\"way\": \"a\", \"ms\": \"fast\"}}}",
  };

  g_assert_no_error (error);
  drape_tuning_set (tuning, &conv);
  drape_tuning_set (tuning, &linear);
  g_assert_true (drape_tuning_save (tuning, path, "a test device", &error));
  g_assert_no_error (error);
  loaded = drape_tuning_load (path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (drape_tuning_get_size (loaded), ==, 2);
  g_assert_cmpstr (drape_tuning_lookup (loaded, conv.problem), ==, conv.way);
  g_assert_null (drape_tuning_lookup (loaded, "conv2d f16 M64 N8 K72 C16"));
  entries = drape_tuning_get_entries (loaded);
  g_assert_cmpstr (g_array_index (entries, DrapeTuningEntry, 0).problem, ==, conv.problem);
  g_assert_cmpfloat (g_array_index (entries, DrapeTuningEntry, 0).usual_ms, ==, 0.75);
  g_assert_cmpstr (g_array_index (entries, DrapeTuningEntry, 0).usual, ==, conv.usual);
  g_assert_cmpfloat (g_array_index (entries, DrapeTuningEntry, 1).ms, ==, 1.25);

  for (guint i = 0; i < G_N_ELEMENTS (not_tunings); i++)
    {
      g_autoptr(DrapeTuning) none = NULL;

      g_assert_true (g_file_set_contents (bad, not_tunings[i], -1, NULL));
      none = drape_tuning_load (bad, &error);
      g_assert_null (none);
      g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_FORMAT);
      g_assert_nonnull (strstr (error->message, bad));
      g_clear_error (&error);
    }
  g_clear_pointer (&loaded, drape_tuning_free);
  loaded = drape_tuning_load (missing, &error);
  g_assert_null (loaded);
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_IO);
  g_clear_error (&error);
  /* A folder where a file is. */
  g_assert_false (drape_tuning_save (tuning, under_file, "a test device", &error));
  g_assert_error (error, DRAPE_ERROR, DRAPE_ERROR_IO);
  g_clear_error (&error);

  g_remove (bad);
  g_remove (path);
  g_rmdir (folder);
  g_rmdir (dir);
}

/* A device takes up DRAPE_TUNING's file, or none; one it cannot read is
 * left out. */
/* The tunings Drape ships (tunings/): each named by a GPU's PCI IDs,
 * loading, and keeping for each problem a way no slower than the usual
 * one (tune keeps the usual way otherwise). */
static void
test_tuning_shipped (void)
{
  g_autofree char *folder = g_test_build_filename (G_TEST_DIST, "..", "tunings", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GDir) dir = g_dir_open (folder, 0, &error);
  const char *name;
  guint n = 0;

  g_assert_no_error (error);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (folder, name, NULL);
      g_autoptr(DrapeTuning) tuning = NULL;
      g_autoptr(GArray) entries = NULL;

      if (!g_str_has_suffix (name, ".json"))
        continue;
      g_assert_true (g_regex_match_simple ("^[0-9a-f]{4}-[0-9a-f]{4}\\.json$", name, 0, 0));
      tuning = drape_tuning_load (path, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (drape_tuning_get_size (tuning), >, 0);
      entries = drape_tuning_get_entries (tuning);
      for (guint i = 0; i < entries->len; i++)
        {
          const DrapeTuningEntry *e = &g_array_index (entries, DrapeTuningEntry, i);

          g_assert_cmpfloat (e->ms, <=, e->usual_ms);
          g_assert_cmpfloat (e->ms, >, 0);
        }
      n++;
    }
  g_assert_cmpuint (n, >, 0);
}

static void
test_tuning_device (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("drape-tuning-XXXXXX", &error);
  g_autofree char *path = g_build_filename (dir, "tuning.json", NULL);
  g_autoptr(DrapeTuning) tuning = drape_tuning_new ();
  const DrapeTuningEntry entry = { "conv2d f32 M16 N8 K8 C8 G1", "tiled", 1, "tiled", 1 };

  g_assert_no_error (error);
  drape_tuning_set (tuning, &entry);
  g_assert_true (drape_tuning_save (tuning, path, "a test device", &error));
  g_assert_no_error (error);

  g_setenv ("DRAPE_TUNING", path, TRUE);
  {
    g_autoptr(DrapeDevice) device = drape_device_new (NULL, &error);

    g_assert_no_error (error);
    g_assert_cmpstr (drape_device_get_tuning_path (device), ==, path);
    g_assert_cmpstr (drape_tuning_lookup (drape_device_get_tuning (device), entry.problem), ==, "tiled");
  }
  g_assert_true (g_file_set_contents (path, "{ \"problems\": 1 }", -1, NULL));
  /* (It says "Tuning not used: ..." on the log.) */
  {
    g_autoptr(DrapeDevice) device = drape_device_new (NULL, &error);

    g_assert_no_error (error);
    g_assert_cmpuint (drape_tuning_get_size (drape_device_get_tuning (device)), ==, 0);
  }
  g_setenv ("DRAPE_TUNING", "none", TRUE);
  {
    g_autoptr(DrapeDevice) device = drape_device_new (NULL, &error);

    g_assert_no_error (error);
    g_assert_cmpuint (drape_tuning_get_size (drape_device_get_tuning (device)), ==, 0);
    /* Its own file, where tune saves. */
    g_assert_true (g_str_has_prefix (drape_device_get_tuning_path (device), g_get_user_cache_dir ()));
  }
  g_unsetenv ("DRAPE_TUNING");

  /* Without DRAPE_TUNING, the tuning shipped for the device's model (by
   * PCI IDs, from DRAPE_TUNINGS_DIR) where it has none of its own; its
   * own where it has; neither with DRAPE_TUNING=none, nor one that is
   * not a tuning. */
  {
    const DrapeDeviceInfo *info = drape_device_get_info (test_device ());
    g_autofree char *name = g_strdup_printf ("%04x-%04x.json", info->vendor_id, info->device_id);
    g_autofree char *shipped = g_build_filename (dir, name, NULL);
    const DrapeTuningEntry own_entry = { entry.problem, "subgroup", 1, "tiled", 2 };

    g_remove (path);
    g_assert_true (drape_tuning_save (tuning, shipped, "a GPU of this model", &error));
    g_assert_no_error (error);
    g_setenv ("DRAPE_TUNINGS_DIR", dir, TRUE);
    {
      g_autoptr(DrapeDevice) device = drape_device_new (NULL, &error);

      g_assert_no_error (error);
      g_assert_false (g_file_test (drape_device_get_tuning_path (device), G_FILE_TEST_EXISTS));
      g_assert_cmpstr (drape_device_get_tuning_source (device), ==, shipped);
      g_assert_cmpstr (drape_tuning_lookup (drape_device_get_tuning (device), entry.problem), ==, "tiled");
      /* tune saves to the device's own file, which then comes first,
       * for this device (a save elsewhere leaves the source) and the
       * next. */
      drape_tuning_set (drape_device_get_tuning (device), &own_entry);
      g_assert_true (drape_device_save_tuning (device, path, &error));
      g_assert_no_error (error);
      g_assert_cmpstr (drape_device_get_tuning_source (device), ==, shipped);
      g_assert_true (drape_device_save_tuning (device, drape_device_get_tuning_path (device), &error));
      g_assert_no_error (error);
      g_assert_cmpstr (drape_device_get_tuning_source (device), ==, drape_device_get_tuning_path (device));
      g_remove (path);
    }
    {
      g_autoptr(DrapeDevice) device = drape_device_new (NULL, &error);

      g_assert_no_error (error);
      g_assert_cmpstr (drape_device_get_tuning_source (device), ==, drape_device_get_tuning_path (device));
      g_assert_cmpstr (drape_tuning_lookup (drape_device_get_tuning (device), entry.problem), ==, "subgroup");
      g_assert_cmpint (g_remove (drape_device_get_tuning_path (device)), ==, 0);
    }
    g_setenv ("DRAPE_TUNING", "none", TRUE);
    {
      g_autoptr(DrapeDevice) device = drape_device_new (NULL, &error);

      g_assert_no_error (error);
      g_assert_null (drape_device_get_tuning_source (device));
      g_assert_cmpuint (drape_tuning_get_size (drape_device_get_tuning (device)), ==, 0);
    }
    g_unsetenv ("DRAPE_TUNING");
    g_assert_true (g_file_set_contents (shipped, "[]", -1, NULL));
    /* (It says "Tuning not used: ..." on the log.) */
    {
      g_autoptr(DrapeDevice) device = drape_device_new (NULL, &error);

      g_assert_no_error (error);
      g_assert_null (drape_device_get_tuning_source (device));
      g_assert_cmpuint (drape_tuning_get_size (drape_device_get_tuning (device)), ==, 0);
    }
    g_unsetenv ("DRAPE_TUNINGS_DIR");
    g_remove (shipped);
  }
  g_rmdir (dir);
}

/* An op's way: the trial's, the tuning's where it names one of the
 * ways, else the usual; and the way profile times the dispatches
 * recorded under the choice, and only those. */
static void
test_graph_choose (void)
{
  DrapeDevice *device = test_device ();
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeTensor) x = test_tensor_from (DRAPE_DTYPE_F32, 1, 4, 4, 8, NULL);
  g_autoptr(DrapeGraph) graph = drape_graph_new (device, "choose");
  g_autoptr(GArray) profile = NULL;
  DrapeTuning *tuning = drape_tuning_new ();
  const char *ways[] = { "a", "b", "c" };
  const DrapeTuningEntry tuned = { "problem", "c", 1, "b", 2 };
  const DrapeTuningEntry unknown = { "other problem", "z", 1, "a", 2 };

  g_assert_cmpuint (drape_graph_choose (graph, "problem", ways, 3, 1), ==, 1);
  drape_tuning_set (tuning, &tuned);
  drape_tuning_set (tuning, &unknown);
  drape_device_set_tuning (device, tuning);
  g_assert_cmpuint (drape_graph_choose (graph, "problem", ways, 3, 1), ==, 2);
  g_assert_cmpuint (drape_graph_choose (graph, "other problem", ways, 3, 1), ==, 1);
  g_assert_cmpuint (drape_graph_choose (graph, "problem", ways, 2, 0), ==, 0);
  g_assert_cmpuint (drape_graph_get_n_tuned (graph), ==, 1);
  drape_graph_set_trial (graph, 0);
  g_assert_cmpuint (drape_graph_choose (graph, "problem", ways, 3, 1), ==, 0);
  drape_graph_set_trial (graph, 2);
  g_assert_cmpuint (drape_graph_choose (graph, "problem", ways, 3, 1), ==, 2);
  g_assert_cmpuint (drape_graph_choose (graph, "other problem", ways, 2, 1), ==, 1);
  g_assert_cmpuint (drape_graph_get_n_trials (graph), ==, 3);
  drape_graph_end_choice (graph);
  drape_device_set_tuning (device, drape_tuning_new ());

  if (!drape_device_get_caps (device)->has_timestamps)
    return;
  /* Trial 2: "other problem" takes its usual way ("b") for the first
   * op, which chooses nothing itself; the second is no choice's. */
  drape_graph_choose (graph, "other problem", ways, 2, 1);
  drape_op_silu (graph, x);
  drape_graph_end_choice (graph);
  drape_op_silu (graph, x);
  drape_graph_set_profiling (graph, TRUE);
  for (guint run = 0; run < 2; run++)
    g_assert_true (drape_graph_run (graph, &error));
  g_assert_no_error (error);
  profile = drape_graph_get_way_profile (graph);
  g_assert_cmpuint (profile->len, ==, 1);
  {
    const DrapeWayTime *t = &g_array_index (profile, DrapeWayTime, 0);
    g_assert_cmpstr (t->problem, ==, "other problem");
    g_assert_cmpstr (t->way, ==, "b");
    g_assert_true (t->usual);
    g_assert_cmpuint (t->runs, ==, 2);
    g_assert_cmpfloat (t->total_ms, >, 0);
  }
}

/* Doubles x the slow way: an odd number of dispatches that double and
 * halve it in turn, each exact. */
static DrapeTensor *
double_slowly (DrapeGraph        *graph,
               const DrapeTensor *x,
               guint              dispatches)
{
  DrapeTensor *y = drape_op_scale (graph, x, 2.0f, 0.0f);

  for (guint i = 1; i < dispatches; i++)
    {
      DrapeTensor *next = drape_op_scale (graph, y, i % 2 ? 0.5f : 2.0f, 0.0f);

      drape_tensor_release (y);
      y = next;
    }
  return y;
}

/* What drape_tuning_measure said of its trials, last, and how many
 * graphs it had recorded. */
typedef struct {
  guint done, total, calls;
  const DrapeTensor *x;
  guint records;
} Trials;

/* Two problems of two ways each, whose second ways are much faster:
 * "right" doubles x in one dispatch, as its usual way does in 21;
 * "wrong" triples it. */
static gboolean
record_checked_ways (DrapeGraph *graph,
                     gpointer    user_data,
                     GPtrArray  *results,
                     GError    **error)
{
  Trials *trials = user_data;
  const DrapeTensor *x = trials->x;
  const char *right_ways[] = { "slowly", "at once" };
  const char *wrong_ways[] = { "slowly", "triple" };
  DrapeTensor *right, *wrong;

  right = drape_graph_choose (graph, "right", right_ways, 2, 0) == 0 ? double_slowly (graph, x, 21)
                                                                     : drape_op_scale (graph, x, 2.0f, 0.0f);
  drape_graph_end_choice (graph);
  wrong = drape_graph_choose (graph, "wrong", wrong_ways, 2, 0) == 0 ? double_slowly (graph, x, 21)
                                                                     : drape_op_scale (graph, x, 3.0f, 0.0f);
  drape_graph_end_choice (graph);
  g_ptr_array_add (results, right);
  g_ptr_array_add (results, wrong);
  trials->records++;
  return drape_graph_check (graph, error);
}

static void
on_trials (guint    done,
           guint    total,
           gpointer user_data)
{
  Trials *trials = user_data;

  trials->done = done;
  trials->total = total;
  trials->calls++;
}

/* drape_tuning_measure on record_checked_ways, with `deadline`; NULL
 * (the test skipped) where the device has no timestamps. */
static DrapeTuning *
measure_checked_ways (gint64  deadline,
                      Trials *trials)
{
  DrapeDevice *device = test_device ();
  g_autofree float *values = test_random_data (32 * 32 * 16, 7, 1.0f, DRAPE_DTYPE_F32);
  g_autoptr(DrapeTensor) x = test_tensor_from (DRAPE_DTYPE_F32, 1, 32, 32, 16, values);
  g_autoptr(DrapeTuning) tuning = drape_tuning_new ();
  g_autoptr(GError) error = NULL;

  if (!drape_device_get_caps (device)->has_timestamps)
    {
      g_test_skip ("device has no timestamps");
      return NULL;
    }
  trials->x = x;
  g_assert_true (drape_tuning_measure (tuning, device, record_checked_ways, trials, 3, deadline, on_trials,
                                       trials, NULL, &error));
  g_assert_no_error (error);
  test_assert_no_validation_messages ();
  return g_steal_pointer (&tuning);
}

/* Tuning keeps only ways that compute what the usual ones do: "wrong"'s
 * faster way is left out, though the trial that timed it also timed
 * "right"'s, which is kept. */
static void
test_tuning_checked_ways (void)
{
  Trials trials = { 0 };
  g_autoptr(DrapeTuning) tuning = measure_checked_ways (0, &trials);

  if (tuning == NULL)
    return;
  g_assert_cmpstr (drape_tuning_lookup (tuning, "right"), ==, "at once");
  g_assert_cmpstr (drape_tuning_lookup (tuning, "wrong"), ==, "slowly");
  /* Both trials (each problem has two ways) ran; the progress says so. */
  g_assert_cmpuint (trials.done, ==, 2);
  g_assert_cmpuint (trials.total, ==, 2);
  /* Recorded: the usual ways, each trial ahead (its pipelines building
   * while the one before is timed) and for itself, and the second
   * trial's two ways alone (its results differed). */
  g_assert_cmpuint (trials.records, ==, 1 + 2 * 2 + 2);
}

/* A deadline already past: the usual ways are timed and no other, so
 * each problem keeps its usual way, with that way's time, and the
 * progress ends short of the trials. */
static void
test_tuning_deadline (void)
{
  Trials trials = { 0 };
  g_autoptr(DrapeTuning) tuning = measure_checked_ways (g_get_monotonic_time (), &trials);
  g_autoptr(GArray) entries = NULL;

  if (tuning == NULL)
    return;
  g_assert_cmpuint (trials.calls, ==, 1);
  g_assert_cmpuint (trials.done, ==, 0);
  g_assert_cmpuint (trials.total, ==, 2);
  /* Nothing recorded ahead for trials that will not run. */
  g_assert_cmpuint (trials.records, ==, 1);
  entries = drape_tuning_get_entries (tuning);
  g_assert_cmpuint (entries->len, ==, 2);
  for (guint i = 0; i < entries->len; i++)
    {
      const DrapeTuningEntry *e = &g_array_index (entries, DrapeTuningEntry, i);

      g_assert_cmpstr (e->way, ==, "slowly");
      g_assert_cmpstr (e->usual, ==, "slowly");
      g_assert_cmpfloat (e->ms, >, 0);
      g_assert_cmpfloat (e->ms, ==, e->usual_ms);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/device/list", test_list);
  g_test_add_func ("/device/selector", test_selector);
  g_test_add_func ("/device/wide-vectors-pay", test_wide_vectors_pay);
  g_test_add_func ("/device/int64-stores", test_int64_stores);
  g_test_add_func ("/device/lane-broadcasts", test_lane_broadcasts);
  g_test_add_func ("/device/texel-reads", test_texel_reads);
  g_test_add_func ("/device/wide-cpu-vectors", test_wide_cpu_vectors);
  g_test_add_func ("/device/caps", test_caps);
  g_test_add_func ("/device/out-of-memory", test_out_of_memory);
  g_test_add_func ("/device/memory-usage", test_memory_usage);
  g_test_add_func ("/device/texel-views", test_texel_views);
  g_test_add_func ("/device/lost", test_device_lost);
  g_test_add_func ("/device/vulkan-failure", test_vulkan_failure);
  g_test_add_func ("/device/refused-kernel", test_refused_kernel);
  g_test_add_func ("/device/background-builds", test_background_builds);
  g_test_add_func ("/device/submit-wait", test_submit_wait);
  g_test_add_func ("/device/failed-submit", test_failed_submit);
  g_test_add_func ("/graph/dispatch-profile", test_dispatch_profile);
  g_test_add_func ("/graph/profiling-after-compile", test_profiling_after_compile);
  g_test_add_func ("/graph/barriers", test_barriers);
  g_test_add_func ("/kernel/spirv-written-bindings", test_spirv_written_bindings);
  g_test_add_func ("/graph/arena-plan", test_arena_plan);
  g_test_add_func ("/graph/arena-plan/random", test_arena_plan_random);
  g_test_add_func ("/graph/arena-plan/boxed-in", test_arena_plan_boxed_in);
  g_test_add_func ("/graph/arena-plan/guests", test_arena_plan_guests);
  g_test_add_func ("/tuning/file", test_tuning_file);
  g_test_add_func ("/tuning/device", test_tuning_device);
  g_test_add_func ("/tuning/shipped", test_tuning_shipped);
  g_test_add_func ("/tuning/checked-ways", test_tuning_checked_ways);
  g_test_add_func ("/tuning/deadline", test_tuning_deadline);
  g_test_add_func ("/graph/choose", test_graph_choose);
  return test_finish (g_test_run ());
}
