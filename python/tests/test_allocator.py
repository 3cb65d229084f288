"""Tests of the caching-allocator model on crafted streams.

Every expected number is worked out by hand from the rules of
c10/cuda/CUDACachingAllocator.cpp; the comment above each assertion says how.
M is one MiB.
"""

import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest

PYTHON_DIR = Path(__file__).resolve().parents[1]
# The package is not installed: the app runs it from PYTHONPATH, so do the same.
if str(PYTHON_DIR) not in sys.path:
    sys.path.insert(0, str(PYTHON_DIR))

from headroom_trace.allocator import (  # noqa: E402
    CachingAllocator,
    AllocatorError,
    ConfigError,
    OutOfMemoryError,
    SnapshotError,
    compare_snapshot,
    parse_conf,
    read_snapshot,
    replay,
)

M = 1 << 20


def blocks_of(a):
    """[(segment size, [(block size, allocated), ...])] in address order."""
    return [(size, [(b[1], b[2]) for b in blocks]) for _, size, blocks in a.segments()]


# ----------------------------------------------------------------- rounding and pools


def test_small_allocations_share_one_2mib_segment():
    a = CachingAllocator()
    hs = [a.malloc(1000) for _ in range(3)]
    # 1000 B rounds up to 1024 (multiple of 512); the first request cudaMallocs a
    # 2 MiB small segment and splits it (rest >= 512); the next two reuse the rest.
    assert a.allocated == 3 * 1024
    assert a.reserved == 2 * M
    assert blocks_of(a) == [(2 * M, [(1024, True), (1024, True), (1024, True), (2 * M - 3072, False)])]
    for h in hs:
        a.free(h)
    # Freed neighbours merge back into one free 2 MiB block.
    assert blocks_of(a) == [(2 * M, [(2 * M, False)])]
    assert a.allocated == 0 and a.reserved == 2 * M and a.peak_allocated == 3072


def test_tiny_request_rounds_to_512_and_1mib_is_still_small():
    a = CachingAllocator()
    a.malloc(1)
    assert a.allocated == 512  # kMinBlockSize
    a2 = CachingAllocator()
    for _ in range(2):
        a2.malloc(M)  # exactly kSmallSize: small pool; two fill one 2 MiB segment (second: rest 0, no split)
    assert a2.reserved == 2 * M
    a2.malloc(M)  # no free small block left: a second 2 MiB segment
    assert a2.reserved == 4 * M and a2.allocated == 3 * M


def test_5mib_request_gets_20mib_segment_and_next_one_reuses_it():
    a = CachingAllocator()
    a.malloc(5 * M)
    # 1 MiB < 5 MiB < 10 MiB: a 20 MiB segment, split because the rest (15 MiB) > 1 MiB.
    assert (a.allocated, a.reserved) == (5 * M, 20 * M)
    a.malloc(5 * M)
    # Best fit: the 15 MiB remainder serves it, split again (10 MiB left).
    assert (a.allocated, a.reserved) == (10 * M, 20 * M)
    a.malloc(5 * M)
    a.malloc(5 * M)  # takes the last 5 MiB exactly: rest 0, not split
    assert (a.allocated, a.reserved) == (20 * M, 20 * M)
    a.malloc(5 * M)  # nothing free: a second 20 MiB segment
    assert (a.allocated, a.reserved) == (25 * M, 40 * M)
    assert a.stats["segment_alloc"] == 2


