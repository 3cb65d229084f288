//! Presets and per-model configs over IPC: the store's rules reach the UI as `{code, message}` or as
//! per-field errors, and a second window's save is told of the conflict.

use serde_json::{json, Value};

use std::path::Path;

use crate::{assert_mentions, assert_refused, harness, invoke, Harness};

fn user_int4(h: &Harness) -> Value {
    invoke(h, "duplicate_preset", json!({"from": "int4", "to": "mine"})).unwrap()
}

/// Export a preset through the save dialog, answered with `path` (`None`: nothing is answered, so a dialog
/// that opened would fail the command).
fn export_preset(
    h: &Harness,
    name: &str,
    format: &str,
    model_id: Value,
    path: Option<&Path>,
) -> Result<Value, Value> {
    if let Some(path) = path {
        h.pick(path);
    }
    invoke(
        h,
        "export_preset_dialog",
        json!({"name": name, "format": format, "modelId": model_id}),
    )
}

/// Import a preset through the open dialog, answered with `path`.
fn import_preset(h: &Harness, name: &str, path: &Value) -> Result<Value, Value> {
    h.pick(path.as_str().unwrap());
    invoke(h, "import_preset_dialog", json!({"name": name}))
}

/// The wizard's row for `preset` among `rows`.
fn row_of(rows: &Value, preset: &str) -> Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["preset"] == json!(preset))
        .unwrap_or_else(|| panic!("no {preset} row in {rows}"))
        .clone()
}

#[test]
fn list_has_the_builtins_first_then_user_presets() {
    let h = harness();
    user_int4(&h);
    let list = invoke(&h, "list_presets", json!({})).unwrap();
    let names: Vec<&str> = list["presets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "fp32",
            "bf16",
            "fp16",
            "int8",
            "int4",
            "int4_double",
            "int4_offload",
            "cpu",
            "mine"
        ]
    );
    assert_eq!(list["presets"][4]["builtin"], json!(true));
    assert_eq!(list["presets"][4]["revision"], Value::Null);
    assert_eq!(list["presets"][8]["builtin"], json!(false));
    assert!(list["presets"][8]["revision"].is_string());
}

