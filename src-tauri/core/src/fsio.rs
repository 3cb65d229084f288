//! Reading files a user names or can edit: one way, bounded and non-blocking.
//!
//! Every reader of user input (a plan, a preset or bundle to import, a `--file`, a recording to replay, a model's
//! `config.json` and safetensors index, Headroom's own stored documents, a `.env` file) goes through here, so:
//!
//! - **Only regular files are read.** A FIFO, a socket, a device such as `/dev/zero` or a directory is refused
//!   with an error naming the path and what it is. The path is checked with `stat` before it is opened (opening
//!   some devices has side effects) and again with `fstat` on the opened descriptor, which is opened with
//!   `O_NONBLOCK` so that a FIFO swapped in between cannot hang the open itself.
//! - **Each kind of file has a size limit** far above any legitimate file of that kind, so a hostile or mistaken
//!   input ends in a clear error instead of exhausting memory. A file over its limit is refused before it is read
//!   (the error gives its size); a stream (stdin) is read up to the limit and refused past it ("more than LIMIT").
//! - **Recordings are never read whole**: [`BoundedLines`] streams them a line at a time, each line bounded.
//!
//! | what | limit | why it is enough |
//! | --- | --- | --- |
//! | a plan (`estimate --plan`, the Plan view's Open) | [`PLAN`]: 1 MiB | a plan is a few hundred bytes |
//! | a preset, a per-model config or an environment file given with `--file` | [`SMALL_INPUT`]: 1 MiB | a few KiB each |
//! | a preset file or bundle to import | [`IMPORT`]: 16 MiB | a bundle of every preset and config is well under 1 MiB |
//! | a stored document (preset, per-model config, profile, settings, run record) | [`DOCUMENT`]: 16 MiB | a few KiB each |
//! | a model's `config.json` | [`MODEL_CONFIG`]: 4 MiB | real ones are 1 to 10 KiB |
//! | `model.safetensors.index.json` | [`SAFETENSORS_INDEX`]: 64 MiB | about 100 bytes per tensor: 650,000 tensors |
//! | a Hugging Face cache ref (`refs/main`) | [`CACHE_REF`]: 4 KiB | a 40-character commit hash |
//! | one line of a recording (`replay:FILE`, `monitor export`) | [`RECORDING_LINE`]: 16 MiB | one snapshot of 16 GPUs with 256 processes is about 200 KiB |
//!
//! The safetensors header has the format's own limit ([`crate::model::safetensors::MAX_HEADER_BYTES`]) and a tensor
//! count limit, both in that module.

use std::fs::{File, Metadata};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// A size limit for one kind of file, and the words that name that kind in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// What the file is, for the error: "a plan", "a model's config.json".
    pub what: &'static str,
    pub bytes: u64,
}

const MIB: u64 = 1 << 20;

pub const PLAN: Limit = Limit {
    what: "a plan",
    bytes: MIB,
};
pub const TRAINER_CONFIG: Limit = Limit {
    what: "a trainer config",
    bytes: MIB,
};
pub const SMALL_INPUT: Limit = Limit {
    what: "an input file",
    bytes: MIB,
};
pub const IMPORT: Limit = Limit {
    what: "a preset file or bundle to import",
    bytes: 16 * MIB,
};
pub const DOCUMENT: Limit = Limit {
    what: "a Headroom document",
    bytes: 16 * MIB,
};
pub const MODEL_CONFIG: Limit = Limit {
    what: "a model's config.json",
    bytes: 4 * MIB,
};
pub const SAFETENSORS_INDEX: Limit = Limit {
    what: "a safetensors index",
    bytes: 64 * MIB,
};
pub const CACHE_REF: Limit = Limit {
    what: "a Hugging Face cache ref",
    bytes: 4096,
};
pub const RECORDING_LINE: Limit = Limit {
    what: "one line of a recording",
    bytes: 16 * MIB,
};

impl Limit {
    /// "1 MiB (1048576 bytes)": the exact figure, and the rounded one a person reads.
    fn describe(self) -> String {
        if self.bytes >= MIB && self.bytes.is_multiple_of(MIB) {
            format!("{} MiB ({} bytes)", self.bytes / MIB, self.bytes)
        } else if self.bytes >= 1024 && self.bytes.is_multiple_of(1024) {
            format!("{} KiB ({} bytes)", self.bytes / 1024, self.bytes)
        } else {
            format!("{} bytes", self.bytes)
        }
    }
}

/// What a non-regular file is, in words.
fn kind_of(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

fn not_regular(path: &Path, meta: &Metadata) -> Error {
    Error::invalid(
        path.display().to_string(),
        format!(
            "is {}, not a regular file; Headroom reads only regular files",
            kind_of(meta)
        ),
    )
}

/// Open a regular file for reading without ever blocking: anything else is refused (see the module docs).
/// A missing file is an [`Error::Io`] whose source is `NotFound`, so callers can treat it as absent.
pub fn open(path: &Path) -> Result<File> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(not_regular(path, &meta));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Never wait in open(2): a FIFO put in place of the file after the stat above would block until a writer
        // appears. O_NOCTTY keeps a terminal swapped in from becoming our controlling terminal.
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = options.open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(not_regular(path, &meta));
    }
    Ok(file)
}

