//! What the driver does not know about a process: its name, owner and command line, read from /proc
//! (proc(5): `/proc/PID/comm`, `/proc/PID/cmdline` with NUL-separated arguments, the `Uid:` line of
//! `/proc/PID/status` whose first number is the real UID). The /proc and passwd paths are injected so tests can
//! build a fake tree.
//!
//! Which model a process works on ([`ModelLink`]) comes from `/proc/PID/environ` when Headroom launched it (the
//! launcher sets `HEADROOM_MODEL`, `HEADROOM_RUN_ID` and `HEADROOM_PRESET`, and children such as torchrun's workers
//! inherit them; the kernel lets only the owner and root read that file), else from a model flag on its command
//! line (`--model_name_or_path`, as transformers' example scripts and TRL name it, and its common variants).
//!
//! Also stopping a process (issue 5 item 4): only a process the current user owns, SIGTERM first, SIGKILL after a
//! timeout, and only as far as /proc confirms it is gone.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::message::{Key, Message};
use crate::{Error, Result};

/// Where process facts come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcFs {
    pub proc_root: PathBuf,
    /// passwd(5) file that maps UIDs to user names.
    pub passwd: PathBuf,
}

impl Default for ProcFs {
    fn default() -> Self {
        ProcFs {
            proc_root: PathBuf::from("/proc"),
            passwd: PathBuf::from("/etc/passwd"),
        }
    }
}

/// What /proc says about one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    pub name: Option<String>,
    pub uid: Option<u32>,
    pub user: Option<String>,
    pub command: Option<String>,
    /// The one-letter state from `/proc/PID/status` (`R`, `S`, `Z`, …).
    pub state: Option<char>,
    /// The model it works on, when its environment or command line says.
    pub model: Option<ModelLink>,
}

/// Which model a GPU process works on, and how Headroom knows: what lets a recommendation change that model's
/// config in one click. Optional key `model` of a process in docs/contract.md §4.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelLink {
    /// The model id (or local path) exactly as the run named it: the key of its per-model config.
    pub id: String,
    /// `HEADROOM_RUN_ID` when Headroom's launcher started the run; `None` when the id came from the command line.
    pub run_id: Option<String>,
    /// `HEADROOM_PRESET`: the preset the run was launched with, when Headroom launched it.
    pub preset: Option<String>,
    /// The command-line flag the id was read from, when it came from there.
    pub flag: Option<String>,
    /// The per-device (micro-)batch size it trains with: `HEADROOM_MICRO_BATCH` when Headroom launched it, else a
    /// batch flag on its command line. With the sequence length, what a preset recommendation is estimated at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub batch_size: Option<u64>,
    /// The sequence length: `HEADROOM_SEQUENCE_LENGTH`, else a length flag on its command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub sequence_length: Option<u64>,
}

/// The variables the launcher sets in a run's environment (see `launch::runner`).
pub const MODEL_VAR: &str = "HEADROOM_MODEL";
const RUN_ID_VAR: &str = "HEADROOM_RUN_ID";
const PRESET_VAR: &str = "HEADROOM_PRESET";
/// The micro-batch and sequence length the launcher gives a run (see `launch::runner`).
pub const MICRO_BATCH_VAR: &str = "HEADROOM_MICRO_BATCH";
pub const SEQUENCE_LENGTH_VAR: &str = "HEADROOM_SEQUENCE_LENGTH";

/// Flags that give the per-device batch size: transformers' `TrainingArguments`, LitGPT and torchtune's
/// command-line overrides, and the plain spellings of hand-written scripts.
const BATCH_FLAGS: [&str; 6] = [
    "--per_device_train_batch_size",
    "--per-device-train-batch-size",
    "--micro_batch_size",
    "--train.micro_batch_size",
    "--batch_size",
    "--batch-size",
];

/// Flags that give the (longest) sequence length: TRL's `max_length`/`max_seq_length`, transformers' example
/// scripts' `block_size`, LLaMA-Factory's `cutoff_len`, Axolotl's `sequence_len`, LitGPT's `max_seq_length`.
const LENGTH_FLAGS: [&str; 9] = [
    "--max_seq_length",
    "--max-seq-length",
    "--max_length",
    "--max-length",
    "--block_size",
    "--block-size",
    "--cutoff_len",
    "--sequence_len",
    "--train.max_seq_length",
];

