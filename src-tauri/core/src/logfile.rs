//! Log files that never grow past a bound.
//!
//! - [`SizeBoundedFile`] (the app's own log): when a write would take it over `max_bytes`, the file is renamed
//!   to `NAME.1` (replacing the previous one) and a new file is started. At most twice the bound is ever on
//!   disk.
//! - [`HeadTailLog`] (an attempt's output): one file holding the first quarter of the bound and a rolling
//!   tail, with a marker line between them saying how many bytes were dropped. The start says what ran; the
//!   end says how it died (a CUDA OOM traceback is the last thing a program prints).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

pub struct SizeBoundedFile {
    path: PathBuf,
    file: File,
    written: u64,
    max_bytes: u64,
}

impl SizeBoundedFile {
    pub fn open(path: &Path, max_bytes: u64) -> Result<Self> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        let written = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(SizeBoundedFile {
            path: path.to_path_buf(),
            file,
            written,
            max_bytes: max_bytes.max(1),
        })
    }

    fn rotate(&mut self) -> io::Result<()> {
        let mut old = self.path.clone().into_os_string();
        old.push(".1");
        fs::rename(&self.path, PathBuf::from(old))?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.written = 0;
        Ok(())
    }
}

impl Write for SizeBoundedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written > 0 && self.written + buf.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        let n = self.file.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// The marker line's length: its count is padded to a fixed width, so it is rewritten in place.
const MARKER_BYTES: u64 = 160;
/// The smallest bound [`HeadTailLog`] accepts: room for a head, the marker and two tail chunks.
pub const MIN_HEAD_TAIL_BYTES: u64 = 4096;

/// An attempt's log: never more than `max_bytes` on disk. Writes go straight to the file (nothing is lost if
/// the launcher dies), so the file is always readable as it stands.
///
/// Layout: the head (the first `max_bytes / 4`), then, once something had to go, the marker line, then the
/// tail: at most two chunks of half the remaining room each. When the newer chunk is full, the older one is
/// dropped and the newer one copied down in its place, so each byte of output is written at most twice and
/// the last chunk's worth of output (at least `(max_bytes * 3 / 4 - 160) / 2` bytes) is always kept. Each
/// `write` is kept or dropped whole (but for one longer than a chunk, cut from its start): a caller that
/// writes one line per call gets whole lines and a marker on its own line.
pub struct HeadTailLog {
    file: File,
    path: PathBuf,
    head_cap: u64,
    chunk_cap: u64,
    /// Bytes in the file.
    len: u64,
    /// Where the head ends, once it is full.
    head_end: Option<u64>,
    /// Bytes of the older tail chunk, on disk after the head (and the marker, once written).
    older: u64,
    /// The newer tail chunk, on disk after the older one, kept to be copied down.
    newer: Vec<u8>,
    dropped: u64,
}

