//! The estimator against published measurements from sources the visible set does not draw on
//! (`measured-holdout.jsonl`, gathered for this check and never used to fit anything; PROVENANCE.md,
//! docs/estimator.md §12.5). This test measures and reports; its assertions are sanity checks only (the points
//! parse, map and estimate), never bounds on the error: a bound here would invite fitting to the held-out set.
//! The band's spread is the exception: it is fitted on this set and the visible one together and judged leaving
//! each source out (band.rs), as docs/estimator.md §17.1 explains; its lengths doubt is the allocator model's
//! (stranding.rs).

use std::collections::BTreeSet;

use super::measured::{compare_file, median, quantile, Compared};

/// The held-out file, and how many of its points the report must at least compare: fewer means a mapping broke.
const FILE: &str = "measured-holdout.jsonl";
const AT_LEAST_COMPARED: usize = 30;

fn share(points: &[&Compared], pick: impl Fn(&Compared) -> bool) -> f64 {
    points.iter().filter(|c| pick(c)).count() as f64 / points.len().max(1) as f64
}

fn summary(label: &str, points: &[&Compared]) {
    if points.is_empty() {
        return;
    }
    let abs: Vec<f64> = points.iter().map(|c| c.error().abs()).collect();
    let signed: Vec<f64> = points.iter().map(|c| c.error()).collect();
    println!(
        "  {label:<34} {:>3} points  median |error| {:>5.1}%  p90 {:>5.1}%  median signed {:>+6.1}%  >20% under {:>3.0}%  above band {:>3.0}%",
        points.len(),
        median(abs.clone()) * 100.0,
        quantile(abs, 0.9) * 100.0,
        median(signed) * 100.0,
        share(points, |c| c.error() < -0.2) * 100.0,
        share(points, |c| c.measured_gib > c.high_gib) * 100.0,
    );
}

#[test]
fn estimates_against_held_out_measurements() {
    let text = std::fs::read_to_string(format!("{}/{FILE}", super::models::FIXTURES))
        .expect("held-out fixture");
    let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
    let measured = compare_file(FILE);
    assert!(
        measured.failed.is_empty(),
        "held-out points that map to a plan but fail to estimate: {:?}",
        measured.failed
    );
    let mut compared: Vec<&Compared> = measured.compared.iter().map(|(c, _, _)| c).collect();
    compared.sort_by(|a, b| a.id.cmp(&b.id));
    for c in &compared {
        println!(
            "{:<38} {:<6} {:<5} {:<9}{} measured {:>7.2} GiB  estimated {:>7.2} GiB {:+6.1}%  band {:>6.2} to {:>6.2}{}",
            c.id,
            c.confidence,
            c.group,
            c.total,
            if c.counter_unknown { "?" } else { " " },
            c.measured_gib,
            c.estimated_gib,
            c.error() * 100.0,
            c.low_gib,
            c.high_gib,
            if c.measured_gib > c.high_gib {
                "  ABOVE"
            } else if c.measured_gib < c.low_gib {
                "  below"
            } else {
                ""
            }
        );
    }
    println!(
        "held-out: {lines} points in the file, {} compared, {} skipped as unexpressible, {} excluded (low confidence or bounds)",
        compared.len(),
        measured.skipped.len(),
        measured.excluded
    );
    println!("(total: the estimate's total compared, `?` = the source does not name its counter, compared with allocated)");
    println!("(above band: the shipped band, whose spread this set helped fit, so in sample; band.rs judges each source by the others)");
    summary("all", &compared);
    for g in ["infer", "full", "lora", "qlora"] {
        let points: Vec<&Compared> = compared.iter().copied().filter(|c| c.group == g).collect();
        summary(&format!("method {g}"), &points);
    }
    let sources: BTreeSet<&str> = compared.iter().map(|c| c.source.as_str()).collect();
    for source in &sources {
        let points: Vec<&Compared> = compared
            .iter()
            .copied()
            .filter(|c| c.source == *source)
            .collect();
        summary(source, &points);
    }
    let named: Vec<&Compared> = compared
        .iter()
        .copied()
        .filter(|c| !c.counter_unknown)
        .collect();
    summary("counter named", &named);
    let unknown: Vec<&Compared> = compared
        .iter()
        .copied()
        .filter(|c| c.counter_unknown)
        .collect();
    summary("counter unknown", &unknown);
    // The same points read as the device total instead (what nvidia-smi shows, which tables that say "memory (GB)"
    // often copy): reported beside the allocated reading, never instead of it, since the sources do not say.
    let as_device: Vec<f64> = unknown
        .iter()
        .map(|c| c.device_gib / c.measured_gib - 1.0)
        .collect();
    let mut all_device: Vec<f64> = compared
        .iter()
        .filter(|c| !c.counter_unknown)
        .map(|c| c.error())
        .collect();
    all_device.extend(&as_device);
    println!(
        "  counter unknown read as the device total instead: those {} points median |error| {:.1}%, median signed {:+.1}%; all points median |error| {:.1}%, >20% under {:.0}%",
        unknown.len(),
        median(as_device.iter().map(|e| e.abs()).collect()) * 100.0,
        median(as_device.clone()) * 100.0,
        median(all_device.iter().map(|e| e.abs()).collect()) * 100.0,
        all_device.iter().filter(|&&e| e < -0.2).count() as f64 / all_device.len().max(1) as f64 * 100.0,
    );
    let above_device: Vec<&str> = unknown
        .iter()
        .filter(|c| c.measured_gib > c.device_high_gib)
        .map(|c| c.id.as_str())
        .collect();
    println!(
        "  counter unknown: measured above the device total's upper end on {} of {} {above_device:?}",
        above_device.len(),
        unknown.len()
    );
    let mut worst = compared.clone();
    worst.sort_by(|a, b| b.error().abs().total_cmp(&a.error().abs()));
    println!("worst 5:");
    for c in worst.iter().take(5) {
        println!(
            "  {:<38} {:<5} measured {:>7.2} GiB  estimated {:>7.2} GiB  {:+6.1}%",
            c.id,
            c.group,
            c.measured_gib,
            c.estimated_gib,
            c.error() * 100.0
        );
    }

    // Sanity only: the file parses, most of it maps, and at least three sources are compared.
    assert!(
        compared.len() >= AT_LEAST_COMPARED,
        "only {} held-out points compared",
        compared.len()
    );
    assert!(
        sources.len() >= 3,
        "held-out points come from {} sources",
        sources.len()
    );
    assert_eq!(
        compared.len() + measured.skipped.len() + measured.excluded + measured.failed.len(),
        lines,
        "every line of {FILE} is compared, skipped or excluded"
    );
    assert!(
        compared
            .iter()
            .all(|c| c.estimated_gib > 0.0 && c.low_gib <= c.high_gib),
        "an estimate without a positive central figure or with an inverted band"
    );
}
