//! The estimator's prediction for each preset of a run's chain, so every attempt keeps the plan's device peak
//! beside its measured peak (issue 6, item 4).
//!
//! The plan is the model's saved per-model config (task, method, LoRA settings) with the batch size and
//! sequence length the user gives, and each preset of the chain as its `quantization`. A preset the plan
//! rejects (say `int8` for full training: quantized weights cannot be trained) gets no figure but a note
//! saying why, which the attempt keeps instead of a number.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::first_step::{self, StartChoice, StepEstimate};
use super::history::PredictionDetail;
use super::runner::StepPrediction;
use super::steps::{self, BatchSetting};
use crate::estimate::band::LengthsDoubt;
use crate::estimate::fit::Budget;
use crate::estimate::plan::GpuSetup;
use crate::estimate::{estimate, plan_from_value, ModelRef, PerGpu, PresetInfo};
use crate::message::{Key, Message};
use crate::model::ModelSpec;
use crate::paths::AppPaths;
use crate::presets::config_store::ConfigLibrary;
use crate::{Error, Result};

/// The estimate of every chain position, and where the chain starts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChainPrediction {
    pub steps: BTreeMap<u32, StepPrediction>,
    /// Where the first attempt starts, when the GPU's memory is known.
    pub start: Option<StartChoice>,
}

/// What the chain is predicted for.
#[derive(Debug, Clone, Copy)]
pub struct PredictFor<'a> {
    pub model_id: &'a str,
    pub chain: &'a [String],
    /// The micro-batch and accumulation at the chain's start (`mb/2` steps halve and double them).
    pub batch: BatchSetting,
    pub sequence_length: u64,
    /// One GPU's memory, as the driver reports it (the smallest of the GPUs the run sees); `None` without a
    /// driver: no start is chosen.
    pub gpu_memory_bytes: Option<u64>,
    /// Start at the chain's first step whatever the estimate says.
    pub pin_start: bool,
    /// The plan the run trains with (docs/contract.md §1: the Plan view's, a saved plan, or one imported from the
    /// trainer's config) instead of the task, method and LoRA settings of the model's saved config: its
    /// checkpointing, optimizer, precision, GPUs and sharding then size every step. Each step sets its own
    /// `quantization`, `batch_size` and `gradient_accumulation_steps`, and `sequence_length` above wins.
    pub plan: Option<&'a Value>,
}

/// Predict each position of `what.chain` for `what.model_id`, with this machine's calibration when its runs
/// made one, and choose where to start by the estimator's fit rule with the Settings' `fit_on`. Errors name
/// the field: a model with no saved config has no task or method to plan with (`batch_size`), a model the
/// resolver cannot read (`model`), a bad chain step (`chain[i]`).
pub fn predict_chain(
    paths: &AppPaths,
    what: PredictFor<'_>,
    presets: &[PresetInfo],
    resolve: impl Fn(&ModelRef) -> Result<ModelSpec>,
) -> Result<ChainPrediction> {
    if what.sequence_length == 0 {
        return Err(Error::invalid_msg(
            "sequence_length",
            Message::new(Key::InvalidMustAtLeast1),
        ));
    }
    let states = steps::states(&steps::parse_chain(what.chain)?, Some(what.batch))?;
    let model_id = what.model_id;
    let base = match what.plan {
        Some(plan) => plan_base(plan, model_id)?,
        None => saved_config_base(paths, model_id)?,
    };
    // This machine's calibration, as every other estimate of the app uses it (docs/estimator.md §10.5).
    let machine = super::calibration::load(paths)?;
    let settings = crate::settings::load(&paths.settings_file())?.settings;
    let model: ModelRef = serde_json::from_value(base["model"].clone())
        .map_err(|e| Error::invalid("plan.model", e.to_string()))?;
    let spec = resolve(&model).map_err(|e| {
        Error::invalid(
            if what.plan.is_some() {
                "plan.model"
            } else {
                "model"
            },
            e.to_string(),
        )
    })?;
    let mut base = base;
    base.insert("sequence_length".into(), what.sequence_length.into());
    let mut out = ChainPrediction::default();
    let mut per_gpu: Vec<Option<PerGpu>> = Vec::with_capacity(states.len());
    let mut budget = None;
    for (i, state) in states.iter().enumerate() {
        let batch = state.batch.unwrap_or(what.batch);
        let mut value = base.clone();
        value.insert("quantization".into(), state.preset.clone().into());
        value.insert("batch_size".into(), batch.micro_batch.into());
        if batch.grad_accum > 1 {
            value.insert(
                "gradient_accumulation_steps".into(),
                batch.grad_accum.into(),
            );
        }
        let mut value = Value::Object(value);
        // The same rule as the Plan view: a plan that does not say decides on the Settings' choice.
        settings.apply_fit_on(&mut value);
        let predicted = plan_from_value(&value, presets).and_then(|mut plan| {
            plan.machine = machine;
            if let Some(memory_bytes) = what.gpu_memory_bytes {
                plan.gpus.get_or_insert(GpuSetup {
                    count: std::num::NonZeroU64::MIN,
                    memory_bytes,
                    model: None,
                });
            }
            let est = estimate(&spec, &plan, presets)?;
            if let Some(gpus) = &plan.gpus {
                budget.get_or_insert(Budget::of(gpus, &plan));
            }
            // The whole allowance, not this machine's share of it: what a later calibration measures against.
            let lengths = LengthsDoubt::for_plan(&plan).bytes(est.per_gpu.length_bytes);
            Ok((plan.task, lengths, est))
        });
        let step = u32::try_from(i).unwrap_or(u32::MAX);
        match predicted {
            Ok((task, lengths, est)) => {
                out.steps.insert(
                    step,
                    StepPrediction {
                        peak_bytes: Some(est.per_gpu.device_peak_bytes),
                        detail: Some(PredictionDetail {
                            task,
                            allocated_peak_bytes: est.per_gpu.allocated_peak_bytes,
                            managed_memory_bytes: est.per_gpu.managed_memory_bytes,
                            lengths_doubt_bytes: Some(lengths),
                        }),
                        note: None,
                    },
                );
                per_gpu.push(Some(est.per_gpu));
            }
            Err(e) => {
                out.steps.insert(
                    step,
                    StepPrediction {
                        note: Some(e.to_string()),
                        ..StepPrediction::default()
                    },
                );
                per_gpu.push(None);
            }
        }
    }
    if let Some(budget) = budget {
        // The micro-batch names a skipped step only where the chain changes it.
        let batch_steps = states.windows(2).any(|w| w[0].batch != w[1].batch);
        let estimates: Vec<StepEstimate<'_>> = states
            .iter()
            .zip(&per_gpu)
            .map(|(state, per_gpu)| StepEstimate {
                preset: &state.preset,
                micro_batch: state.batch.filter(|_| batch_steps).map(|b| b.micro_batch),
                per_gpu: per_gpu.as_ref(),
            })
            .collect();
        out.start = Some(first_step::choose(&estimates, &budget, what.pin_start));
    }
    Ok(out)
}

