//! The one rule for "fits" (docs/estimator.md §1.2): a run fits a GPU when its device peak (reserved + managed +
//! CUDA context) is at most the GPU's memory less the plan's margin; by default the upper end of the estimate's
//! band decides (§17), so that "fits" holds for the runs the band covers. The estimate's `fits`/`headroom_bytes`, the
//! Plan view's verdict, the solver, the preset ranking (and so the wizard) and the suggestions all decide here, so
//! the CLI and the app can never disagree about a plan.

use serde::Serialize;

use super::plan::{FitOn, GpuSetup, Plan};
use super::report::PerGpu;

/// What one GPU offers a run: its memory, what the margin leaves of it, and which figure of an estimate's band
/// must fit in that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub gpu_memory_bytes: u64,
    /// `gpu_memory_bytes × (1 − margin)`, rounded down.
    pub usable_bytes: u64,
    pub fit_on: FitOn,
}

impl Budget {
    /// A budget that decides on the band's upper end (the default rule).
    pub fn new(gpu_memory_bytes: u64, margin: f64) -> Self {
        Budget {
            gpu_memory_bytes,
            usable_bytes: (gpu_memory_bytes as f64 * (1.0 - margin)).floor() as u64,
            fit_on: FitOn::High,
        }
    }

    /// The budget of one GPU of a plan's `gpus`, with the plan's margin and `fit_on`.
    pub fn of(gpus: &GpuSetup, plan: &Plan) -> Self {
        Budget {
            fit_on: plan.fit_on,
            ..Budget::new(gpus.memory_bytes, plan.margin)
        }
    }

    /// The device peak this budget decides on: the band's upper end, or the central figure.
    pub fn deciding_bytes(&self, per_gpu: &PerGpu) -> u64 {
        per_gpu.deciding_device_bytes(self.fit_on)
    }

    pub fn fits(&self, per_gpu: &PerGpu) -> bool {
        self.deciding_bytes(per_gpu) <= self.usable_bytes
    }

    /// Usable memory left at the deciding peak: negative when the run does not fit (the contract's
    /// `headroom_bytes`).
    pub fn headroom_bytes(&self, per_gpu: &PerGpu) -> i64 {
        self.usable_bytes as i64 - self.deciding_bytes(per_gpu) as i64
    }

    /// The verdict in three words, with its figure. `fits`: the deciding peak is within the usable memory.
    /// `tight`: it is not, but the central peak is within the GPU's memory (the band's upper end or the margin
    /// is what overflows). `does_not_fit`: the central peak is over the GPU's memory.
    pub fn verdict(&self, per_gpu: &PerGpu) -> Verdict {
        let total = self.gpu_memory_bytes;
        let central = per_gpu.device_peak_bytes;
        let deciding = self.deciding_bytes(per_gpu);
        if deciding <= self.usable_bytes {
            Verdict {
                kind: VerdictKind::Fits,
                bytes: total - deciding,
            }
        } else if central <= total {
            Verdict {
                kind: VerdictKind::Tight,
                bytes: total - central,
            }
        } else {
            Verdict {
                kind: VerdictKind::DoesNotFit,
                bytes: deciding - self.usable_bytes,
            }
        }
    }
}

/// The fit verdict in three words. `Tight` eats into the user's margin but stays within the GPU's memory.
// Deserialize: the launcher's run records keep the verdict of each chain step it skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    Fits,
    Tight,
    DoesNotFit,
}

/// The verdict with its figure: for `fits`, the GPU memory left free at the deciding peak (GPU total − deciding
/// peak); for `tight`, the GPU memory left free at the central peak; for `does_not_fit`, how much must go to fit
/// with the margin (deciding peak − GPU total × (1 − margin): the contract's `headroom_bytes` negated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct Verdict {
    pub kind: VerdictKind,
    pub bytes: u64,
}
