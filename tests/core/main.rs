//! Integration tests of headroom-core: one binary, one link.

mod monitor;
mod paths;
