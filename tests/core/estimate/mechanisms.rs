//! The estimator's mechanisms, checked against the figures docs/estimator.md §13 derives from source code and papers.

use headroom_core::estimate::band::LengthsDoubt;
use headroom_core::estimate::{
    builtin_presets, estimate, parse_plan, reference_lengths, Estimate, PerGpu,
};
use headroom_core::message::Key;
use headroom_core::model::ModelSpec;
use serde_json::{json, Value};

/// A spec from a config.json object through model discovery's converter (what `{"model": {"config": …}}`
/// resolves to).
fn spec_from_config(
    config: &serde_json::Value,
) -> headroom_core::Result<headroom_core::model::ModelSpec> {
    let map = config.as_object().cloned().unwrap_or_default();
    headroom_core::model::from_config(&map, "model.config")
}

const GIB: u64 = 1 << 30;

pub fn llama_8b() -> ModelSpec {
    spec_from_config(&json!({
        "model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
        "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 14336, "vocab_size": 128256,
        "tie_word_embeddings": false, "torch_dtype": "bfloat16"
    }))
    .unwrap()
}

fn run(spec: &ModelSpec, plan: Value) -> Estimate {
    let presets = builtin_presets();
    let mut plan = plan;
    plan["model"] = json!({"id": "test"});
    let plan = parse_plan(&plan.to_string(), &presets).unwrap();
    estimate(spec, &plan, &presets).unwrap()
}

#[test]
fn config_converter_counts_like_transformers() {
    // Totals checked in docs/estimator.md §2.1 (and model_configs.json param_count_exact).
    assert_eq!(llama_8b().parameters.total, 8_030_261_248);
    let qwen2 = spec_from_config(&json!({
        "model_type": "qwen2", "hidden_size": 3584, "num_hidden_layers": 28, "num_attention_heads": 28,
        "num_key_value_heads": 4, "intermediate_size": 18944, "vocab_size": 152064, "tie_word_embeddings": false
    }))
    .unwrap();
    assert_eq!(qwen2.parameters.total, 7_615_616_512);
    let bad = spec_from_config(&json!({"model_type": "llama", "hidden_size": 0}));
    assert!(
        matches!(bad, Err(headroom_core::Error::Invalid { field, .. }) if field.starts_with("model.config") && field.ends_with("hidden_size"))
    );
    // T5 is known to model discovery's converter; a made-up type is not.
    let unknown = spec_from_config(&json!({"model_type": "no_such_architecture"}));
    assert!(
        matches!(unknown, Err(headroom_core::Error::Invalid { field, .. }) if field.starts_with("model.config") && field.ends_with("model_type"))
    );
}

#[test]
fn totals_nest_as_the_contract_says() {
    let e = run(
        &llama_8b(),
        json!({"task": "train", "method": "qlora", "optimizer": "paged_adamw_8bit",
        "gradient_checkpointing": true, "gpus": {"count": 1, "memory_gib": 32}, "margin": 0.1}),
    );
    let g = e.per_gpu;
    assert_eq!(g.allocated_peak_bytes, g.components.sum());
    assert_eq!(
        g.reserved_peak_bytes,
        g.allocated_peak_bytes + g.allocator_overhead_bytes
    );
    assert_eq!(
        g.device_peak_bytes,
        g.reserved_peak_bytes + g.managed_memory_bytes + g.cuda_context_bytes
    );
    let usable = ((32 * GIB) as f64 * 0.9).floor() as i64;
    let r = g.range.expect("every analytic estimate has a band");
    for (range, central) in [
        (r.allocated_peak_bytes, g.allocated_peak_bytes),
        (r.reserved_peak_bytes, g.reserved_peak_bytes),
        (r.device_peak_bytes, g.device_peak_bytes),
    ] {
        assert!(
            range.low <= central && central <= range.high,
            "{range:?} around {central}"
        );
    }
    assert!(r.allocated_peak_bytes.high <= r.reserved_peak_bytes.high);
    assert!(r.reserved_peak_bytes.high <= r.device_peak_bytes.high);
    assert_eq!(
        e.headroom_bytes,
        Some(usable - r.device_peak_bytes.high as i64),
        "the band's upper end decides by default"
    );
    assert_eq!(e.fits, Some(true));
    assert!(!e.notes.is_empty());
}

#[test]
fn qlora_llama_8b_matches_the_worked_example() {
    // docs/estimator.md §13.1 A: LoRA r=16 all-linear = 41,943,040 parameters; peak ≈ 12.5 GiB before allocator slack.
    let e = run(
        &llama_8b(),
        json!({"task": "train", "method": "qlora", "quantization": "int4_double",
        "optimizer": "paged_adamw_8bit", "gradient_checkpointing": true}),
    );
    assert_eq!(e.parameters.trainable, 41_943_040);
    let c = e.per_gpu.components;
    // 4-bit linears (3.35 GiB) + fp32 embeddings, head and norms (3.92 GiB).
    let weights = c.weights as f64 / GIB as f64;
    assert!((7.2..7.35).contains(&weights), "weights {weights}");
    assert_eq!(c.lora, 41_943_040 * 4);
    // The loss (12 B × s·V at its backward) dominates the step: 2.94 GiB.
    assert_eq!(c.logits, 2048 * 128_256 * 12);
    let allocated = e.per_gpu.allocated_peak_bytes as f64 / GIB as f64;
    assert!((12.0..13.0).contains(&allocated), "allocated {allocated}");
}

#[test]
fn kv_cache_is_128_kib_per_token_for_llama_8b() {
    let e = run(
        &llama_8b(),
        json!({"task": "infer", "sequence_length": 8192}),
    );
    assert_eq!(e.per_gpu.components.kv_cache, 8192 * 128 * 1024);
    let fp8 = run(
        &llama_8b(),
        json!({"task": "infer", "sequence_length": 8192, "kv_cache_dtype": "fp8"}),
    );
    assert_eq!(fp8.per_gpu.components.kv_cache, 8192 * 64 * 1024);
    let int4 = run(
        &llama_8b(),
        json!({"task": "infer", "sequence_length": 8192, "kv_cache_dtype": "int4"}),
    );
    assert!(int4.per_gpu.components.kv_cache < fp8.per_gpu.components.kv_cache);
}

