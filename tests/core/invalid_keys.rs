//! Every refusal of a bad input the UI's forms can send carries a message key (so the UI can say it in the
//! person's language), and the key's English is, word for word, the message the command line prints.

use headroom_core::env::parse;
use headroom_core::env::profile::{self, Profile, Purpose, Setting};
use headroom_core::estimate::{builtin_presets, parse_plan};
use headroom_core::launch::steps::{parse_chain, BatchSetting};
use headroom_core::message::Message;
use headroom_core::monitor::alerts::AlertConfig;
use headroom_core::monitor::exporter::parse_addr;
use headroom_core::monitor::fake::FakeConfig;
use headroom_core::monitor::open::SourceSpec;
use headroom_core::monitor::sampler::check_interval;
use headroom_core::presets::model_config::{validate_shape, ModelConfig};
use headroom_core::presets::{bnb, bundle, FieldError, PresetBody};
use headroom_core::store::check_name;
use headroom_core::trace::request::check_traceable;
use headroom_core::trainers;
use headroom_core::Error;
use serde_json::{json, Value};

/// The error is `Invalid` with a key whose arguments are the key's and whose English is the message.
fn assert_keyed(what: &str, result: Result<impl std::fmt::Debug, Error>) -> Message {
    match result {
        Err(Error::Invalid {
            field,
            message,
            message_key: Some(key),
        }) => {
            assert_eq!(key.check(), Ok(()), "{what}: {field}: {message}");
            assert_eq!(
                key.english().as_deref(),
                Some(message.as_str()),
                "{what}: {field}"
            );
            key
        }
        other => panic!("{what}: should be refused with a message key, got {other:?}"),
    }
}

fn assert_field_keyed(what: &str, e: &FieldError) {
    let key = e
        .message_key
        .as_ref()
        .unwrap_or_else(|| panic!("{what}: {}: `{}` has no message key", e.field, e.message));
    assert_eq!(key.check(), Ok(()), "{what}: {}", e.field);
    assert_eq!(
        key.english().as_deref(),
        Some(e.message.as_str()),
        "{what}: {}",
        e.field
    );
}

