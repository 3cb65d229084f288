//! A recording's history as a PNG or SVG chart, drawn headless by plotters: used GiB per GPU and per process over
//! time. Each series is downsampled with min/max buckets to twice the plot's width first, so a 24-hour chart draws
//! in milliseconds and its spikes still show. Fonts, the words' language and the file writing are shared with
//! the other exported charts ([`crate::chart`]).

use std::path::Path;

use plotters::prelude::*;

use super::history::{History, HistoryConfig, HistoryWindow, SeriesWindow};
use super::record::Reader;
use super::{Timestamp, GIB};
use crate::chart::{choose_labels, write_chart, Chart, Words};
pub use crate::chart::{ChartFormat, ChartLabels, ChartLanguage};
use crate::message::{Key, Message};
use crate::{Error, Result};

/// The GPU lines' colours, the same as the Monitor view's (ui/src/lib/components/chart.ts), so a GPU keeps its
/// colour between the window and an export.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0x25, 0x63, 0xeb),
    RGBColor(0x16, 0xa3, 0x4a),
    RGBColor(0x93, 0x33, 0xea),
    RGBColor(0xea, 0x58, 0x0c),
    RGBColor(0x08, 0x91, 0xb2),
    RGBColor(0xdb, 0x27, 0x77),
    RGBColor(0x65, 0xa3, 0x0d),
    RGBColor(0xa1, 0x62, 0x07),
];
/// The capacity line's colour, as in the Monitor view.
const CAPACITY: RGBColor = RGBColor(0x64, 0x74, 0x8b);
/// Every key a history chart's words come from: what a font must draw for the chart to be in that language.
const CHART_KEYS: [Key; 8] = [
    Key::ChartTitle,
    Key::ChartAxisSeconds,
    Key::ChartAxisMinutes,
    Key::ChartAxisHours,
    Key::ChartAxisUsed,
    Key::ChartCapacity,
    Key::ChartGpu,
    Key::ChartProcess,
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartOptions {
    pub width: u32,
    pub height: u32,
    /// Also draw one line per process.
    pub processes: bool,
    /// The language of the chart's words, and where a font for it is looked for.
    pub language: ChartLanguage,
}

impl Default for ChartOptions {
    fn default() -> Self {
        ChartOptions {
            width: 1200,
            height: 600,
            processes: true,
            language: ChartLanguage::default(),
        }
    }
}

/// Loads a recording into a history large enough for all of it (up to 7 days at 1 Hz) and charts all of it.
pub fn chart_recording(
    recording: &Path,
    out: &Path,
    format: ChartFormat,
    options: ChartOptions,
) -> Result<ChartLabels> {
    let mut reader = Reader::open(recording)?;
    let mut history = History::new(HistoryConfig {
        capacity: 7 * 86_400,
        process_capacity: 7 * 86_400,
        ..HistoryConfig::default()
    })?;
    while let Some(s) = reader.next_snapshot()? {
        history.push(&s);
    }
    if history.is_empty() {
        return Err(Error::invalid(
            "recording",
            format!("{} has no snapshots to chart", recording.display()),
        ));
    }
    let window = history.window(
        Timestamp(0),
        Timestamp(u64::MAX - 1),
        options.width as usize * 2,
    );
    render(&window, &reader.header().source, out, format, options)
}

/// Draws a window to `out` (written beside and renamed, so a failed render leaves no broken file), saying in
/// which language its words are.
pub fn render(
    window: &HistoryWindow,
    title: &str,
    out: &Path,
    format: ChartFormat,
    options: ChartOptions,
) -> Result<ChartLabels> {
    if !(200..=8000).contains(&options.width) || !(150..=8000).contains(&options.height) {
        return Err(Error::invalid(
            "size",
            "width 200 to 8000 and height 150 to 8000 pixels",
        ));
    }
    let (labels, words) = choose_labels(&options.language, &CHART_KEYS);
    let chart = HistoryChart {
        window,
        title,
        options: &options,
        words,
        out,
    };
    write_chart(out, format, (options.width, options.height), &chart)?;
    Ok(labels)
}

/// A history window drawn as lines of used bytes over time.
struct HistoryChart<'a> {
    window: &'a HistoryWindow,
    title: &'a str,
    options: &'a ChartOptions,
    words: Words,
    out: &'a Path,
}

