//! The launcher with real child processes and no GPU: a stand-in training script that dies of a real
//! PyTorch OOM message under some presets, crashes, hangs or succeeds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use headroom_core::env::profile::{self, Profile, Purpose, Setting};
use headroom_core::env::EnvMap;
use headroom_core::launch::handover::{DefaultChainPresets, PresetSource};
use headroom_core::launch::history::{self, NextStep, Outcome, RunRecord};
use headroom_core::launch::oom::{self, OomMarker, OomScanner};
use headroom_core::launch::process::CancelToken;
use headroom_core::launch::runner::{self, LaunchEvent, PeakProbe, RunRequest};
use headroom_core::paths::AppPaths;
use headroom_core::presets::model_config::DEFAULT_FALLBACK_CHAIN;
use headroom_core::Error;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");

fn script() -> String {
    format!("{FIXTURES}/launch/fake_train.py")
}

/// The test's own environment (PATH and whatever python3 needs), without anything the launcher decides.
fn base_env(extra: &[(&str, &str)]) -> EnvMap {
    let mut env: EnvMap = std::env::vars()
        .filter(|(k, _)| {
            !k.starts_with("PYTORCH_") && !k.starts_with("CUDA_") && !k.starts_with("HEADROOM_")
        })
        .collect();
    env.insert("CUDA_LAUNCH_BLOCKING".into(), "1".into());
    env.insert(
        "HEADROOM_QUANT_CONFIG".into(),
        "/stale/from/the/shell.json".into(),
    );
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    env
}

fn plain_profile() -> Profile {
    Profile {
        name: "plain".into(),
        description: String::new(),
        purpose: Purpose::Other,
        variables: vec![Setting {
            name: "TOKENIZERS_PARALLELISM".into(),
            value: Some("false".into()),
        }],
    }
}

/// A run's folders in a temporary directory: the app's paths, where the stand-in scripts dump what they
/// received, and the working directory (also the relaunch tests').
pub(super) struct Setup {
    pub(super) dir: tempfile::TempDir,
    pub(super) paths: AppPaths,
    pub(super) dump: PathBuf,
    pub(super) work: PathBuf,
}

pub(super) fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let paths = AppPaths::new(dir.path().join("config"), dir.path().join("data"));
    let dump = dir.path().join("dump");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&dump).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    Setup {
        dir,
        paths,
        dump,
        work,
    }
}

