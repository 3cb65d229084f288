//! Tauri commands, one file per domain. Each takes the state, calls one core function, and maps the error.

pub mod app;
pub mod presets;
pub mod settings;
