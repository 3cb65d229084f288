//! The core's one error type. Each variant says what went wrong in words a user can act on; the shell maps
//! them to `{code, message}` at the IPC boundary and the CLI to an exit status.

use std::path::PathBuf;

use crate::message::Message;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that breaks a rule; `field` names the key or path, so the UI can show the message beside it.
    /// `message_key` is the same sentence as a [`Message`] the UI renders in the person's language (the
    /// `message` is its English, what the command line prints); `None` where the words come from elsewhere.
    #[error("{field}: {message}")]
    Invalid {
        field: String,
        message: String,
        message_key: Option<Message>,
    },

    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A stored document exists but cannot be understood (bad JSON, a version from the future, …).
    #[error("{path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },

    /// Someone else saved the document after we read it; saving now would lose their edit.
    #[error("{path} was changed by someone else since it was opened; reload it before saving")]
    Conflict { path: PathBuf },

    /// The operating system refused access to something the user asked about (another user's process).
    #[error("{path}: permission denied: {reason}")]
    Denied { path: PathBuf, reason: String },

    /// The operating system gave us no home or config directory to store anything in.
    #[error("no home directory: set HEADROOM_CONFIG_DIR and HEADROOM_DATA_DIR")]
    NoHome,

    /// NVML could not be loaded or initialised: there is no usable NVIDIA driver on this machine. The reason says
    /// which (library missing, driver not loaded, no permission), e.g. "libnvidia-ml.so.1 not found".
    #[error("no NVIDIA driver: {reason}")]
    NoDriver { reason: String },

    /// The GPU driver answered a query with an error we cannot work around.
    #[error("GPU driver: {message}")]
    Driver { message: String },

    /// A process could not be stopped (it belongs to someone else, or the signal was refused).
    #[error("process {pid}: {message}")]
    Process { pid: u32, message: String },

    /// The trace engine gave no answer: no usable Python, a trace past its time limit, a cancelled or crashed
    /// child. (Bad input found by the trace, such as a model type transformers lacks, is [`Error::Invalid`].)
    #[error("{message}")]
    Trace {
        code: crate::trace::TraceFailure,
        message: String,
    },
}

impl Error {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            message: message.into(),
            message_key: None,
        }
    }

    /// Input that breaks a rule, said as a [`Message`] whose key has a backend English wording
    /// ([`crate::message::Key::english`]): the `message` is that English, so the command line reads as before.
    pub fn invalid_msg(field: impl Into<String>, message: Message) -> Self {
        Error::Invalid {
            field: field.into(),
            message: message.english().unwrap_or_else(|| message.key.clone()),
            message_key: Some(message),
        }
    }

    /// The same rule broken, said of another field (a value checked under one name and entered under another);
    /// any other error as it is.
    pub fn for_field(self, to: impl Into<String>) -> Self {
        match self {
            Error::Invalid {
                message,
                message_key,
                ..
            } => Error::Invalid {
                field: to.into(),
                message,
                message_key,
            },
            other => other,
        }
    }

    pub fn trace(code: crate::trace::TraceFailure, message: impl Into<String>) -> Self {
        Error::Trace {
            code,
            message: message.into(),
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// What a JSON value is, in the words error messages use ("must be an object, got an array").
pub(crate) fn json_kind(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
