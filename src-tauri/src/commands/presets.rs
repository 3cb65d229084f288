//! Presets and per-model configs: list, check, save (with the store's revision), duplicate, rename, delete,
//! export and import. Each command takes the presets lock, calls the core, and maps the error.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::MutexGuard;

use headroom_core::presets::bundle::{self, BundleExport, ImportReport, OnConflict};
use headroom_core::presets::config_store::{
    self, preset_lookup, ConfigLibrary, ConfigList, ModelConfigEntry,
};
use headroom_core::presets::field::{self, FieldError};
use headroom_core::presets::import::{self, ImportSource};
use headroom_core::presets::library::{PresetLibrary, PresetList};
use headroom_core::presets::model_config::{self, ModelConfig};
use headroom_core::presets::{export, Preset, PresetBody};
use headroom_core::store::{self, Quarantine, Revision};
use headroom_core::Error;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tauri::State;

use crate::error::{IpcError, IpcResult};
use crate::AppState;

/// The presets lock: one writer at a time within this process (other processes are caught by the revision).
fn lock(state: &AppState) -> IpcResult<MutexGuard<'_, ()>> {
    state
        .presets
        .lock()
        .map_err(|_| IpcError::internal("presets lock poisoned"))
}

fn libraries(state: &AppState) -> (PresetLibrary, ConfigLibrary) {
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

fn parse_body(body: Value) -> IpcResult<PresetBody> {
    PresetBody::from_json(body).map_err(|e| Error::from(e).into())
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
pub fn check_preset(body: Value) -> IpcResult<PresetCheck> {
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
pub fn create_preset(state: State<'_, AppState>, name: String, body: Value) -> IpcResult<Preset> {
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
    body: Value,
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
    presets.rename(&from, &to, revision)?;
    let configs_changed = configs.rename_preset(&from, &to, &presets)?;
    Ok(Renamed {
        preset: presets.get(&to)?,
        configs_changed,
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
}

fn exports_dir(state: &AppState) -> PathBuf {
    state.paths.data_dir.join("exports")
}

fn write_export(state: &AppState, file: &str, text: String) -> IpcResult<PresetExport> {
    let path = exports_dir(state).join(file);
    store::write_atomic(&path, text.as_bytes())?;
    Ok(PresetExport {
        path,
        text,
        quarantined: Vec::new(),
    })
}

/// Export one preset into the exports folder (`<data dir>/exports/`). The Python snippet loads `model_id`.
#[tauri::command]
pub fn export_preset(
    state: State<'_, AppState>,
    name: String,
    format: ExportFormat,
    model_id: Option<String>,
) -> IpcResult<PresetExport> {
    let _guard = lock(&state)?;
    let preset = libraries(&state).0.get(&name)?;
    match format {
        ExportFormat::BnbJson => {
            let text = export::bnb_json(&preset.name, &preset.body)?;
            write_export(&state, &format!("{name}.bnb.json"), text + "\n")
        }
        ExportFormat::Python => {
            let model = model_id.unwrap_or_default();
            if model.trim().is_empty() {
                return Err(Error::invalid(
                    "model_id",
                    "name the model the snippet loads, such as meta-llama/Llama-3.1-8B",
                )
                .into());
            }
            config_store::file_stem(&model)?;
            let text = export::python_snippet(&model, &preset.body);
            write_export(&state, &format!("{name}.py"), text)
        }
    }
}

/// Export every user preset and per-model config as one bundle file.
#[tauri::command]
pub fn export_bundle(state: State<'_, AppState>) -> IpcResult<PresetExport> {
    let _guard = lock(&state)?;
    let (presets, configs) = libraries(&state);
    let BundleExport {
        bundle,
        quarantined,
    } = bundle::export(&presets, &configs)?;
    let text =
        serde_json::to_string_pretty(&bundle).map_err(|e| IpcError::internal(e.to_string()))?;
    let mut out = write_export(&state, "headroom-bundle.json", text + "\n")?;
    out.quarantined = quarantined;
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct ImportedAs {
    pub source: ImportSource,
    pub preset: Preset,
}

/// Import a file's text as a new preset `name`: a Headroom preset, a `BitsAndBytesConfig.to_dict()` dump, or
/// a model's config.json with a `quantization_config`.
#[tauri::command]
pub fn import_preset(
    state: State<'_, AppState>,
    name: String,
    text: String,
) -> IpcResult<ImportedAs> {
    let imported = import::parse_preset(text.as_bytes()).map_err(Error::from)?;
    let _guard = lock(&state)?;
    let presets = libraries(&state).0;
    presets.create(&name, &imported.body)?;
    Ok(ImportedAs {
        source: imported.source,
        preset: presets.get(&name)?,
    })
}

/// Import a bundle's presets and configs.
#[tauri::command]
pub fn import_bundle(
    state: State<'_, AppState>,
    text: String,
    on_conflict: OnConflict,
) -> IpcResult<ImportReport> {
    let _guard = lock(&state)?;
    let (presets, configs) = libraries(&state);
    let parsed = bundle::parse(text.as_bytes(), &preset_lookup(&presets)).map_err(Error::from)?;
    Ok(bundle::import(&parsed, &presets, &configs, on_conflict)?)
}

#[tauri::command]
pub fn list_configs(state: State<'_, AppState>) -> IpcResult<ConfigList> {
    let _guard = lock(&state)?;
    Ok(libraries(&state).1.list()?)
}

fn parse_config(config: Value) -> Result<ModelConfig, Vec<FieldError>> {
    let config: ModelConfig = field::from_value(config, "").map_err(|e| e.0)?;
    Ok(config)
}

/// A config draft's problems, field by field (empty when it can be saved), checked against the presets.
#[tauri::command]
pub fn check_config(
    state: State<'_, AppState>,
    model_id: String,
    config: Value,
) -> IpcResult<Vec<FieldError>> {
    let mut errors = Vec::new();
    if let Err(e) = config_store::file_stem(&model_id) {
        errors.push(match e {
            Error::Invalid { field, message } => FieldError::new(field, message),
            other => FieldError::new("model_id", other.to_string()),
        });
    }
    let config = match parse_config(config) {
        Ok(c) => c,
        Err(mut e) => {
            errors.append(&mut e);
            return Ok(errors);
        }
    };
    let _guard = lock(&state)?;
    let presets = libraries(&state).0;
    if let Err(e) = model_config::validate_with(&config, &preset_lookup(&presets))? {
        errors.extend(e.0);
    }
    Ok(errors)
}

/// Save a model's config, if nobody saved it since `revision` was read (`null` for a new one).
#[tauri::command]
pub fn save_config(
    state: State<'_, AppState>,
    model_id: String,
    config: Value,
    revision: Revision,
) -> IpcResult<ModelConfigEntry> {
    let config = parse_config(config).map_err(|e| Error::from(field::FieldErrors(e)))?;
    let _guard = lock(&state)?;
    let (presets, configs) = libraries(&state);
    configs.set(&model_id, &config, revision, &presets)?;
    configs.get(&model_id)?.ok_or_else(|| {
        IpcError::internal(format!("{model_id}: saved, but not found on reading back"))
    })
}

/// Delete a model's config; returns what was deleted, so the UI can offer Undo.
#[tauri::command]
pub fn delete_config(
    state: State<'_, AppState>,
    model_id: String,
    revision: Revision,
) -> IpcResult<ModelConfigEntry> {
    let _guard = lock(&state)?;
    let configs = libraries(&state).1;
    let deleted = configs
        .get(&model_id)?
        .ok_or_else(|| Error::invalid("model_id", format!("no config saved for {model_id:?}")))?;
    configs.delete(&model_id, revision)?;
    Ok(deleted)
}

/// Models in the built-in catalog whose id contains `query`, for the wizard's first step.
#[tauri::command]
pub fn wizard_models(query: String) -> IpcResult<Vec<String>> {
    Ok(headroom_core::model::catalog::search(&query)?
        .into_iter()
        .map(|e| e.id.clone())
        .collect())
}

/// A GPU the wizard can plan for: from the estimator's GPU catalog, with its total memory.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct WizardGpu {
    pub name: String,
    pub memory_bytes: u64,
}

#[tauri::command]
pub fn wizard_gpus() -> Vec<WizardGpu> {
    headroom_core::estimate::gpus::catalog()
        .iter()
        .map(|g| WizardGpu {
            name: g.name.to_string(),
            memory_bytes: g.memory_bytes,
        })
        .collect()
}

/// The wizard's answers so far.
#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct WizardAsk {
    pub model_id: String,
    pub task: model_config::Task,
    /// Train only.
    pub method: Option<model_config::Method>,
    /// A catalog GPU name (see [`wizard_gpus`]).
    pub gpu: String,
    pub gpu_count: u64,
}

/// One preset as the wizard shows it: the estimator's verdict for the plan.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct WizardRow {
    pub preset: String,
    pub builtin: bool,
    pub fits: bool,
    /// Estimated peak per GPU (device memory, CUDA context included).
    pub device_peak_bytes: u64,
    /// Usable memory left (negative: how much is missing).
    pub headroom_bytes: i64,
    /// What the preset costs in quality or speed, in words.
    pub caveat: Option<String>,
    /// Why the preset cannot run this plan at all.
    pub unavailable: Option<String>,
}

/// Every preset, built-in and user, ranked by the estimator for the model, task and GPUs (best first).
#[tauri::command]
pub fn wizard_rank(state: State<'_, AppState>, ask: WizardAsk) -> IpcResult<Vec<WizardRow>> {
    let spec = headroom_core::model::from_catalog(&ask.model_id)?.ok_or_else(|| {
        Error::invalid(
            "model_id",
            format!(
                "{:?} is not in the model catalog: pick one from the list",
                ask.model_id
            ),
        )
    })?;
    let list = {
        let _guard = lock(&state)?;
        libraries(&state).0.list()?
    };
    let infos: Vec<_> = list
        .presets
        .iter()
        .map(|p| headroom_core::estimate::PresetInfo::from_body(&p.name, &p.body))
        .collect();
    let mut plan = serde_json::json!({
        "model": {"id": ask.model_id},
        "task": ask.task,
        "gpus": {"count": ask.gpu_count, "model": ask.gpu},
    });
    if let (model_config::Task::Train, Some(m)) = (ask.task, ask.method) {
        plan["method"] = serde_json::to_value(m).map_err(|e| IpcError::internal(e.to_string()))?;
    }
    let plan = headroom_core::estimate::plan_from_value(&plan, &infos)?;
    let ranked = headroom_core::estimate::recommend::rank_presets(&spec, &plan, &infos)?;
    let qlora =
        ask.task == model_config::Task::Train && ask.method == Some(model_config::Method::Qlora);
    let mut rows: Vec<WizardRow> = ranked
        .into_iter()
        .map(|r| {
            // The per-model config refuses QLoRA on a preset that is not 4-bit (model_config::validate_with), so
            // the wizard must not offer one as the answer.
            let unavailable = r.unavailable.or_else(|| {
                (qlora && !matches!(r.format, headroom_core::estimate::WeightFormat::Int4 { .. }))
                    .then(|| "QLoRA trains on 4-bit weights: this preset is not 4-bit (choose method LoRA to use it)".to_string())
            });
            WizardRow {
                builtin: list.presets.iter().any(|p| p.name == r.preset && p.builtin),
                preset: r.preset,
                fits: r.fits,
                device_peak_bytes: r.device_peak_bytes,
                headroom_bytes: r.headroom_bytes,
                caveat: r.caveat,
                unavailable,
            }
        })
        .collect();
    // Stable: the estimator's order among those that can run, the others after.
    rows.sort_by_key(|r| r.unavailable.is_some());
    Ok(rows)
}
