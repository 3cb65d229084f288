//! `headroom-cli`: Headroom's core without a window, for headless GPU servers and scripts.
//!
//! Exit status: 0 success, 1 a failure while doing the work (I/O), 2 invalid input (the message names the
//! field), 3 no NVIDIA driver where one was required.

mod calibration_cmd;
mod configs_cmd;
mod env_cmd;
mod estimate_cmd;
mod models_cmd;
mod monitor_cmd;
mod output;
mod plan_cmd;
mod presets_cmd;
mod run_cmd;
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
    /// Estimate the peak GPU memory of a plan (docs/contract.md §1–2).
    Estimate(estimate_cmd::EstimateArgs),
    /// Plans and trainer configs: import a plan from trainer configs, export one as an accelerate config or a
    /// DeepSpeed JSON (docs/trainers.md).
    #[command(subcommand)]
    Plan(plan_cmd::PlanCommand),
    /// Show or change the app settings (language, theme).
    #[command(subcommand)]
    Settings(settings_cmd::SettingsCommand),
    /// This machine's CUDA context and allocator slack, calibrated from measured runs: show, or reset.
    #[command(subcommand)]
    Calibration(calibration_cmd::CalibrationCommand),
    /// Environment profiles and the environment doctor.
    #[command(subcommand)]
    Env(env_cmd::EnvCommand),
    /// Run a training command, relaunching with the next preset of the chain on CUDA out-of-memory.
    Run(run_cmd::RunArgs),
    /// Quantization presets: list, show, export for transformers, import, duplicate, delete.
    #[command(subcommand)]
    Presets(presets_cmd::PresetsCommand),
    /// Per-model configs: the chosen preset, task, LoRA and the launcher's fallback chain.
    #[command(subcommand)]
    Configs(configs_cmd::ConfigsCommand),
    /// Watch GPU memory: one snapshot, a live view, a recording, or an export of a recording.
    Monitor(Box<monitor_cmd::MonitorArgs>),
    /// List the models in the Hugging Face cache, or show one model's parameters and architecture.
    #[command(subcommand)]
    Models(models_cmd::ModelsCommand),
}

fn main() -> ExitCode {
    restore_default_sigpipe();
    let cli = Cli::parse();
    let result = AppPaths::from_env(|var| std::env::var(var).ok())
        .map_err(output::Failure::from)
        .and_then(|paths| match cli.command {
            Command::Paths { json } => output::paths(&paths, json),
            Command::Settings(cmd) => settings_cmd::run(&paths, cmd),
            Command::Calibration(cmd) => calibration_cmd::run(&paths, cmd),
            Command::Env(cmd) => env_cmd::run(&paths, cmd),
            Command::Run(args) => run_cmd::run(&paths, args),
            Command::Presets(cmd) => presets_cmd::run(&paths, cmd),
            Command::Configs(cmd) => configs_cmd::run(&paths, cmd),
            Command::Monitor(args) => monitor_cmd::run(&paths, *args),
            Command::Models(cmd) => models_cmd::run(cmd),
            Command::Estimate(args) => estimate_cmd::run(&paths, args),
            Command::Plan(cmd) => plan_cmd::run(&paths, cmd),
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("headroom-cli: {failure}");
            ExitCode::from(failure.exit_status())
        }
    }
}

/// Rust ignores SIGPIPE, so `headroom-cli … | head` would panic on the first write after `head` exits. A
/// command-line tool should end quietly instead, as every Unix filter does.
fn restore_default_sigpipe() {
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is a valid handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
