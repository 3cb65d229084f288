//! Building a [`ModelSpec`] from each source, and [`resolve`] for the plan contract's `model` key
//! (docs/contract.md §1: exactly one of `{"id"}`, `{"path"}`, `{"config"}`; unknown keys are errors).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::config::{analyze, parse_config, ConfigFacts};
use super::spec::{ModelSource, ModelSpec, ParameterCounts};
use super::{catalog, hf_cache, safetensors, weights};
use crate::message::{Key, Message};
use crate::{fsio, Error, Result};

/// The plan's `model` key. Serde's externally tagged form gives exactly the contract: one key, `id`, `path` or
/// `config`; two keys or an unknown one is an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ModelRef {
    /// A catalog id, or the id of a model in the local Hugging Face cache.
    Id(String),
    /// A folder with config.json and optionally safetensors.
    Path(#[ts(type = "string")] PathBuf),
    /// A config.json object.
    Config(#[ts(type = "Record<string, unknown>")] Map<String, Value>),
}

impl ModelRef {
    /// Parse the `model` value of a plan, with errors that name `model` or `model.KEY`.
    pub fn from_value(value: &Value) -> Result<Self> {
        let Value::Object(map) = value else {
            return Err(Error::invalid_msg(
                "model",
                Message::new(Key::InvalidModelMustObjectExactlyOne),
            ));
        };
        if let Some(key) = map
            .keys()
            .find(|k| !matches!(k.as_str(), "id" | "path" | "config"))
        {
            return Err(Error::invalid_msg(
                format!("model.{key}"),
                Message::new(Key::InvalidModelUnknownKeyExpectedExactly),
            ));
        }
        if map.len() != 1 {
            return Err(Error::invalid_msg(
                "model",
                Message::new(Key::InvalidModelMustHaveExactlyOne).text(
                    "value",
                    (if map.is_empty() {
                        "none".to_owned()
                    } else {
                        map.keys().cloned().collect::<Vec<_>>().join(", ")
                    })
                    .to_string(),
                ),
            ));
        }
        let model: ModelRef = serde_json::from_value(value.clone()).map_err(|e| {
            let key = map.keys().next().map(String::as_str).unwrap_or("model");
            Error::invalid(format!("model.{key}"), e.to_string())
        })?;
        match &model {
            ModelRef::Id(id) if id.trim().is_empty() => Err(Error::invalid_msg(
                "model.id",
                Message::new(Key::InvalidMustNotEmpty),
            )),
            ModelRef::Path(p) if p.as_os_str().to_string_lossy().trim().is_empty() => Err(
                Error::invalid_msg("model.path", Message::new(Key::InvalidMustNotEmpty)),
            ),
            _ => Ok(model),
        }
    }
}

/// Where [`resolve`] may look besides the catalog.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    /// The Hugging Face hub cache (see [`hf_cache::hub_cache_dir`]); `None` skips it.
    pub hub_cache: Option<PathBuf>,
}

/// Resolve a plan's model: ids look in the catalog first, then the local Hugging Face cache.
pub fn resolve(model: &ModelRef, resolver: &Resolver) -> Result<ModelSpec> {
    match model {
        ModelRef::Id(id) => {
            if let Some(spec) = from_catalog(id)? {
                return Ok(spec);
            }
            if let Some(spec) = from_hub_cache(id, resolver)? {
                return Ok(spec);
            }
            Err(Error::invalid_msg(
                "model.id",
                Message::new(Key::InvalidModelNeitherBuiltCatalogNor)
                    .text("id", format!("{id:?}"))
                    .text(
                        "value",
                        (resolver
                            .hub_cache
                            .as_ref()
                            .map(|p| format!(" ({})", p.display()))
                            .unwrap_or_default())
                        .to_string(),
                    ),
            ))
        }
        ModelRef::Path(path) => from_folder(path),
        ModelRef::Config(map) => from_config(map, "model.config"),
    }
}

