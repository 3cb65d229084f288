import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { flushSync, mount, tick, unmount } from "svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import ConfigsPanel from "./ConfigsPanel.svelte";
import { api } from "../../lib/api";
import { AppModel } from "../../lib/app.svelte";
import type { ModelConfigEntry, Preset, PresetBody } from "../../lib/bindings";
import { int4 } from "./testPresets";

const body = {
  description: "",
  load: { device: "cuda" as const, torch_dtype: "bfloat16" as const, max_memory: {} },
  quantization: null,
};
const presets: Preset[] = ["fp16", "int8", "int4", "int4_double", "int4_offload"].map((name) => ({
  name,
  builtin: true,
  revision: null,
  body: name === "int4" ? int4 : body,
}));

let saved: { modelId: string; config: Record<string, unknown>; revision: unknown }[] = [];
let entries: ModelConfigEntry[] = [];
/** Every config draft the panel asked to preview. */
let previews: Record<string, unknown>[] = [];
/** More keys for list_configs' answer. */
let listExtra: Record<string, unknown> = {};
let component: ReturnType<typeof mount> | null = null;

function backend() {
  saved = [];
  entries = [];
  previews = [];
  listExtra = {};
  mockIPC((cmd, raw) => {
    const args = (raw ?? {}) as Record<string, unknown>;
    switch (cmd) {
      case "list_configs":
        return { configs: entries, default_chain: ["fp16", "int8", "int4", "int4_double", "int4_offload"], quarantined: [], skipped: [], ...listExtra };
      case "check_config": {
        // The backend's paths: a config field, or (for a broken effective preset) the preset's field under
        // "overrides".
        const c = args.config as { lora?: { rank: unknown }; overrides: Overrides };
        const errors = [];
        if (c.lora && typeof c.lora.rank !== "number") errors.push({ field: "lora.rank", message: "invalid type: string, expected u32" });
        const threshold = c.overrides.quantization?.llm_int8_threshold;
        if (threshold !== undefined && typeof threshold !== "number")
          errors.push({ field: "overrides.quantization.llm_int8_threshold", message: `invalid type: string "${threshold}", expected f64` });
        for (const device of Object.keys(c.overrides.max_memory ?? {}))
          if (!/^(\d+|cpu|disk)$/.test(device))
            errors.push({ field: `overrides.load.max_memory.${device}`, message: 'unknown device: use a GPU index ("0"), "cpu" or "disk"' });
        return errors;
      }
      case "preview_config": {
        // The preset's bnb dict with the overrides on top, as PresetOverrides::apply does.
        const c = args.config as { preset: string; overrides: Overrides };
        previews.push(c);
        const q = presets.find((p) => p.name === c.preset)?.body.quantization;
        const bnb = q || c.overrides.quantization ? JSON.stringify({ ...q, ...c.overrides.quantization }, null, 2) : null;
        const limits = c.overrides.max_memory ?? {};
        return {
          errors: [],
          bnb_json: bnb,
          kwargs_json: JSON.stringify({ device_map: c.overrides.device_map ?? "auto", max_memory: limits }, null, 2),
          max_memory_bytes: Object.fromEntries(Object.entries(limits).filter(([, l]) => l === "20GiB").map(([d]) => [d, 21474836480])),
        };
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

type Overrides = {
  torch_dtype?: string;
  device_map?: unknown;
  max_memory?: Record<string, unknown>;
  quantization?: Record<string, unknown>;
};

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
  it("flags a config naming a preset that cannot be loaded, and says which entries could not be read", async () => {
    backend();
    const config = { preset: "gone", task: "infer", fallback_chain: ["gone", "int4"], notes: "", overrides: {} };
    entries = [
      { model_id: "org/broken", revision: "00000000000000aa", config, missing_presets: ["gone"] } as ModelConfigEntry,
      { model_id: "org/fine", revision: "00000000000000bb", config: { ...config, preset: "int4", fallback_chain: [] } } as ModelConfigEntry,
    ];
    listExtra = {
      skipped: [{ path: "/c/model-configs/x.json", reason: "the file name is not a model id written as org--name" }],
      unreadable: [{ path: "/c/model-configs/a-dir.json", reason: "is a directory, not a file; nothing in it was read" }],
    };
    component = mount(ConfigsPanel, { target: document.body, props: { app: new AppModel(api), presets } });
    await settle();
    const flagged = [...document.querySelectorAll("[data-missing]")].map((e) => e.getAttribute("data-missing"));
    expect(flagged).toEqual(["org/broken"]);
    expect(document.querySelector('[data-missing="org/broken"]')?.textContent).toContain("names gone, which cannot be loaded");
    expect(document.body.textContent).toContain("/c/model-configs/a-dir.json could not be read (is a directory");
    expect(document.body.textContent).toContain("/c/model-configs/x.json was not loaded");
  });

  it("teaches when empty, shows field errors from the backend, reorders the chain and saves", async () => {
    backend();
    component = mount(ConfigsPanel, { target: document.body, props: { app: new AppModel(api), presets } });
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

  it("edits every override: the preset's value greyed until overridden, errors beside each field, a live effective preview", async () => {
    backend();
    component = mount(ConfigsPanel, { target: document.body, props: { app: new AppModel(api), presets } });
    await settle();
    document.querySelector<HTMLButtonElement>('[data-action="new-config"]')!.click();
    await settle();
    input('[data-field="model_id"]', "org/model");
    await settle();
    const inherited = (path: string) => document.querySelector(`[data-inherited="${path}"]`)?.textContent ?? null;
    const at = (path: string) => document.querySelector(`[data-override="${path}"]`)!;
    const click = async (path: string, action: "override" | "inherit") => {
      at(path).querySelector<HTMLButtonElement>(`[data-action="${action}"]`)!.click();
      await settle();
    };
    const errorsAt = (path: string) => [...at(path).querySelectorAll(".field-error")].map((e) => e.textContent);

    // Nothing overridden: every field shows int4's value, greyed, and no control.
    expect(inherited("overrides.torch_dtype")).toBe("bfloat16");
    expect(inherited("overrides.device_map")).toBe("auto");
    expect(inherited("overrides.max_memory")).toBe("No limits: accelerate uses what each device has free.");
    expect(inherited("overrides.quantization.load_in_4bit")).toBe("true");
    expect(inherited("overrides.quantization.llm_int8_threshold")).toBe("6.0");
    expect(inherited("overrides.quantization.llm_int8_skip_modules")).toBe("None");
    expect(inherited("overrides.quantization.bnb_4bit_quant_type")).toBe("nf4");
    expect(inherited("overrides.quantization.bnb_4bit_quant_storage")).toBe("uint8");
    expect(document.querySelectorAll("[data-inherited]")).toHaveLength(13);
    expect(document.querySelector('[data-field="overrides.quantization.bnb_4bit_quant_type"]')).toBeNull();
    expect(document.querySelector('[data-preview="config-bnb"]')?.textContent).toContain('"bnb_4bit_use_double_quant": false');

    // A threshold override starts at the preset's value; a wrong type is refused beside the field.
    await click("overrides.quantization.llm_int8_threshold", "override");
    expect(document.querySelector<HTMLInputElement>('[data-field="overrides.quantization.llm_int8_threshold"]')!.value).toBe("6.0");
    input('[data-field="overrides.quantization.llm_int8_threshold"]', "high");
    await settle();
    expect(errorsAt("overrides.quantization.llm_int8_threshold")).toEqual(['invalid type: string "high", expected f64']);
    expect(document.querySelector<HTMLButtonElement>('[data-action="save-config"]')!.disabled).toBe(true);
    expect(document.querySelector('[data-preview="config-bnb"]')).toBeNull();
    input('[data-field="overrides.quantization.llm_int8_threshold"]', "5.5");
    await settle();
    expect(errorsAt("overrides.quantization.llm_int8_threshold")).toEqual([]);

    await click("overrides.quantization.bnb_4bit_use_double_quant", "override");
    const dq = document.querySelector<HTMLInputElement>('[data-field="overrides.quantization.bnb_4bit_use_double_quant"]')!;
    expect(dq.checked).toBe(false);
    dq.click();
    await settle();
    await click("overrides.quantization.bnb_4bit_quant_storage", "override");
    const storage = document.querySelector<HTMLSelectElement>('[data-field="overrides.quantization.bnb_4bit_quant_storage"]')!;
    storage.value = "bfloat16";
    storage.dispatchEvent(new Event("change"));
    await settle();
    await click("overrides.quantization.llm_int8_skip_modules", "override");
    input('[data-field="overrides.quantization.llm_int8_skip_modules"]', "lm_head, score");
    await settle();

    // max_memory: rows are added and removed; a bad device is named beside its row.
    await click("overrides.max_memory", "override");
    expect(at("overrides.max_memory").textContent).toContain("No limits for this model");
    const addRow = async () => {
      at("overrides.max_memory").querySelector<HTMLButtonElement>('[data-action="add-max-memory"]')!.click();
      await settle();
    };
    await addRow();
    await addRow();
    const rowInput = (kind: "device" | "limit", i: number, value: string) => {
      const el = document.querySelectorAll<HTMLInputElement>(`[data-field="override-max-memory-${kind}"]`)[i]!;
      el.value = value;
      el.dispatchEvent(new Event("input"));
    };
    rowInput("device", 0, "gpu");
    rowInput("limit", 0, "20GiB");
    rowInput("device", 1, "cpu");
    rowInput("limit", 1, "30GiB");
    await settle();
    expect(errorsAt("overrides.max_memory")).toEqual(['unknown device: use a GPU index ("0"), "cpu" or "disk"']);
    rowInput("device", 0, "0");
    await settle();
    expect(errorsAt("overrides.max_memory")).toEqual([]);
    expect(at("overrides.max_memory").querySelector(".gib")?.textContent).toBe("= 20.00 GiB");
    at("overrides.max_memory").querySelector<HTMLButtonElement>('[aria-label="Remove cpu"]')!.click();
    await settle();
    expect(document.querySelectorAll('[data-field="override-max-memory-device"]')).toHaveLength(1);

    // device_map: a strategy from the list, or another device typed.
    await click("overrides.device_map", "override");
    const map = document.querySelector<HTMLSelectElement>('[data-field="overrides.device_map"]')!;
    expect(map.value).toBe("auto");
    map.value = "__device__";
    map.dispatchEvent(new Event("change", { bubbles: true }));
    await settle();
    input('[data-field="override-device-map-device"]', "cuda:1");
    await settle();
    expect(previews.at(-1)).toMatchObject({ overrides: { device_map: "cuda:1" } });
    map.value = "balanced";
    map.dispatchEvent(new Event("change", { bubbles: true }));
    await settle();
    expect(document.querySelector('[data-field="override-device-map-device"]')).toBeNull();

    // Overridden, then cleared: back to the preset's value, and not saved.
    await click("overrides.torch_dtype", "override");
    const dtype = document.querySelector<HTMLSelectElement>('[data-field="overrides.torch_dtype"]')!;
    dtype.value = "float16";
    dtype.dispatchEvent(new Event("change"));
    await settle();
    expect(previews.at(-1)).toMatchObject({ overrides: { torch_dtype: "float16" } });
    await click("overrides.torch_dtype", "inherit");
    expect(inherited("overrides.torch_dtype")).toBe("bfloat16");

    // The effective preset, live: int4 with the overrides on top.
    const bnb = JSON.parse(document.querySelector('[data-preview="config-bnb"]')!.textContent!);
    expect(bnb).toMatchObject({
      load_in_4bit: true,
      bnb_4bit_quant_type: "nf4",
      llm_int8_threshold: 5.5,
      bnb_4bit_use_double_quant: true,
      bnb_4bit_quant_storage: "bfloat16",
      llm_int8_skip_modules: ["lm_head", "score"],
    });
    expect(document.querySelector('[data-preview="config-kwargs"]')!.textContent).toContain('"balanced"');

    document.querySelector<HTMLButtonElement>('[data-action="save-config"]')!.click();
    await settle();
    expect(saved[0]?.config.overrides).toEqual({
      device_map: "balanced",
      max_memory: { "0": "20GiB" },
      quantization: {
        llm_int8_threshold: 5.5,
        llm_int8_skip_modules: ["lm_head", "score"],
        bnb_4bit_use_double_quant: true,
        bnb_4bit_quant_storage: "bfloat16",
      },
    });
    // Opened again, the overrides are set and the rest still inherit.
    document.querySelector<HTMLButtonElement>('[data-config="org/model"]')!.click();
    await settle();
    expect(document.querySelector<HTMLInputElement>('[data-field="override-max-memory-limit"]')!.value).toBe("20GiB");
    expect(document.querySelector<HTMLInputElement>('[data-field="overrides.quantization.llm_int8_threshold"]')!.value).toBe("5.5");
    expect(document.querySelector<HTMLInputElement>('[data-field="overrides.quantization.bnb_4bit_use_double_quant"]')!.checked).toBe(true);
    expect(inherited("overrides.torch_dtype")).toBe("bfloat16");
    expect(inherited("overrides.quantization.load_in_8bit")).toBe("false");
  });

  it("keeps a saved per-module device_map and an override on an unquantized preset as they were", async () => {
    backend();
    const config = {
      preset: "fp16",
      task: "infer" as const,
      overrides: { device_map: { "": 0 }, max_memory: {}, quantization: { load_in_8bit: true } },
      fallback_chain: [],
      notes: "",
    };
    entries = [{ model_id: "org/other", revision: "00000000000000ee", config }];
    component = mount(ConfigsPanel, { target: document.body, props: { app: new AppModel(api), presets } });
    await settle();
    document.querySelector<HTMLButtonElement>('[data-config="org/other"]')!.click();
    await settle();
    expect(document.querySelector<HTMLSelectElement>('[data-field="overrides.device_map"]')!.value).toBe("__modules__");
    // fp16 does not quantize: the greyed values are BitsAndBytesConfig()'s defaults, said so.
    expect(document.body.textContent).toContain("fp16 does not quantize");
    expect(document.querySelector('[data-inherited="overrides.quantization.bnb_4bit_quant_type"]')!.textContent).toBe("fp4");
    expect(document.querySelector<HTMLInputElement>('[data-field="overrides.quantization.load_in_8bit"]')!.checked).toBe(true);
    // An empty max_memory override means "no limits for this model", not "inherit".
    expect(document.querySelector('[data-override="overrides.max_memory"]')!.textContent).toContain("No limits for this model");
    document.querySelector<HTMLButtonElement>('[data-action="save-config"]')!.click();
    await settle();
    expect(saved[0]?.config.overrides).toEqual(config.overrides);
    expect(saved[0]?.revision).toBe("00000000000000ee");
  });
});
