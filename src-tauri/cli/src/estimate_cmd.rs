//! `headroom-cli estimate --plan FILE [--json] [--engine analytic|trace]` (docs/contract.md §1–2): read a plan,
//! resolve its model, print the estimate (with this machine's calibration, when its runs made one). With
//! `--from FILE` (repeated) the plan comes from trainer configs (docs/trainers.md); a `--plan` file and the
//! `--model`/`--gpu-*` flags then override what the configs say. Invalid input
//! exits 2 with one stderr line naming the key and nothing on stdout; a trace that cannot run (no Python, no torch
//! or too old, past its time limit, crashed) exits 1.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use headroom_core::estimate::calibration::MachineCalibration;
use headroom_core::estimate::{self, available_presets, Estimate};
use headroom_core::launch::calibration;
use headroom_core::model::{self, hf_cache, Resolver};
use headroom_core::paths::AppPaths;
use headroom_core::presets::library::PresetLibrary;
use headroom_core::settings;
use headroom_core::trace::request::Steps;
use headroom_core::trace::{self, CancelToken, TraceProgress, TraceSetup};
use headroom_core::Error;

use crate::output::{print_json, CliResult};

/// Which engine answers.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineArg {
    /// The formulas: instant.
    Analytic,
    /// The model's real code on fake tensors in your Python (torch >= 2.4, transformers, peft): seconds to
    /// minutes, single GPU plans only.
    Trace,
}

#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("source").required(true).multiple(true).args(["plan", "from"]))]
pub struct EstimateArgs {
    /// The plan (docs/contract.md §1); `-` reads it from stdin. With --from, its keys override the configs'.
    #[arg(long)]
    plan: Option<PathBuf>,
    #[command(flatten)]
    import: crate::plan_cmd::ImportArgs,
    /// Print the estimate as JSON (docs/contract.md §2) instead of a table.
    #[arg(long)]
    json: bool,
    /// The engine; the default comes from HEADROOM_ENGINE, else analytic.
    #[arg(long, value_enum)]
    engine: Option<EngineArg>,
    /// The Python the trace runs (default: Settings' python_path, else the first python3/python on PATH that
    /// imports torch).
    #[arg(long, value_name = "PATH")]
    python: Option<PathBuf>,
    /// Stop a trace that runs longer than this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = trace::DEFAULT_TIME_LIMIT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    trace_time_limit: u64,
    /// Print the trace's progress on stderr even when stderr is not a terminal.
    #[arg(long)]
    progress: bool,
    /// Trace one training step per length (e.g. 512,2048,1024, a dataset's lengths): the reserved peak then shows
    /// the allocator's fragmentation under variable-length batches. Trace engine only.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    sequence_lengths: Vec<u64>,
    /// Replay the allocations as PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True would. Trace engine only.
    #[arg(long)]
    expandable_segments: bool,
    /// Print the request the trace engine would send its Python package (protocol 1 JSON, python/README.md) and
    /// stop, without starting Python: run it by hand with `python -m headroom_trace < request.json`. Trace
    /// engine only.
    #[arg(long)]
    trace_request: bool,
    /// Use the documented CUDA context and allocator slack even when this machine's runs have calibrated them
    /// (docs/estimator.md §10.5; `headroom-cli calibration show`).
    #[arg(long)]
    no_machine_calibration: bool,
}

