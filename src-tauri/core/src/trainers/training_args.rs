//! transformers' `TrainingArguments` (and TRL's `SFTConfig` and `ModelConfig`, which the `trl` CLI reads from
//! one YAML), as JSON or YAML of its fields. [`trainer_keys`] is shared with LLaMA-Factory, whose training YAML
//! holds the same fields beside its own.

use serde_json::{json, Value};

use super::common;
use super::doc::{as_bool, as_count, Doc};

/// Keys only TRL's config classes have: a file with any of them runs under TRL's SFTTrainer.
pub const TRL_KEYS: &[&str] = &[
    "model_name_or_path",
    "dataset_name",
    "max_length",
    "max_seq_length",
    "packing",
    "use_peft",
    "completion_only_loss",
    "assistant_only_loss",
    "dataset_text_field",
];

pub fn read(doc: &mut Doc) -> &'static str {
    let trl = TRL_KEYS.iter().any(|k| doc.peek(k).is_some());
    trainer_keys(doc);
    if let Some(v) = doc.take("model_name_or_path") {
        if let Some(id) = v.as_str() {
            doc.set("model.id", json!(id), "model_name_or_path", v.clone());
        }
    }
    // SFTConfig.max_length (max_seq_length before TRL 0.20): the longest tokenized sample.
    for key in ["max_seq_length", "max_length"] {
        if let Some(v) = doc.take(key) {
            match as_count(&v) {
                Some(n) => doc.set("sequence_length", json!(n), key, v),
                None => doc.not_understood(key, v, "expected a positive whole number"),
            }
        }
    }
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
    // ModelConfig: use_peft with lora_* keys, load_in_4bit / load_in_8bit with use_bnb_nested_quant.
    let peft = doc.take("use_peft").as_ref().and_then(as_bool);
    let four = doc.take("load_in_4bit").as_ref().and_then(as_bool) == Some(true);
    let eight = doc.take("load_in_8bit").as_ref().and_then(as_bool) == Some(true);
    let nested = doc.take("use_bnb_nested_quant").as_ref().and_then(as_bool) == Some(true);
    doc.take("bnb_4bit_quant_type");
    if four {
        let q = if nested { "int4_double" } else { "int4" };
        doc.set("quantization", json!(q), "load_in_4bit", json!(true));
        doc.cover("use_bnb_nested_quant");
    } else if eight {
        doc.set("quantization", json!("int8"), "load_in_8bit", json!(true));
    }
    match peft {
        Some(true) => {
            let method = if four { "qlora" } else { "lora" };
            doc.set("method", json!(method), "use_peft", json!(true));
            lora_keys(doc);
        }
        Some(false) => doc.set("method", json!("full"), "use_peft", json!(false)),
        None if trl => {
            doc.set_noted(
                "method",
                json!("full"),
                "use_peft",
                Value::Null,
                Some("TRL trains the full model unless use_peft".into()),
            );
            lora_keys(doc);
        }
        None => lora_keys(doc),
    }
    // ModelConfig.dtype: the weights' load dtype; the plan's precision comes from bf16/fp16.
    doc.ignore_all(
        &["dtype", "torch_dtype"],
        "the dtype the weights load in: the plan's precision comes from bf16/fp16",
    );
    doc.ignore_all(
        &[
            "dataset_name",
            "dataset_config",
            "dataset_train_split",
            "dataset_test_split",
            "dataset_text_field",
            "completion_only_loss",
            "assistant_only_loss",
            "model_revision",
            "trust_remote_code",
            "env",
            "lora_task_type",
            "use_rslora",
            "use_dora",
            "lora_modules_to_save",
        ],
        "data and model loading: no effect on memory Headroom models",
    );
    doc.ignore("packing", "packing fills each sequence up to the maximum length: the estimate already takes full sequences");
    if trl {
        "trl"
    } else {
        "hf_trainer"
    }
}

/// TRL ModelConfig's LoRA keys.
fn lora_keys(doc: &mut Doc) {
    doc.take_count("lora_r", "lora.rank");
    for (key, plan_key) in [
        ("lora_alpha", "lora.alpha"),
        ("lora_dropout", "lora.dropout"),
    ] {
        doc.take_number(key, plan_key);
    }
    if let Some(v) = doc.take("lora_target_modules") {
        match &v {
            Value::String(s) if s == "all-linear" => {
                doc.set("lora.target_modules", v.clone(), "lora_target_modules", v)
            }
            Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_string) => {
                doc.set("lora.target_modules", v.clone(), "lora_target_modules", v)
            }
            _ => doc.not_understood(
                "lora_target_modules",
                v,
                "expected all-linear or a list of module names",
            ),
        }
    }
}

