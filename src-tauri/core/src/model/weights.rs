//! Parameter counts and stored dtype from safetensors headers: the truth for a model folder.
//!
//! Counting rule (docs/estimator.md §2.2, "Exactly from safetensors"): Σ prod(shape), PyTorch's
//! `sum(p.numel() for p in model.parameters())`. Quantized checkpoints store more tensors than parameters and
//! pack several values per element; each scheme is undone from the header alone:
//! - bitsandbytes 4-bit (`QuantState.as_dict(packed=True)`, bitsandbytes `functional.py`): the weight is a packed
//!   tensor of 2 values per byte whatever its container dtype (`bnb_4bit_quant_storage`), beside `absmax`,
//!   `quant_map`, `nested_absmax`, `nested_quant_map` and `quant_state.bitsandbytes__nf4|fp4` tensors, which are
//!   quantization state, not parameters.
//! - bitsandbytes 8-bit (`Int8Params`): int8 weight at its real shape plus `SCB` (fp32 row scales) and
//!   `weight_format`: state, not parameters.
//! - GPTQ (AutoGPTQ `qlinear_cuda_old.py`) and AWQ (AutoAWQ `gemm.py`): `qweight` packs `32 / bits` values into
//!   each I32; `qzeros`, `scales`, `g_idx` are state.
//! - Fine-grained FP8 (transformers `FineGrainedFP8Config`): F8 weights at their real shape; `weight_scale_inv`,
//!   `weight_scale`, `input_scale` are state.

use std::collections::{BTreeMap, HashSet};

use super::safetensors::{Checkpoint, TensorDtype, TensorInfo};
use super::spec::{DType, ParameterCounts};
use crate::message::{Key, Message};

/// What the config's `quantization_config` says about packing (only what changes the counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    None,
    /// GPTQ/AWQ `qweight`: `32 / bits` values per I32.
    QWeight {
        bits: u64,
    },
}

/// Counts read from headers, with the same breakdown as [`ParameterCounts`] (by tensor name: see
/// [`classify`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderCounts {
    pub parameters: ParameterCounts,
    /// Parameters per stored dtype (packed 4-bit weights under [`DType::Packed4`]).
    pub by_dtype: Vec<(DType, u64)>,
    /// Stored dtypes that have no [`DType`] (BOOL, F64, …), with their parameter counts.
    pub unmapped: BTreeMap<TensorDtype, u64>,
    /// Quantization-state tensors that were not counted as parameters.
    pub state_tensors: u64,
    /// Stored buffers (see [`BUFFERS`]) that were not counted as parameters, and their elements.
    pub buffers: (u64, u64),
    pub notes: Vec<Message>,
}

impl HeaderCounts {
    /// The dtype holding the most parameters: what "the model's stored dtype" means for a mixed checkpoint.
    pub fn dominant_dtype(&self) -> Option<DType> {
        self.by_dtype
            .iter()
            .max_by_key(|(_, n)| *n)
            .map(|(d, _)| *d)
    }
}

const BNB4_STATE: &[&str] = &[
    ".absmax",
    ".quant_map",
    ".nested_absmax",
    ".nested_quant_map",
    ".quant_state.bitsandbytes__nf4",
    ".quant_state.bitsandbytes__fp4",
];
const OTHER_STATE: &[&str] = &[
    ".SCB",
    ".weight_format",
    ".qzeros",
    ".scales",
    ".g_idx",
    ".weight_scale_inv",
    ".weight_scale",
    ".input_scale",
];

/// Buffers some checkpoints store beside the weights; `model.parameters()` does not yield them: DeepSeek-V3's
/// router `e_score_correction_bias` (`register_buffer` in transformers' `DeepseekV3TopkRouter`) and the rotary
/// `inv_freq` tables older Llama checkpoints saved.
const BUFFERS: &[&str] = &[".e_score_correction_bias", ".rotary_emb.inv_freq"];

/// Where a tensor belongs in [`ParameterCounts`], by the names transformers gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Embedding,
    LmHead,
    Linear,
    Other,
}

/// Embeddings: `embed_tokens` (Llama family), `wte` (GPT-2, BigCode, Qwen v1), `word_embeddings` (BLOOM, BERT,
/// Falcon), `embed_in` (GPT-NeoX), `shared` (T5). Output: `lm_head`, `embed_out` (GPT-NeoX). Linear: any
/// weight of two or more dimensions elsewhere (3-D fused experts included) and the bias beside it. Position
/// tables (`wpe`, `position_embeddings`) are "other", as in [`ParameterCounts`].
pub fn classify(name: &str, dims: usize, multi_dim_weights: &HashSet<&str>) -> Part {
    let stem = name.strip_suffix(".weight").unwrap_or(name);
    let leaf = stem.rsplit('.').next().unwrap_or(stem);
    if name.starts_with("lm_head.") || leaf == "embed_out" {
        return Part::LmHead;
    }
    if matches!(
        leaf,
        "embed_tokens" | "wte" | "word_embeddings" | "embed_in" | "shared"
    ) {
        return Part::Embedding;
    }
    if matches!(
        leaf,
        "wpe" | "position_embeddings" | "token_type_embeddings"
    ) {
        return Part::Other;
    }
    if dims >= 2 {
        return Part::Linear;
    }
    if let Some(base) = name.strip_suffix(".bias") {
        if multi_dim_weights.contains(format!("{base}.weight").as_str()) {
            return Part::Linear;
        }
    }
    Part::Other
}

