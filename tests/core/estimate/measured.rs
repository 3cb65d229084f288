//! Published peak-memory measurements (`tests/fixtures/estimate/measured-*.jsonl`) turned into plans and
//! estimated: the mapping and the comparison that `accuracy.rs` (the visible set) and `holdout.rs` (the held-out
//! set) share (docs/estimator.md §12.2).

use headroom_core::estimate::plan::{Method, Task};
use headroom_core::estimate::{builtin_presets, estimate, parse_plan, Estimate, Plan};
use serde_json::{json, Value};

use super::models::{spec, FIXTURES};

pub const GIB: f64 = (1u64 << 30) as f64;

/// One measured point next to its estimate: the central figure and band of the total that matches what the
/// source read (`total`), per GPU or summed over GPUs as the source gives it.
#[derive(Debug)]
pub struct Compared {
    pub id: String,
    pub source: String,
    pub group: &'static str,
    pub confidence: String,
    /// `allocated`, `reserved` or `device` (docs/estimator.md §12.2).
    pub total: &'static str,
    /// The source does not say which counter it read (compared with allocated, the lowest total).
    pub counter_unknown: bool,
    /// The central device total, in the units the source reported.
    pub device_gib: f64,
    pub measured_gib: f64,
    pub estimated_gib: f64,
    pub low_gib: f64,
    pub high_gib: f64,
    /// The upper end of the device total's band (what nvidia-smi could show at most).
    pub device_high_gib: f64,
}

impl Compared {
    /// Signed relative error: negative when the estimate is under the measurement.
    pub fn error(&self) -> f64 {
        (self.estimated_gib - self.measured_gib) / self.measured_gib
    }
}

pub fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// The bitsandbytes release a row's text names ("bitsandbytes 0.41.3.post2", "bitsandbytes==0.41.1"), if any.
fn bnb_release(text: &str) -> Option<String> {
    text.match_indices("bitsandbytes").find_map(|(at, name)| {
        let rest = text[at + name.len()..].trim_start_matches([' ', '=', 'v']);
        let version: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
            .collect();
        let version = version.trim_end_matches('.');
        (version.contains('.') && version.starts_with(|c: char| c.is_ascii_digit()))
            .then(|| version.to_string())
    })
}

/// Whether the generation the row describes handed its KV cache back as tuples: remote-code models (Qwen v1's
/// `modeling_qwen.py` returns `presents` as a tuple), and transformers before 4.42, whose `generate()` passed no
/// `DynamicCache` of its own (4.36 to 4.41 rebuilt the tuples at every step, `to_legacy_cache`).
fn legacy_kv_cache(framework: &str) -> bool {
    if framework.contains("remote code") {
        return true;
    }
    framework
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(|word| word.strip_prefix("4."))
        .filter_map(|rest| rest.split('.').next()?.parse::<u32>().ok())
        .any(|minor| minor < 42)
}

