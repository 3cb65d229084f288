//! The Plan view's trainer configs (docs/trainers.md): import one the person picks or drops on the window, and
//! export the plan as an accelerate config or a DeepSpeed JSON where the person chooses. Paths come from the
//! file dialog or from the window's drop event, which the shell receives itself ([`remember_drop`]): no command
//! takes a path from the window.

use std::path::PathBuf;
use std::sync::Mutex;

use headroom_core::estimate::plan::file::PlanFile;
use headroom_core::estimate::{available_presets, plan_from_value};
use headroom_core::presets::library::PresetLibrary;
use headroom_core::store;
use headroom_core::trainers::export::{export, ExportFormat, ExportedConfig};
use headroom_core::trainers::{self, ImportReport};
use serde::Serialize;
use tauri::{Emitter, Runtime, State, Window};

use crate::draft::Draft;
use crate::error::{IpcError, IpcResult};
use crate::picker::{PickRequest, Picker};
use crate::AppState;

/// The event the window hears when files were dropped on it; it then asks for [`plan_import_dropped`].
pub const DROPPED_EVENT: &str = "plan-configs-dropped";

/// The paths of the last drop on the window, kept by the shell until the Plan view imports them.
#[derive(Default)]
pub struct DroppedConfigs(Mutex<Vec<PathBuf>>);

impl DroppedConfigs {
    fn take(&self) -> Vec<PathBuf> {
        std::mem::take(
            &mut *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

/// The window's drop event: keep the paths the system gave (not any the page could name) and tell the window.
pub fn remember_drop<R: Runtime>(window: &Window<R>, dropped: &DroppedConfigs, paths: &[PathBuf]) {
    *dropped
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = paths.to_vec();
    if let Err(e) = window.emit(DROPPED_EVENT, paths.len()) {
        tracing::warn!(error = %e, "could not tell the window about a drop");
    }
}

const CONFIG_FILTER: (&str, &[&str]) = ("Trainer config", &["yaml", "yml", "json"]);

/// Import a trainer config the person picks (and the DeepSpeed JSON it names); `null` when cancelled.
#[tauri::command]
pub async fn plan_import_config(picker: State<'_, Picker>) -> IpcResult<Option<ImportReport>> {
    let request = PickRequest::open_file().filter(CONFIG_FILTER.0, CONFIG_FILTER.1);
    let Some(path) = picker.pick(&request)? else {
        return Ok(None);
    };
    Ok(Some(trainers::import_files(&[path])?))
}

/// Import the files last dropped on the window, merged; `null` when nothing was dropped since.
#[tauri::command]
pub async fn plan_import_dropped(
    dropped: State<'_, DroppedConfigs>,
) -> IpcResult<Option<ImportReport>> {
    let paths = dropped.take();
    if paths.is_empty() {
        return Ok(None);
    }
    Ok(Some(trainers::import_files(&paths)?))
}

/// Where an export went and what its format could not say.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct SavedExport {
    pub path: String,
    pub not_carried: Vec<String>,
}

/// Export the plan as `format` where the person chooses (an atomic write); `null` when cancelled.
#[tauri::command]
pub async fn plan_export_config(
    state: State<'_, AppState>,
    picker: State<'_, Picker>,
    plan: Draft<PlanFile>,
    format: ExportFormat,
) -> IpcResult<Option<SavedExport>> {
    let presets = available_presets(&PresetLibrary::new(&state.paths))?;
    // Validate and export before asking where: a plan that cannot be written is not worth a dialog.
    let plan = plan_from_value(plan.raw(), &presets)?;
    let ExportedConfig {
        text, not_carried, ..
    } = export(&plan, format)?;
    let request = match format {
        ExportFormat::Accelerate => {
            PickRequest::save_file(format.file_name()).filter("YAML", &["yaml", "yml"])
        }
        ExportFormat::Deepspeed => {
            PickRequest::save_file(format.file_name()).filter("JSON", &["json"])
        }
    };
    let Some(path) = picker.pick(&request)? else {
        return Ok(None);
    };
    store::write_atomic(&path, text.as_bytes()).map_err(IpcError::from)?;
    Ok(Some(SavedExport {
        path: path.display().to_string(),
        not_carried,
    }))
}
