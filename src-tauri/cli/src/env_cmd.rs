//! `headroom-cli env list|show|export|save|delete|doctor`: environment profiles and the doctor.

use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};
use headroom_core::env::doctor::{self, Fix, Report, Severity};
use headroom_core::env::profile::{self, Profile, Purpose, Setting};
use headroom_core::env::{export, parse, procenv, EnvMap};
use headroom_core::paths::AppPaths;
use headroom_core::store::Revision;
use headroom_core::Error;
use serde::Serialize;

use crate::output::{print_json, CliResult};

#[derive(Subcommand)]
pub enum EnvCommand {
    /// List the built-in and user profiles.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a profile's variables with what each does and costs.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Print a profile as a .env file or as a shell script of export lines.
    Export {
        name: String,
        #[arg(long, value_enum, default_value = "shell")]
        format: ExportFormat,
        /// Write to this file (atomically) instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Create or replace a user profile from a .env or shell file.
    Save {
        name: String,
        /// The .env or shell file whose assignments (and `unset` lines) become the profile.
        #[arg(long)]
        file: PathBuf,
        #[arg(long, value_enum, default_value = "other")]
        purpose: PurposeArg,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Delete a user profile.
    Delete { name: String },
    /// Check an environment: this shell's (default), a file's, or a running process's. Exits with status 1
    /// when it finds an error.
    Doctor {
        /// Inspect the environment of running process PID (one you own).
        #[arg(long, conflicts_with = "file")]
        pid: Option<u32>,
        /// Inspect the variables a .env or shell file sets.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Check against this profile (`production` flags debug settings as errors).
        #[arg(long)]
        profile: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// `NAME=value` lines for docker, python-dotenv, systemd.
    Dotenv,
    /// `export NAME=value` / `unset NAME` lines to `source`.
    Shell,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum PurposeArg {
    Production,
    Debug,
    Other,
}

/// The doctor's JSON: where the environment came from, and the report.
#[derive(Serialize)]
struct DoctorOutput<'a> {
    source: String,
    #[serde(flatten)]
    report: &'a Report,
}

/// This process's environment; entries that are not UTF-8 cannot be checked by name and are left out.
pub fn current_env() -> EnvMap {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

fn read_file(path: &Path) -> Result<String, Error> {
    headroom_core::fsio::read_to_string(path, headroom_core::fsio::SMALL_INPUT)
}

pub fn run(paths: &AppPaths, command: EnvCommand) -> CliResult {
    match command {
        EnvCommand::List { json } => {
            let list = profile::list(paths)?;
            for q in &list.quarantined {
                eprintln!(
                    "headroom-cli: {} could not be read ({}); moved to {}",
                    q.original.display(),
                    q.reason,
                    q.moved_to.display()
                );
            }
            if json {
                return print_json(&list);
            }
            for p in &list.profiles {
                let kind = if p.builtin { "built-in" } else { "user" };
                println!(
                    "{:<20} {:<10} {:<8} {}",
                    p.name,
                    purpose_name(p.purpose),
                    kind,
                    p.description
                );
            }
            Ok(())
        }
        EnvCommand::Show { name, json } => {
            // Secret values come hidden; `export` writes the real ones, for sourcing.
            let view = profile::load(paths, &name)?;
            if json {
                return print_json(&view);
            }
            println!(
                "{} ({}, {})",
                view.name,
                purpose_name(view.purpose),
                if view.builtin { "built-in" } else { "user" }
            );
            if !view.description.is_empty() {
                println!("{}", view.description);
            }
            for v in &view.variables {
                match &v.value {
                    Some(value) => println!("\n{}={}", v.name, export::shell_quote(value)),
                    None => println!("\nunset {}", v.name),
                }
                if let Some(info) = &v.info {
                    println!("  does:  {}", info.effect);
                    println!("  costs: {}", info.cost);
                    println!("  from:  {}", info.source);
                }
            }
            Ok(())
        }
        EnvCommand::Export {
            name,
            format,
            output,
        } => {
            let profile = profile::load_profile(paths, &name)?;
            let text = match format {
                ExportFormat::Dotenv => export::to_dotenv(&profile),
                ExportFormat::Shell => export::to_shell(&profile),
            };
            match output {
                Some(path) => headroom_core::store::write_atomic(&path, text.as_bytes())?,
                None => print!("{text}"),
            }
            Ok(())
        }
        EnvCommand::Save {
            name,
            file,
            purpose,
            description,
        } => {
            let origin = file.display().to_string();
            let parsed = parse::parse(&origin, &read_file(&file)?)?;
            for line in &parsed.skipped_lines {
                eprintln!("headroom-cli: {origin}:{line} is not an assignment; skipped");
            }
            // The last assignment of each variable wins, as when the file is sourced.
            let mut variables: Vec<Setting> = Vec::new();
            for a in parsed.assignments {
                variables.retain(|s| s.name != a.name);
                variables.push(Setting {
                    name: a.name,
                    value: a.value,
                });
            }
            let profile = Profile {
                name: name.clone(),
                description,
                purpose: match purpose {
                    PurposeArg::Production => Purpose::Production,
                    PurposeArg::Debug => Purpose::Debug,
                    PurposeArg::Other => Purpose::Other,
                },
                variables,
            };
            let expected = match profile::load(paths, &name) {
                Ok(view) => view.revision.unwrap_or(Revision::ABSENT),
                Err(Error::Invalid { .. }) => Revision::ABSENT,
                Err(e) => return Err(e.into()),
            };
            profile::save(paths, &profile, expected)?;
            print_json(&profile)
        }
        EnvCommand::Delete { name } => {
            let view = profile::load(paths, &name)?;
            profile::delete(paths, &name, view.revision.unwrap_or(Revision::ABSENT))?;
            Ok(())
        }
        EnvCommand::Doctor {
            pid,
            file,
            profile: profile_name,
            json,
        } => {
            let (source, env) = match (pid, &file) {
                (Some(pid), _) => (
                    format!("process {pid}"),
                    procenv::read_environ(std::path::Path::new("/proc"), pid)?,
                ),
                (None, Some(file)) => {
                    let origin = file.display().to_string();
                    let parsed = parse::parse(&origin, &read_file(file)?)?;
                    (format!("file {origin}"), parsed.to_env())
                }
                (None, None) => ("this shell".to_string(), current_env()),
            };
            let profile = match &profile_name {
                Some(name) => Some(profile::load_profile(paths, name)?),
                None => None,
            };
            let report = doctor::diagnose(&env, profile.as_ref());
            if json {
                print_json(&DoctorOutput {
                    source,
                    report: &report,
                })?;
            } else {
                print_report(&source, &report);
            }
            if report.has_errors() {
                // The contract of `env doctor`: a non-zero status when an error was found.
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

fn purpose_name(p: Purpose) -> &'static str {
    match p {
        Purpose::Production => "production",
        Purpose::Debug => "debug",
        Purpose::Other => "other",
    }
}

fn print_report(source: &str, report: &Report) {
    match &report.profile {
        Some(p) => println!("environment of {source}, checked against profile {p}"),
        None => println!("environment of {source}"),
    }
    if report.findings.is_empty() {
        println!("no findings");
        return;
    }
    for f in &report.findings {
        let severity = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        println!("{severity:<8} {}: {}", f.variable, f.message);
        match &f.fix {
            Some(Fix::Set { variable, value }) => {
                println!(
                    "         fix: export {variable}={}",
                    export::shell_quote(value)
                )
            }
            Some(Fix::Unset { variable }) => println!("         fix: unset {variable}"),
            None => {}
        }
    }
}
