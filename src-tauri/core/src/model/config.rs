//! config.json → [`Architecture`] and exact [`ParameterCounts`].
//!
//! Each family mirrors the modules transformers builds for it (`models/<type>/modeling_<type>.py`, v5-era), and
//! names its linear layers as PEFT targets them (the leaf module names). Counts are `sum(p.numel())` with tied
//! weights once; buffers (rotary tables, DeepSeek-V3's `e_score_correction_bias`) are not parameters. The
//! per-layer formulas are those of FORMULAS.md §8 ("Model size detection"), checked to the parameter against
//! `param_count_exact` for every model of `reference/model_configs.json` and against the tiny checkpoints'
//! `param_counts.json` (tests/fixtures).
//!
//! Routed experts are grouped as transformers 5 stores them: one fused `gate_up_proj` (E, 2I, h) and one
//! `down_proj` (E, h, I) per MoE layer (FORMULAS.md §1.1, "v5 MoE caveat"), role [`LinearRole::Expert`]; the
//! group's `count` is layers × experts so that `count × in × out` is still the exact parameter count.

use serde_json::{Map, Value};

use super::spec::{
    Architecture, Attention, DType, LinearGroup, LinearRole, Mla, Moe, ParameterCounts,
    SlidingWindow,
};
use super::weights::Packing;
use crate::{Error, Result};

/// Largest integer a size field may hold (16,777,216). Far above any real model (vocabularies reach ~2^18), and
/// low enough that every product below fits u128 and every group's per-module size fits u64.
const MAX_DIM: u64 = 1 << 24;

/// Model types whose architecture we build.
pub const KNOWN_MODEL_TYPES: &[&str] = &[
    "llama",
    "mistral",
    "qwen2",
    "qwen3",
    "gemma",
    "gemma2",
    "phi3",
    "mixtral",
    "qwen2_moe",
    "qwen3_moe",
    "deepseek_v2",
    "deepseek_v3",
    "qwen",
    "phi",
    "gpt_neox",
    "falcon",
    "gpt_bigcode",
    "bloom",
    "bert",
    "t5",
    "mt5",
];

/// What config.json says, before safetensors headers are consulted.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigFacts {
    pub model_type: String,
    /// `None` for a model type we do not know.
    pub architecture: Option<Architecture>,
    pub parameters: Option<ParameterCounts>,
    /// From `torch_dtype` / `dtype`, or the pre-quantized format.
    pub stored_dtype: DType,
    pub packing: Packing,
    pub tie_word_embeddings: bool,
    pub notes: Vec<String>,
}

