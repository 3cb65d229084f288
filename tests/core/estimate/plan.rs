//! Plans as docs/contract.md §1 defines them: defaults, and one clear error naming the key for each bad input.

use headroom_core::estimate::plan::*;
use headroom_core::estimate::{builtin_presets, parse_plan};
use headroom_core::Error;
use serde_json::{json, Value};

fn parse(v: Value) -> Result<Plan, Error> {
    parse_plan(&v.to_string(), &builtin_presets())
}

fn field_of(v: Value) -> (String, String) {
    match parse(v.clone()) {
        Err(Error::Invalid { field, message, .. }) => (field, message),
        other => panic!("{v} should be invalid, got {other:?}"),
    }
}

#[test]
fn defaults_follow_the_contract() {
    let plan = parse(json!({"model": {"id": "meta-llama/Llama-3.1-8B"}, "task": "train"})).unwrap();
    assert_eq!(plan.method, Some(Method::Full));
    assert_eq!(plan.precision, Precision::Bf16Mixed);
    assert_eq!(plan.optimizer, Optimizer::Adamw);
    assert_eq!(
        (
            plan.batch_size.get(),
            plan.sequence_length.get(),
            plan.gradient_accumulation_steps.get()
        ),
        (1, 2048, 1)
    );
    assert_eq!(plan.attention, AttentionImpl::Sdpa);
    assert_eq!(plan.sharding, Sharding::None);
    assert_eq!(plan.offload, Offload::None);
    assert_eq!(plan.nodes.get(), 1);
    assert!((plan.margin - 0.10).abs() < 1e-12);
    assert!(plan.gpus.is_none() && plan.lora.is_none() && plan.quantization.is_none());

    let q = parse(json!({"model": {"id": "m"}, "task": "train", "method": "qlora"})).unwrap();
    assert_eq!(
        q.quantization.as_deref(),
        Some("int4"),
        "qlora implies int4"
    );
    let lora = q.lora.unwrap();
    assert_eq!((lora.rank, lora.dtype), (16, LoraDtype::Fp32));
    assert_eq!(lora.target_modules, TargetModules::AllLinear);

    let infer = parse(json!({"model": {"id": "m"}, "task": "infer", "new_tokens": 10})).unwrap();
    assert_eq!(infer.method, None);
    assert_eq!(infer.new_tokens, 10);
}

#[test]
fn the_contract_example_parses() {
    let plan = parse(json!({
        "model": {"id": "meta-llama/Llama-3.1-8B"}, "task": "train", "method": "qlora",
        "quantization": "int4_double", "precision": "bf16-mixed",
        "lora": {"rank": 16, "alpha": 32, "target_modules": "all-linear"},
        "trainable_embeddings": false, "optimizer": "paged_adamw_8bit", "optimizer_in_backward": false,
        "batch_size": 1, "sequence_length": 2048, "gradient_accumulation_steps": 1,
        "gradient_checkpointing": true, "attention": "sdpa", "chunked_loss": false,
        "activation_offload": false, "gpus": {"count": 1, "memory_gib": 24},
        "nodes": 1, "sharding": "none", "offload": "none", "margin": 0.10
    }))
    .unwrap();
    assert_eq!(plan.gpus.unwrap().memory_bytes, 24 << 30);
    assert_eq!(plan.optimizer, Optimizer::PagedAdamw8bit);
}

#[test]
fn gpus_by_catalog_name_use_the_nvml_total() {
    let plan = parse(
        json!({"model": {"id": "m"}, "task": "infer", "gpus": {"count": 2, "model": "H100 80GB"}}),
    )
    .unwrap();
    let g = plan.gpus.unwrap();
    assert_eq!((g.count.get(), g.memory_bytes), (2, 81559 << 20));
}

