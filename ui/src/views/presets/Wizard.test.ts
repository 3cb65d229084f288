import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { flushSync, mount, tick, unmount } from "svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import Wizard from "./Wizard.svelte";
import { api } from "../../lib/api";
import { AppModel } from "../../lib/app.svelte";

let calls: { cmd: string; args: Record<string, unknown> }[] = [];
let component: ReturnType<typeof mount> | null = null;
let savedCount = 0;
// This machine's GPUs as wizard_gpus reports them, one entry per call (the last repeats); none by default.
let machineReads: { free: number | null }[][] = [];

function backend() {
  calls = [];
  mockIPC((cmd, raw) => {
    const args = (raw ?? {}) as Record<string, unknown>;
    calls.push({ cmd, args });
    switch (cmd) {
      case "wizard_models":
        return ["meta-llama/Llama-3.1-8B", "meta-llama/Llama-3.2-3B"].filter((m) =>
          m.toLowerCase().includes(String(args.query).toLowerCase()),
        );
      case "wizard_gpus": {
        const n = calls.filter((c) => c.cmd === cmd).length;
        const read = machineReads[Math.min(n, machineReads.length) - 1];
        return {
          catalog: [
            { name: "RTX 4090", memory_bytes: 25757220864 },
            { name: "H200", memory_bytes: 150754820096 },
          ],
          machine: (read ?? []).map((g, index) => ({
            index,
            name: "NVIDIA H100 80GB HBM3",
            memory_bytes: 85520809984,
            free_bytes: g.free,
            catalog_name: "H100 80GB",
            plan_gpus: { count: 1, model: "H100 80GB" },
          })),
          machine_unavailable: read ? null : "NVML is not available: libnvidia-ml.so.1 not found",
        };
      }
      case "wizard_rank": {
        // As the backend: a zero batch is refused naming the field; otherwise the workload used is echoed.
        const ask = args.ask as {
          task: string;
          batch_size: number | null;
          sequence_length: number | null;
          gradient_checkpointing: boolean | null;
          fixed_lengths?: boolean;
        };
        if (ask.batch_size === 0) throw { code: "invalid", message: "batch_size: must be a positive integer, got 0", field: "batch_size" };
        const ranked = [
          { preset: "int4", builtin: true, fits: true, device_peak_bytes: 7516192768, headroom_bytes: 13314398618, caveat: "INT4 may cost accuracy", unavailable: null },
          { preset: "cpu", builtin: true, fits: true, device_peak_bytes: 0, headroom_bytes: 20830591386, caveat: "runs on the CPU", unavailable: null },
          { preset: "fp16", builtin: true, fits: false, device_peak_bytes: 27380416512, headroom_bytes: -6549825126, caveat: null, unavailable: null },
          { preset: "fp32", builtin: true, fits: false, device_peak_bytes: 0, headroom_bytes: 0, caveat: null, unavailable: "needs method full" },
        ];
        // A sequence of 999999 tokens fits nowhere: every row says so.
        const rows =
          ask.sequence_length === 999999
            ? [{ preset: "int4", builtin: true, fits: false, device_peak_bytes: 9e12, headroom_bytes: -9e12, caveat: null, unavailable: null }]
            : ranked;
        return {
          batch_size: ask.batch_size ?? 1,
          sequence_length: ask.sequence_length ?? 2048,
          gradient_checkpointing: ask.task === "train" ? (ask.gradient_checkpointing ?? false) : null,
          ...(ask.fixed_lengths ? { fixed_lengths: true } : {}),
          rows,
          // This machine's training runs calibrated the estimate (only asked for with a batch of 8 here).
          ...(ask.task === "train" && ask.batch_size === 8
            ? { machine_calibration: { cuda_context_bytes: 412 * 2 ** 20, allocator_slack_permille: 73, runs: 4, first_run_unix_ms: 0, last_run_unix_ms: 1, fit: "regression" } }
            : {}),
        };
      }
      case "save_config":
        return { model_id: args.modelId, revision: "00000000000000dd", config: args.config };
      default:
        throw { code: "internal", message: `unexpected ${cmd}` };
    }
  });
}

async function settle() {
  for (let i = 0; i < 5; i++) {
    await tick();
    await new Promise((r) => setTimeout(r, 0));
  }
  flushSync();
}