/// Parse config.json bytes into a JSON object; `origin` names the file in errors.
pub fn parse_config(bytes: &[u8], origin: &str) -> Result<Map<String, Value>> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::invalid(origin.to_owned(), format!("not valid JSON: {e}")))?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(Error::invalid(
            origin.to_owned(),
            format!("must be a JSON object, got {}", kind(&other)),
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Typed access to config.json keys, each failure naming `origin: key`.
struct Cfg<'a> {
    obj: &'a Map<String, Value>,
    origin: &'a str,
    /// Prepended to key names in errors, for nested objects (`quantization_config.`).
    prefix: &'static str,
}

impl Cfg<'_> {
    fn err(&self, key: &str, message: impl Into<String>) -> Error {
        Error::invalid(format!("{}: {}{key}", self.origin, self.prefix), message)
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    fn opt_u(&self, key: &str) -> Result<Option<u64>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        // Some configs write integral floats (4096.0); accept them, refuse anything fractional.
        let n = match v {
            Value::Number(n) => n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= MAX_DIM as f64)
                    .map(|f| f as u64)
            }),
            _ => None,
        }
        .ok_or_else(|| {
            self.err(
                key,
                format!("must be a non-negative integer, got {}", short(v)),
            )
        })?;
        if n > MAX_DIM {
            return Err(self.err(key, format!("{n} is implausibly large (limit {MAX_DIM})")));
        }
        Ok(Some(n))
    }

    /// The first of `keys` present (aliases across families), required and positive.
    fn pos(&self, keys: &[&str]) -> Result<u64> {
        for key in keys {
            if let Some(n) = self.opt_u(key)? {
                if n == 0 {
                    return Err(self.err(key, "must be at least 1"));
                }
                return Ok(n);
            }
        }
        Err(self.err(keys.first().copied().unwrap_or("?"), "is required"))
    }

    fn pos_or(&self, key: &str, default: u64) -> Result<u64> {
        match self.opt_u(key)? {
            Some(0) => Err(self.err(key, "must be at least 1")),
            Some(n) => Ok(n),
            None => Ok(default),
        }
    }

    fn u_or(&self, key: &str, default: u64) -> Result<u64> {
        Ok(self.opt_u(key)?.unwrap_or(default))
    }

    fn b_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(self.err(key, format!("must be true or false, got {}", short(v)))),
        }
    }

    fn str_opt(&self, key: &str) -> Result<Option<&str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.err(key, format!("must be a string, got {}", short(v)))),
        }
    }

    fn u_list(&self, key: &str) -> Result<Vec<u64>> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_u64().ok_or_else(|| {
                        self.err(key, format!("must list integers, found {}", short(v)))
                    })
                })
                .collect(),
            Some(v) => Err(self.err(key, format!("must be a list, got {}", short(v)))),
        }
    }

    /// `layer_types` (transformers ≥ 4.53): how many layers are `sliding_attention`.
    fn sliding_layers(&self, layers: u64) -> Result<Option<u64>> {
        match self.get("layer_types") {
            None => Ok(None),
            Some(Value::Array(items)) => {
                if items.len() as u64 != layers {
                    return Err(self.err(
                        "layer_types",
                        format!(
                            "lists {} layers but num_hidden_layers is {layers}",
                            items.len()
                        ),
                    ));
                }
                let mut n = 0;
                for item in items {
                    match item.as_str() {
                        Some("sliding_attention") => n += 1,
                        Some(_) => {}
                        None => {
                            return Err(self.err(
                                "layer_types",
                                format!("must list strings, found {}", short(item)),
                            ))
                        }
                    }
                }
                Ok(Some(n))
            }
            Some(v) => Err(self.err("layer_types", format!("must be a list, got {}", short(v)))),
        }
    }
}

