//! `headroom-cli run … -- COMMAND` with a stand-in training script (no GPU).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{assert_exit, cli_command, json_of as record, stderr_of};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/launch/fake_train.py"
);

fn cli_run(dir: &Path, vars: &[(&str, &str)], args: &[&str]) -> Command {
    let mut cmd = cli_command(dir);
    cmd.arg("run")
        .args(args)
        .args(["--", "python3", SCRIPT])
        .env_remove("PYTORCH_CUDA_ALLOC_CONF")
        .envs(vars.iter().copied());
    cmd
}

#[test]
fn run_relaunches_on_oom_and_exits_with_the_last_status() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli_run(
        dir.path(),
        &[("FAKE_OOM_PRESETS", "int8")],
        &[
            "--model",
            "org/m",
            "--chain",
            "int8,int4",
            "--predict",
            "int4=5000000000",
            "--json",
        ],
    )
    .output()
    .unwrap();
    assert_exit(&out, 0);
    let rec = record(&out);
    assert_eq!(rec["outcome"], "succeeded");
    assert_eq!(rec["attempts"].as_array().unwrap().len(), 2);
    assert_eq!(rec["attempts"][1]["preset"], "int4");
    assert_eq!(rec["attempts"][1]["predicted_peak_bytes"], 5_000_000_000u64);
    assert_eq!(
        rec["attempts"][1]["measured_peak_bytes"],
        serde_json::Value::Null
    );
    let err = stderr_of(&out);
    assert!(err.contains("attempt 1 died of CUDA out of memory (tried to allocate 1.22 GiB); relaunching with int4"), "{err}");

    // Every preset OOMs: the status of the last attempt.
    let out = cli_run(
        dir.path(),
        &[("FAKE_OOM_PRESETS", "int8,int4")],
        &["--model", "org/m", "--chain", "int8,int4"],
    )
    .output()
    .unwrap();
    assert_exit(&out, 1);
    assert!(stderr_of(&out).contains("every preset of the chain"));

    // Not OOM: one attempt only.
    let out = cli_run(
        dir.path(),
        &[("FAKE_MODE", "crash")],
        &["--model", "org/m", "--json"],
    )
    .output()
    .unwrap();
    assert_exit(&out, 1);
    let rec = record(&out);
    assert_eq!(rec["outcome"], "failed");
    assert_eq!(rec["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(
        rec["chain"],
        serde_json::json!(["fp16", "int8", "int4", "int4_double", "int4_offload"])
    );

    // Bad input: status 2, the field named.
    let out = cli_run(
        dir.path(),
        &[],
        &["--model", "org/m", "--chain", "fp16,int3"],
    )
    .output()
    .unwrap();
    assert_exit(&out, 2);
    assert!(stderr_of(&out).contains("chain: unknown preset \"int3\""));
    let out = cli_run(dir.path(), &[], &["--model", "org/m", "--profile", "nope"])
        .output()
        .unwrap();
    assert_exit(&out, 2);
}

