// Benchmark (not a test): does the Monitor view stay smooth at 10 Hz with 8 GPUs (issue 5 item 7)?
//
// Opens the real app (HEADROOM_APP) under tauri-driver, starts the demo with 8 GPUs and 16 processes sampled every
// 100 ms, lets a minute of history build up (the 1-minute chart then holds 600 readings a series), and records
// every animation frame the webview paints for MEASURE_S seconds: the frame interval is what a user feels as
// smoothness, and it includes everything the view does per push (cards, table, alerts) and per history window
// (the chart redraw). It also reads the CPU time of the app's processes (the Rust backend and WebKit's web
// process) from /proc over the same span. A baseline with the monitor stopped on the Settings view comes first,
// so the figures can be told apart from what Xvfb and software rendering cost on this machine.
//
//   HEADROOM_APP=target/debug/headroom xvfb-run -a -s "-screen 0 1400x900x24" node tests/bench/monitor-frames.mjs
//
// Prints one JSON object; HEADROOM_BENCH_OUT=FILE also writes it there.

import { readFileSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { appPids, openApp } from "../e2e/webdriver.mjs";

const WARMUP_S = Number(process.env.HEADROOM_BENCH_WARMUP_S ?? 65);
const MEASURE_S = Number(process.env.HEADROOM_BENCH_MEASURE_S ?? 30);
const BASELINE_S = 10;
const TICKS_PER_S = 100; // USER_HZ on Linux

/** utime + stime, in clock ticks, of the app's own processes (not the driver that started it). */
function cpuTicks(configDir) {
  let total = 0;
  for (const pid of appPids(configDir)) {
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
      if (comm === "tauri-driver" || comm === "WebKitWebDriver") continue;
      // Fields after the parenthesised name: state is field 3, utime 14, stime 15 (proc(5)).
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      total += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited meanwhile
    }
  }
  return total;
}

function stats(deltas) {
  const sorted = [...deltas].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const round = (v) => Math.round(v * 10) / 10;
  return {
    frames: sorted.length,
    fps: round(1000 / (deltas.reduce((a, b) => a + b, 0) / deltas.length)),
    p50_ms: round(at(0.5)),
    p95_ms: round(at(0.95)),
    p99_ms: round(at(0.99)),
    max_ms: round(sorted.at(-1)),
    over_33ms: sorted.filter((d) => d > 33.4).length,
    over_50ms: sorted.filter((d) => d > 50).length,
  };
}

async function measure(win, seconds) {
  const { session } = win;
  await session.execute(`
    window.__frames = [];
    window.__measuring = true;
    const loop = (t) => { window.__frames.push(t); if (window.__measuring) requestAnimationFrame(loop); };
    requestAnimationFrame(loop);
  `);
  const cpu0 = cpuTicks(win.configDir);
  const t0 = process.hrtime.bigint();
  await sleep(seconds * 1000);
  const cpu1 = cpuTicks(win.configDir);
  const wall_s = Number(process.hrtime.bigint() - t0) / 1e9;
  const frames = await session.execute("window.__measuring = false; return window.__frames;");
  const deltas = frames.slice(1).map((t, i) => t - frames[i]);
  return { ...stats(deltas), app_cpu_percent_of_a_core: Math.round(((cpu1 - cpu0) / TICKS_PER_S / wall_s) * 1000) / 10 };
}

const win = await openApp("bench-monitor");
try {
  const { session } = win;
  const js = (body, args = []) => session.execute(body, args);
  const choose = (testid, value) =>
    js(`const s = document.querySelector('[data-testid="${testid}"]'); s.value = arguments[0]; s.dispatchEvent(new Event('change', {bubbles: true}));`, [String(value)]);

  await session.click(await session.find('[data-view="settings"]'));
  await sleep(2000);
  const baseline = await measure(win, BASELINE_S);

  await session.click(await session.find('[data-view="monitor"]'));
  await session.click(await session.find('[data-testid="show-demo"]'));
  await session.until(() => js("return document.querySelectorAll('[data-testid=\"gpu-card\"]').length"), (n) => n === 2, "the demo");
  await choose("interval", 100);
  await choose("demo-gpus", 8);
  await session.until(() => js("return document.querySelectorAll('[data-testid=\"gpu-card\"]').length"), (n) => n === 8, "eight GPU cards");
  const interval = await js("return document.querySelector('[data-testid=\"interval\"]').value");
  if (interval !== "100") throw new Error(`the interval is ${interval} ms, not 100`);
  await sleep(WARMUP_S * 1000);
  const chart = await js("const c = document.querySelector('[data-testid=\"memory-chart\"]'); return {series: +c.dataset.series, points: +c.dataset.points}");
  const rows = await js("return document.querySelectorAll('[data-testid=\"processes\"] tbody tr').length");
  const monitor = await measure(win, MEASURE_S);

  const result = {
    what: "Monitor view, demo with 8 GPUs and 16 processes sampled every 100 ms, 1-minute chart",
    chart,
    process_rows: rows,
    baseline_settings_view: baseline,
    monitor_10hz_8gpus: monitor,
  };
  const text = JSON.stringify(result, null, 2);
  console.log(text);
  if (process.env.HEADROOM_BENCH_OUT) writeFileSync(process.env.HEADROOM_BENCH_OUT, text + "\n");
} finally {
  await win.close();
}
