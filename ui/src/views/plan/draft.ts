// The Plan form's state and its translation to and from the plan contract (docs/contract.md §1). The form keeps
// what the person typed as text; the backend validates it and its error names the field, which lands next to
// that field. Nothing here computes memory.

import type { GpusFile, IpcError, PlanDraft } from "../../lib/api";
import { fieldOf } from "../../lib/errors";

export type ModelSource = "catalog" | "folder" | "cache" | "config";

export interface Draft {
  modelSource: ModelSource;
  modelId: string; // catalog or HF cache id
  modelPath: string;
  /** The snapshot folder of the model picked from the HF cache: read as a folder, so the local files count. */
  cachePath: string;
  /** A config.json the person pointed to (a model found nowhere else), sent as `{"config": {...}}`. */
  modelConfig: Record<string, unknown> | null;
  /** Where that config.json was read from, to show it; "" for a config that came in a loaded plan. */
  configPath: string;
  task: "train" | "infer";
  method: "full" | "lora" | "qlora" | "freeze";
  quantization: string; // "" = the model's stored dtype
  /** The training framework whose defaults fill what the form leaves unset (docs/frameworks.md). */
  framework: string;
  precision: string; // "" = the framework's default
  optimizer: string; // "" = the framework's default
  batchSize: string;
  sequenceLength: string;
  /** Training only: the longest sample of each successive micro-batch (plan key `sequence_lengths`,
   *  docs/estimator.md §10.3 "Varying batch lengths"), comma-separated; "" = not known: every batch counted at
   *  `sequenceLength`, and the band's upper end allows for lengths that change (§17). */
  sequenceLengths: string;
  /** Training only: every batch is padded or packed to `sequenceLength`, sent as that one length (nothing strands
   *  between lengths, so the band has no allowance for them). Wins over `sequenceLengths`. */
  fixedLengths: boolean;
  accumulation: string;
  newTokens: string;
  /** null: the framework's default, which the answer's plan shows. */
  checkpointing: boolean | null;
  loraRank: string;
  loraAlpha: string;
  loraTargets: string; // "all-linear" or comma-separated module names
  gpu: string; // "catalog:NAME", "memory" (custom size) or "none"
  gpuMemoryGib: string;
  gpuCount: string;
  nodes: string;
  sharding: string;
  offload: string;
  // advanced
  attention: string;
  chunkedLoss: boolean | null;
  activationOffload: boolean | null;
  optimizerInBackward: boolean;
  trainableEmbeddings: boolean;
  /** FSDP only: gradient accumulation under `no_sync()`, which keeps whole gradients between syncs. */
  fsdpNoSync: boolean;
  /** FSDP + LoRA only: frozen weights and adapters share a flat parameter (`use_orig_params=True`). */
  fsdpFrozenInUnits: boolean;
  kvCacheDtype: string; // "" = compute dtype
  /** The bitsandbytes release the run uses (plan key `bitsandbytes_version`); "" = not said: a current one, with
   *  the band's upper end allowing for an older one (docs/estimator.md §6.4). */
  bnbVersion: string;
  /** `use_reentrant` of gradient checkpointing; null: the framework's. */
  useReentrant: boolean | null;
  margin: string; // percent
  /** Plan keys the form does not show (a loaded or imported plan's `torch_compile`,
   *  `fit_on`, …): kept as they came and sent back unchanged, so a loaded plan saved again loses nothing. */
  others: Record<string, unknown>;
  /** The same for the `lora` object (`dropout`, `dtype`). */
  loraOthers: Record<string, unknown>;
}

/** The plan keys the form shows (planFromDraft writes them); every other key of a plan goes to `others`. */
const FORM_KEYS = new Set([
  "model", "task", "batch_size", "sequence_length", "sequence_lengths", "attention", "quantization", "precision", "margin", "method",
  "framework", "optimizer", "gradient_accumulation_steps", "gradient_checkpointing", "chunked_loss",
  "activation_offload", "optimizer_in_backward", "sharding", "offload", "fsdp_no_sync",
  "fsdp_frozen_in_trainable_units", "lora", "trainable_embeddings", "new_tokens", "kv_cache_dtype", "gpus", "nodes",
  "bitsandbytes_version", "use_reentrant",
]);
const LORA_FORM_KEYS = new Set(["rank", "alpha", "target_modules"]);

function without(object: Record<string, unknown>, shown: Set<string>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(object).filter(([key]) => !shown.has(key)));
}

