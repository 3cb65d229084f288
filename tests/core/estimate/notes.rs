//! The estimate's notes as messages the UI renders in the user's language (issue 16 item 1): every note has a
//! well-formed message beside it, in the same order, and every note key is emitted by some plan.

use std::collections::BTreeSet;

use headroom_core::estimate::calibration::{CalibrationFit, MachineCalibration, TaskCalibration};
use headroom_core::estimate::{builtin_presets, estimate, parse_plan, Estimate, Plan};
use headroom_core::message::{Key, Message, MessageArg};
use headroom_core::model::ModelSpec;
use serde_json::{json, Value};

use super::mechanisms::llama_8b;

fn spec(config: Value) -> ModelSpec {
    headroom_core::model::from_config(config.as_object().unwrap(), "model.config").unwrap()
}

fn small(model_type: &str, extra: Value) -> ModelSpec {
    let mut config = json!({
        "model_type": model_type, "hidden_size": 1024, "num_hidden_layers": 4, "num_attention_heads": 8,
        "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 4096, "vocab_size": 32000,
        "tie_word_embeddings": false, "torch_dtype": "bfloat16"
    });
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    spec(config)
}

fn parse(v: &Value) -> Plan {
    let mut v = v.clone();
    v["model"] = json!({"id": "test"});
    parse_plan(&v.to_string(), &builtin_presets()).unwrap()
}

fn run_plan(spec: &ModelSpec, plan: &Plan) -> Estimate {
    estimate(spec, plan, &builtin_presets()).unwrap()
}

fn run(spec: &ModelSpec, v: Value) -> Estimate {
    run_plan(spec, &parse(&v))
}

fn calibration(runs: u32, fit: CalibrationFit) -> TaskCalibration {
    TaskCalibration {
        cuda_context_bytes: 600 << 20,
        allocator_slack_permille: 73,
        runs,
        first_run_unix_ms: 1,
        last_run_unix_ms: 2,
        fit,
        lengths_share_permille: None,
        lengths_runs: 0,
    }
}

/// A plan's estimate with this machine's calibration for both tasks.
fn calibrated(spec: &ModelSpec, v: Value, cal: TaskCalibration) -> Estimate {
    let mut plan = parse(&v);
    plan.machine = MachineCalibration {
        train: Some(cal),
        infer: Some(cal),
    };
    run_plan(spec, &plan)
}

/// The same plan on one GPU of `memory_bytes`, with no margin.
fn on_gpu(spec: &ModelSpec, v: &Value, memory_bytes: u64) -> Estimate {
    let mut v = v.clone();
    v["gpus"] = json!({"count": 1, "memory_bytes": memory_bytes});
    v["margin"] = json!(0);
    run(spec, v)
}

