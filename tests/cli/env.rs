//! `headroom-cli env …` as a user runs it.

use std::path::Path;
use std::process::{Command, Output};

use super::{assert_exit, json_of as json, stderr_of};

/// The CLI with exactly `vars` as its environment (plus the data directories), so the doctor sees them only.
fn cli_env(dir: &Path, vars: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_headroom-cli"))
        .args(args)
        .env_clear()
        .env("HEADROOM_CONFIG_DIR", dir.join("config"))
        .env("HEADROOM_DATA_DIR", dir.join("data"))
        .envs(vars.iter().copied())
        .output()
        .expect("run headroom-cli")
}

#[test]
fn list_show_and_export() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli_env(dir.path(), &[], &["env", "list", "--json"]);
    assert!(out.status.success());
    let names: Vec<String> = json(&out)["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["production", "debug"]);

    let out = cli_env(dir.path(), &[], &["env", "show", "debug", "--json"]);
    let view = json(&out);
    let blocking = view["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "CUDA_LAUNCH_BLOCKING")
        .unwrap();
    assert_eq!(blocking["value"], "1");
    assert!(blocking["info"]["cost"]
        .as_str()
        .unwrap()
        .contains("slowdown"));
    let text = cli_env(dir.path(), &[], &["env", "show", "production"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("unset CUDA_LAUNCH_BLOCKING"));

    // The shell export really does what it says when sourced.
    let script = dir.path().join("production.sh");
    let out = cli_env(
        dir.path(),
        &[],
        &[
            "env",
            "export",
            "production",
            "--format",
            "shell",
            "-o",
            script.to_str().unwrap(),
        ],
    );
    assert!(out.status.success());
    let sourced = Command::new("sh")
        .arg("-c")
        .arg(format!(
            ". '{}'; echo \"$PYTORCH_CUDA_ALLOC_CONF|${{CUDA_LAUNCH_BLOCKING-unset}}\"",
            script.display()
        ))
        .env_clear()
        .env("CUDA_LAUNCH_BLOCKING", "1")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&sourced.stdout).trim(),
        "expandable_segments:True|unset"
    );

    let out = cli_env(
        dir.path(),
        &[],
        &["env", "export", "production", "--format", "dotenv"],
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("\nCUDA_DEVICE_ORDER=PCI_BUS_ID\n"), "{text}");
    assert!(!text.contains("export "));

    let out = cli_env(dir.path(), &[], &["env", "show", "nope"]);
    assert_exit(&out, 2);
    assert!(stderr_of(&out).contains("profile: no profile named"));
}