fn map_dtype(d: TensorDtype) -> Option<DType> {
    Some(match d {
        TensorDtype::F32 => DType::F32,
        TensorDtype::F16 => DType::F16,
        TensorDtype::Bf16 => DType::Bf16,
        TensorDtype::F8E4m3 | TensorDtype::F8E4m3Fnuz => DType::F8E4m3,
        TensorDtype::F8E5m2 | TensorDtype::F8E5m2Fnuz => DType::F8E5m2,
        TensorDtype::I8 => DType::I8,
        TensorDtype::U8 => DType::U8,
        TensorDtype::I32 => DType::I32,
        TensorDtype::I64 => DType::I64,
        TensorDtype::F4 => DType::Packed4,
        _ => return None,
    })
}

/// Count a checkpoint's parameters. `tied` drops a stored `lm_head` that duplicates the embedding (PyTorch yields
/// a tied weight once).
pub fn count(checkpoint: &Checkpoint, packing: Packing, tied: bool) -> HeaderCounts {
    // The weights that have a bitsandbytes 4-bit quant state beside them, found once from the state tensors'
    // names rather than by building NAME + suffix for every tensor.
    let bnb4_weights: HashSet<&str> = checkpoint
        .tensors
        .iter()
        .filter_map(|t| BNB4_STATE[4..].iter().find_map(|s| t.name.strip_suffix(s)))
        .collect();
    let multi_dim: HashSet<&str> = checkpoint
        .tensors
        .iter()
        .filter(|t| t.shape.len() >= 2)
        .map(|t| t.name.as_str())
        .collect();
    let mut out = HeaderCounts {
        parameters: ParameterCounts::default(),
        by_dtype: Vec::new(),
        unmapped: BTreeMap::new(),
        state_tensors: 0,
        buffers: (0, 0),
        notes: Vec::new(),
    };
    let mut packed4 = 0u64;
    let mut qweights = 0u64;
    let mut embedding_shape: Option<&Vec<u64>> = None;
    let mut lm_head: Option<&TensorInfo> = None;
    for t in &checkpoint.tensors {
        if BUFFERS.iter().any(|s| t.name.ends_with(s)) {
            out.buffers.0 += 1;
            out.buffers.1 = out.buffers.1.saturating_add(t.elements);
            continue;
        }
        if BNB4_STATE.iter().any(|s| t.name.ends_with(s))
            || OTHER_STATE.iter().any(|s| t.name.ends_with(s))
        {
            out.state_tensors += 1;
            continue;
        }
        let is_bnb4 = bnb4_weights.contains(t.name.as_str());
        let (elements, dtype) = if is_bnb4 {
            packed4 += 1;
            (t.bytes.saturating_mul(2), Some(DType::Packed4))
        } else if let (Packing::QWeight { bits }, true) = (packing, t.name.ends_with(".qweight")) {
            qweights += 1;
            // 3-bit GPTQ packs 32 values into 3 words: count stored bits / bits, not words × (32 / bits).
            let dtype = if bits <= 4 { DType::Packed4 } else { DType::I8 };
            (t.bytes.saturating_mul(8) / bits.max(1), Some(dtype))
        } else {
            (t.elements, map_dtype(t.dtype))
        };
        let part = if t.name.ends_with(".qweight") || is_bnb4 {
            Part::Linear
        } else {
            classify(&t.name, t.shape.len(), &multi_dim)
        };
        match part {
            Part::Embedding => {
                embedding_shape = Some(&t.shape);
                out.parameters.embedding = out.parameters.embedding.saturating_add(elements)
            }
            Part::LmHead => {
                lm_head = Some(t);
                out.parameters.lm_head = out.parameters.lm_head.saturating_add(elements)
            }
            Part::Linear => out.parameters.linear = out.parameters.linear.saturating_add(elements),
            Part::Other => out.parameters.other = out.parameters.other.saturating_add(elements),
        }
        match dtype {
            Some(d) => match out.by_dtype.iter_mut().find(|(k, _)| *k == d) {
                Some((_, n)) => *n = n.saturating_add(elements),
                None => out.by_dtype.push((d, elements)),
            },
            None => *out.unmapped.entry(t.dtype).or_default() += elements,
        }
    }
    if let (true, Some(head), Some(embed)) = (tied, lm_head, embedding_shape) {
        if &head.shape == embed {
            out.notes.push(Message::new(Key::NoteModelTiedLmHead));
            out.parameters.lm_head = 0;
            if let Some(d) = map_dtype(head.dtype) {
                if let Some((_, n)) = out.by_dtype.iter_mut().find(|(k, _)| *k == d) {
                    *n = n.saturating_sub(head.elements);
                }
            }
        }
    }
    let p = &mut out.parameters;
    p.total = p
        .embedding
        .saturating_add(p.lm_head)
        .saturating_add(p.linear)
        .saturating_add(p.other);
    if out.buffers.0 > 0 {
        out.notes.push(
            Message::new(Key::NoteModelBuffers)
                .count("tensors", out.buffers.0)
                .count("elements", out.buffers.1),
        );
    }
    if packed4 > 0 {
        out.notes.push(
            Message::new(Key::NoteModelBnb4)
                .count("weights", packed4)
                .count("state", out.state_tensors),
        );
    } else if qweights > 0 {
        out.notes.push(
            Message::new(Key::NoteModelQweight)
                .count("tensors", qweights)
                .count("state", out.state_tensors),
        );
    } else if out.state_tensors > 0 {
        out.notes
            .push(Message::new(Key::NoteModelStateTensors).count("state", out.state_tensors));
    }
    out
}
