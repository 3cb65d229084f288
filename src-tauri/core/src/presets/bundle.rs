//! A bundle: every user preset and per-model config in one JSON file, to move settings between machines.
//!
//! ```json
//! {"format": "headroom-bundle", "version": 1,
//!  "presets": {"my-int4": {"load": {…}, "quantization": {…}}},
//!  "model_configs": {"meta-llama/Llama-3.1-8B": {"preset": "my-int4", "task": "train", …}}}
//! ```
//!
//! Import checks everything before writing anything: names, every preset's rules, every config's rules and the
//! presets it names (in the bundle, built in, or already saved). An existing preset or config with different
//! settings is a conflict that the caller resolves (fail, skip, replace); identical ones are left alone.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::config_store::{self, preset_body, ConfigLibrary};
use super::field::{self, FieldError, FieldErrors};
use super::import::parse_json;
use super::library::{check_user_name, PresetLibrary, SkippedFile};
use super::model_config::{self, ModelConfig};
use super::{builtin, validate, PresetBody};
use crate::message::{Key, Message};
use crate::store::{Quarantine, Revision};
use crate::{Error, Result};

pub const BUNDLE_FORMAT: &str = "headroom-bundle";
pub const BUNDLE_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// Always `"headroom-bundle"`: tells a bundle from any other JSON.
    pub format: String,
    pub version: u32,
    #[serde(default)]
    pub presets: BTreeMap<String, PresetBody>,
    /// Model id → config.
    #[serde(default)]
    pub model_configs: BTreeMap<String, ModelConfig>,
}

/// A bundle of everything saved, and the files that could not be read (so not in it).
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct BundleExport {
    pub bundle: Bundle,
    pub quarantined: Vec<Quarantine>,
    /// Entries that could not be read at all (left where they are), so not in the bundle; absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[ts(optional, as = "Option<Vec<SkippedFile>>")]
    pub unreadable: Vec<SkippedFile>,
}

pub fn export(presets: &PresetLibrary, configs: &ConfigLibrary) -> Result<BundleExport> {
    let preset_list = presets.list()?;
    let config_list = configs.list()?;
    let mut quarantined = preset_list.quarantined;
    quarantined.extend(config_list.quarantined);
    let mut unreadable = preset_list.unreadable;
    unreadable.extend(config_list.unreadable);
    Ok(BundleExport {
        bundle: Bundle {
            format: BUNDLE_FORMAT.into(),
            version: BUNDLE_VERSION,
            presets: preset_list
                .presets
                .into_iter()
                .filter(|p| !p.builtin)
                .map(|p| (p.name, p.body))
                .collect(),
            model_configs: config_list
                .configs
                .into_iter()
                .map(|e| (e.model_id, e.config))
                .collect(),
        },
        quarantined,
        unreadable,
    })
}

/// Parse and check a bundle on its own: format and version, names, each preset's and config's rules, and
/// that every preset a config names is in the bundle, built in, or saved here (`local` looks those up; pass
/// `&|_| Ok(None)` to check the bundle on its own).
pub fn parse(
    bytes: &[u8],
    local: &dyn Fn(&str) -> Result<Option<PresetBody>>,
) -> std::result::Result<Bundle, FieldErrors> {
    let value = parse_json(bytes)?;
    if value.get("format").and_then(|f| f.as_str()) != Some(BUNDLE_FORMAT) {
        return Err(FieldErrors(vec![FieldError::keyed(
            "format",
            Message::new(Key::InvalidBundleMustThisNotHeadroom)
                .text("format", format!("{BUNDLE_FORMAT:?}")),
        )]));
    }
    let bundle: Bundle = field::from_value(value, "")?;
    let mut errors = Vec::new();
    if bundle.version != BUNDLE_VERSION {
        let version = bundle.version.to_string();
        errors.push(FieldError::keyed(
            "version",
            if bundle.version > BUNDLE_VERSION {
                Message::new(Key::InvalidBundleNewer)
                    .text("version", version)
                    .text("reads", BUNDLE_VERSION.to_string())
            } else {
                Message::new(Key::InvalidBundleNoVersion).text("version", version)
            },
        ));
    }
    for (name, body) in &bundle.presets {
        let at = format!("presets.{name}");
        if let Err(Error::Invalid {
            message,
            message_key,
            ..
        }) = check_user_name(&at, name)
        {
            errors.push(FieldError {
                field: at.clone(),
                message,
                message_key,
            });
        }
        if let Err(e) = validate::preset(body) {
            errors.extend(e.nested(&at).0);
        }
    }
    for (model_id, config) in &bundle.model_configs {
        let at = format!("model_configs.{model_id}");
        if let Err(Error::Invalid {
            message,
            message_key,
            ..
        }) = config_store::file_stem(model_id)
        {
            errors.push(FieldError {
                field: at.clone(),
                message,
                message_key,
            });
        }
        let lookup = |name: &str| -> Result<Option<PresetBody>> {
            match bundle
                .presets
                .get(name)
                .cloned()
                .or_else(|| builtin::get(name))
            {
                Some(body) => Ok(Some(body)),
                None => local(name),
            }
        };
        match model_config::validate_with(config, &lookup) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.extend(e.nested(&at).0),
            Err(e) => errors.push(FieldError::new(at, e.to_string())),
        }
    }
    FieldErrors(errors).into_result()?;
    Ok(bundle)
}

