//! A plan (CONTRACTS.md §1): what the user means to run. Parsed by hand from JSON so that every error names
//! the key it is about (`lora.rank: must be a positive integer, got 0`), unknown keys included.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::gpus;
use super::preset::PresetInfo;
use crate::{Error, Result};

/// Where the model comes from: exactly one of `id`, `path`, `config` (model discovery resolves it).
pub use crate::model::ModelRef;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    Train,
    Infer,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Full,
    Lora,
    Qlora,
    /// Freeze tuning (LLaMA-Factory `finetuning_type: freeze`): only the last `freeze_trainable_layers` decoder
    /// layers are trained.
    Freeze,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
pub enum Precision {
    #[serde(rename = "fp32")]
    Fp32,
    #[serde(rename = "fp16-mixed")]
    Fp16Mixed,
    #[serde(rename = "bf16-mixed")]
    Bf16Mixed,
    #[serde(rename = "bf16-true")]
    Bf16True,
    #[serde(rename = "fp16-true")]
    Fp16True,
}

impl Precision {
    /// Bytes of one activation element.
    pub fn compute_bytes(self) -> u64 {
        if self == Precision::Fp32 {
            4
        } else {
            2
        }
    }
    pub fn is_mixed(self) -> bool {
        matches!(self, Precision::Fp16Mixed | Precision::Bf16Mixed)
    }
    pub fn is_true16(self) -> bool {
        matches!(self, Precision::Fp16True | Precision::Bf16True)
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Optimizer {
    Adamw,
    // serde's snake_case would write `adamw8bit`; the contract's names have an underscore before the digits.
    #[serde(rename = "adamw_8bit")]
    Adamw8bit,
    #[serde(rename = "paged_adamw_8bit")]
    PagedAdamw8bit,
    #[serde(rename = "paged_adamw_32bit")]
    PagedAdamw32bit,
    Sgd,
    SgdMomentum,
    Adafactor,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AttentionImpl {
    Eager,
    Sdpa,
    Flash,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum KvDtype {
    Fp32,
    Bf16,
    Fp16,
    Fp8,
    Int8,
    Int4,
}

impl KvDtype {
    /// Bits of one cached element.
    pub fn bits(self) -> u64 {
        match self {
            KvDtype::Fp32 => 32,
            KvDtype::Bf16 | KvDtype::Fp16 => 16,
            KvDtype::Fp8 | KvDtype::Int8 => 8,
            KvDtype::Int4 => 4,
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Sharding {
    None,
    Zero1,
    Zero2,
    Zero3,
    FsdpFullShard,
    FsdpShardGradOp,
}

impl Sharding {
    pub fn shards_optimizer(self) -> bool {
        self != Sharding::None
    }
    pub fn shards_gradients(self) -> bool {
        matches!(
            self,
            Sharding::Zero2 | Sharding::Zero3 | Sharding::FsdpFullShard | Sharding::FsdpShardGradOp
        )
    }
    /// PyTorch FSDP (either strategy), as opposed to DeepSpeed ZeRO or plain data parallel.
    pub fn is_fsdp(self) -> bool {
        matches!(self, Sharding::FsdpFullShard | Sharding::FsdpShardGradOp)
    }
    pub fn shards_parameters(self) -> bool {
        matches!(self, Sharding::Zero3 | Sharding::FsdpFullShard)
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Offload {
    None,
    Optimizer,
    OptimizerAndParams,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LoraDtype {
    Fp32,
    Bf16,
    Fp16,
}

impl LoraDtype {
    pub fn bytes(self) -> u64 {
        if self == LoraDtype::Fp32 {
            4
        } else {
            2
        }
    }
}

/// Which linear layers get adapters: PEFT's `"all-linear"` (every `nn.Linear` but the output head) or explicit
/// module names. Written as that string or a list of names, in plans and per-model configs alike.
#[derive(Debug, Clone, PartialEq, Eq, ts_rs::TS)]
#[ts(type = "\"all-linear\" | Array<string>")]
pub enum TargetModules {
    AllLinear,
    Names(Vec<String>),
}

const ALL_LINEAR: &str = "all-linear";

impl Serialize for TargetModules {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            TargetModules::AllLinear => s.serialize_str(ALL_LINEAR),
            TargetModules::Names(names) => names.serialize(s),
        }
    }
}

impl schemars::JsonSchema for TargetModules {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TargetModules".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "\"all-linear\" (every linear layer but the output head) or a non-empty list of module names",
            "oneOf": [
                {"const": ALL_LINEAR},
                {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1}
            ]
        })
    }
}

impl<'de> Deserialize<'de> for TargetModules {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Shortcut(String),
            Names(Vec<String>),
        }
        match Raw::deserialize(d) {
            Ok(Raw::Shortcut(s)) if s == ALL_LINEAR => Ok(TargetModules::AllLinear),
            Ok(Raw::Names(names)) => Ok(TargetModules::Names(names)),
            _ => Err(serde::de::Error::custom(
                "must be \"all-linear\" or a list of module names",
            )),
        }
    }
}

/// LoRA settings, the same for a plan and a per-model config. Defaults: rank 16, alpha 32 (2 × rank, what a plan
/// that gives only a rank gets too), dropout 0, `all-linear`, fp32 (PEFT upcasts adapters).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields, default)]
pub struct LoraSettings {
    pub rank: u64,
    pub alpha: f64,
    pub dropout: f64,
    pub target_modules: TargetModules,
    pub dtype: LoraDtype,
}

impl Default for LoraSettings {
    /// CONTRACTS.md §1 defaults: rank 16, `all-linear`, fp32 adapters; alpha 2×rank, dropout 0 (PEFT's
    /// `LoraConfig.lora_dropout` default).
    fn default() -> Self {
        LoraSettings {
            rank: 16,
            alpha: 32.0,
            dropout: 0.0,
            target_modules: TargetModules::AllLinear,
            dtype: LoraDtype::Fp32,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct GpuSetup {
    pub count: u64,
    /// Memory of one GPU, in bytes (from `memory_gib`, or the catalog's NVML total for `model`).
    pub memory_bytes: u64,
    /// The catalog name, when the plan named a GPU model.
    pub model: Option<String>,
}

/// Which positions get logits at prefill (an optional key beyond CONTRACTS.md §1). transformers ≥ 4.45
/// `generate()` computes only the last one (`logits_to_keep=1`); older versions computed the whole prompt's
/// logits and upcast them to fp32 (FORMULAS.md §11).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PrefillLogits {
    Last,
    All,
}

/// A validated plan: every default filled in, every contradiction rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub model: ModelRef,
    pub task: Task,
    /// `None` for `infer`.
    pub method: Option<Method>,
    /// A preset name; `None` means the model's stored dtype.
    pub quantization: Option<String>,
    pub precision: Precision,
    /// Present for `lora` and `qlora`.
    pub lora: Option<LoraSettings>,
    pub trainable_embeddings: bool,
    pub optimizer: Optimizer,
    pub optimizer_in_backward: bool,
    pub batch_size: u64,
    pub sequence_length: u64,
    pub gradient_accumulation_steps: u64,
    pub gradient_checkpointing: bool,
    pub attention: AttentionImpl,
    pub chunked_loss: bool,
    pub activation_offload: bool,
    pub new_tokens: u64,
    /// `None` means the compute dtype.
    pub kv_cache_dtype: Option<KvDtype>,
    pub gpus: Option<GpuSetup>,
    pub nodes: u64,
    pub sharding: Sharding,
    pub offload: Offload,
    pub margin: f64,
    /// Optional extension: decoder layers trained by `freeze` (LLaMA-Factory default 2).
    pub freeze_trainable_layers: u64,
    /// Optional extension: PEFT `prepare_model_for_kbit_training` casts every non-quantized parameter to fp32
    /// (`None`: on for training on a quantized base, as the Hugging Face recipe does).
    pub kbit_upcast: Option<bool>,
    /// Optional extension: quantize `lm_head` too (lit-gpt does; transformers skips it by default).
    pub quantize_lm_head: bool,
    pub prefill_logits: PrefillLogits,
    /// Optional extension: the model runs under `torch.compile`, whose fusions keep only the 16-bit input of
    /// each norm for backward instead of HF RMSNorm's fp32 upcast (torchtune `compile: True`).
    pub torch_compile: bool,
    /// Optional extension (FSDP only, method lora or qlora): the frozen base weights share an FSDP unit with
    /// trainable LoRA adapters. FSDP1 with `use_orig_params=True` and a per-decoder-layer wrap policy (Lightning's
    /// `FSDPStrategy`, which sets `use_orig_params=True` by default; accelerate's `TRANSFORMER_BASED_WRAP`
    /// without PEFT's `fsdp_auto_wrap_policy`) flattens both into one `FlatParameter`, which then requires grad
    /// as a whole: the unit's gradient covers the frozen weights too (torch `_wrap_utils.py`
    /// `_validate_frozen_params`: "{total} numel instead of {nonfrozen} numel before sharding via
    /// reduce-scatter"). Off: frozen and trainable parameters live in separate units (PEFT's wrap policy,
    /// FSDP2's per-parameter sharding).
    pub fsdp_frozen_in_trainable_units: bool,
    /// Optional extension (FSDP only): gradient accumulation runs its non-final micro-batches under FSDP's
    /// `no_sync()` (Lightning Fabric `no_backward_sync`, accelerate's `accumulate` unless `sync_each_batch`,
    /// the transformers Trainer), which keeps each unit's gradient unsharded until the synchronizing
    /// micro-batch (torch `FullyShardedDataParallel.no_sync`: "FSDP will accumulate the full model gradients
    /// (instead of gradient shards) until the eventual sync"). No effect without gradient accumulation.
    pub fsdp_no_sync: bool,
}

/// Every top-level key a plan may have (the contract test checks `plan_file::PlanFile` lists the same).
pub const TOP_KEYS: &[&str] = &[
    "model",
    "task",
    "method",
    "quantization",
    "precision",
    "lora",
    "trainable_embeddings",
    "optimizer",
    "optimizer_in_backward",
    "batch_size",
    "sequence_length",
    "gradient_accumulation_steps",
    "gradient_checkpointing",
    "attention",
    "chunked_loss",
    "activation_offload",
    "new_tokens",
    "kv_cache_dtype",
    "gpus",
    "nodes",
    "sharding",
    "offload",
    "margin",
    "freeze_trainable_layers",
    "kbit_upcast",
    "quantize_lm_head",
    "prefill_logits",
    "torch_compile",
    "fsdp_frozen_in_trainable_units",
    "fsdp_no_sync",
];

/// Parse and validate a plan. `presets` are the preset names the user may pick (built-in and their own).
pub fn parse_plan(text: &str, presets: &[PresetInfo]) -> Result<Plan> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Error::invalid("plan", format!("not valid JSON: {e}")))?;
    plan_from_value(&value, presets)
}

/// Like [`parse_plan`], from an already parsed JSON value (the UI sends one).
pub fn plan_from_value(value: &Value, presets: &[PresetInfo]) -> Result<Plan> {
    let obj = object(value, "plan")?;
    reject_unknown(obj, TOP_KEYS, "")?;

    let model = parse_model(obj.get("model").ok_or_else(|| missing("model"))?)?;
    let task = match str_field(obj, "task")?.ok_or_else(|| missing("task"))? {
        "train" => Task::Train,
        "infer" => Task::Infer,
        other => return Err(one_of("task", other, &["train", "infer"])),
    };
    let train = task == Task::Train;

    let method = match str_field(obj, "method")? {
        None if train => Some(Method::Full),
        None => None,
        Some(_) if !train => {
            return Err(Error::invalid(
                "method",
                "only applies to task train; remove it for infer",
            ))
        }
        Some("full") => Some(Method::Full),
        Some("lora") => Some(Method::Lora),
        Some("qlora") => Some(Method::Qlora),
        Some("freeze") => Some(Method::Freeze),
        Some(other) => {
            return Err(one_of(
                "method",
                other,
                &["full", "lora", "qlora", "freeze"],
            ))
        }
    };

    let quantization = match str_field(obj, "quantization")? {
        Some(name) => {
            if !presets.iter().any(|p| p.name == name) {
                let known: Vec<&str> = presets.iter().map(|p| p.name.as_str()).collect();
                return Err(Error::invalid(
                    "quantization",
                    format!("unknown preset `{name}` (known: {})", known.join(", ")),
                ));
            }
            Some(name.to_string())
        }
        None if method == Some(Method::Qlora) => Some("int4".to_string()),
        None => None,
    };
    if let (Some(name), Some(m)) = (&quantization, method) {
        let format = presets.iter().find(|p| &p.name == name).map(|p| p.format);
        if let Some(format) = format {
            if format.is_quantized() && matches!(m, Method::Full | Method::Freeze) {
                return Err(Error::invalid(
                    "quantization",
                    format!(
                        "`{name}` weights are quantized and frozen: they cannot be trained with method {}; use method qlora (or lora) or a 16-bit preset",
                        if m == Method::Full { "full" } else { "freeze" }
                    ),
                ));
            }
            if m == Method::Qlora && !matches!(format, super::preset::WeightFormat::Int4 { .. }) {
                return Err(Error::invalid(
                    "quantization",
                    format!("method qlora needs a 4-bit preset, `{name}` is not; use method lora"),
                ));
            }
        }
    }

    let precision = match str_field(obj, "precision")? {
        None => Precision::Bf16Mixed,
        Some("fp32") => Precision::Fp32,
        Some("fp16-mixed") => Precision::Fp16Mixed,
        Some("bf16-mixed") => Precision::Bf16Mixed,
        Some("bf16-true") => Precision::Bf16True,
        Some("fp16-true") => Precision::Fp16True,
        Some(other) => {
            return Err(one_of(
                "precision",
                other,
                &["fp32", "fp16-mixed", "bf16-mixed", "bf16-true", "fp16-true"],
            ))
        }
    };

    let uses_lora = matches!(method, Some(Method::Lora | Method::Qlora));
    let lora = match obj.get("lora") {
        Some(_) if !uses_lora => {
            return Err(Error::invalid(
                "lora",
                format!(
                    "LoRA settings given but method is {}; use method lora or qlora, or remove lora",
                    match method {
                        Some(Method::Full) => "full",
                        Some(Method::Freeze) => "freeze",
                        _ => "absent (task infer)",
                    }
                ),
            ));
        }
        Some(v) => Some(parse_lora(v)?),
        None if uses_lora => Some(LoraSettings::default()),
        None => None,
    };

    let trainable_embeddings = bool_field(obj, "trainable_embeddings")?.unwrap_or(false);
    if trainable_embeddings && !uses_lora {
        return Err(Error::invalid(
            "trainable_embeddings",
            "only applies beside LoRA (method lora or qlora)",
        ));
    }

    let optimizer = match str_field(obj, "optimizer")? {
        Some(_) if !train => {
            return Err(Error::invalid(
                "optimizer",
                "only applies to task train; remove it for infer",
            ))
        }
        None => Optimizer::Adamw,
        Some("adamw") => Optimizer::Adamw,
        Some("adamw_8bit") => Optimizer::Adamw8bit,
        Some("paged_adamw_8bit") => Optimizer::PagedAdamw8bit,
        Some("paged_adamw_32bit") => Optimizer::PagedAdamw32bit,
        Some("sgd") => Optimizer::Sgd,
        Some("sgd_momentum") => Optimizer::SgdMomentum,
        Some("adafactor") => Optimizer::Adafactor,
        Some(other) => {
            return Err(one_of(
                "optimizer",
                other,
                &[
                    "adamw",
                    "adamw_8bit",
                    "paged_adamw_8bit",
                    "paged_adamw_32bit",
                    "sgd",
                    "sgd_momentum",
                    "adafactor",
                ],
            ))
        }
    };
    let optimizer_in_backward = bool_field(obj, "optimizer_in_backward")?.unwrap_or(false);
    let batch_size = positive(obj, "batch_size")?.unwrap_or(1);
    let sequence_length = positive(obj, "sequence_length")?.unwrap_or(2048);
    let gradient_accumulation_steps = positive(obj, "gradient_accumulation_steps")?.unwrap_or(1);
    if optimizer_in_backward && gradient_accumulation_steps > 1 {
        // The step runs as each gradient is ready, so there is nothing to accumulate into
        // (torchtune rejects the combination for the same reason).
        return Err(Error::invalid(
            "optimizer_in_backward",
            "cannot be combined with gradient_accumulation_steps > 1: the step runs inside backward",
        ));
    }
    if batch_size * sequence_length > MAX_COUNT * 256 {
        return Err(Error::invalid(
            "batch_size",
            format!(
                "{batch_size} × sequence_length {sequence_length} tokens per micro-batch is implausibly large"
            ),
        ));
    }
    let gradient_checkpointing = bool_field(obj, "gradient_checkpointing")?.unwrap_or(false);
    let attention = match str_field(obj, "attention")? {
        None | Some("sdpa") => AttentionImpl::Sdpa,
        Some("eager") => AttentionImpl::Eager,
        Some("flash") => AttentionImpl::Flash,
        Some(other) => return Err(one_of("attention", other, &["eager", "sdpa", "flash"])),
    };
    let chunked_loss = bool_field(obj, "chunked_loss")?.unwrap_or(false);
    let activation_offload = bool_field(obj, "activation_offload")?.unwrap_or(false);
    let new_tokens = match obj.get("new_tokens") {
        None => 0,
        Some(_) if train => {
            return Err(Error::invalid(
                "new_tokens",
                "only applies to task infer (tokens generated after the prompt)",
            ))
        }
        Some(v) => non_negative(v, "new_tokens")?,
    };
    let kv_cache_dtype = match str_field(obj, "kv_cache_dtype")? {
        None => None,
        Some(_) if train => {
            return Err(Error::invalid(
                "kv_cache_dtype",
                "only applies to task infer",
            ))
        }
        Some("fp32") => Some(KvDtype::Fp32),
        Some("bf16") => Some(KvDtype::Bf16),
        Some("fp16") => Some(KvDtype::Fp16),
        Some("fp8") => Some(KvDtype::Fp8),
        Some("int8") => Some(KvDtype::Int8),
        Some("int4") => Some(KvDtype::Int4),
        Some(other) => {
            return Err(one_of(
                "kv_cache_dtype",
                other,
                &["fp32", "bf16", "fp16", "fp8", "int8", "int4"],
            ))
        }
    };
    let gpus = match obj.get("gpus") {
        None => None,
        Some(v) => Some(parse_gpus(v)?),
    };
    let nodes = positive(obj, "nodes")?.unwrap_or(1);
    if nodes > 1 && gpus.is_none() {
        return Err(Error::invalid(
            "nodes",
            "more than one node needs gpus (how many GPUs each node has)",
        ));
    }
    let sharding = match str_field(obj, "sharding")? {
        None | Some("none") => Sharding::None,
        Some("zero1") => Sharding::Zero1,
        Some("zero2") => Sharding::Zero2,
        Some("zero3") => Sharding::Zero3,
        Some("fsdp_full_shard") => Sharding::FsdpFullShard,
        Some("fsdp_shard_grad_op") => Sharding::FsdpShardGradOp,
        Some(other) => {
            return Err(one_of(
                "sharding",
                other,
                &[
                    "none",
                    "zero1",
                    "zero2",
                    "zero3",
                    "fsdp_full_shard",
                    "fsdp_shard_grad_op",
                ],
            ))
        }
    };
    if sharding != Sharding::None && !train {
        return Err(Error::invalid(
            "sharding",
            "ZeRO and FSDP shard training state; for infer use sharding none",
        ));
    }
    let offload = match str_field(obj, "offload")? {
        None | Some("none") => Offload::None,
        Some("optimizer") => Offload::Optimizer,
        Some("optimizer_and_params") => Offload::OptimizerAndParams,
        Some(other) => {
            return Err(one_of(
                "offload",
                other,
                &["none", "optimizer", "optimizer_and_params"],
            ))
        }
    };
    match offload {
        Offload::None => {}
        Offload::Optimizer if !sharding.shards_optimizer() || !train => {
            return Err(Error::invalid(
                "offload",
                "optimizer offload is a ZeRO feature: set sharding to zero1, zero2 or zero3",
            ))
        }
        Offload::OptimizerAndParams if !sharding.shards_parameters() || !train => {
            return Err(Error::invalid(
                "offload",
                "parameter offload needs sharded parameters: set sharding to zero3 or fsdp_full_shard",
            ))
        }
        _ => {}
    }
    if offload == Offload::Optimizer && sharding.is_fsdp() {
        return Err(Error::invalid(
            "offload",
            "FSDP offloads parameters and optimizer together: use optimizer_and_params with fsdp_full_shard",
        ));
    }
    let margin = match obj.get("margin") {
        None => 0.10,
        Some(v) => {
            let m = v
                .as_f64()
                .ok_or_else(|| Error::invalid("margin", format!("must be a number, got {v}")))?;
            if !(0.0..1.0).contains(&m) {
                return Err(Error::invalid(
                    "margin",
                    format!("must be at least 0 and below 1 (a fraction of GPU memory), got {m}"),
                ));
            }
            m
        }
    };
    let freeze_trainable_layers = positive(obj, "freeze_trainable_layers")?.unwrap_or(2);
    if obj.contains_key("freeze_trainable_layers") && method != Some(Method::Freeze) {
        return Err(Error::invalid(
            "freeze_trainable_layers",
            "only applies to method freeze",
        ));
    }
    let kbit_upcast = bool_field(obj, "kbit_upcast")?;
    let quantize_lm_head = bool_field(obj, "quantize_lm_head")?.unwrap_or(false);
    let prefill_logits = match str_field(obj, "prefill_logits")? {
        None | Some("last") => PrefillLogits::Last,
        Some("all") => PrefillLogits::All,
        Some(other) => return Err(one_of("prefill_logits", other, &["last", "all"])),
    };

    let torch_compile = bool_field(obj, "torch_compile")?.unwrap_or(false);

    let fsdp = sharding.is_fsdp();
    for key in ["fsdp_frozen_in_trainable_units", "fsdp_no_sync"] {
        if obj.contains_key(key) && !fsdp {
            return Err(Error::invalid(
                key,
                "only applies with sharding fsdp_full_shard or fsdp_shard_grad_op",
            ));
        }
    }
    let fsdp_frozen_in_trainable_units =
        bool_field(obj, "fsdp_frozen_in_trainable_units")?.unwrap_or(false);
    if obj.contains_key("fsdp_frozen_in_trainable_units") && !uses_lora {
        return Err(Error::invalid(
            "fsdp_frozen_in_trainable_units",
            "only applies to method lora or qlora: full trains every parameter, freeze trains whole decoder layers, so no FSDP unit mixes frozen and trainable parameters",
        ));
    }
    let fsdp_no_sync = bool_field(obj, "fsdp_no_sync")?.unwrap_or(false);

    Ok(Plan {
        model,
        task,
        method,
        quantization,
        precision,
        lora,
        trainable_embeddings,
        optimizer,
        optimizer_in_backward,
        batch_size,
        sequence_length,
        gradient_accumulation_steps,
        gradient_checkpointing,
        attention,
        chunked_loss,
        activation_offload,
        new_tokens,
        kv_cache_dtype,
        gpus,
        nodes,
        sharding,
        offload,
        margin,
        freeze_trainable_layers,
        kbit_upcast,
        quantize_lm_head,
        prefill_logits,
        torch_compile,
        fsdp_frozen_in_trainable_units,
        fsdp_no_sync,
    })
}

fn parse_model(v: &Value) -> Result<ModelRef> {
    let obj = object(v, "model")?;
    reject_unknown(obj, &["id", "path", "config"], "model.")?;
    if obj.len() != 1 {
        return Err(Error::invalid(
            "model",
            "give exactly one of id, path or config",
        ));
    }
    if let Some(id) = str_field(obj, "id").map_err(|e| prefix(e, "model."))? {
        if id.trim().is_empty() {
            return Err(Error::invalid("model.id", "must not be empty"));
        }
        return Ok(ModelRef::Id(id.to_string()));
    }
    if let Some(path) = str_field(obj, "path").map_err(|e| prefix(e, "model."))? {
        if path.trim().is_empty() {
            return Err(Error::invalid("model.path", "must not be empty"));
        }
        return Ok(ModelRef::Path(PathBuf::from(path)));
    }
    match obj.get("config") {
        Some(Value::Object(c)) => Ok(ModelRef::Config(c.clone())),
        Some(other) => Err(Error::invalid(
            "model.config",
            format!("must be a config.json object, got {}", kind(other)),
        )),
        None => Err(Error::invalid(
            "model",
            "give exactly one of id, path or config",
        )),
    }
}

fn parse_lora(v: &Value) -> Result<LoraSettings> {
    let obj = object(v, "lora")?;
    reject_unknown(
        obj,
        &["rank", "alpha", "dropout", "target_modules", "dtype"],
        "lora.",
    )?;
    let mut lora = LoraSettings::default();
    if let Some(r) = positive(obj, "rank").map_err(|e| prefix(e, "lora."))? {
        lora.rank = r;
        lora.alpha = 2.0 * r as f64;
    }
    if let Some(a) = obj.get("alpha") {
        lora.alpha = a
            .as_f64()
            .filter(|a| a.is_finite() && *a > 0.0)
            .ok_or_else(|| {
                Error::invalid("lora.alpha", format!("must be a positive number, got {a}"))
            })?;
    }
    if let Some(d) = obj.get("dropout") {
        lora.dropout = d
            .as_f64()
            .filter(|d| (0.0..1.0).contains(d))
            .ok_or_else(|| {
                Error::invalid(
                    "lora.dropout",
                    format!("must be a number at least 0 and below 1, got {d}"),
                )
            })?;
    }
    match obj.get("target_modules") {
        None => {}
        Some(Value::String(s)) if s == "all-linear" => {
            lora.target_modules = TargetModules::AllLinear
        }
        Some(Value::Array(items)) => {
            let mut names = Vec::with_capacity(items.len());
            for item in items {
                match item.as_str() {
                    Some(s) if !s.trim().is_empty() => names.push(s.to_string()),
                    _ => {
                        return Err(Error::invalid(
                            "lora.target_modules",
                            format!("every entry must be a module name, got {item}"),
                        ))
                    }
                }
            }
            if names.is_empty() {
                return Err(Error::invalid(
                    "lora.target_modules",
                    "must name at least one module, or be \"all-linear\"",
                ));
            }
            lora.target_modules = TargetModules::Names(names);
        }
        Some(other) => {
            return Err(Error::invalid(
                "lora.target_modules",
                format!("must be \"all-linear\" or a list of module names, got {other}"),
            ))
        }
    }
    lora.dtype = match str_field(obj, "dtype").map_err(|e| prefix(e, "lora."))? {
        None | Some("fp32") => LoraDtype::Fp32,
        Some("bf16") => LoraDtype::Bf16,
        Some("fp16") => LoraDtype::Fp16,
        Some(other) => return Err(one_of("lora.dtype", other, &["fp32", "bf16", "fp16"])),
    };
    Ok(lora)
}

fn parse_gpus(v: &Value) -> Result<GpuSetup> {
    let obj = object(v, "gpus")?;
    reject_unknown(obj, &["count", "memory_gib", "model"], "gpus.")?;
    let count = positive(obj, "count")
        .map_err(|e| prefix(e, "gpus."))?
        .ok_or_else(|| missing("gpus.count"))?;
    match (obj.get("memory_gib"), obj.get("model")) {
        (Some(_), Some(_)) => Err(Error::invalid("gpus", "give memory_gib or model, not both")),
        (Some(m), None) => {
            let gib = m
                .as_f64()
                .filter(|g| g.is_finite() && *g > 0.0 && *g <= 1.0e6)
                .ok_or_else(|| {
                    Error::invalid(
                        "gpus.memory_gib",
                        format!("must be a positive number of GiB, got {m}"),
                    )
                })?;
            // GiB = 2^30 bytes (STYLE.md).
            let memory_bytes = (gib * (1u64 << 30) as f64).round() as u64;
            Ok(GpuSetup {
                count,
                memory_bytes,
                model: None,
            })
        }
        (None, Some(Value::String(name))) => {
            let gpu = gpus::find(name).ok_or_else(|| {
                Error::invalid(
                    "gpus.model",
                    format!(
                        "unknown GPU `{name}` (known: {})",
                        gpus::catalog()
                            .iter()
                            .map(|g| g.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
            Ok(GpuSetup {
                count,
                memory_bytes: gpu.memory_bytes,
                model: Some(gpu.name.to_string()),
            })
        }
        (None, Some(other)) => Err(Error::invalid(
            "gpus.model",
            format!("must be a GPU name, got {other}"),
        )),
        (None, None) => Err(Error::invalid(
            "gpus",
            "give memory_gib (per GPU) or model (a catalog GPU name)",
        )),
    }
}

/// The plan as CONTRACTS.md §1 writes it (what "save plan" stores): every key explicit, so that a saved plan
/// means the same thing even if a default changes; [`plan_from_value`] reads it back to the same [`Plan`].
pub fn plan_to_value(plan: &Plan) -> Value {
    fn name<T: Serialize>(v: &T) -> Value {
        serde_json::to_value(v).unwrap_or(Value::Null)
    }
    let mut o = Map::new();
    o.insert(
        "model".into(),
        match &plan.model {
            ModelRef::Id(id) => serde_json::json!({ "id": id }),
            ModelRef::Path(p) => serde_json::json!({ "path": p.to_string_lossy() }),
            ModelRef::Config(c) => serde_json::json!({ "config": c }),
        },
    );
    o.insert("task".into(), name(&plan.task));
    if let Some(m) = plan.method {
        o.insert("method".into(), name(&m));
    }
    if let Some(q) = &plan.quantization {
        o.insert("quantization".into(), Value::String(q.clone()));
    }
    o.insert("precision".into(), name(&plan.precision));
    if let Some(l) = &plan.lora {
        o.insert(
            "lora".into(),
            serde_json::json!({
                "rank": l.rank,
                "alpha": l.alpha,
                "dropout": l.dropout,
                "target_modules": match &l.target_modules {
                    TargetModules::AllLinear => Value::String("all-linear".into()),
                    TargetModules::Names(n) => name(n),
                },
                "dtype": name(&l.dtype),
            }),
        );
    }
    let train = plan.task == Task::Train;
    if plan.lora.is_some() {
        o.insert(
            "trainable_embeddings".into(),
            Value::Bool(plan.trainable_embeddings),
        );
    }
    if train {
        o.insert("optimizer".into(), name(&plan.optimizer));
        o.insert(
            "optimizer_in_backward".into(),
            Value::Bool(plan.optimizer_in_backward),
        );
        o.insert(
            "gradient_accumulation_steps".into(),
            plan.gradient_accumulation_steps.into(),
        );
        o.insert(
            "gradient_checkpointing".into(),
            Value::Bool(plan.gradient_checkpointing),
        );
        o.insert("chunked_loss".into(), Value::Bool(plan.chunked_loss));
        o.insert(
            "activation_offload".into(),
            Value::Bool(plan.activation_offload),
        );
        o.insert("sharding".into(), name(&plan.sharding));
        o.insert("offload".into(), name(&plan.offload));
        if let Some(k) = plan.kbit_upcast {
            o.insert("kbit_upcast".into(), Value::Bool(k));
        }
        if plan.sharding.is_fsdp() {
            if plan.lora.is_some() {
                o.insert(
                    "fsdp_frozen_in_trainable_units".into(),
                    Value::Bool(plan.fsdp_frozen_in_trainable_units),
                );
            }
            o.insert("fsdp_no_sync".into(), Value::Bool(plan.fsdp_no_sync));
        }
    } else {
        o.insert("new_tokens".into(), plan.new_tokens.into());
        if let Some(k) = plan.kv_cache_dtype {
            o.insert("kv_cache_dtype".into(), name(&k));
        }
        o.insert("prefill_logits".into(), name(&plan.prefill_logits));
    }
    if plan.method == Some(Method::Freeze) {
        o.insert(
            "freeze_trainable_layers".into(),
            plan.freeze_trainable_layers.into(),
        );
    }
    o.insert("batch_size".into(), plan.batch_size.into());
    o.insert("sequence_length".into(), plan.sequence_length.into());
    o.insert("attention".into(), name(&plan.attention));
    if let Some(g) = &plan.gpus {
        o.insert(
            "gpus".into(),
            match &g.model {
                Some(m) => serde_json::json!({"count": g.count, "model": m}),
                None => serde_json::json!({
                    "count": g.count,
                    "memory_gib": g.memory_bytes as f64 / (1u64 << 30) as f64,
                }),
            },
        );
        o.insert("nodes".into(), plan.nodes.into());
    }
    o.insert("margin".into(), plan.margin.into());
    o.insert(
        "quantize_lm_head".into(),
        Value::Bool(plan.quantize_lm_head),
    );
    o.insert("torch_compile".into(), Value::Bool(plan.torch_compile));
    Value::Object(o)
}

// ---- small readers that name the field in every error ----

fn object<'a>(v: &'a Value, field: &str) -> Result<&'a Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| Error::invalid(field, format!("must be an object, got {}", kind(v))))
}

fn reject_unknown(obj: &Map<String, Value>, known: &[&str], prefix: &str) -> Result<()> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(key) => Err(Error::invalid(
            format!("{prefix}{key}"),
            format!("unknown key (known: {})", known.join(", ")),
        )),
        None => Ok(()),
    }
}

fn missing(field: &str) -> Error {
    Error::invalid(field, "is required")
}

fn one_of(field: &str, got: &str, allowed: &[&str]) -> Error {
    Error::invalid(
        field,
        format!("`{got}` is not one of {}", allowed.join(", ")),
    )
}

fn prefix(e: Error, p: &str) -> Error {
    match e {
        Error::Invalid { field, message } => Error::Invalid {
            field: format!("{p}{field}"),
            message,
        },
        other => other,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn str_field<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(other) => Err(Error::invalid(
            key,
            format!("must be a string, got {}", kind(other)),
        )),
    }
}

fn bool_field(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(Error::invalid(
            key,
            format!("must be true or false, got {}", kind(other)),
        )),
    }
}

/// The largest value any count in a plan may take: far beyond any real run, small enough that products of
/// counts and model sizes stay inside u64.
pub const MAX_COUNT: u64 = 1 << 24;

fn positive(obj: &Map<String, Value>, key: &str) -> Result<Option<u64>> {
    match obj.get(key) {
        None => Ok(None),
        Some(v) => match non_negative(v, key)? {
            0 => Err(Error::invalid(key, "must be a positive integer, got 0")),
            n => Ok(Some(n)),
        },
    }
}

fn non_negative(v: &Value, key: &str) -> Result<u64> {
    if let Some(n) = v.as_u64() {
        if n > MAX_COUNT {
            return Err(Error::invalid(
                key,
                format!("{n} is implausibly large (at most {MAX_COUNT})"),
            ));
        }
        return Ok(n);
    }
    let message = match v.as_i64() {
        Some(n) => format!("must be a positive integer, got {n}"),
        None => format!("must be a whole number, got {v}"),
    };
    Err(Error::invalid(key, message))
}
