//! Per-model configs and the preset wizard: each command takes state, calls one core function and maps the
//! error. The presets themselves, their import and export live in [`super::presets`].

use std::collections::BTreeMap;

use headroom_core::presets::config_store::{self, preset_lookup, ConfigList, ModelConfigEntry};
use headroom_core::presets::field::{self, FieldError};
use headroom_core::presets::model_config::{self, ModelConfig};
use headroom_core::presets::switch::{self, PresetSwitch};
use headroom_core::presets::wizard::{self, WizardAsk, WizardRanking};
use headroom_core::store::Revision;
use headroom_core::Error;
use serde::Serialize;
use tauri::State;

use super::presets::{check_body, libraries, lock, PresetCheck};
use crate::draft::Draft;
use crate::error::{IpcError, IpcResult};
use crate::AppState;
use headroom_core::message::{Key, Message};

/// Every saved config, each flagged with the presets it names that cannot be loaded (`run` refuses those).
#[tauri::command]
pub fn list_configs(state: State<'_, AppState>) -> IpcResult<ConfigList> {
    let _guard = lock(&state)?;
    let (presets, configs) = libraries(&state);
    let mut list = configs.list()?;
    list.flag_missing_presets(&presets);
    Ok(list)
}

fn parse_config(config: Draft<ModelConfig>) -> Result<ModelConfig, Vec<FieldError>> {
    let config: ModelConfig = field::from_value(config.into_raw(), "").map_err(|e| e.0)?;
    Ok(config)
}

/// A config draft's problems, field by field (empty when it can be saved), checked against the presets.
#[tauri::command]
pub fn check_config(
    state: State<'_, AppState>,
    model_id: String,
    config: Draft<ModelConfig>,
) -> IpcResult<Vec<FieldError>> {
    let mut errors = Vec::new();
    if let Err(e) = config_store::file_stem(&model_id) {
        errors.push(match e {
            Error::Invalid {
                field,
                message,
                message_key,
            } => FieldError {
                field,
                message,
                message_key,
            },
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

/// What a config draft loads the model with: its chosen preset with the overrides applied, checked and
/// rendered as `check_preset` renders a preset, so the per-model form shows the same preview as the preset
/// form. The draft's own field errors come from `check_config`; `errors` here only says why there is no
/// preview (paths as `check_config` writes them).
#[tauri::command]
pub fn preview_config(
    state: State<'_, AppState>,
    config: Draft<ModelConfig>,
) -> IpcResult<PresetCheck> {
    let no_preview = |errors: Vec<FieldError>| PresetCheck {
        errors,
        bnb_json: None,
        kwargs_json: None,
        max_memory_bytes: BTreeMap::new(),
    };
    let config = match parse_config(config) {
        Ok(c) => c,
        Err(errors) => return Ok(no_preview(errors)),
    };
    let base = {
        let _guard = lock(&state)?;
        let presets = libraries(&state).0;
        let lookup = preset_lookup(&presets);
        lookup(&config.preset)?
    };
    let Some(base) = base else {
        return Ok(no_preview(vec![FieldError::keyed(
            "preset",
            Message::new(Key::InvalidConfigNoPresetNamed)
                .text("preset", format!("{:?}", config.preset)),
        )]));
    };
    let effective = config.overrides.apply(&base);
    let value = serde_json::to_value(&effective).map_err(|e| IpcError::internal(e.to_string()))?;
    let mut check = check_body(value)?;
    // The same nesting model_config::validate_with gives these errors.
    check.errors = field::FieldErrors(check.errors).nested("overrides").0;
    Ok(check)
}

/// Save a model's config, if nobody saved it since `revision` was read (`null` for a new one).
#[tauri::command]
pub fn save_config(
    state: State<'_, AppState>,
    model_id: String,
    config: Draft<ModelConfig>,
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
    let deleted = configs.get(&model_id)?.ok_or_else(|| {
        Error::invalid_msg(
            "model_id",
            Message::new(Key::InvalidConfigNoConfigSaved).text("model_id", format!("{model_id:?}")),
        )
    })?;
    configs.delete(&model_id, revision)?;
    Ok(deleted)
}

/// Switch a model's config to `preset` in one step (the Monitor's "switch this model's config to int4_double"),
/// creating the config when there is none; returns the config before, so the UI can offer Undo.
#[tauri::command]
pub fn switch_config_preset(
    state: State<'_, AppState>,
    model_id: String,
    preset: String,
) -> IpcResult<PresetSwitch> {
    let _guard = lock(&state)?;
    let (presets, configs) = libraries(&state);
    Ok(switch::switch_preset(
        &configs, &presets, &model_id, &preset,
    )?)
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

/// The GPUs the wizard's hardware step offers: the catalog, and this machine's GPUs with the memory free at the
/// moment the step asked (read afresh each call, not cached like the Plan's totals).
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct WizardGpus {
    pub catalog: Vec<WizardGpu>,
    pub machine: Vec<headroom_core::estimate::gpus::MachineGpu>,
    /// Why this machine's GPUs are not listed (no driver, …); `null` when they were read.
    pub machine_unavailable: Option<String>,
}

#[tauri::command]
pub fn wizard_gpus(state: State<'_, AppState>) -> WizardGpus {
    // Read afresh, not from the Plan view's once-per-run cache: the wizard shows the memory free right now.
    let (machine, machine_unavailable) = crate::commands::plan::read_machine(&state.nvml);
    WizardGpus {
        catalog: headroom_core::estimate::gpus::catalog()
            .iter()
            .map(|g| WizardGpu {
                name: g.name.to_string(),
                memory_bytes: g.memory_bytes,
            })
            .collect(),
        machine,
        machine_unavailable,
    }
}

/// Every preset, built-in and user, ranked by the estimator for the model, task, workload and GPUs (best first).
#[tauri::command]
pub fn wizard_rank(state: State<'_, AppState>, ask: Draft<WizardAsk>) -> IpcResult<WizardRanking> {
    // Parsed here, not by Tauri, so a wrong type (a fractional or negative batch size) comes back naming its
    // field instead of as "invalid args `ask`".
    let mut ask: WizardAsk = field::from_value(ask.into_raw(), "").map_err(Error::from)?;
    if ask.fit_on.is_none() {
        ask.fit_on = Some(super::settings::lock_settings(&state)?.fit_on);
    }
    let list = {
        let _guard = lock(&state)?;
        libraries(&state).0.list()?
    };
    let machine = state.calibration.load(&state.paths)?;
    Ok(wizard::rank(&list, &ask, &machine)?)
}
