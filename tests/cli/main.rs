//! Tests of the `headroom-cli` binary as a user runs it: real processes, real files in a temporary directory.

mod calibration;
mod contract;
mod env;
mod estimate;
mod inputs;
#[path = "../common/measured_runs.rs"]
mod measured_runs;
mod monitor;
mod presets;
mod readme_snippet;
mod run;
mod serve;
mod store;
mod trace;
mod trainers;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The CLI with its config and data folders under `dir`, as every test here runs it.
fn cli_command(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_headroom-cli"));
    cmd.env("HEADROOM_CONFIG_DIR", dir.join("config"))
        .env("HEADROOM_DATA_DIR", dir.join("data"));
    cmd
}

/// Run a configured `headroom-cli` command with `input` on its stdin, and collect what it printed.
fn with_stdin(mut cmd: Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run headroom-cli");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn cli(config: &Path, args: &[&str]) -> Output {
    cli_command(config)
        .args(args)
        .output()
        .expect("run headroom-cli")
}

/// What the CLI said on stderr.
fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Assert the CLI's exit status, showing what it said on stderr when it is another.
#[track_caller]
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(out.status.code(), Some(code), "{}", stderr_of(out));
}

/// The JSON the CLI printed, or a panic showing what it printed and said instead.
#[track_caller]
fn json_of(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {:?} stderr {:?}",
            String::from_utf8_lossy(&out.stdout),
            stderr_of(out)
        )
    })
}

/// The JSON of a run that succeeded (exit 0).
#[track_caller]
fn ok_json(out: &Output) -> serde_json::Value {
    assert_exit(out, 0);
    json_of(out)
}

#[test]
fn help_lists_the_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(dir.path(), &["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for sub in [
        "paths",
        "settings",
        "env",
        "run",
        "presets",
        "configs",
        "monitor",
        "models",
        "estimate",
        "calibration",
        "plan",
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
    assert!(cli(
        dir.path(),
        &[
            "settings",
            "set",
            "--theme",
            "dark",
            "--notify-on-critical",
            "true",
            "--fit-on",
            "central"
        ]
    )
    .status
    .success());
    let out = cli(dir.path(), &["settings", "show", "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        value,
        serde_json::json!({"language": "ja", "theme": "dark", "notify_on_critical": true, "fit_on": "central"})
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
    assert_exit(&out, 2);
}
mod models;

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    use std::io::Read;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let mut child = cli_command(dir.path())
        .args(["presets", "export", "int4_double", "--format", "bnb-json"])
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
