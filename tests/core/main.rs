//! Integration tests of headroom-core: one binary, one link.

mod env;
mod estimate;
mod fsio;
mod launch;
mod launch_probe;
mod model;
mod monitor;
mod paths;
mod presets;
mod store;
mod switch;
mod trace;
