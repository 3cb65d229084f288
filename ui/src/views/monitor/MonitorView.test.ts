import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { flushSync, mount, tick, unmount } from "svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { api } from "../../lib/api";
import { AppModel } from "../../lib/app.svelte";
import type { HistoryWindow, MonitorPush, MonitorStarted, PresetSwitch, Tick } from "../../lib/bindings";
import MonitorView from "./MonitorView.svelte";
import { chartData, powerData, utilizationData } from "./chart";
import { appendEvents, eventsBetween, MAX_EVENTS } from "./events";
import { formatDuration, MonitorModel, monitorFor } from "./monitor.svelte";

// The chart library draws on a canvas, which jsdom lacks: record what it is given instead.
const plots: { data: unknown[] }[] = [];
vi.mock("uplot", () => ({
  default: class {
    data: unknown[];
    constructor(_opts: unknown, data: unknown[]) {
      this.data = data;
      plots.push(this);
    }
    setData(d: unknown[]) {
      this.data = d;
    }
    setSize() {}
    destroy() {}
  },
}));

const GIB = 2 ** 30;
const STARTED: MonitorStarted = {
  source: "fake:oom",
  demo: true,
  interval_ms: 250,
  alerts: { warning: 0.85, critical: 0.95, hysteresis: 0.03, trend_window_s: 120, horizon_s: 900, idle_after_s: 300, idle_min_bytes: GIB },
  uid: 1000,
};

function reading(usedGiB: number, level: "normal" | "warning" | "critical", changed = false): Tick {
  return {
    snapshot: {
      source: "fake:oom",
      taken_at: "2026-11-29T21:00:05Z",
      gpus: [
        {
          index: 0,
          name: "Demo H100 80GB",
          uuid: null,
          status: "ok",
          memory: { total_bytes: 80 * GIB, used_bytes: usedGiB * GIB, free_bytes: (79.5 - usedGiB) * GIB, reserved_bytes: 0.5 * GIB },
          utilization_percent: 99,
          temperature_c: null,
          power_watts: 693.7,
          processes: [
            { pid: 10000, name: "python", user: "demo", command: "python train.py --model_name_or_path Qwen/Qwen2.5-32B-Instruct --demo --rank 0", used_bytes: (usedGiB - 3) * GIB,
              model: { id: "Qwen/Qwen2.5-32B-Instruct", run_id: null, preset: null, flag: "--model_name_or_path" } },
            { pid: 4242, name: "jupyter", user: "me", uid: 1000, command: "python -m ipykernel_launcher", used_bytes: 3 * GIB },
          ],
        },
      ],
      unavailable: ["GPU 0: temperature not supported by this board"],
    },
    assessment: {
      gpus: [{ gpu: 0, level, fullness: (usedGiB + 0.5) / 80, time_to_full_ms: 240_000 }],
      changes: changed ? [{ gpu: 0, from: "normal", to: level, message: `GPU 0 memory is running low (warning)` }] : [],
      recommendations:
        level === "normal"
          ? []
          : [
              { gpu: 0, action: { action: "stop_process", pid: 4242, held_bytes: 3 * GIB, idle_ms: 600_000 }, reason: "jupyter (pid 4242) holds 3.0 GiB and has been idle for 10 min" },
              { gpu: 0, action: { action: "switch_preset", pid: 10000, preset: "int4_double", model: "Qwen/Qwen2.5-32B-Instruct", current_preset: null }, reason: "4-bit NF4" },
            ],
    },
  };
}

const WINDOW: HistoryWindow = {
  from: "2026-11-29T21:00:00Z",
  to: "2026-11-29T21:01:00Z",
  gpus: [{ gpu: 0, pid: null, label: "GPU 0", total_bytes: 80 * GIB, used: { t: [1000, 2000, 3000], v: [40 * GIB, null, 70 * GIB] } }],
  processes: [{ gpu: 0, pid: 10000, label: "python (10000)", total_bytes: 80 * GIB, used: { t: [1000, 3000], v: [37 * GIB, 67 * GIB] } }],
};

