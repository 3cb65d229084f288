//! A LitGPT finetune config YAML (`config_hub/finetune/`, the arguments of `litgpt finetune_lora|finetune`).

use serde_json::{json, Value};

use super::common;
use super::doc::{as_bool, as_count, Doc};

/// LitGPT's `lora_*` switches → Hugging Face module names.
const LORA_SWITCHES: &[(&str, &[&str])] = &[
    ("lora_query", &["q_proj"]),
    ("lora_key", &["k_proj"]),
    ("lora_value", &["v_proj"]),
    ("lora_projection", &["o_proj"]),
    ("lora_mlp", &["gate_proj", "up_proj", "down_proj"]),
    ("lora_head", &["lm_head"]),
];

pub fn read(doc: &mut Doc) {
    if let Some(v) = doc.take("checkpoint_dir") {
        // `litgpt download ORG/NAME` writes to checkpoints/ORG/NAME.
        let s = v.as_str().unwrap_or_default().trim_end_matches('/');
        let id = s.strip_prefix("checkpoints/").unwrap_or(s);
        if id.split('/').count() == 2 && !id.starts_with('.') {
            doc.set_noted(
                "model.id",
                json!(id),
                "checkpoint_dir",
                v.clone(),
                Some("litgpt download ORG/NAME writes to checkpoints/ORG/NAME".into()),
            );
        } else {
            doc.not_understood(
                "checkpoint_dir",
                v,
                "not a checkpoints/ORG/NAME folder: give the model with --model",
            );
        }
    }
    let lora = doc.peek("lora_r").is_some();
    let quantize = doc.take("quantize");
    let quantization = match quantize.as_ref().and_then(Value::as_str) {
        None => None,
        Some("bnb.nf4") | Some("bnb.fp4") => Some("int4"),
        Some("bnb.nf4-dq") | Some("bnb.fp4-dq") => Some("int4_double"),
        Some("bnb.int8") | Some("bnb.int8-training") => Some("int8"),
        Some(_) => {
            doc.not_understood(
                "quantize",
                quantize.clone().unwrap_or_default(),
                "a quantization Headroom does not model",
            );
            None
        }
    };
    if let (Some(q), Some(v)) = (quantization, quantize.clone()) {
        doc.set("quantization", json!(q), "quantize", v);
    }
    let method = match (lora, quantization.is_some()) {
        (true, true) => "qlora",
        (true, false) => "lora",
        _ => "full",
    };
    doc.set_noted(
        "method",
        json!(method),
        "lora_r",
        doc.peek("lora_r").cloned().unwrap_or_default(),
        Some("a config with lora_r is finetune_lora's".into()),
    );
    if let Some(v) = doc.take("precision") {
        let p = match v.as_str() {
            Some("bf16-true") => Some("bf16-true"),
            Some("bf16-mixed") => Some("bf16-mixed"),
            Some("16-true") | Some("fp16-true") => Some("fp16-true"),
            Some("16-mixed") | Some("fp16-mixed") => Some("fp16-mixed"),
            Some("32-true") | Some("32") => Some("fp32"),
            _ => None,
        };
        match p {
            Some(p) => doc.set("precision", json!(p), "precision", v),
            None => doc.not_understood("precision", v, "not a Lightning precision Headroom models"),
        }
    }
    let devices = doc.take("devices");
    match devices.as_ref().map(|v| (as_count(v), v)) {
        Some((Some(n), v)) => doc.set("gpus.count", json!(n), "devices", v.clone()),
        Some((None, v)) => doc.not_understood(
            "devices",
            v.clone(),
            "a device list or auto: give the GPU count with the plan",
        ),
        None => {}
    }
    if let Some(v) = doc.take("num_nodes") {
        if let Some(n) = as_count(&v) {
            doc.set("nodes", json!(n), "num_nodes", v);
        }
    }
    if lora {
        if let Some(v) = doc.take("lora_r") {
            if let Some(n) = as_count(&v) {
                doc.set("lora.rank", json!(n), "lora_r", v);
            }
        }
        for (key, plan_key) in [
            ("lora_alpha", "lora.alpha"),
            ("lora_dropout", "lora.dropout"),
        ] {
            doc.take_number(key, plan_key);
        }
        let mut names = Vec::new();
        let mut on = Vec::new();
        for (key, modules) in LORA_SWITCHES {
            if doc.take(key).as_ref().and_then(as_bool) == Some(true) {
                names.extend(modules.iter().map(|m| m.to_string()));
                on.push(*key);
            }
        }
        if let Some(first) = on.first() {
            doc.set_noted(
                "lora.target_modules",
                json!(names),
                first,
                json!(true),
                Some(format!(
                    "{} on, in Hugging Face module names",
                    on.join(", ")
                )),
            );
            for key in &on[1..] {
                doc.cover(key);
            }
        }
    }
    let micro = doc.take("train.micro_batch_size");
    let micro_n = micro.as_ref().and_then(as_count);
    if let (Some(n), Some(v)) = (micro_n, micro) {
        doc.set("batch_size", json!(n), "train.micro_batch_size", v);
    }
    if let Some(v) = doc.take("train.global_batch_size") {
        // litgpt: gradient_accumulation_iters = global_batch_size // devices // micro_batch_size.
        let devices = devices.as_ref().and_then(as_count).unwrap_or(1);
        let micro = micro_n.unwrap_or(4); // TrainArgs.micro_batch_size default
        match as_count(&v) {
            Some(g) if g / devices / micro >= 1 => doc.set_noted(
                "gradient_accumulation_steps",
                json!(g / devices / micro),
                "train.global_batch_size",
                v,
                Some(format!(
                    "global_batch_size / devices ({devices}) / micro_batch_size ({micro})"
                )),
            ),
            _ => doc.not_understood(
                "train.global_batch_size",
                v,
                "smaller than devices × micro_batch_size",
            ),
        }
    }
    if let Some(v) = doc.take("train.max_seq_length") {
        if let Some(n) = as_count(&v) {
            doc.set("sequence_length", json!(n), "train.max_seq_length", v);
        }
    }
    if let Some(v) = doc.take("optimizer") {
        // A class name (`AdamW`) or a jsonargparse `{class_path, init_args}`.
        let name = match &v {
            Value::String(s) => s.clone(),
            Value::Object(o) => o
                .get("class_path")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            _ => String::new(),
        };
        match common::optimizer(&name) {
            Some(o) => doc.set("optimizer", json!(o), "optimizer", v),
            None => doc.not_understood("optimizer", v, "an optimizer Headroom does not model"),
        }
    }
    doc.ignore_all(
        &[
            "out_dir",
            "data",
            "eval",
            "logger_name",
            "seed",
            "access_token",
            "resume",
        ],
        "data, evaluation, logging and output: no effect on the training step's memory",
    );
    doc.ignore_all(
        &[
            "train.save_interval",
            "train.log_interval",
            "train.lr_warmup_steps",
            "train.lr_warmup_fraction",
            "train.epochs",
            "train.max_tokens",
            "train.max_steps",
            "train.max_norm",
            "train.min_lr",
            "train.tie_embeddings",
        ],
        "schedule and logging: no effect on memory",
    );
}
