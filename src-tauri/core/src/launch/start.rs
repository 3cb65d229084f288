//! What the app's start form asks for, checked and turned into the launcher's [`RunRequest`]: the working
//! folder, the profile, the model's presets and, when the form gives a plan, the estimator's device peak for
//! each preset of the chain.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::env::{profile, EnvMap};
use crate::estimate::available_presets;
use crate::launch::handover::{driver_gpu_info, LibraryPresets};
use crate::launch::predict::{plan_shape, predict_chain, ChainPrediction, PredictFor};
use crate::launch::probe::{MonitorPeakProbe, OpenSource};
use crate::launch::runner::{self, RunRequest};
use crate::launch::steps::BatchSetting;
use crate::message::{Key, Message};
use crate::model::{self, Resolver};
use crate::monitor::nvml::SharedNvml;
use crate::monitor::procs::ProcFs;
use crate::monitor::{open_source_shared, SourceSpec};
use crate::paths::AppPaths;
use crate::presets::library::PresetLibrary;
use crate::{Error, Result};

/// Time between SIGTERM and SIGKILL on Cancel.
pub const KILL_GRACE: Duration = Duration::from_secs(10);

/// How often the probe reads an attempt's GPU memory.
const PROBE_EVERY: Duration = Duration::from_millis(500);

/// What the start form sends.
#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct StartRun {
    pub model: String,
    pub argv: Vec<String>,
    pub cwd: String,
    pub profile: String,
    pub chain: Vec<String>,
    /// With `sequence_length`: the plan the estimator predicts each preset's device peak for (task and method
    /// from the model's saved config). Both empty: no prediction.
    #[serde(default)]
    #[ts(optional)]
    pub batch_size: Option<u64>,
    #[serde(default)]
    #[ts(optional)]
    pub sequence_length: Option<u64>,
    /// The gradient accumulation the command trains with (default 1); with `batch_size` (the micro-batch) it
    /// is what `mb/2` steps halve and double, handed over as `HEADROOM_GRAD_ACCUM`.
    #[serde(default)]
    #[ts(optional)]
    pub grad_accum: Option<u64>,
    /// Start at the chain's first step even when the estimate says it does not fit.
    #[serde(default)]
    #[ts(optional)]
    pub pin_start: Option<bool>,
    /// Where the training writes its checkpoints, when the command does not say with `--output_dir`.
    #[serde(default)]
    #[ts(optional)]
    pub output_dir: Option<String>,
    /// The plan the run trains with (the Plan view's): every step is estimated with its checkpointing, optimizer,
    /// precision, GPUs and sharding, and `batch_size`/`sequence_length` default to its own.
    #[serde(default)]
    #[ts(optional, type = "Record<string, unknown>")]
    pub plan: Option<serde_json::Value>,
}

/// What the start form offers for a model (or before one is typed).
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct RunDefaults {
    /// The model's saved chain (its chosen preset first), else the default chain.
    pub chain: Vec<String>,
    /// True when `chain` comes from the model's saved config.
    pub saved: bool,
    /// Every preset the launcher can hand over (built-in and user).
    pub presets: Vec<String>,
    /// The app's working directory, a starting point for the form.
    pub cwd: String,
}

/// The start form's chain and presets for `model` (empty: none typed yet), with `cwd` as its folder.
pub fn run_defaults(paths: &AppPaths, model: &str, cwd: String) -> Result<RunDefaults> {
    let source = LibraryPresets::for_model(paths, model.trim())?;
    Ok(RunDefaults {
        chain: source.default_chain(),
        saved: source.saved_chain().is_some(),
        presets: source.names()?,
        cwd,
    })
}

/// The launcher's request for what the form sent, and the presets it hands over; an error names the field at
/// fault. `base_env` is what the run inherits before its profile; `resolver` finds the model for a prediction.
pub fn run_request(
    paths: &AppPaths,
    nvml: &SharedNvml,
    start: StartRun,
    base_env: EnvMap,
    resolver: &Resolver,
) -> Result<(RunRequest, LibraryPresets)> {
    let cwd = PathBuf::from(start.cwd.trim());
    if !cwd.is_absolute() {
        return Err(Error::invalid_msg(
            "cwd",
            Message::new(Key::InvalidRunNotAbsolutePathStart)
                .text("cwd", cwd.display().to_string()),
        ));
    }
    let presets = LibraryPresets::for_model(paths, start.model.trim())?;
    let gpus = driver_gpu_info(open_source_shared(
        &SourceSpec::Nvml,
        ProcFs::default(),
        nvml,
    ));
    let batch = match start.batch_size {
        Some(micro_batch) => Some(
            BatchSetting::new(micro_batch, start.grad_accum.unwrap_or(1)).map_err(|e| match e {
                Error::Invalid { ref field, .. } if field == "micro_batch" => {
                    e.for_field("batch_size")
                }
                other => other,
            })?,
        ),
        None if start.grad_accum.is_some() => {
            return Err(Error::invalid_msg(
                "grad_accum",
                Message::new(Key::InvalidRunGiveBatchSizeMicro),
            ))
        }
        None => None,
    };
    let output_dir = match start.output_dir.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(dir) => Some(PathBuf::from(dir)),
    };
    let shape = RunShape {
        model_id: start.model.trim(),
        chain: &start.chain,
        batch,
        sequence_length: start.sequence_length,
        gpu_memory_bytes: gpus.smallest_memory_bytes,
        pin_start: start.pin_start.unwrap_or(false),
        plan: start.plan.as_ref(),
    };
    let shape = trained_shape(paths, shape)?;
    let (batch, sequence_length) = (shape.batch, shape.sequence_length);
    let prediction = predict_run(paths, shape, resolver)?;
    let request = RunRequest {
        model: start.model.trim().to_string(),
        argv: start.argv,
        cwd,
        profile: profile::load_profile(paths, &start.profile)?,
        base_env,
        chain: start.chain,
        predicted_peak_bytes: Default::default(),
        predicted_details: Default::default(),
        predicted_notes: Default::default(),
        step_predictions: prediction.steps,
        batch,
        start: prediction.start,
        sequence_length,
        output_dir,
        kill_grace: KILL_GRACE,
        gpus: gpus.count,
        log_limit_bytes: runner::ATTEMPT_LOG_LIMIT_BYTES,
        plan: start.plan.clone(),
    };
    Ok((request, presets))
}

