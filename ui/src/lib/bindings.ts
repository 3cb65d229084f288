// Generated from the Rust types by src-tauri/src/bindings.rs. Do not edit: run
// `UPDATE_BINDINGS=1 cargo test -p headroom bindings` after changing a type.

export type Language = "auto" | "en" | "ja";

export type Theme = "system" | "light" | "dark";

export type Settings = { language: Language, theme: Theme, };

export type Quarantine = { original: string, moved_to: string, reason: string, };

export type AppPaths = { 
/**
 * Settings, presets, per-model configs, environment profiles (`~/.config/headroom` on Linux).
 */
config_dir: string, 
/**
 * Recordings and run history (`~/.local/share/headroom` on Linux).
 */
data_dir: string, 
/**
 * Log files, size-bounded (`<data_dir>/logs`).
 */
log_dir: string, };

export type AppInfo = { version: string, paths: AppPaths, log_file: string, 
/**
 * The OS locale (`LC_ALL`, `LC_MESSAGES`, then `LANG`), used when the language setting is `auto`.
 */
locale: string | null, 
/**
 * Files that could not be read at start-up and were moved aside.
 */
quarantined: Array<Quarantine>, };

export type ErrorCode = "invalid" | "conflict" | "io" | "internal";

export type IpcError = { code: ErrorCode, message: string, };

export type Device = "cuda" | "cpu";

export type TorchDtype = "auto" | "float32" | "float16" | "bfloat16";

export type Placement = string | number;

export type DeviceMap = string | { [key in string]: Placement };

export type LoadSettings = { device: Device, torch_dtype: TorchDtype, device_map?: DeviceMap, 
/**
 * Device (`"0"`, `"1"`, `"cpu"`, `"disk"`) → limit, such as `{"0": "10GB", "cpu": "30GB"}`. GPU keys are
 * strings here because JSON keys are; exports turn them into the integers accelerate requires.
 */
max_memory?: Record<string, string | number>, };

export type ComputeDtype = "float32" | "float16" | "bfloat16";

export type QuantType = "fp4" | "nf4";

export type QuantStorage = "float16" | "float32" | "int8" | "uint8" | "float64" | "bfloat16";

export type BnbConfig = { load_in_8bit: boolean, load_in_4bit: boolean, 
/**
 * Outlier threshold of LLM.int8(); always a float (transformers raises `TypeError` for an int).
 */
llm_int8_threshold: number, llm_int8_skip_modules: Array<string> | null, llm_int8_enable_fp32_cpu_offload: boolean, llm_int8_has_fp16_weight: boolean, bnb_4bit_compute_dtype: ComputeDtype, bnb_4bit_quant_type: QuantType, bnb_4bit_use_double_quant: boolean, bnb_4bit_quant_storage: QuantStorage, };

export type PresetBody = { description: string, load: LoadSettings, 
/**
 * `None` for presets that load the weights unquantized (`fp32`, `bf16`, `fp16`, `cpu`).
 */
quantization: BnbConfig | null, };

export type Revision = string | null;

export type Preset = { name: string, 
/**
 * Built-ins cannot be edited, renamed or deleted; duplicate them instead.
 */
builtin: boolean, 
/**
 * For saved presets: what was read, for the conflict check on save. `null` for built-ins.
 */
revision: Revision, body: PresetBody, };

export type FieldError = { field: string, message: string, };

export type SkippedFile = { path: string, reason: string, };

export type PresetList = { 
/**
 * Built-ins first (in [`builtin::NAMES`] order), then saved presets by name.
 */
presets: Array<Preset>, 
/**
 * Files that could not be read, moved aside; the rest loaded.
 */
quarantined: Array<Quarantine>, skipped: Array<SkippedFile>, };

export type Task = "train" | "infer";

export type Method = "full" | "lora" | "qlora" | "freeze";

export type TargetModules = AllLinear | Array<string>;

export type AllLinear = "all-linear";

export type LoraDtype = "fp32" | "bf16" | "fp16";

export type LoraSettings = { rank: number, alpha: number, dropout: number, target_modules: TargetModules, dtype: LoraDtype, };

export type BnbOverrides = { load_in_8bit?: boolean, load_in_4bit?: boolean, llm_int8_threshold?: number, llm_int8_skip_modules?: Array<string>, llm_int8_enable_fp32_cpu_offload?: boolean, llm_int8_has_fp16_weight?: boolean, bnb_4bit_compute_dtype?: ComputeDtype, bnb_4bit_quant_type?: QuantType, bnb_4bit_use_double_quant?: boolean, bnb_4bit_quant_storage?: QuantStorage, };

export type PresetOverrides = { torch_dtype?: TorchDtype, device_map?: DeviceMap, max_memory?: Record<string, string | number>, quantization?: BnbOverrides, };

export type ModelConfig = { 
/**
 * A built-in or user preset name.
 */
preset: string, overrides: PresetOverrides, task: Task, 
/**
 * Train only; `full` when absent.
 */
method?: Method, 
/**
 * With `method` `lora` or `qlora`.
 */
lora?: LoraSettings, 
/**
 * Presets the launcher falls back to, in order, after an out-of-memory failure (see [`Self::attempts`]).
 */
fallback_chain: Array<string>, notes: string, };

export type ModelConfigEntry = { model_id: string, revision: Revision, config: ModelConfig, };

export type ConfigList = { configs: Array<ModelConfigEntry>, quarantined: Array<Quarantine>, skipped: Array<SkippedFile>, };

export type ImportSource = "preset" | "bnb_json" | "model_config_json";

export type OnConflict = "fail" | "skip" | "replace";

export type ImportCounts = { added: Array<string>, replaced: Array<string>, 
/**
 * Already here with the same settings.
 */
unchanged: Array<string>, 
/**
 * Here with different settings, kept (`OnConflict::Skip`).
 */
skipped: Array<string>, };

export type ImportReport = { presets: ImportCounts, model_configs: ImportCounts, };

export type PresetCheck = { 
/**
 * Empty when the draft can be saved.
 */
errors: Array<FieldError>, 
/**
 * `BitsAndBytesConfig(...).to_dict()` as JSON; `null` for a preset that does not quantize (or an invalid
 * draft).
 */
bnb_json: string | null, 
/**
 * The `from_pretrained` keyword arguments as JSON (what the launcher passes); `null` for an invalid draft.
 */
kwargs_json: string | null, 
/**
 * Each `max_memory` limit in bytes, as accelerate reads it (empty for an invalid draft).
 */
max_memory_bytes: { [key in string]: number }, };

export type Renamed = { preset: Preset, 
/**
 * Model ids whose config named the old name and now name the new one.
 */
configs_changed: Array<string>, };

export type ExportFormat = "bnb_json" | "python";

export type Exported = { path: string, text: string, 
/**
 * Files that could not be read and so are not in a bundle.
 */
quarantined: Array<Quarantine>, };

export type ImportedAs = { source: ImportSource, preset: Preset, };
