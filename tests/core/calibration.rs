//! This machine's calibration (docs/estimator.md §10.5): the fit from synthetic runs, which attempts count, the
//! reset, and what an estimate does with the result.

use headroom_core::estimate::calibration::{
    derive, CalibrationFit, MachineCalibration, Sample, TaskCalibration, MIN_LENGTHS_RUNS, MIN_RUNS,
};
use headroom_core::estimate::{builtin_presets, estimate, parse_plan, CUDA_CONTEXT_BYTES};
use headroom_core::launch::calibration;
use headroom_core::launch::history;
use headroom_core::paths::AppPaths;
use serde_json::json;

use crate::measured_runs::{attempt, measured_run, save_run};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// A run that measured `allocated × (1 + permille/1000) + context`, with `managed` on top.
fn sample(allocated: u64, managed: u64, context: u64, permille: u64, started: u64) -> Sample {
    Sample {
        allocated_bytes: allocated,
        managed_bytes: managed,
        measured_bytes: allocated + allocated * permille / 1000 + context + managed,
        started_unix_ms: started,
        lengths_doubt_bytes: Some(0),
    }
}

#[test]
fn runs_of_different_sizes_give_back_the_context_and_the_slack_they_were_made_with() {
    let samples: Vec<Sample> = [6, 9, 14, 21, 30]
        .iter()
        .enumerate()
        .map(|(i, g)| {
            sample(
                g * GIB,
                (i as u64) * 256 * MIB,
                420 * MIB,
                73,
                1_000 + i as u64,
            )
        })
        .collect();
    let cal = derive(&samples).expect("five runs calibrate");
    assert_eq!(cal.cuda_context_bytes, 420 * MIB);
    assert_eq!(cal.allocator_slack_permille, 73);
    assert_eq!(cal.fit, CalibrationFit::Regression);
    assert_eq!(cal.runs, 5);
    assert_eq!(
        (cal.first_run_unix_ms, cal.last_run_unix_ms),
        (1_000, 1_004)
    );
    assert_eq!(cal.slack_percent_text(), "7.3%");
}

#[test]
fn fewer_than_the_minimum_runs_calibrate_nothing() {
    let samples: Vec<Sample> = (0..MIN_RUNS - 1)
        .map(|i| sample((8 + 8 * u64::from(i)) * GIB, 0, 420 * MIB, 60, 0))
        .collect();
    assert_eq!(derive(&samples), None);
    // A run whose measurement does not exceed its managed memory does not count towards the minimum.
    let mut with_a_useless_one = samples.clone();
    with_a_useless_one.push(Sample {
        allocated_bytes: 10 * GIB,
        managed_bytes: 4 * GIB,
        measured_bytes: 3 * GIB,
        started_unix_ms: 0,
        lengths_doubt_bytes: None,
    });
    assert_eq!(derive(&with_a_useless_one), None);
    assert_eq!(derive(&[]), None);
}

#[test]
fn runs_of_one_size_keep_the_default_context_and_put_the_rest_in_the_slack() {
    // Three runs of the same plan: the intercept cannot be told from the slope.
    let allocated = 10 * GIB;
    let samples: Vec<Sample> = (0..3)
        .map(|i| Sample {
            allocated_bytes: allocated,
            managed_bytes: 0,
            measured_bytes: allocated + allocated / 10 + CUDA_CONTEXT_BYTES + i * MIB,
            started_unix_ms: i,
            lengths_doubt_bytes: None,
        })
        .collect();
    let cal = derive(&samples).unwrap();
    assert_eq!(cal.fit, CalibrationFit::DefaultContext);
    assert_eq!(cal.cuda_context_bytes, CUDA_CONTEXT_BYTES);
    assert_eq!(cal.allocator_slack_permille, 100);
}

