//! Tauri commands, one file per domain. Each takes the state, calls one core function, and maps the error.

pub mod app;
pub mod configs;
pub mod env;
pub mod monitor;
pub mod plan;
pub mod presets;
pub mod runs;
pub mod settings;
pub mod trace;
pub mod trainers;
