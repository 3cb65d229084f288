//! Recordings: a monitoring session on disk, as JSON Lines (one JSON value per line, UTF-8, `\n`-terminated).
//!
//! # Format (version 1)
//!
//! ```text
//! {"format":"headroom-monitor-recording","version":1,"source":"nvml","started_at":"2026-11-29T20:00:00Z","interval_ms":1000}
//! {"source":"nvml","taken_at":"2026-11-29T20:00:00Z","gpus":[…],"unavailable":[]}
//! {"source":"nvml","taken_at":"2026-11-29T20:00:01Z","gpus":[…],"unavailable":[]}
//! ```
//!
//! - Line 1 is the header: `format` is always `headroom-monitor-recording`; `version` is 1 (a reader refuses a
//!   newer one); `source` is the label of the source recorded (`nvml`, `fake:SCENARIO`, `replay:FILE`);
//!   `started_at` is RFC 3339 UTC; `interval_ms` is the memory sampling interval asked for.
//! - Every other line is one snapshot, exactly the object `headroom-cli monitor --once --json` prints
//!   (CONTRACTS.md §4), on one line, in time order. Memory is read at every line; the process list only every
//!   2 to 5 s, so `processes` on a line is the most recent list read (`null` only when the driver refused it).
//! - Each line is flushed as it is written, so a recording cut short (power loss, Ctrl-C) is readable up to its last
//!   complete line; a reader ignores an unterminated last line.
//!
//! CSV export writes one row per GPU per snapshot and one row per process per snapshot where the process list was
//! read: `taken_at,gpu,pid,name,used_bytes,total_bytes,reserved_bytes,free_bytes,utilization_percent,temperature_c,power_watts`,
//! empty cells for unknown values and for the columns that do not apply to a process row.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Snapshot, Timestamp};
use crate::fsio::{self, BoundedLines};
use crate::paths::AppPaths;
use crate::{Error, Result};

pub const FORMAT: &str = "headroom-monitor-recording";
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub format: String,
    pub version: u32,
    pub source: String,
    pub started_at: Timestamp,
    pub interval_ms: u64,
}

impl Header {
    pub fn new(source: String, started_at: Timestamp, interval_ms: u64) -> Self {
        Header {
            format: FORMAT.into(),
            version: VERSION,
            source,
            started_at,
            interval_ms,
        }
    }
}

/// Where the app keeps a named recording: `DATA_DIR/recordings/NAME.jsonl`; the name is checked with
/// [`crate::store::check_name`] so it cannot leave that folder.
pub fn recording_path(paths: &AppPaths, name: &str) -> Result<PathBuf> {
    crate::store::check_name("name", name)?;
    Ok(paths
        .data_dir
        .join("recordings")
        .join(format!("{name}.jsonl")))
}

/// Appends snapshots to a recording, one flushed line each.
pub struct Recorder {
    path: PathBuf,
    out: BufWriter<File>,
}

impl Recorder {
    /// Creates (or truncates) `path` and writes the header.
    pub fn create(path: &Path, header: &Header) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        let mut rec = Recorder {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
        };
        rec.line(header)?;
        Ok(rec)
    }

    pub fn write(&mut self, snapshot: &Snapshot) -> Result<()> {
        self.line(snapshot)
    }

    fn line(&mut self, value: &impl Serialize) -> Result<()> {
        let io = |e| Error::io(&self.path, e);
        serde_json::to_writer(&mut self.out, value).map_err(|e| Error::io(&self.path, e.into()))?;
        self.out.write_all(b"\n").map_err(io)?;
        self.out.flush().map_err(|e| Error::io(&self.path, e))
    }
}

/// Reads a recording line by line (it is never loaded whole: a 24 h recording of 8 GPUs is hundreds of MB).
pub struct Reader {
    path: PathBuf,
    lines: BoundedLines,
    header: Header,
}

