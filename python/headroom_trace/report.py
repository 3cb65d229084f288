"""Replays the allocation stream through the caching-allocator model and shapes the result."""

from .allocator import CachingAllocator
from .tracker import ALLOC, CATEGORIES

MAX_POINTS = 2000


def build_result(events, expandable, name_fn=lambda s: s):
    a = CachingAllocator(expandable_segments=expandable)
    live = {}  # rec id -> (handle, bytes counted in allocated, category)
    by_cat = dict.fromkeys(CATEGORIES, 0)
    peak, peak_cats, peak_ev = -1, dict(by_cat), None
    points = []
    for ev in events:
        rec = ev.rec
        if rec.host or rec.size <= 0:
            continue
        if ev.kind == ALLOC:
            if rec.id in live:
                continue
            before = a.allocated
            h = a.malloc(rec.size)
            got = a.allocated - before
            live[rec.id] = (h, got, rec.category)
            by_cat[rec.category] += got
        else:
            entry = live.pop(rec.id, None)
            if entry is None:
                continue
            a.free(entry[0])
            by_cat[entry[2]] -= entry[1]
        if a.allocated > peak:
            peak, peak_cats, peak_ev = a.allocated, dict(by_cat), ev
        points.append((ev.phase, ev.module, a.allocated, a.reserved))
    timeline = _downsample(points, name_fn)
    return {
        "event": "result",
        "allocated_peak_bytes": int(max(a.peak_allocated, 0)),
        "reserved_peak_bytes": int(a.peak_reserved),
        "components": {k: int(v) for k, v in peak_cats.items()},
        "peak": {
            "phase": peak_ev.phase if peak_ev else "load",
            "module": name_fn(peak_ev.module) if peak_ev else "",
            "step": peak_ev.step if peak_ev else 0,
        },
        "timeline": timeline,
    }


def _downsample(points, name_fn):
    n = len(points)
    if n <= MAX_POINTS:
        chosen = range(n)
    else:
        width = -(-n // MAX_POINTS)
        chosen = []
        for start in range(0, n, width):
            best = max(range(start, min(start + width, n)), key=lambda i: (points[i][2], points[i][3]))
            chosen.append(best)
    return [{"i": i, "phase": points[i][0], "module": name_fn(points[i][1]), "allocated": int(points[i][2]),
             "reserved": int(points[i][3])} for i in chosen]
