//! An Axolotl config YAML (axolotl `src/axolotl/utils/schemas/config.py`, the keys its examples use).

use serde_json::{json, Value};

use super::common;
use super::doc::{as_bool, as_count, Doc};

pub fn read(doc: &mut Doc) {
    if let Some(v) = doc.take("base_model") {
        if let Some(id) = v.as_str() {
            doc.set("model.id", json!(id), "base_model", v.clone());
        }
    }
    let adapter = doc.take("adapter");
    let four = doc.peek("load_in_4bit").and_then(as_bool) == Some(true);
    let eight = doc.peek("load_in_8bit").and_then(as_bool) == Some(true);
    match adapter.as_ref().and_then(Value::as_str) {
        Some("qlora") => doc.set("method", json!("qlora"), "adapter", json!("qlora")),
        Some("lora") => doc.set("method", json!("lora"), "adapter", json!("lora")),
        Some(other) => doc.not_understood(
            "adapter",
            json!(other),
            "an adapter Headroom does not model (lora and qlora are)",
        ),
        None => doc.set_noted(
            "method",
            json!("full"),
            "adapter",
            Value::Null,
            Some("no adapter: a full fine-tune".into()),
        ),
    }
    if four {
        let v = doc.take("load_in_4bit").unwrap_or_default();
        doc.set_noted(
            "quantization",
            json!("int4_double"),
            "load_in_4bit",
            v,
            Some("Axolotl's 4-bit loader sets bnb_4bit_use_double_quant".into()),
        );
        doc.take("load_in_8bit");
    } else if eight {
        let v = doc.take("load_in_8bit").unwrap_or_default();
        doc.set("quantization", json!("int8"), "load_in_8bit", v);
        doc.take("load_in_4bit");
    } else {
        doc.take("load_in_4bit");
        doc.take("load_in_8bit");
    }
    let sequence_len = doc.peek("sequence_len").and_then(as_count);
    doc.take_count("sequence_len", "sequence_length");
    padded_lengths(doc, sequence_len);
    doc.take_count("micro_batch_size", "batch_size");
    doc.take_count("gradient_accumulation_steps", "gradient_accumulation_steps");
    if adapter.is_some() {
        lora(doc);
    }
    if let Some(v) = doc.take("optimizer") {
        match v.as_str().and_then(common::optimizer) {
            Some(o) => doc.set("optimizer", json!(o), "optimizer", v),
            None => doc.not_understood("optimizer", v, "an optimizer Headroom does not model"),
        }
    }
    common::mixed_precision_flags(doc);
    if let Some(v) = doc.take("gradient_checkpointing") {
        match (as_bool(&v), v.as_str()) {
            (Some(b), _) => doc.set(
                "gradient_checkpointing",
                json!(b),
                "gradient_checkpointing",
                v,
            ),
            (None, Some("offload") | Some("offload_disk")) => {
                doc.set(
                    "gradient_checkpointing",
                    json!(true),
                    "gradient_checkpointing",
                    v.clone(),
                );
                doc.set(
                    "activation_offload",
                    json!(true),
                    "gradient_checkpointing",
                    v,
                );
            }
            _ => doc.not_understood(
                "gradient_checkpointing",
                v,
                "expected true, false or offload",
            ),
        }
    }
    if let Some(v) = doc.take("activation_offloading") {
        // true, or "legacy" for the older offload path: checkpointed activations go to CPU RAM either way.
        let on = as_bool(&v).unwrap_or_else(|| v.as_str() == Some("legacy"));
        doc.set("activation_offload", json!(on), "activation_offloading", v);
    }
    for key in ["context_parallel_size", "tensor_parallel_size"] {
        if let Some(v) = doc.peek(key).cloned() {
            if as_count(&v).is_some_and(|n| n > 1) {
                doc.not_understood(
                    key,
                    v,
                    "context and tensor parallelism split activations or weights: not modelled",
                );
            } else {
                doc.take(key);
            }
        }
    }
    if let Some(v) = doc.peek("tiled_mlp").cloned() {
        if as_bool(&v) == Some(true) {
            doc.not_understood(
                "tiled_mlp",
                v,
                "tiled MLP computation shrinks the MLP's activations: not modelled",
            );
        } else {
            doc.take("tiled_mlp");
        }
    }
    attention(doc);
    common::use_reentrant(doc, "gradient_checkpointing_kwargs.use_reentrant");
    if let Some(v) = doc.take("torch_compile") {
        if let Some(b) = as_bool(&v) {
            doc.set("torch_compile", json!(b), "torch_compile", v);
        }
    }
    for key in [
        "chunked_cross_entropy",
        "cut_cross_entropy",
        "liger_fused_linear_cross_entropy",
    ] {
        if let Some(v) = doc.take(key) {
            if as_bool(&v) == Some(true) {
                doc.set("chunked_loss", json!(true), key, v);
            }
        }
    }
    if let Some(v) = doc.take("lora_modules_to_save") {
        let names: Vec<&str> = v
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if names
            .iter()
            .any(|n| *n == "embed_tokens" || *n == "lm_head")
        {
            doc.set(
                "trainable_embeddings",
                json!(true),
                "lora_modules_to_save",
                v,
            );
        } else {
            doc.not_understood(
                "lora_modules_to_save",
                v,
                "only embed_tokens and lm_head are modelled",
            );
        }
    }
    common::deepspeed_path(doc, "deepspeed");
    common::fsdp_option(doc, "fsdp");
    let sharding_known = doc.sets_key("sharding");
    common::fsdp_config(doc, "fsdp_config", sharding_known);
    if let Some(v) = doc.peek("unfrozen_parameters").cloned() {
        doc.not_understood(
            "unfrozen_parameters",
            v,
            "training parameters chosen by pattern: a plan trains whole layers (method freeze) or all of them",
        );
    }
    ignored(doc);
}

