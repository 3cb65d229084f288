//! Per-model configs on disk: one versioned file per model, `<config_dir>/model-configs/<org>--<name>.json`,
//! written through [`crate::store`] (atomic replace, quarantine, revision-checked saves).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::library::{
    json_files, no_such_preset, quarantined_error, unreadable_file, JsonFiles, PresetLibrary,
    SkippedFile,
};
use super::model_config::{validate_shape, validate_with, ModelConfig, DEFAULT_FALLBACK_CHAIN};
use super::{validate, PresetBody};
use crate::message::{Key, Message};
use crate::paths::AppPaths;
use crate::store::{self, DirLock, Document, Loaded, Quarantine, Revision};
use crate::{Error, Result};

/// A config file's contents; structurally valid (see [`validate_shape`]). References to presets are checked
/// when saving, not loading: deleting a preset must not make a config unreadable.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct StoredConfig(#[serde(deserialize_with = "valid_config")] pub ModelConfig);

fn valid_config<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<ModelConfig, D::Error> {
    let c = ModelConfig::deserialize(d)?;
    validate_shape(&c).map_err(serde::de::Error::custom)?;
    Ok(c)
}

impl Document for StoredConfig {
    const VERSION: u32 = 1;
}

/// A saved config, with the revision to hand back when saving it.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct ModelConfigEntry {
    pub model_id: String,
    pub revision: Revision,
    pub config: ModelConfig,
    /// Presets the config names (as its choice or in its chain) that cannot be loaded: deleted, renamed by a
    /// build that was interrupted, or unreadable. `run` refuses such a config until another preset is chosen.
    /// Filled in by [`flag_missing_presets`] where a config is shown; absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[ts(optional, as = "Option<Vec<String>>")]
    pub missing_presets: Vec<String>,
}

