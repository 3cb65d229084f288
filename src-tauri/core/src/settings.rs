//! App settings: a small JSON document in the config directory, saved atomically through [`crate::store`].

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::store::{self, Document, Loaded, Quarantine};
use crate::Result;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    /// Follow the operating system's locale.
    #[default]
    Auto,
    En,
    Ja,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    /// Follow the operating system's light or dark preference.
    #[default]
    System,
    Light,
    Dark,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub language: Language,
    pub theme: Theme,
    /// Show a desktop notification when a GPU's memory becomes critical (off unless the user turns it on).
    pub notify_on_critical: bool,
    /// The Python the trace engine runs (an interpreter with torch ≥ 2.4, transformers and peft); `None`
    /// searches PATH for the first `python3` or `python` that imports torch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub python_path: Option<String>,
}

impl Document for Settings {
    const VERSION: u32 = 1;
}

/// The settings in force, and a note when the file on disk had to be moved aside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct LoadedSettings {
    pub settings: Settings,
    pub quarantined: Option<Quarantine>,
}

/// Read the settings, falling back to the defaults when there is no file or it could not be understood.
pub fn load(path: &Path) -> Result<LoadedSettings> {
    Ok(match store::load::<Settings>(path)? {
        Loaded::Missing => LoadedSettings {
            settings: Settings::default(),
            quarantined: None,
        },
        Loaded::Found { value, .. } => LoadedSettings {
            settings: value,
            quarantined: None,
        },
        Loaded::Quarantined(q) => LoadedSettings {
            settings: Settings::default(),
            quarantined: Some(q),
        },
    })
}

/// Settings are written by this process only, so the last save wins.
pub fn save(path: &Path, settings: &Settings) -> Result<()> {
    store::save_unchecked(path, settings).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_then_saved_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        assert_eq!(load(&path).unwrap().settings, Settings::default());
        let chosen = Settings {
            language: Language::Ja,
            theme: Theme::Dark,
            notify_on_critical: true,
            python_path: Some("/opt/venv/bin/python".into()),
        };
        save(&path, &chosen).unwrap();
        assert_eq!(load(&path).unwrap().settings, chosen);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"language\": \"ja\""), "{text}");
        // A file written before the notification setting existed reads with it off.
        std::fs::write(
            &path,
            r#"{"version":1,"data":{"language":"en","theme":"light"}}"#,
        )
        .unwrap();
        assert!(!load(&path).unwrap().settings.notify_on_critical);
    }

    #[test]
    fn a_broken_file_falls_back_to_defaults_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        std::fs::write(&path, r#"{"version":1,"data":{"language":"klingon"}}"#).unwrap();
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.settings, Settings::default());
        let q = loaded.quarantined.expect("quarantined");
        assert!(q.reason.contains("klingon"), "{}", q.reason);
        assert!(q.moved_to.exists());
    }
}