/// The config.json object a plan's model stands for, as transformers would read it: the catalog entry's
/// config, the cached snapshot's or the folder's config.json, or the plan's own object.
pub fn config_of(model: &ModelRef, resolver: &Resolver) -> Result<Map<String, Value>> {
    match model {
        ModelRef::Id(id) => {
            if let Some(entry) = catalog::lookup(id)? {
                return Ok(entry.config.clone());
            }
            if let Some((_, snapshot)) = hub_model(id, resolver)? {
                return read_config(&snapshot);
            }
            Err(Error::invalid_msg(
                "model.id",
                Message::new(Key::InvalidModelNeitherBuiltCatalogNor2)
                    .text("id", format!("{id:?}")),
            ))
        }
        ModelRef::Path(path) => read_config(path),
        ModelRef::Config(map) => Ok(map.clone()),
    }
}

/// A folder's config.json, parsed.
fn read_config(folder: &Path) -> Result<Map<String, Value>> {
    let config_path = folder.join("config.json");
    // Read through fsio whatever is there, so a FIFO or a device named config.json is refused by name rather
    // than hanging the read or passing for "no config.json".
    let bytes = match fsio::read(&config_path, fsio::MODEL_CONFIG) {
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::invalid_msg(
                "model.path",
                Message::new(Key::InvalidModelHasNoConfigJson)
                    .text("folder", folder.display().to_string()),
            ))
        }
        other => other?,
    };
    parse_config(&bytes, &config_path.display().to_string())
}

/// A model in the local Hugging Face cache and its snapshot folder; `None` when it is not downloaded.
fn hub_model(id: &str, resolver: &Resolver) -> Result<Option<(hf_cache::CachedModel, PathBuf)>> {
    let Some(cache) = &resolver.hub_cache else {
        return Ok(None);
    };
    let models = hf_cache::scan(cache)?;
    let Some(model) = models.into_iter().find(|m| m.id.eq_ignore_ascii_case(id)) else {
        return Ok(None);
    };
    match model.snapshot.clone() {
        Some(snapshot) => Ok(Some((model, snapshot))),
        None => Err(Error::invalid_msg(
            "model.id",
            Message::new(Key::InvalidModelHuggingFaceCacheBut).text("id", id.to_string()),
        )),
    }
}

/// A spec from a config.json object alone (no weights to read).
pub fn from_config(config: &Map<String, Value>, origin: &str) -> Result<ModelSpec> {
    let facts = analyze(config, origin)?;
    let Some(parameters) = facts.parameters else {
        return Err(Error::invalid_msg(
            format!("{origin}: model_type"),
            Message::new(Key::InvalidModelNotModelTypeHeadroom)
                .text("model_type", format!("{:?}", facts.model_type)),
        ));
    };
    let mut spec = spec_of(
        facts.model_type,
        facts.stored_dtype,
        parameters,
        facts.architecture,
        facts.notes,
    );
    spec.id = "config".into();
    Ok(spec)
}

/// A spec from the built-in catalog; `None` when the id is not there.
pub fn from_catalog(id: &str) -> Result<Option<ModelSpec>> {
    let Some(entry) = catalog::lookup(id)? else {
        return Ok(None);
    };
    let mut spec = from_config(&entry.config, &format!("catalog {}", entry.id))?;
    spec.id = entry.id.clone();
    spec.source = ModelSource::Catalog;
    for note in &entry.notes {
        spec.add_note(catalog_remark(note));
    }
    spec.add_note(Message::new(Key::NoteModelCatalogSource).text("source", entry.source.clone()));
    Ok(Some(spec))
}

/// A catalog entry's remark as a message: each remark catalog.json holds has a key of its own whose English is
/// the remark word for word (`backend.note.model.catalog.*`), so the UI can say it in the person's language; a
/// remark without one (a catalog edited since) keeps its English inside `catalog_note`.
pub fn catalog_remark(note: &str) -> Message {
    Key::ALL
        .iter()
        .find(|k| {
            k.as_str().starts_with("backend.note.model.catalog.") && k.english() == Some(note)
        })
        .map_or_else(
            || Message::new(Key::NoteModelCatalogNote).text("text", note.to_string()),
            |&k| Message::new(k),
        )
}

