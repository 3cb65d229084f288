//! Activation memory of training (docs/estimator.md §6) and the working set of inference (§4).
//!
//! Training counts, per decoder layer and token, the tensors autograd saves for backward, following who
//! saves what in PyTorch: a linear saves its input only when its weight needs a gradient (trainable or
//! carrying a LoRA adapter) or when bitsandbytes' own autograd function (`MatMul4Bit`, `MatMul8bitLt`) keeps
//! it regardless; SiLU/GELU save their input, the gated product both operands; HF `LlamaRMSNorm` upcasts its
//! input to fp32 and saves it; SDPA/FlashAttention save q, k, v, the output and an fp32 log-sum-exp
//! (FlashAttention arXiv:2205.14135 §3) while eager attention keeps the softmax (fp32) and its 16-bit cast
//! (b·a·s² each). For a dense Llama layer with everything trainable this is sb(12h + 4h_kv + 8I) plus the
//! fp32 norm inputs: the [derived] formula of docs/estimator.md §6.1, which generalises Korthikanti et al.
//! arXiv:2205.05198 §4.1 to SwiGLU/GQA/flash.

use super::plan::{AttentionImpl, Method, Plan};
use super::shape::{input_slot, InputSlot, Shape};
use super::states::Trainable;
use crate::model::LinearRole;

/// Per-token facts about one decoder layer's saved activations.
#[derive(Debug, Clone, Default)]
pub(crate) struct LayerCost {
    /// Bytes saved per token, independent of sequence length.
    pub per_token: u64,
    /// Bytes per token per token of context (eager attention's b·a·s² softmax).
    pub per_token_per_position: u64,
    /// Each tensor the layer saves, bytes per token; they add up to `per_token`. The allocator simulation of
    /// varying lengths (docs/estimator.md §10.3) needs single tensors' sizes: which cached block a longer
    /// batch's tensor can reuse depends on them, not on their sum.
    pub saved: Vec<u64>,
    /// The inputs of the layer's bitsandbytes layers, bytes per token, one entry per distinct tensor: what
    /// `MatMul4Bit` (before bitsandbytes 0.43.2) and `MatMul8bitLt` keep on their autograd context. Being an
    /// attribute of the context, not a saved tensor, checkpointing without reentrance cannot drop them
    /// (docs/estimator.md §6.4). Empty without quantized layers.
    pub bnb_inputs: Vec<u64>,
}

pub(crate) struct ActInputs<'a> {
    pub plan: &'a Plan,
    pub shape: &'a Shape<'a>,
    pub trainable: &'a Trainable,
    pub quantized: bool,
    pub compute_bytes: u64,
    /// Bytes of a residual-stream element: the compute dtype, or 4 when the embeddings are fp32.
    pub residual_bytes: u64,
    /// Every parameter of a decoder layer needs a gradient although only the adapters train: FSDP flattened
    /// frozen and trainable parameters into one `FlatParameter` that requires grad, and with
    /// `use_orig_params=True` the layer computes with views of it (torch `_flat_param.py`
    /// `_use_unsharded_views`), so autograd saves what a full fine-tune saves.
    pub frozen_need_grad: bool,
    /// The quantized layers' autograd functions keep their input (`LayerCost::bnb_inputs`).
    pub bnb_keeps_inputs: bool,
    /// The quantized layers are LLM.int8's, which keep the input they are handed (`Linear8bitLt` casts nothing),
    /// where a 4-bit layer keeps its own copy in the compute dtype (`Linear4bit` casts to it first).
    pub bnb_int8: bool,
}

