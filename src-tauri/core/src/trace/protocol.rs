//! What the Python package prints, one JSON object per stdout line (protocol version 1): progress events,
//! then exactly one result or error. Parsing only; what the events mean for a run is [`super::child`]'s job.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::estimate::{Components, ParameterSummary};

/// The protocol version this build speaks; the request carries it and the result must echo it.
pub const PROTOCOL: u32 = 1;

/// Where the trace is, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Checking the Python and importing torch (also reported by the Rust side before the package starts).
    Import,
    Build,
    Prepare,
    Forward,
    Backward,
    Optimizer,
    Decode,
    Simulate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct TraceProgress {
    pub stage: Stage,
    /// 0 to 1 over the whole trace.
    pub fraction: f64,
    #[serde(default)]
    pub message: String,
}

/// The step a byte count belongs to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Load,
    Forward,
    Backward,
    Optimizer,
    Prefill,
    Decode,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Load => "load",
            Phase::Forward => "forward",
            Phase::Backward => "backward",
            Phase::Optimizer => "optimizer",
            Phase::Prefill => "prefill",
            Phase::Decode => "decode",
        }
    }
}

/// Where the allocated peak happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct PeakPlace {
    pub phase: Phase,
    /// The module running at the peak (`model.layers.31.mlp.down_proj`); `null` outside any module.
    pub module: Option<String>,
    /// The training step (0-based) when the plan runs several sequence lengths.
    #[serde(default)]
    pub step: u64,
}

/// One point of live memory through the traced step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct TimelinePoint {
    /// The event's index in the allocation stream (the x axis).
    pub i: u64,
    pub phase: Phase,
    #[serde(default)]
    pub module: Option<String>,
    pub allocated: u64,
    pub reserved: u64,
}

/// How many decoder layers were traced; the rest were extrapolated from them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
pub struct TraceLayers {
    pub traced: u64,
    pub total: u64,
    pub extrapolated: bool,
}

/// The result event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TraceResult {
    pub protocol: u32,
    pub allocated_peak_bytes: u64,
    pub reserved_peak_bytes: u64,
    pub components: Components,
    #[serde(default)]
    pub managed_bytes: u64,
    pub peak: PeakPlace,
    #[serde(default)]
    pub timeline: Vec<TimelinePoint>,
    pub parameters: ParameterSummary,
    pub layers: TraceLayers,
    #[serde(default)]
    pub versions: BTreeMap<String, String>,
    pub elapsed_s: f64,
    #[serde(default)]
    pub notes: Vec<String>,
    /// `notes` again as message keys with typed arguments (a later, optional addition): kept as JSON here and
    /// checked one by one against the app's key list when mapped (map.rs), so a package newer or older than
    /// this app, or one that writes something else here, never makes the result unreadable.
    #[serde(default)]
    pub note_messages: Option<serde_json::Value>,
}

/// The error event's codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    NoTorch,
    TorchTooOld,
    UnknownModelType,
    Unsupported,
    TimeLimit,
    Internal,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ErrorEvent {
    pub code: ErrorCode,
    #[serde(default)]
    pub field: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Progress(TraceProgress),
    Result(Box<TraceResult>),
    Error(ErrorEvent),
}

/// How one stdout line reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    Event(Event),
    /// Not a JSON object: a library that printed to stdout. Kept as log, not an error.
    Log,
    /// A JSON object that claims to be an event but breaks the protocol: the package and this build disagree.
    Broken(String),
}

/// Read one stdout line.
pub fn parse_line(line: &str) -> Line {
    let trimmed = line.trim();
    if !trimmed.starts_with('{') {
        return Line::Log;
    }
    let value: serde_json::Value = match serde_json::from_str(trimmed) {
        Ok(v) => v,
        Err(_) => return Line::Log,
    };
    if value.get("event").is_none() {
        return Line::Log;
    }
    match serde_json::from_value::<Event>(value) {
        Ok(event) => Line::Event(event),
        Err(e) => Line::Broken(e.to_string()),
    }
}
