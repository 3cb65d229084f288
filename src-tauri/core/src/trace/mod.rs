//! The trace engine (issue 12): the user's own Python builds the model from its config.json on fake tensors,
//! runs the plan's real step, and replays the allocations through a model of PyTorch's caching allocator. This
//! module is the Rust side: it picks the Python, ships the package, runs it as a child and maps its answer onto
//! the estimate contract.
//!
//! - [`python`]: finding and probing the interpreter (Settings `python_path`, `--python`, else PATH).
//! - [`package`]: the package's `.py` files, embedded, written once per content hash to a cache folder.
//! - [`request`]: the plan (single GPU only) and the preset as the package's request.
//! - [`child`]: the child process: JSON lines as they come, a time limit, cancellation.
//! - [`protocol`]: the lines the package prints.
//! - [`map`]: its result as an [`Estimate`], through the analytic engine's fit verdict.
//! - [`chart`]: the timeline of live memory as PNG or SVG.

pub mod chart;
pub mod child;
pub mod map;
pub mod package;
pub mod protocol;
pub mod python;
pub mod request;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::launch::process::CancelToken;
pub use protocol::{PeakPlace, Phase, Stage, TimelinePoint, TraceLayers, TraceProgress};
pub use python::PythonInfo;

use crate::env::EnvMap;
use crate::estimate::plan::{plan_from_value, Method, Plan};
use crate::estimate::{self, available_presets, Estimate, LengthBytes};
use crate::model::{self, ModelSpec, Resolver};
use crate::presets::library::PresetLibrary;
use crate::{Error, Result};

/// Why a trace gave no answer (besides the user's input, which is [`Error::Invalid`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum TraceFailure {
    /// No interpreter at the given path, none on PATH, or one that does not run Python 3.
    NoPython,
    NoTorch,
    /// torch older than [`python::MIN_TORCH`].
    TorchTooOld,
    NoTransformers,
    /// A LoRA or QLoRA plan with no peft installed.
    NoPeft,
    /// The trace ran past its time limit and was killed.
    TimeLimit,
    Cancelled,
    /// The package failed or its process died without an answer.
    Crashed,
    /// The package and this build disagree about the protocol.
    Protocol,
}

/// How the trace ran, in the estimate (`trace` key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct TraceInfo {
    pub layers: TraceLayers,
    /// python, torch, transformers, peft as the package reported them.
    pub versions: BTreeMap<String, String>,
    pub elapsed_s: f64,
}

/// A trace's answer: the estimate of the contract and the live-memory timeline through the step.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct TraceOutcome {
    pub estimate: Estimate,
    pub timeline: Vec<TimelinePoint>,
}

/// The default time limit of one trace (the package's own limit is the same; this side kills a little later).
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(300);

/// What a trace needs from its caller: nothing is read from the process or the disk's default places here.
pub struct TraceSetup<'a> {
    /// The user's choice (Settings or `--python`); `None` searches PATH.
    pub python: Option<&'a Path>,
    /// The environment of the child, PATH included (PYTHONPATH is extended, never replaced).
    pub env: &'a EnvMap,
    /// Where the package is written ([`trace_cache_dir`]).
    pub cache_dir: &'a Path,
    pub presets: &'a PresetLibrary,
    pub resolver: &'a Resolver,
    pub time_limit: Duration,
    /// Step lengths and the allocator's mode (default: two steps at the plan's length, no expandable segments).
    pub steps: request::Steps,
}

/// The cache folder of the trace package under the app's data folder.
pub fn trace_cache_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("cache").join("trace")
}

/// What the package is sent for a plan: the plan parsed, its model resolved, and the request (protocol 1).
pub struct PreparedTrace {
    pub plan: Plan,
    pub spec: ModelSpec,
    pub request: Value,
    /// The analytic engine's figures at the step's loss, which the band's lengths doubt is defined on
    /// (docs/estimator.md §17); `None` where it cannot estimate the model.
    pub lengths: Option<LengthBytes>,
}

/// Parse a plan (the contract's JSON), refuse what one GPU cannot show, resolve its model and build the request,
/// without starting any Python: what `headroom-cli estimate --engine trace --trace-request` prints.
pub fn prepare(plan_json: &Value, setup: &TraceSetup<'_>) -> Result<PreparedTrace> {
    let presets = available_presets(setup.presets)?;
    let plan = plan_from_value(plan_json, &presets)?;
    request::check_traceable(&plan)?;
    setup.steps.check(&plan)?;
    let spec = model::resolve(&plan.model, setup.resolver)?;
    let config = model::config_of(&plan.model, setup.resolver)?;
    let preset = match &plan.quantization {
        Some(name) => Some((name.clone(), setup.presets.get(name)?.body)),
        None => None,
    };
    let weights = request::weights(preset.as_ref().map(|(n, b)| (n.as_str(), b)), &spec)?;
    let request = request::build(
        &plan,
        &config,
        weights,
        &setup.steps,
        setup.time_limit.as_secs(),
    );
    // A trace records its peak, not the step's loss, where a peak at the first recomputed layer or the optimizer
    // step holds no logits: the lengths doubt reads the analytic engine's figures instead, without its expectation
    // (a trace runs fixed lengths).
    let lengths = estimate::estimate(&spec, &plan, &presets)
        .ok()
        .map(|e| LengthBytes {
            expected_stranded: 0,
            ..e.per_gpu.length_bytes
        });
    Ok(PreparedTrace {
        plan,
        spec,
        request,
        lengths,
    })
}

/// Trace a plan (the contract's JSON): prepare it, pick the Python, ship the package, run it and map its answer.
/// Progress arrives through `on_progress`; `cancel` stops it.
pub fn trace_plan(
    plan_json: &Value,
    setup: &TraceSetup<'_>,
    cancel: &CancelToken,
    on_progress: &mut dyn FnMut(TraceProgress),
) -> Result<TraceOutcome> {
    let PreparedTrace {
        plan,
        spec,
        request,
        lengths,
    } = prepare(plan_json, setup)?;
    on_progress(TraceProgress {
        stage: Stage::Import,
        fraction: 0.0,
        message: "checking the Python".into(),
    });
    std::fs::create_dir_all(setup.cache_dir).map_err(|e| Error::io(setup.cache_dir, e))?;
    let info = python::select(setup.python, setup.env, setup.cache_dir, cancel)?;
    if matches!(plan.method, Some(Method::Lora | Method::Qlora)) {
        info.has_peft()?;
    }
    let root = package::install(setup.cache_dir, package::FILES)?;
    let env = child_env(setup.env, &root);
    let result = child::run_package(
        &info.path,
        &root,
        &env,
        request.to_string().as_bytes(),
        setup.time_limit,
        cancel,
        on_progress,
    )?;
    map::to_outcome(result, &plan, lengths, &spec.notes, &spec.note_messages)
}

/// The caller's environment with the package first on PYTHONPATH, and Python's output unbuffered so progress
/// lines arrive as they are printed.
pub fn child_env(env: &EnvMap, package_root: &Path) -> EnvMap {
    let mut env = env.clone();
    let root = package_root.display().to_string();
    let path = match env.get("PYTHONPATH").filter(|p| !p.is_empty()) {
        Some(old) => format!("{root}:{old}"),
        None => root,
    };
    env.insert("PYTHONPATH".into(), path);
    env.insert("PYTHONUNBUFFERED".into(), "1".into());
    env.insert("PYTHONIOENCODING".into(), "utf-8".into());
    env
}
