//! `estimate --from`, `plan import` and `plan export` (docs/trainers.md) on the real trainer configs of
//! tests/fixtures/trainers, and the exports read by the real libraries: accelerate's config loader and
//! DeepSpeed's config parser, in the Python HEADROOM_TEST_PYTHON names (the venv `.ci/dev` builds from
//! python/requirements-test.txt). Without it those checks are skipped with a printed reason, unless CI is set.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use super::contract::{assert_valid, validator};
use super::{assert_exit, cli, ok_json, stderr_of};

fn fixture(p: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/trainers")
        .join(p)
        .display()
        .to_string()
}

#[test]
fn estimate_from_an_axolotl_config_prints_the_estimate_with_its_import_report() {
    let dir = tempfile::tempdir().unwrap();
    let from = fixture("axolotl/examples/gemma2/qlora.yml");
    let out = cli(
        dir.path(),
        &[
            "estimate",
            "--from",
            &from,
            "--gpu-model",
            "A100 80GB",
            "--json",
        ],
    );
    let v = ok_json(&out);
    assert_valid(&validator("estimate.schema.json"), "estimate --from", &v);
    assert_eq!(
        v["import"]["plan"]["model"],
        json!({"id": "google/gemma-2-9b"})
    );
    assert_eq!(v["import"]["files"][0]["format"], "axolotl");
    assert!(v["fits"].is_boolean());
    // The table shows the report after the estimate.
    let out = cli(
        dir.path(),
        &["estimate", "--from", &from, "--gpu-memory-gib", "24"],
    );
    assert_exit(&out, 0);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("lora_r = 32  ->  lora.rank = 32"), "{text}");
    assert!(text.contains("Auto values:"), "{text}");
}

#[test]
fn a_plan_file_and_flags_override_what_the_configs_say() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json");
    std::fs::write(&plan, r#"{"batch_size": 3, "lora": {"rank": 8}}"#).unwrap();
    let out = cli(
        dir.path(),
        &[
            "plan",
            "import",
            "--from",
            &fixture("axolotl/examples/gemma2/qlora.yml"),
            "--model",
            "Qwen/Qwen3-8B",
            "--json",
        ],
    );
    let v = ok_json(&out);
    assert_eq!(v["plan"]["model"], json!({"id": "Qwen/Qwen3-8B"}));
    let out = cli(
        dir.path(),
        &[
            "estimate",
            "--from",
            &fixture("axolotl/examples/gemma2/qlora.yml"),
            "--plan",
            plan.to_str().unwrap(),
            "--gpu-memory-gib",
            "80",
            "--json",
        ],
    );
    let v = ok_json(&out);
    assert_eq!(v["import"]["plan"]["lora"]["rank"], 32);
    // The estimate followed the plan file: rank 8 adapters are a quarter of rank 32's.
    let rank32 = ok_json(&cli(
        dir.path(),
        &[
            "estimate",
            "--from",
            &fixture("axolotl/examples/gemma2/qlora.yml"),
            "--gpu-memory-gib",
            "80",
            "--json",
        ],
    ));
    let lora = |v: &Value| v["per_gpu"]["components"]["lora"].as_u64().unwrap();
    assert_eq!(lora(&rank32), 4 * lora(&v));
}

#[test]
fn configs_that_give_gpus_without_memory_or_disagree_exit_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(
        dir.path(),
        &[
            "estimate",
            "--from",
            &fixture("accelerate/examples/accelerate_configs/deepspeed_zero3.yaml"),
            "--from",
            &fixture("llama_factory/examples/train_full/qwen3_full_sft.yaml"),
        ],
    );
    assert_exit(&out, 2);
    assert!(
        stderr_of(&out).starts_with("headroom-cli: gpus: the configs give 8 GPUs"),
        "{}",
        stderr_of(&out)
    );
    assert!(out.stdout.is_empty());
    let out = cli(
        dir.path(),
        &[
            "plan",
            "import",
            "--from",
            &fixture("axolotl/examples/llama-3/qlora-1b.yml"),
            "--from",
            &fixture("deepspeed/tests/torch_compile/ds_config_z3.json"),
        ],
    );
    assert_exit(&out, 2);
    let err = stderr_of(&out);
    assert!(
        err.contains("optimizer: the files disagree")
            && err.contains("qlora-1b.yml")
            && err.contains("ds_config_z3.json"),
        "{err}"
    );
    let out = cli(dir.path(), &["estimate", "--json"]);
    assert_exit(&out, 2);
}

/// Export `plan` with the CLI into a new file of `dir`.
fn export(dir: &Path, plan: &Value, format: &str) -> PathBuf {
    let plan_file = dir.join(format!("plan-{format}.json"));
    std::fs::write(&plan_file, plan.to_string()).unwrap();
    let n = std::fs::read_dir(dir).unwrap().count();
    let out_file = dir.join(format!(
        "{n}-{}",
        if format == "accelerate" {
            "accelerate.yaml"
        } else {
            "ds_config.json"
        }
    ));
    let out = cli(
        dir,
        &[
            "plan",
            "export",
            "--format",
            format,
            "--plan",
            plan_file.to_str().unwrap(),
            "--out",
            out_file.to_str().unwrap(),
        ],
    );
    assert_exit(&out, 0);
    out_file
}

