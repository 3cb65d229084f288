//! What the shell keeps between commands. Each domain keeps its own lock, so a slow save in one never blocks
//! another.

use std::sync::{Mutex, OnceLock};

use headroom_core::monitor::nvml::SharedNvml;
use headroom_core::paths::AppPaths;

use headroom_core::launch::active::ActiveRuns;
use headroom_core::settings::{self, LoadedSettings, Settings};
use headroom_core::store::Quarantine;

pub struct AppState {
    pub paths: AppPaths,
    pub settings: Mutex<Settings>,
    /// Presets and per-model configs: one writer at a time in this process (other processes are caught by the
    /// store's revision check).
    pub presets: Mutex<()>,
    /// Files moved aside at start-up, shown to the user once the window is up.
    pub quarantined: Vec<Quarantine>,
    /// Runs going on now, with what cancels each (its own lock, shared with the launcher threads).
    pub runs: ActiveRuns,
    /// The running monitor source, if any (the Monitor view starts it).
    pub monitor: Mutex<Option<headroom_core::monitor::session::Running>>,
    /// The app's one NVML handle, loaded on first use by the Monitor, a run's peak probe or the Plan view.
    pub nvml: SharedNvml,
    /// What cancels the Plan view's trace, while one runs.
    pub trace: crate::commands::trace::ActiveTrace,
    /// The opt-in `/metrics` exporter (Settings › exporter address), serving the Monitor's readings.
    pub exporter: Mutex<Option<headroom_core::monitor::exporter::Exporter>>,
    /// This machine's calibration, read again only when a run record or the calibration file changed: the Plan
    /// view and the wizard ask for it on every keystroke.
    pub calibration: headroom_core::launch::calibration::StatusCache,
    /// This machine's GPUs for the Plan view, read once on first use, or why they could not be read.
    pub plan_machine_gpus: OnceLock<(
        Vec<headroom_core::estimate::gpus::MachineGpu>,
        Option<String>,
    )>,
}

impl AppState {
    /// Read what is on disk. A file that cannot be read never stops the app: it is moved aside and reported.
    pub fn load(paths: AppPaths) -> Self {
        let LoadedSettings {
            settings,
            quarantined,
        } = match settings::load(&paths.settings_file()) {
            Ok(loaded) => loaded,
            Err(e) => {
                tracing::error!(error = %e, "settings could not be read; using defaults");
                LoadedSettings {
                    settings: Settings::default(),
                    quarantined: None,
                }
            }
        };
        let exporter = match crate::commands::settings::start_exporter(
            settings.exporter_address.as_deref(),
        ) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = ?e, "the exporter could not start; the Monitor goes on without it");
                None
            }
        };
        AppState {
            exporter: Mutex::new(exporter),
            paths,
            settings: Mutex::new(settings),
            presets: Mutex::new(()),
            quarantined: quarantined.into_iter().collect(),
            runs: ActiveRuns::default(),
            monitor: Mutex::new(None),
            nvml: SharedNvml::default(),
            trace: Default::default(),
            calibration: Default::default(),
            plan_machine_gpus: OnceLock::new(),
        }
    }
}