export const DEFAULT_DRAFT: Draft = {
  modelSource: "catalog",
  modelId: "",
  modelPath: "",
  cachePath: "",
  modelConfig: null,
  configPath: "",
  task: "train",
  method: "qlora",
  quantization: "",
  framework: "hf_trainer",
  precision: "",
  optimizer: "",
  batchSize: "1",
  sequenceLength: "2048",
  sequenceLengths: "",
  fixedLengths: false,
  accumulation: "1",
  newTokens: "256",
  checkpointing: null,
  loraRank: "16",
  loraAlpha: "32",
  loraTargets: "all-linear",
  gpu: "catalog:RTX 4090",
  gpuMemoryGib: "24",
  gpuCount: "1",
  nodes: "1",
  sharding: "none",
  offload: "none",
  attention: "sdpa",
  chunkedLoss: null,
  activationOffload: null,
  optimizerInBackward: false,
  trainableEmbeddings: false,
  fsdpNoSync: false,
  fsdpFrozenInUnits: false,
  kvCacheDtype: "",
  bnbVersion: "",
  useReentrant: null,
  margin: "10",
  others: {},
  loraOthers: {},
};

/** A number when the text is one, else the text itself, so the backend names the field and what is wrong. */
function num(text: string): number | string {
  const t = text.trim();
  return t !== "" && Number.isFinite(Number(t)) ? Number(t) : t;
}

/**
 * The varying lengths as typed ("512, 1024 2048"): each entry a number when it is one, else its text, so the
 * backend names the entry and what is wrong (`sequence_lengths[1]`), as it does for every other field. Empty
 * text: no list (every batch has the sequence length).
 */
export function sequenceLengthsFrom(text: string): (number | string)[] {
  return text
    .split(/[\s,]+/)
    .filter((entry) => entry !== "")
    .map(num);
}

/**
 * The sequence length the varying lengths set: their longest, which the backend requires `sequence_length` to
 * equal; null when there is no list or an entry is not a positive whole number (the backend then names it).
 */
export function longestOf(lengths: (number | string)[]): number | null {
  if (lengths.length === 0) return null;
  if (!lengths.every((l) => typeof l === "number" && Number.isSafeInteger(l) && l >= 1)) return null;
  return Math.max(...(lengths as number[]));
}

/** PyTorch FSDP (either strategy): the only sharding the `fsdp_*` plan keys apply to. */
export function isFsdp(sharding: string): boolean {
  return sharding === "fsdp_full_shard" || sharding === "fsdp_shard_grad_op";
}

/** The plan the backend answers, or null when no model is chosen yet. */
export function planFromDraft(d: Draft): PlanDraft | null {
  const id = d.modelId.trim();
  const path = d.modelPath.trim();
  let model: Record<string, unknown>;
  if (d.modelSource === "folder") {
    if (!path) return null;
    model = { path };
  } else if (d.modelSource === "cache" && d.cachePath) {
    model = { path: d.cachePath };
  } else if (d.modelSource === "config") {
    if (!d.modelConfig) return null;
    model = { config: d.modelConfig };
  } else {
    if (!id) return null;
    model = { id };
  }
  const plan: PlanDraft = {
    ...d.others,
    model,
    task: d.task,
    batch_size: num(d.batchSize),
    sequence_length: num(d.sequenceLength),
    attention: d.attention,
  };
  if (d.quantization) plan.quantization = d.quantization;
  if (d.precision) plan.precision = d.precision;
  const marginPercent = num(d.margin);
  plan.margin = typeof marginPercent === "number" ? marginPercent / 100 : marginPercent;
  if (d.task === "train") {
    const lengths = sequenceLengthsFrom(d.sequenceLengths);
    if (d.fixedLengths) {
      plan.sequence_lengths = [plan.sequence_length];
    } else if (lengths.length > 0) {
      plan.sequence_lengths = lengths;
      // The sequence length follows the longest: the one the form shows while there is a list.
      const longest = longestOf(lengths);
      if (longest !== null) plan.sequence_length = longest;
    }
    plan.method = d.method;
    plan.framework = d.framework;
    // Unset keys take the framework's defaults, the same the wizard's ranking gets.
    if (d.optimizer) plan.optimizer = d.optimizer;
    plan.gradient_accumulation_steps = num(d.accumulation);
    if (d.checkpointing !== null) plan.gradient_checkpointing = d.checkpointing;
    if (d.chunkedLoss !== null) plan.chunked_loss = d.chunkedLoss;
    if (d.activationOffload !== null) plan.activation_offload = d.activationOffload;
    plan.optimizer_in_backward = d.optimizerInBackward;
    plan.sharding = d.sharding;
    plan.offload = d.offload;
    // The backend refuses these keys with any other sharding, so they go only with FSDP.
    if (isFsdp(d.sharding)) {
      plan.fsdp_no_sync = d.fsdpNoSync;
      if (d.method === "lora" || d.method === "qlora") plan.fsdp_frozen_in_trainable_units = d.fsdpFrozenInUnits;
    }
    if (d.method === "lora" || d.method === "qlora") {
      const targets = d.loraTargets.trim();
      plan.lora = {
        ...d.loraOthers,
        rank: num(d.loraRank),
        alpha: num(d.loraAlpha),
        target_modules:
          targets === "all-linear"
            ? "all-linear"
            : targets
                .split(",")
                .map((s) => s.trim())
                .filter((s) => s !== ""),
      };
      plan.trainable_embeddings = d.trainableEmbeddings;
    }
  } else {
    plan.new_tokens = num(d.newTokens);
    if (d.kvCacheDtype) plan.kv_cache_dtype = d.kvCacheDtype;
  }
  if (d.task === "train" && d.useReentrant !== null) plan.use_reentrant = d.useReentrant;
  if (d.bnbVersion.trim()) plan.bitsandbytes_version = d.bnbVersion.trim();
  if (d.gpu !== "none") {
    const gpus: { [K in keyof GpusFile]?: unknown } = { count: num(d.gpuCount) };
    if (d.gpu.startsWith("catalog:")) gpus.model = d.gpu.slice("catalog:".length);
    else gpus.memory_gib = num(d.gpuMemoryGib);
    plan.gpus = gpus;
    plan.nodes = num(d.nodes);
  }
  return plan;
}

