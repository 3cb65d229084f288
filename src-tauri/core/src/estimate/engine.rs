//! The estimate: puts weights, training states, activations, KV cache and overheads together at the moment
//! of peak memory, shards them across GPUs, and adds what the caching allocator and the CUDA context cost.

use super::band::{band, BandInputs, LengthsDoubt, MachineSide};
use super::calibration::{
    nccl_buffers_bytes, CalibrationFit, TaskCalibration, CUDA_CONTEXT_BYTES,
    INFER_ALLOCATOR_PERCENT, NCCL_HIGH_BYTES, TRAIN_ALLOCATOR_PERCENT,
};
use super::fit::Budget;
use super::gpus;
use super::inference::inference;
use super::plan::{FitOn, Method, Plan, Task};
use super::preset::{Placement, PresetInfo, WeightFormat};
use super::report::{gib, Components, EngineKind, Estimate, Notes, ParameterSummary, PerGpu};
use super::shape::{architecture, Shape};
use super::training::{training, TrainInputs};
use super::weights::{weights, WeightInputs};
use crate::message::{Key, Message};
use crate::model::{DType, ModelSpec};
use crate::{Error, Result};

const MIB: u64 = 1 << 20;

/// cuBLAS workspace per handle: `:4096:2:16:8` = 2·4 MiB + 8·16 KiB before Hopper, 32 MiB on sm90+
/// (PyTorch `CublasHandlePool.cpp`, docs/estimator.md §10.1). Allocated through the caching allocator.
fn cublas_workspace(compute_capability: Option<u32>) -> u64 {
    match compute_capability {
        Some(cc) if cc >= 90 => 32 * MIB,
        _ => 8 * MIB + 128 * 1024,
    }
}

/// The machine side of the band: the defaults, with the CUDA context this machine's runs measured in place of
/// its range when a regression over runs of different sizes found it, and the lengths doubt scaled to the share
/// its runs with changing lengths needed (docs/estimator.md §10.5, §17).
fn machine_side(plan: &Plan, calibration: Option<&TaskCalibration>, nccl: u64) -> MachineSide {
    let mut side = MachineSide::default_for(plan);
    // What this machine's runs with changing lengths stranded, as a share of the allocator model's allowance.
    if let Some(share) = calibration.and_then(|c| c.lengths_share_permille) {
        side.lengths = side.lengths.scaled(share);
    }
    let side = match calibration {
        Some(cal) if cal.fit == CalibrationFit::Regression => MachineSide {
            context_low_bytes: cal.cuda_context_bytes,
            context_high_bytes: cal.cuda_context_bytes,
            ..side
        },
        _ => side,
    };
    // NCCL's buffers: the measured figure at the lower end, the largest reported at the upper.
    if nccl == 0 {
        return side;
    }
    MachineSide {
        context_low_bytes: side.context_low_bytes + nccl,
        context_high_bytes: side.context_high_bytes + NCCL_HIGH_BYTES.max(nccl),
        ..side
    }
}

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
        plan.batch_size.get(),
        plan.sequence_length.get(),
        notes_on,
        AllocatorModel::OwnShape,
    )
}

/// Where the allocator model of one training step runs (docs/estimator.md §10.3). One run costs what some thirty
/// estimates without it do, so the shapes the solver and the what-if grid try skip it, and the solver checks its
/// edge with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AllocatorModel {
    /// At the plan's own batch and sequence length only.
    OwnShape,
    /// At the shape asked for too.
    ThisShape,
}