#[test]
fn check_reports_each_field_and_previews_the_bnb_dict() {
    let h = harness();
    let mut body = user_int4(&h)["body"].clone();
    let check = invoke(&h, "check_preset", json!({"body": body})).unwrap();
    assert_eq!(check["errors"], json!([]));
    let dict: Value = serde_json::from_str(check["bnb_json"].as_str().unwrap()).unwrap();
    assert_eq!(dict["load_in_4bit"], json!(true));
    assert_eq!(dict["bnb_4bit_quant_type"], json!("nf4"));
    body["load"]["max_memory"] = json!({"0": "10GiB", "1": "30GB"});
    let check = invoke(&h, "check_preset", json!({"body": body})).unwrap();
    assert_eq!(
        check["max_memory_bytes"],
        json!({"0": 10u64 << 30, "1": 30_000_000_000u64}),
        "{check}"
    );
    body["load"]["max_memory"] = json!({"0": "10 apples"});
    body["quantization"]["load_in_8bit"] = json!(true);
    let check = invoke(&h, "check_preset", json!({"body": body})).unwrap();
    let fields: Vec<&str> = check["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"load.max_memory.0"), "{check}");
    assert!(check["bnb_json"].is_null());
    // Saving the same draft is refused with the field named.
    let err = invoke(
        &h,
        "save_preset",
        json!({"name": "mine", "body": body, "revision": Value::Null}),
    )
    .unwrap_err();
    assert_eq!(err["code"], json!("invalid"));
}

#[test]
fn a_second_windows_save_gets_a_conflict_not_a_silent_overwrite() {
    let h = harness();
    let first = user_int4(&h);
    let rev = first["revision"].clone();
    let mut body = first["body"].clone();
    body["description"] = json!("window one");
    let saved = invoke(
        &h,
        "save_preset",
        json!({"name": "mine", "body": body, "revision": rev}),
    )
    .unwrap();
    assert_ne!(saved["revision"], rev);
    body["description"] = json!("window two");
    let err = invoke(
        &h,
        "save_preset",
        json!({"name": "mine", "body": body, "revision": rev}),
    )
    .unwrap_err();
    assert_eq!(err["code"], json!("conflict"), "{err}");
    let list = invoke(&h, "list_presets", json!({})).unwrap();
    assert_eq!(
        list["presets"][8]["body"]["description"],
        json!("window one")
    );
    // Overwrite = save again with the revision just read.
    invoke(
        &h,
        "save_preset",
        json!({"name": "mine", "body": body, "revision": list["presets"][8]["revision"]}),
    )
    .unwrap();
}

#[test]
fn builtins_cannot_be_saved_and_names_cannot_escape() {
    let h = harness();
    let body = invoke(&h, "list_presets", json!({})).unwrap()["presets"][0]["body"].clone();
    let err = invoke(
        &h,
        "save_preset",
        json!({"name": "fp32", "body": body, "revision": Value::Null}),
    )
    .unwrap_err();
    assert_eq!(err["code"], json!("invalid"));
    assert_mentions(&err, "built-in");
    let err = invoke(
        &h,
        "duplicate_preset",
        json!({"from": "int4", "to": "../x"}),
    )
    .unwrap_err();
    assert_eq!(err["code"], json!("invalid"));
    assert_mentions(&err, "dot");
}

#[test]
fn delete_returns_the_preset_so_undo_can_bring_it_back() {
    let h = harness();
    let p = user_int4(&h);
    let deleted = invoke(
        &h,
        "delete_preset",
        json!({"name": "mine", "revision": p["revision"]}),
    )
    .unwrap();
    assert!(!h.paths.config_dir.join("presets/mine.json").exists());
    let back = invoke(
        &h,
        "create_preset",
        json!({"name": "mine", "body": deleted["body"]}),
    )
    .unwrap();
    assert_eq!(back["body"], p["body"]);
}

#[test]
fn rename_carries_configs_along() {
    let h = harness();
    let p = user_int4(&h);
    let config =
        json!({"preset": "mine", "task": "infer", "fallback_chain": ["mine", "int4_offload"]});
    invoke(
        &h,
        "save_config",
        json!({"modelId": "org/model", "config": config, "revision": Value::Null}),
    )
    .unwrap();
    let renamed = invoke(
        &h,
        "rename_preset",
        json!({"from": "mine", "to": "ours", "revision": p["revision"]}),
    )
    .unwrap();
    assert_eq!(renamed["configs_changed"], json!(["org/model"]));
    let configs = invoke(&h, "list_configs", json!({})).unwrap();
    assert_eq!(configs["configs"][0]["config"]["preset"], json!("ours"));
}

#[test]
fn exports_write_files_and_imports_read_them_back() {
    let h = harness();
    let dir = h.paths.data_dir.join("chosen");
    let out = export_preset(
        &h,
        "int4_double",
        "bnb_json",
        Value::Null,
        Some(&dir.join("q.bnb.json")),
    )
    .unwrap();
    let text = std::fs::read_to_string(out["path"].as_str().unwrap()).unwrap();
    assert_eq!(text, out["text"].as_str().unwrap());
    let imported = import_preset(&h, "back", &out["path"]).unwrap();
    assert_eq!(imported["source"], json!("bnb_json"));
    assert_eq!(
        imported["preset"]["body"]["quantization"]["bnb_4bit_use_double_quant"],
        json!(true)
    );
    // A preset that cannot export is refused before any dialog opens (none is answered here).
    let err = export_preset(&h, "fp16", "bnb_json", Value::Null, None).unwrap_err();
    assert_mentions(&err, "does not quantize");
    let err = export_preset(&h, "int4", "python", json!(""), None).unwrap_err();
    assert_refused(&err, "model_id:");
    let py = export_preset(
        &h,
        "int4",
        "python",
        json!("org/model"),
        Some(&dir.join("load.py")),
    )
    .unwrap();
    assert!(py["text"].as_str().unwrap().contains("from_pretrained"));
    assert_eq!(
        std::fs::read_to_string(dir.join("load.py")).unwrap(),
        py["text"].as_str().unwrap()
    );
    // No name given: the file's name, made safe, names the preset.
    let named = import_preset(&h, "", &json!(dir.join("q.bnb.json"))).unwrap();
    assert_eq!(named["preset"]["name"], json!("q"));
    let err = import_preset(&h, "x", &json!(dir.join("absent.json"))).unwrap_err();
    assert_mentions(&err, "absent.json");

    h.pick(dir.join("b.json"));
    let bundle = invoke(&h, "export_bundle_dialog", json!({})).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("b.json")).unwrap(),
        bundle["text"].as_str().unwrap()
    );
    std::fs::remove_file(h.paths.config_dir.join("presets/back.json")).unwrap();
    h.pick(dir.join("b.json"));
    let report = invoke(&h, "import_bundle_dialog", json!({"onConflict": "fail"})).unwrap();
    assert_eq!(report["presets"]["added"], json!(["back"]));
    assert_eq!(h.picks.remaining(), 0, "every dialog was answered once");
}

