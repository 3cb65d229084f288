//! Integration tests of headroom-core: one binary, one link.

mod env;
mod launch;
mod monitor;
mod model;
mod estimate;
mod paths;
mod presets;
