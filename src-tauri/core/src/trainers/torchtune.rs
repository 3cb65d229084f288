//! A torchtune recipe config YAML (`recipes/configs/`): `_component_` builders and the recipe's own keys.

use serde_json::{json, Value};

use super::common;
use super::doc::{as_bool, as_count, Doc};

/// torchtune model builders → Hugging Face ids of the same weights (the ids `tune download` fetches for the
/// recipes that use them).
const BUILDERS: &[(&str, &str)] = &[
    ("llama3_2_1b", "meta-llama/Llama-3.2-1B"),
    ("llama3_2_3b", "meta-llama/Llama-3.2-3B"),
    ("llama3_1_8b", "meta-llama/Llama-3.1-8B"),
    ("llama3_1_70b", "meta-llama/Llama-3.1-70B"),
    ("llama3_1_405b", "meta-llama/Llama-3.1-405B"),
    ("llama3_3_70b", "meta-llama/Llama-3.3-70B-Instruct"),
    ("llama3_8b", "meta-llama/Meta-Llama-3-8B"),
    ("llama2_7b", "meta-llama/Llama-2-7b-hf"),
    ("llama2_13b", "meta-llama/Llama-2-13b-hf"),
    ("llama2_70b", "meta-llama/Llama-2-70b-hf"),
    ("mistral_7b", "mistralai/Mistral-7B-v0.1"),
    ("gemma_2b", "google/gemma-2b"),
    ("gemma_7b", "google/gemma-7b"),
    ("gemma2_2b", "google/gemma-2-2b"),
    ("gemma2_9b", "google/gemma-2-9b"),
    ("phi3_mini", "microsoft/Phi-3-mini-4k-instruct"),
    ("qwen2_5_0_5b", "Qwen/Qwen2.5-0.5B-Instruct"),
    ("qwen2_5_1_5b_instruct", "Qwen/Qwen2.5-1.5B-Instruct"),
    ("qwen2_5_3b", "Qwen/Qwen2.5-3B-Instruct"),
    ("qwen2_5_7b_instruct", "Qwen/Qwen2.5-7B-Instruct"),
    ("qwen2_5_14b_instruct", "Qwen/Qwen2.5-14B-Instruct"),
    ("qwen2_5_32b_instruct", "Qwen/Qwen2.5-32B-Instruct"),
    ("qwen2_5_72b_instruct", "Qwen/Qwen2.5-72B-Instruct"),
    ("qwen2_0_5b", "Qwen/Qwen2-0.5B-Instruct"),
    ("qwen2_1_5b", "Qwen/Qwen2-1.5B-Instruct"),
    ("qwen2_7b", "Qwen/Qwen2-7B-Instruct"),
    ("qwen3_0_6b_instruct", "Qwen/Qwen3-0.6B"),
    ("qwen3_1_7b_instruct", "Qwen/Qwen3-1.7B"),
    ("qwen3_4b_instruct", "Qwen/Qwen3-4B"),
    ("qwen3_8b_instruct", "Qwen/Qwen3-8B"),
    ("qwen3_14b_instruct", "Qwen/Qwen3-14B"),
    ("qwen3_32b", "Qwen/Qwen3-32B"),
];

/// torchtune's LoRA module names → the Hugging Face names a plan uses.
fn hf_module(name: &str) -> &str {
    match name {
        "output_proj" => "o_proj",
        "w1" => "gate_proj",
        "w3" => "up_proj",
        "w2" => "down_proj",
        "output" => "lm_head",
        other => other,
    }
}

