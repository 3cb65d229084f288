//! Ranking, solver and suggestions (issue 3 item 3).

use headroom_core::estimate::recommend::{rank_presets, solve, suggestions};
use headroom_core::estimate::{
    builtin_presets, estimate, gpus, parse_plan, Placement, Plan, WeightFormat,
};
use serde_json::{json, Value};
use std::num::NonZeroU64;

use super::mechanisms::llama_8b;

fn plan(v: Value) -> Plan {
    let mut v = v;
    v["model"] = json!({"id": "test"});
    parse_plan(&v.to_string(), &builtin_presets()).unwrap()
}

#[test]
fn least_aggressive_fitting_preset_comes_first() {
    // Ranked on the central estimate first, then on the band's upper end (below).
    let p = plan(
        json!({"task": "infer", "sequence_length": 4096, "fit_on": "central",
               "gpus": {"count": 1, "model": "RTX 4090"}}),
    );
    let ranked = rank_presets(&llama_8b(), &p, &builtin_presets()).unwrap();
    assert_eq!(ranked.len(), 8);
    // fp32 (32 GB of weights) cannot fit 24 GB; 16-bit can, and is the least aggressive that does.
    assert!(
        matches!(ranked[0].preset.as_str(), "bf16" | "fp16"),
        "{:?}",
        ranked[0]
    );
    assert!(ranked[0].fits && ranked[0].caveat.is_none());
    let int4 = ranked.iter().position(|r| r.preset == "int4").unwrap();
    let int8 = ranked.iter().position(|r| r.preset == "int8").unwrap();
    assert!(int8 < int4);
    assert!(ranked[int4]
        .caveat
        .as_deref()
        .unwrap()
        .contains("INT4 may cost accuracy"));
    let fp32 = ranked.iter().find(|r| r.preset == "fp32").unwrap();
    assert!(!fp32.fits && fp32.headroom_bytes < 0);

    // By default the band's upper end decides: 16-bit still fits 24 GB, with less room left than the central
    // figure leaves.
    let central_bf16 = ranked
        .iter()
        .find(|r| r.preset == "bf16")
        .unwrap()
        .headroom_bytes;
    let mut high = p.clone();
    high.fit_on = headroom_core::estimate::plan::FitOn::High;
    let ranked = rank_presets(&llama_8b(), &high, &builtin_presets()).unwrap();
    let bf16 = ranked.iter().find(|r| r.preset == "bf16").unwrap();
    assert!(bf16.fits && bf16.headroom_bytes < central_bf16, "{bf16:?}");
}

#[test]
fn quantized_presets_are_unavailable_for_full_fine_tuning() {
    let p = plan(json!({"task": "train", "gpus": {"count": 1, "memory_gib": 80}}));
    let ranked = rank_presets(&llama_8b(), &p, &builtin_presets()).unwrap();
    let int8 = ranked.iter().find(|r| r.preset == "int8").unwrap();
    assert!(int8.unavailable.is_some());
    assert!(ranked.last().unwrap().unavailable.is_some());
}

#[test]
fn solver_finds_the_edge() {
    let p = plan(
        json!({"task": "train", "method": "qlora", "gradient_checkpointing": true,
        "gpus": {"count": 1, "memory_gib": 32}}),
    );
    let presets = builtin_presets();
    let preset = presets.iter().find(|x| x.name == "int4").unwrap();
    let limits = solve(&llama_8b(), &p, preset).unwrap();
    let b = limits.max_batch_size.unwrap();
    let s = limits.max_sequence_length.unwrap();
    assert!(b >= 1 && s >= 2048, "{limits:?}");
    let usable = (32u64 << 30) as f64 * 0.9;
    let at = |b: u64, s: u64| {
        let mut q = p.clone();
        q.batch_size = NonZeroU64::new(b).unwrap();
        q.sequence_length = NonZeroU64::new(s).unwrap();
        q.quantization = Some("int4".into());
        let g = estimate(&llama_8b(), &q, &presets).unwrap().per_gpu;
        g.deciding_device_bytes(q.fit_on) as f64
    };
    assert!(at(b, 2048) <= usable && at(b + 1, 2048) > usable);
    assert!(at(1, s) <= usable && at(1, s + 1) > usable);
}

