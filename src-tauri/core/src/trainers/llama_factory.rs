//! A LLaMA-Factory training YAML (`src/llamafactory/hparams/`: ModelArguments, FinetuningArguments,
//! DataArguments, and the TrainingArguments fields read by [`super::training_args::trainer_keys`]).

use serde_json::{json, Value};

use super::common;
use super::doc::{as_bool, as_count, Doc};
use super::training_args;

pub fn read(doc: &mut Doc) {
    if let Some(v) = doc.take("model_name_or_path") {
        if let Some(id) = v.as_str() {
            doc.set("model.id", json!(id), "model_name_or_path", v.clone());
        }
    }
    training_args::trainer_keys(doc);
    if let Some(v) = doc.take("stage") {
        match v.as_str() {
            Some("sft") | Some("pt") => doc.ignore("stage", "supervised or pre-training: one model, as a plan estimates"),
            _ => doc.not_understood(
                "stage",
                v,
                "preference and reward stages load a reference or value model beside the trained one: not modelled",
            ),
        }
    }
    let bits = doc.take("quantization_bit");
    let double = doc
        .take("double_quantization")
        .as_ref()
        .and_then(as_bool)
        .unwrap_or(true);
    let method = doc.take("quantization_method");
    let quantized = match bits.as_ref().and_then(as_count) {
        Some(4) => {
            // ModelArguments.double_quantization defaults to True.
            let q = if double { "int4_double" } else { "int4" };
            doc.set_noted(
                "quantization",
                json!(q),
                "quantization_bit",
                json!(4),
                Some(format!("double_quantization {double}")),
            );
            doc.cover("double_quantization");
            true
        }
        Some(8) => {
            doc.set("quantization", json!("int8"), "quantization_bit", json!(8));
            true
        }
        Some(n) => {
            doc.not_understood(
                "quantization_bit",
                json!(n),
                "Headroom models 4- and 8-bit bitsandbytes",
            );
            false
        }
        None => false,
    };
    if let Some(m) = method {
        if m.as_str() != Some("bnb") && m.as_str() != Some("bitsandbytes") {
            doc.not_understood(
                "quantization_method",
                m,
                "Headroom models bitsandbytes quantization",
            );
        }
    }
    // FinetuningArguments.finetuning_type defaults to lora.
    let kind = doc.take("finetuning_type");
    match kind.as_ref().and_then(Value::as_str).unwrap_or("lora") {
        "lora" => {
            let m = if quantized { "qlora" } else { "lora" };
            doc.set(
                "method",
                json!(m),
                "finetuning_type",
                kind.clone().unwrap_or(Value::Null),
            );
            lora(doc);
        }
        "full" => doc.set("method", json!("full"), "finetuning_type", json!("full")),
        "freeze" => {
            doc.set(
                "method",
                json!("freeze"),
                "finetuning_type",
                json!("freeze"),
            );
            if let Some(v) = doc.take("freeze_trainable_layers") {
                match v.as_i64().map(|n| n.unsigned_abs()).filter(|n| *n > 0) {
                    Some(n) => doc.set_noted("freeze_trainable_layers", json!(n), "freeze_trainable_layers", v, Some("a negative count trains the first layers instead of the last: the same number".into())),
                    None => doc.not_understood("freeze_trainable_layers", v, "expected a non-zero whole number"),
                }
            }
        }
        other => doc.not_understood(
            "finetuning_type",
            json!(other),
            "Headroom models lora, full and freeze",
        ),
    }
    doc.take_count("cutoff_len", "sequence_length");
    if let Some(v) = doc.take("pure_bf16") {
        if as_bool(&v) == Some(true) {
            doc.set_noted(
                "precision",
                json!("bf16-true"),
                "pure_bf16",
                v,
                Some("weights and optimizer states in bf16, no fp32 copy".into()),
            );
        }
    }
    if let Some(v) = doc.take("disable_gradient_checkpointing") {
        if let Some(b) = as_bool(&v) {
            doc.set(
                "gradient_checkpointing",
                json!(!b),
                "disable_gradient_checkpointing",
                v,
            );
        }
    }
    common::use_reentrant(doc, "use_reentrant_gc");
    if let Some(v) = doc.take("flash_attn") {
        match v.as_str().and_then(common::attention) {
            Some(a) => doc.set("attention", json!(a), "flash_attn", v),
            None => doc.not_understood("flash_attn", v, "an attention Headroom does not model"),
        }
    }
    if let Some(v) = doc.take("enable_liger_kernel") {
        if as_bool(&v) == Some(true) {
            doc.set("chunked_loss", json!(true), "enable_liger_kernel", v);
        }
    }
    for key in [
        "use_unsloth",
        "use_galore",
        "use_apollo",
        "use_badam",
        "use_adam_mini",
        "use_muon",
    ] {
        if let Some(v) = doc.peek(key).cloned() {
            if as_bool(&v) == Some(true) {
                doc.not_understood(key, v, "a memory-saving method Headroom does not model");
            } else {
                doc.take(key);
            }
        }
    }
    doc.ignore_all(
        &[
            "dataset",
            "eval_dataset",
            "dataset_dir",
            "template",
            "max_samples",
            "overwrite_cache",
            "preprocessing_num_workers",
            "val_size",
            "packing",
            "neat_packing",
            "trust_remote_code",
            "default_system",
            "enable_thinking",
            "tokenized_path",
            "streaming",
            "mix_strategy",
            "media_dir",
            "image_max_pixels",
            "video_max_pixels",
            "adapter_name_or_path",
            "export_dir",
            "infer_backend",
            "cache_dir",
        ],
        "data and loading: no effect on the training step's memory",
    );
}

fn lora(doc: &mut Doc) {
    doc.take_count("lora_rank", "lora.rank");
    for (key, plan_key) in [
        ("lora_alpha", "lora.alpha"),
        ("lora_dropout", "lora.dropout"),
    ] {
        doc.take_number(key, plan_key);
    }
    if let Some(v) = doc.take("lora_target") {
        let names: Vec<String> = match &v {
            Value::String(s) => s
                .split(',')
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
                .collect(),
            Value::Array(a) => a
                .iter()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        if names == ["all"] {
            doc.set("lora.target_modules", json!("all-linear"), "lora_target", v);
        } else if !names.is_empty() {
            doc.set("lora.target_modules", json!(names), "lora_target", v);
        } else {
            doc.not_understood(
                "lora_target",
                v,
                "expected all or module names separated by commas",
            );
        }
    }
    if let Some(v) = doc.take("additional_target") {
        let s = v.as_str().unwrap_or_default();
        if s.contains("embed_tokens") || s.contains("lm_head") {
            doc.set("trainable_embeddings", json!(true), "additional_target", v);
        } else {
            doc.not_understood(
                "additional_target",
                v,
                "only embed_tokens and lm_head are modelled",
            );
        }
    }
}
