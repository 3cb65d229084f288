//! Presets and per-model configs: list, check, save (with the store's revision), duplicate, rename, delete,
//! export and import (to and from a file the picker answers with, never a path from the window). Each command
//! takes the presets lock, calls the core, and maps the error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::MutexGuard;

use headroom_core::presets::bundle::{self, BundleExport, ImportReport, OnConflict};
use headroom_core::presets::config_store::{self, preset_lookup, ConfigLibrary};
use headroom_core::presets::field::FieldError;
use headroom_core::presets::import::{self, ImportSource};
use headroom_core::presets::library::{PresetLibrary, PresetList, SkippedFile};
use headroom_core::presets::rename;
use headroom_core::presets::{export, Preset, PresetBody};
use headroom_core::store::{self, Quarantine, Revision};
use headroom_core::Error;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tauri::State;

use crate::draft::Draft;
use crate::error::{IpcError, IpcResult};
use crate::picker::{PickRequest, Picker};
use crate::AppState;
use headroom_core::message::{Key, Message};

/// The presets lock: one command at a time within this process. Other processes (the CLI) are kept apart by the
/// store's directory locks, which the core takes across every revision check and rename.
pub(super) fn lock(state: &AppState) -> IpcResult<MutexGuard<'_, ()>> {
    state
        .presets
        .lock()
        .map_err(|_| IpcError::internal("presets lock poisoned"))
}

pub(super) fn libraries(state: &AppState) -> (PresetLibrary, ConfigLibrary) {
    (
        PresetLibrary::new(&state.paths),
        ConfigLibrary::new(&state.paths),
    )
}

/// A draft's problems, field by field, and what transformers would read when there are none.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct PresetCheck {
    /// Empty when the draft can be saved.
    pub errors: Vec<FieldError>,
    /// `BitsAndBytesConfig(...).to_dict()` as JSON; `null` for a preset that does not quantize (or an invalid
    /// draft).
    pub bnb_json: Option<String>,
    /// The `from_pretrained` keyword arguments as JSON (what the launcher passes); `null` for an invalid draft.
    pub kwargs_json: Option<String>,
    /// Each `max_memory` limit in bytes, as accelerate reads it (empty for an invalid draft).
    pub max_memory_bytes: BTreeMap<String, u64>,
}

fn parse_body(body: Draft<PresetBody>) -> IpcResult<PresetBody> {
    PresetBody::from_json(body.into_raw()).map_err(|e| Error::from(e).into())
}

fn pretty(value: &Value) -> IpcResult<String> {
    serde_json::to_string_pretty(value).map_err(|e| IpcError::internal(e.to_string()))
}

#[tauri::command]
pub fn list_presets(state: State<'_, AppState>) -> IpcResult<PresetList> {
    let _guard = lock(&state)?;
    Ok(libraries(&state).0.list()?)
}

/// Validate a draft and render its preview, without saving anything.
#[tauri::command]
pub fn check_preset(body: Draft<PresetBody>) -> IpcResult<PresetCheck> {
    check_body(body.into_raw())
}

pub(super) fn check_body(body: Value) -> IpcResult<PresetCheck> {
    match PresetBody::from_json(body) {
        Err(errors) => Ok(PresetCheck {
            errors: errors.0,
            bnb_json: None,
            kwargs_json: None,
            max_memory_bytes: BTreeMap::new(),
        }),
        Ok(body) => Ok(PresetCheck {
            errors: Vec::new(),
            bnb_json: body.quantization.as_ref().map(|q| q.to_dict_json()),
            kwargs_json: Some(pretty(&export::load_kwargs(&body))?),
            max_memory_bytes: body
                .load
                .max_memory
                .iter()
                .map(|(device, limit)| (device.clone(), limit.bytes()))
                .collect(),
        }),
    }
}

/// Save a new user preset (also how Undo brings a deleted one back).
#[tauri::command]
pub fn create_preset(
    state: State<'_, AppState>,
    name: String,
    body: Draft<PresetBody>,
) -> IpcResult<Preset> {
    let body = parse_body(body)?;
    let _guard = lock(&state)?;
    let presets = libraries(&state).0;
    presets.create(&name, &body)?;
    Ok(presets.get(&name)?)
}

