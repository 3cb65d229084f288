//! Memory estimate, recommendation, solver and GPU catalog (issue 3, items 2–4).
//!
//! Data flow: a plan (JSON, CONTRACTS.md §1) is parsed into a [`Plan`]; the caller resolves the plan's model
//! into a [`crate::model::ModelSpec`] (catalog, folder or raw config) and passes the preset list; [`estimate`]
//! returns an [`Estimate`] (CONTRACTS.md §2). Every formula names its source in the module that computes it;
//! FORMULAS.md refers to the project's reference notes (`../shared/reference/FORMULAS.md`).
//!
//! Where other modules plug in:
//! - model discovery: the `resolve` argument of [`estimate_plan`] (the CLI's `estimate_cmd::resolve`) maps
//!   `ModelRef::Id` to the catalog, `ModelRef::Path` to the folder reader and `ModelRef::Config` to the
//!   config converter; [`config::spec_from_config`] is a stopgap for the dense Llama family only.
//! - presets: the presets module turns each preset (built-in or the user's) into a [`PresetInfo`] (name,
//!   weight format, placement); [`builtin_presets`] lists the eight built-ins until then.
//! - the monitor: a detected GPU's NVML name finds its catalog entry with [`gpus::find`].

mod activations;
pub mod config;
mod engine;
pub mod gpus;
mod inference;
mod kv;
pub mod plan;
pub mod preset;
pub mod recommend;
mod report;
mod shape;
mod states;
mod training;
mod weights;

pub use engine::{estimate, resolve_preset, CUDA_CONTEXT_BYTES};
pub use plan::{parse_plan, plan_from_value, plan_to_value, ModelRef, Plan};
pub use preset::{builtin_presets, Placement, PresetInfo, WeightFormat};
pub use report::{Components, Estimate, ParameterSummary, PerGpu};

use crate::model::ModelSpec;
use crate::Result;

/// Parse a plan, resolve its model with `resolve`, and estimate it: what `headroom-cli estimate` and the
/// Plan view run. `resolve` is where the model catalog, folder reader and config converter plug in.
pub fn estimate_plan(
    text: &str,
    presets: &[PresetInfo],
    resolve: impl Fn(&ModelRef) -> Result<ModelSpec>,
) -> Result<Estimate> {
    let plan = parse_plan(text, presets)?;
    let spec = resolve(&plan.model)?;
    estimate(&spec, &plan, presets)
}
