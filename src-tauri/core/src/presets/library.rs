//! User presets on disk: one versioned JSON file per preset, `<config_dir>/presets/<name>.json`, written
//! through [`crate::store`] (atomic replace, quarantine of unreadable files, revision-checked saves).
//!
//! The built-ins live in code ([`super::builtin`]); their names are reserved, so a user file can never shadow
//! one.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{builtin, validate, Preset, PresetBody};
use crate::message::{Key, Message};
use crate::paths::AppPaths;
use crate::store::{self, DirLock, Document, Loaded, Quarantine, Revision};
use crate::{Error, Result};

/// A preset file's contents: a [`PresetBody`] that passed validation. A file that decodes but breaks a rule
/// (edited by hand, written by a buggy build) fails to load, and the store quarantines it with the reason.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct StoredPreset(#[serde(deserialize_with = "valid_body")] pub PresetBody);

fn valid_body<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<PresetBody, D::Error> {
    let body = PresetBody::deserialize(d)?;
    validate::preset(&body).map_err(serde::de::Error::custom)?;
    Ok(body)
}

impl Document for StoredPreset {
    /// Version 1: `{description, load, quantization}`.
    const VERSION: u32 = 1;
}

/// A file in the presets folder that was not loaded, and why (a name that is not a preset name, a name taken
/// by a built-in; in `unreadable`, something that could not be read at all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct SkippedFile {
    #[ts(type = "string")]
    pub path: PathBuf,
    pub reason: String,
}

/// Everything [`PresetLibrary::list`] found.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct PresetList {
    /// Built-ins first (in [`builtin::NAMES`] order), then saved presets by name.
    pub presets: Vec<Preset>,
    /// Files that could not be read, moved aside; the rest loaded.
    pub quarantined: Vec<Quarantine>,
    pub skipped: Vec<SkippedFile>,
    /// Entries that could not be read at all and were left where they are (a directory or a FIFO in place of a
    /// preset file, a broken symbolic link, a file the system refuses to read); the rest loaded. Absent when
    /// there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[ts(optional, as = "Option<Vec<SkippedFile>>")]
    pub unreadable: Vec<SkippedFile>,
}

/// The user's presets folder.
#[derive(Debug, Clone)]
pub struct PresetLibrary {
    dir: PathBuf,
}

impl PresetLibrary {
    pub fn new(paths: &AppPaths) -> Self {
        PresetLibrary::at(paths.config_dir.join("presets"))
    }