#[test]
fn the_plan_form_refusals_carry_keys() {
    let train = |extra: Value| {
        let mut p = json!({"model": {"id": "meta-llama/Llama-3.1-8B"}, "task": "train"});
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        p
    };
    let infer = |extra: Value| {
        let mut p = train(extra);
        p["task"] = json!("infer");
        p
    };
    let cases: Vec<(&str, Value)> = vec![
        ("method on infer", infer(json!({"method": "lora"}))),
        ("framework on infer", infer(json!({"framework": "trl"}))),
        ("optimizer on infer", infer(json!({"optimizer": "adamw"}))),
        ("unknown preset", train(json!({"quantization": "int3"}))),
        ("full on int4", train(json!({"quantization": "int4"}))),
        (
            "qlora on int8",
            train(json!({"method": "qlora", "quantization": "int8"})),
        ),
        (
            "lora settings with full",
            train(json!({"lora": {"rank": 8}})),
        ),
        (
            "embeddings without lora",
            train(json!({"trainable_embeddings": true})),
        ),
        (
            "optimizer in backward with accumulation",
            train(json!({"optimizer_in_backward": true, "gradient_accumulation_steps": 4})),
        ),
        (
            "huge micro-batch",
            train(json!({"batch_size": 1_000_000, "sequence_length": 1_000_000})),
        ),
        ("new tokens on train", train(json!({"new_tokens": 5}))),
        (
            "kv cache dtype on train",
            train(json!({"kv_cache_dtype": "fp8"})),
        ),
        ("nodes without gpus", train(json!({"nodes": 2}))),
        ("sharding on infer", infer(json!({"sharding": "zero3"}))),
        (
            "optimizer offload without zero",
            train(json!({"offload": "optimizer"})),
        ),
        ("margin", train(json!({"margin": 1.5}))),
        (
            "freeze layers without freeze",
            train(json!({"freeze_trainable_layers": 2})),
        ),
        (
            "fsdp key without fsdp",
            train(json!({"fsdp_no_sync": true})),
        ),
        (
            "lora alpha",
            train(json!({"method": "lora", "lora": {"alpha": -1.0}})),
        ),
        (
            "lora dropout",
            train(json!({"method": "lora", "lora": {"dropout": 1.5}})),
        ),
        (
            "lora no targets",
            train(json!({"method": "lora", "lora": {"target_modules": []}})),
        ),
        (
            "lora blank target",
            train(json!({"method": "lora", "lora": {"target_modules": [" "]}})),
        ),
        (
            "gpu memory",
            train(json!({"gpus": {"count": 1, "memory_gib": -3}})),
        ),
        (
            "unknown gpu",
            train(json!({"gpus": {"count": 1, "model": "RTX 9999"}})),
        ),
        ("no gpu size", train(json!({"gpus": {"count": 1}}))),
        (
            "two gpu sizes",
            train(json!({"gpus": {"count": 1, "memory_gib": 24, "model": "H100 80GB"}})),
        ),
        ("unknown key", train(json!({"colour": "blue"}))),
        ("unknown variant", train(json!({"optimizer": "lion"}))),
        (
            "wrong type",
            train(json!({"gradient_checkpointing": "yes"})),
        ),
        ("missing key", json!({"model": {"id": "m"}})),
        ("zero count", train(json!({"batch_size": 0}))),
        ("huge count", train(json!({"batch_size": 1u64 << 40}))),
        ("negative count", train(json!({"sequence_length": -5}))),
        ("fractional count", train(json!({"sequence_length": 1.5}))),
        (
            "zero gpus",
            train(json!({"gpus": {"count": 0, "memory_gib": 24}})),
        ),
        (
            "zero bytes",
            train(json!({"gpus": {"count": 1, "memory_bytes": 0}})),
        ),
        ("unknown model key", train(json!({"model": {"name": "a"}}))),
        (
            "model with two sources",
            train(json!({"model": {"id": "a", "path": "/b"}})),
        ),
        ("not an object", json!([1, 2])),
    ];
    for (what, plan) in cases {
        assert_keyed(what, parse_plan(&plan.to_string(), &builtin_presets()));
    }
    let sharded = train(json!({"sharding": "zero3", "gpus": {"count": 2, "memory_gib": 80}}));
    let sharded = parse_plan(&sharded.to_string(), &builtin_presets()).unwrap();
    assert_keyed("trace of a sharded plan", check_traceable(&sharded));
    assert_keyed("bad JSON", parse_plan("{\"task\": ", &builtin_presets()));
    let twice = r#"{"model": {"id": "m"}, "task": "train", "batch_size": 1, "batch_size": 2}"#;
    assert_keyed("a key twice", parse_plan(twice, &builtin_presets()));
}

