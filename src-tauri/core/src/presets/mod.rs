//! Quantization presets and per-model configs: one place for every loading setting, kept compatible with
//! transformers' `BitsAndBytesConfig` and saved as JSON through [`crate::store`].
//!
//! - [`PresetBody`]: what a preset holds (load settings and, when quantized, every `BitsAndBytesConfig` field).
//! - [`builtin`]: the read-only presets (`fp32`, `bf16`, `fp16`, `int8`, `int4`, `int4_double`, `int4_offload`,
//!   `cpu`).
//! - [`validate`]: transformers' and accelerate's rules, reported per field.
//! - [`library`]: user presets on disk (create, duplicate, edit, delete, with conflict checks); [`rename`]
//!   renames one and the configs that name it, in an order a crash cannot break.
//! - [`model_config`]: a model's chosen preset, overrides, task, LoRA, fallback chain and notes;
//!   [`config_store`] keeps them on disk.
//! - [`bnb`], [`export`], [`import`], [`bundle`]: interop with transformers and between machines.
//! - [`handover`]: presets and per-model fallback chains for the launcher (`launch::handover::PresetSource`).

pub mod bnb;
pub mod builtin;
pub mod bundle;
pub mod config_store;
pub mod export;
pub mod field;
pub mod handover;
pub mod import;
pub mod library;
pub mod memory;
pub mod model_config;
pub mod pyjson;
pub mod rename;
pub mod switch;
pub mod validate;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use bnb::BnbConfig;
pub use field::{FieldError, FieldErrors};
pub use memory::MemoryLimit;

/// Where the model runs. Quantization with bitsandbytes needs a CUDA GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    Cuda,
    Cpu,
}

/// `torch_dtype` passed to `from_pretrained`: the dtype of every weight that is not quantized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum TorchDtype {
    /// The dtype stored in the checkpoint (`config.json`'s `torch_dtype`).
    Auto,
    Float32,
    Float16,
    Bfloat16,
}

impl TorchDtype {
    pub fn as_str(self) -> &'static str {
        match self {
            TorchDtype::Auto => "auto",
            TorchDtype::Float32 => "float32",
            TorchDtype::Float16 => "float16",
            TorchDtype::Bfloat16 => "bfloat16",
        }
    }

    /// `torch.bfloat16` for Python, or the string `"auto"`.
    pub fn to_python(self) -> String {
        match self {
            TorchDtype::Auto => "\"auto\"".into(),
            other => format!("torch.{}", other.as_str()),
        }
    }
}

/// A device in a `device_map`: a GPU index (written as an integer, as accelerate wants it), `"cpu"`, `"disk"`,
/// `"cuda"` or `"cuda:N"`. Which spellings are allowed is checked by [`validate`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, ts_rs::TS)]
#[ts(type = "string | number", rename = "DevicePlacement")]
pub struct Placement(pub String);

impl Placement {
    /// The GPU index when the placement is a bare integer.
    pub fn gpu_index(&self) -> Option<u32> {
        if self.0.bytes().all(|b| b.is_ascii_digit()) {
            self.0.parse().ok()
        } else {
            None
        }
    }

    /// As a Python literal: `0` or `"cpu"`.
    pub fn to_python(&self) -> String {
        match self.gpu_index() {
            Some(i) => i.to_string(),
            None => {
                let mut out = String::new();
                pyjson::write_str(&mut out, &self.0);
                out
            }
        }
    }
}

impl Serialize for Placement {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.gpu_index() {
            Some(i) => s.serialize_u32(i),
            None => s.serialize_str(&self.0),
        }
    }
}

impl<'de> Deserialize<'de> for Placement {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Placement;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a GPU index or a device name such as \"cpu\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Placement, E> {
                Ok(Placement(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Placement, E> {
                Err(E::custom(format!("{v} is not a GPU index")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Placement, E> {
                Ok(Placement(v.to_string()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// `device_map` passed to `from_pretrained`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(untagged)]
pub enum DeviceMap {
    /// A strategy accelerate computes (`"auto"`, `"balanced"`, `"balanced_low_0"`, `"sequential"`), or one
    /// device for the whole model (`"cpu"`, `"cuda:0"`).
    Named(String),
    /// Module name → device, as `infer_auto_device_map` returns it (`""` is the whole model).
    Modules(BTreeMap<String, Placement>),
}

/// The strategies accelerate's `infer_auto_device_map` understands (transformers `modeling_utils.py`).
pub const DEVICE_MAP_STRATEGIES: [&str; 4] = ["auto", "balanced", "balanced_low_0", "sequential"];

/// The loading half of a preset: the `from_pretrained` arguments besides `quantization_config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct LoadSettings {
    pub device: Device,
    pub torch_dtype: TorchDtype,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub device_map: Option<DeviceMap>,
    /// Device (`"0"`, `"1"`, `"cpu"`, `"disk"`) → limit, such as `{"0": "10GB", "cpu": "30GB"}`. GPU keys are
    /// strings here because JSON keys are; exports turn them into the integers accelerate requires.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[ts(type = "Record<string, string | number>")]
    pub max_memory: BTreeMap<String, MemoryLimit>,
}

/// Everything a preset holds. The name is not inside: it is the file name (or the built-in's name), so the two
/// can never disagree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct PresetBody {
    #[serde(default)]
    pub description: String,
    pub load: LoadSettings,
    /// `None` for presets that load the weights unquantized (`fp32`, `bf16`, `fp16`, `cpu`).
    #[serde(default)]
    pub quantization: Option<BnbConfig>,
}

impl PresetBody {
    /// Parse a draft (from the UI, a file, an import), reporting type errors and broken rules per field.
    pub fn from_json(value: serde_json::Value) -> Result<PresetBody, FieldErrors> {
        let body: PresetBody = field::from_value(value, "")?;
        validate::preset(&body)?;
        Ok(body)
    }
}

/// A preset as listed: built-in or saved, with the revision to hand back when saving it.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct Preset {
    pub name: String,
    /// Built-ins cannot be edited, renamed or deleted; duplicate them instead.
    pub builtin: bool,
    /// For saved presets: what was read, for the conflict check on save. `null` for built-ins.
    pub revision: crate::store::Revision,
    pub body: PresetBody,
}
