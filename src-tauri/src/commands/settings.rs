use headroom_core::settings::{self, Settings};
use tauri::{AppHandle, Emitter, Runtime, State};

use crate::error::{IpcError, IpcResult};
use crate::AppState;

/// Event sent to every window after the settings changed, so all of them switch language or theme at once.
pub const SETTINGS_CHANGED: &str = "settings-changed";

#[tauri::command]
pub fn get_settings(state: State<'_, AppState>) -> IpcResult<Settings> {
    let settings = state
        .settings
        .lock()
        .map_err(|_| IpcError::internal("settings lock poisoned"))?;
    Ok(settings.clone())
}

#[tauri::command]
pub fn save_settings<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    settings: Settings,
) -> IpcResult<Settings> {
    let mut current = state
        .settings
        .lock()
        .map_err(|_| IpcError::internal("settings lock poisoned"))?;
    settings::save(&state.paths.settings_file(), &settings)?;
    *current = settings.clone();
    drop(current);
    if let Err(e) = app.emit(SETTINGS_CHANGED, &settings) {
        tracing::warn!(error = %e, "could not tell the windows that the settings changed");
    }
    Ok(settings)
}
