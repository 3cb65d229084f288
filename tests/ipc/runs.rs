//! Runs through IPC: the launcher in its background thread with a real child process, cancel, history.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use headroom_core::presets::config_store::ConfigLibrary;
use headroom_core::presets::library::PresetLibrary;
use headroom_core::presets::model_config::{Method, ModelConfig, Task};
use headroom_core::store::Revision;

use crate::{assert_mentions, assert_refused, harness, invoke, Harness};

/// A model the estimator knows, for the runs that carry a plan.
const LLAMA_8B: &str = "meta-llama/Llama-3.1-8B";

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/launch")
}

/// The fake training script, with its FAKE_* switches set through `env` so the test process's own
/// environment (shared by the parallel tests) stays untouched.
fn fake_argv(switches: &[&str]) -> Value {
    let mut argv = vec![json!("env")];
    argv.extend(switches.iter().map(|s| json!(s)));
    argv.extend([json!("python3"), json!(fixture_dir().join("fake_train.py"))]);
    Value::Array(argv)
}

/// What the start form sends for `argv`, run in the fixtures folder under the production profile.
fn start_request(model: &str, argv: Value, chain: Value) -> Value {
    json!({"model": model, "argv": argv, "cwd": fixture_dir(), "profile": "production", "chain": chain})
}

/// Start a run with its updates on the channel numbered `channel` (the mock runtime drops what it gets).
fn runs_start(h: &Harness, start: Value, channel: u32) -> Result<Value, Value> {
    invoke(
        h,
        "runs_start",
        json!({"start": start, "onUpdate": format!("__CHANNEL__:{channel}")}),
    )
}

