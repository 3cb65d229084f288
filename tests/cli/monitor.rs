//! `headroom-cli monitor` as a user runs it, on the fake and replay sources (no GPU needed).

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::{assert_exit, cli, cli_command, ok_json, stderr_of};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/monitor"
    ))
    .join(name)
}

fn keys(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Checks a snapshot against docs/contract.md §4: keys, types, RFC 3339 UTC time.
fn assert_contract(v: &serde_json::Value) {
    let top = keys(v);
    assert!(
        top.is_superset(&set(&["source", "taken_at", "gpus", "unavailable"])),
        "{top:?}"
    );
    let taken_at = v["taken_at"].as_str().unwrap();
    assert!(
        taken_at.ends_with('Z') && taken_at.len() >= 20 && &taken_at[10..11] == "T",
        "{taken_at}"
    );
    assert!(v["unavailable"]
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u.is_string()));
    for g in v["gpus"].as_array().unwrap() {
        let k = keys(g);
        let required = set(&[
            "index",
            "name",
            "uuid",
            "memory",
            "utilization_percent",
            "temperature_c",
            "power_watts",
            "processes",
        ]);
        assert!(k.is_superset(&required), "{k:?}");
        assert_eq!(
            keys(&g["memory"]),
            set(&["total_bytes", "used_bytes", "free_bytes", "reserved_bytes"])
        );
        for m in ["total_bytes", "used_bytes", "free_bytes", "reserved_bytes"] {
            assert!(g["memory"][m].is_u64() || g["memory"][m].is_null(), "{m}");
        }
        for p in g["processes"].as_array().into_iter().flatten() {
            assert!(keys(p).is_superset(&set(&["pid", "name", "user", "command", "used_bytes"])));
            assert!(p["pid"].is_u64());
        }
    }
}

#[test]
fn once_json_from_the_fake_source_follows_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(
        dir.path(),
        &[
            "monitor",
            "--once",
            "--json",
            "--source",
            "fake:training",
            "--gpus",
            "2",
            "--processes",
            "3",
            "--seed",
            "7",
        ],
    );
    let v = ok_json(&out);
    assert_contract(&v);
    assert_eq!(v["source"], "fake:training");
    assert_eq!(v["gpus"].as_array().unwrap().len(), 2);
    assert_eq!(v["gpus"][0]["memory"]["total_bytes"], 80u64 << 30);
    assert_eq!(v["gpus"][0]["processes"].as_array().unwrap().len(), 2);
    assert_eq!(v["gpus"][0]["processes"][0]["pid"], 10_000);
}

#[test]
fn a_lost_fake_gpu_is_null_with_a_reason_not_zero() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("lost.jsonl");
    let out = cli(
        dir.path(),
        &[
            "monitor",
            "--source",
            "fake:lost",
            "--gpus",
            "2",
            "--record",
            rec.to_str().unwrap(),
            "--interval",
            "100ms",
            "--duration",
            "2600ms",
        ],
    );
    assert_exit(&out, 0);
    let text = std::fs::read_to_string(&rec).unwrap();
    let lost: Vec<serde_json::Value> = text
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["gpus"][0]["status"] == "lost")
        .collect();
    assert!(
        !lost.is_empty(),
        "no lost sample in {} lines",
        text.lines().count()
    );
    for v in lost {
        assert_contract(&v);
        assert!(v["gpus"][0]["memory"]["used_bytes"].is_null());
        assert!(v["gpus"][0]["power_watts"].is_null());
        assert!(v["unavailable"][0]
            .as_str()
            .unwrap()
            .contains("gpu 0: lost"));
    }
}

#[test]
fn nvml_without_a_driver_exits_3_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(
        dir.path(),
        &["monitor", "--once", "--json", "--source", "nvml"],
    );
    if out.status.code() == Some(0) {
        // A machine with an NVIDIA driver: the real snapshot must follow the contract instead.
        assert_contract(&serde_json::from_slice(&out.stdout).unwrap());
        return;
    }
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no NVIDIA driver: "), "{err}");
}

#[test]
fn bad_source_and_interval_exit_2_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    for (args, field) in [
        (vec!["monitor", "--once", "--source", "cuda"], "source:"),
        (
            vec!["monitor", "--once", "--source", "fake:party"],
            "source:",
        ),
        (
            vec![
                "monitor",
                "--once",
                "--source",
                "fake:idle",
                "--interval",
                "50ms",
            ],
            "interval:",
        ),
        (
            vec![
                "monitor",
                "--once",
                "--source",
                "fake:idle",
                "--interval",
                "soon",
            ],
            "interval:",
        ),
        (
            vec!["monitor", "--once", "--source", "fake:idle", "--gpus", "99"],
            "gpus:",
        ),
    ] {
        let out = cli(dir.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(field), "{args:?}: {err}");
    }
}

