//! The estimate as docs/contract.md §2 prints it, and the note collector that explains it.

use serde::{Deserialize, Serialize};

use crate::message::{Key, Message};

/// Bytes per GPU at the moment of peak memory, by what holds them. Their sum is `allocated_peak_bytes`.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ts_rs::TS,
    schemars::JsonSchema,
)]
pub struct Components {
    pub weights: u64,
    pub lora: u64,
    pub gradients: u64,
    pub optimizer: u64,
    pub activations: u64,
    pub logits: u64,
    pub kv_cache: u64,
    pub workspace: u64,
}

impl Components {
    pub fn sum(&self) -> u64 {
        self.weights
            + self.lora
            + self.gradients
            + self.optimizer
            + self.activations
            + self.logits
            + self.kv_cache
            + self.workspace
    }
}

/// What grows with a training step's length at its loss, where the step's activations are all saved and the
/// loss's buffers alive, whatever moment the peak is: the bytes that batches of changing length strand
/// (docs/estimator.md §17). A plan whose peak is the optimizer step, or the first recomputed layer, has some of
/// them outside its `components`, yet a new longest batch made segments for them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LengthBytes {
    pub activations: u64,
    pub logits: u64,
    /// The segments changing lengths are expected to strand, already in the central reserved figure (a plan that
    /// leaves its lengths open, docs/estimator.md §10.3); 0 otherwise.
    pub expected_stranded: u64,
    /// Not a length's: what a bitsandbytes release before 0.43.2 would keep beyond the estimate where the plan
    /// names no release (docs/estimator.md §6.4), carried with these figures to the band, which allows for it.
    pub older_bnb: u64,
    /// Part of `activations`: what the quantized layers keep on their autograd contexts through the whole forward
    /// (bitsandbytes' inputs under checkpointing without reentrance, docs/estimator.md §6.4). A new longest batch
    /// needs every one of those blocks a little larger than the last batch's, which it leaves behind (§10.3).
    pub kept_inputs: u64,
}

#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ts_rs::TS,
    schemars::JsonSchema,
)]
pub struct PerGpu {
    pub components: Components,
    /// What `torch.cuda.max_memory_allocated()` would report: the sum of `components`.
    pub allocated_peak_bytes: u64,
    pub allocator_overhead_bytes: u64,
    /// What `torch.cuda.max_memory_reserved()` would report: allocated + allocator overhead.
    pub reserved_peak_bytes: u64,
    /// CUDA managed memory the caching allocator never sees (bitsandbytes' paged optimizer states).
    pub managed_memory_bytes: u64,
    pub cuda_context_bytes: u64,
    /// What nvidia-smi/NVML would show for the process: reserved + managed + context.
    pub device_peak_bytes: u64,
    /// Where the measured totals can fall (docs/estimator.md §17); optional beyond the contract's first version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub range: Option<super::band::PeakRanges>,
    /// The band's input for changing lengths; not part of the contract.
    #[serde(skip)]
    #[ts(skip)]
    #[schemars(skip)]
    pub length_bytes: LengthBytes,
    /// Part of `allocator_overhead_bytes`: what the allocator model of the step found reserved but free beyond the
    /// usual slack (docs/estimator.md §10.3), in segments the allocator frees before it runs out of memory; not
    /// part of the contract.
    #[serde(skip)]
    #[ts(skip)]
    #[schemars(skip)]
    pub fragmented_bytes: u64,
}

impl PerGpu {
    /// The inputs of this estimate's band, read back from its figures.
    pub fn band_inputs(&self) -> super::band::BandInputs {
        super::band::BandInputs {
            allocated: self.allocated_peak_bytes,
            logits: self.components.logits,
            lengths: self.length_bytes,
            reserved: self.reserved_peak_bytes,
            managed: self.managed_memory_bytes,
            context: self.cuda_context_bytes,
        }
    }

    /// The device peak that decides "fits" under `fit_on`: the band's upper end, or the central figure (also
    /// when an estimate carries no band).
    pub fn deciding_device_bytes(&self, fit_on: super::plan::FitOn) -> u64 {
        match (fit_on, self.range) {
            (super::plan::FitOn::High, Some(r)) => r.device_peak_bytes.high,
            _ => self.device_peak_bytes,
        }
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ts_rs::TS,
    schemars::JsonSchema,
)]
pub struct ParameterSummary {
    pub total: u64,
    pub trainable: u64,
}

/// The answer to a plan (docs/contract.md §2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct Estimate {
    pub per_gpu: PerGpu,
    /// Host RAM the run needs beyond the Python process itself: offloaded optimizer states, parameters,
    /// activations, layers a preset keeps on the CPU.
    pub cpu_bytes: u64,
    pub parameters: ParameterSummary,
    /// Present when the plan gives `gpus`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub fits: Option<bool>,
    /// GPU memory × (1 − margin) − device peak; negative when it does not fit.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub headroom_bytes: Option<i64>,
    pub notes: Vec<String>,
    /// `notes` as messages the UI renders in the user's language: the same length and order as `notes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[ts(as = "Option<Vec<Message>>", optional)]
    pub note_messages: Vec<Message>,
    /// Which engine answered (optional beyond the contract's first version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub engine: Option<EngineKind>,
    /// Trace engine only: where the allocated peak happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub peak: Option<crate::trace::PeakPlace>,
    /// Trace engine only: how the trace ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub trace: Option<crate::trace::TraceInfo>,
    /// Present when this machine's calibration replaced the default CUDA context and allocator slack
    /// (docs/estimator.md §10.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub machine_calibration: Option<super::calibration::TaskCalibration>,
    /// Present when the plan came from trainer configs (`estimate --from FILE`): what became of each of their
    /// keys (docs/trainers.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub import: Option<crate::trainers::ImportReport>,
}

/// The engine behind an estimate: the formulas (instant) or a trace of the model's code (seconds to minutes).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EngineKind {
    Analytic,
    Trace,
}

/// Collects the notes of an estimate, each as its English words and as a message the UI renders in the user's
/// language, taken together so the two lists cannot drift apart; switched off by the solver, which runs
/// thousands of estimates and reads only the totals.
pub(crate) struct Notes {
    on: bool,
    pub(crate) list: Vec<String>,
    pub(crate) messages: Vec<Message>,
}

impl Notes {
    pub(crate) fn new(on: bool) -> Self {
        Notes {
            on,
            list: Vec::new(),
            messages: Vec::new(),
        }
    }

    pub(crate) fn add(&mut self, note: impl FnOnce() -> (String, Message)) {
        if self.on {
            let (text, message) = note();
            self.list.push(text);
            self.messages.push(message);
        }
    }

    /// Notes written elsewhere with their messages beside them (the model's, a trace's): `texts[i]` with
    /// `messages[i]`. When the two lists do not pair up (a spec or a trace result from an older writer, with no
    /// or fewer messages), no message can be trusted to be its note's, and every note is shown as its English.
    pub(crate) fn extend_keyed(&mut self, texts: &[String], messages: &[Message]) {
        if !self.on {
            return;
        }
        let paired = texts.len() == messages.len();
        for (i, text) in texts.iter().enumerate() {
            let message = match messages.get(i) {
                Some(m) if paired => m.clone(),
                _ => Message::new(Key::NoteVerbatim).text("text", text.clone()),
            };
            self.list.push(text.clone());
            self.messages.push(message);
        }
    }
}

pub(crate) use super::units::gib;
