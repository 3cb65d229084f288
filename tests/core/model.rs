//! Model discovery: safetensors headers, config.json architectures, the catalog, the HF cache, ModelRef.

use std::path::{Path, PathBuf};

use headroom_core::model::safetensors::{parse_file_bytes, read_folder, read_header};
use headroom_core::model::{
    catalog, from_catalog, from_config, from_folder, hf_cache, resolve, DType, LinearRole,
    ModelRef, ModelSource, Resolver,
};
use headroom_core::Error;
use serde_json::{json, Value};

fn fixtures() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures"))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn config_map(value: Value) -> serde_json::Map<String, Value> {
    match value {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

fn invalid_field(err: Error) -> (String, String) {
    match err {
        Error::Invalid { field, message, .. } => (field, message),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

/// A safetensors file from (name, dtype, shape, bytes) with contiguous offsets.
fn st_bytes(tensors: &[(&str, &str, Vec<u64>, u64)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut offset = 0;
    for (name, dtype, shape, bytes) in tensors {
        header.insert(
            (*name).into(),
            json!({"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + bytes]}),
        );
        offset += bytes;
    }
    header.insert("__metadata__".into(), json!({"format": "pt"}));
    raw_st(&serde_json::to_vec(&header).unwrap(), offset)
}

fn raw_st(header: &[u8], buffer: u64) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header);
    out.resize(out.len() + buffer as usize, 0);
    out
}

// ---------- tiny checkpoints written by transformers 5.24 ----------

#[test]
fn tiny_checkpoints_match_transformers_counts_from_headers_and_from_config() {
    let counts = read_json(&fixtures().join("models/param_counts.json"));
    let models = counts["models"].as_object().unwrap();
    assert_eq!(models.len(), 7);
    for (name, expected) in models {
        let expected = expected["parameters"].as_u64().unwrap();
        let folder = fixtures().join("models").join(name);
        let spec = from_folder(&folder).unwrap();
        assert_eq!(spec.parameters.total, expected, "{name} from folder");
        assert!(spec.architecture.is_some(), "{name}");
        assert_eq!(spec.stored_dtype, DType::Bf16, "{name}");
        assert!(
            !spec
                .notes
                .iter()
                .any(|n| n.contains("the architecture from config.json gives")),
            "{name}: {:?}",
            spec.notes
        );
        assert_eq!(
            spec.source,
            ModelSource::Folder {
                path: folder.clone()
            }
        );

        // The architecture alone (no headers) must give the same exact count.
        let config = config_map(read_json(&folder.join("config.json")));
        let from_cfg = from_config(&config, "config.json").unwrap();
        assert_eq!(from_cfg.parameters.total, expected, "{name} from config");
        let p = from_cfg.parameters;
        assert_eq!(
            p.embedding + p.lm_head + p.linear + p.other,
            p.total,
            "{name}"
        );
        let arch = from_cfg.architecture.unwrap();
        let linear: u64 = arch
            .linear_layers
            .iter()
            .filter(|g| g.role != LinearRole::LmHead)
            .map(|g| g.parameters())
            .sum();
        assert_eq!(linear, p.linear, "{name}");
    }
}

#[test]
fn tiny_architectures_have_the_family_features() {
    let spec = |name: &str| {
        from_folder(&fixtures().join("models").join(name))
            .unwrap()
            .architecture
            .unwrap()
    };
    let qwen2 = spec("tiny-qwen2");
    assert!(qwen2.tie_word_embeddings);
    let q = qwen2
        .linear_layers
        .iter()
        .find(|g| g.name == "q_proj")
        .unwrap();
    assert!(q.bias);
    assert!(!qwen2
        .linear_layers
        .iter()
        .any(|g| g.role == LinearRole::LmHead));

    let mistral = spec("tiny-mistral");
    let sw = mistral.attention.sliding_window.unwrap();
    assert_eq!((sw.window, sw.layers), (32, 2));
    assert_eq!(mistral.attention.num_kv_heads, 1);

    let gemma2 = spec("tiny-gemma2");
    let sw = gemma2.attention.sliding_window.unwrap();
    assert_eq!((sw.window, sw.layers), (4096, 1));
    let gemma2_spec = from_folder(&fixtures().join("models/tiny-gemma2")).unwrap();
    assert!(
        gemma2_spec
            .notes
            .iter()
            .any(|n| n.starts_with("final_logit_softcapping = 30")),
        "{:?}",
        gemma2_spec.notes
    );

    let phi3 = spec("tiny-phi3");
    let names: Vec<&str> = phi3.linear_layers.iter().map(|g| g.name.as_str()).collect();
    assert!(
        names.contains(&"qkv_proj") && names.contains(&"gate_up_proj"),
        "{names:?}"
    );
    let qkv = phi3
        .linear_layers
        .iter()
        .find(|g| g.name == "qkv_proj")
        .unwrap();
    assert_eq!((qkv.in_features, qkv.out_features, qkv.count), (64, 192, 2));

    let mixtral = spec("tiny-mixtral");
    let moe = mixtral.moe.unwrap();
    assert_eq!(
        (moe.num_experts, moe.experts_per_token, moe.moe_layers),
        (4, 2, 2)
    );
    let experts = mixtral
        .linear_layers
        .iter()
        .find(|g| g.role == LinearRole::Expert && g.name == "gate_up_proj")
        .unwrap();
    assert_eq!(
        (experts.in_features, experts.out_features, experts.count),
        (64, 192, 8)
    );

    let qwen3_moe = spec("tiny-qwen3-moe");
    let moe = qwen3_moe.moe.unwrap();
    assert_eq!((moe.num_experts, moe.expert_intermediate_size), (8, 32));
}

#[test]
fn linear_groups_name_the_modules_transformers_wrote() {
    // Every non-expert group must be `count` tensors named `….{name}.weight` of shape [out, in] (nn.Linear stores
    // weight as out × in), with a `.bias` of [out] when the group has one; experts must add up to the tensors
    // under `.experts.`. This ties PEFT's names and the shapes to what save_pretrained really wrote.
    for name in [
        "tiny-llama",
        "tiny-qwen2",
        "tiny-mistral",
        "tiny-mixtral",
        "tiny-qwen3-moe",
        "tiny-gemma2",
        "tiny-phi3",
    ] {
        let folder = fixtures().join("models").join(name);
        let checkpoint = read_folder(&folder).unwrap().unwrap();
        let arch = from_folder(&folder).unwrap().architecture.unwrap();
        let mut expert_params = 0;
        for g in &arch.linear_layers {
            if g.role == LinearRole::Expert {
                expert_params += g.parameters();
                continue;
            }
            let suffix = format!("{}.weight", g.name);
            let matching: Vec<_> = checkpoint
                .tensors
                .iter()
                .filter(|t| {
                    !t.name.contains(".experts.")
                        && (t.name == suffix || t.name.ends_with(&format!(".{suffix}")))
                        && t.shape == vec![g.out_features, g.in_features]
                })
                .collect();
            assert_eq!(
                matching.len() as u64,
                g.count,
                "{name}: {} {:?}",
                g.name,
                g.role
            );
            for t in matching {
                let bias = t.name.replace(".weight", ".bias");
                assert_eq!(checkpoint.tensor(&bias).is_some(), g.bias, "{name}: {bias}");
            }
        }
        let stored_experts: u64 = checkpoint
            .tensors
            .iter()
            .filter(|t| t.name.contains(".experts."))
            .map(|t| t.elements)
            .sum();
        assert_eq!(expert_params, stored_experts, "{name}");
    }
}

#[test]
fn sharded_mixtral_reads_every_shard_header() {
    let checkpoint = read_folder(&fixtures().join("models/tiny-mixtral"))
        .unwrap()
        .unwrap();
    assert_eq!(checkpoint.files.len(), 10);
    let elements: u64 = checkpoint.tensors.iter().map(|t| t.elements).sum();
    assert_eq!(elements, 222_016);
    assert_eq!(checkpoint.total_bytes, 444_032);
    assert!(checkpoint.notes.is_empty(), "{:?}", checkpoint.notes);
}

#[test]
fn an_index_naming_the_wrong_shard_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixtures().join("models/tiny-mixtral");
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let index_path = dir.path().join("model.safetensors.index.json");
    let mut index = read_json(&index_path);
    index["weight_map"]["lm_head.weight"] = json!("model-00002-of-00010.safetensors");
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    // lm_head was shard 1's only tensor: shard 1 is no longer read, and shard 2 lacks it.
    let (field, message) = invalid_field(from_folder(dir.path()).unwrap_err());
    assert_eq!(
        field,
        "model.safetensors.index.json: weight_map.lm_head.weight"
    );
    assert!(message.contains("model-00002-of-00010"), "{message}");

    // A tensor found in a shard other than the one the index names.
    index["weight_map"]["lm_head.weight"] = json!("model-00001-of-00010.safetensors");
    let w1 = "model.layers.0.block_sparse_moe.experts.0.w1.weight";
    index["weight_map"][w1] = json!("model-00003-of-00010.safetensors");
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    let (field, message) = invalid_field(from_folder(dir.path()).unwrap_err());
    assert!(
        field.ends_with(&format!("model-00004-of-00010.safetensors: tensor {w1:?}")),
        "{field}"
    );
    assert!(message.contains("says it is in model-00003"), "{message}");

    index["weight_map"]["lm_head.weight"] = json!("../../etc/passwd");
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    let (field, _) = invalid_field(from_folder(dir.path()).unwrap_err());
    assert!(field.contains("weight_map"), "{field}");
}

// ---------- hostile safetensors headers ----------

#[test]
fn a_valid_header_gives_exact_dtype_and_elements() {
    let bytes = st_bytes(&[
        ("a", "BF16", vec![3, 4], 24),
        ("b", "F32", vec![], 4),
        ("c", "F4", vec![2, 3], 3),
    ]);
    let header = parse_file_bytes(&bytes, "x.safetensors").unwrap();
    let a = header.tensors.iter().find(|t| t.name == "a").unwrap();
    assert_eq!((a.elements, a.bytes), (12, 24));
    let b = header.tensors.iter().find(|t| t.name == "b").unwrap();
    assert_eq!(b.elements, 1);
    assert_eq!(
        header.metadata.get("format").map(String::as_str),
        Some("pt")
    );
}

fn hostile(bytes: &[u8]) -> (String, String) {
    invalid_field(parse_file_bytes(bytes, "evil.safetensors").unwrap_err())
}

#[test]
fn hostile_headers_each_give_one_clear_error() {
    // Absurd length: claims far more than the format allows, with no allocation.
    let mut bytes = u64::MAX.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    let (field, message) = hostile(&bytes);
    assert_eq!(field, "evil.safetensors: header length");
    assert!(message.contains("does not fit"), "{message}");

    // Too short for the length prefix.
    assert_eq!(hostile(b"abc").0, "evil.safetensors: header length");

    // Invalid JSON.
    let (field, message) = hostile(&raw_st(b"{\"a\": [1, 2", 0));
    assert_eq!(field, "evil.safetensors: header");
    assert!(message.contains("JSON"), "{message}");

    // Not an object.
    assert_eq!(hostile(&raw_st(b"[1, 2]", 0)).0, "evil.safetensors: header");

    // Offsets out of range.
    let (field, message) = hostile(&raw_st(
        br#"{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}"#,
        8,
    ));
    assert_eq!(field, "evil.safetensors: tensor \"w\".data_offsets");
    assert!(message.contains("past the end"), "{message}");

    // Overlapping tensors.
    let (field, message) = hostile(&raw_st(
        br#"{"a": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]},
             "b": {"dtype": "U8", "shape": [8], "data_offsets": [4, 12]}}"#,
        12,
    ));
    assert!(field.contains("data_offsets"), "{field}");
    assert!(message.contains("overlaps"), "{message}");

    // A gap between tensors.
    let (_, message) = hostile(&raw_st(
        br#"{"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
             "b": {"dtype": "U8", "shape": [4], "data_offsets": [6, 10]}}"#,
        10,
    ));
    assert!(message.contains("gap"), "{message}");

    // Trailing bytes no tensor covers.
    let (field, message) = hostile(&raw_st(
        br#"{"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}}"#,
        9,
    ));
    assert_eq!(field, "evil.safetensors: data_offsets");
    assert!(message.contains("cover 4 bytes"), "{message}");

    // Dtype/shape disagreeing with the byte span.
    let (field, message) = hostile(&raw_st(
        br#"{"w": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 4]}}"#,
        4,
    ));
    assert_eq!(field, "evil.safetensors: tensor \"w\"");
    assert!(message.contains("needs 64 bits"), "{message}");

    // A shape whose product overflows u64.
    let (field, message) = hostile(&raw_st(
        br#"{"w": {"dtype": "U8", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}}"#,
        0,
    ));
    assert_eq!(field, "evil.safetensors: tensor \"w\".shape");
    assert!(message.contains("64 bits"), "{message}");

    // Unknown dtype, end before begin, unknown tensor keys, bad metadata.
    assert!(hostile(&raw_st(
        br#"{"w": {"dtype": "Q4", "shape": [1], "data_offsets": [0, 1]}}"#,
        1
    ))
    .0
    .ends_with(".dtype"));
    assert!(hostile(&raw_st(
        br#"{"w": {"dtype": "U8", "shape": [1], "data_offsets": [2, 1]}}"#,
        2
    ))
    .1
    .contains("ends before"));
    assert!(hostile(&raw_st(
        br#"{"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1], "x": 1}}"#,
        1
    ))
    .1
    .contains("unknown field"));
    assert_eq!(
        hostile(&raw_st(br#"{"__metadata__": {"a": 1}}"#, 0)).0,
        "evil.safetensors: __metadata__"
    );
}

#[test]
fn a_tensor_named_twice_in_one_header_is_refused() {
    // Both entries tile the buffer, so only the name check can catch it (serde_json's Map kept the last one).
    let (field, message) = hostile(&raw_st(
        br#"{"w": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},
             "w": {"dtype": "U8", "shape": [2], "data_offsets": [2, 4]}}"#,
        4,
    ));
    assert_eq!(field, "evil.safetensors: tensor \"w\"");
    assert!(message.contains("more than once"), "{message}");
}

/// A header of `n` one-byte U8 tensors, as a whole file.
fn many_tensors(n: usize) -> Vec<u8> {
    use std::fmt::Write;
    let mut json = String::with_capacity(n * 64);
    json.push('{');
    for i in 0..n {
        if i > 0 {
            json.push(',');
        }
        write!(
            json,
            r#""l{}.e{}.weight":{{"dtype":"U8","shape":[1],"data_offsets":[{i},{}]}}"#,
            i / 4096,
            i % 4096,
            i + 1
        )
        .unwrap();
    }
    json.push('}');
    raw_st(json.as_bytes(), n as u64)
}

#[test]
fn a_header_past_the_tensor_limit_is_refused() {
    use headroom_core::model::safetensors::MAX_TENSORS;
    // Issue 11 item 4: a valid 95 MB header of 1.15 M tensors took 1.6 GB and 17 s. The format allows it; Headroom
    // stops at MAX_TENSORS, far above any published checkpoint.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    std::fs::write(&path, many_tensors(MAX_TENSORS + 1)).unwrap();
    let (field, message) = invalid_field(read_header(&path).unwrap_err());
    assert!(field.ends_with("model.safetensors: header"), "{field}");
    assert!(
        message.contains(&format!("more than {MAX_TENSORS} tensors")),
        "{message}"
    );
}

#[test]
fn a_file_whose_header_length_exceeds_the_file_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let mut bytes = 50_000_000u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    std::fs::write(&path, bytes).unwrap();
    let (field, message) = invalid_field(read_header(&path).unwrap_err());
    assert!(
        field.ends_with("model.safetensors: header length"),
        "{field}"
    );
    assert!(message.contains("more than the 2 bytes"), "{message}");

    let mut bytes = 200_000_000u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    std::fs::write(&path, bytes).unwrap();
    let (_, message) = invalid_field(read_header(&path).unwrap_err());
    assert!(message.contains("100000000-byte limit"), "{message}");
}

// ---------- config.json ----------

fn llama_config() -> Value {
    json!({
        "model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "intermediate_size": 176, "vocab_size": 512, "torch_dtype": "bfloat16"
    })
}

#[test]
fn broken_configs_name_the_field() {
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({"hidden_size": 4}), "model_type", "is required"),
        (
            {
                let mut c = llama_config();
                c["hidden_size"] = json!("big");
                c
            },
            "hidden_size",
            "non-negative integer",
        ),
        (
            {
                let mut c = llama_config();
                c["num_hidden_layers"] = json!(0);
                c
            },
            "num_hidden_layers",
            "at least 1",
        ),
        (
            {
                let mut c = llama_config();
                c["num_key_value_heads"] = json!(3);
                c
            },
            "num_key_value_heads",
            "does not divide",
        ),
        (
            {
                let mut c = llama_config();
                c["vocab_size"] = json!(1u64 << 40);
                c
            },
            "vocab_size",
            "implausibly large",
        ),
        (
            {
                let mut c = llama_config();
                c.as_object_mut().unwrap().remove("intermediate_size");
                c
            },
            "intermediate_size",
            "is required",
        ),
        (
            {
                let mut c = llama_config();
                c["tie_word_embeddings"] = json!("yes");
                c
            },
            "tie_word_embeddings",
            "true or false",
        ),
    ];
    for (config, key, text) in cases {
        let (field, message) =
            invalid_field(from_config(&config_map(config), "config.json").unwrap_err());
        assert_eq!(field, format!("config.json: {key}"));
        assert!(message.contains(text), "{key}: {message}");
    }
}

