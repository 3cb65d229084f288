//! Keys several formats share: transformers' `TrainingArguments` names (Axolotl, LLaMA-Factory and TRL pass them
//! on to the Trainer), optimizer and attention names, the mixed-precision flags, FSDP's options.

use serde_json::{json, Value};

use super::doc::{as_bool, as_count, is_auto, Doc};

/// `key` (a path to a bool: `gradient_checkpointing_kwargs.use_reentrant`, LLaMA-Factory's `use_reentrant_gc`) into
/// the plan's `use_reentrant`, which decides whether bitsandbytes' kept inputs outlive checkpointing.
pub fn use_reentrant(doc: &mut Doc, key: &str) {
    if let Some(v) = doc.take(key) {
        match as_bool(&v) {
            Some(b) => doc.set("use_reentrant", json!(b), key, v),
            None => doc.not_understood(key, v, "expected true or false"),
        }
    }
}

/// transformers' `OptimizerNames` (and bitsandbytes' classes) → the plan's optimizer; `None` for one Headroom
/// does not model.
pub fn optimizer(name: &str) -> Option<&'static str> {
    let n = name.to_ascii_lowercase();
    let n = n.rsplit('.').next().unwrap_or(&n).to_string();
    Some(match n.as_str() {
        "adamw_torch"
        | "adamw_torch_fused"
        | "adamw_hf"
        | "adamw_apex_fused"
        | "adamw"
        | "adam"
        | "adamw_torch_xla"
        | "adamw_torch_npu_fused"
        | "fusedadam" => "adamw",
        "adamw_bnb_8bit" | "adamw_8bit" | "adamw8bit" | "adam8bit" | "adamw_torch_8bit" => {
            "adamw_8bit"
        }
        "paged_adamw_8bit" | "pagedadamw8bit" => "paged_adamw_8bit",
        "paged_adamw_32bit" | "paged_adamw" | "pagedadamw" | "pagedadamw32bit" => {
            "paged_adamw_32bit"
        }
        "sgd" => "sgd",
        "adafactor" => "adafactor",
        _ => return None,
    })
}

/// Attention implementation names (transformers' `attn_implementation`, LLaMA-Factory's `flash_attn`).
pub fn attention(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "eager" | "disabled" => "eager",
        "sdpa" | "auto" => "sdpa",
        "flash_attention_2" | "flash_attention_3" | "fa2" | "fa3" | "flash" => "flash",
        _ => return None,
    })
}

/// `bf16` / `fp16` (TrainingArguments' mixed precision flags, as Axolotl, LLaMA-Factory and TRL take them):
/// maps whichever the file gives. Axolotl's `bf16: auto` resolves to bf16 (what Axolotl picks on a GPU that
/// supports it).
pub fn mixed_precision_flags(doc: &mut Doc) {
    let bf16 = doc.peek("bf16").cloned();
    let fp16 = doc.peek("fp16").cloned();
    if bf16.is_none() && fp16.is_none() {
        return;
    }
    if let Some(v) = &bf16 {
        if is_auto(v) {
            doc.resolve(
                "precision",
                "bf16",
                json!("bf16-mixed"),
                "bf16: auto uses bf16 where the GPU supports it (Ampere and newer), which a GPU worth a memory \
                 estimate does",
            );
            doc.set("precision", json!("bf16-mixed"), "bf16", v.clone());
            doc.take("fp16");
            return;
        }
    }
    let on = |v: &Option<Value>| v.as_ref().and_then(as_bool);
    match (on(&bf16), on(&fp16)) {
        (Some(true), _) => {
            doc.set(
                "precision",
                json!("bf16-mixed"),
                "bf16",
                bf16.unwrap_or_default(),
            );
            doc.take("fp16");
        }
        (_, Some(true)) => {
            doc.set(
                "precision",
                json!("fp16-mixed"),
                "fp16",
                fp16.unwrap_or_default(),
            );
            doc.take("bf16");
        }
        (Some(false), _) | (_, Some(false)) => {
            let key = if bf16.is_some() { "bf16" } else { "fp16" };
            let v = doc.peek(key).cloned().unwrap_or_default();
            doc.set_noted(
                "precision",
                json!("fp32"),
                key,
                v,
                Some("neither bf16 nor fp16 on: the Trainer trains in fp32".into()),
            );
            doc.take("bf16");
            doc.take("fp16");
        }
        _ => {
            for key in ["bf16", "fp16"] {
                if let Some(v) = doc.peek(key).cloned() {
                    doc.not_understood(key, v, "expected true, false or auto");
                }
            }
        }
    }
}

/// A `deepspeed:` key naming a DeepSpeed JSON (TrainingArguments, Axolotl, LLaMA-Factory): loaded beside this
/// file. An inline object is not a path: it is not understood here.
pub fn deepspeed_path(doc: &mut Doc, key: &str) {
    match doc.peek(key).cloned() {
        None => {
            doc.take(key);
        }
        Some(Value::String(path)) => {
            doc.name_file(key, path);
        }
        Some(v) => doc.not_understood(
            key,
            v,
            "an inline DeepSpeed config: save it as a JSON file and import it with --from",
        ),
    }
}

