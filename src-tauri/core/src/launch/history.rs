//! Run history: every attempt of every run kept on disk, so a user can compare the estimate with what the
//! GPU really held. One document per run, `<data_dir>/runs/<run_id>/run.json`, written through
//! [`crate::store`] after each attempt; the attempts' logs and hand-over files sit beside it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::distributed::DistributedRun;
use super::first_step::StartChoice;
use super::oom::OomDetails;
use super::process::ExitInfo;
use super::resume::ResumePoint;
use super::tree::ProcessStamp;
use crate::estimate::plan::Task;
use crate::message::{Key, Message};
use crate::paths::AppPaths;
use crate::store::{self, Document, Loaded, Quarantine, Revision};
use crate::{Error, Result};

/// Why the launcher stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Succeeded,
    /// Failed for a reason other than CUDA OOM: never relaunched.
    Failed,
    /// Every preset of the chain ran out of memory.
    ChainExhausted,
    Cancelled,
    /// The launcher itself died (killed, a crash, a reboot) before the run ended; found by the next start
    /// ([`recover_interrupted`]). [`RunRecord::interruption`] says whether the training was still running.
    Interrupted,
}

/// What the next start found of a run whose launcher died.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct Interruption {
    /// When it was found.
    pub detected_unix_ms: u64,
    /// The attempt's process at the time the launcher died, when the record had it.
    pub process: Option<ProcessStamp>,
    /// Whether that process was still running when found (`None`: no process was recorded). A process left
    /// running has no launcher any more: no OOM fallback, no cancel; stop it yourself.
    pub process_alive: Option<bool>,
}

/// What the launcher did after an attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NextStep {
    Stop,
    /// Same preset again with `expandable_segments:True`, because the OOM looked like fragmentation.
    RetryWithExpandableSegments,
    /// The next chain step: a preset, or a batch step (`mb/2`) that keeps the preset and gives the micro-batch
    /// and accumulation below (absent for a chain without batch steps).
    NextPreset {
        preset: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        micro_batch: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        grad_accum: Option<u64>,
    },
}

/// The parts of an attempt's prediction that calibrating this machine needs: the device peak alone mixes the
/// allocated peak with the two overheads being calibrated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct PredictionDetail {
    pub task: Task,
    /// The estimate's `allocated_peak_bytes` and `managed_memory_bytes` (docs/contract.md §2): neither depends
    /// on a calibration, so records made under one stay comparable.
    pub allocated_peak_bytes: u64,
    pub managed_memory_bytes: u64,
    /// The band's allowance for changing batch lengths (docs/estimator.md §17), in bytes: 0 where the plan's
    /// lengths were known. Absent from records made before it was kept, which then do not count towards what
    /// this machine's runs strand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub lengths_doubt_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct AttemptRecord {
    /// 0-based position among the run's attempts.
    pub index: u32,
    pub preset: String,
    /// True on the retry that turned on `expandable_segments:True` (and every attempt after it).
    pub expandable_segments: bool,
    /// How the child's environment differed from the launcher's: set (`Some`) or removed (`None`). Only the
    /// difference is kept, so secrets in the user's own environment are not copied to disk.
    pub environment: BTreeMap<String, Option<String>>,
    pub pid: Option<u32>,
    pub started_unix_ms: u64,
    pub duration_ms: u64,
    pub exit: ExitInfo,
    pub cancelled: bool,
    pub oom: Option<OomDetails>,
    /// Peak GPU memory of the process tree, when a monitor measured it.
    pub measured_peak_bytes: Option<u64>,
    /// The estimator's device peak for this preset, when the caller had one.
    pub predicted_peak_bytes: Option<u64>,
    /// Why there is no prediction for this preset though the run had a plan (the plan rejects the preset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub predicted_note: Option<String>,
    /// What the machine calibration needs beside the device peak (docs/estimator.md §10.5); absent from
    /// records made before it existed and from runs without a prediction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub predicted_detail: Option<PredictionDetail>,
    #[ts(type = "string")]
    pub log_file: PathBuf,
    pub next: NextStep,
    /// The chain position this attempt ran (absent from records made before batch steps and start choices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub step: Option<u32>,
    /// The micro-batch and gradient accumulation handed over (`HEADROOM_MICRO_BATCH`, `HEADROOM_GRAD_ACCUM`),
    /// when the run has a batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub micro_batch: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub grad_accum: Option<u64>,
    /// The checkpoint this relaunch resumed from (`{resume}`, `HEADROOM_RESUME_FROM`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub resumed_from: Option<ResumePoint>,
    /// The command as this attempt ran it, when it differs from the run's (placeholders filled, the
    /// distributed launcher's restarts turned off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub argv: Option<Vec<String>>,
    /// True when the launcher stopped the process group itself: a rank of a distributed run died of OOM and
    /// the others did not end within the kill grace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub group_stopped: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct RunRecord {
    pub run_id: String,
    pub model: String,
    pub profile: String,
    pub chain: Vec<String>,
    pub argv: Vec<String>,
    #[ts(type = "string")]
    pub cwd: PathBuf,
    pub started_unix_ms: u64,
    pub attempts: Vec<AttemptRecord>,
    /// `None` while the run is going (or if the launcher died and no start has noticed yet).
    pub outcome: Option<Outcome>,
    /// The process running the launcher, so a later start can tell a run still going from one whose launcher
    /// died.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub launcher: Option<ProcessStamp>,
    /// The attempt's process while an attempt runs (written when it starts, cleared when it ends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub running: Option<ProcessStamp>,
    /// Set with [`Outcome::Interrupted`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub interruption: Option<Interruption>,
    /// Why the first attempt started where it did in the chain, when the run had estimates to choose by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub start: Option<StartChoice>,
    /// Set for a command started through torchrun or accelerate launch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub distributed: Option<DistributedRun>,
    /// The plan the run's steps were estimated with, when it was started with one (docs/contract.md §1): the
    /// Monitor estimates the run's remaining presets with it too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "Record<string, unknown>")]
    pub plan: Option<serde_json::Value>,
}