/// What to do when a bundle's preset or config exists here with different settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum OnConflict {
    /// Import nothing and name the conflicts.
    Fail,
    /// Keep what is here.
    Skip,
    /// Overwrite with the bundle's version.
    Replace,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct ImportCounts {
    pub added: Vec<String>,
    pub replaced: Vec<String>,
    /// Already here with the same settings.
    pub unchanged: Vec<String>,
    /// Here with different settings, kept (`OnConflict::Skip`).
    pub skipped: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct ImportReport {
    pub presets: ImportCounts,
    pub model_configs: ImportCounts,
}

enum Plan {
    Add,
    Replace(Revision),
    Unchanged,
    Skip,
}

/// Write a parsed bundle's presets, then its configs (so every config's presets exist when it is saved).
pub fn import(
    bundle: &Bundle,
    presets: &PresetLibrary,
    configs: &ConfigLibrary,
    on_conflict: OnConflict,
) -> Result<ImportReport> {
    let mut conflicts = Vec::new();
    let mut preset_plan = Vec::new();
    for (name, body) in &bundle.presets {
        let plan = if presets.exists(name)? {
            let here = presets.get(name)?;
            if here.body == *body {
                Plan::Unchanged
            } else {
                conflicts.push(format!("presets.{name}"));
                match on_conflict {
                    OnConflict::Replace => Plan::Replace(here.revision),
                    _ => Plan::Skip,
                }
            }
        } else {
            Plan::Add
        };
        preset_plan.push((name, body, plan));
    }
    let mut config_plan = Vec::new();
    for (model_id, config) in &bundle.model_configs {
        let plan = match configs.get(model_id)? {
            None => Plan::Add,
            Some(here) if here.config == *config => Plan::Unchanged,
            Some(here) => {
                conflicts.push(format!("model_configs.{model_id}"));
                match on_conflict {
                    OnConflict::Replace => Plan::Replace(here.revision),
                    _ => Plan::Skip,
                }
            }
        };
        config_plan.push((model_id, config, plan));
    }
    if on_conflict == OnConflict::Fail {
        if let Some(first) = conflicts.first() {
            return Err(Error::invalid_msg(
                first.clone(),
                Message::new(Key::InvalidBundleAlreadyExistsHereDifferent)
                    .text("conflicts", conflicts.len().to_string())
                    .text("names", conflicts.join(", ")),
            ));
        }
    }
    // Configs may name presets that are only saved here; check them now that the bundle's presets are known.
    for (model_id, config, plan) in &config_plan {
        if matches!(plan, Plan::Add | Plan::Replace(_)) {
            let lookup = |name: &str| match bundle.presets.get(name) {
                Some(b) => Ok(Some(b.clone())),
                None => preset_body(presets, name),
            };
            model_config::validate_with(config, &lookup)?
                .map_err(|e| Error::from(e.nested(&format!("model_configs.{model_id}"))))?;
        }
    }
    let mut report = ImportReport::default();
    for (name, body, plan) in preset_plan {
        record(&mut report.presets, name, &plan);
        match plan {
            Plan::Add => {
                presets.create(name, body)?;
            }
            Plan::Replace(revision) => {
                presets.save(name, body, revision)?;
            }
            Plan::Unchanged | Plan::Skip => {}
        }
    }
    for (model_id, config, plan) in config_plan {
        record(&mut report.model_configs, model_id, &plan);
        match plan {
            Plan::Add => {
                configs.set(model_id, config, Revision::ABSENT, presets)?;
            }
            Plan::Replace(revision) => {
                configs.set(model_id, config, revision, presets)?;
            }
            Plan::Unchanged | Plan::Skip => {}
        }
    }
    Ok(report)
}

fn record(counts: &mut ImportCounts, name: &str, plan: &Plan) {
    let list = match plan {
        Plan::Add => &mut counts.added,
        Plan::Replace(_) => &mut counts.replaced,
        Plan::Unchanged => &mut counts.unchanged,
        Plan::Skip => &mut counts.skipped,
    };
    list.push(name.to_string());
}
