//! `headroom-cli calibration show|reset`: this machine's CUDA context and allocator slack, fitted from the runs
//! the launcher measured (docs/estimator.md §10.5), which `estimate` uses unless given `--no-machine-calibration`.

use clap::Subcommand;
use headroom_core::estimate::calibration::{CalibrationFit, TaskCalibration};
use headroom_core::launch::calibration::{self, CalibrationStatus};
use headroom_core::monitor::Timestamp;
use headroom_core::paths::AppPaths;

use crate::output::{print_json, CliResult};

#[derive(Subcommand)]
pub enum CalibrationCommand {
    /// Print the calibration in force and how many runs it rests on.
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Set aside the runs so far (their records stay): estimates use the defaults until new runs calibrate again.
    Reset {
        #[arg(long)]
        json: bool,
    },
}

pub fn run(paths: &AppPaths, command: CalibrationCommand) -> CliResult {
    let (status, json) = match command {
        CalibrationCommand::Show { json } => (calibration::status(paths)?, json),
        CalibrationCommand::Reset { json } => {
            (calibration::reset(paths, Timestamp::now().millis())?, json)
        }
    };
    if let Some(why) = &status.unreadable {
        eprintln!(
            "headroom-cli: {} could not be read ({why}); no reset applies until the next one",
            calibration::state_file(paths).display()
        );
    }
    if json {
        return print_json(&status);
    }
    print_status(&status);
    Ok(())
}

fn print_status(status: &CalibrationStatus) {
    for (name, task, runs) in [
        ("training", &status.calibration.train, status.train_runs),
        ("inference", &status.calibration.infer, status.infer_runs),
    ] {
        match task {
            Some(cal) => {
                println!("{name:<10} {}", describe(cal));
                if name == "training" {
                    println!("{:<10} {}", "", describe_lengths(cal, status.min_runs));
                }
            }
            None => println!(
                "{name:<10} not calibrated: {runs} of {} measured runs (defaults in use)",
                status.min_runs
            ),
        }
    }
    if let Some(reset) = status.reset_unix_ms {
        println!("runs started before {} are ignored (reset)", iso(reset));
    }
}

fn describe(cal: &TaskCalibration) -> String {
    format!(
        "CUDA context {} MiB, allocator slack {} ({}), from {} runs {} to {}",
        cal.cuda_context_bytes >> 20,
        cal.slack_percent_text(),
        match cal.fit {
            CalibrationFit::Regression => "both fitted",
            CalibrationFit::DefaultContext => "default context",
        },
        cal.runs,
        iso(cal.first_run_unix_ms),
        iso(cal.last_run_unix_ms)
    )
}

/// What this machine's runs with batches of changing length taught the band (docs/estimator.md §10.5).
fn describe_lengths(cal: &TaskCalibration, min_runs: u32) -> String {
    match cal.lengths_share_permille {
        Some(share) => format!(
            "changing lengths: the {} runs that left their lengths open needed at most {} of the band's allowance",
            cal.lengths_runs,
            TaskCalibration::share_text(share)
        ),
        None => format!(
            "changing lengths: {} of {min_runs} runs that left their lengths open (the band allows what the allocator model strands)",
            cal.lengths_runs
        ),
    }
}

/// A UTC time as RFC 3339, to the second.
fn iso(unix_ms: u64) -> String {
    Timestamp(unix_ms - unix_ms % 1000).to_string()
}
