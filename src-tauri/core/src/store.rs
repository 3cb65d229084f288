//! Versioned JSON documents on disk.
//!
//! - Writes are atomic: a temporary file in the same directory is written, fsynced and renamed over the
//!   target, then the directory is fsynced. A crash at any moment leaves the old file or the new one.
//! - Every document is wrapped as `{"version": N, "data": …}`; older versions are migrated on load, newer ones
//!   are refused rather than half-understood.
//! - A file that cannot be understood is moved aside (`NAME.corrupt-UNIXSECONDS`), never deleted, and the caller
//!   is told where it went and why, so everything else can still load.
//! - Each load returns a [`Revision`]; saving with the revision you loaded fails with [`Error::Conflict`] when
//!   the file changed in between, so two editors never silently overwrite each other.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A document type stored by [`load`] and [`save`].
pub trait Document: Serialize + DeserializeOwned {
    /// The version this build writes.
    const VERSION: u32;

    /// Turn the `data` of an older version into the shape of `from + 1`. Called once per step, so each
    /// migration only knows its neighbour. The default knows no older versions.
    fn migrate(
        from: u32,
        data: serde_json::Value,
    ) -> std::result::Result<serde_json::Value, String> {
        let _ = data;
        Err(format!("version {from} is not supported by this build"))
    }
}

/// Identifies the exact bytes a document was loaded from (FNV-1a of the file; `None` when there was no file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct Revision(#[ts(type = "string | null")] Option<FnvHash>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FnvHash(u64);

impl Serialize for FnvHash {
    // As a hex string: a u64 does not survive a JavaScript number.
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:016x}", self.0))
    }
}

impl<'de> Deserialize<'de> for FnvHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        u64::from_str_radix(&text, 16)
            .map(FnvHash)
            .map_err(serde::de::Error::custom)
    }
}

impl Revision {
    /// The revision of a document that does not exist yet.
    pub const ABSENT: Revision = Revision(None);

    fn of(bytes: &[u8]) -> Self {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        Revision(Some(FnvHash(hash)))
    }
}

/// What [`load`] found.
#[derive(Debug)]
pub enum Loaded<T> {
    /// No file yet: the caller uses its default.
    Missing,
    /// The document, migrated to the current version.
    Found {
        value: T,
        revision: Revision,
        migrated_from: Option<u32>,
    },
    /// The file could not be understood and was moved to `moved_to`.
    Quarantined(Quarantine),
}

/// A file that was moved aside, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct Quarantine {
    #[ts(type = "string")]
    pub original: PathBuf,
    #[ts(type = "string")]
    pub moved_to: PathBuf,
    pub reason: String,
}

#[derive(Serialize)]
struct EnvelopeOut<'a, T> {
    version: u32,
    data: &'a T,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeIn {
    version: u32,
    data: serde_json::Value,
}

/// Read a document, migrating old versions and quarantining files that cannot be understood. Only I/O
/// failures (permissions, a directory where a file should be) are errors.
pub fn load<T: Document>(path: &Path) -> Result<Loaded<T>> {
    // Bounded and regular files only (crate::fsio): a FIFO in the config folder must not hang every command.
    let bytes = match crate::fsio::read(path, crate::fsio::DOCUMENT) {
        Ok(bytes) => bytes,
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Loaded::Missing)
        }
        Err(e) => return Err(e),
    };
    match decode::<T>(&bytes) {
        Ok((value, migrated_from)) => Ok(Loaded::Found {
            value,
            revision: Revision::of(&bytes),
            migrated_from,
        }),
        Err(reason) => {
            let moved_to = quarantine(path)?;
            tracing::warn!(path = %path.display(), moved_to = %moved_to.display(), %reason, "quarantined");
            Ok(Loaded::Quarantined(Quarantine {
                original: path.to_path_buf(),
                moved_to,
                reason,
            }))
        }
    }
}

