//! Byte figures in words, for notes.

/// GiB with two decimals, for notes only (GiB = 2^30).
pub(crate) fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
}
