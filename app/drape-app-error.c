/* drape-app-error.c: the error domain of the app's own code
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include "drape-app-error.h"

G_DEFINE_QUARK (drape-app-error-quark, drape_app_error)
