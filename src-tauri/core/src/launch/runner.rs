//! The fallback chain: run the command with each preset in turn until one does not die of CUDA OOM.
//!
//! Rules (issue 6):
//! 1. An attempt that exits 0 ends the run: [`Outcome::Succeeded`].
//! 2. An attempt that fails without an OOM marker in its output ends the run: [`Outcome::Failed`]. A crash
//!    that is not about memory would crash again under any preset, so it is never relaunched.
//! 3. An attempt that fails with an OOM marker whose figures show fragmentation ([`OomDetails::fragmentation`])
//!    is retried once, same preset, with `expandable_segments:True` added to the allocator options in force,
//!    unless they already had it. The option stays on for the rest of the chain: it costs nothing
//!    (docs/estimator.md §15) and the fragmentation would come back.
//! 4. Any other OOM moves to the next chain step (a preset, or `mb/2`: half the micro-batch, twice the
//!    accumulation, [`super::steps`]); after the last one the run ends: [`Outcome::ChainExhausted`].
//! 5. Cancel ends the run at once: [`Outcome::Cancelled`].
//! 6. The first attempt starts at the step the request's [`StartChoice`] names (the first that fits by the
//!    estimate, [`super::first_step`]), else at the first.
//! 7. A relaunch resumes from the newest checkpoint the training wrote since the run started
//!    ([`super::resume`]).
//! 8. A distributed launch (torchrun, accelerate launch) runs without restarts of its own; an OOM in any rank's
//!    output stops the whole group once the kill grace has passed ([`super::distributed`]).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::command;
use super::distributed::{self, DistributedLauncher};
use super::first_step::StartChoice;
use super::handover::{self, PresetHandOver, PresetSource};
use super::history::{self, AttemptRecord, NextStep, Outcome, PredictionDetail, RunRecord};
use super::oom::OomScanner;
use super::process::{self, CancelToken, ProcessEvent, ProcessSpec, StopAfter, Stream};
use super::resume::{self, ResumePoint, RESUME_VAR};
use super::steps::{self, BatchSetting, StepState};
use super::tree::{ProcessStamp, PROC_ROOT};
use crate::env::allocconf::{self, ALLOC_CONF_VARS};
use crate::env::profile::Profile;
use crate::env::secret::{self, Scrubber};
use crate::env::EnvMap;
use crate::logfile::HeadTailLog;
use crate::message::{Key, Message};
use crate::paths::AppPaths;
use crate::store::{self, Revision};

/// The chain, parsed and walked: what each position runs.
fn chain_states(request: &RunRequest) -> Result<Vec<StepState>> {
    steps::states(&steps::parse_chain(&request.chain)?, request.batch)
}
use crate::{Error, Result};

/// The preset's name.
pub const PRESET_VAR: &str = "HEADROOM_PRESET";
/// Path of a JSON file holding `BitsAndBytesConfig(...).to_dict()`; absent for presets without quantization.
pub const QUANT_CONFIG_VAR: &str = "HEADROOM_QUANT_CONFIG";
/// Path of a JSON file holding `device_map`, `max_memory` and `dtype` for `from_pretrained`.
pub const LOAD_KWARGS_VAR: &str = "HEADROOM_LOAD_KWARGS";
/// The run's id and the attempt's 0-based index, for the program's own logs.
pub const RUN_ID_VAR: &str = "HEADROOM_RUN_ID";
pub const ATTEMPT_VAR: &str = "HEADROOM_ATTEMPT";
/// The attempt's micro-batch and gradient accumulation, when the run has a batch (absent otherwise).
pub const MICRO_BATCH_VAR: &str = crate::monitor::procs::MICRO_BATCH_VAR;
pub const GRAD_ACCUM_VAR: &str = "HEADROOM_GRAD_ACCUM";
/// The run's sequence length, when it was given (the Monitor reads it back from the process's environment).
pub const SEQUENCE_LENGTH_VAR: &str = crate::monitor::procs::SEQUENCE_LENGTH_VAR;
/// The model id of the run: the key of its per-model config.
pub use crate::monitor::procs::MODEL_VAR;

/// The bound on each attempt's log file unless a request says otherwise: its first 4 MiB and its last 6 to
/// 12 MiB, with a line between saying how much was dropped ([`HeadTailLog`]). OOM detection reads every line
/// as it comes, not the file, so a dropped middle never hides an OOM. stdout and stderr reach the log in the
/// order their lines are read; the kept tail (at least 6 MiB) is far larger than what one pipe can still hold
/// (64 KiB) when the other stream's traceback arrives, so interleaving cannot push the traceback out.
pub const ATTEMPT_LOG_LIMIT_BYTES: u64 = 16 * 1024 * 1024;

