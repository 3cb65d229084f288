//! The plan as a file (or the UI) writes it (docs/contract.md §1): every key optional but `model` and `task`,
//! unknown and duplicate keys refused, counts that cannot be zero. Serde reads it, with the path of the key at
//! fault (see [`super::parse`]); the same type generates the plan's JSON Schema (docs/schemas/plan.schema.json)
//! and its TypeScript type, so the file format, the schema and the UI cannot drift apart.

use std::num::NonZeroU64;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::framework::Framework;
use super::types::{
    AttentionImpl, FitOn, KvDtype, LoraDtype, Method, Offload, Optimizer, Precision, PrefillLogits,
    Sharding, TargetModules, Task, MAX_COUNT,
};

/// A training or inference run to estimate. Every key but `model` and `task` is optional.
#[derive(Debug, Clone, Deserialize, JsonSchema, ts_rs::TS)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Headroom plan")]
pub struct PlanFile {
    /// Read by [`crate::model::ModelRef::from_value`], the one reader of a model reference.
    #[schemars(with = "ModelFile")]
    #[ts(type = "{ id: string } | { path: string } | { config: Record<string, unknown> }")]
    pub model: Value,
    pub task: Task,
    /// Train only; default `full`.
    #[ts(optional)]
    pub method: Option<Method>,
    /// Train only: the training framework, whose defaults fill the keys the plan leaves unset
    /// (docs/frameworks.md). Default `hf_trainer`.
    #[ts(optional)]
    pub framework: Option<Framework>,
    /// A preset name: built-in `fp32`, `bf16`, `fp16`, `int8`, `int4`, `int4_double`, `int4_offload`, `cpu`, or
    /// a user preset. Default: the model's stored dtype (`qlora` implies `int4`).
    #[ts(optional)]
    pub quantization: Option<String>,
    /// Default `bf16-mixed`.
    #[ts(optional)]
    pub precision: Option<Precision>,
    /// For `lora` and `qlora`.
    #[ts(optional)]
    pub lora: Option<LoraFile>,
    /// Embeddings and LM head trained in full beside LoRA. Default false.
    #[ts(optional)]
    pub trainable_embeddings: Option<bool>,
    /// Default `adamw`.
    #[ts(optional)]
    pub optimizer: Option<Optimizer>,
    /// The optimizer step fused into backward, gradients freed per parameter. Default false.
    #[ts(optional)]
    pub optimizer_in_backward: Option<bool>,
    /// Micro-batch per GPU. Default 1.
    #[ts(optional)]
    pub batch_size: Option<Count>,
    /// Tokens per sample (the prompt length for `infer`). Default 2048.
    #[ts(optional)]
    pub sequence_length: Option<Count>,
    /// Training only: the longest sample of each successive micro-batch, when a dataset's lengths vary (a batch
    /// padded to its longest sample). Its maximum is `sequence_length` (which defaults to it). Absent: every
    /// batch is `sequence_length` long.
    #[ts(optional)]
    pub sequence_lengths: Option<Vec<Count>>,
    /// Default 1.
    #[ts(optional)]
    pub gradient_accumulation_steps: Option<Count>,
    /// Default false.
    #[ts(optional)]
    pub gradient_checkpointing: Option<bool>,
    /// Default `sdpa`.
    #[ts(optional)]
    pub attention: Option<AttentionImpl>,
    /// Default false.
    #[ts(optional)]
    pub chunked_loss: Option<bool>,
    /// Default false.
    #[ts(optional)]
    pub activation_offload: Option<bool>,
    /// Tokens generated after the prompt (`infer` only). Default 0.
    #[ts(optional)]
    pub new_tokens: Option<Whole>,
    /// `infer` only. Default: the compute dtype.
    #[ts(optional)]
    pub kv_cache_dtype: Option<KvDtype>,
    /// The GPUs of one machine. Omitted: no fit verdict.
    #[ts(optional)]
    pub gpus: Option<GpusFile>,
    /// Machines, each with `gpus.count` GPUs. Default 1; more than 1 needs `gpus`.
    #[ts(optional)]
    pub nodes: Option<Count>,
    /// Default `none` (plain data parallel).
    #[ts(optional)]
    pub sharding: Option<Sharding>,
    /// Default `none`.
    #[ts(optional)]
    pub offload: Option<Offload>,
    /// Fraction of GPU memory kept free for the fit verdict: at least 0, below 1. Default 0.10.
    #[schemars(range(min = 0.0), extend("exclusiveMaximum" = 1.0))]
    #[ts(optional)]
    pub margin: Option<f64>,
    /// Extension: which figure of the estimate's band decides "fits": `high` (its upper end) or `central`.
    /// Default `high`.
    #[ts(optional)]
    pub fit_on: Option<FitOn>,
    /// Extension (`freeze` only): decoder layers trained. Default 2.
    #[ts(optional)]
    pub freeze_trainable_layers: Option<Count>,
    /// Extension: PEFT's `prepare_model_for_kbit_training` casts non-quantized parameters to fp32. Default: on
    /// for training on a quantized base.
    #[ts(optional)]
    pub kbit_upcast: Option<bool>,
    /// Extension: quantize `lm_head` too. Default false.
    #[ts(optional)]
    pub quantize_lm_head: Option<bool>,
    /// Extension (bitsandbytes presets): the bitsandbytes release the run uses, e.g. `"0.41.3"`. Releases before
    /// 0.43.2 keep every 4-bit layer's input for backward. Default: not said; the estimate assumes a later
    /// release and the band's upper end allows for an earlier one.
    #[ts(optional)]
    pub bitsandbytes_version: Option<String>,
    /// Extension (training with gradient checkpointing): `use_reentrant` of `torch.utils.checkpoint`, as
    /// `gradient_checkpointing_kwargs` passes it. Default: the framework's.
    #[ts(optional)]
    pub use_reentrant: Option<bool>,
    /// Extension (`infer`): logits of the last prompt token only, or of all. Default `last`.
    #[ts(optional)]
    pub prefill_logits: Option<PrefillLogits>,
    /// Extension (`infer`): the model hands its KV cache back as tuples (transformers before 4.42, remote-code
    /// models such as Qwen v1), so each decode step builds every layer's longer cache while the caller still holds
    /// the old one. Default false (transformers' `DynamicCache`, which replaces one layer at a time).
    #[ts(optional)]
    pub legacy_kv_cache: Option<bool>,
    /// Extension: the run sets `PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True`, so the caching allocator grows
    /// one segment per stream and maps freed pages to new requests: changing lengths and blocks freed before
    /// larger requests leave nothing reserved beyond the usual slack. Default false.
    #[ts(optional)]
    pub expandable_segments: Option<bool>,
    /// Extension: the model runs under `torch.compile`. Default false.
    #[ts(optional)]
    pub torch_compile: Option<bool>,
    /// Extension (FSDP with LoRA/QLoRA): frozen base weights share an FSDP unit with trainable adapters.
    #[ts(optional)]
    pub fsdp_frozen_in_trainable_units: Option<bool>,
    /// Extension (FSDP): non-final micro-batches of gradient accumulation run under `no_sync()`.
    #[ts(optional)]
    pub fsdp_no_sync: Option<bool>,
}

