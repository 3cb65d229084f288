//! Integration tests of headroom-core: one binary, one link.

mod advice;
mod calibration;
mod chart_fonts;
mod env;
mod estimate;
mod fsio;
mod invalid_keys;
mod launch;
mod launch_probe;
#[path = "../common/measured_runs.rs"]
mod measured_runs;
mod model;
mod monitor;
mod paths;
mod presets;
mod relaunch;
mod remote;
mod store;
mod switch;
mod trace;
mod trainers;
