//! tauri-build only: generates the context and the ACL. Every app command is listed so that it needs an
//! explicit permission in src-tauri/capabilities/ (the narrowest set that works).

const COMMANDS: &[&str] = &[
    "app_info",
    "get_settings",
    "save_settings",
    "list_presets",
    "check_preset",
    "create_preset",
    "save_preset",
    "duplicate_preset",
    "rename_preset",
    "delete_preset",
    "export_preset",
    "export_bundle",
    "import_preset",
    "import_bundle",
    "list_configs",
    "check_config",
    "save_config",
    "delete_config",
];

fn main() {
    println!("cargo:rerun-if-changed=src-tauri/capabilities");
    let attributes = tauri_build::Attributes::new()
        .capabilities_path_pattern("./src-tauri/capabilities/**/*")
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    tauri_build::try_build(attributes).expect("tauri-build failed");
}
