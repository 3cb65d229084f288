//! The monitor's preset advice decides like the Plan view: the first preset after the run's own whose estimate
//! fits the GPU by the fit rule.

use headroom_core::estimate::plan::Method;
use headroom_core::estimate::plan::Task;
use headroom_core::estimate::{answer, builtin_presets, VerdictKind};
use headroom_core::launch::advice::EstimateAdvisor;
use headroom_core::launch::history::{self, RunRecord};
use headroom_core::model::{resolve, Resolver};
use headroom_core::monitor::advice::{Advice, PresetAdvisor};
use headroom_core::monitor::procs::ModelLink;
use headroom_core::paths::AppPaths;
use headroom_core::presets::config_store::ConfigLibrary;
use headroom_core::presets::library::PresetLibrary;
use headroom_core::presets::model_config::ModelConfig;
use headroom_core::settings::{self, Settings};
use headroom_core::store::Revision;
use serde_json::json;

const MODEL: &str = "Qwen/Qwen3-32B";
const GIB: u64 = 1 << 30;

fn paths_with_lora_config(dir: &tempfile::TempDir) -> AppPaths {
    let paths = AppPaths::new(dir.path().join("config"), dir.path().join("data"));
    let mut config = ModelConfig::new("fp16", Task::Train);
    config.method = Some(Method::Lora);
    ConfigLibrary::new(&paths)
        .set(
            MODEL,
            &config,
            Revision::ABSENT,
            &PresetLibrary::new(&paths),
        )
        .unwrap();
    paths
}

fn link(preset: Option<&str>, batch: Option<u64>, sequence: Option<u64>) -> ModelLink {
    ModelLink {
        id: MODEL.into(),
        run_id: None,
        preset: preset.map(Into::into),
        flag: Some("--model_name_or_path".into()),
        batch_size: batch,
        sequence_length: sequence,
    }
}

/// The Plan view's verdict for the same plan with `preset`, on one GPU of `gpu_gib`.
fn plan_verdict(preset: &str, gpu_gib: u64, fit_on: &str) -> VerdictKind {
    let plan = json!({"model": {"id": MODEL}, "task": "train", "method": "lora", "quantization": preset,
        "batch_size": 2, "sequence_length": 2048, "fit_on": fit_on,
        "gpus": {"count": 1, "memory_gib": gpu_gib}});
    answer(&plan, &builtin_presets(), &Default::default(), |m| {
        resolve(m, &Resolver::default())
    })
    .unwrap()
    .verdict
    .unwrap()
    .kind
}

#[test]
fn the_advice_is_the_first_later_preset_the_plan_view_says_fits() {
    let dir = tempfile::tempdir().unwrap();
    let advisor = EstimateAdvisor::new(paths_with_lora_config(&dir), Resolver::default());
    let chain = ["int8", "int4", "int4_double", "int4_offload"];
    for gpu_gib in [24, 48, 80] {
        let expected = chain
            .iter()
            .position(|p| plan_verdict(p, gpu_gib, "high") == VerdictKind::Fits);
        let advice = advisor.advise(&link(Some("fp16"), Some(2), Some(2048)), gpu_gib * GIB);
        match (expected, advice) {
            (
                Some(i),
                Advice::Fits {
                    preset,
                    skipped,
                    batch_size,
                    sequence_length,
                    ..
                },
            ) => {
                assert_eq!(preset, chain[i], "{gpu_gib} GiB");
                for earlier in &chain[..i] {
                    assert!(
                        skipped.contains(&format!("{earlier} skipped")),
                        "{gpu_gib} GiB: {skipped}"
                    );
                }
                assert_eq!((batch_size, sequence_length), (2, 2048));
            }
            (None, Advice::NoneFits { why }) => assert!(why.contains("no step fits"), "{why}"),
            (expected, advice) => panic!("{gpu_gib} GiB: expected {expected:?}, got {advice:?}"),
        }
    }
}

