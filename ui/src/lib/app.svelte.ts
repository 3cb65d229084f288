// The UI's state: settings, app info, the current view and the language in force. Created once in main.ts
// with the real api and in tests with a mocked one; components receive it, nothing is global.

import type { Api, AppInfo, IpcError, Settings } from "./api";
import { languageForLocale, translate, type Lang, type MessageKey } from "./i18n";
import type { ViewId } from "./views";

export class AppModel {
  settings = $state<Settings>({ language: "auto", theme: "system", notify_on_critical: false, fit_on: "high" });
  info = $state<AppInfo | null>(null);
  view = $state<ViewId>("monitor");
  error = $state<IpcError | null>(null);
  dismissedNotices = $state(0);
  /** Set by a view while it holds unsaved edits, and asked before the app leaves that view: true when it
   *  stopped the leave to ask the person first (it calls `leave` itself if they choose to discard). */
  leaveGuard: ((leave: () => void) => boolean) | null = null;
  /** A plan the Plan view hands to the Runs view's start form ("Run with this plan"): each step of the run's
   *  chain is then estimated with it. `model` is the plan's model id ("" when the plan names a folder or a
   *  config.json). */
  runPlan = $state<{ model: string; plan: Record<string, unknown> } | null>(null);
  /** The OS's light or dark preference, kept current while the app runs. */
  systemDark = $state(false);

  /** The theme to draw with: the setting, or the OS preference when the setting is `system`. */
  resolvedTheme: "light" | "dark" = $derived(
    this.settings.theme === "system" ? (this.systemDark ? "dark" : "light") : this.settings.theme,
  );

  lang: Lang = $derived(
    this.settings.language === "auto"
      ? languageForLocale(this.info?.locale ?? globalThis.navigator?.language)
      : this.settings.language,
  );

  constructor(private readonly api: Api) {}

  t = (key: MessageKey, values?: Record<string, string | number>): string => translate(this.lang, key, values);

  async start(): Promise<void> {
    const query = globalThis.matchMedia?.("(prefers-color-scheme: dark)");
    if (query) {
      this.systemDark = query.matches;
      query.addEventListener("change", (e) => (this.systemDark = e.matches));
    }
    try {
      const [settings, info] = await Promise.all([this.api.getSettings(), this.api.appInfo()]);
      this.settings = settings;
      this.info = info;
      await this.api.onSettingsChanged((s) => (this.settings = s));
    } catch (e) {
      this.error = e as IpcError;
    }
  }

  async saveSettings(next: Settings): Promise<boolean> {
    try {
      this.settings = await this.api.saveSettings(next);
      this.error = null;
      return true;
    } catch (e) {
      this.error = e as IpcError;
      return false;
    }
  }
}
