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
//!
//! # Locking, and when writers merge instead of conflicting
//!
//! A revision check on its own is not enough between processes: two writers can both read the old revision,
//! both pass the check, and the second rename silently replaces the first (a CLI `configs set` and another
//! `configs switch` lost one change in most trials). So every write to a store directory happens under that
//! directory's [`DirLock`], an advisory `flock` on a hidden `.lock` file in it, held from the revision check
//! (or the "does this name exist" check) through the rename. The kernel drops the lock with the last file
//! descriptor, so a writer killed at any point never leaves the directory locked. Readers take no lock: every
//! file they can see is complete, because writes are renames.
//!
//! What a writer does with what it finds under the lock depends on who made the change:
//! - A *read-modify-write* that changes a few fields ("set the notes", "switch the preset": the CLI, the
//!   Monitor's switch) re-reads the file under the lock and applies its change to what is there now, so two at
//!   the same moment both land, one after the other.
//! - A save of a *whole document the user edited* (a form in the app, holding the [`Revision`] it loaded) is
//!   checked against that revision under the lock, and the later one gets [`Error::Conflict`]: merging a form
//!   field by field could make a combination nobody chose, so the user decides.
//! - *Creating* a name that exists by the time the lock is held (two `presets duplicate` to one new name)
//!   fails for the later one with the "already exists" error, never a silent replace.
//!
//! A writer that needs two directories (renaming a preset rewrites the configs that name it) takes the presets
//! lock before the configs lock, the one order every writer uses, so no two writers can each hold the lock the
//! other waits for. Waiting for a lock is bounded ([`LOCK_WAIT`]): a stuck holder gives an error, never a
//! hang. The lock file is never deleted: a writer could lock a file that another has just unlinked, and the
//! two would no longer exclude each other. [`save_unchecked`] (app settings, one writer) takes no lock.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::message::{Key, Message};
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

/// Read a document without touching the file: `None` when there is none, `Some(Err(why))` when it cannot be
/// understood. For readers that run often and in the background (the machine calibration reads every run record
/// on each estimate), which must not move a file aside where nobody is told: [`load`] does that, and reports it.
pub fn peek<T: Document>(path: &Path) -> Result<Option<std::result::Result<T, String>>> {
    match crate::fsio::read(path, crate::fsio::DOCUMENT) {
        Ok(bytes) => Ok(Some(decode::<T>(&bytes).map(|(value, _)| value))),
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
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

/// Save a document if the file is still at `expected` (what the caller loaded). Returns the new revision. The
/// directory's [`DirLock`] is held from the check through the rename; a caller that already holds it uses
/// [`DirLock::save`].
pub fn save<T: Document>(path: &Path, value: &T, expected: Revision) -> Result<Revision> {
    DirLock::acquire(dir_of(path))?.save(path, value, expected)
}

/// How long a writer waits for another to release a directory's lock before giving up with an error. Every
/// holder only reads and writes a few small files, so reaching this means a holder is stuck.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);

/// The lock file in every store directory; hidden, so no listing takes it for a document.
pub const LOCK_FILE: &str = ".lock";

/// An exclusive advisory lock (`flock`) on a store directory, held until dropped. See the module's
/// "Locking" section for who takes it and why.
#[derive(Debug)]
pub struct DirLock {
    dir: PathBuf,
    // Held for its lock: closing it (drop, or the process dying) releases the lock.
    _file: File,
}

impl DirLock {
    /// Lock `dir` (created when missing), waiting at most [`LOCK_WAIT`] for another writer. Taking the lock of
    /// a directory this thread already holds would wait on itself: callers pass the guard down instead.
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        DirLock::acquire_within(dir, LOCK_WAIT)
    }

    fn acquire_within(dir: &Path, wait: Duration) -> Result<DirLock> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let deadline = Instant::now() + wait;
        let mut pause = Duration::from_millis(1);
        loop {
            match file.try_lock() {
                Ok(()) => {
                    return Ok(DirLock {
                        dir: dir.to_path_buf(),
                        _file: file,
                    })
                }
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::io(
                        &path,
                        std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!(
                                "another Headroom process has held this lock for over {} s; try again, or \
                                 stop the process that is stuck",
                                wait.as_secs()
                            ),
                        ),
                    ))
                }
                Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
            }
        }
    }

    /// The directory this lock holds.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// [`save`] under this lock: `path` must be in [`DirLock::dir`].
    pub fn save<T: Document>(
        &self,
        path: &Path,
        value: &T,
        expected: Revision,
    ) -> Result<Revision> {
        self.check_holds(path)?;
        let current = current_revision(path)?;
        if current != expected {
            return Err(Error::Conflict {
                path: path.to_path_buf(),
            });
        }
        save_unchecked(path, value)
    }

    /// Remove `path` under this lock, if it is still at `expected`.
    pub fn remove(&self, path: &Path, expected: Revision) -> Result<()> {
        self.check_holds(path)?;
        if current_revision(path)? != expected {
            return Err(Error::Conflict {
                path: path.to_path_buf(),
            });
        }
        fs::remove_file(path).map_err(|e| Error::io(path, e))
    }

    // A file outside the locked directory would be written with no lock at all: a bug, refused loudly.
    fn check_holds(&self, path: &Path) -> Result<()> {
        if dir_of(path) == self.dir {
            Ok(())
        } else {
            Err(Error::io(
                path,
                std::io::Error::other(format!(
                    "written under the lock of {}, which is not its folder",
                    self.dir.display()
                )),
            ))
        }
    }
}

