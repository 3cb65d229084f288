import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { flushSync, mount, tick, unmount } from "svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import ConfigsPanel from "./ConfigsPanel.svelte";
import { api } from "../../lib/api";
import { AppModel } from "../../lib/app.svelte";
import type { ModelConfigEntry, Preset } from "../../lib/bindings";

const body = {
  description: "",
  load: { device: "cuda" as const, torch_dtype: "bfloat16" as const, max_memory: {} },
  quantization: null,
};
const presets: Preset[] = ["fp16", "int8", "int4", "int4_double", "int4_offload"].map((name) => ({
  name,
  builtin: true,
  revision: null,
  body,
}));

let saved: { modelId: string; config: Record<string, unknown>; revision: unknown }[] = [];
let entries: ModelConfigEntry[] = [];
let component: ReturnType<typeof mount> | null = null;

function backend() {
  saved = [];
  entries = [];
  mockIPC((cmd, raw) => {
    const args = (raw ?? {}) as Record<string, unknown>;
    switch (cmd) {
      case "list_configs":
        return { configs: entries, quarantined: [], skipped: [] };
      case "check_config": {
        const c = args.config as { lora?: { rank: unknown } };
        return c.lora && typeof c.lora.rank !== "number"
          ? [{ field: "lora.rank", message: "invalid type: string, expected u32" }]
          : [];
      }
      case "save_config": {
        saved.push(args as (typeof saved)[number]);
        const e = { model_id: args.modelId as string, revision: "00000000000000cc", config: args.config } as ModelConfigEntry;
        entries = [e];
        return e;
      }
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

function input(css: string, value: string) {
  const el = document.querySelector<HTMLInputElement>(css)!;
  el.value = value;
  el.dispatchEvent(new Event("input"));
}

beforeEach(() => (document.body.innerHTML = ""));
afterEach(() => {
  if (component) unmount(component);
  component = null;
  clearMocks();
});

describe("per-model configs", () => {
  it("teaches when empty, shows field errors from the backend, reorders the chain and saves", async () => {
    backend();
    component = mount(ConfigsPanel, { target: document.body, props: { model: new AppModel(api), presets } });
    await settle();
    expect(document.body.textContent).toContain("No model has a config yet");
    document.querySelector<HTMLButtonElement>('[data-action="new-config"]')!.click();
    await settle();
    input('[data-field="model_id"]', "org/model");
    input('[data-field="lora.rank"]', "many");
    await settle();
    const rank = document.querySelector('[data-field="lora.rank"]')!.closest("label")!;
    expect(rank.querySelector(".field-error")?.textContent).toBe("invalid type: string, expected u32");
    expect(document.querySelector<HTMLButtonElement>('[data-action="save-config"]')!.disabled).toBe(true);
    input('[data-field="lora.rank"]', "8");
    await settle();
    expect(rank.querySelector(".field-error")).toBeNull();

    const chips = () => [...document.querySelectorAll(".chip span")].map((s) => s.textContent);
    expect(chips()).toEqual(["fp16", "int8", "int4", "int4_double", "int4_offload"]);
    document.querySelector<HTMLButtonElement>('[aria-label="Move int8 earlier"]')!.click();
    await settle();
    expect(chips()).toEqual(["int8", "fp16", "int4", "int4_double", "int4_offload"]);
    document.querySelector<HTMLButtonElement>('[aria-label="Remove fp16"]')!.click();
    await settle();

    document.querySelector<HTMLButtonElement>('[data-action="save-config"]')!.click();
    await settle();
    expect(saved).toHaveLength(1);
    expect(saved[0]?.modelId).toBe("org/model");
    expect(saved[0]?.revision).toBeNull();
    expect(saved[0]?.config).toMatchObject({
      preset: "int4",
      task: "train",
      method: "qlora",
      lora: { rank: 8 },
      fallback_chain: ["int8", "int4", "int4_double", "int4_offload"],
    });
    expect(document.body.textContent).toContain("Config saved.");
    expect(document.querySelector('[data-config="org/model"]')).not.toBeNull();
  });
});
