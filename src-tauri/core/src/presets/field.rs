//! Per-field validation errors: what the UI shows beside each form field, and what the CLI prints as one line.

use serde::{Deserialize, Serialize};

use crate::message::Message;
use crate::Error;

/// One broken rule, named by the JSON path of the field it belongs to (`quantization.llm_int8_threshold`,
/// `load.max_memory.cpu`), so a form can put the message next to the right input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct FieldError {
    pub field: String,
    pub message: String,
    /// The message as a key and arguments, for the UI to show in the person's language; absent where the words
    /// come from elsewhere (serde's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub message_key: Option<Message>,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
            message_key: None,
        }
    }

    /// A broken rule said as a [`Message`] with a backend English wording (see [`Error::invalid_msg`]).
    pub fn keyed(field: impl Into<String>, message: Message) -> Self {
        FieldError {
            field: field.into(),
            message: message.english().unwrap_or_else(|| message.key.clone()),
            message_key: Some(message),
        }
    }
}

/// Every rule a draft breaks, in field order. Never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    /// `Ok(())` when nothing was collected.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }

    /// Prefix every field with `prefix.` (a preset nested in a bundle, a config's overrides).
    pub fn nested(self, prefix: &str) -> FieldErrors {
        FieldErrors(
            self.0
                .into_iter()
                .map(|e| FieldError {
                    field: join_path(prefix, &e.field),
                    ..e
                })
                .collect(),
        )
    }
}

/// `a` + `.` + `b`, without a dangling dot when either is empty.
pub fn join_path(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}.{b}"),
    }
}

impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", e.field, e.message)?;
        }
        Ok(())
    }
}

/// The core's single error type carries one field; the first error names it and the message lists the rest,
/// so the CLI still prints one line that starts with a field name.
impl From<FieldErrors> for Error {
    fn from(errors: FieldErrors) -> Self {
        let mut iter = errors.0.into_iter();
        match iter.next() {
            None => Error::invalid("input", "invalid"),
            Some(first) => {
                let rest: Vec<String> = iter
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect();
                if rest.is_empty() {
                    Error::Invalid {
                        field: first.field,
                        message: first.message,
                        message_key: first.message_key,
                    }
                } else {
                    Error::invalid(
                        first.field,
                        format!("{} (also {})", first.message, rest.join("; ")),
                    )
                }
            }
        }
    }
}

/// Deserialize `value` into `T`, turning serde's message into a [`FieldError`] at the exact path that failed
/// (`load.max_memory.0`), with `prefix` in front.
pub fn from_value<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    prefix: &str,
) -> Result<T, FieldErrors> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let field = join_path(prefix, &path);
        let field = if field.is_empty() {
            "input".to_string()
        } else {
            field
        };
        FieldErrors(vec![FieldError::new(field, e.into_inner().to_string())])
    })
}