/// Flags that name the model to load, in the spellings of transformers' example scripts and TRL
/// (`--model_name_or_path`), of `from_pretrained`'s argument, and the common short and dashed variants.
const MODEL_FLAGS: [&str; 8] = [
    "--model_name_or_path",
    "--model-name-or-path",
    "--pretrained_model_name_or_path",
    "--base_model",
    "--base-model",
    "--model_id",
    "--model-id",
    "--model",
];

/// The model of a run Headroom launched, from the raw `/proc/PID/environ` (NUL-separated `KEY=VALUE`).
pub fn model_link_from_environ(raw: &[u8]) -> Option<ModelLink> {
    let mut vars = std::collections::BTreeMap::new();
    for entry in raw.split(|b| *b == 0) {
        let text = String::from_utf8_lossy(entry);
        if let Some((key, value)) = text.split_once('=') {
            if [
                MODEL_VAR,
                RUN_ID_VAR,
                PRESET_VAR,
                MICRO_BATCH_VAR,
                SEQUENCE_LENGTH_VAR,
            ]
            .contains(&key)
                && !value.is_empty()
            {
                vars.insert(key.to_string(), value.to_string());
            }
        }
    }
    Some(ModelLink {
        id: vars.remove(MODEL_VAR)?,
        run_id: vars.remove(RUN_ID_VAR),
        preset: vars.remove(PRESET_VAR),
        flag: None,
        batch_size: vars.get(MICRO_BATCH_VAR).and_then(|v| positive(v)),
        sequence_length: vars.get(SEQUENCE_LENGTH_VAR).and_then(|v| positive(v)),
    })
}

fn positive(text: &str) -> Option<u64> {
    text.trim().parse().ok().filter(|n| *n > 0)
}

/// The first of `flags` on a command line and its value (`--flag VALUE` or `--flag=VALUE`), if any.
fn find_flag<'a>(args: &[&'a str], flags: &[&'static str]) -> Option<(&'static str, &'a str)> {
    for (i, arg) in args.iter().enumerate() {
        for flag in flags {
            let value = match arg.strip_prefix(flag) {
                Some("") => args.get(i + 1).copied(),
                Some(rest) => rest.strip_prefix('='),
                None => None,
            };
            if let Some(value) = value.filter(|v| !v.is_empty() && !v.starts_with('-')) {
                return Some((flag, value));
            }
        }
    }
    None
}

/// Fill what the environment left unsaid about a run's shape from its command line.
fn shape_from_args(link: &mut ModelLink, args: &[&str]) {
    if link.batch_size.is_none() {
        link.batch_size = find_flag(args, &BATCH_FLAGS).and_then(|(_, v)| positive(v));
    }
    if link.sequence_length.is_none() {
        link.sequence_length = find_flag(args, &LENGTH_FLAGS).and_then(|(_, v)| positive(v));
    }
}

/// The model named by the first model flag on a command line (`--flag VALUE` or `--flag=VALUE`), if any.
pub fn model_link_from_args<S: AsRef<str>>(args: &[S]) -> Option<ModelLink> {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    let (flag, id) = find_flag(&args, &MODEL_FLAGS)?;
    let mut link = ModelLink {
        id: id.to_string(),
        run_id: None,
        preset: None,
        flag: Some(flag.to_string()),
        batch_size: None,
        sequence_length: None,
    };
    shape_from_args(&mut link, &args);
    Some(link)
}

impl ProcFs {
    fn pid_dir(&self, pid: u32) -> PathBuf {
        self.proc_root.join(pid.to_string())
    }

