//! The Plan view's breakdown as a PNG or SVG: one horizontal stacked bar of the per-GPU peak, component by
//! component in the colours every view uses (PyTorch's memory timeline palette, UI.md), against the GPU's
//! capacity with the margin shaded. Drawn headless by plotters with the fonts and the words' language every
//! exported chart shares ([`crate::chart`]).

use std::path::Path;

use plotters::prelude::*;

use super::answer::PlanAnswer;
use crate::chart::{
    choose_labels, write_chart, Chart, ChartFormat, ChartLabels, ChartLanguage, Words,
};
use crate::message::{Key, Message};
use crate::{Error, Result};

const GIB: f64 = (1u64 << 30) as f64;
const WIDTH: u32 = 1200;
const HEIGHT: u32 = 420;

/// Every key the breakdown's words come from: what a font must draw for the chart to be in that language.
const CHART_KEYS: [Key; 18] = [
    Key::PlanChartTitle,
    Key::PlanChartFits,
    Key::PlanChartTight,
    Key::PlanChartDoesNotFit,
    Key::PlanChartNoGpu,
    Key::PlanChartAxis,
    Key::PlanChartPart,
    Key::PlanChartWeights,
    Key::PlanChartLora,
    Key::PlanChartGradients,
    Key::PlanChartOptimizer,
    Key::PlanChartActivations,
    Key::PlanChartLogits,
    Key::PlanChartKvCache,
    Key::PlanChartWorkspace,
    Key::PlanChartAllocator,
    Key::PlanChartManaged,
    Key::PlanChartContext,
];

/// (name, bytes, colour) of every non-empty part of the device peak, in the order the bar stacks them.
pub fn segments(answer: &PlanAnswer) -> Vec<(Key, u64, RGBColor)> {
    let g = &answer.estimate.per_gpu;
    let c = &g.components;
    let all = [
        (Key::PlanChartWeights, c.weights, RGBColor(0x16, 0x65, 0x34)),
        (Key::PlanChartLora, c.lora, RGBColor(0x6f, 0xa3, 0x80)),
        (
            Key::PlanChartGradients,
            c.gradients,
            RGBColor(0x25, 0x63, 0xeb),
        ),
        (
            Key::PlanChartOptimizer,
            c.optimizer,
            RGBColor(0xca, 0x8a, 0x04),
        ),
        (
            Key::PlanChartActivations,
            c.activations,
            RGBColor(0xdc, 0x26, 0x26),
        ),
        (Key::PlanChartLogits, c.logits, RGBColor(0x7e, 0x22, 0xce)),
        (
            Key::PlanChartKvCache,
            c.kv_cache,
            RGBColor(0x0d, 0x94, 0x88),
        ),
        (
            Key::PlanChartWorkspace,
            c.workspace,
            RGBColor(0xb0, 0x7c, 0xe0),
        ),
        (
            Key::PlanChartAllocator,
            g.allocator_overhead_bytes,
            RGBColor(0xa8, 0xac, 0xb3),
        ),
        (
            Key::PlanChartManaged,
            g.managed_memory_bytes,
            RGBColor(0xe3, 0xc0, 0x6c),
        ),
        (
            Key::PlanChartContext,
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

/// Draw the breakdown of `answer` to `out` (written beside and renamed, so a failure leaves no broken file) with
/// its words in `language`, saying in which language they are.
pub fn render_breakdown(
    answer: &PlanAnswer,
    out: &Path,
    format: ChartFormat,
    language: &ChartLanguage,
) -> Result<ChartLabels> {
    let (labels, words) = choose_labels(language, &CHART_KEYS);
    write_chart(out, format, (WIDTH, HEIGHT), &Breakdown(answer, words))?;
    Ok(labels)
}

/// The breakdown bar of one plan's answer, and the language its words are in.
struct Breakdown<'a>(&'a PlanAnswer, Words);

impl Chart for Breakdown<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, plotters::coord::Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        draw(root, self.0, self.1)
    }

    fn plot_error(&self, message: String) -> Error {
        plot_error(message)
    }
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    answer: &PlanAnswer,
    words: Words,
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
            super::VerdictKind::Fits => Message::new(Key::PlanChartFits).bytes("free", v.bytes),
            super::VerdictKind::Tight => Message::new(Key::PlanChartTight).bytes("free", v.bytes),
            super::VerdictKind::DoesNotFit => {
                Message::new(Key::PlanChartDoesNotFit).bytes("more", v.bytes)
            }
        },
        None => Message::new(Key::PlanChartNoGpu),
    };
    let title = words.say(
        Message::new(Key::PlanChartTitle)
            .text("model", answer.model.id.as_str())
            .text("preset", answer.preset.as_str())
            .bytes("size", device)
            .message("verdict", verdict),
    );
    let (top, legend) = root.split_vertically(200);
    let mut chart = ChartBuilder::on(&top)
        .caption(title, (words.family, 18))
        .margin(14)
        .x_label_area_size(36)
        .y_label_area_size(10)
        .build_cartesian_2d(0.0..x_max, 0.0..1.0)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .x_desc(words.phrase(Key::PlanChartAxis))
        .label_style((words.family, 13))
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
    for (i, (name, bytes, color)) in parts.iter().enumerate() {
        let (col, row) = ((i % 3) as i32, (i / 3) as i32);
        let (x, y) = (20 + col * 390, 14 + row * 28);
        legend
            .draw(&Rectangle::new([(x, y), (x + 16, y + 16)], color.filled()))
            .map_err(plot_error)?;
        legend
            .draw(&Text::new(
                words.say(
                    Message::new(Key::PlanChartPart)
                        .text("name", words.phrase(*name))
                        .bytes("size", *bytes),
                ),
                (x + 24, y),
                (words.family, 15).into_font().color(&BLACK),
            ))
            .map_err(plot_error)?;
    }
    Ok(())
}
