//! `headroom-cli run --model ID --profile NAME [--chain a,b,c] -- COMMAND…`: the launcher on the command line.
//! Exits with the last attempt's status (128 + signal when it was killed), as a shell would.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Args;
use headroom_core::env::doctor::{self, Severity};
use headroom_core::env::profile;
use headroom_core::launch::distributed::without_restarts;
use headroom_core::launch::handover::{driver_gpu_info, LibraryPresets};
use headroom_core::launch::history::{self, NextStep, Outcome, RunRecord};
use headroom_core::launch::predict::ChainPrediction;
use headroom_core::launch::probe::MonitorPeakProbe;
use headroom_core::launch::process::{CancelToken, Stream};
use headroom_core::launch::runner::{self, LaunchEvent, RunRequest};
use headroom_core::launch::start::{self, RunShape};
use headroom_core::launch::steps::BatchSetting;
use headroom_core::launch::tree::PROC_ROOT;
use headroom_core::model::{hf_cache, Resolver};
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
    /// Steps to try in order on CUDA out-of-memory: preset names, and `mb/2` to halve the micro-batch and
    /// double the gradient accumulation (needs --micro-batch). Default: the model's saved chain, else
    /// fp16,int8,int4,int4_double,int4_offload.
    #[arg(long, value_delimiter = ',')]
    chain: Option<Vec<String>>,
    /// Working directory of the command (default: the current one).
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// The estimator's device peak for a preset, PRESET=BYTES, kept beside the measured peak.
    #[arg(long = "predict", value_name = "PRESET=BYTES")]
    predictions: Vec<String>,
    /// The micro-batch the command trains with: handed over as HEADROOM_MICRO_BATCH and `{micro_batch}`, halved
    /// by `mb/2` steps.
    #[arg(long)]
    micro_batch: Option<u64>,
    /// The gradient accumulation the command trains with (default 1 with --micro-batch): HEADROOM_GRAD_ACCUM and
    /// `{grad_accum}`, doubled by `mb/2` steps.
    #[arg(long)]
    grad_accum: Option<u64>,
    /// The sequence length the command trains at. With --micro-batch and the model's saved config, each step of
    /// the chain is estimated and the first attempt starts at the first step that fits one GPU, by the Plan's
    /// rule (HEADROOM_SEQUENCE_LENGTH is handed over too).
    #[arg(long)]
    sequence_length: Option<u64>,
    /// One GPU's memory in GiB for choosing where the chain starts (default: the smallest GPU the driver
    /// reports).
    #[arg(long)]
    gpu_memory_gib: Option<f64>,
    /// Start at the chain's first step whatever the estimate says.
    #[arg(long)]
    pin_start: bool,
    /// The plan the command trains with (docs/contract.md §1; `-` reads stdin): each step of the chain is
    /// estimated with its checkpointing, optimizer, precision, GPUs and sharding instead of the model's saved
    /// config, and the micro-batch, accumulation and sequence length default to the plan's. With --from, its
    /// keys override the configs'.
    #[arg(long, value_name = "FILE")]
    plan: Option<PathBuf>,
    /// The trainer's own config (Axolotl, LLaMA-Factory, TrainingArguments/TRL, torchtune, LitGPT, accelerate,
    /// DeepSpeed; docs/trainers.md), read into the run's plan as `estimate --from` does. Repeat to merge several.
    #[arg(long = "from", value_name = "FILE")]
    from: Vec<PathBuf>,
    /// Where the training writes its checkpoints, when the command does not say with --output_dir: a relaunch
    /// resumes from the newest one (`{resume}`, HEADROOM_RESUME_FROM).
    #[arg(long)]
    output_dir: Option<PathBuf>,
    /// Seconds between SIGTERM and SIGKILL when the run is interrupted (and, in a distributed run, how long
    /// the other ranks get to end after one died of OOM).
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
    let batch = match (args.micro_batch, args.grad_accum) {
        (Some(mb), accum) => Some(BatchSetting::new(mb, accum.unwrap_or(1))?),
        (None, Some(_)) => {
            return Err(Error::invalid(
                "grad_accum",
                "give it with --micro-batch (the micro-batch it accumulates)",
            )
            .into())
        }
        (None, None) => None,
    };
    let chain = args.chain.unwrap_or_else(|| presets.default_chain());
    let gpus = driver_gpu_info(open_source(&SourceSpec::Nvml, ProcFs::default()));
    let gpu_memory_bytes = match args.gpu_memory_gib {
        Some(gib) if gib.is_finite() && gib > 0.0 => Some((gib * f64::from(1u32 << 30)) as u64),
        Some(gib) => {
            return Err(Error::invalid(
                "gpu_memory_gib",
                format!("must be a positive number, got {gib}"),
            )
            .into())
        }
        None => gpus.smallest_memory_bytes,
    };
    let plan = run_plan(
        &args.plan,
        &args.from,
        args.gpu_memory_gib.and(gpu_memory_bytes),
    )?;
    let shape = RunShape {
        model_id: &args.model,
        chain: &chain,
        batch,
        sequence_length: args.sequence_length,
        gpu_memory_bytes,
        pin_start: args.pin_start,
        plan: plan.as_ref(),
    };
    let shape = start::trained_shape(paths, shape)?;
    let (batch, sequence_length) = (shape.batch, shape.sequence_length);
    // A micro-batch alone is only handed over; with a sequence length (or a plan) the chain is estimated.
    let prediction = if sequence_length.is_none() {
        ChainPrediction::default()
    } else {
        start::predict_run(
            paths,
            shape,
            &Resolver {
                hub_cache: hf_cache::hub_cache_dir(|var| std::env::var(var).ok()),
            },
        )?
    };
    let request = RunRequest {
        model: args.model,
        argv: args.command,
        cwd,
        profile,
        base_env,
        chain,
        predicted_peak_bytes: parse_predictions(&args.predictions)?,
        predicted_details: BTreeMap::new(),
        predicted_notes: BTreeMap::new(),
        step_predictions: prediction.steps,
        batch,
        start: prediction.start,
        output_dir: args.output_dir,
        sequence_length,
        kill_grace: Duration::from_secs(args.kill_grace_s),
        gpus: gpus.count,
        log_limit_bytes: runner::ATTEMPT_LOG_LIMIT_BYTES,
        plan: plan.clone(),
    };
    let cancel = CancelToken::new();
    forward_interrupts(cancel.clone());
    let distributed = without_restarts(&request.argv).map(|(_, run)| run);
    let json = args.json;
    let record = runner::run(
        paths,
        &request,
        &presets,
        &mut nvml_probe(),
        &cancel,
        &mut |event| match event {
            LaunchEvent::RunStarted {
                run_id, dir, start, ..
            } => {
                eprintln!("headroom: run {run_id} (logs in {})", dir.display());
                if let Some(start) = start.filter(|s| !s.message.is_empty()) {
                    eprintln!("headroom: {}", start.message);
                }
                if let Some(d) = &distributed {
                    eprintln!(
                        "headroom: distributed launch: {} passed so it does not restart on its own{}",
                        d.max_restarts_arg,
                        d.replaced
                            .as_ref()
                            .map(|r| format!(" (replacing {r})"))
                            .unwrap_or_default()
                    );
                }
            }
            LaunchEvent::AttemptStarted {
                index,
                preset,
                pid,
                expandable_segments,
                micro_batch,
                grad_accum,
                resumed_from,
                ..
            } => eprintln!(
                "headroom: attempt {} with preset {preset}{}{}{} (pid {pid})",
                index + 1,
                match (micro_batch, grad_accum) {
                    (Some(mb), Some(ga)) => format!(", micro-batch {mb} × accumulation {ga}"),
                    _ => String::new(),
                },
                if expandable_segments {
                    " and expandable_segments:True"
                } else {
                    ""
                },
                match resumed_from {
                    Some(point) => format!(
                        ", resumed from {}{}",
                        point.path.display(),
                        point
                            .step
                            .map(|s| format!(" (step {s})"))
                            .unwrap_or_default()
                    ),
                    None => String::new(),
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
                    NextStep::NextPreset {
                        preset,
                        micro_batch: Some(mb),
                        grad_accum: Some(ga),
                    } => format!(
                        "; relaunching with {preset} at micro-batch {mb} × accumulation {ga}"
                    ),
                    NextStep::NextPreset { preset, .. } => format!("; relaunching with {preset}"),
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

/// The run's plan from `--plan` and `--from`, as `estimate` reads them; `--gpu-memory-gib` (given as bytes) sets
/// the plan's GPU memory, keeping its GPU count. `None` without either option.
fn run_plan(
    plan: &Option<PathBuf>,
    from: &[PathBuf],
    gpu_memory_bytes: Option<u64>,
) -> Result<Option<serde_json::Value>, Error> {
    if plan.is_none() && from.is_empty() {
        return Ok(None);
    }
    let text = crate::plan_cmd::read_plan_file(plan.as_deref())?;
    let import = crate::plan_cmd::ImportArgs {
        from: from.to_vec(),
        model: None,
        gpu_model: None,
        gpu_memory_gib: None,
    };
    let (text, _report) = crate::plan_cmd::plan_text(&import, text)?;
    let mut value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::invalid("plan", format!("not valid JSON: {e}")))?;
    if let (Some(bytes), Some(object)) = (gpu_memory_bytes, value.as_object_mut()) {
        let count = object
            .get("gpus")
            .and_then(|g| g.get("count"))
            .cloned()
            .unwrap_or_else(|| 1.into());
        object.insert(
            "gpus".into(),
            serde_json::json!({"count": count, "memory_gib": bytes as f64 / f64::from(1u32 << 30)}),
        );
    }
    Ok(Some(value))
}
