//! The Plan view: answer a plan, find models (catalog, Hugging Face cache), list GPUs (catalog and this machine).

use headroom_core::estimate::gpus::{self, GpuModel, MachineGpu};
use headroom_core::estimate::{self, available_presets, PlanAnswer};
use headroom_core::model::{self, catalog, hf_cache, Resolver};
use headroom_core::monitor::procs::ProcFs;
use headroom_core::monitor::{fake::FakeConfig, open_source, SourceSpec};
use headroom_core::presets::library::PresetLibrary;
use serde::Serialize;
use tauri::State;

use crate::error::IpcResult;
use crate::AppState;

fn resolver() -> Resolver {
    Resolver {
        hub_cache: hf_cache::hub_cache_dir(|var| std::env::var(var).ok()),
    }
}

/// Everything the Plan view shows for a plan (CONTRACTS.md §1 JSON): estimate, verdict, limits, ranking and
/// suggestions. Presets are re-read each time so a preset saved in the Presets view counts at once.
#[tauri::command]
pub fn plan_answer(state: State<'_, AppState>, plan: serde_json::Value) -> IpcResult<PlanAnswer> {
    let presets = available_presets(&PresetLibrary::new(&state.paths))?;
    let resolver = resolver();
    Ok(estimate::answer(&plan, &presets, |m| {
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
pub(crate) fn read_machine() -> (Vec<MachineGpu>, Option<String>) {
    let text = std::env::var("HEADROOM_GPU_SOURCE").unwrap_or_else(|_| "nvml".into());
    let read = SourceSpec::parse(&text, FakeConfig::default())
        .and_then(|spec| open_source(&spec, ProcFs::default()))
        .and_then(|mut source| gpus::machine_gpus(source.as_mut()));
    match read {
        Ok(list) => (list, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    }
}

#[tauri::command]
pub fn plan_gpus(state: State<'_, AppState>) -> IpcResult<GpuChoices> {
    let (machine, unavailable) = state.plan_machine_gpus.get_or_init(read_machine).clone();
    Ok(GpuChoices {
        catalog: gpus::catalog().to_vec(),
        machine,
        machine_unavailable: unavailable,
    })
}
