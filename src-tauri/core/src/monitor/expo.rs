//! The Prometheus text exposition format (version 0.0.4, prometheus.io/docs/instrumenting/exposition_formats):
//! parsing what an exporter serves (DCGM-exporter's `/metrics`, another Headroom's) and escaping label values for
//! the one Headroom serves. Only samples are kept: `# HELP` and `# TYPE` lines say nothing a reader needs here.

use crate::{Error, Result};

/// One sample line: `name{label="value",...} value [timestamp]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a whole exposition. A malformed line is an error naming its line number: a half-read page would show a
/// host with GPUs missing rather than say it could not be read.
pub fn parse(text: &str) -> Result<Vec<Sample>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(parse_line(line).map_err(|why| {
            Error::invalid(
                "metrics",
                format!("line {}: {why}: `{}`", n + 1, clip(line)),
            )
        })?);
    }
    Ok(out)
}

fn clip(line: &str) -> &str {
    match line.char_indices().nth(120) {
        Some((i, _)) => &line[..i],
        None => line,
    }
}

fn parse_line(line: &str) -> std::result::Result<Sample, &'static str> {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err("no metric name");
    }
    let mut rest = line[name_end..].trim_start();
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = parse_labels(after, &mut labels)?;
    }
    let mut fields = rest.split_ascii_whitespace();
    let value = parse_value(fields.next().ok_or("no value")?).ok_or("the value is not a number")?;
    // An optional timestamp in ms; nothing after it.
    if let Some(ts) = fields.next() {
        ts.parse::<i64>()
            .map_err(|_| "the timestamp is not an integer")?;
    }
    if fields.next().is_some() {
        return Err("text after the timestamp");
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Reads `name="value", ...}` and returns what follows the closing brace.
fn parse_labels<'a>(
    mut rest: &'a str,
    labels: &mut Vec<(String, String)>,
) -> std::result::Result<&'a str, &'static str> {
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('}') {
            return Ok(after);
        }
        let eq = rest.find('=').ok_or("a label without `=`")?;
        let key = rest[..eq].trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err("a bad label name");
        }
        rest = rest[eq + 1..]
            .trim_start()
            .strip_prefix('"')
            .ok_or("a label value without quotes")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next().ok_or("an unclosed label value")? {
                (i, '"') => break i,
                (_, '\\') => match chars.next().ok_or("an unclosed label value")?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (_, c) => value.push(c),
            }
        };
        labels.push((key.to_string(), value));
        rest = rest[end + 1..].trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with('}') {
            return Err("labels not separated by commas");
        }
    }
}

/// Go's float formatting as Prometheus writes it: decimals, exponents, `NaN`, `+Inf`, `-Inf`.
pub fn parse_value(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok(),
    }
}

/// A label value with `\`, `"` and newlines escaped, as the format requires.
pub fn escape_label(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_with_labels_escapes_spaces_and_timestamps() {
        let text = "# HELP x help\n# TYPE x gauge\n\
            x 1\n\
            DCGM_FI_DEV_FB_USED{gpu=\"0\", UUID=\"GPU-1\",pod=\"\"} 1024 1700000000000\n\
            y{a=\"q\\\"uote\\\\back\\nline\",} -2.5e3\n\
            z{} NaN\n";
        let s = parse(text).unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].name, "x");
        assert_eq!(s[0].value, 1.0);
        assert_eq!(s[1].label("UUID"), Some("GPU-1"));
        assert_eq!(s[1].label("pod"), Some(""));
        assert_eq!(s[1].value, 1024.0);
        assert_eq!(s[2].label("a"), Some("q\"uote\\back\nline"));
        assert_eq!(s[2].value, -2500.0);
        assert!(s[3].value.is_nan());
    }

    #[test]
    fn malformed_lines_are_named_by_number() {
        for (text, why) in [
            ("ok 1\nbad{a=\"1\" 2", "line 2"),
            ("x{a=1} 2", "without quotes"),
            ("x{a=\"1\" b=\"2\"} 2", "commas"),
            ("x", "no value"),
            ("x abc", "not a number"),
            ("x 1 2 3", "after the timestamp"),
            ("{a=\"1\"} 2", "no metric name"),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(
                err.starts_with("metrics:") && err.contains(why),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn escaped_values_parse_back_to_themselves() {
        let raw = "a\"b\\c\nd";
        let mut line = String::from("m{l=\"");
        escape_label(raw, &mut line);
        line.push_str("\"} 3");
        assert_eq!(parse(&line).unwrap()[0].label("l"), Some(raw));
    }
}
