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
    "wizard_models",
    "wizard_gpus",
    "wizard_rank",
    "env_list_profiles",
    "env_load_profile",
    "env_catalog",
    "env_save_profile",
    "env_delete_profile",
    "env_apply_fix",
    "env_export",
    "env_export_to_file",
    "env_doctor",
    "runs_defaults",
    "runs_start",
    "runs_cancel",
    "runs_active",
    "runs_list",
    "runs_load",
    "runs_log",
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
