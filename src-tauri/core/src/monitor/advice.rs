//! Which preset to recommend to a run whose memory keeps growing: the first step of its fallback chain after the
//! preset it runs with whose estimate fits this GPU by the one fit rule (docs/estimator.md §1.2), the rule the Plan
//! view, the solver, the wizard and the launcher decide by. The monitor only asks; the estimate is made by an
//! implementation the app and the CLI hand it (`launch::advice`), so the monitor stays free of plans and stores.

use super::procs::ModelLink;

/// What the estimate says about the presets after the one a run uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advice {
    /// `preset` is the first that fits; `skipped` says, in English, which came before it and what they need.
    Fits {
        preset: String,
        skipped: String,
        usable_bytes: u64,
        batch_size: u64,
        sequence_length: u64,
    },
    /// None of the presets left fits: switching would only trade one OOM for another.
    NoneFits { why: String },
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