fn decode<T: Document>(bytes: &[u8]) -> std::result::Result<(T, Option<u32>), String> {
    let envelope: EnvelopeIn =
        serde_json::from_slice(bytes).map_err(|e| format!("not a Headroom document: {e}"))?;
    if envelope.version > T::VERSION {
        return Err(format!(
            "written by a newer Headroom (version {}, this build reads up to {})",
            envelope.version,
            T::VERSION
        ));
    }
    if envelope.version == 0 {
        return Err("version 0 does not exist".into());
    }
    let mut data = envelope.data;
    for from in envelope.version..T::VERSION {
        data = T::migrate(from, data).map_err(|e| format!("migrating from version {from}: {e}"))?;
    }
    let value = serde_json::from_value(data).map_err(|e| format!("invalid contents: {e}"))?;
    let migrated_from = (envelope.version < T::VERSION).then_some(envelope.version);
    Ok((value, migrated_from))
}

/// Move an unreadable file aside so the user can inspect or repair it. Never overwrites an earlier one.
fn quarantine(path: &Path) -> Result<PathBuf> {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for attempt in 0u32.. {
        let suffix = if attempt == 0 {
            String::new()
        } else {
            format!("-{attempt}")
        };
        let target = path.with_file_name(format!("{file_name}.corrupt-{stamp}{suffix}"));
        if !target.exists() {
            fs::rename(path, &target).map_err(|e| Error::io(path, e))?;
            return Ok(target);
        }
    }
    unreachable!("u32 attempts exhausted")
}

/// Save a document if the file is still at `expected` (what the caller loaded). Returns the new revision.
pub fn save<T: Document>(path: &Path, value: &T, expected: Revision) -> Result<Revision> {
    let current = current_revision(path)?;
    if current != expected {
        return Err(Error::Conflict {
            path: path.to_path_buf(),
        });
    }
    save_unchecked(path, value)
}

/// Save a document whatever is on disk now (for files only this process writes, such as app settings).
pub fn save_unchecked<T: Document>(path: &Path, value: &T) -> Result<Revision> {
    let mut bytes = serde_json::to_vec_pretty(&EnvelopeOut {
        version: T::VERSION,
        data: value,
    })
    .map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)?;
    Ok(Revision::of(&bytes))
}

