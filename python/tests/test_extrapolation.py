"""Tracing 3 decoder layers and repeating the middle one gives what tracing them all gives (within 1%)."""

import json

import pytest

from conftest import MODELS, infer_plan, trace, train_plan

# A scaled-down Llama with 8 identical layers.
LLAMA8 = {"model_type": "llama", "hidden_size": 256, "intermediate_size": 704, "num_hidden_layers": 8,
          "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 32, "vocab_size": 2048,
          "max_position_embeddings": 4096, "tie_word_embeddings": False}

PLANS = {
    "lora-gc": train_plan("lora", sequence_length=256),
    "lora": train_plan("lora", sequence_length=256, gradient_checkpointing=False),
    "full-gc": train_plan("full", sequence_length=128),
    "full-8bit-adam": train_plan("full", sequence_length=128, gradient_checkpointing=False, optimizer="adamw_8bit"),
    "qlora-paged": train_plan("qlora", sequence_length=256, optimizer="paged_adamw_8bit"),
    "infer": infer_plan(sequence_length=256, new_tokens=8),
    "infer-long-decode": infer_plan(sequence_length=64, new_tokens=40),
    "lora-chunked-loss": train_plan("lora", sequence_length=256, chunked_loss=True),
}


def close(a, b, tol=0.01):
    return abs(a - b) <= tol * b


def compare(config, plan):
    full = trace(config, plan, layers=config["num_hidden_layers"])
    extra = trace(config, plan, layers=3)
    assert not full["layers"]["extrapolated"] and extra["layers"]["extrapolated"]
    assert extra["layers"] == {"traced": 3, "total": config["num_hidden_layers"], "extrapolated": True}
    assert extra["parameters"] == full["parameters"]
    assert close(extra["allocated_peak_bytes"], full["allocated_peak_bytes"])
    assert close(extra["reserved_peak_bytes"], full["reserved_peak_bytes"])
    assert extra["peak"]["phase"] == full["peak"]["phase"]
    assert not [n for n in extra["notes"] if "dropped" in n]
    return full, extra


@pytest.mark.parametrize("plan", sorted(PLANS))
def test_scaled_llama_extrapolates_within_one_percent(plan):
    compare(LLAMA8, PLANS[plan])


@pytest.mark.parametrize("name,method", [("tiny-llama", "lora"), ("tiny-qwen2", "qlora"), ("tiny-mistral", "full"),
                                         ("tiny-mixtral", "full"), ("tiny-qwen3-moe", "full"), ("tiny-phi3", "lora")])
def test_tiny_checkpoints_deepened_extrapolate_within_one_percent(name, method):
    # The fixtures have 2 layers; give their configs 6 so that there is something to extrapolate.
    config = json.loads((MODELS / name / "config.json").read_text())
    config["num_hidden_layers"] = 6
    if "layer_types" in config:
        config["layer_types"] = [config["layer_types"][0]] * 6
    compare(config, train_plan(method, sequence_length=128))


def test_moe_lora_is_traced_in_full():
    config = json.loads((MODELS / "tiny-mixtral" / "config.json").read_text())
    config["num_hidden_layers"] = 6
    r = trace(config, train_plan("lora", sequence_length=32))
    assert r["layers"] == {"traced": 6, "total": 6, "extrapolated": False}


def test_default_traces_three_layers_of_a_deep_model():
    r = trace(LLAMA8, train_plan("lora", sequence_length=32))
    assert r["layers"] == {"traced": 3, "total": 8, "extrapolated": True}
