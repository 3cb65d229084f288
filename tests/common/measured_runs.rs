//! Run records as the launcher writes them, for the tests of this machine's calibration (docs/estimator.md
//! §10.5). The core, CLI and IPC test binaries each include this file with `#[path]`, so not every binary uses
//! every function.
#![allow(dead_code)]

use headroom_core::launch::history::{self, RunRecord};
use headroom_core::paths::AppPaths;
use headroom_core::store::Revision;
use serde_json::{json, Value};

/// One attempt that ended with exit status 0. `detail` is the prediction's (task, allocated, managed); `None` is
/// a record made before the detail existed.
pub fn attempt(started: u64, measured: Option<u64>, detail: Option<(&str, u64, u64)>) -> Value {
    let mut a = json!({
        "index": 0, "preset": "bf16", "expandable_segments": false, "environment": {}, "pid": 100,
        "started_unix_ms": started, "duration_ms": 1000, "exit": {"code": 0, "signal": null},
        "cancelled": false, "oom": null, "measured_peak_bytes": measured,
        "predicted_peak_bytes": null, "log_file": "/tmp/attempt-0.log", "next": {"kind": "stop"}
    });
    if let Some((task, allocated, managed)) = detail {
        a["predicted_detail"] = json!({"task": task, "allocated_peak_bytes": allocated, "managed_memory_bytes": managed});
    }
    a
}

/// Save a finished run with these attempts in the history under `paths`.
pub fn save_run(paths: &AppPaths, started: u64, attempts: Vec<Value>) {
    let (run_id, _) = history::create_run_dir(paths, started).unwrap();
    let record: RunRecord = serde_json::from_value(json!({
        "run_id": run_id, "model": "m", "profile": "default", "chain": ["bf16"], "argv": ["python3"],
        "cwd": "/tmp", "started_unix_ms": started, "attempts": attempts, "outcome": "succeeded"
    }))
    .unwrap();
    history::save(paths, &record, Revision::ABSENT).unwrap();
}

/// A successful run predicted at `allocated` bytes that measured `allocated × (1 + permille / 1000) + context`.
pub fn measured_run(
    paths: &AppPaths,
    started: u64,
    task: &str,
    allocated: u64,
    permille: u64,
    context: u64,
) {
    let measured = allocated + allocated * permille / 1000 + context;
    save_run(
        paths,
        started,
        vec![attempt(started, Some(measured), Some((task, allocated, 0)))],
    );
}
