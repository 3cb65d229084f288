//! The Plan view: answer a plan, find models (catalog, Hugging Face cache), list GPUs (catalog and this machine).

use headroom_core::estimate::gpus::{self, GpuModel, MachineGpu};
use headroom_core::estimate::plan::file::PlanFile;
use headroom_core::estimate::{self, answer, available_presets, chart, PlanAnswer};

use headroom_core::chart::{ChartFormat, ChartLanguage, SavedChart};
use headroom_core::i18n::Lang;
use headroom_core::model::{self, catalog, hf_cache, Resolver};
use headroom_core::monitor::nvml::SharedNvml;
use headroom_core::monitor::procs::ProcFs;
use headroom_core::monitor::{fake::FakeConfig, open_source_shared, SourceSpec};
use headroom_core::presets::library::PresetLibrary;
use serde::Serialize;
use tauri::State;

use crate::draft::Draft;
use crate::error::{IpcError, IpcResult};
use crate::picker::{PickRequest, Picker};
use crate::AppState;
use headroom_core::message::{Key, Message};

pub(crate) fn resolver() -> Resolver {
    Resolver {
        hub_cache: hf_cache::hub_cache_dir(|var| std::env::var(var).ok()),
    }
}

/// Everything the Plan view shows for a plan (docs/contract.md §1 JSON): estimate, verdict, limits, ranking and
/// suggestions. Presets are re-read each time so a preset saved in the Presets view counts at once.
#[tauri::command]
pub fn plan_answer(state: State<'_, AppState>, plan: Draft<PlanFile>) -> IpcResult<PlanAnswer> {
    let presets = available_presets(&PresetLibrary::new(&state.paths))?;
    let resolver = resolver();
    let mut plan = plan.into_raw();
    super::settings::lock_settings(&state)?.apply_fit_on(&mut plan);
    let machine = state.calibration.load(&state.paths)?;
    Ok(estimate::answer(&plan, &presets, &machine, |m| {
        model::resolve(m, &resolver)
    })?)
}

/// A catalog model as the search list shows it.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct CatalogModel {
    pub id: String,
    pub model_type: Option<String>,
}

/// Catalog models whose id contains `query` (case-insensitive); all of them for an empty query.
#[tauri::command]
pub fn plan_catalog(query: String) -> IpcResult<Vec<CatalogModel>> {
    Ok(catalog::search(&query)?
        .into_iter()
        .map(|e| CatalogModel {
            id: e.id.clone(),
            model_type: e
                .config
                .get("model_type")
                .and_then(|v| v.as_str())
                .map(str::to_string),
        })
        .collect())
}

/// The local Hugging Face cache: where it is and what it holds, with sizes on disk.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct HfCacheList {
    /// `null` when no cache folder could be determined (no HF_HUB_CACHE, HF_HOME nor home directory).
    pub cache_dir: Option<String>,
    pub models: Vec<hf_cache::CachedModel>,
}

#[tauri::command]
pub fn plan_hf_cache() -> IpcResult<HfCacheList> {
    let cache = resolver().hub_cache;
    let models = match &cache {
        Some(dir) if dir.is_dir() => hf_cache::scan(dir)?,
        _ => Vec::new(),
    };
    Ok(HfCacheList {
        cache_dir: cache.map(|p| p.display().to_string()),
        models,
    })
}

/// The GPUs a plan can target: the catalog, and the GPUs of this machine when a driver is present.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct GpuChoices {
    pub catalog: Vec<GpuModel>,
    pub machine: Vec<MachineGpu>,
    /// Why this machine's GPUs are not listed (no driver, …); `null` when they were read.
    pub machine_unavailable: Option<String>,
}

