//! The environment of a running process, from `/proc/PID/environ` (proc(5)): `NAME=value` entries separated
//! by NUL bytes, as the process was started (later `setenv` calls inside it are not visible). Only the
//! process's owner (or root) may read it.

use std::path::Path;

use super::doctor::{diagnose, Report};
use super::profile::Profile;
use super::EnvMap;
use crate::message::{Key, Message};
use crate::{Error, Result};

/// Read process `pid`'s environment under `proc_root` (`/proc` on Linux; a directory of fakes in tests).
pub fn read_environ(proc_root: &Path, pid: u32) -> Result<EnvMap> {
    let path = proc_root.join(pid.to_string()).join("environ");
    match std::fs::read(&path) {
        Ok(bytes) => Ok(parse_environ(&bytes)),
        Err(e) => Err(read_error(path, pid, e)),
    }
}

/// Say why the environment could not be read in terms of the process, not of the file.
fn read_error(path: std::path::PathBuf, pid: u32, e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            Error::invalid_msg("pid", Message::new(Key::InvalidEnvNoRunningProcessId).text("pid", pid.to_string()))
        }
        std::io::ErrorKind::PermissionDenied => Error::Denied {
            path,
            reason: format!(
                "process {pid} belongs to another user; only its owner or root may read its environment"
            ),
        },
        _ => Error::io(path, e),
    }
}

/// The doctor's report on one running process, or why its environment could not be read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct ProcessReport {
    pub pid: u32,
    pub report: Option<Report>,
    pub error: Option<String>,
}

/// Check each process of `pids` (the GPU processes the monitor lists) against `profile`. One process that
/// cannot be read (another user's, already gone) does not stop the others: its entry says why.
pub fn diagnose_processes(
    proc_root: &Path,
    pids: &[u32],
    profile: Option<&Profile>,
) -> Vec<ProcessReport> {
    pids.iter()
        .map(|&pid| match read_environ(proc_root, pid) {
            Ok(env) => ProcessReport {
                pid,
                report: Some(diagnose(&env, profile)),
                error: None,
            },
            Err(e) => ProcessReport {
                pid,
                report: None,
                error: Some(e.to_string()),
            },
        })
        .collect()
}

/// Split NUL-separated `NAME=value` entries; an entry without `=` is not a variable and is skipped. Values
/// that are not UTF-8 are kept with replacement characters rather than dropped.
pub fn parse_environ(bytes: &[u8]) -> EnvMap {
    bytes
        .split(|b| *b == 0)
        .filter(|entry| !entry.is_empty())
        .filter_map(|entry| {
            let text = String::from_utf8_lossy(entry);
            let (name, value) = text.split_once('=')?;
            (!name.is_empty()).then(|| (name.to_owned(), value.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Whether the test user may read another process's environ depends on the machine (root, ptrace
    // policy), so the mapping itself is checked here; tests/core/env.rs reads real processes.
    #[test]
    fn permission_denied_says_whose_process_it_is() {
        let err = read_error(
            "/proc/1/environ".into(),
            1,
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        );
        assert!(matches!(err, Error::Denied { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("permission denied") && text.contains("another user"),
            "{text}"
        );
    }
}
