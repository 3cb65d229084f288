//! Exporting the Monitor's history: a CSV of every reading of the recording, or a chart of the shown range. The
//! session hands over what to write under its lock ([`super::session::Running::export_job`]); the writing runs
//! without it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::chart::{self, ChartFormat, ChartOptions};
use super::history::HistoryWindow;
use super::record;
use super::Timestamp;
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
}

impl ExportJob {
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
                })
            }
            (format, Some(window)) => {
                let f = if format == HistoryFormat::Png {
                    ChartFormat::Png
                } else {
                    ChartFormat::Svg
                };
                chart::render(&window, &self.title, &self.out, f, ChartOptions::default())?;
                Ok(Exported {
                    path: self.out,
                    rows: None,
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