#[test]
fn huge_but_legal_configs_are_counted_quickly_or_refused() {
    // 16M layers with a 100k-entry mlp_only_layers list: linear time, and a total that overflows u64 is an error.
    let only: Vec<u64> = (0..100_000).collect();
    let config = config_map(json!({
        "model_type": "qwen3_moe", "hidden_size": 16_777_216, "num_hidden_layers": 16_777_216,
        "num_attention_heads": 16_777_216, "head_dim": 16_777_216, "intermediate_size": 16_777_216,
        "moe_intermediate_size": 16_777_216, "num_experts": 16_777_216, "vocab_size": 16_777_216,
        "mlp_only_layers": only
    }));
    let started = std::time::Instant::now();
    let (field, message) = invalid_field(from_config(&config, "config.json").unwrap_err());
    assert_eq!(field, "config.json");
    assert!(
        message.contains("more than a 64-bit count holds"),
        "{message}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn an_unknown_model_type_falls_back_to_the_safetensors_counts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"model_type": "mamba_next", "torch_dtype": "float16"}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("model.safetensors"),
        st_bytes(&[
            ("backbone.embeddings.weight", "F16", vec![10, 4], 80),
            (
                "backbone.layers.0.mixer.in_proj.weight",
                "F16",
                vec![8, 4],
                64,
            ),
            ("backbone.norm_f.weight", "F16", vec![4], 8),
        ]),
    )
    .unwrap();
    let spec = from_folder(dir.path()).unwrap();
    assert_eq!(spec.architecture, None);
    assert_eq!(spec.parameters.total, 40 + 32 + 4);
    assert_eq!(spec.stored_dtype, DType::F16);
    assert!(
        spec.notes
            .iter()
            .any(|n| n.contains("not one Headroom knows")),
        "{:?}",
        spec.notes
    );

    // Without safetensors nothing can be counted: a clear error.
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    let (field, _) = invalid_field(from_folder(dir.path()).unwrap_err());
    assert!(field.ends_with("config.json: model_type"), "{field}");
}

