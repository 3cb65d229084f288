use std::sync::MutexGuard;

use headroom_core::launch::calibration::{self, CalibrationStatus};
use headroom_core::monitor::Timestamp;
use headroom_core::settings::{self, Settings};
use tauri::{AppHandle, Emitter, Runtime, State};

use crate::error::{IpcError, IpcResult};
use crate::AppState;

/// Event sent to every window after the settings changed, so all of them switch language or theme at once.
pub const SETTINGS_CHANGED: &str = "settings-changed";

/// The settings in force, locked for as long as the guard lives.
pub(crate) fn lock_settings(state: &AppState) -> IpcResult<MutexGuard<'_, Settings>> {
    state
        .settings
        .lock()
        .map_err(|_| IpcError::internal("settings lock poisoned"))
}

#[tauri::command]
pub fn get_settings(state: State<'_, AppState>) -> IpcResult<Settings> {
    Ok(lock_settings(&state)?.clone())
}

#[tauri::command]
pub fn save_settings<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    settings: Settings,
) -> IpcResult<Settings> {
    let mut current = lock_settings(&state)?;
    settings::save(&state.paths.settings_file(), &settings)?;
    *current = settings.clone();
    drop(current);
    if let Err(e) = app.emit(SETTINGS_CHANGED, &settings) {
        tracing::warn!(error = %e, "could not tell the windows that the settings changed");
    }
    Ok(settings)
}

/// This machine's calibration from its measured runs (docs/estimator.md §10.5), for the Settings view.
#[tauri::command]
pub fn get_machine_calibration(state: State<'_, AppState>) -> IpcResult<CalibrationStatus> {
    Ok(calibration::status(&state.paths)?)
}

/// Set aside the runs so far (their records stay): estimates use the defaults until new runs calibrate again.
#[tauri::command]
pub fn reset_machine_calibration(state: State<'_, AppState>) -> IpcResult<CalibrationStatus> {
    Ok(calibration::reset(&state.paths, Timestamp::now().millis())?)
}
