//! The Plan view's commands: answer a plan, search the catalog, list GPUs.

use serde_json::json;

use super::{harness, invoke};

fn qlora_8b_on_a_4090() -> serde_json::Value {
    json!({"model": {"id": "meta-llama/Llama-3.1-8B"}, "task": "train", "method": "qlora",
        "quantization": "int4_double", "optimizer": "paged_adamw_8bit", "gradient_checkpointing": true,
        "gpus": {"count": 1, "model": "RTX 4090"}})
}

#[test]
fn a_plan_is_answered_with_verdict_limits_ranking_and_suggestions() {
    let h = harness();
    // Every batch padded or packed to the plan's 2048 tokens: nothing strands between lengths (docs/estimator.md
    // §17), so the band's upper end fits the 4090.
    let mut fixed = qlora_8b_on_a_4090();
    fixed["sequence_lengths"] = json!([2048]);
    let a = invoke(&h, "plan_answer", json!({"plan": fixed})).unwrap();
    assert_eq!(a["model"]["parameters"], 8_030_261_248u64);
    assert_eq!(a["preset"], "int4_double");
    assert_eq!(a["gpu_memory_bytes"], 24564u64 << 20);
    assert_eq!(a["verdict"]["kind"], "fits");
    // Free memory is counted from the band's upper end, which decides by default.
    let high = a["estimate"]["per_gpu"]["range"]["device_peak_bytes"]["high"]
        .as_u64()
        .unwrap();
    assert_eq!(
        a["verdict"]["bytes"].as_u64().unwrap(),
        (24564u64 << 20) - high
    );
    assert!(a["limits"]["max_batch_size"].as_u64().unwrap() >= 1);
    let ranked = a["ranked"].as_array().unwrap();
    assert_eq!(ranked.len(), 8);
    assert!(!a["suggestions"].as_array().unwrap().is_empty());
    // Each suggestion carries the whole changed plan, which answers again.
    let changed = a["suggestions"][0]["plan"].clone();
    let b = invoke(&h, "plan_answer", json!({"plan": changed})).unwrap();
    assert_eq!(
        b["estimate"]["per_gpu"]["device_peak_bytes"],
        a["suggestions"][0]["device_peak_bytes"]
    );
    // Lengths left open widen the upper end past the margin: "tight", counted from the central peak, which
    // expects what changing lengths strand (docs/estimator.md §10.3) above the one-length plan's.
    let open = invoke(&h, "plan_answer", json!({"plan": qlora_8b_on_a_4090()})).unwrap();
    assert_eq!(open["verdict"]["kind"], "tight", "{}", open["verdict"]);
    let device = open["estimate"]["per_gpu"]["device_peak_bytes"]
        .as_u64()
        .unwrap();
    assert!(
        a["estimate"]["per_gpu"]["device_peak_bytes"]
            .as_u64()
            .unwrap()
            < device
    );
    assert_eq!(
        open["verdict"]["bytes"].as_u64().unwrap(),
        (24564u64 << 20) - device
    );
}

#[test]
fn bad_plans_name_the_field() {
    let h = harness();
    let mut plan = qlora_8b_on_a_4090();
    plan["batch_size"] = json!(0);
    let err = invoke(&h, "plan_answer", json!({"plan": plan})).unwrap_err();
    assert_eq!(err["code"], "invalid");
    assert_eq!(err["field"], "batch_size", "{err}");
    assert!(
        err["message"].as_str().unwrap().starts_with("batch_size:"),
        "{err}"
    );
    let err = invoke(
        &h,
        "plan_answer",
        json!({"plan": {"model": {"id": "no/such"}, "task": "infer"}}),
    )
    .unwrap_err();
    assert!(
        err["message"].as_str().unwrap().starts_with("model.id:"),
        "{err}"
    );
    assert_eq!(err["field"], "model.id", "{err}");
}

#[test]
fn a_user_preset_can_be_named_in_a_plan() {
    let h = harness();
    headroom_core::presets::library::PresetLibrary::new(&h.paths)
        .duplicate("int4_double", "mine")
        .unwrap();
    let mut plan = qlora_8b_on_a_4090();
    plan["quantization"] = json!("mine");
    let a = invoke(&h, "plan_answer", json!({"plan": plan})).unwrap();
    assert_eq!(a["preset"], "mine");
    assert!(a["ranked"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["preset"] == "mine"));
}

