/* cli-eval.c: drape-cli eval MODEL: a model's outputs for given inputs,
 * for comparison with a reference implementation
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct {
  const char *name;
  int (*run) (int argc, char **argv);
} EvalTarget;

static const EvalTarget targets[] = {
  { "segformer", drape_cli_eval_segformer },
};

int
drape_cli_eval (int    argc,
                char **argv)
{
  if (argc >= 2)
    for (guint i = 0; i < G_N_ELEMENTS (targets); i++)
      if (strcmp (argv[1], targets[i].name) == 0)
        return targets[i].run (argc - 1, argv + 1);
  g_printerr ("Usage: drape-cli eval MODEL [OPTIONS]\n\nModels:");
  for (guint i = 0; i < G_N_ELEMENTS (targets); i++)
    g_printerr (" %s", targets[i].name);
  g_printerr ("\n\nRun 'drape-cli eval MODEL --help' for its options.\n");
  return argc >= 2 && strcmp (argv[1], "--help") != 0 ? drape_cli_fail ("unknown model '%s'", argv[1]) : 2;
}