    /// `None` when the PID is not in this PID namespace (a container sees none of the host's PIDs that NVML
    /// reports) or has exited.
    pub fn info(&self, pid: u32) -> Option<ProcInfo> {
        let dir = self.pid_dir(pid);
        let status = std::fs::read_to_string(dir.join("status")).ok()?;
        let uid = status_field(&status, "Uid:")
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok());
        let state = status_field(&status, "State:").and_then(|v| v.trim().chars().next());
        let name = std::fs::read_to_string(dir.join("comm"))
            .ok()
            .map(|s| s.trim_end_matches('\n').to_string())
            .or_else(|| status_field(&status, "Name:").map(|s| s.trim().to_string()))
            .filter(|s| !s.is_empty());
        let args: Vec<String> = std::fs::read(dir.join("cmdline"))
            .map(|raw| {
                raw.split(|b| *b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect()
            })
            .unwrap_or_default();
        // Kernel threads and zombies have an empty cmdline: unknown, not "".
        let command = (!args.is_empty()).then(|| args.join(" "));
        // Another user's environ is unreadable (EACCES): then only the command line can tell.
        let model = std::fs::read(dir.join("environ"))
            .ok()
            .and_then(|raw| model_link_from_environ(&raw))
            .map(|mut link| {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                shape_from_args(&mut link, &args);
                link
            })
            .or_else(|| model_link_from_args(&args));
        let user = uid.and_then(|uid| self.user_name(uid));
        Some(ProcInfo {
            name,
            uid,
            user,
            command,
            state,
            model,
        })
    }

    /// The user name for a UID from the passwd file; the UID as text when the file has no entry (users from
    /// LDAP or another name service are not in /etc/passwd, and a number is still better than nothing).
    pub fn user_name(&self, uid: u32) -> Option<String> {
        let text = std::fs::read_to_string(&self.passwd).ok();
        let from_file = text.as_deref().and_then(|t| {
            t.lines().find_map(|line| {
                let mut parts = line.split(':');
                let name = parts.next()?;
                let _password = parts.next()?;
                let id: u32 = parts.next()?.parse().ok()?;
                (id == uid).then(|| name.to_string())
            })
        });
        Some(from_file.unwrap_or_else(|| uid.to_string()))
    }

    /// Whether the process has exited: its /proc entry is gone or it is a zombie waiting to be reaped.
    pub fn is_gone(&self, pid: u32) -> bool {
        match self.info(pid) {
            None => true,
            Some(info) => info.state == Some('Z') || info.state == Some('X'),
        }
    }
}

fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|l| l.strip_prefix(key))
}

/// The effective UID of this process: the one whose processes we may stop.
pub fn current_uid() -> u32 {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// How to stop a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopOptions {
    /// How long to wait after SIGTERM before SIGKILL.
    pub grace: Duration,
    /// How long to wait after SIGKILL before giving up.
    pub kill_wait: Duration,
    /// The UID allowed to stop it (the caller's own, from [`current_uid`]).
    pub owner_uid: u32,
}

impl StopOptions {
    pub fn new(grace: Duration) -> Self {
        StopOptions {
            grace,
            kill_wait: Duration::from_secs(5),
            owner_uid: current_uid(),
        }
    }
}

/// Which signal ended the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum StoppedBy {
    Sigterm,
    Sigkill,
}

/// The result of stopping a process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct StopOutcome {
    pub pid: u32,
    pub stopped_by: StoppedBy,
    /// GPU memory the process held at its last reading, now released by the driver; `None` when the driver
    /// never reported its memory.
    pub freed_bytes: Option<u64>,
}