#[test]
fn the_catalog_is_searchable_and_gpus_are_listed() {
    let h = harness();
    let found = invoke(&h, "plan_catalog", json!({"query": "llama-3.1-8b"})).unwrap();
    assert!(found
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == "meta-llama/Llama-3.1-8B" && m["model_type"] == "llama"));
    let gpus = invoke(&h, "plan_gpus", json!({})).unwrap();
    assert!(gpus["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["name"] == "RTX 4090" && g["memory_bytes"] == 24564u64 << 20));
    // Either this machine's GPUs were read, or it says why not: never both empty and silent.
    assert!(
        !gpus["machine"].as_array().unwrap().is_empty() || gpus["machine_unavailable"].is_string()
    );
    let cache = invoke(&h, "plan_hf_cache", json!({})).unwrap();
    assert!(cache["models"].is_array());
}

#[test]
fn a_plan_saves_and_loads_through_the_dialogs_and_a_cancel_is_null() {
    let h = harness();
    let file = h.paths.data_dir.join("mine.plan.json");
    h.pick(&file);
    let saved = invoke(&h, "plan_save", json!({"plan": qlora_8b_on_a_4090()})).unwrap();
    assert_eq!(saved, json!(file));
    h.pick(&file);
    let loaded = invoke(&h, "plan_load", json!({})).unwrap();
    assert_eq!(loaded["model"], json!({"id": "meta-llama/Llama-3.1-8B"}));
    assert_eq!(loaded["method"], json!("qlora"));
    h.pick(&h.paths.data_dir);
    let folder = invoke(&h, "plan_pick_folder", json!({})).unwrap();
    assert_eq!(folder, json!(h.paths.data_dir));
    for cmd in ["plan_save", "plan_load", "plan_pick_folder"] {
        h.cancel_pick();
        let args = json!({"plan": qlora_8b_on_a_4090()});
        assert_eq!(invoke(&h, cmd, args).unwrap(), json!(null), "{cmd}");
    }
    assert_eq!(h.picks.remaining(), 0, "each command opened its dialog");
}

#[test]
fn a_config_json_picked_is_read_for_the_plan_and_a_bad_one_names_the_field() {
    let h = harness();
    let good = h.paths.data_dir.join("my-config.json");
    std::fs::create_dir_all(&h.paths.data_dir).unwrap();
    std::fs::write(&good, r#"{"model_type": "llama", "hidden_size": 4096}"#).unwrap();
    h.pick(&good);
    let picked = invoke(&h, "plan_pick_config", json!({})).unwrap();
    assert_eq!(picked["path"], json!(good));
    assert_eq!(picked["config"]["model_type"], json!("llama"));
    let bad = h.paths.data_dir.join("list.json");
    std::fs::write(&bad, "[1, 2]").unwrap();
    h.pick(&bad);
    let err = invoke(&h, "plan_pick_config", json!({})).unwrap_err();
    assert_eq!(err["field"], json!("model.config"), "{err}");
    h.cancel_pick();
    assert_eq!(
        invoke(&h, "plan_pick_config", json!({})).unwrap(),
        json!(null)
    );
}

/// The Settings choice of `fit_on` reaches plans that do not name one: with the central figure deciding, the
/// verdict counts free memory from the central device peak.
#[test]
fn the_settings_fit_on_reaches_the_plan_view() {
    let h = harness();
    invoke(
        &h,
        "save_settings",
        json!({"settings": {"language": "auto", "theme": "system", "notify_on_critical": false, "fit_on": "central"}}),
    )
    .unwrap();
    let a = invoke(&h, "plan_answer", json!({"plan": qlora_8b_on_a_4090()})).unwrap();
    assert_eq!(a["plan"]["fit_on"], "central");
    let device = a["estimate"]["per_gpu"]["device_peak_bytes"]
        .as_u64()
        .unwrap();
    assert_eq!(
        a["verdict"]["bytes"].as_u64().unwrap(),
        (24564u64 << 20) - device
    );
}
