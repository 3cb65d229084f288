//! The contract's JSON Schemas (docs/schemas): generated from the Rust types, committed, and checked against
//! what the real `headroom-cli` reads and prints. `UPDATE_SCHEMAS=1 cargo test -p headroom-cli --test cli
//! contract` rewrites the files after a deliberate change of the types.

use std::path::PathBuf;

use headroom_core::contract::{render, schemas};
use headroom_core::monitor::fake::Scenario;
use serde_json::{json, Value};

use super::estimate::run as estimate;
use super::{assert_exit, cli, ok_json};

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/schemas")
}

pub(crate) fn validator(file_name: &str) -> jsonschema::Validator {
    let text = std::fs::read_to_string(schema_dir().join(file_name))
        .unwrap_or_else(|e| panic!("docs/schemas/{file_name}: {e}"));
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{file_name}: {e}"))
}

#[track_caller]
pub(crate) fn assert_valid(v: &jsonschema::Validator, what: &str, value: &Value) {
    let errors: Vec<String> = v
        .iter_errors(value)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} breaks its schema: {errors:#?}\n{value:#}"
    );
}

#[test]
fn committed_schemas_match_the_types() {
    let dir = schema_dir();
    let update = std::env::var_os("UPDATE_SCHEMAS").is_some();
    for file in schemas() {
        let path = dir.join(file.file_name);
        let want = render(&file.schema);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &want).unwrap();
            continue;
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "docs/schemas/{} is not what the types generate: run UPDATE_SCHEMAS=1 cargo test -p headroom-cli --test cli contract",
            file.file_name
        );
    }
}

fn tiny_llama() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/models/tiny-llama")
        .to_string_lossy()
        .into_owned()
}

/// Plans that use every part of the contract: each one is valid for the schema and the CLI alike.
fn valid_plans() -> Vec<Value> {
    vec![
        json!({"model": {"id": "meta-llama/Llama-3.1-8B"}, "task": "train", "method": "qlora",
               "quantization": "int4_double", "precision": "bf16-mixed",
               "lora": {"rank": 16, "alpha": 32, "target_modules": "all-linear"},
               "trainable_embeddings": false, "optimizer": "paged_adamw_8bit", "optimizer_in_backward": false,
               "batch_size": 1, "sequence_length": 2048, "gradient_accumulation_steps": 1,
               "gradient_checkpointing": true, "attention": "sdpa", "chunked_loss": false,
               "activation_offload": false,
               "gpus": {"count": 1, "memory_gib": 24}, "nodes": 1, "sharding": "none", "offload": "none",
               "margin": 0.10}),
        json!({"model": {"path": tiny_llama()}, "task": "train", "method": "lora",
               "lora": {"rank": 8, "dropout": 0.05, "target_modules": ["q_proj", "v_proj"], "dtype": "bf16"}}),
        json!({"model": {"id": "Qwen/Qwen2.5-7B-Instruct"}, "task": "infer", "new_tokens": 512,
               "kv_cache_dtype": "fp8", "prefill_logits": "all", "gpus": {"count": 1, "model": "A100 80GB"}}),
        json!({"model": {"id": "meta-llama/Llama-3.1-8B"}, "task": "train", "method": "full",
               "precision": "bf16-true", "optimizer": "adamw_8bit", "gradient_accumulation_steps": 4,
               "gpus": {"count": 8, "memory_gib": 80}, "nodes": 2, "sharding": "fsdp_full_shard",
               "fsdp_no_sync": true, "offload": "optimizer_and_params", "torch_compile": true}),
        json!({"model": {"id": "meta-llama/Llama-3.1-8B"}, "task": "train", "method": "freeze",
               "freeze_trainable_layers": 4, "sharding": "zero2", "gpus": {"count": 2, "memory_gib": 40}}),
        json!({"model": {"id": "meta-llama/Llama-3.1-8B"}, "task": "train", "method": "qlora",
               "framework": "unsloth", "gpus": {"count": 1, "memory_gib": 24}}),
        json!({"model": {"id": "meta-llama/Llama-3.1-8B"}, "task": "train", "method": "lora",
               "gradient_checkpointing": true, "sequence_lengths": [1024, 2048], "expandable_segments": true,
               "gpus": {"count": 1, "memory_gib": 24}}),
    ]
}

#[test]
fn real_estimates_follow_the_estimate_schema_and_their_plans_the_plan_schema() {
    let plan_schema = validator("plan.schema.json");
    let estimate_schema = validator("estimate.schema.json");
    for plan in valid_plans() {
        assert_valid(&plan_schema, "a valid plan", &plan);
        let out = estimate(&plan.to_string(), &["--json"]);
        let answer = ok_json(&out);
        assert_valid(
            &estimate_schema,
            &format!("the estimate of {plan}"),
            &answer,
        );
    }
}

#[test]
fn plans_the_cli_refuses_the_schema_refuses_too() {
    let plan_schema = validator("plan.schema.json");
    let base =
        json!({"model": {"id": "meta-llama/Llama-3.1-8B"}, "task": "train", "method": "lora"});
    let breakages: [(&str, Value); 9] = [
        ("a LoRA alpha of 0", json!({"lora": {"alpha": 0}})),
        ("an unknown key", json!({"batch": 2})),
        ("a zero batch", json!({"batch_size": 0})),
        ("a margin of 1", json!({"margin": 1.0})),
        ("an unknown method", json!({"method": "dora"})),
        (
            "an empty module list",
            json!({"lora": {"target_modules": []}}),
        ),
        ("an unknown LoRA key", json!({"lora": {"r": 8}})),
        (
            "two model keys",
            json!({"model": {"id": "x", "path": "/tmp"}}),
        ),
        ("a GPU without a count", json!({"gpus": {"memory_gib": 24}})),
    ];
    for (what, patch) in breakages {
        let mut plan = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            plan[k] = v.clone();
        }
        assert!(
            !plan_schema.is_valid(&plan),
            "the schema accepts {what}: {plan}"
        );
        assert_exit(&estimate(&plan.to_string(), &["--json"]), 2);
    }
}

#[test]
fn monitor_snapshots_follow_the_snapshot_schema() {
    let schema = validator("monitor-snapshot.schema.json");
    let dir = tempfile::tempdir().unwrap();
    for name in Scenario::NAMES {
        let source = format!("fake:{name}");
        let out = cli(
            dir.path(),
            &["monitor", "--once", "--json", "--source", &source],
        );
        assert_valid(&schema, &source, &ok_json(&out));
    }
    let recording = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/monitor/training-2gpu.jsonl");
    let text = std::fs::read_to_string(&recording).unwrap();
    let mut lines = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let value: Value = serde_json::from_str(line).unwrap();
        // A recording's first line is its header; the rest are snapshots.
        if value.get("gpus").is_some() {
            assert_valid(&schema, "a recorded snapshot", &value);
            lines += 1;
        }
    }
    assert!(lines > 0, "no snapshot in {}", recording.display());
}