/// Replace a user preset, if nobody saved it since `revision` was read; otherwise a `conflict` error.
#[tauri::command]
pub fn save_preset(
    state: State<'_, AppState>,
    name: String,
    body: Draft<PresetBody>,
    revision: Revision,
) -> IpcResult<Preset> {
    let body = parse_body(body)?;
    let _guard = lock(&state)?;
    let presets = libraries(&state).0;
    presets.save(&name, &body, revision)?;
    Ok(presets.get(&name)?)
}

#[tauri::command]
pub fn duplicate_preset(state: State<'_, AppState>, from: String, to: String) -> IpcResult<Preset> {
    let _guard = lock(&state)?;
    let presets = libraries(&state).0;
    presets.duplicate(&from, &to)?;
    Ok(presets.get(&to)?)
}

#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct Renamed {
    pub preset: Preset,
    /// Model ids whose config named the old name and now name the new one.
    pub configs_changed: Vec<String>,
}

/// Rename a user preset and point every per-model config that named it at the new name.
#[tauri::command]
pub fn rename_preset(
    state: State<'_, AppState>,
    from: String,
    to: String,
    revision: Revision,
) -> IpcResult<Renamed> {
    let _guard = lock(&state)?;
    let (presets, configs) = libraries(&state);
    let done = rename::rename_preset(&presets, &configs, &from, &to, revision)?;
    Ok(Renamed {
        preset: presets.get(&to)?,
        configs_changed: done.configs_changed,
    })
}

/// Delete a user preset; returns what was deleted, so the UI can offer Undo (a `create_preset` with it).
#[tauri::command]
pub fn delete_preset(
    state: State<'_, AppState>,
    name: String,
    revision: Revision,
) -> IpcResult<Preset> {
    let _guard = lock(&state)?;
    let presets = libraries(&state).0;
    let deleted = presets.get(&name)?;
    presets.delete(&name, revision)?;
    Ok(deleted)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    /// `BitsAndBytesConfig(...).to_dict()`, as transformers prints it.
    BnbJson,
    /// A short Python snippet that loads the model with the preset.
    Python,
}

/// What an export wrote, and the text itself (for Copy).
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct PresetExport {
    #[ts(type = "string")]
    pub path: PathBuf,
    pub text: String,
    /// Files that could not be read and so are not in a bundle.
    pub quarantined: Vec<Quarantine>,
    /// Entries that could not be read at all (left where they are), so not in a bundle; absent when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[ts(optional, as = "Option<Vec<SkippedFile>>")]
    pub unreadable: Vec<SkippedFile>,
}

fn write_export(path: PathBuf, text: String) -> IpcResult<PresetExport> {
    store::write_atomic(&path, text.as_bytes())?;
    Ok(PresetExport {
        path,
        text,
        quarantined: Vec::new(),
        unreadable: Vec::new(),
    })
}

/// A preset's export text, checked before any dialog opens (a preset that cannot export is not worth one).
fn preset_export_text(
    state: &AppState,
    name: &str,
    format: ExportFormat,
    model_id: Option<String>,
) -> IpcResult<String> {
    let _guard = lock(state)?;
    let preset = libraries(state).0.get(name)?;
    match format {
        ExportFormat::BnbJson => Ok(export::bnb_json(&preset.name, &preset.body)? + "\n"),
        ExportFormat::Python => {
            let model = model_id.unwrap_or_default();
            if model.trim().is_empty() {
                return Err(Error::invalid_msg(
                    "model_id",
                    Message::new(Key::InvalidPresetNameModelSnippetLoads),
                )
                .into());
            }
            config_store::file_stem(&model)?;
            Ok(export::python_snippet(&model, &preset.body))
        }
    }
}

/// The bundle's text, and what could not be put in it.
struct BundleText {
    text: String,
    quarantined: Vec<Quarantine>,
    unreadable: Vec<SkippedFile>,
}

impl BundleText {
    fn write(self, path: PathBuf) -> IpcResult<PresetExport> {
        let mut out = write_export(path, self.text)?;
        out.quarantined = self.quarantined;
        out.unreadable = self.unreadable;
        Ok(out)
    }
}

fn bundle_export_text(state: &AppState) -> IpcResult<BundleText> {
    let _guard = lock(state)?;
    let (presets, configs) = libraries(state);
    let BundleExport {
        bundle,
        quarantined,
        unreadable,
    } = bundle::export(&presets, &configs)?;
    let text =
        serde_json::to_string_pretty(&bundle).map_err(|e| IpcError::internal(e.to_string()))?;
    Ok(BundleText {
        text: text + "\n",
        quarantined,
        unreadable,
    })
}

