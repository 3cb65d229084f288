//! Where Headroom keeps its files. Resolved once at start-up and handed to whoever needs them, so tests can
//! point everything at a temporary directory.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Environment variables that override the OS defaults (tests, portable installs, several profiles).
pub const CONFIG_DIR_VAR: &str = "HEADROOM_CONFIG_DIR";
pub const DATA_DIR_VAR: &str = "HEADROOM_DATA_DIR";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct AppPaths {
    /// Settings, presets, per-model configs, environment profiles (`~/.config/headroom` on Linux).
    #[ts(type = "string")]
    pub config_dir: PathBuf,
    /// Recordings and run history (`~/.local/share/headroom` on Linux).
    #[ts(type = "string")]
    pub data_dir: PathBuf,
    /// Log files, size-bounded (`<data_dir>/logs`).
    #[ts(type = "string")]
    pub log_dir: PathBuf,
}

impl AppPaths {
    /// Both directories given explicitly; the log directory lives under the data directory.
    pub fn new(config_dir: impl Into<PathBuf>, data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        AppPaths {
            config_dir: config_dir.into(),
            log_dir: data_dir.join("logs"),
            data_dir,
        }
    }

    /// The OS conventions (XDG on Linux, via the `directories` crate), unless the environment overrides them.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let dirs = directories::ProjectDirs::from("dev", "Headroom", "headroom");
        let pick = |var: &str, default: Option<&Path>| -> Result<PathBuf> {
            match env(var).filter(|v| !v.is_empty()) {
                Some(v) => Ok(PathBuf::from(v)),
                None => default.map(Path::to_path_buf).ok_or(Error::NoHome),
            }
        };
        let config_dir = pick(CONFIG_DIR_VAR, dirs.as_ref().map(|d| d.config_dir()))?;
        let data_dir = pick(DATA_DIR_VAR, dirs.as_ref().map(|d| d.data_dir()))?;
        Ok(AppPaths::new(config_dir, data_dir))
    }

    pub fn settings_file(&self) -> PathBuf {
        self.config_dir.join("settings.json")
    }

    pub fn log_file(&self) -> PathBuf {
        self.log_dir.join("headroom.log")
    }
}