#[test]
fn sliding_window_caps_the_cache() {
    let mistral = spec_from_config(&json!({
        "model_type": "mistral", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
        "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 32000, "sliding_window": 4096
    }))
    .unwrap();
    let short = run(
        &mistral,
        json!({"task": "infer", "sequence_length": 1, "new_tokens": 4095}),
    );
    let long = run(
        &mistral,
        json!({"task": "infer", "sequence_length": 1, "new_tokens": 16383}),
    );
    assert_eq!(
        short.per_gpu.components.kv_cache,
        long.per_gpu.components.kv_cache
    );
}

/// A KV cache handed back as tuples (transformers before 4.42, remote-code models such as Qwen v1) holds the old
/// cache beside the new one at the end of each decode step: the last step holds the cache of every token but one
/// twice, where DynamicCache holds one layer's twice (docs/estimator.md §8.2).
#[test]
fn a_tuple_cache_holds_the_old_cache_through_the_step() {
    // Llama-3.1-8B: 32 layers × 8 KV heads × 128 × 2 (K and V) × 2 bytes = 131072 bytes per token.
    let per_token = 131_072u64;
    let plan = |legacy: Option<bool>| {
        let mut p = json!({"task": "infer", "sequence_length": 1, "new_tokens": 8191});
        if let Some(l) = legacy {
            p["legacy_kv_cache"] = json!(l);
        }
        run(&llama_8b(), p)
    };
    let dynamic = plan(None);
    let tuples = plan(Some(true));
    assert_eq!(plan(Some(false)).per_gpu, dynamic.per_gpu);
    assert_eq!(
        dynamic.per_gpu.components.kv_cache,
        8192 * per_token + 8192 * per_token / 32
    );
    assert_eq!(
        tuples.per_gpu.components.kv_cache,
        8192 * per_token + 8191 * per_token
    );
    assert!(tuples
        .notes
        .iter()
        .any(|n| n.starts_with("KV cache as tuples")));
    // Only generation has a decode step: a training plan cannot say it.
    let presets = builtin_presets();
    let err = parse_plan(
        &json!({"model": {"id": "x"}, "task": "train", "legacy_kv_cache": true}).to_string(),
        &presets,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("legacy_kv_cache"), "{err}");
}

#[test]
fn paged_states_are_managed_not_allocated() {
    let plan = |opt: &str| json!({"task": "train", "method": "full", "optimizer": opt, "precision": "bf16-true"});
    let plain = run(&llama_8b(), plan("adamw_8bit"));
    let paged = run(&llama_8b(), plan("paged_adamw_8bit"));
    assert!(paged.per_gpu.managed_memory_bytes > 15 * GIB);
    assert_eq!(plain.per_gpu.managed_memory_bytes, 0);
    assert!(paged.per_gpu.allocated_peak_bytes + 15 * GIB < plain.per_gpu.allocated_peak_bytes);
    // The states move from the caching allocator to managed memory, byte for byte.
    let moved = (paged.per_gpu.allocated_peak_bytes + paged.per_gpu.managed_memory_bytes)
        .abs_diff(plain.per_gpu.allocated_peak_bytes);
    assert!(
        moved < GIB,
        "allocated plus managed barely changes: {moved}"
    );
    // Without checkpointing the gradients made in backward outgrow the activation blocks it frees. Unpaged 8-bit
    // states, made after the first backward, fill those blocks (one byte per element of an MLP weight is one
    // MLP activation of 2048 tokens); paged ones live outside the allocator and leave them reserved but free.
    assert!(
        paged.per_gpu.allocator_overhead_bytes > plain.per_gpu.allocator_overhead_bytes + 4 * GIB,
        "paged {} unpaged {}",
        paged.per_gpu.allocator_overhead_bytes,
        plain.per_gpu.allocator_overhead_bytes
    );
}

#[test]
fn full_mixed_precision_costs_16_bytes_per_parameter_in_model_states() {
    // ZeRO paper §3.1: 2 (16-bit weights) + 2 (gradients) + 12 (fp32 master, momentum, variance).
    let e = run(
        &llama_8b(),
        json!({"task": "train", "method": "full", "sequence_length": 16, "chunked_loss": true}),
    );
    let c = e.per_gpu.components;
    let psi = 8_030_261_248u64;
    assert_eq!(c.weights, 2 * psi);
    // fp32 master + two fp32 states, plus the foreach step's state-sized temporary (4 bytes).
    assert_eq!(c.optimizer, 12 * psi + 4 * psi);
    assert_eq!(
        c.gradients,
        2 * psi,
        "peak at the step with every gradient alive"
    );
}

#[test]
fn sharding_and_offload_divide_model_states() {
    let base = json!({"task": "train", "method": "full", "gpus": {"count": 8, "memory_gib": 80}});
    let plain = run(&llama_8b(), base.clone());
    let mut z3 = base.clone();
    z3["sharding"] = json!("zero3");
    let z3 = run(&llama_8b(), z3);
    assert_eq!(z3.per_gpu.components.optimizer, 12 * 8_030_261_248 / 8);
    assert!(z3.per_gpu.device_peak_bytes * 2 < plain.per_gpu.device_peak_bytes);
    let mut off = base.clone();
    off["sharding"] = json!("zero3");
    off["offload"] = json!("optimizer_and_params");
    let off = run(&llama_8b(), off);
    assert_eq!(off.per_gpu.components.optimizer, 0);
    assert!(off.cpu_bytes > 12 * 8_030_261_248);
}

#[test]
fn checkpointing_chunking_and_offload_cut_activations() {
    let base = json!({"task": "train", "method": "lora", "batch_size": 4, "sequence_length": 4096});
    let plain = run(&llama_8b(), base.clone());
    let mut ckpt = base.clone();
    ckpt["gradient_checkpointing"] = json!(true);
    let ckpt = run(&llama_8b(), ckpt);
    assert!(ckpt.per_gpu.components.activations * 4 < plain.per_gpu.components.activations);
    let mut chunked = base.clone();
    chunked["chunked_loss"] = json!(true);
    chunked["gradient_checkpointing"] = json!(true);
    let chunked = run(&llama_8b(), chunked);
    assert!(chunked.per_gpu.allocated_peak_bytes < ckpt.per_gpu.allocated_peak_bytes);
    let mut eager = base.clone();
    eager["attention"] = json!("eager");
    let eager = run(&llama_8b(), eager);
    // b·a·s²·6 bytes per layer more.
    assert!(
        eager.per_gpu.components.activations
            >= plain.per_gpu.components.activations + 32 * 4 * 32 * 4096 * 4096 * 6
    );
}

