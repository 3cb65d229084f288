//! Issue 13 item 4: the band's lengths doubt (docs/estimator.md §17) comes from the allocator model, not from a
//! published source. A plan that leaves its batch lengths open is replayed through the caching-allocator
//! simulation (§10.3) over a reference schedule of lengths, and what the varying lengths strand beyond the
//! fixed-length reserved estimate is set against the step's logits and activations (at the start of backward). This test
//! recomputes the three figures over a reference grid of catalog plans and fails if the shipped constants are not
//! those figures rounded up: the constants follow the mechanism.

use headroom_core::estimate::band::{
    expected_stranding, EXPECTED_ACTIVATIONS_REUSED_PERMILLE, EXPECTED_LOGITS_PERMILLE,
    LENGTHS_ACTIVATIONS_CHECKPOINTED_PERMILLE, LENGTHS_ACTIVATIONS_PERMILLE, LENGTHS_KEPT_PERMILLE,
    LENGTHS_LOGITS_PERMILLE,
};
use headroom_core::estimate::LengthBytes;
use headroom_core::estimate::{builtin_presets, estimate, parse_plan, reference_lengths};
use serde_json::json;

use super::models::spec;

/// The reference grid: small to large vocabularies and widths, GQA and MHA (Llama-2-7B), the three training
/// methods, with and without checkpointing, at 4 × 1024 tokens. Where the vocabulary is small and the layers wide
/// (Llama-2-7B and Mistral-7B under QLoRA, whose kbit upcast widens the residual stream), the first recomputed layer
/// outweighs the loss at the start of backward; everywhere else the loss is the peak there. What strands grows with the tokens as the logits and
/// activations do (the same multiples at 512 or 32768 tokens within a few hundredths), so one size stands for
/// all; a batch of several sequences strands a little more of the activations than one sequence of as many tokens.
const MODELS: [&str; 7] = [
    "Qwen/Qwen2.5-0.5B-Instruct",
    "meta-llama/Llama-2-7b-hf",
    "meta-llama/Llama-3.2-1B",
    "meta-llama/Llama-3.1-8B",
    "mistralai/Mistral-7B-v0.1",
    "Qwen/Qwen2.5-14B-Instruct",
    "meta-llama/Llama-3.1-70B",
];
/// LoRA, QLoRA with today's bitsandbytes, QLoRA with a release before 0.43.2 under reentrant checkpointing (whose
/// recomputed layer keeps every 4-bit layer's input, so that it, not the loss, can be a plan's peak), full.
/// Then the plans whose quantized layers keep their inputs through the whole forward, checkpointed only (without
/// checkpointing those inputs are saved tensors like any other): LLM.int8 LoRA and QLoRA under a release before
/// 0.43.2, both without reentrance.
const METHODS: [(&str, &str); 6] = [
    ("lora", "bf16"),
    ("qlora", "int4"),
    (QLORA_OLD_BNB, "int4"),
    ("full", "bf16"),
    (LORA_INT8_KEPT, "int8"),
    (QLORA_OLD_BNB_KEPT, "int4"),
];
const QLORA_OLD_BNB: &str = "qlora-bnb-0.41";
const LORA_INT8_KEPT: &str = "lora-int8-non-reentrant";
const QLORA_OLD_BNB_KEPT: &str = "qlora-bnb-0.41-non-reentrant";

/// The plans whose layers keep their inputs through the forward, checkpointed.
fn keeps(method: &str) -> bool {
    method == LORA_INT8_KEPT || method == QLORA_OLD_BNB_KEPT
}
const BATCH: u64 = 4;
const TOKENS: u64 = 1024;
/// The schedule: as many steps as a plan may list, each length uniform on 1..=TOKENS (no dataset is assumed),
/// the last one at TOKENS itself, so that the plan's own length is reached after the others have left their
/// blocks behind. Four fixed seeds, averaged: the figure is the stranding to expect, not one unlucky order.
const STEPS: usize = 64;
const SEEDS: u64 = 4;
/// The shipped constants are the figures rounded up to the next multiple of this many thousandths.
const ROUNDING: u64 = 50;

/// xorshift64: a fixed, dependency-free sequence, so the figure is the same on every machine.
fn lengths(seed: u64) -> Vec<u64> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(seed + 1);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut out: Vec<u64> = (0..STEPS)
        .map(|_| ((next() * TOKENS as f64).ceil() as u64).clamp(1, TOKENS))
        .collect();
    out[STEPS - 1] = TOKENS;
    out
}

/// What one plan strands: its step's activations and logits, and the stranded bytes averaged over the seeds.
struct Stranded {
    checkpointing: bool,
    activations: u64,
    logits: u64,
    stranded: u64,
    /// What the reference lengths strand (the central figure's expectation, docs/estimator.md §10.3).
    records: u64,
    /// The loss, not the first recomputed layer, is the peak at the start of backward.
    loss_peak: bool,
    /// What the quantized layers keep through the forward (part of `activations`).
    kept: u64,
}

