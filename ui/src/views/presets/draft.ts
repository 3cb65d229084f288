// The preset form's state, and its conversion to and from the JSON the backend checks. Values are kept as
// typed: a threshold that is not a number goes to the backend as a string, so the error comes back on the
// field with transformers' rule, instead of being silently coerced here.

import type { ComputeDtype, Device, PresetBody, QuantStorage, QuantType, TorchDtype } from "../../lib/bindings";

export type QuantMode = "none" | "8bit" | "4bit";
export const MODULES = "__modules__";

export interface MemoryRow {
  device: string;
  limit: string;
}

export interface PresetForm {
  description: string;
  device: Device;
  torch_dtype: TorchDtype;
  /** "" (not set), a strategy or device name, or MODULES for a per-module map kept as it was. */
  device_map: string;
  modules: Record<string, string | number> | null;
  max_memory: MemoryRow[];
  mode: QuantMode;
  llm_int8_threshold: string;
  llm_int8_skip_modules: string;
  llm_int8_enable_fp32_cpu_offload: boolean;
  llm_int8_has_fp16_weight: boolean;
  bnb_4bit_compute_dtype: ComputeDtype;
  bnb_4bit_quant_type: QuantType;
  bnb_4bit_use_double_quant: boolean;
  bnb_4bit_quant_storage: QuantStorage;
}

export const TORCH_DTYPES: TorchDtype[] = ["auto", "float32", "float16", "bfloat16"];
export const COMPUTE_DTYPES: ComputeDtype[] = ["float32", "float16", "bfloat16"];
export const QUANT_TYPES: QuantType[] = ["fp4", "nf4"];
export const QUANT_STORAGES: QuantStorage[] = ["uint8", "int8", "float16", "bfloat16", "float32", "float64"];
/** accelerate's strategies and whole-model devices that `device_map` accepts as a string. */
export const DEVICE_MAPS = ["auto", "balanced", "balanced_low_0", "sequential", "cpu", "cuda"];

export function formOf(body: PresetBody): PresetForm {
  const q = body.quantization;
  const map = body.load.device_map;
  return {
    description: body.description,
    device: body.load.device,
    torch_dtype: body.load.torch_dtype,
    device_map: map === undefined ? "" : typeof map === "string" ? map : MODULES,
    modules: map !== undefined && typeof map !== "string" ? { ...map } : null,
    max_memory: Object.entries(body.load.max_memory ?? {}).map(([device, limit]) => ({
      device,
      limit: String(limit),
    })),
    mode: q?.load_in_4bit ? "4bit" : q?.load_in_8bit ? "8bit" : "none",
    // transformers' BitsAndBytesConfig() defaults for a preset that did not quantize yet.
    llm_int8_threshold: q ? floatText(q.llm_int8_threshold) : "6.0",
    llm_int8_skip_modules: q?.llm_int8_skip_modules?.join(", ") ?? "",
    llm_int8_enable_fp32_cpu_offload: q?.llm_int8_enable_fp32_cpu_offload ?? false,
    llm_int8_has_fp16_weight: q?.llm_int8_has_fp16_weight ?? false,
    bnb_4bit_compute_dtype: q?.bnb_4bit_compute_dtype ?? "float32",
    bnb_4bit_quant_type: q?.bnb_4bit_quant_type ?? "fp4",
    bnb_4bit_use_double_quant: q?.bnb_4bit_use_double_quant ?? false,
    bnb_4bit_quant_storage: q?.bnb_4bit_quant_storage ?? "uint8",
  };
}

/** A float written so it reads back as one (6 → "6.0"), as Python prints it. */
function floatText(v: number): string {
  return Number.isInteger(v) ? v.toFixed(1) : String(v);
}

/** A number where the text is one, the text otherwise (for the backend to name the field). */
function numberOrText(text: string): number | string {
  const t = text.trim();
  return t !== "" && Number.isFinite(Number(t)) ? Number(t) : text;
}

/** The draft as JSON for `check_preset` / `save_preset`. */
export function bodyOf(f: PresetForm): unknown {
  const max_memory: Record<string, number | string> = {};
  for (const row of f.max_memory) {
    max_memory[row.device] = /^\d+$/.test(row.limit.trim()) ? Number(row.limit.trim()) : row.limit;
  }
  const load: Record<string, unknown> = { device: f.device, torch_dtype: f.torch_dtype };
  if (f.device_map === MODULES && f.modules) load.device_map = f.modules;
  else if (f.device_map !== "" && f.device_map !== MODULES) load.device_map = f.device_map;
  if (f.max_memory.length > 0) load.max_memory = max_memory;
  const skip = f.llm_int8_skip_modules
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const quantization =
    f.mode === "none"
      ? null
      : {
          load_in_8bit: f.mode === "8bit",
          load_in_4bit: f.mode === "4bit",
          llm_int8_threshold: numberOrText(f.llm_int8_threshold),
          llm_int8_skip_modules: skip.length > 0 ? skip : null,
          llm_int8_enable_fp32_cpu_offload: f.llm_int8_enable_fp32_cpu_offload,
          llm_int8_has_fp16_weight: f.llm_int8_has_fp16_weight,
          bnb_4bit_compute_dtype: f.bnb_4bit_compute_dtype,
          bnb_4bit_quant_type: f.bnb_4bit_quant_type,
          bnb_4bit_use_double_quant: f.bnb_4bit_use_double_quant,
          bnb_4bit_quant_storage: f.bnb_4bit_quant_storage,
        };
  return { description: f.description, load, quantization };
}