#[test]
fn save_a_user_profile_from_a_file_then_delete_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mine.env");
    std::fs::write(&file, "export HF_HUB_OFFLINE=1\nunset NCCL_DEBUG\n").unwrap();
    let out = cli_env(
        dir.path(),
        &[],
        &[
            "env",
            "save",
            "mine",
            "--file",
            file.to_str().unwrap(),
            "--purpose",
            "production",
        ],
    );
    assert_exit(&out, 0);
    let view = json(&cli_env(
        dir.path(),
        &[],
        &["env", "show", "mine", "--json"],
    ));
    assert_eq!(view["purpose"], "production");
    assert_eq!(view["variables"][0]["name"], "HF_HUB_OFFLINE");
    assert_eq!(view["variables"][1]["value"], serde_json::Value::Null);

    let out = cli_env(
        dir.path(),
        &[],
        &["env", "save", "debug", "--file", file.to_str().unwrap()],
    );
    assert_exit(&out, 2);
    let out = cli_env(
        dir.path(),
        &[],
        &["env", "save", "../x", "--file", file.to_str().unwrap()],
    );
    assert_exit(&out, 2);
    assert!(stderr_of(&out).contains("name: "));

    assert!(cli_env(dir.path(), &[], &["env", "delete", "mine"])
        .status
        .success());
    assert_eq!(
        cli_env(dir.path(), &[], &["env", "show", "mine"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn doctor_exits_1_on_an_error_and_0_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli_env(
        dir.path(),
        &[("CUDA_LAUNCH_BLOCKING", "1"), ("CUDA_VISIBLE_DEVICES", "1")],
        &["env", "doctor", "--profile", "production", "--json"],
    );
    assert_exit(&out, 1);
    let report = json(&out);
    assert_eq!(report["source"], "this shell");
    assert_eq!(report["profile"], "production");
    let first = &report["findings"][0];
    assert_eq!(first["severity"], "error");
    assert_eq!(first["rule"], "debug_setting_in_production");
    assert_eq!(
        first["fix"],
        serde_json::json!({"action": "unset", "variable": "CUDA_LAUNCH_BLOCKING"})
    );
    assert!(report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["fix"] == serde_json::json!({"action": "set", "variable": "CUDA_DEVICE_ORDER", "value": "PCI_BUS_ID"})));

    // Without the production profile the same switch is only a note.
    let out = cli_env(
        dir.path(),
        &[("CUDA_LAUNCH_BLOCKING", "1")],
        &["env", "doctor"],
    );
    assert_exit(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout).contains("info     CUDA_LAUNCH_BLOCKING"));

    // A file.
    let file = dir.path().join("train.sh");
    std::fs::write(
        &file,
        "export PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True,expandable_segments:False\n",
    )
    .unwrap();
    let out = cli_env(
        dir.path(),
        &[],
        &["env", "doctor", "--file", file.to_str().unwrap(), "--json"],
    );
    assert_exit(&out, 1);
    assert_eq!(json(&out)["findings"][0]["rule"], "allocator_contradiction");

    // A running process of ours.
    let mut child = Command::new("sleep")
        .arg("30")
        .env_clear()
        .env("PYTORCH_NO_CUDA_MEMORY_CACHING", "1")
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let out = cli_env(
        dir.path(),
        &[],
        &[
            "env",
            "doctor",
            "--pid",
            &pid,
            "--profile",
            "production",
            "--json",
        ],
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_exit(&out, 1);
    let report = json(&out);
    assert_eq!(report["source"], format!("process {pid}"));
    assert_eq!(
        report["findings"][0]["variable"],
        "PYTORCH_NO_CUDA_MEMORY_CACHING"
    );

    let out = cli_env(dir.path(), &[], &["env", "doctor", "--pid", "4294967295"]);
    assert_exit(&out, 2);
    assert!(stderr_of(&out).contains("pid: no running process"));
    let out = cli_env(
        dir.path(),
        &[],
        &["env", "doctor", "--pid", "1", "--file", "x"],
    );
    assert_exit(&out, 2);
}

#[test]
fn a_profile_token_stays_out_of_records_logs_and_output() {
    let dir = tempfile::tempdir().unwrap();
    let token = "hf_CliSeCrEt987654321";
    let env_file = dir.path().join("secrets.env");
    std::fs::write(&env_file, format!("HF_TOKEN={token}\nNCCL_DEBUG=WARN\n")).unwrap();
    let out = super::cli(
        dir.path(),
        &[
            "env",
            "save",
            "withtoken",
            "--file",
            env_file.to_str().unwrap(),
        ],
    );
    super::assert_exit(&out, 0);
    std::fs::remove_file(&env_file).unwrap();

    let shown = super::cli(dir.path(), &["env", "show", "withtoken"]);
    let shown_json = super::cli(dir.path(), &["env", "show", "withtoken", "--json"]);
    let doctor = super::cli_command(dir.path())
        .args(["env", "doctor", "--profile", "withtoken", "--json"])
        .env("HF_TOKEN", "hf_SomethingElse42")
        .output()
        .unwrap();
    let run = super::cli_command(dir.path())
        .args([
            "run",
            "--model",
            "org/m",
            "--chain",
            "fp16",
            "--profile",
            "withtoken",
            "--json",
            "--",
        ])
        .args(["bash", "-c", "echo \"token: $HF_TOKEN\""])
        .output()
        .unwrap();
    super::assert_exit(&run, 0);
    let record = super::json_of(&run);
    assert_eq!(
        record["attempts"][0]["environment"]["HF_TOKEN"],
        "<redacted>"
    );
    assert!(super::stderr_of(&run).contains("token: <redacted>"));
    for out in [&shown, &shown_json, &doctor, &run] {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            super::stderr_of(out)
        );
        assert!(
            !text.contains(token) && !text.contains("hf_SomethingElse42"),
            "{text}"
        );
    }
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("HF_TOKEN=") && shown.contains("<redacted>"),
        "{shown}"
    );
    // The data directory holds no copy; `export` still gives the value, for sourcing.
    let data = std::fs::read_dir(dir.path().join("data/runs"))
        .unwrap()
        .count();
    assert_eq!(data, 1);
    let grep = std::process::Command::new("grep")
        .args(["-r", "-l", token, dir.path().join("data").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        grep.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&grep.stdout)
    );
    let export = super::cli(dir.path(), &["env", "export", "withtoken"]);
    assert!(String::from_utf8_lossy(&export.stdout).contains(token));
}
