//! Reading a preset from a file a user brings: a Headroom preset (`{"load": …, "quantization": …}`), a
//! `BitsAndBytesConfig.to_dict()` dump, or a model's `config.json` with a `quantization_config`.

use serde::Serialize;
use serde_json::Value;

use super::bnb::{self, ComputeDtype};
use super::field::{FieldError, FieldErrors};
use super::{validate, BnbConfig, Device, DeviceMap, LoadSettings, PresetBody, TorchDtype};

/// What an imported file turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ImportSource {
    /// A Headroom preset (what `presets export NAME --format preset` writes).
    Preset,
    /// A `BitsAndBytesConfig.to_dict()` dump.
    BnbJson,
    /// A model's `config.json`: its `quantization_config` and `torch_dtype`.
    ModelConfigJson,
}

#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct ImportedPreset {
    pub source: ImportSource,
    pub body: PresetBody,
}

/// Bigger than any preset or config.json; refusing early keeps a stray file from filling memory.
pub const MAX_IMPORT_BYTES: usize = 16 << 20;

/// Parse `bytes` as any of the [`ImportSource`] kinds, telling which from the keys present:
/// `load` → Headroom preset; `quantization_config` → config.json; otherwise a `BitsAndBytesConfig` dict.
pub fn parse_preset(bytes: &[u8]) -> Result<ImportedPreset, FieldErrors> {
    let value = parse_json(bytes)?;
    let Some(map) = value.as_object() else {
        return Err(one("input", "must be a JSON object"));
    };
    if map.contains_key("load") {
        let body = PresetBody::from_json(value)?;
        return Ok(ImportedPreset {
            source: ImportSource::Preset,
            body,
        });
    }
    if let Some(q) = map.get("quantization_config") {
        if q.is_null() {
            return Err(one(
                "quantization_config",
                "is null: this model is not quantized, there is nothing to import",
            ));
        }
        let config = bnb::from_dict(q, "quantization_config")?;
        // config.json names the checkpoint's dtype `torch_dtype` (transformers 4) or `dtype` (transformers 5).
        let stored = map
            .get("dtype")
            .or_else(|| map.get("torch_dtype"))
            .and_then(Value::as_str)
            .and_then(|s| match s {
                "float32" => Some(TorchDtype::Float32),
                "float16" => Some(TorchDtype::Float16),
                "bfloat16" => Some(TorchDtype::Bfloat16),
                _ => None,
            });
        let body = quantized_body(
            config,
            "quantization_config",
            stored,
            "Imported from a model's config.json quantization_config.",
        )?;
        return Ok(ImportedPreset {
            source: ImportSource::ModelConfigJson,
            body,
        });
    }
    let config = bnb::from_dict(&value, "")?;
    let body = quantized_body(config, "", None, "Imported from a BitsAndBytesConfig dict.")?;
    Ok(ImportedPreset {
        source: ImportSource::BnbJson,
        body,
    })
}

/// A GPU preset around an imported `BitsAndBytesConfig`. Without a checkpoint dtype, non-quantized modules
/// load in the 4-bit compute dtype when that is 16-bit, else float16: what transformers' bnb quantizers pick
/// when `torch_dtype` is not given (`quantizer_bnb_4bit.update_torch_dtype`, `quantizer_bnb_8bit`).
fn quantized_body(
    config: BnbConfig,
    at: &str,
    stored: Option<TorchDtype>,
    description: &str,
) -> Result<PresetBody, FieldErrors> {
    // The dict's own rules first, named as the file names them.
    let mut errors = Vec::new();
    validate::quantization(&config, at, &mut errors);
    FieldErrors(errors).into_result()?;
    let torch_dtype = stored.unwrap_or(if config.load_in_4bit {
        match config.bnb_4bit_compute_dtype {
            ComputeDtype::Bfloat16 => TorchDtype::Bfloat16,
            _ => TorchDtype::Float16,
        }
    } else {
        TorchDtype::Float16
    });
    let body = PresetBody {
        description: description.into(),
        load: LoadSettings {
            device: Device::Cuda,
            torch_dtype,
            device_map: Some(DeviceMap::Named("auto".into())),
            max_memory: Default::default(),
        },
        quantization: Some(config),
    };
    validate::preset(&body)?;
    Ok(body)
}

pub(crate) fn parse_json(bytes: &[u8]) -> Result<Value, FieldErrors> {
    if bytes.len() > MAX_IMPORT_BYTES {
        return Err(one(
            "input",
            format!(
                "is {} bytes; an import is at most {MAX_IMPORT_BYTES}",
                bytes.len()
            ),
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| one("input", format!("is not JSON: {e}")))
}

fn one(field: &str, message: impl Into<String>) -> FieldErrors {
    FieldErrors(vec![FieldError::new(field, message)])
}