impl Chart for HistoryChart<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, plotters::coord::Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        draw(root, self, self.out)
    }

    fn plot_error(&self, message: String) -> Error {
        plot_error(self.out, message)
    }
}

/// A plotting failure is a failure to write the chart file: an I/O error on `out`, so it keeps the exit status
/// and IPC code of any other write failure (no error variant of its own for the shell to map).
fn plot_error(out: &Path, e: impl std::fmt::Display) -> Error {
    Error::io(out, std::io::Error::other(format!("chart: {e}")))
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    chart: &HistoryChart<'_>,
    out: &Path,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let HistoryChart {
        window,
        title,
        options,
        words,
        ..
    } = *chart;
    let family = words.family;
    root.fill(&WHITE).map_err(|e| plot_error(out, e))?;
    let mut series: Vec<&SeriesWindow> = window.gpus.iter().collect();
    if options.processes {
        series.extend(window.processes.iter());
    }
    let start = series
        .iter()
        .filter_map(|s| s.used.t.first())
        .min()
        .copied()
        .unwrap_or(0);
    let end = series
        .iter()
        .filter_map(|s| s.used.t.last())
        .max()
        .copied()
        .unwrap_or(start);
    // Seconds for a short recording, minutes up to three hours, hours beyond: axis labels stay readable.
    let span_ms = end.saturating_sub(start);
    let (unit_ms, axis) = match span_ms {
        0..=120_000 => (1_000.0, Key::ChartAxisSeconds),
        120_001..=10_800_000 => (60_000.0, Key::ChartAxisMinutes),
        _ => (3_600_000.0, Key::ChartAxisHours),
    };
    let x_of = move |t: u64| (t.saturating_sub(start)) as f64 / unit_ms;
    let x_max = x_of(end).max(1.0);
    let y_max = series
        .iter()
        .flat_map(|s| {
            s.total_bytes
                .into_iter()
                .chain(s.used.v.iter().flatten().copied())
        })
        .max()
        .unwrap_or(GIB) as f64
        / GIB as f64;
    let mut chart = ChartBuilder::on(root)
        .caption(
            words.say(Message::new(Key::ChartTitle).text("source", title)),
            (family, 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, 0.0..(y_max * 1.05).max(0.1))
        .map_err(|e| plot_error(out, e))?;
    chart
        .configure_mesh()
        .x_desc(words.say(Message::new(axis).text("since", Timestamp(start).to_string())))
        .y_desc(words.say(Message::new(Key::ChartAxisUsed)))
        .label_style((family, 13))
        .draw()
        .map_err(|e| plot_error(out, e))?;
    // The board's memory as a labelled line, as the Monitor view draws it: how close each line runs to it.
    if let Some(total) = window.gpus.iter().filter_map(|s| s.total_bytes).max() {
        let y = total as f64 / GIB as f64;
        let style = CAPACITY.stroke_width(1);
        chart
            .draw_series(DashedLineSeries::new(
                vec![(0.0, y), (x_max, y)],
                6,
                4,
                style,
            ))
            .map_err(|e| plot_error(out, e))?
            .label(words.say(Message::new(Key::ChartCapacity).bytes("size", total)))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
    }
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()].to_rgba();
        let style = if s.pid.is_some() {
            color.stroke_width(1)
        } else {
            color.stroke_width(2)
        };
        // Split at gaps so a lost GPU or an exited process breaks the line instead of bridging it.
        let mut segments: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for (t, v) in s.used.t.iter().zip(&s.used.v) {
            match v {
                Some(v) => {
                    if let Some(seg) = segments.last_mut() {
                        seg.push((x_of(*t), *v as f64 / GIB as f64));
                    }
                }
                None => segments.push(Vec::new()),
            }
        }
        let mut first = true;
        for seg in segments.into_iter().filter(|s| !s.is_empty()) {
            let drawn = chart
                .draw_series(LineSeries::new(seg, style))
                .map_err(|e| plot_error(out, e))?;
            if first {
                let key = match s.pid {
                    None => Key::ChartGpu,
                    Some(_) => Key::ChartProcess,
                };
                let label = words.say(
                    Message::new(key)
                        .count("gpu", s.gpu.into())
                        .text("name", s.label.as_str()),
                );
                drawn
                    .label(label)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
                first = false;
            }
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((family, 12))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| plot_error(out, e))?;
    Ok(())
}
