//! `headroom-cli monitor`: one snapshot (`--once [--json]`, docs/contract.md §4), a live view, a recording
//! (`--record FILE --interval 1s --duration 10m`), and `monitor export RECORDING --csv/--png/--svg FILE`.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use headroom_core::i18n::Lang;
use headroom_core::launch::advice::EstimateAdvisor;
use headroom_core::model::{hf_cache, Resolver};
use headroom_core::monitor::alerts::{Action, Level};
use headroom_core::monitor::chart::{self, ChartFormat, ChartLanguage, ChartOptions};
use headroom_core::monitor::exporter::{self, Exporter, ExporterConfig};
use headroom_core::monitor::fake::FakeConfig;
use headroom_core::monitor::history::MAX_HISTORY_GPUS;
use headroom_core::monitor::metrics::{self, RenderOptions};
use headroom_core::monitor::procs::{self, ProcFs};
use headroom_core::monitor::record::{self, Header, Recorder};
use headroom_core::monitor::remote::{read_secret, SecretInputs, EXPORTER_TOKEN_ENV};
use headroom_core::monitor::sampler::{self, Message, SamplerConfig};
use headroom_core::monitor::source::SampleRequest;
use headroom_core::monitor::{open_source, GpuStatus, Snapshot, SourceSpec, Timestamp, GIB};
use headroom_core::paths::AppPaths;
use headroom_core::settings;
use headroom_core::Error;

