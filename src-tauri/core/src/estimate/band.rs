//! The band around an estimate (docs/estimator.md §17): where the measured peak of a run of this plan can fall.
//! Four things widen it, each kept apart so that a note can say what it rests on:
//!
//! 1. the engine's own error by method, measured out of source on published peaks (`Spread`);
//! 2. what the plan cannot say about the software: the loss path of older transformers releases, which keep the
//!    fp32 logits and a shifted copy alive beside the log-softmax (§7), and, where the plan names no bitsandbytes
//!    release, the 4-bit layers' inputs that releases before 0.43.2 keep (§6.4);
//! 3. what the plan cannot say about the machine: the caching allocator's free blocks (fixed or varying batch
//!    shapes, from the trace grid, §12.4) and the CUDA context of the driver and GPU (§10.4), unless this
//!    machine's runs have measured them;
//! 4. what the plan cannot say about its data: the blocks batches of changing length strand, where it leaves its
//!    lengths open (`Plan::lengths_open`), from the caching-allocator simulation over a reference schedule of
//!    lengths (`LengthsDoubt`).
//!
//! "Fits" is decided on the band's upper end unless the plan asks for the central value (`fit_on`), so every
//! caller that decides goes through [`super::fit::Budget`] with a [`PeakRanges`].

use serde::{Deserialize, Serialize};

use super::plan::{Method, Plan, Task};
use super::report::LengthBytes;

const MIB: u64 = 1 << 20;

/// A low and a high figure in bytes, low ≤ central ≤ high.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ts_rs::TS,
    schemars::JsonSchema,
)]
pub struct Range {
    pub low: u64,
    pub high: u64,
}

/// The band of each total of [`super::report::PerGpu`].
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ts_rs::TS,
    schemars::JsonSchema,
)]
pub struct PeakRanges {
    pub allocated_peak_bytes: Range,
    pub reserved_peak_bytes: Range,
    pub device_peak_bytes: Range,
}

/// measured ÷ estimated allocated peak, in thousandths: the lowest and highest ratio a method's estimates met on
/// published peaks from sources other than the one being judged (docs/estimator.md §17.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spread {
    pub low_permille: u64,
    pub high_permille: u64,
}

/// The highest measured ÷ estimated ratio over every published training point that reads live tensors, whatever
/// its method: the upper end of every training method's spread. The engine's training errors above the central
/// figure come from mechanisms the methods share (activations, the loss, the allocator), and a method measured by a
/// few points from two or three sources cannot bound a source it has not seen: kept by method, lit-gpt's LoRA
/// points fell above a band taken from torchtune's alone (docs/estimator.md §17.1). Today's figure is Qwen's own
/// LoRA fine-tune of Qwen-1.8B at 256 tokens, whose counter is not named.
const TRAINING_HIGH_PERMILLE: u64 = 1_399;

/// The spread by method: measured ÷ estimated allocated peak over the published points of docs/estimator.md §12.1
/// and §12.5 that read live tensors (tests/core/estimate/band.rs derives these figures and fails if the shipped
/// ones are narrower; §17.1 gives the leave-one-source-out check of how well a spread fitted elsewhere covers a
/// new source).
pub fn spread(task: Task, method: Option<Method>) -> Spread {
    match (task, method) {
        // 37 points from six sources (the Qwen benchmarks and profiles, lit-gpt, transformers' guide).
        (Task::Infer, _) => Spread {
            low_permille: 936,
            high_permille: 1_228,
        },
        // 24 points from six sources (Qwen's finetune profile, lit-gpt, torchtune, PEFT's DeepSpeed guide).
        (Task::Train, Some(Method::Lora)) => Spread {
            low_permille: 880,
            high_permille: TRAINING_HIGH_PERMILLE,
        },
        // 5 points: torchtune, lit-gpt and PEFT's sharded-QLoRA guides.
        (Task::Train, Some(Method::Qlora)) => Spread {
            low_permille: 715,
            high_permille: TRAINING_HIGH_PERMILLE,
        },
        // Full and freeze fine-tuning, 8 points (torchtune, Qwen's finetune profile): model states dominate and
        // are exact.
        (Task::Train, _) => Spread {
            low_permille: 916,
            high_permille: TRAINING_HIGH_PERMILLE,
        },
    }
}