#[test]
fn a_header_count_that_disagrees_with_the_architecture_is_a_note_and_headers_win() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), llama_config().to_string()).unwrap();
    std::fs::write(
        dir.path().join("model.safetensors"),
        st_bytes(&[("model.embed_tokens.weight", "BF16", vec![512, 64], 65_536)]),
    )
    .unwrap();
    let spec = from_folder(dir.path()).unwrap();
    assert_eq!(spec.parameters.total, 32_768);
    assert!(spec.architecture.is_some());
    assert!(
        spec.notes
            .iter()
            .any(|n| n.contains("the architecture from config.json gives 158016")),
        "{:?}",
        spec.notes
    );
}

#[test]
fn a_bnb_4bit_checkpoint_is_counted_unpacked() {
    // One 8×16 linear quantized by bitsandbytes nf4 (2 values per byte), plus its quantization state.
    let dir = tempfile::tempdir().unwrap();
    let mut config = llama_config();
    config["quantization_config"] =
        json!({"quant_method": "bitsandbytes", "load_in_4bit": true, "bnb_4bit_quant_type": "nf4"});
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    std::fs::write(
        dir.path().join("model.safetensors"),
        st_bytes(&[
            ("model.layers.0.mlp.up_proj.weight", "U8", vec![64, 1], 64),
            (
                "model.layers.0.mlp.up_proj.weight.absmax",
                "F32",
                vec![2],
                8,
            ),
            (
                "model.layers.0.mlp.up_proj.weight.quant_map",
                "F32",
                vec![16],
                64,
            ),
            (
                "model.layers.0.mlp.up_proj.weight.quant_state.bitsandbytes__nf4",
                "U8",
                vec![100],
                100,
            ),
            ("model.norm.weight", "BF16", vec![8], 16),
        ]),
    )
    .unwrap();
    let spec = from_folder(dir.path()).unwrap();
    assert_eq!(spec.parameters.total, 128 + 8);
    assert_eq!(spec.parameters.linear, 128);
    assert_eq!(spec.stored_dtype, DType::Packed4);
    assert!(
        spec.notes.iter().any(|n| n.contains("bitsandbytes 4-bit")),
        "{:?}",
        spec.notes
    );
}

