//! Issue 3 item 7: the estimator against published measurements (`measured-visible.jsonl`, copied with its
//! provenance). Each usable point becomes a plan; the estimate's total that matches what the source read
//! (allocated, reserved or device; per GPU or summed) is compared with the measured peak.

use headroom_core::estimate::{Estimate, Plan};

use super::measured::{compare_file, median, Compared};

/// Every usable point of the visible set estimated, with its plan. Every point it compares reads allocated memory
/// (docs/estimator.md §12.3).
fn compare_all() -> Vec<(Compared, Plan, Estimate)> {
    let measured = compare_file("measured-visible.jsonl");
    assert!(
        measured.failed.is_empty(),
        "points that failed to estimate: {:?}",
        measured.failed
    );
    for (c, _, _) in &measured.compared {
        assert_eq!(
            c.total, "allocated",
            "{}: the band check reads allocated totals only",
            c.id
        );
    }
    measured.compared
}

#[test]
fn estimates_match_published_measurements() {
    let all = compare_all();
    let compared: Vec<&Compared> = all.iter().map(|(c, _, _)| c).collect();
    for c in &compared {
        println!(
            "{:<36} {:<6} {:<5} measured {:>8.2} GiB  estimated {:>8.2} GiB {:+6.1}%  band {:>7.2} to {:>7.2}{}",
            c.id,
            c.confidence,
            c.group,
            c.measured_gib,
            c.estimated_gib,
            c.error() * 100.0,
            c.low_gib,
            c.high_gib,
            if c.measured_gib > c.high_gib { "  ABOVE" } else { "" }
        );
    }
    let abs: Vec<f64> = compared.iter().map(|c| c.error().abs()).collect();
    assert!(abs.len() >= 30, "only {} usable points", abs.len());
    let mut sorted = abs.clone();
    sorted.sort_by(f64::total_cmp);
    let median_abs = median(abs);
    let p90 = sorted[(sorted.len() * 9 / 10).min(sorted.len() - 1)];
    let worst_under = compared
        .iter()
        .filter(|c| c.confidence == "high")
        .map(|c| c.error())
        .fold(0.0f64, f64::min);
    println!(
        "central: {} points, median |error| {:.1}%, p90 {:.1}%, worst under-estimate (high confidence) {:.1}%",
        sorted.len(),
        median_abs * 100.0,
        p90 * 100.0,
        worst_under * 100.0
    );
    for g in ["infer", "full", "lora", "qlora"] {
        let errs: Vec<f64> = compared
            .iter()
            .filter(|c| c.group == g)
            .map(|c| c.error())
            .collect();
        if !errs.is_empty() {
            println!(
                "  {g:<5} {:>3} points, median signed error {:+.1}%",
                errs.len(),
                median(errs) * 100.0
            );
        }
    }

    // Bounds a little outside today's figures (median 3.0%, p90 15.9%, worst high-confidence under-estimate
    // -13.4%), so that a regression fails. The band is checked over this set and the held-out one together
    // (band.rs).
    assert!(
        median_abs <= 0.035,
        "median absolute error {:.1}% exceeds 3.5%",
        median_abs * 100.0
    );
    assert!(
        p90 <= 0.17,
        "90th percentile absolute error {:.1}% exceeds 17%",
        p90 * 100.0
    );
    assert!(
        worst_under >= -0.14,
        "a high-confidence point is under-estimated by {:.1}%",
        -worst_under * 100.0
    );
}
