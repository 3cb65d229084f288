// A per-model config as the editor holds it, and its conversion to the JSON the backend checks and saves.
// Every override is `null` while the config inherits the preset's value; values are kept as typed, so text
// that should be a number goes to the backend as typed and the error comes back on its field.

import type {
  BnbOverrides,
  FieldError,
  LoraDtype,
  Method,
  ModelConfig,
  ModelConfigEntry,
  Revision,
  Task,
  TorchDtype,
} from "../../lib/bindings";
import type { MessageKey } from "../../lib/i18n";
import { COMPUTE_DTYPES, MODULES, QUANT_STORAGES, QUANT_TYPES, type MemoryRow } from "./draft";

export interface ConfigForm {
  model_id: string;
  isNew: boolean;
  revision: Revision;
  preset: string;
  task: Task;
  method: Method;
  useLora: boolean;
  rank: string;
  alpha: string;
  dropout: string;
  target: string;
  loraDtype: LoraDtype;
  // Every override: `null` inherits the preset's value; anything else is this model's own.
  dtype: TorchDtype | null;
  /** A strategy or device name, or MODULES for a per-module map (kept as it was, in `modules`). */
  deviceMap: string | null;
  modules: Record<string, string | number> | null;
  /** An empty list is an override too: no limits for this model, whatever the preset has. */
  maxMemory: MemoryRow[] | null;
  bnb: BnbForm;
  chain: string[];
  notes: string;
}

export type BnbKey = keyof BnbOverrides;
/** BnbOverrides as typed: check boxes as booleans, the threshold and skip list as text (sent as typed). */
export type BnbForm = { [K in BnbKey]: (K extends "llm_int8_threshold" | "llm_int8_skip_modules" ? string : BnbOverrides[K]) | null };
export type BnbControl = { check: true } | { text: true } | { choose: readonly string[] };
/** Every BitsAndBytesConfig field a config can override, in transformers' `__init__` order. */
export const BNB_FIELDS: { key: BnbKey; control: BnbControl; help: MessageKey }[] = [
  { key: "load_in_8bit", control: { check: true }, help: "presets.quant.mode.help" },
  { key: "load_in_4bit", control: { check: true }, help: "presets.quant.mode.help" },
  { key: "llm_int8_threshold", control: { text: true }, help: "presets.llm_int8_threshold.help" },
  { key: "llm_int8_skip_modules", control: { text: true }, help: "presets.llm_int8_skip_modules.help" },
  { key: "llm_int8_enable_fp32_cpu_offload", control: { check: true }, help: "presets.llm_int8_enable_fp32_cpu_offload.help" },
  { key: "llm_int8_has_fp16_weight", control: { check: true }, help: "presets.llm_int8_has_fp16_weight.help" },
  { key: "bnb_4bit_compute_dtype", control: { choose: COMPUTE_DTYPES }, help: "presets.bnb_4bit_compute_dtype.help" },
  { key: "bnb_4bit_quant_type", control: { choose: QUANT_TYPES }, help: "presets.bnb_4bit_quant_type.help" },
  { key: "bnb_4bit_use_double_quant", control: { check: true }, help: "presets.bnb_4bit_use_double_quant.help" },
  { key: "bnb_4bit_quant_storage", control: { choose: QUANT_STORAGES }, help: "presets.bnb_4bit_quant_storage.help" },
];
/** One BitsAndBytesConfig field the form can override, with its control and help. */
export type BnbField = (typeof BNB_FIELDS)[number];
/** The set-up a device_map override can name without typing: accelerate's strategies and whole-model devices. */
export const OTHER_DEVICE = "__device__";

/** The errors at `path` and below it. */
export function errorsAt(errors: FieldError[], path: string): FieldError[] {
  return errors.filter((e) => e.field === path || e.field.startsWith(path + "."));
}

