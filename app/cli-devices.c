/* cli-devices.c: drape-cli devices
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <stdio.h>

#include "cli.h"
#include "tuning.h"
#include "device.h"

static char *
format_version (guint32 v)
{
  return g_strdup_printf ("%u.%u.%u", v >> 22, (v >> 12) & 0x3ff, v & 0xfff);
}

int
drape_cli_devices (int    argc,
                   char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new ("- list Vulkan devices");
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) list = NULL;
  g_autoptr(DrapeDevice) chosen = NULL;

  g_option_context_set_description (context,
    "The device marked * is the one Drape uses: a discrete GPU if there is one,\n"
    "or the device named by DRAPE_DEVICE (an index or part of its name).");
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return drape_cli_fail_error (error);

  list = drape_device_list (&error);
  if (list == NULL)
    return drape_cli_fail_error (error);
  chosen = drape_device_new (NULL, &error);

  for (guint i = 0; i < list->len; i++)
    {
      const DrapeDeviceInfo *info = g_ptr_array_index (list, i);
      g_autofree char *api = format_version (info->api_version);
      gboolean is_chosen = chosen != NULL && drape_device_get_info (chosen)->index == info->index;

      printf ("%c %u: %s (%s, %s, Vulkan %s, %" G_GUINT64_FORMAT " MiB)%s%s\n",
              is_chosen ? '*' : ' ', info->index, info->name,
              drape_device_type_to_string (info->type), info->driver, api,
              info->device_local_bytes >> 20,
              info->is_software ? " [software: runs on the CPU, slowly]" : "",
              info->usable ? "" : " [unusable: needs Vulkan 1.2 and a compute queue]");
      if (is_chosen)
        {
          const DrapeDeviceCaps *caps = drape_device_get_caps (chosen);
          g_autofree char *tensor_cores = drape_cli_describe_tensor_cores (caps);

          printf ("    vendor and device     %04x:%04x\n", info->vendor_id, info->device_id);
          if (info->driver_info[0] != '\0')
            printf ("    driver                %s\n", info->driver_info);
          printf ("    max storage binding   %" G_GUINT64_FORMAT " MiB\n", caps->max_storage_buffer_range >> 20);
          printf ("    max allocation        %" G_GUINT64_FORMAT " MiB\n", caps->max_allocation_size >> 20);
          printf ("    shared memory         %u KiB\n", caps->max_shared_memory >> 10);
          printf ("    subgroup size         %u\n", caps->subgroup_size);
          if (caps->compute_units > 0)
            printf ("    compute units         %u\n", caps->compute_units);
          printf ("    workgroups            %u x %u x %u\n", caps->max_workgroup_count[0],
                  caps->max_workgroup_count[1], caps->max_workgroup_count[2]);
          printf ("    unified memory        %s\n", caps->unified_memory ? "yes" : "no");
          printf ("    timestamps            %s\n", caps->has_timestamps ? "yes" : "no");
          printf ("    pipeline statistics   %s\n", caps->pipeline_statistics ? "yes" : "no");
          printf ("    shader variants       f32%s", caps->has_f16 ? ", f16" : "");
          if (tensor_cores != NULL)
            printf (", f16 tensor cores (%s)", tensor_cores);
          printf ("\n");
          if (info->is_software)
            printf ("    CPU kernels           %s; lanes pass values as %s\n",
                    !caps->has_int64     ? "storage buffers (no shaderInt64)"
                    : !caps->texel_reads ? "storage buffers (LP_NATIVE_VECTOR_WIDTH is set and MESA_SHADER_CACHE_DIR is "
                                           "not Drape's cache for that width; this driver caches texel fetches for one width)"
                    : caps->stores_int64 ? "texel reads, 64-bit stores"
                                         : "texel reads, 32-bit stores (this driver's 64-bit ones are broken)",
                    caps->lane_broadcasts ? "broadcasts" : "shuffles");
          for (guint w = 0; w < caps->n_coopmat2_workgroup; w++)
            printf ("    workgroup matrices    f16 in workgroups of %u: multiples of %ux%ux%u, "
                    "sides up to %u (cooperative matrix 2)\n", caps->coopmat2_workgroup[w].invocations,
                    caps->coopmat2_workgroup[w].m, caps->coopmat2_workgroup[w].n,
                    caps->coopmat2_workgroup[w].k, caps->coopmat2_max_dimension);
          if (drape_device_get_tuning_source (chosen) != NULL)
            printf ("    tuning                %u problems (%s)\n",
                    drape_tuning_get_size (drape_device_get_tuning (chosen)),
                    drape_device_get_tuning_source (chosen));
          else
            printf ("    tuning                none\n");
        }
    }
  if (chosen == NULL)
    return drape_cli_fail_error (error);
  return 0;
}