#[test]
fn suggestions_say_what_would_make_it_fit() {
    let p = plan(
        json!({"task": "train", "method": "full", "batch_size": 4, "gpus": {"count": 1, "model": "A100 80GB"}}),
    );
    let est = estimate(&llama_8b(), &p, &builtin_presets()).unwrap();
    assert_eq!(est.fits, Some(false));
    let s = suggestions(&llama_8b(), &p, &builtin_presets()).unwrap();
    let changes: Vec<&str> = s.iter().map(|x| x.change.as_str()).collect();
    for words in [
        "gradient checkpointing",
        "8-bit optimizer",
        "micro-batch",
        "ZeRO-3 over",
        "offload",
    ] {
        assert!(
            changes.iter().any(|c| c.contains(words)),
            "{words} missing from {changes:?}"
        );
    }
    // Offloading everything fits the central estimate but not the band's upper end: with fit_on central it
    // becomes a change that fits.
    assert!(s.iter().all(|x| x.change.contains("GiB")));
    let ckpt = s
        .iter()
        .find(|x| x.change.contains("checkpointing"))
        .unwrap();
    assert!(ckpt.delta_bytes < 0);
    let mut central = p.clone();
    central.fit_on = headroom_core::estimate::plan::FitOn::Central;
    central.batch_size = NonZeroU64::MIN;
    let s = suggestions(&llama_8b(), &central, &builtin_presets()).unwrap();
    assert!(s.iter().any(|x| x.fits), "{s:?}");
}

/// docs/estimator.md §10.3, §17: a training plan that leaves its lengths open is told what saying "every batch is
/// padded or packed to the sequence length" would take off the peak that decides: the band's upper end, and with
/// checkpointing the stranding the central figure expects.
#[test]
fn a_plan_with_lengths_open_is_told_what_one_length_would_take_off_the_upper_end() {
    let p = plan(
        json!({"task": "train", "method": "qlora", "quantization": "int4_double", "optimizer": "paged_adamw_8bit",
               "gradient_checkpointing": true, "gpus": {"count": 1, "model": "RTX 4090"}}),
    );
    let presets = builtin_presets();
    let est = estimate(&llama_8b(), &p, &presets).unwrap();
    assert_eq!(
        est.fits,
        Some(false),
        "tight on the upper end with the lengths open"
    );
    let s = suggestions(&llama_8b(), &p, &presets).unwrap();
    let one = s
        .iter()
        .find(|x| x.plan["sequence_lengths"] == json!([2048]))
        .unwrap_or_else(|| panic!("no one-length suggestion in {s:?}"));
    assert!(
        one.change.contains("padded or packed to 2048 tokens"),
        "{}",
        one.change
    );
    assert!(one.fits);
    let fixed = estimate(&llama_8b(), &plan_with_lengths(&p), &presets).unwrap();
    assert_eq!(one.device_peak_bytes, fixed.per_gpu.device_peak_bytes);
    assert!(one.device_peak_bytes < est.per_gpu.device_peak_bytes);
    let high = est.per_gpu.range.unwrap().device_peak_bytes.high;
    assert_eq!(
        one.delta_bytes,
        fixed.per_gpu.range.unwrap().device_peak_bytes.high as i64 - high as i64
    );
    let message = one.change_message.as_ref().unwrap();
    assert_eq!(message.key, "backend.suggest.fixed_lengths");
    // Decided on the central figure, it is offered with what it takes off that figure.
    let central = Plan {
        fit_on: headroom_core::estimate::plan::FitOn::Central,
        ..p.clone()
    };
    let s = suggestions(&llama_8b(), &central, &presets).unwrap();
    let one = s
        .iter()
        .find(|x| x.change.contains("padded or packed"))
        .unwrap_or_else(|| panic!("no one-length suggestion in {s:?}"));
    assert_eq!(
        one.delta_bytes,
        fixed.per_gpu.device_peak_bytes as i64 - est.per_gpu.device_peak_bytes as i64
    );
    // Already said, or without checkpointing decided on the central figure (which it does not move then): not
    // offered.
    for q in [
        plan_with_lengths(&p),
        Plan {
            gradient_checkpointing: false,
            ..central.clone()
        },
    ] {
        let s = suggestions(&llama_8b(), &q, &presets).unwrap();
        assert!(
            s.iter().all(|x| !x.change.contains("padded or packed")),
            "{s:?}"
        );
    }
}