fn short(v: &Value) -> String {
    let text = v.to_string();
    if text.len() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

/// Accumulates linear groups and the other parameters of one model, in u128 so nothing can overflow before the
/// final check.
#[derive(Default)]
struct Build {
    groups: Vec<LinearGroup>,
    embedding: u128,
    other: u128,
}

impl Build {
    fn linear(&mut self, name: &str, inp: u64, out: u64, count: u64, bias: bool, role: LinearRole) {
        if count == 0 {
            return;
        }
        self.groups.push(LinearGroup {
            name: name.to_owned(),
            in_features: inp,
            out_features: out,
            count,
            bias,
            role,
        });
    }

    fn other(&mut self, n: u128) {
        self.other += n;
    }

    fn finish(self, origin: &str) -> Result<(Vec<LinearGroup>, ParameterCounts)> {
        let mut linear = 0u128;
        let mut lm_head = 0u128;
        for g in &self.groups {
            let per = u128::from(g.in_features) * u128::from(g.out_features)
                + if g.bias {
                    u128::from(g.out_features)
                } else {
                    0
                };
            let n = u128::from(g.count) * per;
            if g.role == LinearRole::LmHead {
                lm_head += n;
            } else {
                linear += n;
            }
        }
        let total = self.embedding + lm_head + linear + self.other;
        let too_big = || {
            Error::invalid(
                origin.to_owned(),
                format!("these sizes give {total} parameters, more than a 64-bit count holds"),
            )
        };
        let fit = |n: u128| u64::try_from(n).map_err(|_| too_big());
        Ok((
            self.groups,
            ParameterCounts {
                total: fit(total)?,
                embedding: fit(self.embedding)?,
                lm_head: fit(lm_head)?,
                linear: fit(linear)?,
                other: fit(self.other)?,
            },
        ))
    }
}

fn w(a: u64) -> u128 {
    u128::from(a)
}

/// The shared skeleton of decoder-only models.
struct Decoder {
    h: u64,
    layers: u64,
    vocab: u64,
    heads: u64,
    kv_heads: u64,
    head_dim: u64,
    tie: bool,
}

fn decoder(c: &Cfg, tie_default: bool) -> Result<Decoder> {
    let h = c.pos(&["hidden_size", "n_embd", "n_embed", "d_model"])?;
    let layers = c.pos(&["num_hidden_layers", "n_layer", "num_layers"])?;
    let vocab = c.pos(&["vocab_size"])?;
    let heads = c.pos(&["num_attention_heads", "n_head", "num_heads"])?;
    let kv_heads = c.pos_or("num_key_value_heads", heads)?;
    if heads % kv_heads != 0 {
        return Err(c.err(
            "num_key_value_heads",
            format!("{kv_heads} does not divide num_attention_heads ({heads})"),
        ));
    }
    let head_dim = match c.opt_u("head_dim")? {
        Some(0) => return Err(c.err("head_dim", "must be at least 1")),
        Some(d) => d,
        None => {
            if h % heads != 0 {
                return Err(c.err(
                    "num_attention_heads",
                    format!("{heads} does not divide hidden_size ({h}) and head_dim is not given"),
                ));
            }
            h / heads
        }
    };
    Ok(Decoder {
        h,
        layers,
        vocab,
        heads,
        kv_heads,
        head_dim,
        tie: c.b_or("tie_word_embeddings", tie_default)?,
    })
}

fn embeddings(b: &mut Build, d: &Decoder, lm_head_bias: bool) {
    b.embedding += w(d.vocab) * w(d.h);
    if !d.tie {
        b.linear("lm_head", d.h, d.vocab, 1, lm_head_bias, LinearRole::LmHead);
    }
}

fn qkvo(b: &mut Build, d: &Decoder, count: u64, qkv_bias: bool, o_bias: bool) {
    let q = d.heads * d.head_dim;
    let kv = d.kv_heads * d.head_dim;
    b.linear("q_proj", d.h, q, count, qkv_bias, LinearRole::Attention);
    b.linear("k_proj", d.h, kv, count, qkv_bias, LinearRole::Attention);
    b.linear("v_proj", d.h, kv, count, qkv_bias, LinearRole::Attention);
    b.linear("o_proj", q, d.h, count, o_bias, LinearRole::Attention);
}

fn gated_mlp(b: &mut Build, h: u64, inter: u64, count: u64, bias: bool, role: LinearRole) {
    b.linear("gate_proj", h, inter, count, bias, role);
    b.linear("up_proj", h, inter, count, bias, role);
    b.linear("down_proj", inter, h, count, bias, role);
}

fn experts(b: &mut Build, h: u64, inter: u64, experts: u64, layers: u64) {
    let count = experts * layers;
    b.linear(
        "gate_up_proj",
        h,
        2 * inter,
        count,
        false,
        LinearRole::Expert,
    );
    b.linear("down_proj", inter, h, count, false, LinearRole::Expert);
}

fn attention(d: &Decoder, sliding: Option<SlidingWindow>, mla: Option<Mla>) -> Attention {
    Attention {
        num_heads: d.heads,
        num_kv_heads: d.kv_heads,
        head_dim: d.head_dim,
        sliding_window: sliding,
        mla,
    }
}

fn window(c: &Cfg, layers: u64, default_layers: u64) -> Result<Option<SlidingWindow>> {
    let Some(window) = c.opt_u("sliding_window")? else {
        return Ok(None);
    };
    let n = c.sliding_layers(layers)?.unwrap_or(default_layers);
    Ok((n > 0 && window > 0).then_some(SlidingWindow { window, layers: n }))
}

/// A router picks `num_experts_per_tok` of the experts: more than there are is a config no model can run
/// (transformers' `torch.topk` would fail at the first forward pass), so it is refused here, naming the key.
fn top_k_within(c: &Cfg, k: u64, experts: u64, experts_key: &str) -> Result<()> {
    if experts > 0 && k > experts {
        return Err(c.err(
            "num_experts_per_tok",
            format!(
                "{k} active experts per token is more than the {experts} experts ({experts_key})"
            ),
        ));
    }
    Ok(())
}

fn dtype_of(c: &Cfg, notes: &mut Vec<String>) -> Result<DType> {
    let name = match c.str_opt("torch_dtype")? {
        Some(s) => Some(s),
        None => c.str_opt("dtype")?,
    };
    Ok(match name {
        Some("bfloat16") => DType::Bf16,
        Some("float16") | Some("half") => DType::F16,
        Some("float32") | Some("float") => DType::F32,
        Some("float8_e4m3fn") => DType::F8E4m3,
        Some("float8_e5m2") => DType::F8E5m2,
        Some(other) => {
            notes.push(format!(
                "config.json dtype {other:?} is not one Headroom sizes; assumed float32"
            ));
            DType::F32
        }
        None => {
            notes.push(
                "config.json names no dtype; assumed float32, what transformers loads without one"
                    .into(),
            );
            DType::F32
        }
    })
}

/// The pre-quantized format a `quantization_config` declares (transformers `utils/quantization_config.py`).
fn quantization(c: &Cfg, notes: &mut Vec<String>) -> Result<Option<(DType, Packing)>> {
    let Some(q) = c.get("quantization_config") else {
        return Ok(None);
    };
    let Value::Object(q) = q else {
        return Err(c.err("quantization_config", "must be an object"));
    };
    let qc = Cfg {
        obj: q,
        origin: c.origin,
        prefix: "quantization_config.",
    };
    let method = qc.str_opt("quant_method")?.unwrap_or("bitsandbytes");
    let result = match method {
        "bitsandbytes" => {
            if qc.b_or("load_in_4bit", false)? {
                Some((DType::Packed4, Packing::None))
            } else if qc.b_or("load_in_8bit", false)? {
                Some((DType::I8, Packing::None))
            } else {
                None
            }
        }
        "gptq" | "awq" => {
            let bits = qc.pos_or("bits", 4)?;
            if !matches!(bits, 2 | 3 | 4 | 8) {
                return Err(qc.err("bits", format!("{bits} is not 2, 3, 4 or 8")));
            }
            let dtype = if bits <= 4 { DType::Packed4 } else { DType::I8 };
            Some((dtype, Packing::QWeight { bits }))
        }
        "fp8" | "fbgemm_fp8" => Some((DType::F8E4m3, Packing::None)),
        _ => None,
    };
    notes.push(match result {
        Some(_) => format!(
            "pre-quantized checkpoint (quant_method {method}): parameters are counted unpacked, the stored dtype is the quantized one"
        ),
        None => format!(
            "quantization_config with quant_method {method:?} is not one Headroom unpacks; stored tensors counted as they are"
        ),
    });
    Ok(result)
}

/// Read what config.json says: model type, dtype, quantization, and the architecture when the type is known.
pub fn analyze(obj: &Map<String, Value>, origin: &str) -> Result<ConfigFacts> {
    let c = Cfg {
        obj,
        origin,
        prefix: "",
    };
    let model_type = c
        .str_opt("model_type")?
        .ok_or_else(|| c.err("model_type", "is required"))?
        .to_owned();
    let mut notes = Vec::new();
    let mut stored_dtype = dtype_of(&c, &mut notes)?;
    let mut packing = Packing::None;
    if let Some((dtype, p)) = quantization(&c, &mut notes)? {
        stored_dtype = dtype;
        packing = p;
    }
    let built = build(&c, &model_type, &mut notes)?;
    let (architecture, parameters, tie) = match built {
        Some((arch, counts)) => {
            let tie = arch.tie_word_embeddings;
            (Some(arch), Some(counts), tie)
        }
        None => {
            notes.push(format!(
                "model_type {model_type:?} is not one Headroom knows ({}); parameter counts come from the safetensors headers only",
                KNOWN_MODEL_TYPES.join(", ")
            ));
            (None, None, c.b_or("tie_word_embeddings", false)?)
        }
    };
    Ok(ConfigFacts {
        model_type,
        architecture,
        parameters,
        stored_dtype,
        packing,
        tie_word_embeddings: tie,
        notes,
    })
}

fn build(
    c: &Cfg,
    model_type: &str,
    notes: &mut Vec<String>,
) -> Result<Option<(Architecture, ParameterCounts)>> {
    Ok(Some(match model_type {
        "llama" | "mistral" | "qwen2" | "qwen3" | "gemma" | "gemma2" => {
            softcapping_note(c, notes)?;
            llama_like(c, model_type)?
        }
        "phi3" => phi3(c)?,
        "mixtral" => mixtral(c)?,
        "qwen2_moe" | "qwen3_moe" => qwen_moe(c, model_type)?,
        "deepseek_v2" | "deepseek_v3" => deepseek(c, notes)?,
        "qwen" => qwen_v1(c)?,
        "phi" => phi(c)?,
        "gpt_neox" | "falcon" | "bloom" | "gpt_bigcode" => fused_qkv(c, model_type)?,
        "bert" => bert(c, notes)?,
        "t5" | "mt5" => t5(c, model_type, notes)?,
        _ => return Ok(None),
    }))
}

/// Gemma2's tanh soft-capping (`attn_logit_softcapping`, `final_logit_softcapping`, `modeling_gemma2.py`):
/// no parameters, but eager attention materialises the capped scores and the logits pass through an extra
/// element-wise op, which the estimator may want to know.
fn softcapping_note(c: &Cfg, notes: &mut Vec<String>) -> Result<()> {
    for key in ["attn_logit_softcapping", "final_logit_softcapping"] {
        match c.get(key) {
            None => {}
            Some(Value::Number(n)) => notes.push(format!("{key} = {n}: tanh soft-capping")),
            Some(v) => return Err(c.err(key, format!("must be a number, got {}", short(v)))),
        }
    }
    Ok(())
}

fn arch(
    d: &Decoder,
    attention: Attention,
    intermediate_size: u64,
    gated_mlp: bool,
    moe: Option<Moe>,
    linear_layers: Vec<LinearGroup>,
) -> Architecture {
    Architecture {
        hidden_size: d.h,
        num_layers: d.layers,
        vocab_size: d.vocab,
        tie_word_embeddings: d.tie,
        attention,
        intermediate_size,
        gated_mlp,
        moe,
        linear_layers,
    }
}

/// Llama, Mistral, Qwen2, Qwen3, Gemma, Gemma2 (`modeling_llama.py` and the files that copy it): q/k/v/o,
/// gate/up/down, RMSNorm before attention and MLP (Gemma2 also after: 4 per layer), Qwen3 adds per-head q/k
/// RMSNorm. Biases: Llama `attention_bias` on q/k/v/o and `mlp_bias`; Qwen2 q/k/v only; Qwen3 and Gemma
/// `attention_bias`. Class defaults for `tie_word_embeddings`: Gemma/Gemma2 true, the rest false.
fn llama_like(c: &Cfg, t: &str) -> Result<(Architecture, ParameterCounts)> {
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
fn phi3(c: &Cfg) -> Result<(Architecture, ParameterCounts)> {
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

/// Mixtral (`modeling_mixtral.py`): every layer is MoE; router `gate` (h → E), `num_local_experts` experts of
/// `intermediate_size`, no dense MLP.
fn mixtral(c: &Cfg) -> Result<(Architecture, ParameterCounts)> {
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
fn qwen_moe(c: &Cfg, t: &str) -> Result<(Architecture, ParameterCounts)> {
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
fn deepseek(c: &Cfg, notes: &mut Vec<String>) -> Result<(Architecture, ParameterCounts)> {
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
        notes.push(format!(
            "group-limited routing: experts in {groups} groups, each token routed within {top} of them (no parameters)"
        ));
    }
    if c.u_or("num_nextn_predict_layers", 0)? > 0 {
        notes.push(
            "num_nextn_predict_layers: the multi-token-prediction layers are not built by transformers and not counted"
                .into(),
        );
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
fn group_routing(c: &Cfg, experts: u64, k: u64) -> Result<Option<(u64, u64)>> {
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

/// Qwen (v1, `model_type` "qwen", remote code `modeling_qwen.py`): fused `c_attn` (h → 3h, with bias), `c_proj`,
/// SwiGLU `w1`/`w2` each of `intermediate_size / 2` (the config gives the sum) and `mlp.c_proj`; RMSNorm
/// `ln_1`, `ln_2`, `ln_f`; untied. Same count as a Qwen2 of half that intermediate size.
fn qwen_v1(c: &Cfg) -> Result<(Architecture, ParameterCounts)> {
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
fn phi(c: &Cfg) -> Result<(Architecture, ParameterCounts)> {
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
fn fused_qkv(c: &Cfg, t: &str) -> Result<(Architecture, ParameterCounts)> {
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

/// BERT as `BertForSequenceClassification` builds it (`modeling_bert.py`): word, position and token-type
/// embeddings with a LayerNorm; per layer `query`/`key`/`value`/attention `dense`, `intermediate.dense`,
/// `output.dense` (all with bias) and two LayerNorms; the pooler `dense` and a `classifier` of `num_labels`
/// (from `id2label`, default 2), counted as the output head.
fn bert(c: &Cfg, notes: &mut Vec<String>) -> Result<(Architecture, ParameterCounts)> {
    let mut d = decoder(c, true)?;
    d.tie = true;
    let h = d.h;
    let inter = c.pos(&["intermediate_size"])?;
    let positions = c.pos_or("max_position_embeddings", 512)?;
    let types = c.pos_or("type_vocab_size", 2)?;
    let labels = match c.get("id2label") {
        Some(Value::Object(m)) if !m.is_empty() => m.len() as u64,
        _ => c.pos_or("num_labels", 2)?,
    };
    let mut b = Build::default();
    b.embedding += w(d.vocab) * w(h);
    b.other(w(positions) * w(h) + w(types) * w(h) + 2 * w(h));
    for name in ["query", "key", "value", "dense"] {
        b.linear(name, h, h, d.layers, true, LinearRole::Attention);
    }
    b.linear("dense", h, inter, d.layers, true, LinearRole::Mlp);
    b.linear("dense", inter, h, d.layers, true, LinearRole::Mlp);
    b.other(w(d.layers) * 4 * w(h));
    b.linear("dense", h, h, 1, true, LinearRole::Mlp);
    b.linear("classifier", h, labels, 1, true, LinearRole::LmHead);
    notes.push(format!(
        "BERT counted as BertForSequenceClassification with {labels} labels (pooler and classifier included)"
    ));
    let (groups, counts) = b.finish(c.origin)?;
    Ok((
        arch(&d, attention(&d, None, None), inter, false, None, groups),
        counts,
    ))
}

/// T5 and mT5 (`modeling_t5.py`, `modeling_mt5.py`): shared embedding; encoder blocks with self-attention
/// `q`/`k`/`v`/`o` (d_model → heads·d_kv, no biases) and a feed-forward (`wi` + `wo`, or `wi_0`/`wi_1` + `wo`
/// when `feed_forward_proj` is gated); decoder blocks add cross-attention; the first block of each stack holds
/// the relative position bias (buckets × heads); RMS-style LayerNorms without bias. `num_layers` in the
/// architecture counts encoder and decoder blocks together.
fn t5(c: &Cfg, t: &str, notes: &mut Vec<String>) -> Result<(Architecture, ParameterCounts)> {
    let dm = c.pos(&["d_model"])?;
    let enc = c.pos(&["num_layers"])?;
    let dec = c.pos_or("num_decoder_layers", enc)?;
    let heads = c.pos(&["num_heads"])?;
    let dkv = c.pos(&["d_kv"])?;
    let dff = c.pos(&["d_ff"])?;
    let vocab = c.pos(&["vocab_size"])?;
    let buckets = c.pos_or("relative_attention_num_buckets", 32)?;
    let gated = c
        .str_opt("feed_forward_proj")?
        .is_some_and(|s| s.starts_with("gated-"));
    let d = Decoder {
        h: dm,
        layers: enc + dec,
        vocab,
        heads,
        kv_heads: heads,
        head_dim: dkv,
        tie: c.b_or("tie_word_embeddings", t == "t5")?,
    };
    let inner = heads * dkv;
    let attn_blocks = enc + 2 * dec;
    let mut b = Build::default();
    embeddings(&mut b, &d, false);
    for name in ["q", "k", "v"] {
        b.linear(name, dm, inner, attn_blocks, false, LinearRole::Attention);
    }
    b.linear("o", inner, dm, attn_blocks, false, LinearRole::Attention);
    let ff = enc + dec;
    if gated {
        b.linear("wi_0", dm, dff, ff, false, LinearRole::Mlp);
        b.linear("wi_1", dm, dff, ff, false, LinearRole::Mlp);
    } else {
        b.linear("wi", dm, dff, ff, false, LinearRole::Mlp);
    }
    b.linear("wo", dff, dm, ff, false, LinearRole::Mlp);
    b.other(2 * w(buckets) * w(heads));
    b.other((w(enc) * 2 + w(dec) * 3 + 2) * w(dm));
    notes.push(
        "encoder-decoder model: num_layers counts encoder and decoder blocks together".into(),
    );
    let (groups, counts) = b.finish(c.origin)?;
    Ok((
        arch(&d, attention(&d, None, None), dff, gated, None, groups),
        counts,
    ))
}
