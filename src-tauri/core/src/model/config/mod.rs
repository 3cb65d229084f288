//! config.json → [`Architecture`] and exact [`ParameterCounts`].
//!
//! Each family mirrors the modules transformers builds for it (`models/<type>/modeling_<type>.py`, v5-era), and
//! names its linear layers as PEFT targets them (the leaf module names). Counts are `sum(p.numel())` with tied
//! weights once; buffers (rotary tables, DeepSeek-V3's `e_score_correction_bias`) are not parameters. The
//! per-layer formulas are those of docs/estimator.md §2.1 ("Model size detection"), checked to the parameter against
//! `param_count_exact` for every model of `tests/fixtures/reference/model_configs.json` and against the tiny checkpoints'
//! `param_counts.json` (tests/fixtures).
//!
//! Routed experts are grouped as transformers 5 stores them: one fused `gate_up_proj` (E, 2I, h) and one
//! `down_proj` (E, h, I) per MoE layer (docs/estimator.md §2.1, "v5 MoE caveat"), role [`LinearRole::Expert`]; the
//! group's `count` is layers × experts so that `count × in × out` is still the exact parameter count.

mod dense;
mod encoders;
mod moe;

use serde_json::{Map, Value};

use super::spec::{
    Architecture, Attention, DType, LinearGroup, LinearRole, Mla, Moe, ParameterCounts,
    SlidingWindow,
};
use super::weights::Packing;
use crate::error::json_kind;
use crate::message::{Key, Message};
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
    /// What the reading assumed, as messages ([`crate::model::ModelSpec::add_note`] gives them their English).
    pub notes: Vec<Message>,
}

/// Parse config.json bytes into a JSON object; `origin` names the file in errors.
pub fn parse_config(bytes: &[u8], origin: &str) -> Result<Map<String, Value>> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        Error::invalid_msg(
            origin.to_owned(),
            Message::new(Key::InvalidNotValidJson).text("e", e.to_string()),
        )
    })?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(Error::invalid_msg(
            origin.to_owned(),
            Message::new(Key::InvalidModelMustJsonObjectGot)
                .text("other", json_kind(&other).to_string()),
        )),
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
            Error::invalid_msg(
                origin.to_owned(),
                Message::new(Key::InvalidModelTheseSizesGiveParameters)
                    .text("total", total.to_string()),
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

fn dtype_of(c: &Cfg, notes: &mut Vec<Message>) -> Result<DType> {
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
            notes
                .push(Message::new(Key::NoteModelDtypeUnknown).text("dtype", format!("{other:?}")));
            DType::F32
        }
        None => {
            notes.push(Message::new(Key::NoteModelDtypeMissing));
            DType::F32
        }
    })
}

/// The pre-quantized format a `quantization_config` declares (transformers `utils/quantization_config.py`).
fn quantization(c: &Cfg, notes: &mut Vec<Message>) -> Result<Option<(DType, Packing)>> {
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
        Some(_) => Message::new(Key::NoteModelPrequantized).text("method", method),
        None => Message::new(Key::NoteModelQuantUnknown).text("method", format!("{method:?}")),
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
            notes.push(
                Message::new(Key::NoteModelTypeUnknown)
                    .text("model_type", format!("{model_type:?}"))
                    .text("known", KNOWN_MODEL_TYPES.join(", ")),
            );
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
    notes: &mut Vec<Message>,
) -> Result<Option<(Architecture, ParameterCounts)>> {
    Ok(Some(match model_type {
        "llama" | "mistral" | "qwen2" | "qwen3" | "gemma" | "gemma2" => {
            softcapping_note(c, notes)?;
            dense::llama_like(c, model_type)?
        }
        "phi3" => dense::phi3(c)?,
        "mixtral" => moe::mixtral(c)?,
        "qwen2_moe" | "qwen3_moe" => moe::qwen_moe(c, model_type)?,
        "deepseek_v2" | "deepseek_v3" => moe::deepseek(c, notes)?,
        "qwen" => dense::qwen_v1(c)?,
        "phi" => dense::phi(c)?,
        "gpt_neox" | "falcon" | "bloom" | "gpt_bigcode" => dense::fused_qkv(c, model_type)?,
        "bert" => encoders::bert(c, notes)?,
        "t5" | "mt5" => encoders::t5(c, model_type, notes)?,
        _ => return Ok(None),
    }))
}

/// Gemma2's tanh soft-capping (`attn_logit_softcapping`, `final_logit_softcapping`, `modeling_gemma2.py`):
/// no parameters, but eager attention materialises the capped scores and the logits pass through an extra
/// element-wise op, which the estimator may want to know.
fn softcapping_note(c: &Cfg, notes: &mut Vec<Message>) -> Result<()> {
    for key in ["attn_logit_softcapping", "final_logit_softcapping"] {
        match c.get(key) {
            None => {}
            // The value as config.json writes it (`30.0`), not rounded to a number of decimals.
            Some(Value::Number(n)) => notes.push(
                Message::new(Key::NoteModelSoftcapping)
                    .text("key", key)
                    .text("value", n.to_string()),
            ),
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
