//! Recommendation and solver (issue 3 item 3): rank presets by fit then quality, find the largest micro-batch
//! and longest sequence that fit, and say what would make a plan fit, with each change's effect in bytes.
//!
//! Ranking follows the old Python layer's `get_optimal_quantization`: the least aggressive quantization that
//! fits with the user's margin comes first, because every step down (16-bit → LLM.int8 → 4-bit) trades
//! accuracy for memory (LLM.int8 arXiv:2208.07339 is near-lossless; NF4 QLoRA arXiv:2305.14314 matches 16-bit
//! LoRA on benchmarks but can cost accuracy on sensitive tasks).

use std::num::NonZeroU64;

use serde::Serialize;

use super::engine::{estimate_core, resolve_preset, AllocatorModel};
use super::fit::Budget;
use super::plan::{plan_to_value, Method, Offload, Optimizer, Plan, Sharding, Task};
use super::preset::{Placement, PresetInfo, WeightFormat};
use super::report::{gib, Estimate};
use crate::message::{Key, Message};
use crate::model::ModelSpec;
use crate::{Error, Result};

/// The largest micro-batch and the longest sequence that fit, each with the other held at the plan's value;
/// `None` when not even 1 fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct Limits {
    pub max_batch_size: Option<u64>,
    pub max_sequence_length: Option<u64>,
}

/// One preset, estimated for the plan.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct RankedPreset {
    pub preset: String,
    pub format: WeightFormat,
    pub placement: Placement,
    pub fits: bool,
    pub device_peak_bytes: u64,
    pub headroom_bytes: i64,
    pub limits: Limits,
    /// What the preset costs in quality or speed, in words.
    pub caveat: Option<String>,
    /// Why the preset cannot run this plan at all (e.g. quantized weights with full fine-tuning).
    pub unavailable: Option<String>,
    /// `caveat` as messages the UI renders in the user's language, one per cost.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[ts(as = "Option<Vec<Message>>", optional)]
    pub caveat_messages: Vec<Message>,
    /// `unavailable` as a message the UI renders in the user's language.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub unavailable_message: Option<Message>,
}

/// A change that would make the plan fit (or fit better), with its effect.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct Suggestion {
    pub change: String,
    /// `change` as a message the UI renders in the user's language (its `saving` argument in bytes).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub change_message: Option<Message>,
    /// The deciding device peak (the band's upper end, or the central figure under `fit_on: central`) after the
    /// change minus before: negative is a saving.
    pub delta_bytes: i64,
    /// The central device peak after the change.
    pub device_peak_bytes: u64,
    pub fits: bool,
    /// The whole plan with the change applied, as docs/contract.md §1 writes it: what "apply" loads.
    #[ts(type = "Record<string, unknown>")]
    pub plan: serde_json::Value,
}

/// Longest sequence the solver tries (1 Mi tokens), and the largest micro-batch.
const MAX_SEQUENCE: u64 = 1 << 20;
const MAX_BATCH: u64 = 1 << 16;

fn budget(plan: &Plan) -> Result<Budget> {
    let g = plan
        .gpus
        .as_ref()
        .ok_or_else(|| Error::invalid("gpus", "is needed to know what fits"))?;
    Ok(Budget::of(g, plan))
}

fn fits_at(
    spec: &ModelSpec,
    plan: &Plan,
    preset: &PresetInfo,
    budget: Budget,
    b: u64,
    s: u64,
) -> Result<bool> {
    Ok(budget
        .fits(&estimate_core(spec, plan, preset, b, s, false, AllocatorModel::OwnShape)?.per_gpu))
}

/// The largest value in 1..=max for which `fits` holds, assuming it is monotone (memory grows with batch and
/// sequence): doubling to bracket, then bisection; about 2·log2(max) estimates.
fn largest(max: u64, mut fits: impl FnMut(u64) -> Result<bool>) -> Result<Option<u64>> {
    if !fits(1)? {
        return Ok(None);
    }
    let mut lo = 1;
    let mut hi = 2;
    while hi <= max && fits(hi)? {
        lo = hi;
        hi *= 2;
    }
    bisect(lo, hi.min(max + 1), fits).map(Some)
}

