"""The trace engine against published measurements (tests/fixtures/estimate/measured-visible.jsonl), beside the
analytic engine. Each usable single-GPU point becomes a trace request the way tests/core/estimate/accuracy.rs
makes it a plan; the total compared follows what the source read (allocated, reserved, or the device:
reserved + managed + the CUDA context). Prints a table per point and a summary by source and method.

Usage: python accuracy.py [--cli PATH_TO_headroom-cli] [--only SUBSTRING]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

GIB = float(1 << 30)
CUDA_CONTEXT_BYTES = 500 * 1024 * 1024  # src-tauri/core/src/estimate/engine.rs CUDA_CONTEXT_BYTES


def s(row, key):
    v = row.get(key)
    return v if isinstance(v, str) else ""


def total_kind(metric):
    if "nvidia-smi" in metric or "pynvml" in metric:
        return "device"
    if "reserved" in metric and "unspecified" not in metric:
        return "reserved"
    return "allocated"


def to_plans(row, family=""):
    """(trace plan, analytic plan) for a row, or raise ValueError saying why it is not usable."""
    model = s(row, "model_id")
    method, task, framework = s(row, "method"), s(row, "task"), s(row, "framework")
    precision_text = s(row, "weight_precision")
    extra = row.get("extra") if isinstance(row.get("extra"), dict) else {}
    extra_text = json.dumps(extra)
    gpus = row.get("num_gpus") or 1
    dist = row.get("distributed") if isinstance(row.get("distributed"), dict) else {}
    if gpus > 1 or "deepspeed" in s(dist, "strategy"):
        raise ValueError("multi-GPU: the trace is per single GPU")
    batch = row.get("micro_batch_size")
    if not isinstance(batch, int):
        raise ValueError("no micro-batch size")
    nf4 = "nf4" in precision_text
    if nf4:
        quant = "int4_double" if ("+ double" in precision_text or "torchao" in precision_text) else "int4"
    elif precision_text.startswith("bf16"):
        quant = "bf16"
    elif precision_text.startswith("fp32"):
        quant = "fp32"
    else:
        raise ValueError(f"weight precision `{precision_text}` not mapped")
    litgpt = "litgpt" in framework or "lit-gpt" in framework
    torchtune = "torchtune" in framework
    analytic = {"model": {"id": model}, "batch_size": batch, "quantization": quant}
    bnb = None
    if nf4:
        bnb = {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": quant == "int4_double",
               "bnb_4bit_compute_dtype": "bf16"}
        if litgpt:
            analytic["quantize_lm_head"] = True
            bnb["llm_int8_skip_modules"] = []  # lit-gpt quantizes every nn.Linear, lm_head included
    weights = {"bnb": bnb} if bnb else {"dtype": "bf16" if quant == "bf16" else "fp32"}
    if task == "infer":
        kv = row.get("kv_cache_tokens")
        if not isinstance(kv, int):
            raise ValueError("no context length")
        gen = row.get("generated_tokens") or 0
        prompt = row.get("prompt_len") or (kv - gen)
        analytic.update({"task": "infer", "sequence_length": max(prompt, 1), "new_tokens": gen})
        trace = {"task": "infer", "precision": "bf16-true" if quant != "fp32" else "fp32", "weights": weights,
                 "batch_size": batch, "sequence_length": max(prompt, 1), "new_tokens": gen, "attention": "sdpa"}
        if "4.38" in framework:
            analytic["prefill_logits"] = trace["prefill_logits"] = "all"
        return trace, analytic
    if task != "train":
        raise ValueError(f"task `{task}` is not one the estimator models")
    seq = row.get("seq_len")
    if not isinstance(seq, int):
        raise ValueError("sequence length not fixed")
    m = {"full": "full", "lora": "qlora" if nf4 else "lora", "qlora": "qlora"}.get(method)
    if m is None:
        raise ValueError(f"method `{method}` is not one the estimator models")
    mp = s(row, "mixed_precision")
    precision = "bf16-true" if "bf16" in mp else ("fp32" if precision_text.startswith("fp32") else "bf16-mixed")
    analytic.update({"task": "train", "sequence_length": seq, "method": m, "precision": precision})
    if torchtune or litgpt:
        # Neither uses PEFT's prepare_model_for_kbit_training.
        analytic["kbit_upcast"] = False
    trace = {"task": "train", "method": m, "precision": precision, "weights": weights, "batch_size": batch,
             "sequence_length": seq, "attention": "sdpa", "kbit_upcast": not (torchtune or litgpt)}
    lora = row.get("lora")
    if isinstance(lora, dict):
        targets = []
        names = lora.get("target_modules")
        if not isinstance(names, list):
            raise ValueError("LoRA targets not given as a list")
        for n in names:
            mapped = {"query": "q_proj", "q_proj": "q_proj", "key": "k_proj", "k_proj": "k_proj",
                      "value": "v_proj", "v_proj": "v_proj", "o_proj": "o_proj"}.get(n)
            if mapped is None and n.startswith("output_proj"):
                mapped = "o_proj"
            if mapped is None:
                raise ValueError(f"LoRA target `{n}` not mapped")
            targets.append(mapped)
        if lora.get("lora_to_mlp") is True:
            targets += ["gate_proj", "up_proj", "down_proj"]
        if family == "gpt_neox":
            targets = ["query_key_value"]  # q and v live in the fused query_key_value layer
        dropout = lora.get("dropout")
        if not isinstance(dropout, (int, float)):
            dropout = 0.05 if litgpt else 0.0
        spec = {"rank": lora.get("rank") or 8, "target_modules": targets, "dropout": dropout,
                "dtype": "bf16" if "bf16" in mp else "fp32"}
        analytic["lora"] = dict(spec)
        trace["lora"] = dict(spec, alpha=2 * spec["rank"])
    elif m in ("lora", "qlora"):
        trace["lora"] = {"rank": 8, "alpha": 16, "dropout": 0.0, "target_modules": "all-linear"}
    opt = s(row, "optimizer").lower()
    if "pagedadamw8bit" in opt:
        o = "paged_adamw_8bit"
    elif "pagedadamw" in opt:
        o = "paged_adamw_32bit"
    elif "adamw" in opt:
        o = "adamw"
    else:
        raise ValueError(f"optimizer `{opt}` not mapped")
    analytic["optimizer"] = trace["optimizer"] = o
    if "optimizer_in_bwd=true" in opt or extra.get("optimizer_in_backward") is True:
        analytic["optimizer_in_backward"] = trace["optimizer_in_backward"] = True
    if isinstance(row.get("gradient_accumulation_steps"), int):
        analytic["gradient_accumulation_steps"] = row["gradient_accumulation_steps"]
    gc = row.get("gradient_checkpointing") is True
    analytic["gradient_checkpointing"] = trace["gradient_checkpointing"] = gc
    chunked = extra.get("chunked_cross_entropy") is True or "CEWithChunkedOutputLoss" in extra_text
    analytic["chunked_loss"] = trace["chunked_loss"] = chunked
    if extra.get("torch_compile") is True:
        analytic["torch_compile"] = True
    if extra.get("activation_offloading_to_cpu") is True:
        analytic["activation_offload"] = True
    return trace, analytic


def model_config(model_id, catalog):
    config = catalog.get(model_id)
    if config is None:
        raise ValueError(f"no config for {model_id} in the catalog")
    return {k: v for k, v in config.items() if k != "torch_dtype"}


def analytic_total(cli, plan, kind):
    if cli is None:
        return None
    proc = subprocess.run([cli, "estimate", "--plan", "-", "--json"], input=json.dumps(plan), capture_output=True,
                          text=True, timeout=120)
    if proc.returncode != 0:
        return None
    g = json.loads(proc.stdout)["per_gpu"]
    return {"device": g["device_peak_bytes"], "reserved": g["reserved_peak_bytes"],
            "allocated": g["allocated_peak_bytes"]}[kind]


def trace_total(result, kind):
    if kind == "device":
        return result["reserved_peak_bytes"] + result["managed_bytes"] + CUDA_CONTEXT_BYTES
    if kind == "reserved":
        return result["reserved_peak_bytes"]
    return result["allocated_peak_bytes"]


def main():
    from headroom_trace.engine import run
    from headroom_trace.errors import TraceError
    from headroom_trace.request import parse_request

    ap = argparse.ArgumentParser()
    default_cli = Path("/work/main/target/debug/headroom-cli")
    ap.add_argument("--cli", default=str(default_cli) if default_cli.exists() else None)
    ap.add_argument("--only", default=None)
    args = ap.parse_args()
    catalog = {e["id"]: e["config"] for e in json.loads((REPO / "src-tauri/core/src/model/catalog.json").read_text())}
    rows = [json.loads(line) for line in (REPO / "tests/fixtures/estimate/measured-visible.jsonl").read_text().splitlines()
            if line.strip()]
    out = []
    print(f"{'id':36} {'metric':9} {'measured':>8} {'trace':>8} {'err':>7} {'analytic':>8} {'err':>7} {'s':>5}")
    for row in rows:
        rid = s(row, "id")
        if args.only and args.only not in rid:
            continue
        if s(row, "measurement_kind") != "peak" or s(row, "confidence") == "low":
            continue
        measured = row.get("peak_gib_normalized")
        if not isinstance(measured, (int, float)):
            continue
        try:
            config = model_config(s(row, "model_id"), catalog)
            trace_plan, analytic_plan = to_plans(row, config.get("model_type", ""))
        except ValueError as e:
            print(f"skip {rid}: {e}")
            continue
        kind = total_kind(row["measured_peak"].get("metric", ""))
        start = time.monotonic()
        try:
            req = parse_request({"protocol": 1, "model_config": config, "plan": trace_plan, "time_limit_s": 600})
            result = run(req, lambda *a: None)
        except TraceError as e:
            print(f"skip {rid}: trace error {e.code}: {e.message}")
            continue
        except Exception as e:  # noqa: BLE001 - one failing point must not end the report
            print(f"skip {rid}: trace failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            continue
        elapsed = time.monotonic() - start
        t = trace_total(result, kind) / GIB
        a = analytic_total(args.cli, analytic_plan, kind)
        a = a / GIB if a is not None else None
        te = (t - measured) / measured
        ae = (a - measured) / measured if a is not None else None
        out.append((s(row, "source_key"), trace_plan.get("method", "infer"), te, ae))
        print(f"{rid:36} {kind:9} {measured:8.2f} {t:8.2f} {te * 100:+6.1f}% "
              + (f"{a:8.2f} {ae * 100:+6.1f}%" if a is not None else f"{'-':>8} {'-':>7}") + f" {elapsed:5.1f}",
              flush=True)
    print()
    print(f"{'source':28} {'method':6} {'n':>3} {'trace median err':>16} {'analytic median err':>19}")
    groups = {}
    for src, method, te, ae in out:
        groups.setdefault((src, method), []).append((te, ae))
    for (src, method), vals in sorted(groups.items()):
        tm = statistics.median(v[0] for v in vals)
        avals = [v[1] for v in vals if v[1] is not None]
        am = f"{statistics.median(avals) * 100:+.1f}%" if avals else "-"
        print(f"{src:28} {method:6} {len(vals):>3} {tm * 100:>+15.1f}% {am:>19}")
    if out:
        print(f"{'all':28} {'':6} {len(out):>3} {statistics.median(v[2] for v in out) * 100:>+15.1f}% "
              f"{statistics.median(v[3] for v in out if v[3] is not None) * 100 if any(v[3] is not None for v in out) else 0:>+18.1f}%")
        print(f"median |error|: trace {statistics.median(abs(v[2]) for v in out) * 100:.1f}%"
              + (f", analytic {statistics.median(abs(v[3]) for v in out if v[3] is not None) * 100:.1f}%"
                 if any(v[3] is not None for v in out) else ""))


if __name__ == "__main__":
    main()
