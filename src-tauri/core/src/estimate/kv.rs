//! KV cache bytes (docs/estimator.md §8.1).
//!
//! - MHA/GQA: 2 · L · n_kv · d · tokens · b · bytes.
//! - Sliding window: transformers' `DynamicSlidingWindowLayer` keeps the last `window − 1` tokens of each
//!   window layer (counted as `window`: `update()` returns the concatenation with the new token).
//! - MLA: transformers' `DeepseekV2Attention` caches the decompressed per-head K = [k_nope, k_pe] and V,
//!   n_h · (d_nope + d_rope + d_v) elements per token and layer, not the paper's 576-element latent
//!   (DeepSeek-V2 arXiv:2405.04434 §2.1 describes what vLLM/SGLang store).
//! - Quantized KV (transformers `QuantizedCache`, quanto/HQQ backends): the last `residual_length` = 128
//!   tokens stay in the compute dtype, the rest is quantized with a 16-bit scale and zero point per group of
//!   64 (`QuantizedCacheConfig` defaults: `q_group_size=64`, `residual_length=128`). fp8 casts the cache with
//!   no scales.

use super::plan::KvDtype;
use super::shape::Shape;

/// Bytes of the cache for `tokens` positions of `batch` sequences, and of one layer's share of it.
pub(crate) fn kv_bytes(
    shape: &Shape,
    tokens: u64,
    batch: u64,
    dtype: KvDtype,
    compute_bytes: u64,
) -> (u64, u64) {
    let att = &shape.arch.attention;
    let per_token_layer = match att.mla {
        Some(m) => att.num_heads * (m.qk_nope_head_dim + m.qk_rope_head_dim + m.v_head_dim),
        None => 2 * att.num_kv_heads * att.head_dim,
    };
    let (window_layers, window) = match att.sliding_window {
        Some(w) => (w.layers.min(shape.layers), w.window),
        None => (0, u64::MAX),
    };
    let global_layers = shape.layers - window_layers;
    let elements_per_seq = |t: u64| per_token_layer * t;
    let layer_bytes = |t: u64| -> u64 {
        let n = elements_per_seq(t);
        match dtype {
            KvDtype::Int8 | KvDtype::Int4 => {
                let residual = t.min(128);
                let quantized = per_token_layer * (t - residual);
                quantized * dtype.bits() / 8
                    + quantized.div_ceil(64) * 4
                    + per_token_layer * residual * compute_bytes
            }
            _ => n * dtype.bits() / 8,
        }
    };
    let global = layer_bytes(tokens) * global_layers;
    let windowed = layer_bytes(tokens.min(window)) * window_layers;
    // The largest single layer's cache: a global layer if there is one.
    let one_layer = if global_layers > 0 {
        layer_bytes(tokens)
    } else {
        layer_bytes(tokens.min(window))
    };
    ((global + windowed) * batch, one_layer * batch)
}