const LORA_CONFIG = {
  preset: "fp16",
  overrides: {},
  task: "train",
  method: "lora",
  fallback_chain: ["fp16", "int8", "int4", "int4_double", "int4_offload"],
  notes: "",
};

let push: ((p: MonitorPush) => void) | null = null;
let calls: { cmd: string; args: Record<string, unknown> }[] = [];
let component: ReturnType<typeof mount> | null = null;

/** The mocked backend; a command named in `failing` is refused with that error instead. */
function backend(nvml: "no_driver" | "ok", failing: Record<string, unknown> = {}) {
  calls = [];
  mockIPC((cmd, raw) => {
    const args = (raw ?? {}) as Record<string, unknown>;
    calls.push({ cmd, args });
    if (cmd in failing) throw failing[cmd];
    switch (cmd) {
      case "monitor_start": {
        const source = args.source as { kind: string };
        if (source.kind === "nvml" && nvml === "no_driver")
          throw { code: "no_driver", message: "no NVIDIA driver: libnvidia-ml.so.1 not found" };
        const alerts = args.alerts as MonitorStarted["alerts"] | null;
        if (alerts && alerts.critical <= alerts.warning) throw { code: "invalid", message: "critical: 0.8 must be a fraction above warning (0.9)", field: "critical" };
        return { ...STARTED, alerts: alerts ?? STARTED.alerts };
      }
      case "monitor_window":
        return WINDOW;
      case "monitor_idle":
        return [{ gpu: 0, pid: 4242, name: "jupyter", user: "me", command: null, used_bytes: 3 * GIB, idle_ms: 600_000 }];
      case "monitor_stop_process":
        return { pid: args.pid, stopped_by: "sigterm", freed_bytes: 3 * GIB };
      case "monitor_stop":
      case "monitor_set_interval":
        return null;
      case "switch_config_preset":
        return {
          model_id: args.modelId,
          entry: { model_id: args.modelId, revision: "rev-2", config: { ...LORA_CONFIG, preset: args.preset, method: "qlora" } },
          previous: { model_id: args.modelId, revision: "rev-1", config: LORA_CONFIG },
          changes: ["method lora → qlora: LoRA on 4-bit weights is QLoRA"],
        };
      case "save_config":
        return { model_id: args.modelId, revision: "rev-3", config: args.config };
      case "monitor_export":
        // A chart asked for in Japanese on a machine without a Japanese font: English words, and the reason.
        return {
          path: "/d/exports/monitor.png",
          rows: null,
          note: "No Japanese font was found",
          note_message: { key: "backend.chart.no_cjk_font", args: {} },
        };
      case "monitor_recordings":
        return [{ name: "monitor-20261129T210000Z", path: "/d/recordings/monitor-20261129T210000Z.jsonl", size_bytes: 52_000 }];
      default:
        throw { code: "internal", message: `unexpected ${cmd}` };
    }
  });
}

// The channel's callback: mockIPC hands commands the Channel object; capture its onmessage.
function capturePush() {
  const start = calls.filter((c) => c.cmd === "monitor_start").at(-1)!;
  const channel = start.args.onPush as { onmessage: (p: MonitorPush) => void };
  push = (p) => channel.onmessage(p);
}

async function settle() {
  for (let i = 0; i < 5; i++) await tick();
  await new Promise((r) => setTimeout(r, 0));
  flushSync();
}

/** The view on a running `started` source that has just pushed a reading at warning level, with its
 *  recommendations. */
async function openWithWarning(
  started: MonitorStarted,
  { failing = {}, language = "en" }: { failing?: Record<string, unknown>; language?: "en" | "ja" } = {},
): Promise<MonitorModel> {
  backend("ok", failing);
  const frames: (() => void)[] = [];
  const monitor = new MonitorModel(api, (f) => frames.push(f), () => 0);
  const app = new AppModel(api);
  app.settings = { ...app.settings, language };
  component = mount(MonitorView, { target: document.body, props: { app, monitor } });
  await settle();
  monitor.started = started;
  capturePush();
  push!({ kind: "tick", tick: reading(68, "warning", true), readings: 3 });
  frames.splice(0).forEach((f) => f());
  await settle();
  return monitor;
}

