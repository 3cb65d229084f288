//! The Plan view's breakdown as a PNG or SVG: one horizontal stacked bar of the per-GPU peak, component by
//! component in the colours every view uses (PyTorch's memory timeline palette, UI.md), against the GPU's
//! capacity with the margin shaded. Drawn headless by plotters with the same embedded DejaVu Sans font as
//! [`crate::monitor::chart`].

use std::path::Path;

use plotters::prelude::*;

use super::answer::PlanAnswer;
use crate::monitor::chart::{write_chart, Chart, ChartFormat, FAMILY};
use crate::{Error, Result};

const GIB: f64 = (1u64 << 30) as f64;
const WIDTH: u32 = 1200;
const HEIGHT: u32 = 420;

/// (label, bytes, colour) of every non-empty part of the device peak, in the order the bar stacks them.
pub fn segments(answer: &PlanAnswer) -> Vec<(&'static str, u64, RGBColor)> {
    let g = &answer.estimate.per_gpu;
    let c = &g.components;
    let all = [
        ("weights", c.weights, RGBColor(0x16, 0x65, 0x34)),
        ("LoRA adapters", c.lora, RGBColor(0x6f, 0xa3, 0x80)),
        ("gradients", c.gradients, RGBColor(0x25, 0x63, 0xeb)),
        ("optimizer states", c.optimizer, RGBColor(0xca, 0x8a, 0x04)),
        ("activations", c.activations, RGBColor(0xdc, 0x26, 0x26)),
        ("logits and loss", c.logits, RGBColor(0x7e, 0x22, 0xce)),
        ("KV cache", c.kv_cache, RGBColor(0x0d, 0x94, 0x88)),
        ("workspace", c.workspace, RGBColor(0xb0, 0x7c, 0xe0)),
        (
            "allocator overhead",
            g.allocator_overhead_bytes,
            RGBColor(0xa8, 0xac, 0xb3),
        ),
        (
            "paged (managed)",
            g.managed_memory_bytes,
            RGBColor(0xe3, 0xc0, 0x6c),
        ),
        (
            "CUDA context",
            g.cuda_context_bytes,
            RGBColor(0x6b, 0x72, 0x80),
        ),
    ];
    all.into_iter().filter(|(_, b, _)| *b > 0).collect()
}

fn plot_error(e: impl std::fmt::Display) -> Error {
    Error::Driver {
        message: format!("chart: {e}"),
    }
}

/// Draw the breakdown of `answer` to `out` (written beside and renamed, so a failure leaves no broken file).
pub fn render_breakdown(answer: &PlanAnswer, out: &Path, format: ChartFormat) -> Result<()> {
    write_chart(out, format, (WIDTH, HEIGHT), &Breakdown(answer))
}

/// The breakdown bar of one plan's answer.
struct Breakdown<'a>(&'a PlanAnswer);

impl Chart for Breakdown<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, plotters::coord::Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        draw(root, self.0)
    }

    fn plot_error(&self, message: String) -> Error {
        plot_error(message)
    }
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    answer: &PlanAnswer,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(plot_error)?;
    let device = answer.estimate.per_gpu.device_peak_bytes;
    let capacity = answer.gpu_memory_bytes.unwrap_or(0);
    let x_max = (device.max(capacity) as f64 / GIB * 1.05).max(0.1);
    let verdict = match &answer.verdict {
        Some(v) => match v.kind {
            super::VerdictKind::Fits => format!("fits, {:.2} GiB free", v.bytes as f64 / GIB),
            super::VerdictKind::Tight => format!("tight, {:.2} GiB free", v.bytes as f64 / GIB),
            super::VerdictKind::DoesNotFit => {
                format!("does not fit, needs {:.2} GiB more", v.bytes as f64 / GIB)
            }
        },
        None => "no GPU given".to_string(),
    };
    let title = format!(
        "{} ({}): {:.2} GiB per GPU, {verdict}",
        answer.model.id,
        answer.preset,
        device as f64 / GIB
    );
    let (top, legend) = root.split_vertically(200);
    let mut chart = ChartBuilder::on(&top)
        .caption(title, (FAMILY, 18))
        .margin(14)
        .x_label_area_size(36)
        .y_label_area_size(10)
        .build_cartesian_2d(0.0..x_max, 0.0..1.0)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .x_desc("GiB per GPU (2^30 bytes)")
        .label_style((FAMILY, 13))
        .draw()
        .map_err(plot_error)?;
    let parts = segments(answer);
    let mut at = 0.0;
    for (_, bytes, color) in &parts {
        let w = *bytes as f64 / GIB;
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(at, 0.2), (at + w, 0.8)],
                color.filled(),
            )))
            .map_err(plot_error)?;
        at += w;
    }
    if let (Some(total), Some(usable)) = (answer.gpu_memory_bytes, answer.usable_bytes) {
        let (t, u) = (total as f64 / GIB, usable as f64 / GIB);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(u, 0.1), (t, 0.9)],
                RGBAColor(127, 127, 127, 0.25).filled(),
            )))
            .map_err(plot_error)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(t, 0.0), (t, 1.0)],
                BLACK.stroke_width(2),
            )))
            .map_err(plot_error)?;
    }
    // The legend: a swatch, the name and the GiB of each part, in three columns.
    for (i, (label, bytes, color)) in parts.iter().enumerate() {
        let (col, row) = ((i % 3) as i32, (i / 3) as i32);
        let (x, y) = (20 + col * 390, 14 + row * 28);
        legend
            .draw(&Rectangle::new([(x, y), (x + 16, y + 16)], color.filled()))
            .map_err(plot_error)?;
        legend
            .draw(&Text::new(
                format!("{label}: {:.2} GiB", *bytes as f64 / GIB),
                (x + 24, y),
                (FAMILY, 15).into_font().color(&BLACK),
            ))
            .map_err(plot_error)?;
    }
    Ok(())
}
