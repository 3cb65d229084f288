//! The Monitor view's commands: start a source (NVML, the demo, a replay) with a channel for its readings, fetch
//! history windows, list idle processes, stop a process, record, and export.

use std::path::PathBuf;
use std::time::Duration;

use headroom_core::i18n::Lang;
use headroom_core::launch::advice::EstimateAdvisor;
use headroom_core::monitor::alerts::AlertConfig;
use headroom_core::monitor::export::{self, Exported, HistoryFormat};
use headroom_core::monitor::history::{HistoryWindow, ProcessIdle};
use headroom_core::monitor::procs::{self, ProcFs, StopOptions, StopOutcome};
use headroom_core::monitor::record;
use headroom_core::monitor::sampler::Tick;
use headroom_core::Error;
use serde::Serialize;
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, Runtime, State};
use tauri_plugin_notification::NotificationExt;

use crate::error::{IpcError, IpcResult};
use crate::AppState;
use headroom_core::message::{Key, Message};
use headroom_core::monitor::notify;
use headroom_core::monitor::session::{
    MonitorPush, MonitorStarted, RecordingInfo, Running, SourceRequest, MAX_RANGE_MS, MIN_RANGE_MS,
};
use headroom_core::monitor::switch;

/// The chart's time ranges: 1 minute to 24 hours.
/// How long a stopped process gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

fn lock(state: &AppState) -> IpcResult<std::sync::MutexGuard<'_, Option<Running>>> {
    state
        .monitor
        .lock()
        .map_err(|_| IpcError::internal("monitor lock poisoned"))
}

fn not_running() -> IpcError {
    Error::invalid_msg(
        "source",
        Message::new(Key::InvalidMonitorNoSourceRunningStart),
    )
    .into()
}

/// Starts (or switches to) a source. Readings arrive on `on_push`, at most 4 a second. `alerts` sets the warning
/// and critical thresholds; without it the last ones (85 % and 95 % at first) apply. `interval_ms` is the memory
/// interval (see [`headroom_core::monitor::session::interval_for`] for the default).
#[tauri::command]
pub fn monitor_start<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    source: SourceRequest,
    alerts: Option<AlertConfig>,
    interval_ms: Option<u64>,
    on_push: Channel<MonitorPush>,
) -> IpcResult<MonitorStarted> {
    let mut slot = lock(&state)?;
    Ok(switch::start_or_switch(
        &mut slot,
        &source,
        switch::StartOptions {
            alerts,
            interval_ms,
            advisor: Some(Box::new(EstimateAdvisor::new(
                state.paths.clone(),
                super::plan::resolver(),
            ))),
        },
        &state.nvml,
        move |push| on_push.send(push).is_ok(),
        move |tick, demo| notify_if_critical(&app, tick, demo),
    )?)
}

/// Hands an NVML reading to the exporter, if one runs, and shows a desktop notification for each GPU a reading
/// moved to critical, when Settings › "Notify on critical" is on. A desktop without a notification service logs a warning; the monitor goes on.
fn notify_if_critical<R: Runtime>(app: &AppHandle<R>, tick: &Tick, demo: bool) {
    // The opt-in exporter (Settings › exporter address) serves this machine's own GPUs only: a demo's, a
    // replay's or other hosts' readings served as this host's would mislead the Prometheus that scrapes it.
    if tick.snapshot.source == "nvml" {
        if let Ok(slot) = app.state::<AppState>().exporter.lock() {
            if let Some(exporter) = slot.as_ref() {
                exporter.publish(tick);
            }
        }
    }
    if !tick
        .assessment
        .changes
        .iter()
        .any(|c| c.to == headroom_core::monitor::alerts::Level::Critical)
    {
        return;
    }
    let Some((on, lang)) = app
        .state::<AppState>()
        .settings
        .lock()
        .ok()
        .map(|s| (s.notify_on_critical, app_lang(&s)))
    else {
        return;
    };
    if !on {
        return;
    }
    let notices = notify::critical_notices(tick, demo, lang);
    for notice in notices {
        let shown = app
            .notification()
            .builder()
            .title(&notice.title)
            .body(&notice.body)
            .show();
        match shown {
            Ok(()) => tracing::info!(title = %notice.title, "desktop notification sent"),
            Err(e) => {
                tracing::warn!(error = %e, title = %notice.title, "the desktop notification could not be shown")
            }
        }
    }
}

/// The language the backend writes in for the user (notifications, chart files): Settings › Language, the OS
/// locale for `auto`, as the UI resolves it.
pub(crate) fn app_lang(settings: &headroom_core::settings::Settings) -> Lang {
    Lang::for_setting_here(settings.language)
}

/// Samples memory every `interval_ms` (100 ms to 10 s) from now on, keeping the history and any recording.
#[tauri::command]
pub fn monitor_set_interval(state: State<'_, AppState>, interval_ms: u64) -> IpcResult<()> {
    let mut slot = lock(&state)?;
    let running = slot.as_mut().ok_or_else(not_running)?;
    Ok(running.set_interval(interval_ms)?)
}

/// Stops the source (and any recording).
#[tauri::command]
pub fn monitor_stop(state: State<'_, AppState>) -> IpcResult<()> {
    *lock(&state)? = None;
    Ok(())
}

