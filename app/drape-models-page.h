/* drape-models-page.h: the first-run page: which models Drape needs,
 * their sizes and licences, and downloading them
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define DRAPE_TYPE_MODELS_PAGE (drape_models_page_get_type ())

G_DECLARE_FINAL_TYPE (DrapeModelsPage, drape_models_page, DRAPE, MODELS_PAGE, AdwBin)

GtkWidget *drape_models_page_new       (void);
/* Every default model of the catalog is on disk (checked without
 * hashing; loading verifies). */
gboolean   drape_models_page_get_ready (DrapeModelsPage *self);
/* Looks at the models folder again. */
void       drape_models_page_refresh   (DrapeModelsPage *self);

G_END_DECLS
