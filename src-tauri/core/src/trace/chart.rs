//! A trace's timeline as a PNG or SVG: allocated and reserved GiB through the traced step, with the allocated
//! peak marked, drawn by the same writer as the Plan breakdown and the Monitor history, with the fonts and the
//! words' language they share ([`crate::chart`]).

use std::path::Path;

use plotters::prelude::*;

use super::protocol::{Phase, TimelinePoint};
use crate::chart::{
    choose_labels, write_chart, Chart, ChartFormat, ChartLabels, ChartLanguage, Words,
};
use crate::message::{Key, Message};
use crate::{Error, Result};

const GIB: f64 = (1u64 << 30) as f64;
const WIDTH: u32 = 1200;
const HEIGHT: u32 = 500;
/// The colours of the Plan view's timeline (allocated as the breakdown's activations red is too loud there).
const ALLOCATED: RGBColor = RGBColor(0x25, 0x63, 0xeb);
const RESERVED: RGBColor = RGBColor(0xa8, 0xac, 0xb3);
/// Every key the timeline's words come from: what a font must draw for the chart to be in that language.
const CHART_KEYS: [Key; 13] = [
    Key::TraceChartTitle,
    Key::TraceChartAxisEvents,
    Key::TraceChartAxisGib,
    Key::TraceChartReserved,
    Key::TraceChartAllocated,
    Key::TraceChartPeak,
    Key::TraceChartPeakIn,
    Key::TraceChartLoad,
    Key::TraceChartForward,
    Key::TraceChartBackward,
    Key::TraceChartOptimizer,
    Key::TraceChartPrefill,
    Key::TraceChartDecode,
];

/// The words for the phase the peak fell in.
fn phase_key(phase: Phase) -> Key {
    match phase {
        Phase::Load => Key::TraceChartLoad,
        Phase::Forward => Key::TraceChartForward,
        Phase::Backward => Key::TraceChartBackward,
        Phase::Optimizer => Key::TraceChartOptimizer,
        Phase::Prefill => Key::TraceChartPrefill,
        Phase::Decode => Key::TraceChartDecode,
    }
}

/// Draw `timeline` to `out` (written beside and renamed, so a failure leaves no broken file). `title` names the
/// plan (model and preset); the words are in `language`, and the result says in which they were written.
pub fn render_timeline(
    timeline: &[TimelinePoint],
    title: &str,
    out: &Path,
    format: ChartFormat,
    language: &ChartLanguage,
) -> Result<ChartLabels> {
    if timeline.is_empty() {
        return Err(Error::invalid(
            "timeline",
            "the trace has no timeline to draw",
        ));
    }
    let (labels, words) = choose_labels(language, &CHART_KEYS);
    write_chart(
        out,
        format,
        (WIDTH, HEIGHT),
        &Timeline {
            points: timeline,
            title,
            words,
            out,
        },
    )?;
    Ok(labels)
}

struct Timeline<'a> {
    points: &'a [TimelinePoint],
    title: &'a str,
    words: Words,
    out: &'a Path,
}

impl Chart for Timeline<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, plotters::coord::Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let err = |e: &dyn std::fmt::Display| self.plot_error(e.to_string());
        let words = self.words;
        let family = words.family;
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let x_max = self.points.iter().map(|p| p.i).max().unwrap_or(0).max(1) as f64;
        let y_max = self
            .points
            .iter()
            .map(|p| p.reserved.max(p.allocated))
            .max()
            .unwrap_or(0) as f64
            / GIB;
        let mut chart = ChartBuilder::on(root)
            .caption(
                words.say(Message::new(Key::TraceChartTitle).text("title", self.title)),
                (family, 18),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x_max, 0.0..(y_max * 1.08).max(0.1))
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc(words.phrase(Key::TraceChartAxisEvents))
            .y_desc(words.phrase(Key::TraceChartAxisGib))
            .label_style((family, 13))
            .draw()
            .map_err(|e| err(&e))?;
        for (label, color, value) in [
            (
                Key::TraceChartReserved,
                RESERVED,
                (|p: &TimelinePoint| p.reserved) as fn(&TimelinePoint) -> u64,
            ),
            (Key::TraceChartAllocated, ALLOCATED, |p: &TimelinePoint| {
                p.allocated
            }),
        ] {
            let style = color.stroke_width(2);
            chart
                .draw_series(LineSeries::new(
                    self.points
                        .iter()
                        .map(|p| (p.i as f64, value(p) as f64 / GIB)),
                    style,
                ))
                .map_err(|e| err(&e))?
                .label(words.phrase(label))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
        }
        if let Some(peak) = self.points.iter().max_by_key(|p| p.allocated) {
            let at = (peak.i as f64, peak.allocated as f64 / GIB);
            let peak_words = match peak.module.as_deref() {
                Some(module) => Message::new(Key::TraceChartPeakIn).text("module", module),
                None => Message::new(Key::TraceChartPeak),
            };
            let text = words.say(
                peak_words
                    .bytes("size", peak.allocated)
                    .phrase("phase", phase_key(peak.phase)),
            );
            chart
                .draw_series(std::iter::once(Circle::new(at, 4, ALLOCATED.filled())))
                .map_err(|e| err(&e))?;
            chart
                .draw_series(std::iter::once(Text::new(
                    text,
                    (at.0, at.1 * 1.04),
                    (family, 13).into_font().color(&BLACK),
                )))
                .map_err(|e| err(&e))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font((family, 12))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
        Ok(())
    }

    fn plot_error(&self, message: String) -> Error {
        Error::io(self.out, std::io::Error::other(format!("chart: {message}")))
    }
}