const str = (v: unknown, fallback: string) => (v === undefined || v === null ? fallback : String(v));

/**
 * The form for a plan the backend wrote (a suggestion's changed plan, or a loaded file). Keys the form does not
 * show keep their defaults.
 */
export function draftFromPlan(plan: Record<string, unknown>, current: Draft): Draft {
  const d: Draft = { ...current };
  const model = (plan.model ?? {}) as Record<string, unknown>;
  if (typeof model.path === "string" && current.modelSource === "cache" && model.path === current.cachePath) {
    // Still the model picked from the cache.
  } else if (typeof model.path === "string") {
    d.modelSource = "folder";
    d.modelPath = model.path;
  } else if (model.config && typeof model.config === "object" && !Array.isArray(model.config)) {
    d.modelSource = "config";
    if (model.config !== current.modelConfig) d.configPath = "";
    d.modelConfig = model.config as Record<string, unknown>;
  } else if (typeof model.id === "string") {
    d.modelSource = current.modelSource === "cache" ? "cache" : "catalog";
    d.modelId = model.id;
  }
  d.task = plan.task === "infer" ? "infer" : "train";
  if (typeof plan.method === "string") d.method = plan.method as Draft["method"];
  d.quantization = str(plan.quantization, "");
  d.framework = str(plan.framework, d.framework);
  d.precision = str(plan.precision, d.precision);
  d.optimizer = str(plan.optimizer, d.optimizer);
  d.batchSize = str(plan.batch_size, d.batchSize);
  d.sequenceLength = str(plan.sequence_length, d.sequenceLength);
  // One length equal to the sequence length: every batch padded or packed to it. A plan without the list leaves
  // the lengths open; one with something other than a list keeps it as text, and the backend says what is wrong.
  const lengths = plan.sequence_lengths;
  d.fixedLengths =
    plan.task !== "infer" &&
    Array.isArray(lengths) &&
    lengths.length === 1 &&
    (plan.sequence_length === undefined || lengths[0] === plan.sequence_length);
  if (d.fixedLengths && plan.sequence_length === undefined) d.sequenceLength = String((lengths as unknown[])[0]);
  d.sequenceLengths = d.fixedLengths
    ? ""
    : Array.isArray(lengths)
      ? lengths.map(String).join(", ")
      : str(lengths, "");
  d.accumulation = str(plan.gradient_accumulation_steps, d.accumulation);
  d.newTokens = str(plan.new_tokens, d.newTokens);
  if (typeof plan.gradient_checkpointing === "boolean") d.checkpointing = plan.gradient_checkpointing;
  if (typeof plan.chunked_loss === "boolean") d.chunkedLoss = plan.chunked_loss;
  if (typeof plan.activation_offload === "boolean") d.activationOffload = plan.activation_offload;
  if (typeof plan.optimizer_in_backward === "boolean") d.optimizerInBackward = plan.optimizer_in_backward;
  if (typeof plan.trainable_embeddings === "boolean") d.trainableEmbeddings = plan.trainable_embeddings;
  d.fsdpNoSync = plan.fsdp_no_sync === true;
  d.fsdpFrozenInUnits = plan.fsdp_frozen_in_trainable_units === true;
  d.others = without(plan, FORM_KEYS);
  const lora = plan.lora as Record<string, unknown> | undefined;
  d.loraOthers = isObject(lora) ? without(lora, LORA_FORM_KEYS) : {};
  if (lora) {
    d.loraRank = str(lora.rank, d.loraRank);
    d.loraAlpha = str(lora.alpha, d.loraAlpha);
    d.loraTargets = Array.isArray(lora.target_modules)
      ? lora.target_modules.join(", ")
      : str(lora.target_modules, d.loraTargets);
  }
  d.attention = str(plan.attention, d.attention);
  d.kvCacheDtype = str(plan.kv_cache_dtype, "");
  d.bnbVersion = str(plan.bitsandbytes_version, "");
  d.useReentrant = typeof plan.use_reentrant === "boolean" ? plan.use_reentrant : null;
  d.sharding = str(plan.sharding, d.sharding);
  d.offload = str(plan.offload, d.offload);
  const gpus = plan.gpus as Record<string, unknown> | undefined;
  if (gpus) {
    d.gpuCount = str(gpus.count, d.gpuCount);
    if (typeof gpus.model === "string") d.gpu = `catalog:${gpus.model}`;
    else if (gpus.memory_gib !== undefined) {
      d.gpu = "memory";
      d.gpuMemoryGib = str(gpus.memory_gib, d.gpuMemoryGib);
    }
    d.nodes = str(plan.nodes, d.nodes);
  } else {
    d.gpu = "none";
  }
  if (typeof plan.margin === "number") d.margin = String(Math.round(plan.margin * 10000) / 100);
  return d;
}

