"""Traces of every tiny checkpoint config for full, LoRA, QLoRA training and inference, checked against
truths that do not depend on the trace: exact weight bytes, PEFT's own trainable count, monotonic effects."""

import math

import pytest
import torch

from conftest import infer_plan, tiny_config, tiny_configs, trace, train_plan
from headroom_trace.allocator import CachingAllocator

MODELS = tiny_configs()
ROUND = CachingAllocator(expandable_segments=False).round_size


def meta_model(name, dtype):
    from transformers import AutoModelForCausalLM

    from headroom_trace.build import make_config

    config = make_config(tiny_config(name))
    with torch.device("meta"):
        try:
            return AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation="sdpa")
        except ValueError:
            return AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation="eager")


def tensors(model):
    """Parameters and buffers, tied ones once."""
    seen, out = set(), []
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        if id(t) not in seen:
            seen.add(id(t))
            out.append((name, t))
    return out


def check_common(r):
    assert r["event"] == "result" and r["engine"] == "trace" and r["protocol"] == 1
    assert sum(r["components"].values()) == r["allocated_peak_bytes"]
    assert r["reserved_peak_bytes"] >= r["allocated_peak_bytes"] > 0
    assert 0 < len(r["timeline"]) <= 2000
    assert max(p["allocated"] for p in r["timeline"]) == r["allocated_peak_bytes"]
    assert r["layers"]["total"] >= r["layers"]["traced"] >= 1


@pytest.mark.parametrize("name", MODELS)
def test_full_training_weights_are_the_exact_parameter_bytes(name):
    r = trace(tiny_config(name), train_plan("full", precision="bf16-true"))
    check_common(r)
    model = meta_model(name, torch.bfloat16)
    expected = sum(ROUND(t.numel() * t.element_size()) for _, t in tensors(model))
    assert r["components"]["weights"] == expected
    params = sum(p.numel() for p in model.parameters())
    assert r["parameters"] == {"total": params, "trainable": params}
    # every trainable parameter has an AdamW state pair in its own dtype at the optimizer peak or later
    assert r["components"]["optimizer"] in (0, 2 * sum(ROUND(p.numel() * 2) for p in model.parameters()))


@pytest.mark.parametrize("name", MODELS)
def test_lora_trainable_count_is_pefts(name):
    from peft import LoraConfig, get_peft_model

    r = trace(tiny_config(name), train_plan("lora"))
    check_common(r)
    model = meta_model(name, torch.bfloat16)
    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
                                                  target_modules="all-linear", task_type="CAUSAL_LM"))
    trainable, total = peft_model.get_nb_trainable_parameters()
    assert r["parameters"] == {"total": total, "trainable": trainable}
    lora_bytes = sum(ROUND(p.numel() * 4) for n, p in peft_model.named_parameters() if "lora_" in n)
    assert r["components"]["lora"] == lora_bytes  # PEFT keeps adapters in fp32 over a bf16 base