fn current_revision(path: &Path) -> Result<Revision> {
    match fs::read(path) {
        Ok(bytes) => Ok(Revision::of(&bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Revision::ABSENT),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Replace `path` with `bytes` so that a crash leaves either the old or the new contents.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let temp = temp_path(path);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if let Err(e) = result {
        // The temporary file holds nothing the user has not still got; the target is untouched.
        let _ = fs::remove_file(&temp);
        return Err(Error::io(path, e));
    }
    // Make the rename itself durable. Directories cannot be fsynced on every platform; that is not an error.
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

fn temp_path(path: &Path) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}-{nanos}", std::process::id()))
}

/// Check a user-chosen name (a preset, a profile) before it becomes a file name: it cannot be empty, start
/// with a dot, hold a path separator or anything but letters, digits, `-`, `_` and `.`, nor exceed 64 bytes.
/// This is what keeps names from escaping the store's directory.
pub fn check_name(field: &str, name: &str) -> Result<()> {
    let problem = if name.is_empty() {
        Some("must not be empty")
    } else if name.len() > 64 {
        Some("must be at most 64 characters")
    } else if name.starts_with('.') {
        Some("must not start with a dot")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        Some("may only contain letters, digits, '-', '_' and '.'")
    } else {
        None
    };
    match problem {
        Some(message) => Err(Error::invalid(field, format!("{message} (got {name:?})"))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct V2 {
        name: String,
        count: u32,
    }

    impl Document for V2 {
        const VERSION: u32 = 2;
        fn migrate(
            from: u32,
            mut data: serde_json::Value,
        ) -> std::result::Result<serde_json::Value, String> {
            match from {
                1 => {
                    data["count"] = serde_json::json!(0);
                    Ok(data)
                }
                _ => Err(format!("unknown version {from}")),
            }
        }
    }

    #[test]
    fn round_trip_and_revision() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("doc.json");
        assert!(matches!(load::<V2>(&path).unwrap(), Loaded::Missing));
        let value = V2 {
            name: "a".into(),
            count: 3,
        };
        let rev = save(&path, &value, Revision::ABSENT).unwrap();
        match load::<V2>(&path).unwrap() {
            Loaded::Found {
                value: got,
                revision,
                migrated_from,
            } => {
                assert_eq!(got, value);
                assert_eq!(revision, rev);
                assert_eq!(migrated_from, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn second_writer_gets_a_conflict_and_first_edit_survives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("doc.json");
        let base = save(
            &path,
            &V2 {
                name: "base".into(),
                count: 0,
            },
            Revision::ABSENT,
        )
        .unwrap();
        save(
            &path,
            &V2 {
                name: "first".into(),
                count: 1,
            },
            base,
        )
        .unwrap();
        let err = save(
            &path,
            &V2 {
                name: "second".into(),
                count: 2,
            },
            base,
        )
        .unwrap_err();
        assert!(matches!(err, Error::Conflict { .. }), "{err}");
        let Loaded::Found { value, .. } = load::<V2>(&path).unwrap() else {
            panic!()
        };
        assert_eq!(value.name, "first");
    }

    #[test]
    fn old_versions_migrate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("doc.json");
        fs::write(&path, r#"{"version":1,"data":{"name":"old"}}"#).unwrap();
        let Loaded::Found {
            value,
            migrated_from,
            ..
        } = load::<V2>(&path).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            value,
            V2 {
                name: "old".into(),
                count: 0
            }
        );
        assert_eq!(migrated_from, Some(1));
    }

    #[test]
    fn unreadable_files_are_moved_aside_not_deleted() {
        let dir = tempfile::tempdir().unwrap();
        for (i, text) in [
            "{not json",
            r#"{"version":9,"data":{}}"#,
            r#"{"version":2,"data":{"name":1}}"#,
            r#"{"version":0,"data":{}}"#,
        ]
        .iter()
        .enumerate()
        {
            let path = dir.path().join(format!("doc{i}.json"));
            fs::write(&path, text).unwrap();
            let Loaded::Quarantined(q) = load::<V2>(&path).unwrap() else {
                panic!("{text}")
            };
            assert!(!path.exists());
            assert_eq!(
                fs::read_to_string(&q.moved_to).unwrap(),
                *text,
                "contents kept"
            );
            assert!(!q.reason.is_empty());
        }
        let Loaded::Quarantined(q) = ({
            let p = dir.path().join("doc1.json");
            fs::write(&p, "{").unwrap();
            load::<V2>(&p).unwrap()
        }) else {
            panic!()
        };
        assert!(q.reason.contains("not a Headroom document"), "{}", q.reason);
    }

    #[test]
    fn a_crash_before_rename_leaves_the_old_file() {
        // Simulate the crash: the temporary file is written but never renamed.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("doc.json");
        save_unchecked(
            &path,
            &V2 {
                name: "old".into(),
                count: 1,
            },
        )
        .unwrap();
        fs::write(
            temp_path(&path),
            b"{\"version\":2,\"data\":{\"name\":\"half",
        )
        .unwrap();
        let Loaded::Found { value, .. } = load::<V2>(&path).unwrap() else {
            panic!()
        };
        assert_eq!(value.name, "old");
    }

    #[test]
    fn names_cannot_escape() {
        for bad in ["", "../x", "a/b", ".hidden", "a\\b", "x\0", &"a".repeat(65)] {
            let err = check_name("name", bad).unwrap_err().to_string();
            assert!(err.starts_with("name: "), "{err}");
        }
        for good in ["my-preset", "int4_double", "v1.2"] {
            check_name("name", good).unwrap();
        }
    }
}
