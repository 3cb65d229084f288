//! Reading the headers of a 30-shard model (issue 3 item 8: under 20 ms).
//!
//! The setup writes a Llama-3.1-70B-shaped checkpoint (80 layers, 9 tensors each, bf16) as 30 shards plus
//! `model.safetensors.index.json` into a temporary folder. The weight buffers are sparse (`set_len`), so the
//! files claim their real sizes (~141 GB in all) without using the disk; only the headers are ever read.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use headroom_core::model::{from_folder, safetensors::read_folder};
use serde_json::json;

const SHARDS: usize = 30;

fn llama70b_tensors() -> Vec<(String, Vec<u64>)> {
    let (h, i, v, kv) = (8192u64, 28672u64, 128_256u64, 1024u64);
    let mut t = vec![("model.embed_tokens.weight".to_owned(), vec![v, h])];
    for l in 0..80 {
        let p = format!("model.layers.{l}");
        t.push((format!("{p}.input_layernorm.weight"), vec![h]));
        t.push((format!("{p}.post_attention_layernorm.weight"), vec![h]));
        t.push((format!("{p}.self_attn.q_proj.weight"), vec![h, h]));
        t.push((format!("{p}.self_attn.k_proj.weight"), vec![kv, h]));
        t.push((format!("{p}.self_attn.v_proj.weight"), vec![kv, h]));
        t.push((format!("{p}.self_attn.o_proj.weight"), vec![h, h]));
        t.push((format!("{p}.mlp.gate_proj.weight"), vec![i, h]));
        t.push((format!("{p}.mlp.up_proj.weight"), vec![i, h]));
        t.push((format!("{p}.mlp.down_proj.weight"), vec![h, i]));
    }
    t.push(("model.norm.weight".to_owned(), vec![h]));
    t.push(("lm_head.weight".to_owned(), vec![v, h]));
    t
}

fn write_model(dir: &Path) {
    let tensors = llama70b_tensors();
    let per_shard = tensors.len().div_ceil(SHARDS);
    let mut weight_map = serde_json::Map::new();
    let mut total = 0u64;
    for (s, chunk) in tensors.chunks(per_shard).enumerate() {
        let name = format!("model-{:05}-of-{SHARDS:05}.safetensors", s + 1);
        let mut header = serde_json::Map::new();
        let mut offset = 0u64;
        for (tensor, shape) in chunk {
            let bytes = shape.iter().product::<u64>() * 2;
            header.insert(
                tensor.clone(),
                json!({"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + bytes]}),
            );
            offset += bytes;
            weight_map.insert(tensor.clone(), json!(name));
        }
        header.insert("__metadata__".into(), json!({"format": "pt"}));
        let header = serde_json::to_vec(&header).unwrap();
        let mut file = File::create(dir.join(&name)).unwrap();
        file.write_all(&(header.len() as u64).to_le_bytes())
            .unwrap();
        file.write_all(&header).unwrap();
        file.set_len(8 + header.len() as u64 + offset).unwrap();
        total += offset;
    }
    let index = json!({"metadata": {"total_size": total}, "weight_map": weight_map});
    std::fs::write(
        dir.join("model.safetensors.index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    let config = json!({
        "model_type": "llama", "hidden_size": 8192, "num_hidden_layers": 80, "num_attention_heads": 64,
        "num_key_value_heads": 8, "intermediate_size": 28672, "vocab_size": 128256,
        "tie_word_embeddings": false, "torch_dtype": "bfloat16"
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
}

fn headers(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    write_model(dir.path());
    let spec = from_folder(dir.path()).unwrap();
    assert_eq!(spec.parameters.total, 70_553_706_496);
    assert!(
        spec.notes.iter().all(|n| !n.contains("gives")),
        "{:?}",
        spec.notes
    );

    c.bench_function(
        "read_folder: 30 shard headers (Llama-3.1-70B layout)",
        |b| b.iter(|| read_folder(dir.path()).unwrap()),
    );
    c.bench_function("from_folder: config + 30 shard headers + counts", |b| {
        b.iter(|| from_folder(dir.path()).unwrap())
    });
}

criterion_group!(benches, headers);
criterion_main!(benches);