/// A spread of plans: inference and training, every method, quantized and offloaded, sharded, a framework
/// profile, calibrated machines, and models with MLA, soft-capping, MoE experts and tied embeddings.
fn spread() -> Vec<Estimate> {
    let llama = llama_8b();
    let mut out = vec![
        run(&llama, json!({"task": "infer", "sequence_length": 4096})),
        run(
            &llama,
            json!({"task": "infer", "sequence_length": 16, "new_tokens": 4096}),
        ),
        run(
            &llama,
            json!({"task": "infer", "sequence_length": 16, "new_tokens": 4096, "legacy_kv_cache": true}),
        ),
        run(
            &llama,
            json!({"task": "infer", "prefill_logits": "all", "gpus": {"count": 2, "model": "H100 80GB"}}),
        ),
        run(
            &llama,
            json!({"task": "infer", "quantization": "int4", "sequence_length": 16}),
        ),
        run(&llama, json!({"task": "infer", "quantization": "int8"})),
        run(&llama, json!({"task": "infer", "quantization": "cpu"})),
        run(
            &llama,
            json!({"task": "train", "method": "full", "sequence_length": 512}),
        ),
        run(
            &llama,
            json!({"task": "train", "method": "lora", "sequence_lengths": [256, 512]}),
        ),
        run(
            &llama,
            json!({"task": "train", "method": "lora", "sequence_lengths": [256, 512],
                   "activation_offload": true}),
        ),
        run(
            &llama,
            json!({"task": "train", "method": "lora", "attention": "eager", "gradient_checkpointing": true,
                   "chunked_loss": true, "activation_offload": true, "optimizer": "adafactor"}),
        ),
        run(
            &llama,
            json!({"task": "train", "method": "qlora", "optimizer": "paged_adamw_8bit",
                   "gpus": {"count": 1, "model": "RTX 4090"}}),
        ),
        run(
            &llama,
            json!({"task": "train", "method": "qlora", "quantization": "int4_offload"}),
        ),
        run(
            &llama,
            json!({"task": "train", "method": "qlora", "quantization": "int4_offload",
                   "gpus": {"count": 1, "memory_gib": 4}}),
        ),
        run(
            &llama,
            json!({"task": "train", "method": "qlora", "quantization": "int4_offload",
                   "gpus": {"count": 1, "memory_gib": 80}}),
        ),
        run(
            &llama,
            json!({"task": "train", "method": "full", "optimizer": "adamw_8bit", "optimizer_in_backward": true}),
        ),
        run(
            &llama,
            json!({"task": "train", "method": "lora", "optimizer": "paged_adamw_32bit", "batch_size": 8}),
        ),
        run(
            &llama,
            json!({"task": "train", "method": "lora", "framework": "trl"}),
        ),
        run(
            &llama,
            json!({"task": "train", "method": "full", "gpus": {"count": 2, "memory_gib": 80}}),
        ),
    ];
    for sharding in ["zero1", "zero2", "zero3"] {
        out.push(run(
            &llama,
            json!({"task": "train", "method": "full", "sharding": sharding, "gpus": {"count": 4, "memory_gib": 80}}),
        ));
    }
    out.push(run(
        &llama,
        json!({"task": "train", "method": "full", "sharding": "zero2", "offload": "optimizer",
               "gpus": {"count": 2, "memory_gib": 80}}),
    ));
    out.push(run(
        &llama,
        json!({"task": "train", "method": "lora", "precision": "bf16-true", "quantization": "bf16",
               "lora": {"rank": 8, "target_modules": ["q_proj", "v_proj"], "dtype": "bf16"},
               "batch_size": 1, "sequence_length": 512, "gpus": {"count": 4, "memory_gib": 80},
               "sharding": "fsdp_full_shard", "gradient_accumulation_steps": 4, "fsdp_no_sync": true,
               "fsdp_frozen_in_trainable_units": true}),
    ));
    // Calibrated machines: one run and several, both tasks, both kinds of fit.
    for (v, cal) in [
        (
            json!({"task": "train", "method": "lora"}),
            calibration(1, CalibrationFit::Regression),
        ),
        (
            json!({"task": "train", "method": "lora"}),
            calibration(4, CalibrationFit::DefaultContext),
        ),
        (
            json!({"task": "train", "method": "lora"}),
            TaskCalibration {
                lengths_share_permille: Some(650),
                lengths_runs: 3,
                ..calibration(6, CalibrationFit::Regression)
            },
        ),
        (
            json!({"task": "infer"}),
            calibration(1, CalibrationFit::DefaultContext),
        ),
        (
            json!({"task": "infer"}),
            calibration(3, CalibrationFit::Regression),
        ),
    ] {
        out.push(calibrated(&llama, v, cal));
    }
    // A GPU between the central estimate and the band's upper end; one that only the paged states overflow.
    let central = json!({"task": "train", "method": "lora"});
    let free = run(&llama, central.clone());
    let range = free.per_gpu.range.unwrap().device_peak_bytes;
    out.push(on_gpu(
        &llama,
        &central,
        (free.per_gpu.device_peak_bytes + range.high) / 2,
    ));
    let paged = json!({"task": "train", "method": "full", "optimizer": "paged_adamw_8bit"});
    let free = run(&llama, paged.clone());
    let high = free.per_gpu.range.unwrap().device_peak_bytes.high;
    out.push(on_gpu(
        &llama,
        &paged,
        high - free.per_gpu.managed_memory_bytes / 2,
    ));
    // A GPU that holds only half of what the step's freed blocks leave reserved beyond the usual slack (paged
    // states leave freed activation blocks unfilled).
    assert!(free.per_gpu.fragmented_bytes > 0);
    out.push(on_gpu(
        &llama,
        &paged,
        free.per_gpu.device_peak_bytes - free.per_gpu.fragmented_bytes / 2,
    ));
    // Expandable segments.
    out.push(run(
        &llama,
        json!({"task": "train", "method": "lora", "expandable_segments": true}),
    ));
    // A QLoRA plan without checkpointing that names no bitsandbytes release: the band allows for an older one.
    out.push(run(
        &llama,
        json!({"task": "train", "method": "qlora", "gradient_checkpointing": false}),
    ));
    // bitsandbytes before 0.43.2 under checkpointing without reentrance.
    out.push(run(
        &llama,
        json!({"task": "train", "method": "qlora", "gradient_checkpointing": true,
               "bitsandbytes_version": "0.41.3", "use_reentrant": false}),
    ));
    // Models with their own notes.
    let mut mla = llama_8b();
    if let Some(a) = mla.architecture.as_mut() {
        a.attention.mla = Some(headroom_core::model::Mla {
            q_lora_rank: None,
            kv_lora_rank: 512,
            qk_nope_head_dim: 128,
            qk_rope_head_dim: 64,
            v_head_dim: 128,
        });
    }
    out.push(run(&mla, json!({"task": "infer"})));
    let gemma = small("gemma2", json!({"final_logit_softcapping": 30.0}));
    out.push(run(&gemma, json!({"task": "train", "method": "lora"})));
    let moe = small(
        "mixtral",
        json!({"num_local_experts": 4, "num_experts_per_tok": 2}),
    );
    out.push(run(&moe, json!({"task": "infer", "quantization": "int4"})));
    // Tied embeddings that train, with an optimizer without a step temporary and few activations: the peak is
    // the end of backward.
    let tied = small(
        "llama",
        json!({"tie_word_embeddings": true, "vocab_size": 128256}),
    );
    out.push(run(
        &tied,
        json!({"task": "train", "method": "full", "optimizer": "adamw_8bit", "sequence_length": 16,
               "gradient_checkpointing": true}),
    ));
    out
}