#[test]
fn the_preset_editor_refusals_carry_keys() {
    let gpu = json!({"device": "cuda", "torch_dtype": "bfloat16", "device_map": "auto"});
    let q4 = json!({"load_in_4bit": true, "bnb_4bit_quant_type": "nf4"});
    let cases: Vec<(&str, Value)> = vec![
        (
            "long description",
            json!({"description": "x".repeat(3000), "load": gpu}),
        ),
        (
            "one bare GPU",
            json!({"load": {"device": "cuda", "torch_dtype": "bfloat16", "device_map": "0"}}),
        ),
        (
            "empty module map",
            json!({"load": {"device": "cuda", "torch_dtype": "bfloat16", "device_map": {}}}),
        ),
        (
            "module with a space",
            json!({"load": {"device": "cuda", "torch_dtype": "bfloat16", "device_map": {"a b": 0}}}),
        ),
        (
            "bad placement",
            json!({"load": {"device": "cuda", "torch_dtype": "bfloat16", "device_map": {"": "tpu"}}}),
        ),
        (
            "max_memory without a strategy",
            json!({"load": {"device": "cuda", "torch_dtype": "bfloat16", "max_memory": {"0": "10GiB"}}}),
        ),
        (
            "cpu device on a GPU map",
            json!({"load": {"device": "cpu", "torch_dtype": "float32", "device_map": "cuda:0"}}),
        ),
        (
            "both 4 and 8 bit",
            json!({"load": gpu, "quantization": {"load_in_4bit": true, "load_in_8bit": true}}),
        ),
        (
            "neither",
            json!({"load": gpu, "quantization": {"bnb_4bit_quant_type": "nf4"}}),
        ),
        (
            "negative threshold",
            json!({"load": gpu, "quantization": {"load_in_8bit": true, "llm_int8_threshold": -1.0}}),
        ),
        (
            "blank skip module",
            json!({"load": gpu, "quantization": {"load_in_8bit": true, "llm_int8_skip_modules": [" "]}}),
        ),
        (
            "quantized on cpu",
            json!({"load": {"device": "cpu", "torch_dtype": "float32"}, "quantization": q4}),
        ),
        (
            "offload without the flag",
            json!({"load": {"device": "cuda", "torch_dtype": "bfloat16", "device_map": {"": "cpu"}}, "quantization": q4}),
        ),
    ];
    for (what, body) in cases {
        let errors = PresetBody::from_json(body).expect_err(what);
        for e in &errors.0 {
            assert_field_keyed(what, e);
        }
    }
    let dicts: Vec<(&str, Value)> = vec![
        ("not an object", json!([1])),
        ("unknown key", json!({"load_in_4bit": true, "colour": 1})),
        (
            "other method",
            json!({"quant_method": "gptq", "load_in_4bit": true}),
        ),
        (
            "integer threshold",
            json!({"load_in_8bit": true, "llm_int8_threshold": 6}),
        ),
        (
            "string threshold",
            json!({"load_in_8bit": true, "llm_int8_threshold": "6"}),
        ),
        (
            "skip modules not a list",
            json!({"load_in_8bit": true, "llm_int8_skip_modules": 3}),
        ),
        (
            "skip module not a string",
            json!({"load_in_8bit": true, "llm_int8_skip_modules": [3]}),
        ),
        (
            "compute dtype",
            json!({"load_in_4bit": true, "bnb_4bit_compute_dtype": "int3"}),
        ),
        (
            "compute dtype type",
            json!({"load_in_4bit": true, "bnb_4bit_compute_dtype": 3}),
        ),
        (
            "quant type",
            json!({"load_in_4bit": true, "bnb_4bit_quant_type": 4}),
        ),
        (
            "quant storage",
            json!({"load_in_4bit": true, "bnb_4bit_quant_storage": "int3"}),
        ),
        (
            "quant storage type",
            json!({"load_in_4bit": true, "bnb_4bit_quant_storage": 3}),
        ),
        ("flag", json!({"load_in_4bit": "yes"})),
    ];
    // A bundle (the Presets view's import): not a bundle, a newer version, a bad name.
    let bundles: Vec<(&str, Value)> = vec![
        ("not a bundle", json!({"format": "other"})),
        (
            "newer",
            json!({"format": bundle::BUNDLE_FORMAT, "version": 99, "presets": {}, "model_configs": {}}),
        ),
        (
            "bad name",
            json!({"format": bundle::BUNDLE_FORMAT, "version": 1, "presets": {".x": {"load": gpu}}, "model_configs": {}}),
        ),
    ];
    for (what, value) in bundles {
        let errors = bundle::parse(value.to_string().as_bytes(), &|_| Ok(None)).expect_err(what);
        for e in &errors.0 {
            assert_field_keyed(what, e);
        }
    }
    for (what, dict) in dicts {
        let errors = bnb::from_dict(&dict, "quantization").expect_err(what);
        for e in &errors.0 {
            assert_field_keyed(what, e);
        }
    }
}

