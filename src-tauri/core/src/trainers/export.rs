//! A plan written as the configs trainers read (docs/trainers.md): an accelerate config YAML (its DeepSpeed or
//! FSDP plugin, mixed precision, processes and machines) and a DeepSpeed JSON (ZeRO stage, offload, bf16/fp16,
//! micro-batch, accumulation). Importing the export gives back the plan keys it carries; the keys a format
//! cannot say are listed in [`ExportedConfig::not_carried`].

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::estimate::plan::{Offload, Plan, Precision, Sharding, Task};
use crate::message::{Key, Message};
use crate::{Error, Result};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
// Named apart from the presets' ExportFormat in the UI's bindings.
#[ts(rename = "TrainerExportFormat")]
pub enum ExportFormat {
    /// An accelerate config YAML (`accelerate launch --config_file`).
    Accelerate,
    /// A DeepSpeed config JSON.
    Deepspeed,
}

impl ExportFormat {
    /// The file name a save dialog suggests.
    pub fn file_name(self) -> &'static str {
        match self {
            ExportFormat::Accelerate => "accelerate_config.yaml",
            ExportFormat::Deepspeed => "ds_config.json",
        }
    }
}

/// An exported config and what of the plan it could not say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct ExportedConfig {
    pub format: ExportFormat,
    pub text: String,
    /// Plan keys the format cannot carry, each with why (`precision: bf16-true …`).
    pub not_carried: Vec<String>,
}

pub fn export(plan: &Plan, format: ExportFormat) -> Result<ExportedConfig> {
    if plan.task != Task::Train {
        return Err(Error::invalid_msg(
            "task",
            Message::new(Key::InvalidTrainerOnlyTrainingPlanHas),
        ));
    }
    match format {
        ExportFormat::Accelerate => accelerate(plan),
        ExportFormat::Deepspeed => deepspeed(plan),
    }
}

fn precision_word(p: Precision) -> Option<&'static str> {
    match p {
        Precision::Bf16Mixed => Some("bf16"),
        Precision::Fp16Mixed => Some("fp16"),
        Precision::Fp32 => Some("no"),
        Precision::Bf16True | Precision::Fp16True => None,
    }
}

fn common_not_carried(plan: &Plan, out: &mut Vec<String>, batch_carried: bool) {
    out.push(format!(
        "model, method, {}sequence_length, optimizer{}: the training script's or trainer config's to say",
        if batch_carried { "" } else { "batch_size, " },
        if plan.lora.is_some() { ", lora" } else { "" }
    ));
    if plan.gpus.is_none() {
        out.push("gpus: the plan gives none, so one process on one machine is written".into());
    }
}

fn processes(plan: &Plan) -> (u64, u64) {
    let per_node = plan.gpus.as_ref().map_or(1, |g| g.count.get());
    let nodes = plan.nodes.get();
    (per_node * nodes, nodes)
}

fn accelerate(plan: &Plan) -> Result<ExportedConfig> {
    let mut not_carried = Vec::new();
    common_not_carried(plan, &mut not_carried, false);
    let (procs, nodes) = processes(plan);
    let mut o = Map::new();
    o.insert("compute_environment".into(), json!("LOCAL_MACHINE"));
    o.insert("debug".into(), json!(false));
    let kind = if plan.sharding.is_fsdp() {
        "FSDP"
    } else if plan.sharding != Sharding::None {
        "DEEPSPEED"
    } else if procs > 1 {
        "MULTI_GPU"
    } else {
        "NO"
    };
    o.insert("distributed_type".into(), json!(kind));
    match kind {
        "DEEPSPEED" => {
            let stage = match plan.sharding {
                Sharding::Zero1 => 1,
                Sharding::Zero2 => 2,
                _ => 3,
            };
            let (opt, param) = offload_devices(plan.offload);
            o.insert(
                "deepspeed_config".into(),
                json!({
                    "deepspeed_multinode_launcher": "standard",
                    "gradient_accumulation_steps": plan.gradient_accumulation_steps.get(),
                    "offload_optimizer_device": opt,
                    "offload_param_device": param,
                    "zero3_init_flag": stage == 3,
                    "zero_stage": stage,
                }),
            );
            not_carried.push(
                "gradient_checkpointing: the training script's to turn on with DeepSpeed".into(),
            );
        }
        "FSDP" => {
            let strategy = if plan.sharding == Sharding::FsdpFullShard {
                "FULL_SHARD"
            } else {
                "SHARD_GRAD_OP"
            };
            let offload = match plan.offload {
                Offload::None => false,
                Offload::OptimizerAndParams => true,
                Offload::Optimizer => {
                    not_carried.push(
                        "offload: optimizer alone cannot be said to FSDP, whose CPU offload moves parameters too; \
                         written as no offload"
                            .into(),
                    );
                    false
                }
            };
            o.insert(
                "fsdp_config".into(),
                json!({
                    "fsdp_activation_checkpointing": plan.gradient_checkpointing,
                    "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
                    "fsdp_backward_prefetch": "BACKWARD_PRE",
                    "fsdp_cpu_ram_efficient_loading": true,
                    "fsdp_forward_prefetch": false,
                    "fsdp_offload_params": offload,
                    "fsdp_sharding_strategy": strategy,
                    "fsdp_state_dict_type": "SHARDED_STATE_DICT",
                    "fsdp_sync_module_states": true,
                    "fsdp_use_orig_params": true,
                    "fsdp_version": 1,
                }),
            );
            not_carried.push(
                "gradient_accumulation_steps: the training script's (TrainingArguments) to say"
                    .into(),
            );
        }
        _ => {
            if plan.offload != Offload::None {
                not_carried.push(
                    "offload: needs ZeRO or FSDP sharding; plain data parallel offloads nothing"
                        .into(),
                );
            }
            not_carried.push(
                "gradient_accumulation_steps, gradient_checkpointing: the training script's to say"
                    .into(),
            );
        }
    }
    o.insert("downcast_bf16".into(), json!("no"));
    o.insert("machine_rank".into(), json!(0));
    o.insert("main_training_function".into(), json!("main"));
    match precision_word(plan.precision) {
        Some(w) => {
            o.insert("mixed_precision".into(), json!(w));
        }
        None => not_carried.push(format!(
            "precision: {} (16-bit weights and optimizer states) is the training script's dtype, not accelerate's \
             mixed precision",
            serde_json::to_value(plan.precision).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
        )),
    }
    o.insert("num_machines".into(), json!(nodes));
    o.insert("num_processes".into(), json!(procs));
    o.insert("rdzv_backend".into(), json!("static"));
    o.insert("same_network".into(), json!(true));
    o.insert("tpu_env".into(), json!([]));
    o.insert("tpu_use_cluster".into(), json!(false));
    o.insert("tpu_use_sudo".into(), json!(false));
    o.insert("use_cpu".into(), json!(false));
    let mut text = String::new();
    write_yaml(&o, 0, &mut text);
    Ok(ExportedConfig {
        format: ExportFormat::Accelerate,
        text,
        not_carried,
    })
}

