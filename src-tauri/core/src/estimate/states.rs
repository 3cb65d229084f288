//! What training keeps per trainable parameter: LoRA adapters, gradients, optimizer states
//! (docs/estimator.md §5).
//!
//! - LoRA (Hu et al. arXiv:2106.09685 §4; peft `tuners/lora/layer.py`): `lora_A` (r × in) and `lora_B`
//!   (out × r) per adapted module; `all-linear` is every `nn.Linear` but the output embedding
//!   (`_maybe_include_all_linear_layers`). Fused MoE experts are not `nn.Linear` in transformers 5.
//! - torch AdamW keeps `exp_avg` and `exp_avg_sq` as `zeros_like(p)`: the parameter's dtype.
//! - Mixed precision keeps an fp32 master copy of 16-bit trainable weights and fp32 states (ZeRO paper
//!   arXiv:1910.02054 §3.1: 2 + 2 + 12 bytes per parameter).
//! - bitsandbytes 8-bit states (`Optimizer2State.init_state`): uint8 per state plus an fp32 absmax per 256
//!   elements; tensors under `min_8bit_size` = 4096 elements keep fp32 states. Paged states of tensors with at
//!   least 1e5 elements live in CUDA managed memory (`get_state_buffer` → `cget_managed_ptr`). 32-bit bnb
//!   states are fp32 whatever the parameter dtype.
//! - Adafactor (transformers `optimization.py`) factors the second moment of ≥2-D tensors into row and
//!   column statistics; no first moment unless `beta1` is set (default None).

use super::plan::{LoraSettings, Method, Optimizer, Plan, Precision, TargetModules};
use super::report::Notes;
use super::shape::Shape;
use crate::message::{Key, Message};
use crate::model::{LinearRole, ModelSpec};
use crate::{Error, Result};

/// A set of identical trainable tensors: `count` of `rows × cols` (cols = 1 for vectors).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tensor {
    pub rows: u64,
    pub cols: u64,
    pub count: u64,
}