/// Follows the GPU memory of an attempt's process tree. The monitor (another module) implements it; the
/// launcher only says when an attempt starts and ends, with the pid that is also the process group id.
pub trait PeakProbe {
    fn attempt_started(&mut self, pid: u32);
    /// The highest GPU memory the tree used, in bytes, if it was measured.
    fn attempt_finished(&mut self, pid: u32) -> Option<u64>;
}

/// For hosts without a monitor: peaks stay `None`, never 0.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoPeakProbe;

impl PeakProbe for NoPeakProbe {
    fn attempt_started(&mut self, _pid: u32) {}
    fn attempt_finished(&mut self, _pid: u32) -> Option<u64> {
        None
    }
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub model: String,
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    pub profile: Profile,
    /// The environment the profile is applied to (the launcher's own, handed in by the caller).
    pub base_env: EnvMap,
    pub chain: Vec<String>,
    /// The estimator's device peak per preset name, where the caller has one.
    pub predicted_peak_bytes: BTreeMap<String, u64>,
    /// The parts of those predictions the machine calibration reads back ([`PredictionDetail`]).
    pub predicted_details: BTreeMap<String, PredictionDetail>,
    /// Why a preset has no prediction, where the caller tried to make one.
    pub predicted_notes: BTreeMap<String, String>,
    /// Predictions per chain position (what a chain with batch steps needs: the same preset at another
    /// micro-batch is another estimate); where a position has one, it is used instead of the preset's.
    pub step_predictions: BTreeMap<u32, StepPrediction>,
    /// The micro-batch and gradient accumulation the command trains with at the chain's start; `None`: the
    /// run hands over no batch and the chain can have no batch steps.
    pub batch: Option<BatchSetting>,
    /// Where the chain starts and why; `None` starts at the first step.
    pub start: Option<StartChoice>,
    /// The sequence length the run trains at, when the form gave it: handed over as `HEADROOM_SEQUENCE_LENGTH`
    /// so the Monitor can estimate the run's other presets (monitor/advice.rs).
    pub sequence_length: Option<u64>,
    /// Where the training writes its checkpoints; `None`: the command's `--output_dir` (or `--out_dir`), if any.
    pub output_dir: Option<PathBuf>,
    /// Time between SIGTERM and SIGKILL when cancelling.
    pub kill_grace: Duration,
    /// The GPUs the driver reports (0 without a driver), `None` when unknown: `max_memory` is handed over
    /// only for GPUs the program will see ([`handover::fit_to_gpus`]).
    pub gpus: Option<u32>,
    /// The bound on each attempt's log file ([`ATTEMPT_LOG_LIMIT_BYTES`] unless a test wants it small).
    pub log_limit_bytes: u64,
    /// The plan the steps were estimated with, kept in the record ([`RunRecord::plan`]).
    pub plan: Option<serde_json::Value>,
}

/// The estimator's figures for one chain position.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepPrediction {
    pub peak_bytes: Option<u64>,
    pub detail: Option<PredictionDetail>,
    pub note: Option<String>,
}

