//! The plan's domain types: what the user means to run, every default filled in and every contradiction
//! rejected (docs/contract.md §1). [`super::parse`] builds a [`Plan`] from a [`super::file::PlanFile`].

use std::num::NonZeroU64;

use serde::{Deserialize, Serialize};

/// The largest count a plan may give (2^24): far beyond any real batch, sequence or GPU count, small enough
/// that products of counts cannot overflow.
pub const MAX_COUNT: u64 = 1 << 24;

/// Where the model comes from: exactly one of `id`, `path`, `config` (model discovery resolves it).
pub use crate::model::ModelRef;

/// Training or inference: defined apart (`estimate::task`) so that the calibration, which the plan carries, can
/// name it without depending on the plan.
pub use crate::estimate::task::Task;

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
    /// docs/contract.md §1 defaults: rank 16, `all-linear`, fp32 adapters; alpha 2×rank, dropout 0 (PEFT's
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
    #[ts(type = "number")]
    pub count: NonZeroU64,
    /// Memory of one GPU, in bytes (from `memory_gib`, or the catalog's NVML total for `model`).
    pub memory_bytes: u64,
    /// The catalog name, when the plan named a GPU model.
    pub model: Option<String>,
}

/// Which positions get logits at prefill (an optional key beyond docs/contract.md §1). transformers ≥ 4.45
/// `generate()` computes only the last one (`logits_to_keep=1`); older versions computed the whole prompt's
/// logits and upcast them to fp32 (docs/estimator.md §8.2).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PrefillLogits {
    Last,
    All,
}

/// Which figure of the estimate's band decides "fits" (docs/estimator.md §1.2, §17): its upper end, so that
/// "fits" holds for the runs the band covers, or the central estimate.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ts_rs::TS,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FitOn {
    #[default]
    High,
    Central,
}

/// A validated plan: every default filled in, every contradiction rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub model: ModelRef,
    pub task: Task,
    /// The training framework whose defaults filled the keys the plan left unset (docs/frameworks.md).
    pub framework: super::framework::Framework,
    /// The plan keys the framework profile filled in (`gradient_checkpointing`, `lora.dtype`, …), in the
    /// order docs/frameworks.md lists them: an explicit key is never among them.
    pub from_framework: Vec<String>,
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
    #[ts(type = "number")]
    pub batch_size: NonZeroU64,
    #[ts(type = "number")]
    pub sequence_length: NonZeroU64,
    /// The longest sample of each successive training micro-batch (plan key `sequence_lengths`); empty: every
    /// batch is `sequence_length` long. When given, its maximum equals `sequence_length`.
    #[serde(default)]
    #[ts(type = "Array<number>")]
    pub sequence_lengths: Vec<u64>,
    #[ts(type = "number")]
    pub gradient_accumulation_steps: NonZeroU64,
    pub gradient_checkpointing: bool,
    pub attention: AttentionImpl,
    pub chunked_loss: bool,
    pub activation_offload: bool,
    pub new_tokens: u64,
    /// `None` means the compute dtype.
    pub kv_cache_dtype: Option<KvDtype>,
    pub gpus: Option<GpuSetup>,
    #[ts(type = "number")]
    pub nodes: NonZeroU64,
    pub sharding: Sharding,
    pub offload: Offload,
    pub margin: f64,
    /// Optional extension: which figure of the band decides "fits" (default its upper end).
    pub fit_on: FitOn,
    /// Optional extension: decoder layers trained by `freeze` (LLaMA-Factory default 2).
    #[ts(type = "number")]
    pub freeze_trainable_layers: NonZeroU64,
    /// Optional extension: PEFT `prepare_model_for_kbit_training` casts every non-quantized parameter to fp32
    /// (`None`: on for training on a quantized base, as the Hugging Face recipe does).
    pub kbit_upcast: Option<bool>,
    /// Optional extension: quantize `lm_head` too (lit-gpt does; transformers skips it by default).
    pub quantize_lm_head: bool,
    /// Optional extension: the bitsandbytes release, as the plan gave it (`None`: not said). Before 0.43.2,
    /// `MatMul4Bit` kept each 4-bit layer's input on its autograd context (docs/estimator.md §6.4).
    pub bitsandbytes_version: Option<String>,
    /// Optional extension: gradient checkpointing runs `torch.utils.checkpoint` with `use_reentrant=True`, which
    /// recomputes each layer under `no_grad` and builds no graph in forward; `false` builds the graph and drops
    /// only the saved tensors (docs/estimator.md §6.4). From the framework when the plan does not say.
    pub use_reentrant: bool,
    pub prefill_logits: PrefillLogits,
    /// Optional extension (`infer`): the KV cache comes back as tuples, old and new alive together at the end of
    /// each decode step (docs/estimator.md §8.2).
    pub legacy_kv_cache: bool,
    /// Optional extension: `PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True`. The allocator maps freed pages to
    /// new requests, so neither changing lengths nor a step's blocks freed before larger ones strand reserved
    /// memory (docs/estimator.md §10.3); Headroom's production environment profile sets it.
    pub expandable_segments: bool,
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
    /// Not part of a plan file: this machine's calibration, which the caller sets from the run history
    /// ([`crate::launch::calibration`], docs/estimator.md §10.5) so that every estimate made from the plan (the
    /// solver's and the ranking's too) uses it. Empty: the documented defaults.
    #[serde(skip)]
    #[ts(skip)]
    pub machine: crate::estimate::calibration::MachineCalibration,
}