#[test]
fn export_writes_a_file_once_and_replaces_it_only_with_force() {
    let dir = tempfile::tempdir().unwrap();
    let plan = json!({"model": {"id": "meta-llama/Llama-3.1-8B"}, "task": "train", "sharding": "zero3",
                      "offload": "optimizer", "gpus": {"count": 8, "memory_gib": 80}});
    let file = export(dir.path(), &plan, "deepspeed");
    let before = std::fs::read_to_string(&file).unwrap();
    let args = [
        "plan",
        "export",
        "--format",
        "accelerate",
        "--from",
        file.to_str().unwrap(),
        "--model",
        "x",
        "--out",
        file.to_str().unwrap(),
    ];
    let out = cli(dir.path(), &args);
    assert_exit(&out, 2);
    assert!(stderr_of(&out).contains("--force"), "{}", stderr_of(&out));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
    let mut forced = args.to_vec();
    forced.push("--force");
    assert_exit(&cli(dir.path(), &forced), 0);
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .contains("distributed_type: 'DEEPSPEED'"));
    // To stdout, with what the format cannot say on stderr.
    let out = cli(
        dir.path(),
        &[
            "plan",
            "export",
            "--format",
            "deepspeed",
            "--plan",
            dir.path().join("plan-deepspeed.json").to_str().unwrap(),
        ],
    );
    assert_exit(&out, 0);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["zero_optimization"]["offload_optimizer"]["device"], "cpu");
    assert!(
        stderr_of(&out).contains("not carried: "),
        "{}",
        stderr_of(&out)
    );
}

/// The Python with accelerate and deepspeed, or `None` (and a printed reason) outside CI.
fn test_python() -> Option<String> {
    match std::env::var("HEADROOM_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ if std::env::var_os("CI").is_some() => {
            panic!("HEADROOM_TEST_PYTHON is not set under CI: `bash .ci/dev test` sets it to its venv's python")
        }
        _ => {
            eprintln!(
                "skipped: HEADROOM_TEST_PYTHON is not set (a Python with accelerate and deepspeed)"
            );
            None
        }
    }
}

/// What the real libraries read from an export (python/tests/load_trainer_config.py).
fn load_with_library(python: &str, kind: &str, file: &Path) -> Value {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../python/tests/load_trainer_config.py");
    let out = Command::new(python)
        .arg(script)
        .arg(kind)
        .arg(file)
        .env("DS_ACCELERATOR", "cpu")
        .output()
        .expect("run the test python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn accelerate_and_deepspeed_read_the_exports_as_the_plan_says() {
    let Some(python) = test_python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let base = json!({"model": {"id": "meta-llama/Llama-3.1-8B"}, "task": "train", "batch_size": 2,
                      "gradient_accumulation_steps": 4, "gpus": {"count": 8, "memory_gib": 80}, "nodes": 2});
    let with = |extra: Value| {
        let mut v = base.clone();
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };

    let ds = with(
        json!({"sharding": "zero3", "offload": "optimizer_and_params", "precision": "bf16-mixed"}),
    );
    let got = load_with_library(
        &python,
        "accelerate",
        &export(dir.path(), &ds, "accelerate"),
    );
    assert_eq!(got["distributed_type"], "DEEPSPEED");
    assert_eq!(got["mixed_precision"], "bf16");
    assert_eq!(
        (got["num_processes"].as_u64(), got["num_machines"].as_u64()),
        (Some(16), Some(2))
    );
    assert_eq!(got["deepspeed_config"]["zero_stage"], 3);
    assert_eq!(got["deepspeed_config"]["offload_param_device"], "cpu");
    assert_eq!(got["deepspeed_config"]["gradient_accumulation_steps"], 4);

    let got = load_with_library(&python, "deepspeed", &export(dir.path(), &ds, "deepspeed"));
    assert_eq!(got["stage"], 3);
    assert_eq!(
        (got["micro_batch"].as_u64(), got["accumulation"].as_u64()),
        (Some(2), Some(4))
    );
    assert_eq!(
        (got["bf16"].as_bool(), got["fp16"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(got["offload_optimizer"], "cpu");
    assert_eq!(got["offload_param"], "cpu");

    let z2 = with(json!({"sharding": "zero2", "offload": "optimizer", "precision": "fp16-mixed"}));
    let got = load_with_library(&python, "deepspeed", &export(dir.path(), &z2, "deepspeed"));
    assert_eq!(got["stage"], 2);
    assert_eq!(
        (got["bf16"].as_bool(), got["fp16"].as_bool()),
        (Some(false), Some(true))
    );
    assert_eq!(got["offload_optimizer"], "cpu");
    assert_eq!(got["offload_param"], Value::Null);

    let fsdp = with(
        json!({"sharding": "fsdp_shard_grad_op", "precision": "fp32",
                           "gradient_checkpointing": true}),
    );
    let got = load_with_library(
        &python,
        "accelerate",
        &export(dir.path(), &fsdp, "accelerate"),
    );
    assert_eq!(got["distributed_type"], "FSDP");
    assert_eq!(got["mixed_precision"], "no");
    assert_eq!(
        got["fsdp_config"]["fsdp_sharding_strategy"],
        "SHARD_GRAD_OP"
    );
    assert_eq!(got["fsdp_config"]["fsdp_offload_params"], false);
    assert_eq!(got["fsdp_config"]["fsdp_activation_checkpointing"], true);

    let ddp = with(json!({"precision": "bf16-true"}));
    let got = load_with_library(
        &python,
        "accelerate",
        &export(dir.path(), &ddp, "accelerate"),
    );
    assert_eq!(got["distributed_type"], "MULTI_GPU");
}
