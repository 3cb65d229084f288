//! From a plan file to a [`Plan`]: serde reads the [`PlanFile`] (each type error with the path of its key), then
//! [`validate`] fills in the defaults and applies the rules that span keys. Every error names one key
//! (`lora.rank: must be a positive integer, got 0`), which is what the CLI prints and the UI puts beside a field.

use std::num::NonZeroU64;

use serde_json::Value;

use super::file::{Count, GpusFile, LoraFile, PlanFile};
use super::framework;
use super::types::*;
use crate::error::json_kind;
use crate::estimate::gpus;
use crate::estimate::preset::{PresetInfo, WeightFormat};
use crate::message::{Key, Message};
use crate::model::ModelRef;
use crate::{Error, Result};

/// Parse and validate a plan. `presets` are the preset names the user may pick (built-in and their own).
pub fn parse_plan(text: &str, presets: &[PresetInfo]) -> Result<Plan> {
    // Serde would read a struct from an array too, by position: a plan is an object, said as such.
    if !text.trim_start().starts_with('{') {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            Error::invalid_msg(
                "plan",
                Message::new(Key::InvalidNotValidJson).text("e", e.to_string()),
            )
        })?;
        return Err(not_an_object(&value));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let file: PlanFile = serde_path_to_error::deserialize(&mut de).map_err(read_error)?;
    de.end().map_err(|e| {
        Error::invalid_msg(
            "plan",
            Message::new(Key::InvalidNotValidJson).text("e", e.to_string()),
        )
    })?;
    validate(file, presets)
}

/// Like [`parse_plan`], from an already parsed JSON value (the UI sends one).
pub fn plan_from_value(value: &Value, presets: &[PresetInfo]) -> Result<Plan> {
    if !value.is_object() {
        return Err(not_an_object(value));
    }
    let file: PlanFile = serde_path_to_error::deserialize(value).map_err(read_error)?;
    validate(file, presets)
}

fn not_an_object(value: &Value) -> Error {
    Error::invalid_msg(
        "plan",
        Message::new(Key::InvalidPlanMustObjectGot).text("value", json_kind(value).to_string()),
    )
}

/// Serde's error, at the key it is about, in the words the rest of Headroom uses.
fn read_error(err: serde_path_to_error::Error<serde_json::Error>) -> Error {
    let path = match err.path().to_string() {
        p if p == "." => String::new(),
        p => p,
    };
    let inner = err.into_inner();
    if !inner.is_data() {
        return Error::invalid_msg(
            "plan",
            Message::new(Key::InvalidPlanNotValidJson).text("inner", inner.to_string()),
        );
    }
    let text = inner.to_string();
    // A reader of text appends where it was; the key names the place better.
    let text = match text.rfind(" at line ") {
        Some(i) => &text[..i],
        None => &text,
    };
    let (key, message) = explain(text);
    let field = match key {
        Some(k) if path.is_empty() => k,
        // serde_path_to_error already counts an unknown key as the last step of the path.
        Some(k) if path == k || path.ends_with(&format!(".{k}")) => path,
        Some(k) => format!("{path}.{k}"),
        None if path.is_empty() => "plan".to_string(),
        None => path,
    };
    match message {
        Ok(m) => Error::invalid_msg(field, m),
        Err(serde_words) => Error::invalid(field, serde_words),
    }
}

