//! The trace commands on the mock runtime: errors with their codes, cancel from a second call, the Settings
//! check, and (with HEADROOM_TEST_PYTHON) a real trace of a tiny checkpoint.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{assert_mentions, assert_refused, harness, invoke, Harness};

const TINY_LLAMA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/models/tiny-llama"
);

fn lora_plan() -> Value {
    json!({"model": {"path": TINY_LLAMA}, "task": "train", "method": "lora", "sequence_length": 64})
}

fn set_python(h: &Harness, path: &str) {
    invoke(
        h,
        "save_settings",
        json!({"settings": {"language": "auto", "theme": "system", "notify_on_critical": false,
            "python_path": path}}),
    )
    .unwrap();
}

fn trace(h: &Harness, plan: Value) -> Result<Value, Value> {
    invoke(
        h,
        "trace_plan",
        json!({"plan": plan, "onProgress": "__CHANNEL__:7"}),
    )
}

#[test]
fn a_missing_python_is_a_trace_error_and_a_sharded_plan_is_invalid() {
    let h = harness();
    set_python(&h, "/no/such/python");
    let err = trace(&h, lora_plan()).unwrap_err();
    assert_eq!(err["code"], "trace", "{err}");
    assert_mentions(&err, "/no/such/python");
    let mut sharded = lora_plan();
    sharded["sharding"] = json!("zero2");
    sharded["gpus"] = json!({"count": 2, "memory_gib": 24});
    let err = trace(&h, sharded).unwrap_err();
    assert_eq!(err["code"], "invalid", "{err}");
    assert_refused(&err, "sharding: ");
    // The slot was freed after each failure: nothing is running, cancel is a no-op.
    assert_eq!(invoke(&h, "trace_cancel", json!({})).unwrap(), Value::Null);
}

/// A "python" that never answers, so the trace hangs in its probe until cancelled.
fn hanging_python(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("python3");
    std::fs::write(&path, "#!/bin/sh\nexec sleep 600\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn cancel_stops_a_running_trace_and_a_second_trace_is_refused_meanwhile() {
    let h = std::sync::Arc::new(harness());
    let dir = tempfile::tempdir().unwrap();
    set_python(&h, hanging_python(dir.path()).to_str().unwrap());
    let runner = {
        let h = h.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            (trace(&h, lora_plan()), started.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(800));
    let err = trace(&h, lora_plan()).unwrap_err();
    assert_refused(&err, "trace: a trace is already running");
    invoke(&h, "trace_cancel", json!({})).unwrap();
    let (result, took) = runner.join().unwrap();
    let err = result.unwrap_err();
    assert_eq!(err["code"], "cancelled", "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn check_python_reports_what_is_missing() {
    let h = harness();
    let err = invoke(&h, "trace_check_python", json!({"path": "/no/such/python"})).unwrap_err();
    assert_eq!(err["code"], "trace");
    assert_mentions(&err, "does not exist");
    let system = Path::new("/usr/bin/python3");
    let has_torch = std::process::Command::new(system)
        .args(["-c", "import torch"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if system.is_file() && !has_torch {
        let err = invoke(
            &h,
            "trace_check_python",
            json!({"path": "/usr/bin/python3"}),
        )
        .unwrap_err();
        assert_eq!(err["code"], "trace");
        assert_mentions(&err, "cannot import torch");
    }
}

/// The Python with torch to trace with, or `None` (skip) outside CI.
fn test_python() -> Option<String> {
    match std::env::var("HEADROOM_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ if std::env::var_os("CI").is_some() => panic!("HEADROOM_TEST_PYTHON is not set under CI"),
        _ => {
            eprintln!("skipped: HEADROOM_TEST_PYTHON is not set (a Python with torch, transformers and peft)");
            None
        }
    }
}

#[test]
fn a_real_trace_answers_with_the_estimate_and_the_timeline() {
    let Some(python) = test_python() else { return };
    let h = harness();
    let info = invoke(&h, "trace_check_python", json!({"path": python})).unwrap();
    assert!(info["torch"].is_string(), "{info}");
    assert!(info["transformers"].is_string(), "{info}");
    set_python(&h, &python);
    let out = trace(&h, lora_plan()).unwrap();
    let e = &out["estimate"];
    assert_eq!(e["engine"], "trace");
    assert!(e["peak"]["phase"].is_string(), "{e}");
    let g = &e["per_gpu"];
    assert!(g["reserved_peak_bytes"].as_u64() >= g["allocated_peak_bytes"].as_u64());
    let timeline = out["timeline"].as_array().unwrap();
    assert!(!timeline.is_empty());
    let top = timeline
        .iter()
        .map(|p| p["allocated"].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(top <= g["allocated_peak_bytes"].as_u64().unwrap(), "{top}");
}
