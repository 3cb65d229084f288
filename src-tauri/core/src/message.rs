//! Texts for people, as data: a message key and typed arguments, which the UI renders in the user's language
//! (ui/src/lib/messages/backend.{en,ja}.json; the core renders the same tables itself where the window cannot:
//! notifications and chart files, see [`crate::i18n`]). Every type that carries English words for a person (an
//! alert, a doctor finding, a Plan note) keeps its English string, which the command line prints and other
//! programs read (docs/contract.md), and carries a [`Message`] beside it in a new optional field.
//!
//! The keys are one closed list, [`Key`], each with the names of its arguments, so no code can emit a key the
//! UI does not know: `ui/src/lib/messages/backend-keys.json` is generated from the list (the test below fails
//! when it is stale; `UPDATE_BINDINGS=1` rewrites it) and the UI's tests check that both languages have every
//! key with exactly those placeholders.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One argument of a message, typed so the UI can format it for the active locale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum MessageArg {
    /// Shown as it is: a name, a path, a variable's value, an identifier such as a pid (no separators).
    Text(String),
    /// A size in bytes (the UI picks GiB, or MiB for small sizes).
    Bytes(u64),
    /// A whole number of things (the UI adds thousands separators).
    Count(u64),
    /// A measured number, shown with `digits` decimals.
    Number { value: f64, digits: u8 },
    /// A duration in milliseconds (the UI picks seconds, minutes or hours).
    DurationMs(u64),
    /// A phrase of its own, rendered in the same language and put in place: the one of several wordings a
    /// sentence takes (an estimate note's attention or optimizer detail), without a key for every combination.
    Message(Box<Message>),
}

/// A message key with its arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct Message {
    pub key: String,
    pub args: BTreeMap<String, MessageArg>,
}

// `Number` is never NaN (it is built from finite measurements), so equality is total; the alert types that
// carry messages compare with `Eq`.
impl Eq for MessageArg {}
impl Eq for Message {}

impl Message {
    pub fn new(key: Key) -> Self {
        Message {
            key: key.as_str().to_string(),
            args: BTreeMap::new(),
        }
    }

    fn with(mut self, name: &str, arg: MessageArg) -> Self {
        self.args.insert(name.to_string(), arg);
        self
    }

    pub fn text(self, name: &str, value: impl Into<String>) -> Self {
        self.with(name, MessageArg::Text(value.into()))
    }

    pub fn bytes(self, name: &str, value: u64) -> Self {
        self.with(name, MessageArg::Bytes(value))
    }

    pub fn count(self, name: &str, value: u64) -> Self {
        self.with(name, MessageArg::Count(value))
    }

    /// A finite number with `digits` decimals; a non-finite one is shown as text, never as NaN.
    pub fn number(self, name: &str, value: f64, digits: u8) -> Self {
        if value.is_finite() {
            self.with(name, MessageArg::Number { value, digits })
        } else {
            self.with(name, MessageArg::Text(value.to_string()))
        }
    }

    pub fn duration_ms(self, name: &str, value: u64) -> Self {
        self.with(name, MessageArg::DurationMs(value))
    }

    /// A phrase rendered in place (see [`MessageArg::Message`]).
    pub fn message(self, name: &str, value: Message) -> Self {
        self.with(name, MessageArg::Message(Box::new(value)))
    }

    /// A phrase keyed on its own, with no arguments.
    pub fn phrase(self, name: &str, key: Key) -> Self {
        self.message(name, Message::new(key))
    }

    /// A phrase the sentence may leave out: when absent, empty text (no key has an empty wording).
    pub fn optional(self, name: &str, value: Option<Message>) -> Self {
        match value {
            Some(m) => self.message(name, m),
            None => self.text(name, ""),
        }
    }

    /// [`Self::optional`] for a phrase with no arguments.
    pub fn optional_phrase(self, name: &str, key: Option<Key>) -> Self {
        self.optional(name, key.map(Message::new))
    }

    /// Whether the key is one of [`Key`] and the arguments are exactly the key's: what the tests of every module
    /// that makes messages assert.
    pub fn check(&self) -> std::result::Result<(), String> {
        let key = Key::ALL
            .iter()
            .find(|k| k.as_str() == self.key)
            .ok_or_else(|| format!("unknown message key {:?}", self.key))?;
        let mut want: Vec<&str> = key.args().to_vec();
        want.sort_unstable();
        let have: Vec<&str> = self.args.keys().map(String::as_str).collect();
        if want != have {
            return Err(format!(
                "{}: arguments {have:?}, the key declares {want:?}",
                self.key
            ));
        }
        for arg in self.args.values() {
            if let MessageArg::Message(inner) = arg {
                inner.check()?;
            }
        }
        Ok(())
    }
}

