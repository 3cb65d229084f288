//! `headroom-cli`: Headroom's core without a window, for headless GPU servers and scripts.
//!
//! Exit status: 0 success, 1 a failure while doing the work (I/O), 2 invalid input (the message names the
//! field), 3 no NVIDIA driver where one was required.

mod estimate_cmd;
mod output;
mod settings_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use headroom_core::paths::AppPaths;

#[derive(Parser)]
#[command(
    name = "headroom-cli",
    version,
    about = "Plan, fit and watch GPU memory for LLM fine-tuning"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show where Headroom keeps its settings, data and logs.
    Paths {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Estimate the peak GPU memory of a plan (CONTRACTS.md §1–2).
    Estimate(estimate_cmd::EstimateArgs),
    /// Show or change the app settings (language, theme).
    #[command(subcommand)]
    Settings(settings_cmd::SettingsCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = AppPaths::from_env(|var| std::env::var(var).ok())
        .map_err(output::Failure::from)
        .and_then(|paths| match cli.command {
            Command::Paths { json } => output::paths(&paths, json),
            Command::Settings(cmd) => settings_cmd::run(&paths, cmd),
            Command::Estimate(args) => estimate_cmd::run(args),
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("headroom-cli: {failure}");
            ExitCode::from(failure.exit_status())
        }
    }
}
