import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { flushSync, mount, unmount } from "svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import PlanView from "./PlanView.svelte";
import { api } from "../../lib/api";
import { AppModel } from "../../lib/app.svelte";
import type { PlanAnswer } from "../../lib/bindings";
import { DEFAULT_DRAFT, draftFromPlan, draftFromSuggestion, errorField, planFromDraft } from "./draft";

const GIB = 2 ** 30;
let asked: Record<string, unknown>[] = [];
let backendAnswers: (plan: Record<string, unknown>) => PlanAnswer;
/** What "Open plan…" reads. */
let loadedPlan: Record<string, unknown>;
let component: ReturnType<typeof mount> | null = null;

function answerFor(plan: Record<string, unknown>): PlanAnswer {
  const batch = Number(plan.batch_size);
  const device = 10 * GIB + batch * GIB;
  return {
    plan: { ...plan },
    model: { id: "meta-llama/Llama-3.1-8B", model_type: "llama", parameters: 8030261248 },
    preset: "int4_double",
    estimate: {
      per_gpu: {
        components: { weights: 5 * GIB, lora: GIB / 4, gradients: GIB / 4, optimizer: GIB / 2, activations: batch * GIB, logits: GIB, kv_cache: 0, workspace: GIB / 2 },
        allocated_peak_bytes: 7.5 * GIB + batch * GIB,
        allocator_overhead_bytes: GIB,
        reserved_peak_bytes: 8.5 * GIB + batch * GIB,
        managed_memory_bytes: GIB,
        cuda_context_bytes: GIB / 2,
        device_peak_bytes: device,
        range: {
          allocated_peak_bytes: { low: 7 * GIB, high: 9 * GIB + batch * GIB },
          reserved_peak_bytes: { low: 8 * GIB, high: 10 * GIB + batch * GIB },
          device_peak_bytes: { low: device - GIB, high: device + 2 * GIB },
        },
      },
      cpu_bytes: 2 * GIB,
      parameters: { total: 8030261248, trainable: 41943040 },
      fits: device <= 21.6 * GIB,
      headroom_bytes: 21.6 * GIB - device,
      notes: ["note from the estimator"],
    },
    gpu_memory_bytes: 24 * GIB,
    usable_bytes: 21.6 * GIB,
    verdict: device <= 21.6 * GIB ? { kind: "fits", bytes: 24 * GIB - device } : { kind: "does_not_fit", bytes: device - 21.6 * GIB },
    limits: { max_batch_size: 11, max_sequence_length: 9000 },
    ranked: [
      { preset: "int4_double", format: { kind: "int4", double_quant: true }, placement: "gpu", fits: true, device_peak_bytes: device, headroom_bytes: 0, limits: { max_batch_size: 11, max_sequence_length: 9000 }, caveat: null, unavailable: null },
      { preset: "fp32", format: { kind: "f32" }, placement: "gpu", fits: false, device_peak_bytes: 0, headroom_bytes: 0, limits: { max_batch_size: null, max_sequence_length: null }, caveat: null, unavailable: "quantized weights are frozen" },
    ],
    suggestions: [
      { change: "lower the micro-batch to 1: saves 3.00 GiB", delta_bytes: -3 * GIB, device_peak_bytes: device - 3 * GIB, fits: true, plan: { ...plan, batch_size: 1 } },
    ],
  };
}

