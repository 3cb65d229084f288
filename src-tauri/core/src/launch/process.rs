//! Running one attempt: a child in its own process group, its output streamed line by line, cancellation
//! that takes the whole tree down, and no process of the group left behind.
//!
//! - The child leads a new process group (`setpgid(0, 0)` through `CommandExt::process_group`), so every
//!   process it starts (DataLoader workers, torchrun ranks, a shell's children) can be signalled at once with
//!   `killpg`, and a terminal's Ctrl-C does not reach it behind the launcher's back.
//! - Cancel sends SIGTERM to the group, then SIGKILL after a grace period (the Python process gets the chance
//!   to flush logs and checkpoints).
//! - When the leader exits, the group's stragglers are killed before the leader is reaped: leftovers would
//!   hold GPU memory and make the next attempt fail, and while the leader is an unreaped zombie its pid (the
//!   group id) cannot be reused, so the signal cannot hit an unrelated group (waitid with WNOWAIT, POSIX).
//! - A descendant that left the group (`setsid`, a double fork) is followed through [`super::tree`]: the
//!   launcher becomes a child subreaper so orphans come back to it, and the attempt's whole tree is killed at
//!   its end and on cancel, and its re-parented zombies reaped.
//! - Lines end at `\n` or `\r` (progress bars redraw with `\r`) and are cut at 64 KiB so one endless line
//!   cannot exhaust memory. Bytes that are not UTF-8 are replaced, not dropped.

use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::tree::{self, ProcessStamp, Tree, PROC_ROOT};
use crate::env::EnvMap;
use crate::message::{Key, Message};
use crate::{Error, Result};

/// The launcher's cut for one output line: a training log line is short, an endless one must not exhaust memory.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
const POLL: Duration = Duration::from_millis(25);
/// After the leader and its tree are gone, how long a pipe may stay open with nothing coming before the
/// launcher stops waiting for it (a process that escaped the tree may hold it).
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);
/// After the leader is gone, output still coming is read to its end (the OOM traceback is last), for at most
/// this long: only a process that escaped the tree and keeps writing would need more.
const MAX_DRAIN_AFTER_EXIT: Duration = Duration::from_secs(60);
/// Lines read but not yet handled. Bounded so that a program faster than the launcher's consumer (a UI, a
/// terminal) waits on its pipe instead of filling the launcher's memory; when it dies, little is left to read.
const LINE_BACKLOG: usize = 1024;
/// How long the end of an attempt waits for its tree to die of SIGKILL (a process may fork while its siblings
/// die).
const KILL_TREE_WITHIN: Duration = Duration::from_secs(2);

/// Shared between whoever may cancel (a button, Ctrl-C) and the running attempt.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// How a process ended: an exit code, or the signal that killed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct ExitInfo {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl ExitInfo {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// The status a shell would report: the code, or 128 + the signal number.
    pub fn shell_status(&self) -> i32 {
        match (self.code, self.signal) {
            (Some(code), _) => code,
            (None, Some(signal)) => 128 + signal,
            (None, None) => 1,
        }
    }
}

/// What to run.
pub struct ProcessSpec<'a> {
    pub argv: &'a [String],
    pub cwd: &'a Path,
    /// The complete environment of the child: nothing is inherited beyond it.
    pub env: &'a EnvMap,
    /// Time between SIGTERM and SIGKILL on cancel.
    pub kill_grace: Duration,
    /// Written to the child's stdin, which is then closed; `None` gives it no stdin at all.
    pub input: Option<&'a [u8]>,
    /// Lines longer than this are cut into pieces ([`MAX_LINE_BYTES`] for training logs; a protocol whose
    /// answer is one long JSON line needs more).
    pub line_limit: usize,
    /// A variable of `env` that marks the attempt's processes: an orphan re-parented to the launcher that
    /// carries it with the same value belongs to this attempt's tree.
    pub tag: Option<&'a str>,
}

/// The end of one process run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    pub exit: ExitInfo,
    pub cancelled: bool,
    /// The caller asked for the group to be stopped ([`StopAfter`]) and it was signalled.
    pub stopped: bool,
}

/// A stop the caller asks for while the process runs (a distributed run whose rank died of OOM while the
/// others wait in NCCL): once due, the group gets SIGTERM, then SIGKILL after the kill grace, as on cancel, but
/// the run is not cancelled. Asked and checked on the thread that runs the process.
#[derive(Debug, Default)]
pub struct StopAfter {
    at: std::cell::Cell<Option<Instant>>,
}

