//! tauri-build only: generates the context and the ACL. Every app command is listed so that it needs an
//! explicit permission in src-tauri/capabilities/ (the narrowest set that works).

const COMMANDS: &[&str] = &[
    "app_info",
    "get_settings",
    "save_settings",
    "monitor_start",
    "monitor_stop",
    "monitor_window",
    "monitor_idle",
    "monitor_stop_process",
    "monitor_record_start",
    "monitor_record_stop",
    "monitor_recording",
    "monitor_export",
    "monitor_recordings",
];

fn main() {
    println!("cargo:rerun-if-changed=src-tauri/capabilities");
    let attributes = tauri_build::Attributes::new()
        .capabilities_path_pattern("./src-tauri/capabilities/**/*")
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    tauri_build::try_build(attributes).expect("tauri-build failed");
}
