//! Relaunches that keep the training and its progress (issue 14): batch steps that halve the micro-batch and
//! double the accumulation, resuming from the newest checkpoint, distributed launches whose dead rank leaves
//! the others hanging, and where the chain starts by the estimator's fit rule. Real child processes, no GPU.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use headroom_core::env::profile::{Profile, Purpose};
use headroom_core::env::EnvMap;
use headroom_core::estimate::plan::{FitOn, Task};
use headroom_core::estimate::{available_presets, builtin_presets};
use headroom_core::launch::distributed::DistributedLauncher;
use headroom_core::launch::handover::DefaultChainPresets;
use headroom_core::launch::history::{NextStep, Outcome, RunRecord};
use headroom_core::launch::predict::{predict_chain, PredictFor};
use headroom_core::launch::process::CancelToken;
use headroom_core::launch::resume::CheckpointKind;
use headroom_core::launch::runner::{self, RunRequest};
use headroom_core::launch::steps::BatchSetting;
use headroom_core::model::from_catalog;
use headroom_core::paths::AppPaths;
use headroom_core::presets::config_store::ConfigLibrary;
use headroom_core::presets::library::PresetLibrary;
use headroom_core::presets::model_config::ModelConfig;
use headroom_core::settings::{self, Settings};
use headroom_core::store::Revision;
use headroom_core::Error;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/launch");
use super::launch::{setup, Setup};

const LLAMA_8B: &str = "meta-llama/Llama-3.1-8B";

fn base_env(s: &Setup, extra: &[(&str, &str)]) -> EnvMap {
    let mut env: EnvMap = std::env::vars()
        .filter(|(k, _)| {
            !k.starts_with("PYTORCH_") && !k.starts_with("HEADROOM_") && !k.starts_with("PET_")
        })
        .collect();
    // Left over from a shell: the launcher must replace or remove them.
    env.insert("HEADROOM_MICRO_BATCH".into(), "999".into());
    env.insert("HEADROOM_RESUME_FROM".into(), "/stale".into());
    env.insert(
        "FAKE_DUMP_DIR".into(),
        s.dump.to_string_lossy().into_owned(),
    );
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    env
}

fn request(s: &Setup, argv: Vec<String>, chain: &[&str], extra: &[(&str, &str)]) -> RunRequest {
    RunRequest {
        model: LLAMA_8B.into(),
        argv,
        cwd: s.work.clone(),
        profile: Profile {
            name: "plain".into(),
            description: String::new(),
            purpose: Purpose::Other,
            variables: Vec::new(),
        },
        base_env: base_env(s, extra),
        chain: chain.iter().map(|c| c.to_string()).collect(),
        predicted_peak_bytes: BTreeMap::new(),
        predicted_details: BTreeMap::new(),
        predicted_notes: BTreeMap::new(),
        step_predictions: BTreeMap::new(),
        batch: None,
        start: None,
        output_dir: None,
        sequence_length: None,
        kill_grace: Duration::from_millis(500),
        gpus: None,
        log_limit_bytes: runner::ATTEMPT_LOG_LIMIT_BYTES,
        plan: None,
    }
}

fn train_argv(extra: &[&str]) -> Vec<String> {
    let mut argv = vec![
        "python3".to_string(),
        format!("{FIXTURES}/relaunch_train.py"),
    ];
    argv.extend(extra.iter().map(|a| a.to_string()));
    argv
}

fn run(s: &Setup, req: &RunRequest) -> headroom_core::Result<RunRecord> {
    runner::run(
        &s.paths,
        req,
        &DefaultChainPresets,
        &mut runner::NoPeakProbe,
        &CancelToken::new(),
        &mut |_| {},
    )
}

