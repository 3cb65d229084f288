//! What the estimator needs to know about a quantization preset: how its weights are stored and where they
//! live. The presets module (another branch) owns the full preset (BitsAndBytesConfig interop, user presets);
//! it hands the estimator a list of [`PresetInfo`], so the glue is one `map`.

use serde::{Deserialize, Serialize};

/// How a preset stores the weights of the linear layers it quantizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WeightFormat {
    F32,
    F16,
    Bf16,
    /// bitsandbytes LLM.int8 (`Linear8bitLt`): int8 weights and one fp32 scale per output row.
    Int8,
    /// bitsandbytes NF4 or FP4 (`Linear4bit`), block size 64, optionally with double quantization.
    Int4 {
        double_quant: bool,
    },
}

impl WeightFormat {
    /// Quantized formats are frozen: bitsandbytes' `Params4bit`/`Int8Params` cannot be trained in full.
    pub fn is_quantized(self) -> bool {
        matches!(self, WeightFormat::Int8 | WeightFormat::Int4 { .. })
    }

    /// How aggressive the format is, for ranking: 0 is full precision, 3 is 4-bit.
    pub fn aggressiveness(self) -> u8 {
        match self {
            WeightFormat::F32 => 0,
            WeightFormat::F16 | WeightFormat::Bf16 => 1,
            WeightFormat::Int8 => 2,
            WeightFormat::Int4 { .. } => 3,
        }
    }
}

/// Where a preset puts the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    Gpu,
    /// `device_map="auto"` with `llm_int8_enable_fp32_cpu_offload`: what does not fit the GPU's weight budget is
    /// kept on the CPU, unquantized.
    GpuWithCpuOffload,
    /// Everything on the CPU in fp32.
    Cpu,
}

/// A preset as the estimator sees it: a name, a weight format, a placement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct PresetInfo {
    pub name: String,
    pub format: WeightFormat,
    pub placement: Placement,
}

impl PresetInfo {
    fn new(name: &str, format: WeightFormat, placement: Placement) -> Self {
        PresetInfo {
            name: name.to_string(),
            format,
            placement,
        }
    }
}

/// The eight built-in presets (issue 3; FORMULAS.md §7 "App-level load presets").
pub fn builtin_presets() -> Vec<PresetInfo> {
    use Placement::*;
    use WeightFormat::*;
    vec![
        PresetInfo::new("fp32", F32, Gpu),
        PresetInfo::new("bf16", Bf16, Gpu),
        PresetInfo::new("fp16", F16, Gpu),
        PresetInfo::new("int8", Int8, Gpu),
        PresetInfo::new(
            "int4",
            Int4 {
                double_quant: false,
            },
            Gpu,
        ),
        PresetInfo::new("int4_double", Int4 { double_quant: true }, Gpu),
        PresetInfo::new(
            "int4_offload",
            Int4 { double_quant: true },
            GpuWithCpuOffload,
        ),
        PresetInfo::new("cpu", F32, Cpu),
    ]
}
