//! Presets as the launcher takes them ([`crate::launch::handover::PresetSource`]): per attempt, the
//! `BitsAndBytesConfig` dict and the other `from_pretrained` keyword arguments.
//!
//! - [`PresetLibrary`] hands over any built-in or saved preset as it is.
//! - [`ModelPresets`] hands over one model's attempts: its chosen preset with the model's overrides, then the
//!   presets of its fallback chain as they are ([`ModelConfig::attempts`] gives the order).

use super::config_store::ConfigLibrary;
use super::library::PresetLibrary;
use super::model_config::ModelConfig;
use super::{export, validate, PresetBody};
use crate::launch::handover::{PresetHandOver, PresetSource};
use crate::{Error, Result};

/// What the launcher hands a program for preset `name` with settings `body`.
pub fn hand_over(name: &str, body: &PresetBody) -> PresetHandOver {
    PresetHandOver {
        preset: name.to_string(),
        quant_config: body.quantization.as_ref().map(|q| q.to_dict_value()),
        load_kwargs: export::handover_kwargs(body),
    }
}

impl PresetSource for PresetLibrary {
    fn hand_over(&self, preset: &str) -> Result<PresetHandOver> {
        let found = self.get(preset)?;
        Ok(hand_over(&found.name, &found.body))
    }
}

/// One model's presets for the launcher.
#[derive(Debug, Clone)]
pub struct ModelPresets<'a> {
    presets: &'a PresetLibrary,
    config: ModelConfig,
}

impl<'a> ModelPresets<'a> {
    /// The saved config of `model_id`, or `None` when it has none (the launcher then uses its default chain
    /// over [`PresetLibrary`]).
    pub fn load(
        presets: &'a PresetLibrary,
        configs: &ConfigLibrary,
        model_id: &str,
    ) -> Result<Option<Self>> {
        Ok(configs.get(model_id)?.map(|entry| ModelPresets {
            presets,
            config: entry.config,
        }))
    }

    pub fn new(presets: &'a PresetLibrary, config: ModelConfig) -> Self {
        ModelPresets { presets, config }
    }

    /// The chain to run: the chosen preset, then the fallbacks after it.
    pub fn chain(&self) -> Vec<String> {
        self.config.attempts()
    }
}

impl PresetSource for ModelPresets<'_> {
    fn hand_over(&self, preset: &str) -> Result<PresetHandOver> {
        let found = self.presets.get(preset)?;
        if preset != self.config.preset {
            return Ok(hand_over(&found.name, &found.body));
        }
        // The overrides were valid when the config was saved; the preset may have been edited since.
        let effective = self.config.overrides.apply(&found.body);
        validate::preset(&effective).map_err(|e| Error::from(e.nested("overrides")))?;
        Ok(hand_over(&found.name, &effective))
    }
}