/// The accelerate config as YAML that PyYAML (YAML 1.1, what accelerate reads it with) and YAML 1.2 readers read
/// alike: every string quoted, since YAML 1.1 reads a bare `no` as false (a YAML 1.2 writer leaves it bare).
fn write_yaml(o: &Map<String, Value>, indent: usize, out: &mut String) {
    for (key, value) in o {
        out.push_str(&" ".repeat(indent));
        out.push_str(key);
        out.push(':');
        match value {
            Value::Object(child) => {
                out.push('\n');
                write_yaml(child, indent + 2, out);
            }
            Value::String(s) => {
                out.push_str(&format!(" '{}'\n", s.replace('\'', "''")));
            }
            Value::Array(a) if a.is_empty() => out.push_str(" []\n"),
            other => out.push_str(&format!(" {other}\n")),
        }
    }
}

fn offload_devices(offload: Offload) -> (&'static str, &'static str) {
    match offload {
        Offload::None => ("none", "none"),
        Offload::Optimizer => ("cpu", "none"),
        Offload::OptimizerAndParams => ("cpu", "cpu"),
    }
}

fn deepspeed(plan: &Plan) -> Result<ExportedConfig> {
    if plan.sharding.is_fsdp() {
        return Err(Error::invalid_msg(
            "sharding",
            Message::new(Key::InvalidTrainerFsdpNotDeepspeedExport),
        ));
    }
    let mut not_carried = Vec::new();
    common_not_carried(plan, &mut not_carried, true);
    not_carried.push("gradient_checkpointing: the training script's to turn on".into());
    let stage = match plan.sharding {
        Sharding::Zero1 => 1,
        Sharding::Zero2 => 2,
        Sharding::Zero3 => 3,
        _ => 0,
    };
    let mut zero = Map::new();
    zero.insert("stage".into(), json!(stage));
    let (opt, param) = offload_devices(plan.offload);
    if opt != "none" {
        zero.insert(
            "offload_optimizer".into(),
            json!({"device": opt, "pin_memory": true}),
        );
    }
    if param != "none" {
        zero.insert(
            "offload_param".into(),
            json!({"device": param, "pin_memory": true}),
        );
    }
    if plan.offload != Offload::None && stage == 0 {
        not_carried.push("offload: DeepSpeed offloads only under ZeRO (stage 1 or more)".into());
    }
    let (bf16, fp16) = match plan.precision {
        Precision::Bf16Mixed => (true, false),
        Precision::Fp16Mixed => (false, true),
        Precision::Fp32 => (false, false),
        Precision::Bf16True => {
            not_carried.push(
                "precision: bf16-true; DeepSpeed's bf16 keeps fp32 master weights, written as bf16"
                    .into(),
            );
            (true, false)
        }
        Precision::Fp16True => {
            not_carried.push(
                "precision: fp16-true; DeepSpeed's fp16 keeps fp32 master weights, written as fp16"
                    .into(),
            );
            (false, true)
        }
    };
    let config = json!({
        "bf16": {"enabled": bf16},
        "fp16": {"enabled": fp16},
        "gradient_accumulation_steps": plan.gradient_accumulation_steps.get(),
        "train_micro_batch_size_per_gpu": plan.batch_size.get(),
        "zero_optimization": zero,
    });
    let mut text = serde_json::to_string_pretty(&config).map_err(|e| {
        Error::invalid_msg(
            "export",
            Message::new(Key::InvalidTrainerCouldNotWriteJson).text("e", e.to_string()),
        )
    })?;
    text.push('\n');
    Ok(ExportedConfig {
        format: ExportFormat::Deepspeed,
        text,
        not_carried,
    })
}
