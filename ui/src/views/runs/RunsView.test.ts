import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { flushSync, mount, unmount } from "svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import RunsView from "./RunsView.svelte";
import { api } from "../../lib/api";
import { AppModel } from "../../lib/app.svelte";
import type { AttemptRecord, RunRecord, RunSnapshot, RunUpdate } from "../../lib/bindings";
import { formatDateTime } from "../../lib/format";
import { applyUpdate, emptyRun, interruptionOf, MAX_LINES, moveChip, parseCount, runChartData, runFromSnapshot, splitArgv } from "./logic";
import { session } from "./session.svelte";

// The chart library draws on a canvas (and reads matchMedia on load), which jsdom lacks; the view's own
// data-* attributes say what it was given.
vi.mock("uplot", () => ({
  default: class {
    setData() {}
    setSize() {}
    destroy() {}
  },
}));

const GIB = 2 ** 30;

function attempt(index: number, preset: string, ok: boolean, next: AttemptRecord["next"]): AttemptRecord {
  return {
    index,
    preset,
    expandable_segments: false,
    environment: { HEADROOM_PRESET: preset },
    pid: 100 + index,
    started_unix_ms: 1_700_000_000_000,
    duration_ms: 1500,
    exit: { code: ok ? 0 : 1, signal: null },
    cancelled: false,
    oom: ok
      ? null
      : {
          marker: "cuda_out_of_memory",
          message: "CUDA out of memory. Tried to allocate 2.00 GiB.",
          gpu_index: 0,
          requested_bytes: 2 * GIB,
          total_capacity_bytes: null,
          free_bytes: null,
          allocated_by_pytorch_bytes: null,
          reserved_unallocated_bytes: null,
        },
    measured_peak_bytes: null,
    predicted_peak_bytes: index === 0 ? Math.round(23.1 * GIB) : null,
    log_file: `/d/runs/run-1/attempt-${index}.log`,
    next,
  };
}

const record: RunRecord = {
  run_id: "run-1",
  model: "llama-8b",
  profile: "production",
  chain: ["fp16", "int8"],
  argv: ["python3", "train.py"],
  cwd: "/work",
  started_unix_ms: 1_700_000_000_000,
  attempts: [attempt(0, "fp16", false, { kind: "next_preset", preset: "int8" }), attempt(1, "int8", true, { kind: "stop" })],
  outcome: "succeeded",
};

/** A run whose launcher was killed, found by the next start with its training still running. */
const interruptedRun: RunRecord = {
  ...record,
  run_id: "run-9",
  model: "mistral-7b",
  attempts: [],
  outcome: "interrupted",
  launcher: { pid: 10, start_ticks: 5 },
  interruption: { detected_unix_ms: 1_700_000_100_000, process: { pid: 4242, start_ticks: 7 }, process_alive: true },
};

/** Where a run started down its chain: past fp16, which the estimate says does not fit. */
const relaunchStart = {
  step: 1,
  pinned: false,
  usable_bytes: Math.round(44.5 * GIB),
  fit_on: "high" as const,
  skipped: [{ step: 0, preset: "fp16", central_bytes: Math.round(48.2 * GIB), high_bytes: 55 * GIB, verdict: "does_not_fit" as const }],
  none_fits: false,
  message: "fp16 skipped: needs 48.2-55.0 GiB, 44.5 GiB usable",
};

/** A run down a chain with a batch step that started past fp16, ran under torchrun and resumed its relaunch. */
const relaunchRun: RunRecord = {
  ...record,
  run_id: "run-5",
  model: "gemma-9b",
  chain: ["fp16", "int8", "mb/2"],
  attempts: [
    { ...attempt(0, "int8", false, { kind: "next_preset", preset: "int8", micro_batch: 4, grad_accum: 2 }), step: 1, micro_batch: 8, grad_accum: 1, group_stopped: true },
    {
      ...attempt(1, "int8", true, { kind: "stop" }),
      step: 2,
      micro_batch: 4,
      grad_accum: 2,
      resumed_from: { path: "/work/out/checkpoint-20", step: 20, kind: "transformers" },
    },
  ],
  start: relaunchStart,
  distributed: { launcher: "torchrun", max_restarts_arg: "--max-restarts=0" },
};

let calls: { cmd: string; args: Record<string, unknown> }[];
let channel: { onmessage: (u: RunUpdate) => void } | null;
/** What runs_attach answers: the run the backend has going on (null: none). */
let inProgress: RunSnapshot | null = null;

