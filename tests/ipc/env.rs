//! Environment profiles and the doctor through IPC.

use serde_json::{json, Value};

use crate::{assert_refused, harness, invoke};

#[test]
fn profiles_list_built_ins_first_and_show_what_each_variable_costs() {
    let h = harness();
    let list = invoke(&h, "env_list_profiles", json!({})).unwrap();
    let names: Vec<&str> = list["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["production", "debug"]);
    let debug = invoke(&h, "env_load_profile", json!({"name": "debug"})).unwrap();
    let blocking = debug["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "CUDA_LAUNCH_BLOCKING")
        .unwrap();
    assert_eq!(blocking["value"], "1");
    assert_eq!(blocking["info"]["debug_only"], true);
    assert!(blocking["info"]["cost"]
        .as_str()
        .unwrap()
        .contains("slowdown"));
    assert_eq!(debug["builtin"], true);
    assert_eq!(debug["revision"], json!(null));
}

fn mine(blocking: &str) -> serde_json::Value {
    json!({
        "name": "mine",
        "description": "",
        "purpose": "production",
        "variables": [{"name": "CUDA_LAUNCH_BLOCKING", "value": blocking}],
    })
}

#[test]
fn save_checks_the_revision_and_the_doctor_fix_applies_to_the_profile() {
    let h = harness();
    let saved = invoke(
        &h,
        "env_save_profile",
        json!({"profile": mine("1"), "expected": null}),
    )
    .unwrap();
    let revision = saved["revision"].clone();
    assert!(revision.is_string(), "{saved}");

    // Creating it again (expected: absent) is a conflict, not an overwrite.
    let err = invoke(
        &h,
        "env_save_profile",
        json!({"profile": mine("0"), "expected": null}),
    )
    .unwrap_err();
    assert_eq!(err["code"], "conflict", "{err}");

    // The doctor, against a file, under the production-purpose profile.
    let file = h.paths.config_dir.join("train.env");
    std::fs::write(&file, "CUDA_LAUNCH_BLOCKING=1\nnot an assignment\n").unwrap();
    let result = invoke(
        &h,
        "env_doctor",
        json!({"source": {"kind": "file", "path": file}, "profile": "mine"}),
    )
    .unwrap();
    let finding = &result["report"]["findings"][0];
    assert_eq!(finding["severity"], "error");
    assert_eq!(finding["variable"], "CUDA_LAUNCH_BLOCKING");
    assert_eq!(result["skipped_lines"], json!([2]));

    let fixed = invoke(
        &h,
        "env_apply_fix",
        json!({"name": "mine", "expected": revision, "fix": finding["fix"]}),
    )
    .unwrap();
    assert_eq!(fixed["variables"][0]["value"], json!(null));
    // The app's own environment with the fixed profile applied has no CUDA_LAUNCH_BLOCKING left.
    let app = invoke(
        &h,
        "env_doctor",
        json!({"source": {"kind": "app"}, "profile": "mine"}),
    )
    .unwrap();
    assert!(
        !app.to_string()
            .contains("\"variable\":\"CUDA_LAUNCH_BLOCKING\""),
        "{app}"
    );

    // The same fix, to the checked file itself: checked again, the file no longer trips the doctor.
    invoke(
        &h,
        "env_fix_file",
        json!({"path": file, "fix": finding["fix"]}),
    )
    .unwrap();
    let again = invoke(
        &h,
        "env_doctor",
        json!({"source": {"kind": "file", "path": file}, "profile": "mine"}),
    )
    .unwrap();
    assert!(
        !again["report"]["findings"]
            .to_string()
            .contains("\"variable\":\"CUDA_LAUNCH_BLOCKING\""),
        "{again}"
    );
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .contains("not an assignment"));

    // A stale revision is refused.
    let err = invoke(
        &h,
        "env_apply_fix",
        json!({"name": "mine", "expected": revision, "fix": finding["fix"]}),
    )
    .unwrap_err();
    assert_eq!(err["code"], "conflict");

    let shell = invoke(&h, "env_export", json!({"name": "mine", "format": "shell"})).unwrap();
    assert!(shell
        .as_str()
        .unwrap()
        .contains("unset CUDA_LAUNCH_BLOCKING"));
    let out = h.paths.config_dir.join("mine.env");
    h.pick(&out);
    let written = invoke(
        &h,
        "env_export_dialog",
        json!({"name": "mine", "format": "dotenv"}),
    )
    .unwrap();
    assert_eq!(written, json!(out));
    h.cancel_pick();
    let cancelled = invoke(
        &h,
        "env_export_dialog",
        json!({"name": "mine", "format": "shell"}),
    )
    .unwrap();
    assert_eq!(cancelled, Value::Null);
    assert_eq!(h.picks.remaining(), 0);
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .contains("CUDA_LAUNCH_BLOCKING must be unset"));

    invoke(
        &h,
        "env_delete_profile",
        json!({"name": "mine", "expected": fixed["revision"]}),
    )
    .unwrap();
    let list = invoke(&h, "env_list_profiles", json!({})).unwrap();
    assert_eq!(list["profiles"].as_array().unwrap().len(), 2);
}

