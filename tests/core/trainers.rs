//! Plans from trainers' config files and configs from plans (docs/trainers.md), on real configs from the
//! trainers' own repositories (tests/fixtures/trainers/PROVENANCE.md).

use std::path::{Path, PathBuf};

use headroom_core::estimate::calibration::MachineCalibration;
use headroom_core::estimate::plan::{plan_from_value, plan_to_value, Plan};
use headroom_core::estimate::{builtin_presets, estimate_plan};
use headroom_core::model::{self, Resolver};
use headroom_core::trainers::export::{export, ExportFormat};
use headroom_core::trainers::{self, detect, parse_config, ImportReport, TrainerFormat};
use headroom_core::Error;
use serde_json::{json, Value};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/trainers")
}

fn fixture(p: &str) -> PathBuf {
    root().join(p)
}

fn import(paths: &[&str]) -> ImportReport {
    let paths: Vec<PathBuf> = paths.iter().map(|p| fixture(p)).collect();
    trainers::import_files(&paths).unwrap()
}

fn config_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            config_files(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yml" | "yaml" | "json")
        ) {
            out.push(path);
        }
    }
}

fn leaves(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(o) if !o.is_empty() => {
            for (k, c) in o {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(c, &p, out);
            }
        }
        _ if prefix.is_empty() => {}
        _ => out.push(prefix.to_string()),
    }
}

#[test]
fn every_key_of_every_real_config_is_mapped_resolved_ignored_or_not_understood() {
    let mut files = Vec::new();
    config_files(&root(), &mut files);
    assert!(files.len() >= 25, "{files:?}");
    for path in files {
        let name = path.display().to_string();
        let value = parse_config(&name, &std::fs::read_to_string(&path).unwrap()).unwrap();
        let report = trainers::import_files(std::slice::from_ref(&path))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(Some(report.files[0].format), detect(&value), "{name}");
        let mut keys = Vec::new();
        leaves(&value, "", &mut keys);
        let spoken: Vec<&str> = report
            .mapped
            .iter()
            .filter(|m| m.file == name)
            .map(|m| m.key.as_str())
            .chain(
                report
                    .auto_resolved
                    .iter()
                    .filter(|a| a.file == name)
                    .map(|a| a.key.as_str()),
            )
            .chain(
                report
                    .ignored
                    .iter()
                    .filter(|i| i.file == name)
                    .map(|i| i.key.as_str()),
            )
            .chain(
                report
                    .not_understood
                    .iter()
                    .filter(|n| n.file == name)
                    .map(|n| n.key.as_str()),
            )
            // A key naming another file that was loaded: the loaded file says it was named by it.
            .chain(
                report
                    .files
                    .iter()
                    .filter_map(|f| f.named_by.as_deref()?.strip_prefix(&format!("{name} "))),
            )
            .collect();
        for key in keys {
            assert!(
                spoken
                    .iter()
                    .any(|s| key == *s || key.starts_with(&format!("{s}."))),
                "{name}: {key} is in no list of the report"
            );
        }
    }
}

#[test]
fn an_axolotl_qlora_config_becomes_its_plan_with_bf16_auto_resolved() {
    let r = import(&["axolotl/examples/gemma2/qlora.yml"]);
    assert_eq!(
        r.plan,
        json!({"task": "train", "framework": "axolotl", "model": {"id": "google/gemma-2-9b"},
               "method": "qlora", "quantization": "int4_double", "sequence_length": 2048, "batch_size": 1,
               "sequence_lengths": [2048], "gradient_accumulation_steps": 4,
               "lora": {"rank": 32, "alpha": 16.0, "dropout": 0.05, "target_modules": "all-linear"},
               "optimizer": "adamw_8bit", "precision": "bf16-mixed", "gradient_checkpointing": true,
               "attention": "flash"})
    );
    let auto = &r.auto_resolved[0];
    assert_eq!(
        (auto.key.as_str(), &auto.became),
        ("bf16", &json!("bf16-mixed"))
    );
    assert!(r.ignored.iter().any(|i| i.key == "learning_rate"));
    assert!(r.ignored.iter().any(|i| i.key == "wandb_project"));
    // eot_tokens, chat_template and datasets are data: nothing is left not understood.
    assert!(r.not_understood.is_empty(), "{:?}", r.not_understood);
}

