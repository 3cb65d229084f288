use headroom_core::i18n::os_locale;
use headroom_core::paths::AppPaths;
use headroom_core::store::Quarantine;
use serde::Serialize;
use tauri::State;

use crate::AppState;

/// What the About panel and the first-run notices show.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct AppInfo {
    pub version: String,
    pub paths: AppPaths,
    #[ts(type = "string")]
    pub log_file: std::path::PathBuf,
    /// The OS locale (`LC_ALL`, `LC_MESSAGES`, then `LANG`), used when the language setting is `auto`.
    pub locale: Option<String>,
    /// Files that could not be read at start-up and were moved aside.
    pub quarantined: Vec<Quarantine>,
}

#[tauri::command]
pub fn app_info(state: State<'_, AppState>) -> AppInfo {
    AppInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        paths: state.paths.clone(),
        log_file: state.paths.log_file(),
        locale: os_locale(|var| std::env::var(var).ok()),
        quarantined: state.quarantined.clone(),
    }
}