#[test]
fn bad_input_names_the_field() {
    let h = harness();
    let mut bad = mine("1");
    bad["variables"][0]["name"] = json!("1BAD");
    // Each refused as invalid input, its message starting with the field (and, where it matters, why).
    let cases = [
        (
            "env_save_profile",
            json!({"profile": bad, "expected": null}),
            "variables[0].name: ",
        ),
        (
            "env_save_profile",
            json!({"profile": {"name": "production", "description": "", "purpose": "production", "variables": []}, "expected": null}),
            "name: ",
        ),
        (
            "env_doctor",
            json!({"source": {"kind": "file", "path": "relative.env"}, "profile": null}),
            "file: ",
        ),
        (
            "env_doctor",
            json!({"source": {"kind": "process", "pid": 4_000_000_000u32}, "profile": null}),
            "pid: ",
        ),
        // The dialog command reads the profile before it opens a dialog: a profile that is not there is
        // refused at once (were the dialog first, this would wait for a person; here, fail for want of an
        // answer).
        (
            "env_export_dialog",
            json!({"name": "nope", "format": "dotenv"}),
            "profile: no profile named \"nope\"",
        ),
    ];
    for (cmd, args, prefix) in cases {
        let err = invoke(&h, cmd, args).unwrap_err();
        assert_eq!(err["code"], "invalid", "{cmd}: {err}");
        assert_refused(&err, prefix);
    }
}

#[test]
fn a_profile_token_reaches_the_window_hidden_and_survives_a_save_from_the_form() {
    let h = harness();
    let token = "hf_WindowSecret2468";
    let profile = json!({"name": "withtoken", "description": "", "purpose": "other",
        "variables": [{"name": "HF_TOKEN", "value": token}, {"name": "NCCL_DEBUG", "value": "WARN"}]});
    let view = invoke(
        &h,
        "env_save_profile",
        json!({"profile": profile, "expected": null}),
    )
    .unwrap();
    assert!(!view.to_string().contains(token), "{view}");
    assert_eq!(view["variables"][0]["value"], "<redacted>");
    // The form sends back what it was shown, with one other change.
    let back = json!({"name": "withtoken", "description": "", "purpose": "other",
        "variables": [{"name": "HF_TOKEN", "value": "<redacted>"}, {"name": "NCCL_DEBUG", "value": "INFO"}]});
    let view = invoke(
        &h,
        "env_save_profile",
        json!({"profile": back, "expected": view["revision"]}),
    )
    .unwrap();
    assert_eq!(view["variables"][1]["value"], "INFO");
    let loaded = invoke(&h, "env_load_profile", json!({"name": "withtoken"})).unwrap();
    assert!(!loaded.to_string().contains(token), "{loaded}");
    // The value itself is still stored, for the child and for an explicit export.
    let text = invoke(
        &h,
        "env_export",
        json!({"name": "withtoken", "format": "dotenv"}),
    )
    .unwrap();
    assert!(text.as_str().unwrap().contains(token), "{text}");
}