#[test]
fn a_few_wild_runs_do_not_move_the_fit() {
    // Six runs on one GPU, and two that ran on two GPUs (the measurement sums both: about twice as much).
    let mut samples: Vec<Sample> = [6, 8, 11, 15, 20, 26]
        .iter()
        .map(|g| sample(g * GIB, 0, 380 * MIB, 45, 0))
        .collect();
    for g in [9u64, 17] {
        let one = sample(g * GIB, 0, 380 * MIB, 45, 0);
        samples.push(Sample {
            measured_bytes: 2 * one.measured_bytes,
            ..one
        });
    }
    let cal = derive(&samples).unwrap();
    assert_eq!(cal.fit, CalibrationFit::Regression);
    assert!(
        cal.cuda_context_bytes.abs_diff(380 * MIB) <= 8 * MIB,
        "context {} MiB",
        cal.cuda_context_bytes / MIB
    );
    assert!(
        cal.allocator_slack_permille.abs_diff(45) <= 2,
        "slack {}",
        cal.allocator_slack_permille
    );
    assert_eq!(cal.runs, 8);
}

#[test]
fn results_outside_the_believable_range_are_clamped_or_not_believed() {
    // Measured below the prediction: the slack cannot be negative (reserved is never below allocated).
    let below: Vec<Sample> = [6, 9, 14]
        .iter()
        .map(|g| Sample {
            allocated_bytes: g * GIB,
            managed_bytes: 0,
            measured_bytes: g * GIB * 9 / 10 + 400 * MIB,
            started_unix_ms: 0,
            lengths_doubt_bytes: None,
        })
        .collect();
    let cal = derive(&below).unwrap();
    assert_eq!(cal.allocator_slack_permille, 0);
    // A fitted context of 9 GiB is no CUDA context: the default is kept and the slack takes the difference.
    let huge: Vec<Sample> = [6, 9, 14]
        .iter()
        .map(|g| sample(g * GIB, 0, 9 * GIB, 20, 0))
        .collect();
    let cal = derive(&huge).unwrap();
    assert_eq!(cal.fit, CalibrationFit::DefaultContext);
    assert_eq!(cal.cuda_context_bytes, CUDA_CONTEXT_BYTES);
    assert_eq!(cal.allocator_slack_permille, 500, "clamped at 50%");
}

/// Runs whose batches changed length measured more than the context and slack explain: the calibration keeps the
/// most any of them needed of the band's allowance for changing lengths, as a share of it.
#[test]
fn runs_with_changing_lengths_give_the_share_of_the_lengths_allowance_they_needed() {
    // Five runs of padded batches fit the context and the slack exactly.
    let mut samples: Vec<Sample> = [6, 9, 14, 21, 30]
        .iter()
        .map(|g| sample(g * GIB, 0, 450 * MIB, 50, 0))
        .collect();
    let fixed = derive(&samples).unwrap();
    assert_eq!(
        (fixed.lengths_share_permille, fixed.lengths_runs),
        (None, 0),
        "no run left its lengths open"
    );
    // Runs that left their lengths open strand beyond that: 20%, 37% and 53% of their allowance of 10 GiB.
    let open = |g: u64, stranded_permille: u64| Sample {
        measured_bytes: sample(g * GIB, 0, 450 * MIB, 50, 0).measured_bytes
            + 10 * GIB * stranded_permille / 1000,
        lengths_doubt_bytes: Some(10 * GIB),
        ..sample(g * GIB, 0, 450 * MIB, 50, 0)
    };
    samples.push(open(8, 200));
    samples.push(open(12, 370));
    let two = derive(&samples).unwrap();
    assert_eq!((two.lengths_share_permille, two.lengths_runs), (None, 2));
    const { assert!(MIN_LENGTHS_RUNS == 3) };
    samples.push(open(16, 530));
    let three = derive(&samples).unwrap();
    // The most of the three, rounded up to 5%; the context and slack still come from all eight runs.
    assert_eq!(
        (three.lengths_share_permille, three.lengths_runs),
        (Some(550), 3)
    );
    assert_eq!(three.runs, 8);
    // A run that measured more than the whole allowance cannot widen the band beyond the allocator model's.
    samples.push(open(10, 1_700));
    assert_eq!(derive(&samples).unwrap().lengths_share_permille, Some(1000));
    // Records made before the allowance was kept say nothing about it.
    let mut old = samples[..5].to_vec();
    old.extend((0..3).map(|i| Sample {
        lengths_doubt_bytes: None,
        ..open(8 + i, 400)
    }));
    assert_eq!(derive(&old).unwrap().lengths_runs, 0);
}