/// Exactly one of `id`, `path` or `config` (for the schema; the model is read by `ModelRef::from_value`).
#[derive(Debug, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[allow(dead_code)]
enum ModelFile {
    /// A catalog id, or the id of a model in the local Hugging Face cache.
    Id(#[schemars(length(min = 1))] String),
    /// A folder with config.json and optionally safetensors.
    Path(#[schemars(length(min = 1))] String),
    /// A config.json object.
    Config(Map<String, Value>),
}

/// LoRA settings; defaults: rank 16, alpha 2 × rank, dropout 0, `all-linear`, `fp32`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct LoraFile {
    #[ts(optional)]
    pub rank: Option<Count>,
    /// A positive number.
    #[schemars(extend("exclusiveMinimum" = 0.0))]
    #[ts(optional)]
    pub alpha: Option<f64>,
    /// At least 0 and below 1.
    #[schemars(range(min = 0.0), extend("exclusiveMaximum" = 1.0))]
    #[ts(optional)]
    pub dropout: Option<f64>,
    #[ts(optional)]
    pub target_modules: Option<TargetModules>,
    /// `fp32` (PEFT upcasts adapters) or a 16-bit type kept by some frameworks.
    #[ts(optional)]
    pub dtype: Option<LoraDtype>,
}

/// `count` with exactly one of `memory_gib` (per GPU), `memory_bytes` (per GPU, exact) or `model` (a catalog GPU
/// name).
#[derive(Debug, Clone, Deserialize, JsonSchema, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct GpusFile {
    pub count: Count,
    /// GiB (2^30 bytes) per GPU.
    #[schemars(range(max = 1.0e6), extend("exclusiveMinimum" = 0.0))]
    #[ts(optional)]
    pub memory_gib: Option<f64>,
    /// Bytes per GPU, for callers that hold an exact figure (a detected GPU's free memory).
    #[ts(optional, type = "number")]
    pub memory_bytes: Option<NonZeroU64>,
    #[ts(optional)]
    pub model: Option<String>,
}

