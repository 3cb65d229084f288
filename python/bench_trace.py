"""Benchmark of the trace engine: wall and CPU time of `python -m headroom_trace` for catalog models.

Usage: python bench_trace.py [--repeat N]
Targets (issue 12): Llama-3.1-8B LoRA at sequence 2048 under 15 s; a 70B under 60 s, on a 2-core machine.
The wall time includes starting Python and importing torch/transformers/peft, as the app pays it.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CATALOG = HERE.parent / "src-tauri" / "core" / "src" / "model" / "catalog.json"

CASES = [
    ("meta-llama/Llama-3.1-8B", "lora", 2048),
    ("meta-llama/Llama-3.1-8B", "qlora", 2048),
    ("meta-llama/Llama-3.1-8B", "full", 2048),
    ("meta-llama/Llama-3.1-70B", "lora", 2048),
    ("meta-llama/Llama-3.1-70B", "qlora", 2048),
]


def plan(method, seq):
    p = {"task": "train", "method": method, "precision": "bf16-mixed", "weights": {"dtype": "bf16"},
         "optimizer": "adamw", "batch_size": 1, "sequence_length": seq, "gradient_checkpointing": True,
         "attention": "sdpa"}
    if method in ("lora", "qlora"):
        p["lora"] = {"rank": 16, "alpha": 32, "dropout": 0.05, "target_modules": "all-linear"}
    if method == "qlora":
        p["weights"] = {"bnb": {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
                                "bnb_4bit_use_double_quant": True, "bnb_4bit_compute_dtype": "bf16"}}
    return p


def run(config, method, seq):
    req = {"protocol": 1, "model_config": config, "plan": plan(method, seq), "layers": None, "time_limit_s": 600}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "headroom_trace"], input=json.dumps(req), capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(HERE)))
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    last = json.loads(proc.stdout.splitlines()[-1])
    if last["event"] != "result":
        raise SystemExit(f"trace failed: {last}\n{proc.stderr[-2000:]}")
    return wall, cpu, last


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    catalog = {e["id"]: e["config"] for e in json.loads(CATALOG.read_text())}
    print(f"{'model':28} {'method':6} {'seq':>5} {'wall s':>7} {'cpu s':>7} {'trace s':>7} "
          f"{'allocated GiB':>13} {'reserved GiB':>12} peak")
    for model, method, seq in CASES:
        for _ in range(args.repeat):
            wall, cpu, r = run(catalog[model], method, seq)
            print(f"{model.split('/')[-1]:28} {method:6} {seq:>5} {wall:7.1f} {cpu:7.1f} {r['elapsed_s']:7.1f} "
                  f"{r['allocated_peak_bytes'] / 2**30:13.2f} {r['reserved_peak_bytes'] / 2**30:12.2f} "
                  f"{r['peak']['phase']} {r['peak']['module']}", flush=True)


if __name__ == "__main__":
    main()
