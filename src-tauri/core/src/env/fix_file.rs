//! Applying a doctor's fix to the `.env` file it checked, keeping everything else in the file as written: the
//! lines that set or unset the variable are commented out (so nothing the person wrote is lost), and a set
//! fix adds one `NAME=value` line after the last of them (or at the end). An `unset A B` line that names other
//! variables too keeps those.

use std::collections::BTreeSet;
use std::path::Path;

use super::export::dotenv_quote;
use super::fix::Fix;
use super::parse;
use crate::message::{Key, Message};
use crate::{fsio, store, Error, Result};

/// The marker put before a line the fix turned off, so the person sees why it is a comment now.
pub const DISABLED_MARK: &str = "# disabled by Headroom's doctor: ";

/// `text` with `fix` applied; `origin` names the file in parse errors.
pub fn apply(origin: &str, text: &str, fix: &Fix) -> Result<String> {
    let parsed = parse::parse(origin, text)?;
    let (variable, value) = match fix {
        Fix::Set { variable, value } => (variable.as_str(), Some(value.as_str())),
        Fix::Unset { variable } => (variable.as_str(), None),
    };
    let lines: BTreeSet<u32> = parsed
        .assignments
        .iter()
        .filter(|a| a.name == variable)
        .map(|a| a.line)
        .collect();
    let mut out: Vec<String> = Vec::new();
    let mut inserted = false;
    let last = lines.iter().next_back().copied();
    for (index, raw) in text.lines().enumerate() {
        let line_no = u32::try_from(index + 1).unwrap_or(u32::MAX);
        if !lines.contains(&line_no) {
            out.push(raw.to_owned());
            continue;
        }
        // `unset A B C`: keep the other names unset, on a line of their own.
        let others: Vec<&str> = parsed
            .assignments
            .iter()
            .filter(|a| a.line == line_no && a.name != variable)
            .map(|a| a.name.as_str())
            .collect();
        out.push(format!("{DISABLED_MARK}{raw}"));
        if !others.is_empty() {
            out.push(format!("unset {}", others.join(" ")));
        }
        if Some(line_no) == last {
            if let Some(v) = value {
                out.push(format!("{variable}={}", dotenv_quote(v)));
                inserted = true;
            }
        }
    }
    if let (Some(v), false) = (value, inserted) {
        out.push(format!("{variable}={}", dotenv_quote(v)));
    }
    let mut result = out.join("\n");
    if !result.is_empty() {
        result.push('\n');
    }
    Ok(result)
}

/// Apply `fix` to the `.env` file at `path` (the doctor's `file` source) and write it back atomically with the
/// file's own permissions (a `.env` often holds secrets and is readable by its owner only).
pub fn apply_to_file(path: &str, fix: &Fix) -> Result<()> {
    let path = fsio::absolute("file", path)?;
    let text = fsio::read_to_string(&path, fsio::SMALL_INPUT).map_err(|e| match e {
        Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            Error::invalid_msg(
                "file",
                Message::new(Key::InvalidEnvDoesNotExist).text("path", path.display().to_string()),
            )
        }
        other => other,
    })?;
    let fixed = apply(&path.display().to_string(), &text, fix)?;
    write_keeping_mode(&path, fixed.as_bytes())
}

fn write_keeping_mode(path: &Path, bytes: &[u8]) -> Result<()> {
    let mode = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .permissions();
    store::write_atomic_with_permissions(path, bytes, Some(mode))
}