/// Between a `lo` that fits and a `hi` that does not, the largest value that fits.
fn bisect(mut lo: u64, mut hi: u64, mut fits: impl FnMut(u64) -> Result<bool>) -> Result<u64> {
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// The edge `largest` found with the estimates that skip the allocator model, checked with it (docs/estimator.md
/// §10.3): it only ever adds reserved bytes, so the edge can only move down. Downward from it, doubling the step to
/// bracket, then bisection; one estimate where the edge holds.
fn checked_edge(
    found: Option<u64>,
    mut fits: impl FnMut(u64) -> Result<bool>,
) -> Result<Option<u64>> {
    let Some(edge) = found else {
        return Ok(None);
    };
    if fits(edge)? {
        return Ok(Some(edge));
    }
    // `hi` does not fit; step down from it until a value does.
    let mut hi = edge;
    let mut step = 1;
    let lo = loop {
        if hi <= step {
            if !fits(1)? {
                return Ok(None);
            }
            break 1;
        }
        if fits(hi - step)? {
            break hi - step;
        }
        hi -= step;
        step *= 2;
    };
    bisect(lo, hi, fits).map(Some)
}

/// Solve the largest micro-batch and the longest sequence that fit the plan's GPUs with its margin.
pub fn solve(spec: &ModelSpec, plan: &Plan, preset: &PresetInfo) -> Result<Limits> {
    let budget = budget(plan)?;
    let (b, s) = (plan.batch_size.get(), plan.sequence_length.get());
    let modelled = |b: u64, s: u64| -> Result<bool> {
        let est = estimate_core(spec, plan, preset, b, s, false, AllocatorModel::ThisShape)?;
        Ok(budget.fits(&est.per_gpu))
    };
    let batch = largest(MAX_BATCH, |x| fits_at(spec, plan, preset, budget, x, s))?;
    let sequence = largest(MAX_SEQUENCE, |x| fits_at(spec, plan, preset, budget, b, x))?;
    Ok(Limits {
        max_batch_size: checked_edge(batch, |x| modelled(x, s))?,
        max_sequence_length: checked_edge(sequence, |x| modelled(b, x))?,
    })
}

/// What a preset costs in quality or speed: each cost's key and its English words.
fn costs(p: &PresetInfo) -> Vec<(Key, &'static str)> {
    let format = match p.format {
        WeightFormat::Int4 { .. } => Some((
            Key::CaveatInt4,
            "INT4 may cost accuracy; INT8 or 16-bit suits critical work",
        )),
        WeightFormat::Int8 => Some((
            Key::CaveatInt8,
            "LLM.int8 is close to 16-bit quality but its matmuls are slower",
        )),
        _ => None,
    };
    let placement = match p.placement {
        Placement::GpuWithCpuOffload => Some((
            Key::CaveatOffload,
            "layers that do not fit run from CPU memory, much slower",
        )),
        Placement::Cpu => Some((
            Key::CaveatCpu,
            "runs on the CPU: orders of magnitude slower than a GPU",
        )),
        Placement::Gpu => None,
    };
    format.into_iter().chain(placement).collect()
}

fn caveat(p: &PresetInfo) -> Option<String> {
    let words: Vec<&str> = costs(p).into_iter().map(|(_, w)| w).collect();
    (!words.is_empty()).then(|| words.join("; "))
}

fn caveat_messages(p: &PresetInfo) -> Vec<Message> {
    costs(p).into_iter().map(|(k, _)| Message::new(k)).collect()
}

/// Why a preset gets no GPU fit verdict for the plan: it cannot run the plan's method at all, or it runs
/// without the GPU. Such presets are listed apart, after every preset that has a verdict.
fn unavailable(plan: &Plan, p: &PresetInfo) -> Option<(Key, &'static str)> {
    let train = plan.task == Task::Train;
    if train
        && p.format.is_quantized()
        && matches!(plan.method, Some(Method::Full | Method::Freeze))
    {
        return Some((
            Key::UnavailableFrozen,
            "quantized weights are frozen: use LoRA/QLoRA to train on them",
        ));
    }
    // QLoRA is LoRA on 4-bit NF4 weights (bitsandbytes Linear4bit); the plan reader refuses it on any other preset.
    if train && plan.method == Some(Method::Qlora) && !matches!(p.format, WeightFormat::Int4 { .. })
    {
        return Some((
            Key::UnavailableQlora,
            "QLoRA trains on 4-bit weights: this preset is not 4-bit (choose method LoRA to use it)",
        ));
    }
    if p.placement == Placement::Cpu {
        return Some((
            Key::UnavailableCpu,
            "runs on the CPU and uses no GPU memory, so it has no GPU fit verdict",
        ));
    }
    None
}

/// Every preset estimated for the plan and ranked: those that fit first, the least aggressive quantization
/// first among them (GPU before CPU offload); then those that do not fit, closest first; then, apart and with
/// no verdict, those that do not apply (see [`unavailable`]).
pub fn rank_presets(
    spec: &ModelSpec,
    plan: &Plan,
    presets: &[PresetInfo],
) -> Result<Vec<RankedPreset>> {
    let budget = budget(plan)?;
    let mut ranked = Vec::with_capacity(presets.len());
    for p in presets {
        if let Some((key, why)) = unavailable(plan, p) {
            ranked.push(RankedPreset {
                preset: p.name.clone(),
                format: p.format,
                placement: p.placement,
                fits: false,
                device_peak_bytes: 0,
                headroom_bytes: 0,
                limits: Limits {
                    max_batch_size: None,
                    max_sequence_length: None,
                },
                caveat: caveat(p),
                unavailable: Some(why.to_string()),
                caveat_messages: caveat_messages(p),
                unavailable_message: Some(Message::new(key)),
            });
            continue;
        }
        let est = estimate_core(
            spec,
            plan,
            p,
            plan.batch_size.get(),
            plan.sequence_length.get(),
            false,
            AllocatorModel::OwnShape,
        )?;
        let device = est.per_gpu.device_peak_bytes;
        ranked.push(RankedPreset {
            preset: p.name.clone(),
            format: p.format,
            placement: p.placement,
            fits: budget.fits(&est.per_gpu),
            device_peak_bytes: device,
            headroom_bytes: budget.headroom_bytes(&est.per_gpu),
            limits: solve(spec, plan, p)?,
            caveat: caveat(p),
            unavailable: None,
            caveat_messages: caveat_messages(p),
            unavailable_message: None,
        });
    }
    let placement_rank = |p: Placement| match p {
        Placement::Gpu => 0,
        Placement::GpuWithCpuOffload => 1,
        Placement::Cpu => 2,
    };
    ranked.sort_by(|a, b| {
        let key = |r: &RankedPreset| {
            (
                r.unavailable.is_some(),
                !r.fits,
                if r.fits {
                    placement_rank(r.placement)
                } else {
                    0
                },
                if r.fits { r.format.aggressiveness() } else { 0 },
                if r.fits { 0 } else { r.device_peak_bytes },
            )
        };
        key(a).cmp(&key(b))
    });
    Ok(ranked)
}

/// Changes that would make the plan fit its GPUs, each estimated; those that help most first.
pub fn suggestions(
    spec: &ModelSpec,
    plan: &Plan,
    presets: &[PresetInfo],
) -> Result<Vec<Suggestion>> {
    let budget = budget(plan)?;
    let preset = resolve_preset(spec, plan, presets)?;
    let base = estimate_core(
        spec,
        plan,
        &preset,
        plan.batch_size.get(),
        plan.sequence_length.get(),
        false,
        AllocatorModel::OwnShape,
    )?;
    // Every change is measured on the figure that decides the fit (docs/estimator.md §17): the band's upper end
    // by default, which allows for what the plan leaves open alike for every method, where the central figure
    // expects changing lengths' stranding only for checkpointed LoRA and QLoRA (§10.3).
    let before = budget.deciding_bytes(&base.per_gpu);
    let mut out = Vec::new();
    let mut push =
        |said: Saving, change: String, message: Message, changed: &Plan, est: Estimate| {
            let after = budget.deciding_bytes(&est.per_gpu);
            // A change that saves nothing cannot help a plan fit.
            if after >= before {
                return;
            }
            let words = match said {
                Saving::Saves => "saves",
                Saving::Drops => "the peak that decides the fit drops by",
            };
            out.push(Suggestion {
                plan: plan_to_value(changed),
                change: format!("{change}: {words} {}", saving(before - after)),
                change_message: Some(message.bytes("saving", before - after)),
                delta_bytes: after as i64 - before as i64,
                device_peak_bytes: est.per_gpu.device_peak_bytes,
                fits: budget.fits(&est.per_gpu),
            });
        };
    let run = |p: &Plan| {
        estimate_core(
            spec,
            p,
            &preset,
            p.batch_size.get(),
            p.sequence_length.get(),
            false,
            AllocatorModel::OwnShape,
        )
    };
    let train = plan.task == Task::Train;

    if train && !plan.gradient_checkpointing {
        let mut p = plan.clone();
        p.gradient_checkpointing = true;
        push(
            Saving::Saves,
            "turn on gradient checkpointing".into(),
            Message::new(Key::SuggestCheckpointing),
            &p,
            run(&p)?,
        );
    }
    if train
        && matches!(
            plan.optimizer,
            Optimizer::Adamw | Optimizer::PagedAdamw32bit
        )
    {
        let mut p = plan.clone();
        p.optimizer = Optimizer::Adamw8bit;
        push(
            Saving::Saves,
            "use an 8-bit optimizer (adamw_8bit)".into(),
            Message::new(Key::SuggestOptimizer8bit),
            &p,
            run(&p)?,
        );
    }
    if train && !plan.chunked_loss {
        let mut p = plan.clone();
        p.chunked_loss = true;
        push(
            Saving::Saves,
            "compute the loss in chunks".into(),
            Message::new(Key::SuggestChunkedLoss),
            &p,
            run(&p)?,
        );
    }
    if let Some(smaller) = NonZeroU64::new(plan.batch_size.get() - 1) {
        let limits = largest(smaller.get(), |x| {
            fits_at(spec, plan, &preset, budget, x, plan.sequence_length.get())
        })?;
        // `largest` answers within 1..=max, so the fallback is never taken.
        let b = limits.and_then(NonZeroU64::new).unwrap_or(NonZeroU64::MIN);
        let mut p = plan.clone();
        p.batch_size = b;
        if train {
            // Keep the effective batch by accumulating.
            p.gradient_accumulation_steps = plan.gradient_accumulation_steps.saturating_mul(
                NonZeroU64::new(plan.batch_size.get().div_ceil(b.get())).unwrap_or(NonZeroU64::MIN),
            );
            p.optimizer_in_backward =
                p.optimizer_in_backward && p.gradient_accumulation_steps.get() == 1;
        }
        push(
            Saving::Saves,
            format!(
                "lower the micro-batch to {b}{}",
                if train {
                    format!(
                        " with {} gradient accumulation steps",
                        p.gradient_accumulation_steps
                    )
                } else {
                    String::new()
                }
            ),
            if train {
                Message::new(Key::SuggestMicroBatchAccumulate)
                    .count("steps", p.gradient_accumulation_steps.get())
            } else {
                Message::new(Key::SuggestMicroBatch)
            }
            .count("batch", b.get()),
            &p,
            run(&p)?,
        );
    }
    if train && plan.sharding == Sharding::None {
        for n in [2u64, 4, 8, 16, 32, 64]
            .into_iter()
            .filter_map(NonZeroU64::new)
        {
            let mut p = plan.clone();
            if let Some(g) = p.gpus.as_mut() {
                g.count = n;
            }
            p.nodes = NonZeroU64::MIN;
            p.sharding = Sharding::Zero3;
            let est = run(&p)?;
            if budget.fits(&est.per_gpu) || n.get() == 64 {
                push(
                    Saving::Saves,
                    format!("shard with ZeRO-3 over {n} GPUs"),
                    Message::new(Key::SuggestZero3).count("gpus", n.get()),
                    &p,
                    est,
                );
                break;
            }
        }
    }
    if train && plan.offload != Offload::OptimizerAndParams {
        let mut p = plan.clone();
        if !p.sharding.shards_parameters() {
            p.sharding = Sharding::Zero3;
        }
        p.offload = Offload::OptimizerAndParams;
        push(
            Saving::Saves,
            "offload optimizer states and parameters to CPU RAM (ZeRO-3 offload; slower)".into(),
            Message::new(Key::SuggestOffload),
            &p,
            run(&p)?,
        );
    }
    if !preset.format.is_quantized()
        && plan.method != Some(Method::Full)
        && plan.method != Some(Method::Freeze)
    {
        if let Some(q) = presets.iter().find(|p| {
            matches!(p.format, WeightFormat::Int4 { double_quant: true })
                && p.placement == Placement::Gpu
        }) {
            let mut p = plan.clone();
            p.quantization = Some(q.name.clone());
            if p.method == Some(Method::Lora) {
                p.method = Some(Method::Qlora);
            }
            let est = estimate_core(
                spec,
                &p,
                q,
                p.batch_size.get(),
                p.sequence_length.get(),
                false,
                AllocatorModel::OwnShape,
            )?;
            push(
                Saving::Saves,
                format!("quantize the base to 4-bit (preset {})", q.name),
                Message::new(Key::SuggestQuantize).text("preset", q.name.as_str()),
                &p,
                est,
            );
        }
    }
    // Lengths left open widen the band's upper end (docs/estimator.md §17) and, for checkpointed LoRA and QLoRA,
    // add what they are expected to strand to the central peak (§10.3): this one is measured on the figure that
    // decides. It is a fact about the data to state, not a setting to turn: it applies only where every batch is
    // padded or packed to the sequence length.
    if plan.lengths_open() {
        let mut p = plan.clone();
        p.set_one_length();
        let length = plan.sequence_length.get();
        push(
            Saving::Drops,
            format!("if every batch is padded or packed to {length} tokens, say so (sequence_lengths [{length}])"),
            Message::new(Key::SuggestFixedLengths).count("length", length),
            &p,
            run(&p)?,
        );
    }
    // Expandable segments let the allocator map freed pages to new requests: what changing lengths and a step's
    // blocks freed before larger ones would leave reserved goes (docs/estimator.md §10.3).
    if train && !plan.expandable_segments {
        let mut p = plan.clone();
        p.expandable_segments = true;
        push(
            Saving::Saves,
            "run with PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True (the production environment profile sets it)"
                .to_string(),
            Message::new(Key::SuggestExpandableSegments),
            &p,
            run(&p)?,
        );
    }
    // An unnamed bitsandbytes release leaves room in the band's upper end for an older one (docs/estimator.md §6.4,
    // §17): like the lengths, a fact about the run to state.
    if plan.bitsandbytes_version.is_none() && base.per_gpu.length_bytes.older_bnb > 0 {
        let mut p = plan.clone();
        p.bitsandbytes_version = Some(CURRENT_BNB.to_string());
        push(
            Saving::Drops,
            format!(
                "if your bitsandbytes is {CURRENT_BNB} or later, say so (bitsandbytes_version)"
            ),
            Message::new(Key::SuggestCurrentBnb).text("version", CURRENT_BNB),
            &p,
            run(&p)?,
        );
    }
    out.sort_by_key(|s| (!s.fits, s.delta_bytes));
    Ok(out)
}

/// The first bitsandbytes release whose 4-bit layers keep no input (docs/estimator.md §6.4).
const CURRENT_BNB: &str = super::plan::BNB_4BIT_DROPS_INPUTS;

/// How a suggestion says its saving: a setting to change "saves" it; a fact about the run to state lowers the
/// peak that decides the fit (it takes a doubt off the band's upper end, or what the central figure expects).
#[derive(Clone, Copy)]
enum Saving {
    Saves,
    Drops,
}

/// A saving in the largest binary unit that keeps it at least 1, so it never reads "0.00 GiB".
fn saving(bytes: u64) -> String {
    const KIB: u64 = 1 << 10;
    const MIB: u64 = 1 << 20;
    if bytes >= 1 << 30 {
        gib(bytes)
    } else if bytes >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    } else if bytes >= KIB {
        format!("{:.1} KiB", bytes as f64 / KIB as f64)
    } else {
        format!("{bytes} bytes")
    }
}

