import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { flushSync, mount, tick, unmount } from "svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import PresetsView from "./PresetsView.svelte";
import { api } from "../../lib/api";
import { AppModel } from "../../lib/app.svelte";
import type { Preset, PresetBody } from "../../lib/bindings";
import { bodyOf, formOf } from "./draft";
import { int4 } from "./testPresets";

const fp16: PresetBody = {
  description: "16-bit",
  load: { device: "cuda", torch_dtype: "float16", device_map: "auto", max_memory: {} },
  quantization: null,
};

let calls: { cmd: string; args: Record<string, unknown> }[] = [];
let users: Preset[] = [];
let component: ReturnType<typeof mount> | null = null;

function backend() {
  calls = [];
  users = [];
  mockIPC((cmd, raw) => {
    const args = (raw ?? {}) as Record<string, unknown>;
    calls.push({ cmd, args });
    switch (cmd) {
      case "list_presets":
        return {
          presets: [
            { name: "fp16", builtin: true, revision: null, body: fp16 },
            { name: "int4", builtin: true, revision: null, body: int4 },
            ...users,
          ],
          quarantined: [{ original: "/c/presets/bad.json", moved_to: "/c/presets/bad.json.corrupt-1", reason: "not JSON" }],
          skipped: [],
          unreadable: [{ path: "/c/presets/a-dir.json", reason: "is a directory, not a file; nothing in it was read" }],
        };
      case "list_configs":
        return { configs: [], default_chain: ["fp16", "int8", "int4", "int4_double", "int4_offload"], quarantined: [], skipped: [] };
      case "check_preset": {
        const body = args.body as { quantization: { llm_int8_threshold: unknown } | null; load: { max_memory?: Record<string, unknown> } };
        if (body.quantization && typeof body.quantization.llm_int8_threshold !== "number") {
          return {
            errors: [{ field: "quantization.llm_int8_threshold", message: "invalid type: string, expected f64" }],
            bnb_json: null,
            kwargs_json: null,
            max_memory_bytes: {},
          };
        }
        return {
          errors: [],
          bnb_json: body.quantization ? '{\n  "load_in_4bit": true\n}' : null,
          kwargs_json: "{}",
          max_memory_bytes: body.load.max_memory?.["0"] === "10GiB" ? { "0": 10737418240 } : {},
        };
      }
      case "check_config":
        return [];
      case "duplicate_preset": {
        const p: Preset = { name: args.to as string, builtin: false, revision: "00000000000000aa", body: int4 };
        users = [p];
        return p;
      }
      case "delete_preset": {
        const p = users[0];
        users = [];
        return p;
      }
      case "create_preset": {
        const p: Preset = { name: args.name as string, builtin: false, revision: "00000000000000bb", body: args.body as PresetBody };
        users = [p];
        return p;
      }
      case "import_preset_dialog": {
        // The first pick is cancelled (null), the second reads a bnb dump.
        if (calls.filter((c) => c.cmd === cmd).length === 1) return null;
        const p: Preset = { name: (args.name as string | null) ?? "dump", builtin: false, revision: "00000000000000cc", body: int4 };
        users = [p];
        return { source: "bnb_json", preset: p };
      }
      case "export_preset_dialog":
        return { path: "/home/me/int4.bnb.json", text: "{}", quarantined: [] };
      case "export_bundle_dialog":
        return {
          path: "/home/me/bundle.json",
          text: "{}",
          quarantined: [],
          unreadable: [{ path: "/c/model-configs/org--x.json", reason: "cannot be read: Input/output error" }],
        };
      case "import_bundle_dialog":
        throw { code: "invalid", message: "bundle: not JSON at line 1" };
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

async function start() {
  backend();
  const app = new AppModel(api);
  component = mount(PresetsView, { target: document.body, props: { app } });
  await settle();
}

const button = (selector: string) => document.querySelector<HTMLButtonElement>(selector)!;

beforeEach(() => (document.body.innerHTML = ""));
afterEach(() => {
  if (component) unmount(component);
  component = null;
  clearMocks();
});

describe("the preset form's draft", () => {
  it("round-trips a preset body and keeps a bad threshold as text for the backend to name", () => {
    expect(bodyOf(formOf(int4))).toEqual({ ...int4, load: { device: "cuda", torch_dtype: "bfloat16", device_map: "auto" } });
    const f = formOf(int4);
    f.llm_int8_threshold = "six";
    expect((bodyOf(f) as { quantization: { llm_int8_threshold: unknown } }).quantization.llm_int8_threshold).toBe("six");
    f.max_memory.push({ device: "0", limit: "1024" });
    expect((bodyOf(f) as { load: { max_memory: unknown } }).load.max_memory).toEqual({ "0": 1024 });
  });
});

/** Duplicate the built-in int4 as "mine" through the name bar, as a person would. */
async function duplicateInt4AsMine() {
  button('[data-preset="int4"]').click();
  await settle();
  button('[data-action="duplicate"]').click();
  await settle();
  const name = document.querySelector<HTMLInputElement>('[data-field="new-name"]')!;
  name.value = "mine";
  name.dispatchEvent(new Event("input"));
  name.form!.requestSubmit();
  await settle();
}

describe("the Presets view", () => {
  it("lists built-ins first with a lock, teaches when there are no user presets, and reports quarantined files", async () => {
    await start();
    const items = [...document.querySelectorAll("[data-preset]")].map((b) => b.textContent?.trim());
    expect(items).toEqual(["fp16", "int4"]);
    expect(document.querySelectorAll("[data-preset] svg.lock")).toHaveLength(2);
    expect(document.body.textContent).toContain("Duplicate one to make your own");
    expect(document.body.textContent).toContain("bad.json could not be read (not JSON)");
    // An entry that cannot be read at all is said too, and left where it is.
    expect(document.body.textContent).toContain("/c/presets/a-dir.json could not be read (is a directory, not a file");
    expect(document.body.textContent).toContain("it was left where it is");
  });

  it("shows 4-bit fields only for 4-bit, the backend's preview, and a field error next to its field", async () => {
    await start();
    button('[data-preset="int4"]').click();
    await settle();
    expect(document.querySelector('[data-field="quantization.bnb_4bit_quant_type"]')).not.toBeNull();
    expect(document.querySelector('[data-field="quantization.llm_int8_threshold"]')).toBeNull();
    expect(document.querySelector('[data-preview="bnb"]')?.textContent).toContain('"load_in_4bit": true');
    // Built-ins are read-only.
    expect(document.querySelector<HTMLFieldSetElement>("fieldset")?.disabled).toBe(true);
    expect(document.querySelector('[data-action="save"]')).toBeNull();

    button('[data-preset="fp16"]').click();
    await settle();
    expect(document.querySelector('[data-field="quantization.bnb_4bit_quant_type"]')).toBeNull();
    expect(document.body.textContent).toContain("does not quantize");
  });

  it("sends what every kind of field holds: text, choice and check box, each with its label and help", async () => {
    await start();
    await duplicateInt4AsMine();

    const description = document.querySelector<HTMLInputElement>('[data-field="description"]')!;
    expect(description.value).toBe("4-bit NF4");
    expect(description.closest("label")!.querySelector("small")?.textContent).not.toBe("");
    description.value = "mine, double quantized";
    description.dispatchEvent(new Event("input"));
    const quantType = document.querySelector<HTMLSelectElement>('[data-field="quantization.bnb_4bit_quant_type"]')!;
    expect(quantType.value).toBe("nf4");
    expect([...quantType.options].map((o) => o.value)).toEqual(["fp4", "nf4"]);
    quantType.value = "fp4";
    quantType.dispatchEvent(new Event("change"));
    const double = document.querySelector<HTMLInputElement>('[data-field="quantization.bnb_4bit_use_double_quant"]')!;
    expect(double.type).toBe("checkbox");
    expect(double.checked).toBe(false);
    double.click();
    await settle();
    const sent = calls.filter((c) => c.cmd === "check_preset").at(-1)!.args.body as PresetBody;
    expect(sent.description).toBe("mine, double quantized");
    expect(sent.quantization?.bnb_4bit_quant_type).toBe("fp4");
    expect(sent.quantization?.bnb_4bit_use_double_quant).toBe(true);
    expect(sent.load.device_map).toBe("auto");
    expect(button('[data-action="save"]').disabled).toBe(false);
  });

  it("duplicates a built-in, shows an error beside the field, deletes with undo", async () => {
    await start();
    await duplicateInt4AsMine();
    expect(calls.find((c) => c.cmd === "duplicate_preset")?.args).toEqual({ from: "int4", to: "mine" });
    expect(document.querySelector('[data-preset="mine"]')?.getAttribute("aria-current")).toBe("true");

    const mode = document.querySelector<HTMLSelectElement>('[data-field="quantization.mode"]')!;
    mode.value = "8bit";
    mode.dispatchEvent(new Event("change"));
    await settle();
    const threshold = document.querySelector<HTMLInputElement>('[data-field="quantization.llm_int8_threshold"]')!;
    threshold.value = "six";
    threshold.dispatchEvent(new Event("input"));
    await settle();
    const label = threshold.closest("label")!;
    expect(label.querySelector(".field-error")?.textContent).toBe("invalid type: string, expected f64");
    expect(button('[data-action="save"]').disabled).toBe(true);

    // Leaving with unsaved changes asks first.
    button('[data-preset="fp16"]').click();
    await settle();
    expect(document.querySelector('[role="alertdialog"]')?.textContent).toContain("mine has unsaved changes");
    [...document.querySelectorAll<HTMLButtonElement>('[role="alertdialog"] button')].find((b) => b.textContent === "Keep editing")!.click();
    await settle();
    threshold.value = "5.0";
    threshold.dispatchEvent(new Event("input"));
    await settle();
    expect(label.querySelector(".field-error")).toBeNull();

    [...document.querySelectorAll<HTMLButtonElement>("button")].find((b) => b.textContent === "Revert")!.click();
    await settle();
    button('[data-action="delete"]').click();
    await settle();
    expect(document.body.textContent).toContain("Deleted mine.");
    expect(document.querySelector('[data-preset="mine"]')).toBeNull();
    button('[data-action="undo"]').click();
    await settle();
    expect(calls.find((c) => c.cmd === "create_preset")?.args).toEqual({ name: "mine", body: int4 });
    expect(document.querySelector('[data-preset="mine"]')).not.toBeNull();
  });

  it("shows a max_memory limit in GiB from the backend's bytes, exact bytes on hover", async () => {
    await start();
    button('[data-preset="int4"]').click();
    await settle();
    button('[data-action="duplicate"]').click();
    await settle();
    document.querySelector<HTMLInputElement>('[data-field="new-name"]')!.form!.requestSubmit();
    await settle();
    [...document.querySelectorAll<HTMLButtonElement>("button")].find((b) => b.textContent === "Add a device")!.click();
    await settle();
    const dev = document.querySelector<HTMLInputElement>('[data-field="max-memory-device"]')!;
    dev.value = "0";
    dev.dispatchEvent(new Event("input"));
    const lim = document.querySelector<HTMLInputElement>('[data-field="max-memory-limit"]')!;
    lim.value = "10GiB";
    lim.dispatchEvent(new Event("input"));
    await settle();
    const gib = document.querySelector(".gib")!;
    expect(gib.textContent).toBe("= 10.00 GiB");
    expect(gib.getAttribute("title")).toBe("10,737,418,240 bytes");
  });

  it("imports and exports through the system dialogs, and a cancelled dialog changes nothing", async () => {
    await start();
    button('[data-action="import-preset"]').click();
    await settle();
    expect(calls.find((c) => c.cmd === "import_preset_dialog")?.args).toEqual({ name: null });
    expect(document.querySelector('[data-preset="dump"]')).toBeNull();
    expect(document.querySelector(".field-error")).toBeNull();

    const name = document.querySelector<HTMLInputElement>('[data-field="import-name"]')!;
    name.value = " mine ";
    name.dispatchEvent(new Event("input"));
    button('[data-action="import-preset"]').click();
    await settle();
    expect(calls.filter((c) => c.cmd === "import_preset_dialog")[1]?.args).toEqual({ name: "mine" });
    expect(document.querySelector('[data-preset="mine"]')?.getAttribute("aria-current")).toBe("true");

    button('[data-preset="int4"]').click();
    await settle();
    button('[data-action="export-bnb"]').click();
    await settle();
    expect(calls.find((c) => c.cmd === "export_preset_dialog")?.args).toEqual({ name: "int4", format: "bnb_json", modelId: null });
    expect(document.body.textContent).toContain("Written to /home/me/int4.bnb.json");

    button('[data-action="export-bundle"]').click();
    await settle();
    expect(calls.some((c) => c.cmd === "export_bundle_dialog")).toBe(true);
    expect(document.body.textContent).toContain(
      "Written to /home/me/bundle.json. Not in it, because they could not be read: /c/model-configs/org--x.json",
    );

    button('[data-action="import-bundle"]').click();
    await settle();
    expect(document.querySelector(".io .field-error")?.textContent).toBe("bundle: not JSON at line 1");
  });
});