fn plan_with_lengths(p: &Plan) -> Plan {
    let mut p = p.clone();
    p.set_one_length();
    p
}

#[test]
fn gpu_catalog_has_nvml_totals() {
    assert_eq!(gpus::find("rtx-4090").unwrap().memory_bytes, 24564 << 20);
    assert_eq!(
        gpus::find("NVIDIA H200").unwrap().memory_bytes,
        143771 << 20
    );
    let names: std::collections::HashSet<_> = gpus::catalog().iter().map(|g| g.name).collect();
    assert_eq!(names.len(), gpus::catalog().len());
    for want in [
        "RTX 3090",
        "RTX 4090",
        "RTX 5090",
        "RTX A6000",
        "L40S",
        "A100 40GB",
        "A100 80GB",
        "H100 80GB",
        "H200",
        "B200",
    ] {
        assert!(gpus::find(want).is_some(), "{want}");
    }
}

#[test]
fn the_what_if_grid_agrees_with_single_estimates() {
    use headroom_core::estimate::recommend::what_if_grid;
    let p =
        plan(json!({"task": "train", "method": "lora", "gpus": {"count": 1, "memory_gib": 24}}));
    let presets = builtin_presets();
    let bf16 = presets.iter().find(|x| x.name == "bf16").unwrap();
    let cells = what_if_grid(&llama_8b(), &p, bf16, &[1, 4], &[512, 4096]).unwrap();
    assert_eq!(cells.len(), 4);
    for cell in &cells {
        let mut q = p.clone();
        q.batch_size = NonZeroU64::new(cell.batch_size).unwrap();
        q.sequence_length = NonZeroU64::new(cell.sequence_length).unwrap();
        q.quantization = Some("bf16".into());
        let e = estimate(&llama_8b(), &q, &presets).unwrap();
        assert_eq!(cell.device_peak_bytes, e.per_gpu.device_peak_bytes);
        assert_eq!(cell.fits, e.fits.unwrap());
    }
    assert!(what_if_grid(&llama_8b(), &p, bf16, &[0], &[512]).is_err());
}

#[test]
fn presets_that_do_not_apply_to_qlora_get_no_verdict_and_come_last() {
    let p =
        plan(json!({"task": "train", "method": "qlora", "gpus": {"count": 1, "memory_gib": 80}}));
    let ranked = rank_presets(&llama_8b(), &p, &builtin_presets()).unwrap();
    let first_apart = ranked.iter().position(|r| r.unavailable.is_some()).unwrap();
    assert!(ranked[first_apart..]
        .iter()
        .all(|r| r.unavailable.is_some()));
    for r in &ranked {
        let four_bit = matches!(r.format, WeightFormat::Int4 { .. });
        let on_gpu = r.placement != Placement::Cpu;
        assert_eq!(r.unavailable.is_none(), four_bit && on_gpu, "{r:?}");
        if r.unavailable.is_some() {
            assert!(!r.fits && r.device_peak_bytes == 0, "{r:?}");
        }
    }
    let fp16 = ranked.iter().find(|r| r.preset == "fp16").unwrap();
    assert!(fp16.unavailable.as_deref().unwrap().contains("4-bit"));
    let cpu = ranked.iter().find(|r| r.preset == "cpu").unwrap();
    assert!(cpu.unavailable.is_some());
}

