/* capture.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "capture.h"
#include "ops.h"

struct _DrapeCapture
{
  GHashTable *wanted;   /* name -> DrapeTensor (NULL until taken) */
};

DrapeCapture *
drape_capture_new (const char *const *names)
{
  DrapeCapture *capture = g_new0 (DrapeCapture, 1);

  capture->wanted = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                           (GDestroyNotify) drape_tensor_free);
  for (guint i = 0; names != NULL && names[i] != NULL; i++)
    g_hash_table_insert (capture->wanted, g_strdup (names[i]), NULL);
  return capture;
}

void
drape_capture_free (DrapeCapture *capture)
{
  if (capture == NULL)
    return;
  g_hash_table_unref (capture->wanted);
  g_free (capture);
}

void
drape_capture_take (DrapeCapture      *capture,
                    DrapeGraph        *graph,
                    const char        *name,
                    const DrapeTensor *tensor)
{
  g_autoptr(GError) error = NULL;
  DrapeTensor *copy;

  if (!drape_capture_wants (capture, name) || !drape_graph_ok (graph))
    return;
  copy = drape_tensor_new (drape_graph_get_device (graph), DRAPE_DTYPE_F32,
                           tensor->n, tensor->h, tensor->w, tensor->c, &error);
  if (copy == NULL)
    {
      drape_graph_fail (graph, error->code, "capture of %s: %s", name, error->message);
      return;
    }
  g_hash_table_insert (capture->wanted, g_strdup (name), copy);
  drape_op_copy (graph, tensor, copy);
}

gboolean
drape_capture_wants (const DrapeCapture *capture,
                     const char         *name)
{
  return capture != NULL && g_hash_table_contains (capture->wanted, name);
}

DrapeTensor *
drape_capture_get (DrapeCapture *capture,
                   const char   *name)
{
  return g_hash_table_lookup (capture->wanted, name);
}