/// Saved bytes of one decoder layer (a dense and an MoE variant: the mean weighted by layer count).
pub(crate) fn layer_cost(input: &ActInputs) -> LayerCost {
    let plan = input.plan;
    let shape = input.shape;
    let arch = shape.arch;
    let e = input.compute_bytes;
    let e_res = input.residual_bytes;
    // Linears that read the fp32 residual stream each cast their own 16-bit copy of it (autocast casts per op,
    // caching only weights), so q/k/v and gate/up save one copy each instead of sharing one.
    let copies_per_reader = e_res > e;
    let h = shape.h;
    let full = plan.method == Some(Method::Full)
        || plan.method == Some(Method::Freeze)
        || input.frozen_need_grad;
    let lora = plan.lora.as_ref();
    let lora_rank = lora.map_or(0, |l| l.rank);
    let lora_dropout = lora.is_some_and(|l| l.dropout > 0.0);
    // fp32 adapters under 16-bit autocast: each adapted linear's input is cast to 16-bit again and saved by
    // lora_A (PEFT `_cast_input_dtype` + autocast).
    let adapter_cast = lora.is_some_and(|l| l.dtype.bytes() != e);

    let mut slot_saved = [0u64; 4];
    let mut moe_per_token = 0u64;
    let mut own = 0u64;
    let mut lora_extra = 0u64;
    // The same bytes tensor by tensor: the slots that add a copy per reader, the layers' own inputs, adapters.
    let mut reader_copies: [Vec<u64>; 4] = Default::default();
    let mut items: Vec<u64> = Vec::new();
    // The quantized layers' inputs by slot, as the slots below count them: one shared tensor per slot, or a copy
    // per reader; the layers' own inputs with the copies.
    let mut bnb_shared = [0u64; 4];
    let mut bnb_inputs: Vec<u64> = Vec::new();
    for (i, g) in arch.linear_layers.iter().enumerate() {
        if g.role == LinearRole::LmHead {
            continue;
        }
        let adapted = input.trainable.adapted.get(i).copied().unwrap_or(false);
        let quantized_here = input.quantized && g.role != LinearRole::Expert;
        // lora_A saves the very input tensor only when it gets it unchanged (no dropout, no dtype cast);
        // otherwise it saves its own copy, counted with the adapter below.
        let lora_shares_input = adapted && !lora_dropout && !adapter_cast;
        let saves = full || (quantized_here && input.bnb_keeps_inputs) || lora_shares_input;
        let per_layer = shape.per_layer(g);
        // Weight of this group in an average layer (MoE groups only exist in MoE layers).
        let layer_share = |bytes: u64| -> u64 {
            match g.role {
                LinearRole::Expert | LinearRole::SharedExpert | LinearRole::Router => {
                    bytes * shape.moe_layers / shape.layers
                }
                LinearRole::Mlp if shape.moe_layers > 0 => {
                    bytes * shape.dense_layers / shape.layers
                }
                _ => bytes,
            }
        };
        if adapted {
            // lora_A's output, saved by lora_B.
            let mut tensors = vec![e * lora_rank];
            if lora_dropout {
                // dropout's output (saved by lora_A) and its mask (1 byte).
                tensors.extend([e * g.in_features, g.in_features]);
            } else if adapter_cast {
                // Under autocast lora_A saves the 16-bit recast; without autocast, the adapter-dtype copy.
                let copy = if plan.precision.is_mixed() {
                    e
                } else {
                    lora.map_or(e, |l| l.dtype.bytes())
                };
                tensors.push(copy * g.in_features);
            }
            let x: u64 = tensors.iter().sum();
            lora_extra += layer_share(x * per_layer);
            for _ in 0..per_layer {
                items.extend(tensors.iter().map(|&t| layer_share(t)));
            }
        }
        if g.role == LinearRole::Expert {
            // Every token visits k experts; each expert saves its (gathered) input when it saves at all,
            // plus the gated MLP's intermediates, added below.
            if saves {
                let k = arch.moe.map_or(1, |m| m.experts_per_token);
                if matches!(input_slot(&g.name), InputSlot::MlpIn) {
                    moe_per_token = moe_per_token.max(k * e * g.in_features);
                }
            }
            continue;
        }
        // What bitsandbytes keeps of this layer's input: its slot (None: the layer's own input) and bytes.
        let kept = quantized_here.then(|| {
            let slot_of = input_slot(&g.name);
            // LLM.int8 keeps the residual stream's own tensor, shared by its readers, and the gated product as
            // the MLP computed it (fp32 on an fp32 stream, see `mlp_e` below).
            let int8_bytes = match slot_of {
                InputSlot::AttnIn | InputSlot::MlpIn | InputSlot::MlpInner => e_res,
                InputSlot::AttnOut | InputSlot::Own => e,
            };
            let bytes = if input.bnb_int8 { int8_bytes } else { e } * g.in_features;
            let per_reader = copies_per_reader && !input.bnb_int8;
            let slot = match slot_of {
                InputSlot::AttnIn => Some((0, per_reader)),
                InputSlot::AttnOut => Some((1, false)),
                InputSlot::MlpIn => Some((2, per_reader)),
                InputSlot::MlpInner => Some((3, false)),
                InputSlot::Own => None,
            };
            (slot, layer_share(bytes))
        });
        if let Some((slot, bytes)) = kept {
            match slot {
                Some((_, true)) => bnb_inputs.push(bytes),
                Some((i, false)) => bnb_shared[i] = bnb_shared[i].max(bytes),
                None => bnb_inputs.extend((0..per_layer).map(|_| bytes)),
            }
        }
        if !saves {
            continue;
        }
        // An LLM.int8 layer that saves only for bitsandbytes saves the tensor it was handed, shared by its slot's
        // readers (`LayerCost::bnb_inputs`), not a 16-bit copy each.
        if let Some((slot, bytes)) = kept.filter(|_| input.bnb_int8 && !full && !lora_shares_input)
        {
            match slot {
                Some((i, _)) => slot_saved[i] = slot_saved[i].max(bytes),
                None => {
                    own += bytes * per_layer;
                    items.extend((0..per_layer).map(|_| bytes));
                }
            }
            continue;
        }
        let bytes = e * g.in_features;
        match input_slot(&g.name) {
            InputSlot::AttnIn if copies_per_reader => {
                slot_saved[0] += bytes;
                reader_copies[0].push(bytes);
            }
            InputSlot::AttnIn => slot_saved[0] = slot_saved[0].max(bytes),
            InputSlot::AttnOut => slot_saved[1] = slot_saved[1].max(bytes),
            InputSlot::MlpIn if copies_per_reader => {
                slot_saved[2] += layer_share(bytes);
                reader_copies[2].push(layer_share(bytes));
            }
            InputSlot::MlpIn => slot_saved[2] = slot_saved[2].max(layer_share(bytes)),
            InputSlot::MlpInner => slot_saved[3] = slot_saved[3].max(layer_share(bytes)),
            InputSlot::Own => {
                own += layer_share(bytes * per_layer);
                items.extend((0..per_layer).map(|_| layer_share(bytes)));
            }
        }
    }

    // Norms: HF RMSNorm saves the fp32 copy of its input, plus the normalized output when the norm weight
    // trains; under torch.compile the fused norm keeps only its 16-bit input (the rest is recomputed).
    let norm = if plan.torch_compile {
        e * h
    } else {
        4 * h + if full { e_res * h } else { 0 }
    };
    let norms = 2 * norm;
    if plan.torch_compile {
        items.extend([e * h; 2]);
    } else {
        items.extend([4 * h; 2]);
        if full {
            items.extend([e_res * h; 2]);
        }
    }
    // q and k norms (Qwen3): the same RMSNorm on each head of the projections' 16-bit output, so the fp32 copy,
    // rsqrt's per-head fp32 output, and the normalized 16-bit output when the norm weights train.
    let qk_norm_tensors: Vec<u64> = if !shape.qk_norm {
        Vec::new()
    } else if plan.torch_compile {
        vec![e * shape.q_dim, e * shape.kv_dim]
    } else {
        let heads = att_heads(shape);
        let mut t = vec![4 * shape.q_dim, 4 * shape.kv_dim, 4 * heads.0, 4 * heads.1];
        if full {
            t.extend([e * shape.q_dim, e * shape.kv_dim]);
        }
        t
    };
    let qk_norms: u64 = qk_norm_tensors.iter().sum();
    items.extend(qk_norm_tensors);

    // Attention: q, k, v after RoPE, output, fp32 log-sum-exp per head.
    let att = &arch.attention;
    let fused_qkv = arch.linear_layers.iter().any(|g| {
        matches!(
            g.name.as_str(),
            "qkv_proj" | "query_key_value" | "c_attn" | "Wqkv"
        )
    });
    let attention_tensors: Vec<u64> = match att.mla {
        Some(m) => {
            let qk = e * att.num_heads * (m.qk_nope_head_dim + m.qk_rope_head_dim);
            let v = e * att.num_heads * m.v_head_dim;
            vec![qk, qk, v, v]
        }
        None if effective_attention(plan, shape) != AttentionImpl::Flash => {
            vec![e * shape.q_dim; 4]
        }
        None => vec![
            e * shape.q_dim,
            e * shape.q_dim,
            e * shape.kv_dim,
            e * shape.kv_dim,
        ],
    };
    items.extend(attention_tensors);
    items.push(4 * att.num_heads);
    if fused_qkv {
        items.push(e * (shape.q_dim + shape.kv_dim));
    }
    let attention = match att.mla {
        // MLA attends with per-head queries and keys of nope+rope dims and values of v dims.
        Some(m) => {
            let qk = att.num_heads * (m.qk_nope_head_dim + m.qk_rope_head_dim);
            let v = att.num_heads * m.v_head_dim;
            e * (2 * qk + 2 * v)
        }
        // transformers repeats grouped keys and values to every query head (`repeat_kv`) in eager attention and
        // in the SDPA path whenever it passes an attention mask (`use_gqa_in_sdpa` is false with a mask), and
        // the attention saves the repeated ones; FlashAttention takes the groups as they are.
        None if effective_attention(plan, shape) != AttentionImpl::Flash => e * (4 * shape.q_dim),
        None => e * (2 * shape.q_dim + 2 * shape.kv_dim),
    } + 4 * att.num_heads
        // A fused qkv projection (phi3 `qkv_proj`, GPT-NeoX `query_key_value`) hands attention v as a view
        // of its whole output, so q and k's pre-RoPE parts stay alive with it.
        + if fused_qkv { e * (shape.q_dim + shape.kv_dim) } else { 0 };
    // Soft-capped scores: the tanh saves its output, one more 16-bit s×s matrix beside the softmax's two.
    let per_position = match effective_attention(plan, shape) {
        AttentionImpl::Eager if shape.softcapped => (4 + 2 * e) * att.num_heads,
        AttentionImpl::Eager => (4 + e) * att.num_heads,
        _ => 0,
    };

    // MLP intermediates that are saved whatever trains: activation input, activation output, the up branch.
    let gated = if arch.gated_mlp { 3 } else { 1 };
    // bitsandbytes' layers hand back their output in their input's dtype (`out.to(inp_dtype)` in Linear4bit and
    // Linear8bitLt), so on an fp32 residual stream the gate and up projections' outputs, and what SiLU and the
    // gated product save of them, are fp32.
    let mlp_e = if input.quantized { e_res } else { e };
    let dense_mlp = mlp_e * gated * arch.intermediate_size;
    let moe_mlp = arch.moe.map_or(0, |m| {
        let k = m.experts_per_token;
        e * gated * (k * m.expert_intermediate_size + m.shared_intermediate_size)
            + moe_per_token
            // router logits, softmax in fp32
            + 4 * m.num_experts
            // each expert's output times its routing weight: the product saves the output, since the router
            // weights need a gradient (transformers' MoE blocks)
            + e * k * h
            // the inner activation each expert's down projection saves when experts train
            + if full { e * k * m.expert_intermediate_size } else { 0 }
    });
    let mlp = (dense_mlp * shape.dense_layers + moe_mlp * shape.moe_layers) / shape.layers;
    if shape.moe_layers == 0 {
        let inner = mlp_e * arch.intermediate_size;
        let fused_gate_up = arch.linear_layers.iter().any(|g| g.name == "gate_up_proj");
        if fused_gate_up {
            // Phi-3's fused projection: gate and up are views of one 2I-wide output, which SiLU and the product
            // keep alive whole, beside SiLU's output.
            items.extend([2 * inner, inner]);
        } else {
            items.extend(vec![inner; gated as usize]);
        }
    }
    for (slot, copies) in reader_copies.iter().enumerate() {
        if copies.is_empty() {
            items.push(slot_saved[slot]);
        } else {
            items.extend(copies);
        }
    }

    let per_token =
        norms + qk_norms + slot_saved.iter().sum::<u64>() + own + attention + mlp + lora_extra;
    bnb_inputs.extend(bnb_shared);
    bnb_inputs.retain(|&t| t > 0);
    LayerCost {
        per_token,
        per_token_per_position: per_position,
        saved: itemized(items, per_token, e * h),
        bnb_inputs,
    }
}

