//! The request sent to the package (protocol version 1): the model's config.json object and the plan in the
//! package's terms, with the quantization preset turned into how the weights are stored.

use serde_json::{json, Map, Value};

use super::protocol::PROTOCOL;
use crate::estimate::plan::{Method, Offload, Plan, Sharding, TargetModules, Task};
use crate::message::{Key, Message};
use crate::model::{DType, ModelSpec};
use crate::presets::bnb::{ComputeDtype, QuantStorage};
use crate::presets::{Device, PresetBody, TorchDtype};
use crate::{Error, Result};

/// The trace follows one process on one GPU. Refused with the plan key that asks for more, before any Python
/// starts.
pub fn check_traceable(plan: &Plan) -> Result<()> {
    let unsupported = |field: &str, why: &str| {
        Err(Error::invalid_msg(
            field,
            Message::new(Key::InvalidTraceTraceEngineTracesOne).text("why", why.to_string()),
        ))
    };
    if plan.sharding != Sharding::None {
        return unsupported("sharding", "sharded plans are not traced");
    }
    if let Some(g) = &plan.gpus {
        if g.count.get() > 1 {
            return unsupported("gpus.count", "multi-GPU plans are not traced");
        }
    }
    if plan.nodes.get() > 1 {
        return unsupported("nodes", "multi-node plans are not traced");
    }
    if plan.offload != Offload::None {
        return unsupported("offload", "CPU offload is not traced");
    }
    if plan.activation_offload {
        return unsupported("activation_offload", "activation offload is not traced");
    }
    Ok(())
}

/// How the traced steps run beyond what the plan says: the lengths of successive training steps (a dataset's
/// lengths vary, and the caching allocator's reserved memory shows the fragmentation that follows), and whether
/// the allocator grows expandable segments (`PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Steps {
    /// One training step per length, in order; empty: two steps at the plan's `sequence_length`.
    pub sequence_lengths: Vec<u64>,
    pub expandable_segments: bool,
}

impl Steps {
    /// Refused with the key at fault: lengths must be positive, plausible, and for training.
    pub fn check(&self, plan: &Plan) -> Result<()> {
        if self.sequence_lengths.is_empty() {
            return Ok(());
        }
        if plan.task != Task::Train {
            return Err(Error::invalid_msg(
                "sequence_lengths",
                Message::new(Key::InvalidTraceAppliesTrainingOnlyOne),
            ));
        }
        if self.sequence_lengths.len() > 64 {
            return Err(Error::invalid_msg(
                "sequence_lengths",
                Message::new(Key::InvalidTraceStepsMoreThan64)
                    .text("sequence_lengths", self.sequence_lengths.len().to_string()),
            ));
        }
        match self
            .sequence_lengths
            .iter()
            .find(|&&s| s == 0 || s > crate::estimate::plan::MAX_COUNT)
        {
            Some(s) => Err(Error::invalid_msg(
                "sequence_lengths",
                Message::new(Key::InvalidTraceNotLengthFrom1)
                    .text("s", s.to_string())
                    .text("max_count", crate::estimate::plan::MAX_COUNT.to_string()),
            )),
            None => Ok(()),
        }
    }
}

/// How the weights are stored, from the plan's preset (`None`: the model's stored dtype), as the request's
/// `weights` value.
pub fn weights(preset: Option<(&str, &PresetBody)>, spec: &ModelSpec) -> Result<Value> {
    let stored = || match spec.stored_dtype {
        DType::F32 => "fp32",
        DType::F16 => "fp16",
        _ => "bf16",
    };
    let Some((name, body)) = preset else {
        return Ok(json!({"dtype": stored()}));
    };
    if body.load.device == Device::Cpu {
        return Err(Error::invalid_msg(
            "quantization",
            Message::new(Key::InvalidTracePresetRunsCpuTrace).text("name", name.to_string()),
        ));
    }
    let Some(q) = &body.quantization else {
        let dtype = match body.load.torch_dtype {
            TorchDtype::Float32 => "fp32",
            TorchDtype::Float16 => "fp16",
            TorchDtype::Bfloat16 => "bf16",
            TorchDtype::Auto => stored(),
        };
        return Ok(json!({"dtype": dtype}));
    };
    if q.llm_int8_enable_fp32_cpu_offload {
        return Err(Error::invalid_msg(
            "quantization",
            Message::new(Key::InvalidTracePresetOffloadsLayersCpu).text("name", name.to_string()),
        ));
    }
    let compute = match q.bnb_4bit_compute_dtype {
        ComputeDtype::Float32 => "fp32",
        ComputeDtype::Float16 => "fp16",
        ComputeDtype::Bfloat16 => "bf16",
    };
    let storage = match q.bnb_4bit_quant_storage {
        QuantStorage::Uint8 => "uint8",
        QuantStorage::Int8 => "int8",
        QuantStorage::Bfloat16 => "bf16",
        QuantStorage::Float16 => "fp16",
        QuantStorage::Float32 => "fp32",
        QuantStorage::Float64 => {
            return Err(Error::invalid_msg(
                "quantization",
                Message::new(Key::InvalidTracePresetStores4Bit).text("name", name.to_string()),
            ))
        }
    };
    if q.load_in_4bit {
        Ok(json!({"bnb": {
            "load_in_4bit": true,
            "bnb_4bit_quant_type": q.bnb_4bit_quant_type.as_str(),
            "bnb_4bit_use_double_quant": q.bnb_4bit_use_double_quant,
            "bnb_4bit_compute_dtype": compute,
            "bnb_4bit_quant_storage": storage,
            "llm_int8_skip_modules": q.llm_int8_skip_modules,
        }}))
    } else if q.load_in_8bit {
        Ok(json!({"bnb": {
            "load_in_8bit": true,
            "llm_int8_threshold": q.llm_int8_threshold,
            "llm_int8_skip_modules": q.llm_int8_skip_modules,
        }}))
    } else {
        Err(Error::invalid_msg(
            "quantization",
            Message::new(Key::InvalidTracePresetHasQuantizationConfig)
                .text("name", name.to_string()),
        ))
    }
}

