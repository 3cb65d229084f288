//! Reserved memory when batch lengths vary (docs/estimator.md §10.3): the caching allocator keeps the segments
//! it made for a shorter batch's tensors, and a longer batch's same tensors do not fit in them, so they stay
//! reserved beside the new ones. The estimate replays a synthetic schedule of one training step's allocations
//! and frees, built from the engine's own per-layer and per-token sizes, through a model of the allocator
//! (`allocator.rs`), once over the plan's lengths and once over as many steps at the longest length, and adds
//! the difference: the schedule's coarse parts (which tensors exactly, in which order) are the same in both
//! runs and cancel, and what remains is the stranding that only varying lengths cause.

use super::activations::{layer_transient_per_token, LayerCost, LOSS_CHUNKS};
use super::allocator::{CachingAllocator, Handle, SMALL_SIZE};
use super::plan::{Method, Plan};
use super::shape::Shape;
use super::states::Trainable;
use crate::model::LinearRole;

/// The loss's tensors at one length (docs/estimator.md §7), as transformers' `ForCausalLMLoss` and
/// `cross_entropy` make them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LossShape {
    pub vocab: u64,
    /// Compute dtype bytes: below 4 the 16-bit logits are upcast to fp32 first.
    pub e: u64,
    /// Gemma-2's soft-capping: tanh's 16-bit output is saved for backward.
    pub softcap: bool,
    /// Chunked cross-entropy: only a chunk's tensors exist at a time.
    pub chunks: u64,
}

/// One training step's tensors, per token (or per token per position) where they scale with the batch's length,
/// in bytes where they do not.
#[derive(Debug, Clone, Default)]
pub(crate) struct StepSchedule {
    pub batch: u64,
    pub layers: u64,
    pub checkpointing: bool,
    /// Each tensor a decoder layer's forward saves for backward, bytes per token.
    pub saved_per_token: Vec<u64>,
    /// Each b·a·s² tensor eager attention saves, bytes per token per position.
    pub saved_per_token_per_position: Vec<u64>,
    /// Checkpointing: the layer input each layer keeps, bytes per token.
    pub kept_per_token: u64,
    /// Checkpointing without reentrance: what bitsandbytes keeps on its autograd contexts in each layer, bytes
    /// per token per tensor (`LayerCost::bnb_inputs`); empty otherwise.
    pub kept_bnb_per_token: Vec<u64>,
    /// The gradients a layer's backward works with and frees, bytes per token.
    pub backward_per_token: Vec<u64>,
    /// Saved after the last layer (final norm, the head's input), bytes per token.
    pub head_per_token: u64,
    pub loss: Option<LossShape>,
    /// Each trainable parameter's gradient in one decoder layer: made in backward, freed after the step.
    pub layer_gradients: Vec<u64>,
    /// Each optimizer state of one decoder layer's parameters: made at the first step and kept.
    pub layer_states: Vec<u64>,
    /// Gradients and states of trainable tensors outside the decoder layers (embeddings, the head).
    pub other_gradients: Vec<u64>,
    pub other_states: Vec<u64>,
    /// fp32 weights under 16-bit autocast: the 16-bit copy of each of a layer's linear weights that autocast
    /// casts for its matmul and autograd saves for the input's gradient; empty otherwise.
    pub weight_copies: Vec<u64>,
    /// The weights train, so autocast's cache (`cached_cast`, for leaves that require grad) keeps every layer's
    /// copies until the autocast region ends after the loss, checkpointing or not.
    pub cached_copies: bool,
}

/// The peaks of two steps at one fixed length. With fixed shapes the second step, the first with optimizer states,
/// repeats in every later one (the trace engine's fixed-length baseline is these two steps too).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FixedPeaks {
    allocated: u64,
    reserved: u64,
}

impl FixedPeaks {
    /// Reserved bytes beyond the allocated peak that the step's own tensors leave: blocks freed where the next
    /// requests are larger than they are (the loss's 16-bit logits before its fp32 buffers, activations before the
    /// gradients of full fine-tuning), each kept in a segment of its own.
    pub fn fragmented(&self) -> u64 {
        self.reserved.saturating_sub(self.allocated)
    }
}