/**
 * The form after applying a suggestion's plan. The backend writes every default out (`lora.dtype`, `kbit_upcast`,
 * …), which must not become kept keys that would then outlive a change of framework: a key the form does not show
 * is taken only where the suggestion changed it from the plan just answered (`answered`).
 */
export function draftFromSuggestion(
  plan: Record<string, unknown>,
  current: Draft,
  answered: Record<string, unknown> | null,
): Draft {
  const d = draftFromPlan(plan, current);
  // The backend writes the framework's use_reentrant out; it stays the framework's unless the suggestion changed it.
  if (JSON.stringify(plan.use_reentrant) === JSON.stringify(answered?.use_reentrant)) d.useReentrant = current.useReentrant;
  const changed = (next: Record<string, unknown>, before: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(next).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(before[k])));
  d.others = { ...current.others, ...changed(without(plan, FORM_KEYS), answered ?? {}) };
  const lora = isObject(plan.lora) ? without(plan.lora, LORA_FORM_KEYS) : {};
  const answeredLora = isObject(answered?.lora) ? answered.lora : {};
  d.loraOthers = { ...current.loraOthers, ...changed(lora, answeredLora) };
  return d;
}

/** Which form field an error is about: the plan key it names ("lora.rank"), the model and GPU keys grouped. */
export function errorField(error: IpcError): string {
  const key = fieldOf(error) ?? "";
  if (key.startsWith("model")) return "model";
  if (key === "gpus.memory_gib" || key === "gpus.model" || key === "gpus") return "gpus";
  // An entry of the list (`sequence_lengths[2]`) is the list's field.
  if (/^sequence_lengths(\[\d+\])?$/.test(key)) return "sequence_lengths";
  return /^[a-z_.]+$/.test(key) ? key : "plan";
}

/** The plan a trainer config import leaves (docs/trainers.md): the imported keys over the current plan, `gpus`
 *  and `lora` key by key (a config gives a GPU count, the form keeps the GPU's memory). A config that says the
 *  method also says the quantization: a method without one means none. */
export function mergeImported(
  current: Record<string, unknown> | null,
  imported: Record<string, unknown>,
): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...(current ?? {}) };
  for (const [key, value] of Object.entries(imported)) {
    const before = merged[key];
    if ((key === "gpus" || key === "lora") && isObject(before) && isObject(value)) {
      merged[key] = { ...before, ...value };
    } else {
      merged[key] = value;
    }
  }
  if ("method" in imported && !("quantization" in imported)) delete merged.quantization;
  return merged;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
