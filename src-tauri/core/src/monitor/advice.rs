//! Which preset to recommend to a run whose memory keeps growing: the first step of its fallback chain after the
//! preset it runs with whose estimate fits this GPU by the one fit rule (docs/estimator.md §1.2), the rule the Plan
//! view, the solver, the wizard and the launcher decide by. The monitor only asks; the estimate is made by an
//! implementation the app and the CLI hand it (`launch::advice`), so the monitor stays free of plans and stores.

use super::procs::ModelLink;

/// A preset and the device peak that decides whether it fits (the band's upper end, or the central figure when
/// the user chose that).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresetNeed {
    pub preset: String,
    pub deciding_bytes: u64,
}

/// What the estimate says about the presets after the one a run uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advice {
    /// `choice` is the first that fits; `skipped` are the ones before it that do not.
    Fits {
        choice: PresetNeed,
        skipped: Vec<PresetNeed>,
        usable_bytes: u64,
        batch_size: u64,
        sequence_length: u64,
    },
    /// None of the presets left fits: switching would only trade one OOM for another.
    NoneFits {
        tried: Vec<PresetNeed>,
        usable_bytes: u64,
    },
    /// The run already uses the chain's last preset.
    EndOfChain,
    /// The run cannot be estimated (its batch size is unknown, its model has no saved config…): why.
    Unknown(String),
}

/// Estimates the presets left to a run on a GPU of `gpu_memory_bytes`. Called when a run's memory keeps
/// growing, so it may read files; the alert engine keeps its answer per process.
pub trait PresetAdvisor: Send {
    fn advise(&self, link: &ModelLink, gpu_memory_bytes: u64) -> Advice;
}
