/* drape-application.h: the application: actions, preferences, about
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "drape-engine.h"

G_BEGIN_DECLS

#define DRAPE_TYPE_APPLICATION (drape_application_get_type ())

G_DECLARE_FINAL_TYPE (DrapeApplication, drape_application, DRAPE, APPLICATION, AdwApplication)

DrapeApplication *drape_application_new          (const char       *application_id,
                                                  GApplicationFlags flags);
GSettings        *drape_application_get_settings (DrapeApplication *self);
/* Made on first use; shared by the windows. */
DrapeEngine      *drape_application_get_engine   (DrapeApplication *self);
/* Replaces the engine (tests use one with fixed model folders). */
void              drape_application_set_engine   (DrapeApplication *self,
                                                  DrapeEngine      *engine);
/* Registers Drape's GResource (icons, UI, styles); the tests call it too. */
void              drape_resources_register       (void);

G_END_DECLS
