//! `headroom-cli configs list|show|switch|set`: per-model configs (preset, overrides, task, LoRA, fallback chain,
//! notes).

use std::collections::BTreeMap;

use clap::{Subcommand, ValueEnum};
use headroom_core::fsio;
use headroom_core::paths::AppPaths;
use headroom_core::presets::config_store::{flag_missing_presets, ConfigLibrary, ModelConfigEntry};
use headroom_core::presets::library::PresetLibrary;
use headroom_core::presets::model_config::{
    LoraSettings, Method, ModelConfig, TargetModules, Task,
};
use headroom_core::presets::{field, switch, DeviceMap, MemoryLimit, TorchDtype};
use headroom_core::Error;

use crate::output::{print_json, CliResult};
use crate::presets_cmd::{read_input, report_unreadable};

// `set` carries every option; the enum is parsed once per process, so its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum ConfigsCommand {
    /// List the models that have a saved config.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Print one model's config and the presets the launcher would try, in order.
    Show {
        model_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Switch a model's config to another preset in one step, as the Monitor's recommendation does: LoRA
    /// becomes QLoRA on a 4-bit preset, quantization overrides that no longer fit are dropped, and a model
    /// without a config gets one. Prints what changed; --json adds the config before (for undoing it).
    Switch {
        model_id: String,
        preset: String,
        #[arg(long)]
        json: bool,
    },
    /// Create or change a model's config. Options not given keep their saved value; a new config needs
    /// --preset and --task (or --file).
    Set {
        model_id: String,
        /// A whole config as JSON (`-` reads stdin); the options below then change it further.
        #[arg(long)]
        file: Option<String>,
        #[arg(long)]
        preset: Option<String>,
        #[arg(long, value_enum)]
        task: Option<TaskArg>,
        #[arg(long, value_enum)]
        method: Option<MethodArg>,
        /// Presets to fall back to after an out-of-memory failure, comma-separated (`fp16,int8,int4`).
        #[arg(long, value_delimiter = ',')]
        fallback: Option<Vec<String>>,
        #[arg(long)]
        notes: Option<String>,
        #[arg(long)]
        lora_rank: Option<u64>,
        #[arg(long)]
        lora_alpha: Option<f64>,
        #[arg(long)]
        lora_dropout: Option<f64>,
        /// `all-linear`, or module names, comma-separated.
        #[arg(long, value_delimiter = ',')]
        lora_target: Option<Vec<String>>,
        /// Override the preset's torch_dtype for this model.
        #[arg(long, value_enum)]
        torch_dtype: Option<DtypeArg>,
        /// Override the preset's device_map for this model (`auto`, `balanced`, `sequential`, `cuda:0`, …).
        #[arg(long)]
        device_map: Option<String>,
        /// Override the preset's max_memory for this model: DEVICE=SIZE, comma-separated
        /// (`0=10GiB,cpu=30GB`); an empty value removes the override.
        #[arg(long)]
        max_memory: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum TaskArg {
    Train,
    Infer,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DtypeArg {
    Auto,
    Float32,
    Float16,
    Bfloat16,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum MethodArg {
    Full,
    Lora,
    Qlora,
    Freeze,
}

pub fn run(paths: &AppPaths, command: ConfigsCommand) -> CliResult {
    let presets = PresetLibrary::new(paths);
    let configs = ConfigLibrary::new(paths);
    match command {
        ConfigsCommand::List { json } => {
            let mut list = configs.list()?;
            report_unreadable(&list.quarantined, &list.skipped, &list.unreadable);
            list.flag_missing_presets(&presets);
            for e in &list.configs {
                warn_missing(e);
            }
            if json {
                return print_json(&list);
            }
            for e in &list.configs {
                println!(
                    "{:<40} {:<6} {:<16} then {}",
                    e.model_id,
                    match e.config.task {
                        Task::Train => "train",
                        Task::Infer => "infer",
                    },
                    e.config.preset,
                    e.config.attempts().get(1..).unwrap_or_default().join(" → ")
                );
            }
            Ok(())
        }
        ConfigsCommand::Show { model_id, json } => {
            let mut entry = configs
                .get(&model_id)?
                .ok_or_else(|| no_config(&model_id))?;
            flag_missing_presets(std::slice::from_mut(&mut entry), &presets);
            warn_missing(&entry);
            if json {
                return print_json(&entry);
            }
            println!("{}", serde_json::to_string_pretty(&entry.config)?);
            println!("attempts: {}", entry.config.attempts().join(" → "));
            Ok(())
        }
        ConfigsCommand::Switch {
            model_id,
            preset,
            json,
        } => {
            let done = switch::switch_preset(&configs, &presets, &model_id, &preset)?;
            if json {
                return print_json(&done);
            }
            let from = done
                .previous
                .as_ref()
                .map_or("no config".to_string(), |p| p.config.preset.clone());
            println!("{model_id}: {from} → {preset}");
            for change in &done.changes {
                println!("  {change}");
            }
            println!("attempts: {}", done.entry.config.attempts().join(" → "));
            Ok(())
        }
        ConfigsCommand::Set {
            model_id,
            file,
            preset,
            task,
            method,
            fallback,
            notes,
            lora_rank,
            lora_alpha,
            lora_dropout,
            lora_target,
            torch_dtype,
            device_map,
            max_memory,
            json,
        } => {
            // Read before taking the lock: stdin or a slow file must not hold up other writers.
            let from_file = match &file {
                Some(file) => {
                    let bytes = read_input(file, fsio::SMALL_INPUT)?;
                    let value: serde_json::Value = serde_json::from_slice(&bytes)
                        .map_err(|e| Error::invalid("file", format!("is not JSON: {e}")))?;
                    Some(field::from_value::<ModelConfig>(value, "").map_err(Error::from)?)
                }
                None => None,
            };
            // The options are applied to the config as saved when the lock is held, so another `set` or a
            // `switch` at the same moment is not lost (see headroom_core::store).
            let saved = configs.update(&model_id, &presets, |existing| {
                let mut config = match (from_file, existing) {
                    (Some(config), _) => config,
                    (None, Some(e)) => e.config.clone(),
                    (None, None) => {
                        let preset = preset.clone().ok_or_else(|| {
                            Error::invalid("preset", "a new config needs --preset (or --file)")
                        })?;
                        let task = task.ok_or_else(|| {
                            Error::invalid(
                                "task",
                                "a new config needs --task train|infer (or --file)",
                            )
                        })?;
                        ModelConfig::new(preset, task_of(task))
                    }
                };
                if let Some(p) = preset {
                    config.preset = p;
                }
                if let Some(t) = task {
                    config.task = task_of(t);
                }
                if let Some(m) = method {
                    config.method = Some(match m {
                        MethodArg::Full => Method::Full,
                        MethodArg::Lora => Method::Lora,
                        MethodArg::Qlora => Method::Qlora,
                        MethodArg::Freeze => Method::Freeze,
                    });
                }
                if let Some(chain) = fallback {
                    config.fallback_chain = chain.into_iter().filter(|s| !s.is_empty()).collect();
                }
                if let Some(d) = torch_dtype {
                    config.overrides.torch_dtype = Some(match d {
                        DtypeArg::Auto => TorchDtype::Auto,
                        DtypeArg::Float32 => TorchDtype::Float32,
                        DtypeArg::Float16 => TorchDtype::Float16,
                        DtypeArg::Bfloat16 => TorchDtype::Bfloat16,
                    });
                }
                if let Some(m) = device_map {
                    config.overrides.device_map = Some(DeviceMap::Named(m));
                }
                if let Some(text) = max_memory {
                    config.overrides.max_memory = parse_max_memory(&text)?;
                }
                if let Some(n) = notes {
                    config.notes = n;
                }
                if lora_rank.is_some()
                    || lora_alpha.is_some()
                    || lora_dropout.is_some()
                    || lora_target.is_some()
                {
                    let lora = config.lora.get_or_insert_with(LoraSettings::default);
                    if let Some(r) = lora_rank {
                        lora.rank = r;
                    }
                    if let Some(a) = lora_alpha {
                        lora.alpha = a;
                    }
                    if let Some(d) = lora_dropout {
                        lora.dropout = d;
                    }
                    if let Some(t) = lora_target {
                        lora.target_modules = if matches!(t.as_slice(), [only] if only == "all-linear")
                        {
                            TargetModules::AllLinear
                        } else {
                            TargetModules::Names(t)
                        };
                    }
                }
                Ok(config)
            })?;
            if json {
                return print_json(&saved);
            }
            println!(
                "saved the config of {model_id}: {}",
                saved.config.attempts().join(" → ")
            );
            Ok(())
        }
    }
}

/// `0=10GiB,cpu=30GB` → `{"0": "10GiB", "cpu": "30GB"}`; empty → no override. Device names and sizes are
/// checked with the rest of the config when it is saved.
fn parse_max_memory(text: &str) -> Result<Option<BTreeMap<String, MemoryLimit>>, Error> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let mut out = BTreeMap::new();
    for item in text.split(',') {
        let (device, size) = item.split_once('=').ok_or_else(|| {
            Error::invalid(
                "max_memory",
                format!("{item:?} is not DEVICE=SIZE (such as 0=10GiB)"),
            )
        })?;
        let limit = MemoryLimit::parse(size.trim())
            .map_err(|m| Error::invalid(format!("max_memory.{}", device.trim()), m))?;
        out.insert(device.trim().to_string(), limit);
    }
    Ok(Some(out))
}

fn task_of(t: TaskArg) -> Task {
    match t {
        TaskArg::Train => Task::Train,
        TaskArg::Infer => Task::Infer,
    }
}

/// A config that names a preset that cannot be loaded says so: `run` would refuse it.
fn warn_missing(entry: &ModelConfigEntry) {
    if !entry.missing_presets.is_empty() {
        eprintln!(
            "headroom-cli: warning: the config of {} names {} that cannot be loaded ({}); `run` refuses it \
             until you choose another: headroom-cli configs set {} --preset NAME --fallback NAMES",
            entry.model_id,
            if entry.missing_presets.len() == 1 {
                "a preset"
            } else {
                "presets"
            },
            entry.missing_presets.join(", "),
            entry.model_id
        );
    }
}

fn no_config(model_id: &str) -> Error {
    Error::invalid("model_id", format!("no config saved for {model_id:?}"))
}
