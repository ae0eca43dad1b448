/* drape-util.c: small helpers the widgets share
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <adwaita.h>
#include <glib/gi18n.h>

#include "drape-util.h"
#include "error.h"

void
drape_widget_show_toast (GtkWidget  *widget,
                         const char *message)
{
  GtkWidget *overlay;
  AdwToast *toast;

  g_return_if_fail (GTK_IS_WIDGET (widget));

  overlay = gtk_widget_get_ancestor (widget, ADW_TYPE_TOAST_OVERLAY);
  if (overlay == NULL)
    {
      g_message ("%s", message);
      return;
    }
  toast = adw_toast_new (message);
  /* What widgets report this way is trouble: it goes before other toasts. */
  adw_toast_set_priority (toast, ADW_TOAST_PRIORITY_HIGH);
  adw_toast_overlay_add_toast (ADW_TOAST_OVERLAY (overlay), toast);
}

char *
drape_error_describe (const GError *error)
{
  g_return_val_if_fail (error != NULL, NULL);

  if (error->domain == DRAPE_ERROR)
    switch (error->code)
      {
      case DRAPE_ERROR_NO_DEVICE:
        return g_strdup_printf (_("No GPU that Drape can use was found (%s). "
                                  "Install your GPU’s Vulkan driver, or Mesa’s lavapipe "
                                  "to run on the processor."), error->message);
      case DRAPE_ERROR_OUT_OF_MEMORY:
        return g_strdup_printf (_("The GPU ran out of memory (%s). Choose the smaller size, "
                                  "half precision in Preferences, or close other programs "
                                  "that use the GPU."), error->message);
      case DRAPE_ERROR_DEVICE_LOST:
        return g_strdup_printf (_("The GPU stopped responding (%s). Try again; if it happens "
                                  "again, update the GPU driver or choose another GPU in "
                                  "Preferences."), error->message);
      default:
        break;
      }
  return g_strdup (error->message);
}

GFile *
drape_data_file (const char *name)
{
  return g_file_new_build_filename (g_get_user_data_dir (), "drape", name, NULL);
}

gboolean
drape_is_image_type (const char *content_type)
{
  static const char *const types[] = { "image/png", "image/jpeg", "image/webp" };

  if (content_type == NULL)
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (types); i++)
    {
      g_autofree char *type = g_content_type_from_mime_type (types[i]);

      if (type != NULL && g_content_type_is_a (content_type, type))
        return TRUE;
    }
  return FALSE;
}

char *
drape_format_time_left (double seconds)
{
  /* Each unit is chosen after rounding, so that 59.7 seconds read as a
   * minute, not as 60 seconds. */
  double minutes = seconds / 60 + 0.5, hours = seconds / 3600 + 0.5;
  guint n;

  if (!(seconds >= 0.5))
    return g_strdup (_("almost done"));
  if (seconds + 0.5 < 60)
    {
      n = (guint) (seconds + 0.5);
      return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "about %u second left", "about %u seconds left", n), n);
    }
  /* Minutes up to an hour and a half ("about 1 hour" would hide a third
   * of the wait), whole hours after. */
  if (minutes < 90)
    {
      n = (guint) minutes;
      return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "about %u minute left", "about %u minutes left", n), n);
    }
  n = (guint) CLAMP (hours, 2, G_MAXUINT);
  return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "about %u hour left", "about %u hours left", n), n);
}