#[test]
fn the_cpu_preset_uses_no_gpu() {
    let e = run(
        &llama_8b(),
        json!({"task": "infer", "quantization": "cpu", "gpus": {"count": 1, "memory_gib": 8}}),
    );
    assert_eq!(e.per_gpu.device_peak_bytes, 0);
    assert!(e.cpu_bytes > 4 * 8_030_261_248);
    assert_eq!(e.fits, Some(true));
}

#[test]
fn int4_offload_spills_layers_to_the_cpu_when_the_gpu_is_small() {
    let e = run(
        &llama_8b(),
        json!({"task": "infer", "quantization": "int4_offload", "gpus": {"count": 1, "memory_gib": 4}}),
    );
    assert!(e.cpu_bytes > 0);
    assert!(e.per_gpu.components.weights < 4 * GIB);
    let roomy = run(
        &llama_8b(),
        json!({"task": "infer", "quantization": "int4_offload", "gpus": {"count": 1, "memory_gib": 24}}),
    );
    assert_eq!(roomy.cpu_bytes, 0);
}

#[test]
fn extreme_plans_give_numbers_or_errors_never_panics() {
    let presets = builtin_presets();
    for attention in ["eager", "sdpa"] {
        for (b, s) in [
            (1u64, 1u64),
            (1 << 12, 1 << 20),
            (1 << 20, 1 << 12),
            (1, 1 << 24),
        ] {
            for task in ["train", "infer"] {
                let plan = json!({"model": {"id": "t"}, "task": task, "attention": attention,
                    "batch_size": b, "sequence_length": s, "gpus": {"count": 1, "memory_gib": 80}});
                match parse_plan(&plan.to_string(), &presets) {
                    Ok(p) => {
                        let e = estimate(&llama_8b(), &p, &presets).unwrap();
                        assert!(e.per_gpu.device_peak_bytes > 0);
                    }
                    Err(headroom_core::Error::Invalid { field, .. }) => {
                        assert_eq!(field, "batch_size")
                    }
                    Err(other) => panic!("{other}"),
                }
            }
        }
    }
    let (f, _) = match parse_plan(
        &json!({"model": {"id": "t"}, "task": "train", "batch_size": 1u64 << 40}).to_string(),
        &presets,
    ) {
        Err(headroom_core::Error::Invalid { field, message, .. }) => (field, message),
        other => panic!("{other:?}"),
    };
    assert_eq!(f, "batch_size");
    let huge = spec_from_config(&json!({
        "model_type": "llama", "hidden_size": 1u64 << 30, "num_hidden_layers": 32, "num_attention_heads": 32,
        "intermediate_size": 14336, "vocab_size": 128256
    }));
    assert!(
        matches!(huge, Err(headroom_core::Error::Invalid { field, .. }) if field.starts_with("model.config") && field.ends_with("hidden_size"))
    );
    // A spec from elsewhere (model discovery) with an absurd shape is refused by the estimator.
    let mut absurd = llama_8b();
    if let Some(a) = absurd.architecture.as_mut() {
        a.vocab_size = 1 << 40;
    }
    let p = parse_plan(
        &json!({"model": {"id": "t"}, "task": "infer"}).to_string(),
        &presets,
    )
    .unwrap();
    assert!(estimate(&absurd, &p, &presets).is_err());
}

#[test]
fn mla_caches_decompressed_heads_as_transformers_does() {
    // DeepSeek-V2-style attention: n_h · (d_nope + d_rope + d_v) elements per token and layer.
    let mut spec = llama_8b();
    if let Some(a) = spec.architecture.as_mut() {
        a.attention.mla = Some(headroom_core::model::Mla {
            q_lora_rank: None,
            kv_lora_rank: 512,
            qk_nope_head_dim: 128,
            qk_rope_head_dim: 64,
            v_head_dim: 128,
        });
    }
    let e = run(&spec, json!({"task": "infer", "sequence_length": 1000}));
    assert_eq!(
        e.per_gpu.components.kv_cache,
        32 * 32 * (128 + 64 + 128) * 2 * 1000
    );
    assert!(e.notes.iter().any(|n| n.contains("MLA")));
}

#[test]
fn freeze_tuning_trains_and_stores_only_the_last_layers() {
    // Long enough that both peak at the start of backward, where activations are alive.
    let full = run(
        &llama_8b(),
        json!({"task": "train", "method": "full", "batch_size": 4, "sequence_length": 4096}),
    );
    let freeze = run(
        &llama_8b(),
        json!({"task": "train", "method": "freeze", "freeze_trainable_layers": 2,
               "batch_size": 4, "sequence_length": 4096}),
    );
    let per_layer = (8_030_261_248u64 - 2 * 128_256 * 4096) / 32;
    let t = freeze.parameters.trainable;
    assert!(
        t.abs_diff(2 * per_layer) < 4096 * 8,
        "{t} vs {}",
        2 * per_layer
    );
    assert!(freeze.per_gpu.components.activations * 8 < full.per_gpu.components.activations);
}