fn suggested_file(name: &str, format: ExportFormat) -> String {
    match format {
        ExportFormat::BnbJson => format!("{name}.bnb.json"),
        ExportFormat::Python => format!("{name}.py"),
    }
}

/// Export one preset where the user chooses in the save dialog; `null` when cancelled. The Python snippet
/// loads `model_id`.
#[tauri::command]
pub async fn export_preset_dialog(
    state: State<'_, AppState>,
    picker: State<'_, Picker>,
    name: String,
    format: ExportFormat,
    model_id: Option<String>,
) -> IpcResult<Option<PresetExport>> {
    let text = preset_export_text(&state, &name, format, model_id)?;
    let (filter, ext): (_, &'static [&'static str]) = match format {
        ExportFormat::BnbJson => ("BitsAndBytesConfig JSON", &["json"]),
        ExportFormat::Python => ("Python", &["py"]),
    };
    let path =
        picker.pick(&PickRequest::save_file(suggested_file(&name, format)).filter(filter, ext))?;
    path.map(|p| write_export(p, text)).transpose()
}

/// Export every user preset and per-model config as one bundle file where the user chooses in the save
/// dialog; `null` when cancelled.
#[tauri::command]
pub async fn export_bundle_dialog(
    state: State<'_, AppState>,
    picker: State<'_, Picker>,
) -> IpcResult<Option<PresetExport>> {
    let bundle = bundle_export_text(&state)?;
    let request =
        PickRequest::save_file("headroom-bundle.json").filter("Headroom bundle", &["json"]);
    let Some(path) = picker.pick(&request)? else {
        return Ok(None);
    };
    bundle.write(path).map(Some)
}

#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct ImportedAs {
    pub source: ImportSource,
    pub preset: Preset,
}

fn read_file(path: &Path) -> IpcResult<Vec<u8>> {
    Ok(headroom_core::fsio::read(
        path,
        headroom_core::fsio::IMPORT,
    )?)
}

/// The preset name for an import: the one typed, or else the file's name made safe (`int4.bnb.json` → `int4`).
fn import_name(name: Option<String>, path: &Path) -> String {
    match name.map(|n| n.trim().to_string()) {
        Some(n) if !n.is_empty() => n,
        _ => {
            let file = path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let stem = file
                .strip_suffix(".json")
                .unwrap_or(&file)
                .trim_end_matches(".bnb");
            stem.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        }
    }
}

fn import_preset_from(
    state: &AppState,
    name: Option<String>,
    path: &Path,
) -> IpcResult<ImportedAs> {
    let imported = import::parse_preset(&read_file(path)?).map_err(Error::from)?;
    let name = import_name(name, path);
    let _guard = lock(state)?;
    let presets = libraries(state).0;
    presets.create(&name, &imported.body)?;
    Ok(ImportedAs {
        source: imported.source,
        preset: presets.get(&name)?,
    })
}

/// Import a file the user picks in the open dialog as a new preset `name` (the file's name when empty): a
/// Headroom preset, a `BitsAndBytesConfig.to_dict()` dump, or a model's config.json with a
/// `quantization_config`; `null` when cancelled.
#[tauri::command]
pub async fn import_preset_dialog(
    state: State<'_, AppState>,
    picker: State<'_, Picker>,
    name: Option<String>,
) -> IpcResult<Option<ImportedAs>> {
    let path = picker.pick(&PickRequest::open_file().filter("JSON", &["json"]))?;
    path.map(|p| import_preset_from(&state, name, &p))
        .transpose()
}

fn import_bundle_from(
    state: &AppState,
    path: &Path,
    on_conflict: OnConflict,
) -> IpcResult<ImportReport> {
    let text = read_file(path)?;
    let _guard = lock(state)?;
    let (presets, configs) = libraries(state);
    let parsed = bundle::parse(&text, &preset_lookup(&presets)).map_err(Error::from)?;
    Ok(bundle::import(&parsed, &presets, &configs, on_conflict)?)
}

/// Import the presets and configs of a bundle the user picks in the open dialog; `null` when cancelled.
#[tauri::command]
pub async fn import_bundle_dialog(
    state: State<'_, AppState>,
    picker: State<'_, Picker>,
    on_conflict: OnConflict,
) -> IpcResult<Option<ImportReport>> {
    let path = picker.pick(&PickRequest::open_file().filter("Headroom bundle", &["json"]))?;
    path.map(|p| import_bundle_from(&state, &p, on_conflict))
        .transpose()
}
