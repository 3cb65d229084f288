//! `headroom-cli settings show|set`.

use clap::{Subcommand, ValueEnum};
use headroom_core::estimate::plan::FitOn;
use headroom_core::paths::AppPaths;
use headroom_core::settings::{self, Language, Theme};

use crate::output::{print_json, CliResult};

#[derive(Subcommand)]
pub enum SettingsCommand {
    /// Print the settings in force.
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Change one or more settings; the rest are kept.
    Set {
        #[arg(long, value_enum)]
        language: Option<LanguageArg>,
        #[arg(long, value_enum)]
        theme: Option<ThemeArg>,
        /// Desktop notification when a GPU's memory becomes critical (the app shows it): true or false.
        #[arg(long)]
        notify_on_critical: Option<bool>,
        /// The Python the trace engine runs; an empty value goes back to searching PATH.
        #[arg(long, value_name = "PATH")]
        python_path: Option<String>,
        /// Which figure of an estimate's band decides "fits" when a plan does not say: its upper end (high,
        /// the default) or the central estimate.
        #[arg(long, value_enum)]
        fit_on: Option<FitOnArg>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum FitOnArg {
    High,
    Central,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LanguageArg {
    Auto,
    En,
    Ja,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ThemeArg {
    System,
    Light,
    Dark,
}

pub fn run(paths: &AppPaths, command: SettingsCommand) -> CliResult {
    let path = paths.settings_file();
    let loaded = settings::load(&path)?;
    if let Some(q) = &loaded.quarantined {
        eprintln!(
            "headroom-cli: {} could not be read ({}); moved to {} and using defaults",
            q.original.display(),
            q.reason,
            q.moved_to.display()
        );
    }
    match command {
        SettingsCommand::Show { json: true } => print_json(&loaded.settings),
        SettingsCommand::Show { json: false } => {
            let s = &loaded.settings;
            println!(
                "language  {}",
                serde_json::to_value(s.language)?
                    .as_str()
                    .unwrap_or_default()
            );
            println!(
                "theme     {}",
                serde_json::to_value(s.theme)?.as_str().unwrap_or_default()
            );
            println!("notify_on_critical  {}", s.notify_on_critical);
            println!(
                "fit_on    {}",
                serde_json::to_value(s.fit_on)?.as_str().unwrap_or_default()
            );
            println!(
                "python_path  {}",
                s.python_path
                    .as_deref()
                    .unwrap_or("(first python3 on PATH with torch)")
            );
            Ok(())
        }
        SettingsCommand::Set {
            language,
            theme,
            notify_on_critical,
            python_path,
            fit_on,
        } => {
            let mut next = loaded.settings;
            if let Some(f) = fit_on {
                next.fit_on = match f {
                    FitOnArg::High => FitOn::High,
                    FitOnArg::Central => FitOn::Central,
                };
            }
            if let Some(p) = python_path {
                next.python_path = Some(p).filter(|p| !p.trim().is_empty());
            }
            if let Some(on) = notify_on_critical {
                next.notify_on_critical = on;
            }
            if let Some(language) = language {
                next.language = match language {
                    LanguageArg::Auto => Language::Auto,
                    LanguageArg::En => Language::En,
                    LanguageArg::Ja => Language::Ja,
                };
            }
            if let Some(theme) = theme {
                next.theme = match theme {
                    ThemeArg::System => Theme::System,
                    ThemeArg::Light => Theme::Light,
                    ThemeArg::Dark => Theme::Dark,
                };
            }
            settings::save(&path, &next)?;
            print_json(&next)
        }
    }
}