/// Stops `pid` if `options.owner_uid` owns it: SIGTERM, wait up to `grace`, then SIGKILL.
///
/// `held_bytes` is what the process held on the GPU at the last sample (from NVML), reported back as freed once
/// the process is gone: the driver releases all of a process's device memory when it exits.
pub fn stop_process(
    procfs: &ProcFs,
    pid: u32,
    held_bytes: Option<u64>,
    options: StopOptions,
) -> Result<StopOutcome> {
    if pid <= 1 {
        return Err(Error::invalid_msg(
            "pid",
            Message::new(Key::InvalidPidNotStoppable).text("pid", pid.to_string()),
        ));
    }
    let info = procfs.info(pid).ok_or_else(|| {
        Error::invalid_msg(
            "pid",
            Message::new(Key::InvalidPidNotRunning).text("pid", pid.to_string()),
        )
    })?;
    match info.uid {
        Some(uid) if uid == options.owner_uid => {}
        Some(uid) => {
            let owner = info.user.unwrap_or_else(|| uid.to_string());
            return Err(Error::Process {
                pid,
                message: format!("it belongs to user {owner}, not to you; Headroom only stops your own processes"),
            });
        }
        None => {
            return Err(Error::Process {
                pid,
                message: "its owner cannot be read from /proc, so it is not stopped".into(),
            })
        }
    }
    let pid_t = libc::pid_t::try_from(pid).map_err(|_| {
        Error::invalid_msg(
            "pid",
            Message::new(Key::InvalidPidOutOfRange).text("pid", pid.to_string()),
        )
    })?;
    send(pid, pid_t, libc::SIGTERM)?;
    if wait_gone(procfs, pid, options.grace) {
        return Ok(StopOutcome {
            pid,
            stopped_by: StoppedBy::Sigterm,
            freed_bytes: held_bytes,
        });
    }
    send(pid, pid_t, libc::SIGKILL)?;
    if wait_gone(procfs, pid, options.kill_wait) {
        return Ok(StopOutcome {
            pid,
            stopped_by: StoppedBy::Sigkill,
            freed_bytes: held_bytes,
        });
    }
    Err(Error::Process {
        pid,
        message: format!(
            "still running {:?} after SIGKILL (stuck in the driver, state D?)",
            options.kill_wait
        ),
    })
}

fn send(pid: u32, pid_t: libc::pid_t, signal: libc::c_int) -> Result<()> {
    // SAFETY: kill(2) only reads its two integer arguments.
    let rc = unsafe { libc::kill(pid_t, signal) };
    if rc == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ESRCH) {
        // It exited between our check and the signal: that is what we wanted.
        return Ok(());
    }
    Err(Error::Process {
        pid,
        message: format!("signal {signal} refused: {err}"),
    })
}

