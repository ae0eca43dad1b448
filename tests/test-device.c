/* test-device.c: device choice, limits, and failures that must not abort
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "test-common.h"

#include <string.h>

#include "device-private.h"
#include "ops.h"

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

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/device/list", test_list);
  g_test_add_func ("/device/selector", test_selector);
  g_test_add_func ("/device/caps", test_caps);
  g_test_add_func ("/device/out-of-memory", test_out_of_memory);
  g_test_add_func ("/device/lost", test_device_lost);
  g_test_add_func ("/device/vulkan-failure", test_vulkan_failure);
  return test_finish (g_test_run ());
}