/// Read the plan, resolve its model through model discovery (catalog, then the local Hugging Face cache, a
/// folder, or a raw config), and estimate it against the built-in and the user's presets.
pub fn run(paths: &AppPaths, args: EstimateArgs) -> CliResult {
    let plan_text = crate::plan_cmd::read_plan_file(args.plan.as_deref())?;
    let (text, report) = crate::plan_cmd::plan_text(&args.import, plan_text)?;
    // A plan that does not say which figure decides "fits" follows the settings (docs/contract.md §1 fit_on).
    let text = with_settings_fit_on(paths, text)?;
    let library = PresetLibrary::new(paths);
    let resolver = Resolver {
        hub_cache: hf_cache::hub_cache_dir(|var| std::env::var(var).ok()),
    };
    let engine = match args.engine {
        Some(engine) => engine,
        None => engine_from_env(std::env::var("HEADROOM_ENGINE").ok().as_deref())?,
    };
    let est = match engine {
        EngineArg::Analytic => {
            for (given, flag) in [
                (!args.sequence_lengths.is_empty(), "sequence_lengths"),
                (args.expandable_segments, "expandable_segments"),
                (args.trace_request, "trace_request"),
            ] {
                if given {
                    return Err(Error::invalid(
                        flag,
                        "applies to the trace engine only (add --engine trace)",
                    )
                    .into());
                }
            }
            let presets = available_presets(&library)?;
            let machine = if args.no_machine_calibration {
                MachineCalibration::default()
            } else {
                calibration::load(paths)?
            };
            estimate::estimate_plan(&text, &presets, &machine, |m| model::resolve(m, &resolver))?
        }
        EngineArg::Trace if args.trace_request => {
            return print_json(&trace_request(paths, &args, &text, &library, &resolver)?);
        }
        EngineArg::Trace => run_trace(paths, &args, &text, &library, &resolver)?,
    };
    let est = Estimate {
        import: report,
        ..est
    };
    if args.json {
        return print_json(&est);
    }
    print_table(&est);
    if let Some(report) = &est.import {
        crate::plan_cmd::print_report(report);
    }
    Ok(())
}

/// The plan text with the settings' `fit_on` added when the plan has none; text that is not a JSON object is
/// passed on unchanged for the parser to refuse with its own message.
fn with_settings_fit_on(paths: &AppPaths, text: String) -> Result<String, Error> {
    let Ok(mut value) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Ok(text);
    };
    if !value.is_object() || value.get("fit_on").is_some() {
        return Ok(text);
    }
    let loaded = settings::load(&paths.settings_file())?;
    loaded.settings.apply_fit_on(&mut value);
    Ok(value.to_string())
}

/// HEADROOM_ENGINE as the default engine: unset or empty is analytic.
fn engine_from_env(value: Option<&str>) -> Result<EngineArg, Error> {
    match value.map(str::trim) {
        None | Some("") | Some("analytic") => Ok(EngineArg::Analytic),
        Some("trace") => Ok(EngineArg::Trace),
        Some(other) => Err(Error::invalid(
            "HEADROOM_ENGINE",
            format!("{other:?} is not an engine (analytic or trace)"),
        )),
    }
}

/// The Python (the flag's, else Settings'), the environment and the package cache a trace uses.
fn trace_setup(
    paths: &AppPaths,
    args: &EstimateArgs,
) -> Result<(Option<PathBuf>, headroom_core::env::EnvMap, PathBuf), Error> {
    let python = match &args.python {
        Some(p) => Some(p.clone()),
        None => settings::load(&paths.settings_file())?
            .settings
            .python_path
            .map(PathBuf::from),
    };
    Ok((
        python,
        crate::env_cmd::current_env(),
        trace::trace_cache_dir(&paths.data_dir),
    ))
}

/// Parse the plan, build the trace's setup from the flags and the settings, and hand both to `then`.
fn with_trace_setup<T>(
    paths: &AppPaths,
    args: &EstimateArgs,
    text: &str,
    library: &PresetLibrary,
    resolver: &Resolver,
    then: impl FnOnce(&serde_json::Value, &TraceSetup<'_>) -> Result<T, Error>,
) -> Result<T, Error> {
    let plan: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Error::invalid("plan", format!("not valid JSON: {e}")))?;
    let (python, env, cache_dir) = trace_setup(paths, args)?;
    then(
        &plan,
        &TraceSetup {
            python: python.as_deref(),
            env: &env,
            cache_dir: &cache_dir,
            presets: library,
            resolver,
            time_limit: Duration::from_secs(args.trace_time_limit),
            steps: Steps {
                sequence_lengths: args.sequence_lengths.clone(),
                expandable_segments: args.expandable_segments,
            },
        },
    )
}

