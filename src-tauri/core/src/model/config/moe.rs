//! Mixture-of-experts decoders: Mixtral, Qwen2/3-MoE and DeepSeek-V2/V3 (with routing groups).

use super::*;

/// Mixtral (`modeling_mixtral.py`): every layer is MoE; router `gate` (h → E), `num_local_experts` experts of
/// `intermediate_size`, no dense MLP.
pub(super) fn mixtral(c: &Cfg) -> Result<(Architecture, ParameterCounts)> {
    let d = decoder(c, false)?;
    let inter = c.pos(&["intermediate_size"])?;
    let e = c.pos(&["num_local_experts", "num_experts"])?;
    let k = c.pos_or("num_experts_per_tok", 2)?;
    let experts_key = if c.get("num_local_experts").is_some() {
        "num_local_experts"
    } else {
        "num_experts"
    };
    top_k_within(c, k, e, experts_key)?;
    let mut b = Build::default();
    embeddings(&mut b, &d, false);
    qkvo(&mut b, &d, d.layers, false, false);
    b.linear("gate", d.h, e, d.layers, false, LinearRole::Router);
    experts(&mut b, d.h, inter, e, d.layers);
    b.other(w(d.layers) * 2 * w(d.h) + w(d.h));
    let sliding = window(c, d.layers, d.layers)?;
    let (groups, counts) = b.finish(c.origin)?;
    let moe = Moe {
        num_experts: e,
        experts_per_token: k,
        expert_intermediate_size: inter,
        shared_experts: 0,
        shared_intermediate_size: 0,
        moe_layers: d.layers,
    };
    Ok((
        arch(&d, attention(&d, sliding, None), 0, true, Some(moe), groups),
        counts,
    ))
}

/// Qwen2-MoE and Qwen3-MoE (`modeling_qwen2_moe.py`, `modeling_qwen3_moe.py`): layer i is sparse when
/// `(i + 1) % decoder_sparse_step == 0` and i is not in `mlp_only_layers`; sparse layers have a router `gate`,
/// the experts (`moe_intermediate_size`), and in Qwen2-MoE one shared expert (`shared_expert_intermediate_size`)
/// with a sigmoid `shared_expert_gate` (h → 1). Qwen2-MoE has q/k/v biases; Qwen3-MoE q/k RMSNorm.
pub(super) fn qwen_moe(c: &Cfg, t: &str) -> Result<(Architecture, ParameterCounts)> {
    let d = decoder(c, false)?;
    let qwen2 = t == "qwen2_moe";
    let inter = c.u_or("intermediate_size", 0)?;
    let e = c.u_or("num_experts", c.u_or("num_local_experts", 0)?)?;
    let k = c.pos_or("num_experts_per_tok", 1)?;
    let experts_key = if c.get("num_experts").is_some() {
        "num_experts"
    } else {
        "num_local_experts"
    };
    top_k_within(c, k, e, experts_key)?;
    let im = c.u_or("moe_intermediate_size", 0)?;
    let step = c.pos_or("decoder_sparse_step", 1)?;
    // Counted arithmetically, not by walking the layers: a hostile config may claim millions of them.
    let only: std::collections::BTreeSet<u64> = c.u_list("mlp_only_layers")?.into_iter().collect();
    if let Some(beyond) = only.range(d.layers..).next() {
        return Err(c.err(
            "mlp_only_layers",
            format!(
                "lists layer {beyond}, but the layers are numbered 0 to {} (num_hidden_layers is {})",
                d.layers - 1,
                d.layers
            ),
        ));
    }
    let sparse = if e > 0 {
        let excluded = only
            .iter()
            .filter(|i| **i < d.layers && (*i + 1) % step == 0)
            .count() as u64;
        d.layers / step - excluded
    } else {
        0
    };
    let dense = d.layers - sparse;
    if sparse > 0 && im == 0 {
        return Err(c.err("moe_intermediate_size", "is required for MoE layers"));
    }
    if dense > 0 && inter == 0 {
        return Err(c.err("intermediate_size", "is required for dense layers"));
    }
    let mut b = Build::default();
    embeddings(&mut b, &d, false);
    let qkv_bias = if qwen2 {
        true
    } else {
        c.b_or("attention_bias", false)?
    };
    let o_bias = !qwen2 && qkv_bias;
    qkvo(&mut b, &d, d.layers, qkv_bias, o_bias);
    if !qwen2 {
        b.other(w(d.layers) * 2 * w(d.head_dim));
    }
    gated_mlp(&mut b, d.h, inter, dense, false, LinearRole::Mlp);
    b.linear("gate", d.h, e, sparse, false, LinearRole::Router);
    experts(&mut b, d.h, im, e, sparse);
    let shared = if qwen2 {
        c.u_or("shared_expert_intermediate_size", 0)?
    } else {
        0
    };
    if shared > 0 {
        gated_mlp(&mut b, d.h, shared, sparse, false, LinearRole::SharedExpert);
        b.linear(
            "shared_expert_gate",
            d.h,
            1,
            sparse,
            false,
            LinearRole::Router,
        );
    }
    b.other(w(d.layers) * 2 * w(d.h) + w(d.h));
    let sliding = if c.b_or("use_sliding_window", false)? {
        let from = c.u_or("max_window_layers", d.layers)?;
        window(c, d.layers, d.layers.saturating_sub(from))?
    } else {
        None
    };
    let (groups, counts) = b.finish(c.origin)?;
    let moe = (sparse > 0).then_some(Moe {
        num_experts: e,
        experts_per_token: k,
        expert_intermediate_size: im,
        shared_experts: u64::from(shared > 0),
        shared_intermediate_size: shared,
        moe_layers: sparse,
    });
    let dense_inter = if dense > 0 { inter } else { 0 };
    Ok((
        arch(
            &d,
            attention(&d, sliding, None),
            dense_inter,
            true,
            moe,
            groups,
        ),
        counts,
    ))
}

