//! Environment profiles: named sets of variables to set or unset before a training command runs.
//!
//! Two are built in (`production`, `debug`) and cannot be overwritten; user profiles live in
//! `<config_dir>/profiles/NAME.json` and go through [`crate::store`] like every other document (atomic write,
//! quarantine of unreadable files, revision-checked save, names checked by [`store::check_name`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::catalog::{self, VariableInfo};
use super::fix::Fix;
use super::secret;
use super::EnvMap;
use crate::message::{Key, Message};
use crate::paths::AppPaths;
use crate::store::{self, Document, Loaded, Quarantine, Revision};
use crate::{Error, Result};

/// What a profile is for: the doctor flags debug settings under a `production` profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Production,
    Debug,
    Other,
}

/// One variable of a profile: set to `value`, or removed from the environment when `value` is `None`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct Setting {
    pub name: String,
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub purpose: Purpose,
    pub variables: Vec<Setting>,
}

impl Document for Profile {
    const VERSION: u32 = 1;
}

/// A variable of a profile with what Headroom knows about it, for `env show` and the profile form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct SettingView {
    pub name: String,
    pub value: Option<String>,
    pub info: Option<VariableInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct ProfileView {
    pub name: String,
    pub description: String,
    pub purpose: Purpose,
    pub builtin: bool,
    pub variables: Vec<SettingView>,
    /// `None` for a built-in profile, which has no file.
    pub revision: Option<Revision>,
}

/// The names of the built-in profiles, which user profiles may not take.
pub const BUILTIN_NAMES: [&str; 2] = ["production", "debug"];

fn set(name: &str, value: &str) -> Setting {
    Setting {
        name: name.into(),
        value: Some(value.into()),
    }
}

fn unset(name: &str) -> Setting {
    Setting {
        name: name.into(),
        value: None,
    }
}

/// The built-in profile `name`, if there is one. The choices follow docs/estimator.md §15's table, "profile" column.
pub fn builtin(name: &str) -> Option<Profile> {
    match name {
        "production" => Some(Profile {
            name: "production".into(),
            description: "Training runs: no debug switches, allocator tuned against fragmentation, GPUs numbered \
                          as nvidia-smi numbers them."
                .into(),
            purpose: Purpose::Production,
            variables: vec![
                unset("CUDA_LAUNCH_BLOCKING"),
                unset("PYTORCH_NO_CUDA_MEMORY_CACHING"),
                unset("TORCH_SHOW_CPP_STACKTRACES"),
                unset("PYTORCH_USE_CUDA_DSA"),
                unset("TORCH_DISTRIBUTED_DEBUG"),
                set("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True"),
                set("CUDA_DEVICE_ORDER", "PCI_BUS_ID"),
                set("CUDA_MODULE_LOADING", "LAZY"),
                set("TOKENIZERS_PARALLELISM", "false"),
                set("NCCL_DEBUG", "WARN"),
            ],
        }),
        // TORCH_USE_CUDA_DSA is a compile-time macro (docs/estimator.md §15); the runtime switch is PYTORCH_USE_CUDA_DSA.
        "debug" => Some(Profile {
            name: "debug".into(),
            description: "Finding a crash: synchronous CUDA calls, C++ stack traces, device-side assertions, \
                          verbose NCCL. Slow; never for real training."
                .into(),
            purpose: Purpose::Debug,
            variables: vec![
                set("CUDA_LAUNCH_BLOCKING", "1"),
                set("TORCH_SHOW_CPP_STACKTRACES", "1"),
                set("PYTORCH_USE_CUDA_DSA", "1"),
                set("TORCH_DISTRIBUTED_DEBUG", "DETAIL"),
                set("NCCL_DEBUG", "INFO"),
                set("CUDA_DEVICE_ORDER", "PCI_BUS_ID"),
                set("TOKENIZERS_PARALLELISM", "false"),
            ],
        }),
        _ => None,
    }
}

/// A POSIX environment variable name: a letter or `_`, then letters, digits and `_`.
pub fn check_variable_name(field: &str, name: &str) -> Result<()> {
    let mut bytes = name.bytes();
    let ok = match bytes.next() {
        Some(first) => {
            (first.is_ascii_alphabetic() || first == b'_')
                && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_msg(
            field,
            Message::new(Key::InvalidProfileNotVariableNameLetter)
                .text("name", format!("{name:?}")),
        ))
    }
}

/// A value must survive a `.env` file, a shell script and `execve`: no NUL byte, no line break.
pub fn check_variable_value(field: &str, value: &str) -> Result<()> {
    if value.contains('\0') {
        return Err(Error::invalid_msg(
            field,
            Message::new(Key::InvalidMustNotContainNul),
        ));
    }
    if value.contains(['\n', '\r']) {
        return Err(Error::invalid_msg(
            field,
            Message::new(Key::InvalidProfileMustNotContainLine),
        ));
    }
    Ok(())
}