// ---- from the run history ----

fn paths() -> (tempfile::TempDir, AppPaths) {
    let dir = tempfile::tempdir().unwrap();
    let paths = AppPaths::new(dir.path().join("config"), dir.path().join("data"));
    (dir, paths)
}

/// A successful training run of `gib` GiB predicted allocated that measured 6% slack and a 450 MiB context.
fn good_run(paths: &AppPaths, started: u64, gib: u64) {
    measured_run(paths, started, "train", gib * GIB, 60, 450 * MIB);
}

#[test]
fn only_finished_measured_runs_with_a_detailed_prediction_count() {
    let (_dir, paths) = paths();
    let empty = calibration::status(&paths).unwrap();
    assert!(empty.calibration.is_empty());
    assert_eq!((empty.train_runs, empty.min_runs), (0, MIN_RUNS));

    good_run(&paths, 1_000, 8);
    good_run(&paths, 2_000, 13);
    // Not counted: an OOM, a cancel, a failure, no measurement, a record from before the detail existed.
    let mut oom = attempt(3_000, Some(24 * GIB), Some(("train", 30 * GIB, 0)));
    oom["exit"] = json!({"code": 1, "signal": null});
    oom["oom"] = json!({"marker": "cuda_out_of_memory", "message": "CUDA out of memory", "gpu_index": 0,
        "requested_bytes": null, "total_capacity_bytes": null, "free_bytes": null,
        "allocated_by_pytorch_bytes": null, "reserved_unallocated_bytes": null});
    let mut cancelled = attempt(4_000, Some(9 * GIB), Some(("train", 8 * GIB, 0)));
    cancelled["cancelled"] = json!(true);
    let mut failed = attempt(5_000, Some(9 * GIB), Some(("train", 8 * GIB, 0)));
    failed["exit"] = json!({"code": 2, "signal": null});
    let unmeasured = attempt(6_000, None, Some(("train", 8 * GIB, 0)));
    let old_record = attempt(7_000, Some(9 * GIB), None);
    for (i, a) in [oom, cancelled, failed, unmeasured, old_record]
        .into_iter()
        .enumerate()
    {
        save_run(&paths, 3_000 + 1_000 * i as u64, vec![a]);
    }
    // An inference run goes to the inference side.
    save_run(
        &paths,
        9_000,
        vec![attempt(9_000, Some(5 * GIB), Some(("infer", 4 * GIB, 0)))],
    );
    let status = calibration::status(&paths).unwrap();
    assert_eq!((status.train_runs, status.infer_runs), (2, 1));
    assert!(status.calibration.is_empty(), "two runs are not enough");

    good_run(&paths, 10_000, 21);
    let status = calibration::status(&paths).unwrap();
    let train = status.calibration.train.expect("three runs calibrate");
    assert_eq!(train.runs, 3);
    assert_eq!(train.cuda_context_bytes, 450 * MIB);
    assert_eq!(train.allocator_slack_permille, 60);
    assert_eq!(train.first_run_unix_ms, 1_000);
    assert_eq!(status.calibration.infer, None);
    assert_eq!(calibration::load(&paths).unwrap(), status.calibration);
}