macro_rules! keys {
    ($($variant:ident = $key:literal [$($arg:ident),*],)*) => {
        /// Every message key the backend can emit, with its arguments' names.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Key { $($variant,)* }

        impl Key {
            pub const ALL: &'static [Key] = &[$(Key::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(Key::$variant => $key,)* }
            }

            pub fn args(self) -> &'static [&'static str] {
                match self { $(Key::$variant => &[$(stringify!($arg)),*],)* }
            }
        }
    };
}

keys! {
    // Monitor: level changes and recommendations (monitor/alerts.rs).
    AlertLevelNormal = "backend.alert.level.normal" [gpu],
    AlertLevelNormalPercent = "backend.alert.level.normal.percent" [gpu, percent],
    AlertLevelWarning = "backend.alert.level.warning" [gpu, percent],
    AlertLevelCritical = "backend.alert.level.critical" [gpu, percent],
    AlertLevelLost = "backend.alert.level.lost" [gpu],
    AlertBackNormal = "backend.alert.back.normal" [gpu],
    AlertBackNormalPercent = "backend.alert.back.normal.percent" [gpu, percent],
    AlertBackWarning = "backend.alert.back.warning" [gpu, percent],
    AlertBackCritical = "backend.alert.back.critical" [gpu, percent],
    AlertLevelUnread = "backend.alert.level.unread" [gpu],
    RecCheckGpu = "backend.rec.check_gpu" [gpu],
    RecStopIdle = "backend.rec.stop_idle" [name, pid, held, idle],
    RecStopIdleUnnamed = "backend.rec.stop_idle.unnamed" [pid, held, idle],
    RecExpandableSegments = "backend.rec.expandable_segments" [pid, reserved, allocated],
    RecCheckpointing = "backend.rec.checkpointing" [pid, grew, window],
    RecCheckpointingFull = "backend.rec.checkpointing.full" [pid, grew, window, full_in],
    RecSwitchLinked = "backend.rec.switch.linked" [model, pid, reason],
    RecSwitchLinkedFrom = "backend.rec.switch.linked_from" [model, pid, current, reason],
    RecSwitchFits = "backend.rec.switch.fits" [model, pid, preset, usable, batch, sequence],
    RecSwitchFitsFrom = "backend.rec.switch.fits_from" [model, pid, current, preset, usable, batch, sequence],
    RecSwitchUnlinked = "backend.rec.switch.unlinked" [pid],
    // Environment doctor (env/doctor.rs).
    DoctorLaunchBlocking = "backend.doctor.launch_blocking" [value],
    DoctorNoCaching = "backend.doctor.no_caching" [value],
    DoctorCppStacktraces = "backend.doctor.cpp_stacktraces" [value],
    DoctorDsa = "backend.doctor.dsa" [value],
    DoctorDistributedDebug = "backend.doctor.distributed_debug" [value],
    DoctorNcclDebug = "backend.doctor.nccl_debug" [value],
    DoctorEagerModules = "backend.doctor.eager_modules" [value],
    DoctorCompileTimeDsa = "backend.doctor.compile_time_dsa" [],
    DoctorNoVisibleGpu = "backend.doctor.no_visible_gpu" [value],
    DoctorDeviceOrder = "backend.doctor.device_order" [value],
    DoctorAllocConfDisagree = "backend.doctor.alloc_conf_disagree" [name, value, first, first_value],
    DoctorAllocConfNoEffect = "backend.doctor.alloc_conf_no_effect" [name, value],
    DoctorAllocTwice = "backend.doctor.alloc_twice" [name, option, first, second],
    DoctorAsyncIgnores = "backend.doctor.async_ignores" [name, options],
    DoctorBackend = "backend.doctor.backend" [name, value],
    DoctorExpandable = "backend.doctor.expandable" [name, value],
    DoctorGcThreshold = "backend.doctor.gc_threshold" [name, value],
    DoctorMaxSplit = "backend.doctor.max_split" [name, value],
    DoctorUnknownOption = "backend.doctor.unknown_option" [name, option],
    DoctorProfileSets = "backend.doctor.profile_sets" [profile, name, value, here],
    DoctorProfileSetsMissing = "backend.doctor.profile_sets_missing" [profile, name, value],
    DoctorProfileUnsets = "backend.doctor.profile_unsets" [profile, name, here],
    // Presets' costs and why a preset does not apply (estimate/recommend.rs, shown by Plan and the wizard).
    CaveatInt4 = "backend.caveat.int4" [],
    CaveatInt8 = "backend.caveat.int8" [],
    CaveatOffload = "backend.caveat.offload" [],
    CaveatCpu = "backend.caveat.cpu" [],
    UnavailableFrozen = "backend.unavailable.frozen" [],
    UnavailableQlora = "backend.unavailable.qlora" [],
    UnavailableCpu = "backend.unavailable.cpu" [],
    // Plan suggestions (estimate/recommend.rs).
    SuggestCheckpointing = "backend.suggest.checkpointing" [saving],
    SuggestOptimizer8bit = "backend.suggest.optimizer_8bit" [saving],
    SuggestChunkedLoss = "backend.suggest.chunked_loss" [saving],
    SuggestMicroBatch = "backend.suggest.micro_batch" [batch, saving],
    SuggestMicroBatchAccumulate = "backend.suggest.micro_batch.accumulate" [batch, steps, saving],
    SuggestZero3 = "backend.suggest.zero3" [gpus, saving],
    SuggestOffload = "backend.suggest.offload" [saving],
    SuggestQuantize = "backend.suggest.quantize" [preset, saving],
    // Built-in presets and environment profiles (presets/builtin.rs, env/profile.rs).
    PresetFp32 = "backend.preset.fp32" [],
    PresetBf16 = "backend.preset.bf16" [],
    PresetFp16 = "backend.preset.fp16" [],
    PresetInt8 = "backend.preset.int8" [],
    PresetInt4 = "backend.preset.int4" [],
    PresetInt4Double = "backend.preset.int4_double" [],
    PresetInt4Offload = "backend.preset.int4_offload" [],
    PresetCpu = "backend.preset.cpu" [],
    ProfileProduction = "backend.profile.production" [],
    ProfileDebug = "backend.profile.debug" [],
    // Estimate notes (estimate/: engine, weights, training, states, inference, calibration; the framework
    // profile; trace/map.rs), with the phrases their arguments choose between.
    NoteVerbatim = "backend.note.verbatim" [text],
    NoteDtype = "backend.note.dtype" [source, format, bytes, precision],
    NoteSourcePreset = "backend.note.dtype.source.preset" [preset],
    NoteSourceStored = "backend.note.dtype.source.stored" [],
    NoteInferDtype = "backend.note.dtype.infer" [],
    NoteWorkspace = "backend.note.workspace" [cublas, handles, dequant],
    NoteHandles = "backend.note.workspace.handles" [count],
    NoteHandlesAutograd = "backend.note.workspace.handles.autograd" [count],
    NoteWorkspaceDequant = "backend.note.workspace.dequant" [bytes],
    NoteLoadPeak = "backend.note.load_peak" [],
    NoteCalibrated = "backend.note.calibrated" [runs, context, slack, fit],
    NoteRunsTrainOne = "backend.note.calibrated.runs.train.one" [count],
    NoteRunsTrain = "backend.note.calibrated.runs.train" [count],
    NoteRunsInferOne = "backend.note.calibrated.runs.infer.one" [count],
    NoteRunsInfer = "backend.note.calibrated.runs.infer" [count],
    NoteFitRegression = "backend.note.calibrated.fit.regression" [],
    NoteFitDefaultContext = "backend.note.calibrated.fit.default_context" [],
    NoteAllocator = "backend.note.allocator" [percent, logits, context],
    NoteAllocatorLogits = "backend.note.allocator.logits" [bytes],
    NoteBand = "backend.note.band" [low, high, logits, context_low, context_high],
    NoteBandLogits = "backend.note.band.logits" [],
    NoteCpuPreset = "backend.note.cpu_preset" [],
    NoteCpuRam = "backend.note.cpu_ram" [bytes],
    NoteFitCentral = "backend.note.fit_central" [bytes],
    NotePagedOverflow = "backend.note.paged_overflow" [],
    NotePeakPrefill = "backend.note.peak.prefill" [],
    NotePeakGeneration = "backend.note.peak.generation" [],
    NoteKvCache = "backend.note.kv_cache" [dtype, bytes, tokens, batch, mla],
    NoteKvMla = "backend.note.kv_cache.mla" [],
    NotePrefillLast = "backend.note.prefill.last" [],
    NotePrefillAll = "backend.note.prefill.all" [],
    NoteDeviceMap = "backend.note.device_map" [gpus],
    NoteFramework = "backend.note.framework" [framework, label, settings],
    NoteActivationOffload = "backend.note.activation_offload" [],
    NoteActivations = "backend.note.activations" [per_token, checkpointing, attention],
    NoteCheckpointing = "backend.note.activations.checkpointing" [per_token],
    NoteNoCheckpointing = "backend.note.activations.no_checkpointing" [],
    NoteAttentionEager = "backend.note.activations.eager" [],
    NoteAttentionSoftcap = "backend.note.activations.softcap" [],
    NoteAttentionSdpa = "backend.note.activations.sdpa" [],
    NoteLoss = "backend.note.loss" [bytes, batch, elements, detail],
    NoteLossChunked = "backend.note.loss.chunked" [chunks],
    NoteLossWhole = "backend.note.loss.whole" [],
    NoteFsdpMixed = "backend.note.fsdp_mixed" [bytes],
    NoteOptimizerInBackward = "backend.note.optimizer_in_backward" [],
    NoteDdp = "backend.note.ddp" [],
    NoteSharding = "backend.note.sharding" [sharding, gpus, sharded],
    NoteShardedStates = "backend.note.sharding.states" [],
    NoteShardedGradients = "backend.note.sharding.gradients" [],
    NoteShardedAll = "backend.note.sharding.all" [],
    NoteNoSync = "backend.note.no_sync" [bytes],
    NotePeakBackward = "backend.note.peak.backward" [],
    NotePeakTied = "backend.note.peak.tied" [bytes],
    NotePeakStep = "backend.note.peak.step" [temporary],
    NoteStepTemporary = "backend.note.peak.step.temporary" [bytes],
    NoteStates = "backend.note.states" [params, param_bytes, master, optimizer, state_bytes, detail],
    NoteMasterCopy = "backend.note.states.master" [],
    NoteStates8bit = "backend.note.states.8bit" [],
    NoteStates32bit = "backend.note.states.32bit" [],
    NoteStatesAdafactor = "backend.note.states.adafactor" [],
    NotePagedStates = "backend.note.paged_states" [],
    NoteQuantized = "backend.note.quantized" [quantized, total, format, lm_head, bytes, upcast],
    NoteFormatInt8 = "backend.note.quantized.int8" [],
    NoteFormatNf4 = "backend.note.quantized.nf4" [],
    NoteFormatNf4Double = "backend.note.quantized.nf4_double" [],
    NoteAndLmHead = "backend.note.quantized.lm_head" [],
    NoteKbitUpcast = "backend.note.quantized.upcast" [],
    NoteMoeExperts = "backend.note.moe_experts" [],
    NoteOffloadLayers = "backend.note.offload.layers" [offloaded, layers, budget, cpu],
    NoteOffloadNone = "backend.note.offload.none" [],
    NoteOffloadUnknown = "backend.note.offload.unknown" [],
    NoteTrace = "backend.note.trace" [traced, total, rest],
    NoteTraceExtrapolated = "backend.note.trace.extrapolated" [],
    NoteTraceContext = "backend.note.trace.context" [mib],
    // Desktop notifications (monitor/notify.rs), rendered by the core itself (i18n.rs): shown while the window
    // may be hidden.
    NotifyCritical = "backend.notify.critical" [gpu],
    NotifyDemo = "backend.notify.demo" [text],
    // The exported memory chart's words (monitor/chart.rs), rendered by the core into the file.
    ChartTitle = "backend.chart.title" [source],
    ChartAxisSeconds = "backend.chart.axis.seconds" [since],
    ChartAxisMinutes = "backend.chart.axis.minutes" [since],
    ChartAxisHours = "backend.chart.axis.hours" [since],
    ChartAxisUsed = "backend.chart.axis.used" [],
    ChartCapacity = "backend.chart.capacity" [size],
    ChartGpu = "backend.chart.gpu" [gpu, name],
    ChartProcess = "backend.chart.process" [gpu, name],
    ChartNoCjkFont = "backend.chart.no_cjk_font" [],
    // The Plan view's exported breakdown chart (estimate/chart.rs).
    PlanChartTitle = "backend.plan_chart.title" [model, preset, size, verdict],
    PlanChartFits = "backend.plan_chart.fits" [free],
    PlanChartTight = "backend.plan_chart.tight" [free],
    PlanChartDoesNotFit = "backend.plan_chart.does_not_fit" [more],
    PlanChartNoGpu = "backend.plan_chart.no_gpu" [],
    PlanChartAxis = "backend.plan_chart.axis" [],
    PlanChartPart = "backend.plan_chart.part" [name, size],
    PlanChartWeights = "backend.plan_chart.part.weights" [],
    PlanChartLora = "backend.plan_chart.part.lora" [],
    PlanChartGradients = "backend.plan_chart.part.gradients" [],
    PlanChartOptimizer = "backend.plan_chart.part.optimizer" [],
    PlanChartActivations = "backend.plan_chart.part.activations" [],
    PlanChartLogits = "backend.plan_chart.part.logits" [],
    PlanChartKvCache = "backend.plan_chart.part.kv_cache" [],
    PlanChartWorkspace = "backend.plan_chart.part.workspace" [],
    PlanChartAllocator = "backend.plan_chart.part.allocator" [],
    PlanChartManaged = "backend.plan_chart.part.managed" [],
    PlanChartContext = "backend.plan_chart.part.context" [],
    // A trace's exported timeline chart (trace/chart.rs).
    TraceChartTitle = "backend.trace_chart.title" [title],
    TraceChartAxisEvents = "backend.trace_chart.axis.events" [],
    TraceChartAxisGib = "backend.trace_chart.axis.gib" [],
    TraceChartReserved = "backend.trace_chart.reserved" [],
    TraceChartAllocated = "backend.trace_chart.allocated" [],
    TraceChartPeak = "backend.trace_chart.peak" [size, phase],
    TraceChartPeakIn = "backend.trace_chart.peak_in" [size, phase, module],
    TraceChartLoad = "backend.trace_chart.phase.load" [],
    TraceChartForward = "backend.trace_chart.phase.forward" [],
    TraceChartBackward = "backend.trace_chart.phase.backward" [],
    TraceChartOptimizer = "backend.trace_chart.phase.optimizer" [],
    TraceChartPrefill = "backend.trace_chart.phase.prefill" [],
    TraceChartDecode = "backend.trace_chart.phase.decode" [],
}