/** The form for a saved config, or for a new one (starting from QLoRA on int4 and the default chain). */
export function formOf(entry: ModelConfigEntry | null, defaultChain: string[]): ConfigForm {
  const c: ModelConfig = entry?.config ?? {
    preset: "int4",
    task: "train",
    method: "qlora",
    overrides: {},
    fallback_chain: [...defaultChain],
    notes: "",
  };
  const lora = c.lora;
  const o = c.overrides;
  const q = o.quantization ?? {};
  const map = o.device_map;
  return {
    model_id: entry?.model_id ?? "",
    isNew: entry === null,
    revision: entry?.revision ?? null,
    preset: c.preset,
    task: c.task,
    method: c.method ?? "full",
    useLora: lora !== undefined || c.method === "lora" || c.method === "qlora",
    rank: String(lora?.rank ?? 16),
    alpha: String(lora?.alpha ?? 8),
    dropout: String(lora?.dropout ?? 0),
    target:
      lora === undefined || !Array.isArray(lora.target_modules)
        ? "all-linear"
        : lora.target_modules.join(", "),
    loraDtype: lora?.dtype ?? "fp32",
    dtype: o.torch_dtype ?? null,
    deviceMap: map === undefined ? null : typeof map === "string" ? map : MODULES,
    modules: map !== undefined && typeof map !== "string" ? { ...map } : null,
    maxMemory:
      o.max_memory === undefined
        ? null
        : Object.entries(o.max_memory).map(([device, limit]) => ({ device, limit: String(limit) })),
    bnb: {
      load_in_8bit: q.load_in_8bit ?? null,
      load_in_4bit: q.load_in_4bit ?? null,
      llm_int8_threshold: q.llm_int8_threshold === undefined ? null : floatText(q.llm_int8_threshold),
      llm_int8_skip_modules: q.llm_int8_skip_modules === undefined ? null : q.llm_int8_skip_modules.join(", "),
      llm_int8_enable_fp32_cpu_offload: q.llm_int8_enable_fp32_cpu_offload ?? null,
      llm_int8_has_fp16_weight: q.llm_int8_has_fp16_weight ?? null,
      bnb_4bit_compute_dtype: q.bnb_4bit_compute_dtype ?? null,
      bnb_4bit_quant_type: q.bnb_4bit_quant_type ?? null,
      bnb_4bit_use_double_quant: q.bnb_4bit_use_double_quant ?? null,
      bnb_4bit_quant_storage: q.bnb_4bit_quant_storage ?? null,
    },
    chain: [...c.fallback_chain],
    notes: c.notes,
  };
}

const num = (s: string): number | string => (s.trim() !== "" && Number.isFinite(Number(s)) ? Number(s) : s);
/** A float written so it reads back as one (6 → "6.0"), as Python prints it. */
const floatText = (v: number): string => (Number.isInteger(v) ? v.toFixed(1) : String(v));

/** The overrides as the backend reads them: only what is set; text that should be a number goes as typed. */
function overridesOf(f: ConfigForm): Record<string, unknown> {
  const overrides: Record<string, unknown> = {};
  if (f.dtype !== null) overrides.torch_dtype = f.dtype;
  if (f.deviceMap === MODULES && f.modules) overrides.device_map = f.modules;
  else if (f.deviceMap !== null && f.deviceMap !== MODULES) overrides.device_map = f.deviceMap;
  if (f.maxMemory !== null) {
    const limits: Record<string, number | string> = {};
    for (const row of f.maxMemory) {
      // A bare integer is a byte count (accelerate takes int or str); anything else is checked as a size.
      limits[row.device.trim()] = /^\d+$/.test(row.limit.trim()) ? Number(row.limit.trim()) : row.limit.trim();
    }
    overrides.max_memory = limits;
  }
  const q: Record<string, unknown> = {};
  for (const { key } of BNB_FIELDS) {
    const v = f.bnb[key];
    if (v === null) continue;
    if (key === "llm_int8_threshold") q[key] = num(v as string);
    else if (key === "llm_int8_skip_modules")
      q[key] = (v as string)
        .split(",")
        .map((m) => m.trim())
        .filter((m) => m !== "");
    else q[key] = v;
  }
  if (Object.keys(q).length > 0) overrides.quantization = q;
  return overrides;
}

export function configOf(f: ConfigForm): unknown {
  const overrides = overridesOf(f);
  const lora = f.method === "lora" || f.method === "qlora";
  const target = f.target.trim() === "all-linear" ? "all-linear" : f.target.split(",").map((s) => s.trim());
  return {
    preset: f.preset,
    overrides,
    task: f.task,
    ...(f.task === "train" ? { method: f.method } : {}),
    ...(f.task === "train" && lora
      ? { lora: { rank: num(f.rank), alpha: num(f.alpha), dropout: num(f.dropout), target_modules: target, dtype: f.loraDtype } }
      : {}),
    fallback_chain: f.chain,
    notes: f.notes,
  };
}
