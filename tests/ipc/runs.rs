//! Runs through IPC: the launcher in its background thread with a real child process, cancel, history.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{harness, invoke, Harness};

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/launch")
}

/// The fake training script, with the FAKE_* switches set through `env` so the test process's own
/// environment (shared by the parallel tests) stays untouched.
fn start(h: &Harness, fake: &str, chain: &[&str]) -> Result<Value, Value> {
    invoke(
        h,
        "runs_start",
        json!({
            "start": {
                "model": "llama-8b",
                "argv": ["env", fake, "python3", fixture_dir().join("fake_train.py")],
                "cwd": fixture_dir(),
                "profile": "production",
                "chain": chain,
            },
            "onUpdate": "__CHANNEL__:7",
        }),
    )
}

fn wait_until_finished(h: &Harness, run_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let active = invoke(h, "runs_active", json!({})).unwrap();
        if !active.as_array().unwrap().iter().any(|r| r == run_id) {
            let record = invoke(h, "runs_load", json!({"runId": run_id})).unwrap();
            if !record["outcome"].is_null() {
                return record;
            }
        }
        assert!(Instant::now() < deadline, "run {run_id} did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_oom_relaunches_with_the_next_preset_and_the_history_keeps_both_attempts() {
    let h = harness();
    let run_id = start(&h, "FAKE_OOM_PRESETS=fp16", &["fp16", "int8", "int4"]).unwrap();
    let run_id = run_id.as_str().unwrap().to_string();
    let record = wait_until_finished(&h, &run_id);
    assert_eq!(record["outcome"], "succeeded");
    let presets: Vec<&str> = record["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["preset"].as_str().unwrap())
        .collect();
    assert_eq!(presets, ["fp16", "int8"]);
    assert!(record["attempts"][0]["oom"]["requested_bytes"].is_u64());
    assert_eq!(
        record["attempts"][0]["next"],
        json!({"kind": "next_preset", "preset": "int8"})
    );
    // No monitor is attached: the peak is unknown, never 0.
    assert_eq!(record["attempts"][1]["measured_peak_bytes"], json!(null));

    let list = invoke(&h, "runs_list", json!({})).unwrap();
    assert_eq!(list["runs"][0]["run_id"], run_id.as_str());
    let log = invoke(&h, "runs_log", json!({"runId": run_id, "attempt": 1})).unwrap();
    assert!(log["text"]
        .as_str()
        .unwrap()
        .contains("training with preset int8"));
    let log = invoke(&h, "runs_log", json!({"runId": run_id, "attempt": 0})).unwrap();
    assert!(log["text"].as_str().unwrap().contains("CUDA out of memory"));
}

#[test]
fn cancel_stops_a_hanging_run() {
    let h = harness();
    let pid_file = h.paths.data_dir.join("grandchild.pid");
    std::fs::create_dir_all(&h.paths.data_dir).unwrap();
    let run_id = invoke(
        &h,
        "runs_start",
        json!({
            "start": {
                "model": "llama-8b",
                "argv": ["env", "FAKE_MODE=hang", format!("FAKE_PID_FILE={}", pid_file.display()),
                         "python3", fixture_dir().join("fake_train.py")],
                "cwd": fixture_dir(),
                "profile": "production",
                "chain": ["fp16"],
            },
            "onUpdate": "__CHANNEL__:8",
        }),
    )
    .unwrap();
    let run_id = run_id.as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !pid_file.exists() {
        assert!(Instant::now() < deadline, "the script did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    invoke(&h, "runs_cancel", json!({"runId": run_id})).unwrap();
    let record = wait_until_finished(&h, &run_id);
    assert_eq!(record["outcome"], "cancelled");
    let err = invoke(&h, "runs_cancel", json!({"runId": run_id})).unwrap_err();
    assert!(
        err["message"].as_str().unwrap().starts_with("run_id: "),
        "{err}"
    );
}

#[test]
fn a_refused_request_names_the_field_and_starts_nothing() {
    let h = harness();
    let err = invoke(
        &h,
        "runs_start",
        json!({
            "start": {"model": "m", "argv": ["true"], "cwd": "/no/such/dir", "profile": "production", "chain": ["fp16"]},
            "onUpdate": "__CHANNEL__:9",
        }),
    )
    .unwrap_err();
    assert!(
        err["message"].as_str().unwrap().starts_with("cwd: "),
        "{err}"
    );
    let err = start(&h, "X=1", &["fp16", "nonsense"]).unwrap_err();
    assert!(
        err["message"].as_str().unwrap().starts_with("chain"),
        "{err}"
    );
    let err = start(&h, "X=1", &[]).unwrap_err();
    assert!(
        err["message"].as_str().unwrap().starts_with("chain: "),
        "{err}"
    );
    let list = invoke(&h, "runs_list", json!({})).unwrap();
    assert_eq!(list["runs"], json!([]));
    let defaults = invoke(&h, "runs_defaults", json!({"model": ""})).unwrap();
    assert_eq!(defaults["chain"][0], "fp16");
}

#[test]
fn a_models_saved_config_gives_the_chain_and_the_library_hands_over_its_presets() {
    let h = harness();
    // Saved with the presets core's own store format, as the Presets view would.
    let configs = headroom_core::presets::config_store::ConfigLibrary::new(&h.paths);
    let library = headroom_core::presets::library::PresetLibrary::new(&h.paths);
    let mut config = headroom_core::presets::model_config::ModelConfig::new(
        "int8",
        headroom_core::presets::model_config::Task::Train,
    );
    config.fallback_chain = vec!["int8".into(), "int4".into()];
    configs
        .set(
            "org/llama",
            &config,
            headroom_core::store::Revision::ABSENT,
            &library,
        )
        .unwrap();
    let defaults = invoke(&h, "runs_defaults", json!({"model": "org/llama"})).unwrap();
    assert_eq!(defaults["chain"], json!(["int8", "int4"]));
    assert_eq!(defaults["saved"], true);
    let none = invoke(&h, "runs_defaults", json!({"model": "other"})).unwrap();
    assert_eq!(none["saved"], false);
    assert_eq!(none["chain"][0], "fp16");
    assert!(none["presets"].as_array().unwrap().len() >= 5);

    // The run hands over the library's int8 (a real BitsAndBytesConfig dict) and relaunches with int4.
    let dump = h.paths.data_dir.join("dump");
    std::fs::create_dir_all(&dump).unwrap();
    let run_id = invoke(
        &h,
        "runs_start",
        json!({
            "start": {
                "model": "org/llama",
                "argv": ["env", "FAKE_OOM_PRESETS=int8", format!("FAKE_DUMP_DIR={}", dump.display()),
                         "python3", fixture_dir().join("fake_train.py")],
                "cwd": fixture_dir(),
                "profile": "production",
                "chain": defaults["chain"],
            },
            "onUpdate": "__CHANNEL__:10",
        }),
    )
    .unwrap();
    let record = wait_until_finished(&h, run_id.as_str().unwrap());
    assert_eq!(record["outcome"], "succeeded");
    let got: Value =
        serde_json::from_str(&std::fs::read_to_string(dump.join("attempt-0.json")).unwrap())
            .unwrap();
    assert_eq!(got["env"]["HEADROOM_PRESET"], "int8");
    assert_eq!(got["quant_config"]["load_in_8bit"], true);
    assert!(got["load_kwargs"].get("quantization_config").is_none());
    let got: Value =
        serde_json::from_str(&std::fs::read_to_string(dump.join("attempt-1.json")).unwrap())
            .unwrap();
    assert_eq!(got["env"]["HEADROOM_PRESET"], "int4");
    assert_eq!(got["quant_config"]["bnb_4bit_quant_type"], "nf4");
}
