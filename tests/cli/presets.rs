//! `headroom-cli presets …` and `headroom-cli configs …` as a script runs them (issue 4, docs/contract.md §3).

use std::path::Path;

use serde_json::json;

use super::{assert_exit, cli, ok_json};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/bnb");

use super::stderr_of as stderr;

#[test]
fn bnb_json_export_prints_exactly_the_transformers_dump() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["int8", "int4", "int4_double", "int4_offload"] {
        let out = cli(
            dir.path(),
            &["presets", "export", name, "--format", "bnb-json"],
        );
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let expected = std::fs::read(Path::new(FIXTURES).join(format!("{name}.json"))).unwrap();
        assert_eq!(out.stdout, expected, "{name}");
    }
}

#[test]
fn an_unquantized_preset_has_no_bnb_json() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["fp32", "bf16", "fp16", "cpu"] {
        let out = cli(
            dir.path(),
            &["presets", "export", name, "--format", "bnb-json"],
        );
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(out.stdout.is_empty());
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("name:") && err.contains("no BitsAndBytesConfig"),
            "{err}"
        );
    }
}

#[test]
fn import_then_export_round_trips_through_files() {
    let dir = tempfile::tempdir().unwrap();
    let dump = Path::new(FIXTURES).join("fp4_fp16_skip_lm_head.json");
    let out = cli(
        dir.path(),
        &[
            "presets",
            "import",
            dump.to_str().unwrap(),
            "--name",
            "fp4-skip",
        ],
    );
    assert_exit(&out, 0);
    let out = cli(
        dir.path(),
        &["presets", "export", "fp4-skip", "--format", "bnb-json"],
    );
    assert_eq!(out.stdout, std::fs::read(&dump).unwrap());

    // A Headroom preset file round-trips too, under the file's name.
    let out = cli(
        dir.path(),
        &["presets", "export", "fp4-skip", "--format", "preset"],
    );
    let preset_file = dir.path().join("copied.json");
    std::fs::write(&preset_file, &out.stdout).unwrap();
    let out = cli(
        dir.path(),
        &["presets", "import", preset_file.to_str().unwrap()],
    );
    assert_exit(&out, 0);
    let a = cli(dir.path(), &["presets", "show", "fp4-skip", "--json"]);
    let b = cli(dir.path(), &["presets", "show", "copied", "--json"]);
    let a = ok_json(&a);
    let b = ok_json(&b);
    assert_eq!(a["body"], b["body"]);
    assert_eq!(b["builtin"], false);
}

#[test]
fn invalid_imports_exit_2_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    for (text, field) in [
        (
            r#"{"load_in_8bit": true, "llm_int8_threshold": 6}"#,
            "llm_int8_threshold",
        ),
        (
            r#"{"load_in_8bit": true, "load_in_4bit": true}"#,
            "load_in_4bit",
        ),
        (
            r#"{"quantization_config": {"load_in_4bit": true, "bnb_4bit_quant_type": "int4"}}"#,
            "quantization_config.bnb_4bit_quant_type",
        ),
        ("{", "input"),
    ] {
        let file = dir.path().join("in.json");
        std::fs::write(&file, text).unwrap();
        let out = cli(
            dir.path(),
            &["presets", "import", file.to_str().unwrap(), "--name", "x"],
        );
        assert_eq!(out.status.code(), Some(2), "{text}");
        let err = stderr(&out);
        assert!(
            err.starts_with(&format!("headroom-cli: {field}: ")),
            "{text}: {err}"
        );
    }
    let out = cli(dir.path(), &["presets", "delete", "int4"]);
    assert_exit(&out, 2);
    let out = cli(dir.path(), &["presets", "show", "../../etc/passwd"]);
    assert_exit(&out, 2);
}

#[test]
fn list_reports_a_corrupt_preset_and_shows_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    assert!(cli(dir.path(), &["presets", "duplicate", "int4", "mine"])
        .status
        .success());
    let presets_dir = dir.path().join("config/presets");
    std::fs::write(presets_dir.join("broken.json"), "{oops").unwrap();
    let out = cli(dir.path(), &["presets", "list", "--json"]);
    let list = ok_json(&out);
    let names: Vec<&str> = list["presets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 9);
    assert_eq!(names[8], "mine");
    assert_eq!(list["quarantined"].as_array().unwrap().len(), 1);
    let err = stderr(&out);
    assert!(
        err.contains("broken.json could not be read") && err.contains("moved to"),
        "{err}"
    );
}