#[test]
fn record_replay_and_export() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("run.jsonl");
    let out = cli(
        dir.path(),
        &[
            "monitor",
            "--source",
            "fake:oom",
            "--gpus",
            "2",
            "--processes",
            "4",
            "--record",
            rec.to_str().unwrap(),
            "--interval",
            "100ms",
            "--duration",
            "1s",
        ],
    );
    assert_exit(&out, 0);
    let text = std::fs::read_to_string(&rec).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let header: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(header["format"], "headroom-monitor-recording");
    assert_eq!(header["version"], 1);
    assert_eq!(header["interval_ms"], 100);
    // 1 s at 100 ms: about 10 snapshots (the first at once); allow for a slow shared machine.
    assert!(
        (5..=12).contains(&(lines.len() - 1)),
        "{} snapshots",
        lines.len() - 1
    );
    for l in &lines[1..] {
        assert_contract(&serde_json::from_str(l).unwrap());
    }

    let replay = format!("replay:{}", rec.display());
    let out = cli(
        dir.path(),
        &["monitor", "--once", "--json", "--source", &replay],
    );
    let first = ok_json(&out);
    let recorded: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(first["taken_at"], recorded["taken_at"]);
    assert_eq!(first["gpus"], recorded["gpus"]);
    assert_eq!(first["source"], replay);

    let (csv, png, svg) = (
        dir.path().join("r.csv"),
        dir.path().join("r.png"),
        dir.path().join("r.svg"),
    );
    let out = cli(
        dir.path(),
        &[
            "monitor",
            "export",
            rec.to_str().unwrap(),
            "--csv",
            csv.to_str().unwrap(),
            "--png",
            png.to_str().unwrap(),
            "--svg",
            svg.to_str().unwrap(),
        ],
    );
    assert_exit(&out, 0);
    let csv_text = std::fs::read_to_string(&csv).unwrap();
    // One row per GPU per snapshot and one per process per snapshot (4 processes, 2 per GPU, none exited in 1 s).
    assert_eq!(csv_text.lines().count(), 1 + (lines.len() - 1) * (2 + 4));
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
}

#[test]
fn replaying_the_committed_fixture_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let source = format!("replay:{}", fixture("training-2gpu.jsonl").display());
    let out = cli(
        dir.path(),
        &[
            "monitor",
            "--json",
            "--source",
            &source,
            "--interval",
            "100ms",
        ],
    );
    assert_exit(&out, 0);
    let ticks: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ticks.len(), 21);
    for t in &ticks {
        assert_contract(&t["snapshot"]);
        assert!(t["assessment"]["gpus"].is_array());
    }
}

#[test]
fn export_writes_the_chart_in_japanese_with_lang_ja() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("ja.svg");
    let out = cli(
        dir.path(),
        &[
            "monitor",
            "export",
            fixture("training-2gpu.jsonl").to_str().unwrap(),
            "--svg",
            svg.to_str().unwrap(),
            "--lang",
            "ja",
        ],
    );
    assert_exit(&out, 0);
    let text = std::fs::read_to_string(&svg).unwrap();
    // The machines that run these tests have fonts-noto-cjk (.ci/dev installs it; the .deb depends on it).
    assert!(
        text.contains("使用量 GiB") && text.contains("GPU メモリ"),
        "not Japanese"
    );
    assert!(!String::from_utf8(out.stderr).unwrap().contains("warning"));
    let out = cli(
        dir.path(),
        &[
            "monitor", "export", "x.jsonl", "--svg", "x.svg", "--lang", "de",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
}

/// `monitor export` without --lang writes in Settings › Language, resolving `auto` from the locale as the app
/// does; --lang still wins.
#[test]
fn export_follows_the_settings_language_unless_lang_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let recording = fixture("training-2gpu.jsonl");
    let export = |locale: &str, extra: &[&str]| {
        let svg = dir.path().join("chart.svg");
        let mut args = vec![
            "monitor",
            "export",
            recording.to_str().unwrap(),
            "--svg",
            svg.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = cli_command(dir.path())
            .args(&args)
            .env("LC_ALL", "")
            .env("LC_MESSAGES", "")
            .env("LANG", locale)
            .output()
            .unwrap();
        assert_exit(&out, 0);
        let text = std::fs::read_to_string(&svg).unwrap();
        let (ja, en) = (text.contains("使用量 GiB"), text.contains("used GiB"));
        assert!(ja != en, "one language: ja {ja}, en {en}");
        if ja {
            "ja"
        } else {
            "en"
        }
    };
    // Settings' default is auto: the locale decides.
    assert_eq!(export("ja_JP.UTF-8", &[]), "ja");
    assert_eq!(export("C.UTF-8", &[]), "en");
    assert_eq!(export("ja_JP.UTF-8", &["--lang", "en"]), "en");
    let set = cli(dir.path(), &["settings", "set", "--language", "ja"]);
    assert_exit(&set, 0);
    assert_eq!(export("en_US.UTF-8", &[]), "ja");
    assert_eq!(export("ja_JP.UTF-8", &["--lang", "en"]), "en");
    let set = cli(dir.path(), &["settings", "set", "--language", "en"]);
    assert_exit(&set, 0);
    assert_eq!(export("ja_JP.UTF-8", &[]), "en");
    assert_eq!(export("en_US.UTF-8", &["--lang", "ja"]), "ja");
}

#[test]
fn export_without_an_output_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(
        dir.path(),
        &[
            "monitor",
            "export",
            fixture("training-2gpu.jsonl").to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("--csv"));
}

#[test]
fn stop_needs_confirmation_then_stops_the_users_own_process() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let out = cli(
        dir.path(),
        &["monitor", "stop", &pid, "--source", "fake:idle"],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("yes: add --yes to stop pid") && err.contains("sleep 30"),
        "{err}"
    );
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());

    let out = cli(
        dir.path(),
        &[
            "monitor",
            "stop",
            &pid,
            "--yes",
            "--grace",
            "2s",
            "--source",
            "fake:idle",
        ],
    );
    let v = ok_json(&out);
    assert_eq!(v["pid"], child.id());
    assert_eq!(v["stopped_by"], "sigterm");
    // The fake GPU does not list this process: what it held is unknown, not 0.
    assert!(v["freed_bytes"].is_null());
    child.wait().unwrap();
}

