//! The Python package `headroom_trace`, compiled into the binary so the app and the CLI need no separate
//! install: written once per content hash into a cache folder and put on the child's PYTHONPATH.
//!
//! The folder for a hash is complete or absent: it is written under a temporary name and renamed into place,
//! and when two processes race, the loser removes its copy and uses the winner's (same content, same hash).

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Path inside `python/headroom_trace/` → the file's text. A test fails when a `.py` file there is missing
/// from this list.
macro_rules! embed {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../../../python/headroom_trace/", $name)))),*]
    };
}

pub const FILES: &[(&str, &str)] = embed![
    "__init__.py",
    "__main__.py",
    "allocator.py",
    "build.py",
    "engine.py",
    "errors.py",
    "extrapolate.py",
    "kernels.py",
    "measure.py",
    "notes.py",
    "quant.py",
    "report.py",
    "request.py",
    "tracker.py",
];

/// The package's name, as `python -m` imports it.
pub const PACKAGE: &str = "headroom_trace";

/// 64-bit FNV-1a over every file's name and text: a name for this exact package content.
pub fn content_hash(files: &[(&str, &str)]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, text) in files {
        for byte in name.bytes().chain([0]).chain(text.bytes()).chain([0]) {
            h ^= u64::from(byte);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// Write `files` as the package under `cache_dir` unless this content is there already; returns the folder to
/// put on PYTHONPATH (it holds `headroom_trace/`).
pub fn install(cache_dir: &Path, files: &[(&str, &str)]) -> Result<PathBuf> {
    if files.is_empty() {
        return Err(Error::trace(
            super::TraceFailure::Protocol,
            "this build carries no trace package (python/headroom_trace was empty when it was built)",
        ));
    }
    let root = cache_dir.join(format!("{PACKAGE}-{}", content_hash(files)));
    if root.join(PACKAGE).join("__main__.py").is_file() {
        return Ok(root);
    }
    std::fs::create_dir_all(cache_dir).map_err(|e| Error::io(cache_dir, e))?;
    let tmp = cache_dir.join(format!(
        ".{PACKAGE}-{}.{}.partial",
        content_hash(files),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    let written = (|| {
        for (name, text) in files {
            let path = tmp.join(PACKAGE).join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
        }
        Ok(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    match std::fs::rename(&tmp, &root) {
        Ok(()) => Ok(root),
        // Another process installed the same content first: theirs is complete, ours is not needed.
        Err(_) if root.join(PACKAGE).join("__main__.py").is_file() => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(root)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Err(Error::io(&root, e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `.py` file of the package, relative to `python/headroom_trace/`.
    fn on_disk() -> Vec<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../python/headroom_trace");
        let mut out = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    if path.file_name().is_some_and(|n| n != "__pycache__") {
                        stack.push(path);
                    }
                } else if path.extension().is_some_and(|e| e == "py") {
                    let rel = path.strip_prefix(&root).unwrap();
                    out.push(rel.to_string_lossy().into_owned());
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn every_python_file_of_the_package_is_embedded() {
        let mut embedded: Vec<String> = FILES.iter().map(|(n, _)| n.to_string()).collect();
        embedded.sort();
        assert_eq!(
            on_disk(),
            embedded,
            "add each file of python/headroom_trace to trace::package::FILES"
        );
    }

    #[test]
    fn installs_once_per_content_and_never_half() {
        let dir = tempfile::tempdir().unwrap();
        let files: &[(&str, &str)] = &[("__main__.py", "print(1)\n"), ("sub/x.py", "X = 2\n")];
        let root = install(dir.path(), files).unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("headroom_trace/sub/x.py")).unwrap(),
            "X = 2\n"
        );
        // Same content: the same folder, untouched.
        let marker = root.join("headroom_trace/marker");
        std::fs::write(&marker, "").unwrap();
        assert_eq!(install(dir.path(), files).unwrap(), root);
        assert!(marker.exists());
        // New content: a new folder beside it; no partial folder is left behind.
        let other = install(dir.path(), &[("__main__.py", "print(2)\n")]).unwrap();
        assert_ne!(other, root);
        let partial = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
            .count();
        assert_eq!(partial, 0);
        assert!(install(dir.path(), &[]).is_err());
    }
}