/// What the UI (or the CLI) is told while a run goes on.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum LaunchEvent {
    RunStarted {
        run_id: String,
        #[ts(type = "string")]
        dir: PathBuf,
        /// When the run started and what it trains, as its record keeps them: what the UI names a run by
        /// (date and model) rather than its id.
        started_unix_ms: u64,
        model: String,
        /// Why the first attempt starts where it does down the chain, when the run had estimates to choose by.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        start: Option<StartChoice>,
    },
    AttemptStarted {
        index: u32,
        preset: String,
        pid: u32,
        expandable_segments: bool,
        /// The estimator's device peak for this preset, where the run has a plan (the live chart's plan line).
        predicted_peak_bytes: Option<u64>,
        /// The chain position, the batch handed over and the checkpoint resumed from (see [`AttemptRecord`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        step: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        micro_batch: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        grad_accum: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        resumed_from: Option<ResumePoint>,
    },
    Output {
        attempt: u32,
        stream: Stream,
        line: String,
    },
    AttemptFinished {
        attempt: Box<AttemptRecord>,
    },
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn validate(request: &RunRequest) -> Result<()> {
    if request.model.trim().is_empty() {
        return Err(Error::invalid_msg(
            "model",
            Message::new(Key::InvalidMustNotEmpty),
        ));
    }
    match request.argv.first() {
        None => {
            return Err(Error::invalid_msg(
                "argv",
                Message::new(Key::InvalidRunCommandEmpty),
            ))
        }
        Some(p) if p.is_empty() => {
            return Err(Error::invalid_msg(
                "argv",
                Message::new(Key::InvalidRunProgramNameEmpty),
            ))
        }
        Some(_) => {}
    }
    if request.argv.iter().any(|a| a.contains('\0')) {
        return Err(Error::invalid_msg(
            "argv",
            Message::new(Key::InvalidMustNotContainNul),
        ));
    }
    if request.log_limit_bytes < crate::logfile::MIN_HEAD_TAIL_BYTES {
        return Err(Error::invalid_msg(
            "log_limit_bytes",
            Message::new(Key::InvalidRunBelowSmallestLogBound)
                .text("limit", request.log_limit_bytes.to_string())
                .text("min", crate::logfile::MIN_HEAD_TAIL_BYTES.to_string()),
        ));
    }
    command::check(&request.argv, request.batch)?;
    if let Some(start) = &request.start {
        if usize::try_from(start.step).map_or(true, |s| s >= request.chain.len()) {
            return Err(Error::invalid_msg(
                "start",
                Message::new(Key::InvalidRunStepPastChainS)
                    .text("step", start.step.to_string())
                    .text("chain", request.chain.len().to_string()),
            ));
        }
    }
    if !request.cwd.is_dir() {
        return Err(Error::invalid_msg(
            "cwd",
            Message::new(Key::InvalidRunNotDirectory)
                .text("cwd", request.cwd.display().to_string()),
        ));
    }
    request.profile.validate()
}

/// The allocator variables in force get `expandable_segments:True`; with none set, the one every PyTorch
/// release reads is set.
fn enable_expandable_segments(env: &mut EnvMap) {
    let mut any = false;
    for var in ALLOC_CONF_VARS {
        if let Some(value) = env.get_mut(var) {
            *value = allocconf::with_expandable_segments(value);
            any = true;
        }
    }
    if !any {
        env.insert(
            "PYTORCH_CUDA_ALLOC_CONF".into(),
            "expandable_segments:True".into(),
        );
    }
}

/// Whether expandable segments are on whichever allocator variable this PyTorch release reads: every one
/// that is set must have it (see [`ALLOC_CONF_VARS`] on why the order is not reliable).
fn expandable_segments_on(env: &EnvMap) -> bool {
    let mut present = ALLOC_CONF_VARS
        .iter()
        .filter_map(|var| env.get(*var))
        .peekable();
    present.peek().is_some() && present.all(|value| allocconf::has_expandable_segments(value))
}

fn diff(base: &EnvMap, env: &EnvMap) -> BTreeMap<String, Option<String>> {
    let mut changes = BTreeMap::new();
    for (name, value) in env {
        if base.get(name) != Some(value) {
            changes.insert(name.clone(), Some(value.clone()));
        }
    }
    for name in base.keys() {
        if !env.contains_key(name) {
            changes.insert(name.clone(), None);
        }
    }
    changes
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    bytes.push(b'\n');
    store::write_atomic(path, &bytes)
}

