//! This machine's calibration from its run history (docs/estimator.md §10.5): which attempts count, and the reset
//! that makes it set aside the runs so far without deleting any record. The fit itself is
//! [`crate::estimate::calibration::derive`].
//!
//! An attempt counts when it finished on its own with exit status 0 (not cancelled, no OOM), the monitor measured
//! its peak, and its record keeps the prediction's detail ([`PredictionDetail`]: runs started from the app with a
//! batch size and sequence length). Each run has at most one such attempt, its last, so the count of attempts is
//! the count of runs. OOM-killed attempts are left out: their measured peak is where the GPU ran out, a lower
//! bound on what the run needed, which cannot say how much of it was context or slack.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::history::{self, RunRecord};
use crate::estimate::calibration::{
    default_slack_permille, derive, MachineCalibration, Sample, MIN_RUNS,
};
use crate::estimate::plan::Task;
use crate::estimate::CUDA_CONTEXT_BYTES;
use crate::paths::AppPaths;
use crate::store::{self, Document};
use crate::Result;

/// The user's choices about the calibration: a small document in the config directory, apart from the settings
/// so that saving the Settings form never touches it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CalibrationState {
    /// Runs started before this moment are ignored (the last reset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset_unix_ms: Option<u64>,
}

impl Document for CalibrationState {
    const VERSION: u32 = 1;
}

pub fn state_file(paths: &AppPaths) -> PathBuf {
    paths.config_dir.join("calibration.json")
}

/// What Settings shows: the calibration in force, the runs each task has so far (also below [`MIN_RUNS`], to
/// say how many more it needs) and the last reset.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct CalibrationStatus {
    pub calibration: MachineCalibration,
    pub train_runs: u32,
    pub infer_runs: u32,
    pub min_runs: u32,
    pub reset_unix_ms: Option<u64>,
    /// What an uncalibrated task uses instead (docs/estimator.md §10.3–10.4).
    pub default_cuda_context_bytes: u64,
    pub default_train_slack_permille: u64,
    pub default_infer_slack_permille: u64,
    /// Why the calibration file could not be read, when it could not (its reset is then ignored; a new reset
    /// rewrites it). Unreadable run records are left for the Runs view, which moves them aside and says so.
    pub unreadable: Option<String>,
}

/// The samples of each task (training, inference) from `runs`, leaving out runs started before `since`.
pub fn samples(runs: &[RunRecord], since: Option<u64>) -> (Vec<Sample>, Vec<Sample>) {
    let (mut train, mut infer) = (Vec::new(), Vec::new());
    let attempts = runs.iter().flat_map(|r| &r.attempts).filter(|a| {
        a.exit.success()
            && !a.cancelled
            && a.oom.is_none()
            && since.is_none_or(|t| a.started_unix_ms >= t)
    });
    for attempt in attempts {
        let (Some(measured), Some(detail)) =
            (attempt.measured_peak_bytes, attempt.predicted_detail)
        else {
            continue;
        };
        // A measurement at or below the managed bytes says nothing about the rest.
        if detail.allocated_peak_bytes == 0 || measured <= detail.managed_memory_bytes {
            continue;
        }
        let sample = Sample {
            allocated_bytes: detail.allocated_peak_bytes,
            managed_bytes: detail.managed_memory_bytes,
            measured_bytes: measured,
            started_unix_ms: attempt.started_unix_ms,
            lengths_doubt_bytes: detail.lengths_doubt_bytes,
        };
        match detail.task {
            Task::Train => train.push(sample),
            Task::Infer => infer.push(sample),
        }
    }
    (train, infer)
}

/// The calibration status of this machine, from its run history and the last reset.
pub fn status(paths: &AppPaths) -> Result<CalibrationStatus> {
    let (state, unreadable) = match store::peek::<CalibrationState>(&state_file(paths))? {
        Some(Ok(state)) => (state, None),
        None => (CalibrationState::default(), None),
        Some(Err(why)) => (CalibrationState::default(), Some(why)),
    };
    let runs = history::readable_runs(paths)?;
    let (train, infer) = samples(&runs, state.reset_unix_ms);
    Ok(CalibrationStatus {
        calibration: MachineCalibration {
            train: derive(&train),
            infer: derive(&infer),
        },
        train_runs: count(&train),
        infer_runs: count(&infer),
        min_runs: MIN_RUNS,
        reset_unix_ms: state.reset_unix_ms,
        default_cuda_context_bytes: CUDA_CONTEXT_BYTES,
        default_train_slack_permille: default_slack_permille(Task::Train),
        default_infer_slack_permille: default_slack_permille(Task::Infer),
        unreadable,
    })
}

/// The calibration every estimate on this machine uses (empty until a task has [`MIN_RUNS`] runs).
pub fn load(paths: &AppPaths) -> Result<MachineCalibration> {
    Ok(status(paths)?.calibration)
}

/// Set aside every run started before `now_unix_ms`: the estimates go back to the defaults until enough new runs
/// are measured. The run records stay as they are.
pub fn reset(paths: &AppPaths, now_unix_ms: u64) -> Result<CalibrationStatus> {
    store::save_unchecked(
        &state_file(paths),
        &CalibrationState {
            reset_unix_ms: Some(now_unix_ms),
        },
    )?;
    status(paths)
}

/// What a status was computed from: each run record file and the calibration file, by path, size and
/// modification time. A run saved (by the app or by `headroom-cli run` in another process), removed, or a reset
/// changes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint(Vec<(PathBuf, Option<(u64, SystemTime)>)>);

fn fingerprint(paths: &AppPaths) -> Result<Fingerprint> {
    let mut files = history::run_files(paths)?;
    files.sort();
    files.push(state_file(paths));
    Ok(Fingerprint(
        files
            .into_iter()
            .map(|f| {
                let stamp = std::fs::metadata(&f)
                    .ok()
                    .and_then(|m| Some((m.len(), m.modified().ok()?)));
                (f, stamp)
            })
            .collect(),
    ))
}

/// [`status`] recomputed only when the run history or the calibration file changed since the last call. The Plan
/// view and the wizard estimate on every keystroke, and reading every run record each time grows with the
/// history; listing the records' sizes and times does not read them. Held by the caller (the app's state), not
/// global.
#[derive(Debug, Default)]
pub struct StatusCache {
    last: Mutex<Option<(Fingerprint, CalibrationStatus)>>,
}

impl StatusCache {
    pub fn status(&self, paths: &AppPaths) -> Result<CalibrationStatus> {
        // Taken before the records are read: a record saved meanwhile makes the next call read again.
        let now = fingerprint(paths)?;
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((seen, status)) = last.as_ref() {
            if *seen == now {
                return Ok(status.clone());
            }
        }
        let fresh = status(paths)?;
        *last = Some((now, fresh.clone()));
        Ok(fresh)
    }

    /// The calibration every estimate on this machine uses, as [`load`].
    pub fn load(&self, paths: &AppPaths) -> Result<MachineCalibration> {
        Ok(self.status(paths)?.calibration)
    }
}

fn count(samples: &[Sample]) -> u32 {
    u32::try_from(samples.len()).unwrap_or(u32::MAX)
}
