//! This machine's calibration of the two overheads no formula can know: the CUDA context and the caching
//! allocator's slack, fitted from the runs the launcher measured (docs/estimator.md §10.5). Pure numbers: the
//! samples come from [`crate::launch::calibration`], which reads the run history, and the engine applies the
//! result where it would use [`super::CUDA_CONTEXT_BYTES`] and its allocator percentages.

use serde::{Deserialize, Serialize};

use super::task::Task;
use super::units::gib;

/// CUDA context per process and GPU: not visible to `torch.cuda.memory_*`. PyTorch maintainers report
/// 300–400 MB with lazy module loading (CUDA ≥ 11.7, pytorch#20532, #109888); docs/estimator.md §10.4 sets 500 MiB as
/// the default until measured on the user's GPU (§10.5: this machine's calibration replaces it).
pub const CUDA_CONTEXT_BYTES: u64 = 500 * (1 << 20);

/// NCCL's buffers per GPU when training runs as several ranks (data parallel, ZeRO, FSDP): device memory NCCL
/// takes for its channels with cudaMalloc, outside PyTorch's caching allocator, so nvidia-smi shows it and
/// `torch.cuda.memory_*` do not (docs/estimator.md §10.4). Measured with PyTorch on 4 × A100 over NVLink after one
/// all-reduce: 544 MB for a group of two ranks, 688 MB for more (NVIDIA/nccl#964). NCCL's maintainers: it grows
/// with the channels a link's bandwidth calls for, and stops growing beyond two nodes (#864, #986).
pub const NCCL_TWO_RANKS_BYTES: u64 = 544 * MIB;
pub const NCCL_MORE_RANKS_BYTES: u64 = 688 * MIB;
/// The most one communicator was reported to take: about 1.6 GB (NVIDIA/nccl#864; 1.06 GB on 8 × H100 before any
/// all-to-all, #1685). The band's upper end allows for it.
pub const NCCL_HIGH_BYTES: u64 = 1600 * MIB;

/// NCCL's buffers per GPU for a run of `ranks` processes: none for one.
pub fn nccl_buffers_bytes(ranks: u64) -> u64 {
    match ranks {
        0 | 1 => 0,
        2 => NCCL_TWO_RANKS_BYTES,
        _ => NCCL_MORE_RANKS_BYTES,
    }
}

/// Share of peak allocated memory the caching allocator holds on top as reserved-but-free blocks (rounding to
/// 2 MiB, 20 MiB small-buffer pools, fragmentation from changing sizes; PyTorch notes/cuda "Memory
/// management"). docs/estimator.md §10.3 says to budget it as a percentage and calibrate; training's many differently
/// sized temporaries fragment more than inference's repeated shapes.
pub(crate) const TRAIN_ALLOCATOR_PERCENT: u64 = 5;
pub(crate) const INFER_ALLOCATOR_PERCENT: u64 = 2;

const MIB: u64 = 1 << 20;

/// Runs of one task a calibration needs before it replaces the documented defaults.
pub const MIN_RUNS: u32 = 3;
/// The range a fitted CUDA context must fall in to be believed: published figures run from about 200 MB (lazy
/// module loading) to 1.7 GB (eager loading on CUDA 11.1), docs/estimator.md §10.4.
pub const MIN_CONTEXT_BYTES: u64 = 128 * MIB;
pub const MAX_CONTEXT_BYTES: u64 = 4096 * MIB;
/// The allocator slack is clamped to 0–50% of the allocated peak: reserved is never below allocated, and more
/// than half again says the runs differ from their plans, not that the allocator holds that much.
pub const MAX_SLACK_PERMILLE: u64 = 500;
/// The largest predicted allocated peak must be this many times the smallest before the context is fitted
/// rather than assumed: with runs of one size the intercept is an extrapolation from nowhere.
pub const MIN_SPREAD: f64 = 1.5;

/// One finished run: what the estimator predicted (allocated, managed) and the device peak NVML measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub allocated_bytes: u64,
    pub managed_bytes: u64,
    pub measured_bytes: u64,
    pub started_unix_ms: u64,
    /// The band's allowance for changing batch lengths at the prediction (docs/estimator.md §17): 0 where the
    /// plan's lengths were known; `None` on records made before it was kept.
    pub lengths_doubt_bytes: Option<u64>,
}

/// Training runs that left their lengths open, a calibration needs before this machine's stranding replaces the
/// allocator model's allowance in the band.
pub const MIN_LENGTHS_RUNS: u32 = 3;
/// The learnt share of the allowance is rounded up to this many thousandths, as the allowance itself is.
const LENGTHS_SHARE_ROUNDING: u64 = 50;

