//! The preset wizard's ranking (issue 4): for a catalog model, a task, a workload and GPUs, every preset the user
//! has, ranked by the estimator with the one fit rule, with why a preset cannot run the plan at all.

use serde::{Deserialize, Serialize};

use super::library::PresetList;
use crate::estimate::calibration::{MachineCalibration, TaskCalibration};
use crate::estimate::plan::{FitOn, Framework, Method, Task};
use crate::message::{Key, Message};
use crate::{Error, Result};

/// The wizard's answers so far.
#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct WizardAsk {
    pub model_id: String,
    pub task: Task,
    /// Train only.
    pub method: Option<Method>,
    /// A catalog GPU name (see [`wizard_gpus`]), or, with `memory_bytes`, the name of one of this machine's GPUs.
    pub gpu: String,
    /// For one of this machine's GPUs: the memory free when the hardware step read it, planned as each GPU's
    /// capacity. `null` for a catalog GPU.
    pub memory_bytes: Option<u64>,
    pub gpu_count: u64,
    /// Sequences per micro-batch on each GPU; `null` (or absent) for the estimator's default.
    #[serde(default)]
    pub batch_size: Option<u64>,
    /// Tokens per sequence; `null` (or absent) for the estimator's default.
    #[serde(default)]
    pub sequence_length: Option<u64>,
    /// Train only: recompute activations in backward instead of keeping them; `null` (or absent) for the
    /// framework's default, the same default the Plan view's plan gets.
    #[serde(default)]
    pub gradient_checkpointing: Option<bool>,
    /// Train only: the training framework whose defaults fill what the wizard does not ask (docs/frameworks.md);
    /// `null` (or absent) for `hf_trainer`.
    #[serde(default)]
    pub framework: Option<Framework>,
    /// Train only: every batch is padded or packed to the sequence length, so nothing strands between lengths and
    /// the band has no allowance for them (docs/estimator.md §17); `null`, absent or false: the lengths are open,
    /// as in the Plan view by default.
    #[serde(default)]
    #[ts(optional)]
    pub fixed_lengths: Option<bool>,
    /// Which figure of each estimate's band decides "fits" (docs/estimator.md §1.2); `null` (or absent) for the
    /// band's upper end. The app fills in the Settings choice.
    #[serde(default)]
    #[ts(optional)]
    pub fit_on: Option<FitOn>,
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
    /// `caveat` as messages the UI renders in the user's language, one per cost.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[ts(as = "Option<Vec<crate::message::Message>>", optional)]
    pub caveat_messages: Vec<crate::message::Message>,
    /// `unavailable` as a message the UI renders in the user's language.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub unavailable_message: Option<crate::message::Message>,
}

/// The ranking, with the workload it was estimated for (the user's values or the estimator's defaults), so
/// the wizard can say what the peaks assume.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct WizardRanking {
    pub batch_size: u64,
    pub sequence_length: u64,
    /// `null` for inference, which has no backward pass.
    pub gradient_checkpointing: Option<bool>,
    /// Train only: the ranking took every batch as padded or packed to `sequence_length`.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    #[ts(as = "Option<bool>", optional)]
    pub fixed_lengths: bool,
    /// Best first.
    pub rows: Vec<WizardRow>,
    /// This machine's calibration when it replaced the default CUDA context and allocator slack
    /// (docs/estimator.md §10.5), so the wizard can say so.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub machine_calibration: Option<TaskCalibration>,
}

/// Every preset of `list`, built-in and user, ranked by the estimator for the model, task, workload and GPUs the
/// wizard was given (best first): those that can run the plan in the estimator's order, the others after. The
/// estimates use this machine's calibration (empty: the documented defaults).
pub fn rank(
    list: &PresetList,
    ask: &WizardAsk,
    machine: &MachineCalibration,
) -> Result<WizardRanking> {
    if ask.task == Task::Infer && ask.gradient_checkpointing == Some(true) {
        return Err(Error::invalid_msg(
            "gradient_checkpointing",
            Message::new(Key::InvalidWizardOnlyAppliesTrainingInference),
        ));
    }
    let spec = crate::model::from_catalog(&ask.model_id)?.ok_or_else(|| {
        Error::invalid_msg(
            "model_id",
            Message::new(Key::InvalidWizardNotModelCatalogPick)
                .text("model_id", format!("{:?}", ask.model_id)),
        )
    })?;
    let infos: Vec<_> = list
        .presets
        .iter()
        .map(|p| crate::estimate::PresetInfo::from_body(&p.name, &p.body))
        .collect();
    let gpus = match ask.memory_bytes {
        None => serde_json::json!({"count": ask.gpu_count, "model": ask.gpu}),
        Some(0) => {
            return Err(Error::invalid_msg(
                "memory_bytes",
                Message::new(Key::InvalidWizardHasNoMemoryFree).text("gpu", ask.gpu.to_string()),
            ))
        }
        Some(b) => serde_json::json!({"count": ask.gpu_count, "memory_bytes": b}),
    };
    let mut plan = serde_json::json!({
        "model": {"id": ask.model_id},
        "task": ask.task,
        "gpus": gpus,
    });
    if let Some(f) = ask.fit_on {
        plan["fit_on"] =
            serde_json::to_value(f).map_err(|e| Error::invalid("fit_on", e.to_string()))?;
    }
    if let (Task::Train, Some(f)) = (ask.task, ask.framework) {
        plan["framework"] =
            serde_json::to_value(f).map_err(|e| Error::invalid("framework", e.to_string()))?;
    }
    if let (Task::Train, Some(m)) = (ask.task, ask.method) {
        plan["method"] =
            serde_json::to_value(m).map_err(|e| Error::invalid("method", e.to_string()))?;
    }
    // The estimator checks these (positive, not implausibly large) and names the same fields.
    if let Some(b) = ask.batch_size {
        plan["batch_size"] = b.into();
    }
    if let Some(s) = ask.sequence_length {
        plan["sequence_length"] = s.into();
    }
    if let (Task::Train, Some(g)) = (ask.task, ask.gradient_checkpointing) {
        plan["gradient_checkpointing"] = g.into();
    }
    let mut plan = crate::estimate::plan_from_value(&plan, &infos)?;
    plan.machine = *machine;
    let fixed_lengths = ask.task == Task::Train && ask.fixed_lengths == Some(true);
    if fixed_lengths {
        plan.set_one_length();
    }
    let ranked = crate::estimate::recommend::rank_presets(&spec, &plan, &infos)?;
    // The estimator's order: presets with a verdict first, those that do not apply (QLoRA on a preset that is not
    // 4-bit, which the per-model config refuses too; the CPU preset) after, each saying why.
    let rows: Vec<WizardRow> = ranked
        .into_iter()
        .map(|r| WizardRow {
            builtin: list.presets.iter().any(|p| p.name == r.preset && p.builtin),
            preset: r.preset,
            fits: r.fits,
            device_peak_bytes: r.device_peak_bytes,
            headroom_bytes: r.headroom_bytes,
            caveat: r.caveat,
            unavailable: r.unavailable,
            caveat_messages: r.caveat_messages,
            unavailable_message: r.unavailable_message,
        })
        .collect();
    Ok(WizardRanking {
        batch_size: plan.batch_size.get(),
        sequence_length: plan.sequence_length.get(),
        gradient_checkpointing: (ask.task == Task::Train).then_some(plan.gradient_checkpointing),
        fixed_lengths,
        rows,
        machine_calibration: plan.machine.for_task(ask.task).copied(),
    })
}