def nf4_bytes(n):
    """bitsandbytes nf4 with double quantization: packed weight, uint8 absmax per 64, fp32 absmax per 256
    blocks, fp32 offset, the 16-entry fp32 code; each its own allocation."""
    blocks = math.ceil(n / 64)
    return sum(ROUND(b) for b in ((n + 1) // 2, blocks, math.ceil(blocks / 256) * 4, 4, 64))


@pytest.mark.parametrize("name", MODELS)
def test_qlora_weights_are_the_exact_nf4_storage(name):
    r = trace(tiny_config(name), train_plan("qlora"))
    check_common(r)
    model = meta_model(name, torch.bfloat16)
    out_emb = model.get_output_embeddings()
    expected = 0
    quantized = set()
    for mod in model.modules():
        if type(mod) is torch.nn.Linear and mod is not out_emb:
            expected += nf4_bytes(mod.weight.numel())
            quantized.add(id(mod.weight))
            if mod.bias is not None:
                quantized.add(id(mod.bias))
                expected += ROUND(mod.bias.numel() * 4)
    for _, t in tensors(model):
        if id(t) in quantized:
            continue
        # prepare_model_for_kbit_training upcasts every 16-bit parameter that is not 4-bit to fp32
        size = 4 if isinstance(t, torch.nn.Parameter) and t.dtype in (torch.bfloat16, torch.float16) else t.element_size()
        expected += ROUND(t.numel() * size)
    assert r["components"]["weights"] == expected
    assert r["parameters"]["trainable"] > 0
    assert any("prepare_model_for_kbit_training" in n for n in r["notes"])


@pytest.mark.parametrize("name", MODELS)
def test_inference_fills_a_kv_cache(name):
    short = trace(tiny_config(name), infer_plan(new_tokens=2))
    long = trace(tiny_config(name), infer_plan(new_tokens=48, sequence_length=8))
    for r in (short, long):
        check_common(r)
        assert r["parameters"]["trainable"] == 0
        assert r["components"]["gradients"] == r["components"]["optimizer"] == 0
    assert {p["phase"] for p in long["timeline"]} >= {"prefill", "decode"}
    kv = [p["allocated"] for p in long["timeline"] if p["phase"] == "decode"]
    tenth = max(len(kv) // 10, 1)
    assert max(kv[-tenth:]) > max(kv[:tenth])  # the cache grows with every token


def test_gradient_checkpointing_lowers_the_peak():
    config = tiny_config("tiny-llama")
    on = trace(config, train_plan("lora", sequence_length=512, gradient_checkpointing=True))
    off = trace(config, train_plan("lora", sequence_length=512, gradient_checkpointing=False))
    assert on["allocated_peak_bytes"] < off["allocated_peak_bytes"]


def test_larger_batch_raises_activations():
    config = tiny_config("tiny-llama")
    small = trace(config, train_plan("full", batch_size=1, sequence_length=256, gradient_checkpointing=False))
    large = trace(config, train_plan("full", batch_size=4, sequence_length=256, gradient_checkpointing=False))
    assert large["allocated_peak_bytes"] > small["allocated_peak_bytes"]
    assert (large["components"]["activations"] + large["components"]["logits"]
            > small["components"]["activations"] + small["components"]["logits"])


def test_paged_optimizer_states_are_managed_memory():
    config = tiny_config("tiny-llama")
    paged = trace(config, train_plan("lora", optimizer="paged_adamw_32bit"))
    plain = trace(config, train_plan("lora", optimizer="adamw"))
    assert paged["components"]["optimizer"] == 0
    # two fp32 states per trainable parameter, outside the caching allocator
    assert paged["managed_bytes"] == 8 * plain["parameters"]["trainable"]
    assert paged["allocated_peak_bytes"] < plain["allocated_peak_bytes"]


def test_eight_bit_adam_states_are_smaller_than_fp32_ones():
    config = tiny_config("tiny-llama")
    eight = trace(config, train_plan("full", optimizer="adamw_8bit", precision="fp32"))
    full = trace(config, train_plan("full", optimizer="adamw", precision="fp32"))
    assert 0 < eight["components"]["optimizer"] < full["components"]["optimizer"] or \
        eight["allocated_peak_bytes"] < full["allocated_peak_bytes"]


def test_variable_sequence_lengths_run_one_step_each():
    r = trace(tiny_config("tiny-llama"), train_plan("lora", sequence_lengths=[32, 128, 64]))
    check_common(r)
    steps = {p["phase"] for p in r["timeline"]}
    assert {"forward", "backward", "optimizer"} <= steps


def test_eight_bit_weights_are_int8_plus_row_scales():
    plan = train_plan("lora", weights={"bnb": {"load_in_8bit": True}})
    r = trace(tiny_config("tiny-llama"), plan)
    check_common(r)
    model = meta_model("tiny-llama", torch.bfloat16)
    out_emb = model.get_output_embeddings()
    linear = [m for m in model.modules() if type(m) is torch.nn.Linear and m is not out_emb]
    int8 = sum(ROUND(m.weight.numel()) + ROUND(m.out_features * 4) for m in linear)
    assert r["components"]["weights"] >= int8


def test_chunked_loss_lowers_a_logits_bound_peak():
    # A large vocabulary over a small model: the loss's logits decide the peak.
    config = dict(tiny_config("tiny-llama"), vocab_size=32000)
    plain = trace(config, train_plan("lora", sequence_length=512))
    chunked = trace(config, train_plan("lora", sequence_length=512, chunked_loss=True))
    assert plain["peak"]["phase"] in ("forward", "backward")
    assert chunked["allocated_peak_bytes"] < plain["allocated_peak_bytes"]


def test_freeze_trains_the_last_layers_only():
    config = tiny_config("tiny-llama")
    r = trace(config, train_plan("freeze", freeze_trainable_layers=1, precision="bf16-true"))
    check_common(r)
    model = meta_model("tiny-llama", torch.bfloat16)
    last = sum(p.numel() for n, p in model.named_parameters() if n.startswith("model.layers.1."))
    assert r["parameters"]["trainable"] == last
    assert r["layers"]["extrapolated"] is False


def test_optimizer_in_backward_frees_gradients_as_it_goes():
    config = tiny_config("tiny-llama")
    inline = trace(config, train_plan("full", precision="fp32", optimizer_in_backward=True))
    after = trace(config, train_plan("full", precision="fp32"))
    assert inline["allocated_peak_bytes"] < after["allocated_peak_bytes"]
    assert inline["components"]["gradients"] < after["components"]["gradients"] or \
        after["components"]["gradients"] == 0


def test_a_smaller_kv_cache_dtype_shrinks_the_cache():
    config = tiny_config("tiny-llama")
    bf16 = trace(config, infer_plan(new_tokens=32))
    int8 = trace(config, infer_plan(new_tokens=32, kv_cache_dtype="int8"))
    assert int8["components"]["kv_cache"] * 2 == bf16["components"]["kv_cache"] > 0
    assert any("KV cache in int8" in n for n in int8["notes"])


def test_four_bit_inference_weights_are_nf4_without_upcast():
    r = trace(tiny_config("tiny-llama"), infer_plan(weights={"bnb": {"load_in_4bit": True,
                                                                       "bnb_4bit_compute_dtype": "bf16"}}))
    check_common(r)
    assert {p["phase"] for p in r["timeline"]} >= {"prefill", "decode"}
    model = meta_model("tiny-llama", torch.bfloat16)
    out_emb = model.get_output_embeddings()
    expected, quantized = 0, set()
    for mod in model.modules():
        if type(mod) is torch.nn.Linear and mod is not out_emb:
            n = mod.weight.numel()
            # no double quantization: packed weight, fp32 absmax per 64, the 16-entry fp32 code
            expected += ROUND((n + 1) // 2) + ROUND(math.ceil(n / 64) * 4) + ROUND(64)
            quantized.add(id(mod.weight))
    expected += sum(ROUND(t.numel() * t.element_size()) for _, t in tensors(model) if id(t) not in quantized)
    assert r["components"]["weights"] == expected


def test_long_decodes_skip_middle_steps_without_changing_the_peak(monkeypatch):
    from headroom_trace import engine

    config = tiny_config("tiny-llama")
    plan = infer_plan(sequence_length=16, new_tokens=60)
    skipped = trace(config, plan)
    assert any("decode: steps 0-7" in n for n in skipped["notes"])
    monkeypatch.setattr(engine, "DECODE_EDGE", 10_000)
    every = trace(config, plan)
    assert not any("decode: steps" in n for n in every["notes"])
    assert skipped["allocated_peak_bytes"] == every["allocated_peak_bytes"]
    assert abs(skipped["reserved_peak_bytes"] - every["reserved_peak_bytes"]) <= 0.01 * every["reserved_peak_bytes"]
    assert skipped["peak"]["phase"] == every["peak"]["phase"]


@pytest.mark.parametrize("name", MODELS)
def test_chunked_loss_runs_on_every_architecture(name):
    r = trace(tiny_config(name), train_plan("lora", chunked_loss=True))
    check_common(r)
    assert r["components"]["lora"] > 0


def test_all_prefill_logits_as_older_transformers_kept_them():
    config = dict(tiny_config("tiny-llama"), vocab_size=32000)
    last = trace(config, infer_plan(sequence_length=256, new_tokens=2))
    every = trace(config, infer_plan(sequence_length=256, new_tokens=2, prefill_logits="all"))
    # the full prefill logits and their fp32 upcast: 256 tokens x 32000 x (2 + 4) bytes at least
    assert every["allocated_peak_bytes"] - last["allocated_peak_bytes"] >= 255 * 32000 * 6


def test_a_tuple_cache_holds_the_old_cache_through_the_last_step():
    config = dict(tiny_config("tiny-llama"), vocab_size=32000)
    plan = infer_plan(sequence_length=1, new_tokens=512)
    dynamic = trace(config, plan)
    tuples = trace(config, dict(plan, legacy_kv_cache=True))
    assert any("old KV cache" in n for n in tuples["notes"])
    # the old cache, every layer of it, beside the new one at the end: nearly the whole cache again
    extra = tuples["allocated_peak_bytes"] - dynamic["allocated_peak_bytes"]
    cache = dynamic["components"]["kv_cache"]
    assert 0.8 * cache <= extra <= cache, (extra, cache)


def test_expandable_segments_reserve_no_more_under_variable_lengths():
    config = tiny_config("tiny-llama")
    plan = train_plan("lora", sequence_lengths=[512, 64, 1024, 128, 768], gradient_checkpointing=False)
    fixed = trace(config, plan)
    expandable = trace(config, plan, expandable_segments=True)
    check_common(expandable)
    assert expandable["allocated_peak_bytes"] == fixed["allocated_peak_bytes"]
    assert expandable["reserved_peak_bytes"] <= fixed["reserved_peak_bytes"]


def test_dropout_keeps_a_one_byte_mask_as_cuda_does():
    """LoRA dropout on every adapted input: CUDA's fused dropout keeps a bool mask, so the trace's activations
    grow by one byte per input element over dropout 0, not by the input's dtype size."""
    config = tiny_config("tiny-llama")
    base = dict(sequence_length=256, gradient_checkpointing=False)
    off = trace(config, train_plan("lora", lora={"rank": 8, "dropout": 0.0, "target_modules": ["q_proj"]}, **base))
    on = trace(config, train_plan("lora", lora={"rank": 8, "dropout": 0.1, "target_modules": ["q_proj"]}, **base))
    grown = on["components"]["activations"] - off["components"]["activations"]
    layers, h, tokens = config["num_hidden_layers"], config["hidden_size"], 2 * 256  # batch 2
    # One bool mask (1 byte per input element) per adapted layer still alive at the peak, at least the last
    # layer's; the CPU kernel's fp32 noise tensor would add 4 bytes per element even for one layer.
    assert h * tokens <= grown <= layers * h * tokens, grown


def _keeping_slope(use_reentrant):
    """Bytes per token that bitsandbytes before 0.43.2 adds per decoder layer (tiny-llama at 2 and 4 layers)."""
    added = []
    for layers in (2, 4):
        config = tiny_config("tiny-llama")
        config["num_hidden_layers"] = layers
        peaks = []
        for keeps in (False, True):
            plan = train_plan("qlora", batch_size=2, sequence_length=256, kbit_upcast=False,
                              use_reentrant=use_reentrant, bnb_keeps_inputs=keeps)
            plan["lora"]["dropout"] = 0.0
            peaks.append(trace(config, plan)["allocated_peak_bytes"])
        added.append(peaks[1] - peaks[0])
    return (added[1] - added[0]) / 2 / (2 * 256)


def test_older_bitsandbytes_keeps_4bit_inputs_through_checkpointing_without_reentrance():
    # MatMul4Bit before 0.43.2 keeps its input on the autograd context, which non-reentrant checkpointing cannot
    # drop: per layer and token the 16-bit inputs of q/k/v (one shared tensor), o_proj, gate/up (shared) and
    # down_proj, 2 x (64 + 64 + 64 + 176) bytes (docs/estimator.md §6.4; the analytic engine's figure).
    assert _keeping_slope(False) == 2 * (64 + 64 + 64 + 176)
    # Reentrant checkpointing runs forward under no_grad: no context outlives a layer.
    assert _keeping_slope(True) == 0


def test_a_steps_graph_does_not_outlive_the_step():
    # ModTracker's module hooks hold their graph's nodes in a cycle through C++; the tracker removes them after
    # each backward, so what autograd contexts keep is freed with the loss, as in a training loop, and a third
    # step at the same length peaks no higher than the second.
    config = tiny_config("tiny-llama")
    plan = lambda n: train_plan("qlora", batch_size=2, sequence_length=256, kbit_upcast=False,  # noqa: E731
                                use_reentrant=False, bnb_keeps_inputs=True, sequence_lengths=[256] * n)
    assert trace(config, plan(3))["allocated_peak_bytes"] == trace(config, plan(2))["allocated_peak_bytes"]


def test_the_request_says_bitsandbytes_release_and_checkpointing_by_name():
    from headroom_trace.errors import TraceError
    from headroom_trace.request import parse_plan

    with pytest.raises(TraceError) as e:
        parse_plan(train_plan("qlora", use_reentrant="no"))
    assert "plan.use_reentrant" in str(e.value)
    with pytest.raises(TraceError) as e:
        parse_plan(train_plan("qlora", bnb_keeps_inputs=1))
    assert "plan.bnb_keeps_inputs" in str(e.value)
    plan = parse_plan(train_plan("qlora"))
    assert (plan.bnb_keeps_inputs, plan.use_reentrant) == (False, None)
