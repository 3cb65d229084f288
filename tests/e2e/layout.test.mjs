// End to end: every view at 1024, 1400 and 1920 px wide, in English on the light theme and in Japanese on the
// dark one, without horizontal scrolling (neither the page nor the main column). With HEADROOM_SCREENSHOTS set to
// a folder (docs/screenshots for the README), it also saves each view at 1400×900 as <view>-<lang>.png.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { openApp } from "./webdriver.mjs";

let win;
let session;

before(async () => {
  win = await openApp("layout", { env: { HEADROOM_GPU_SOURCE: "fake:training" } });
  session = win.session;
  // The demo: the Monitor view shows cards, the charts and the process table rather than the no-driver notice.
  await session.find('[data-testid="monitor"]');
  const demo = await session.until(
    () => js(`return document.querySelector('[data-testid="show-demo"], [data-testid="gpu-card"]')?.dataset.testid ?? null`),
    (id) => id !== null,
    "the no-driver notice or the GPU cards",
  );
  if (demo === "show-demo") await session.click(await session.find('[data-testid="show-demo"]'));
  await session.find('[data-testid="gpu-card"]');
});

after(() => win?.close());

const VIEWS = ["monitor", "plan", "presets", "environment", "runs", "settings"];
const WIDTHS = [1024, 1400, 1920];
const SCREENSHOT_WIDTH = 1400;
const js = (body, args = []) => session.execute(body, args);

async function open(view) {
  await session.click(await session.find(`[data-view="${view}"]`));
  await session.until(
    () => js(`return document.querySelector('[role="tab"][aria-selected="true"]')?.dataset.view ?? null`),
    (v) => v === view,
    `${view} selected`,
  );
  await session.find("main h1");
}

/** What overflows sideways at this width: the page, the main column, and the widest offenders inside it. */
function overflow() {
  return js(`
    const doc = document.documentElement;
    const main = document.querySelector("main");
    const culprits = [...main.querySelectorAll("*")]
      .filter((e) => e.getBoundingClientRect().right > main.getBoundingClientRect().right + 1 && getComputedStyle(e).position !== "fixed")
      .slice(0, 5)
      .map((e) => e.tagName.toLowerCase() + (e.className && typeof e.className === "string" ? "." + e.className.trim().split(/\\s+/).join(".") : "") + (e.dataset.testid ? "[" + e.dataset.testid + "]" : ""));
    return {
      page: doc.scrollWidth - doc.clientWidth,
      main: main.scrollWidth - main.clientWidth,
      culprits,
    };`);
}

async function setLanguageAndTheme(lang, theme) {
  await open("settings");
  await session.click(await session.find(`input[name="language"][value="${lang}"]`));
  await session.click(await session.find(`input[name="theme"][value="${theme}"]`));
  await session.until(
    () => js("return [document.documentElement.lang, document.documentElement.dataset.theme]"),
    ([l, t]) => l === lang && t === theme,
    `${lang} and ${theme}`,
  );
}

async function checkEveryView(lang) {
  for (const view of VIEWS) {
    await open(view);
    for (const width of WIDTHS) {
      await session.setWindowSize(width, 900);
      const o = await session.until(
        async () => ({ ...(await overflow()), inner: await js("return window.innerWidth") }),
        (o) => o.inner <= width && o.page <= 0 && o.main <= 0,
        `${view} (${lang}) at ${width} px scrolls sideways`,
        5000,
      ).catch((e) => e);
      assert.ok(!(o instanceof Error), o instanceof Error ? o.message : "");
      if (width === SCREENSHOT_WIDTH && process.env.HEADROOM_SCREENSHOTS) {
        // Let the chart settle on its new width before the picture.
        await sleep(600);
        mkdirSync(process.env.HEADROOM_SCREENSHOTS, { recursive: true });
        writeFileSync(join(process.env.HEADROOM_SCREENSHOTS, `${view}-${lang}.png`), Buffer.from(await session.screenshot(), "base64"));
      }
    }
  }
}

describe("every view's layout", () => {
  it("fits 1024, 1400 and 1920 px in English on the light theme", async () => {
    await setLanguageAndTheme("en", "light");
    await checkEveryView("en");
  });

  it("fits 1024, 1400 and 1920 px in Japanese on the dark theme", async () => {
    await setLanguageAndTheme("ja", "dark");
    await checkEveryView("ja");
    await setLanguageAndTheme("en", "light");
  });
});