/** A run that was going on before the window reloaded: one attempt, three lines shown of 2,003. */
const snapshot: RunSnapshot = {
  run_id: "run-7",
  attempts: [
    { event: "run_started", run_id: "run-7", dir: "/d/runs/run-7", started_unix_ms: 1_700_000_000_000, model: "llama-8b", start: relaunchStart },
    { event: "attempt_started", index: 0, preset: "int4", pid: 300, expandable_segments: false, predicted_peak_bytes: 9 * GIB },
  ],
  lines: [
    { attempt: 0, stream: "stdout", line: "step 1998 loss 0.512" },
    { attempt: 0, stream: "stdout", line: "step 1999 loss 0.511" },
    { attempt: 0, stream: "stderr", line: "warning: slow dataloader" },
  ],
  dropped_lines: 2000,
  memory: [
    { kind: "sample", pid: 300, unix_ms: 1_700_000_000_000, bytes: 3 * GIB },
    { kind: "sample", pid: 300, unix_ms: 1_700_000_000_500, bytes: 4 * GIB },
  ],
  memory_unavailable: null,
};
let component: ReturnType<typeof mount> | null = null;

function backend() {
  calls = [];
  channel = null;
  mockIPC((cmd, raw) => {
    const args = (raw ?? {}) as Record<string, unknown>;
    calls.push({ cmd, args });
    switch (cmd) {
      case "runs_defaults":
        return args.model === "llama-8b"
          ? { chain: ["int4", "int4_double"], saved: true, presets: ["fp16", "int8", "int4", "int4_double", "int4_offload", "mine"], cwd: "/work" }
          : { chain: ["fp16", "int8", "int4", "int4_double", "int4_offload"], saved: false, presets: ["fp16", "int8", "int4", "int4_double", "int4_offload"], cwd: "/work" };
      case "env_list_profiles":
        return { profiles: [{ name: "production", purpose: "production", builtin: true, description: "" }], quarantined: [] };
      case "runs_list":
        return { runs: [record, { ...record, run_id: "run-0", model: "qwen-7b", attempts: [record.attempts[1]!] }, interruptedRun, relaunchRun], quarantined: [] };
      case "runs_start": {
        const start = args.start as { cwd: string; batch_size?: number };
        if (start.batch_size === 7) throw { code: "invalid", message: "batch_size: llama-8b has no saved config, so there is no task or method to estimate with", field: "batch_size" };
        if (start.cwd === "/nope") throw { code: "invalid", message: "cwd: /nope is not a directory", field: "cwd" };
        channel = args.onUpdate as typeof channel;
        return "run-2";
      }
      case "runs_attach":
        if (inProgress) channel = args.onUpdate as typeof channel;
        return inProgress;
      case "runs_cancel":
        return null;
      case "runs_log":
        return { text: `log of attempt ${args.attempt}\n`, truncated: false };
      default:
        throw { code: "internal", message: `unexpected command ${cmd}` };
    }
  });
}

const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
  flushSync();
};

async function open(prepare?: (app: AppModel) => void): Promise<AppModel> {
  backend();
  session.live = null;
  const app = new AppModel(api);
  prepare?.(app);
  component = mount(RunsView, { target: document.body, props: { app } });
  await settle();
  return app;
}

function type(name: string, value: string) {
  const input = document.querySelector<HTMLInputElement>(`input[name="${name}"]`)!;
  input.value = value;
  input.dispatchEvent(new Event("input"));
}

const chips = () => [...document.querySelectorAll("[data-chip]")].map((c) => c.getAttribute("data-chip"));
const submit = async () => {
  document.querySelector<HTMLFormElement>("form.start")!.requestSubmit();
  await settle();
};

beforeEach(() => {
  document.body.innerHTML = "";
  inProgress = null;
});
afterEach(() => {
  if (component) unmount(component);
  component = null;
  clearMocks();
});

