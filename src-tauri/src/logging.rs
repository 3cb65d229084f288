//! Logs go to stderr and to a size-bounded file in the data directory, both through `tracing`.
//! `RUST_LOG` picks the level (default `info`).

use std::io::IsTerminal;
use std::sync::Mutex;

use headroom_core::logfile::SizeBoundedFile;
use headroom_core::paths::AppPaths;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter};

/// At most twice this much log is ever on disk (the file and one rotated copy).
pub const MAX_LOG_BYTES: u64 = 5 * 1024 * 1024;

/// Install the global subscriber. Without a writable log file the app still runs, logging to stderr only.
pub fn init(paths: &AppPaths) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let file = match SizeBoundedFile::open(&paths.log_file(), MAX_LOG_BYTES) {
        Ok(file) => Some(file),
        Err(e) => {
            eprintln!("headroom: logging to stderr only: {e}");
            None
        }
    };
    let file_layer = file.map(|f| fmt::layer().with_ansi(false).with_writer(Mutex::new(f)));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(
            fmt::layer()
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(std::io::stderr),
        )
        .with(file_layer)
        .try_init();
}