fn stranded(model: &str, method: &str, preset: &str, checkpointing: bool) -> Option<Stranded> {
    let presets = builtin_presets();
    let sp = spec(model)?;
    let mut plan = json!({
        "model": {"id": model}, "task": "train", "method": method, "quantization": preset,
        "sequence_length": TOKENS, "batch_size": BATCH, "gradient_checkpointing": checkpointing,
        "attention": "flash",
    });
    if method == QLORA_OLD_BNB || method == QLORA_OLD_BNB_KEPT {
        plan["method"] = json!("qlora");
        plan["bitsandbytes_version"] = json!("0.41.3");
        plan["use_reentrant"] = json!(method == QLORA_OLD_BNB);
    }
    if method == LORA_INT8_KEPT {
        plan["method"] = json!("lora");
        plan["use_reentrant"] = json!(false);
    }
    if method != "full" {
        plan["lora"] =
            json!({"rank": 16, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]});
    }
    // One length: the fixed-length figure (left open, a checkpointed plan's central figure already expects
    // the reference lengths' stranding).
    plan["sequence_lengths"] = json!([TOKENS]);
    let fixed = estimate(
        &sp,
        &parse_plan(&plan.to_string(), &presets).ok()?,
        &presets,
    )
    .ok()?;
    plan["sequence_lengths"] = json!(reference_lengths(TOKENS));
    let records = estimate(
        &sp,
        &parse_plan(&plan.to_string(), &presets).ok()?,
        &presets,
    )
    .ok()?
    .per_gpu
    .reserved_peak_bytes
    .saturating_sub(fixed.per_gpu.reserved_peak_bytes);
    // The band's own inputs: the step's activations and logits at the start of backward, also where the peak is
    // the optimizer step.
    let c = fixed.per_gpu.length_bytes;
    let mut sum = 0u64;
    for seed in 0..SEEDS {
        plan["sequence_lengths"] = json!(lengths(seed));
        let varying = estimate(
            &sp,
            &parse_plan(&plan.to_string(), &presets).ok()?,
            &presets,
        )
        .ok()?;
        sum += varying
            .per_gpu
            .reserved_peak_bytes
            .saturating_sub(fixed.per_gpu.reserved_peak_bytes);
    }
    Some(Stranded {
        checkpointing,
        activations: c.activations,
        logits: c.logits,
        stranded: sum / SEEDS,
        records,
        loss_peak: fixed.per_gpu.components.logits > 0,
        kept: c.kept_inputs,
    })
}

fn ratio_permille(bytes: u64, of: u64) -> u64 {
    (u128::from(bytes) * 1000 / u128::from(of.max(1))) as u64
}

fn rounded(permille: u64) -> u64 {
    permille.div_ceil(ROUNDING) * ROUNDING
}

#[test]
fn the_lengths_doubt_is_what_the_allocator_model_strands() {
    let mut plans = Vec::new();
    for model in MODELS {
        for (method, preset) in METHODS {
            for checkpointing in [true, false] {
                if keeps(method) && !checkpointing {
                    continue;
                }
                let s = stranded(model, method, preset, checkpointing)
                    .unwrap_or_else(|| panic!("{model} {method}: no estimate"));
                println!(
                    "checkpointing {checkpointing:<5} {model:<28} {method:<5} activations {:>6} MiB (kept {:>6} MiB) logits {:>6} MiB stranded {:>6} MiB reference lengths {:>6} MiB",
                    s.activations >> 20,
                    s.kept >> 20,
                    s.logits >> 20,
                    s.stranded >> 20,
                    s.records >> 20
                );
                plans.push(s);
            }
        }
    }
    // The logits first, from the checkpointed plans, whose activations at the peak are small beside them: the
    // most any of them strands per byte of logits.
    let logits = plans
        .iter()
        .filter(|p| p.checkpointing && p.logits > 0 && p.kept == 0)
        .map(|p| ratio_permille(p.stranded, p.logits))
        .max()
        .unwrap_or(0);
    let logits = rounded(logits);
    // The most any of some plans strands beyond what the logits figure gives, per byte of `per` of theirs.
    let beyond_logits = |which: &dyn Fn(&Stranded) -> bool, per: &dyn Fn(&Stranded) -> u64| {
        rounded(
            plans
                .iter()
                .filter(|p| which(p) && per(p) > 0)
                .map(|p| {
                    let beyond = p
                        .stranded
                        .saturating_sub((u128::from(p.logits) * u128::from(logits) / 1000) as u64);
                    ratio_permille(beyond, per(p))
                })
                .max()
                .unwrap_or(0),
        )
    };
    // Then the activations, per checkpointing, over the plans whose layers keep nothing through the forward.
    let activations = |checkpointing: bool| {
        beyond_logits(&|p| p.checkpointing == checkpointing && p.kept == 0, &|p| {
            p.activations
        })
    };
    // Last what layers keep through the forward, over the plans that keep it.
    let kept = beyond_logits(&|p| p.kept > 0, &|p| p.kept);
    let derived = (logits, activations(true), activations(false), kept);
    println!(
        "the allocator model: logits {} permille, activations {} checkpointed, {} not, kept inputs {}",
        derived.0, derived.1, derived.2, derived.3
    );
    assert!(
        plans.iter().filter(|p| p.stranded > 0).count() >= plans.len() / 2,
        "most reference plans should strand something when their lengths change"
    );
    assert_eq!(
        (
            LENGTHS_LOGITS_PERMILLE,
            LENGTHS_ACTIVATIONS_CHECKPOINTED_PERMILLE,
            LENGTHS_ACTIVATIONS_PERMILLE,
            LENGTHS_KEPT_PERMILLE
        ),
        derived,
        "the shipped lengths doubt must be the allocator model's figures rounded up to {ROUNDING}"
    );
}