#[test]
fn a_cancelled_dialog_writes_and_imports_nothing() {
    let h = harness();
    let presets_dir = h.paths.config_dir.join("presets");
    let before = invoke(&h, "list_presets", json!({})).unwrap();
    let calls = [
        (
            "export_preset_dialog",
            json!({"name": "int4", "format": "bnb_json", "modelId": null}),
        ),
        ("export_bundle_dialog", json!({})),
        ("import_preset_dialog", json!({"name": "x"})),
        ("import_bundle_dialog", json!({"onConflict": "fail"})),
    ];
    for (cmd, args) in calls {
        h.cancel_pick();
        assert_eq!(invoke(&h, cmd, args).unwrap(), Value::Null, "{cmd}");
    }
    assert_eq!(h.picks.remaining(), 0, "each command opened its dialog");
    assert_eq!(invoke(&h, "list_presets", json!({})).unwrap(), before);
    assert!(!presets_dir.join("x.json").exists());
    let written: Vec<_> = std::fs::read_dir(&h.paths.data_dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(written.is_empty(), "{written:?}");
}

#[test]
fn the_path_taking_commands_are_gone() {
    let h = harness();
    let out = h.paths.data_dir.join("out.json");
    for (cmd, args) in [
        (
            "export_preset",
            json!({"name": "int4", "format": "bnb_json", "modelId": null, "path": out}),
        ),
        ("export_bundle", json!({"path": out})),
        ("import_preset", json!({"name": "x", "path": out})),
        ("import_bundle", json!({"path": out, "onConflict": "fail"})),
        (
            "env_export_to_file",
            json!({"name": "production", "format": "shell", "path": out}),
        ),
    ] {
        assert!(invoke(&h, cmd, args).is_err(), "{cmd} is still there");
    }
    assert!(!out.exists());
}

#[test]
fn a_corrupt_preset_is_reported_and_the_rest_load() {
    let h = harness();
    user_int4(&h);
    let dir = h.paths.config_dir.join("presets");
    std::fs::write(dir.join("broken.json"), "{not json").unwrap();
    let list = invoke(&h, "list_presets", json!({})).unwrap();
    assert_eq!(list["presets"].as_array().unwrap().len(), 9);
    assert_eq!(list["quarantined"].as_array().unwrap().len(), 1);
    assert!(list["quarantined"][0]["reason"].as_str().unwrap().len() > 3);
}

#[test]
fn config_check_names_fields_and_save_round_trips() {
    let h = harness();
    let bad = json!({"preset": "nope", "task": "train", "method": "qlora", "fallback_chain": ["int4", "int4"]});
    let errors = invoke(
        &h,
        "check_config",
        json!({"modelId": "org/model", "config": bad}),
    )
    .unwrap();
    let fields: Vec<&str> = errors
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"preset"), "{errors}");
    assert!(fields.contains(&"fallback_chain.1"), "{errors}");
    let good = json!({"preset": "int4", "task": "train", "method": "qlora", "lora": {"rank": 8}, "notes": "hi"});
    assert_eq!(
        invoke(
            &h,
            "check_config",
            json!({"modelId": "org/model", "config": good})
        )
        .unwrap(),
        json!([])
    );
    let saved = invoke(
        &h,
        "save_config",
        json!({"modelId": "org/model", "config": good, "revision": Value::Null}),
    )
    .unwrap();
    assert_eq!(saved["config"]["lora"]["rank"], json!(8));
    let err = invoke(
        &h,
        "save_config",
        json!({"modelId": "org/model", "config": good, "revision": Value::Null}),
    )
    .unwrap_err();
    assert_eq!(err["code"], json!("conflict"));
    let deleted = invoke(
        &h,
        "delete_config",
        json!({"modelId": "org/model", "revision": saved["revision"]}),
    )
    .unwrap();
    assert_eq!(deleted["config"]["notes"], json!("hi"));
    assert_eq!(
        invoke(&h, "list_configs", json!({})).unwrap()["configs"],
        json!([])
    );
}

