//! Numbers derived from a `ModelSpec` that every part of the estimate reads: sizes per layer, which linear
//! layers share an input, how many layers are MoE.

use crate::message::{Key, Message};
use crate::model::{Architecture, LinearGroup, LinearRole, ModelSpec};
use crate::{Error, Result};

/// Which tensor a linear layer reads. Layers reading the same tensor (q, k and v; gate and up) share one
/// saved copy of it for backward, so activation memory counts each input once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InputSlot {
    /// The attention block's normalized input (q/k/v, fused qkv, MLA's down-projections).
    AttnIn,
    /// The attention output, read by the output projection.
    AttnOut,
    /// The MLP's normalized input (gate/up, fc1).
    MlpIn,
    /// The MLP's inner activation, read by the down projection.
    MlpInner,
    /// A layer whose input we cannot place: counted on its own.
    Own,
}

/// The slot of a module by its PEFT name (transformers module names of the supported families; lit-gpt and
/// GPT-NeoX names are accepted too).
pub(crate) fn input_slot(name: &str) -> InputSlot {
    match name {
        "q_proj" | "k_proj" | "v_proj" | "qkv_proj" | "query_key_value" | "c_attn" | "q_a_proj"
        | "kv_a_proj_with_mqa" | "Wqkv" => InputSlot::AttnIn,
        "q_b_proj" | "kv_b_proj" => InputSlot::Own,
        "o_proj" | "dense" | "out_proj" | "c_proj" => InputSlot::AttnOut,
        "gate_proj" | "up_proj" | "gate_up_proj" | "fc1" | "w1" | "w3" | "dense_h_to_4h"
        | "c_fc" => InputSlot::MlpIn,
        "down_proj" | "fc2" | "w2" | "dense_4h_to_h" => InputSlot::MlpInner,
        _ => InputSlot::Own,
    }
}

/// The architecture of a spec, or an error saying why the estimate needs it.
pub(crate) fn architecture(spec: &ModelSpec) -> Result<&Architecture> {
    spec.architecture.as_ref().ok_or_else(|| {
        Error::invalid_msg(
            "model",
            Message::new(Key::InvalidModelArchitectureModelTypeUnknown)
                .text("id", spec.id.to_string())
                .text("model_type", spec.model_type.to_string()),
        )
    })
}

pub(crate) struct Shape<'a> {
    pub arch: &'a Architecture,
    pub h: u64,
    pub layers: u64,
    pub vocab: u64,
    pub q_dim: u64,
    pub kv_dim: u64,
    pub moe_layers: u64,
    pub dense_layers: u64,
    /// Parameters of one decoder layer (the mean; MoE and dense layers differ, this is for sharding units).
    pub layer_params: u64,
    /// Gemma-2's tanh soft-capping of attention scores and final logits: transformers has no SDPA path for it
    /// (`_supports_sdpa = False` in `modeling_gemma2.py`), so it attends eagerly, and each tanh saves its output.
    pub softcapped: bool,
    /// Qwen3's RMSNorm on each head of q and k before RoPE (`q_norm`, `k_norm` in `modeling_qwen3.py`): each
    /// saves for backward what the layer norms do (docs/estimator.md §6.1).
    pub qk_norm: bool,
}

impl<'a> Shape<'a> {
    pub(crate) fn new(spec: &'a ModelSpec, arch: &'a Architecture) -> Result<Self> {
        if arch.num_layers == 0 || arch.hidden_size == 0 || arch.vocab_size == 0 {
            return Err(Error::invalid_msg(
                "model",
                Message::new(Key::InvalidModelNumLayersHiddenSize),
            ));
        }
        check_bounds(spec, arch)?;
        let att = &arch.attention;
        let moe_layers = arch.moe.map_or(0, |m| m.moe_layers.min(arch.num_layers));
        let in_layers = spec
            .parameters
            .total
            .saturating_sub(spec.parameters.embedding + spec.parameters.lm_head);
        Ok(Shape {
            arch,
            h: arch.hidden_size,
            layers: arch.num_layers,
            vocab: arch.vocab_size,
            q_dim: att.num_heads * att.head_dim,
            kv_dim: att.num_kv_heads * att.head_dim,
            moe_layers,
            dense_layers: arch.num_layers - moe_layers,
            layer_params: in_layers / arch.num_layers,
            softcapped: spec.model_type == "gemma2",
            qk_norm: matches!(spec.model_type.as_str(), "qwen3" | "qwen3_moe"),
        })
    }