/// The central figure's expectation (docs/estimator.md §10.3) replays only the new longest batches a run meets,
/// five lengths instead of 64 steps: over the checkpointed reference plans, where the central figure uses it,
/// it strands about a tenth less than the 64 steps in the median (the lengths between the records add a little),
/// never less than half, and more only where the first recomputed layer is the peak (Llama-2-7B under QLoRA,
/// 1.17): there the order of the lengths decides which segments the recomputed tensors can reuse, and the
/// records' steady rise leaves them the fewest.
#[test]
fn the_reference_lengths_strand_what_a_long_run_does() {
    let mut ratios = Vec::new();
    for model in MODELS {
        for (method, preset) in METHODS {
            let s = stranded(model, method, preset, true)
                .unwrap_or_else(|| panic!("{model} {method}: no estimate"));
            if s.stranded < (256 << 20) {
                continue;
            }
            let r = s.records as f64 / s.stranded as f64;
            println!(
                "{model:<28} {method:<5} 64 steps {:>6} MiB reference lengths {:>6} MiB ({r:.2})",
                s.stranded >> 20,
                s.records >> 20
            );
            ratios.push(r);
        }
    }
    assert!(
        ratios.len() >= 12,
        "{} plans strand something",
        ratios.len()
    );
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    println!(
        "reference lengths over 64 steps: median {median:.2}, {:.2} to {:.2}",
        ratios[0],
        ratios[ratios.len() - 1]
    );
    assert!((0.85..=1.0).contains(&median), "median {median:.2}");
    assert!(
        ratios[0] >= 0.5 && ratios[ratios.len() - 1] <= 1.2,
        "{ratios:?}"
    );
}

fn nearest(permille: f64) -> u64 {
    ((permille / ROUNDING as f64).round() as u64) * ROUNDING
}

