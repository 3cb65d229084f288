import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { flushSync, mount, unmount } from "svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import TracePanel from "./TracePanel.svelte";
import PythonPath from "../settings/PythonPath.svelte";
import { api } from "../../lib/api";
import { AppModel } from "../../lib/app.svelte";
import type { PlanAnswer, TraceOutcome, TraceProgress } from "../../lib/bindings";

const GIB = 2 ** 30;
const PLAN = { model: { path: "/models/tiny-llama" }, task: "train", method: "lora" };

function perGpu(allocated: number, reserved: number) {
  return {
    components: { weights: allocated / 2, lora: 0, gradients: 0, optimizer: 0, activations: allocated / 2, logits: 0, kv_cache: 0, workspace: 0 },
    allocated_peak_bytes: allocated,
    allocator_overhead_bytes: reserved - allocated,
    reserved_peak_bytes: reserved,
    managed_memory_bytes: 0,
    cuda_context_bytes: 500 * 2 ** 20,
    device_peak_bytes: reserved + 500 * 2 ** 20,
  };
}

const INSTANT = {
  plan: PLAN,
  model: { id: "tiny-llama", model_type: "llama", parameters: 158016 },
  preset: "bf16",
  estimate: { per_gpu: perGpu(4 * GIB, 5 * GIB), cpu_bytes: 0, parameters: { total: 158016, trainable: 0 }, notes: [] },
  gpu_memory_bytes: null,
  usable_bytes: null,
  verdict: null,
  limits: null,
  ranked: [],
  suggestions: [],
} as unknown as PlanAnswer;

const OUTCOME: TraceOutcome = {
  estimate: {
    per_gpu: perGpu(6 * GIB, 8 * GIB),
    cpu_bytes: 0,
    parameters: { total: 158016, trainable: 4096 },
    fits: false,
    headroom_bytes: -1.5 * GIB,
    notes: ["traced"],
    engine: "trace",
    peak: { phase: "backward", module: "model.layers.1.mlp.down_proj", step: 0 },
    trace: { layers: { traced: 2, total: 2, extrapolated: false }, versions: { torch: "2.15.0" }, elapsed_s: 3.25 },
  },
  timeline: [
    { i: 0, phase: "forward", module: null, allocated: 2 * GIB, reserved: 2 * GIB },
    { i: 10, phase: "backward", module: "model.layers.1.mlp.down_proj", allocated: 6 * GIB, reserved: 8 * GIB },
    { i: 20, phase: "optimizer", module: null, allocated: 3 * GIB, reserved: 8 * GIB },
  ],
};

interface Call {
  cmd: string;
  args: Record<string, unknown>;
}
let calls: Call[] = [];
let push: ((p: TraceProgress) => void) | null = null;
let finish: ((result: { ok: TraceOutcome } | { err: unknown }) => void) | null = null;
let component: ReturnType<typeof mount> | null = null;