fn request(s: &Setup, profile: Profile, chain: &[&str], extra: &[(&str, &str)]) -> RunRequest {
    let dump = s.dump.to_string_lossy().into_owned();
    let mut env_extra = vec![("FAKE_DUMP_DIR", dump.as_str())];
    env_extra.extend_from_slice(extra);
    RunRequest {
        model: "meta-llama/Llama-3.1-8B".into(),
        argv: vec!["python3".into(), script(), "--epochs".into(), "1".into()],
        cwd: s.work.clone(),
        profile,
        base_env: base_env(&env_extra),
        chain: chain.iter().map(|c| c.to_string()).collect(),
        predicted_peak_bytes: BTreeMap::from([("int4".to_string(), 9_000_000_000u64)]),
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

/// What attempt `n` received, as the script wrote it down.
fn received(s: &Setup, n: u32) -> serde_json::Value {
    let text = std::fs::read_to_string(s.dump.join(format!("attempt-{n}.json")))
        .unwrap_or_else(|e| panic!("attempt {n} left no dump: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn bnb_fixture(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURES}/bnb/{name}.json")).unwrap())
        .unwrap()
}

/// Run `req` with the built-in presets and no probe, cancelled by `cancel`, its events to `on_event`.
fn run_with(
    s: &Setup,
    req: &RunRequest,
    cancel: &CancelToken,
    on_event: &mut dyn FnMut(LaunchEvent),
) -> headroom_core::Result<RunRecord> {
    runner::run(
        &s.paths,
        req,
        &DefaultChainPresets,
        &mut runner::NoPeakProbe,
        cancel,
        on_event,
    )
}

/// Run `req` to its end with nothing watching it.
fn run_to_end(s: &Setup, req: &RunRequest) -> RunRecord {
    run_with(s, req, &CancelToken::new(), &mut |_| {}).unwrap()
}

/// Returns a fixed peak per attempt so the record can be checked.
#[derive(Default)]
struct FakeProbe {
    started: Vec<u32>,
}

impl PeakProbe for FakeProbe {
    fn attempt_started(&mut self, pid: u32) {
        self.started.push(pid);
    }
    fn attempt_finished(&mut self, pid: u32) -> Option<u64> {
        assert_eq!(self.started.last(), Some(&pid));
        Some(1_000_000 * self.started.len() as u64)
    }
}

#[test]
fn oom_walks_down_the_chain_until_a_preset_fits() {
    let s = setup();
    let req = request(
        &s,
        profile::builtin("production").unwrap(),
        &DEFAULT_FALLBACK_CHAIN,
        &[("FAKE_OOM_PRESETS", "fp16,int8")],
    );
    let mut probe = FakeProbe::default();
    let mut events = Vec::new();
    let record = runner::run(
        &s.paths,
        &req,
        &DefaultChainPresets,
        &mut probe,
        &CancelToken::new(),
        &mut |e| events.push(e),
    )
    .unwrap();

    assert_eq!(record.outcome, Some(Outcome::Succeeded));
    let presets: Vec<_> = record.attempts.iter().map(|a| a.preset.as_str()).collect();
    assert_eq!(presets, ["fp16", "int8", "int4"]);
    assert_eq!(record.last_status(), Some(0));
    let [fp16, int8, int4] = &record.attempts[..] else {
        panic!()
    };
    for failed in [fp16, int8] {
        assert_eq!(failed.exit.code, Some(1));
        let oom = failed.oom.as_ref().expect("OOM recognised");
        assert_eq!(oom.marker, OomMarker::CudaOutOfMemory);
        assert_eq!(oom.requested_bytes, Some(1_309_965_025)); // 1.22 GiB
        assert_eq!(oom.reserved_unallocated_bytes, Some(494_980_301)); // 472.05 MiB
        assert!(!oom.fragmentation());
    }
    assert_eq!(
        fp16.next,
        NextStep::NextPreset {
            preset: "int8".into(),
            micro_batch: None,
            grad_accum: None,
        }
    );
    assert_eq!(int4.next, NextStep::Stop);
    assert!(int4.oom.is_none());
    assert_eq!(int4.predicted_peak_bytes, Some(9_000_000_000));
    assert_eq!(fp16.predicted_peak_bytes, None);
    assert_eq!(
        record
            .attempts
            .iter()
            .map(|a| a.measured_peak_bytes)
            .collect::<Vec<_>>(),
        [Some(1_000_000), Some(2_000_000), Some(3_000_000)]
    );

    // What each child really received.
    for (n, preset) in ["fp16", "int8", "int4"].iter().enumerate() {
        let got = received(&s, n as u32);
        let env = &got["env"];
        assert_eq!(env["HEADROOM_PRESET"], *preset);
        assert_eq!(env["HEADROOM_ATTEMPT"], n.to_string());
        assert_eq!(env["HEADROOM_RUN_ID"], record.run_id.as_str());
        // What lets the monitor tie the run's GPU processes to this model's config.
        assert_eq!(env["HEADROOM_MODEL"], record.model.as_str());
        // The production profile removed the debug switch and set the allocator.
        assert!(env.get("CUDA_LAUNCH_BLOCKING").is_none(), "{env}");
        assert_eq!(env["PYTORCH_CUDA_ALLOC_CONF"], "expandable_segments:True");
        assert_eq!(env["CUDA_DEVICE_ORDER"], "PCI_BUS_ID");
        assert_eq!(got["cwd"], s.work.canonicalize().unwrap().to_str().unwrap());
        assert_eq!(got["load_kwargs"]["device_map"], "auto");
        assert!(got["load_kwargs"].get("max_memory").is_some());
    }
    let fp16_got = received(&s, 0);
    assert!(
        fp16_got["env"].get("HEADROOM_QUANT_CONFIG").is_none(),
        "stale value must not leak"
    );
    assert!(fp16_got["quant_config"].is_null());
    assert_eq!(fp16_got["load_kwargs"]["dtype"], "float16");
    assert!(
        fp16_got["load_kwargs"].get("torch_dtype").is_none(),
        "deprecated"
    );
    assert_eq!(received(&s, 1)["quant_config"], bnb_fixture("int8"));
    assert_eq!(received(&s, 2)["quant_config"], bnb_fixture("int4"));
    assert_eq!(received(&s, 2)["load_kwargs"]["dtype"], "bfloat16");

    // The record on disk is the one returned, with the environment differences and the logs.
    let (on_disk, _) = history::load(&s.paths, &record.run_id).unwrap();
    assert_eq!(on_disk, record);
    assert_eq!(fp16.environment.get("CUDA_LAUNCH_BLOCKING"), Some(&None));
    assert_eq!(
        fp16.environment.get("HEADROOM_PRESET"),
        Some(&Some("fp16".to_string()))
    );
    assert!(
        !fp16.environment.contains_key("PATH"),
        "unchanged variables are not copied"
    );
    let log = std::fs::read_to_string(&fp16.log_file).unwrap();
    assert!(
        log.contains("training with preset fp16") && log.contains("CUDA out of memory"),
        "{log}"
    );
    let log = std::fs::read_to_string(&int4.log_file).unwrap();
    assert!(log.contains("step 2 loss"), "{log}");

    // Events: run, then per attempt start, output lines, finish. The run's start names it as its record does
    // (the UI titles a run by date and model).
    match events.first() {
        Some(LaunchEvent::RunStarted {
            run_id,
            started_unix_ms,
            model,
            ..
        }) => {
            assert_eq!(run_id, &record.run_id);
            assert_eq!(*started_unix_ms, record.started_unix_ms);
            assert_eq!(model, &record.model);
        }
        other => panic!("the first event is not the run's start: {other:?}"),
    }
    let starts = events
        .iter()
        .filter(|e| matches!(e, LaunchEvent::AttemptStarted { .. }))
        .count();
    assert_eq!(starts, 3);
    assert!(events.iter().any(|e| matches!(e,
        LaunchEvent::Output { attempt: 2, line, .. } if line == "step 0 loss 2.000")));
    assert!(matches!(
        events.last(),
        Some(LaunchEvent::AttemptFinished { .. })
    ));
}

#[test]
fn fragmentation_is_retried_once_with_expandable_segments_first() {
    let s = setup();
    let req = request(
        &s,
        plain_profile(),
        &["fp16", "int8"],
        &[("FAKE_FRAG_PRESETS", "fp16")],
    );
    let record = run_to_end(&s, &req);
    assert_eq!(record.outcome, Some(Outcome::Succeeded));
    let steps: Vec<_> = record
        .attempts
        .iter()
        .map(|a| (a.preset.as_str(), a.expandable_segments, a.next.clone()))
        .collect();
    assert_eq!(
        steps,
        [
            ("fp16", false, NextStep::RetryWithExpandableSegments),
            ("fp16", true, NextStep::Stop)
        ]
    );
    assert!(record.attempts[0].oom.as_ref().unwrap().fragmentation());
    assert!(received(&s, 0)["env"]
        .get("PYTORCH_CUDA_ALLOC_CONF")
        .is_none());
    assert_eq!(
        received(&s, 1)["env"]["PYTORCH_CUDA_ALLOC_CONF"],
        "expandable_segments:True"
    );
    assert_eq!(record.attempts[1].measured_peak_bytes, None);

    // The retry happens once: a preset that still fragments moves on, and with expandable segments already
    // in force (production) there is nothing to retry.
    let s = setup();
    let mut req = request(
        &s,
        plain_profile(),
        &["fp16", "int8"],
        &[("FAKE_OOM_PRESETS", "fp16,int8")],
    );
    req.base_env.insert(
        "PYTORCH_CUDA_ALLOC_CONF".into(),
        "max_split_size_mb:128".into(),
    );
    // oom_current.txt is not fragmentation: straight to the next preset, allocator untouched.
    let record = run_to_end(&s, &req);
    assert_eq!(record.outcome, Some(Outcome::ChainExhausted));
    assert_eq!(record.attempts.len(), 2);
    assert_eq!(record.last_status(), Some(1));
    assert_eq!(
        received(&s, 1)["env"]["PYTORCH_CUDA_ALLOC_CONF"],
        "max_split_size_mb:128"
    );

    let s = setup();
    let req = request(
        &s,
        profile::builtin("production").unwrap(),
        &["fp16", "int8"],
        &[
            ("FAKE_FRAG_PRESETS", "fp16,int8"),
            ("FAKE_OOM_PRESETS", "fp16,int8"),
        ],
    );
    let record = run_to_end(&s, &req);
    let presets: Vec<_> = record.attempts.iter().map(|a| a.preset.as_str()).collect();
    assert_eq!(presets, ["fp16", "int8"]);
    assert_eq!(record.outcome, Some(Outcome::ChainExhausted));
}

#[test]
fn a_crash_that_is_not_oom_is_never_relaunched() {
    let s = setup();
    let req = request(
        &s,
        plain_profile(),
        &DEFAULT_FALLBACK_CHAIN,
        &[("FAKE_MODE", "crash")],
    );
    let record = run_to_end(&s, &req);
    assert_eq!(record.outcome, Some(Outcome::Failed));
    assert_eq!(record.attempts.len(), 1);
    assert_eq!(record.attempts[0].oom, None);
    assert_eq!(record.attempts[0].next, NextStep::Stop);
    assert_eq!(record.last_status(), Some(1));
    let log = std::fs::read_to_string(&record.attempts[0].log_file).unwrap();
    assert!(log.contains("ValueError"), "{log}");
}

/// Whether `pid` is gone (or a zombie nobody has reaped yet: it holds no memory and runs no code).
fn is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
    }
}

