//! Tests of the `headroom-cli` binary as a user runs it: real processes, real files in a temporary directory.

mod env;
mod estimate;
mod monitor;
mod presets;
mod run;

use std::process::{Command, Output};

fn cli(config: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_headroom-cli"))
        .args(args)
        .env("HEADROOM_CONFIG_DIR", config.join("config"))
        .env("HEADROOM_DATA_DIR", config.join("data"))
        .output()
        .expect("run headroom-cli")
}

#[test]
fn help_lists_the_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(dir.path(), &["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for sub in [
        "paths", "settings", "env", "run", "presets", "configs", "monitor", "models", "estimate",
    ] {
        assert!(text.contains(sub), "{sub} missing from:\n{text}");
    }
}

#[test]
fn paths_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(dir.path(), &["paths", "--json"]);
    assert!(out.status.success());
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        value["config_dir"],
        dir.path().join("config").to_str().unwrap()
    );
    assert_eq!(
        value["log_dir"],
        dir.path().join("data/logs").to_str().unwrap()
    );
}

#[test]
fn settings_set_then_show() {
    let dir = tempfile::tempdir().unwrap();
    assert!(cli(dir.path(), &["settings", "set", "--language", "ja"])
        .status
        .success());
    assert!(cli(dir.path(), &["settings", "set", "--theme", "dark"])
        .status
        .success());
    let out = cli(dir.path(), &["settings", "show", "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        value,
        serde_json::json!({"language": "ja", "theme": "dark"})
    );
}

#[test]
fn a_corrupt_settings_file_is_reported_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(dir.path().join("config/settings.json"), "{oops").unwrap();
    let out = cli(dir.path(), &["settings", "show"]);
    assert!(out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("could not be read") && err.contains("moved to"),
        "{err}"
    );
    let kept = std::fs::read_dir(dir.path().join("config"))
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("settings.json.corrupt-")
        });
    assert!(kept);
}

#[test]
fn bad_arguments_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(dir.path(), &["settings", "set", "--language", "klingon"]);
    assert_eq!(out.status.code(), Some(2));
}
mod models;

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    use std::io::Read;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_headroom-cli"))
        .args(["presets", "export", "int4_double", "--format", "bnb-json"])
        .env("HEADROOM_CONFIG_DIR", dir.path().join("config"))
        .env("HEADROOM_DATA_DIR", dir.path().join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read nothing and close the pipe, as `| head -0` would.
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    child.wait().unwrap();
    assert!(!err.contains("panicked"), "{err}");
}