impl Document for RunRecord {
    const VERSION: u32 = 1;
}

impl RunRecord {
    /// The exit status of the last attempt as a shell reports it (what `headroom-cli run` exits with).
    pub fn last_status(&self) -> Option<i32> {
        self.attempts.last().map(|a| a.exit.shell_status())
    }
}

pub fn runs_dir(paths: &AppPaths) -> PathBuf {
    paths.data_dir.join("runs")
}

pub fn run_dir(paths: &AppPaths, run_id: &str) -> Result<PathBuf> {
    store::check_name("run_id", run_id)?;
    Ok(runs_dir(paths).join(run_id))
}

fn run_file(dir: &Path) -> PathBuf {
    dir.join("run.json")
}

/// Make a new run directory named after its start time; a suffix keeps two runs in the same millisecond
/// apart (`create_dir` fails when the name is taken, so no two launchers share one).
pub fn create_run_dir(paths: &AppPaths, started_unix_ms: u64) -> Result<(String, PathBuf)> {
    let root = runs_dir(paths);
    fs::create_dir_all(&root).map_err(|e| Error::io(&root, e))?;
    for suffix in 0u32..1000 {
        let id = if suffix == 0 {
            format!("run-{started_unix_ms}")
        } else {
            format!("run-{started_unix_ms}-{suffix}")
        };
        let dir = root.join(&id);
        match fs::create_dir(&dir) {
            Ok(()) => return Ok((id, dir)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(&dir, e)),
        }
    }
    Err(Error::io(
        &root,
        std::io::Error::other("a thousand runs started in the same millisecond"),
    ))
}

/// Save the record of a run the caller owns, checked against the revision it last wrote.
pub fn save(paths: &AppPaths, record: &RunRecord, expected: Revision) -> Result<Revision> {
    let dir = run_dir(paths, &record.run_id)?;
    store::save(&run_file(&dir), record, expected)
}

