"""Records the calibration grid: plans across the catalog's architectures, methods, presets, batch and
sequence shapes, checkpointing and optimizers, each estimated by the trace engine (the model's real code on
fake tensors). `headroom-cli estimate --engine trace --trace-request` builds each request exactly as the app
does; this process runs them all, so torch is imported once. Training plans on a rotating subset are traced
a second time with variable sequence lengths (a dataset padded per batch), whose reserved peak shows the
caching allocator's fragmentation.

The result, tests/fixtures/estimate/trace-grid.jsonl, is what tests/core/estimate/trace_grid.rs holds the
analytic engine to (docs/estimator.md §12). Rerun it when the trace package or the pinned torch/transformers/peft
change, and commit the new file with the versions it names.

Usage: VENV/bin/python trace_grid.py [--cli target/debug/headroom-cli] [--only SUBSTRING] [--out FILE]
       [--limit N] [--resume]
"""

import argparse
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = REPO / "tests/fixtures/estimate/trace-grid.jsonl"

# Small members of each family trace in seconds and exercise the same per-layer code as their large siblings;
# one 8B model keeps the large-vocabulary, large-width case honest.
TRAIN_MODELS = [
    "meta-llama/Llama-3.2-1B",
    "Qwen/Qwen2.5-0.5B-Instruct",
    "google/gemma-2-2b",
    "microsoft/Phi-3-mini-4k-instruct",
    "Qwen/Qwen3-0.6B",
    "meta-llama/Llama-3.1-8B",
]
MOE_MODELS = []
# Gemma-2 attends eagerly (its logit soft-capping): b·a·s² score matrices make each of its traces minutes long on
# a 2-core machine, so it covers the full, LoRA and bf16-adapter configurations only.
SLOW_MODELS = {"google/gemma-2-2b": 5}

ALL_LINEAR = "all-linear"
ATTENTION_ONLY = ["q_proj", "v_proj"]

# (name, plan keys) per method and preset; LoRA settings follow PEFT's defaults where the plan leaves them.
TRAIN_CONFIGS = [
    ("full-bf16true", {"method": "full", "quantization": "bf16", "precision": "bf16-true"}),
    ("full-mixed", {"method": "full", "quantization": "fp32", "precision": "bf16-mixed"}),
    ("lora-all", {"method": "lora", "quantization": "bf16", "precision": "bf16-mixed",
                  "lora": {"rank": 16, "target_modules": ALL_LINEAR, "dropout": 0.05}}),
    ("lora-qv", {"method": "lora", "quantization": "bf16", "precision": "bf16-mixed",
                 "lora": {"rank": 8, "target_modules": ATTENTION_ONLY}}),
    ("lora-bf16adapters", {"method": "lora", "quantization": "bf16", "precision": "bf16-true",
                           "lora": {"rank": 16, "target_modules": ALL_LINEAR, "dtype": "bf16"}}),
    ("qlora-all", {"method": "qlora", "quantization": "int4", "precision": "bf16-mixed",
                   "lora": {"rank": 16, "target_modules": ALL_LINEAR, "dropout": 0.05}}),
    ("qlora-double-qv", {"method": "qlora", "quantization": "int4_double", "precision": "bf16-mixed",
                         "lora": {"rank": 8, "target_modules": ATTENTION_ONLY}}),
    ("lora-int8", {"method": "lora", "quantization": "int8", "precision": "fp16-mixed",
                   "lora": {"rank": 16, "target_modules": ATTENTION_ONLY}}),
    ("freeze", {"method": "freeze", "quantization": "bf16", "precision": "bf16-true",
                "freeze_trainable_layers": 2}),
]
SHAPES = [(1, 512), (2, 1024), (4, 2048), (1, 4096)]
OPTIMIZERS = ["adamw", "paged_adamw_8bit", "adamw_8bit"]
FREED_BLOCK_POINTS = [
    ("meta-llama/Llama-3.1-8B", "full-bf16true", 1, 2048, "paged_adamw_8bit"),
    ("meta-llama/Llama-3.1-8B", "full-bf16true", 1, 2048, "adamw_8bit"),
    ("Qwen/Qwen2.5-0.5B-Instruct", "full-bf16true", 1, 256, "paged_adamw_8bit"),
]
INFER_CONFIGS = [("infer-bf16", {"quantization": "bf16"}), ("infer-int4", {"quantization": "int4"})]
INFER_SHAPES = [(2, 1024, 256)]