pub fn read(doc: &mut Doc) {
    model(doc);
    // A packed dataset pads every pack to the tokenizer's max_seq_len (`PackedDataset._pad_pack`): one length,
    // nothing stranded between lengths (docs/estimator.md §17).
    if let (Some(true), Some(n)) = (
        doc.peek("dataset.packed").and_then(as_bool),
        doc.peek("tokenizer.max_seq_len").and_then(as_count),
    ) {
        let value = doc.take("dataset.packed").unwrap_or_default();
        doc.set_noted(
            "sequence_lengths",
            json!([n]),
            "dataset.packed",
            value,
            Some("packs padded to tokenizer.max_seq_len: one length".into()),
        );
    }
    for (key, plan_key) in [
        ("batch_size", "batch_size"),
        ("gradient_accumulation_steps", "gradient_accumulation_steps"),
        ("tokenizer.max_seq_len", "sequence_length"),
    ] {
        if let Some(v) = doc.take(key) {
            match as_count(&v) {
                Some(n) => doc.set(plan_key, json!(n), key, v),
                None => doc.not_understood(key, v, "expected a positive whole number"),
            }
        }
    }
    if let Some(v) = doc.take("dtype") {
        match v.as_str() {
            Some("bf16") => doc.set_noted(
                "precision",
                json!("bf16-true"),
                "dtype",
                v,
                Some("torchtune trains in the model's dtype, without an fp32 copy".into()),
            ),
            Some("fp32") => doc.set("precision", json!("fp32"), "dtype", v),
            Some("fp16") => doc.set("precision", json!("fp16-true"), "dtype", v),
            _ => doc.not_understood("dtype", v, "expected bf16, fp16 or fp32"),
        }
    }
    for (key, plan_key) in [
        ("enable_activation_checkpointing", "gradient_checkpointing"),
        ("enable_activation_offloading", "activation_offload"),
        ("compile", "torch_compile"),
        ("optimizer_in_bwd", "optimizer_in_backward"),
    ] {
        if let Some(v) = doc.take(key) {
            match as_bool(&v) {
                Some(b) => doc.set(plan_key, json!(b), key, v),
                None => doc.not_understood(key, v, "expected true or false"),
            }
        }
    }
    if let Some(v) = doc.take("optimizer._component_") {
        match v.as_str().and_then(common::optimizer) {
            Some(o) => doc.set("optimizer", json!(o), "optimizer._component_", v),
            None => doc.not_understood(
                "optimizer._component_",
                v,
                "an optimizer Headroom does not model",
            ),
        }
    }
    doc.ignore(
        "optimizer",
        "optimizer hyperparameters: no effect on memory",
    );
    if let Some(v) = doc.take("loss._component_") {
        let name = v.as_str().unwrap_or_default();
        if name.ends_with("LinearCrossEntropyLoss") || name.ends_with("CEWithChunkedOutputLoss") {
            doc.set("chunked_loss", json!(true), "loss._component_", v);
        } else if name.ends_with("CrossEntropyLoss") {
            doc.set("chunked_loss", json!(false), "loss._component_", v);
        } else {
            doc.not_understood("loss._component_", v, "a loss Headroom does not model");
        }
    }
    doc.ignore("loss", "loss options: no effect on memory");
    // Distributed recipes (FSDP2): resharding after forward is full sharding; CPU offload moves parameters,
    // gradients and optimizer states.
    if let Some(v) = doc.take("fsdp_reshard_after_forward") {
        match as_bool(&v) {
            Some(true) => doc.set(
                "sharding",
                json!("fsdp_full_shard"),
                "fsdp_reshard_after_forward",
                v,
            ),
            Some(false) => doc.set(
                "sharding",
                json!("fsdp_shard_grad_op"),
                "fsdp_reshard_after_forward",
                v,
            ),
            None => doc.not_understood("fsdp_reshard_after_forward", v, "expected true or false"),
        }
    }
    if let Some(v) = doc.take("fsdp_cpu_offload") {
        match as_bool(&v) {
            Some(true) => doc.set(
                "offload",
                json!("optimizer_and_params"),
                "fsdp_cpu_offload",
                v,
            ),
            Some(false) => doc.set("offload", json!("none"), "fsdp_cpu_offload", v),
            None => doc.not_understood("fsdp_cpu_offload", v, "expected true or false"),
        }
    }
    doc.ignore_all(
        &[
            "output_dir",
            "tokenizer",
            "checkpointer",
            "resume_from_checkpoint",
            "save_adapter_weights_only",
            "dataset",
            "seed",
            "shuffle",
            "lr_scheduler",
            "epochs",
            "max_steps_per_epoch",
            "clip_grad_norm",
            "metric_logger",
            "log_every_n_steps",
            "log_peak_memory_stats",
            "log_level",
            "device",
            "profiler",
            "custom_sharded_layers",
            "run_val_every_n_steps",
            "dataset_val",
            "batch_size_val",
            "cudnn_deterministic_mode",
        ],
        "data, checkpoints, logging and schedule: no effect on the training step's memory",
    );
}

fn model(doc: &mut Doc) {
    let Some(v) = doc.take("model._component_") else {
        return;
    };
    let builder = v
        .as_str()
        .unwrap_or_default()
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_string();
    let (method, base) = if let Some(b) = builder.strip_prefix("qlora_") {
        (Some("qlora"), b)
    } else if let Some(b) = builder.strip_prefix("lora_") {
        (Some("lora"), b)
    } else {
        (None, builder.as_str())
    };
    match BUILDERS.iter().find(|(b, _)| *b == base) {
        Some((_, id)) => doc.set_noted(
            "model.id",
            json!(id),
            "model._component_",
            v.clone(),
            Some(format!("the builder {base} builds {id}")),
        ),
        None => doc.not_understood(
            "model._component_",
            v.clone(),
            "a model builder Headroom has no Hugging Face id for: give the model with --model",
        ),
    }
    match method {
        Some("qlora") => {
            doc.set("method", json!("qlora"), "model._component_", v.clone());
            doc.set_noted(
                "quantization",
                json!("int4"),
                "model._component_",
                v,
                Some(
                    "torchtune's QLoRA builders keep the base in NF4, without double quantization"
                        .into(),
                ),
            );
        }
        Some(m) => doc.set("method", json!(m), "model._component_", v),
        None => doc.set("method", json!("full"), "model._component_", v),
    }
    if method.is_none() {
        return;
    }
    if let Some(v) = doc.take("model.lora_rank") {
        if let Some(n) = as_count(&v) {
            doc.set("lora.rank", json!(n), "model.lora_rank", v);
        }
    }
    for (key, plan_key) in [
        ("model.lora_alpha", "lora.alpha"),
        ("model.lora_dropout", "lora.dropout"),
    ] {
        doc.take_number(key, plan_key);
    }
    let attn = doc.take("model.lora_attn_modules");
    let mlp = doc
        .take("model.apply_lora_to_mlp")
        .as_ref()
        .and_then(as_bool)
        == Some(true);
    let output = doc
        .take("model.apply_lora_to_output")
        .as_ref()
        .and_then(as_bool)
        == Some(true);
    let mut names: Vec<String> = attn
        .as_ref()
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|n| hf_module(n).to_string())
                .collect()
        })
        .unwrap_or_default();
    if mlp {
        names.extend(["gate_proj", "up_proj", "down_proj"].map(String::from));
    }
    if output {
        names.push("lm_head".into());
    }
    if !names.is_empty() {
        doc.set_noted(
            "lora.target_modules",
            json!(names),
            "model.lora_attn_modules",
            attn.unwrap_or_default(),
            Some(
                "with apply_lora_to_mlp and apply_lora_to_output, in Hugging Face module names"
                    .into(),
            ),
        );
        doc.cover("model.apply_lora_to_mlp");
        doc.cover("model.apply_lora_to_output");
    }
    doc.ignore(
        "model.quantize_base",
        "the builder's name already says whether the base is quantized",
    );
}
