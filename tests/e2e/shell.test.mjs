// End to end: the real app binary in the real WebKit webview, driven through tauri-driver under Xvfb.
// Needs HEADROOM_APP (the built binary, with the UI embedded) and a display (.ci/dev runs it in xvfb-run).

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { KEYS, openApp } from "./webdriver.mjs";

let win;
let session;
let configDir;

before(async () => {
  win = await openApp("shell");
  ({ session, configDir } = win);
});

after(() => win?.close());

const tabText = async (view) => (await session.text(await session.find(`[data-view="${view}"]`))).trim();
const selectedView = () => session.execute(`return document.querySelector('[role="tab"][aria-selected="true"]')?.dataset.view ?? null`);

describe("the Headroom window", () => {
  it("shows every view in the navigation", async () => {
    await session.find('[role="tablist"]');
    const tabs = await session.findAll('[role="tab"]');
    const labels = [];
    for (const id of tabs) labels.push((await session.text(id)).trim());
    assert.deepEqual(labels, ["Monitor", "Plan", "Presets", "Environment", "Runs", "Settings"]);
    assert.equal(await selectedView(), "monitor");
  });

  it("opens a view on click", async () => {
    await session.click(await session.find('[data-view="presets"]'));
    const heading = await session.until(
      async () => session.text(await session.find("main h1")),
      (t) => t === "Presets",
      "Presets heading",
    );
    assert.equal(heading, "Presets");
    // Every view has landed: none says "not available yet" any more.
    assert.equal(await session.execute(`return document.querySelector('[data-testid="not-available"]')`), null);
  });

  it("moves through the views with the keyboard", async () => {
    const planTab = await session.find('[data-view="plan"]');
    await session.click(planTab);
    await session.until(selectedView, (v) => v === "plan", "Plan selected");
    await session.sendKeys(planTab, KEYS.ArrowDown);
    await session.until(selectedView, (v) => v === "presets", "ArrowDown from Plan");
    const focused = await session.execute("return document.activeElement?.dataset.view ?? null");
    assert.equal(focused, "presets");
  });

  it("switches to Japanese from Settings and remembers it on disk", async () => {
    await session.click(await session.find('[data-view="settings"]'));
    await session.click(await session.find('input[name="language"][value="ja"]'));
    await session.until(() => tabText("monitor"), (t) => t === "モニター", "Japanese navigation");
    const saved = await session.until(
      () => {
        try {
          return JSON.parse(readFileSync(join(configDir, "settings.json"), "utf8"));
        } catch {
          return null;
        }
      },
      (s) => s?.data?.language === "ja",
      "settings.json",
    );
    assert.equal(saved.version, 1);
    await session.click(await session.find('input[name="language"][value="en"]'));
    await session.until(() => tabText("monitor"), (t) => t === "Monitor", "back to English");
  });

  it("applies the dark theme to the document", async () => {
    await session.click(await session.find('input[name="theme"][value="dark"]'));
    await session.until(
      () => session.execute("return document.documentElement.dataset.theme"),
      (t) => t === "dark",
      "dark theme",
    );
    const bg = await session.execute("return getComputedStyle(document.body).backgroundColor || getComputedStyle(document.documentElement).backgroundColor");
    assert.ok(bg, "a computed background colour");
    // The README's picture, when asked for (HEADROOM_SCREENSHOT=path).
    if (process.env.HEADROOM_SCREENSHOT) {
      mkdirSync(join(process.env.HEADROOM_SCREENSHOT, ".."), { recursive: true });
      writeFileSync(process.env.HEADROOM_SCREENSHOT, Buffer.from(await session.screenshot(), "base64"));
    }
    await session.click(await session.find('input[name="theme"][value="light"]'));
    await session.until(
      () => session.execute("return document.documentElement.dataset.theme"),
      (t) => t === "light",
      "light theme",
    );
  });
});