#[test]
fn the_history_s_runs_with_changing_lengths_calibrate_the_lengths_share() {
    let (_dir, paths) = paths();
    for (i, gib) in [6u64, 8, 11, 13, 21, 26].into_iter().enumerate() {
        good_run(&paths, 1_000 * (i as u64 + 1), gib);
    }
    // Three runs that left their lengths open, each measured 2 GiB beyond the context and slack of the six others
    // (which the robust fit keeps), with an allowance of 8 GiB: a quarter of it.
    for (i, gib) in [10u64, 15, 18].into_iter().enumerate() {
        let allocated = gib * GIB;
        let measured = allocated + allocated * 60 / 1000 + 450 * MIB + 2 * GIB;
        let started = 10_000 + i as u64;
        let mut a = attempt(started, Some(measured), Some(("train", allocated, 0)));
        a["predicted_detail"]["lengths_doubt_bytes"] = json!(8 * GIB);
        save_run(&paths, started, vec![a]);
    }
    let train = calibration::status(&paths)
        .unwrap()
        .calibration
        .train
        .unwrap();
    assert_eq!((train.runs, train.lengths_runs), (9, 3));
    // A quarter, rounded up to 5%: the fit's context in whole MiB and slack in tenths of a percent can leave the
    // need a hair over 25%, which rounds to 30%.
    assert!(
        matches!(train.lengths_share_permille, Some(250 | 300)),
        "{:?}",
        train.lengths_share_permille
    );
}

#[test]
fn a_reset_sets_the_runs_so_far_aside_and_keeps_their_records() {
    let (_dir, paths) = paths();
    for (i, gib) in [8, 13, 21].into_iter().enumerate() {
        good_run(&paths, 1_000 + i as u64, gib);
    }
    assert!(calibration::status(&paths)
        .unwrap()
        .calibration
        .train
        .is_some());

    let after = calibration::reset(&paths, 5_000).unwrap();
    assert_eq!(after.reset_unix_ms, Some(5_000));
    assert!(after.calibration.is_empty());
    assert_eq!(after.train_runs, 0);
    assert_eq!(history::list(&paths).unwrap().runs.len(), 3, "records kept");

    // New runs calibrate again, from themselves only.
    for (i, gib) in [8, 13, 21].into_iter().enumerate() {
        good_run(&paths, 6_000 + i as u64, gib);
    }
    let again = calibration::status(&paths).unwrap();
    let train = again.calibration.train.unwrap();
    assert_eq!((train.runs, train.first_run_unix_ms), (3, 6_000));
    assert_eq!(again.reset_unix_ms, Some(5_000));
}

#[test]
fn the_cached_status_follows_every_change_to_the_history_and_the_reset() {
    let (_dir, paths) = paths();
    let cache = calibration::StatusCache::default();
    assert_eq!(
        cache.status(&paths).unwrap(),
        calibration::status(&paths).unwrap()
    );
    for (i, gib) in [8, 13].into_iter().enumerate() {
        good_run(&paths, 1_000 + i as u64, gib);
    }
    assert_eq!(
        cache.status(&paths).unwrap().train_runs,
        2,
        "a new run is read"
    );
    good_run(&paths, 3_000, 21);
    let three = cache.status(&paths).unwrap();
    assert!(three.calibration.train.is_some());
    assert_eq!(three, calibration::status(&paths).unwrap());
    assert_eq!(cache.load(&paths).unwrap(), three.calibration);

    // A record rewritten in place (another process marked it, or a run went on) is read again.
    let record = history::run_dir(&paths, "run-3000")
        .unwrap()
        .join("run.json");
    std::fs::write(&record, "{").unwrap();
    assert_eq!(cache.status(&paths).unwrap().train_runs, 2);

    // A reset made by the CLI (not through this cache) shows at once.
    calibration::reset(&paths, 10_000).unwrap();
    let after = cache.status(&paths).unwrap();
    assert_eq!((after.train_runs, after.reset_unix_ms), (0, Some(10_000)));
    // A record removed.
    std::fs::remove_dir_all(history::run_dir(&paths, "run-1000").unwrap()).unwrap();
    assert_eq!(
        cache.status(&paths).unwrap(),
        calibration::status(&paths).unwrap()
    );
}