fn dir_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
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
    match crate::fsio::read(path, crate::fsio::DOCUMENT) {
        Ok(bytes) => Ok(Revision::of(&bytes)),
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(Revision::ABSENT)
        }
        Err(e) => Err(e),
    }
}

/// Replace `path` with `bytes` so that a crash leaves either the old or the new contents.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with_permissions(path, bytes, None)
}

/// [`write_atomic`], the new file getting `permissions` before it takes the old one's place (so a file only
/// its owner could read never becomes readable by others, not even for a moment).
pub fn write_atomic_with_permissions(
    path: &Path,
    bytes: &[u8],
    permissions: Option<fs::Permissions>,
) -> Result<()> {
    let dir = dir_of(path);
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let temp = temp_path(path);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        if let Some(p) = permissions {
            file.set_permissions(p)?;
        }
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

/// Why something in place of a document is not one, in words.
pub fn not_a_file_reason(meta: &fs::Metadata) -> &'static str {
    if meta.is_dir() {
        "is a directory, not a file"
    } else {
        "is not a regular file (a FIFO, socket or device)"
    }
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
        Some(Key::InvalidNameEmpty)
    } else if name.len() > 64 {
        Some(Key::InvalidNameLong)
    } else if name.starts_with('.') {
        Some(Key::InvalidNameDot)
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        Some(Key::InvalidNameChars)
    } else {
        None
    };
    match problem {
        Some(problem) => Err(Error::invalid_msg(
            field,
            Message::new(Key::InvalidNameGot)
                .phrase("problem", problem)
                .text("name", format!("{name:?}")),
        )),
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
    fn a_held_lock_makes_the_next_writer_wait_and_a_stuck_one_gives_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let held = DirLock::acquire(dir.path()).unwrap();
        let started = Instant::now();
        let err = DirLock::acquire_within(dir.path(), Duration::from_millis(100)).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert!(err.to_string().contains("held this lock"), "{err}");
        // Released on drop; a waiter then gets it.
        let waiter = {
            let dir = dir.path().to_path_buf();
            std::thread::spawn(move || DirLock::acquire(&dir).map(|_| Instant::now()))
        };
        std::thread::sleep(Duration::from_millis(50));
        let released = Instant::now();
        drop(held);
        assert!(waiter.join().unwrap().unwrap() >= released);
    }

    #[test]
    fn a_lock_only_writes_in_its_own_folder_and_removes_only_what_was_read() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        let lock = DirLock::acquire(&sub).unwrap();
        let doc = V2 {
            name: "a".into(),
            count: 1,
        };
        assert!(lock
            .save(&dir.path().join("outside.json"), &doc, Revision::ABSENT)
            .is_err());
        assert!(!dir.path().join("outside.json").exists());
        let path = sub.join("doc.json");
        let rev = lock.save(&path, &doc, Revision::ABSENT).unwrap();
        assert!(matches!(
            lock.remove(&path, Revision::ABSENT),
            Err(Error::Conflict { .. })
        ));
        lock.remove(&path, rev).unwrap();
        assert!(!path.exists());
        // The lock file is hidden, so listings skip it.
        assert!(sub.join(LOCK_FILE).exists() && LOCK_FILE.starts_with('.'));
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_or_a_directory_in_place_of_a_document_is_refused_without_hanging() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo.json");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = load::<V2>(&fifo).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
        let folder = dir.path().join("folder.json");
        fs::create_dir(&folder).unwrap();
        let err = load::<V2>(&folder).unwrap_err().to_string();
        assert!(err.contains("is a directory"), "{err}");
        // Nothing moved aside: neither is corrupt contents.
        assert!(fifo.exists() && folder.exists());
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