/// A plan enum as the contract spells it (its serde name).
fn name<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The whole request.
pub fn build(
    plan: &Plan,
    model_config: &Map<String, Value>,
    weights: Value,
    steps: &Steps,
    time_limit_s: u64,
) -> Value {
    let train = plan.task == Task::Train;
    let lora = plan.lora.as_ref().map(|l| {
        json!({
            "rank": l.rank,
            "alpha": l.alpha,
            "dropout": l.dropout,
            "target_modules": match &l.target_modules {
                TargetModules::AllLinear => json!("all-linear"),
                TargetModules::Names(names) => json!(names),
            },
            "dtype": name(&l.dtype),
        })
    });
    // The plan leaves the KV cache dtype to the compute dtype; the package wants it spelled out.
    let kv_cache_dtype = match plan.kv_cache_dtype {
        Some(kv) => name(&kv),
        None => match weights.get("dtype").and_then(Value::as_str) {
            Some("fp32") => json!("fp32"),
            Some("fp16") => json!("fp16"),
            _ => match weights
                .pointer("/bnb/bnb_4bit_compute_dtype")
                .and_then(Value::as_str)
            {
                Some("fp16") => json!("fp16"),
                Some("fp32") => json!("fp32"),
                // LLM.int8 computes in fp16 (bitsandbytes MatMul8bitLt).
                _ if weights.pointer("/bnb/load_in_8bit").is_some() => json!("fp16"),
                _ => json!("bf16"),
            },
        },
    };
    json!({
        "protocol": PROTOCOL,
        "model_config": model_config,
        "plan": {
            "task": name(&plan.task),
            "method": if train { name(&plan.method.unwrap_or(Method::Full)) } else { Value::Null },
            "precision": name(&plan.precision),
            "weights": weights,
            "lora": lora,
            "trainable_embeddings": plan.trainable_embeddings,
            "freeze_trainable_layers": if plan.method == Some(Method::Freeze) {
                json!(plan.freeze_trainable_layers)
            } else {
                Value::Null
            },
            "optimizer": name(&plan.optimizer),
            "optimizer_in_backward": plan.optimizer_in_backward,
            "batch_size": plan.batch_size,
            "sequence_length": plan.sequence_length,
            // `--sequence-lengths` given for this trace, else the plan's own `sequence_lengths`: the key the
            // analytic engine simulates drives the trace too.
            "sequence_lengths": match (&steps.sequence_lengths, &plan.sequence_lengths) {
                (given, _) if !given.is_empty() => json!(given),
                (_, planned) if !planned.is_empty() => json!(planned),
                _ => Value::Null,
            },
            "gradient_checkpointing": plan.gradient_checkpointing,
            "attention": name(&plan.attention),
            "chunked_loss": plan.chunked_loss,
            "new_tokens": plan.new_tokens,
            "kv_cache_dtype": kv_cache_dtype,
            // null: PEFT's k-bit preparation runs, as the Hugging Face recipe does.
            "kbit_upcast": plan.kbit_upcast,
            // bitsandbytes before 0.43.2 keeps each 4-bit layer's input (docs/estimator.md §6.4); a plan that
            // names no release is traced as a current one, as the analytic engine's central figure takes it.
            "bnb_keeps_inputs": train && plan.bnb_4bit_keeps_inputs().unwrap_or(false),
            "use_reentrant": if train && plan.gradient_checkpointing { json!(plan.use_reentrant) } else { Value::Null },
            // Generation as transformers before 4.45 (every prompt position's logits) and before 4.42 (the KV
            // cache as tuples) ran it (docs/estimator.md §8.2).
            "prefill_logits": name(&plan.prefill_logits),
            "legacy_kv_cache": !train && plan.legacy_kv_cache,
        },
        "allocator": {"expandable_segments": steps.expandable_segments || plan.expandable_segments},
        "layers": Value::Null,
        "time_limit_s": time_limit_s,
    })
}