#[test]
fn the_config_editor_refusals_carry_keys() {
    let cases: Vec<(&str, Value)> = vec![
        (
            "method on infer",
            json!({"preset": "bf16", "task": "infer", "method": "lora"}),
        ),
        (
            "lora with full",
            json!({"preset": "bf16", "task": "train", "method": "full", "lora": {"rank": 8, "alpha": 16.0, "dropout": 0.0, "target_modules": "all-linear"}}),
        ),
        (
            "lora rules",
            json!({"preset": "bf16", "task": "train", "method": "lora", "lora": {"rank": 0, "alpha": -1.0, "dropout": 1.0, "target_modules": ["a b"]}}),
        ),
        (
            "no targets",
            json!({"preset": "bf16", "task": "train", "method": "lora", "lora": {"rank": 8, "alpha": 16.0, "dropout": 0.0, "target_modules": []}}),
        ),
        (
            "repeated fallback",
            json!({"preset": "bf16", "task": "train", "fallback_chain": ["int8", "int8"]}),
        ),
        (
            "long notes",
            json!({"preset": "bf16", "task": "train", "notes": "x".repeat(10_001)}),
        ),
    ];
    for (what, value) in cases {
        let config: ModelConfig =
            serde_json::from_value(value).unwrap_or_else(|e| panic!("{what}: {e}"));
        let errors = validate_shape(&config).expect_err(what);
        for e in &errors.0 {
            assert_field_keyed(what, e);
        }
    }
}

#[test]
fn names_profiles_and_environment_files_refusals_carry_keys() {
    for name in ["", ".hidden", "a/b", &"x".repeat(65)] {
        assert_keyed(name, check_name("name", name));
    }
    let profile = |vars: &[(&str, &str)]| Profile {
        name: "mine".into(),
        description: String::new(),
        purpose: Purpose::Other,
        variables: vars
            .iter()
            .map(|(n, v)| Setting {
                name: n.to_string(),
                value: Some(v.to_string()),
            })
            .collect(),
    };
    assert_keyed("bad variable name", profile(&[("1X", "1")]).validate());
    assert_keyed("twice", profile(&[("A", "1"), ("A", "2")]).validate());
    assert_keyed("line break", profile(&[("A", "1\n2")]).validate());
    assert_keyed("NUL", profile(&[("A", "1\u{0}")]).validate());
    assert_keyed("builtin name", profile::check_variable_name("name", "a-b"));
    for text in ["A='x", "A=\"x", "A=x\\"] {
        assert_keyed(text, parse::parse("env", text));
    }
}

#[test]
fn monitor_run_and_trainer_refusals_carry_keys() {
    for source in [
        "gpu",
        "replay:",
        "fake:nope",
        "prometheus:",
        "prometheus:ftp://host",
        "prometheus:gpu-host:9090",
        "prometheus:http://",
        "prometheus:http://a:9090,http://b:9090",
    ] {
        assert_keyed(source, SourceSpec::parse(source, FakeConfig::default()));
    }
    let too_many = FakeConfig {
        gpus: 17,
        ..FakeConfig::default()
    };
    assert_keyed("17 fake GPUs", too_many.validate());
    let alerts = AlertConfig::default();
    for (what, bad) in [
        (
            "warning",
            AlertConfig {
                warning: 1.5,
                ..alerts
            },
        ),
        (
            "critical",
            AlertConfig {
                critical: 0.5,
                ..alerts
            },
        ),
        (
            "hysteresis",
            AlertConfig {
                hysteresis: 0.9,
                ..alerts
            },
        ),
        (
            "trend window",
            AlertConfig {
                trend_window_s: 1,
                ..alerts
            },
        ),
    ] {
        assert_keyed(what, bad.validate());
    }
    assert_keyed("interval", check_interval(5));
    assert_keyed("exporter address", parse_addr("not an address"));
    assert_keyed("micro-batch 0", BatchSetting::new(0, 1));
    assert_keyed("accumulation 0", BatchSetting::new(1, 0));
    for chain in [
        vec![],
        vec!["mb/2".to_string()],
        vec!["int4".to_string(), "mb/3".to_string()],
    ] {
        assert_keyed(&format!("{chain:?}"), parse_chain(&chain));
    }
    assert_keyed("bad JSON", trainers::parse_config("a.json", "{"));
    assert_keyed("bad YAML", trainers::parse_config("a.yaml", "a: [b"));
    assert_keyed("a list", trainers::parse_config("a.yaml", "- a"));
    assert_keyed("no file", trainers::import_files(&[]));
}
