//! Integration tests of headroom-core: one binary, one link.

mod paths;
mod presets;
