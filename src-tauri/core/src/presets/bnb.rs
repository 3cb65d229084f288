//! transformers' `BitsAndBytesConfig`: its fields, its `to_dict()` output, and reading such a dict back.
//!
//! Source: transformers `src/transformers/utils/quantization_config.py` (`BitsAndBytesConfig.__init__`,
//! `post_init`, `to_dict`), summarised in docs/estimator.md §14; the reference dumps made with
//! transformers 5.24 are in `tests/fixtures/bnb/`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::field::{join_path, FieldError, FieldErrors};
use super::pyjson::{self, PyValue};
use crate::message::{Key, Message};

/// `bnb_4bit_compute_dtype`: the dtype 4-bit matmuls compute in. transformers accepts any `torch.dtype`
/// (`getattr(torch, s)`); bitsandbytes' 4-bit kernels compute in these three floating types, so only they are
/// offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum ComputeDtype {
    /// transformers' default when the argument is `None`.
    #[default]
    Float32,
    Float16,
    Bfloat16,
}

impl ComputeDtype {
    pub fn as_str(self) -> &'static str {
        match self {
            ComputeDtype::Float32 => "float32",
            ComputeDtype::Float16 => "float16",
            ComputeDtype::Bfloat16 => "bfloat16",
        }
    }

    /// `getattr(torch, s)`, aliases included (`torch.half` is `torch.float16`, `torch.float` is
    /// `torch.float32`), so `to_dict()` would print the canonical name.
    fn from_torch_name(s: &str) -> Option<Self> {
        match s {
            "float32" | "float" => Some(ComputeDtype::Float32),
            "float16" | "half" => Some(ComputeDtype::Float16),
            "bfloat16" => Some(ComputeDtype::Bfloat16),
            _ => None,
        }
    }
}

/// `bnb_4bit_quant_type`: transformers only checks it is a string; bitsandbytes (`functional.quantize_4bit`)
/// accepts exactly these two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum QuantType {
    /// transformers' default.
    #[default]
    Fp4,
    Nf4,
}

impl QuantType {
    pub fn as_str(self) -> &'static str {
        match self {
            QuantType::Fp4 => "fp4",
            QuantType::Nf4 => "nf4",
        }
    }
}

/// `bnb_4bit_quant_storage`: the dtype packed 4-bit weights are stored in. transformers accepts exactly these
/// strings (a `ValueError` otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum QuantStorage {
    Float16,
    Float32,
    Int8,
    /// transformers' default when the argument is `None`.
    #[default]
    Uint8,
    Float64,
    Bfloat16,
}

impl QuantStorage {
    pub const ALL: [QuantStorage; 6] = [
        QuantStorage::Float16,
        QuantStorage::Float32,
        QuantStorage::Int8,
        QuantStorage::Uint8,
        QuantStorage::Float64,
        QuantStorage::Bfloat16,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            QuantStorage::Float16 => "float16",
            QuantStorage::Float32 => "float32",
            QuantStorage::Int8 => "int8",
            QuantStorage::Uint8 => "uint8",
            QuantStorage::Float64 => "float64",
            QuantStorage::Bfloat16 => "bfloat16",
        }
    }
}

/// Every `BitsAndBytesConfig` argument, with transformers' names and defaults. A missing key takes the
/// default, as the Python constructor does. Whether the combination is allowed is [`super::validate`]'s job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields, default)]
pub struct BnbConfig {
    pub load_in_8bit: bool,
    pub load_in_4bit: bool,
    /// Outlier threshold of LLM.int8(); always a float (transformers raises `TypeError` for an int).
    pub llm_int8_threshold: f64,
    pub llm_int8_skip_modules: Option<Vec<String>>,
    pub llm_int8_enable_fp32_cpu_offload: bool,
    pub llm_int8_has_fp16_weight: bool,
    pub bnb_4bit_compute_dtype: ComputeDtype,
    pub bnb_4bit_quant_type: QuantType,
    pub bnb_4bit_use_double_quant: bool,
    pub bnb_4bit_quant_storage: QuantStorage,
}

/// transformers' `llm_int8_threshold` default.
pub const DEFAULT_THRESHOLD: f64 = 6.0;

impl Default for BnbConfig {
    /// `BitsAndBytesConfig()` with no arguments.
    fn default() -> Self {
        BnbConfig {
            load_in_8bit: false,
            load_in_4bit: false,
            llm_int8_threshold: DEFAULT_THRESHOLD,
            llm_int8_skip_modules: None,
            llm_int8_enable_fp32_cpu_offload: false,
            llm_int8_has_fp16_weight: false,
            bnb_4bit_compute_dtype: ComputeDtype::default(),
            bnb_4bit_quant_type: QuantType::default(),
            bnb_4bit_use_double_quant: false,
            bnb_4bit_quant_storage: QuantStorage::default(),
        }
    }
}