/// Query and key/value heads.
fn att_heads(shape: &Shape) -> (u64, u64) {
    let att = &shape.arch.attention;
    (att.num_heads, att.num_kv_heads)
}

/// The listed tensors without the empty ones, with what the list misses of `per_token` (an MoE layer's MLP,
/// shares rounded down) as `piece`-sized tensors.
fn itemized(mut items: Vec<u64>, per_token: u64, piece: u64) -> Vec<u64> {
    items.retain(|&t| t > 0);
    let listed: u64 = items.iter().sum();
    let mut rest = per_token.saturating_sub(listed);
    while rest > 0 {
        let next = rest.min(piece.max(1));
        items.push(next);
        rest -= next;
    }
    items
}

/// The attention transformers runs: what the plan asks for, except that a model with no SDPA path (Gemma-2's
/// soft-capping) falls back to eager.
pub(crate) fn effective_attention(plan: &Plan, shape: &Shape) -> AttentionImpl {
    match plan.attention {
        AttentionImpl::Sdpa if shape.softcapped => AttentionImpl::Eager,
        other => other,
    }
}

/// Bytes per token an adapter on the output head saves for backward: lora_A's input (the final norm's output,
/// which the frozen head itself would not keep; shared when lora_A gets it unchanged, else dropout's output
/// and mask or the dtype-cast copy) and lora_A's rank-sized output, saved by lora_B. `input_saved`: the head
/// trains in full and already keeps its input. lora_B's V-wide output is added to the head's and freed at
/// once, below the loss's fp32 logits that follow.
pub(crate) fn lm_head_adapter_per_token(plan: &Plan, e: u64, h: u64, input_saved: bool) -> u64 {
    let Some(lora) = plan.lora.as_ref() else {
        return 0;
    };
    let input = if lora.dropout > 0.0 {
        (e + 1) * h
    } else if lora.dtype.bytes() != e {
        (if plan.precision.is_mixed() {
            e
        } else {
            lora.dtype.bytes()
        }) * h
    } else if input_saved {
        0
    } else {
        e * h
    };
    input + e * lora.rank
}

