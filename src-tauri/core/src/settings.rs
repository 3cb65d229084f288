//! App settings: a small JSON document in the config directory, saved atomically through [`crate::store`].

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::estimate::plan::FitOn;
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
    /// Which figure of an estimate's band decides "fits" for plans that do not say (`fit_on`): its upper end
    /// (the default) or the central estimate.
    pub fit_on: FitOn,
    /// Serve the Monitor's readings for Prometheus at this address (`127.0.0.1:9464`), while the Monitor runs;
    /// `None` (the default) serves nothing. A token comes from HEADROOM_EXPORTER_TOKEN only, never from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub exporter_address: Option<String>,
}

impl Settings {
    /// Give a plan (docs/contract.md §1 JSON) the chosen `fit_on` when it does not name one itself; anything
    /// that is not a JSON object is left for the plan parser to refuse.
    pub fn apply_fit_on(&self, plan: &mut serde_json::Value) {
        if let Some(o) = plan.as_object_mut() {
            if !o.contains_key("fit_on") {
                if let Ok(v) = serde_json::to_value(self.fit_on) {
                    o.insert("fit_on".into(), v);
                }
            }
        }
    }
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
            fit_on: FitOn::Central,
            exporter_address: Some("127.0.0.1:9464".into()),
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
        assert_eq!(load(&path).unwrap().settings.fit_on, FitOn::High);
    }

    #[test]
    fn fit_on_fills_plans_that_do_not_say() {
        let central = Settings {
            fit_on: FitOn::Central,
            ..Settings::default()
        };
        let mut plan = serde_json::json!({"task": "infer"});
        central.apply_fit_on(&mut plan);
        assert_eq!(plan["fit_on"], "central");
        let mut own = serde_json::json!({"task": "infer", "fit_on": "high"});
        central.apply_fit_on(&mut own);
        assert_eq!(own["fit_on"], "high", "the plan's own choice wins");
        let mut not_a_plan = serde_json::json!([1]);
        central.apply_fit_on(&mut not_a_plan);
        assert_eq!(not_a_plan, serde_json::json!([1]));
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