use crate::output::{print_json, CliResult};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct MonitorArgs {
    #[command(subcommand)]
    command: Option<MonitorCommand>,
    /// Take one snapshot and exit.
    #[arg(long)]
    once: bool,
    /// Print JSON instead of text: with --once the snapshot of docs/contract.md §4; live, one
    /// {"snapshot", "assessment"} object per line.
    #[arg(long)]
    json: bool,
    /// nvml, fake:SCENARIO (idle, training, leak, oom, lost: a demo), replay:FILE, or another host's metrics:
    /// prometheus:URL (a Prometheus server: every host it scrapes), dcgm:URL[,URL…] (DCGM-exporter),
    /// headroom:URL[,URL…] (another headroom-cli monitor --serve).
    #[arg(long, default_value = "nvml")]
    source: String,
    /// A bearer token for a remote source, read from this file (else from HEADROOM_SOURCE_TOKEN).
    #[arg(long, value_name = "FILE")]
    source_token_file: Option<PathBuf>,
    /// The password of a remote source's URL user (http://USER@host), read from this file (else from
    /// HEADROOM_SOURCE_PASSWORD).
    #[arg(long, value_name = "FILE")]
    source_password_file: Option<PathBuf>,
    /// For an https:// source: the PEM file of the CA certificates to trust instead of the public roots (else
    /// HEADROOM_SOURCE_CA_FILE).
    #[arg(long, value_name = "FILE")]
    source_ca_file: Option<PathBuf>,
    /// Serve the readings at http://ADDR/metrics for Prometheus (127.0.0.1:9464 when no ADDR is given; another
    /// address must be named, as in 0.0.0.0:9464). The live text view is not printed while serving.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:9464", conflicts_with = "once")]
    serve: Option<String>,
    /// Require this bearer token (read from the file, else from HEADROOM_EXPORTER_TOKEN) on every scrape.
    #[arg(long, value_name = "FILE", requires = "serve")]
    token_file: Option<PathBuf>,
    /// Also export each process's GPU memory (one series per PID: many series on a busy host).
    #[arg(long, requires = "serve")]
    serve_processes: bool,
    /// Record the session to this JSON Lines file.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// Memory sampling interval, 100ms to 10s.
    #[arg(long, default_value = "1s")]
    interval: String,
    /// Stop after this long (e.g. 30s, 10m, 2h); without it, run until interrupted or the replay ends.
    #[arg(long)]
    duration: Option<String>,
    /// GPUs of a fake source.
    #[arg(long, default_value_t = 1)]
    gpus: u32,
    /// Processes of a fake source.
    #[arg(long, default_value_t = 1)]
    processes: u32,
    /// Seed of a fake source: the same seed gives the same readings.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Subcommand)]
enum MonitorCommand {
    /// Export a recording as CSV, PNG or SVG (one or more at once).
    Export {
        /// A recording made with --record.
        recording: PathBuf,
        #[arg(long, value_name = "FILE")]
        csv: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        png: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
        /// Chart width in pixels.
        #[arg(long, default_value_t = 1200)]
        width: u32,
        /// Chart height in pixels.
        #[arg(long, default_value_t = 600)]
        height: u32,
        /// The language of the chart's words (default: Settings › Language; `auto` there follows the OS
        /// locale). Japanese needs a CJK font (fonts-noto-cjk); without one the words are English, with a warning.
        #[arg(long, value_enum)]
        lang: Option<ChartLang>,
    },
    /// List processes holding GPU memory and how long each has been idle, from a short watch.
    Processes {
        /// How long to watch before answering: idle times are lower bounds, at most this long.
        #[arg(long, default_value = "10s")]
        watch: String,
        /// Memory sampling interval while watching.
        #[arg(long, default_value = "1s")]
        interval: String,
        #[arg(long, default_value = "nvml")]
        source: String,
        #[arg(long)]
        json: bool,
    },
    /// Stop one of your processes that holds GPU memory: SIGTERM, then SIGKILL after the grace period.
    Stop {
        pid: u32,
        /// How long to wait after SIGTERM before SIGKILL.
        #[arg(long, default_value = "10s")]
        grace: String,
        /// Confirm: without it, only say what would be stopped.
        #[arg(long)]
        yes: bool,
        /// Where to read how much memory the process holds (nvml, fake:SCENARIO, replay:FILE).
        #[arg(long, default_value = "nvml")]
        source: String,
    },
}

/// Parses `100ms`, `1s`, `10m`, `2h`.
pub fn parse_duration(field: &str, text: &str) -> Result<Duration, Error> {
    let bad = || {
        Error::invalid(
            field,
            format!("`{text}` is not a duration like 500ms, 1s, 10m or 2h"),
        )
    };
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (num, unit) = text.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let ms = match unit {
        "ms" => Some(n),
        "s" => n.checked_mul(1000),
        "m" | "min" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => None,
    }
    .ok_or_else(bad)?;
    Ok(Duration::from_millis(ms))
}

pub fn run(paths: &AppPaths, args: MonitorArgs) -> CliResult {
    if let Some(MonitorCommand::Export {
        recording,
        csv,
        png,
        svg,
        width,
        height,
        lang,
    }) = args.command
    {
        return export(
            recording,
            csv,
            png,
            svg,
            (width, height),
            chart_lang(paths, lang)?,
        );
    }
    if let Some(MonitorCommand::Processes {
        watch,
        interval,
        source,
        json,
    }) = args.command
    {
        return processes(&watch, &interval, &source, json);
    }
    if let Some(MonitorCommand::Stop {
        pid,
        grace,
        yes,
        source,
    }) = args.command
    {
        return stop(pid, &grace, yes, &source);
    }
    let fake = FakeConfig {
        gpus: args.gpus,
        processes: args.processes,
        seed: args.seed,
        ..FakeConfig::default()
    };
    let spec = match SourceSpec::parse(&args.source, fake)? {
        SourceSpec::Remote(remote) => SourceSpec::Remote(remote.with_secrets(
            &SecretInputs {
                token_file: args.source_token_file.clone(),
                password_file: args.source_password_file.clone(),
                ca_file: args.source_ca_file.clone(),
            },
            env_var,
        )?),
        other => other,
    };
    let interval = parse_duration("interval", &args.interval)?;
    let duration = args
        .duration
        .as_deref()
        .map(|d| parse_duration("duration", d))
        .transpose()?;
    let mut config = SamplerConfig {
        interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
        ..SamplerConfig::default()
    };
    if matches!(spec, SourceSpec::Remote(_)) {
        // Many hosts: history for every GPU, fewer hours each.
        config.history = config.history.for_many_gpus(MAX_HISTORY_GPUS);
    }
    config.validate()?;
    let exporter = match &args.serve {
        Some(addr) => Some(start_exporter(
            addr,
            args.token_file.as_deref(),
            args.serve_processes,
        )?),
        None => None,
    };
    let mut source = open_source(&spec, ProcFs::default()).map_err(|e| match e {
        // Say where the demo is, on the same line: a user without a GPU can still see what this does.
        Error::NoDriver { reason } => Error::NoDriver {
            reason: format!("{reason} (--source fake:training shows a labelled demo)"),
        },
        other => other,
    })?;
    if args.once {
        let snapshot = source
            .sample(SampleRequest {
                at: Timestamp::now(),
                processes: true,
            })?
            .ok_or_else(|| Error::invalid("source", "the recording has no snapshots"))?;
        return if args.json {
            print_json(&snapshot)
        } else {
            print_text(&snapshot);
            Ok(())
        };
    }
    let label = source.label();
    let demo = matches!(spec, SourceSpec::Fake(_));
    // Another host's processes cannot be stopped or reconfigured from here.
    let remote = matches!(spec, SourceSpec::Remote(_));
    let mut recorder = match &args.record {
        Some(path) => Some(Recorder::create(
            path,
            &Header::new(label, Timestamp::now(), config.interval_ms),
        )?),
        None => None,
    };
    // Preset recommendations are estimated from this user's stores, like the app's.
    let advisor = EstimateAdvisor::new(
        paths.clone(),
        Resolver {
            hub_cache: hf_cache::hub_cache_dir(|var| std::env::var(var).ok()),
        },
    );
    let handle = sampler::spawn_advised(source, config, Some(Box::new(advisor)), Timestamp::now)?;
    let deadline = duration.map(|d| Instant::now() + d);
    let mut count = 0u64;
    let mut shown = std::collections::BTreeSet::new();
    loop {
        let wait = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) => left,
                None => break,
            },
            None => Duration::from_secs(3600),
        };
        let message = match handle.messages.recv_timeout(wait) {
            Ok(m) => m,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        };
        match message {
            Message::Tick(tick) => {
                count += 1;
                if let Some(e) = &exporter {
                    e.publish(&tick);
                }
                if let Some(rec) = recorder.as_mut() {
                    rec.write(&tick.snapshot)?;
                } else if exporter.is_some() {
                    // Serving: the page is the output; alerts still go to stderr below.
                } else if args.json {
                    println!("{}", serde_json::to_string(&tick)?);
                } else {
                    print_text(&tick.snapshot);
                }
                for change in &tick.assessment.changes {
                    let mark = match change.to {
                        Level::Critical => "CRITICAL",
                        Level::Lost => "LOST",
                        _ => "alert",
                    };
                    eprintln!("headroom-cli: {mark}: {}", change.message);
                }
                // Say each recommendation once per session, when it first appears, not at every sample.
                for r in &tick.assessment.recommendations {
                    if shown.insert((r.gpu, action_key(&r.action))) {
                        // A demo's processes and model are simulated: nothing of the user's to change.
                        let apply = how_to_apply(&r.action)
                            .filter(|_| !demo && !remote)
                            .map_or(String::new(), |cmd| format!(" (to do it: {cmd})"));
                        eprintln!(
                            "headroom-cli: recommendation for GPU {}: {}{apply}",
                            r.gpu, r.reason
                        );
                    }
                }
            }
            Message::Error(e) => eprintln!("headroom-cli: sample failed, retrying: {e}"),
            Message::Ended => break,
        }
    }
    handle.stop();
    if let Some(path) = &args.record {
        eprintln!(
            "headroom-cli: recorded {count} snapshots to {}",
            path.display()
        );
    }
    Ok(())
}

