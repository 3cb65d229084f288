//! Environment profiles and the doctor: each command calls one core function in `headroom_core::env`.

use std::path::{Path, PathBuf};

use headroom_core::env::catalog::{self, VariableInfo};
use headroom_core::env::doctor::{self, Fix, Report};
use headroom_core::env::profile::{self, Profile, ProfileList, ProfileView};
use headroom_core::env::{export, parse, procenv, EnvMap};
use headroom_core::fsio;
use headroom_core::store::Revision;
use headroom_core::Error;
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Runtime, State};
use tauri_plugin_dialog::DialogExt;

use crate::commands::plan::chosen;
use crate::error::IpcResult;
use crate::AppState;

/// The app's own environment: what a run started from Headroom inherits before its profile is applied.
pub fn app_env() -> EnvMap {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

#[tauri::command]
pub fn env_list_profiles(state: State<'_, AppState>) -> IpcResult<ProfileList> {
    Ok(profile::list(&state.paths)?)
}

#[tauri::command]
pub fn env_load_profile(state: State<'_, AppState>, name: String) -> IpcResult<ProfileView> {
    Ok(profile::load(&state.paths, &name)?)
}

/// Every variable Headroom knows, for the profile form's help text and suggestions.
#[tauri::command]
pub fn env_catalog() -> Vec<VariableInfo> {
    catalog::all().to_vec()
}

/// Save a user profile if its file is still at `expected` (`null` to create it); returns it as now stored.
#[tauri::command]
pub fn env_save_profile(
    state: State<'_, AppState>,
    profile: Profile,
    expected: Revision,
) -> IpcResult<ProfileView> {
    profile::save(&state.paths, &profile, expected)?;
    Ok(profile::load(&state.paths, &profile.name)?)
}

#[tauri::command]
pub fn env_delete_profile(
    state: State<'_, AppState>,
    name: String,
    expected: Revision,
) -> IpcResult<()> {
    Ok(profile::delete(&state.paths, &name, expected)?)
}

/// Apply a doctor's fix to a user profile ([`Profile::with_fix`]) and save it, checked against `expected`.
#[tauri::command]
pub fn env_apply_fix(
    state: State<'_, AppState>,
    name: String,
    expected: Revision,
    fix: Fix,
) -> IpcResult<ProfileView> {
    let fixed = profile::load_profile(&state.paths, &name)?.with_fix(&fix);
    profile::save(&state.paths, &fixed, expected)?;
    Ok(profile::load(&state.paths, &name)?)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ProfileFormat {
    /// `NAME=value` lines.
    Dotenv,
    /// `export NAME=value` and `unset NAME` lines.
    Shell,
}

fn export_text(profile: &Profile, format: ProfileFormat) -> String {
    match format {
        ProfileFormat::Dotenv => export::to_dotenv(profile),
        ProfileFormat::Shell => export::to_shell(profile),
    }
}

/// The profile `name` as a `.env` file or a shell script, for the preview and Copy.
#[tauri::command]
pub fn env_export(
    state: State<'_, AppState>,
    name: String,
    format: ProfileFormat,
) -> IpcResult<String> {
    Ok(export_text(
        &profile::load_profile(&state.paths, &name)?,
        format,
    ))
}

fn absolute(field: &str, path: &str) -> Result<PathBuf, Error> {
    let path = Path::new(path.trim());
    if path.as_os_str().is_empty() {
        return Err(Error::invalid(field, "enter a file path"));
    }
    if !path.is_absolute() {
        return Err(Error::invalid(
            field,
            format!(
                "{} is not an absolute path (start it with /)",
                path.display()
            ),
        ));
    }
    Ok(path.to_path_buf())
}

fn write_export(path: &Path, text: &str) -> IpcResult<String> {
    headroom_core::store::write_atomic(path, text.as_bytes())?;
    Ok(path.display().to_string())
}

/// Write the export of `name` to `path` (atomically); returns the path written. The view goes through the
/// save dialog ([`env_export_dialog`]); this is the same write with the path given, for tests and scripts.
#[tauri::command]
pub fn env_export_to_file(
    state: State<'_, AppState>,
    name: String,
    format: ProfileFormat,
    path: String,
) -> IpcResult<String> {
    let path = absolute("path", &path)?;
    let text = export_text(&profile::load_profile(&state.paths, &name)?, format);
    write_export(&path, &text)
}

/// Write the export of `name` where the user chooses in the system save dialog; returns the path written,
/// `null` when they cancel. The profile is read first: one that cannot be exported is not worth a dialog.
#[tauri::command]
pub async fn env_export_dialog<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    name: String,
    format: ProfileFormat,
) -> IpcResult<Option<String>> {
    let text = export_text(&profile::load_profile(&state.paths, &name)?, format);
    let (filter, ext) = match format {
        ProfileFormat::Dotenv => (".env file", "env"),
        ProfileFormat::Shell => ("Shell script", "sh"),
    };
    let path = chosen(
        app.dialog()
            .file()
            .add_filter(filter, &[ext])
            .set_file_name(format!("{name}.{ext}"))
            .blocking_save_file(),
    )?;
    path.map(|p| write_export(&p, &text)).transpose()
}

/// Which environment the doctor reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DoctorSource {
    /// What a run started from Headroom would get: the app's environment with the profile applied.
    App,
    /// A `.env` file or a shell script of `export` lines, as written.
    File { path: String },
    /// A running process's environment (`/proc/PID/environ`), as it started.
    Process { pid: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct DoctorResult {
    pub report: Report,
    /// Lines of a file that were not assignments and were skipped (1-based).
    pub skipped_lines: Vec<u32>,
    /// How many variables were read.
    pub variables: u32,
}

#[tauri::command]
pub fn env_doctor(
    state: State<'_, AppState>,
    source: DoctorSource,
    profile: Option<String>,
) -> IpcResult<DoctorResult> {
    let profile = match profile {
        Some(name) => Some(profile::load_profile(&state.paths, &name)?),
        None => None,
    };
    let mut skipped_lines = Vec::new();
    let env = match source {
        DoctorSource::App => match &profile {
            Some(p) => p.apply(&app_env()),
            None => app_env(),
        },
        DoctorSource::File { path } => {
            let path = absolute("file", &path)?;
            let text = fsio::read_to_string(&path, fsio::SMALL_INPUT).map_err(|e| match e {
                Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                    Error::invalid("file", format!("{} does not exist", path.display()))
                }
                other => other,
            })?;
            let parsed = parse::parse(&path.display().to_string(), &text)?;
            skipped_lines = parsed.skipped_lines.clone();
            parsed.to_env()
        }
        DoctorSource::Process { pid } => procenv::read_environ(Path::new("/proc"), pid)?,
    };
    let report = doctor::diagnose(&env, profile.as_ref());
    Ok(DoctorResult {
        report,
        skipped_lines,
        variables: u32::try_from(env.len()).unwrap_or(u32::MAX),
    })
}