fn start(h: &Harness, fake: &str, chain: &[&str]) -> Result<Value, Value> {
    runs_start(
        h,
        start_request("llama-8b", fake_argv(&[fake]), json!(chain)),
        7,
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
    let pid_switch = format!("FAKE_PID_FILE={}", pid_file.display());
    let argv = fake_argv(&["FAKE_MODE=hang", &pid_switch]);
    let run_id = runs_start(&h, start_request("llama-8b", argv, json!(["fp16"])), 8).unwrap();
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
    assert_refused(&err, "run_id: ");
}

#[test]
fn a_refused_request_names_the_field_and_starts_nothing() {
    let h = harness();
    let mut request = start_request("m", json!(["true"]), json!(["fp16"]));
    request["cwd"] = json!("/no/such/dir");
    let err = runs_start(&h, request, 9).unwrap_err();
    assert_refused(&err, "cwd: ");
    let err = start(&h, "X=1", &["fp16", "nonsense"]).unwrap_err();
    assert_refused(&err, "chain");
    let err = start(&h, "X=1", &[]).unwrap_err();
    assert_refused(&err, "chain: ");
    let list = invoke(&h, "runs_list", json!({})).unwrap();
    assert_eq!(list["runs"], json!([]));
    let defaults = invoke(&h, "runs_defaults", json!({"model": ""})).unwrap();
    assert_eq!(defaults["chain"][0], "fp16");
}

#[test]
fn a_models_saved_config_gives_the_chain_and_the_library_hands_over_its_presets() {
    let h = harness();
    let mut config = ModelConfig::new("int8", Task::Train);
    config.fallback_chain = vec!["int8".into(), "int4".into()];
    save_model_config(&h, "org/llama", &config);
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
    let dump_switch = format!("FAKE_DUMP_DIR={}", dump.display());
    let argv = fake_argv(&["FAKE_OOM_PRESETS=int8", &dump_switch]);
    let run_id = runs_start(
        &h,
        start_request("org/llama", argv, defaults["chain"].clone()),
        10,
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

/// Save `model`'s config with the presets core's own store format, as the Presets view would.
fn save_model_config(h: &Harness, model: &str, config: &ModelConfig) {
    let configs = ConfigLibrary::new(&h.paths);
    let library = PresetLibrary::new(&h.paths);
    configs
        .set(model, config, Revision::ABSENT, &library)
        .unwrap();
}

/// A training config for `model` with `method`: what the estimator needs to predict each preset's peak.
fn save_config(h: &Harness, model: &str, method: Method) {
    let mut config = ModelConfig::new("fp16", Task::Train);
    config.method = Some(method);
    save_model_config(h, model, &config);
}

fn start_with_plan(
    h: &Harness,
    model: &str,
    batch: Value,
    sequence: Value,
) -> Result<Value, Value> {
    let mut request = start_request(
        model,
        fake_argv(&["FAKE_OOM_PRESETS=fp16,int8"]),
        json!(["fp16", "int8", "int4"]),
    );
    request["batch_size"] = batch;
    request["sequence_length"] = sequence;
    runs_start(h, request, 11)
}

/// A finished run of the 8B model's plan, with its config saved for `method`: fp16 and int8 die of OOM.
fn finished_plan_run(method: Method, batch: u64, sequence: u64) -> (Harness, Value) {
    let h = harness();
    save_config(&h, LLAMA_8B, method);
    let run_id = start_with_plan(&h, LLAMA_8B, json!(batch), json!(sequence)).unwrap();
    let record = wait_until_finished(&h, run_id.as_str().unwrap());
    (h, record)
}

#[test]
fn each_attempt_keeps_the_estimators_device_peak_for_its_preset() {
    let (h, record) = finished_plan_run(Method::Lora, 2, 1024);
    assert_eq!(record["outcome"], "succeeded");
    let attempts = record["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    // The same figure the Plan view answers for that plan with that preset.
    for (attempt, preset) in attempts.iter().zip(["fp16", "int8", "int4"]) {
        let plan = json!({"model": {"id": LLAMA_8B}, "task": "train", "method": "lora",
                          "quantization": preset, "batch_size": 2, "sequence_length": 1024});
        let answer = invoke(&h, "plan_answer", json!({"plan": plan})).unwrap();
        let expected = answer["estimate"]["per_gpu"]["device_peak_bytes"]
            .as_u64()
            .unwrap();
        assert_eq!(attempt["predicted_peak_bytes"], json!(expected), "{preset}");
        assert!(attempt.get("predicted_note").is_none());
        // What the machine calibration reads back (docs/estimator.md §10.5).
        let per_gpu = &answer["estimate"]["per_gpu"];
        let mut detail = attempt["predicted_detail"].clone();
        // The band's allowance for changing lengths: the plan lists none, so there is one to measure against.
        let lengths = detail
            .as_object_mut()
            .unwrap()
            .remove("lengths_doubt_bytes");
        assert!(
            lengths.and_then(|b| b.as_u64()).is_some_and(|b| b > 0),
            "{preset}"
        );
        assert_eq!(
            detail,
            json!({"task": "train", "allocated_peak_bytes": per_gpu["allocated_peak_bytes"],
                   "managed_memory_bytes": per_gpu["managed_memory_bytes"]}),
            "{preset}"
        );
    }
    let fp16 = attempts[0]["predicted_peak_bytes"].as_u64().unwrap();
    let int4 = attempts[2]["predicted_peak_bytes"].as_u64().unwrap();
    assert!(int4 < fp16, "int4 {int4} should need less than fp16 {fp16}");
}

#[test]
fn a_preset_the_plan_rejects_keeps_the_reason_instead_of_a_figure() {
    // Full training: quantized weights cannot be trained, so int8 and int4 get a note, fp16 a figure.
    let (_h, record) = finished_plan_run(Method::Full, 1, 512);
    let attempts = record["attempts"].as_array().unwrap();
    assert!(attempts[0]["predicted_peak_bytes"].as_u64().unwrap() > 0);
    assert_eq!(attempts[1]["predicted_peak_bytes"], json!(null));
    assert!(attempts[1]["predicted_note"]
        .as_str()
        .unwrap()
        .contains("int8"));
}

#[test]
fn the_plan_views_plan_estimates_each_attempt_without_a_saved_config() {
    let h = harness();
    // The Plan view's plan: checkpointing on, micro-batch 2 × 1024; no config saved for the model.
    let plan = json!({"model": {"id": LLAMA_8B}, "task": "train", "method": "lora",
                      "gradient_checkpointing": true, "batch_size": 2, "sequence_length": 1024});
    let mut request = start_request(
        LLAMA_8B,
        fake_argv(&["FAKE_OOM_PRESETS=fp16,int8"]),
        json!(["fp16", "int8", "int4"]),
    );
    request["plan"] = plan.clone();
    let run_id = runs_start(&h, request.clone(), 11).unwrap();
    let record = wait_until_finished(&h, run_id.as_str().unwrap());
    let attempts = record["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    for (attempt, preset) in attempts.iter().zip(["fp16", "int8", "int4"]) {
        let mut step = plan.clone();
        step["quantization"] = json!(preset);
        let answer = invoke(&h, "plan_answer", json!({"plan": step})).unwrap();
        assert_eq!(
            attempt["predicted_peak_bytes"], answer["estimate"]["per_gpu"]["device_peak_bytes"],
            "{preset}: the Plan view's figure for the plan with this preset"
        );
        // The plan's batch and length are handed over.
        assert_eq!(attempt["environment"]["HEADROOM_MICRO_BATCH"], "2");
        assert_eq!(attempt["environment"]["HEADROOM_SEQUENCE_LENGTH"], "1024");
    }

    // A plan with a bad key is refused naming it, and starts nothing.
    request["plan"]["optimizer"] = json!("lion");
    let err = runs_start(&h, request, 12).unwrap_err();
    assert_mentions(&err, "plan.optimizer");
    assert_eq!(
        invoke(&h, "runs_list", json!({})).unwrap()["runs"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_plan_that_cannot_be_formed_is_refused_naming_the_field() {
    let h = harness();
    // No saved config: no task or method to estimate with.
    let err = start_with_plan(&h, LLAMA_8B, json!(2), json!(1024)).unwrap_err();
    assert_eq!(err["code"], "invalid");
    assert_mentions(&err, "batch_size");
    save_config(&h, LLAMA_8B, Method::Lora);
    let err = start_with_plan(&h, LLAMA_8B, json!(2), json!(null)).unwrap_err();
    assert_mentions(&err, "sequence_length");
    let err = start_with_plan(&h, LLAMA_8B, json!(0), json!(16)).unwrap_err();
    assert_mentions(&err, "batch_size");
    // A model the estimator cannot read.
    save_config(&h, "no/such-model", Method::Lora);
    let err = start_with_plan(&h, "no/such-model", json!(2), json!(1024)).unwrap_err();
    assert_mentions(&err, "model");
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
    let argv = json!(["sh", "-c", "seq 1 2500; exec sleep 300"]);
    let run_id = runs_start(&h, start_request("llama-8b", argv, json!(["fp16"])), 13).unwrap();
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

#[test]
fn the_run_list_marks_a_run_whose_launcher_died_and_leaves_its_own_runs_alone() {
    use headroom_core::launch::history::{self, RunRecord};
    use headroom_core::launch::tree::ProcessStamp;
    let h = harness();
    let proc_root = std::path::Path::new("/proc");
    // A launcher that is gone (a process that ran and was reaped) and the training it left running.
    let mut launcher = std::process::Command::new("true").spawn().unwrap();
    let launcher_stamp = ProcessStamp::of(proc_root, launcher.id()).unwrap();
    launcher.wait().unwrap();
    let mut training = std::process::Command::new("sleep")
        .arg("300")
        .spawn()
        .unwrap();
    let training_stamp = ProcessStamp::of(proc_root, training.id()).unwrap();
    let (run_id, _) = history::create_run_dir(&h.paths, 1_600_000_000_000).unwrap();
    let orphaned = RunRecord {
        run_id: run_id.clone(),
        model: "llama-8b".into(),
        profile: "production".into(),
        chain: vec!["fp16".into()],
        argv: vec!["python3".into(), "train.py".into()],
        cwd: "/".into(),
        started_unix_ms: 1_600_000_000_000,
        attempts: Vec::new(),
        outcome: None,
        launcher: Some(launcher_stamp),
        running: Some(training_stamp),
        interruption: None,
        start: None,
        distributed: None,
        plan: None,
    };
    history::save(&h.paths, &orphaned, Revision::ABSENT).unwrap();

    // A run of this app, going on: its launcher (this process) is alive.
    let pid_file = h.paths.data_dir.join("grandchild.pid");
    let pid_switch = format!("FAKE_PID_FILE={}", pid_file.display());
    let argv = fake_argv(&["FAKE_MODE=hang", &pid_switch]);
    let live_id = runs_start(&h, start_request("llama-8b", argv, json!(["fp16"])), 11).unwrap();
    let live_id = live_id.as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !pid_file.exists() {
        assert!(Instant::now() < deadline, "the script did not start");
        std::thread::sleep(Duration::from_millis(50));
    }

    let list = invoke(&h, "runs_list", json!({})).unwrap();
    let _ = training.kill();
    let _ = training.wait();
    let runs = list["runs"].as_array().unwrap();
    let find = |id: &str| runs.iter().find(|r| r["run_id"] == id).unwrap().clone();
    let marked = find(&run_id);
    assert_eq!(marked["outcome"], "interrupted");
    assert_eq!(marked["interruption"]["process"]["pid"], training_stamp.pid);
    assert_eq!(marked["interruption"]["process_alive"], true);
    let live = find(&live_id);
    assert_eq!(live["outcome"], json!(null), "{live}");
    assert!(live.get("interruption").is_none());

    invoke(&h, "runs_cancel", json!({"runId": live_id})).unwrap();
    assert_eq!(wait_until_finished(&h, &live_id)["outcome"], "cancelled");
}

#[test]
fn a_batch_step_from_the_form_halves_the_micro_batch_and_is_estimated_at_it() {
    let h = harness();
    save_config(&h, LLAMA_8B, Method::Lora);
    let mut request = start_request(
        LLAMA_8B,
        fake_argv(&["FAKE_OOM_PRESETS=fp16"]),
        json!(["fp16", "mb/2"]),
    );
    request["batch_size"] = json!(4);
    request["grad_accum"] = json!(2);
    request["sequence_length"] = json!(1024);
    let run_id = runs_start(&h, request, 12).unwrap();
    let record = wait_until_finished(&h, run_id.as_str().unwrap());
    assert_eq!(record["outcome"], "chain_exhausted");
    let attempts = record["attempts"].as_array().unwrap();
    let batches: Vec<_> = attempts
        .iter()
        .map(|a| (a["micro_batch"].as_u64(), a["grad_accum"].as_u64()))
        .collect();
    assert_eq!(batches, [(Some(4), Some(2)), (Some(2), Some(4))]);
    assert_eq!(
        attempts[0]["next"],
        json!({"kind": "next_preset", "preset": "fp16", "micro_batch": 2, "grad_accum": 4})
    );
    let full = attempts[0]["predicted_peak_bytes"].as_u64().unwrap();
    let half = attempts[1]["predicted_peak_bytes"].as_u64().unwrap();
    assert!(
        half < full,
        "micro-batch 2 ({half}) should need less than 4 ({full})"
    );

    // An odd micro-batch cannot be halved: refused naming the step, nothing starts.
    let mut odd = start_request(LLAMA_8B, fake_argv(&[]), json!(["fp16", "mb/2"]));
    odd["batch_size"] = json!(3);
    odd["sequence_length"] = json!(1024);
    let err = runs_start(&h, odd, 13).unwrap_err();
    assert!(
        err["message"].as_str().unwrap().contains("chain[1]"),
        "{err}"
    );
}
