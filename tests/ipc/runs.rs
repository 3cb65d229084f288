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

fn save_config(h: &Harness, model: &str, method: headroom_core::presets::model_config::Method) {
    use headroom_core::presets::model_config::{ModelConfig, Task};
    let configs = headroom_core::presets::config_store::ConfigLibrary::new(&h.paths);
    let library = headroom_core::presets::library::PresetLibrary::new(&h.paths);
    let mut config = ModelConfig::new("fp16", Task::Train);
    config.method = Some(method);
    configs
        .set(
            model,
            &config,
            headroom_core::store::Revision::ABSENT,
            &library,
        )
        .unwrap();
}

fn start_with_plan(
    h: &Harness,
    model: &str,
    batch: Value,
    sequence: Value,
) -> Result<Value, Value> {
    invoke(
        h,
        "runs_start",
        json!({
            "start": {
                "model": model,
                "argv": ["env", "FAKE_OOM_PRESETS=fp16,int8", "python3", fixture_dir().join("fake_train.py")],
                "cwd": fixture_dir(),
                "profile": "production",
                "chain": ["fp16", "int8", "int4"],
                "batch_size": batch,
                "sequence_length": sequence,
            },
            "onUpdate": "__CHANNEL__:11",
        }),
    )
}

#[test]
fn each_attempt_keeps_the_estimators_device_peak_for_its_preset() {
    let h = harness();
    let model = "meta-llama/Llama-3.1-8B";
    save_config(
        &h,
        model,
        headroom_core::presets::model_config::Method::Lora,
    );
    let run_id = start_with_plan(&h, model, json!(2), json!(1024)).unwrap();
    let record = wait_until_finished(&h, run_id.as_str().unwrap());
    assert_eq!(record["outcome"], "succeeded");
    let attempts = record["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    // The same figure the Plan view answers for that plan with that preset.
    for (attempt, preset) in attempts.iter().zip(["fp16", "int8", "int4"]) {
        let plan = json!({"model": {"id": model}, "task": "train", "method": "lora",
                          "quantization": preset, "batch_size": 2, "sequence_length": 1024});
        let answer = invoke(&h, "plan_answer", json!({"plan": plan})).unwrap();
        let expected = answer["estimate"]["per_gpu"]["device_peak_bytes"]
            .as_u64()
            .unwrap();
        assert_eq!(attempt["predicted_peak_bytes"], json!(expected), "{preset}");
        assert!(attempt.get("predicted_note").is_none());
    }
    let fp16 = attempts[0]["predicted_peak_bytes"].as_u64().unwrap();
    let int4 = attempts[2]["predicted_peak_bytes"].as_u64().unwrap();
    assert!(int4 < fp16, "int4 {int4} should need less than fp16 {fp16}");
}

#[test]
fn a_preset_the_plan_rejects_keeps_the_reason_instead_of_a_figure() {
    let h = harness();
    let model = "meta-llama/Llama-3.1-8B";
    // Full training: quantized weights cannot be trained, so int8 and int4 get a note, fp16 a figure.
    save_config(
        &h,
        model,
        headroom_core::presets::model_config::Method::Full,
    );
    let run_id = start_with_plan(&h, model, json!(1), json!(512)).unwrap();
    let record = wait_until_finished(&h, run_id.as_str().unwrap());
    let attempts = record["attempts"].as_array().unwrap();
    assert!(attempts[0]["predicted_peak_bytes"].as_u64().unwrap() > 0);
    assert_eq!(attempts[1]["predicted_peak_bytes"], json!(null));
    assert!(attempts[1]["predicted_note"]
        .as_str()
        .unwrap()
        .contains("int8"));
}

#[test]
fn a_plan_that_cannot_be_formed_is_refused_naming_the_field() {
    let h = harness();
    // No saved config: no task or method to estimate with.
    let err = start_with_plan(&h, "meta-llama/Llama-3.1-8B", json!(2), json!(1024)).unwrap_err();
    assert_eq!(err["code"], "invalid");
    assert!(
        err["message"].as_str().unwrap().contains("batch_size"),
        "{err}"
    );
    save_config(
        &h,
        "meta-llama/Llama-3.1-8B",
        headroom_core::presets::model_config::Method::Lora,
    );
    let err = start_with_plan(&h, "meta-llama/Llama-3.1-8B", json!(2), json!(null)).unwrap_err();
    assert!(
        err["message"].as_str().unwrap().contains("sequence_length"),
        "{err}"
    );
    let err = start_with_plan(&h, "meta-llama/Llama-3.1-8B", json!(0), json!(16)).unwrap_err();
    assert!(
        err["message"].as_str().unwrap().contains("batch_size"),
        "{err}"
    );
    // A model the estimator cannot read.
    save_config(
        &h,
        "no/such-model",
        headroom_core::presets::model_config::Method::Lora,
    );
    let err = start_with_plan(&h, "no/such-model", json!(2), json!(1024)).unwrap_err();
    assert!(err["message"].as_str().unwrap().contains("model"), "{err}");
    assert_eq!(
        invoke(&h, "runs_list", json!({})).unwrap()["runs"],
        json!([])
    );
}

#[test]
fn a_reloaded_window_gets_the_run_in_progress_back_with_its_newest_lines() {
    let h = harness();
    let attach = |channel: u32| {
        invoke(
            &h,
            "runs_attach",
            json!({"onUpdate": format!("__CHANNEL__:{channel}")}),
        )
        .unwrap()
    };
    assert_eq!(attach(12), json!(null), "no run, nothing to attach to");

    // More lines than a snapshot keeps, then a wait so the run is still going when the window comes back.
    let run_id = invoke(
        &h,
        "runs_start",
        json!({
            "start": {
                "model": "llama-8b",
                "argv": ["sh", "-c", "seq 1 2500; exec sleep 300"],
                "cwd": fixture_dir(),
                "profile": "production",
                "chain": ["fp16"],
            },
            "onUpdate": "__CHANNEL__:13",
        }),
    )
    .unwrap();
    let run_id = run_id.as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    let snapshot = loop {
        let snapshot = attach(14);
        let all_lines = snapshot["lines"]
            .as_array()
            .unwrap()
            .last()
            .map(|l| &l["line"])
            == Some(&json!("2500"));
        // The probe says what it measured, or why it cannot (no NVIDIA driver here).
        let memory_known = snapshot["memory_unavailable"].is_string()
            || !snapshot["memory"].as_array().unwrap().is_empty();
        if all_lines && memory_known {
            break snapshot;
        }
        assert!(
            Instant::now() < deadline,
            "the run's output did not all arrive: {snapshot}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(snapshot["run_id"], run_id.as_str());
    let events: Vec<&str> = snapshot["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["run_started", "attempt_started"]);
    assert_eq!(snapshot["attempts"][1]["preset"], "fp16");
    let lines = snapshot["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2000);
    assert_eq!(
        lines[0],
        json!({"attempt": 0, "stream": "stdout", "line": "501"})
    );
    assert_eq!(snapshot["dropped_lines"], 500);

    invoke(&h, "runs_cancel", json!({"runId": run_id})).unwrap();
    let record = wait_until_finished(&h, &run_id);
    assert_eq!(record["outcome"], "cancelled");
    assert_eq!(
        attach(15),
        json!(null),
        "the run is over: the history has it"
    );
}