    /// Modules of a group per decoder layer (per expert for `Expert` groups).
    pub(crate) fn per_layer(&self, g: &LinearGroup) -> u64 {
        match g.role {
            LinearRole::Expert => {
                let experts = self.arch.moe.map_or(1, |m| m.num_experts.max(1));
                g.count / (self.moe_layers.max(1) * experts)
            }
            LinearRole::SharedExpert | LinearRole::Router => g.count / self.moe_layers.max(1),
            LinearRole::Mlp if self.moe_layers > 0 && self.dense_layers > 0 => {
                g.count / self.dense_layers
            }
            LinearRole::Mlp if self.moe_layers > 0 => g.count / self.layers,
            _ => g.count / self.layers,
        }
        .max(1)
    }
}

/// Reject model shapes no real model has, so that every product the estimate forms stays inside u64 (a
/// hostile or broken config.json must give an error, never an overflow).
fn check_bounds(spec: &ModelSpec, arch: &Architecture) -> Result<()> {
    let att = &arch.attention;
    let dims = [
        ("hidden_size", arch.hidden_size, 1 << 20),
        ("num_layers", arch.num_layers, 1 << 16),
        ("vocab_size", arch.vocab_size, 1 << 24),
        ("intermediate_size", arch.intermediate_size, 1 << 24),
        ("num_heads", att.num_heads, 1 << 16),
        ("num_kv_heads", att.num_kv_heads, 1 << 16),
        ("head_dim", att.head_dim, 1 << 16),
        ("parameters.total", spec.parameters.total, 1 << 46),
    ];
    let moe = arch.moe.map(|m| {
        [
            ("num_experts", m.num_experts, 1 << 16),
            ("experts_per_token", m.experts_per_token, 1 << 16),
            (
                "expert_intermediate_size",
                m.expert_intermediate_size,
                1 << 24,
            ),
            (
                "shared_intermediate_size",
                m.shared_intermediate_size,
                1 << 24,
            ),
        ]
    });
    let mla = att.mla.map(|m| {
        [
            ("kv_lora_rank", m.kv_lora_rank, 1 << 20),
            ("qk_nope_head_dim", m.qk_nope_head_dim, 1 << 16),
            ("qk_rope_head_dim", m.qk_rope_head_dim, 1 << 16),
            ("v_head_dim", m.v_head_dim, 1 << 16),
        ]
    });
    for (name, value, max) in dims
        .into_iter()
        .chain(moe.into_iter().flatten())
        .chain(mla.into_iter().flatten())
    {
        if value > max {
            return Err(Error::invalid_msg(
                "model",
                Message::new(Key::InvalidModelImplausiblyLargeAtMost)
                    .text("name", name.to_string())
                    .text("value", value.to_string())
                    .text("max", max.to_string()),
            ));
        }
    }
    for g in &arch.linear_layers {
        if g.in_features > 1 << 24 || g.out_features > 1 << 24 || g.count > 1 << 24 {
            return Err(Error::invalid_msg(
                "model",
                Message::new(Key::InvalidModelLinearLayerHasImplausible)
                    .text("name", g.name.to_string()),
            ));
        }
        if (g.in_features * g.out_features).saturating_mul(g.count) > 1 << 46 {
            return Err(Error::invalid_msg(
                "model",
                Message::new(Key::InvalidModelLinearLayerHoldsImplausibly)
                    .text("name", g.name.to_string()),
            ));
        }
    }
    Ok(())
}
