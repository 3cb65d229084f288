//! `headroom-cli run --model ID --profile NAME [--chain a,b,c] -- COMMAND…`: the launcher on the command line.
//! Exits with the last attempt's status (128 + signal when it was killed), as a shell would.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Args;
use headroom_core::env::doctor::{self, Severity};
use headroom_core::env::profile;
use headroom_core::launch::handover::{driver_gpus, LibraryPresets};
use headroom_core::launch::history::{self, NextStep, Outcome, RunRecord};
use headroom_core::launch::probe::MonitorPeakProbe;
use headroom_core::launch::process::{CancelToken, Stream};
use headroom_core::launch::runner::{self, LaunchEvent, RunRequest};
use headroom_core::launch::start;
use headroom_core::launch::tree::PROC_ROOT;
use headroom_core::monitor::procs::ProcFs;
use headroom_core::monitor::{open_source, SourceSpec};
use headroom_core::paths::AppPaths;
use headroom_core::Error;

use crate::env_cmd::current_env;
use crate::output::{print_json, CliResult};

#[derive(Args)]
pub struct RunArgs {
    /// The model being trained (recorded with the run).
    #[arg(long)]
    model: String,
    /// The environment profile to run under.
    #[arg(long, default_value = "production")]
    profile: String,
    /// Presets to try in order on CUDA out-of-memory (default: the model's saved chain, else
    /// fp16,int8,int4,int4_double,int4_offload).
    #[arg(long, value_delimiter = ',')]
    chain: Option<Vec<String>>,
    /// Working directory of the command (default: the current one).
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// The estimator's device peak for a preset, PRESET=BYTES, kept beside the measured peak.
    #[arg(long = "predict", value_name = "PRESET=BYTES")]
    predictions: Vec<String>,
    /// Seconds between SIGTERM and SIGKILL when the run is interrupted.
    #[arg(long, default_value_t = 10)]
    kill_grace_s: u64,
    /// Print the run record as JSON on stdout at the end; the command's own output then goes to stderr.
    #[arg(long)]
    json: bool,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

/// Set from the signal handler; only an atomic store is async-signal-safe.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// The child leads its own process group, so Ctrl-C in the terminal reaches only us: pass it on as a
/// cancel, which stops the whole tree, instead of dying and leaving the training running.
pub(crate) fn forward_interrupts(cancel: CancelToken) {
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGHUP, on_signal as *const () as libc::sighandler_t);
    }
    std::thread::spawn(move || loop {
        if INTERRUPTED.load(Ordering::SeqCst) {
            cancel.cancel();
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    });
}

fn parse_predictions(items: &[String]) -> Result<BTreeMap<String, u64>, Error> {
    items
        .iter()
        .map(|item| {
            let (preset, bytes) = item.split_once('=').ok_or_else(|| {
                Error::invalid("predict", format!("{item:?} is not PRESET=BYTES"))
            })?;
            let bytes = bytes.parse::<u64>().map_err(|_| {
                Error::invalid(
                    "predict",
                    format!("{bytes:?} is not a whole number of bytes"),
                )
            })?;
            Ok((preset.to_string(), bytes))
        })
        .collect()
}

fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / f64::from(1u32 << 30))
}

/// Say which earlier runs lost their launcher (this CLI killed, a crash) and whether their training still runs.
fn report_interrupted(paths: &AppPaths) {
    let now = headroom_core::monitor::Timestamp::now().millis();
    match history::recover_interrupted(paths, std::path::Path::new(PROC_ROOT), now) {
        Ok(marked) => {
            for record in marked {
                eprintln!("headroom: {}", interrupted_message(&record));
            }
        }
        Err(e) => eprintln!("headroom: warning: could not check earlier runs: {e}"),
    }
}

fn interrupted_message(record: &RunRecord) -> String {
    let process = match record.interruption.and_then(|i| i.process.zip(i.process_alive)) {
        Some((p, true)) => format!(
            "; its process {} is still running, without a launcher (no OOM fallback, no cancel): stop it with `kill {}` if it should not",
            p.pid, p.pid
        ),
        Some((p, false)) => format!("; its process {} is no longer running", p.pid),
        None => String::new(),
    };
    format!(
        "run {} was interrupted (its launcher stopped before the run ended){process}",
        record.run_id
    )
}

