//! The presets and configs store under real concurrent processes, interrupted renames and unreadable entries
//! (issue 11 items 1 to 3).

use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{assert_exit, cli, cli_command, ok_json, stderr_of};

const MODEL: &str = "org/m";
const TRIALS: usize = 20;

/// Start the CLI without waiting for it.
fn spawn(dir: &Path, args: &[String]) -> Child {
    cli_command(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start headroom-cli")
}

/// Two CLI processes started together, as two terminals or a script and the app would.
fn race(dir: &Path, a: &[String], b: &[String]) -> (Output, Output) {
    let first = spawn(dir, a);
    let second = spawn(dir, b);
    (
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    )
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn shown(dir: &Path) -> Value {
    ok_json(&cli(dir, &["configs", "show", MODEL, "--json"]))["config"].clone()
}

fn new_config(dir: &Path) {
    assert_exit(
        &cli(
            dir,
            &[
                "configs", "set", MODEL, "--preset", "int4", "--task", "train", "--method", "qlora",
            ],
        ),
        0,
    );
}

#[test]
fn two_configs_set_at_the_same_moment_both_land() {
    let dir = tempfile::tempdir().unwrap();
    new_config(dir.path());
    for i in 0..TRIALS {
        let notes = format!("trial {i}");
        let rank = (8 + i).to_string();
        let (a, b) = race(
            dir.path(),
            &args(&["configs", "set", MODEL, "--notes", &notes]),
            &args(&["configs", "set", MODEL, "--lora-rank", &rank]),
        );
        assert_exit(&a, 0);
        assert_exit(&b, 0);
        let config = shown(dir.path());
        assert_eq!(config["notes"], notes.as_str(), "trial {i}: {config}");
        assert_eq!(config["lora"]["rank"], 8 + i, "trial {i}: {config}");
    }
}

#[test]
fn configs_set_and_switch_at_the_same_moment_both_land() {
    let dir = tempfile::tempdir().unwrap();
    new_config(dir.path());
    for i in 0..TRIALS {
        let notes = format!("trial {i}");
        // Alternate, so the switch always changes the preset.
        let target = if i % 2 == 0 { "int4_double" } else { "int4" };
        let (a, b) = race(
            dir.path(),
            &args(&["configs", "set", MODEL, "--notes", &notes]),
            &args(&["configs", "switch", MODEL, target]),
        );
        assert_exit(&a, 0);
        assert_exit(&b, 0);
        let config = shown(dir.path());
        assert_eq!(config["notes"], notes.as_str(), "trial {i}: {config}");
        assert_eq!(config["preset"], target, "trial {i}: {config}");
    }
}

#[test]
fn of_two_duplicates_to_one_new_name_exactly_one_is_saved() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..TRIALS {
        let to = format!("copy-{i}");
        let (a, b) = race(
            dir.path(),
            &args(&["presets", "duplicate", "int4", &to]),
            &args(&["presets", "duplicate", "int4_double", &to]),
        );
        let (won, lost) = match (a.status.code(), b.status.code()) {
            (Some(0), Some(0)) => panic!("trial {i}: both said saved"),
            (Some(0), _) => (a, b),
            (_, Some(0)) => (b, a),
            _ => panic!(
                "trial {i}: neither saved: {} / {}",
                stderr_of(&a),
                stderr_of(&b)
            ),
        };
        assert_exit(&lost, 2);
        assert!(
            stderr_of(&lost).contains("already exists"),
            "{}",
            stderr_of(&lost)
        );
        assert!(lost.stdout.is_empty());
        // What is saved is what the winner said it saved.
        let saved = ok_json(&cli(dir.path(), &["presets", "show", &to, "--json"]));
        let winner_source = String::from_utf8_lossy(&won.stdout)
            .rsplit("a copy of ")
            .next()
            .unwrap()
            .trim_end_matches([')', '\n'])
            .to_string();
        let source = ok_json(&cli(
            dir.path(),
            &["presets", "show", &winner_source, "--json"],
        ));
        assert_eq!(saved["body"], source["body"], "trial {i}");
    }
}

/// A preset named by three configs, one of them in its fallback chain only.
fn preset_with_configs(dir: &Path) {
    assert_exit(&cli(dir, &["presets", "duplicate", "int4", "old"]), 0);
    for (model, preset, fallback) in [
        ("org/a", "old", "int4_offload"),
        ("org/b", "fp16", "old,int4_offload"),
        ("org/c", "old", "cpu"),
    ] {
        assert_exit(
            &cli(
                dir,
                &[
                    "configs",
                    "set",
                    model,
                    "--preset",
                    preset,
                    "--task",
                    "infer",
                    "--fallback",
                    fallback,
                ],
            ),
            0,
        );
    }
}

/// `configs list --json`: every config, and which name presets that cannot be loaded.
fn dangling(dir: &Path) -> Vec<(String, Value)> {
    let list = ok_json(&cli(dir, &["configs", "list", "--json"]));
    list["configs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| {
            c.get("missing_presets")
                .map(|m| (c["model_id"].as_str().unwrap().to_string(), m.clone()))
        })
        .collect()
}

