//! The estimate: puts weights, training states, activations, KV cache and overheads together at the moment
//! of peak memory, shards them across GPUs, and adds what the caching allocator and the CUDA context cost.

use super::activations::{
    layer_cost, layer_transient_per_token, loss_bytes_per_logit, ActInputs, LOSS_CHUNKS,
};
use super::gpus;
use super::kv::kv_bytes;
use super::plan::{KvDtype, Method, Offload, Plan, PrefillLogits, Sharding, Task};
use super::preset::{Placement, PresetInfo, WeightFormat};
use super::report::{gib, Components, Estimate, Notes, ParameterSummary, PerGpu};
use super::shape::{architecture, Shape};
use super::states::{states, trainable, StateInputs};
use super::weights::{weights, WeightInputs};
use crate::model::{DType, ModelSpec};
use crate::{Error, Result};

const MIB: u64 = 1 << 20;

/// Terms that grow with s² or batch × layers are clamped here (64 PiB, beyond any GPU): a sum of a few such
/// terms stays inside u64, and the verdict is "does not fit" either way.
const BYTES_CAP: u64 = 1 << 56;

/// CUDA context per process and GPU: not visible to `torch.cuda.memory_*`. PyTorch maintainers report
/// 300–400 MB with lazy module loading (CUDA ≥ 11.7, pytorch#20532, #109888); FORMULAS.md §6 sets 500 MiB as
/// the default until measured on the user's GPU.
pub const CUDA_CONTEXT_BYTES: u64 = 500 * MIB;

/// cuBLAS workspace per handle: `:4096:2:16:8` = 2·4 MiB + 8·16 KiB before Hopper, 32 MiB on sm90+
/// (PyTorch `CublasHandlePool.cpp`, FORMULAS.md §6). Allocated through the caching allocator.
fn cublas_workspace(compute_capability: Option<u32>) -> u64 {
    match compute_capability {
        Some(cc) if cc >= 90 => 32 * MIB,
        _ => 8 * MIB + 128 * 1024,
    }
}

/// Share of peak allocated memory the caching allocator holds on top as reserved-but-free blocks (rounding to
/// 2 MiB, 20 MiB small-buffer pools, fragmentation from changing sizes; PyTorch notes/cuda "Memory
/// management"). FORMULAS.md §6 says to budget it as a percentage and calibrate; training's many differently
/// sized temporaries fragment more than inference's repeated shapes.
const TRAIN_ALLOCATOR_PERCENT: u64 = 5;
const INFER_ALLOCATOR_PERCENT: u64 = 2;

/// Estimate the peak memory of a plan for a model, with every assumption in the notes.
pub fn estimate(spec: &ModelSpec, plan: &Plan, presets: &[PresetInfo]) -> Result<Estimate> {
    estimate_with(spec, plan, presets, true)
}

