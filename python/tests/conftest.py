"""Shared helpers for the trace engine's tests: the package is imported from python/, fixtures from tests/."""

import json
import os
import sys
from pathlib import Path

PYTHON_DIR = Path(__file__).resolve().parents[1]
REPO = PYTHON_DIR.parent
MODELS = REPO / "tests" / "fixtures" / "models"

if str(PYTHON_DIR) not in sys.path:
    sys.path.insert(0, str(PYTHON_DIR))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def tiny_configs():
    return sorted(p.parent.name for p in MODELS.glob("*/config.json"))


def tiny_config(name):
    return json.loads((MODELS / name / "config.json").read_text())


def train_plan(method, **over):
    plan = {"task": "train", "method": method, "precision": "bf16-mixed", "weights": {"dtype": "bf16"},
            "optimizer": "adamw", "batch_size": 2, "sequence_length": 64, "gradient_checkpointing": True,
            "attention": "sdpa"}
    if method in ("lora", "qlora"):
        plan["lora"] = {"rank": 8, "alpha": 16, "dropout": 0.05, "target_modules": "all-linear"}
    if method == "qlora":
        plan["weights"] = {"bnb": {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
                                   "bnb_4bit_use_double_quant": True, "bnb_4bit_compute_dtype": "bf16"}}
    plan.update(over)
    return plan


def infer_plan(**over):
    plan = {"task": "infer", "precision": "bf16-true", "weights": {"dtype": "bf16"}, "batch_size": 1,
            "sequence_length": 64, "new_tokens": 8, "attention": "sdpa"}
    plan.update(over)
    return plan


def trace(config, plan, layers=None, time_limit_s=300, expandable_segments=False):
    from headroom_trace.engine import run
    from headroom_trace.request import parse_request

    req = parse_request({"protocol": 1, "model_config": config, "plan": plan, "layers": layers,
                         "time_limit_s": time_limit_s,
                         "allocator": {"expandable_segments": expandable_segments}})
    return run(req, lambda *a: None)