#[test]
fn stored_buffers_are_not_parameters() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), r#"{"model_type": "x_moe"}"#).unwrap();
    std::fs::write(
        dir.path().join("model.safetensors"),
        st_bytes(&[
            ("model.layers.3.mlp.gate.weight", "BF16", vec![4, 8], 64),
            (
                "model.layers.3.mlp.gate.e_score_correction_bias",
                "F32",
                vec![4],
                16,
            ),
            (
                "model.layers.0.self_attn.rotary_emb.inv_freq",
                "F32",
                vec![2],
                8,
            ),
        ]),
    )
    .unwrap();
    let spec = from_folder(dir.path()).unwrap();
    assert_eq!(spec.parameters.total, 32);
    assert!(
        spec.notes
            .iter()
            .any(|n| n.contains("2 stored buffer tensors (6 elements")),
        "{:?}",
        spec.notes
    );
}

#[test]
fn a_gptq_checkpoint_is_counted_unpacked() {
    // GPTQ 4-bit, group 32: qweight (in·4/32, out) I32, qzeros, scales, g_idx (AutoGPTQ qlinear_cuda_old.py).
    let dir = tempfile::tempdir().unwrap();
    let mut config = llama_config();
    config["quantization_config"] = json!({"quant_method": "gptq", "bits": 4, "group_size": 32});
    std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
    std::fs::write(
        dir.path().join("model.safetensors"),
        st_bytes(&[
            (
                "model.layers.0.self_attn.q_proj.qweight",
                "I32",
                vec![8, 64],
                2048,
            ),
            (
                "model.layers.0.self_attn.q_proj.qzeros",
                "I32",
                vec![2, 8],
                64,
            ),
            (
                "model.layers.0.self_attn.q_proj.scales",
                "F16",
                vec![2, 64],
                256,
            ),
            (
                "model.layers.0.self_attn.q_proj.g_idx",
                "I32",
                vec![64],
                256,
            ),
        ]),
    )
    .unwrap();
    let spec = from_folder(dir.path()).unwrap();
    assert_eq!(spec.parameters.total, 64 * 64);
    assert_eq!(spec.stored_dtype, DType::Packed4);
    assert!(
        spec.notes.iter().any(|n| n.contains("GPTQ/AWQ")),
        "{:?}",
        spec.notes
    );

    let mut bad = llama_config();
    bad["quantization_config"] = json!({"quant_method": "gptq", "bits": 5});
    let (field, _) = invalid_field(from_config(&config_map(bad), "config.json").unwrap_err());
    assert_eq!(field, "config.json: quantization_config.bits");
}

#[test]
fn a_tied_checkpoint_that_stores_lm_head_counts_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let src = fixtures().join("models/tiny-qwen2");
    std::fs::copy(src.join("config.json"), dir.path().join("config.json")).unwrap();
    let header = read_header(&src.join("model.safetensors")).unwrap();
    let mut tensors: Vec<(&str, &str, Vec<u64>, u64)> = header
        .tensors
        .iter()
        .map(|t| (t.name.as_str(), "BF16", t.shape.clone(), t.bytes))
        .collect();
    tensors.push(("lm_head.weight", "BF16", vec![512, 64], 65_536));
    std::fs::write(dir.path().join("model.safetensors"), st_bytes(&tensors)).unwrap();
    let spec = from_folder(dir.path()).unwrap();
    assert_eq!(spec.parameters.total, 119_360);
    assert!(
        spec.notes.iter().any(|n| n.contains("counted once")),
        "{:?}",
        spec.notes
    );
}

