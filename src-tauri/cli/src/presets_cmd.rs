//! `headroom-cli presets list|show|export|import|duplicate|delete`.

use std::path::Path;

use clap::{Subcommand, ValueEnum};
use headroom_core::fsio;
use headroom_core::paths::AppPaths;
use headroom_core::presets::bundle::{self, OnConflict};
use headroom_core::presets::config_store::{preset_lookup, ConfigLibrary};
use headroom_core::presets::import::{self, ImportSource};
use headroom_core::presets::library::{PresetLibrary, SkippedFile};
use headroom_core::presets::{export, rename, DeviceMap, Preset};
use headroom_core::store::Quarantine;
use headroom_core::Error;

use crate::output::{print_json, CliResult};

#[derive(Subcommand)]
pub enum PresetsCommand {
    /// List the built-in and saved presets.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Print one preset's settings.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Print a preset as transformers or the launcher reads it, or every saved preset and config as a bundle.
    Export {
        /// The preset (not needed with --format bundle).
        name: Option<String>,
        #[arg(long, value_enum, default_value = "preset")]
        format: ExportFormat,
        /// The model id the Python snippet loads (--format python).
        #[arg(long)]
        model: Option<String>,
    },
    /// Save a preset from a file (`-` reads stdin): a Headroom preset, a BitsAndBytesConfig dict, a model's
    /// config.json with a quantization_config, or a bundle of presets and per-model configs.
    Import {
        file: String,
        /// The new preset's name (default: the file name without .json). Not used for bundles.
        #[arg(long)]
        name: Option<String>,
        /// For bundles: what to do with presets or configs that already exist with different settings.
        #[arg(long, value_enum, default_value = "fail")]
        on_conflict: ConflictArg,
        #[arg(long)]
        json: bool,
    },
    /// Copy a preset (built-ins included) under a new name.
    Duplicate { from: String, to: String },
    /// Give a saved preset a new name.
    Rename { from: String, to: String },
    /// Delete a saved preset (built-ins cannot be deleted).
    Delete { name: String },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// `BitsAndBytesConfig(...).to_dict()` as JSON, exactly as transformers prints it.
    BnbJson,
    /// The other `from_pretrained` keyword arguments as JSON (device_map, max_memory, torch_dtype); the
    /// launcher hands the same to a program, with the dtype under `dtype` as transformers 5 wants.
    Kwargs,
    /// A Python snippet that loads a model with the preset (needs --model).
    Python,
    /// The Headroom preset itself, for `presets import` on another machine.
    Preset,
    /// Every saved preset and per-model config.
    Bundle,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ConflictArg {
    Fail,
    Skip,
    Replace,
}

pub fn run(paths: &AppPaths, command: PresetsCommand) -> CliResult {
    let presets = PresetLibrary::new(paths);
    let configs = ConfigLibrary::new(paths);
    match command {
        PresetsCommand::List { json } => {
            let list = presets.list()?;
            report_unreadable(&list.quarantined, &list.skipped, &list.unreadable);
            if json {
                return print_json(&list);
            }
            for p in &list.presets {
                println!("{}", summary_line(p));
            }
            Ok(())
        }
        PresetsCommand::Show { name, json } => {
            let preset = presets.get(&name)?;
            if json {
                return print_json(&preset);
            }
            println!(
                "{}{}",
                preset.name,
                if preset.builtin { " (built-in)" } else { "" }
            );
            if !preset.body.description.is_empty() {
                println!("{}", preset.body.description);
            }
            println!(
                "from_pretrained kwargs: {}",
                serde_json::to_string_pretty(&export::load_kwargs(&preset.body))?
            );
            match &preset.body.quantization {
                Some(q) => println!("BitsAndBytesConfig.to_dict(): {}", q.to_dict_json()),
                None => println!("no quantization"),
            }
            Ok(())
        }
        PresetsCommand::Export {
            name,
            format,
            model,
        } => {
            let one = |name: Option<String>| -> Result<Preset, Error> {
                let name = name.ok_or_else(|| {
                    Error::invalid("name", "name the preset to export (or use --format bundle)")
                })?;
                presets.get(&name)
            };
            match format {
                ExportFormat::Bundle => {
                    let exported = bundle::export(&presets, &configs)?;
                    report_unreadable(&exported.quarantined, &[], &exported.unreadable);
                    print_json(&exported.bundle)
                }
                ExportFormat::BnbJson => {
                    let preset = one(name)?;
                    println!("{}", export::bnb_json(&preset.name, &preset.body)?);
                    Ok(())
                }
                ExportFormat::Kwargs => print_json(&export::load_kwargs(&one(name)?.body)),
                ExportFormat::Python => {
                    let preset = one(name)?;
                    let model = model.ok_or_else(|| {
                        Error::invalid("model", "--format python needs --model MODEL_ID")
                    })?;
                    print!("{}", export::python_snippet(&model, &preset.body));
                    Ok(())
                }
                ExportFormat::Preset => print_json(&one(name)?.body),
            }
        }
        PresetsCommand::Import {
            file,
            name,
            on_conflict,
            json,
        } => {
            let bytes = read_input(&file, fsio::IMPORT)?;
            if is_bundle(&bytes) {
                let local = preset_lookup(&presets);
                let parsed = bundle::parse(&bytes, &local).map_err(Error::from)?;
                let on_conflict = match on_conflict {
                    ConflictArg::Fail => OnConflict::Fail,
                    ConflictArg::Skip => OnConflict::Skip,
                    ConflictArg::Replace => OnConflict::Replace,
                };
                let report = bundle::import(&parsed, &presets, &configs, on_conflict)?;
                if json {
                    return print_json(&report);
                }
                for (what, counts) in [
                    ("presets", &report.presets),
                    ("model configs", &report.model_configs),
                ] {
                    println!(
                        "{what}: {} added, {} replaced, {} unchanged, {} skipped",
                        counts.added.len(),
                        counts.replaced.len(),
                        counts.unchanged.len(),
                        counts.skipped.len()
                    );
                }
                return Ok(());
            }
            let imported = import::parse_preset(&bytes).map_err(Error::from)?;
            let name = match name {
                Some(n) => n,
                None => default_name(&file)?,
            };
            presets.create(&name, &imported.body)?;
            let preset = presets.get(&name)?;
            if json {
                return print_json(&preset);
            }
            let from = match imported.source {
                ImportSource::Preset => "a Headroom preset",
                ImportSource::BnbJson => "a BitsAndBytesConfig dict",
                ImportSource::ModelConfigJson => "a config.json quantization_config",
            };
            println!("saved preset {name} (from {from})");
            Ok(())
        }
        PresetsCommand::Duplicate { from, to } => {
            presets.duplicate(&from, &to)?;
            println!("saved preset {to} (a copy of {from})");
            Ok(())
        }
        PresetsCommand::Rename { from, to } => {
            let current = presets.get(&from)?;
            if current.builtin {
                return Err(Error::invalid(
                    "from",
                    format!("{from:?} is a built-in preset and cannot be renamed; duplicate it"),
                )
                .into());
            }
            let done = rename::rename_preset(&presets, &configs, &from, &to, current.revision)?;
            println!("renamed preset {from} to {to}");
            if !done.configs_changed.is_empty() {
                println!("updated the configs of {}", done.configs_changed.join(", "));
            }
            Ok(())
        }
        PresetsCommand::Delete { name } => {
            let current = presets.get(&name)?;
            if current.builtin {
                return Err(Error::invalid(
                    "name",
                    format!("{name:?} is a built-in preset and cannot be deleted"),
                )
                .into());
            }
            let users = configs.referencing(&name)?;
            presets.delete(&name, current.revision)?;
            if !users.is_empty() {
                eprintln!(
                    "headroom-cli: warning: preset {name} is still named by the configs of {}; choose another \
                     preset for them",
                    users.join(", ")
                );
            }
            println!("deleted preset {name}");
            Ok(())
        }
    }
}

/// One line per preset: name, origin, what it loads.
fn summary_line(p: &Preset) -> String {
    let what = match &p.body.quantization {
        None => p.body.load.torch_dtype.as_str().to_string(),
        Some(q) if q.load_in_8bit => "int8".to_string(),
        Some(q) => format!(
            "4-bit {}{}",
            q.bnb_4bit_quant_type.as_str(),
            if q.bnb_4bit_use_double_quant {
                " + double quant"
            } else {
                ""
            }
        ),
    };
    let map = match &p.body.load.device_map {
        None => "no device_map".to_string(),
        Some(DeviceMap::Named(n)) => format!("device_map={n}"),
        Some(DeviceMap::Modules(m)) => format!("device_map: {} modules", m.len()),
    };
    format!(
        "{:<20} {:<9} {:<28} {map}",
        p.name,
        if p.builtin { "built-in" } else { "saved" },
        what
    )
}

/// Files that could not be loaded go to stderr with their reason; the rest of the output is unaffected.
pub fn report_unreadable(
    quarantined: &[Quarantine],
    skipped: &[SkippedFile],
    unreadable: &[SkippedFile],
) {
    for q in quarantined {
        eprintln!(
            "headroom-cli: {} could not be read ({}); moved to {}",
            q.original.display(),
            q.reason,
            q.moved_to.display()
        );
    }
    for s in skipped {
        eprintln!(
            "headroom-cli: {} was not loaded: {}",
            s.path.display(),
            s.reason
        );
    }
    for u in unreadable {
        eprintln!(
            "headroom-cli: {} could not be read ({}); left where it is",
            u.path.display(),
            u.reason
        );
    }
}

/// The bytes of FILE, or of stdin for `-`, at most `limit` of them and from a regular file only (fsio).
pub fn read_input(file: &str, limit: fsio::Limit) -> Result<Vec<u8>, Error> {
    if file == "-" {
        return fsio::read_bounded(std::io::stdin().lock(), "stdin", limit);
    }
    fsio::read(Path::new(file), limit)
}

/// A bundle announces itself with `"format": "headroom-bundle"`.
fn is_bundle(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v.get("format").and_then(|f| f.as_str()).map(str::to_owned))
        .is_some_and(|f| f == bundle::BUNDLE_FORMAT)
}

fn default_name(file: &str) -> Result<String, Error> {
    let stem = Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|_| file != "-");
    stem.map(str::to_owned).ok_or_else(|| {
        Error::invalid(
            "name",
            "give the new preset a name with --name when reading stdin",
        )
    })
}
