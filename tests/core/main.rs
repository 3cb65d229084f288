//! Integration tests of headroom-core: one binary, one link.

mod env;
mod estimate;
mod launch;
mod model;
mod monitor;
mod paths;
mod presets;
