//! The README's snippet for reading a preset ("Using a preset in your training script"), extracted from
//! README.md and run as written under `headroom-cli run`, with a real transformers (the venv that
//! HEADROOM_TEST_PYTHON names) on the tiny Llama checkpoint of the fixtures.

use std::path::Path;

use super::{assert_exit, cli, cli_command, stderr_of};

const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
const TINY_LLAMA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/models/tiny-llama"
);

/// The Python with torch and transformers, or `None` (the test is skipped, saying why) outside CI.
fn test_python() -> Option<String> {
    match std::env::var("HEADROOM_TEST_PYTHON") {
        Ok(python) if !python.is_empty() => Some(python),
        _ if std::env::var_os("CI").is_some() => {
            panic!("HEADROOM_TEST_PYTHON is not set: CI needs the transformers venv (`bash .ci/dev test` sets it)")
        }
        _ => {
            eprintln!(
                "skipped: HEADROOM_TEST_PYTHON is not set (a Python with torch and transformers)"
            );
            None
        }
    }
}

/// The first python block after the section heading.
fn readme_snippet() -> String {
    let readme = std::fs::read_to_string(README).unwrap();
    let section = readme
        .find("## Using a preset in your training script")
        .expect("the README has the section");
    let rest = &readme[section..];
    let start = rest
        .find("```python\n")
        .expect("the section has a python block")
        + "```python\n".len();
    let end = rest[start..].find("\n```").expect("the block ends");
    rest[start..start + end + 1].to_string()
}

#[test]
fn the_readme_snippet_runs_as_written_with_a_per_model_max_memory() {
    let Some(python) = test_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("train.py");
    std::fs::write(&script, readme_snippet()).unwrap();
    // A GPU key and a CPU key: the GPU key reaches accelerate as an integer where a GPU exists, and is
    // left out where none does (this test runs on machines without one too).
    let out = cli(
        dir.path(),
        &[
            "configs",
            "set",
            "test/tiny-llama",
            "--task",
            "infer",
            "--preset",
            "fp16",
            "--max-memory",
            "0=1GiB,cpu=2GiB",
        ],
    );
    assert_exit(&out, 0);

    let out = cli_command(dir.path())
        .args(["run", "--model", "test/tiny-llama", "--chain", "fp16", "--"])
        .arg(&python)
        .arg(&script)
        .arg(TINY_LLAMA)
        .env("HF_HUB_OFFLINE", "1")
        .env("TRANSFORMERS_VERBOSITY", "error")
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.lines().any(|l| l == "preset fp16"),
        "{stdout}\n{}",
        stderr_of(&out)
    );

    // What the program was handed: `dtype`, never the deprecated `torch_dtype`; the model's max_memory.
    let runs = dir.path().join("data/runs");
    let run = std::fs::read_dir(&runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let kwargs: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run.join("attempt-0.load_kwargs.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(kwargs["dtype"], "float16", "{kwargs}");
    assert!(kwargs.get("torch_dtype").is_none(), "{kwargs}");
    assert_eq!(kwargs["max_memory"]["cpu"], "2GiB", "{kwargs}");
    let has_gpu = Path::new("/dev/nvidia0").exists();
    assert_eq!(kwargs["max_memory"].get("0").is_some(), has_gpu, "{kwargs}");
}
