//! The inference peak: weights, the KV cache, prefill's working set and logits, or the full cache at the
//! end of generation (docs/estimator.md §8.2).

use super::activations::layer_transient_per_token;
use super::kv::kv_bytes;
use super::part::{Part, BYTES_CAP};
use super::plan::{AttentionImpl, KvDtype, Plan, PrefillLogits};
use super::report::{gib, Notes};
use super::shape::Shape;
use crate::message::{Key, Message};

pub(crate) fn inference(
    plan: &Plan,
    shape: &Shape,
    weights_bytes: u64,
    e: u64,
    b: u64,
    s: u64,
    notes: &mut Notes,
) -> Part {
    let arch = shape.arch;
    let tokens = b * s;
    let gpu_count = plan.gpus.as_ref().map_or(1, |g| g.count.get());
    let mut part = Part::default();
    let c = &mut part.components;
    // ---- inference: prefill, then decode ----
    let kv_dtype =
        plan.kv_cache_dtype
            .unwrap_or(if e == 4 { KvDtype::Fp32 } else { KvDtype::Bf16 });
    let ctx = s + plan.new_tokens;
    let (kv_prompt, _) = kv_bytes(shape, s, b, kv_dtype, e);
    let (kv_total, kv_layer) = kv_bytes(shape, ctx, b, kv_dtype, e);
    let mlp = layer_transient_per_token(shape, e) * tokens;
    let scores = match plan.attention {
        AttentionImpl::Eager => (b * arch.attention.num_heads * (4 + e))
            .saturating_mul(s)
            .saturating_mul(s)
            .min(BYTES_CAP),
        _ => 0,
    };
    let transient = mlp.max(scores);
    let logit_bytes = e + 4;
    let prefill_logits = match plan.prefill_logits {
        PrefillLogits::Last => b * shape.vocab * logit_bytes,
        PrefillLogits::All => tokens * shape.vocab * logit_bytes,
    };
    let prefill = kv_prompt + transient.max(prefill_logits);
    // What the last decode step holds beside the full cache. DynamicCache grows by torch.cat and drops each
    // layer's old tensor as it goes: one layer's old and new cache coexist. A cache handed back as tuples
    // (transformers before 4.42, remote-code models such as Qwen v1) is still held by generate() for the whole
    // step while every layer concatenates its longer one: the old cache, all of it.
    let old_cache = if plan.legacy_kv_cache {
        kv_bytes(shape, ctx - 1, b, kv_dtype, e).0
    } else {
        kv_layer
    };
    let decode = if plan.new_tokens > 0 {
        kv_total + old_cache + b * shape.vocab * logit_bytes
    } else {
        0
    };
    if prefill >= decode {
        c.kv_cache = kv_prompt;
        if transient >= prefill_logits {
            c.activations = transient;
        } else {
            c.logits = prefill_logits;
        }
        notes.add(|| ("peak at prefill: the prompt's KV cache plus one layer's working set (or the prompt's logits)".to_string(), Message::new(Key::NotePeakPrefill)));
    } else {
        c.kv_cache = kv_total + old_cache;
        c.logits = b * shape.vocab * logit_bytes;
        if plan.legacy_kv_cache {
            notes.add(|| {
                (
                    format!(
                        "KV cache as tuples (transformers before 4.42, remote-code models): at each decode step generate() still holds the old cache while every layer builds its longer one, {} more at the end",
                        gib(old_cache)
                    ),
                    Message::new(Key::NoteLegacyKvCache).bytes("bytes", old_cache),
                )
            });
        }
        notes.add(|| {
            (
                "peak at the end of generation: the full KV cache".to_string(),
                Message::new(Key::NotePeakGeneration),
            )
        });
    }
    notes.add(|| {
        let message = Message::new(Key::NoteKvCache)
            .text("dtype", format!("{kv_dtype:?}"))
            .bytes("bytes", kv_total)
            .count("tokens", ctx)
            .count("batch", b)
            .optional_phrase("mla", (arch.attention.mla.is_some()).then_some(Key::NoteKvMla));
        let text = format!(
            "KV cache in {:?}: {} for {} tokens × batch {}{}",
            kv_dtype,
            gib(kv_total),
            ctx,
            b,
            if arch.attention.mla.is_some() {
                " (transformers caches MLA's decompressed per-head K and V, not the 576-element latent)"
            } else {
                ""
            }
        );
        (text, message)
    });
    notes.add(|| match plan.prefill_logits {
        PrefillLogits::Last => ("prefill computes only the last position's logits (transformers ≥ 4.45 generate())".to_string(), Message::new(Key::NotePrefillLast)),
        PrefillLogits::All => ("prefill computes every prompt position's logits and upcasts them to fp32 (transformers < 4.45)".to_string(), Message::new(Key::NotePrefillAll)),
    });
    c.weights = weights_bytes;
    if gpu_count > 1 {
        // device_map="auto" splits the layers (and their cache) across the GPUs; each GPU still runs a
        // whole layer's working set.
        c.weights /= gpu_count;
        c.kv_cache /= gpu_count;
        notes.add(|| {
            (
                format!(
                    "device_map=\"auto\": layers and their KV cache split across {gpu_count} GPUs"
                ),
                Message::new(Key::NoteDeviceMap).count("gpus", gpu_count),
            )
        });
    }
    part
}