fn received(s: &Setup, name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(s.dump.join(name))
        .unwrap_or_else(|e| panic!("no dump {name}: {e}"));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn halving_the_micro_batch_keeps_the_global_batch_until_it_fits() {
    let s = setup();
    let mut req = request(
        &s,
        train_argv(&[
            "--micro_batch",
            "{micro_batch}",
            "--grad_accum={grad_accum}",
        ]),
        &["fp16", "mb/2", "mb/2"],
        &[("FAKE_MAX_MICRO_BATCH", "2")],
    );
    req.batch = Some(BatchSetting::new(8, 1).unwrap());
    req.sequence_length = Some(2048);
    let record = run(&s, &req).unwrap();
    assert_eq!(record.outcome, Some(Outcome::Succeeded));
    let batches: Vec<_> = record
        .attempts
        .iter()
        .map(|a| (a.step, a.micro_batch, a.grad_accum, a.oom.is_some()))
        .collect();
    assert_eq!(
        batches,
        [
            (Some(0), Some(8), Some(1), true),
            (Some(1), Some(4), Some(2), true),
            (Some(2), Some(2), Some(4), false)
        ]
    );
    assert_eq!(
        record.attempts[0].next,
        NextStep::NextPreset {
            preset: "fp16".into(),
            micro_batch: Some(4),
            grad_accum: Some(2)
        }
    );
    for (n, (mb, ga)) in [(8, 1), (4, 2), (2, 4)].into_iter().enumerate() {
        let got = received(&s, &format!("attempt-{n}.json"));
        assert_eq!(got["env"]["HEADROOM_MICRO_BATCH"], mb.to_string());
        assert_eq!(got["env"]["HEADROOM_GRAD_ACCUM"], ga.to_string());
        // What the Monitor estimates the run's other presets at (monitor/advice.rs).
        assert_eq!(got["env"]["HEADROOM_SEQUENCE_LENGTH"], "2048");
        assert_eq!(got["env"]["HEADROOM_PRESET"], "fp16");
        assert_eq!(got["env"]["HEADROOM_RESUME_FROM"], serde_json::Value::Null);
        assert_eq!(
            got["argv"],
            serde_json::json!([
                "--micro_batch",
                mb.to_string(),
                format!("--grad_accum={ga}")
            ])
        );
        assert_eq!(
            record.attempts[n].argv.as_ref().unwrap()[2..],
            got["argv"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect::<Vec<_>>()[..]
        );
    }
}

#[test]
fn a_batch_step_that_would_change_the_training_is_refused_before_anything_runs() {
    let s = setup();
    let mut req = request(&s, train_argv(&[]), &["fp16", "int8", "mb/2"], &[]);
    req.batch = Some(BatchSetting::new(3, 2).unwrap());
    match run(&s, &req) {
        Err(Error::Invalid { field, message, .. }) => {
            assert_eq!(field, "chain[2]");
            assert!(message.contains("odd"), "{message}");
        }
        other => panic!("expected chain[2] to be refused, got {other:?}"),
    }
    req.batch = None;
    match run(&s, &req) {
        Err(Error::Invalid { field, .. }) => assert_eq!(field, "chain[2]"),
        other => panic!("expected chain[2] to need a batch, got {other:?}"),
    }
    let mut placeholder = request(
        &s,
        train_argv(&["--micro_batch", "{micro_batch}"]),
        &["fp16"],
        &[],
    );
    placeholder.batch = None;
    match run(&s, &placeholder) {
        Err(Error::Invalid { field, .. }) => assert_eq!(field, "argv"),
        other => panic!("expected argv to be refused, got {other:?}"),
    }
    assert!(!s.dump.join("attempt-0.json").exists(), "nothing may run");
}

#[test]
fn a_relaunch_resumes_from_the_newest_checkpoint_the_training_wrote() {
    let s = setup();
    // An older training's checkpoint in the same folder: not this run's, never resumed.
    let stale = s.work.join("out/checkpoint-99");
    std::fs::create_dir_all(&stale).unwrap();
    let old = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::open(&stale)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let req = request(
        &s,
        train_argv(&[
            "--output_dir",
            "out",
            "--resume_from_checkpoint",
            "{resume}",
        ]),
        &["fp16", "int8"],
        &[],
    );
    let record = run(&s, &req).unwrap();
    assert_eq!(record.outcome, Some(Outcome::Succeeded));
    assert_eq!(record.attempts.len(), 2);
    assert_eq!(record.attempts[0].resumed_from, None);
    // Nothing to resume: the flag goes with its placeholder.
    assert_eq!(
        received(&s, "attempt-0.json")["argv"],
        serde_json::json!(["--output_dir", "out"])
    );
    let resumed = record.attempts[1].resumed_from.clone().unwrap();
    assert_eq!(resumed.step, Some(20));
    assert_eq!(resumed.kind, CheckpointKind::Transformers);
    assert_eq!(resumed.path, s.work.join("out/checkpoint-20"));
    let second = received(&s, "attempt-1.json");
    let path = resumed.path.to_string_lossy().into_owned();
    assert_eq!(
        second["argv"],
        serde_json::json!(["--output_dir", "out", "--resume_from_checkpoint", path])
    );
    assert_eq!(second["env"]["HEADROOM_RESUME_FROM"], path);
}

/// A `torchrun` on PATH that is the two-rank stand-in.
fn fake_torchrun(s: &Setup) -> (PathBuf, String) {
    let bin = s.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let torchrun = bin.join("torchrun");
    std::fs::write(
        &torchrun,
        format!("#!/bin/sh\nexec python3 {FIXTURES}/fake_torchrun.py \"$@\"\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&torchrun, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (torchrun, path)
}

fn distributed_run(s: &Setup, extra: &[(&str, &str)]) -> RunRecord {
    let (torchrun, path) = fake_torchrun(s);
    let mut env = vec![("FAKE_OOM_PRESETS", "fp16"), ("PATH", path.as_str())];
    env.extend_from_slice(extra);
    let req = request(
        s,
        vec![
            torchrun.to_string_lossy().into_owned(),
            "--nproc-per-node".into(),
            "2".into(),
            "--max-restarts".into(),
            "3".into(),
            "train.py".into(),
        ],
        &["fp16", "int8"],
        &env,
    );
    run(s, &req).unwrap()
}

#[test]
fn a_rank_that_dies_of_oom_stops_the_whole_group_and_the_run_relaunches() {
    let s = setup();
    let record = distributed_run(&s, &[]);
    assert_eq!(record.outcome, Some(Outcome::Succeeded));
    assert_eq!(record.attempts.len(), 2);
    let first = &record.attempts[0];
    assert!(first.oom.is_some(), "the OOM in rank 1's output is found");
    // Rank 0 waits for ever: only the launcher's stop ends the attempt.
    assert_eq!(first.group_stopped, Some(true));
    assert!(!first.cancelled);
    assert!(matches!(&first.next, NextStep::NextPreset { preset, .. } if preset == "int8"));
    let distributed = record.distributed.clone().unwrap();
    assert_eq!(distributed.launcher, DistributedLauncher::Torchrun);
    assert_eq!(distributed.replaced.as_deref(), Some("--max-restarts 3"));
    let launcher = received(&s, "launcher-0.json");
    assert_eq!(
        launcher["argv"],
        serde_json::json!(["--nproc-per-node", "2", "--max-restarts=0", "train.py"])
    );
    assert_eq!(launcher["PET_MAX_RESTARTS"], "0");
    assert!(launcher["error_file"]
        .as_str()
        .unwrap()
        .ends_with("attempt-0.error.json"));
}

#[test]
fn torchelastics_error_file_tells_an_oom_the_output_did_not() {
    let s = setup();
    // Rank 0 is not left waiting here (torchrun stops it once rank 1 fails); the OOM is only in the file.
    let record = distributed_run(&s, &[("FAKE_ERROR_FILE_ONLY", "1")]);
    assert_eq!(record.outcome, Some(Outcome::Succeeded), "{record:?}");
    let first = &record.attempts[0];
    let oom = first.oom.as_ref().expect("the error file's OOM is found");
    assert_eq!(oom.requested_bytes, Some(1_309_965_025)); // 1.22 GiB
}

fn save_config(paths: &AppPaths) {
    let mut config = ModelConfig::new("fp16", Task::Train);
    config.method = Some(headroom_core::estimate::plan::Method::Lora);
    ConfigLibrary::new(paths)
        .set(
            LLAMA_8B,
            &config,
            Revision::ABSENT,
            &PresetLibrary::new(paths),
        )
        .unwrap();
}

fn predict(
    paths: &AppPaths,
    chain: &[&str],
    gpu_gib: u64,
    pin: bool,
) -> headroom_core::launch::predict::ChainPrediction {
    let chain: Vec<String> = chain.iter().map(|c| c.to_string()).collect();
    let known = available_presets(&PresetLibrary::new(paths)).unwrap_or_else(|_| builtin_presets());
    predict_chain(
        paths,
        PredictFor {
            model_id: LLAMA_8B,
            chain: &chain,
            batch: BatchSetting::new(4, 1).unwrap(),
            sequence_length: 2048,
            gpu_memory_bytes: Some(gpu_gib << 30),
            pin_start: pin,
            plan: None,
        },
        &known,
        |_| Ok(from_catalog(LLAMA_8B)?.expect("the catalog has the 8B model")),
    )
    .unwrap()
}

#[test]
fn the_chain_starts_at_the_first_step_that_fits_by_the_plans_rule() {
    let s = setup();
    save_config(&s.paths);
    let chain = ["fp16", "int8", "int4"];
    let roomy = predict(&s.paths, &chain, 400, false);
    let start = roomy.start.clone().unwrap();
    assert_eq!((start.step, start.skipped.len()), (0, 0), "{start:?}");

    let fp16 = roomy.steps[&0].peak_bytes.unwrap() >> 30;
    // The plan leaves its lengths open: each step keeps the band's allowance for them, for this machine's
    // calibration to measure its runs against (docs/estimator.md §10.5).
    for step in roomy.steps.values() {
        let detail = step.detail.unwrap();
        assert!(
            detail.lengths_doubt_bytes.is_some_and(|b| b > 0),
            "{detail:?}"
        );
    }
    // A GPU fp16 does not fit but a later step does: the largest such size below fp16's central figure.
    let (gib, small) = (1..fp16)
        .rev()
        .map(|gib| (gib, predict(&s.paths, &chain, gib, false)))
        .find(|(_, p)| {
            p.start
                .as_ref()
                .is_some_and(|c| c.step >= 1 && !c.none_fits)
        })
        .expect("some GPU size starts past fp16");
    let start = small.start.clone().unwrap();
    assert!(start.step >= 1, "{start:?}");
    assert_eq!(start.skipped[0].preset, "fp16");
    assert_eq!(start.fit_on, FitOn::High);
    assert!(
        start.message.starts_with("fp16 skipped: needs "),
        "{}",
        start.message
    );
    assert!(start.message.contains("GiB usable"), "{}", start.message);
    // The band's upper end decides by default: each skipped step's upper end is over the usable memory.
    for skipped in &start.skipped {
        assert!(skipped.high_bytes > start.usable_bytes);
    }

    // Pinned: the first step whatever the estimate says.
    let pinned = predict(&s.paths, &chain, gib, true).start.unwrap();
    assert_eq!((pinned.step, pinned.pinned), (0, true));

    // Settings' fit_on reaches the launcher as it reaches the Plan view.
    settings::save(
        &s.paths.settings_file(),
        &Settings {
            fit_on: FitOn::Central,
            ..Settings::default()
        },
    )
    .unwrap();
    let central = predict(&s.paths, &chain, gib, false).start.unwrap();
    assert_eq!(central.fit_on, FitOn::Central);
    assert!(central.step <= start.step);
}

#[test]
fn a_batch_step_is_estimated_at_its_own_micro_batch() {
    let s = setup();
    save_config(&s.paths);
    let prediction = predict(&s.paths, &["fp16", "mb/2"], 400, false);
    let full = prediction.steps[&0].peak_bytes.unwrap();
    let half = prediction.steps[&1].peak_bytes.unwrap();
    assert!(
        half < full,
        "micro-batch 2 ({half}) should need less than 4 ({full})"
    );
}

/// The Python with torch (HEADROOM_TEST_PYTHON), or `None` (skip) outside CI.
fn test_python() -> Option<String> {
    match std::env::var("HEADROOM_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ if std::env::var_os("CI").is_some() => {
            panic!("HEADROOM_TEST_PYTHON is not set under CI: `bash .ci/dev test` sets it to its venv's python")
        }
        _ => {
            eprintln!("skipped: HEADROOM_TEST_PYTHON is not set (a Python with torch)");
            None
        }
    }
}

#[test]
fn the_real_torchrun_takes_the_restarts_flag_and_a_dead_ranks_oom_relaunches_the_run() {
    let Some(python) = test_python() else { return };
    let s = setup();
    let req = request(
        &s,
        vec![
            python,
            "-m".into(),
            "torch.distributed.run".into(),
            "--standalone".into(),
            "--nproc-per-node".into(),
            "2".into(),
            format!("{FIXTURES}/torchrun_rank.py"),
        ],
        &["fp16", "int8"],
        &[("FAKE_OOM_PRESETS", "fp16")],
    );
    let record = run(&s, &req).unwrap();
    assert_eq!(record.outcome, Some(Outcome::Succeeded), "{record:#?}");
    assert_eq!(record.attempts.len(), 2);
    assert!(record.attempts[0].oom.is_some());
    let argv = record.attempts[0].argv.clone().unwrap();
    assert_eq!(argv[3], "--max-restarts=0");
    assert_eq!(
        record.distributed.unwrap().launcher,
        DistributedLauncher::Torchrun
    );
}