impl Plan {
    /// The plan lists its batches' lengths and the estimate simulates them (docs/estimator.md §10.3): training on
    /// one GPU's own schedule, as sharded and offloaded runs move other buffers than the simulation has.
    /// With expandable segments nothing is simulated: changing lengths strand nothing there.
    pub fn lengths_simulated(&self) -> bool {
        !self.sequence_lengths.is_empty() && self.allocator_model_applies()
    }

    /// Where the allocator model of a training step (docs/estimator.md §10.3) prices what the caching allocator
    /// strands: on one GPU's own schedule, with classic segments (expandable ones strand nothing).
    pub fn allocator_model_applies(&self) -> bool {
        self.trains_on_one_schedule() && !self.expandable_segments
    }

    /// Training on one GPU's own schedule, without sharding or offload: where the allocator model of changing
    /// lengths (docs/estimator.md §10.3) was built and holds.
    pub fn trains_on_one_schedule(&self) -> bool {
        self.task == Task::Train
            && self.sharding == Sharding::None
            && self.offload == Offload::None
            && !self.activation_offload
    }

    /// Training whose batches' lengths the estimate cannot account for: none listed, or several listed where
    /// they are not simulated. One length (every batch padded or packed to it) strands nothing, simulated or
    /// not, and so do any lengths under expandable segments. The band allows for what such a plan leaves open
    /// (docs/estimator.md §17).
    pub fn lengths_open(&self) -> bool {
        let one_length = !self.sequence_lengths.is_empty()
            && self
                .sequence_lengths
                .iter()
                .all(|&l| l == self.sequence_length.get());
        self.task == Task::Train
            && !one_length
            && !self.lengths_simulated()
            && !self.expandable_segments
    }

    /// What bitsandbytes does with a quantized layer's input, by the release the plan names: `Some(true)` it
    /// keeps it for backward, `Some(false)` it does not, `None` the plan does not say (or uses no bitsandbytes
    /// 4-bit weights). 8-bit layers (`MatMul8bitLt`) keep it in every release.
    pub fn bnb_4bit_keeps_inputs(&self) -> Option<bool> {
        self.bitsandbytes_version
            .as_deref()
            .and_then(parse_bnb_version)
            .zip(parse_bnb_version(BNB_4BIT_DROPS_INPUTS))
            .map(|(v, first)| v < first)
    }

    /// Says that every batch is padded or packed to the sequence length.
    pub fn set_one_length(&mut self) {
        self.sequence_lengths = vec![self.sequence_length.get()];
    }
}

/// The first bitsandbytes release whose `MatMul4Bit` no longer keeps its input (bitsandbytes pull request 1270,
/// "delete useless buffered activation", released in 0.43.2).
pub const BNB_4BIT_DROPS_INPUTS: &str = "0.43.2";

/// A bitsandbytes release as (major, minor, patch): "0.41.3", "0.41.3.post2", "v0.45", "0.44.0rc1" (a
/// pre-release counts as its release); `None` for anything else.
pub fn parse_bnb_version(text: &str) -> Option<(u64, u64, u64)> {
    let t = text.trim();
    let mut parts = t.strip_prefix('v').unwrap_or(t).split('.');
    let mut number = |required: bool| -> Option<u64> {
        let Some(p) = parts.next() else {
            return (!required).then_some(0);
        };
        let digits = p.len() - p.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let rest = &p[digits..];
        let suffix_ok = rest.is_empty()
            || ["rc", "post", "dev", "a", "b", "+"]
                .iter()
                .any(|s| rest.starts_with(s));
        if digits == 0 || digits > 6 || !suffix_ok {
            return None;
        }
        p[..digits].parse().ok()
    };
    Some((number(true)?, number(true)?, number(false)?))
}
