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

impl MessageArg {
    /// The argument as the command line writes it in English (see [`Message::english`]).
    fn english(&self) -> Option<String> {
        Some(match self {
            MessageArg::Text(s) => s.clone(),
            MessageArg::Bytes(n) | MessageArg::Count(n) => n.to_string(),
            MessageArg::Number { value, digits } => format!("{value:.*}", usize::from(*digits)),
            MessageArg::DurationMs(ms) => format!("{ms} ms"),
            MessageArg::Message(inner) => inner.english()?,
        })
    }
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

    /// The message in English when its key has a backend wording ([`Key::english`]): each placeholder filled
    /// with its argument as the command line shows it (numbers as written, no separators). `None` when the key
    /// (or a phrase's key) has no backend wording.
    pub fn english(&self) -> Option<String> {
        let key = Key::ALL.iter().find(|k| k.as_str() == self.key)?;
        let mut rest = key.english()?;
        let mut out = String::new();
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let name = after.find('}').map(|close| &after[..close]);
            match name.and_then(|n| self.args.get(n).map(|a| (n, a))) {
                Some((name, arg)) => {
                    out.push_str(&arg.english()?);
                    rest = &after[name.len() + 1..];
                }
                None => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        Some(out)
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
    ($($variant:ident = $key:literal [$($arg:ident),*] $(en $en:literal)?,)*) => {
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

            /// The English wording, for keys whose English the backend renders itself (an [`crate::Error`]'s
            /// message, which the command line prints): the same template as the UI's English.
            pub fn english(self) -> Option<&'static str> {
                match self { $(Key::$variant => None $(.or(Some($en)))?,)* }
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
    SuggestFixedLengths = "backend.suggest.fixed_lengths" [length, saving],
    SuggestCurrentBnb = "backend.suggest.current_bnb" [version, saving],
    SuggestExpandableSegments = "backend.suggest.expandable_segments" [saving],
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
    // Bad input, said as the reason beside the field at fault (Error::invalid_msg, FieldError::keyed): each
    // with the English the command line prints, word for word the UI's English (ui/src/lib/messages/backend.en.json).
    InvalidUnknownKey = "backend.invalid.unknown_key" [known] en "unknown key (known: {known})",
    InvalidRequired = "backend.invalid.required" [] en "is required",
    InvalidTwice = "backend.invalid.twice" [] en "is given twice",
    InvalidNotOneOf = "backend.invalid.not_one_of" [value, choices] en "`{value}` is not one of {choices}",
    InvalidMustBeGot = "backend.invalid.must_be_got" [want, got] en "must be {want}, got {got}",
    InvalidAlertWarning = "backend.invalid.alert.warning" [warning] en "{warning} is not a fraction in (0, 1]",
    InvalidAlertCritical = "backend.invalid.alert.critical" [critical, warning] en "{critical} must be a fraction above warning ({warning})",
    InvalidAlertHysteresis = "backend.invalid.alert.hysteresis" [hysteresis] en "{hysteresis} must be ≥ 0 and below warning",
    InvalidAlertTrendWindow = "backend.invalid.alert.trend_window" [] en "use at least 5 seconds",
    InvalidPidNotStoppable = "backend.invalid.pid.not_stoppable" [pid] en "{pid} is not a process Headroom may stop",
    InvalidPidNotRunning = "backend.invalid.pid.not_running" [pid] en "no process {pid} is running",
    InvalidPidOutOfRange = "backend.invalid.pid.out_of_range" [pid] en "{pid} is out of range",
    InvalidMonitorInterval = "backend.invalid.monitor.interval" [interval_ms] en "{interval_ms} ms is outside 100 ms to 10 s",
    InvalidTooLarge = "backend.invalid.too_large" [value, max] en "{value} is implausibly large (at most {max})",
    InvalidPresetOneGpu = "backend.invalid.preset.one_gpu" [index] en "write \"cuda:{index}\" for one GPU",
    InvalidPresetDiskAlone = "backend.invalid.preset.disk_alone" [] en "a model cannot run from the disk alone",
    InvalidPresetNotDevice = "backend.invalid.preset.not_device" [value] en "{value} is not a device: use a GPU index (0), \"cuda:0\", \"cpu\" or \"disk\"",
    InvalidNameGot = "backend.invalid.name.got" [problem, name] en "{problem} (got {name})",
    InvalidNameEmpty = "backend.invalid.name.empty" [] en "must not be empty",
    InvalidNameLong = "backend.invalid.name.long" [] en "must be at most 64 characters",
    InvalidNameDot = "backend.invalid.name.dot" [] en "must not start with a dot",
    InvalidNameChars = "backend.invalid.name.chars" [] en "may only contain letters, digits, '-', '_' and '.'",
    InvalidSourceUrl = "backend.invalid.source.url" [url, why] en "`{url}`: {why}",
    InvalidSourceUrlScheme = "backend.invalid.source.url.scheme" [] en "needs http:// or https://",
    InvalidSourceUrlHttp = "backend.invalid.source.url.http" [] en "only http:// and https:// are read",
    InvalidSourceUrlHost = "backend.invalid.source.url.host" [] en "has no host",
    InvalidSourceReplayFile = "backend.invalid.source.replay_file" [] en "replay: needs a file, as in replay:run.jsonl",
    InvalidSourceUnknown = "backend.invalid.source.unknown" [value, scenarios] en "`{value}` is not one of nvml, fake:SCENARIO ({scenarios}), replay:FILE, prometheus:URL, dcgm:URL, headroom:URL",
    InvalidSourceScenario = "backend.invalid.source.scenario" [value, choices] en "unknown fake scenario `{value}`; one of {choices}",
    InvalidSourceFakeGpus = "backend.invalid.source.fake_gpus" [gpus] en "{gpus} fake GPUs; use 1 to 16",
    InvalidNotValidJson = "backend.invalid.not_valid_json" [e] en "not valid JSON: {e}",
    InvalidPlanMustObjectGot = "backend.invalid.plan.must_object_got" [value] en "must be an object, got {value}",
    InvalidPlanNotValidJson = "backend.invalid.plan.not_valid_json" [inner] en "not valid JSON: {inner}",
    InvalidPlanOnlyAppliesTaskTrain = "backend.invalid.plan.only_applies_task_train" [] en "only applies to task train; remove it for infer",
    InvalidPlanUnknownPresetKnown = "backend.invalid.plan.unknown_preset_known" [name, known] en "unknown preset `{name}` (known: {known})",
    InvalidPlanWeightsAreQuantizedFrozen = "backend.invalid.plan.weights_are_quantized_frozen" [name, value] en "`{name}` weights are quantized and frozen: they cannot be trained with method {value}; use method qlora (or lora) or a 16-bit preset",
    InvalidPlanMethodQloraNeeds4 = "backend.invalid.plan.method_qlora_needs_4" [name] en "method qlora needs a 4-bit preset, `{name}` is not; use method lora",
    InvalidPlanLoraSettingsGivenBut = "backend.invalid.plan.lora_settings_given_but" [value] en "LoRA settings given but method is {value}; use method lora or qlora, or remove lora",
    InvalidPlanOnlyAppliesBesideLora = "backend.invalid.plan.only_applies_beside_lora" [] en "only applies beside LoRA (method lora or qlora)",
    InvalidPlanCannotCombinedGradientAccumulation = "backend.invalid.plan.cannot_combined_gradient_accumulation" [] en "cannot be combined with gradient_accumulation_steps > 1: the step runs inside backward",
    InvalidPlanSequenceLengthTokensPer = "backend.invalid.plan.sequence_length_tokens_per" [batch_size, sequence_length] en "{batch_size} × sequence_length {sequence_length} tokens per micro-batch is implausibly large",
    InvalidPlanOnlyAppliesTaskInfer = "backend.invalid.plan.only_applies_task_infer" [] en "only applies to task infer (tokens generated after the prompt)",
    InvalidPlanOnlyAppliesTaskInfer2 = "backend.invalid.plan.only_applies_task_infer2" [] en "only applies to task infer",
    InvalidPlanMoreThanOneNode = "backend.invalid.plan.more_than_one_node" [] en "more than one node needs gpus (how many GPUs each node has)",
    InvalidPlanZeroFsdpShardTraining = "backend.invalid.plan.zero_fsdp_shard_training" [] en "ZeRO and FSDP shard training state; for infer use sharding none",
    InvalidPlanOptimizerOffloadZeroFeature = "backend.invalid.plan.optimizer_offload_zero_feature" [] en "optimizer offload is a ZeRO feature: set sharding to zero1, zero2 or zero3",
    InvalidPlanParameterOffloadNeedsSharded = "backend.invalid.plan.parameter_offload_needs_sharded" [] en "parameter offload needs sharded parameters: set sharding to zero3 or fsdp_full_shard",
    InvalidPlanFsdpOffloadsParametersOptimizer = "backend.invalid.plan.fsdp_offloads_parameters_optimizer" [] en "FSDP offloads parameters and optimizer together: use optimizer_and_params with fsdp_full_shard",
    InvalidPlanMustAtLeast0 = "backend.invalid.plan.must_at_least_0" [m] en "must be at least 0 and below 1 (a fraction of GPU memory), got {m}",
    InvalidPlanOnlyAppliesMethodFreeze = "backend.invalid.plan.only_applies_method_freeze" [] en "only applies to method freeze",
    InvalidPlanBitsandbytesVersion = "backend.invalid.plan.bitsandbytes_version" [value] en "expected a bitsandbytes release such as \"0.43.2\", got \"{value}\"",
    InvalidPlanOnlyAppliesShardingFsdp = "backend.invalid.plan.only_applies_sharding_fsdp" [] en "only applies with sharding fsdp_full_shard or fsdp_shard_grad_op",
    InvalidPlanOnlyAppliesMethodLora = "backend.invalid.plan.only_applies_method_lora" [] en "only applies to method lora or qlora: full trains every parameter, freeze trains whole decoder layers, so no FSDP unit mixes frozen and trainable parameters",
    InvalidPlanMustPositiveNumberGot = "backend.invalid.plan.must_positive_number_got" [a] en "must be a positive number, got {a}",
    InvalidPlanMustNumberAtLeast = "backend.invalid.plan.must_number_at_least" [d] en "must be a number at least 0 and below 1, got {d}",
    InvalidPlanMustNameAtLeast = "backend.invalid.plan.must_name_at_least" [] en "must name at least one module, or be \"all-linear\"",
    InvalidPlanEveryEntryMustModule = "backend.invalid.plan.every_entry_must_module" [blank] en "every entry must be a module name, got {blank}",
    InvalidPlanMustPositiveNumberGib = "backend.invalid.plan.must_positive_number_gib" [gib] en "must be a positive number of GiB, got {gib}",
    InvalidPlanUnknownGpuKnown = "backend.invalid.plan.unknown_gpu_known" [name, value] en "unknown GPU `{name}` (known: {value})",
    InvalidPlanGiveMemoryGibPer = "backend.invalid.plan.give_memory_gib_per" [] en "give memory_gib (per GPU) or model (a catalog GPU name)",
    InvalidPlanGiveOneMemoryGib = "backend.invalid.plan.give_one_memory_gib" [] en "give one of memory_gib, memory_bytes or model, not more",
    InvalidModelArchitectureModelTypeUnknown = "backend.invalid.model.architecture_model_type_unknown" [id, model_type] en "the architecture of `{id}` (model_type `{model_type}`) is unknown, so its activations and KV cache cannot be estimated",
    InvalidModelNumLayersHiddenSize = "backend.invalid.model.num_layers_hidden_size" [] en "num_layers, hidden_size and vocab_size must be positive",
    InvalidModelImplausiblyLargeAtMost = "backend.invalid.model.implausibly_large_at_most" [name, value, max] en "{name} = {value} is implausibly large (at most {max})",
    InvalidModelLinearLayerHasImplausible = "backend.invalid.model.linear_layer_has_implausible" [name] en "linear layer `{name}` has implausible sizes",
    InvalidModelLinearLayerHoldsImplausibly = "backend.invalid.model.linear_layer_holds_implausibly" [name] en "linear layer `{name}` holds implausibly many parameters",
    InvalidModelMustObjectExactlyOne = "backend.invalid.model.must_object_exactly_one" [] en "must be an object with exactly one of id, path, config",
    InvalidModelUnknownKeyExpectedExactly = "backend.invalid.model.unknown_key_expected_exactly" [] en "unknown key; expected exactly one of id, path, config",
    InvalidModelMustHaveExactlyOne = "backend.invalid.model.must_have_exactly_one" [value] en "must have exactly one of id, path, config (got {value})",
    InvalidMustNotEmpty = "backend.invalid.must_not_empty" [] en "must not be empty",
    InvalidModelNeitherBuiltCatalogNor = "backend.invalid.model.neither_built_catalog_nor" [id, value] en "{id} is neither in the built-in catalog nor in the local Hugging Face cache{value}",
    InvalidModelNeitherBuiltCatalogNor2 = "backend.invalid.model.neither_built_catalog_nor2" [id] en "{id} is neither in the built-in catalog nor in the local Hugging Face cache",
    InvalidModelHasNoConfigJson = "backend.invalid.model.has_no_config_json" [folder] en "{folder} has no config.json",
    InvalidModelHuggingFaceCacheBut = "backend.invalid.model.hugging_face_cache_but" [id] en "{id} is in the Hugging Face cache but has no snapshot",
    InvalidModelNotModelTypeHeadroom = "backend.invalid.model.not_model_type_headroom" [model_type] en "{model_type} is not a model type Headroom knows, and without safetensors nothing can be counted",
    InvalidModelNotModelTypeHeadroom2 = "backend.invalid.model.not_model_type_headroom2" [model_type] en "{model_type} is not a model type Headroom knows and the folder has no safetensors to count",
    InvalidModelMustJsonObjectGot = "backend.invalid.model.must_json_object_got" [other] en "must be a JSON object, got {other}",
    InvalidModelTheseSizesGiveParameters = "backend.invalid.model.these_sizes_give_parameters" [total] en "these sizes give {total} parameters, more than a 64-bit count holds",
    InvalidMustAtMostCharacters = "backend.invalid.must_at_most_characters" [max] en "must be at most {max} characters",
    InvalidPresetNeitherStrategyNorDevice = "backend.invalid.preset.neither_strategy_nor_device" [name, strategies, m] en "{name} is neither a strategy ({strategies}) nor a device: {m}",
    InvalidPresetExplicitDeviceMapNeeds = "backend.invalid.preset.explicit_device_map_needs" [] en "an explicit device map needs at least one module (\"\" means the whole model)",
    InvalidPresetModuleNameCannotContain = "backend.invalid.preset.module_name_cannot_contain" [] en "a module name cannot contain spaces",
    InvalidPresetUnknownDeviceUseGpu = "backend.invalid.preset.unknown_device_use_gpu" [] en "unknown device: use a GPU index (\"0\"), \"cpu\" or \"disk\"",
    InvalidPresetOnlyAppliesWhenDevice = "backend.invalid.preset.only_applies_when_device" [] en "only applies when device_map is \"auto\", \"balanced\", \"balanced_low_0\" or \"sequential\" (transformers ignores it otherwise)",
    InvalidPresetDeviceCpuPutEvery = "backend.invalid.preset.device_cpu_put_every" [] en "the device is \"cpu\": put every module on \"cpu\" (or leave device_map empty)",
    InvalidPresetDeviceCpuGpuLimits = "backend.invalid.preset.device_cpu_gpu_limits" [] en "the device is \"cpu\": GPU limits do not apply",
    InvalidPresetLoad4bitLoad8bit = "backend.invalid.preset.load_4bit_load_8bit" [] en "load_in_4bit and load_in_8bit are both true, but only one can be used at the same time",
    InvalidPresetNeitherLoad8bitNor = "backend.invalid.preset.neither_load_8bit_nor" [] en "neither load_in_8bit nor load_in_4bit is true: this config quantizes nothing (remove the quantization section for an unquantized preset)",
    InvalidPresetMustFiniteFloatAt = "backend.invalid.preset.must_finite_float_at" [value] en "must be a finite float of at least 0.0 (got {value})",
    InvalidPresetNotModuleName = "backend.invalid.preset.not_module_name" [m] en "{m} is not a module name",
    InvalidPresetBitsandbytesQuantizationRunsCuda = "backend.invalid.preset.bitsandbytes_quantization_runs_cuda" [] en "bitsandbytes quantization runs on a CUDA GPU: set device to \"cuda\" or remove quantization",
    InvalidPresetMustTrueWhenDevice = "backend.invalid.preset.must_true_when_device" [] en "must be true when device_map puts modules on the CPU or disk (transformers refuses to dispatch a quantized model there otherwise)",
    InvalidPresetMustTrueWhenMax = "backend.invalid.preset.must_true_when_max" [] en "must be true when max_memory lets modules spill to the CPU or disk (transformers refuses to dispatch a quantized model there otherwise)",
    InvalidBnbMustJsonObjectWritten = "backend.invalid.bnb.must_json_object_written" [] en "must be a JSON object as written by BitsAndBytesConfig.to_dict()",
    InvalidBnbUnknownKeyNotBitsandbytesconfig = "backend.invalid.bnb.unknown_key_not_bitsandbytesconfig" [] en "unknown key: not a BitsAndBytesConfig field",
    InvalidBnbNotBitsandbytesOnlyBitsandbytes = "backend.invalid.bnb.not_bitsandbytes_only_bitsandbytes" [method] en "is {method}, not \"bitsandbytes\": only bitsandbytes quantization can be imported",
    InvalidBnbMustFloatWrite0 = "backend.invalid.bnb.must_float_write_0" [n] en "must be a float: write {n}.0 (transformers raises TypeError for the integer {n})",
    InvalidBnbMustFloatSuch6 = "backend.invalid.bnb.must_float_such_6" [other] en "must be a float such as 6.0, not {other}",
    InvalidBnbMustModuleNameString = "backend.invalid.bnb.must_module_name_string" [item] en "must be a module name (a string), not {item}",
    InvalidBnbMustListModuleNames = "backend.invalid.bnb.must_list_module_names" [other] en "must be a list of module names or null, not {other}",
    InvalidBnbNotComputeDtypeUse = "backend.invalid.bnb.not_compute_dtype_use" [s] en "{s} is not a compute dtype: use \"float32\", \"float16\" or \"bfloat16\"",
    InvalidBnbMustDtypeNameSuch = "backend.invalid.bnb.must_dtype_name_such" [other] en "must be a dtype name such as \"bfloat16\", not {other}",
    InvalidBnbMustNf4Fp4What = "backend.invalid.bnb.must_nf4_fp4_what" [other] en "must be \"nf4\" or \"fp4\" (what bitsandbytes accepts), not {other}",
    InvalidBnbNotAllowedUseOne = "backend.invalid.bnb.not_allowed_use_one" [s] en "{s} is not allowed: use one of float16, float32, int8, uint8, float64, bfloat16",
    InvalidBnbMustDtypeNameSuch2 = "backend.invalid.bnb.must_dtype_name_such2" [other] en "must be a dtype name such as \"uint8\", not {other}",
    InvalidBnbMustTrueFalseNot = "backend.invalid.bnb.must_true_false_not" [other] en "must be true or false, not {other}",
    InvalidConfigOnlyAppliesTrainingRemove = "backend.invalid.config.only_applies_training_remove" [] en "only applies to training: remove it or set task to \"train\"",
    InvalidConfigLoraSettingsNeedMethod = "backend.invalid.config.lora_settings_need_method" [] en "LoRA settings need method \"lora\" or \"qlora\"",
    InvalidConfigHasMoreThanSteps = "backend.invalid.config.has_more_than_steps" [max] en "has more than {max} steps",
    InvalidConfigAlreadyEarlierChain = "backend.invalid.config.already_earlier_chain" [name] en "{name} is already earlier in the chain",
    InvalidMustAtLeast1 = "backend.invalid.must_at_least_1" [] en "must be at least 1",
    InvalidConfigMustPositiveNumber = "backend.invalid.config.must_positive_number" [] en "must be a positive number",
    InvalidConfigMustAtLeast0 = "backend.invalid.config.must_at_least_0" [] en "must be at least 0.0 and below 1.0",
    InvalidConfigNameAtLeastOne = "backend.invalid.config.name_at_least_one" [] en "name at least one module, or use \"all-linear\"",
    InvalidConfigNotModuleName = "backend.invalid.config.not_module_name" [n] en "{n} is not a module name",
    InvalidConfigNoPresetNamed = "backend.invalid.config.no_preset_named" [preset] en "no preset named {preset}",
    InvalidConfigQloraTrains4Bit = "backend.invalid.config.qlora_trains_4_bit" [preset] en "QLoRA trains on 4-bit weights, but preset {preset} is not 4-bit: choose int4, int4_double or int4_offload, or method \"lora\"",
    InvalidConfigNoPresetNamed2 = "backend.invalid.config.no_preset_named2" [name] en "no preset named {name}",
    InvalidBundleMustThisNotHeadroom = "backend.invalid.bundle.must_this_not_headroom" [format] en "must be {format}: this is not a Headroom bundle",
    InvalidBundleAlreadyExistsHereDifferent = "backend.invalid.bundle.already_exists_here_different" [conflicts, names] en "already exists here with different settings ({conflicts} conflict(s): {names}); choose to skip or replace them",
    InvalidWizardOnlyAppliesTrainingInference = "backend.invalid.wizard.only_applies_training_inference" [] en "only applies to training: inference runs no backward pass, so there are no activations to recompute",
    InvalidWizardNotModelCatalogPick = "backend.invalid.wizard.not_model_catalog_pick" [model_id] en "{model_id} is not in the model catalog: pick one from the list",
    InvalidWizardHasNoMemoryFree = "backend.invalid.wizard.has_no_memory_free" [gpu] en "{gpu} has no memory free right now: free some, or plan for a catalog GPU",
    InvalidConfigHasMoreThanOne = "backend.invalid.config.has_more_than_one" [model_id] en "{model_id} has more than one '/': use a Hugging Face id such as org/name",
    InvalidConfigPartModelIdCannot = "backend.invalid.config.part_model_id_cannot" [model_id] en "{model_id}: a part of a model id cannot contain \"--\"",
    InvalidConfigNoConfigSaved = "backend.invalid.config.no_config_saved" [model_id] en "no config saved for {model_id}",
    InvalidPresetPresetNamedAlreadyExists = "backend.invalid.preset.preset_named_already_exists" [name] en "a preset named {name} already exists",
    InvalidPresetBuiltPresetCannotChanged = "backend.invalid.preset.built_preset_cannot_changed" [name] en "{name} is a built-in preset and cannot be changed; duplicate it under a new name",
    InvalidPresetNoPresetNamedSee = "backend.invalid.preset.no_preset_named_see" [name] en "no preset named {name} (see `headroom-cli presets list`)",
    InvalidPresetSConfigAlreadyUses = "backend.invalid.preset.s_config_already_uses" [model_id, preset] en "{model_id}'s config already uses {preset}",
    InvalidPresetTrainedMethodWhichUpdates = "backend.invalid.preset.trained_method_which_updates" [model_id, name, preset, bits] en "{model_id} is trained with method \"{name}\", which updates the base weights; {preset} loads them in {bits} bits, which cannot be trained. Change the method to \"lora\" or \"qlora\" in its config first",
    InvalidPresetPresetDoesNotQuantize = "backend.invalid.preset.preset_does_not_quantize" [name, weights] en "preset {name} does not quantize (it loads weights in {weights}), so it has no BitsAndBytesConfig; export it with --format kwargs or --format python instead",
    InvalidProfileNotVariableNameLetter = "backend.invalid.profile.not_variable_name_letter" [name] en "{name} is not a variable name (a letter or '_', then letters, digits and '_')",
    InvalidMustNotContainNul = "backend.invalid.must_not_contain_nul" [] en "must not contain a NUL byte",
    InvalidProfileMustNotContainLine = "backend.invalid.profile.must_not_contain_line" [] en "must not contain a line break",
    InvalidProfileAppearsTwice = "backend.invalid.profile.appears_twice" [name] en "{name} appears twice",
    InvalidProfileNoProfileNamedBuilt = "backend.invalid.profile.no_profile_named_built" [name, builtin] en "no profile named {name} (built in: {builtin})",
    InvalidProfileHasNoStoredValue = "backend.invalid.profile.has_no_stored_value" [name, redacted] en "{name} has no stored value to keep ({redacted} stands for a hidden secret): enter the value",
    InvalidProfileBuiltProfileCannotChanged = "backend.invalid.profile.built_profile_cannot_changed" [name] en "{name} is a built-in profile and cannot be changed",
    InvalidProfileBuiltCannotDeleted = "backend.invalid.profile.built_cannot_deleted" [name] en "{name} is built in and cannot be deleted",
    InvalidProfileNoProfileNamed = "backend.invalid.profile.no_profile_named" [name] en "no profile named {name}",
    InvalidEnvUnterminatedSingleQuote = "backend.invalid.env.unterminated_single_quote" [] en "unterminated single quote",
    InvalidEnvUnterminatedDoubleQuote = "backend.invalid.env.unterminated_double_quote" [] en "unterminated double quote",
    InvalidEnvLineEndsLoneBackslash = "backend.invalid.env.line_ends_lone_backslash" [] en "line ends with a lone backslash",
    InvalidEnvDoesNotExist = "backend.invalid.env.does_not_exist" [path] en "{path} does not exist",
    InvalidEnvNoRunningProcessId = "backend.invalid.env.no_running_process_id" [pid] en "no running process with id {pid}",
    InvalidSourceEmpty = "backend.invalid.source.empty" [] en "is empty",
    InvalidSourceNeedsUrlHttpGpu = "backend.invalid.source.needs_url_http_gpu" [kind, value] en "{kind}: needs a URL, as in {kind}:http://gpu-host:{value}",
    InvalidSourcePrometheusTakesOneServer = "backend.invalid.source.prometheus_takes_one_server" [] en "prometheus: takes one server; it already reads every host it scrapes",
    InvalidSourceUserNeedsPasswordSource = "backend.invalid.source.user_needs_password_source" [user, env] en "user `{user}` needs a password: --source-password-file FILE or {env}",
    InvalidSourceBearerTokenUserS = "backend.invalid.source.bearer_token_user_s" [] en "a bearer token and a user's password were both given; use one",
    InvalidMonitorRecorderFailedEarlierRestart = "backend.invalid.monitor.recorder_failed_earlier_restart" [] en "the recorder failed earlier; restart the source",
    InvalidMonitorAlreadyRecording = "backend.invalid.monitor.already_recording" [path] en "already recording to {path}",
    InvalidMonitorMsOutside1Min = "backend.invalid.monitor.ms_outside_1_min" [range_ms] en "{range_ms} ms is outside 1 min to 24 h",
    InvalidMonitorNothingBeingRecorded = "backend.invalid.monitor.nothing_being_recorded" [] en "nothing is being recorded",
    InvalidMonitorChooseRecordingJsonlReplay = "backend.invalid.monitor.choose_recording_jsonl_replay" [] en "choose a recording (.jsonl) to replay",
    InvalidMonitorNameRemoteSourcePrometheus = "backend.invalid.monitor.name_remote_source_prometheus" [] en "name a remote source: prometheus:URL, dcgm:URL or headroom:URL",
    InvalidExporterNotAddressLike127 = "backend.invalid.exporter.not_address_like_127" [text, port] en "`{text}` is not an address like 127.0.0.1:{port}, [::1]:{port} or {port}",
    InvalidExporterCannotListen = "backend.invalid.exporter.cannot_listen" [addr, e] en "cannot listen on {addr}: {e}",
    InvalidExporterNotIpAddress = "backend.invalid.exporter.not_ip_address" [] en "not an IP address",
    InvalidExporterCannotStartExporterS = "backend.invalid.exporter.cannot_start_exporter_s" [e] en "cannot start the exporter's thread: {e}",
    InvalidTrainerNotValidYaml = "backend.invalid.trainer.not_valid_yaml" [e] en "not valid YAML: {e}",
    InvalidTrainerTrainerConfigMappingKeys = "backend.invalid.trainer.trainer_config_mapping_keys" [] en "a trainer config is a mapping of keys to values",
    InvalidTrainerNoTrainerConfigGiven = "backend.invalid.trainer.no_trainer_config_given" [] en "no trainer config given",
    InvalidTrainerNotTrainerConfigHeadroom = "backend.invalid.trainer.not_trainer_config_headroom" [] en "not a trainer config Headroom knows (Axolotl, LLaMA-Factory, TrainingArguments/TRL, torchtune, LitGPT, accelerate or DeepSpeed; docs/trainers.md)",
    InvalidTrainerFilesDisagreeGivesGives = "backend.invalid.trainer.files_disagree_gives_gives" [file, key, value, other_file, other_key, plan_value] en "the files disagree: {file} {key} gives {value}, {other_file} {other_key} gives {plan_value}",
    InvalidTrainerOnlyTrainingPlanHas = "backend.invalid.trainer.only_training_plan_has" [] en "only a training plan has a trainer config to export",
    InvalidTrainerFsdpNotDeepspeedExport = "backend.invalid.trainer.fsdp_not_deepspeed_export" [] en "FSDP is not DeepSpeed: export this plan as an accelerate config instead",
    InvalidTrainerCouldNotWriteJson = "backend.invalid.trainer.could_not_write_json" [e] en "could not write JSON: {e}",
    InvalidRunNotAbsolutePathStart = "backend.invalid.run.not_absolute_path_start" [cwd] en "{cwd} is not an absolute path (start it with /)",
    InvalidRunGiveBatchSizeMicro = "backend.invalid.run.give_batch_size_micro" [] en "give it with the batch size (the micro-batch it accumulates)",
    InvalidRunGiveBatchSizeGet = "backend.invalid.run.give_batch_size_get" [] en "give it with the batch size to get an estimate per preset",
    InvalidRunGiveSequenceLengthGet = "backend.invalid.run.give_sequence_length_get" [] en "give it with the sequence length to get an estimate per preset",
    InvalidRunMustNameAtLeast = "backend.invalid.run.must_name_at_least" [] en "must name at least one preset",
    InvalidRunChainMustStartPreset = "backend.invalid.run.chain_must_start_preset" [] en "the chain must start with a preset: mb/2 changes the attempt before it",
    InvalidRunNeitherPresetNameNor = "backend.invalid.run.neither_preset_name_nor" [entry] en "{entry} is neither a preset name nor a batch step (the one batch step is mb/2)",
    InvalidRunMb2NeedsRun = "backend.invalid.run.mb_2_needs_run" [] en "mb/2 needs the run's micro-batch: give the batch size (and gradient accumulation) the command trains with",
    InvalidRunMicroBatchAlready1 = "backend.invalid.run.micro_batch_already_1" [] en "the micro-batch is already 1 here: mb/2 has nothing to halve",
    InvalidRunMicroBatchHereWhich = "backend.invalid.run.micro_batch_here_which" [micro_batch, grad_accum] en "the micro-batch is {micro_batch} here, which is odd: halving it would change the global batch ({micro_batch} × {grad_accum})",
    InvalidRunGradientAccumulationWouldOverflow = "backend.invalid.run.gradient_accumulation_would_overflow" [] en "the gradient accumulation would overflow",
    InvalidRunChainMustStartPreset2 = "backend.invalid.run.chain_must_start_preset2" [] en "the chain must start with a preset",
    InvalidRunCommandEmpty = "backend.invalid.run.command_empty" [] en "the command is empty",
    InvalidRunProgramNameEmpty = "backend.invalid.run.program_name_empty" [] en "the program name is empty",
    InvalidRunBelowSmallestLogBound = "backend.invalid.run.below_smallest_log_bound" [limit, min] en "{limit} is below the smallest log bound, {min} bytes",
    InvalidRunStepPastChainS = "backend.invalid.run.step_past_chain_s" [step, chain] en "step {step} is past the chain's end ({chain} steps)",
    InvalidRunNotDirectory = "backend.invalid.run.not_directory" [cwd] en "{cwd} is not a directory",
    InvalidRunAskedPresetPresetSource = "backend.invalid.run.asked_preset_preset_source" [name, preset] en "asked for preset {name}, the preset source gave {preset}",
    InvalidRunNeedsRunSMicro = "backend.invalid.run.needs_run_s_micro" [p] en "{p} needs the run's micro-batch: give the batch size the command trains with",
    InvalidPresetNameModelSnippetLoads = "backend.invalid.preset.name_model_snippet_loads" [] en "name the model the snippet loads, such as meta-llama/Llama-3.1-8B",
    InvalidPlanNotJsonObject = "backend.invalid.plan.not_json_object" [path] en "{path} is not a JSON object",
    InvalidPlanNotValidJson2 = "backend.invalid.plan.not_valid_json2" [path, e] en "{path} is not valid JSON: {e}",
    InvalidPlanTraceAlreadyRunningCancel = "backend.invalid.plan.trace_already_running_cancel" [] en "a trace is already running; cancel it first",
    InvalidMonitorNoSourceRunningStart = "backend.invalid.monitor.no_source_running_start" [] en "no source is running; start the monitor first",
    InvalidMonitorPointsUse220 = "backend.invalid.monitor.points_use_2_20" [points] en "{points} points; use 2 to 20,000",
    InvalidMonitorDemoProcessDemoProcesses = "backend.invalid.monitor.demo_process_demo_processes" [pid] en "{pid} is a demo process; demo processes are simulated and cannot be stopped",
    InvalidTraceTraceEngineTracesOne = "backend.invalid.trace.trace_engine_traces_one" [why] en "{why}; the trace engine traces one process on a single GPU (use --engine analytic)",
    InvalidTraceAppliesTrainingOnlyOne = "backend.invalid.trace.applies_training_only_one" [] en "applies to training only (one training step per length)",
    InvalidTraceStepsMoreThan64 = "backend.invalid.trace.steps_more_than_64" [sequence_lengths] en "{sequence_lengths} steps is more than the 64 a trace runs",
    InvalidTraceNotLengthFrom1 = "backend.invalid.trace.not_length_from_1" [s, max_count] en "{s} is not a length from 1 to {max_count}",
    InvalidTracePresetRunsCpuTrace = "backend.invalid.trace.preset_runs_cpu_trace" [name] en "preset `{name}` runs on the CPU; the trace engine traces a GPU",
    InvalidTracePresetOffloadsLayersCpu = "backend.invalid.trace.preset_offloads_layers_cpu" [name] en "preset `{name}` offloads layers to the CPU, which the trace engine does not follow",
    InvalidTracePresetStores4Bit = "backend.invalid.trace.preset_stores_4_bit" [name] en "preset `{name}` stores 4-bit weights as float64, which the trace engine does not model",
    InvalidTracePresetHasQuantizationConfig = "backend.invalid.trace.preset_has_quantization_config" [name] en "preset `{name}` has a quantization config that loads neither 4-bit nor 8-bit",
    InvalidRunHasNoSavedConfig = "backend.invalid.run.has_no_saved_config" [model_id] en "{model_id} has no saved config, so there is no task or method to estimate with: save one in the Presets view, give the run a plan, or leave batch size and sequence length empty",
    InvalidRunNoSuchProgramLooked = "backend.invalid.run.no_such_program_looked" [program] en "{program}: no such program (looked up in the PATH of the profile's environment)",
    InvalidRunNotExecutable = "backend.invalid.run.not_executable" [program] en "{program}: not executable",
    InvalidRunMustJsonObjectPreset = "backend.invalid.run.must_json_object_preset" [preset] en "must be a JSON object (preset {preset})",
    InvalidRunUnknownPresetKnownUntil = "backend.invalid.run.unknown_preset_known_until" [other, default_fallback_chain] en "unknown preset {other} (known until per-model presets exist: {default_fallback_chain})",
    InvalidRunUnknownPreset = "backend.invalid.run.unknown_preset" [preset] en "unknown preset {preset}",
    InvalidRunNoRun = "backend.invalid.run.no_run" [run_id] en "no run {run_id}",
    InvalidRunRunHasNotFinished = "backend.invalid.run.run_has_not_finished" [run_id] en "run {run_id} has not finished",
    InvalidRunRunHasNoAttempt = "backend.invalid.run.run_has_no_attempt" [run_id, attempt] en "run {run_id} has no attempt {attempt}",
    InvalidRunRunNotRunning = "backend.invalid.run.run_not_running" [run_id] en "run {run_id} is not running",
    InvalidRunPlanObject = "backend.invalid.run.plan_object" [] en "must be a JSON object (docs/contract.md §1)",
    InvalidRunPlanOtherModel = "backend.invalid.run.plan_other_model" [id, model_id] en "the plan is for {id}, the run for {model_id}: give the run --model {id}, or a plan for {model_id}",
    InvalidRunPlanModelObject = "backend.invalid.run.plan_model_object" [] en "must be an object: {\"id\": …}, {\"path\": …} or {\"config\": …}",
    InvalidBundleNewer = "backend.invalid.bundle.newer" [version, reads] en "{version} was written by a newer Headroom (this build reads version {reads})",
    InvalidBundleNoVersion = "backend.invalid.bundle.no_version" [version] en "{version} does not exist",
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
    NoteCalibratedLengths = "backend.note.calibrated.lengths" [runs, share],
    NoteRunsTrainOne = "backend.note.calibrated.runs.train.one" [count],
    NoteRunsTrain = "backend.note.calibrated.runs.train" [count],
    NoteRunsInferOne = "backend.note.calibrated.runs.infer.one" [count],
    NoteRunsInfer = "backend.note.calibrated.runs.infer" [count],
    NoteFitRegression = "backend.note.calibrated.fit.regression" [],
    NoteFitDefaultContext = "backend.note.calibrated.fit.default_context" [],
    NoteAllocator = "backend.note.allocator" [percent, logits, context],
    NoteAllocatorLogits = "backend.note.allocator.logits" [bytes],
    NoteAllocatorSimulated = "backend.note.allocator.simulated" [bytes, slack, room],
    NoteAllocatorSimulatedRoom = "backend.note.allocator.simulated.room" [bytes],
    NoteNccl = "backend.note.nccl" [bytes, ranks, high],
    NoteExpandableSegments = "backend.note.expandable_segments" [],
    NoteBand = "backend.note.band" [low, high, logits, bnb, lengths, context_low, context_high],
    NoteBandLogits = "backend.note.band.logits" [],
    NoteBandOlderBnb = "backend.note.band.older_bnb" [],
    NoteBandLengths = "backend.note.band.lengths" [logits, activations],
    NoteBandLengthsLogits = "backend.note.band.lengths_logits" [logits],
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
    NoteLegacyKvCache = "backend.note.legacy_kv_cache" [bytes],
    NoteDeviceMap = "backend.note.device_map" [gpus],
    NoteFramework = "backend.note.framework" [framework, label, settings],
    NoteActivationOffload = "backend.note.activation_offload" [],
    NoteBnbInputs = "backend.note.bnb_inputs" [version, per_token],
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
    // The model's own notes (model/: config readings, checkpoint counts, catalog provenance), with the English
    // the model writes into its spec's `notes` (the command line's words, docs/contract.md).
    NoteModelDtypeUnknown = "backend.note.model.dtype_unknown" [dtype] en "config.json dtype {dtype} is not one Headroom sizes; assumed float32",
    NoteModelDtypeMissing = "backend.note.model.dtype_missing" [] en "config.json names no dtype; assumed float32, what transformers loads without one",
    NoteModelPrequantized = "backend.note.model.prequantized" [method] en "pre-quantized checkpoint (quant_method {method}): parameters are counted unpacked, the stored dtype is the quantized one",
    NoteModelQuantUnknown = "backend.note.model.quant_unknown" [method] en "quantization_config with quant_method {method} is not one Headroom unpacks; stored tensors counted as they are",
    NoteModelTypeUnknown = "backend.note.model.type_unknown" [model_type, known] en "model_type {model_type} is not one Headroom knows ({known}); parameter counts come from the safetensors headers only",
    NoteModelSoftcapping = "backend.note.model.softcapping" [key, value] en "{key} = {value}: tanh soft-capping",
    NoteModelGroupRouting = "backend.note.model.group_routing" [groups, top] en "group-limited routing: experts in {groups} groups, each token routed within {top} of them (no parameters)",
    NoteModelNextn = "backend.note.model.nextn" [] en "num_nextn_predict_layers: the multi-token-prediction layers are not built by transformers and not counted",
    NoteModelBert = "backend.note.model.bert" [labels] en "BERT counted as BertForSequenceClassification with {labels} labels (pooler and classifier included)",
    NoteModelEncoderDecoder = "backend.note.model.encoder_decoder" [] en "encoder-decoder model: num_layers counts encoder and decoder blocks together",
    NoteModelCatalogSource = "backend.note.model.catalog_source" [source] en "catalog source: {source}",
    NoteModelCatalogNote = "backend.note.model.catalog_note" [text] en "{text}",
    NoteModelCatalogGptNeoxCount = "backend.note.model.catalog.gpt_neox_count" [] en "GPT-NeoX arch; param_count computed from arch (~3.6B)",
    NoteModelCatalogMaxPositions = "backend.note.model.catalog.max_positions" [] en "HF config max_position_embeddings=32768 (recollection); litgpt uses block_size 4096",
    NoteModelCatalogMlaCache = "backend.note.model.catalog.mla_cache" [] en "MLA: KV cache per token per layer = kv_lora_rank + qk_rope_head_dim = 576 values (compressed), not 2*heads*head_dim",
    NoteModelCatalogMoeExperts = "backend.note.model.catalog.moe_experts" [] en "MoE: 8 experts (num_local_experts), top-2; expert FFN intermediate 14336 each",
    NoteModelCatalogQwen1Intermediate = "backend.note.model.catalog.qwen1_intermediate" [] en "Qwen v1 config intermediate_size is the SUM of w1+w2 widths; each SwiGLU branch is 5504",
    NoteModelCatalogFusedProjections = "backend.note.model.catalog.fused_projections" [] en "fused qkv_proj and gate_up_proj in HF implementation",
    NoteModelCatalogGemma2Attention = "backend.note.model.catalog.gemma2_attention" [] en "head_dim 256 != hidden/heads; alternating local(4096)/global attention; softcap values from recollection",
    NoteModelCatalogMqa = "backend.note.model.catalog.mqa" [] en "multi-query attention (1 kv head)",
    NoteModelCatalogParallelResidual = "backend.note.model.catalog.parallel_residual" [] en "parallel residual, partial rotary 0.5, GELU MLP with bias; tokenizer vocab 50257 padded to 51200",
    NoteModelCatalogQwen1Branch = "backend.note.model.catalog.qwen1_branch" [] en "sum of w1+w2; per-branch 11008",
    NoteModelCatalogTiedRecollection = "backend.note.model.catalog.tied_recollection" [] en "tie_word_embeddings from recollection",
    NoteModelCatalogSequenceClassification = "backend.note.model.catalog.sequence_classification" [] en "used with AutoModelForSequenceClassification",
    NoteModelBinWeights = "backend.note.model.bin_weights" [] en "weights are in PyTorch .bin files, which Headroom does not open; counts come from config.json",
    NoteModelNoSafetensors = "backend.note.model.no_safetensors" [] en "no safetensors in the folder: counts computed from config.json",
    NoteModelUnmappedDtype = "backend.note.model.unmapped_dtype" [count, dtype] en "{count} parameters stored as {dtype}, a dtype Headroom does not size; counted in the totals",
    NoteModelHeadersDtype = "backend.note.model.headers_dtype" [headers, config] en "the safetensors headers store most weights as {headers}, config.json says {config}; the headers win",
    NoteModelHeadersCount = "backend.note.model.headers_count" [headers, config] en "the safetensors headers hold {headers} parameters, the architecture from config.json gives {config}; the headers are used",
    NoteModelBreakdownFromNames = "backend.note.model.breakdown_from_names" [] en "parameter breakdown (embedding, lm_head, linear, other) inferred from tensor names",
    NoteModelTiedLmHead = "backend.note.model.tied_lm_head" [] en "the checkpoint stores lm_head although tie_word_embeddings is true; counted once, as PyTorch does",
    NoteModelBuffers = "backend.note.model.buffers" [tensors, elements] en "{tensors} stored buffer tensors ({elements} elements: router correction biases, rotary tables) are not parameters and were not counted",
    NoteModelBnb4 = "backend.note.model.bnb4" [weights, state] en "{weights} bitsandbytes 4-bit weights counted at 2 parameters per stored byte; {state} quantization-state tensors not counted",
    NoteModelQweight = "backend.note.model.qweight" [tensors, state] en "{tensors} GPTQ/AWQ qweight tensors unpacked from I32; {state} quantization-state tensors not counted",
    NoteModelStateTensors = "backend.note.model.state_tensors" [state] en "{state} quantization-state tensors (scales, zero points) not counted as parameters",
    NoteModelUnlisted = "backend.note.model.unlisted" [file, tensors, first] en "{file} holds {tensors} tensors (first {first}) that model.safetensors.index.json does not list; counted anyway",
    NoteModelTotalSize = "backend.note.model.total_size" [index, headers] en "model.safetensors.index.json says metadata.total_size = {index} bytes, the shard headers add up to {headers}",
    // The trace engine's own notes (python/headroom_trace: build.py, engine.py), sent as these keys beside their
    // English; trace/map.rs checks each against this list and keeps the English for any it does not know.
    NoteTraceFlashAsSdpa = "backend.note.trace.flash_as_sdpa" [],
    NoteTraceNoLoraDropout = "backend.note.trace.no_lora_dropout" [],
    NoteTraceEagerFallback = "backend.note.trace.eager_fallback" [model, attention],
    NoteTraceBnb4 = "backend.note.trace.bnb4" [quant_type, double_quant, layers],
    NoteTraceBnb8 = "backend.note.trace.bnb8" [layers],
    NoteTraceKbitPrepared = "backend.note.trace.kbit_prepared" [],
    NoteTracePeftCheckpointing = "backend.note.trace.peft_checkpointing" [],
    NoteTraceBnbKeepsInputs = "backend.note.trace.bnb_keeps_inputs" [],
    NoteTraceReentrant = "backend.note.trace.reentrant" [reentrant],
    NoteTraceLegacyKvCache = "backend.note.trace.legacy_kv_cache" [],
    NoteTraceAutocast = "backend.note.trace.autocast" [dtype],
    NoteTraceGradScaler = "backend.note.trace.grad_scaler" [],
    NoteTraceDropoutMask = "backend.note.trace.dropout_mask" [],
    NoteTraceSdpaCpu = "backend.note.trace.sdpa_cpu" [],
    NoteTraceKvScaled = "backend.note.trace.kv_scaled" [dtype, factor, traced],
    NoteTraceLayersRepeated = "backend.note.trace.layers_repeated" [traced, total],
    NoteTraceFreesDropped = "backend.note.trace.frees_dropped" [frees],
    NoteTraceCublasWorkspace = "backend.note.trace.cublas_workspace" [bytes],
    NoteTraceTwoSteps = "backend.note.trace.two_steps" [],
    NoteTraceDecodeSkipped = "backend.note.trace.decode_skipped" [last_first, edge, steps],
    // Varying batch lengths (estimate/varlen.rs).
    NoteVaryingLengths = "backend.note.varying_lengths" [steps, bytes],
    NoteVaryingLengthsSkipped = "backend.note.varying_lengths.skipped" [],
    NoteFixedLengths = "backend.note.fixed_lengths" [],
    NoteExpectedLengths = "backend.note.expected_lengths" [bytes, lengths],
    NoteExpectedLengthsCapped = "backend.note.expected_lengths.capped" [bytes],
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
            .map(|k| match k.english() {
                // The backend's own English (an error's message) must be the UI's English word for word.
                Some(en) => serde_json::json!({"key": k.as_str(), "args": k.args(), "en": en}),
                None => serde_json::json!({"key": k.as_str(), "args": k.args()}),
            })
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

    #[test]
    fn backend_english_uses_exactly_the_keys_arguments() {
        for k in Key::ALL {
            let Some(en) = k.english() else { continue };
            // A placeholder is `{name}`; other braces (a JSON example) are text.
            let mut used: Vec<&str> = en
                .split('{')
                .skip(1)
                .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
                .filter(|name| {
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                })
                .collect();
            used.sort_unstable();
            used.dedup();
            let mut want = k.args().to_vec();
            want.sort_unstable();
            assert_eq!(used, want, "{}", k.as_str());
        }
    }

    #[test]
    fn english_fills_arguments_and_phrases() {
        let m = Message::new(Key::InvalidNameGot)
            .phrase("problem", Key::InvalidNameDot)
            .text("name", "\".x\"");
        assert_eq!(
            m.english().as_deref(),
            Some("must not start with a dot (got \".x\")")
        );
        // A key without a backend wording has no English here (the UI renders it).
        assert_eq!(Message::new(Key::CaveatInt4).english(), None);
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
