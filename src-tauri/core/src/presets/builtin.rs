//! The built-in presets: read-only, always present, duplicable. They replace the old Python layer's
//! `UnifiedQuantizationConfig` presets and add the unquantized `fp32`/`bf16`.
//!
//! Quantization settings follow docs/estimator.md §14 and the transformers dumps in `tests/fixtures/bnb/`:
//! - `int8`: `BitsAndBytesConfig(load_in_8bit=True)`; `torch_dtype` float16, what transformers' 8-bit quantizer
//!   picks when none is given (`quantizer_bnb_8bit.update_torch_dtype`).
//! - `int4`: nf4, compute bfloat16 (QLoRA paper, Dettmers et al. 2023, §3: NF4 with BF16 compute).
//! - `int4_double`: `int4` + double quantization of the constants (same paper, ~0.37 bit/param saved).
//! - `int4_offload`: `int4_double` + `llm_int8_enable_fp32_cpu_offload`, `device_map="auto"`: modules that do
//!   not fit the GPU stay on the CPU in fp32. No `max_memory` is built in: accelerate then fills 90% of each
//!   GPU's free memory first (`get_balanced_memory`/`get_max_memory`), which fits whatever machine runs it;
//!   a duplicate can pin limits such as `{"0": "10GiB", "cpu": "30GiB"}`.
//! - `cpu`: unquantized float32 on the CPU (`device_map="cpu"`), docs/estimator.md §14 "App-level load presets".

use super::bnb::{BnbConfig, ComputeDtype, QuantType};
use super::{Device, DeviceMap, LoadSettings, PresetBody, TorchDtype};

/// Built-in names, in the order the UI lists them (heaviest first).
pub const NAMES: [&str; 8] = [
    "fp32",
    "bf16",
    "fp16",
    "int8",
    "int4",
    "int4_double",
    "int4_offload",
    "cpu",
];

pub fn is_builtin(name: &str) -> bool {
    NAMES.contains(&name)
}

/// The built-in preset called `name`, if there is one.
pub fn get(name: &str) -> Option<PresetBody> {
    let gpu = |dtype: TorchDtype| LoadSettings {
        device: Device::Cuda,
        torch_dtype: dtype,
        device_map: Some(DeviceMap::Named("auto".into())),
        max_memory: Default::default(),
    };
    let nf4 = |double: bool, offload: bool| BnbConfig {
        load_in_4bit: true,
        bnb_4bit_quant_type: QuantType::Nf4,
        bnb_4bit_compute_dtype: ComputeDtype::Bfloat16,
        bnb_4bit_use_double_quant: double,
        llm_int8_enable_fp32_cpu_offload: offload,
        ..BnbConfig::default()
    };
    let body =
        |description: &str, load: LoadSettings, quantization: Option<BnbConfig>| PresetBody {
            description: description.into(),
            load,
            quantization,
        };
    Some(match name {
        "fp32" => body(
            "Full precision: 4 bytes per parameter. Reference quality, most memory.",
            gpu(TorchDtype::Float32),
            None,
        ),
        "bf16" => body(
            "bfloat16 weights: 2 bytes per parameter, fp32's range. The usual choice on Ampere and newer.",
            gpu(TorchDtype::Bfloat16),
            None,
        ),
        "fp16" => body(
            "float16 weights: 2 bytes per parameter. For GPUs without bfloat16 (before Ampere).",
            gpu(TorchDtype::Float16),
            None,
        ),
        "int8" => body(
            "LLM.int8(): about 1 byte per parameter, outlier features kept in fp16. Near-fp16 quality.",
            gpu(TorchDtype::Float16),
            Some(BnbConfig {
                load_in_8bit: true,
                ..BnbConfig::default()
            }),
        ),
        "int4" => body(
            "4-bit NF4 with bfloat16 compute: about 0.5 byte per parameter plus scales. The QLoRA setting.",
            gpu(TorchDtype::Bfloat16),
            Some(nf4(false, false)),
        ),
        "int4_double" => body(
            "4-bit NF4 with double quantization of the scales: about 0.4 bit per parameter less than int4.",
            gpu(TorchDtype::Bfloat16),
            Some(nf4(true, false)),
        ),
        "int4_offload" => body(
            "int4_double, and modules that do not fit the GPU stay on the CPU in fp32. Slow, but it loads.",
            gpu(TorchDtype::Bfloat16),
            Some(nf4(true, true)),
        ),
        "cpu" => body(
            "No GPU: float32 on the CPU. For checks and tiny models.",
            LoadSettings {
                device: Device::Cpu,
                torch_dtype: TorchDtype::Float32,
                device_map: Some(DeviceMap::Named("cpu".into())),
                max_memory: Default::default(),
            },
            None,
        ),
        _ => return None,
    })
}

/// Every built-in, in [`NAMES`] order.
pub fn all() -> Vec<(&'static str, PresetBody)> {
    NAMES
        .iter()
        .filter_map(|name| get(name).map(|body| (*name, body)))
        .collect()
}
