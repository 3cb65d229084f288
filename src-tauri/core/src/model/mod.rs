//! What a model is made of, from its config.json, its safetensors headers, the Hugging Face cache, or the
//! built-in catalog. The estimator only ever sees a [`ModelSpec`].

pub mod catalog;
pub mod config;
pub mod hf_cache;
mod resolve;
pub mod safetensors;
mod spec;
pub mod weights;

pub use resolve::*;
pub use spec::*;