impl StepSchedule {
    /// Two steps at `length`: the baseline of [`Self::stranded_bytes`] and what [`FixedPeaks::fragmented`] reads.
    pub fn fixed_peaks(&self, length: u64) -> FixedPeaks {
        let a = self.replay([length; 2].into_iter());
        FixedPeaks {
            allocated: a.peak_allocated,
            reserved: a.peak_reserved,
        }
    }

    /// Reserved bytes the lengths strand beyond `fixed`, as many steps at the longest of them
    /// ([`Self::fixed_peaks`] at that length); 0 when they do not vary.
    pub fn stranded_bytes(&self, lengths: &[u64], fixed: FixedPeaks) -> u64 {
        let Some(&longest) = lengths.iter().max() else {
            return 0;
        };
        if lengths.iter().all(|&l| l == longest) {
            return 0;
        }
        let varying = self.replay(lengths.iter().copied()).peak_reserved;
        varying.saturating_sub(fixed.reserved)
    }

    fn replay(&self, lengths: impl Iterator<Item = u64>) -> CachingAllocator {
        let mut a = CachingAllocator::default();
        let mut states = Vec::new();
        for (i, length) in lengths.enumerate() {
            self.step(&mut a, length, i == 0, &mut states);
        }
        a
    }

    fn step(&self, a: &mut CachingAllocator, length: u64, first: bool, states: &mut Vec<Handle>) {
        let tokens = self.batch.saturating_mul(length);
        let sized = |per_token: u64| per_token.saturating_mul(tokens);
        let positional = |per: u64| per.saturating_mul(tokens).saturating_mul(length);
        let saved = |a: &mut CachingAllocator| -> Vec<Handle> {
            let mut held: Vec<Handle> = self
                .saved_per_token
                .iter()
                .filter_map(|&p| large(a, sized(p)))
                .collect();
            held.extend(
                self.saved_per_token_per_position
                    .iter()
                    .filter_map(|&p| large(a, positional(p))),
            );
            held
        };
        // Forward: each layer's saved tensors (with checkpointing computed under no_grad and dropped, the
        // layer's input kept instead).
        let copies = |a: &mut CachingAllocator| -> Vec<Handle> {
            self.weight_copies
                .iter()
                .filter_map(|&c| large(a, c))
                .collect()
        };
        let mut layers = Vec::with_capacity(self.layers as usize);
        let mut autocast_cache = Vec::new();
        for _ in 0..self.layers {
            let layer_copies = copies(a);
            if self.checkpointing {
                let mut kept: Vec<Handle> =
                    large(a, sized(self.kept_per_token)).into_iter().collect();
                kept.extend(
                    self.kept_bnb_per_token
                        .iter()
                        .filter_map(|&p| large(a, sized(p))),
                );
                for h in saved(a) {
                    a.free(h);
                }
                if self.cached_copies {
                    autocast_cache.extend(layer_copies);
                } else {
                    layer_copies.into_iter().for_each(|h| a.free(h));
                }
                layers.push(kept);
            } else {
                let mut held = layer_copies;
                held.extend(saved(a));
                layers.push(held);
            }
        }
        let head = large(a, sized(self.head_per_token));
        if let Some(loss) = self.loss {
            self.loss_step(a, loss, tokens);
        }
        for h in autocast_cache {
            a.free(h);
        }
        if let Some(h) = head {
            a.free(h);
        }
        // Backward, last layer first: recompute (checkpointing), the gradients flowing through, the parameters'
        // gradients, then the layer's saved tensors go.
        let mut grads = Vec::new();
        for held in layers.into_iter().rev() {
            let recomputed = if self.checkpointing {
                let mut recomputed = copies(a);
                recomputed.extend(saved(a));
                recomputed
            } else {
                Vec::new()
            };
            let flowing: Vec<Handle> = self
                .backward_per_token
                .iter()
                .filter_map(|&p| large(a, sized(p)))
                .collect();
            grads.extend(self.layer_gradients.iter().filter_map(|&g| large(a, g)));
            for h in flowing.into_iter().chain(recomputed).chain(held) {
                a.free(h);
            }
        }
        grads.extend(self.other_gradients.iter().filter_map(|&g| large(a, g)));
        // The optimizer step: states made at the first step stay; gradients are freed (zero_grad(set_to_none)).
        if first {
            for _ in 0..self.layers {
                states.extend(self.layer_states.iter().filter_map(|&s| large(a, s)));
            }
            states.extend(self.other_states.iter().filter_map(|&s| large(a, s)));
        }
        for h in grads {
            a.free(h);
        }
    }

