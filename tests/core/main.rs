//! Integration tests of headroom-core: one binary, one link.

mod model;
mod paths;
