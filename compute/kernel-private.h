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
} DrapeKernel;

/* variant: "f32", "f16", or a shader's own variant name. */
DrapeKernel *drape_kernel_get  (DrapeDevice    *device,
                                const char     *family,
                                const char     *variant,
                                guint           n_bindings,
                                guint32         texel_mask,
                                const guint32  *spec,
                                guint           n_spec,
                                GError        **error);
void         drape_kernel_free (DrapeKernel    *kernel);
gboolean     drape_kernel_variant_exists (const char *family,
                                const char     *variant);

G_END_DECLS