/// A spec for a model in the local Hugging Face cache; `None` when it is not downloaded.
pub fn from_hub_cache(id: &str, resolver: &Resolver) -> Result<Option<ModelSpec>> {
    let Some((model, snapshot)) = hub_model(id, resolver)? else {
        return Ok(None);
    };
    let mut spec = from_folder(&snapshot)?;
    spec.id = model.id.clone();
    spec.source = ModelSource::HfCache {
        path: snapshot.clone(),
        revision: model.revision.clone().unwrap_or_else(|| {
            snapshot
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        }),
    };
    Ok(Some(spec))
}

/// A spec from a model folder: config.json, and the safetensors headers when there are any, which are the truth
/// for parameter counts and stored dtype (the architecture count is kept as a cross-check note).
pub fn from_folder(folder: &Path) -> Result<ModelSpec> {
    let map = read_config(folder)?;
    let origin = folder.join("config.json").display().to_string();
    let facts = analyze(&map, &origin)?;
    let checkpoint = safetensors::read_folder(folder)?;
    let mut spec = combine(facts, checkpoint.as_ref(), &origin)?;
    spec.id = folder.display().to_string();
    spec.source = ModelSource::Folder {
        path: folder.to_path_buf(),
    };
    if checkpoint.is_none()
        && (folder.join("pytorch_model.bin").is_file()
            || folder.join("pytorch_model.bin.index.json").is_file())
    {
        spec.add_note(Message::new(Key::NoteModelBinWeights));
    }
    Ok(spec)
}

/// Merge what config.json says with what the headers say.
fn combine(
    facts: ConfigFacts,
    checkpoint: Option<&safetensors::Checkpoint>,
    origin: &str,
) -> Result<ModelSpec> {
    let mut notes = facts.notes;
    let Some(checkpoint) = checkpoint else {
        let Some(parameters) = facts.parameters else {
            return Err(Error::invalid_msg(
                format!("{origin}: model_type"),
                Message::new(Key::InvalidModelNotModelTypeHeadroom2)
                    .text("model_type", format!("{:?}", facts.model_type)),
            ));
        };
        notes.push(Message::new(Key::NoteModelNoSafetensors));
        return Ok(spec_of(
            facts.model_type,
            facts.stored_dtype,
            parameters,
            facts.architecture,
            notes,
        ));
    };
    notes.extend(checkpoint.notes.iter().cloned());
    let counted = weights::count(checkpoint, facts.packing, facts.tie_word_embeddings);
    notes.extend(counted.notes.iter().cloned());
    for (dtype, n) in &counted.unmapped {
        notes.push(
            Message::new(Key::NoteModelUnmappedDtype)
                .count("count", *n)
                .text("dtype", dtype.as_str()),
        );
    }
    let stored_dtype = counted.dominant_dtype().unwrap_or(facts.stored_dtype);
    if stored_dtype != facts.stored_dtype && counted.dominant_dtype().is_some() {
        notes.push(
            Message::new(Key::NoteModelHeadersDtype)
                .text("headers", format!("{stored_dtype:?}"))
                .text("config", format!("{:?}", facts.stored_dtype)),
        );
    }
    let parameters = match facts.parameters {
        Some(arch) if arch.total == counted.parameters.total => arch,
        Some(arch) => {
            notes.push(
                Message::new(Key::NoteModelHeadersCount)
                    .count("headers", counted.parameters.total)
                    .count("config", arch.total),
            );
            counted.parameters
        }
        None => {
            notes.push(Message::new(Key::NoteModelBreakdownFromNames));
            counted.parameters
        }
    };
    Ok(spec_of(
        facts.model_type,
        stored_dtype,
        parameters,
        facts.architecture,
        notes,
    ))
}

fn spec_of(
    model_type: String,
    stored_dtype: super::spec::DType,
    parameters: ParameterCounts,
    architecture: Option<super::spec::Architecture>,
    notes: Vec<Message>,
) -> ModelSpec {
    let mut spec = ModelSpec {
        id: String::new(),
        model_type,
        source: ModelSource::RawConfig,
        stored_dtype,
        parameters,
        architecture,
        notes: Vec::with_capacity(notes.len()),
        note_messages: Vec::with_capacity(notes.len()),
    };
    for note in notes {
        spec.add_note(note);
    }
    spec
}