/// The plan's keys a prediction starts from, with the run's model where the plan names none. A plan naming
/// another catalog or Hugging Face id than the run is refused: the run's record and its estimate would be of two
/// different models.
fn plan_base(plan: &Value, model_id: &str) -> Result<Map<String, Value>> {
    let Some(object) = plan.as_object() else {
        return Err(Error::invalid_msg(
            "plan",
            Message::new(Key::InvalidRunPlanObject),
        ));
    };
    let mut base = object.clone();
    match base.get("model") {
        None => {
            base.insert("model".into(), json!({ "id": model_id }));
        }
        Some(Value::Object(m)) => {
            if let Some(id) = m.get("id").and_then(Value::as_str) {
                if id != model_id {
                    return Err(Error::invalid_msg(
                        "plan.model",
                        Message::new(Key::InvalidRunPlanOtherModel)
                            .text("id", id)
                            .text("model_id", model_id),
                    ));
                }
            }
        }
        Some(_) => {
            return Err(Error::invalid_msg(
                "plan.model",
                Message::new(Key::InvalidRunPlanModelObject),
            ))
        }
    }
    // Each step of the chain says these.
    for key in ["quantization", "batch_size", "gradient_accumulation_steps"] {
        base.remove(key);
    }
    Ok(base)
}

/// The micro-batch, accumulation and sequence length a run with `plan` trains at: the ones given (the app's form,
/// the CLI's flags), else the plan's own (its defaults when it says nothing, docs/contract.md §1). The plan is
/// checked here as the estimator reads it, so a bad key is an error naming `plan.<key>` before the run starts.
pub fn plan_shape(
    plan: &Value,
    model_id: &str,
    batch: Option<BatchSetting>,
    sequence_length: Option<u64>,
    presets: &[PresetInfo],
) -> Result<(BatchSetting, u64)> {
    let mut value = plan.clone();
    if let Some(object) = value.as_object_mut() {
        object
            .entry("model")
            .or_insert_with(|| json!({ "id": model_id }));
    }
    let parsed = plan_from_value(&value, presets).map_err(|e| match &e {
        Error::Invalid { field, .. } => {
            let nested = format!("plan.{field}");
            e.for_field(nested)
        }
        _ => e,
    })?;
    let batch = match batch {
        Some(b) => b,
        None => BatchSetting::new(
            parsed.batch_size.get(),
            parsed.gradient_accumulation_steps.get(),
        )?,
    };
    Ok((
        batch,
        sequence_length.unwrap_or(parsed.sequence_length.get()),
    ))
}

/// The plan keys of the model's saved config (task, method, LoRA settings); without one there is nothing to
/// plan with.
fn saved_config_base(paths: &AppPaths, model_id: &str) -> Result<Map<String, Value>> {
    let configs = ConfigLibrary::new(paths);
    let saved = match configs.path_of(model_id) {
        Ok(_) => configs.get(model_id)?,
        Err(_) => None,
    };
    let Some(entry) = saved else {
        return Err(Error::invalid_msg(
            "batch_size",
            Message::new(Key::InvalidRunHasNoSavedConfig).text("model_id", model_id),
        ));
    };
    let config = entry.config;
    let mut base = Map::new();
    base.insert("model".into(), json!({ "id": model_id }));
    base.insert("task".into(), to_value(&config.task)?);
    if let Some(method) = config.effective_method() {
        base.insert("method".into(), to_value(&method)?);
    }
    if let Some(lora) = &config.lora {
        base.insert("lora".into(), to_value(lora)?);
    }
    Ok(base)
}

fn to_value(v: &impl serde::Serialize) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::invalid("config", e.to_string()))
}
