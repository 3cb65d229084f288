//! What a model is made of, from its config.json, its safetensors headers, the Hugging Face cache, or the
//! built-in catalog. The estimator only ever sees a [`ModelSpec`].

mod spec;

pub use spec::*;
