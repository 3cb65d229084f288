//! Environment profiles, exports, file parsing, /proc environments and every doctor rule.

use std::collections::BTreeMap;
use std::process::Command;

use headroom_core::env::doctor::{diagnose, Fix, Rule, Severity};
use headroom_core::env::profile::{self, Profile, Purpose, Setting};
use headroom_core::env::{export, parse, procenv, EnvMap};
use headroom_core::paths::AppPaths;
use headroom_core::store::Revision;
use headroom_core::Error;

fn env(pairs: &[(&str, &str)]) -> EnvMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn user_profile(name: &str, vars: &[(&str, Option<&str>)]) -> Profile {
    Profile {
        name: name.into(),
        description: "mine".into(),
        purpose: Purpose::Other,
        variables: vars
            .iter()
            .map(|(n, v)| Setting {
                name: n.to_string(),
                value: v.map(str::to_string),
            })
            .collect(),
    }
}

fn paths() -> (tempfile::TempDir, AppPaths) {
    let dir = tempfile::tempdir().unwrap();
    let paths = AppPaths::new(dir.path().join("config"), dir.path().join("data"));
    (dir, paths)
}

#[test]
fn builtins_are_valid_and_explained() {
    for name in profile::BUILTIN_NAMES {
        let view = profile::load(&paths().1, name).unwrap();
        assert!(view.builtin);
        for v in &view.variables {
            let info = v
                .info
                .unwrap_or_else(|| panic!("{} has no catalog entry", v.name));
            assert!(!info.effect.is_empty() && !info.cost.is_empty());
        }
        profile::load_profile(&paths().1, name)
            .unwrap()
            .validate()
            .unwrap();
    }
    let production = profile::builtin("production").unwrap();
    assert_eq!(
        production.set_values().get("PYTORCH_CUDA_ALLOC_CONF"),
        Some(&"expandable_segments:True")
    );
    // A clean production environment passes its own doctor without a single finding.
    let clean = production.apply(&env(&[("CUDA_LAUNCH_BLOCKING", "1"), ("HOME", "/h")]));
    assert!(!clean.contains_key("CUDA_LAUNCH_BLOCKING"));
    assert_eq!(clean["HOME"], "/h");
    assert_eq!(diagnose(&clean, Some(&production)).findings, vec![]);
    // The debug profile under the production profile is an error.
    let debug = profile::builtin("debug").unwrap();
    let report = diagnose(&debug.apply(&EnvMap::new()), Some(&production));
    assert!(report.has_errors());
}

#[test]
fn user_profiles_are_stored_safely() {
    let (_dir, paths) = paths();
    let mine = user_profile(
        "mine",
        &[("HF_HUB_OFFLINE", Some("1")), ("NCCL_DEBUG", None)],
    );
    let rev = profile::save(&paths, &mine, Revision::ABSENT).unwrap();
    let view = profile::load(&paths, "mine").unwrap();
    assert_eq!(view.revision, Some(rev));
    assert!(!view.builtin);
    assert_eq!(profile::load_profile(&paths, "mine").unwrap(), mine);

    // A second editor holding the old revision gets a conflict; the first edit survives.
    let mut first = mine.clone();
    first.description = "first".into();
    profile::save(&paths, &first, rev).unwrap();
    let mut second = mine.clone();
    second.description = "second".into();
    assert!(matches!(
        profile::save(&paths, &second, rev),
        Err(Error::Conflict { .. })
    ));
    assert_eq!(profile::load(&paths, "mine").unwrap().description, "first");

    let names: Vec<_> = profile::list(&paths)
        .unwrap()
        .profiles
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["production", "debug", "mine"]);

    // Built-in names, unsafe names and bad variables are refused, naming the field.
    for (bad, field) in [
        (user_profile("production", &[]), "name"),
        (user_profile("../escape", &[]), "name"),
        (
            user_profile("x", &[("1BAD", Some("1"))]),
            "variables[0].name",
        ),
        (
            user_profile("x", &[("A", Some("a\nb"))]),
            "variables[0].value",
        ),
        (
            user_profile("x", &[("A", Some("1")), ("A", None)]),
            "variables[1].name",
        ),
    ] {
        match profile::save(&paths, &bad, Revision::ABSENT) {
            Err(Error::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(
        profile::load(&paths, "nope"),
        Err(Error::Invalid { .. })
    ));

    // Deleting needs the current revision too.
    let current = profile::load(&paths, "mine").unwrap().revision.unwrap();
    assert!(matches!(
        profile::delete(&paths, "mine", rev),
        Err(Error::Conflict { .. })
    ));
    profile::delete(&paths, "mine", current).unwrap();
    assert!(profile::load(&paths, "mine").is_err());
    assert!(profile::delete(&paths, "debug", Revision::ABSENT).is_err());
}

#[test]
fn unreadable_profiles_are_quarantined_and_reported() {
    let (_dir, paths) = paths();
    let dir = paths.config_dir.join("profiles");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("broken.json"), "{nope").unwrap();
    // Unknown keys are an error, so a hand-edited typo is caught, not ignored.
    std::fs::write(
        dir.join("typo.json"),
        r#"{"version":1,"data":{"name":"typo","purpose":"other","variables":[],"colour":"red"}}"#,
    )
    .unwrap();
    let list = profile::list(&paths).unwrap();
    assert_eq!(list.profiles.len(), 2);
    assert_eq!(list.quarantined.len(), 2);
    assert!(list.quarantined.iter().any(|q| q.reason.contains("colour")));
    assert!(!dir.join("broken.json").exists());
}

