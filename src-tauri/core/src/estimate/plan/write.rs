//! A plan back to the JSON of its file (docs/contract.md §1) with every default written out: what "save" stores
//! and what the Plan view reloads.

use serde::Serialize;
use serde_json::{Map, Value};

use super::types::{Method, ModelRef, Plan, TargetModules, Task};

pub fn plan_to_value(plan: &Plan) -> Value {
    fn name<T: Serialize>(v: &T) -> Value {
        serde_json::to_value(v).unwrap_or(Value::Null)
    }
    let mut o = Map::new();
    o.insert(
        "model".into(),
        match &plan.model {
            ModelRef::Id(id) => serde_json::json!({ "id": id }),
            ModelRef::Path(p) => serde_json::json!({ "path": p.to_string_lossy() }),
            ModelRef::Config(c) => serde_json::json!({ "config": c }),
        },
    );
    o.insert("task".into(), name(&plan.task));
    if let Some(m) = plan.method {
        o.insert("method".into(), name(&m));
    }
    if let Some(q) = &plan.quantization {
        o.insert("quantization".into(), Value::String(q.clone()));
    }
    o.insert("precision".into(), name(&plan.precision));
    if let Some(l) = &plan.lora {
        o.insert(
            "lora".into(),
            serde_json::json!({
                "rank": l.rank,
                "alpha": l.alpha,
                "dropout": l.dropout,
                "target_modules": match &l.target_modules {
                    TargetModules::AllLinear => Value::String("all-linear".into()),
                    TargetModules::Names(n) => name(n),
                },
                "dtype": name(&l.dtype),
            }),
        );
    }
    let train = plan.task == Task::Train;
    if plan.lora.is_some() {
        o.insert(
            "trainable_embeddings".into(),
            Value::Bool(plan.trainable_embeddings),
        );
    }
    if train {
        o.insert("framework".into(), name(&plan.framework));
        o.insert("optimizer".into(), name(&plan.optimizer));
        o.insert(
            "optimizer_in_backward".into(),
            Value::Bool(plan.optimizer_in_backward),
        );
        o.insert(
            "gradient_accumulation_steps".into(),
            plan.gradient_accumulation_steps.get().into(),
        );
        o.insert(
            "gradient_checkpointing".into(),
            Value::Bool(plan.gradient_checkpointing),
        );
        o.insert("chunked_loss".into(), Value::Bool(plan.chunked_loss));
        if !plan.sequence_lengths.is_empty() {
            o.insert(
                "sequence_lengths".into(),
                plan.sequence_lengths.clone().into(),
            );
        }
        o.insert(
            "activation_offload".into(),
            Value::Bool(plan.activation_offload),
        );
        o.insert("sharding".into(), name(&plan.sharding));
        o.insert("offload".into(), name(&plan.offload));
        if let Some(k) = plan.kbit_upcast {
            o.insert("kbit_upcast".into(), Value::Bool(k));
        }
        o.insert("use_reentrant".into(), Value::Bool(plan.use_reentrant));
        if plan.sharding.is_fsdp() {
            if plan.lora.is_some() {
                o.insert(
                    "fsdp_frozen_in_trainable_units".into(),
                    Value::Bool(plan.fsdp_frozen_in_trainable_units),
                );
            }
            o.insert("fsdp_no_sync".into(), Value::Bool(plan.fsdp_no_sync));
        }
    } else {
        o.insert("new_tokens".into(), plan.new_tokens.into());
        if let Some(k) = plan.kv_cache_dtype {
            o.insert("kv_cache_dtype".into(), name(&k));
        }
        o.insert("prefill_logits".into(), name(&plan.prefill_logits));
        if plan.legacy_kv_cache {
            o.insert("legacy_kv_cache".into(), Value::Bool(true));
        }
    }
    if plan.method == Some(Method::Freeze) {
        o.insert(
            "freeze_trainable_layers".into(),
            plan.freeze_trainable_layers.get().into(),
        );
    }
    o.insert("batch_size".into(), plan.batch_size.get().into());
    o.insert("sequence_length".into(), plan.sequence_length.get().into());
    o.insert("attention".into(), name(&plan.attention));
    if let Some(g) = &plan.gpus {
        o.insert(
            "gpus".into(),
            match &g.model {
                Some(m) => serde_json::json!({"count": g.count.get(), "model": m}),
                None => serde_json::json!({
                    "count": g.count.get(),
                    "memory_gib": g.memory_bytes as f64 / (1u64 << 30) as f64,
                }),
            },
        );
        o.insert("nodes".into(), plan.nodes.get().into());
    }
    o.insert("margin".into(), plan.margin.into());
    o.insert("fit_on".into(), name(&plan.fit_on));
    if plan.expandable_segments {
        o.insert("expandable_segments".into(), Value::Bool(true));
    }
    o.insert(
        "quantize_lm_head".into(),
        Value::Bool(plan.quantize_lm_head),
    );
    o.insert("torch_compile".into(), Value::Bool(plan.torch_compile));
    if let Some(v) = &plan.bitsandbytes_version {
        o.insert("bitsandbytes_version".into(), Value::String(v.clone()));
    }
    Value::Object(o)
}
