//! Which Python runs the trace: the one the user named (Settings `python_path`, `--python PATH`), else the
//! first `python3` or `python` on PATH that can import torch. A short probe reports the versions that matter
//! and each way the interpreter can be unusable is its own error.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::child::{self, Child};
use super::TraceFailure;
use crate::env::EnvMap;
use crate::launch::process::CancelToken;
use crate::{Error, Result};

/// torch 2.4 is the oldest with the fake-tensor and dispatch APIs the package uses.
pub const MIN_TORCH: (u32, u32) = (2, 4);
/// A probe that takes this long is hung (even a torch imported from a cold disk answers well within it).
const PROBE_TIME_LIMIT: Duration = Duration::from_secs(90);

/// Prints one JSON line. Versions come from the installed packages' metadata once `find_spec` has found the
/// module (0.1 s, where importing torch takes seconds: the package reports a torch that fails to import as
/// its own error); only a torch without metadata is imported. `%`-formatting and no f-strings, so a Python 2
/// still answers (and is then refused for its missing torch rather than crashing the probe).
const PROBE: &str = r#"
import json, platform, sys
out = {"python": platform.python_version(), "executable": sys.executable, "torch": None, "torch_error": None}
try:
    from importlib import metadata, util
except ImportError:
    metadata = util = None
def version(name):
    try:
        if util.find_spec(name) is None:
            return None
        return metadata.version(name).split("+")[0]
    except Exception:
        return None
out["torch"] = version("torch")
if out["torch"] is None:
    try:
        import torch
        out["torch"] = torch.__version__.split("+")[0]
    except Exception as e:
        out["torch_error"] = "%s: %s" % (type(e).__name__, e)
for name in ("transformers", "peft"):
    out[name] = version(name)
print(json.dumps(out))
"#;

/// What the probe found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct PythonInfo {
    /// The interpreter as given or found on PATH.
    #[ts(type = "string")]
    pub path: PathBuf,
    pub python: String,
    pub torch: Option<String>,
    /// Why `import torch` failed, when it did.
    #[serde(default)]
    pub torch_error: Option<String>,
    pub transformers: Option<String>,
    pub peft: Option<String>,
}

#[derive(Deserialize)]
struct ProbeOut {
    python: String,
    torch: Option<String>,
    torch_error: Option<String>,
    transformers: Option<String>,
    peft: Option<String>,
}

impl PythonInfo {
    /// Whether the trace can run: torch ≥ 2.4 and transformers present. PEFT is checked per plan (LoRA only).
    pub fn usable(&self) -> Result<()> {
        let who = self.path.display();
        let Some(torch) = &self.torch else {
            return Err(Error::trace(
                TraceFailure::NoTorch,
                format!(
                    "{who} (Python {}) cannot import torch{}; install torch >= {}.{} there or choose another Python",
                    self.python,
                    self.torch_error
                        .as_deref()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default(),
                    MIN_TORCH.0,
                    MIN_TORCH.1
                ),
            ));
        };
        match major_minor(torch) {
            Some(v) if v >= MIN_TORCH => {}
            _ => {
                return Err(Error::trace(
                    TraceFailure::TorchTooOld,
                    format!(
                        "{who} has torch {torch}; the trace needs torch >= {}.{}",
                        MIN_TORCH.0, MIN_TORCH.1
                    ),
                ))
            }
        }
        if self.transformers.is_none() {
            return Err(Error::trace(
                TraceFailure::NoTransformers,
                format!("{who} has torch {torch} but no transformers; install transformers there"),
            ));
        }
        Ok(())
    }

    /// For LoRA and QLoRA plans, which the package builds through PEFT.
    pub fn has_peft(&self) -> Result<()> {
        if self.peft.is_none() {
            return Err(Error::trace(
                TraceFailure::NoPeft,
                format!(
                    "{} has no peft, which LoRA and QLoRA traces need; install peft there",
                    self.path.display()
                ),
            ));
        }
        Ok(())
    }
}

/// `2.15.0` → (2, 15); `2.4.0a0` → (2, 4).
fn major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor: String = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some((major, minor.parse().ok()?))
}

/// Run the probe with `python` (`cwd` is a folder of Headroom's own, see [`Child::cwd`]).
pub fn probe(python: &Path, env: &EnvMap, cwd: &Path, cancel: &CancelToken) -> Result<PythonInfo> {
    if !python.is_file() {
        return Err(Error::trace(
            TraceFailure::NoPython,
            format!("python: {} does not exist", python.display()),
        ));
    }
    let args = ["-c".to_string(), PROBE.to_string()];
    let mut line = None;
    let finished = child::run(
        &Child {
            python,
            args: &args,
            env,
            input: None,
            time_limit: PROBE_TIME_LIMIT,
            cwd,
        },
        cancel,
        &mut |l| {
            if line.is_none() && l.trim_start().starts_with('{') {
                line = Some(l.to_string());
            }
        },
    )?;
    if finished.cancelled {
        return Err(Error::trace(
            TraceFailure::Cancelled,
            "the trace was cancelled",
        ));
    }
    let parsed = line
        .as_deref()
        .and_then(|l| serde_json::from_str::<ProbeOut>(l).ok());
    match parsed {
        Some(out) if finished.exit.success() => Ok(PythonInfo {
            path: python.to_path_buf(),
            python: out.python,
            torch: out.torch,
            torch_error: out.torch_error,
            transformers: out.transformers,
            peft: out.peft,
        }),
        _ => Err(Error::trace(
            TraceFailure::NoPython,
            format!(
                "{} is not a Python 3 that Headroom can run: it {}",
                python.display(),
                if finished.timed_out {
                    format!("did not answer within {} s", PROBE_TIME_LIMIT.as_secs())
                } else {
                    finished.describe()
                }
            ),
        )),
    }
}