/// Bytes per logit element that transformers releases before 4.46 keep beyond the 10 of §7: the model's forward
/// upcast the logits to fp32 and returned them (alive until the loss is computed), and the loss shifted them
/// with a `.contiguous()` fp32 copy (`LlamaForCausalLM.forward` in 4.45 and earlier). 10 + 4 + 4 = 18 over 10.
const OLD_LOSS_EXTRA_PER_TEN: u64 = 8;

/// How far the caching allocator's reserved peak strays from the central reserved estimate, in thousandths of
/// it: the least and most the trace grid's allocator replay showed against the analytic engine, with fixed and
/// with varying batch shapes (docs/estimator.md §12.4, §17). Recomputing a checkpointed layer at lengths that
/// change from step to step leaves the most differently sized blocks cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlackRange {
    pub low_permille: i64,
    pub high_permille: i64,
}

/// Training with gradient checkpointing: 31 traced figures (fixed and varying lengths), the 95th percentile above
/// (the highest, +28%, is a sub-1B model whose reserved peak is mostly loss buffers of every length) and the
/// lowest below.
pub const TRAIN_CHECKPOINTED_SLACK: SlackRange = SlackRange {
    low_permille: -11,
    high_permille: 242,
};
/// Training without checkpointing: 32 traced figures, the same rule.
pub const TRAIN_SLACK: SlackRange = SlackRange {
    low_permille: -50,
    high_permille: 144,
};
/// Inference, which repeats the same shapes step after step: 12 traced figures.
pub const INFER_SLACK: SlackRange = SlackRange {
    low_permille: -12,
    high_permille: 64,
};

/// The CUDA context of a process: 300 MiB to 1 GiB in the reports of docs/estimator.md §10.4 with lazy module
/// loading (the default since CUDA 11.7); more without it.
pub const CONTEXT_LOW_BYTES: u64 = 300 * MIB;
pub const CONTEXT_HIGH_BYTES: u64 = 1024 * MIB;

/// How much a training run whose batches change length may strand in the caching allocator beyond the fixed-shape
/// reserved estimate (docs/estimator.md §10.3): the segments a shorter batch's tensors leave cached, which a
/// longer batch's same tensors do not fit in. A plan that lists no lengths leaves this open, as does one that lists
/// several where they are not simulated (sharded or offloaded); several simulated ones are counted instead, and
/// one length strands nothing (`Plan::lengths_open`).
///
/// The figures are the allocator model's, not a published source's. Every plan of a reference grid is replayed
/// through the simulation over 64 steps of lengths uniform up to its own (the last at its own, four fixed orders
/// averaged), and the doubt is the least that covers each: first the loss's logits, which strand up to 3.35 times
/// their bytes in checkpointed plans (each fp32 logits buffer of a shorter batch stays cached), then the
/// activations, for what a plan strands beyond that: nothing in any checkpointed plan, 1.25 times them without
/// checkpointing (the saved tensors of a long step, which shorter steps split). Both figures are the step's at its
/// loss ([`LengthBytes`]). Each is rounded up to 50 thousandths; tests/core/estimate/stranding.rs derives them and
/// fails when they drift.
pub const LENGTHS_LOGITS_PERMILLE: u64 = 3_350;
pub const LENGTHS_ACTIVATIONS_CHECKPOINTED_PERMILLE: u64 = 0;
pub const LENGTHS_ACTIVATIONS_PERMILLE: u64 = 1_700;
/// What quantized layers keep through the whole forward ([`LengthBytes::kept_inputs`]) strands beyond the logits'
/// figure, in thousandths of those bytes: the most any checkpointed plan of the reference grid whose layers keep
/// their inputs (LLM.int8, and 4-bit under a release before 0.43.2, both without reentrance) strands beyond
/// [`LENGTHS_LOGITS_PERMILLE`] of its logits. Every such block of a shorter batch is a little too small for the
/// same tensor of the next longer one, and a long step's forward fills the loss's old segments with them.
pub const LENGTHS_KEPT_PERMILLE: u64 = 1_050;

