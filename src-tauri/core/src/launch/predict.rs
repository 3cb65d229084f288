//! The estimator's prediction for each preset of a run's chain, so every attempt keeps the plan's device peak
//! beside its measured peak (issue 6, item 4).
//!
//! The plan is the model's saved per-model config (task, method, LoRA settings) with the batch size and
//! sequence length the user gives, and each preset of the chain as its `quantization`. A preset the plan
//! rejects (say `int8` for full training: quantized weights cannot be trained) gets no figure but a note
//! saying why, which the attempt keeps instead of a number.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::history::PredictionDetail;
use crate::estimate::fit::Budget;
use crate::estimate::plan::FitOn;
use crate::estimate::{estimate, plan_from_value, ModelRef, PerGpu, PresetInfo};
use crate::model::ModelSpec;
use crate::paths::AppPaths;
use crate::presets::config_store::ConfigLibrary;
use crate::{Error, Result};

/// The device peak per preset where the estimator has one, and why not where it has none.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChainPrediction {
    pub bytes: BTreeMap<String, u64>,
    /// What the machine calibration needs beside the device peak, for the same presets as `bytes`.
    pub details: BTreeMap<String, PredictionDetail>,
    pub notes: BTreeMap<String, String>,
    /// The whole per-GPU estimate (with its band) for the same presets as `bytes`, so a caller can decide "fits"
    /// by the one rule ([`Self::budget`]).
    pub per_gpu: BTreeMap<String, PerGpu>,
    /// The plans' margin and `fit_on` (the user's setting, as the Plan view applies it).
    pub margin: f64,
    pub fit_on: FitOn,
}

impl ChainPrediction {
    /// What a GPU of `gpu_memory_bytes` offers these plans under the fit rule (docs/estimator.md §1.2).
    pub fn budget(&self, gpu_memory_bytes: u64) -> Budget {
        Budget {
            fit_on: self.fit_on,
            ..Budget::new(gpu_memory_bytes, self.margin)
        }
    }
}

/// Predict `chain` for `model_id` at `batch_size` × `sequence_length`, with this machine's calibration when its
/// runs made one. Errors name the field: a model with no saved config has no task or method to plan with
/// (`batch_size`), a model the resolver cannot read (`model`).
pub fn predict_chain(
    paths: &AppPaths,
    model_id: &str,
    chain: &[String],
    batch_size: u64,
    sequence_length: u64,
    presets: &[PresetInfo],
    resolve: impl Fn(&ModelRef) -> Result<ModelSpec>,
) -> Result<ChainPrediction> {
    if batch_size == 0 {
        return Err(Error::invalid("batch_size", "must be at least 1"));
    }
    if sequence_length == 0 {
        return Err(Error::invalid("sequence_length", "must be at least 1"));
    }
    let configs = ConfigLibrary::new(paths);
    let saved = match configs.path_of(model_id) {
        Ok(_) => configs.get(model_id)?,
        Err(_) => None,
    };
    let Some(entry) = saved else {
        return Err(Error::invalid(
            "batch_size",
            format!(
                "{model_id} has no saved config, so there is no task or method to estimate with: save one in the Presets view, or leave batch size and sequence length empty"
            ),
        ));
    };
    let config = entry.config;
    // This machine's calibration, as every other estimate of the app uses it (docs/estimator.md §10.5).
    let machine = super::calibration::load(paths)?;
    let settings = crate::settings::load(&paths.settings_file())?.settings;
    let model = ModelRef::Id(model_id.to_string());
    let spec = resolve(&model).map_err(|e| Error::invalid("model", e.to_string()))?;
    let mut base = Map::new();
    base.insert("model".into(), json!({ "id": model_id }));
    base.insert("task".into(), to_value(&config.task)?);
    if let Some(method) = config.effective_method() {
        base.insert("method".into(), to_value(&method)?);
    }
    if let Some(lora) = &config.lora {
        base.insert("lora".into(), to_value(lora)?);
    }
    base.insert("batch_size".into(), batch_size.into());
    base.insert("sequence_length".into(), sequence_length.into());
    let mut out = ChainPrediction::default();
    for preset in chain {
        let mut value = base.clone();
        value.insert("quantization".into(), preset.clone().into());
        let mut value = Value::Object(value);
        settings.apply_fit_on(&mut value);
        let predicted = plan_from_value(&value, presets).and_then(|mut plan| {
            plan.machine = machine;
            estimate(&spec, &plan, presets).map(|est| (plan.task, plan.margin, plan.fit_on, est))
        });
        match predicted {
            Ok((task, margin, fit_on, est)) => {
                out.margin = margin;
                out.fit_on = fit_on;
                out.bytes
                    .insert(preset.clone(), est.per_gpu.device_peak_bytes);
                out.details.insert(
                    preset.clone(),
                    PredictionDetail {
                        task,
                        allocated_peak_bytes: est.per_gpu.allocated_peak_bytes,
                        managed_memory_bytes: est.per_gpu.managed_memory_bytes,
                    },
                );
                out.per_gpu.insert(preset.clone(), est.per_gpu);
            }
            Err(e) => {
                out.notes.insert(preset.clone(), e.to_string());
            }
        }
    }
    Ok(out)
}

fn to_value(v: &impl serde::Serialize) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::invalid("config", e.to_string()))
}
