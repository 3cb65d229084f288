//! Presets, per-model configs and their interop with transformers (issue 4).

use std::fs;
use std::path::Path;

use headroom_core::presets::bnb::{self, ComputeDtype, QuantStorage, QuantType};
use headroom_core::presets::bundle::{self, OnConflict};
use headroom_core::presets::config_store::ConfigLibrary;
use headroom_core::presets::import::{parse_preset, ImportSource};
use headroom_core::presets::library::PresetLibrary;
use headroom_core::presets::model_config::{
    LoraSettings, Method, ModelConfig, PresetOverrides, Task,
};
use headroom_core::presets::rename::rename_preset;
use headroom_core::presets::{builtin, export, validate, BnbConfig, FieldErrors, PresetBody};
use headroom_core::store::Revision;
use headroom_core::Error;
use serde_json::{json, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/bnb");

fn fixture(name: &str) -> String {
    fs::read_to_string(Path::new(FIXTURES).join(format!("{name}.json"))).unwrap()
}

fn libraries(dir: &Path) -> (PresetLibrary, ConfigLibrary) {
    (
        PresetLibrary::at(dir.join("presets")),
        ConfigLibrary::at(dir.join("model-configs")),
    )
}

/// The fields of the errors, for asserting which rule fired.
fn fields(errors: &FieldErrors) -> Vec<&str> {
    errors.0.iter().map(|e| e.field.as_str()).collect()
}

fn body_with(quantization: Value, load: Value) -> Value {
    json!({"load": load, "quantization": quantization})
}

fn gpu_load() -> Value {
    json!({"device": "cuda", "torch_dtype": "bfloat16", "device_map": "auto"})
}

fn preset_errors(value: Value) -> FieldErrors {
    PresetBody::from_json(value).expect_err("should be refused")
}

// ---------------------------------------------------------------------------------------------------------
// Interop with transformers

#[test]
fn every_quantized_builtin_exports_exactly_the_transformers_dump() {
    for name in ["int8", "int4", "int4_double", "int4_offload"] {
        let body = builtin::get(name).unwrap();
        // The CLI prints the export followed by a newline, as the dumps end.
        let printed = format!("{}\n", export::bnb_json(name, &body).unwrap());
        assert_eq!(printed, fixture(name), "{name}");
    }
}

#[test]
fn unquantized_builtins_have_no_bitsandbytes_config() {
    for name in ["fp32", "bf16", "fp16", "cpu"] {
        let body = builtin::get(name).unwrap();
        match export::bnb_json(name, &body) {
            Err(Error::Invalid { field, message, .. }) => {
                assert_eq!(field, "name");
                assert!(
                    message.contains("no") && message.contains("BitsAndBytesConfig"),
                    "{message}"
                );
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn every_builtin_is_valid_and_listed_in_order() {
    let names: Vec<&str> = builtin::all().iter().map(|(n, _)| *n).collect();
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
            "cpu"
        ]
    );
    for (name, body) in builtin::all() {
        validate::preset(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn every_dump_imports_and_exports_back_byte_for_byte() {
    for name in [
        "int8",
        "int8_offload",
        "int4",
        "int4_double",
        "int4_offload",
        "fp4_fp16_skip_lm_head",
    ] {
        let text = fixture(name);
        let imported = parse_preset(text.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(imported.source, ImportSource::BnbJson);
        let q = imported.body.quantization.as_ref().unwrap();
        assert_eq!(format!("{}\n", q.to_dict_json()), text, "{name}");
        // Value for value too, whatever the layout.
        assert_eq!(
            q.to_dict_value(),
            serde_json::from_str::<Value>(&text).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn the_fp4_dump_reads_every_field() {
    let imported = parse_preset(fixture("fp4_fp16_skip_lm_head").as_bytes()).unwrap();
    let q = imported.body.quantization.unwrap();
    assert!(q.load_in_4bit && !q.load_in_8bit);
    assert_eq!(q.bnb_4bit_quant_type, QuantType::Fp4);
    assert_eq!(q.bnb_4bit_compute_dtype, ComputeDtype::Float16);
    assert_eq!(q.bnb_4bit_quant_storage, QuantStorage::Uint8);
    assert_eq!(q.llm_int8_skip_modules, Some(vec!["lm_head".to_string()]));
    // Non-quantized modules follow the 16-bit compute dtype.
    assert_eq!(
        imported.body.load.torch_dtype,
        headroom_core::presets::TorchDtype::Float16
    );
}

#[test]
fn a_config_json_quantization_config_imports_with_its_dtype() {
    let config = json!({
        "model_type": "llama",
        "hidden_size": 4096,
        "torch_dtype": "bfloat16",
        "quantization_config": serde_json::from_str::<Value>(&fixture("int4_double")).unwrap(),
    });
    let imported = parse_preset(config.to_string().as_bytes()).unwrap();
    assert_eq!(imported.source, ImportSource::ModelConfigJson);
    assert_eq!(
        imported.body.quantization,
        builtin::get("int4_double").unwrap().quantization
    );
    assert_eq!(
        imported.body.load.torch_dtype,
        headroom_core::presets::TorchDtype::Bfloat16
    );
}

#[test]
fn an_old_config_without_private_flags_or_storage_imports() {
    // transformers 4.3x wrote neither `_load_in_*` nor `bnb_4bit_quant_storage` (docs/estimator.md §14).
    let old = json!({"quantization_config": {
        "bnb_4bit_compute_dtype": "float16", "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": true,
        "llm_int8_enable_fp32_cpu_offload": false, "llm_int8_has_fp16_weight": false,
        "llm_int8_skip_modules": null, "llm_int8_threshold": 6.0, "load_in_4bit": true, "load_in_8bit": false,
        "quant_method": "bitsandbytes"
    }});
    let q = parse_preset(old.to_string().as_bytes())
        .unwrap()
        .body
        .quantization
        .unwrap();
    assert_eq!(q.bnb_4bit_quant_storage, QuantStorage::Uint8);
    assert_eq!(q.bnb_4bit_compute_dtype, ComputeDtype::Float16);
    // Only the private flags: read them.
    let private = json!({"_load_in_8bit": true, "_load_in_4bit": false});
    let q = parse_preset(private.to_string().as_bytes())
        .unwrap()
        .body
        .quantization
        .unwrap();
    assert!(q.load_in_8bit);
    // torch aliases become the names to_dict() prints.
    let alias = json!({"load_in_4bit": true, "bnb_4bit_compute_dtype": "half"});
    let q = parse_preset(alias.to_string().as_bytes())
        .unwrap()
        .body
        .quantization
        .unwrap();
    assert_eq!(q.bnb_4bit_compute_dtype, ComputeDtype::Float16);
}

#[test]
fn a_headroom_preset_round_trips_through_its_own_json() {
    for (name, body) in builtin::all() {
        let text = serde_json::to_string_pretty(&body).unwrap();
        let back = parse_preset(text.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(back.source, ImportSource::Preset);
        assert_eq!(back.body, body, "{name}");
    }
    let custom = json!({
        "description": "two GPUs, spill to CPU",
        "load": {"device": "cuda", "torch_dtype": "bfloat16", "device_map": "auto",
                 "max_memory": {"0": "10GB", "1": 12000000000u64, "cpu": "30GiB"}},
        "quantization": {"load_in_4bit": true, "bnb_4bit_quant_type": "nf4",
                         "llm_int8_enable_fp32_cpu_offload": true, "llm_int8_threshold": 4.5}
    });
    let body = PresetBody::from_json(custom.clone()).unwrap();
    assert_eq!(body.load.max_memory["0"].bytes(), 10_000_000_000);
    assert_eq!(body.load.max_memory["cpu"].bytes(), 30 << 30);
    let again = serde_json::to_value(&body).unwrap();
    assert_eq!(
        again["load"]["max_memory"], custom["load"]["max_memory"],
        "spelling kept"
    );
    assert_eq!(PresetBody::from_json(again).unwrap(), body);
}

#[test]
fn load_kwargs_and_python_snippet() {
    let body = PresetBody::from_json(json!({
        "load": {"device": "cuda", "torch_dtype": "bfloat16", "device_map": "auto",
                 "max_memory": {"cpu": "30GB", "1": "20GiB", "0": "10GB"}},
        "quantization": {"load_in_4bit": true, "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": true,
                         "bnb_4bit_compute_dtype": "bfloat16", "llm_int8_enable_fp32_cpu_offload": true}
    }))
    .unwrap();
    let kwargs = export::load_kwargs(&body);
    assert_eq!(kwargs["device_map"], "auto");
    assert_eq!(kwargs["torch_dtype"], "bfloat16");
    assert_eq!(kwargs["max_memory"]["0"], "10GB");
    assert_eq!(kwargs.as_object().unwrap().len(), 3, "{kwargs}");
    // What the launcher hands over says `dtype`, as transformers 5 wants.
    let handed = export::handover_kwargs(&body);
    assert_eq!(handed["dtype"], "bfloat16");
    assert!(handed.get("torch_dtype").is_none(), "{handed}");
    assert_eq!(handed["max_memory"], kwargs["max_memory"]);

    let py = export::python_snippet("meta-llama/Llama-3.1-8B", &body);
    for line in [
        "from transformers import AutoModelForCausalLM, BitsAndBytesConfig",
        "    load_in_4bit=True,",
        "    bnb_4bit_compute_dtype=torch.bfloat16,",
        "    bnb_4bit_quant_type=\"nf4\",",
        "    bnb_4bit_use_double_quant=True,",
        "    llm_int8_enable_fp32_cpu_offload=True,",
        "    \"meta-llama/Llama-3.1-8B\",",
        "    quantization_config=quantization_config,",
        "    device_map=\"auto\",",
        // GPU indices as integers, in numeric order, then the CPU.
        "    max_memory={0: \"10GB\", 1: \"20GiB\", \"cpu\": \"30GB\"},",
        "    dtype=torch.bfloat16,  # torch_dtype= before transformers 4.56",
    ] {
        assert!(py.contains(line), "missing {line:?} in:\n{py}");
    }
    assert!(!py.contains("load_in_8bit"), "defaults are left out:\n{py}");

    let cpu = export::python_snippet("gpt2", &builtin::get("cpu").unwrap());
    assert!(!cpu.contains("BitsAndBytesConfig"), "{cpu}");
    assert!(
        cpu.contains("device_map=\"cpu\"") && cpu.contains("dtype=torch.float32"),
        "{cpu}"
    );
    assert_eq!(
        export::load_kwargs(&builtin::get("cpu").unwrap())["device_map"],
        "cpu"
    );
}

// ---------------------------------------------------------------------------------------------------------
// Validation: one case per rule, each naming its field

#[test]
fn eight_and_four_bit_are_exclusive() {
    let e = preset_errors(body_with(
        json!({"load_in_8bit": true, "load_in_4bit": true}),
        gpu_load(),
    ));
    assert_eq!(fields(&e), ["quantization.load_in_4bit"]);
    assert!(e.0[0].message.contains("only one can be used"), "{e}");
    let e = preset_errors(body_with(json!({"load_in_8bit": false}), gpu_load()));
    assert_eq!(fields(&e), ["quantization.load_in_4bit"]);
    assert!(e.0[0].message.contains("quantizes nothing"), "{e}");
}

#[test]
fn imported_dicts_follow_transformers_type_checks() {
    let cases: [(Value, &str, &str); 12] = [
        (
            json!({"load_in_4bit": true, "load_in_8bit": true}),
            "load_in_4bit",
            "only one",
        ),
        (
            json!({"load_in_8bit": true, "llm_int8_threshold": 6}),
            "llm_int8_threshold",
            "6.0",
        ),
        (
            json!({"load_in_8bit": true, "llm_int8_threshold": "6.0"}),
            "llm_int8_threshold",
            "float",
        ),
        (
            json!({"load_in_8bit": true, "llm_int8_skip_modules": "lm_head"}),
            "llm_int8_skip_modules",
            "list",
        ),
        (
            json!({"load_in_8bit": true, "llm_int8_skip_modules": [1]}),
            "llm_int8_skip_modules.0",
            "module name",
        ),
        (
            json!({"load_in_8bit": "yes"}),
            "load_in_8bit",
            "true or false",
        ),
        (
            json!({"load_in_4bit": true, "bnb_4bit_compute_dtype": "int8"}),
            "bnb_4bit_compute_dtype",
            "not a compute dtype",
        ),
        (
            json!({"load_in_4bit": true, "bnb_4bit_quant_type": "int4"}),
            "bnb_4bit_quant_type",
            "nf4",
        ),
        (
            json!({"load_in_4bit": true, "bnb_4bit_quant_storage": "int4"}),
            "bnb_4bit_quant_storage",
            "uint8",
        ),
        (
            json!({"load_in_4bit": true, "bnb_4bit_use_double_quant": 1}),
            "bnb_4bit_use_double_quant",
            "true or false",
        ),
        (
            json!({"load_in_4bit": true, "load_in_4bits": true}),
            "load_in_4bits",
            "unknown key",
        ),
        (
            json!({"quant_method": "gptq", "load_in_4bit": true}),
            "quant_method",
            "bitsandbytes",
        ),
    ];
    for (input, field, words) in cases {
        let e = parse_preset(input.to_string().as_bytes()).expect_err(&input.to_string());
        assert!(
            e.0.iter()
                .any(|f| f.field == field && f.message.contains(words)),
            "{input}: expected {field} mentioning {words:?}, got {e}"
        );
    }
    // Every problem at once, not just the first.
    let e =
        parse_preset(br#"{"load_in_8bit": 1, "llm_int8_threshold": 6, "bogus": 0}"#).unwrap_err();
    assert_eq!(e.0.len(), 3, "{e}");
}

#[test]
fn threshold_and_module_names_are_checked_in_presets() {
    let e = preset_errors(body_with(
        json!({"load_in_8bit": true, "llm_int8_threshold": -1.0, "llm_int8_skip_modules": ["lm head"]}),
        gpu_load(),
    ));
    assert_eq!(
        fields(&e),
        [
            "quantization.llm_int8_threshold",
            "quantization.llm_int8_skip_modules.0"
        ]
    );
}

#[test]
fn memory_strings_need_units_and_known_devices() {
    let load = |max_memory: Value| json!({"device": "cuda", "torch_dtype": "float16", "device_map": "auto", "max_memory": max_memory});
    let e = preset_errors(json!({"load": load(json!({"0": "10"}))}));
    assert_eq!(fields(&e), ["load.max_memory.0"]);
    assert!(e.0[0].message.contains("unit"), "{e}");
    let e = preset_errors(json!({"load": load(json!({"0": 1.5}))}));
    assert_eq!(fields(&e), ["load.max_memory.0"]);
    let e = preset_errors(json!({"load": load(json!({"gpu0": "10GB"}))}));
    assert_eq!(fields(&e), ["load.max_memory.gpu0"]);
    // max_memory without a strategy is ignored by transformers: refuse it rather than mislead.
    let e = preset_errors(
        json!({"load": {"device": "cuda", "torch_dtype": "float16", "max_memory": {"0": "1GB"}}}),
    );
    assert_eq!(fields(&e), ["load.max_memory"]);
}

#[test]
fn device_maps_and_devices_are_checked() {
    let e = preset_errors(
        json!({"load": {"device": "cuda", "torch_dtype": "float16", "device_map": "everywhere"}}),
    );
    assert_eq!(fields(&e), ["load.device_map"]);
    for whole in ["0", "disk"] {
        let e = preset_errors(
            json!({"load": {"device": "cuda", "torch_dtype": "float16", "device_map": whole}}),
        );
        assert_eq!(fields(&e), ["load.device_map"], "{whole}");
    }
    PresetBody::from_json(
        json!({"load": {"device": "cuda", "torch_dtype": "float16", "device_map": "cuda:1"}}),
    )
    .unwrap();
    let e = preset_errors(json!({"load": {"device": "cuda", "torch_dtype": "float16",
        "device_map": {"model.layers.0": "tpu"}}}));
    assert_eq!(fields(&e), ["load.device_map.model.layers.0"]);
    let e = preset_errors(
        json!({"load": {"device": "cpu", "torch_dtype": "float32", "device_map": "auto"}}),
    );
    assert_eq!(fields(&e), ["load.device_map"]);
    let e = preset_errors(body_with(
        json!({"load_in_8bit": true}),
        json!({"device": "cpu", "torch_dtype": "float32", "device_map": "cpu"}),
    ));
    assert_eq!(fields(&e), ["load.device"]);
    let e = preset_errors(json!({"load": {"device": "gpu", "torch_dtype": "float16"}}));
    assert_eq!(fields(&e), ["load.device"]);
    let e =
        preset_errors(json!({"load": {"device": "cuda", "torch_dtype": "float16"}, "extra": 1}));
    assert!(e.0[0].message.contains("extra"), "{e}");
    PresetBody::from_json(json!({"load": {"device": "cuda", "torch_dtype": "float16",
        "device_map": {"model": 0, "lm_head": "cuda:1"}}}))
    .unwrap();
}

#[test]
fn quantized_offload_needs_the_fp32_cpu_offload_flag() {
    let offloading = json!({"device": "cuda", "torch_dtype": "bfloat16",
        "device_map": {"model.layers": 0, "model.norm": "cpu", "lm_head": "cpu"}});
    let e = preset_errors(body_with(json!({"load_in_4bit": true}), offloading.clone()));
    assert_eq!(
        fields(&e),
        ["quantization.llm_int8_enable_fp32_cpu_offload"]
    );
    PresetBody::from_json(body_with(
        json!({"load_in_4bit": true, "llm_int8_enable_fp32_cpu_offload": true}),
        offloading,
    ))
    .unwrap();
    // Modules kept out of quantization may sit on the CPU (transformers drops them before checking).
    PresetBody::from_json(body_with(
        json!({"load_in_8bit": true, "llm_int8_skip_modules": ["lm_head"]}),
        json!({"device": "cuda", "torch_dtype": "float16", "device_map": {"model": 0, "lm_head": "cpu"}}),
    ))
    .unwrap();
    let e = preset_errors(body_with(
        json!({"load_in_8bit": true}),
        json!({"device": "cuda", "torch_dtype": "float16", "device_map": "auto", "max_memory": {"0": "8GB", "cpu": "30GB"}}),
    ));
    assert_eq!(
        fields(&e),
        ["quantization.llm_int8_enable_fp32_cpu_offload"]
    );
}

#[test]
fn field_errors_become_one_core_error_naming_the_first_field() {
    let e = preset_errors(body_with(
        json!({"load_in_8bit": true, "load_in_4bit": true, "llm_int8_threshold": -2.0}),
        gpu_load(),
    ));
    match Error::from(e) {
        Error::Invalid { field, message, .. } => {
            assert_eq!(field, "quantization.load_in_4bit");
            assert!(
                message.contains("quantization.llm_int8_threshold"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------------------
// The store

fn int4_copy() -> PresetBody {
    let mut body = builtin::get("int4").unwrap();
    body.description = "mine".into();
    body
}

#[test]
fn user_presets_are_created_edited_renamed_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (presets, configs) = libraries(dir.path());
    presets.duplicate("int4_double", "my-int4").unwrap();
    let mine = presets.get("my-int4").unwrap();
    assert!(!mine.builtin);
    assert_eq!(mine.body, builtin::get("int4_double").unwrap());

    let mut edited = mine.body.clone();
    edited.quantization.as_mut().unwrap().bnb_4bit_compute_dtype = ComputeDtype::Float16;
    let rev = presets.save("my-int4", &edited, mine.revision).unwrap();
    let rev = rename_preset(&presets, &configs, "my-int4", "fp16-compute", rev)
        .unwrap()
        .revision;
    assert!(matches!(presets.get("my-int4"), Err(Error::Invalid { .. })));
    assert_eq!(presets.get("fp16-compute").unwrap().body, edited);

    let listed: Vec<String> = presets
        .list()
        .unwrap()
        .presets
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(listed.len(), 9);
    assert_eq!(listed[8], "fp16-compute");

    presets.delete("fp16-compute", rev).unwrap();
    assert_eq!(presets.list().unwrap().presets.len(), 8);
}

#[test]
fn builtins_are_read_only_and_names_cannot_escape() {
    let dir = tempfile::tempdir().unwrap();
    let (presets, _) = libraries(dir.path());
    for name in ["int4", "INT4", "cpu"] {
        let e = presets.create(name, &int4_copy()).unwrap_err();
        assert!(
            matches!(&e, Error::Invalid { field, .. } if field == "name"),
            "{e}"
        );
    }
    assert!(presets.delete("int4", Revision::ABSENT).is_err());
    assert!(presets
        .save("fp16", &int4_copy(), Revision::ABSENT)
        .is_err());
    for bad in ["../escape", "a/b", ".hidden", ""] {
        let e = presets.create(bad, &int4_copy()).unwrap_err();
        assert!(
            matches!(&e, Error::Invalid { field, .. } if field == "name"),
            "{bad}: {e}"
        );
    }
    assert!(!dir.path().join("escape.json").exists());
    presets.create("mine", &int4_copy()).unwrap();
    let e = presets.create("mine", &int4_copy()).unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
}

#[test]
fn two_editors_saving_the_same_preset_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let (presets, configs) = libraries(dir.path());
    presets.create("shared", &int4_copy()).unwrap();
    let window_a = presets.get("shared").unwrap();
    let window_b = presets.get("shared").unwrap();
    let mut a = window_a.body.clone();
    a.description = "from A".into();
    presets.save("shared", &a, window_a.revision).unwrap();
    let mut b = window_b.body.clone();
    b.description = "from B".into();
    let e = presets.save("shared", &b, window_b.revision).unwrap_err();
    assert!(matches!(e, Error::Conflict { .. }), "{e}");
    assert_eq!(presets.get("shared").unwrap().body.description, "from A");
    // Deleting or renaming from a stale read is refused too.
    assert!(matches!(
        presets.delete("shared", window_b.revision),
        Err(Error::Conflict { .. })
    ));
    assert!(matches!(
        rename_preset(&presets, &configs, "shared", "other", window_b.revision),
        Err(Error::Conflict { .. })
    ));
}

#[test]
fn a_crash_between_write_and_rename_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (presets, _) = libraries(dir.path());
    presets.create("steady", &int4_copy()).unwrap();
    // What an interrupted atomic write leaves: a hidden, half-written temporary beside the real file.
    fs::write(
        presets.dir().join(".steady.json.tmp-4242-1"),
        br#"{"version":1,"data":{"description":"new","lo"#,
    )
    .unwrap();
    let list = presets.list().unwrap();
    assert!(
        list.quarantined.is_empty() && list.skipped.is_empty(),
        "{list:?}"
    );
    assert_eq!(presets.get("steady").unwrap().body, int4_copy());
    // The next save still works and the stale temporary is never taken for a preset.
    let current = presets.get("steady").unwrap();
    let mut next = current.body.clone();
    next.description = "saved after the crash".into();
    presets.save("steady", &next, current.revision).unwrap();
    assert_eq!(
        presets.get("steady").unwrap().body.description,
        "saved after the crash"
    );
}

#[test]
fn a_corrupt_preset_is_quarantined_with_its_reason_and_the_rest_load() {
    let dir = tempfile::tempdir().unwrap();
    let (presets, _) = libraries(dir.path());
    presets.create("good", &int4_copy()).unwrap();
    fs::write(
        presets.dir().join("torn.json"),
        b"{\"version\":1,\"data\":{\"lo",
    )
    .unwrap();
    // Decodes, but breaks a rule: both load flags.
    fs::write(
        presets.dir().join("both.json"),
        serde_json::to_vec(&json!({"version": 1, "data": {
            "load": {"device": "cuda", "torch_dtype": "float16"},
            "quantization": {"load_in_8bit": true, "load_in_4bit": true}}}))
        .unwrap(),
    )
    .unwrap();
    fs::write(presets.dir().join("int8.json"), b"{}").unwrap();
    let list = presets.list().unwrap();
    let names: Vec<&str> = list.presets.iter().map(|p| p.name.as_str()).collect();
    assert!(names.contains(&"good"), "{names:?}");
    assert_eq!(list.presets.len(), 9);
    assert_eq!(list.quarantined.len(), 2, "{:?}", list.quarantined);
    let both = list
        .quarantined
        .iter()
        .find(|q| q.original.ends_with("both.json"))
        .unwrap();
    assert!(
        both.reason.contains("only one can be used"),
        "{}",
        both.reason
    );
    for q in &list.quarantined {
        assert!(
            q.moved_to.exists() && !q.original.exists(),
            "kept aside: {q:?}"
        );
    }
    // A file that would shadow a built-in is reported, not loaded, and left where it is.
    assert_eq!(list.skipped.len(), 1);
    assert!(list.skipped[0].path.exists());
}

// ---------------------------------------------------------------------------------------------------------
// Per-model configs

fn qlora_config() -> ModelConfig {
    ModelConfig {
        method: Some(Method::Qlora),
        lora: Some(LoraSettings::default()),
        notes: "wizard".into(),
        ..ModelConfig::new("int4_double", Task::Train)
    }
}

#[test]
fn a_model_config_is_saved_and_read_back_with_its_fallbacks() {
    let dir = tempfile::tempdir().unwrap();
    let (presets, configs) = libraries(dir.path());
    let config = qlora_config();
    configs
        .set(
            "meta-llama/Llama-3.1-8B",
            &config,
            Revision::ABSENT,
            &presets,
        )
        .unwrap();
    assert!(configs.dir().join("meta-llama--Llama-3.1-8B.json").exists());
    let entry = configs.get("meta-llama/Llama-3.1-8B").unwrap().unwrap();
    assert_eq!(entry.config, config);
    assert_eq!(
        configs.list().unwrap().configs[0].model_id,
        "meta-llama/Llama-3.1-8B"
    );
    // The chain after the chosen preset, never back to something heavier.
    assert_eq!(config.attempts(), ["int4_double", "int4_offload"]);
    assert_eq!(
        ModelConfig::new("fp16", Task::Infer).attempts(),
        ["fp16", "int8", "int4", "int4_double", "int4_offload"]
    );
    let attempts = configs
        .attempts("meta-llama/Llama-3.1-8B", &presets)
        .unwrap();
    assert_eq!(attempts[1].1, builtin::get("int4_offload").unwrap());
    assert_eq!(
        configs.referencing("int4_offload").unwrap(),
        ["meta-llama/Llama-3.1-8B"]
    );
    // Stale saves conflict.
    let e = configs
        .set(
            "meta-llama/Llama-3.1-8B",
            &config,
            Revision::ABSENT,
            &presets,
        )
        .unwrap_err();
    assert!(matches!(e, Error::Conflict { .. }), "{e}");
}

#[test]
fn overrides_apply_to_the_chosen_preset_and_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let (presets, configs) = libraries(dir.path());
    let mut config = qlora_config();
    config.overrides = serde_json::from_value::<PresetOverrides>(json!({
        "quantization": {"bnb_4bit_compute_dtype": "float16"}, "torch_dtype": "float16"
    }))
    .unwrap();
    configs
        .set("org/model", &config, Revision::ABSENT, &presets)
        .unwrap();
    let attempts = configs.attempts("org/model", &presets).unwrap();
    let q = attempts[0].1.quantization.as_ref().unwrap();
    assert_eq!(q.bnb_4bit_compute_dtype, ComputeDtype::Float16);
    assert!(
        q.bnb_4bit_use_double_quant,
        "the rest of the preset is kept"
    );

    config.overrides =
        serde_json::from_value(json!({"quantization": {"load_in_8bit": true}})).unwrap();
    let e = configs
        .set("org/other", &config, Revision::ABSENT, &presets)
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("overrides.quantization.load_in_4bit"),
        "{e}"
    );
}

#[test]
fn model_config_rules_name_their_fields() {
    let dir = tempfile::tempdir().unwrap();
    let (presets, configs) = libraries(dir.path());
    let cases: Vec<(ModelConfig, &str)> = vec![
        (
            ModelConfig {
                method: Some(Method::Lora),
                ..ModelConfig::new("fp16", Task::Infer)
            },
            "method",
        ),
        (
            ModelConfig {
                lora: Some(LoraSettings::default()),
                ..ModelConfig::new("fp16", Task::Train)
            },
            "lora",
        ),
        (
            ModelConfig {
                method: Some(Method::Lora),
                lora: Some(LoraSettings {
                    rank: 0,
                    ..LoraSettings::default()
                }),
                ..ModelConfig::new("bf16", Task::Train)
            },
            "lora.rank",
        ),
        (
            ModelConfig {
                method: Some(Method::Lora),
                lora: Some(LoraSettings {
                    dropout: 1.0,
                    ..LoraSettings::default()
                }),
                ..ModelConfig::new("bf16", Task::Train)
            },
            "lora.dropout",
        ),
        (
            ModelConfig {
                method: Some(Method::Qlora),
                ..ModelConfig::new("int8", Task::Train)
            },
            "method",
        ),
        (ModelConfig::new("no-such", Task::Infer), "preset"),
        (
            ModelConfig {
                fallback_chain: vec!["int8".into(), "int8".into()],
                ..ModelConfig::new("fp16", Task::Infer)
            },
            "fallback_chain.1",
        ),
        (
            ModelConfig {
                fallback_chain: vec!["int8".into(), "ghost".into()],
                ..ModelConfig::new("fp16", Task::Infer)
            },
            "fallback_chain.1",
        ),
    ];
    for (config, field) in cases {
        match configs.set("org/m", &config, Revision::ABSENT, &presets) {
            Err(Error::Invalid {
                field: got,
                message,
                ..
            }) => assert_eq!(got, field, "{message}"),
            other => panic!("{field}: {other:?}"),
        }
    }
    for bad in ["a/b/c", "../x", "org--x/y", ""] {
        let e = configs
            .set(
                bad,
                &ModelConfig::new("fp16", Task::Infer),
                Revision::ABSENT,
                &presets,
            )
            .unwrap_err();
        assert!(
            matches!(&e, Error::Invalid { field, .. } if field == "model_id"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn a_config_naming_a_deleted_preset_still_loads() {
    let dir = tempfile::tempdir().unwrap();
    let (presets, configs) = libraries(dir.path());
    let rev = presets.create("mine", &int4_copy()).unwrap();
    configs
        .set(
            "org/m",
            &ModelConfig::new("mine", Task::Infer),
            Revision::ABSENT,
            &presets,
        )
        .unwrap();
    presets.delete("mine", rev).unwrap();
    assert_eq!(configs.get("org/m").unwrap().unwrap().config.preset, "mine");
    let e = configs.attempts("org/m", &presets).unwrap_err();
    assert!(e.to_string().contains("no preset named \"mine\""), "{e}");
}

// ---------------------------------------------------------------------------------------------------------
// Bundles

fn filled(dir: &Path) -> (PresetLibrary, ConfigLibrary) {
    let (presets, configs) = libraries(dir);
    presets.create("mine", &int4_copy()).unwrap();
    presets.duplicate("int8", "eight").unwrap();
    let mut config = qlora_config();
    config.preset = "mine".into();
    config.fallback_chain = vec!["mine".into(), "int4_offload".into()];
    configs
        .set("org/model", &config, Revision::ABSENT, &presets)
        .unwrap();
    configs
        .set(
            "gpt2",
            &ModelConfig::new("eight", Task::Infer),
            Revision::ABSENT,
            &presets,
        )
        .unwrap();
    (presets, configs)
}

#[test]
fn a_bundle_moves_everything_to_another_machine() {
    let here = tempfile::tempdir().unwrap();
    let (presets, configs) = filled(here.path());
    let exported = bundle::export(&presets, &configs).unwrap();
    assert!(exported.quarantined.is_empty());
    assert_eq!(exported.bundle.presets.len(), 2, "user presets only");
    let text = serde_json::to_vec_pretty(&exported.bundle).unwrap();

    let there = tempfile::tempdir().unwrap();
    let (presets2, configs2) = libraries(there.path());
    let parsed = bundle::parse(&text, &|_| Ok(None)).unwrap();
    assert_eq!(parsed, exported.bundle);
    let report = bundle::import(&parsed, &presets2, &configs2, OnConflict::Fail).unwrap();
    assert_eq!(report.presets.added, ["eight", "mine"]);
    assert_eq!(report.model_configs.added, ["gpt2", "org/model"]);
    assert_eq!(
        bundle::export(&presets2, &configs2).unwrap().bundle,
        exported.bundle
    );

    // Importing again changes nothing.
    let again = bundle::import(&parsed, &presets2, &configs2, OnConflict::Fail).unwrap();
    assert_eq!(again.presets.unchanged.len(), 2);
    assert!(again.presets.added.is_empty());
}

#[test]
fn bundle_conflicts_fail_skip_or_replace() {
    let here = tempfile::tempdir().unwrap();
    let (presets, configs) = filled(here.path());
    let mut b = bundle::export(&presets, &configs).unwrap().bundle;
    b.presets.get_mut("mine").unwrap().description = "from the other machine".into();

    let e = bundle::import(&b, &presets, &configs, OnConflict::Fail).unwrap_err();
    assert!(
        matches!(&e, Error::Invalid { field, .. } if field == "presets.mine"),
        "{e}"
    );
    assert_eq!(
        presets.get("mine").unwrap().body.description,
        "mine",
        "nothing written"
    );

    let r = bundle::import(&b, &presets, &configs, OnConflict::Skip).unwrap();
    assert_eq!(r.presets.skipped, ["mine"]);
    assert_eq!(presets.get("mine").unwrap().body.description, "mine");

    let r = bundle::import(&b, &presets, &configs, OnConflict::Replace).unwrap();
    assert_eq!(r.presets.replaced, ["mine"]);
    assert_eq!(
        presets.get("mine").unwrap().body.description,
        "from the other machine"
    );
}

#[test]
fn a_bad_bundle_is_refused_whole_with_each_field_named() {
    let bad = json!({
        "format": "headroom-bundle", "version": 1,
        "presets": {
            "int4": {"load": {"device": "cuda", "torch_dtype": "float16"}},
            "ok": {"load": {"device": "cuda", "torch_dtype": "float16"},
                   "quantization": {"load_in_8bit": true, "load_in_4bit": true}}
        },
        "model_configs": {"org/m": {"preset": "nowhere", "task": "infer"}}
    });
    let e = bundle::parse(bad.to_string().as_bytes(), &|_| Ok(None)).unwrap_err();
    assert_eq!(
        fields(&e),
        [
            "presets.int4",
            "presets.ok.quantization.load_in_4bit",
            "model_configs.org/m.preset"
        ]
    );
    for (text, field) in [
        (r#"{"format": "headroom-bundle", "version": 9}"#, "version"),
        (r#"{"format": "something"}"#, "format"),
        (
            r#"{"format": "headroom-bundle", "version": 1, "extra": {}}"#,
            "extra",
        ),
        ("not json", "input"),
    ] {
        let e = bundle::parse(text.as_bytes(), &|_| Ok(None)).unwrap_err();
        assert_eq!(e.0[0].field, field, "{text}: {e}");
    }
}

#[test]
fn bnb_defaults_match_transformers() {
    // BitsAndBytesConfig() with no arguments: docs/estimator.md §14.
    let d = BnbConfig::default();
    assert_eq!(d.llm_int8_threshold, bnb::DEFAULT_THRESHOLD);
    assert_eq!(d.bnb_4bit_compute_dtype, ComputeDtype::Float32);
    assert_eq!(d.bnb_4bit_quant_type, QuantType::Fp4);
    assert_eq!(d.bnb_4bit_quant_storage, QuantStorage::Uint8);
    assert!(d.llm_int8_skip_modules.is_none());
}

#[test]
fn renaming_a_preset_follows_it_into_the_configs() {
    let dir = tempfile::tempdir().unwrap();
    let (presets, configs) = libraries(dir.path());
    let rev = presets.create("old", &int4_copy()).unwrap();
    let config = ModelConfig {
        fallback_chain: vec!["old".into(), "int4_offload".into()],
        ..ModelConfig::new("old", Task::Infer)
    };
    configs
        .set("org/m", &config, Revision::ABSENT, &presets)
        .unwrap();
    configs
        .set(
            "org/untouched",
            &ModelConfig::new("fp16", Task::Infer),
            Revision::ABSENT,
            &presets,
        )
        .unwrap();
    assert_eq!(
        rename_preset(&presets, &configs, "old", "new", rev)
            .unwrap()
            .configs_changed,
        ["org/m"]
    );
    let c = configs.get("org/m").unwrap().unwrap().config;
    assert_eq!(c.preset, "new");
    assert_eq!(c.fallback_chain, ["new", "int4_offload"]);
    assert_eq!(c.attempts(), ["new", "int4_offload"]);
}

// ---------------------------------------------------------------------------------------------------------
// The launcher

#[test]
fn the_library_hands_the_launcher_what_its_default_chain_expects() {
    use headroom_core::launch::handover::{DefaultChainPresets, PresetSource};
    use headroom_core::presets::model_config::DEFAULT_FALLBACK_CHAIN;
    let dir = tempfile::tempdir().unwrap();
    let (presets, _) = libraries(dir.path());
    for name in DEFAULT_FALLBACK_CHAIN {
        let ours = PresetSource::hand_over(&presets, name).unwrap();
        ours.validate().unwrap();
        assert_eq!(ours, DefaultChainPresets.hand_over(name).unwrap(), "{name}");
    }
    let int4 = PresetSource::hand_over(&presets, "int4_double").unwrap();
    assert_eq!(
        int4.quant_config.unwrap(),
        serde_json::from_str::<Value>(&fixture("int4_double")).unwrap()
    );
    // Beyond the default chain: every preset, saved ones included.
    presets.create("mine", &int4_copy()).unwrap();
    assert_eq!(
        PresetSource::hand_over(&presets, "mine").unwrap().preset,
        "mine"
    );
    assert!(PresetSource::hand_over(&presets, "cpu")
        .unwrap()
        .quant_config
        .is_none());
    assert!(PresetSource::hand_over(&presets, "ghost").is_err());
}

#[test]
fn a_model_config_gives_the_launcher_its_chain_and_overrides() {
    use headroom_core::launch::handover::PresetSource;
    use headroom_core::presets::handover::ModelPresets;
    let dir = tempfile::tempdir().unwrap();
    let (presets, configs) = libraries(dir.path());
    let mut config = ModelConfig::new("int4", Task::Train);
    config.overrides = serde_json::from_value(json!({
        "device_map": "auto", "max_memory": {"0": "20GiB"}
    }))
    .unwrap();
    configs
        .set("org/m", &config, Revision::ABSENT, &presets)
        .unwrap();
    assert!(ModelPresets::load(&presets, &configs, "org/none")
        .unwrap()
        .is_none());
    let source = ModelPresets::load(&presets, &configs, "org/m")
        .unwrap()
        .unwrap();
    assert_eq!(source.chain(), ["int4", "int4_double", "int4_offload"]);
    let first = source.hand_over("int4").unwrap();
    assert_eq!(first.load_kwargs["max_memory"], json!({"0": "20GiB"}));
    // Fallbacks are handed over as they are.
    let next = source.hand_over("int4_double").unwrap();
    assert_eq!(next.load_kwargs["max_memory"], Value::Null);
}

#[test]
fn wire_types_render_as_typescript_for_the_ui() {
    use headroom_core::presets::bundle::{Bundle, ImportReport};
    use headroom_core::presets::config_store::{ConfigList, ModelConfigEntry};
    use headroom_core::presets::library::PresetList;
    use headroom_core::presets::{FieldError, LoadSettings, Preset};
    use ts_rs::{Config, TS};
    let cfg = Config::new().with_large_int("number");
    let decls = [
        FieldError::decl(&cfg),
        FieldErrors::decl(&cfg),
        LoadSettings::decl(&cfg),
        PresetBody::decl(&cfg),
        BnbConfig::decl(&cfg),
        Preset::decl(&cfg),
        PresetList::decl(&cfg),
        ModelConfig::decl(&cfg),
        ModelConfigEntry::decl(&cfg),
        ConfigList::decl(&cfg),
        Bundle::decl(&cfg),
        ImportReport::decl(&cfg),
    ];
    assert!(
        decls[0].contains("field: string, message: string"),
        "{}",
        decls[0]
    );
    assert!(
        decls[2].contains("max_memory?: Record<string, string | number>"),
        "{}",
        decls[2]
    );
    assert!(
        decls[3].contains("quantization: BnbConfig | null"),
        "{}",
        decls[3]
    );
    assert!(
        decls[4].contains("llm_int8_threshold: number"),
        "{}",
        decls[4]
    );
}

#[test]
fn a_huge_wrong_value_does_not_become_a_huge_message() {
    let long = "x".repeat(100_000);
    let input = json!({"load_in_4bit": true, "bnb_4bit_quant_type": [long]});
    let e = parse_preset(input.to_string().as_bytes()).unwrap_err();
    assert_eq!(e.0[0].field, "bnb_4bit_quant_type");
    assert!(e.0[0].message.len() < 200, "{}", e.0[0].message.len());
}