#[test]
fn processes_lists_idle_holders_longest_idle_first() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(
        dir.path(),
        &[
            "monitor",
            "processes",
            "--source",
            "fake:training",
            "--watch",
            "2500ms",
            "--interval",
            "100ms",
            "--json",
        ],
    );
    let v = ok_json(&out);
    let list = v.as_array().unwrap();
    // The default fake has one GPU and one process, the trainer, whose memory keeps moving.
    assert_eq!(list.len(), 1, "{v}");
    assert_eq!(list[0]["pid"], 10_000);
    assert!(list[0]["used_bytes"].is_u64());
    assert!(list[0]["idle_ms"].as_u64().unwrap() <= 2_500);
}

#[test]
fn processes_name_their_model_and_configs_switch_does_what_the_recommendation_says() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(
        dir.path(),
        &["monitor", "--once", "--json", "--source", "fake:training"],
    );
    let v = ok_json(&out);
    assert_eq!(
        v["gpus"][0]["processes"][0]["model"],
        serde_json::json!({"id": "Qwen/Qwen2.5-32B-Instruct", "run_id": null, "preset": null,
                           "flag": "--model_name_or_path", "batch_size": 2, "sequence_length": 2048})
    );
    let set = cli(
        dir.path(),
        &[
            "configs", "set", "org/m", "--preset", "fp16", "--task", "train", "--method", "lora",
        ],
    );
    assert_exit(&set, 0);
    let out = cli(dir.path(), &["configs", "switch", "org/m", "int4_double"]);
    assert_exit(&out, 0);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "org/m: fp16 → int4_double\n  method lora → qlora: LoRA on 4-bit weights is QLoRA\nattempts: int4_double → int4_offload\n"
    );
    let again = cli(dir.path(), &["configs", "switch", "org/m", "int4_double"]);
    assert_exit(&again, 2);
    let err = stderr_of(&again);
    assert!(
        err.contains("preset: org/m's config already uses int4_double"),
        "{err}"
    );
}

#[test]
fn once_with_fake_lost_shows_the_lost_gpu_and_the_live_view_says_what_to_do() {
    // Issue 11 item 9: `--once --source fake:lost` showed a healthy GPU (the scenario lost it only later).
    let dir = tempfile::tempdir().unwrap();
    let out = cli(
        dir.path(),
        &[
            "monitor",
            "--once",
            "--json",
            "--source",
            "fake:lost",
            "--gpus",
            "2",
        ],
    );
    let snapshot = ok_json(&out);
    assert_eq!(snapshot["gpus"][0]["status"], "lost");
    assert_eq!(
        snapshot["gpus"][0]["memory"]["used_bytes"],
        serde_json::Value::Null
    );
    assert_eq!(snapshot["gpus"][1]["status"], "ok");
    let out = cli(dir.path(), &["monitor", "--once", "--source", "fake:lost"]);
    assert_exit(&out, 0);
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("GPU 0 Headroom demo GPU 0 (fake, 80 GiB): LOST"));

    let out = cli(
        dir.path(),
        &[
            "monitor",
            "--source",
            "fake:lost",
            "--interval",
            "100ms",
            "--duration",
            "500ms",
        ],
    );
    assert_exit(&out, 0);
    let err = stderr_of(&out);
    assert!(err.contains("headroom-cli: LOST: GPU 0 is lost"), "{err}");
    assert!(
        err.contains("recommendation for GPU 0: GPU 0 stopped answering the driver"),
        "{err}"
    );
}