/// The languages `monitor export --lang` writes a chart's words in.
#[derive(Clone, Copy, ValueEnum)]
pub enum ChartLang {
    En,
    Ja,
}

/// The language a chart's words are written in: `--lang`, else Settings › Language resolved as the app resolves
/// it (`auto`: the OS locale from LC_ALL, LC_MESSAGES, LANG), so a chart reads the same from either.
pub fn chart_lang(paths: &AppPaths, flag: Option<ChartLang>) -> Result<Lang, Error> {
    Ok(match flag {
        Some(ChartLang::En) => Lang::En,
        Some(ChartLang::Ja) => Lang::Ja,
        None => Lang::for_setting_here(settings::load(&paths.settings_file())?.settings.language),
    })
}

fn export(
    recording: PathBuf,
    csv: Option<PathBuf>,
    png: Option<PathBuf>,
    svg: Option<PathBuf>,
    (width, height): (u32, u32),
    lang: Lang,
) -> CliResult {
    if csv.is_none() && png.is_none() && svg.is_none() {
        return Err(Error::invalid(
            "export",
            "say what to write: --csv FILE, --png FILE and/or --svg FILE",
        )
        .into());
    }
    let options = ChartOptions {
        width,
        height,
        language: ChartLanguage::new(lang),
        ..ChartOptions::default()
    };
    if let Some(out) = csv {
        let rows = record::export_csv(&recording, &out)?;
        eprintln!("headroom-cli: wrote {rows} rows to {}", out.display());
    }
    for (out, format) in [(png, ChartFormat::Png), (svg, ChartFormat::Svg)] {
        if let Some(out) = out {
            let labels = chart::chart_recording(&recording, &out, format, options.clone())?;
            if let Some(why) = labels.note() {
                eprintln!("headroom-cli: warning: {why}");
            }
            eprintln!("headroom-cli: wrote {}", out.display());
        }
    }
    Ok(())
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Starts `/metrics` on `addr`, saying where on stderr, and warning when it is reachable from other machines
/// without a token.
fn start_exporter(
    addr: &str,
    token_file: Option<&std::path::Path>,
    processes: bool,
) -> Result<Exporter, Error> {
    let addr = exporter::parse_addr(addr)?;
    let token = read_secret("token_file", token_file, EXPORTER_TOKEN_ENV, env_var)?;
    if !addr.ip().is_loopback() && token.is_none() {
        eprintln!(
            "headroom-cli: warning: {addr} is reachable from other machines and no token is set \
             (--token-file FILE or {EXPORTER_TOKEN_ENV}): anyone who can reach it can read GPU names, memory and, \
             with --serve-processes, process names and users"
        );
    }
    let exporter = Exporter::start(ExporterConfig {
        addr,
        token,
        render: RenderOptions {
            hostname: metrics::local_hostname(),
            processes,
        },
    })?;
    eprintln!("headroom-cli: serving http://{}/metrics", exporter.addr());
    Ok(exporter)
}

/// Watches for a while, then lists the processes holding GPU memory, longest idle first.
fn processes(watch: &str, interval: &str, source: &str, json: bool) -> CliResult {
    let watch = parse_duration("watch", watch)?;
    let interval = parse_duration("interval", interval)?;
    let config = SamplerConfig {
        interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
        ..SamplerConfig::default()
    };
    config.validate()?;
    let spec = SourceSpec::parse(source, FakeConfig::default())?;
    let handle = sampler::spawn(
        open_source(&spec, ProcFs::default())?,
        config,
        Timestamp::now,
    )?;
    let deadline = Instant::now() + watch;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match handle.messages.recv_timeout(left) {
            Ok(Message::Ended) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let idle = handle.client.idle().unwrap_or_default();
    handle.stop();
    if json {
        return print_json(&idle);
    }
    println!(
        "{:>4} {:>8} {:<10} {:>9} {:>9}  command",
        "gpu", "pid", "user", "GiB", "idle s"
    );
    for p in &idle {
        println!(
            "{:>4} {:>8} {:<10} {:>9} {:>9}  {}",
            p.gpu,
            p.pid,
            p.user.as_deref().unwrap_or("?"),
            gib(p.used_bytes),
            p.idle_ms / 1000,
            p.command.as_deref().or(p.name.as_deref()).unwrap_or("?")
        );
    }
    Ok(())
}

/// Stops `pid` after confirmation (`--yes`), reporting the GPU memory it held at the last reading.
fn stop(pid: u32, grace: &str, yes: bool, source: &str) -> CliResult {
    let grace = parse_duration("grace", grace)?;
    let procfs = ProcFs::default();
    let info = procfs
        .info(pid)
        .ok_or_else(|| Error::invalid("pid", format!("no process {pid} is running")))?;
    // What it holds, from the driver; without one (or not listed) the stop still works, the amount is unknown.
    let spec = SourceSpec::parse(source, FakeConfig::default())?;
    let held = match open_source(&spec, procfs.clone()) {
        Ok(mut src) => src
            .sample(SampleRequest {
                at: Timestamp::now(),
                processes: true,
            })?
            .and_then(|s| {
                s.gpus
                    .iter()
                    .flat_map(|g| g.processes.iter().flatten())
                    .filter(|p| p.pid == pid)
                    .map(|p| p.used_bytes)
                    .reduce(|a, b| Some(a? + b?))
            })
            .flatten(),
        Err(Error::NoDriver { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let what = format!(
        "pid {pid} ({}) holding {} GiB",
        info.command.or(info.name).unwrap_or_else(|| "?".into()),
        gib(held)
    );
    if !yes {
        return Err(Error::invalid("yes", format!("add --yes to stop {what}")).into());
    }
    let outcome = procs::stop_process(&procfs, pid, held, procs::StopOptions::new(grace))?;
    print_json(&outcome)
}

/// The command that carries out a recommendation, where one command can.
fn how_to_apply(a: &Action) -> Option<String> {
    match a {
        Action::StopProcess { pid, .. } => Some(format!("headroom-cli monitor stop {pid} --yes")),
        Action::SwitchPreset {
            model: Some(model),
            preset,
            ..
        } => Some(format!("headroom-cli configs switch {model} {preset}")),
        _ => None,
    }
}

/// What makes a recommendation the same one from sample to sample (its idle time and ETA keep changing).
fn action_key(a: &Action) -> (&'static str, u32) {
    match a {
        Action::StopProcess { pid, .. } => ("stop", *pid),
        Action::SetEnv { pid, .. } => ("env", *pid),
        Action::EnableGradientCheckpointing { pid } => ("checkpointing", *pid),
        Action::SwitchPreset { pid, .. } => ("preset", *pid),
        Action::CheckGpu { gpu } => ("check-gpu", *gpu),
    }
}

fn gib(v: Option<u64>) -> String {
    v.map_or("?".into(), |b| format!("{:.1}", b as f64 / GIB as f64))
}

/// The text view: one line per GPU and per process, then what could not be read.
fn print_text(s: &Snapshot) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}  {}", s.taken_at, s.source);
    let mut host = None;
    let mut gpus: Vec<_> = s.gpus.iter().collect();
    // Stable: a local source's GPUs (no host) keep their order.
    gpus.sort_by(|a, b| (&a.host, a.host_gpu).cmp(&(&b.host, b.host_gpu)));
    for g in gpus {
        // A remote source's GPUs under their host, each by its index there.
        if g.host.is_some() && g.host != host {
            host = g.host.clone();
            let _ = writeln!(out, " {}", host.as_deref().unwrap_or("?"));
        }
        if g.status == GpuStatus::Lost {
            let _ = writeln!(
                out,
                "  GPU {} {}: LOST (retrying)",
                g.host_gpu.unwrap_or(g.index),
                g.name.as_deref().unwrap_or("?")
            );
            continue;
        }
        let m = g.memory;
        let _ = writeln!(
            out,
            "  GPU {} {}: {} / {} GiB used, {} GiB reserved by the driver, util {}%, {} °C, {} W",
            g.host_gpu.unwrap_or(g.index),
            g.name.as_deref().unwrap_or("?"),
            gib(m.used_bytes),
            gib(m.total_bytes),
            gib(m.reserved_bytes),
            g.utilization_percent.map_or("?".into(), |v| v.to_string()),
            g.temperature_c.map_or("?".into(), |v| v.to_string()),
            g.power_watts.map_or("?".into(), |v| format!("{v:.0}")),
        );
        for p in g.processes.iter().flatten() {
            let _ = writeln!(
                out,
                "    pid {:>7} {:<10} {:<10} {:>6} GiB  {}",
                p.pid,
                p.user.as_deref().unwrap_or("?"),
                p.name.as_deref().unwrap_or("?"),
                gib(p.used_bytes),
                p.command.as_deref().unwrap_or("?")
            );
        }
    }
    for h in s.hosts.iter().flatten().filter(|h| !h.reachable) {
        let _ = writeln!(
            out,
            "  host {}: UNREACHABLE ({})",
            h.host,
            h.reason.as_deref().unwrap_or("no reason given")
        );
    }
    for u in &s.unavailable {
        let _ = writeln!(out, "  unavailable: {u}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("d", "100ms").unwrap(),
            Duration::from_millis(100)
        );
        assert_eq!(
            parse_duration("d", "10m").unwrap(),
            Duration::from_secs(600)
        );
        assert_eq!(
            parse_duration("d", "2h").unwrap(),
            Duration::from_secs(7200)
        );
        for bad in ["", "10", "ms", "1.5s", "3 days", "99999999999999999999h"] {
            assert!(parse_duration("interval", bad)
                .unwrap_err()
                .to_string()
                .starts_with("interval:"));
        }
    }
}