fn trace_request(
    paths: &AppPaths,
    args: &EstimateArgs,
    text: &str,
    library: &PresetLibrary,
    resolver: &Resolver,
) -> Result<serde_json::Value, Error> {
    with_trace_setup(paths, args, text, library, resolver, |plan, setup| {
        Ok(trace::prepare(plan, setup)?.request)
    })
}

fn run_trace(
    paths: &AppPaths,
    args: &EstimateArgs,
    text: &str,
    library: &PresetLibrary,
    resolver: &Resolver,
) -> Result<Estimate, Error> {
    let cancel = CancelToken::new();
    crate::run_cmd::forward_interrupts(cancel.clone());
    let show = args.progress || std::io::stderr().is_terminal();
    let mut on_progress = |p: TraceProgress| {
        if show {
            eprintln!(
                "trace: {:>3.0}% {}{}",
                p.fraction * 100.0,
                serde_json::to_value(p.stage)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                if p.message.is_empty() {
                    String::new()
                } else {
                    format!(": {}", p.message)
                }
            );
        }
    };
    with_trace_setup(paths, args, text, library, resolver, |plan, setup| {
        Ok(trace::trace_plan(plan, setup, &cancel, &mut on_progress)?.estimate)
    })
}

fn gib(bytes: u64) -> String {
    format!("{:>9.2} GiB", bytes as f64 / (1u64 << 30) as f64)
}

fn print_table(est: &Estimate) {
    let g = &est.per_gpu;
    let c = &g.components;
    println!("Peak memory per GPU (GiB = 2^30 bytes)");
    for (name, bytes) in [
        ("weights", c.weights),
        ("lora", c.lora),
        ("gradients", c.gradients),
        ("optimizer", c.optimizer),
        ("activations", c.activations),
        ("logits", c.logits),
        ("kv cache", c.kv_cache),
        ("workspace", c.workspace),
    ] {
        println!("  {name:<22}{}", gib(bytes));
    }
    println!("  {:<22}{}", "allocated", gib(g.allocated_peak_bytes));
    println!(
        "  {:<22}{}",
        "+ allocator overhead",
        gib(g.allocator_overhead_bytes)
    );
    println!("  {:<22}{}", "reserved", gib(g.reserved_peak_bytes));
    println!(
        "  {:<22}{}",
        "+ managed (paged)",
        gib(g.managed_memory_bytes)
    );
    println!("  {:<22}{}", "+ CUDA context", gib(g.cuda_context_bytes));
    println!(
        "  {:<22}{}",
        "device (nvidia-smi)",
        gib(g.device_peak_bytes)
    );
    println!("CPU RAM                 {}", gib(est.cpu_bytes));
    println!(
        "Parameters              {} total, {} trainable",
        est.parameters.total, est.parameters.trainable
    );
    if let Some(peak) = &est.peak {
        println!(
            "Peak during             {}{}",
            peak.phase.as_str(),
            peak.module
                .as_deref()
                .map(|m| format!(" in {m}"))
                .unwrap_or_default()
        );
    }
    if let Some(t) = &est.trace {
        println!(
            "Traced                  {} of {} layers in {:.1} s",
            t.layers.traced, t.layers.total, t.elapsed_s
        );
    }
    if let (Some(fits), Some(headroom)) = (est.fits, est.headroom_bytes) {
        let abs = gib(headroom.unsigned_abs());
        if fits {
            println!("Fits, with {} to spare beyond the margin", abs.trim());
        } else {
            println!("Does NOT fit: {} short", abs.trim());
        }
    }
    println!("Assumptions:");
    for note in &est.notes {
        println!("  - {note}");
    }
}