// ---------- the catalog ----------

/// Entries whose reference `param_count_exact` does not follow from the reference's own facts; the counts here
/// are those the facts give, confirmed by docs/estimator.md §2.1 (§8 "Checked totals", §9.B) and by the sources the
/// catalog names.
const REFERENCE_DISCREPANCIES: &[(&str, u64, u64)] = &[
    ("cyberagent/calm3-22b-chat", 19_824_973_824, 22_542_882_816),
    (
        "deepseek-ai/DeepSeek-V2-Lite",
        15_748_993_024,
        15_706_484_224,
    ),
];

#[test]
fn every_reference_model_is_in_the_catalog_with_its_exact_count() {
    let reference = read_json(&fixtures().join("reference/model_configs.json"));
    let reference = reference.as_object().unwrap();
    assert!(reference.len() >= 56);
    for (id, entry) in reference {
        let expected = entry["param_count_exact"].as_u64().unwrap();
        let spec = from_catalog(id)
            .unwrap()
            .unwrap_or_else(|| panic!("{id} missing"));
        assert_eq!(spec.source, ModelSource::Catalog);
        assert_eq!(&spec.id, id);
        match REFERENCE_DISCREPANCIES.iter().find(|(d, _, _)| d == id) {
            Some((_, reference_value, ours)) => {
                assert_eq!(expected, *reference_value, "{id}");
                assert_eq!(spec.parameters.total, *ours, "{id}");
            }
            None => assert_eq!(spec.parameters.total, expected, "{id}"),
        }
    }
    assert_eq!(catalog::entries().unwrap().len(), reference.len());
}

#[test]
fn catalog_lookup_ignores_case_and_keeps_the_source() {
    let spec = from_catalog("CYBERAGENT/calm3-22B-chat").unwrap().unwrap();
    assert_eq!(spec.id, "cyberagent/calm3-22b-chat");
    let arch = spec.architecture.unwrap();
    assert_eq!((arch.num_layers, arch.attention.num_kv_heads), (48, 48));
    assert!(spec.notes.iter().any(|n| n.starts_with("catalog source:")));
    assert!(from_catalog("nobody/nothing").unwrap().is_none());
    let found = catalog::search("32b").unwrap();
    assert!(found.iter().any(|e| e.id == "Qwen/Qwen2.5-32B-Instruct"));
    assert!(found.iter().any(|e| e.id == "Qwen/Qwen3-32B"));

    let ds = from_catalog("deepseek-ai/DeepSeek-V2-Lite")
        .unwrap()
        .unwrap();
    let mla = ds.architecture.as_ref().unwrap().attention.mla.unwrap();
    assert_eq!((mla.q_lora_rank, mla.kv_lora_rank), (None, 512));
    let moe = ds.architecture.unwrap().moe.unwrap();
    assert_eq!(
        (moe.moe_layers, moe.shared_experts, moe.num_experts),
        (26, 2, 64)
    );
}

#[test]
fn qwen2_moe_matches_an_independent_published_count() {
    // Qwen1.5-MoE-A2.7B's config.json (as quoted in its GPTQ repository's README) and the exact count KerasHub
    // lists for it (`qwen_moe_presets.py`, preset qwen1.5_moe_2.7b_en): 14,315,784,192.
    let config = config_map(json!({
        "model_type": "qwen2_moe", "hidden_size": 2048, "intermediate_size": 5632,
        "moe_intermediate_size": 1408, "shared_expert_intermediate_size": 5632, "num_attention_heads": 16,
        "num_key_value_heads": 16, "num_hidden_layers": 24, "num_experts": 60, "num_experts_per_tok": 4,
        "decoder_sparse_step": 1, "vocab_size": 151936, "tie_word_embeddings": false,
        "torch_dtype": "bfloat16"
    }));
    let spec = from_config(&config, "config.json").unwrap();
    assert_eq!(spec.parameters.total, 14_315_784_192);
    let arch = spec.architecture.unwrap();
    let moe = arch.moe.unwrap();
    assert_eq!(
        (moe.shared_experts, moe.shared_intermediate_size),
        (1, 5632)
    );
    let gate = arch
        .linear_layers
        .iter()
        .find(|g| g.name == "shared_expert_gate")
        .unwrap();
    assert_eq!(
        (gate.out_features, gate.count, gate.role),
        (1, 24, LinearRole::Router)
    );
}

#[test]
fn bloom_matches_independent_published_counts() {
    // bigscience/bloom-3b and bloom-560m shapes; exact counts from KerasHub's bloom_presets.py.
    for (hidden, layers, expected) in [(2560, 30, 3_002_557_440u64), (1024, 24, 559_214_592)] {
        let config = config_map(json!({
            "model_type": "bloom", "hidden_size": hidden, "n_layer": layers, "n_head": 16,
            "vocab_size": 250880
        }));
        let spec = from_config(&config, "config.json").unwrap();
        assert_eq!(spec.parameters.total, expected, "hidden {hidden}");
        assert_eq!(spec.parameters.lm_head, 0, "BLOOM ties its output layer");
    }
}