impl StopAfter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stop the group `after` from now, unless a stop was asked for already.
    pub fn request(&self, after: Duration) {
        if self.at.get().is_none() {
            self.at.set(Some(Instant::now() + after));
        }
    }

    fn due(&self) -> bool {
        self.at.get().is_some_and(|at| Instant::now() >= at)
    }
}

/// What [`run`] reports while the process runs.
pub enum ProcessEvent<'a> {
    /// The child: its pid, which is also its process group id, and its start time.
    Started(ProcessStamp),
    Line(Stream, &'a str),
}

/// Run `spec` to its end, reporting the start and every output line to `on_event`.
pub fn run(
    spec: &ProcessSpec<'_>,
    cancel: &CancelToken,
    on_event: &mut dyn FnMut(ProcessEvent<'_>),
) -> Result<Ended> {
    run_stoppable(spec, cancel, &StopAfter::new(), on_event)
}

/// [`run`], with a stop the caller may ask for from `on_event`.
pub fn run_stoppable(
    spec: &ProcessSpec<'_>,
    cancel: &CancelToken,
    stop: &StopAfter,
    on_event: &mut dyn FnMut(ProcessEvent<'_>),
) -> Result<Ended> {
    let Some((program, args)) = spec.argv.split_first() else {
        return Err(Error::invalid_msg(
            "argv",
            Message::new(Key::InvalidRunCommandEmpty),
        ));
    };
    if !spec.cwd.is_dir() {
        return Err(Error::invalid_msg(
            "cwd",
            Message::new(Key::InvalidRunNotDirectory).text("cwd", spec.cwd.display().to_string()),
        ));
    }
    // A relative path with a slash (`./train.sh`) means relative to the working directory, as after `cd`;
    // std leaves that case platform-dependent, so it is resolved here.
    let program_path = Path::new(program);
    let program = if program.contains('/') && program_path.is_relative() {
        spec.cwd.join(program_path).into_os_string()
    } else {
        program.into()
    };
    // Orphans of the attempt come back to the launcher instead of init, so they can be found and killed.
    tree::become_subreaper();
    let mut child = Command::new(&program)
        .args(args)
        .current_dir(spec.cwd)
        .env_clear()
        .envs(spec.env)
        .stdin(if spec.input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::invalid_msg(
                "argv",
                Message::new(Key::InvalidRunNoSuchProgramLooked)
                    .text("program", program.to_string_lossy().to_string()),
            ),
            std::io::ErrorKind::PermissionDenied => Error::invalid_msg(
                "argv",
                Message::new(Key::InvalidRunNotExecutable)
                    .text("program", program.to_string_lossy().to_string()),
            ),
            _ => Error::io(&program, e),
        })?;
    let pid = child.id();
    let proc_root = Path::new(PROC_ROOT);
    // An unreaped child stays in /proc, so its stamp can be read even if it has already exited.
    let leader = ProcessStamp::of(proc_root, pid).unwrap_or(ProcessStamp {
        pid,
        start_ticks: 0,
    });
    let tag = spec
        .tag
        .and_then(|name| Some((name.to_string(), spec.env.get(name)?.clone())));
    let mut tree = Tree::new(proc_root, leader, tag);
    on_event(ProcessEvent::Started(leader));

    // From a thread: a child that does not read its stdin must not block us while its output pipes fill. A
    // write error (the child exited first: EPIPE) is the child's business and shows in how it ended.
    if let (Some(mut stdin), Some(input)) = (child.stdin.take(), spec.input) {
        let input = input.to_vec();
        thread::spawn(move || {
            // A child that exits before reading everything closes the pipe. A CLI that restored SIGPIPE's
            // default action would die of the write; blocked in this thread, the write fails with EPIPE instead
            // and the pending signal is dropped with the thread.
            // SAFETY: sigemptyset/sigaddset fill the set we own; pthread_sigmask changes this thread's mask only.
            unsafe {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGPIPE);
                libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            }
            let _ = stdin.write_all(&input);
        });
    }
    let (tx, rx) = mpsc::sync_channel::<(Stream, String)>(LINE_BACKLOG);
    let mut readers = Vec::new();
    let limit = spec.line_limit.max(1);
    if let Some(out) = child.stdout.take() {
        let tx = tx.clone();
        readers.push(thread::spawn(move || {
            read_lines(out, Stream::Stdout, limit, &tx)
        }));
    }
    if let Some(err) = child.stderr.take() {
        let tx = tx.clone();
        readers.push(thread::spawn(move || {
            read_lines(err, Stream::Stderr, limit, &tx)
        }));
    }
    drop(tx);

    let mut exited: Option<Instant> = None;
    let mut term_sent: Option<Instant> = None;
    let mut kill_sent = false;
    let mut stopped = false;
    loop {
        match rx.recv_timeout(POLL) {
            // No `continue`: a child that never stops printing must still be cancellable.
            Ok((stream, line)) => on_event(ProcessEvent::Line(stream, &line)),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // Nothing more is coming, yet a pipe is still open: something that escaped the tree holds it.
                if exited.is_some_and(|at| at.elapsed() >= DRAIN_AFTER_EXIT) {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) if exited.is_some() => break,
            Err(mpsc::RecvTimeoutError::Disconnected) => thread::sleep(POLL),
        }
        if let Some(at) = exited {
            if at.elapsed() >= MAX_DRAIN_AFTER_EXIT {
                break;
            }
            continue;
        }
        if leader_exited(pid) {
            // Stragglers die now, while the zombie leader still pins the group id; then those that left the
            // group.
            signal_group(pid, libc::SIGKILL);
            let left = tree.kill_all(KILL_TREE_WITHIN);
            if !left.is_empty() {
                tracing::warn!(
                    leader = pid,
                    ?left,
                    "processes of the attempt survived SIGKILL"
                );
            }
            exited = Some(Instant::now());
            continue;
        }
        tree.scan_now_and_then();
        let stopping = stop.due() && !cancel.is_cancelled();
        if stopping && term_sent.is_none() {
            stopped = true;
        }
        if cancel.is_cancelled() || stopping {
            match term_sent {
                None => {
                    signal_group(pid, libc::SIGTERM);
                    tree.signal(libc::SIGTERM);
                    term_sent = Some(Instant::now());
                }
                Some(at) if !kill_sent && at.elapsed() >= spec.kill_grace => {
                    signal_group(pid, libc::SIGKILL);
                    tree.signal(libc::SIGKILL);
                    kill_sent = true;
                }
                Some(_) => {}
            }
        }
    }
    for reader in readers {
        if reader.is_finished() {
            let _ = reader.join();
        }
    }
    let status = wait(&mut child)?;
    // Whatever was re-parented to the launcher when the leader was reaped.
    tree.reap(Duration::from_millis(200));
    Ok(Ended {
        exit: ExitInfo {
            code: status.code(),
            signal: status.signal(),
        },
        cancelled: term_sent.is_some() && !stopped,
        stopped,
    })
}