function backend() {
  asked = [];
  backendAnswers = answerFor;
  loadedPlan = { model: { id: "Qwen/Qwen3-8B" }, task: "infer", batch_size: 3, sequence_length: 4096, new_tokens: 128 };
  mockIPC((cmd, args) => {
    switch (cmd) {
      case "plan_catalog":
        return [{ id: "meta-llama/Llama-3.1-8B", model_type: "llama" }];
      case "plan_hf_cache":
        return { cache_dir: "/home/u/.cache/huggingface/hub", models: [] };
      case "plan_gpus":
        return { catalog: [{ name: "RTX 4090", nvml_name: "NVIDIA GeForce RTX 4090", memory_bytes: 24564 * 2 ** 20, compute_capability: 89 }], machine: [], machine_unavailable: "no NVIDIA driver: libnvidia-ml.so.1 not found" };
      case "plan_save":
        asked.push({ saved: (args as { plan: Record<string, unknown> }).plan });
        return "/home/u/plan.json";
      case "plan_export_chart":
        asked.push({ chart: (args as { plan: Record<string, unknown> }).plan });
        // A Japanese chart on a machine without a Japanese font comes out in English, and says why.
        return {
          path: "/home/u/plan.png",
          note: "No Japanese font was found",
          note_message: { key: "backend.chart.no_cjk_font", args: {} },
        };
      case "plan_pick_config":
        return { path: "/m/custom/config.json", config: { model_type: "llama", hidden_size: 4096 } };
      case "plan_load":
        return loadedPlan;
      case "plan_answer": {
        const plan = (args as { plan: Record<string, unknown> }).plan;
        asked.push(plan);
        const model = plan.model as { path?: string };
        if (model.path === "/nowhere") throw { code: "invalid", message: "model.path: /nowhere does not exist", field: "model.path" };
        if (plan.batch_size === 0) throw { code: "invalid", message: "batch_size: must be a positive integer, got 0", field: "batch_size" };
        // As the core reads a count (estimate/plan/file.rs) and names the entry (estimate/plan/parse.rs).
        const lengths = (plan.sequence_lengths ?? []) as unknown[];
        const bad = lengths.findIndex((l) => !(typeof l === "number" && Number.isInteger(l) && l >= 1));
        if (bad >= 0) {
          const field = `sequence_lengths[${bad}]`;
          const got = typeof lengths[bad] === "string" ? `string ${JSON.stringify(lengths[bad])}` : String(lengths[bad]);
          throw {
            code: "invalid",
            message: `${field}: must be a positive integer, got ${got}`,
            field,
            message_key: { key: "backend.invalid.must_be_got", args: { want: { type: "text", value: "a positive integer" }, got: { type: "text", value: got } } },
          };
        }
        if (lengths.length > 0 && plan.sequence_length !== Math.max(...(lengths as number[])))
          throw { code: "invalid", message: "sequence_lengths: the longest must equal sequence_length", field: "sequence_lengths" };
        return backendAnswers(plan);
      }
      default:
        throw { code: "internal", message: `unexpected ${cmd}` };
    }
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const q = <T extends Element>(sel: string) => document.querySelector<T>(sel)!;

async function settle() {
  await sleep(200);
  flushSync();
}

function type(el: HTMLInputElement | HTMLSelectElement, value: string) {
  el.value = value;
  el.dispatchEvent(new Event(el instanceof HTMLSelectElement ? "change" : "input", { bubbles: true }));
  flushSync();
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

describe("PlanView", () => {
  it("teaches when empty, then shows the backend's verdict, bar and totals", async () => {
    component = mount(PlanView, { target: document.body, props: { app: new AppModel(api) } });
    await settle();
    expect(document.body.textContent).toContain("Pick a model on the left");
    expect(document.body.textContent).toContain("libnvidia-ml.so.1 not found");
    type(q<HTMLSelectElement>('[data-testid="model-list"]'), "meta-llama/Llama-3.1-8B");
    await settle();
    expect(asked.at(-1)).toMatchObject({ model: { id: "meta-llama/Llama-3.1-8B" }, task: "train", method: "qlora", gpus: { count: 1, model: "RTX 4090" } });
    // 24 GiB − 11 GiB: the backend's number, formatted.
    expect(q('[data-testid="verdict"]').textContent).toContain("Fits (13.00 GiB free)");
    expect(q('[data-testid="device"]').textContent).toContain("11.00 GiB");
    expect(q('[data-testid="device"]').getAttribute("title")).toBe("11,811,160,064 bytes");
    // The band beside the total: where a real run's peak can fall.
    expect(q('[data-testid="device-range"]').textContent).toBe("(10.00 GiB – 13.00 GiB)");
    const segs = document.querySelectorAll('[data-testid="bar"] .seg');
    expect(segs.length).toBeGreaterThan(5);
    expect(q('[data-testid="limits"]').textContent).toContain("Micro-batch: 11");
    expect(q('[data-testid="ranked"]').textContent).toContain("n/a");
    // A preset that cannot run the plan gets no verdict: it does not apply.
    expect(q('[data-testid="ranked"]').textContent).toContain("Does not apply");
    // It fits: the suggestions section says so instead of asking for a change.
    expect(q('[data-testid="already-fits"]').textContent).toContain("It fits already");
  });

  it("offers the frameworks and shows the core's default for a setting the form leaves unset", async () => {
    component = mount(PlanView, { target: document.body, props: { app: new AppModel(api) } });
    await settle();
    type(q<HTMLSelectElement>('[data-testid="model-list"]'), "meta-llama/Llama-3.1-8B");
    await settle();
    expect(asked.at(-1)).toMatchObject({ framework: "hf_trainer" });
    expect(asked.at(-1)).not.toHaveProperty("gradient_checkpointing");
    type(q<HTMLSelectElement>('[data-testid="framework"]'), "torchtune");
    await settle();
    expect(asked.at(-1)).toMatchObject({ framework: "torchtune" });
    // The mock answers as the core would for torchtune: checkpointing on by the framework's default.
    expect(q<HTMLInputElement>('[data-testid="checkpointing"]').checked).toBe(false);
    backendAnswers = (plan) => ({ ...answerFor(plan), plan: { ...plan, gradient_checkpointing: true } });
    type(q<HTMLInputElement>('[data-testid="batch"]'), "2");
    await settle();
    expect(q<HTMLInputElement>('[data-testid="checkpointing"]').checked).toBe(true);
    // Unticked by the person: sent as given.
    q<HTMLInputElement>('[data-testid="checkpointing"]').click();
    await settle();
    expect(asked.at(-1)).toMatchObject({ framework: "torchtune", gradient_checkpointing: false });
  });

  it("asks for the bitsandbytes release on a bitsandbytes plan and for use_reentrant under checkpointing", async () => {
    component = mount(PlanView, { target: document.body, props: { app: new AppModel(api) } });
    await settle();
    // The mock answers as the core would for the HF Trainer on a quantized base: checkpointing on, not reentrant.
    backendAnswers = (plan) => ({ ...answerFor(plan), plan: { ...plan, gradient_checkpointing: true, use_reentrant: false } });
    type(q<HTMLSelectElement>('[data-testid="model-list"]'), "meta-llama/Llama-3.1-8B");
    await settle();
    const release = q<HTMLInputElement>('[data-testid="bnb-version"]');
    const reentrant = q<HTMLSelectElement>('[data-testid="use-reentrant"]');
    expect(reentrant.options.item(0)?.textContent).toContain("false");
    expect(asked.at(-1)).not.toHaveProperty("bitsandbytes_version");
    expect(asked.at(-1)).not.toHaveProperty("use_reentrant");
    type(release, "0.41.3");
    type(reentrant, "false");
    await settle();
    expect(asked.at(-1)).toMatchObject({ bitsandbytes_version: "0.41.3", use_reentrant: false });
    // Inference has neither checkpointing nor a say in bitsandbytes' training behaviour to show.
    type(q<HTMLSelectElement>('[data-testid="task"]'), "infer");
    await settle();
    expect(document.querySelector('[data-testid="use-reentrant"]')).toBeNull();
  });

  it("updates as the batch changes, shows errors next to the field, and applies a suggestion", async () => {
    component = mount(PlanView, { target: document.body, props: { app: new AppModel(api) } });
    await settle();
    type(q<HTMLSelectElement>('[data-testid="model-list"]'), "meta-llama/Llama-3.1-8B");
    await settle();
    type(q<HTMLInputElement>('[data-testid="batch"]'), "14");
    await settle();
    expect(asked.at(-1)?.batch_size).toBe(14);
    expect(q('[data-testid="verdict"]').textContent).toContain("Does not fit (needs 2.40 GiB more)");
    type(q<HTMLInputElement>('[data-testid="batch"]'), "0");
    await settle();
    const err = q('[data-testid="batch"]').closest("label")!.querySelector('.field-error[data-error-for="batch_size"]');
    expect(err?.textContent).toContain("batch_size: must be a positive integer");
    type(q<HTMLInputElement>('[data-testid="batch"]'), "14");
    await settle();
    const apply = q<HTMLButtonElement>('[data-testid="suggestions"] button');
    apply.click();
    flushSync();
    await settle();
    expect(q<HTMLInputElement>('[data-testid="batch"]').value).toBe("1");
    expect(asked.at(-1)?.batch_size).toBe(1);
    expect(q('[data-testid="verdict"]').textContent).toContain("Fits (13.00 GiB free)");
  });
});

describe("PlanView models", () => {
  it("clears the answer when the model folder is wrong, with the error on the folder field", async () => {
    component = mount(PlanView, { target: document.body, props: { app: new AppModel(api) } });
    await settle();
    type(q<HTMLSelectElement>('[data-testid="model-list"]'), "meta-llama/Llama-3.1-8B");
    await settle();
    expect(document.querySelector('[data-testid="verdict"]')).not.toBeNull();
    q<HTMLInputElement>('input[name="model-source"][value="folder"]').click();
    flushSync();
    type(q<HTMLInputElement>('[data-testid="model-path"]'), "/nowhere");
    await settle();
    expect(document.querySelector('[data-testid="verdict"]')).toBeNull();
    const path = q<HTMLInputElement>('[data-testid="model-path"]');
    expect(path.getAttribute("aria-invalid")).toBe("true");
    expect(path.closest("label")!.querySelector('.field-error[data-error-for="model.path"]')?.textContent).toContain("/nowhere does not exist");
  });

  it("uses a Hugging Face id that is not in the catalog, for the backend to read from the local cache", async () => {
    component = mount(PlanView, { target: document.body, props: { app: new AppModel(api) } });
    await settle();
    type(q<HTMLInputElement>('[data-testid="model-search"]'), "my-org/Custom-7B");
    await settle();
    q<HTMLButtonElement>('[data-testid="use-typed-id"]').click();
    flushSync();
    await settle();
    expect(asked.at(-1)).toMatchObject({ model: { id: "my-org/Custom-7B" } });
  });

  it("plans a model from a config.json the person points to", async () => {
    component = mount(PlanView, { target: document.body, props: { app: new AppModel(api) } });
    await settle();
    q<HTMLInputElement>('input[name="model-source"][value="config"]').click();
    flushSync();
    q<HTMLButtonElement>('[data-testid="pick-config"]').click();
    await settle();
    expect(asked.at(-1)).toMatchObject({ model: { config: { model_type: "llama", hidden_size: 4096 } } });
    expect(q('[data-testid="config-picked"]').textContent).toContain("/m/custom/config.json");
  });
});

describe("PlanView keyboard", () => {
  it("takes the first catalog match on Enter", async () => {
    component = mount(PlanView, { target: document.body, props: { app: new AppModel(api) } });
    await settle();
    const search = q<HTMLInputElement>('[data-testid="model-search"]');
    type(search, "llama");
    await settle();
    search.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
    flushSync();
    await settle();
    expect(asked.at(-1)).toMatchObject({ model: { id: "meta-llama/Llama-3.1-8B" } });
  });
});

describe("PlanView files", () => {
  it("saves the plan in the form and loads one into it", async () => {
    component = mount(PlanView, { target: document.body, props: { app: new AppModel(api) } });
    await settle();
    type(q<HTMLSelectElement>('[data-testid="model-list"]'), "meta-llama/Llama-3.1-8B");
    await settle();
    [...document.querySelectorAll<HTMLButtonElement>("button")].find((b) => b.textContent === "Save plan…")!.click();
    await settle();
    expect(asked.at(-1)).toMatchObject({ saved: { model: { id: "meta-llama/Llama-3.1-8B" }, method: "qlora" } });
    expect(document.body.textContent).toContain("Plan saved to /home/u/plan.json");
    [...document.querySelectorAll<HTMLButtonElement>("button")].find((b) => b.textContent === "Open plan…")!.click();
    await settle();
    expect(q<HTMLInputElement>('[data-testid="batch"]').value).toBe("3");
    expect(q<HTMLSelectElement>('[data-testid="task"]').value).toBe("infer");
    expect(asked.at(-1)).toMatchObject({ model: { id: "Qwen/Qwen3-8B" }, task: "infer", batch_size: 3 });
  });

  it("exports the breakdown chart and says why a Japanese one came out in English", async () => {
    const app = new AppModel(api);
    app.settings = { ...app.settings, language: "ja" };
    component = mount(PlanView, { target: document.body, props: { app } });
    await settle();
    type(q<HTMLSelectElement>('[data-testid="model-list"]'), "meta-llama/Llama-3.1-8B");
    await settle();
    [...document.querySelectorAll<HTMLButtonElement>("button")].find((b) => b.textContent?.trim() === "グラフを書き出す…")!.click();
    await settle();
    expect(asked.at(-1)).toMatchObject({ chart: { model: { id: "meta-llama/Llama-3.1-8B" } } });
    expect(document.body.textContent).toContain("グラフを /home/u/plan.png に保存しました 日本語フォントが見つからないため");
  });

  it("hands the plan to the Runs view's start form", async () => {
    const app = new AppModel(api);
    component = mount(PlanView, { target: document.body, props: { app } });
    await settle();
    const run = () => [...document.querySelectorAll<HTMLButtonElement>("button")].find((b) => b.textContent?.trim() === "Run with this plan…")!;
    expect(run().disabled).toBe(true);
    type(q<HTMLSelectElement>('[data-testid="model-list"]'), "meta-llama/Llama-3.1-8B");
    // Enabled once the answer is in (after the form's debounce, which a loaded machine can stretch).
    for (let waited = 0; run().disabled && waited < 5000; waited += 20) await sleep(20);
    run().click();
    await settle();
    expect(app.view).toBe("runs");
    expect(app.runPlan?.model).toBe("meta-llama/Llama-3.1-8B");
    expect(app.runPlan?.plan).toMatchObject({ model: { id: "meta-llama/Llama-3.1-8B" }, task: "train", method: "qlora" });
  });
});

describe("PlanView varying lengths", () => {
  it("fills the field from a loaded plan, sends the lengths with their longest, and shows a bad entry at the field", async () => {
    loadedPlan = {
      model: { id: "meta-llama/Llama-3.1-8B" }, task: "train", method: "lora", batch_size: 2, sequence_length: 4096,
      sequence_lengths: [1024, 4096, 2048],
    };
    const app = new AppModel(api);
    app.settings = { ...app.settings, language: "ja" };
    component = mount(PlanView, { target: document.body, props: { app } });
    await settle();
    [...document.querySelectorAll<HTMLButtonElement>("button")].find((b) => b.textContent === "計画を開く…")!.click();
    await settle();
    const lengths = q<HTMLInputElement>('[data-testid="sequence-lengths"]');
    expect(lengths.value).toBe("1024, 4096, 2048");
    // A field of the form now: not listed among the keys kept from the loaded plan.
    expect(document.querySelector('[data-testid="kept-keys"]')).toBeNull();
    expect(asked.at(-1)).toMatchObject({ sequence_lengths: [1024, 4096, 2048], sequence_length: 4096 });
    const sequence = () => q<HTMLInputElement>('[data-testid="sequence"]');
    expect([sequence().value, sequence().readOnly]).toEqual(["4096", true]);
    expect(sequence().closest("label")!.textContent).toContain("可変長のうち最長の値");

    // The sequence length follows the longest, so the two never disagree.
    type(lengths, "512, 8192");
    await settle();
    expect(asked.at(-1)).toMatchObject({ sequence_lengths: [512, 8192], sequence_length: 8192 });
    expect(sequence().value).toBe("8192");

    // A bad entry: the backend names it, and its refusal shows at the field, in Japanese.
    for (const [typed, entry] of [["512, 0", "sequence_lengths[1]"], ["abc", "sequence_lengths[0]"], ["1024 -3", "sequence_lengths[1]"]]) {
      type(lengths, typed!);
      await settle();
      const err = lengths.closest("label")!.querySelector('.field-error[data-error-for="sequence_lengths"]');
      expect(err?.textContent).toContain(`${entry}: a positive integer である必要があります`);
      expect(lengths.closest("label")!.querySelector("span")!.textContent).toBe("可変長（トークン数）");
    }

    // Emptied: the lengths left open again, at the sequence length the plan had.
    type(lengths, "");
    await settle();
    expect(asked.at(-1)).not.toHaveProperty("sequence_lengths");
    expect(asked.at(-1)).toMatchObject({ sequence_length: 4096 });
    expect([sequence().value, sequence().readOnly]).toEqual(["4096", false]);

    // Padded or packed: the one length is sent, and the list's field goes away while the box is ticked.
    const fixed = q<HTMLInputElement>('[data-testid="fixed-lengths"]');
    expect(fixed.checked).toBe(false);
    fixed.click();
    await settle();
    expect(asked.at(-1)).toMatchObject({ sequence_lengths: [4096], sequence_length: 4096 });
    expect(document.querySelector('[data-testid="sequence-lengths"]')).toBeNull();
    expect(fixed.closest("label")!.textContent).toContain("全バッチをシーケンス長までパディングまたはパッキング");
    fixed.click();
    await settle();
    expect(asked.at(-1)).not.toHaveProperty("sequence_lengths");
  });
});

describe("draft", () => {
  it("keeps the keys of a loaded plan the form does not show, and sends them back", () => {
    const loaded = {
      model: { id: "Qwen/Qwen3-8B" }, task: "train", method: "lora", batch_size: 2, sequence_length: 4096,
      torch_compile: true, fit_on: "central", lora: { rank: 8, alpha: 16, dropout: 0.1, dtype: "bf16" },
    };
    const d = draftFromPlan(loaded, DEFAULT_DRAFT);
    expect(d.others).toEqual({ torch_compile: true, fit_on: "central" });
    expect(d.loraOthers).toEqual({ dropout: 0.1, dtype: "bf16" });
    const sent = planFromDraft(d)!;
    expect(sent).toMatchObject({ torch_compile: true, fit_on: "central", lora: { rank: 8, alpha: 16, dropout: 0.1, dtype: "bf16" } });
    // A suggestion's plan has every default written out: only what it changed among the hidden keys is taken.
    const answered = { ...loaded, kbit_upcast: false, lora: { ...loaded.lora } };
    const suggestion = { ...answered, batch_size: 1, kbit_upcast: false, prefill_logits: "all", lora: { ...loaded.lora, dtype: "bf16" } };
    const applied = draftFromSuggestion(suggestion, d, answered);
    expect(applied.batchSize).toBe("1");
    expect(applied.others).toEqual({ torch_compile: true, fit_on: "central", prefill_logits: "all" });
    expect(applied.loraOthers).toEqual({ dropout: 0.1, dtype: "bf16" });
  });

  it("round-trips a plan the backend wrote", () => {
    const plan = planFromDraft({ ...DEFAULT_DRAFT, modelId: "Qwen/Qwen3-8B", method: "lora", loraTargets: "q_proj, v_proj" })!;
    expect(plan.lora).toEqual({ rank: 16, alpha: 32, target_modules: ["q_proj", "v_proj"] });
    expect(plan.margin).toBeCloseTo(0.1);
    const back = draftFromPlan({ ...plan, gpus: { count: 2, memory_gib: 40 }, nodes: 1 }, DEFAULT_DRAFT);
    expect(back.gpu).toBe("memory");
    expect(back.gpuMemoryGib).toBe("40");
    expect(back.loraTargets).toBe("q_proj, v_proj");
    expect(planFromDraft({ ...DEFAULT_DRAFT })).toBeNull();
  });

  it("sends the FSDP keys only with FSDP sharding, the mixed-units one only with LoRA", () => {
    const base = { ...DEFAULT_DRAFT, modelId: "Qwen/Qwen3-8B", method: "lora" as const, fsdpNoSync: true, fsdpFrozenInUnits: true };
    const zero = planFromDraft({ ...base, sharding: "zero3" })!;
    expect("fsdp_no_sync" in zero || "fsdp_frozen_in_trainable_units" in zero).toBe(false);
    const fsdp = planFromDraft({ ...base, sharding: "fsdp_full_shard" })!;
    expect([fsdp.fsdp_no_sync, fsdp.fsdp_frozen_in_trainable_units]).toEqual([true, true]);
    const full = planFromDraft({ ...base, method: "full", sharding: "fsdp_full_shard" })!;
    expect(full.fsdp_no_sync).toBe(true);
    expect("fsdp_frozen_in_trainable_units" in full).toBe(false);
    const back = draftFromPlan(fsdp, DEFAULT_DRAFT);
    expect([back.fsdpNoSync, back.fsdpFrozenInUnits]).toEqual([true, true]);
  });

  it("passes text that is not a number to the backend, which names the field", () => {
    const plan = planFromDraft({ ...DEFAULT_DRAFT, modelId: "x", sequenceLength: "-5x" })!;
    expect(plan.sequence_length).toBe("-5x");
    const invalid = (field: string) => ({ code: "invalid" as const, message: `${field}: …`, field });
    expect(errorField(invalid("sequence_length"))).toBe("sequence_length");
    expect(errorField(invalid("model.config"))).toBe("model");
    // A file the plan names is not a form field: the error goes above the form.
    expect(errorField(invalid("/tmp/x"))).toBe("plan");
    expect(errorField({ code: "io", message: "/tmp/x: No such file" })).toBe("plan");
  });
});

describe("draft from the HF cache", () => {
  it("reads a cached model from its snapshot folder", () => {
    const d = { ...DEFAULT_DRAFT, modelSource: "cache" as const, modelId: "Org/M", cachePath: "/hub/models--Org--M/snapshots/abc" };
    const plan = planFromDraft(d)!;
    expect(plan.model).toEqual({ path: "/hub/models--Org--M/snapshots/abc" });
    expect(draftFromPlan({ ...plan, batch_size: 2 }, d)).toMatchObject({ modelSource: "cache", modelId: "Org/M", batchSize: "2" });
  });
});
