/* drape-application.c: the application: actions, preferences, about
 *
 * One window: the autosave is a single file, and a second window would
 * fight the first over it.  Opening files (from a file manager) loads
 * them into that window: a .drape file as a session, an image as the
 * photo.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "config.h"

#include <glib/gi18n.h>

#include "drape-application.h"
#include "drape-preferences-page.h"
#include "drape-resources.h"
#include "drape-window.h"

struct _DrapeApplication
{
  AdwApplication parent_instance;

  GSettings *settings;
  DrapeEngine *engine;
};

G_DEFINE_FINAL_TYPE (DrapeApplication, drape_application, ADW_TYPE_APPLICATION)

void
drape_resources_register (void)
{
  static gsize registered;

  if (g_once_init_enter (&registered))
    {
      drape_register_resource ();
      g_once_init_leave (&registered, 1);
    }
}

static DrapeWindow *
get_window (DrapeApplication *self,
            gboolean         *created)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (self));

  *created = window == NULL;
  if (window == NULL)
    window = GTK_WINDOW (drape_window_new (self));
  return DRAPE_WINDOW (window);
}

static void
drape_application_activate (GApplication *application)
{
  DrapeApplication *self = DRAPE_APPLICATION (application);
  gboolean created;
  DrapeWindow *window = get_window (self, &created);

  if (created)
    drape_window_restore_autosave (window);
  gtk_window_present (GTK_WINDOW (window));
}

static void
drape_application_open (GApplication  *application,
                        GFile        **files,
                        int            n_files,
                        const char    *hint)
{
  DrapeApplication *self = DRAPE_APPLICATION (application);
  gboolean created;
  DrapeWindow *window = get_window (self, &created);

  for (int i = 0; i < n_files; i++)
    {
      g_autofree char *name = g_file_get_basename (files[i]);

      if (name != NULL && g_str_has_suffix (name, ".drape"))
        drape_window_open_session_async (window, files[i], NULL, NULL, NULL);
      else
        drape_window_open_photo_async (window, files[i], NULL, NULL, NULL);
    }
  gtk_window_present (GTK_WINDOW (window));
}

static void
quit_action (GSimpleAction *action,
             GVariant      *parameter,
             gpointer       user_data)
{
  GtkApplication *application = user_data;
  GList *windows = gtk_application_get_windows (application);

  /* Closing saves each window's session first (close-request). */
  for (GList *l = windows; l != NULL;)
    {
      GtkWindow *window = l->data;

      l = l->next;
      gtk_window_close (window);
    }
}

static void
preferences_action (GSimpleAction *action,
                    GVariant      *parameter,
                    gpointer       user_data)
{
  GtkApplication *application = user_data;
  GtkWindow *parent = gtk_application_get_active_window (application);
  GtkWidget *page = drape_preferences_page_new (drape_application_get_engine (DRAPE_APPLICATION (application)));

#if ADW_CHECK_VERSION (1, 5, 0)
  AdwDialog *dialog = adw_preferences_dialog_new ();

  adw_preferences_dialog_add (ADW_PREFERENCES_DIALOG (dialog), ADW_PREFERENCES_PAGE (page));
  adw_dialog_present (dialog, GTK_WIDGET (parent));
#else
  GtkWidget *window = adw_preferences_window_new ();

  adw_preferences_window_add (ADW_PREFERENCES_WINDOW (window), ADW_PREFERENCES_PAGE (page));
  gtk_window_set_transient_for (GTK_WINDOW (window), parent);
  gtk_window_set_modal (GTK_WINDOW (window), TRUE);
  gtk_window_present (GTK_WINDOW (window));
#endif
}

static void
about_action (GSimpleAction *action,
              GVariant      *parameter,
              gpointer       user_data)
{
  GtkApplication *application = user_data;
  GtkWindow *parent = gtk_application_get_active_window (application);
  static const char *developers[] = { "The Drape developers", NULL };
  const char *comments = _("Drape dresses the person in a photo in a garment from another photo. "
                           "It runs CatVTON on its own Vulkan engine.");
  const char *models = _("Model weights: Stable Diffusion 1.5 Inpainting (CreativeML OpenRAIL-M), "
                         "sd-vae-ft-mse (MIT), CatVTON (CC BY-NC-SA 4.0), "
                         "segformer_b2_clothes (MIT, based on NVIDIA MiT-B2, non-commercial).");

#if ADW_CHECK_VERSION (1, 5, 0)
  AdwDialog *about = adw_about_dialog_new ();

  adw_about_dialog_set_application_name (ADW_ABOUT_DIALOG (about), "Drape");
  adw_about_dialog_set_application_icon (ADW_ABOUT_DIALOG (about), APP_ID);
  adw_about_dialog_set_version (ADW_ABOUT_DIALOG (about), PACKAGE_VERSION);
  adw_about_dialog_set_developer_name (ADW_ABOUT_DIALOG (about), developers[0]);
  adw_about_dialog_set_developers (ADW_ABOUT_DIALOG (about), developers);
  adw_about_dialog_set_comments (ADW_ABOUT_DIALOG (about), comments);
  adw_about_dialog_set_license_type (ADW_ABOUT_DIALOG (about), GTK_LICENSE_GPL_3_0);
  adw_about_dialog_set_website (ADW_ABOUT_DIALOG (about), "https://drape.app/");
  adw_about_dialog_set_translator_credits (ADW_ABOUT_DIALOG (about), _("translator-credits"));
  adw_about_dialog_add_legal_section (ADW_ABOUT_DIALOG (about), _("Models"), NULL,
                                      GTK_LICENSE_CUSTOM, models);
  adw_dialog_present (about, GTK_WIDGET (parent));
#else
  GtkWidget *about = adw_about_window_new ();

  adw_about_window_set_application_name (ADW_ABOUT_WINDOW (about), "Drape");
  adw_about_window_set_application_icon (ADW_ABOUT_WINDOW (about), APP_ID);
  adw_about_window_set_version (ADW_ABOUT_WINDOW (about), PACKAGE_VERSION);
  adw_about_window_set_developer_name (ADW_ABOUT_WINDOW (about), developers[0]);
  adw_about_window_set_developers (ADW_ABOUT_WINDOW (about), developers);
  adw_about_window_set_comments (ADW_ABOUT_WINDOW (about), comments);
  adw_about_window_set_license_type (ADW_ABOUT_WINDOW (about), GTK_LICENSE_GPL_3_0);
  adw_about_window_set_website (ADW_ABOUT_WINDOW (about), "https://drape.app/");
  adw_about_window_set_translator_credits (ADW_ABOUT_WINDOW (about), _("translator-credits"));
  adw_about_window_add_legal_section (ADW_ABOUT_WINDOW (about), _("Models"), NULL,
                                      GTK_LICENSE_CUSTOM, models);
  gtk_window_set_transient_for (GTK_WINDOW (about), parent);
  gtk_window_set_modal (GTK_WINDOW (about), TRUE);
  gtk_window_present (GTK_WINDOW (about));
#endif
}