    /// The loss's buffers in the order they live (docs/estimator.md §7): forward makes the head's logits, their
    /// fp32 upcast and the saved log-softmax, and drops the first two; backward makes nll_loss's fp32 gradient
    /// and log_softmax's, drops the first and the saved log-softmax, and casts the gradient back for the head.
    fn loss_step(&self, a: &mut CachingAllocator, loss: LossShape, tokens: u64) {
        let logits = loss.vocab.saturating_mul(tokens) / loss.chunks.max(1);
        for _ in 0..loss.chunks.max(1) {
            let sixteen = logits.saturating_mul(loss.e);
            let fp32 = logits.saturating_mul(4);
            let head_out = large(a, sixteen);
            let capped = loss.softcap.then(|| large(a, sixteen)).flatten();
            let upcast = (loss.e < 4).then(|| large(a, fp32)).flatten();
            let log_softmax = large(a, fp32);
            free_all(a, [upcast, head_out]);
            let nll_grad = large(a, fp32);
            let grad = large(a, fp32);
            free_all(a, [nll_grad, log_softmax]);
            let cast = (loss.e < 4).then(|| large(a, sixteen)).flatten();
            free_all(a, [grad, cast, capped]);
        }
    }
}

pub(crate) struct ScheduleInputs<'a> {
    pub plan: &'a Plan,
    pub shape: &'a Shape<'a>,
    pub trainable: &'a Trainable,
    pub grad_bytes: u64,
    pub optimizer_bytes: u64,
    pub layer: &'a LayerCost,
    pub e: u64,
    pub e_res: u64,
    pub b: u64,
    pub head_per_token: u64,
    pub stored_layers: u64,
    /// bitsandbytes keeps its layers' inputs through checkpointing without reentrance.
    pub checkpointed_bnb: bool,
    /// fp32 weights under 16-bit autocast: each matmul casts its weight to the compute dtype.
    pub autocast_weights: bool,
}