/// What a plan that leaves its lengths open is expected to strand, in its central figure (docs/estimator.md §10.3):
/// the allocator model's figure for the new longest batches a run meets on its way to `sequence_length`
/// ([`super::reference_lengths`]), as a closed form of the step's logits and activations at its loss.
/// Each new longest batch leaves its loss buffers behind, about three times the logits of the longest in all
/// (1/2 + 3/4 + 7/8 + 15/16), and the longest step's own activations reuse part of them. The two figures are the
/// least-squares fit of that form to the simulation over the checkpointed LoRA and QLoRA plans of the reference
/// grid, rounded to 50 thousandths; tests/core/estimate/stranding.rs derives them and fails when they drift. The
/// simulation itself costs what a hundred estimates do; this costs nothing.
pub const EXPECTED_LOGITS_PERMILLE: u64 = 2_950;
pub const EXPECTED_ACTIVATIONS_REUSED_PERMILLE: u64 = 550;

/// The central figure's expectation for lengths left open ([`EXPECTED_LOGITS_PERMILLE`]): the bytes expected
/// stranded for a step with these lengths' bytes, never below 0.
///
/// Plans whose quantized layers keep their inputs through the whole forward ([`LengthBytes::kept_inputs`]) are
/// outside the fit: what they strand depends on the sizes of those tensors (from 0.6 to 2.7 times any linear
/// form over the grid), so the estimate simulates the reference lengths for them at the plan's own shape.
pub fn expected_stranding(step: LengthBytes) -> u64 {
    permille(step.logits, EXPECTED_LOGITS_PERMILLE).saturating_sub(permille(
        step.activations,
        EXPECTED_ACTIVATIONS_REUSED_PERMILLE,
    ))
}

/// The lengths doubt of a band, in thousandths of the estimate's logits and activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LengthsDoubt {
    pub logits_permille: u64,
    pub activations_permille: u64,
    /// Of what quantized layers keep through the whole forward ([`LENGTHS_KEPT_PERMILLE`]).
    pub kept_permille: u64,
}

impl LengthsDoubt {
    /// The plan's lengths are known: nothing to doubt.
    pub const NONE: LengthsDoubt = LengthsDoubt {
        logits_permille: 0,
        activations_permille: 0,
        kept_permille: 0,
    };

    /// The doubt of a plan: none when its lengths are known, else the allocator model's figures for its
    /// checkpointing.
    pub fn for_plan(plan: &Plan) -> Self {
        if !plan.lengths_open() {
            return Self::NONE;
        }
        LengthsDoubt {
            logits_permille: LENGTHS_LOGITS_PERMILLE,
            activations_permille: if plan.gradient_checkpointing {
                LENGTHS_ACTIVATIONS_CHECKPOINTED_PERMILLE
            } else {
                LENGTHS_ACTIVATIONS_PERMILLE
            },
            kept_permille: LENGTHS_KEPT_PERMILLE,
        }
    }

    pub fn is_open(&self) -> bool {
        *self != Self::NONE
    }

    /// Both figures times `permille` thousandths (what a published point needs of the model's doubt).
    pub fn scaled(self, permille: u64) -> Self {
        LengthsDoubt {
            logits_permille: self.logits_permille * permille / 1000,
            activations_permille: self.activations_permille * permille / 1000,
            kept_permille: self.kept_permille * permille / 1000,
        }
    }

    /// The bytes it adds to the upper end of reserved and the device, for a step with these lengths' bytes.
    pub fn bytes(&self, step: LengthBytes) -> u64 {
        permille(step.logits, self.logits_permille)
            .saturating_add(permille(step.activations, self.activations_permille))
            .saturating_add(permille(step.kept_inputs, self.kept_permille))
    }

    /// "3.35", "0.95": a figure as a multiple, for the band's note.
    pub fn times(permille: u64) -> String {
        format!("{}", permille as f64 / 1000.0)
    }
}

/// What the machine side of the band rests on: the defaults above, or what this machine's runs measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineSide {
    pub slack: SlackRange,
    /// What changing batch lengths may strand ([`LengthsDoubt::for_plan`]).
    pub lengths: LengthsDoubt,
    pub context_low_bytes: u64,
    pub context_high_bytes: u64,
}