/// The central figure's expectation for lengths left open (docs/estimator.md §10.3) is a closed form of the step's
/// logits and activations, `R × logits − C × activations`: R and C are the least-squares fit, through the origin,
/// of what the reference lengths strand in the checkpointed LoRA and QLoRA plans of the grid, rounded to 50
/// thousandths. The shipped constants must be those figures, and the closed form must stay near the simulation for
/// every such plan: within 0.9 to 1.15 of it where the loss is the peak at the start of backward. QLoRA under a
/// bitsandbytes release before 0.43.2 is left out of the fit (a release the plan does not name is a current one) and
/// held within 0.55 to 1.6: its recomputed layer keeps every 4-bit layer's input, and there the tensors' sizes
/// decide what the recomputed layer reuses, which two figures cannot follow (Llama-2-7B and Mistral-7B under that
/// QLoRA have the same loss and activations and strand 4.3 and 2.0 GiB).
#[test]
fn the_central_expectation_is_the_allocator_models_closed_form() {
    let mut points = Vec::new();
    for model in MODELS {
        for (method, preset) in METHODS.iter().filter(|(m, _)| *m != "full") {
            let s = stranded(model, method, preset, true)
                .unwrap_or_else(|| panic!("{model} {method}: no estimate"));
            points.push((model, *method, s));
        }
    }
    // Normal equations of records ≈ R·logits − C·activations, over the plans as Headroom's defaults make them:
    // a bitsandbytes release that is not named is a current one.
    let (mut ll, mut la, mut aa, mut ls, mut as_) = (0f64, 0f64, 0f64, 0f64, 0f64);
    for (_, _, s) in points
        .iter()
        .filter(|(_, m, _)| *m != QLORA_OLD_BNB && !keeps(m))
    {
        let (l, a, r) = (s.logits as f64, s.activations as f64, s.records as f64);
        ll += l * l;
        la += l * a;
        aa += a * a;
        ls += l * r;
        as_ += a * r;
    }
    let det = ll * aa - la * la;
    let r = (ls * aa - la * as_) / det;
    let c = (ls * la - ll * as_) / det;
    let derived = (nearest(r * 1000.0), nearest(c * 1000.0));
    println!("closed form fitted: logits {r:.3}, activations reused {c:.3}");
    let mut ratios = Vec::new();
    let mut recompute_peak = Vec::new();
    let mut kept_ratios = Vec::new();
    for (model, method, s) in &points {
        let closed = expected_stranding(LengthBytes {
            activations: s.activations,
            logits: s.logits,
            expected_stranded: 0,
            older_bnb: 0,
            kept_inputs: s.kept,
        });
        println!(
            "{model:<28} {method:<5} reference lengths {:>6} MiB closed form {:>6} MiB",
            s.records >> 20,
            closed >> 20
        );
        let ratio = closed as f64 / s.records.max(1) as f64;
        if keeps(method) {
            kept_ratios.push(ratio);
        } else if s.loss_peak && *method != QLORA_OLD_BNB {
            ratios.push(ratio);
        } else {
            recompute_peak.push(ratio);
        }
    }
    println!(
        "bitsandbytes before 0.43.2, or the first recomputed layer the peak: {recompute_peak:.2?}"
    );
    assert!(
        !recompute_peak.is_empty() && recompute_peak.iter().all(|r| (0.55..=1.6).contains(r)),
        "{recompute_peak:?}"
    );
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    println!(
        "closed form over the reference lengths: median {median:.2}, {:.2} to {:.2}",
        ratios[0],
        ratios[ratios.len() - 1]
    );
    // Where layers keep their inputs through the forward, no linear form of these bytes follows the simulation
    // (the two-figure form alone ranges over five times): the estimate replays the reference lengths instead.
    kept_ratios.sort_by(f64::total_cmp);
    println!(
        "layers that keep their inputs through the forward, two-figure form: {kept_ratios:.2?}"
    );
    assert!(
        kept_ratios.len() >= 10 && kept_ratios[kept_ratios.len() - 1] / kept_ratios[0] > 2.0,
        "the closed form follows these plans after all: {kept_ratios:?}"
    );
    assert_eq!(
        (
            EXPECTED_LOGITS_PERMILLE,
            EXPECTED_ACTIVATIONS_REUSED_PERMILLE
        ),
        derived,
        "the shipped expectation must be the fit rounded to {ROUNDING}"
    );
    assert!((0.95..=1.05).contains(&median), "median {median:.2}");
    assert!(
        ratios[0] >= 0.9 && ratios[ratios.len() - 1] <= 1.15,
        "{ratios:?}"
    );
}

/// Plans whose layers keep their inputs through the forward, with their lengths left open: the central figure at
/// the plan's own shape is the allocator model's replay of the reference lengths, the same figure as listing them.
#[test]
fn layers_that_keep_their_inputs_replay_the_reference_lengths() {
    let presets = builtin_presets();
    for model in ["meta-llama/Llama-2-7b-hf", "meta-llama/Llama-3.1-8B"] {
        for method in [LORA_INT8_KEPT, QLORA_OLD_BNB_KEPT] {
            let sp = spec(model).unwrap();
            let mut plan = json!({
                "model": {"id": model}, "task": "train", "method": "lora", "quantization": "int8",
                "sequence_length": TOKENS, "batch_size": BATCH, "gradient_checkpointing": true,
                "attention": "flash", "use_reentrant": false,
                "lora": {"rank": 16, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]},
            });
            if method == QLORA_OLD_BNB_KEPT {
                plan["method"] = json!("qlora");
                plan["quantization"] = json!("int4");
                plan["bitsandbytes_version"] = json!("0.41.3");
            }
            let run = |plan: &serde_json::Value| {
                estimate(
                    &sp,
                    &parse_plan(&plan.to_string(), &presets).unwrap(),
                    &presets,
                )
                .unwrap()
            };
            let open = run(&plan);
            assert!(
                open.per_gpu.length_bytes.kept_inputs > 0,
                "{model} {method}"
            );
            plan["sequence_lengths"] = json!(reference_lengths(TOKENS));
            let listed = run(&plan);
            assert_eq!(
                open.per_gpu.reserved_peak_bytes, listed.per_gpu.reserved_peak_bytes,
                "{model} {method}"
            );
            plan["sequence_lengths"] = json!([TOKENS]);
            let fixed = run(&plan);
            assert!(
                open.per_gpu.reserved_peak_bytes > fixed.per_gpu.reserved_peak_bytes,
                "{model} {method}: nothing expected stranded"
            );
        }
    }
}
