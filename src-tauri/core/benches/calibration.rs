//! This machine's calibration as the Plan view asks for it on every keystroke: read from 500 run records, and
//! from the cache that reads them again only when one changed (`launch::calibration::StatusCache`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use headroom_core::launch::calibration::{self, StatusCache};
use headroom_core::launch::history::{self, RunRecord};
use headroom_core::paths::AppPaths;
use headroom_core::store::Revision;
use serde_json::json;

const RUNS: u64 = 500;
const GIB: u64 = 1 << 30;

/// A finished training run predicted at `gib` GiB allocated, measured with 6% slack and a 450 MiB context.
fn save_run(paths: &AppPaths, started: u64, gib: u64) {
    let (run_id, _) = history::create_run_dir(paths, started).expect("run dir");
    let measured = gib * GIB + gib * GIB * 6 / 100 + 450 * (1 << 20);
    let record: RunRecord = serde_json::from_value(json!({
        "run_id": run_id, "model": "meta-llama/Llama-3.1-8B", "profile": "production", "chain": ["bf16", "int8"],
        "argv": ["python3", "train.py", "--per_device_train_batch_size", "4"], "cwd": "/home/user/project",
        "started_unix_ms": started, "outcome": "succeeded",
        "attempts": [{
            "index": 0, "preset": "bf16", "expandable_segments": false, "environment": {}, "pid": 100,
            "started_unix_ms": started, "duration_ms": 3_600_000, "exit": {"code": 0, "signal": null},
            "cancelled": false, "oom": null, "measured_peak_bytes": measured,
            "predicted_peak_bytes": measured, "log_file": "/tmp/attempt-0.log", "next": {"kind": "stop"},
            "predicted_detail": {"task": "train", "allocated_peak_bytes": gib * GIB, "managed_memory_bytes": 0}
        }]
    }))
    .expect("record");
    history::save(paths, &record, Revision::ABSENT).expect("save");
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let paths = AppPaths::new(dir.path().join("config"), dir.path().join("data"));
    for i in 0..RUNS {
        save_run(&paths, 1_000 + i, 8 + i % 40);
    }
    assert_eq!(
        calibration::status(&paths).expect("status").train_runs,
        RUNS as u32
    );

    c.bench_function("calibration status, 500 run records read", |b| {
        b.iter(|| black_box(calibration::load(&paths).expect("load")))
    });
    let cache = StatusCache::default();
    c.bench_function("calibration status, 500 run records, cached", |b| {
        b.iter(|| black_box(cache.load(&paths).expect("load")))
    });
}

criterion_group!(calibration_benches, benches);
criterion_main!(calibration_benches);
