//! Turning a preset into what Python reads: the `BitsAndBytesConfig` dict (docs/contract.md §3), the
//! `from_pretrained` keyword arguments as JSON (for the launcher), and a short Python snippet.

use serde_json::{json, Map, Value};

use super::pyjson;
use super::{DeviceMap, PresetBody, TorchDtype};
use crate::message::{Key, Message};
use crate::{Error, Result};

/// `json.dumps(BitsAndBytesConfig(...).to_dict(), indent=2)` for a quantized preset. A preset without
/// quantization has no `BitsAndBytesConfig`: that is an [`Error::Invalid`] naming the preset.
pub fn bnb_json(name: &str, body: &PresetBody) -> Result<String> {
    match &body.quantization {
        Some(q) => Ok(q.to_dict_json()),
        None => Err(not_quantized(name, body)),
    }
}

pub(crate) fn not_quantized(name: &str, body: &PresetBody) -> Error {
    let weights = match body.load.torch_dtype {
        TorchDtype::Auto => "the checkpoint's own dtype",
        other => other.as_str(),
    };
    Error::invalid_msg(
        "name",
        Message::new(Key::InvalidPresetPresetDoesNotQuantize)
            .text("name", format!("{name:?}"))
            .text("weights", weights.to_string()),
    )
}

/// The `from_pretrained` keyword arguments besides `quantization_config`, as `presets export --format kwargs`
/// prints them: `{"device_map": …, "max_memory": …, "torch_dtype": …}`, `null` where unset (the keys are the
/// CLI's JSON contract; the launcher hands over [`handover_kwargs`]). The `BitsAndBytesConfig` travels
/// separately ([`super::BnbConfig::to_dict_value`]) because Python must rebuild it with
/// `BitsAndBytesConfig.from_dict`. `max_memory` keys stay strings (JSON keys are); a key of digits is a GPU
/// index and must become an `int` in Python (accelerate `get_max_memory` refuses `"0"`), as the README's
/// snippet does.
pub fn load_kwargs(body: &PresetBody) -> Value {
    let mut out = Map::new();
    out.insert(
        "device_map".into(),
        match &body.load.device_map {
            None => Value::Null,
            Some(m) => serde_json::to_value(m).unwrap_or(Value::Null),
        },
    );
    out.insert(
        "max_memory".into(),
        if body.load.max_memory.is_empty() {
            Value::Null
        } else {
            serde_json::to_value(&body.load.max_memory).unwrap_or(Value::Null)
        },
    );
    out.insert("torch_dtype".into(), json!(body.load.torch_dtype.as_str()));
    Value::Object(out)
}

/// [`load_kwargs`] as the launcher hands them to a program (`launch::handover::PresetHandOver::load_kwargs`):
/// the dtype under `dtype`, the keyword transformers reads since 4.56 (PR #39782; 5.x warns on `torch_dtype`).
pub fn handover_kwargs(body: &PresetBody) -> Value {
    let mut out = load_kwargs(body);
    if let Some(map) = out.as_object_mut() {
        if let Some(dtype) = map.remove("torch_dtype") {
            map.insert("dtype".into(), dtype);
        }
    }
    out
}

/// A Python snippet that loads `model_id` with this preset: `AutoModelForCausalLM.from_pretrained` with
/// `quantization_config` (only the arguments that differ from `BitsAndBytesConfig()`), `device_map`,
/// `max_memory` (GPU keys as integers) and the preset's `torch_dtype`, passed as `dtype=`.
pub fn python_snippet(model_id: &str, body: &PresetBody) -> String {
    let mut imports = vec!["AutoModelForCausalLM"];
    let mut out = String::new();
    let mut quantization = None;
    if let Some(q) = &body.quantization {
        imports.push("BitsAndBytesConfig");
        let mut s = String::from("quantization_config = BitsAndBytesConfig(\n");
        for (key, arg) in q.non_default_kwargs() {
            s.push_str(&format!("    {key}={},\n", arg.to_python()));
        }
        s.push_str(")\n\n");
        quantization = Some(s);
    }
    out.push_str("import torch\n");
    out.push_str(&format!(
        "from transformers import {}\n\n",
        imports.join(", ")
    ));
    if let Some(q) = quantization {
        out.push_str(&q);
    }
    let mut model_literal = String::new();
    pyjson::write_str(&mut model_literal, model_id);
    out.push_str("model = AutoModelForCausalLM.from_pretrained(\n");
    out.push_str(&format!("    {model_literal},\n"));
    if body.quantization.is_some() {
        out.push_str("    quantization_config=quantization_config,\n");
    }
    match &body.load.device_map {
        None => {}
        Some(DeviceMap::Named(name)) => {
            let mut lit = String::new();
            pyjson::write_str(&mut lit, name);
            out.push_str(&format!("    device_map={lit},\n"));
        }
        Some(DeviceMap::Modules(modules)) => {
            let items: Vec<String> = modules
                .iter()
                .map(|(module, place)| {
                    let mut key = String::new();
                    pyjson::write_str(&mut key, module);
                    format!("{key}: {}", place.to_python())
                })
                .collect();
            out.push_str(&format!("    device_map={{{}}},\n", items.join(", ")));
        }
    }
    if !body.load.max_memory.is_empty() {
        // GPU indices first, in numeric order, then "cpu" and "disk", as accelerate lists devices.
        let mut entries: Vec<(&String, &super::MemoryLimit)> =
            body.load.max_memory.iter().collect();
        entries.sort_by_key(|(k, _)| {
            (
                k.parse::<u32>().map_or(1, |_| 0),
                k.parse::<u32>().unwrap_or(0),
                (*k).clone(),
            )
        });
        let items: Vec<String> = entries
            .into_iter()
            .map(|(key, limit)| {
                let key = match key.parse::<u32>() {
                    Ok(i) => i.to_string(),
                    Err(_) => {
                        let mut s = String::new();
                        pyjson::write_str(&mut s, key);
                        s
                    }
                };
                let value = match limit {
                    super::MemoryLimit::Bytes(b) => b.to_string(),
                    super::MemoryLimit::Text { text, .. } => {
                        let mut s = String::new();
                        pyjson::write_str(&mut s, text);
                        s
                    }
                };
                format!("{key}: {value}")
            })
            .collect();
        out.push_str(&format!("    max_memory={{{}}},\n", items.join(", ")));
    }
    // transformers 4.56 renamed `torch_dtype` to `dtype` (PR #39782) and warns on the old name; the reference
    // version (5.24) reads `dtype`. The comment keeps the snippet usable on older installs.
    out.push_str(&format!(
        "    dtype={},  # torch_dtype= before transformers 4.56\n",
        body.load.torch_dtype.to_python()
    ));
    out.push_str(")\n");
    out
}
