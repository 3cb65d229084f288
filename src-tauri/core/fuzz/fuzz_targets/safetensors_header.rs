//! Any bytes as a whole safetensors file, and as a header over a buffer of any claimed length: an error or a
//! header whose tensors tile the buffer, never a panic or a huge allocation. Accepted headers are also counted
//! (every packing, tied or not), which must not panic either.
#![no_main]

use headroom_core::model::safetensors::{parse_file_bytes, parse_header, Checkpoint};
use headroom_core::model::weights::{count, Packing};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = parse_file_bytes(data, "fuzz.safetensors") {
        let covered: u64 = header.tensors.iter().map(|t| t.bytes).sum();
        let n = u64::from_le_bytes(data[..8].try_into().unwrap());
        assert_eq!(covered, data.len() as u64 - 8 - n);
        let checkpoint = Checkpoint {
            files: vec!["fuzz.safetensors".into()],
            total_bytes: covered,
            tensors: header.tensors,
            notes: Vec::new(),
        };
        for packing in [Packing::None, Packing::QWeight { bits: 3 }] {
            for tied in [false, true] {
                let counted = count(&checkpoint, packing, tied);
                let p = counted.parameters;
                assert_eq!(
                    p.total,
                    p.embedding
                        .saturating_add(p.lm_head)
                        .saturating_add(p.linear)
                        .saturating_add(p.other)
                );
            }
        }
    }
    if data.len() > 8 {
        let claimed = u64::from_le_bytes(data[..8].try_into().unwrap());
        let _ = parse_header(&data[8..], claimed, "fuzz.safetensors");
    }
});