/// Bytes of the largest transient working set of one layer per token: the MLP's intermediates (or their
/// gradients in backward) alive at once, about 3 intermediate-sized tensors plus 3 hidden-sized ones
/// (docs/estimator.md §6.3 prefill working set: b·s·(3I + 3h + 2h_kv)·2 B).
pub(crate) fn layer_transient_per_token(shape: &Shape, e: u64) -> u64 {
    let arch = shape.arch;
    let inner = arch.moe.map_or(arch.intermediate_size, |m| {
        let moe = m.experts_per_token * m.expert_intermediate_size + m.shared_intermediate_size;
        if shape.dense_layers > 0 {
            moe.max(arch.intermediate_size)
        } else {
            moe
        }
    });
    e * (3 * inner + 3 * shape.h + 2 * shape.kv_dim)
}

/// Bytes per logit element at the loss's peak, which is in backward (docs/estimator.md §7). Forward holds the
/// lm_head output in the compute dtype, its fp32 upcast (`logits.float()` in transformers' `ForCausalLMLoss`) and
/// the fp32 log-softmax that `cross_entropy` saves: e + 4 + 4. Backward then holds the saved log-softmax, the
/// full-size fp32 gradient `nll_loss` hands back, and the fp32 gradient `log_softmax` computes from both while
/// the forward's logits are gone: 4 + 4 + 4 = 12, more than forward's 10 for 16-bit compute. The trace engine
/// shows the same 12 (the peak in the loss's backward).
pub(crate) fn loss_bytes_per_logit(e: u64) -> u64 {
    let forward = if e >= 4 { 8 } else { e + 4 + 4 };
    let backward = 12;
    forward.max(backward)
}

