// End to end: the Monitor view in the real window. This machine has no NVIDIA driver, so the view says so, and
// the demo (fake) source drives everything after that: cards, chart, process table, and an alert.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Session, startDriver } from "./webdriver.mjs";

const app = process.env.HEADROOM_APP;
assert.ok(app, "set HEADROOM_APP to the built headroom binary");

const home = mkdtempSync(join(tmpdir(), "headroom-e2e-monitor-"));
let driver;
let session;

before(async () => {
  driver = await startDriver({
    port: Number(process.env.HEADROOM_E2E_PORT ?? 4444),
    env: {
      ...process.env,
      HEADROOM_CONFIG_DIR: join(home, "config"),
      HEADROOM_DATA_DIR: join(home, "data"),
      LANG: "en_US.UTF-8",
      LC_ALL: "",
      LC_MESSAGES: "",
    },
  });
  session = await Session.create(driver.base, app);
});

after(async () => {
  await session?.delete().catch(() => {});
  await driver?.stop();
  rmSync(home, { recursive: true, force: true });
});

const GIB = 2 ** 30;
const js = (body) => session.execute(body);
const screenshot = async (name) => {
  const dir = process.env.HEADROOM_SCREENSHOT_DIR;
  if (dir) writeFileSync(join(dir, name), Buffer.from(await session.screenshot(), "base64"));
};

describe("the Monitor view", () => {
  it("says plainly that there is no NVIDIA driver, and offers the demo", async () => {
    if (await js("return document.querySelector('[data-testid=\"source-badge\"]')?.textContent?.includes('Live') ?? false")) {
      return; // a machine with a driver shows live data instead
    }
    const text = await session.until(
      () => js("return document.querySelector('[data-testid=\"no-driver\"]')?.textContent ?? ''"),
      (t) => t.includes("No NVIDIA driver found"),
      "the no-driver notice",
    );
    assert.match(text, /No NVIDIA driver found \(libnvidia-ml\.so\.1\)\. Planning and presets work without one\./);
    assert.match(text, /libnvidia-ml\.so\.1 not found/, "the driver's own reason");
    await screenshot("monitor-no-driver.png");
  });

  it("starts the labelled demo in one click: GPU cards, the chart and the process table fill with real numbers", async () => {
    await session.click(await session.find('[data-testid="show-demo"]'));
    const badge = await session.until(
      () => js("return document.querySelector('[data-testid=\"source-badge\"]')?.textContent ?? ''"),
      (t) => t.startsWith("Demo data"),
      "the demo badge",
    );
    assert.equal(badge, "Demo data: simulated GPUs (Training ramp)");
    const cards = await session.until(
      () => js("return [...document.querySelectorAll('[data-testid=\"gpu-card\"]')].map((c) => c.textContent.replace(/\\s+/g, ' ').trim())"),
      (c) => c.length === 2 && c.every((t) => /\d+\.\d\d GiB \/ 80\.00 GiB/.test(t)),
      "two GPU cards with GiB",
    );
    assert.match(cards[0], /GPU 0/);
    assert.match(cards[0], /OK/);
    // The chart: a uPlot canvas with the GPU lines plus the two dashed thresholds, from the history window.
    const chart = await session.until(
      () => js("const c = document.querySelector('[data-testid=\"memory-chart\"]'); return c ? {series: +c.dataset.series, points: +c.dataset.points, canvas: !!c.querySelector('canvas')} : null"),
      (c) => c && c.canvas && c.points >= 3,
      "the memory chart",
    );
    assert.equal(chart.series, 4);
    // The process table: the demo trainer and the idle notebook kernel on each GPU, memory in GiB.
    const rows = await session.until(
      () => js("return [...document.querySelectorAll('[data-testid=\"processes\"] tbody tr')].map((r) => [...r.cells].map((c) => c.textContent.trim()))"),
      (r) => r.length === 4,
      "four processes",
    );
    const kernel = rows.find((r) => r[0] === "10002");
    assert.ok(kernel, JSON.stringify(rows));
    assert.equal(kernel[1], "demo");
    assert.equal(kernel[5], "3.00 GiB");
    // The exact bytes are one hover away.
    const exact = await js("return document.querySelector('[data-testid=\"processes\"] tr[data-pid=\"10002\"] td.num span')?.title");
    assert.equal(exact, `${(3 * GIB).toLocaleString("en-US")} bytes`);
    // Simulated processes are never offered Stop….
    assert.equal(await js("return document.querySelectorAll('[data-testid=\"stop\"]').length"), 0);
    await screenshot("monitor-demo.png");
  });

  it("raises an alert with a recommended action in the run-to-OOM scenario", async () => {
    await js("const s = document.querySelector('[data-testid=\"scenario\"]'); s.value = 'oom'; s.dispatchEvent(new Event('change', {bubbles: true}));");
    await session.until(
      () => js("return document.querySelector('[data-testid=\"source-badge\"]')?.textContent ?? ''"),
      (t) => t.includes("Run to OOM"),
      "the OOM scenario",
    );
    const alert = await session.until(
      () => js("const a = document.querySelector('[data-testid=\"alert\"]'); return a ? {level: a.dataset.level, text: a.textContent.replace(/\\s+/g, ' ')} : null"),
      (a) => a !== null,
      "an alert",
      30000,
    );
    assert.ok(["warning", "critical"].includes(alert.level), alert.level);
    assert.match(alert.text, /GPU \d memory (is running low|is almost full)/);
    assert.match(alert.text, /since /);
    assert.match(alert.text, /\d+\.\d% full/);
    const chip = await js("return [...document.querySelectorAll('[data-testid=\"gpu-status\"]')].map((c) => c.textContent.trim())");
    assert.ok(chip.some((c) => c === "Warning" || c === "Critical"), JSON.stringify(chip));
    const recs = await session.until(
      () => js("return [...document.querySelectorAll('[data-testid=\"recommendation\"]')].map((r) => r.textContent.replace(/\\s+/g, ' '))"),
      (r) => r.length > 0,
      "a recommendation",
      20000,
    );
    assert.ok(recs.some((r) => /Stop PID|int4_double|gradient checkpointing|PYTORCH_CUDA_ALLOC_CONF/.test(r)), JSON.stringify(recs));
    await screenshot("monitor-oom.png");
    await js("document.querySelector('[data-testid=\"alerts\"]').scrollIntoView()");
    await screenshot("monitor-oom-alerts.png");
    // Leaving the view keeps the source (and its history) running.
    await session.click(await session.find('[data-view="plan"]'));
    await session.click(await session.find('[data-view="monitor"]'));
    const again = await session.until(
      () => js("return document.querySelector('[data-testid=\"source-badge\"]')?.textContent ?? ''"),
      (t) => t !== "",
      "the badge after coming back",
    );
    assert.equal(again, "Demo data: simulated GPUs (Run to OOM)");
  });
});
