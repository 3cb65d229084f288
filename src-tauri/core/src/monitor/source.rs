//! Where snapshots come from. A source is owned by one thread (the sampler) for its whole life, so it needs
//! `Send` but no locks.

use super::{Snapshot, Timestamp};
use crate::Result;

/// What a sampler asks of a source at one tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleRequest {
    /// The wall-clock time to stamp on a live reading (replays keep their recorded time).
    pub at: Timestamp,
    /// Whether to list processes this time: they cost more than memory (one /proc walk per process), so the
    /// sampler asks for them every 2 to 5 s only.
    pub processes: bool,
}

pub trait GpuSource: Send {
    /// `nvml`, `fake:SCENARIO` or `replay:FILE`: goes into [`Snapshot::source`].
    fn label(&self) -> String;

    /// Reads every GPU once. `Ok(None)` means the source has nothing more to give (the end of a replay).
    /// A GPU that stops answering is not an error: it comes back as [`super::GpuStatus::Lost`] and is retried.
    fn sample(&mut self, request: SampleRequest) -> Result<Option<Snapshot>>;
}