fn lora(doc: &mut Doc) {
    doc.take_count("lora_r", "lora.rank");
    for (key, plan_key) in [
        ("lora_alpha", "lora.alpha"),
        ("lora_dropout", "lora.dropout"),
    ] {
        doc.take_number(key, plan_key);
    }
    let linear = doc.take("lora_target_linear").as_ref().and_then(as_bool) == Some(true);
    let modules = doc.take("lora_target_modules");
    if linear {
        doc.set(
            "lora.target_modules",
            json!("all-linear"),
            "lora_target_linear",
            json!(true),
        );
        doc.ignore(
            "lora_target_modules",
            "lora_target_linear: true adds every linear layer, these included",
        );
    } else if let Some(v) = modules {
        match &v {
            Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_string) => {
                doc.set("lora.target_modules", v.clone(), "lora_target_modules", v)
            }
            Value::String(s) if s == "all-linear" => {
                doc.set("lora.target_modules", v.clone(), "lora_target_modules", v)
            }
            _ => doc.not_understood("lora_target_modules", v, "expected a list of module names"),
        }
    }
}

fn attention(doc: &mut Doc) {
    if let Some(v) = doc.take("attn_implementation") {
        match v.as_str().and_then(common::attention) {
            Some(a) => doc.set("attention", json!(a), "attn_implementation", v),
            None => doc.not_understood(
                "attn_implementation",
                v,
                "an attention Headroom does not model",
            ),
        }
    }
    for (key, plan) in [
        ("flash_attention", "flash"),
        ("sdp_attention", "sdpa"),
        ("eager_attention", "eager"),
    ] {
        if let Some(v) = doc.take(key) {
            if as_bool(&v) == Some(true) {
                doc.set("attention", json!(plan), key, v);
            }
        }
    }
}