impl Tensor {
    fn numel(&self) -> u64 {
        self.rows * self.cols
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Trainable {
    pub tensors: Vec<Tensor>,
    pub params: u64,
    /// Parameters that are LoRA adapters (held in the adapters' dtype).
    pub lora_params: u64,
    /// For each `linear_layers` entry: does it carry a LoRA adapter?
    pub adapted: Vec<bool>,
    /// The output head carries a LoRA adapter (tied to the embedding or not): its input is saved for lora_A.
    pub lm_head_adapted: bool,
}

/// Which parameters train, as tensors.
pub(crate) fn trainable(spec: &ModelSpec, shape: &Shape, plan: &Plan) -> Result<Trainable> {
    let arch = shape.arch;
    let mut t = Trainable {
        adapted: vec![false; arch.linear_layers.len()],
        ..Trainable::default()
    };
    let h = shape.h;
    let embeddings = |t: &mut Trainable| {
        t.tensors.push(Tensor {
            rows: shape.vocab,
            cols: h,
            count: 1,
        });
        if !arch.tie_word_embeddings && spec.parameters.lm_head > 0 {
            t.tensors.push(Tensor {
                rows: shape.vocab,
                cols: h,
                count: 1,
            });
        }
    };
    match plan.method {
        None => {}
        Some(Method::Full) => {
            let mut linear = 0;
            for g in arch
                .linear_layers
                .iter()
                .filter(|g| g.role != LinearRole::LmHead)
            {
                t.tensors.push(Tensor {
                    rows: g.out_features,
                    cols: g.in_features,
                    count: g.count,
                });
                if g.bias {
                    t.tensors.push(Tensor {
                        rows: g.out_features,
                        cols: 1,
                        count: g.count,
                    });
                }
                linear += g.parameters();
            }
            embeddings(&mut t);
            let rest = spec
                .parameters
                .total
                .saturating_sub(linear + spec.parameters.embedding + spec.parameters.lm_head);
            if rest > 0 {
                // Norm weights and other vectors: hidden-sized, the remainder as one tensor.
                t.tensors.push(Tensor {
                    rows: h,
                    cols: 1,
                    count: rest / h,
                });
                if !rest.is_multiple_of(h) {
                    t.tensors.push(Tensor {
                        rows: rest % h,
                        cols: 1,
                        count: 1,
                    });
                }
            }
        }
        Some(Method::Freeze) => {
            let n = plan.freeze_trainable_layers.get().min(shape.layers);
            for g in arch
                .linear_layers
                .iter()
                .filter(|g| g.role != LinearRole::LmHead)
            {
                let count = g.count * n / shape.layers;
                t.tensors.push(Tensor {
                    rows: g.out_features,
                    cols: g.in_features,
                    count,
                });
                if g.bias {
                    t.tensors.push(Tensor {
                        rows: g.out_features,
                        cols: 1,
                        count,
                    });
                }
            }
            // Two norms per decoder layer.
            t.tensors.push(Tensor {
                rows: h,
                cols: 1,
                count: 2 * n,
            });
        }
        Some(Method::Lora | Method::Qlora) => {
            let lora = plan.lora.clone().unwrap_or_default();
            let tied_head = mark_adapted(arch, &lora, &mut t.adapted)?;
            if tied_head {
                // transformers keeps a tied `lm_head` as an nn.Linear whose weight is the embedding's; PEFT (with a
                // warning, tuners_utils.py) and LitGPT (`lora_head`) adapt it like any linear. The shared weight
                // stays frozen; the adapter is lora_A (r × h) and lora_B (V × r).
                t.tensors.push(Tensor {
                    rows: lora.rank,
                    cols: h,
                    count: 1,
                });
                t.tensors.push(Tensor {
                    rows: shape.vocab,
                    cols: lora.rank,
                    count: 1,
                });
                t.lora_params += lora.rank * (h + shape.vocab);
            }
            t.lm_head_adapted = tied_head
                || arch
                    .linear_layers
                    .iter()
                    .zip(&t.adapted)
                    .any(|(g, a)| *a && g.role == LinearRole::LmHead);
            for (g, _) in arch
                .linear_layers
                .iter()
                .zip(&t.adapted)
                .filter(|(_, a)| **a)
            {
                t.tensors.push(Tensor {
                    rows: lora.rank,
                    cols: g.in_features,
                    count: g.count,
                });
                t.tensors.push(Tensor {
                    rows: g.out_features,
                    cols: lora.rank,
                    count: g.count,
                });
                t.lora_params += g.count * lora.rank * (g.in_features + g.out_features);
            }
            if plan.trainable_embeddings {
                embeddings(&mut t);
            }
        }
    }
    t.params = t.tensors.iter().map(|x| x.numel() * x.count).sum();
    Ok(t)
}

/// Marks the linear layers the targets adapt; true when a target is the output head that a tied model shares
/// with its embedding (not among `linear_layers`, which lists each weight once).
fn mark_adapted(
    arch: &crate::model::Architecture,
    lora: &LoraSettings,
    adapted: &mut [bool],
) -> Result<bool> {
    let mut tied_head = false;
    match &lora.target_modules {
        TargetModules::AllLinear => {
            for (g, a) in arch.linear_layers.iter().zip(adapted.iter_mut()) {
                *a = !matches!(g.role, LinearRole::LmHead | LinearRole::Expert);
            }
        }
        TargetModules::Names(names) => {
            for name in names {
                let mut hit = false;
                for (g, a) in arch.linear_layers.iter().zip(adapted.iter_mut()) {
                    // PEFT matches a target by the module name or a dotted suffix of its full name.
                    if name == &g.name || name.ends_with(&format!(".{}", g.name)) {
                        *a = true;
                        hit = true;
                    }
                }
                let head = name == "lm_head" || name.ends_with(".lm_head");
                if !hit && head && arch.tie_word_embeddings {
                    tied_head = true;
                    hit = true;
                }
                if !hit {
                    let known: Vec<&str> =
                        arch.linear_layers.iter().map(|g| g.name.as_str()).collect();
                    return Err(Error::invalid(
                        "lora.target_modules",
                        format!(
                            "`{name}` matches no linear layer of this model (it has: {})",
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
    }
    Ok(tied_head)
}

/// Model states of the trainable parameters, whole (before sharding).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct States {
    /// LoRA adapter weights (the `lora` component).
    pub lora_bytes: u64,
    pub grad_bytes: u64,
    /// Gradient of the largest single tensor (all that is alive with optimizer-in-backward).
    pub largest_grad_bytes: u64,
    /// Optimizer states on the caching allocator, fp32 master copies included.
    pub optimizer_bytes: u64,
    /// Paged optimizer states (CUDA managed memory).
    pub managed_bytes: u64,
    /// Temporary of the optimizer step: torch's default (foreach) AdamW computes `sqrt(exp_avg_sq)` for all
    /// parameters at once, one state-sized tensor list (torch.optim docs: foreach trades peak memory for
    /// speed). bitsandbytes' kernels update in place.
    pub step_temp_bytes: u64,
    /// The same temporary for the largest single tensor (when the step runs per parameter).
    pub largest_step_temp_bytes: u64,
    /// fp32 copies of the gradients DeepSpeed ZeRO makes for the fp32 master step (stage_1_and_2.py: "18 =
    /// 2 grads16 + 4 grads32 + 4 params32 + 8 optimizer states"; docs/estimator.md §9.2).
    pub fp32_grad_bytes: u64,
}

pub(crate) struct StateInputs<'a> {
    pub plan: &'a Plan,
    pub trainable: &'a Trainable,
    /// Bytes per element of the trainable base weights as loaded (4 or 2).
    pub weight_bytes: u64,
}

pub(crate) fn states(input: &StateInputs, notes: &mut Notes) -> States {
    let plan = input.plan;
    let t = input.trainable;
    let lora_dtype = plan.lora.as_ref().map_or(4, |l| l.dtype.bytes());
    // The dtype the trainable parameters live in: adapters in their own dtype, base weights as loaded,
    // 16-bit under a "-true" precision.
    let param_bytes = if t.lora_params > 0 && t.params == t.lora_params {
        lora_dtype
    } else if plan.precision.is_true16() {
        2
    } else {
        input.weight_bytes
    };
    let mixed = plan.precision.is_mixed();
    // A separate fp32 master copy exists when 16-bit parameters train under mixed precision.
    let master = mixed && param_bytes == 2;
    let state_bytes = if master || plan.precision == Precision::Fp32 {
        4
    } else {
        param_bytes
    };

    let mut s = States {
        lora_bytes: t.lora_params * lora_dtype,
        ..States::default()
    };
    let mut largest = 0;
    for x in &t.tensors {
        let n = x.numel();
        largest = largest.max(n);
        s.grad_bytes += n * x.count * param_bytes;
        let (on_allocator, managed) = optimizer_tensor(plan.optimizer, x, state_bytes);
        s.optimizer_bytes += on_allocator * x.count;
        s.managed_bytes += managed * x.count;
        if master {
            s.optimizer_bytes += n * x.count * 4;
        }
    }
    s.largest_grad_bytes = largest * param_bytes;
    if master {
        s.fp32_grad_bytes = t.params * 4;
    }
    if plan.optimizer == Optimizer::Adamw {
        s.step_temp_bytes = t.params * state_bytes;
        s.largest_step_temp_bytes = largest * state_bytes;
    }

    notes.add(|| {
        let message = Message::new(Key::NoteStates)
            .count("params", t.params)
            .count("param_bytes", param_bytes)
            .optional_phrase("master", master.then_some(Key::NoteMasterCopy))
            .text("optimizer", format!("{:?}", plan.optimizer))
            .count("state_bytes", state_bytes)
            .optional_phrase(
                "detail",
                match plan.optimizer {
                    Optimizer::Adamw8bit | Optimizer::PagedAdamw8bit => Some(Key::NoteStates8bit),
                    Optimizer::PagedAdamw32bit => Some(Key::NoteStates32bit),
                    Optimizer::Adafactor => Some(Key::NoteStatesAdafactor),
                    _ => None,
                },
            );
        let text = format!(
            "{} trainable parameters at {} bytes, gradients in the same dtype{}; optimizer {:?} with {}-byte states{}",
            t.params,
            param_bytes,
            if master { ", plus an fp32 master copy (mixed precision)" } else { "" },
            plan.optimizer,
            state_bytes,
            match plan.optimizer {
                Optimizer::Adamw8bit | Optimizer::PagedAdamw8bit => " (bitsandbytes 8-bit: 1 byte per state + fp32 absmax per 256; tensors under 4096 elements keep fp32 states)",
                Optimizer::PagedAdamw32bit => " (bitsandbytes 32-bit states are fp32)",
                Optimizer::Adafactor => " (Adafactor: factored second moment, no first moment)",
                _ => "",
            }
        );
        (text, message)
    });
    if s.managed_bytes > 0 {
        notes.add(|| {
            (
                "paged optimizer states (tensors of 1e5 elements or more) live in CUDA managed memory: invisible to torch.cuda.max_memory_allocated, resident on the GPU until the driver pages them out under pressure".to_string(),
                Message::new(Key::NotePagedStates),
            )
        });
    }
    s
}

/// (bytes on the caching allocator, bytes in managed memory) of one tensor's optimizer states.
fn optimizer_tensor(opt: Optimizer, x: &Tensor, state_bytes: u64) -> (u64, u64) {
    let n = x.numel();
    let eight_bit = |n: u64| {
        if n < 4096 {
            8 * n
        } else {
            2 * n + 2 * 4 * n.div_ceil(256)
        }
    };
    match opt {
        Optimizer::Adamw => (2 * n * state_bytes, 0),
        Optimizer::Adamw8bit => (eight_bit(n), 0),
        Optimizer::PagedAdamw8bit if n >= 100_000 => (0, eight_bit(n)),
        Optimizer::PagedAdamw8bit => (eight_bit(n), 0),
        Optimizer::PagedAdamw32bit if n >= 100_000 => (0, 8 * n),
        Optimizer::PagedAdamw32bit => (8 * n, 0),
        Optimizer::Sgd => (0, 0),
        Optimizer::SgdMomentum => (n * state_bytes, 0),
        Optimizer::Adafactor if x.cols > 1 && x.rows > 1 => ((x.rows + x.cols) * state_bytes, 0),
        Optimizer::Adafactor => (n * state_bytes, 0),
    }
}
