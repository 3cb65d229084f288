//! Dense decoders: Llama-like (Llama, Mistral, Qwen2/3, Gemma, …), Phi-3, Qwen v1, Phi, and the fused-QKV
//! families (GPT-NeoX, Falcon, BLOOM, GPT-BigCode).

use super::*;

/// Llama, Mistral, Qwen2, Qwen3, Gemma, Gemma2 (`modeling_llama.py` and the files that copy it): q/k/v/o,
/// gate/up/down, RMSNorm before attention and MLP (Gemma2 also after: 4 per layer), Qwen3 adds per-head q/k
/// RMSNorm. Biases: Llama `attention_bias` on q/k/v/o and `mlp_bias`; Qwen2 q/k/v only; Qwen3 and Gemma
/// `attention_bias`. Class defaults for `tie_word_embeddings`: Gemma/Gemma2 true, the rest false.
pub(super) fn llama_like(c: &Cfg, t: &str) -> Result<(Architecture, ParameterCounts)> {
    let gemma = matches!(t, "gemma" | "gemma2");
    let d = decoder(c, gemma)?;
    let inter = c.pos(&["intermediate_size"])?;
    let (qkv_bias, o_bias, mlp_bias) = match t {
        "qwen2" => (true, false, false),
        "mistral" => (false, false, false),
        "llama" => {
            let a = c.b_or("attention_bias", false)?;
            (a, a, c.b_or("mlp_bias", false)?)
        }
        _ => {
            let a = c.b_or("attention_bias", false)?;
            (a, a, false)
        }
    };
    let mut b = Build::default();
    embeddings(&mut b, &d, false);
    qkvo(&mut b, &d, d.layers, qkv_bias, o_bias);
    gated_mlp(&mut b, d.h, inter, d.layers, mlp_bias, LinearRole::Mlp);
    let norms_per_layer = if t == "gemma2" { 4 } else { 2 };
    b.other(w(d.layers) * w(norms_per_layer) * w(d.h) + w(d.h));
    if t == "qwen3" {
        b.other(w(d.layers) * 2 * w(d.head_dim));
    }
    let sliding = match t {
        "mistral" => window(c, d.layers, d.layers)?,
        // Gemma2: even layers slide, odd are global (`modeling_gemma2.py`, `layer_types` default).
        "gemma2" => window(c, d.layers, d.layers.div_ceil(2))?,
        "qwen2" | "qwen3" => {
            if c.b_or("use_sliding_window", false)? {
                let from = c.u_or("max_window_layers", d.layers)?;
                window(c, d.layers, d.layers.saturating_sub(from))?
            } else {
                None
            }
        }
        _ => None,
    };
    let (groups, counts) = b.finish(c.origin)?;
    let a = attention(&d, sliding, None);
    Ok((arch(&d, a, inter, true, None, groups), counts))
}

/// Phi-3 (`modeling_phi3.py`): fused `qkv_proj` (h → (a + 2·kv)·d) and `gate_up_proj` (h → 2I), no biases.
pub(super) fn phi3(c: &Cfg) -> Result<(Architecture, ParameterCounts)> {
    let d = decoder(c, false)?;
    let inter = c.pos(&["intermediate_size"])?;
    let mut b = Build::default();
    embeddings(&mut b, &d, false);
    let q = d.heads * d.head_dim;
    let qkv = q + 2 * d.kv_heads * d.head_dim;
    b.linear("qkv_proj", d.h, qkv, d.layers, false, LinearRole::Attention);
    b.linear("o_proj", q, d.h, d.layers, false, LinearRole::Attention);
    b.linear(
        "gate_up_proj",
        d.h,
        2 * inter,
        d.layers,
        false,
        LinearRole::Mlp,
    );
    b.linear("down_proj", inter, d.h, d.layers, false, LinearRole::Mlp);
    b.other(w(d.layers) * 2 * w(d.h) + w(d.h));
    let sliding = window(c, d.layers, d.layers)?;
    let (groups, counts) = b.finish(c.origin)?;
    Ok((
        arch(&d, attention(&d, sliding, None), inter, true, None, groups),
        counts,
    ))
}

/// Qwen (v1, `model_type` "qwen", remote code `modeling_qwen.py`): fused `c_attn` (h → 3h, with bias), `c_proj`,
/// SwiGLU `w1`/`w2` each of `intermediate_size / 2` (the config gives the sum) and `mlp.c_proj`; RMSNorm
/// `ln_1`, `ln_2`, `ln_f`; untied. Same count as a Qwen2 of half that intermediate size.
pub(super) fn qwen_v1(c: &Cfg) -> Result<(Architecture, ParameterCounts)> {
    let d = decoder(c, false)?;
    let inter = c.pos(&["intermediate_size"])? / 2;
    if inter == 0 {
        return Err(c.err("intermediate_size", "must be at least 2"));
    }
    let mut b = Build::default();
    embeddings(&mut b, &d, false);
    let q = d.heads * d.head_dim;
    b.linear("c_attn", d.h, 3 * q, d.layers, true, LinearRole::Attention);
    b.linear("c_proj", q, d.h, d.layers, false, LinearRole::Attention);
    b.linear("w1", d.h, inter, d.layers, false, LinearRole::Mlp);
    b.linear("w2", d.h, inter, d.layers, false, LinearRole::Mlp);
    b.linear("c_proj", inter, d.h, d.layers, false, LinearRole::Mlp);
    b.other(w(d.layers) * 2 * w(d.h) + w(d.h));
    let (groups, counts) = b.finish(c.origin)?;
    Ok((
        arch(&d, attention(&d, None, None), inter, true, None, groups),
        counts,
    ))
}

