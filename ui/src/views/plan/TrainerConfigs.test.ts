import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { flushSync, mount, unmount } from "svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { emit } from "@tauri-apps/api/event";
import PlanView from "./PlanView.svelte";
import { api } from "../../lib/api";
import { AppModel } from "../../lib/app.svelte";
import type { TrainerImportReport } from "../../lib/bindings";
import { mergeImported } from "./draft";

// The Plan view's trainer configs (docs/trainers.md): import through the dialog or a drop, the report, export.

const GIB = 2 ** 30;
let calls: { cmd: string; args: Record<string, unknown> }[] = [];
let component: ReturnType<typeof mount> | null = null;

const report: TrainerImportReport = {
  plan: { task: "train", framework: "axolotl", model: { id: "google/gemma-2-9b" }, method: "qlora", quantization: "int4_double", batch_size: 3, sequence_length: 4096, gradient_checkpointing: true, sharding: "zero3", gpus: { count: 8 } },
  files: [
    { path: "/work/qlora.yml", format: "axolotl" },
    { path: "/work/deepspeed_configs/zero3.json", format: "deepspeed", named_by: "/work/qlora.yml deepspeed" },
  ],
  mapped: [{ file: "/work/qlora.yml", key: "micro_batch_size", value: 3, plan_key: "batch_size", plan_value: 3 }],
  auto_resolved: [{ file: "/work/deepspeed_configs/zero3.json", key: "train_micro_batch_size_per_gpu", plan_key: "batch_size", became: 3, why: "auto: taken from /work/qlora.yml micro_batch_size" }],
  ignored: [{ file: "/work/qlora.yml", key: "learning_rate", why: "optimisation schedule: no effect on memory" }],
  not_understood: [{ file: "/work/qlora.yml", key: "unfrozen_parameters", value: ["a"], why: "training parameters chosen by pattern" }],
};

function answer(plan: Record<string, unknown>) {
  const device = 12 * GIB;
  return {
    plan: { ...plan },
    model: { id: "google/gemma-2-9b", model_type: "gemma2", parameters: 9e9 },
    preset: "int4_double",
    estimate: {
      per_gpu: {
        components: { weights: 5 * GIB, lora: 0, gradients: 0, optimizer: 0, activations: GIB, logits: 0, kv_cache: 0, workspace: 0 },
        allocated_peak_bytes: 6 * GIB, allocator_overhead_bytes: 0, reserved_peak_bytes: 6 * GIB, managed_memory_bytes: 0, cuda_context_bytes: 0,
        device_peak_bytes: device,
        range: { allocated_peak_bytes: { low: 0, high: 0 }, reserved_peak_bytes: { low: 0, high: 0 }, device_peak_bytes: { low: device, high: device } },
      },
      cpu_bytes: 0, parameters: { total: 9e9, trainable: 1e7 }, fits: true, headroom_bytes: GIB, notes: [],
    },
    gpu_memory_bytes: 24 * GIB, usable_bytes: 21.6 * GIB, verdict: { kind: "fits", bytes: GIB },
    limits: { max_batch_size: 4, max_sequence_length: 8192 }, ranked: [], suggestions: [],
  };
}

