//! `ModelSpec`s for the tests, built from the architecture facts in `tests/fixtures/estimate/model_configs.json`
//! (copied from the shared reference; see PROVENANCE.md there). Model discovery builds these for real; the
//! tests only need the shapes, with the exact parameter count the fixture gives.

use headroom_core::model::*;
use serde_json::Value;

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/estimate");

pub fn configs() -> Value {
    let text = std::fs::read_to_string(format!("{FIXTURES}/model_configs.json"))
        .expect("model_configs.json");
    serde_json::from_str(&text).expect("model_configs.json parses")
}

fn u(v: &Value, k: &str) -> Option<u64> {
    v.get(k).and_then(Value::as_u64)
}

fn lin(name: &str, i: u64, o: u64, count: u64, bias: bool, role: LinearRole) -> LinearGroup {
    LinearGroup {
        name: name.into(),
        in_features: i,
        out_features: o,
        count,
        bias,
        role,
    }
}

/// The spec of a model in the fixture, or `None` for architectures the estimator does not model (T5, BERT…).
pub fn spec(id: &str) -> Option<ModelSpec> {
    let all = configs();
    let mut c = all.get(id)?.clone();
    if let Some(same) = c.get("same_as").and_then(Value::as_str) {
        let exact = c.get("param_count_exact").cloned();
        c = all.get(same)?.clone();
        if let Some(e) = exact {
            c["param_count_exact"] = e;
        }
    }
    let family = c.get("model_type_built_as")?.as_str()?.to_string();
    let h = u(&c, "hidden_size")?;
    let l = u(&c, "num_hidden_layers")?;
    let a = u(&c, "num_attention_heads")?;
    let kv = u(&c, "num_key_value_heads").unwrap_or(a);
    let d = u(&c, "head_dim").unwrap_or(h / a);
    let v = u(&c, "vocab_size")?;
    let total = u(&c, "param_count_exact")?;
    let tied = c
        .get("tie_word_embeddings")
        .and_then(Value::as_bool)
        // GPTBigCode ties `lm_head` to `wte` by default (its fixture entry omits the key).
        .unwrap_or(family == "gpt_bigcode");
    // Qwen v1 (`Qwen/Qwen-*`, remote code `modeling_qwen.py`) gives the SUM of the two SwiGLU branches as
    // `intermediate_size`; each of w1/w2 is half of it (the product's reader does the same, `dense::qwen_v1`).
    let qwen_v1 = id.starts_with("Qwen/Qwen-");
    let inter = u(&c, "intermediate_size").unwrap_or(0) / if qwen_v1 { 2 } else { 1 };
    let mut groups = Vec::new();
    let mut moe = None;
    let mut gated = true;
    match family.as_str() {
        "llama" | "mistral" | "qwen2" | "qwen3" | "qwen2_moe" | "qwen3_moe" => {
            let bias = family.starts_with("qwen2");
            groups.push(lin("q_proj", h, a * d, l, bias, LinearRole::Attention));
            groups.push(lin("k_proj", h, kv * d, l, bias, LinearRole::Attention));
            groups.push(lin("v_proj", h, kv * d, l, bias, LinearRole::Attention));
            groups.push(lin("o_proj", a * d, h, l, false, LinearRole::Attention));
            if let Some(m) = c.get("moe") {
                let e = u(m, "num_experts")?;
                let k = u(m, "num_experts_per_tok")?;
                let ie = u(m, "moe_intermediate_size")?;
                let is = u(m, "shared_expert_intermediate_size").unwrap_or(0);
                groups.push(lin("gate", h, e, l, false, LinearRole::Router));
                groups.push(lin("gate_proj", h, ie, l * e, false, LinearRole::Expert));
                groups.push(lin("up_proj", h, ie, l * e, false, LinearRole::Expert));
                groups.push(lin("down_proj", ie, h, l * e, false, LinearRole::Expert));
                if is > 0 {
                    groups.push(lin(
                        "shared_expert.gate_proj",
                        h,
                        is,
                        l,
                        false,
                        LinearRole::SharedExpert,
                    ));
                    groups.push(lin(
                        "shared_expert.up_proj",
                        h,
                        is,
                        l,
                        false,
                        LinearRole::SharedExpert,
                    ));
                    groups.push(lin(
                        "shared_expert.down_proj",
                        is,
                        h,
                        l,
                        false,
                        LinearRole::SharedExpert,
                    ));
                }
                moe = Some(Moe {
                    num_experts: e,
                    experts_per_token: k,
                    expert_intermediate_size: ie,
                    shared_experts: u64::from(is > 0),
                    shared_intermediate_size: is,
                    moe_layers: l,
                });
            } else {
                groups.push(lin("gate_proj", h, inter, l, false, LinearRole::Mlp));
                groups.push(lin("up_proj", h, inter, l, false, LinearRole::Mlp));
                groups.push(lin("down_proj", inter, h, l, false, LinearRole::Mlp));
            }
        }
        "gpt_neox" => {
            gated = false;
            groups.push(lin(
                "query_key_value",
                h,
                3 * h,
                l,
                true,
                LinearRole::Attention,
            ));
            groups.push(lin("dense", h, h, l, true, LinearRole::Attention));
            groups.push(lin("dense_h_to_4h", h, inter, l, true, LinearRole::Mlp));
            groups.push(lin("dense_4h_to_h", inter, h, l, true, LinearRole::Mlp));
        }
        "gpt_bigcode" => {
            // `modeling_gpt_bigcode.py`: fused `c_attn` (queries plus one shared key and value head under
            // multi-query attention), `c_proj`, GELU `c_fc`/`c_proj`, all with biases.
            gated = false;
            groups.push(lin(
                "c_attn",
                h,
                a * d + 2 * kv * d,
                l,
                true,
                LinearRole::Attention,
            ));
            groups.push(lin("c_proj", a * d, h, l, true, LinearRole::Attention));
            groups.push(lin("c_fc", h, inter, l, true, LinearRole::Mlp));
            groups.push(lin("c_proj", inter, h, l, true, LinearRole::Mlp));
        }
        "phi" => {
            gated = false;
            groups.push(lin("q_proj", h, h, l, true, LinearRole::Attention));
            groups.push(lin("k_proj", h, h, l, true, LinearRole::Attention));
            groups.push(lin("v_proj", h, h, l, true, LinearRole::Attention));
            groups.push(lin("dense", h, h, l, true, LinearRole::Attention));
            groups.push(lin("fc1", h, inter, l, true, LinearRole::Mlp));
            groups.push(lin("fc2", inter, h, l, true, LinearRole::Mlp));
        }
        _ => return None,
    }
    let linear: u64 = groups.iter().map(LinearGroup::parameters).sum();
    let embedding = v * h;
    let lm_head = if tied { 0 } else { v * h };
    groups.push(lin("lm_head", h, v, 1, false, LinearRole::LmHead));
    let other = total.checked_sub(embedding + lm_head + linear)?;
    let sliding_window = u(&c, "sliding_window")
        .filter(|_| family == "mistral")
        .map(|w| SlidingWindow {
            window: w,
            layers: l,
        });
    Some(ModelSpec {
        id: id.into(),
        model_type: family.clone(),
        source: ModelSource::Catalog,
        stored_dtype: DType::Bf16,
        parameters: ParameterCounts {
            total,
            embedding,
            lm_head,
            linear,
            other,
        },
        architecture: Some(Architecture {
            hidden_size: h,
            num_layers: l,
            vocab_size: v,
            tie_word_embeddings: tied,
            attention: Attention {
                num_heads: a,
                num_kv_heads: kv,
                head_dim: d,
                sliding_window,
                mla: None,
            },
            intermediate_size: inter,
            gated_mlp: gated,
            moe,
            linear_layers: groups,
        }),
        notes: vec![],
        note_messages: vec![],
    })
}
