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

export type ErrorCode = "invalid" | "conflict" | "io" | "no_driver" | "internal";

export type IpcError = { code: ErrorCode, message: string, };

export type Components = { weights: number, lora: number, gradients: number, optimizer: number, activations: number, logits: number, kv_cache: number, workspace: number, };

export type PerGpu = { components: Components, 
/**
 * What `torch.cuda.max_memory_allocated()` would report: the sum of `components`.
 */
allocated_peak_bytes: number, allocator_overhead_bytes: number, 
/**
 * What `torch.cuda.max_memory_reserved()` would report: allocated + allocator overhead.
 */
reserved_peak_bytes: number, 
/**
 * CUDA managed memory the caching allocator never sees (bitsandbytes' paged optimizer states).
 */
managed_memory_bytes: number, cuda_context_bytes: number, 
/**
 * What nvidia-smi/NVML would show for the process: reserved + managed + context.
 */
device_peak_bytes: number, };

export type ParameterSummary = { total: number, trainable: number, };

export type Estimate = { per_gpu: PerGpu, 
/**
 * Host RAM the run needs beyond the Python process itself: offloaded optimizer states, parameters,
 * activations, layers a preset keeps on the CPU.
 */
cpu_bytes: number, parameters: ParameterSummary, 
/**
 * Present when the plan gives `gpus`.
 */
fits?: boolean, 
/**
 * GPU memory × (1 − margin) − device peak; negative when it does not fit.
 */
headroom_bytes?: number, notes: Array<string>, };

export type WeightFormat = { "kind": "f32" } | { "kind": "f16" } | { "kind": "bf16" } | { "kind": "int8" } | { "kind": "int4", double_quant: boolean, };

export type Placement = "gpu" | "gpu_with_cpu_offload" | "cpu";

export type Limits = { max_batch_size: number | null, max_sequence_length: number | null, };

export type RankedPreset = { preset: string, format: WeightFormat, placement: Placement, fits: boolean, device_peak_bytes: number, headroom_bytes: number, limits: Limits, 
/**
 * What the preset costs in quality or speed, in words.
 */
caveat: string | null, 
/**
 * Why the preset cannot run this plan at all (e.g. quantized weights with full fine-tuning).
 */
unavailable: string | null, };

export type Suggestion = { change: string, 
/**
 * Device peak after the change minus before: negative is a saving.
 */
delta_bytes: number, device_peak_bytes: number, fits: boolean, 
/**
 * The whole plan with the change applied, as CONTRACTS.md §1 writes it: what "apply" loads.
 */
plan: Record<string, unknown>, };

export type VerdictKind = "fits" | "tight" | "does_not_fit";

export type Verdict = { kind: VerdictKind, bytes: number, };

export type ModelSummary = { id: string, model_type: string, parameters: number, };

export type PlanAnswer = { 
/**
 * The plan with every default filled in, as CONTRACTS.md §1 writes it (what "save" stores).
 */
plan: Record<string, unknown>, model: ModelSummary, 
/**
 * The preset the weights are sized with (the plan's, or "stored dtype").
 */
preset: string, estimate: Estimate, 
/**
 * Memory of one GPU and what the margin leaves of it; `null` without `gpus`.
 */
gpu_memory_bytes: number | null, usable_bytes: number | null, verdict: Verdict | null, 
/**
 * The largest micro-batch and longest sequence that fit; `null` without `gpus`.
 */
limits: Limits | null, 
/**
 * Every preset ranked for this plan; empty without `gpus`.
 */
ranked: Array<RankedPreset>, 
/**
 * Changes that would make it fit, most helpful first; empty without `gpus`.
 */
suggestions: Array<Suggestion>, };

export type GpuModel = { 
/**
 * The name a plan uses in `gpus.model`.
 */
name: string, 
/**
 * What NVML calls it (`nvmlDeviceGetName`), for matching a detected GPU to this entry.
 */
nvml_name: string, memory_bytes: number, 
/**
 * CUDA compute capability major × 10 + minor (86 = sm_86); Hopper (90) and newer get a larger cuBLAS
 * workspace (FORMULAS.md §6).
 */
compute_capability: number, };

export type MachineGpu = { index: number, name: string, memory_bytes: number, 
/**
 * The catalog entry with the same NVML name, when there is one.
 */
catalog_name: string | null, 
/**
 * The plan's `gpus` value for this GPU (count 1): the catalog name when known, else its exact memory.
 */
plan_gpus: Record<string, unknown>, };

export type CachedModel = { 
/**
 * `org/name`, from the folder name `models--org--name`.
 */
id: string, 
/**
 * The repository folder.
 */
path: string, 
/**
 * The commit `refs/main` points to, when it exists.
 */
revision: string | null, 
/**
 * The snapshot folder to read: that of `refs/main`, else the most recently modified one.
 */
snapshot: string | null, 
/**
 * Every snapshot commit present.
 */
snapshots: Array<string>, 
/**
 * Bytes on disk, every file counted once.
 */
size_on_disk_bytes: number, 
/**
 * Whether the chosen snapshot has a config.json.
 */
has_config: boolean, 
/**
 * What could not be read (a broken symlink, an unreadable folder), in words.
 */
problems: Array<string>, };

export type CatalogModel = { id: string, model_type: string | null, };

export type HfCacheList = { 
/**
 * `null` when no cache folder could be determined (no HF_HUB_CACHE, HF_HOME nor home directory).
 */
cache_dir: string | null, models: Array<CachedModel>, };

export type GpuChoices = { catalog: Array<GpuModel>, machine: Array<MachineGpu>, 
/**
 * Why this machine's GPUs are not listed (no driver, …); `null` when they were read.
 */
machine_unavailable: string | null, };