#[test]
fn unreadable_files_are_reported_or_left_for_the_runs_view_never_moved() {
    let (_dir, paths) = paths();
    std::fs::create_dir_all(&paths.config_dir).unwrap();
    let state = calibration::state_file(&paths);
    std::fs::write(&state, "{not json").unwrap();
    for (i, gib) in [8, 13, 21].into_iter().enumerate() {
        good_run(&paths, 1_000 + i as u64, gib);
    }
    save_run(&paths, 5_000, vec![]);
    let broken = history::run_dir(&paths, "run-5000")
        .unwrap()
        .join("run.json");
    std::fs::write(&broken, "{").unwrap();

    let status = calibration::status(&paths).unwrap();
    assert!(status
        .unreadable
        .as_deref()
        .unwrap()
        .contains("not a Headroom document"));
    assert_eq!(status.reset_unix_ms, None);
    assert_eq!(status.train_runs, 3, "the readable runs still count");
    // Estimates read this on every keystroke: nothing is moved aside behind the user's back.
    assert!(state.exists() && broken.exists());
    // The Runs view's list does that, and reports it.
    assert_eq!(history::list(&paths).unwrap().quarantined.len(), 1);
    // A reset rewrites the calibration file.
    assert_eq!(calibration::reset(&paths, 9_000).unwrap().unreadable, None);
}

// ---- applied to an estimate ----

fn plan_for(task: &str) -> headroom_core::estimate::Plan {
    let mut plan = json!({"model": {"id": "test"}, "task": task, "quantization": "bf16"});
    if task == "train" {
        plan["method"] = json!("lora");
    }
    parse_plan(&plan.to_string(), &builtin_presets()).unwrap()
}

#[test]
fn a_calibrated_estimate_differs_by_exactly_the_calibrated_context_and_slack_and_says_so() {
    let spec = headroom_core::model::from_catalog("meta-llama/Llama-3.1-8B")
        .unwrap()
        .unwrap();
    let presets = builtin_presets();
    let cal = TaskCalibration {
        cuda_context_bytes: 412 * MIB,
        allocator_slack_permille: 87,
        runs: 4,
        first_run_unix_ms: 1,
        last_run_unix_ms: 2,
        fit: CalibrationFit::Regression,
        lengths_share_permille: None,
        lengths_runs: 0,
    };
    let plain_plan = plan_for("train");
    let plain = estimate(&spec, &plain_plan, &presets).unwrap();
    assert_eq!(plain.machine_calibration, None);
    assert!(!plain.notes.iter().any(|n| n.contains("calibrated")));

    let mut plan = plain_plan.clone();
    plan.machine = MachineCalibration {
        train: Some(cal),
        infer: None,
    };
    let calibrated = estimate(&spec, &plan, &presets).unwrap();
    let (p, c) = (&plain.per_gpu, &calibrated.per_gpu);
    assert_eq!(c.allocated_peak_bytes, p.allocated_peak_bytes);
    assert_eq!(c.managed_memory_bytes, p.managed_memory_bytes);
    assert_eq!(c.cuda_context_bytes, 412 * MIB);
    assert_eq!(
        c.allocator_overhead_bytes,
        p.allocated_peak_bytes * 87 / 1000
    );
    assert_eq!(
        c.device_peak_bytes - p.device_peak_bytes,
        (c.allocator_overhead_bytes + 412 * MIB)
            - (p.allocator_overhead_bytes + CUDA_CONTEXT_BYTES)
    );
    assert_eq!(calibrated.machine_calibration, Some(cal));
    let note = calibrated
        .notes
        .iter()
        .find(|n| n.starts_with("calibrated on this machine"))
        .expect("the calibration is said");
    assert!(
        note.contains("4 training runs") && note.contains("8.7%") && note.contains("0.40 GiB"),
        "{note}"
    );

    // An inference plan has no inference calibration here: unchanged.
    let mut infer = plan_for("infer");
    let plain_infer = estimate(&spec, &infer, &presets).unwrap();
    infer.machine = plan.machine;
    assert_eq!(estimate(&spec, &infer, &presets).unwrap(), plain_infer);
}

