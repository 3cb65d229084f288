//! Where down the chain the first attempt starts: at the first step the estimate says fits, so a plan that
//! cannot fit at fp16 does not spend its first attempt (and a model load) finding out. "Fits" is the
//! estimator's one rule ([`crate::estimate::fit::Budget`], docs/estimator.md §1.2 and §17): the band's upper
//! end against the usable memory unless Settings' `fit_on` chooses the central figure.
//!
//! A step without an estimate (the plan rejects its preset) stops the skipping: nothing says it would not fit.
//! When no step fits, the run starts at the last one, the lightest the chain offers. A user who pins the
//! start gets the chain's first step whatever the estimate says.

use serde::{Deserialize, Serialize};

use crate::estimate::fit::{Budget, VerdictKind};
use crate::estimate::plan::FitOn;
use crate::estimate::PerGpu;

/// A step the first attempt skipped, and the figures that made it skip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct SkippedStep {
    /// Its position in the chain.
    pub step: u32,
    pub preset: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub micro_batch: Option<u64>,
    /// The estimate's central device peak and the upper end of its band (equal without a band).
    pub central_bytes: u64,
    pub high_bytes: u64,
    /// `tight` (the central figure fits the GPU, the deciding one not the usable memory) or `does_not_fit`.
    pub verdict: VerdictKind,
}

/// Why the first attempt started where it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct StartChoice {
    /// The chain position of the first attempt.
    pub step: u32,
    /// The user asked to start at the chain's first step.
    pub pinned: bool,
    /// One GPU's memory less the plan's margin.
    pub usable_bytes: u64,
    pub fit_on: FitOn,
    pub skipped: Vec<SkippedStep>,
    /// True when no step fits and the run starts at the last one.
    pub none_fits: bool,
    /// The same in one English sentence, for the CLI and the log ("fp16 skipped: needs 48.2-55.0 GiB, 44.5
    /// GiB usable").
    pub message: String,
}

/// One chain position as the choice sees it: its preset, micro-batch and estimate (`None`: no estimate).
pub struct StepEstimate<'a> {
    pub preset: &'a str,
    pub micro_batch: Option<u64>,
    pub per_gpu: Option<&'a PerGpu>,
}

fn gib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / f64::from(1u32 << 30))
}

/// The first step that fits `budget`, or step 0 when `pinned`.
pub fn choose(steps: &[StepEstimate<'_>], budget: &Budget, pinned: bool) -> StartChoice {
    let mut skipped = Vec::new();
    let mut start = None;
    if !pinned {
        for (i, step) in steps.iter().enumerate() {
            let Some(per_gpu) = step.per_gpu else {
                start = Some(i);
                break;
            };
            if budget.fits(per_gpu) {
                start = Some(i);
                break;
            }
            let high = per_gpu
                .range
                .map_or(per_gpu.device_peak_bytes, |r| r.device_peak_bytes.high);
            skipped.push(SkippedStep {
                step: u32::try_from(i).unwrap_or(u32::MAX),
                preset: step.preset.to_string(),
                micro_batch: step.micro_batch,
                central_bytes: per_gpu.device_peak_bytes,
                high_bytes: high,
                verdict: budget.verdict(per_gpu).kind,
            });
        }
    } else {
        start = Some(0);
    }
    let none_fits = start.is_none();
    let step = start.unwrap_or(steps.len().saturating_sub(1));
    if none_fits {
        // The last step runs: it is not "skipped".
        skipped.pop();
    }
    let usable = gib(budget.usable_bytes);
    let mut parts: Vec<String> = skipped
        .iter()
        .map(|s| {
            let what = match s.micro_batch {
                Some(mb) => format!("{} at micro-batch {mb}", s.preset),
                None => s.preset.clone(),
            };
            let needs = if s.high_bytes == s.central_bytes {
                format!("{} GiB", gib(s.central_bytes))
            } else {
                format!("{}-{} GiB", gib(s.central_bytes), gib(s.high_bytes))
            };
            format!("{what} skipped: needs {needs}, {usable} GiB usable")
        })
        .collect();
    if pinned {
        parts.push("started at the chain's first step as asked".into());
    } else if none_fits {
        parts.push("no step fits by the estimate: starting at the last one".into());
    }
    StartChoice {
        step: u32::try_from(step).unwrap_or(u32::MAX),
        pinned,
        usable_bytes: budget.usable_bytes,
        fit_on: budget.fit_on,
        skipped,
        none_fits,
        message: parts.join("; "),
    }
}
