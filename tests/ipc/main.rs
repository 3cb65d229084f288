//! IPC tests: the real command handlers on Tauri's mock runtime, called the way the webview calls them.

mod plan;
mod presets;

use headroom_app::picker::ScriptedPicker;
use headroom_app::{setup, AppState, Picks};
use headroom_core::paths::AppPaths;
use serde_json::{json, Value};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::WebviewWindow;

mod env;
#[path = "../common/measured_runs.rs"]
mod measured_runs;
mod monitor;
mod runs;
mod trace;
mod trainers;

pub(crate) struct Harness {
    _dir: tempfile::TempDir,
    pub(crate) paths: AppPaths,
    window: WebviewWindow<MockRuntime>,
    /// What the app's file dialogs answer: a test gives each answer before the command that opens the dialog.
    pub(crate) picks: ScriptedPicker,
}

pub(crate) fn harness_with(prepare: impl FnOnce(&AppPaths)) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let paths = AppPaths::new(dir.path().join("config"), dir.path().join("data"));
    prepare(&paths);
    let picks = ScriptedPicker::default();
    let app = setup(
        mock_builder(),
        AppState::load(paths.clone()),
        Picks::Scripted(picks.clone()),
    )
    // The real config and capabilities: a command missing from src-tauri/capabilities fails here too.
    .build(tauri::generate_context!("tauri.conf.json", test = true))
    .expect("build the app on the mock runtime");
    let window = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap();
    Harness {
        _dir: dir,
        paths,
        window,
        picks,
    }
}

impl Harness {
    /// Answer the next file dialog with `path`, as a person choosing it would.
    pub(crate) fn pick(&self, path: impl AsRef<std::path::Path>) {
        self.picks.answer(Some(path.as_ref().to_path_buf()));
    }

    /// Cancel the next file dialog.
    pub(crate) fn cancel_pick(&self) {
        self.picks.answer(None);
    }
}

pub(crate) fn harness() -> Harness {
    harness_with(|_| {})
}

/// Assert that `err` is a refusal naming what was wrong: its message starts with `prefix` (the field's name,
/// and as much of the reason as the test cares about).
#[track_caller]
pub(crate) fn assert_refused(err: &Value, prefix: &str) {
    let message = err["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message in {err}"));
    assert!(
        message.starts_with(prefix),
        "expected {prefix:?} first: {err}"
    );
}

/// Assert that `err`'s message says `text` somewhere.
#[track_caller]
pub(crate) fn assert_mentions(err: &Value, text: &str) {
    let message = err["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message in {err}"));
    assert!(message.contains(text), "expected {text:?} in: {err}");
}

pub(crate) fn invoke(h: &Harness, cmd: &str, args: Value) -> Result<Value, Value> {
    invoke_from(h, "tauri://localhost", cmd, args)
}

/// Call a command as if from a page at `origin` (the app's own pages are `tauri://localhost` on Linux).
fn invoke_from(h: &Harness, origin: &str, cmd: &str, args: Value) -> Result<Value, Value> {
    get_ipc_response(
        &h.window,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: origin.parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|body| body.deserialize::<Value>().unwrap())
}

#[test]
fn settings_start_at_defaults_and_persist() {
    let h = harness();
    assert_eq!(
        invoke(&h, "get_settings", json!({})).unwrap(),
        json!({"language": "auto", "theme": "system", "notify_on_critical": false, "fit_on": "high"})
    );
    let saved = invoke(
        &h,
        "save_settings",
        json!({"settings": {"language": "ja", "theme": "dark", "notify_on_critical": true, "fit_on": "central"}}),
    )
    .unwrap();
    assert_eq!(
        saved,
        json!({"language": "ja", "theme": "dark", "notify_on_critical": true, "fit_on": "central"})
    );
    assert_eq!(invoke(&h, "get_settings", json!({})).unwrap(), saved);
    let on_disk = std::fs::read_to_string(h.paths.settings_file()).unwrap();
    assert!(on_disk.contains("\"ja\""), "{on_disk}");
}

