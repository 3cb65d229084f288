//! Integration tests of headroom-core: one binary, one link.

mod env;
mod estimate;
mod launch;
mod launch_probe;
mod model;
mod monitor;
mod paths;
mod presets;
mod switch;
mod trace;
