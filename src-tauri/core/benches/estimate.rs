//! Issue 3 item 8: one estimate under 20 µs; the solver (largest batch and longest sequence) for 8 presets
//! under 5 ms; a what-if grid of 8 presets × 64 batch sizes × 16 sequence lengths under 100 ms.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use headroom_core::estimate::recommend::{solve, what_if_grid};
use headroom_core::estimate::{builtin_presets, estimate, parse_plan};
use serde_json::json;

/// A spec from a config.json object through model discovery's converter (what `{"model": {"config": …}}`
/// resolves to).
fn spec_from_config(
    config: &serde_json::Value,
) -> headroom_core::Result<headroom_core::model::ModelSpec> {
    let map = config.as_object().cloned().unwrap_or_default();
    headroom_core::model::from_config(&map, "model.config")
}

fn llama_8b() -> headroom_core::model::ModelSpec {
    spec_from_config(&json!({
        "model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
        "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 14336, "vocab_size": 128256,
        "tie_word_embeddings": false, "torch_dtype": "bfloat16"
    }))
    .expect("llama config")
}

fn benches(c: &mut Criterion) {
    let spec = llama_8b();
    let presets = builtin_presets();
    let plan = parse_plan(
        &json!({
            "model": {"id": "meta-llama/Llama-3.1-8B"}, "task": "train", "method": "qlora",
            "quantization": "int4_double", "optimizer": "paged_adamw_8bit", "gradient_checkpointing": true,
            "gpus": {"count": 1, "memory_gib": 24}
        })
        .to_string(),
        &presets,
    )
    .expect("plan");

    // Lengths left open with checkpointing: the central figure's closed form expects what the reference lengths
    // strand (docs/estimator.md §10.3).
    c.bench_function("one estimate (Llama-3.1-8B QLoRA, with notes)", |b| {
        b.iter(|| estimate(black_box(&spec), black_box(&plan), &presets).expect("estimate"))
    });
    // The same plan with one length (every batch padded or packed): no simulation.
    let mut one_length = plan.clone();
    one_length.set_one_length();
    c.bench_function(
        "one estimate, one length (Llama-3.1-8B QLoRA, with notes)",
        |b| {
            b.iter(|| {
                estimate(black_box(&spec), black_box(&one_length), &presets).expect("estimate")
            })
        },
    );

    // Varying batch lengths: the allocator simulation (docs/estimator.md §10.3) on a 126-layer model without
    // checkpointing, the most tensors per step a catalog model has.
    let deep = spec_from_config(&json!({
        "model_type": "llama", "hidden_size": 16384, "num_hidden_layers": 126, "num_attention_heads": 128,
        "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 53248, "vocab_size": 128256,
        "tie_word_embeddings": false, "torch_dtype": "bfloat16"
    }))
    .expect("405B config");
    let varying = parse_plan(
        &json!({
            "model": {"id": "meta-llama/Llama-3.1-405B"}, "task": "train", "method": "lora",
            "quantization": "bf16", "gradient_checkpointing": false, "batch_size": 2,
            "sequence_lengths": [1024, 4096, 512, 3072, 2048, 4096, 256, 1536]
        })
        .to_string(),
        &presets,
    )
    .expect("plan");
    c.bench_function(
        "one estimate with 8 varying lengths (126 layers, no checkpointing)",
        |b| b.iter(|| estimate(black_box(&deep), black_box(&varying), &presets).expect("estimate")),
    );

    let varying_8b = parse_plan(
        &json!({
            "model": {"id": "meta-llama/Llama-3.1-8B"}, "task": "train", "method": "lora",
            "quantization": "bf16", "gradient_checkpointing": false, "batch_size": 2,
            "sequence_lengths": [1024, 2048, 512, 1536]
        })
        .to_string(),
        &presets,
    )
    .expect("plan");
    c.bench_function(
        "one estimate with 4 varying lengths (Llama-3.1-8B LoRA, 32 layers)",
        |b| {
            b.iter(|| {
                estimate(black_box(&spec), black_box(&varying_8b), &presets).expect("estimate")
            })
        },
    );

    // LoRA so that every preset, quantized or not, is a valid plan. Under the `int8` preset its layers keep their
    // inputs through the checkpointed forward, so that preset's plan replays the reference lengths at its own
    // shape (docs/estimator.md §10.3): most of this figure.
    let mut lora = plan.clone();
    lora.method = Some(headroom_core::estimate::plan::Method::Lora);
    lora.quantization = None;
    c.bench_function("solver: largest batch and sequence for 8 presets", |b| {
        b.iter(|| {
            for p in &presets {
                black_box(solve(&spec, &lora, p).expect("solve"));
            }
        })
    });

    let batches: Vec<u64> = (1..=64).collect();
    let sequences: Vec<u64> = (1..=16).map(|k| 256 * k).collect();
    c.bench_function("what-if grid: 8 presets x 64 batches x 16 sequences", |b| {
        b.iter(|| {
            let mut fitting = 0usize;
            for p in &presets {
                let cells = what_if_grid(&spec, &lora, p, &batches, &sequences).expect("grid");
                fitting += cells.iter().filter(|c| c.fits).count();
            }
            black_box(fitting)
        })
    });
}

criterion_group!(estimate_benches, benches);
criterion_main!(estimate_benches);
