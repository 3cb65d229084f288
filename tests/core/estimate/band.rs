//! Issue 13 item 4: the band (docs/estimator.md §17) against every published measurement the project holds, the
//! visible set and the held-out set together. The shipped spread must be at least as wide as the points give, and
//! each source is judged by the spread the *other* sources give (leave one source out, §17.1): that share, not the
//! in-sample one, says how well the band covers a source it has not seen. The lengths doubt is no source's: it is
//! the allocator model's (stranding.rs), so every source is judged by the shipped one.

use std::collections::BTreeSet;

use headroom_core::estimate::band::{
    band_with, spread, LengthsDoubt, MachineSide, PeakRanges, Spread,
};
use headroom_core::estimate::plan::{Method, Task};
use headroom_core::estimate::{Estimate, Plan};

use super::measured::{compare_file, median, Compared};

const FILES: [&str; 2] = ["measured-visible.jsonl", "measured-holdout.jsonl"];

/// The most a point is asked of the lengths doubt, in thousandths of the allocator model's: a point that needs
/// more is not one changing lengths explain.
const LENGTHS_SEARCH_LIMIT: u64 = 20_000;

struct Point {
    c: Compared,
    plan: Plan,
    est: Estimate,
}

impl Point {
    /// The plan leaves its batches' lengths open (docs/estimator.md §17).
    fn lengths_unknown(&self) -> bool {
        self.plan.lengths_open()
    }

    /// The matching total's band with a given spread and the allocator model's lengths doubt scaled to
    /// `lengths_permille` thousandths (1000: the shipped band), in the units the source reported.
    fn high_gib(&self, s: Spread, lengths_permille: u64) -> f64 {
        let side = MachineSide {
            lengths: LengthsDoubt::for_plan(&self.plan).scaled(lengths_permille),
            ..MachineSide::default_for(&self.plan)
        };
        let r: PeakRanges = band_with(&self.plan, &self.est.per_gpu.band_inputs(), &side, s);
        let g = &self.est.per_gpu;
        let (central, high) = match self.c.total {
            "device" => (g.device_peak_bytes, r.device_peak_bytes.high),
            "reserved" => (g.reserved_peak_bytes, r.reserved_peak_bytes.high),
            _ => (g.allocated_peak_bytes, r.allocated_peak_bytes.high),
        };
        high as f64 * self.c.estimated_gib / central as f64
    }

    /// The least share of the allocator model's lengths doubt, in thousandths, that puts the point inside its band
    /// with spread `s`; `None` for a point that reads allocated memory (the doubt is free blocks) or whose plan lists
    /// its lengths.
    fn lengths_needed(&self, s: Spread) -> Option<u64> {
        if self.c.total == "allocated" || !self.lengths_unknown() {
            return None;
        }
        let (mut lo, mut hi) = (0, LENGTHS_SEARCH_LIMIT);
        if self.high_gib(s, lo) >= self.c.measured_gib {
            return Some(0);
        }
        if self.high_gib(s, hi) < self.c.measured_gib {
            return Some(LENGTHS_SEARCH_LIMIT);
        }
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if self.high_gib(s, mid) >= self.c.measured_gib {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Some(hi)
    }
}

fn load() -> Vec<Point> {
    let mut points = Vec::new();
    for file in FILES {
        let measured = compare_file(file);
        assert!(
            measured.failed.is_empty(),
            "{file}: points that failed to estimate: {:?}",
            measured.failed
        );
        points.extend(
            measured
                .compared
                .into_iter()
                .map(|(c, plan, est)| Point { c, plan, est }),
        );
    }
    points
}

/// measured ÷ central estimate of the matching total.
fn ratio(c: &Compared) -> f64 {
    c.measured_gib / c.estimated_gib
}

/// The spread some points give, in thousandths of measured ÷ estimated: the highest ratio (the upper end must
/// cover every point), and for the lower end the ratio a tenth of the way up (the lowest with fewer than ten
/// points), so that one badly over-estimated run does not widen every band downwards. `None` without points.
fn derived_spread<'a>(points: impl Iterator<Item = &'a Point>) -> Option<Spread> {
    let mut ratios: Vec<f64> = points.map(|p| ratio(&p.c)).collect();
    if ratios.is_empty() {
        return None;
    }
    ratios.sort_by(f64::total_cmp);
    let lo = ratios[ratios.len() / 10];
    let hi = ratios[ratios.len() - 1];
    Some(Spread {
        low_permille: (lo * 1000.0).floor().min(1000.0) as u64,
        high_permille: (hi * 1000.0).ceil().max(1000.0) as u64,
    })
}

/// The spread a band of `group` is given by some points: [`derived_spread`] over the points that read live
/// tensors (allocated, or a counter the source does not name, compared with allocated), the group's own for the
/// lower end, with the upper end of every training point when `group` trains: the engine's training errors above
/// the central figure come from mechanisms every method shares (activations, the loss), and a method measured by
/// a few points from two sources cannot bound a source it has not seen (docs/estimator.md §17.1). Points that read
/// reserved memory are left to the machine side (slack, lengths): their free blocks are no engine error.
fn band_spread(points: &[&Point], group: &str) -> Option<Spread> {
    let live = || points.iter().copied().filter(|p| p.c.total == "allocated");
    let own = derived_spread(live().filter(|p| p.c.group == group));
    if group == "infer" {
        return own;
    }
    let training = derived_spread(live().filter(|p| p.c.group != "infer"))?;
    let own = own.unwrap_or(training);
    Some(Spread {
        low_permille: own.low_permille,
        high_permille: own.high_permille.max(training.high_permille),
    })
}