#[test]
fn machine_calibration_is_shown_used_by_the_plan_and_reset() {
    const GIB: u64 = 1 << 30;
    let h = harness_with(|paths| {
        for (i, gib) in [6u64, 11, 19].into_iter().enumerate() {
            measured_runs::measured_run(paths, 1_000 + i as u64, "train", gib * GIB, 45, 600 << 20);
        }
    });
    let shown = invoke(&h, "get_machine_calibration", json!({})).unwrap();
    assert_eq!(shown["calibration"]["train"]["runs"], 3);
    assert_eq!(
        shown["calibration"]["train"]["cuda_context_bytes"],
        600u64 << 20
    );
    assert_eq!(shown["calibration"]["infer"], Value::Null);
    assert_eq!(
        (shown["train_runs"].clone(), shown["min_runs"].clone()),
        (json!(3), json!(3))
    );

    let plan = json!({"plan": {"model": {"id": "meta-llama/Llama-3.1-8B"}, "task": "train", "method": "qlora"}});
    let answer = invoke(&h, "plan_answer", plan.clone()).unwrap();
    assert_eq!(answer["estimate"]["machine_calibration"]["runs"], 3);
    assert_eq!(
        answer["estimate"]["per_gpu"]["cuda_context_bytes"],
        600u64 << 20
    );
    let ask = json!({"ask": {"model_id": "meta-llama/Llama-3.1-8B", "task": "train", "method": "qlora",
                             "gpu": "H200", "memory_bytes": null, "gpu_count": 1}});
    let ranking = invoke(&h, "wizard_rank", ask.clone()).unwrap();
    assert_eq!(ranking["machine_calibration"]["runs"], 3);

    let reset = invoke(&h, "reset_machine_calibration", json!({})).unwrap();
    assert_eq!(reset["calibration"], json!({"train": null, "infer": null}));
    assert!(reset["reset_unix_ms"].as_u64().unwrap() > 1_000);
    assert_eq!(
        invoke(&h, "get_machine_calibration", json!({})).unwrap(),
        reset
    );
    let answer = invoke(&h, "plan_answer", plan).unwrap();
    assert!(answer["estimate"].get("machine_calibration").is_none());
    let ranking = invoke(&h, "wizard_rank", ask).unwrap();
    assert!(ranking.get("machine_calibration").is_none());
}

#[test]
fn bad_settings_are_refused_with_the_field_named() {
    let h = harness();
    let err = invoke(
        &h,
        "save_settings",
        json!({"settings": {"language": "klingon"}}),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("klingon"), "{text}");
    assert_eq!(
        invoke(&h, "get_settings", json!({})).unwrap()["language"],
        "auto",
        "nothing changed"
    );
}

#[test]
fn app_info_reports_paths_and_quarantined_files() {
    let h = harness_with(|paths| {
        std::fs::create_dir_all(&paths.config_dir).unwrap();
        std::fs::write(paths.settings_file(), "{broken").unwrap();
    });
    let info = invoke(&h, "app_info", json!({})).unwrap();
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        info["paths"]["config_dir"],
        h.paths.config_dir.to_str().unwrap()
    );
    let quarantined = info["quarantined"].as_array().unwrap();
    assert_eq!(quarantined.len(), 1);
    assert!(quarantined[0]["reason"]
        .as_str()
        .unwrap()
        .contains("not a Headroom document"));
}

#[test]
fn unknown_commands_are_errors_not_panics() {
    let h = harness();
    assert!(invoke(&h, "no_such_command", json!({})).is_err());
}

#[test]
fn remote_pages_cannot_call_commands() {
    let h = harness();
    let err = invoke_from(&h, "https://example.com", "get_settings", json!({})).unwrap_err();
    assert!(err.to_string().contains("not allowed"), "{err}");
}