impl ModelConfigEntry {
    fn new(model_id: &str, revision: Revision, config: ModelConfig) -> Self {
        ModelConfigEntry {
            model_id: model_id.to_string(),
            revision,
            config,
            missing_presets: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct ConfigList {
    pub configs: Vec<ModelConfigEntry>,
    /// The chain a new config starts with ([`DEFAULT_FALLBACK_CHAIN`]), so the app's form need not know it.
    pub default_chain: Vec<String>,
    pub quarantined: Vec<Quarantine>,
    pub skipped: Vec<SkippedFile>,
    /// Entries that could not be read at all, left where they are (see
    /// [`super::library::PresetList::unreadable`]); absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[ts(optional, as = "Option<Vec<SkippedFile>>")]
    pub unreadable: Vec<SkippedFile>,
}

impl ConfigList {
    /// Fill in every entry's `missing_presets`.
    pub fn flag_missing_presets(&mut self, presets: &PresetLibrary) {
        flag_missing_presets(&mut self.configs, presets);
    }
}

/// Fill in each entry's `missing_presets`, reading each named preset once.
pub fn flag_missing_presets(entries: &mut [ModelConfigEntry], presets: &PresetLibrary) {
    let mut known: BTreeMap<String, bool> = BTreeMap::new();
    for entry in entries {
        let mut missing = Vec::new();
        for name in entry.config.attempts() {
            // An unreadable preset is as unusable as a missing one; its own listing says why.
            let loads = *known
                .entry(name.clone())
                .or_insert_with(|| matches!(preset_body(presets, &name), Ok(Some(_))));
            if !loads && !missing.contains(&name) {
                missing.push(name);
            }
        }
        entry.missing_presets = missing;
    }
}

/// A model id (`meta-llama/Llama-3.1-8B`, or a bare name) as a file stem: `/` becomes `--`, the Hugging Face
/// cache's own convention (`models--org--name`). Hub names cannot contain `--`, so the mapping reverses.
pub fn file_stem(model_id: &str) -> Result<String> {
    let parts: Vec<&str> = model_id.split('/').collect();
    if parts.len() > 2 {
        return Err(Error::invalid_msg(
            "model_id",
            Message::new(Key::InvalidConfigHasMoreThanOne)
                .text("model_id", format!("{model_id:?}")),
        ));
    }
    for part in &parts {
        if part.contains("--") {
            return Err(Error::invalid_msg(
                "model_id",
                Message::new(Key::InvalidConfigPartModelIdCannot)
                    .text("model_id", format!("{model_id:?}")),
            ));
        }
        store::check_name("model_id", part)?;
    }
    let stem = parts.join("--");
    store::check_name("model_id", &stem)?;
    Ok(stem)
}

fn model_id_of(stem: &str) -> Option<String> {
    let id = stem.replacen("--", "/", 1);
    (file_stem(&id).ok()? == stem).then_some(id)
}

/// The per-model configs folder.
#[derive(Debug, Clone)]
pub struct ConfigLibrary {
    dir: PathBuf,
}

impl ConfigLibrary {
    pub fn new(paths: &AppPaths) -> Self {
        ConfigLibrary::at(paths.config_dir.join("model-configs"))
    }

    pub fn at(dir: impl Into<PathBuf>) -> Self {
        ConfigLibrary { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path_of(&self, model_id: &str) -> Result<PathBuf> {
        Ok(self.dir.join(format!("{}.json", file_stem(model_id)?)))
    }

    pub fn list(&self) -> Result<ConfigList> {
        let JsonFiles { files, unreadable } = json_files(&self.dir)?;
        let mut out = ConfigList {
            configs: Vec::new(),
            default_chain: DEFAULT_FALLBACK_CHAIN
                .iter()
                .map(|s| s.to_string())
                .collect(),
            quarantined: Vec::new(),
            skipped: Vec::new(),
            unreadable,
        };
        for (stem, path) in files {
            let Some(model_id) = model_id_of(&stem) else {
                out.skipped.push(SkippedFile {
                    path,
                    reason: "the file name is not a model id written as org--name".into(),
                });
                continue;
            };
            match store::load::<StoredConfig>(&path) {
                Ok(Loaded::Missing) => {}
                Ok(Loaded::Found {
                    value, revision, ..
                }) => out
                    .configs
                    .push(ModelConfigEntry::new(&model_id, revision, value.0)),
                Ok(Loaded::Quarantined(q)) => out.quarantined.push(q),
                // One file the system will not read must not hide the others.
                Err(e) => out.unreadable.push(unreadable_file(path, &e)),
            }
        }
        Ok(out)
    }

    /// The config saved for `model_id`, `None` when there is none.
    pub fn get(&self, model_id: &str) -> Result<Option<ModelConfigEntry>> {
        let path = self.path_of(model_id)?;
        match store::load::<StoredConfig>(&path)? {
            Loaded::Missing => Ok(None),
            Loaded::Found {
                value, revision, ..
            } => Ok(Some(ModelConfigEntry::new(model_id, revision, value.0))),
            Loaded::Quarantined(q) => Err(quarantined_error(&q)),
        }
    }

    /// Save `config` for `model_id` after checking every rule against `presets`, if nobody saved it since
    /// `expected` was read ([`Revision::ABSENT`] for a new one); otherwise [`Error::Conflict`]. For a whole
    /// config the user edited; a change to a few fields goes through [`ConfigLibrary::update`].
    pub fn set(
        &self,
        model_id: &str,
        config: &ModelConfig,
        expected: Revision,
        presets: &PresetLibrary,
    ) -> Result<Revision> {
        let path = self.path_of(model_id)?;
        validate_with(config, &|name| preset_body(presets, name))?.map_err(Error::from)?;
        store::save(&path, &StoredConfig(config.clone()), expected)
    }

    /// Change `model_id`'s config as it is saved now: under the folder's lock, `change` gets the current entry
    /// (`None` when there is none) and returns the config to save, which is checked against `presets` and
    /// saved before the lock is let go. Two updates at the same moment both land, one applied to the other's
    /// result. Returns the entry as saved.
    pub fn update(
        &self,
        model_id: &str,
        presets: &PresetLibrary,
        change: impl FnOnce(Option<&ModelConfigEntry>) -> Result<ModelConfig>,
    ) -> Result<ModelConfigEntry> {
        let path = self.path_of(model_id)?;
        let lock = self.lock()?;
        let current = self.get(model_id)?;
        let config = change(current.as_ref())?;
        validate_with(&config, &|name| preset_body(presets, name))?.map_err(Error::from)?;
        let expected = current.map_or(Revision::ABSENT, |c| c.revision);
        let revision = lock.save(&path, &StoredConfig(config.clone()), expected)?;
        Ok(ModelConfigEntry::new(model_id, revision, config))
    }

    pub fn delete(&self, model_id: &str, expected: Revision) -> Result<()> {
        let path = self.path_of(model_id)?;
        let lock = self.lock()?;
        match self.get(model_id)? {
            None => Err(Error::invalid_msg(
                "model_id",
                Message::new(Key::InvalidConfigNoConfigSaved)
                    .text("model_id", format!("{model_id:?}")),
            )),
            Some(_) => lock.remove(&path, expected),
        }
    }

    /// The configs folder's write lock (see [`crate::store`]); a writer that also needs the presets folder's
    /// takes that one first.
    pub fn lock(&self) -> Result<DirLock> {
        DirLock::acquire(&self.dir)
    }

    /// Model ids whose config names `preset` (as the choice or in the fallback chain).
    pub fn referencing(&self, preset: &str) -> Result<Vec<String>> {
        Ok(self
            .list()?
            .configs
            .into_iter()
            .filter(|e| {
                e.config.preset == preset || e.config.fallback_chain.iter().any(|p| p == preset)
            })
            .map(|e| e.model_id)
            .collect())
    }

    /// Point every config that names `old` (as its choice or in its chain) at `new`, under `lock` (this
    /// folder's), each file replaced atomically. `new` must already exist with `old`'s settings, so every rule
    /// that held still holds and nothing is checked again (a config that was already broken in another way
    /// must not stop the rename half-way). Returns the model ids changed, and calls `after_each` after each
    /// write (where a test injects a crash).
    pub(crate) fn repoint_locked(
        &self,
        lock: &DirLock,
        old: &str,
        new: &str,
        after_each: &mut dyn FnMut() -> Result<()>,
    ) -> Result<Vec<String>> {
        let mut changed = Vec::new();
        for entry in self.list()?.configs {
            let mut config = entry.config.clone();
            if config.preset == old {
                config.preset = new.to_string();
            }
            for step in &mut config.fallback_chain {
                if step == old {
                    *step = new.to_string();
                }
            }
            if config != entry.config {
                let path = self.path_of(&entry.model_id)?;
                lock.save(&path, &StoredConfig(config), entry.revision)?;
                changed.push(entry.model_id);
                after_each()?;
            }
        }
        Ok(changed)
    }

    /// What the launcher needs: each attempt's name and the preset to load, the chosen one with this model's
    /// overrides applied (fallbacks are used as they are: an override written for one preset, such as a
    /// compute dtype, does not carry over to another).
    pub fn attempts(
        &self,
        model_id: &str,
        presets: &PresetLibrary,
    ) -> Result<Vec<(String, PresetBody)>> {
        let entry = self.get(model_id)?.ok_or_else(|| {
            Error::invalid_msg(
                "model_id",
                Message::new(Key::InvalidConfigNoConfigSaved)
                    .text("model_id", format!("{model_id:?}")),
            )
        })?;
        let config = entry.config;
        let mut out = Vec::new();
        for (i, name) in config.attempts().into_iter().enumerate() {
            let field = if i == 0 { "preset" } else { "fallback_chain" };
            let body = preset_body(presets, &name)?.ok_or_else(|| no_such_preset(field, &name))?;
            let body = if i == 0 {
                let effective = config.overrides.apply(&body);
                validate::preset(&effective).map_err(|e| Error::from(e.nested("overrides")))?;
                effective
            } else {
                body
            };
            out.push((name, body));
        }
        Ok(out)
    }
}

/// A preset's body by name, `None` when there is no such preset. A preset file that cannot be read is an
/// error (it has been quarantined; the caller should say so rather than call the preset missing).
pub fn preset_body(presets: &PresetLibrary, name: &str) -> Result<Option<PresetBody>> {
    if store::check_name("preset", name).is_err() {
        return Ok(None);
    }
    match presets.get(name) {
        Ok(p) => Ok(Some(p.body)),
        Err(Error::Invalid { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// [`preset_body`] as a closure, for [`validate_with`] and [`super::bundle::parse`].
pub fn preset_lookup(presets: &PresetLibrary) -> impl Fn(&str) -> Result<Option<PresetBody>> + '_ {
    move |name| preset_body(presets, name)
}