#[test]
fn deepseek_v3_style_config_with_q_lora_and_groups() {
    // DeepSeek-V3's published config.json shape (671B without the MTP layer).
    let config = config_map(json!({
        "model_type": "deepseek_v3", "hidden_size": 7168, "num_hidden_layers": 61,
        "num_attention_heads": 128, "num_key_value_heads": 128, "intermediate_size": 18432,
        "moe_intermediate_size": 2048, "n_routed_experts": 256, "n_shared_experts": 1,
        "num_experts_per_tok": 8, "first_k_dense_replace": 3, "moe_layer_freq": 1, "n_group": 8,
        "topk_group": 4, "q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 128,
        "qk_rope_head_dim": 64, "v_head_dim": 128, "vocab_size": 129280, "tie_word_embeddings": false,
        "num_nextn_predict_layers": 1, "torch_dtype": "bfloat16"
    }));
    let spec = from_config(&config, "config.json").unwrap();
    // docs/estimator.md §2.1 deepseek_v2 formula written out: q with q_lora_rank, MLA kv, o; 3 dense layers, 58 MoE
    // layers with router, 256 experts and one shared expert; 2 norms per layer; embed + lm_head + final norm.
    let (h, l, a, v) = (7168u64, 61u64, 128u64, 129_280u64);
    let (qr, kvr, nope, rope, vd) = (1536u64, 512u64, 128u64, 64u64, 128u64);
    let attn = h * qr
        + qr
        + qr * a * (nope + rope)
        + h * (kvr + rope)
        + kvr
        + kvr * a * (nope + vd)
        + a * vd * h;
    let dense = 3 * h * 18_432;
    let moe = h * 256 + 256 * 3 * h * 2048 + 3 * h * 2048;
    let expected = 2 * v * h + h + l * (attn + 2 * h) + 3 * dense + 58 * moe;
    assert_eq!(spec.parameters.total, expected);
    // The "671B" of the model card (685B with the 14B multi-token-prediction module, not built). A third-party
    // catalog found by code search lists the checkpoint's main-model weights as 671,026,419,200: ours plus the
    // 58 × 256 router `e_score_correction_bias` buffers, which model.parameters() does not yield.
    assert_eq!(spec.parameters.total / 1_000_000_000, 671);
    assert_eq!(spec.parameters.total + 58 * 256, 671_026_419_200);
    let names: Vec<&str> = spec
        .architecture
        .as_ref()
        .unwrap()
        .linear_layers
        .iter()
        .map(|g| g.name.as_str())
        .collect();
    for n in [
        "q_a_proj",
        "q_b_proj",
        "kv_a_proj_with_mqa",
        "kv_b_proj",
        "o_proj",
        "gate",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    assert!(spec
        .notes
        .iter()
        .any(|n| n.contains("num_nextn_predict_layers")));
}

#[test]
fn moe_configs_that_no_router_can_run_are_refused_by_field() {
    // Issue 11 item 4: more active experts than experts was accepted (and estimated).
    let mixtral = json!({
        "model_type": "mixtral", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "intermediate_size": 128, "vocab_size": 100, "num_local_experts": 8,
        "num_experts_per_tok": 2
    });
    let qwen_moe = json!({
        "model_type": "qwen2_moe", "hidden_size": 64, "intermediate_size": 128, "moe_intermediate_size": 32,
        "num_attention_heads": 4, "num_hidden_layers": 4, "num_experts": 60, "num_experts_per_tok": 4,
        "vocab_size": 100
    });
    let deepseek = json!({
        "model_type": "deepseek_v3", "hidden_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4,
        "intermediate_size": 128, "moe_intermediate_size": 32, "n_routed_experts": 256, "n_shared_experts": 1,
        "num_experts_per_tok": 8, "first_k_dense_replace": 1, "n_group": 8, "topk_group": 4,
        "kv_lora_rank": 16, "qk_nope_head_dim": 8, "qk_rope_head_dim": 4, "v_head_dim": 8, "vocab_size": 100
    });
    for base in [&mixtral, &qwen_moe, &deepseek] {
        from_config(&config_map(base.clone()), "config.json").expect("the valid base config");
    }
    let with = |base: &Value, changes: Value| {
        let mut c = base.clone();
        for (k, v) in changes.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let cases = [
        (
            with(&mixtral, json!({"num_experts_per_tok": 9})),
            "num_experts_per_tok",
            "9 active experts per token is more than the 8 experts (num_local_experts)",
        ),
        (
            with(
                &mixtral,
                json!({"num_local_experts": null, "num_experts": 4, "num_experts_per_tok": 5}),
            ),
            "num_experts_per_tok",
            "more than the 4 experts (num_experts)",
        ),
        (
            with(&qwen_moe, json!({"num_experts_per_tok": 61})),
            "num_experts_per_tok",
            "61 active experts per token is more than the 60 experts (num_experts)",
        ),
        (
            with(&qwen_moe, json!({"mlp_only_layers": [1, 4]})),
            "mlp_only_layers",
            "lists layer 4, but the layers are numbered 0 to 3",
        ),
        (
            with(&deepseek, json!({"num_experts_per_tok": 257})),
            "num_experts_per_tok",
            "more than the 256 experts (n_routed_experts)",
        ),
        (
            with(&deepseek, json!({"topk_group": 9})),
            "topk_group",
            "must be between 1 and n_group (8)",
        ),
        (
            with(&deepseek, json!({"n_group": 7})),
            "n_group",
            "7 groups do not divide n_routed_experts (256)",
        ),
        (
            with(&deepseek, json!({"n_group": 0})),
            "n_group",
            "at least 1",
        ),
        (
            with(&deepseek, json!({"topk_group": 1, "num_experts_per_tok": 33})),
            "num_experts_per_tok",
            "33 active experts per token is more than the 32 experts its topk_group (1) groups of 32 hold",
        ),
        (
            with(&mixtral, json!({"num_experts_per_tok": 0})),
            "num_experts_per_tok",
            "at least 1",
        ),
        (
            with(&mixtral, json!({"num_key_value_heads": 8})),
            "num_key_value_heads",
            "8 does not divide num_attention_heads (4)",
        ),
        (
            with(&qwen_moe, json!({"num_hidden_layers": 0})),
            "num_hidden_layers",
            "at least 1",
        ),
    ];
    for (config, key, text) in cases {
        let (field, message) =
            invalid_field(from_config(&config_map(config), "config.json").unwrap_err());
        assert_eq!(field, format!("config.json: {key}"), "{message}");
        assert!(message.contains(text), "{key}: {message}");
    }
}

// ---------- the Hugging Face cache ----------

#[test]
fn hub_cache_dir_follows_huggingface_hub_precedence() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    assert_eq!(
        hf_cache::hub_cache_dir(env(&[
            ("HF_HUB_CACHE", "/a"),
            ("HF_HOME", "/b"),
            ("HOME", "/h")
        ])),
        Some(PathBuf::from("/a"))
    );
    assert_eq!(
        hf_cache::hub_cache_dir(env(&[("HF_HOME", "/b"), ("HOME", "/h")])),
        Some(PathBuf::from("/b/hub"))
    );
    assert_eq!(
        hf_cache::hub_cache_dir(env(&[("HOME", "/h")])),
        Some(PathBuf::from("/h/.cache/huggingface/hub"))
    );
    assert_eq!(
        hf_cache::hub_cache_dir(env(&[("HUGGINGFACE_HUB_CACHE", "/old"), ("HF_HOME", "/b")])),
        Some(PathBuf::from("/old"))
    );
    assert_eq!(
        hf_cache::hub_cache_dir(env(&[("XDG_CACHE_HOME", "/x"), ("HOME", "/h")])),
        Some(PathBuf::from("/x/huggingface/hub"))
    );
    assert_eq!(hf_cache::hub_cache_dir(env(&[])), None);
}

/// A cache with one model: two snapshots sharing a blob through symlinks, refs/main on the newer one.
#[cfg(unix)]
fn make_cache(root: &Path) -> PathBuf {
    use std::os::unix::fs::symlink;
    let repo = root.join("models--tiny-org--tiny-llama");
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    let src = fixtures().join("models/tiny-llama");
    let files = ["config.json", "model.safetensors"];
    for (i, f) in files.iter().enumerate() {
        std::fs::copy(src.join(f), repo.join("blobs").join(format!("blob{i}"))).unwrap();
    }
    for rev in ["aaaa1111", "bbbb2222"] {
        let snap = repo.join("snapshots").join(rev);
        std::fs::create_dir_all(&snap).unwrap();
        for (i, f) in files.iter().enumerate() {
            symlink(format!("../../blobs/blob{i}"), snap.join(f)).unwrap();
        }
    }
    std::fs::write(repo.join("refs/main"), "bbbb2222").unwrap();
    std::fs::create_dir_all(root.join("datasets--someone--data")).unwrap();
    repo
}

#[cfg(unix)]
#[test]
fn cache_scan_counts_each_blob_once_and_resolves_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let repo = make_cache(dir.path());
    let models = hf_cache::scan(dir.path()).unwrap();
    assert_eq!(models.len(), 1, "datasets are not models");
    let m = &models[0];
    assert_eq!(m.id, "tiny-org/tiny-llama");
    assert_eq!(m.revision.as_deref(), Some("bbbb2222"));
    assert_eq!(m.snapshots, vec!["aaaa1111", "bbbb2222"]);
    assert!(m.has_config);
    let expected = std::fs::metadata(repo.join("blobs/blob0")).unwrap().len()
        + std::fs::metadata(repo.join("blobs/blob1")).unwrap().len();
    assert_eq!(m.size_on_disk_bytes, expected);

    // A broken symlink is reported, not fatal.
    std::os::unix::fs::symlink(
        "../../blobs/missing",
        repo.join("snapshots/aaaa1111/x.json"),
    )
    .unwrap();
    let models = hf_cache::scan(dir.path()).unwrap();
    assert_eq!(models[0].size_on_disk_bytes, expected);
    assert!(models[0]
        .problems
        .iter()
        .any(|p| p.contains("broken symlink")));

    let resolver = Resolver {
        hub_cache: Some(dir.path().to_path_buf()),
    };
    let spec = resolve(&ModelRef::Id("Tiny-Org/tiny-llama".into()), &resolver).unwrap();
    assert_eq!(spec.parameters.total, 158_016);
    assert_eq!(
        spec.source,
        ModelSource::HfCache {
            path: repo.join("snapshots/bbbb2222"),
            revision: "bbbb2222".into()
        }
    );
    // Real copies instead of symlinks count too.
    std::fs::write(repo.join("snapshots/aaaa1111/README.md"), b"12345").unwrap();
    assert_eq!(
        hf_cache::scan(dir.path()).unwrap()[0].size_on_disk_bytes,
        expected + 5
    );
}

