//! `headroom-cli plan import --from FILE…` and `plan export --format accelerate|deepspeed` (docs/trainers.md):
//! plans from trainers' config files and configs from plans. The flags shared with `estimate --from` live here:
//! [`ImportArgs`] and [`plan_text`], which lays a plan file and the command line's flags over what the configs say.

use std::path::PathBuf;

use headroom_core::estimate::{available_presets, plan};
use headroom_core::paths::AppPaths;
use headroom_core::presets::library::PresetLibrary;
use headroom_core::trainers::{self, export, ImportReport};
use headroom_core::{fsio, store, Error};
use serde_json::{json, Value};

use crate::output::{print_json, CliResult};

#[derive(clap::Args)]
pub struct ImportArgs {
    /// A trainer config (Axolotl, LLaMA-Factory, TrainingArguments/TRL, torchtune, LitGPT, accelerate, DeepSpeed;
    /// docs/trainers.md). Repeat to merge several, e.g. an accelerate config and its DeepSpeed JSON.
    #[arg(long = "from", value_name = "FILE")]
    pub from: Vec<PathBuf>,
    /// The model (a catalog or Hugging Face id), over what the configs say.
    #[arg(long, value_name = "ID")]
    pub model: Option<String>,
    /// The GPUs by catalog name (e.g. "A100 80GB"), over what the configs and the plan say.
    #[arg(long, value_name = "NAME", conflicts_with = "gpu_memory_gib")]
    pub gpu_model: Option<String>,
    /// Memory of one GPU in GiB, over what the configs and the plan say.
    #[arg(long, value_name = "GIB")]
    pub gpu_memory_gib: Option<f64>,
}