function backend() {
  calls = [];
  push = null;
  finish = null;
  mockIPC((cmd, args) => {
    const a = (args ?? {}) as Record<string, unknown>;
    calls.push({ cmd, args: a });
    switch (cmd) {
      case "trace_plan": {
        // mockIPC hands the command the Channel object; its onmessage is what the backend's sends reach.
        const channel = a.onProgress as { onmessage: (p: TraceProgress) => void };
        push = (p) => channel.onmessage(p);
        return new Promise((resolve, reject) => {
          finish = (r) => ("ok" in r ? resolve(r.ok) : reject(r.err));
        });
      }
      case "trace_cancel":
        finish?.({ err: { code: "cancelled", message: "the trace was cancelled" } });
        return null;
      case "trace_export_chart":
        // A Japanese chart on a machine without a Japanese font comes out in English, and says why.
        return {
          path: "/home/u/trace-timeline.png",
          note: "No Japanese font was found",
          note_message: { key: "backend.chart.no_cjk_font", args: {} },
        };
      case "trace_check_python":
        if (a.path === "/usr/bin/python3") throw { code: "trace", message: "/usr/bin/python3 (Python 3.11.2) cannot import torch" };
        return { path: a.path ?? "/venv/bin/python3", python: "3.11.7", torch: "2.15.0", torch_error: null, transformers: "5.24.0", peft: null };
      case "save_settings":
        return a.settings;
      default:
        throw { code: "internal", message: `unexpected ${cmd}` };
    }
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function settle() {
  await sleep(20);
  flushSync();
}
const q = <T extends Element>(sel: string) => document.querySelector<T>(sel);
const text = () => document.body.textContent ?? "";

function mountPanel(plan: Record<string, unknown> | null = PLAN) {
  const props = $state({ app: new AppModel(api), plan, instant: INSTANT });
  component = mount(TracePanel, { target: document.body, props });
  flushSync();
  return props;
}

beforeEach(() => {
  document.body.innerHTML = "";
  backend();
});
afterEach(() => {
  if (component) unmount(component);
  component = null;
  clearMocks();
});

describe("TracePanel", () => {
  it("is disabled without a plan", () => {
    mountPanel(null);
    expect(q<HTMLButtonElement>('[data-testid="trace-run"]')!.disabled).toBe(true);
  });

  it("shows progress as it arrives, then the trace beside the instant estimate", async () => {
    mountPanel();
    q<HTMLButtonElement>('[data-testid="trace-run"]')!.click();
    await settle();
    expect(calls.find((c) => c.cmd === "trace_plan")?.args.plan).toEqual(PLAN);
    expect(q('[data-testid="trace-progress"]')).not.toBeNull();
    expect(q('[data-testid="trace-cancel"]')).not.toBeNull();
    push!({ stage: "backward", fraction: 0.62, message: "" });
    await settle();
    expect(q('[data-testid="trace-progress"]')!.textContent).toContain("Backward pass (62%)");
    expect(q('[data-testid="trace-progress"]')!.getAttribute("aria-valuenow")).toBe("62");
    finish!({ ok: OUTCOME });
    await settle();
    expect(q('[data-testid="trace-progress"]')).toBeNull();
    const table = q('[data-testid="trace-compare"]')!.textContent!;
    // Allocated: 4.00 GiB instant, 6.00 GiB traced; reserved 5 and 8; both columns from the backend.
    expect(table).toContain("4.00 GiB");
    expect(table).toContain("6.00 GiB");
    expect(table).toContain("8.00 GiB");
    expect(q('[data-testid="trace-peak"]')!.textContent).toContain("the backward pass, in model.layers.1.mlp.down_proj");
    expect(text()).toContain("2 of 2 layers traced in 3.3 s, torch 2.15.0");
    expect(q('[data-testid="trace-fit"]')!.textContent).toContain("does not fit: 1.50 GiB short");
    const lines = document.querySelectorAll('[data-testid="trace-timeline"] polyline');
    expect(lines.length).toBe(2);
    // The allocated line's highest point (6 of 8 GiB) sits a quarter down the 160-pixel box.
    expect(lines[1]!.getAttribute("points")).toContain("300.0,40.0");
    const exportButton = [...document.querySelectorAll("button")].find((b) => b.textContent?.includes("Export timeline"))!;
    exportButton.click();
    await settle();
    const exported = calls.find((c) => c.cmd === "trace_export_chart")!;
    expect(exported.args.timeline).toEqual(OUTCOME.timeline);
    expect(exported.args.title).toBe("tiny-llama (bf16)");
    expect(text()).toContain("Timeline saved to /home/u/trace-timeline.png No Japanese font was found (the fonts-noto-cjk package");
  });

  it("marks the answer stale when the plan changes", async () => {
    const props = mountPanel();
    q<HTMLButtonElement>('[data-testid="trace-run"]')!.click();
    await settle();
    finish!({ ok: OUTCOME });
    await settle();
    expect(q('[data-testid="trace-stale"]')).toBeNull();
    props.plan = { ...PLAN, batch_size: 4 };
    await settle();
    expect(q('[data-testid="trace-stale"]')).not.toBeNull();
  });

  it("cancels through the backend and says so, without an error", async () => {
    mountPanel();
    q<HTMLButtonElement>('[data-testid="trace-run"]')!.click();
    await settle();
    q<HTMLButtonElement>('[data-testid="trace-cancel"]')!.click();
    await settle();
    expect(calls.map((c) => c.cmd)).toContain("trace_cancel");
    expect(text()).toContain("Trace cancelled.");
    expect(q('[data-testid="trace-error"]')).toBeNull();
    expect(q<HTMLButtonElement>('[data-testid="trace-run"]')).not.toBeNull();
  });

  it("shows the backend's error, with a pointer to Settings for a Python problem", async () => {
    mountPanel();
    q<HTMLButtonElement>('[data-testid="trace-run"]')!.click();
    await settle();
    finish!({ err: { code: "trace", message: "/usr/bin/python3 (Python 3.11.2) cannot import torch" } });
    await settle();
    expect(q('[data-testid="trace-error"]')!.textContent).toContain("cannot import torch");
    expect(text()).toContain("Set the Python in Settings.");
    expect(q('[data-testid="trace-compare"]')).toBeNull();
  });
});

describe("PythonPath setting", () => {
  function mountSetting() {
    const app = new AppModel(api);
    const saved: boolean[] = [];
    component = mount(PythonPath, { target: document.body, props: { app, onsaved: (ok: boolean) => saved.push(ok) } });
    flushSync();
    return { app, saved };
  }

  function typeInto(el: HTMLInputElement, value: string) {
    el.value = value;
    el.dispatchEvent(new Event("input", { bubbles: true }));
    el.dispatchEvent(new Event("change", { bubbles: true }));
    flushSync();
  }

  it("saves the path and checks it, showing the versions or what is missing", async () => {
    const { app, saved } = mountSetting();
    typeInto(q<HTMLInputElement>('[data-testid="python-path"]')!, "/usr/bin/python3");
    await settle();
    expect(app.settings.python_path).toBe("/usr/bin/python3");
    expect(saved).toEqual([true]);
    q<HTMLButtonElement>('[data-testid="python-check"]')!.click();
    await settle();
    expect(q('[data-testid="python-error"]')!.textContent).toContain("cannot import torch");
    // Empty goes back to the PATH search: the setting is removed and the check searches.
    typeInto(q<HTMLInputElement>('[data-testid="python-path"]')!, "");
    await settle();
    expect(app.settings.python_path).toBeUndefined();
    q<HTMLButtonElement>('[data-testid="python-check"]')!.click();
    await settle();
    expect(calls.filter((c) => c.cmd === "trace_check_python").at(-1)!.args.path).toBeNull();
    expect(q('[data-testid="python-info"]')!.textContent).toContain("torch 2.15.0, transformers 5.24.0, peft not installed");
  });
});
