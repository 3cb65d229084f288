//! Any bytes given to `presets import` as a bundle: never a panic, and an accepted bundle serializes to one
//! that parses back equal.
#![no_main]

use headroom_core::presets::bundle;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = bundle::parse(data, &|_| Ok(None)) else {
        return;
    };
    let text = serde_json::to_vec(&parsed).expect("serialize");
    let again = bundle::parse(&text, &|_| Ok(None)).expect("own export does not parse");
    assert_eq!(again, parsed);
});
