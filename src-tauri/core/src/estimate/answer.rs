//! Everything the Plan view shows for one plan, computed in one call: the estimate, the verdict, the solver's
//! limits, the ranked presets and what would make it fit. The view calls this on every keystroke (debounced);
//! one answer is a few hundred estimates at about a microsecond each.

use serde::Serialize;
use serde_json::Value;

use super::calibration::MachineCalibration;
use super::engine::{estimate, resolve_preset};
use super::fit::Budget;
pub use super::fit::{Verdict, VerdictKind};
use super::plan::{plan_from_value, plan_to_value, ModelRef};
use super::preset::PresetInfo;
use super::recommend::{rank_presets, solve, suggestions, Limits, RankedPreset, Suggestion};
use super::report::Estimate;
use crate::model::ModelSpec;
use crate::Result;

/// What the model resolved to, in a line.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct ModelSummary {
    pub id: String,
    pub model_type: String,
    pub parameters: u64,
}

/// One answer for the Plan view.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct PlanAnswer {
    /// The plan with every default filled in, as docs/contract.md §1 writes it (what "save" stores).
    #[ts(type = "Record<string, unknown>")]
    pub plan: Value,
    pub model: ModelSummary,
    /// The preset the weights are sized with (the plan's, or "stored dtype").
    pub preset: String,
    pub estimate: Estimate,
    /// Memory of one GPU and what the margin leaves of it; `null` without `gpus`.
    pub gpu_memory_bytes: Option<u64>,
    pub usable_bytes: Option<u64>,
    pub verdict: Option<Verdict>,
    /// The largest micro-batch and longest sequence that fit; `null` without `gpus`.
    pub limits: Option<Limits>,
    /// Every preset ranked for this plan; empty without `gpus`.
    pub ranked: Vec<RankedPreset>,
    /// Changes that would make it fit, most helpful first; empty without `gpus`.
    pub suggestions: Vec<Suggestion>,
}

/// Parse a plan from the UI's JSON, resolve its model with `resolve` and answer it with this machine's
/// calibration (empty: the documented defaults). Every error names the plan key it is about.
pub fn answer(
    value: &Value,
    presets: &[PresetInfo],
    machine: &MachineCalibration,
    resolve: impl Fn(&ModelRef) -> Result<ModelSpec>,
) -> Result<PlanAnswer> {
    let mut plan = plan_from_value(value, presets)?;
    plan.machine = *machine;
    let spec = resolve(&plan.model)?;
    let est = estimate(&spec, &plan, presets)?;
    let preset = resolve_preset(&spec, &plan, presets)?;
    let (gpu_memory_bytes, usable_bytes, verdict, limits, ranked, suggestions) = match &plan.gpus {
        None => (None, None, None, None, Vec::new(), Vec::new()),
        Some(g) => {
            let budget = Budget::of(g, &plan);
            let (total, usable) = (budget.gpu_memory_bytes, budget.usable_bytes);
            let verdict = budget.verdict(&est.per_gpu);
            (
                Some(total),
                Some(usable),
                Some(verdict),
                Some(solve(&spec, &plan, &preset)?),
                rank_presets(&spec, &plan, presets)?,
                suggestions(&spec, &plan, presets)?,
            )
        }
    };
    Ok(PlanAnswer {
        plan: plan_to_value(&plan),
        model: ModelSummary {
            id: spec.id.clone(),
            model_type: spec.model_type.clone(),
            parameters: spec.parameters.total,
        },
        preset: preset.name,
        estimate: est,
        gpu_memory_bytes,
        usable_bytes,
        verdict,
        limits,
        ranked,
        suggestions,
    })
}

/// Save a plan as docs/contract.md §1 JSON: validated first, so a saved file always loads.
pub fn save_plan(path: &std::path::Path, value: &Value, presets: &[PresetInfo]) -> Result<()> {
    let plan = plan_from_value(value, presets)?;
    let mut text = serde_json::to_string_pretty(&plan_to_value(&plan))
        .map_err(|e| crate::Error::invalid("plan", e.to_string()))?;
    text.push('\n');
    crate::store::write_atomic(path, text.as_bytes())
}

/// Load a plan file (docs/contract.md §1), with every error naming the key. Returns the plan as written back with
/// its defaults, ready for the form.
pub fn load_plan(path: &std::path::Path, presets: &[PresetInfo]) -> Result<Value> {
    let text = crate::fsio::read_to_string(path, crate::fsio::PLAN)?;
    let plan = super::plan::parse_plan(&text, presets)?;
    Ok(plan_to_value(&plan))
}
