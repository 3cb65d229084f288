//! Issue 13 item 1: the analytic engine held to the trace engine on the recorded calibration grid
//! (`tests/fixtures/estimate/trace-grid.jsonl`, written by `python/trace_grid.py`; docs/estimator.md §12.4).
//! The trace runs the model's real transformers and PEFT code on fake tensors and replays the caching
//! allocator, so where the two disagree the formulas miss a mechanism. No Python runs here: the figures are
//! recorded, and re-recorded when the trace package or its pinned libraries change.

use headroom_core::estimate::{builtin_presets, estimate, parse_plan};
use headroom_core::model::{resolve, Resolver};
use serde_json::{json, Value};

use super::models::FIXTURES;

struct Point {
    id: String,
    allocated_error: f64,
    reserved_error: f64,
    /// Variable-length rows: where the trace's reserved peak over several lengths falls against the band.
    variable: Option<(f64, bool)>,
}

fn rel(estimated: u64, traced: u64) -> f64 {
    (estimated as f64 - traced as f64) / traced as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn points() -> Vec<Point> {
    let text =
        std::fs::read_to_string(format!("{FIXTURES}/trace-grid.jsonl")).expect("trace-grid.jsonl");
    let presets = builtin_presets();
    let resolver = Resolver::default();
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Value = serde_json::from_str(lines.next().expect("header")).expect("header");
    assert!(
        header["header"]["versions"]["transformers"].is_string(),
        "the grid names the versions it was traced with"
    );
    lines
        .map(|line| {
            let row: Value = serde_json::from_str(line).expect("grid row");
            let id = row["id"].as_str().expect("id").to_string();
            // The trace ran every step at the plan's length: said as one length, so that the central figure
            // expects no stranding from lengths the plan would otherwise leave open (docs/estimator.md §10.3).
            let recorded = row["plan"].clone();
            let mut fixed = recorded.clone();
            if fixed["task"] == "train" {
                fixed["sequence_lengths"] = json!([fixed["sequence_length"]]);
            }
            let plan =
                parse_plan(&fixed.to_string(), &presets).unwrap_or_else(|e| panic!("{id}: {e}"));
            let spec = resolve(&plan.model, &resolver).unwrap_or_else(|e| panic!("{id}: {e}"));
            let est = estimate(&spec, &plan, &presets).unwrap_or_else(|e| panic!("{id}: {e}"));
            let g = est.per_gpu;
            let traced = |k: &str| row["trace"][k].as_u64().expect("trace figure");
            let variable = row.get("trace_variable").map(|v| {
                let reserved = v["reserved_peak_bytes"]
                    .as_u64()
                    .expect("variable reserved");
                // The same plan with the traced steps' lengths: the analytic engine simulates what they strand.
                let mut varying = recorded.clone();
                varying["sequence_lengths"] = v["sequence_lengths"].clone();
                let plan = parse_plan(&varying.to_string(), &presets)
                    .unwrap_or_else(|e| panic!("{id}: {e}"));
                let est = estimate(&spec, &plan, &presets).unwrap_or_else(|e| panic!("{id}: {e}"));
                let g = est.per_gpu;
                let band = g.range.expect("band").reserved_peak_bytes;
                (
                    rel(g.reserved_peak_bytes, reserved),
                    band.low <= reserved && reserved <= band.high,
                )
            });
            Point {
                id,
                allocated_error: rel(g.allocated_peak_bytes, traced("allocated_peak_bytes")),
                reserved_error: rel(g.reserved_peak_bytes, traced("reserved_peak_bytes")),
                variable,
            }
        })
        .collect()
}

#[test]
fn the_analytic_engine_agrees_with_the_recorded_traces() {
    let points = points();
    assert!(points.len() >= 40, "only {} grid points", points.len());
    for p in &points {
        println!(
            "{:<62} allocated {:+6.1}%  reserved {:+6.1}%{}",
            p.id,
            p.allocated_error * 100.0,
            p.reserved_error * 100.0,
            match p.variable {
                Some((e, inside)) => format!(
                    "  variable lengths: reserved {:+6.1}%{}",
                    e * 100.0,
                    if inside { "" } else { " (outside the band)" }
                ),
                None => String::new(),
            }
        );
    }
    let allocated = median(points.iter().map(|p| p.allocated_error.abs()).collect());
    let reserved = median(points.iter().map(|p| p.reserved_error.abs()).collect());
    let signed = median(points.iter().map(|p| p.allocated_error).collect());
    let variable: Vec<(f64, bool)> = points.iter().filter_map(|p| p.variable).collect();
    let variable_median = median(variable.iter().map(|v| v.0.abs()).collect());
    let inside = variable.iter().filter(|v| v.1).count();
    // Every reserved figure the grid traced, with fixed and with varying lengths: what a run of these plans reserves.
    let every_reserved = median(
        points
            .iter()
            .map(|p| p.reserved_error.abs())
            .chain(variable.iter().map(|v| v.0.abs()))
            .collect(),
    );
    println!(
        "{} points: median |allocated error| {:.1}% (signed {:+.1}%), median |reserved error| {:.1}%; {} variable-length: median |reserved error| {:.1}%, {} inside the reserved band; all {} reserved figures: median |error| {:.1}%",
        points.len(),
        allocated * 100.0,
        signed * 100.0,
        reserved * 100.0,
        variable.len(),
        variable_median * 100.0,
        inside,
        points.len() + variable.len(),
        every_reserved * 100.0
    );
    assert!(
        allocated <= 0.03,
        "median |allocated error| {:.1}% over 3%",
        allocated * 100.0
    );
    assert!(
        reserved <= 0.05,
        "median |reserved error| {:.1}% over 5%",
        reserved * 100.0
    );
    // Tighter than the 5%: the allocator model of the step at the plan's shape (docs/estimator.md §10.3)
    // brought the median from 2.4% to 1.5% on the first 59 points; 1.6% with the 3 traced for it.
    assert!(
        reserved <= RESERVED_MEDIAN_BOUND,
        "median |reserved error| {:.1}% over {:.1}%",
        reserved * 100.0,
        RESERVED_MEDIAN_BOUND * 100.0
    );
    let far_under: Vec<&str> = points
        .iter()
        .filter(|p| p.reserved_error < -0.05)
        .map(|p| p.id.as_str())
        .collect();
    assert!(
        far_under.len() <= FAR_UNDER_AT_MOST,
        "reserved more than 5% under the trace on {far_under:?}"
    );
    assert!(
        every_reserved <= 0.05,
        "fixed and varying lengths together: median |reserved error| {:.1}% over 5%",
        every_reserved * 100.0
    );
    assert!(
        variable_median <= VARIABLE_MEDIAN_BOUND,
        "variable lengths: median |reserved error| {:.1}%",
        variable_median * 100.0
    );
    assert!(
        inside * 10 >= variable.len() * 9,
        "variable lengths: only {inside} of {} reserved peaks inside the band",
        variable.len()
    );
}

/// Bound on the median reserved error at fixed lengths, a little outside today's 1.6%.
const RESERVED_MEDIAN_BOUND: f64 = 0.02;

/// Fixed-length points whose reserved figure is more than 5% under the trace, today 4: Gemma-2's full fine-tuning
/// in mixed precision without checkpointing (−12%, the allocated figure is 3.5% under too) and three generation
/// plans (−5% to −6%, which the step's allocator model does not cover). Before the model 9 of the first 59 were,
/// and the paged Llama-3.1-8B point traced for it was −19%.
const FAR_UNDER_AT_MOST: usize = 4;

/// Bound on the median reserved error against traces with varying lengths, a little outside today's 1.7%: the
/// plan lists the traced steps' lengths (`sequence_lengths`) and the engine simulates the segments the shorter
/// steps strand (docs/estimator.md §10.3, §12.4); without it the fixed-shape estimate missed them by 7.3%.
const VARIABLE_MEDIAN_BOUND: f64 = 0.025;
