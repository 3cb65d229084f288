//! Printing results and mapping failures to exit statuses.

use headroom_core::paths::AppPaths;
use headroom_core::Error;

/// Why a command failed, carrying the exit status the contract gives it.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Core(#[from] Error),
    #[error("{0}")]
    Output(#[from] serde_json::Error),
}

impl Failure {
    pub fn exit_status(&self) -> u8 {
        match self {
            // Bad input, an unsupported model type or plan included; a trace that cannot run is a 1.
            Failure::Core(Error::Invalid { .. }) => 2,
            Failure::Core(Error::NoDriver { .. }) => 3,
            Failure::Core(_) | Failure::Output(_) => 1,
        }
    }
}

pub type CliResult = Result<(), Failure>;

pub fn print_json(value: &impl serde::Serialize) -> CliResult {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub fn paths(paths: &AppPaths, json: bool) -> CliResult {
    if json {
        return print_json(paths);
    }
    println!("settings and presets  {}", paths.config_dir.display());
    println!("recordings and runs   {}", paths.data_dir.display());
    println!("logs                  {}", paths.log_dir.display());
    Ok(())
}
