//! The one "fits" rule every caller shares: its edges, and that the estimate, the verdict, the ranking and the
//! solver all draw the line at the same byte.

use headroom_core::estimate::fit::{Budget, VerdictKind};
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

#[test]
fn a_peak_at_the_usable_limit_fits_and_one_byte_more_is_tight() {
    let b = Budget::new(1000, 0.10);
    assert!(b.fits(900));
    assert_eq!(b.headroom_bytes(900), 0);
    assert_eq!(b.verdict(900).kind, VerdictKind::Fits);
    assert_eq!(b.verdict(900).bytes, 100);

    assert!(!b.fits(901));
    assert_eq!(b.headroom_bytes(901), -1);
    assert_eq!(b.verdict(901).kind, VerdictKind::Tight);
    assert_eq!(b.verdict(1000).kind, VerdictKind::Tight);
    assert_eq!(b.verdict(1000).bytes, 0);

    let over = b.verdict(1001);
    assert_eq!(over.kind, VerdictKind::DoesNotFit);
    assert_eq!(over.bytes, 101, "what must go to fit with the margin");
}

/// A plan on the edge: the GPU is sized so the plan's own device peak is exactly the usable memory, then one
/// byte less. The estimate's `fits`, the verdict and the plan's own row in the preset ranking must flip together.
#[test]
fn estimate_verdict_and_ranking_agree_at_the_edge() {
    let presets = builtin_presets();
    let resolver = Resolver::default();
    let plan = |gpu_bytes: u64| {
        json!({"model": {"id": "meta-llama/Llama-3.1-8B"}, "task": "train", "method": "qlora",
               "quantization": "int4", "gradient_checkpointing": true, "margin": 0.0,
               "gpus": {"count": 1, "memory_gib": gpu_bytes as f64 / GIB as f64}})
    };
    let first = answer(&plan(80 * GIB), &presets, |m| resolve(m, &resolver)).unwrap();
    let peak = first.estimate.per_gpu.device_peak_bytes;

    for (gpu, fits) in [(peak, true), (peak - GIB / 4, false)] {
        let a = answer(&plan(gpu), &presets, |m| resolve(m, &resolver)).unwrap();
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