/// One training step's tensors for the allocator simulation of varying lengths (docs/estimator.md §10.3), from
/// the same per-layer and per-token sizes the estimate adds up: each tensor a layer saves (`LayerCost::saved`),
/// eager attention's s×s matrices (fp32 softmax, then 16-bit ones); the
/// gradients a layer's backward frees (the working set of `layer_transient_per_token`); every trainable tensor's
/// gradient, and its optimizer states from the first step on.
pub(crate) fn step_schedule(input: &ScheduleInputs) -> StepSchedule {
    let ScheduleInputs {
        plan,
        shape,
        trainable: t,
        layer: lc,
        e,
        e_res,
        ..
    } = *input;
    let h = shape.h;
    let heads = shape.arch.attention.num_heads;
    let saved_per_token = lc.saved.clone();
    let mut saved_per_token_per_position = Vec::new();
    if lc.per_token_per_position > 0 {
        let fp32 = (4 * heads).min(lc.per_token_per_position);
        saved_per_token_per_position.push(fp32);
        let mut rest = lc.per_token_per_position - fp32;
        while rest > 0 {
            let piece = rest.min(e * heads);
            saved_per_token_per_position.push(piece);
            rest -= piece;
        }
    }
    let transient = layer_transient_per_token(shape, e);
    let inner = (transient / e.max(1)).saturating_sub(3 * h + 2 * shape.kv_dim) / 3;
    let mut backward_per_token = vec![e * inner; 3];
    backward_per_token.extend([e * h; 3]);
    backward_per_token.extend([e * shape.kv_dim; 2]);
    // Trainable tensors: those repeated in every decoder layer go with the layer, the rest (embeddings, the
    // head) once per step.
    let per_element_grad = input.grad_bytes.checked_div(t.params).unwrap_or(0);
    let per_element_states = input.optimizer_bytes.checked_div(t.params).unwrap_or(0);
    // Adam's two moments are two tensors; a state of a byte or less per element is one.
    let state_tensors = if per_element_states >= 2 { 2 } else { 1 };
    let layers = shape.layers.max(1);
    let mut layer_gradients = Vec::new();
    let mut layer_states = Vec::new();
    let mut other = Vec::new();
    for tensor in &t.tensors {
        let numel = tensor.rows * tensor.cols;
        let (per_layer, once) = if tensor.count >= layers {
            (tensor.count / layers, tensor.count % layers)
        } else {
            (0, tensor.count)
        };
        for _ in 0..per_layer {
            layer_gradients.push(numel * per_element_grad);
            for _ in 0..state_tensors {
                layer_states.push(numel * per_element_states / state_tensors);
            }
        }
        for _ in 0..once {
            other.push(numel);
        }
    }
    let weight_copies = if input.autocast_weights {
        shape
            .arch
            .linear_layers
            .iter()
            .filter(|g| !matches!(g.role, LinearRole::LmHead | LinearRole::Expert))
            .flat_map(|g| {
                std::iter::repeat_n(
                    g.in_features * g.out_features * e,
                    (g.count / layers) as usize,
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    StepSchedule {
        batch: input.b,
        layers: input.stored_layers,
        checkpointing: plan.gradient_checkpointing,
        saved_per_token,
        saved_per_token_per_position,
        kept_per_token: e_res * h,
        kept_bnb_per_token: if input.checkpointed_bnb {
            lc.bnb_inputs.clone()
        } else {
            Vec::new()
        },
        backward_per_token,
        head_per_token: input.head_per_token,
        loss: Some(LossShape {
            vocab: shape.vocab,
            e,
            softcap: shape.softcapped,
            chunks: if plan.chunked_loss { LOSS_CHUNKS } else { 1 },
        }),
        layer_gradients,
        layer_states,
        other_gradients: other.iter().map(|n| n * per_element_grad).collect(),
        other_states: other
            .iter()
            .flat_map(|n| vec![n * per_element_states / state_tensors; state_tensors as usize])
            .collect(),
        weight_copies,
        cached_copies: t.params > 0 && matches!(plan.method, Some(Method::Full | Method::Freeze)),
    }
}

/// A request of the large pool; `None` for the small pool's (1 MiB and less), which are left out: the pools share
/// no blocks, so they change nothing the large pool strands, and what the small pool's 2 MiB segments could
/// strand is negligible beside it.
fn large(a: &mut CachingAllocator, bytes: u64) -> Option<Handle> {
    (bytes > SMALL_SIZE).then(|| a.malloc(bytes))
}

fn free_all<const N: usize>(a: &mut CachingAllocator, handles: [Option<Handle>; N]) {
    for h in handles.into_iter().flatten() {
        a.free(h);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    /// The loss alone: its 16-bit logits are freed before the fp32 gradients are asked for, which do not fit in
    /// that block, so one 16-bit logits' segment stays reserved but free at the peak (the flat model's
    /// `logits_cache`, docs/estimator.md §10.3).
    #[test]
    fn the_loss_leaves_its_sixteen_bit_logits_reserved() {
        let (vocab, length) = (32_768, 1024);
        let schedule = StepSchedule {
            batch: 1,
            loss: Some(LossShape {
                vocab,
                e: 2,
                softcap: false,
                chunks: 1,
            }),
            ..StepSchedule::default()
        };
        assert_eq!(
            schedule.fixed_peaks(length).fragmented(),
            2 * vocab * length
        );
    }

    /// Trained fp32 weights under autocast: the forward's cache keeps every layer's 16-bit copies until it ends;
    /// backward's fp32 gradients, twice their size, cannot reuse the freed copies, and each recomputed layer
    /// reuses only its own two. Four layers of two 64 MiB copies and two 128 MiB gradients: the peak holds the
    /// eight gradients and one layer's copies, and six copies' segments stay free. Copies the cache does not keep
    /// are freed after each layer and reused by the next.
    #[test]
    fn autocast_keeps_trained_weights_copies_until_the_forward_ends() {
        let schedule = |cached_copies| StepSchedule {
            batch: 1,
            layers: 4,
            checkpointing: true,
            weight_copies: vec![64 * MIB; 2],
            cached_copies,
            layer_gradients: vec![128 * MIB; 2],
            ..StepSchedule::default()
        };
        assert_eq!(schedule(true).fixed_peaks(512).fragmented(), 6 * 64 * MIB);
        assert_eq!(schedule(false).fixed_peaks(512).fragmented(), 0);
    }
}