impl Key {
    /// The generated list the UI's tests read: each key with its arguments' names.
    pub fn catalog_json() -> String {
        let list: Vec<serde_json::Value> = Key::ALL
            .iter()
            .map(|k| serde_json::json!({"key": k.as_str(), "args": k.args()}))
            .collect();
        let mut text = serde_json::to_string_pretty(&list).unwrap_or_default();
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_namespaced() {
        let mut seen = std::collections::BTreeSet::new();
        for k in Key::ALL {
            assert!(k.as_str().starts_with("backend."), "{}", k.as_str());
            assert!(seen.insert(k.as_str()), "{} twice", k.as_str());
        }
    }

    #[test]
    fn check_names_a_missing_or_extra_argument() {
        assert_eq!(
            Message::new(Key::RecCheckGpu).count("gpu", 0).check(),
            Ok(())
        );
        let missing = Message::new(Key::RecCheckGpu).check().unwrap_err();
        assert!(missing.contains("backend.rec.check_gpu"), "{missing}");
        let extra = Message::new(Key::CaveatInt4)
            .text("x", "y")
            .check()
            .unwrap_err();
        assert!(extra.contains("\"x\""), "{extra}");
        let unknown = Message {
            key: "nope".into(),
            args: BTreeMap::new(),
        };
        assert!(unknown.check().is_err());
    }

    #[test]
    fn arguments_travel_typed() {
        let m = Message::new(Key::RecStopIdle)
            .text("name", "python")
            .text("pid", "42")
            .bytes("held", 1 << 30)
            .duration_ms("idle", 600_000);
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(
            json["args"]["held"],
            serde_json::json!({"type": "bytes", "value": 1_073_741_824u64})
        );
        assert_eq!(
            json["args"]["name"],
            serde_json::json!({"type": "text", "value": "python"})
        );
        let nan =
            Message::new(Key::AlertLevelWarning)
                .count("gpu", 0)
                .number("percent", f64::NAN, 1);
        assert!(matches!(nan.args["percent"], MessageArg::Text(_)));
    }

    /// The UI's copy of the key list (its tests check both languages against it).
    #[test]
    fn ui_key_list_is_up_to_date() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../ui/src/lib/messages/backend-keys.json"
        );
        let fresh = Key::catalog_json();
        if std::env::var_os("UPDATE_BINDINGS").is_some() {
            std::fs::write(path, &fresh).unwrap();
            return;
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == fresh,
            "ui/src/lib/messages/backend-keys.json is out of date: run `UPDATE_BINDINGS=1 cargo test -p headroom-core message`"
        );
    }
}