#[test]
fn a_lora_target_the_model_lacks_is_an_error_naming_it() {
    let presets = builtin_presets();
    let plan = parse_plan(
        &json!({"model": {"id": "t"}, "task": "train", "method": "lora", "lora": {"target_modules": ["query_key_value"]}}).to_string(),
        &presets,
    )
    .unwrap();
    match estimate(&llama_8b(), &plan, &presets) {
        Err(headroom_core::Error::Invalid { field, message, .. }) => {
            assert_eq!(field, "lora.target_modules");
            assert!(
                message.contains("query_key_value") && message.contains("q_proj"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
}

/// docs/estimator.md §17: the band allows for changing lengths only where the plan leaves them open. One length
/// (every batch padded or packed to it) closes them whether or not the run is simulated; several lengths close
/// them only where they are simulated (not under sharding).
#[test]
fn the_lengths_doubt_follows_what_the_plan_leaves_open() {
    let high = |extra: Value| {
        let mut plan = json!({"task": "train", "method": "lora", "quantization": "bf16", "batch_size": 2,
                              "sequence_length": 4096, "gradient_checkpointing": true});
        for (k, v) in extra.as_object().unwrap() {
            plan[k] = v.clone();
        }
        let e = run(&llama_8b(), plan);
        (
            e.per_gpu.device_peak_bytes,
            e.per_gpu.range.unwrap().device_peak_bytes.high,
        )
    };
    let zero3 = json!({"sharding": "zero3", "gpus": {"count": 4, "memory_gib": 80}});
    for base in [json!({}), zero3] {
        let with = |lengths: Value| {
            let mut v = base.clone();
            v["sequence_lengths"] = lengths;
            high(v)
        };
        let open = high(base.clone());
        let one = with(json!([4096]));
        if base.get("sharding").is_some() {
            // Not simulated under sharding: the central figure assumes fixed lengths either way.
            assert_eq!(
                one.0, open.0,
                "{base}: one length changes no central figure"
            );
        } else {
            // On one device the central figure of lengths left open expects what they strand (§10.3).
            assert!(
                one.0 < open.0,
                "{base}: one length takes the expected stranding off"
            );
        }
        assert!(one.1 < open.1, "{base}: one length closes the lengths");
        let several = with(json!([1024, 4096]));
        if base.get("sharding").is_some() {
            // Not simulated under sharding: the lengths stay open.
            assert_eq!(several, open, "{base}");
        } else {
            // Simulated: what they strand is in the central figure, and the band no longer allows for it.
            assert!(
                several.0 > one.0 && several.1 < open.1,
                "{base}: {several:?} {open:?}"
            );
        }
    }
}

#[test]
fn zero3_full_fine_tuning_matches_the_worked_example() {
    // docs/estimator.md §13.2 B: ~22B dense, full bf16 mixed, AdamW, ZeRO-3 over 8 GPUs, b=1, s=2048, checkpointing:
    // ≈ 53 GiB per GPU (DeepSpeed's 18 bytes per parameter / 8, buffers, activations).
    let spec = spec_from_config(&json!({
        "model_type": "llama", "hidden_size": 6144, "num_hidden_layers": 54, "num_attention_heads": 48,
        "num_key_value_heads": 8, "intermediate_size": 16384, "vocab_size": 65024,
        "torch_dtype": "bfloat16"
    }))
    .unwrap();
    assert_eq!(spec.parameters.total, 21_863_479_296);
    let e = run(
        &spec,
        json!({"task": "train", "method": "full", "gradient_checkpointing": true,
        "sharding": "zero3", "gpus": {"count": 8, "model": "A100 80GB"}}),
    );
    let allocated = e.per_gpu.allocated_peak_bytes as f64 / GIB as f64;
    assert!((48.0..58.0).contains(&allocated), "allocated {allocated}");
    // The central figure fits the A100's 72 GiB usable; the band's upper end (a 40% spread on live tensors from
    // published training peaks, §17) does not, so by default it is "tight", and on the central value it fits.
    let usable = (81_920u64 << 20) as f64 * 0.9;
    assert!((e.per_gpu.device_peak_bytes as f64) < usable);
    assert_eq!(e.fits, Some(false));
    let central = run(
        &spec,
        json!({"task": "train", "method": "full", "gradient_checkpointing": true, "fit_on": "central",
        "sharding": "zero3", "gpus": {"count": 8, "model": "A100 80GB"}}),
    );
    assert_eq!(central.fits, Some(true));
}

#[test]
fn qlora_can_exceed_16_bit_lora_at_a_large_batch() {
    // docs/estimator.md §13.4: for a ~1B model at micro-batch 8, QLoRA was measured above LoRA: bitsandbytes' 4-bit
    // linears keep their inputs for backward whether or not they carry an adapter, and the fp32 upcast
    // widens the residual stream, while the weights saved are small.
    let spec = spec_from_config(&json!({
        "model_type": "llama", "hidden_size": 2048, "num_hidden_layers": 16, "num_attention_heads": 32,
        "num_key_value_heads": 8, "head_dim": 64, "intermediate_size": 8192, "vocab_size": 128256,
        "tie_word_embeddings": true
    }))
    .unwrap();
    let at = |method: &str, batch: u64| {
        // Both without checkpointing (PEFT's kbit preparation would turn it on for QLoRA).
        run(
            &spec,
            json!({"task": "train", "method": method, "batch_size": batch, "sequence_length": 1024,
                          "gradient_checkpointing": false}),
        )
        .per_gpu
        .allocated_peak_bytes
    };
    assert!(at("qlora", 8) > at("lora", 8));
    assert!(at("qlora", 1) < at("lora", 1));
}

/// Llama-3.1-8B (bf16) under FSDP full-shard on 4 GPUs with bf16 LoRA on q_proj and v_proj, rank 8: the plan the
/// FSDP tests below vary. Hand-computed sizes: embedding and lm_head 128256·4096 = 525,336,576 parameters each,
/// so the root unit holds 2 · 525,336,576 · 2 B = 2,101,346,304 B; the decoder layers hold
/// (8,030,261,248 − 1,050,673,152) · 2 B = 13,959,176,192 B, 436,224,256 B per layer. LoRA: per layer
/// 8·(4096+4096) + 8·(4096+1024) = 106,496 parameters, 3,407,872 in all, 6,815,744 B of bf16 gradients.
fn fsdp_lora(extra: Value) -> Estimate {
    let mut plan = json!({"task": "train", "method": "lora", "precision": "bf16-true", "quantization": "bf16",
        "lora": {"rank": 8, "target_modules": ["q_proj", "v_proj"], "dtype": "bf16"},
        "batch_size": 1, "sequence_length": 512, "gpus": {"count": 4, "memory_gib": 80},
        "sharding": "fsdp_full_shard"});
    for (k, v) in extra.as_object().unwrap() {
        plan[k] = v.clone();
    }
    run(&llama_8b(), plan)
}

#[test]
fn fsdp_keeps_the_root_unit_and_two_layers_unsharded_at_the_start_of_backward() {
    // Sharded weights 16,060,522,496 / 4, plus the root unit (never resharded after forward) and two decoder
    // layers (the one in backward and the prefetched one): 4,015,130,624 + 2,101,346,304 + 2 · 436,224,256.
    let e = fsdp_lora(json!({}));
    assert_eq!(e.per_gpu.components.weights, 6_988_925_440);
    // Only the adapters have gradients: one layer's unsharded for the reduce-scatter (6,815,744 / 32).
    assert_eq!(e.per_gpu.components.gradients, 212_992);
}

#[test]
fn fsdp_no_sync_keeps_unsharded_gradients_while_accumulating() {
    // Accumulating without no_sync: sharded gradients (6,815,744 / 4) plus one unit's unsharded gradient.
    let synced = fsdp_lora(json!({"gradient_accumulation_steps": 4}));
    assert_eq!(synced.per_gpu.components.gradients, 1_703_936 + 212_992);
    // Under no_sync() every gradient stays whole: 6,815,744 + 212,992.
    let no_sync = fsdp_lora(json!({"gradient_accumulation_steps": 4, "fsdp_no_sync": true}));
    assert_eq!(no_sync.per_gpu.components.gradients, 7_028_736);
    // Without accumulation there is nothing to keep unsynchronized.
    let single = fsdp_lora(json!({"fsdp_no_sync": true}));
    assert_eq!(single.per_gpu.components.gradients, 212_992);
}

#[test]
fn fsdp_units_mixing_frozen_and_lora_weights_give_the_frozen_weights_gradients() {
    // The FlatParameter's gradient covers the whole unit: 13,959,176,192 + 6,815,744 = 13,965,991,936 B over all
    // layers, 436,437,248 B per layer for the reduce-scatter.
    let mixed = fsdp_lora(
        json!({"gradient_accumulation_steps": 4, "fsdp_no_sync": true,
        "fsdp_frozen_in_trainable_units": true}),
    );
    assert_eq!(
        mixed.per_gpu.components.gradients,
        13_965_991_936 + 436_437_248
    );
    // Synchronizing every micro-batch shards it: 13,965,991,936 / 4 = 3,491,497,984.
    let synced = fsdp_lora(json!({"gradient_accumulation_steps": 4,
        "fsdp_frozen_in_trainable_units": true}));
    assert_eq!(
        synced.per_gpu.components.gradients,
        3_491_497_984 + 436_437_248
    );
    // Every linear now saves its input and each norm its output, as in a full fine-tune. Per token and layer,
    // beyond LoRA's shared q/v input: o_proj's input 2·4096, gate/up's 2·4096, down_proj's 2·14336 and two
    // normalized outputs 2·2·4096 = 61,440 B; × 512 tokens × 32 layers (no checkpointing).
    let plain = fsdp_lora(json!({}));
    let mixed = fsdp_lora(json!({"fsdp_frozen_in_trainable_units": true}));
    assert_eq!(
        mixed.per_gpu.components.activations - plain.per_gpu.components.activations,
        61_440 * 512 * 32
    );
}

#[test]
fn fsdp_units_cannot_mix_adapter_and_weight_dtypes() {
    // FSDP flattens a unit into one dtype: fp32 adapters beside bf16 weights fail at wrap time.
    let presets = builtin_presets();
    let plan = parse_plan(
        &json!({"model": {"id": "test"}, "task": "train", "method": "lora", "quantization": "bf16",
            "lora": {"dtype": "fp32"}, "gpus": {"count": 2, "memory_gib": 80},
            "sharding": "fsdp_full_shard", "fsdp_frozen_in_trainable_units": true})
        .to_string(),
        &presets,
    )
    .unwrap();
    match estimate(&llama_8b(), &plan, &presets) {
        Err(headroom_core::Error::Invalid { field, message, .. }) => {
            assert_eq!(field, "fsdp_frozen_in_trainable_units");
            assert!(message.contains("lora.dtype"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

/// A Llama 3.2 1B shape: its `lm_head` shares the embedding's weight.
fn tied_llama_1b() -> ModelSpec {
    spec_from_config(&json!({
        "model_type": "llama", "hidden_size": 2048, "num_hidden_layers": 16, "num_attention_heads": 32,
        "num_key_value_heads": 8, "head_dim": 64, "intermediate_size": 8192, "vocab_size": 128256,
        "tie_word_embeddings": true, "torch_dtype": "bfloat16"
    }))
    .unwrap()
}

#[test]
fn lora_on_a_tied_lm_head_adapts_it_and_keeps_the_shared_weight_frozen() {
    let spec = tied_llama_1b();
    let lora = |targets: Value| {
        run(
            &spec,
            json!({"task": "train", "method": "lora", "lora": {"rank": 16, "target_modules": targets}}),
        )
    };
    let without = lora(json!(["q_proj", "v_proj"]));
    let with = lora(json!(["q_proj", "v_proj", "lm_head"]));
    let (h, v, r, tokens, e) = (2048u64, 128256u64, 16u64, 2048u64, 2u64);
    // lora_A (r × h) and lora_B (V × r); the tied weight stays frozen.
    assert_eq!(
        with.parameters.trainable - without.parameters.trainable,
        r * (h + v)
    );
    assert_eq!(
        with.per_gpu.components.lora - without.per_gpu.components.lora,
        r * (h + v) * 4,
        "fp32 adapters"
    );
    assert_eq!(
        with.per_gpu.components.weights,
        without.per_gpu.components.weights
    );
    // The head's input, saved for lora_A (recast to 16-bit under autocast), and lora_A's output, saved by lora_B.
    assert_eq!(
        with.per_gpu.components.activations - without.per_gpu.components.activations,
        tokens * (e * h + e * r)
    );
    // A dotted name reaches it too, as PEFT's suffix match does.
    let dotted = lora(json!(["q_proj", "v_proj", "model.lm_head"]));
    assert_eq!(dotted.parameters.trainable, with.parameters.trainable);
}

/// docs/estimator.md §10.3: with varying batch lengths the segments the caching allocator made for a shorter
/// batch's loss buffers are too small for a longer batch's and stay reserved. Llama-3.1-8B LoRA with
/// checkpointing, 2 × 4096 tokens, the first batch half as long: its 16-bit logits (1 GiB) and three fp32 loss
/// buffers (2 GiB each) make 7 GiB of segments, of which the longer step reuses one 2 GiB block for its 16-bit
/// logits and one for the gradient cast back, so at most 5 GiB stays stranded.
#[test]
fn varying_lengths_strand_the_shorter_batches_segments() {
    let base = json!({"task": "train", "method": "lora", "quantization": "bf16", "batch_size": 2,
                      "sequence_length": 4096, "gradient_checkpointing": true});
    let with = |lengths: Value| {
        let mut plan = base.clone();
        plan["sequence_lengths"] = lengths;
        run(&llama_8b(), plan)
    };
    let fixed = with(json!([4096]));
    let same = with(json!([4096, 4096, 4096]));
    let central = |e: &Estimate| PerGpu {
        range: None,
        ..e.per_gpu
    };
    assert_eq!(
        central(&same),
        central(&fixed),
        "equal lengths strand nothing"
    );
    // Lengths listed are simulated, so the band no longer allows for lengths the plan left open (§17).
    let left_open = run(&llama_8b(), base.clone());
    let (listed, open) = (
        same.per_gpu.range.unwrap(),
        left_open.per_gpu.range.unwrap(),
    );
    assert_eq!(listed.allocated_peak_bytes, open.allocated_peak_bytes);
    assert!(listed.reserved_peak_bytes.high < open.reserved_peak_bytes.high);
    assert!(listed.device_peak_bytes.high < open.device_peak_bytes.high);
    let varying = with(json!([2048, 4096, 1024, 3072]));
    assert_eq!(
        varying.per_gpu.allocated_peak_bytes,
        fixed.per_gpu.allocated_peak_bytes
    );
    let stranded = varying.per_gpu.reserved_peak_bytes - fixed.per_gpu.reserved_peak_bytes;
    assert!(
        (2 * GIB..=4 * GIB).contains(&stranded),
        "stranded {:.2} GiB",
        stranded as f64 / GIB as f64
    );
    // Shortest first, then growing: every step strands the one before it.
    let growing = with(json!([1024, 2048, 3072, 4096]));
    assert!(growing.per_gpu.reserved_peak_bytes > varying.per_gpu.reserved_peak_bytes);
    // Longest first: its segments hold every shorter batch.
    let shrinking = with(json!([4096, 3072, 2048, 1024]));
    assert_eq!(
        shrinking.per_gpu.reserved_peak_bytes,
        fixed.per_gpu.reserved_peak_bytes
    );
}

/// docs/estimator.md §10.3: a checkpointed LoRA or QLoRA plan that leaves its lengths open expects, in its central
/// reserved figure, what the new longest batches of a run strand on the way to `sequence_length` (1/2, 3/4, 7/8,
/// 15/16 of it, then all of it): within a tenth of listing those lengths, and nothing in allocated. The band is
/// drawn around the fixed-length figure, so its lower end is the one length's and its upper end still allows for the
/// whole doubt. Full fine-tuning expects nothing.
/// Without checkpointing, under sharding and at other shapes than the plan's own, the central figure assumes
/// fixed lengths.
#[test]
fn lengths_left_open_expect_what_a_runs_new_longest_batches_strand() {
    let base = json!({"task": "train", "method": "lora", "quantization": "bf16", "batch_size": 2,
                      "sequence_length": 4096, "gradient_checkpointing": true});
    let with = |extra: Value| {
        let mut plan = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            plan[k] = v.clone();
        }
        run(&llama_8b(), plan)
    };
    assert_eq!(reference_lengths(4096), vec![2048, 3072, 3584, 3840, 4096]);
    assert_eq!(reference_lengths(1), vec![1, 1, 1, 1, 1]);
    let open = with(json!({}));
    let one = with(json!({"sequence_lengths": [4096]}));
    let records = with(json!({"sequence_lengths": reference_lengths(4096)}));
    let expected = open.per_gpu.reserved_peak_bytes - one.per_gpu.reserved_peak_bytes;
    assert!(expected > GIB, "expected {expected}");
    assert_eq!(expected, open.per_gpu.length_bytes.expected_stranded);
    // The closed form stands for the simulation of those lengths.
    let simulated = records.per_gpu.reserved_peak_bytes - one.per_gpu.reserved_peak_bytes;
    let ratio = expected as f64 / simulated as f64;
    assert!(
        (0.9..=1.1).contains(&ratio),
        "closed form {expected}, simulated {simulated}"
    );
    assert_eq!(
        open.per_gpu.allocated_peak_bytes,
        one.per_gpu.allocated_peak_bytes
    );
    assert_eq!(
        open.per_gpu.device_peak_bytes - one.per_gpu.device_peak_bytes,
        expected
    );
    let (open_r, one_r) = (open.per_gpu.range.unwrap(), one.per_gpu.range.unwrap());
    assert_eq!(open_r.device_peak_bytes.low, one_r.device_peak_bytes.low);
    assert_eq!(
        open_r.reserved_peak_bytes.low,
        one_r.reserved_peak_bytes.low
    );
    assert!(open_r.device_peak_bytes.high > open.per_gpu.device_peak_bytes);
    assert!(open_r.device_peak_bytes.high > one_r.device_peak_bytes.high + expected / 2);
    let mut plan = base.clone();
    plan["model"] = json!({"id": "test"});
    let plan = parse_plan(&plan.to_string(), &builtin_presets()).unwrap();
    let doubt = LengthsDoubt::for_plan(&plan).bytes(open.per_gpu.length_bytes);
    assert!(expected <= doubt, "the expectation stays within the doubt");
    assert!(
        open.note_messages
            .iter()
            .any(|m| m.key == Key::NoteExpectedLengths.as_str()),
        "a note says what is expected"
    );
    // Where the central figure assumes fixed lengths.
    for extra in [
        json!({"gradient_checkpointing": false}),
        json!({"method": "full"}),
        json!({"sharding": "zero3", "gpus": {"count": 4, "memory_gib": 80}}),
    ] {
        let mut fixed = extra.clone();
        fixed["sequence_lengths"] = json!([4096]);
        let (left, one) = (with(extra.clone()), with(fixed));
        assert_eq!(
            left.per_gpu.reserved_peak_bytes, one.per_gpu.reserved_peak_bytes,
            "{extra}"
        );
        assert_eq!(left.per_gpu.length_bytes.expected_stranded, 0, "{extra}");
    }
}

#[test]
fn lengths_left_open_expect_stranding_where_the_recomputed_layer_outweighs_the_loss() {
    // Llama-2-7B under QLoRA with bitsandbytes before 0.43.2, whose recomputed 4-bit layers keep their inputs: a
    // 32000-token vocabulary and the kbit upcast's fp32 residual stream make the first recomputed layer, not the
    // loss, the peak at the start of backward. A new longest batch still makes segments
    // for its loss there, so the expectation reads the step's figures at the loss (`LengthBytes`), not at the peak,
    // which held no logits and expected nothing.
    let llama_2 = spec_from_config(&json!({
        "model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
        "num_key_value_heads": 32, "intermediate_size": 11008, "vocab_size": 32000,
        "tie_word_embeddings": false, "torch_dtype": "float16"
    }))
    .unwrap();
    let base = json!({"task": "train", "method": "qlora", "quantization": "int4", "batch_size": 4,
                      "sequence_length": 1024, "gradient_checkpointing": true,
                      "bitsandbytes_version": "0.41.3", "use_reentrant": true});
    let with = |lengths: Option<Vec<u64>>| {
        let mut plan = base.clone();
        if let Some(l) = lengths {
            plan["sequence_lengths"] = json!(l);
        }
        run(&llama_2, plan)
    };
    let (open, one, records) = (
        with(None),
        with(Some(vec![1024])),
        with(Some(reference_lengths(1024))),
    );
    assert_eq!(
        one.per_gpu.components.logits, 0,
        "the recomputed layer is the peak"
    );
    let loss = 12 * 32000 * 4 * 1024;
    assert_eq!(open.per_gpu.length_bytes.logits, loss);
    let expected = open.per_gpu.length_bytes.expected_stranded;
    assert!(expected > GIB, "expected {expected}");
    assert_eq!(
        open.per_gpu.reserved_peak_bytes - one.per_gpu.reserved_peak_bytes,
        expected
    );
    // Within the reach the reference grid gives this regime (tests/core/estimate/stranding.rs).
    let simulated = records.per_gpu.reserved_peak_bytes - one.per_gpu.reserved_peak_bytes;
    let ratio = expected as f64 / simulated as f64;
    assert!(
        (0.55..=1.6).contains(&ratio),
        "closed form {expected}, simulated {simulated}"
    );
}

#[test]
fn qwen3s_query_and_key_norms_save_their_fp32_inputs() {
    // The same shapes as Qwen2 and Qwen3 (head_dim = h / a so both read it alike): only Qwen3 normalises each
    // head of q and k, and each norm keeps an fp32 copy of its input and rsqrt's fp32 output per head.
    let config = |model_type: &str| {
        spec_from_config(&json!({
            "model_type": model_type, "hidden_size": 2048, "num_hidden_layers": 28, "num_attention_heads": 16,
            "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 6144, "vocab_size": 151936,
            "tie_word_embeddings": true, "torch_dtype": "bfloat16"
        }))
        .unwrap()
    };
    let plan = json!({"task": "train", "method": "lora", "quantization": "bf16", "batch_size": 2,
                      "sequence_length": 1024, "gradient_checkpointing": false,
                      "lora": {"target_modules": ["q_proj", "v_proj"], "dropout": 0.0}});
    let qwen2 = run(&config("qwen2"), plan.clone());
    let qwen3 = run(&config("qwen3"), plan);
    let (q_dim, kv_dim, heads, kv_heads) = (16 * 128, 8 * 128, 16, 8);
    let per_token = 4 * (q_dim + kv_dim) + 4 * (heads + kv_heads);
    assert_eq!(
        qwen3.per_gpu.components.activations - qwen2.per_gpu.components.activations,
        28 * 2 * 1024 * per_token
    );
}

/// docs/estimator.md §6.4: bitsandbytes before 0.43.2 keeps every 4-bit layer's input on its autograd context
/// (`ctx.tensors = (A, B)` in `MatMul4Bit.forward`), which checkpointing without reentrance cannot drop: each
/// decoder layer holds those inputs until backward. Reentrant checkpointing builds no graph in forward, and a later
/// release keeps only the weight.
#[test]
fn older_bitsandbytes_keeps_each_4bit_layers_input_through_checkpointing_without_reentrance() {
    let base = json!({"task": "train", "method": "qlora", "quantization": "int4", "batch_size": 1,
                      "sequence_length": 2048, "gradient_checkpointing": true, "sequence_lengths": [2048]});
    let with = |version: &str, reentrant: bool| {
        let mut plan = base.clone();
        plan["bitsandbytes_version"] = json!(version);
        plan["use_reentrant"] = json!(reentrant);
        run(&llama_8b(), plan)
    };
    // PEFT's kbit upcast makes the residual stream fp32, so each 4-bit layer casts its own 16-bit copy: q, k, v,
    // gate and up read one copy each, o_proj reads the attention's output and down_proj the gated product.
    let (h, inter, layers, tokens) = (4096u64, 14336u64, 32u64, 2048u64);
    let per_token = 2 * (3 * h + h + 2 * h + inter);
    let kept = layers * per_token * tokens;
    let old = with("0.41.3.post2", false);
    let new = with("0.43.2", false);
    let stored = |e: &Estimate| e.per_gpu.length_bytes.activations;
    assert_eq!(stored(&old) - stored(&new), kept);
    assert!(old
        .notes
        .iter()
        .any(|n| n.starts_with("bitsandbytes 0.41.3.post2: each quantized layer keeps its input")));
    // Reentrant: the layers keep only their inputs, whatever the release.
    assert_eq!(stored(&with("0.41.3", true)), stored(&new));
    assert_eq!(stored(&with("0.45.0", true)), stored(&new));
    // Named releases leave nothing to doubt; an unnamed one under explicit non-reentrant checkpointing puts the
    // older release's bytes in the band's upper end, not in the central figure.
    assert_eq!(new.per_gpu.length_bytes.older_bnb, 0);
    let mut open = base.clone();
    open["use_reentrant"] = json!(false);
    let unnamed = run(&llama_8b(), open);
    assert_eq!(
        unnamed.per_gpu.allocated_peak_bytes,
        new.per_gpu.allocated_peak_bytes
    );
    assert_eq!(unnamed.per_gpu.length_bytes.older_bnb, kept);
    let high = |e: &Estimate| e.per_gpu.range.unwrap().allocated_peak_bytes.high;
    // The doubts combine as a root sum of squares, never below the largest of them.
    assert!(high(&unnamed) > high(&new));
    assert!(high(&unnamed) >= unnamed.per_gpu.allocated_peak_bytes + kept);
    assert!(unnamed
        .notes
        .iter()
        .any(|n| n.contains("the inputs bitsandbytes releases before 0.43.2 keep")));
}

/// docs/estimator.md §6.4: the frameworks' checkpointing. A framework's default is its current release's:
/// transformers 5 (and so the HF Trainer and TRL) passes use_reentrant=False, which needs bitsandbytes 0.46.1 or
/// later, so an unnamed release there is no doubt; without checkpointing an older release keeps the inputs too.
#[test]
fn a_frameworks_checkpointing_decides_what_an_unnamed_bitsandbytes_release_may_keep() {
    let plan = |extra: Value| {
        let mut p = json!({"task": "train", "method": "qlora", "quantization": "int4", "batch_size": 1,
                           "sequence_length": 1024, "sequence_lengths": [1024]});
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        run(&llama_8b(), p)
    };
    let hf = plan(json!({"gradient_checkpointing": true}));
    assert_eq!(hf.per_gpu.length_bytes.older_bnb, 0);
    let off = plan(json!({"gradient_checkpointing": false}));
    assert!(
        off.per_gpu.length_bytes.older_bnb > GIB,
        "{:?}",
        off.per_gpu.length_bytes
    );
    // torchtune's NF4 is torchao's, not bitsandbytes': nothing to keep and nothing to doubt.
    let tt = plan(
        json!({"framework": "torchtune", "gradient_checkpointing": false, "bitsandbytes_version": "0.41.0"}),
    );
    let tt_new = plan(json!({"framework": "torchtune", "gradient_checkpointing": false}));
    assert_eq!(
        tt.per_gpu.allocated_peak_bytes,
        tt_new.per_gpu.allocated_peak_bytes
    );
    assert_eq!(tt_new.per_gpu.length_bytes.older_bnb, 0);
    // LLM.int8 keeps its input in every release (`MatMul8bitLt`).
    let int8 = |reentrant: bool| {
        run(
            &llama_8b(),
            json!({"task": "train", "method": "lora", "quantization": "int8", "batch_size": 1,
                   "sequence_length": 1024, "sequence_lengths": [1024], "gradient_checkpointing": true,
                   "use_reentrant": reentrant}),
        )
    };
    assert!(
        int8(false).per_gpu.length_bytes.activations
            > int8(true).per_gpu.length_bytes.activations + GIB / 2
    );
}

/// Training on several GPUs runs NCCL, whose buffers live outside PyTorch's allocator: the device figure counts
/// them with the CUDA context (NVIDIA/nccl#964: 544 MB for two ranks, 688 MB for more), and the band allows for
/// the largest reported (about 1.6 GB). One GPU, and inference split over GPUs in one process, have none.
#[test]
fn several_ranks_count_nccl_buffers_with_the_context() {
    const MIB: u64 = 1 << 20;
    let context = |plan: serde_json::Value| {
        let e = run(&llama_8b(), plan);
        let g = e.per_gpu;
        // The upper end allows for the default context's range (up to 1 GiB) and, with NCCL, its largest report.
        let nccl = g.cuda_context_bytes - 500 * MIB;
        let allowed = if nccl > 0 { 1024 + 1600 } else { 1024 } * MIB - g.cuda_context_bytes;
        let high = g.range.unwrap().device_peak_bytes.high;
        assert!(
            high - g.device_peak_bytes >= allowed,
            "{high} {}",
            g.device_peak_bytes
        );
        (
            g.cuda_context_bytes,
            e.notes.iter().any(|n| n.starts_with("NCCL:")),
        )
    };
    let train = |gpus: u64, sharding: &str| json!({"task": "train", "method": "lora", "gpus": {"count": gpus, "memory_gib": 80}, "sharding": sharding});
    assert_eq!(context(train(1, "none")), (500 * MIB, false));
    assert_eq!(context(train(2, "none")), ((500 + 544) * MIB, true));
    assert_eq!(context(train(8, "zero3")), ((500 + 688) * MIB, true));
    assert_eq!(
        context(train(4, "fsdp_full_shard")),
        ((500 + 688) * MIB, true)
    );
    assert_eq!(
        context(json!({"task": "infer", "gpus": {"count": 2, "memory_gib": 80}})),
        (500 * MIB, false)
    );
}

/// `expandable_segments`: the allocator maps freed pages to new requests, so what changing lengths strand, what
/// the central figure expects of lengths left open, and a step's own freed blocks beyond the slack all go; the
/// trace engine's replay agrees (docs/estimator.md §10.3). The band's lengths doubt goes with them.
#[test]
fn expandable_segments_strand_nothing() {
    let with = |mut plan: Value, expandable: bool| {
        plan["expandable_segments"] = json!(expandable);
        run(&llama_8b(), plan)
    };
    // LoRA with checkpointing, lengths left open: the central figure expects stranding; not with expandable segments.
    let open = json!({"task": "train", "method": "lora", "gradient_checkpointing": true});
    let (classic, expandable) = (with(open.clone(), false), with(open, true));
    assert!(classic.per_gpu.length_bytes.expected_stranded > GIB);
    assert_eq!(expandable.per_gpu.length_bytes.expected_stranded, 0);
    let high = |e: &Estimate| e.per_gpu.range.unwrap().reserved_peak_bytes.high;
    assert!(high(&expandable) < high(&classic));
    assert!(expandable
        .notes
        .iter()
        .any(|n| n.starts_with("expandable segments")));
    // Listed lengths: simulated and stranding without, nothing with; the same as one length.
    let listed = json!({"task": "train", "method": "lora", "gradient_checkpointing": true,
                        "sequence_length": 2048, "sequence_lengths": [512, 2048, 1024]});
    let one = json!({"task": "train", "method": "lora", "gradient_checkpointing": true,
                     "sequence_length": 2048, "sequence_lengths": [2048]});
    assert!(
        with(listed.clone(), false).per_gpu.reserved_peak_bytes
            > with(one.clone(), false).per_gpu.reserved_peak_bytes
    );
    assert_eq!(
        with(listed, true).per_gpu.reserved_peak_bytes,
        with(one, true).per_gpu.reserved_peak_bytes
    );
    // Full fine-tuning without checkpointing under paged states: the freed activation blocks stay reserved with
    // classic segments (the allocator model's excess), not with expandable ones.
    let paged = json!({"task": "train", "method": "full", "precision": "bf16-true",
                       "optimizer": "paged_adamw_8bit", "sequence_lengths": [2048]});
    assert!(with(paged.clone(), false).per_gpu.fragmented_bytes > 4 * GIB);
    assert_eq!(with(paged, true).per_gpu.fragmented_bytes, 0);
}