impl Profile {
    /// Every rule a stored profile must satisfy; the error names the offending field.
    pub fn validate(&self) -> Result<()> {
        store::check_name("name", &self.name)?;
        check_variable_value("description", &self.description)?;
        let mut seen = BTreeSet::new();
        for (i, setting) in self.variables.iter().enumerate() {
            check_variable_name(&format!("variables[{i}].name"), &setting.name)?;
            if let Some(value) = &setting.value {
                check_variable_value(&format!("variables[{i}].value"), value)?;
            }
            if !seen.insert(setting.name.as_str()) {
                return Err(Error::invalid_msg(
                    format!("variables[{i}].name"),
                    Message::new(Key::InvalidProfileAppearsTwice)
                        .text("name", setting.name.to_string()),
                ));
            }
        }
        Ok(())
    }

    /// `base` with this profile's variables set and unset.
    pub fn apply(&self, base: &EnvMap) -> EnvMap {
        let mut env = base.clone();
        for setting in &self.variables {
            match &setting.value {
                Some(value) => env.insert(setting.name.clone(), value.clone()),
                None => env.remove(&setting.name),
            };
        }
        env
    }

    /// This profile with a doctor's fix applied: `Set` sets (or adds) the variable, `Unset` makes the profile
    /// remove it. What the UI's fix buttons save (after [`save`] checks the revision).
    pub fn with_fix(mut self, fix: &Fix) -> Self {
        let (name, value) = match fix {
            Fix::Set { variable, value } => (variable, Some(value.clone())),
            Fix::Unset { variable } => (variable, None),
        };
        match self.variables.iter_mut().find(|s| &s.name == name) {
            Some(setting) => setting.value = value,
            None => self.variables.push(Setting {
                name: name.clone(),
                value,
            }),
        }
        self
    }

    /// The variables this profile sets, by name (unset ones left out).
    pub fn set_values(&self) -> BTreeMap<&str, &str> {
        self.variables
            .iter()
            .filter_map(|s| s.value.as_deref().map(|v| (s.name.as_str(), v)))
            .collect()
    }

    fn view(self, builtin: bool, revision: Option<Revision>) -> ProfileView {
        ProfileView {
            variables: self
                .variables
                .into_iter()
                .map(|s| SettingView {
                    info: catalog::info(&s.name).copied(),
                    name: s.name,
                    value: s.value,
                })
                .collect(),
            name: self.name,
            description: self.description,
            purpose: self.purpose,
            builtin,
            revision,
        }
    }
}

/// The profiles on disk and built in, and the files that had to be moved aside while listing them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct ProfileList {
    pub profiles: Vec<ProfileSummary>,
    pub quarantined: Vec<Quarantine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct ProfileSummary {
    pub name: String,
    pub purpose: Purpose,
    pub builtin: bool,
    pub description: String,
}

fn profiles_dir(paths: &AppPaths) -> PathBuf {
    paths.config_dir.join("profiles")
}

fn profile_file(paths: &AppPaths, name: &str) -> Result<PathBuf> {
    store::check_name("profile", name)?;
    Ok(profiles_dir(paths).join(format!("{name}.json")))
}

/// Built-in profiles first, then user profiles by name.
pub fn list(paths: &AppPaths) -> Result<ProfileList> {
    let mut profiles: Vec<ProfileSummary> = BUILTIN_NAMES
        .iter()
        .filter_map(|n| builtin(n))
        .map(|p| ProfileSummary {
            name: p.name,
            purpose: p.purpose,
            builtin: true,
            description: p.description,
        })
        .collect();
    let mut quarantined = Vec::new();
    let dir = profiles_dir(paths);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(ProfileList {
                profiles,
                quarantined,
            })
        }
        Err(e) => return Err(Error::io(&dir, e)),
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".json")?.to_owned();
            // Temporary files, quarantined files and anything else that is not a valid name are not profiles.
            store::check_name("profile", &stem).ok().map(|_| stem)
        })
        .collect();
    names.sort();
    for name in names {
        let path = dir.join(format!("{name}.json"));
        match store::load::<Profile>(&path)? {
            Loaded::Missing => {}
            // A file whose contents name another profile cannot be loaded by its name; [`load`] reports it.
            Loaded::Found { value, .. } if value.name != name => {
                tracing::warn!(file = %path.display(), holds = %value.name, "profile file name mismatch");
            }
            Loaded::Found { value, .. } => profiles.push(ProfileSummary {
                name: value.name,
                purpose: value.purpose,
                builtin: false,
                description: value.description,
            }),
            Loaded::Quarantined(q) => quarantined.push(q),
        }
    }
    Ok(ProfileList {
        profiles,
        quarantined,
    })
}

/// The profile `name`, built in or from disk, for showing (the app's form, `env show`): secret values are
/// [`secret::REDACTED`]; [`save`] keeps the stored value of a secret saved back as `REDACTED`. A profile
/// file that cannot be understood is moved aside and reported as [`Error::Corrupt`].
pub fn load(paths: &AppPaths, name: &str) -> Result<ProfileView> {
    let (mut profile, builtin, revision) = load_stored(paths, name)?;
    for setting in &mut profile.variables {
        if let Some(value) = &mut setting.value {
            *value = secret::redact(&setting.name, value).into_owned();
        }
    }
    Ok(profile.view(builtin, revision))
}

