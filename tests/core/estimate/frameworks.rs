//! Framework profiles (docs/frameworks.md): the plan key `framework`, its defaults for the keys a plan leaves
//! unset, an explicit key winning, and the notes saying which settings came from the profile.

use headroom_core::estimate::plan::*;
use headroom_core::estimate::{builtin_presets, estimate, parse_plan, plan_to_value, Estimate};
use headroom_core::Error;
use serde_json::{json, Value};

use super::mechanisms::llama_8b;

fn parse(v: Value) -> Result<Plan, Error> {
    let mut v = v;
    v["model"] = json!({"id": "test"});
    parse_plan(&v.to_string(), &builtin_presets())
}

fn run(v: Value) -> Estimate {
    let presets = builtin_presets();
    estimate(&llama_8b(), &parse(v).unwrap(), &presets).unwrap()
}

#[test]
fn an_unknown_framework_is_an_error_naming_framework() {
    match parse(json!({"task": "train", "framework": "deepspeed-chat"})) {
        Err(Error::Invalid { field, message, .. }) => {
            assert_eq!(field, "framework");
            assert!(
                message.contains("deepspeed-chat") && message.contains("torchtune"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    match parse(json!({"task": "infer", "framework": "trl"})) {
        Err(Error::Invalid { field, .. }) => assert_eq!(field, "framework"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_framework_name_of_the_contract_parses() {
    for name in [
        "hf_trainer",
        "trl",
        "axolotl",
        "llama_factory",
        "litgpt",
        "torchtune",
        "ms_swift",
        "unsloth",
        "plain",
    ] {
        let plan = parse(json!({"task": "train", "method": "lora", "framework": name})).unwrap();
        // Written back, the name reads the same.
        assert_eq!(plan_to_value(&plan)["framework"], json!(name));
    }
}

#[test]
fn hf_trainer_is_the_default_and_keeps_headroom_s_defaults() {
    let plan = parse(json!({"task": "train", "method": "qlora"})).unwrap();
    assert_eq!(plan.framework, Framework::HfTrainer);
    // PEFT's prepare_model_for_kbit_training turns checkpointing on (use_gradient_checkpointing=True).
    assert!(plan.gradient_checkpointing && !plan.chunked_loss && !plan.activation_offload);
    // Not on a 16-bit base, nor when the plan skips the kbit preparation.
    let lora = parse(json!({"task": "train", "method": "lora"})).unwrap();
    assert!(!lora.gradient_checkpointing);
    let no_upcast =
        parse(json!({"task": "train", "method": "qlora", "kbit_upcast": false})).unwrap();
    assert!(!no_upcast.gradient_checkpointing);
    assert_eq!(plan.precision, Precision::Bf16Mixed);
    assert_eq!(plan.lora.unwrap().dtype, LoraDtype::Fp32);
    // PEFT's upcast stays the engine's default (on for a quantized base).
    assert_eq!(plan.kbit_upcast, None);
    let explicit =
        parse(json!({"task": "train", "method": "qlora", "framework": "hf_trainer"})).unwrap();
    assert_eq!(
        run(json!({"task": "train", "method": "qlora"})).per_gpu,
        estimate(&llama_8b(), &explicit, &builtin_presets())
            .unwrap()
            .per_gpu
    );
}

#[test]
fn a_framework_fills_only_what_the_plan_leaves_unset() {
    let tt = parse(json!({"task": "train", "method": "qlora", "framework": "torchtune"})).unwrap();
    assert!(tt.gradient_checkpointing && tt.chunked_loss);
    assert_eq!(tt.precision, Precision::Bf16True);
    assert_eq!(tt.lora.as_ref().unwrap().dtype, LoraDtype::Bf16);
    assert_eq!(tt.kbit_upcast, Some(false));
    for key in [
        "precision",
        "lora.dtype",
        "gradient_checkpointing",
        "chunked_loss",
        "kbit_upcast",
    ] {
        assert!(
            tt.from_framework.iter().any(|k| k == key),
            "{key}: {:?}",
            tt.from_framework
        );
    }

    // Explicit keys win, and are not counted as the framework's.
    let given = parse(
        json!({"task": "train", "method": "qlora", "framework": "torchtune",
        "gradient_checkpointing": false, "chunked_loss": false, "precision": "bf16-mixed",
        "lora": {"dtype": "fp32"}, "kbit_upcast": true}),
    )
    .unwrap();
    assert!(!given.gradient_checkpointing && !given.chunked_loss);
    assert_eq!(given.precision, Precision::Bf16Mixed);
    assert_eq!(given.lora.unwrap().dtype, LoraDtype::Fp32);
    assert_eq!(given.kbit_upcast, Some(true));
    for key in [
        "precision",
        "lora.dtype",
        "gradient_checkpointing",
        "chunked_loss",
        "kbit_upcast",
    ] {
        assert!(
            !given.from_framework.iter().any(|k| k == key),
            "{key}: {:?}",
            given.from_framework
        );
    }
}

#[test]
fn unsloth_offloads_checkpointed_inputs_only_while_checkpointing() {
    let u = parse(json!({"task": "train", "method": "qlora", "framework": "unsloth"})).unwrap();
    assert!(u.gradient_checkpointing && u.activation_offload);
    let off = parse(
        json!({"task": "train", "method": "qlora", "framework": "unsloth",
        "gradient_checkpointing": false}),
    )
    .unwrap();
    assert!(!off.gradient_checkpointing && !off.activation_offload);
    // Offloaded checkpointing keeps the layer inputs in CPU RAM.
    let est = run(json!({"task": "train", "method": "qlora", "framework": "unsloth"}));
    assert!(est.cpu_bytes > 0);
}

#[test]
fn litgpt_on_a_quantized_base_runs_true_16_bit_and_quantizes_the_head() {
    let l = parse(json!({"task": "train", "method": "qlora", "framework": "litgpt"})).unwrap();
    assert_eq!(l.precision, Precision::Bf16True);
    assert!(l.quantize_lm_head && l.chunked_loss && !l.gradient_checkpointing);
    assert_eq!(l.lora.unwrap().dtype, LoraDtype::Bf16);
    // On a 16-bit base LitGPT's own default precision (bf16-mixed) stays, with fp32 adapters.
    let plain = parse(json!({"task": "train", "method": "lora", "framework": "litgpt"})).unwrap();
    assert_eq!(plain.precision, Precision::Bf16Mixed);
    assert!(!plain.quantize_lm_head);
    assert_eq!(plain.lora.unwrap().dtype, LoraDtype::Fp32);
}

#[test]
fn trl_keeps_quantized_adapters_in_bf16_and_skips_the_kbit_upcast() {
    let q = parse(json!({"task": "train", "method": "qlora", "framework": "trl"})).unwrap();
    assert_eq!(q.lora.unwrap().dtype, LoraDtype::Bf16);
    assert_eq!(q.kbit_upcast, Some(false));
    assert!(q.gradient_checkpointing && q.chunked_loss);
    let l = parse(json!({"task": "train", "method": "lora", "framework": "trl"})).unwrap();
    assert_eq!(l.lora.unwrap().dtype, LoraDtype::Fp32);
    assert_eq!(l.kbit_upcast, None, "no quantized base, nothing to upcast");
}

#[test]
fn torchtune_s_chunked_loss_lowers_the_loss_against_hf_trainer() {
    // Everything but the loss held equal: only the framework's chunked loss differs.
    let same = json!({"task": "train", "method": "lora", "gradient_checkpointing": true,
        "precision": "bf16-true", "lora": {"dtype": "bf16"}, "batch_size": 4, "sequence_length": 4096});
    let mut hf = same.clone();
    hf["framework"] = json!("hf_trainer");
    let mut hf_chunked = hf.clone();
    hf_chunked["chunked_loss"] = json!(true);
    let mut tt = same;
    tt["framework"] = json!("torchtune");
    let (hf, hf_chunked, tt) = (run(hf), run(hf_chunked), run(tt));
    let loss = |e: &Estimate| e.per_gpu.components.logits;
    assert!(loss(&hf) > 0, "{:?}", hf.per_gpu);
    // torchtune's LinearCrossEntropyLoss (8 chunks, one alive at a time) is the whole difference.
    assert!(
        loss(&tt) < loss(&hf),
        "{:?} vs {:?}",
        tt.per_gpu,
        hf.per_gpu
    );
    assert!(tt.per_gpu.device_peak_bytes < hf.per_gpu.device_peak_bytes);
    assert_eq!(tt.per_gpu, hf_chunked.per_gpu);
}

#[test]
fn the_notes_say_which_settings_came_from_the_framework() {
    let est = run(
        json!({"task": "train", "method": "lora", "framework": "torchtune",
        "gradient_checkpointing": false}),
    );
    let note = est
        .notes
        .iter()
        .find(|n| n.starts_with("framework torchtune"))
        .unwrap_or_else(|| panic!("{:#?}", est.notes));
    assert!(
        note.contains("chunked_loss true") && note.contains("precision bf16-true"),
        "{note}"
    );
    assert!(
        !note.contains("gradient_checkpointing"),
        "given by the plan: {note}"
    );
}

#[test]
fn a_written_plan_reloads_to_the_same_estimate() {
    let plan = parse(json!({"task": "train", "method": "qlora", "framework": "unsloth"})).unwrap();
    let again = parse(plan_to_value(&plan)).unwrap();
    let presets = builtin_presets();
    assert_eq!(
        estimate(&llama_8b(), &plan, &presets).unwrap().per_gpu,
        estimate(&llama_8b(), &again, &presets).unwrap().per_gpu
    );
}

/// docs/frameworks.md: `use_reentrant` comes from the framework's current release when the plan does not give it,
/// and is recorded among the keys it filled only where checkpointing is on.
#[test]
fn each_framework_says_how_it_checkpoints() {
    let presets = builtin_presets();
    let parse = |v: Value| parse_plan(&v.to_string(), &presets).unwrap();
    for (framework, reentrant) in [
        ("hf_trainer", false),
        ("trl", false),
        ("axolotl", true),
        ("llama_factory", true),
        ("ms_swift", true),
        ("unsloth", true),
        ("torchtune", false),
        ("plain", true),
    ] {
        let p = parse(
            json!({"model": {"id": "m"}, "task": "train", "method": "lora",
                             "framework": framework, "gradient_checkpointing": true}),
        );
        assert_eq!(p.use_reentrant, reentrant, "{framework}");
        assert!(
            p.from_framework.iter().any(|k| k == "use_reentrant"),
            "{framework}"
        );
        let given = parse(
            json!({"model": {"id": "m"}, "task": "train", "method": "lora",
                                 "framework": framework, "gradient_checkpointing": true,
                                 "use_reentrant": !reentrant}),
        );
        assert_eq!(given.use_reentrant, !reentrant);
        assert!(!given.from_framework.iter().any(|k| k == "use_reentrant"));
    }
    let off = parse(
        json!({"model": {"id": "m"}, "task": "train", "method": "lora",
                           "gradient_checkpointing": false}),
    );
    assert!(!off.from_framework.iter().any(|k| k == "use_reentrant"));
}

/// Bad values name their key.
#[test]
fn a_bitsandbytes_release_that_is_not_one_and_checkpointing_at_inference_name_their_key() {
    let presets = builtin_presets();
    for bad in ["", "latest", "0", "x.1", "0.4x.1", "1234567.1"] {
        let err = parse_plan(
            &json!({"model": {"id": "m"}, "task": "train", "method": "qlora", "bitsandbytes_version": bad})
                .to_string(),
            &presets,
        )
        .unwrap_err();
        match err {
            Error::Invalid { field, message, .. } => {
                assert_eq!(field, "bitsandbytes_version", "{bad}");
                assert!(message.contains("0.43.2"), "{message}");
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
    for good in ["0.41.3", "0.41.3.post2", "v0.45", "0.44.0rc1", " 0.46.1 "] {
        let p = parse_plan(
            &json!({"model": {"id": "m"}, "task": "train", "method": "qlora", "bitsandbytes_version": good})
                .to_string(),
            &presets,
        )
        .unwrap_or_else(|e| panic!("{good}: {e}"));
        assert!(p.bnb_4bit_keeps_inputs().is_some(), "{good}");
    }
    let err = parse_plan(
        &json!({"model": {"id": "m"}, "task": "infer", "use_reentrant": true}).to_string(),
        &presets,
    )
    .unwrap_err();
    match err {
        Error::Invalid { field, .. } => assert_eq!(field, "use_reentrant"),
        other => panic!("{other:?}"),
    }
}
