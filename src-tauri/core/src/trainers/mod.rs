//! Plans from trainers' config files (docs/trainers.md): Axolotl, LLaMA-Factory, TrainingArguments/TRL,
//! torchtune, LitGPT, accelerate and DeepSpeed configs become a partial plan and a report that says what became
//! of every key ([`ImportReport`]); [`export`] writes a plan back as an accelerate config or a DeepSpeed JSON.
//!
//! One module per format reads its keys into a [`doc::Doc`], which tracks every key so that each one ends up
//! mapped, resolved, ignored or not understood. [`import_files`] reads the files (and the DeepSpeed JSONs they
//! name), merges them, refuses two files that disagree on a key, and resolves `"auto"` values.

mod accelerate;
mod axolotl;
mod common;
mod deepspeed;
mod doc;
pub mod export;
mod litgpt;
mod llama_factory;
mod report;
mod torchtune;
mod training_args;

use crate::message::{Key, Message};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

pub use report::*;

use crate::{fsio, Error, Result};
use doc::{Doc, DocResult};

/// Which format a parsed config is, by the keys only that format has; `None` when no format fits.
pub fn detect(value: &Value) -> Option<TrainerFormat> {
    let o = value.as_object()?;
    let has = |k: &str| o.get(k).is_some_and(|v| !v.is_null());
    if has("zero_optimization")
        || has("train_micro_batch_size_per_gpu")
        || has("train_batch_size")
        || o.get("bf16").is_some_and(Value::is_object)
        || o.get("fp16").is_some_and(Value::is_object)
    {
        return Some(TrainerFormat::Deepspeed);
    }
    if has("distributed_type") || has("compute_environment") {
        return Some(TrainerFormat::Accelerate);
    }
    if o.values().any(|v| v.get("_component_").is_some()) {
        return Some(TrainerFormat::Torchtune);
    }
    if has("finetuning_type")
        || has("cutoff_len")
        || has("quantization_bit")
        || (has("stage") && has("template"))
    {
        return Some(TrainerFormat::LlamaFactory);
    }
    if has("base_model") || has("micro_batch_size") || has("sequence_len") || has("adapter") {
        return Some(TrainerFormat::Axolotl);
    }
    if has("checkpoint_dir")
        || o.get("train")
            .is_some_and(|t| t.get("micro_batch_size").is_some())
    {
        return Some(TrainerFormat::Litgpt);
    }
    if has("per_device_train_batch_size")
        || has("output_dir")
        || has("optim")
        || training_args::TRL_KEYS.iter().any(|k| has(k))
    {
        return Some(TrainerFormat::TrainingArguments);
    }
    None
}

/// A config's text as JSON: JSON when it is an object in braces, YAML otherwise (YAML's keys must be strings).
pub fn parse_config(file: &str, text: &str) -> Result<Value> {
    let value: Value = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| {
            Error::invalid_msg(
                file,
                Message::new(Key::InvalidNotValidJson).text("e", e.to_string()),
            )
        })?
    } else {
        serde_yaml_ng::from_str(text).map_err(|e| {
            Error::invalid_msg(
                file,
                Message::new(Key::InvalidTrainerNotValidYaml).text("e", e.to_string()),
            )
        })?
    };
    if !value.is_object() {
        return Err(Error::invalid_msg(
            file,
            Message::new(Key::InvalidTrainerTrainerConfigMappingKeys),
        ));
    }
    Ok(value)
}

/// Reads one parsed config of a known format. Returns what its keys say and the framework it implies.
fn read_config(
    file: &str,
    format: TrainerFormat,
    value: Value,
) -> (DocResult, Option<&'static str>) {
    let mut doc = Doc::new(file, value);
    let framework = match format {
        TrainerFormat::Axolotl => {
            axolotl::read(&mut doc);
            Some("axolotl")
        }
        TrainerFormat::LlamaFactory => {
            llama_factory::read(&mut doc);
            Some("llama_factory")
        }
        TrainerFormat::TrainingArguments => Some(training_args::read(&mut doc)),
        TrainerFormat::Torchtune => {
            torchtune::read(&mut doc);
            Some("torchtune")
        }
        TrainerFormat::Litgpt => {
            litgpt::read(&mut doc);
            Some("litgpt")
        }
        TrainerFormat::Accelerate => {
            accelerate::read(&mut doc);
            None
        }
        TrainerFormat::Deepspeed => {
            deepspeed::read(&mut doc);
            None
        }
    };
    (doc.finish(), framework)
}