describe("the Runs view", () => {
  it("says what is missing next to each field and starts nothing", async () => {
    await open();
    await submit();
    expect(document.querySelector('input[name="command"]')!.getAttribute("aria-invalid")).toBe("true");
    expect(document.body.textContent).toContain("Command: enter the program to run");
    expect(document.body.textContent).toContain("Model: enter the model id");
    expect(calls.some((c) => c.cmd === "runs_start")).toBe(false);
  });

  it("shows the backend's refusal next to the field it names", async () => {
    await open();
    type("command", "python3 train.py");
    type("model", "llama-8b");
    type("cwd", "/nope");
    await submit();
    expect(document.querySelector('input[name="cwd"]')!.getAttribute("aria-invalid")).toBe("true");
    expect(document.body.textContent).toContain("/nope is not a directory");
  });

  it("reorders the chain with the arrow keys and removes a preset with Delete", async () => {
    await open();
    expect(chips()).toEqual(["fp16", "int8", "int4", "int4_double", "int4_offload"]);
    const first = document.querySelector<HTMLButtonElement>('[data-chip="fp16"]')!;
    first.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowRight", bubbles: true }));
    await settle();
    expect(chips()).toEqual(["int8", "fp16", "int4", "int4_double", "int4_offload"]);
    expect(document.activeElement?.getAttribute("data-chip")).toBe("fp16");
    document.querySelector('[data-chip="int4_offload"]')!.dispatchEvent(new KeyboardEvent("keydown", { key: "Delete", bubbles: true }));
    await settle();
    expect(chips()).toEqual(["int8", "fp16", "int4", "int4_double"]);
  });

  it("starts a run with the argv, then draws the pushed attempts as a timeline and the log", async () => {
    await open();
    type("command", `python3 train.py --name "my run"`);
    type("model", "llama-8b");
    await submit();
    const start = calls.find((c) => c.cmd === "runs_start")!.args.start;
    expect(start).toEqual({
      model: "llama-8b",
      argv: ["python3", "train.py", "--name", "my run"],
      cwd: "/work",
      profile: "production",
      chain: ["fp16", "int8", "int4", "int4_double", "int4_offload"],
    });
    channel!.onmessage({
      run_id: "run-2",
      events: [
        { event: "run_started", run_id: "run-2", dir: "/d/runs/run-2", started_unix_ms: 1_700_000_300_000, model: "llama-8b" },
        { event: "attempt_started", index: 0, preset: "fp16", pid: 100, expandable_segments: false, predicted_peak_bytes: null },
        { event: "output", attempt: 0, stream: "stderr", line: "torch.OutOfMemoryError: CUDA out of memory." },
        { event: "attempt_finished", attempt: record.attempts[0]! },
        { event: "attempt_started", index: 1, preset: "int8", pid: 101, expandable_segments: false, predicted_peak_bytes: null },
      ],
      dropped_lines: 0,
      finished: null,
      error: null,
      memory: [],
    });
    flushSync();
    // The run is titled by when it started and what it trains; its id stays beside, in code.
    const title = document.querySelector("#live-title")!;
    expect(title.textContent).toContain(`Run ${formatDateTime(1_700_000_300_000, "en")} · llama-8b`);
    expect(title.querySelector("code.run-id")!.textContent).toBe("run-2");
    expect(document.querySelector('[data-testid="log"]')!.textContent).toContain("CUDA out of memory");
    expect(document.querySelector('[data-testid="cancel"]')).not.toBeNull();
    const timeline = document.querySelector('[data-testid="timeline"]')!.textContent!;
    expect(timeline).toContain("OOM (tried to allocate 2.00 GiB)");
    expect(timeline).toContain("23.10 GiB");
    expect(timeline).toContain("relaunch with int8");
    document.querySelector<HTMLButtonElement>('[data-testid="cancel"]')!.click();
    await settle();
    expect(calls.find((c) => c.cmd === "runs_cancel")!.args).toEqual({ runId: "run-2" });
    channel!.onmessage({ run_id: "run-2", events: [], dropped_lines: 0, finished: { ...record, run_id: "run-2" }, error: null, memory: [] });
    await settle();
    expect(document.querySelector('[data-testid="outcome"]')!.textContent).toBe("Succeeded");
    const statuses = [...document.querySelectorAll('[data-testid="timeline"] [data-preset]')].map((e) => e.getAttribute("data-status"));
    expect(statuses).toEqual(["bad", "ok"]);
    const measured = document.querySelector('[data-testid="timeline"] .na')!;
    expect(measured.textContent).toBe("n/a");
  });

  it("sends the batch size and sequence length for the estimate, and shows each preset's figure or why not", async () => {
    await open();
    type("command", "python3 train.py");
    type("model", "llama-8b");
    type("batch_size", "4");
    type("sequence_length", "2048");
    await submit();
    const start = calls.find((c) => c.cmd === "runs_start")!.args.start as Record<string, unknown>;
    expect(start.batch_size).toBe(4);
    expect(start.sequence_length).toBe(2048);
    const rejected = { ...attempt(1, "int8", true, { kind: "stop" }), predicted_note: "quantization: `int8` weights are quantized and frozen" };
    channel!.onmessage({
      run_id: "run-2",
      events: [],
      dropped_lines: 0,
      finished: { ...record, run_id: "run-2", attempts: [record.attempts[0]!, rejected] },
      error: null,
      memory: [],
    });
    await settle();
    const cards = [...document.querySelectorAll('[data-testid="timeline"] [data-preset]')];
    expect(cards[0]!.textContent).toContain("23.10 GiB");
    expect(cards[0]!.querySelector('[title="24,803,436,134 bytes"]')).not.toBeNull();
    const na = cards[1]!.querySelector(".na")!;
    expect(na.textContent).toBe("n/a");
    expect(na.getAttribute("title")).toContain("quantized and frozen");
  });

  it("says a run stopped early, with the launcher's reason, in Japanese when the language is Japanese", async () => {
    await open((a) => (a.settings = { ...a.settings, language: "ja" }));
    type("command", "python3 train.py");
    type("model", "llama-8b");
    await submit();
    channel!.onmessage({
      run_id: "run-2",
      events: [
        { event: "attempt_started", index: 0, preset: "fp16", pid: 100, expandable_segments: false, predicted_peak_bytes: null },
        { event: "attempt_finished", attempt: record.attempts[0]! },
      ],
      dropped_lines: 0,
      finished: null,
      error: { code: "io", message: "/d/runs/run-2/attempt-0.log: No space left on device" },
      memory: [],
    });
    await settle();
    expect(document.querySelector('[data-testid="run-error"]')!.textContent).toBe(
      "実行が途中で止まりました: /d/runs/run-2/attempt-0.log: No space left on device",
    );
    // The exact figure's tooltip is in the language too.
    expect(document.querySelector('[data-testid="timeline"] [title="24,803,436,134 バイト"]')).not.toBeNull();
  });

  it("takes the Plan view's plan: its model, a line saying what it estimates with, sent with the run until dropped", async () => {
    const plan = {
      model: { id: "llama-8b" }, task: "train", method: "lora", gradient_checkpointing: true,
      batch_size: 2, sequence_length: 512, gpus: { count: 4, memory_gib: 40 }, sharding: "fsdp_full_shard",
    };
    const app = await open((a) => (a.runPlan = { model: "llama-8b", plan }));
    await settle();
    expect(document.querySelector<HTMLInputElement>('input[name="model"]')!.value).toBe("llama-8b");
    expect(chips()).toEqual(["int4", "int4_double"]);
    const line = document.querySelector(".with-plan")!.textContent!;
    for (const part of ["train lora", "4 GPUs", "fsdp_full_shard", "checkpointing", "2 × 512"]) expect(line).toContain(part);
    expect(document.querySelector<HTMLInputElement>('input[name="batch_size"]')!.placeholder).toBe("from the plan: 2");
    type("command", "python3 train.py");
    await submit();
    const sent = calls.filter((c) => c.cmd === "runs_start").map((c) => c.args.start as Record<string, unknown>);
    expect(sent[0]!.plan).toEqual(plan);
    expect(sent[0]!.batch_size).toBeUndefined();

    // Dropped: the form goes back to the saved config's estimate, and the plan is not sent.
    session.live = null;
    document.querySelector<HTMLButtonElement>(".with-plan button")!.click();
    await settle();
    expect(app.runPlan).toBeNull();
    expect(document.querySelector(".with-plan")).toBeNull();
    expect(document.querySelector("#plan-help")!.textContent).toContain("saved config");
  });

  it("checks the estimate fields and shows the backend's refusal next to the batch size", async () => {
    await open();
    type("command", "python3 train.py");
    type("model", "llama-8b");
    type("batch_size", "two");
    await submit();
    expect(document.querySelector('input[name="batch_size"]')!.getAttribute("aria-invalid")).toBe("true");
    expect(document.body.textContent).toContain("Batch size (for the estimate): enter a whole number of at least 1");
    expect(calls.some((c) => c.cmd === "runs_start")).toBe(false);
    type("batch_size", "7");
    type("sequence_length", "512");
    await submit();
    const field = document.querySelector('input[name="batch_size"]')!.closest("label")!;
    expect(field.textContent).toContain("has no saved config");
  });

  it("charts the run's memory pushed on the channel, with the attempt's predicted peak as the plan line", async () => {
    await open();
    type("command", "python3 train.py");
    type("model", "llama-8b");
    await submit();
    channel!.onmessage({
      run_id: "run-2",
      events: [{ event: "attempt_started", index: 0, preset: "int4", pid: 100, expandable_segments: false, predicted_peak_bytes: 9 * GIB }],
      dropped_lines: 0,
      finished: null,
      error: null,
      memory: [
        { kind: "sample", pid: 100, unix_ms: 1_700_000_000_000, bytes: null },
        { kind: "sample", pid: 100, unix_ms: 1_700_000_000_500, bytes: 4 * GIB },
        { kind: "sample", pid: 999, unix_ms: 1_700_000_000_600, bytes: GIB },
      ],
    });
    await settle();
    const run = session.live!;
    const data = runChartData(run, { memory: "process tree", plan: "plan" });
    expect(data.x).toEqual([1_700_000_000, 1_700_000_000.5]);
    expect(data.series.map((s) => s.label)).toEqual(["process tree", "plan"]);
    expect(data.series[0]!.values).toEqual([null, 4 * GIB]);
    expect(data.series[1]!.values).toEqual([9 * GIB, 9 * GIB]);
    expect(data.series[1]!.dashed).toBe(true);
    const chart = document.querySelector('[data-testid="memory-chart"]')!;
    expect(chart.getAttribute("data-series")).toBe("2");
    expect(chart.getAttribute("data-points")).toBe("2");
  });

  it("says n/a when there is no NVIDIA driver to measure the run", async () => {
    await open();
    type("command", "python3 train.py");
    type("model", "llama-8b");
    await submit();
    expect(document.querySelector('[data-testid="memory-empty"]')).not.toBeNull();
    channel!.onmessage({
      run_id: "run-2",
      events: [{ event: "attempt_started", index: 0, preset: "fp16", pid: 100, expandable_segments: false, predicted_peak_bytes: null }],
      dropped_lines: 0,
      finished: null,
      error: null,
      memory: [{ kind: "unavailable", reason: "no NVIDIA driver: libnvidia-ml.so.1 not found" }],
    });
    await settle();
    const na = document.querySelector('[data-testid="memory-na"]')!;
    expect(na.textContent).toContain("n/a: no NVIDIA driver");
    expect(na.getAttribute("title")).toContain("libnvidia-ml.so.1");
    expect(document.querySelector('[data-testid="memory-chart"]')).toBeNull();
    // Without a plan there is no plan line.
    expect(runChartData(session.live!, { memory: "m", plan: "p" }).series).toHaveLength(1);
  });

  it("picks up the run still going on after the window reloaded, and follows it from there", async () => {
    inProgress = snapshot;
    await open();
    expect(calls.filter((c) => c.cmd === "runs_attach")).toHaveLength(1);
    const live = document.querySelector('[data-testid="live"]')!;
    expect(live.textContent).toContain("run-7");
    expect(document.querySelector('[data-testid="outcome"]')!.textContent).toBe("Running");
    expect(document.querySelector('[data-testid="cancel"]')).not.toBeNull();
    expect(document.querySelector<HTMLButtonElement>('[data-testid="start"]')!.disabled).toBe(true);
    const log = document.querySelector('[data-testid="log"]')!;
    expect(log.textContent).toContain("step 1999 loss 0.511");
    expect(log.querySelector(".stderr")!.textContent).toContain("slow dataloader");
    expect(live.textContent).toContain("2000 lines skipped here");
    const chart = document.querySelector('[data-testid="memory-chart"]')!;
    expect(chart.getAttribute("data-points")).toBe("2");
    expect(chart.getAttribute("data-series")).toBe("2");
    expect(document.querySelector('[data-testid="timeline"] [data-preset="int4"]')).not.toBeNull();
    // Why it started past fp16 is known from its start, not only once it has finished.
    expect(live.querySelector('[data-testid="live-start-choice"]')!.textContent).toContain("fp16 skipped: needs 48.20 GiB–55.00 GiB, 44.50 GiB usable");

    // Later updates come on the channel handed to runs_attach.
    channel!.onmessage({
      run_id: "run-7",
      events: [{ event: "output", attempt: 0, stream: "stdout", line: "step 2000 loss 0.510" }],
      dropped_lines: 0,
      finished: null,
      error: null,
      memory: [{ kind: "sample", pid: 300, unix_ms: 1_700_000_001_000, bytes: 5 * GIB }],
    });
    flushSync();
    expect(log.textContent).toContain("step 2000 loss 0.510");
    expect(document.querySelector('[data-testid="memory-chart"]')!.getAttribute("data-points")).toBe("3");
    document.querySelector<HTMLButtonElement>('[data-testid="cancel"]')!.click();
    await settle();
    expect(calls.find((c) => c.cmd === "runs_cancel")!.args).toEqual({ runId: "run-7" });
  });

  it("asks for no run when this window still shows its own, and shows none when nothing is going on", async () => {
    await open();
    expect(calls.filter((c) => c.cmd === "runs_attach")).toHaveLength(1);
    expect(document.querySelector('[data-testid="live"]')).toBeNull();
    expect(document.querySelector<HTMLButtonElement>('[data-testid="start"]')!.disabled).toBe(false);

    // Switching views keeps the run in the session: coming back attaches nothing.
    session.live = runFromSnapshot(snapshot);
    unmount(component!);
    calls = [];
    component = mount(RunsView, { target: document.body, props: { app: new AppModel(api) } });
    await settle();
    expect(calls.some((c) => c.cmd === "runs_attach")).toBe(false);
    expect(document.querySelector('[data-testid="live"]')!.textContent).toContain("run-7");
  });

  it("takes the chain from the model's saved config", async () => {
    await open();
    type("model", "llama-8b");
    document.querySelector('input[name="model"]')!.dispatchEvent(new Event("change", { bubbles: true }));
    await settle();
    expect(chips()).toEqual(["int4", "int4_double"]);
    expect(document.body.textContent).toContain("From llama-8b's saved config");
    const add = [...document.querySelectorAll<HTMLOptionElement>('select[name="chain-add"] option')].map((o) => o.value);
    expect(add).toContain("mine");
  });

  it("filters the history by model and reopens a past run with its log", async () => {
    await open();
    expect(document.querySelectorAll('[data-testid="history"] tbody tr')).toHaveLength(4);
    type("history-filter", "qwen");
    flushSync();
    expect([...document.querySelectorAll('[data-testid="history"] tbody tr')].map((r) => r.getAttribute("data-run"))).toEqual(["run-0"]);
    type("history-filter", "llama");
    flushSync();
    document.querySelector<HTMLButtonElement>('[data-run="run-1"] button')!.click();
    await settle();
    const opened = document.querySelector('[data-testid="opened"]')!;
    expect(opened.textContent).toContain("log of attempt 1");
    expect(opened.textContent).toContain("fp16");
  });
});