#[test]
fn each_bad_input_names_its_field() {
    let base = || json!({"model": {"id": "m"}, "task": "train"});
    let with = |k: &str, v: Value| {
        let mut p = base();
        p[k] = v;
        p
    };
    let cases: Vec<(Value, &str, &str)> = vec![
        (with("batch_size", json!(0)), "batch_size", "positive"),
        (with("sequence_length", json!(-5)), "sequence_length", "-5"),
        (
            with("sequence_length", json!(1.5)),
            "sequence_length",
            "whole number",
        ),
        (with("lora", json!({"rank": 8})), "lora", "method is full"),
        (
            with("quantization", json!("int4")),
            "quantization",
            "cannot be trained",
        ),
        (
            with("quantization", json!("int3")),
            "quantization",
            "unknown preset `int3`",
        ),
        (with("colour", json!("blue")), "colour", "unknown key"),
        (
            with("gpus", json!({"count": 1, "memory_gb": 24})),
            "gpus.memory_gb",
            "unknown key",
        ),
        (
            with("gpus", json!({"count": 1, "model": "RTX 9999"})),
            "gpus.model",
            "unknown GPU",
        ),
        (
            with("gpus", json!({"count": 0, "memory_gib": 24})),
            "gpus.count",
            "positive",
        ),
        (with("margin", json!(1.5)), "margin", "below 1"),
        (with("optimizer", json!("lion")), "optimizer", "`lion`"),
        (with("precision", json!("bf16")), "precision", "`bf16`"),
        (with("offload", json!("optimizer")), "offload", "sharding"),
        (with("new_tokens", json!(5)), "new_tokens", "infer"),
        (
            with("trainable_embeddings", json!(true)),
            "trainable_embeddings",
            "LoRA",
        ),
        (
            with("model", json!({"id": "a", "path": "/b"})),
            "model",
            "exactly one",
        ),
        (
            with("model", json!({"name": "a"})),
            "model.name",
            "unknown key",
        ),
        (with("task", json!("pretrain")), "task", "`pretrain`"),
        (json!({"model": {"id": "m"}}), "task", "required"),
        (json!({"task": "train"}), "model", "required"),
        (json!([1, 2]), "plan", "object"),
    ];
    for (plan, field, words) in cases {
        let (f, message) = field_of(plan.clone());
        assert_eq!(f, field, "{plan}: {message}");
        assert!(
            message.contains(words),
            "{plan}: `{message}` should mention `{words}`"
        );
    }
    // Contradictions across keys.
    let (f, _) = field_of(
        json!({"model": {"id": "m"}, "task": "train", "method": "qlora", "quantization": "int8"}),
    );
    assert_eq!(f, "quantization");
    let (f, _) = field_of(
        json!({"model": {"id": "m"}, "task": "train", "method": "lora", "lora": {"rank": 0}}),
    );
    assert_eq!(f, "lora.rank");
    let (f, _) = field_of(
        json!({"model": {"id": "m"}, "task": "train", "method": "lora", "lora": {"target_modules": []}}),
    );
    assert_eq!(f, "lora.target_modules");
    let (f, _) = field_of(json!({"model": {"id": "m"}, "task": "infer", "optimizer": "adamw"}));
    assert_eq!(f, "optimizer");
    let (f, _) = field_of(
        json!({"model": {"id": "m"}, "task": "train", "optimizer_in_backward": true, "gradient_accumulation_steps": 4}),
    );
    assert_eq!(f, "optimizer_in_backward");
    let (f, _) = field_of(json!({"model": {"id": "m"}, "task": "infer", "sharding": "zero3"}));
    assert_eq!(f, "sharding");
    // The FSDP keys need FSDP sharding; mixed units need frozen parameters beside trainable ones.
    for key in ["fsdp_no_sync", "fsdp_frozen_in_trainable_units"] {
        let (f, message) = field_of(
            json!({"model": {"id": "m"}, "task": "train", "method": "lora", "sharding": "zero3", key: true}),
        );
        assert_eq!(f, key);
        assert!(message.contains("fsdp_full_shard"), "{message}");
        let (f, message) = field_of(
            json!({"model": {"id": "m"}, "task": "train", "method": "lora", "sharding": "fsdp_full_shard", key: "yes"}),
        );
        assert_eq!(f, key);
        assert!(message.contains("true or false"), "{message}");
    }
    let (f, message) = field_of(
        json!({"model": {"id": "m"}, "task": "train", "method": "full", "sharding": "fsdp_full_shard", "fsdp_frozen_in_trainable_units": true}),
    );
    assert_eq!(f, "fsdp_frozen_in_trainable_units");
    assert!(message.contains("lora"), "{message}");
    assert!(
        matches!(parse_plan("{not json", &builtin_presets()), Err(Error::Invalid { field, .. }) if field == "plan")
    );
}

