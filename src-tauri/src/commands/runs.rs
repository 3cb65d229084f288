//! Runs: start one from the start form, push its events to the window over a channel in batches, let a
//! reloaded window pick it up again, cancel it, and read the run history. The rules live in
//! `headroom_core::launch` (the form in `start`, the runs going on in `active`).

use std::path::Path;

use headroom_core::launch::active::{RunSink, StartError};
use headroom_core::launch::batch::Batch;
use headroom_core::launch::history::{self, RunList, RunRecord};
use headroom_core::launch::live::RunSnapshot;
use headroom_core::launch::log_tail::{self, LogTail};
use headroom_core::launch::probe::ProbeReport;
use headroom_core::launch::runner::LaunchEvent;
use headroom_core::launch::start::{self, RunDefaults, StartRun};
use headroom_core::launch::tree::PROC_ROOT;
use serde::Serialize;
use tauri::ipc::Channel;
use tauri::State;

use super::env::app_env;
use crate::error::{IpcError, IpcResult};
use crate::AppState;

/// One push to the UI: the events since the last push, and the end of the run when it has ended.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct RunUpdate {
    pub run_id: String,
    pub events: Vec<LaunchEvent>,
    /// Output lines left out of this batch to keep it small (they are in the attempt's log file).
    pub dropped_lines: u32,
    /// The final record, once the run has ended.
    pub finished: Option<RunRecord>,
    /// Why the run stopped early (a file could not be written), once it has.
    pub error: Option<IpcError>,
    /// The GPU memory of the attempt's process tree since the last push (NVML every 0.5 s), or why it
    /// cannot be measured.
    pub memory: Vec<ProbeReport>,
}

impl From<Batch> for RunUpdate {
    fn from(batch: Batch) -> Self {
        RunUpdate {
            run_id: batch.run_id,
            events: batch.events,
            dropped_lines: batch.dropped_lines,
            finished: batch.finished,
            error: batch.error.map(IpcError::from),
            memory: batch.memory,
        }
    }
}

/// The window's channel follows a run.
struct ChannelSink(Channel<RunUpdate>);

impl RunSink for ChannelSink {
    fn push(&self, batch: Batch) -> bool {
        self.0.send(RunUpdate::from(batch)).is_ok()
    }
}

/// The start form's chain and presets for `model` (empty: none typed yet).
#[tauri::command]
pub fn runs_defaults(state: State<'_, AppState>, model: String) -> IpcResult<RunDefaults> {
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    Ok(start::run_defaults(&state.paths, &model, cwd)?)
}

/// Start a run in a background thread. Returns its id once the launcher has checked the request and made
/// the run's directory; a request it refuses comes back as the error, naming the field. Async, so the wait
/// for that check happens off the main thread and the window never stalls.
#[tauri::command]
pub async fn runs_start(
    state: State<'_, AppState>,
    start: StartRun,
    on_update: Channel<RunUpdate>,
) -> IpcResult<String> {
    let resolver = super::plan::resolver();
    let (request, presets) =
        start::run_request(&state.paths, &state.nvml, start, app_env(), &resolver)?;
    let probe = start::nvml_peak_probe(state.nvml.clone());
    let sink = Box::new(ChannelSink(on_update));
    state
        .runs
        .start(state.paths.clone(), request, presets, probe, sink)
        .map_err(|e| match e {
            StartError::Refused(e) => e.into(),
            StartError::Launcher(message) => IpcError::internal(message),
        })
}

/// Cancel a run: SIGTERM to its whole process group, SIGKILL after the grace period; no further attempt.
#[tauri::command]
pub fn runs_cancel(state: State<'_, AppState>, run_id: String) -> IpcResult<()> {
    Ok(state.runs.cancel(&run_id)?)
}

/// The ids of the runs going on now.
#[tauri::command]
pub fn runs_active(state: State<'_, AppState>) -> Vec<String> {
    state.runs.ids()
}

/// The newest run going on now, as pushed so far, and from now on its updates on `on_update` instead of the
/// channel it had (the window that started it reloaded, and that channel's page is gone). `null` when no run
/// is going on.
#[tauri::command]
pub fn runs_attach(
    state: State<'_, AppState>,
    on_update: Channel<RunUpdate>,
) -> Option<RunSnapshot> {
    state.runs.attach_newest(Box::new(ChannelSink(on_update)))
}

/// Past runs from the data directory, newest first. Runs whose launcher died (the app or a `headroom-cli`
/// killed mid-run) are marked interrupted first, with whether their training still runs.
#[tauri::command]
pub fn runs_list(state: State<'_, AppState>) -> IpcResult<RunList> {
    let now = headroom_core::monitor::Timestamp::now().millis();
    for record in history::recover_interrupted(&state.paths, Path::new(PROC_ROOT), now)? {
        tracing::warn!(run = %record.run_id, interruption = ?record.interruption, "run interrupted: its launcher died");
    }
    Ok(history::list(&state.paths)?)
}

#[tauri::command]
pub fn runs_load(state: State<'_, AppState>, run_id: String) -> IpcResult<RunRecord> {
    Ok(history::load(&state.paths, &run_id)?.0)
}

/// The end of one attempt's log, for a run reopened from the history.
#[tauri::command]
pub fn runs_log(state: State<'_, AppState>, run_id: String, attempt: u32) -> IpcResult<LogTail> {
    Ok(log_tail::log_tail(&state.paths, &run_id, attempt)?)
}