#[test]
fn ctrl_c_cancels_the_whole_tree() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("grandchild.pid");
    let mut child = cli_run(
        dir.path(),
        &[
            ("FAKE_MODE", "hang"),
            ("FAKE_PID_FILE", pid_file.to_str().unwrap()),
        ],
        &["--model", "org/m", "--kill-grace-s", "2"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let line = lines.next().expect("output ended before ready").unwrap();
        if line == "ready" {
            break;
        }
        assert!(Instant::now() < deadline);
    }
    let grandchild: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    // Python dies of the SIGTERM the cancel sent: 128 + 15.
    assert_eq!(status.code(), Some(143));
    let deadline = Instant::now() + Duration::from_secs(5);
    let gone = |pid: u32| match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    };
    while !gone(grandchild) {
        assert!(
            Instant::now() < deadline,
            "grandchild {grandchild} survived Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn run_ids(dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(dir.join("data/runs"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

fn run_json(dir: &Path, run_id: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join(format!("data/runs/{run_id}/run.json"))).unwrap();
    serde_json::from_str::<serde_json::Value>(&text).unwrap()["data"].clone()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

/// Start `headroom-cli run` on a command that prints "ready" and then sleeps, wait for "ready", SIGKILL the
/// CLI. Returns the run's id and the pid of the training process it left behind.
fn kill_cli_mid_run(dir: &Path) -> (String, u32) {
    let before = run_ids(dir);
    let mut cli = cli_command(dir)
        .args(["run", "--model", "org/m", "--chain", "fp16", "--"])
        .args(["bash", "-c", "echo ready; exec sleep 300"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(cli.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let killed = Command::new("kill")
        .args(["-KILL", &cli.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    cli.wait().unwrap();
    let run_id = run_ids(dir)
        .into_iter()
        .find(|id| !before.contains(id))
        .expect("the killed CLI made a run");
    let record = run_json(dir, &run_id);
    assert_eq!(record["outcome"], serde_json::Value::Null);
    let pid = record["running"]["pid"]
        .as_u64()
        .expect("the attempt's pid on disk") as u32;
    (run_id, pid)
}

#[test]
fn a_run_whose_cli_was_killed_is_marked_interrupted_by_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    // The training outlives its launcher.
    let (run_id, training) = kill_cli_mid_run(dir.path());
    assert!(alive(training));

    let out = cli_run(dir.path(), &[], &["--model", "org/m", "--chain", "fp16"])
        .output()
        .unwrap();
    let _ = Command::new("kill")
        .args(["-KILL", &training.to_string()])
        .status();
    assert_exit(&out, 0);
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!("run {run_id} was interrupted"))
            && err.contains(&format!("its process {training} is still running")),
        "{err}"
    );
    let record = run_json(dir.path(), &run_id);
    assert_eq!(record["outcome"], "interrupted");
    assert_eq!(record["interruption"]["process"]["pid"], training);
    assert_eq!(record["interruption"]["process_alive"], true);

    // Marked once: the next start says nothing more about it.
    let out = cli_run(dir.path(), &[], &["--model", "org/m", "--chain", "fp16"])
        .output()
        .unwrap();
    assert!(
        !stderr_of(&out).contains("interrupted"),
        "{}",
        stderr_of(&out)
    );

    // The training died with (or after) its launcher: said so.
    let (run_id, training) = kill_cli_mid_run(dir.path());
    Command::new("kill")
        .args(["-KILL", &training.to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(training) {
        assert!(Instant::now() < deadline, "{training} did not die");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = cli_run(dir.path(), &[], &["--model", "org/m", "--chain", "fp16"])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!("run {run_id} was interrupted"))
            && err.contains(&format!("its process {training} is no longer running")),
        "{err}"
    );
    assert_eq!(
        run_json(dir.path(), &run_id)["interruption"]["process_alive"],
        false
    );
}

#[test]
fn setsid_grandchildren_die_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/launch/setsid_tree.sh"
    );
    let mut cli = cli_command(dir.path())
        .args([
            "run",
            "--model",
            "org/m",
            "--chain",
            "fp16",
            "--kill-grace-s",
            "2",
            "--",
            script,
        ])
        .env("SETSID_PID_DIR", dir.path())
        .env("SETSID_MODE", "hang")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(cli.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let pids: Vec<u32> = ["direct", "orphan", "daemon"]
        .iter()
        .map(|n| {
            std::fs::read_to_string(dir.path().join(format!("{n}.pid")))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        })
        .collect();
    Command::new("kill")
        .args(["-INT", &cli.id().to_string()])
        .status()
        .unwrap();
    cli.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|p| alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let survivors: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
    for pid in &survivors {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    assert!(survivors.is_empty(), "survived Ctrl-C: {survivors:?}");
}

const RELAUNCH_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/launch/relaunch_train.py"
);

#[test]
fn run_halves_the_micro_batch_down_the_chain_and_refuses_a_step_that_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = cli_command(dir.path());
    cmd.args([
        "run",
        "--model",
        "org/m",
        "--chain",
        "fp16,mb/2",
        "--micro-batch",
        "4",
        "--json",
    ])
    .args([
        "--",
        "python3",
        RELAUNCH_SCRIPT,
        "--micro_batch",
        "{micro_batch}",
        "--grad_accum",
        "{grad_accum}",
    ])
    .env("FAKE_MAX_MICRO_BATCH", "2");
    let out = cmd.output().unwrap();
    assert_exit(&out, 0);
    let rec = record(&out);
    let attempts = rec["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(
        (
            attempts[1]["micro_batch"].as_u64(),
            attempts[1]["grad_accum"].as_u64()
        ),
        (Some(2), Some(2))
    );
    assert_eq!(attempts[0]["next"]["micro_batch"], 2);
    let err = stderr_of(&out);
    assert!(
        err.contains("relaunching with fp16 at micro-batch 2 × accumulation 2"),
        "{err}"
    );

    // An odd micro-batch cannot be halved without changing the global batch: refused before anything runs.
    let mut cmd = cli_command(dir.path());
    cmd.args([
        "run",
        "--model",
        "org/m",
        "--chain",
        "fp16,mb/2",
        "--micro-batch",
        "3",
    ])
    .args(["--", "python3", RELAUNCH_SCRIPT]);
    let out = cmd.output().unwrap();
    assert_exit(&out, 2);
    let err = stderr_of(&out);
    assert!(err.contains("chain[1]") && err.contains("odd"), "{err}");
}

#[test]
fn run_starts_at_the_first_step_the_estimate_says_fits_unless_pinned() {
    // Qwen3-32B LoRA at micro-batch 1 × 512 on a 40 GiB GPU: 16-bit weights alone are 61 GiB, 4-bit about 17.
    let dir = tempfile::tempdir().unwrap();
    let set = super::cli(
        dir.path(),
        &[
            "configs",
            "set",
            "Qwen/Qwen3-32B",
            "--preset",
            "fp16",
            "--task",
            "train",
            "--method",
            "lora",
        ],
    );
    assert_exit(&set, 0);
    let run = |extra: &[&str]| {
        let mut cmd = cli_command(dir.path());
        cmd.args([
            "run",
            "--model",
            "Qwen/Qwen3-32B",
            "--chain",
            "fp16,int4",
            "--micro-batch",
            "1",
            "--sequence-length",
            "512",
            "--gpu-memory-gib",
            "40",
            "--json",
        ])
        .args(extra)
        .args(["--", "python3", RELAUNCH_SCRIPT]);
        cmd.output().unwrap()
    };
    let out = run(&[]);
    assert_exit(&out, 0);
    let rec = record(&out);
    assert_eq!(rec["attempts"].as_array().unwrap().len(), 1, "{rec}");
    assert_eq!(rec["attempts"][0]["preset"], "int4");
    assert_eq!(rec["start"]["skipped"][0]["preset"], "fp16");
    let err = stderr_of(&out);
    assert!(err.contains("fp16 skipped: needs"), "{err}");
    // The run trains at the length it was given: handed over for the Monitor's estimates.
    assert_eq!(
        rec["attempts"][0]["environment"]["HEADROOM_SEQUENCE_LENGTH"],
        "512"
    );

    let pinned = record(&run(&["--pin-start"]));
    assert_eq!(pinned["attempts"][0]["preset"], "fp16");
    assert_eq!(pinned["start"]["pinned"], true);

    // A length without a batch cannot be estimated: said before anything runs.
    let mut cmd = cli_command(dir.path());
    cmd.args([
        "run",
        "--model",
        "Qwen/Qwen3-32B",
        "--sequence-length",
        "512",
        "--",
        "python3",
        RELAUNCH_SCRIPT,
    ]);
    let out = cmd.output().unwrap();
    assert_exit(&out, 2);
    assert!(
        stderr_of(&out).contains("batch_size"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn run_with_a_plan_sizes_every_step_by_the_plan_and_trains_at_its_batch_and_length() {
    // Qwen3-32B LoRA on 48 GiB GPUs: 16-bit weights alone are 61 GiB, so fp16 does not fit one GPU, but the
    // plan shards them over four (FSDP full shard). No saved config: the plan says the task and method.
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json");
    let write_plan = |sharding: &str, count: u64| {
        std::fs::write(
            &plan,
            serde_json::json!({
                "model": {"id": "Qwen/Qwen3-32B"}, "task": "train", "method": "lora",
                "precision": "bf16-true", "gradient_checkpointing": true,
                "batch_size": 2, "gradient_accumulation_steps": 4, "sequence_length": 512,
                "gpus": {"count": count, "memory_gib": 48}, "sharding": sharding
            })
            .to_string(),
        )
        .unwrap();
    };
    let run = |extra: &[&str]| {
        let mut cmd = cli_command(dir.path());
        cmd.args([
            "run",
            "--model",
            "Qwen/Qwen3-32B",
            "--chain",
            "fp16,int4",
            "--json",
        ])
        .args(extra)
        .args(["--", "python3", RELAUNCH_SCRIPT]);
        cmd.output().unwrap()
    };
    let plan_arg = plan.to_str().unwrap();

    write_plan("fsdp_full_shard", 4);
    let out = run(&["--plan", plan_arg]);
    assert_exit(&out, 0);
    let rec = record(&out);
    assert_eq!(rec["attempts"][0]["preset"], "fp16", "{rec}");
    assert!(
        rec["start"]["skipped"]
            .as_array()
            .is_none_or(|s| s.is_empty()),
        "{rec}"
    );
    // The plan's batch, accumulation and length are what the run is told it trains at.
    let env = &rec["attempts"][0]["environment"];
    assert_eq!(env["HEADROOM_MICRO_BATCH"], "2", "{rec}");
    assert_eq!(env["HEADROOM_GRAD_ACCUM"], "4", "{rec}");
    assert_eq!(env["HEADROOM_SEQUENCE_LENGTH"], "512", "{rec}");

    // The same plan on one GPU skips fp16, as the flags alone would.
    write_plan("none", 1);
    let rec = record(&run(&["--plan", plan_arg]));
    assert_eq!(rec["attempts"][0]["preset"], "int4", "{rec}");
    assert_eq!(rec["start"]["skipped"][0]["preset"], "fp16", "{rec}");
    // The flags win over the plan: a 200 GiB GPU fits fp16 again.
    let rec = record(&run(&["--plan", plan_arg, "--gpu-memory-gib", "200"]));
    assert_eq!(rec["attempts"][0]["preset"], "fp16", "{rec}");

    // A plan for another model, or with a bad key, is refused before anything runs, naming the key.
    std::fs::write(
        &plan,
        r#"{"model": {"id": "Qwen/Qwen3-8B"}, "task": "train"}"#,
    )
    .unwrap();
    let out = run(&["--plan", plan_arg]);
    assert_exit(&out, 2);
    assert!(
        stderr_of(&out).contains("plan.model"),
        "{}",
        stderr_of(&out)
    );
    std::fs::write(&plan, r#"{"task": "train", "batch_size": 0}"#).unwrap();
    let out = run(&["--plan", plan_arg]);
    assert_exit(&out, 2);
    assert!(
        stderr_of(&out).contains("plan.batch_size"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("data/runs"))
            .unwrap()
            .count(),
        3,
        "the refused runs left no record"
    );
}