def lengths_for(s):
    """A dataset's sample lengths padded per batch: four steps whose longest is the plan's length."""
    return [s // 2, s, s // 4, (3 * s) // 4]


def grid():
    """Every grid point as (id, plan, variable-length?). Shapes, checkpointing and optimizers rotate over
    models and configs so that each value meets each method without a full product."""
    points = []
    combos = list(itertools.product(range(len(SHAPES)), (True, False)))
    k = 0
    for mi, model in enumerate(TRAIN_MODELS + MOE_MODELS):
        moe = model in MOE_MODELS
        for ci, (name, keys) in enumerate(TRAIN_CONFIGS):
            if ci >= SLOW_MODELS.get(model, len(TRAIN_CONFIGS)):
                continue
            if moe and (name.startswith("qlora") or name in ("lora-int8", "full-mixed", "full-bf16true")):
                # The trace does not quantize fused expert weights; a 30B full fine-tune is not a plan anyone runs.
                continue
            for rep in range(1):
                si, ckpt = combos[(mi * 3 + ci * 5 + rep * 3) % len(combos)]
                b, s = SHAPES[si]
                if not ckpt and b * s > 4096 and model == "meta-llama/Llama-3.1-8B":
                    b, s = SHAPES[(si + 1) % 2]
                opt = OPTIMIZERS[(mi + ci + rep) % len(OPTIMIZERS)]
                plan = {"model": {"id": model}, "task": "train", **json.loads(json.dumps(keys)),
                        "batch_size": b, "sequence_length": s, "gradient_checkpointing": ckpt, "optimizer": opt}
                variable = (k % 3 == 0) and not name.startswith("freeze")
                pid = f"{model.split('/')[-1]}/{name}/b{b}s{s}/{'ckpt' if ckpt else 'nockpt'}/{opt}"
                points.append((pid, plan, variable))
                k += 1
    # Beyond the rotation, for the allocator model of a step's own freed blocks (docs/estimator.md §10.3): full
    # fine-tuning without checkpointing whose gradients outgrow the activation blocks backward frees, with paged
    # 8-bit states (outside the allocator: the blocks stay free) and unpaged ones (made after the first backward:
    # they fill them), and a small model whose gradients fit in those blocks.
    configs = dict(TRAIN_CONFIGS)
    for model, name, b, s, opt in FREED_BLOCK_POINTS:
        plan = {"model": {"id": model}, "task": "train", **json.loads(json.dumps(configs[name])),
                "batch_size": b, "sequence_length": s, "gradient_checkpointing": False, "optimizer": opt}
        points.append((f"{model.split('/')[-1]}/{name}/b{b}s{s}/nockpt/{opt}", plan, False))
    for model in TRAIN_MODELS:
        for name, keys in INFER_CONFIGS:
            for b, s, gen in INFER_SHAPES:
                plan = {"model": {"id": model}, "task": "infer", **keys, "batch_size": b, "sequence_length": s,
                        "new_tokens": gen}
                points.append((f"{model.split('/')[-1]}/{name}/b{b}s{s}g{gen}", plan, False))
    # One id per point: the rotation may land two repetitions on the same shape.
    seen, unique = set(), []
    for p in points:
        if p[0] not in seen:
            seen.add(p[0])
            unique.append(p)
    return unique


def trace(cli, plan, extra):
    """The trace's totals for a plan: the CLI builds the request, the package (imported here) runs it."""
    from headroom_trace.engine import run
    from headroom_trace.request import parse_request

    proc = subprocess.run([cli, "estimate", "--plan", "-", "--engine", "trace", "--trace-request", *extra],
                          input=json.dumps(plan), capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}")
    result = run(parse_request(json.loads(proc.stdout)), lambda *a: None)
    return {"allocated_peak_bytes": int(result["allocated_peak_bytes"]),
            "reserved_peak_bytes": int(result["reserved_peak_bytes"]),
            "components": {k: int(v) for k, v in result["components"].items()}}


def versions():
    import peft
    import torch
    import transformers

    return {"python": sys.version.split()[0], "torch": torch.__version__, "transformers": transformers.__version__,
            "peft": peft.__version__}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", default=str(REPO / "target/debug/headroom-cli"))
    ap.add_argument("--only", default=None)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--resume", action="store_true", help="keep the points already in --out")
    args = ap.parse_args()
    env_versions = versions()
    points = [p for p in grid() if not args.only or args.only in p[0]]
    if args.limit:
        points = points[: args.limit]
    rows, failed = [], []
    done = set()
    if args.resume and Path(args.out).exists():
        done = {json.loads(line).get("id") for line in Path(args.out).read_text().splitlines()[1:] if line.strip()}
        out = open(args.out, "a")
    else:
        out = open(args.out, "w")
        out.write(json.dumps({"header": {"generator": "python/trace_grid.py",
                                         "recorded": time.strftime("%Y-%m-%d", time.gmtime()),
                                         "versions": env_versions}}) + "\n")
    for i, (pid, plan, variable) in enumerate(points):
        if pid in done:
            continue
        start = time.monotonic()
        try:
            row = {"id": pid, "plan": plan, "trace": trace(args.cli, plan, [])}
            if variable:
                lengths = lengths_for(plan["sequence_length"])
                var = trace(args.cli, plan, ["--sequence-lengths", ",".join(map(str, lengths))])
                row["trace_variable"] = {"sequence_lengths": lengths,
                                         "allocated_peak_bytes": var["allocated_peak_bytes"],
                                         "reserved_peak_bytes": var["reserved_peak_bytes"]}
        except Exception as e:  # noqa: BLE001 - one failing point must not end the grid
            e = f"{type(e).__name__}: {e}"
            failed.append((pid, str(e)))
            print(f"[{i + 1}/{len(points)}] {pid}: FAILED {e}", flush=True)
            continue
        rows.append(row)
        out.write(json.dumps(row, sort_keys=True) + "\n")
        out.flush()
        t = row["trace"]
        extra = ""
        if "trace_variable" in row:
            v = row["trace_variable"]
            extra = f" variable reserved {v['reserved_peak_bytes'] / 2**30:.2f}"
        print(f"[{i + 1}/{len(points)}] {pid}: allocated {t['allocated_peak_bytes'] / 2**30:.2f} GiB, reserved "
              f"{t['reserved_peak_bytes'] / 2**30:.2f}{extra} ({time.monotonic() - start:.0f} s)", flush=True)
    out.close()
    print(f"wrote {len(rows)} points to {args.out}; {len(failed)} failed")


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(HERE))
    main()
