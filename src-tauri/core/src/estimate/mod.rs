//! Memory estimate, recommendation, solver and GPU catalog (issue 3, items 2–4).
//!
//! Data flow: a plan (JSON, docs/contract.md §1) is parsed into a [`Plan`]; the caller resolves the plan's model
//! into a [`crate::model::ModelSpec`] (catalog, folder or raw config) and passes the preset list; [`estimate`]
//! returns an [`Estimate`] (docs/contract.md §2). Every formula names its source in the module that computes it;
//! How each number is computed, with its sources: docs/estimator.md.
//!
//! Where other modules plug in:
//! - model discovery: [`crate::model::resolve`] maps `ModelRef::Id` to the catalog (then the local Hugging
//!   Face cache), `ModelRef::Path` to the folder reader and `ModelRef::Config` to the config converter.
//! - presets: [`PresetInfo::from_body`] turns each preset (built-in or the user's) into what the estimator
//!   needs (name, weight format, placement); [`available_presets`] lists the built-ins and the user's.
//! - the monitor: a detected GPU's NVML name finds its catalog entry with [`gpus::find`].

mod activations;
mod allocator;
pub mod answer;
pub mod band;
pub mod calibration;
pub mod chart;
mod engine;
pub mod fit;
pub mod gpus;
mod inference;
mod kv;
mod part;
pub mod plan;
pub mod preset;
pub mod recommend;
mod report;
mod shape;
mod states;
mod task;
mod training;
mod units;
mod varlen;
mod weights;

pub use answer::{answer, PlanAnswer, Verdict, VerdictKind};
pub use calibration::CUDA_CONTEXT_BYTES;
pub(crate) use engine::fit;
pub use engine::{estimate, resolve_preset};
pub use plan::{parse_plan, plan_from_value, plan_to_value, ModelRef, Plan};
pub use preset::{available_presets, builtin_presets, Placement, PresetInfo, WeightFormat};
pub(crate) use report::Notes;
pub use report::{Components, EngineKind, Estimate, LengthBytes, ParameterSummary, PerGpu};
pub use training::reference_lengths;

use crate::model::ModelSpec;
use crate::Result;
use calibration::MachineCalibration;

/// Parse a plan, resolve its model with `resolve` (normally [`crate::model::resolve`]), and estimate it with
/// this machine's calibration (empty: the documented defaults): what `headroom-cli estimate` and the Plan view
/// run.
pub fn estimate_plan(
    text: &str,
    presets: &[PresetInfo],
    machine: &MachineCalibration,
    resolve: impl Fn(&ModelRef) -> Result<ModelSpec>,
) -> Result<Estimate> {
    let mut plan = parse_plan(text, presets)?;
    plan.machine = *machine;
    let spec = resolve(&plan.model)?;
    estimate(&spec, &plan, presets)
}
