/* drape-preferences-page.h: the preferences, as one page shown in an
 * AdwPreferencesWindow (libadwaita < 1.5) or AdwPreferencesDialog
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "drape-engine.h"

G_BEGIN_DECLS

#define DRAPE_TYPE_PREFERENCES_PAGE (drape_preferences_page_get_type ())

G_DECLARE_FINAL_TYPE (DrapePreferencesPage, drape_preferences_page, DRAPE, PREFERENCES_PAGE, AdwPreferencesPage)

/* `engine` runs the speed measurement ("Speed on This GPU"). */
GtkWidget *drape_preferences_page_new (DrapeEngine *engine);

G_END_DECLS
