//! Any bytes given to `presets import`: never a panic, and whatever is accepted exports to a
//! `BitsAndBytesConfig` dict that imports back to the same settings.
#![no_main]

use headroom_core::presets::import::parse_preset;
use headroom_core::presets::{export, validate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(imported) = parse_preset(data) else {
        return;
    };
    // What import accepts, validation accepts.
    validate::preset(&imported.body).expect("an imported preset breaks a rule");
    let _ = export::python_snippet("org/model", &imported.body);
    let _ = export::load_kwargs(&imported.body);
    // The Headroom form round-trips.
    let own = serde_json::to_vec(&imported.body).expect("serialize");
    let again = parse_preset(&own).expect("own export does not import");
    assert_eq!(again.body, imported.body);
    // The transformers form round-trips, byte for byte on the second pass.
    if let Some(q) = &imported.body.quantization {
        let dumped = q.to_dict_json();
        let back = parse_preset(dumped.as_bytes()).expect("to_dict() output does not import");
        let q2 = back.body.quantization.expect("quantization lost");
        assert_eq!(&q2, q);
        assert_eq!(q2.to_dict_json(), dumped);
    }
});
