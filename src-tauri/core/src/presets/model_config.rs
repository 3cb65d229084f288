//! Per-model configs: for one model id, the chosen preset and its overrides, training or inference, LoRA
//! settings, the launcher's fallback chain, and notes. The wizard writes them; the launcher and the Plan view
//! read them. Stored by [`super::config_store`].

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use super::bnb::{ComputeDtype, QuantStorage, QuantType};
use super::field::{FieldError, FieldErrors};
use super::{validate, BnbConfig, DeviceMap, MemoryLimit, PresetBody, TorchDtype};
use crate::message::{Key, Message};
use crate::Result;

/// The launcher's default order when a load runs out of memory: each step needs less GPU memory than the one
/// before (issue 4; docs/estimator.md §14 bytes per parameter: 2 → ~1 → ~0.5 → ~0.45 → part on the CPU).
pub const DEFAULT_FALLBACK_CHAIN: [&str; 5] =
    ["fp16", "int8", "int4", "int4_double", "int4_offload"];

/// At most this many fallback steps: there are eight built-ins, and a longer chain is a mistake.
pub const MAX_FALLBACK_STEPS: usize = 16;
pub const MAX_NOTES: usize = 10_000;

// The plan's types: a per-model config stores the same task, method and LoRA settings a plan reads.
pub use crate::estimate::plan::{LoraDtype, LoraSettings, Method, TargetModules, Task};

/// `BitsAndBytesConfig` fields to change on top of the chosen preset; absent fields keep the preset's value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields, default)]
pub struct BnbOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub load_in_8bit: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub load_in_4bit: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub llm_int8_threshold: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub llm_int8_skip_modules: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub llm_int8_enable_fp32_cpu_offload: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub llm_int8_has_fp16_weight: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub bnb_4bit_compute_dtype: Option<ComputeDtype>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub bnb_4bit_quant_type: Option<QuantType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub bnb_4bit_use_double_quant: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub bnb_4bit_quant_storage: Option<QuantStorage>,
}

impl BnbOverrides {
    fn is_empty(&self) -> bool {
        *self == BnbOverrides::default()
    }

    fn apply(&self, base: &mut BnbConfig) {
        macro_rules! set {
            ($($field:ident),*) => {$(
                if let Some(v) = &self.$field {
                    base.$field = v.clone();
                }
            )*};
        }
        set!(
            load_in_8bit,
            load_in_4bit,
            llm_int8_threshold,
            llm_int8_enable_fp32_cpu_offload,
            llm_int8_has_fp16_weight,
            bnb_4bit_compute_dtype,
            bnb_4bit_quant_type,
            bnb_4bit_use_double_quant,
            bnb_4bit_quant_storage
        );
        if let Some(list) = &self.llm_int8_skip_modules {
            base.llm_int8_skip_modules = Some(list.clone());
        }
    }
}

/// Changes to the chosen preset for this model only.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields, default)]
pub struct PresetOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub torch_dtype: Option<TorchDtype>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub device_map: Option<DeviceMap>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "Record<string, string | number>")]
    pub max_memory: Option<BTreeMap<String, MemoryLimit>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub quantization: Option<BnbOverrides>,
}

impl PresetOverrides {
    pub fn is_empty(&self) -> bool {
        *self == PresetOverrides::default()
    }

    /// The preset with these changes. A quantization override on an unquantized preset starts from
    /// `BitsAndBytesConfig()`'s defaults.
    pub fn apply(&self, base: &PresetBody) -> PresetBody {
        let mut out = base.clone();
        if let Some(d) = self.torch_dtype {
            out.load.torch_dtype = d;
        }
        if let Some(m) = &self.device_map {
            out.load.device_map = Some(m.clone());
        }
        if let Some(m) = &self.max_memory {
            out.load.max_memory = m.clone();
        }
        if let Some(q) = self.quantization.as_ref().filter(|q| !q.is_empty()) {
            let mut config = out.quantization.take().unwrap_or_default();
            q.apply(&mut config);
            out.quantization = Some(config);
        }
        out
    }
}

/// One model's saved settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// A built-in or user preset name.
    pub preset: String,
    #[serde(default)]
    pub overrides: PresetOverrides,
    pub task: Task,
    /// Train only; `full` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub method: Option<Method>,
    /// With `method` `lora` or `qlora`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub lora: Option<LoraSettings>,
    /// Presets the launcher falls back to, in order, after an out-of-memory failure (see [`Self::attempts`]).
    #[serde(default = "default_chain")]
    pub fallback_chain: Vec<String>,
    #[serde(default)]
    pub notes: String,
}

fn default_chain() -> Vec<String> {
    DEFAULT_FALLBACK_CHAIN
        .iter()
        .map(|s| s.to_string())
        .collect()
}

impl ModelConfig {
    /// A config for `preset` with everything else at its default.
    pub fn new(preset: impl Into<String>, task: Task) -> Self {
        ModelConfig {
            preset: preset.into(),
            overrides: PresetOverrides::default(),
            task,
            method: None,
            lora: None,
            fallback_chain: default_chain(),
            notes: String::new(),
        }
    }

