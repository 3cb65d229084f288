//! Any bytes as config.json (and as a plan's `model` value): an error naming a field, or a spec whose
//! breakdown adds up, never a panic or an overflow.
#![no_main]

use headroom_core::model::config::parse_config;
use headroom_core::model::{from_config, ModelRef};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(map) = parse_config(data, "config.json") {
        if let Ok(spec) = from_config(&map, "config.json") {
            let p = spec.parameters;
            assert_eq!(p.embedding + p.lm_head + p.linear + p.other, p.total);
            if let Some(arch) = &spec.architecture {
                for group in &arch.linear_layers {
                    let _ = group.parameters();
                }
            }
        }
        let _ = ModelRef::from_value(&serde_json::Value::Object(map));
    }
});
