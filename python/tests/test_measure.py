"""The GPU measurement's loop (headroom_trace.measure), run on the CPU: the same build and steps a GPU session
runs, without the CUDA counters, and its refusals, each naming the field."""

import json

import pytest

from conftest import tiny_config, train_plan
from headroom_trace.errors import TraceError
from headroom_trace.measure import main, measure
from headroom_trace.request import parse_request


def request(plan, model="tiny-llama"):
    return {"protocol": 1, "model_config": tiny_config(model), "plan": plan, "layers": None, "time_limit_s": 300}


def test_lora_steps_run_over_the_plans_lengths():
    plan = train_plan("lora", sequence_lengths=[16, 48, 32], sequence_length=48)
    r = measure(parse_request(request(plan)), device="cpu")
    assert r["lengths"] == [16, 48, 32]
    assert r["batch_size"] == 2
    assert r["losses_finite"]
    # rank 8 on every linear of the tiny model: what PEFT makes trainable, nothing of the base.
    assert 0 < r["trainable_parameters"] < 100_000
    assert "allocated_peak_bytes" not in r  # no CUDA counters on the CPU


def test_one_length_runs_at_least_two_steps():
    r = measure(parse_request(request(train_plan("full", sequence_length=32))), device="cpu", steps=1)
    assert r["lengths"] == [32, 32]
    r = measure(parse_request(request(train_plan("full", sequence_length=32))), device="cpu", steps=3)
    assert r["lengths"] == [32, 32, 32]


@pytest.mark.parametrize("plan, field", [
    (train_plan("qlora"), "plan.weights.bnb"),
    (train_plan("lora", optimizer="paged_adamw_8bit"), "plan.optimizer"),
])
def test_refusals_name_the_field(plan, field):
    with pytest.raises(TraceError) as e:
        measure(parse_request(request(plan)), device="cpu")
    assert e.value.field == field and e.value.code == "unsupported"


def test_the_command_line_prints_one_json_line(tmp_path, capsys):
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request(train_plan("lora", sequence_length=24))))
    assert main([str(path), "--device", "cpu"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["event"] == "measured" and out["lengths"] == [24, 24]
    path.write_text("{")
    assert main([str(path), "--device", "cpu"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["event"] == "error" and out["code"] == "bad_request"


def test_cuda_is_refused_where_torch_sees_none(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a machine with a GPU")
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request(train_plan("lora"))))
    assert main([str(path)]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["field"] == "device"


def test_the_device_comparison_reads_what_run_sh_writes(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    gib = 1 << 30
    est = [
        {"id": "p-fixed", "allocated_peak_bytes": 10 * gib, "reserved_peak_bytes": 11 * gib,
         "range": {"allocated_peak_bytes": {"low": 9 * gib, "high": 12 * gib},
                   "reserved_peak_bytes": {"low": 10 * gib, "high": 13 * gib}}},
        {"id": "p-records", "allocated_peak_bytes": 10 * gib, "reserved_peak_bytes": 14 * gib,
         "range": {"allocated_peak_bytes": {"low": 9 * gib, "high": 12 * gib},
                   "reserved_peak_bytes": {"low": 10 * gib, "high": 15 * gib}}},
    ]
    meas = [
        {"id": "p-fixed", "result": {"event": "measured", "allocated_peak_bytes": 10 * gib,
                                     "reserved_peak_bytes": 12 * gib}},
        {"id": "p-records", "result": {"event": "measured", "allocated_peak_bytes": 10 * gib,
                                       "reserved_peak_bytes": 16 * gib}},
        {"id": "q-fixed", "result": {"event": "error", "message": "plan.weights.bnb: refused"}},
    ]
    e, m = tmp_path / "e.jsonl", tmp_path / "m.jsonl"
    e.write_text("".join(json.dumps(x) + "\n" for x in est))
    m.write_text("".join(json.dumps(x) + "\n" for x in meas))
    script = Path(__file__).resolve().parents[2] / "scripts" / "device" / "compare.py"
    out = subprocess.run([sys.executable, str(script), str(m), str(e)], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0].startswith("p-fixed") and "reserved   12.00 GiB est   11.00" in out[0] and "OUT" not in out[0]
    assert out[1].startswith("p-records") and out[1].endswith("OUT")  # 16 GiB above the 15 GiB upper end
    assert out[2].startswith("q-fixed") and "no estimate" in out[2]
    assert "measured   4.00 GiB, the engine   3.00 GiB" in out[3]
