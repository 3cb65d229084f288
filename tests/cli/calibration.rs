//! `estimate` with this machine's calibration (docs/estimator.md §10.5), `--no-machine-calibration`, and
//! `calibration show|reset`.

use std::path::Path;

use headroom_core::paths::AppPaths;
use serde_json::{json, Value};

use super::contract::{assert_valid, validator};
use super::estimate::run_in;
use super::measured_runs::measured_run;
use super::{cli, ok_json};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Three measured training runs in the data folder the CLI uses under `dir`: 4.5% slack, a 600 MiB context.
fn seed_runs(dir: &Path) {
    let paths = AppPaths::new(dir.join("config"), dir.join("data"));
    for (i, gib) in [6u64, 11, 19].into_iter().enumerate() {
        measured_run(&paths, 1_000 + i as u64, "train", gib * GIB, 45, 600 * MIB);
    }
}

fn plan() -> String {
    json!({"model": {"id": "meta-llama/Llama-3.1-8B"}, "task": "train", "method": "qlora",
           "gradient_checkpointing": true, "gpus": {"count": 1, "memory_gib": 24}})
    .to_string()
}

#[test]
fn estimate_uses_this_machines_calibration_unless_told_not_to() {
    let dir = tempfile::tempdir().unwrap();
    seed_runs(dir.path());
    let calibrated = ok_json(&run_in(dir.path(), &plan(), &["--json"]));
    let cal = &calibrated["machine_calibration"];
    assert_eq!(cal["runs"], 3);
    assert_eq!(cal["cuda_context_bytes"], 600 * MIB);
    assert_eq!(cal["allocator_slack_permille"], 45);
    assert_eq!(cal["fit"], "regression");
    assert_eq!(calibrated["per_gpu"]["cuda_context_bytes"], 600 * MIB);
    let said = |v: &Value| {
        v["notes"].as_array().unwrap().iter().any(|n| {
            n.as_str()
                .unwrap()
                .starts_with("calibrated on this machine from 3 training runs")
        })
    };
    assert!(said(&calibrated), "{calibrated:#}");
    assert_valid(
        &validator("estimate.schema.json"),
        "a calibrated estimate",
        &calibrated,
    );

    let plain = ok_json(&run_in(
        dir.path(),
        &plan(),
        &["--json", "--no-machine-calibration"],
    ));
    assert!(plain.get("machine_calibration").is_none(), "{plain:#}");
    assert!(!said(&plain));
    assert_eq!(plain["per_gpu"]["cuda_context_bytes"], 500 * MIB);
    assert_eq!(
        plain["per_gpu"]["allocated_peak_bytes"],
        calibrated["per_gpu"]["allocated_peak_bytes"]
    );
}

#[test]
fn calibration_show_then_reset() {
    let dir = tempfile::tempdir().unwrap();
    let empty = ok_json(&cli(dir.path(), &["calibration", "show", "--json"]));
    assert_eq!(empty["calibration"], json!({"train": null, "infer": null}));
    assert_eq!(
        (empty["train_runs"].clone(), empty["min_runs"].clone()),
        (json!(0), json!(3))
    );

    seed_runs(dir.path());
    let shown = ok_json(&cli(dir.path(), &["calibration", "show", "--json"]));
    assert_eq!(shown["calibration"]["train"]["runs"], 3);
    let text = cli(dir.path(), &["calibration", "show"]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("CUDA context 600 MiB, allocator slack 4.5%"),
        "{text}"
    );
    assert!(text.contains("inference  not calibrated: 0 of 3"), "{text}");
    assert!(
        text.contains("changing lengths: 0 of 3 runs that left their lengths open"),
        "{text}"
    );
    assert_eq!(shown["calibration"]["train"]["lengths_runs"], 0);
    assert!(shown["calibration"]["train"]
        .get("lengths_share_permille")
        .is_none());

    let reset = ok_json(&cli(dir.path(), &["calibration", "reset", "--json"]));
    assert_eq!(reset["calibration"]["train"], Value::Null);
    assert!(reset["reset_unix_ms"].as_u64().unwrap() > 1_000);
    let after = ok_json(&run_in(dir.path(), &plan(), &["--json"]));
    assert!(after.get("machine_calibration").is_none());
    // The run records are kept.
    assert_eq!(
        std::fs::read_dir(dir.path().join("data/runs"))
            .unwrap()
            .count(),
        3
    );
}