/// What `sh` makes of `script` followed by printing each variable with a NUL after it.
fn sh_values(script: &str, names: &[&str]) -> Vec<Option<String>> {
    let mut text = script.to_string();
    for name in names {
        text.push_str(&format!(
            "if [ \"${{{name}+set}}\" = set ]; then printf 'S%s\\0' \"${name}\"; else printf 'U\\0'; fi\n"
        ));
    }
    let out = Command::new("sh")
        .arg("-c")
        .arg(&text)
        .env_clear()
        .env("NCCL_DEBUG", "INFO")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .split('\0')
        .filter(|s| !s.is_empty())
        .map(|s| s.strip_prefix('S').map(str::to_string))
        .collect()
}

#[test]
fn exports_read_back_exactly_in_sh_and_in_our_parser() {
    let tricky = [
        "plain",
        "with space",
        "it's",
        "a\"b",
        "back\\slash",
        "$HOME and `cmd`",
        "both ' and \" and \\",
        "",
        "#notacomment",
    ];
    let mut vars: Vec<(String, Option<String>)> = tricky
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("V{i}"), Some(v.to_string())))
        .collect();
    vars.push(("NCCL_DEBUG".into(), None));
    let profile = Profile {
        name: "tricky".into(),
        description: String::new(),
        purpose: Purpose::Other,
        variables: vars
            .iter()
            .map(|(n, v)| Setting {
                name: n.clone(),
                value: v.clone(),
            })
            .collect(),
    };
    profile.validate().unwrap();

    let shell = export::to_shell(&profile);
    let names: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
    let got = sh_values(&shell, &names);
    let want: Vec<Option<String>> = vars.iter().map(|(_, v)| v.clone()).collect();
    assert_eq!(got, want, "sh read back:\n{shell}");

    let parsed = parse::parse("profile.sh", &shell).unwrap();
    assert_eq!(parsed.to_env(), profile.apply(&EnvMap::new()));

    let dotenv = export::to_dotenv(&profile);
    assert!(dotenv.contains("# NCCL_DEBUG must be unset"));
    let parsed = parse::parse(".env", &dotenv).unwrap();
    assert_eq!(parsed.to_env(), profile.apply(&EnvMap::new()));
    assert!(parsed.skipped_lines.is_empty());
}

