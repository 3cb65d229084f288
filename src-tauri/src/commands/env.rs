//! Environment profiles and the doctor: each command calls one core function in `headroom_core::env`.

use headroom_core::env::catalog::{self, VariableInfo};
use headroom_core::env::check::{self, DoctorResult, DoctorSource};
use headroom_core::env::doctor::Fix;
use headroom_core::env::profile::{self, Profile, ProfileList, ProfileView};
use headroom_core::env::{export, EnvMap};
use headroom_core::store::Revision;
use serde::{Deserialize, Serialize};
use tauri::State;

use crate::error::IpcResult;
use crate::picker::{PickRequest, Picker};
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

/// Apply a doctor's fix to the `.env` file it checked (the `file` source): the old lines become comments, the
/// file keeps its permissions (headroom_core::env::fix_file).
#[tauri::command]
pub fn env_fix_file(path: String, fix: Fix) -> IpcResult<()> {
    Ok(headroom_core::env::fix_file::apply_to_file(&path, &fix)?)
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

/// Write the export of `name` (atomically) where the user chooses in the save dialog; returns the path
/// written, `null` when they cancel. The profile is read first: one that cannot be exported is not worth a
/// dialog.
#[tauri::command]
pub async fn env_export_dialog(
    state: State<'_, AppState>,
    picker: State<'_, Picker>,
    name: String,
    format: ProfileFormat,
) -> IpcResult<Option<String>> {
    let text = export_text(&profile::load_profile(&state.paths, &name)?, format);
    let (filter, ext): (_, &'static [&'static str]) = match format {
        ProfileFormat::Dotenv => (".env file", &["env"]),
        ProfileFormat::Shell => ("Shell script", &["sh"]),
    };
    let request = PickRequest::save_file(format!("{name}.{}", ext[0])).filter(filter, ext);
    let Some(path) = picker.pick(&request)? else {
        return Ok(None);
    };
    headroom_core::store::write_atomic(&path, text.as_bytes())?;
    Ok(Some(path.display().to_string()))
}

#[tauri::command]
pub fn env_doctor(
    state: State<'_, AppState>,
    source: DoctorSource,
    profile: Option<String>,
) -> IpcResult<DoctorResult> {
    Ok(check::check(
        &state.paths,
        source,
        profile.as_deref(),
        app_env(),
    )?)
}
