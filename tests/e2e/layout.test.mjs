// End to end: every view at 1024, 1400 and 1920 px wide, in English on the light theme and in Japanese on the
// dark one, without horizontal scrolling (neither the page nor the main column) and without one column laid over
// another. With HEADROOM_SCREENSHOTS set to a folder (docs/screenshots for the README), it also saves each view at
// 1400×900 as <view>-<lang>.png.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { openApp } from "./webdriver.mjs";

const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), "../fixtures/launch");
let win;
let session;
/** A project's .env that leaks debug settings into a production run: the doctor's findings, with their fixes. */
let envFile;

before(async () => {
  win = await openApp("layout", {
    // FAKE_OOM_PRESETS: the fake trainer (tests/fixtures/launch/fake_train.py) dies of OOM under fp16 only.
    env: { HEADROOM_GPU_SOURCE: "fake:training", FAKE_OOM_PRESETS: "fp16" },
    prepare: ({ home }) => {
      mkdirSync(join(home, "project"), { recursive: true });
      envFile = join(home, "project", ".env");
      writeFileSync(
        envFile,
        [
          "CUDA_LAUNCH_BLOCKING=1",
          "TORCH_DISTRIBUTED_DEBUG=DETAIL",
          "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True,max_split_size_mb:128,garbage_collection_threshold:0.8",
          "CUDA_VISIBLE_DEVICES=0,1",
          "",
        ].join("\n"),
      );
    },
  });
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

// The Monitor last: by then the demo has drawn the better part of a minute of history for the pictures.
const VIEWS = ["plan", "presets", "environment", "runs", "settings", "monitor"];
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

/**
 * What overflows sideways at this width: the page, the main column, and the widest offenders inside it; and, in
 * a view of two columns side by side (the Plan view's form and answer), how far the first column's content
 * reaches over the second.
 */
function overflow() {
  return js(`
    const doc = document.documentElement;
    const main = document.querySelector("main");
    const columns = main.querySelector(".columns");
    let overlap = 0;
    if (columns && columns.children.length === 2) {
      const reach = Math.max(...[...columns.children[0].querySelectorAll("*")].map((e) => e.getBoundingClientRect().right));
      overlap = Math.max(0, reach - columns.children[1].getBoundingClientRect().left);
    }
    const culprits = [...main.querySelectorAll("*")]
      .filter((e) => e.getBoundingClientRect().right > main.getBoundingClientRect().right + 1 && getComputedStyle(e).position !== "fixed")
      .slice(0, 5)
      .map((e) => e.tagName.toLowerCase() + (e.className && typeof e.className === "string" ? "." + e.className.trim().split(/\\s+/).join(".") : "") + (e.dataset.testid ? "[" + e.dataset.testid + "]" : ""));
    return {
      page: doc.scrollWidth - doc.clientWidth,
      main: main.scrollWidth - main.clientWidth,
      overlap,
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

/**
 * What each view shows in the pictures beyond its first state: the Plan view with an answer (verdict, bar and
 * breakdown, the widest it gets), the Presets view with a preset open.
 */
const PREPARE = {
  plan: async () => {
    // The second language finds the model still picked: the view keeps its draft.
    const answered = await js(`return document.querySelector('[data-testid="verdict"]') !== null`);
    if (!answered) {
      await session.sendKeys(await session.find('[data-testid="model-search"]'), "llama-3.1-8b");
      await session.click(await session.find('option[value="meta-llama/Llama-3.1-8B"]'));
    }
    await session.find('[data-testid="verdict"]');
  },
  environment: async () => {
    // Each language checks the file again: the same clicks whether or not the view kept the last answer.
    await session.click(await session.find('input[name="doctor-source"][value="file"]'));
    await session.find('input[name="doctor-file"]');
    await session.fill('input[name="doctor-file"]', envFile);
    await session.click(await session.find('[data-testid="doctor-check"]'));
    await session.find('[data-testid="findings"] [data-variable="CUDA_LAUNCH_BLOCKING"] button.fix');
  },
  runs: async () => {
    // A run that dies of OOM under fp16 and succeeds under int8: the timeline, the log and the history.
    const shown = await js(`return document.querySelector('[data-testid="outcome"]') !== null`);
    if (!shown) {
      await session.fill('input[name="command"]', `python3 ${join(fixtures, "fake_train.py")} --epochs 1`);
      await session.fill('input[name="cwd"]', fixtures);
      await session.fill('input[name="model"]', "llama-8b");
      await session.click(await session.find('[data-testid="start"]'));
    }
    await session.find('[data-testid="timeline"] [data-preset="int8"][data-status="ok"]', 30000);
  },
  presets: async () => {
    await session.click(await session.find('[data-preset="int4"]'));
    await session.find('[data-preview="kwargs"]');
  },
};

/**
 * The window as a PNG. WebKitWebDriver's screenshot waits for the next frame the page paints, and a page that
 * stands still (nothing changes) paints none: the call would hang. A 1-pixel element that flickers on every
 * animation frame while the picture is taken keeps frames coming; it is invisible (opacity ≤ 1 %) and removed after.
 */
async function screenshot() {
  await js(`
    const d = document.createElement("div");
    d.id = "e2e-frame-ticker";
    d.style.cssText = "position:fixed;right:0;bottom:0;width:1px;height:1px;pointer-events:none";
    document.body.append(d);
    let k = 0;
    const tick = () => {
      if (!d.isConnected) return;
      d.style.opacity = String((k++ % 2) * 0.01);
      requestAnimationFrame(tick);
    };
    tick();`);
  try {
    return Buffer.from(await session.screenshot(), "base64");
  } finally {
    await js(`document.getElementById("e2e-frame-ticker")?.remove()`);
  }
}

/** Every view at every width; the failures are gathered, so one run names them all. */
async function checkEveryView(lang) {
  const failures = [];
  for (const view of VIEWS) {
    await open(view);
    await PREPARE[view]?.();
    for (const width of WIDTHS) {
      await session.setWindowSize(width, 900);
      const o = await session
        .until(
          async () => ({ ...(await overflow()), inner: await js("return window.innerWidth") }),
          (o) => o.inner <= width && o.page <= 0 && o.main <= 0 && o.overlap <= 0,
          `${view} (${lang}) at ${width} px scrolls sideways or lays one column over the other`,
          5000,
        )
        .catch((e) => e);
      if (o instanceof Error) failures.push(o.message);
      if (width === SCREENSHOT_WIDTH && process.env.HEADROOM_SCREENSHOTS) {
        // Off every control (no tooltip in the picture), and the charts settled on their new width.
        await session.movePointer(width - 10, 890);
        await sleep(600);
        mkdirSync(process.env.HEADROOM_SCREENSHOTS, { recursive: true });
        writeFileSync(join(process.env.HEADROOM_SCREENSHOTS, `${view}-${lang}.png`), await screenshot());
      }
    }
  }
  assert.deepEqual(failures, []);
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