/// The Python to trace with: `chosen` (Settings or `--python`) when given, else the first `python3` or
/// `python` on the PATH of `env` that can import torch. The result passed [`PythonInfo::usable`].
pub fn select(
    chosen: Option<&Path>,
    env: &EnvMap,
    cwd: &Path,
    cancel: &CancelToken,
) -> Result<PythonInfo> {
    if let Some(path) = chosen {
        let path = expand(path, env);
        let info = probe(&path, env, cwd, cancel)?;
        info.usable()?;
        return Ok(info);
    }
    let candidates = on_path(env.get("PATH").map(String::as_str).unwrap_or(""));
    let mut first_failure = None;
    for candidate in &candidates {
        match probe(candidate, env, cwd, cancel).and_then(|info| info.usable().map(|()| info)) {
            Ok(info) => return Ok(info),
            Err(
                e @ Error::Trace {
                    code: TraceFailure::Cancelled,
                    ..
                },
            ) => return Err(e),
            Err(e) => {
                first_failure.get_or_insert(e);
            }
        }
    }
    Err(first_failure.unwrap_or_else(|| {
        Error::trace(
            TraceFailure::NoPython,
            "no python3 or python on PATH; set the Python path in Settings or pass --python PATH",
        )
    }))
}

/// A path as a person types it: `~/…` is under HOME, and a bare name (`python3.11`) is looked up on PATH as
/// a shell would.
fn expand(path: &Path, env: &EnvMap) -> PathBuf {
    if let (Ok(rest), Some(home)) = (path.strip_prefix("~"), env.get("HOME")) {
        return Path::new(home).join(rest);
    }
    if path.components().count() == 1 {
        let name = path.as_os_str();
        let found = env
            .get("PATH")
            .map(String::as_str)
            .unwrap_or("")
            .split(':')
            .filter(|d| !d.is_empty())
            .map(|d| Path::new(d).join(name))
            .find(|p| is_executable(p));
        if let Some(found) = found {
            return found;
        }
    }
    path.to_path_buf()
}

/// Every `python3`, then `python`, in each PATH folder in order; one entry per real file, so a venv's
/// `python` → `python3` link is probed once.
fn on_path(path_var: &str) -> Vec<PathBuf> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for dir in path_var.split(':').filter(|d| !d.is_empty()) {
        for name in ["python3", "python"] {
            let candidate = Path::new(dir).join(name);
            if !is_executable(&candidate) {
                continue;
            }
            let key = std::fs::canonicalize(&candidate).unwrap_or_else(|_| candidate.clone());
            if !seen.contains(&key) {
                seen.push(key);
                out.push(candidate);
            }
        }
    }
    out
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torch_versions_compare_by_major_and_minor() {
        assert_eq!(major_minor("2.15.0"), Some((2, 15)));
        assert_eq!(major_minor("2.4.0a0"), Some((2, 4)));
        assert_eq!(major_minor("nonsense"), None);
        assert!(major_minor("2.3.1").unwrap() < MIN_TORCH);
        assert!(major_minor("2.10.0").unwrap() > MIN_TORCH);
    }

    fn info(torch: Option<&str>, transformers: Option<&str>) -> PythonInfo {
        PythonInfo {
            path: "/x/python3".into(),
            python: "3.11.7".into(),
            torch: torch.map(str::to_string),
            torch_error: None,
            transformers: transformers.map(str::to_string),
            peft: None,
        }
    }

    fn code(r: Result<()>) -> TraceFailure {
        match r {
            Err(Error::Trace { code, .. }) => code,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_unusable_python_has_its_own_error() {
        assert_eq!(
            code(info(None, Some("5.0")).usable()),
            TraceFailure::NoTorch
        );
        assert_eq!(
            code(info(Some("2.3.1"), Some("5.0")).usable()),
            TraceFailure::TorchTooOld
        );
        assert_eq!(
            code(info(Some("2.15.0"), None).usable()),
            TraceFailure::NoTransformers
        );
        assert!(info(Some("2.15.0"), Some("5.24.0")).usable().is_ok());
        assert_eq!(
            code(info(Some("2.15.0"), Some("5.24.0")).has_peft()),
            TraceFailure::NoPeft
        );
    }

    #[test]
    fn typed_paths_expand_home_and_bare_names() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("python3.11");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(&exe, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let env: EnvMap = [
            ("HOME".to_string(), "/home/u".to_string()),
            ("PATH".to_string(), dir.path().display().to_string()),
        ]
        .into();
        assert_eq!(
            expand(Path::new("~/venv/bin/python"), &env),
            Path::new("/home/u/venv/bin/python")
        );
        assert_eq!(expand(Path::new("python3.11"), &env), exe);
        assert_eq!(expand(Path::new("nowhere"), &env), Path::new("nowhere"));
        assert_eq!(
            expand(Path::new("/abs/python"), &env),
            Path::new("/abs/python")
        );
    }

    #[test]
    fn path_search_finds_python3_before_python_and_each_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let write = |p: &Path| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        write(&a.join("python"));
        write(&b.join("python3"));
        std::os::unix::fs::symlink(b.join("python3"), b.join("python")).unwrap();
        std::fs::write(a.join("python3"), "not executable").unwrap();
        let found = on_path(&format!("{}:{}::", a.display(), b.display()));
        assert_eq!(found, vec![a.join("python"), b.join("python3")]);
    }
}