/// docs/estimator.md §6.4: the checkpointing style decides whether bitsandbytes' kept inputs outlive
/// checkpointing, so `gradient_checkpointing_kwargs.use_reentrant` is read, not ignored as without effect.
#[test]
fn gradient_checkpointings_use_reentrant_is_read_into_the_plan() {
    let r = import(&["axolotl/examples/llama-2/qlora-fsdp.yml"]);
    assert_eq!(r.plan["use_reentrant"], json!(true), "{:#?}", r.plan);
    assert!(!r
        .ignored
        .iter()
        .any(|i| i.key.starts_with("gradient_checkpointing_kwargs")));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("training_args.json");
    std::fs::write(
        &path,
        r#"{"output_dir": "out", "per_device_train_batch_size": 1, "learning_rate": 2e-4, "gradient_checkpointing": true, "gradient_checkpointing_kwargs": {"use_reentrant": 3}}"#,
    )
    .unwrap();
    let r = trainers::import_files(&[path]).unwrap();
    assert!(r.plan.get("use_reentrant").is_none());
    assert!(
        r.not_understood
            .iter()
            .any(|n| n.key == "gradient_checkpointing_kwargs.use_reentrant"
                && n.why.contains("true or false")),
        "{:?}",
        r.not_understood
    );
}

#[test]
fn an_axolotl_config_loads_the_deepspeed_json_it_names_and_fills_its_auto_values() {
    let r = import(&["axolotl/examples/alst/llama3-8b-deepspeed-alst.yaml"]);
    assert_eq!(r.files.len(), 2);
    assert_eq!(r.files[1].format, TrainerFormat::Deepspeed);
    assert!(r.files[1]
        .path
        .ends_with("deepspeed_configs/zero3_bf16_cpuoffload_all.json"));
    assert!(r.files[1]
        .named_by
        .as_deref()
        .unwrap()
        .ends_with(" deepspeed"));
    assert_eq!(r.plan["sharding"], "zero3");
    assert_eq!(r.plan["offload"], "optimizer_and_params");
    // YAML 1.1's grouped digits.
    assert_eq!(r.plan["sequence_length"], 500_000);
    let micro = r
        .auto_resolved
        .iter()
        .find(|a| a.key == "train_micro_batch_size_per_gpu")
        .unwrap();
    assert_eq!(micro.became, json!(1));
    assert!(micro.why.contains("micro_batch_size"), "{}", micro.why);
    for key in ["context_parallel_size", "tiled_mlp"] {
        assert!(r.not_understood.iter().any(|n| n.key == key), "{key}");
    }
}

#[test]
fn a_llama_factory_config_resolves_its_deepspeed_autos_from_its_own_keys() {
    let r = import(&["llama_factory/examples/train_lora/qwen3_lora_sft_ds3.yaml"]);
    assert_eq!(r.plan["sharding"], "zero3");
    assert_eq!(r.plan["method"], "lora");
    assert_eq!(
        r.plan["lora"],
        json!({"rank": 8, "target_modules": "all-linear"})
    );
    assert_eq!(r.plan["sequence_length"], 2048);
    let bf16 = r
        .auto_resolved
        .iter()
        .find(|a| a.key == "bf16.enabled")
        .unwrap();
    assert_eq!(bf16.became, json!("bf16-mixed"));
    assert!(
        bf16.why.contains("qwen3_lora_sft_ds3.yaml bf16"),
        "{}",
        bf16.why
    );
    let ga = r
        .auto_resolved
        .iter()
        .find(|a| a.key == "gradient_accumulation_steps")
        .unwrap();
    assert_eq!(ga.became, json!(2));
}

#[test]
fn a_llama_factory_config_and_an_accelerate_config_merge() {
    let r = import(&[
        "llama_factory/examples/extras/fsdp_qlora/llama3_lora_sft.yaml",
        "llama_factory/examples/accelerate/fsdp_config.yaml",
    ]);
    assert_eq!(r.plan["method"], "qlora");
    assert_eq!(r.plan["quantization"], "int4_double");
    assert_eq!(r.plan["sharding"], "fsdp_full_shard");
    assert_eq!(r.plan["gpus"], json!({"count": 2}));
    assert_eq!(r.plan["framework"], "llama_factory");
}

#[test]
fn every_field_transformers_writes_for_training_arguments_is_known() {
    let r = import(&["training_arguments/generated/training_args.json"]);
    assert_eq!(
        r.plan,
        json!({"task": "train", "framework": "hf_trainer", "batch_size": 4, "gradient_accumulation_steps": 8,
               "gradient_checkpointing": true, "optimizer": "paged_adamw_8bit", "precision": "bf16-mixed",
               "torch_compile": false})
    );
    assert!(r.not_understood.is_empty(), "{:?}", r.not_understood);
    // hub_token is ignored, so its value is never repeated in the report.
    assert!(!serde_json::to_string(&r).unwrap().contains("<HUB_TOKEN>"));
}

