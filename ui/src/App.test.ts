import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { flushSync, mount, unmount } from "svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import App from "./App.svelte";
import { api } from "./lib/api";
import { AppModel } from "./lib/app.svelte";

let saved: unknown[] = [];
let component: ReturnType<typeof mount> | null = null;

function backend(locale: string | null) {
  saved = [];
  mockIPC(
    (cmd, args) => {
      switch (cmd) {
        case "get_settings":
          return { language: "auto", theme: "system", notify_on_critical: false, fit_on: "high" };
        case "app_info":
          return {
            version: "0.1.0",
            paths: { config_dir: "/c", data_dir: "/d", log_dir: "/d/logs" },
            log_file: "/d/logs/headroom.log",
            locale,
            quarantined: [
              { original: "/c/settings.json", moved_to: "/c/settings.json.corrupt-1", reason: "not a Headroom document" },
            ],
          };
        case "save_settings":
          saved.push((args as { settings: unknown }).settings);
          return (args as { settings: unknown }).settings;
        default:
          throw { code: "internal", message: `unexpected command ${cmd}` };
      }
    },
    { shouldMockEvents: true },
  );
}

async function start(locale: string | null = "en_US.UTF-8") {
  backend(locale);
  const app = new AppModel(api);
  component = mount(App, { target: document.body, props: { app } });
  await app.start();
  flushSync();
  return app;
}

const tab = (id: string) => document.querySelector<HTMLButtonElement>(`[data-view="${id}"]`)!;

beforeEach(() => (document.body.innerHTML = ""));
afterEach(() => {
  if (component) unmount(component);
  component = null;
  clearMocks();
});

describe("the app shell", () => {
  it("lists every view, and every view is available", async () => {
    await start();
    const labels = [...document.querySelectorAll('[role="tab"]')].map((b) => b.textContent?.trim());
    expect(labels).toEqual(["Monitor", "Plan", "Presets", "Environment", "Runs", "Settings"]);
    tab("presets").click();
    flushSync();
    expect(document.querySelector("h1")?.textContent).toBe("Presets");
    expect(document.querySelector('[data-testid="not-available"]')).toBeNull();
  });

  it("moves between views with the arrow keys and Ctrl+number", async () => {
    const app = await start();
    tab("monitor").focus();
    tab("monitor").dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowDown", bubbles: true }));
    flushSync();
    expect(app.view).toBe("plan");
    expect(document.activeElement).toBe(tab("plan"));
    window.dispatchEvent(new KeyboardEvent("keydown", { key: "6", ctrlKey: true, bubbles: true }));
    flushSync();
    expect(app.view).toBe("settings");
    expect(tab("settings").getAttribute("aria-selected")).toBe("true");
    expect(tab("monitor").tabIndex).toBe(-1);
  });

  it("asks a view with unsaved edits before leaving it, and leaves once it says so", async () => {
    const app = await start();
    const asked: (() => void)[] = [];
    app.leaveGuard = (leave) => {
      asked.push(leave);
      return true;
    };
    tab("plan").click();
    window.dispatchEvent(new KeyboardEvent("keydown", { key: "6", ctrlKey: true, bubbles: true }));
    flushSync();
    expect(app.view).toBe("monitor");
    expect(asked).toHaveLength(2);
    // The person chose to discard: the view drops its guard and goes on.
    app.leaveGuard = null;
    asked[0]!();
    flushSync();
    expect(app.view).toBe("plan");
  });

  it("follows a Japanese OS locale and switches language from settings", async () => {
    const app = await start("ja_JP.UTF-8");
    expect(tab("monitor").textContent?.trim()).toBe("モニター");
    app.view = "settings";
    flushSync();
    document.querySelector<HTMLInputElement>('input[name="language"][value="en"]')!.click();
    await new Promise((r) => setTimeout(r, 0));
    flushSync();
    expect(saved).toEqual([{ language: "en", theme: "system", notify_on_critical: false, fit_on: "high" }]);
    expect(tab("monitor").textContent?.trim()).toBe("Monitor");
    expect(document.documentElement.lang).toBe("en");
  });

  it("turns the desktop notification on critical memory on from settings", async () => {
    const app = await start();
    app.view = "settings";
    flushSync();
    const box = document.querySelector<HTMLInputElement>('[data-testid="notify-on-critical"]')!;
    expect(box.checked).toBe(false);
    box.click();
    await new Promise((r) => setTimeout(r, 0));
    flushSync();
    expect(saved.at(-1)).toEqual({ language: "auto", theme: "system", notify_on_critical: true, fit_on: "high" });
    expect(app.settings.notify_on_critical).toBe(true);
  });

  it("chooses which end of the estimate's range decides \"fits\" from settings", async () => {
    const app = await start();
    app.view = "settings";
    flushSync();
    expect(document.querySelector<HTMLInputElement>('[data-testid="fit-on-high"]')!.checked).toBe(true);
    document.querySelector<HTMLInputElement>('[data-testid="fit-on-central"]')!.click();
    await new Promise((r) => setTimeout(r, 0));
    flushSync();
    expect(saved.at(-1)).toEqual({ language: "auto", theme: "system", notify_on_critical: false, fit_on: "central" });
    expect(app.settings.fit_on).toBe("central");
  });

  it("applies the chosen theme to the document", async () => {
    const app = await start();
    await app.saveSettings({ language: "auto", theme: "dark", notify_on_critical: false, fit_on: "high" });
    flushSync();
    expect(document.documentElement.dataset.theme).toBe("dark");
  });

  it("tells the user about a settings file that was moved aside", async () => {
    await start();
    const alert = document.querySelector('[role="alert"]');
    expect(alert?.textContent).toContain("settings.json.corrupt-1");
    expect(alert?.textContent).toContain("not a Headroom document");
  });
});