/// A positive whole number, at most [`MAX_COUNT`]: zero, negatives and fractions are refused when read, so a
/// count of zero cannot exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ts_rs::TS)]
#[ts(type = "number")]
pub struct Count(pub NonZeroU64);

/// A whole number from 0 to [`MAX_COUNT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ts_rs::TS)]
#[ts(type = "number")]
pub struct Whole(pub u64);

impl Count {
    pub fn get(self) -> u64 {
        self.0.get()
    }
}

/// Reads a JSON number as a whole number from `min` to [`MAX_COUNT`], saying what is wrong in the words the
/// CLI prints after the key (`must be a positive integer, got 0`).
fn whole_number<'de, D: Deserializer<'de>>(d: D, min: u64) -> Result<u64, D::Error> {
    struct Visit(u64);
    impl serde::de::Visitor<'_> for Visit {
        type Value = u64;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str(if self.0 == 0 {
                "a whole number"
            } else {
                "a positive integer"
            })
        }
        fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<u64, E> {
            if n < self.0 {
                Err(E::custom(format!("must be a positive integer, got {n}")))
            } else if n > MAX_COUNT {
                Err(E::custom(format!(
                    "{n} is implausibly large (at most {MAX_COUNT})"
                )))
            } else {
                Ok(n)
            }
        }
        fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<u64, E> {
            match u64::try_from(n) {
                Ok(n) => self.visit_u64(n),
                Err(_) => Err(E::custom(format!(
                    "must be a {}, got {n}",
                    if self.0 == 0 {
                        "whole number at least 0"
                    } else {
                        "positive integer"
                    }
                ))),
            }
        }
        fn visit_f64<E: serde::de::Error>(self, x: f64) -> Result<u64, E> {
            Err(E::custom(format!("must be a whole number, got {x}")))
        }
    }
    d.deserialize_any(Visit(min))
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = whole_number(d, 1)?;
        NonZeroU64::new(n)
            .map(Count)
            .ok_or_else(|| serde::de::Error::custom("must be a positive integer, got 0"))
    }
}

impl<'de> Deserialize<'de> for Whole {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        whole_number(d, 0).map(Whole)
    }
}

impl JsonSchema for Count {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Count".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "integer", "minimum": 1, "maximum": MAX_COUNT})
    }
}

impl JsonSchema for Whole {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Whole".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "integer", "minimum": 0, "maximum": MAX_COUNT})
    }
}
