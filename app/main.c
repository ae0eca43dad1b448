/* main.c: the drape executable
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "device.h"
#include "drape-application.h"

int
main (int    argc,
      char **argv)
{
  g_autoptr(DrapeApplication) app = NULL;

  /* Before GTK or the engine starts a renderer or a device. */
  drape_device_prefer_wide_cpu_vectors ();
  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  g_set_application_name ("Drape");
  app = drape_application_new (APP_ID, G_APPLICATION_DEFAULT_FLAGS);
  return g_application_run (G_APPLICATION (app), argc, argv);
}