#[test]
fn configs_set_show_list() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(
        dir.path(),
        &[
            "configs",
            "set",
            "meta-llama/Llama-3.1-8B",
            "--preset",
            "int4_double",
            "--task",
            "train",
            "--method",
            "qlora",
            "--lora-rank",
            "32",
            "--lora-target",
            "q_proj,v_proj",
            "--notes",
            "wizard",
            "--json",
        ],
    );
    let saved = ok_json(&out);
    assert_eq!(saved["config"]["lora"]["rank"], 32);
    assert_eq!(
        saved["config"]["lora"]["target_modules"],
        json!(["q_proj", "v_proj"])
    );

    // Change one thing; the rest is kept.
    let out = cli(
        dir.path(),
        &[
            "configs",
            "set",
            "meta-llama/Llama-3.1-8B",
            "--fallback",
            "int4_double,int4_offload,cpu",
        ],
    );
    assert_exit(&out, 0);
    let out = cli(
        dir.path(),
        &["configs", "show", "meta-llama/Llama-3.1-8B", "--json"],
    );
    let shown = ok_json(&out);
    assert_eq!(shown["config"]["notes"], "wizard");
    assert_eq!(
        shown["config"]["fallback_chain"],
        json!(["int4_double", "int4_offload", "cpu"])
    );
    // Overrides for this model only, checked against the preset's rules: spilling a quantized model to the
    // CPU needs the fp32 offload flag, which int4_double does not set.
    let set_max = |value: &str| {
        cli(
            dir.path(),
            &[
                "configs",
                "set",
                "meta-llama/Llama-3.1-8B",
                "--max-memory",
                value,
            ],
        )
    };
    let out = set_max("0=20GiB,cpu=64GB");
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("llm_int8_enable_fp32_cpu_offload"),
        "{}",
        stderr(&out)
    );
    let out = set_max("0=20GiB");
    assert_exit(&out, 0);
    let out = cli(
        dir.path(),
        &[
            "configs",
            "set",
            "meta-llama/Llama-3.1-8B",
            "--max-memory",
            "gpu=1GB",
        ],
    );
    assert_exit(&out, 2);
    assert!(
        stderr(&out).starts_with("headroom-cli: overrides.load.max_memory.gpu: "),
        "{}",
        stderr(&out)
    );
    let out = cli(dir.path(), &["configs", "list", "--json"]);
    let list = ok_json(&out);
    assert_eq!(list["configs"][0]["model_id"], "meta-llama/Llama-3.1-8B");

    let out = cli(
        dir.path(),
        &[
            "configs", "set", "org/m", "--preset", "int8", "--task", "train", "--method", "qlora",
        ],
    );
    assert_exit(&out, 2);
    assert!(
        stderr(&out).starts_with("headroom-cli: method: "),
        "{}",
        stderr(&out)
    );
    let out = cli(dir.path(), &["configs", "set", "org/m", "--preset", "int8"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).starts_with("headroom-cli: task: "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_bundle_exported_here_imports_there() {
    let here = tempfile::tempdir().unwrap();
    assert!(cli(here.path(), &["presets", "duplicate", "int4", "mine"])
        .status
        .success());
    assert!(cli(
        here.path(),
        &["configs", "set", "gpt2", "--preset", "mine", "--task", "infer"]
    )
    .status
    .success());
    let out = cli(here.path(), &["presets", "export", "--format", "bundle"]);
    assert_exit(&out, 0);
    let file = here.path().join("bundle.json");
    std::fs::write(&file, &out.stdout).unwrap();

    let there = tempfile::tempdir().unwrap();
    let out = cli(
        there.path(),
        &["presets", "import", file.to_str().unwrap(), "--json"],
    );
    let report = ok_json(&out);
    assert_eq!(report["presets"]["added"], json!(["mine"]));
    assert_eq!(report["model_configs"]["added"], json!(["gpt2"]));
    let again = cli(there.path(), &["presets", "export", "--format", "bundle"]);
    assert_eq!(
        again.stdout,
        out_of(&here, &["presets", "export", "--format", "bundle"])
    );
}

fn out_of(dir: &tempfile::TempDir, args: &[&str]) -> Vec<u8> {
    cli(dir.path(), args).stdout
}

#[test]
fn duplicate_rename_and_other_export_formats() {
    let dir = tempfile::tempdir().unwrap();
    assert!(cli(
        dir.path(),
        &["presets", "duplicate", "int4_offload", "spill"]
    )
    .status
    .success());
    assert!(cli(
        dir.path(),
        &["configs", "set", "org/m", "--preset", "spill", "--task", "infer"]
    )
    .status
    .success());
    let out = cli(dir.path(), &["presets", "rename", "spill", "spill2"]);
    assert_exit(&out, 0);
    let shown = cli(dir.path(), &["configs", "show", "org/m", "--json"]);
    let shown = ok_json(&shown);
    assert_eq!(
        shown["config"]["preset"], "spill2",
        "the config follows the rename"
    );
    assert_eq!(
        cli(dir.path(), &["presets", "rename", "int4", "x"])
            .status
            .code(),
        Some(2)
    );

    let out = cli(
        dir.path(),
        &["presets", "export", "spill2", "--format", "kwargs"],
    );
    let kwargs = ok_json(&out);
    assert_eq!(
        kwargs,
        json!({"device_map": "auto", "max_memory": null, "torch_dtype": "bfloat16"})
    );

    let out = cli(
        dir.path(),
        &[
            "presets", "export", "spill2", "--format", "python", "--model", "org/m",
        ],
    );
    let py = String::from_utf8(out.stdout).unwrap();
    assert!(
        py.contains("BitsAndBytesConfig(") && py.contains("\"org/m\""),
        "{py}"
    );
    let out = cli(
        dir.path(),
        &["presets", "export", "spill2", "--format", "python"],
    );
    assert_exit(&out, 2);
    assert!(stderr(&out).starts_with("headroom-cli: model: "));

    let out = cli(dir.path(), &["presets", "delete", "spill2"]);
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("org/m"),
        "warns about the config still naming it"
    );
}

#[test]
fn import_reads_stdin_and_needs_a_name_there() {
    let dir = tempfile::tempdir().unwrap();
    let dump = std::fs::read(Path::new(FIXTURES).join("int8_offload.json")).unwrap();
    let run = |args: &[&str]| {
        let mut cmd = super::cli_command(dir.path());
        cmd.args(args);
        super::with_stdin(cmd, &dump)
    };
    let out = run(&["presets", "import", "-"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).starts_with("headroom-cli: name: "),
        "{}",
        stderr(&out)
    );
    let out = run(&["presets", "import", "-", "--name", "eight-offload"]);
    assert_exit(&out, 0);
    let out = cli(
        dir.path(),
        &["presets", "export", "eight-offload", "--format", "bnb-json"],
    );
    assert_eq!(
        out.stdout,
        std::fs::read(Path::new(FIXTURES).join("int8_offload.json")).unwrap()
    );
}
