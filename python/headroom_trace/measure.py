"""Measures a training plan on a real CUDA GPU, for the published-point checks a GPU session runs.

It takes the trace engine's request (protocol 1, what `headroom-cli estimate --engine trace --trace-request`
prints), builds the model from its config with random weights (nothing is downloaded), and runs the plan's steps as
the Hugging Face Trainer does: autocast for mixed precision, the model's own loss, `loss.backward()`,
`optimizer.step()`, `zero_grad(set_to_none=True)`. It reads PyTorch's own counters, `max_memory_allocated` and
`max_memory_reserved` over the steps (the weights stay allocated, so they count), and the device's used memory after
the last step (`torch.cuda.mem_get_info`: the cached segments, never given back, plus the CUDA context and anything
else on the GPU). With `--history FILE` it also writes `torch.cuda.memory._record_memory_history`'s snapshot: every
allocation and free of the steps, the ground truth the allocator simulation (docs/estimator.md §10.3) replays.

bitsandbytes weights are refused: a model built from its config has no quantized checkpoint to load, and the GPU
image this is run on carries no bitsandbytes. On a machine without CUDA (`--device cpu`) the same loop runs and
reports no counters, which is how its code paths are tested everywhere.
"""

import argparse
import contextlib
import json
import os
import sys

from .errors import TraceError

OPTIMIZERS = ("adamw", "sgd", "sgd_momentum", "adafactor")
# At least two steps at one length: the first makes the optimizer states, the second is every later step.
MIN_STEPS = 2
HISTORY_ENTRIES = 1_000_000


def _refuse(plan, device, torch):
    if plan.task != "train":
        raise TraceError("unsupported", "plan.task: measuring runs training steps; inference is not measured",
                         "plan.task")
    if plan.bnb is not None:
        raise TraceError("unsupported", "plan.weights.bnb: bitsandbytes weights need a quantized checkpoint, "
                         "which a model built from its config does not have", "plan.weights.bnb")
    if plan.optimizer not in OPTIMIZERS:
        raise TraceError("unsupported", f"plan.optimizer: `{plan.optimizer}` is bitsandbytes'; measuring runs "
                         f"torch's and transformers' optimizers ({', '.join(OPTIMIZERS)})", "plan.optimizer")
    if plan.optimizer_in_backward:
        raise TraceError("unsupported", "plan.optimizer_in_backward: not measured", "plan.optimizer_in_backward")
    if device == "cuda" and not torch.cuda.is_available():
        raise TraceError("unsupported", "device: torch sees no CUDA GPU here", "device")


def _lengths(plan, steps):
    lengths = list(plan.sequence_lengths)
    if len(set(lengths)) == 1:
        return [lengths[0]] * max(steps, len(lengths), MIN_STEPS)
    return lengths


def measure(req, device="cuda", steps=MIN_STEPS, history=None):
    """Run the request's plan on `device` and return what it measured (a dict, JSON-ready)."""
    import torch

    from .build import autocast_dtype, build, make_config
    from .engine import _chunked_loss, make_optimizer

    plan = req.plan
    _refuse(plan, device, torch)
    cuda = device == "cuda"
    config = make_config(req.model_config)
    torch.manual_seed(0)
    with torch.device(device):
        model = build(config, plan, req.notes)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(plan, trainable, None)
    ac = autocast_dtype(plan)
    vocab = config.vocab_size
    lengths = _lengths(plan, steps)

    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        if history:
            torch.cuda.memory._record_memory_history(max_entries=HISTORY_ENTRIES)
    losses = []
    for seq in lengths:
        ids = torch.randint(0, vocab, (plan.batch_size, seq), device=device)
        labels = ids.clone()
        autocast = torch.autocast(device_type=device, dtype=ac) if ac is not None else contextlib.nullcontext()
        with autocast:
            if plan.chunked_loss:
                loss = _chunked_loss(model, ids, labels)
            else:
                loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        losses.append(float(loss.detach()))
        del loss
        opt.step()
        opt.zero_grad(set_to_none=True)
        del ids, labels

    result = {
        "device": device,
        "lengths": lengths,
        "batch_size": plan.batch_size,
        "losses_finite": all(x == x and abs(x) != float("inf") for x in losses),
        "trainable_parameters": sum(p.numel() for p in trainable),
        "versions": {"torch": torch.__version__},
    }
    try:
        import transformers

        result["versions"]["transformers"] = transformers.__version__
        import peft

        result["versions"]["peft"] = peft.__version__
    except ImportError:
        pass
    if cuda:
        torch.cuda.synchronize()
        free, total = torch.cuda.mem_get_info()
        result.update({
            "gpu": torch.cuda.get_device_name(),
            "allocated_peak_bytes": torch.cuda.max_memory_allocated(),
            "reserved_peak_bytes": torch.cuda.max_memory_reserved(),
            "device_used_after_bytes": total - free,
            "gpu_total_bytes": total,
        })
        if history:
            torch.cuda.memory._dump_snapshot(history)
            torch.cuda.memory._record_memory_history(enabled=None)
            result["history"] = os.path.basename(history)
    return result


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m headroom_trace.measure", description=__doc__.splitlines()[0])
    ap.add_argument("request", help="a trace request (protocol 1) as JSON; - reads stdin")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--steps", type=int, default=MIN_STEPS,
                    help="steps when the plan has one length (at least 2)")
    ap.add_argument("--history", help="write the CUDA allocator's history snapshot (a pickle) here")
    args = ap.parse_args(argv)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    from .request import parse_request

    try:
        text = sys.stdin.read() if args.request == "-" else open(args.request, encoding="utf-8").read()
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as e:
            raise TraceError("bad_request", f"request: not JSON ({e.msg} at line {e.lineno})", None) from None
        result = measure(parse_request(raw), args.device, args.steps, args.history)
    except TraceError as e:
        print(json.dumps(e.to_event()))
        return e.exit_status
    except OSError as e:
        print(json.dumps({"event": "error", "code": "bad_request", "field": "request", "message": str(e)}))
        return 2
    print(json.dumps({"event": "measured", **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