/// Serde's message → (the key it names below the path, if any; the message, as a key where serde's sentence is
/// one Headroom rewords, else serde's own words).
fn explain(text: &str) -> (Option<String>, Result<Message, String>) {
    let quoted = |s: &str| s.split('`').nth(1).map(str::to_string);
    let listed = |s: &str| -> String {
        let list = s
            .split_once("expected ")
            .map(|(_, l)| l.trim_start_matches("one of "))
            .unwrap_or("");
        list.replace('`', "").replace(" or ", ", ")
    };
    if let Some(rest) = text.strip_prefix("unknown field ") {
        let known = Message::new(Key::InvalidUnknownKey).text("known", listed(rest));
        return (quoted(rest), Ok(known));
    }
    if let Some(rest) = text.strip_prefix("missing field ") {
        return (quoted(rest), Ok(Message::new(Key::InvalidRequired)));
    }
    if let Some(rest) = text.strip_prefix("duplicate field ") {
        return (quoted(rest), Ok(Message::new(Key::InvalidTwice)));
    }
    if let Some(rest) = text.strip_prefix("unknown variant ") {
        let got = quoted(rest).unwrap_or_default();
        let choices = listed(rest);
        let m = Message::new(Key::InvalidNotOneOf)
            .text("value", got)
            .text("choices", choices);
        return (None, Ok(m));
    }
    if let Some(rest) = text
        .strip_prefix("invalid type: ")
        .or_else(|| text.strip_prefix("invalid value: "))
    {
        let (got, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let want = match expected {
            "a boolean" => "true or false".to_string(),
            "f64" => "a number".to_string(),
            "a nonzero u64" => "a positive integer".to_string(),
            e if e.starts_with("struct ") || e.starts_with("a map") => "an object".to_string(),
            e => e.to_string(),
        };
        let m = Message::new(Key::InvalidMustBeGot)
            .text("want", want)
            .text("got", got);
        return (None, Ok(m));
    }
    // The plan's own readers (file.rs: counts) say "must be WANT, got VALUE" and "N is implausibly large (at
    // most MAX)" through serde.
    if let Some((want, got)) = text
        .strip_prefix("must be ")
        .and_then(|rest| rest.rsplit_once(", got "))
    {
        let m = Message::new(Key::InvalidMustBeGot)
            .text("want", want)
            .text("got", got);
        return (None, Ok(m));
    }
    if let Some((value, max)) = text
        .strip_suffix(')')
        .and_then(|rest| rest.split_once(" is implausibly large (at most "))
    {
        let m = Message::new(Key::InvalidTooLarge)
            .text("value", value)
            .text("max", max);
        return (None, Ok(m));
    }
    (None, Err(text.to_string()))
}

/// The rules that span keys, and the defaults (docs/estimator.md §0.1).
fn validate(file: PlanFile, presets: &[PresetInfo]) -> Result<Plan> {
    let model = ModelRef::from_value(&file.model)?;
    let task = file.task;
    let train = task == Task::Train;

    let method = match file.method {
        None if train => Some(Method::Full),
        None => None,
        Some(_) if !train => {
            return Err(Error::invalid_msg(
                "method",
                Message::new(Key::InvalidPlanOnlyAppliesTaskTrain),
            ))
        }
        Some(m) => Some(m),
    };

    let framework = match file.framework {
        Some(_) if !train => {
            return Err(Error::invalid_msg(
                "framework",
                Message::new(Key::InvalidPlanOnlyAppliesTaskTrain),
            ))
        }
        f => f.unwrap_or_default(),
    };

    let quantization = match file.quantization {
        Some(name) => {
            if !presets.iter().any(|p| p.name == name) {
                let known: Vec<&str> = presets.iter().map(|p| p.name.as_str()).collect();
                return Err(Error::invalid_msg(
                    "quantization",
                    Message::new(Key::InvalidPlanUnknownPresetKnown)
                        .text("name", name.to_string())
                        .text("known", known.join(", ")),
                ));
            }
            Some(name)
        }
        None if method == Some(Method::Qlora) => Some("int4".to_string()),
        None => None,
    };
    if let (Some(name), Some(m)) = (&quantization, method) {
        let format = presets.iter().find(|p| &p.name == name).map(|p| p.format);
        if let Some(format) = format {
            if format.is_quantized() && matches!(m, Method::Full | Method::Freeze) {
                return Err(Error::invalid_msg(
                    "quantization",
                    Message::new(Key::InvalidPlanWeightsAreQuantizedFrozen)
                        .text("name", name.to_string())
                        .text(
                            "value",
                            (if m == Method::Full { "full" } else { "freeze" }).to_string(),
                        ),
                ));
            }
            if m == Method::Qlora && !matches!(format, WeightFormat::Int4 { .. }) {
                return Err(Error::invalid_msg(
                    "quantization",
                    Message::new(Key::InvalidPlanMethodQloraNeeds4).text("name", name.to_string()),
                ));
            }
        }
    }

    // Quantized base weights: some framework defaults depend on them.
    let quantized = quantization.as_ref().is_some_and(|name| {
        presets
            .iter()
            .any(|p| &p.name == name && p.format.is_quantized())
    });
    let profile = framework::profile(framework, quantized);
    // The keys the framework fills in, only for training (the only task a framework applies to).
    let mut from_framework: Vec<String> = Vec::new();
    let mut from = |key: &str, given: bool| {
        if train && !given {
            from_framework.push(key.to_string());
        }
    };

    let precision = match (file.precision, profile.precision) {
        (Some(p), _) => p,
        (None, Some(p)) if train => {
            from("precision", false);
            p
        }
        _ => Precision::Bf16Mixed,
    };

    let uses_lora = matches!(method, Some(Method::Lora | Method::Qlora));
    let lora_dtype_given = file.lora.as_ref().is_some_and(|l| l.dtype.is_some());
    let lora = match file.lora {
        Some(_) if !uses_lora => {
            return Err(Error::invalid_msg(
                "lora",
                Message::new(Key::InvalidPlanLoraSettingsGivenBut).text(
                    "value",
                    (match method {
                        Some(Method::Full) => "full",
                        Some(Method::Freeze) => "freeze",
                        _ => "absent (task infer)",
                    })
                    .to_string(),
                ),
            ));
        }
        Some(l) => Some(lora_settings(l)?),
        None if uses_lora => Some(LoraSettings::default()),
        None => None,
    };
    let lora = match lora {
        Some(mut l) if !lora_dtype_given => {
            if let Some(d) = framework::lora_dtype(framework, precision, quantized) {
                l.dtype = d;
                from("lora.dtype", false);
            }
            Some(l)
        }
        l => l,
    };

    let trainable_embeddings = file.trainable_embeddings.unwrap_or(false);
    if trainable_embeddings && !uses_lora {
        return Err(Error::invalid_msg(
            "trainable_embeddings",
            Message::new(Key::InvalidPlanOnlyAppliesBesideLora),
        ));
    }

    let optimizer = match file.optimizer {
        Some(_) if !train => {
            return Err(Error::invalid_msg(
                "optimizer",
                Message::new(Key::InvalidPlanOnlyAppliesTaskTrain),
            ))
        }
        Some(o) => o,
        None => {
            from("optimizer", false);
            profile.optimizer
        }
    };
    let optimizer_in_backward = file.optimizer_in_backward.unwrap_or(false);
    let batch_size = count_or(file.batch_size, 1);
    let sequence_lengths = sequence_lengths(file.sequence_lengths.as_deref(), train)?;
    let sequence_length = match (file.sequence_length, sequence_lengths.iter().max()) {
        (Some(s), Some(&longest)) if s.get() != longest => {
            return Err(Error::invalid(
                "sequence_lengths",
                format!(
                    "the longest, {longest}, must equal sequence_length {}",
                    s.get()
                ),
            ))
        }
        (None, Some(&longest)) => NonZeroU64::new(longest).unwrap_or(NonZeroU64::MIN),
        (given, _) => count_or(given, 2048),
    };
    let gradient_accumulation_steps = count_or(file.gradient_accumulation_steps, 1);
    if optimizer_in_backward && gradient_accumulation_steps.get() > 1 {
        // The step runs as each gradient is ready, so there is nothing to accumulate into
        // (torchtune rejects the combination for the same reason).
        return Err(Error::invalid_msg(
            "optimizer_in_backward",
            Message::new(Key::InvalidPlanCannotCombinedGradientAccumulation),
        ));
    }
    if batch_size.get() * sequence_length.get() > MAX_COUNT * 256 {
        return Err(Error::invalid_msg(
            "batch_size",
            Message::new(Key::InvalidPlanSequenceLengthTokensPer)
                .text("batch_size", batch_size.to_string())
                .text("sequence_length", sequence_length.to_string()),
        ));
    }
    from(
        "gradient_checkpointing",
        file.gradient_checkpointing.is_some(),
    );
    // PEFT's kbit preparation turns checkpointing on where the profile runs it (and the plan does not refuse it).
    let kbit_checkpointing = profile.kbit_checkpointing
        && quantized
        && file.kbit_upcast.or(profile.kbit_upcast) != Some(false);
    let gradient_checkpointing = file
        .gradient_checkpointing
        .unwrap_or(train && (profile.gradient_checkpointing || kbit_checkpointing));
    let attention = file.attention.unwrap_or(AttentionImpl::Sdpa);
    from("chunked_loss", file.chunked_loss.is_some());
    let chunked_loss = file.chunked_loss.unwrap_or(train && profile.chunked_loss);
    // Offloaded checkpointing moves the checkpointed layer inputs to CPU RAM: only with checkpointing on.
    let offload_default = train && profile.offloaded_checkpointing && gradient_checkpointing;
    if offload_default && file.activation_offload.is_none() {
        from("activation_offload", false);
    }
    let activation_offload = file.activation_offload.unwrap_or(offload_default);
    let new_tokens = match file.new_tokens {
        None => 0,
        Some(_) if train => {
            return Err(Error::invalid_msg(
                "new_tokens",
                Message::new(Key::InvalidPlanOnlyAppliesTaskInfer),
            ))
        }
        Some(n) => n.0,
    };
    let kv_cache_dtype = match file.kv_cache_dtype {
        Some(_) if train => {
            return Err(Error::invalid_msg(
                "kv_cache_dtype",
                Message::new(Key::InvalidPlanOnlyAppliesTaskInfer2),
            ))
        }
        k => k,
    };
    let gpus = file.gpus.map(gpu_setup).transpose()?;
    let nodes = count_or(file.nodes, 1);
    if nodes.get() > 1 && gpus.is_none() {
        return Err(Error::invalid_msg(
            "nodes",
            Message::new(Key::InvalidPlanMoreThanOneNode),
        ));
    }
    let sharding = file.sharding.unwrap_or(Sharding::None);
    if sharding != Sharding::None && !train {
        return Err(Error::invalid_msg(
            "sharding",
            Message::new(Key::InvalidPlanZeroFsdpShardTraining),
        ));
    }
    let offload = file.offload.unwrap_or(Offload::None);
    match offload {
        Offload::None => {}
        Offload::Optimizer if !sharding.shards_optimizer() || !train => {
            return Err(Error::invalid_msg(
                "offload",
                Message::new(Key::InvalidPlanOptimizerOffloadZeroFeature),
            ))
        }
        Offload::OptimizerAndParams if !sharding.shards_parameters() || !train => {
            return Err(Error::invalid_msg(
                "offload",
                Message::new(Key::InvalidPlanParameterOffloadNeedsSharded),
            ))
        }
        _ => {}
    }
    if offload == Offload::Optimizer && sharding.is_fsdp() {
        return Err(Error::invalid_msg(
            "offload",
            Message::new(Key::InvalidPlanFsdpOffloadsParametersOptimizer),
        ));
    }
    let margin = match file.margin {
        None => 0.10,
        Some(m) if (0.0..1.0).contains(&m) => m,
        Some(m) => {
            return Err(Error::invalid_msg(
                "margin",
                Message::new(Key::InvalidPlanMustAtLeast0).text("m", m.to_string()),
            ))
        }
    };
    if file.freeze_trainable_layers.is_some() && method != Some(Method::Freeze) {
        return Err(Error::invalid_msg(
            "freeze_trainable_layers",
            Message::new(Key::InvalidPlanOnlyAppliesMethodFreeze),
        ));
    }
    let freeze_trainable_layers = count_or(file.freeze_trainable_layers, 2);

    let fsdp = sharding.is_fsdp();
    for (key, given) in [
        (
            "fsdp_frozen_in_trainable_units",
            file.fsdp_frozen_in_trainable_units.is_some(),
        ),
        ("fsdp_no_sync", file.fsdp_no_sync.is_some()),
    ] {
        if given && !fsdp {
            return Err(Error::invalid_msg(
                key,
                Message::new(Key::InvalidPlanOnlyAppliesShardingFsdp),
            ));
        }
    }
    if file.fsdp_frozen_in_trainable_units.is_some() && !uses_lora {
        return Err(Error::invalid_msg(
            "fsdp_frozen_in_trainable_units",
            Message::new(Key::InvalidPlanOnlyAppliesMethodLora),
        ));
    }

    // PEFT's upcast and lm_head quantization only mean something on a quantized base.
    let kbit_upcast = match (file.kbit_upcast, profile.kbit_upcast) {
        (Some(k), _) => Some(k),
        (None, Some(k)) if quantized => {
            from("kbit_upcast", false);
            Some(k)
        }
        _ => None,
    };
    let quantize_lm_head = match file.quantize_lm_head {
        Some(q) => q,
        None if quantized && profile.quantize_lm_head => {
            from("quantize_lm_head", false);
            true
        }
        None => false,
    };
    from("torch_compile", file.torch_compile.is_some());
    let torch_compile = file.torch_compile.unwrap_or(train && profile.torch_compile);
    if let Some(version) = &file.bitsandbytes_version {
        if super::types::parse_bnb_version(version).is_none() {
            return Err(Error::invalid_msg(
                "bitsandbytes_version",
                Message::new(Key::InvalidPlanBitsandbytesVersion).text("value", version.clone()),
            ));
        }
    }
    if file.use_reentrant.is_some() && !train {
        return Err(Error::invalid_msg(
            "use_reentrant",
            Message::new(Key::InvalidPlanOnlyAppliesTaskTrain),
        ));
    }
    // Only a checkpointed run has a say, and only then does the note name it.
    if gradient_checkpointing {
        from("use_reentrant", file.use_reentrant.is_some());
    }
    let use_reentrant = file.use_reentrant.unwrap_or(profile.use_reentrant);
    if file.legacy_kv_cache.is_some() && train {
        return Err(Error::invalid_msg(
            "legacy_kv_cache",
            Message::new(Key::InvalidPlanOnlyAppliesTaskInfer2),
        ));
    }

    Ok(Plan {
        model,
        task,
        framework,
        from_framework,
        method,
        quantization,
        precision,
        lora,
        trainable_embeddings,
        optimizer,
        optimizer_in_backward,
        batch_size,
        sequence_length,
        sequence_lengths,
        gradient_accumulation_steps,
        gradient_checkpointing,
        attention,
        chunked_loss,
        activation_offload,
        new_tokens,
        kv_cache_dtype,
        gpus,
        nodes,
        sharding,
        offload,
        margin,
        fit_on: file.fit_on.unwrap_or_default(),
        freeze_trainable_layers,
        kbit_upcast,
        quantize_lm_head,
        bitsandbytes_version: file.bitsandbytes_version.map(|v| v.trim().to_string()),
        use_reentrant,
        prefill_logits: file.prefill_logits.unwrap_or(PrefillLogits::Last),
        legacy_kv_cache: file.legacy_kv_cache.unwrap_or(false),
        expandable_segments: file.expandable_segments.unwrap_or(false),
        torch_compile,
        fsdp_frozen_in_trainable_units: file.fsdp_frozen_in_trainable_units.unwrap_or(false),
        fsdp_no_sync: file.fsdp_no_sync.unwrap_or(false),
        machine: Default::default(),
    })
}

fn count_or(count: Option<Count>, default: u64) -> NonZeroU64 {
    count
        .map(|c| c.0)
        .or(NonZeroU64::new(default))
        .unwrap_or(NonZeroU64::MIN)
}

fn lora_settings(file: LoraFile) -> Result<LoraSettings> {
    let mut lora = LoraSettings::default();
    if let Some(r) = file.rank {
        lora.rank = r.get();
        lora.alpha = 2.0 * r.get() as f64;
    }
    if let Some(a) = file.alpha {
        if !(a.is_finite() && a > 0.0) {
            return Err(Error::invalid_msg(
                "lora.alpha",
                Message::new(Key::InvalidPlanMustPositiveNumberGot).text("a", a.to_string()),
            ));
        }
        lora.alpha = a;
    }
    if let Some(d) = file.dropout {
        if !(0.0..1.0).contains(&d) {
            return Err(Error::invalid_msg(
                "lora.dropout",
                Message::new(Key::InvalidPlanMustNumberAtLeast).text("d", d.to_string()),
            ));
        }
        lora.dropout = d;
    }
    if let Some(targets) = file.target_modules {
        if let TargetModules::Names(names) = &targets {
            if names.is_empty() {
                return Err(Error::invalid_msg(
                    "lora.target_modules",
                    Message::new(Key::InvalidPlanMustNameAtLeast),
                ));
            }
            if let Some(blank) = names.iter().find(|n| n.trim().is_empty()) {
                return Err(Error::invalid_msg(
                    "lora.target_modules",
                    Message::new(Key::InvalidPlanEveryEntryMustModule)
                        .text("blank", format!("{blank:?}")),
                ));
            }
        }
        lora.target_modules = targets;
    }
    if let Some(d) = file.dtype {
        lora.dtype = d;
    }
    Ok(lora)
}

fn gpu_setup(file: GpusFile) -> Result<GpuSetup> {
    let count = file.count.0;
    match (file.memory_gib, file.memory_bytes, file.model) {
        (Some(gib), None, None) => {
            if !(gib.is_finite() && gib > 0.0 && gib <= 1.0e6) {
                return Err(Error::invalid_msg(
                    "gpus.memory_gib",
                    Message::new(Key::InvalidPlanMustPositiveNumberGib)
                        .text("gib", gib.to_string()),
                ));
            }
            Ok(GpuSetup {
                count,
                memory_bytes: (gib * (1u64 << 30) as f64).round() as u64,
                model: None,
            })
        }
        (None, Some(bytes), None) => Ok(GpuSetup {
            count,
            memory_bytes: bytes.get(),
            model: None,
        }),
        (None, None, Some(name)) => {
            let gpu = gpus::find(&name).ok_or_else(|| {
                Error::invalid_msg(
                    "gpus.model",
                    Message::new(Key::InvalidPlanUnknownGpuKnown)
                        .text("name", name.to_string())
                        .text(
                            "value",
                            gpus::catalog()
                                .iter()
                                .map(|g| g.name)
                                .collect::<Vec<_>>()
                                .join(", "),
                        ),
                )
            })?;
            Ok(GpuSetup {
                count,
                memory_bytes: gpu.memory_bytes,
                model: Some(gpu.name.to_string()),
            })
        }
        (None, None, None) => Err(Error::invalid_msg(
            "gpus",
            Message::new(Key::InvalidPlanGiveMemoryGibPer),
        )),
        _ => Err(Error::invalid_msg(
            "gpus",
            Message::new(Key::InvalidPlanGiveOneMemoryGib),
        )),
    }
}

/// Most successive batch lengths a plan lists: the trace engine runs one step per length and stops at 64, and
/// the analytic engine's allocator simulation is linear in them (docs/estimator.md §10.3).
pub(crate) const MAX_SEQUENCE_LENGTHS: usize = 64;

/// The plan's `sequence_lengths`: training only, 1 to 64 positive lengths.
fn sequence_lengths(lengths: Option<&[Count]>, train: bool) -> Result<Vec<u64>> {
    let Some(lengths) = lengths else {
        return Ok(Vec::new());
    };
    if !train {
        return Err(Error::invalid(
            "sequence_lengths",
            "only applies to task train (one micro-batch per length)",
        ));
    }
    if lengths.is_empty() || lengths.len() > MAX_SEQUENCE_LENGTHS {
        return Err(Error::invalid(
            "sequence_lengths",
            format!(
                "lists {} lengths; give 1 to {MAX_SEQUENCE_LENGTHS}",
                lengths.len()
            ),
        ));
    }
    Ok(lengths.iter().map(|c| c.get()).collect())
}