/// One cell of a what-if grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct GridCell {
    pub batch_size: u64,
    pub sequence_length: u64,
    pub device_peak_bytes: u64,
    pub fits: bool,
}

/// The device peak of every (batch, sequence) pair for one preset: what the Plan view draws as the user
/// explores. Notes are skipped, so thousands of cells cost milliseconds (issue 3 item 8).
pub fn what_if_grid(
    spec: &ModelSpec,
    plan: &Plan,
    preset: &PresetInfo,
    batches: &[u64],
    sequences: &[u64],
) -> Result<Vec<GridCell>> {
    // Without `gpus` every cell fits: the grid then only charts the memory.
    let budget = budget(plan).ok();
    let mut cells = Vec::with_capacity(batches.len() * sequences.len());
    for &b in batches {
        for &s in sequences {
            if b == 0 || s == 0 {
                return Err(Error::invalid(
                    if b == 0 {
                        "batch_size"
                    } else {
                        "sequence_length"
                    },
                    "must be a positive integer, got 0",
                ));
            }
            let per_gpu =
                estimate_core(spec, plan, preset, b, s, false, AllocatorModel::OwnShape)?.per_gpu;
            cells.push(GridCell {
                batch_size: b,
                sequence_length: s,
                device_peak_bytes: per_gpu.device_peak_bytes,
                fits: budget.is_none_or(|b| b.fits(&per_gpu)),
            });
        }
    }
    Ok(cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checked edge is the largest value the stricter estimate fits, found below the cheap edge; where the
    /// cheap edge holds it costs one estimate.
    #[test]
    fn the_checked_edge_moves_down_to_what_fits() {
        for (found, true_edge) in [
            (100, 37),
            (100, 99),
            (100, 1),
            (1, 1),
            (64, 63),
            (65_536, 40_000),
        ] {
            let mut calls = 0;
            let edge = checked_edge(Some(found), |x| {
                calls += 1;
                Ok(x <= true_edge)
            })
            .unwrap();
            assert_eq!(edge, Some(true_edge), "found {found}");
            assert!(calls <= 2 * 64, "{calls} estimates");
        }
        let mut calls = 0;
        let held = checked_edge(Some(50), |x| {
            calls += 1;
            Ok(x <= 50)
        });
        assert_eq!((held.unwrap(), calls), (Some(50), 1));
        assert_eq!(checked_edge(Some(8), |_| Ok(false)).unwrap(), None);
        assert_eq!(checked_edge(None, |_| Ok(true)).unwrap(), None);
    }
}
