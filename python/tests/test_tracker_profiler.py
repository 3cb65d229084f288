"""The tracker itself, on REAL CPU tensors (no fake mode): over a tiny Llama's forward and backward, its live
bytes equal what the PyTorch profiler's memory events show, at the peak and at the end."""

import json

import torch
from torch.profiler import ProfilerActivity, profile

from conftest import MODELS
from headroom_trace.build import make_config
from headroom_trace.tracker import ALLOC, Tracker

# Python numbers wrapped into 0-dim CPU tensors inside C++ never pass through the dispatcher as op
# outputs (on CUDA they stay on the host too): both sides leave out storages of a scalar's size.
SCALAR = 8


def test_tracker_live_bytes_match_the_profiler(tmp_path):
    from transformers import AutoModelForCausalLM

    config = make_config(json.loads((MODELS / "tiny-llama" / "config.json").read_text()))
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, attn_implementation="eager")
    model.train()
    ids = torch.randint(0, config.vocab_size, (2, 32))

    def step():
        out = model(input_ids=ids, labels=ids)
        loss = out.loss
        del out
        loss.backward()
        del loss

    step()  # one-time lazy buffers are made outside the measured step
    model.zero_grad(set_to_none=True)

    tracker = Tracker("model.layers.")
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        with tracker:
            tracker.phase = "forward"
            step()
    tracker.close()

    live = peak = 0
    for ev in tracker.events:
        if ev.rec.size <= SCALAR:
            continue
        live += ev.rec.size if ev.kind == ALLOC else -ev.rec.size
        peak = max(peak, live)

    path = tmp_path / "trace.json"
    prof.export_chrome_trace(str(path))
    memory = [e for e in json.loads(path.read_text())["traceEvents"] if e.get("name") == "[memory]"]
    memory.sort(key=lambda e: e["ts"])
    p_live = p_peak = 0
    for e in memory:
        b = e["args"]["Bytes"]
        if abs(b) <= SCALAR:
            continue
        p_live += b
        p_peak = max(p_peak, p_live)

    grads = sum(p.grad.untyped_storage().nbytes() for p in model.parameters())
    assert len(tracker.events) > 100
    assert live == p_live == grads  # after the step only the gradients remain
    assert peak == p_peak
