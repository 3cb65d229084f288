//! The training peak: model states, sharding and offload, activations and loss, and which of the start of
//! backward or the optimizer step is the peak.

use std::cell::OnceCell;

use super::activations::{
    layer_cost, layer_transient_per_token, lm_head_adapter_per_token, loss_bytes_per_logit,
    ActInputs, LOSS_CHUNKS,
};
use super::band::expected_stranding;
use super::engine::AllocatorModel;
use super::part::{Part, BYTES_CAP};
use super::plan::{Method, Offload, Plan, Sharding};
use super::report::{gib, LengthBytes, Notes};
use super::shape::Shape;
use super::states::{states, trainable, StateInputs};
use super::varlen::{step_schedule, ScheduleInputs};
use super::weights::Weights;
use crate::message::{Key, Message};
use crate::model::ModelSpec;
use crate::Result;

/// What a plan of one `sequence_length` leaves out, said with every training estimate: the segments a
/// varying-length run strands (docs/estimator.md §10.3, §12.5), which a big GPU's reserved figure shows and a
/// full one gives back (`release_cached_blocks` on a failed `cudaMalloc`).
const FIXED_LENGTHS_NOTE: &str = "fixed lengths: every micro-batch is counted sequence_length long. Where batches change length from step to step (a dataset padded per batch), the caching allocator also keeps segments made for shorter batches: max_memory_reserved and nvidia-smi show them on a GPU with room (published runs of that kind measured up to twice this reserved figure), and PyTorch gives them back before it runs out of memory. The band's upper end allows for them. List the lengths in sequence_lengths to count them (one length where every batch is padded or packed to it); PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True avoids most of them";

/// The largest step the allocator model replays (16 TiB allocated, beyond any GPU): a step makes fewer than a
/// million allocations, none larger than its peak, so the model's address space and totals stay inside u64.
const SIMULATED_BYTES_CAP: u64 = 1 << 44;

/// A plan that leaves its batch lengths open gets the segments changing lengths are expected to strand in its
/// central figure (docs/estimator.md §10.3): adapter training (LoRA, QLoRA) with gradient checkpointing, where what
/// strands is the loss's large buffers, each in a segment of its own (the simulation matches the trace engine's
/// within 0.1 GiB on 6 of 8 traced plans), and where the allocator model's figure is a simple function of the step's
/// logits and activations; on one device without offload, where that model was derived. Without checkpointing the
/// per-layer tensors' order decides what a longer step can reuse, which the synthetic schedule only approximates,
/// and in full fine-tuning the optimizer step reuses part of what strands, by an amount that depends on where the
/// peak falls: the band's upper end allows for both, the central figure does not.
fn expects_stranding(plan: &Plan) -> bool {
    plan.allocator_model_applies()
        && matches!(plan.method, Some(Method::Lora | Method::Qlora))
        && plan.gradient_checkpointing
}

/// The lengths a run whose batches change length meets as new longest batches on its way to its longest, when
/// nothing is known of the dataset: with lengths uniform up to `sequence_length`, each new longest batch lies on
/// average halfway between the last one and `sequence_length`, so 1/2, 3/4, 7/8 and 15/16 of it, then all of it
/// (five record lengths: about as many as 64 steps meet, H(64) ≈ 4.7). The shorter batches between them fit in
/// segments already made and strand little more: over the checkpointed reference plans these five strand 0.90 of
/// what 64 such steps do in the median (0.51 to 1.17); the central figure's closed form is fitted to what they
/// strand ([`super::band::expected_stranding`], tests/core/estimate/stranding.rs).
pub fn reference_lengths(sequence_length: u64) -> Vec<u64> {
    [1u64, 3, 7, 15, 16]
        .iter()
        .zip([2u64, 4, 8, 16, 16])
        .map(|(n, d)| (sequence_length * n).div_ceil(d).max(1))
        .collect()
}

/// What the training estimate needs beyond the plan.
pub(crate) struct TrainInputs<'a> {
    pub spec: &'a ModelSpec,
    pub plan: &'a Plan,
    pub shape: &'a Shape<'a>,
    pub weights: &'a Weights,
    pub quantized: bool,
    pub kbit_upcast: bool,
    /// Whether the quantized layers' autograd functions keep their input (`LayerCost::bnb_inputs`): always for
    /// LLM.int8, for 4-bit by the bitsandbytes release, `None` when the plan names none.
    pub bnb_keeps_inputs: Option<bool>,
    /// The quantized layers are LLM.int8's.
    pub bnb_int8: bool,
    /// Compute dtype bytes.
    pub e: u64,
    pub b: u64,
    pub s: u64,
    pub gpu_count: u64,
    pub world: u64,
    pub allocator_model: AllocatorModel,
}