/// The preset a plan names, or the model's stored dtype.
pub fn resolve_preset(spec: &ModelSpec, plan: &Plan, presets: &[PresetInfo]) -> Result<PresetInfo> {
    match &plan.quantization {
        Some(name) => presets
            .iter()
            .find(|p| &p.name == name)
            .cloned()
            .ok_or_else(|| {
                Error::invalid(
                    "quantization",
                    format!(
                        "unknown preset `{name}` (known: {})",
                        presets
                            .iter()
                            .map(|p| p.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            }),
        None => Ok(PresetInfo {
            name: "stored dtype".to_string(),
            format: match spec.stored_dtype {
                DType::F32 => WeightFormat::F32,
                DType::F16 => WeightFormat::F16,
                _ => WeightFormat::Bf16,
            },
            placement: Placement::Gpu,
        }),
    }
}

pub(crate) fn estimate_with(
    spec: &ModelSpec,
    plan: &Plan,
    presets: &[PresetInfo],
    notes_on: bool,
) -> Result<Estimate> {
    let preset = resolve_preset(spec, plan, presets)?;
    estimate_preset(spec, plan, &preset, notes_on)
}

pub(crate) fn estimate_preset(
    spec: &ModelSpec,
    plan: &Plan,
    preset: &PresetInfo,
    notes_on: bool,
) -> Result<Estimate> {
    estimate_core(
        spec,
        plan,
        preset,
        plan.batch_size,
        plan.sequence_length,
        notes_on,
    )
}

/// The estimate with the micro-batch and sequence length given apart from the plan, so that the solver can
/// vary them without copying the plan.
pub(crate) fn estimate_core(
    spec: &ModelSpec,
    plan: &Plan,
    preset: &PresetInfo,
    b: u64,
    s: u64,
    notes_on: bool,
) -> Result<Estimate> {
    let mut notes = Notes::new(notes_on);
    let arch = architecture(spec)?;
    let shape = Shape::new(spec, arch)?;
    let train = plan.task == Task::Train;
    let quantized = preset.format.is_quantized();
    if quantized && matches!(plan.method, Some(Method::Full | Method::Freeze)) {
        return Err(Error::invalid(
            "quantization",
            format!(
                "`{}` weights are quantized and frozen: they cannot be trained in full",
                preset.name
            ),
        ));
    }
    let on_cpu = preset.placement == Placement::Cpu;
    // PEFT's prepare_model_for_kbit_training runs in the Hugging Face recipe unless the plan says otherwise.
    let kbit_upcast = quantized && plan.kbit_upcast.unwrap_or(true);
    // Compute dtype: the precision's for training; the weights' for inference (fp32 weights compute in fp32).
    let e = if on_cpu
        || (!train && preset.format == WeightFormat::F32)
        || plan.precision.compute_bytes() == 4
    {
        4
    } else {
        2
    };
    notes.add(|| {
        format!(
            "{}: weights {}, {}-byte activations ({})",
            if plan.quantization.is_some() {
                format!("preset `{}`", preset.name)
            } else {
                "no quantization given, so the model's stored dtype".to_string()
            },
            match preset.format {
                WeightFormat::F32 => "fp32",
                WeightFormat::F16 => "fp16",
                WeightFormat::Bf16 => "bf16",
                WeightFormat::Int8 => "LLM.int8",
                WeightFormat::Int4 { .. } => "NF4",
            },
            e,
            match serde_json::to_value(plan.precision) {
                Ok(serde_json::Value::String(p)) if train => p,
                _ => "inference in the weights' dtype".to_string(),
            }
        )
    });
    let gpu_count = plan.gpus.as_ref().map_or(1, |g| g.count);
    let world = gpu_count * plan.nodes;
    let cc = plan
        .gpus
        .as_ref()
        .and_then(|g| g.model.as_deref())
        .and_then(gpus::find)
        .map(|g| g.compute_capability);
    let tokens = b * s;
    let h = shape.h;

    // ---- weights ----
    let w = weights(
        &WeightInputs {
            spec,
            shape: &shape,
            preset,
            kbit_upcast: train && kbit_upcast,
            quantize_lm_head: plan.quantize_lm_head,
            gpu_weight_budget: plan
                .gpus
                .as_ref()
                .map(|g| g.memory_bytes / 100 * 81 * if train { 1 } else { g.count }),
        },
        &mut notes,
    );

    let mut c = Components::default();
    let mut managed = 0u64;
    let mut cpu = w.cpu_bytes;
    let trainable_params;

    if train {
        let t = trainable(spec, &shape, plan)?;
        trainable_params = t.params;
        let st = states(
            &StateInputs {
                plan,
                trainable: &t,
                weight_bytes: w.plain_bytes,
            },
            &mut notes,
        );

        // ---- activations and loss ----
        let lc = layer_cost(&ActInputs {
            plan,
            shape: &shape,
            trainable: &t,
            quantized,
            compute_bytes: e,
        });
        // Saturating: eager attention at absurd lengths is b·a·s², which must read "does not fit", not wrap.
        let per_layer = lc
            .per_token
            .saturating_add(lc.per_token_per_position.saturating_mul(s))
            .saturating_mul(tokens)
            .min(BYTES_CAP);
        let stored_layers = if plan.method == Some(Method::Freeze) {
            // Nothing below the first trainable layer needs a gradient, so nothing there is saved.
            plan.freeze_trainable_layers.min(shape.layers)
        } else {
            shape.layers
        };
        // The residual stream is fp32 when PEFT upcast the embeddings and norms.
        let e_res = if kbit_upcast { 4 } else { e };
        let (mut stored, recompute, kept_per_layer) = if plan.gradient_checkpointing {
            let kept = e_res * h * tokens;
            (stored_layers * kept, per_layer, kept)
        } else {
            (
                stored_layers.saturating_mul(per_layer).min(BYTES_CAP),
                0,
                per_layer,
            )
        };
        if plan.activation_offload {
            // Saved tensors go to pinned host memory as they are produced; a layer in flight each way
            // stays on the GPU (torchtune `OffloadActivations`).
            cpu += stored * gpu_count;
            stored = stored.min(2 * kept_per_layer);
            notes.add(|| "activation offload: saved activations live in CPU RAM, two layers' worth stay on the GPU in flight".to_string());
        }
        let lm_head_trains = plan.method == Some(Method::Full) || plan.trainable_embeddings;
        let head = (4 * h + if lm_head_trains { e * h } else { 0 }) * tokens;
        let transient = layer_transient_per_token(&shape, e) * tokens;
        let loss_full = shape.vocab * tokens * loss_bytes_per_logit(e);
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
            format!(
                "activations: {} bytes per token per decoder layer saved for backward ({}), {}",
                per_layer / tokens.max(1),
                if plan.gradient_checkpointing {
                    format!("gradient checkpointing keeps only each layer's input, {} bytes per token, and recomputes one layer at a time", e_res * h)
                } else {
                    "no gradient checkpointing".to_string()
                },
                match plan.attention {
                    super::plan::AttentionImpl::Eager => "eager attention keeps the b·a·s² softmax (fp32 and its 16-bit cast)",
                    _ => "SDPA/flash attention keeps no s×s matrix",
                }
            )
        });
        notes.add(|| {
            format!(
                "loss: {} bytes per logit ({}·s·V = {} elements){}",
                loss_bytes_per_logit(e),
                b,
                tokens * shape.vocab,
                if plan.chunked_loss {
                    format!(", chunked into {LOSS_CHUNKS} so one chunk is alive at a time")
                } else {
                    ": 16-bit logits, their fp32 upcast and the saved fp32 log-softmax".to_string()
                }
            )
        });

        // ---- sharding and offload ----
        let mut weights_gpu = w.gpu_bytes;
        let mut lora = st.lora_bytes;
        let mut grads = if plan.optimizer_in_backward {
            notes.add(|| "optimizer in backward: each gradient is freed right after its parameter's step, so only the largest one is alive".to_string());
            st.largest_grad_bytes
        } else {
            st.grad_bytes
        };
        let mut optimizer = st.optimizer_bytes;
        managed = st.managed_bytes;
        let per_node = gpu_count;
        let layer_grads = st.grad_bytes / shape.layers;
        let mut bucket = 0;
        let sharding = plan.sharding;
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
            // The unit being computed and the one prefetched are gathered whole (FSDP wraps each decoder
            // layer; DeepSpeed ZeRO-3 fetches by module with a prefetch bucket).
            // The output embedding is gathered whole for the loss, and is often the largest unit.
            gathered = (2 * (w.gpu_bytes / shape.layers)).max(shape.vocab * h * w.plain_bytes);
        }
        if sharding != Sharding::None {
            // Reduce-scatter of one layer's gradients at a time.
            bucket = layer_grads;
        } else if world > 1 {
            // DDP's reducer allocates buckets as large as all gradients together
            // (`gradient_as_bucket_view=False` by default).
            bucket = st.grad_bytes;
            notes.add(|| {
                "plain data parallel (DDP): gradient buckets double the gradient memory".to_string()
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
                format!(
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
                )
            });
        }

        let statics = weights_gpu + gathered + lora + optimizer;
        let accumulating = plan.gradient_accumulation_steps > 1;
        let backward_start =
            statics + activations + logits + bucket + if accumulating { grads } else { 0 };
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
        let step = statics + grads + bucket + step_temp + zero_fp32_grads;
        c.weights = weights_gpu + gathered;
        c.lora = lora;
        c.optimizer = optimizer;
        if backward_start >= step {
            c.activations = activations;
            c.logits = logits;
            c.gradients = bucket + if accumulating { grads } else { 0 };
            notes.add(|| "peak at the start of backward: every saved activation and the loss are alive; gradients of earlier steps are freed (zero_grad(set_to_none=True)) unless accumulating".to_string());
        } else {
            c.gradients = grads + bucket + zero_fp32_grads;
            c.optimizer += step_temp;
            notes.add(|| {
                format!(
                    "peak at the optimizer step: all gradients alive, activations freed{}",
                    if step_temp > 0 {
                        format!(
                            "; torch's foreach AdamW adds a state-sized temporary ({}; fused=True avoids it)",
                            gib(step_temp)
                        )
                    } else {
                        String::new()
                    }
                )
            });
        }
    } else {
        trainable_params = 0;
        // ---- inference: prefill, then decode ----
        let kv_dtype =
            plan.kv_cache_dtype
                .unwrap_or(if e == 4 { KvDtype::Fp32 } else { KvDtype::Bf16 });
        let ctx = s + plan.new_tokens;
        let (kv_prompt, _) = kv_bytes(&shape, s, b, kv_dtype, e);
        let (kv_total, kv_layer) = kv_bytes(&shape, ctx, b, kv_dtype, e);
        let mlp = layer_transient_per_token(&shape, e) * tokens;
        let scores = match plan.attention {
            super::plan::AttentionImpl::Eager => (b * arch.attention.num_heads * (4 + e))
                .saturating_mul(s)
                .saturating_mul(s)
                .min(BYTES_CAP),
            _ => 0,
        };
        let transient = mlp.max(scores);
        let logit_bytes = e + 4;
        let prefill_logits = match plan.prefill_logits {
            PrefillLogits::Last => b * shape.vocab * logit_bytes,
            PrefillLogits::All => tokens * shape.vocab * logit_bytes,
        };
        let prefill = kv_prompt + transient.max(prefill_logits);
        let decode = if plan.new_tokens > 0 {
            // DynamicCache grows by torch.cat: one layer's old and new cache coexist.
            kv_total + kv_layer + b * shape.vocab * logit_bytes
        } else {
            0
        };
        if prefill >= decode {
            c.kv_cache = kv_prompt;
            if transient >= prefill_logits {
                c.activations = transient;
            } else {
                c.logits = prefill_logits;
            }
            notes.add(|| "peak at prefill: the prompt's KV cache plus one layer's working set (or the prompt's logits)".to_string());
        } else {
            c.kv_cache = kv_total + kv_layer;
            c.logits = b * shape.vocab * logit_bytes;
            notes.add(|| "peak at the end of generation: the full KV cache".to_string());
        }
        notes.add(|| {
            format!(
                "KV cache in {:?}: {} for {} tokens × batch {}{}",
                kv_dtype,
                gib(kv_total),
                ctx,
                b,
                if arch.attention.mla.is_some() {
                    " (transformers caches MLA's decompressed per-head K and V, not the 576-element latent)"
                } else {
                    ""
                }
            )
        });
        notes.add(|| match plan.prefill_logits {
            PrefillLogits::Last => "prefill computes only the last position's logits (transformers ≥ 4.45 generate())".to_string(),
            PrefillLogits::All => "prefill computes every prompt position's logits and upcasts them to fp32 (transformers < 4.45)".to_string(),
        });
        c.weights = w.gpu_bytes;
        if gpu_count > 1 {
            // device_map="auto" splits the layers (and their cache) across the GPUs; each GPU still runs a
            // whole layer's working set.
            c.weights /= gpu_count;
            c.kv_cache /= gpu_count;
            notes.add(|| {
                format!(
                    "device_map=\"auto\": layers and their KV cache split across {gpu_count} GPUs"
                )
            });
        }
    }

    // ---- workspaces ----
    let handles = if train { 2 } else { 1 };
    let dequant = w.largest_quantized * e;
    // LLM.int8 matmuls (bnb `MatMul8bitLt`) quantize the activations to int8 and accumulate in int32 before
    // rescaling: per token, one int8 copy of the input row and an int32 output row of the widest layer.
    let int8_matmul = if preset.format == WeightFormat::Int8 {
        let (max_in, max_out) = arch
            .linear_layers
            .iter()
            .filter(|g| {
                !matches!(
                    g.role,
                    crate::model::LinearRole::LmHead | crate::model::LinearRole::Expert
                )
            })
            .fold((0, 0), |(i, o), g| {
                (i.max(g.in_features), o.max(g.out_features))
            });
        tokens * (max_in + 4 * max_out)
    } else {
        0
    };
    c.workspace =
        cublas_workspace(cc) * handles + dequant.max(int8_matmul) + w.streamed_layer_bytes;
    notes.add(|| {
        format!(
            "workspace: cuBLAS {} per handle ({} handle{}){}",
            if cc.is_some_and(|c| c >= 90) {
                "32 MiB"
            } else {
                "8.125 MiB"
            },
            handles,
            if handles > 1 {
                "s: forward and the autograd thread"
            } else {
                ""
            },
            if dequant > 0 {
                format!(
                    ", plus one quantized weight dequantized to 16-bit ({})",
                    gib(dequant)
                )
            } else {
                String::new()
            }
        )
    });

    // ---- load-time transient (FORMULAS.md §11) ----
    // transformers + bitsandbytes quantize module by module while loading: the quantized weights plus one
    // decoder layer in 16-bit.
    if quantized {
        let load = c.weights + shape.layer_params * 2 + cublas_workspace(cc);
        if load > c.sum() {
            notes.add(|| {
                "peak while loading: quantizing layer by layer outweighs the run itself".to_string()
            });
            c = Components {
                weights: c.weights,
                workspace: shape.layer_params * 2 + cublas_workspace(cc),
                ..Components::default()
            };
        }
    }

    let allocated = c.sum();
    let percent = if train {
        TRAIN_ALLOCATOR_PERCENT
    } else {
        INFER_ALLOCATOR_PERCENT
    };
    let overhead = allocated * percent / 100;
    notes.add(|| format!("caching allocator: {percent}% of peak allocated held as reserved-but-free blocks; CUDA context {} per GPU", gib(CUDA_CONTEXT_BYTES)));
    let mut per_gpu = PerGpu {
        components: c,
        allocated_peak_bytes: allocated,
        allocator_overhead_bytes: overhead,
        reserved_peak_bytes: allocated + overhead,
        managed_memory_bytes: managed,
        cuda_context_bytes: CUDA_CONTEXT_BYTES,
        device_peak_bytes: allocated + overhead + managed + CUDA_CONTEXT_BYTES,
    };
    if on_cpu {
        cpu += per_gpu.reserved_peak_bytes + per_gpu.managed_memory_bytes;
        per_gpu = PerGpu::default();
        notes.add(|| {
            "preset cpu: the whole run lives in CPU RAM in fp32; no GPU memory is used".to_string()
        });
    }
    if cpu > 0 {
        notes.add(|| format!("CPU RAM: {} beyond the Python process (not counting the page cache of memory-mapped checkpoints)", gib(cpu)));
    }

    let (fits, headroom_bytes) = match &plan.gpus {
        Some(g) => {
            let usable = (g.memory_bytes as f64 * (1.0 - plan.margin)).floor() as i64;
            let headroom = usable - per_gpu.device_peak_bytes as i64;
            (Some(headroom >= 0), Some(headroom))
        }
        None => (None, None),
    };
    let mut list = std::mem::take(&mut notes.list);
    list.extend(spec.notes.iter().cloned());
    Ok(Estimate {
        per_gpu,
        cpu_bytes: cpu,
        parameters: ParameterSummary {
            total: spec.parameters.total,
            trainable: trainable_params,
        },
        fits,
        headroom_bytes,
        notes: list,
    })
}