describe("relaunches that keep the training", () => {
  it("shows why the run started past fp16, each attempt's micro-batch and the step a relaunch resumed at", async () => {
    await open();
    document.querySelector<HTMLButtonElement>('[data-run="run-5"] button')!.click();
    await settle();
    const opened = document.querySelector('[data-testid="opened"]')!;
    expect(opened.querySelector('[data-testid="start-choice"]')!.textContent).toContain("fp16 skipped: needs 48.20 GiB–55.00 GiB, 44.50 GiB usable");
    expect(opened.querySelector('[data-testid="distributed"]')!.textContent).toContain("--max-restarts=0");
    const batches = [...opened.querySelectorAll('[data-testid="batch"]')].map((b) => b.textContent);
    expect(batches).toEqual(["micro-batch 8 × accumulation 1", "micro-batch 4 × accumulation 2"]);
    expect(opened.querySelector('[data-testid="resumed"]')!.textContent).toContain("resumed at step 20");
    expect(opened.textContent).toContain("relaunch with int8 at micro-batch 4 × 2");
    expect(opened.textContent).toContain("the other ranks were stopped");
  });

  it("offers mb/2 in the chain, more than once, and sends the accumulation, output folder and pin", async () => {
    await open();
    type("command", "python3 train.py");
    type("model", "llama-8b");
    document.querySelector('input[name="model"]')!.dispatchEvent(new Event("change", { bubbles: true }));
    await settle();
    for (let i = 0; i < 2; i++) {
      const select = document.querySelector<HTMLSelectElement>('select[name="chain-add"]')!;
      select.value = "mb/2";
      select.dispatchEvent(new Event("change"));
      flushSync();
      document.querySelector<HTMLButtonElement>('[data-testid="chain"] button.action')!.click();
      flushSync();
    }
    expect(chips()).toEqual(["int4", "int4_double", "mb/2", "mb/2"]);
    type("batch_size", "8");
    type("sequence_length", "1024");
    type("grad_accum", "2");
    type("output_dir", "out");
    const pin = document.querySelector<HTMLInputElement>('input[name="pin_start"]')!;
    pin.click();
    flushSync();
    await submit();
    const start = calls.find((c) => c.cmd === "runs_start")!.args.start as Record<string, unknown>;
    expect(start).toMatchObject({ chain: ["int4", "int4_double", "mb/2", "mb/2"], batch_size: 8, grad_accum: 2, output_dir: "out", pin_start: true });
  });
});