#[test]
fn a_rename_killed_at_any_moment_leaves_no_config_naming_a_missing_preset() {
    // How long a whole rename takes here, to spread the kills over it.
    let probe = tempfile::tempdir().unwrap();
    preset_with_configs(probe.path());
    let started = Instant::now();
    assert_exit(&cli(probe.path(), &["presets", "rename", "old", "new"]), 0);
    let whole = started.elapsed();
    assert!(dangling(probe.path()).is_empty());

    let mut interrupted = 0;
    for i in 0..TRIALS {
        let dir = tempfile::tempdir().unwrap();
        preset_with_configs(dir.path());
        let mut child = spawn(dir.path(), &args(&["presets", "rename", "old", "new"]));
        std::thread::sleep(whole.mul_f64(i as f64 / TRIALS as f64));
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        if !out.status.success() {
            interrupted += 1;
        }
        // Checked without the flag too: every preset a config names is listed.
        let list = ok_json(&cli(dir.path(), &["presets", "list", "--json"]));
        let names: Vec<&str> = list["presets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for model in ["org/a", "org/b", "org/c"] {
            let entry = ok_json(&cli(dir.path(), &["configs", "show", model, "--json"]));
            let config = &entry["config"];
            let chain = config["fallback_chain"].as_array().unwrap();
            for named in chain.iter().chain([&config["preset"]]) {
                let named = named.as_str().unwrap();
                assert!(
                    names.contains(&named),
                    "trial {i}: {model} names {named}, gone: {names:?}"
                );
            }
            assert!(entry.get("missing_presets").is_none(), "trial {i}: {entry}");
        }
        assert_eq!(dangling(dir.path()), [], "trial {i}");
    }
    // Most kills land before the rename (the process is still starting), a few during; none may leave a dangling
    // name. Were none interrupted, the test would prove nothing.
    assert!(interrupted > 0, "no rename was interrupted");
}

#[test]
fn a_config_naming_a_deleted_preset_is_flagged_by_show_and_list() {
    let dir = tempfile::tempdir().unwrap();
    preset_with_configs(dir.path());
    let out = cli(dir.path(), &["presets", "delete", "old"]);
    assert_exit(&out, 0);

    let out = cli(dir.path(), &["configs", "show", "org/b", "--json"]);
    let entry = ok_json(&out);
    assert_eq!(entry["missing_presets"], serde_json::json!(["old"]));
    assert!(
        stderr_of(&out).contains("names a preset that cannot be loaded (old)"),
        "{}",
        stderr_of(&out)
    );
    let out = cli(dir.path(), &["configs", "show", "org/b"]);
    assert_exit(&out, 0);
    assert!(stderr_of(&out).contains("org/b"), "{}", stderr_of(&out));

    let mut flagged = dangling(dir.path());
    flagged.sort_by(|a, b| a.0.cmp(&b.0));
    let names: Vec<&str> = flagged.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(names, ["org/a", "org/b", "org/c"]);
    let out = cli(dir.path(), &["configs", "list"]);
    assert_exit(&out, 0);
    assert_eq!(
        stderr_of(&out).matches("cannot be loaded (old)").count(),
        3,
        "{}",
        stderr_of(&out)
    );

    // Choosing presets that exist clears the flag; a config with none missing has no such key.
    let out = cli(
        dir.path(),
        &["configs", "set", "org/b", "--fallback", "int4_offload"],
    );
    assert_exit(&out, 0);
    let entry = ok_json(&cli(dir.path(), &["configs", "show", "org/b", "--json"]));
    assert!(entry.get("missing_presets").is_none(), "{entry}");
}

