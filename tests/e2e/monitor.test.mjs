// End to end: the Monitor view in the real window. This machine has no NVIDIA driver, so the view says so, and
// the demo (fake) source drives everything after that: cards, chart, process table, and an alert.

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openApp } from "./webdriver.mjs";

let win;
let session;

before(async () => {
  win = await openApp("monitor");
  session = win.session;
});

after(() => win?.close());

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
    assert.equal(chart.series, 5, "two GPUs, the capacity and the two thresholds");
    // With the cursor off the chart the legend gives the latest reading: its time and each line's value.
    const legend = await session.until(
      () => js("return [...document.querySelectorAll('[data-testid=\"memory-chart\"] .u-legend .u-series .u-value')].map((v) => v.textContent.trim())"),
      (l) => l.length === 6 && l.every((v) => v !== ""),
      "a value for every legend entry",
    );
    assert.match(legend[0], /^\d{1,2} \w{3} \d{4}, \d{2}:\d{2}$/, JSON.stringify(legend));
    assert.match(legend[1], /^\d+\.\d\d GiB$/, JSON.stringify(legend));
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

  it("switches the config of the model a run loads to int4_double in one click, from a replay, and undoes it", async () => {
    // A recording of a Headroom run (its environment named the model and the preset) filling one 80 GiB GPU at
    // half a GiB a second, replayed at 10 readings a second.
    const path = join(win.home, "qwen-run.jsonl");
    const lines = [JSON.stringify({ format: "headroom-monitor-recording", version: 1, source: "nvml", started_at: "2026-11-29T20:00:00Z", interval_ms: 100 })];
    for (let s = 0; s < 90; s++) {
      const used = Math.min(79, 30 + s / 2) * GIB;
      lines.push(JSON.stringify({
        source: "nvml",
        taken_at: new Date(Date.UTC(2026, 10, 29, 20, 0, s)).toISOString().replace(".000Z", "Z"),
        gpus: [{
          index: 0, name: "NVIDIA H100 80GB HBM3", uuid: "GPU-e2e", status: "ok",
          memory: { total_bytes: 80 * GIB, used_bytes: used, free_bytes: 79.5 * GIB - used, reserved_bytes: 0.5 * GIB },
          utilization_percent: 97, temperature_c: 70, power_watts: 640.5,
          processes: [{
            pid: 4321, name: "python", user: "me", command: "python train.py", used_bytes: used - 0.5 * GIB,
            model: { id: "Qwen/Qwen3-8B", run_id: "20261129-200000-ab12", preset: "fp16", flag: null },
          }],
        }],
        unavailable: [],
      }));
    }
    writeFileSync(path, lines.join("\n") + "\n");
    await session.fill('[data-testid="replay-path"]', path);
    await session.execute(`document.querySelector('[data-testid="replay-path"]').form.requestSubmit()`);
    await session.until(
      () => js("return document.querySelector('[data-testid=\"source-badge\"]')?.textContent ?? ''"),
      (t) => t.startsWith("Replay:"),
      "the replay badge",
    ).catch(async (e) => {
      throw new Error(`${e.message}; the page says: ${await js("return [...document.querySelectorAll('.status')].map((s) => s.textContent).join(' | ')")}`);
    });
    const label = await session.until(
      () => js("const b = document.querySelector('[data-testid=\"switch-preset\"]'); return b && !b.disabled ? b.textContent : null"),
      (t) => t !== null,
      "the switch button",
      30000,
    );
    assert.equal(label, "Switch Qwen/Qwen3-8B's config to int4_double");
    assert.equal(
      await js("return document.querySelector('[data-testid=\"process-model\"]')?.textContent.trim()"),
      "Qwen/Qwen3-8B · Headroom run with fp16",
    );
    await session.click(await session.find('[data-testid="switch-preset"]'));
    const done = await session.until(
      () => js("return document.querySelector('[data-testid=\"switched\"]')?.textContent ?? ''"),
      (t) => t !== "",
      "the switch result",
    );
    assert.match(done, /Saved a new config for Qwen\/Qwen3-8B with int4_double; its next launch loads it\./);
    const file = join(win.configDir, "model-configs", "Qwen--Qwen3-8B.json");
    const saved = JSON.parse(readFileSync(file, "utf8"));
    assert.equal(saved.data.preset, "int4_double");
    assert.equal(saved.data.method, "qlora");
    await screenshot("monitor-switch.png");
    await session.click(await session.find('[data-testid="undo-switch"]'));
    await session.until(() => Promise.resolve(existsSync(file)), (e) => e === false, "the created config removed by Undo");
  });

  it("with the setting on, a GPU turning critical sends a desktop notification", async () => {
    await session.click(await session.find('[data-view="settings"]'));
    await session.click(await session.find('[data-testid="notify-on-critical"]'));
    await session.until(
      () => Promise.resolve(JSON.parse(readFileSync(join(win.configDir, "settings.json"), "utf8")).data.notify_on_critical),
      (on) => on === true,
      "the setting saved",
    );
    await session.click(await session.find('[data-view="monitor"]'));
    await js("const s = document.querySelector('[data-testid=\"scenario\"]'); s.value = 'oom'; s.dispatchEvent(new Event('change', {bubbles: true}));");
    // The app asks the desktop to show it (this machine may have no notification service to draw it): the log
    // records each request with its title.
    const log = join(win.dataDir, "logs", "headroom.log");
    const line = await session.until(
      () => Promise.resolve(existsSync(log) ? readFileSync(log, "utf8").split("\n").find((l) => l.includes("desktop notification")) ?? "" : ""),
      (l) => l !== "",
      "a desktop notification in the log",
      45000,
    );
    assert.match(line, /Demo data: GPU \d memory is almost full/);
  });
});
