/* drape-settings-panel.h: the try-on settings of a session, as rows
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "drape-try-on-settings.h"

G_BEGIN_DECLS

#define DRAPE_TYPE_SETTINGS_PANEL (drape_settings_panel_get_type ())

G_DECLARE_FINAL_TYPE (DrapeSettingsPanel, drape_settings_panel, DRAPE, SETTINGS_PANEL, AdwBin)

GtkWidget          *drape_settings_panel_new          (void);
DrapeTryOnSettings *drape_settings_panel_get_settings (DrapeSettingsPanel *self);
void                drape_settings_panel_set_settings (DrapeSettingsPanel *self,
                                                       DrapeTryOnSettings *settings);

G_END_DECLS