#[derive(clap::Subcommand)]
pub enum PlanCommand {
    /// Read trainer configs into a plan and say what became of each key.
    Import {
        #[command(flatten)]
        import: ImportArgs,
        /// Print the report as JSON (the plan under `plan`).
        #[arg(long)]
        json: bool,
    },
    /// Write a plan as an accelerate config YAML or a DeepSpeed JSON.
    Export {
        #[arg(long, value_enum)]
        format: FormatArg,
        /// The plan (docs/contract.md §1); `-` reads it from stdin. With --from, its keys override the configs'.
        #[arg(long)]
        plan: Option<PathBuf>,
        #[command(flatten)]
        import: ImportArgs,
        /// Write to this file instead of stdout (atomically).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Replace --out when it exists.
        #[arg(long, requires = "out")]
        force: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum FormatArg {
    /// An accelerate config YAML (accelerate launch --config_file).
    Accelerate,
    /// A DeepSpeed config JSON.
    Deepspeed,
}

pub fn run(paths: &AppPaths, cmd: PlanCommand) -> CliResult {
    match cmd {
        PlanCommand::Import { import, json } => {
            if import.from.is_empty() {
                return Err(Error::invalid(
                    "from",
                    "give at least one trainer config with --from FILE",
                )
                .into());
            }
            let (text, report) = plan_text(&import, None)?;
            let Some(mut report) = report else {
                return Err(Error::invalid(
                    "from",
                    "give at least one trainer config with --from FILE",
                )
                .into());
            };
            // The plan as the flags left it.
            report.plan = serde_json::from_str(&text)?;
            if json {
                return print_json(&report);
            }
            println!("{}", serde_json::to_string_pretty(&report.plan)?);
            print_report(&report);
            Ok(())
        }
        PlanCommand::Export {
            format,
            plan: plan_path,
            import,
            out,
            force,
        } => {
            let plan_text_in = read_plan_file(plan_path.as_deref())?;
            if plan_text_in.is_none() && import.from.is_empty() {
                return Err(Error::invalid(
                    "plan",
                    "give a plan with --plan FILE or trainer configs with --from FILE",
                )
                .into());
            }
            let (text, _) = plan_text(&import, plan_text_in)?;
            let presets = available_presets(&PresetLibrary::new(paths))?;
            let plan = plan::parse_plan(&text, &presets)?;
            let format = match format {
                FormatArg::Accelerate => export::ExportFormat::Accelerate,
                FormatArg::Deepspeed => export::ExportFormat::Deepspeed,
            };
            let exported = export::export(&plan, format)?;
            match out {
                None => print!("{}", exported.text),
                Some(path) => {
                    if !force && std::fs::symlink_metadata(&path).is_ok() {
                        return Err(Error::invalid(
                            "out",
                            format!("{} exists: add --force to replace it", path.display()),
                        )
                        .into());
                    }
                    store::write_atomic(&path, exported.text.as_bytes())?;
                }
            }
            for line in &exported.not_carried {
                eprintln!("not carried: {line}");
            }
            Ok(())
        }
    }
}

/// The plan text to estimate or export: the configs' plan (when `--from` is given), the plan file's keys over it,
/// then the command line's flags over both. Without `--from` and flags, the plan file's text unchanged.
/// A plan file's text (`-` reads stdin), bounded like every plan the CLI reads; `None` without a file.
pub fn read_plan_file(path: Option<&std::path::Path>) -> Result<Option<String>, Error> {
    Ok(match path {
        None => None,
        Some(p) if p.as_os_str() == "-" => Some(fsio::read_bounded_to_string(
            std::io::stdin().lock(),
            "stdin",
            fsio::PLAN,
        )?),
        Some(p) => Some(fsio::read_to_string(p, fsio::PLAN)?),
    })
}

pub fn plan_text(
    import: &ImportArgs,
    plan_file: Option<String>,
) -> Result<(String, Option<ImportReport>), Error> {
    let flags =
        import.model.is_some() || import.gpu_model.is_some() || import.gpu_memory_gib.is_some();
    if import.from.is_empty() && !flags {
        return Ok((plan_file.unwrap_or_default(), None));
    }
    let report = if import.from.is_empty() {
        None
    } else {
        Some(trainers::import_files(&import.from)?)
    };
    let mut value = report
        .as_ref()
        .map_or_else(|| json!({}), |r| r.plan.clone());
    if let Some(text) = plan_file {
        let over: Value = serde_json::from_str(&text)
            .map_err(|e| Error::invalid("plan", format!("not valid JSON: {e}")))?;
        if !over.is_object() {
            return Err(Error::invalid("plan", "must be an object"));
        }
        trainers::overlay(&mut value, &over);
    }
    if let Some(id) = &import.model {
        trainers::overlay(&mut value, &json!({"model": {"id": id}}));
    }
    if import.gpu_model.is_some() || import.gpu_memory_gib.is_some() {
        let gpus = value
            .as_object_mut()
            .map(|o| o.entry("gpus").or_insert_with(|| json!({"count": 1})));
        if let Some(Value::Object(g)) = gpus {
            g.remove("memory_gib");
            g.remove("memory_bytes");
            g.remove("model");
            g.entry("count").or_insert(json!(1));
            if let Some(m) = &import.gpu_model {
                g.insert("model".into(), json!(m));
            }
            if let Some(x) = import.gpu_memory_gib {
                g.insert("memory_gib".into(), json!(x));
            }
        }
    }
    if let Some(g) = value.get("gpus").and_then(Value::as_object) {
        if !["memory_gib", "memory_bytes", "model"]
            .iter()
            .any(|k| g.contains_key(*k))
        {
            return Err(Error::invalid(
                "gpus",
                format!(
                    "the configs give {} GPUs per machine but not their memory: add --gpu-model NAME or \
                     --gpu-memory-gib GIB",
                    g.get("count").cloned().unwrap_or(Value::Null)
                ),
            ));
        }
    }
    Ok((value.to_string(), report))
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The report in words, on stdout after the estimate's table.
pub fn print_report(report: &ImportReport) {
    println!("Imported from:");
    for f in &report.files {
        match &f.named_by {
            Some(by) => println!("  {} ({}, named by {by})", f.path, f.format.label()),
            None => println!("  {} ({})", f.path, f.format.label()),
        }
    }
    // With several files each line says which one it is about.
    let many = report.files.len() > 1;
    let at = |file: &str| {
        if many {
            format!("{file}: ")
        } else {
            String::new()
        }
    };
    if !report.mapped.is_empty() {
        println!("Mapped:");
        for m in &report.mapped {
            println!(
                "  {}{} = {}  ->  {} = {}",
                at(&m.file),
                m.key,
                show(&m.value),
                m.plan_key,
                show(&m.plan_value)
            );
        }
    }
    if !report.auto_resolved.is_empty() {
        println!("Auto values:");
        for a in &report.auto_resolved {
            let became = if a.became.is_null() {
                "the plan's default".to_string()
            } else {
                show(&a.became)
            };
            println!(
                "  {}{} -> {} = {became}: {}",
                at(&a.file),
                a.key,
                a.plan_key,
                a.why
            );
        }
    }
    if !report.not_understood.is_empty() {
        println!("Not understood:");
        for n in &report.not_understood {
            println!("  {}{} = {}: {}", at(&n.file), n.key, show(&n.value), n.why);
        }
    }
    println!(
        "Ignored: {} keys with no effect on memory (--json lists them)",
        report.ignored.len()
    );
}