#[test]
fn the_cpu_preset_is_never_the_best_gpu_fit() {
    // A full fine-tune of 8B on 8 GiB: no GPU preset fits, and the CPU preset (0 bytes of GPU) must not lead.
    let p = plan(json!({"task": "train", "gpus": {"count": 1, "memory_gib": 8}}));
    let ranked = rank_presets(&llama_8b(), &p, &builtin_presets()).unwrap();
    assert!(ranked.iter().all(|r| !r.fits), "{ranked:?}");
    assert_ne!(ranked[0].preset, "cpu");
    let cpu = ranked.iter().find(|r| r.preset == "cpu").unwrap();
    assert!(
        cpu.unavailable.as_deref().unwrap().contains("CPU"),
        "{cpu:?}"
    );
}

#[test]
fn suggestions_only_list_changes_that_save_and_say_how_much() {
    // Fits an 80 GiB GPU with room to spare.
    let p = plan(
        json!({"task": "train", "method": "qlora", "gradient_checkpointing": true,
        "chunked_loss": true, "optimizer": "paged_adamw_8bit", "gpus": {"count": 1, "memory_gib": 80}}),
    );
    let list = suggestions(&llama_8b(), &p, &builtin_presets()).unwrap();
    for s in &list {
        assert!(s.delta_bytes < 0, "{s:?}");
        assert!(!s.change.contains(" 0.00 GiB"), "{s:?}");
        assert!(!s.change.contains("adds"), "{s:?}");
    }
    // Rank-1 adapters on q_proj alone: an 8-bit optimizer saves about a megabyte, said in MiB, not "0.00 GiB".
    let tiny = plan(
        json!({"task": "train", "method": "lora", "gradient_checkpointing": true,
        "lora": {"rank": 1, "target_modules": ["q_proj"]}, "gpus": {"count": 1, "memory_gib": 80}}),
    );
    let list = suggestions(&llama_8b(), &tiny, &builtin_presets()).unwrap();
    let eight_bit = list
        .iter()
        .find(|s| s.change.starts_with("use an 8-bit optimizer"))
        .unwrap_or_else(|| panic!("{list:#?}"));
    assert!(eight_bit.delta_bytes > -(1 << 30), "{eight_bit:?}");
    assert!(
        eight_bit.change.ends_with(" MiB") && !eight_bit.change.contains("0.00"),
        "{eight_bit:?}"
    );
}

/// Suggestions, costs and "does not apply" reasons carry message keys the UI translates: each suggestion's
/// `saving` is its saving in bytes, and a preset has cost and reason messages exactly when it has the words.
#[test]
fn suggestions_and_ranked_presets_carry_well_formed_messages() {
    let mut keys = std::collections::BTreeSet::new();
    for v in [
        json!({"task": "train", "method": "full", "batch_size": 4, "gpus": {"count": 1, "model": "A100 80GB"}}),
        json!({"task": "train", "method": "lora", "batch_size": 8, "gpus": {"count": 1, "model": "RTX 4090"}}),
        json!({"task": "train", "method": "qlora", "gpus": {"count": 1, "model": "RTX 4090"}}),
        json!({"task": "train", "method": "qlora", "gradient_checkpointing": false,
               "gpus": {"count": 1, "model": "RTX 4090"}}),
        json!({"task": "infer", "batch_size": 64, "sequence_length": 8192, "gpus": {"count": 1, "model": "RTX 4090"}}),
    ] {
        let p = plan(v);
        for s in suggestions(&llama_8b(), &p, &builtin_presets()).unwrap() {
            let m = s.change_message.expect("a suggestion's message");
            m.check().unwrap();
            assert_eq!(
                m.args["saving"],
                headroom_core::message::MessageArg::Bytes((-s.delta_bytes) as u64)
            );
            keys.insert(m.key);
        }
        for r in rank_presets(&llama_8b(), &p, &builtin_presets()).unwrap() {
            assert_eq!(r.caveat.is_some(), !r.caveat_messages.is_empty(), "{r:?}");
            assert_eq!(r.unavailable.is_some(), r.unavailable_message.is_some());
            for m in r.caveat_messages.iter().chain(&r.unavailable_message) {
                m.check().unwrap();
                keys.insert(m.key.clone());
            }
        }
    }
    for key in headroom_core::message::Key::ALL {
        let k = key.as_str();
        if [
            "backend.suggest.",
            "backend.caveat.",
            "backend.unavailable.",
        ]
        .iter()
        .any(|p| k.starts_with(p))
        {
            assert!(keys.contains(k), "{k} never emitted: {keys:?}");
        }
    }
}

