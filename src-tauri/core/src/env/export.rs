//! Writing a profile as a `.env` file or as a POSIX shell script of `export` lines.
//!
//! Quoting follows POSIX sh (XCU 2.2 "Quoting"): inside single quotes nothing is special, so a value is
//! wrapped in `'…'` and each `'` becomes `'\''`. A `.env` file has no standard; the form written here is the
//! common subset that python-dotenv, docker compose and [`super::parse`] agree on: bare when the value holds only
//! safe characters, `'…'` when it holds no single quote, else `"…"` with `\\` and `\"` escaped.

use super::profile::Profile;

/// Characters that need no quoting in either format.
fn is_bare(value: &str) -> bool {
    !value.is_empty()
        && value.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'_' | b'-' | b'.' | b'/' | b':' | b',' | b'+' | b'@' | b'%'
                )
        })
}

/// A word the shell reads back as exactly `value`.
pub fn shell_quote(value: &str) -> String {
    if is_bare(value) {
        return value.to_owned();
    }
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// A `.env` value that python-dotenv, docker compose and Headroom's parser read back as `value`.
pub fn dotenv_quote(value: &str) -> String {
    if is_bare(value) {
        value.to_owned()
    } else if !value.contains('\'') {
        format!("'{value}'")
    } else {
        format!("\"{}\"", value.replace('\\', r"\\").replace('"', "\\\""))
    }
}

fn header(profile: &Profile) -> String {
    let mut text = format!("# Headroom environment profile {:?}", profile.name);
    if !profile.description.is_empty() {
        text.push_str(&format!("\n# {}", profile.description));
    }
    text.push('\n');
    text
}

/// `NAME=value` lines. A `.env` file cannot remove a variable, so unset ones are written as comments.
pub fn to_dotenv(profile: &Profile) -> String {
    let mut text = header(profile);
    for setting in &profile.variables {
        match &setting.value {
            Some(value) => text.push_str(&format!("{}={}\n", setting.name, dotenv_quote(value))),
            None => text.push_str(&format!(
                "# {} must be unset (a .env file cannot unset a variable)\n",
                setting.name
            )),
        }
    }
    text
}

/// A script to `source`: `export NAME=value` and `unset NAME` lines.
pub fn to_shell(profile: &Profile) -> String {
    let mut text = String::from("#!/bin/sh\n");
    text.push_str(&header(profile));
    for setting in &profile.variables {
        match &setting.value {
            Some(value) => {
                text.push_str(&format!("export {}={}\n", setting.name, shell_quote(value)))
            }
            None => text.push_str(&format!("unset {}\n", setting.name)),
        }
    }
    text
}
