//! The one error type that crosses IPC: `{code, message, field?}`. The code is for the UI to decide what to show
//! (a field error, a conflict dialog); the message is for the person; `field` names the input at fault for an
//! `invalid` error (the same key the CLI prints before its one line), so the UI never parses it out of the text.

use headroom_core::message::Message;
use headroom_core::Error;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Input broke a rule; the message starts with the field's name.
    Invalid,
    /// The file changed since it was read; reload before saving.
    Conflict,
    /// Reading or writing a file failed.
    Io,
    /// The OS refused (another user's file or process).
    Denied,
    /// There is no usable NVIDIA driver; the message says why (library missing, driver not loaded).
    NoDriver,
    /// The GPU driver answered with an error.
    Driver,
    /// A process could not be stopped.
    Process,
    /// The trace engine could not run: no usable Python (torch, transformers, peft), past its time limit,
    /// crashed; the message says which and what to do.
    Trace,
    /// The person cancelled the operation; nothing to show as an error.
    Cancelled,
    /// Anything else that went wrong in the backend.
    Internal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct IpcError {
    pub code: ErrorCode,
    pub message: String,
    /// For `invalid`: the key, form field or path the message is about (`lora.rank`, `variables[2].name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub field: Option<String>,
    /// For `invalid`: the message without its field, as a key and arguments the UI renders in the person's
    /// language (the `message` stays the English, `field: …`); absent where the words come from elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub message_key: Option<Message>,
}

impl From<Error> for IpcError {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::Invalid { .. } => ErrorCode::Invalid,
            Error::Conflict { .. } => ErrorCode::Conflict,
            Error::Io { .. } | Error::Corrupt { .. } => ErrorCode::Io,
            Error::Denied { .. } => ErrorCode::Denied,
            Error::NoDriver { .. } => ErrorCode::NoDriver,
            Error::Driver { .. } => ErrorCode::Driver,
            Error::Process { .. } => ErrorCode::Process,
            Error::NoHome => ErrorCode::Internal,
            Error::Trace {
                code: headroom_core::trace::TraceFailure::Cancelled,
                ..
            } => ErrorCode::Cancelled,
            Error::Trace { .. } => ErrorCode::Trace,
        };
        let (field, message_key) = match &e {
            Error::Invalid {
                field, message_key, ..
            } => (Some(field.clone()), message_key.clone()),
            _ => (None, None),
        };
        IpcError {
            code,
            message: e.to_string(),
            field,
            message_key,
        }
    }
}

impl IpcError {
    pub fn internal(message: impl Into<String>) -> Self {
        IpcError {
            code: ErrorCode::Internal,
            message: message.into(),
            field: None,
            message_key: None,
        }
    }
}

pub type IpcResult<T> = Result<T, IpcError>;