/// DeepSeek-V2/V3 (`modeling_deepseek_v2.py`, `modeling_deepseek_v3.py`): multi-head latent attention —
/// `q_proj` (or `q_a_proj` → RMSNorm → `q_b_proj` when `q_lora_rank` is set), `kv_a_proj_with_mqa`
/// (h → kv_r + d_rope) → RMSNorm(kv_r) → `kv_b_proj` (kv_r → a·(d_nope + d_v)), `o_proj` (a·d_v → h);
/// `attention_bias` on q_a/kv_a/o. Layers below `first_k_dense_replace` are dense; the others (every
/// `moe_layer_freq`-th) have a router `gate`, `n_routed_experts` experts and `n_shared_experts` shared experts
/// fused into one MLP of `n_shared_experts × moe_intermediate_size`. `n_group`/`topk_group` only change routing.
pub(super) fn deepseek(
    c: &Cfg,
    notes: &mut Vec<Message>,
) -> Result<(Architecture, ParameterCounts)> {
    let h = c.pos(&["hidden_size"])?;
    let layers = c.pos(&["num_hidden_layers"])?;
    let vocab = c.pos(&["vocab_size"])?;
    let heads = c.pos(&["num_attention_heads"])?;
    let q_r = c.opt_u("q_lora_rank")?.filter(|r| *r > 0);
    let kv_r = c.pos(&["kv_lora_rank"])?;
    let nope = c.pos(&["qk_nope_head_dim"])?;
    let rope = c.pos(&["qk_rope_head_dim"])?;
    let vd = c.pos(&["v_head_dim"])?;
    let inter = c.pos(&["intermediate_size"])?;
    let e = c.u_or("n_routed_experts", 0)?;
    let k = c.pos_or("num_experts_per_tok", 1)?;
    top_k_within(c, k, e, "n_routed_experts")?;
    let routing = group_routing(c, e, k)?;
    let im = c.u_or("moe_intermediate_size", 0)?;
    let n_shared = c.u_or("n_shared_experts", 0)?;
    let first_dense = c.u_or("first_k_dense_replace", 0)?;
    let freq = c.pos_or("moe_layer_freq", 1)?;
    let bias = c.b_or("attention_bias", false)?;
    let d = Decoder {
        h,
        layers,
        vocab,
        heads,
        kv_heads: heads,
        head_dim: nope + rope,
        tie: c.b_or("tie_word_embeddings", false)?,
    };
    // Layers i in [first_k_dense_replace, L) with i % moe_layer_freq == 0; [0, n) holds ceil(n / freq) of them.
    let sparse = if e > 0 {
        layers.div_ceil(freq) - first_dense.min(layers).div_ceil(freq)
    } else {
        0
    };
    if sparse > 0 && im == 0 {
        return Err(c.err("moe_intermediate_size", "is required for MoE layers"));
    }
    let dense = layers - sparse;
    let mut b = Build::default();
    embeddings(&mut b, &d, false);
    let q_out = heads * (nope + rope);
    match q_r {
        None => b.linear("q_proj", h, q_out, layers, false, LinearRole::Attention),
        Some(r) => {
            b.linear("q_a_proj", h, r, layers, bias, LinearRole::Attention);
            b.linear("q_b_proj", r, q_out, layers, false, LinearRole::Attention);
            b.other(w(layers) * w(r));
        }
    }
    b.linear(
        "kv_a_proj_with_mqa",
        h,
        kv_r + rope,
        layers,
        bias,
        LinearRole::Attention,
    );
    b.linear(
        "kv_b_proj",
        kv_r,
        heads * (nope + vd),
        layers,
        false,
        LinearRole::Attention,
    );
    b.linear("o_proj", heads * vd, h, layers, bias, LinearRole::Attention);
    b.other(w(layers) * w(kv_r));
    gated_mlp(&mut b, h, inter, dense, false, LinearRole::Mlp);
    b.linear("gate", h, e, sparse, false, LinearRole::Router);
    experts(&mut b, h, im, e, sparse);
    if n_shared > 0 {
        gated_mlp(
            &mut b,
            h,
            im * n_shared,
            sparse,
            false,
            LinearRole::SharedExpert,
        );
    }
    b.other(w(layers) * 2 * w(h) + w(h));
    if let Some((groups, top)) = routing {
        notes.push(
            Message::new(Key::NoteModelGroupRouting)
                .count("groups", groups)
                .count("top", top),
        );
    }
    if c.u_or("num_nextn_predict_layers", 0)? > 0 {
        notes.push(Message::new(Key::NoteModelNextn));
    }
    let (groups, counts) = b.finish(c.origin)?;
    let mla = Mla {
        q_lora_rank: q_r,
        kv_lora_rank: kv_r,
        qk_nope_head_dim: nope,
        qk_rope_head_dim: rope,
        v_head_dim: vd,
    };
    let moe = (sparse > 0).then_some(Moe {
        num_experts: e,
        experts_per_token: k,
        expert_intermediate_size: im,
        shared_experts: n_shared,
        shared_intermediate_size: im * n_shared,
        moe_layers: sparse,
    });
    let dense_inter = if dense > 0 { inter } else { 0 };
    Ok((
        arch(
            &d,
            attention(&d, None, Some(mla)),
            dense_inter,
            true,
            moe,
            groups,
        ),
        counts,
    ))
}