fn collect(m: &Message, keys: &mut BTreeSet<String>) {
    keys.insert(m.key.clone());
    for arg in m.args.values() {
        if let MessageArg::Message(inner) = arg {
            collect(inner, keys);
        }
    }
}

#[test]
fn every_note_has_a_well_formed_message_in_its_place() {
    for e in spread() {
        assert_eq!(e.notes.len(), e.note_messages.len(), "{:#?}", e.notes);
        for (note, m) in e.notes.iter().zip(&e.note_messages) {
            m.check().unwrap_or_else(|err| panic!("{note}: {err}"));
            // The model's own notes are keyed too: none reaches the UI as English words only.
            assert_ne!(m.key, Key::NoteVerbatim.as_str(), "{note}");
        }
    }
}

/// Each note key, and each phrase a note chooses between, is emitted by some plan of the spread (the trace
/// engine's notes come from a trace, which these analytic plans do not run; the model's own notes each need a
/// model of their own, which tests/core/model.rs builds).
#[test]
fn every_note_key_is_emitted() {
    let mut keys = BTreeSet::new();
    for e in spread() {
        for m in &e.note_messages {
            collect(m, &mut keys);
        }
    }
    let trace = [
        Key::NoteTrace,
        Key::NoteTraceExtrapolated,
        Key::NoteTraceContext,
        Key::NoteVerbatim,
    ];
    for key in Key::ALL {
        let k = key.as_str();
        let elsewhere =
            k.starts_with("backend.note.model.") || k.starts_with("backend.note.trace.");
        if k.starts_with("backend.note.") && !trace.contains(key) && !elsewhere {
            assert!(keys.contains(k), "{k} never emitted: {keys:?}");
        }
    }
}

