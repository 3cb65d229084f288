//! `headroom-cli estimate --plan FILE [--json]` as docs/contract.md §1–2 define it.

use std::process::Output;

use serde_json::{json, Value};

use super::{assert_exit, cli, cli_command, ok_json as estimate_json, stderr_of, with_stdin};

/// `estimate` with `plan` on stdin, in a fresh folder of its own.
pub(crate) fn run(plan: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    run_in(dir.path(), plan, args)
}

fn llama_plan() -> Value {
    json!({
        "model": {"config": {"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32,
            "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 14336,
            "vocab_size": 128256, "tie_word_embeddings": false, "torch_dtype": "bfloat16"}},
        "task": "train", "method": "qlora", "quantization": "int4_double",
        "lora": {"rank": 16, "alpha": 32, "target_modules": "all-linear"},
        "optimizer": "paged_adamw_8bit", "gradient_checkpointing": true,
        "gpus": {"count": 1, "memory_gib": 32}
    })
}

#[test]
fn json_output_has_exactly_the_contract_keys() {
    let out = run(&llama_plan().to_string(), &["--json"]);
    assert_exit(&out, 0);
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
            "engine",
            "fits",
            "headroom_bytes",
            "note_messages",
            "notes",
            "parameters",
            "per_gpu"
        ]
    );
    // `engine`, `note_messages` and `per_gpu.range` are the optional keys added since the contract's first version.
    assert_eq!(
        v["note_messages"].as_array().unwrap().len(),
        v["notes"].as_array().unwrap().len()
    );
    assert_eq!(v["engine"], "analytic");
    assert_eq!(
        keys(&v["per_gpu"]),
        [
            "allocated_peak_bytes",
            "allocator_overhead_bytes",
            "components",
            "cuda_context_bytes",
            "device_peak_bytes",
            "managed_memory_bytes",
            "range",
            "reserved_peak_bytes"
        ]
    );
    for total in [
        "allocated_peak_bytes",
        "reserved_peak_bytes",
        "device_peak_bytes",
    ] {
        let central = v["per_gpu"][total].as_u64().unwrap();
        let r = &v["per_gpu"]["range"][total];
        let (low, high) = (r["low"].as_u64().unwrap(), r["high"].as_u64().unwrap());
        assert!(
            low <= central && central <= high,
            "{total}: {low} {central} {high}"
        );
    }
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
        (json!({"framework": "deepspeed_chat"}), "framework"),
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
    assert_exit(&out, 2);
}

#[test]
fn a_missing_plan_file_is_a_failure_not_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(
        dir.path(),
        &["estimate", "--plan", "/nonexistent/plan.json"],
    );
    assert_exit(&out, 1);
}

/// `estimate` with `plan` on stdin, its folders (and an empty Hugging Face cache) under `dir`.
pub(crate) fn run_in(dir: &std::path::Path, plan: &str, args: &[&str]) -> Output {
    let mut cmd = cli_command(dir);
    cmd.args(["estimate", "--plan", "-"])
        .args(args)
        .env("HF_HUB_CACHE", dir.join("hub"));
    with_stdin(cmd, plan.as_bytes())
}

#[test]
fn a_catalog_id_resolves_to_the_same_model_as_its_config() {
    let dir = tempfile::tempdir().unwrap();
    let by_config = estimate_json(&run_in(dir.path(), &llama_plan().to_string(), &["--json"]));
    let mut plan = llama_plan();
    plan["model"] = json!({"id": "meta-llama/Llama-3.1-8B"});
    let by_id = estimate_json(&run_in(dir.path(), &plan.to_string(), &["--json"]));
    assert_eq!(by_id["parameters"]["total"], 8_030_261_248u64);
    assert_eq!(by_id["per_gpu"], by_config["per_gpu"]);
    assert_eq!(by_id["fits"], json!(true));
    let notes = by_id["notes"].to_string();
    assert!(notes.contains("catalog source"), "{notes}");
}

#[test]
fn an_unknown_id_names_model_id() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(
        dir.path(),
        &json!({"model": {"id": "nobody/no-such-model"}, "task": "infer"}).to_string(),
        &["--json"],
    );
    assert_exit(&out, 2);
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("headroom-cli: model.id:") && err.contains("nobody/no-such-model"),
        "{err}"
    );
}

#[test]
fn a_model_folder_is_read_from_its_safetensors_headers() {
    let dir = tempfile::tempdir().unwrap();
    let folder = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/models/tiny-llama"
    );
    let plan = json!({"model": {"path": folder}, "task": "train", "method": "lora",
        "gpus": {"count": 1, "memory_gib": 24}});
    let est = estimate_json(&run_in(dir.path(), &plan.to_string(), &["--json"]));
    // param_counts.json: transformers counts 158,016 parameters for tiny-llama.
    assert_eq!(est["parameters"]["total"], 158_016u64);
    assert!(est["per_gpu"]["components"]["weights"].as_u64().unwrap() > 0);
    let missing = run_in(
        dir.path(),
        &json!({"model": {"path": dir.path().join("nothing")}, "task": "infer"}).to_string(),
        &["--json"],
    );
    assert_exit(&missing, 2);
    assert!(stderr_of(&missing).starts_with("headroom-cli: model.path:"));
}

