//! The local Hugging Face cache: which models are downloaded, at which revision, and how much disk they use.
//!
//! Layout (huggingface_hub `guides/manage-cache.md`, `constants.py`; FORMULAS.md §8 "HF cache"):
//! `<cache>/models--{org}--{name}/` holds `refs/main` (a text file with the commit hash), `blobs/<hash>` (file
//! contents), `snapshots/<commit>/<path>` (symlinks into `blobs`, or real copies where symlinks are unavailable or
//! `HF_HUB_DISABLE_SYMLINKS=1`), `.no_exist/` (known-missing files). The cache folder is `HF_HUB_CACHE` (or its
//! older name `HUGGINGFACE_HUB_CACHE`), else `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else
//! `~/.cache/huggingface/hub`.
//!
//! Size on disk counts every file once: blobs, plus real files in snapshots, with symlinks followed and each
//! target counted once (by device and inode on Unix), so a blob shared by several snapshots is not counted twice.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::{Error, Result};

/// Where the hub cache is, from the environment (injected so tests can point it anywhere).
pub fn hub_cache_dir(env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    // HUGGINGFACE_HUB_CACHE is the older name huggingface_hub still honours (`constants.py`).
    if let Some(dir) = var("HF_HUB_CACHE").or_else(|| var("HUGGINGFACE_HUB_CACHE")) {
        return Some(dir);
    }
    if let Some(home) = var("HF_HOME") {
        return Some(home.join("hub"));
    }
    if let Some(xdg) = var("XDG_CACHE_HOME") {
        return Some(xdg.join("huggingface").join("hub"));
    }
    var("HOME").map(|home| home.join(".cache").join("huggingface").join("hub"))
}

/// One model repository in the cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct CachedModel {
    /// `org/name`, from the folder name `models--org--name`.
    pub id: String,
    /// The repository folder.
    #[ts(type = "string")]
    pub path: PathBuf,
    /// The commit `refs/main` points to, when it exists.
    pub revision: Option<String>,
    /// The snapshot folder to read: that of `refs/main`, else the most recently modified one.
    #[ts(type = "string | null")]
    pub snapshot: Option<PathBuf>,
    /// Every snapshot commit present.
    pub snapshots: Vec<String>,
    /// Bytes on disk, every file counted once.
    pub size_on_disk_bytes: u64,
    /// Whether the chosen snapshot has a config.json.
    pub has_config: bool,
    /// What could not be read (a broken symlink, an unreadable folder), in words.
    pub problems: Vec<String>,
}

/// List the models in a hub cache folder, sorted by id. A missing folder is an empty cache, not an error.
pub fn scan(cache: &Path) -> Result<Vec<CachedModel>> {
    let entries = match fs::read_dir(cache) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(cache, e)),
    };
    let mut models = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(cache, e))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let Some(id) = repo_id(&name) else {
            continue;
        };
        if !entry.path().is_dir() {
            continue;
        }
        models.push(read_repo(&entry.path(), id));
    }
    models.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(models)
}

/// `models--org--name` → `org/name`; datasets and spaces are not models.
fn repo_id(folder: &str) -> Option<String> {
    let rest = folder.strip_prefix("models--")?;
    let parts: Vec<&str> = rest.split("--").collect();
    if parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    Some(parts.join("/"))
}

/// Read one repository folder; problems are collected, never fatal, so one broken repo does not hide the rest.
pub fn read_repo(repo: &Path, id: String) -> CachedModel {
    let mut problems = Vec::new();
    let revision = match crate::fsio::read_to_string(
        &repo.join("refs").join("main"),
        crate::fsio::CACHE_REF,
    ) {
        Ok(text) => {
            let rev = text.trim().to_owned();
            if rev.is_empty() || !rev.bytes().all(|b| b.is_ascii_alphanumeric()) {
                problems.push(format!("refs/main does not hold a commit hash: {rev:?}"));
                None
            } else {
                Some(rev)
            }
        }
        Err(crate::Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            None
        }
        Err(e) => {
            problems.push(format!("refs/main: {e}"));
            None
        }
    };
    let mut snapshots: Vec<(String, std::time::SystemTime)> = Vec::new();
    if let Ok(entries) = fs::read_dir(repo.join("snapshots")) {
        for entry in entries.filter_map(|e| e.ok()) {
            if let (Ok(name), true) = (entry.file_name().into_string(), entry.path().is_dir()) {
                let modified = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH);
                snapshots.push((name, modified));
            }
        }
    }
    snapshots.sort();
    let chosen = match &revision {
        Some(rev) if snapshots.iter().any(|(s, _)| s == rev) => Some(rev.clone()),
        _ => snapshots
            .iter()
            .max_by_key(|(_, modified)| *modified)
            .map(|(s, _)| s.clone()),
    };
    if let (Some(rev), Some(chosen)) = (&revision, &chosen) {
        if rev != chosen {
            problems.push(format!(
                "refs/main points to {rev}, which has no snapshot; using {chosen}"
            ));
        }
    }
    let snapshot = chosen.map(|s| repo.join("snapshots").join(s));
    let has_config = snapshot
        .as_ref()
        .is_some_and(|s| s.join("config.json").is_file());
    let mut seen = HashSet::new();
    let mut size = 0u64;
    for sub in ["blobs", "snapshots"] {
        size = size.saturating_add(disk_usage(&repo.join(sub), &mut seen, &mut problems, 0));
    }
    CachedModel {
        id,
        path: repo.to_path_buf(),
        revision,
        snapshot,
        snapshots: snapshots.into_iter().map(|(s, _)| s).collect(),
        size_on_disk_bytes: size,
        has_config,
        problems,
    }
}

/// A file's identity, so hard links and symlinked blobs count once.
#[cfg(unix)]
fn identity(_path: &Path, meta: &fs::Metadata) -> (u64, u64, PathBuf) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino(), PathBuf::new())
}

#[cfg(not(unix))]
fn identity(path: &Path, _meta: &fs::Metadata) -> (u64, u64, PathBuf) {
    (
        0,
        0,
        fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
    )
}

/// Sum the sizes of the files under `dir`, following symlinks to files (not to folders, so a link loop cannot
/// recurse) and counting each target once.
fn disk_usage(
    dir: &Path,
    seen: &mut HashSet<(u64, u64, PathBuf)>,
    problems: &mut Vec<String>,
    depth: u32,
) -> u64 {
    // Snapshots mirror the repository tree; 64 levels is far deeper than any real repository.
    if depth > 64 {
        problems.push(format!(
            "{}: folders nested too deep; not counted",
            dir.display()
        ));
        return 0;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut total = 0u64;
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        let Ok(link_meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if link_meta.is_dir() {
            total = total.saturating_add(disk_usage(&path, seen, problems, depth + 1));
            continue;
        }
        let meta = if link_meta.file_type().is_symlink() {
            match fs::metadata(&path) {
                Ok(m) if m.is_file() => m,
                Ok(_) => continue,
                Err(_) => {
                    problems.push(format!("{}: broken symlink", path.display()));
                    continue;
                }
            }
        } else {
            link_meta
        };
        if seen.insert(identity(&path, &meta)) {
            total = total.saturating_add(meta.len());
        }
    }
    total
}
