"""A model of PyTorch's CUDA caching allocator (c10/cuda/CUDACachingAllocator.cpp).

Replaying a stream of allocations and frees through `CachingAllocator` gives the
numbers `torch.cuda.max_memory_allocated()` and `torch.cuda.max_memory_reserved()`
would report for it. The rules follow the C++ source:

* sizes round up to 512 bytes, or to a power-of-two division when
  `roundup_power2_divisions` is configured;
* requests of at most 1 MiB use the small pool (2 MiB segments), larger ones the
  large pool: 1-10 MiB requests get a 20 MiB segment, larger ones a segment
  rounded up to 2 MiB; the pools never lend to each other;
* a free block is found by best fit in a set ordered by (stream, size, address);
* a block is split when the rest is >= 512 bytes (small pool, or any pool with
  expandable segments) or > 1 MiB (large pool, request below max_split_size);
* blocks >= max_split_size are never split and serve a request only if they are
  less than max_non_split_rounding_size (20 MiB) larger;
* a freed block merges with free neighbours of the same segment;
* with expandable segments each pool and stream grows one virtual segment,
  mapping 2 MiB pages (small pool) or 20 MiB pages (large pool); only mapped
  pages count in reserved;
* when a new segment does not fit in `capacity`, cached blocks are released as
  the real allocator does (oversize blocks first, then every unsplit free
  segment and every free page) and the allocation retried before an
  `OutOfMemoryError` is raised;
* `empty_cache()` frees unsplit free segments and unmaps free pages.

Everything is single-device; streams are opaque integers (0 by default).
Not modelled: CUDA graph private pools, cross-stream `record_stream` events,
free-memory callbacks, IPC.

`read_snapshot()` turns a `torch.cuda.memory._snapshot()` dict into an event
stream and `compare_snapshot()` replays it and sets the simulated peaks beside
the recorded ones; `python -m headroom_trace.allocator replay FILE.pickle`
prints that comparison.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from bisect import bisect_left, insort
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional, Sequence

KMIN_BLOCK_SIZE = 512
KSMALL_SIZE = 1 << 20  # largest small-pool request: 1 MiB
KSMALL_BUFFER = 2 << 20  # small-pool segment: 2 MiB
KLARGE_BUFFER = 20 << 20  # segment for 1-10 MiB requests: 20 MiB
KMIN_LARGE_ALLOC = 10 << 20
KROUND_LARGE = 2 << 20
MIB = 1 << 20
# roundup_power2_divisions has one entry per power-of-two interval from 1 MiB to 64 GiB.
ROUNDUP_INTERVALS = 16
ROUNDUP_INTERVAL_START_LOG2 = 20
SIZE_MAX = (1 << 64) - 1
# Address space reserved for one expandable segment when no capacity is given
# (the real allocator reserves 9/8 of the device's memory).
DEFAULT_VIRTUAL_DEVICE = 1 << 40
# Simulated cudaMalloc addresses start here and are 2 MiB aligned; they only
# break ties between equal-sized free blocks, as real addresses do.
_BASE_ADDRESS = 0x7F0000000000

_STREAM_SHIFT = 128
_SIZE_SHIFT = 64


class AllocatorError(Exception):
    """Base of every error this module raises."""


class ConfigError(AllocatorError, ValueError):
    """A bad allocator option; the message names the option."""


class SnapshotError(AllocatorError, ValueError):
    """A memory snapshot that cannot be read; the message names the field."""


class OutOfMemoryError(AllocatorError):
    """The simulated device could not hold a new segment, even after the cache was released."""

    def __init__(
        self,
        requested_bytes: int,
        rounded_bytes: int,
        segment_bytes: int,
        allocated_bytes: int,
        reserved_bytes: int,
        capacity_bytes: int,
    ):
        self.requested_bytes = requested_bytes
        self.rounded_bytes = rounded_bytes
        self.segment_bytes = segment_bytes
        self.allocated_bytes = allocated_bytes
        self.reserved_bytes = reserved_bytes
        self.capacity_bytes = capacity_bytes
        self.event: Optional[int] = None  # set by replay(): the index of the event that failed
        super().__init__(
            f"simulated CUDA out of memory: tried to allocate {requested_bytes} bytes "
            f"(segment {segment_bytes}); capacity {capacity_bytes}, reserved {reserved_bytes}, "
            f"allocated {allocated_bytes}, reserved but unallocated {reserved_bytes - allocated_bytes}"
        )


class _ExpandableSegment:
    __slots__ = ("base", "page", "size")

    def __init__(self, base: int, page: int, size: int):
        self.base = base
        self.page = page
        self.size = size


class _Block:
    __slots__ = (
        "sid",
        "size",
        "ptr",
        "pool",
        "allocated",
        "mapped",
        "prev",
        "next",
        "seg",
        "requested",
        "gc_base",
    )

    def __init__(self, sid, size, ptr, pool, seg=None):
        self.sid = sid
        self.size = size
        self.ptr = ptr
        self.pool = pool
        self.allocated = False
        self.mapped = True
        self.prev = None
        self.next = None
        self.seg = seg
        self.requested = 0
        self.gc_base = 0

    def is_split(self) -> bool:
        return self.prev is not None or self.next is not None


class _Pool:
    """Free blocks of one pool, in the C++ set order (stream, size, address)."""

    __slots__ = ("is_small", "keys", "by_key", "ukeys", "by_ukey", "free_calls")

    def __init__(self, is_small: bool):
        self.is_small = is_small
        self.keys: list[int] = []  # sorted encoded (stream, size, ptr) of free mapped blocks
        self.by_key: dict[int, _Block] = {}
        self.ukeys: list[int] = []  # sorted encoded (stream, ptr) of unmapped blocks
        self.by_ukey: dict[int, _Block] = {}
        self.free_calls = 0  # get_free_blocks_call_count, the clock of garbage collection

    def insert(self, b: _Block) -> None:
        k = (b.sid << _STREAM_SHIFT) | (b.size << _SIZE_SHIFT) | b.ptr
        b.gc_base = self.free_calls
        self.by_key[k] = b
        insort(self.keys, k)

    def remove(self, b: _Block) -> None:
        k = (b.sid << _STREAM_SHIFT) | (b.size << _SIZE_SHIFT) | b.ptr
        del self.by_key[k]
        del self.keys[bisect_left(self.keys, k)]

    def insert_unmapped(self, b: _Block) -> None:
        k = (b.sid << _SIZE_SHIFT) | b.ptr
        self.by_ukey[k] = b
        insort(self.ukeys, k)

    def remove_unmapped(self, b: _Block) -> None:
        k = (b.sid << _SIZE_SHIFT) | b.ptr
        del self.by_ukey[k]
        del self.ukeys[bisect_left(self.ukeys, k)]


def roundup_power2_next_division(size: int, divisions: int) -> int:
    """Round `size` up to the next of `divisions` equal steps between two powers of two."""
    if size & (size - 1) == 0:
        return size
    floor = 1 << (size.bit_length() - 1)
    step = floor >> (divisions.bit_length() - 1)
    if step == 0:
        return floor << 1
    rounded = size & ~(step - 1)
    return size if rounded == size else rounded + step


def _is_pow2(v: int) -> bool:
    return v > 0 and v & (v - 1) == 0


def _divisions_table(spec) -> list[int]:
    """The 16 per-interval division counts, built as CUDAAllocatorConfig parses them.

    `spec` is an int (every interval), a sequence of 16 ints, or a mapping from an
    interval's lower bound in MiB (a power of two) or ">" (every later interval)
    to its divisions, e.g. {256: 1, 512: 2, ">": 4}.
    """
    name = "roundup_power2_divisions"
    if isinstance(spec, bool):
        raise ConfigError(f"{name}: expected an int, a list of {ROUNDUP_INTERVALS} ints or a mapping")
    if isinstance(spec, int):
        if not _is_pow2(spec):
            raise ConfigError(f"{name}: {spec} is not a power of two")
        return [spec] * ROUNDUP_INTERVALS
    if isinstance(spec, Mapping):
        table = [0] * ROUNDUP_INTERVALS
        last = 0
        first = True
        for boundary, value in spec.items():
            if not isinstance(value, int) or isinstance(value, bool) or not (value == 0 or _is_pow2(value)):
                raise ConfigError(f"{name}: divisions for {boundary!r} must be 0 or a power of two, got {value!r}")
            if boundary == ">":
                for i in range(last + 1, ROUNDUP_INTERVALS):
                    table[i] = value
                continue
            try:
                b = int(boundary)
            except (TypeError, ValueError):
                raise ConfigError(f"{name}: interval {boundary!r} is not an int or '>'") from None
            if not _is_pow2(b):
                raise ConfigError(f"{name}: interval {b} is not a power of two")
            index = min(b.bit_length() - 1, ROUNDUP_INTERVALS - 1)
            if first:
                for i in range(index):
                    table[i] = value
                first = False
            table[index] = value
            last = index
        return table
    if isinstance(spec, Sequence) and not isinstance(spec, str):
        vals = list(spec)
        if len(vals) != ROUNDUP_INTERVALS or not all(
            isinstance(v, int) and not isinstance(v, bool) and (v == 0 or _is_pow2(v)) for v in vals
        ):
            raise ConfigError(f"{name}: a list must hold {ROUNDUP_INTERVALS} ints, each 0 or a power of two")
        return vals
    raise ConfigError(f"{name}: expected an int, a list of {ROUNDUP_INTERVALS} ints or a mapping, got {spec!r}")


def _positive_int(name: str, value, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return value


class CachingAllocator:
    """One device's caching allocator. Sizes and capacities are in bytes."""

    def __init__(
        self,
        expandable_segments: bool = False,
        max_split_size: Optional[int] = None,
        roundup_power2_divisions=None,
        capacity: Optional[int] = None,
        *,
        garbage_collection_threshold: Optional[float] = None,
        memory_fraction: Optional[float] = None,
        max_non_split_rounding_size: Optional[int] = None,
        large_segment_size: Optional[int] = None,
        segment_addresses: Optional[Iterable[int]] = None,
    ):
        if not isinstance(expandable_segments, bool):
            raise ConfigError(f"expandable_segments: expected True or False, got {expandable_segments!r}")
        self.expandable_segments = expandable_segments
        if max_split_size is None:
            self.max_split_size = SIZE_MAX
        else:
            # The real parser refuses max_split_size_mb below 20 (kLargeBuffer).
            self.max_split_size = _positive_int("max_split_size", max_split_size, KLARGE_BUFFER)
        self.max_non_split_rounding_size = (
            KLARGE_BUFFER
            if max_non_split_rounding_size is None
            else _positive_int("max_non_split_rounding_size", max_non_split_rounding_size, 0)
        )
        self.large_segment_size = (
            KLARGE_BUFFER
            if large_segment_size is None
            else _positive_int("large_segment_size", large_segment_size, KMIN_LARGE_ALLOC)
        )
        self._divisions = None if roundup_power2_divisions is None else _divisions_table(roundup_power2_divisions)
        self.capacity = None if capacity is None else _positive_int("capacity", capacity)
        # set_per_process_memory_fraction: a cap on reserved, and the reference of
        # garbage collection (which the real allocator only runs with a fraction set).
        self.allowed_maximum = None
        if memory_fraction is not None:
            if not isinstance(memory_fraction, (int, float)) or not 0 < memory_fraction <= 1:
                raise ConfigError(f"memory_fraction: expected a number in (0, 1], got {memory_fraction!r}")
            if self.capacity is None:
                raise ConfigError("memory_fraction: needs a capacity to be a fraction of")
            self.allowed_maximum = int(memory_fraction * self.capacity)
        self.gc_threshold = 0.0
        if garbage_collection_threshold is not None:
            g = garbage_collection_threshold
            if not isinstance(g, (int, float)) or isinstance(g, bool) or not 0 < g < 1:
                raise ConfigError(f"garbage_collection_threshold: expected a number in (0, 1), got {g!r}")
            self.gc_threshold = float(g)
        self._gc_active = self.allowed_maximum is not None and self.gc_threshold > 0

        self._small = _Pool(True)
        self._large = _Pool(False)
        self._streams: dict[int, int] = {}
        self._live: dict[int, Optional[_Block]] = {}
        self._next_handle = 0
        self._next_address = _BASE_ADDRESS
        # Addresses a recorded run's cudaMalloc calls returned, used in order for
        # the simulated ones (ties between equal-sized free blocks go by address).
        self._address_hints = iter(segment_addresses) if segment_addresses is not None else None
        self._segments: dict[int, int] = {}  # base -> size of live cudaMalloc segments
        self._expandable: list[_ExpandableSegment] = []
        self.allocated = 0
        self.reserved = 0
        self.peak_allocated = 0
        self.peak_reserved = 0
        # Counters of device calls, to compare with a recorded trace.
        self.stats = {
            "segment_alloc": 0,
            "segment_alloc_bytes": 0,
            "segment_free": 0,
            "segment_free_bytes": 0,
            "segment_map": 0,
            "segment_map_bytes": 0,
            "segment_unmap": 0,
            "segment_unmap_bytes": 0,
            "alloc_retries": 0,
            "ooms": 0,
        }

    # ---------------------------------------------------------------- config
    @classmethod
    def from_conf(cls, conf: str, capacity: Optional[int] = None) -> "CachingAllocator":
        """Build from a PYTORCH_CUDA_ALLOC_CONF string, e.g. "expandable_segments:True,max_split_size_mb:128"."""
        return cls(capacity=capacity, **parse_conf(conf))

    # ---------------------------------------------------------------- public API
    def malloc(self, size: int, stream: int = 0) -> int:
        """Allocate `size` bytes on `stream`; returns an opaque handle for `free`."""
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise AllocatorError(f"malloc: size must be an integer >= 0, got {size!r}")
        handle = self._next_handle
        self._next_handle += 1
        if size == 0:
            # torch hands out a null pointer for empty tensors without calling the allocator.
            self._live[handle] = None
            return handle
        self._live[handle] = self._malloc(size, stream)
        return handle

    def free(self, handle: int) -> None:
        try:
            b = self._live.pop(handle)
        except (KeyError, TypeError):
            raise AllocatorError(f"free: unknown or already freed handle {handle!r}") from None
        if b is None:
            return
        b.allocated = False
        self.allocated -= b.size
        self._free_block(b)

    def empty_cache(self) -> None:
        """torch.cuda.empty_cache(): release unsplit free segments and unmap free pages."""
        self._release_cached_blocks()

    def reset_peak_stats(self) -> None:
        self.peak_allocated = self.allocated
        self.peak_reserved = self.reserved

    def segments(self) -> list:
        """[(address, size, [(address, size, allocated), ...]), ...] sorted by address.

        As in torch's snapshot, an expandable segment shows one entry per mapped range.
        """
        heads = []
        seen = set()
        for b in self._all_blocks():
            if b.prev is None and id(b) not in seen:
                heads.append(b)
                seen.add(id(b))
        out = []
        for head in heads:
            b = head
            while b is not None:
                if not b.mapped:
                    b = b.next
                    continue
                start = b
                blocks = []
                while b is not None and b.mapped:
                    blocks.append((b.ptr, b.size, b.allocated))
                    b = b.next
                out.append((start.ptr, sum(x[1] for x in blocks), blocks))
        out.sort(key=lambda s: s[0])
        return out

    # ---------------------------------------------------------------- internals
    def _all_blocks(self):
        for pool in (self._small, self._large):
            yield from pool.by_key.values()
            yield from pool.by_ukey.values()
        for b in self._live.values():
            if b is not None:
                yield b

    def _sid(self, stream: int) -> int:
        sid = self._streams.get(stream)
        if sid is None:
            if not isinstance(stream, int) or isinstance(stream, bool):
                raise AllocatorError(f"malloc: stream must be an integer, got {stream!r}")
            sid = self._streams[stream] = len(self._streams)
        return sid

    def round_size(self, size: int) -> int:
        if size < KMIN_BLOCK_SIZE:
            return KMIN_BLOCK_SIZE
        if self._divisions is not None:
            log_size = size.bit_length() - 1
            index = log_size - ROUNDUP_INTERVAL_START_LOG2 if log_size > ROUNDUP_INTERVAL_START_LOG2 else 0
            divisions = self._divisions[min(index, ROUNDUP_INTERVALS - 1)]
            if divisions > 1 and size > KMIN_BLOCK_SIZE * divisions:
                return roundup_power2_next_division(size, divisions)
        return (size + KMIN_BLOCK_SIZE - 1) // KMIN_BLOCK_SIZE * KMIN_BLOCK_SIZE

    def allocation_size(self, size: int) -> int:
        """The size of a new segment for a rounded request (get_allocation_size)."""
        if size <= KSMALL_SIZE:
            return KSMALL_BUFFER
        if size < KMIN_LARGE_ALLOC:
            return self.large_segment_size
        return (size + KROUND_LARGE - 1) // KROUND_LARGE * KROUND_LARGE

    def _malloc(self, orig_size: int, stream: int) -> _Block:
        sid = self._sid(stream)
        size = self.round_size(orig_size)
        pool = self._small if size <= KSMALL_SIZE else self._large
        alloc_size = self.allocation_size(size)
        block = self._get_free_block(pool, sid, size)
        if block is None:
            if self._gc_active:
                self._garbage_collect()
            block = self._alloc_block(pool, sid, size, alloc_size)
            if block is None and self._release_available_cached_blocks(pool, sid, size):
                block = self._alloc_block(pool, sid, size, alloc_size)
            if block is None:
                self._release_cached_blocks()
                self.stats["alloc_retries"] += 1
                block = self._alloc_block(pool, sid, size, alloc_size)
            if block is None:
                self.stats["ooms"] += 1
                limit = self.capacity if self.allowed_maximum is None else self.allowed_maximum
                raise OutOfMemoryError(orig_size, size, alloc_size, self.allocated, self.reserved, limit)
        return self._alloc_found_block(pool, block, sid, size, orig_size)

    def _get_free_block(self, pool: _Pool, sid: int, size: int) -> Optional[_Block]:
        if self._gc_active:
            pool.free_calls += 1
        keys = pool.keys
        n = len(keys)
        i = bisect_left(keys, (sid << _STREAM_SHIFT) | (size << _SIZE_SHIFT))
        if i == n or keys[i] >> _STREAM_SHIFT != sid:
            return None
        b = pool.by_key[keys[i]]
        if b.seg is not None:
            if self.expandable_segments:
                # Best fit counts a tail block as the size it can grow to, so a
                # larger block that is not at a segment's tail may be preferred.
                j = i + 1
                while b.seg is not None and j < n and keys[j] >> _STREAM_SHIFT == sid:
                    nb = pool.by_key[keys[j]]
                    if _expandable_size(nb) < _expandable_size(b):
                        i, b = j, nb
                        j += 1
                    else:
                        break
            else:
                # Expandable segments were turned off: only plain blocks qualify.
                i += 1
                while i < n and keys[i] >> _STREAM_SHIFT == sid and pool.by_key[keys[i]].seg is not None:
                    i += 1
                if i == n or keys[i] >> _STREAM_SHIFT != sid:
                    return None
                b = pool.by_key[keys[i]]
        # An oversize block serves only a large request, and only if it is not
        # more than max_non_split_rounding_size larger than the request.
        if size < self.max_split_size and b.size >= self.max_split_size:
            return None
        if size >= self.max_split_size and b.size >= size + self.max_non_split_rounding_size:
            return None
        del pool.by_key[keys[i]]
        del keys[i]
        return b

    def _should_split(self, b: _Block, size: int) -> bool:
        remaining = b.size - size
        if b.pool.is_small or self.expandable_segments:
            return remaining >= KMIN_BLOCK_SIZE
        return size < self.max_split_size and remaining > KSMALL_SIZE

    def _alloc_found_block(self, pool: _Pool, b: _Block, sid: int, size: int, orig_size: int) -> _Block:
        if self._should_split(b, size):
            nb = _Block(sid, size, b.ptr, pool, b.seg)
            nb.prev = b.prev
            if nb.prev is not None:
                nb.prev.next = nb
            nb.next = b
            b.prev = nb
            b.ptr += size
            b.size -= size
            pool.insert(b)
            b = nb
        b.allocated = True
        b.requested = orig_size
        self.allocated += b.size
        if self.allocated > self.peak_allocated:
            self.peak_allocated = self.allocated
        return b

    def _free_block(self, b: _Block) -> None:
        pool = b.pool
        self._try_merge(b, b.prev)
        self._try_merge(b, b.next)
        pool.insert(b)

    @staticmethod
    def _try_merge(dst: _Block, src: Optional[_Block]) -> int:
        if src is None or src.allocated or dst.mapped != src.mapped:
            return 0
        if src.mapped:
            src.pool.remove(src)
        else:
            src.pool.remove_unmapped(src)
        if dst.prev is src:
            dst.ptr = src.ptr
            dst.prev = src.prev
            if dst.prev is not None:
                dst.prev.next = dst
        else:
            dst.next = src.next
            if dst.next is not None:
                dst.next.prev = dst
        dst.size += src.size
        return src.size

    def _grow_reserved(self, nbytes: int) -> None:
        self.reserved += nbytes
        if self.reserved > self.peak_reserved:
            self.peak_reserved = self.reserved

    def _new_address(self, nbytes: int) -> int:
        ptr = self._next_address
        self._next_address += (nbytes + KROUND_LARGE - 1) // KROUND_LARGE * KROUND_LARGE
        return ptr

    def _segment_address(self, nbytes: int) -> int:
        hint = next(self._address_hints, None) if self._address_hints is not None else None
        if isinstance(hint, int) and 0 < hint and hint + nbytes < 1 << _SIZE_SHIFT:
            end = hint + nbytes
            if all(end <= base or base + size <= hint for base, size in self._segments.items()) and all(
                end <= seg.base or seg.base + seg.size <= hint for seg in self._expandable
            ):
                self._next_address = max(self._next_address, (end + KROUND_LARGE - 1) // KROUND_LARGE * KROUND_LARGE)
                return hint
        # No hint, or the simulation has diverged from the recording: a fresh range above all others.
        return self._new_address(nbytes)

    def _alloc_block(self, pool: _Pool, sid: int, size: int, alloc_size: int) -> Optional[_Block]:
        if self.allowed_maximum is not None and self.reserved + alloc_size > self.allowed_maximum:
            return None
        if self.expandable_segments:
            return self._try_allocate_expandable_block(pool, sid, size)
        if self.capacity is not None and self.reserved + alloc_size > self.capacity:
            return None  # cudaMalloc fails
        b = _Block(sid, alloc_size, self._segment_address(alloc_size), pool)
        self._segments[b.ptr] = alloc_size
        self._grow_reserved(alloc_size)
        self.stats["segment_alloc"] += 1
        self.stats["segment_alloc_bytes"] += alloc_size
        return b

    # ------------------------------------------------------------ expandable segments
    def _find_expandable_block(self, pool: _Pool, sid: int, size: int) -> _Block:
        ukeys = pool.ukeys
        i = bisect_left(ukeys, sid << _SIZE_SHIFT)
        while i < len(ukeys) and ukeys[i] >> _SIZE_SHIFT == sid:
            c = pool.by_ukey[ukeys[i]]
            i += 1
            # A free mapped block just before the unmapped range can be used too.
            if c.prev is not None and not c.prev.allocated:
                c = c.prev
            have = 0
            x = c
            while have < size and x is not None and not x.allocated:
                have += x.size
                x = x.next
            if have >= size:
                return c
        page = KSMALL_BUFFER if pool.is_small else KLARGE_BUFFER
        device = self.capacity if self.capacity is not None else DEFAULT_VIRTUAL_DEVICE
        # Address space for 9/8 of the device's memory, in whole pages.
        vsize = (device + device // 8 + page - 1) // page * page
        seg = _ExpandableSegment(self._new_address(vsize), page, vsize)
        self._expandable.append(seg)
        c = _Block(sid, vsize, seg.base, pool, seg)
        c.mapped = False
        pool.insert_unmapped(c)
        return c

    def _map_block(self, to_map: _Block, size: int) -> bool:
        seg = to_map.seg
        page = seg.page
        begin = (to_map.ptr - seg.base) // page
        end = (to_map.ptr + size - seg.base + page - 1) // page
        mapped = (end - begin) * page
        if mapped == 0:
            return False
        if self.capacity is not None and self.reserved + mapped > self.capacity:
            return False  # cuMemCreate fails; pages created by this call are released
        pool = to_map.pool
        pool.remove_unmapped(to_map)
        to_map.mapped = True
        if mapped < to_map.size:
            rest = _Block(to_map.sid, to_map.size - mapped, to_map.ptr + mapped, pool, seg)
            rest.mapped = False
            rest.prev = to_map
            rest.next = to_map.next
            if to_map.next is not None:
                to_map.next.prev = rest
            to_map.next = rest
            pool.insert_unmapped(rest)
            to_map.size = mapped
        self._try_merge(to_map, to_map.prev)
        self._try_merge(to_map, to_map.next)
        pool.insert(to_map)
        self._grow_reserved(mapped)
        self.stats["segment_map"] += 1
        self.stats["segment_map_bytes"] += mapped
        return True

    def _try_allocate_expandable_block(self, pool: _Pool, sid: int, size: int) -> Optional[_Block]:
        c = self._find_expandable_block(pool, sid, size)
        # c starts a run of free/unmapped blocks with at least `size` bytes of room.
        if not c.mapped and not self._map_block(c, min(c.size, size)):
            return None
        while c.size < size:
            nxt = c.next
            if not self._map_block(nxt, min(size - c.size, nxt.size)):
                return None
            c = nxt  # map_block merged the free block before it into nxt
        pool.remove(c)
        return c

    def _unmap_block(self, b: _Block) -> None:
        seg = b.seg
        page = seg.page
        begin = (b.ptr - seg.base + page - 1) // page
        end = (b.ptr + b.size - seg.base) // page
        if begin >= end:
            return
        pool = b.pool
        pool.remove(b)
        uptr = seg.base + begin * page
        usize = (end - begin) * page
        before = uptr - b.ptr
        if before > 0:
            bf = _Block(b.sid, before, b.ptr, pool, seg)
            bf.prev = b.prev
            if b.prev is not None:
                b.prev.next = bf
            bf.next = b
            b.prev = bf
            pool.insert(bf)
        after = b.size - before - usize
        if after > 0:
            af = _Block(b.sid, after, uptr + usize, pool, seg)
            af.next = b.next
            if b.next is not None:
                b.next.prev = af
            af.prev = b
            b.next = af
            pool.insert(af)
        b.ptr = uptr
        b.size = usize
        b.mapped = False
        self._try_merge(b, b.prev)
        self._try_merge(b, b.next)
        pool.insert_unmapped(b)
        self.reserved -= usize
        self.stats["segment_unmap"] += 1
        self.stats["segment_unmap_bytes"] += usize

    # ---------------------------------------------------------------- releasing
    def _release_block(self, b: _Block) -> None:
        b.pool.remove(b)
        del self._segments[b.ptr]
        self.reserved -= b.size
        self.stats["segment_free"] += 1
        self.stats["segment_free_bytes"] += b.size

    def _release_available_cached_blocks(self, pool: _Pool, sid: int, size: int) -> bool:
        """Free oversize cached blocks, just enough for the request (only with max_split_size)."""
        mss = self.max_split_size
        if mss == SIZE_MAX:
            return False
        key_size = max(size, mss)
        keys = pool.keys
        i = bisect_left(keys, (sid << _STREAM_SHIFT) | (key_size << _SIZE_SHIFT))
        if i == len(keys) or keys[i] >> _STREAM_SHIFT != sid or pool.by_key[keys[i]].seg is not None:
            # No single block is large enough: free oversize blocks, largest first.
            if i == 0:
                return False
            released = 0
            i -= 1
            while released < key_size:
                b = pool.by_key[keys[i]]
                if b.size < mss or b.sid != sid:
                    break
                first = i == 0
                if not first:
                    i -= 1
                # Expandable blocks cannot be cudaFree'd; they are skipped.
                if b.seg is None:
                    released += b.size
                    self._release_block(b)
                if first:
                    break
            return released >= key_size
        self._release_block(pool.by_key[keys[i]])
        return True

    def _release_cached_blocks(self) -> None:
        self._release_blocks(self._large)
        self._release_blocks(self._small)

    def _release_blocks(self, pool: _Pool) -> None:
        to_unmap = []
        for k in list(pool.keys):
            b = pool.by_key[k]
            if b.seg is not None:
                to_unmap.append(b)
            elif b.prev is None and b.next is None:
                self._release_block(b)
        for b in to_unmap:
            self._unmap_block(b)
            if b.prev is None and b.next is None:
                # The whole segment is unmapped: give back its address space.
                pool.remove_unmapped(b)
                self._expandable.remove(b.seg)

    def _garbage_collect(self) -> None:
        """garbage_collect_cached_blocks: free the oldest unsplit large blocks."""
        threshold = int(self.gc_threshold * self.allowed_maximum)
        if self.reserved <= threshold:
            return
        target = self.reserved - threshold
        pool = self._large
        clock = pool.free_calls
        total_age = 0
        count = 0
        for b in pool.by_key.values():
            if not b.is_split():
                total_age += clock - b.gc_base
                count += 1
        if count == 0:
            return
        reclaimed = 0
        freed = True
        while reclaimed < target and freed and count > 0:
            age_threshold = total_age / count
            freed = False
            for k in list(pool.keys):
                b = pool.by_key[k]
                age = clock - b.gc_base
                if not b.is_split() and b.seg is None and age >= age_threshold:
                    freed = True
                    reclaimed += b.size
                    total_age -= age
                    count -= 1
                    self._release_block(b)


def _expandable_size(b: _Block) -> int:
    n = b.next
    return b.size + (n.size if n is not None and not n.mapped else 0)


# ------------------------------------------------------------------------ config strings
_CONF_IGNORED = {
    # Options of the host (pinned) allocator or of locking/IPC: no effect on device memory sizes.
    "release_lock_on_cudamalloc",
    "pinned_use_cuda_host_register",
    "pinned_use_host_register",
    "pinned_num_register_threads",
    "pinned_use_background_threads",
    "pinned_reserve_segment_size_mb",
    "pinned_max_round_threshold",
    "pinned_max_cached_size",
    "expandable_segments_handle_type",
    "graph_capture_record_stream_reuse",
    "backend",
}


def _tokenize(conf: str) -> list[str]:
    tokens, buf = [], []
    for ch in conf:
        if ch in ",:[]":
            if buf:
                tokens.append("".join(buf))
                buf = []
            tokens.append(ch)
        elif not ch.isspace():
            buf.append(ch)
    if buf:
        tokens.append("".join(buf))
    return tokens


def parse_conf(conf: str) -> dict:
    """Keyword arguments of `CachingAllocator` from a PYTORCH_CUDA_ALLOC_CONF string."""
    if not isinstance(conf, str):
        raise ConfigError(f"allocator conf: expected a string, got {conf!r}")
    t = _tokenize(conf)
    out: dict = {}
    i = 0

    def expect(j: int, tok: str, key: str) -> None:
        if j >= len(t) or t[j] != tok:
            raise ConfigError(f"{key}: expected '{tok}' in allocator conf {conf!r}")

    def value(j: int, key: str) -> str:
        if j >= len(t) or t[j] in ",:[]":
            raise ConfigError(f"{key}: missing value in allocator conf {conf!r}")
        return t[j]

    def as_int(s: str, key: str) -> int:
        try:
            return int(s)
        except ValueError:
            raise ConfigError(f"{key}: {s!r} is not an integer") from None

    def as_float(s: str, key: str) -> float:
        try:
            return float(s)
        except ValueError:
            raise ConfigError(f"{key}: {s!r} is not a number") from None

    while i < len(t):
        key = t[i]
        if key == ",":
            i += 1
            continue
        expect(i + 1, ":", key)
        if key == "roundup_power2_divisions" and i + 2 < len(t) and t[i + 2] == "[":
            j = i + 3
            spec: dict = {}
            while j < len(t) and t[j] != "]":
                if t[j] == ",":
                    j += 1
                    continue
                bound = t[j]
                expect(j + 1, ":", key)
                v = as_int(value(j + 2, key), key)
                spec[bound if bound == ">" else as_int(bound, key)] = v
                j += 3
            expect(j, "]", key)
            out["roundup_power2_divisions"] = spec
            i = j + 1
            continue
        v = value(i + 2, key)
        i += 3
        if key == "max_split_size_mb":
            mb = as_int(v, key)
            if mb < KLARGE_BUFFER // MIB:
                raise ConfigError(f"max_split_size_mb: must be >= {KLARGE_BUFFER // MIB}, got {mb}")
            out["max_split_size"] = mb * MIB
        elif key == "max_non_split_rounding_mb":
            out["max_non_split_rounding_size"] = as_int(v, key) * MIB
        elif key == "large_segment_size_mb":
            out["large_segment_size"] = as_int(v, key) * MIB
        elif key == "roundup_power2_divisions":
            out["roundup_power2_divisions"] = as_int(v, key)
        elif key == "expandable_segments":
            if v.lower() not in ("true", "false"):
                raise ConfigError(f"expandable_segments: expected True or False, got {v!r}")
            out["expandable_segments"] = v.lower() == "true"
        elif key == "garbage_collection_threshold":
            out["garbage_collection_threshold"] = as_float(v, key)
        elif key == "per_process_memory_fraction":
            out["memory_fraction"] = as_float(v, key)
        elif key in _CONF_IGNORED:
            pass
        else:
            raise ConfigError(f"allocator conf: unknown option {key!r}")
    return out


# ------------------------------------------------------------------------ replay
@dataclass
class ReplayResult:
    peak_allocated: int
    peak_reserved: int
    allocated: int  # at the end
    reserved: int  # at the end
    stats: dict
    timeline: Optional[list] = None  # [(allocated, reserved)] after each event, when asked


Event = Sequence  # ("alloc", id, size[, stream]) | ("free", id, 0) | ("empty_cache", 0, 0)


def replay(
    events: Iterable[Event],
    *,
    allocator: Optional[CachingAllocator] = None,
    record: bool = False,
    **kw,
) -> ReplayResult:
    """Replay ("alloc", id, size) / ("free", id, 0) events; an "alloc" may carry a 4th item, the stream.

    `kw` goes to `CachingAllocator` unless `allocator` is given. With `record`, the
    result's timeline holds (allocated, reserved) after every event.
    """
    a = allocator if allocator is not None else CachingAllocator(**kw)
    handles: dict = {}
    timeline: Optional[list] = [] if record else None
    malloc = a.malloc
    free = a.free
    for n, ev in enumerate(events):
        kind = ev[0]
        if kind == "alloc":
            if ev[1] in handles:
                raise AllocatorError(f"event {n}: id {ev[1]!r} allocated twice without a free")
            try:
                handles[ev[1]] = malloc(ev[2], ev[3]) if len(ev) > 3 else malloc(ev[2])
            except OutOfMemoryError as e:
                e.event = n  # which event did not fit
                raise
        elif kind == "free":
            h = handles.pop(ev[1], None)
            if h is None:
                raise AllocatorError(f"event {n}: free of id {ev[1]!r} that is not allocated")
            free(h)
        elif kind == "empty_cache":
            a.empty_cache()
        else:
            raise AllocatorError(f"event {n}: unknown action {kind!r} (expected alloc, free or empty_cache)")
        if timeline is not None:
            timeline.append((a.allocated, a.reserved))
    return ReplayResult(a.peak_allocated, a.peak_reserved, a.allocated, a.reserved, dict(a.stats), timeline)


# ------------------------------------------------------------------------ snapshots
@dataclass
class SnapshotTrace:
    """What a `torch.cuda.memory._snapshot()` trace says about one device."""

    device: int
    events: list  # ("alloc", id, size, stream) / ("free", id, 0) / ("empty_cache", 0, 0)
    settings: dict  # CachingAllocator keyword arguments from the snapshot's allocator_settings
    initial_reserved: int  # reserved before the first trace entry (0 when the trace is complete)
    peak_reserved: int
    final_reserved: int
    peak_requested: int  # peak of live requested (unrounded) bytes
    segment_alloc: int
    segment_alloc_bytes: int
    segment_map: int
    segment_map_bytes: int
    ooms: int
    unmatched_frees: int  # frees of blocks allocated before the trace began
    segment_addresses: list  # addresses of the segment_alloc entries, in order
    recorded_reserved: list  # reserved after each event, as the trace shows it
    trace_index: list  # the trace entry each event comes from
    notes: list = field(default_factory=list)


def _settings_from_snapshot(snap: Mapping) -> tuple:
    notes = []
    s = snap.get("allocator_settings")
    if not isinstance(s, Mapping):
        notes.append("snapshot has no allocator_settings; assumed the default allocator configuration")
        return {}, notes
    out: dict = {}
    if s.get("expandable_segments"):
        out["expandable_segments"] = True
    mss = s.get("max_split_size")
    if isinstance(mss, int) and 0 < mss < SIZE_MAX >> 1:
        out["max_split_size"] = mss
    gct = s.get("garbage_collection_threshold")
    if isinstance(gct, (int, float)) and 0 < gct < 1:
        out["garbage_collection_threshold"] = float(gct)
        notes.append(
            "garbage_collection_threshold only acts with a memory fraction set; the snapshot does not record one"
        )
    r = s.get("roundup_power2_divisions")
    if isinstance(r, Mapping) and r:
        try:
            table = [int(v) for _, v in sorted(r.items(), key=lambda kv: int(kv[0]))]
        except (TypeError, ValueError):
            raise SnapshotError("allocator_settings.roundup_power2_divisions: keys and values must be integers")
        if any(table) and len(table) == ROUNDUP_INTERVALS:
            out["roundup_power2_divisions"] = table
    elif isinstance(r, list) and any(r):
        out["roundup_power2_divisions"] = list(r)
    return out, notes


def read_snapshot(snap: Mapping, device: Optional[int] = None) -> SnapshotTrace:
    """Read a memory snapshot dict (torch.cuda.memory._snapshot()) for one device.

    The device defaults to the one with the longest trace. Blocks are keyed by
    address; an address freed and allocated again starts a new id.
    """
    if not isinstance(snap, Mapping):
        raise SnapshotError("snapshot: expected a dict with 'segments' and 'device_traces'")
    traces = snap.get("device_traces")
    if not isinstance(traces, list) or not traces:
        raise SnapshotError(
            "device_traces: missing or empty (record with torch.cuda.memory._record_memory_history() first)"
        )
    if device is None:
        device = max(range(len(traces)), key=lambda d: len(traces[d] or []))
    if not 0 <= device < len(traces):
        raise SnapshotError(f"device_traces: no device {device} (the snapshot has {len(traces)})")
    trace = traces[device] or []
    settings, notes = _settings_from_snapshot(snap)

    events: list = []
    live: dict = {}  # addr -> (id, requested size)
    next_id = 0
    reserved = 0
    lowest = 0
    peak = 0
    requested = 0
    peak_requested = 0
    counts = {"segment_alloc": 0, "segment_alloc_bytes": 0, "segment_map": 0, "segment_map_bytes": 0, "oom": 0}
    unmatched = 0
    releases = 0
    releasing = False
    rec: list = []
    where: list = []
    seg_addrs: list = []
    # A trace that starts with frees of earlier blocks, or ends early in the ring
    # buffer, may miss some segment calls; lowest tracks how far reserved dips.
    for n, e in enumerate(trace):
        if not isinstance(e, Mapping) or "action" not in e:
            raise SnapshotError(f"device_traces[{device}][{n}]: expected a dict with an 'action'")
        action = e["action"]
        if action in ("alloc", "free_requested", "free_completed", "segment_alloc", "segment_free",
                      "segment_map", "segment_unmap"):
            for f in ("addr", "size"):
                if not isinstance(e.get(f), int):
                    raise SnapshotError(f"device_traces[{device}][{n}].{f}: expected an integer ({action})")
        if action not in ("segment_free", "segment_unmap"):
            releasing = False
        if action == "alloc":
            addr = e["addr"]
            if addr in live:
                raise SnapshotError(f"device_traces[{device}][{n}]: alloc at {addr:#x} which is still allocated")
            live[addr] = (next_id, e["size"])
            events.append(("alloc", next_id, e["size"], e.get("stream", 0) or 0))
            rec.append(reserved)
            where.append(n)
            next_id += 1
            requested += e["size"]
            peak_requested = max(peak_requested, requested)
        elif action == "free_completed":
            # The block returns to the pool here (free_requested may come earlier
            # when it was used on another stream).
            hit = live.pop(e["addr"], None)
            if hit is None:
                unmatched += 1
                continue
            events.append(("free", hit[0], 0))
            rec.append(reserved)
            where.append(n)
            requested -= hit[1]
        elif action in ("segment_alloc", "segment_map"):
            if action == "segment_alloc":
                seg_addrs.append(e["addr"])
            reserved += e["size"]
            peak = max(peak, reserved)
            counts[action] += 1
            counts[action + "_bytes"] += e["size"]
        elif action in ("segment_free", "segment_unmap"):
            reserved -= e["size"]
            lowest = min(lowest, reserved)
            # The trace does not say why memory went back to CUDA; a run of these
            # is empty_cache() or the release before a retried cudaMalloc, and both
            # free every cached unsplit segment (and every free page), as the
            # simulator's empty_cache does.
            if not releasing:
                events.append(("empty_cache", 0, 0))
                rec.append(reserved)
                where.append(n)
                releases += 1
                releasing = True
            rec[-1] = reserved  # the release event ends after the whole run
            continue
        elif action == "oom":
            counts["oom"] += 1
        # free_requested, snapshot, annotate, user-defined entries: no state change here
    final_reserved = 0
    for seg in snap.get("segments") or []:
        if isinstance(seg, Mapping) and seg.get("device", device) == device:
            size = seg.get("total_size")
            if not isinstance(size, int):
                raise SnapshotError("segments[].total_size: expected an integer")
            final_reserved += size
    initial = final_reserved - reserved
    if initial < -lowest:
        initial = -lowest
    if initial:
        notes.append(
            f"the trace starts with {initial} bytes already reserved (recording began late or the ring buffer "
            "wrapped); the simulation starts empty, so compare peaks with care"
        )
    if unmatched:
        notes.append(f"{unmatched} frees of blocks allocated before the trace began were skipped")
    if releases:
        notes.append(f"{releases} runs of segment_free/segment_unmap replayed as empty_cache()")
    if counts["oom"]:
        notes.append(f"the recorded run hit {counts['oom']} out-of-memory errors")
    return SnapshotTrace(
        device=device,
        events=events,
        settings=settings,
        initial_reserved=initial,
        peak_reserved=initial + peak,
        final_reserved=final_reserved,
        peak_requested=peak_requested,
        segment_alloc=counts["segment_alloc"],
        segment_alloc_bytes=counts["segment_alloc_bytes"],
        segment_map=counts["segment_map"],
        segment_map_bytes=counts["segment_map_bytes"],
        ooms=counts["oom"],
        unmatched_frees=unmatched,
        segment_addresses=seg_addrs,
        recorded_reserved=[initial + r for r in rec],
        trace_index=where,
        notes=notes,
    )


def compare_snapshot(snap: Mapping, device: Optional[int] = None, conf: Optional[str] = None) -> dict:
    """Replay a snapshot's trace through the simulator; recorded and simulated figures side by side.

    `conf` (a PYTORCH_CUDA_ALLOC_CONF string) overrides the snapshot's own settings.
    """
    tr = read_snapshot(snap, device)
    settings = parse_conf(conf) if conf is not None else tr.settings
    a = CachingAllocator(segment_addresses=tr.segment_addresses, **settings)
    res = replay(tr.events, allocator=a, record=True)
    divergence = None
    for i, ((_, sim_reserved), rec_reserved) in enumerate(zip(res.timeline, tr.recorded_reserved)):
        if sim_reserved != rec_reserved:
            ev = tr.events[i]
            divergence = {
                "event": i,
                "trace_index": tr.trace_index[i],
                "action": ev[0],
                "size": ev[2],
                "recorded_reserved": rec_reserved,
                "simulated_reserved": sim_reserved,
            }
            break
    return {
        "device": tr.device,
        "events": len(tr.events),
        "settings": settings,
        "recorded": {
            "peak_reserved": tr.peak_reserved,
            "final_reserved": tr.final_reserved,
            "initial_reserved": tr.initial_reserved,
            "peak_requested": tr.peak_requested,
            "segment_alloc": tr.segment_alloc,
            "segment_alloc_bytes": tr.segment_alloc_bytes,
            "segment_map": tr.segment_map,
            "segment_map_bytes": tr.segment_map_bytes,
            "ooms": tr.ooms,
        },
        "simulated": {
            "peak_reserved": res.peak_reserved,
            "final_reserved": res.reserved,
            "peak_allocated": res.peak_allocated,
            "segment_alloc": res.stats["segment_alloc"],
            "segment_alloc_bytes": res.stats["segment_alloc_bytes"],
            "segment_map": res.stats["segment_map"],
            "segment_map_bytes": res.stats["segment_map_bytes"],
        },
        "peak_reserved_match": res.peak_reserved == tr.peak_reserved,
        # The first event after which simulated and recorded reserved differ (None: never).
        "first_divergence": divergence,
        "notes": tr.notes,
    }


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.3f} GiB"


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m headroom_trace.allocator",
        description="Replay a torch.cuda.memory._snapshot() pickle through the caching-allocator model.",
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("replay", help="compare simulated and recorded peaks of a snapshot")
    r.add_argument("snapshot", help="pickle written by torch.cuda.memory._dump_snapshot()")
    r.add_argument("--device", type=int, default=None, help="device index (default: the longest trace)")
    r.add_argument("--conf", default=None, help="PYTORCH_CUDA_ALLOC_CONF to simulate instead of the snapshot's")
    r.add_argument("--json", action="store_true", help="print the comparison as JSON")
    args = p.parse_args(argv)
    try:
        with open(args.snapshot, "rb") as f:
            snap = pickle.load(f)
    except OSError as e:
        print(f"error: cannot read {args.snapshot}: {e.strerror}", file=sys.stderr)
        return 1
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError) as e:
        print(f"error: {args.snapshot} is not a snapshot pickle: {e}", file=sys.stderr)
        return 1
    try:
        out = compare_snapshot(snap, args.device, args.conf)
    except AllocatorError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    rec, sim = out["recorded"], out["simulated"]
    print(f"device {out['device']}, {out['events']} replayed events, settings {out['settings'] or 'default'}")
    print(f"{'':24}{'recorded':>22}{'simulated':>22}")
    for label, k in (("peak reserved", "peak_reserved"), ("final reserved", "final_reserved")):
        print(f"{label:24}{rec[k]:>16} {_gib(rec[k]):>5}{sim[k]:>16} {_gib(sim[k]):>5}")
    print(f"{'segment allocs':24}{rec['segment_alloc']:>22}{sim['segment_alloc']:>22}")
    print(f"{'segment alloc bytes':24}{rec['segment_alloc_bytes']:>22}{sim['segment_alloc_bytes']:>22}")
    print(f"{'segment maps':24}{rec['segment_map']:>22}{sim['segment_map']:>22}")
    print(f"{'segment map bytes':24}{rec['segment_map_bytes']:>22}{sim['segment_map_bytes']:>22}")
    print(f"{'peak requested/alloc':24}{rec['peak_requested']:>22}{sim['peak_allocated']:>22}")
    diff = sim["peak_reserved"] - rec["peak_reserved"]
    print(f"peak reserved: {'match' if diff == 0 else f'off by {diff} bytes'}")
    d = out["first_divergence"]
    if d is None:
        print("reserved agrees after every event")
    else:
        print(
            f"reserved first differs after event {d['event']} (trace entry {d['trace_index']}, {d['action']} "
            f"{d['size']}): recorded {d['recorded_reserved']}, simulated {d['simulated_reserved']}"
        )
    for note in out["notes"]:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