#[test]
fn a_trl_cli_config_runs_under_trl() {
    let r = import(&["training_arguments/examples/cli_configs/example_config.yaml"]);
    assert_eq!(r.plan["framework"], "trl");
    assert_eq!(r.plan["model"], json!({"id": "Qwen/Qwen2.5-0.5B"}));
    assert_eq!(r.plan["method"], "full");
}

#[test]
fn a_torchtune_recipe_maps_its_builder_to_a_model_and_its_lora_modules() {
    let r = import(&["torchtune/recipes/configs/llama3_2/1B_qlora_single_device.yaml"]);
    assert_eq!(
        r.plan,
        json!({"task": "train", "framework": "torchtune", "model": {"id": "meta-llama/Llama-3.2-1B"},
               "method": "qlora", "quantization": "int4", "batch_size": 4, "gradient_accumulation_steps": 8,
               "precision": "bf16-true", "gradient_checkpointing": false, "activation_offload": false,
               "torch_compile": false, "optimizer": "adamw", "chunked_loss": true,
               "lora": {"rank": 64, "alpha": 128.0, "dropout": 0.0,
                        "target_modules": ["q_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}})
    );
    let r = import(&["torchtune/recipes/configs/llama3_2/1B_full_single_device.yaml"]);
    assert_eq!(r.plan["optimizer_in_backward"], true);
    assert_eq!(r.plan["optimizer"], "paged_adamw_8bit");
}

#[test]
fn a_litgpt_config_maps_its_checkpoint_folder_and_global_batch() {
    let r = import(&["litgpt/config_hub/finetune/llama-3.2-1B/qlora.yaml"]);
    assert_eq!(r.plan["model"], json!({"id": "meta-llama/Llama-3.2-1B"}));
    assert_eq!(r.plan["method"], "qlora");
    assert_eq!(r.plan["quantization"], "int4");
    assert_eq!(r.plan["precision"], "bf16-true");
    assert_eq!(
        r.plan["lora"]["target_modules"],
        json!(["q_proj", "v_proj"])
    );
    // global_batch_size 8 / 1 device / micro_batch_size 2.
    assert_eq!(r.plan["gradient_accumulation_steps"], 4);
    assert_eq!(r.plan["sequence_length"], 512);
}

#[test]
fn an_accelerate_config_loads_the_deepspeed_file_it_names() {
    let r = import(&["accelerate/examples/config_yaml_templates/deepspeed.yaml"]);
    assert_eq!(r.files.len(), 2);
    assert_eq!(r.plan["sharding"], "zero1");
    assert_eq!(r.plan["precision"], "fp16-mixed");
    assert_eq!(r.plan["gpus"], json!({"count": 2}));
}

#[test]
fn a_lone_deepspeed_config_leaves_its_auto_values_to_the_plan_defaults_and_says_so() {
    let r = import(&["deepspeed/examples/deepspeed/ds_z2_offload_config.json"]);
    assert_eq!(
        r.plan,
        json!({"task": "train", "sharding": "zero2", "offload": "optimizer"})
    );
    let keys: Vec<&str> = r.auto_resolved.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "train_micro_batch_size_per_gpu",
            "gradient_accumulation_steps",
            "bf16.enabled"
        ]
    );
    assert!(r
        .auto_resolved
        .iter()
        .all(|a| a.became.is_null() && a.why.contains("default")));
}

#[test]
fn two_files_that_disagree_are_an_error_naming_both_and_the_key() {
    let paths = [
        fixture("axolotl/examples/llama-3/qlora-1b.yml"),
        fixture("deepspeed/tests/torch_compile/ds_config_z3.json"),
    ];
    match trainers::import_files(&paths) {
        Err(Error::Invalid { field, message, .. }) => {
            assert_eq!(field, "optimizer");
            assert!(
                message.contains("qlora-1b.yml optimizer")
                    && message.contains("ds_config_z3.json optimizer.type"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
}

/// docs/estimator.md §17: a config whose batches are all padded to one length says so in the plan
/// (`sequence_lengths` of that one length), so its band has no allowance for changing lengths; one whose
/// batches are padded to their longest sample leaves the lengths open.
#[test]
fn packed_or_padded_batches_become_one_length_and_batches_padded_to_their_longest_stay_open() {
    let dir = tempfile::tempdir().unwrap();
    let case = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        trainers::import_files(std::slice::from_ref(&path)).unwrap()
    };
    let axolotl = |extra: &str| {
        case(
            "axolotl.yml",
            &format!("base_model: Qwen/Qwen3-8B\nadapter: lora\nsequence_len: 4096\nmicro_batch_size: 2\n{extra}"),
        )
    };
    // Axolotl: pad_to_sequence_len, which sample_packing turns on unless it is set to false.
    for (extra, from) in [
        ("sample_packing: true\n", Some("sample_packing")),
        ("pad_to_sequence_len: true\n", Some("pad_to_sequence_len")),
        (
            "sample_packing: true\npad_to_sequence_len: true\n",
            Some("pad_to_sequence_len"),
        ),
        ("sample_packing: true\npad_to_sequence_len: false\n", None),
        ("sample_packing: false\n", None),
        ("", None),
    ] {
        let r = axolotl(extra);
        match from {
            Some(key) => {
                assert_eq!(r.plan["sequence_lengths"], json!([4096]), "{extra}");
                assert!(
                    r.mapped
                        .iter()
                        .any(|m| m.key == key && m.plan_key == "sequence_lengths"),
                    "{extra}: {:?}",
                    r.mapped
                );
            }
            None => assert!(
                r.plan.get("sequence_lengths").is_none(),
                "{extra}: {}",
                r.plan
            ),
        }
        assert!(
            r.not_understood.is_empty(),
            "{extra}: {:?}",
            r.not_understood
        );
        // Where the batches are padded to one length, no key of the answer is listed as meaning they vary.
        if from.is_some() {
            assert!(
                !r.ignored
                    .iter()
                    .any(|i| i.key == "sample_packing" || i.key == "pad_to_sequence_len"),
                "{extra}: {:?}",
                r.ignored
            );
        }
        // The imported plan parses: one length equal to the sequence length.
        plan_from_value(&r.plan, &builtin_presets()).unwrap();
    }
    // torchtune: a packed dataset pads every pack to the tokenizer's max_seq_len.
    let torchtune = |packed: &str| {
        case(
            "8B_lora.yaml",
            &format!(
                "model:\n  _component_: torchtune.models.llama3_1.lora_llama3_1_8b\n  lora_attn_modules: ['q_proj', 'v_proj']\n  lora_rank: 8\n  lora_alpha: 16\ntokenizer:\n  _component_: torchtune.models.llama3.llama3_tokenizer\n  path: /tmp/tokenizer.model\n  max_seq_len: 2048\ndataset:\n  _component_: torchtune.datasets.alpaca_cleaned_dataset\n  packed: {packed}\nbatch_size: 2\n"
            ),
        )
    };
    assert_eq!(torchtune("True").plan["sequence_lengths"], json!([2048]));
    assert!(torchtune("False").plan.get("sequence_lengths").is_none());
}

#[test]
fn a_named_file_that_is_not_there_is_not_understood_and_an_unknown_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("train.yaml");
    std::fs::write(
        &path,
        "base_model: Qwen/Qwen3-8B\ndeepspeed: nowhere/zero3.json\nmystery_knob: 7\n",
    )
    .unwrap();
    let r = trainers::import_files(std::slice::from_ref(&path)).unwrap();
    let missing = r
        .not_understood
        .iter()
        .find(|n| n.key == "deepspeed")
        .unwrap();
    assert_eq!(missing.value, json!("nowhere/zero3.json"));
    assert!(r
        .not_understood
        .iter()
        .any(|n| n.key == "mystery_knob" && n.value == json!(7)));

    std::fs::write(&path, "colour: blue\n").unwrap();
    match trainers::import_files(std::slice::from_ref(&path)) {
        Err(Error::Invalid { field, message, .. }) => {
            assert_eq!(field, path.display().to_string());
            assert!(message.contains("not a trainer config"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    std::fs::write(&path, "- a list\n").unwrap();
    assert!(matches!(
        trainers::import_files(std::slice::from_ref(&path)),
        Err(Error::Invalid { .. })
    ));
}

#[test]
fn imported_plans_of_catalog_models_estimate() {
    let resolver = Resolver { hub_cache: None };
    for files in [
        &["axolotl/examples/gemma2/qlora.yml"][..],
        &["torchtune/recipes/configs/llama3_2/1B_qlora_single_device.yaml"],
        &["litgpt/config_hub/finetune/llama-3.2-1B/qlora.yaml"],
    ] {
        let mut plan = import(files).plan;
        plan["gpus"] = json!({"count": 1, "memory_gib": 80});
        let est = estimate_plan(
            &plan.to_string(),
            &builtin_presets(),
            &MachineCalibration::default(),
            |m| model::resolve(m, &resolver),
        )
        .unwrap_or_else(|e| panic!("{files:?}: {e}"));
        assert!(est.per_gpu.device_peak_bytes > 0);
    }
}

fn plan(v: Value) -> Plan {
    plan_from_value(&v, &builtin_presets()).unwrap()
}

/// Every plan the exports can carry: sharding × offload × precision × GPUs × accumulation, the valid ones.
fn plans() -> Vec<Plan> {
    let mut out = Vec::new();
    for sharding in [
        "none",
        "zero1",
        "zero2",
        "zero3",
        "fsdp_full_shard",
        "fsdp_shard_grad_op",
    ] {
        for offload in ["none", "optimizer", "optimizer_and_params"] {
            for precision in ["fp32", "bf16-mixed", "fp16-mixed", "bf16-true"] {
                for (count, nodes) in [(1, 1), (8, 1), (4, 2)] {
                    for ga in [1, 16] {
                        let v = json!({"model": {"id": "meta-llama/Llama-3.1-8B"}, "task": "train",
                                       "sharding": sharding, "offload": offload, "precision": precision,
                                       "gpus": {"count": count, "memory_gib": 80}, "nodes": nodes,
                                       "gradient_accumulation_steps": ga, "batch_size": 2,
                                       "gradient_checkpointing": true});
                        if let Ok(p) = plan_from_value(&v, &builtin_presets()) {
                            out.push(p);
                        }
                    }
                }
            }
        }
    }
    out
}

/// Export, import the export, lay its plan keys over the original plan: the same plan.
fn round_trip(p: &Plan, format: ExportFormat) -> (ImportReport, Plan) {
    let exported = export(p, format).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format.file_name());
    std::fs::write(&file, &exported.text).unwrap();
    let report = trainers::import_files(&[file]).unwrap();
    assert!(
        report.not_understood.is_empty(),
        "{:?}\n{}",
        report.not_understood,
        exported.text
    );
    let mut v = plan_to_value(p);
    trainers::overlay(&mut v, &report.plan);
    (report, plan(v))
}

/// The plan as its saved file reads back (every default written out), to compare with a round trip's.
fn reread(p: &Plan) -> Plan {
    plan(plan_to_value(p))
}

#[test]
fn an_accelerate_export_imports_as_the_same_plan() {
    let all = plans();
    assert!(all.len() > 50, "{}", all.len());
    for p in all {
        let (report, back) = round_trip(&p, ExportFormat::Accelerate);
        assert_eq!(back, reread(&p), "{}", report.plan);
        assert_eq!(
            report.plan["sharding"],
            serde_json::to_value(p.sharding).unwrap()
        );
        assert_eq!(
            report.plan["gpus"]["count"],
            p.gpus.as_ref().unwrap().count.get()
        );
        if !p.precision.is_true16() {
            assert_eq!(
                report.plan["precision"],
                serde_json::to_value(p.precision).unwrap()
            );
        }
    }
}

#[test]
fn a_deepspeed_export_imports_as_the_same_plan() {
    for p in plans()
        .into_iter()
        .filter(|p| !p.sharding.is_fsdp() && !p.precision.is_true16())
    {
        let (report, back) = round_trip(&p, ExportFormat::Deepspeed);
        assert_eq!(back, reread(&p), "{}", report.plan);
        for key in [
            "sharding",
            "precision",
            "batch_size",
            "gradient_accumulation_steps",
        ] {
            assert!(report.plan.get(key).is_some(), "{key}: {}", report.plan);
        }
    }
}

#[test]
fn what_an_export_cannot_say_is_listed_or_refused() {
    let p = plan(
        json!({"model": {"id": "x"}, "task": "train", "sharding": "fsdp_full_shard",
                        "gpus": {"count": 2, "memory_gib": 80}}),
    );
    match export(&p, ExportFormat::Deepspeed) {
        Err(Error::Invalid { field, .. }) => assert_eq!(field, "sharding"),
        other => panic!("{other:?}"),
    }
    let p = plan(
        json!({"model": {"id": "x"}, "task": "train", "precision": "bf16-true", "sharding": "zero2",
                        "gpus": {"count": 2, "memory_gib": 80}}),
    );
    for format in [ExportFormat::Accelerate, ExportFormat::Deepspeed] {
        let e = export(&p, format).unwrap();
        assert!(
            e.not_carried
                .iter()
                .any(|n| n.starts_with("precision: bf16-true")),
            "{:?}",
            e.not_carried
        );
    }
    let p = plan(json!({"model": {"id": "x"}, "task": "infer"}));
    assert!(matches!(
        export(&p, ExportFormat::Accelerate),
        Err(Error::Invalid { .. })
    ));
}
