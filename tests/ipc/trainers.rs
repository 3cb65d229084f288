//! The Plan view's trainer configs (docs/trainers.md): import through the open dialog or a drop on the window,
//! export through the save dialog. No command takes a path from the window.

use std::path::PathBuf;

use headroom_app::commands::trainers::{remember_drop, DroppedConfigs};
use serde_json::json;
use tauri::Manager;

use super::{assert_refused, harness, invoke};

fn fixture(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/trainers")
        .join(p)
}

#[test]
fn a_picked_config_is_imported_with_its_report_and_a_cancel_is_null() {
    let h = harness();
    h.pick(fixture(
        "axolotl/examples/alst/llama3-8b-deepspeed-alst.yaml",
    ));
    let r = invoke(&h, "plan_import_config", json!({})).unwrap();
    assert_eq!(r["plan"]["sharding"], "zero3");
    assert_eq!(r["files"].as_array().unwrap().len(), 2);
    assert!(!r["not_understood"].as_array().unwrap().is_empty());
    h.cancel_pick();
    assert_eq!(
        invoke(&h, "plan_import_config", json!({})).unwrap(),
        json!(null)
    );
}

#[test]
fn dropped_files_are_imported_once_from_the_paths_the_shell_kept() {
    let h = harness();
    assert_eq!(
        invoke(&h, "plan_import_dropped", json!({})).unwrap(),
        json!(null)
    );
    let window = h.window.as_ref().window();
    let dropped = h.window.state::<DroppedConfigs>();
    remember_drop(
        &window,
        &dropped,
        &[
            fixture("llama_factory/examples/extras/fsdp_qlora/llama3_lora_sft.yaml"),
            fixture("llama_factory/examples/accelerate/fsdp_config.yaml"),
        ],
    );
    let r = invoke(&h, "plan_import_dropped", json!({})).unwrap();
    assert_eq!(r["plan"]["sharding"], "fsdp_full_shard");
    assert_eq!(r["plan"]["method"], "qlora");
    assert_eq!(
        invoke(&h, "plan_import_dropped", json!({})).unwrap(),
        json!(null)
    );
}

#[test]
fn a_plan_exports_through_the_save_dialog() {
    let h = harness();
    let plan = json!({"model": {"id": "meta-llama/Llama-3.1-8B"}, "task": "train", "sharding": "zero2",
                      "offload": "optimizer", "gpus": {"count": 4, "memory_gib": 80}});
    let out = h.paths.data_dir.join("ds_config.json");
    h.pick(&out);
    let saved = invoke(
        &h,
        "plan_export_config",
        json!({"plan": plan, "format": "deepspeed"}),
    )
    .unwrap();
    assert_eq!(saved["path"], out.display().to_string());
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(written["zero_optimization"]["stage"], 2);
    let yaml = h.paths.data_dir.join("accelerate.yaml");
    h.pick(&yaml);
    let saved = invoke(
        &h,
        "plan_export_config",
        json!({"plan": plan, "format": "accelerate"}),
    )
    .unwrap();
    assert!(!saved["not_carried"].as_array().unwrap().is_empty());
    assert!(std::fs::read_to_string(&yaml)
        .unwrap()
        .contains("zero_stage: 2"));
    // An FSDP plan cannot be a DeepSpeed config: refused before any dialog opens.
    let mut fsdp = plan.clone();
    fsdp["sharding"] = json!("fsdp_full_shard");
    fsdp["offload"] = json!("none");
    let err = invoke(
        &h,
        "plan_export_config",
        json!({"plan": fsdp, "format": "deepspeed"}),
    )
    .unwrap_err();
    assert_refused(&err, "sharding:");
    h.cancel_pick();
    assert_eq!(
        invoke(
            &h,
            "plan_export_config",
            json!({"plan": plan, "format": "deepspeed"})
        )
        .unwrap(),
        json!(null)
    );
}