#[test]
fn quantization_may_name_a_user_preset() {
    let dir = tempfile::tempdir().unwrap();
    let mut plan = llama_plan();
    plan["quantization"] = json!("my4");
    let unknown = run_in(dir.path(), &plan.to_string(), &["--json"]);
    assert_exit(&unknown, 2);
    assert!(stderr_of(&unknown).starts_with("headroom-cli: quantization:"));
    let dup = cli(dir.path(), &["presets", "duplicate", "int4_double", "my4"]);
    assert_exit(&dup, 0);
    let mine = estimate_json(&run_in(dir.path(), &plan.to_string(), &["--json"]));
    let builtin = estimate_json(&run_in(dir.path(), &llama_plan().to_string(), &["--json"]));
    assert_eq!(mine["per_gpu"], builtin["per_gpu"]);
}

/// `fit_on`: the plan's own choice wins; a plan without one follows `settings set --fit-on`. With the central
/// figure deciding, the headroom is counted from the central device peak; by default from the band's upper end.
#[test]
fn fit_on_comes_from_the_plan_else_from_the_settings() {
    let dir = tempfile::tempdir().unwrap();
    let mut plan = llama_plan();
    plan["gpus"] = json!({"count": 1, "memory_gib": 80});
    let headroom_from = |v: &Value, key: &str| {
        let usable = ((80u64 << 30) as f64 * 0.9).floor() as i64;
        let peak = if key == "high" {
            v["per_gpu"]["range"]["device_peak_bytes"]["high"]
                .as_i64()
                .unwrap()
        } else {
            v["per_gpu"]["device_peak_bytes"].as_i64().unwrap()
        };
        assert_eq!(
            v["headroom_bytes"].as_i64().unwrap(),
            usable - peak,
            "{key}"
        );
    };
    let default = estimate_json(&run_in(dir.path(), &plan.to_string(), &["--json"]));
    headroom_from(&default, "high");

    assert_exit(
        &cli(dir.path(), &["settings", "set", "--fit-on", "central"]),
        0,
    );
    let central = estimate_json(&run_in(dir.path(), &plan.to_string(), &["--json"]));
    headroom_from(&central, "central");

    plan["fit_on"] = json!("high");
    let own = estimate_json(&run_in(dir.path(), &plan.to_string(), &["--json"]));
    headroom_from(&own, "high");

    plan["fit_on"] = json!("middle");
    let bad = run_in(dir.path(), &plan.to_string(), &["--json"]);
    assert_exit(&bad, 2);
    assert!(stderr_of(&bad).contains("fit_on"), "{}", stderr_of(&bad));
}

/// `--trace-request` prints the protocol-1 request without starting any Python, and only with the trace engine.
#[test]
fn trace_request_prints_the_package_request_without_python() {
    let dir = tempfile::tempdir().unwrap();
    let plan =
        json!({"model": {"id": "meta-llama/Llama-3.2-1B"}, "task": "train", "method": "lora"});
    let request = |plan: &Value| -> Value {
        let args = [
            "--engine",
            "trace",
            "--trace-request",
            "--python",
            "/nonexistent/python",
        ];
        let out = run_in(dir.path(), &plan.to_string(), &args);
        assert_exit(&out, 0);
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let req = request(&plan);
    assert_eq!(req["protocol"], 1);
    assert_eq!(req["plan"]["method"], "lora");
    assert_eq!(req["model_config"]["num_hidden_layers"], 16);
    assert_eq!(req["allocator"]["expandable_segments"], false);
    // A plan that runs with expandable segments is traced with them, as `--expandable-segments` asks.
    let mut expandable = plan.clone();
    expandable["expandable_segments"] = json!(true);
    assert_eq!(
        request(&expandable)["allocator"]["expandable_segments"],
        true
    );
    let analytic = run_in(dir.path(), &plan.to_string(), &["--trace-request"]);
    assert_exit(&analytic, 2);
    assert!(
        stderr_of(&analytic).contains("trace_request"),
        "{}",
        stderr_of(&analytic)
    );
}

#[test]
fn a_plan_file_names_its_framework_and_the_notes_say_what_it_set() {
    let mut plan = llama_plan();
    plan["framework"] = json!("torchtune");
    let est = estimate_json(&run(&plan.to_string(), &["--json"]));
    let notes: Vec<&str> = est["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let note = notes
        .iter()
        .find(|n| n.starts_with("framework torchtune"))
        .unwrap_or_else(|| panic!("{notes:#?}"));
    // The plan gives gradient_checkpointing itself; torchtune's chunked loss fills what it leaves unset.
    assert!(
        note.contains("chunked_loss true") && !note.contains("gradient_checkpointing"),
        "{note}"
    );
    let hf = estimate_json(&run(&llama_plan().to_string(), &["--json"]));
    // 16-bit adapters, no kbit upcast, a chunked loss: torchtune's QLoRA needs less than the PEFT recipe's.
    assert!(
        est["per_gpu"]["device_peak_bytes"].as_u64() < hf["per_gpu"]["device_peak_bytes"].as_u64(),
        "{est}\n{hf}"
    );
}
