//! What the launcher hands a training program for one attempt: a preset's name, the `BitsAndBytesConfig`
//! dict to quantize with (none for 16-bit presets) and the `from_pretrained` keyword arguments. The launcher
//! asks a [`PresetSource`] per attempt, so it does not depend on how presets are stored.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{Error, Result};

use crate::message::{Key, Message};
use crate::presets::model_config::DEFAULT_FALLBACK_CHAIN;

/// One attempt's preset, as the child program receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct PresetHandOver {
    pub preset: String,
    /// `BitsAndBytesConfig(...).to_dict()`, written to the file `HEADROOM_QUANT_CONFIG` names; `None` for a
    /// preset without quantization (the variable is then removed from the child's environment).
    #[ts(type = "Record<string, unknown> | null")]
    pub quant_config: Option<Value>,
    /// `device_map`, `max_memory` and `dtype` for `from_pretrained`, written to the file
    /// `HEADROOM_LOAD_KWARGS` names. Must be a JSON object. `max_memory`'s GPU keys are digit strings (JSON
    /// keys are strings); the README's snippet turns them into the integers accelerate wants.
    #[ts(type = "Record<string, unknown>")]
    pub load_kwargs: Value,
}

impl PresetHandOver {
    pub fn validate(&self) -> Result<()> {
        crate::store::check_name("preset", &self.preset)?;
        if !self.load_kwargs.is_object() {
            return Err(Error::invalid_msg(
                "load_kwargs",
                Message::new(Key::InvalidRunMustJsonObjectPreset)
                    .text("preset", self.preset.to_string()),
            ));
        }
        if self.quant_config.as_ref().is_some_and(|q| !q.is_object()) {
            return Err(Error::invalid_msg(
                "quant_config",
                Message::new(Key::InvalidRunMustJsonObjectPreset)
                    .text("preset", self.preset.to_string()),
            ));
        }
        Ok(())
    }
}

/// Gives the launcher the hand-over for a preset name. The presets module implements this once it exists.
pub trait PresetSource {
    fn hand_over(&self, preset: &str) -> Result<PresetHandOver>;
}

/// The five presets of [`DEFAULT_FALLBACK_CHAIN`], for the CLI until the presets module (another branch) provides a
/// [`PresetSource`] over built-in and user presets. The dicts are what transformers 5.24's
/// `BitsAndBytesConfig(...).to_dict()` prints for them (reference dumps in `tests/fixtures/bnb/`, checked by
/// a test): int8 = `load_in_8bit`; int4 = nf4 with bfloat16 compute; int4_double = int4 + double quant;
/// int4_offload = int4_double + `llm_int8_enable_fp32_cpu_offload`. `max_memory` is left `null` (accelerate
/// then uses what the GPU has) because no estimate is wired in yet.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultChainPresets;

fn bnb(eight_bit: bool, double_quant: bool, cpu_offload: bool) -> Value {
    let four_bit = !eight_bit;
    json!({
        "quant_method": "bitsandbytes",
        "_load_in_8bit": eight_bit,
        "_load_in_4bit": four_bit,
        "llm_int8_threshold": 6.0,
        "llm_int8_skip_modules": null,
        "llm_int8_enable_fp32_cpu_offload": cpu_offload,
        "llm_int8_has_fp16_weight": false,
        "bnb_4bit_quant_type": if four_bit { "nf4" } else { "fp4" },
        "bnb_4bit_use_double_quant": double_quant,
        "bnb_4bit_compute_dtype": if four_bit { "bfloat16" } else { "float32" },
        "bnb_4bit_quant_storage": "uint8",
        "load_in_4bit": four_bit,
        "load_in_8bit": eight_bit,
    })
}

fn load_kwargs(dtype: &str) -> Value {
    json!({"device_map": "auto", "max_memory": null, "dtype": dtype})
}

/// What the driver says about its GPUs, read once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DriverGpus {
    /// 0 without an NVIDIA driver, `None` when it could not be read.
    pub count: Option<u32>,
    /// The memory of the smallest GPU, when every GPU reported its total: what a run must fit on one GPU.
    pub smallest_memory_bytes: Option<u64>,
}

/// [`DriverGpus`] from a monitor source as it opened.
pub fn driver_gpu_info(source: Result<Box<dyn crate::monitor::GpuSource>>) -> DriverGpus {
    let mut source = match source {
        Ok(source) => source,
        Err(Error::NoDriver { .. }) => {
            return DriverGpus {
                count: Some(0),
                smallest_memory_bytes: None,
            }
        }
        Err(_) => return DriverGpus::default(),
    };
    let Some(snapshot) = source
        .sample(crate::monitor::source::SampleRequest {
            at: crate::monitor::Timestamp::now(),
            processes: false,
        })
        .ok()
        .flatten()
    else {
        return DriverGpus::default();
    };
    let totals: Option<Vec<u64>> = snapshot.gpus.iter().map(|g| g.memory.total_bytes).collect();
    DriverGpus {
        count: u32::try_from(snapshot.gpus.len()).ok(),
        smallest_memory_bytes: totals.and_then(|t| t.into_iter().min()),
    }
}

/// How many GPUs the attempt's program will see: the driver's count, cut down by `CUDA_VISIBLE_DEVICES` in
/// its environment (CUDA reads the list up to the first entry that is not a GPU index or UUID, so `""` and
/// `-1` hide every GPU). `None` when the driver's count is unknown.
pub fn visible_gpus(driver_count: Option<u32>, env: &crate::env::EnvMap) -> Option<u32> {
    let count = driver_count?;
    let Some(list) = env.get("CUDA_VISIBLE_DEVICES") else {
        return Some(count);
    };
    let listed = list
        .split(',')
        .map(str::trim)
        .take_while(|entry| {
            entry.parse::<u32>().is_ok_and(|i| i < count)
                || entry.starts_with("GPU-")
                || entry.starts_with("MIG-")
        })
        .count();
    Some(count.min(u32::try_from(listed).unwrap_or(u32::MAX)))
}

