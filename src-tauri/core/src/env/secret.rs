//! Which environment variables hold secrets, and hiding their values wherever Headroom stores or shows an
//! environment: run records, attempt logs, the CLI's output, the doctor's messages, the UI. The value itself
//! goes only into the child's environment.
//!
//! A name is secret when it contains, in any case, `TOKEN`, `KEY`, `SECRET`, `PASSWORD`, `PASSWD`,
//! `CREDENTIAL` (so `CREDENTIALS`) or `AUTH` (so `OAUTH`, `AUTHORIZATION`): `HF_TOKEN`, `WANDB_API_KEY`,
//! `AWS_SECRET_ACCESS_KEY`, `PGPASSWORD`, `GOOGLE_APPLICATION_CREDENTIALS`, `NPM_AUTH`. Hiding a harmless value
//! costs little; writing a token to disk cannot be undone, so the match is wide. Variables the catalog
//! describes are known not to be secret (`TOKENIZERS_PARALLELISM` holds `true`/`false`). `PWD` is not in the
//! list: it is the shell's working directory.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::{catalog, EnvMap};

/// What a secret value is replaced with.
pub const REDACTED: &str = "<redacted>";

const SECRET_WORDS: [&str; 7] = [
    "TOKEN",
    "KEY",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "CREDENTIAL",
    "AUTH",
];

/// A secret value shorter than this is not searched for in free text: `1` or `true` would blank out half a
/// log. Such a value is still hidden wherever it appears as a variable's value.
const MIN_SCRUBBED_LEN: usize = 6;

pub fn is_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_WORDS.iter().any(|word| upper.contains(word)) && catalog::info(name).is_none()
}

/// `value`, or [`REDACTED`] when `name` is secret.
pub fn redact<'a>(name: &str, value: &'a str) -> Cow<'a, str> {
    if is_secret(name) {
        Cow::Borrowed(REDACTED)
    } else {
        Cow::Borrowed(value)
    }
}

/// Environment changes (set `Some`, removed `None`) with secret values hidden; a removal stays a removal.
pub fn redact_changes(
    changes: BTreeMap<String, Option<String>>,
) -> BTreeMap<String, Option<String>> {
    changes
        .into_iter()
        .map(|(name, value)| {
            let value = value.map(|v| redact(&name, &v).into_owned());
            (name, value)
        })
        .collect()
}

/// Hides the values of an environment's secret variables in free text (a program's output, a message).
#[derive(Debug, Clone, Default)]
pub struct Scrubber {
    /// Longest first, so a value that contains another is replaced whole.
    values: Vec<String>,
}

impl Scrubber {
    pub fn new(env: &EnvMap) -> Self {
        let mut values: Vec<String> = env
            .iter()
            .filter(|(name, value)| is_secret(name) && value.len() >= MIN_SCRUBBED_LEN)
            .map(|(_, value)| value.clone())
            .collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Scrubber { values }
    }

    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for value in &self.values {
            if out.contains(value.as_str()) {
                out = Cow::Owned(out.replace(value.as_str(), REDACTED));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_names_and_the_known_harmless_ones() {
        for name in [
            "HF_TOKEN",
            "hf_token",
            "HUGGING_FACE_HUB_TOKEN",
            "WANDB_API_KEY",
            "AWS_SECRET_ACCESS_KEY",
            "PGPASSWORD",
            "DB_PASSWD",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "GITHUB_OAUTH",
            "Authorization",
        ] {
            assert!(is_secret(name), "{name}");
        }
        for name in [
            "TOKENIZERS_PARALLELISM",
            "PWD",
            "PATH",
            "CUDA_VISIBLE_DEVICES",
            "HF_HOME",
        ] {
            assert!(!is_secret(name), "{name}");
        }
    }

    #[test]
    fn values_are_hidden_in_changes_and_in_text() {
        let changes = BTreeMap::from([
            ("HF_TOKEN".to_string(), Some("hf_abcdefgh".to_string())),
            ("OLD_API_KEY".to_string(), None),
            ("NCCL_DEBUG".to_string(), Some("WARN".to_string())),
        ]);
        let redacted = redact_changes(changes);
        assert_eq!(redacted["HF_TOKEN"].as_deref(), Some(REDACTED));
        assert_eq!(redacted["OLD_API_KEY"], None);
        assert_eq!(redacted["NCCL_DEBUG"].as_deref(), Some("WARN"));

        let env = EnvMap::from([
            ("HF_TOKEN".to_string(), "hf_abcdefgh".to_string()),
            ("SHORT_KEY".to_string(), "1".to_string()),
            ("HOME".to_string(), "/home/me".to_string()),
        ]);
        let scrubber = Scrubber::new(&env);
        assert_eq!(
            scrubber.scrub("login with hf_abcdefgh as /home/me, step 1"),
            "login with <redacted> as /home/me, step 1"
        );
        assert!(matches!(scrubber.scrub("nothing here"), Cow::Borrowed(_)));
    }
}
