//! Recognising a CUDA out-of-memory death from a program's output.
//!
//! The texts come from PyTorch's sources:
//! - `c10/cuda/CUDACachingAllocator.cpp` raises `OutOfMemoryError` with "CUDA out of memory. Tried to allocate
//!   X. GPU N has a total capacity of X of which Y is free. [Process P has X memory in use. | Including
//!   non-PyTorch memory, this process has X memory in use.] Of the allocated memory X is allocated by PyTorch,
//!   and Y is reserved by PyTorch but unallocated. If reserved but unallocated memory is large try setting
//!   PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation."; sizes are written by
//!   `format_size` as "N bytes", "N.NN KiB", "N.NN MiB" or "N.NN GiB" (binary units).
//! - releases before 2.1 wrote "(GPU 0; 7.93 GiB total capacity; 130.35 MiB already allocated; 47.06 MiB free;
//!   188.00 MiB reserved in total by PyTorch)"; reserved-but-unallocated is then reserved − allocated.
//! - Python shows the exception as `torch.OutOfMemoryError` (`torch.cuda.OutOfMemoryError` before 2.5).
//! - cuBLAS failing to get its workspace reports `CUBLAS_STATUS_ALLOC_FAILED`; a raw CUDA call reports
//!   "CUDA error: out of memory" (cudaErrorMemoryAllocation through `C10_CUDA_CHECK`).

use serde::{Deserialize, Serialize};

/// Which text gave the OOM away (the first seen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum OomMarker {
    CudaOutOfMemory,
    TorchOutOfMemoryError,
    CublasAllocFailed,
    CudaErrorOutOfMemory,
}

/// What the output said about an out-of-memory failure. Figures the message did not carry are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct OomDetails {
    pub marker: OomMarker,
    /// The line the marker was found on (truncated to 1000 characters).
    pub message: String,
    pub gpu_index: Option<u32>,
    pub requested_bytes: Option<u64>,
    pub total_capacity_bytes: Option<u64>,
    pub free_bytes: Option<u64>,
    pub allocated_by_pytorch_bytes: Option<u64>,
    pub reserved_unallocated_bytes: Option<u64>,
}

impl OomDetails {
    /// Fragmentation: the allocator held at least as many cached-but-free bytes as were asked for, yet could
    /// not hand out one block of that size. PyTorch frees unsplit cached blocks and retries before raising
    /// (`release_cached_blocks` in CUDACachingAllocator.cpp), so what is left is split blocks: slivers that
    /// `expandable_segments:True` avoids (notes/cuda, "Memory management").
    pub fn fragmentation(&self) -> bool {
        match (self.reserved_unallocated_bytes, self.requested_bytes) {
            (Some(slack), Some(request)) => request > 0 && slack >= request,
            _ => false,
        }
    }
}

/// Fed every output line of an attempt; remembers the first OOM marker and the figures of the message.
#[derive(Debug, Default)]
pub struct OomScanner {
    found: Option<OomDetails>,
}

impl OomScanner {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn feed(&mut self, line: &str) {
        let marker = if line.contains("CUDA out of memory") {
            Some(OomMarker::CudaOutOfMemory)
        } else if line.contains("OutOfMemoryError") && line.contains("torch") {
            Some(OomMarker::TorchOutOfMemoryError)
        } else if line.contains("CUBLAS_STATUS_ALLOC_FAILED") {
            Some(OomMarker::CublasAllocFailed)
        } else if line.contains("CUDA error: out of memory") {
            Some(OomMarker::CudaErrorOutOfMemory)
        } else {
            None
        };
        let Some(marker) = marker else {
            return;
        };
        let figures = Figures::parse(line);
        match &mut self.found {
            None => {
                self.found = Some(OomDetails {
                    marker,
                    message: line.chars().take(1000).collect(),
                    gpu_index: figures.gpu_index,
                    requested_bytes: figures.requested,
                    total_capacity_bytes: figures.total,
                    free_bytes: figures.free,
                    allocated_by_pytorch_bytes: figures.allocated,
                    reserved_unallocated_bytes: figures.reserved_unallocated,
                })
            }
            // A traceback often names the exception before the line with the figures, or repeats it; keep
            // the first marker and the first line that had figures.
            Some(found) if found.requested_bytes.is_none() && figures.requested.is_some() => {
                found.message = line.chars().take(1000).collect();
                found.gpu_index = figures.gpu_index;
                found.requested_bytes = figures.requested;
                found.total_capacity_bytes = figures.total;
                found.free_bytes = figures.free;
                found.allocated_by_pytorch_bytes = figures.allocated;
                found.reserved_unallocated_bytes = figures.reserved_unallocated;
            }
            Some(_) => {}
        }
    }

