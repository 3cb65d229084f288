//! tauri-build only: generates the context and the ACL. Every app command is listed so that it needs an
//! explicit permission in src-tauri/capabilities/ (the narrowest set that works).

const COMMANDS: &[&str] = &[
    "app_info",
    "get_settings",
    "save_settings",
    "plan_answer",
    "plan_catalog",
    "plan_hf_cache",
    "plan_gpus",
    "plan_pick_folder",
    "plan_save",
    "plan_load",
    "plan_export_chart",
];

fn main() {
    println!("cargo:rerun-if-changed=src-tauri/capabilities");
    let attributes = tauri_build::Attributes::new()
        .capabilities_path_pattern("./src-tauri/capabilities/**/*")
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    tauri_build::try_build(attributes).expect("tauri-build failed");
}
