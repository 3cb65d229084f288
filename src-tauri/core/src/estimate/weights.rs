//! Bytes of the model's weights under a preset (docs/estimator.md §3, §1.1).
//!
//! bitsandbytes replaces only `nn.Linear` (transformers `integrations/bitsandbytes.py::replace_with_bnb_linear`):
//! embeddings, norms and the biases stay in the load dtype, and `lm_head` is skipped by default
//! (`get_keys_to_not_convert`). In transformers 5, MoE experts are fused 3-D parameters, not `nn.Linear`, so
//! they stay 16-bit as well.

use super::preset::{PresetInfo, WeightFormat};
use super::report::{gib, Notes};
use super::shape::Shape;
use crate::message::{Key, Message};
use crate::model::{LinearRole, ModelSpec};

/// The model's weights, whole (before any sharding).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Weights {
    /// On the GPU(s), summed over the whole model.
    pub gpu_bytes: u64,
    /// Layers a preset keeps on the CPU (`int4_offload` under memory pressure).
    pub cpu_bytes: u64,
    /// Elements of the largest quantized linear weight: bitsandbytes dequantizes one such weight at a time
    /// into the compute dtype (a transient in the workspace).
    pub largest_quantized: u64,
    /// Bytes per element of the parameters that are not quantized.
    pub plain_bytes: u64,
    /// One decoder layer in 16-bit, streamed in from the CPU when layers are offloaded.
    pub streamed_layer_bytes: u64,
    /// The weights outside the decoder layers (input embedding and `lm_head`, as stored): what the root FSDP
    /// unit holds when each decoder layer is wrapped on its own.
    pub root_bytes: u64,
}

/// Bit-exact bytes of one bitsandbytes 4-bit weight of `n` elements (docs/estimator.md §3.3, from
/// `functional.quantize_4bit`: packed nibbles, one fp32 absmax per 64-element block, 16-entry fp32 code; with
/// double quantization the absmax are themselves 8-bit with one fp32 scale per 256 blocks, a 256-entry fp32
/// code and an fp32 offset).
pub(crate) fn int4_bytes(n: u64, double_quant: bool) -> u64 {
    let packed = n.div_ceil(2);
    let blocks = n.div_ceil(64);
    if double_quant {
        packed + blocks + 4 * blocks.div_ceil(256) + 1024 + 4 + 64
    } else {
        packed + 4 * blocks + 64
    }
}

/// LLM.int8: int8 weights plus one fp32 scale (`SCB`) per output row (bnb `int8_vectorwise_quant`).
pub(crate) fn int8_bytes(in_features: u64, out_features: u64) -> u64 {
    in_features * out_features + 4 * out_features
}

pub(crate) struct WeightInputs<'a> {
    pub spec: &'a ModelSpec,
    pub shape: &'a Shape<'a>,
    pub preset: &'a PresetInfo,
    pub kbit_upcast: bool,
    pub quantize_lm_head: bool,
    /// GPU memory available for weights under `device_map="auto"`, if the plan gives GPUs.
    pub gpu_weight_budget: Option<u64>,
}