impl BnbConfig {
    /// `BitsAndBytesConfig(...).to_dict()`: `__dict__` in assignment order (`quant_method`, `_load_in_8bit`,
    /// `_load_in_4bit`, the fields as `__init__` assigns them, dtypes as strings), then the `load_in_4bit` and
    /// `load_in_8bit` properties appended.
    pub fn to_dict(&self) -> PyValue {
        let skip = match &self.llm_int8_skip_modules {
            None => PyValue::Null,
            Some(list) => PyValue::List(list.iter().cloned().map(PyValue::Str).collect()),
        };
        PyValue::Dict(vec![
            ("quant_method".into(), PyValue::Str("bitsandbytes".into())),
            ("_load_in_8bit".into(), PyValue::Bool(self.load_in_8bit)),
            ("_load_in_4bit".into(), PyValue::Bool(self.load_in_4bit)),
            (
                "llm_int8_threshold".into(),
                PyValue::Float(self.llm_int8_threshold),
            ),
            ("llm_int8_skip_modules".into(), skip),
            (
                "llm_int8_enable_fp32_cpu_offload".into(),
                PyValue::Bool(self.llm_int8_enable_fp32_cpu_offload),
            ),
            (
                "llm_int8_has_fp16_weight".into(),
                PyValue::Bool(self.llm_int8_has_fp16_weight),
            ),
            (
                "bnb_4bit_quant_type".into(),
                PyValue::Str(self.bnb_4bit_quant_type.as_str().into()),
            ),
            (
                "bnb_4bit_use_double_quant".into(),
                PyValue::Bool(self.bnb_4bit_use_double_quant),
            ),
            (
                "bnb_4bit_compute_dtype".into(),
                PyValue::Str(self.bnb_4bit_compute_dtype.as_str().into()),
            ),
            (
                "bnb_4bit_quant_storage".into(),
                PyValue::Str(self.bnb_4bit_quant_storage.as_str().into()),
            ),
            ("load_in_4bit".into(), PyValue::Bool(self.load_in_4bit)),
            ("load_in_8bit".into(), PyValue::Bool(self.load_in_8bit)),
        ])
    }

    /// `json.dumps(BitsAndBytesConfig(...).to_dict(), indent=2)`, byte for byte (no trailing newline).
    pub fn to_dict_json(&self) -> String {
        pyjson::dumps(&self.to_dict())
    }

    /// The same dict as a serde value, for embedding in other JSON documents.
    pub fn to_dict_value(&self) -> Value {
        py_to_value(&self.to_dict())
    }

    /// The keyword arguments that differ from `BitsAndBytesConfig()`, in `__init__` order, for a Python
    /// snippet (what `to_diff_dict` would keep, spelled as constructor arguments).
    pub fn non_default_kwargs(&self) -> Vec<(&'static str, PyArg)> {
        let d = BnbConfig::default();
        let mut out = Vec::new();
        if self.load_in_8bit != d.load_in_8bit {
            out.push(("load_in_8bit", PyArg::Bool(self.load_in_8bit)));
        }
        if self.load_in_4bit != d.load_in_4bit {
            out.push(("load_in_4bit", PyArg::Bool(self.load_in_4bit)));
        }
        if self.llm_int8_threshold != d.llm_int8_threshold {
            out.push(("llm_int8_threshold", PyArg::Float(self.llm_int8_threshold)));
        }
        if let Some(list) = &self.llm_int8_skip_modules {
            out.push(("llm_int8_skip_modules", PyArg::StrList(list.clone())));
        }
        if self.llm_int8_enable_fp32_cpu_offload {
            out.push(("llm_int8_enable_fp32_cpu_offload", PyArg::Bool(true)));
        }
        if self.llm_int8_has_fp16_weight {
            out.push(("llm_int8_has_fp16_weight", PyArg::Bool(true)));
        }
        if self.bnb_4bit_compute_dtype != d.bnb_4bit_compute_dtype {
            out.push((
                "bnb_4bit_compute_dtype",
                PyArg::TorchDtype(self.bnb_4bit_compute_dtype.as_str()),
            ));
        }
        if self.bnb_4bit_quant_type != d.bnb_4bit_quant_type {
            out.push((
                "bnb_4bit_quant_type",
                PyArg::Str(self.bnb_4bit_quant_type.as_str().into()),
            ));
        }
        if self.bnb_4bit_use_double_quant {
            out.push(("bnb_4bit_use_double_quant", PyArg::Bool(true)));
        }
        if self.bnb_4bit_quant_storage != d.bnb_4bit_quant_storage {
            out.push((
                "bnb_4bit_quant_storage",
                PyArg::TorchDtype(self.bnb_4bit_quant_storage.as_str()),
            ));
        }
        out
    }
}

