//! Runs started through `torchrun` (`python -m torch.distributed.run`) or `accelerate launch`: several ranks
//! under one launcher process, all in the attempt's process group.
//!
//! - torchelastic restarts a failed worker group up to `--max-restarts` times on its own; stacked under the
//!   launcher's relaunch, an OOM would be retried with the same preset first. The launcher passes
//!   `--max-restarts=0` (torchrun; `--max_restarts=0` for accelerate), rewriting a value the user gave, and
//!   sets `PET_MAX_RESTARTS=0` (torchrun reads its options from `PET_<NAME>` when not given).
//! - A rank that dies of OOM leaves the others waiting in an NCCL collective, which may never return: once an
//!   OOM shows in any rank's output, the launcher gives the group its kill grace to end on its own, then stops
//!   it (SIGTERM, SIGKILL after the grace) and relaunches.
//! - torchelastic writes the failed rank's exception (the `@record` decorator) to `TORCHELASTIC_ERROR_FILE` as
//!   `{"message": {"message": "OutOfMemoryError: CUDA out of memory...", "extraInfo": {"py_callstack": ...}}}`;
//!   the launcher points it into the run folder and reads it when the output had no OOM marker (a rank that
//!   logs to a file of its own with `--redirects`).

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The variable torchelastic writes the failed rank's error to.
pub const ERROR_FILE_VAR: &str = "TORCHELASTIC_ERROR_FILE";
/// torchrun's `--max-restarts` from the environment (`torch/distributed/argparse_util.py`, `env` action).
pub const MAX_RESTARTS_VAR: &str = "PET_MAX_RESTARTS";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum DistributedLauncher {
    Torchrun,
    Accelerate,
}

/// What the record says about a distributed run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct DistributedRun {
    pub launcher: DistributedLauncher,
    /// The argument that keeps the launcher from restarting on its own, as passed (`--max-restarts=0`).
    pub max_restarts_arg: String,
    /// The user's own value the launcher replaced (`--max-restarts 3`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub replaced: Option<String>,
}

fn basename(program: &str) -> &str {
    program.rsplit('/').next().unwrap_or(program)
}

/// Which distributed launcher `argv` starts, and where its own options begin.
pub fn detect(argv: &[String]) -> Option<(DistributedLauncher, usize)> {
    let program = basename(argv.first()?);
    if program == "torchrun" {
        return Some((DistributedLauncher::Torchrun, 1));
    }
    if program == "accelerate" && argv.get(1).map(String::as_str) == Some("launch") {
        return Some((DistributedLauncher::Accelerate, 2));
    }
    if program.starts_with("python") {
        let module = argv.iter().position(|a| a == "-m")?;
        let name = argv.get(module + 1)?;
        if name == "torch.distributed.run" || name == "torch.distributed.launch" {
            return Some((DistributedLauncher::Torchrun, module + 2));
        }
    }
    None
}

/// `argv` with the launcher's own restarts turned off, and what the record says about it; `None` for a
/// command that is not a distributed launch. Only the launcher's options are looked at: they end at the first
/// argument naming the script (`*.py`) or a module (`-m`).
pub fn without_restarts(argv: &[String]) -> Option<(Vec<String>, DistributedRun)> {
    let (launcher, options_at) = detect(argv)?;
    let flag = match launcher {
        DistributedLauncher::Torchrun => "--max-restarts",
        DistributedLauncher::Accelerate => "--max_restarts",
    };
    let ours = format!("{flag}=0");
    let mut out = argv.to_vec();
    let mut replaced = None;
    let mut i = options_at;
    let mut found = false;
    while i < out.len() {
        let arg = out[i].clone();
        if arg.ends_with(".py") || arg == "-m" || arg == "--module" || arg == "--" {
            break;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_string(), Some(value.to_string())),
            None => (arg.clone(), None),
        };
        if name == "--max-restarts" || name == "--max_restarts" {
            found = true;
            let value = inline.clone().or_else(|| out.get(i + 1).cloned());
            if value.as_deref() != Some("0") {
                replaced = Some(match &inline {
                    Some(_) => arg.clone(),
                    None => format!("{arg} {}", value.unwrap_or_default()),
                });
                if inline.is_none() && i + 1 < out.len() {
                    out.remove(i + 1);
                }
                out[i] = ours.clone();
            }
        }
        i += 1;
    }
    if !found {
        out.insert(options_at, ours.clone());
    }
    Some((
        out,
        DistributedRun {
            launcher,
            max_restarts_arg: ours,
            replaced,
        },
    ))
}

/// The lines of the error torchelastic wrote (its message and the rank's Python call stack), for the OOM
/// scanner; none when there is no readable file.
pub fn error_file_lines(path: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Vec::new();
    };
    let message = &value["message"];
    let mut texts = Vec::new();
    match message {
        serde_json::Value::String(s) => texts.push(s.clone()),
        serde_json::Value::Object(_) => {
            for part in [&message["message"], &message["extraInfo"]["py_callstack"]] {
                if let Some(s) = part.as_str() {
                    texts.push(s.to_string());
                }
            }
        }
        _ => {}
    }
    texts
        .iter()
        .flat_map(|t| t.lines().map(str::to_string).collect::<Vec<_>>())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn torchrun_gets_no_restarts_of_its_own() {
        let (out, run) =
            without_restarts(&argv(&["torchrun", "--nproc-per-node", "2", "train.py"])).unwrap();
        assert_eq!(
            out,
            argv(&[
                "torchrun",
                "--max-restarts=0",
                "--nproc-per-node",
                "2",
                "train.py"
            ])
        );
        assert_eq!(run.launcher, DistributedLauncher::Torchrun);
        assert_eq!(run.replaced, None);

        let (out, run) = without_restarts(&argv(&[
            "python3",
            "-m",
            "torch.distributed.run",
            "--max_restarts",
            "3",
            "train.py",
            "--max_restarts",
            "9",
        ]))
        .unwrap();
        assert_eq!(
            out,
            argv(&[
                "python3",
                "-m",
                "torch.distributed.run",
                "--max-restarts=0",
                "train.py",
                "--max_restarts",
                "9"
            ])
        );
        assert_eq!(run.replaced.as_deref(), Some("--max_restarts 3"));
    }

    #[test]
    fn accelerate_launch_is_distributed_and_plain_python_is_not() {
        let (out, run) = without_restarts(&argv(&["accelerate", "launch", "train.py"])).unwrap();
        assert_eq!(
            out,
            argv(&["accelerate", "launch", "--max_restarts=0", "train.py"])
        );
        assert_eq!(run.launcher, DistributedLauncher::Accelerate);
        assert!(without_restarts(&argv(&["python3", "train.py"])).is_none());
        assert!(without_restarts(&argv(&["python3", "-m", "mymod"])).is_none());
    }

    #[test]
    fn the_error_file_message_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("error.json");
        std::fs::write(
            &path,
            r#"{"message": {"message": "OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB.", "extraInfo": {"py_callstack": "Traceback\n  line", "timestamp": "1"}}}"#,
        )
        .unwrap();
        let lines = error_file_lines(&path);
        assert!(lines[0].contains("CUDA out of memory"));
        assert_eq!(lines.len(), 3);
        assert!(error_file_lines(&dir.path().join("absent.json")).is_empty());
    }
}
