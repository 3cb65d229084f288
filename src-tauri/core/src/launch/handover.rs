//! What the launcher hands a training program for one attempt: a preset's name, the `BitsAndBytesConfig`
//! dict to quantize with (none for 16-bit presets) and the `from_pretrained` keyword arguments. The launcher
//! asks a [`PresetSource`] per attempt, so it does not depend on how presets are stored.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{Error, Result};

/// The default fallback chain, least to most memory-saving, until per-model configs say otherwise (issue 6).
pub const DEFAULT_CHAIN: [&str; 5] = ["fp16", "int8", "int4", "int4_double", "int4_offload"];

/// One attempt's preset, as the child program receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct PresetHandOver {
    pub preset: String,
    /// `BitsAndBytesConfig(...).to_dict()`, written to the file `HEADROOM_QUANT_CONFIG` names; `None` for a
    /// preset without quantization (the variable is then removed from the child's environment).
    #[ts(type = "Record<string, unknown> | null")]
    pub quant_config: Option<Value>,
    /// `device_map`, `max_memory` and `torch_dtype` for `from_pretrained`, written to the file
    /// `HEADROOM_LOAD_KWARGS` names. Must be a JSON object.
    #[ts(type = "Record<string, unknown>")]
    pub load_kwargs: Value,
}

impl PresetHandOver {
    pub fn validate(&self) -> Result<()> {
        crate::store::check_name("preset", &self.preset)?;
        if !self.load_kwargs.is_object() {
            return Err(Error::invalid(
                "load_kwargs",
                format!("must be a JSON object (preset {})", self.preset),
            ));
        }
        if self.quant_config.as_ref().is_some_and(|q| !q.is_object()) {
            return Err(Error::invalid(
                "quant_config",
                format!("must be a JSON object (preset {})", self.preset),
            ));
        }
        Ok(())
    }
}

/// Gives the launcher the hand-over for a preset name. The presets module implements this once it exists.
pub trait PresetSource {
    fn hand_over(&self, preset: &str) -> Result<PresetHandOver>;
}

/// The five presets of [`DEFAULT_CHAIN`], for the CLI until the presets module (another branch) provides a
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
    json!({"device_map": "auto", "max_memory": null, "torch_dtype": dtype})
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
                return Err(Error::invalid(
                    "chain",
                    format!(
                        "unknown preset {other:?} (known until per-model presets exist: {})",
                        DEFAULT_CHAIN.join(", ")
                    ),
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