impl MachineSide {
    /// The defaults for a plan, when nothing was measured on this machine.
    pub fn default_for(plan: &Plan) -> Self {
        MachineSide {
            slack: match (plan.task, plan.gradient_checkpointing) {
                (Task::Infer, _) => INFER_SLACK,
                (Task::Train, true) => TRAIN_CHECKPOINTED_SLACK,
                (Task::Train, false) => TRAIN_SLACK,
            },
            lengths: LengthsDoubt::for_plan(plan),
            context_low_bytes: CONTEXT_LOW_BYTES,
            context_high_bytes: CONTEXT_HIGH_BYTES,
        }
    }
}

/// What the band of one estimate is computed from.
pub struct BandInputs {
    pub allocated: u64,
    /// The loss's share of the allocated peak (the `logits` component): the part older loss paths enlarge.
    pub logits: u64,
    /// The step's bytes that grow with the batch's length, which changing lengths strand.
    pub lengths: LengthBytes,
    pub reserved: u64,
    pub managed: u64,
    pub context: u64,
}

fn permille(bytes: u64, p: u64) -> u64 {
    (bytes as u128 * p as u128 / 1000).min(u64::MAX as u128) as u64
}

/// The band of an estimate with the method's spread. Each end stays on its side of the central figure.
pub fn band(plan: &Plan, input: &BandInputs, machine: &MachineSide) -> PeakRanges {
    band_with(plan, input, machine, spread(plan.task, plan.method))
}

/// The band with a given spread: what the leave-one-source-out check computes with the spread of the other
/// sources (tests/core/estimate/accuracy.rs).
pub fn band_with(plan: &Plan, input: &BandInputs, machine: &MachineSide, s: Spread) -> PeakRanges {
    // Each doubt as bytes up and bytes down from the central figure.
    let spread_up = permille(input.allocated, s.high_permille).saturating_sub(input.allocated);
    let spread_down =
        input.allocated - permille(input.allocated, s.low_permille).min(input.allocated);
    let old_loss = if plan.task == Task::Train && !plan.chunked_loss {
        input.logits * OLD_LOSS_EXTRA_PER_TEN / 10
    } else {
        0
    };
    // The central reserved figure may hold what changing lengths are expected to strand: the band is drawn
    // around the figure without it, since lengths that rarely change strand nothing, and its upper end allows for
    // the larger of that expectation and the lengths doubt.
    let expected = input.lengths.expected_stranded.min(input.reserved);
    let reserved_fixed = input.reserved - expected;
    let slack = |p: i64| (reserved_fixed as i128 * p as i128 / 1000).unsigned_abs() as u64;
    let slack_up = slack(machine.slack.high_permille.max(0));
    let slack_down = slack(machine.slack.low_permille.min(0));
    // Stranded blocks are free: reserved and the device show them, live tensors do not.
    let lengths_up = machine.lengths.bytes(input.lengths).max(expected);
    let context_up = machine.context_high_bytes.saturating_sub(input.context);
    let context_down = input.context.saturating_sub(machine.context_low_bytes);

    let older_bnb = input.lengths.older_bnb;
    let allocated = Range {
        low: input.allocated - spread_down,
        high: input
            .allocated
            .saturating_add(rss(&[spread_up, old_loss, older_bnb])),
    };
    let reserved = Range {
        low: reserved_fixed.saturating_sub(rss(&[spread_down, slack_down])),
        high: reserved_fixed
            .saturating_add(rss(&[spread_up, old_loss, older_bnb, slack_up, lengths_up])),
    };
    let device = reserved_fixed
        .saturating_add(input.managed)
        .saturating_add(input.context);
    PeakRanges {
        allocated_peak_bytes: allocated,
        reserved_peak_bytes: reserved,
        device_peak_bytes: Range {
            low: device.saturating_sub(rss(&[spread_down, slack_down, context_down])),
            high: device.saturating_add(rss(&[
                spread_up, old_loss, older_bnb, slack_up, lengths_up, context_up,
            ])),
        },
    }
}

/// Independent doubts combined as the root of the sum of their squares: each is a bound on its own, and they
/// rarely all reach theirs in one run (docs/estimator.md §17). Never less than the largest of them.
fn rss(parts: &[u64]) -> u64 {
    let sum: f64 = parts.iter().map(|&b| (b as f64) * (b as f64)).sum();
    let largest = parts.iter().copied().max().unwrap_or(0);
    (sum.sqrt() as u64).max(largest)
}