/// Chunks of the chunked cross-entropy (torchtune `CEWithChunkedOutputLoss(num_output_chunks=8)`): only one
/// chunk's fp32 logits and log-softmax exist at a time.
pub(crate) const LOSS_CHUNKS: u64 = 8;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimate::shape::architecture;
    use crate::estimate::states::trainable;
    use crate::estimate::{builtin_presets, parse_plan};
    use crate::model::{catalog, from_config};
    use serde_json::json;

    /// The allocator simulation sizes single tensors from `saved` while the estimate adds up `per_token`: the
    /// two must describe the same bytes for every architecture and for what changes who saves what.
    #[test]
    fn the_saved_tensors_add_up_to_the_layers_bytes() {
        let plans = [
            json!({"method": "full"}),
            json!({"method": "full", "precision": "bf16-mixed", "torch_compile": true}),
            json!({"method": "lora", "lora": {"target_modules": "all-linear", "dropout": 0.05}}),
            json!({"method": "lora", "lora": {"target_modules": ["q_proj", "v_proj"], "dropout": 0.0}}),
            json!({"method": "lora", "lora": {"dtype": "fp32", "dropout": 0.0}, "attention": "eager"}),
            json!({"method": "qlora", "quantization": "int4", "attention": "flash"}),
            json!({"method": "lora", "quantization": "int8", "lora": {"dropout": 0.0}}),
        ];
        let presets = builtin_presets();
        let mut checked = 0;
        for entry in catalog::entries().unwrap() {
            let Ok(spec) = from_config(&entry.config, &entry.id) else {
                continue;
            };
            let Ok(arch) = architecture(&spec) else {
                continue;
            };
            let shape = Shape::new(&spec, arch).unwrap();
            for p in &plans {
                let mut v = p.clone();
                v["model"] = json!({"id": entry.id});
                v["task"] = json!("train");
                let plan = parse_plan(&v.to_string(), &presets).unwrap();
                let Ok(t) = trainable(&spec, &shape, &plan) else {
                    continue;
                };
                let int8 = plan.quantization.as_deref() == Some("int8");
                let quantized = plan.method == Some(Method::Qlora) || int8;
                for e_res in [2, 4] {
                    let lc = layer_cost(&ActInputs {
                        plan: &plan,
                        shape: &shape,
                        trainable: &t,
                        quantized,
                        compute_bytes: 2,
                        residual_bytes: e_res,
                        frozen_need_grad: false,
                        bnb_keeps_inputs: quantized,
                        bnb_int8: int8,
                    });
                    assert_eq!(
                        lc.saved.iter().sum::<u64>(),
                        lc.per_token,
                        "{} {p}: {:?}",
                        entry.id,
                        lc.saved
                    );
                    assert!(lc.saved.iter().all(|&t| t > 0));
                    checked += 1;
                }
            }
        }
        assert!(checked > 100, "only {checked} layers checked");
    }
}