/// The `TrainingArguments` fields that decide memory, and the ones known not to.
pub fn trainer_keys(doc: &mut Doc) {
    for (key, plan_key) in [
        ("per_device_train_batch_size", "batch_size"),
        ("gradient_accumulation_steps", "gradient_accumulation_steps"),
    ] {
        if let Some(v) = doc.take(key) {
            match as_count(&v) {
                Some(n) => doc.set(plan_key, json!(n), key, v),
                None => doc.not_understood(key, v, "expected a positive whole number"),
            }
        }
    }
    for (key, plan_key) in [
        ("gradient_checkpointing", "gradient_checkpointing"),
        // transformers 5's name for gradient_checkpointing (the old one is still written beside it).
        ("activation_checkpointing", "gradient_checkpointing"),
        ("torch_compile", "torch_compile"),
    ] {
        if let Some(v) = doc.take(key) {
            match as_bool(&v) {
                Some(b) => doc.set(plan_key, json!(b), key, v),
                None => doc.not_understood(key, v, "expected true or false"),
            }
        }
    }
    common::use_reentrant(doc, "gradient_checkpointing_kwargs.use_reentrant");
    if let Some(v) = doc.take("use_liger_kernel") {
        if as_bool(&v) == Some(true) {
            doc.set_noted(
                "chunked_loss",
                json!(true),
                "use_liger_kernel",
                v,
                Some("Liger's fused linear cross-entropy never holds the full logits".into()),
            );
        }
    }
    if let Some(v) = doc.take("optim") {
        match v.as_str().and_then(common::optimizer) {
            Some(o) => doc.set("optimizer", json!(o), "optim", v),
            None => doc.not_understood("optim", v, "an optimizer Headroom does not model"),
        }
    }
    common::mixed_precision_flags(doc);
    common::deepspeed_path(doc, "deepspeed");
    common::fsdp_option(doc, "fsdp");
    let sharding_known = doc.sets_key("sharding");
    common::fsdp_config(doc, "fsdp_config", sharding_known);
    doc.ignore_all(
        &[
            "output_dir",
            "overwrite_output_dir",
            "do_train",
            "do_eval",
            "do_predict",
            "run_name",
            "report_to",
            "logging_dir",
            "logging_steps",
            "logging_strategy",
            "logging_first_step",
            "save_steps",
            "save_strategy",
            "save_total_limit",
            "save_only_model",
            "save_safetensors",
            "eval_steps",
            "eval_strategy",
            "evaluation_strategy",
            "load_best_model_at_end",
            "metric_for_best_model",
            "push_to_hub",
            "hub_model_id",
            "hub_strategy",
            "resume_from_checkpoint",
            "plot_loss",
            "disable_tqdm",
            "log_level",
            "seed",
            "data_seed",
            "ddp_timeout",
            "ddp_find_unused_parameters",
            "dataloader_num_workers",
            "dataloader_pin_memory",
            "remove_unused_columns",
            "label_names",
            "gradient_checkpointing_kwargs",
            "tf32",
            "local_rank",
            "include_num_input_tokens_seen",
            "per_device_eval_batch_size",
            "eval_accumulation_steps",
            "ignore_data_skip",
            "dataloader_drop_last",
            "group_by_length",
            "eval_on_start",
        ],
        "logging, saving, evaluation and data loading: no effect on the training step's memory",
    );
    for key in ["auto_find_batch_size", "use_cpu"] {
        if let Some(v) = doc.peek(key).cloned() {
            if as_bool(&v) == Some(true) {
                let why = if key == "use_cpu" {
                    "a CPU-only run: no GPU memory to estimate"
                } else {
                    "the Trainer halves the batch after each out-of-memory error: the plan's batch_size is the first try"
                };
                doc.not_understood(key, v, why);
            } else {
                doc.take(key);
            }
        }
    }
    doc.ignore_all(
        &["accelerator_config", "average_tokens_across_devices", "batch_eval_metrics", "bf16_full_eval",
          "fp16_full_eval", "dataloader_in_order", "dataloader_persistent_workers", "dataloader_prefetch_factor",
          "dataloader_multiprocessing_context", "debug", "enable_jit_checkpoint", "eval_delay",
          "eval_do_concat_batches", "eval_use_gather_object", "full_determinism", "hub_always_push", "hub_token",
          "hub_private_repo", "hub_revision", "include_for_metrics", "length_column_name", "log_level_replica",
          "log_on_each_node", "logging_nan_inf_filter", "prediction_loss_only", "project", "greater_is_better",
          "restore_callback_states_from_checkpoint", "save_on_each_node", "skip_memory_metrics",
          "train_sampling_strategy", "use_cache", "trackio_bucket_id", "trackio_space_id",
          "trackio_static_space_id", "ddp_backend", "ddp_broadcast_buffers", "ddp_static_graph",
          "torch_compile_backend", "torch_compile_mode", "torch_empty_cache_steps", "neftune_noise_alpha",
          "activation_checkpointing_kwargs", "liger_kernel_config", "parallelism_config"],
        "evaluation, logging, hub, process-group and compile options: no effect on the memory Headroom estimates",
    );
    doc.ignore(
        "ddp_bucket_cap_mb",
        "DDP's gradient buckets: communication buffers Headroom does not model (docs/trainers.md)",
    );
    doc.ignore_all(
        &[
            "learning_rate",
            "num_train_epochs",
            "max_steps",
            "lr_scheduler_type",
            "lr_scheduler_kwargs",
            "warmup_ratio",
            "warmup_steps",
            "weight_decay",
            "adam_beta1",
            "adam_beta2",
            "adam_epsilon",
            "max_grad_norm",
            "optim_args",
            "optim_target_modules",
            "label_smoothing_factor",
        ],
        "optimisation schedule: no effect on memory",
    );
}