#[test]
fn the_setting_fit_on_central_is_the_advice_s_rule_too() {
    let dir = tempfile::tempdir().unwrap();
    let paths = paths_with_lora_config(&dir);
    // A GPU where some preset is tight: fits on the central figure, not on the band's upper end.
    let chain = ["int8", "int4", "int4_double", "int4_offload"];
    let gpu_gib = (16..=96)
        .find(|g| {
            chain.iter().any(|p| {
                plan_verdict(p, *g, "high") != VerdictKind::Fits
                    && plan_verdict(p, *g, "central") == VerdictKind::Fits
            }) && chain
                .iter()
                .any(|p| plan_verdict(p, *g, "high") == VerdictKind::Fits)
        })
        .expect("a GPU size where the rule matters");
    let first = |fit_on: &str| {
        chain
            .iter()
            .find(|p| plan_verdict(p, gpu_gib, fit_on) == VerdictKind::Fits)
            .map(|p| p.to_string())
    };
    let advised = |paths: &AppPaths| match EstimateAdvisor::new(paths.clone(), Resolver::default())
        .advise(&link(Some("fp16"), Some(2), Some(2048)), gpu_gib * GIB)
    {
        Advice::Fits { preset, .. } => Some(preset),
        _ => None,
    };
    assert_eq!(advised(&paths), first("high"));
    let central = Settings {
        fit_on: headroom_core::estimate::plan::FitOn::Central,
        ..Settings::default()
    };
    settings::save(&paths.settings_file(), &central).unwrap();
    assert_eq!(advised(&paths), first("central"));
    assert_ne!(first("high"), first("central"), "{gpu_gib} GiB");
}

#[test]
fn a_run_it_cannot_estimate_says_why_and_the_chain_s_end_has_no_advice() {
    let dir = tempfile::tempdir().unwrap();
    let advisor = EstimateAdvisor::new(paths_with_lora_config(&dir), Resolver::default());
    match advisor.advise(&link(Some("fp16"), None, Some(2048)), 80 * GIB) {
        Advice::Unknown(why) => assert!(why.contains("batch size"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        advisor.advise(&link(Some("int4_offload"), Some(1), Some(512)), 80 * GIB),
        Advice::EndOfChain
    );
    let unsaved = ModelLink {
        id: "Qwen/Qwen3-8B".into(),
        ..link(Some("fp16"), Some(1), Some(512))
    };
    match advisor.advise(&unsaved, 80 * GIB) {
        Advice::Unknown(why) => assert!(why.contains("no saved config"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_run_started_with_a_plan_is_advised_with_that_plan() {
    // Qwen3-32B LoRA in fp32, run by Headroom with a plan that shards it over four 48 GiB GPUs (FSDP full shard)
    // with checkpointing: fp16's 61 GiB of weights become 15 per GPU, so fp16 is the advice.
    let dir = tempfile::tempdir().unwrap();
    let paths = AppPaths::new(dir.path().join("config"), dir.path().join("data"));
    let (run_id, _) = history::create_run_dir(&paths, 1_000).unwrap();
    let mut record: RunRecord = serde_json::from_value(json!({
        "run_id": run_id, "model": MODEL, "profile": "production",
        "chain": ["fp32", "fp16", "int8", "int4"], "argv": ["python3"], "cwd": "/tmp",
        "started_unix_ms": 1_000, "attempts": [], "outcome": null
    }))
    .unwrap();
    let advisor = EstimateAdvisor::new(paths.clone(), Resolver::default());
    let running = ModelLink {
        run_id: Some(run_id.clone()),
        ..link(Some("fp32"), Some(1), Some(1024))
    };
    let advised = |record: &RunRecord| {
        history::save(
            &paths,
            record,
            history::load(&paths, &record.run_id).map_or(Revision::ABSENT, |(_, r)| r),
        )
        .unwrap();
        match advisor.advise(&running, 48 * GIB) {
            Advice::Fits { preset, .. } => preset,
            other => panic!("{other:?}"),
        }
    };
    record.plan = Some(
        json!({"task": "train", "method": "lora", "gradient_checkpointing": true,
        "gpus": {"count": 4, "memory_gib": 48}, "sharding": "fsdp_full_shard"}),
    );
    assert_eq!(advised(&record), "fp16");
    // The same run without its plan has no task to plan with (no saved config): it says so.
    record.plan = None;
    history::save(&paths, &record, history::load(&paths, &run_id).unwrap().1).unwrap();
    assert!(
        matches!(advisor.advise(&running, 48 * GIB), Advice::Unknown(why) if why.contains("no saved config"))
    );
    // With the saved LoRA config instead (one GPU, checkpointing off, as the config cannot say), nothing left
    // fits 48 GiB: the plan is what made the advice possible.
    let configured = paths_with_lora_config(&dir);
    assert_eq!(configured, paths);
    match advisor.advise(&running, 48 * GIB) {
        Advice::NoneFits { why } => assert!(
            why.contains("fp16 skipped") && why.contains("no step fits"),
            "{why}"
        ),
        other => panic!("{other:?}"),
    }
}
