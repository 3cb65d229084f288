//! The Plan view's trace engine: trace a plan (progress through a channel), cancel it, export its timeline, and
//! the Settings view's check of a Python.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use headroom_core::chart::{ChartLanguage, SavedChart};
use headroom_core::estimate::plan::file::PlanFile;
use headroom_core::presets::library::PresetLibrary;
use headroom_core::trace::{
    self, python, CancelToken, PythonInfo, TimelinePoint, TraceOutcome, TraceProgress, TraceSetup,
};
use headroom_core::Error;
use tauri::ipc::Channel;
use tauri::State;

use super::env::app_env;
use super::plan::{pick_chart_file, resolver, settings_lang};
use crate::draft::Draft;
use crate::error::{IpcError, IpcResult};
use crate::picker::Picker;
use crate::AppState;
use headroom_core::message::{Key, Message};

/// What cancels the trace now running, if one is. One at a time: a trace already takes both cores.
#[derive(Clone, Default)]
pub struct ActiveTrace(Arc<Mutex<Option<CancelToken>>>);

/// Clears the slot when the trace ends, however it ends.
struct Running(ActiveTrace);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(mut slot) = (self.0).0.lock() {
            *slot = None;
        }
    }
}

impl ActiveTrace {
    fn start(&self) -> IpcResult<(CancelToken, Running)> {
        let mut slot = self
            .0
            .lock()
            .map_err(|_| IpcError::internal("trace lock poisoned"))?;
        if slot.is_some() {
            return Err(Error::invalid_msg(
                "trace",
                Message::new(Key::InvalidPlanTraceAlreadyRunningCancel),
            )
            .into());
        }
        let token = CancelToken::new();
        *slot = Some(token.clone());
        Ok((token, Running(self.clone())))
    }
}

fn python_setting(state: &AppState) -> IpcResult<Option<PathBuf>> {
    Ok(super::settings::lock_settings(state)?
        .python_path
        .clone()
        .map(PathBuf::from))
}

/// Trace a plan (docs/contract.md §1 JSON) with the Python from Settings; progress arrives on `on_progress`. Runs
/// off the main thread; `trace_cancel` stops it (the error's code is then `cancelled`).
#[tauri::command]
pub async fn trace_plan(
    state: State<'_, AppState>,
    plan: Draft<PlanFile>,
    on_progress: Channel<TraceProgress>,
) -> IpcResult<TraceOutcome> {
    let (cancel, running) = state.trace.start()?;
    let python = python_setting(&state)?;
    let paths = state.paths.clone();
    let plan = plan.raw().clone();
    let outcome = tauri::async_runtime::spawn_blocking(move || {
        let _running = running;
        let cache_dir = trace::trace_cache_dir(&paths.data_dir);
        trace::trace_plan(
            &plan,
            &TraceSetup {
                python: python.as_deref(),
                env: &app_env(),
                cache_dir: &cache_dir,
                presets: &PresetLibrary::new(&paths),
                resolver: &resolver(),
                time_limit: trace::DEFAULT_TIME_LIMIT,
                steps: Default::default(),
            },
            &cancel,
            &mut |p| {
                // A closed window only loses the progress; the trace's answer still comes back.
                let _ = on_progress.send(p);
            },
        )
    })
    .await
    .map_err(|e| IpcError::internal(format!("the trace thread failed: {e}")))?;
    Ok(outcome?)
}

/// Cancel the running trace (its Python is killed with its whole process group). Nothing running is fine.
#[tauri::command]
pub fn trace_cancel(state: State<'_, AppState>) -> IpcResult<()> {
    let slot = state
        .trace
        .0
        .lock()
        .map_err(|_| IpcError::internal("trace lock poisoned"))?;
    if let Some(token) = slot.as_ref() {
        token.cancel();
    }
    Ok(())
}

/// Check a Python for the trace: `path`, or the PATH search when it is `null`. The versions when it can trace;
/// otherwise the error says what is missing.
#[tauri::command]
pub async fn trace_check_python(
    state: State<'_, AppState>,
    path: Option<String>,
) -> IpcResult<PythonInfo> {
    let cache_dir = trace::trace_cache_dir(&state.paths.data_dir);
    let path = path.filter(|p| !p.trim().is_empty()).map(PathBuf::from);
    let info = tauri::async_runtime::spawn_blocking(move || {
        std::fs::create_dir_all(&cache_dir).map_err(|e| Error::io(&cache_dir, e))?;
        python::select(path.as_deref(), &app_env(), &cache_dir, &CancelToken::new())
    })
    .await
    .map_err(|e| IpcError::internal(format!("the check thread failed: {e}")))?;
    Ok(info?)
}

/// Export a trace's timeline as PNG or SVG (by the chosen file's extension, PNG by default), with words in the
/// user's language; `null` when the dialog was cancelled.
#[tauri::command]
pub async fn trace_export_chart(
    state: State<'_, AppState>,
    picker: State<'_, Picker>,
    timeline: Vec<TimelinePoint>,
    title: String,
) -> IpcResult<Option<SavedChart>> {
    let language = ChartLanguage::new(settings_lang(&state)?);
    let Some((path, format)) = pick_chart_file(&picker, "trace-timeline.png")? else {
        return Ok(None);
    };
    let labels = trace::chart::render_timeline(&timeline, &title, &path, format, &language)?;
    Ok(Some(SavedChart::new(path, labels)))
}
