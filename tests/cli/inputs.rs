//! Every file a user hands the CLI is read one way (headroom_core::fsio, issue 11 items 3 and 4): a FIFO, a
//! device or a directory is refused by name, and each kind of file has a size limit. Each command runs under a
//! deadline, so a regression that hangs on a FIFO fails the test instead of hanging the suite.

use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use super::{cli_command, stderr_of};

const DEADLINE: Duration = Duration::from_secs(20);

/// Run the CLI in `dir` with `stdin`, killing it and failing the test if it is still running after [`DEADLINE`].
fn cli_within(dir: &Path, args: &[&str], stdin: Stdio) -> Output {
    let mut child = cli_command(dir)
        .args(args)
        .env("HF_HUB_CACHE", dir.join("hub"))
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run headroom-cli");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait for headroom-cli").is_some() {
            return child.wait_with_output().expect("collect its output");
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("headroom-cli {args:?} still running after {DEADLINE:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn cli_in(dir: &Path, args: &[&str]) -> Output {
    cli_within(dir, args, Stdio::null())
}

/// A real named pipe, with no writer: opening it for reading without O_NONBLOCK blocks forever.
fn mkfifo(path: &Path) -> PathBuf {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a file system entry.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(rc, 0, "mkfifo {}", path.display());
    path.to_path_buf()
}

/// Exit 2 with one stderr line naming `path` and containing `what`.
#[track_caller]
fn refused(out: &Output, path: &str, what: &str) {
    let err = stderr_of(out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains(path), "{err} does not name {path}");
    assert!(err.contains(what), "{err} does not say {what:?}");
}

#[test]
fn a_fifo_given_on_the_command_line_is_refused_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = mkfifo(&dir.path().join("input.json"));
    let f = fifo.to_str().unwrap();
    let replay = format!("replay:{f}");
    for args in [
        vec!["estimate", "--plan", f],
        vec!["presets", "import", f],
        vec!["configs", "set", "llama-8b", "--file", f],
        vec!["env", "doctor", "--file", f],
        vec!["env", "save", "mine", "--file", f],
        vec!["monitor", "--once", "--source", &replay],
        vec!["monitor", "export", f, "--csv", "out.csv"],
    ] {
        let out = cli_in(dir.path(), &args);
        refused(&out, f, "is a named pipe (FIFO), not a regular file");
    }
}

#[test]
fn a_fifo_among_the_stored_files_is_refused_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::create_dir_all(config.join("presets")).unwrap();
    std::fs::create_dir_all(config.join("model-configs")).unwrap();
    let preset = mkfifo(&config.join("presets/mine.json"));
    let model_config = mkfifo(&config.join("model-configs/llama-8b.json"));
    let out = cli_in(dir.path(), &["presets", "show", "mine"]);
    refused(&out, preset.to_str().unwrap(), "named pipe");
    for args in [
        vec!["configs", "show", "llama-8b"],
        vec!["configs", "set", "llama-8b", "--notes", "x"],
        vec!["run", "--model", "llama-8b", "--", "true"],
    ] {
        let out = cli_in(dir.path(), &args);
        refused(&out, model_config.to_str().unwrap(), "named pipe");
    }
}

#[test]
fn models_show_refuses_a_fifo_in_the_model_folder() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    std::fs::create_dir_all(&model).unwrap();
    std::fs::write(
        model.join("config.json"),
        r#"{"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
            "intermediate_size": 128, "vocab_size": 100, "torch_dtype": "bfloat16"}"#,
    )
    .unwrap();
    let m = model.to_str().unwrap();
    for name in [
        "model.safetensors",
        "model.safetensors.index.json",
        "config.json",
    ] {
        let path = model.join(name);
        let _ = std::fs::remove_file(&path);
        mkfifo(&path);
        let out = cli_in(dir.path(), &["models", "show", m]);
        refused(&out, path.to_str().unwrap(), "named pipe");
        std::fs::remove_file(&path).unwrap();
    }
    // A shard found by listing the folder (no index, no model.safetensors) is opened the same way.
    let shard = mkfifo(&model.join("model-00001-of-00002.safetensors"));
    std::fs::write(
        model.join("config.json"),
        r#"{"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
            "intermediate_size": 128, "vocab_size": 100}"#,
    )
    .unwrap();
    let out = cli_in(dir.path(), &["models", "show", m]);
    refused(&out, shard.to_str().unwrap(), "named pipe");
}

#[test]
fn dev_zero_is_refused_as_a_device() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["estimate", "--plan", "/dev/zero"],
        vec!["presets", "import", "/dev/zero", "--name", "z"],
        vec!["configs", "set", "llama-8b", "--file", "/dev/zero"],
        vec!["env", "doctor", "--file", "/dev/zero"],
        vec!["monitor", "--once", "--source", "replay:/dev/zero"],
    ] {
        let out = cli_in(dir.path(), &args);
        refused(
            &out,
            "/dev/zero",
            "is a character device, not a regular file",
        );
    }
}

#[test]
fn a_directory_is_refused_as_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = cli_in(dir.path(), &["estimate", "--plan", d]);
    refused(&out, d, "is a directory");
}

#[test]
fn an_endless_stdin_stops_at_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    for (args, limit) in [
        (
            vec!["estimate", "--plan", "-"],
            "more than 1 MiB (1048576 bytes), the limit for a plan",
        ),
        (
            vec!["presets", "import", "-", "--name", "z"],
            "more than 16 MiB (16777216 bytes), the limit for a preset file or bundle to import",
        ),
    ] {
        let zero = std::fs::File::open("/dev/zero").unwrap();
        let out = cli_within(dir.path(), &args, Stdio::from(zero));
        refused(&out, "stdin", limit);
    }
}

#[test]
fn an_oversized_plan_file_is_refused_with_its_size_and_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json");
    // Valid JSON padded with whitespace: only the size is wrong.
    let mut text = br#"{"model": {"id": "llama-8b"}, "task": "train"}"#.to_vec();
    text.resize(2 << 20, b' ');
    std::fs::write(&plan, &text).unwrap();
    let out = cli_in(dir.path(), &["estimate", "--plan", plan.to_str().unwrap()]);
    refused(
        &out,
        plan.to_str().unwrap(),
        "2097152 bytes is larger than the 1 MiB (1048576 bytes) limit for a plan",
    );
}

#[test]
fn a_recording_line_past_its_limit_is_refused_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec.jsonl");
    let mut file = std::fs::File::create(&rec).unwrap();
    writeln!(
        file,
        r#"{{"format":"headroom-monitor-recording","version":1,"source":"nvml","started_at":"2026-11-29T20:00:00Z","interval_ms":1000}}"#
    )
    .unwrap();
    // 17 MiB without a newline: the reader must stop at 16 MiB instead of holding the whole line.
    file.write_all(&vec![b' '; 17 << 20]).unwrap();
    drop(file);
    let source = format!("replay:{}", rec.display());
    let out = cli_in(dir.path(), &["monitor", "--once", "--source", &source]);
    refused(
        &out,
        rec.to_str().unwrap(),
        "line 2 is longer than 16 MiB (16777216 bytes), the limit for one line of a recording",
    );
}