/// The Trainer's `fsdp` option (a list, or a space-separated string: `full_shard auto_wrap offload`).
pub fn fsdp_option(doc: &mut Doc, key: &str) {
    let Some(v) = doc.peek(key).cloned() else {
        doc.take(key);
        return;
    };
    let words: Vec<String> = match &v {
        Value::String(s) => s.split_whitespace().map(str::to_string).collect(),
        Value::Array(a) => a
            .iter()
            .filter_map(|w| w.as_str().map(str::to_string))
            .collect(),
        Value::Bool(false) => Vec::new(),
        _ => {
            doc.not_understood(key, v, "expected a list of FSDP options");
            return;
        }
    };
    if words.is_empty() {
        doc.take(key);
        return;
    }
    let sharding = if words
        .iter()
        .any(|w| w == "full_shard" || w == "hybrid_shard")
    {
        Some("fsdp_full_shard")
    } else if words
        .iter()
        .any(|w| w == "shard_grad_op" || w == "hybrid_shard_zero2")
    {
        Some("fsdp_shard_grad_op")
    } else {
        None
    };
    match sharding {
        Some(s) => doc.set("sharding", json!(s), key, v.clone()),
        None => doc.not_understood(
            key,
            v.clone(),
            "no sharding strategy among the FSDP options",
        ),
    }
    if words.iter().any(|w| w == "offload") {
        doc.set_noted(
            "offload",
            json!("optimizer_and_params"),
            key,
            v,
            Some("FSDP's CPU offload moves parameters, gradients and optimizer states".into()),
        );
    }
}

/// An FSDP config block (the Trainer's `fsdp_config`, accelerate's `fsdp_config`): its keys with or without the
/// `fsdp_` prefix. `sharding_known`: the sharding came from elsewhere (the Trainer's `fsdp` list).
pub fn fsdp_config(doc: &mut Doc, block: &str, sharding_known: bool) {
    let keys: Vec<String> = doc
        .peek(block)
        .and_then(Value::as_object)
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    let version = keys
        .iter()
        .find(|k| k.trim_start_matches("fsdp_") == "version")
        .and_then(|k| doc.peek(&format!("{block}.{k}")).and_then(as_count))
        .unwrap_or(1);
    for k in keys {
        let path = format!("{block}.{k}");
        let Some(v) = doc.peek(&path).cloned() else {
            doc.take(&path);
            continue;
        };
        match k.trim_start_matches("fsdp_") {
            "version" => {
                doc.take(&path);
            }
            "sharding_strategy" if !sharding_known => {
                let s = match &v {
                    Value::String(s) => s.to_ascii_uppercase(),
                    Value::Number(n) => n.to_string(),
                    _ => String::new(),
                };
                match s.as_str() {
                    "FULL_SHARD" | "1" | "HYBRID_SHARD" | "4" => {
                        doc.set("sharding", json!("fsdp_full_shard"), &path, v)
                    }
                    "SHARD_GRAD_OP" | "2" | "_HYBRID_SHARD_ZERO2" | "5" => {
                        doc.set("sharding", json!("fsdp_shard_grad_op"), &path, v)
                    }
                    "NO_SHARD" | "3" => doc.set("sharding", json!("none"), &path, v),
                    _ => doc.not_understood(&path, v, "not an FSDP sharding strategy"),
                }
            }
            // FSDP2 has no strategy: resharding after forward is FULL_SHARD, keeping parameters is SHARD_GRAD_OP.
            "reshard_after_forward" if !sharding_known && version >= 2 => match as_bool(&v) {
                Some(true) => doc.set("sharding", json!("fsdp_full_shard"), &path, v),
                Some(false) => doc.set("sharding", json!("fsdp_shard_grad_op"), &path, v),
                None => doc.not_understood(&path, v, "expected true or false"),
            },
            "offload_params" => match as_bool(&v) {
                Some(true) => doc.set_noted(
                    "offload",
                    json!("optimizer_and_params"),
                    &path,
                    v,
                    Some("FSDP's CPU offload moves parameters, gradients and optimizer states".into()),
                ),
                Some(false) => doc.set("offload", json!("none"), &path, v),
                None => doc.not_understood(&path, v, "expected true or false"),
            },
            // On, FSDP checkpoints each unit; off, the trainer's own gradient_checkpointing still decides.
            "activation_checkpointing" => match as_bool(&v) {
                Some(true) => doc.set("gradient_checkpointing", json!(true), &path, v),
                Some(false) => doc.ignore(&path, "off: the trainer's gradient_checkpointing decides"),
                None => doc.not_understood(&path, v, "expected true or false"),
            },
            "sharding_strategy" | "reshard_after_forward" => doc.ignore(
                &path,
                "the sharding is already given by the Trainer's fsdp option",
            ),
            "auto_wrap_policy" | "transformer_layer_cls_to_wrap" | "min_num_params" => doc.ignore(
                &path,
                "wrapping granularity: Headroom assumes one FSDP unit per decoder layer",
            ),
            "use_orig_params" => doc.ignore(
                &path,
                "with PEFT's wrap policy (the default) frozen and trainable parameters sit in separate units \
                 either way; the plan's fsdp_frozen_in_trainable_units says otherwise by hand",
            ),
            "backward_prefetch" | "forward_prefetch" | "limit_all_gathers" => doc.ignore(
                &path,
                "prefetching holds at most one more unit's gathered parameters; not modelled (docs/trainers.md)",
            ),
            "state_dict_type" | "sync_module_states" | "cpu_ram_efficient_loading"
            | "cpu_offload_pin_memory" | "offload_pin_memory" => {
                doc.ignore(&path, "loading and saving: no effect on the training step's peak")
            }
            _ => {}
        }
    }
}