#[test]
fn a_missing_cache_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    assert!(hf_cache::scan(&dir.path().join("nope")).unwrap().is_empty());
}

// ---------- ModelRef ----------

#[test]
fn model_ref_is_exactly_one_of_id_path_config() {
    assert_eq!(
        ModelRef::from_value(&json!({"id": "Qwen/Qwen3-8B"})).unwrap(),
        ModelRef::Id("Qwen/Qwen3-8B".into())
    );
    assert!(matches!(
        ModelRef::from_value(&json!({"config": {"model_type": "llama"}})).unwrap(),
        ModelRef::Config(_)
    ));
    let (field, _) =
        invalid_field(ModelRef::from_value(&json!({"id": "a", "path": "/b"})).unwrap_err());
    assert_eq!(field, "model");
    let (field, _) = invalid_field(ModelRef::from_value(&json!({"name": "a"})).unwrap_err());
    assert_eq!(field, "model.name");
    let (field, _) = invalid_field(ModelRef::from_value(&json!({})).unwrap_err());
    assert_eq!(field, "model");
    let (field, _) = invalid_field(ModelRef::from_value(&json!({"id": 3})).unwrap_err());
    assert_eq!(field, "model.id");
    // Plain serde gives the same shape, for callers that deserialize a whole plan.
    assert!(serde_json::from_value::<ModelRef>(json!({"id": "a", "path": "b"})).is_err());
    assert!(serde_json::from_value::<ModelRef>(json!({"bogus": "a"})).is_err());

    let spec = resolve(
        &ModelRef::Config(config_map(llama_config())),
        &Resolver::default(),
    )
    .unwrap();
    assert_eq!(spec.parameters.total, 158_016);
    assert_eq!(spec.source, ModelSource::RawConfig);
    let (field, _) = invalid_field(
        resolve(&ModelRef::Id("no/such-model".into()), &Resolver::default()).unwrap_err(),
    );
    assert_eq!(field, "model.id");
}

// ---------- the model's notes, as messages ----------

/// Each note of `spec` has its message in its place: a model key with exactly its arguments, whose English is the
/// note word for word. Returns the keys seen.
fn keyed_notes(spec: &headroom_core::model::ModelSpec) -> Vec<String> {
    assert_eq!(
        spec.notes.len(),
        spec.note_messages.len(),
        "{:?}",
        spec.notes
    );
    for (note, m) in spec.notes.iter().zip(&spec.note_messages) {
        m.check().unwrap_or_else(|e| panic!("{note}: {e}"));
        assert!(
            m.key.starts_with("backend.note.model."),
            "{note}: {}",
            m.key
        );
        assert_eq!(m.english().as_deref(), Some(note.as_str()), "{}", m.key);
    }
    spec.note_messages.iter().map(|m| m.key.clone()).collect()
}

