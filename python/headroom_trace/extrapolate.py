"""Extrapolates a trace of 3 decoder layers to all layers of the model.

Decoder layers are identical, so the traced model has a first layer (0), a template layer (1) and a
last layer (2). The allocation stream is cut into runs of events belonging to one layer; each run of
the template layer is repeated for full layers 1 .. L-2 with its storages copied and its modules
renamed; the last layer's runs become layer L-1. A free names a storage relative to the layer it
happens in (layer k freeing what layer k-1 made), so it is re-aimed at the same relative layer in
the full model. Storages of different layers are matched by their signature: phase, step, module
path with the layer index removed, and the ordinal of that signature within the layer.
"""

import re

from .tracker import ALLOC, Event, Rec

TRACED = 3
TEMPLATE = 1


def _signatures(events, layer_re):
    """rec.id -> signature for every storage allocated with a layer tag."""
    counts = {}
    sig_of = {}
    by_sig = {}
    for ev in events:
        if ev.kind != ALLOC or ev.rec.tag is None:
            continue
        mod = layer_re.sub(r"\1#", ev.module) if ev.module else ""
        base = (ev.phase, ev.step, mod, ev.rec.category)
        key = (ev.rec.tag, base)
        n = counts.get(key, 0)
        counts[key] = n + 1
        sig = base + (n,)
        sig_of[ev.rec.id] = sig
        by_sig[(ev.rec.tag, sig)] = ev.rec
    return sig_of, by_sig


def extrapolate(events, prefix, total):
    """The stream of a `total`-layer model from the stream of its 3-layer trace."""
    if total <= TRACED:
        return events, 0
    layer_re = re.compile("(" + re.escape(prefix) + r")\d+")
    sig_of, by_sig = _signatures(events, layer_re)
    last = total - 1
    copies = {}  # (template rec id, d) -> Rec copy for d >= 1
    dropped = 0

    def full_layer(tag, d):
        return 0 if tag == 0 else (last if tag == TRACED - 1 else 1 + d)

    def target(rec, G):
        """The storage of full layer G that corresponds to traced `rec`: (Rec) or None."""
        if G < 0 or G > last:
            return None
        if G == 0 or G == last:
            want = 0 if G == 0 else TRACED - 1
            if rec.tag == want:
                return rec
            sig = sig_of.get(rec.id)
            return by_sig.get((want, sig)) if sig is not None else None
        tmpl = rec if rec.tag == TEMPLATE else None
        if tmpl is None:
            sig = sig_of.get(rec.id)
            tmpl = by_sig.get((TEMPLATE, sig)) if sig is not None else None
            if tmpl is None:
                return None
        d = G - 1
        if d == 0:
            return tmpl
        c = copies.get((tmpl.id, d))
        return c

    def rename(module, layer):
        return layer_re.sub(lambda m: m.group(1) + str(layer), module) if module else module

    next_id = [max((ev.rec.id for ev in events), default=0) + 1]
    out = []

    def emit(ev, d):
        nonlocal dropped
        F = full_layer(ev.tag, d) if ev.tag is not None else None
        rec = ev.rec
        module = rename(ev.module, F) if F is not None else ev.module
        if ev.kind == ALLOC:
            if ev.tag == TEMPLATE and d >= 1 and rec.tag != TEMPLATE:
                return  # made once, not per layer
            if ev.tag == TEMPLATE and d >= 1:
                c = Rec(next_id[0], rec.size, rec.category, 1 + d)
                c.host = rec.host
                next_id[0] += 1
                copies[(rec.id, d)] = c
                rec = c
            out.append(Event(ALLOC, rec, ev.phase, module, ev.step, F))
            return
        # a free: aim it at the same relative layer
        if rec.tag is None or F is None or ev.tag is None:
            if d == 0:
                out.append(Event(ev.kind, rec, ev.phase, module, ev.step, F))
            return
        G = full_layer(rec.tag, 0) if rec.tag != TEMPLATE else None
        if ev.tag == TEMPLATE or rec.tag == TEMPLATE:
            G = F + (rec.tag - ev.tag)
        t = target(rec, G)
        if t is None:
            dropped += 1
            return
        out.append(Event(ev.kind, t, ev.phase, module, ev.step, F))

    i, n = 0, len(events)
    came_from = 0  # the last non-template layer seen: 0 means layers run upwards (forward), 2 downwards
    while i < n:
        j = i
        tag = events[i].tag
        while j < n and events[j].tag == tag:
            j += 1
        if tag == TEMPLATE:
            order = range(total - 2) if came_from == 0 else range(total - 3, -1, -1)
        else:
            order = (0,)
            if tag is not None:
                came_from = tag
        for d in order:
            for ev in events[i:j]:
                emit(ev, d)
        i = j
    return out, dropped
