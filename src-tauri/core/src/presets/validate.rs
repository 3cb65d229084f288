//! The rules a preset must follow, each reported against the field it concerns. Sources:
//! - transformers `utils/quantization_config.py` (`BitsAndBytesConfig.__init__`/`post_init`): 8-bit and 4-bit
//!   exclusive, field types, the allowed `bnb_4bit_quant_storage` strings;
//! - transformers `quantizers/quantizer_bnb_4bit.py`/`quantizer_bnb_8bit.py` (`validate_environment`): a
//!   quantized model may only place modules on the CPU or disk with `llm_int8_enable_fp32_cpu_offload=True`;
//! - bitsandbytes `functional.quantize_4bit`: quant type `nf4` or `fp4` (enforced by [`super::bnb::QuantType`]);
//! - accelerate `utils/modeling.py` (`get_max_memory`, `convert_file_size_to_int`): `max_memory` keys are GPU
//!   indices, `"cpu"` or `"disk"`; sizes are integers or strings with a unit (enforced by
//!   [`super::memory::MemoryLimit`]). `max_memory` is only read when `device_map` is a strategy.

use super::field::{join_path, FieldError, FieldErrors};
use super::{
    BnbConfig, Device, DeviceMap, LoadSettings, Placement, PresetBody, DEVICE_MAP_STRATEGIES,
};
use crate::message::{Key, Message};

/// Longest description kept: one paragraph of help, not a document.
pub const MAX_DESCRIPTION: usize = 2000;

/// Every rule `body` breaks, or `Ok`.
pub fn preset(body: &PresetBody) -> Result<(), FieldErrors> {
    let mut errors = Vec::new();
    if body.description.chars().count() > MAX_DESCRIPTION {
        errors.push(FieldError::keyed(
            "description",
            Message::new(Key::InvalidMustAtMostCharacters).text("max", MAX_DESCRIPTION.to_string()),
        ));
    }
    load(&body.load, "load", &mut errors);
    if let Some(q) = &body.quantization {
        quantization(q, "quantization", &mut errors);
        quantized_load(&body.load, q, &mut errors);
    }
    FieldErrors(errors).into_result()
}

fn load(load: &LoadSettings, at: &str, errors: &mut Vec<FieldError>) {
    let f = |name: &str| format!("{at}.{name}");
    match &load.device_map {
        None => {}
        Some(DeviceMap::Named(name)) if DEVICE_MAP_STRATEGIES.contains(&name.as_str()) => {}
        Some(DeviceMap::Named(name)) => {
            // One device for the whole model: transformers turns the string into `torch.device(name)`, which
            // takes "cpu" or "cuda:0" but not a bare "0", and a model cannot run from "disk".
            let whole = Placement(name.clone());
            let result = if whole.gpu_index().is_some() {
                Err(Message::new(Key::InvalidPresetOneGpu).text("index", name.as_str()))
            } else if name == "disk" {
                Err(Message::new(Key::InvalidPresetDiskAlone))
            } else {
                placement(&whole)
            };
            if let Err(m) = result {
                errors.push(FieldError::keyed(
                    f("device_map"),
                    Message::new(Key::InvalidPresetNeitherStrategyNorDevice)
                        .text("name", format!("{name:?}"))
                        .text("strategies", DEVICE_MAP_STRATEGIES.join(", "))
                        .message("m", m),
                ));
            }
        }
        Some(DeviceMap::Modules(modules)) => {
            if modules.is_empty() {
                errors.push(FieldError::keyed(
                    f("device_map"),
                    Message::new(Key::InvalidPresetExplicitDeviceMapNeeds),
                ));
            }
            for (module, place) in modules {
                if module.chars().any(char::is_whitespace) {
                    errors.push(FieldError::keyed(
                        format!("{}.{module}", f("device_map")),
                        Message::new(Key::InvalidPresetModuleNameCannotContain),
                    ));
                }
                if let Err(m) = placement(place) {
                    errors.push(FieldError::keyed(
                        format!("{}.{module}", f("device_map")),
                        m,
                    ));
                }
            }
        }
    }
    for key in load.max_memory.keys() {
        let gpu = !key.is_empty()
            && key.bytes().all(|b| b.is_ascii_digit())
            && key.parse::<u32>().is_ok();
        if !(gpu || key == "cpu" || key == "disk") {
            errors.push(FieldError::keyed(
                format!("{}.{key}", f("max_memory")),
                Message::new(Key::InvalidPresetUnknownDeviceUseGpu),
            ));
        }
    }
    if !load.max_memory.is_empty() {
        let strategy = matches!(&load.device_map, Some(DeviceMap::Named(n)) if DEVICE_MAP_STRATEGIES.contains(&n.as_str()));
        if !strategy {
            errors.push(FieldError::keyed(
                f("max_memory"),
                Message::new(Key::InvalidPresetOnlyAppliesWhenDevice),
            ));
        }
    }
    if load.device == Device::Cpu {
        let all_cpu = match &load.device_map {
            None => true,
            Some(DeviceMap::Named(n)) => n == "cpu",
            Some(DeviceMap::Modules(m)) => m.values().all(|p| p.0 == "cpu"),
        };
        if !all_cpu {
            errors.push(FieldError::keyed(
                f("device_map"),
                Message::new(Key::InvalidPresetDeviceCpuPutEvery),
            ));
        }
        if load.max_memory.keys().any(|k| k != "cpu" && k != "disk") {
            errors.push(FieldError::keyed(
                f("max_memory"),
                Message::new(Key::InvalidPresetDeviceCpuGpuLimits),
            ));
        }
    }
}

