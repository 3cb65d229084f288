use std::sync::MutexGuard;

use headroom_core::launch::calibration::{self, CalibrationStatus};
use headroom_core::monitor::exporter::{self, Exporter, ExporterConfig};
use headroom_core::monitor::metrics::{self, RenderOptions};
use headroom_core::monitor::remote::{read_secret, EXPORTER_TOKEN_ENV};
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
    if current.exporter_address != settings.exporter_address {
        // Start the new one before saving: an address that cannot be served is refused, not stored.
        let mut slot = state
            .exporter
            .lock()
            .map_err(|_| IpcError::internal("exporter lock poisoned"))?;
        *slot = None;
        *slot = start_exporter(settings.exporter_address.as_deref())?;
    }
    settings::save(&state.paths.settings_file(), &settings)?;
    *current = settings.clone();
    drop(current);
    if let Err(e) = app.emit(SETTINGS_CHANGED, &settings) {
        tracing::warn!(error = %e, "could not tell the windows that the settings changed");
    }
    Ok(settings)
}

/// The exporter for Settings' address, or none when it is off. Loopback unless the address says otherwise; the
/// bearer token, if any, is HEADROOM_EXPORTER_TOKEN's (settings never hold secrets).
pub(crate) fn start_exporter(address: Option<&str>) -> IpcResult<Option<Exporter>> {
    let Some(address) = address else {
        return Ok(None);
    };
    let addr = exporter::parse_addr(address).map_err(|e| e.for_field("exporter_address"))?;
    let token = read_secret("exporter_token", None, EXPORTER_TOKEN_ENV, |v| {
        std::env::var(v).ok()
    })?;
    let started = Exporter::start(ExporterConfig {
        addr,
        token,
        render: RenderOptions {
            hostname: metrics::local_hostname(),
            processes: false,
        },
    })?;
    tracing::info!(addr = %started.addr(), "serving the Monitor's readings at /metrics");
    Ok(Some(started))
}

/// This machine's calibration from its measured runs (docs/estimator.md §10.5), for the Settings view.
#[tauri::command]
pub fn get_machine_calibration(state: State<'_, AppState>) -> IpcResult<CalibrationStatus> {
    Ok(state.calibration.status(&state.paths)?)
}

/// Set aside the runs so far (their records stay): estimates use the defaults until new runs calibrate again.
#[tauri::command]
pub fn reset_machine_calibration(state: State<'_, AppState>) -> IpcResult<CalibrationStatus> {
    Ok(calibration::reset(&state.paths, Timestamp::now().millis())?)
}