pub fn run(paths: &AppPaths, args: RunArgs) -> CliResult {
    report_interrupted(paths);
    let cwd = match args.cwd {
        Some(cwd) => cwd,
        None => std::env::current_dir().map_err(|e| Error::io(".", e))?,
    };
    let profile = profile::load_profile(paths, &args.profile)?;
    let base_env = current_env();
    // What the doctor thinks of the environment the command will get; said, not enforced: the user chose it.
    for finding in doctor::diagnose(&profile.apply(&base_env), Some(&profile)).findings {
        let severity = match finding.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => continue,
        };
        eprintln!("headroom: {severity}: {}", finding.message);
    }
    // The model's saved config (its preset with overrides, its chain) when there is one.
    let presets = LibraryPresets::for_model(paths, &args.model)?;
    let request = RunRequest {
        model: args.model,
        argv: args.command,
        cwd,
        profile,
        base_env,
        chain: args.chain.unwrap_or_else(|| presets.default_chain()),
        predicted_peak_bytes: parse_predictions(&args.predictions)?,
        predicted_details: BTreeMap::new(),
        predicted_notes: BTreeMap::new(),
        kill_grace: Duration::from_secs(args.kill_grace_s),
        gpus: driver_gpus(open_source(&SourceSpec::Nvml, ProcFs::default())),
        log_limit_bytes: runner::ATTEMPT_LOG_LIMIT_BYTES,
    };
    let cancel = CancelToken::new();
    forward_interrupts(cancel.clone());
    let json = args.json;
    let record = runner::run(
        paths,
        &request,
        &presets,
        &mut nvml_probe(),
        &cancel,
        &mut |event| match event {
            LaunchEvent::RunStarted { run_id, dir } => {
                eprintln!("headroom: run {run_id} (logs in {})", dir.display())
            }
            LaunchEvent::AttemptStarted {
                index,
                preset,
                pid,
                expandable_segments,
                ..
            } => eprintln!(
                "headroom: attempt {} with preset {preset}{} (pid {pid})",
                index + 1,
                if expandable_segments {
                    " and expandable_segments:True"
                } else {
                    ""
                }
            ),
            LaunchEvent::Output { stream, line, .. } => match stream {
                Stream::Stdout if !json => println!("{line}"),
                _ => eprintln!("{line}"),
            },
            LaunchEvent::AttemptFinished { attempt } => {
                let what = match &attempt.oom {
                    Some(oom) => format!(
                        "died of CUDA out of memory{}",
                        oom.requested_bytes
                            .map(|b| format!(" (tried to allocate {})", gib(b)))
                            .unwrap_or_default()
                    ),
                    None if attempt.cancelled => "was cancelled".to_string(),
                    None => format!("exited with status {}", attempt.exit.shell_status()),
                };
                let next = match &attempt.next {
                    NextStep::Stop => String::new(),
                    NextStep::RetryWithExpandableSegments => {
                        "; fragmentation: retrying with expandable_segments:True".into()
                    }
                    NextStep::NextPreset { preset } => format!("; relaunching with {preset}"),
                };
                eprintln!("headroom: attempt {} {what}{next}", attempt.index + 1);
            }
        },
    )?;
    let outcome = match record.outcome {
        Some(Outcome::Succeeded) => "succeeded",
        Some(Outcome::Failed) => "failed (not out of memory: not relaunched)",
        Some(Outcome::ChainExhausted) => "ran out of memory with every preset of the chain",
        Some(Outcome::Cancelled) => "was cancelled",
        Some(Outcome::Interrupted) | None => "ended",
    };
    eprintln!("headroom: run {} {outcome}", record.run_id);
    if json {
        print_json(&record)?;
    }
    let status = record.last_status().unwrap_or(1);
    std::process::exit(u8::try_from(status).map(i32::from).unwrap_or(1));
}

/// Each attempt's peak GPU memory, from NVML every 500 ms (none without a driver: the peak stays unknown).
fn nvml_probe() -> MonitorPeakProbe {
    start::peak_probe(std::sync::Arc::new(|| {
        open_source(&SourceSpec::Nvml, ProcFs::default())
    }))
}
