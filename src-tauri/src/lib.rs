//! The Tauri shell: thin. It resolves paths, starts logging, holds the state, and exposes commands that each
//! call one core function and map its error. All domain logic lives in `headroom-core`.

pub mod bindings;
pub mod commands;
pub mod draft;
pub mod error;
pub mod logging;
pub mod picker;
pub mod state;
pub mod webkit;

use headroom_core::paths::AppPaths;
use tauri::{Manager, Runtime, Wry};

pub use picker::Picks;
pub use state::AppState;

/// Register the state and every command on a builder. Generic over the runtime, so the IPC tests hand in
/// Tauri's `mock_builder()` and run the very same handlers. `picks` says who answers the file dialogs.
pub fn setup<R: Runtime>(
    builder: tauri::Builder<R>,
    state: AppState,
    picks: Picks,
) -> tauri::Builder<R> {
    builder
        .manage(state)
        .manage(commands::trainers::DroppedConfigs::default())
        // Files dropped on the window: the shell keeps the paths the system gives, and the Plan view imports them
        // with plan_import_dropped (docs/trainers.md).
        .on_window_event(|window, event| {
            if let tauri::WindowEvent::DragDrop(tauri::DragDropEvent::Drop { paths, .. }) = event {
                let dropped = window.state::<commands::trainers::DroppedConfigs>();
                commands::trainers::remember_drop(window, &dropped, paths);
            }
        })
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(picks.into_plugin())
        .invoke_handler(tauri::generate_handler![
            commands::app::app_info,
            commands::settings::get_settings,
            commands::settings::save_settings,
            commands::settings::get_machine_calibration,
            commands::settings::reset_machine_calibration,
            commands::presets::list_presets,
            commands::presets::check_preset,
            commands::presets::create_preset,
            commands::presets::save_preset,
            commands::presets::duplicate_preset,
            commands::presets::rename_preset,
            commands::presets::delete_preset,
            commands::presets::export_preset_dialog,
            commands::presets::export_bundle_dialog,
            commands::presets::import_preset_dialog,
            commands::presets::import_bundle_dialog,
            commands::configs::list_configs,
            commands::configs::check_config,
            commands::configs::preview_config,
            commands::configs::save_config,
            commands::configs::delete_config,
            commands::configs::switch_config_preset,
            commands::configs::wizard_models,
            commands::configs::wizard_gpus,
            commands::configs::wizard_rank,
            commands::env::env_list_profiles,
            commands::env::env_load_profile,
            commands::env::env_catalog,
            commands::env::env_save_profile,
            commands::env::env_delete_profile,
            commands::env::env_apply_fix,
            commands::env::env_fix_file,
            commands::env::env_export,
            commands::env::env_export_dialog,
            commands::env::env_doctor,
            commands::runs::runs_defaults,
            commands::runs::runs_start,
            commands::runs::runs_cancel,
            commands::runs::runs_active,
            commands::runs::runs_attach,
            commands::runs::runs_list,
            commands::runs::runs_load,
            commands::runs::runs_log,
            commands::monitor::monitor_start,
            commands::monitor::monitor_stop,
            commands::monitor::monitor_set_interval,
            commands::monitor::monitor_window,
            commands::monitor::monitor_idle,
            commands::monitor::monitor_stop_process,
            commands::monitor::monitor_record_start,
            commands::monitor::monitor_record_stop,
            commands::monitor::monitor_recording,
            commands::monitor::monitor_export,
            commands::monitor::monitor_recordings,
            commands::plan::plan_answer,
            commands::plan::plan_catalog,
            commands::plan::plan_hf_cache,
            commands::plan::plan_gpus,
            commands::plan::plan_pick_folder,
            commands::plan::plan_pick_config,
            commands::plan::plan_save,
            commands::plan::plan_load,
            commands::plan::plan_export_chart,
            commands::trainers::plan_import_config,
            commands::trainers::plan_import_dropped,
            commands::trainers::plan_export_config,
            commands::trace::trace_plan,
            commands::trace::trace_cancel,
            commands::trace::trace_check_python,
            commands::trace::trace_export_chart,
        ])
}

/// Start the desktop app.
pub fn run() {
    let paths = match AppPaths::from_env(|var| std::env::var(var).ok()) {
        Ok(paths) => paths,
        Err(e) => {
            eprintln!("headroom: {e}");
            std::process::exit(1);
        }
    };
    // Read once, here: no command can change who answers the dialogs.
    let picks = match Picks::from_env(std::env::var_os(picker::TEST_PICKS_VAR).as_deref()) {
        Ok(picks) => picks,
        Err(e) => {
            eprintln!("headroom: {e}");
            std::process::exit(1);
        }
    };
    logging::init(&paths);
    tracing::info!(version = env!("CARGO_PKG_VERSION"), config = %paths.config_dir.display(), "starting");
    let state = AppState::load(paths);
    let result =
        setup(tauri::Builder::<Wry>::default(), state, picks).run(tauri::generate_context!());
    if let Err(e) = result {
        tracing::error!(error = %e, "the app stopped with an error");
        eprintln!("headroom: {e}");
        std::process::exit(1);
    }
}
