//! What the estimator needs to know about a quantization preset: how its weights are stored and where they
//! live. The presets module (another branch) owns the full preset (BitsAndBytesConfig interop, user presets);
//! it hands the estimator a list of [`PresetInfo`], so the glue is one `map`.

use serde::{Deserialize, Serialize};

use crate::presets::library::PresetLibrary;
use crate::presets::{builtin, PresetBody};
use crate::Result;

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
    /// What the estimator needs from a preset (built-in or the user's): how its weights are stored and where.
    /// - quantized: `load_in_4bit` is NF4/FP4 (double quantization as set), `load_in_8bit` is LLM.int8; with
    ///   `llm_int8_enable_fp32_cpu_offload`, what does not fit stays on the CPU;
    /// - `device: cpu` is fp32 on the CPU whatever the dtype (CPU inference runs in fp32 in practice);
    /// - otherwise `torch_dtype`; `auto` keeps the checkpoint's dtype, sized as bf16, which nearly every
    ///   checkpoint since Llama 2 stores.
    pub fn from_body(name: &str, body: &PresetBody) -> Self {
        use crate::presets::{Device, TorchDtype};
        let offload = body
            .quantization
            .as_ref()
            .is_some_and(|q| q.llm_int8_enable_fp32_cpu_offload);
        let on_gpu = if offload {
            Placement::GpuWithCpuOffload
        } else {
            Placement::Gpu
        };
        let (format, placement) = match (&body.quantization, body.load.device) {
            (_, Device::Cpu) => (WeightFormat::F32, Placement::Cpu),
            (Some(q), Device::Cuda) if q.load_in_4bit => (
                WeightFormat::Int4 {
                    double_quant: q.bnb_4bit_use_double_quant,
                },
                on_gpu,
            ),
            (Some(q), Device::Cuda) if q.load_in_8bit => (WeightFormat::Int8, on_gpu),
            (_, Device::Cuda) => (
                match body.load.torch_dtype {
                    TorchDtype::Float32 => WeightFormat::F32,
                    TorchDtype::Float16 => WeightFormat::F16,
                    TorchDtype::Bfloat16 | TorchDtype::Auto => WeightFormat::Bf16,
                },
                Placement::Gpu,
            ),
        };
        PresetInfo {
            name: name.to_string(),
            format,
            placement,
        }
    }
}

/// The eight built-in presets (issue 3; docs/estimator.md §14 "App-level load presets"), from the presets module.
pub fn builtin_presets() -> Vec<PresetInfo> {
    builtin::all()
        .iter()
        .map(|(name, body)| PresetInfo::from_body(name, body))
        .collect()
}

/// Every preset a plan may name: the built-ins, then the user's saved presets. Files that cannot be read are
/// moved aside by the library and simply do not appear.
pub fn available_presets(library: &PresetLibrary) -> Result<Vec<PresetInfo>> {
    Ok(library
        .list()?
        .presets
        .iter()
        .map(|p| PresetInfo::from_body(&p.name, &p.body))
        .collect())
}