/// docs/estimator.md §6.4, §17: a QLoRA plan without checkpointing that names no bitsandbytes release has room for an
/// older one in its upper end, and is told what naming a current release takes off; one that names it is not.
#[test]
fn a_plan_that_names_no_bitsandbytes_release_is_told_what_naming_a_current_one_takes_off() {
    let p = plan(
        json!({"task": "train", "method": "qlora", "gradient_checkpointing": false, "sequence_length": 1024,
               "sequence_lengths": [1024], "gpus": {"count": 1, "model": "RTX 4090"}}),
    );
    let presets = builtin_presets();
    let est = estimate(&llama_8b(), &p, &presets).unwrap();
    let s = suggestions(&llama_8b(), &p, &presets).unwrap();
    let named = s
        .iter()
        .find(|x| x.plan["bitsandbytes_version"] == json!("0.43.2"))
        .unwrap_or_else(|| panic!("no bitsandbytes suggestion in {s:?}"));
    assert!(
        named.change.contains("bitsandbytes is 0.43.2 or later"),
        "{}",
        named.change
    );
    let high = est.per_gpu.range.unwrap().device_peak_bytes.high;
    assert!(named.delta_bytes < 0);
    assert_eq!((high as i64 + named.delta_bytes) as u64, {
        let mut v = headroom_core::estimate::plan_to_value(&p);
        v["bitsandbytes_version"] = json!("0.43.2");
        let given = headroom_core::estimate::plan::plan_from_value(&v, &presets).unwrap();
        estimate(&llama_8b(), &given, &presets)
            .unwrap()
            .per_gpu
            .range
            .unwrap()
            .device_peak_bytes
            .high
    });
    let mut v = headroom_core::estimate::plan_to_value(&p);
    v["bitsandbytes_version"] = json!("0.45.0");
    let given = headroom_core::estimate::plan::plan_from_value(&v, &presets).unwrap();
    let s = suggestions(&llama_8b(), &given, &presets).unwrap();
    assert!(
        !s.iter().any(|x| x.change.contains("bitsandbytes")),
        "{s:?}"
    );
}

/// Expandable segments are offered where they lower the deciding figure (lengths left open strand nothing under
/// them), with the plan that sets them; a plan that already runs with them is not offered them again.
#[test]
fn expandable_segments_are_suggested_where_they_save() {
    let presets = builtin_presets();
    let p = plan(
        json!({"task": "train", "method": "lora", "gradient_checkpointing": true,
                        "gpus": {"count": 1, "memory_gib": 24}}),
    );
    let before = estimate(&llama_8b(), &p, &presets).unwrap();
    let s = suggestions(&llama_8b(), &p, &presets).unwrap();
    let offered = s
        .iter()
        .find(|x| x.plan["expandable_segments"] == json!(true))
        .unwrap_or_else(|| panic!("no expandable-segments suggestion in {s:?}"));
    assert_eq!(
        offered.change_message.as_ref().unwrap().key,
        "backend.suggest.expandable_segments"
    );
    assert!(offered.delta_bytes < 0);
    assert!(offered.device_peak_bytes < before.per_gpu.device_peak_bytes);
    let already = Plan {
        expandable_segments: true,
        ..p
    };
    let s = suggestions(&llama_8b(), &already, &presets).unwrap();
    assert!(
        s.iter().all(|x| !x.change.contains("expandable_segments")),
        "{s:?}"
    );
}
