//! Reading the variables out of a `.env` file or a shell script (`export A=B`, `A='b c'`, `unset A`,
//! comments). Quotes follow POSIX sh (XCU 2.2): single quotes are literal; inside double quotes a backslash
//! escapes `\`, `"`, `$` and `` ` ``; outside quotes a backslash escapes any character. Variable references
//! (`$X`) are kept as written: the doctor looks at what the file says, it does not run it. Lines that are
//! not assignments (other commands) are listed as skipped rather than guessed at.

use std::collections::BTreeMap;

use serde::Serialize;

use super::profile::check_variable_name;
use super::EnvMap;
use crate::message::{Key, Message};
use crate::{Error, Result};

/// What a file sets and unsets, in order, and the lines that were not assignments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct ParsedFile {
    pub assignments: Vec<Assignment>,
    /// 1-based numbers of lines that are neither assignments, `unset`, comments nor blank.
    pub skipped_lines: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct Assignment {
    pub line: u32,
    pub name: String,
    /// `None` for `unset NAME`.
    pub value: Option<String>,
}

impl ParsedFile {
    /// The environment the file leaves behind, starting from nothing.
    pub fn to_env(&self) -> EnvMap {
        let mut env = BTreeMap::new();
        for a in &self.assignments {
            match &a.value {
                Some(v) => env.insert(a.name.clone(), v.clone()),
                None => env.remove(&a.name),
            };
        }
        env
    }
}

/// Parse `text`; `origin` names the file in errors (`origin:LINE`).
pub fn parse(origin: &str, text: &str) -> Result<ParsedFile> {
    let mut parsed = ParsedFile {
        assignments: Vec::new(),
        skipped_lines: Vec::new(),
    };
    for (index, raw) in text.lines().enumerate() {
        let line_no = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let field = format!("{origin}:{line_no}");
        if let Some(rest) = strip_word(line, "unset") {
            let names: Vec<&str> = rest.split_whitespace().collect();
            if names.iter().any(|n| n.starts_with('-')) || names.is_empty() {
                parsed.skipped_lines.push(line_no);
                continue;
            }
            for name in names {
                check_variable_name(&field, name)?;
                parsed.assignments.push(Assignment {
                    line: line_no,
                    name: name.to_owned(),
                    value: None,
                });
            }
            continue;
        }
        let body = strip_word(line, "export").unwrap_or(line);
        let Some((name, rest)) = body.split_once('=') else {
            parsed.skipped_lines.push(line_no);
            continue;
        };
        if check_variable_name(&field, name).is_err() {
            // `FOO[1]=x`, `if [ a = b ]`, …: not a plain assignment.
            parsed.skipped_lines.push(line_no);
            continue;
        }
        match parse_value(&field, rest)? {
            Some(value) => parsed.assignments.push(Assignment {
                line: line_no,
                name: name.to_owned(),
                value: Some(value),
            }),
            // `A=1 python train.py`: an assignment for one command only, not for the environment.
            None => parsed.skipped_lines.push(line_no),
        }
    }
    Ok(parsed)
}

/// `line` without the leading keyword when it starts with `word` and a blank.
fn strip_word<'a>(line: &'a str, word: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(word)?;
    rest.starts_with([' ', '\t']).then(|| rest.trim_start())
}

/// The value of one assignment; `None` when a command follows it on the line.
fn parse_value(field: &str, text: &str) -> Result<Option<String>> {
    let mut value = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => loop {
                match chars.next() {
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => {
                        return Err(Error::invalid_msg(
                            field,
                            Message::new(Key::InvalidEnvUnterminatedSingleQuote),
                        ))
                    }
                }
            },
            '"' => loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c @ ('\\' | '"' | '$' | '`')) => value.push(c),
                        Some(c) => {
                            value.push('\\');
                            value.push(c);
                        }
                        None => {
                            return Err(Error::invalid_msg(
                                field,
                                Message::new(Key::InvalidEnvUnterminatedDoubleQuote),
                            ))
                        }
                    },
                    Some(c) => value.push(c),
                    None => {
                        return Err(Error::invalid_msg(
                            field,
                            Message::new(Key::InvalidEnvUnterminatedDoubleQuote),
                        ))
                    }
                }
            },
            '\\' => match chars.next() {
                Some(c) => value.push(c),
                None => {
                    return Err(Error::invalid_msg(
                        field,
                        Message::new(Key::InvalidEnvLineEndsLoneBackslash),
                    ))
                }
            },
            ' ' | '\t' => {
                let rest = chars.as_str().trim_start();
                return Ok((rest.is_empty() || rest.starts_with('#')).then_some(value));
            }
            ';' => {
                let rest = chars.as_str().trim_start();
                return Ok((rest.is_empty() || rest.starts_with('#')).then_some(value));
            }
            c => value.push(c),
        }
    }
    Ok(Some(value))
}
