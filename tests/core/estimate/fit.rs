//! The one "fits" rule every caller shares: its edges, and that the estimate, the verdict, the ranking and the
//! solver all draw the line at the same byte.

use headroom_core::estimate::band::{PeakRanges, Range};
use headroom_core::estimate::fit::{Budget, VerdictKind};
use headroom_core::estimate::plan::FitOn;
use headroom_core::estimate::PerGpu;
use headroom_core::estimate::{answer, builtin_presets};
use headroom_core::model::{resolve, Resolver};
use serde_json::json;

const GIB: u64 = 1 << 30;

#[test]
fn the_margin_is_taken_off_the_gpu_and_rounded_down() {
    let b = Budget::new(24 * GIB, 0.10);
    assert_eq!(b.usable_bytes, (24.0 * GIB as f64 * 0.9).floor() as u64);
    assert_eq!(Budget::new(1001, 0.5).usable_bytes, 500);
    assert_eq!(Budget::new(80 * GIB, 0.0).usable_bytes, 80 * GIB);
}

/// A per-GPU figure with the given central device peak and band upper end.
fn peak(central: u64, high: u64) -> PerGpu {
    PerGpu {
        device_peak_bytes: central,
        range: Some(PeakRanges {
            device_peak_bytes: Range { low: central, high },
            ..PeakRanges::default()
        }),
        ..PerGpu::default()
    }
}

#[test]
fn a_peak_at_the_usable_limit_fits_and_one_byte_more_is_tight() {
    let b = Budget {
        fit_on: FitOn::Central,
        ..Budget::new(1000, 0.10)
    };
    assert!(b.fits(&peak(900, 5000)));
    assert_eq!(b.headroom_bytes(&peak(900, 5000)), 0);
    assert_eq!(b.verdict(&peak(900, 5000)).kind, VerdictKind::Fits);
    assert_eq!(b.verdict(&peak(900, 5000)).bytes, 100);

    assert!(!b.fits(&peak(901, 901)));
    assert_eq!(b.headroom_bytes(&peak(901, 901)), -1);
    assert_eq!(b.verdict(&peak(901, 901)).kind, VerdictKind::Tight);
    assert_eq!(b.verdict(&peak(1000, 1000)).kind, VerdictKind::Tight);
    assert_eq!(b.verdict(&peak(1000, 1000)).bytes, 0);

    let over = b.verdict(&peak(1001, 1001));
    assert_eq!(over.kind, VerdictKind::DoesNotFit);
    assert_eq!(over.bytes, 101, "what must go to fit with the margin");
}

/// By default the band's upper end decides: a central peak that fits with an upper end that does not is
/// "tight", never "fits"; one whose central peak is already over the usable memory does not fit.
#[test]
fn the_band_upper_end_decides_by_default() {
    let b = Budget::new(1000, 0.10);
    assert_eq!(b.fit_on, FitOn::High);
    assert!(b.fits(&peak(800, 900)));
    assert_eq!(b.verdict(&peak(800, 900)).kind, VerdictKind::Fits);
    assert_eq!(
        b.verdict(&peak(800, 900)).bytes,
        100,
        "free at the upper end"
    );

    assert!(!b.fits(&peak(800, 901)));
    assert_eq!(b.headroom_bytes(&peak(800, 901)), -1);
    let tight = b.verdict(&peak(800, 1200));
    assert_eq!(tight.kind, VerdictKind::Tight);
    assert_eq!(tight.bytes, 200, "free at the central peak");

    let margin = b.verdict(&peak(950, 1100));
    assert_eq!(
        margin.kind,
        VerdictKind::Tight,
        "the central peak is within the GPU"
    );
    assert_eq!(margin.bytes, 50);
    let over = b.verdict(&peak(1001, 1100));
    assert_eq!(over.kind, VerdictKind::DoesNotFit);
    assert_eq!(over.bytes, 200, "what must go for the upper end to fit");

    // An estimate without a band decides on its central figure whatever the rule.
    let bare = PerGpu {
        device_peak_bytes: 900,
        ..PerGpu::default()
    };
    assert!(b.fits(&bare));
}

/// A plan on the edge: the GPU is sized so the plan's own device peak is exactly the usable memory, then one
/// byte less. The estimate's `fits`, the verdict and the plan's own row in the preset ranking must flip together.
#[test]
fn estimate_verdict_and_ranking_agree_at_the_edge() {
    let presets = builtin_presets();
    let resolver = Resolver::default();
    for fit_on in ["high", "central"] {
        let plan = |gpu_bytes: u64| {
            json!({"model": {"id": "meta-llama/Llama-3.1-8B"}, "task": "train", "method": "qlora",
                   "quantization": "int4", "gradient_checkpointing": true, "margin": 0.0, "fit_on": fit_on,
                   "gpus": {"count": 1, "memory_bytes": gpu_bytes}})
        };
        let first = answer(&plan(80 * GIB), &presets, &Default::default(), |m| {
            resolve(m, &resolver)
        })
        .unwrap();
        let g = first.estimate.per_gpu;
        // On the central figure the edge is the run's peak without what it leaves in free segments: what changing
        // lengths are expected to strand (docs/estimator.md §10.3) and what the step's own freed blocks leave
        // beyond the usual slack (§10.3) are never more than the GPU holds beyond it, since the allocator frees
        // cached segments before it runs out of memory.
        let peak = if fit_on == "high" {
            g.range.unwrap().device_peak_bytes.high
        } else {
            assert!(g.length_bytes.expected_stranded > 0);
            g.device_peak_bytes - g.length_bytes.expected_stranded - g.fragmented_bytes
        };
        assert_edge(&presets, &resolver, plan, peak);
    }
}

fn assert_edge(
    presets: &[headroom_core::estimate::PresetInfo],
    resolver: &Resolver,
    plan: impl Fn(u64) -> serde_json::Value,
    peak: u64,
) {
    for (gpu, fits) in [(peak, true), (peak - 1, false)] {
        let a = answer(&plan(gpu), presets, &Default::default(), |m| {
            resolve(m, resolver)
        })
        .unwrap();
        let usable = a.usable_bytes.unwrap();
        assert_eq!(
            a.estimate.fits,
            Some(fits),
            "estimate at {gpu} (usable {usable}, peak {peak})"
        );
        let kind = a.verdict.unwrap().kind;
        assert_eq!(kind == VerdictKind::Fits, fits, "verdict {kind:?} at {gpu}");
        let own = a.ranked.iter().find(|r| r.preset == "int4").unwrap();
        assert_eq!(own.fits, fits, "ranking at {gpu}");
    }
}
