//! What the training and inference phases hand the engine: their share of the estimate, and the cap on terms
//! that grow without bound. Kept apart so the phases depend on it, not on the engine that calls them.

use super::report::{Components, LengthBytes};

/// One phase's share of the estimate (training or inference), before workspaces and overheads.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Part {
    pub components: Components,
    pub managed: u64,
    pub cpu: u64,
    pub trainable: u64,
    /// Reserved bytes that varying batch lengths leave in segments the allocator cannot reuse
    /// (docs/estimator.md §10.3); 0 with fixed lengths.
    pub stranded: u64,
    /// Reserved bytes beyond the allocated peak that one step's own tensors leave at the plan's shape, from the
    /// allocator model (docs/estimator.md §10.3); 0 where it is not run (other shapes, sharding, offload).
    pub fragmented: u64,
    /// Training: the step's activations and logits at the start of backward, for the band's lengths doubt.
    pub length_bytes: LengthBytes,
}

/// Terms that grow with s² or batch × layers are clamped here (64 PiB, beyond any GPU): a sum of a few such
/// terms stays inside u64, and the verdict is "does not fit" either way.
pub(crate) const BYTES_CAP: u64 = 1 << 56;
