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
#include <json-glib/json-glib.h>

#include "device.h"
#include "graph.h"
#include "pipeline.h"
#include "tensor.h"

G_BEGIN_DECLS

int drape_cli_devices  (int argc, char **argv);
int drape_cli_tryon    (int argc, char **argv);
int drape_cli_eval     (int argc, char **argv);
int drape_cli_bench    (int argc, char **argv);
int drape_cli_selftest (int argc, char **argv);
int drape_cli_models   (int argc, char **argv);
int drape_cli_mask     (int argc, char **argv);
int drape_cli_tune     (int argc, char **argv);

/* Prints "drape-cli: <message>" on stderr and returns 1. */
int drape_cli_fail     (const char *format, ...) G_GNUC_PRINTF (1, 2);
/* Same, from an error. */
int drape_cli_fail_error (const GError *error);

/* Ends the builder's root object and prints it, pretty; returns 0. */
int      drape_cli_print_json (JsonBuilder *builder);

/* "768x1024" -> width 768, height 1024. */
gboolean drape_cli_parse_size (const char *text,
                               guint32    *width,
                               guint32    *height);
/* "f16", "f32", or NULL: f16 where the device has it and is a GPU. */
gboolean drape_cli_parse_precision (const char  *text,
                                    DrapeDevice *device,
                                    DrapeDType  *dtype);

/* The tensor-core path of a device, e.g. "NV cooperative matrix,
 * 16x16x16 in subgroups of 32, scores in registers (cooperative matrix
 * 2)"; NULL when it has none. */
char    *drape_cli_describe_tensor_cores (const DrapeDeviceCaps *caps);

/* A model's folder in the model store, once fetched and verified; else an
 * error saying how to get it. */
char    *drape_cli_model_dir       (const char  *id,
                                    GError     **error);


G_END_DECLS