/// How the context was found.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CalibrationFit {
    /// Fitted with the slack by a repeated-median regression over runs of different sizes.
    Regression,
    /// The documented default context kept; the rest of the difference attributed to the slack (runs too alike
    /// in size, or a fitted context outside the believable range).
    DefaultContext,
}

/// The calibration of one task (training or inference) on this machine.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct TaskCalibration {
    /// CUDA context per process, used instead of the default 500 MiB.
    pub cuda_context_bytes: u64,
    /// Reserved-but-free blocks of the caching allocator, in tenths of a percent of the allocated peak, used
    /// instead of the default 5% (training) or 2% (inference).
    pub allocator_slack_permille: u64,
    /// The runs it rests on.
    pub runs: u32,
    /// Training whose batches changed length: the most of the band's allowance for changing lengths (the
    /// allocator model's, docs/estimator.md §17) any of this machine's runs needed beyond the calibrated context
    /// and slack, in thousandths of it; the band uses this share instead of the whole allowance. `None` with fewer
    /// than [`MIN_LENGTHS_RUNS`] such runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub lengths_share_permille: Option<u64>,
    /// The runs with open lengths that share rests on.
    #[serde(default)]
    pub lengths_runs: u32,
    /// When the oldest and the newest of those runs started.
    pub first_run_unix_ms: u64,
    pub last_run_unix_ms: u64,
    pub fit: CalibrationFit,
}

impl TaskCalibration {
    /// The allocator's reserved-but-free bytes on top of `allocated`.
    pub fn allocator_overhead_bytes(&self, allocated: u64) -> u64 {
        let bytes = u128::from(allocated) * u128::from(self.allocator_slack_permille) / 1000;
        u64::try_from(bytes).unwrap_or(u64::MAX)
    }

    /// A share in thousandths as a percentage, for display ("65%").
    pub fn share_text(permille: u64) -> String {
        format!("{}%", permille / 10)
    }

    /// The slack as a percentage, for display ("7.3%").
    pub fn slack_percent_text(&self) -> String {
        format!(
            "{}.{}%",
            self.allocator_slack_permille / 10,
            self.allocator_slack_permille % 10
        )
    }

    /// [`Self::note`] as a message the UI renders in the user's language.
    pub fn note_message(&self, task: Task) -> crate::message::Message {
        use crate::message::{Key, Message};
        let runs = match (task, self.runs == 1) {
            (Task::Train, true) => Key::NoteRunsTrainOne,
            (Task::Train, false) => Key::NoteRunsTrain,
            (Task::Infer, true) => Key::NoteRunsInferOne,
            (Task::Infer, false) => Key::NoteRunsInfer,
        };
        Message::new(Key::NoteCalibrated)
            .message(
                "runs",
                Message::new(runs).count("count", u64::from(self.runs)),
            )
            .bytes("context", self.cuda_context_bytes)
            .text("slack", self.slack_percent_text())
            .phrase(
                "fit",
                match self.fit {
                    CalibrationFit::Regression => Key::NoteFitRegression,
                    CalibrationFit::DefaultContext => Key::NoteFitDefaultContext,
                },
            )
    }

    /// The estimate's note: a calibrated number never goes unsaid.
    pub fn note(&self, task: Task) -> String {
        format!(
            "calibrated on this machine from {} {} run{}: CUDA context {}, allocator slack {} of peak allocated ({}; docs/estimator.md §10.5)",
            self.runs,
            match task {
                Task::Train => "training",
                Task::Infer => "inference",
            },
            if self.runs == 1 { "" } else { "s" },
            gib(self.cuda_context_bytes),
            self.slack_percent_text(),
            match self.fit {
                CalibrationFit::Regression => "both fitted",
                CalibrationFit::DefaultContext => "the context is the default, the slack fitted",
            }
        )
    }
}

/// The allocator slack an uncalibrated estimate of `task` uses (docs/estimator.md §10.3), in tenths of a percent.
pub fn default_slack_permille(task: Task) -> u64 {
    10 * match task {
        Task::Train => TRAIN_ALLOCATOR_PERCENT,
        Task::Infer => INFER_ALLOCATOR_PERCENT,
    }
}

/// This machine's calibration, per task; `None` where the task has fewer than [`MIN_RUNS`] usable runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct MachineCalibration {
    pub train: Option<TaskCalibration>,
    pub infer: Option<TaskCalibration>,
}