/// Map a measured point to a plan, or say why it cannot be one.
pub fn to_plan(p: &Value) -> Result<(Value, &'static str), String> {
    let model = s(p, "model_id");
    let method = s(p, "method");
    let task = s(p, "task");
    let framework = s(p, "framework");
    let precision_text = s(p, "weight_precision");
    let extra = p.get("extra").cloned().unwrap_or(Value::Null);
    let extra_text = extra.to_string();
    let metric = p["measured_peak"]["metric"].as_str().unwrap_or("");
    let gpus = p.get("num_gpus").and_then(Value::as_u64).unwrap_or(1);
    let batch = p
        .get("micro_batch_size")
        .and_then(Value::as_u64)
        .ok_or("no micro-batch size")?;
    // A source that does not name its counter ("unknown: …") is compared with allocated, the lowest total;
    // the report also shows the device total's upper end for those points.
    let total = if metric.starts_with("unknown") {
        "allocated"
    } else if metric.contains("nvidia-smi") || metric.contains("pynvml") {
        "device"
    } else if metric.contains("reserved") && !metric.contains("unspecified") {
        "reserved"
    } else {
        // max_memory_allocated, torchtune's peak active bytes (close to allocated), or an unnamed torchtune stat.
        "allocated"
    };
    let mut plan = json!({"model": {"id": model}, "batch_size": batch});
    if spec(model).is_none() {
        return Err(format!(
            "no decoder-only architecture for {model} in the fixture"
        ));
    }
    // bitsandbytes' FP4 (`load_in_4bit` without a quant type) stores the same 4 bits and absmax scales as NF4.
    let nf4 = precision_text.contains("nf4") || precision_text.starts_with("fp4");
    let quant = if nf4 {
        // "nf4 + double quant" and torchao's NF4 (scalers double-quantized); "no double quant" is plain NF4.
        if precision_text.contains("+ double") || precision_text.contains("torchao") {
            "int4_double"
        } else {
            "int4"
        }
    } else if precision_text.starts_with("int8") {
        // bitsandbytes LLM.int8 (`load_in_8bit`), the `int8` preset.
        "int8"
    } else if precision_text.starts_with("bf16") {
        "bf16"
    } else if precision_text.starts_with("fp32") {
        "fp32"
    } else {
        return Err(format!("weight precision `{precision_text}` not mapped"));
    };
    plan["quantization"] = json!(quant);
    let litgpt = framework.contains("litgpt") || framework.contains("lit-gpt");
    let torchtune = framework.contains("torchtune");
    if litgpt && nf4 {
        // lit-gpt quantizes every nn.Linear, lm_head included.
        plan["quantize_lm_head"] = json!(true);
    }
    match task {
        "infer" => {
            plan["task"] = json!("infer");
            let kv = p
                .get("kv_cache_tokens")
                .and_then(Value::as_u64)
                .ok_or("no context length")?;
            let gen = p
                .get("generated_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let prompt = p
                .get("prompt_len")
                .and_then(Value::as_u64)
                .unwrap_or(kv - gen);
            plan["sequence_length"] = json!(prompt.max(1));
            plan["new_tokens"] = json!(gen);
            if framework.contains("4.38") {
                plan["prefill_logits"] = json!("all");
            }
            if legacy_kv_cache(framework) {
                plan["legacy_kv_cache"] = json!(true);
            }
            if gpus > 1 {
                plan["gpus"] = json!({"count": gpus, "memory_gib": 80});
            }
        }
        "train" => {
            plan["task"] = json!("train");
            let seq = p
                .get("seq_len")
                .and_then(Value::as_u64)
                .ok_or("sequence length not fixed")?;
            plan["sequence_length"] = json!(seq);
            if ["packed", "padded_to_max_length"]
                .iter()
                .any(|flag| extra.get(*flag) == Some(&json!(true)))
            {
                // Packed rows, and rows padded to the cap, make every step the same length.
                plan["sequence_lengths"] = json!([seq]);
            }
            let m = match method {
                "full" => "full",
                "lora" if nf4 => "qlora",
                "lora" => "lora",
                "qlora" => "qlora",
                other => return Err(format!("method `{other}` is not one the estimator models")),
            };
            plan["method"] = json!(m);
            let mp = s(p, "mixed_precision");
            plan["precision"] = json!(if extra.get("master_weights_fp32") == Some(&json!(true)) {
                // DeepSpeed's bf16 keeps fp32 master weights and fp32 Adam states beside the 16-bit parameters.
                "bf16-mixed"
            } else if mp.contains("bf16") || mp.contains("bf16-true") {
                "bf16-true"
            } else if precision_text.starts_with("fp32") {
                "fp32"
            } else {
                "bf16-mixed"
            });
            if torchtune || litgpt {
                // Neither uses PEFT's prepare_model_for_kbit_training.
                plan["kbit_upcast"] = json!(false);
            }
            if framework.starts_with("ms-swift") {
                // ms-swift's profile: no `prepare_model_for_kbit_training` anywhere in swift 1.x either (read at
                // the benchmark's commit 46922151), so no fp32 upcast on a quantized base.
                plan["framework"] = json!("ms_swift");
                if framework.starts_with("ms-swift 1.") {
                    // swift 1.x patched torch.utils.checkpoint to use_reentrant=False from torch 2.1 on
                    // (`fix_gradient_checkpointing_warning`, read at the benchmark's commit), and the Trainer of its
                    // day passed no kwargs of its own: these runs checkpointed without reentrance.
                    plan["use_reentrant"] = json!(false);
                }
            }
            if let Some(version) = bnb_release(&p.to_string()) {
                // The bitsandbytes release the source names: before 0.43.2 its 4-bit layers keep their inputs.
                plan["bitsandbytes_version"] = json!(version);
            }
            if let Some(reentrant) = extra.get("use_reentrant").and_then(Value::as_bool) {
                // A recipe that passes `--use_reentrant` (PEFT's sharded-QLoRA examples pass True).
                plan["use_reentrant"] = json!(reentrant);
            }
            if let Some(upcast) = extra.get("kbit_upcast").and_then(Value::as_bool) {
                // A source that says whether the recipe upcasts (TRL skips it for sharded QLoRA).
                plan["kbit_upcast"] = json!(upcast);
            }
            if let Some(lora) = p.get("lora").filter(|l| l.is_object()) {
                let rank = lora.get("rank").and_then(Value::as_u64).unwrap_or(8);
                let mut targets: Vec<String> = Vec::new();
                match lora.get("target_modules") {
                    Some(Value::Array(names)) => {
                        for n in names.iter().filter_map(Value::as_str) {
                            let mapped = match n {
                                "query" | "q_proj" => "q_proj",
                                "key" | "k_proj" => "k_proj",
                                "value" | "v_proj" => "v_proj",
                                n if n.starts_with("output_proj") || n == "o_proj" => "o_proj",
                                other => return Err(format!("LoRA target `{other}` not mapped")),
                            };
                            targets.push(mapped.to_string());
                        }
                    }
                    _ => return Err("LoRA targets not given as a list".into()),
                }
                if lora.get("lora_to_mlp").and_then(Value::as_bool) == Some(true) {
                    targets.extend(["gate_proj", "up_proj", "down_proj"].map(String::from));
                }
                let family = spec(model).map(|sp| sp.model_type).unwrap_or_default();
                if family == "gpt_neox" {
                    // q and v live in the fused query_key_value layer.
                    targets = vec!["query_key_value".into()];
                }
                let dropout = lora
                    .get("dropout")
                    .and_then(Value::as_f64)
                    .unwrap_or(if litgpt { 0.05 } else { 0.0 });
                plan["lora"] = json!({
                    "rank": rank,
                    "target_modules": targets,
                    "dropout": dropout,
                    "dtype": match extra.get("lora_adapter_dtype").and_then(Value::as_str) {
                        // Adapters whose dtype the source states (PEFT's autocast_adapter_dtype keeps them fp32
                        // on a bf16 model; PEFT before 0.7 created them fp32).
                        Some(d @ ("fp32" | "bf16")) => d,
                        _ if mp.contains("bf16") => "bf16",
                        _ => "fp32",
                    },
                });
            }
            let opt = s(p, "optimizer").to_lowercase();
            plan["optimizer"] = json!(if opt.contains("pagedadamw8bit") {
                "paged_adamw_8bit"
            } else if opt.contains("pagedadamw") {
                "paged_adamw_32bit"
            } else if opt.contains("adamw") {
                "adamw"
            } else {
                return Err(format!("optimizer `{opt}` not mapped"));
            });
            if opt.contains("optimizer_in_bwd=true")
                || extra.get("optimizer_in_backward") == Some(&json!(true))
            {
                plan["optimizer_in_backward"] = json!(true);
            }
            if let Some(steps) = p.get("gradient_accumulation_steps").and_then(Value::as_u64) {
                plan["gradient_accumulation_steps"] = json!(steps);
            }
            plan["gradient_checkpointing"] = json!(p
                .get("gradient_checkpointing")
                .and_then(Value::as_bool)
                .unwrap_or(false));
            let chunked = extra.get("chunked_cross_entropy") == Some(&json!(true))
                || extra_text.contains("CEWithChunkedOutputLoss");
            plan["chunked_loss"] = json!(chunked);
            if let Some(attention) = extra.get("attn_implementation").and_then(Value::as_str) {
                // transformers' names: "eager", "sdpa", "flash_attention_2".
                for name in ["eager", "sdpa", "flash"] {
                    if attention.starts_with(name) {
                        plan["attention"] = json!(name);
                    }
                }
            }
            if extra.get("torch_compile") == Some(&json!(true)) {
                plan["torch_compile"] = json!(true);
            }
            if extra.get("activation_offloading_to_cpu") == Some(&json!(true)) {
                plan["activation_offload"] = json!(true);
            }
            let dist = p.get("distributed").cloned().unwrap_or(Value::Null);
            let strategy = s(&dist, "strategy");
            if gpus == 1 {
                // The run's own GPU: a reserved figure never shows more than it holds (docs/estimator.md §10.3).
                if let Some(gib) = gpu_memory_gib(s(p, "gpu_type")) {
                    plan["gpus"] = json!({"count": 1, "memory_gib": gib});
                }
            }
            if gpus > 1 || strategy.contains("deepspeed") {
                plan["gpus"] = json!({"count": gpus, "memory_gib": 80});
                if strategy.contains("fsdp") {
                    plan["sharding"] = json!("fsdp_full_shard");
                    if litgpt {
                        // lit-gpt's finetune/lora.py wraps each `Block` (LoRA layers inside it) with Lightning's
                        // FSDPStrategy, which defaults to use_orig_params=True, and accumulates under
                        // `fabric.no_backward_sync`, i.e. FSDP's no_sync().
                        if plan.get("lora").is_some() {
                            plan["fsdp_frozen_in_trainable_units"] = json!(true);
                        }
                        plan["fsdp_no_sync"] = json!(true);
                    }
                } else if strategy.contains("deepspeed") {
                    plan["sharding"] = json!("zero3");
                    if s(&dist, "offload_param") == "cpu" {
                        plan["offload"] = json!("optimizer_and_params");
                    }
                }
            }
        }
        other => return Err(format!("task `{other}` is not one the estimator models")),
    }
    Ok((plan, total))
}

/// The memory of a single GPU as a source names it ("A100 80GB", "A100-SXM4-40GB", "A100-SXM4-80G", "NVIDIA L40S
/// 48GB", "RTX 4090"), in GiB; `None` where it names none.
fn gpu_memory_gib(gpu_type: &str) -> Option<u64> {
    if gpu_type.contains("4090") {
        return Some(24);
    }
    let at = gpu_type.find('G')?;
    let digits: String = gpu_type[..at]
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().ok()
}

/// The method group a band's spread is kept by.
pub fn group(plan: &Plan) -> &'static str {
    match (plan.task, plan.method) {
        (Task::Infer, _) => "infer",
        (_, Some(Method::Lora)) => "lora",
        (_, Some(Method::Qlora)) => "qlora",
        _ => "full",
    }
}

