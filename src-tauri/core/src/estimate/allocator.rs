//! A small model of PyTorch's CUDA caching allocator (docs/estimator.md §10.3): the rules that decide which
//! freed blocks stay reserved, for the synthetic schedule of `varlen.rs`. It follows
//! c10/cuda/CUDACachingAllocator.cpp with default settings (no expandable segments, no `max_split_size`, no
//! round-up divisions, one stream, no memory limit so nothing is ever released) — the same rules the trace
//! engine replays (python/headroom_trace/allocator.py):
//! - requests round up to 512 B (`kMinBlockSize`);
//! - up to 1 MiB (`kSmallSize`) they come from the small pool, whose segments are 2 MiB (`kSmallBuffer`);
//!   larger ones from the large pool, whose new segments are 20 MiB (`kLargeBuffer`) below 10 MiB
//!   (`kMinLargeAlloc`) and the request rounded up to 2 MiB (`kRoundLarge`) from there;
//! - a request takes the smallest cached block of its pool that holds it, the lowest address among equals
//!   (best fit, `get_free_block`);
//! - the block is split when what remains is at least 512 B (small pool) or more than 1 MiB (large pool)
//!   (`shouldSplit`);
//! - a freed block merges with free neighbours of its own segment (`try_merge_blocks`), never across segments.

use std::collections::BTreeSet;

pub(crate) const MIN_BLOCK: u64 = 512;
pub(crate) const SMALL_SIZE: u64 = 1 << 20;
pub(crate) const SMALL_BUFFER: u64 = 2 << 20;
pub(crate) const LARGE_BUFFER: u64 = 20 << 20;
pub(crate) const MIN_LARGE_ALLOC: u64 = 10 << 20;
pub(crate) const ROUND_LARGE: u64 = 2 << 20;

/// An allocation the caller holds, to free it later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Handle(usize);

#[derive(Debug, Clone)]
struct Block {
    size: u64,
    ptr: u64,
    small: bool,
    allocated: bool,
    prev: Option<usize>,
    next: Option<usize>,
}

/// The allocator's state: blocks in an arena (merged-away blocks stay as dead entries), and per pool the free
/// blocks ordered by (size, address), which is the order best fit searches.
#[derive(Debug, Default)]
pub(crate) struct CachingAllocator {
    blocks: Vec<Block>,
    /// Arena slots of blocks merged into a neighbour, for the next new block.
    dead: Vec<usize>,
    free_small: BTreeSet<(u64, u64, usize)>,
    free_large: BTreeSet<(u64, u64, usize)>,
    next_address: u64,
    pub allocated: u64,
    pub reserved: u64,
    pub peak_allocated: u64,
    pub peak_reserved: u64,
}

/// The size a request is served with (`round_size`).
pub(crate) fn round_size(size: u64) -> u64 {
    if size < MIN_BLOCK {
        MIN_BLOCK
    } else {
        size.div_ceil(MIN_BLOCK) * MIN_BLOCK
    }
}

/// The size of the segment `cudaMalloc` gets for a rounded request that no cached block holds
/// (`get_allocation_size`).
pub(crate) fn segment_size(rounded: u64) -> u64 {
    if rounded <= SMALL_SIZE {
        SMALL_BUFFER
    } else if rounded < MIN_LARGE_ALLOC {
        LARGE_BUFFER
    } else {
        rounded.div_ceil(ROUND_LARGE) * ROUND_LARGE
    }
}

impl CachingAllocator {
    fn pool(&mut self, small: bool) -> &mut BTreeSet<(u64, u64, usize)> {
        if small {
            &mut self.free_small
        } else {
            &mut self.free_large
        }
    }

    fn push(&mut self, block: Block) -> usize {
        match self.dead.pop() {
            Some(i) => {
                self.blocks[i] = block;
                i
            }
            None => {
                self.blocks.push(block);
                self.blocks.len() - 1
            }
        }
    }

    fn insert_free(&mut self, i: usize) {
        let b = &self.blocks[i];
        let key = (b.size, b.ptr, i);
        let small = b.small;
        self.pool(small).insert(key);
    }

    fn remove_free(&mut self, i: usize) {
        let b = &self.blocks[i];
        let key = (b.size, b.ptr, i);
        let small = b.small;
        self.pool(small).remove(&key);
    }

