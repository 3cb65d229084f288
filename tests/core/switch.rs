//! Switching a model's config to another preset in one step (the monitor's recommendation, issue 5 item 3).

use headroom_core::presets::config_store::ConfigLibrary;
use headroom_core::presets::library::PresetLibrary;
use headroom_core::presets::model_config::{Method, ModelConfig, Task};
use headroom_core::presets::switch::switch_preset;
use headroom_core::presets::TorchDtype;
use headroom_core::store::Revision;
use serde_json::json;

fn libraries() -> (tempfile::TempDir, PresetLibrary, ConfigLibrary) {
    let dir = tempfile::tempdir().unwrap();
    let presets = PresetLibrary::at(dir.path().join("presets"));
    let configs = ConfigLibrary::at(dir.path().join("model-configs"));
    (dir, presets, configs)
}

#[test]
fn a_model_without_a_config_gets_a_qlora_config_on_the_new_preset() {
    let (_dir, presets, configs) = libraries();
    let done = switch_preset(&configs, &presets, "Qwen/Qwen3-8B", "int4_double").unwrap();
    assert_eq!(done.previous, None);
    let saved = configs.get("Qwen/Qwen3-8B").unwrap().unwrap();
    assert_eq!(saved, done.entry);
    assert_eq!(saved.config.preset, "int4_double");
    assert_eq!(saved.config.task, Task::Train);
    assert_eq!(saved.config.method, Some(Method::Qlora));
    assert_eq!(saved.config.attempts(), ["int4_double", "int4_offload"]);
    assert_eq!(
        done.changes,
        ["new config: training with QLoRA, with the default fallback chain"]
    );
}

#[test]
fn lora_becomes_qlora_overrides_that_no_longer_fit_are_dropped_and_undo_restores_all() {
    let (_dir, presets, configs) = libraries();
    let mut before = ModelConfig::new("fp16", Task::Train);
    before.method = Some(Method::Lora);
    before.overrides = serde_json::from_value(json!({
        "torch_dtype": "bfloat16", "quantization": {"load_in_8bit": true}
    }))
    .unwrap();
    before.notes = "tuned by hand".into();
    let rev = configs
        .set("org/model", &before, Revision::ABSENT, &presets)
        .unwrap();
    let done = switch_preset(&configs, &presets, "org/model", "int4_double").unwrap();
    let previous = done.previous.clone().unwrap();
    assert_eq!(
        (previous.config.clone(), previous.revision),
        (before.clone(), rev)
    );
    let after = &done.entry.config;
    assert_eq!(after.preset, "int4_double");
    assert_eq!(after.method, Some(Method::Qlora));
    assert_eq!(
        after.overrides.quantization, None,
        "8-bit on top of NF4 is invalid"
    );
    assert_eq!(
        after.overrides.torch_dtype,
        Some(TorchDtype::Bfloat16),
        "kept"
    );
    assert_eq!(after.notes, "tuned by hand");
    assert_eq!(
        done.changes,
        [
            "method lora → qlora: LoRA on 4-bit weights is QLoRA",
            "quantization overrides dropped: they were written for fp16 and do not fit int4_double"
        ]
    );
    // Undo is a plain save of the previous config over the new revision.
    configs
        .set("org/model", &previous.config, done.entry.revision, &presets)
        .unwrap();
    assert_eq!(configs.get("org/model").unwrap().unwrap().config, before);
}

#[test]
fn a_full_fine_tune_is_not_switched_to_weights_it_cannot_train() {
    let (_dir, presets, configs) = libraries();
    let before = ModelConfig::new("bf16", Task::Train);
    configs
        .set("org/full", &before, Revision::ABSENT, &presets)
        .unwrap();
    let err = switch_preset(&configs, &presets, "org/full", "int4_double")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("method: org/full is trained with method \"full\""),
        "{err}"
    );
    assert!(err.contains("int4_double loads them in 4 bits"), "{err}");
    assert_eq!(
        configs.get("org/full").unwrap().unwrap().config,
        before,
        "unchanged"
    );
}

#[test]
fn inference_configs_switch_as_they_are_and_bad_requests_name_the_field() {
    let (_dir, presets, configs) = libraries();
    let before = ModelConfig::new("fp16", Task::Infer);
    configs
        .set("org/serve", &before, Revision::ABSENT, &presets)
        .unwrap();
    let done = switch_preset(&configs, &presets, "org/serve", "int4_double").unwrap();
    assert_eq!(done.entry.config.method, None);
    assert!(done.changes.is_empty(), "{:?}", done.changes);
    let same = switch_preset(&configs, &presets, "org/serve", "int4_double")
        .unwrap_err()
        .to_string();
    assert_eq!(same, "preset: org/serve's config already uses int4_double");
    let unknown = switch_preset(&configs, &presets, "org/serve", "int3")
        .unwrap_err()
        .to_string();
    assert!(unknown.starts_with("preset:"), "{unknown}");
    let bad_id = switch_preset(&configs, &presets, "../escape", "int4")
        .unwrap_err()
        .to_string();
    assert!(bad_id.starts_with("model_id:"), "{bad_id}");
}
