//! The monitor's commands on the mock runtime, driven by the demo (fake) source: no GPU needed.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{harness, invoke};

/// A channel id as the webview sends it (`new Channel()` in @tauri-apps/api); the mock runtime drops the pushes.
const CHANNEL: &str = "__CHANNEL__:7";

fn start_demo(h: &crate::Harness, scenario: &str) -> Value {
    invoke(
        h,
        "monitor_start",
        json!({"source": {"kind": "demo", "scenario": scenario}, "onPush": CHANNEL}),
    )
    .unwrap()
}

/// Polls the history until a series has at least `n` points.
fn window_with(h: &crate::Harness, n: usize) -> Value {
    let start = Instant::now();
    loop {
        let w = invoke(
            h,
            "monitor_window",
            json!({"rangeMs": 60_000, "points": 400}),
        )
        .unwrap();
        let len = w["gpus"][0]["used"]["t"].as_array().map_or(0, Vec::len);
        if len >= n {
            return w;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no history: {w}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_demo_starts_labelled_and_fills_history_per_gpu_and_process() {
    let h = harness();
    let started = start_demo(&h, "training");
    assert_eq!(started["source"], "fake:training");
    assert_eq!(started["demo"], true);
    assert_eq!(started["interval_ms"], 250);
    assert_eq!(started["alerts"]["warning"], 0.85);
    let w = window_with(&h, 3);
    assert_eq!(w["gpus"].as_array().unwrap().len(), 2, "{w}");
    assert_eq!(w["gpus"][0]["total_bytes"], 80u64 << 30);
    let used = w["gpus"][0]["used"]["v"][0].as_u64().unwrap();
    assert!(used > 0 && used < 80u64 << 30, "{used}");
    assert!(!w["processes"].as_array().unwrap().is_empty(), "{w}");
    let idle = invoke(&h, "monitor_idle", json!({})).unwrap();
    let pids: Vec<u64> = idle
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_u64().unwrap())
        .collect();
    assert!(pids.contains(&10_000) && pids.contains(&10_002), "{idle}");
    invoke(&h, "monitor_stop", json!({})).unwrap();
    let err = invoke(
        &h,
        "monitor_window",
        json!({"rangeMs": 60_000, "points": 400}),
    )
    .unwrap_err();
    assert_eq!(err["code"], "invalid", "{err}");
}

#[test]
fn without_a_driver_nvml_says_so_plainly() {
    if std::path::Path::new("/proc/driver/nvidia").exists() {
        return; // a machine with a GPU: covered by the #[ignore] NVML tests of the core
    }
    let h = harness();
    let err = invoke(
        &h,
        "monitor_start",
        json!({"source": {"kind": "nvml"}, "onPush": CHANNEL}),
    )
    .unwrap_err();
    assert_eq!(err["code"], "no_driver", "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("libnvidia-ml.so.1"),
        "{err}"
    );
}

#[test]
fn bad_input_is_refused_with_the_field_named() {
    let h = harness();
    start_demo(&h, "idle");
    let err = invoke(
        &h,
        "monitor_window",
        json!({"rangeMs": 1000, "points": 400}),
    )
    .unwrap_err();
    assert!(
        err["message"].as_str().unwrap().starts_with("range:"),
        "{err}"
    );
    let err = invoke(
        &h,
        "monitor_start",
        json!({"source": {"kind": "demo", "scenario": "idle"},
               "alerts": {"warning": 0.9, "critical": 0.8}, "onPush": CHANNEL}),
    )
    .unwrap_err();
    assert!(
        err["message"].as_str().unwrap().starts_with("critical:"),
        "{err}"
    );
    let err = invoke(
        &h,
        "monitor_start",
        json!({"source": {"kind": "replay", "path": ""}, "onPush": CHANNEL}),
    )
    .unwrap_err();
    assert!(
        err["message"].as_str().unwrap().starts_with("path:"),
        "{err}"
    );
    // Demo processes are simulated: their pids are not stopped, whoever owns a real process with that pid.
    let err = invoke(&h, "monitor_stop_process", json!({"pid": 10_000})).unwrap_err();
    assert!(err["message"].as_str().unwrap().contains("demo"), "{err}");
}

#[test]
fn thresholds_apply_and_a_recording_replays_and_exports() {
    let h = harness();
    let started = invoke(
        &h,
        "monitor_start",
        json!({"source": {"kind": "demo", "scenario": "oom"},
               "alerts": {"warning": 0.5, "critical": 0.9}, "onPush": CHANNEL}),
    )
    .unwrap();
    assert_eq!(started["alerts"]["warning"], 0.5);
    let rec = invoke(&h, "monitor_record_start", json!({"name": "ipc-test"})).unwrap();
    let path = rec["path"].as_str().unwrap().to_string();
    assert!(path.ends_with("recordings/ipc-test.jsonl"), "{path}");
    window_with(&h, 6);
    let err = invoke(&h, "monitor_record_start", json!({"name": "again"})).unwrap_err();
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("already recording"),
        "{err}"
    );
    let done = invoke(&h, "monitor_record_stop", json!({})).unwrap();
    assert!(done["snapshots"].as_u64().unwrap() >= 3, "{done}");
    let csv = invoke(
        &h,
        "monitor_export",
        json!({"format": "csv", "rangeMs": 60_000}),
    )
    .unwrap();
    assert!(csv["rows"].as_u64().unwrap() >= 6, "{csv}");
    let text = std::fs::read_to_string(csv["path"].as_str().unwrap()).unwrap();
    assert!(text.starts_with("taken_at,gpu,pid"), "{text}");
    let svg = invoke(
        &h,
        "monitor_export",
        json!({"format": "svg", "rangeMs": 60_000}),
    )
    .unwrap();
    let text = std::fs::read_to_string(svg["path"].as_str().unwrap()).unwrap();
    assert!(text.contains("<svg"), "{}", &text[..100.min(text.len())]);
    let list = invoke(&h, "monitor_recordings", json!({})).unwrap();
    assert_eq!(list[0]["name"], "ipc-test", "{list}");
    assert_eq!(list[0]["path"], path.as_str());
    assert!(list[0]["size_bytes"].as_u64().unwrap() > 0, "{list}");
    // The recording plays back through the replay source.
    let replay = invoke(
        &h,
        "monitor_start",
        json!({"source": {"kind": "replay", "path": path}, "onPush": CHANNEL}),
    )
    .unwrap();
    assert!(
        replay["source"].as_str().unwrap().starts_with("replay:"),
        "{replay}"
    );
    assert_eq!(replay["demo"], false);
}

#[test]
fn the_recommended_switch_saves_the_models_config_and_undo_puts_it_back() {
    let h = harness();
    let before = json!({"preset": "fp16", "task": "train", "method": "lora",
                        "fallback_chain": ["fp16", "int8", "int4", "int4_double", "int4_offload"], "notes": "mine"});
    let saved = invoke(
        &h,
        "save_config",
        json!({"modelId": "Qwen/Qwen3-8B", "config": before, "revision": null}),
    )
    .unwrap();
    let done = invoke(
        &h,
        "switch_config_preset",
        json!({"modelId": "Qwen/Qwen3-8B", "preset": "int4_double"}),
    )
    .unwrap();
    assert_eq!(done["entry"]["config"]["preset"], "int4_double");
    assert_eq!(done["entry"]["config"]["method"], "qlora");
    assert_eq!(done["previous"]["revision"], saved["revision"]);
    assert_eq!(
        done["changes"][0],
        "method lora → qlora: LoRA on 4-bit weights is QLoRA"
    );
    let listed = invoke(&h, "list_configs", json!({})).unwrap();
    assert_eq!(listed["configs"][0]["config"]["preset"], "int4_double");
    // Undo: the previous config saved over the switch's revision.
    invoke(
        &h,
        "save_config",
        json!({"modelId": "Qwen/Qwen3-8B", "config": done["previous"]["config"], "revision": done["entry"]["revision"]}),
    )
    .unwrap();
    let listed = invoke(&h, "list_configs", json!({})).unwrap();
    assert_eq!(listed["configs"][0]["config"]["preset"], "fp16");
    assert_eq!(listed["configs"][0]["config"]["notes"], "mine");

    let err = invoke(
        &h,
        "switch_config_preset",
        json!({"modelId": "Qwen/Qwen3-8B", "preset": "int3"}),
    )
    .unwrap_err();
    assert_eq!(err["code"], "invalid", "{err}");
    assert!(
        err["message"].as_str().unwrap().starts_with("preset:"),
        "{err}"
    );
}

#[test]
fn the_interval_is_chosen_at_start_changed_while_running_and_checked() {
    let h = harness();
    let err = invoke(&h, "monitor_set_interval", json!({"intervalMs": 500})).unwrap_err();
    assert!(err["message"].as_str().unwrap().contains("start"), "{err}");
    // Eight demo GPUs sampled at 10 Hz: what the Monitor view must keep up with.
    let started = invoke(
        &h,
        "monitor_start",
        json!({"source": {"kind": "demo", "scenario": "training", "gpus": 8},
               "intervalMs": 100, "onPush": CHANNEL}),
    )
    .unwrap();
    assert_eq!(started["interval_ms"], 100);
    let w = window_with(&h, 3);
    assert_eq!(w["gpus"].as_array().unwrap().len(), 8, "{w}");
    let err = invoke(&h, "monitor_set_interval", json!({"intervalMs": 50})).unwrap_err();
    assert_eq!(err["code"], "invalid");
    assert_eq!(err["message"], "interval: 50 ms is outside 100 ms to 10 s");
    invoke(&h, "monitor_set_interval", json!({"intervalMs": 2000})).unwrap();
    let err = invoke(
        &h,
        "monitor_start",
        json!({"source": {"kind": "demo", "scenario": "idle", "gpus": 17}, "onPush": CHANNEL}),
    )
    .unwrap_err();
    assert!(
        err["message"].as_str().unwrap().starts_with("gpus:"),
        "{err}"
    );
    // Without an interval the demo runs at 4 Hz, and a replay at the pace it was recorded at.
    let demo = start_demo(&h, "idle");
    assert_eq!(demo["interval_ms"], 250);
    let rec = invoke(&h, "monitor_record_start", json!({"name": "pace"})).unwrap();
    window_with(&h, 2);
    invoke(&h, "monitor_record_stop", json!({})).unwrap();
    let replay = invoke(
        &h,
        "monitor_start",
        json!({"source": {"kind": "replay", "path": rec["path"]}, "onPush": CHANNEL}),
    )
    .unwrap();
    assert_eq!(replay["interval_ms"], 250, "{replay}");
}

#[test]
fn a_replay_is_charted_and_timed_by_the_recordings_clock_not_todays() {
    let h = harness();
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/monitor/training-2gpu.jsonl"
    );
    let replay = invoke(
        &h,
        "monitor_start",
        json!({"source": {"kind": "replay", "path": fixture}, "intervalMs": 100, "onPush": CHANNEL}),
    )
    .unwrap();
    assert!(replay["source"].as_str().unwrap().starts_with("replay:"));
    // The recording is from 2026-11-29 20:00 UTC: a window ending today would be empty.
    let w = window_with(&h, 5);
    assert!(
        w["to"].as_str().unwrap().starts_with("2026-11-29T20:"),
        "{w}"
    );
    let idle = invoke(&h, "monitor_idle", json!({})).unwrap();
    for p in idle.as_array().unwrap() {
        let ms = p["idle_ms"].as_u64().unwrap();
        assert!(
            ms < 3_600_000,
            "idle for {ms} ms: measured against today's clock"
        );
    }
}