    pub fn at(dir: impl Into<PathBuf>) -> Self {
        PresetLibrary { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of user preset `name`, after checking the name can neither escape the folder nor take a
    /// built-in's place.
    pub fn path_of(&self, field: &str, name: &str) -> Result<PathBuf> {
        check_user_name(field, name)?;
        Ok(self.dir.join(format!("{name}.json")))
    }

    /// Every preset, with the files that could not be loaded reported beside them.
    pub fn list(&self) -> Result<PresetList> {
        let mut presets: Vec<Preset> = builtin::all()
            .into_iter()
            .map(|(name, body)| Preset {
                name: name.to_string(),
                builtin: true,
                revision: Revision::ABSENT,
                body,
            })
            .collect();
        let mut quarantined = Vec::new();
        let mut skipped = Vec::new();
        let mut saved = Vec::new();
        let JsonFiles {
            files,
            mut unreadable,
        } = json_files(&self.dir)?;
        for (name, path) in files {
            if let Err(e) = check_user_name("name", &name) {
                skipped.push(SkippedFile {
                    path,
                    reason: e.to_string(),
                });
                continue;
            }
            match store::load::<StoredPreset>(&path) {
                Ok(Loaded::Missing) => {} // removed while we listed
                Ok(Loaded::Found {
                    value, revision, ..
                }) => saved.push(Preset {
                    name,
                    builtin: false,
                    revision,
                    body: value.0,
                }),
                Ok(Loaded::Quarantined(q)) => quarantined.push(q),
                // One file the system will not read must not hide the others.
                Err(e) => unreadable.push(unreadable_file(path, &e)),
            }
        }
        saved.sort_by(|a, b| a.name.cmp(&b.name));
        presets.extend(saved);
        Ok(PresetList {
            presets,
            quarantined,
            skipped,
            unreadable,
        })
    }

    /// One preset, built-in or saved.
    pub fn get(&self, name: &str) -> Result<Preset> {
        if let Some(body) = builtin::get(name) {
            return Ok(Preset {
                name: name.to_string(),
                builtin: true,
                revision: Revision::ABSENT,
                body,
            });
        }
        let path = self.path_of("name", name)?;
        match store::load::<StoredPreset>(&path)? {
            Loaded::Missing => Err(no_such_preset("name", name)),
            Loaded::Found {
                value, revision, ..
            } => Ok(Preset {
                name: name.to_string(),
                builtin: false,
                revision,
                body: value.0,
            }),
            Loaded::Quarantined(q) => Err(quarantined_error(&q)),
        }
    }

    /// Whether `name` is a built-in or a saved preset.
    pub fn exists(&self, name: &str) -> Result<bool> {
        if builtin::is_builtin(name) {
            return Ok(true);
        }
        let path = self.path_of("name", name)?;
        Ok(path.exists())
    }

    /// Save a new preset. Fails when the name is taken, also when another process took it a moment ago: the
    /// check and the write happen under the folder's lock.
    pub fn create(&self, name: &str, body: &PresetBody) -> Result<Revision> {
        validate::preset(body).map_err(Error::from)?;
        let path = self.path_of("name", name)?;
        let lock = self.lock()?;
        self.create_locked(&lock, "name", name, &path, body)
    }

    pub(crate) fn create_locked(
        &self,
        lock: &DirLock,
        field: &str,
        name: &str,
        path: &Path,
        body: &PresetBody,
    ) -> Result<Revision> {
        // `symlink_metadata`: a broken link or a directory in the way still takes the name.
        if fs::symlink_metadata(path).is_ok() {
            return Err(Error::invalid_msg(
                field,
                Message::new(Key::InvalidPresetPresetNamedAlreadyExists)
                    .text("name", format!("{name:?}")),
            ));
        }
        lock.save(path, &StoredPreset(body.clone()), Revision::ABSENT)
    }

    /// Copy any preset (built-ins included) under a new name.
    pub fn duplicate(&self, from: &str, to: &str) -> Result<Revision> {
        let source = self.get(from)?;
        self.create(to, &source.body)
    }

    /// Replace a saved preset, if nobody saved it since `expected` was read.
    pub fn save(&self, name: &str, body: &PresetBody, expected: Revision) -> Result<Revision> {
        validate::preset(body).map_err(Error::from)?;
        let path = self.path_of("name", name)?;
        store::save(&path, &StoredPreset(body.clone()), expected)
    }

    /// Delete a saved preset, if nobody saved it since `expected` was read.
    pub fn delete(&self, name: &str, expected: Revision) -> Result<()> {
        let path = self.path_of("name", name)?;
        let lock = self.lock()?;
        // Read first: a missing or unreadable preset gets its own error rather than a conflict.
        self.get(name)?;
        lock.remove(&path, expected)
    }

    /// The presets folder's write lock (see [`crate::store`]): taken before the configs folder's by any writer
    /// that needs both.
    pub fn lock(&self) -> Result<DirLock> {
        DirLock::acquire(&self.dir)
    }
}

/// A user preset name: a safe file name ([`store::check_name`]) that is not a built-in's (compared without
/// case, so `INT4.json` cannot shadow `int4` on a case-insensitive file system).
pub fn check_user_name(field: &str, name: &str) -> Result<()> {
    store::check_name(field, name)?;
    if builtin::NAMES.iter().any(|b| b.eq_ignore_ascii_case(name)) {
        return Err(Error::invalid_msg(
            field,
            Message::new(Key::InvalidPresetBuiltPresetCannotChanged)
                .text("name", format!("{name:?}")),
        ));
    }
    Ok(())
}

pub(crate) fn no_such_preset(field: &str, name: &str) -> Error {
    Error::invalid_msg(
        field,
        Message::new(Key::InvalidPresetNoPresetNamedSee).text("name", format!("{name:?}")),
    )
}

pub(crate) fn quarantined_error(q: &Quarantine) -> Error {
    Error::Corrupt {
        path: q.original.clone(),
        reason: format!(
            "could not be read ({}); moved to {}",
            q.reason,
            q.moved_to.display()
        ),
    }
}

/// What is in a store folder: the documents to load, and what is in their place but cannot be read.
pub(crate) struct JsonFiles {
    /// `(stem, path)` of every regular `*.json` file, by name.
    pub files: Vec<(String, PathBuf)>,
    /// `*.json` entries that are not regular files: directories, FIFOs, broken or looping symbolic links.
    pub unreadable: Vec<SkippedFile>,
}

/// Every `*.json` entry in `dir` that is not hidden (temporary files of an interrupted atomic write and the lock
/// file start with a dot). A missing folder holds nothing.
pub(crate) fn json_files(dir: &Path) -> Result<JsonFiles> {
    let mut out = JsonFiles {
        files: Vec::new(),
        unreadable: Vec::new(),
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if file_name.starts_with('.') {
            continue;
        }
        let Some(stem) = file_name.strip_suffix(".json") else {
            continue;
        };
        // Follows symbolic links: a link to a preset file is a preset file.
        match fs::metadata(&path) {
            Ok(meta) if meta.is_file() => out.files.push((stem.to_string(), path.clone())),
            Ok(meta) => out.unreadable.push(SkippedFile {
                reason: format!(
                    "{}; nothing in it was read",
                    store::not_a_file_reason(&meta)
                ),
                path,
            }),
            Err(e) => out.unreadable.push(SkippedFile {
                reason: format!("cannot be read: {e}"),
                path,
            }),
        }
    }
    out.files.sort();
    out.unreadable.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// A file whose read failed, for a listing's `unreadable`: the error's cause without the path repeated.
pub(crate) fn unreadable_file(path: PathBuf, e: &Error) -> SkippedFile {
    let reason = match e {
        Error::Io { source, .. } => format!("cannot be read: {source}"),
        other => other.to_string(),
    };
    SkippedFile { path, reason }
}