/// The JSON keeps `notes` as they were and adds `note_messages` beside them, one for one.
#[test]
fn the_json_keeps_notes_and_adds_their_messages() {
    let e = run(&llama_8b(), json!({"task": "train", "method": "qlora"}));
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(
        v["notes"].as_array().unwrap().len(),
        v["note_messages"].as_array().unwrap().len()
    );
    assert_eq!(v["note_messages"][0]["key"], json!("backend.note.dtype"));
}

/// The English wording of each key (ui/src/lib/messages/backend.en.json, the table the UI and the core share).
fn english_texts() -> std::collections::BTreeMap<String, String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../ui/src/lib/messages/backend.en.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A message in English the way the backend writes its notes: GiB with two decimals, whole numbers bare.
fn english(m: &Message, texts: &std::collections::BTreeMap<String, String>) -> String {
    let mut text = texts
        .get(&m.key)
        .unwrap_or_else(|| panic!("{} has no English text in backend.en.json", m.key))
        .clone();
    for (name, arg) in &m.args {
        let value = match arg {
            MessageArg::Text(t) => t.clone(),
            MessageArg::Bytes(b) => format!("{:.2} GiB", *b as f64 / (1u64 << 30) as f64),
            MessageArg::Count(n) => n.to_string(),
            MessageArg::Number { value, digits } => format!("{value:.*}", usize::from(*digits)),
            MessageArg::DurationMs(ms) => format!("{ms} ms"),
            MessageArg::Message(inner) => english(inner, texts),
        };
        text = text.replace(&format!("{{{name}}}"), &value);
    }
    text
}

/// The UI's English texts say what the backend's notes say, word for word (the UI shows sizes and long numbers
/// its own way, so this renders them as the backend does).
#[test]
fn the_english_texts_match_the_notes() {
    let texts = english_texts();
    for e in spread() {
        for (note, m) in e.notes.iter().zip(&e.note_messages) {
            if m.key != Key::NoteVerbatim.as_str() {
                assert_eq!(&english(m, &texts), note, "{}", m.key);
            }
        }
    }
}

/// A training plan of one length says what it leaves out (the segments changing lengths strand); a plan that
/// lists its lengths counts them instead, and inference, which repeats its shapes, says neither.
#[test]
fn a_training_plan_of_one_length_says_what_changing_lengths_would_add() {
    let keys =
        |e: &Estimate| -> Vec<String> { e.note_messages.iter().map(|m| m.key.clone()).collect() };
    let fixed = Key::NoteFixedLengths.as_str().to_string();
    let varying = Key::NoteVaryingLengths.as_str().to_string();
    let model = llama_8b();

    let one_length = run(
        &model,
        json!({"task": "train", "method": "lora", "sequence_length": 512}),
    );
    assert!(keys(&one_length).contains(&fixed), "{:?}", one_length.notes);
    assert!(!keys(&one_length).contains(&varying));

    let listed = run(
        &model,
        json!({"task": "train", "method": "lora", "sequence_lengths": [256, 512]}),
    );
    assert!(!keys(&listed).contains(&fixed), "{:?}", listed.notes);
    assert!(keys(&listed).contains(&varying), "{:?}", listed.notes);

    let infer = run(&model, json!({"task": "infer", "sequence_length": 512}));
    assert!(!keys(&infer).contains(&fixed), "{:?}", infer.notes);
}