    /// The presets the launcher tries, in order: the chosen preset first, then the chain entries after it
    /// (all of them when the chain does not name it), so a fallback never goes back to something heavier.
    pub fn attempts(&self) -> Vec<String> {
        let rest: Vec<&String> = match self.fallback_chain.iter().position(|p| *p == self.preset) {
            Some(i) => self.fallback_chain.iter().skip(i + 1).collect(),
            None => self.fallback_chain.iter().collect(),
        };
        std::iter::once(&self.preset).chain(rest).cloned().collect()
    }

    /// `train` defaults to full fine-tuning; inference has no method.
    pub fn effective_method(&self) -> Option<Method> {
        match self.task {
            Task::Train => Some(self.method.unwrap_or(Method::Full)),
            Task::Infer => None,
        }
    }
}

/// Rules that need no other file: ranges, and which fields go together.
pub fn validate_shape(c: &ModelConfig) -> std::result::Result<(), FieldErrors> {
    let mut errors = Vec::new();
    if c.task == Task::Infer && c.method.is_some() {
        errors.push(FieldError::keyed(
            "method",
            Message::new(Key::InvalidConfigOnlyAppliesTrainingRemove),
        ));
    }
    let uses_lora = matches!(c.effective_method(), Some(Method::Lora | Method::Qlora));
    match (&c.lora, uses_lora) {
        (Some(_), false) => errors.push(FieldError::keyed(
            "lora",
            Message::new(Key::InvalidConfigLoraSettingsNeedMethod),
        )),
        (Some(lora), true) => lora_rules(lora, &mut errors),
        (None, _) => {}
    }
    if c.fallback_chain.len() > MAX_FALLBACK_STEPS {
        errors.push(FieldError::keyed(
            "fallback_chain",
            Message::new(Key::InvalidConfigHasMoreThanSteps)
                .text("max", MAX_FALLBACK_STEPS.to_string()),
        ));
    }
    let mut seen = HashSet::new();
    for (i, name) in c.fallback_chain.iter().enumerate() {
        if !seen.insert(name) {
            errors.push(FieldError::keyed(
                format!("fallback_chain.{i}"),
                Message::new(Key::InvalidConfigAlreadyEarlierChain)
                    .text("name", format!("{name:?}")),
            ));
        }
    }
    if c.notes.chars().count() > MAX_NOTES {
        errors.push(FieldError::keyed(
            "notes",
            Message::new(Key::InvalidMustAtMostCharacters).text("max", MAX_NOTES.to_string()),
        ));
    }
    FieldErrors(errors).into_result()
}

fn lora_rules(lora: &LoraSettings, errors: &mut Vec<FieldError>) {
    if lora.rank == 0 {
        errors.push(FieldError::keyed(
            "lora.rank",
            Message::new(Key::InvalidMustAtLeast1),
        ));
    }
    if !lora.alpha.is_finite() || lora.alpha <= 0.0 {
        errors.push(FieldError::keyed(
            "lora.alpha",
            Message::new(Key::InvalidConfigMustPositiveNumber),
        ));
    }
    // PEFT applies `nn.Dropout(p)`, which requires 0 <= p <= 1; p = 1 would zero every adapter input.
    if !(0.0..1.0).contains(&lora.dropout) {
        errors.push(FieldError::keyed(
            "lora.dropout",
            Message::new(Key::InvalidConfigMustAtLeast0),
        ));
    }
    if let TargetModules::Names(names) = &lora.target_modules {
        if names.is_empty() {
            errors.push(FieldError::keyed(
                "lora.target_modules",
                Message::new(Key::InvalidConfigNameAtLeastOne),
            ));
        }
        for (i, n) in names.iter().enumerate() {
            if n.trim().is_empty() || n.chars().any(char::is_whitespace) {
                errors.push(FieldError::keyed(
                    format!("lora.target_modules.{i}"),
                    Message::new(Key::InvalidConfigNotModuleName).text("n", format!("{n:?}")),
                ));
            }
        }
    }
}

/// Every rule, including those that read the presets: the preset and each fallback exist, the overrides
/// leave a valid preset, and QLoRA has a 4-bit preset. `lookup` returns a preset's body, `None` when unknown.
pub fn validate_with(
    c: &ModelConfig,
    lookup: &dyn Fn(&str) -> Result<Option<PresetBody>>,
) -> Result<std::result::Result<(), FieldErrors>> {
    let mut errors = match validate_shape(c) {
        Ok(()) => Vec::new(),
        Err(e) => e.0,
    };
    match lookup(&c.preset)? {
        None => errors.push(FieldError::keyed(
            "preset",
            Message::new(Key::InvalidConfigNoPresetNamed).text("preset", format!("{:?}", c.preset)),
        )),
        Some(base) => {
            let effective = c.overrides.apply(&base);
            if let Err(e) = validate::preset(&effective) {
                errors.extend(e.nested("overrides").0);
            } else if c.effective_method() == Some(Method::Qlora)
                && !effective
                    .quantization
                    .as_ref()
                    .is_some_and(|q| q.load_in_4bit)
            {
                errors.push(FieldError::keyed(
                    "method",
                    Message::new(Key::InvalidConfigQloraTrains4Bit)
                        .text("preset", format!("{:?}", c.preset)),
                ));
            }
        }
    }
    for (i, name) in c.fallback_chain.iter().enumerate() {
        if lookup(name)?.is_none() {
            errors.push(FieldError::keyed(
                format!("fallback_chain.{i}"),
                Message::new(Key::InvalidConfigNoPresetNamed2).text("name", format!("{name:?}")),
            ));
        }
    }
    Ok(FieldErrors(errors).into_result())
}