/// The whole file, refused when it is larger than `limit` (or grows past it while being read).
pub fn read(path: &Path, limit: Limit) -> Result<Vec<u8>> {
    let file = open(path)?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    if len > limit.bytes {
        return Err(Error::invalid(
            path.display().to_string(),
            format!(
                "{len} bytes is larger than the {} limit for {}",
                limit.describe(),
                limit.what
            ),
        ));
    }
    read_bounded(file, &path.display().to_string(), limit)
}

/// The whole file as UTF-8 text, with [`read`]'s rules.
pub fn read_to_string(path: &Path, limit: Limit) -> Result<String> {
    text(read(path, limit)?, &path.display().to_string())
}

/// Everything `reader` (stdin) gives, refused once it passes `limit`; `name` names the stream in errors.
pub fn read_bounded(reader: impl Read, name: &str, limit: Limit) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader
        .take(limit.bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(name, e))?;
    if bytes.len() as u64 > limit.bytes {
        return Err(Error::invalid(
            name,
            format!(
                "more than {}, the limit for {}",
                limit.describe(),
                limit.what
            ),
        ));
    }
    Ok(bytes)
}

/// [`read_bounded`] as UTF-8 text.
pub fn read_bounded_to_string(reader: impl Read, name: &str, limit: Limit) -> Result<String> {
    text(read_bounded(reader, name, limit)?, name)
}

fn text(bytes: Vec<u8>, name: &str) -> Result<String> {
    String::from_utf8(bytes)
        .map_err(|e| Error::invalid(name, format!("is not UTF-8 text: {}", e.utf8_error())))
}

/// The lines of a file, read one at a time, each at most `limit` bytes: a recording of a day is hundreds of MB,
/// and a file with no newline at all must not be held whole.
pub struct BoundedLines {
    path: PathBuf,
    reader: BufReader<File>,
    limit: Limit,
    buf: Vec<u8>,
    /// 1-based number of the line last returned.
    line_no: usize,
}

impl BoundedLines {
    /// Open `path` with [`open`]'s rules.
    pub fn open(path: &Path, limit: Limit) -> Result<Self> {
        Ok(BoundedLines {
            path: path.to_path_buf(),
            reader: BufReader::new(open(path)?),
            limit,
            buf: Vec::new(),
            line_no: 0,
        })
    }

    /// The number of the line last returned (1-based; 0 before the first).
    pub fn line_no(&self) -> usize {
        self.line_no
    }

    /// The next line without its `\n` (or `\r\n`); `Ok(None)` at the end of the file. A line longer than the
    /// limit is an [`Error::Invalid`] naming the file, the line and the limit; bytes that are not UTF-8 are an
    /// [`Error::Io`] of kind `InvalidData`, as `BufRead::lines` gives.
    pub fn next_line(&mut self) -> Result<Option<String>> {
        self.buf.clear();
        let n = (&mut self.reader)
            .take(self.limit.bytes.saturating_add(1))
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| Error::io(&self.path, e))?;
        if n == 0 {
            return Ok(None);
        }
        self.line_no += 1;
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
        }
        if self.buf.len() as u64 > self.limit.bytes {
            return Err(Error::invalid(
                self.path.display().to_string(),
                format!(
                    "line {} is longer than {}, the limit for {}",
                    self.line_no,
                    self.limit.describe(),
                    self.limit.what
                ),
            ));
        }
        let line = std::str::from_utf8(&self.buf).map_err(|e| {
            Error::io(
                &self.path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })?;
        Ok(Some(line.to_owned()))
    }
}

/// A path the user typed for `field`, which must be absolute: the app has no working directory a person could
/// know.
pub fn absolute(field: &str, path: &str) -> Result<PathBuf> {
    let path = Path::new(path.trim());
    if path.as_os_str().is_empty() {
        return Err(Error::invalid(field, "enter a file path"));
    }
    if !path.is_absolute() {
        return Err(Error::invalid(
            field,
            format!(
                "{} is not an absolute path (start it with /)",
                path.display()
            ),
        ));
    }
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_described_exactly() {
        assert_eq!(PLAN.describe(), "1 MiB (1048576 bytes)");
        assert_eq!(CACHE_REF.describe(), "4 KiB (4096 bytes)");
    }

    #[test]
    fn a_stream_past_its_limit_is_refused_and_one_at_it_is_read() {
        let limit = Limit {
            what: "a test",
            bytes: 10,
        };
        assert_eq!(read_bounded(&[b'x'; 10][..], "s", limit).unwrap().len(), 10);
        let err = read_bounded(std::io::repeat(0), "stdin", limit)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err, "stdin: more than 10 bytes, the limit for a test",
            "{err}"
        );
    }
}
