//! A log file that never grows past a bound: when a write would take it over `max_bytes`, the file is
//! renamed to `NAME.1` (replacing the previous one) and a new file is started. At most twice the bound is
//! ever on disk.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
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

#[cfg(test)]
mod tests {
    use super::*;

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
