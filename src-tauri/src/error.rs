//! The one error type that crosses IPC: `{code, message}`. The code is for the UI to decide what to show
//! (a field error, a conflict dialog); the message is for the person.

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
        IpcError {
            code,
            message: e.to_string(),
        }
    }
}

impl IpcError {
    pub fn internal(message: impl Into<String>) -> Self {
        IpcError {
            code: ErrorCode::Internal,
            message: message.into(),
        }
    }
}

pub type IpcResult<T> = Result<T, IpcError>;