#[test]
fn a_saved_plan_reads_back_the_same() {
    use headroom_core::estimate::{plan_from_value, plan_to_value};
    let presets = builtin_presets();
    for v in [
        json!({"model": {"id": "m"}, "task": "train", "method": "qlora", "lora": {"rank": 8, "target_modules": ["q_proj", "v_proj"], "dropout": 0.05},
               "gpus": {"count": 2, "model": "L40S"}, "nodes": 2, "sharding": "zero2", "offload": "optimizer", "optimizer": "adafactor"}),
        json!({"model": {"config": {"model_type": "llama"}}, "task": "infer", "new_tokens": 128, "kv_cache_dtype": "fp8",
               "gpus": {"count": 1, "memory_gib": 23.5}, "attention": "eager", "prefill_logits": "all"}),
        json!({"model": {"path": "/models/x"}, "task": "train", "method": "freeze", "freeze_trainable_layers": 4, "torch_compile": true,
               "expandable_segments": true}),
        json!({"model": {"id": "m"}, "task": "train", "method": "lora", "sharding": "fsdp_full_shard", "gpus": {"count": 2, "memory_gib": 40},
               "gradient_accumulation_steps": 16, "fsdp_frozen_in_trainable_units": true, "fsdp_no_sync": true}),
    ] {
        let plan = parse(v.clone()).unwrap();
        let saved = plan_to_value(&plan);
        let back = plan_from_value(&saved, &presets).unwrap_or_else(|e| panic!("{saved}: {e}"));
        // A save writes the framework's defaults out as values (docs/frameworks.md): the same settings, now given
        // by the plan rather than filled in by the profile.
        let settings = |p: &Plan| Plan {
            from_framework: Vec::new(),
            ..p.clone()
        };
        assert_eq!(settings(&back), settings(&plan), "{saved}");
        assert!(back.from_framework.is_empty(), "{saved}");
    }
    // Every optimizer name survives a save (serde's snake_case once wrote `paged_adamw8bit`).
    for name in [
        "adamw",
        "adamw_8bit",
        "paged_adamw_8bit",
        "paged_adamw_32bit",
        "sgd",
        "sgd_momentum",
        "adafactor",
    ] {
        let plan =
            parse(json!({"model": {"id": "m"}, "task": "train", "optimizer": name})).unwrap();
        assert_eq!(plan_to_value(&plan)["optimizer"], name);
    }
}