async function open(nvml: "no_driver" | "ok") {
  backend(nvml);
  const frames: (() => void)[] = [];
  const monitor = new MonitorModel(api, (f) => frames.push(f), () => 10_000 + frames.length * 2000);
  const app = new AppModel(api);
  component = mount(MonitorView, { target: document.body, props: { app, monitor } });
  await settle();
  const frame = async () => {
    frames.splice(0).forEach((f) => f());
    await settle();
  };
  return { monitor, frame, frames };
}

const $ = <T extends Element = HTMLElement>(sel: string) => document.querySelector<T>(sel);
const text = (sel: string) => $(sel)?.textContent?.replace(/\s+/g, " ").trim() ?? "";

beforeEach(() => {
  document.body.innerHTML = "";
  plots.length = 0;
  push = null;
});
afterEach(() => {
  if (component) unmount(component);
  component = null;
  clearMocks();
});

describe("the Monitor view", () => {
  it("starts a remote source from its text, groups GPUs by host and shows an unreachable host with its reason", async () => {
    const { monitor, frame } = await open("ok");
    const input = $<HTMLInputElement>('[data-testid="remote-source"]')!;
    input.value = " prometheus:http://prom:9090 ";
    input.dispatchEvent(new Event("input"));
    $<HTMLButtonElement>('[data-testid="remote-start"]')!.click();
    await settle();
    const start = calls.filter((c) => c.cmd === "monitor_start").at(-1)!;
    expect(start.args.source).toEqual({ kind: "remote", source: "prometheus:http://prom:9090" });
    monitor.started = { ...STARTED, source: "prometheus:http://prom:9090", demo: false, interval_ms: 1000 };
    capturePush();
    const r = reading(40, "normal");
    const base = { ...r.snapshot.gpus[0]!, processes: null };
    const lostMemory = { total_bytes: null, used_bytes: null, free_bytes: null, reserved_bytes: null };
    r.snapshot = {
      ...r.snapshot,
      source: "prometheus:http://prom:9090",
      gpus: [
        { ...base, index: 0, host: "node-b", host_gpu: 0 },
        { ...base, index: 1, host: "node-a", host_gpu: 1 },
        { ...base, index: 2, host: "node-a", host_gpu: 0, status: "lost", memory: lostMemory },
      ],
      hosts: [
        { host: "node-a", reachable: false, reason: "scrape of 10.0.0.7:9464 failed: connection refused" },
        { host: "node-b", reachable: true, reason: null },
      ],
    };
    r.assessment = { gpus: [], changes: [], recommendations: [] };
    push!({ kind: "tick", tick: r, readings: 1 });
    await frame();
    expect(text('[data-testid="source-badge"]')).toBe("Remote: prometheus:http://prom:9090");
    expect([...document.querySelectorAll('[data-testid="host"]')].map((h) => h.textContent)).toEqual(["Host node-a", "Host node-b"]);
    const cards = [...document.querySelectorAll('[data-testid="gpu-card"] strong')].map((c) => c.textContent?.trim());
    expect(cards).toEqual(["GPU 0 · Demo H100 80GB", "GPU 1 · Demo H100 80GB", "GPU 0 · Demo H100 80GB"]);
    expect(text('[data-testid="host-unreachable"]')).toBe("node-a is unreachable: scrape of 10.0.0.7:9464 failed: connection refused");
    // A lost GPU of the unreachable host shows as lost, not as an empty bar.
    expect(text('[data-testid="gpu-card"]')).toContain("Lost");
  });

  it("shows a lost GPU as lost, with its own alert and what to do", async () => {
    // Issue 11 item 9: the core assesses a lost GPU `lost` (it was `normal`) and says how to bring it back.
    backend("ok");
    const frames: (() => void)[] = [];
    const monitor = new MonitorModel(api, (f) => frames.push(f), () => 0);
    component = mount(MonitorView, { target: document.body, props: { app: new AppModel(api), monitor } });
    await settle();
    monitor.started = STARTED;
    capturePush();
    const lost = reading(0, "normal");
    const g = lost.snapshot.gpus[0]!;
    lost.snapshot.gpus[0] = { ...g, status: "lost", memory: { total_bytes: null, used_bytes: null, free_bytes: null, reserved_bytes: null },
      utilization_percent: null, power_watts: null, processes: null };
    lost.assessment = {
      gpus: [{ gpu: 0, level: "lost", fullness: null, time_to_full_ms: null }],
      changes: [{ gpu: 0, from: "warning", to: "lost", message: "GPU 0 is lost: it stopped answering the driver" }],
      recommendations: [{ gpu: 0, action: { action: "check_gpu", gpu: 0 }, reason: "GPU 0 stopped answering the driver" }],
    };
    push!({ kind: "tick", tick: lost, readings: 1 });
    frames.splice(0).forEach((f) => f());
    await settle();
    expect(text('[data-testid="gpu-status"]')).toBe("Lost");
    const alert = $('[data-testid="alert"]')!;
    expect(alert.getAttribute("data-level")).toBe("lost");
    expect(alert.className).toContain("lost");
    expect(text('[data-testid="alert"] strong')).toBe("Lost · GPU 0 is lost: it stopped answering the driver");
    expect(text('[data-testid="recommendation"]')).toContain("Find out why GPU 0 stopped answering, then reset it");
    expect(text('[data-testid="recommendation"] code')).toBe("nvidia-smi -q -i 0");
  });

  it("says plainly that there is no driver and starts the labelled demo in one click", async () => {
    const { frame } = await open("no_driver");
    expect(text('[data-testid="no-driver"]')).toContain("No NVIDIA driver found (libnvidia-ml.so.1). Planning and presets work without one.");
    $<HTMLButtonElement>('[data-testid="show-demo"]')!.click();
    await settle();
    const start = calls.filter((c) => c.cmd === "monitor_start").at(-1)!;
    expect(start.args.source).toEqual({ kind: "demo", scenario: "training", gpus: 2 });
    expect(text('[data-testid="source-badge"]')).toBe("Demo data: simulated GPUs (Run to OOM)");
    capturePush();
    push!({ kind: "tick", tick: reading(60, "normal"), readings: 1 });
    await frame();
    expect(text('[data-testid="gpu-used"]')).toBe("60.00 GiB / 80.00 GiB");
    expect($('[data-testid="gpu-used"] span')!.title).toBe("64,424,509,440 bytes");
    expect(text('[data-testid="gpu-status"]')).toBe("OK");
    // The board does not report temperature: n/a with the reason, never 0.
    const na = [...document.querySelectorAll("abbr")].find((a) => a.title.includes("temperature"));
    expect(na?.textContent).toBe("n/a");
    expect(na?.title).toBe("Not reported: GPU 0: temperature not supported by this board");
  });

  it("renders pushed readings at most once per animation frame", async () => {
    const { monitor, frame, frames } = await open("ok");
    capturePush();
    push!({ kind: "tick", tick: reading(50, "normal"), readings: 1 });
    push!({ kind: "tick", tick: reading(55, "normal"), readings: 1 });
    push!({ kind: "tick", tick: reading(60, "normal"), readings: 1 });
    expect(frames.length).toBe(1);
    expect(monitor.tick).toBeNull();
    await frame();
    expect(text('[data-testid="gpu-used"]')).toBe("60.00 GiB / 80.00 GiB");
  });

  it("charts bytes per GPU with dashed thresholds, per process for a selected GPU, and refetches on range change", async () => {
    const { frame, frames } = await open("ok");
    capturePush();
    push!({ kind: "tick", tick: reading(60, "normal"), readings: 1 });
    await frame();
    // While readings flow, the fetched window waits for the next reading's frame: one repaint, not two.
    expect(frames.length).toBe(0);
    push!({ kind: "tick", tick: reading(61, "normal"), readings: 1 });
    await frame();
    await new Promise((r) => requestAnimationFrame(() => r(null)));
    await settle();
    const window = calls.filter((c) => c.cmd === "monitor_window");
    expect(window.at(-1)!.args.rangeMs).toBe(60_000);
    expect(plots.length).toBe(1);
    const data = plots[0]!.data as (number | null | undefined)[][];
    expect(data[0]).toEqual([1, 2, 3]);
    expect(data[1]).toEqual([40 * GIB, null, 70 * GIB]);
    // The board's capacity, then warning 85 % of 80 GiB, less the 0.5 GiB the driver reserves (alerts count
    // reserved as used).
    expect(data[2]![0]).toBe(80 * GIB);
    expect(data[3]![0]).toBe(0.85 * 80 * GIB - 0.5 * GIB);
    $<HTMLButtonElement>('[data-range="1h"]')!.click();
    await settle();
    expect(calls.filter((c) => c.cmd === "monitor_window").at(-1)!.args.rangeMs).toBe(3_600_000);
    $<HTMLButtonElement>('[data-testid="gpu-card"]')!.click();
    await settle();
    expect(text(".monitor")).toContain("Processes on GPU 0");
  });

  it("sorts the process table and offers Stop… only for the user's own process, with the memory it frees", async () => {
    const { frame } = await open("ok");
    // A live source this time: own processes can be stopped.
    const start = calls.find((c) => c.cmd === "monitor_start")!;
    (start.args.onPush as { onmessage: (p: MonitorPush) => void }).onmessage({ kind: "tick", tick: reading(60, "normal"), readings: 1 });
    await frame();
    const pids = () => [...document.querySelectorAll("tbody tr")].map((r) => r.getAttribute("data-pid"));
    expect(pids()).toEqual(["10000", "4242"]);
    const pidHeader = [...document.querySelectorAll<HTMLButtonElement>("th button")].find((b) => b.textContent?.startsWith("PID"))!;
    pidHeader.click();
    await settle();
    expect(pids()).toEqual(["4242", "10000"]);
    // Demo processes are simulated: no Stop… at all.
    expect(document.querySelectorAll('[data-testid="stop"]').length).toBe(0);
  });

  it("shows the alert with since-when and the recommended actions, and stops an idle process after confirmation", async () => {
    const monitor = await openWithWarning({ ...STARTED, demo: false, source: "nvml" });
    expect(text('[data-testid="gpu-status"]')).toBe("Warning");
    const alert = text('[data-testid="alert"]');
    expect(alert).toContain("GPU 0 memory is running low (warning)");
    expect(alert).toContain("85.6% full");
    expect([...document.querySelectorAll('[data-testid="stop"]')].map((b) => b.closest("tr")!.getAttribute("data-pid"))).toEqual(["4242"]);
    expect(alert).toContain("full in about 4 min");
    expect(alert).toContain("Switch Qwen/Qwen2.5-32B-Instruct's config to int4_double");
    const stopAction = [...document.querySelectorAll<HTMLButtonElement>('[data-testid="recommendation"] button')].find((b) =>
      b.textContent?.includes("Stop PID 4242"),
    )!;
    expect(stopAction.textContent).toBe("Stop PID 4242 (frees 3.00 GiB)");
    // jsdom has no modal dialogs: showModal is stubbed to open.
    HTMLDialogElement.prototype.showModal ??= function (this: HTMLDialogElement) { this.open = true; };
    HTMLDialogElement.prototype.close ??= function (this: HTMLDialogElement) { this.open = false; };
    stopAction.click();
    await settle();
    expect(text('[data-testid="stop-dialog"]')).toContain("jupyter (PID 4242) holds 3.00 GiB of GPU memory");
    [...document.querySelectorAll<HTMLButtonElement>('[data-testid="stop-dialog"] button')].find((b) => b.textContent === "Stop it")!.click();
    await settle();
    expect(calls.some((c) => c.cmd === "monitor_stop_process" && c.args.pid === 4242)).toBe(true);
    expect(text('[data-testid="stop-result"]')).toBe("Stopped PID 4242 (SIGTERM): 3.00 GiB of GPU memory freed.");
  });

  it("switches the growing run's model config to int4_double in one click, and undoes it", async () => {
    // On the demo the model is simulated: the button is there, but disabled, and says why.
    const monitor = await openWithWarning(STARTED);
    const demoButton = document.querySelector<HTMLButtonElement>('[data-testid="switch-preset"]')!;
    expect(demoButton.disabled).toBe(true);
    expect(demoButton.title).toBe("Demo data: the simulated model is not yours to change");
    // Live: one click saves the config.
    monitor.started = { ...STARTED, demo: false, source: "nvml" };
    await settle();
    expect(text('[data-testid="process-model"]')).toBe("Qwen/Qwen2.5-32B-Instruct (from --model_name_or_path)");
    const button = document.querySelector<HTMLButtonElement>('[data-testid="switch-preset"]')!;
    expect(button.textContent).toBe("Switch Qwen/Qwen2.5-32B-Instruct's config to int4_double");
    button.click();
    await settle();
    expect(calls.find((c) => c.cmd === "switch_config_preset")?.args).toEqual({ modelId: "Qwen/Qwen2.5-32B-Instruct", preset: "int4_double" });
    const done = text('[data-testid="switched"]');
    expect(done).toContain("Qwen/Qwen2.5-32B-Instruct's config now uses int4_double (was fp16); its next launch loads it.");
    expect(done).toContain("method lora → qlora");
    document.querySelector<HTMLButtonElement>('[data-testid="undo-switch"]')!.click();
    await settle();
    expect(calls.find((c) => c.cmd === "save_config")?.args).toEqual({ modelId: "Qwen/Qwen2.5-32B-Instruct", config: LORA_CONFIG, revision: "rev-2" });
    expect(document.querySelector('[data-testid="switched"]')).toBeNull();
    expect(text('[data-testid="notice"]')).toBe("Qwen/Qwen2.5-32B-Instruct's config is back as it was.");
  });

  it("says where an export went and what the backend adds about it", async () => {
    await openWithWarning(STARTED);
    $<HTMLButtonElement>('[data-testid="export"]')!.click();
    await settle();
    expect(text('[data-testid="notice"]')).toBe(
      "Saved to /d/exports/monitor.png No Japanese font was found (the fonts-noto-cjk package provides one), so the chart's labels are in English",
    );
  });

  it("says which action failed and why, in Japanese when the language is Japanese", async () => {
    const failing = {
      monitor_set_interval: {
        code: "invalid",
        message: "interval_ms: 50 ms is outside 100 ms to 10 s",
        field: "interval_ms",
        message_key: { key: "backend.invalid.monitor.interval", args: { interval_ms: { type: "count", value: 50 } } },
      },
      switch_config_preset: { code: "conflict", message: "the config changed on disk" },
      save_config: { code: "io", message: "permission denied" },
      monitor_export: { code: "io", message: "disk full" },
    };
    const monitor = await openWithWarning({ ...STARTED, demo: false, source: "nvml" }, { failing, language: "ja" });
    await monitor.setInterval(50);
    await settle();
    expect(text('[data-testid="notice"]')).toBe(
      "サンプリング間隔を変更できませんでした: interval_ms: 50 ms は 100 ms から 10 秒の範囲外です",
    );
    document.querySelector<HTMLButtonElement>('[data-testid="switch-preset"]')!.click();
    await settle();
    expect(text('[data-testid="notice"]')).toBe("設定を切り替えられませんでした: the config changed on disk");
    // An undo that fails: the switch is still there to undo, and the notice says so in Japanese.
    monitor.switched = {
      model_id: "Qwen/Qwen2.5-32B-Instruct",
      entry: { model_id: "Qwen/Qwen2.5-32B-Instruct", revision: "rev-2", config: { ...LORA_CONFIG, preset: "int4_double" } },
      previous: { model_id: "Qwen/Qwen2.5-32B-Instruct", revision: "rev-1", config: LORA_CONFIG },
      changes: [],
    } as PresetSwitch;
    await settle();
    document.querySelector<HTMLButtonElement>('[data-testid="undo-switch"]')!.click();
    await settle();
    expect(text('[data-testid="notice"]')).toBe("切り替えを元に戻せませんでした: permission denied");
    expect(monitor.switched).not.toBeNull();
    $<HTMLButtonElement>('[data-testid="export"]')!.click();
    await settle();
    expect(text('[data-testid="notice"]')).toBe("書き出しに失敗しました: disk full");
    expect($('[data-testid="notice"]')!.classList.contains("error")).toBe(true);
  });

  it("says a reading failed in the person's language, until the next reading arrives", async () => {
    const monitor = await openWithWarning(STARTED, { language: "ja" });
    push!({ kind: "error", message: "NVML: GPU is lost" });
    await settle();
    expect(text('[data-testid="reading-failed"]')).toBe("直近の読み取りに失敗しました: NVML: GPU is lost");
    push!({ kind: "tick", tick: reading(68, "warning"), readings: 1 });
    await settle();
    expect($('[data-testid="reading-failed"]')).toBeNull();
    expect(monitor.error).toBeNull();
  });

  it("says which action failed in English too", async () => {
    await openWithWarning(STARTED, { failing: { monitor_export: { code: "io", message: "disk full" } } });
    $<HTMLButtonElement>('[data-testid="export"]')!.click();
    await settle();
    expect(text('[data-testid="notice"]')).toBe("Could not export: disk full");
  });

  it("changes the interval of the running source and starts the demo with more GPUs", async () => {
    const { monitor } = await open("no_driver");
    document.querySelector<HTMLButtonElement>('[data-testid="show-demo"]')!.click();
    await settle();
    const interval = document.querySelector<HTMLSelectElement>('[data-testid="interval"]')!;
    expect(interval.value).toBe("250");
    interval.value = "100";
    interval.dispatchEvent(new Event("change", { bubbles: true }));
    await settle();
    expect(calls.find((c) => c.cmd === "monitor_set_interval")?.args).toEqual({ intervalMs: 100 });
    expect(monitor.started?.interval_ms).toBe(100);
    const gpus = document.querySelector<HTMLSelectElement>('[data-testid="demo-gpus"]')!;
    gpus.value = "8";
    gpus.dispatchEvent(new Event("change", { bubbles: true }));
    await settle();
    const start = calls.filter((c) => c.cmd === "monitor_start").at(-1)!;
    expect(start.args.source).toEqual({ kind: "demo", scenario: "training", gpus: 8 });
    expect(start.args.intervalMs).toBe(100);
  });

  it("puts a refused threshold next to its field", async () => {
    await open("ok");
    const warning = $<HTMLInputElement>('[data-testid="warning"]')!;
    const critical = $<HTMLInputElement>('[data-testid="critical"]')!;
    warning.value = "90";
    warning.dispatchEvent(new Event("input"));
    critical.value = "80";
    critical.dispatchEvent(new Event("input"));
    critical.form!.requestSubmit();
    await settle();
    const err = critical.closest("label")!.nextElementSibling;
    expect(err?.textContent).toBe("0.8 must be a fraction above warning (0.9)");
    expect(critical.getAttribute("aria-invalid")).toBe("true");
  });
});