/// A share of the lengths allowance learnt on this machine scales the band's allowance for a plan that leaves its
/// lengths open, and the estimate says so; a plan that lists one length has none to scale.
#[test]
fn a_learnt_lengths_share_scales_the_band_s_allowance_and_is_said() {
    let presets = builtin_presets();
    let resolver = headroom_core::model::Resolver::default();
    let open_json = json!({"model": {"id": "meta-llama/Llama-3.1-8B"}, "task": "train",
        "method": "qlora", "gradient_checkpointing": true});
    let mut open = headroom_core::estimate::plan_from_value(&open_json, &presets).unwrap();
    let spec = headroom_core::model::resolve(&open.model, &resolver).unwrap();
    let cal = |share: Option<u64>| MachineCalibration {
        train: Some(TaskCalibration {
            cuda_context_bytes: 500 << 20,
            allocator_slack_permille: 50,
            runs: 6,
            first_run_unix_ms: 1,
            last_run_unix_ms: 2,
            fit: CalibrationFit::DefaultContext,
            lengths_share_permille: share,
            lengths_runs: if share.is_some() { 3 } else { 0 },
        }),
        infer: None,
    };
    let high = |plan: &headroom_core::estimate::Plan| {
        estimate(&spec, plan, &presets)
            .unwrap()
            .per_gpu
            .range
            .unwrap()
            .reserved_peak_bytes
            .high
    };
    open.machine = cal(None);
    let whole = high(&open);
    open.machine = cal(Some(1000));
    assert_eq!(high(&open), whole, "the whole allowance is the model's");
    open.machine = cal(Some(400));
    let learnt = estimate(&spec, &open, &presets).unwrap();
    let narrowed = learnt.per_gpu.range.unwrap().reserved_peak_bytes.high;
    assert!(narrowed < whole, "{narrowed} vs {whole}");
    let note = learnt
        .notes
        .iter()
        .find(|n| n.starts_with("changing lengths: the 3 runs"))
        .expect("the learnt share is said");
    assert!(note.contains("40%"), "{note}");
    // Nothing left: the band of the same plan with one length listed.
    open.machine = cal(Some(0));
    let none = high(&open);
    let mut one = headroom_core::estimate::plan_from_value(
        &json!({"model": {"id": "meta-llama/Llama-3.1-8B"}, "task": "train", "method": "qlora",
            "gradient_checkpointing": true, "sequence_lengths": [2048]}),
        &presets,
    )
    .unwrap();
    one.machine = cal(Some(0));
    let listed = estimate(&spec, &one, &presets).unwrap();
    assert_eq!(none, listed.per_gpu.range.unwrap().reserved_peak_bytes.high);
    assert!(
        !listed
            .notes
            .iter()
            .any(|n| n.starts_with("changing lengths")),
        "a plan whose lengths are known has no allowance to scale"
    );
}

/// A context found by the regression replaces the band's context range: the device band narrows by the range
/// it no longer has to allow for.
#[test]
fn a_fitted_context_narrows_the_band_s_context_side() {
    use headroom_core::estimate::calibration::{
        CalibrationFit, MachineCalibration, TaskCalibration,
    };
    let presets = headroom_core::estimate::builtin_presets();
    let resolver = headroom_core::model::Resolver::default();
    let plan_json = serde_json::json!({"model": {"id": "meta-llama/Llama-3.1-8B"}, "task": "train",
        "method": "qlora", "gradient_checkpointing": true});
    let mut plan = headroom_core::estimate::plan_from_value(&plan_json, &presets).unwrap();
    let spec = headroom_core::model::resolve(&plan.model, &resolver).unwrap();
    let cal = |fit| TaskCalibration {
        cuda_context_bytes: 600 << 20,
        allocator_slack_permille: 80,
        runs: 5,
        first_run_unix_ms: 1,
        last_run_unix_ms: 2,
        fit,
        lengths_share_permille: None,
        lengths_runs: 0,
    };
    let width = |plan: &headroom_core::estimate::Plan| {
        let r = headroom_core::estimate::estimate(&spec, plan, &presets)
            .unwrap()
            .per_gpu
            .range
            .unwrap()
            .device_peak_bytes;
        r.high - r.low
    };
    plan.machine = MachineCalibration {
        train: Some(cal(CalibrationFit::DefaultContext)),
        infer: None,
    };
    let kept = width(&plan);
    plan.machine = MachineCalibration {
        train: Some(cal(CalibrationFit::Regression)),
        infer: None,
    };
    let narrowed = width(&plan);
    assert!(narrowed < kept, "{narrowed} vs {kept}");
}