/// A plain HTTP GET of `/metrics`: the status line, or why the connection failed.
fn scrape(addr: &str) -> Result<String, std::io::Error> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer.lines().next().unwrap_or("").to_string())
}

#[test]
fn the_exporter_setting_starts_and_stops_the_server_and_a_bad_address_is_refused_unsaved() {
    let h = harness();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut settings = invoke(&h, "get_settings", json!({})).unwrap();
    settings["exporter_address"] = json!(addr);
    invoke(&h, "save_settings", json!({"settings": settings})).unwrap();
    // Serving, with nothing to serve yet: no NVML reading (a demo's are never served as this machine's).
    start_demo(&h, "training");
    assert!(scrape(&addr).unwrap().contains(" 503 "));

    settings["exporter_address"] = json!("nowhere");
    let err = invoke(&h, "save_settings", json!({"settings": settings})).unwrap_err();
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .starts_with("exporter_address:"),
        "{err}"
    );
    assert_eq!(
        invoke(&h, "get_settings", json!({})).unwrap()["exporter_address"],
        json!(addr)
    );

    settings.as_object_mut().unwrap().remove("exporter_address");
    invoke(&h, "save_settings", json!({"settings": settings})).unwrap();
    assert!(scrape(&addr).is_err(), "stopped");
}

#[test]
fn a_remote_source_starts_with_its_label_without_credentials_and_a_local_one_is_refused_there() {
    let h = harness();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = invoke(
        &h,
        "monitor_start",
        json!({"source": {"kind": "remote", "source": format!("headroom:http://me:pw@127.0.0.1:{port}")}, "onPush": CHANNEL}),
    )
    .unwrap();
    assert_eq!(
        started["source"],
        format!("headroom:http://127.0.0.1:{port}/metrics")
    );
    assert_eq!(started["demo"], false);
    let err = invoke(
        &h,
        "monitor_start",
        json!({"source": {"kind": "remote", "source": "fake:idle"}, "onPush": CHANNEL}),
    )
    .unwrap_err();
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("name a remote source"),
        "{err}"
    );
}
