"""Every note a trace writes carries a message key the app knows, with exactly that key's arguments, typed as the
app's messages are: the app shows the notes in the user's language from these, and the English otherwise."""

import json
import re

from conftest import REPO, infer_plan, tiny_config, trace, train_plan

# The app's key list, generated from src-tauri/core/src/message.rs.
KEYS = {k["key"]: sorted(k["args"]) for k in
        json.loads((REPO / "ui" / "src" / "lib" / "messages" / "backend-keys.json").read_text())}

ARG_TYPES = {"text": str, "count": int, "bytes": int}

# A Llama with more layers than the trace keeps, so the trace extrapolates.
LLAMA6 = {"model_type": "llama", "hidden_size": 128, "intermediate_size": 352, "num_hidden_layers": 6,
          "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32, "vocab_size": 1024,
          "max_position_embeddings": 2048, "tie_word_embeddings": False}


def check_keyed(result):
    notes, messages = result["notes"], result["note_messages"]
    assert len(messages) == len(notes) > 0
    for note, m in zip(notes, messages):
        assert m["key"] in KEYS and m["key"].startswith("backend.note.trace."), (m["key"], note)
        assert sorted(m["args"]) == KEYS[m["key"]], (m["key"], note)
        for name, arg in m["args"].items():
            if arg["type"] == "number":
                assert isinstance(arg["value"]["value"], float) and isinstance(arg["value"]["digits"], int)
            else:
                assert isinstance(arg["value"], ARG_TYPES[arg["type"]]), (m["key"], name, arg)
            if arg["type"] in ("count", "bytes"):
                assert arg["value"] >= 0
    return {m["key"] for m in messages}


def test_training_notes_are_keyed():
    plan = train_plan("qlora", attention="flash", precision="fp16-mixed", sequence_length=32)
    keys = check_keyed(trace(LLAMA6, plan, layers=3))
    assert {"backend.note.trace.flash_as_sdpa", "backend.note.trace.bnb4", "backend.note.trace.kbit_prepared",
            "backend.note.trace.peft_checkpointing", "backend.note.trace.autocast",
            "backend.note.trace.grad_scaler", "backend.note.trace.dropout_mask", "backend.note.trace.sdpa_cpu",
            "backend.note.trace.layers_repeated", "backend.note.trace.cublas_workspace",
            "backend.note.trace.two_steps"} <= keys


def test_inference_notes_are_keyed():
    plan = infer_plan(sequence_length=16, new_tokens=40, kv_cache_dtype="int8",
                      weights={"bnb": {"load_in_8bit": True}})
    keys = check_keyed(trace(tiny_config("tiny-llama"), plan))
    assert {"backend.note.trace.bnb8", "backend.note.trace.kv_scaled",
            "backend.note.trace.decode_skipped"} <= keys


def test_every_key_the_package_writes_is_one_the_app_knows():
    # Including the notes these tiny models do not provoke (eager fallback, LoRA dropout off, dropped frees).
    used = set()
    for path in (REPO / "python" / "headroom_trace").glob("*.py"):
        used |= set(re.findall(r'notes\.add\(\s*"([^"]+)"', path.read_text()))
    assert len(used) >= 17
    assert sorted(used - set(KEYS)) == []


def test_notes_keep_texts_and_messages_in_step():
    from headroom_trace.notes import Notes, count

    notes = Notes()
    notes.add("backend.note.trace.frees_dropped", "extrapolation: 2 frees ...", frees=count(2))
    assert list(notes) == ["extrapolation: 2 frees ..."] and len(notes) == 1
    assert notes.messages == [{"key": "backend.note.trace.frees_dropped",
                               "args": {"frees": {"type": "count", "value": 2}}}]


def test_a_named_bitsandbytes_release_and_checkpointing_style_are_said():
    plan = train_plan("qlora", sequence_length=32, bnb_keeps_inputs=True, use_reentrant=False)
    keys = check_keyed(trace(LLAMA6, plan, layers=3))
    assert {"backend.note.trace.bnb_keeps_inputs", "backend.note.trace.reentrant"} <= keys
    assert "backend.note.trace.peft_checkpointing" not in keys