pub(crate) fn weights(input: &WeightInputs, notes: &mut Notes) -> Weights {
    let spec = input.spec;
    let arch = input.shape.arch;
    let format = input.preset.format;
    let total = spec.parameters.total;

    let mut quantized_params = 0u64;
    let mut quantized_bytes = 0u64;
    let mut largest_quantized = 0u64;
    let mut lm_head_quantized_bytes = None;
    let mut experts_kept = false;
    if format.is_quantized() {
        for g in &arch.linear_layers {
            let quantize = match g.role {
                LinearRole::LmHead => input.quantize_lm_head && !arch.tie_word_embeddings,
                LinearRole::Expert => {
                    experts_kept = true;
                    false
                }
                _ => true,
            };
            if !quantize {
                continue;
            }
            let n = g.in_features * g.out_features;
            let per_module = match format {
                WeightFormat::Int8 => int8_bytes(g.in_features, g.out_features),
                WeightFormat::Int4 { double_quant } => int4_bytes(n, double_quant),
                _ => n * 2,
            };
            quantized_params += g.count * n;
            quantized_bytes += g.count * per_module;
            if g.role == LinearRole::LmHead {
                lm_head_quantized_bytes = Some(g.count * per_module);
            }
            largest_quantized = largest_quantized.max(n);
        }
    }

    let plain_bytes = match format {
        WeightFormat::F32 => 4,
        WeightFormat::F16 | WeightFormat::Bf16 => 2,
        // Not-quantized parameters of a bitsandbytes model load in `torch_dtype` (16-bit), unless PEFT's
        // `prepare_model_for_kbit_training` upcasts them to fp32.
        WeightFormat::Int8 | WeightFormat::Int4 { .. } if input.kbit_upcast => 4,
        WeightFormat::Int8 | WeightFormat::Int4 { .. } => 2,
    };
    let plain_params = total.saturating_sub(quantized_params);
    let mut gpu_bytes = quantized_bytes + plain_params * plain_bytes;

    if format.is_quantized() {
        notes.add(|| {
            let message = Message::new(Key::NoteQuantized)
                .count("quantized", quantized_params)
                .count("total", total)
                .phrase(
                    "format",
                    match format {
                        WeightFormat::Int8 => Key::NoteFormatInt8,
                        WeightFormat::Int4 { double_quant: true } => Key::NoteFormatNf4Double,
                        _ => Key::NoteFormatNf4,
                    },
                )
                .optional_phrase("lm_head", (!input.quantize_lm_head).then_some(Key::NoteAndLmHead))
                .count("bytes", plain_bytes)
                .optional_phrase("upcast", input.kbit_upcast.then_some(Key::NoteKbitUpcast));
            let text = format!(
                "{} of {} parameters quantized by bitsandbytes ({}); embeddings, norms, biases{} stay at {} bytes each{}",
                quantized_params,
                total,
                match format {
                    WeightFormat::Int8 => "LLM.int8 with fp32 row scales".to_string(),
                    WeightFormat::Int4 { double_quant: true } => "NF4, block 64, double quantization".to_string(),
                    _ => "NF4, block 64".to_string(),
                },
                if input.quantize_lm_head { "" } else { " and lm_head" },
                plain_bytes,
                if input.kbit_upcast {
                    " (PEFT prepare_model_for_kbit_training upcasts them to fp32)"
                } else {
                    ""
                }
            );
            (text, message)
        });
        if experts_kept {
            notes.add(|| {
                (
                    "MoE experts are fused 3-D parameters in transformers 5, not nn.Linear: bitsandbytes leaves them 16-bit".to_string(),
                    Message::new(Key::NoteMoeExperts),
                )
            });
        }
    }

    let root_bytes = spec.parameters.embedding * plain_bytes
        + lm_head_quantized_bytes.unwrap_or(spec.parameters.lm_head * plain_bytes);
    let mut w = Weights {
        gpu_bytes,
        cpu_bytes: 0,
        largest_quantized,
        plain_bytes,
        streamed_layer_bytes: 0,
        root_bytes,
    };

    if input.preset.placement == super::preset::Placement::GpuWithCpuOffload {
        match input.gpu_weight_budget {
            Some(budget) if gpu_bytes > budget => {
                // accelerate fills GPUs first, then the CPU, one decoder layer at a time
                // (`infer_auto_device_map`); offloaded layers are not quantized
                // (`llm_int8_enable_fp32_cpu_offload` only skips their conversion: docs/estimator.md §3.6).
                let layers = input.shape.layers;
                let per_layer_gpu = gpu_bytes / layers;
                let fixed = gpu_bytes - per_layer_gpu * layers;
                let on_gpu = budget.saturating_sub(fixed) / per_layer_gpu.max(1);
                let offloaded = layers.saturating_sub(on_gpu);
                let layer_16bit = input.shape.layer_params * 2;
                gpu_bytes = fixed + on_gpu.min(layers) * per_layer_gpu;
                w.gpu_bytes = gpu_bytes;
                w.cpu_bytes = offloaded * layer_16bit;
                w.streamed_layer_bytes = layer_16bit;
                let cpu_bytes = w.cpu_bytes;
                notes.add(|| {
                    (
                        format!(
                            "int4_offload: {offloaded} of {layers} decoder layers do not fit the GPU weight budget ({}, 81% of GPU memory: accelerate's 90% × bitsandbytes' 0.9) and stay on the CPU unquantized ({}); each is copied to the GPU when it runs, which is slow",
                            gib(budget),
                            gib(cpu_bytes)
                        ),
                        Message::new(Key::NoteOffloadLayers)
                            .count("offloaded", offloaded)
                            .count("layers", layers)
                            .bytes("budget", budget)
                            .bytes("cpu", cpu_bytes),
                    )
                });
            }
            Some(_) => notes.add(|| {
                (
                    "int4_offload: every layer fits the GPU, nothing is offloaded".to_string(),
                    Message::new(Key::NoteOffloadNone),
                )
            }),
            None => notes.add(|| {
                (
                    "int4_offload: without gpus in the plan, assumed that every layer fits on the GPU".to_string(),
                    Message::new(Key::NoteOffloadUnknown),
                )
            }),
        }
    }
    w
}
