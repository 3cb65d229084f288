//! The shape of a model as the estimator needs it. Built by model discovery (config.json, safetensors headers,
//! the HF cache, the catalog); read by the estimator. Counts are exact integers, never rounded.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::message::Message;

/// A model, resolved from wherever it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct ModelSpec {
    /// The catalog id (`meta-llama/Llama-3.1-8B`), the folder path, or `config` for a raw config object.
    pub id: String,
    /// `model_type` from config.json (`llama`, `qwen2`, `deepseek_v3`, …).
    pub model_type: String,
    pub source: ModelSource,
    /// The dtype the weights are stored in (safetensors headers first, `torch_dtype`/`dtype` in config.json
    /// otherwise).
    pub stored_dtype: DType,
    pub parameters: ParameterCounts,
    /// `None` when `model_type` is unknown: only the safetensors counts are known, and the notes say so.
    pub architecture: Option<Architecture>,
    /// Every assumption or fallback that shaped this spec, in words.
    pub notes: Vec<String>,
    /// `notes` as messages the UI renders in the user's language: the same length and order as `notes`
    /// (each note is added with [`ModelSpec::add_note`], which writes both).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[ts(as = "Option<Vec<Message>>", optional)]
    pub note_messages: Vec<Message>,
}

impl ModelSpec {
    /// Add a note: its English (the key's backend wording, [`Message::english`]) to `notes`, and the message
    /// itself to `note_messages`.
    pub fn add_note(&mut self, message: Message) {
        self.notes.push(note_english(&message));
        self.note_messages.push(message);
    }
}

/// A model note's English: every model note's key has a backend wording (the message tests hold it), so the key
/// itself is only a last resort that no note reaches.
pub(crate) fn note_english(message: &Message) -> String {
    message.english().unwrap_or_else(|| message.key.clone())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelSource {
    Catalog,
    Folder {
        #[ts(type = "string")]
        path: PathBuf,
    },
    HfCache {
        #[ts(type = "string")]
        path: PathBuf,
        revision: String,
    },
    RawConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum DType {
    F32,
    F16,
    Bf16,
    F8E4m3,
    F8E5m2,
    I8,
    U8,
    I32,
    I64,
    /// Packed 4-bit storage (bitsandbytes, GPTQ): stored as U8/I32 tensors in safetensors.
    Packed4,
}

impl DType {
    /// Bytes per element; `Packed4` is half a byte and reported as 0 here; callers size it from bits.
    pub fn bits(self) -> u64 {
        match self {
            DType::F32 | DType::I32 => 32,
            DType::F16 | DType::Bf16 => 16,
            DType::F8E4m3 | DType::F8E5m2 | DType::I8 | DType::U8 => 8,
            DType::I64 => 64,
            DType::Packed4 => 4,
        }
    }
}

/// Parameter counts as `sum(p.numel() for p in model.parameters())` counts them: tied weights once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ParameterCounts {
    pub total: u64,
    /// Input embedding table (`vocab × hidden`).
    pub embedding: u64,
    /// The output projection; 0 when tied to the embedding.
    pub lm_head: u64,
    /// Weights and biases of every linear layer inside the decoder blocks, experts and routers included.
    pub linear: u64,
    /// Everything else: norms, other biases, positional tables.
    pub other: u64,
}

/// The numbers that drive memory: attention, MLP, MoE and every linear layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct Architecture {
    pub hidden_size: u64,
    pub num_layers: u64,
    pub vocab_size: u64,
    pub tie_word_embeddings: bool,
    pub attention: Attention,
    /// Dense MLP intermediate size (for MoE models, that of the dense layers, if any).
    pub intermediate_size: u64,
    /// `true` for gated MLPs (SwiGLU, GeGLU: gate, up, down), `false` for plain two-matrix MLPs.
    pub gated_mlp: bool,
    pub moe: Option<Moe>,
    /// Every `nn.Linear` (and fused expert tensor) in the model, grouped by name, for quantization and LoRA.
    pub linear_layers: Vec<LinearGroup>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Attention {
    pub num_heads: u64,
    /// Key/value heads (equal to `num_heads` without GQA; 1 for MQA).
    pub num_kv_heads: u64,
    pub head_dim: u64,
    /// Tokens a sliding-window layer attends to, and how many layers use the window (the rest are global).
    pub sliding_window: Option<SlidingWindow>,
    /// Multi-head latent attention (DeepSeek-V2/V3): the KV cache holds the compressed latent, not K and V.
    pub mla: Option<Mla>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct SlidingWindow {
    pub window: u64,
    pub layers: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Mla {
    pub q_lora_rank: Option<u64>,
    pub kv_lora_rank: u64,
    pub qk_nope_head_dim: u64,
    pub qk_rope_head_dim: u64,
    pub v_head_dim: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Moe {
    /// Routed experts per MoE layer; all are resident in memory.
    pub num_experts: u64,
    /// Experts each token is routed to.
    pub experts_per_token: u64,
    pub expert_intermediate_size: u64,
    /// Always-on shared experts (Qwen2-MoE, DeepSeek), and their total intermediate size.
    pub shared_experts: u64,
    pub shared_intermediate_size: u64,
    /// Decoder layers whose MLP is an MoE block (DeepSeek keeps the first `first_k_dense_replace` dense).
    pub moe_layers: u64,
}

/// A set of identical linear layers: `count` modules named `name`, each `in_features → out_features`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct LinearGroup {
    /// The module name PEFT targets (`q_proj`, `gate_up_proj`, `lm_head`, …).
    pub name: String,
    pub in_features: u64,
    pub out_features: u64,
    /// How many such modules the whole model has (layers × experts where it applies).
    pub count: u64,
    pub bias: bool,
    pub role: LinearRole,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum LinearRole {
    Attention,
    Mlp,
    /// Routed experts. In transformers 5 these are fused 3-D parameters, not `nn.Linear`: bitsandbytes and
    /// PEFT's `all-linear` treat them differently from ordinary linears.
    Expert,
    SharedExpert,
    Router,
    LmHead,
}

impl LinearGroup {
    /// Parameters in the whole group (weights and biases).
    pub fn parameters(&self) -> u64 {
        self.count
            * (self.in_features * self.out_features + if self.bias { self.out_features } else { 0 })
    }
}
