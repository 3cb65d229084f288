"""`python -m headroom_trace` as the core runs it: request on stdin, JSON lines out, exit status by error."""

import json
import os
import subprocess
import sys

from conftest import PYTHON_DIR, tiny_config, train_plan


def run_cli(request, timeout=600):
    env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR))
    text = request if isinstance(request, str) else json.dumps(request)
    proc = subprocess.run([sys.executable, "-m", "headroom_trace"], input=text, capture_output=True, text=True,
                          env=env, timeout=timeout, cwd="/")
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return proc.returncode, lines, proc.stderr


def request(**over):
    req = {"protocol": 1, "model_config": tiny_config("tiny-llama"), "plan": train_plan("lora"),
           "allocator": {"expandable_segments": False}, "layers": None, "time_limit_s": 300}
    req.update(over)
    return req


def test_a_trace_prints_progress_then_one_result():
    status, lines, err = run_cli(request())
    assert status == 0, err
    assert all(line["event"] == "progress" for line in lines[:-1]) and len(lines) > 2
    assert all(0.0 <= line["fraction"] <= 1.0 for line in lines[:-1])
    result = lines[-1]
    assert result["event"] == "result" and result["engine"] == "trace"
    assert sum(result["components"].values()) == result["allocated_peak_bytes"]
    assert set(result["versions"]) == {"python", "torch", "transformers", "peft"}


def test_unknown_model_type_exits_2():
    config = dict(tiny_config("tiny-llama"), model_type="no-such-architecture")
    status, lines, _ = run_cli(request(model_config=config))
    assert status == 2
    assert lines[-1]["event"] == "error"
    assert lines[-1]["code"] == "unknown_model_type"
    assert lines[-1]["field"] == "model_config.model_type"


def test_bad_request_names_the_field():
    plan = train_plan("lora")
    plan["lora"]["rank"] = 0
    status, lines, _ = run_cli(request(plan=plan))
    assert status == 2
    assert lines == [{"event": "error", "code": "bad_request", "field": "plan.lora.rank",
                      "message": "plan.lora.rank: must be at least 1, not 0"}]
    status, lines, _ = run_cli("{not json")
    assert status == 2 and lines[-1]["code"] == "bad_request"
    status, lines, _ = run_cli(request(plan=dict(train_plan("full"), optimizer="lion")))
    assert status == 2 and lines[-1]["field"] == "plan.optimizer"


def test_a_time_limit_too_small_is_time_limit():
    status, lines, _ = run_cli(request(time_limit_s=0.01))
    assert status == 1
    assert lines[-1]["event"] == "error" and lines[-1]["code"] == "time_limit"
