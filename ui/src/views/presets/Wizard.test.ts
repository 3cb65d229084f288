import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { flushSync, mount, tick, unmount } from "svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import Wizard from "./Wizard.svelte";
import { api } from "../../lib/api";
import { AppModel } from "../../lib/app.svelte";

let calls: { cmd: string; args: Record<string, unknown> }[] = [];
let component: ReturnType<typeof mount> | null = null;
let savedCount = 0;

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
      case "wizard_gpus":
        return [
          { name: "RTX 4090", memory_bytes: 25757220864 },
          { name: "H200", memory_bytes: 150754820096 },
        ];
      case "wizard_rank":
        return [
          { preset: "int4", builtin: true, fits: true, device_peak_bytes: 7516192768, headroom_bytes: 13314398618, caveat: "INT4 may cost accuracy", unavailable: null },
          { preset: "cpu", builtin: true, fits: true, device_peak_bytes: 0, headroom_bytes: 20830591386, caveat: "runs on the CPU", unavailable: null },
          { preset: "fp16", builtin: true, fits: false, device_peak_bytes: 27380416512, headroom_bytes: -6549825126, caveat: null, unavailable: null },
          { preset: "fp32", builtin: true, fits: false, device_peak_bytes: 0, headroom_bytes: 0, caveat: null, unavailable: "needs method full" },
        ];
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

describe("the wizard", () => {
  it("walks model → task → hardware → choose, keeps answers on Back, and saves the model's config", async () => {
    backend();
    savedCount = 0;
    component = mount(Wizard, {
      target: document.body,
      props: { model: new AppModel(api), onclose: () => {}, onsaved: () => (savedCount += 1) },
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
    expect(q<HTMLSelectElement>('[data-field="wizard-gpu"]').value).toBe("RTX 4090");
    q<HTMLFormElement>(".wizard form").requestSubmit();
    await settle();
    expect(calls.find((c) => c.cmd === "wizard_rank")?.args).toEqual({
      ask: { model_id: "meta-llama/Llama-3.1-8B", task: "train", method: "qlora", gpu: "RTX 4090", gpu_count: 1 },
    });
    const verdicts = [...document.querySelectorAll("tbody tr .verdict")].map((e) => e.textContent?.trim());
    expect(verdicts).toEqual(["Fits (12.40 GiB free)", "Fits (19.40 GiB free)", "Does not fit (needs 6.10 GiB more)", "n/a"]);
    expect(q('[data-row="int4"] td:nth-child(2)').getAttribute("title")).toBe("7,516,192,768 bytes");
    expect(q<HTMLInputElement>('[data-row="int4"] input').checked).toBe(true);
    const save = q<HTMLButtonElement>('[data-action="wizard-save"]');
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
});