fn wait(child: &mut Child) -> Result<std::process::ExitStatus> {
    child
        .wait()
        .map_err(|e| Error::io(format!("process {}", child.id()), e))
}

/// Whether the leader has exited, without reaping it (waitid with WEXITED | WNOHANG | WNOWAIT).
fn leader_exited(pid: u32) -> bool {
    let id: libc::id_t = pid;
    // SAFETY: waitid writes only into the siginfo_t we own; zeroed is a valid siginfo_t.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let rc = libc::waitid(
            libc::P_PID,
            id,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        // rc < 0: no such child any more (ECHILD), which means it is gone.
        rc < 0 || info.si_pid() != 0
    }
}

fn signal_group(pgid: u32, signal: libc::c_int) {
    if let Ok(pgid) = libc::pid_t::try_from(pgid) {
        // SAFETY: killpg only sends a signal; ESRCH (group already empty) is the expected failure.
        unsafe {
            libc::killpg(pgid, signal);
        }
    }
}

fn read_lines(
    mut source: impl Read,
    stream: Stream,
    limit: usize,
    tx: &mpsc::SyncSender<(Stream, String)>,
) {
    let mut buffer = [0u8; 8192];
    let mut line: Vec<u8> = Vec::new();
    let mut after_cr = false;
    let send = |line: &mut Vec<u8>| {
        let text = String::from_utf8_lossy(line).into_owned();
        line.clear();
        tx.send((stream, text)).is_ok()
    };
    loop {
        let n = match source.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        for &byte in buffer.get(..n).unwrap_or_default() {
            match byte {
                b'\n' if after_cr && line.is_empty() => after_cr = false,
                b'\n' => {
                    after_cr = false;
                    if !send(&mut line) {
                        return;
                    }
                }
                b'\r' => {
                    after_cr = true;
                    if !line.is_empty() && !send(&mut line) {
                        return;
                    }
                }
                _ => {
                    after_cr = false;
                    line.push(byte);
                    if line.len() >= limit && !send(&mut line) {
                        return;
                    }
                }
            }
        }
    }
    if !line.is_empty() {
        let _ = send(&mut line);
    }
}