/// The child's environment for one attempt, with the hand-over files written into the run directory.
fn attempt_env(
    request: &RunRequest,
    hand_over: &PresetHandOver,
    run_id: &str,
    dir: &Path,
    index: u32,
    expandable: bool,
    attempt: &AttemptSetup,
) -> Result<EnvMap> {
    let mut env = request.profile.apply(&request.base_env);
    if expandable {
        enable_expandable_segments(&mut env);
    }
    // Values left over from the user's shell would describe some other run.
    for var in [
        MICRO_BATCH_VAR,
        GRAD_ACCUM_VAR,
        RESUME_VAR,
        SEQUENCE_LENGTH_VAR,
    ] {
        env.remove(var);
    }
    if let Some(length) = request.sequence_length {
        env.insert(SEQUENCE_LENGTH_VAR.into(), length.to_string());
    }
    if let Some(batch) = attempt.batch {
        env.insert(MICRO_BATCH_VAR.into(), batch.micro_batch.to_string());
        env.insert(GRAD_ACCUM_VAR.into(), batch.grad_accum.to_string());
    }
    if let Some(point) = &attempt.resume {
        env.insert(RESUME_VAR.into(), point.path.to_string_lossy().into_owned());
    }
    if let Some(launcher) = attempt.distributed {
        let error_file = dir.join(format!("attempt-{index}.error.json"));
        // A file from an earlier attempt of the same index cannot exist (the run folder is new), but a stale one
        // must never be read as this attempt's error.
        let _ = std::fs::remove_file(&error_file);
        env.insert(
            distributed::ERROR_FILE_VAR.into(),
            error_file.to_string_lossy().into_owned(),
        );
        if launcher == DistributedLauncher::Torchrun {
            env.insert(distributed::MAX_RESTARTS_VAR.into(), "0".into());
        }
    }
    env.insert(PRESET_VAR.into(), hand_over.preset.clone());
    env.insert(RUN_ID_VAR.into(), run_id.into());
    // How the monitor tells which model a GPU process belongs to (`monitor::procs::ModelLink`).
    env.insert(MODEL_VAR.into(), request.model.clone());
    env.insert(ATTEMPT_VAR.into(), index.to_string());
    let kwargs = dir.join(format!("attempt-{index}.load_kwargs.json"));
    let gpus = handover::visible_gpus(request.gpus, &env);
    write_json(
        &kwargs,
        &handover::fit_to_gpus(&hand_over.load_kwargs, gpus),
    )?;
    env.insert(
        LOAD_KWARGS_VAR.into(),
        kwargs.to_string_lossy().into_owned(),
    );
    match &hand_over.quant_config {
        Some(config) => {
            let path = dir.join(format!("attempt-{index}.quant_config.json"));
            write_json(&path, config)?;
            env.insert(QUANT_CONFIG_VAR.into(), path.to_string_lossy().into_owned());
        }
        // A value left over from the user's shell would describe some other preset.
        None => {
            env.remove(QUANT_CONFIG_VAR);
        }
    }
    Ok(env)
}

/// What one attempt runs besides its preset.
struct AttemptSetup {
    batch: Option<BatchSetting>,
    resume: Option<ResumePoint>,
    distributed: Option<DistributedLauncher>,
}

/// An attempt could not be started (a file could not be written, the program vanished between attempts):
/// the run is recorded as failed, so the history does not show it running for ever, and `error` is returned.
fn abandon(paths: &AppPaths, record: &mut RunRecord, revision: Revision, error: Error) -> Error {
    record.outcome = Some(Outcome::Failed);
    if let Err(save_error) = history::save(paths, record, revision) {
        tracing::warn!(run = %record.run_id, %save_error, "could not record the failed run");
    }
    error
}

