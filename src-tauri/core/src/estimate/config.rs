//! A minimal config.json → `ModelSpec` converter for the dense Llama family (llama, mistral, qwen2, qwen3),
//! so that `estimate` works with `{"model": {"config": {...}}}` before model discovery lands. Model discovery
//! (another branch) replaces this with the full converter; the counting rules are FORMULAS.md §8.

use serde_json::{Map, Value};

use crate::model::{
    Architecture, Attention, DType, LinearGroup, LinearRole, ModelSource, ModelSpec,
    ParameterCounts, SlidingWindow,
};
use crate::{Error, Result};

fn field(name: &str) -> String {
    format!("model.config.{name}")
}

/// Upper bounds far beyond any real model, so that counting can never overflow.
fn max_of(key: &str) -> u64 {
    match key {
        "hidden_size" => 1 << 20,
        "num_hidden_layers" | "max_window_layers" => 1 << 12,
        "num_attention_heads" | "num_key_value_heads" | "head_dim" => 1 << 14,
        "intermediate_size" => 1 << 22,
        _ => 1 << 24,
    }
}

fn uint(cfg: &Map<String, Value>, key: &str) -> Result<Option<u64>> {
    match cfg.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(0) => Err(Error::invalid(field(key), "must be positive, got 0")),
            Some(n) if n > max_of(key) => Err(Error::invalid(
                field(key),
                format!("{n} is implausibly large (at most {})", max_of(key)),
            )),
            Some(n) => Ok(Some(n)),
            None => Err(Error::invalid(
                field(key),
                format!("must be a positive integer, got {v}"),
            )),
        },
    }
}

fn required(cfg: &Map<String, Value>, key: &str) -> Result<u64> {
    uint(cfg, key)?.ok_or_else(|| Error::invalid(field(key), "is required"))
}

/// Build a `ModelSpec` from a config.json object of a dense llama, mistral, qwen2 or qwen3 model.
pub fn spec_from_config(config: &Value) -> Result<ModelSpec> {
    let cfg = config
        .as_object()
        .ok_or_else(|| Error::invalid("model.config", "must be a config.json object"))?;
    let model_type = match cfg.get("model_type") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(Error::invalid(field("model_type"), "must be a string")),
        None => return Err(Error::invalid(field("model_type"), "is required")),
    };
    let family = match model_type.as_str() {
        "llama" | "mistral" | "qwen2" | "qwen3" => model_type.as_str(),
        other => {
            return Err(Error::invalid(
                field("model_type"),
                format!("`{other}` is not supported by the built-in converter (llama, mistral, qwen2, qwen3); use model.id or model.path"),
            ))
        }
    };
    let h = required(cfg, "hidden_size")?;
    let layers = required(cfg, "num_hidden_layers")?;
    let heads = required(cfg, "num_attention_heads")?;
    let kv_heads = uint(cfg, "num_key_value_heads")?.unwrap_or(heads);
    if heads % kv_heads != 0 {
        return Err(Error::invalid(
            field("num_key_value_heads"),
            format!("{kv_heads} does not divide num_attention_heads {heads}"),
        ));
    }
    let head_dim = match uint(cfg, "head_dim")? {
        Some(d) => d,
        None if h % heads == 0 => h / heads,
        None => {
            return Err(Error::invalid(
                field("head_dim"),
                "is required when hidden_size is not a multiple of num_attention_heads",
            ))
        }
    };
    let inter = required(cfg, "intermediate_size")?;
    let vocab = required(cfg, "vocab_size")?;
    // Class defaults when absent: Llama/Mistral/Qwen2/Qwen3 configs default to untied (FORMULAS.md §8).
    let tied = match cfg.get("tie_word_embeddings") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(Error::invalid(
                field("tie_word_embeddings"),
                "must be true or false",
            ))
        }
    };
    let flag = |key: &str| cfg.get(key).and_then(Value::as_bool).unwrap_or(false);
    let attn_bias = flag("attention_bias");
    let mlp_bias = flag("mlp_bias");
    // qwen2 has q/k/v biases and no o_proj bias (modeling_qwen2.py).
    let qkv_bias = family == "qwen2" || attn_bias;
    let o_bias = attn_bias;
    let q_dim = heads * head_dim;
    let kv_dim = kv_heads * head_dim;

    let group = |name: &str, i: u64, o: u64, bias: bool, role: LinearRole| LinearGroup {
        name: name.to_string(),
        in_features: i,
        out_features: o,
        count: layers,
        bias,
        role,
    };
    let mut linear_layers = vec![
        group("q_proj", h, q_dim, qkv_bias, LinearRole::Attention),
        group("k_proj", h, kv_dim, qkv_bias, LinearRole::Attention),
        group("v_proj", h, kv_dim, qkv_bias, LinearRole::Attention),
        group("o_proj", q_dim, h, o_bias, LinearRole::Attention),
        group("gate_proj", h, inter, mlp_bias, LinearRole::Mlp),
        group("up_proj", h, inter, mlp_bias, LinearRole::Mlp),
        group("down_proj", inter, h, mlp_bias, LinearRole::Mlp),
    ];
    let linear: u64 = linear_layers.iter().map(LinearGroup::parameters).sum();
    let embedding = vocab * h;
    let lm_head = if tied { 0 } else { vocab * h };
    linear_layers.push(LinearGroup {
        name: "lm_head".to_string(),
        in_features: h,
        out_features: vocab,
        count: 1,
        bias: false,
        role: LinearRole::LmHead,
    });
    // Two RMSNorms per layer and the final norm; qwen3 adds q_norm and k_norm (head_dim each) per layer.
    let other = layers * 2 * h
        + h
        + if family == "qwen3" {
            layers * 2 * head_dim
        } else {
            0
        };

    let sliding_window = match (family, uint(cfg, "sliding_window")?) {
        ("mistral", Some(w)) => Some(SlidingWindow { window: w, layers }),
        ("qwen2" | "qwen3", Some(w)) if flag("use_sliding_window") => {
            let from = uint(cfg, "max_window_layers")?
                .unwrap_or(layers)
                .min(layers);
            Some(SlidingWindow {
                window: w,
                layers: layers - from,
            })
        }
        _ => None,
    };
    let stored_dtype = match cfg
        .get("torch_dtype")
        .or_else(|| cfg.get("dtype"))
        .and_then(Value::as_str)
    {
        Some("float32") => DType::F32,
        Some("float16") => DType::F16,
        _ => DType::Bf16,
    };
    Ok(ModelSpec {
        id: "config".to_string(),
        model_type: model_type.clone(),
        source: ModelSource::RawConfig,
        stored_dtype,
        parameters: ParameterCounts {
            total: embedding + lm_head + linear + other,
            embedding,
            lm_head,
            linear,
            other,
        },
        architecture: Some(Architecture {
            hidden_size: h,
            num_layers: layers,
            vocab_size: vocab,
            tie_word_embeddings: tied,
            attention: Attention {
                num_heads: heads,
                num_kv_heads: kv_heads,
                head_dim,
                sliding_window,
                mla: None,
            },
            intermediate_size: inter,
            gated_mlp: true,
            moe: None,
            linear_layers,
        }),
        notes: vec![format!(
            "model from a raw config.json ({model_type}), counted with the built-in dense converter"
        )],
    })
}