/// DeepSeek's group-limited routing (`n_group`, `topk_group`; `MoEGate` in `modeling_deepseek_v3.py`): the
/// experts are split into `n_group` equal groups, each token picks `topk_group` groups and then its
/// `num_experts_per_tok` experts among theirs. Groups that do not split the experts evenly, more chosen groups
/// than groups, or more experts per token than the chosen groups hold are configs the gate cannot run.
pub(super) fn group_routing(c: &Cfg, experts: u64, k: u64) -> Result<Option<(u64, u64)>> {
    let (Some(groups), Some(top)) = (c.opt_u("n_group")?, c.opt_u("topk_group")?) else {
        return Ok(None);
    };
    if groups == 0 {
        return Err(c.err("n_group", "must be at least 1"));
    }
    if top == 0 || top > groups {
        return Err(c.err(
            "topk_group",
            format!("{top} groups per token must be between 1 and n_group ({groups})"),
        ));
    }
    if experts > 0 {
        if !experts.is_multiple_of(groups) {
            return Err(c.err(
                "n_group",
                format!("{groups} groups do not divide n_routed_experts ({experts})"),
            ));
        }
        let reachable = top * (experts / groups);
        if k > reachable {
            return Err(c.err(
                "num_experts_per_tok",
                format!(
                    "{k} active experts per token is more than the {reachable} experts its topk_group ({top}) groups \
                     of {} hold",
                    experts / groups
                ),
            ));
        }
    }
    Ok(Some((groups, top)))
}