/// Import trainer configs: each file, and each DeepSpeed JSON a file names (found beside it or in a folder above
/// it, as a trainer started from its project's root finds it), merged into one partial plan. Two files that
/// give one plan key different values are an error naming both.
pub fn import_files(paths: &[PathBuf]) -> Result<ImportReport> {
    if paths.is_empty() {
        return Err(Error::invalid_msg(
            "from",
            Message::new(Key::InvalidTrainerNoTrainerConfigGiven),
        ));
    }
    let mut queue: Vec<(PathBuf, Option<String>)> =
        paths.iter().map(|p| (p.clone(), None)).collect();
    let mut seen: Vec<PathBuf> = paths.iter().map(|p| canonical(p)).collect();
    let mut read = Vec::new();
    let mut i = 0;
    while i < queue.len() {
        let (path, named_by) = queue[i].clone();
        i += 1;
        let name = path.display().to_string();
        let text = fsio::read_to_string(&path, fsio::TRAINER_CONFIG)?;
        let value = parse_config(&name, &text)?;
        let format = detect(&value).ok_or_else(|| {
            Error::invalid_msg(
                name.clone(),
                Message::new(Key::InvalidTrainerNotTrainerConfigHeadroom),
            )
        })?;
        let (mut result, framework) = read_config(&name, format, value);
        for named in std::mem::take(&mut result.named) {
            match find_named(&path, &named.path) {
                Some(found) => {
                    let c = canonical(&found);
                    if !seen.contains(&c) {
                        seen.push(c);
                        queue.push((found, Some(format!("{name} {}", named.key))));
                    }
                }
                None => result.not_understood.push(NotUnderstood {
                    file: name.clone(),
                    key: named.key.clone(),
                    value: json!(named.path),
                    why: "names a file found neither beside this one nor in a folder above it: import it with \
                          another --from"
                        .into(),
                }),
            }
        }
        read.push((
            ImportedFile {
                path: name,
                format,
                named_by,
            },
            result,
            framework,
        ));
    }
    merge(read)
}

/// Where a named file is: absolute as given, else relative to the naming file's folder or one above it.
fn find_named(naming: &Path, named: &str) -> Option<PathBuf> {
    let p = Path::new(named);
    if p.is_absolute() {
        return p.is_file().then(|| p.to_path_buf());
    }
    let dir = naming.parent()?;
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    dir.ancestors().map(|d| d.join(p)).find(|c| c.is_file())
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Where a plan key's value came from.
struct Source {
    value: Value,
    file: String,
    key: String,
}

fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Merges what each file said into one report, in the order the files were read.
fn merge(read: Vec<(ImportedFile, DocResult, Option<&'static str>)>) -> Result<ImportReport> {
    let mut chosen: BTreeMap<String, Source> = BTreeMap::new();
    let mut report = ImportReport {
        plan: Value::Null,
        files: Vec::new(),
        mapped: Vec::new(),
        auto_resolved: Vec::new(),
        ignored: Vec::new(),
        not_understood: Vec::new(),
    };
    let mut pending = Vec::new();
    for (file, result, framework) in read {
        let mut sets = result.sets;
        if let Some(f) = framework {
            sets.insert(
                0,
                doc::Set {
                    plan_key: "framework".into(),
                    plan_value: json!(f),
                    key: "(format)".into(),
                    value: json!(file.format),
                    note: Some(format!(
                        "a {} runs under this framework",
                        file.format.label()
                    )),
                },
            );
        }
        for set in sets {
            if let Some(prev) = chosen.get(&set.plan_key) {
                if prev.file != result.file && !same(&prev.value, &set.plan_value) {
                    return Err(Error::invalid_msg(
                        set.plan_key.clone(),
                        Message::new(Key::InvalidTrainerFilesDisagreeGivesGives)
                            .text("file", prev.file.to_string())
                            .text("key", prev.key.to_string())
                            .text("value", prev.value.to_string())
                            .text("other_file", result.file.to_string())
                            .text("other_key", set.key.to_string())
                            .text("plan_value", set.plan_value.to_string()),
                    ));
                }
            }
            chosen.insert(
                set.plan_key.clone(),
                Source {
                    value: set.plan_value.clone(),
                    file: result.file.clone(),
                    key: set.key.clone(),
                },
            );
            report.mapped.push(MappedKey {
                file: result.file.clone(),
                key: set.key,
                value: set.value,
                plan_key: set.plan_key,
                plan_value: set.plan_value,
                note: set.note,
            });
        }
        for r in result.resolved {
            report.auto_resolved.push(AutoResolved {
                file: result.file.clone(),
                key: r.key,
                plan_key: r.plan_key,
                became: r.became,
                why: r.why,
            });
        }
        pending.extend(result.pending.into_iter().map(|p| (result.file.clone(), p)));
        report.ignored.extend(result.ignored);
        report.not_understood.extend(result.not_understood);
        report.files.push(file);
    }
    for (file, p) in pending {
        let (became, why) = match chosen.get(&p.plan_key) {
            Some(src) => (
                src.value.clone(),
                format!("auto: taken from {} {}", src.file, src.key),
            ),
            None => match p.fallback {
                Some((v, why)) => {
                    chosen.insert(
                        p.plan_key.clone(),
                        Source {
                            value: v.clone(),
                            file: file.clone(),
                            key: p.key.clone(),
                        },
                    );
                    (v, why)
                }
                None => (Value::Null, p.default_why),
            },
        };
        report.auto_resolved.push(AutoResolved {
            file,
            key: p.key,
            plan_key: p.plan_key,
            became,
            why,
        });
    }
    let mut plan = Map::new();
    plan.insert("task".into(), json!("train"));
    for (key, src) in chosen {
        insert_dotted(&mut plan, &key, src.value);
    }
    report.plan = Value::Object(plan);
    Ok(report)
}

fn insert_dotted(o: &mut Map<String, Value>, key: &str, value: Value) {
    match key.split_once('.') {
        None => {
            o.insert(key.to_string(), value);
        }
        Some((head, rest)) => {
            let child = o
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !child.is_object() {
                *child = Value::Object(Map::new());
            }
            if let Value::Object(c) = child {
                insert_dotted(c, rest, value);
            }
        }
    }
}

/// Lays `over`'s keys over `base` (objects merged key by key, `lora` and `gpus` included): what a plan file
/// or the command line says wins over what imported configs say.
pub fn overlay(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() && k != "model" => {
                        overlay(existing, v)
                    }
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}