/// The share of the allocator model's lengths doubt some points ask for: the most any of their reserved or device
/// training peaks needs beyond the spread `spread_of` gives its group and the allocator's slack.
fn band_lengths(points: &[&Point], spread_of: impl Fn(&str) -> Option<Spread>) -> u64 {
    points
        .iter()
        .filter_map(|p| p.lengths_needed(spread_of(p.c.group)?))
        .filter(|&k| k < LENGTHS_SEARCH_LIMIT)
        .max()
        .unwrap_or(0)
}

fn shipped_spread(group: &str) -> Spread {
    let (task, method) = match group {
        "infer" => (Task::Infer, None),
        "full" => (Task::Train, Some(Method::Full)),
        "lora" => (Task::Train, Some(Method::Lora)),
        _ => (Task::Train, Some(Method::Qlora)),
    };
    spread(task, method)
}

#[test]
fn the_band_covers_published_peaks_and_each_source_by_the_others() {
    let points = load();
    let all: Vec<&Point> = points.iter().collect();
    assert!(
        all.len() >= 90,
        "only {} published points compared",
        all.len()
    );

    // The shipped spread, fitted on the points that read live tensors: in sample, it must cover every one of them.
    // A point that reads reserved memory is judged against the allocator model's machine side, which no point set:
    // one outside is reported, and counted below with the others it falls outside of.
    let mut above = Vec::new();
    let mut reserved_above = Vec::new();
    for p in &all {
        let high = p.high_gib(shipped_spread(p.c.group), 1000);
        if p.c.measured_gib > high * (1.0 + 1e-9) {
            let line = format!(
                "{}: measured {:.2} GiB, upper end {high:.2}",
                p.c.id, p.c.measured_gib
            );
            if p.c.total == "allocated" {
                above.push(line);
            } else {
                reserved_above.push(line);
            }
        }
    }
    println!(
        "shipped band, points reading reserved memory above its upper end: {} {reserved_above:#?}",
        reserved_above.len()
    );

    // The shipped figures are at least as wide as all the points give.
    let mut narrow = Vec::new();
    for g in ["infer", "full", "lora", "qlora"] {
        let shipped = shipped_spread(g);
        if let Some(d) = band_spread(&all, g) {
            println!(
                "spread {g:<5} shipped {}..{} permille, all sources give {}..{}",
                shipped.low_permille, shipped.high_permille, d.low_permille, d.high_permille
            );
            if shipped.high_permille < d.high_permille || shipped.low_permille > d.low_permille {
                narrow.push(format!(
                    "spread {g}: shipped {}..{}, the data give {}..{}",
                    shipped.low_permille, shipped.high_permille, d.low_permille, d.high_permille
                ));
            }
        }
    }
    // What the published points ask of the allocator model's lengths doubt: reported, not fitted.
    for checkpointing in [true, false] {
        let group: Vec<&Point> = all
            .iter()
            .copied()
            .filter(|p| p.plan.gradient_checkpointing == checkpointing)
            .collect();
        let needed = band_lengths(&group, |g| Some(shipped_spread(g)));
        println!(
            "lengths doubt, checkpointing {checkpointing}: beyond what the central figure expects, the published points need at most {needed} thousandths of the allocator model's"
        );
    }
    for p in &all {
        if p.lengths_needed(shipped_spread(p.c.group)) == Some(LENGTHS_SEARCH_LIMIT) {
            println!(
                "  {}: beyond what changing lengths can explain ({} thousandths of the model's doubt)",
                p.c.id, LENGTHS_SEARCH_LIMIT
            );
        }
    }

    // Leave one source out: each source judged by the spread the other sources give, and the allocator model's
    // lengths doubt, which no source set.
    let sources: BTreeSet<&str> = all.iter().map(|p| p.c.source.as_str()).collect();
    let mut loso_above = 0;
    let mut judged = 0;
    let mut margins = Vec::new();
    for source in &sources {
        let others: Vec<&Point> = all
            .iter()
            .copied()
            .filter(|p| p.c.source != *source)
            .collect();
        let spread_of = |g: &str| band_spread(&others, g);
        let mut source_above = 0;
        let mut source_judged = 0;
        for p in all.iter().filter(|p| p.c.source == *source) {
            let Some(s) = spread_of(p.c.group) else {
                println!(
                    "  {source:<32} {:<5} no other source measures this method",
                    p.c.group
                );
                continue;
            };
            let high = p.high_gib(s, 1000);
            source_judged += 1;
            margins.push((high - p.c.measured_gib) / p.c.measured_gib);
            if p.c.measured_gib > high {
                source_above += 1;
                println!(
                    "  loso {source:<32} {:<5} {:<9} {}: measured {:.2} GiB above the upper end {high:.2}",
                    p.c.group, p.c.total, p.c.id, p.c.measured_gib
                );
            }
        }
        println!("loso {source:<32} {source_above} of {source_judged} above the upper end");
        loso_above += source_above;
        judged += source_judged;
    }
    let loso_share = loso_above as f64 / judged.max(1) as f64;
    println!(
        "band, leave one source out: measured above the upper end on {loso_above} of {judged} points ({:.0}%); median upper end {:+.1}% over the measurement",
        loso_share * 100.0,
        median(margins) * 100.0
    );

    // The target (at most 5%), which today's figure (5 of 105) meets: a regression fails.
    assert!(
        loso_share <= 0.05,
        "leave one source out: {:.0}% of points above the band's upper end",
        loso_share * 100.0
    );
    assert!(
        above.is_empty(),
        "the shipped band misses points it was fitted on: {above:#?}"
    );
    assert!(
        narrow.is_empty(),
        "the shipped band is narrower than the published points: {narrow:?}"
    );
}
