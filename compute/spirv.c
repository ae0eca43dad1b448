/* spirv.c: which bindings a compute shader may write, from its SPIR-V
 *
 * The graph needs a barrier between two dispatches only where one writes
 * memory the other reads or writes; which bindings a kernel writes is in
 * its module (GLSL's `readonly` becomes NonWritable), so the shaders
 * stay the one place that says it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "error.h"
#include "spirv-private.h"

#define SPIRV_MAGIC 0x07230203u
/* Ids past this are not from a shader of ours: refuse rather than
 * allocate tables for them. */
#define MAX_BOUND (1u << 22)

enum {
  OP_TYPE_IMAGE = 25,
  OP_TYPE_STRUCT = 30,
  OP_TYPE_ARRAY = 28,
  OP_TYPE_RUNTIME_ARRAY = 29,
  OP_TYPE_POINTER = 32,
  OP_VARIABLE = 59,
  OP_DECORATE = 71,
  OP_MEMBER_DECORATE = 72,
};

enum {
  DECORATION_BUFFER_BLOCK = 3,
  DECORATION_NON_WRITABLE = 24,
  DECORATION_BINDING = 33,
  DECORATION_DESCRIPTOR_SET = 34,
};

enum {
  STORAGE_UNIFORM_CONSTANT = 0,
  STORAGE_UNIFORM = 2,
  STORAGE_STORAGE_BUFFER = 12,
};

/* Image operand: 2 means a storage image, written through imageStore. */
#define IMAGE_SAMPLED_STORAGE 2u

typedef struct {
  guint32 opcode;
  guint32 binding;
  guint32 set;
  guint32 pointee;        /* pointers: the type pointed to; arrays: the element */
  guint32 storage;        /* pointers and variables */
  guint32 members;        /* structs */
  guint32 readonly_members;
  guint32 image_sampled;  /* images */
  gboolean has_binding;
  gboolean non_writable;
  gboolean buffer_block;
} Id;

static gboolean
malformed (GError   **error,
           const char *why)
{
  g_set_error (error, DRAPE_ERROR, DRAPE_ERROR_INVALID_ARGUMENT,
               "Not a usable SPIR-V module: %s", why);
  return FALSE;
}

/* The block or image a variable's pointer leads to, through any arrays
 * of descriptors. */
static const Id *
pointee_of (const Id *ids,
            guint32   bound,
            guint32   type)
{
  guint hops = 0;

  while (type < bound && hops++ < 8 &&
         (ids[type].opcode == OP_TYPE_POINTER || ids[type].opcode == OP_TYPE_ARRAY ||
          ids[type].opcode == OP_TYPE_RUNTIME_ARRAY))
    type = ids[type].pointee;
  return type < bound ? &ids[type] : NULL;
}

static gboolean
variable_writable (const Id *ids,
                   guint32   bound,
                   const Id *var,
                   guint32   type)
{
  const Id *block = pointee_of (ids, bound, type);

  if (var->non_writable || block == NULL)
    return FALSE;
  switch (var->storage)
    {
    case STORAGE_STORAGE_BUFFER:
      break;
    case STORAGE_UNIFORM:
      if (!block->buffer_block)
        return FALSE;
      break;
    case STORAGE_UNIFORM_CONSTANT:
      return block->opcode == OP_TYPE_IMAGE && block->image_sampled == IMAGE_SAMPLED_STORAGE;
    default:
      return FALSE;
    }
  return block->opcode != OP_TYPE_STRUCT || block->readonly_members < block->members;
}

gboolean
drape_spirv_written_bindings (const guint32 *words,
                              gsize          n_words,
                              guint32       *mask,
                              GError       **error)
{
  g_autofree Id *ids = NULL;
  g_autoptr(GArray) variables = g_array_new (FALSE, FALSE, 2 * sizeof (guint32));
  guint32 bound;

  *mask = 0;
  if (n_words < 5 || words[0] != SPIRV_MAGIC)
    return malformed (error, "no SPIR-V header");
  bound = words[3];
  if (bound == 0 || bound > MAX_BOUND)
    return malformed (error, "implausible id bound");
  ids = g_new0 (Id, bound);

  for (gsize at = 5; at < n_words;)
    {
      const guint32 count = words[at] >> 16, opcode = words[at] & 0xffff;
      const guint32 *w = words + at;

      if (count == 0 || at + count > n_words)
        return malformed (error, "an instruction runs past the end");
      at += count;

#define ID(i) (w[i] < bound ? &ids[w[i]] : NULL)
      switch (opcode)
        {
        case OP_DECORATE:
          if (count >= 3 && ID (1) != NULL)
            {
              Id *target = ID (1);

              if (w[2] == DECORATION_BINDING && count >= 4)
                {
                  target->binding = w[3];
                  target->has_binding = TRUE;
                }
              else if (w[2] == DECORATION_DESCRIPTOR_SET && count >= 4)
                target->set = w[3];
              else if (w[2] == DECORATION_NON_WRITABLE)
                target->non_writable = TRUE;
              else if (w[2] == DECORATION_BUFFER_BLOCK)
                target->buffer_block = TRUE;
            }
          break;
        case OP_MEMBER_DECORATE:
          if (count >= 4 && w[3] == DECORATION_NON_WRITABLE && ID (1) != NULL)
            ID (1)->readonly_members++;
          break;
        case OP_TYPE_STRUCT:
          if (count >= 2 && ID (1) != NULL)
            {
              ID (1)->opcode = opcode;
              ID (1)->members = count - 2;
            }
          break;
        case OP_TYPE_ARRAY:
        case OP_TYPE_RUNTIME_ARRAY:
          if (count >= 3 && ID (1) != NULL)
            {
              ID (1)->opcode = opcode;
              ID (1)->pointee = w[2];
            }
          break;
        case OP_TYPE_POINTER:
          if (count >= 4 && ID (1) != NULL)
            {
              ID (1)->opcode = opcode;
              ID (1)->storage = w[2];
              ID (1)->pointee = w[3];
            }
          break;
        case OP_TYPE_IMAGE:
          if (count >= 9 && ID (1) != NULL)
            {
              ID (1)->opcode = opcode;
              ID (1)->image_sampled = w[7];
            }
          break;
        case OP_VARIABLE:
          if (count >= 4 && ID (2) != NULL)
            {
              guint32 entry[2] = { w[2], w[1] }; /* the variable, its type */

              ID (2)->opcode = opcode;
              ID (2)->storage = w[3];
              g_array_append_val (variables, entry);
            }
          break;
        default:
          break;
        }
#undef ID
    }

  for (guint i = 0; i < variables->len; i++)
    {
      const guint32 *entry = &g_array_index (variables, guint32, 2 * i);
      const Id *var = &ids[entry[0]];

      if (!var->has_binding || var->set != 0)
        continue;
      if (var->binding >= 32)
        return malformed (error, "a binding past 31");
      if (variable_writable (ids, bound, var, entry[1]))
        *mask |= 1u << var->binding;
    }
  return TRUE;
}
