//! The Plan view's answer, saved plans and the breakdown chart.

use std::path::Path;

use headroom_core::chart::{ChartFormat, ChartLanguage};
use headroom_core::estimate::chart::{render_breakdown, segments};
use headroom_core::estimate::{answer, builtin_presets, VerdictKind};
use headroom_core::i18n::{self, Lang};
use headroom_core::model::{resolve, Resolver};
use serde_json::json;

use crate::chart_fonts::{has_japanese, no_japanese_fonts, noto_cjk};

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
    // On a 32 GB card: on a 24 GB one the upper end of a plan that leaves its lengths open is past the margin.
    let fits = answer_of(&qlora(1, json!({"count": 1, "model": "RTX 5090"})));
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
    let english = ChartLanguage::default();
    let labels = render_breakdown(&a, &svg, ChartFormat::Svg, &english).unwrap();
    assert_eq!((labels.lang, labels.fallback), (Lang::En, None));
    assert_eq!(a.verdict.as_ref().unwrap().kind, VerdictKind::Tight);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.starts_with("<svg")
            && text.contains("weights:")
            && text.contains("meta-llama/Llama-3.1-8B")
            && text.contains("GiB per GPU (2^30 bytes)")
            && text.contains("GiB per GPU, tight, "),
        "{text}"
    );
    let png = dir.path().join("plan.png");
    render_breakdown(&a, &png, ChartFormat::Png, &english).unwrap();
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
}

#[test]
fn a_japanese_breakdown_chart_writes_its_words_in_japanese_with_a_cjk_font() {
    let dir = tempfile::tempdir().unwrap();
    let a = answer_of(&qlora(2, json!({"count": 1, "model": "RTX 4090"})));
    let font = noto_cjk();
    let japanese = ChartLanguage {
        lang: Lang::Ja,
        cjk_fonts: vec![font.clone()],
    };
    let svg = dir.path().join("plan-ja.svg");
    let labels = render_breakdown(&a, &svg, ChartFormat::Svg, &japanese).unwrap();
    assert_eq!(labels.lang, Lang::Ja);
    assert_eq!(labels.font.as_deref(), Some(font.as_path()));
    assert_eq!(labels.fallback, None);
    let text = std::fs::read_to_string(&svg).unwrap();
    for words in [
        "meta-llama/Llama-3.1-8B（",
        "GPU あたりの GiB（2^30 バイト）",
        "ぎりぎりです（空き ",
        "重み：",
        "活性化：",
    ] {
        assert!(
            text.contains(words),
            "no {words:?} in the Japanese breakdown SVG"
        );
    }
    assert!(
        text.contains("Noto Sans CJK JP"),
        "the SVG does not name the CJK font"
    );
    assert!(!text.contains("weights:") && !text.contains("GiB per GPU"));
    let png = dir.path().join("plan-ja.png");
    let labels = render_breakdown(&a, &png, ChartFormat::Png, &japanese).unwrap();
    assert_eq!(labels.lang, Lang::Ja);
    assert_eq!(&std::fs::read(&png).unwrap()[1..4], b"PNG");

    // A plan without a GPU says so in Japanese too.
    let no_gpu = answer_of(&qlora(2, json!(null)));
    let svg = dir.path().join("plan-ja-no-gpu.svg");
    render_breakdown(&no_gpu, &svg, ChartFormat::Svg, &japanese).unwrap();
    assert!(std::fs::read_to_string(&svg)
        .unwrap()
        .contains("GPU の指定なし"));
}

#[test]
fn without_a_font_that_draws_japanese_the_breakdown_is_english_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let a = answer_of(&qlora(2, json!({"count": 1, "model": "RTX 4090"})));
    let japanese = ChartLanguage {
        lang: Lang::Ja,
        cjk_fonts: no_japanese_fonts(dir.path()),
    };
    for name in ["fallback.svg", "fallback.png"] {
        let out = dir.path().join(name);
        let format = if name.ends_with(".svg") {
            ChartFormat::Svg
        } else {
            ChartFormat::Png
        };
        let labels = render_breakdown(&a, &out, format, &japanese).unwrap();
        assert_eq!(
            (labels.lang, labels.font.as_deref()),
            (Lang::En, None::<&Path>)
        );
        let why = labels.fallback.clone().expect("the fallback says why");
        assert_eq!(why.key, "backend.chart.no_cjk_font");
        assert!(i18n::render(Lang::Ja, &why)
            .unwrap()
            .contains("fonts-noto-cjk"));
        assert!(labels
            .note()
            .unwrap()
            .starts_with("No Japanese font was found"));
        if format == ChartFormat::Svg {
            let text = std::fs::read_to_string(&out).unwrap();
            assert!(text.contains("weights:") && text.contains("GiB per GPU (2^30 bytes)"));
            assert!(!has_japanese(&text), "the fallback chart holds Japanese");
        }
    }
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
