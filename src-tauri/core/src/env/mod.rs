//! Environment profiles and the environment doctor.
//!
//! - [`catalog`]: what each variable does and costs (docs/estimator.md §15).
//! - [`profile`]: built-in and user profiles, stored through [`crate::store`].
//! - [`export`]: a profile as a `.env` file or a shell script.
//! - [`parse`]: the variables a `.env` file or shell script sets.
//! - [`procenv`]: the environment of a running process.
//! - [`allocconf`]: PyTorch's allocator options.
//! - [`doctor`]: findings with a severity and a fix.
//! - [`secret`]: which variables hold secrets; their values hidden wherever an environment is stored or shown.

pub mod allocconf;
pub mod catalog;
pub mod check;
pub mod doctor;
pub mod export;
pub mod fix;
pub mod fix_file;
pub mod parse;
pub mod procenv;
pub mod profile;
pub mod secret;

use std::collections::BTreeMap;

/// An environment: variable name to value, sorted so output is stable. Always handed in by the caller,
/// never read from the process inside the core.
pub type EnvMap = BTreeMap<String, String>;
