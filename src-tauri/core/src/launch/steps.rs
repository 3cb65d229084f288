//! The fallback chain's grammar: each entry is a preset name, or a batch step that keeps the training the same.
//!
//! - `PRESET` (`fp16`, `int4_double`, a user preset): the attempts from here on load the model with it.
//! - `mb/2`: the attempts from here on halve the micro-batch and double the gradient accumulation, so the
//!   global batch (micro-batch × accumulation) and with it the training do not change. Refused when the
//!   micro-batch is 1 (nothing to halve) or odd (the global batch would change).
//!
//! Steps are cumulative: `fp16, int8, mb/2, int4` runs int8 at half the micro-batch, then int4 at half the
//! micro-batch. The first entry must be a preset: a batch step changes the attempt before it.

use serde::{Deserialize, Serialize};

use crate::message::{Key, Message};
use crate::store;
use crate::{Error, Result};

/// The chain entry that halves the micro-batch.
pub const HALVE_MICRO_BATCH: &str = "mb/2";

/// One entry of the chain, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainStep {
    Preset(String),
    HalveMicroBatch,
}

/// The micro-batch (per GPU, per forward pass) and gradient accumulation an attempt trains with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct BatchSetting {
    pub micro_batch: u64,
    pub grad_accum: u64,
}

impl BatchSetting {
    /// The batch a checked request starts from: both at least 1.
    pub fn new(micro_batch: u64, grad_accum: u64) -> Result<Self> {
        if micro_batch == 0 {
            return Err(Error::invalid_msg(
                "micro_batch",
                Message::new(Key::InvalidMustAtLeast1),
            ));
        }
        if grad_accum == 0 {
            return Err(Error::invalid_msg(
                "grad_accum",
                Message::new(Key::InvalidMustAtLeast1),
            ));
        }
        Ok(BatchSetting {
            micro_batch,
            grad_accum,
        })
    }
}

/// What one chain position runs: the preset in force and the batch in force (`None` when the run has no
/// batch to hand over).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepState {
    pub preset: String,
    pub batch: Option<BatchSetting>,
}

/// Parse every entry, naming `chain[i]` for a bad one.
pub fn parse_chain(chain: &[String]) -> Result<Vec<ChainStep>> {
    if chain.is_empty() {
        return Err(Error::invalid_msg(
            "chain",
            Message::new(Key::InvalidRunMustNameAtLeast),
        ));
    }
    chain
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let field = format!("chain[{i}]");
            if entry.trim() == HALVE_MICRO_BATCH {
                if i == 0 {
                    return Err(Error::invalid_msg(
                        field,
                        Message::new(Key::InvalidRunChainMustStartPreset),
                    ));
                }
                return Ok(ChainStep::HalveMicroBatch);
            }
            if entry.contains('/') {
                return Err(Error::invalid_msg(
                    field,
                    Message::new(Key::InvalidRunNeitherPresetNameNor)
                        .text("entry", format!("{entry:?}")),
                ));
            }
            store::check_name(&field, entry)?;
            Ok(ChainStep::Preset(entry.to_string()))
        })
        .collect()
}

/// The preset and batch of every chain position, starting from `batch`. A batch step without a batch, or one
/// that cannot halve it without changing the global batch, is an error naming `chain[i]`.
pub fn states(steps: &[ChainStep], batch: Option<BatchSetting>) -> Result<Vec<StepState>> {
    let mut out: Vec<StepState> = Vec::with_capacity(steps.len());
    let mut batch = batch;
    for (i, step) in steps.iter().enumerate() {
        let field = format!("chain[{i}]");
        let preset = match step {
            ChainStep::Preset(name) => name.clone(),
            ChainStep::HalveMicroBatch => {
                let Some(current) = batch else {
                    return Err(Error::invalid_msg(
                        field,
                        Message::new(Key::InvalidRunMb2NeedsRun),
                    ));
                };
                if current.micro_batch == 1 {
                    return Err(Error::invalid_msg(
                        field,
                        Message::new(Key::InvalidRunMicroBatchAlready1),
                    ));
                }
                if current.micro_batch % 2 == 1 {
                    return Err(Error::invalid_msg(
                        field,
                        Message::new(Key::InvalidRunMicroBatchHereWhich)
                            .text("micro_batch", current.micro_batch.to_string())
                            .text("grad_accum", current.grad_accum.to_string()),
                    ));
                }
                let grad_accum = current.grad_accum.checked_mul(2).ok_or_else(|| {
                    Error::invalid_msg(
                        field.clone(),
                        Message::new(Key::InvalidRunGradientAccumulationWouldOverflow),
                    )
                })?;
                batch = Some(BatchSetting {
                    micro_batch: current.micro_batch / 2,
                    grad_accum,
                });
                // parse_chain puts a preset first, so there is always one before.
                out.last().map(|s| s.preset.clone()).ok_or_else(|| {
                    Error::invalid_msg(field, Message::new(Key::InvalidRunChainMustStartPreset2))
                })?
            }
        };
        out.push(StepState { preset, batch });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn halving_keeps_the_global_batch_and_carries_on() {
        let steps = parse_chain(&chain(&["fp16", "int8", "mb/2", "int4"])).unwrap();
        let states = states(&steps, Some(BatchSetting::new(8, 2).unwrap())).unwrap();
        let got: Vec<_> = states
            .iter()
            .map(|s| {
                (
                    s.preset.as_str(),
                    s.batch.unwrap().micro_batch,
                    s.batch.unwrap().grad_accum,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("fp16", 8, 2),
                ("int8", 8, 2),
                ("int8", 4, 4),
                ("int4", 4, 4)
            ]
        );
    }

    #[test]
    fn bad_steps_name_their_position() {
        let err = parse_chain(&chain(&["mb/2", "fp16"])).unwrap_err();
        assert!(err.to_string().contains("chain[0]"), "{err}");
        let err = parse_chain(&chain(&["fp16", "mb/3"])).unwrap_err();
        assert!(err.to_string().contains("chain[1]"), "{err}");
        let steps = parse_chain(&chain(&["fp16", "mb/2", "mb/2"])).unwrap();
        let err = states(&steps, Some(BatchSetting::new(2, 1).unwrap())).unwrap_err();
        assert!(
            err.to_string().contains("chain[2]") && err.to_string().contains("already 1"),
            "{err}"
        );
        let err = states(&steps, Some(BatchSetting::new(6, 1).unwrap())).unwrap_err();
        assert!(
            err.to_string().contains("chain[2]") && err.to_string().contains("odd"),
            "{err}"
        );
        let err = states(&steps, None).unwrap_err();
        assert!(err.to_string().contains("chain[1]"), "{err}");
    }

    #[test]
    fn a_chain_of_presets_needs_no_batch() {
        let steps = parse_chain(&chain(&["fp16", "int4"])).unwrap();
        let states = states(&steps, None).unwrap();
        assert_eq!(states[1].preset, "int4");
        assert_eq!(states[1].batch, None);
    }
}