def test_30mib_request_rounds_to_2mib_and_splits_only_above_1mib():
    a = CachingAllocator()
    a.malloc(30 * M)
    # >= 10 MiB: the segment is the request rounded up to 2 MiB, 30 MiB, no rest.
    assert (a.allocated, a.reserved) == (30 * M, 30 * M)

    b = CachingAllocator()
    b.malloc(29 * M)
    # 29 MiB -> 30 MiB segment; the rest is exactly 1 MiB, not > 1 MiB: no split,
    # so the whole 30 MiB block counts as allocated (allocated_bytes uses block size).
    assert (b.allocated, b.reserved) == (30 * M, 30 * M)
    assert blocks_of(b) == [(30 * M, [(30 * M, True)])]

    c = CachingAllocator()
    c.malloc(28 * M + M // 2)
    # 28.5 MiB -> 30 MiB segment; rest 1.5 MiB > 1 MiB: split.
    assert (c.allocated, c.reserved) == (28 * M + M // 2, 30 * M)
    assert blocks_of(c) == [(30 * M, [(28 * M + M // 2, True), (M + M // 2, False)])]
    c.malloc(M + M // 2)  # a 1.5 MiB (large pool) request reuses that remainder
    assert (c.allocated, c.reserved) == (30 * M, 30 * M)


def test_pools_never_lend_to_each_other():
    a = CachingAllocator()
    a.free(a.malloc(5 * M))  # a free 20 MiB block in the large pool
    a.malloc(1000)
    # A small request never takes a large-pool block: a new 2 MiB small segment.
    assert a.reserved == 22 * M
    b = CachingAllocator()
    b.free(b.malloc(1000))  # a free 2 MiB small-pool block
    b.malloc(M + 512)  # > 1 MiB: large pool, a 20 MiB segment although 2 MiB would hold it
    assert b.reserved == 22 * M


def test_roundup_power2_divisions():
    a = CachingAllocator(roundup_power2_divisions=4)
    h = a.malloc(5 * M + 1)
    # 5 MiB + 1 lies in [4, 8) MiB; 4 divisions of 1 MiB: rounds up to 6 MiB.
    assert a.allocated == 6 * M
    a.free(h)
    a.malloc(1200)
    # 1200 is not > 512 * 4 = 2048, so plain 512 rounding applies: 1536.
    assert a.allocated == 1536

    # "[256:1,512:2,>:4]": intervals below and at 256 MiB get 1 (no power-2 rounding),
    # [512 MiB, 1 GiB) gets 2, everything above gets 4.
    b = CachingAllocator.from_conf("roundup_power2_divisions:[256:1,512:2,>:4]")
    assert b.round_size(300 * M + 1) == 300 * M + 512  # divisions 1: 512 rounding
    assert b.round_size(600 * M) == 768 * M  # 2 divisions of 512 MiB steps of 256 MiB
    assert b.round_size(1536 * M + 1) == 1792 * M  # 4 divisions of [1, 2) GiB: 256 MiB steps
    assert b.round_size(1024 * M) == 1024 * M  # a power of two stays


# ----------------------------------------------------------------- merging and fragmentation


def test_freeing_neighbours_merges_them():
    a = CachingAllocator()
    x, y, z = (a.malloc(5 * M) for _ in range(3))  # one 20 MiB segment: x y z + 5 MiB free tail
    a.free(x)
    a.free(z)
    # z merged with the free tail (10 MiB); x alone (its neighbour y is live).
    assert blocks_of(a) == [(20 * M, [(5 * M, False), (5 * M, True), (10 * M, False)])]
    w = a.malloc(10 * M)  # fits the merged 10 MiB block exactly: no new segment
    assert a.reserved == 20 * M
    a.free(w)
    a.free(y)
    # y merges with both neighbours: the segment is one free 20 MiB block again.
    assert blocks_of(a) == [(20 * M, [(20 * M, False)])]
    a.empty_cache()
    assert a.reserved == 0


def test_holes_force_a_new_segment_although_enough_bytes_are_free():
    a = CachingAllocator()
    hs = [a.malloc(5 * M) for _ in range(4)]  # fills one 20 MiB segment
    a.free(hs[0])
    a.free(hs[2])
    # 10 MiB free in total, but as two separate 5 MiB holes.
    a.malloc(6 * M)
    # No free block >= 6 MiB: a new 20 MiB segment (6 < 10 MiB).
    # allocated = 5 + 5 (live) + 6 = 16 MiB; reserved = 20 + 20 = 40 MiB.
    assert (a.allocated, a.reserved) == (16 * M, 40 * M)
    # Expandable segments do not help here: the holes are still too small and the
    # tail page is full, so one more 20 MiB page is mapped: the same 40 MiB.
    e = CachingAllocator(expandable_segments=True)
    hs = [e.malloc(5 * M) for _ in range(4)]
    e.free(hs[0])
    e.free(hs[2])
    e.malloc(6 * M)
    assert (e.allocated, e.reserved) == (16 * M, 40 * M)


def growing_steps(a):
    """One 12, 14 then 16 MiB temporary per step: each freed before the next step."""
    peaks = []
    for size in (12 * M, 14 * M, 16 * M):
        a.free(a.malloc(size))
        peaks.append(a.reserved)
    return peaks


def test_growing_requests_fragment_and_expandable_segments_fix_it():
    a = CachingAllocator()
    # Each request is >= 10 MiB and larger than every cached block, so each gets its
    # own segment (12, 14, 16 MiB); cached free bytes (26 MiB before the last step)
    # exceed the 16 MiB request but sit in separate segments that cannot merge.
    assert growing_steps(a) == [12 * M, 26 * M, 42 * M]
    assert a.peak_reserved == 42 * M and a.peak_allocated == 16 * M

    e = CachingAllocator(expandable_segments=True)
    # One segment, one 20 MiB page mapped by the first request; after each free the
    # page is one free tail block that serves the next (14 and 16 MiB) request.
    assert growing_steps(e) == [20 * M, 20 * M, 20 * M]
    assert e.peak_reserved == 20 * M and e.stats["segment_map"] == 1


def test_variable_length_steps_grow_reserved_beyond_the_largest_step():
    # Per step, four activations of seq_len x 4096 x 2 bytes, all live until the
    # step ends: 4, 8, 16, 12, 6 MiB each for lengths 512, 1024, 2048, 1536, 768.
    events = []
    ident = 0
    for seq in (512, 1024, 2048, 1536, 768):
        ids = []
        for _ in range(4):
            events.append(("alloc", ident, seq * 4096 * 2))
            ids.append(ident)
            ident += 1
        events.extend(("free", i, 0) for i in ids)
    res = replay(events, record=True)
    step_reserved = [res.timeline[i * 8 + 3][1] for i in range(5)]
    # step 1 (4 x 4 MiB): one 20 MiB segment split four times            -> 20
    # step 2 (4 x 8 MiB): 8+8 from the 20 MiB (rest 4); a second 20 MiB  -> 40
    # step 3 (4 x 16 MiB): 16 from each 20 MiB block (rest 4 each), two
    #   new 16 MiB segments for the others                               -> 72
    # step 4 (4 x 12 MiB): from the 16, 16, 20, 20 MiB blocks            -> 72
    # step 5 (4 x 6 MiB): 6+6 from each 16 MiB block                     -> 72
    assert step_reserved == [20 * M, 40 * M, 72 * M, 72 * M, 72 * M]
    assert res.peak_reserved == 72 * M
    assert res.peak_allocated == 64 * M  # the largest step: 4 x 16 MiB
    assert res.peak_reserved > res.peak_allocated


def test_expandable_best_fit_prefers_a_hole_over_the_growable_tail():
    e = CachingAllocator(expandable_segments=True)
    x = e.malloc(12 * M)  # maps a 20 MiB page: x + 8 MiB free tail
    e.malloc(8 * M)  # takes the tail exactly: the page is full
    e.malloc(10 * M)  # maps a second page: 10 MiB + 10 MiB free tail
    e.free(x)  # a 12 MiB hole at the segment start
    base = e.segments()[0][0]
    h = e.malloc(9 * M)
    # lower_bound finds the 10 MiB tail first, but its expandable size (10 MiB +
    # the unmapped rest) is larger than the 12 MiB hole's, so the hole is used.
    ptr = e._live[h].ptr
    assert ptr == base
    assert e.reserved == 40 * M


def test_expandable_small_pool_maps_2mib_pages_into_one_segment():
    e = CachingAllocator(expandable_segments=True)
    for _ in range(3):
        e.malloc(M)
    # First request maps one 2 MiB page (1 MiB used, 1 MiB free); the second takes
    # the rest; the third maps the next 2 MiB page of the same segment.
    assert e.reserved == 4 * M
    assert blocks_of(e) == [(4 * M, [(M, True), (M, True), (M, True), (M, False)])]


# ----------------------------------------------------------------- empty_cache, max_split_size


def test_empty_cache_releases_only_fully_free_segments():
    a = CachingAllocator()
    a.malloc(5 * M)  # 20 MiB segment, stays partly used
    a.free(a.malloc(30 * M))  # 30 MiB segment, fully free
    s = [a.malloc(M) for _ in range(3)]  # two 2 MiB small segments
    a.free(s[2])  # the second small segment is fully free
    assert a.reserved == 20 * M + 30 * M + 4 * M
    a.empty_cache()
    # The 30 MiB and the second 2 MiB segment go; the split ones stay.
    assert a.reserved == 22 * M
    assert a.stats["segment_free"] == 2


def test_empty_cache_with_expandable_segments_unmaps_only_whole_free_pages():
    e = CachingAllocator(expandable_segments=True)
    x = e.malloc(30 * M)  # maps two 20 MiB pages: x (30) + 10 MiB free
    e.malloc(5 * M)  # from the free 10 MiB: 5 used, 5 free at [35, 40)
    e.free(x)  # [0, 30) free
    e.empty_cache()
    # [0, 30) holds one whole free page, [0, 20): unmapped. [20, 30) stays mapped
    # (its page holds the live block); [35, 40) is part of that page too.
    assert (e.allocated, e.reserved) == (5 * M, 20 * M)
    assert blocks_of(e) == [(20 * M, [(10 * M, False), (5 * M, True), (5 * M, False)])]


def test_max_split_size_stops_splitting_and_limits_oversize_reuse():
    a = CachingAllocator.from_conf("max_split_size_mb:100")
    a.free(a.malloc(200 * M))  # a free, unsplit 200 MiB block (oversize: >= 100 MiB)
    a.malloc(50 * M)
    # A request below max_split_size never takes an oversize block: a new 50 MiB segment.
    assert a.reserved == 250 * M
    a.malloc(150 * M)
    # 200 MiB >= 150 + 20 (max_non_split_rounding): too wasteful, a new 150 MiB segment.
    assert a.reserved == 400 * M
    a.malloc(190 * M)
    # 200 < 190 + 20: reused whole, not split (request >= max_split_size).
    assert (a.allocated, a.reserved) == (400 * M, 400 * M)

    b = CachingAllocator()  # the same stream without max_split_size
    b.free(b.malloc(200 * M))
    b.malloc(50 * M)  # splits the 200 MiB block: 50 + 150 free
    b.malloc(150 * M)  # the 150 MiB remainder exactly
    b.malloc(190 * M)  # nothing free: a 190 MiB segment
    assert (b.allocated, b.reserved) == (390 * M, 390 * M)


# ----------------------------------------------------------------- capacity and OOM


def test_capacity_releases_cached_segments_then_raises_oom():
    a = CachingAllocator(capacity=30 * M)
    a.free(a.malloc(5 * M))  # a cached, fully free 20 MiB segment
    a.malloc(24 * M)
    # No cached block >= 24 MiB; 20 + 24 > 30, so the free segment is released
    # (release_cached_blocks) and the retry fits: reserved 24 MiB.
    assert (a.allocated, a.reserved) == (24 * M, 24 * M)
    assert a.stats["segment_free"] == 1 and a.stats["alloc_retries"] == 1
    with pytest.raises(OutOfMemoryError) as err:
        a.malloc(10 * M)  # 24 + 10 > 30 and nothing is cached
    e = err.value
    assert (e.requested_bytes, e.segment_bytes) == (10 * M, 10 * M)
    assert (e.allocated_bytes, e.reserved_bytes, e.capacity_bytes) == (24 * M, 24 * M, 30 * M)
    assert "out of memory" in str(e)
    assert (a.allocated, a.reserved) == (24 * M, 24 * M)  # unchanged by the failure


def test_oom_keeps_split_segments_and_reports_unallocated_reserve():
    a = CachingAllocator(capacity=30 * M)
    a.malloc(5 * M)  # 20 MiB segment: 5 live, 15 free but split (not releasable)
    with pytest.raises(OutOfMemoryError) as err:
        a.malloc(16 * M)  # 15 < 16; 20 + 16 > 30; nothing unsplit to release
    assert (err.value.allocated_bytes, err.value.reserved_bytes) == (5 * M, 20 * M)
    assert a.stats["ooms"] == 1


def test_capacity_with_expandable_segments_unmaps_free_pages_before_oom():
    e = CachingAllocator(expandable_segments=True, capacity=40 * M)
    x = e.malloc(20 * M)  # one 20 MiB page
    e.malloc(20 * M)  # a second page
    e.free(x)  # page 0 free
    e.malloc(M)  # small pool: a 2 MiB page of its own segment; reserved 42 > 40?
    # 40 + 2 > 40: release_cached_blocks unmaps the free 20 MiB page, then the
    # 2 MiB page fits: reserved 20 + 2.
    assert (e.allocated, e.reserved) == (21 * M, 22 * M)


def test_garbage_collection_frees_old_cached_blocks_before_the_fraction_limit():
    # With a memory fraction set, garbage_collection_threshold 0.5 of 100 MiB = 50:
    # when a new segment is needed and reserved exceeds 50 MiB, unsplit cached
    # large blocks at least as old as the average go first.
    a = CachingAllocator(capacity=100 * M, memory_fraction=1.0, garbage_collection_threshold=0.5)
    a.free(a.malloc(30 * M))  # cached 30 MiB
    a.free(a.malloc(32 * M))  # 30 < 32: a new 32 MiB segment, cached too: reserved 62
    assert a.reserved == 62 * M
    a.malloc(34 * M)
    # 62 > 50: target 12 MiB. Ages (get_free_block calls since cached): 30 MiB block
    # 2, 32 MiB block 1; average 1.5, so only the 30 MiB block goes, reclaiming 30.
    # Then the 34 MiB segment: reserved 32 + 34.
    assert a.reserved == 66 * M
    assert a.stats["segment_free"] == 1


def test_oversize_blocks_are_released_largest_first_just_enough_for_the_request():
    a = CachingAllocator(max_split_size=100 * M, capacity=500 * M)
    a.free(a.malloc(200 * M))  # cached oversize 200 MiB
    a.free(a.malloc(150 * M))  # 200 >= 150 + 20: a new 150 MiB segment, cached too
    assert a.reserved == 350 * M
    a.malloc(300 * M)
    # No cached block >= 300; 350 + 300 > 500. release_available_cached_blocks walks
    # down from the largest oversize block: 200 (not enough), then 150 (350 >= 300).
    # The retry fits without the full release_cached_blocks (no alloc retry counted).
    assert a.reserved == 300 * M
    assert a.stats["segment_free"] == 2 and a.stats["alloc_retries"] == 0


def test_one_large_enough_oversize_block_is_released_alone():
    a = CachingAllocator(max_split_size=100 * M, capacity=700 * M)
    x, y = a.malloc(200 * M), a.malloc(400 * M)
    a.free(x)
    a.free(y)
    a.malloc(300 * M)
    # 400 >= 300 + 20: not reused. 600 + 300 > 700: release_available_cached_blocks
    # finds the 400 MiB block (the first >= 300) and frees only it; 200 + 300 fits.
    assert a.reserved == 500 * M
    assert a.stats["segment_free"] == 1


def test_garbage_collection_needs_a_memory_fraction():
    # As in torch, garbage_collection_threshold acts only with a memory fraction set.
    a = CachingAllocator(capacity=100 * M, garbage_collection_threshold=0.5)
    a.free(a.malloc(30 * M))
    a.free(a.malloc(32 * M))
    a.malloc(34 * M)
    assert a.reserved == 96 * M and a.stats["segment_free"] == 0


def test_memory_fraction_caps_reserved():
    a = CachingAllocator(capacity=100 * M, memory_fraction=0.25)
    a.malloc(20 * M)
    with pytest.raises(OutOfMemoryError) as err:
        a.malloc(6 * M)  # 20 + 20 MiB segment > 25 MiB allowed
    assert err.value.capacity_bytes == 25 * M


def check_invariants(a):
    """Structural invariants of the block lists, checked against the counters."""
    segs = a.segments()
    assert sum(size for _, size, _ in segs) == a.reserved
    assert sum(b[1] for _, _, blocks in segs for b in blocks if b[2]) == a.allocated
    for addr, size, blocks in segs:
        assert blocks[0][0] == addr
        for (p_addr, p_size, p_alloc), (n_addr, _, n_alloc) in zip(blocks, blocks[1:]):
            assert p_addr + p_size == n_addr  # contiguous
            assert p_alloc or n_alloc  # two free neighbours would have merged
    free_in_segments = sorted((b[0], b[1]) for _, _, blocks in segs for b in blocks if not b[2])
    free_in_pools = sorted(
        (b.ptr, b.size) for pool in (a._small, a._large) for b in pool.by_key.values()
    )
    assert free_in_segments == free_in_pools
    for pool in (a._small, a._large):
        assert pool.keys == sorted(pool.by_key) and len(pool.keys) == len(pool.by_key)


@pytest.mark.parametrize("kw", [{}, {"expandable_segments": True}, {"max_split_size": 64 * M},
                                {"roundup_power2_divisions": 4}, {"capacity": 400 * M}])
def test_random_streams_keep_the_books_straight(kw):
    import random

    rng = random.Random(1234)
    a = CachingAllocator(**kw)
    live = []
    for step in range(4000):
        r = rng.random()
        if live and r < 0.45:
            a.free(live.pop(rng.randrange(len(live))))
        elif r < 0.47:
            a.empty_cache()
        else:
            size = rng.choice([rng.randrange(1, 4096), rng.randrange(1, 2 * M), rng.randrange(M, 12 * M),
                               rng.randrange(10 * M, 90 * M)])
            try:
                live.append(a.malloc(size))
            except OutOfMemoryError:
                assert "capacity" in kw
        if step % 50 == 0:
            check_invariants(a)
        assert a.peak_reserved >= a.reserved >= a.allocated >= 0
        if "capacity" in kw:
            assert a.reserved <= kw["capacity"]
    for h in live:
        a.free(h)
    check_invariants(a)
    a.empty_cache()
    # Everything free: every segment (and every page) goes back.
    assert (a.allocated, a.reserved, a.segments()) == (0, 0, [])


# ----------------------------------------------------------------- API and config errors


def test_handles_and_bad_input():
    a = CachingAllocator()
    h = a.malloc(0)  # torch never calls the allocator for empty tensors
    assert (a.allocated, a.reserved) == (0, 0)
    a.free(h)
    h = a.malloc(100)
    a.free(h)
    with pytest.raises(AllocatorError, match="already freed"):
        a.free(h)
    with pytest.raises(AllocatorError, match="size"):
        a.malloc(-1)
    with pytest.raises(AllocatorError, match="size"):
        a.malloc(1.5)


def test_conf_parsing():
    assert parse_conf("expandable_segments:True,max_split_size_mb:128") == {
        "expandable_segments": True,
        "max_split_size": 128 * M,
    }
    assert parse_conf("garbage_collection_threshold:0.6, roundup_power2_divisions:4") == {
        "garbage_collection_threshold": 0.6,
        "roundup_power2_divisions": 4,
    }
    assert parse_conf("") == {}
    a = CachingAllocator.from_conf("expandable_segments:True", capacity=80 << 30)
    assert a.expandable_segments and a.capacity == 80 << 30
    with pytest.raises(ConfigError, match="max_split_size_mb"):
        parse_conf("max_split_size_mb:10")
    with pytest.raises(ConfigError, match="'nonsense'"):
        parse_conf("nonsense:1")
    with pytest.raises(ConfigError, match="expandable_segments"):
        parse_conf("expandable_segments:maybe")
    with pytest.raises(ConfigError, match="roundup_power2_divisions"):
        CachingAllocator.from_conf("roundup_power2_divisions:3")
    with pytest.raises(ConfigError, match="interval 3"):
        CachingAllocator.from_conf("roundup_power2_divisions:[3:2]")
    with pytest.raises(ConfigError, match="garbage_collection_threshold"):
        CachingAllocator(garbage_collection_threshold=1.5)
    with pytest.raises(ConfigError, match="memory_fraction"):
        CachingAllocator(memory_fraction=0.5)  # no capacity
    with pytest.raises(ConfigError, match="capacity"):
        CachingAllocator(capacity=-1)


def test_replay_errors_name_the_event():
    with pytest.raises(AllocatorError, match="event 1"):
        replay([("alloc", 1, 10), ("free", 2, 0)])
    with pytest.raises(AllocatorError, match="event 0: unknown action"):
        replay([("malloc", 1, 10)])


def test_replay_oom_names_the_event():
    with pytest.raises(OutOfMemoryError) as err:
        replay([("alloc", 1, 5 * M), ("alloc", 2, 30 * M)], capacity=40 * M)
    # 20 MiB segment (split, not releasable) + 30 MiB > 40 MiB at event 1.
    assert err.value.event == 1 and err.value.reserved_bytes == 20 * M


def test_replay_matches_the_allocator_api():
    events = [("alloc", "a", 5 * M), ("alloc", "b", 1000), ("free", "a", 0), ("empty_cache", 0, 0)]
    res = replay(events, record=True)
    # 20 MiB + 2 MiB segments; after freeing a and empty_cache only the 2 MiB stays.
    assert res.timeline == [(5 * M, 20 * M), (5 * M + 1024, 22 * M), (1024, 22 * M), (1024, 2 * M)]
    assert (res.peak_allocated, res.peak_reserved) == (5 * M + 1024, 22 * M)
    assert replay(events, expandable_segments=True).peak_reserved == 22 * M


# ----------------------------------------------------------------- snapshots


def crafted_snapshot():
    """A trace as torch records it for: x = 5 MiB, y = 5 MiB, del x, z = 30 MiB, del y, del z,
    empty_cache(), w = 1000 B (the same addresses a real run would show, written by hand)."""
    s1, s2, s3 = 0x7F0000000000, 0x7F0002000000, 0x7F0004000000
    t = [
        {"action": "segment_alloc", "addr": s1, "size": 20 * M, "stream": 0},
        {"action": "alloc", "addr": s1, "size": 5 * M, "stream": 0},
        {"action": "alloc", "addr": s1 + 5 * M, "size": 5 * M, "stream": 0},
        {"action": "free_requested", "addr": s1, "size": 5 * M, "stream": 0},
        {"action": "free_completed", "addr": s1, "size": 5 * M, "stream": 0},
        {"action": "segment_alloc", "addr": s2, "size": 30 * M, "stream": 0},
        {"action": "alloc", "addr": s2, "size": 30 * M, "stream": 0},
        {"action": "free_requested", "addr": s1 + 5 * M, "size": 5 * M, "stream": 0},
        {"action": "free_completed", "addr": s1 + 5 * M, "size": 5 * M, "stream": 0},
        {"action": "free_requested", "addr": s2, "size": 30 * M, "stream": 0},
        {"action": "free_completed", "addr": s2, "size": 30 * M, "stream": 0},
        {"action": "segment_free", "addr": s1, "size": 20 * M, "stream": 0},
        {"action": "segment_free", "addr": s2, "size": 30 * M, "stream": 0},
        {"action": "segment_alloc", "addr": s3, "size": 2 * M, "stream": 0},
        {"action": "alloc", "addr": s3, "size": 1000, "stream": 0},
        {"action": "snapshot", "addr": 0, "size": 1024, "stream": 0},
    ]
    seg = {
        "device": 0,
        "address": s3,
        "total_size": 2 * M,
        "stream": 0,
        "segment_type": "small",
        "allocated_size": 1024,
        "active_size": 1024,
        "blocks": [
            {"size": 1024, "requested_size": 1000, "address": s3, "state": "active_allocated"},
            {"size": 2 * M - 1024, "requested_size": 0, "address": s3 + 1024, "state": "inactive"},
        ],
    }
    settings = {
        "PYTORCH_CUDA_ALLOC_CONF": "",
        "max_split_size": -1,
        "garbage_collection_threshold": 0.0,
        "expandable_segments": False,
        "roundup_power2_divisions": {str(1 << i): 0 for i in range(16)},
    }
    return {"segments": [seg], "device_traces": [t], "allocator_settings": settings}


def test_read_snapshot_turns_the_trace_into_events():
    tr = read_snapshot(crafted_snapshot())
    assert tr.events == [
        ("alloc", 0, 5 * M, 0),
        ("alloc", 1, 5 * M, 0),
        ("free", 0, 0),
        ("alloc", 2, 30 * M, 0),
        ("free", 1, 0),
        ("free", 2, 0),
        ("empty_cache", 0, 0),
        ("alloc", 3, 1000, 0),
    ]
    # Recorded reserved: 20, 50 (peak), 0 after the two segment_free, then 2 MiB;
    # the run of two segment_free becomes one empty_cache event.
    assert (tr.peak_reserved, tr.final_reserved, tr.initial_reserved) == (50 * M, 2 * M, 0)
    assert (tr.segment_alloc, tr.segment_alloc_bytes) == (3, 52 * M)
    assert tr.peak_requested == 35 * M  # y (5) + z (30)
    assert tr.settings == {}


def test_compare_snapshot_matches_the_recorded_peak():
    out = compare_snapshot(crafted_snapshot())
    # The simulator needs the same two segments (the 30 MiB request cannot use the
    # 15 + 5 MiB free in the first one): peak 50 MiB, as recorded. The two
    # segment_free entries replay as empty_cache, so the 2 MiB segment comes after
    # and the end is 2 MiB, as recorded.
    assert out["peak_reserved_match"] is True
    assert out["simulated"]["peak_reserved"] == out["recorded"]["peak_reserved"] == 50 * M
    assert out["simulated"]["final_reserved"] == out["recorded"]["final_reserved"] == 2 * M
    assert out["simulated"]["segment_alloc"] == 3
    assert out["simulated"]["segment_alloc_bytes"] == 52 * M


def test_recorded_segment_addresses_break_ties_as_in_the_recording():
    lo, hi = 0x10000000, 0x20000000
    a = CachingAllocator(segment_addresses=[hi, lo])
    x, y = a.malloc(30 * M), a.malloc(30 * M)  # the first segment at hi, the second at lo
    a.free(x)
    a.free(y)
    z = a.malloc(10 * M)
    # Two equal 30 MiB free blocks: best fit takes the lower address, the second segment.
    assert a._live[z].ptr == lo
    b = CachingAllocator()
    x, y = b.malloc(30 * M), b.malloc(30 * M)
    b.free(x)
    b.free(y)
    z = b.malloc(10 * M)
    assert b._live[z].ptr == b.segments()[0][0]  # without hints: the first segment
    # A hint that overlaps a live simulated segment is not used.
    c = CachingAllocator(segment_addresses=[lo, lo + M])
    c.malloc(30 * M)
    c.malloc(30 * M)
    assert [s[0] for s in c.segments()][0] == lo and c.segments()[1][0] >= lo + 30 * M


def test_compare_reports_the_first_divergence():
    snap = crafted_snapshot()
    assert compare_snapshot(snap)["first_divergence"] is None
    snap["device_traces"][0][5]["size"] = 32 * M  # pretend torch made a 32 MiB segment
    snap["device_traces"][0][12]["size"] = 32 * M
    out = compare_snapshot(snap)
    # The simulator makes a 30 MiB segment for the 30 MiB request (event 3, trace entry 6).
    assert out["first_divergence"] == {
        "event": 3,
        "trace_index": 6,
        "action": "alloc",
        "size": 30 * M,
        "recorded_reserved": 52 * M,
        "simulated_reserved": 50 * M,
    }
    assert out["peak_reserved_match"] is False


def test_snapshot_that_started_late_is_flagged():
    snap = crafted_snapshot()
    snap["device_traces"][0] = snap["device_traces"][0][5:]  # lost the first five entries
    tr = read_snapshot(snap)
    # From entry 5 on, reserved moves +30 -20 -30 +2 = -18 MiB but ends at 2 MiB:
    # 20 MiB were reserved before the trace began.
    assert tr.initial_reserved == 20 * M
    assert tr.peak_reserved == 50 * M
    assert tr.unmatched_frees == 1  # y was allocated before the trace
    assert any("already reserved" in n for n in tr.notes)


def test_snapshot_errors_name_the_field():
    with pytest.raises(SnapshotError, match="device_traces"):
        read_snapshot({"segments": []})
    bad = crafted_snapshot()
    del bad["device_traces"][0][1]["size"]
    with pytest.raises(SnapshotError, match=r"device_traces\[0\]\[1\]\.size"):
        read_snapshot(bad)


def test_snapshot_settings_are_used():
    snap = crafted_snapshot()
    snap["allocator_settings"]["expandable_segments"] = True
    snap["allocator_settings"]["max_split_size"] = 128 * M
    tr = read_snapshot(snap)
    assert tr.settings == {"expandable_segments": True, "max_split_size": 128 * M}


def test_cli_replays_a_pickle(tmp_path):
    path = tmp_path / "snap.pickle"
    path.write_bytes(pickle.dumps(crafted_snapshot()))
    env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR))
    run = subprocess.run(
        [sys.executable, "-m", "headroom_trace.allocator", "replay", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "peak reserved: match" in run.stdout
    bad = tmp_path / "bad.pickle"
    bad.write_bytes(b"not a pickle")
    run = subprocess.run(
        [sys.executable, "-m", "headroom_trace.allocator", "replay", str(bad)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert run.returncode == 1 and "not a snapshot pickle" in run.stderr


# ----------------------------------------------------------------- speed


def synthetic_training_stream(n_events):
    """Layer-like pattern: activations kept for backward, temporaries freed at once."""
    events = []
    ident = 0
    live = []
    step = 0
    while len(events) < n_events:
        seq = (512, 1024, 2048, 1536)[step % 4]
        for layer in range(32):
            tmp = ident
            events.append(("alloc", tmp, seq * 4096 * 2 * 3))
            ident += 1
            for k in (seq * 4096 * 2, seq * 14336 * 2, seq * 4096 * 4, 4096 * (layer + 1)):
                events.append(("alloc", ident, k))
                live.append(ident)
                ident += 1
            events.append(("free", tmp, 0))
        while live:
            events.append(("free", live.pop(), 0))
        step += 1
    return events[:n_events] if not live else events


def test_replay_speed():
    events = synthetic_training_stream(200_000)
    t0 = time.perf_counter()
    res = replay(events)
    elapsed = time.perf_counter() - t0
    print(f"replayed {len(events)} events in {elapsed:.2f} s")
    assert res.peak_reserved >= res.peak_allocated > 0
    # A few seconds per million events on a slow shared core; this bound is loose
    # so that a busy CI machine does not fail it.
    assert elapsed < 10