/// The estimate with the micro-batch and sequence length given apart from the plan, so that the solver can
/// vary them without copying the plan, and where the allocator model of the step runs.
pub(crate) fn estimate_core(
    spec: &ModelSpec,
    plan: &Plan,
    preset: &PresetInfo,
    b: u64,
    s: u64,
    notes_on: bool,
    allocator_model: AllocatorModel,
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
        let format = match preset.format {
            WeightFormat::F32 => "fp32",
            WeightFormat::F16 => "fp16",
            WeightFormat::Bf16 => "bf16",
            WeightFormat::Int8 => "LLM.int8",
            WeightFormat::Int4 { .. } => "NF4",
        };
        let precision = match serde_json::to_value(plan.precision) {
            Ok(serde_json::Value::String(p)) if train => Some(p),
            _ => None,
        };
        let text = format!(
            "{}: weights {}, {}-byte activations ({})",
            if plan.quantization.is_some() {
                format!("preset `{}`", preset.name)
            } else {
                "no quantization given, so the model's stored dtype".to_string()
            },
            format,
            e,
            precision
                .clone()
                .unwrap_or_else(|| "inference in the weights' dtype".to_string())
        );
        let source = if plan.quantization.is_some() {
            Message::new(Key::NoteSourcePreset).text("preset", preset.name.clone())
        } else {
            Message::new(Key::NoteSourceStored)
        };
        let message = Message::new(Key::NoteDtype)
            .message("source", source)
            .text("format", format)
            .count("bytes", e);
        let message = match precision {
            Some(p) => message.text("precision", p),
            None => message.phrase("precision", Key::NoteInferDtype),
        };
        (text, message)
    });
    let gpu_count = plan.gpus.as_ref().map_or(1, |g| g.count.get());
    let world = gpu_count * plan.nodes.get();
    let cc = plan
        .gpus
        .as_ref()
        .and_then(|g| g.model.as_deref())
        .and_then(gpus::find)
        .map(|g| g.compute_capability);
    let tokens = b * s;

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
                .map(|g| g.memory_bytes / 100 * 81 * if train { 1 } else { g.count.get() }),
        },
        &mut notes,
    );

    let part = if train {
        training(
            &TrainInputs {
                spec,
                plan,
                shape: &shape,
                weights: &w,
                quantized,
                kbit_upcast,
                bnb_keeps_inputs: match preset.format {
                    // LLM.int8's MatMul8bitLt keeps its input in every release.
                    WeightFormat::Int8 => Some(true),
                    WeightFormat::Int4 { .. }
                        if !super::plan::framework::profile(plan.framework, true)
                            .bnb_4bit_layers =>
                    {
                        Some(false)
                    }
                    WeightFormat::Int4 { .. } => plan.bnb_4bit_keeps_inputs(),
                    _ => Some(false),
                },
                bnb_int8: preset.format == WeightFormat::Int8,
                e,
                b,
                s,
                gpu_count,
                world,
                allocator_model,
            },
            &mut notes,
        )?
    } else {
        inference(plan, &shape, w.gpu_bytes, e, b, s, &mut notes)
    };
    let mut c = part.components;
    let managed = part.managed;
    let stranded = part.stranded;
    let mut cpu = w.cpu_bytes + part.cpu;
    let trainable_params = part.trainable;

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
        let cublas = if cc.is_some_and(|c| c >= 90) {
            "32 MiB"
        } else {
            "8.125 MiB"
        };
        let message = Message::new(Key::NoteWorkspace)
            .text("cublas", cublas)
            .message(
                "handles",
                Message::new(if handles > 1 {
                    Key::NoteHandlesAutograd
                } else {
                    Key::NoteHandles
                })
                .count("count", handles),
            )
            .optional(
                "dequant",
                (dequant > 0)
                    .then(|| Message::new(Key::NoteWorkspaceDequant).bytes("bytes", dequant)),
            );
        let text = format!(
            "workspace: cuBLAS {} per handle ({} handle{}){}",
            cublas,
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
        );
        (text, message)
    });

    // ---- load-time transient (docs/estimator.md §10.2) ----
    // transformers + bitsandbytes quantize module by module while loading: the quantized weights plus one
    // decoder layer in 16-bit.
    if quantized {
        let load = c.weights + shape.layer_params * 2 + cublas_workspace(cc);
        if load > c.sum() {
            notes.add(|| {
                (
                    "peak while loading: quantizing layer by layer outweighs the run itself"
                        .to_string(),
                    Message::new(Key::NoteLoadPeak),
                )
            });
            c = Components {
                weights: c.weights,
                workspace: shape.layer_params * 2 + cublas_workspace(cc),
                ..Components::default()
            };
        }
    }

    let allocated = c.sum();
    // This machine's calibration replaces both defaults when the caller found one (docs/estimator.md §10.5). Its
    // slack was fitted against the whole allocated peak, the loss's freed logits included, so it replaces the flat
    // budget; what the allocator model of this step finds beyond it still counts (below).
    let calibration = plan.machine.for_task(plan.task);
    let (slack, context) = match calibration {
        Some(cal) => {
            notes.add(|| (cal.note(plan.task), cal.note_message(plan.task)));
            if let Some(share) = cal.lengths_share_permille.filter(|_| plan.lengths_open()) {
                notes.add(|| {
                    let share = TaskCalibration::share_text(share);
                    let text = format!(
                        "changing lengths: the {} runs on this machine whose batches changed length needed at most {share} of the band's allowance for them, so the band allows that share (docs/estimator.md §10.5)",
                        cal.lengths_runs,
                    );
                    let message = Message::new(Key::NoteCalibratedLengths)
                        .count("runs", u64::from(cal.lengths_runs))
                        .text("share", share);
                    (text, message)
                });
            }
            (
                cal.allocator_overhead_bytes(allocated),
                cal.cuda_context_bytes,
            )
        }
        None => {
            let percent = if train {
                TRAIN_ALLOCATOR_PERCENT
            } else {
                INFER_ALLOCATOR_PERCENT
            };
            // The loss's 16-bit logits are freed before its fp32 backward buffers are asked for, which are larger
            // than that free block: the allocator keeps it cached beside them (the trace engine's allocator replay
            // shows the block in reserved at the peak).
            let logits_cache = if train && c.logits > 0 && e < 4 {
                let elements = shape.vocab * b * s;
                elements * e
                    / if plan.chunked_loss {
                        super::activations::LOSS_CHUNKS
                    } else {
                        1
                    }
            } else {
                0
            };
            notes.add(|| {
                let text = format!("caching allocator: {percent}% of peak allocated outside the loss held as reserved-but-free blocks{}; CUDA context {} per GPU", if logits_cache > 0 { format!(", plus the freed 16-bit logits ({}) the loss's larger fp32 buffers cannot reuse", gib(logits_cache)) } else { String::new() }, gib(CUDA_CONTEXT_BYTES));
                let logits = (logits_cache > 0)
                    .then(|| Message::new(Key::NoteAllocatorLogits).bytes("bytes", logits_cache));
                let message = Message::new(Key::NoteAllocator)
                    .count("percent", percent)
                    .optional("logits", logits)
                    .bytes("context", CUDA_CONTEXT_BYTES);
                (text, message)
            });
            (
                (allocated - c.logits) * percent / 100 + logits_cache,
                CUDA_CONTEXT_BYTES,
            )
        }
    };
    // NCCL's buffers, outside the caching allocator like the context and counted with it (docs/estimator.md §10.4).
    let ranks = if train { world } else { 1 };
    let nccl = nccl_buffers_bytes(ranks);
    let context = context + nccl;
    if nccl > 0 {
        notes.add(|| {
            (
                format!(
                    "NCCL: {} per GPU of communication buffers for {ranks} ranks, outside PyTorch's allocator (nvidia-smi shows them, torch.cuda.memory_* does not), counted in the CUDA context; up to {} on some machines, which the band allows for",
                    gib(nccl),
                    gib(NCCL_HIGH_BYTES)
                ),
                Message::new(Key::NoteNccl)
                    .bytes("bytes", nccl)
                    .count("ranks", ranks)
                    .bytes("high", NCCL_HIGH_BYTES),
            )
        });
    }
    // The allocator model of the step at the plan's own shape (docs/estimator.md §10.3) where it finds more
    // reserved-but-free bytes than the usual slack: a share of the peak cannot follow blocks the step frees and
    // never reuses, such as a large vocabulary's soft-capped logits or activations freed before larger gradients.
    // Those blocks fill segments of their own, which the allocator frees when cudaMalloc fails
    // (`release_cached_blocks`): never more than the plan's GPU holds beyond the run's own peak.
    let simulated = part.fragmented;
    let room = plan.gpus.as_ref().map_or(u64::MAX, |g| {
        g.memory_bytes
            .saturating_sub(allocated + slack + stranded + managed + context)
    });
    let fragmented = simulated.saturating_sub(slack).min(room);
    if fragmented > 0 {
        notes.add(|| {
            let held = (fragmented < simulated - slack).then_some(slack + fragmented);
            (
                format!(
                    "caching allocator, simulated at this shape: the step frees blocks that its later, larger tensors cannot reuse, so {} stays reserved but free at the peak, more than the usual slack ({}){}",
                    gib(simulated),
                    gib(slack),
                    held.map_or(String::new(), |h| format!(
                        "; the GPU holds {} of it, and the allocator frees the rest before it runs out of memory",
                        gib(h)
                    ))
                ),
                Message::new(Key::NoteAllocatorSimulated)
                    .bytes("bytes", simulated)
                    .bytes("slack", slack)
                    .optional(
                        "room",
                        held.map(|h| {
                            Message::new(Key::NoteAllocatorSimulatedRoom).bytes("bytes", h)
                        }),
                    ),
            )
        });
    }
    let overhead = slack + fragmented + stranded;
    let side = machine_side(plan, calibration, nccl);
    // What changing lengths are expected to strand (a plan that leaves them open, docs/estimator.md §10.3), never
    // more than the band allows for them: this machine's runs may have measured less (§10.5).
    let mut length_bytes = part.length_bytes;
    length_bytes.expected_stranded = length_bytes
        .expected_stranded
        .min(side.lengths.bytes(length_bytes));
    // Nor more than the plan's GPU holds beyond the run's own peak: when cudaMalloc fails, the allocator frees the
    // cached segments that hold no live block and retries (`release_cached_blocks`), so reserved never shows more.
    if let Some(g) = plan
        .gpus
        .as_ref()
        .filter(|_| length_bytes.expected_stranded > 0)
    {
        let room = g
            .memory_bytes
            .saturating_sub(allocated + overhead + managed + context);
        if room < length_bytes.expected_stranded {
            length_bytes.expected_stranded = room;
            notes.add(|| {
                (
                    format!(
                        "lengths left open: the GPU holds {} of what changing lengths are expected to strand; the caching allocator frees the rest before it runs out of memory",
                        gib(room)
                    ),
                    Message::new(Key::NoteExpectedLengthsCapped).bytes("bytes", room),
                )
            });
        }
    }
    let overhead = overhead + length_bytes.expected_stranded;
    let range = band(
        plan,
        &BandInputs {
            allocated,
            logits: c.logits,
            lengths: length_bytes,
            reserved: allocated + overhead,
            managed,
            context,
        },
        &side,
    );
    notes.add(|| {
        let logits = train && !plan.chunked_loss && c.logits > 0;
        let older_bnb = length_bytes.older_bnb > 0;
        let lengths = side.lengths.is_open();
        let times_logits = LengthsDoubt::times(side.lengths.logits_permille);
        let times_activations = LengthsDoubt::times(side.lengths.activations_permille);
        let message = Message::new(Key::NoteBand)
            .bytes("low", range.device_peak_bytes.low)
            .bytes("high", range.device_peak_bytes.high)
            .optional_phrase("logits", logits.then_some(Key::NoteBandLogits))
            .optional_phrase("bnb", older_bnb.then_some(Key::NoteBandOlderBnb))
            .optional(
                "lengths",
                lengths.then(|| {
                    if side.lengths.activations_permille == 0 {
                        // Checkpointed plans: the loss's buffers cover all they strand.
                        Message::new(Key::NoteBandLengthsLogits).text("logits", times_logits.clone())
                    } else {
                        Message::new(Key::NoteBandLengths)
                            .text("logits", times_logits.clone())
                            .text("activations", times_activations.clone())
                    }
                }),
            )
            .bytes("context_low", side.context_low_bytes)
            .bytes("context_high", side.context_high_bytes);
        let text = format!(
            "band (docs/estimator.md §17): device peak {} to {}: this method's spread on published peaks out of source, {}{}{}the caching allocator's free blocks with fixed or varying batch shapes, and a CUDA context of {} to {}",
            gib(range.device_peak_bytes.low),
            gib(range.device_peak_bytes.high),
            if logits {
                "the fp32 logits older transformers releases keep beside the loss, "
            } else {
                ""
            },
            if older_bnb {
                "the inputs bitsandbytes releases before 0.43.2 keep for every 4-bit layer (the plan names no release), "
            } else {
                ""
            },
            if lengths {
                let activations = if side.lengths.activations_permille == 0 {
                    String::new()
                } else {
                    format!(" and {times_activations} times the activations")
                };
                format!("the segments batches of changing lengths strand (the plan leaves its lengths open; as the caching allocator's model replays lengths that change from step to step, up to {times_logits} times the logits{activations}), ")
            } else {
                String::new()
            },
            gib(side.context_low_bytes),
            gib(side.context_high_bytes),
        );
        (text, message)
    });
    let mut per_gpu = PerGpu {
        components: c,
        allocated_peak_bytes: allocated,
        allocator_overhead_bytes: overhead,
        reserved_peak_bytes: allocated + overhead,
        managed_memory_bytes: managed,
        cuda_context_bytes: context,
        device_peak_bytes: allocated + overhead + managed + context,
        range: Some(range),
        length_bytes,
        fragmented_bytes: fragmented,
    };
    if on_cpu {
        cpu += per_gpu.reserved_peak_bytes + per_gpu.managed_memory_bytes;
        per_gpu = PerGpu {
            range: Some(Default::default()),
            ..PerGpu::default()
        };
        notes.add(|| {
            (
                "preset cpu: the whole run lives in CPU RAM in fp32; no GPU memory is used"
                    .to_string(),
                Message::new(Key::NoteCpuPreset),
            )
        });
    }
    if cpu > 0 {
        notes.add(|| {
            (
                format!("CPU RAM: {} beyond the Python process (not counting the page cache of memory-mapped checkpoints)", gib(cpu)),
                Message::new(Key::NoteCpuRam).bytes("bytes", cpu),
            )
        });
    }

    let (fits, headroom_bytes) = fit(plan, &per_gpu, &mut notes);
    notes.extend_keyed(&spec.notes, &spec.note_messages);
    Ok(Estimate {
        per_gpu,
        cpu_bytes: cpu,
        parameters: ParameterSummary {
            total: spec.parameters.total,
            trainable: trainable_params,
        },
        fits,
        headroom_bytes,
        notes: notes.list,
        note_messages: notes.messages,
        engine: Some(EngineKind::Analytic),
        peak: None,
        trace: None,
        machine_calibration: calibration.copied(),
        import: None,
    })
}

