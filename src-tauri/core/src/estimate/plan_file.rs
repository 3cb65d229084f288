//! The plan as a file holds it (docs/contract.md §1), as a serde type. Its job today is to generate the plan's
//! JSON Schema (docs/schemas/plan.schema.json) from Rust rather than by hand; `plan.rs` parses the same keys and
//! the contract test checks the two agree key for key, so neither can drift from the other.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::plan::{
    AttentionImpl, KvDtype, LoraDtype, Method, Offload, Optimizer, Precision, PrefillLogits,
    Sharding, TargetModules, Task, MAX_COUNT,
};

/// A training or inference run to estimate. Every key but `model` and `task` is optional.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Headroom plan")]
pub struct PlanFile {
    pub model: ModelFile,
    pub task: Task,
    /// Train only; default `full`.
    pub method: Option<Method>,
    /// A preset name: built-in `fp32`, `bf16`, `fp16`, `int8`, `int4`, `int4_double`, `int4_offload`, `cpu`, or
    /// a user preset. Default: the model's stored dtype (`qlora` implies `int4`).
    pub quantization: Option<String>,
    /// Default `bf16-mixed`.
    pub precision: Option<Precision>,
    /// For `lora` and `qlora`.
    pub lora: Option<LoraFile>,
    /// Embeddings and LM head trained in full beside LoRA. Default false.
    pub trainable_embeddings: Option<bool>,
    /// Default `adamw`.
    pub optimizer: Option<Optimizer>,
    /// The optimizer step fused into backward, gradients freed per parameter. Default false.
    pub optimizer_in_backward: Option<bool>,
    /// Micro-batch per GPU. Default 1.
    #[schemars(range(min = 1, max = MAX_COUNT))]
    pub batch_size: Option<u64>,
    /// Tokens per sample (the prompt length for `infer`). Default 2048.
    #[schemars(range(min = 1, max = MAX_COUNT))]
    pub sequence_length: Option<u64>,
    /// Default 1.
    #[schemars(range(min = 1, max = MAX_COUNT))]
    pub gradient_accumulation_steps: Option<u64>,
    /// Default false.
    pub gradient_checkpointing: Option<bool>,
    /// Default `sdpa`.
    pub attention: Option<AttentionImpl>,
    /// Default false.
    pub chunked_loss: Option<bool>,
    /// Default false.
    pub activation_offload: Option<bool>,
    /// Tokens generated after the prompt (`infer` only). Default 0.
    #[schemars(range(max = MAX_COUNT))]
    pub new_tokens: Option<u64>,
    /// Default: the compute dtype.
    pub kv_cache_dtype: Option<KvDtype>,
    /// The GPUs of one machine. Omitted: no fit verdict.
    pub gpus: Option<GpusFile>,
    /// Machines, each with `gpus.count` GPUs. Default 1; more than 1 needs `gpus`.
    #[schemars(range(min = 1, max = MAX_COUNT))]
    pub nodes: Option<u64>,
    /// Default `none` (plain data parallel).
    pub sharding: Option<Sharding>,
    /// Default `none`.
    pub offload: Option<Offload>,
    /// Fraction of GPU memory kept free for the fit verdict: at least 0, below 1. Default 0.10.
    #[schemars(range(min = 0.0), extend("exclusiveMaximum" = 1.0))]
    pub margin: Option<f64>,
    /// Extension (`freeze` only): decoder layers trained. Default 2.
    #[schemars(range(min = 1, max = MAX_COUNT))]
    pub freeze_trainable_layers: Option<u64>,
    /// Extension: PEFT's `prepare_model_for_kbit_training` casts non-quantized parameters to fp32. Default: on
    /// for training on a quantized base.
    pub kbit_upcast: Option<bool>,
    /// Extension: quantize `lm_head` too. Default false.
    pub quantize_lm_head: Option<bool>,
    /// Extension (`infer`): logits of the last prompt token only, or of all. Default `last`.
    pub prefill_logits: Option<PrefillLogits>,
    /// Extension: the model runs under `torch.compile`. Default false.
    pub torch_compile: Option<bool>,
    /// Extension (FSDP with LoRA/QLoRA): frozen base weights share an FSDP unit with trainable adapters.
    pub fsdp_frozen_in_trainable_units: Option<bool>,
    /// Extension (FSDP): non-final micro-batches of gradient accumulation run under `no_sync()`.
    pub fsdp_no_sync: Option<bool>,
}

/// Exactly one of `id`, `path` or `config`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ModelFile {
    /// A catalog id, or the id of a model in the local Hugging Face cache.
    Id(#[schemars(length(min = 1))] String),
    /// A folder with config.json and optionally safetensors.
    Path(#[schemars(length(min = 1))] String),
    /// A config.json object.
    Config(Map<String, Value>),
}

/// LoRA settings; defaults: rank 16, alpha 2 × rank, dropout 0, `all-linear`, `fp32`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoraFile {
    #[schemars(range(min = 1, max = MAX_COUNT))]
    pub rank: Option<u64>,
    /// A positive number.
    #[schemars(extend("exclusiveMinimum" = 0.0))]
    pub alpha: Option<f64>,
    /// At least 0 and below 1.
    #[schemars(range(min = 0.0), extend("exclusiveMaximum" = 1.0))]
    pub dropout: Option<f64>,
    pub target_modules: Option<TargetModules>,
    /// `fp32` (PEFT upcasts adapters) or a 16-bit type kept by some frameworks.
    pub dtype: Option<LoraDtype>,
}

/// `count` with either `memory_gib` (per GPU) or `model` (a catalog GPU name).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GpusFile {
    #[schemars(range(min = 1, max = MAX_COUNT))]
    pub count: u64,
    /// GiB (2^30 bytes) per GPU.
    #[schemars(range(max = 1.0e6), extend("exclusiveMinimum" = 0.0))]
    pub memory_gib: Option<f64>,
    pub model: Option<String>,
}

/// The top-level keys the schema allows, for the agreement test with the parser.
pub fn top_level_keys() -> Vec<String> {
    let schema = schemars::schema_for!(PlanFile);
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}