fn wait_gone(procfs: &ProcFs, pid: u32, limit: Duration) -> bool {
    let start = Instant::now();
    loop {
        if procfs.is_gone(pid) {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes a fake /proc entry (for tests here and in tests/core): `status` with Name, State and Uid, `comm` and
/// `cmdline`.
#[doc(hidden)]
pub fn write_fake_proc_entry(
    root: &Path,
    pid: u32,
    name: &str,
    uid: u32,
    args: &[&str],
) -> std::io::Result<()> {
    let dir = root.join(pid.to_string());
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("status"),
        format!("Name:\t{name}\nState:\tS (sleeping)\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n"),
    )?;
    std::fs::write(dir.join("comm"), format!("{name}\n"))?;
    let mut cmdline = Vec::new();
    for a in args {
        cmdline.extend_from_slice(a.as_bytes());
        cmdline.push(0);
    }
    std::fs::write(dir.join("cmdline"), cmdline)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_name_user_and_command_from_a_fake_tree() {
        let dir = tempfile::tempdir().unwrap();
        let proc_root = dir.path().join("proc");
        write_fake_proc_entry(
            &proc_root,
            4242,
            "python",
            1000,
            &["python", "train.py", "--lr", "1e-4"],
        )
        .unwrap();
        let passwd = dir.path().join("passwd");
        std::fs::write(
            &passwd,
            "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/bash\n",
        )
        .unwrap();
        let fs = ProcFs { proc_root, passwd };
        let info = fs.info(4242).unwrap();
        assert_eq!(info.name.as_deref(), Some("python"));
        assert_eq!(info.user.as_deref(), Some("alice"));
        assert_eq!(info.uid, Some(1000));
        assert_eq!(info.command.as_deref(), Some("python train.py --lr 1e-4"));
        assert!(fs.info(4243).is_none());
        assert_eq!(fs.user_name(2000).as_deref(), Some("2000"));
        assert_eq!(info.model, None, "no model flag, no environ");
    }

    #[test]
    fn a_launched_runs_environment_names_its_model_before_its_command_line_does() {
        let dir = tempfile::tempdir().unwrap();
        let proc_root = dir.path().join("proc");
        let args = ["python", "train.py", "--model_name_or_path", "./local-copy"];
        write_fake_proc_entry(&proc_root, 51, "python", 1000, &args).unwrap();
        let fs = ProcFs {
            proc_root: proc_root.clone(),
            passwd: dir.path().join("none"),
        };
        let from_args = fs.info(51).unwrap().model.unwrap();
        assert_eq!(from_args.id, "./local-copy");
        assert_eq!(from_args.flag.as_deref(), Some("--model_name_or_path"));
        assert_eq!(from_args.run_id, None);
        std::fs::write(
            proc_root.join("51/environ"),
            b"PATH=/usr/bin\0HEADROOM_RUN_ID=20261129-200000-ab12\0HEADROOM_MODEL=Qwen/Qwen3-8B\0HEADROOM_PRESET=int4\0",
        )
        .unwrap();
        let link = fs.info(51).unwrap().model.unwrap();
        assert_eq!(
            link,
            ModelLink {
                id: "Qwen/Qwen3-8B".into(),
                run_id: Some("20261129-200000-ab12".into()),
                preset: Some("int4".into()),
                flag: None,
                batch_size: None,
                sequence_length: None,
            }
        );
    }

    #[test]
    fn a_runs_shape_from_its_environment_or_its_flags() {
        let link = model_link_from_environ(
            b"HEADROOM_MODEL=m\0HEADROOM_MICRO_BATCH=4\0HEADROOM_SEQUENCE_LENGTH=2048\0",
        )
        .unwrap();
        assert_eq!(
            (link.batch_size, link.sequence_length),
            (Some(4), Some(2048))
        );
        let link = model_link_from_args(&[
            "python",
            "sft.py",
            "--model_name_or_path",
            "m",
            "--per_device_train_batch_size=2",
            "--max_seq_length",
            "4096",
        ])
        .unwrap();
        assert_eq!(
            (link.batch_size, link.sequence_length),
            (Some(2), Some(4096))
        );
        // Zero, words and a missing value say nothing.
        let link = model_link_from_args(&[
            "x.py",
            "--model",
            "m",
            "--batch_size",
            "0",
            "--max_length",
            "auto",
        ])
        .unwrap();
        assert_eq!((link.batch_size, link.sequence_length), (None, None));
    }

    #[test]
    fn model_flags_in_both_spellings() {
        let link = |args: &[&str]| model_link_from_args(args).map(|l| (l.id, l.flag.unwrap()));
        assert_eq!(
            link(&[
                "torchrun",
                "sft.py",
                "--model-name-or-path=meta-llama/Llama-3.1-8B"
            ]),
            Some((
                "meta-llama/Llama-3.1-8B".into(),
                "--model-name-or-path".into()
            ))
        );
        assert_eq!(
            link(&[
                "python",
                "x.py",
                "--base_model",
                "mistralai/Mistral-7B-v0.3",
                "--model",
                "other"
            ]),
            Some(("mistralai/Mistral-7B-v0.3".into(), "--base_model".into())),
            "the first flag wins"
        );
        // A flag that only starts like one, a missing value, or another flag where the value should be.
        assert_eq!(link(&["python", "x.py", "--models_dir", "/m"]), None);
        assert_eq!(link(&["python", "x.py", "--model"]), None);
        assert_eq!(link(&["python", "x.py", "--model", "--lr", "1e-4"]), None);
        assert_eq!(link(&["python", "x.py", "--model="]), None);
    }

    #[test]
    fn an_environment_without_headroom_model_links_nothing() {
        assert_eq!(
            model_link_from_environ(b"HEADROOM_RUN_ID=r1\0PATH=/bin\0"),
            None
        );
        assert_eq!(model_link_from_environ(b"HEADROOM_MODEL=\0"), None);
        assert_eq!(model_link_from_environ(&[0xff, 0xfe, 0]), None);
    }

    #[test]
    fn refuses_a_process_of_another_user() {
        let dir = tempfile::tempdir().unwrap();
        let proc_root = dir.path().join("proc");
        write_fake_proc_entry(&proc_root, 777, "python", 4321, &["python"]).unwrap();
        let fs = ProcFs {
            proc_root,
            passwd: dir.path().join("none"),
        };
        let err = stop_process(
            &fs,
            777,
            Some(1),
            StopOptions {
                grace: Duration::from_millis(10),
                kill_wait: Duration::from_millis(10),
                owner_uid: 1234,
            },
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("belongs to user 4321"), "{err}");
    }
}
