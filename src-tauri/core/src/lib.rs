//! Headroom's domain logic. Nothing here knows about Tauri or about what is displayed: paths come in as
//! arguments, results go out as plain data, and every failure is an [`Error`].

pub mod chart;
pub mod contract;
pub mod env;
pub mod error;
pub mod estimate;
pub mod fsio;
pub mod i18n;
pub mod launch;
pub mod logfile;
pub mod message;
pub mod model;
pub mod monitor;
pub mod paths;
pub mod presets;
pub mod settings;
pub mod store;
pub mod trace;
pub mod trainers;

pub use error::{Error, Result};