describe("the app's one monitor", () => {
  it("keeps its source running when the view is left and opened again", async () => {
    backend("ok");
    const app = new AppModel(api);
    component = mount(MonitorView, { target: document.body, props: { app } });
    await settle();
    unmount(component);
    component = mount(MonitorView, { target: document.body, props: { app } });
    await settle();
    expect(calls.filter((c) => c.cmd === "monitor_start").length).toBe(1);
    expect(calls.some((c) => c.cmd === "monitor_stop")).toBe(false);
    expect(monitorFor(app).phase).toBe("running");
    expect(text('[data-testid="source-badge"]')).toBe("Demo data: simulated GPUs (Run to OOM)");
    // The replay picker offers the recordings on disk.
    const options = [...document.querySelectorAll<HTMLOptionElement>("#monitor-recordings option")].map((o) => o.value);
    expect(options).toEqual(["/d/recordings/monitor-20261129T210000Z.jsonl"]);
  });
});

describe("helpers", () => {
  it("aligns series on one time axis, keeping reported gaps", () => {
    const d = chartData(WINDOW, 0, []);
    expect(d.x).toEqual([1, 3]);
    expect([d.from, d.to]).toEqual([Date.parse(WINDOW.from) / 1000, Date.parse(WINDOW.to) / 1000]);
    expect(d.series.map((s) => s.label)).toEqual(["python (10000)"]);
  });
  it("draws two identical GPUs as two distinguishable lines, with the capacity and thresholds labelled", () => {
    const twin = { ...WINDOW.gpus[0]!, gpu: 1, label: "GPU 1" };
    const d = chartData({ ...WINDOW, gpus: [WINDOW.gpus[0]!, twin] }, null, [{ label: "warning 85%", bytes: 68 * GIB, colour: "#ca8a04" }], {
      label: "capacity 80.00 GiB",
      bytes: 80 * GIB,
    });
    const [a, b, cap, warn] = d.series;
    expect(a!.values).toEqual(b!.values);
    expect([a!.colour, String(a!.dash)]).not.toEqual([b!.colour, String(b!.dash)]);
    expect(cap).toMatchObject({ label: "capacity 80.00 GiB", reference: true });
    expect(cap!.values.every((v) => v === 80 * GIB)).toBe(true);
    expect(warn).toMatchObject({ label: "warning 85%", reference: true });
  });
  it("charts each GPU's utilization and power (watts) when the window has them", () => {
    expect(utilizationData(WINDOW, null)).toBeNull();
    const w: HistoryWindow = {
      ...WINDOW,
      gpus: [{ ...WINDOW.gpus[0]!, utilization_percent: { t: [1000, 2000], v: [50, 99] }, power_mw: { t: [1000, 2000], v: [300_000, null] } }],
    };
    expect(utilizationData(w, null)).toMatchObject({ unit: "percent", x: [1, 2], series: [{ values: [50, 99] }] });
    expect(powerData(w, 0)).toMatchObject({ unit: "watts", series: [{ values: [300, null] }] });
    expect(powerData(w, 3)).toBeNull();
  });
  it("logs processes starting and stopping, a likely OOM exit, and alerts raised and cleared", () => {
    const first = reading(60, "critical", true);
    expect(eventsBetween(null, first)).toEqual([{ at: first.snapshot.taken_at, kind: "alert_raised", gpu: 0, level: "critical" }]);
    const second = reading(20, "normal");
    second.snapshot.gpus[0]!.processes = [
      second.snapshot.gpus[0]!.processes![1]!,
      { pid: 777, name: "python", user: "me", command: "python eval.py", used_bytes: GIB },
    ];
    second.assessment.changes = [{ gpu: 0, from: "critical", to: "normal", message: "" }];
    const events = eventsBetween(first, second);
    expect(events.map((e) => [e.kind, e.pid ?? null])).toEqual([
      ["process_start", 777],
      ["oom", 10000],
      ["alert_cleared", null],
    ]);
    const calm = reading(20, "normal");
    const gone = reading(20, "normal");
    gone.snapshot.gpus[0]!.processes = [];
    expect(eventsBetween(calm, gone).map((e) => e.kind)).toEqual(["process_stop", "process_stop"]);
    // A list the driver did not read this time is not compared.
    gone.snapshot.gpus[0]!.processes = null;
    expect(eventsBetween(calm, gone)).toEqual([]);
    const many = appendEvents([], new Array(MAX_EVENTS + 5).fill(events[0]));
    expect(many).toHaveLength(MAX_EVENTS);
  });
  it("formats idle time", () => {
    expect(formatDuration(45_000, "en")).toBe("45 s");
    expect(formatDuration(600_000, "en")).toBe("10 min");
    expect(formatDuration(3_900_000, "en")).toBe("1 h 05 min");
    expect(formatDuration(45_000, "ja")).toBe("45 秒");
    expect(formatDuration(3_900_000, "ja")).toBe("1 時間 05 分");
  });
});