/// The fit verdict of a per-GPU peak against the plan's GPUs: `(fits, headroom_bytes)`, both `None` without
/// `gpus`. Headroom is GPU memory × (1 − margin) − the deciding device peak (the band's upper end unless the plan
/// says `fit_on: central`). Every engine's estimate goes through here.
pub(crate) fn fit(plan: &Plan, per_gpu: &PerGpu, notes: &mut Notes) -> (Option<bool>, Option<i64>) {
    match &plan.gpus {
        Some(g) => {
            let budget = Budget::of(g, plan);
            let headroom = budget.headroom_bytes(per_gpu);
            let central = Budget {
                fit_on: FitOn::Central,
                ..budget
            };
            if central.fits(per_gpu) && !budget.fits(per_gpu) {
                notes.add(|| {
                    (
                        format!(
                            "the central estimate fits, but the band's upper end ({}) does not: a run like this one can exceed the GPU (set fit_on to central to decide on the central figure)",
                            gib(budget.deciding_bytes(per_gpu))
                        ),
                        Message::new(Key::NoteFitCentral).bytes("bytes", budget.deciding_bytes(per_gpu)),
                    )
                });
            }
            if headroom < 0 && headroom + per_gpu.managed_memory_bytes as i64 >= 0 {
                notes.add(|| {
                    (
                        "only the paged optimizer states overflow the GPU: the driver can page them to host memory, so the run may complete, more slowly".to_string(),
                        Message::new(Key::NotePagedOverflow),
                    )
                });
            }
            (Some(headroom >= 0), Some(headroom))
        }
        None => (None, None),
    }
}
