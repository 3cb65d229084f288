//! Python's `json.dumps(obj, indent=2)` byte for byte, for the values a `BitsAndBytesConfig.to_dict()` holds
//! (booleans, `None`, floats, strings, lists of strings), so exports match what transformers writes.
//!
//! Differences from serde_json's pretty printer that matter here (CPython `Lib/json/encoder.py`):
//! - `ensure_ascii=True` by default: every non-ASCII character is written as `\uXXXX` (surrogate pairs above
//!   U+FFFF); control characters as `\n`, `\r`, `\t`, `\b`, `\f` or `\u00XX`.
//! - floats are written with `float.__repr__` (`6.0`, `1e-05`, `1e+16`), see [`float_repr`].
//! - an empty list is `[]`; item separator `,` and key separator `: ` when `indent` is set.

/// A JSON value in the order Python would print it.
#[derive(Debug, Clone, PartialEq)]
pub enum PyValue {
    Null,
    Bool(bool),
    Float(f64),
    Str(String),
    List(Vec<PyValue>),
    /// Keys in insertion order, as a Python dict keeps them.
    Dict(Vec<(String, PyValue)>),
}

/// `json.dumps(value, indent=2)`.
pub fn dumps(value: &PyValue) -> String {
    let mut out = String::new();
    write_value(&mut out, value, 0);
    out
}

fn write_value(out: &mut String, value: &PyValue, depth: usize) {
    match value {
        PyValue::Null => out.push_str("null"),
        PyValue::Bool(true) => out.push_str("true"),
        PyValue::Bool(false) => out.push_str("false"),
        PyValue::Float(f) => out.push_str(&float_repr(*f)),
        PyValue::Str(s) => write_str(out, s),
        PyValue::List(items) if items.is_empty() => out.push_str("[]"),
        PyValue::Dict(items) if items.is_empty() => out.push_str("{}"),
        PyValue::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                write_value(out, item, depth + 1);
            }
            newline(out, depth);
            out.push(']');
        }
        PyValue::Dict(items) => {
            out.push('{');
            for (i, (key, item)) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                write_str(out, key);
                out.push_str(": ");
                write_value(out, item, depth + 1);
            }
            newline(out, depth);
            out.push('}');
        }
    }
}

fn newline(out: &mut String, depth: usize) {
    out.push('\n');
    for _ in 0..depth {
        out.push_str("  ");
    }
}

/// A string literal as `json.dumps` writes it with `ensure_ascii=True`. Also a valid Python string literal.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Python's `repr(float)`: the shortest digits that round-trip (Rust's `{:e}` finds the same ones), written
/// in positional form when the decimal exponent is in `-4 ..= 16` and in exponent form otherwise, exponent
/// signed and at least two digits (CPython `Python/pystrtod.c::format_float_short`, mode `'r'`).
pub fn float_repr(value: f64) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0.0"
        } else {
            "0.0"
        }
        .into();
    }
    let sci = format!("{:e}", value.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    // Python's `decpt`: the value is 0.DIGITS × 10^decpt.
    let decpt = exponent + 1;
    let sign = if value < 0.0 { "-" } else { "" };
    if decpt <= -4 || decpt > 16 {
        let (first, rest) = digits.split_at(1);
        let mantissa = if rest.is_empty() {
            first.to_string()
        } else {
            format!("{first}.{rest}")
        };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exp_sign}{:02}", exponent.abs())
    } else if decpt <= 0 {
        format!(
            "{sign}0.{}{digits}",
            "0".repeat(decpt.unsigned_abs() as usize)
        )
    } else {
        let decpt = decpt as usize;
        if digits.len() <= decpt {
            format!("{sign}{digits}{}.0", "0".repeat(decpt - digits.len()))
        } else {
            let (int, frac) = digits.split_at(decpt);
            format!("{sign}{int}.{frac}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_match_python_repr() {
        for (value, python) in [
            (6.0, "6.0"),
            (0.5, "0.5"),
            (-3.25, "-3.25"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e20, "1.5e+20"),
            (123.456, "123.456"),
            (0.1, "0.1"),
            (1e-300, "1e-300"),
            (0.0, "0.0"),
        ] {
            assert_eq!(float_repr(value), python, "{value}");
        }
    }

    #[test]
    fn strings_are_ascii_escaped() {
        let mut out = String::new();
        write_str(&mut out, "a\"b\\c\né😀\u{1}");
        assert_eq!(out, r#""a\"b\\c\n\u00e9\ud83d\ude00\u0001""#);
    }

    #[test]
    fn layout_matches_indent_2() {
        let v = PyValue::Dict(vec![
            ("a".into(), PyValue::List(vec![PyValue::Str("x".into())])),
            ("b".into(), PyValue::List(vec![])),
            ("c".into(), PyValue::Null),
        ]);
        assert_eq!(
            dumps(&v),
            "{\n  \"a\": [\n    \"x\"\n  ],\n  \"b\": [],\n  \"c\": null\n}"
        );
    }
}