/// What became of the points of one file.
pub struct Measured {
    /// Every point estimated, with its plan.
    pub compared: Vec<(Compared, Plan, Estimate)>,
    /// Points the estimator cannot express (id, why); printed, not scored.
    pub skipped: Vec<(String, String)>,
    /// Points excluded before mapping: low confidence, or not a peak (bounds).
    pub excluded: usize,
    /// Points that mapped to a plan the parser rejected or that the engine failed on (id, error).
    pub failed: Vec<(String, String)>,
}

/// Every point of `file` (a name under the estimate fixtures) estimated, with its plan: peaks of medium or high
/// confidence only; out-of-memory bounds are printed with their device estimate as a sanity check.
pub fn compare_file(file: &str) -> Measured {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{file}")).expect("fixture");
    let presets = builtin_presets();
    let mut out = Measured {
        compared: Vec::new(),
        skipped: Vec::new(),
        excluded: 0,
        failed: Vec::new(),
    };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let p: Value = serde_json::from_str(line).expect("jsonl line");
        let id = s(&p, "id").to_string();
        let confidence = s(&p, "confidence").to_string();
        if s(&p, "measurement_kind") == "oom_lower_bound" {
            out.excluded += 1;
            // Informative only: the run ran out of memory, so the estimate should exceed the GPU.
            if let Ok((plan_json, _)) = to_plan(&p) {
                if let (Ok(plan), Some(sp)) = (
                    parse_plan(&plan_json.to_string(), &presets),
                    spec(s(&p, "model_id")),
                ) {
                    if let Ok(est) = estimate(&sp, &plan, &presets) {
                        println!(
                            "oom  {id:<31} {:<28} device estimate {:>8.2} GiB per GPU",
                            s(&p, "gpu_type"),
                            est.per_gpu.device_peak_bytes as f64 / GIB
                        );
                    }
                }
            }
            continue;
        }
        if s(&p, "measurement_kind") != "peak" || confidence == "low" {
            out.excluded += 1;
            continue;
        }
        let Some(measured_gib) = p.get("peak_gib_normalized").and_then(Value::as_f64) else {
            out.failed.push((id, "no peak_gib_normalized".into()));
            continue;
        };
        let (plan_json, total) = match to_plan(&p) {
            Ok(x) => x,
            Err(why) => {
                println!("skip {id}: {why}");
                out.skipped.push((id, why));
                continue;
            }
        };
        let plan = match parse_plan(&plan_json.to_string(), &presets) {
            Ok(plan) => plan,
            Err(e) => {
                out.failed
                    .push((id, format!("plan {plan_json} rejected: {e}")));
                continue;
            }
        };
        let Some(sp) = spec(s(&p, "model_id")) else {
            out.failed.push((id, "no spec".into()));
            continue;
        };
        let est = match estimate(&sp, &plan, &presets) {
            Ok(est) => est,
            Err(e) => {
                out.failed.push((id, e.to_string()));
                continue;
            }
        };
        let scope_sum = p["measured_peak"]["scope"] == "sum_all_gpus";
        let gpus = p.get("num_gpus").and_then(Value::as_u64).unwrap_or(1);
        let per = |bytes: u64| (if scope_sum { bytes * gpus } else { bytes }) as f64 / GIB;
        let Some(range) = est.per_gpu.range else {
            out.failed
                .push((id, "an analytic estimate carries no band".into()));
            continue;
        };
        let g = &est.per_gpu;
        let (central, band) = match total {
            "device" => (g.device_peak_bytes, range.device_peak_bytes),
            "reserved" => (g.reserved_peak_bytes, range.reserved_peak_bytes),
            _ => (g.allocated_peak_bytes, range.allocated_peak_bytes),
        };
        let metric = p["measured_peak"]["metric"].as_str().unwrap_or("");
        out.compared.push((
            Compared {
                id,
                source: s(&p, "source_key").to_string(),
                group: group(&plan),
                confidence,
                total,
                counter_unknown: metric.starts_with("unknown"),
                measured_gib,
                estimated_gib: per(central),
                low_gib: per(band.low),
                high_gib: per(band.high),
                device_high_gib: per(range.device_peak_bytes.high),
                device_gib: per(g.device_peak_bytes),
            },
            plan,
            est,
        ));
    }
    out
}

/// The middle value (the upper middle of an even count); 0 without values.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        0.0
    } else {
        v[v.len() / 2]
    }
}

/// The value `q` of the way up (0 ≤ q ≤ 1, nearest rank below); 0 without values.
pub fn quantile(mut v: Vec<f64>, q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    v[((v.len() as f64 * q) as usize).min(v.len() - 1)]
}
