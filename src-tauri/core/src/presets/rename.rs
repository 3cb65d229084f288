//! Renaming a saved preset together with the per-model configs that name it.
//!
//! The steps are ordered so that a process killed at any point leaves every config naming a preset that exists:
//! 1. the preset is written under the new name (both names now load the same settings);
//! 2. each config that named the old name is pointed at the new one (each file replaced atomically, so a kill
//!    leaves some configs on the old name and some on the new, all valid);
//! 3. only then is the old file removed.
//!
//! A kill between 2 and 3 leaves the old name behind as a copy nobody names, which the user can delete. The
//! presets folder's lock and then the configs folder's are held throughout (the order every writer takes them
//! in, see [`crate::store`]), so no other writer can save a config naming the old name between 2 and 3, nor
//! take the new name between the check and step 1.

use serde::Serialize;

use super::config_store::ConfigLibrary;
use super::library::PresetLibrary;
use crate::store::Revision;
use crate::{Error, Result};

/// What a rename did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PresetRename {
    /// The revision of the preset under its new name.
    pub revision: Revision,
    /// Model ids whose config named the old name and now name the new one.
    pub configs_changed: Vec<String>,
}

/// Where a rename can be interrupted; what [`rename_preset_with`]'s hook is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The preset is written under its new name.
    NewWritten,
    /// One more config now names the new name.
    ConfigRepointed,
    /// Every config names the new name; the old file is still there.
    ConfigsDone,
}

/// Give saved preset `from` the name `to`, if nobody saved it since `expected` was read, and point every
/// per-model config that named it at the new name (see the module's order of steps).
pub fn rename_preset(
    presets: &PresetLibrary,
    configs: &ConfigLibrary,
    from: &str,
    to: &str,
    expected: Revision,
) -> Result<PresetRename> {
    rename_preset_with(presets, configs, from, to, expected, &mut |_| Ok(()))
}

/// [`rename_preset`], calling `after` after each step: an error from it stops the rename there, as a kill would.
pub(crate) fn rename_preset_with(
    presets: &PresetLibrary,
    configs: &ConfigLibrary,
    from: &str,
    to: &str,
    expected: Revision,
    after: &mut dyn FnMut(Step) -> Result<()>,
) -> Result<PresetRename> {
    let old_path = presets.path_of("from", from)?;
    let new_path = presets.path_of("to", to)?;
    if from == to {
        return Ok(PresetRename {
            revision: expected,
            configs_changed: Vec::new(),
        });
    }
    let preset_lock = presets.lock()?;
    let current = presets.get(from)?;
    if current.revision != expected {
        return Err(Error::Conflict { path: old_path });
    }
    let revision = presets.create_locked(&preset_lock, "to", to, &new_path, &current.body)?;
    after(Step::NewWritten)?;
    let config_lock = configs.lock()?;
    let configs_changed =
        configs.repoint_locked(&config_lock, from, to, &mut || after(Step::ConfigRepointed))?;
    after(Step::ConfigsDone)?;
    preset_lock.remove(&old_path, expected)?;
    drop(config_lock);
    Ok(PresetRename {
        revision,
        configs_changed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets::builtin;
    use crate::presets::model_config::{ModelConfig, Task};

    fn setup(dir: &std::path::Path) -> (PresetLibrary, ConfigLibrary, Revision) {
        let presets = PresetLibrary::at(dir.join("presets"));
        let configs = ConfigLibrary::at(dir.join("model-configs"));
        let rev = presets
            .create("old", &builtin::get("int4").unwrap())
            .unwrap();
        for (model, config) in [
            ("org/a", ModelConfig::new("old", Task::Infer)),
            (
                "org/b",
                ModelConfig {
                    fallback_chain: vec!["old".into(), "int4_offload".into()],
                    ..ModelConfig::new("fp16", Task::Infer)
                },
            ),
            ("org/c", ModelConfig::new("old", Task::Train)),
        ] {
            configs
                .set(model, &config, Revision::ABSENT, &presets)
                .unwrap();
        }
        (presets, configs, rev)
    }

    /// Every preset each config names loads: what `run` needs.
    fn assert_no_dangling(presets: &PresetLibrary, configs: &ConfigLibrary, at: &str) {
        let mut list = configs.list().unwrap();
        list.flag_missing_presets(presets);
        assert_eq!(list.configs.len(), 3, "{at}");
        for entry in &list.configs {
            assert!(
                entry.missing_presets.is_empty(),
                "{at}: {} names {:?}",
                entry.model_id,
                entry.missing_presets
            );
            configs.attempts(&entry.model_id, presets).unwrap();
        }
    }

    #[test]
    fn a_rename_stopped_after_any_step_leaves_no_config_naming_a_missing_preset() {
        // Stop after the new file, after each config (3 configs name "old": 3 stops), and before the removal.
        for stop_at in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let (presets, configs, rev) = setup(dir.path());
            let mut seen = 0;
            let err = rename_preset_with(&presets, &configs, "old", "new", rev, &mut |step| {
                let here = seen;
                seen += 1;
                if here == stop_at {
                    Err(Error::invalid("test", format!("killed after {step:?}")))
                } else {
                    Ok(())
                }
            })
            .unwrap_err();
            assert!(err.to_string().contains("killed after"), "{err}");
            assert!(presets.exists("new").unwrap(), "stop {stop_at}");
            assert_no_dangling(&presets, &configs, &format!("stop {stop_at}"));
        }
    }

    #[test]
    fn a_finished_rename_points_every_config_at_the_new_name() {
        let dir = tempfile::tempdir().unwrap();
        let (presets, configs, rev) = setup(dir.path());
        let done = rename_preset(&presets, &configs, "old", "new", rev).unwrap();
        assert_eq!(done.configs_changed, ["org/a", "org/b", "org/c"]);
        assert!(!presets.exists("old").unwrap());
        assert_no_dangling(&presets, &configs, "done");
        // The lock files are hidden and never listed.
        assert!(presets.list().unwrap().unreadable.is_empty());
    }
}