/// A presets and a configs folder each holding one good file and, beside it, everything that cannot be read:
/// a directory, a FIFO, a symbolic link that loops, a dangling one, and (on Linux) a file whose read fails
/// with an I/O error even for root, as a file without read permission fails for a user.
fn unreadable_entries(config: &Path) -> Vec<String> {
    let mut made = Vec::new();
    for sub in ["presets", "model-configs"] {
        let folder = config.join(sub);
        std::fs::create_dir_all(folder.join("a-dir.json")).unwrap();
        made.push(format!("{sub}/a-dir.json"));
        let fifo = folder.join("a-fifo.json");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        made.push(format!("{sub}/a-fifo.json"));
        std::os::unix::fs::symlink("loop.json", folder.join("loop.json")).unwrap();
        made.push(format!("{sub}/loop.json"));
        std::os::unix::fs::symlink("nowhere", folder.join("broken.json")).unwrap();
        made.push(format!("{sub}/broken.json"));
        if cfg!(target_os = "linux") {
            std::os::unix::fs::symlink("/proc/self/mem", folder.join("eio.json")).unwrap();
            made.push(format!("{sub}/eio.json"));
        }
    }
    made
}

#[test]
fn unreadable_entries_are_reported_and_the_rest_are_listed_and_exported() {
    let dir = tempfile::tempdir().unwrap();
    assert_exit(
        &cli(dir.path(), &["presets", "duplicate", "int4", "good"]),
        0,
    );
    assert_exit(
        &cli(
            dir.path(),
            &[
                "configs", "set", "org/good", "--preset", "good", "--task", "infer",
            ],
        ),
        0,
    );
    let made = unreadable_entries(&dir.path().join("config"));

    let started = Instant::now();
    let presets = cli(dir.path(), &["presets", "list", "--json"]);
    let configs = cli(dir.path(), &["configs", "list", "--json"]);
    let bundle = cli(dir.path(), &["presets", "export", "--format", "bundle"]);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "a listing hung"
    );

    let presets_json = ok_json(&presets);
    assert!(presets_json["presets"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "good"));
    let configs_json = ok_json(&configs);
    assert_eq!(configs_json["configs"][0]["model_id"], "org/good");
    let bundle_json = ok_json(&bundle);
    assert!(
        bundle_json["presets"].get("good").is_some(),
        "{bundle_json}"
    );
    assert!(bundle_json["model_configs"].get("org/good").is_some());

    let listed: Vec<String> = [&presets_json, &configs_json]
        .iter()
        .flat_map(|j| j["unreadable"].as_array().unwrap().clone())
        .map(|u| {
            assert!(!u["reason"].as_str().unwrap().is_empty(), "{u}");
            u["path"].as_str().unwrap().to_string()
        })
        .collect();
    for entry in &made {
        assert!(
            listed.iter().any(|p| p.ends_with(entry.as_str())),
            "{entry} not reported in {listed:?}"
        );
        let name = entry.rsplit('/').next().unwrap();
        for out in [&presets, &configs, &bundle] {
            let err = stderr_of(out);
            assert!(
                err.lines()
                    .any(|l| l.contains(name) && l.contains("could not be read")),
                "{entry}: {err}"
            );
        }
    }
    let err = stderr_of(&presets);
    assert!(
        err.contains("a-dir.json could not be read (is a directory"),
        "{err}"
    );
    // Nothing was moved aside: these are not corrupt contents, and the user may want them where they are.
    for entry in &made {
        assert!(
            std::fs::symlink_metadata(dir.path().join("config").join(entry)).is_ok(),
            "{entry}"
        );
    }
}

#[test]
fn a_listing_with_nothing_unreadable_has_no_unreadable_key() {
    let dir = tempfile::tempdir().unwrap();
    assert_exit(
        &cli(dir.path(), &["presets", "duplicate", "int4", "good"]),
        0,
    );
    let list = ok_json(&cli(dir.path(), &["presets", "list", "--json"]));
    assert!(list.get("unreadable").is_none(), "{list}");
    let list = ok_json(&cli(dir.path(), &["configs", "list", "--json"]));
    assert!(list.get("unreadable").is_none(), "{list}");
}
