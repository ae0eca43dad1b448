/* cli.h: drape-cli's subcommands, one file each (cli-<name>.c)
 *
 * Each takes the arguments after its name (argv[0] is the subcommand) and
 * returns the process exit status.  Errors are one line on stderr naming
 * the problem, then a non-zero status.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

int drape_cli_devices  (int argc, char **argv);
int drape_cli_models   (int argc, char **argv);

/* Prints "drape-cli: <message>" on stderr and returns 1. */
int drape_cli_fail     (const char *format, ...) G_GNUC_PRINTF (1, 2);
/* Same, from an error. */
int drape_cli_fail_error (const GError *error);

G_END_DECLS
