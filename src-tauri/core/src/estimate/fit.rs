//! The one rule for "fits" (docs/estimator.md §1.2): a run fits a GPU when its device peak (reserved + managed +
//! CUDA context) is at most the GPU's memory less the plan's margin. The estimate's `fits`/`headroom_bytes`, the
//! Plan view's verdict, the solver, the preset ranking (and so the wizard) and the suggestions all decide here, so
//! the CLI and the app can never disagree about a plan.

use serde::Serialize;

use super::plan::GpuSetup;

/// What one GPU offers a run: its memory, and what the margin leaves of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub gpu_memory_bytes: u64,
    /// `gpu_memory_bytes × (1 − margin)`, rounded down.
    pub usable_bytes: u64,
}

impl Budget {
    pub fn new(gpu_memory_bytes: u64, margin: f64) -> Self {
        Budget {
            gpu_memory_bytes,
            usable_bytes: (gpu_memory_bytes as f64 * (1.0 - margin)).floor() as u64,
        }
    }

    /// The budget of one GPU of a plan's `gpus`.
    pub fn of(gpus: &GpuSetup, margin: f64) -> Self {
        Budget::new(gpus.memory_bytes, margin)
    }

    pub fn fits(&self, device_peak_bytes: u64) -> bool {
        device_peak_bytes <= self.usable_bytes
    }

    /// Usable memory left at the peak: negative when the run does not fit (the contract's `headroom_bytes`).
    pub fn headroom_bytes(&self, device_peak_bytes: u64) -> i64 {
        self.usable_bytes as i64 - device_peak_bytes as i64
    }

    /// The verdict in three words, with its figure.
    pub fn verdict(&self, device_peak_bytes: u64) -> Verdict {
        let total = self.gpu_memory_bytes;
        if self.fits(device_peak_bytes) {
            Verdict {
                kind: VerdictKind::Fits,
                bytes: total - device_peak_bytes,
            }
        } else if device_peak_bytes <= total {
            Verdict {
                kind: VerdictKind::Tight,
                bytes: total - device_peak_bytes,
            }
        } else {
            Verdict {
                kind: VerdictKind::DoesNotFit,
                bytes: device_peak_bytes - self.usable_bytes,
            }
        }
    }
}

/// The fit verdict in three words. `Tight` eats into the user's margin but stays within the GPU's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    Fits,
    Tight,
    DoesNotFit,
}

/// The verdict with its figure: for `fits` and `tight`, the GPU memory left free at the peak
/// (GPU total − device peak); for `does_not_fit`, how much must go to fit with the margin
/// (device peak − GPU total × (1 − margin): the contract's `headroom_bytes` negated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct Verdict {
    pub kind: VerdictKind,
    pub bytes: u64,
}