static const GActionEntry app_actions[] = {
  { "quit", quit_action },
  { "preferences", preferences_action },
  { "about", about_action },
};

static const struct {
  const char *action;
  const char *accels[4];
} accels[] = {
  { "app.quit", { "<Control>q", NULL } },
  { "app.preferences", { "<Control>comma", NULL } },
  { "win.show-help-overlay", { "<Control>question", NULL } },
  { "win.open-photo", { "<Control>o", NULL } },
  { "win.paste", { "<Control>v", NULL } },
  { "win.new-session", { "<Control>n", NULL } },
  { "win.open-session", { "<Control><Shift>o", NULL } },
  { "win.save-session", { "<Control>s", NULL } },
  { "win.save-session-as", { "<Control><Shift>s", NULL } },
  { "win.try-on", { "<Control>Return", "<Control>KP_Enter", NULL } },
  { "win.undo", { "<Control>z", NULL } },
  { "win.redo", { "<Control><Shift>z", "<Control>y", NULL } },
  { "win.save-result", { "<Control><Shift>e", NULL } },
  { "win.copy-result", { "<Control><Shift>c", NULL } },
  { "win.view('mask')", { "<Alt>1", NULL } },
  { "win.view('result')", { "<Alt>2", NULL } },
  { "win.zoom-in", { "<Control>plus", "<Control>equal", "<Control>KP_Add", NULL } },
  { "win.zoom-out", { "<Control>minus", "<Control>KP_Subtract", NULL } },
  { "win.zoom-fit", { "<Control>0", "<Control>KP_0", NULL } },
};

static void
drape_application_startup (GApplication *application)
{
  DrapeApplication *self = DRAPE_APPLICATION (application);

  drape_resources_register ();

  G_APPLICATION_CLASS (drape_application_parent_class)->startup (application);

  g_action_map_add_action_entries (G_ACTION_MAP (self), app_actions, G_N_ELEMENTS (app_actions), self);
  for (guint i = 0; i < G_N_ELEMENTS (accels); i++)
    gtk_application_set_accels_for_action (GTK_APPLICATION (self), accels[i].action, accels[i].accels);

  self->settings = g_settings_new ("app.drape.Drape");
}

static void
drape_application_dispose (GObject *object)
{
  DrapeApplication *self = DRAPE_APPLICATION (object);

  g_clear_object (&self->settings);
  g_clear_object (&self->engine);

  G_OBJECT_CLASS (drape_application_parent_class)->dispose (object);
}

static void
drape_application_class_init (DrapeApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  object_class->dispose = drape_application_dispose;
  app_class->activate = drape_application_activate;
  app_class->open = drape_application_open;
  app_class->startup = drape_application_startup;
}

static void
drape_application_init (DrapeApplication *self)
{
}

DrapeApplication *
drape_application_new (const char        *application_id,
                       GApplicationFlags  flags)
{
  g_return_val_if_fail (application_id != NULL, NULL);

  return g_object_new (DRAPE_TYPE_APPLICATION,
                       "application-id", application_id,
                       "flags", flags | G_APPLICATION_HANDLES_OPEN,
                       "resource-base-path", "/app/drape/Drape",
                       NULL);
}

GSettings *
drape_application_get_settings (DrapeApplication *self)
{
  g_return_val_if_fail (DRAPE_IS_APPLICATION (self), NULL);
  return self->settings;
}

DrapeEngine *
drape_application_get_engine (DrapeApplication *self)
{
  g_return_val_if_fail (DRAPE_IS_APPLICATION (self), NULL);

  if (self->engine == NULL)
    self->engine = drape_engine_new ();
  return self->engine;
}

void
drape_application_set_engine (DrapeApplication *self,
                              DrapeEngine      *engine)
{
  g_return_if_fail (DRAPE_IS_APPLICATION (self));
  g_return_if_fail (DRAPE_IS_ENGINE (engine));

  g_set_object (&self->engine, engine);
}