describe("interrupted runs", () => {
  it("says the launcher died and that the training still runs", async () => {
    await open();
    const row = document.querySelector('[data-run="run-9"]')!;
    expect(row.textContent).toContain("Interrupted");
    expect(row.textContent).toContain("4242");
    row.querySelector("button")!.click();
    await settle();
    expect(document.querySelector('[data-testid="interruption"]')!.textContent).toContain("Its process 4242 was still running");
  });
});

describe("runs logic", () => {
  it("splits a command line like a shell, without expansion", () => {
    expect(splitArgv(`python3 -c 'print("a b")' "x \\"y\\"" z\\ w`)).toEqual(["python3", "-c", 'print("a b")', 'x "y"', "z w"]);
    expect(splitArgv("  ")).toEqual([]);
    expect(splitArgv("a ''")).toEqual(["a", ""]);
    expect(splitArgv("echo 'open")).toBeNull();
  });
  it("reads an optional count", () => {
    expect(parseCount(" ")).toBeUndefined();
    expect(parseCount("16")).toBe(16);
    expect(parseCount("0")).toBeNull();
    expect(parseCount("1.5")).toBeNull();
    expect(parseCount("-2")).toBeNull();
  });
  it("tells an interrupted run's process apart from an unknown one", () => {
    expect(interruptionOf(record)).toBeNull();
    expect(interruptionOf(interruptedRun)).toEqual({ key: "runs.interrupted.alive", pid: 4242 });
    const gone = { ...interruptedRun, interruption: { ...interruptedRun.interruption!, process_alive: false } };
    expect(interruptionOf(gone)).toEqual({ key: "runs.interrupted.gone", pid: 4242 });
    expect(interruptionOf({ ...interruptedRun, interruption: undefined })).toEqual({ key: "runs.interrupted.unknown", pid: null });
  });
  it("moves chips within bounds", () => {
    const chain = ["a", "b", "c"];
    expect(moveChip(chain, 0, -1)).toBe(chain);
    expect(moveChip(chain, 2, -1)).toEqual(["a", "c", "b"]);
  });
  it("folds a snapshot like the batches it was made of", () => {
    const run = runFromSnapshot({ ...snapshot, memory_unavailable: "no NVIDIA driver" });
    expect(run.runId).toBe("run-7");
    expect(run.attempts.map((a) => [a.index, a.preset, a.pid, a.predicted])).toEqual([[0, "int4", 300, 9 * GIB]]);
    expect(run.lines.map((l) => l.line)).toEqual(snapshot.lines.map((l) => l.line));
    expect(run.droppedLines).toBe(2000);
    expect(run.memory).toEqual([
      { t: 1_700_000_000_000, attempt: 0, bytes: 3 * GIB },
      { t: 1_700_000_000_500, attempt: 0, bytes: 4 * GIB },
    ]);
    expect(run.memoryUnavailable).toBe("no NVIDIA driver");
    expect(run.finished).toBeNull();
  });
  it("keeps the newest lines and counts the rest", () => {
    const run = emptyRun("r");
    const events = Array.from({ length: MAX_LINES + 5 }, (_, i) => ({ event: "output" as const, attempt: 0, stream: "stdout" as const, line: `l${i}` }));
    applyUpdate(run, { run_id: "r", events, dropped_lines: 7, finished: null, error: null, memory: [] });
    expect(run.lines).toHaveLength(MAX_LINES);
    expect(run.lines.at(-1)!.line).toBe(`l${MAX_LINES + 4}`);
    expect(run.droppedLines).toBe(12);
  });
});
