//! A trace's timeline as a PNG or SVG: allocated and reserved GiB through the traced step, with the allocated
//! peak marked, drawn by the same writer as the Plan breakdown and the Monitor history.

use std::path::Path;

use plotters::prelude::*;

use super::protocol::TimelinePoint;
use crate::monitor::chart::{write_chart, Chart, ChartFormat, FAMILY};
use crate::{Error, Result};

const GIB: f64 = (1u64 << 30) as f64;
const WIDTH: u32 = 1200;
const HEIGHT: u32 = 500;
/// The colours of the Plan view's timeline (allocated as the breakdown's activations red is too loud there).
const ALLOCATED: RGBColor = RGBColor(0x25, 0x63, 0xeb);
const RESERVED: RGBColor = RGBColor(0xa8, 0xac, 0xb3);

/// Draw `timeline` to `out` (written beside and renamed, so a failure leaves no broken file). `title` names the
/// plan (model and preset).
pub fn render_timeline(
    timeline: &[TimelinePoint],
    title: &str,
    out: &Path,
    format: ChartFormat,
) -> Result<()> {
    if timeline.is_empty() {
        return Err(Error::invalid(
            "timeline",
            "the trace has no timeline to draw",
        ));
    }
    write_chart(
        out,
        format,
        (WIDTH, HEIGHT),
        &Timeline {
            points: timeline,
            title,
            out,
        },
    )
}

struct Timeline<'a> {
    points: &'a [TimelinePoint],
    title: &'a str,
    out: &'a Path,
}

impl Chart for Timeline<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, plotters::coord::Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        let err = |e: &dyn std::fmt::Display| self.plot_error(e.to_string());
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
            .caption(format!("Traced step, {}", self.title), (FAMILY, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x_max, 0.0..(y_max * 1.08).max(0.1))
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("allocation events through the step")
            .y_desc("GiB (2^30 bytes)")
            .label_style((FAMILY, 13))
            .draw()
            .map_err(|e| err(&e))?;
        for (label, color, value) in [
            (
                "reserved",
                RESERVED,
                (|p: &TimelinePoint| p.reserved) as fn(&TimelinePoint) -> u64,
            ),
            ("allocated", ALLOCATED, |p: &TimelinePoint| p.allocated),
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
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
        }
        if let Some(peak) = self.points.iter().max_by_key(|p| p.allocated) {
            let at = (peak.i as f64, peak.allocated as f64 / GIB);
            let text = format!(
                "peak {:.2} GiB, {}{}",
                at.1,
                peak.phase.as_str(),
                peak.module
                    .as_deref()
                    .map(|m| format!(" in {m}"))
                    .unwrap_or_default()
            );
            chart
                .draw_series(std::iter::once(Circle::new(at, 4, ALLOCATED.filled())))
                .map_err(|e| err(&e))?;
            chart
                .draw_series(std::iter::once(Text::new(
                    text,
                    (at.0, at.1 * 1.04),
                    (FAMILY, 13).into_font().color(&BLACK),
                )))
                .map_err(|e| err(&e))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font((FAMILY, 12))
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