/// Keys that say what to train on, where to log, when to save: nothing about a training step's memory.
fn ignored(doc: &mut Doc) {
    doc.ignore_all(
        &[
            "datasets",
            "test_datasets",
            "dataset_prepared_path",
            "val_set_size",
            "output_dir",
            "hub_model_id",
            "chat_template",
            "special_tokens",
            "tokens",
            "dataset_processes",
            "shuffle_merged_datasets",
            "train_on_inputs",
            "pretraining_dataset",
            "rl",
            "skip_prepare_dataset",
            "eot_tokens",
            "min_sample_len",
            "dataset_exact_deduplication",
        ],
        "data and output: no effect on memory",
    );
    doc.ignore_all(
        &[
            "num_epochs",
            "max_steps",
            "learning_rate",
            "lr_scheduler",
            "lr_scheduler_kwargs",
            "warmup_ratio",
            "warmup_steps",
            "weight_decay",
            "max_grad_norm",
            "cosine_min_lr_ratio",
            "adam_beta1",
            "adam_beta2",
            "adam_epsilon",
            "optim_args",
            "seed",
            "lr_quadratic_warmup",
            "loraplus_lr_ratio",
        ],
        "optimisation schedule: no effect on memory",
    );
    doc.ignore_all(
        &[
            "logging_steps",
            "evals_per_epoch",
            "saves_per_epoch",
            "eval_steps",
            "save_steps",
            "save_total_limit",
            "save_strategy",
            "eval_strategy",
            "resume_from_checkpoint",
            "early_stopping_patience",
            "loss_watchdog_threshold",
            "loss_watchdog_patience",
            "save_first_step",
            "use_tensorboard",
            "save_safetensors",
            "auto_resume_from_checkpoints",
            "debug",
            "strict",
            "profiler_steps",
            "include_tokens_per_second",
        ],
        "logging, evaluation and checkpoints: no effect on the training step's memory",
    );
    for key in doc.top_keys() {
        if key.starts_with("wandb_") || key.starts_with("mlflow_") || key.starts_with("comet_") {
            doc.ignore(&key, "experiment tracking: no effect on memory");
        }
    }
    doc.ignore_all(
        &[
            "model_type",
            "tokenizer_type",
            "tokenizer_config",
            "trust_remote_code",
            "lora_model_dir",
            "is_llama_derived_model",
            "is_mistral_derived_model",
            "is_qwen_derived_model",
            "processor_type",
        ],
        "how to load the model: the model id says what is loaded",
    );
    doc.ignore_all(
        &["sample_packing", "pad_to_sequence_len", "group_by_length"],
        "batches padded to their longest sample (packed or grouped by length): their lengths vary, which the band allows for (docs/estimator.md §17)",
    );
    doc.ignore_all(
        &[
            "tf32",
            "gradient_checkpointing_kwargs",
            "lora_fan_in_fan_out",
            "ddp_find_unused_parameters",
        ],
        "no effect on the memory Headroom estimates",
    );
    doc.ignore_all(
        &[
            "eval_batch_size",
            "eval_sample_packing",
            "eval_max_new_tokens",
            "eval_table_size",
            "do_bench_eval",
            "bench_dataset",
        ],
        "evaluation runs between training steps and is smaller than training",
    );
    doc.ignore(
        "plugins",
        "plugin names: the keys the plugins read (cut_cross_entropy, liger_*) are read on their own",
    );
}

/// Every batch padded to `sequence_len` says the run has one length: nothing strands between lengths, so the plan
/// lists that one length and its band has no allowance for changing ones (docs/estimator.md §17). Axolotl pads
/// when `pad_to_sequence_len` is set, which "defaults to True if `sample_packing` enabled" so that "each step uses
/// constant sized buffers" (`utils/schemas/config.py`).
fn padded_lengths(doc: &mut Doc, sequence_len: Option<u64>) {
    let packing = doc.peek("sample_packing").and_then(as_bool) == Some(true);
    let pad = doc.peek("pad_to_sequence_len").and_then(as_bool);
    let Some(n) = sequence_len.filter(|_| pad.unwrap_or(packing)) else {
        return;
    };
    let (key, also) = if pad == Some(true) {
        ("pad_to_sequence_len", "sample_packing")
    } else {
        ("sample_packing", "pad_to_sequence_len")
    };
    let value = doc.take(key).unwrap_or_default();
    doc.set_noted(
        "sequence_lengths",
        json!([n]),
        key,
        value,
        Some(
            "every batch padded to sequence_len: one length, nothing stranded between lengths"
                .into(),
        ),
    );
    // Packing beside the padding it turns on is part of the same answer, not a key left over to ignore.
    doc.cover(also);
}
