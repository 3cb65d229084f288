//! `headroom-cli models scan|show` as a user runs them, with the Hugging Face cache in a temporary folder.

use std::path::{Path, PathBuf};
use std::process::Output;

use super::{assert_exit, cli_command, ok_json as stdout_json};

fn fixtures() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures"))
}

fn models(home: &Path, args: &[&str]) -> Output {
    cli_command(home)
        .arg("models")
        .args(args)
        .env_remove("HF_HOME")
        .env_remove("HUGGINGFACE_HUB_CACHE")
        .env("HF_HUB_CACHE", home.join("hub"))
        .output()
        .expect("run headroom-cli")
}

/// One cached model: blobs plus a snapshot of symlinks, as huggingface_hub writes it.
#[cfg(unix)]
fn cache_with_tiny_qwen2(home: &Path) -> u64 {
    let repo = home.join("hub/models--tiny--qwen2");
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    let snap = repo.join("snapshots/0123abcd");
    std::fs::create_dir_all(&snap).unwrap();
    let mut size = 0;
    for (i, f) in ["config.json", "model.safetensors"].iter().enumerate() {
        let blob = repo.join("blobs").join(format!("b{i}"));
        std::fs::copy(fixtures().join("models/tiny-qwen2").join(f), &blob).unwrap();
        size += std::fs::metadata(&blob).unwrap().len();
        std::os::unix::fs::symlink(format!("../../blobs/b{i}"), snap.join(f)).unwrap();
    }
    std::fs::write(repo.join("refs/main"), "0123abcd\n").unwrap();
    size
}

#[cfg(unix)]
#[test]
fn scan_lists_the_cache_with_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let size = cache_with_tiny_qwen2(dir.path());
    let value = stdout_json(&models(dir.path(), &["scan", "--json"]));
    assert_eq!(value["cache_dir"], dir.path().join("hub").to_str().unwrap());
    let list = value["models"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], "tiny/qwen2");
    assert_eq!(list[0]["revision"], "0123abcd");
    assert_eq!(list[0]["size_on_disk_bytes"], size);

    let out = models(dir.path(), &["scan"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("tiny/qwen2") && text.contains("GiB"),
        "{text}"
    );

    // `show` finds a cached model by id, any case.
    let value = stdout_json(&models(dir.path(), &["show", "TINY/qwen2", "--json"]));
    assert_eq!(value["parameters"]["total"], 119_360);
    assert_eq!(value["source"]["kind"], "hf_cache");
    assert_eq!(value["source"]["revision"], "0123abcd");
}

#[test]
fn scan_of_an_empty_cache_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let value = stdout_json(&models(dir.path(), &["scan", "--json"]));
    assert_eq!(value["models"], serde_json::json!([]));
}

#[test]
fn show_a_folder_and_a_catalog_id() {
    let dir = tempfile::tempdir().unwrap();
    let folder = fixtures().join("models/tiny-mixtral");
    let value = stdout_json(&models(
        dir.path(),
        &["show", folder.to_str().unwrap(), "--json"],
    ));
    assert_eq!(value["parameters"]["total"], 222_016);
    assert_eq!(value["stored_dtype"], "bf16");
    assert_eq!(value["architecture"]["moe"]["num_experts"], 4);

    let out = models(dir.path(), &["show", "cyberagent/calm3-22b-chat"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("22,542,882,816"), "{text}");
    assert!(text.contains("q_proj"), "{text}");
}

#[test]
fn show_of_an_unknown_model_exits_2_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let out = models(dir.path(), &["show", "nobody/nothing"]);
    assert_exit(&out, 2);
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("model.id"), "{err}");
}

#[test]
fn show_of_a_folder_with_a_hostile_header_exits_2_naming_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("evil");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(
        fixtures().join("models/tiny-llama/config.json"),
        folder.join("config.json"),
    )
    .unwrap();
    let header = br#"{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 4000]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(&[0; 16]);
    std::fs::write(folder.join("model.safetensors"), bytes).unwrap();
    let out = models(dir.path(), &["show", folder.to_str().unwrap()]);
    assert_exit(&out, 2);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("model.safetensors: tensor \"w\".data_offsets"),
        "{err}"
    );

    // A broken config.json: exit 2, the file named.
    std::fs::write(folder.join("config.json"), "{\"model_type\": ").unwrap();
    let out = models(dir.path(), &["show", folder.to_str().unwrap()]);
    assert_exit(&out, 2);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("config.json") && err.contains("not valid JSON"),
        "{err}"
    );
}
