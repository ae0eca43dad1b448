/* cli-selftest.c: drape-cli selftest
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "device.h"
#include "selftest.h"

/* Whether the command line names op `name`, or names none. */
static gboolean
named (int          argc,
       char       **argv,
       const char  *name)
{
  for (int a = 1; a < argc; a++)
    if (strcmp (argv[a], name) == 0)
      return TRUE;
  return argc <= 1;
}

int
drape_cli_selftest (int    argc,
                    char **argv)
{
  g_autofree char *dtype_arg = NULL;
  const GOptionEntry entries[] = {
    { "dtype", 0, 0, G_OPTION_ARG_STRING, &dtype_arg, "Storage types to test: f32, f16 or all (default)", "DTYPE" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("[OP...] - run each op once against its reference");
  g_autoptr(GError) error = NULL;
  g_autoptr(DrapeDevice) device = NULL;
  const DrapeSelftestCase *const *cases;
  gboolean want[2] = { TRUE, TRUE };
  guint n_cases, failures = 0, messages;
  int width = 0;  /* of the longest case name */

  g_autoptr(GString) description = g_string_new (
    "Each op (all, or those named) runs once on random data at a moderate\n"
    "shape on the device Drape uses (DRAPE_DEVICE chooses another), in f32\n"
    "and, where the device has it, f16 storage.  A line per op and dtype:\n"
    "PASS or FAIL, the largest error relative to the largest reference value,\n"
    "and the GPU time.  The exit status is 1 if any op failed.\n\nOps:");

  cases = drape_selftest_get_cases (&n_cases);
  for (guint i = 0; i < n_cases; i++)
    g_string_append_printf (description, " %s", drape_selftest_case_get_name (cases[i]));
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (context, description->str);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return drape_cli_fail_error (error);
  if (dtype_arg != NULL && strcmp (dtype_arg, "all") != 0)
    {
      if (strcmp (dtype_arg, "f32") != 0 && strcmp (dtype_arg, "f16") != 0)
        return drape_cli_fail ("selftest: --dtype must be f32, f16 or all, not '%s'", dtype_arg);
      want[DRAPE_DTYPE_F32] = strcmp (dtype_arg, "f32") == 0;
      want[DRAPE_DTYPE_F16] = strcmp (dtype_arg, "f16") == 0;
    }
  /* Named ops only, to reproduce one failure on its own. */
  for (int a = 1; a < argc; a++)
    {
      guint i = 0;

      while (i < n_cases && strcmp (drape_selftest_case_get_name (cases[i]), argv[a]) != 0)
        i++;
      if (i == n_cases)
        return drape_cli_fail ("selftest: no op is called '%s' (drape-cli selftest --help lists them)",
                               argv[a]);
    }

  device = drape_device_new (NULL, &error);
  if (device == NULL)
    return drape_cli_fail_error (error);
  if (!drape_device_get_caps (device)->has_f16)
    {
      if (!want[DRAPE_DTYPE_F32])
        return drape_cli_fail ("selftest: %s has no 16-bit float storage",
                               drape_device_get_info (device)->name);
      want[DRAPE_DTYPE_F16] = FALSE;
      printf ("%s has no 16-bit float storage: f32 only\n", drape_device_get_info (device)->name);
    }
  printf ("Device: %s\n", drape_device_get_info (device)->name);

  for (guint i = 0; i < n_cases; i++)
    width = MAX (width, (int) strlen (drape_selftest_case_get_name (cases[i])));
  for (guint i = 0; i < n_cases; i++)
    for (DrapeDType dtype = DRAPE_DTYPE_F32; dtype <= DRAPE_DTYPE_F16; dtype++)
      {
        const char *name = drape_selftest_case_get_name (cases[i]);
        g_autoptr(GError) run_error = NULL;
        DrapeSelftestResult result;

        if (!want[dtype] || !named (argc, argv, name))
          continue;
        if (!drape_selftest_run (device, cases[i], dtype, &result, &run_error))
          {
            printf ("%-*s %s  FAIL  %s\n", width, name, drape_dtype_name (dtype), run_error->message);
            if (drape_device_is_lost (device))
              return drape_cli_fail ("selftest: the device was lost; nothing more can run");
            failures++;
            continue;
          }
        printf ("%-*s %s  %s  max error %8.2e (limit %.0e)", width, name, drape_dtype_name (dtype),
                result.passed ? "PASS" : "FAIL", result.max_error, result.tolerance);
        if (result.gpu_ms >= 0)
          printf ("  %9.3f ms", result.gpu_ms);
        printf ("\n");
        fflush (stdout);
        if (!result.passed)
          failures++;
      }

  /* DRAPE_VALIDATION=1 counts the validation layer's messages: any is a
   * failure, as in the tests. */
  messages = drape_device_get_validation_messages (device);
  if (messages > 0)
    return drape_cli_fail ("selftest: %u Vulkan validation messages", messages);
  if (failures > 0)
    return drape_cli_fail ("selftest: %u of the runs failed", failures);
  printf ("All ops passed.\n");
  return 0;
}