/// Read this machine's GPUs once per app run: their names and totals do not change while it runs. The source
/// is NVML, or what `HEADROOM_GPU_SOURCE` names (`fake:SCENARIO` for demos and tests).
pub(crate) fn read_machine(nvml: &SharedNvml) -> (Vec<MachineGpu>, Option<String>) {
    let text = std::env::var("HEADROOM_GPU_SOURCE").unwrap_or_else(|_| "nvml".into());
    let read = SourceSpec::parse(&text, FakeConfig::default())
        .and_then(|spec| open_source_shared(&spec, ProcFs::default(), nvml))
        .and_then(|mut source| gpus::machine_gpus(source.as_mut()));
    match read {
        Ok(list) => (list, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    }
}

#[tauri::command]
pub fn plan_gpus(state: State<'_, AppState>) -> IpcResult<GpuChoices> {
    let (machine, unavailable) = state
        .plan_machine_gpus
        .get_or_init(|| read_machine(&state.nvml))
        .clone();
    Ok(GpuChoices {
        catalog: gpus::catalog().to_vec(),
        machine,
        machine_unavailable: unavailable,
    })
}

fn presets_of(state: &AppState) -> IpcResult<Vec<headroom_core::estimate::PresetInfo>> {
    Ok(available_presets(&PresetLibrary::new(&state.paths))?)
}

/// Pick a model folder with the system dialog; `null` when cancelled.
#[tauri::command]
pub async fn plan_pick_folder(picker: State<'_, Picker>) -> IpcResult<Option<String>> {
    let folder = picker.pick(&PickRequest::folder())?;
    Ok(folder.map(|p| p.display().to_string()))
}

/// A config.json the person pointed to, for a model that is neither in the catalog nor in the local Hugging
/// Face cache: the plan then carries it as `{"config": {...}}` (docs/contract.md §1).
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct PickedConfig {
    pub path: String,
    #[ts(type = "Record<string, unknown>")]
    pub config: serde_json::Map<String, serde_json::Value>,
}

/// Pick a model's config.json with the system dialog and read it (bounded like every model config); `null`
/// when cancelled. A file that is not a JSON object is refused, naming `model.config`.
#[tauri::command]
pub async fn plan_pick_config(picker: State<'_, Picker>) -> IpcResult<Option<PickedConfig>> {
    let request = PickRequest::open_file().filter("Model config", &["json"]);
    let Some(path) = picker.pick(&request)? else {
        return Ok(None);
    };
    let bytes = headroom_core::fsio::read(&path, headroom_core::fsio::MODEL_CONFIG)?;
    let config = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(map)) => map,
        Ok(_) => {
            return Err(headroom_core::Error::invalid_msg(
                "model.config",
                Message::new(Key::InvalidPlanNotJsonObject)
                    .text("path", path.display().to_string()),
            )
            .into())
        }
        Err(e) => {
            return Err(headroom_core::Error::invalid_msg(
                "model.config",
                Message::new(Key::InvalidPlanNotValidJson2)
                    .text("path", path.display().to_string())
                    .text("e", e.to_string()),
            )
            .into())
        }
    };
    Ok(Some(PickedConfig {
        path: path.display().to_string(),
        config,
    }))
}

/// Save the plan (validated, docs/contract.md §1) where the user chooses; the path, or `null` when cancelled.
#[tauri::command]
pub async fn plan_save(
    state: State<'_, AppState>,
    picker: State<'_, Picker>,
    plan: Draft<PlanFile>,
) -> IpcResult<Option<String>> {
    let presets = presets_of(&state)?;
    // Validate before asking where: a plan that cannot load again is not worth a dialog.
    headroom_core::estimate::plan_from_value(plan.raw(), &presets)?;
    let request = PickRequest::save_file("plan.json").filter("Headroom plan", &["json"]);
    let Some(path) = picker.pick(&request)? else {
        return Ok(None);
    };
    answer::save_plan(&path, plan.raw(), &presets)?;
    Ok(Some(path.display().to_string()))
}

/// Load a plan file the user picks; the plan with its defaults, or `null` when cancelled.
#[tauri::command]
pub async fn plan_load(
    state: State<'_, AppState>,
    picker: State<'_, Picker>,
) -> IpcResult<Option<serde_json::Value>> {
    let presets = presets_of(&state)?;
    let Some(path) = picker.pick(&PickRequest::open_file().filter("Headroom plan", &["json"]))?
    else {
        return Ok(None);
    };
    Ok(Some(answer::load_plan(&path, &presets)?))
}

/// Export the breakdown chart of a plan as PNG or SVG (by the chosen file's extension, PNG by default), with
/// words in the user's language; `null` when the dialog was cancelled.
#[tauri::command]
pub async fn plan_export_chart(
    state: State<'_, AppState>,
    picker: State<'_, Picker>,
    plan: Draft<PlanFile>,
) -> IpcResult<Option<SavedChart>> {
    let presets = presets_of(&state)?;
    let resolver = resolver();
    let machine = state.calibration.load(&state.paths)?;
    let answered = estimate::answer(plan.raw(), &presets, &machine, |m| {
        model::resolve(m, &resolver)
    })?;
    let Some((path, format)) = pick_chart_file(&picker, "plan.png")? else {
        return Ok(None);
    };
    let language = ChartLanguage::new(settings_lang(&state)?);
    let labels = chart::render_breakdown(&answered, &path, format, &language)?;
    Ok(Some(SavedChart::new(path, labels)))
}

/// The language Settings › Language picks for the words the backend writes (`auto`: the OS locale).
pub(crate) fn settings_lang(state: &AppState) -> IpcResult<Lang> {
    state
        .settings
        .lock()
        .map_err(|_| IpcError::internal("settings lock poisoned"))
        .map(|s| super::monitor::app_lang(&s))
}

/// Where to save a chart, from the system save dialog, and its format by the chosen extension (PNG unless the
/// name ends in .svg); `None` when the dialog was cancelled.
pub(crate) fn pick_chart_file(
    picker: &Picker,
    suggested: &str,
) -> IpcResult<Option<(std::path::PathBuf, ChartFormat)>> {
    let request = PickRequest::save_file(suggested)
        .filter("PNG image", &["png"])
        .filter("SVG image", &["svg"]);
    let Some(path) = picker.pick(&request)? else {
        return Ok(None);
    };
    let format = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"))
    {
        ChartFormat::Svg
    } else {
        ChartFormat::Png
    };
    Ok(Some((path, format)))
}
