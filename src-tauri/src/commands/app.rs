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

/// The POSIX precedence for message language. `C` and `POSIX` say nothing about language.
pub fn os_locale(env: impl Fn(&str) -> Option<String>) -> Option<String> {
    ["LC_ALL", "LC_MESSAGES", "LANG"]
        .into_iter()
        .filter_map(env)
        .find(|v| !v.is_empty())
        .filter(|v| !matches!(v.as_str(), "C" | "POSIX") && !v.starts_with("C."))
}

#[cfg(test)]
mod tests {
    use super::os_locale;

    #[test]
    fn lc_all_wins_and_c_means_unknown() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |var: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == var)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            os_locale(env(&[("LANG", "en_US.UTF-8"), ("LC_ALL", "ja_JP.UTF-8")])).as_deref(),
            Some("ja_JP.UTF-8")
        );
        assert_eq!(
            os_locale(env(&[("LANG", "de_DE.UTF-8")])).as_deref(),
            Some("de_DE.UTF-8")
        );
        assert_eq!(os_locale(env(&[("LANG", "C.UTF-8")])), None);
        assert_eq!(os_locale(env(&[])), None);
    }
}
