/* drape-try-on-settings.h: what a try-on run is asked to do
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <json-glib/json-glib.h>

#include "pipeline.h"

G_BEGIN_DECLS

/* Output sizes of the CatVTON checkpoints, width x height. */
typedef enum {
  DRAPE_TRY_ON_SIZE_768X1024,
  DRAPE_TRY_ON_SIZE_384X512,
} DrapeTryOnSize;

#define DRAPE_TYPE_TRY_ON_SETTINGS (drape_try_on_settings_get_type ())

G_DECLARE_FINAL_TYPE (DrapeTryOnSettings, drape_try_on_settings, DRAPE, TRY_ON_SETTINGS, GObject)

DrapeTryOnSettings *drape_try_on_settings_new        (void);
DrapeTryOnSettings *drape_try_on_settings_copy       (DrapeTryOnSettings  *self);
void                drape_try_on_settings_assign     (DrapeTryOnSettings  *self,
                                                      DrapeTryOnSettings  *other);
gboolean            drape_try_on_settings_equal      (DrapeTryOnSettings  *self,
                                                      DrapeTryOnSettings  *other);

guint               drape_try_on_settings_get_steps     (DrapeTryOnSettings *self);
void                drape_try_on_settings_set_steps     (DrapeTryOnSettings *self,
                                                         guint               steps);
double              drape_try_on_settings_get_guidance  (DrapeTryOnSettings *self);
void                drape_try_on_settings_set_guidance  (DrapeTryOnSettings *self,
                                                         double              guidance);
guint64             drape_try_on_settings_get_seed      (DrapeTryOnSettings *self);
void                drape_try_on_settings_set_seed      (DrapeTryOnSettings *self,
                                                         guint64             seed);
DrapeSchedulerKind  drape_try_on_settings_get_scheduler (DrapeTryOnSettings *self);
void                drape_try_on_settings_set_scheduler (DrapeTryOnSettings *self,
                                                         DrapeSchedulerKind  scheduler);
DrapeTryOnSize      drape_try_on_settings_get_size      (DrapeTryOnSettings *self);
void                drape_try_on_settings_set_size      (DrapeTryOnSettings *self,
                                                         DrapeTryOnSize      size);
gboolean            drape_try_on_settings_get_repaint   (DrapeTryOnSettings *self);
void                drape_try_on_settings_set_repaint   (DrapeTryOnSettings *self,
                                                         gboolean            repaint);
void                drape_try_on_settings_get_dimensions (DrapeTryOnSettings *self,
                                                          guint              *width,
                                                          guint              *height);

JsonNode           *drape_try_on_settings_to_json    (DrapeTryOnSettings  *self);
/* Every member is checked; a missing one keeps its current value. */
gboolean            drape_try_on_settings_load_json  (DrapeTryOnSettings  *self,
                                                      JsonObject          *object,
                                                      GError             **error);

G_END_DECLS
