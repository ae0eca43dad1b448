/* spirv-private.h: what a compute shader's SPIR-V says of its bindings
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The bindings of descriptor set 0 that the module may write, as a mask
 * (bit i: binding i): every storage buffer declared at a binding unless
 * the variable or every member of its block is NonWritable (GLSL's
 * `readonly`).  Uniform and texel buffers are never written.  A binding
 * that several declarations alias is written if any of them may be.
 * FALSE, with an error, where the words are not a SPIR-V module. */
gboolean drape_spirv_written_bindings (const guint32 *words,
                                       gsize          n_words,
                                       guint32       *mask,
                                       GError       **error);

G_END_DECLS