impl MachineCalibration {
    pub fn for_task(&self, task: Task) -> Option<&TaskCalibration> {
        match task {
            Task::Train => self.train.as_ref(),
            Task::Infer => self.infer.as_ref(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.train.is_none() && self.infer.is_none()
    }
}

/// Fit the context and the slack of one task from its samples (docs/estimator.md §10.5):
/// `measured − managed = allocated × (1 + slack) + context`. `None` with fewer than [`MIN_RUNS`] usable samples.
pub fn derive(samples: &[Sample]) -> Option<TaskCalibration> {
    // A sample whose measurement does not exceed the managed bytes says nothing about the rest.
    let usable: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.allocated_bytes > 0 && s.measured_bytes > s.managed_bytes)
        .collect();
    let runs = u32::try_from(usable.len()).unwrap_or(u32::MAX);
    if runs < MIN_RUNS {
        return None;
    }
    let points: Vec<(f64, f64)> = usable
        .iter()
        .map(|s| {
            (
                s.allocated_bytes as f64,
                (s.measured_bytes - s.managed_bytes) as f64,
            )
        })
        .collect();
    let smallest = points.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let largest = points.iter().map(|p| p.0).fold(0.0, f64::max);
    // The context is the intercept under the clamped slope, so the two always agree with the runs' median.
    let fitted = (largest >= smallest * MIN_SPREAD)
        .then(|| repeated_median_slope(&points))
        .flatten()
        .map(clamp_slope)
        .and_then(|slope| {
            let context = median(points.iter().map(|(x, y)| y - slope * x).collect())?;
            (MIN_CONTEXT_BYTES as f64..=MAX_CONTEXT_BYTES as f64)
                .contains(&context)
                .then_some((slope, context))
        });
    let (slope, context, fit) = match fitted {
        Some((slope, context)) => (slope, context, CalibrationFit::Regression),
        None => {
            let context = CUDA_CONTEXT_BYTES as f64;
            let slope = median(points.iter().map(|(x, y)| (y - context) / x).collect())?;
            (clamp_slope(slope), context, CalibrationFit::DefaultContext)
        }
    };
    let permille = ((slope - 1.0) * 1000.0).round();
    let context_mib = (context / MIB as f64).round() as u64;
    let (lengths_share_permille, lengths_runs) = lengths_share(&usable, slope, context);
    Some(TaskCalibration {
        cuda_context_bytes: context_mib * MIB,
        allocator_slack_permille: permille as u64,
        runs,
        lengths_share_permille,
        lengths_runs,
        first_run_unix_ms: usable.iter().map(|s| s.started_unix_ms).min()?,
        last_run_unix_ms: usable.iter().map(|s| s.started_unix_ms).max()?,
        fit,
    })
}

/// What the runs that left their lengths open needed of the band's allowance for them, beyond what the fitted
/// slope (`1 + slack`) and context already give: the most any one needed, so that the band's upper end covers
/// every such run of this machine, within 0 and the whole allowance, rounded up. `None` below
/// [`MIN_LENGTHS_RUNS`] such runs; the count either way.
fn lengths_share(usable: &[&Sample], slope: f64, context: f64) -> (Option<u64>, u32) {
    let shares: Vec<u64> = usable
        .iter()
        .filter_map(|s| {
            let doubt = s.lengths_doubt_bytes.filter(|&d| d > 0)? as f64;
            let beyond = (s.measured_bytes - s.managed_bytes) as f64
                - s.allocated_bytes as f64 * slope
                - context;
            Some((beyond / doubt * 1000.0).clamp(0.0, 1000.0).ceil() as u64)
        })
        .collect();
    let runs = u32::try_from(shares.len()).unwrap_or(u32::MAX);
    let share = (runs >= MIN_LENGTHS_RUNS)
        .then(|| shares.iter().copied().max())
        .flatten()
        .map(|p| (p.div_ceil(LENGTHS_SHARE_ROUNDING) * LENGTHS_SHARE_ROUNDING).min(1000));
    (share, runs)
}

/// The slope `1 + slack`, within 0–[`MAX_SLACK_PERMILLE`] of slack.
fn clamp_slope(slope: f64) -> f64 {
    slope.clamp(1.0, 1.0 + MAX_SLACK_PERMILLE as f64 / 1000.0)
}

/// Siegel's repeated median slope: the median over points of the median slope to every other point. Up to half
/// the points can be wild (a run on two GPUs, a run that changed its batch size) without moving it far; least
/// squares would follow a single one. `None` when no two points differ in `x`.
fn repeated_median_slope(points: &[(f64, f64)]) -> Option<f64> {
    let per_point: Vec<f64> = points
        .iter()
        .filter_map(|(xi, yi)| {
            median(
                points
                    .iter()
                    .filter(|(xj, _)| xj != xi)
                    .map(|(xj, yj)| (yj - yi) / (xj - xi))
                    .collect(),
            )
        })
        .collect();
    median(per_point)
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}