#[test]
fn the_wizard_ranks_every_preset_user_ones_included() {
    let h = harness();
    user_int4(&h);
    let models = invoke(&h, "wizard_models", json!({"query": "llama-3.1-8b"})).unwrap();
    let id = models[0].as_str().unwrap().to_string();
    let gpus = invoke(&h, "wizard_gpus", json!({})).unwrap();
    assert!(gpus["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["name"] == json!("RTX 4090") && g["memory_bytes"] == json!(24564u64 << 20)));
    let ranking = invoke(
        &h,
        "wizard_rank",
        json!({"ask": {"model_id": id, "task": "train", "method": "qlora", "gpu": "H200", "memory_bytes": null, "gpu_count": 1}}),
    )
    .unwrap();
    let rows = ranking["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 9, "{rows:?}");
    let mine = rows.iter().find(|r| r["preset"] == json!("mine")).unwrap();
    let int4 = rows.iter().find(|r| r["preset"] == json!("int4")).unwrap();
    // The user's copy of int4 is estimated exactly as int4.
    assert_eq!(mine["device_peak_bytes"], int4["device_peak_bytes"]);
    assert_eq!(mine["builtin"], json!(false));
    // Best first: a GPU preset that fits, with a real peak; the CPU preset is never preferred to one.
    assert_eq!(rows[0]["fits"], json!(true), "{:?}", rows[0]);
    assert_ne!(rows[0]["preset"], json!("cpu"));
    // QLoRA: only 4-bit presets can be the answer; the others say why, after them.
    let fp16 = rows
        .iter()
        .position(|r| r["preset"] == json!("fp16"))
        .unwrap();
    assert!(rows[fp16]["unavailable"]
        .as_str()
        .unwrap()
        .contains("4-bit"));
    assert!(rows[..fp16]
        .iter()
        .all(|r| r["unavailable"].is_null() || r["preset"] != json!("int4")));
    assert!(
        rows[0]["preset"].as_str().unwrap().starts_with("int4")
            || rows[0]["preset"] == json!("mine")
    );
    assert!(
        rows[0]["device_peak_bytes"].as_u64().unwrap() > 1 << 30,
        "{:?}",
        rows[0]
    );

    let err = invoke(
        &h,
        "wizard_rank",
        json!({"ask": {"model_id": "nobody/none", "task": "infer", "method": null, "gpu": "RTX 4090", "memory_bytes": null, "gpu_count": 1}}),
    )
    .unwrap_err();
    assert_refused(&err, "model_id:");
}

#[test]
fn the_wizard_offers_this_machines_gpus_with_the_memory_free_now() {
    let h = harness();
    let id = invoke(&h, "wizard_models", json!({"query": "llama-3.1-8b"})).unwrap()[0].clone();
    // The fake source (as the e2e tests and demos use it). Only the Plan and wizard GPU lookups read this
    // variable, and the Plan's IPC test accepts either answer.
    std::env::set_var("HEADROOM_GPU_SOURCE", "fake:idle");
    let gpus = invoke(&h, "wizard_gpus", json!({})).unwrap();
    assert!(gpus["machine_unavailable"].is_null(), "{gpus}");
    let machine = gpus["machine"].as_array().unwrap();
    assert!(!machine.is_empty(), "{gpus}");
    for g in machine {
        let total = g["memory_bytes"].as_u64().unwrap();
        let free = g["free_bytes"].as_u64().unwrap();
        assert!(
            free > 0 && free < total,
            "idle still holds the CUDA context: {g}"
        );
    }
    let g0 = &machine[0];
    let ask = |memory: Value| json!({"ask": {"model_id": id, "task": "infer", "method": null, "gpu": g0["name"], "memory_bytes": memory, "gpu_count": 1}});
    // Planned against what is free: the headroom is the free memory less the peak.
    let rows = invoke(&h, "wizard_rank", ask(g0["free_bytes"].clone())).unwrap();
    let fp16 = row_of(&rows["rows"], "fp16");
    let tiny = invoke(&h, "wizard_rank", ask(json!(1u64 << 30))).unwrap();
    let tiny16 = row_of(&tiny["rows"], "fp16");
    assert_eq!(fp16["device_peak_bytes"], tiny16["device_peak_bytes"]);
    assert_eq!(tiny16["fits"], json!(false), "{tiny16}");
    assert!(fp16["headroom_bytes"].as_i64().unwrap() > tiny16["headroom_bytes"].as_i64().unwrap());
    let err = invoke(&h, "wizard_rank", ask(json!(0))).unwrap_err();
    assert_refused(&err, "memory_bytes:");

    // No driver: said plainly, and the catalog is still offered.
    if !std::path::Path::new("/proc/driver/nvidia").exists() {
        std::env::set_var("HEADROOM_GPU_SOURCE", "nvml");
        let gpus = invoke(&h, "wizard_gpus", json!({})).unwrap();
        assert_eq!(gpus["machine"], json!([]));
        assert!(
            gpus["machine_unavailable"].as_str().unwrap().len() > 10,
            "{gpus}"
        );
        assert!(!gpus["catalog"].as_array().unwrap().is_empty());
    }
    std::env::remove_var("HEADROOM_GPU_SOURCE");
}

/// The wizard's task-step answers for Llama 3.1 8B trained with LoRA on one H200, with `extra` merged in.
fn lora_ask(h: &Harness, extra: Value) -> Value {
    let id = invoke(h, "wizard_models", json!({"query": "llama-3.1-8b"})).unwrap()[0].clone();
    let mut ask = json!({"model_id": id, "task": "train", "method": "lora", "gpu": "H200", "memory_bytes": null, "gpu_count": 1});
    for (k, v) in extra.as_object().unwrap() {
        ask[k] = v.clone();
    }
    json!({ "ask": ask })
}

#[test]
fn the_wizard_ranks_at_the_batch_and_sequence_length_asked_for() {
    let h = harness();
    // Nothing given: the estimator's defaults, said in the answer so the wizard can show them.
    let default = invoke(&h, "wizard_rank", lora_ask(&h, json!({}))).unwrap();
    assert_eq!(default["batch_size"], json!(1), "{default}");
    assert_eq!(default["sequence_length"], json!(2048));
    assert_eq!(default["gradient_checkpointing"], json!(false));
    let peak = |r: &Value| {
        row_of(&r["rows"], "bf16")["device_peak_bytes"]
            .as_u64()
            .unwrap()
    };

    let big = invoke(
        &h,
        "wizard_rank",
        lora_ask(&h, json!({"batch_size": 8, "sequence_length": 4096})),
    )
    .unwrap();
    assert_eq!(big["batch_size"], json!(8));
    assert_eq!(big["sequence_length"], json!(4096));
    // 16 times the tokens: the activations, and so the peak, grow.
    assert!(
        peak(&big) > peak(&default),
        "{} <= {}",
        peak(&big),
        peak(&default)
    );
    let checkpointed = invoke(
        &h,
        "wizard_rank",
        lora_ask(
            &h,
            json!({"batch_size": 8, "sequence_length": 4096, "gradient_checkpointing": true}),
        ),
    )
    .unwrap();
    assert_eq!(checkpointed["gradient_checkpointing"], json!(true));
    assert!(peak(&checkpointed) < peak(&big));
    // Every batch padded or packed to the sequence length: nothing stranded by changing lengths in the central
    // peak (docs/estimator.md §10.3), and more room at the band's upper end, which decides (§17). Lengths left
    // open are not reported.
    assert!(
        checkpointed.get("fixed_lengths").is_none(),
        "{checkpointed}"
    );
    let fixed = invoke(
        &h,
        "wizard_rank",
        lora_ask(
            &h,
            json!({"batch_size": 8, "sequence_length": 4096, "gradient_checkpointing": true, "fixed_lengths": true}),
        ),
    )
    .unwrap();
    assert_eq!(fixed["fixed_lengths"], json!(true));
    assert!(peak(&fixed) < peak(&checkpointed));
    let headroom = |r: &Value| {
        row_of(&r["rows"], "bf16")["headroom_bytes"]
            .as_i64()
            .unwrap()
    };
    assert!(headroom(&fixed) > headroom(&checkpointed));

    // Inference has no backward pass: no checkpointing to report, and asking for it is refused.
    let infer = |extra: Value| {
        let mut ask = lora_ask(&h, extra);
        ask["ask"]["task"] = json!("infer");
        ask["ask"]["method"] = Value::Null;
        ask
    };
    let ranked = invoke(&h, "wizard_rank", infer(json!({"batch_size": 4}))).unwrap();
    assert_eq!(ranked["batch_size"], json!(4));
    assert_eq!(ranked["gradient_checkpointing"], Value::Null);
    let err = invoke(
        &h,
        "wizard_rank",
        infer(json!({"gradient_checkpointing": true})),
    )
    .unwrap_err();
    assert_refused(&err, "gradient_checkpointing: only applies to training");
}

#[test]
fn the_wizard_names_the_field_of_a_bad_batch_or_sequence_length() {
    let h = harness();
    for (extra, prefix) in [
        (
            json!({"batch_size": 0}),
            "batch_size: must be a positive integer",
        ),
        (json!({"batch_size": 1.5}), "batch_size: invalid type"),
        (json!({"batch_size": "eight"}), "batch_size: invalid type"),
        (
            json!({"sequence_length": -1}),
            "sequence_length: invalid value",
        ),
        (
            json!({"sequence_length": 0}),
            "sequence_length: must be a positive integer",
        ),
        (
            json!({"sequence_length": 1u64 << 30}),
            "sequence_length: 1073741824 is implausibly large",
        ),
        (
            json!({"gradient_checkpointing": "yes"}),
            "gradient_checkpointing: invalid type",
        ),
    ] {
        let err = invoke(&h, "wizard_rank", lora_ask(&h, extra.clone())).unwrap_err();
        assert_eq!(err["code"], json!("invalid"), "{extra}: {err}");
        assert_refused(&err, prefix);
    }
}

#[test]
fn a_config_previews_its_preset_with_the_overrides_applied() {
    let h = harness();
    let preview =
        |config: Value| invoke(&h, "preview_config", json!({ "config": config })).unwrap();
    let config = json!({
        "preset": "int4",
        "task": "infer",
        "overrides": {
            "max_memory": {"0": "20GiB"},
            "quantization": {"bnb_4bit_use_double_quant": true, "llm_int8_threshold": 5.5},
        },
    });
    let check = preview(config.clone());
    assert_eq!(check["errors"], json!([]), "{check}");
    let bnb: Value = serde_json::from_str(check["bnb_json"].as_str().unwrap()).unwrap();
    // Overridden fields take the override; the rest stay int4's.
    assert_eq!(bnb["bnb_4bit_use_double_quant"], json!(true));
    assert_eq!(bnb["llm_int8_threshold"], json!(5.5));
    assert_eq!(bnb["bnb_4bit_quant_type"], json!("nf4"));
    assert_eq!(bnb["bnb_4bit_compute_dtype"], json!("bfloat16"));
    assert_eq!(check["max_memory_bytes"], json!({"0": 20u64 << 30}));
    let kwargs: Value = serde_json::from_str(check["kwargs_json"].as_str().unwrap()).unwrap();
    assert_eq!(kwargs["max_memory"]["0"], json!("20GiB"), "{kwargs}");

    // A quantization override on an unquantized preset starts from BitsAndBytesConfig()'s defaults.
    let eight = preview(
        json!({"preset": "fp16", "task": "infer", "overrides": {"quantization": {"load_in_8bit": true}}}),
    );
    let bnb: Value = serde_json::from_str(eight["bnb_json"].as_str().unwrap()).unwrap();
    assert_eq!(bnb["load_in_8bit"], json!(true));
    assert_eq!(bnb["llm_int8_threshold"], json!(6.0));
    assert_eq!(
        preview(json!({"preset": "fp16", "task": "infer"}))["bnb_json"],
        Value::Null
    );

    // No preview for a broken draft, with the path check_config reports for the same field.
    let bad = json!({"preset": "int4", "task": "infer", "overrides": {"quantization": {"llm_int8_threshold": -1.0}}});
    let check = preview(bad.clone());
    assert_eq!(check["bnb_json"], Value::Null);
    assert_eq!(
        check["errors"][0]["field"],
        json!("overrides.quantization.llm_int8_threshold")
    );
    let errors = invoke(
        &h,
        "check_config",
        json!({"modelId": "org/model", "config": bad}),
    )
    .unwrap();
    assert_eq!(errors[0]["field"], check["errors"][0]["field"]);
    let typo = preview(
        json!({"preset": "int4", "task": "infer", "overrides": {"quantization": {"llm_int8_threshold": "high"}}}),
    );
    assert_eq!(
        typo["errors"][0]["field"],
        json!("overrides.quantization.llm_int8_threshold")
    );
    let unknown = preview(json!({"preset": "nope", "task": "infer"}));
    assert_eq!(unknown["errors"][0]["field"], json!("preset"));
}

#[test]
fn a_save_while_another_process_writes_the_config_gets_a_conflict_not_a_lost_update() {
    use headroom_core::store::{self, DirLock};
    use std::sync::mpsc;
    let h = harness();
    let config = json!({"preset": "int4", "task": "infer", "notes": "first"});
    let saved = invoke(
        &h,
        "save_config",
        json!({"modelId": "org/model", "config": config, "revision": Value::Null}),
    )
    .unwrap();
    // Another process (the CLI) holds the configs folder's lock and is about to write its change.
    let folder = h.paths.config_dir.join("model-configs");
    let (locked_tx, locked_rx) = mpsc::channel();
    let other = std::thread::spawn(move || {
        let lock = DirLock::acquire(&folder).unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let file = folder.join("org--model.json");
        let text = std::fs::read_to_string(&file)
            .unwrap()
            .replace("\"first\"", "\"from the CLI\"");
        store::write_atomic(&file, text.as_bytes()).unwrap();
        drop(lock);
    });
    locked_rx.recv().unwrap();
    let mine = json!({"preset": "int4", "task": "infer", "notes": "from the app"});
    let err = invoke(
        &h,
        "save_config",
        json!({"modelId": "org/model", "config": mine, "revision": saved["revision"]}),
    )
    .unwrap_err();
    other.join().unwrap();
    assert_eq!(err["code"], json!("conflict"), "{err}");
    let list = invoke(&h, "list_configs", json!({})).unwrap();
    assert_eq!(list["configs"][0]["config"]["notes"], json!("from the CLI"));
}

#[test]
fn lists_flag_dangling_presets_and_entries_that_cannot_be_read() {
    let h = harness();
    let p = user_int4(&h);
    let config = json!({"preset": "mine", "task": "infer"});
    invoke(
        &h,
        "save_config",
        json!({"modelId": "org/model", "config": config, "revision": Value::Null}),
    )
    .unwrap();
    let list = invoke(&h, "list_configs", json!({})).unwrap();
    assert!(
        list["configs"][0].get("missing_presets").is_none(),
        "{list}"
    );
    assert!(list.get("unreadable").is_none(), "{list}");
    invoke(
        &h,
        "delete_preset",
        json!({"name": "mine", "revision": p["revision"]}),
    )
    .unwrap();
    let list = invoke(&h, "list_configs", json!({})).unwrap();
    assert_eq!(list["configs"][0]["missing_presets"], json!(["mine"]));

    for folder in ["presets", "model-configs"] {
        std::fs::create_dir(h.paths.config_dir.join(folder).join("a-dir.json")).unwrap();
    }
    let presets = invoke(&h, "list_presets", json!({})).unwrap();
    assert_eq!(presets["presets"].as_array().unwrap().len(), 8);
    assert_eq!(
        presets["unreadable"].as_array().unwrap().len(),
        1,
        "{presets}"
    );
    assert_mentions(
        &json!({"message": presets["unreadable"][0]["reason"]}),
        "is a directory",
    );
    let list = invoke(&h, "list_configs", json!({})).unwrap();
    assert_eq!(list["configs"].as_array().unwrap().len(), 1);
    assert_eq!(list["unreadable"].as_array().unwrap().len(), 1, "{list}");
    h.pick(h.paths.data_dir.join("b.json"));
    let bundle = invoke(&h, "export_bundle_dialog", json!({})).unwrap();
    assert_eq!(
        bundle["unreadable"].as_array().unwrap().len(),
        2,
        "{bundle}"
    );
}

/// What the Plan view sends for its default form once a model is picked (`planFromDraft(DEFAULT_DRAFT)`, pinned by
/// ui/src/views/plan/draft.test.ts): the keys a framework decides are left to the core.
fn plan_view_default_plan(model_id: &str) -> Value {
    json!({"model": {"id": model_id}, "task": "train", "batch_size": 1, "sequence_length": 2048,
        "attention": "sdpa", "margin": 0.1, "method": "qlora", "framework": "hf_trainer",
        "gradient_accumulation_steps": 1, "optimizer_in_backward": false, "sharding": "none", "offload": "none",
        "lora": {"rank": 16, "alpha": 32, "target_modules": "all-linear"}, "trainable_embeddings": false,
        "gpus": {"count": 1, "model": "H100 80GB"}, "nodes": 1})
}

#[test]
fn the_wizard_and_the_plan_view_estimate_the_same_default_plan_alike() {
    let h = harness();
    let id = "Qwen/Qwen2.5-32B-Instruct";
    let gpu = "H100 80GB";
    let ranking = invoke(
        &h,
        "wizard_rank",
        json!({"ask": {"model_id": id, "task": "train", "method": "qlora", "gpu": gpu, "memory_bytes": null,
            "gpu_count": 1, "batch_size": null, "sequence_length": null, "gradient_checkpointing": null}}),
    )
    .unwrap();
    let answer = invoke(
        &h,
        "plan_answer",
        json!({"plan": plan_view_default_plan(id)}),
    )
    .unwrap();
    assert_eq!(answer["preset"], json!("int4"));
    let int4 = ranking["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["preset"] == json!("int4"))
        .unwrap();
    assert_eq!(
        int4["device_peak_bytes"], answer["estimate"]["per_gpu"]["device_peak_bytes"],
        "{ranking}"
    );
    // One default for checkpointing, from the core: the wizard reports the one the Plan view's plan got.
    assert_eq!(
        ranking["gradient_checkpointing"],
        answer["plan"]["gradient_checkpointing"]
    );
}
