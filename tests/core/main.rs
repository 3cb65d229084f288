//! Integration tests of headroom-core: one binary, one link.

mod estimate;
mod paths;