pub(crate) fn training(input: &TrainInputs, notes: &mut Notes) -> Result<Part> {
    let TrainInputs {
        spec,
        plan,
        shape,
        weights: w,
        quantized,
        kbit_upcast,
        bnb_keeps_inputs,
        bnb_int8,
        e,
        b,
        s,
        gpu_count,
        world,
        allocator_model,
    } = *input;
    let tokens = b * s;
    let h = shape.h;
    let mut part = Part::default();
    let c = &mut part.components;
    let mut cpu = 0u64;
    let mut managed;
    if let Some(note) = super::plan::framework::defaults_note(plan) {
        notes.add(|| note);
    }
    let t = trainable(spec, shape, plan)?;
    let trainable_params = t.params;
    let st = states(
        &StateInputs {
            plan,
            trainable: &t,
            weight_bytes: w.plain_bytes,
        },
        notes,
    );

    // ---- activations and loss ----
    let fsdp = plan.sharding.is_fsdp();
    // FSDP units that mix frozen base weights with LoRA adapters (see `Plan::fsdp_frozen_in_trainable_units`).
    let mixed_units = fsdp && plan.fsdp_frozen_in_trainable_units;
    if mixed_units {
        if let Some(l) = &plan.lora {
            if l.dtype.bytes() != w.plain_bytes && !quantized {
                // torch `_flat_param.py` `_validate_tensors_to_flatten`: "Must flatten tensors with uniform
                // dtype".
                return Err(crate::Error::invalid(
                    "fsdp_frozen_in_trainable_units",
                    format!(
                        "FSDP flattens a unit into one FlatParameter of a single dtype: {}-byte LoRA adapters cannot share it with {}-byte base weights; set lora.dtype to the weights' dtype",
                        l.dtype.bytes(),
                        w.plain_bytes
                    ),
                ));
            }
        }
    }
    // The residual stream is fp32 when the embeddings are: fp32 weights under autocast, or PEFT's upcast of
    // the embeddings and norms on a quantized base. Its norms then save fp32, and each linear reading it casts
    // (and saves) its own 16-bit copy.
    let e_res = if kbit_upcast || w.plain_bytes >= 4 {
        4
    } else {
        e
    };
    let act_inputs = |bnb_keeps_inputs: bool| ActInputs {
        plan,
        shape,
        trainable: &t,
        quantized,
        compute_bytes: e,
        residual_bytes: e_res,
        frozen_need_grad: mixed_units,
        bnb_keeps_inputs,
        bnb_int8,
    };
    // A release that is not named is taken for a current one; the band allows for an older one (below).
    let keeps = bnb_keeps_inputs.unwrap_or(false);
    let lc = layer_cost(&act_inputs(keeps));
    // Checkpointing without reentrance builds each layer's graph in forward and drops only its saved tensors, so
    // what bitsandbytes keeps on its autograd contexts stays for every layer until backward reaches it
    // (docs/estimator.md §6.4). Reentrant checkpointing runs forward under no_grad: no context is kept.
    let bnb_inputs_per_token: u64 = lc.bnb_inputs.iter().sum();
    let non_reentrant = plan.gradient_checkpointing && !plan.use_reentrant;
    let checkpointed_bnb = if non_reentrant && keeps {
        bnb_inputs_per_token
    } else {
        0
    };
    // Saturating: eager attention at absurd lengths is b·a·s², which must read "does not fit", not wrap.
    let per_layer = lc
        .per_token
        .saturating_add(lc.per_token_per_position.saturating_mul(s))
        .saturating_mul(tokens)
        .min(BYTES_CAP);
    let stored_layers = if plan.method == Some(Method::Freeze) {
        // Nothing below the first trainable layer needs a gradient, so nothing there is saved.
        plan.freeze_trainable_layers.get().min(shape.layers)
    } else {
        shape.layers
    };
    // Autocast casts each fp32 weight to the compute dtype for its matmul, and autograd saves that copy to
    // compute the input's gradient (torch `cached_cast`; the copy outlives autocast's cache because the graph
    // holds it). Quantized layers dequantize inside bitsandbytes instead.
    let weight_copy_per_layer = if plan.precision.is_mixed() && w.plain_bytes > e && !quantized {
        shape.layer_params * e
    } else {
        0
    };
    let (mut stored, recompute, kept_per_layer) = if plan.gradient_checkpointing {
        let kept = (e_res * h + checkpointed_bnb) * tokens;
        (
            stored_layers * kept,
            per_layer.saturating_add(weight_copy_per_layer),
            kept,
        )
    } else {
        let layer = per_layer.saturating_add(weight_copy_per_layer);
        (stored_layers.saturating_mul(layer).min(BYTES_CAP), 0, layer)
    };
    if plan.activation_offload {
        // Saved tensors go to pinned host memory as they are produced; a layer in flight each way
        // stays on the GPU (torchtune `OffloadActivations`).
        // What bitsandbytes keeps on its autograd contexts is no saved tensor, so the offload hooks never see it.
        let resident = stored_layers * checkpointed_bnb * tokens;
        let offloaded = stored - resident;
        cpu += offloaded * gpu_count;
        stored = offloaded.min(2 * (kept_per_layer - checkpointed_bnb * tokens)) + resident;
        notes.add(|| ("activation offload: saved activations live in CPU RAM, two layers' worth stay on the GPU in flight".to_string(), Message::new(Key::NoteActivationOffload)));
    }
    // What an older bitsandbytes release would keep beyond this estimate, where the plan names no release: the
    // band's upper end allows for it. Under checkpointing only where the plan itself asks for it without
    // reentrance: a framework's default is its current release's, and those that checkpoint without reentrance by
    // default (transformers 5, TRL from 0.27) need bitsandbytes 0.46.1 or later, while the releases of the
    // older bitsandbytes checkpointed reentrantly (transformers' Trainer before 5 fell back to torch's default).
    let explicit_non_reentrant =
        non_reentrant && !plan.from_framework.iter().any(|k| k == "use_reentrant");
    let older_bnb = if bnb_keeps_inputs.is_some() || !quantized {
        0
    } else if plan.gradient_checkpointing {
        if explicit_non_reentrant {
            stored_layers.saturating_mul(bnb_inputs_per_token.saturating_mul(tokens))
        } else {
            0
        }
    } else {
        let old = layer_cost(&act_inputs(true));
        let extra = (old.per_token.saturating_sub(lc.per_token)).saturating_mul(tokens);
        stored_layers.saturating_mul(extra).min(BYTES_CAP)
    };
    if checkpointed_bnb > 0 {
        let version = plan
            .bitsandbytes_version
            .clone()
            .unwrap_or_else(|| "LLM.int8".to_string());
        notes.add(|| {
            (
                format!(
                    "bitsandbytes {version}: each quantized layer keeps its input on its autograd context ({checkpointed_bnb} bytes per token per decoder layer), which checkpointing without reentrance (use_reentrant false) does not drop: every layer holds it until backward"
                ),
                Message::new(Key::NoteBnbInputs)
                    .text("version", version.clone())
                    .count("per_token", checkpointed_bnb),
            )
        });
    }
    let lm_head_trains = plan.method == Some(Method::Full) || plan.trainable_embeddings;
    // The final norm (fp32 copy of its input, or the 16-bit input under torch.compile) and lm_head's input
    // when lm_head trains.
    let final_norm = if plan.torch_compile { e * h } else { 4 * h };
    // lm_head's 16-bit copy of an fp32 weight (fp32 weights, or PEFT's upcast of a quantized base's head).
    let lm_head_fp32 = w.plain_bytes >= 4 || (kbit_upcast && !plan.quantize_lm_head);
    let head_copy = if plan.precision.is_mixed() && e < 4 && lm_head_fp32 {
        shape.vocab * h * e
    } else {
        0
    };
    let head = (final_norm
        + if lm_head_trains { e * h } else { 0 }
        + if t.lm_head_adapted {
            lm_head_adapter_per_token(plan, e, h, lm_head_trains)
        } else {
            0
        })
        * tokens
        + head_copy;
    let transient = layer_transient_per_token(shape, e) * tokens;
    // Gemma-2's final soft-capping: the tanh over the logits saves its 16-bit output for the loss's backward.
    let softcap_bytes = if shape.softcapped { e } else { 0 };
    let loss_full = shape.vocab * tokens * (loss_bytes_per_logit(e) + softcap_bytes);
    let loss = if plan.chunked_loss {
        loss_full / LOSS_CHUNKS
    } else {
        loss_full
    };
    let (activations, logits) = if loss >= recompute + transient {
        (stored + head, loss)
    } else {
        (stored + head + recompute + transient, 0)
    };
    notes.add(|| {
        let message = Message::new(Key::NoteActivations)
            .count("per_token", per_layer / tokens.max(1))
            .message(
                "checkpointing",
                if plan.gradient_checkpointing {
                    Message::new(Key::NoteCheckpointing).count("per_token", e_res * h)
                } else {
                    Message::new(Key::NoteNoCheckpointing)
                },
            )
            .phrase(
                "attention",
                match plan.attention {
                    super::plan::AttentionImpl::Eager => Key::NoteAttentionEager,
                    _ if shape.softcapped => Key::NoteAttentionSoftcap,
                    _ => Key::NoteAttentionSdpa,
                },
            );
        let text = format!(
            "activations: {} bytes per token per decoder layer saved for backward ({}), {}",
            per_layer / tokens.max(1),
            if plan.gradient_checkpointing {
                format!("gradient checkpointing keeps only each layer's input, {} bytes per token, and recomputes one layer at a time", e_res * h)
            } else {
                "no gradient checkpointing".to_string()
            },
            match plan.attention {
                super::plan::AttentionImpl::Eager => "eager attention keeps the b·a·s² softmax (fp32 and its 16-bit cast)",
                _ if shape.softcapped => "Gemma-2 has no SDPA path (soft-capping), so it attends eagerly: the b·a·s² softmax (fp32 and its 16-bit cast) and the capped scores' tanh are kept",
                _ => "SDPA/flash attention keeps no s×s matrix",
            }
        );
        (text, message)
    });
    notes.add(|| {
        let message = Message::new(Key::NoteLoss)
            .count("bytes", loss_bytes_per_logit(e))
            .count("batch", b)
            .count("elements", tokens * shape.vocab)
            .message(
                "detail",
                if plan.chunked_loss {
                    Message::new(Key::NoteLossChunked).count("chunks", LOSS_CHUNKS)
                } else {
                    Message::new(Key::NoteLossWhole)
                },
            );
        let text = format!(
            "loss: {} bytes per logit ({}·s·V = {} elements){}",
            loss_bytes_per_logit(e),
            b,
            tokens * shape.vocab,
            if plan.chunked_loss {
                format!(", chunked into {LOSS_CHUNKS} so one chunk is alive at a time")
            } else {
                ": at the loss's backward, the saved fp32 log-softmax, the fp32 gradient nll_loss hands back and the fp32 gradient log_softmax computes".to_string()
            }
        );
        (text, message)
    });

    // ---- sharding and offload ----
    let mut weights_gpu = w.gpu_bytes;
    let mut lora = st.lora_bytes;
    // The decoder layers' weights as stored (FSDP wraps each layer as one unit; the rest is the root unit).
    let layers_weight_bytes = w.gpu_bytes.saturating_sub(w.root_bytes);
    // A FlatParameter's gradient has the FlatParameter's numel and dtype: with frozen weights in the unit, the
    // gradient covers them too (torch `_wrap_utils.py` `_validate_frozen_params`).
    let frozen_grads = if mixed_units { layers_weight_bytes } else { 0 };
    if mixed_units {
        notes.add(|| {
            (
                format!(
                    "FSDP units mix frozen base weights with LoRA adapters (use_orig_params=True): each decoder layer's FlatParameter requires grad, so its gradient covers the frozen weights ({} over all layers before sharding) and every linear layer saves its input as in a full fine-tune",
                    gib(frozen_grads)
                ),
                Message::new(Key::NoteFsdpMixed).bytes("bytes", frozen_grads),
            )
        });
    }
    let unit_grads = st.grad_bytes + frozen_grads;
    let mut grads = if plan.optimizer_in_backward {
        notes.add(|| ("optimizer in backward: each gradient is freed right after its parameter's step, so only the largest one is alive".to_string(), Message::new(Key::NoteOptimizerInBackward)));
        st.largest_grad_bytes + frozen_grads
    } else {
        unit_grads
    };
    let mut optimizer = st.optimizer_bytes;
    managed = st.managed_bytes;
    let per_node = gpu_count;
    let mut bucket = 0;
    let sharding = plan.sharding;
    let accumulating = plan.gradient_accumulation_steps.get() > 1;
    // Gradients alive at the start of a micro-batch's backward while accumulating: FSDP's no_sync() keeps them
    // unsharded until the synchronizing micro-batch (torch `FullyShardedDataParallel.no_sync`;
    // `_runtime_utils.py` `_post_backward_hook` returns before the reduce-scatter when not syncing).
    let no_sync_unsharded = fsdp && plan.fsdp_no_sync && accumulating;
    let held_grads_whole = grads;
    if sharding.shards_optimizer() {
        optimizer /= world;
        managed /= world;
    }
    if sharding.shards_gradients() {
        grads /= world;
    }
    let mut gathered = 0;
    if sharding.shards_parameters() {
        weights_gpu /= world;
        lora /= world;
        gathered = if sharding == Sharding::FsdpFullShard {
            // FSDP frees a unit after its forward except the root's, which stays unsharded for backward
            // (torch FSDP1 `_runtime_utils.py` `_post_forward_reshard`: "Do not free the root's parameters in
            // the post-forward"; FSDP2 `_fsdp_state.py` `_lazy_init`: "For the root, do not reshard after
            // forward"). Backward then gathers the last decoder layer and prefetches the next
            // (`BackwardPrefetch.BACKWARD_PRE`).
            w.root_bytes + 2 * (layers_weight_bytes / shape.layers)
        } else {
            // DeepSpeed ZeRO-3 fetches by module with a prefetch bucket: the unit being computed and the one
            // prefetched; the output embedding is gathered whole for the loss and is often the largest.
            (2 * (w.gpu_bytes / shape.layers)).max(shape.vocab * h * w.plain_bytes)
        };
    }
    if sharding != Sharding::None {
        // The buffer gradients are reduced through.
        bucket = match sharding {
            // DeepSpeed's contiguous gradient buffer holds `reduce_bucket_size` elements (default 5e8,
            // runtime/zero/config.py) in the gradient dtype, or all gradients if they are fewer.
            Sharding::Zero1 | Sharding::Zero2 | Sharding::Zero3 => {
                let per_element = st.grad_bytes.checked_div(t.params).unwrap_or(0);
                st.grad_bytes.min(500_000_000 * per_element)
            }
            // FSDP reduce-scatters one wrapped unit (a decoder layer) at a time: its whole unsharded gradient,
            // frozen weights included when they share the unit.
            _ => unit_grads / shape.layers,
        };
    } else if world > 1 {
        // DDP's reducer allocates buckets as large as all gradients together
        // (`gradient_as_bucket_view=False` by default).
        bucket = st.grad_bytes;
        notes.add(|| {
            (
                "plain data parallel (DDP): gradient buckets double the gradient memory"
                    .to_string(),
                Message::new(Key::NoteDdp),
            )
        });
    }
    match plan.offload {
        Offload::None => {}
        Offload::Optimizer | Offload::OptimizerAndParams => {
            // ZeRO-Offload: fp32 states (and master weights) on the CPU, and the gradient partition with
            // them (DeepSpeed `offload_optimizer`).
            cpu += (optimizer + managed + st.grad_bytes / world * 2) * per_node;
            optimizer = 0;
            managed = 0;
            if sharding.shards_gradients() {
                grads = 0;
            }
            if plan.offload == Offload::OptimizerAndParams {
                cpu += weights_gpu * per_node;
                weights_gpu = 0;
            }
        }
    }
    if sharding != Sharding::None {
        notes.add(|| {
            // Every strategy that shards parameters shards gradients too (ZeRO-3, FSDP full shard).
            let sharded = if sharding.shards_parameters() {
                Key::NoteShardedAll
            } else if sharding.shards_gradients() {
                Key::NoteShardedGradients
            } else {
                Key::NoteShardedStates
            };
            let message = Message::new(Key::NoteSharding)
                .text("sharding", format!("{sharding:?}"))
                .count("gpus", world)
                .phrase("sharded", sharded);
            let text = format!(
                "{:?} over {world} GPUs: optimizer states{}{} sharded; activations are not",
                sharding,
                if sharding.shards_gradients() {
                    ", gradients"
                } else {
                    ""
                },
                if sharding.shards_parameters() {
                    ", parameters (two layers gathered at a time)"
                } else {
                    ""
                }
            );
            (text, message)
        });
    }

    // With CPU offload FSDP still keeps no_sync() gradients on the GPU ("the gradients will not be offloaded
    // to CPU when inside the context manager").
    let held_grads = if no_sync_unsharded {
        notes.add(|| {
            (
                format!(
                    "FSDP no_sync(): while accumulating, each unit's gradient stays unsharded until the synchronizing micro-batch ({} per GPU)",
                    gib(held_grads_whole)
                ),
                Message::new(Key::NoteNoSync).bytes("bytes", held_grads_whole),
            )
        });
        held_grads_whole
    } else if accumulating {
        grads
    } else {
        0
    };
    let statics = weights_gpu + gathered + lora + optimizer;
    let backward_start = statics + activations + logits + bucket + held_grads;
    // DeepSpeed steps with its fused Adam (no temporary); FSDP and plain runs use torch's foreach AdamW on
    // whatever the rank holds; optimizer-in-backward steps one parameter at a time.
    let step_temp = if plan.optimizer_in_backward {
        st.largest_step_temp_bytes
    } else if matches!(
        sharding,
        Sharding::Zero1 | Sharding::Zero2 | Sharding::Zero3
    ) || plan.offload != Offload::None
    {
        0
    } else if sharding.shards_optimizer() {
        st.step_temp_bytes / world
    } else {
        st.step_temp_bytes
    };
    let zero_fp32_grads = if matches!(
        sharding,
        Sharding::Zero1 | Sharding::Zero2 | Sharding::Zero3
    ) && plan.offload == Offload::None
    {
        st.fp32_grad_bytes / world
    } else {
        0
    };
    // Tied embeddings that train: the embedding's backward, last of all, computes a dense vocab × hidden
    // gradient and adds it to the one lm_head left, two more vocab × hidden tensors in the gradient dtype
    // while every other gradient is alive (the trace engine peaks there).
    let tied_end = if lm_head_trains && shape.arch.tie_word_embeddings && sharding == Sharding::None
    {
        2 * shape.vocab * h * st.grad_bytes.checked_div(t.params).unwrap_or(0)
    } else {
        0
    };
    let step = statics + grads + bucket + (step_temp + zero_fp32_grads).max(tied_end);
    c.weights = weights_gpu + gathered;
    c.lora = lora;
    c.optimizer = optimizer;
    if backward_start >= step {
        c.activations = activations;
        c.logits = logits;
        c.gradients = bucket + held_grads;
        notes.add(|| ("peak at the start of backward: every saved activation and the loss are alive; gradients of earlier steps are freed (zero_grad(set_to_none=True)) unless accumulating".to_string(), Message::new(Key::NotePeakBackward)));
    } else if tied_end > step_temp + zero_fp32_grads {
        c.gradients = grads + bucket + tied_end;
        notes.add(|| {
            (
                format!(
                    "peak at the end of backward: every gradient alive while the tied embedding's gradient is computed and added to lm_head's ({})",
                    gib(tied_end)
                ),
                Message::new(Key::NotePeakTied).bytes("bytes", tied_end),
            )
        });
    } else {
        c.gradients = grads + bucket + zero_fp32_grads;
        c.optimizer += step_temp;
        notes.add(|| {
            let message = Message::new(Key::NotePeakStep).optional("temporary", (step_temp > 0).then(|| Message::new(Key::NoteStepTemporary).bytes("bytes", step_temp)));
            let text = format!(
                "peak at the optimizer step: all gradients alive, activations freed{}",
                if step_temp > 0 {
                    format!(
                        "; torch's foreach AdamW adds a state-sized temporary ({}; fused=True avoids it)",
                        gib(step_temp)
                    )
                } else {
                    String::new()
                }
            );
            (text, message)
        });
    }
    part.trainable = trainable_params;
    // At the loss, wherever the backward's peak falls: a new longest batch's loss buffers need segments of their
    // own there, beside every saved activation, even where the first recomputed layer later needs more.
    part.length_bytes = LengthBytes {
        activations: stored + head,
        logits: loss,
        expected_stranded: 0,
        older_bnb,
        kept_inputs: stored_layers.saturating_mul(checkpointed_bnb.saturating_mul(tokens)),
    };
    part.managed = managed;
    part.cpu = cpu;
    // Varying batch lengths strand the shorter batches' segments (docs/estimator.md §10.3).
    let simulated = plan.lengths_simulated();
    // Lengths left open: the allocator model's closed form, at every shape (it costs nothing).
    let expected = plan.sequence_lengths.is_empty() && expects_stranding(plan);
    if plan.expandable_segments {
        notes.add(|| {
            (
                "expandable segments (PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True): the caching allocator grows one segment per stream and maps freed pages to new requests, so batches of changing length and blocks a step frees before larger ones leave nothing reserved beyond the usual slack".to_string(),
                Message::new(Key::NoteExpandableSegments),
            )
        });
    } else if plan.sequence_lengths.is_empty() && !expected {
        notes.add(|| {
            (
                FIXED_LENGTHS_NOTE.to_string(),
                Message::new(Key::NoteFixedLengths),
            )
        });
    }
    if !plan.sequence_lengths.is_empty() && plan.lengths_open() {
        notes.add(|| ("varying lengths: not simulated with sharding or offload; the estimate assumes every batch is sequence_length long".to_string(), Message::new(Key::NoteVaryingLengthsSkipped)));
    }
    // Only at the plan's own shape, which its lengths describe: the other shapes the solver and the what-if grid
    // try assume fixed shapes (and stay fast: one simulation costs what a hundred estimates do).
    let own_shape = b == plan.batch_size.get() && s == plan.sequence_length.get();
    // Built once, and its two fixed-length steps replayed once, for whichever of the models below run.
    let schedule_cell = OnceCell::new();
    let schedule = || {
        schedule_cell.get_or_init(|| {
            step_schedule(&ScheduleInputs {
                plan,
                shape,
                trainable: &t,
                grad_bytes: st.grad_bytes,
                optimizer_bytes: st.optimizer_bytes,
                layer: &lc,
                e,
                e_res,
                b,
                head_per_token: head.saturating_sub(head_copy) / tokens.max(1),
                stored_layers,
                checkpointed_bnb: checkpointed_bnb > 0,
                autocast_weights: weight_copy_per_layer > 0,
            })
        })
    };
    let fixed_cell = OnceCell::new();
    let fixed = || *fixed_cell.get_or_init(|| schedule().fixed_peaks(s));
    // What the step's own tensors leave reserved but free at its peak: the allocator model at the plan's shape,
    // where it was checked against the trace engine (docs/estimator.md §10.3).
    // Steps far beyond any GPU are not replayed: their verdict is known, and the model's byte counts stay in u64.
    let simulable = part.components.sum() <= SIMULATED_BYTES_CAP;
    if simulable
        && (own_shape || allocator_model == AllocatorModel::ThisShape)
        && plan.allocator_model_applies()
    {
        part.fragmented = fixed().fragmented();
    }
    if expected {
        // Layers that keep their inputs through the forward strand by their tensors' sizes, which the closed form
        // cannot follow (docs/estimator.md §10.3): at the plan's own shape the allocator model replays the
        // reference lengths themselves; the other shapes take the closed form.
        let stranded = if checkpointed_bnb > 0 && own_shape && simulable {
            schedule().stranded_bytes(&reference_lengths(s), fixed())
        } else {
            expected_stranding(part.length_bytes)
        };
        part.length_bytes.expected_stranded = stranded;
        notes.add(|| {
            let lengths = reference_lengths(s)
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            (
                format!(
                    "lengths left open: where batches change length from step to step (a dataset padded per batch), the caching allocator keeps segments made for shorter batches beside the longer ones'; {} expected in reserved, the allocator model's figure for the new longest batches a run meets on its way to sequence_length ({lengths}). PyTorch gives them back before it runs out of memory. List the lengths in sequence_lengths to count your own (one length where every batch is padded or packed to it); PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True avoids most of them",
                    gib(stranded)
                ),
                Message::new(Key::NoteExpectedLengths)
                    .bytes("bytes", stranded)
                    .text("lengths", lengths),
            )
        });
    }
    if !plan.sequence_lengths.is_empty() && simulated && own_shape && simulable {
        let lengths = &plan.sequence_lengths;
        part.stranded = schedule().stranded_bytes(lengths, fixed());
        let stranded = part.stranded;
        notes.add(|| {
            (
                format!(
                    "varying lengths: over {} micro-batches of the listed lengths, the caching allocator keeps {} of segments made for shorter batches that longer ones cannot reuse (simulated)",
                    lengths.len(),
                    gib(stranded)
                ),
                Message::new(Key::NoteVaryingLengths)
                    .count("steps", lengths.len() as u64)
                    .bytes("bytes", stranded),
            )
        });
    }
    Ok(part)
}