/// `load_kwargs` with `max_memory` limited to the GPUs the program will see: accelerate places layers on a
/// GPU key of `max_memory` whether or not that GPU exists, and loading then fails ("Found no NVIDIA driver"
/// on a machine without one). A GPU key at or past `gpus` is dropped; when nothing is left `max_memory`
/// becomes `null` (accelerate then uses what the devices have). With `gpus` unknown, nothing changes.
pub fn fit_to_gpus(load_kwargs: &Value, gpus: Option<u32>) -> Value {
    let mut out = load_kwargs.clone();
    let Some(gpus) = gpus else {
        return out;
    };
    if let Some(Value::Object(limits)) = out.get_mut("max_memory") {
        limits.retain(|device, _| device.parse::<u32>().map_or(true, |index| index < gpus));
        if limits.is_empty() {
            out["max_memory"] = Value::Null;
        }
    }
    out
}

impl PresetSource for DefaultChainPresets {
    fn hand_over(&self, preset: &str) -> Result<PresetHandOver> {
        let (quant_config, dtype) = match preset {
            "fp16" => (None, "float16"),
            // bitsandbytes' int8 matmul keeps the outliers and the rest of the model in float16.
            "int8" => (Some(bnb(true, false, false)), "float16"),
            "int4" => (Some(bnb(false, false, false)), "bfloat16"),
            "int4_double" => (Some(bnb(false, true, false)), "bfloat16"),
            "int4_offload" => (Some(bnb(false, true, true)), "bfloat16"),
            other => {
                return Err(Error::invalid_msg(
                    "chain",
                    Message::new(Key::InvalidRunUnknownPresetKnownUntil)
                        .text("other", format!("{other:?}"))
                        .text("default_fallback_chain", DEFAULT_FALLBACK_CHAIN.join(", ")),
                ))
            }
        };
        Ok(PresetHandOver {
            preset: preset.into(),
            quant_config,
            load_kwargs: load_kwargs(dtype),
        })
    }
}

/// The presets of the library (built-in and user, [`crate::presets::library::PresetLibrary`]), with the model's
/// saved config ([`crate::presets::model_config`]) in force: its chosen preset is handed over with the model's
/// overrides applied; every other preset as it is (an override written for one preset does not carry over).
#[derive(Debug, Clone)]
pub struct LibraryPresets {
    library: crate::presets::library::PresetLibrary,
    /// The model's chosen preset with its overrides applied, when the model has a saved config.
    chosen: Option<(String, crate::presets::PresetBody)>,
    /// The model's saved chain ([`crate::presets::model_config::ModelConfig::attempts`]), if any.
    saved_chain: Option<Vec<String>>,
}

impl LibraryPresets {
    /// The presets for a run of `model_id`. A saved config whose preset is missing or invalid is an error
    /// naming the field, found now rather than after the first attempt.
    pub fn for_model(paths: &crate::paths::AppPaths, model_id: &str) -> Result<Self> {
        use crate::presets::config_store::ConfigLibrary;
        use crate::presets::library::PresetLibrary;
        let library = PresetLibrary::new(paths);
        let configs = ConfigLibrary::new(paths);
        // A model id that cannot name a config file (the launcher records any id) simply has no saved config.
        let saved = match configs.path_of(model_id) {
            Ok(_) => configs.get(model_id)?,
            Err(_) => None,
        };
        let (chosen, saved_chain) = match saved {
            Some(entry) => {
                let attempts = configs.attempts(model_id, &library)?;
                let chosen = attempts.into_iter().next();
                (chosen, Some(entry.config.attempts()))
            }
            None => (None, None),
        };
        Ok(LibraryPresets {
            library,
            chosen,
            saved_chain,
        })
    }

    /// The model's saved chain (its chosen preset first), or `None` without a saved config.
    pub fn saved_chain(&self) -> Option<&[String]> {
        self.saved_chain.as_deref()
    }

    /// The chain a run of this model goes down unless the user gives one: the saved one, else
    /// [`DEFAULT_FALLBACK_CHAIN`].
    pub fn default_chain(&self) -> Vec<String> {
        match &self.saved_chain {
            Some(chain) => chain.clone(),
            None => DEFAULT_FALLBACK_CHAIN
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }

    /// Every preset name the library holds (built-ins first), for the chain editor.
    pub fn names(&self) -> Result<Vec<String>> {
        Ok(self
            .library
            .list()?
            .presets
            .into_iter()
            .map(|p| p.name)
            .collect())
    }
}

impl PresetSource for LibraryPresets {
    fn hand_over(&self, preset: &str) -> Result<PresetHandOver> {
        let body = match &self.chosen {
            Some((name, body)) if name == preset => body.clone(),
            _ => crate::presets::config_store::preset_body(&self.library, preset)?.ok_or_else(
                || {
                    Error::invalid_msg(
                        "chain",
                        Message::new(Key::InvalidRunUnknownPreset)
                            .text("preset", format!("{preset:?}")),
                    )
                },
            )?,
        };
        let mut load_kwargs = crate::presets::export::handover_kwargs(&body);
        // The quantization config travels in its own file (HEADROOM_QUANT_CONFIG).
        if let Some(map) = load_kwargs.as_object_mut() {
            map.remove("quantization_config");
        }
        Ok(PresetHandOver {
            preset: preset.to_string(),
            quant_config: body.quantization.as_ref().map(|q| q.to_dict_value()),
            load_kwargs,
        })
    }
}