/// Run the chain. Returns the run's record (also on disk) once the run has ended; `Err` only when the run
/// could not be started or its files could not be written.
pub fn run(
    paths: &AppPaths,
    request: &RunRequest,
    presets: &dyn PresetSource,
    probe: &mut dyn PeakProbe,
    cancel: &CancelToken,
    on_event: &mut dyn FnMut(LaunchEvent),
) -> Result<RunRecord> {
    validate(request)?;
    let states = chain_states(request)?;
    // Every preset is resolved before the first launch, so a typo at the end of the chain is found now and
    // not after an hour of training.
    let hand_overs = request
        .chain
        .iter()
        .enumerate()
        .filter(|(_, entry)| entry.trim() != steps::HALVE_MICRO_BATCH)
        .map(|(i, name)| {
            let h = presets.hand_over(name)?;
            h.validate()?;
            // HEADROOM_PRESET must name what the user asked for, or the history would lie about it.
            if &h.preset != name {
                return Err(Error::invalid_msg(
                    format!("chain[{i}]"),
                    Message::new(Key::InvalidRunAskedPresetPresetSource)
                        .text("name", format!("{name:?}"))
                        .text("preset", format!("{:?}", h.preset)),
                ));
            }
            Ok((name.clone(), h))
        })
        .collect::<Result<BTreeMap<String, PresetHandOver>>>()?;
    let distributed = distributed::without_restarts(&request.argv);
    let argv = distributed
        .as_ref()
        .map_or_else(|| request.argv.clone(), |(argv, _)| argv.clone());
    let output_dir = request
        .output_dir
        .clone()
        .map(|d| request.cwd.join(d))
        .or_else(|| resume::output_dir_of(&request.argv, &request.cwd));
    let has_batch_steps = states.windows(2).any(|w| w[0].batch != w[1].batch);

    let started = now_unix_ms();
    let (run_id, dir) = history::create_run_dir(paths, started)?;
    let mut record = RunRecord {
        run_id: run_id.clone(),
        model: request.model.clone(),
        profile: request.profile.name.clone(),
        chain: request.chain.clone(),
        argv: request.argv.clone(),
        cwd: request.cwd.clone(),
        started_unix_ms: started,
        attempts: Vec::new(),
        outcome: None,
        launcher: ProcessStamp::current(Path::new(PROC_ROOT)),
        running: None,
        interruption: None,
        start: request.start.clone(),
        distributed: distributed.as_ref().map(|(_, run)| run.clone()),
        plan: request.plan.clone(),
    };
    let mut revision = history::save(paths, &record, Revision::ABSENT)?;
    on_event(LaunchEvent::RunStarted {
        run_id: run_id.clone(),
        dir: dir.clone(),
        started_unix_ms: started,
        model: request.model.clone(),
        start: request.start.clone(),
    });

    let run_started = UNIX_EPOCH + Duration::from_millis(started);
    let mut position = request
        .start
        .as_ref()
        .and_then(|s| usize::try_from(s.step).ok())
        .unwrap_or(0);
    let mut expandable = false;
    let mut retried_for_fragmentation = false;
    let mut index = 0u32;
    let outcome = loop {
        // A cancel that came while the last attempt was being recorded must not start the next one.
        if cancel.is_cancelled() {
            break Outcome::Cancelled;
        }
        let Some(state) = states.get(position) else {
            break Outcome::ChainExhausted;
        };
        let Some(hand_over) = hand_overs.get(&state.preset) else {
            break Outcome::ChainExhausted;
        };
        let prediction = request
            .step_predictions
            .get(&u32::try_from(position).unwrap_or(u32::MAX));
        let predicted_peak = prediction.map_or_else(
            || request.predicted_peak_bytes.get(&state.preset).copied(),
            |p| p.peak_bytes,
        );
        // A relaunch goes on from where the training got to.
        let resume_point = if index > 0 {
            output_dir
                .as_deref()
                .and_then(|d| resume::newest_checkpoint(d, run_started))
        } else {
            None
        };
        let setup = AttemptSetup {
            batch: state.batch,
            resume: resume_point,
            distributed: distributed.as_ref().map(|(_, run)| run.launcher),
        };
        let attempt_argv = command::fill(&argv, setup.batch, setup.resume.as_ref());
        let log_file = dir.join(format!("attempt-{index}.log"));
        let prepared = attempt_env(request, hand_over, &run_id, &dir, index, expandable, &setup)
            .and_then(|env| {
                Ok((
                    env,
                    HeadTailLog::create(&log_file, request.log_limit_bytes)?,
                ))
            });
        let (env, mut log) = match prepared {
            Ok(prepared) => prepared,
            Err(e) => return Err(abandon(paths, &mut record, revision, e)),
        };
        let mut scanner = OomScanner::new();
        let stop = StopAfter::new();
        let scrubber = Scrubber::new(&env);
        let mut pid = None;
        let started_ms = now_unix_ms();
        let clock = Instant::now();
        let mut log_error = None;
        let ended = process::run_stoppable(
            &ProcessSpec {
                argv: &attempt_argv,
                cwd: &request.cwd,
                env: &env,
                kill_grace: request.kill_grace,
                input: None,
                line_limit: process::MAX_LINE_BYTES,
                // The hand-over file's path names the data directory, the run and the attempt: unlike the run
                // id alone, no other launcher in this process (another run, another data directory) has it.
                tag: Some(LOAD_KWARGS_VAR),
            },
            cancel,
            &stop,
            &mut |event| match event {
                ProcessEvent::Started(stamp) => {
                    let child = stamp.pid;
                    pid = Some(child);
                    // On disk at once: if the launcher dies now, the next start can tell whether the training
                    // still runs.
                    record.running = Some(stamp);
                    match history::save(paths, &record, revision) {
                        Ok(saved) => revision = saved,
                        Err(e) => {
                            tracing::warn!(run = %record.run_id, error = %e, "could not record the attempt's process")
                        }
                    }
                    probe.attempt_started(child);
                    on_event(LaunchEvent::AttemptStarted {
                        index,
                        preset: hand_over.preset.clone(),
                        pid: child,
                        expandable_segments: expandable,
                        predicted_peak_bytes: predicted_peak,
                        step: u32::try_from(position).ok(),
                        micro_batch: setup.batch.map(|b| b.micro_batch),
                        grad_accum: setup.batch.map(|b| b.grad_accum),
                        resumed_from: setup.resume.clone(),
                    });
                }
                ProcessEvent::Line(stream, line) => {
                    scanner.feed(line);
                    // The other ranks may wait in NCCL for the one that died: give the group the kill grace to
                    // end by itself, then stop it.
                    if setup.distributed.is_some() && scanner.found().is_some() {
                        stop.request(request.kill_grace);
                    }
                    // A program that prints its token (a login message, a dumped environment) must not get it
                    // into the log file, the UI or the terminal's scrollback.
                    let line = &*scrubber.scrub(line);
                    if log_error.is_none() {
                        // One write per line: the file is unbuffered so a crash loses nothing.
                        if let Err(e) = log.write_all(format!("{line}\n").as_bytes()) {
                            log_error = Some(e);
                        }
                    }
                    on_event(LaunchEvent::Output {
                        attempt: index,
                        stream,
                        line: line.to_owned(),
                    });
                }
            },
        );
        let ended = match ended {
            Ok(ended) => ended,
            Err(e) => return Err(abandon(paths, &mut record, revision, e)),
        };
        let _ = log.flush();
        let measured = pid.and_then(|p| probe.attempt_finished(p));
        let oom = if ended.exit.success() || ended.cancelled {
            None
        } else {
            if scanner.found().is_none() && setup.distributed.is_some() {
                // A rank that logs to its own file: its exception is in torchelastic's error file.
                let error_file = dir.join(format!("attempt-{index}.error.json"));
                for line in distributed::error_file_lines(&error_file) {
                    scanner.feed(&line);
                }
            }
            scanner.finish()
        };
        let (next, stop) = if ended.cancelled {
            (NextStep::Stop, Some(Outcome::Cancelled))
        } else if ended.exit.success() {
            (NextStep::Stop, Some(Outcome::Succeeded))
        } else {
            match &oom {
                None => (NextStep::Stop, Some(Outcome::Failed)),
                Some(details)
                    if details.fragmentation()
                        && !retried_for_fragmentation
                        && !expandable_segments_on(&env) =>
                {
                    (NextStep::RetryWithExpandableSegments, None)
                }
                Some(_) => match states.get(position + 1) {
                    Some(next) => (
                        NextStep::NextPreset {
                            preset: next.preset.clone(),
                            micro_batch: next
                                .batch
                                .filter(|_| has_batch_steps)
                                .map(|b| b.micro_batch),
                            grad_accum: next
                                .batch
                                .filter(|_| has_batch_steps)
                                .map(|b| b.grad_accum),
                        },
                        None,
                    ),
                    None => (NextStep::Stop, Some(Outcome::ChainExhausted)),
                },
            }
        };
        let attempt = AttemptRecord {
            index,
            preset: hand_over.preset.clone(),
            expandable_segments: expandable,
            // Secret values go to the child only, never to the record.
            environment: secret::redact_changes(diff(&request.base_env, &env)),
            pid,
            started_unix_ms: started_ms,
            duration_ms: u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX),
            exit: ended.exit,
            cancelled: ended.cancelled,
            oom,
            measured_peak_bytes: measured,
            predicted_peak_bytes: predicted_peak,
            predicted_note: prediction.map_or_else(
                || request.predicted_notes.get(&hand_over.preset).cloned(),
                |p| p.note.clone(),
            ),
            predicted_detail: prediction.map_or_else(
                || request.predicted_details.get(&hand_over.preset).copied(),
                |p| p.detail,
            ),
            log_file,
            next: next.clone(),
            step: u32::try_from(position).ok(),
            micro_batch: setup.batch.map(|b| b.micro_batch),
            grad_accum: setup.batch.map(|b| b.grad_accum),
            resumed_from: setup.resume.clone(),
            argv: (attempt_argv != request.argv).then(|| attempt_argv.clone()),
            group_stopped: ended.stopped.then_some(true),
        };
        record.attempts.push(attempt.clone());
        record.running = None;
        if let Some(outcome) = stop {
            record.outcome = Some(outcome);
        }
        revision = history::save(paths, &record, revision)?;
        on_event(LaunchEvent::AttemptFinished {
            attempt: Box::new(attempt),
        });
        if let Some(e) = log_error {
            return Err(Error::io(dir.join(format!("attempt-{index}.log")), e));
        }
        if let Some(outcome) = stop {
            break outcome;
        }
        match next {
            NextStep::RetryWithExpandableSegments => {
                expandable = true;
                retried_for_fragmentation = true;
            }
            _ => position += 1,
        }
        index += 1;
    };
    if record.outcome.is_none() {
        record.outcome = Some(outcome);
        history::save(paths, &record, revision)?;
    }
    Ok(record)
}