/// The profile `name` with its real values (for applying it to a child's environment, or exporting it).
pub fn load_profile(paths: &AppPaths, name: &str) -> Result<Profile> {
    load_stored(paths, name).map(|(profile, _, _)| profile)
}

/// The profile, whether it is built in, and its file's revision.
fn load_stored(paths: &AppPaths, name: &str) -> Result<(Profile, bool, Option<Revision>)> {
    if let Some(profile) = builtin(name) {
        return Ok((profile, true, None));
    }
    let path = profile_file(paths, name)?;
    match store::load::<Profile>(&path)? {
        Loaded::Missing => Err(Error::invalid_msg(
            "profile",
            Message::new(Key::InvalidProfileNoProfileNamedBuilt)
                .text("name", format!("{name:?}"))
                .text("builtin", BUILTIN_NAMES.join(", ")),
        )),
        Loaded::Found {
            value, revision, ..
        } => {
            if value.name != name {
                return Err(Error::Corrupt {
                    path,
                    reason: format!("holds the profile {:?}, not {name:?}", value.name),
                });
            }
            Ok((value, false, Some(revision)))
        }
        Loaded::Quarantined(q) => Err(Error::Corrupt {
            path,
            reason: format!("{}; moved to {}", q.reason, q.moved_to.display()),
        }),
    }
}

/// `profile` with every secret saved back as [`secret::REDACTED`] (a form that showed it hidden and was not
/// retyped) given its stored value again. A secret with no stored value to keep is refused, naming the field.
fn keep_stored_secrets(paths: &AppPaths, profile: &Profile) -> Result<Profile> {
    let hidden =
        |s: &Setting| s.value.as_deref() == Some(secret::REDACTED) && secret::is_secret(&s.name);
    if !profile.variables.iter().any(hidden) {
        return Ok(profile.clone());
    }
    let stored = match store::load::<Profile>(&profile_file(paths, &profile.name)?)? {
        Loaded::Found { value, .. } => value,
        _ => Profile {
            variables: Vec::new(),
            ..profile.clone()
        },
    };
    let mut out = profile.clone();
    for (i, setting) in out.variables.iter_mut().enumerate() {
        if !hidden(setting) {
            continue;
        }
        let kept = stored
            .variables
            .iter()
            .find(|s| s.name == setting.name)
            .and_then(|s| s.value.clone())
            .filter(|v| v != secret::REDACTED);
        match kept {
            Some(value) => setting.value = Some(value),
            None => {
                return Err(Error::invalid_msg(
                    format!("variables[{i}].value"),
                    Message::new(Key::InvalidProfileHasNoStoredValue)
                        .text("name", setting.name.to_string())
                        .text("redacted", secret::REDACTED.to_string()),
                ))
            }
        }
    }
    Ok(out)
}

/// Save a user profile if its file is still at `expected` ([`Revision::ABSENT`] to create one).
pub fn save(paths: &AppPaths, profile: &Profile, expected: Revision) -> Result<Revision> {
    profile.validate()?;
    if BUILTIN_NAMES.contains(&profile.name.as_str()) {
        return Err(Error::invalid_msg(
            "name",
            Message::new(Key::InvalidProfileBuiltProfileCannotChanged)
                .text("name", format!("{:?}", profile.name)),
        ));
    }
    let profile = &keep_stored_secrets(paths, profile)?;
    store::save(&profile_file(paths, &profile.name)?, profile, expected)
}

/// Delete a user profile if its file is still at `expected`.
pub fn delete(paths: &AppPaths, name: &str, expected: Revision) -> Result<()> {
    if BUILTIN_NAMES.contains(&name) {
        return Err(Error::invalid_msg(
            "profile",
            Message::new(Key::InvalidProfileBuiltCannotDeleted).text("name", format!("{name:?}")),
        ));
    }
    let path = profile_file(paths, name)?;
    // Only whether it exists: store::load reads it (a FIFO or an oversized file is refused there).
    let current = match fs::symlink_metadata(&path) {
        Ok(_) => store::load::<Profile>(&path)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::invalid_msg(
                "profile",
                Message::new(Key::InvalidProfileNoProfileNamed).text("name", format!("{name:?}")),
            ))
        }
        Err(e) => return Err(Error::io(&path, e)),
    };
    match current {
        Loaded::Found { revision, .. } if revision == expected => {
            fs::remove_file(&path).map_err(|e| Error::io(&path, e))
        }
        Loaded::Found { .. } => Err(Error::Conflict { path }),
        Loaded::Missing => Err(Error::invalid_msg(
            "profile",
            Message::new(Key::InvalidProfileNoProfileNamed).text("name", format!("{name:?}")),
        )),
        Loaded::Quarantined(q) => Err(Error::Corrupt {
            path,
            reason: format!("{}; moved to {}", q.reason, q.moved_to.display()),
        }),
    }
}