/// A device spelling accelerate's `device_map` accepts for NVIDIA machines.
fn placement(p: &Placement) -> Result<(), Message> {
    let s = p.0.as_str();
    let ok = p.gpu_index().is_some()
        || matches!(s, "cpu" | "disk" | "cuda")
        || s.strip_prefix("cuda:").is_some_and(|i| {
            !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()) && i.parse::<u32>().is_ok()
        });
    if ok {
        Ok(())
    } else {
        Err(Message::new(Key::InvalidPresetNotDevice).text("value", format!("{s:?}")))
    }
}

/// `BitsAndBytesConfig`'s own rules, and the values bitsandbytes can act on.
pub fn quantization(q: &BnbConfig, at: &str, errors: &mut Vec<FieldError>) {
    let f = |name: &str| join_path(at, name);
    if q.load_in_8bit && q.load_in_4bit {
        // transformers' own wording (`BitsAndBytesConfig.__init__`).
        errors.push(FieldError::keyed(
            f("load_in_4bit"),
            Message::new(Key::InvalidPresetLoad4bitLoad8bit),
        ));
    }
    if !q.load_in_8bit && !q.load_in_4bit {
        errors.push(FieldError::keyed(
            f("load_in_4bit"),
            Message::new(Key::InvalidPresetNeitherLoad8bitNor),
        ));
    }
    if !q.llm_int8_threshold.is_finite() || q.llm_int8_threshold < 0.0 {
        // LLM.int8() treats feature magnitudes above the threshold as outliers; 0.0 turns the decomposition
        // off, a negative or infinite value has no meaning (bitsandbytes `MatmulLtState.threshold`).
        errors.push(FieldError::keyed(
            f("llm_int8_threshold"),
            Message::new(Key::InvalidPresetMustFiniteFloatAt)
                .text("value", q.llm_int8_threshold.to_string()),
        ));
    }
    if let Some(modules) = &q.llm_int8_skip_modules {
        for (i, m) in modules.iter().enumerate() {
            if m.trim().is_empty() || m.chars().any(char::is_whitespace) {
                errors.push(FieldError::keyed(
                    format!("{}.{i}", f("llm_int8_skip_modules")),
                    Message::new(Key::InvalidPresetNotModuleName).text("m", format!("{m:?}")),
                ));
            }
        }
    }
}

/// Rules that tie the load settings to quantization.
fn quantized_load(load: &LoadSettings, q: &BnbConfig, errors: &mut Vec<FieldError>) {
    if load.device == Device::Cpu {
        errors.push(FieldError::keyed(
            "load.device",
            Message::new(Key::InvalidPresetBitsandbytesQuantizationRunsCuda),
        ));
        return;
    }
    if q.llm_int8_enable_fp32_cpu_offload {
        return;
    }
    let skipped = |module: &str| {
        q.llm_int8_skip_modules
            .as_ref()
            .is_some_and(|list| list.iter().any(|m| m == module))
    };
    let off_gpu = |p: &Placement| p.0 == "cpu" || p.0 == "disk";
    let offloads = match &load.device_map {
        Some(DeviceMap::Named(n)) => n == "cpu" || n == "disk",
        Some(DeviceMap::Modules(m)) => m.iter().any(|(module, p)| off_gpu(p) && !skipped(module)),
        None => false,
    };
    if offloads {
        // transformers' bnb quantizers raise "Some modules are dispatched on the CPU or the disk…".
        errors.push(FieldError::keyed(
            "quantization.llm_int8_enable_fp32_cpu_offload",
            Message::new(Key::InvalidPresetMustTrueWhenDevice),
        ));
    } else if load.max_memory.contains_key("cpu") || load.max_memory.contains_key("disk") {
        errors.push(FieldError::keyed(
            "quantization.llm_int8_enable_fp32_cpu_offload",
            Message::new(Key::InvalidPresetMustTrueWhenMax),
        ));
    }
}