/// The last `range_ms` (1 min to 24 h) of history, min/max downsampled to at most `points` per series (about
/// twice the chart's width).
#[tauri::command]
pub fn monitor_window(
    state: State<'_, AppState>,
    range_ms: u64,
    points: u32,
) -> IpcResult<HistoryWindow> {
    if !(MIN_RANGE_MS..=MAX_RANGE_MS).contains(&range_ms) {
        return Err(Error::invalid_msg(
            "range",
            Message::new(Key::InvalidMonitorMsOutside1Min).text("range_ms", range_ms.to_string()),
        )
        .into());
    }
    if !(2..=20_000).contains(&points) {
        return Err(Error::invalid_msg(
            "points",
            Message::new(Key::InvalidMonitorPointsUse220).text("points", points.to_string()),
        )
        .into());
    }
    let slot = lock(&state)?;
    let running = slot.as_ref().ok_or_else(not_running)?;
    Ok(running.window(range_ms, points as usize)?)
}

/// Processes holding GPU memory, with how long each has been idle.
#[tauri::command]
pub fn monitor_idle(state: State<'_, AppState>) -> IpcResult<Vec<ProcessIdle>> {
    let slot = lock(&state)?;
    let running = slot.as_ref().ok_or_else(not_running)?;
    Ok(running.idle()?)
}

/// Stops one of the user's own processes (SIGTERM, then SIGKILL after 5 s) and says how much GPU memory it
/// held at the last reading, which the driver frees when it exits.
#[tauri::command]
pub async fn monitor_stop_process(state: State<'_, AppState>, pid: u32) -> IpcResult<StopOutcome> {
    let held = {
        let slot = lock(&state)?;
        let running = slot.as_ref().ok_or_else(not_running)?;
        if running.demo {
            return Err(Error::invalid_msg(
                "pid",
                Message::new(Key::InvalidMonitorDemoProcessDemoProcesses)
                    .text("pid", pid.to_string()),
            )
            .into());
        }
        running.latest().and_then(|s| {
            s.gpus
                .iter()
                .flat_map(|g| g.processes.iter().flatten())
                .filter(|p| p.pid == pid)
                .map(|p| p.used_bytes)
                .try_fold(0u64, |sum, b| b.map(|b| sum + b))
        })
    };
    // Waiting for the process to exit takes up to seconds: off the main thread.
    tauri::async_runtime::spawn_blocking(move || {
        procs::stop_process(&ProcFs::default(), pid, held, StopOptions::new(STOP_GRACE))
    })
    .await
    .map_err(|e| IpcError::internal(format!("stopping {pid}: {e}")))?
    .map_err(IpcError::from)
}

/// Starts recording every reading to `DATA_DIR/recordings/NAME.jsonl` (JSON Lines, see core `monitor::record`).
#[tauri::command]
pub fn monitor_record_start(
    state: State<'_, AppState>,
    name: Option<String>,
) -> IpcResult<RecordingInfo> {
    let name = name.unwrap_or_else(|| export::default_name("monitor"));
    let path = record::recording_path(&state.paths, &name)?;
    let slot = lock(&state)?;
    let running = slot.as_ref().ok_or_else(not_running)?;
    Ok(running.start_recording(path)?)
}

#[tauri::command]
pub fn monitor_record_stop(state: State<'_, AppState>) -> IpcResult<RecordingInfo> {
    let mut slot = lock(&state)?;
    let running = slot.as_mut().ok_or_else(not_running)?;
    Ok(running.stop_recording()?)
}

/// The recording in progress, if any.
#[tauri::command]
pub fn monitor_recording(state: State<'_, AppState>) -> IpcResult<Option<RecordingInfo>> {
    let slot = lock(&state)?;
    Ok(slot.as_ref().and_then(Running::recording))
}

/// A recording on disk, for the replay picker.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct RecordingFile {
    pub name: String,
    #[ts(type = "string")]
    pub path: PathBuf,
    pub size_bytes: u64,
}

/// The recordings in `DATA_DIR/recordings/`, newest name first (names start with their time).
#[tauri::command]
pub fn monitor_recordings(state: State<'_, AppState>) -> IpcResult<Vec<RecordingFile>> {
    let dir = state.paths.data_dir.join("recordings");
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&dir, e).into()),
    };
    let mut files: Vec<RecordingFile> = entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let path = entry.path();
            let name = path.file_stem()?.to_str()?.to_string();
            let is_recording = path.extension().is_some_and(|x| x == "jsonl");
            let meta = entry.metadata().ok()?;
            (is_recording && meta.is_file()).then_some(RecordingFile {
                name,
                path,
                size_bytes: meta.len(),
            })
        })
        .collect();
    files.sort_by(|a, b| b.name.cmp(&a.name));
    Ok(files)
}

/// Exports to `path`, or to `DATA_DIR/exports/monitor-TIME.EXT` when none is given. CSV comes from the recording
/// (in progress or last); PNG and SVG chart the last `range_ms` of history, with words in the user's language.
#[tauri::command]
pub async fn monitor_export(
    state: State<'_, AppState>,
    format: HistoryFormat,
    range_ms: u64,
    path: Option<String>,
) -> IpcResult<Exported> {
    let out = export::destination(&state.paths.data_dir, format, path.as_deref())?;
    // Only the history is taken under the lock; the file is written after, off the async runtime.
    let lang = state
        .settings
        .lock()
        .map_err(|_| IpcError::internal("settings lock poisoned"))
        .map(|s| app_lang(&s))?;
    let job = {
        let slot = lock(&state)?;
        slot.as_ref()
            .ok_or_else(not_running)?
            .export_job(format, range_ms, out)?
            .in_language(lang)
    };
    tauri::async_runtime::spawn_blocking(move || job.write())
        .await
        .map_err(|e| IpcError::internal(format!("export: {e}")))?
        .map_err(IpcError::from)
}