impl HeadTailLog {
    /// Create (or truncate) the log at `path`.
    pub fn create(path: &Path, max_bytes: u64) -> Result<Self> {
        if max_bytes < MIN_HEAD_TAIL_BYTES {
            return Err(Error::invalid(
                "log_limit_bytes",
                format!("{max_bytes} is below the smallest log bound, {MIN_HEAD_TAIL_BYTES} bytes"),
            ));
        }
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        let head_cap = max_bytes / 4;
        Ok(HeadTailLog {
            file,
            path: path.to_path_buf(),
            head_cap,
            chunk_cap: (max_bytes - head_cap - MARKER_BYTES) / 2,
            len: 0,
            head_end: None,
            older: 0,
            newer: Vec::new(),
            dropped: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of output left out so far.
    pub fn dropped_bytes(&self) -> u64 {
        self.dropped
    }

    fn marker(&self) -> Vec<u8> {
        let text = format!(
            "[headroom: {} bytes of output dropped here; the log keeps the first {} and the last {} to {} bytes]",
            self.dropped,
            self.head_cap,
            self.chunk_cap,
            2 * self.chunk_cap
        );
        let mut line = text.into_bytes();
        let width = usize::try_from(MARKER_BYTES).unwrap_or(160) - 1;
        line.truncate(width);
        line.resize(width, b' ');
        line.push(b'\n');
        line
    }

    /// Drop the whole tail, leaving the head and the marker.
    fn clear_tail(&mut self) -> io::Result<()> {
        let head_end = self.head_end.unwrap_or(self.len);
        self.dropped += self.older + self.newer.len() as u64;
        self.older = 0;
        self.newer.clear();
        self.file.write_all_at(&self.marker(), head_end)?;
        self.len = head_end + MARKER_BYTES;
        self.file.set_len(self.len)
    }

    /// Drop the older chunk: the newer one moves down after the marker and becomes the older.
    fn roll(&mut self) -> io::Result<()> {
        let head_end = self.head_end.unwrap_or(self.len);
        if self.older == 0 {
            // The first chunk after the head: nothing to drop yet, it simply becomes the older one.
            self.older = self.newer.len() as u64;
            self.newer.clear();
            return Ok(());
        }
        self.dropped += self.older;
        let tail_start = head_end + MARKER_BYTES;
        self.file.write_all_at(&self.marker(), head_end)?;
        self.file.write_all_at(&self.newer, tail_start)?;
        self.older = self.newer.len() as u64;
        self.len = tail_start + self.older;
        self.file.set_len(self.len)?;
        self.newer.clear();
        Ok(())
    }
}

impl Write for HeadTailLog {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let whole = buf.len();
        if self.head_end.is_none() {
            if self.len + whole as u64 <= self.head_cap {
                self.file.write_all_at(buf, self.len)?;
                self.len += whole as u64;
                return Ok(whole);
            }
            self.head_end = Some(self.len);
        }
        if !self.newer.is_empty() && (self.newer.len() + whole) as u64 > self.chunk_cap {
            self.roll()?;
        }
        // A write longer than a chunk keeps its end, where a message's point is, and replaces the whole tail.
        let chunk = usize::try_from(self.chunk_cap).unwrap_or(usize::MAX);
        let kept = &buf[whole.saturating_sub(chunk)..];
        if kept.len() < whole {
            self.dropped += (whole - kept.len()) as u64;
            self.clear_tail()?;
        }
        self.file.write_all_at(kept, self.len)?;
        self.len += kept.len() as u64;
        self.newer.extend_from_slice(kept);
        Ok(whole)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(log: &mut HeadTailLog, from: u32, to: u32) {
        for i in from..to {
            // One write per line, as the launcher writes (writeln! would write it in pieces).
            log.write_all(format!("line {i:06} {}\n", "x".repeat(40)).as_bytes())
                .unwrap();
        }
    }

    #[test]
    fn keeps_the_head_the_tail_and_says_what_was_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("attempt-0.log");
        let mut log = HeadTailLog::create(&path, 8192).unwrap();
        lines(&mut log, 0, 5000);
        log.write_all(b"torch.OutOfMemoryError: CUDA out of memory.\n")
            .unwrap();
        let size = fs::metadata(&path).unwrap().len();
        assert!(size <= 8192, "{size}");
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("line 000000 "), "{text}");
        assert!(text.ends_with("torch.OutOfMemoryError: CUDA out of memory.\n"));
        assert!(text.contains("line 004999 "));
        let marker = text
            .lines()
            .find(|l| l.starts_with("[headroom: "))
            .unwrap_or_else(|| panic!("no marker line in {text}"));
        // Every byte written is either in the file or counted by the marker.
        let written: u64 = 5000 * 53 + 44;
        let kept = size - MARKER_BYTES;
        assert_eq!(log.dropped_bytes(), written - kept, "{marker}");
        assert!(
            marker.contains(&format!("{} bytes of output dropped", written - kept)),
            "{marker}"
        );
        // Whole lines only, in order, around the marker.
        let numbers: Vec<u32> = text
            .lines()
            .filter_map(|l| l.strip_prefix("line ")?.get(..6)?.parse().ok())
            .collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn a_short_log_has_no_marker_and_a_tiny_bound_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut log = HeadTailLog::create(&path, 8192).unwrap();
        lines(&mut log, 0, 100);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 100);
        assert!(!text.contains("[headroom:"));
        assert!(matches!(
            HeadTailLog::create(&dir.path().join("b.log"), 100),
            Err(Error::Invalid { .. })
        ));
    }

    #[test]
    fn a_line_longer_than_a_chunk_keeps_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut log = HeadTailLog::create(&path, 4096).unwrap();
        lines(&mut log, 0, 100);
        log.write_all(format!("{}END\n", "y".repeat(10_000)).as_bytes())
            .unwrap();
        let size = fs::metadata(&path).unwrap().len();
        assert!(size <= 4096, "{size}");
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("yyyEND\n"));
        assert!(text.contains("[headroom: "), "{text}");
        assert_eq!(
            log.dropped_bytes(),
            100 * 53 + 10_004 - (size - MARKER_BYTES)
        );
    }

    #[test]
    fn rotates_at_the_bound_and_keeps_one_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/app.log");
        let mut log = SizeBoundedFile::open(&path, 100).unwrap();
        for i in 0..50 {
            writeln!(log, "line {i:04}").unwrap();
        }
        let current = fs::metadata(&path).unwrap().len();
        let old = fs::metadata(dir.path().join("logs/app.log.1"))
            .unwrap()
            .len();
        assert!(current <= 100 && old <= 100, "{current} {old}");
        assert!(fs::read_to_string(&path).unwrap().contains("line 0049"));
        let files = fs::read_dir(dir.path().join("logs")).unwrap().count();
        assert_eq!(files, 2);
    }
}