    pub fn found(&self) -> Option<&OomDetails> {
        self.found.as_ref()
    }

    pub fn finish(self) -> Option<OomDetails> {
        self.found
    }
}

#[derive(Default)]
struct Figures {
    gpu_index: Option<u32>,
    requested: Option<u64>,
    total: Option<u64>,
    free: Option<u64>,
    allocated: Option<u64>,
    reserved_unallocated: Option<u64>,
}

impl Figures {
    fn parse(line: &str) -> Self {
        let mut f = Figures {
            requested: size_after(line, "Tried to allocate "),
            ..Figures::default()
        };
        if let Some(rest) = after(line, ". GPU ") {
            // Current form: "GPU 0 has a total capacity of X of which Y is free."
            f.gpu_index = leading_u32(rest);
            f.total = size_after(rest, "has a total capacity of ");
            f.free = size_after(rest, " of which ");
            f.allocated = size_after(line, "Of the allocated memory ");
            f.reserved_unallocated = size_after(line, "is allocated by PyTorch, and ");
        } else if let Some(rest) = after(line, "(GPU ") {
            // Before PyTorch 2.1: "(GPU 0; 7.93 GiB total capacity; 130.35 MiB already allocated; 47.06 MiB
            // free; 188.00 MiB reserved in total by PyTorch)".
            f.gpu_index = leading_u32(rest);
            let parts: Vec<&str> = rest.split(';').map(str::trim).collect();
            let field = |suffix: &str| {
                parts
                    .iter()
                    .find_map(|p| p.strip_suffix(suffix).and_then(parse_size))
            };
            f.total = field(" total capacity");
            f.allocated = field(" already allocated");
            f.free = field(" free");
            let reserved = parts.iter().find_map(|p| {
                p.split(" reserved in total by PyTorch")
                    .next()
                    .filter(|_| p.contains(" reserved in total by PyTorch"))
                    .and_then(parse_size)
            });
            f.reserved_unallocated = match (reserved, f.allocated) {
                (Some(r), Some(a)) => Some(r.saturating_sub(a)),
                _ => None,
            };
        }
        f
    }
}

fn after<'a>(text: &'a str, phrase: &str) -> Option<&'a str> {
    text.find(phrase).and_then(|i| text.get(i + phrase.len()..))
}

fn leading_u32(text: &str) -> Option<u32> {
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The size written right after `phrase`, e.g. "1.22 GiB".
fn size_after(text: &str, phrase: &str) -> Option<u64> {
    let rest = after(text, phrase)?;
    let mut words = rest.split_whitespace();
    let number = words.next()?;
    let unit = words.next()?.trim_end_matches(['.', ',', ';', ')']);
    parse_size(&format!("{number} {unit}"))
}

/// "N bytes", "N.NN KiB|MiB|GiB|TiB" (c10's `format_size`, binary units) to bytes, rounded to the nearest byte.
/// Decimal arithmetic on integers, so "1.22 GiB" is exactly 1.22 × 2^30 rounded.
pub fn parse_size(text: &str) -> Option<u64> {
    let mut words = text.split_whitespace();
    let number = words.next()?;
    let unit: u128 = match words.next()? {
        "bytes" | "byte" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        _ => return None,
    };
    if words.next().is_some() {
        return None;
    }
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) || fraction.len() > 12 {
        return None;
    }
    let whole: u128 = whole.parse().ok()?;
    let scale = 10u128.pow(u32::try_from(fraction.len()).ok()?);
    let fraction: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().ok()?
    };
    let bytes = whole.checked_mul(unit)? + (fraction * unit + scale / 2) / scale;
    u64::try_from(bytes).ok()
}
