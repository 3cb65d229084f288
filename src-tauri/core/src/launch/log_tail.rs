//! The end of an attempt's log, as the Runs view shows it: the last [`LOG_TAIL_BYTES`], from a whole line.

use std::io::{Read, Seek, SeekFrom};

use serde::Serialize;

use super::history;
use crate::paths::AppPaths;
use crate::{fsio, Error, Result};

/// How much of a log's end the view shows: enough for the traceback of an out-of-memory error.
pub const LOG_TAIL_BYTES: u64 = 64 * 1024;

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct LogTail {
    pub text: String,
    /// True when the log is longer than what is shown (the start is cut).
    pub truncated: bool,
}

/// The last [`LOG_TAIL_BYTES`] of attempt `attempt` of run `run_id`, starting at a whole line.
pub fn log_tail(paths: &AppPaths, run_id: &str, attempt: u32) -> Result<LogTail> {
    let (record, _) = history::load(paths, run_id)?;
    let Some(found) = record.attempts.iter().find(|a| a.index == attempt) else {
        return Err(Error::invalid(
            "attempt",
            format!("run {run_id} has no attempt {attempt}"),
        ));
    };
    let path = &found.log_file;
    // The record names the log file and can be edited: open it as any user file (regular files only).
    let mut file = fsio::open(path)?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let start = len.saturating_sub(LOG_TAIL_BYTES);
    file.seek(SeekFrom::Start(start))
        .map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if start > 0 {
        // Start at a whole line.
        if let Some(newline) = text.find('\n') {
            text.drain(..=newline);
        }
    }
    Ok(LogTail {
        text,
        truncated: start > 0,
    })
}
