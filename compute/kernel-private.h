/* kernel-private.h: compute pipelines built from the embedded shaders
 *
 * A kernel is one shader family in one storage variant with one set of
 * specialisation constants.  Constant ids 0, 1 and 2 are always the
 * workgroup size; an op's own constants follow from id 3.  Every kernel
 * binds `n_bindings` buffers at set 0, bindings 0..n-1: storage buffers,
 * except those in `texel_mask`, which are uniform texel buffers (bit i:
 * binding i); it takes at most 128 bytes of push constants.  Families
 * named "*_coopmat" are the tensor-core kernels: where the device can,
 * their pipelines ask for full subgroups of 32
 * (DrapeDeviceCaps.coopmat_pins_subgroup and coopmat_subgroup_size).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "device-private.h"
#include "tensor.h"

G_BEGIN_DECLS

#define DRAPE_MAX_BINDINGS 8
#define DRAPE_MAX_SPEC 24
#define DRAPE_PUSH_SIZE 128

typedef struct {
  DrapeDevice *device;
  char *key;
  VkShaderModule module;
  VkDescriptorSetLayout set_layout;
  VkPipelineLayout layout;
  VkPipeline pipeline;
  guint n_bindings;
  guint32 texel_mask;
  /* Bindings the shader may write (bit i: binding i), from its SPIR-V:
   * what the graph's barriers go by. */
  guint32 written_mask;
  guint32 local_size[3];
  /* DrapePipelineStatistic, where the device captured them. */
  GArray *statistics;

  /* What building the pipeline takes, kept for a build in the
   * background (drape_kernel_get). */
  const char *family;   /* interned */
  const char *variant;  /* interned */
  guint32 spec[DRAPE_MAX_SPEC];
  guint n_spec;
  gboolean capture_statistics;
  gboolean refused_by_test;
  /* Under the device's lock: TRUE until a background build ends, and
   * then why it failed, if it did (the kernel has then left the
   * device's kernels for its failed ones). */
  gboolean pending;
  GError *failure;
} DrapeKernel;

/* variant: "f32", "f16", or a shader's own variant name.  With
 * `background`, a pipeline not yet built builds on the device's builder
 * threads while the caller goes on (the kernel is pending: wait for it
 * with drape_kernel_wait before using its pipeline), and a driver's
 * refusal comes from drape_kernel_wait, not from here; without, the
 * kernel returned is built, waiting for a background build under way. */
DrapeKernel *drape_kernel_get  (DrapeDevice    *device,
                                const char     *family,
                                const char     *variant,
                                guint           n_bindings,
                                guint32         texel_mask,
                                const guint32  *spec,
                                guint           n_spec,
                                gboolean        background,
                                GError        **error);
/* Waits for the kernel's pipeline; FALSE where its build failed. */
gboolean     drape_kernel_wait (DrapeKernel    *kernel,
                                GError        **error);
void         drape_kernel_free (DrapeKernel    *kernel);
gboolean     drape_kernel_variant_exists (const char *family,
                                const char     *variant);

G_END_DECLS