/// What a run trains at, as the app's form or the CLI's options give it.
#[derive(Debug, Clone, Copy)]
pub struct RunShape<'a> {
    pub model_id: &'a str,
    pub chain: &'a [String],
    pub batch: Option<BatchSetting>,
    pub sequence_length: Option<u64>,
    /// One GPU's memory: the driver's smallest GPU, or what the user says; `None`: no start is chosen.
    pub gpu_memory_bytes: Option<u64>,
    pub pin_start: bool,
    /// The plan the run trains with ([`PredictFor::plan`]); `batch` and `sequence_length` come from it where
    /// they are not given (see [`plan_shape`]).
    pub plan: Option<&'a serde_json::Value>,
}

/// The shape with the micro-batch and sequence length the run trains at: what the form or the flags give,
/// completed from the run's plan when it has one (checked as the estimator reads it). The launcher hands these
/// over (`HEADROOM_MICRO_BATCH`, `HEADROOM_SEQUENCE_LENGTH`) and `mb/2` steps halve the batch; [`predict_run`]
/// takes the shape this returns.
pub fn trained_shape<'a>(paths: &AppPaths, shape: RunShape<'a>) -> Result<RunShape<'a>> {
    let Some(plan) = shape.plan else {
        return Ok(shape);
    };
    let known = available_presets(&PresetLibrary::new(paths))?;
    let (batch, sequence) = plan_shape(
        plan,
        shape.model_id,
        shape.batch,
        shape.sequence_length,
        &known,
    )?;
    Ok(RunShape {
        batch: Some(batch),
        sequence_length: Some(sequence),
        ..shape
    })
}

/// Each chain step's estimate and where the chain starts, when both a batch and a sequence length are given (no
/// prediction without either; one without the other is an error naming the missing one). The app's form and
/// `headroom-cli run` both start runs through here, so they choose the same first step. A run with a plan passes
/// the shape [`trained_shape`] completed, so the plan is read once.
pub fn predict_run(
    paths: &AppPaths,
    shape: RunShape<'_>,
    resolver: &Resolver,
) -> Result<ChainPrediction> {
    match (shape.batch, shape.sequence_length) {
        (None, None) => Ok(ChainPrediction::default()),
        (Some(_), None) => Err(Error::invalid_msg(
            "sequence_length",
            Message::new(Key::InvalidRunGiveBatchSizeGet),
        )),
        (None, Some(_)) => Err(Error::invalid_msg(
            "batch_size",
            Message::new(Key::InvalidRunGiveSequenceLengthGet),
        )),
        (Some(batch), Some(sequence)) => {
            let known = available_presets(&PresetLibrary::new(paths))?;
            predict_chain(
                paths,
                PredictFor {
                    model_id: shape.model_id,
                    chain: shape.chain,
                    batch,
                    sequence_length: sequence,
                    gpu_memory_bytes: shape.gpu_memory_bytes,
                    pin_start: shape.pin_start,
                    plan: shape.plan,
                },
                &known,
                |m| model::resolve(m, resolver),
            )
        }
    }
}

/// Each attempt's peak GPU memory, read from the source `open` gives (NVML) every 500 ms; none without a
/// driver, and the peak stays unknown.
pub fn peak_probe(open: OpenSource) -> MonitorPeakProbe {
    MonitorPeakProbe::new(open, "/proc", PROBE_EVERY)
}

/// [`peak_probe`] on the app's one NVML handle.
pub fn nvml_peak_probe(nvml: SharedNvml) -> MonitorPeakProbe {
    peak_probe(std::sync::Arc::new(move || {
        open_source_shared(&SourceSpec::Nvml, ProcFs::default(), &nvml)
    }))
}
