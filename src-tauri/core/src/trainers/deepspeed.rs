//! A DeepSpeed config JSON (DeepSpeed `deepspeed/runtime/config.py`, `runtime/zero/config.py`): ZeRO stage,
//! offload, bf16/fp16, micro-batch and accumulation. `"auto"` values are the Hugging Face integration's: the
//! Trainer fills them from TrainingArguments, so another imported file (or the plan's default) resolves them.

use serde_json::{json, Value};

use super::common;
use super::doc::{as_bool, as_count, is_auto, Doc, Pending};

pub fn read(doc: &mut Doc) {
    if let Some(v) = doc.take("zero_optimization.stage") {
        let s = match as_count(&v).or_else(|| (v.as_u64() == Some(0)).then_some(0)) {
            Some(0) => Some("none"),
            Some(1) => Some("zero1"),
            Some(2) => Some("zero2"),
            Some(3) => Some("zero3"),
            _ => None,
        };
        match s {
            Some(s) => doc.set("sharding", json!(s), "zero_optimization.stage", v),
            None => doc.not_understood("zero_optimization.stage", v, "a ZeRO stage is 0 to 3"),
        }
    }
    let device = |doc: &Doc, key: &str| {
        doc.peek(key)
            .and_then(Value::as_str)
            .is_some_and(|d| d == "cpu" || d == "nvme")
    };
    let opt = device(doc, "zero_optimization.offload_optimizer.device");
    let param = device(doc, "zero_optimization.offload_param.device");
    let legacy = doc.peek("zero_optimization.cpu_offload").and_then(as_bool) == Some(true);
    if param {
        let v = doc
            .take("zero_optimization.offload_param.device")
            .unwrap_or_default();
        doc.set(
            "offload",
            json!("optimizer_and_params"),
            "zero_optimization.offload_param.device",
            v,
        );
    } else if opt {
        let v = doc
            .take("zero_optimization.offload_optimizer.device")
            .unwrap_or_default();
        doc.set(
            "offload",
            json!("optimizer"),
            "zero_optimization.offload_optimizer.device",
            v,
        );
    } else if legacy {
        doc.set_noted(
            "offload",
            json!("optimizer"),
            "zero_optimization.cpu_offload",
            json!(true),
            Some("the older spelling of offload_optimizer.device cpu".into()),
        );
    }
    doc.take("zero_optimization.offload_param.device");
    doc.take("zero_optimization.offload_optimizer.device");
    doc.take("zero_optimization.cpu_offload");
    doc.ignore_all(
        &["zero_optimization.offload_optimizer", "zero_optimization.offload_param"],
        "pinning and buffer options of the offload: host memory beside what the plan's offload counts",
    );
    doc.ignore(
        "zero_optimization",
        "bucket sizes, prefetching and persistence thresholds: communication buffers Headroom does not model \
         (docs/trainers.md)",
    );
    count_or_auto(
        doc,
        "train_micro_batch_size_per_gpu",
        "batch_size",
        "TrainingArguments.per_device_train_batch_size",
    );
    count_or_auto(
        doc,
        "gradient_accumulation_steps",
        "gradient_accumulation_steps",
        "TrainingArguments.gradient_accumulation_steps",
    );
    precision(doc);
    if let Some(v) = doc.take("optimizer.type") {
        match v.as_str().and_then(common::optimizer) {
            Some(o) => doc.set("optimizer", json!(o), "optimizer.type", v),
            None => doc.not_understood("optimizer.type", v, "an optimizer Headroom does not model"),
        }
    }
    doc.ignore(
        "optimizer.params",
        "optimizer hyperparameters: no effect on memory",
    );
    doc.ignore_all(
        &["train_batch_size"],
        "micro-batch × accumulation × GPUs: follows from the keys mapped",
    );
    doc.ignore_all(
        &[
            "gradient_clipping",
            "steps_per_print",
            "wall_clock_breakdown",
            "scheduler",
            "zero_allow_untested_optimizer",
            "zero_force_ds_cpu_optimizer",
            "prescale_gradients",
            "gradient_predivide_factor",
            "tensorboard",
            "wandb",
            "csv_monitor",
            "comms_logger",
            "flops_profiler",
            "dump_state",
            "communication_data_type",
            "seed",
        ],
        "schedule, logging and communication: no effect on the memory Headroom estimates",
    );
    doc.ignore(
        "activation_checkpointing",
        "DeepSpeed's own checkpointing API (Megatron-style models); a Hugging Face model checkpoints through \
         the trainer's gradient_checkpointing",
    );
}

fn count_or_auto(doc: &mut Doc, key: &str, plan_key: &str, source: &str) {
    let Some(v) = doc.peek(key).cloned() else {
        return;
    };
    if is_auto(&v) {
        doc.pend(Pending {
            plan_key: plan_key.into(),
            key: key.into(),
            fallback: None,
            default_why: format!("auto: the Trainer fills it from {source}; no imported file gives it, so the plan's default applies"),
        });
        return;
    }
    match as_count(&v) {
        Some(n) => doc.set(plan_key, json!(n), key, v),
        None => doc.not_understood(key, v, "expected a positive whole number or auto"),
    }
}

fn precision(doc: &mut Doc) {
    let bf16 = doc.peek("bf16.enabled").cloned();
    let fp16 = doc.peek("fp16.enabled").cloned();
    let on = |v: &Option<Value>| v.as_ref().and_then(as_bool);
    match (on(&bf16), on(&fp16)) {
        (Some(true), _) => doc.set_noted(
            "precision",
            json!("bf16-mixed"),
            "bf16.enabled",
            json!(true),
            Some("DeepSpeed's bf16 keeps fp32 master weights in the optimizer".into()),
        ),
        (_, Some(true)) => doc.set(
            "precision",
            json!("fp16-mixed"),
            "fp16.enabled",
            json!(true),
        ),
        _ => {
            let auto = bf16.as_ref().is_some_and(is_auto) || fp16.as_ref().is_some_and(is_auto);
            if auto {
                let key = if bf16.as_ref().is_some_and(is_auto) {
                    "bf16.enabled"
                } else {
                    "fp16.enabled"
                };
                doc.pend(Pending {
                    plan_key: "precision".into(),
                    key: key.into(),
                    fallback: None,
                    default_why: "auto: the Trainer fills it from TrainingArguments.bf16/fp16; no imported file gives them, so the plan's default (bf16-mixed) applies".into(),
                });
            } else if on(&bf16) == Some(false) || on(&fp16) == Some(false) {
                let key = if bf16.is_some() {
                    "bf16.enabled"
                } else {
                    "fp16.enabled"
                };
                doc.set_noted(
                    "precision",
                    json!("fp32"),
                    key,
                    json!(false),
                    Some("neither bf16 nor fp16 enabled".into()),
                );
            }
        }
    }
    doc.take("bf16.enabled");
    doc.take("fp16.enabled");
    doc.ignore("bf16", "bf16 options besides enabled: no effect on memory");
    doc.ignore("fp16", "loss scaling options: no effect on memory");
}