/// Phi-1/1.5/2 (`modeling_phi.py`): q/k/v/`dense` with biases, GELU `fc1`/`fc2` with biases, one LayerNorm per
/// layer (parallel attention and MLP), optional q/k LayerNorm, final LayerNorm, `lm_head` with bias.
pub(super) fn phi(c: &Cfg) -> Result<(Architecture, ParameterCounts)> {
    let d = decoder(c, false)?;
    let inter = c.pos(&["intermediate_size"])?;
    let mut b = Build::default();
    embeddings(&mut b, &d, true);
    let q = d.heads * d.head_dim;
    let kv = d.kv_heads * d.head_dim;
    b.linear("q_proj", d.h, q, d.layers, true, LinearRole::Attention);
    b.linear("k_proj", d.h, kv, d.layers, true, LinearRole::Attention);
    b.linear("v_proj", d.h, kv, d.layers, true, LinearRole::Attention);
    b.linear("dense", q, d.h, d.layers, true, LinearRole::Attention);
    b.linear("fc1", d.h, inter, d.layers, true, LinearRole::Mlp);
    b.linear("fc2", inter, d.h, d.layers, true, LinearRole::Mlp);
    b.other(w(d.layers) * 2 * w(d.h) + 2 * w(d.h));
    if c.b_or("qk_layernorm", false)? {
        b.other(w(d.layers) * 4 * w(d.head_dim));
    }
    let (groups, counts) = b.finish(c.origin)?;
    Ok((
        arch(&d, attention(&d, None, None), inter, false, None, groups),
        counts,
    ))
}

/// GPT-NeoX, Falcon, BLOOM and GPTBigCode: fused QKV, plain two-matrix GELU MLP, LayerNorms with bias.
/// - GPT-NeoX (`modeling_gpt_neox.py`): `query_key_value`, `dense`, `dense_h_to_4h`, `dense_4h_to_h`, all with
///   bias (`attention_bias`); two LayerNorms per layer; `embed_in`/`embed_out`, untied.
/// - Falcon (`modeling_falcon.py`): QKV width (a + 2·kv)·d with `new_decoder_architecture` (kv =
///   `num_kv_heads`), (a + 2)·d with `multi_query`, else 3h; `ffn_hidden_size` (default 4h); biases per `bias`;
///   LayerNorms: `ln_attn` + `ln_mlp` on the new architecture, else `input_layernorm` (+
///   `post_attention_layernorm` without `parallel_attn`); tied.
/// - BLOOM (`modeling_bloom.py`): like GPT-NeoX with width 4h, plus `word_embeddings_layernorm`; tied.
/// - GPTBigCode (`modeling_gpt_bigcode.py`): `c_attn` (h → h + 2d with `multi_query`), `c_proj`, `c_fc`
///   (h → `n_inner`, default 4h), `c_proj`, all with bias; learned positions `wpe`; tied.
pub(super) fn fused_qkv(c: &Cfg, t: &str) -> Result<(Architecture, ParameterCounts)> {
    let tie_default = t != "gpt_neox";
    let mut d = decoder(c, tie_default)?;
    let h = d.h;
    let q = d.heads * d.head_dim;
    let mut b = Build::default();
    embeddings(&mut b, &d, false);
    let (qkv_name, out_name, up_name, down_name) = match t {
        "gpt_bigcode" => ("c_attn", "c_proj", "c_fc", "c_proj"),
        _ => ("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"),
    };
    let (qkv_out, inter, bias, norms) = match t {
        "gpt_neox" => {
            let inter = c.pos(&["intermediate_size"])?;
            (3 * q, inter, c.b_or("attention_bias", true)?, 4 * w(h))
        }
        "bloom" => {
            b.other(2 * w(h));
            (3 * q, 4 * h, true, 4 * w(h))
        }
        "gpt_bigcode" => {
            let mq = c.b_or("multi_query", true)?;
            if mq {
                d.kv_heads = 1;
            }
            let inter = c.pos_or("n_inner", 4 * h)?;
            b.other(w(c.pos(&["n_positions", "max_position_embeddings"])?) * w(h));
            let qkv = if mq { q + 2 * d.head_dim } else { 3 * q };
            (qkv, inter, true, 4 * w(h))
        }
        _ => {
            // falcon
            let new = c.b_or("new_decoder_architecture", false)?;
            let mq = c.b_or("multi_query", true)?;
            let kv = if new {
                c.pos_or("num_kv_heads", d.heads)?
            } else if mq {
                1
            } else {
                d.heads
            };
            if d.heads % kv != 0 {
                return Err(c.err(
                    "num_kv_heads",
                    format!("{kv} does not divide num_attention_heads ({})", d.heads),
                ));
            }
            d.kv_heads = kv;
            let parallel = c.b_or("parallel_attn", true)?;
            let norms = if new && c.pos_or("num_ln_in_parallel_attn", 2)? == 2 {
                4 * w(h)
            } else if new || parallel {
                2 * w(h)
            } else {
                4 * w(h)
            };
            let inter = c.pos_or("ffn_hidden_size", 4 * h)?;
            let qkv = if new || mq {
                (d.heads + 2 * kv) * d.head_dim
            } else {
                3 * q
            };
            (qkv, inter, c.b_or("bias", false)?, norms)
        }
    };
    b.linear(qkv_name, h, qkv_out, d.layers, bias, LinearRole::Attention);
    b.linear(out_name, q, h, d.layers, bias, LinearRole::Attention);
    b.linear(up_name, h, inter, d.layers, bias, LinearRole::Mlp);
    b.linear(down_name, inter, h, d.layers, bias, LinearRole::Mlp);
    b.other(w(d.layers) * norms + 2 * w(h));
    let (groups, counts) = b.finish(c.origin)?;
    Ok((
        arch(&d, attention(&d, None, None), inter, false, None, groups),
        counts,
    ))
}
