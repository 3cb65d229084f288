//! Exporting the Monitor's history: a CSV of every reading of the recording, or a chart of the shown range. The
//! session hands over what to write under its lock ([`super::session::Running::export_job`]); the writing runs
//! without it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::chart::{self, ChartFormat, ChartLanguage, ChartOptions};
use super::history::HistoryWindow;
use super::record;
use super::Timestamp;
use crate::i18n::Lang;
use crate::message::Message;
use crate::{Error, Result};

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum HistoryFormat {
    /// Every reading of the current (or last) recording, one row per GPU and process.
    Csv,
    /// The chart of the shown range, rendered by plotters.
    Png,
    Svg,
}

/// Where an export went.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct Exported {
    #[ts(type = "string")]
    pub path: PathBuf,
    /// CSV rows written; `null` for a chart.
    pub rows: Option<u64>,
    /// What the user should know about the file: a chart asked for in Japanese whose words are English because
    /// no font that draws Japanese was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub note: Option<String>,
    /// `note` as a message the UI renders in the user's language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub note_message: Option<Message>,
}

/// What one export writes, taken from the running session.
pub struct ExportJob {
    pub(super) format: HistoryFormat,
    pub(super) out: PathBuf,
    /// The recording in progress, or the last one (CSV comes from it).
    pub(super) recording: Option<PathBuf>,
    /// The charted range (PNG and SVG).
    pub(super) window: Option<HistoryWindow>,
    /// The chart's title: the source's label.
    pub(super) title: String,
    /// The chart's words' language.
    pub(super) language: ChartLanguage,
}

impl ExportJob {
    /// Writes a chart's words in `lang` (English unless told).
    pub fn in_language(mut self, lang: Lang) -> Self {
        self.language = ChartLanguage::new(lang);
        self
    }

    pub fn write(self) -> Result<Exported> {
        match (self.format, self.window) {
            (HistoryFormat::Csv, _) => {
                let recording = self.recording.ok_or_else(|| {
                    Error::invalid(
                        "export",
                        "CSV comes from a recording: press Record first, then export",
                    )
                })?;
                let rows = record::export_csv(&recording, &self.out)?;
                Ok(Exported {
                    path: self.out,
                    rows: Some(rows),
                    note: None,
                    note_message: None,
                })
            }
            (format, Some(window)) => {
                let f = if format == HistoryFormat::Png {
                    ChartFormat::Png
                } else {
                    ChartFormat::Svg
                };
                let options = ChartOptions {
                    language: self.language,
                    ..ChartOptions::default()
                };
                let labels = chart::render(&window, &self.title, &self.out, f, options)?;
                Ok(Exported {
                    path: self.out,
                    rows: None,
                    note: labels.note(),
                    note_message: labels.fallback,
                })
            }
            (_, None) => Err(Error::invalid("export", "nothing to chart")),
        }
    }
}

/// Where an export goes: `path` (which must be absolute), else `DATA_DIR/exports/monitor-TIME.EXT`; its folder is
/// created.
pub fn destination(data_dir: &Path, format: HistoryFormat, path: Option<&str>) -> Result<PathBuf> {
    let ext = match format {
        HistoryFormat::Csv => "csv",
        HistoryFormat::Png => "png",
        HistoryFormat::Svg => "svg",
    };
    let out = match path.map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => {
            let p = PathBuf::from(p);
            if !p.is_absolute() {
                return Err(Error::invalid(
                    "path",
                    format!("{} is not an absolute path", p.display()),
                ));
            }
            p
        }
        None => data_dir
            .join("exports")
            .join(format!("{}.{ext}", default_name("monitor"))),
    };
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    Ok(out)
}

/// `PREFIX-20261129T210700Z`: a file name that sorts by time and is valid everywhere.
pub fn default_name(prefix: &str) -> String {
    let stamp: String = Timestamp::now()
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    format!("{prefix}-{stamp}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Key;

    fn window() -> HistoryWindow {
        let gib = 1u64 << 30;
        serde_json::from_value(serde_json::json!({
            "from": "2026-11-29T21:00:00Z",
            "to": "2026-11-29T21:01:00Z",
            "gpus": [{"gpu": 0, "pid": null, "label": "H100", "total_bytes": 80 * gib,
                      "used": {"t": [1_764_450_000_000u64, 1_764_450_060_000u64], "v": [40 * gib, 70 * gib]}}],
            "processes": [],
        }))
        .unwrap()
    }

    fn job(out: PathBuf, language: ChartLanguage) -> ExportJob {
        ExportJob {
            format: HistoryFormat::Svg,
            out,
            recording: None,
            window: Some(window()),
            title: "nvml".into(),
            language,
        }
    }

    #[test]
    fn a_japanese_chart_without_a_japanese_font_says_why_it_is_english() {
        let dir = tempfile::tempdir().unwrap();
        let no_font = ChartLanguage {
            lang: Lang::Ja,
            cjk_fonts: vec![dir.path().join("missing.ttc")],
        };
        let done = job(dir.path().join("ja.svg"), no_font).write().unwrap();
        assert_eq!(
            done.note_message.as_ref().map(|m| m.key.as_str()),
            Some(Key::ChartNoCjkFont.as_str())
        );
        assert!(
            done.note
                .as_deref()
                .is_some_and(|n| n.starts_with("No Japanese font was found")),
            "{:?}",
            done.note
        );
        let text = std::fs::read_to_string(&done.path).unwrap();
        assert!(
            text.contains("GPU memory, nvml"),
            "the fallback chart is not English"
        );

        // An English chart has nothing to add, and its JSON keeps the old shape.
        let done = job(dir.path().join("en.svg"), ChartLanguage::default())
            .write()
            .unwrap();
        assert_eq!(
            (done.note.as_ref(), done.note_message.as_ref()),
            (None, None)
        );
        let json = serde_json::to_value(&done).unwrap();
        assert!(json.get("note").is_none() && json.get("note_message").is_none());
    }
}
