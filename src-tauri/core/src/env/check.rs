//! The doctor's input side: which environment to check (the app's with a profile applied, a `.env` file, a running
//! process) read into one map, then [`super::doctor::diagnose`]d. The app's Environment view calls [`check`].

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::doctor::{self, Report};
use super::{parse, procenv, profile, EnvMap};
use crate::message::{Key, Message};
use crate::paths::AppPaths;
use crate::{fsio, Error, Result};

/// Which environment the doctor reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DoctorSource {
    /// What a run started from Headroom would get: the app's environment with the profile applied.
    App,
    /// A `.env` file or a shell script of `export` lines, as written.
    File { path: String },
    /// A running process's environment (`/proc/PID/environ`), as it started.
    Process { pid: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct DoctorResult {
    pub report: Report,
    /// Lines of a file that were not assignments and were skipped (1-based).
    pub skipped_lines: Vec<u32>,
    /// How many variables were read.
    pub variables: u32,
}

/// Read the environment `source` names and diagnose it, with the profile called `profile` (if any) applied to the
/// app's environment `app_env` and its purpose deciding what is a mistake.
pub fn check(
    paths: &AppPaths,
    source: DoctorSource,
    profile: Option<&str>,
    app_env: EnvMap,
) -> Result<DoctorResult> {
    let profile = profile
        .map(|name| profile::load_profile(paths, name))
        .transpose()?;
    let mut skipped_lines = Vec::new();
    let env = match source {
        DoctorSource::App => match &profile {
            Some(p) => p.apply(&app_env),
            None => app_env,
        },
        DoctorSource::File { path } => {
            let path = fsio::absolute("file", &path)?;
            let text = fsio::read_to_string(&path, fsio::SMALL_INPUT).map_err(|e| match e {
                Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                    Error::invalid_msg(
                        "file",
                        Message::new(Key::InvalidEnvDoesNotExist)
                            .text("path", path.display().to_string()),
                    )
                }
                other => other,
            })?;
            let parsed = parse::parse(&path.display().to_string(), &text)?;
            skipped_lines = parsed.skipped_lines.clone();
            parsed.to_env()
        }
        DoctorSource::Process { pid } => procenv::read_environ(Path::new("/proc"), pid)?,
    };
    let report = doctor::diagnose(&env, profile.as_ref());
    Ok(DoctorResult {
        report,
        skipped_lines,
        variables: u32::try_from(env.len()).unwrap_or(u32::MAX),
    })
}