fn wait_gone(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if is_gone(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn read_pid(path: &Path) -> u32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn cancel_kills_the_whole_tree_even_when_sigterm_is_ignored() {
    let s = setup();
    let pid_file = s.dump.join("grandchild.pid");
    let pid_file_text = pid_file.to_string_lossy().into_owned();
    let req = request(
        &s,
        plain_profile(),
        &["fp16", "int8"],
        &[
            ("FAKE_MODE", "hang"),
            ("FAKE_PID_FILE", &pid_file_text),
            ("FAKE_IGNORE_TERM", "1"),
        ],
    );
    let cancel = CancelToken::new();
    let started = Instant::now();
    let mut leader = None;
    let record = run_with(&s, &req, &cancel, &mut |e| match e {
        LaunchEvent::AttemptStarted { pid, .. } => leader = Some(pid),
        LaunchEvent::Output { line, .. } if line == "ready" => cancel.cancel(),
        _ => {}
    })
    .unwrap();
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(record.outcome, Some(Outcome::Cancelled));
    assert_eq!(record.attempts.len(), 1, "cancel never relaunches");
    let attempt = &record.attempts[0];
    assert!(attempt.cancelled);
    // SIGTERM was ignored, so SIGKILL after the grace period ended it.
    assert_eq!(attempt.exit.signal, Some(libc_sigkill()));
    assert_eq!(record.last_status(), Some(128 + libc_sigkill()));
    let grandchild = read_pid(&pid_file);
    assert!(
        wait_gone(grandchild),
        "grandchild {grandchild} survived the cancel"
    );
    assert!(is_gone(leader.unwrap()));
}

fn libc_sigkill() -> i32 {
    9
}

#[test]
fn a_cancel_between_attempts_starts_no_further_attempt() {
    let s = setup();
    let req = request(
        &s,
        plain_profile(),
        &["fp16", "int8"],
        &[("FAKE_OOM_PRESETS", "fp16")],
    );
    let cancel = CancelToken::new();
    let record = run_with(&s, &req, &cancel, &mut |e| {
        if let LaunchEvent::AttemptFinished { .. } = e {
            cancel.cancel()
        }
    })
    .unwrap();
    assert_eq!(record.outcome, Some(Outcome::Cancelled));
    assert_eq!(record.attempts.len(), 1);
    assert_eq!(
        record.attempts[0].next,
        NextStep::NextPreset {
            preset: "int8".into(),
            micro_batch: None,
            grad_accum: None,
        }
    );
    assert_eq!(
        history::load(&s.paths, &record.run_id).unwrap().0.outcome,
        Some(Outcome::Cancelled)
    );
}

#[test]
fn a_straggler_left_by_a_finished_attempt_is_killed() {
    let s = setup();
    let pid_file = s.dump.join("straggler.pid");
    let pid_file_text = pid_file.to_string_lossy().into_owned();
    let req = request(
        &s,
        plain_profile(),
        &["fp16"],
        &[("FAKE_MODE", "leave"), ("FAKE_PID_FILE", &pid_file_text)],
    );
    let started = Instant::now();
    let record = run_to_end(&s, &req);
    assert_eq!(record.outcome, Some(Outcome::Succeeded));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "waited for the straggler's pipes"
    );
    let straggler = read_pid(&pid_file);
    assert!(
        wait_gone(straggler),
        "straggler {straggler} is still running"
    );
}

#[test]
fn bad_requests_are_refused_before_anything_runs() {
    let s = setup();
    let mut cases: Vec<(RunRequest, &str)> = Vec::new();
    let base = request(&s, plain_profile(), &["fp16"], &[]);
    let mut r = base.clone();
    r.argv.clear();
    cases.push((r, "argv"));
    let mut r = base.clone();
    r.chain = vec!["fp16".into(), "int3".into()];
    cases.push((r, "chain"));
    let mut r = base.clone();
    r.chain = vec!["../x".into()];
    cases.push((r, "chain[0]"));
    let mut r = base.clone();
    r.cwd = s.work.join("missing");
    cases.push((r, "cwd"));
    let mut r = base.clone();
    r.model = " ".into();
    cases.push((r, "model"));
    let mut r = base.clone();
    r.argv = vec!["/no/such/program".into()];
    cases.push((r, "argv"));
    for (req, field) in cases {
        match run_with(&s, &req, &CancelToken::new(), &mut |_| {}) {
            Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
}

#[test]
fn a_relative_program_is_found_in_the_working_directory() {
    use std::os::unix::fs::PermissionsExt;
    let s = setup();
    let script = s.work.join("train.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho \"sh got $HEADROOM_PRESET in $(pwd)\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut req = request(&s, plain_profile(), &["int4_double"], &[]);
    req.argv = vec!["./train.sh".into()];
    let mut lines = Vec::new();
    let record = run_with(&s, &req, &CancelToken::new(), &mut |e| {
        if let LaunchEvent::Output { line, .. } = e {
            lines.push(line)
        }
    })
    .unwrap();
    assert_eq!(record.outcome, Some(Outcome::Succeeded));
    assert_eq!(
        lines,
        [format!(
            "sh got int4_double in {}",
            s.work.canonicalize().unwrap().display()
        )]
    );
}

#[test]
fn history_lists_runs_and_takes_a_late_peak() {
    let s = setup();
    let req = request(&s, plain_profile(), &["int4"], &[]);
    let first = run_to_end(&s, &req);
    let second = run_to_end(&s, &req);
    assert_ne!(first.run_id, second.run_id);
    let list = history::list(&s.paths).unwrap();
    assert_eq!(list.runs.len(), 2);
    assert_eq!(list.runs[0].run_id, second.run_id, "newest first");

    history::set_measured_peak(&s.paths, &first.run_id, 0, 8_500_000_000).unwrap();
    let (run, _) = history::load(&s.paths, &first.run_id).unwrap();
    assert_eq!(run.attempts[0].measured_peak_bytes, Some(8_500_000_000));
    assert_eq!(run.attempts[0].predicted_peak_bytes, Some(9_000_000_000));
    assert!(matches!(
        history::set_measured_peak(&s.paths, &first.run_id, 7, 1),
        Err(Error::Invalid { .. })
    ));
    assert!(history::load(&s.paths, "../etc").is_err());

    // A damaged run file is moved aside and reported, the others still list.
    let file = history::run_dir(&s.paths, &first.run_id)
        .unwrap()
        .join("run.json");
    std::fs::write(&file, "{").unwrap();
    let list = history::list(&s.paths).unwrap();
    assert_eq!(list.runs.len(), 1);
    assert_eq!(list.quarantined.len(), 1);
}

#[test]
fn default_chain_hands_over_what_transformers_writes() {
    for name in ["int8", "int4", "int4_double", "int4_offload"] {
        let h = DefaultChainPresets.hand_over(name).unwrap();
        assert_eq!(h.quant_config, Some(bnb_fixture(name)), "{name}");
        h.validate().unwrap();
    }
    assert_eq!(
        DefaultChainPresets.hand_over("fp16").unwrap().quant_config,
        None
    );
    assert!(DefaultChainPresets.hand_over("int3").is_err());
}

fn fixture_lines(name: &str) -> Vec<String> {
    std::fs::read_to_string(format!("{FIXTURES}/launch/{name}"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn scan(lines: &[String]) -> Option<oom::OomDetails> {
    let mut scanner = OomScanner::new();
    for line in lines {
        scanner.feed(line);
    }
    scanner.finish()
}

#[test]
fn oom_messages_and_their_figures() {
    let gib = |x: f64| (x * (1u64 << 30) as f64).round() as u64;
    let mib = |x: f64| (x * (1u64 << 20) as f64).round() as u64;

    let d = scan(&fixture_lines("oom_fragmented.txt")).unwrap();
    assert_eq!(d.gpu_index, Some(0));
    assert_eq!(d.requested_bytes, Some(mib(764.0)));
    assert_eq!(d.total_capacity_bytes, Some(gib(47.37)));
    assert_eq!(d.free_bytes, Some(mib(442.88)));
    assert_eq!(d.allocated_by_pytorch_bytes, Some(gib(42.40)));
    assert_eq!(d.reserved_unallocated_bytes, Some(gib(3.24)));
    assert!(d.fragmentation());

    let d = scan(&fixture_lines("oom_legacy.txt")).unwrap();
    assert_eq!(d.requested_bytes, Some(mib(36.0)));
    assert_eq!(d.total_capacity_bytes, Some(gib(7.93)));
    assert_eq!(d.free_bytes, Some(mib(47.06)));
    assert_eq!(d.allocated_by_pytorch_bytes, Some(mib(130.35)));
    assert_eq!(d.reserved_unallocated_bytes, Some(mib(188.0) - mib(130.35)));
    assert!(d.fragmentation());

    // The exception name alone (figures on a later line) and the other markers.
    let d = scan(&[
        "torch.OutOfMemoryError".to_string(),
        "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 1 has a total capacity of 79.10 GiB of which 1.50 GiB is free.".to_string(),
    ])
    .unwrap();
    assert_eq!(d.marker, OomMarker::TorchOutOfMemoryError);
    assert_eq!((d.gpu_index, d.requested_bytes), (Some(1), Some(gib(2.0))));
    assert!(
        !d.fragmentation(),
        "no reserved figure, no fragmentation claim"
    );
    let d = scan(&[
        "RuntimeError: CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"
            .into(),
    ])
    .unwrap();
    assert_eq!(d.marker, OomMarker::CublasAllocFailed);
    let d = scan(&["RuntimeError: CUDA error: out of memory".into()]).unwrap();
    assert_eq!(d.marker, OomMarker::CudaErrorOutOfMemory);
    assert!(scan(&[
        "loss 0.5".into(),
        "RuntimeError: expected scalar type Half".into()
    ])
    .is_none());

    assert_eq!(oom::parse_size("0 bytes"), Some(0));
    assert_eq!(oom::parse_size("1023 bytes"), Some(1023));
    assert_eq!(oom::parse_size("1.50 KiB"), Some(1536));
    assert_eq!(oom::parse_size("1.22 GiB"), Some(1_309_965_025));
    assert_eq!(oom::parse_size("2 TiB"), Some(2 << 40));
    for bad in [
        "",
        "GiB",
        "1.2.3 GiB",
        "-1 GiB",
        "1 GB",
        "1 GiB extra",
        "99999999999999999999 TiB",
    ] {
        assert_eq!(oom::parse_size(bad), None, "{bad}");
    }
}

/// The setsid fixture: grandchildren that leave the attempt's process group, one of them orphaned at once.
fn setsid_request(s: &Setup, mode: &str) -> RunRequest {
    let mut req = request(s, plain_profile(), &["fp16"], &[]);
    req.argv = vec![format!("{FIXTURES}/launch/setsid_tree.sh")];
    req.base_env.insert(
        "SETSID_PID_DIR".into(),
        s.dump.to_string_lossy().into_owned(),
    );
    req.base_env.insert("SETSID_MODE".into(), mode.into());
    req
}

fn setsid_grandchildren(s: &Setup) -> Vec<u32> {
    ["direct", "orphan", "daemon"]
        .iter()
        .map(|name| read_pid(&s.dump.join(format!("{name}.pid"))))
        .collect()
}

/// Kill what a failing test left behind, so one failure does not leave sleeps for five minutes.
fn kill_leftovers(pids: &[u32]) {
    for pid in pids {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
}

#[test]
fn setsid_grandchildren_die_when_the_attempt_ends() {
    let s = setup();
    let record = run_to_end(&s, &setsid_request(&s, "exit"));
    assert_eq!(record.outcome, Some(Outcome::Succeeded));
    let grandchildren = setsid_grandchildren(&s);
    let survivors: Vec<u32> = grandchildren
        .iter()
        .copied()
        .filter(|p| !wait_gone(*p))
        .collect();
    kill_leftovers(&survivors);
    assert!(
        survivors.is_empty(),
        "survived the end of the run: {survivors:?}"
    );
    // Re-parented to this process (the launcher) and reaped: no zombie left either.
    for pid in grandchildren {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists()
                || tree_parent(pid) != Some(std::process::id()),
            "{pid} left as a zombie of the launcher"
        );
    }
}

#[test]
fn setsid_grandchildren_die_when_the_run_is_cancelled() {
    let s = setup();
    let req = setsid_request(&s, "hang");
    let cancel = CancelToken::new();
    let record = run_with(&s, &req, &cancel, &mut |e| {
        if matches!(&e, LaunchEvent::Output { line, .. } if line == "ready") {
            cancel.cancel()
        }
    })
    .unwrap();
    assert_eq!(record.outcome, Some(Outcome::Cancelled));
    let survivors: Vec<u32> = setsid_grandchildren(&s)
        .into_iter()
        .filter(|p| !wait_gone(*p))
        .collect();
    kill_leftovers(&survivors);
    assert!(survivors.is_empty(), "survived the cancel: {survivors:?}");
}

fn tree_parent(pid: u32) -> Option<u32> {
    headroom_core::launch::tree::read_stat(Path::new("/proc"), pid).map(|s| s.ppid)
}

#[test]
fn max_memory_names_only_the_gpus_the_program_sees() {
    use headroom_core::launch::handover::{fit_to_gpus, visible_gpus};
    let kwargs = serde_json::json!({"device_map": "auto", "max_memory": {"0": "10GiB", "1": "10GiB", "cpu": "30GB"}, "dtype": "bfloat16"});
    let env = |cvd: Option<&str>| -> EnvMap {
        cvd.map(|v| ("CUDA_VISIBLE_DEVICES".to_string(), v.to_string()))
            .into_iter()
            .collect()
    };
    assert_eq!(visible_gpus(Some(2), &env(None)), Some(2));
    assert_eq!(visible_gpus(Some(2), &env(Some("1"))), Some(1));
    assert_eq!(visible_gpus(Some(2), &env(Some(""))), Some(0));
    assert_eq!(visible_gpus(Some(2), &env(Some("-1"))), Some(0));
    assert_eq!(visible_gpus(Some(4), &env(Some("0,GPU-8e2a,7,1"))), Some(2));
    assert_eq!(visible_gpus(None, &env(Some("0"))), None);

    assert_eq!(fit_to_gpus(&kwargs, Some(2)), kwargs);
    assert_eq!(fit_to_gpus(&kwargs, None), kwargs);
    assert_eq!(
        fit_to_gpus(&kwargs, Some(1))["max_memory"],
        serde_json::json!({"0": "10GiB", "cpu": "30GB"})
    );
    // No GPU: accelerate would place layers on "0" anyway and loading would fail; only the CPU limit is left.
    assert_eq!(
        fit_to_gpus(&kwargs, Some(0))["max_memory"],
        serde_json::json!({"cpu": "30GB"})
    );
    let gpu_only =
        serde_json::json!({"device_map": "auto", "max_memory": {"0": "10GiB"}, "dtype": "auto"});
    assert_eq!(
        fit_to_gpus(&gpu_only, Some(0))["max_memory"],
        serde_json::Value::Null
    );
}

#[test]
fn a_log_far_over_its_bound_keeps_head_and_tail_and_the_oom_still_falls_back() {
    let s = setup();
    let mut req = request(
        &s,
        plain_profile(),
        &["fp16", "int8"],
        &[
            ("FAKE_OOM_PRESETS", "fp16"),
            ("FAKE_NOISE_BYTES", "4000000"),
        ],
    );
    let bound = 64 * 1024;
    req.log_limit_bytes = bound;
    let record = run_to_end(&s, &req);
    assert_eq!(record.outcome, Some(Outcome::Succeeded));
    let presets: Vec<_> = record.attempts.iter().map(|a| a.preset.as_str()).collect();
    assert_eq!(presets, ["fp16", "int8"]);
    let fp16 = &record.attempts[0];
    assert_eq!(
        fp16.oom
            .as_ref()
            .expect("the OOM after 4 MB of output")
            .requested_bytes,
        Some(1_309_965_025)
    );
    let size = std::fs::metadata(&fp16.log_file).unwrap().len();
    assert!(size <= bound, "{size} bytes");
    let log = std::fs::read_to_string(&fp16.log_file).unwrap();
    // The head is the start of the output: stderr's first line is in it. (stdout's first line may land after
    // the head: the two pipes are read by two threads, and the noise fills the head in microseconds.)
    let marker_at = log.find("[headroom: ").expect("a marker line");
    assert!(
        log[..marker_at].contains("noise 000000 "),
        "{}",
        &log[..200]
    );
    assert!(
        !log[marker_at..].contains("noise 000000 "),
        "the first line is kept once, in the head"
    );
    let marker = log
        .lines()
        .find(|l| l.starts_with("[headroom: "))
        .expect("a line saying what was dropped");
    assert!(marker.contains("bytes of output dropped"), "{marker}");
    // The traceback's last lines, where the figures are, made it.
    assert!(
        log.contains("CUDA out of memory. Tried to allocate 1.22 GiB"),
        "{}",
        &log[log.len() - 2000..]
    );

    // A bound too small to hold a head and a tail is refused before anything runs.
    req.log_limit_bytes = 100;
    match run_with(&s, &req, &CancelToken::new(), &mut |_| {}) {
        Err(Error::Invalid { field, .. }) => assert_eq!(field, "log_limit_bytes"),
        other => panic!("{other:?}"),
    }
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().filter_map(|e| e.ok()) {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
            {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn a_profile_token_reaches_the_child_only() {
    let s = setup();
    let token = "hf_SeCrEt0123456789";
    let mut profile = plain_profile();
    profile.variables.push(Setting {
        name: "HF_TOKEN".into(),
        value: Some(token.into()),
    });
    let mut req = request(&s, profile, &["fp16"], &[]);
    // A program that echoes its environment, as some login helpers and debug prints do.
    req.argv = vec![
        "bash".into(),
        "-c".into(),
        "echo \"logged in with $HF_TOKEN\"; env | grep HF_TOKEN; echo \"$HF_TOKEN\" > \"$FAKE_DUMP_DIR/child.txt\""
            .into(),
    ];
    let mut lines = Vec::new();
    let record = run_with(&s, &req, &CancelToken::new(), &mut |e| match e {
        LaunchEvent::Output { line, .. } => lines.push(line),
        LaunchEvent::AttemptFinished { attempt } => {
            lines.push(serde_json::to_string(&attempt).unwrap())
        }
        _ => {}
    })
    .unwrap();
    assert_eq!(record.outcome, Some(Outcome::Succeeded));
    // The child got the real value.
    assert_eq!(
        std::fs::read_to_string(s.dump.join("child.txt"))
            .unwrap()
            .trim(),
        token
    );
    // The record says the variable was set, not to what.
    assert_eq!(
        record.attempts[0].environment["HF_TOKEN"].as_deref(),
        Some(headroom_core::env::secret::REDACTED)
    );
    assert_eq!(lines[0], "logged in with <redacted>");
    assert!(lines.iter().all(|l| !l.contains(token)), "{lines:?}");
    // Nothing Headroom wrote holds it: the record, the log, the hand-over files.
    assert_eq!(
        files_containing(&s.paths.data_dir, token),
        Vec::<PathBuf>::new()
    );
}

#[test]
fn an_oom_after_more_output_than_the_launcher_keeps_up_with_is_still_seen() {
    // A UI or terminal slower than the program (0.2 ms a line here): when the program dies, much of its
    // output is still on its way, the OOM traceback last. It must all be read, not cut off after the exit.
    let s = setup();
    let mut req = request(
        &s,
        plain_profile(),
        &["fp16", "int8"],
        &[
            ("FAKE_OOM_PRESETS", "fp16"),
            ("FAKE_NOISE_BYTES", "1500000"),
        ],
    );
    req.log_limit_bytes = 64 * 1024;
    let record = run_with(&s, &req, &CancelToken::new(), &mut |e| {
        if matches!(e, LaunchEvent::Output { attempt: 0, .. }) {
            std::thread::sleep(Duration::from_micros(200));
        }
    })
    .unwrap();
    assert!(
        record.attempts[0].oom.is_some(),
        "the OOM at the end was not seen"
    );
    let presets: Vec<_> = record.attempts.iter().map(|a| a.preset.as_str()).collect();
    assert_eq!(presets, ["fp16", "int8"]);
    let log = std::fs::read_to_string(&record.attempts[0].log_file).unwrap();
    assert!(log.contains("CUDA out of memory. Tried to allocate 1.22 GiB"));
}
