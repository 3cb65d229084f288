//! The Plan view's answer, saved plans and the breakdown chart.

use headroom_core::estimate::chart::{render_breakdown, segments};
use headroom_core::estimate::{answer, builtin_presets, VerdictKind};
use headroom_core::model::{resolve, Resolver};
use headroom_core::monitor::chart::ChartFormat;
use serde_json::json;

fn qlora(batch: u64, gpus: serde_json::Value) -> serde_json::Value {
    json!({"model": {"id": "meta-llama/Llama-3.1-8B"}, "task": "train", "method": "qlora",
        "optimizer": "paged_adamw_8bit", "gradient_checkpointing": true, "batch_size": batch, "gpus": gpus})
}

fn answer_of(v: &serde_json::Value) -> headroom_core::estimate::PlanAnswer {
    answer(v, &builtin_presets(), &Default::default(), |m| {
        resolve(m, &Resolver::default())
    })
    .unwrap()
}

#[test]
fn the_verdict_follows_the_margin() {
    let fits = answer_of(&qlora(1, json!({"count": 1, "model": "RTX 4090"})));
    let v = fits.verdict.unwrap();
    assert_eq!(v.kind, VerdictKind::Fits);
    let total = fits.gpu_memory_bytes.unwrap();
    let device = fits.estimate.per_gpu.device_peak_bytes;
    let high = fits.estimate.per_gpu.range.unwrap().device_peak_bytes.high;
    assert!(high > device);
    assert_eq!(
        v.bytes,
        total - high,
        "free at the band's upper end, which decides"
    );
    assert_eq!(fits.estimate.fits, Some(true));
    // A GPU just larger than the peak: inside the margin, so "tight" (and not fitting by the contract).
    let gib = device as f64 / (1u64 << 30) as f64 * 1.02;
    let tight = answer_of(&qlora(1, json!({"count": 1, "memory_gib": gib})));
    assert_eq!(tight.verdict.unwrap().kind, VerdictKind::Tight);
    assert_eq!(tight.estimate.fits, Some(false));
    let small = answer_of(&qlora(1, json!({"count": 1, "memory_gib": 4})));
    let v = small.verdict.unwrap();
    assert_eq!(v.kind, VerdictKind::DoesNotFit);
    assert_eq!(v.bytes as i64, -small.estimate.headroom_bytes.unwrap());
    assert!(small
        .suggestions
        .iter()
        .all(|s| s.plan["model"]["id"] == "meta-llama/Llama-3.1-8B"));
    let none = answer_of(&json!({"model": {"id": "meta-llama/Llama-3.1-8B"}, "task": "infer"}));
    assert!(none.verdict.is_none() && none.ranked.is_empty() && none.limits.is_none());
}

#[test]
fn a_saved_plan_loads_back_and_bad_files_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.json");
    let presets = builtin_presets();
    let plan = qlora(4, json!({"count": 2, "model": "L40S"}));
    headroom_core::estimate::answer::save_plan(&path, &plan, &presets).unwrap();
    let back = headroom_core::estimate::answer::load_plan(&path, &presets).unwrap();
    assert_eq!(back, answer_of(&plan).plan);
    std::fs::write(
        &path,
        r#"{"model": {"id": "x"}, "task": "train", "batch_size": 0}"#,
    )
    .unwrap();
    let err = headroom_core::estimate::answer::load_plan(&path, &presets).unwrap_err();
    assert!(err.to_string().starts_with("batch_size:"), "{err}");
    let mut bad = plan.clone();
    bad["sharding"] = json!("zero4");
    assert!(headroom_core::estimate::answer::save_plan(&path, &bad, &presets).is_err());
}

#[test]
fn the_breakdown_chart_renders_as_svg_and_png() {
    let dir = tempfile::tempdir().unwrap();
    let a = answer_of(&qlora(2, json!({"count": 1, "model": "RTX 4090"})));
    let parts = segments(&a);
    let sum: u64 = parts.iter().map(|(_, b, _)| b).sum();
    assert_eq!(sum, a.estimate.per_gpu.device_peak_bytes);
    let svg = dir.path().join("plan.svg");
    render_breakdown(&a, &svg, ChartFormat::Svg).unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.starts_with("<svg")
            && text.contains("weights:")
            && text.contains("meta-llama/Llama-3.1-8B")
    );
    let png = dir.path().join("plan.png");
    render_breakdown(&a, &png, ChartFormat::Png).unwrap();
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
}

#[test]
fn this_machines_gpus_come_from_the_monitor_source() {
    use headroom_core::estimate::gpus::machine_gpus;
    use headroom_core::monitor::fake::{FakeConfig, FakeSource};
    let mut source = FakeSource::new(FakeConfig {
        gpus: 2,
        ..FakeConfig::default()
    })
    .unwrap();
    let gpus = machine_gpus(&mut source).unwrap();
    assert_eq!(gpus.len(), 2);
    assert_eq!(gpus[1].index, 1);
    assert_eq!(gpus[0].memory_bytes, 80 << 30);
    // Not a catalog GPU: the plan gets its exact memory, which answers to the same capacity.
    assert_eq!(gpus[0].catalog_name, None);
    let plan = qlora(1, gpus[0].plan_gpus.clone());
    assert_eq!(answer_of(&plan).gpu_memory_bytes, Some(80 << 30));
}