/// One run and the revision of its file.
pub fn load(paths: &AppPaths, run_id: &str) -> Result<(RunRecord, Revision)> {
    let path = run_file(&run_dir(paths, run_id)?);
    match store::load::<RunRecord>(&path)? {
        Loaded::Found {
            value, revision, ..
        } => Ok((value, revision)),
        Loaded::Missing => Err(Error::invalid_msg(
            "run_id",
            Message::new(Key::InvalidRunNoRun).text("run_id", format!("{run_id:?}")),
        )),
        Loaded::Quarantined(q) => Err(Error::Corrupt {
            path,
            reason: format!("{}; moved to {}", q.reason, q.moved_to.display()),
        }),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct RunList {
    /// Newest first.
    pub runs: Vec<RunRecord>,
    pub quarantined: Vec<Quarantine>,
}

pub fn list(paths: &AppPaths) -> Result<RunList> {
    let mut list = RunList {
        runs: Vec::new(),
        quarantined: Vec::new(),
    };
    for file in run_files(paths)? {
        match store::load::<RunRecord>(&file)? {
            Loaded::Found { value, .. } => list.runs.push(value),
            Loaded::Missing => {}
            Loaded::Quarantined(q) => list.quarantined.push(q),
        }
    }
    list.runs.sort_by(|a, b| {
        b.started_unix_ms
            .cmp(&a.started_unix_ms)
            .then_with(|| b.run_id.cmp(&a.run_id))
    });
    Ok(list)
}

/// Every run record that can be read, in no particular order, leaving the others where they are for [`list`] to
/// move aside and report.
pub fn readable_runs(paths: &AppPaths) -> Result<Vec<RunRecord>> {
    let mut runs = Vec::new();
    for file in run_files(paths)? {
        if let Some(Ok(record)) = store::peek::<RunRecord>(&file)? {
            runs.push(record);
        }
    }
    Ok(runs)
}

/// The record file of every folder in the runs folder named like a run (none when there is no runs folder yet).
pub(crate) fn run_files(paths: &AppPaths) -> Result<Vec<PathBuf>> {
    let root = runs_dir(paths);
    let entries = match fs::read_dir(&root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&root, e)),
    };
    Ok(entries
        .filter_map(|e| e.ok())
        .filter(|e| store::check_name("run_id", &e.file_name().to_string_lossy()).is_ok())
        .map(|e| run_file(&e.path()))
        .collect())
}

/// Mark as [`Outcome::Interrupted`] every run without an outcome whose launcher is gone (its pid is not
/// running with the recorded start time, or the record predates the launcher stamp), saying whether the
/// attempt's process still runs. Called by every start that loads the history (the CLI's `run`, the app's run
/// list). Returns the runs it marked. A run another start marked first is skipped.
pub fn recover_interrupted(
    paths: &AppPaths,
    proc_root: &Path,
    now_unix_ms: u64,
) -> Result<Vec<RunRecord>> {
    let mut marked = Vec::new();
    for file in run_files(paths)? {
        // An unreadable record is the list's business (it quarantines it); here it is skipped.
        let Ok(Loaded::Found {
            value: mut record,
            revision,
            ..
        }) = store::load::<RunRecord>(&file)
        else {
            continue;
        };
        if record.outcome.is_some() {
            continue;
        }
        if record.launcher.is_some_and(|l| l.is_alive(proc_root)) {
            continue;
        }
        record.outcome = Some(Outcome::Interrupted);
        record.interruption = Some(Interruption {
            detected_unix_ms: now_unix_ms,
            process: record.running,
            process_alive: record.running.map(|p| p.is_alive(proc_root)),
        });
        match save(paths, &record, revision) {
            Ok(_) => marked.push(record),
            Err(Error::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    marked.sort_by(|a, b| a.run_id.cmp(&b.run_id));
    Ok(marked)
}

/// Record a peak measured after the fact (a monitor recording replayed later). Only for finished runs: a
/// running launcher owns its file.
pub fn set_measured_peak(paths: &AppPaths, run_id: &str, attempt: u32, bytes: u64) -> Result<()> {
    let (mut record, revision) = load(paths, run_id)?;
    if record.outcome.is_none() {
        return Err(Error::invalid_msg(
            "run_id",
            Message::new(Key::InvalidRunRunHasNotFinished).text("run_id", run_id.to_string()),
        ));
    }
    let Some(slot) = record.attempts.iter_mut().find(|a| a.index == attempt) else {
        return Err(Error::invalid_msg(
            "attempt",
            Message::new(Key::InvalidRunRunHasNoAttempt)
                .text("run_id", run_id.to_string())
                .text("attempt", attempt.to_string()),
        ));
    };
    slot.measured_peak_bytes = Some(bytes);
    save(paths, &record, revision).map(|_| ())
}