    pub fn malloc(&mut self, size: u64) -> Handle {
        let size = round_size(size);
        let small = size <= SMALL_SIZE;
        // Best fit: the first free block of the pool at least this large, by (size, address).
        let found = self.pool(small).range((size, 0, 0)..).next().copied();
        let i = match found {
            Some(key) => {
                self.pool(small).remove(&key);
                key.2
            }
            None => {
                let alloc = segment_size(size);
                let ptr = self.next_address;
                self.next_address += alloc.div_ceil(ROUND_LARGE) * ROUND_LARGE;
                self.reserved += alloc;
                self.peak_reserved = self.peak_reserved.max(self.reserved);
                self.push(Block {
                    size: alloc,
                    ptr,
                    small,
                    allocated: false,
                    prev: None,
                    next: None,
                })
            }
        };
        let remaining = self.blocks[i].size - size;
        let split = if small {
            remaining >= MIN_BLOCK
        } else {
            remaining > SMALL_SIZE
        };
        let i = if split {
            // The request takes the front; the rest stays free behind it in the same segment.
            let (ptr, prev) = (self.blocks[i].ptr, self.blocks[i].prev);
            let n = self.push(Block {
                size,
                ptr,
                small,
                allocated: false,
                prev,
                next: Some(i),
            });
            if let Some(p) = prev {
                self.blocks[p].next = Some(n);
            }
            let rest = &mut self.blocks[i];
            rest.prev = Some(n);
            rest.ptr += size;
            rest.size -= size;
            self.insert_free(i);
            n
        } else {
            i
        };
        self.blocks[i].allocated = true;
        self.allocated += self.blocks[i].size;
        self.peak_allocated = self.peak_allocated.max(self.allocated);
        Handle(i)
    }