const q = <T extends Element>(css: string) => document.querySelector<T>(css)!;

beforeEach(() => (document.body.innerHTML = ""));
afterEach(() => {
  if (component) unmount(component);
  component = null;
  clearMocks();
});

/** The wizard open, with Llama-3.1-8B picked at the model step. */
async function openOnModel() {
  component = mount(Wizard, {
    target: document.body,
    props: { app: new AppModel(api), onclose: () => {}, onsaved: () => {} },
  });
  await settle();
  q<HTMLInputElement>('[data-model="meta-llama/Llama-3.1-8B"]').click();
  await settle();
}

describe("the wizard", () => {
  beforeEach(() => (machineReads = []));

  it("opens as a modal dialog, and offers nothing to save when no preset fits, saying why", async () => {
    backend();
    await openOnModel();
    expect(q("dialog.wizard").hasAttribute("open")).toBe(true);
    const submit = async () => {
      q<HTMLFormElement>(".wizard form").requestSubmit();
      await settle();
    };
    await submit();
    const seq = q<HTMLInputElement>('[data-field="wizard-seq"]');
    seq.value = "999999";
    seq.dispatchEvent(new Event("input"));
    await settle();
    await submit();
    await submit();
    expect(q('[data-testid="wizard-none-fits"]').textContent).toContain("No preset fits this plan");
    expect(q<HTMLInputElement>('[data-row="int4"] input').disabled).toBe(true);
    expect(q<HTMLButtonElement>('[data-action="wizard-save"]').disabled).toBe(true);
    expect(q('[data-testid="wizard-save-blocked"]').textContent).toContain("nothing to save");
  });

  it("offers this machine's GPUs with the memory free when the hardware step opens, and ranks against it", async () => {
    machineReads = [[{ free: 80000000000 }, { free: null }], [{ free: 42949672960 }, { free: null }]];
    backend();
    await openOnModel();
    q<HTMLFormElement>(".wizard form").requestSubmit();
    await settle();
    expect(calls.filter((c) => c.cmd === "wizard_gpus")).toHaveLength(0);
    q<HTMLFormElement>(".wizard form").requestSubmit();
    await settle();
    expect(q('[aria-current="step"]').textContent).toContain("Hardware");
    const select = q<HTMLSelectElement>('[data-field="wizard-gpu"]');
    expect(select.value).toBe("m:0");
    const first = q<HTMLOptionElement>('option[value="m:0"]');
    expect(first.textContent?.replace(/\s+/g, " ").trim()).toBe("NVIDIA H100 80GB HBM3 #0 · 74.51 GiB free of 79.65 GiB");
    expect(first.title).toBe("80,000,000,000 bytes free of 85,520,809,984 bytes");
    const unknown = q<HTMLOptionElement>('option[value="m:1"]');
    expect(unknown.disabled).toBe(true);
    expect(unknown.textContent).toContain("free memory n/a (the driver does not report it)");
    expect(document.querySelector("[data-machine-none]")).toBeNull();
    expect(q('optgroup[label="From the estimator\'s catalog"]').querySelectorAll("option")).toHaveLength(2);

    // Back and forward again: the free memory is read afresh, the choice kept.
    q<HTMLButtonElement>('[data-action="wizard-back"]').click();
    await settle();
    q<HTMLFormElement>(".wizard form").requestSubmit();
    await settle();
    expect(calls.filter((c) => c.cmd === "wizard_gpus")).toHaveLength(2);
    expect(q<HTMLSelectElement>('[data-field="wizard-gpu"]').value).toBe("m:0");
    expect(q('option[value="m:0"]').textContent).toContain("40.00 GiB free of 79.65 GiB");
    q<HTMLFormElement>(".wizard form").requestSubmit();
    await settle();
    expect(calls.find((c) => c.cmd === "wizard_rank")?.args).toEqual({
      ask: {
        model_id: "meta-llama/Llama-3.1-8B",
        task: "train",
        method: "qlora",
        gpu: "NVIDIA H100 80GB HBM3",
        memory_bytes: 42949672960,
        gpu_count: 1,
        batch_size: null,
        sequence_length: null,
        // Untouched: the framework's default, decided by the core as for the Plan view's plan.
        gradient_checkpointing: null,
        // Unticked: the lengths are open, as in the Plan view.
        fixed_lengths: false,
        framework: "hf_trainer",
      },
    });
    expect(document.querySelector("legend")?.textContent).toContain("1 × NVIDIA H100 80GB HBM3 #0");
  });

  it("walks model → task → hardware → choose, keeps answers on Back, and saves the model's config", async () => {
    backend();
    savedCount = 0;
    component = mount(Wizard, {
      target: document.body,
      props: { app: new AppModel(api), onclose: () => {}, onsaved: () => (savedCount += 1) },
    });
    await settle();
    expect(q('[aria-current="step"]').textContent).toContain("Model");
    expect(q<HTMLButtonElement>('[data-action="wizard-next"]').disabled).toBe(true);
    const search = q<HTMLInputElement>('[data-field="wizard-model"]');
    search.value = "3.1-8b";
    search.dispatchEvent(new Event("input"));
    await settle();
    expect([...document.querySelectorAll("[data-model]")].map((e) => e.getAttribute("data-model"))).toEqual([
      "meta-llama/Llama-3.1-8B",
    ]);
    q<HTMLInputElement>('[data-model="meta-llama/Llama-3.1-8B"]').click();
    await settle();
    q<HTMLFormElement>(".wizard form").requestSubmit();
    await settle();
    expect(q('[aria-current="step"]').textContent).toContain("Task");
    // Back keeps the answer.
    q<HTMLButtonElement>('[data-action="wizard-back"]').click();
    await settle();
    expect(q<HTMLInputElement>('[data-model="meta-llama/Llama-3.1-8B"]').checked).toBe(true);
    q<HTMLFormElement>(".wizard form").requestSubmit();
    await settle();
    q<HTMLFormElement>(".wizard form").requestSubmit();
    await settle();
    expect(q('[aria-current="step"]').textContent).toContain("Hardware");
    expect(q<HTMLSelectElement>('[data-field="wizard-gpu"]').value).toBe("c:RTX 4090");
    // No driver: said plainly, and the catalog is offered.
    expect(q("[data-machine-none]").textContent).toBe(
      "This machine's GPUs: NVML is not available: libnvidia-ml.so.1 not found. Pick a GPU from the catalog.",
    );
    q<HTMLFormElement>(".wizard form").requestSubmit();
    await settle();
    expect(calls.find((c) => c.cmd === "wizard_rank")?.args).toEqual({
      ask: {
        model_id: "meta-llama/Llama-3.1-8B",
        task: "train",
        method: "qlora",
        gpu: "RTX 4090",
        memory_bytes: null,
        gpu_count: 1,
        batch_size: null,
        sequence_length: null,
        // Untouched: the framework's default, decided by the core as for the Plan view's plan.
        gradient_checkpointing: null,
        // Unticked: the lengths are open, as in the Plan view.
        fixed_lengths: false,
        framework: "hf_trainer",
      },
    });
    // Nothing typed: the header says which defaults the estimator assumed.
    expect(q("[data-ranking-workload]").textContent?.replace(/\s+/g, " ").trim()).toBe(
      "Estimated at batch size 1 × 2048 tokens · gradient checkpointing off",
    );
    const verdicts = [...document.querySelectorAll("tbody tr .verdict")].map((e) => e.textContent?.trim());
    // fp32 cannot run a QLoRA plan: its row is hidden, and the note says so.
    expect(verdicts).toEqual(["Fits (12.40 GiB free)", "Fits (19.40 GiB free)", "Does not fit (needs 6.10 GiB more)"]);
    expect(q("[data-hidden-rows]").getAttribute("data-hidden-rows")).toBe("1");
    q<HTMLButtonElement>('[data-action="wizard-show-unavailable"]').click();
    await settle();
    expect(document.querySelectorAll("tbody tr")).toHaveLength(4);
    expect(q<HTMLInputElement>('[data-row="fp32"] input').disabled).toBe(true);
    expect(q<HTMLInputElement>('[data-row="fp16"] input').disabled).toBe(true);
    expect(q('[data-row="int4"] td:nth-child(2)').getAttribute("title")).toBe("7,516,192,768 bytes");
    // Nothing is preselected: Save waits for a choice, and says so.
    expect([...document.querySelectorAll<HTMLInputElement>('input[name="wizard-choice"]')].some((i) => i.checked)).toBe(false);
    const save = q<HTMLButtonElement>('[data-action="wizard-save"]');
    expect(save.disabled).toBe(true);
    expect(q('[data-testid="wizard-save-blocked"]').textContent).toBe("Pick one of the presets that fit to save it.");
    q<HTMLInputElement>('[data-row="int4"] input').click();
    await settle();
    expect(save.disabled).toBe(false);
    expect(save.textContent).toBe("Save as meta-llama/Llama-3.1-8B's config");
    save.click();
    await settle();
    expect(calls.find((c) => c.cmd === "save_config")?.args).toEqual({
      modelId: "meta-llama/Llama-3.1-8B",
      config: { preset: "int4", task: "train", method: "qlora" },
      revision: null,
    });
    expect(savedCount).toBe(1);
    expect(document.body.textContent).toContain("Saved meta-llama/Llama-3.1-8B's config with preset int4.");
  });

  it("ranks at the batch size, sequence length and checkpointing given at the task step, and sends a refused one back there", async () => {
    backend();
    await openOnModel();
    const submit = async () => {
      q<HTMLFormElement>(".wizard form").requestSubmit();
      await settle();
    };
    const type = (css: string, value: string) => {
      const el = q<HTMLInputElement>(css);
      el.value = value;
      el.dispatchEvent(new Event("input"));
    };
    await submit();
    type('[data-field="wizard-batch"]', "0");
    type('[data-field="wizard-seq"]', "4096");
    q<HTMLInputElement>('[data-field="wizard-checkpointing"]').click();
    // Unticked by default: the lengths are open, as in the Plan view.
    expect(q<HTMLInputElement>('[data-field="wizard-fixed-lengths"]').checked).toBe(false);
    q<HTMLInputElement>('[data-field="wizard-fixed-lengths"]').click();
    await settle();
    await submit();
    await submit();
    // The backend refuses batch 0: back on the task step, the message beside the batch box, answers kept.
    expect(q('[aria-current="step"]').textContent).toContain("Task");
    const batchField = q('[data-field="wizard-batch"]').closest("label")!;
    expect(batchField.querySelector(".field-error")?.textContent).toBe("batch_size: must be a positive integer, got 0");
    expect(q('[data-field="wizard-seq"]').closest("label")!.querySelector(".field-error")).toBeNull();
    expect(q<HTMLInputElement>('[data-field="wizard-seq"]').value).toBe("4096");
    expect(q<HTMLInputElement>('[data-field="wizard-checkpointing"]').checked).toBe(true);

    type('[data-field="wizard-batch"]', "8");
    await settle();
    await submit();
    await submit();
    expect(q('[aria-current="step"]').textContent).toContain("Choose");
    const asks = calls.filter((c) => c.cmd === "wizard_rank").map((c) => c.args.ask);
    expect(asks.at(-1)).toMatchObject({ batch_size: 8, sequence_length: 4096, gradient_checkpointing: true, fixed_lengths: true });
    expect(q("[data-ranking-workload]").textContent?.replace(/\s+/g, " ").trim()).toBe(
      "Estimated at batch size 8 × 4096 tokens · gradient checkpointing on · every batch padded or packed to one length · calibrated on this machine from 4 runs",
    );

    // Inference: no checkpointing box, none sent, none in the header.
    for (let i = 0; i < 2; i++) q<HTMLButtonElement>('[data-action="wizard-back"]').click();
    await settle();
    q<HTMLInputElement>('[data-task="infer"]').click();
    await settle();
    expect(document.querySelector('[data-field="wizard-checkpointing"]')).toBeNull();
    expect(document.querySelector('[data-field="wizard-fixed-lengths"]')).toBeNull();
    await submit();
    await submit();
    expect(calls.filter((c) => c.cmd === "wizard_rank").at(-1)?.args.ask).toMatchObject({
      task: "infer",
      method: null,
      batch_size: 8,
      gradient_checkpointing: null,
      framework: null,
    });
    expect(calls.filter((c) => c.cmd === "wizard_rank").at(-1)?.args.ask).not.toHaveProperty("fixed_lengths");
    expect(q("[data-ranking-workload]").textContent?.replace(/\s+/g, " ").trim()).toBe("Estimated at batch size 8 × 4096 tokens");
  });
});
