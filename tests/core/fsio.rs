//! The one reader of user files (headroom_core::fsio), as the core's own loaders use it.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use headroom_core::fsio::{self, BoundedLines, Limit};
use headroom_core::store::{self, Loaded};
use headroom_core::Error;

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a file system entry.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// `f`'s result, or a failure (not a hang) when it has not answered within 10 s.
fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("blocked on a FIFO")
}

#[track_caller]
fn invalid(err: Error) -> (String, String) {
    match err {
        Error::Invalid { field, message, .. } => (field, message),
        other => panic!("expected Error::Invalid, got {other:?}"),
    }
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Doc {
    n: u32,
}
impl store::Document for Doc {
    const VERSION: u32 = 1;
}

#[test]
fn a_stored_document_that_is_a_fifo_is_refused_and_a_missing_one_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("doc.json");
    assert!(matches!(store::load::<Doc>(&path), Ok(Loaded::Missing)));
    mkfifo(&path);
    let p = path.clone();
    let (field, message) = invalid(within(move || store::load::<Doc>(&p)).unwrap_err());
    assert_eq!(field, path.display().to_string());
    assert!(message.contains("named pipe (FIFO)"), "{message}");
}

#[test]
fn a_model_folder_whose_config_is_a_fifo_says_so() {
    let dir = tempfile::tempdir().unwrap();
    mkfifo(&dir.path().join("config.json"));
    let folder = dir.path().to_path_buf();
    let (field, message) =
        invalid(within(move || headroom_core::model::from_folder(&folder)).unwrap_err());
    assert!(field.ends_with("config.json"), "{field}");
    assert!(message.contains("named pipe"), "{message}");
}

#[test]
fn a_file_at_its_limit_is_read_and_one_byte_more_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let limit = Limit {
        what: "a test file",
        bytes: 100,
    };
    std::fs::write(&path, [b'a'; 100]).unwrap();
    assert_eq!(fsio::read(&path, limit).unwrap().len(), 100);
    std::fs::write(&path, [b'a'; 101]).unwrap();
    let (_, message) = invalid(fsio::read(&path, limit).unwrap_err());
    assert_eq!(
        message,
        "101 bytes is larger than the 100 bytes limit for a test file"
    );
}

#[test]
fn bounded_lines_strip_line_ends_and_refuse_a_long_line_by_number() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.jsonl");
    std::fs::write(&path, "one\r\ntwo\n0123456789ABC\nlast").unwrap();
    let limit = Limit {
        what: "a test line",
        bytes: 10,
    };
    let mut lines = BoundedLines::open(&path, limit).unwrap();
    assert_eq!(lines.next_line().unwrap().as_deref(), Some("one"));
    assert_eq!(lines.next_line().unwrap().as_deref(), Some("two"));
    let (_, message) = invalid(lines.next_line().unwrap_err());
    assert_eq!(
        message,
        "line 3 is longer than 10 bytes, the limit for a test line"
    );
}
