//! `headroom-cli estimate --plan FILE [--json]` as CONTRACTS.md §1–2 define it.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

fn run(plan: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_headroom-cli"))
        .args(["estimate", "--plan", "-"])
        .args(args)
        .env("HEADROOM_CONFIG_DIR", dir.path().join("config"))
        .env("HEADROOM_DATA_DIR", dir.path().join("data"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(plan.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn llama_plan() -> Value {
    json!({
        "model": {"config": {"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32,
            "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 14336,
            "vocab_size": 128256, "tie_word_embeddings": false, "torch_dtype": "bfloat16"}},
        "task": "train", "method": "qlora", "quantization": "int4_double",
        "lora": {"rank": 16, "alpha": 32, "target_modules": "all-linear"},
        "optimizer": "paged_adamw_8bit", "gradient_checkpointing": true,
        "gpus": {"count": 1, "memory_gib": 24}
    })
}

#[test]
fn json_output_has_exactly_the_contract_keys() {
    let out = run(&llama_plan().to_string(), &["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&v),
        [
            "cpu_bytes",
            "fits",
            "headroom_bytes",
            "notes",
            "parameters",
            "per_gpu"
        ]
    );
    assert_eq!(
        keys(&v["per_gpu"]),
        [
            "allocated_peak_bytes",
            "allocator_overhead_bytes",
            "components",
            "cuda_context_bytes",
            "device_peak_bytes",
            "managed_memory_bytes",
            "reserved_peak_bytes"
        ]
    );
    assert_eq!(
        keys(&v["per_gpu"]["components"]),
        [
            "activations",
            "gradients",
            "kv_cache",
            "logits",
            "lora",
            "optimizer",
            "weights",
            "workspace"
        ]
    );
    let c = &v["per_gpu"]["components"];
    let sum: u64 = c
        .as_object()
        .unwrap()
        .values()
        .map(|x| x.as_u64().unwrap())
        .sum();
    assert_eq!(v["per_gpu"]["allocated_peak_bytes"].as_u64().unwrap(), sum);
    assert_eq!(v["parameters"]["total"], 8_030_261_248u64);
    assert_eq!(v["fits"], true);
    assert!(v["headroom_bytes"].as_i64().unwrap() > 0);
}

#[test]
fn without_gpus_there_is_no_verdict() {
    let mut plan = llama_plan();
    plan.as_object_mut().unwrap().remove("gpus");
    let out = run(&plan.to_string(), &["--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.get("fits").is_none() && v.get("headroom_bytes").is_none());
}

#[test]
fn the_table_is_readable() {
    let out = run(&llama_plan().to_string(), &[]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for words in [
        "weights",
        "allocated",
        "reserved",
        "device (nvidia-smi)",
        "Fits",
        "Assumptions",
    ] {
        assert!(text.contains(words), "{words} missing:\n{text}");
    }
}

#[test]
fn invalid_plans_exit_2_with_one_line_naming_the_key() {
    let cases = [
        (json!({"batch_size": 0}), "batch_size"),
        (json!({"sequence_length": -1}), "sequence_length"),
        (json!({"method": "full", "quantization": "bf16"}), "lora"),
        (json!({"method": "full"}), "quantization"),
        (json!({"quantization": "int9"}), "quantization"),
        (json!({"learning_rate": 0.001}), "learning_rate"),
    ];
    for (patch, key) in cases {
        let mut plan = llama_plan();
        for (k, v) in patch.as_object().unwrap() {
            plan[k] = v.clone();
        }
        let out = run(&plan.to_string(), &["--json"]);
        assert_eq!(out.status.code(), Some(2), "{patch}");
        assert!(out.stdout.is_empty(), "{patch}: stdout not empty");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(&format!("{key}:")), "{patch}: {err}");
    }
    let out = run("{oops", &["--json"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_missing_plan_file_is_a_failure_not_invalid_input() {
    let out = Command::new(env!("CARGO_BIN_EXE_headroom-cli"))
        .args(["estimate", "--plan", "/nonexistent/plan.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn catalog_ids_wait_for_model_discovery() {
    // Until the catalog is glued in, an id is refused with a message that says what to give instead.
    let out = run(
        &json!({"model": {"id": "meta-llama/Llama-3.1-8B"}, "task": "infer"}).to_string(),
        &["--json"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("model.id:") && err.contains("model.config"),
        "{err}"
    );
}