impl Reader {
    pub fn open(path: &Path) -> Result<Self> {
        // A regular file only, each line bounded (crate::fsio): `replay:/dev/zero` or a file without newlines
        // must end in an error, not in memory exhaustion.
        let mut lines = BoundedLines::open(path, fsio::RECORDING_LINE)?;
        let corrupt = |reason: String| Error::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        let first = match lines.next_line()? {
            Some(line) => line,
            None => return Err(corrupt("empty file: not a Headroom recording".into())),
        };
        let header: Header = serde_json::from_str(&first)
            .map_err(|e| corrupt(format!("line 1 is not a recording header: {e}")))?;
        if header.format != FORMAT {
            return Err(corrupt(format!(
                "line 1: format is `{}`, not `{FORMAT}`",
                header.format
            )));
        }
        if header.version > VERSION {
            return Err(corrupt(format!(
                "recording version {} is newer than this Headroom understands ({VERSION})",
                header.version
            )));
        }
        Ok(Reader {
            path: path.to_path_buf(),
            lines,
            header,
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The next snapshot, `Ok(None)` at the end.
    pub fn next_snapshot(&mut self) -> Result<Option<Snapshot>> {
        loop {
            let Some(line) = self.lines.next_line()? else {
                return Ok(None);
            };
            if line.trim().is_empty() {
                continue;
            }
            let line_no = self.lines.line_no();
            match serde_json::from_str::<Snapshot>(&line) {
                Ok(s) => return Ok(Some(s)),
                // `lines()` cannot tell us whether the last line had its `\n`; a bad line that is also the last
                // one is the tail of an interrupted write, which the format says to ignore.
                Err(_) if self.lines_exhausted() => return Ok(None),
                Err(e) => {
                    return Err(Error::Corrupt {
                        path: self.path.clone(),
                        reason: format!("line {line_no}: {e}"),
                    })
                }
            }
        }
    }

    fn lines_exhausted(&mut self) -> bool {
        // Reading on is cheap because we are at a bad line; a line that cannot be read counts as more data.
        loop {
            match self.lines.next_line() {
                Ok(Some(l)) if l.trim().is_empty() => continue,
                Ok(None) => return true,
                Ok(Some(_)) | Err(_) => return false,
            }
        }
    }
}

/// Writes the CSV described in the module documentation from a recording, streaming.
pub fn export_csv(recording: &Path, out_path: &Path) -> Result<u64> {
    let mut reader = Reader::open(recording)?;
    // Streamed into a temporary file beside the target and renamed at the end, so a failed export leaves no
    // half-written CSV and a long recording is never held in memory.
    let tmp = out_path.with_extension("csv.partial");
    let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let mut out = BufWriter::new(file);
    let mut text = String::from(
        "taken_at,gpu,pid,name,used_bytes,total_bytes,reserved_bytes,free_bytes,utilization_percent,temperature_c,power_watts\n",
    );
    let mut rows = 0u64;
    while let Some(s) = reader.next_snapshot()? {
        for g in &s.gpus {
            let m = g.memory;
            text.push_str(&format!(
                "{},{},,{},{},{},{},{},{},{},{}\n",
                s.taken_at,
                g.index,
                csv_text(g.name.as_deref()),
                opt(m.used_bytes),
                opt(m.total_bytes),
                opt(m.reserved_bytes),
                opt(m.free_bytes),
                opt(g.utilization_percent),
                opt(g.temperature_c),
                opt(g.power_watts),
            ));
            rows += 1;
            for p in g.processes.iter().flatten() {
                text.push_str(&format!(
                    "{},{},{},{},{},,,,,,\n",
                    s.taken_at,
                    g.index,
                    p.pid,
                    csv_text(p.name.as_deref()),
                    opt(p.used_bytes)
                ));
                rows += 1;
            }
        }
        out.write_all(text.as_bytes())
            .map_err(|e| Error::io(&tmp, e))?;
        text.clear();
    }
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|e| Error::io(&tmp, e))?;
    drop(out);
    std::fs::rename(&tmp, out_path).map_err(|e| Error::io(out_path, e))?;
    Ok(rows)
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// RFC 4180 quoting: a field with a comma, quote or line break is quoted, quotes doubled.
fn csv_text(v: Option<&str>) -> String {
    match v {
        None => String::new(),
        Some(s) if s.contains([',', '"', '\n', '\r']) => format!("\"{}\"", s.replace('"', "\"\"")),
        Some(s) => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting() {
        assert_eq!(csv_text(Some("a,b")), "\"a,b\"");
        assert_eq!(csv_text(Some("say \"hi\"")), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_text(Some("plain")), "plain");
        assert_eq!(csv_text(None), "");
    }
}