#[test]
fn builtin_presets_come_from_the_presets_module() {
    use headroom_core::estimate::{Placement, WeightFormat};
    let got: Vec<(String, WeightFormat, Placement)> = builtin_presets()
        .into_iter()
        .map(|p| (p.name, p.format, p.placement))
        .collect();
    let int4 = |d| WeightFormat::Int4 { double_quant: d };
    let want = vec![
        ("fp32", WeightFormat::F32, Placement::Gpu),
        ("bf16", WeightFormat::Bf16, Placement::Gpu),
        ("fp16", WeightFormat::F16, Placement::Gpu),
        ("int8", WeightFormat::Int8, Placement::Gpu),
        ("int4", int4(false), Placement::Gpu),
        ("int4_double", int4(true), Placement::Gpu),
        ("int4_offload", int4(true), Placement::GpuWithCpuOffload),
        ("cpu", WeightFormat::F32, Placement::Cpu),
    ];
    let want: Vec<(String, WeightFormat, Placement)> = want
        .into_iter()
        .map(|(n, f, p)| (n.to_string(), f, p))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn user_presets_are_listed_after_the_builtins() {
    use headroom_core::estimate::{available_presets, WeightFormat};
    use headroom_core::presets::library::PresetLibrary;
    let dir = tempfile::tempdir().unwrap();
    let lib = PresetLibrary::at(dir.path());
    lib.duplicate("int8", "my8").unwrap();
    let all = available_presets(&lib).unwrap();
    assert_eq!(all.len(), 9);
    assert_eq!(all[8].name, "my8");
    assert_eq!(all[8].format, WeightFormat::Int8);
    let plan = parse_plan(
        &json!({"model": {"id": "x"}, "task": "train", "method": "lora", "quantization": "my8"})
            .to_string(),
        &all,
    )
    .unwrap();
    assert_eq!(plan.quantization.as_deref(), Some("my8"));
}

#[test]
fn a_key_given_twice_is_refused_not_silently_overwritten() {
    let text = r#"{"model": {"id": "m"}, "task": "train", "batch_size": 1, "batch_size": 64}"#;
    match parse_plan(text, &builtin_presets()) {
        Err(Error::Invalid { field, message, .. }) => {
            assert_eq!(field, "batch_size");
            assert!(message.contains("twice"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let nested = r#"{"model": {"id": "m"}, "task": "train", "method": "lora", "lora": {"rank": 8, "rank": 64}}"#;
    assert!(matches!(
        parse_plan(nested, &builtin_presets()),
        Err(Error::Invalid { field, .. }) if field == "lora.rank"
    ));
}

#[test]
fn gpu_memory_in_bytes_stays_exact() {
    // A detected GPU's free memory is rarely a round number of GiB: it must not pass through a float.
    let odd = (23u64 << 30) + 123_456_789;
    let plan = parse(json!({"model": {"id": "m"}, "task": "infer",
                            "gpus": {"count": 1, "memory_bytes": odd}}))
    .unwrap();
    assert_eq!(plan.gpus.unwrap().memory_bytes, odd);
    let (f, message) = field_of(json!({"model": {"id": "m"}, "task": "infer",
                                       "gpus": {"count": 1, "memory_bytes": odd, "memory_gib": 24}}));
    assert_eq!(f, "gpus");
    assert!(message.contains("not more"), "{message}");
    let (f, _) = field_of(json!({"model": {"id": "m"}, "task": "infer",
                                 "gpus": {"count": 1, "memory_bytes": 0}}));
    assert_eq!(f, "gpus.memory_bytes");
}

#[test]
fn no_count_of_a_plan_can_be_zero() {
    for key in [
        "batch_size",
        "sequence_length",
        "gradient_accumulation_steps",
        "nodes",
    ] {
        let (f, message) = field_of(json!({"model": {"id": "m"}, "task": "train", key: 0}));
        assert_eq!(f, key);
        assert!(message.contains("positive"), "{key}: {message}");
    }
    let (f, _) = field_of(
        json!({"model": {"id": "m"}, "task": "train", "method": "freeze",
                                 "freeze_trainable_layers": 0}),
    );
    assert_eq!(f, "freeze_trainable_layers");
}

#[test]
fn sequence_lengths_list_each_batchs_longest_sample() {
    use headroom_core::estimate::plan_to_value;
    let train = |extra: Value| {
        let mut v = json!({"model": {"id": "meta-llama/Llama-3.1-8B"}, "task": "train"});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    // Absent: fixed lengths. Given alone: sequence_length is their longest.
    assert!(parse(train(json!({}))).unwrap().sequence_lengths.is_empty());
    let plan = parse(train(json!({"sequence_lengths": [512, 2048, 1024]}))).unwrap();
    assert_eq!(plan.sequence_lengths, vec![512, 2048, 1024]);
    assert_eq!(plan.sequence_length.get(), 2048);
    let plan = parse(train(
        json!({"sequence_length": 2048, "sequence_lengths": [2048, 512]}),
    ))
    .unwrap();
    assert_eq!(plan.sequence_lengths, vec![2048, 512]);
    // Saved and read back.
    let saved = plan_to_value(&plan);
    assert_eq!(saved["sequence_lengths"], json!([2048, 512]));
    assert_eq!(
        parse(saved).unwrap().sequence_lengths,
        plan.sequence_lengths
    );

    let (field, message) = field_of(train(
        json!({"sequence_length": 4096, "sequence_lengths": [512, 2048]}),
    ));
    assert_eq!(field, "sequence_lengths");
    assert!(
        message.contains("4096") && message.contains("2048"),
        "{message}"
    );
    for bad in [
        json!({"sequence_lengths": []}),
        json!({"sequence_lengths": [512, 0]}),
        json!({"sequence_lengths": vec![512; 65]}),
        json!({"sequence_lengths": 512}),
    ] {
        // A bad entry is named by its index (`sequence_lengths[1]`).
        let field = field_of(train(bad.clone())).0;
        assert!(field.starts_with("sequence_lengths"), "{bad}: {field}");
    }
    let (field, message) =
        field_of(json!({"model": {"id": "m"}, "task": "infer", "sequence_lengths": [512]}));
    assert_eq!(field, "sequence_lengths");
    assert!(message.contains("train"), "{message}");
}
