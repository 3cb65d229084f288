//! Integration tests of headroom-core: one binary, one link.

mod env;
mod launch;
mod monitor;
mod model;
mod paths;
mod presets;
