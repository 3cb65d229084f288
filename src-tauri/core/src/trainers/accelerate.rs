//! An accelerate config YAML (`accelerate config`, read by `accelerate launch --config_file`;
//! accelerate `commands/config/config_args.py`): the distributed type, the DeepSpeed or FSDP plugin, mixed
//! precision, processes and machines.

use serde_json::{json, Value};

use super::common;
use super::doc::{as_count, Doc};

pub fn read(doc: &mut Doc) {
    let kind = doc.take("distributed_type");
    match kind.as_ref().and_then(Value::as_str) {
        Some("DEEPSPEED") => deepspeed(doc),
        Some("FSDP") => common::fsdp_config(doc, "fsdp_config", false),
        Some("MULTI_GPU") | Some("NO") => {
            let v = kind.clone().unwrap_or_default();
            doc.set_noted(
                "sharding",
                json!("none"),
                "distributed_type",
                v,
                Some("plain data parallel: every GPU holds everything".into()),
            );
        }
        Some(_) => doc.not_understood(
            "distributed_type",
            kind.clone().unwrap_or_default(),
            "Headroom models NO, MULTI_GPU, DEEPSPEED and FSDP",
        ),
        None => {}
    }
    if kind.as_ref().and_then(Value::as_str) != Some("FSDP") {
        doc.ignore(
            "fsdp_config",
            "FSDP settings while distributed_type is not FSDP: accelerate does not use them",
        );
    }
    if kind.as_ref().and_then(Value::as_str) != Some("DEEPSPEED") {
        doc.ignore("deepspeed_config", "DeepSpeed settings while distributed_type is not DEEPSPEED: accelerate does not use them");
    }
    if let Some(v) = doc.take("mixed_precision") {
        match v.as_str() {
            Some("bf16") => doc.set("precision", json!("bf16-mixed"), "mixed_precision", v),
            Some("fp16") => doc.set("precision", json!("fp16-mixed"), "mixed_precision", v),
            Some("no") => doc.set("precision", json!("fp32"), "mixed_precision", v),
            _ => doc.not_understood("mixed_precision", v, "Headroom models no, fp16 and bf16"),
        }
    }
    let machines = doc
        .take("num_machines")
        .as_ref()
        .and_then(as_count)
        .unwrap_or(1);
    if machines > 1 {
        doc.set("nodes", json!(machines), "num_machines", json!(machines));
    }
    if let Some(v) = doc.take("num_processes") {
        // num_processes counts every process on every machine.
        match as_count(&v) {
            Some(n) if n % machines == 0 => doc.set_noted(
                "gpus.count",
                json!(n / machines),
                "num_processes",
                v,
                (machines > 1).then(|| format!("{n} processes on {machines} machines")),
            ),
            _ => doc.not_understood(
                "num_processes",
                v,
                "not a whole number of processes per machine",
            ),
        }
    }
    if let Some(v) = doc.take("use_cpu") {
        if v.as_bool() == Some(true) {
            doc.not_understood("use_cpu", v, "a CPU-only run: no GPU memory to estimate");
        }
    }
    doc.ignore_all(
        &[
            "compute_environment",
            "debug",
            "machine_rank",
            "main_training_function",
            "rdzv_backend",
            "same_network",
            "tpu_env",
            "tpu_use_cluster",
            "tpu_use_sudo",
            "downcast_bf16",
            "enable_cpu_affinity",
            "main_process_ip",
            "main_process_port",
            "gpu_ids",
            "dynamo_config",
            "num_cpu_threads_per_process",
        ],
        "how processes are launched: no effect on memory per GPU",
    );
}

fn deepspeed(doc: &mut Doc) {
    if let Some(v) = doc.take("deepspeed_config.deepspeed_config_file") {
        if let Some(path) = v.as_str() {
            doc.name_file("deepspeed_config.deepspeed_config_file", path.to_string());
        }
    }
    if let Some(v) = doc.take("deepspeed_config.zero_stage") {
        let s = match v.as_u64() {
            Some(0) => Some("none"),
            Some(1) => Some("zero1"),
            Some(2) => Some("zero2"),
            Some(3) => Some("zero3"),
            _ => None,
        };
        match s {
            Some(s) => doc.set("sharding", json!(s), "deepspeed_config.zero_stage", v),
            None => doc.not_understood("deepspeed_config.zero_stage", v, "a ZeRO stage is 0 to 3"),
        }
    }
    let opt = doc.take("deepspeed_config.offload_optimizer_device");
    let param = doc.take("deepspeed_config.offload_param_device");
    let off = |v: &Option<Value>| {
        v.as_ref()
            .and_then(Value::as_str)
            .is_some_and(|d| d == "cpu" || d == "nvme")
    };
    if off(&param) {
        doc.set(
            "offload",
            json!("optimizer_and_params"),
            "deepspeed_config.offload_param_device",
            param.clone().unwrap_or_default(),
        );
    } else if off(&opt) {
        doc.set(
            "offload",
            json!("optimizer"),
            "deepspeed_config.offload_optimizer_device",
            opt.clone().unwrap_or_default(),
        );
    } else if let Some(v) = opt.or(param) {
        doc.set(
            "offload",
            json!("none"),
            "deepspeed_config.offload_optimizer_device",
            v,
        );
    }
    if let Some(v) = doc.take("deepspeed_config.gradient_accumulation_steps") {
        if let Some(n) = as_count(&v) {
            doc.set(
                "gradient_accumulation_steps",
                json!(n),
                "deepspeed_config.gradient_accumulation_steps",
                v,
            );
        }
    }
    doc.ignore_all(
        &[
            "deepspeed_config.deepspeed_multinode_launcher",
            "deepspeed_config.zero3_init_flag",
            "deepspeed_config.zero3_save_16bit_model",
            "deepspeed_config.gradient_clipping",
            "deepspeed_config.deepspeed_hostfile",
        ],
        "launching, loading and saving: no effect on the training step's memory",
    );
}