beforeEach(() => {
  document.body.innerHTML = "";
  calls = [];
  mockIPC(
    (cmd, args) => {
      calls.push({ cmd, args: (args ?? {}) as Record<string, unknown> });
      switch (cmd) {
        case "plan_catalog":
          return [{ id: "google/gemma-2-9b", model_type: "gemma2" }];
        case "plan_hf_cache":
          return { cache_dir: null, models: [] };
        case "plan_gpus":
          return { catalog: [{ name: "RTX 4090", nvml_name: "NVIDIA GeForce RTX 4090", memory_bytes: 24564 * 2 ** 20, compute_capability: 89 }], machine: [], machine_unavailable: null };
        case "plan_import_config":
        case "plan_import_dropped":
          return report;
        case "plan_export_config":
          return { path: "/home/u/ds_config.json", not_carried: ["model, method: the training script's to say"] };
        case "plan_answer":
          return answer((args as { plan: Record<string, unknown> }).plan);
        default:
          throw { code: "internal", message: `unexpected ${cmd}` };
      }
    },
    { shouldMockEvents: true },
  );
});
afterEach(() => {
  if (component) unmount(component);
  component = null;
  clearMocks();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const q = <T extends Element>(sel: string) => document.querySelector<T>(sel)!;
const button = (text: string) => [...document.querySelectorAll<HTMLButtonElement>("button")].find((b) => b.textContent?.trim() === text)!;
async function settle() {
  await sleep(200);
  flushSync();
}
/** Wait for what the form asks after its debounce: on a loaded machine 200 ms can pass before the timer fires. */
async function until(ready: () => boolean) {
  for (let waited = 0; !ready() && waited < 5000; waited += 20) await sleep(20);
  flushSync();
}
const lastPlan = () => calls.filter((c) => c.cmd === "plan_answer").at(-1)?.args.plan as Record<string, unknown>;

describe("trainer configs in the Plan view", () => {
  it("fills the form from a picked config, keeps the form's GPU, and shows the report", async () => {
    component = mount(PlanView, { target: document.body, props: { app: new AppModel(api) } });
    await settle();
    button("Import trainer config…").click();
    await settle();
    expect(q<HTMLInputElement>('[data-testid="batch"]').value).toBe("3");
    await until(() => lastPlan()?.batch_size === 3);
    // The config's GPU count with the form's GPU (the default RTX 4090): configs never say a GPU's memory.
    expect(lastPlan()).toMatchObject({ model: { id: "google/gemma-2-9b" }, framework: "axolotl", sharding: "zero3", batch_size: 3, gpus: { count: 8, model: "RTX 4090" } });
    const shown = q('[data-testid="import-report"]').textContent!;
    expect(shown).toContain("zero3.json (DeepSpeed, named by qlora.yml deepspeed)");
    expect(q('[data-testid="import-mapped"]').textContent).toContain("micro_batch_size → batch_size = 3");
    expect(q('[data-testid="import-auto"]').textContent).toContain("taken from /work/qlora.yml micro_batch_size");
    expect(q('[data-testid="import-not-understood"]').textContent).toContain("unfrozen_parameters");
    expect(shown).toContain("Ignored: no effect on memory (1)");
  });

  it("imports files dropped on the window through the shell, and exports the plan", async () => {
    component = mount(PlanView, { target: document.body, props: { app: new AppModel(api) } });
    await settle();
    await emit("plan-configs-dropped", 2);
    await settle();
    expect(calls.some((c) => c.cmd === "plan_import_dropped")).toBe(true);
    expect(q<HTMLInputElement>('[data-testid="batch"]').value).toBe("3");
    // Export is offered once the imported plan has its answer.
    await until(() => !button("Export DeepSpeed config…").disabled);
    button("Export DeepSpeed config…").click();
    await settle();
    const exported = calls.find((c) => c.cmd === "plan_export_config")!;
    expect(exported.args).toMatchObject({ format: "deepspeed", plan: { sharding: "zero3", batch_size: 3 } });
    expect(document.body.textContent).toContain("Config saved to /home/u/ds_config.json. Not carried: model, method");
  });
});

describe("mergeImported", () => {
  it("lays the imported keys over the plan, gpus and lora key by key, and drops a quantization the config does not say", () => {
    const current = { model: { id: "x" }, task: "train", method: "qlora", quantization: "int4", gpus: { count: 1, memory_gib: 80 }, lora: { rank: 16, alpha: 32 } };
    expect(mergeImported(current, { method: "lora", lora: { rank: 8 }, gpus: { count: 4 } })).toEqual({
      model: { id: "x" }, task: "train", method: "lora", gpus: { count: 4, memory_gib: 80 }, lora: { rank: 8, alpha: 32 },
    });
    expect(mergeImported(current, { sharding: "zero2" })).toMatchObject({ quantization: "int4", sharding: "zero2" });
    expect(mergeImported(null, { task: "train", sharding: "zero2" })).toEqual({ task: "train", sharding: "zero2" });
  });
});