fn write_folder(dir: &Path, config: &Value, tensors: &[(&str, &str, Vec<u64>, u64)]) {
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    if !tensors.is_empty() {
        std::fs::write(dir.join("model.safetensors"), st_bytes(tensors)).unwrap();
    }
}

/// Every note the model's code writes reaches the UI as a keyed message (none as English words only), and every
/// model note key is written by one of these models.
#[test]
fn every_model_note_is_keyed_and_every_model_key_is_written() {
    let mut seen = std::collections::BTreeSet::new();
    let mut see = |spec: &headroom_core::model::ModelSpec| seen.extend(keyed_notes(spec));

    // The catalog (its provenance, its own remarks, BERT, T5, configs without a dtype) and the tiny checkpoints.
    for entry in catalog::entries().unwrap() {
        see(&from_catalog(&entry.id).unwrap().unwrap());
    }
    for dir in std::fs::read_dir(fixtures().join("models")).unwrap() {
        let dir = dir.unwrap().path();
        if dir.join("config.json").is_file() {
            see(&from_folder(&dir).unwrap());
        }
    }

    // Raw configs: an unknown dtype, an unknown and a known quantization, DeepSeek's routing groups and MTP layers.
    let with = |extra: Value| {
        let mut c = llama_config();
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    for config in [
        with(json!({"torch_dtype": "float64"})),
        with(json!({"quantization_config": {"quant_method": "hqq"}})),
        with(json!({"quantization_config": {"quant_method": "gptq", "bits": 4}})),
        json!({
            "model_type": "deepseek_v3", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 4, "intermediate_size": 128, "moe_intermediate_size": 32,
            "n_routed_experts": 8, "n_shared_experts": 1, "num_experts_per_tok": 2, "first_k_dense_replace": 1,
            "n_group": 4, "topk_group": 2, "kv_lora_rank": 16, "qk_nope_head_dim": 16, "qk_rope_head_dim": 8,
            "v_head_dim": 16, "vocab_size": 256, "num_nextn_predict_layers": 1, "torch_dtype": "bfloat16"
        }),
    ] {
        see(&from_config(&config_map(config), "config.json").unwrap());
    }

    // Folders: what the headers say beside config.json.
    let folder = |config: Value, tensors: &[(&str, &str, Vec<u64>, u64)]| {
        let dir = tempfile::tempdir().unwrap();
        write_folder(dir.path(), &config, tensors);
        from_folder(dir.path()).unwrap()
    };
    // An unknown model type: counts and breakdown from tensor names; buffers; a BOOL tensor Headroom cannot size.
    see(&folder(
        json!({"model_type": "x_moe", "torch_dtype": "bfloat16"}),
        &[
            ("model.layers.3.mlp.gate.weight", "BF16", vec![4, 8], 64),
            (
                "model.layers.3.mlp.gate.e_score_correction_bias",
                "F32",
                vec![4],
                16,
            ),
            ("model.layers.3.mlp.mask", "BOOL", vec![4], 4),
        ],
    ));
    // Headers that disagree with config.json on dtype and count; a quantization state with no packed weight.
    see(&folder(
        llama_config(),
        &[
            ("model.embed_tokens.weight", "F16", vec![512, 64], 65_536),
            ("model.layers.0.mlp.up_proj.weight.SCB", "F32", vec![4], 16),
        ],
    ));
    // bitsandbytes 4-bit weights and their state.
    see(&folder(
        with(
            json!({"quantization_config": {"quant_method": "bitsandbytes", "load_in_4bit": true}}),
        ),
        &[
            ("model.layers.0.mlp.up_proj.weight", "U8", vec![64, 1], 64),
            (
                "model.layers.0.mlp.up_proj.weight.absmax",
                "F32",
                vec![2],
                8,
            ),
            (
                "model.layers.0.mlp.up_proj.weight.quant_state.bitsandbytes__nf4",
                "U8",
                vec![100],
                100,
            ),
        ],
    ));
    // GPTQ qweights.
    see(&folder(
        with(json!({"quantization_config": {"quant_method": "gptq", "bits": 4}})),
        &[
            (
                "model.layers.0.self_attn.q_proj.qweight",
                "I32",
                vec![8, 64],
                2048,
            ),
            (
                "model.layers.0.self_attn.q_proj.scales",
                "F16",
                vec![2, 64],
                256,
            ),
        ],
    ));
    // Tied embeddings with lm_head stored anyway.
    let tied = {
        let mut c = llama_config();
        c["tie_word_embeddings"] = json!(true);
        c
    };
    see(&folder(
        tied,
        &[
            ("model.embed_tokens.weight", "BF16", vec![512, 64], 65_536),
            ("lm_head.weight", "BF16", vec![512, 64], 65_536),
        ],
    ));
    // No safetensors; PyTorch .bin weights.
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path(), &llama_config(), &[]);
    std::fs::write(dir.path().join("pytorch_model.bin"), b"not read").unwrap();
    see(&from_folder(dir.path()).unwrap());
    // A sharded checkpoint whose index leaves a tensor out and misstates the total size.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), llama_config().to_string()).unwrap();
    std::fs::write(
        dir.path().join("model-00001-of-00001.safetensors"),
        st_bytes(&[
            ("model.embed_tokens.weight", "BF16", vec![512, 64], 65_536),
            ("model.norm.weight", "BF16", vec![64], 128),
        ]),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("model.safetensors.index.json"),
        json!({"metadata": {"total_size": 1}, "weight_map": {
            "model.embed_tokens.weight": "model-00001-of-00001.safetensors"}})
        .to_string(),
    )
    .unwrap();
    see(&from_folder(dir.path()).unwrap());

    // Every catalog remark has its own key; the fallback is for a remark added without one.
    assert!(!seen.contains("backend.note.model.catalog_note"));
    let unknown = headroom_core::model::catalog_remark("a remark nobody keyed");
    assert_eq!(unknown.key, "backend.note.model.catalog_note");
    assert_eq!(unknown.english().as_deref(), Some("a remark nobody keyed"));
    seen.insert(unknown.key.to_string());
    for key in headroom_core::message::Key::ALL {
        let k = key.as_str();
        if k.starts_with("backend.note.model.") {
            assert!(seen.contains(k), "{k} never written: {seen:?}");
        }
    }
}