    pub fn free(&mut self, handle: Handle) {
        let i = handle.0;
        if !self.blocks[i].allocated {
            return;
        }
        self.blocks[i].allocated = false;
        self.allocated -= self.blocks[i].size;
        if let Some(p) = self.blocks[i].prev.filter(|&p| !self.blocks[p].allocated) {
            self.remove_free(p);
            let (ptr, size, prev) = (self.blocks[p].ptr, self.blocks[p].size, self.blocks[p].prev);
            let b = &mut self.blocks[i];
            b.ptr = ptr;
            b.size += size;
            b.prev = prev;
            if let Some(pp) = prev {
                self.blocks[pp].next = Some(i);
            }
            self.dead.push(p);
        }
        if let Some(n) = self.blocks[i].next.filter(|&n| !self.blocks[n].allocated) {
            self.remove_free(n);
            let (size, next) = (self.blocks[n].size, self.blocks[n].next);
            let b = &mut self.blocks[i];
            b.size += size;
            b.next = next;
            if let Some(nn) = next {
                self.blocks[nn].prev = Some(i);
            }
            self.dead.push(n);
        }
        self.insert_free(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn requests_round_to_512_bytes_and_segments_by_pool() {
        assert_eq!(round_size(1), 512);
        assert_eq!(round_size(512), 512);
        assert_eq!(round_size(513), 1024);
        // Small pool: 2 MiB segments up to 1 MiB; large pool: 20 MiB below 10 MiB, else rounded to 2 MiB.
        assert_eq!(segment_size(SMALL_SIZE), SMALL_BUFFER);
        assert_eq!(segment_size(SMALL_SIZE + 512), LARGE_BUFFER);
        assert_eq!(segment_size(MIN_LARGE_ALLOC - 512), LARGE_BUFFER);
        assert_eq!(segment_size(MIN_LARGE_ALLOC), MIN_LARGE_ALLOC);
        assert_eq!(segment_size(11 * MIB + 512), 12 * MIB);
        let mut a = CachingAllocator::default();
        a.malloc(100);
        assert_eq!((a.allocated, a.reserved), (512, SMALL_BUFFER));
        a.malloc(3 * MIB);
        assert_eq!(a.reserved, SMALL_BUFFER + LARGE_BUFFER);
        a.malloc(30 * MIB + 1);
        assert_eq!(a.reserved, SMALL_BUFFER + LARGE_BUFFER + 32 * MIB);
    }

    #[test]
    fn the_pools_do_not_share_blocks() {
        let mut a = CachingAllocator::default();
        // Two 1 MiB requests fill one small-pool segment.
        a.malloc(SMALL_SIZE);
        a.malloc(SMALL_SIZE);
        let large = a.malloc(SMALL_SIZE + 512);
        assert_eq!(a.reserved, SMALL_BUFFER + LARGE_BUFFER);
        a.free(large);
        // The free 20 MiB block is the large pool's: a small request gets a new 2 MiB segment instead.
        a.malloc(512);
        assert_eq!(a.reserved, 2 * SMALL_BUFFER + LARGE_BUFFER);
    }

    #[test]
    fn best_fit_takes_the_smallest_block_that_holds_the_request() {
        let mut a = CachingAllocator::default();
        let big = a.malloc(64 * MIB);
        let keep = a.malloc(40 * MIB);
        let fit = a.malloc(32 * MIB);
        a.free(big);
        a.free(fit);
        let reserved = a.reserved;
        // 30 MiB fits both free blocks (64 and 32 MiB): best fit takes the 32 MiB one, which leaves the 64 MiB
        // block whole for the next request.
        let h = a.malloc(30 * MIB);
        let whole = a.malloc(64 * MIB);
        assert_eq!(a.reserved, reserved, "both came from cached blocks");
        a.free(h);
        a.free(whole);
        a.free(keep);
        assert_eq!(a.allocated, 0);
    }

    #[test]
    fn the_large_pool_splits_only_when_more_than_1_mib_remains() {
        let mut a = CachingAllocator::default();
        let h = a.malloc(12 * MIB);
        a.free(h);
        // 11.5 MiB from the 12 MiB block: 0.5 MiB would remain, so the whole block is handed out.
        let h = a.malloc(11 * MIB + MIB / 2);
        assert_eq!(a.allocated, 12 * MIB);
        a.free(h);
        // 10 MiB: 2 MiB remain, so the block splits and the rest serves a 1.5 MiB request.
        a.malloc(10 * MIB);
        assert_eq!(a.allocated, 10 * MIB);
        a.malloc(MIB + MIB / 2);
        assert_eq!(a.reserved, 12 * MIB, "the split-off rest served it");
        // The small pool splits down to 512 bytes.
        let mut a = CachingAllocator::default();
        a.malloc(SMALL_SIZE);
        a.malloc(SMALL_SIZE - 512);
        a.malloc(512);
        assert_eq!(a.reserved, SMALL_BUFFER);
    }

    #[test]
    fn freed_neighbours_coalesce_within_a_segment_only() {
        let mut a = CachingAllocator::default();
        // One 20 MiB segment split into four 5 MiB blocks.
        let parts: Vec<Handle> = (0..4).map(|_| a.malloc(5 * MIB)).collect();
        assert_eq!(a.reserved, LARGE_BUFFER);
        for h in parts {
            a.free(h);
        }
        // The four merged back into one 20 MiB block, which now holds a request of 19 MiB.
        a.malloc(19 * MIB);
        assert_eq!(a.reserved, LARGE_BUFFER);
        // Two 12 MiB segments side by side never merge into a 24 MiB block.
        let mut a = CachingAllocator::default();
        let x = a.malloc(12 * MIB);
        let y = a.malloc(12 * MIB);
        a.free(x);
        a.free(y);
        a.malloc(20 * MIB);
        assert_eq!(a.reserved, 44 * MIB);
    }

    #[test]
    fn a_shorter_steps_segments_stay_reserved_beside_a_longer_ones() {
        // Two steps of one 40 MiB and one 60 MiB tensor each, then the same at twice the size.
        let step = |a: &mut CachingAllocator, scale: u64| {
            let x = a.malloc(40 * MIB * scale);
            let y = a.malloc(60 * MIB * scale);
            a.free(x);
            a.free(y);
        };
        let mut fixed = CachingAllocator::default();
        step(&mut fixed, 2);
        step(&mut fixed, 2);
        assert_eq!(fixed.peak_reserved, 200 * MIB);
        let mut varying = CachingAllocator::default();
        step(&mut varying, 1);
        step(&mut varying, 2);
        // The longer step's 80 and 120 MiB tensors fit neither of the shorter step's blocks: both get new
        // segments, and the shorter step's 100 MiB stays reserved beside them.
        assert_eq!(varying.peak_reserved, 300 * MIB);
        // The other way round the longer step's blocks hold the shorter step's tensors.
        let mut shrinking = CachingAllocator::default();
        step(&mut shrinking, 2);
        step(&mut shrinking, 1);
        assert_eq!(shrinking.peak_reserved, 200 * MIB);
    }
}