#[test]
fn files_with_comments_exports_and_commands() {
    let text = "# a comment\n\
                export CUDA_VISIBLE_DEVICES=0,1   # trailing comment\n\
                PYTORCH_CUDA_ALLOC_CONF=\"expandable_segments:True\"\n\
                export\tNCCL_DEBUG='INFO'\n\
                OLD=1\n\
                unset OLD\n\
                source ~/.venv/bin/activate\n\
                A=1 python train.py\n\
                \n";
    let parsed = parse::parse("train.sh", text).unwrap();
    assert_eq!(
        parsed.to_env(),
        env(&[
            ("CUDA_VISIBLE_DEVICES", "0,1"),
            ("NCCL_DEBUG", "INFO"),
            ("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True"),
        ])
    );
    assert_eq!(parsed.skipped_lines, vec![7, 8]);
    match parse::parse("bad.env", "A=1\nB='open\n") {
        Err(Error::Invalid { field, message, .. }) => {
            assert_eq!(field, "bad.env:2");
            assert!(message.contains("unterminated"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_running_child_environment_is_read_from_proc() {
    let mut child = Command::new("sleep")
        .arg("30")
        .env_clear()
        .env("CUDA_LAUNCH_BLOCKING", "1")
        .env("WITH_EQUALS", "a=b")
        .spawn()
        .unwrap();
    let got = procenv::read_environ(std::path::Path::new("/proc"), child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        got.unwrap(),
        env(&[("CUDA_LAUNCH_BLOCKING", "1"), ("WITH_EQUALS", "a=b")])
    );
    match procenv::read_environ(std::path::Path::new("/proc"), u32::MAX) {
        Err(Error::Invalid { field, .. }) => assert_eq!(field, "pid"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        procenv::parse_environ(b"A=1\0NOEQUALS\0\0B=\xff\0"),
        env(&[("A", "1"), ("B", "\u{fffd}")])
    );
}

#[test]
fn fixes_apply_to_a_profile_and_processes_are_checked_one_by_one() {
    let production = profile::builtin("production").unwrap();
    let dirty = env(&[("CUDA_LAUNCH_BLOCKING", "1"), ("CUDA_VISIBLE_DEVICES", "0")]);
    let mut mine = user_profile("mine", &[("CUDA_LAUNCH_BLOCKING", Some("1"))]);
    mine.purpose = Purpose::Production;
    for finding in diagnose(&mine.apply(&dirty), Some(&mine)).findings {
        if let Some(fix) = &finding.fix {
            mine = mine.with_fix(fix);
        }
    }
    assert_eq!(
        mine.variables,
        vec![
            Setting {
                name: "CUDA_LAUNCH_BLOCKING".into(),
                value: None
            },
            Setting {
                name: "CUDA_DEVICE_ORDER".into(),
                value: Some("PCI_BUS_ID".into())
            },
        ]
    );
    assert!(diagnose(&mine.apply(&dirty), Some(&mine))
        .findings
        .is_empty());

    let mut child = Command::new("sleep")
        .arg("30")
        .env_clear()
        .env("CUDA_LAUNCH_BLOCKING", "1")
        .spawn()
        .unwrap();
    let reports = procenv::diagnose_processes(
        std::path::Path::new("/proc"),
        &[child.id(), u32::MAX],
        Some(&production),
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(reports.len(), 2);
    assert!(reports[0].report.as_ref().unwrap().has_errors());
    assert!(reports[1].report.is_none());
    assert!(reports[1]
        .error
        .as_ref()
        .unwrap()
        .contains("no running process"));
}

/// The findings as (severity, rule, variable, fix), after checking that each carries a well-formed message for
/// the UI to translate.
fn rules(env: &EnvMap, profile: Option<&Profile>) -> Vec<(Severity, Rule, String, Option<Fix>)> {
    diagnose(env, profile)
        .findings
        .into_iter()
        .map(|f| {
            let m = f.message_key.as_ref().expect("a finding's message");
            m.check().unwrap();
            (f.severity, f.rule, f.variable, f.fix)
        })
        .collect()
}

/// Every doctor message key is reachable: environments that trip each rule, with and without a profile.
#[test]
fn every_doctor_message_key_is_emitted_with_its_arguments() {
    let mine = user_profile(
        "mine",
        &[("A_VAR", Some("1")), ("B_VAR", Some("2")), ("C_VAR", None)],
    );
    let cases: Vec<(EnvMap, Option<&Profile>)> = vec![
        (
            env(&[
                ("CUDA_LAUNCH_BLOCKING", "1"),
                ("PYTORCH_NO_CUDA_MEMORY_CACHING", "1"),
                ("TORCH_SHOW_CPP_STACKTRACES", "1"),
                ("PYTORCH_USE_CUDA_DSA", "1"),
                ("TORCH_DISTRIBUTED_DEBUG", "DETAIL"),
                ("NCCL_DEBUG", "INFO"),
                ("CUDA_MODULE_LOADING", "EAGER"),
                ("TORCH_USE_CUDA_DSA", "1"),
                ("CUDA_VISIBLE_DEVICES", "0,1"),
                (
                    "PYTORCH_CUDA_ALLOC_CONF",
                    "expandable_segments:yes,expandable_segments:True,typo:1",
                ),
                (
                    "PYTORCH_ALLOC_CONF",
                    "backend:other,garbage_collection_threshold:2,max_split_size_mb:4",
                ),
            ]),
            None,
        ),
        (
            env(&[
                ("CUDA_VISIBLE_DEVICES", "-1"),
                (
                    "PYTORCH_CUDA_ALLOC_CONF",
                    "backend:cudaMallocAsync,max_split_size_mb:64,expandable_segments:yes",
                ),
                ("B_VAR", "3"),
                ("C_VAR", "x"),
            ]),
            Some(&mine),
        ),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for (e, profile) in &cases {
        rules(e, *profile);
        for f in diagnose(e, *profile).findings {
            seen.insert(f.message_key.unwrap().key);
        }
    }
    for key in headroom_core::message::Key::ALL {
        if key.as_str().starts_with("backend.doctor.") {
            assert!(
                seen.contains(key.as_str()),
                "{} never emitted: {seen:?}",
                key.as_str()
            );
        }
    }
}

fn unset(v: &str) -> Option<Fix> {
    Some(Fix::Unset { variable: v.into() })
}

fn set(v: &str, value: &str) -> Option<Fix> {
    Some(Fix::Set {
        variable: v.into(),
        value: value.into(),
    })
}

#[test]
fn doctor_flags_debug_settings_under_production_only() {
    let production = Profile {
        variables: vec![],
        ..profile::builtin("production").unwrap()
    };
    let debugging = env(&[
        ("CUDA_LAUNCH_BLOCKING", "1"),
        ("PYTORCH_NO_CUDA_MEMORY_CACHING", "1"),
        ("TORCH_SHOW_CPP_STACKTRACES", "1"),
        ("PYTORCH_USE_CUDA_DSA", "1"),
        ("TORCH_DISTRIBUTED_DEBUG", "DETAIL"),
        ("NCCL_DEBUG", "INFO"),
        ("CUDA_MODULE_LOADING", "EAGER"),
    ]);
    let found = rules(&debugging, Some(&production));
    let expect = [
        (
            Severity::Error,
            "CUDA_LAUNCH_BLOCKING",
            unset("CUDA_LAUNCH_BLOCKING"),
        ),
        (
            Severity::Error,
            "PYTORCH_NO_CUDA_MEMORY_CACHING",
            unset("PYTORCH_NO_CUDA_MEMORY_CACHING"),
        ),
        (
            Severity::Warning,
            "CUDA_MODULE_LOADING",
            set("CUDA_MODULE_LOADING", "LAZY"),
        ),
        (Severity::Warning, "NCCL_DEBUG", set("NCCL_DEBUG", "WARN")),
        (
            Severity::Warning,
            "PYTORCH_USE_CUDA_DSA",
            unset("PYTORCH_USE_CUDA_DSA"),
        ),
        (
            Severity::Warning,
            "TORCH_DISTRIBUTED_DEBUG",
            unset("TORCH_DISTRIBUTED_DEBUG"),
        ),
        (
            Severity::Warning,
            "TORCH_SHOW_CPP_STACKTRACES",
            unset("TORCH_SHOW_CPP_STACKTRACES"),
        ),
    ];
    assert_eq!(found.len(), expect.len(), "{found:?}");
    for ((sev, rule, var, fix), (want_sev, want_var, want_fix)) in found.iter().zip(expect) {
        assert_eq!(
            (*sev, *rule, var.as_str(), fix),
            (
                want_sev,
                Rule::DebugSettingInProduction,
                want_var,
                &want_fix
            )
        );
    }
    // Without a production profile the same settings are notes, not errors.
    let report = diagnose(&debugging, None);
    assert!(!report.has_errors());
    assert!(report
        .findings
        .iter()
        .all(|f| f.severity == Severity::Info && f.rule == Rule::DebugSettingOn));
    // Switched off is fine, except for the one PyTorch only checks for presence.
    assert!(rules(&env(&[("CUDA_LAUNCH_BLOCKING", "0")]), Some(&production)).is_empty());
    assert_eq!(
        rules(
            &env(&[("PYTORCH_NO_CUDA_MEMORY_CACHING", "0")]),
            Some(&production)
        ),
        vec![(
            Severity::Error,
            Rule::DebugSettingInProduction,
            "PYTORCH_NO_CUDA_MEMORY_CACHING".into(),
            unset("PYTORCH_NO_CUDA_MEMORY_CACHING")
        )]
    );
    // A compile-time macro in the environment does nothing.
    assert_eq!(
        rules(&env(&[("TORCH_USE_CUDA_DSA", "1")]), None),
        vec![(
            Severity::Info,
            Rule::CompileTimeOnly,
            "TORCH_USE_CUDA_DSA".into(),
            unset("TORCH_USE_CUDA_DSA")
        )]
    );
}

#[test]
fn doctor_visible_devices_rules() {
    let want = vec![(
        Severity::Warning,
        Rule::VisibleDevicesWithoutPciOrder,
        "CUDA_DEVICE_ORDER".to_string(),
        set("CUDA_DEVICE_ORDER", "PCI_BUS_ID"),
    )];
    assert_eq!(rules(&env(&[("CUDA_VISIBLE_DEVICES", "1,0")]), None), want);
    assert_eq!(
        rules(
            &env(&[
                ("CUDA_VISIBLE_DEVICES", "1"),
                ("CUDA_DEVICE_ORDER", "FASTEST_FIRST")
            ]),
            None
        ),
        want
    );
    assert!(rules(
        &env(&[
            ("CUDA_VISIBLE_DEVICES", "1"),
            ("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
        ]),
        None
    )
    .is_empty());
    // UUIDs name the device whatever the order.
    assert!(rules(&env(&[("CUDA_VISIBLE_DEVICES", "GPU-8f6e,MIG-1a2b")]), None).is_empty());
    for hidden in ["", "-1"] {
        assert_eq!(
            rules(&env(&[("CUDA_VISIBLE_DEVICES", hidden)]), None),
            vec![(
                Severity::Warning,
                Rule::NoVisibleDevices,
                "CUDA_VISIBLE_DEVICES".into(),
                unset("CUDA_VISIBLE_DEVICES")
            )]
        );
    }
}

#[test]
fn doctor_allocator_rules() {
    let var = "PYTORCH_CUDA_ALLOC_CONF";
    let one = |value: &str| rules(&env(&[(var, value)]), None);
    assert!(
        one("expandable_segments:True,garbage_collection_threshold:0.6,max_split_size_mb:128")
            .is_empty()
    );
    assert!(one("roundup_power2_divisions:[256:1,512:2,>:8],expandable_segments:False").is_empty());

    assert_eq!(
        one("expandable_segments:True,max_split_size_mb:64,expandable_segments:False"),
        vec![(
            Severity::Error,
            Rule::AllocatorContradiction,
            var.into(),
            set(var, "max_split_size_mb:64,expandable_segments:False")
        )]
    );
    assert_eq!(
        one("backend:cudaMallocAsync,expandable_segments:True,max_split_size_mb:64"),
        vec![(
            Severity::Warning,
            Rule::AllocatorContradiction,
            var.into(),
            set(var, "backend:cudaMallocAsync")
        )]
    );
    for bad in [
        "expandable_segments:yes",
        "garbage_collection_threshold:1.5",
        "max_split_size_mb:10",
    ] {
        let found = one(bad);
        assert_eq!(found.len(), 1, "{bad}: {found:?}");
        assert_eq!(
            (found[0].0, found[0].1),
            (Severity::Error, Rule::AllocatorInvalidValue),
            "{bad}"
        );
    }
    assert_eq!(
        one("backend:magic"),
        vec![(
            Severity::Warning,
            Rule::AllocatorInvalidValue,
            var.into(),
            None
        )]
    );
    assert_eq!(
        one("expandable_segment:True")[0].1,
        Rule::AllocatorUnknownKey
    );
    // Two names that disagree: one is ignored, the fix makes them agree on the first.
    assert_eq!(
        rules(
            &env(&[
                ("PYTORCH_ALLOC_CONF", "expandable_segments:True"),
                (var, "max_split_size_mb:128")
            ]),
            None
        ),
        vec![(
            Severity::Warning,
            Rule::AllocatorAliasShadowed,
            "PYTORCH_ALLOC_CONF".into(),
            set("PYTORCH_ALLOC_CONF", "max_split_size_mb:128")
        )]
    );
    assert!(rules(
        &env(&[
            ("PYTORCH_ALLOC_CONF", "expandable_segments:True"),
            (var, "expandable_segments:True")
        ]),
        None
    )
    .is_empty());
    let ignored = rules(
        &env(&[
            (var, "expandable_segments:True"),
            ("PYTORCH_NO_CUDA_MEMORY_CACHING", "1"),
        ]),
        None,
    );
    assert!(
        ignored
            .iter()
            .any(|f| f.1 == Rule::AllocatorIgnored && f.2 == var),
        "{ignored:?}"
    );
}

#[test]
fn doctor_reports_drift_from_the_profile_with_fixes() {
    let mine = user_profile(
        "mine",
        &[
            ("HF_HUB_OFFLINE", Some("1")),
            ("TOKENIZERS_PARALLELISM", Some("false")),
            ("OLD", None),
        ],
    );
    let found = rules(
        &env(&[("TOKENIZERS_PARALLELISM", "true"), ("OLD", "x")]),
        Some(&mine),
    );
    let want: BTreeMap<String, Option<Fix>> = [
        ("HF_HUB_OFFLINE".to_string(), set("HF_HUB_OFFLINE", "1")),
        ("OLD".to_string(), unset("OLD")),
        (
            "TOKENIZERS_PARALLELISM".to_string(),
            set("TOKENIZERS_PARALLELISM", "false"),
        ),
    ]
    .into();
    assert!(found
        .iter()
        .all(|f| f.0 == Severity::Info && f.1 == Rule::DiffersFromProfile));
    assert_eq!(
        found
            .into_iter()
            .map(|f| (f.2, f.3))
            .collect::<BTreeMap<_, _>>(),
        want
    );
}

#[test]
fn a_profile_secret_is_shown_hidden_and_kept_when_saved_back() {
    use headroom_core::env::secret::REDACTED;
    let (_dir, paths) = paths();
    let token = "hf_ProfileSecret123";
    let stored = user_profile(
        "train",
        &[("HF_TOKEN", Some(token)), ("NCCL_DEBUG", Some("WARN"))],
    );
    profile::save(&paths, &stored, Revision::ABSENT).unwrap();

    // What the form and `env show` get: the value hidden, the others as they are.
    let view = profile::load(&paths, "train").unwrap();
    let value = |name: &str| {
        view.variables
            .iter()
            .find(|v| v.name == name)
            .and_then(|v| v.value.clone())
    };
    assert_eq!(value("HF_TOKEN").as_deref(), Some(REDACTED));
    assert_eq!(value("NCCL_DEBUG").as_deref(), Some("WARN"));
    // The child gets the real value.
    assert_eq!(profile::load_profile(&paths, "train").unwrap(), stored);

    // The form saved back with the secret untouched (and another change): the stored value stays.
    let mut edited = user_profile(
        "train",
        &[("HF_TOKEN", Some(REDACTED)), ("NCCL_DEBUG", Some("INFO"))],
    );
    profile::save(&paths, &edited, view.revision.unwrap()).unwrap();
    let reloaded = profile::load_profile(&paths, "train").unwrap();
    assert_eq!(reloaded.variables[0].value.as_deref(), Some(token));
    assert_eq!(reloaded.variables[1].value.as_deref(), Some("INFO"));

    // A doctor fix for a secret carries it hidden; applying it keeps the stored value too.
    let report = diagnose(&env(&[("HF_TOKEN", "hf_Other456789")]), Some(&reloaded));
    let finding = report
        .findings
        .iter()
        .find(|f| f.variable == "HF_TOKEN")
        .expect("the token differs from the profile's");
    assert!(!finding.message.contains(token) && !finding.message.contains("hf_Other456789"));
    let fix = finding.fix.clone().unwrap();
    assert_eq!(
        fix,
        Fix::Set {
            variable: "HF_TOKEN".into(),
            value: REDACTED.into()
        }
    );
    let revision = profile::load(&paths, "train").unwrap().revision.unwrap();
    profile::save(&paths, &reloaded.clone().with_fix(&fix), revision).unwrap();
    assert_eq!(
        profile::load_profile(&paths, "train").unwrap().variables[0]
            .value
            .as_deref(),
        Some(token)
    );

    // A hidden value with nothing stored behind it is refused, naming the field.
    edited.name = "fresh".into();
    match profile::save(&paths, &edited, Revision::ABSENT) {
        Err(Error::Invalid { field, .. }) => assert_eq!(field, "variables[0].value"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_fix_to_a_dotenv_file_comments_out_the_old_lines_and_keeps_everything_else() {
    use headroom_core::env::fix_file::{apply, DISABLED_MARK};
    let text = "# my training run\nHF_TOKEN=secret\nexport CUDA_LAUNCH_BLOCKING=1\nunset A CUDA_LAUNCH_BLOCKING B\n";
    let unset = apply(
        ".env",
        text,
        &Fix::Unset {
            variable: "CUDA_LAUNCH_BLOCKING".into(),
        },
    )
    .unwrap();
    assert_eq!(
        unset,
        format!(
            "# my training run\nHF_TOKEN=secret\n{DISABLED_MARK}export CUDA_LAUNCH_BLOCKING=1\n\
             {DISABLED_MARK}unset A CUDA_LAUNCH_BLOCKING B\nunset A B\n"
        )
    );
    let env = parse::parse(".env", &unset).unwrap().to_env();
    assert!(!env.contains_key("CUDA_LAUNCH_BLOCKING"));
    assert_eq!(env.get("HF_TOKEN").map(String::as_str), Some("secret"));

    let set = apply(
        ".env",
        "NCCL_DEBUG=INFO\nX=1",
        &Fix::Set {
            variable: "NCCL_DEBUG".into(),
            value: "WARN it".into(),
        },
    )
    .unwrap();
    assert_eq!(
        set,
        format!("{DISABLED_MARK}NCCL_DEBUG=INFO\nNCCL_DEBUG='WARN it'\nX=1\n")
    );
    let added = apply(
        ".env",
        "X=1\n",
        &Fix::Set {
            variable: "TOKENIZERS_PARALLELISM".into(),
            value: "false".into(),
        },
    )
    .unwrap();
    assert_eq!(added, "X=1\nTOKENIZERS_PARALLELISM=false\n");
    assert_eq!(
        parse::parse(".env", &added)
            .unwrap()
            .to_env()
            .get("TOKENIZERS_PARALLELISM")
            .map(String::as_str),
        Some("false")
    );
}

#[cfg(unix)]
#[test]
fn a_fixed_dotenv_file_keeps_its_owner_only_permissions() {
    use headroom_core::env::fix_file::apply_to_file;
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(".env");
    std::fs::write(&file, "CUDA_LAUNCH_BLOCKING=1\nHF_TOKEN=secret\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    apply_to_file(
        file.to_str().unwrap(),
        &Fix::Unset {
            variable: "CUDA_LAUNCH_BLOCKING".into(),
        },
    )
    .unwrap();
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .contains("HF_TOKEN=secret"));
    let missing = apply_to_file(
        dir.path().join("nope.env").to_str().unwrap(),
        &Fix::Unset {
            variable: "A".into(),
        },
    )
    .unwrap_err();
    assert!(
        matches!(missing, Error::Invalid { ref field, .. } if field == "file"),
        "{missing}"
    );
}
