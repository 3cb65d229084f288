//! Switching one model's config to another preset in one step: what the monitor's "switch this model's config to
//! `int4_double`" recommendation does (issue 5 item 3). The config keeps everything that still fits the new preset,
//! says what it had to change, and hands back the config as it was so the UI can offer Undo.
//!
//! Rules:
//! 1. A model without a config gets a new one: training with QLoRA on the new preset when that preset is 4-bit
//!    (memory that keeps growing is a training run's; LoRA adapters are what can be trained on quantized weights),
//!    training with the default method otherwise.
//! 2. LoRA on a 4-bit preset is QLoRA, so `method: lora` becomes `qlora`.
//! 3. Full fine-tuning and freeze-tuning update the base weights, which a quantized (8- or 4-bit) preset makes
//!    impossible: transformers' Trainer refuses "purely quantized models" without adapters. The switch is refused
//!    with the field to change, rather than saving a config that cannot train.
//! 4. Quantization overrides written for the old preset are kept when the new preset is still valid with them;
//!    otherwise they are dropped (and the outcome says so): an `llm_int8_threshold` tuned for `int8` means nothing
//!    to NF4. Dtype, device map and memory limits are kept.

use serde::Serialize;

use super::config_store::{preset_body, ConfigLibrary, ModelConfigEntry};
use super::library::{no_such_preset, PresetLibrary};
use super::model_config::{Method, ModelConfig, Task};
use super::{validate, PresetBody};
use crate::estimate::preset::{PresetInfo, WeightFormat};
use crate::message::{Key, Message};
use crate::{Error, Result};

/// What a switch did.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct PresetSwitch {
    pub model_id: String,
    /// The config as saved now.
    pub entry: ModelConfigEntry,
    /// The config before the switch, for Undo; `None` when the switch created it.
    pub previous: Option<ModelConfigEntry>,
    /// What changed besides the preset, in words (empty when only the preset did).
    pub changes: Vec<String>,
}

/// How many bits the preset stores its quantized weights in, as the estimator reads the preset; `None` when it
/// does not quantize.
fn quantized_bits(name: &str, body: &PresetBody) -> Option<u8> {
    match PresetInfo::from_body(name, body).format {
        WeightFormat::Int4 { .. } => Some(4),
        WeightFormat::Int8 => Some(8),
        WeightFormat::F32 | WeightFormat::F16 | WeightFormat::Bf16 => None,
    }
}

/// Switches `model_id`'s config to `preset` and saves it (see the module rules). The change is applied to the
/// config as saved at that moment, under the configs folder's lock, so a `configs set` at the same moment is
/// not lost (see [`crate::store`]).
pub fn switch_preset(
    configs: &ConfigLibrary,
    presets: &PresetLibrary,
    model_id: &str,
    preset: &str,
) -> Result<PresetSwitch> {
    let body = preset_body(presets, preset)?.ok_or_else(|| no_such_preset("preset", preset))?;
    let bits = quantized_bits(preset, &body);
    let mut previous = None;
    let mut changes = Vec::new();
    let entry = configs.update(model_id, presets, |current| {
        previous = current.cloned();
        switched(current, model_id, preset, &body, bits, &mut changes)
    })?;
    Ok(PresetSwitch {
        model_id: model_id.to_string(),
        entry,
        previous,
        changes,
    })
}

/// The config `current` becomes on switching to `preset` (see the module rules), with what changed besides the
/// preset added to `changes`.
fn switched(
    current: Option<&ModelConfigEntry>,
    model_id: &str,
    preset: &str,
    body: &PresetBody,
    bits: Option<u8>,
    changes: &mut Vec<String>,
) -> Result<ModelConfig> {
    let Some(entry) = current else {
        let mut config = ModelConfig::new(preset, Task::Train);
        if bits == Some(4) {
            config.method = Some(Method::Qlora);
        }
        changes.push(format!(
            "new config: training{}, with the default fallback chain",
            if bits == Some(4) { " with QLoRA" } else { "" }
        ));
        return Ok(config);
    };
    let mut config = entry.config.clone();
    if config.preset == preset {
        return Err(Error::invalid_msg(
            "preset",
            Message::new(Key::InvalidPresetSConfigAlreadyUses)
                .text("model_id", model_id.to_string())
                .text("preset", preset.to_string()),
        ));
    }
    config.preset = preset.to_string();
    match (config.effective_method(), bits) {
        (Some(m @ (Method::Full | Method::Freeze)), Some(bits)) => {
            let name = if m == Method::Full { "full" } else { "freeze" };
            return Err(Error::invalid_msg(
                "method",
                Message::new(Key::InvalidPresetTrainedMethodWhichUpdates)
                    .text("model_id", model_id.to_string())
                    .text("name", name.to_string())
                    .text("preset", preset.to_string())
                    .text("bits", bits.to_string()),
            ));
        }
        (Some(Method::Lora), Some(4)) => {
            config.method = Some(Method::Qlora);
            changes.push("method lora → qlora: LoRA on 4-bit weights is QLoRA".into());
        }
        _ => {}
    }
    let with_overrides = config.overrides.apply(body);
    if config.overrides.quantization.is_some() && validate::preset(&with_overrides).is_err() {
        config.overrides.quantization = None;
        changes.push(format!(
            "quantization overrides dropped: they were written for {} and do not fit {preset}",
            entry.config.preset
        ));
    }
    Ok(config)
}