/// A constructor argument in a generated Python snippet.
#[derive(Debug, Clone, PartialEq)]
pub enum PyArg {
    Bool(bool),
    Float(f64),
    Str(String),
    StrList(Vec<String>),
    /// `torch.<name>`
    TorchDtype(&'static str),
}

impl PyArg {
    pub fn to_python(&self) -> String {
        match self {
            PyArg::Bool(true) => "True".into(),
            PyArg::Bool(false) => "False".into(),
            PyArg::Float(f) => pyjson::float_repr(*f),
            PyArg::Str(s) => {
                let mut out = String::new();
                pyjson::write_str(&mut out, s);
                out
            }
            PyArg::StrList(items) => {
                let parts: Vec<String> = items
                    .iter()
                    .map(|s| PyArg::Str(s.clone()).to_python())
                    .collect();
                format!("[{}]", parts.join(", "))
            }
            PyArg::TorchDtype(name) => format!("torch.{name}"),
        }
    }
}

fn py_to_value(v: &PyValue) -> Value {
    match v {
        PyValue::Null => Value::Null,
        PyValue::Bool(b) => Value::Bool(*b),
        PyValue::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        PyValue::Str(s) => Value::String(s.clone()),
        PyValue::List(items) => Value::Array(items.iter().map(py_to_value).collect()),
        PyValue::Dict(items) => Value::Object(
            items
                .iter()
                .map(|(k, v)| (k.clone(), py_to_value(v)))
                .collect(),
        ),
    }
}

/// The keys `to_dict()` writes. Anything else in an imported dict is an error that names it: transformers
/// would only log it as unused, which is how a typo silently loses a setting.
const KNOWN_KEYS: [&str; 13] = [
    "quant_method",
    "_load_in_8bit",
    "_load_in_4bit",
    "load_in_8bit",
    "load_in_4bit",
    "llm_int8_threshold",
    "llm_int8_skip_modules",
    "llm_int8_enable_fp32_cpu_offload",
    "llm_int8_has_fp16_weight",
    "bnb_4bit_compute_dtype",
    "bnb_4bit_quant_type",
    "bnb_4bit_use_double_quant",
    "bnb_4bit_quant_storage",
];

/// Read a dict as `BitsAndBytesConfig.from_dict(d)` would, with its type checks (`post_init`), reporting every
/// problem with the key it belongs to (prefixed with `prefix`).
///
/// - `load_in_4bit`/`load_in_8bit` win; the private `_load_in_*` keys are read only when those are absent
///   (transformers passes `_load_in_*` to `**kwargs` and ignores them; older files lack them, docs/estimator.md §14).
/// - `llm_int8_threshold` must be a JSON float (`6.0`); `6` is an int to Python and raises `TypeError`.
/// - `bnb_4bit_compute_dtype`/`bnb_4bit_quant_storage` may be `null` (their defaults).
/// - `bnb_4bit_quant_storage` is absent in files older than transformers 4.39: default `uint8`.
pub fn from_dict(value: &Value, prefix: &str) -> Result<BnbConfig, FieldErrors> {
    let mut errors = Vec::new();
    let field = |key: &str| join_path(prefix, key);
    let Some(map) = value.as_object() else {
        return Err(FieldErrors(vec![FieldError::keyed(
            if prefix.is_empty() { "input" } else { prefix },
            Message::new(Key::InvalidBnbMustJsonObjectWritten),
        )]));
    };
    for key in map.keys() {
        if !KNOWN_KEYS.contains(&key.as_str()) {
            errors.push(FieldError::keyed(
                field(key),
                Message::new(Key::InvalidBnbUnknownKeyNotBitsandbytesconfig),
            ));
        }
    }
    if let Some(method) = map.get("quant_method") {
        if method.as_str() != Some("bitsandbytes") {
            errors.push(FieldError::keyed(
                field("quant_method"),
                Message::new(Key::InvalidBnbNotBitsandbytesOnlyBitsandbytes)
                    .text("method", brief(method).to_string()),
            ));
        }
    }
    let mut config = BnbConfig::default();
    let flag = |key: &str, private: &str, errors: &mut Vec<FieldError>| -> bool {
        let (k, v) = match (map.get(key), map.get(private)) {
            (Some(v), _) => (key, v),
            (None, Some(v)) => (private, v),
            (None, None) => return false,
        };
        read_bool(k, v, &field, errors)
    };
    config.load_in_8bit = flag("load_in_8bit", "_load_in_8bit", &mut errors);
    config.load_in_4bit = flag("load_in_4bit", "_load_in_4bit", &mut errors);
    match map.get("llm_int8_threshold") {
        None => {}
        Some(Value::Number(n)) if n.is_f64() => {
            config.llm_int8_threshold = n.as_f64().unwrap_or(DEFAULT_THRESHOLD)
        }
        Some(Value::Number(n)) => errors.push(FieldError::keyed(
            field("llm_int8_threshold"),
            Message::new(Key::InvalidBnbMustFloatWrite0).text("n", n.to_string()),
        )),
        Some(other) => errors.push(FieldError::keyed(
            field("llm_int8_threshold"),
            Message::new(Key::InvalidBnbMustFloatSuch6).text("other", brief(other).to_string()),
        )),
    }
    match map.get("llm_int8_skip_modules") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            let mut names = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(s) => names.push(s.to_string()),
                    None => errors.push(FieldError::keyed(
                        format!("{}.{i}", field("llm_int8_skip_modules")),
                        Message::new(Key::InvalidBnbMustModuleNameString)
                            .text("item", brief(item).to_string()),
                    )),
                }
            }
            config.llm_int8_skip_modules = Some(names);
        }
        Some(other) => errors.push(FieldError::keyed(
            field("llm_int8_skip_modules"),
            Message::new(Key::InvalidBnbMustListModuleNames)
                .text("other", brief(other).to_string()),
        )),
    }
    for (key, slot) in [
        (
            "llm_int8_enable_fp32_cpu_offload",
            &mut config.llm_int8_enable_fp32_cpu_offload,
        ),
        (
            "llm_int8_has_fp16_weight",
            &mut config.llm_int8_has_fp16_weight,
        ),
        (
            "bnb_4bit_use_double_quant",
            &mut config.bnb_4bit_use_double_quant,
        ),
    ] {
        if let Some(v) = map.get(key) {
            *slot = read_bool(key, v, &field, &mut errors);
        }
    }
    match map.get("bnb_4bit_compute_dtype") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => match ComputeDtype::from_torch_name(s) {
            Some(d) => config.bnb_4bit_compute_dtype = d,
            None => errors.push(FieldError::keyed(
                field("bnb_4bit_compute_dtype"),
                Message::new(Key::InvalidBnbNotComputeDtypeUse).text("s", format!("{s:?}")),
            )),
        },
        Some(other) => errors.push(FieldError::keyed(
            field("bnb_4bit_compute_dtype"),
            Message::new(Key::InvalidBnbMustDtypeNameSuch).text("other", brief(other).to_string()),
        )),
    }
    match map.get("bnb_4bit_quant_type") {
        None => {}
        Some(Value::String(s)) if s == "nf4" => config.bnb_4bit_quant_type = QuantType::Nf4,
        Some(Value::String(s)) if s == "fp4" => config.bnb_4bit_quant_type = QuantType::Fp4,
        Some(other) => errors.push(FieldError::keyed(
            field("bnb_4bit_quant_type"),
            Message::new(Key::InvalidBnbMustNf4Fp4What).text("other", brief(other).to_string()),
        )),
    }
    match map.get("bnb_4bit_quant_storage") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => match QuantStorage::ALL.iter().find(|q| q.as_str() == s) {
            Some(q) => config.bnb_4bit_quant_storage = *q,
            None => errors.push(FieldError::keyed(
                field("bnb_4bit_quant_storage"),
                Message::new(Key::InvalidBnbNotAllowedUseOne).text("s", format!("{s:?}")),
            )),
        },
        Some(other) => errors.push(FieldError::keyed(
            field("bnb_4bit_quant_storage"),
            Message::new(Key::InvalidBnbMustDtypeNameSuch2).text("other", brief(other).to_string()),
        )),
    }
    FieldErrors(errors).into_result()?;
    Ok(config)
}

fn read_bool(
    key: &str,
    value: &Value,
    field: &dyn Fn(&str) -> String,
    errors: &mut Vec<FieldError>,
) -> bool {
    match value {
        Value::Bool(b) => *b,
        other => {
            errors.push(FieldError::keyed(
                field(key),
                Message::new(Key::InvalidBnbMustTrueFalseNot)
                    .text("other", brief(other).to_string()),
            ));
            false
        }
    }
}

/// A value as it appears in an error message: compact JSON, cut short so a stray megabyte does not become
/// the message.
fn brief(value: &Value) -> String {
    const MAX: usize = 60;
    let text = value.to_string();
    if text.chars().count() <= MAX {
        text
    } else {
        let cut: String = text.chars().take(MAX).collect();
        format!("{cut}…")
    }
}
