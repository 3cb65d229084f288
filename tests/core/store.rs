//! The presets and configs store under concurrent writers and unreadable entries (issue 11 items 1 and 3).
//! Threads here open the lock file separately, so they contend for it exactly as processes do; the CLI tests
//! race real processes.

use std::path::Path;
use std::sync::{Arc, Barrier};

use headroom_core::presets::builtin;
use headroom_core::presets::bundle;
use headroom_core::presets::config_store::{flag_missing_presets, ConfigLibrary};
use headroom_core::presets::library::PresetLibrary;
use headroom_core::presets::model_config::{ModelConfig, Task};
use headroom_core::presets::PresetBody;
use headroom_core::store::Revision;
use headroom_core::Error;

const THREADS: usize = 6;

fn libraries(dir: &Path) -> (PresetLibrary, ConfigLibrary) {
    (
        PresetLibrary::at(dir.join("presets")),
        ConfigLibrary::at(dir.join("model-configs")),
    )
}

fn described(text: &str) -> PresetBody {
    let mut body = builtin::get("int4").unwrap();
    body.description = text.into();
    body
}

/// Run `work(i)` on THREADS threads released at the same moment; their results in thread order.
fn at_once<T: Send + 'static>(work: impl Fn(usize) -> T + Send + Sync + 'static) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(THREADS));
    let work = Arc::new(work);
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let barrier = barrier.clone();
            let work = work.clone();
            std::thread::spawn(move || {
                barrier.wait();
                work(i)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn read_modify_write_updates_at_the_same_moment_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let (presets, configs) = libraries(&root);
    configs
        .set(
            "org/m",
            &ModelConfig::new("int4", Task::Infer),
            Revision::ABSENT,
            &presets,
        )
        .unwrap();
    const ROUNDS: usize = 8;
    at_once(move |_| {
        let (presets, configs) = libraries(&root);
        for _ in 0..ROUNDS {
            configs
                .update("org/m", &presets, |current| {
                    let mut config = current.unwrap().config.clone();
                    // A counter in the notes: a lost update shows as a smaller count.
                    let n: usize = config.notes.parse().unwrap_or(0);
                    config.notes = (n + 1).to_string();
                    Ok(config)
                })
                .unwrap();
        }
    });
    let config = configs.get("org/m").unwrap().unwrap().config;
    assert_eq!(config.notes, (THREADS * ROUNDS).to_string());
}

#[test]
fn of_creates_of_one_name_at_the_same_moment_exactly_one_is_saved() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let results = at_once(move |i| {
        let (presets, _) = libraries(&root);
        presets.create("same", &described(&format!("writer {i}")))
    });
    let winners: Vec<usize> = (0..THREADS).filter(|&i| results[i].is_ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for r in &results {
        if let Err(e) = r {
            assert!(
                matches!(e, Error::Invalid { field, message, .. } if field == "name" && message.contains("already exists")),
                "{e}"
            );
        }
    }
    let (presets, _) = libraries(dir.path());
    assert_eq!(
        presets.get("same").unwrap().body.description,
        format!("writer {}", winners[0])
    );
}

#[test]
fn of_saves_from_one_revision_at_the_same_moment_all_but_one_conflict() {
    // The app's save path: a form holding the revision it loaded.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let (presets, _) = libraries(&root);
    let base = presets.create("shared", &described("base")).unwrap();
    let results = at_once(move |i| {
        let (presets, _) = libraries(&root);
        presets.save("shared", &described(&format!("writer {i}")), base)
    });
    let winners: Vec<usize> = (0..THREADS).filter(|&i| results[i].is_ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert!(results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .all(|e| matches!(e, Error::Conflict { .. })));
    assert_eq!(
        presets.get("shared").unwrap().body.description,
        format!("writer {}", winners[0])
    );
}

#[test]
fn a_config_naming_a_preset_that_is_gone_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let (presets, configs) = libraries(dir.path());
    let rev = presets.create("mine", &described("mine")).unwrap();
    let config = ModelConfig {
        fallback_chain: vec!["mine".into(), "cpu".into()],
        ..ModelConfig::new("mine", Task::Infer)
    };
    configs
        .set("org/m", &config, Revision::ABSENT, &presets)
        .unwrap();
    configs
        .set(
            "org/builtin",
            &ModelConfig::new("fp16", Task::Infer),
            Revision::ABSENT,
            &presets,
        )
        .unwrap();
    let mut list = configs.list().unwrap();
    list.flag_missing_presets(&presets);
    assert!(list.configs.iter().all(|e| e.missing_presets.is_empty()));

    presets.delete("mine", rev).unwrap();
    let mut list = configs.list().unwrap();
    list.flag_missing_presets(&presets);
    let flagged: Vec<(&str, &[String])> = list
        .configs
        .iter()
        .map(|e| (e.model_id.as_str(), e.missing_presets.as_slice()))
        .collect();
    assert_eq!(
        flagged,
        [
            ("org/builtin", &[][..]),
            ("org/m", &["mine".to_string()][..])
        ]
    );
    let mut one = configs.get("org/m").unwrap().unwrap();
    flag_missing_presets(std::slice::from_mut(&mut one), &presets);
    assert_eq!(one.missing_presets, ["mine"]);
    // The key is absent from the JSON of a config with nothing missing, present otherwise.
    let json = serde_json::to_value(&list).unwrap();
    assert!(json["configs"][0].get("missing_presets").is_none());
    assert_eq!(
        json["configs"][1]["missing_presets"],
        serde_json::json!(["mine"])
    );
}

#[test]
fn entries_that_cannot_be_read_are_reported_and_the_rest_listed() {
    let dir = tempfile::tempdir().unwrap();
    let (presets, configs) = libraries(dir.path());
    presets.create("good", &described("good")).unwrap();
    configs
        .set(
            "org/good",
            &ModelConfig::new("good", Task::Infer),
            Revision::ABSENT,
            &presets,
        )
        .unwrap();
    let mut expected = Vec::new();
    for folder in [presets.dir(), configs.dir()] {
        std::fs::create_dir(folder.join("a-dir.json")).unwrap();
        std::os::unix::fs::symlink("loop.json", folder.join("loop.json")).unwrap();
        expected.push((folder.join("a-dir.json"), "is a directory"));
        expected.push((folder.join("loop.json"), "cannot be read"));
        // A read that fails with an I/O error even for root (tests run as root, where a file without read
        // permission still reads): the same path through the store as EACCES takes for a user.
        if cfg!(target_os = "linux") {
            std::os::unix::fs::symlink("/proc/self/mem", folder.join("eio.json")).unwrap();
            expected.push((folder.join("eio.json"), "cannot be read"));
        }
    }

    let preset_list = presets.list().unwrap();
    assert!(preset_list.presets.iter().any(|p| p.name == "good"));
    assert!(preset_list.quarantined.is_empty() && preset_list.skipped.is_empty());
    let config_list = configs.list().unwrap();
    assert_eq!(config_list.configs.len(), 1);
    let exported = bundle::export(&presets, &configs).unwrap();
    assert!(exported.bundle.presets.contains_key("good"));
    assert!(exported.bundle.model_configs.contains_key("org/good"));

    let reported: Vec<_> = preset_list
        .unreadable
        .iter()
        .chain(&config_list.unreadable)
        .collect();
    assert_eq!(reported.len(), expected.len(), "{reported:?}");
    assert_eq!(exported.unreadable.len(), expected.len());
    for (path, reason) in &expected {
        let found = reported
            .iter()
            .find(|u| &u.path == path)
            .unwrap_or_else(|| panic!("{} not reported: {reported:?}", path.display()));
        assert!(
            found.reason.contains(reason),
            "{}: {}",
            path.display(),
            found.reason
        );
        assert!(std::fs::symlink_metadata(path).is_ok(), "left where it was");
    }
}

#[test]
fn a_file_without_read_permission_is_reported_where_the_system_refuses_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (presets, _) = libraries(dir.path());
    presets.create("good", &described("good")).unwrap();
    presets.create("locked", &described("locked")).unwrap();
    let locked = presets.dir().join("locked.json");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let list = presets.list().unwrap();
    assert!(list.presets.iter().any(|p| p.name == "good"));
    if std::fs::read(&locked).is_ok() {
        // Root reads it anyway: then it is simply listed (the I/O error path is covered above).
        assert!(list.presets.iter().any(|p| p.name == "locked"));
    } else {
        assert_eq!(list.unreadable.len(), 1, "{list:?}");
        assert_eq!(list.unreadable[0].path, locked);
        assert!(list.unreadable[0].reason.contains("ermission"), "{list:?}");
    }
}
